//! Exit statuses and the errors that carry them: every D-Bus error the
//! daemon (or the bus) can answer becomes a message a person can act on
//! and one of the documented exit statuses.

use std::fmt;

use dialtone_api::dbus::Error as ApiError;
use zbus::fdo;

/// The exit statuses, as documented in the usage text.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The operation failed (`Failed`, a link that failed, a timeout).
    pub const FAILED: u8 = 1;
    /// Bad usage, or a profile file that is not valid.
    pub const USAGE: u8 = 2;
    /// polkit said no (`NotAuthorized`).
    pub const NOT_AUTHORIZED: u8 = 3;
    /// No such profile, link or port (`NotFound`).
    pub const NOT_FOUND: u8 = 4;
    /// The daemon is not reachable: no bus, or nobody owns its name.
    pub const UNREACHABLE: u8 = 5;
    /// A setting or argument was refused (`InvalidArgument`).
    pub const INVALID_ARGUMENT: u8 = 6;
    /// The profile, port or device is busy or unavailable (`Busy`,
    /// `DeviceUnavailable`).
    pub const BUSY: u8 = 7;
    /// Interrupted by Ctrl-C while `up` waited.
    pub const INTERRUPTED: u8 = 130;
}

/// An error to print (`dialtonectl: MESSAGE`) and the status to exit with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliError {
    /// One of [`exit`]'s statuses.
    pub code: u8,
    /// What went wrong, for a person.
    pub message: String,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl CliError {
    /// An error with this status.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }

    /// The operation failed (status 1).
    pub fn failed(message: impl Into<String>) -> Self {
        CliError::new(exit::FAILED, message)
    }

    /// Bad usage or a bad file (status 2).
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(exit::USAGE, message)
    }

    /// Not found (status 4).
    pub fn not_found(message: impl Into<String>) -> Self {
        CliError::new(exit::NOT_FOUND, message)
    }

    /// Not authorized (status 3), with what to do about it.
    pub fn not_authorized(detail: &str) -> Self {
        let detail = if detail.is_empty() {
            "polkit refused"
        } else {
            detail
        };
        CliError::new(
            exit::NOT_AUTHORIZED,
            format!(
                "not allowed: {detail}; ask an administrator, or run as a user in an active \
                 local session"
            ),
        )
    }

    /// The daemon cannot be reached (status 5), with what to do about it.
    pub fn unreachable(detail: impl fmt::Display) -> Self {
        CliError::new(
            exit::UNREACHABLE,
            format!(
                "dialtoned is not reachable: {detail}; is dialtoned installed? (cargo xtask install)"
            ),
        )
    }

    /// The daemon (or the bus) went away while we waited (status 5).
    pub fn gone(what: &str) -> Self {
        CliError::new(exit::UNREACHABLE, what.to_string())
    }

    /// A reply that does not have the shape the contract promises.
    pub fn bad_reply(what: impl fmt::Display) -> Self {
        CliError::failed(format!(
            "unexpected reply from dialtoned ({what}); is it the same version as dialtonectl?"
        ))
    }

    /// Interrupted by Ctrl-C (status 130).
    pub fn interrupted(message: impl Into<String>) -> Self {
        CliError::new(exit::INTERRUPTED, message)
    }

    /// The error of a method call or property read: the daemon's own
    /// errors by name, then the bus's.
    pub fn bus(err: zbus::Error) -> Self {
        match ApiError::from(err) {
            ApiError::NotAuthorized(m) => CliError::not_authorized(&m),
            ApiError::InvalidArgument(m) => CliError::new(exit::INVALID_ARGUMENT, m),
            ApiError::NotFound(m) => CliError::not_found(m),
            ApiError::Busy(m) | ApiError::DeviceUnavailable(m) => CliError::new(exit::BUSY, m),
            ApiError::Failed(m) => CliError::failed(m),
            ApiError::ZBus(e) => CliError::transport(e),
        }
    }

    /// Errors of the bus itself (or names the daemon does not define).
    fn transport(err: zbus::Error) -> Self {
        match &err {
            zbus::Error::FDO(f) => CliError::fdo(f),
            zbus::Error::Connection(..)
            | zbus::Error::InputOutput(_)
            | zbus::Error::Address(_)
            | zbus::Error::Handshake(_) => CliError::unreachable(&err),
            zbus::Error::MethodError(name, detail, _) => CliError::failed(match detail {
                Some(d) if !d.is_empty() => format!("{d} ({name})"),
                _ => name.to_string(),
            }),
            _ => CliError::failed(err.to_string()),
        }
    }

    /// The bus's standard errors.
    fn fdo(err: &fdo::Error) -> Self {
        use fdo::Error as E;
        match err {
            E::ServiceUnknown(m)
            | E::NameHasNoOwner(m)
            | E::NoServer(m)
            | E::Disconnected(m)
            | E::SpawnExecFailed(m)
            | E::SpawnForkFailed(m)
            | E::SpawnChildExited(m)
            | E::SpawnChildSignaled(m)
            | E::SpawnFailed(m)
            | E::SpawnFailedToSetup(m)
            | E::SpawnConfigInvalid(m)
            | E::SpawnServiceNotValid(m)
            | E::SpawnServiceNotFound(m)
            | E::SpawnPermissionsInvalid(m)
            | E::SpawnFileInvalid(m)
            | E::SpawnNoMemory(m) => CliError::unreachable(m),
            E::AccessDenied(m) | E::AuthFailed(m) | E::InteractiveAuthorizationRequired(m) => {
                CliError::not_authorized(m)
            }
            E::UnknownObject(m) => CliError::not_found(if m.is_empty() {
                "it is gone (deleted, or dialtoned restarted)".to_string()
            } else {
                m.clone()
            }),
            E::InvalidArgs(m) => CliError::new(exit::INVALID_ARGUMENT, m.clone()),
            E::NoReply(m) | E::Timeout(m) | E::TimedOut(m) => {
                CliError::failed(format!("dialtoned did not answer: {m}"))
            }
            E::UnknownMethod(m) | E::UnknownInterface(m) | E::UnknownProperty(m) => {
                CliError::failed(format!(
                    "dialtoned does not know this request ({m}); is it the same version as \
                     dialtonectl?"
                ))
            }
            E::ZBus(e) => CliError::transport(e.clone()),
            other => CliError::failed(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialtone_api::dbus::error_name;
    use zbus::message::Message;

    /// The error a proxy call returns when the reply is the error `name`
    /// with the message `text`.
    fn reply(name: &str, text: &str) -> zbus::Error {
        let call = Message::method_call("/io/github/dialtone/Dialtone1", "Connect")
            .destination(":1.2")
            .build(&())
            .expect("an empty call");
        let error = Message::error(&call.header(), name)
            .build(&text)
            .expect("an error reply");
        zbus::Error::from(error)
    }

    fn code(name: &str, text: &str) -> (u8, String) {
        let e = CliError::bus(reply(name, text));
        (e.code, e.message)
    }

    #[test]
    fn the_daemon_errors_map_to_their_statuses() {
        let cases = [
            ("NotAuthorized", exit::NOT_AUTHORIZED),
            ("InvalidArgument", exit::INVALID_ARGUMENT),
            ("NotFound", exit::NOT_FOUND),
            ("Busy", exit::BUSY),
            ("DeviceUnavailable", exit::BUSY),
            ("Failed", exit::FAILED),
        ];
        for (variant, status) in cases {
            let (c, m) = code(
                &error_name(variant),
                "line.speed: 12345 is not a serial speed",
            );
            assert_eq!(c, status, "{variant}");
            assert!(m.contains("line.speed: 12345 is not a serial speed"), "{m}");
        }
    }

    #[test]
    fn messages_say_what_to_do() {
        let (_, m) = code(&error_name("NotAuthorized"), "io.github.dialtone.modify");
        assert_eq!(
            m,
            "not allowed: io.github.dialtone.modify; ask an administrator, or run as a user \
             in an active local session"
        );
        let (c, m) = code(
            &error_name("InvalidArgument"),
            "modem.numbers[0]: 'x' cannot be dialed",
        );
        assert_eq!(c, exit::INVALID_ARGUMENT);
        assert_eq!(m, "modem.numbers[0]: 'x' cannot be dialed", "verbatim");
    }

    #[test]
    fn bus_errors() {
        let cases = [
            (
                "org.freedesktop.DBus.Error.ServiceUnknown",
                exit::UNREACHABLE,
            ),
            (
                "org.freedesktop.DBus.Error.NameHasNoOwner",
                exit::UNREACHABLE,
            ),
            (
                "org.freedesktop.DBus.Error.Spawn.ChildExited",
                exit::UNREACHABLE,
            ),
            (
                "org.freedesktop.DBus.Error.AccessDenied",
                exit::NOT_AUTHORIZED,
            ),
            (
                "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
                exit::NOT_AUTHORIZED,
            ),
            ("org.freedesktop.DBus.Error.UnknownObject", exit::NOT_FOUND),
            (
                "org.freedesktop.DBus.Error.InvalidArgs",
                exit::INVALID_ARGUMENT,
            ),
            ("org.freedesktop.DBus.Error.NoReply", exit::FAILED),
            ("org.freedesktop.DBus.Error.UnknownMethod", exit::FAILED),
            ("org.example.Error.Whatever", exit::FAILED),
        ];
        for (name, status) in cases {
            assert_eq!(code(name, "text").0, status, "{name}");
        }
        let (_, m) = code(
            "org.freedesktop.DBus.Error.ServiceUnknown",
            "no .service file",
        );
        assert_eq!(
            m,
            "dialtoned is not reachable: no .service file; is dialtoned installed? \
             (cargo xtask install)"
        );
        let (_, m) = code("org.example.Error.Whatever", "oops");
        assert_eq!(m, "oops (org.example.Error.Whatever)");
    }

    #[test]
    fn connection_failures_are_unreachable() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = CliError::bus(zbus::Error::InputOutput(std::sync::Arc::new(io)));
        assert_eq!(e.code, exit::UNREACHABLE);
        assert!(e.message.contains("cargo xtask install"), "{}", e.message);
        let e = CliError::bus(zbus::Error::Address("bad".into()));
        assert_eq!(e.code, exit::UNREACHABLE);
    }
}
