//! A two-ended harness, after quinn-proto's `Pair`: a dialer and an
//! answerer `Link` joined by two impaired one-way channels, run on a
//! virtual clock. Everything is deterministic for a given seed.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use dialtone_ppp::framing::FLAG;
use dialtone_ppp::{
    AuthMethod, Config, Credentials, DownReason, Event, Instant, Link, LinkInfo, Role,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Line impairments, applied per frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct Impairments {
    /// Probability that a frame is lost.
    pub loss: f64,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
    /// Probability that a frame is held back behind later ones.
    pub reorder: f64,
    /// Probability that any one bit is flipped.
    pub bit_error: f64,
    /// One-way delay.
    pub latency: Duration,
}

/// Rewrites (or, returning false, drops) one whole frame.
pub type FrameHook = Box<dyn FnMut(&mut Vec<u8>) -> bool>;

/// A one-way channel carrying framed bytes.
pub struct Channel {
    pub imp: Impairments,
    rng: ChaCha8Rng,
    /// Delivery time → chunks, in order of insertion for equal times.
    queue: BTreeMap<(Instant, u64), Vec<u8>>,
    seq: u64,
    /// While cut, everything sent is lost.
    pub cut: bool,
    /// Frames passed through this hook (whole frames, flags included) may be
    /// rewritten or dropped (return false).
    pub hook: Option<FrameHook>,
    pub frames_sent: u64,
    pub frames_lost: u64,
    pub bits_flipped: u64,
}

impl Channel {
    pub fn new(imp: Impairments, seed: u64) -> Self {
        Channel {
            imp,
            rng: ChaCha8Rng::seed_from_u64(seed),
            queue: BTreeMap::new(),
            seq: 0,
            cut: false,
            hook: None,
            frames_sent: 0,
            frames_lost: 0,
            bits_flipped: 0,
        }
    }

    fn enqueue(&mut self, at: Instant, bytes: Vec<u8>) {
        self.seq += 1;
        self.queue.insert((at, self.seq), bytes);
    }

    /// Splits the byte stream into frames at flags and impairs each.
    pub fn send(&mut self, bytes: &[u8], now: Instant) {
        let mut frames: Vec<Vec<u8>> = Vec::new();
        let mut cur = Vec::new();
        for &b in bytes {
            cur.push(b);
            if b == FLAG && cur.len() > 1 {
                frames.push(std::mem::take(&mut cur));
            }
        }
        if !cur.is_empty() {
            frames.push(cur);
        }
        for mut f in frames {
            self.frames_sent += 1;
            if let Some(hook) = &mut self.hook {
                if !hook(&mut f) {
                    continue;
                }
            }
            if self.cut || self.rng.random_bool(self.imp.loss) {
                self.frames_lost += 1;
                continue;
            }
            if self.imp.bit_error > 0.0 {
                for byte in f.iter_mut() {
                    for bit in 0..8 {
                        if self.rng.random_bool(self.imp.bit_error) {
                            *byte ^= 1 << bit;
                            self.bits_flipped += 1;
                        }
                    }
                }
            }
            let mut at = now + self.imp.latency;
            if self.rng.random_bool(self.imp.reorder) {
                at += Duration::from_millis(self.rng.random_range(1..200));
            }
            if self.rng.random_bool(self.imp.duplicate) {
                let later = at + Duration::from_millis(self.rng.random_range(0..50));
                self.enqueue(later, f.clone());
            }
            self.enqueue(at, f);
        }
    }

    pub fn next_delivery(&self) -> Option<Instant> {
        self.queue.keys().next().map(|k| k.0)
    }

    pub fn take_due(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            out.push(entry.remove());
        }
        out
    }
}

/// One end: its link and what it reported.
pub struct End {
    pub link: Link,
    pub events: Vec<Event>,
    pub packets: Vec<Vec<u8>>,
}

impl End {
    fn new(link: Link) -> Self {
        End {
            link,
            events: Vec::new(),
            packets: Vec::new(),
        }
    }

    pub fn up(&self) -> Option<&LinkInfo> {
        self.events.iter().rev().find_map(|e| match e {
            Event::Up(info) => Some(info),
            _ => None,
        })
    }

    pub fn down(&self) -> Option<&DownReason> {
        self.events.iter().find_map(|e| match e {
            Event::Down(r) => Some(r),
            _ => None,
        })
    }

    pub fn trace(&self) -> String {
        let mut s = String::new();
        for e in &self.events {
            match e {
                Event::Trace(t) => s.push_str(&format!("  {:>8?} {t}\n", t.at.as_duration())),
                other => s.push_str(&format!("  {other:?}\n")),
            }
        }
        s
    }
}

/// The dialer (a) and the answerer (b) on a virtual clock.
pub struct Pair {
    pub now: Instant,
    pub a: End,
    pub b: End,
    pub ab: Channel,
    pub ba: Channel,
}

pub fn dialer_config() -> Config {
    Config::default()
}

pub fn answerer_config(methods: &[AuthMethod]) -> Config {
    let mut c = Config::default();
    c.auth.methods = methods.to_vec();
    c.auth.name = "isp".into();
    c.ipcp.local = Some(Ipv4Addr::new(10, 0, 0, 1));
    c.ipcp.remote = Some(Ipv4Addr::new(10, 0, 0, 2));
    c.ipcp.dns = vec![Ipv4Addr::new(10, 0, 0, 53), Ipv4Addr::new(10, 0, 0, 54)];
    c
}

