//! Words for people: link states, failure reasons with what to try next,
//! sizes, rates and durations, all in the user's language.
//!
//! The daemon sends stable codes (`modem:busy`, `ppp:auth-failed`) with
//! details (`number`, `peer-message`); the sentences are made here, so
//! they are translated. An unknown code (a newer daemon's) falls back to
//! the daemon's English sentence.

use dialtone_api::dbus::{LinkState, StateReason};
use dialtone_api::objects::LinkInfo;
use gettextrs::{gettext, ngettext};

/// Replaces each `{name}` in a translated template by its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// A failure explained: what happened and what to try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explained {
    /// What happened, one sentence.
    pub summary: String,
    /// What to try next; empty when there is nothing to try.
    pub hint: String,
}

impl Explained {
    fn new(summary: String, hint: String) -> Self {
        Explained { summary, hint }
    }
}

/// The state of a profile's link in a few words, for its row: "Dialing
/// 555-0100…", "CONNECT 57600", "Connected".
pub fn state_line(link: Option<&LinkInfo>) -> String {
    let Some(link) = link else {
        return gettext("Not connected");
    };
    let Some(state) = link.link_state() else {
        return link.state.clone();
    };
    match state {
        LinkState::WaitingForTraffic => gettext("Waiting for traffic to dial"),
        LinkState::Opening => gettext("Opening the modem…"),
        LinkState::Dialing if !link.number.is_empty() => {
            fill(&gettext("Dialing {number}…"), &[("number", &link.number)])
        }
        LinkState::Dialing => gettext("Dialing…"),
        LinkState::ModemConnected if link.connect_speed > 0 => {
            // The modem's own word, as users know it from terminals.
            format!("CONNECT {}", link.connect_speed)
        }
        LinkState::ModemConnected => gettext("The modem connected"),
        LinkState::Negotiating => gettext("Negotiating the link…"),
        LinkState::Authenticating => gettext("Authenticating…"),
        LinkState::GettingAddress => gettext("Getting an address…"),
        LinkState::Connected => gettext("Connected"),
        LinkState::Disconnecting => gettext("Disconnecting…"),
        LinkState::WaitingToRedial => match link.reason.details.get("redial-in") {
            Some(secs) => fill(&gettext("Redialing in {seconds} s"), &[("seconds", secs)]),
            None => gettext("Waiting to redial"),
        },
        LinkState::Disconnected => gettext("Not connected"),
    }
}

/// Whether the link is somewhere between Connect and Connected (or
/// redialing): the row shows a spinner and a Disconnect button.
pub fn is_busy(link: Option<&LinkInfo>) -> bool {
    link.and_then(LinkInfo::link_state).is_some_and(|s| {
        s.is_active() && s != LinkState::Connected && s != LinkState::WaitingForTraffic
    })
}

/// Whether the link holds the line (anything but disconnected).
pub fn is_active(link: Option<&LinkInfo>) -> bool {
    link.and_then(LinkInfo::link_state)
        .is_some_and(LinkState::is_active)
}

/// Why a link ended (or is waiting to redial), if it was not the user's
/// own hang-up: `None` for no reason and for `user`.
pub fn failure(link: Option<&LinkInfo>) -> Option<Explained> {
    let link = link?;
    let state = link.link_state()?;
    if !matches!(state, LinkState::Disconnected | LinkState::WaitingToRedial) {
        return None;
    }
    explain(&link.reason)
}

