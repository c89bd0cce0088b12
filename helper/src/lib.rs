//! # dialtone-helper
//!
//! The parts of `dialtoned` that drive a line, each usable on its own:
//!
//! * [`serial`]: the serial line, its modem-control lines (a seam for the
//!   carrier) and hanging up;
//! * [`lock`]: UUCP lock files, so two programs never drive one modem;
//! * [`chat`]: the modem dialer (init, numbers, ABORT strings, login) and
//!   the answering side (RING → ATA, auto-answer, a direct line);
//! * [`demand`]: demand dialing: what dials, the queue, the address rewriter;
//! * [`net`]: the TUN device, its addresses and routes, through netlink;
//! * [`resolv`]: the managed resolv.conf, restored exactly;
//! * [`dns`]: DNS for a link, through systemd-resolved or resolv.conf;
//! * [`policy`]: redial, idle and connect-time decisions;
//! * [`hayes`]: the simulated Hayes modem that tests and the demo dial.
#![warn(missing_docs)]

pub mod chat;
pub mod demand;
pub mod dns;
pub mod hayes;
pub mod lock;
pub mod net;
pub mod policy;
pub mod resolv;
pub mod serial;
