//! The D-Bus contract between `dialtoned` and its clients: names, object
//! paths, polkit actions, error names, the typed values that travel, and
//! client proxies. `docs/dbus.md` describes it for people.
//!
//! Everything is typed: profile settings are an `a{sv}` of dotted keys
//! ([`crate::settings`]), states are fixed words ([`LinkState`]), reasons
//! are a code, an English sentence and a dictionary of details
//! ([`StateReason`]), statistics an `a{st}` of counters.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use zbus::{OwnedObjectPath, Type};

/// The daemon's well-known name on the system bus.
pub const BUS_NAME: &str = "io.github.dialtone.Dialtone1";
/// The root object: the Manager interface and the ObjectManager.
pub const ROOT_PATH: &str = "/io/github/dialtone/Dialtone1";
/// Where profile objects live: `…/Profile/<id>`.
pub const PROFILE_PATH_PREFIX: &str = "/io/github/dialtone/Dialtone1/Profile";
/// Where link objects live: `…/Link/<n>`.
pub const LINK_PATH_PREFIX: &str = "/io/github/dialtone/Dialtone1/Link";
/// The Manager interface.
pub const MANAGER_INTERFACE: &str = "io.github.dialtone.Dialtone1.Manager";
/// The Profile interface.
pub const PROFILE_INTERFACE: &str = "io.github.dialtone.Dialtone1.Profile";
/// The Link interface.
pub const LINK_INTERFACE: &str = "io.github.dialtone.Dialtone1.Link";

/// polkit action for bringing links up and down.
pub const ACTION_CONNECT: &str = "io.github.dialtone.connect";
/// polkit action for changing profiles, secrets, /dev/modem, and talking
/// to a modem directly (QueryModem).
pub const ACTION_MODIFY: &str = "io.github.dialtone.modify";

/// The object path of profile `id`.
pub fn profile_path(id: &str) -> String {
    format!("{PROFILE_PATH_PREFIX}/{id}")
}

/// The object path of link number `n`.
pub fn link_path(n: u32) -> String {
    format!("{LINK_PATH_PREFIX}/{n}")
}

/// The D-Bus errors the daemon returns, each with a message a person can
/// act on. Names: `io.github.dialtone.Dialtone1.Error.<Variant>`.
#[derive(Debug, zbus::DBusError, PartialEq)]
#[zbus(prefix = "io.github.dialtone.Dialtone1.Error")]
pub enum Error {
    /// A D-Bus level failure (no reply, the name has no owner, …).
    #[zbus(error)]
    ZBus(zbus::Error),
    /// polkit said no (or asked for a password that did not come).
    NotAuthorized(String),
    /// A setting, a port, an id that cannot be accepted; the message names
    /// the setting (`line.device: …`).
    InvalidArgument(String),
    /// No such profile, link or port.
    NotFound(String),
    /// The profile is already up, the port is in use, a profile in use
    /// cannot be deleted.
    Busy(String),
    /// The serial device could not be opened or is not there.
    DeviceUnavailable(String),
    /// Anything else that went wrong.
    Failed(String),
}

/// The full error name for a variant name (`"NotAuthorized"`).
pub fn error_name(variant: &str) -> String {
    format!("io.github.dialtone.Dialtone1.Error.{variant}")
}

/// Where a link is. Sent as its word (`s`), see [`LinkState::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkState {
    /// Demand dialing: the interface is up, the first packet dials.
    WaitingForTraffic,
    /// Opening the serial device.
    Opening,
    /// The modem is being initialised and dialed.
    Dialing,
    /// The modem connected; the text login and PPP follow.
    ModemConnected,
    /// PPP link negotiation (LCP).
    Negotiating,
    /// PPP authentication.
    Authenticating,
    /// Getting addresses (IPCP/IPV6CP).
    GettingAddress,
    /// The link is up and the interface configured.
    Connected,
    /// Hanging up.
    Disconnecting,
    /// Waiting before dialing again (persist).
    WaitingToRedial,
    /// The session is over: see the link's `StateReason`.
    Disconnected,
}

