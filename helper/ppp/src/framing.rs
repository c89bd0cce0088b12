//! Async HDLC-like framing (RFC 1662).
//!
//! [`Encoder`] turns a protocol number and a packet into one flag-delimited,
//! byte-stuffed frame with its FCS-16; [`Decoder`] does the reverse on a byte
//! stream that may arrive split at any byte, and tells modem chatter
//! ([`FrameError::Noise`]) apart from damaged frames.
//!
//! Both are built for throughput, without `unsafe`: data is handled sixteen
//! bytes at a time. A block with nothing to escape (tested with a loop the
//! compiler vectorizes) is copied whole; otherwise SWAR (SIMD within a
//! register) tests on its two `u64` words flag the bytes to escape, or the
//! escapes, flags and control characters on receive, and the runs between
//! them are moved with fixed-size word stores. The FCS is computed in its
//! own pass with slice-by-16 tables (from the `crc` crate). Neither side
//! allocates per frame.

use crc::{Crc, Table, CRC_16_IBM_SDLC};

/// The flag sequence that opens and closes every frame.
pub const FLAG: u8 = 0x7e;
/// The control escape octet: the next octet is to be XORed with 0x20.
pub const ESCAPE: u8 = 0x7d;

/// FCS-16 of a whole frame, FCS bytes included, after the final complement:
/// the "good FCS" residue (RFC 1662 §C.2 `PPPGOODFCS16` 0xf0b8, complemented).
const GOOD_RESIDUE: u16 = 0xf0b8 ^ 0xffff;

/// The LCP protocol number.
const PROTO_LCP: u16 = 0xc021;

/// CRC-16/IBM-SDLC (the PPP FCS-16): reflected 0x1021, init and xorout 0xffff.
static FCS16: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_IBM_SDLC);

/// The slice-by-16 tables: `t[15 - i][b]` is the contribution of byte value
/// `b` at offset `i` of a 16-byte block; `t[0]` is the classic byte table.
type Tables = [[u16; 256]; 16];

/// RFC 1662 §7.1 async-control-character map: bit n set = byte n (0x00..=0x1f)
/// is escaped (tx) / discarded when received unescaped (rx).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Accm(pub u32);

impl Accm {
    /// Every control character is escaped: the default until LCP negotiates otherwise.
    pub const ALL: Accm = Accm(0xffff_ffff);
    /// No control character is escaped.
    pub const NONE: Accm = Accm(0);

    /// Whether `byte` is one of the control characters in the map.
    #[inline]
    pub fn contains(self, byte: u8) -> bool {
        byte < 0x20 && (self.0 >> byte) & 1 == 1
    }
}

impl Default for Accm {
    fn default() -> Self {
        Accm::ALL
    }
}

/// FCS-16 (RFC 1662 §C.2, CRC-16/IBM-SDLC) of data: the value to append, low byte first.
#[inline]
pub fn fcs16(data: &[u8]) -> u16 {
    crc_update(0xffff, data) ^ 0xffff
}

/// Advances the (uncomplemented) FCS register over `data`. Kept out of line
/// so that its code does not depend on the caller's.
#[inline(never)]
fn crc_update(mut crc: u16, data: &[u8]) -> u16 {
    let t = FCS16.table();
    let mut s = data;
    while let Some((a, rest)) = s.split_first_chunk::<8>() {
        let Some((b, rest)) = rest.split_first_chunk::<8>() else {
            break;
        };
        crc = crc_block(crc, u64::from_le_bytes(*a), u64::from_le_bytes(*b), t);
        s = rest;
    }
    crc_bytes(crc, s, t)
}

/// Advances the FCS register over a few bytes, one at a time.
#[inline]
fn crc_bytes(mut crc: u16, data: &[u8], t: &Tables) -> u16 {
    for &b in data {
        crc = (crc >> 8) ^ t[0][((crc ^ b as u16) & 0xff) as usize];
    }
    crc
}

/// Advances the FCS register over one 16-byte block, given as two
/// little-endian words. The fourteen lookups that do not depend on the
/// register come first, so that only two loads and two XORs are on the
/// loop-carried path.
#[inline(always)]
fn crc_block(crc: u16, lo: u64, hi: u64, t: &Tables) -> u16 {
    let idx = |x: u64, byte: u32| ((x >> (8 * byte)) & 0xff) as usize;
    let indep = t[7][idx(hi, 0)]
        ^ t[6][idx(hi, 1)]
        ^ t[5][idx(hi, 2)]
        ^ t[4][idx(hi, 3)]
        ^ t[3][idx(hi, 4)]
        ^ t[2][idx(hi, 5)]
        ^ t[1][idx(hi, 6)]
        ^ t[0][idx(hi, 7)]
        ^ t[13][idx(lo, 2)]
        ^ t[12][idx(lo, 3)]
        ^ t[11][idx(lo, 4)]
        ^ t[10][idx(lo, 5)]
        ^ t[9][idx(lo, 6)]
        ^ t[8][idx(lo, 7)];
    let c = (lo as u16) ^ crc;
    indep ^ t[15][(c & 0xff) as usize] ^ t[14][(c >> 8) as usize]
}

/// Transmit options, set by the link when LCP opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxOptions {
    /// The peer's receive ACCM: which control characters must be escaped.
    pub accm: Accm,
    /// Address-and-Control-Field-Compression: omit `FF 03`.
    pub acfc: bool,
    /// Protocol-Field-Compression: send protocols below 0x100 as one byte.
    pub pfc: bool,
}

impl TxOptions {
    /// The options in force before LCP opens: escape every control character,
    /// no compression.
    pub const DEFAULT: TxOptions = TxOptions {
        accm: Accm::ALL,
        acfc: false,
        pfc: false,
    };
}

impl Default for TxOptions {
    fn default() -> Self {
        TxOptions::DEFAULT
    }
}

// ---------------------------------------------------------------------------
// SWAR helpers. Every mask has 0x80 set in exactly the bytes that match; the
// tests are exact per byte (no carry or borrow crosses a byte boundary).

const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const HI: u64 = 0x8080_8080_8080_8080;
const ONES: u64 = 0x0101_0101_0101_0101;

/// 0x80 in every byte of `x` equal to `c` (`c <= 127`).
#[inline(always)]
fn eq_bytes(x: u64, c: u8) -> u64 {
    let low7 = x & LO7;
    (ONES * (128 + c as u64)).wrapping_sub(low7) & !x & (low7 + ONES * (128 - c as u64)) & HI
}

/// 0x80 in every byte of `x` that must be escaped on transmit: 0x7d, 0x7e
/// and, if `CTL`, every control character (a superset of those in the ACCM).
#[inline(always)]
fn tx_special<const CTL: bool>(x: u64) -> u64 {
    let low7 = x & LO7;
    // 0x7c < b < 0x7f
    let mut m = (ONES * 0xfe).wrapping_sub(low7) & (low7 + ONES * 3);
    if CTL {
        // b < 0x20
        m |= (ONES * (127 + 0x20)).wrapping_sub(low7);
    }
    m & !x & HI
}

/// 0x80 in every byte of `x` that the receive fast path cannot handle: the
/// flag and, if `CTL`, every control character (a superset of the ACCM).
#[inline(always)]
fn rx_stop<const CTL: bool>(x: u64) -> u64 {
    let low7 = x & LO7;
    let mut m = (ONES * (128 + 0x7e)).wrapping_sub(low7) & (low7 + ONES * 2);
    if CTL {
        m |= (ONES * (127 + 0x20)).wrapping_sub(low7);
    }
    m & !x & HI
}

/// Whether any byte of the block is 0x7d, 0x7e or, if `CTL`, a control
/// character. Written bytewise so that the compiler vectorizes it.
#[inline(always)]
fn any_special<const CTL: bool>(w: &[u8; 16]) -> bool {
    let mut any = 0u8;
    for &b in w {
        any |= ((b.wrapping_sub(ESCAPE) < 2) | (CTL & (b < 0x20))) as u8;
    }
    any != 0
}

/// Whether any byte of the block is a flag or, if `CTL`, a control
/// character. Written bytewise so that the compiler vectorizes it.
#[inline(always)]
fn any_stop<const CTL: bool>(w: &[u8; 16]) -> bool {
    let mut any = 0u8;
    for &b in w {
        any |= ((b == FLAG) | (CTL & (b < 0x20))) as u8;
    }
    any != 0
}

