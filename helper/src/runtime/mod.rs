//! The link runtime: one profile's session, from the serial device to an
//! up network interface and back.
//!
//! [`Session::run`] joins the parts of this crate on a tokio runtime:
//!
//! 1. the UUCP lock ([`crate::lock`]) and the serial line
//!    ([`crate::serial`]);
//! 2. the modem conversation and text login ([`crate::chat`]);
//! 3. the PPP engine ([`dialtone_ppp::Link`]) between the line and a TUN
//!    device ([`crate::net`]), with the addresses, the default route and
//!    DNS ([`crate::dns`]) put in place when the link is up and taken away
//!    exactly when it goes down;
//! 4. the policies ([`crate::policy`]): redial with a holdoff that backs
//!    off, idle and connect-time limits, demand dialing
//!    ([`crate::demand`]).
//!
//! Everything the session does is reported as [`SessionEvent`]s, in order:
//! progress a person can follow ("dialing 5551234", "CONNECT 57600",
//! "authenticating", "connected"), the AT dialog and the decoded PPP control
//! packets (secrets masked), and why it ended, as a typed [`Failure`]. The
//! owner steers it with [`Command`]s. `dialtoned run` prints the events;
//! the D-Bus service turns them into properties and signals.
//!
//! The I/O loop ([`pump`]) is event-driven: it sleeps until the line or the
//! TUN has data, a protocol timer is due, or a command arrives. An idle up
//! link wakes only for LCP echoes.

mod pump;

pub mod isp;
pub mod session;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use dialtone_ppp::{AuthMethod, DownReason, Instant, Phase};

use crate::chat::ChatError;
use crate::policy::{Ending, StopReason};

pub use session::{Session, SessionEnd, SessionOptions};

/// What the owner of a session can ask of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// Hang up and stop: an up link is closed politely (LCP
    /// Terminate-Request), the modem hung up, and nothing is redialed.
    Disconnect,
    /// Hang up at once, without waiting for the peer's acknowledgement
    /// (a second Ctrl-C).
    Abort,
}

/// Where a session is, for a person to follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Demand dialing: the interface is up and the first outgoing packet
    /// will dial.
    WaitingForTraffic {
        /// The interface that waits.
        interface: String,
    },
    /// Opening the serial device.
    Opening {
        /// The device.
        device: PathBuf,
    },
    /// Dialing a number.
    Dialing {
        /// The number.
        number: String,
        /// Which of the profile's numbers, from 1.
        attempt: usize,
        /// How many numbers the profile has.
        of: usize,
    },
    /// The modem connected.
    ModemConnected {
        /// The speed it reported, if any.
        speed: Option<u32>,
        /// Its whole `CONNECT` line.
        text: String,
    },
    /// A PPP phase began: negotiating the link, authenticating, getting
    /// an address.
    Phase(Phase),
    /// The link is up and the interface configured.
    Connected(Connected),
    /// An up link renegotiated: new addresses, or IPv6 joining IPv4.
    Changed(Connected),
    /// The link is going down.
    Disconnecting {
        /// Why, in words.
        why: String,
    },
    /// A connection (or an attempt at one) ended. `failure` is `None`
    /// when the user hung up, or an idle or connect-time limit ended it.
    Disconnected {
        /// What ended it.
        ending: Ending,
        /// The failure, if it was one.
        failure: Option<Failure>,
    },
    /// The session will dial again.
    Redialing {
        /// When, from now.
        after: Duration,
        /// Failed attempts in a row so far.
        failures: u32,
    },
    /// The session is over.
    Stopped(StopReason),
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::WaitingForTraffic { interface } => {
                write!(f, "waiting for traffic on {interface} (dial on demand)")
            }
            Progress::Opening { device } => write!(f, "opening {}", device.display()),
            Progress::Dialing {
                number,
                attempt,
                of,
            } if *of > 1 => write!(f, "dialing {number} (number {attempt} of {of})"),
            Progress::Dialing { number, .. } => write!(f, "dialing {number}"),
            Progress::ModemConnected { text, .. } => write!(f, "modem: {text}"),
            Progress::Phase(Phase::Establish) => f.write_str("negotiating the link (LCP)"),
            Progress::Phase(Phase::Authenticate) => f.write_str("authenticating"),
            Progress::Phase(Phase::Network) => f.write_str("getting an address (IPCP)"),
            Progress::Phase(Phase::Terminate) => f.write_str("closing the link"),
            Progress::Phase(Phase::Dead) => f.write_str("link dead"),
            Progress::Connected(c) => write!(f, "connected {c}"),
            Progress::Changed(c) => write!(f, "link changed {c}"),
            Progress::Disconnecting { why } => write!(f, "disconnecting: {why}"),
            Progress::Disconnected {
                failure: Some(failure),
                ..
            } => write!(f, "disconnected: {failure}"),
            Progress::Disconnected { ending, .. } => match ending {
                Ending::User => f.write_str("disconnected"),
                Ending::Idle => f.write_str("disconnected: the link was idle"),
                Ending::MaxConnect => {
                    f.write_str("disconnected: the maximum connect time was reached")
                }
                Ending::Failed { reason, .. } => write!(f, "disconnected: {reason}"),
            },
            Progress::Redialing { after, failures } => {
                write!(f, "redialing in {} s", after.as_secs())?;
                if *failures > 0 {
                    write!(
                        f,
                        " ({failures} failed attempt{})",
                        if *failures == 1 { "" } else { "s" }
                    )?;
                }
                Ok(())
            }
            Progress::Stopped(reason) => write!(f, "stopped: {}", describe_stop(reason)),
        }
    }
}