/// The reason in the user's language; `None` for no reason and for a
/// hang-up the user asked for.
pub fn explain(reason: &StateReason) -> Option<Explained> {
    let d = |k: &str| reason.details.get(k).cloned().unwrap_or_default();
    let with = |template: String, key: &str| fill(&template, &[(key, &d(key))]);
    let peer = d("peer-message");
    let said = |summary: String| {
        if peer.is_empty() {
            summary
        } else {
            format!(
                "{summary} {}",
                fill(
                    &gettext("The server said: “{message}”"),
                    &[("message", &peer)]
                )
            )
        }
    };
    let (summary, hint) = match reason.code.as_str() {
        "" | "user" => return None,
        "idle" => (
            gettext("Hung up after the idle time without traffic."),
            gettext("Connect again when you need the link, or raise the idle time in the profile."),
        ),
        "max-connect" => (
            gettext("Hung up at the profile’s connect-time limit."),
            gettext("Connect again, or raise the limit under Reconnecting."),
        ),
        "too-many-failures" => (
            fill(
                &ngettext(
                    "Gave up after {failures} failed attempt.",
                    "Gave up after {failures} failed attempts.",
                    reason
                        .details
                        .get("failures")
                        .and_then(|f| f.parse::<u32>().ok())
                        .unwrap_or(2),
                ),
                &[("failures", &d("failures"))],
            ),
            gettext("Look at the log for why each attempt failed."),
        ),
        "permanent" | "ended" => (
            gettext("The connection ended."),
            String::new(),
        ),
        "device-busy" => (
            gettext("The serial port is in use by another program."),
            gettext("Close the other program (a terminal, another dialer) and try again."),
        ),
        "device-unavailable" => (
            gettext("The serial port cannot be opened."),
            gettext("Check that the modem is plugged in and switched on, and that the profile names the right port."),
        ),
        "line-closed" => (
            gettext("The serial port went away."),
            gettext("Check the cable or the USB connection."),
        ),
        "carrier-lost" => (
            gettext("The modem lost the carrier: the line went away."),
            gettext("Connect again; if it keeps happening, the phone line may be noisy."),
        ),
        "network" => (
            gettext("The network interface could not be set up."),
            gettext("Look at the log for the system’s error."),
        ),
        "dns" => (
            gettext("The name servers could not be set up."),
            gettext("Look at the log for the system’s error."),
        ),
        "profile" => (
            gettext("The profile could not be used."),
            gettext("Open the profile and check its settings."),
        ),
        "modem:busy" => (
            with(gettext("The number {number} was busy."), "number"),
            gettext("Try again later, or add another number to the profile."),
        ),
        "modem:no-answer" => (
            with(gettext("Nobody answered at {number}."), "number"),
            gettext("Check the number, or try again later."),
        ),
        "modem:no-carrier" => (
            with(gettext("No modem answered at {number}."), "number"),
            gettext("Check the number; the other side may be a voice line or down."),
        ),
        "modem:no-dialtone" => (
            gettext("The modem heard no dial tone."),
            gettext("Check that the phone cable is plugged into the wall and the modem’s LINE socket."),
        ),
        "modem:abort" => (
            fill(
                &gettext("The modem said “{response}”."),
                &[("response", &d("modem-response"))],
            ),
            gettext("This is one of the profile’s abort responses; look at the log."),
        ),
        "modem:connect-timeout" => (
            fill(
                &gettext("No connection to {number} within {seconds} seconds."),
                &[("number", &d("number")), ("seconds", &d("seconds"))],
            ),
            gettext("Try again, or allow more time under Line and Modem."),
        ),
        "modem:no-response" => (
            gettext("The modem does not answer."),
            gettext("Check that it is switched on and that the port and speed are right; “Query Modem” tests it."),
        ),
        "modem:error" => (
            fill(
                &gettext("The modem refused the command {command}."),
                &[("command", &d("command"))],
            ),
            gettext("Check the profile’s initialization commands against the modem’s manual."),
        ),
        "modem:login-timeout" => (
            gettext("The server’s login prompt never came."),
            gettext("Check the login script, or remove it if the server starts PPP at once."),
        ),
        "modem:login-refused" => (
            gettext("The server refused the user name or password at its login prompt."),
            gettext("Check the user name and password."),
        ),
        "modem:no-numbers" => (
            gettext("The profile has no number to dial."),
            gettext("Add a phone number to the profile."),
        ),
        "ppp:auth-failed" => (
            said(gettext("The user name or password was refused.")),
            gettext("Check the user name and password."),
        ),
        "ppp:peer-auth-failed" => (
            gettext("The caller failed to authenticate."),
            String::new(),
        ),
        "ppp:no-common-auth" => (
            gettext("The server wants a sign-in method this profile does not allow."),
            gettext("Allow more methods under Authentication."),
        ),
        "ppp:terminated-by-peer" => (
            said(gettext("The server closed the link.")),
            gettext("Connect again; the log shows what happened before."),
        ),
        "ppp:option-refused" => (
            gettext("The server and this computer could not agree on the link’s settings."),
            gettext("Look at the log; the advanced link settings may need changing."),
        ),
        "ppp:peer-not-responding" => (
            gettext("The other side does not speak PPP."),
            gettext("Check the login script (the server may still want a text login), the speed and the flow control."),
        ),
        "ppp:echo-timeout" => (
            gettext("The server stopped answering: the link went silent."),
            gettext("Connect again."),
        ),
        "ppp:looped-back" => (
            gettext("The line is looped back: this computer hears its own messages."),
            gettext("The modem may not have connected to anything; check the login script."),
        ),
        "ppp:no-credentials" => (
            gettext("The server asked for a password, but the profile has none."),
            gettext("Set the password in the profile."),
        ),
        "ppp:peer-refused-auth" | "ppp:server-not-authenticated" => (
            gettext("The server would not authenticate itself."),
            gettext("Check the authentication settings."),
        ),
        "ppp:auth-timeout" => (
            gettext("Sign-in took too long."),
            gettext("Connect again; check the user name and password."),
        ),
        "ppp:no-network-protocols" => (
            gettext("The server offered neither IPv4 nor IPv6."),
            gettext("Check the address settings of the profile."),
        ),
        "ppp:lower-down" => (
            gettext("The line went down while the link was being set up."),
            gettext("Connect again; check the cable and the modem."),
        ),
        "ppp:protocol-rejected" | "ppp:code-rejected" => (
            gettext("The server rejected a part of PPP the link needs."),
            gettext("Look at the log for what was rejected."),
        ),
        "ppp:local-close" => (
            gettext("The link was closed on this computer."),
            String::new(),
        ),
        _ => (reason.message.clone(), String::new()),
    };
    Some(Explained::new(summary, hint))
}

