//! A [`Profile`] as a D-Bus dictionary (`a{sv}`) with dotted keys, the way
//! NetworkManager passes connection settings: every value typed, every key
//! the path of a field of the model (`line.speed`, `ppp.lcp.mru`), named as
//! [`Profile::validate`] names fields, so that a client can build an editor
//! from [`KEYS`] and show each error at its field.
//!
//! [`to_settings`] writes every key, except the options that are `None`.
//! [`from_settings`] takes any subset: a key left out keeps the profile's
//! default, but `version` and `name` are required. Unknown keys and values
//! of another D-Bus type are errors, never ignored or coerced. The
//! reference, with each key's default, is `docs/settings.md`.
//!
//! A login step is a structure `(expect, kind, text, timeout)` where `kind`
//! is `user`, `password` or `text`, and `text` is empty unless the kind is
//! `text`. Everything sent to the modem or the login (chat strings) is
//! literal text: nothing in it is ever run.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use dialtone_ppp::config::{AuthConfig, FsmConfig, IpcpConfig, Ipv6cpConfig, LcpConfig};
use dialtone_ppp::{AuthMethod, Config};
use zbus::{OwnedVariant, Variant};

use crate::profile::{
    Carrier, FlowControl, Line, LoginStep, Modem, Network, Policy, Profile, ProfileError, Send,
    MAX_PROFILE_BYTES, PROFILE_VERSION,
};

/// A profile's settings: dotted keys to typed values, sent on D-Bus as
/// `a{sv}`. [`OwnedVariant`](struct@OwnedVariant) is the type zbus 5 called
/// `zbus::zvariant::OwnedValue` (a deprecated alias in zbus 6).
pub type Settings = HashMap<String, OwnedVariant>;

/// The most entries [`from_settings`] looks at; more is [`SettingsError::TooLarge`].
pub const MAX_KEYS: usize = 256;

/// Login steps accepted in `login`.
const MAX_LOGIN_STEPS: usize = 32;
/// Entries accepted in each list.
const MAX_INIT: usize = 16;
const MAX_NUMBERS: usize = 16;
const MAX_ABORT: usize = 32;
const MAX_METHODS: usize = 3;
const MAX_IPCP_DNS: usize = 2;
const MAX_NETWORK_DNS: usize = 3;
const MAX_SEARCH: usize = 6;
/// How deep the size check looks into nested values: deeper than any key's
/// type, whose values are refused as the wrong type without being read.
const MAX_DEPTH: usize = 3;

/// Every key with its D-Bus signature and a one-line description, in the
/// order of the model, for documentation and for clients building editors.
#[rustfmt::skip]
pub const KEYS: &[(&str, &str, &str)] = &[
    ("version", "u", "The profile format: 1 (required)"),
    ("name", "s", "The name people see (required)"),
    ("line.device", "s", "The serial device, under /dev/"),
    ("line.speed", "u", "Bits per second: a termios speed such as 57600 or 115200"),
    ("line.flow_control", "s", "Flow control: none, hardware (RTS/CTS) or software (XON/XOFF)"),
    ("line.carrier", "s", "modem (losing carrier ends the link) or local (control lines ignored)"),
    ("modem.enabled", "b", "Dial through a modem; false for a direct line"),
    ("modem.init", "as", "Commands sent in turn before dialing, each expecting OK"),
    ("modem.dial_command", "s", "The dial command a number is appended to: ATDT, ATDP, ATD"),
    ("modem.numbers", "as", "Numbers tried in turn until one connects"),
    ("modem.abort", "as", "Modem responses that end a dial attempt, besides the standard ones"),
    ("modem.command_timeout", "u", "Seconds to wait for OK after each command (1 to 600)"),
    ("modem.connect_timeout", "u", "Seconds to wait for CONNECT after dialing (1 to 600)"),
    ("login", "a(sssu)", "Text login before PPP: (expect, user|password|text, text, timeout)"),
    ("user", "s", "The user name for the login and for PAP/CHAP"),
    ("ppp.fsm.restart_ms", "u", "Restart timer of the negotiation, in milliseconds"),
    ("ppp.fsm.max_configure", "y", "Configure-Requests without reply before giving up"),
    ("ppp.fsm.max_terminate", "y", "Terminate-Requests without reply before giving up"),
    ("ppp.fsm.max_failure", "y", "Configure-Naks in a row before Naks become Rejects"),
    ("ppp.lcp.mru", "q", "The largest packet we accept (128 to 16384)"),
    ("ppp.lcp.accm", "u", "Control characters the peer must escape towards us (bit mask)"),
    ("ppp.lcp.magic_number", "b", "Negotiate a Magic-Number to detect looped-back lines"),
    ("ppp.lcp.pfc", "b", "Ask for Protocol-Field-Compression"),
    ("ppp.lcp.acfc", "b", "Ask for Address-and-Control-Field-Compression"),
    ("ppp.lcp.echo_interval", "u", "Seconds between LCP Echo-Requests; 0 for no keepalive"),
    ("ppp.lcp.echo_failure", "u", "Unanswered Echo-Requests in a row that take the link down"),
    ("ppp.auth.methods", "as", "Authentication methods: pap, chap-md5, mschapv2 (no repeats)"),
    ("ppp.auth.name", "s", "Our name when no user name is given (answerer: the CHAP name)"),
    ("ppp.auth.timeout", "u", "Seconds authentication may take"),
    ("ppp.auth.rechallenge_interval", "u", "Answerer: seconds between CHAP re-challenges; 0 for never"),
    ("ppp.ipcp.enabled", "b", "Negotiate IPv4"),
    ("ppp.ipcp.local", "s", "Our IPv4 address (dotted); absent to ask the peer for one"),
    ("ppp.ipcp.remote", "s", "The peer's IPv4 address (dotted); absent if not known"),
    ("ppp.ipcp.request_dns", "b", "Ask the peer for DNS servers"),
    ("ppp.ipcp.dns", "as", "Answerer: IPv4 DNS servers handed to the caller (at most 2)"),
    ("ppp.ipv6cp.enabled", "b", "Negotiate IPv6"),
    ("ppp.ipv6cp.interface_id", "ay", "Our IPv6 interface identifier (8 bytes); absent for random"),
    ("network.default_route", "b", "Route the default route through the link"),
    ("network.route_metric", "u", "The metric of that route"),
    ("network.replace_default_route", "b", "Replace an existing default route while the link is up"),
    ("network.peer_dns", "b", "Use the DNS servers the peer hands out"),
    ("network.dns", "as", "DNS servers of our own, IPv4 or IPv6 (at most 3)"),
    ("network.search", "as", "DNS search domains (at most 6)"),
    ("policy.persist", "b", "Redial after the link drops"),
    ("policy.max_fail", "u", "Failed attempts in a row before giving up; 0 for never"),
    ("policy.holdoff", "u", "Seconds before the first redial; doubled after each failure"),
    ("policy.holdoff_max", "u", "The longest wait between redials, in seconds"),
    ("policy.idle", "u", "Hang up after this many seconds without IP traffic; 0 for never"),
    ("policy.demand", "b", "Dial only when the first packet needs the link"),
    ("policy.max_connect", "u", "Hang up after this many seconds connected; 0 for no limit"),
];

/// Why settings were refused. Every variant but [`SettingsError::TooLarge`]
/// names the key or field at fault ([`SettingsError::key`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    /// A key that is not in [`KEYS`].
    #[error("{key}: unknown setting")]
    Unknown {
        /// The key as given.
        key: String,
    },
    /// A value of another D-Bus type than the key's (never coerced).
    #[error("{key}: expected {expected}, got {got}")]
    WrongType {
        /// The key.
        key: String,
        /// The type the key takes, e.g. "an unsigned 32-bit number (u)".
        expected: &'static str,
        /// The type given, e.g. "a string (s)".
        got: String,
    },
    /// A value of the right type that is not acceptable: an unknown word,
    /// a malformed address, too many entries, a required key missing, or a
    /// failure of [`Profile::validate`].
    #[error("{key}: {problem}")]
    Invalid {
        /// The key, or the field within it (`modem.numbers[1]`,
        /// `login[0].send`), as [`Profile::validate`] names fields.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// More than [`MAX_KEYS`] entries, or more than [`MAX_PROFILE_BYTES`]
    /// of keys and values together; refused before anything is read.
    #[error("the settings are too large: {problem}")]
    TooLarge {
        /// What exceeds which limit.
        problem: String,
    },
}

