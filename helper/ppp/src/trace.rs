//! A decoded, human-readable trace of every control packet sent and
//! received, in the spirit of pppd's `debug` log: options spelled out,
//! secrets masked (a PAP password is never shown; CHAP values are digests
//! and shown only by length).

use core::fmt::{self, Write};

use crate::auth::{chap, pap, pap_message, split_pap_request, split_value_name};
use crate::lcp;
use crate::time::Instant;
use crate::wire::{self, code, printable, protocol, Opt, Options, Packet};
use crate::{ipcp, ipv6cp};

/// Which way a traced packet went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We sent it.
    Sent,
    /// We received it.
    Received,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Sent => "sent",
            Direction::Received => "rcvd",
        })
    }
}

/// One traced control packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEntry {
    /// When.
    pub at: Instant,
    /// Which way.
    pub direction: Direction,
    /// The PPP protocol number.
    pub protocol: u16,
    /// The decoded packet, e.g. `LCP Configure-Request id=1 <mru 1500> <magic 0x1a2b3c4d>`.
    pub text: String,
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.direction, self.text)
    }
}

/// Decodes one control packet of `proto` for the trace.
pub fn describe(proto: u16, payload: &[u8]) -> String {
    let mut s = String::new();
    let name = protocol::name(proto);
    let Ok(p) = Packet::parse(payload) else {
        let _ = write!(s, "{name} malformed packet ({} bytes)", payload.len());
        return s;
    };
    match proto {
        protocol::PAP => describe_pap(&mut s, p),
        protocol::CHAP => describe_chap(&mut s, p),
        _ => describe_control(&mut s, proto, p),
    }
    s
}

fn describe_control(s: &mut String, proto: u16, p: Packet<'_>) {
    let _ = write!(
        s,
        "{} {} id={}",
        protocol::name(proto),
        code::name(p.code),
        p.id
    );
    match p.code {
        code::CONFIGURE_REQUEST
        | code::CONFIGURE_ACK
        | code::CONFIGURE_NAK
        | code::CONFIGURE_REJECT => match Options::new(p.data) {
            Ok(opts) => {
                for o in opts {
                    s.push_str(" <");
                    describe_option(s, proto, o);
                    s.push('>');
                }
            }
            Err(e) => {
                let _ = write!(s, " ({e})");
            }
        },
        code::TERMINATE_REQUEST | code::TERMINATE_ACK if !p.data.is_empty() => {
            let _ = write!(s, " \"{}\"", printable(p.data));
        }
        code::CODE_REJECT => match p.data.first() {
            Some(&c) => {
                let _ = write!(s, " rejects {}", code::name(c));
            }
            None => s.push_str(" (empty)"),
        },
        code::PROTOCOL_REJECT if proto == protocol::LCP => match p.data {
            [hi, lo, ..] => {
                let rejected = u16::from_be_bytes([*hi, *lo]);
                let _ = write!(
                    s,
                    " rejects 0x{rejected:04x} ({})",
                    protocol::name(rejected)
                );
            }
            _ => s.push_str(" (truncated)"),
        },
        code::ECHO_REQUEST | code::ECHO_REPLY | code::DISCARD_REQUEST if proto == protocol::LCP => {
            if let [a, b, c, d, ..] = p.data {
                let _ = write!(s, " magic=0x{:08x}", u32::from_be_bytes([*a, *b, *c, *d]));
            }
        }
        // RFC 1570 §2.1: Magic-Number, then a message (Windows RAS sends
        // its version and machine name this way).
        code::IDENTIFICATION if proto == protocol::LCP => {
            let text = p.data.get(4..).unwrap_or(&[]);
            let _ = write!(s, " \"{}\"", printable(text));
        }
        // RFC 1570 §2.2: Magic-Number, Seconds-Remaining, message.
        code::TIME_REMAINING if proto == protocol::LCP => match p.data {
            [_, _, _, _, a, b, c, d, rest @ ..] => {
                let secs = u32::from_be_bytes([*a, *b, *c, *d]);
                let _ = write!(s, " {secs} s");
                if !rest.is_empty() {
                    let _ = write!(s, " \"{}\"", printable(rest));
                }
            }
            _ => s.push_str(" (truncated)"),
        },
        _ => {
            if !p.data.is_empty() {
                let _ = write!(s, " ({} bytes)", p.data.len());
            }
        }
    }
}

