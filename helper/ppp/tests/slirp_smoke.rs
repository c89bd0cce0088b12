//! Smoke tests for the slirp test harness (tests/support/slirp.rs).
//!
//! They do NOT use the engine: frames are built and parsed by the tiny,
//! deliberately naive HDLC code below (RFC 1662 FCS-16 and byte stuffing), so
//! that the harness can be trusted independently of the code under test.
//!
//! * `lcp_*`: slirp answers a hand-built LCP Configure-Request, announces the
//!   expected Authentication-Protocol, and is still running seconds later
//!   (which proves the select() shim works).
//! * `*_login_ipcp_and_ping`: a minimal hand-written client goes all the way:
//!   LCP, PAP/CHAP-MD5 with the credentials given to the harness, IPCP
//!   (10.0.2.15 / DNS 10.0.2.3) and an ICMP echo to 10.0.2.2 that slirp answers
//!   from its private network namespace.
//!
//! Run with `cargo test -p dialtone-ppp --test slirp_smoke -- --nocapture` to
//! see every frame slirp sends, decoded.

#[path = "support/slirp.rs"]
mod slirp;

use slirp::{SlirpAuth, SlirpConfig, SlirpPeer, CLIENT_ADDR, DNS_ADDR, SLIRP_ADDR, SLIRP_HOSTNAME};
use std::time::{Duration, Instant};

const LCP: u16 = 0xc021;
const PAP: u16 = 0xc023;
const CHAP: u16 = 0xc223;
const IPCP: u16 = 0x8021;
const CCP: u16 = 0x80fd;
const IPV4: u16 = 0x0021;

// ---------------------------------------------------------------------------
// Minimal RFC 1662 framing, private to this test.

/// FCS-16 (RFC 1662 appendix C), bitwise.
fn fcs16(data: &[u8]) -> u16 {
    let mut fcs: u16 = 0xffff;
    for &b in data {
        fcs ^= u16::from(b);
        for _ in 0..8 {
            fcs = if fcs & 1 != 0 {
                (fcs >> 1) ^ 0x8408
            } else {
                fcs >> 1
            };
        }
    }
    !fcs
}

/// Frames `packet` of `protocol` with address/control, FCS, and escapes every
/// control character plus 0x7d/0x7e (ACCM 0xffffffff).
fn frame(protocol: u16, packet: &[u8]) -> Vec<u8> {
    let mut body = vec![0xff, 0x03];
    body.extend_from_slice(&protocol.to_be_bytes());
    body.extend_from_slice(packet);
    let fcs = fcs16(&body);
    body.extend_from_slice(&fcs.to_le_bytes());
    let mut out = vec![0x7e];
    for b in body {
        if b < 0x20 || b == 0x7d || b == 0x7e {
            out.extend_from_slice(&[0x7d, b ^ 0x20]);
        } else {
            out.push(b);
        }
    }
    out.push(0x7e);
    out
}

/// Splits a byte stream into frames, unescapes them, checks and strips the
/// FCS, and removes (possibly compressed) address/control and protocol.
#[derive(Default)]
struct Deframer {
    cur: Vec<u8>,
    escaped: bool,
    bad_fcs: usize,
}

impl Deframer {
    fn feed(&mut self, data: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut frames = Vec::new();
        for &b in data {
            match b {
                0x7e => {
                    let raw = std::mem::take(&mut self.cur);
                    self.escaped = false;
                    if raw.len() < 4 {
                        continue; // inter-frame fill or runt
                    }
                    let (body, fcs) = raw.split_at(raw.len() - 2);
                    if fcs16(body).to_le_bytes() != fcs {
                        self.bad_fcs += 1;
                        continue;
                    }
                    let mut p = body;
                    if p.starts_with(&[0xff, 0x03]) {
                        p = &p[2..];
                    }
                    let (proto, rest) = if p.first().is_some_and(|b| b & 1 == 1) {
                        (u16::from(p[0]), &p[1..]) // protocol field compression
                    } else if p.len() >= 2 {
                        (u16::from_be_bytes([p[0], p[1]]), &p[2..])
                    } else {
                        continue;
                    };
                    frames.push((proto, rest.to_vec()));
                }
                0x7d => self.escaped = true,
                _ => {
                    self.cur.push(if self.escaped { b ^ 0x20 } else { b });
                    self.escaped = false;
                }
            }
        }
        frames
    }
}

