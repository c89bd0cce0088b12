//! Byte fixtures for every PPP packet type the engine speaks, checked at two
//! levels:
//!
//! * the wire: hand-written packets (each citing the RFC section it follows)
//!   are parsed with `wire::Packet::parse` / `wire::Options::new` and the
//!   `auth` helpers, field by field, re-emitted with `wire::build` /
//!   `wire::emit_option` and compared byte for byte, and decoded by
//!   `trace::describe`; malformed variants are rejected cleanly;
//! * a running `Link`: its frames are taken from `poll_transmit`, deframed
//!   with `framing::Decoder`, and its replies to hand-built peer frames
//!   (framed with `framing::Encoder`) are checked byte for byte.
//!
//! Public API only.

use std::net::Ipv4Addr;

use dialtone_ppp::auth::{self, chap, pap};
use dialtone_ppp::crypto::{self, mschapv2};
use dialtone_ppp::framing::{Accm, Decoder, Encoder, TxOptions};
use dialtone_ppp::fsm::State;
use dialtone_ppp::wire::{self, code, protocol, Options, Packet, ParseError};
use dialtone_ppp::{ipcp, ipv6cp, lcp, trace};
use dialtone_ppp::{
    AuthMethod, Config, Credentials, DownReason, Event, Instant, Ipv4Info, Ipv6Info, Link,
    LinkInfo, Phase, Role,
};

// ===========================================================================
// Fixtures: LCP packets (RFC 1661 §5).

/// RFC 1661 §5.1 Configure-Request, id 1: MRU 1500 (§6.1), ACCM 0
/// (RFC 1662 §7.1), Authentication-Protocol PAP (§6.2), Magic-Number
/// 0x01020304 (§6.4), Protocol-Field-Compression (§6.5) and
/// Address-and-Control-Field-Compression (§6.6).
static LCP_CONF_REQ: [u8; 28] = [
    0x01, 0x01, 0x00, 0x1c, // Code, Identifier, Length 28
    0x01, 0x04, 0x05, 0xdc, // MRU 1500
    0x02, 0x06, 0x00, 0x00, 0x00, 0x00, // ACCM 0
    0x03, 0x04, 0xc0, 0x23, // Authentication-Protocol PAP
    0x05, 0x06, 0x01, 0x02, 0x03, 0x04, // Magic-Number
    0x07, 0x02, // PFC
    0x08, 0x02, // ACFC
];

/// RFC 1661 §5.2 Configure-Ack: the request's identifier and options, verbatim.
static LCP_CONF_ACK: [u8; 28] = [
    0x02, 0x01, 0x00, 0x1c, // Code, Identifier, Length 28
    0x01, 0x04, 0x05, 0xdc, // MRU 1500
    0x02, 0x06, 0x00, 0x00, 0x00, 0x00, // ACCM 0
    0x03, 0x04, 0xc0, 0x23, // Authentication-Protocol PAP
    0x05, 0x06, 0x01, 0x02, 0x03, 0x04, // Magic-Number
    0x07, 0x02, // PFC
    0x08, 0x02, // ACFC
];

/// RFC 1661 §5.3 Configure-Nak: MRU, suggesting 128.
static LCP_CONF_NAK: [u8; 8] = [0x03, 0x01, 0x00, 0x08, 0x01, 0x04, 0x00, 0x80];

/// RFC 1661 §5.4 Configure-Reject of a Callback option (type 13, RFC 1570
/// §2.3) with operation 6 (CBCP, as Windows sends it), verbatim.
static LCP_CONF_REJ: [u8; 7] = [0x04, 0x01, 0x00, 0x07, 0x0d, 0x03, 0x06];

/// RFC 1661 §5.5 Terminate-Request, id 2, Data "bye".
static LCP_TERM_REQ: [u8; 7] = [0x05, 0x02, 0x00, 0x07, b'b', b'y', b'e'];

/// RFC 1661 §5.5 Terminate-Ack, id 2, no data.
static LCP_TERM_ACK: [u8; 4] = [0x06, 0x02, 0x00, 0x04];

/// RFC 1661 §5.6 Code-Reject, id 3, rejecting a packet of code 0x20.
static LCP_CODE_REJ: [u8; 12] = [
    0x07, 0x03, 0x00, 0x0c, // Code, Identifier, Length 12
    0x20, 0x05, 0x00, 0x08, 0xde, 0xad, 0xbe, 0xef, // Rejected-Packet
];

/// RFC 1661 §5.7 Protocol-Reject, id 4: CCP (0x80fd), with the rejected
/// CCP Configure-Request (id 7, no options).
static LCP_PROTO_REJ: [u8; 10] = [
    0x08, 0x04, 0x00, 0x0a, // Code, Identifier, Length 10
    0x80, 0xfd, // Rejected-Protocol
    0x01, 0x07, 0x00, 0x04, // Rejected-Information
];

/// RFC 1661 §5.8 Echo-Request, id 5: Magic-Number 0x01020304, Data "ping".
static LCP_ECHO_REQ: [u8; 12] = [
    0x09, 0x05, 0x00, 0x0c, 0x01, 0x02, 0x03, 0x04, b'p', b'i', b'n', b'g',
];

/// RFC 1661 §5.8 Echo-Reply, id 5: the replier's Magic-Number 0x05060708,
/// the Data copied.
static LCP_ECHO_REP: [u8; 12] = [
    0x0a, 0x05, 0x00, 0x0c, 0x05, 0x06, 0x07, 0x08, b'p', b'i', b'n', b'g',
];

/// RFC 1661 §5.9 Discard-Request, id 6: Magic-Number 0x01020304.
static LCP_DISCARD: [u8; 8] = [0x0b, 0x06, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04];

// LCP options (RFC 1661 §6), one by one.

/// §6.1 Maximum-Receive-Unit 1500.
static OPT_MRU: [u8; 4] = [0x01, 0x04, 0x05, 0xdc];
/// RFC 1662 §7.1 Async-Control-Character-Map: XON (0x11) and XOFF (0x13).
static OPT_ACCM: [u8; 6] = [0x02, 0x06, 0x00, 0x0a, 0x00, 0x00];
/// §6.2 Authentication-Protocol PAP (0xc023, RFC 1334 §3).
static OPT_AUTH_PAP: [u8; 4] = [0x03, 0x04, 0xc0, 0x23];
/// §6.2 Authentication-Protocol CHAP (0xc223) with MD5 (5) (RFC 1994 §3).
static OPT_AUTH_CHAP_MD5: [u8; 5] = [0x03, 0x05, 0xc2, 0x23, 0x05];
/// §6.2 Authentication-Protocol CHAP with MS-CHAP-v2 (0x81) (RFC 2759 §2).
static OPT_AUTH_MSCHAPV2: [u8; 5] = [0x03, 0x05, 0xc2, 0x23, 0x81];
/// §6.3 Quality-Protocol LQR (0xc025), Reporting-Period 3000 (RFC 1989 §2.5).
static OPT_QUALITY: [u8; 8] = [0x04, 0x08, 0xc0, 0x25, 0x00, 0x00, 0x0b, 0xb8];
/// §6.4 Magic-Number 0x12345678.
static OPT_MAGIC: [u8; 6] = [0x05, 0x06, 0x12, 0x34, 0x56, 0x78];
/// §6.5 Protocol-Field-Compression.
static OPT_PFC: [u8; 2] = [0x07, 0x02];
/// §6.6 Address-and-Control-Field-Compression.
static OPT_ACFC: [u8; 2] = [0x08, 0x02];

// ===========================================================================
// Fixtures: PAP (RFC 1334 §2.2).

/// §2.2.1 Authenticate-Request, id 1: Peer-ID "user", Password "s3cr3t".
static PAP_REQ: [u8; 16] = [
    0x01, 0x01, 0x00, 0x10, // Code, Identifier, Length 16
    0x04, b'u', b's', b'e', b'r', // Peer-ID-Length, Peer-ID
    0x06, b's', b'3', b'c', b'r', b'3', b't', // Passwd-Length, Password
];

/// §2.2.2 Authenticate-Ack, id 1: Msg-Length 8, Message "Login ok".
static PAP_ACK: &[u8] = b"\x02\x01\x00\x0d\x08Login ok";

/// §2.2.2 Authenticate-Nak, id 1: Msg-Length 15, Message "Login incorrect".
static PAP_NAK: &[u8] = b"\x03\x01\x00\x14\x0fLogin incorrect";

// ===========================================================================
// Fixtures: CHAP with MD5 (RFC 1994 §4).

/// §4.1 Challenge, id 1: Value-Size 16, Value 0x10..=0x1f, Name "isp".
static CHAP_CHALLENGE: [u8; 24] = [
    0x01, 0x01, 0x00, 0x18, // Code, Identifier, Length 24
    0x10, // Value-Size
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, // Value
    0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, //
    b'i', b's', b'p', // Name
];

/// §4.1 Response, id 1: Value = MD5(Identifier | "s3cr3t" | Challenge)
/// (RFC 1994 §2, computed independently with Python's hashlib), Name "user".
static CHAP_RESPONSE: [u8; 25] = [
    0x02, 0x01, 0x00, 0x19, // Code, Identifier, Length 25
    0x10, // Value-Size
    0xd7, 0x17, 0x87, 0xbc, 0x85, 0x69, 0xc0, 0x5d, // Value
    0x5e, 0x92, 0x85, 0x43, 0x3a, 0x6c, 0x76, 0x79, //
    b'u', b's', b'e', b'r', // Name
];

/// §4.2 Success, id 1, Message "Access granted".
static CHAP_SUCCESS: &[u8] = b"\x03\x01\x00\x12Access granted";

/// §4.2 Failure, id 1, Message "Access denied".
static CHAP_FAILURE: &[u8] = b"\x04\x01\x00\x11Access denied";

// ===========================================================================
// Fixtures: MS-CHAP-v2 (RFC 2759), with the values of §9.2.

const MS_USER: &str = "User";
const MS_PASSWORD: &str = "clientPass";
/// RFC 2759 §9.2 AuthenticatorChallenge.
const MS_AUTH_CHALLENGE: [u8; 16] = [
    0x5b, 0x5d, 0x7c, 0x7d, 0x7b, 0x3f, 0x2f, 0x3e, 0x3c, 0x2c, 0x60, 0x21, 0x32, 0x26, 0x26, 0x28,
];
/// RFC 2759 §9.2 PeerChallenge.
const MS_PEER_CHALLENGE: [u8; 16] = [
    0x21, 0x40, 0x23, 0x24, 0x25, 0x5e, 0x26, 0x2a, 0x28, 0x29, 0x5f, 0x2b, 0x3a, 0x33, 0x7c, 0x7e,
];
/// RFC 2759 §9.2 NT-Response.
const MS_NT_RESPONSE: [u8; 24] = [
    0x82, 0x30, 0x9e, 0xcd, 0x8d, 0x70, 0x8b, 0x5e, 0xa0, 0x8f, 0xaa, 0x39, 0x81, 0xcd, 0x83, 0x54,
    0x42, 0x33, 0x11, 0x4a, 0x3d, 0x85, 0xd6, 0xdf,
];
/// RFC 2759 §9.2 AuthenticatorResponse.
const MS_AUTH_RESPONSE: &str = "S=407A5589115FD0D6209F510FE9C04566932CDA56";