impl SettingsError {
    /// The key or field at fault, for showing the error beside it; `None`
    /// for [`SettingsError::TooLarge`].
    pub fn key(&self) -> Option<&str> {
        match self {
            SettingsError::Unknown { key }
            | SettingsError::WrongType { key, .. }
            | SettingsError::Invalid { key, .. } => Some(key),
            SettingsError::TooLarge { .. } => None,
        }
    }
}

// The types the keys take, as told in errors.
const BYTE: &str = "a byte (y)";
const BOOL: &str = "a boolean (b)";
const U16: &str = "an unsigned 16-bit number (q)";
const U32: &str = "an unsigned 32-bit number (u)";
const STR: &str = "a string (s)";
const STRS: &str = "an array of strings (as)";
const BYTES: &str = "an array of bytes (ay)";
const STEPS: &str = "an array of login steps (a(sssu))";

/// The D-Bus words of the model's enums. Each `*_word` function matches
/// exhaustively, so a new variant breaks the build here; the arrays list
/// the variants accepted on input.
const FLOW_CONTROLS: [FlowControl; 3] = [
    FlowControl::None,
    FlowControl::Hardware,
    FlowControl::Software,
];
const CARRIERS: [Carrier; 2] = [Carrier::Modem, Carrier::Local];
const METHODS: [AuthMethod; 3] = [AuthMethod::Pap, AuthMethod::ChapMd5, AuthMethod::MsChapV2];

/// The word of `line.flow_control` for a flow control.
pub fn flow_word(flow: FlowControl) -> &'static str {
    match flow {
        FlowControl::None => "none",
        FlowControl::Hardware => "hardware",
        FlowControl::Software => "software",
    }
}

/// The word of `line.carrier` for a carrier setting.
pub fn carrier_word(carrier: Carrier) -> &'static str {
    match carrier {
        Carrier::Modem => "modem",
        Carrier::Local => "local",
    }
}

fn method_word(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::Pap => "pap",
        AuthMethod::ChapMd5 => "chap-md5",
        AuthMethod::MsChapV2 => "mschapv2",
    }
}

/// A login step's send as (kind, text).
fn send_words(send: &Send) -> (&'static str, &str) {
    match send {
        Send::User => ("user", ""),
        Send::Password => ("password", ""),
        Send::Text(text) => ("text", text),
    }
}

/// The profile as settings: every key of [`KEYS`] but `ppp.ipcp.local`,
/// `ppp.ipcp.remote` and `ppp.ipv6cp.interface_id` when they are `None`,
/// and the `modem.*` keys other than `modem.enabled` when there is no modem.
pub fn to_settings(profile: &Profile) -> Settings {
    // Every struct destructured with all its fields: a field added to the
    // model does not compile here until it has a key.
    let Profile {
        version,
        name,
        line,
        modem,
        login,
        user,
        ppp,
        network,
        policy,
    } = profile;
    let Line {
        device,
        speed,
        flow_control,
        carrier,
    } = line;
    let Config {
        fsm,
        lcp,
        auth,
        ipcp,
        ipv6cp,
    } = ppp;
    let FsmConfig {
        restart_ms,
        max_configure,
        max_terminate,
        max_failure,
    } = fsm;
    let LcpConfig {
        mru,
        accm,
        magic_number,
        pfc,
        acfc,
        echo_interval,
        echo_failure,
    } = lcp;
    let AuthConfig {
        methods,
        name: auth_name,
        timeout: auth_timeout,
        rechallenge_interval,
    } = auth;
    let IpcpConfig {
        enabled: ipcp_enabled,
        local,
        remote,
        request_dns,
        dns: ipcp_dns,
    } = ipcp;
    let Ipv6cpConfig {
        enabled: ipv6cp_enabled,
        interface_id,
    } = ipv6cp;
    let Network {
        default_route,
        route_metric,
        replace_default_route,
        peer_dns,
        dns: network_dns,
        search,
    } = network;
    let Policy {
        persist,
        max_fail,
        holdoff,
        holdoff_max,
        idle,
        demand,
        max_connect,
    } = policy;

    let mut s = Settings::with_capacity(KEYS.len());
    put(&mut s, "version", *version);
    put(&mut s, "name", name.as_str());
    put(&mut s, "line.device", device.as_str());
    put(&mut s, "line.speed", *speed);
    put(&mut s, "line.flow_control", flow_word(*flow_control));
    put(&mut s, "line.carrier", carrier_word(*carrier));
    put(&mut s, "modem.enabled", modem.is_some());
    if let Some(Modem {
        init,
        dial_command,
        numbers,
        abort,
        command_timeout,
        connect_timeout,
    }) = modem
    {
        put(&mut s, "modem.init", texts(init));
        put(&mut s, "modem.dial_command", dial_command.as_str());
        put(&mut s, "modem.numbers", texts(numbers));
        put(&mut s, "modem.abort", texts(abort));
        put(&mut s, "modem.command_timeout", *command_timeout);
        put(&mut s, "modem.connect_timeout", *connect_timeout);
    }
    let steps: Vec<(&str, &str, &str, u32)> = login
        .iter()
        .map(|step| {
            let LoginStep {
                expect,
                send,
                timeout,
            } = step;
            let (kind, text) = send_words(send);
            (expect.as_str(), kind, text, *timeout)
        })
        .collect();
    put(&mut s, "login", steps);
    put(&mut s, "user", user.as_str());
    put(&mut s, "ppp.fsm.restart_ms", *restart_ms);
    put(&mut s, "ppp.fsm.max_configure", *max_configure);
    put(&mut s, "ppp.fsm.max_terminate", *max_terminate);
    put(&mut s, "ppp.fsm.max_failure", *max_failure);
    put(&mut s, "ppp.lcp.mru", *mru);
    put(&mut s, "ppp.lcp.accm", *accm);
    put(&mut s, "ppp.lcp.magic_number", *magic_number);
    put(&mut s, "ppp.lcp.pfc", *pfc);
    put(&mut s, "ppp.lcp.acfc", *acfc);
    put(&mut s, "ppp.lcp.echo_interval", *echo_interval);
    put(&mut s, "ppp.lcp.echo_failure", *echo_failure);
    let words: Vec<&str> = methods.iter().map(|m| method_word(*m)).collect();
    put(&mut s, "ppp.auth.methods", words);
    put(&mut s, "ppp.auth.name", auth_name.as_str());
    put(&mut s, "ppp.auth.timeout", *auth_timeout);
    put(
        &mut s,
        "ppp.auth.rechallenge_interval",
        *rechallenge_interval,
    );
    put(&mut s, "ppp.ipcp.enabled", *ipcp_enabled);
    if let Some(address) = local {
        put(&mut s, "ppp.ipcp.local", address.to_string());
    }
    if let Some(address) = remote {
        put(&mut s, "ppp.ipcp.remote", address.to_string());
    }
    put(&mut s, "ppp.ipcp.request_dns", *request_dns);
    let servers: Vec<String> = ipcp_dns.iter().map(|a| a.to_string()).collect();
    put(&mut s, "ppp.ipcp.dns", servers);
    put(&mut s, "ppp.ipv6cp.enabled", *ipv6cp_enabled);
    if let Some(id) = interface_id {
        put(&mut s, "ppp.ipv6cp.interface_id", id.to_vec());
    }
    put(&mut s, "network.default_route", *default_route);
    put(&mut s, "network.route_metric", *route_metric);
    put(
        &mut s,
        "network.replace_default_route",
        *replace_default_route,
    );
    put(&mut s, "network.peer_dns", *peer_dns);
    let servers: Vec<String> = network_dns.iter().map(|a| a.to_string()).collect();
    put(&mut s, "network.dns", servers);
    put(&mut s, "network.search", texts(search));
    put(&mut s, "policy.persist", *persist);
    put(&mut s, "policy.max_fail", *max_fail);
    put(&mut s, "policy.holdoff", *holdoff);
    put(&mut s, "policy.holdoff_max", *holdoff_max);
    put(&mut s, "policy.idle", *idle);
    put(&mut s, "policy.demand", *demand);
    put(&mut s, "policy.max_connect", *max_connect);
    s
}

