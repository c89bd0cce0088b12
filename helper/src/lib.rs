//! # dialtone-helper
//!
//! The parts of `dialtoned` that drive a line, each usable on its own:
//!
//! * [`serial`]: the serial line, its modem-control lines (a seam for the
//!   carrier) and hanging up;
//! * [`lock`]: UUCP lock files, so two programs never drive one modem;
//! * [`chat`]: the modem dialer (init, numbers, ABORT strings, login);
//! * [`net`]: the TUN device, its addresses and routes, through netlink;
//! * [`resolv`]: the managed resolv.conf, restored exactly;
//! * [`policy`]: redial, idle and connect-time decisions;
//! * [`hayes`]: the simulated Hayes modem that tests and the demo dial;
//! * [`runtime`]: the link runtime joining them: one profile's session
//!   (dial, PPP, interface, DNS, policies) and the answering side;
//! * [`sim`]: the simulated modem on a pty and slirp as an ISP, for
//!   `dialtone-sim`.
//!
//! The programs: `dialtoned` (`dialtoned run PROFILE.ron` brings one link
//! up in the foreground) and `dialtone-sim` (the simulated modem and ISP).
#![warn(missing_docs)]

pub mod atomic;
pub mod chat;
pub mod demand;
pub mod dns;
pub mod hayes;
pub mod lock;
pub mod net;
pub mod policy;
pub mod ports;
pub mod resolv;
pub mod runtime;
pub mod serial;
pub mod service;
pub mod sim;
pub mod store;