/// RFC 2759 §3 Challenge, id 2: Value-Size 16, the §9.2 challenge, Name "isp".
static MSCHAP_CHALLENGE: [u8; 24] = [
    0x01, 0x02, 0x00, 0x18, // Code, Identifier, Length 24
    0x10, // Value-Size
    0x5b, 0x5d, 0x7c, 0x7d, 0x7b, 0x3f, 0x2f, 0x3e, // Authenticator Challenge
    0x3c, 0x2c, 0x60, 0x21, 0x32, 0x26, 0x26, 0x28, //
    b'i', b's', b'p', // Name
];

/// RFC 2759 §4 Response, id 2: Value-Size 49; Value = 16 Peer-Challenge,
/// 8 reserved zero, 24 NT-Response, 1 Flags (zero); Name "User".
static MSCHAP_RESPONSE: [u8; 58] = [
    0x02, 0x02, 0x00, 0x3a, // Code, Identifier, Length 58
    0x31, // Value-Size 49
    0x21, 0x40, 0x23, 0x24, 0x25, 0x5e, 0x26, 0x2a, // Peer-Challenge
    0x28, 0x29, 0x5f, 0x2b, 0x3a, 0x33, 0x7c, 0x7e, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Reserved
    0x82, 0x30, 0x9e, 0xcd, 0x8d, 0x70, 0x8b, 0x5e, // NT-Response
    0xa0, 0x8f, 0xaa, 0x39, 0x81, 0xcd, 0x83, 0x54, //
    0x42, 0x33, 0x11, 0x4a, 0x3d, 0x85, 0xd6, 0xdf, //
    0x00, // Flags
    b'U', b's', b'e', b'r', // Name
];

/// RFC 2759 §5 Success, id 2: "S=<auth_string> M=<message>".
static MSCHAP_SUCCESS: &[u8] =
    b"\x03\x02\x00\x3fS=407A5589115FD0D6209F510FE9C04566932CDA56 M=Access granted";

/// RFC 2759 §6 Failure, id 2: "E=691 R=0 C=<challenge> V=3 M=<message>".
static MSCHAP_FAILURE: &[u8] =
    b"\x04\x02\x00\x44E=691 R=0 C=5B5D7C7D7B3F2F3E3C2C602132262628 V=3 M=Access denied";

// ===========================================================================
// Fixtures: IPCP (RFC 1332, RFC 1877).

/// RFC 1332 §3.3 IP-Address 0.0.0.0 ("assign me one") with RFC 1877 §1.1
/// Primary-DNS-Address and §1.3 Secondary-DNS-Address 0.0.0.0, id 1.
static IPCP_CONF_REQ: [u8; 22] = [
    0x01, 0x01, 0x00, 0x16, // Code, Identifier, Length 22
    0x03, 0x06, 0x00, 0x00, 0x00, 0x00, // IP-Address 0.0.0.0
    0x81, 0x06, 0x00, 0x00, 0x00, 0x00, // Primary-DNS 0.0.0.0
    0x83, 0x06, 0x00, 0x00, 0x00, 0x00, // Secondary-DNS 0.0.0.0
];

/// RFC 1332 §3.3 / RFC 1877 §1: the Nak assigning 10.1.2.3 and DNS
/// 10.0.0.53 / 10.0.0.54, id 1.
static IPCP_CONF_NAK: [u8; 22] = [
    0x03, 0x01, 0x00, 0x16, // Code, Identifier, Length 22
    0x03, 0x06, 0x0a, 0x01, 0x02, 0x03, // IP-Address 10.1.2.3
    0x81, 0x06, 0x0a, 0x00, 0x00, 0x35, // Primary-DNS 10.0.0.53
    0x83, 0x06, 0x0a, 0x00, 0x00, 0x36, // Secondary-DNS 10.0.0.54
];

/// The Configure-Ack of the request carrying the Naked values, id 2.
static IPCP_CONF_ACK: [u8; 22] = [
    0x02, 0x02, 0x00, 0x16, // Code, Identifier, Length 22
    0x03, 0x06, 0x0a, 0x01, 0x02, 0x03, // IP-Address 10.1.2.3
    0x81, 0x06, 0x0a, 0x00, 0x00, 0x35, // Primary-DNS 10.0.0.53
    0x83, 0x06, 0x0a, 0x00, 0x00, 0x36, // Secondary-DNS 10.0.0.54
];

/// A peer's request, id 5: IP-Address 10.0.0.1 (RFC 1332 §3.3),
/// IP-Compression-Protocol Van Jacobson 0x002d with Max-Slot-Id 15 and
/// Comp-Slot-Id 1 (§3.2), Primary-NBNS 10.0.0.5 and Secondary-NBNS
/// 10.0.0.6 (RFC 1877 §1.2, §1.4).
static IPCP_CONF_REQ_VJ: [u8; 28] = [
    0x01, 0x05, 0x00, 0x1c, // Code, Identifier, Length 28
    0x03, 0x06, 0x0a, 0x00, 0x00, 0x01, // IP-Address 10.0.0.1
    0x02, 0x06, 0x00, 0x2d, 0x0f, 0x01, // IP-Compression-Protocol VJ
    0x82, 0x06, 0x0a, 0x00, 0x00, 0x05, // Primary-NBNS
    0x84, 0x06, 0x0a, 0x00, 0x00, 0x06, // Secondary-NBNS
];

/// RFC 1661 §5.4: the Configure-Reject of that request, id 5 (VJ and NBNS
/// are not negotiated by the engine).
static IPCP_CONF_REJ: [u8; 22] = [
    0x04, 0x05, 0x00, 0x16, // Code, Identifier, Length 22
    0x02, 0x06, 0x00, 0x2d, 0x0f, 0x01, // IP-Compression-Protocol VJ
    0x82, 0x06, 0x0a, 0x00, 0x00, 0x05, // Primary-NBNS
    0x84, 0x06, 0x0a, 0x00, 0x00, 0x06, // Secondary-NBNS
];

// ===========================================================================
// Fixtures: IPV6CP (RFC 5072 §4).

/// §4.1 Interface-Identifier 0211:22ff:fe33:4455, id 1.
static IPV6CP_CONF_REQ: [u8; 14] = [
    0x01, 0x01, 0x00, 0x0e, // Code, Identifier, Length 14
    0x01, 0x0a, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55, // Interface-Identifier
];

/// §4.1 Configure-Nak suggesting ::1:2:3:4 instead, id 1.
static IPV6CP_CONF_NAK: [u8; 14] = [
    0x03, 0x01, 0x00, 0x0e, // Code, Identifier, Length 14
    0x01, 0x0a, 0x00, 0x01, 0x00, 0x02, 0x00, 0x03, 0x00, 0x04, // Interface-Identifier
];

/// §4.2 IPv6-Compression-Protocol IPHC (0x004f), rejected, id 1.
static IPV6CP_CONF_REJ: [u8; 8] = [0x04, 0x01, 0x00, 0x08, 0x02, 0x04, 0x00, 0x4f];

// ===========================================================================
// Helpers.

/// The options of a well-formed list, as (type, data).
fn options(data: &[u8]) -> Vec<(u8, Vec<u8>)> {
    Options::new(data)
        .expect("well-formed option list")
        .iter()
        .map(|o| (o.kind, o.data.to_vec()))
        .collect()
}

/// Parses a fixture and checks the header fields.
fn parse_checked(bytes: &[u8], code: u8, id: u8) -> Packet<'_> {
    let p = Packet::parse(bytes).expect("fixture parses");
    assert_eq!(p.code, code, "code of {bytes:02x?}");
    assert_eq!(p.id, id, "identifier of {bytes:02x?}");
    assert_eq!(p.data.len() + 4, bytes.len(), "length of {bytes:02x?}");
    assert_eq!(p.buffer_len(), bytes.len());
    // Re-emitting the parsed packet gives the same bytes.
    let mut out = Vec::new();
    p.emit(&mut out);
    assert_eq!(out, bytes);
    p
}