// ---------------------------------------------------------------------------
// Decoding, for the record.

fn proto_name(p: u16) -> &'static str {
    match p {
        LCP => "LCP",
        PAP => "PAP",
        CHAP => "CHAP",
        IPCP => "IPCP",
        CCP => "CCP",
        IPV4 => "IPv4",
        _ => "?",
    }
}

fn code_name(proto: u16, code: u8) -> &'static str {
    match (proto, code) {
        (PAP, 1) => "Authenticate-Request",
        (PAP, 2) => "Authenticate-Ack",
        (PAP, 3) => "Authenticate-Nak",
        (CHAP, 1) => "Challenge",
        (CHAP, 2) => "Response",
        (CHAP, 3) => "Success",
        (CHAP, 4) => "Failure",
        (_, 1) => "Configure-Request",
        (_, 2) => "Configure-Ack",
        (_, 3) => "Configure-Nak",
        (_, 4) => "Configure-Reject",
        (_, 5) => "Terminate-Request",
        (_, 6) => "Terminate-Ack",
        (_, 7) => "Code-Reject",
        (_, 8) => "Protocol-Reject",
        (_, 9) => "Echo-Request",
        (_, 10) => "Echo-Reply",
        (_, 11) => "Discard-Request",
        _ => "?",
    }
}

/// Configuration options as (type, data), or None if malformed.
fn options(data: &[u8]) -> Option<Vec<(u8, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (&t, &l) = (rest.first()?, rest.get(1)?);
        let l = usize::from(l);
        if l < 2 || l > rest.len() {
            return None;
        }
        out.push((t, rest[2..l].to_vec()));
        rest = &rest[l..];
    }
    Some(out)
}

fn ip(d: &[u8]) -> String {
    match d {
        [a, b, c, e] => format!("{a}.{b}.{c}.{e}"),
        _ => format!("{d:02x?}"),
    }
}

fn describe_option(proto: u16, t: u8, d: &[u8]) -> String {
    match (proto, t, d.len()) {
        (LCP, 1, 2) => format!("MRU {}", u16::from_be_bytes([d[0], d[1]])),
        (LCP, 2, 4) => format!("ACCM {:02x?}", d),
        (LCP, 3, _) if d.len() >= 2 => {
            format!(
                "Auth-Protocol {:04x}{}",
                u16::from_be_bytes([d[0], d[1]]),
                d.get(2).map(|a| format!(" alg {a}")).unwrap_or_default()
            )
        }
        (LCP, 5, 4) => format!("Magic {:02x?}", d),
        (LCP, 7, 0) => "PFC".into(),
        (LCP, 8, 0) => "ACFC".into(),
        (IPCP, 2, _) if d.len() >= 2 => {
            format!(
                "IP-Compression {:04x} {:02x?}",
                u16::from_be_bytes([d[0], d[1]]),
                &d[2..]
            )
        }
        (IPCP, 3, 4) => format!("IP-Address {}", ip(d)),
        (IPCP, 129, 4) => format!("Primary-DNS {}", ip(d)),
        (IPCP, 131, 4) => format!("Secondary-DNS {}", ip(d)),
        _ => format!("opt {t} {:02x?}", d),
    }
}

fn describe(proto: u16, pkt: &[u8]) -> String {
    if proto == IPV4 {
        if pkt.len() >= 21 {
            return format!(
                "IPv4 {} -> {} proto {} ttl {} (icmp type {})",
                ip(&pkt[12..16]),
                ip(&pkt[16..20]),
                pkt[9],
                pkt[8],
                pkt[20]
            );
        }
        return format!("IPv4 {:02x?}", pkt);
    }
    if pkt.len() < 4 {
        return format!("{} (short) {:02x?}", proto_name(proto), pkt);
    }
    let (code, id) = (pkt[0], pkt[1]);
    let len = usize::from(u16::from_be_bytes([pkt[2], pkt[3]])).clamp(4, pkt.len());
    let data = &pkt[4..len];
    let head = format!("{} {} id={id}", proto_name(proto), code_name(proto, code));
    let tail = match (proto, code) {
        (LCP | IPCP | CCP, 1..=4) => match options(data) {
            Some(opts) => {
                let v: Vec<String> = opts
                    .iter()
                    .map(|(t, d)| describe_option(proto, *t, d))
                    .collect();
                format!("[{}]", v.join(", "))
            }
            None => format!("malformed {:02x?}", data),
        },
        // PAP messages carry a length byte, CHAP messages don't.
        (PAP, 2 | 3) => {
            format!(
                "{:?}",
                String::from_utf8_lossy(data.get(1..).unwrap_or_default())
            )
        }
        (CHAP, 3 | 4) => format!("{:?}", String::from_utf8_lossy(data)),
        (CHAP, 1) if !data.is_empty() => {
            let vlen = usize::from(data[0]);
            format!(
                "value {} bytes, name {:?}",
                vlen,
                String::from_utf8_lossy(data.get(1 + vlen..).unwrap_or_default())
            )
        }
        _ => format!("{:02x?}", data),
    };
    format!("{head} {tail}")
}