/// A stop reason in words.
pub fn describe_stop(reason: &StopReason) -> String {
    match reason {
        StopReason::User => "hung up on request".to_owned(),
        StopReason::Idle => "the link was idle".to_owned(),
        StopReason::NoPersist => "the link ended and the profile does not redial".to_owned(),
        StopReason::Permanent => "dialing again would not help".to_owned(),
        StopReason::TooManyFailures(n) => format!("{n} attempts failed in a row"),
    }
}

/// An up link, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connected {
    /// The interface.
    pub interface: String,
    /// Its index.
    pub index: u32,
    /// Our IPv4 address.
    pub local: Option<Ipv4Addr>,
    /// The peer's IPv4 address.
    pub remote: Option<Ipv4Addr>,
    /// Our IPv6 link-local address.
    pub local_ipv6: Option<Ipv6Addr>,
    /// The peer's IPv6 link-local address.
    pub remote_ipv6: Option<Ipv6Addr>,
    /// The DNS servers in use (empty: none were set).
    pub dns: Vec<IpAddr>,
    /// How DNS was set: "systemd-resolved", "/etc/resolv.conf".
    pub dns_via: Option<String>,
    /// Whether the link is the default route.
    pub default_route: bool,
    /// The interface MTU.
    pub mtu: u16,
    /// How the link authenticated.
    pub auth: Option<AuthMethod>,
    /// The modem's CONNECT speed.
    pub speed: Option<u32>,
    /// Answerer: the name the caller authenticated as.
    pub peer_name: Option<String>,
}

impl Connected {
    /// An up link on the interface `interface` (index `index`) configured
    /// with `addrs`: no DNS, no default route and no modem speed yet (the
    /// caller adds what applies).
    pub(crate) fn new(
        interface: String,
        index: u32,
        addrs: &crate::net::LinkAddresses,
        info: &dialtone_ppp::LinkInfo,
    ) -> Connected {
        Connected {
            interface,
            index,
            local: addrs.local,
            remote: addrs.peer,
            local_ipv6: addrs.ipv6_local_id.map(crate::net::link_local),
            remote_ipv6: addrs.ipv6_peer_id.map(crate::net::link_local),
            dns: Vec::new(),
            dns_via: None,
            default_route: false,
            mtu: addrs.mtu,
            auth: info.auth,
            speed: None,
            peer_name: info.peer_name.clone(),
        }
    }
}