/// `emit_option` for a list of (type, data).
fn emit_options(list: &[(u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (kind, data) in list {
        wire::emit_option(*kind, data, &mut out);
    }
    out
}

fn mschap_response_value(peer_challenge: &[u8; 16], nt: &[u8; 24]) -> Vec<u8> {
    let mut v = peer_challenge.to_vec();
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(nt);
    v.push(0);
    v
}

// ===========================================================================
// Wire level: LCP.

#[test]
fn lcp_configure_request_and_ack_fixtures() {
    let expected: Vec<(u8, Vec<u8>)> = vec![
        (lcp::opt::MRU, vec![0x05, 0xdc]),
        (lcp::opt::ACCM, vec![0, 0, 0, 0]),
        (lcp::opt::AUTH_PROTOCOL, vec![0xc0, 0x23]),
        (lcp::opt::MAGIC_NUMBER, vec![1, 2, 3, 4]),
        (lcp::opt::PFC, vec![]),
        (lcp::opt::ACFC, vec![]),
    ];
    for (bytes, c) in [
        (&LCP_CONF_REQ, code::CONFIGURE_REQUEST),
        (&LCP_CONF_ACK, code::CONFIGURE_ACK),
    ] {
        let p = parse_checked(bytes, c, 1);
        assert_eq!(options(p.data), expected);
        let opts: Vec<_> = Options::new(p.data).unwrap().iter().collect();
        assert_eq!(opts[0].u16(), Some(1500));
        assert_eq!(opts[1].u32(), Some(0));
        assert_eq!(lcp::parse_auth_option(opts[2].data), Some(AuthMethod::Pap));
        assert_eq!(opts[3].u32(), Some(0x0102_0304));
        assert_eq!(Options::new(p.data).unwrap().as_bytes(), p.data);

        let data = emit_options(&[
            (lcp::opt::MRU, &1500u16.to_be_bytes()),
            (lcp::opt::ACCM, &0u32.to_be_bytes()),
            (
                lcp::opt::AUTH_PROTOCOL,
                lcp::auth_option_data(AuthMethod::Pap),
            ),
            (lcp::opt::MAGIC_NUMBER, &0x0102_0304u32.to_be_bytes()),
            (lcp::opt::PFC, &[]),
            (lcp::opt::ACFC, &[]),
        ]);
        assert_eq!(wire::build(c, 1, &data), bytes.as_slice());
        let mut out = vec![0xaa];
        wire::emit(c, 1, &data, &mut out);
        assert_eq!(&out[1..], bytes.as_slice());
    }
}

#[test]
fn lcp_configure_nak_and_reject_fixtures() {
    let p = parse_checked(&LCP_CONF_NAK, code::CONFIGURE_NAK, 1);
    assert_eq!(options(p.data), vec![(lcp::opt::MRU, vec![0x00, 0x80])]);
    let mru = emit_options(&[(lcp::opt::MRU, &lcp::MIN_MRU.to_be_bytes())]);
    assert_eq!(wire::build(code::CONFIGURE_NAK, 1, &mru), LCP_CONF_NAK);

    let p = parse_checked(&LCP_CONF_REJ, code::CONFIGURE_REJECT, 1);
    assert_eq!(options(p.data), vec![(13, vec![0x06])]);
    let cb = emit_options(&[(13, &[0x06])]);
    assert_eq!(wire::build(code::CONFIGURE_REJECT, 1, &cb), LCP_CONF_REJ);
}

#[test]
fn lcp_terminate_fixtures() {
    let p = parse_checked(&LCP_TERM_REQ, code::TERMINATE_REQUEST, 2);
    assert_eq!(p.data, b"bye");
    assert_eq!(
        wire::build(code::TERMINATE_REQUEST, 2, b"bye"),
        LCP_TERM_REQ
    );
    let p = parse_checked(&LCP_TERM_ACK, code::TERMINATE_ACK, 2);
    assert!(p.data.is_empty());
    assert_eq!(wire::build(code::TERMINATE_ACK, 2, &[]), LCP_TERM_ACK);
}

#[test]
fn lcp_code_reject_fixture() {
    let p = parse_checked(&LCP_CODE_REJ, code::CODE_REJECT, 3);
    // The Rejected-Packet is itself a packet: code 0x20, id 5, 4 octets.
    let inner = parse_checked(p.data, 0x20, 5);
    assert_eq!(inner.data, [0xde, 0xad, 0xbe, 0xef]);
    let rejected = wire::build(0x20, 5, &[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(wire::build(code::CODE_REJECT, 3, &rejected), LCP_CODE_REJ);
}

#[test]
fn lcp_protocol_reject_fixture() {
    let p = parse_checked(&LCP_PROTO_REJ, code::PROTOCOL_REJECT, 4);
    assert_eq!(u16::from_be_bytes([p.data[0], p.data[1]]), protocol::CCP);
    let inner = parse_checked(&p.data[2..], code::CONFIGURE_REQUEST, 7);
    assert!(inner.data.is_empty());
    let mut data = protocol::CCP.to_be_bytes().to_vec();
    data.extend_from_slice(&wire::build(code::CONFIGURE_REQUEST, 7, &[]));
    assert_eq!(wire::build(code::PROTOCOL_REJECT, 4, &data), LCP_PROTO_REJ);
}

#[test]
fn lcp_echo_and_discard_fixtures() {
    for (bytes, c, id, magic) in [
        (&LCP_ECHO_REQ, code::ECHO_REQUEST, 5, 0x0102_0304u32),
        (&LCP_ECHO_REP, code::ECHO_REPLY, 5, 0x0506_0708),
    ] {
        let p = parse_checked(bytes, c, id);
        assert_eq!(u32::from_be_bytes(p.data[..4].try_into().unwrap()), magic);
        assert_eq!(&p.data[4..], b"ping");
        let mut data = magic.to_be_bytes().to_vec();
        data.extend_from_slice(b"ping");
        assert_eq!(wire::build(c, id, &data), bytes.as_slice());
    }
    let p = parse_checked(&LCP_DISCARD, code::DISCARD_REQUEST, 6);
    assert_eq!(p.data, 0x0102_0304u32.to_be_bytes());
    assert_eq!(
        wire::build(code::DISCARD_REQUEST, 6, &0x0102_0304u32.to_be_bytes()),
        LCP_DISCARD
    );
}

#[test]
fn lcp_option_fixtures() {
    let table: [(&[u8], u8, &[u8]); 9] = [
        (&OPT_MRU, lcp::opt::MRU, &[0x05, 0xdc]),
        (&OPT_ACCM, lcp::opt::ACCM, &[0x00, 0x0a, 0x00, 0x00]),
        (&OPT_AUTH_PAP, lcp::opt::AUTH_PROTOCOL, &[0xc0, 0x23]),
        (
            &OPT_AUTH_CHAP_MD5,
            lcp::opt::AUTH_PROTOCOL,
            &[0xc2, 0x23, 0x05],
        ),
        (
            &OPT_AUTH_MSCHAPV2,
            lcp::opt::AUTH_PROTOCOL,
            &[0xc2, 0x23, 0x81],
        ),
        (
            &OPT_QUALITY,
            lcp::opt::QUALITY_PROTOCOL,
            &[0xc0, 0x25, 0x00, 0x00, 0x0b, 0xb8],
        ),
        (
            &OPT_MAGIC,
            lcp::opt::MAGIC_NUMBER,
            &[0x12, 0x34, 0x56, 0x78],
        ),
        (&OPT_PFC, lcp::opt::PFC, &[]),
        (&OPT_ACFC, lcp::opt::ACFC, &[]),
    ];
    for (bytes, kind, data) in table {
        let opts: Vec<_> = Options::new(bytes).unwrap().iter().collect();
        assert_eq!(opts.len(), 1, "{bytes:02x?}");
        assert_eq!(opts[0].kind, kind);
        assert_eq!(opts[0].data, data);
        assert_eq!(opts[0].buffer_len(), bytes.len());
        let mut out = Vec::new();
        wire::emit_option(kind, data, &mut out);
        assert_eq!(out, bytes);
        let mut out = Vec::new();
        opts[0].emit(&mut out);
        assert_eq!(out, bytes);
    }
    // Typed views.
    let one = |b: &'static [u8]| Options::new(b).unwrap().iter().next().unwrap();
    assert_eq!(one(&OPT_MRU).u16(), Some(1500));
    assert_eq!(one(&OPT_MRU).u32(), None);
    assert_eq!(one(&OPT_ACCM).u32(), Some((1 << 0x11) | (1 << 0x13)));
    assert!(Accm(one(&OPT_ACCM).u32().unwrap()).contains(0x11));
    assert!(Accm(one(&OPT_ACCM).u32().unwrap()).contains(0x13));
    assert!(!Accm(one(&OPT_ACCM).u32().unwrap()).contains(0x12));
    assert_eq!(one(&OPT_MAGIC).u32(), Some(0x1234_5678));
    assert_eq!(one(&OPT_QUALITY).data[..2], protocol::LQR.to_be_bytes());
    assert_eq!(
        u32::from_be_bytes(one(&OPT_QUALITY).data[2..].try_into().unwrap()),
        3000
    );
    // Authentication-Protocol, both ways.
    for (bytes, method) in [
        (&OPT_AUTH_PAP[..], AuthMethod::Pap),
        (&OPT_AUTH_CHAP_MD5[..], AuthMethod::ChapMd5),
        (&OPT_AUTH_MSCHAPV2[..], AuthMethod::MsChapV2),
    ] {
        assert_eq!(lcp::parse_auth_option(&bytes[2..]), Some(method));
        assert_eq!(lcp::auth_option_data(method), &bytes[2..]);
    }
    assert_eq!(OPT_AUTH_CHAP_MD5[4], lcp::CHAP_MD5);
    assert_eq!(OPT_AUTH_MSCHAPV2[4], lcp::CHAP_MSV2);
    // MS-CHAP v1 (0x80) and CHAP without an algorithm are not ours.
    assert_eq!(lcp::parse_auth_option(&[0xc2, 0x23, 0x80]), None);
    assert_eq!(lcp::parse_auth_option(&[0xc2, 0x23]), None);
    // Several options in one list come back in order.
    let mut all = Vec::new();
    for b in [
        &OPT_MRU[..],
        &OPT_ACCM,
        &OPT_AUTH_MSCHAPV2,
        &OPT_QUALITY,
        &OPT_MAGIC,
        &OPT_PFC,
        &OPT_ACFC,
    ] {
        all.extend_from_slice(b);
    }
    let kinds: Vec<u8> = options(&all).iter().map(|o| o.0).collect();
    assert_eq!(kinds, [1, 2, 3, 4, 5, 7, 8]);
}

// ===========================================================================
// Wire level: PAP, CHAP, MS-CHAP-v2.

#[test]
fn pap_fixtures() {
    let p = parse_checked(&PAP_REQ, pap::AUTHENTICATE_REQUEST, 1);
    assert_eq!(
        auth::split_pap_request(p.data),
        Some((&b"user"[..], &b"s3cr3t"[..]))
    );
    let mut data = vec![4];
    data.extend_from_slice(b"user");
    data.push(6);
    data.extend_from_slice(b"s3cr3t");
    assert_eq!(wire::build(pap::AUTHENTICATE_REQUEST, 1, &data), PAP_REQ);

    for (bytes, c, message) in [
        (PAP_ACK, pap::AUTHENTICATE_ACK, &b"Login ok"[..]),
        (PAP_NAK, pap::AUTHENTICATE_NAK, &b"Login incorrect"[..]),
    ] {
        let p = parse_checked(bytes, c, 1);
        assert_eq!(usize::from(p.data[0]), message.len());
        assert_eq!(auth::pap_message(p.data), message);
        let mut data = vec![message.len() as u8];
        data.extend_from_slice(message);
        assert_eq!(wire::build(c, 1, &data), bytes);
    }
    // Empty Peer-ID and Password are legal (RFC 1334 §2.2.1: lengths may be 0).
    assert_eq!(auth::split_pap_request(&[0, 0]), Some((&b""[..], &b""[..])));
}

#[test]
fn chap_md5_fixtures() {
    let p = parse_checked(&CHAP_CHALLENGE, chap::CHALLENGE, 1);
    let (value, name) = auth::split_value_name(p.data).unwrap();
    let challenge: Vec<u8> = (0x10..=0x1f).collect();
    assert_eq!(value, challenge.as_slice());
    assert_eq!(name, b"isp");
    let mut data = vec![16];
    data.extend_from_slice(&challenge);
    data.extend_from_slice(b"isp");
    assert_eq!(wire::build(chap::CHALLENGE, 1, &data), CHAP_CHALLENGE);

    let p = parse_checked(&CHAP_RESPONSE, chap::RESPONSE, 1);
    let (digest, name) = auth::split_value_name(p.data).unwrap();
    assert_eq!(name, b"user");
    // RFC 1994 §2: MD5 over Identifier, secret, Challenge Value.
    assert_eq!(digest, crypto::chap_md5_response(1, b"s3cr3t", &challenge));
    let mut data = vec![16];
    data.extend_from_slice(digest);
    data.extend_from_slice(b"user");
    assert_eq!(wire::build(chap::RESPONSE, 1, &data), CHAP_RESPONSE);

    for (bytes, c, message) in [
        (CHAP_SUCCESS, chap::SUCCESS, &b"Access granted"[..]),
        (CHAP_FAILURE, chap::FAILURE, &b"Access denied"[..]),
    ] {
        let p = parse_checked(bytes, c, 1);
        assert_eq!(p.data, message);
        assert_eq!(wire::build(c, 1, message), bytes);
    }
}

#[test]
fn mschapv2_fixtures() {
    // The §9.2 values hang together.
    assert_eq!(
        mschapv2::generate_nt_response(
            &MS_AUTH_CHALLENGE,
            &MS_PEER_CHALLENGE,
            MS_USER,
            MS_PASSWORD
        ),
        MS_NT_RESPONSE
    );
    assert_eq!(
        mschapv2::generate_authenticator_response(
            MS_PASSWORD,
            &MS_NT_RESPONSE,
            &MS_PEER_CHALLENGE,
            &MS_AUTH_CHALLENGE,
            MS_USER
        ),
        MS_AUTH_RESPONSE
    );

    let p = parse_checked(&MSCHAP_CHALLENGE, chap::CHALLENGE, 2);
    let (value, name) = auth::split_value_name(p.data).unwrap();
    assert_eq!(value, MS_AUTH_CHALLENGE);
    assert_eq!(name, b"isp");

    // RFC 2759 §4: the Response value layout.
    let p = parse_checked(&MSCHAP_RESPONSE, chap::RESPONSE, 2);
    let (value, name) = auth::split_value_name(p.data).unwrap();
    assert_eq!(value.len(), 49);
    assert_eq!(value[..16], MS_PEER_CHALLENGE);
    assert_eq!(value[16..24], [0; 8]);
    assert_eq!(value[24..48], MS_NT_RESPONSE);
    assert_eq!(value[48], 0);
    assert_eq!(name, MS_USER.as_bytes());
    let mut data = vec![49];
    data.extend_from_slice(&mschap_response_value(&MS_PEER_CHALLENGE, &MS_NT_RESPONSE));
    data.extend_from_slice(MS_USER.as_bytes());
    assert_eq!(wire::build(chap::RESPONSE, 2, &data), MSCHAP_RESPONSE);

    // §5 Success: "S=<40 hex> M=<message>"; the S= part checks out.
    let p = parse_checked(MSCHAP_SUCCESS, chap::SUCCESS, 2);
    let text = std::str::from_utf8(p.data).unwrap();
    let (s, m) = text.split_once(' ').unwrap();
    assert_eq!(s, MS_AUTH_RESPONSE);
    assert_eq!(m, "M=Access granted");
    assert!(mschapv2::check_authenticator_response(
        MS_PASSWORD,
        &MS_NT_RESPONSE,
        &MS_PEER_CHALLENGE,
        &MS_AUTH_CHALLENGE,
        MS_USER,
        s
    ));
    let msg = format!("{MS_AUTH_RESPONSE} M=Access granted");
    assert_eq!(
        wire::build(chap::SUCCESS, 2, msg.as_bytes()),
        MSCHAP_SUCCESS
    );

    // §6 Failure: "E=691 R=0 C=<32 hex> V=3 M=<message>".
    let p = parse_checked(MSCHAP_FAILURE, chap::FAILURE, 2);
    let text = std::str::from_utf8(p.data).unwrap();
    let fields: Vec<&str> = text.splitn(5, ' ').collect();
    assert_eq!(fields[0], "E=691");
    assert_eq!(fields[1], "R=0");
    let c = fields[2].strip_prefix("C=").unwrap();
    assert_eq!(c.len(), 32);
    let challenge: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&c[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert_eq!(challenge, MS_AUTH_CHALLENGE);
    assert_eq!(fields[3], "V=3");
    assert_eq!(fields[4], "M=Access denied");
    assert_eq!(
        auth::mschapv2_failure_text(text),
        "Access denied (error 691: authentication failure)"
    );
}

// ===========================================================================
// Wire level: IPCP and IPV6CP.

#[test]
fn ipcp_fixtures() {
    let addr = |o: &(u8, Vec<u8>)| Ipv4Addr::from(<[u8; 4]>::try_from(o.1.as_slice()).unwrap());

    let p = parse_checked(&IPCP_CONF_REQ, code::CONFIGURE_REQUEST, 1);
    let o = options(p.data);
    let kinds: Vec<u8> = o.iter().map(|o| o.0).collect();
    assert_eq!(
        kinds,
        [
            ipcp::opt::IP_ADDRESS,
            ipcp::opt::PRIMARY_DNS,
            ipcp::opt::SECONDARY_DNS
        ]
    );
    assert!(o.iter().all(|o| addr(o) == Ipv4Addr::UNSPECIFIED));
    let zero = Ipv4Addr::UNSPECIFIED.octets();
    let data = emit_options(&[
        (ipcp::opt::IP_ADDRESS, &zero),
        (ipcp::opt::PRIMARY_DNS, &zero),
        (ipcp::opt::SECONDARY_DNS, &zero),
    ]);
    assert_eq!(
        wire::build(code::CONFIGURE_REQUEST, 1, &data),
        IPCP_CONF_REQ
    );

    let assigned = [
        (ipcp::opt::IP_ADDRESS, Ipv4Addr::new(10, 1, 2, 3)),
        (ipcp::opt::PRIMARY_DNS, Ipv4Addr::new(10, 0, 0, 53)),
        (ipcp::opt::SECONDARY_DNS, Ipv4Addr::new(10, 0, 0, 54)),
    ];
    for (bytes, c, id) in [
        (&IPCP_CONF_NAK, code::CONFIGURE_NAK, 1),
        (&IPCP_CONF_ACK, code::CONFIGURE_ACK, 2),
    ] {
        let p = parse_checked(bytes, c, id);
        let got: Vec<(u8, Ipv4Addr)> = options(p.data).iter().map(|o| (o.0, addr(o))).collect();
        assert_eq!(got, assigned);
        let mut data = Vec::new();
        for (kind, a) in assigned {
            wire::emit_option(kind, &a.octets(), &mut data);
        }
        assert_eq!(wire::build(c, id, &data), bytes.as_slice());
    }

    // VJ (RFC 1332 §3.2: protocol 0x002d, Max-Slot-Id, Comp-Slot-Id) and NBNS.
    let p = parse_checked(&IPCP_CONF_REQ_VJ, code::CONFIGURE_REQUEST, 5);
    let o = options(p.data);
    assert_eq!(o[0].0, ipcp::opt::IP_ADDRESS);
    assert_eq!(addr(&o[0]), Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(o[1].0, ipcp::opt::IP_COMPRESSION_PROTOCOL);
    assert_eq!(o[1].1[..2], protocol::VJ_COMPRESSED.to_be_bytes());
    assert_eq!(o[1].1[2], 15, "Max-Slot-Id");
    assert_eq!(o[1].1[3], 1, "Comp-Slot-Id");
    assert_eq!(o[2].0, ipcp::opt::PRIMARY_NBNS);
    assert_eq!(addr(&o[2]), Ipv4Addr::new(10, 0, 0, 5));
    assert_eq!(o[3].0, ipcp::opt::SECONDARY_NBNS);
    assert_eq!(addr(&o[3]), Ipv4Addr::new(10, 0, 0, 6));
    let vj = emit_options(&[(ipcp::opt::IP_COMPRESSION_PROTOCOL, &[0x00, 0x2d, 15, 1])]);
    let nbns = emit_options(&[
        (ipcp::opt::PRIMARY_NBNS, &[10, 0, 0, 5]),
        (ipcp::opt::SECONDARY_NBNS, &[10, 0, 0, 6]),
    ]);
    let address = emit_options(&[(ipcp::opt::IP_ADDRESS, &[10, 0, 0, 1])]);
    let data = [address.as_slice(), &vj, &nbns].concat();
    assert_eq!(
        wire::build(code::CONFIGURE_REQUEST, 5, &data),
        IPCP_CONF_REQ_VJ
    );
    let p = parse_checked(&IPCP_CONF_REJ, code::CONFIGURE_REJECT, 5);
    assert_eq!(p.data, [vj, nbns].concat());
}

#[test]
fn ipv6cp_fixtures() {
    let id = [0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55];
    let p = parse_checked(&IPV6CP_CONF_REQ, code::CONFIGURE_REQUEST, 1);
    assert_eq!(
        options(p.data),
        vec![(ipv6cp::opt::INTERFACE_IDENTIFIER, id.to_vec())]
    );
    let data = emit_options(&[(ipv6cp::opt::INTERFACE_IDENTIFIER, &id)]);
    assert_eq!(
        wire::build(code::CONFIGURE_REQUEST, 1, &data),
        IPV6CP_CONF_REQ
    );
    assert_eq!(
        ipv6cp::link_local(id),
        "fe80::211:22ff:fe33:4455"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
    );

    let p = parse_checked(&IPV6CP_CONF_NAK, code::CONFIGURE_NAK, 1);
    let suggested = [0, 1, 0, 2, 0, 3, 0, 4];
    assert_eq!(
        options(p.data),
        vec![(ipv6cp::opt::INTERFACE_IDENTIFIER, suggested.to_vec())]
    );
    let data = emit_options(&[(ipv6cp::opt::INTERFACE_IDENTIFIER, &suggested)]);
    assert_eq!(wire::build(code::CONFIGURE_NAK, 1, &data), IPV6CP_CONF_NAK);

    let p = parse_checked(&IPV6CP_CONF_REJ, code::CONFIGURE_REJECT, 1);
    assert_eq!(
        options(p.data),
        vec![(ipv6cp::opt::IPV6_COMPRESSION_PROTOCOL, vec![0x00, 0x4f])]
    );
}

// ===========================================================================
// Wire level: malformed packets.

#[test]
fn malformed_packets_are_rejected_cleanly() {
    // Shorter than the 4-octet header (RFC 1661 §5).
    assert_eq!(Packet::parse(&[]), Err(ParseError::Truncated));
    assert_eq!(
        Packet::parse(&LCP_TERM_ACK[..3]),
        Err(ParseError::Truncated)
    );
    // Length below 4.
    for len in 0..4u8 {
        assert_eq!(
            Packet::parse(&[0x06, 0x02, 0x00, len]),
            Err(ParseError::BadLength),
            "length {len}"
        );
    }
    // Truncated: the Length field says more than arrived.
    for n in 4..LCP_CONF_REQ.len() {
        assert_eq!(
            Packet::parse(&LCP_CONF_REQ[..n]),
            Err(ParseError::BadLength),
            "{n} octets"
        );
    }
    assert_eq!(
        Packet::parse(&[0x06, 0x02, 0xff, 0xff]),
        Err(ParseError::BadLength)
    );
    // Octets past Length are padding, ignored (RFC 1661 §5).
    let mut padded = LCP_ECHO_REQ.to_vec();
    padded.extend_from_slice(&[0, 0, 0]);
    let p = Packet::parse(&padded).unwrap();
    assert_eq!(p.data, &LCP_ECHO_REQ[4..]);

    // Option lists (RFC 1661 §6): length 0 or 1, or running past the end.
    let bad: [&[u8]; 7] = [
        &[0x01],                   // no length octet
        &[0x01, 0x00],             // length 0
        &[0x01, 0x01],             // length 1
        &[0x01, 0x04, 0x05],       // length 4, 3 octets
        &[0x07, 0x02, 0x01, 0x00], // good PFC, then length 0
        &[0x07, 0x02, 0x05, 0x07, 0, 0, 0, 0],
        &[0x08, 0x02, 0x02, 0x06, 0, 0, 0], // ACCM cut short
    ];
    for b in bad {
        assert_eq!(
            Options::new(b).map(|_| ()),
            Err(ParseError::BadOption),
            "{b:02x?}"
        );
    }
    assert!(Options::new(&[]).unwrap().iter().next().is_none());
    // A packet whose header is fine but whose option list overruns.
    let req = wire::build(code::CONFIGURE_REQUEST, 9, &[0x01, 0x05, 0x05, 0xdc]);
    let p = Packet::parse(&req).unwrap();
    assert_eq!(Options::new(p.data).map(|_| ()), Err(ParseError::BadOption));
    // Wrong-sized values have no typed view.
    let o = Options::new(&[0x01, 0x03, 0x05])
        .unwrap()
        .iter()
        .next()
        .unwrap();
    assert_eq!(o.u16(), None);
    assert_eq!(o.u32(), None);

    // PAP (RFC 1334 §2.2.1): lengths that overrun.
    assert_eq!(
        auth::split_pap_request(&PAP_REQ[4..PAP_REQ.len() - 1]),
        None
    );
    assert_eq!(auth::split_pap_request(&[4, b'u', b's']), None);
    assert_eq!(auth::split_pap_request(&[4, b'u', b's', b'e', b'r']), None);
    assert_eq!(auth::split_pap_request(&[]), None);
    // A Msg-Length beyond the packet is clamped, never indexed past.
    assert_eq!(auth::pap_message(&[200, b'o', b'k']), b"ok");
    assert_eq!(auth::pap_message(&[]), b"");
    // CHAP (RFC 1994 §4.1): a Value-Size beyond the packet.
    assert_eq!(auth::split_value_name(&CHAP_CHALLENGE[4..12]), None);
    assert_eq!(auth::split_value_name(&[]), None);
    assert_eq!(auth::split_value_name(&[0]), Some((&b""[..], &b""[..])));
}

// ===========================================================================
// Wire level: the trace.

#[test]
fn trace_describes_every_fixture() {
    let lcp = [
        &LCP_CONF_REQ[..],
        &LCP_CONF_ACK,
        &LCP_CONF_NAK,
        &LCP_CONF_REJ,
        &LCP_TERM_REQ,
        &LCP_TERM_ACK,
        &LCP_CODE_REJ,
        &LCP_PROTO_REJ,
        &LCP_ECHO_REQ,
        &LCP_ECHO_REP,
        &LCP_DISCARD,
    ];
    let names = [
        "Configure-Request",
        "Configure-Ack",
        "Configure-Nak",
        "Configure-Reject",
        "Terminate-Request",
        "Terminate-Ack",
        "Code-Reject",
        "Protocol-Reject",
        "Echo-Request",
        "Echo-Reply",
        "Discard-Request",
    ];
    for (bytes, name) in lcp.iter().zip(names) {
        let text = trace::describe(protocol::LCP, bytes);
        let id = bytes[1];
        assert!(text.starts_with(&format!("LCP {name} id={id}")), "{text}");
        assert!(!text.contains("malformed"), "{text}");
    }
    let cases: [(u16, &[u8], &str); 22] = [
        (
            protocol::LCP,
            &LCP_CONF_REQ,
            "LCP Configure-Request id=1 <mru 1500> <asyncmap 0x0> <auth PAP> \
             <magic 0x01020304> <pcomp> <accomp>",
        ),
        (protocol::LCP, &LCP_CONF_NAK, "LCP Configure-Nak id=1 <mru 128>"),
        (
            protocol::LCP,
            &LCP_CONF_REJ,
            "LCP Configure-Reject id=1 <callback 06>",
        ),
        (
            protocol::LCP,
            &LCP_TERM_REQ,
            "LCP Terminate-Request id=2 \"bye\"",
        ),
        (protocol::LCP, &LCP_TERM_ACK, "LCP Terminate-Ack id=2"),
        (
            protocol::LCP,
            &LCP_CODE_REJ,
            "LCP Code-Reject id=3 rejects unknown code",
        ),
        (
            protocol::LCP,
            &LCP_PROTO_REJ,
            "LCP Protocol-Reject id=4 rejects 0x80fd (CCP)",
        ),
        (
            protocol::LCP,
            &LCP_ECHO_REQ,
            "LCP Echo-Request id=5 magic=0x01020304",
        ),
        (
            protocol::LCP,
            &LCP_ECHO_REP,
            "LCP Echo-Reply id=5 magic=0x05060708",
        ),
        (
            protocol::LCP,
            &LCP_DISCARD,
            "LCP Discard-Request id=6 magic=0x01020304",
        ),
        (
            protocol::PAP,
            &PAP_REQ,
            "PAP Authenticate-Request id=1 user=\"user\" password=<hidden>",
        ),
        (
            protocol::PAP,
            PAP_ACK,
            "PAP Authenticate-Ack id=1 \"Login ok\"",
        ),
        (
            protocol::PAP,
            PAP_NAK,
            "PAP Authenticate-Nak id=1 \"Login incorrect\"",
        ),
        (
            protocol::CHAP,
            &CHAP_CHALLENGE,
            "CHAP Challenge id=1 <16 bytes> name=\"isp\"",
        ),
        (
            protocol::CHAP,
            &CHAP_RESPONSE,
            "CHAP Response id=1 <16 bytes> name=\"user\"",
        ),
        (
            protocol::CHAP,
            CHAP_SUCCESS,
            "CHAP Success id=1 \"Access granted\"",
        ),
        (
            protocol::CHAP,
            &MSCHAP_RESPONSE,
            "CHAP Response id=2 <49 bytes> name=\"User\"",
        ),
        (
            protocol::CHAP,
            MSCHAP_FAILURE,
            "CHAP Failure id=2 \"E=691 R=0 C=5B5D7C7D7B3F2F3E3C2C602132262628 V=3 M=Access denied\"",
        ),
        (
            protocol::IPCP,
            &IPCP_CONF_REQ,
            "IPCP Configure-Request id=1 <addr 0.0.0.0> <ms-dns1 0.0.0.0> <ms-dns2 0.0.0.0>",
        ),
        (
            protocol::IPCP,
            &IPCP_CONF_REQ_VJ,
            "IPCP Configure-Request id=5 <addr 10.0.0.1> <compress VJ 16 1> \
             <ms-wins1 10.0.0.5> <ms-wins2 10.0.0.6>",
        ),
        (
            protocol::IPV6CP,
            &IPV6CP_CONF_REQ,
            "IPV6CP Configure-Request id=1 <addr fe80::211:22ff:fe33:4455>",
        ),
        (
            protocol::IPV6CP,
            &IPV6CP_CONF_REJ,
            "IPV6CP Configure-Reject id=1 <compress 004f>",
        ),
    ];
    for (proto, bytes, expected) in cases {
        assert_eq!(trace::describe(proto, bytes), expected);
    }
    // Each option on its own, in a Configure-Request.
    for (opt, text) in [
        (&OPT_ACCM[..], "<asyncmap 0xa0000>"),
        (&OPT_AUTH_CHAP_MD5, "<auth CHAP-MD5>"),
        (&OPT_AUTH_MSCHAPV2, "<auth MS-CHAPv2>"),
        (&OPT_QUALITY, "<quality c02500000bb8>"),
        (&OPT_MAGIC, "<magic 0x12345678>"),
    ] {
        let pkt = wire::build(code::CONFIGURE_REQUEST, 1, opt);
        assert_eq!(
            trace::describe(protocol::LCP, &pkt),
            format!("LCP Configure-Request id=1 {text}")
        );
    }
    // The MS-CHAP-v2 Success and the Nak/Ack of IPCP and IPV6CP.
    let s = trace::describe(protocol::CHAP, MSCHAP_SUCCESS);
    assert!(s.starts_with("CHAP Success id=2 \"S=407A"), "{s}");
    for (bytes, name) in [
        (&IPCP_CONF_NAK, "Configure-Nak id=1"),
        (&IPCP_CONF_ACK, "Configure-Ack id=2"),
    ] {
        assert_eq!(
            trace::describe(protocol::IPCP, bytes),
            format!("IPCP {name} <addr 10.1.2.3> <ms-dns1 10.0.0.53> <ms-dns2 10.0.0.54>")
        );
    }
    assert_eq!(
        trace::describe(protocol::IPCP, &IPCP_CONF_REJ),
        "IPCP Configure-Reject id=5 <compress VJ 16 1> <ms-wins1 10.0.0.5> <ms-wins2 10.0.0.6>"
    );
    assert_eq!(
        trace::describe(protocol::IPV6CP, &IPV6CP_CONF_NAK),
        "IPV6CP Configure-Nak id=1 <addr fe80::1:2:3:4>"
    );
    // Malformed input is described, not panicked on.
    assert_eq!(
        trace::describe(protocol::LCP, &LCP_CONF_REQ[..10]),
        "LCP malformed packet (10 bytes)"
    );
    let bad = wire::build(code::CONFIGURE_REQUEST, 9, &[0x01, 0x05, 0x05, 0xdc]);
    assert_eq!(
        trace::describe(protocol::LCP, &bad),
        "LCP Configure-Request id=9 (malformed option list)"
    );
    assert_eq!(
        trace::describe(protocol::PAP, &wire::build(1, 3, &[9, b'x'])),
        "PAP Authenticate-Request id=3 (malformed)"
    );
    assert_eq!(
        trace::describe(protocol::CHAP, &wire::build(1, 3, &[9, b'x'])),
        "CHAP Challenge id=3 (malformed)"
    );
    // The PAP password never shows, whatever it is.
    assert!(!trace::describe(protocol::PAP, &PAP_REQ).contains("s3cr3t"));
}

// ===========================================================================
// Through a Link.

const LCP: u16 = protocol::LCP;
const PAP: u16 = protocol::PAP;
const CHAP: u16 = protocol::CHAP;
const IPCP: u16 = protocol::IPCP;
const IPV6CP: u16 = protocol::IPV6CP;

/// The peer's Magic-Number.
const PEER_MAGIC: u32 = 0x0a0b_0c0d;

/// A Link and the far end of its serial line.
struct Peer {
    link: Link,
    now: Instant,
    encoder: Encoder,
    decoder: Decoder,
    /// The raw bytes of the last batch the link transmitted.
    raw: Vec<u8>,
    /// The trace texts so far.
    traces: Vec<String>,
    /// Every non-trace event so far.
    events: Vec<Event>,
}

impl Peer {
    fn new(config: Config, role: Role) -> Self {
        let mut decoder = Decoder::new(1500);
        // Accept both escaped and raw control characters: after LCP opens
        // the link escapes only what our ACCM (0) asks.
        decoder.set_accm(Accm::NONE);
        Peer {
            link: Link::new(config, role, [1u8; 32]),
            now: Instant::ZERO,
            encoder: Encoder::new(TxOptions::DEFAULT),
            decoder,
            raw: Vec::new(),
            traces: Vec::new(),
            events: Vec::new(),
        }
    }

    fn dialer(user: &str, password: &str) -> Self {
        Peer::new(
            Config::default(),
            Role::Dialer {
                credentials: Some(Credentials {
                    user: user.into(),
                    password: password.into(),
                }),
            },
        )
    }

    fn answerer(methods: Vec<AuthMethod>) -> Self {
        let mut config = Config::default();
        config.auth.methods = methods;
        config.auth.name = "isp".into();
        Peer::new(
            config,
            Role::Answerer {
                secrets: Box::new(|u: &str| match u {
                    "user" => Some("s3cr3t".to_string()),
                    MS_USER => Some(MS_PASSWORD.to_string()),
                    _ => None,
                }),
            },
        )
    }

    /// `open`, and what the link sends.
    fn open(&mut self) -> Vec<(u16, Vec<u8>)> {
        self.link.open(self.now);
        self.transmitted()
    }

    /// Drains `poll_transmit` and the events; returns the frames sent.
    fn transmitted(&mut self) -> Vec<(u16, Vec<u8>)> {
        let mut raw = Vec::new();
        let mut buf = [0u8; 64];
        while let Some(n) = self.link.poll_transmit(&mut buf) {
            raw.extend_from_slice(&buf[..n]);
        }
        let mut frames = Vec::new();
        let mut input = raw.as_slice();
        while let Some(result) = self.decoder.decode(&mut input) {
            let frame = result.expect("the link sends only good frames");
            frames.push((frame.protocol, frame.payload.to_vec()));
        }
        self.raw = raw;
        while let Some(event) = self.link.poll_event() {
            match event {
                Event::Trace(t) => self.traces.push(t.text),
                other => self.events.push(other),
            }
        }
        frames
    }

    /// Frames `packet` as the peer would before LCP opens and feeds it in;
    /// returns what the link sends in reply.
    fn send(&mut self, proto: u16, packet: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let mut bytes = Vec::new();
        self.encoder.encode(proto, packet, &mut bytes);
        self.link.handle_input(&bytes, self.now);
        self.transmitted()
    }

    fn ups(&self) -> Vec<&LinkInfo> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Up(info) => Some(info),
                _ => None,
            })
            .collect()
    }

    fn down(&self) -> Option<&DownReason> {
        self.events.iter().find_map(|e| match e {
            Event::Down(r) => Some(r),
            _ => None,
        })
    }
}

/// The only frame in `frames`, which must be of `proto`.
fn only(frames: &[(u16, Vec<u8>)], proto: u16) -> Vec<u8> {
    assert_eq!(frames.len(), 1, "expected one frame: {frames:02x?}");
    assert_eq!(frames[0].0, proto, "protocol of {frames:02x?}");
    frames[0].1.clone()
}

/// The frames of one protocol.
fn of(frames: &[(u16, Vec<u8>)], proto: u16) -> Vec<Vec<u8>> {
    frames
        .iter()
        .filter(|f| f.0 == proto)
        .map(|f| f.1.clone())
        .collect()
}

/// The peer's acceptable LCP options: ACCM 0, its magic, PFC, ACFC, and
/// `auth` if it asks us to authenticate.
fn peer_lcp_options(auth: Option<&[u8]>) -> Vec<u8> {
    let mut data = Vec::new();
    wire::emit_option(lcp::opt::ACCM, &[0; 4], &mut data);
    if let Some(a) = auth {
        wire::emit_option(lcp::opt::AUTH_PROTOCOL, a, &mut data);
    }
    wire::emit_option(lcp::opt::MAGIC_NUMBER, &PEER_MAGIC.to_be_bytes(), &mut data);
    wire::emit_option(lcp::opt::PFC, &[], &mut data);
    wire::emit_option(lcp::opt::ACFC, &[], &mut data);
    data
}

/// The Magic-Number in an LCP Configure-Request.
fn magic_of(request: &[u8]) -> u32 {
    let p = Packet::parse(request).unwrap();
    Options::new(p.data)
        .unwrap()
        .iter()
        .find(|o| o.kind == lcp::opt::MAGIC_NUMBER)
        .and_then(|o| o.u32())
        .expect("a Magic-Number")
}

/// Takes the link's LCP to Opened: Acks its first request verbatim
/// (RFC 1661 §5.2) and sends an acceptable one, which must be Acked
/// verbatim too. Returns our Magic-Number and what followed the Ack.
fn open_lcp(peer: &mut Peer, auth: Option<&[u8]>) -> (u32, Vec<(u16, Vec<u8>)>) {
    let request = only(&peer.open(), LCP);
    let p = Packet::parse(&request).unwrap();
    assert_eq!(p.code, code::CONFIGURE_REQUEST);
    let ack = wire::build(code::CONFIGURE_ACK, p.id, p.data);
    assert!(peer.send(LCP, &ack).is_empty());
    assert_eq!(peer.link.lcp_state(), State::AckRcvd);

    let ours = wire::build(code::CONFIGURE_REQUEST, 0x11, &peer_lcp_options(auth));
    let frames = peer.send(LCP, &ours);
    let mut expected_ack = ours.clone();
    expected_ack[0] = code::CONFIGURE_ACK;
    assert_eq!(frames[0], (LCP, expected_ack));
    assert_eq!(peer.link.lcp_state(), State::Opened);
    (magic_of(&request), frames[1..].to_vec())
}

// ---- the first frame --------------------------------------------------------

#[test]
fn dialer_first_frame_is_the_default_configure_request() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    let request = only(&peer.open(), LCP);
    let p = Packet::parse(&request).unwrap();
    assert_eq!((p.code, p.id), (code::CONFIGURE_REQUEST, 1));
    let magic = magic_of(&request);
    assert_ne!(magic, 0, "RFC 1661 §6.4: zero is not a Magic-Number");
    // lcp.rs reset/build_request: ACCM 0, Magic-Number, PFC, ACFC; no MRU
    // (1500 is the default), no Authentication-Protocol (the dialer asks
    // for none).
    assert_eq!(
        options(p.data),
        vec![
            (lcp::opt::ACCM, vec![0, 0, 0, 0]),
            (lcp::opt::MAGIC_NUMBER, magic.to_be_bytes().to_vec()),
            (lcp::opt::PFC, vec![]),
            (lcp::opt::ACFC, vec![]),
        ]
    );
    // RFC 1662 §7.1 / RFC 1661 §6.6: sent with every control character
    // escaped, address and control present, two-octet protocol.
    assert_eq!(
        peer.raw[..8],
        [0x7e, 0xff, 0x7d, 0x23, 0xc0, 0x21, 0x7d, 0x21]
    );
    assert_eq!(
        peer.traces,
        [format!(
            "LCP Configure-Request id=1 <asyncmap 0x0> <magic 0x{magic:08x}> <pcomp> <accomp>"
        )]
    );
    assert_eq!(peer.events, [Event::Phase(Phase::Establish)]);
    assert_eq!(peer.link.phase(), Phase::Establish);
}

#[test]
fn answerer_first_frame_asks_for_authentication() {
    for (methods, auth) in [
        (AuthMethod::ALL.to_vec(), Some(&OPT_AUTH_MSCHAPV2[2..])),
        (vec![AuthMethod::ChapMd5], Some(&OPT_AUTH_CHAP_MD5[2..])),
        (vec![AuthMethod::Pap], Some(&OPT_AUTH_PAP[2..])),
        (vec![], None),
    ] {
        let mut peer = Peer::answerer(methods.clone());
        let request = only(&peer.open(), LCP);
        let p = Packet::parse(&request).unwrap();
        assert_eq!((p.code, p.id), (code::CONFIGURE_REQUEST, 1));
        let magic = magic_of(&request);
        let mut expected = vec![(lcp::opt::ACCM, vec![0, 0, 0, 0])];
        if let Some(a) = auth {
            expected.push((lcp::opt::AUTH_PROTOCOL, a.to_vec()));
        }
        expected.extend([
            (lcp::opt::MAGIC_NUMBER, magic.to_be_bytes().to_vec()),
            (lcp::opt::PFC, vec![]),
            (lcp::opt::ACFC, vec![]),
        ]);
        assert_eq!(options(p.data), expected, "{methods:?}");
    }
}

// ---- judging the peer's Configure-Request -----------------------------------

#[test]
fn unknown_option_is_configure_rejected_verbatim() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    peer.open();
    // Callback (RFC 1570) between two acceptable options.
    let mut data = Vec::new();
    data.extend_from_slice(&OPT_ACCM);
    data.extend_from_slice(&[0x0d, 0x03, 0x06]);
    data.extend_from_slice(&OPT_MAGIC);
    let reply = only(
        &peer.send(LCP, &wire::build(code::CONFIGURE_REQUEST, 0x33, &data)),
        LCP,
    );
    assert_eq!(
        reply,
        wire::build(code::CONFIGURE_REJECT, 0x33, &[0x0d, 0x03, 0x06])
    );
    assert_eq!(
        peer.traces.last().unwrap(),
        "LCP Configure-Reject id=51 <callback 06>"
    );

    // Quality-Protocol (RFC 1661 §6.3) is not supported either; a Reject
    // takes precedence over a Nak for the same request (§5.3, §5.4).
    let mut data = Vec::new();
    data.extend_from_slice(&[0x01, 0x04, 0x00, 0x40]); // MRU 64: would be Naked
    data.extend_from_slice(&OPT_QUALITY);
    let reply = only(
        &peer.send(LCP, &wire::build(code::CONFIGURE_REQUEST, 0x34, &data)),
        LCP,
    );
    assert_eq!(
        reply,
        wire::build(code::CONFIGURE_REJECT, 0x34, &OPT_QUALITY)
    );
}

#[test]
fn small_mru_is_naked_with_128() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    peer.open();
    let mut data = vec![0x01, 0x04, 0x00, 0x40]; // MRU 64
    data.extend_from_slice(&OPT_MAGIC);
    let reply = only(
        &peer.send(LCP, &wire::build(code::CONFIGURE_REQUEST, 0x44, &data)),
        LCP,
    );
    // RFC 1661 §5.3: only the offending option, with an acceptable value.
    let mut expected = LCP_CONF_NAK;
    expected[1] = 0x44;
    assert_eq!(reply, expected);
}

