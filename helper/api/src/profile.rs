//! A connection profile: everything the pppd + chat + pap-secrets +
//! resolv.conf recipes of the old guides spread over four files, in one
//! RON file (the password excepted: see [`crate::secrets`]).
//!
//! ```ron
//! Profile(
//!     version: 1,
//!     name: "Example ISP",
//!     line: (device: "/dev/ttyS1", speed: 57600),
//!     modem: Some((numbers: ["1234567"])),
//!     login: [(expect: "ogin:--ogin:", send: User), (expect: "ssword:", send: Password)],
//!     user: "USERNAME",
//! )
//! ```
//!
//! Every field but `version` and `name` has a default; unknown fields are
//! errors, so a misspelt option never goes silently unused.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The profile format this build reads and writes.
pub const PROFILE_VERSION: u32 = 1;

/// The largest profile file accepted, in bytes.
pub const MAX_PROFILE_BYTES: usize = 64 * 1024;

/// A connection profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The format version: [`PROFILE_VERSION`].
    pub version: u32,
    /// The name people see ("Example ISP").
    pub name: String,
    /// The serial line.
    #[serde(default)]
    pub line: Line,
    /// The modem and how to dial; `None` for a direct line (null-modem
    /// cable, a microcontroller's UART) where PPP starts at once.
    #[serde(default)]
    pub modem: Option<Modem>,
    /// A text login before PPP starts (the `ogin:` / `ssword:` exchange of
    /// older dial-in servers); empty for none.
    #[serde(default)]
    pub login: Vec<LoginStep>,
    /// The user name for the login and for PAP/CHAP. The password is in the
    /// profile's secrets file.
    #[serde(default)]
    pub user: String,
    /// The PPP engine's settings: LCP, authentication, IPCP, IPV6CP.
    #[serde(default)]
    pub ppp: dialtone_ppp::Config,
    /// What to do with the link once it is up.
    #[serde(default)]
    pub network: Network,
    /// Reconnecting, idle timeout, demand dialing.
    #[serde(default)]
    pub policy: Policy,
}

/// Flow control on the serial line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FlowControl {
    /// None.
    None,
    /// RTS/CTS (pppd's `crtscts`): right for nearly every modem.
    #[default]
    Hardware,
    /// XON/XOFF; those characters must then be escaped (LCP ACCM).
    Software,
}

/// Whether the line has a modem's control lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Carrier {
    /// A modem: losing carrier (DCD) ends the link, dropping DTR hangs up
    /// (pppd's `modem`).
    #[default]
    Modem,
    /// A local line: the control lines are ignored (pppd's `local`).
    Local,
}

/// The serial line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Line {
    /// The device: `/dev/ttyS0`, `/dev/ttyUSB0`, `/dev/modem`, a
    /// `/dev/serial/by-id/…` name.
    pub device: String,
    /// Bits per second.
    pub speed: u32,
    /// Flow control.
    pub flow_control: FlowControl,
    /// Modem control lines or none.
    pub carrier: Carrier,
}

impl Default for Line {
    fn default() -> Self {
        Line {
            device: "/dev/modem".into(),
            speed: 115_200,
            flow_control: FlowControl::Hardware,
            carrier: Carrier::Modem,
        }
    }
}

/// The modem and how to dial it (what chat scripts did).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Modem {
    /// Commands sent in turn before dialing, each expecting `OK`.
    pub init: Vec<String>,
    /// The dial command, to which a number is appended: `ATDT`, `ATDP`,
    /// or `ATD` for cellular modules (`ATD*99#`).
    pub dial_command: String,
    /// Numbers tried in turn until one connects.
    pub numbers: Vec<String>,
    /// Modem responses that end a dial attempt with a reason (chat's
    /// `ABORT`). BUSY, NO CARRIER, NO DIALTONE, NO ANSWER and ERROR are
    /// always included.
    pub abort: Vec<String>,
    /// Seconds to wait for `OK` after each command.
    pub command_timeout: u32,
    /// Seconds to wait for `CONNECT` after dialing.
    pub connect_timeout: u32,
}

impl Default for Modem {
    fn default() -> Self {
        Modem {
            init: vec!["ATZ".into()],
            dial_command: "ATDT".into(),
            numbers: Vec::new(),
            abort: Vec::new(),
            command_timeout: 5,
            connect_timeout: 60,
        }
    }
}

/// The modem responses that always abort a dial attempt.
pub const STANDARD_ABORTS: [&str; 5] = ["BUSY", "NO CARRIER", "NO DIALTONE", "NO ANSWER", "ERROR"];

impl Modem {
    /// The abort strings in force: the standard ones, then the profile's own.
    pub fn aborts(&self) -> Vec<String> {
        let mut all: Vec<String> = STANDARD_ABORTS.iter().map(|s| s.to_string()).collect();
        for a in &self.abort {
            if !all.contains(a) {
                all.push(a.clone());
            }
        }
        all
    }
}

