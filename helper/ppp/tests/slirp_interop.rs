//! Interop with a third-party PPP server: Debian's `slirp` 1.0.17 (a pppd
//! 2.2 descendant) in PPP mode on a pty, as the ISP, with our engine as the
//! dialer: LCP, PAP and CHAP, IPCP handing us 10.0.2.15 and DNS, and an IP
//! round trip (slirp answers ICMP echo to its own address 10.0.2.2).
//!
//! Runs in real time against a real process; slirp lives in its own
//! network namespace, so nothing here reaches the machine's network.

#[path = "support/slirp.rs"]
mod slirp;

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use dialtone_ppp::{
    AuthMethod, Config, Credentials, DownReason, Event, Instant, Link, LinkInfo, Role,
};
use slirp::{SlirpAuth, SlirpPeer, CLIENT_ADDR, DNS_ADDR, SLIRP_ADDR};

struct Dial {
    link: Link,
    peer: SlirpPeer,
    start: std::time::Instant,
    events: Vec<Event>,
    packets: Vec<Vec<u8>>,
}

impl Dial {
    fn new(auth: SlirpAuth, credentials: Option<Credentials>, config: Config) -> Dial {
        let peer = SlirpPeer::spawn(auth).expect("slirp starts");
        let mut link = Link::new(config, Role::Dialer { credentials }, [5; 32]);
        let start = std::time::Instant::now();
        link.open(Instant::ZERO);
        Dial {
            link,
            peer,
            start,
            events: Vec::new(),
            packets: Vec::new(),
        }
    }

    fn now(&self) -> Instant {
        Instant::from_duration(self.start.elapsed())
    }