impl fmt::Display for Connected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "on {}:", self.interface)?;
        match (self.local, self.remote) {
            (Some(l), Some(r)) => write!(f, " {l} peer {r}")?,
            (Some(l), None) => write!(f, " {l}")?,
            _ => {}
        }
        if let Some(l) = self.local_ipv6 {
            write!(f, " {l}")?;
        }
        if !self.dns.is_empty() {
            let dns: Vec<String> = self.dns.iter().map(ToString::to_string).collect();
            write!(f, ", DNS {}", dns.join(" "))?;
            if let Some(via) = &self.dns_via {
                write!(f, " via {via}")?;
            }
        }
        if self.default_route {
            f.write_str(", default route")?;
        }
        write!(f, ", MTU {}", self.mtu)?;
        if let Some(auth) = self.auth {
            write!(f, ", {}", auth_name(auth))?;
        }
        if let Some(speed) = self.speed {
            write!(f, ", {speed} bps")?;
        }
        Ok(())
    }
}

/// The usual name of an authentication method.
pub fn auth_name(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::Pap => "PAP",
        AuthMethod::ChapMd5 => "CHAP",
        AuthMethod::MsChapV2 => "MS-CHAPv2",
    }
}

/// Where a transcript line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TranscriptSource {
    /// The modem dialog and the text login.
    Modem,
    /// A PPP control packet, decoded.
    Ppp,
}

/// One line of the transcript: the AT dialog, the login, and the decoded
/// PPP control packets, with the password masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transcript {
    /// Modem or PPP.
    pub source: TranscriptSource,
    /// Which way.
    pub direction: dialtone_ppp::trace::Direction,
    /// The text.
    pub text: String,
    /// When.
    pub at: SystemTime,
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match self.source {
            TranscriptSource::Modem => "modem",
            TranscriptSource::Ppp => "ppp",
        };
        write!(f, "{source} {} {}", self.direction, self.text)
    }
}

/// The counters of a session's current (or last) connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Statistics {
    /// The engine's counters: bytes, frames and packets each way, errors.
    pub link: dialtone_ppp::Stats,
    /// The modem's CONNECT speed.
    pub connect_speed: Option<u32>,
    /// Since when the link has been up.
    pub connected_since: Option<SystemTime>,
    /// How long the link has been up (until it went down).
    pub connected_for: Duration,
}

impl Statistics {
    /// Frames dropped as damaged: bad FCS, too long, malformed.
    pub fn errors(&self) -> u64 {
        self.link.fcs_errors + self.link.too_long + self.link.malformed
    }
}

impl fmt::Display for Statistics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.link;
        write!(
            f,
            "received {} bytes in {} packets, sent {} bytes in {} packets, {} damaged frames, {} dropped",
            s.rx_ip_bytes,
            s.rx_packets,
            s.tx_ip_bytes,
            s.tx_packets,
            self.errors(),
            s.discarded + s.tx_dropped
        )?;
        if !self.connected_for.is_zero() {
            write!(f, ", up {}", format_duration(self.connected_for))?;
        }
        Ok(())
    }
}

/// `1 h 02 min 03 s`, `4 min 05 s`, `6 s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s:02} s"),
        (h, m, s) => format!("{h} h {m:02} min {s:02} s"),
    }
}

/// Everything a session reports, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// Progress.
    Progress(Progress),
    /// A transcript line.
    Transcript(Transcript),
    /// Something worth telling that is not a state change: "this port has
    /// no modem-control lines", "took over a stale lock".
    Notice(String),
    /// The counters of a connection that ended.
    Statistics(Statistics),
}

/// Why a connection failed, typed so that a client can render it in its
/// own words (see [`Failure::code`]); `Display` gives the English sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The device is locked by another program.
    DeviceBusy(String),
    /// The device could not be opened.
    DeviceUnavailable(String),
    /// The modem conversation failed: busy, no carrier, no dial tone, an
    /// abort string, a login prompt that never came.
    Modem(ChatError),
    /// PPP failed, with the engine's reason.
    Ppp(DownReason),
    /// The serial device went away or reported end of file.
    LineClosed(String),
    /// The modem dropped carrier (DCD).
    CarrierLost,
    /// The interface, its addresses or routes could not be set up.
    Network(String),
    /// DNS could not be set up.
    Dns(String),
    /// The profile cannot work as written (found when dialing).
    Profile(String),
}

