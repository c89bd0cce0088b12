//! The engine's configuration. Every type derives serde with defaults for
//! every field and `deny_unknown_fields`, so a profile can embed it and a
//! misspelt option is an error rather than silently ignored.
//!
//! Secrets are not part of the configuration: the dialer's password comes
//! in [`Credentials`], the answerer looks secrets up through a
//! [`SecretLookup`]; neither is serialisable.

use core::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// An authentication protocol (RFC 1334, RFC 1994, RFC 2759).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuthMethod {
    /// PAP: the password travels in clear text (RFC 1334).
    Pap,
    /// CHAP with MD5 (RFC 1994).
    ChapMd5,
    /// Microsoft CHAP version 2, with mutual authentication (RFC 2759).
    MsChapV2,
}

impl AuthMethod {
    /// Every method, strongest first.
    pub const ALL: [AuthMethod; 3] = [AuthMethod::MsChapV2, AuthMethod::ChapMd5, AuthMethod::Pap];
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthMethod::Pap => "PAP",
            AuthMethod::ChapMd5 => "CHAP-MD5",
            AuthMethod::MsChapV2 => "MS-CHAPv2",
        })
    }
}

/// Timers and counters of the option negotiation automaton (RFC 1661 §4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FsmConfig {
    /// Restart timer, in milliseconds (default 3000).
    pub restart_ms: u32,
    /// Configure-Requests sent without reply before giving up (default 10).
    pub max_configure: u8,
    /// Terminate-Requests sent without reply before giving up (default 2).
    pub max_terminate: u8,
    /// Configure-Naks sent in a row before Naks become Rejects (default 5).
    pub max_failure: u8,
}

impl Default for FsmConfig {
    fn default() -> Self {
        FsmConfig {
            restart_ms: 3000,
            max_configure: 10,
            max_terminate: 2,
            max_failure: 5,
        }
    }
}

/// Link Control Protocol options (RFC 1661 §6, RFC 1662 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LcpConfig {
    /// The largest packet we accept (default 1500; 128 to 16384).
    pub mru: u16,
    /// Control characters the peer must escape towards us (default 0: none,
    /// as pppd's `asyncmap 0`; set bits for lines that eat XON/XOFF).
    pub accm: u32,
    /// Negotiate a Magic-Number to detect looped-back lines (default on).
    pub magic_number: bool,
    /// Ask for Protocol-Field-Compression (default on).
    pub pfc: bool,
    /// Ask for Address-and-Control-Field-Compression (default on).
    pub acfc: bool,
    /// Seconds between LCP Echo-Requests while the link is up; 0 turns
    /// the keepalive off (default 30).
    pub echo_interval: u32,
    /// Unanswered Echo-Requests in a row that take the link down (default 4).
    pub echo_failure: u32,
}

impl Default for LcpConfig {
    fn default() -> Self {
        LcpConfig {
            mru: 1500,
            accm: 0,
            magic_number: true,
            pfc: true,
            acfc: true,
            echo_interval: 30,
            echo_failure: 4,
        }
    }
}

/// Authentication settings (RFC 1334, 1994, 2759).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Dialer: the methods we agree to authenticate with (others are
    /// refused). Answerer: the methods we require, most preferred first;
    /// empty means the answerer asks for no authentication.
    pub methods: Vec<AuthMethod>,
    /// Our name: sent as the CHAP Name by the answerer, and used by the
    /// dialer when no user name is given.
    pub name: String,
    /// Seconds that authentication may take before the link is closed
    /// (default 30).
    pub timeout: u32,
    /// Answerer, CHAP: re-challenge the peer every this many seconds while
    /// the link is up; 0 for never (default 0).
    pub rechallenge_interval: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            methods: AuthMethod::ALL.to_vec(),
            name: String::new(),
            timeout: 30,
            rechallenge_interval: 0,
        }
    }
}

/// IP Control Protocol settings (RFC 1332, RFC 1877).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IpcpConfig {
    /// Negotiate IPv4 at all (default on).
    pub enabled: bool,
    /// Our address. Dialer: `None` asks the peer to assign one (we request
    /// 0.0.0.0 and take its Nak). Answerer: the address of our end.
    pub local: Option<Ipv4Addr>,
    /// The peer's address. Answerer: the address handed to the caller.
    /// Dialer: used when the peer does not tell us its own.
    pub remote: Option<Ipv4Addr>,
    /// Dialer: ask the peer for DNS servers (default on).
    pub request_dns: bool,
    /// Answerer: the DNS servers handed to the caller (at most two).
    pub dns: Vec<Ipv4Addr>,
}

impl Default for IpcpConfig {
    fn default() -> Self {
        IpcpConfig {
            enabled: true,
            local: None,
            remote: None,
            request_dns: true,
            dns: Vec::new(),
        }
    }
}

/// IPv6 Control Protocol settings (RFC 5072).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ipv6cpConfig {
    /// Negotiate IPv6 (default on).
    pub enabled: bool,
    /// Our interface identifier; `None` picks a random one (RFC 5072 §4.1).
    pub interface_id: Option<[u8; 8]>,
}

impl Default for Ipv6cpConfig {
    fn default() -> Self {
        Ipv6cpConfig {
            enabled: true,
            interface_id: None,
        }
    }
}

/// The whole engine configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Restart timer and counters, shared by every automaton.
    pub fsm: FsmConfig,
    /// Link Control Protocol.
    pub lcp: LcpConfig,
    /// Authentication.
    pub auth: AuthConfig,
    /// IPv4.
    pub ipcp: IpcpConfig,
    /// IPv6.
    pub ipv6cp: Ipv6cpConfig,
}

/// The dialer's user name and password. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"********")
            .finish()
    }
}

/// How the answerer finds a caller's secret (pppd's pap-secrets and
/// chap-secrets). Called synchronously from inside the engine.
pub trait SecretLookup: Send {
    /// The secret for `user`, or `None` for an unknown user.
    fn secret(&self, user: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String> + Send> SecretLookup for F {
    fn secret(&self, user: &str) -> Option<String> {
        self(user)
    }
}

/// Which end of the link this engine is.
pub enum Role {
    /// The calling end: authenticates itself when asked, asks the peer for
    /// an address.
    Dialer {
        /// What we authenticate with; `None` if we have nothing.
        credentials: Option<Credentials>,
    },
    /// The answering end (the ISP): requires authentication as configured,
    /// assigns addresses and DNS.
    Answerer {
        /// Where the callers' secrets are.
        secrets: Box<dyn SecretLookup>,
    },
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Dialer { credentials } => f
                .debug_struct("Dialer")
                .field("credentials", credentials)
                .finish(),
            Role::Answerer { .. } => f.write_str("Answerer"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_ron() {
        let config = Config::default();
        let text = ron::to_string(&config).unwrap();
        let back: Config = ron::from_str(&text).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn missing_fields_take_defaults_and_unknown_fields_are_errors() {
        let c: Config = ron::from_str("(lcp: (mru: 1400), ipcp: (dns: [\"10.0.0.1\"]))").unwrap();
        assert_eq!(c.lcp.mru, 1400);
        assert!(c.lcp.magic_number);
        assert_eq!(c.ipcp.dns, vec![Ipv4Addr::new(10, 0, 0, 1)]);
        assert!(ron::from_str::<Config>("(lcp: (mtu: 1400))").is_err());
        assert!(ron::from_str::<Config>("(lcp: (mru: \"big\"))").is_err());
    }

    #[test]
    fn credentials_debug_masks_password() {
        let c = Credentials {
            user: "ppp".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
