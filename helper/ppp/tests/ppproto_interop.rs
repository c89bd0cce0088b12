//! Interop with a third-party PPP implementation: the `ppproto` crate (an
//! embedded, `no_std` PPPoS client from the Embassy project) dials OUR
//! answerer, entirely in memory, on a virtual clock.
//!
//! ppproto speaks LCP (Async-Control-Character-Map and
//! Authentication-Protocol only; every other option is rejected), PAP as the
//! authenticatee, and IPCP (IP-Address, Primary/Secondary-DNS-Address); any
//! other protocol (IPV6CP included) is Protocol-Rejected. It has no timers
//! and never retransmits, so a clean run must come up without either side
//! ever waiting for a restart timer.
//!
//! Run with `cargo test -p dialtone-ppp --test ppproto_interop -- --nocapture`
//! to see our side's decoded trace of each exchange.

use std::net::Ipv4Addr;

use dialtone_ppp::{AuthMethod, Config, DownReason, Event, Instant, Link, Phase, Role};
use ppproto::pppos::{PPPoS, PPPoSAction};

const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const DNS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 53), Ipv4Addr::new(9, 9, 9, 9)];

/// Bytes handed from one side to the other in one piece: an odd size, so
/// frames arrive split at every possible place.
const CHUNK: usize = 13;
/// Upper bound on harness steps in any one `run_until`.
const MAX_STEPS: usize = 2_000;
/// Upper bound on `PPPoS::poll` calls for one batch of input.
const MAX_CLIENT_POLLS: usize = 256;

// ---------------------------------------------------------------------------
// Hand-built IPv4/ICMP.