fn describe_option(s: &mut String, proto: u16, o: Opt<'_>) {
    match proto {
        protocol::LCP => describe_lcp_option(s, o),
        protocol::IPCP => describe_ipcp_option(s, o),
        protocol::IPV6CP => describe_ipv6cp_option(s, o),
        _ => raw_option(s, o),
    }
}

fn raw_option(s: &mut String, o: Opt<'_>) {
    let _ = write!(s, "option {}", o.kind);
    if !o.data.is_empty() {
        let _ = write!(s, " {}", wire::hex(o.data));
    }
}

fn describe_lcp_option(s: &mut String, o: Opt<'_>) {
    match (o.kind, o.u16(), o.u32()) {
        (lcp::opt::MRU, Some(m), _) => {
            let _ = write!(s, "mru {m}");
        }
        (lcp::opt::ACCM, _, Some(m)) => {
            let _ = write!(s, "asyncmap 0x{m:x}");
        }
        (lcp::opt::AUTH_PROTOCOL, _, _) => match lcp::parse_auth_option(o.data) {
            Some(m) => {
                let _ = write!(s, "auth {m}");
            }
            None => {
                let _ = write!(s, "auth unknown {}", wire::hex(o.data));
            }
        },
        (lcp::opt::QUALITY_PROTOCOL, _, _) => {
            let _ = write!(s, "quality {}", wire::hex(o.data));
        }
        (lcp::opt::MAGIC_NUMBER, _, Some(m)) => {
            let _ = write!(s, "magic 0x{m:08x}");
        }
        (lcp::opt::PFC, _, _) if o.data.is_empty() => s.push_str("pcomp"),
        (lcp::opt::ACFC, _, _) if o.data.is_empty() => s.push_str("accomp"),
        (13, _, _) => {
            let _ = write!(s, "callback {}", wire::hex(o.data));
        }
        (17, Some(m), _) => {
            let _ = write!(s, "mrru {m}");
        }
        (19, _, _) => {
            let _ = write!(s, "endpoint {}", wire::hex(o.data));
        }
        _ => raw_option(s, o),
    }
}

fn describe_ipcp_option(s: &mut String, o: Opt<'_>) {
    let a = o.u32().map(std::net::Ipv4Addr::from);
    match (o.kind, a) {
        (ipcp::opt::IP_ADDRESS, Some(a)) => {
            let _ = write!(s, "addr {a}");
        }
        (ipcp::opt::PRIMARY_DNS, Some(a)) => {
            let _ = write!(s, "ms-dns1 {a}");
        }
        (ipcp::opt::SECONDARY_DNS, Some(a)) => {
            let _ = write!(s, "ms-dns2 {a}");
        }
        (ipcp::opt::PRIMARY_NBNS, Some(a)) => {
            let _ = write!(s, "ms-wins1 {a}");
        }
        (ipcp::opt::SECONDARY_NBNS, Some(a)) => {
            let _ = write!(s, "ms-wins2 {a}");
        }
        (ipcp::opt::IP_COMPRESSION_PROTOCOL, _) => match o.data {
            [0x00, 0x2d, slots, cid] => {
                let _ = write!(s, "compress VJ {} {}", u16::from(*slots) + 1, cid);
            }
            _ => {
                let _ = write!(s, "compress {}", wire::hex(o.data));
            }
        },
        (ipcp::opt::IP_ADDRESSES, _) => {
            let _ = write!(s, "addrs {}", wire::hex(o.data));
        }
        _ => raw_option(s, o),
    }
}

fn describe_ipv6cp_option(s: &mut String, o: Opt<'_>) {
    match (o.kind, <[u8; 8]>::try_from(o.data)) {
        (ipv6cp::opt::INTERFACE_IDENTIFIER, Ok(id)) => {
            let a = ipv6cp::link_local(id);
            let _ = write!(s, "addr {a}");
        }
        (ipv6cp::opt::IPV6_COMPRESSION_PROTOCOL, _) => {
            let _ = write!(s, "compress {}", wire::hex(o.data));
        }
        _ => raw_option(s, o),
    }
}