// ---------------------------------------------------------------------------
// Helpers.

fn packet(code: u8, id: u8, data: &[u8]) -> Vec<u8> {
    let mut p = vec![code, id];
    p.extend_from_slice(&((data.len() + 4) as u16).to_be_bytes());
    p.extend_from_slice(data);
    p
}

/// Our LCP Configure-Request: just a Magic-Number.
fn our_lcp_request() -> Vec<u8> {
    packet(1, 1, &[5, 6, 0x44, 0x54, 0x4f, 0x4e])
}

struct Link {
    peer: SlirpPeer,
    rx: Deframer,
    log: Vec<String>,
}

impl Link {
    fn new(auth: SlirpAuth) -> Link {
        let peer = SlirpPeer::spawn(auth).expect("start slirp");
        Link {
            peer,
            rx: Deframer::default(),
            log: Vec::new(),
        }
    }

    fn send(&mut self, proto: u16, pkt: &[u8]) {
        self.log.push(format!("-> {}", describe(proto, pkt)));
        println!("   sent: {}", describe(proto, pkt));
        self.peer
            .write_all(&frame(proto, pkt))
            .expect("write to slirp");
    }

    /// Every good frame slirp sends within `wait`.
    fn recv(&mut self, wait: Duration) -> Vec<(u16, Vec<u8>)> {
        let bytes = self.peer.read_for(wait).expect("read from slirp");
        let frames = self.rx.feed(&bytes);
        for (p, pkt) in &frames {
            self.log.push(format!("<- {}", describe(*p, pkt)));
            println!("  slirp: {}", describe(*p, pkt));
        }
        frames
    }

    fn transcript(&self) -> String {
        format!(
            "{}\n--- slirp stderr ---\n{}\n--- slirp ppp debug ---\n{}",
            self.log.join("\n"),
            self.peer.stderr_log(),
            self.peer.ppp_debug_log()
        )
    }
}

/// Sends our Configure-Request, returns slirp's LCP Configure-Request options
/// after checking that it answered ours.  Then checks slirp is still alive
/// after a few seconds.
fn lcp_exchange(auth: SlirpAuth) -> Vec<(u8, Vec<u8>)> {
    let mut link = Link::new(auth);
    link.send(LCP, &our_lcp_request());

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut answered = false;
    let mut request = None;
    while Instant::now() < deadline && !(answered && request.is_some()) {
        for (proto, pkt) in link.recv(Duration::from_millis(300)) {
            if proto != LCP || pkt.len() < 4 {
                continue;
            }
            match pkt[0] {
                // An answer to our request (Ack, Nak or Reject), same id.
                2..=4 if pkt[1] == 1 => answered = true,
                1 => request = Some(pkt),
                _ => {}
            }
        }
    }
    assert!(
        answered,
        "slirp did not answer our LCP Configure-Request\n{}",
        link.transcript()
    );
    let request = request
        .unwrap_or_else(|| panic!("slirp sent no LCP Configure-Request\n{}", link.transcript()));
    let opts = options(&request[4..]).expect("well-formed options");

    // The shim works if slirp is still running well after "SLiRP Ready".
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        link.peer.is_running(),
        "slirp exited ({:?}): is the select() shim working?\n{}",
        link.peer.exit_status(),
        link.transcript()
    );
    assert_eq!(
        link.rx.bad_fcs,
        0,
        "frames with a bad FCS\n{}",
        link.transcript()
    );
    opts
}

