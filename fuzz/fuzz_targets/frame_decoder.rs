//! Fuzzes `dialtone_ppp::framing::Decoder` with arbitrary line bytes.
//!
//! Input: 2 bytes MRU, 4 bytes receive ACCM, 2 bytes split point, then the
//! bytes "received from the serial line". Checked, besides not panicking:
//!
//! * decoding the bytes in one piece or split in two gives the same results;
//! * every frame respects the MRU and has a valid (odd) protocol number;
//! * every frame survives re-encoding (with the default, most conservative
//!   transmit options) and decoding by a fresh decoder unchanged.
#![no_main]

use dialtone_ppp::framing::{Accm, Decoder, Encoder, FrameError, TxOptions};
use libfuzzer_sys::fuzz_target;

type Out = Result<(u16, Vec<u8>), FrameError>;

fn decode(dec: &mut Decoder, mut input: &[u8], out: &mut Vec<Out>) {
    while let Some(r) = dec.decode(&mut input) {
        out.push(r.map(|f| (f.protocol, f.payload.to_vec())));
    }
    assert!(input.is_empty());
}

fuzz_target!(|data: &[u8]| {
    let Some((head, line)) = data.split_first_chunk::<8>() else {
        return;
    };
    let mru = u16::from_le_bytes([head[0], head[1]]);
    let accm = Accm(u32::from_le_bytes([head[2], head[3], head[4], head[5]]));
    let cut = usize::from(u16::from_le_bytes([head[6], head[7]])) % (line.len() + 1);

    let new_decoder = || {
        let mut dec = Decoder::new(mru);
        dec.set_accm(accm);
        dec
    };
    let mut whole = Vec::new();
    decode(&mut new_decoder(), line, &mut whole);
    let mut split = Vec::new();
    let mut dec = new_decoder();
    decode(&mut dec, &line[..cut], &mut split);
    decode(&mut dec, &line[cut..], &mut split);
    assert_eq!(whole, split, "split at {cut}");

    let enc = Encoder::new(TxOptions::DEFAULT);
    for (protocol, payload) in whole.iter().filter_map(|r| r.as_ref().ok()) {
        assert!(payload.len() <= usize::from(mru));
        assert_eq!(protocol & 1, 1, "protocol {protocol:#06x}");
        let mut framed = Vec::new();
        enc.encode(*protocol, payload, &mut framed);
        let mut again = Vec::new();
        decode(&mut new_decoder(), &framed, &mut again);
        assert_eq!(again, [Ok((*protocol, payload.clone()))]);
    }
});