/// Whether a raw received byte can be part of modem text: printable ASCII
/// plus tab, line feed and carriage return.
#[inline(always)]
fn is_text(b: u8) -> bool {
    matches!(b, 0x20..=0x7e | b'\t' | b'\n' | b'\r')
}

/// Position of the first flag in `s`.
#[inline]
fn find_flag(s: &[u8]) -> Option<usize> {
    let mut off = 0;
    let mut rest = s;
    while let Some((w, tail)) = rest.split_first_chunk::<8>() {
        let m = eq_bytes(u64::from_le_bytes(*w), FLAG);
        if m != 0 {
            return Some(off + (m.trailing_zeros() / 8) as usize);
        }
        off += 8;
        rest = tail;
    }
    rest.iter().position(|&b| b == FLAG).map(|p| off + p)
}

/// The two little-endian words of a 16-byte block.
#[inline(always)]
fn words(w: &[u8; 16]) -> (u64, u64) {
    let word = |c: Option<&[u8; 8]>| c.map_or(0, |c| u64::from_le_bytes(*c));
    (word(w.first_chunk()), word(w.last_chunk()))
}

/// Stores the eight bytes of `x` at `d[at..]`. `at` is below 32 by
/// construction (and `d` at least 40 bytes long); the mask only lets the
/// compiler drop the bounds check.
#[inline(always)]
fn store8<const N: usize>(d: &mut [u8; N], at: usize, x: u64) {
    let at = at & 31;
    if let Some(c) = d.get_mut(at..at + 8) {
        c.copy_from_slice(&x.to_le_bytes());
    }
}

/// Stores `b` at `d[at]`, `at` below 32 by construction.
#[inline(always)]
fn put<const N: usize>(d: &mut [u8; N], at: usize, b: u8) {
    if let Some(c) = d.get_mut(at & 31) {
        *c = b;
    }
}

// ---------------------------------------------------------------------------
// Encoder

/// Per-byte "must be escaped" table for a transmit ACCM (0x7d/0x7e always).
const fn escape_table(accm: Accm) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let ctl = i < 0x20 && (accm.0 >> i) & 1 == 1;
        t[i] = (ctl || i == ESCAPE as usize || i == FLAG as usize) as u8;
        i += 1;
    }
    t
}

static ESCAPE_ALL: [u8; 256] = escape_table(Accm::ALL);

/// RFC 1662 frame encoder.
#[derive(Clone, Debug)]
pub struct Encoder {
    opts: TxOptions,
    escape: [u8; 256],
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new(TxOptions::DEFAULT)
    }
}

impl Encoder {
    /// An encoder with the given transmit options.
    pub fn new(opts: TxOptions) -> Self {
        Encoder {
            opts,
            escape: escape_table(opts.accm),
        }
    }

    /// Change the transmit options (when LCP opens or goes down).
    pub fn set_options(&mut self, opts: TxOptions) {
        self.opts = opts;
        self.escape = escape_table(opts.accm);
    }

    /// The transmit options in force.
    pub fn options(&self) -> TxOptions {
        self.opts
    }

    /// Appends one whole frame to `out`: an opening flag unless `out` already
    /// ends with [`FLAG`], address/control `FF 03` (omitted when ACFC),
    /// protocol (one byte when PFC and the protocol is below 0x100, except
    /// 0x00ff which would read as an address), payload, FCS-16 and the
    /// closing flag; bytes are escaped per the ACCM, plus 0x7d/0x7e always.
    ///
    /// LCP (0xc021) packets always carry `FF 03` and a two-byte protocol
    /// (RFC 1661 §6.5/§6.6: neither field is ever compressed in LCP); those
    /// whose code (`payload[0]`) is 1..=7 are also sent with [`Accm::ALL`],
    /// as Linux `ppp_async` does, so that negotiation survives a bad ACCM.
    ///
    /// Never allocates when `out` has enough spare capacity (worst case
    /// `2 * (4 + payload.len() + 2) + 2`).
    pub fn encode(&self, protocol: u16, payload: &[u8], out: &mut Vec<u8>) {
        let lcp = protocol == PROTO_LCP;
        let forced = lcp && matches!(payload.first(), Some(1..=7));
        let (accm, acfc, pfc, table) = if forced {
            (Accm::ALL, false, false, &ESCAPE_ALL)
        } else {
            (
                self.opts.accm,
                self.opts.acfc && !lcp,
                self.opts.pfc,
                &self.escape,
            )
        };

        let mut hdr = [0xff, 0x03, 0, 0];
        let mut h = 2;
        if acfc {
            h = 0;
        }
        if pfc && protocol < 0x100 && protocol != 0xff {
            hdr[h] = protocol as u8;
            h += 1;
        } else {
            let [hi, lo] = protocol.to_be_bytes();
            hdr[h] = hi;
            hdr[h + 1] = lo;
            h += 2;
        }
        let hdr = &hdr[..h];

        let need_flag = out.last() != Some(&FLAG);
        let start = out.len();
        // Sized for the worst case (every byte escaped) up front, so that the
        // loops below store fixed-size words without growing the vector.
        let worst = 2 * (4 + payload.len() + 2) + 2;
        out.resize(start + worst, 0);
        let dst = &mut out[start..];

        let mut j = 0;
        if need_flag {
            dst[0] = FLAG;
            j = 1;
        }
        j = escape_bytes(hdr, table, dst, j);
        let crc = crc_update(crc_update(0xffff, hdr), payload);
        let k = match accm {
            Accm::NONE => escape_payload::<false, true>(payload, table, dst, j),
            Accm::ALL => escape_payload::<true, true>(payload, table, dst, j),
            _ => escape_payload::<true, false>(payload, table, dst, j),
        };
        let fcs = (crc ^ 0xffff).to_le_bytes();
        j = escape_bytes(&fcs, table, dst, k);
        dst[j] = FLAG;
        j += 1;
        out.truncate(start + j);
    }
}

/// Escapes `src` into `dst[j..]` one byte at a time; returns the new `j`.
#[inline]
fn escape_bytes(src: &[u8], table: &[u8; 256], dst: &mut [u8], mut j: usize) -> usize {
    for &b in src {
        if table[b as usize] != 0 {
            dst[j] = ESCAPE;
            dst[j + 1] = b ^ 0x20;
            j += 2;
        } else {
            dst[j] = b;
            j += 1;
        }
    }
    j
}

/// Output room the transmit block routines may write to.
const TX_ROOM: usize = 48;

/// Escapes `src` into `dst[j..]`; returns the new `j`. `CTL`: whether the
/// ACCM has any bit set (otherwise only 0x7d/0x7e need escaping); `EXACT`:
/// whether it is all or nothing (otherwise control characters are looked up
/// in `table`). `dst` must have room for `2 * src.len()` bytes after `j`.
#[inline]
fn escape_payload<const CTL: bool, const EXACT: bool>(
    src: &[u8],
    table: &[u8; 256],
    dst: &mut [u8],
    mut j: usize,
) -> usize {
    let mut s = src;
    while let Some((blk, rest)) = s.split_first_chunk::<16>() {
        let Some(d) = dst
            .get_mut(j..)
            .and_then(|d| d.first_chunk_mut::<TX_ROOM>())
        else {
            break;
        };
        if !any_special::<CTL>(blk) {
            if let Some(d16) = d.first_chunk_mut::<16>() {
                *d16 = *blk;
            }
            j += 16;
        } else {
            let (lo, hi) = words(blk);
            j += escape_block::<CTL, EXACT>(lo, hi, table, d);
        }
        s = rest;
    }
    // The tail (and blocks too close to the end of `dst`) go through a
    // padded block on the stack; the padding is plain data, one output byte
    // per byte, at the end.
    for chunk in s.chunks(16) {
        let mut blk = [b'A'; 16];
        blk[..chunk.len()].copy_from_slice(chunk);
        let (lo, hi) = words(&blk);
        let mut d = [0u8; TX_ROOM];
        let k = escape_block::<CTL, EXACT>(lo, hi, table, &mut d) - (16 - chunk.len());
        if let (Some(o), Some(i)) = (dst.get_mut(j..j + k), d.get(..k)) {
            o.copy_from_slice(i);
        }
        j += k;
    }
    j
}

