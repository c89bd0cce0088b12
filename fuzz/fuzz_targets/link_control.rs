//! Fuzzes control-packet parsing in a running link: a dialer and an
//! answerer are brought up in memory, then the input is cut into control
//! packets (protocol, code, identifier, length field, body) that are framed
//! and injected into either end, at any moment of the negotiation, while the
//! two ends keep talking and their timers keep firing.
//!
//! Input: 1 byte chooses the authentication method and when injection
//! starts; then records `end/protocol selector, code, id, length delta,
//! body length, body…`.
//!
//! Checked, besides not panicking: each end reports `Down` at most once, as
//! its last event, and is then Dead with no timer; an end that is alive
//! always has a timer pending (nothing can wedge it silently).
#![no_main]

use std::net::Ipv4Addr;

use dialtone_ppp::framing::{Encoder, TxOptions};
use dialtone_ppp::wire::protocol;
use dialtone_ppp::{AuthMethod, Config, Credentials, Event, Instant, Link, Phase, Role};
use libfuzzer_sys::fuzz_target;

const PROTOCOLS: [u16; 8] = [
    protocol::LCP,
    protocol::IPCP,
    protocol::IPV6CP,
    protocol::PAP,
    protocol::CHAP,
    protocol::CCP,
    protocol::IPV4,
    protocol::IPV6,
];

struct End {
    link: Link,
    downs: usize,
    last_was_down: bool,
}

impl End {
    fn drain(&mut self) {
        while let Some(e) = self.link.poll_event() {
            self.last_was_down = matches!(e, Event::Down(_));
            if self.last_was_down {
                self.downs += 1;
            }
        }
        while self.link.poll_packet().is_some() {}
    }

    fn check(&self) {
        assert!(self.downs <= 1, "Down reported twice");
        if self.downs == 1 {
            assert_eq!(self.link.phase(), Phase::Dead);
            assert!(self.link.poll_timeout().is_none());
        } else {
            assert!(self.link.poll_timeout().is_some(), "alive with no timer");
        }
    }
}

fn shuttle(from: &mut End, to: &mut End, now: Instant) {
    let mut buf = [0u8; 2048];
    while let Some(n) = from.link.poll_transmit(&mut buf) {
        to.link.handle_input(&buf[..n], now);
    }
}

fn settle(a: &mut End, b: &mut End, now: Instant) {
    for _ in 0..8 {
        shuttle(a, b, now);
        shuttle(b, a, now);
    }
    a.drain();
    b.drain();
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let method = match first % 4 {
        0 => None,
        1 => Some(AuthMethod::Pap),
        2 => Some(AuthMethod::ChapMd5),
        _ => Some(AuthMethod::MsChapV2),
    };
    let mut server = Config::default();
    server.auth.methods = method.into_iter().collect();
    server.auth.name = "isp".into();
    server.ipcp.local = Some(Ipv4Addr::new(10, 0, 0, 1));
    server.ipcp.remote = Some(Ipv4Addr::new(10, 0, 0, 2));
    server.ipcp.dns = vec![Ipv4Addr::new(10, 0, 0, 53)];
    let credentials = Some(Credentials {
        user: "ppp".into(),
        password: "secret".into(),
    });
    let secrets = Box::new(|u: &str| (u == "ppp").then(|| "secret".to_string()));
    let mut a = End {
        link: Link::new(Config::default(), Role::Dialer { credentials }, [1; 32]),
        downs: 0,
        last_was_down: false,
    };
    let mut b = End {
        link: Link::new(server, Role::Answerer { secrets }, [2; 32]),
        downs: 0,
        last_was_down: false,
    };
    let mut now = Instant::ZERO;
    a.link.open(now);
    b.link.open(now);
    // Let negotiation run for a number of rounds chosen by the input, so
    // that injections land in every phase.
    for _ in 0..(first / 4) % 12 {
        settle(&mut a, &mut b, now);
    }
    let encoder = Encoder::new(TxOptions::DEFAULT);
    let mut frame = Vec::new();
    while let [sel, code, id, delta, len, tail @ ..] = rest {
        let body_len = usize::from(*len).min(tail.len());
        let (body, after) = tail.split_at(body_len);
        rest = after;
        let proto = if sel & 0x10 != 0 {
            u16::from_be_bytes([*code, *id])
        } else {
            PROTOCOLS[usize::from(sel & 7)]
        };
        let length = (body.len() as i32 + 4 + i32::from(*delta as i8 % 4)).clamp(0, 0xffff) as u16;
        let mut packet = vec![*code, *id];
        packet.extend_from_slice(&length.to_be_bytes());
        packet.extend_from_slice(body);
        frame.clear();
        encoder.encode(proto, &packet, &mut frame);
        let target = if sel & 0x80 != 0 { &mut a } else { &mut b };
        target.link.handle_input(&frame, now);
        settle(&mut a, &mut b, now);
        if sel & 0x40 != 0 {
            // Jump to the next timer.
            let next = [a.link.poll_timeout(), b.link.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            if let Some(t) = next {
                now = now.max(t);
                a.link.handle_timeout(now);
                b.link.handle_timeout(now);
                settle(&mut a, &mut b, now);
            }
        }
        a.check();
        b.check();
    }
    if a.downs == 1 {
        assert!(a.last_was_down || a.link.phase() == Phase::Dead);
    }
});