/// What a login step sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Send {
    /// The profile's user name.
    User,
    /// The password from the secrets file (masked in every transcript).
    Password,
    /// This text.
    Text(String),
}

/// One expect/send pair of the text login, with chat's retry form: an
/// `expect` of `ogin:--ogin:` waits for `ogin:`, and if it does not come
/// in time sends a carriage return and waits again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginStep {
    /// The text to wait for, possibly `expect-subsend-expect…`.
    pub expect: String,
    /// What to send once it came; a carriage return follows.
    pub send: Send,
    /// Seconds to wait for each expected text.
    #[serde(default = "default_login_timeout")]
    pub timeout: u32,
}

fn default_login_timeout() -> u32 {
    30
}

/// What to do with the link once it is up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Network {
    /// Route the default route through the link (pppd's `defaultroute`).
    pub default_route: bool,
    /// The metric of that route.
    pub route_metric: u32,
    /// Replace an existing default route (restored when the link goes
    /// down) instead of leaving it alone.
    pub replace_default_route: bool,
    /// Use the DNS servers the peer hands out (pppd's `usepeerdns`).
    pub peer_dns: bool,
    /// DNS servers of our own, used before (or instead of) the peer's.
    pub dns: Vec<IpAddr>,
    /// DNS search domains for the link.
    pub search: Vec<String>,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            default_route: true,
            route_metric: 100,
            replace_default_route: false,
            peer_dns: true,
            dns: Vec::new(),
            search: Vec::new(),
        }
    }
}

/// Reconnecting, idle timeout, demand dialing, time limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Redial after the link drops (pppd's `persist`).
    pub persist: bool,
    /// Failed attempts in a row before giving up; 0 for never.
    pub max_fail: u32,
    /// Seconds before the first redial; doubled after each failure.
    pub holdoff: u32,
    /// The longest wait between redials, in seconds.
    pub holdoff_max: u32,
    /// Hang up after this many seconds without IP traffic; 0 for never.
    pub idle: u32,
    /// Dial only when the first packet needs the link (pppd's `demand`).
    pub demand: bool,
    /// Hang up after this many seconds connected; 0 for no limit.
    pub max_connect: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            persist: false,
            max_fail: 10,
            holdoff: 5,
            holdoff_max: 300,
            idle: 0,
            demand: false,
            max_connect: 0,
        }
    }
}

