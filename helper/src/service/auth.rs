//! Who may do what: polkit, asked about the process that sent the call.
//!
//! The subject is the caller's unique bus name from the message header
//! (polkit's `system-bus-name` subject), never the daemon itself. Root is
//! always allowed without asking polkit. When the caller set
//! ALLOW_INTERACTIVE_AUTHORIZATION on its call, polkit may ask for a
//! password through the caller's authentication agent.

use std::collections::HashMap;

use dialtone_api::dbus::{
    Error, ACTION_CONNECT, ACTION_MODIFY, PERMISSION_AUTH, PERMISSION_NO, PERMISSION_YES,
};
use zbus::message::{Flags, Header};
use zbus::Connection;
use zbus_polkit::policykit1::{AuthorityProxy, CheckAuthorizationFlags, Subject};

/// What polkit said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed.
    Yes,
    /// Allowed after authentication (a polkit agent would ask).
    Challenge,
    /// Not allowed.
    No,
}

/// The caller's uid, asked of the bus.
async fn caller_uid(conn: &Connection, header: &Header<'_>) -> Result<u32, Error> {
    let sender = header
        .sender()
        .ok_or_else(|| Error::Failed("the call has no sender".into()))?;
    let dbus = zbus::fdo::DBusProxy::new(conn)
        .await
        .map_err(|e| Error::Failed(format!("asking the bus about the caller: {e}")))?;
    dbus.get_connection_unix_user(sender.clone().into())
        .await
        .map_err(|e| Error::Failed(format!("asking the bus about the caller: {e}")))
}

/// Asks polkit whether the caller may do `action`.
pub async fn check(
    conn: &Connection,
    header: &Header<'_>,
    action: &str,
    interactive: bool,
) -> Result<Verdict, Error> {
    if caller_uid(conn, header).await? == 0 {
        return Ok(Verdict::Yes);
    }
    let subject = Subject::new_for_message_header(header)
        .map_err(|e| Error::Failed(format!("cannot name the caller to polkit: {e}")))?;
    let authority = AuthorityProxy::new(conn).await.map_err(polkit_down)?;
    let flags = if interactive {
        CheckAuthorizationFlags::ALLOW_USER_INTERACTION
    } else {
        CheckAuthorizationFlags::empty()
    };
    let result = authority
        .check_authorization(&subject, action, &HashMap::new(), flags, "")
        .await
        .map_err(polkit_down)?;
    Ok(if result.is_authorized {
        Verdict::Yes
    } else if result.is_challenge {
        Verdict::Challenge
    } else {
        Verdict::No
    })
}

fn polkit_down(e: zbus::Error) -> Error {
    Error::Failed(format!(
        "polkit could not be asked whether this is allowed ({e}); is polkitd running?"
    ))
}

/// What `action` lets a caller do, for the refusal message.
fn describe(action: &str) -> &'static str {
    match action {
        ACTION_CONNECT => "bring dial-up links up or down",
        ACTION_MODIFY => "change dial-up profiles, passwords and modem settings",
        _ => "do this",
    }
}

/// Allows the call, or refuses it with `NotAuthorized`. Interactive when
/// the caller allowed it.
pub async fn authorize(conn: &Connection, header: &Header<'_>, action: &str) -> Result<(), Error> {
    let interactive = header
        .primary()
        .flags()
        .contains(Flags::ALLOW_INTERACTIVE_AUTH);
    match check(conn, header, action, interactive).await? {
        Verdict::Yes => Ok(()),
        Verdict::Challenge if interactive => Err(Error::NotAuthorized(format!(
            "you may {} only after authenticating as an administrator, and no password was given (action {action})",
            describe(action)
        ))),
        Verdict::Challenge => Err(Error::NotAuthorized(format!(
            "you may {} only after authenticating as an administrator; the request did not allow asking for a password (action {action})",
            describe(action)
        ))),
        Verdict::No => Err(Error::NotAuthorized(format!(
            "you are not allowed to {} (action {action}); ask an administrator",
            describe(action)
        ))),
    }
}

/// GetPermissions: each action with `yes`, `auth` or `no`, without asking
/// for a password.
pub async fn permissions(
    conn: &Connection,
    header: &Header<'_>,
) -> Result<HashMap<String, String>, Error> {
    let mut out = HashMap::new();
    for action in [ACTION_CONNECT, ACTION_MODIFY] {
        let word = match check(conn, header, action, false).await? {
            Verdict::Yes => PERMISSION_YES,
            Verdict::Challenge => PERMISSION_AUTH,
            Verdict::No => PERMISSION_NO,
        };
        out.insert(action.to_string(), word.to_string());
    }
    Ok(out)
}
