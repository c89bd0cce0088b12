//! Peer input can never make the engine panic or wedge: arbitrary control
//! packets (well framed, so that they reach every parser) and arbitrary raw
//! bytes are thrown at both ends of a link in every phase. This is the
//! bounded, always-run companion of the cargo-fuzz targets.

mod common;

use std::time::Duration;

use common::pair::*;
use dialtone_ppp::framing::{Encoder, TxOptions};
use dialtone_ppp::wire::protocol;
use dialtone_ppp::{AuthMethod, Event, Phase};
use proptest::prelude::*;

/// A control packet aimed at the engine's parsers: a protocol it speaks
/// (or one it must reject), a code, an identifier, and a body that is
/// usually an option list and sometimes junk or a lying length field.
#[derive(Debug, Clone)]
struct Injected {
    protocol: u16,
    code: u8,
    id: u8,
    body: Vec<u8>,
    length_delta: i8,
}

fn protocols() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(protocol::LCP),
        Just(protocol::IPCP),
        Just(protocol::IPV6CP),
        Just(protocol::PAP),
        Just(protocol::CHAP),
        Just(protocol::CCP),
        Just(protocol::IPV4),
        Just(protocol::IPV6),
        any::<u16>(),
    ]
}

fn option() -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), prop::collection::vec(any::<u8>(), 0..12)).prop_map(|(kind, data)| {
        let mut o = vec![kind, (data.len() + 2) as u8];
        o.extend(data);
        o
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(option(), 0..6).prop_map(|v| v.concat()),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn injected() -> impl Strategy<Value = Injected> {
    (protocols(), 0u8..14, any::<u8>(), body(), -3i8..3).prop_map(
        |(protocol, code, id, body, length_delta)| Injected {
            protocol,
            code,
            id,
            body,
            length_delta,
        },
    )
}

fn frame(i: &Injected) -> Vec<u8> {
    let len = (i.body.len() as i32 + 4 + i32::from(i.length_delta)).clamp(0, 0xffff) as u16;
    let mut payload = vec![i.code, i.id];
    payload.extend_from_slice(&len.to_be_bytes());
    payload.extend_from_slice(&i.body);
    let mut out = Vec::new();
    Encoder::new(TxOptions::DEFAULT).encode(i.protocol, &payload, &mut out);
    out
}

/// Runs a pair, injecting `packets` into both ends at the given moments,
/// and checks the invariants that must hold whatever was injected.
fn run_with_injections(
    method: Option<AuthMethod>,
    injections: &[(u16, bool, Injected)],
    raw: &[u8],
) {
    let methods: Vec<_> = method.into_iter().collect();
    let mut p = Pair::clean(
        dialer_config(),
        creds("ppp", "secret"),
        answerer_config(&methods),
    );
    p.open();
    let mut pending: Vec<_> = injections.to_vec();
    pending.sort_by_key(|x| x.0);
    let start = p.now;
    for (at_ms, to_dialer, inj) in pending {
        let at = start + Duration::from_millis(u64::from(at_ms));
        while p.now < at {
            if !p.step() {
                break;
            }
        }
        let bytes = frame(&inj);
        if to_dialer {
            p.a.link.handle_input(&bytes, p.now);
            p.a.link.handle_input(raw, p.now);
        } else {
            p.b.link.handle_input(&bytes, p.now);
            p.b.link.handle_input(raw, p.now);
        }
    }
    p.run_for(Duration::from_secs(120));
    for end in [&p.a, &p.b] {
        // Down is reported at most once and is the last event.
        let downs = end
            .events
            .iter()
            .filter(|e| matches!(e, Event::Down(_)))
            .count();
        assert!(downs <= 1);
        if downs == 1 {
            assert!(matches!(
                end.events.last(),
                Some(Event::Down(_)) | Some(Event::Phase(Phase::Dead))
            ));
            assert_eq!(end.link.phase(), Phase::Dead);
            assert!(end.link.poll_timeout().is_none());
        } else {
            // Alive: a timer is always pending (echo or negotiation), so the
            // link cannot wedge silently.
            assert!(end.link.poll_timeout().is_some(), "{}", end.trace());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn injected_control_packets_never_panic_or_wedge(
        method in prop::option::of(prop::sample::select(AuthMethod::ALL.to_vec())),
        injections in prop::collection::vec((0u16..3000, any::<bool>(), injected()), 1..8),
        raw in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        run_with_injections(method, &injections, &raw);
    }

    #[test]
    fn arbitrary_bytes_never_panic(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..20)) {
        use dialtone_ppp::{Instant, Link, Role};
        for role in 0..2 {
            let r = if role == 0 {
                Role::Dialer { credentials: creds("u", "p") }
            } else {
                Role::Answerer { secrets: secrets() }
            };
            let mut link = Link::new(answerer_config(&AuthMethod::ALL), r, [3; 32]);
            link.open(Instant::ZERO);
            let mut buf = [0u8; 512];
            for (i, c) in chunks.iter().enumerate() {
                let now = Instant::from_millis(i as u64 * 700);
                link.handle_input(c, now);
                link.handle_timeout(now);
                while link.poll_transmit(&mut buf).is_some() {}
                while link.poll_event().is_some() {}
                while link.poll_packet().is_some() {}
            }
        }
    }
}

#[test]
fn ipv6_identifier_collision_is_resolved() {
    let mut d = dialer_config();
    d.ipv6cp.interface_id = Some([2, 0, 0, 0, 0, 0, 0, 1]);
    let mut a = answerer_config(&[]);
    a.ipv6cp.interface_id = Some([2, 0, 0, 0, 0, 0, 0, 1]);
    let mut p = Pair::clean(d, None, a);
    p.open();
    let ok = p.run_until(Duration::from_secs(60), |p| {
        p.a.up().is_some_and(|i| i.ipv6.is_some()) && p.b.up().is_some_and(|i| i.ipv6.is_some())
    });
    assert!(ok, "{}", p.traces());
    let a6 = p.a.up().unwrap().ipv6.clone().unwrap();
    let b6 = p.b.up().unwrap().ipv6.clone().unwrap();
    assert_ne!(a6.local_id, b6.local_id, "{}", p.traces());
    assert_eq!(a6.remote_id, Some(b6.local_id));
    assert_eq!(b6.remote_id, Some(a6.local_id));
    assert!(
        p.a.trace().contains("IPV6CP Configure-Nak"),
        "{}",
        p.traces()
    );
}