fn auth_option(opts: &[(u8, Vec<u8>)]) -> Option<Vec<u8>> {
    opts.iter().find(|(t, _)| *t == 3).map(|(_, d)| d.clone())
}

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn framing_helpers_roundtrip() {
    // RFC 1662's good-FCS property: the FCS over data+FCS is the magic 0xf0b8.
    let data = b"\xff\x03\xc0\x21\x01\x01\x00\x04";
    let fcs = fcs16(data);
    let mut with = data.to_vec();
    with.extend_from_slice(&fcs.to_le_bytes());
    assert_eq!(!fcs16(&with), 0xf0b8);

    let pkt = packet(1, 7, &[0x7e, 0x7d, 0x11, 0x00]);
    let mut rx = Deframer::default();
    let out = rx.feed(&frame(LCP, &pkt));
    assert_eq!(out, vec![(LCP, pkt)]);
}

#[test]
fn initiate_options_makes_slirp_speak_first() {
    let mut config = SlirpConfig::new(SlirpAuth::None);
    config.initiate = true;
    let mut peer = SlirpPeer::spawn_with(config).expect("start slirp");
    let mut frames = Vec::new();
    peer.read_until(Duration::from_secs(10), |bytes| {
        frames = Deframer::default().feed(bytes);
        !frames.is_empty()
    })
    .expect("an unsolicited frame");
    for (p, pkt) in &frames {
        println!("  slirp: {}", describe(*p, pkt));
    }
    let (proto, pkt) = &frames[0];
    assert_eq!((*proto, pkt[0]), (LCP, 1), "{}", describe(*proto, pkt));
}

#[test]
fn lcp_without_auth() {
    let opts = lcp_exchange(SlirpAuth::None);
    assert_eq!(auth_option(&opts), None, "no auth requested: {opts:02x?}");
    assert!(
        opts.iter().any(|(t, _)| *t == 5),
        "magic number expected: {opts:02x?}"
    );
}

#[test]
fn lcp_requires_pap() {
    let opts = lcp_exchange(SlirpAuth::Pap {
        user: "alice".into(),
        password: "pap secret".into(),
    });
    assert_eq!(auth_option(&opts), Some(vec![0xc0, 0x23]), "{opts:02x?}");
}

#[test]
fn lcp_requires_chap_md5() {
    let opts = lcp_exchange(SlirpAuth::Chap {
        user: "bob".into(),
        password: "chap secret".into(),
    });
    assert_eq!(auth_option(&opts), Some(vec![0xc2, 0x23, 5]), "{opts:02x?}");
}

/// What the hand-written client must do in the authentication phase.
#[derive(Clone, Copy)]
enum ClientAuth {
    None,
    Pap(&'static str, &'static str),
    Chap(&'static str, &'static str),
}