#[test]
fn zero_magic_number_is_naked() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    peer.open();
    let data = [0x05, 0x06, 0, 0, 0, 0];
    let reply = only(
        &peer.send(LCP, &wire::build(code::CONFIGURE_REQUEST, 0x45, &data)),
        LCP,
    );
    let p = Packet::parse(&reply).unwrap();
    assert_eq!((p.code, p.id), (code::CONFIGURE_NAK, 0x45));
    let o = options(p.data);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].0, lcp::opt::MAGIC_NUMBER);
    assert_eq!(o[0].1.len(), 4);
    assert_ne!(
        o[0].1,
        [0, 0, 0, 0],
        "RFC 1661 §6.4: suggest a non-zero number"
    );
}

#[test]
fn authentication_protocol_requests_are_judged_per_role() {
    // A dialer with credentials Naks an algorithm it does not know (MS-CHAP
    // v1) with the one it prefers (RFC 1661 §6.2).
    let mut peer = Peer::dialer("user", "s3cr3t");
    peer.open();
    let reply = only(
        &peer.send(
            LCP,
            &wire::build(code::CONFIGURE_REQUEST, 2, &[0x03, 0x05, 0xc2, 0x23, 0x80]),
        ),
        LCP,
    );
    assert_eq!(
        reply,
        wire::build(code::CONFIGURE_NAK, 2, &OPT_AUTH_MSCHAPV2)
    );

    // A dialer without credentials rejects authentication.
    let mut peer = Peer::new(Config::default(), Role::Dialer { credentials: None });
    peer.open();
    let reply = only(
        &peer.send(LCP, &wire::build(code::CONFIGURE_REQUEST, 3, &OPT_AUTH_PAP)),
        LCP,
    );
    assert_eq!(reply, wire::build(code::CONFIGURE_REJECT, 3, &OPT_AUTH_PAP));

    // An answerer does not authenticate itself to callers.
    let mut peer = Peer::answerer(vec![AuthMethod::Pap]);
    peer.open();
    let reply = only(
        &peer.send(
            LCP,
            &wire::build(code::CONFIGURE_REQUEST, 4, &OPT_AUTH_CHAP_MD5),
        ),
        LCP,
    );
    assert_eq!(
        reply,
        wire::build(code::CONFIGURE_REJECT, 4, &OPT_AUTH_CHAP_MD5)
    );
}

