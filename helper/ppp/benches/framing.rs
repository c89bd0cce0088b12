//! RFC 1662 framing throughput: dialtone-ppp's `framing` against `ppproto`.
//!
//! Workload: `FRAMES` (16) different payloads of 1500 random bytes (ChaCha8,
//! fixed seed), protocol 0x0021 (IPv4), full `FF 03` header and two-byte
//! protocol (no ACFC/PFC, since ppproto cannot compress), either ACCM 0 or the
//! default ACCM 0xffffffff (about 13% of random bytes then need an escape).
//! Throughput is counted in payload bytes (16 x 1500 per iteration), not wire
//! bytes.
//!
//! * `encode/*`: `Encoder::encode` of each payload into a cleared,
//!   pre-allocated `Vec` (opening flag, header, escaped payload, FCS, flag).
//! * `decode/*`: `Decoder::decode` over one pre-encoded stream of the 16
//!   frames (flags shared between frames), with the receive ACCM equal to the
//!   transmit one; every payload is touched (its length summed).
//! * `fcs16/crc_table16`, for reference: `framing::fcs16` alone over the 16
//!   payloads. Both directions compute it over every byte, and it is a large
//!   part of their time.
//!
//! What is measured for ppproto 0.2.1: its framing code (`FrameWriter` /
//! `FrameReader`) is private, so it is driven through the public `PPPoS`
//! API, which adds only trivial dispatch around it:
//!
//! * `ppproto/encode/*`: `PPPoS::send(payload, tx_buf)` for each payload:
//!   `FrameWriter` start (flag, `FF 03`), protocol 0x0021, payload, FCS, flag,
//!   escaping per the peer's ACCM (byte by byte, with a bytewise shift/XOR
//!   FCS); the output is checked, untimed, to be byte for byte ours. `send` always uses the ACCM the peer asked
//!   for, so for `accm0` the setup (untimed) negotiates it: the instance is
//!   opened and fed an LCP Configure-Request carrying ACCM 0, which it acks.
//!   For `accm_default` a fresh instance keeps its default 0xffffffff.
//! * `ppproto/decode/*`: the same byte stream as `decode/*`, fed through
//!   `PPPoS::consume` (the `FrameReader`: unescaping into `rx_buf` and the FCS
//!   check) and, after each completed frame, `PPPoS::poll`, which hands out
//!   the IPv4 payload range (the instance is never opened, so `poll` does no
//!   other work). ppproto has no receive ACCM (it never drops unescaped
//!   control characters), so it does slightly less work per byte than
//!   `Decoder` with the default ACCM.
//!
//! Encoders, decoders, buffers and input streams are all built outside the
//! timed closures.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dialtone_ppp::framing::{Accm, Decoder, Encoder, TxOptions};
use ppproto::pppos::{PPPoS, PPPoSAction};
use ppproto::Config;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FRAMES: usize = 16;
const PAYLOAD: usize = 1500;
const PROTO_IPV4: u16 = 0x0021;

fn payloads() -> Vec<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(0x1662);
    (0..FRAMES)
        .map(|_| {
            let mut p = vec![0u8; PAYLOAD];
            rng.fill_bytes(&mut p);
            p
        })
        .collect()
}

fn tx_options(accm: Accm) -> TxOptions {
    TxOptions {
        accm,
        acfc: false,
        pfc: false,
    }
}

/// All payloads framed back to back, as a receiver would see them.
fn stream(accm: Accm, payloads: &[Vec<u8>]) -> Vec<u8> {
    let enc = Encoder::new(tx_options(accm));
    let mut out = Vec::new();
    for p in payloads {
        enc.encode(PROTO_IPV4, p, &mut out);
    }
    out
}

fn decode_stream(dec: &mut Decoder, mut input: &[u8]) -> usize {
    let mut total = 0;
    while let Some(r) = dec.decode(&mut input) {
        if let Ok(frame) = r {
            total += black_box(frame.payload).len();
        }
    }
    total
}

const CONFIG: Config<'static> = Config {
    username: b"",
    password: b"",
};