/// The Internet checksum (RFC 1071) of `data`.
fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        let word = match pair {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => unreachable!(),
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 packet carrying an ICMP Echo (type 8 request, 0 reply) with both
/// checksums filled in.
fn icmp_echo(
    icmp_type: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    seq: u16,
    data: &[u8],
) -> Vec<u8> {
    let mut icmp = vec![icmp_type, 0, 0, 0];
    icmp.extend_from_slice(&ident.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(data);
    let c = inet_checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());

    let total = u16::try_from(20 + icmp.len()).expect("packet fits");
    let mut ip = vec![0x45, 0x00];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&0x1234u16.to_be_bytes()); // identification
    ip.extend_from_slice(&[0x40, 0x00]); // DF, offset 0
    ip.extend_from_slice(&[64, 1]); // TTL, protocol ICMP
    ip.extend_from_slice(&[0, 0]); // header checksum, below
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = inet_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

/// Checks that `packet` is a well-formed IPv4 ICMP Echo of `icmp_type`.
fn assert_valid_icmp_echo(packet: &[u8], icmp_type: u8, src: Ipv4Addr, dst: Ipv4Addr) {
    assert!(packet.len() >= 28, "too short: {packet:02x?}");
    assert_eq!(packet[0], 0x45);
    assert_eq!(
        usize::from(u16::from_be_bytes([packet[2], packet[3]])),
        packet.len()
    );
    assert_eq!(packet[9], 1, "not ICMP");
    assert_eq!(inet_checksum(&packet[..20]), 0, "IPv4 header checksum");
    assert_eq!(
        Ipv4Addr::from([packet[12], packet[13], packet[14], packet[15]]),
        src
    );
    assert_eq!(
        Ipv4Addr::from([packet[16], packet[17], packet[18], packet[19]]),
        dst
    );
    assert_eq!(packet[20], icmp_type);
    assert_eq!(inet_checksum(&packet[20..]), 0, "ICMP checksum");
}

/// An ICMP payload that needs escaping with any ACCM: flags, escapes, every
/// control character, and some high bytes.
fn awkward_payload() -> Vec<u8> {
    let mut data: Vec<u8> = (0u8..0x20).collect();
    data.extend_from_slice(&[
        0x7e, 0x7d, 0x7e, 0x7e, 0x7d, 0x5e, 0x5d, 0xff, 0x03, 0xc0, 0x21,
    ]);
    data.extend(b"dialtone <-> ppproto".iter());
    data.extend((0u8..=255).step_by(7));
    data
}

// ---------------------------------------------------------------------------
// The harness.

struct Harness {
    server: Link,
    client: PPPoS<'static>,
    now: u64,
    client_rx_buf: Vec<u8>,
    client_tx_buf: Vec<u8>,
    /// Bytes in flight, client to server.
    to_server: Vec<u8>,
    /// Bytes in flight, server to client.
    to_client: Vec<u8>,
    /// Our side's trace, formatted.
    trace: Vec<String>,
    /// Our side's other events, in order.
    events: Vec<Event>,
    /// IP packets received by our side.
    server_rx: Vec<Vec<u8>>,
    /// IP packets received by ppproto.
    client_rx: Vec<Vec<u8>>,
    /// Times we had to advance the clock to a server timer.
    timer_runs: usize,
}

fn answerer_config(ipv6: bool) -> Config {
    let mut config = Config::default();
    config.auth.methods = vec![AuthMethod::Pap];
    config.ipcp.local = Some(SERVER_ADDR);
    config.ipcp.remote = Some(CLIENT_ADDR);
    config.ipcp.dns = DNS.to_vec();
    config.ipv6cp.enabled = ipv6;
    config
}

impl Harness {
    fn new(config: Config, user: &'static [u8], password: &'static [u8]) -> Self {
        let server = Link::new(
            config,
            Role::Answerer {
                secrets: Box::new(|user: &str| (user == "ppp").then(|| "secret".to_string())),
            },
            [7u8; 32],
        );
        let client = PPPoS::new(ppproto::Config {
            username: user,
            password,
        });
        Harness {
            server,
            client,
            now: 0,
            client_rx_buf: vec![0; 2048],
            client_tx_buf: vec![0; 8192],
            to_server: Vec::new(),
            to_client: Vec::new(),
            trace: Vec::new(),
            events: Vec::new(),
            server_rx: Vec::new(),
            client_rx: Vec::new(),
            timer_runs: 0,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    fn open(&mut self) {
        let now = self.now();
        self.server.open(now);
        self.client.open().expect("ppproto opens from Dead");
    }

    /// Polls ppproto until it has nothing more to say, collecting what it
    /// transmits and the IP packets it hands up.
    fn poll_client(&mut self) {
        for _ in 0..MAX_CLIENT_POLLS {
            match self
                .client
                .poll(&mut self.client_tx_buf, &mut self.client_rx_buf)
            {
                PPPoSAction::None => return,
                PPPoSAction::Transmit(n) => {
                    self.to_server.extend_from_slice(&self.client_tx_buf[..n])
                }
                PPPoSAction::Received(range) => {
                    self.client_rx.push(self.client_rx_buf[range].to_vec());
                }
            }
        }
        self.fail("ppproto kept producing output: runaway poll loop");
    }

    /// Hands `data` to ppproto, polling whenever its reader holds a frame.
    fn feed_client(&mut self, mut data: &[u8]) {
        let mut stalls = 0;
        while !data.is_empty() {
            let n = self.client.consume(data, &mut self.client_rx_buf);
            data = &data[n..];
            self.poll_client();
            if n == 0 {
                stalls += 1;
                if stalls > 2 {
                    self.fail("ppproto consumes nothing");
                }
            } else {
                stalls = 0;
            }
        }
    }

    fn drain_server(&mut self) {
        let mut buf = [0u8; 512];
        while let Some(n) = self.server.poll_transmit(&mut buf) {
            self.to_client.extend_from_slice(&buf[..n]);
        }
        while let Some(ev) = self.server.poll_event() {
            match ev {
                Event::Trace(t) => self
                    .trace
                    .push(format!("{:>7} ms  {t}", t.at.as_duration().as_millis())),
                other => {
                    self.trace.push(format!(
                        "{:>7} ms  -- event {other:?}",
                        self.now().as_duration().as_millis()
                    ));
                    self.events.push(other);
                }
            }
        }
        while let Some(p) = self.server.poll_packet() {
            self.server_rx.push(p.to_vec());
        }
    }

    /// One exchange: both sides speak, then each hears the other. Returns
    /// whether any byte moved.
    fn step(&mut self) -> bool {
        self.poll_client();
        self.drain_server();
        let to_server = std::mem::take(&mut self.to_server);
        let to_client = std::mem::take(&mut self.to_client);
        let now = self.now();
        for chunk in to_server.chunks(CHUNK) {
            self.server.handle_input(chunk, now);
        }
        for chunk in to_client.chunks(CHUNK) {
            self.feed_client(chunk);
        }
        self.drain_server();
        !to_server.is_empty() || !to_client.is_empty()
    }

    /// Runs until `done` holds, advancing the virtual clock to the server's
    /// next timer whenever the line is quiet, but never beyond `limit_ms`.
    /// Returns whether `done` held.
    fn run_until(&mut self, limit_ms: u64, mut done: impl FnMut(&Harness) -> bool) -> bool {
        for _ in 0..MAX_STEPS {
            if done(self) {
                return true;
            }
            if self.step() {
                continue;
            }
            // Quiet line: only a timer can move things on.
            match self.server.poll_timeout() {
                Some(t) if t <= Instant::from_millis(limit_ms) => {
                    self.now = self.now.max(t.as_duration().as_millis() as u64);
                    self.timer_runs += 1;
                    let now = self.now();
                    self.server.handle_timeout(now);
                }
                _ => {
                    self.now = self.now.max(limit_ms);
                    return done(self);
                }
            }
        }
        self.fail(&format!("no progress after {MAX_STEPS} steps"));
    }

    fn client_up(&self) -> bool {
        let s = self.client.status();
        s.phase == ppproto::Phase::Open && s.ipv4.is_some()
    }

    fn server_up(&self) -> bool {
        self.events.iter().any(|e| matches!(e, Event::Up(_)))
    }

    fn server_down(&self) -> Option<&DownReason> {
        self.events.iter().find_map(|e| match e {
            Event::Down(r) => Some(r),
            _ => None,
        })
    }

    fn trace_text(&self) -> String {
        self.trace.join("\n")
    }

    fn print_trace(&self, title: &str) {
        // One call, so that parallel tests do not interleave their traces.
        println!(
            "==== {title}: our answerer's trace ====\n{}\n==== end of {title} ====",
            self.trace_text()
        );
    }

    fn fail(&self, what: &str) -> ! {
        panic!(
            "{what}\nppproto status: {:?}\nour link: {:?}\nevents: {:?}\ntrace:\n{}",
            self.client.status(),
            self.server,
            self.events,
            self.trace_text()
        );
    }

    fn traced(&self, needle: &str) -> bool {
        self.trace.iter().any(|l| l.contains(needle))
    }

    fn assert_traced(&self, needle: &str) {
        if !self.traced(needle) {
            self.fail(&format!("expected `{needle}` in the trace"));
        }
    }

    /// The index of the first trace line containing `needle`.
    fn trace_index(&self, needle: &str) -> usize {
        match self.trace.iter().position(|l| l.contains(needle)) {
            Some(i) => i,
            None => self.fail(&format!("expected `{needle}` in the trace")),
        }
    }

    /// `first` appears in the trace, and before any `then` does.
    fn assert_traced_before(&self, first: &str, then: &str) {
        let i = self.trace_index(first);
        if let Some(j) = self.trace.iter().position(|l| l.contains(then)) {
            if j < i {
                self.fail(&format!("`{then}` went out before `{first}`"));
            }
        }
    }

    fn assert_not_traced(&self, needle: &str) {
        if self.traced(needle) {
            self.fail(&format!("did not expect `{needle}` in the trace"));
        }
    }
}

// ---------------------------------------------------------------------------
// Tests.

/// Brings the link up with good credentials and checks everything both
/// sides learnt. Returns the harness, up.
fn bring_up(ipv6: bool) -> Harness {
    let mut h = Harness::new(answerer_config(ipv6), b"ppp", b"secret");
    h.open();
    let up = h.run_until(60_000, |h| h.client_up() && h.server_up());
    if !up {
        h.fail("the link did not come up");
    }
    // Let the last replies settle (nothing should be in flight, though).
    let settled = h.run_until(h.now, |h| h.to_client.is_empty() && h.to_server.is_empty());
    assert!(settled);

    // ppproto never retransmits: a clean exchange needs no timer.
    if h.timer_runs != 0 || h.now != 0 {
        h.fail(&format!(
            "coming up needed {} timer run(s) (clock at {} ms)",
            h.timer_runs, h.now
        ));
    }

    // ppproto's view.
    let status = h.client.status();
    assert_eq!(status.phase, ppproto::Phase::Open);
    let v4 = status.ipv4.expect("ppproto has IPv4");
    assert_eq!(v4.address, Some(CLIENT_ADDR), "ppproto's address");
    assert_eq!(v4.peer_address, Some(SERVER_ADDR), "ppproto's peer address");
    assert_eq!(
        v4.dns_servers,
        [Some(DNS[0]), Some(DNS[1])],
        "ppproto's DNS"
    );

    // Our view: exactly one Up, with IPv4 only, and no Down.
    let ups: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Up(info) => Some(info.clone()),
            _ => None,
        })
        .collect();
    if ups.len() != 1 {
        h.fail(&format!("expected exactly one Up, got {}", ups.len()));
    }
    let info = &ups[0];
    assert_eq!(info.peer_name.as_deref(), Some("ppp"));
    assert_eq!(info.auth, Some(AuthMethod::Pap));
    let ipv4 = info.ipv4.as_ref().expect("our side has IPv4");
    assert_eq!(ipv4.local, Some(SERVER_ADDR));
    assert_eq!(ipv4.remote, Some(CLIENT_ADDR));
    assert_eq!(ipv4.dns, DNS.to_vec());
    assert_eq!(info.ipv6, None, "ppproto has no IPv6");
    assert_eq!(info.mtu, 1500, "ppproto sends no MRU: the default");
    assert_eq!(info.mru, 1500);
    assert_eq!(h.server.phase(), Phase::Network);
    assert_eq!(h.server.info(), Some(info));
    assert!(h.server_down().is_none());
    let phases: Vec<Phase> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Phase(p) => Some(*p),
            _ => None,
        })
        .collect();
    assert_eq!(
        phases,
        [Phase::Establish, Phase::Authenticate, Phase::Network]
    );

    // What the trace must show of the negotiation.
    h.assert_traced("rcvd [PAP Authenticate-Request");
    // The peer is in its Authenticate phase until it sees our Ack and
    // discards NCP packets until then (RFC 1661 §3.5): the Ack goes first.
    h.assert_traced_before("sent [PAP Authenticate-Ack", "sent [IPCP");
    h.assert_traced_before("sent [PAP Authenticate-Ack", "sent [IPV6CP");
    h.assert_traced("sent [IPCP Configure-Ack");
    h.assert_traced("rcvd [IPCP Configure-Ack");
    if ipv6 {
        h.assert_traced("sent [IPV6CP Configure-Request");
        h.assert_traced("rcvd [LCP Protocol-Reject");
        h.assert_traced("rejects 0x8057 (IPV6CP)");
    } else {
        h.assert_not_traced("IPV6CP");
        h.assert_not_traced("Protocol-Reject");
    }
    h.assert_not_traced("Code-Reject");
    h.assert_not_traced("Terminate");
    h
}