impl Failure {
    /// A stable code for the kind of failure, and for PPP and modem
    /// failures the precise reason: `ppp:auth-failed`, `modem:busy`.
    pub fn code(&self) -> String {
        match self {
            Failure::DeviceBusy(_) => "device-busy".into(),
            Failure::DeviceUnavailable(_) => "device-unavailable".into(),
            Failure::Modem(e) => format!("modem:{}", e.code()),
            Failure::Ppp(r) => format!("ppp:{}", r.code()),
            Failure::LineClosed(_) => "line-closed".into(),
            Failure::CarrierLost => "carrier-lost".into(),
            Failure::Network(_) => "network".into(),
            Failure::Dns(_) => "dns".into(),
            Failure::Profile(_) => "profile".into(),
        }
    }

    /// The details a client needs to say this failure in its own words,
    /// by name: `peer-message` (what the peer said with a refusal or a
    /// Terminate-Request), `modem-response` (the modem's answer), `number`,
    /// `command`, `expect`, `option` and `detail` (a refused option),
    /// `protocol` (hex), `method`, `ours`/`peer` (authentication methods),
    /// `missed`, `requests`, `seconds`, and `error` for the free text of
    /// device, line, network and DNS failures.
    pub fn details(&self) -> Vec<(&'static str, String)> {
        let mut d: Vec<(&'static str, String)> = Vec::new();
        let methods = |m: &[dialtone_ppp::AuthMethod]| {
            m.iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            Failure::DeviceBusy(m)
            | Failure::DeviceUnavailable(m)
            | Failure::LineClosed(m)
            | Failure::Network(m)
            | Failure::Dns(m)
            | Failure::Profile(m) => d.push(("error", m.clone())),
            Failure::CarrierLost => {}
            Failure::Modem(e) => match e {
                ChatError::NoResponse { command } | ChatError::ModemError { command } => {
                    d.push(("command", command.clone()))
                }
                ChatError::Busy { number } => {
                    d.push(("number", number.clone()));
                    d.push(("modem-response", "BUSY".into()));
                }
                ChatError::NoAnswer { number } => {
                    d.push(("number", number.clone()));
                    d.push(("modem-response", "NO ANSWER".into()));
                }
                ChatError::NoCarrier { number } => {
                    d.push(("number", number.clone()));
                    d.push(("modem-response", "NO CARRIER".into()));
                }
                ChatError::NoDialtone => d.push(("modem-response", "NO DIALTONE".into())),
                ChatError::ConnectTimeout { number, seconds } => {
                    d.push(("number", number.clone()));
                    d.push(("seconds", seconds.to_string()));
                }
                ChatError::Abort { abort, number } => {
                    d.push(("number", number.clone()));
                    d.push(("modem-response", abort.clone()));
                }
                ChatError::LoginTimeout { expect } => d.push(("expect", expect.clone())),
                ChatError::NoNumbers | ChatError::AnswerNoCarrier | ChatError::LoginRefused => {}
                ChatError::AnswerTimeout { seconds } => d.push(("seconds", seconds.to_string())),
            },
            Failure::Ppp(r) => match r {
                DownReason::PeerNotResponding { protocol, requests } => {
                    d.push(("protocol", format!("{protocol:#06x}")));
                    d.push(("requests", requests.to_string()));
                }
                DownReason::TerminatedByPeer { protocol, message } => {
                    d.push(("protocol", format!("{protocol:#06x}")));
                    d.push(("peer-message", message.clone()));
                }
                DownReason::CodeRejected { protocol, code } => {
                    d.push(("protocol", format!("{protocol:#06x}")));
                    d.push(("code", code.to_string()));
                }
                DownReason::ProtocolRejected { protocol } => {
                    d.push(("protocol", format!("{protocol:#06x}")))
                }
                DownReason::OptionRefused {
                    protocol,
                    option,
                    detail,
                } => {
                    d.push(("protocol", format!("{protocol:#06x}")));
                    d.push(("option", option.clone()));
                    d.push(("detail", detail.clone()));
                }
                DownReason::EchoTimeout { missed } => d.push(("missed", missed.to_string())),
                DownReason::AuthFailed { method, message } => {
                    d.push(("method", method.to_string()));
                    d.push(("peer-message", message.clone()));
                }
                DownReason::PeerAuthFailed { method, user } => {
                    d.push(("method", method.to_string()));
                    d.push(("user", user.clone()));
                }
                DownReason::NoCommonAuth { ours, peer } => {
                    d.push(("ours", methods(ours)));
                    d.push(("peer", methods(peer)));
                }
                DownReason::LocalClose
                | DownReason::LowerDown
                | DownReason::LoopedBack
                | DownReason::PeerRefusedAuth
                | DownReason::NoCredentials
                | DownReason::ServerNotAuthenticated
                | DownReason::AuthTimeout
                | DownReason::NoNetworkProtocols => {}
            },
        }
        d
    }

    /// Whether dialing again the same way cannot help (a refused password,
    /// a modem that answers ERROR to the profile's command).
    pub fn is_permanent(&self) -> bool {
        match self {
            Failure::Ppp(r) => matches!(
                Ending::from_ppp(r),
                Ending::Failed {
                    permanent: true,
                    ..
                }
            ),
            Failure::Modem(e) => matches!(
                e,
                ChatError::ModemError { .. } | ChatError::NoNumbers | ChatError::LoginRefused
            ),
            Failure::Profile(_) => true,
            _ => false,
        }
    }

    /// The process exit status `dialtoned run` ends with, following pppd's
    /// where one matches (`man pppd`, EXIT STATUS).
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::DeviceBusy(_) => 8,
            Failure::DeviceUnavailable(_) => 7,
            Failure::Modem(ChatError::LoginRefused) => 19,
            Failure::Modem(_) => 8,
            Failure::Ppp(r) => match r {
                DownReason::AuthFailed { .. }
                | DownReason::NoCredentials
                | DownReason::NoCommonAuth { .. }
                | DownReason::ServerNotAuthenticated
                | DownReason::PeerRefusedAuth
                | DownReason::AuthTimeout => 19,
                DownReason::PeerAuthFailed { .. } => 11,
                DownReason::TerminatedByPeer { .. } => 15,
                DownReason::LoopedBack => 14,
                DownReason::LowerDown => 16,
                DownReason::EchoTimeout { .. } => 15,
                _ => 10,
            },
            Failure::LineClosed(_) | Failure::CarrierLost => 16,
            Failure::Network(_) | Failure::Dns(_) => 1,
            Failure::Profile(_) => 2,
        }
    }

    /// The policy's view of this failure.
    pub fn ending(&self) -> Ending {
        Ending::Failed {
            reason: self.to_string(),
            permanent: self.is_permanent(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::DeviceBusy(m)
            | Failure::DeviceUnavailable(m)
            | Failure::Network(m)
            | Failure::Dns(m)
            | Failure::Profile(m) => f.write_str(m),
            Failure::Modem(e) => write!(f, "{e}"),
            Failure::Ppp(r) => write!(f, "{r}"),
            Failure::LineClosed(m) => write!(f, "the line went away: {m}"),
            Failure::CarrierLost => f.write_str("the modem lost carrier (the call dropped)"),
        }
    }
}

