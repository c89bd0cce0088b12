//! Why a link went down: one typed reason per failure, each readable by a
//! person (see the `Display` texts) and carrying the details a client needs
//! to render it in its own words and language.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::config::AuthMethod;
use crate::wire::protocol;

/// Why the link (or one of its layers) went down.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DownReason {
    /// We closed the link on request.
    LocalClose,
    /// The serial line went away (carrier lost, device closed).
    LowerDown,
    /// No reply to our Configure-Requests: the peer is silent or does not
    /// speak PPP.
    PeerNotResponding {
        /// The protocol that timed out (LCP, IPCP, …).
        protocol: u16,
        /// How many Configure-Requests went unanswered.
        requests: u32,
    },
    /// The peer sent a Terminate-Request.
    TerminatedByPeer {
        /// The layer it terminated.
        protocol: u16,
        /// Its message, made printable (may be empty).
        message: String,
    },
    /// The peer Code-Rejected a code that the protocol cannot do without.
    CodeRejected {
        /// The protocol.
        protocol: u16,
        /// The rejected code.
        code: u8,
    },
    /// The peer Protocol-Rejected a protocol we need.
    ProtocolRejected {
        /// The rejected protocol.
        protocol: u16,
    },
    /// Negotiation of an option we cannot do without failed.
    OptionRefused {
        /// The protocol negotiating it.
        protocol: u16,
        /// The option, by its RFC name.
        option: String,
        /// What went wrong, in words.
        detail: String,
    },
    /// The line is looped back: our own Magic-Number came back to us.
    LoopedBack,
    /// The peer stopped answering LCP Echo-Requests.
    EchoTimeout {
        /// Echo-Requests that went unanswered in a row.
        missed: u32,
    },
    /// The peer rejected our credentials.
    AuthFailed {
        /// The method used.
        method: AuthMethod,
        /// The peer's message, made printable.
        message: String,
    },
    /// The peer failed to authenticate itself to us.
    PeerAuthFailed {
        /// The method used.
        method: AuthMethod,
        /// The name the peer gave.
        user: String,
    },
    /// No authentication method acceptable to both sides.
    NoCommonAuth {
        /// The methods this end allows.
        ours: Vec<AuthMethod>,
        /// The methods the peer asked for or offered (empty when it offered
        /// none we know).
        peer: Vec<AuthMethod>,
    },
    /// We require authentication and the peer refused to authenticate.
    PeerRefusedAuth,
    /// The peer requires authentication and we have no credentials.
    NoCredentials,
    /// MS-CHAPv2: the server's authenticator response did not prove that
    /// it knows our password: it is not the server it claims to be.
    ServerNotAuthenticated,
    /// Authentication did not complete in time.
    AuthTimeout,
    /// No network protocol (IPCP, IPV6CP) came up.
    NoNetworkProtocols,
}

impl DownReason {
    /// A stable identifier for the reason, for clients that render
    /// reasons themselves.
    pub fn code(&self) -> &'static str {
        match self {
            DownReason::LocalClose => "local-close",
            DownReason::LowerDown => "lower-down",
            DownReason::PeerNotResponding { .. } => "peer-not-responding",
            DownReason::TerminatedByPeer { .. } => "terminated-by-peer",
            DownReason::CodeRejected { .. } => "code-rejected",
            DownReason::ProtocolRejected { .. } => "protocol-rejected",
            DownReason::OptionRefused { .. } => "option-refused",
            DownReason::LoopedBack => "looped-back",
            DownReason::EchoTimeout { .. } => "echo-timeout",
            DownReason::AuthFailed { .. } => "auth-failed",
            DownReason::PeerAuthFailed { .. } => "peer-auth-failed",
            DownReason::NoCommonAuth { .. } => "no-common-auth",
            DownReason::PeerRefusedAuth => "peer-refused-auth",
            DownReason::NoCredentials => "no-credentials",
            DownReason::ServerNotAuthenticated => "server-not-authenticated",
            DownReason::AuthTimeout => "auth-timeout",
            DownReason::NoNetworkProtocols => "no-network-protocols",
        }
    }
}

fn list(methods: &[AuthMethod]) -> String {
    if methods.is_empty() {
        return "none".into();
    }
    methods
        .iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::LocalClose => f.write_str("disconnected on request"),
            DownReason::LowerDown => f.write_str("the line dropped"),
            DownReason::PeerNotResponding { protocol: p, requests } => write!(
                f,
                "the peer did not answer {requests} {} Configure-Requests",
                protocol::name(*p)
            ),
            DownReason::TerminatedByPeer { protocol: p, message } if message.is_empty() => {
                write!(f, "the peer closed {}", protocol::name(*p))
            }
            DownReason::TerminatedByPeer { protocol: p, message } => {
                write!(f, "the peer closed {}: \"{message}\"", protocol::name(*p))
            }
            DownReason::CodeRejected { protocol: p, code } => write!(
                f,
                "the peer's {} does not understand {} packets",
                protocol::name(*p),
                crate::wire::code::name(*code)
            ),
            DownReason::ProtocolRejected { protocol: p } => {
                write!(f, "the peer does not speak {}", protocol::name(*p))
            }
            DownReason::OptionRefused {
                protocol: p,
                option,
                detail,
            } => write!(f, "{} {option}: {detail}", protocol::name(*p)),
            DownReason::LoopedBack => f.write_str(
                "the line is looped back: we are hearing our own packets (is the modem still in command mode?)",
            ),
            DownReason::EchoTimeout { missed } => write!(
                f,
                "the peer stopped answering: {missed} LCP Echo-Requests went unanswered"
            ),
            DownReason::AuthFailed { method, message } if message.is_empty() => {
                write!(f, "the peer rejected our user name or password ({method})")
            }
            DownReason::AuthFailed { method, message } => write!(
                f,
                "the peer rejected our user name or password ({method}): \"{message}\""
            ),
            DownReason::PeerAuthFailed { method, user } => write!(
                f,
                "the caller failed to authenticate as \"{user}\" ({method})"
            ),
            DownReason::NoCommonAuth { ours, peer } => write!(
                f,
                "no common authentication method: the peer offered {}, this profile allows {}",
                list(peer),
                list(ours)
            ),
            DownReason::PeerRefusedAuth => {
                f.write_str("the caller refused to authenticate, and this server requires it")
            }
            DownReason::NoCredentials => f.write_str(
                "the peer requires authentication and this profile has no user name or password",
            ),
            DownReason::ServerNotAuthenticated => f.write_str(
                "the server could not prove it knows our password (MS-CHAPv2): it may not be the real server",
            ),
            DownReason::AuthTimeout => f.write_str("authentication did not complete in time"),
            DownReason::NoNetworkProtocols => {
                f.write_str("no network protocol could be negotiated (neither IPv4 nor IPv6)")
            }
        }
    }
}
