//! The wire format shared by every PPP control protocol (RFC 1661 §5, §6).
//!
//! A control packet is `Code | Identifier | Length | Data`; the data of the
//! Configure-* packets is a list of `Type | Length | Value` options. Parsing is
//! checked once, up front: after [`Packet::parse`] or [`Options::new`]
//! succeed, nothing here indexes past the end of a buffer.

use core::fmt;

/// PPP protocol numbers (RFC 1700 / IANA "PPP DLL Protocol Numbers").
pub mod protocol {
    /// Internet Protocol version 4.
    pub const IPV4: u16 = 0x0021;
    /// Van Jacobson compressed TCP/IP (RFC 1144); never negotiated by us.
    pub const VJ_COMPRESSED: u16 = 0x002d;
    /// Van Jacobson uncompressed TCP/IP (RFC 1144); never negotiated by us.
    pub const VJ_UNCOMPRESSED: u16 = 0x002f;
    /// Internet Protocol version 6.
    pub const IPV6: u16 = 0x0057;
    /// IP Control Protocol (RFC 1332).
    pub const IPCP: u16 = 0x8021;
    /// IPv6 Control Protocol (RFC 5072).
    pub const IPV6CP: u16 = 0x8057;
    /// Compression Control Protocol (RFC 1962); rejected.
    pub const CCP: u16 = 0x80fd;
    /// IPX Control Protocol (RFC 1552); rejected.
    pub const IPXCP: u16 = 0x802b;
    /// Link Control Protocol (RFC 1661).
    pub const LCP: u16 = 0xc021;
    /// Password Authentication Protocol (RFC 1334).
    pub const PAP: u16 = 0xc023;
    /// Link Quality Report (RFC 1989); rejected.
    pub const LQR: u16 = 0xc025;
    /// Challenge Handshake Authentication Protocol (RFC 1994).
    pub const CHAP: u16 = 0xc223;

    /// A short name for a protocol number, for traces and reasons.
    pub fn name(protocol: u16) -> &'static str {
        match protocol {
            IPV4 => "IPv4",
            VJ_COMPRESSED => "VJ-compressed",
            VJ_UNCOMPRESSED => "VJ-uncompressed",
            IPV6 => "IPv6",
            IPCP => "IPCP",
            IPV6CP => "IPV6CP",
            CCP => "CCP",
            IPXCP => "IPXCP",
            LCP => "LCP",
            PAP => "PAP",
            LQR => "LQR",
            CHAP => "CHAP",
            0x002b => "IPX",
            0x003d => "MP",
            0x80fb => "single-link CCP",
            0x8029 => "ATCP",
            0x803f => "NBFCP",
            0xc02b => "BACP",
            0xc029 => "CBCP",
            0x8281 => "MPLSCP",
            _ => "unknown protocol",
        }
    }
}

/// Control packet codes (RFC 1661 §5, RFC 1570 §2). Codes 1–7 are shared by
/// every protocol built on the option negotiation automaton; 8–13 are LCP's own.
#[allow(missing_docs)]
pub mod code {
    pub const CONFIGURE_REQUEST: u8 = 1;
    pub const CONFIGURE_ACK: u8 = 2;
    pub const CONFIGURE_NAK: u8 = 3;
    pub const CONFIGURE_REJECT: u8 = 4;
    pub const TERMINATE_REQUEST: u8 = 5;
    pub const TERMINATE_ACK: u8 = 6;
    pub const CODE_REJECT: u8 = 7;
    pub const PROTOCOL_REJECT: u8 = 8;
    pub const ECHO_REQUEST: u8 = 9;
    pub const ECHO_REPLY: u8 = 10;
    pub const DISCARD_REQUEST: u8 = 11;
    pub const IDENTIFICATION: u8 = 12;
    pub const TIME_REMAINING: u8 = 13;