/// A complete, minimal client: LCP, auth, IPCP, ping.  Returns the address and
/// DNS slirp assigned.
fn dial_and_ping(slirp_auth: SlirpAuth, client: ClientAuth) -> ([u8; 4], [u8; 4]) {
    let mut link = Link::new(slirp_auth);
    link.send(LCP, &our_lcp_request());

    let mut lcp_acked = false;
    let mut peer_acked = false;
    let mut auth_started = false;
    let mut authed = matches!(client, ClientAuth::None);
    let mut ipcp_started = false;
    let mut ipcp_id = 1u8;
    let mut ipcp_req: Vec<(u8, Vec<u8>)> = vec![(3, vec![0; 4]), (129, vec![0; 4])];
    let mut ipcp_up = false;
    let mut ccp_rejected = false;
    let mut pinged = false;
    let mut got_reply = false;

    let deadline = Instant::now() + Duration::from_secs(20);
    while !got_reply {
        if Instant::now() > deadline {
            fail(&link, "no echo reply from 10.0.2.2 in time");
        }
        for (proto, pkt) in link.recv(Duration::from_millis(200)) {
            if proto != IPV4 && pkt.len() < 4 {
                continue;
            }
            match proto {
                LCP => match pkt[0] {
                    1 => {
                        // Accept whatever slirp asks for (MRU, auth, magic,
                        // PFC, ACFC: our Deframer copes with all of them).
                        let mut ack = pkt.clone();
                        ack[0] = 2;
                        link.send(LCP, &ack);
                        peer_acked = true;
                    }
                    2 if pkt[1] == 1 => lcp_acked = true,
                    9 => {
                        let mut reply = pkt.clone();
                        reply[0] = 10;
                        reply[4..8].copy_from_slice(&[0x44, 0x54, 0x4f, 0x4e]);
                        link.send(LCP, &reply);
                    }
                    5 => fail(&link, "slirp terminated the link"),
                    _ => {}
                },
                PAP => match pkt[0] {
                    2 => authed = true,
                    _ => fail(&link, "PAP failed"),
                },
                CHAP => match pkt[0] {
                    1 => {
                        let ClientAuth::Chap(user, secret) = client else {
                            fail(&link, "unexpected CHAP challenge");
                        };
                        let vlen = usize::from(pkt[4]);
                        let challenge = &pkt[5..5 + vlen];
                        let name =
                            &pkt[5 + vlen..usize::from(u16::from_be_bytes([pkt[2], pkt[3]]))];
                        assert_eq!(name, SLIRP_HOSTNAME.as_bytes(), "CHAP name");
                        let mut input = vec![pkt[1]];
                        input.extend_from_slice(secret.as_bytes());
                        input.extend_from_slice(challenge);
                        let digest = md5_digest(&input);
                        let mut data = vec![16];
                        data.extend_from_slice(&digest);
                        data.extend_from_slice(user.as_bytes());
                        link.send(CHAP, &packet(2, pkt[1], &data));
                    }
                    3 => authed = true,
                    _ => fail(&link, "CHAP failed"),
                },
                IPCP => match pkt[0] {
                    1 => {
                        let opts = options(&pkt[4..]).expect("IPCP options");
                        let unwanted: Vec<u8> = opts
                            .iter()
                            .filter(|(t, _)| *t != 3)
                            .flat_map(|(t, d)| {
                                let mut o = vec![*t, (d.len() + 2) as u8];
                                o.extend_from_slice(d);
                                o
                            })
                            .collect();
                        if unwanted.is_empty() {
                            let mut ack = pkt.clone();
                            ack[0] = 2;
                            link.send(IPCP, &ack);
                        } else {
                            link.send(IPCP, &packet(4, pkt[1], &unwanted));
                        }
                    }
                    3 => {
                        for (t, d) in options(&pkt[4..]).expect("IPCP Nak options") {
                            if let Some(o) = ipcp_req.iter_mut().find(|(ot, _)| *ot == t) {
                                o.1 = d;
                            }
                        }
                        ipcp_id += 1;
                        link.send(IPCP, &packet(1, ipcp_id, &encode(&ipcp_req)));
                    }
                    2 if pkt[1] == ipcp_id => ipcp_up = true,
                    4 => fail(&link, "slirp rejected our IPCP options"),
                    5 => fail(&link, "slirp terminated IPCP"),
                    _ => {}
                },
                CCP if pkt[0] == 1 && !ccp_rejected => {
                    // Protocol-Reject: the only answer that quiets it.
                    let mut data = CCP.to_be_bytes().to_vec();
                    data.extend_from_slice(&pkt);
                    link.send(LCP, &packet(8, 0x55, &data));
                    ccp_rejected = true;
                }
                IPV4 if is_echo_reply_from_slirp(&pkt) => got_reply = true,
                _ => {}
            }
        }

        let lcp_open = lcp_acked && peer_acked;
        if lcp_open && !auth_started {
            auth_started = true;
            if let ClientAuth::Pap(user, password) = client {
                let mut data = vec![user.len() as u8];
                data.extend_from_slice(user.as_bytes());
                data.push(password.len() as u8);
                data.extend_from_slice(password.as_bytes());
                link.send(PAP, &packet(1, 1, &data));
            }
        }
        if lcp_open && authed && !ipcp_started {
            ipcp_started = true;
            link.send(IPCP, &packet(1, ipcp_id, &encode(&ipcp_req)));
        }
        if ipcp_up && !pinged {
            pinged = true;
            let ours: [u8; 4] = ipcp_req[0].1.clone().try_into().unwrap();
            link.send(IPV4, &icmp_echo(ours, SLIRP_ADDR.octets()));
        }
    }

    assert!(link.peer.is_running(), "slirp died\n{}", link.transcript());
    assert_eq!(
        link.rx.bad_fcs,
        0,
        "frames with a bad FCS\n{}",
        link.transcript()
    );
    let debug = link.peer.ppp_debug_log();
    println!("--- slirp ppp debug log ---\n{debug}");
    (
        ipcp_req[0].1.clone().try_into().unwrap(),
        ipcp_req[1].1.clone().try_into().unwrap(),
    )
}