impl LinkState {
    /// Every state.
    pub const ALL: [LinkState; 11] = [
        LinkState::WaitingForTraffic,
        LinkState::Opening,
        LinkState::Dialing,
        LinkState::ModemConnected,
        LinkState::Negotiating,
        LinkState::Authenticating,
        LinkState::GettingAddress,
        LinkState::Connected,
        LinkState::Disconnecting,
        LinkState::WaitingToRedial,
        LinkState::Disconnected,
    ];

    /// The word on the bus.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::WaitingForTraffic => "waiting-for-traffic",
            LinkState::Opening => "opening",
            LinkState::Dialing => "dialing",
            LinkState::ModemConnected => "modem-connected",
            LinkState::Negotiating => "negotiating",
            LinkState::Authenticating => "authenticating",
            LinkState::GettingAddress => "getting-address",
            LinkState::Connected => "connected",
            LinkState::Disconnecting => "disconnecting",
            LinkState::WaitingToRedial => "waiting-to-redial",
            LinkState::Disconnected => "disconnected",
        }
    }

    /// Whether the session is still running (anything but
    /// [`LinkState::Disconnected`]).
    pub fn is_active(self) -> bool {
        self != LinkState::Disconnected
    }
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LinkState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LinkState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown link state {s:?}"))
    }
}

/// Why a link is in its state, or why it ended: a stable code
/// (`ppp:auth-failed`, `modem:busy`, `user`, `idle`; empty for none), the
/// English sentence, and the details a client needs to say it in its own
/// words (`peer-message`, `modem-response`, `number`, `option`, …).
/// Signature `(ssa{ss})`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct StateReason {
    /// The code; see `docs/dbus.md` for the list.
    pub code: String,
    /// The reason in English.
    pub message: String,
    /// Details by name.
    pub details: HashMap<String, String>,
}

impl StateReason {
    /// No reason.
    pub fn none() -> Self {
        StateReason::default()
    }

    /// A reason without details.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        StateReason {
            code: code.into(),
            message: message.into(),
            details: HashMap::new(),
        }
    }
}

/// A serial port as the daemon sees it in sysfs. Signature
/// `(ssssssqqsssus)`; empty strings and zeros for what is unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct PortInfo {
    /// The device: `/dev/ttyUSB0`.
    pub path: String,
    /// Its stable `/dev/serial/by-id/…` name, or empty.
    pub by_id: String,
    /// Its `/dev/serial/by-path/…` name, or empty.
    pub by_path: String,
    /// The kernel driver: `ftdi_sio`, `cdc_acm`, `serial8250`.
    pub driver: String,
    /// A description for people: "FTDI FT232R USB UART (ttyUSB0)".
    pub description: String,
    /// USB manufacturer string, or empty.
    pub manufacturer: String,
    /// USB vendor id, or 0.
    pub vendor_id: u16,
    /// USB product id, or 0.
    pub product_id: u16,
    /// USB product string, or empty.
    pub product: String,
    /// USB serial number, or empty.
    pub serial: String,
    /// The program holding the port, or empty.
    pub busy_program: String,
    /// Its process id, or 0 when the port is free.
    pub busy_pid: u32,
    /// Whether `/dev/modem` points at this port.
    pub modem_link: bool,
}

/// One transcript line: when (microseconds since the Unix epoch), where
/// from (`modem`, `ppp`, `login`, `note`), which way (`in`, `out`, or empty
/// for notes) and the text (passwords masked). Signature `(tsss)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct TranscriptEntry {
    /// Microseconds since the Unix epoch.
    pub time_usec: u64,
    /// `modem`, `login`, `ppp` or `note`.
    pub source: String,
    /// `in`, `out` or empty.
    pub direction: String,
    /// The line.
    pub text: String,
}

/// What [`ManagerProxy::get_permissions`] answers for each action: `yes`,
/// `auth` (allowed after a password through a polkit agent) or `no`.
pub const PERMISSION_YES: &str = "yes";
/// See [`PERMISSION_YES`].
pub const PERMISSION_AUTH: &str = "auth";
/// See [`PERMISSION_YES`].
pub const PERMISSION_NO: &str = "no";

