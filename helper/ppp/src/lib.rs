//! # dialtone-ppp
//!
//! Dialtone's PPP engine: a complete, sans-IO implementation of the
//! Point-to-Point Protocol for both ends of a link.
//!
//! * [`framing`]: async HDLC-like framing (RFC 1662): flags, escapes, FCS-16, ACCM.
//! * [`crypto`]: the CHAP-MD5 (RFC 1994) and MS-CHAPv2 (RFC 2759) digests.
//! * [`time`]: the caller-supplied clock.
//!
//! The engine does no I/O and reads no clock. The caller feeds bytes from the
//! serial line and the current time in, and takes framed bytes, timer deadlines,
//! events and IP packets out, in the manner of `quinn-proto`. Nothing the peer
//! sends can make it panic.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod crypto;
pub mod framing;
pub mod time;

pub use time::Instant;