fn texts(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

fn put<'a>(settings: &mut Settings, key: &str, value: impl Into<Variant<'a>>) {
    // Only a value holding a file descriptor can fail to become owned, and
    // none is built here.
    if let Ok(owned) = value.into().try_into_owned() {
        settings.insert(key.to_owned(), owned);
    }
}

/// A profile from settings, validated: keys left out take the defaults of
/// the profile model (`version` and `name` are required), a `modem` is
/// present if `modem.enabled` is true or, without `modem.enabled`, if any
/// other `modem.*` key is given. The size is checked first, then the
/// version, then the keys in sorted order, so that the error reported does
/// not depend on the map's order; a failure of [`Profile::validate`] keeps
/// its field name.
pub fn from_settings(settings: &Settings) -> Result<Profile, SettingsError> {
    check_size(settings)?;

    // The version first, so that a newer client gets the right message
    // rather than "unknown setting" for a key this build does not know.
    let version = match settings.get("version") {
        Some(value) => u32_value("version", value)?,
        None => return Err(invalid("version", "is required")),
    };
    if version != PROFILE_VERSION {
        return Err(invalid(
            "version",
            format!("version {version} is not supported (this Dialtone reads version {PROFILE_VERSION})"),
        ));
    }

    // The defaults, every field named: a field added to the model does not
    // compile here until it has a key.
    let mut name = None;
    let Line {
        mut device,
        mut speed,
        mut flow_control,
        mut carrier,
    } = Line::default();
    let mut modem_enabled = None;
    let mut modem_key = None;
    let Modem {
        mut init,
        mut dial_command,
        mut numbers,
        mut abort,
        mut command_timeout,
        mut connect_timeout,
    } = Modem::default();
    let mut login = Vec::new();
    let mut user = String::new();
    let FsmConfig {
        mut restart_ms,
        mut max_configure,
        mut max_terminate,
        mut max_failure,
    } = FsmConfig::default();
    let LcpConfig {
        mut mru,
        mut accm,
        mut magic_number,
        mut pfc,
        mut acfc,
        mut echo_interval,
        mut echo_failure,
    } = LcpConfig::default();
    let AuthConfig {
        mut methods,
        name: mut auth_name,
        timeout: mut auth_timeout,
        mut rechallenge_interval,
    } = AuthConfig::default();
    let IpcpConfig {
        enabled: mut ipcp_enabled,
        mut local,
        mut remote,
        mut request_dns,
        dns: mut ipcp_dns,
    } = IpcpConfig::default();
    let Ipv6cpConfig {
        enabled: mut ipv6cp_enabled,
        mut interface_id,
    } = Ipv6cpConfig::default();
    let Network {
        mut default_route,
        mut route_metric,
        mut replace_default_route,
        mut peer_dns,
        dns: mut network_dns,
        mut search,
    } = Network::default();
    let Policy {
        mut persist,
        mut max_fail,
        mut holdoff,
        mut holdoff_max,
        mut idle,
        mut demand,
        mut max_connect,
    } = Policy::default();

    // In key order, so that the error reported does not depend on the
    // order of the hash map.
    let mut entries: Vec<(&str, &Variant<'static>)> =
        settings.iter().map(|(k, v)| (k.as_str(), &**v)).collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));

    for (key, v) in entries {
        match key {
            "version" => {}
            "name" => name = Some(string(key, v)?),
            "line.device" => device = string(key, v)?,
            "line.speed" => speed = u32_value(key, v)?,
            "line.flow_control" => flow_control = word(key, v, &FLOW_CONTROLS, flow_word)?,
            "line.carrier" => carrier = word(key, v, &CARRIERS, carrier_word)?,
            "modem.enabled" => modem_enabled = Some(boolean(key, v)?),
            "modem.init" => init = strings(key, v, MAX_INIT)?,
            "modem.dial_command" => dial_command = string(key, v)?,
            "modem.numbers" => numbers = strings(key, v, MAX_NUMBERS)?,
            "modem.abort" => abort = strings(key, v, MAX_ABORT)?,
            "modem.command_timeout" => command_timeout = u32_value(key, v)?,
            "modem.connect_timeout" => connect_timeout = u32_value(key, v)?,
            "login" => login = login_steps(key, v)?,
            "user" => user = string(key, v)?,
            "ppp.fsm.restart_ms" => restart_ms = u32_value(key, v)?,
            "ppp.fsm.max_configure" => max_configure = byte(key, v)?,
            "ppp.fsm.max_terminate" => max_terminate = byte(key, v)?,
            "ppp.fsm.max_failure" => max_failure = byte(key, v)?,
            "ppp.lcp.mru" => mru = u16_value(key, v)?,
            "ppp.lcp.accm" => accm = u32_value(key, v)?,
            "ppp.lcp.magic_number" => magic_number = boolean(key, v)?,
            "ppp.lcp.pfc" => pfc = boolean(key, v)?,
            "ppp.lcp.acfc" => acfc = boolean(key, v)?,
            "ppp.lcp.echo_interval" => echo_interval = u32_value(key, v)?,
            "ppp.lcp.echo_failure" => echo_failure = u32_value(key, v)?,
            "ppp.auth.methods" => methods = auth_methods(key, v)?,
            "ppp.auth.name" => auth_name = string(key, v)?,
            "ppp.auth.timeout" => auth_timeout = u32_value(key, v)?,
            "ppp.auth.rechallenge_interval" => rechallenge_interval = u32_value(key, v)?,
            "ppp.ipcp.enabled" => ipcp_enabled = boolean(key, v)?,
            "ppp.ipcp.local" => local = Some(ipv4(key, text(key, v, STR)?)?),
            "ppp.ipcp.remote" => remote = Some(ipv4(key, text(key, v, STR)?)?),
            "ppp.ipcp.request_dns" => request_dns = boolean(key, v)?,
            "ppp.ipcp.dns" => ipcp_dns = list(key, v, MAX_IPCP_DNS, ipv4)?,
            "ppp.ipv6cp.enabled" => ipv6cp_enabled = boolean(key, v)?,
            "ppp.ipv6cp.interface_id" => interface_id = Some(identifier(key, v)?),
            "network.default_route" => default_route = boolean(key, v)?,
            "network.route_metric" => route_metric = u32_value(key, v)?,
            "network.replace_default_route" => replace_default_route = boolean(key, v)?,
            "network.peer_dns" => peer_dns = boolean(key, v)?,
            "network.dns" => {
                network_dns = list(key, v, MAX_NETWORK_DNS, |field, entry| {
                    entry.parse::<IpAddr>().map_err(|_| {
                        invalid(
                            field,
                            format!("{} is not an IPv4 or IPv6 address", quote(entry)),
                        )
                    })
                })?
            }
            "network.search" => search = strings(key, v, MAX_SEARCH)?,
            "policy.persist" => persist = boolean(key, v)?,
            "policy.max_fail" => max_fail = u32_value(key, v)?,
            "policy.holdoff" => holdoff = u32_value(key, v)?,
            "policy.holdoff_max" => holdoff_max = u32_value(key, v)?,
            "policy.idle" => idle = u32_value(key, v)?,
            "policy.demand" => demand = boolean(key, v)?,
            "policy.max_connect" => max_connect = u32_value(key, v)?,
            _ => {
                return Err(SettingsError::Unknown {
                    key: key.to_owned(),
                })
            }
        }
        if key.starts_with("modem.") && key != "modem.enabled" && modem_key.is_none() {
            modem_key = Some(key);
        }
    }

    let name = name.ok_or_else(|| invalid("name", "is required"))?;
    let modem = match (modem_enabled, modem_key) {
        (Some(false), Some(key)) => {
            return Err(invalid(key, "is given, but modem.enabled is false"));
        }
        (Some(true), _) | (None, Some(_)) => Some(Modem {
            init,
            dial_command,
            numbers,
            abort,
            command_timeout,
            connect_timeout,
        }),
        (Some(false), None) | (None, None) => None,
    };
    let profile = Profile {
        version,
        name,
        line: Line {
            device,
            speed,
            flow_control,
            carrier,
        },
        modem,
        login,
        user,
        ppp: Config {
            fsm: FsmConfig {
                restart_ms,
                max_configure,
                max_terminate,
                max_failure,
            },
            lcp: LcpConfig {
                mru,
                accm,
                magic_number,
                pfc,
                acfc,
                echo_interval,
                echo_failure,
            },
            auth: AuthConfig {
                methods,
                name: auth_name,
                timeout: auth_timeout,
                rechallenge_interval,
            },
            ipcp: IpcpConfig {
                enabled: ipcp_enabled,
                local,
                remote,
                request_dns,
                dns: ipcp_dns,
            },
            ipv6cp: Ipv6cpConfig {
                enabled: ipv6cp_enabled,
                interface_id,
            },
        },
        network: Network {
            default_route,
            route_metric,
            replace_default_route,
            peer_dns,
            dns: network_dns,
            search,
        },
        policy: Policy {
            persist,
            max_fail,
            holdoff,
            holdoff_max,
            idle,
            demand,
            max_connect,
        },
    };
    profile.validate().map_err(from_profile_error)?;
    Ok(profile)
}