/// The failure for the engine's final reason: a line that closed under an
/// open link is named as such; a peer that said goodbye first (LCP
/// Terminate, then hung up) keeps its own words.
pub(crate) fn down_failure(reason: DownReason, line_closed: Option<String>) -> Failure {
    match (reason, line_closed) {
        (DownReason::LowerDown, Some(why)) => Failure::LineClosed(why),
        (reason, _) => Failure::Ppp(reason),
    }
}

/// The engine's clock for a session: time since `start`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    start: tokio::time::Instant,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            start: tokio::time::Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        Instant::from_duration(self.start.elapsed())
    }

    pub(crate) fn at(&self, when: Instant) -> tokio::time::Instant {
        self.start + when.as_duration()
    }
}

/// 32 random bytes for the engine's seed (magic numbers, challenges).
pub fn random_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    let mut filled = 0;
    while filled < seed.len() {
        // SAFETY: the pointer and length describe the unfilled tail of
        // `seed`, which getrandom writes at most `len` bytes into.
        let n =
            unsafe { libc::getrandom(seed[filled..].as_mut_ptr().cast(), seed.len() - filled, 0) };
        if n <= 0 {
            // getrandom(2) cannot fail for a buffer this small once the
            // pool is initialised; should it, fall back to the clock and
            // pid, which still differ between runs.
            let t = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
                .to_le_bytes();
            for (i, b) in seed.iter_mut().enumerate() {
                *b ^= t[i % t.len()] ^ (std::process::id() >> (i % 4 * 8)) as u8;
            }
            break;
        }
        filled += n as usize;
    }
    seed
}