/// Escapes a 16-byte block, given as two words, into `d`; returns the
/// output length (at most 32). `EXACT`: the ACCM is all or nothing, so that
/// [`tx_special`] flags exactly the bytes to escape.
#[inline(always)]
fn escape_block<const CTL: bool, const EXACT: bool>(
    lo: u64,
    hi: u64,
    table: &[u8; 256],
    d: &mut [u8; TX_ROOM],
) -> usize {
    let (ml, mh) = (tx_special::<CTL>(lo), tx_special::<CTL>(hi));
    if ml | mh == 0 {
        store8(d, 0, lo);
        store8(d, 8, hi);
        return 16;
    }
    let k = escape_word::<EXACT>(lo, ml, table, d, 0);
    escape_word::<EXACT>(hi, mh, table, d, k)
}

/// Escapes the word `x`, whose candidate bytes are flagged in `m`, into
/// `d[k..]` (`k <= 16`); returns the new `k`. Bytes written past it are
/// garbage, to be overwritten.
#[inline(always)]
fn escape_word<const EXACT: bool>(
    x: u64,
    m: u64,
    table: &[u8; 256],
    d: &mut [u8; TX_ROOM],
    k: usize,
) -> usize {
    let mut m = if EXACT { m } else { accm_filter(x, m, table) };
    // XOR every byte to escape, then insert the escapes: each store puts
    // the rest of the word after the previous run, to be cut by the next.
    let y = x ^ (m >> 2);
    let (mut k, mut s) = (k, 0);
    while m != 0 {
        let p = m.trailing_zeros() / 8;
        m &= m - 1;
        store8(d, k, y >> (8 * s));
        k += (p - s) as usize;
        put(d, k, ESCAPE);
        k += 1;
        s = p;
    }
    store8(d, k, y >> (8 * s));
    k + (8 - s) as usize
}

/// Clears from `m` the candidate bytes of `x` that the ACCM (`table`) lets
/// through unescaped.
#[inline(never)]
fn accm_filter(x: u64, m: u64, table: &[u8; 256]) -> u64 {
    let mut out = m;
    let mut f = m;
    while f != 0 {
        let p = f.trailing_zeros() / 8;
        f &= f - 1;
        if table[(x >> (8 * p)) as u8 as usize] == 0 {
            out &= !(0x80 << (8 * p));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Decoder

/// A decoded frame; the header is already parsed.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The protocol field, decompressed.
    pub protocol: u16,
    /// The information field (and padding), without header and FCS.
    pub payload: &'a [u8],
}

/// Why a run of bytes between flags did not yield a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// FCS check failed.
    BadFcs,
    /// Payload (after the protocol field) longer than the decoder's MRU; bytes
    /// are discarded until the next flag.
    TooLong,
    /// Fewer than 4 bytes between flags (empty runs between back-to-back flags
    /// are silently ignored).
    TooShort,
    /// Abort sequence 0x7d 0x7e.
    Aborted,
    /// FCS good but address/control/protocol invalid (address present but not
    /// `FF 03`, protocol with an even low byte, or missing).
    BadHeader,
    /// Text that isn't a frame: everything before the very first flag, and a
    /// run between flags that is not a valid frame but consists only of
    /// printable ASCII 0x20..=0x7e plus `\r` `\n` `\t` (modem banners, login
    /// prompts, echoes).
    Noise {
        /// Raw bytes in the run, flags excluded.
        bytes: usize,
    },
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::BadFcs => f.write_str("bad FCS"),
            FrameError::TooLong => f.write_str("frame longer than the MRU"),
            FrameError::TooShort => f.write_str("frame too short"),
            FrameError::Aborted => f.write_str("frame aborted"),
            FrameError::BadHeader => f.write_str("bad address, control or protocol field"),
            FrameError::Noise { bytes } => write!(f, "{bytes} bytes of line noise"),
        }
    }
}

impl std::error::Error for FrameError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Looking for the first flag; bytes seen are noise.
    Hunt,
    /// Inside a frame (or between frames).
    Frame,
    /// The frame outgrew the MRU: skipping to the next flag.
    Discard,
}

/// How a run of input ended.
enum Step {
    /// Input exhausted mid-frame.
    More,
    /// Closing flag consumed.
    Flag,
    /// The frame outgrew the buffer.
    Overflow,
}

/// Buffer bytes beyond the largest acceptable frame, so that whole blocks can
/// be stored without checking the remaining room byte by byte.
const SLACK: usize = 48;

/// Output room the receive block routines may write to.
const RX_ROOM: usize = 40;

/// Largest unescaped frame (address/control, protocol, payload, FCS) for an MRU.
#[inline]
fn frame_limit(mru: u16) -> usize {
    mru as usize + 4 + 2
}

/// RFC 1662 frame decoder for a byte stream.
///
/// Each run of bytes between two flags yields at most one result, reported
/// when its closing flag arrives (so that results do not depend on how the
/// input is split):
///
/// * nothing, for an empty run (back-to-back flags), including a run of
///   nothing but control characters the receive ACCM drops (XON/XOFF);
/// * [`FrameError::Aborted`] if it ends with the abort sequence;
/// * [`FrameError::Noise`] if every raw byte in it is text and it has no
///   good FCS (too short, bad FCS, or too long to be buffered);
/// * else [`FrameError::TooShort`] (under 4 bytes once unescaped),
///   [`FrameError::BadFcs`], [`FrameError::BadHeader`] or
///   [`FrameError::TooLong`] (the run is not buffered past the MRU: the rest
///   is skipped up to the next flag), or the frame.
///
/// Bytes before the first flag (and after [`Decoder::reset`]) are reported
/// as one [`FrameError::Noise`] when that flag arrives.
#[derive(Clone, Debug)]
pub struct Decoder {
    /// Unescaped bytes of the current frame in `buf[..len]`; never shrinks.
    buf: Vec<u8>,
    len: usize,
    mru: u16,
    accm: Accm,
    state: State,
    /// An escape octet was the last byte seen.
    esc: bool,
    /// Every raw byte of the current run was text.
    text: bool,
    /// Raw bytes in the current run (or noise before the first flag).
    raw: usize,
}

impl Decoder {
    /// A decoder accepting payloads of up to `mru` bytes; the receive ACCM
    /// starts at [`Accm::ALL`].
    pub fn new(mru: u16) -> Self {
        Decoder {
            buf: vec![0; frame_limit(mru) + SLACK],
            len: 0,
            mru,
            accm: Accm::ALL,
            state: State::Hunt,
            esc: false,
            text: true,
            raw: 0,
        }
    }

    /// Change the MRU; grows the buffer if needed.
    pub fn set_mru(&mut self, mru: u16) {
        self.mru = mru;
        let want = frame_limit(mru) + SLACK;
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
    }

    /// Change the receive ACCM: control characters in the map received
    /// unescaped are dropped (RFC 1662 §7.1).
    pub fn set_accm(&mut self, accm: Accm) {
        self.accm = accm;
    }

    /// Forget any partial frame and go back to hunting for a flag.
    pub fn reset(&mut self) {
        self.state = State::Hunt;
        self.start_run();
    }

    fn start_run(&mut self) {
        self.len = 0;
        self.esc = false;
        self.text = true;
        self.raw = 0;
    }