fn from_profile_error(error: ProfileError) -> SettingsError {
    match error {
        ProfileError::Invalid { field, problem } => SettingsError::Invalid {
            key: field,
            problem,
        },
        ProfileError::Version { .. } => invalid("version", error.to_string()),
        ProfileError::TooLarge(_) => SettingsError::TooLarge {
            problem: error.to_string(),
        },
        // validate() does not parse, so never says this.
        ProfileError::Syntax(problem) => invalid("profile", problem),
    }
}

/// Refuses oversized settings before anything is copied: at most
/// [`MAX_KEYS`] entries and [`MAX_PROFILE_BYTES`] of keys, text and list
/// entries (each entry and value counting a byte besides its text).
fn check_size(settings: &Settings) -> Result<(), SettingsError> {
    if settings.len() > MAX_KEYS {
        return Err(SettingsError::TooLarge {
            problem: format!(
                "{} settings; at most {MAX_KEYS} are accepted",
                settings.len()
            ),
        });
    }
    let mut total = 0usize;
    for (key, value) in settings {
        total = total.saturating_add(key.len());
        weigh(value, 0, &mut total);
        if total > MAX_PROFILE_BYTES {
            return Err(SettingsError::TooLarge {
                problem: format!("more than {MAX_PROFILE_BYTES} bytes of keys and values"),
            });
        }
    }
    Ok(())
}

/// Adds the size of `value` to `total`, stopping once past the limit, so
/// that the work is bounded whatever the value.
fn weigh(value: &Variant<'_>, depth: usize, total: &mut usize) {
    *total = total.saturating_add(1);
    if depth >= MAX_DEPTH {
        return;
    }
    let children: &[Variant<'_>] = match value {
        Variant::Str(s) => {
            *total = total.saturating_add(s.len());
            return;
        }
        Variant::ObjectPath(p) => {
            *total = total.saturating_add(p.len());
            return;
        }
        Variant::Variant(inner) => std::slice::from_ref(&**inner),
        Variant::Array(a) => a.inner(),
        Variant::Structure(s) => s.fields(),
        Variant::Dict(d) => {
            for (k, v) in d.iter() {
                if *total > MAX_PROFILE_BYTES {
                    return;
                }
                weigh(k, depth + 1, total);
                weigh(v, depth + 1, total);
            }
            return;
        }
        _ => return,
    };
    for child in children {
        if *total > MAX_PROFILE_BYTES {
            return;
        }
        weigh(child, depth + 1, total);
    }
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

fn wrong(key: &str, expected: &'static str, got: &Variant<'_>) -> SettingsError {
    SettingsError::WrongType {
        key: key.to_owned(),
        expected,
        got: describe(got),
    }
}

/// A value's type for people, with its signature: "a string (s)".
fn describe(value: &Variant<'_>) -> String {
    let what = match value {
        Variant::U8(_) => "a byte",
        Variant::Bool(_) => "a boolean",
        Variant::I16(_) => "a signed 16-bit number",
        Variant::U16(_) => "an unsigned 16-bit number",
        Variant::I32(_) => "a signed 32-bit number",
        Variant::U32(_) => "an unsigned 32-bit number",
        Variant::I64(_) => "a signed 64-bit number",
        Variant::U64(_) => "an unsigned 64-bit number",
        Variant::F64(_) => "a floating-point number",
        Variant::Str(_) => "a string",
        Variant::Signature(_) => "a signature",
        Variant::ObjectPath(_) => "an object path",
        Variant::Variant(_) => "a variant",
        Variant::Array(_) => "an array",
        Variant::Dict(_) => "a dictionary",
        Variant::Structure(_) => "a structure",
        #[cfg(unix)]
        Variant::Fd(_) => "a file descriptor",
    };
    let mut signature = value.value_signature().to_string();
    if signature.len() > 64 {
        // Signatures are ASCII.
        signature.truncate(64);
        signature.push('…');
    }
    format!("{what} ({signature})")
}

/// Text for an error message, shortened if long.
fn quote(text: &str) -> String {
    match text.char_indices().nth(32) {
        Some((end, _)) => format!("{:?}…", &text[..end]),
        None => format!("{text:?}"),
    }
}

fn byte(key: &str, value: &Variant<'_>) -> Result<u8, SettingsError> {
    match value {
        Variant::U8(n) => Ok(*n),
        other => Err(wrong(key, BYTE, other)),
    }
}

fn boolean(key: &str, value: &Variant<'_>) -> Result<bool, SettingsError> {
    match value {
        Variant::Bool(b) => Ok(*b),
        other => Err(wrong(key, BOOL, other)),
    }
}

fn u16_value(key: &str, value: &Variant<'_>) -> Result<u16, SettingsError> {
    match value {
        Variant::U16(n) => Ok(*n),
        other => Err(wrong(key, U16, other)),
    }
}

fn u32_value(key: &str, value: &Variant<'_>) -> Result<u32, SettingsError> {
    match value {
        Variant::U32(n) => Ok(*n),
        other => Err(wrong(key, U32, other)),
    }
}

fn text<'v>(
    key: &str,
    value: &'v Variant<'_>,
    expected: &'static str,
) -> Result<&'v str, SettingsError> {
    match value {
        Variant::Str(s) => Ok(s),
        other => Err(wrong(key, expected, other)),
    }
}

fn string(key: &str, value: &Variant<'_>) -> Result<String, SettingsError> {
    text(key, value, STR).map(str::to_owned)
}

/// One of an enum's words: `all` lists the variants, `word` names them.
fn word<T: Copy>(
    key: &str,
    value: &Variant<'_>,
    all: &[T],
    word: fn(T) -> &'static str,
) -> Result<T, SettingsError> {
    let given = text(key, value, STR)?;
    all.iter()
        .copied()
        .find(|v| word(*v) == given)
        .ok_or_else(|| {
            let words: Vec<&str> = all.iter().map(|v| word(*v)).collect();
            invalid(
                key,
                format!("{} is not one of: {}", quote(given), words.join(", ")),
            )
        })
}

/// The elements of an array of the given element signature, at most `max`.
fn array<'v, 'a>(
    key: &str,
    value: &'v Variant<'a>,
    element: &str,
    expected: &'static str,
    max: usize,
) -> Result<&'v [Variant<'a>], SettingsError> {
    match value {
        Variant::Array(a) if a.element_signature() == element => {
            if a.len() > max {
                Err(invalid(
                    key,
                    format!("{} entries; at most {max} are accepted", a.len()),
                ))
            } else {
                Ok(a.inner())
            }
        }
        other => Err(wrong(key, expected, other)),
    }
}