#[test]
fn malformed_configure_request_gets_no_reply() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    peer.open();
    // Option length 1 (RFC 1661 §6): the packet is silently discarded.
    for data in [&[0x07, 0x01][..], &[0x01, 0x00], &[0x05, 0x08, 1, 2, 3, 4]] {
        let frames = peer.send(LCP, &wire::build(code::CONFIGURE_REQUEST, 7, data));
        assert!(frames.is_empty(), "{data:02x?}: {frames:02x?}");
    }
    // A Length beyond the frame.
    let frames = peer.send(LCP, &[0x01, 0x07, 0x00, 0x20, 0x07, 0x02]);
    assert!(frames.is_empty());
    assert!(peer.link.stats().discarded >= 1);
    assert_eq!(peer.link.lcp_state(), State::ReqSent);
}

// ---- LCP opened --------------------------------------------------------------

#[test]
fn echo_request_gets_echo_reply_with_our_magic() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    let (magic, _) = open_lcp(&mut peer, None);
    let mut data = PEER_MAGIC.to_be_bytes().to_vec();
    data.extend_from_slice(b"hello\x00\x7e\x7d");
    let reply = only(
        &peer.send(LCP, &wire::build(code::ECHO_REQUEST, 0x42, &data)),
        LCP,
    );
    // RFC 1661 §5.8: same Identifier, our Magic-Number, the Data copied.
    let mut expected = magic.to_be_bytes().to_vec();
    expected.extend_from_slice(b"hello\x00\x7e\x7d");
    assert_eq!(reply, wire::build(code::ECHO_REPLY, 0x42, &expected));
    assert_eq!(
        peer.traces.last().unwrap(),
        &format!("LCP Echo-Reply id=66 magic=0x{magic:08x}")
    );
}