/// Pings across the link both ways, byte-exact, then checks the LCP
/// keepalive against ppproto.
fn exchange_ip(h: &mut Harness) {
    // ppproto -> us: an echo request.
    let request = icmp_echo(8, CLIENT_ADDR, SERVER_ADDR, 0xbeef, 1, &awkward_payload());
    assert_valid_icmp_echo(&request, 8, CLIENT_ADDR, SERVER_ADDR);
    let n = h
        .client
        .send(&request, &mut h.client_tx_buf)
        .expect("ppproto frames the packet");
    let framed = h.client_tx_buf[..n].to_vec();
    h.to_server.extend_from_slice(&framed);
    let start = h.now;
    if !h.run_until(start, |h| !h.server_rx.is_empty()) {
        h.fail("ppproto's packet never reached us");
    }
    assert_eq!(h.server_rx.len(), 1);
    assert_eq!(
        h.server_rx[0], request,
        "our side got the packet byte-exact"
    );
    assert_valid_icmp_echo(&h.server_rx[0], 8, CLIENT_ADDR, SERVER_ADDR);

    // us -> ppproto: the echo reply.
    let reply = icmp_echo(0, SERVER_ADDR, CLIENT_ADDR, 0xbeef, 1, &awkward_payload());
    assert_valid_icmp_echo(&reply, 0, SERVER_ADDR, CLIENT_ADDR);
    let now = h.now();
    h.server.send_ip(&reply, now).expect("IPv4 is open");
    if !h.run_until(start, |h| !h.client_rx.is_empty()) {
        h.fail("our packet never reached ppproto");
    }
    assert_eq!(h.client_rx.len(), 1);
    assert_eq!(h.client_rx[0], reply, "ppproto got the packet byte-exact");
    assert_valid_icmp_echo(&h.client_rx[0], 0, SERVER_ADDR, CLIENT_ADDR);

    // A burst, and one at the peer's MRU.
    let mut sent = Vec::new();
    for seq in 2..6u16 {
        let p = icmp_echo(0, SERVER_ADDR, CLIENT_ADDR, 0xbeef, seq, &[seq as u8; 100]);
        h.server.send_ip(&p, now).expect("IPv4 is open");
        sent.push(p);
    }
    let big = icmp_echo(0, SERVER_ADDR, CLIENT_ADDR, 0xbeef, 6, &[0x7e; 1500 - 28]);
    assert_eq!(big.len(), 1500);
    h.server
        .send_ip(&big, now)
        .expect("1500 fits the default MRU");
    sent.push(big);
    let want = 1 + sent.len();
    if !h.run_until(start, |h| h.client_rx.len() == want) {
        h.fail("the burst never reached ppproto");
    }
    assert_eq!(h.client_rx[1..], sent[..]);

    // Nothing else crossed: no stray IP on either side, no new events.
    assert_eq!(h.server_rx.len(), 1);
    assert!(h.server_down().is_none());

    // Keepalive: ppproto answers our LCP Echo-Requests (it rejected the
    // Magic-Number, so both magics are zero), and the link stays up.
    let before = h.trace.len();
    let later = h.now + 100_000;
    assert!(!h.run_until(later, |h| h.server_down().is_some()));
    let echoes = &h.trace[before..];
    let requests = echoes
        .iter()
        .filter(|l| l.contains("sent [LCP Echo-Request"))
        .count();
    let replies = echoes
        .iter()
        .filter(|l| l.contains("rcvd [LCP Echo-Reply"))
        .count();
    assert_eq!(
        requests,
        3,
        "one Echo-Request per 30 s:\n{}",
        h.trace_text()
    );
    assert_eq!(
        replies,
        requests,
        "ppproto answers each:\n{}",
        h.trace_text()
    );
    assert!(h.client_up());
    assert_eq!(h.server.phase(), Phase::Network);
}