    /// Runs the link against slirp until `done` or `limit` (wall clock).
    fn run_until(&mut self, limit: Duration, done: impl Fn(&Dial) -> bool) -> bool {
        let mut buf = vec![0u8; 4096];
        loop {
            while let Some(n) = self.link.poll_transmit(&mut buf) {
                self.peer.write_all(&buf[..n]).expect("write to slirp");
            }
            while let Some(e) = self.link.poll_event() {
                self.events.push(e);
            }
            while let Some(p) = self.link.poll_packet() {
                self.packets.push(p.to_vec());
            }
            if done(self) {
                return true;
            }
            let now = self.now();
            if now.as_duration() > limit {
                return false;
            }
            let wait = self
                .link
                .poll_timeout()
                .map(|t| t.saturating_duration_since(now))
                .unwrap_or(Duration::from_millis(50))
                .clamp(Duration::from_millis(1), Duration::from_millis(50));
            match self.peer.read_timeout(&mut buf, wait) {
                Ok(0) => self.link.lower_down(self.now()),
                Ok(n) => self.link.handle_input(&buf[..n], self.now()),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) => panic!("reading from slirp: {e}"),
            }
            let now = self.now();
            if self.link.poll_timeout().is_some_and(|t| t <= now) {
                self.link.handle_timeout(now);
            }
        }
    }

    fn up(&self) -> Option<&LinkInfo> {
        self.events.iter().rev().find_map(|e| match e {
            Event::Up(i) => Some(i),
            _ => None,
        })
    }

    fn down(&self) -> Option<&DownReason> {
        self.events.iter().find_map(|e| match e {
            Event::Down(r) => Some(r),
            _ => None,
        })
    }

    fn trace(&self) -> String {
        let mut s = String::new();
        for e in &self.events {
            match e {
                Event::Trace(t) => s.push_str(&format!("  {:>10.3?} {t}\n", t.at.as_duration())),
                other => s.push_str(&format!("  {other:?}\n")),
            }
        }
        s.push_str("--- slirp's own log ---\n");
        s.push_str(&self.peer.ppp_debug_log());
        s
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = match chunk {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP echo request with valid IPv4 and ICMP checksums.
fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(payload);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

fn creds(user: &str, password: &str) -> Option<Credentials> {
    Some(Credentials {
        user: user.into(),
        password: password.into(),
    })
}

/// Dials slirp, expects the link up with slirp's addresses, and pings
/// 10.0.2.2 through it.
fn dial_and_ping(auth: SlirpAuth, credentials: Option<Credentials>, method: Option<AuthMethod>) {
    let mut d = Dial::new(auth, credentials, Config::default());
    let up = d.run_until(Duration::from_secs(30), |d| {
        d.up().is_some_and(|i| i.ipv4.is_some()) || d.down().is_some()
    });
    assert!(up && d.down().is_none(), "not up:\n{}", d.trace());
    let info = d.up().unwrap().clone();
    let v4 = info.ipv4.clone().unwrap();
    assert_eq!(v4.local, Some(CLIENT_ADDR), "{}", d.trace());
    assert_eq!(v4.remote, Some(SLIRP_ADDR));
    // slirp Acks a secondary DNS of 0.0.0.0: that means none.
    assert_eq!(v4.dns, vec![DNS_ADDR], "{}", d.trace());
    assert_eq!(info.auth, method);
    let trace = d.trace();
    // slirp offers VJ compression and CCP; we refuse both.
    assert!(
        trace.contains("LCP Protocol-Reject") && trace.contains("(CCP)"),
        "{trace}"
    );

    for seq in 1..=3u16 {
        let payload: Vec<u8> = (0..56u8).map(|i| i ^ 0x7e).collect();
        let ping = icmp_echo(CLIENT_ADDR, SLIRP_ADDR, 0xd1a1, seq, &payload);
        let now = d.now();
        d.link.send_ip(&ping, now).expect("send ping");
        let before = d.packets.len();
        let got = d.run_until(Duration::from_secs(40), |d| d.packets.len() > before);
        assert!(got, "no echo reply to ping {seq}:\n{}", d.trace());
        let reply = d.packets.last().unwrap();
        assert_eq!(&reply[12..16], &SLIRP_ADDR.octets(), "from 10.0.2.2");
        assert_eq!(&reply[16..20], &CLIENT_ADDR.octets(), "to us");
        assert_eq!(reply[9], 1, "ICMP");
        let icmp = &reply[20..];
        assert_eq!(icmp[0], 0, "echo reply");
        assert_eq!(&icmp[4..6], &0xd1a1u16.to_be_bytes());
        assert_eq!(&icmp[6..8], &seq.to_be_bytes());
        assert_eq!(&icmp[8..], &payload[..]);
        assert_eq!(checksum(icmp), 0, "ICMP checksum");
    }
    let stats = *d.link.stats();
    assert_eq!(stats.fcs_errors, 0);
    assert!(stats.rx_packets >= 3 && stats.tx_packets >= 3);

    // Hang up politely: slirp Acks our Terminate-Request.
    let now = d.now();
    d.link.close("User request", now);
    assert!(d.run_until(Duration::from_secs(40), |d| d.down().is_some()));
    assert_eq!(d.down(), Some(&DownReason::LocalClose), "{}", d.trace());
    println!("{}", d.trace());
}

#[test]
fn slirp_without_authentication() {
    dial_and_ping(SlirpAuth::None, None, None);
}

#[test]
fn slirp_with_pap() {
    dial_and_ping(
        SlirpAuth::Pap {
            user: "ppp".into(),
            password: "s3cret".into(),
        },
        creds("ppp", "s3cret"),
        Some(AuthMethod::Pap),
    );
}

#[test]
fn slirp_with_chap_md5() {
    dial_and_ping(
        SlirpAuth::Chap {
            user: "ppp".into(),
            password: "s3cret".into(),
        },
        creds("ppp", "s3cret"),
        Some(AuthMethod::ChapMd5),
    );
}

#[test]
fn slirp_refuses_a_wrong_password_and_we_say_so() {
    for (auth, method, message) in [
        (
            SlirpAuth::Pap {
                user: "ppp".into(),
                password: "s3cret".into(),
            },
            AuthMethod::Pap,
            "Login incorrect",
        ),
        (
            SlirpAuth::Chap {
                user: "ppp".into(),
                password: "s3cret".into(),
            },
            AuthMethod::ChapMd5,
            "I don't like you.  Go 'way.",
        ),
    ] {
        let mut d = Dial::new(auth, creds("ppp", "wrong"), Config::default());
        assert!(
            d.run_until(Duration::from_secs(40), |d| d.down().is_some()),
            "{}",
            d.trace()
        );
        assert_eq!(
            d.down(),
            Some(&DownReason::AuthFailed {
                method,
                message: message.into()
            }),
            "{}",
            d.trace()
        );
    }
}