#[test]
fn lcp_frames_keep_address_and_control_after_acfc() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    open_lcp(&mut peer, None);
    let mut data = PEER_MAGIC.to_be_bytes().to_vec();
    data.extend_from_slice(b"x");
    let frames = peer.send(LCP, &wire::build(code::ECHO_REQUEST, 1, &data));
    assert_eq!(only(&frames, LCP)[0], code::ECHO_REPLY);
    // RFC 1661 §6.6: "The Address and Control fields MUST NOT be compressed
    // when sending any LCP packet."
    assert_eq!(
        peer.raw[..5],
        [0x7e, 0xff, 0x03, 0xc0, 0x21],
        "{:02x?}",
        peer.raw
    );
}

#[test]
fn echo_and_discard_before_opened_are_silently_discarded() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    peer.open();
    // RFC 1661 §5.8, §5.9: only in the Opened state.
    assert!(peer.send(LCP, &LCP_ECHO_REQ).is_empty());
    assert!(peer.send(LCP, &LCP_DISCARD).is_empty());
    // Protocol-Reject is only sent in the Opened state (§5.7).
    assert!(peer
        .send(protocol::CCP, &wire::build(code::CONFIGURE_REQUEST, 1, &[]))
        .is_empty());
    // No IPCP (RFC 1332 §2) nor IPV6CP (RFC 5072 §3) before the network
    // phase, and no IP.
    assert!(peer.send(IPCP, &IPCP_CONF_REQ_VJ).is_empty());
    assert!(peer.send(IPV6CP, &IPV6CP_CONF_REQ).is_empty());
    assert!(peer.send(protocol::IPV4, &ipv4_packet()).is_empty());
    assert!(peer.link.poll_packet().is_none());
}