/// The statistics keys of a link's `Statistics` property (`a{st}`).
pub const STATISTICS_KEYS: [&str; 8] = [
    "rx-bytes",
    "tx-bytes",
    "rx-packets",
    "tx-packets",
    "rx-errors",
    "tx-errors",
    "connected-seconds",
    "connect-attempts",
];

/// The Manager interface on [`ROOT_PATH`].
#[zbus::proxy(
    interface = "io.github.dialtone.Dialtone1.Manager",
    default_service = "io.github.dialtone.Dialtone1",
    default_path = "/io/github/dialtone/Dialtone1"
)]
pub trait Manager {
    /// Adds a profile (action `modify`); returns its object path.
    #[zbus(allow_interactive_auth)]
    fn add_profile(
        &self,
        settings: HashMap<String, zbus::OwnedVariant>,
    ) -> zbus::Result<OwnedObjectPath>;

    /// The profiles' object paths, sorted by id.
    fn list_profiles(&self) -> zbus::Result<Vec<OwnedObjectPath>>;

    /// The links' object paths (running and ended), by number.
    fn list_links(&self) -> zbus::Result<Vec<OwnedObjectPath>>;

    /// What the caller may do: action id → `yes`, `auth` or `no`.
    fn get_permissions(&self) -> zbus::Result<HashMap<String, String>>;

    /// Asks the modem on `port` who it is (ATI, ATI3, AT+GMI, AT+GMM,
    /// AT+GMR, AT+CSQ): (command, answer) pairs. Action `modify`.
    #[zbus(allow_interactive_auth)]
    fn query_modem(&self, port: &str) -> zbus::Result<Vec<(String, String)>>;

    /// Points /dev/modem at `port` (action `modify`).
    #[zbus(allow_interactive_auth)]
    fn set_modem_link(&self, port: &str) -> zbus::Result<()>;

    /// Re-reads the profile directory (action `modify`).
    #[zbus(allow_interactive_auth)]
    fn reload(&self) -> zbus::Result<()>;

    /// The daemon's version.
    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;

    /// Every serial port, read from sysfs, never by opening one.
    #[zbus(property)]
    fn serial_ports(&self) -> zbus::Result<Vec<PortInfo>>;

    /// Where /dev/modem points, or empty.
    #[zbus(property)]
    fn modem_link(&self) -> zbus::Result<String>;

    /// Profile files that could not be loaded: (file, error).
    #[zbus(property)]
    fn profile_problems(&self) -> zbus::Result<Vec<(String, String)>>;

    /// The number of links not disconnected.
    #[zbus(property)]
    fn active_links(&self) -> zbus::Result<u32>;
}

/// The Profile interface on `…/Profile/<id>`.
#[zbus::proxy(
    interface = "io.github.dialtone.Dialtone1.Profile",
    default_service = "io.github.dialtone.Dialtone1"
)]
pub trait Profile {
    /// Replaces the settings (action `modify`).
    #[zbus(allow_interactive_auth)]
    fn update(&self, settings: HashMap<String, zbus::OwnedVariant>) -> zbus::Result<()>;

    /// Sets the secrets: `password` is the only key (action `modify`).
    #[zbus(allow_interactive_auth)]
    fn set_secrets(&self, secrets: HashMap<String, String>) -> zbus::Result<()>;

    /// Deletes the profile and its secrets (action `modify`).
    #[zbus(allow_interactive_auth)]
    fn delete(&self) -> zbus::Result<()>;

    /// Brings the link up (action `connect`); returns the link's path at
    /// once, before dialing.
    #[zbus(allow_interactive_auth)]
    fn connect(&self) -> zbus::Result<OwnedObjectPath>;

    /// The id (the file name's stem).
    #[zbus(property)]
    fn id(&self) -> zbus::Result<String>;

    /// The name people see.
    #[zbus(property)]
    fn name(&self) -> zbus::Result<String>;

    /// The settings (see `docs/settings.md`).
    #[zbus(property)]
    fn settings(&self) -> zbus::Result<HashMap<String, zbus::OwnedVariant>>;

    /// Whether a password is stored (it is never sent back).
    #[zbus(property)]
    fn has_secrets(&self) -> zbus::Result<bool>;