/// An array of strings, each parsed by `parse` with its field name
/// (`key[i]`).
fn list<T>(
    key: &str,
    value: &Variant<'_>,
    max: usize,
    parse: impl Fn(&str, &str) -> Result<T, SettingsError>,
) -> Result<Vec<T>, SettingsError> {
    array(key, value, "s", STRS, max)?
        .iter()
        .enumerate()
        .map(|(i, entry)| parse(&format!("{key}[{i}]"), text(key, entry, STRS)?))
        .collect()
}

fn strings(key: &str, value: &Variant<'_>, max: usize) -> Result<Vec<String>, SettingsError> {
    list(key, value, max, |_, entry| Ok(entry.to_owned()))
}

fn ipv4(key: &str, given: &str) -> Result<Ipv4Addr, SettingsError> {
    given.parse().map_err(|_| {
        invalid(
            key,
            format!("{} is not an IPv4 address (like 192.0.2.1)", quote(given)),
        )
    })
}

fn auth_methods(key: &str, value: &Variant<'_>) -> Result<Vec<AuthMethod>, SettingsError> {
    let methods = list(key, value, MAX_METHODS, |field, entry| {
        let v = Variant::from(entry);
        word(field, &v, &METHODS, method_word)
    })?;
    for (i, method) in methods.iter().enumerate() {
        if methods[..i].contains(method) {
            return Err(invalid(
                format!("{key}[{i}]"),
                format!("{} is listed twice", method_word(*method)),
            ));
        }
    }
    Ok(methods)
}

fn identifier(key: &str, value: &Variant<'_>) -> Result<[u8; 8], SettingsError> {
    let bytes = array(key, value, "y", BYTES, usize::MAX)?;
    if bytes.len() != 8 {
        return Err(invalid(
            key,
            format!("must be exactly 8 bytes, not {}", bytes.len()),
        ));
    }
    let mut id = [0u8; 8];
    for (slot, b) in id.iter_mut().zip(bytes) {
        *slot = byte(key, b).map_err(|_| wrong(key, BYTES, value))?;
    }
    Ok(id)
}