#[test]
fn discard_request_gets_nothing() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    open_lcp(&mut peer, None);
    let mut data = PEER_MAGIC.to_be_bytes().to_vec();
    data.extend_from_slice(b"discard me");
    assert!(peer
        .send(LCP, &wire::build(code::DISCARD_REQUEST, 9, &data))
        .is_empty());
    assert_eq!(peer.link.lcp_state(), State::Opened);
}

#[test]
fn unknown_lcp_code_is_code_rejected() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    open_lcp(&mut peer, None);
    let unknown = [0x20, 0x09, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04];
    let reply = only(&peer.send(LCP, &unknown), LCP);
    // RFC 1661 §5.6: Code-Reject carrying the rejected packet.
    let p = Packet::parse(&reply).unwrap();
    assert_eq!(p.code, code::CODE_REJECT);
    assert_eq!(p.data, unknown);
    assert_eq!(reply, wire::build(code::CODE_REJECT, p.id, &unknown));
    assert_eq!(
        peer.traces.last().unwrap(),
        &format!("LCP Code-Reject id={} rejects unknown code", p.id)
    );
    assert_eq!(peer.link.lcp_state(), State::Opened);
}

#[test]
fn code_reject_carries_the_packet_without_padding() {
    // RFC 1661 §5: octets past Length are padding, ignored on reception; the
    // Rejected-Packet (§5.6) is the packet itself.
    let mut peer = Peer::dialer("user", "s3cr3t");
    open_lcp(&mut peer, None);
    let unknown = [0x20, 0x09, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04];
    let mut padded = unknown.to_vec();
    padded.extend_from_slice(&[0xee, 0xee]);
    let reply = only(&peer.send(LCP, &padded), LCP);
    let p = Packet::parse(&reply).unwrap();
    assert_eq!(p.code, code::CODE_REJECT);
    assert_eq!(p.data, unknown);

    // IPCP has codes 1 to 7 only (RFC 1332 §2); others are Code-Rejected.
    let unknown = [0x09, 0x03, 0x00, 0x05, 0xaa];
    let mut padded = unknown.to_vec();
    padded.extend_from_slice(&[0, 0, 0]);
    let reply = only(&peer.send(IPCP, &padded), IPCP);
    let p = Packet::parse(&reply).unwrap();
    assert_eq!(p.code, code::CODE_REJECT);
    assert_eq!(p.data, unknown);
    assert_eq!(
        peer.traces.last().unwrap(),
        &format!("IPCP Code-Reject id={} rejects Echo-Request", p.id)
    );
}

#[test]
fn unknown_protocol_is_protocol_rejected() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    open_lcp(&mut peer, None);
    let before = peer.link.stats().discarded;
    // A CCP Configure-Request with MPPE (RFC 3078 §2.1).
    let ccp = [0x01, 0x01, 0x00, 0x0a, 0x12, 0x06, 0x01, 0x00, 0x00, 0x40];
    let reply = only(&peer.send(protocol::CCP, &ccp), LCP);
    // RFC 1661 §5.7: Rejected-Protocol then the rejected information.
    let p = Packet::parse(&reply).unwrap();
    assert_eq!(p.code, code::PROTOCOL_REJECT);
    assert_eq!(p.data[..2], [0x80, 0xfd]);
    assert_eq!(&p.data[2..], ccp);
    assert_eq!(
        peer.traces.last().unwrap(),
        &format!("LCP Protocol-Reject id={} rejects 0x80fd (CCP)", p.id)
    );
    assert_eq!(peer.link.stats().discarded, before + 1);
    assert_eq!(peer.link.lcp_state(), State::Opened);
}

/// A minimal IPv4 header (20 octets, no payload) from 10.0.0.1 to 10.1.2.3.
fn ipv4_packet() -> Vec<u8> {
    vec![
        0x45, 0x00, 0x00, 0x14, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 10, 0, 0, 1, 10, 1,
        2, 3,
    ]
}

#[test]
fn ipv4_before_ipcp_opened_is_discarded() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    open_lcp(&mut peer, None);
    assert_eq!(peer.link.phase(), Phase::Network);
    let before = *peer.link.stats();
    // RFC 1332 §2.1: no IP until IPCP is Opened; the packet is discarded
    // (not Protocol-Rejected: IPv4 is a protocol we speak).
    assert!(peer.send(protocol::IPV4, &ipv4_packet()).is_empty());
    assert!(peer.link.poll_packet().is_none());
    assert_eq!(peer.link.stats().discarded, before.discarded + 1);
    assert_eq!(peer.link.stats().rx_packets, before.rx_packets);
}

// ---- IPCP and IPV6CP -----------------------------------------------------------

#[test]
fn dialer_ipcp_takes_the_naked_address_and_dns() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    let (_, frames) = open_lcp(&mut peer, None);
    assert_eq!(peer.link.phase(), Phase::Network);
    // Our first IPCP request: IP-Address and both DNS as 0.0.0.0, id 1.
    assert_eq!(of(&frames, IPCP), [IPCP_CONF_REQ.to_vec()]);

    // The peer's request with VJ and NBNS: those are rejected, verbatim.
    let reply = only(&peer.send(IPCP, &IPCP_CONF_REQ_VJ), IPCP);
    assert_eq!(reply, IPCP_CONF_REJ);

    // The Nak assigns the address and DNS: our next request carries them.
    let request = only(&peer.send(IPCP, &IPCP_CONF_NAK), IPCP);
    let mut expected = IPCP_CONF_ACK;
    expected[0] = code::CONFIGURE_REQUEST;
    assert_eq!(request, expected);

    // Ack it; the peer asks for 10.0.0.1 alone, which we Ack.
    assert!(peer.send(IPCP, &IPCP_CONF_ACK).is_empty());
    let theirs = wire::build(code::CONFIGURE_REQUEST, 6, &[0x03, 0x06, 10, 0, 0, 1]);
    let reply = only(&peer.send(IPCP, &theirs), IPCP);
    assert_eq!(
        reply,
        wire::build(code::CONFIGURE_ACK, 6, &[0x03, 0x06, 10, 0, 0, 1])
    );
    let expected_info = LinkInfo {
        ipv4: Some(Ipv4Info {
            local: Some(Ipv4Addr::new(10, 1, 2, 3)),
            remote: Some(Ipv4Addr::new(10, 0, 0, 1)),
            dns: vec![Ipv4Addr::new(10, 0, 0, 53), Ipv4Addr::new(10, 0, 0, 54)],
        }),
        ipv6: None,
        mtu: 1500,
        mru: 1500,
        auth: None,
        peer_name: None,
    };
    assert_eq!(peer.ups(), [&expected_info]);
    assert_eq!(peer.link.info(), Some(&expected_info));

    // IPv4 now flows.
    let before = peer.link.stats().discarded;
    assert!(peer.send(protocol::IPV4, &ipv4_packet()).is_empty());
    assert_eq!(peer.link.poll_packet(), Some(ipv4_packet().as_slice()));
    assert_eq!(peer.link.stats().discarded, before);
}

#[test]
fn ipv6cp_interface_identifiers() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    let (_, frames) = open_lcp(&mut peer, None);
    let request = of(&frames, IPV6CP);
    assert_eq!(request.len(), 1);
    let p = Packet::parse(&request[0]).unwrap();
    assert_eq!(p.code, code::CONFIGURE_REQUEST);
    let o = options(p.data);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].0, ipv6cp::opt::INTERFACE_IDENTIFIER);
    let ours: [u8; 8] = o[0].1.as_slice().try_into().unwrap();
    assert_ne!(ours, [0; 8]);

    // RFC 5072 §4.1: the peer claiming our identifier is Naked with another.
    let clash = wire::build(
        code::CONFIGURE_REQUEST,
        1,
        &[&[0x01, 0x0a][..], &ours].concat(),
    );
    let reply = only(&peer.send(IPV6CP, &clash), IPV6CP);
    let r = Packet::parse(&reply).unwrap();
    assert_eq!((r.code, r.id), (code::CONFIGURE_NAK, 1));
    let suggested = options(r.data);
    assert_eq!(suggested[0].0, ipv6cp::opt::INTERFACE_IDENTIFIER);
    assert_eq!(suggested[0].1.len(), 8);
    assert_ne!(suggested[0].1, ours);
    assert_ne!(suggested[0].1, [0; 8]);

    // Compression is rejected verbatim.
    let comp = wire::build(code::CONFIGURE_REQUEST, 1, &IPV6CP_CONF_REJ[4..]);
    assert_eq!(only(&peer.send(IPV6CP, &comp), IPV6CP), IPV6CP_CONF_REJ);

    // Acks both ways: the link is up with both identifiers.
    let mut ack = IPV6CP_CONF_REQ;
    ack[0] = code::CONFIGURE_ACK;
    assert_eq!(only(&peer.send(IPV6CP, &IPV6CP_CONF_REQ), IPV6CP), ack);
    assert!(peer
        .send(IPV6CP, &wire::build(code::CONFIGURE_ACK, p.id, p.data))
        .is_empty());
    let up = peer.ups();
    assert_eq!(up.len(), 1);
    assert_eq!(
        up[0].ipv6,
        Some(Ipv6Info {
            local_id: ours,
            remote_id: Some([0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55]),
        })
    );
    assert_eq!(up[0].ipv4, None);
}