#[test]
fn ppproto_dials_in_with_pap_ipv4_only_while_we_offer_ipv6() {
    let mut h = bring_up(true);
    exchange_ip(&mut h);
    h.print_trace("PAP + IPCP, IPV6CP offered");
}

#[test]
fn ppproto_dials_in_with_pap_ipv6cp_disabled() {
    let mut h = bring_up(false);
    exchange_ip(&mut h);
    h.print_trace("PAP + IPCP, IPV6CP disabled");
}

#[test]
fn ppproto_with_wrong_password_is_refused() {
    let mut h = Harness::new(answerer_config(true), b"ppp", b"wrong");
    h.open();
    let down = h.run_until(60_000, |h| h.server_down().is_some());
    // Let ppproto hear whatever was still in flight.
    h.run_until(h.now, |h| h.to_client.is_empty() && h.to_server.is_empty());
    h.print_trace("wrong password");
    if !down {
        h.fail("our side never went down");
    }
    assert_eq!(
        h.server_down(),
        Some(&DownReason::PeerAuthFailed {
            method: AuthMethod::Pap,
            user: "ppp".into()
        })
    );
    assert!(matches!(h.events.last(), Some(Event::Down(_))));
    assert!(h.server.is_finished());
    assert_eq!(h.server.phase(), Phase::Dead);
    assert!(
        !h.events.iter().any(|e| matches!(e, Event::Up(_))),
        "we never came up"
    );
    // RFC 1334 §2.2.1: the Nak MUST be sent; then the link is terminated.
    h.assert_traced_before("sent [PAP Authenticate-Nak", "sent [LCP Terminate-Request");
    h.assert_traced("sent [LCP Terminate-Request");
    h.assert_traced("rcvd [LCP Terminate-Ack");
    h.assert_not_traced("IPCP");
    h.assert_not_traced("sent [PAP Authenticate-Ack");

    // ppproto never got anywhere, and knows the link is gone.
    let status = h.client.status();
    assert!(status.ipv4.is_none(), "ppproto has no IPv4: {status:?}");
    assert_eq!(status.phase, ppproto::Phase::Dead, "{status:?}");
    assert!(h.client_rx.is_empty() && h.server_rx.is_empty());
}
