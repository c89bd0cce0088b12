//! The simulated modem and ISP: a [`Hayes`](crate::hayes::Hayes) modem
//! brought to life on a real pseudo-terminal, with an ISP behind it.
//!
//! * [`pty`]: the pty whose slave is the modem's serial device (with a
//!   stable symbolic link to it), its master a tokio stream;
//! * [`modem`]: [`run_modem`](modem::run_modem), the state machine driven
//!   in real time between the pty and a call's line, with line noise;
//! * [`slirp`]: an ISP that answers each call with Debian's `slirp` in PPP
//!   mode.
//!
//! The `dialtone-sim` program puts the three together.

pub mod modem;
pub mod pty;
pub mod slirp;