pub fn creds(user: &str, password: &str) -> Option<Credentials> {
    Some(Credentials {
        user: user.into(),
        password: password.into(),
    })
}

/// The answerer's account database: "ppp" / "secret".
pub fn secrets() -> Box<dyn dialtone_ppp::SecretLookup> {
    Box::new(|user: &str| (user == "ppp").then(|| "secret".to_string()))
}

impl Pair {
    pub fn new(
        dialer: Config,
        credentials: Option<Credentials>,
        answerer: Config,
        imp: Impairments,
        seed: u64,
    ) -> Self {
        let mut s1 = [0u8; 32];
        s1[..8].copy_from_slice(&seed.to_le_bytes());
        let mut s2 = s1;
        s2[31] = 1;
        let a = Link::new(dialer, Role::Dialer { credentials }, s1);
        let b = Link::new(answerer, Role::Answerer { secrets: secrets() }, s2);
        Pair {
            now: Instant::ZERO,
            a: End::new(a),
            b: End::new(b),
            ab: Channel::new(imp, seed.wrapping_mul(31).wrapping_add(1)),
            ba: Channel::new(imp, seed.wrapping_mul(31).wrapping_add(2)),
        }
    }

    /// The usual pair: no impairments.
    pub fn clean(dialer: Config, credentials: Option<Credentials>, answerer: Config) -> Self {
        Pair::new(dialer, credentials, answerer, Impairments::default(), 1)
    }

    pub fn open(&mut self) {
        self.a.link.open(self.now);
        self.b.link.open(self.now);
    }

    fn pump(&mut self) {
        let mut buf = [0u8; 4096];
        let mut out = Vec::new();
        while let Some(n) = self.a.link.poll_transmit(&mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        if !out.is_empty() {
            self.ab.send(&out, self.now);
        }
        out.clear();
        while let Some(n) = self.b.link.poll_transmit(&mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        if !out.is_empty() {
            self.ba.send(&out, self.now);
        }
        for chunk in self.ab.take_due(self.now) {
            self.b.link.handle_input(&chunk, self.now);
        }
        for chunk in self.ba.take_due(self.now) {
            self.a.link.handle_input(&chunk, self.now);
        }
        for end in [&mut self.a, &mut self.b] {
            while let Some(e) = end.link.poll_event() {
                end.events.push(e);
            }
            while let Some(p) = end.link.poll_packet() {
                end.packets.push(p.to_vec());
            }
        }
    }

    fn busy(&self) -> bool {
        self.a.link.pending_transmit() > 0
            || self.b.link.pending_transmit() > 0
            || self.ab.next_delivery().is_some_and(|t| t <= self.now)
            || self.ba.next_delivery().is_some_and(|t| t <= self.now)
    }

    /// Delivers everything due now, until both ends are quiet.
    pub fn settle(&mut self) {
        self.pump();
        while self.busy() {
            self.pump();
        }
    }

    /// Settles, then advances the clock to the next thing that happens;
    /// false when nothing will.
    pub fn step(&mut self) -> bool {
        self.settle();
        let next = [
            self.a.link.poll_timeout(),
            self.b.link.poll_timeout(),
            self.ab.next_delivery(),
            self.ba.next_delivery(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else {
            return false;
        };
        self.now = self.now.max(next);
        self.a.link.handle_timeout(self.now);
        self.b.link.handle_timeout(self.now);
        true
    }

    /// Steps until `done` holds or `limit` of virtual time passes.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Pair) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.settle();
            if done(self) {
                return true;
            }
            if self.now > end || !self.step() {
                return done(self);
            }
        }
    }

    /// Runs for a span of virtual time.
    pub fn run_for(&mut self, span: Duration) {
        let end = self.now + span;
        while self.now < end {
            if !self.step() {
                break;
            }
        }
    }

    pub fn both_up(&self) -> bool {
        self.a.up().is_some() && self.b.up().is_some()
    }

    pub fn both_down(&self) -> bool {
        self.a.down().is_some() && self.b.down().is_some()
    }

    /// Both traces, for failure messages.
    pub fn traces(&self) -> String {
        format!(
            "--- dialer ---\n{}--- answerer ---\n{}",
            self.a.trace(),
            self.b.trace()
        )
    }
}

/// A minimal IPv4 packet (UDP, checksum 0) carrying `payload`.
pub fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let mut sum: u32 = 0;
    for pair in p.chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let csum = !(sum as u16);
    p[10..12].copy_from_slice(&csum.to_be_bytes());
    let ulen = 8 + payload.len();
    p.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, (ulen >> 8) as u8, ulen as u8, 0, 0]);
    p.extend_from_slice(payload);
    p
}

/// A minimal IPv6 packet (UDP) carrying `payload`.
pub fn ipv6_udp(payload: &[u8]) -> Vec<u8> {
    let ulen = 8 + payload.len();
    let mut p = vec![0x60, 0, 0, 0, (ulen >> 8) as u8, ulen as u8, 17, 64];
    p.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, (ulen >> 8) as u8, ulen as u8, 0, 0]);
    p.extend_from_slice(payload);
    p
}