    /// The RFC's name for a code.
    pub fn name(code: u8) -> &'static str {
        match code {
            CONFIGURE_REQUEST => "Configure-Request",
            CONFIGURE_ACK => "Configure-Ack",
            CONFIGURE_NAK => "Configure-Nak",
            CONFIGURE_REJECT => "Configure-Reject",
            TERMINATE_REQUEST => "Terminate-Request",
            TERMINATE_ACK => "Terminate-Ack",
            CODE_REJECT => "Code-Reject",
            PROTOCOL_REJECT => "Protocol-Reject",
            ECHO_REQUEST => "Echo-Request",
            ECHO_REPLY => "Echo-Reply",
            DISCARD_REQUEST => "Discard-Request",
            IDENTIFICATION => "Identification",
            TIME_REMAINING => "Time-Remaining",
            _ => "unknown code",
        }
    }
}

/// Why a packet could not be parsed. Malformed packets are silently
/// discarded (RFC 1661 §5) and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than its fixed header.
    Truncated,
    /// The Length field is below the minimum or beyond the received bytes.
    BadLength,
    /// An option's length is below 2 or runs past the end of the list.
    BadOption,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::Truncated => "packet shorter than its header",
            ParseError::BadLength => "length field does not match the packet",
            ParseError::BadOption => "malformed option list",
        })
    }
}

/// A control packet (RFC 1661 §5): `Code | Identifier | Length | Data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The code (see [`code`]).
    pub code: u8,
    /// The identifier matching requests and replies.
    pub id: u8,
    /// The data: `Length - 4` bytes; padding after `Length` is dropped.
    pub data: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Parses a control packet. Octets past the Length field are padding
    /// and ignored (RFC 1661 §5).
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        let [code, id, hi, lo, ..] = *buf else {
            return Err(ParseError::Truncated);
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len < 4 || len > buf.len() {
            return Err(ParseError::BadLength);
        }
        Ok(Packet {
            code,
            id,
            data: &buf[4..len],
        })
    }

    /// Appends the packet's bytes to `out`. The data is truncated to fit a
    /// 16-bit length (callers never build packets that large).
    pub fn emit(&self, out: &mut Vec<u8>) {
        emit(self.code, self.id, self.data, out);
    }

    /// The packet's length on the wire.
    pub fn buffer_len(&self) -> usize {
        4 + self.data.len()
    }
}

/// Appends a control packet with the given code, identifier and data.
pub fn emit(code: u8, id: u8, data: &[u8], out: &mut Vec<u8>) {
    let data = &data[..data.len().min(usize::from(u16::MAX) - 4)];
    out.push(code);
    out.push(id);
    out.extend_from_slice(&((data.len() + 4) as u16).to_be_bytes());
    out.extend_from_slice(data);
}

/// Builds a control packet in a fresh buffer.
pub fn build(code: u8, id: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + data.len());
    emit(code, id, data, &mut out);
    out
}

/// One configuration option (RFC 1661 §6): `Type | Length | Data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opt<'a> {
    /// The option type.
    pub kind: u8,
    /// The option data (`Length - 2` bytes).
    pub data: &'a [u8],
}

impl<'a> Opt<'a> {
    /// The option's length on the wire.
    pub fn buffer_len(&self) -> usize {
        2 + self.data.len()
    }

    /// Appends the option's bytes to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        emit_option(self.kind, self.data, out);
    }

    /// The data as a big-endian u16, if it is exactly two bytes.
    pub fn u16(&self) -> Option<u16> {
        <[u8; 2]>::try_from(self.data).ok().map(u16::from_be_bytes)
    }

    /// The data as a big-endian u32, if it is exactly four bytes.
    pub fn u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.data).ok().map(u32::from_be_bytes)
    }
}

/// Appends an option. Data longer than 253 bytes is truncated (no option we
/// build comes near that).
pub fn emit_option(kind: u8, data: &[u8], out: &mut Vec<u8>) {
    let data = &data[..data.len().min(253)];
    out.push(kind);
    out.push((data.len() + 2) as u8);
    out.extend_from_slice(data);
}

/// A validated option list: iterating it cannot fail.
#[derive(Clone, Copy, Debug)]
pub struct Options<'a>(&'a [u8]);