// ---- authentication ------------------------------------------------------------

#[test]
fn dialer_pap_request_is_laid_out_per_rfc_1334() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    let (_, frames) = open_lcp(&mut peer, Some(&OPT_AUTH_PAP[2..]));
    assert_eq!(peer.link.phase(), Phase::Authenticate);
    // §2.2.1: Peer-ID-Length, Peer-ID, Passwd-Length, Password; id 1.
    assert_eq!(frames, [(PAP, PAP_REQ.to_vec())]);
    assert!(peer
        .traces
        .contains(&"PAP Authenticate-Request id=1 user=\"user\" password=<hidden>".to_string()));
    assert!(peer.traces.iter().all(|t| !t.contains("s3cr3t")));
    // Nothing of IPCP until authenticated.
    let frames = peer.send(PAP, PAP_ACK);
    assert_eq!(peer.link.phase(), Phase::Network);
    assert_eq!(of(&frames, IPCP), [IPCP_CONF_REQ.to_vec()]);
}

#[test]
fn dialer_pap_nak_takes_the_link_down() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    open_lcp(&mut peer, Some(&OPT_AUTH_PAP[2..]));
    let frames = peer.send(PAP, PAP_NAK);
    // A Terminate-Request follows.
    let term = only(&frames, LCP);
    assert_eq!(term[0], code::TERMINATE_REQUEST);
    assert_eq!(peer.link.phase(), Phase::Terminate);
    // The Terminate-Ack finishes the link with the peer's message.
    let t = Packet::parse(&term).unwrap();
    peer.send(LCP, &wire::build(code::TERMINATE_ACK, t.id, &[]));
    assert_eq!(
        peer.down(),
        Some(&DownReason::AuthFailed {
            method: AuthMethod::Pap,
            message: "Login incorrect".into(),
        })
    );
}

#[test]
fn dialer_chap_md5_response_is_the_rfc_1994_digest() {
    let mut peer = Peer::dialer("user", "s3cr3t");
    let (_, frames) = open_lcp(&mut peer, Some(&OPT_AUTH_CHAP_MD5[2..]));
    assert!(frames.is_empty(), "the peer speaks first: {frames:02x?}");
    assert_eq!(peer.link.phase(), Phase::Authenticate);
    let reply = only(&peer.send(CHAP, &CHAP_CHALLENGE), CHAP);
    assert_eq!(reply, CHAP_RESPONSE);
    assert_eq!(
        peer.traces.last().unwrap(),
        "CHAP Response id=1 <16 bytes> name=\"user\""
    );
    let frames = peer.send(CHAP, CHAP_SUCCESS);
    assert_eq!(peer.link.phase(), Phase::Network);
    assert_eq!(of(&frames, IPCP).len(), 1);
}

#[test]
fn dialer_mschapv2_response_layout_and_success() {
    let mut peer = Peer::dialer(MS_USER, MS_PASSWORD);
    open_lcp(&mut peer, Some(&OPT_AUTH_MSCHAPV2[2..]));
    let reply = only(&peer.send(CHAP, &MSCHAP_CHALLENGE), CHAP);
    let p = Packet::parse(&reply).unwrap();
    assert_eq!((p.code, p.id), (chap::RESPONSE, 2));
    let (value, name) = auth::split_value_name(p.data).unwrap();
    // RFC 2759 §4: 16 Peer-Challenge, 8 reserved zero, 24 NT-Response, Flags 0.
    assert_eq!(value.len(), 49);
    let peer_challenge: [u8; 16] = value[..16].try_into().unwrap();
    assert_eq!(value[16..24], [0; 8]);
    let nt: [u8; 24] = value[24..48].try_into().unwrap();
    assert_eq!(value[48], 0);
    assert_eq!(name, MS_USER.as_bytes());
    assert_eq!(
        nt,
        mschapv2::generate_nt_response(&MS_AUTH_CHALLENGE, &peer_challenge, MS_USER, MS_PASSWORD)
    );
    // The Success carries the authenticator response (§5), which the link
    // checks before going on.
    let s = mschapv2::generate_authenticator_response(
        MS_PASSWORD,
        &nt,
        &peer_challenge,
        &MS_AUTH_CHALLENGE,
        MS_USER,
    );
    let success = wire::build(chap::SUCCESS, 2, format!("{s} M=Access granted").as_bytes());
    peer.send(CHAP, &success);
    assert_eq!(peer.link.phase(), Phase::Network);
}

#[test]
fn dialer_mschapv2_rejects_a_wrong_authenticator_response() {
    let mut peer = Peer::dialer(MS_USER, MS_PASSWORD);
    open_lcp(&mut peer, Some(&OPT_AUTH_MSCHAPV2[2..]));
    only(&peer.send(CHAP, &MSCHAP_CHALLENGE), CHAP);
    // The §9.2 response is for a different peer challenge: not ours.
    let frames = peer.send(CHAP, MSCHAP_SUCCESS);
    assert_eq!(only(&frames, LCP)[0], code::TERMINATE_REQUEST);
    assert_ne!(peer.link.phase(), Phase::Network);
}

/// The answerer's side, up to its first authentication packet.
fn answerer_to_auth(methods: Vec<AuthMethod>) -> (Peer, Vec<(u16, Vec<u8>)>) {
    let mut peer = Peer::answerer(methods);
    let (_, frames) = open_lcp(&mut peer, None);
    assert_eq!(peer.link.phase(), Phase::Authenticate);
    (peer, frames)
}

#[test]
fn answerer_pap_acks_and_naks_per_rfc_1334() {
    let (mut peer, frames) = answerer_to_auth(vec![AuthMethod::Pap]);
    assert!(
        frames.is_empty(),
        "the PAP peer speaks first: {frames:02x?}"
    );
    let frames = peer.send(PAP, &PAP_REQ);
    assert_eq!(frames[0], (PAP, PAP_ACK.to_vec()));
    assert_eq!(peer.link.phase(), Phase::Network);

    let (mut peer, _) = answerer_to_auth(vec![AuthMethod::Pap]);
    let mut wrong = PAP_REQ;
    wrong[15] = b'T';
    let frames = peer.send(PAP, &wrong);
    assert_eq!(frames[0], (PAP, PAP_NAK.to_vec()));
    assert_eq!(frames[1].0, LCP);
    assert_eq!(frames[1].1[0], code::TERMINATE_REQUEST);
}

#[test]
fn answerer_chap_md5_challenge_and_success() {
    let (mut peer, frames) = answerer_to_auth(vec![AuthMethod::ChapMd5]);
    let challenge = only(&frames, CHAP);
    let p = Packet::parse(&challenge).unwrap();
    assert_eq!(p.code, chap::CHALLENGE);
    let (value, name) = auth::split_value_name(p.data).unwrap();
    assert_eq!(value.len(), 16);
    assert_eq!(name, b"isp");
    let digest = crypto::chap_md5_response(p.id, b"s3cr3t", value);
    let mut data = vec![16];
    data.extend_from_slice(&digest);
    data.extend_from_slice(b"user");
    let frames = peer.send(CHAP, &wire::build(chap::RESPONSE, p.id, &data));
    // The Success, then the network phase's first requests.
    assert_eq!(frames.len(), 3, "{frames:02x?}");
    assert_eq!(frames[0].0, CHAP);
    let reply = frames[0].1.clone();
    let mut expected = CHAP_SUCCESS.to_vec();
    expected[1] = p.id;
    assert_eq!(reply, expected);
    assert_eq!(peer.link.phase(), Phase::Network);
}

#[test]
fn answerer_mschapv2_success_message() {
    let (mut peer, frames) = answerer_to_auth(AuthMethod::ALL.to_vec());
    let challenge = only(&frames, CHAP);
    let p = Packet::parse(&challenge).unwrap();
    let (value, name) = auth::split_value_name(p.data).unwrap();
    assert_eq!(name, b"isp");
    let auth_challenge: [u8; 16] = value.try_into().unwrap();
    let nt =
        mschapv2::generate_nt_response(&auth_challenge, &MS_PEER_CHALLENGE, MS_USER, MS_PASSWORD);
    let mut data = vec![49];
    data.extend_from_slice(&mschap_response_value(&MS_PEER_CHALLENGE, &nt));
    data.extend_from_slice(MS_USER.as_bytes());
    let frames = peer.send(CHAP, &wire::build(chap::RESPONSE, p.id, &data));
    assert_eq!(frames[0].0, CHAP);
    let r = Packet::parse(&frames[0].1).unwrap();
    assert_eq!((r.code, r.id), (chap::SUCCESS, p.id));
    // RFC 2759 §5: "S=<auth_string> M=<message>".
    let s = mschapv2::generate_authenticator_response(
        MS_PASSWORD,
        &nt,
        &MS_PEER_CHALLENGE,
        &auth_challenge,
        MS_USER,
    );
    assert_eq!(r.data, format!("{s} M=Access granted").as_bytes());
    assert_eq!(peer.link.phase(), Phase::Network);
}

#[test]
fn answerer_mschapv2_failure_message() {
    let (mut peer, frames) = answerer_to_auth(vec![AuthMethod::MsChapV2]);
    let challenge = only(&frames, CHAP);
    let p = Packet::parse(&challenge).unwrap();
    let (value, _) = auth::split_value_name(p.data).unwrap();
    // The §9.2 NT-Response answers another challenge: wrong here.
    let mut data = vec![49];
    data.extend_from_slice(&mschap_response_value(&MS_PEER_CHALLENGE, &MS_NT_RESPONSE));
    data.extend_from_slice(MS_USER.as_bytes());
    let frames = peer.send(CHAP, &wire::build(chap::RESPONSE, p.id, &data));
    let r = Packet::parse(&frames[0].1).unwrap();
    assert_eq!(frames[0].0, CHAP);
    assert_eq!((r.code, r.id), (chap::FAILURE, p.id));
    // RFC 2759 §6: "E=691 R=0 C=<the challenge, 32 hex digits> V=3 M=...".
    let hex: String = value.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(
        r.data,
        format!("E=691 R=0 C={hex} V=3 M=Access denied").as_bytes()
    );
    assert_eq!(frames[1].0, LCP);
    assert_eq!(frames[1].1[0], code::TERMINATE_REQUEST);
}
