//! # dialtone-ppp
//!
//! Dialtone's PPP engine: a complete, sans-IO implementation of the
//! Point-to-Point Protocol for both ends of a link.
//!
//! * [`framing`]: async HDLC-like framing (RFC 1662): flags, escapes, FCS-16, ACCM.
//! * [`wire`]: control packets and option lists (RFC 1661 §5, §6).
//! * [`fsm`]: the option negotiation automaton (RFC 1661 §4).
//! * [`lcp`], [`ipcp`], [`ipv6cp`]: the options of LCP (RFC 1661), IPCP
//!   (RFC 1332, 1877) and IPV6CP (RFC 5072).
//! * [`auth`], [`crypto`]: PAP (RFC 1334), CHAP-MD5 (RFC 1994), MS-CHAPv2 (RFC 2759).
//! * [`link`]: the phases of a link tying it all together: [`Link`].
//! * [`trace`]: the decoded control-packet trace.
//!
//! The engine does no I/O and reads no clock. The caller feeds bytes from the
//! serial line and the current time in, and takes framed bytes, timer deadlines,
//! events and IP packets out, in the manner of `quinn-proto`. Nothing the peer
//! sends can make it panic.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod crypto;
pub mod framing;
pub mod fsm;
pub mod ipcp;
pub mod ipv6cp;
pub mod lcp;
pub mod link;
pub mod reason;
mod rng;
pub mod time;
pub mod trace;
pub mod wire;

pub use config::{AuthMethod, Config, Credentials, Role, SecretLookup};
pub use link::{Event, Ipv4Info, Ipv6Info, Link, LinkInfo, Phase, SendError, Stats};
pub use reason::DownReason;
pub use time::Instant;
pub use trace::{Direction, TraceEntry};