    /// The running link, or `/`.
    #[zbus(property)]
    fn active_link(&self) -> zbus::Result<OwnedObjectPath>;

    /// The last link of this profile, running or ended, or `/`.
    #[zbus(property)]
    fn last_link(&self) -> zbus::Result<OwnedObjectPath>;
}

/// The Link interface on `…/Link/<n>`.
#[zbus::proxy(
    interface = "io.github.dialtone.Dialtone1.Link",
    default_service = "io.github.dialtone.Dialtone1"
)]
pub trait Link {
    /// Hangs up (action `connect`).
    #[zbus(allow_interactive_auth)]
    fn disconnect(&self) -> zbus::Result<()>;

    /// The transcript so far (the last 2000 lines).
    fn get_transcript(&self) -> zbus::Result<Vec<TranscriptEntry>>;

    /// A new transcript line.
    #[zbus(signal)]
    fn transcript(&self, entry: TranscriptEntry) -> zbus::Result<()>;

    /// The profile this link belongs to.
    #[zbus(property)]
    fn profile(&self) -> zbus::Result<OwnedObjectPath>;

    /// A [`LinkState`] word.
    #[zbus(property)]
    fn state(&self) -> zbus::Result<String>;

    /// Why the link is in its state (or why it ended).
    #[zbus(property)]
    fn state_reason(&self) -> zbus::Result<StateReason>;

    /// The PPP phase: `dead`, `establish`, `authenticate`, `network`,
    /// `running`, `terminate`.
    #[zbus(property)]
    fn phase(&self) -> zbus::Result<String>;

    /// The serial device in use.
    #[zbus(property)]
    fn device(&self) -> zbus::Result<String>;

    /// The number being dialed or connected to, or empty.
    #[zbus(property)]
    fn number(&self) -> zbus::Result<String>;

    /// The network interface (`dtn0`), or empty.
    #[zbus(property)]
    fn interface(&self) -> zbus::Result<String>;

    /// (local, peer) IPv4 addresses, or empty strings.
    #[zbus(property)]
    fn ipv4(&self) -> zbus::Result<(String, String)>;

    /// (local, peer) IPv6 link-local addresses, or empty strings.
    #[zbus(property)]
    fn ipv6(&self) -> zbus::Result<(String, String)>;

    /// The DNS servers in use.
    #[zbus(property)]
    fn dns(&self) -> zbus::Result<Vec<String>>;

    /// Whether the default route goes through this link.
    #[zbus(property)]
    fn default_route(&self) -> zbus::Result<bool>;

    /// The MTU, or 0.
    #[zbus(property)]
    fn mtu(&self) -> zbus::Result<u32>;

    /// The authentication used: `PAP`, `CHAP-MD5`, `MS-CHAPv2`, or empty.
    #[zbus(property)]
    fn authentication(&self) -> zbus::Result<String>;

    /// The speed from the modem's CONNECT line, or 0.
    #[zbus(property)]
    fn connect_speed(&self) -> zbus::Result<u32>;

    /// When the link came up, microseconds since the Unix epoch, or 0.
    #[zbus(property)]
    fn connected_since(&self) -> zbus::Result<u64>;

    /// Counters (see [`STATISTICS_KEYS`]), updated about once a second
    /// while the link is up.
    #[zbus(property)]
    fn statistics(&self) -> zbus::Result<HashMap<String, u64>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_as_documented() {
        assert_eq!(StateReason::SIGNATURE.to_string(), "(ssa{ss})");
        assert_eq!(PortInfo::SIGNATURE.to_string(), "(ssssssqqsssub)");
        assert_eq!(TranscriptEntry::SIGNATURE.to_string(), "(tsss)");
    }

    #[test]
    fn states_round_trip_through_their_words() {
        for s in LinkState::ALL {
            assert_eq!(s.as_str().parse::<LinkState>().unwrap(), s);
        }
        assert!("up".parse::<LinkState>().is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(
            profile_path("isp"),
            "/io/github/dialtone/Dialtone1/Profile/isp"
        );
        assert_eq!(link_path(3), "/io/github/dialtone/Dialtone1/Link/3");
    }
}
