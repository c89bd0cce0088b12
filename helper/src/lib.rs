//! # dialtone-helper
//!
//! The parts of `dialtoned` that drive a line: the modem dialer
//! ([`chat`]), UUCP lock files ([`lock`]), the managed resolv.conf
//! ([`resolv`]) and the simulated Hayes modem ([`hayes`]) that the tests
//! and the demo dial through.
#![warn(missing_docs)]

pub mod chat;
pub mod hayes;
pub mod lock;
pub mod policy;
pub mod resolv;