fn describe_pap(s: &mut String, p: Packet<'_>) {
    let name = match p.code {
        pap::AUTHENTICATE_REQUEST => "Authenticate-Request",
        pap::AUTHENTICATE_ACK => "Authenticate-Ack",
        pap::AUTHENTICATE_NAK => "Authenticate-Nak",
        _ => "unknown code",
    };
    let _ = write!(s, "PAP {name} id={}", p.id);
    match p.code {
        pap::AUTHENTICATE_REQUEST => match split_pap_request(p.data) {
            Some((user, _password)) => {
                let _ = write!(s, " user=\"{}\" password=<hidden>", printable(user));
            }
            None => s.push_str(" (malformed)"),
        },
        pap::AUTHENTICATE_ACK | pap::AUTHENTICATE_NAK => {
            let _ = write!(s, " \"{}\"", printable(pap_message(p.data)));
        }
        _ => {}
    }
}

fn describe_chap(s: &mut String, p: Packet<'_>) {
    let name = match p.code {
        chap::CHALLENGE => "Challenge",
        chap::RESPONSE => "Response",
        chap::SUCCESS => "Success",
        chap::FAILURE => "Failure",
        _ => "unknown code",
    };
    let _ = write!(s, "CHAP {name} id={}", p.id);
    match p.code {
        chap::CHALLENGE | chap::RESPONSE => match split_value_name(p.data) {
            Some((value, name)) => {
                let _ = write!(s, " <{} bytes> name=\"{}\"", value.len(), printable(name));
            }
            None => s.push_str(" (malformed)"),
        },
        chap::SUCCESS | chap::FAILURE => {
            let _ = write!(s, " \"{}\"", printable(p.data));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcp_request_is_spelled_out() {
        let pkt = [
            1, 1, 0, 0x17, 1, 4, 5, 0xdc, 2, 6, 0, 0, 0, 0, 3, 5, 0xc2, 0x23, 0x81, 5, 6, 0x12,
            0x34,
        ];
        // Length says 0x17 = 23 octets: one too many; parse fails cleanly.
        assert!(describe(protocol::LCP, &pkt).contains("malformed"));
        let mut ok = pkt.to_vec();
        ok.extend_from_slice(&[0x56, 0x78, 7, 2, 8, 2]);
        ok[3] = ok.len() as u8;
        assert_eq!(
            describe(protocol::LCP, &ok),
            "LCP Configure-Request id=1 <mru 1500> <asyncmap 0x0> <auth MS-CHAPv2> <magic 0x12345678> <pcomp> <accomp>"
        );
    }

    #[test]
    fn pap_password_is_masked() {
        let pkt = wire::build(
            1,
            7,
            &[3, b'b', b'o', b'b', 6, b's', b'3', b'c', b'r', b'3', b't'],
        );
        let text = describe(protocol::PAP, &pkt);
        assert_eq!(
            text,
            "PAP Authenticate-Request id=7 user=\"bob\" password=<hidden>"
        );
        assert!(!text.contains("s3cr3t"));
    }

    #[test]
    fn ipcp_and_ipv6cp() {
        let pkt = wire::build(
            3,
            2,
            &[3, 6, 10, 0, 0, 2, 129, 6, 8, 8, 8, 8, 2, 6, 0, 0x2d, 15, 1],
        );
        assert_eq!(
            describe(protocol::IPCP, &pkt),
            "IPCP Configure-Nak id=2 <addr 10.0.0.2> <ms-dns1 8.8.8.8> <compress VJ 16 1>"
        );
        let pkt = wire::build(1, 1, &[1, 10, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            describe(protocol::IPV6CP, &pkt),
            "IPV6CP Configure-Request id=1 <addr fe80::1>"
        );
    }

    #[test]
    fn rfc1570_identification_and_time_remaining() {
        let mut data = vec![0, 0, 0, 0];
        data.extend_from_slice(b"MSRASV5.20");
        let pkt = wire::build(12, 4, &data);
        assert_eq!(
            describe(protocol::LCP, &pkt),
            "LCP Identification id=4 \"MSRASV5.20\""
        );
        let mut data = vec![0, 0, 0, 0, 0, 0, 0x0e, 0x10];
        data.extend_from_slice(b"bye");
        let pkt = wire::build(13, 5, &data);
        assert_eq!(
            describe(protocol::LCP, &pkt),
            "LCP Time-Remaining id=5 3600 s \"bye\""
        );
    }

    #[test]
    fn terminate_message_is_printable() {
        let pkt = wire::build(5, 3, b"bye\x1b[0m");
        assert_eq!(
            describe(protocol::LCP, &pkt),
            "LCP Terminate-Request id=3 \"bye\\u{1b}[0m\""
        );
    }
}