/// An ICMP echo reply from 10.0.2.2 to the request built by [`icmp_echo`].
fn is_echo_reply_from_slirp(pkt: &[u8]) -> bool {
    pkt.len() >= 28
        && pkt[9] == 1
        && pkt[12..16] == SLIRP_ADDR.octets()
        && pkt[20] == 0
        && pkt[24..28] == [0x12, 0x34, 0, 1]
}

fn fail(link: &Link, why: &str) -> ! {
    panic!("{why}\n{}", link.transcript())
}

fn encode(opts: &[(u8, Vec<u8>)]) -> Vec<u8> {
    opts.iter()
        .flat_map(|(t, d)| {
            let mut o = vec![*t, (d.len() + 2) as u8];
            o.extend_from_slice(d);
            o
        })
        .collect()
}

fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn icmp_echo(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    icmp.extend_from_slice(b"dialtone");
    let c = inet_checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = inet_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

/// MD5 (RFC 1321) for the CHAP response; the `md-5` crate is a dependency of
/// the engine, but this test stays self-contained.
fn md5_digest(input: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut msg = input.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((input.len() as u64).wrapping_mul(8)).to_le_bytes());
    let mut h: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = h;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        h = [
            h[0].wrapping_add(a),
            h[1].wrapping_add(b),
            h[2].wrapping_add(c),
            h[3].wrapping_add(d),
        ];
    }
    let mut out = [0u8; 16];
    for (i, w) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

#[test]
fn md5_known_answers() {
    let hex = |d: [u8; 16]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(hex(md5_digest(b"")), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(
        hex(md5_digest(b"The quick brown fox jumps over the lazy dog")),
        "9e107d9d372bb6826bd81d3542a419d6"
    );
}

#[test]
fn no_auth_dial_ipcp_and_ping() {
    let (addr, dns) = dial_and_ping(SlirpAuth::None, ClientAuth::None);
    assert_eq!(addr, CLIENT_ADDR.octets());
    assert_eq!(dns, DNS_ADDR.octets());
}

#[test]
fn pap_login_ipcp_and_ping() {
    // A space and a quote exercise the quoting in the secrets file.
    let (addr, _) = dial_and_ping(
        SlirpAuth::Pap {
            user: "alice".into(),
            password: "open \"sesame\"".into(),
        },
        ClientAuth::Pap("alice", "open \"sesame\""),
    );
    assert_eq!(addr, CLIENT_ADDR.octets());
}

#[test]
fn chap_login_ipcp_and_ping() {
    let (addr, _) = dial_and_ping(
        SlirpAuth::Chap {
            user: "bob".into(),
            password: "chap secret".into(),
        },
        ClientAuth::Chap("bob", "chap secret"),
    );
    assert_eq!(addr, CLIENT_ADDR.octets());
}

#[test]
fn pap_wrong_password_is_refused() {
    let mut link = Link::new(SlirpAuth::Pap {
        user: "alice".into(),
        password: "right".into(),
    });
    link.send(LCP, &our_lcp_request());
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut lcp_acked, mut sent_auth) = (false, false);
    loop {
        assert!(
            Instant::now() < deadline,
            "no PAP verdict\n{}",
            link.transcript()
        );
        for (proto, pkt) in link.recv(Duration::from_millis(200)) {
            match (proto, pkt.first()) {
                (LCP, Some(1)) => {
                    let mut ack = pkt.clone();
                    ack[0] = 2;
                    link.send(LCP, &ack);
                }
                (LCP, Some(2)) => lcp_acked = true,
                (PAP, Some(3)) => return, // Authenticate-Nak: as expected
                (PAP, Some(2)) => panic!("wrong password accepted\n{}", link.transcript()),
                _ => {}
            }
        }
        if lcp_acked && !sent_auth {
            sent_auth = true;
            link.send(PAP, &packet(1, 1, b"\x05alice\x05wrong"));
        }
    }
}