/// Why a profile was refused. Every message names the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    /// The file is not valid RON for a profile (position and cause).
    #[error("not a valid profile: {0}")]
    Syntax(String),
    /// Written by a newer Dialtone.
    #[error(
        "profile version {found} is not supported (this Dialtone reads version {PROFILE_VERSION})"
    )]
    Version {
        /// The version in the file.
        found: u32,
    },
    /// Larger than [`MAX_PROFILE_BYTES`].
    #[error("the profile is {0} bytes; at most {MAX_PROFILE_BYTES} are accepted")]
    TooLarge(usize),
    /// A value out of range or malformed.
    #[error("{field}: {problem}")]
    Invalid {
        /// The field, as a path (`modem.numbers[1]`).
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ProfileError {
    ProfileError::Invalid {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Serial speeds the kernel's termios can set.
pub const SPEEDS: [u32; 20] = [
    300, 600, 1200, 2400, 4800, 9600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 500_000,
    576_000, 921_600, 1_000_000, 1_152_000, 1_500_000, 2_000_000, 3_000_000,
];

/// Strings the modem or the login will see: printable, bounded, one line.
fn bounded(field: &str, len: usize, max: usize) -> Result<(), ProfileError> {
    if len > max {
        return Err(invalid(field, format!("at most {max} entries, not {len}")));
    }
    Ok(())
}

fn check_text(field: &str, text: &str, max: usize) -> Result<(), ProfileError> {
    if text.len() > max {
        return Err(invalid(field, format!("longer than {max} bytes")));
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(invalid(
            field,
            format!("contains the control character {:?}", c),
        ));
    }
    Ok(())
}

impl Profile {
    /// A profile with every default and the given name.
    pub fn new(name: impl Into<String>) -> Self {
        Profile {
            version: PROFILE_VERSION,
            name: name.into(),
            line: Line::default(),
            modem: None,
            login: Vec::new(),
            user: String::new(),
            ppp: dialtone_ppp::Config::default(),
            network: Network::default(),
            policy: Policy::default(),
        }
    }

    /// Parses and validates a profile.
    pub fn from_ron(text: &str) -> Result<Profile, ProfileError> {
        if text.len() > MAX_PROFILE_BYTES {
            return Err(ProfileError::TooLarge(text.len()));
        }
        // The version first, so that a newer file gets the right message
        // rather than "unknown field".
        if let Ok(ron::Value::Map(map)) = ron::from_str::<ron::Value>(text) {
            let version = map
                .iter()
                .find(|(k, _)| **k == ron::Value::String("version".into()))
                .and_then(|(_, v)| v.clone().into_rust::<u32>().ok());
            if let Some(found) = version.filter(|&v| v != PROFILE_VERSION) {
                return Err(ProfileError::Version { found });
            }
        }
        let profile: Profile =
            ron::from_str(text).map_err(|e| ProfileError::Syntax(e.to_string()))?;
        profile.validate()?;
        Ok(profile)
    }

    /// The profile as pretty RON, as saved to disk.
    pub fn to_ron(&self) -> String {
        let config = ron::ser::PrettyConfig::new()
            .struct_names(true)
            .depth_limit(4)
            .indentor("    ");
        // Serialising plain data to a String cannot fail.
        ron::ser::to_string_pretty(self, config).unwrap_or_default()
    }

    /// Checks every value a person could get wrong.
    pub fn validate(&self) -> Result<(), ProfileError> {
        if self.version != PROFILE_VERSION {
            return Err(ProfileError::Version {
                found: self.version,
            });
        }
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        check_text("name", &self.name, 128)?;
        if !self.line.device.starts_with("/dev/") {
            return Err(invalid("line.device", "must be a device under /dev/"));
        }
        check_text("line.device", &self.line.device, 256)?;
        if self.line.device.split('/').any(|part| part == "..") {
            return Err(invalid("line.device", "must not contain \"..\""));
        }
        if !SPEEDS.contains(&self.line.speed) {
            return Err(invalid(
                "line.speed",
                format!(
                    "{} is not a serial speed (e.g. 57600, 115200)",
                    self.line.speed
                ),
            ));
        }
        if let Some(m) = &self.modem {
            bounded("modem.init", m.init.len(), 16)?;
            bounded("modem.numbers", m.numbers.len(), 16)?;
            bounded("modem.abort", m.abort.len(), 32)?;
            for (i, cmd) in m.init.iter().enumerate() {
                check_text(&format!("modem.init[{i}]"), cmd, 128)?;
            }
            check_text("modem.dial_command", &m.dial_command, 32)?;
            if m.numbers.is_empty() {
                return Err(invalid(
                    "modem.numbers",
                    "at least one number is needed to dial",
                ));
            }
            for (i, n) in m.numbers.iter().enumerate() {
                let field = format!("modem.numbers[{i}]");
                check_text(&field, n, 64)?;
                if n.is_empty() {
                    return Err(invalid(field, "must not be empty"));
                }
                if let Some(c) = n
                    .chars()
                    .find(|c| !(c.is_ascii_digit() || "*#+,;!@WPTwpt ()-".contains(*c)))
                {
                    return Err(invalid(field, format!("{c:?} cannot be dialed")));
                }
            }
            for (i, a) in m.abort.iter().enumerate() {
                let field = format!("modem.abort[{i}]");
                check_text(&field, a, 64)?;
                if a.is_empty() {
                    return Err(invalid(field, "must not be empty"));
                }
            }
            if m.command_timeout == 0 || m.command_timeout > 600 {
                return Err(invalid("modem.command_timeout", "must be 1 to 600 seconds"));
            }
            if m.connect_timeout == 0 || m.connect_timeout > 600 {
                return Err(invalid("modem.connect_timeout", "must be 1 to 600 seconds"));
            }
        }
        bounded("login", self.login.len(), 32)?;
        for (i, step) in self.login.iter().enumerate() {
            check_text(&format!("login[{i}].expect"), &step.expect, 128)?;
            if let Send::Text(t) = &step.send {
                check_text(&format!("login[{i}].send"), t, 128)?;
            }
            if step.timeout == 0 || step.timeout > 600 {
                return Err(invalid(
                    format!("login[{i}].timeout"),
                    "must be 1 to 600 seconds",
                ));
            }
        }
        check_text("user", &self.user, 128)?;
        let needs_user = self.login.iter().any(|s| matches!(s.send, Send::User));
        if needs_user && self.user.is_empty() {
            return Err(invalid(
                "user",
                "the login sends the user name, but none is set",
            ));
        }
        let lcp = &self.ppp.lcp;
        if !(128..=16384).contains(&lcp.mru) {
            return Err(invalid("ppp.lcp.mru", "must be 128 to 16384"));
        }
        check_text("ppp.auth.name", &self.ppp.auth.name, 128)?;
        let methods = &self.ppp.auth.methods;
        if methods
            .iter()
            .enumerate()
            .any(|(i, m)| methods[..i].contains(m))
        {
            return Err(invalid("ppp.auth.methods", "a method is listed twice"));
        }
        if self.ppp.ipcp.dns.len() > 2 {
            return Err(invalid(
                "ppp.ipcp.dns",
                "at most two servers can be handed out",
            ));
        }
        if !self.ppp.ipcp.enabled && !self.ppp.ipv6cp.enabled {
            return Err(invalid(
                "ppp",
                "IPv4 and IPv6 are both off: the link would carry nothing",
            ));
        }
        if self.network.dns.len() > 3 {
            return Err(invalid("network.dns", "at most three servers"));
        }
        bounded("network.search", self.network.search.len(), 6)?;
        for (i, d) in self.network.search.iter().enumerate() {
            let field = format!("network.search[{i}]");
            check_text(&field, d, 253)?;
            if d.is_empty() || d.contains(char::is_whitespace) {
                return Err(invalid(field, "must be a domain name"));
            }
        }
        let p = &self.policy;
        if p.holdoff_max < p.holdoff {
            return Err(invalid(
                "policy.holdoff_max",
                "must not be below policy.holdoff",
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Send {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Send::User => f.write_str("the user name"),
            Send::Password => f.write_str("the password"),
            Send::Text(t) => write!(f, "{t:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_profile_takes_every_default() {
        let p = Profile::from_ron(
            "Profile(version: 1, name: \"Direct\", line: (device: \"/dev/ttyS0\"))",
        )
        .unwrap();
        assert_eq!(p.line.speed, 115_200);
        assert_eq!(p.line.flow_control, FlowControl::Hardware);
        assert!(p.modem.is_none());
        assert!(p.network.default_route && p.network.peer_dns);
        assert_eq!(p.ppp, dialtone_ppp::Config::default());
    }

    #[test]
    fn round_trip_through_ron() {
        let mut p = Profile::new("Example ISP");
        p.modem = Some(Modem {
            numbers: vec!["1234567".into(), "7654321".into()],
            ..Modem::default()
        });
        p.login = vec![
            LoginStep {
                expect: "ogin:--ogin:".into(),
                send: Send::User,
                timeout: 30,
            },
            LoginStep {
                expect: "ssword:".into(),
                send: Send::Password,
                timeout: 30,
            },
        ];
        p.user = "ppp".into();
        p.network.dns = vec!["192.0.2.53".parse().unwrap()];
        let text = p.to_ron();
        assert_eq!(Profile::from_ron(&text).unwrap(), p, "{text}");
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("Profile(version: 1, name: \"x\", line: (speed: 12345))", "line.speed"),
            ("Profile(version: 1, name: \"x\", modem: Some(()))", "modem.numbers"),
            (
                "Profile(version: 1, name: \"x\", modem: Some((numbers: [\"12; rm -rf /\"])))",
                "modem.numbers[0]",
            ),
            ("Profile(version: 1, name: \"x\", line: (device: \"/etc/shadow\"))", "line.device"),
            ("Profile(version: 1, name: \"x\", line: (device: \"/dev/../etc/shadow\"))", "line.device"),
            ("Profile(version: 1, name: \"x\", modem: Some((numbers: [\"1\"], init: [\"AT\\u{0}Z\"])))", "modem.init[0]"),
            ("Profile(version: 1, name: \"x\", login: [(expect: \"ogin:\", send: User)])", "user"),
            ("Profile(version: 1, name: \" \")", "name"),
        ];
        for (text, field) in cases {
            match Profile::from_ron(text) {
                Err(ProfileError::Invalid { field: f, .. }) => assert_eq!(f, field, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_fields_wrong_types_and_versions() {
        assert!(matches!(
            Profile::from_ron("Profile(version: 1, name: \"x\", colour: \"red\")"),
            Err(ProfileError::Syntax(_))
        ));
        assert!(matches!(
            Profile::from_ron("Profile(version: 1, name: \"x\", line: (speed: \"fast\"))"),
            Err(ProfileError::Syntax(_))
        ));
        assert_eq!(
            Profile::from_ron("Profile(version: 2, name: \"x\", hologram: true)"),
            Err(ProfileError::Version { found: 2 })
        );
        assert!(matches!(
            Profile::from_ron(&"x".repeat(MAX_PROFILE_BYTES + 1)),
            Err(ProfileError::TooLarge(_))
        ));
        assert!(matches!(
            Profile::from_ron("Profile(name: \"x\")"),
            Err(ProfileError::Syntax(_))
        ));
    }

    #[test]
    fn standard_aborts_always_apply() {
        let m = Modem {
            abort: vec!["BUSY".into(), "VOICE".into()],
            ..Modem::default()
        };
        assert_eq!(
            m.aborts(),
            [
                "BUSY",
                "NO CARRIER",
                "NO DIALTONE",
                "NO ANSWER",
                "ERROR",
                "VOICE"
            ]
        );
    }
}