/// A ppproto instance whose peer has asked for `accm`.
fn ppproto_sender(accm: Accm) -> PPPoS<'static> {
    let mut ppp = PPPoS::new(CONFIG);
    if accm == Accm::ALL {
        return ppp;
    }
    let mut tx = vec![0u8; 4096];
    let mut rx = vec![0u8; 4096];
    ppp.open().expect("open");
    let _ = ppp.poll(&mut tx, &mut rx); // sends our Configure-Request
    let [a, b, c, d] = accm.0.to_be_bytes();
    let req = [1, 1, 0, 10, 2, 6, a, b, c, d]; // Configure-Request: ACCM
    let mut frame = Vec::new();
    Encoder::new(TxOptions::DEFAULT).encode(0xc021, &req, &mut frame);
    let mut input = &frame[..];
    while !input.is_empty() {
        let n = ppp.consume(input, &mut rx);
        input = &input[n..];
        let _ = ppp.poll(&mut tx, &mut rx);
    }
    let _ = ppp.poll(&mut tx, &mut rx);
    ppp
}

fn ppproto_decode(ppp: &mut PPPoS<'_>, mut input: &[u8], rx: &mut [u8], tx: &mut [u8]) -> usize {
    let mut total = 0;
    while !input.is_empty() {
        let n = ppp.consume(input, rx);
        input = &input[n..];
        if let PPPoSAction::Received(range) = ppp.poll(tx, rx) {
            total += black_box(&rx[range]).len();
        }
    }
    total
}

fn bench(c: &mut Criterion) {
    let payloads = payloads();
    let bytes = (FRAMES * PAYLOAD) as u64;
    let cases = [("accm0", Accm::NONE), ("accm_default", Accm::ALL)];

    let mut g = c.benchmark_group("fcs16");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("crc_table16", |b| {
        b.iter(|| {
            let mut x = 0u16;
            for p in &payloads {
                x ^= dialtone_ppp::framing::fcs16(black_box(p));
            }
            x
        })
    });
    g.finish();

    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Bytes(bytes));
    for (name, accm) in cases {
        let enc = Encoder::new(tx_options(accm));
        let mut out = Vec::with_capacity(2 * (PAYLOAD + 6) + 2);
        g.bench_function(name, |b| {
            b.iter(|| {
                for p in &payloads {
                    out.clear();
                    enc.encode(PROTO_IPV4, black_box(p), &mut out);
                    black_box(&out);
                }
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(bytes));
    for (name, accm) in cases {
        let input = stream(accm, &payloads);
        let mut dec = Decoder::new(PAYLOAD as u16);
        dec.set_accm(accm);
        assert_eq!(decode_stream(&mut dec, &input), FRAMES * PAYLOAD);
        g.bench_function(name, |b| {
            b.iter(|| decode_stream(&mut dec, black_box(&input)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("ppproto/encode");
    g.throughput(Throughput::Bytes(bytes));
    for (name, accm) in cases {
        let mut ppp = ppproto_sender(accm);
        let mut tx = vec![0u8; 2 * (PAYLOAD + 6) + 2];
        // Same bytes on the wire as ours (ppproto's asyncmap really is `accm`).
        for p in &payloads {
            let n = ppp.send(p, &mut tx).expect("send");
            let mut ours = Vec::new();
            Encoder::new(tx_options(accm)).encode(PROTO_IPV4, p, &mut ours);
            assert_eq!(&tx[..n], &ours[..]);
        }
        g.bench_function(name, |b| {
            b.iter(|| {
                for p in &payloads {
                    let n = ppp.send(black_box(p), &mut tx).expect("send");
                    black_box(&tx[..n]);
                }
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("ppproto/decode");
    g.throughput(Throughput::Bytes(bytes));
    for (name, accm) in cases {
        let input = stream(accm, &payloads);
        let mut ppp = PPPoS::new(CONFIG);
        let mut rx = vec![0u8; PAYLOAD + 16];
        let mut tx = vec![0u8; 256];
        assert_eq!(
            ppproto_decode(&mut ppp, &input, &mut rx, &mut tx),
            FRAMES * PAYLOAD
        );
        g.bench_function(name, |b| {
            b.iter(|| ppproto_decode(&mut ppp, black_box(&input), &mut rx, &mut tx))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