/// A byte count for people: "812 bytes", "1.4 kB", "3.2 MB" (SI units,
/// as GNOME shows them).
pub fn bytes(n: u64) -> String {
    if n < 1000 {
        return fill(
            &ngettext("{n} byte", "{n} bytes", n.min(u32::MAX as u64) as u32),
            &[("n", &n.to_string())],
        );
    }
    let units = ["kB", "MB", "GB", "TB"];
    let mut value = n as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}

/// A rate for people: "4.2 kB/s".
pub fn rate(bytes_per_second: f64) -> String {
    let n = bytes_per_second.max(0.0).round() as u64;
    if n < 1000 {
        return fill(&gettext("{n} B/s"), &[("n", &n.to_string())]);
    }
    format!("{}/s", bytes(n))
}

/// A duration as a clock: "0:42", "12:05", "1:02:03".
pub fn duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A modem's line speed: "57 600 bit/s".
pub fn line_speed(bits: u32) -> String {
    fill(&gettext("{n} bit/s"), &[("n", &bits.to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(state: &str) -> LinkInfo {
        LinkInfo {
            path: "/l/1".into(),
            state: state.into(),
            ..LinkInfo::default()
        }
    }

    #[test]
    fn states_in_words() {
        assert_eq!(state_line(None), "Not connected");
        let mut l = link("dialing");
        assert_eq!(state_line(Some(&l)), "Dialing…");
        l.number = "555-0100".into();
        assert_eq!(state_line(Some(&l)), "Dialing 555-0100…");
        let mut l = link("modem-connected");
        l.connect_speed = 57_600;
        assert_eq!(state_line(Some(&l)), "CONNECT 57600");
        assert_eq!(
            state_line(Some(&link("getting-address"))),
            "Getting an address…"
        );
        let mut l = link("waiting-to-redial");
        l.reason.details.insert("redial-in".into(), "20".into());
        assert_eq!(state_line(Some(&l)), "Redialing in 20 s");
        assert_eq!(state_line(Some(&link("something-new"))), "something-new");
    }

    #[test]
    fn busy_and_active() {
        assert!(is_busy(Some(&link("dialing"))));
        assert!(!is_busy(Some(&link("connected"))));
        assert!(is_active(Some(&link("connected"))));
        assert!(!is_active(Some(&link("disconnected"))));
        assert!(!is_active(None));
    }

    #[test]
    fn reasons_are_explained_with_their_details() {
        let mut r = StateReason::new("modem:busy", "the line was busy");
        r.details.insert("number".into(), "555-0100".into());
        let e = explain(&r).expect("explained");
        assert_eq!(e.summary, "The number 555-0100 was busy.");
        assert!(!e.hint.is_empty());
        let mut r = StateReason::new("ppp:auth-failed", "refused");
        r.details
            .insert("peer-message".into(), "Login incorrect".into());
        let e = explain(&r).expect("explained");
        assert_eq!(
            e.summary,
            "The user name or password was refused. The server said: “Login incorrect”"
        );
        assert_eq!(explain(&StateReason::new("user", "hung up")), None);
        assert_eq!(explain(&StateReason::none()), None);
        let e = explain(&StateReason::new("ppp:something-newer", "A newer reason."))
            .expect("falls back");
        assert_eq!(e.summary, "A newer reason.");
    }

    #[test]
    fn every_documented_code_has_its_own_words() {
        let doc = include_str!("../docs/dbus.md");
        let codes: Vec<&str> = doc
            .lines()
            .filter(|l| l.starts_with("| `"))
            .skip_while(|l| !l.contains("`user`"))
            .take_while(|l| !l.contains("NotAuthorized"))
            .flat_map(|l| {
                let first = l.split('|').nth(1).unwrap_or("");
                first
                    .split('`')
                    .enumerate()
                    .filter(|(i, _)| i % 2 == 1)
                    .map(|(_, c)| c)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(
            codes.len() > 30,
            "read the codes from docs/dbus.md: {codes:?}"
        );
        for code in codes {
            let r = StateReason::new(code, "ENGLISH FALLBACK");
            if code == "user" {
                continue;
            }
            let e = explain(&r).unwrap_or_else(|| panic!("{code} explained"));
            assert_ne!(
                e.summary, "ENGLISH FALLBACK",
                "{code} has no words of its own"
            );
        }
    }

    #[test]
    fn failures_only_when_down_or_redialing() {
        let mut l = link("dialing");
        l.reason = StateReason::new("modem:busy", "busy");
        assert_eq!(failure(Some(&l)), None);
        l.state = "waiting-to-redial".into();
        assert!(failure(Some(&l)).is_some());
        l.state = "disconnected".into();
        assert!(failure(Some(&l)).is_some());
        l.reason = StateReason::new("user", "hung up");
        assert_eq!(failure(Some(&l)), None);
    }

    #[test]
    fn sizes_rates_and_durations() {
        assert_eq!(bytes(1), "1 byte");
        assert_eq!(bytes(999), "999 bytes");
        assert_eq!(bytes(1_400), "1.4 kB");
        assert_eq!(bytes(3_200_000), "3.2 MB");
        assert_eq!(rate(512.0), "512 B/s");
        assert_eq!(rate(4_200.0), "4.2 kB/s");
        assert_eq!(duration(42), "0:42");
        assert_eq!(duration(725), "12:05");
        assert_eq!(duration(3723), "1:02:03");
        assert_eq!(line_speed(57_600), "57600 bit/s");
    }
}