impl<'a> Options<'a> {
    /// Checks that `data` is a well-formed sequence of options.
    pub fn new(data: &'a [u8]) -> Result<Self, ParseError> {
        let mut rest = data;
        while !rest.is_empty() {
            let [_, len, ..] = *rest else {
                return Err(ParseError::BadOption);
            };
            let len = usize::from(len);
            if len < 2 || len > rest.len() {
                return Err(ParseError::BadOption);
            }
            rest = &rest[len..];
        }
        Ok(Options(data))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Iterates over the options in order.
    pub fn iter(&self) -> OptionsIter<'a> {
        OptionsIter(self.0)
    }
}

impl<'a> IntoIterator for Options<'a> {
    type Item = Opt<'a>;
    type IntoIter = OptionsIter<'a>;
    fn into_iter(self) -> OptionsIter<'a> {
        self.iter()
    }
}

/// Iterator over a validated option list.
#[derive(Clone, Debug)]
pub struct OptionsIter<'a>(&'a [u8]);

impl<'a> Iterator for OptionsIter<'a> {
    type Item = Opt<'a>;
    fn next(&mut self) -> Option<Opt<'a>> {
        let [kind, len, ..] = *self.0 else {
            return None;
        };
        let len = usize::from(len);
        let opt = self.0.get(2..len)?;
        self.0 = &self.0[len..];
        Some(Opt { kind, data: opt })
    }
}

/// Formats bytes as lowercase hex, for traces.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('?'));
        s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('?'));
    }
    s
}

/// Text from the peer (messages, names), made printable: invalid UTF-8 is
/// replaced and control characters are escaped, so a trace or a reason can
/// never carry terminal escape sequences.
pub fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // LCP Configure-Request, id 1: MRU 1500, Magic-Number 0x12345678.
    static CONF_REQ: [u8; 14] = [
        0x01, 0x01, 0x00, 0x0e, 0x01, 0x04, 0x05, 0xdc, 0x05, 0x06, 0x12, 0x34, 0x56, 0x78,
    ];

    #[test]
    fn test_parse() {
        let p = Packet::parse(&CONF_REQ).unwrap();
        assert_eq!(p.code, code::CONFIGURE_REQUEST);
        assert_eq!(p.id, 1);
        let opts: Vec<_> = Options::new(p.data).unwrap().iter().collect();
        assert_eq!(opts.len(), 2);
        assert_eq!(opts[0].kind, 1);
        assert_eq!(opts[0].u16(), Some(1500));
        assert_eq!(opts[1].kind, 5);
        assert_eq!(opts[1].u32(), Some(0x1234_5678));
    }

    #[test]
    fn test_emit() {
        let mut data = Vec::new();
        emit_option(1, &1500u16.to_be_bytes(), &mut data);
        emit_option(5, &0x1234_5678u32.to_be_bytes(), &mut data);
        assert_eq!(build(code::CONFIGURE_REQUEST, 1, &data), CONF_REQ);
    }

    #[test]
    fn padding_after_length_is_ignored() {
        let mut buf = CONF_REQ.to_vec();
        buf.extend_from_slice(&[0, 0, 0]);
        assert_eq!(Packet::parse(&buf).unwrap().data.len(), 10);
    }

    #[test]
    fn malformed_packets() {
        assert_eq!(Packet::parse(&[1, 2, 0]), Err(ParseError::Truncated));
        assert_eq!(Packet::parse(&[1, 2, 0, 3]), Err(ParseError::BadLength));
        assert_eq!(Packet::parse(&[1, 2, 0, 9, 0]), Err(ParseError::BadLength));
        assert!(Options::new(&[1, 1]).is_err());
        assert!(Options::new(&[1, 4, 0]).is_err());
        assert!(Options::new(&[1]).is_err());
        assert!(Options::new(&[]).unwrap().iter().next().is_none());
    }

    #[test]
    fn printable_escapes_controls() {
        assert_eq!(printable(b"ok\x1b[2J\n"), "ok\\u{1b}[2J\\n");
        assert_eq!(printable(&[0xff, b'a']), "\u{fffd}a");
    }
}