    /// Consumes bytes from the front of `*input` up to and including the end
    /// of one frame or error, and returns it; returns `None` once `*input` is
    /// exhausted (a partial frame stays buffered inside for the next call).
    /// Input may be split at any byte. Address/control `FF 03` is optional
    /// (ACFC) and a 1-byte protocol (PFC) is accepted at any time.
    pub fn decode<'a>(&'a mut self, input: &mut &[u8]) -> Option<Result<Frame<'a>, FrameError>> {
        loop {
            match self.state {
                State::Hunt => match find_flag(input) {
                    Some(p) => {
                        let noise = self.raw + p;
                        *input = input.get(p + 1..).unwrap_or_default();
                        self.state = State::Frame;
                        self.start_run();
                        if noise > 0 {
                            return Some(Err(FrameError::Noise { bytes: noise }));
                        }
                    }
                    None => {
                        self.raw += input.len();
                        *input = &[];
                        return None;
                    }
                },
                State::Discard => {
                    let (seen, flag) = match find_flag(input) {
                        Some(p) => (input.get(..p).unwrap_or_default(), true),
                        None => (*input, false),
                    };
                    self.raw += seen.len();
                    if self.text {
                        self.text = seen.iter().all(|&b| is_text(b));
                    }
                    if !flag {
                        *input = &[];
                        return None;
                    }
                    *input = input.get(seen.len() + 1..).unwrap_or_default();
                    let err = if self.text {
                        FrameError::Noise { bytes: self.raw }
                    } else {
                        FrameError::TooLong
                    };
                    self.state = State::Frame;
                    self.start_run();
                    return Some(Err(err));
                }
                State::Frame => {
                    let step = match self.accm {
                        Accm::NONE => self.run::<false, true>(input),
                        Accm::ALL => self.run::<true, true>(input),
                        _ => self.run::<true, false>(input),
                    };
                    match step {
                        Step::More => return None,
                        Step::Overflow => self.state = State::Discard,
                        Step::Flag => match self.finish() {
                            None => {}
                            Some(Err(e)) => return Some(Err(e)),
                            Some(Ok((protocol, a, b))) => {
                                let payload = self.buf.get(a..b).unwrap_or_default();
                                return Some(Ok(Frame { protocol, payload }));
                            }
                        },
                    }
                }
            }
        }
    }

    /// Unescapes bytes of the current frame from `*input` into the buffer
    /// until a flag, the end of input or an overflow. `CTL`: whether the
    /// receive ACCM has any bit set.
    fn run<const CTL: bool, const EXACT: bool>(&mut self, input: &mut &[u8]) -> Step {
        let accm = self.accm;
        let limit = frame_limit(self.mru);
        let buf = &mut self.buf[..];
        let mut j = self.len;
        let mut esc = self.esc;
        let mut text = self.text;
        let mut s: &[u8] = input;

        let step = 'outer: loop {
            // Fast path (runs that are text so far take the slow path, which
            // keeps track of that).
            if !text {
                let (n, k) = if EXACT {
                    unescape_blocks::<CTL, false>(s, buf, j, limit, accm, &mut esc)
                } else {
                    unescape_blocks::<true, true>(s, buf, j, limit, accm, &mut esc)
                };
                s = s.get(n..).unwrap_or_default();
                j = k;
                if j > limit {
                    break 'outer Step::Overflow;
                }
            }

            // Slow path: up to one block, byte by byte.
            let n = s.len().min(16);
            if n == 0 {
                break Step::More;
            }
            let (blk, rest) = s.split_at(n);
            for (k, &b) in blk.iter().enumerate() {
                if b == FLAG {
                    s = s.get(k + 1..).unwrap_or_default();
                    break 'outer Step::Flag;
                }
                text &= is_text(b);
                if accm.contains(b) {
                    continue;
                }
                if b == ESCAPE && !esc {
                    esc = true;
                    continue;
                }
                if let Some(slot) = buf.get_mut(j) {
                    *slot = if esc { b ^ 0x20 } else { b };
                }
                esc = false;
                j += 1;
                if j > limit {
                    s = s.get(k + 1..).unwrap_or_default();
                    break 'outer Step::Overflow;
                }
            }
            s = rest;
        };

        let consumed = input.len() - s.len();
        self.raw += match step {
            Step::Flag => consumed - 1,
            _ => consumed,
        };
        *input = s;
        self.len = j;
        self.esc = esc;
        self.text = text;
        step
    }

    /// Judges the run just closed by a flag and starts the next one. `None`:
    /// nothing to report (empty run). `Ok((protocol, start, end))`: a frame
    /// whose payload is `buf[start..end]`.
    fn finish(&mut self) -> Option<Result<(u16, usize, usize), FrameError>> {
        let (len, esc, text, raw) = (self.len, self.esc, self.text, self.raw);
        self.start_run();
        if esc {
            return Some(Err(FrameError::Aborted));
        }
        if len == 0 {
            return None;
        }
        let noise_or = |e| {
            Err(if text {
                FrameError::Noise { bytes: raw }
            } else {
                e
            })
        };
        let data = self.buf.get(..len).unwrap_or_default();
        if len < 4 {
            return Some(noise_or(FrameError::TooShort));
        }
        if fcs16(data) != GOOD_RESIDUE {
            return Some(noise_or(FrameError::BadFcs));
        }
        let body = data.get(..len - 2).unwrap_or_default();
        let mut a = 0;
        if body.first() == Some(&0xff) {
            if body.get(1) != Some(&0x03) {
                return Some(Err(FrameError::BadHeader));
            }
            a = 2;
        }
        let protocol = match body.get(a..) {
            Some([p, ..]) if p & 1 == 1 => {
                a += 1;
                *p as u16
            }
            Some([hi, lo, ..]) if lo & 1 == 1 => {
                a += 2;
                u16::from_be_bytes([*hi, *lo])
            }
            _ => return Some(Err(FrameError::BadHeader)),
        };
        if body.len() - a > self.mru as usize {
            return Some(Err(FrameError::TooLong));
        }
        Some(Ok((protocol, a, body.len())))
    }
}

/// Unescapes whole 16-byte blocks of `src` into `buf[j..]` until a block
/// with a flag or a control character to drop, the end of `src`, or `j`
/// passing `limit`; returns the bytes consumed and the new `j`. `esc`: an
/// escape is pending (in and out).
///
/// `CTL`: the receive ACCM is all ones (every control character stops the
/// fast path) or, with `PARTIAL`, neither all nor nothing: then only a flag
/// or a control character in `accm` stops it, found word by word.
#[inline(never)]
fn unescape_blocks<const CTL: bool, const PARTIAL: bool>(
    src: &[u8],
    buf: &mut [u8],
    mut j: usize,
    limit: usize,
    accm: Accm,
    esc: &mut bool,
) -> (usize, usize) {
    let mut s = src;
    let mut pending = *esc;
    while let Some((blk, rest)) = s.split_first_chunk::<16>() {
        if j > limit {
            break;
        }
        let Some(d) = buf
            .get_mut(j..)
            .and_then(|d| d.first_chunk_mut::<RX_ROOM>())
        else {
            break;
        };
        let plain = if PARTIAL {
            !any_special::<true>(blk)
        } else {
            !CTL && !any_special::<false>(blk)
        };
        if plain && !pending {
            if let Some(d16) = d.first_chunk_mut::<16>() {
                *d16 = *blk;
            }
            j += 16;
        } else {
            if PARTIAL {
                let (lo, hi) = words(blk);
                if any_stop::<true>(blk) && (stops(lo, accm) || stops(hi, accm)) {
                    break;
                }
            } else if any_stop::<CTL>(blk) {
                break;
            }
            let (lo, hi) = words(blk);
            let (k, p) = unescape_word(lo, eq_bytes(lo, ESCAPE), pending, d, 0);
            let (k, p) = unescape_word(hi, eq_bytes(hi, ESCAPE), p, d, k);
            j += k;
            pending = p;
        }
        s = rest;
    }
    *esc = pending;
    (src.len() - s.len(), j)
}

/// Whether the word has a flag or a control character in `accm`.
#[inline(never)]
fn stops(x: u64, accm: Accm) -> bool {
    let mut m = rx_stop::<true>(x);
    while m != 0 {
        let p = m.trailing_zeros() / 8;
        m &= m - 1;
        let b = (x >> (8 * p)) as u8;
        if b == FLAG || accm.contains(b) {
            return true;
        }
    }
    false
}

/// Unescapes the word `x` (no flags in it), whose escape octets are flagged
/// in `m`, into `d[k..]` (`k <= 8`); returns the new `k`, and whether the
/// word ends with an escape. Bytes written past `k` are garbage, to be
/// overwritten. `pending`: the word's first byte is escaped.
#[inline(always)]
fn unescape_word(x: u64, m: u64, pending: bool, d: &mut [u8; RX_ROOM], k: usize) -> (usize, bool) {
    let pending64 = pending as u64;
    // An escaped first byte is data, even if it is 0x7d.
    let mut e = m & !(pending64 << 7);
    if e & (e << 8) != 0 {
        // An escaped escape (0x7d 0x7d): rare, done the long way.
        return unescape_word_loop(x, m, pending, d, k);
    }
    // XOR the byte after each escape (and the first, if pending), then drop
    // the escapes: each store puts the rest of the word after the previous
    // run, to be cut short by the next.
    let y = x ^ (e << 6) ^ (pending64 << 5);
    let ends_escaped = e >> 63 != 0;
    let (mut k, mut s) = (k, 0);
    while e != 0 {
        let p = e.trailing_zeros() / 8;
        e &= e - 1;
        store8(d, k, y >> (8 * s));
        k += (p - s) as usize;
        s = p + 1;
    }
    store8(d, k, y.wrapping_shr(8 * s));
    (k + (8 - s) as usize, ends_escaped)
}