fn login_steps(key: &str, value: &Variant<'_>) -> Result<Vec<LoginStep>, SettingsError> {
    let steps = array(key, value, "(sssu)", STEPS, MAX_LOGIN_STEPS)?;
    let mut login = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let fields = match step {
            Variant::Structure(s) => s.fields(),
            _ => return Err(wrong(key, STEPS, value)),
        };
        let [Variant::Str(expect), Variant::Str(kind), Variant::Str(text), Variant::U32(timeout)] =
            fields
        else {
            return Err(wrong(key, STEPS, value));
        };
        let field = format!("{key}[{i}].send");
        let send = match &**kind {
            "user" => Send::User,
            "password" => Send::Password,
            "text" => Send::Text(text.to_string()),
            other => {
                return Err(invalid(
                    field,
                    format!("{} is not one of: user, password, text", quote(other)),
                ))
            }
        };
        if !matches!(send, Send::Text(_)) && !text.is_empty() {
            return Err(invalid(
                field,
                format!(
                    "a text is sent only by the kind \"text\", not {:?}",
                    &**kind
                ),
            ));
        }
        login.push(LoginStep {
            expect: expect.to_string(),
            send,
            timeout: *timeout,
        });
    }
    Ok(login)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::{Duration, Instant};

    use super::*;

    const EXAMPLES: [(&str, &str); 4] = [
        (
            "analog-isp",
            include_str!("../../../data/examples/analog-isp.ron"),
        ),
        (
            "cellular",
            include_str!("../../../data/examples/cellular.ron"),
        ),
        (
            "direct-line",
            include_str!("../../../data/examples/direct-line.ron"),
        ),
        ("demo", include_str!("../../../data/demo/demo.ron")),
    ];

    fn value<'a>(v: impl Into<Variant<'a>>) -> OwnedVariant {
        v.into().try_into_owned().unwrap()
    }

    /// A profile where every field but `version` and `ppp.ipv6cp.enabled`
    /// differs from its default (IPv4 and IPv6 cannot both be off).
    fn every_field() -> Profile {
        Profile {
            version: PROFILE_VERSION,
            name: "Every field".into(),
            line: Line {
                device: "/dev/ttyS3".into(),
                speed: 57_600,
                flow_control: FlowControl::Software,
                carrier: Carrier::Local,
            },
            modem: Some(Modem {
                init: vec!["AT&F".into(), "ATE0".into()],
                dial_command: "ATDP".into(),
                numbers: vec!["1234567".into(), "*99#".into()],
                abort: vec!["VOICE".into()],
                command_timeout: 7,
                connect_timeout: 90,
            }),
            login: vec![
                LoginStep {
                    expect: "ogin:--ogin:".into(),
                    send: Send::User,
                    timeout: 20,
                },
                LoginStep {
                    expect: "ssword:".into(),
                    send: Send::Password,
                    timeout: 30,
                },
                LoginStep {
                    expect: "protocol:".into(),
                    send: Send::Text("ppp".into()),
                    timeout: 600,
                },
            ],
            user: "someone".into(),
            ppp: Config {
                fsm: FsmConfig {
                    restart_ms: 1000,
                    max_configure: 20,
                    max_terminate: 3,
                    max_failure: 6,
                },
                lcp: LcpConfig {
                    mru: 1400,
                    accm: 0x000a_0000,
                    magic_number: false,
                    pfc: false,
                    acfc: false,
                    echo_interval: 10,
                    echo_failure: 2,
                },
                auth: AuthConfig {
                    methods: vec![AuthMethod::Pap, AuthMethod::MsChapV2],
                    name: "dialtone".into(),
                    timeout: 45,
                    rechallenge_interval: 600,
                },
                ipcp: IpcpConfig {
                    enabled: false,
                    local: Some(Ipv4Addr::new(192, 0, 2, 1)),
                    remote: Some(Ipv4Addr::new(192, 0, 2, 2)),
                    request_dns: false,
                    dns: vec![Ipv4Addr::new(192, 0, 2, 53), Ipv4Addr::new(192, 0, 2, 54)],
                },
                ipv6cp: Ipv6cpConfig {
                    enabled: true,
                    interface_id: Some([2, 0, 0, 0, 0, 0, 0, 1]),
                },
            },
            network: Network {
                default_route: false,
                route_metric: 700,
                replace_default_route: true,
                peer_dns: false,
                dns: vec![
                    "192.0.2.53".parse().unwrap(),
                    "2001:db8::53".parse().unwrap(),
                ],
                search: vec!["example.com".into(), "example.org".into()],
            },
            policy: Policy {
                persist: true,
                max_fail: 3,
                holdoff: 10,
                holdoff_max: 600,
                idle: 300,
                demand: true,
                max_connect: 3600,
            },
        }
    }

    /// The smallest accepted settings: version and name.
    fn minimal() -> Settings {
        let mut s = Settings::new();
        s.insert("version".into(), value(PROFILE_VERSION));
        s.insert("name".into(), value("Minimal"));
        s
    }

    fn with(mut s: Settings, key: &str, v: OwnedVariant) -> Settings {
        s.insert(key.into(), v);
        s
    }

    fn invalid_key(result: Result<Profile, SettingsError>) -> String {
        match result {
            Err(SettingsError::Invalid { key, .. }) => key,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn examples_round_trip() {
        for (name, text) in EXAMPLES {
            let profile = Profile::from_ron(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let settings = to_settings(&profile);
            assert_eq!(from_settings(&settings), Ok(profile), "{name}");
        }
    }

    #[test]
    fn every_field_round_trips() {
        let profile = every_field();
        profile.validate().unwrap();
        assert_eq!(from_settings(&to_settings(&profile)), Ok(profile));
    }

    #[test]
    fn every_field_profile_differs_from_the_defaults() {
        // The defaults, with a default modem so that its keys are emitted.
        let mut defaults = Profile::new("Minimal");
        defaults.modem = Some(Modem::default());
        let defaults = to_settings(&defaults);
        let every = to_settings(&every_field());
        for (key, _, _) in KEYS {
            // modem.enabled is compared with the default profile's below.
            if ["version", "ppp.ipv6cp.enabled", "modem.enabled"].contains(key) {
                continue;
            }
            assert_ne!(defaults.get(*key), every.get(*key), "{key}");
        }
        let plain = to_settings(&Profile::new("Minimal"));
        assert_ne!(plain.get("modem.enabled"), every.get("modem.enabled"));
    }

    #[test]
    fn emitted_signatures_are_those_of_keys() {
        let settings = to_settings(&every_field());
        let mut seen = HashSet::new();
        for (key, signature, description) in KEYS {
            assert!(seen.insert(*key), "{key} is listed twice");
            assert!(!description.is_empty(), "{key}");
            let v = settings
                .get(*key)
                .unwrap_or_else(|| panic!("{key} is not emitted"));
            assert_eq!(v.value_signature().to_string(), *signature, "{key}");
        }
        let emitted: HashSet<&str> = settings.keys().map(String::as_str).collect();
        assert_eq!(emitted, seen);
        assert_eq!(KEYS.len(), 50);
    }

    /// A default as docs/settings.md writes it.
    fn render(v: &Variant<'_>) -> String {
        match v {
            Variant::U8(n) => n.to_string(),
            Variant::U16(n) => n.to_string(),
            Variant::U32(n) => n.to_string(),
            Variant::Bool(b) => b.to_string(),
            Variant::Str(s) => format!("{:?}", &**s),
            Variant::Array(a) => {
                let items: Vec<String> = a.iter().map(render).collect();
                format!("[{}]", items.join(", "))
            }
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn docs_list_every_key_with_its_signature_and_default() {
        let docs = include_str!("../../../docs/settings.md");
        let table = docs.split("## Keys").nth(1).unwrap();
        let rows: Vec<Vec<&str>> = table
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
            .collect();
        assert_eq!(rows.len(), KEYS.len());
        let mut profile = Profile::new("Minimal");
        profile.modem = Some(Modem::default());
        let mut defaults = to_settings(&profile);
        defaults.insert("modem.enabled".into(), value(false));
        for (row, (key, signature, _)) in rows.iter().zip(KEYS) {
            let [k, sig, _meaning, default] = row[..] else {
                panic!("{row:?}")
            };
            assert_eq!(k, format!("`{key}`"));
            assert_eq!(sig, format!("`{signature}`"), "{key}");
            match default {
                "required" => assert!(["version", "name"].contains(key), "{key}"),
                "absent" => assert!(!defaults.contains_key(*key), "{key}"),
                _ => {
                    let written = default.split('`').nth(1).unwrap();
                    assert_eq!(written, render(&defaults[*key]), "{key}");
                }
            }
        }
    }

    #[test]
    fn none_options_and_a_missing_modem_are_left_out() {
        let settings = to_settings(&Profile::new("Direct"));
        for key in [
            "ppp.ipcp.local",
            "ppp.ipcp.remote",
            "ppp.ipv6cp.interface_id",
        ] {
            assert!(!settings.contains_key(key), "{key}");
        }
        assert!(!settings
            .keys()
            .any(|k| k.starts_with("modem.") && k != "modem.enabled"));
        assert_eq!(settings.get("modem.enabled"), Some(&value(false)));
    }

    #[test]
    fn absent_keys_take_the_defaults() {
        assert_eq!(from_settings(&minimal()), Ok(Profile::new("Minimal")));
    }

    #[test]
    fn version_and_name_are_required() {
        let mut s = minimal();
        s.remove("name");
        assert_eq!(from_settings(&s), Err(invalid("name", "is required")));
        let mut s = minimal();
        s.remove("version");
        assert_eq!(from_settings(&s), Err(invalid("version", "is required")));
        // A newer version is reported as such, not as its unknown keys.
        let s = with(minimal(), "version", value(2u32));
        let s = with(s, "hologram", value(true));
        assert_eq!(invalid_key(from_settings(&s)), "version");
        let s = with(minimal(), "name", value(" "));
        assert_eq!(invalid_key(from_settings(&s)), "name");
    }

    #[test]
    fn unknown_keys_are_errors() {
        for key in [
            "colour",
            "line",
            "line.baud",
            "modem",
            "ppp.lcp.mtu",
            "Name",
            "",
        ] {
            let s = with(minimal(), key, value(true));
            assert_eq!(
                from_settings(&s),
                Err(SettingsError::Unknown { key: key.into() }),
                "{key:?}"
            );
        }
    }

    #[test]
    fn wrong_types_are_errors_never_coerced() {
        let nested = || value(Variant::Variant(Box::new(Variant::from(115_200u32))));
        let cases = [
            (
                "line.speed",
                value(115_200i32),
                U32,
                "a signed 32-bit number (i)",
            ),
            (
                "line.speed",
                value(115_200u64),
                U32,
                "an unsigned 64-bit number (t)",
            ),
            ("line.speed", value("115200"), U32, "a string (s)"),
            ("line.speed", nested(), U32, "a variant (v)"),
            ("network.search", value("example.com"), STRS, "a string (s)"),
            ("network.search", value(vec![1u32]), STRS, "an array (au)"),
            (
                "policy.persist",
                value(1u32),
                BOOL,
                "an unsigned 32-bit number (u)",
            ),
            (
                "ppp.lcp.mru",
                value(1500u32),
                U16,
                "an unsigned 32-bit number (u)",
            ),
            (
                "ppp.fsm.max_failure",
                value(5u16),
                BYTE,
                "an unsigned 16-bit number (q)",
            ),
            ("name", value(vec!["x"]), STR, "an array (as)"),
            (
                "login",
                value(vec![("ogin:", "user", "")]),
                STEPS,
                "an array (a(sss))",
            ),
            (
                "ppp.ipv6cp.interface_id",
                value(vec![1u16; 8]),
                BYTES,
                "an array (aq)",
            ),
        ];
        for (key, v, expected, got) in cases {
            let s = with(minimal(), key, v);
            assert_eq!(
                from_settings(&s),
                Err(SettingsError::WrongType {
                    key: key.into(),
                    expected,
                    got: got.into()
                }),
                "{key}"
            );
        }
    }

    #[test]
    fn every_key_refuses_another_type_and_names_its_own() {
        for (key, signature, _) in KEYS {
            // No key takes a double.
            let s = with(minimal(), key, value(1.5f64));
            match from_settings(&s) {
                Err(SettingsError::WrongType {
                    key: k,
                    expected,
                    got,
                }) => {
                    assert_eq!(k, *key);
                    assert!(
                        expected.ends_with(&format!("({signature})")),
                        "{key}: {expected}"
                    );
                    assert_eq!(got, "a floating-point number (d)");
                }
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_words_list_the_accepted_ones() {
        let cases = [
            (
                "line.flow_control",
                value("rts/cts"),
                "line.flow_control",
                "none, hardware, software",
            ),
            (
                "line.flow_control",
                value("Hardware"),
                "line.flow_control",
                "none, hardware, software",
            ),
            ("line.carrier", value("dsl"), "line.carrier", "modem, local"),
            (
                "ppp.auth.methods",
                value(vec!["pap", "eap"]),
                "ppp.auth.methods[1]",
                "pap, chap-md5, mschapv2",
            ),
            (
                "login",
                value(vec![("ogin:", "name", "", 30u32)]),
                "login[0].send",
                "user, password, text",
            ),
        ];
        for (key, v, field, words) in cases {
            match from_settings(&with(minimal(), key, v)) {
                Err(SettingsError::Invalid { key: k, problem }) => {
                    assert_eq!(k, field);
                    assert!(problem.ends_with(words), "{key}: {problem}");
                }
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_word_round_trips() {
        for flow in FLOW_CONTROLS {
            for carrier in CARRIERS {
                let mut p = Profile::new("Words");
                p.line.flow_control = flow;
                p.line.carrier = carrier;
                p.ppp.auth.methods = METHODS.to_vec();
                assert_eq!(from_settings(&to_settings(&p)), Ok(p));
            }
        }
    }

    #[test]
    fn methods_are_bounded_and_not_repeated() {
        let s = with(
            minimal(),
            "ppp.auth.methods",
            value(vec!["pap", "chap-md5", "pap"]),
        );
        assert_eq!(invalid_key(from_settings(&s)), "ppp.auth.methods[2]");
        let s = with(minimal(), "ppp.auth.methods", value(vec!["pap"; 4]));
        assert_eq!(invalid_key(from_settings(&s)), "ppp.auth.methods");
        let s = with(minimal(), "ppp.auth.methods", value(Vec::<String>::new()));
        assert_eq!(from_settings(&s).unwrap().ppp.auth.methods, []);
    }

    #[test]
    fn lists_are_bounded() {
        let modem = with(minimal(), "modem.enabled", value(true));
        let cases = [
            ("modem.numbers", value(vec!["1"; MAX_NUMBERS + 1])),
            ("modem.init", value(vec!["AT"; MAX_INIT + 1])),
            ("modem.abort", value(vec!["VOICE"; MAX_ABORT + 1])),
            ("network.dns", value(vec!["192.0.2.1"; MAX_NETWORK_DNS + 1])),
            ("network.search", value(vec!["example.com"; MAX_SEARCH + 1])),
            ("ppp.ipcp.dns", value(vec!["192.0.2.1"; MAX_IPCP_DNS + 1])),
            (
                "login",
                value(vec![("a", "text", "b", 1u32); MAX_LOGIN_STEPS + 1]),
            ),
        ];
        for (key, v) in cases {
            assert_eq!(
                invalid_key(from_settings(&with(modem.clone(), key, v))),
                key
            );
        }
        let s = with(modem, "modem.numbers", value(vec!["1"; MAX_NUMBERS]));
        assert_eq!(
            from_settings(&s).unwrap().modem.unwrap().numbers.len(),
            MAX_NUMBERS
        );
    }

    #[test]
    fn addresses_must_parse() {
        let cases = [
            ("ppp.ipcp.local", value("192.0.2.256"), "ppp.ipcp.local"),
            ("ppp.ipcp.remote", value("192.0.2"), "ppp.ipcp.remote"),
            ("ppp.ipcp.local", value(""), "ppp.ipcp.local"),
            ("ppp.ipcp.local", value("2001:db8::1"), "ppp.ipcp.local"),
            (
                "ppp.ipcp.dns",
                value(vec!["192.0.2.1", "dns.example"]),
                "ppp.ipcp.dns[1]",
            ),
            ("network.dns", value(vec!["example.com"]), "network.dns[0]"),
        ];
        for (key, v, field) in cases {
            assert_eq!(
                invalid_key(from_settings(&with(minimal(), key, v))),
                field,
                "{key}"
            );
        }
        let s = with(
            minimal(),
            "network.dns",
            value(vec!["2001:db8::53", "192.0.2.53"]),
        );
        assert_eq!(
            from_settings(&s).unwrap().network.dns,
            [
                "2001:db8::53".parse::<IpAddr>().unwrap(),
                "192.0.2.53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn interface_id_is_eight_bytes() {
        let key = "ppp.ipv6cp.interface_id";
        for len in [0, 7, 9] {
            let s = with(minimal(), key, value(vec![1u8; len]));
            assert_eq!(invalid_key(from_settings(&s)), key, "{len}");
        }
        let s = with(minimal(), key, value(vec![1u8; 8]));
        assert_eq!(
            from_settings(&s).unwrap().ppp.ipv6cp.interface_id,
            Some([1; 8])
        );
    }

    #[test]
    fn modem_keys_need_a_modem() {
        let numbers = || value(vec!["1234567"]);
        let s = with(minimal(), "modem.enabled", value(false));
        let s = with(s, "modem.numbers", numbers());
        let s = with(s, "modem.dial_command", value("ATDT"));
        assert_eq!(
            from_settings(&s),
            Err(invalid(
                "modem.dial_command",
                "is given, but modem.enabled is false"
            ))
        );
        // Without modem.enabled, a modem key implies one.
        let s = with(minimal(), "modem.numbers", numbers());
        let modem = from_settings(&s).unwrap().modem.unwrap();
        assert_eq!(modem.numbers, ["1234567"]);
        assert_eq!(modem.init, Modem::default().init);
        // modem.enabled alone gives the default modem, which has no number.
        let s = with(minimal(), "modem.enabled", value(true));
        assert_eq!(invalid_key(from_settings(&s)), "modem.numbers");
        let s = with(minimal(), "modem.enabled", value(false));
        assert_eq!(from_settings(&s).unwrap().modem, None);
    }

    #[test]
    fn oversized_settings_are_refused_quickly() {
        let start = Instant::now();
        let s = with(minimal(), "name", value("x".repeat(10 << 20)));
        assert!(matches!(
            from_settings(&s),
            Err(SettingsError::TooLarge { .. })
        ));
        let s = with(minimal(), "network.search", value(vec![""; 1 << 20]));
        assert!(matches!(
            from_settings(&s),
            Err(SettingsError::TooLarge { .. })
        ));
        let s = with(
            minimal(),
            "x".repeat(MAX_PROFILE_BYTES).as_str(),
            value(true),
        );
        assert!(matches!(
            from_settings(&s),
            Err(SettingsError::TooLarge { .. })
        ));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );

        let mut s = minimal();
        for i in 0..MAX_KEYS - 1 {
            s.insert(format!("k{i}"), value(true));
        }
        let e = from_settings(&s).unwrap_err();
        assert!(matches!(e, SettingsError::TooLarge { .. }), "{e}");
        assert_eq!(e.key(), None);
    }

    #[test]
    fn deep_nesting_is_refused_without_recursing() {
        // Building, owning and dropping 100,000 nested variants recurses
        // in zbus, so on a large stack; the check itself runs on a small
        // one, which a walk of the whole depth would overflow.
        let big = std::thread::Builder::new().stack_size(1 << 30);
        let outcome = big
            .spawn(|| {
                let mut v = Variant::from(1u32);
                for _ in 0..100_000 {
                    v = Variant::Variant(Box::new(v));
                }
                let s = with(minimal(), "line.speed", value(v));
                std::thread::scope(|scope| {
                    let small = std::thread::Builder::new().stack_size(256 << 10);
                    small
                        .spawn_scoped(scope, || from_settings(&s))
                        .unwrap()
                        .join()
                        .unwrap()
                })
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(
            matches!(outcome, Err(SettingsError::WrongType { ref got, .. }) if got == "a variant (v)"),
            "{outcome:?}"
        );
    }

    #[test]
    fn control_characters_are_refused_at_their_field() {
        let modem = with(minimal(), "modem.numbers", value(vec!["1"]));
        let steps =
            |expect: &'static str, text: &'static str| value(vec![(expect, "text", text, 30u32)]);
        let cases = [
            ("name", value("Example\0ISP"), "name"),
            ("modem.init", value(vec!["ATZ", "AT\0Z"]), "modem.init[1]"),
            ("modem.abort", value(vec!["BUSY\r\n"]), "modem.abort[0]"),
            ("login", steps("ogin:\0", "x"), "login[0].expect"),
            ("login", steps("ogin:", "ppp\0"), "login[0].send"),
            ("user", value("a\nb"), "user"),
        ];
        for (key, v, field) in cases {
            let e = from_settings(&with(modem.clone(), key, v)).unwrap_err();
            assert_eq!(e.key(), Some(field), "{e}");
            assert!(e.to_string().contains("control character"), "{e}");
        }
    }

    #[test]
    fn validation_failures_keep_their_field() {
        let cases = [
            ("line.speed", value(12_345u32), "line.speed"),
            ("line.device", value("/etc/shadow"), "line.device"),
            ("ppp.lcp.mru", value(64u16), "ppp.lcp.mru"),
            ("policy.holdoff_max", value(1u32), "policy.holdoff_max"),
            ("ppp.ipcp.enabled", value(false), "ppp.ipcp.enabled"),
        ];
        for (key, v, field) in cases {
            let mut s = with(minimal(), key, v);
            if key == "ppp.ipcp.enabled" {
                // Both protocols off: validate() names the `ppp` section.
                s.insert("ppp.ipv6cp.enabled".into(), value(false));
                assert_eq!(invalid_key(from_settings(&s)), "ppp");
                continue;
            }
            assert_eq!(invalid_key(from_settings(&s)), field, "{key}");
        }
    }

    #[test]
    fn login_kinds_and_texts() {
        let login = |kind: &str, text: &str| {
            let steps = vec![(
                "ssword:".to_owned(),
                kind.to_owned(),
                text.to_owned(),
                30u32,
            )];
            from_settings(&with(
                with(minimal(), "user", value("u")),
                "login",
                value(steps),
            ))
        };
        assert_eq!(
            login("text", "ppp").unwrap().login[0].send,
            Send::Text("ppp".into())
        );
        // An empty text sends a bare carriage return (chat's '').
        assert_eq!(
            login("text", "").unwrap().login[0].send,
            Send::Text(String::new())
        );
        assert_eq!(login("user", "").unwrap().login[0].send, Send::User);
        assert_eq!(login("password", "").unwrap().login[0].send, Send::Password);
        assert_eq!(invalid_key(login("user", "someone")), "login[0].send");
        assert_eq!(invalid_key(login("password", "hunter2")), "login[0].send");
        assert_eq!(invalid_key(login("Text", "x")), "login[0].send");
        assert_eq!(
            invalid_key(login("text", &"x".repeat(129))),
            "login[0].send"
        );
    }

    #[test]
    fn shell_metacharacters_are_literal_text() {
        let nasty = "$(reboot); rm -rf / `id` | tee /etc/passwd && echo '\"' > ~";
        let mut p = every_field();
        p.name = nasty.into();
        p.user = nasty.into();
        p.ppp.auth.name = nasty.into();
        let modem = p.modem.as_mut().unwrap();
        modem.init = vec![nasty.into()];
        modem.dial_command = "$(x)".into();
        modem.abort = vec![nasty.into()];
        p.login = vec![LoginStep {
            expect: nasty.into(),
            send: Send::Text(nasty.into()),
            timeout: 30,
        }];
        let back = from_settings(&to_settings(&p)).unwrap();
        assert_eq!(back.name.as_bytes(), nasty.as_bytes());
        assert_eq!(
            back.modem.as_ref().unwrap().init[0].as_bytes(),
            nasty.as_bytes()
        );
        assert_eq!(back.login[0].expect.as_bytes(), nasty.as_bytes());
        assert_eq!(back.login[0].send, Send::Text(nasty.into()));
        assert_eq!(back, p);
    }

    #[test]
    fn error_messages_name_the_key() {
        let e = from_settings(&with(minimal(), "line.speed", value(1i32))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line.speed: expected an unsigned 32-bit number (u), got a signed 32-bit number (i)"
        );
        assert_eq!(e.key(), Some("line.speed"));
        let e = from_settings(&with(minimal(), "colour", value(1u32))).unwrap_err();
        assert_eq!(e.to_string(), "colour: unknown setting");
        assert_eq!(e.key(), Some("colour"));
    }

    /// A small deterministic generator (Knuth's MMIX LCG): proptest is not
    /// a dependency of this crate.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn text(&mut self) -> String {
            const WORDS: [&str; 26] = [
                "",
                "none",
                "hardware",
                "software",
                "modem",
                "local",
                "pap",
                "chap-md5",
                "mschapv2",
                "user",
                "password",
                "text",
                "/dev/ttyS0",
                "/dev/../etc/x",
                "1234",
                "*99#",
                "192.0.2.1",
                "2001:db8::1",
                "example.com",
                "ATZ",
                "a\0b",
                "$(reboot)",
                "300.1.1.1",
                " ",
                "ogin:--ogin:",
                "é∂",
            ];
            match self.below(8) {
                0 => (0..self.below(40))
                    .map(|_| char::from_u32(self.below(0x300) as u32).unwrap_or('?'))
                    .collect(),
                1 => "x".repeat(self.below(300)),
                _ => WORDS[self.below(WORDS.len())].to_owned(),
            }
        }

        fn number(&mut self) -> u64 {
            const NUMBERS: [u64; 12] =
                [0, 1, 2, 8, 30, 128, 600, 601, 1500, 16384, 57_600, 115_200];
            match self.below(4) {
                0 => self.next() << 31 | self.next(),
                _ => NUMBERS[self.below(NUMBERS.len())],
            }
        }

        fn value(&mut self, depth: usize) -> Variant<'static> {
            let n = self.number();
            match self.below(if depth > 2 { 10 } else { 14 }) {
                0 => Variant::from(n as u8),
                1 => Variant::from(self.below(2) == 0),
                2 => Variant::from(n as u16),
                3 | 4 => Variant::from(n as u32),
                5 => Variant::from(n as i32),
                6 => Variant::from(n),
                7 => Variant::from(n as f64),
                8 | 9 => Variant::from(self.text()),
                10 => Variant::from((0..self.below(8)).map(|_| self.text()).collect::<Vec<_>>()),
                11 => Variant::from(
                    (0..self.below(10))
                        .map(|_| self.next() as u8)
                        .collect::<Vec<_>>(),
                ),
                12 => {
                    const KINDS: [&str; 4] = ["user", "password", "text", "other"];
                    let steps: Vec<(String, String, String, u32)> = (0..self.below(4))
                        .map(|_| {
                            let kind = KINDS[self.below(4)].to_owned();
                            (self.text(), kind, self.text(), self.number() as u32)
                        })
                        .collect();
                    Variant::from(steps)
                }
                _ => Variant::Variant(Box::new(self.value(depth + 1))),
            }
        }

        fn key(&mut self) -> String {
            match self.below(20) {
                0 => self.text(),
                1 => format!("{}.x", KEYS[self.below(KEYS.len())].0),
                _ => KEYS[self.below(KEYS.len())].0.to_owned(),
            }
        }
    }

    #[test]
    fn random_settings_never_panic() {
        let bases: Vec<Settings> = EXAMPLES
            .iter()
            .map(|(_, text)| to_settings(&Profile::from_ron(text).unwrap()))
            .chain([to_settings(&every_field()), minimal()])
            .collect();
        let mut rng = Lcg(0x5eed_d1a1_0000_0001);
        let (mut accepted, mut refused) = (0, 0);
        for round in 0..20_000 {
            let mut s = if rng.below(4) == 0 {
                Settings::new()
            } else {
                bases[rng.below(bases.len())].clone()
            };
            for _ in 0..1 + rng.below(4) {
                match rng.below(3) {
                    0 if !s.is_empty() => {
                        let keys: Vec<String> = s.keys().cloned().collect();
                        s.remove(&keys[rng.below(keys.len())]);
                    }
                    _ => {
                        let (key, v) = (rng.key(), rng.value(0));
                        s.insert(key, v.try_into_owned().unwrap());
                    }
                }
            }
            match from_settings(&s) {
                Ok(p) => {
                    accepted += 1;
                    assert_eq!(p.validate(), Ok(()), "round {round}");
                    assert_eq!(from_settings(&to_settings(&p)), Ok(p), "round {round}");
                }
                Err(e) => {
                    refused += 1;
                    assert!(!e.to_string().is_empty());
                    assert!(
                        e.key().is_none_or(
                            |k| !k.is_empty() || matches!(e, SettingsError::Unknown { .. })
                        ),
                        "{e}"
                    );
                }
            }
        }
        // Both paths were exercised, not just the refusals.
        assert!(
            accepted > 1000 && refused > 1000,
            "{accepted} accepted, {refused} refused"
        );
    }
}