/// [`unescape_word`] for escaped escapes.
#[inline(never)]
fn unescape_word_loop(
    x: u64,
    mut m: u64,
    pending: bool,
    d: &mut [u8; RX_ROOM],
    mut k: usize,
) -> (usize, bool) {
    let mut s = 0; // bytes of x consumed
    if pending {
        // The first byte is escaped: data, even if it is 0x7d.
        put(d, k, (x as u8) ^ 0x20);
        k += 1;
        s = 1;
        m &= !0x80;
    }
    while m != 0 {
        let p = m.trailing_zeros() / 8;
        m &= m - 1;
        // The run before the escape (and some garbage past it).
        store8(d, k, x >> (8 * s));
        k += (p - s) as usize;
        if p == 7 {
            return (k, true);
        }
        put(d, k, ((x >> (8 * (p + 1))) as u8) ^ 0x20);
        k += 1;
        s = p + 2;
        // The escaped byte is data, even if it is 0x7d.
        m &= !(0x80u64 << (8 * (p + 1)));
    }
    if s < 8 {
        store8(d, k, x >> (8 * s));
        k += (8 - s) as usize;
    }
    (k, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Out = Result<(u16, Vec<u8>), FrameError>;

    fn collect(dec: &mut Decoder, mut input: &[u8], out: &mut Vec<Out>) {
        while let Some(r) = dec.decode(&mut input) {
            out.push(r.map(|f| (f.protocol, f.payload.to_vec())));
        }
        assert!(input.is_empty());
    }

    fn decode_chunks(dec: &mut Decoder, chunks: &[&[u8]]) -> Vec<Out> {
        let mut out = Vec::new();
        for c in chunks {
            collect(dec, c, &mut out);
        }
        out
    }

    fn decode_all(mru: u16, accm: Accm, input: &[u8]) -> Vec<Out> {
        let mut dec = Decoder::new(mru);
        dec.set_accm(accm);
        decode_chunks(&mut dec, &[input])
    }

    fn encode(opts: TxOptions, protocol: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Encoder::new(opts).encode(protocol, payload, &mut out);
        out
    }

    const fn opts(accm: u32, acfc: bool, pfc: bool) -> TxOptions {
        TxOptions {
            accm: Accm(accm),
            acfc,
            pfc,
        }
    }

    /// Bit-at-a-time FCS-16 straight from RFC 1662 §C.2's polynomial.
    fn fcs16_bitwise(data: &[u8]) -> u16 {
        let mut f: u16 = 0xffff;
        for &b in data {
            f ^= b as u16;
            for _ in 0..8 {
                f = if f & 1 == 1 {
                    (f >> 1) ^ 0x8408
                } else {
                    f >> 1
                };
            }
        }
        f ^ 0xffff
    }

    #[test]
    fn fcs16_check_value() {
        assert_eq!(fcs16(b"123456789"), 0x906e);
        assert_eq!(fcs16_bitwise(b"123456789"), 0x906e);
        assert_eq!(fcs16(&[]), 0);
        // Appending the FCS low byte first gives the good-FCS residue.
        let mut d = b"123456789".to_vec();
        d.extend_from_slice(&0x906eu16.to_le_bytes());
        assert_eq!(fcs16(&d), GOOD_RESIDUE);
    }

    #[test]
    fn swar_masks_are_exact() {
        // Every byte value in every lane, next to neighbours that could
        // disturb a sloppy test (borrows and carries across bytes).
        for v in 0..=255u8 {
            for lane in 0..8 {
                for fill in [0x00u8, 0x7d, 0x7e, 0x7f, 0x80, 0xff, 0x1f, 0x20] {
                    let mut w = [fill; 8];
                    w[lane] = v;
                    let x = u64::from_le_bytes(w);
                    let expect = |f: &dyn Fn(u8) -> bool| {
                        w.iter().enumerate().fold(0u64, |m, (i, &b)| {
                            m | if f(b) { 0x80 << (8 * i) } else { 0 }
                        })
                    };
                    assert_eq!(eq_bytes(x, ESCAPE), expect(&|b| b == ESCAPE));
                    assert_eq!(eq_bytes(x, FLAG), expect(&|b| b == FLAG));
                    assert_eq!(eq_bytes(x, 0), expect(&|b| b == 0));
                    assert_eq!(
                        tx_special::<false>(x),
                        expect(&|b| b == ESCAPE || b == FLAG)
                    );
                    assert_eq!(
                        tx_special::<true>(x),
                        expect(&|b| b == ESCAPE || b == FLAG || b < 0x20)
                    );
                    assert_eq!(rx_stop::<false>(x), expect(&|b| b == FLAG));
                    assert_eq!(rx_stop::<true>(x), expect(&|b| b == FLAG || b < 0x20));
                }
            }
            let mut blk = [0x41u8; 16];
            blk[(v % 16) as usize] = v;
            assert_eq!(any_special::<false>(&blk), v == ESCAPE || v == FLAG);
            assert_eq!(
                any_special::<true>(&blk),
                v == ESCAPE || v == FLAG || v < 0x20
            );
        }
    }

    #[test]
    fn accm_contains() {
        assert!(Accm::ALL.contains(0x00) && Accm::ALL.contains(0x1f));
        assert!(!Accm::ALL.contains(0x20) && !Accm::ALL.contains(0x7d));
        assert!(!Accm::NONE.contains(0x11));
        let xon_xoff = Accm(0x000a_0000);
        assert!(xon_xoff.contains(0x11) && xon_xoff.contains(0x13));
        assert!(!xon_xoff.contains(0x12) && !xon_xoff.contains(0x10));
        assert_eq!(TxOptions::default(), opts(0xffff_ffff, false, false));
    }

    #[test]
    fn encode_lcp_configure_request_fixture() {
        // FF 03 C0 21 01 01 00 04: FCS 0xb5d1, every control byte escaped.
        let frame = encode(TxOptions::DEFAULT, 0xc021, &[0x01, 0x01, 0x00, 0x04]);
        assert_eq!(
            frame,
            [
                0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21, 0x7d, 0x21, 0x7d, 0x21, 0x7d, 0x20, 0x7d, 0x24,
                0xd1, 0xb5, 0x7e
            ]
        );
        assert_eq!(
            fcs16(&[0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x04]),
            0xb5d1
        );

        // With options MRU 1500, ACCM 0, magic 0x12345678 (note 0xdc unescaped).
        let req = [
            1, 1, 0, 0x14, 1, 4, 0x05, 0xdc, 2, 6, 0, 0, 0, 0, 5, 6, 0x12, 0x34, 0x56, 0x78,
        ];
        assert_eq!(
            encode(TxOptions::DEFAULT, 0xc021, &req),
            [
                0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21, 0x7d, 0x21, 0x7d, 0x21, 0x7d, 0x20, 0x7d, 0x34,
                0x7d, 0x21, 0x7d, 0x24, 0x7d, 0x25, 0xdc, 0x7d, 0x22, 0x7d, 0x26, 0x7d, 0x20, 0x7d,
                0x20, 0x7d, 0x20, 0x7d, 0x20, 0x7d, 0x25, 0x7d, 0x26, 0x7d, 0x32, 0x34, 0x56, 0x78,
                0x3a, 0xda, 0x7e
            ]
        );
    }

    #[test]
    fn encode_header_forms() {
        let ip = [0x45, 0x00, 0x7e, 0x11];
        assert_eq!(
            encode(opts(0, true, true), 0x0021, &ip),
            [0x7e, 0x21, 0x45, 0x00, 0x7d, 0x5e, 0x11, 0x9e, 0xb7, 0x7e]
        );
        assert_eq!(
            encode(opts(0, true, false), 0x0021, &ip),
            [0x7e, 0x00, 0x21, 0x45, 0x00, 0x7d, 0x5e, 0x11, 0x66, 0x8f, 0x7e]
        );
        assert_eq!(
            encode(opts(0, false, true), 0x0021, &ip),
            [0x7e, 0xff, 0x03, 0x21, 0x45, 0x00, 0x7d, 0x5e, 0x11, 0x41, 0x76, 0x7e]
        );
        // XON/XOFF map: 0x11 escaped, 0x00 not.
        assert_eq!(
            encode(opts(0x000a_0000, false, false), 0x0021, &ip),
            [0x7e, 0xff, 0x03, 0x00, 0x21, 0x45, 0x00, 0x7d, 0x5e, 0x7d, 0x31, 0xdd, 0xa1, 0x7e]
        );
        // PFC never compresses protocols >= 0x100 (nor 0x00ff).
        let f = encode(opts(0, true, true), 0x8021, &[9]);
        assert_eq!(&f[..3], &[0x7e, 0x80, 0x21]);
        let f = encode(opts(0, true, true), 0x00ff, &[9]);
        assert_eq!(&f[..3], &[0x7e, 0x00, 0xff]);
    }

    #[test]
    fn encode_lcp_codes_1_to_7_ignore_options() {
        let compressed = opts(0, true, true);
        let creq = [1, 1, 0, 8, 0, 0, 0, 0];
        let expect_forced = [
            0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21, 0x7d, 0x21, 0x7d, 0x21, 0x7d, 0x20, 0x7d, 0x28,
            0x7d, 0x20, 0x7d, 0x20, 0x7d, 0x20, 0x7d, 0x20, 0xd2, 0xdc, 0x7e,
        ];
        assert_eq!(encode(compressed, 0xc021, &creq), expect_forced);
        for code in 1..=7u8 {
            let mut p = creq;
            p[0] = code;
            let f = encode(compressed, 0xc021, &p);
            assert_eq!(
                &f[..6],
                &[0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21],
                "code {code}"
            );
            assert_eq!(encode(TxOptions::DEFAULT, 0xc021, &p), f, "code {code}");
        }
        // Echo-Request (9) follows the ACCM (zeros unescaped) but keeps
        // FF 03: no LCP packet is ever sent address/control-compressed.
        let echo = [9, 1, 0, 8, 0, 0, 0, 0];
        assert_eq!(
            encode(compressed, 0xc021, &echo),
            [
                0x7e, 0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x6e,
                0xf1, 0x7e
            ]
        );
        assert_eq!(
            encode(compressed, 0xc021, &[8, 1, 0, 4])[1..4],
            [0xff, 0x03, 0xc0]
        );
        // Other protocols follow the options.
        assert_eq!(encode(compressed, 0x8021, &[1, 1, 0, 4])[1], 0x80);
    }

    fn fcs_len(protocol: u16, payload: &[u8]) -> usize {
        let mut body = vec![0xff, 0x03];
        body.extend_from_slice(&protocol.to_be_bytes());
        body.extend_from_slice(payload);
        let esc = escape_table(Accm::ALL);
        fcs16(&body)
            .to_le_bytes()
            .iter()
            .map(|&b| 1 + esc[b as usize] as usize)
            .sum()
    }

    #[test]
    fn encode_shares_flags_and_does_not_allocate() {
        let enc = Encoder::new(TxOptions::DEFAULT);
        let payload = [0x7e; 100];
        let worst = 2 * (4 + payload.len() + 2) + 2;
        let mut out = Vec::with_capacity(2 * worst);
        let cap = out.capacity();
        enc.encode(0x0021, &payload, &mut out);
        let first = out.len();
        // All-escape payload and header (FF 03 00 21: two escapes).
        assert_eq!(first, 1 + 6 + 200 + fcs_len(0x21, &payload) + 1);
        assert!(first <= worst);
        enc.encode(0x0021, &payload, &mut out);
        assert_eq!(
            out.len(),
            2 * first - 1,
            "second frame reuses the closing flag"
        );
        assert_eq!(out.capacity(), cap);
        assert_eq!(
            decode_all(1500, Accm::ALL, &out),
            vec![Ok((0x21, payload.to_vec())), Ok((0x21, payload.to_vec()))]
        );
        // Exactly the documented worst case of spare capacity is enough.
        let mut out = Vec::with_capacity(worst);
        let cap = out.capacity();
        enc.encode(0x0021, &payload, &mut out);
        assert_eq!(out.capacity(), cap);
    }

    fn sample_stream() -> (Vec<u8>, Vec<Out>) {
        let mut stream = Vec::new();
        let mut expect = Vec::new();
        let frames: [(TxOptions, u16, Vec<u8>); 5] = [
            (TxOptions::DEFAULT, 0xc021, vec![1, 1, 0, 4]),
            (opts(0, true, true), 0x0021, (0..=255u8).collect()),
            (
                opts(0, false, false),
                0x0057,
                vec![0x7d, 0x7e, 0x7d, 0x7d, 0x11, 0],
            ),
            (
                opts(0xffff_ffff, true, false),
                0x8021,
                b"\x01\x02}}~~".to_vec(),
            ),
            (opts(0, true, true), 0x0021, vec![0x20; 37]),
        ];
        for (o, proto, payload) in frames {
            Encoder::new(o).encode(proto, &payload, &mut stream);
            expect.push(Ok((proto, payload)));
        }
        (stream, expect)
    }

    #[test]
    fn decode_every_split() {
        let (stream, expect) = sample_stream();
        let accm = Accm::NONE;
        assert_eq!(decode_all(1500, accm, &stream), expect);
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            let mut dec = Decoder::new(1500);
            dec.set_accm(accm);
            assert_eq!(decode_chunks(&mut dec, &[a, b]), expect, "cut at {cut}");
        }
        for cut1 in (0..stream.len()).step_by(7) {
            for cut2 in cut1..stream.len() {
                let mut dec = Decoder::new(1500);
                dec.set_accm(accm);
                let got = decode_chunks(
                    &mut dec,
                    &[&stream[..cut1], &stream[cut1..cut2], &stream[cut2..]],
                );
                assert_eq!(got, expect, "cuts at {cut1} {cut2}");
            }
        }
        let mut dec = Decoder::new(1500);
        dec.set_accm(accm);
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode_chunks(&mut dec, &bytes), expect);
    }

    #[test]
    fn decode_empty_and_back_to_back_flags() {
        let mut stream = vec![FLAG; 5];
        encode(TxOptions::DEFAULT, 0x0021, b"abc")
            .iter()
            .for_each(|&b| stream.push(b));
        stream.extend_from_slice(&[FLAG; 3]);
        assert_eq!(
            decode_all(1500, Accm::ALL, &stream),
            vec![Ok((0x21, b"abc".to_vec()))]
        );
        assert_eq!(decode_all(1500, Accm::ALL, &[]), vec![]);
        assert_eq!(decode_all(1500, Accm::ALL, &[FLAG]), vec![]);
        // A run of nothing but dropped control characters (XON) is ignored.
        assert_eq!(decode_all(1500, Accm::ALL, &[FLAG, 0x11, FLAG]), vec![]);
    }

    #[test]
    fn decode_abort() {
        let good = encode(TxOptions::DEFAULT, 0x0021, b"payload");
        let mut stream = vec![FLAG, 0xff, 0x7d, 0x23, 0x00, 0x21, 0x41, 0x42, ESCAPE, FLAG];
        stream.extend_from_slice(&good);
        assert_eq!(
            decode_all(1500, Accm::ALL, &stream),
            vec![Err(FrameError::Aborted), Ok((0x21, b"payload".to_vec()))]
        );
        // Aborting an empty frame.
        assert_eq!(
            decode_all(1500, Accm::ALL, &[FLAG, ESCAPE, FLAG]),
            vec![Err(FrameError::Aborted)]
        );
    }

    #[test]
    fn decode_bad_fcs_too_short_bad_header() {
        let mut f = encode(opts(0, false, false), 0x0021, &[0x80; 20]);
        let n = f.len();
        f[n - 3] ^= 1;
        assert_eq!(
            decode_all(1500, Accm::NONE, &f),
            vec![Err(FrameError::BadFcs)]
        );
        f[5] ^= 0x40; // damage the payload as well, FCS still bad
        assert_eq!(
            decode_all(1500, Accm::NONE, &f),
            vec![Err(FrameError::BadFcs)]
        );

        assert_eq!(
            decode_all(1500, Accm::NONE, &[FLAG, 0x80, 0x81, 0x82, FLAG]),
            vec![Err(FrameError::TooShort)]
        );

        let with_fcs = |body: &[u8]| {
            let mut v = body.to_vec();
            v.extend_from_slice(&fcs16(body).to_le_bytes());
            let mut s = vec![FLAG];
            for b in v {
                if b < 0x20 || b == FLAG || b == ESCAPE {
                    s.extend_from_slice(&[ESCAPE, b ^ 0x20]);
                } else {
                    s.push(b);
                }
            }
            s.push(FLAG);
            s
        };
        let bad = FrameError::BadHeader;
        // Address present, control not 0x03.
        assert_eq!(
            decode_all(1500, Accm::ALL, &with_fcs(&[0xff, 0x13, 0x00, 0x21, 1])),
            vec![Err(bad)]
        );
        // Two-byte protocol with an even low byte.
        assert_eq!(
            decode_all(1500, Accm::ALL, &with_fcs(&[0xff, 0x03, 0x00, 0x20, 1])),
            vec![Err(bad)]
        );
        assert_eq!(
            decode_all(1500, Accm::ALL, &with_fcs(&[0x80, 0x22, 1, 2])),
            vec![Err(bad)]
        );
        // Protocol missing.
        assert_eq!(
            decode_all(1500, Accm::ALL, &with_fcs(&[0xff, 0x03])),
            vec![Err(bad)]
        );
        assert_eq!(
            decode_all(1500, Accm::ALL, &with_fcs(&[0xff, 0x03, 0x00])),
            vec![Err(bad)]
        );
        // Valid forms: every header combination.
        for body in [
            &[0xff, 0x03, 0x00, 0x21, 7][..],
            &[0xff, 0x03, 0x21, 7],
            &[0x00, 0x21, 7],
            &[0x21, 7],
        ] {
            assert_eq!(
                decode_all(1500, Accm::ALL, &with_fcs(body)),
                vec![Ok((0x21, vec![7]))]
            );
        }
        // PFC + ACFC + empty payload is only 3 bytes: too short (RFC 1662 §4.3).
        assert_eq!(
            decode_all(1500, Accm::ALL, &with_fcs(&[0x21])),
            vec![Err(FrameError::TooShort)]
        );
    }

    #[test]
    fn decode_too_long_and_recovery() {
        let mru = 100;
        let enc = Encoder::new(opts(0, true, true));
        let mut stream = Vec::new();
        enc.encode(0x0021, &[0x80; 100], &mut stream);
        enc.encode(0x0021, &[0x81; 101], &mut stream);
        enc.encode(0x0021, &[0x82; 5000], &mut stream);
        enc.encode(0x0021, &[0x83; 3], &mut stream);
        let expect = vec![
            Ok((0x21, vec![0x80; 100])),
            Err(FrameError::TooLong),
            Err(FrameError::TooLong),
            Ok((0x21, vec![0x83; 3])),
        ];
        assert_eq!(decode_all(mru, Accm::NONE, &stream), expect);
        let mut dec = Decoder::new(mru);
        dec.set_accm(Accm::NONE);
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode_chunks(&mut dec, &bytes), expect);

        // Raising the MRU accepts the longer frame.
        let mut dec = Decoder::new(mru);
        dec.set_mru(6000);
        assert_eq!(
            decode_chunks(&mut dec, &[&stream])[2],
            Ok((0x21, vec![0x82; 5000]))
        );
    }

    #[test]
    fn decode_noise() {
        let enc = Encoder::new(TxOptions::DEFAULT);
        let mut stream = b"CONNECT 57600\r\n".to_vec();
        enc.encode(0xc021, &[1, 1, 0, 4], &mut stream);
        stream.extend_from_slice(b"\r\nlogin: ");
        enc.encode(0x0021, b"\x45\x00hello", &mut stream);
        let expect = vec![
            Err(FrameError::Noise { bytes: 15 }),
            Ok((0xc021, vec![1, 1, 0, 4])),
            Err(FrameError::Noise { bytes: 9 }),
            Ok((0x21, b"\x45\x00hello".to_vec())),
        ];
        assert_eq!(decode_all(1500, Accm::ALL, &stream), expect);
        assert_eq!(decode_all(1500, Accm::NONE, &stream), expect);
        for cut in 0..stream.len() {
            let mut dec = Decoder::new(1500);
            assert_eq!(
                decode_chunks(&mut dec, &[&stream[..cut], &stream[cut..]]),
                expect
            );
        }
        // Binary garbage between flags is not noise.
        assert_eq!(
            decode_all(1500, Accm::ALL, b"~\x80abcdef~"),
            vec![Err(FrameError::BadFcs)]
        );
        // Text longer than the MRU is still noise; text with '}' too.
        let mut long = vec![FLAG];
        long.extend(std::iter::repeat_n(b"Hello } world\r\n".iter().copied(), 20).flatten());
        long.push(FLAG);
        assert_eq!(
            decode_all(100, Accm::ALL, &long),
            vec![Err(FrameError::Noise { bytes: 300 })]
        );
        // Before the first flag anything is noise; reset() hunts again.
        let mut dec = Decoder::new(1500);
        let mut input: &[u8] = b"\x00\xff\x80 junk~";
        assert_eq!(
            dec.decode(&mut input),
            Some(Err(FrameError::Noise { bytes: 8 }))
        );
        let mut input: &[u8] = b"\xff\x03\x00\x21";
        assert_eq!(dec.decode(&mut input), None);
        dec.reset();
        let mut input: &[u8] = b"AT~";
        assert_eq!(
            dec.decode(&mut input),
            Some(Err(FrameError::Noise { bytes: 2 }))
        );
    }

    #[test]
    fn decode_rx_accm() {
        let payload = [
            0x11, 0x13, 0x00, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
        ];
        let frame = encode(TxOptions::DEFAULT, 0x0021, &payload);
        // XON inserted raw mid-frame (and in the FCS and header) is dropped;
        // the escaped 0x11 / 0x13 in the payload are kept.
        let mut noisy = Vec::new();
        for (i, &b) in frame.iter().enumerate() {
            noisy.push(b);
            if i % 3 == 1 && i + 1 < frame.len() {
                noisy.push(0x11);
            }
        }
        let expect = vec![Ok((0x21, payload.to_vec()))];
        assert_eq!(decode_all(1500, Accm::ALL, &noisy), expect);
        assert_eq!(decode_all(1500, Accm(0x000a_0000), &noisy), expect);
        // Dropping happens even between an escape and the escaped byte.
        assert!(noisy.windows(2).any(|w| w == [ESCAPE, 0x11]));
        // ACCM 0 keeps raw control characters: the stuffed XONs break the frame.
        assert_eq!(
            decode_all(1500, Accm::NONE, &noisy),
            vec![Err(FrameError::BadFcs)]
        );

        // A frame sent with ACCM 0 carries raw control characters: kept with
        // rx ACCM 0, dropped (so FCS fails) with the default map.
        let raw = encode(opts(0, false, false), 0x0021, &payload);
        assert!(raw.contains(&0x11));
        assert_eq!(decode_all(1500, Accm::NONE, &raw), expect);
        assert_eq!(
            decode_all(1500, Accm::ALL, &raw),
            vec![Err(FrameError::BadFcs)]
        );
        // ... and with a map covering only XON/XOFF the 0x00 is kept.
        let xonoff = encode(opts(0x000a_0000, false, false), 0x0021, &payload);
        assert_eq!(decode_all(1500, Accm(0x000a_0000), &xonoff), expect);
    }

    #[test]
    fn long_frames_every_accm() {
        // Long enough for the block paths; every byte value, runs of escapes
        // and flags, and XON/XOFF inserted raw on the line.
        let mut payload: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        payload.extend_from_slice(&[ESCAPE; 40]);
        payload.extend_from_slice(&[FLAG; 40]);
        payload.extend((0..300u32).map(|i| (i * 7 % 37) as u8));
        for accm in [
            0,
            u32::MAX,
            0x000a_0000,
            0x0000_0001,
            0x8000_0000,
            0x5555_aaaa,
        ] {
            let rx = Accm(accm & 0x000a_0000);
            for (acfc, pfc) in [(false, false), (true, true)] {
                let mut line = encode(opts(accm | 0x000a_0000, acfc, pfc), 0x0021, &payload);
                let expect = vec![Ok((0x21, payload.clone()))];
                assert_eq!(decode_all(2000, rx, &line), expect, "accm {accm:#x}");
                // XON/XOFF are escaped by the sender, so raw ones are noise
                // for the receiver to drop.
                for at in (3..line.len() - 1).step_by(97) {
                    line.insert(at, if at % 2 == 0 { 0x11 } else { 0x13 });
                }
                assert_eq!(decode_all(2000, Accm(0x000a_0000), &line), expect);
                if accm == u32::MAX {
                    // Every control character escaped: any map with XON
                    // and XOFF will do.
                    assert_eq!(decode_all(2000, Accm::ALL, &line), expect);
                    assert_eq!(decode_all(2000, Accm(0x555f_aaaa), &line), expect);
                } else if accm == 0 {
                    // Raw control characters on the line: the full map
                    // drops them.
                    let got = decode_all(2000, Accm::ALL, &line);
                    assert_eq!(got, vec![Err(FrameError::BadFcs)]);
                }
            }
        }
    }

    // ----------------------------------------------------------------------
    // A byte-at-a-time model of the decoder, to check the word-at-a-time one.

    struct Model {
        mru: usize,
        accm: Accm,
        hunting: bool,
        discard: bool,
        buf: Vec<u8>,
        esc: bool,
        text: bool,
        raw: usize,
    }

    impl Model {
        fn new(mru: u16, accm: Accm) -> Self {
            Model {
                mru: mru as usize,
                accm,
                hunting: true,
                discard: false,
                buf: Vec::new(),
                esc: false,
                text: true,
                raw: 0,
            }
        }

        fn byte(&mut self, b: u8) -> Option<Out> {
            if b != FLAG {
                self.raw += 1;
                self.text &= is_text(b);
                if self.hunting || self.discard || self.accm.contains(b) {
                    return None;
                }
                if b == ESCAPE && !self.esc {
                    self.esc = true;
                } else {
                    self.buf.push(if self.esc { b ^ 0x20 } else { b });
                    self.esc = false;
                    self.discard = self.buf.len() > self.mru + 6;
                }
                return None;
            }
            let (buf, esc, text, raw) =
                (std::mem::take(&mut self.buf), self.esc, self.text, self.raw);
            let (hunting, discard) = (self.hunting, self.discard);
            (self.esc, self.text, self.raw, self.hunting, self.discard) =
                (false, true, 0, false, false);
            let err = |e| {
                Some(Err(if text {
                    FrameError::Noise { bytes: raw }
                } else {
                    e
                }))
            };
            if hunting {
                return (raw > 0).then_some(Err(FrameError::Noise { bytes: raw }));
            }
            if discard {
                return err(FrameError::TooLong);
            }
            if esc {
                return Some(Err(FrameError::Aborted));
            }
            if buf.is_empty() {
                return None;
            }
            if buf.len() < 4 {
                return err(FrameError::TooShort);
            }
            let (body, fcs) = buf.split_at(buf.len() - 2);
            if fcs16_bitwise(body).to_le_bytes() != fcs {
                return err(FrameError::BadFcs);
            }
            let body = match body {
                [0xff, 0x03, rest @ ..] => rest,
                [0xff, ..] => return Some(Err(FrameError::BadHeader)),
                _ => body,
            };
            let (proto, payload) = match body {
                [p, rest @ ..] if p & 1 == 1 => (*p as u16, rest),
                [h, l, rest @ ..] if l & 1 == 1 => (u16::from_be_bytes([*h, *l]), rest),
                _ => return Some(Err(FrameError::BadHeader)),
            };
            if payload.len() > self.mru {
                return Some(Err(FrameError::TooLong));
            }
            Some(Ok((proto, payload.to_vec())))
        }
    }

    fn valid_protocol() -> impl Strategy<Value = u16> {
        prop_oneof![
            Just(0xc021u16),
            Just(0x0021),
            Just(0x00ff),
            Just(0x8021),
            any::<u16>().prop_map(|p| (p & 0xfeff) | 1),
        ]
    }

    /// Bytes rich in flags, escapes and control characters (cheap to
    /// generate: a plain byte vector, remapped).
    fn tricky_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        let trick = |b: u8| match b {
            0..=19 => FLAG,
            20..=59 => ESCAPE,
            60..=89 => b & 0x1f,
            90..=99 => 0xff,
            100..=109 => 0x03,
            _ => b.wrapping_mul(167),
        };
        prop::collection::vec(any::<u8>(), 0..max)
            .prop_map(move |v| v.into_iter().map(trick).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn fcs16_matches_bitwise(data in prop::collection::vec(any::<u8>(), 0..100)) {
            prop_assert_eq!(fcs16(&data), fcs16_bitwise(&data));
        }

        #[test]
        fn round_trip(
            frames in prop::collection::vec(
                (valid_protocol(), tricky_bytes(300), any::<u32>(), any::<bool>(), any::<bool>()),
                1..6,
            ),
            rx_mask in any::<u32>(),
            gaps in any::<bool>(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let mut stream = Vec::new();
            let mut expect = Vec::new();
            let mut rx_accm = u32::MAX;
            let mut enc = Encoder::new(TxOptions::DEFAULT);
            for (protocol, payload, accm, acfc, pfc) in &frames {
                let o = opts(*accm, *acfc, *pfc);
                enc.set_options(o);
                prop_assert_eq!(enc.options(), o);
                let worst = 2 * (4 + payload.len() + 2) + 2;
                let before = stream.len();
                enc.encode(*protocol, payload, &mut stream);
                prop_assert!(stream.len() - before <= worst);
                if gaps {
                    stream.push(FLAG);
                }
                let forced = *protocol == 0xc021 && matches!(payload.first(), Some(1..=7));
                let tiny = !forced && *acfc && *pfc && *protocol < 0xff && payload.is_empty();
                expect.push(if tiny {
                    // One protocol byte and the FCS: under the 4-byte minimum.
                    Err(FrameError::TooShort)
                } else {
                    Ok((*protocol, payload.clone()))
                });
                rx_accm &= if forced { u32::MAX } else { *accm };
            }
            // The receiver may only drop what every sender escaped.
            let rx = Accm(rx_accm & rx_mask);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            points.sort();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points {
                chunks.push(&stream[last..p]);
                last = p;
            }
            chunks.push(&stream[last..]);
            let mut dec = Decoder::new(300);
            dec.set_accm(rx);
            prop_assert_eq!(decode_chunks(&mut dec, &chunks), expect);
        }

        #[test]
        fn decoder_matches_model(
            data in tricky_bytes(700),
            frames in prop::collection::vec((valid_protocol(), tricky_bytes(120)), 0..4),
            mru in prop_oneof![Just(0u16), 1u16..40, Just(64), Just(1500)],
            accm in prop_oneof![Just(0u32), Just(u32::MAX), Just(0x000a_0000), any::<u32>()],
            cut in any::<prop::sample::Index>(),
        ) {
            // Garbage, then valid frames with garbage in between.
            let mut stream = data.clone();
            let enc = Encoder::new(opts(0, false, false));
            for (i, (p, payload)) in frames.iter().enumerate() {
                enc.encode(*p, payload, &mut stream);
                stream.extend_from_slice(&data[..data.len().min(i * 13)]);
            }
            let mut model = Model::new(mru, Accm(accm));
            let expect: Vec<Out> = stream.iter().filter_map(|&b| model.byte(b)).collect();
            let mut dec = Decoder::new(mru);
            dec.set_accm(Accm(accm));
            prop_assert_eq!(&decode_chunks(&mut dec, &[&stream]), &expect);
            let c = cut.index(stream.len() + 1);
            let mut dec = Decoder::new(mru);
            dec.set_accm(Accm(accm));
            prop_assert_eq!(&decode_chunks(&mut dec, &[&stream[..c], &stream[c..]]), &expect);
        }

        #[test]
        fn decode_never_panics(
            data in prop::collection::vec(any::<u8>(), 0..3000),
            mru in any::<u16>(),
            new_mru in any::<u16>(),
            accm in any::<u32>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut dec = Decoder::new(mru);
            dec.set_accm(Accm(accm));
            let c = cut.index(data.len() + 1);
            let mut out = Vec::new();
            collect(&mut dec, &data[..c], &mut out);
            dec.set_mru(new_mru);
            collect(&mut dec, &data[c..], &mut out);
        }
    }
}
