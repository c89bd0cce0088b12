//! Desktop notifications for what happens to links while nobody looks:
//! a link came up, dropped (with the reason), or is redialing.
//!
//! [`notice`] decides from the link's previous and new state, so the
//! decision is tested without a notification server; [`send`] hands it
//! to GApplication, which uses the desktop's notification service.

use dialtone_api::dbus::LinkState;
use dialtone_api::objects::LinkInfo;
use gettextrs::gettext;
use relm4::gtk::gio;
use relm4::gtk::prelude::*;

use crate::text;

/// A notification to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Replaces an earlier notice with the same id (one per profile).
    pub id: String,
    /// The title.
    pub title: String,
    /// The body.
    pub body: String,
    /// Whether it tells of a failure (shown with high priority).
    pub urgent: bool,
}

/// What to tell about a link going from `before` to `after`, if anything.
/// Nothing is told for a hang-up the user asked for, nor for the steps
/// between Connect and Connected.
pub fn notice(
    profile_id: &str,
    name: &str,
    before: Option<&LinkInfo>,
    after: &LinkInfo,
) -> Option<Notice> {
    let old = before.and_then(LinkInfo::link_state);
    let new = after.link_state()?;
    if old == Some(new) {
        return None;
    }
    let id = format!("link-{profile_id}");
    let fill_name = |t: String| text::fill(&t, &[("name", name)]);
    match new {
        LinkState::Connected => {
            let address = &after.ipv4.0;
            let body = if address.is_empty() {
                gettext("The link is up.")
            } else {
                text::fill(
                    &gettext("Your address is {address}."),
                    &[("address", address)],
                )
            };
            Some(Notice {
                id,
                title: fill_name(gettext("Connected to {name}")),
                body,
                urgent: false,
            })
        }
        LinkState::WaitingToRedial => {
            let why = text::explain(&after.reason)
                .map(|e| e.summary)
                .unwrap_or_default();
            let when = after
                .reason
                .details
                .get("redial-in")
                .map(|s| text::fill(&gettext("Redialing in {seconds} s."), &[("seconds", s)]))
                .unwrap_or_else(|| gettext("Redialing soon."));
            Some(Notice {
                id,
                title: if old == Some(LinkState::Connected) {
                    fill_name(gettext("{name} dropped"))
                } else {
                    fill_name(gettext("{name} did not connect"))
                },
                body: format!("{why} {when}").trim().to_string(),
                urgent: true,
            })
        }
        LinkState::Disconnected => {
            let explained = text::explain(&after.reason)?;
            let was_up = old == Some(LinkState::Connected);
            let title = if was_up {
                fill_name(gettext("{name} disconnected"))
            } else {
                fill_name(gettext("{name} could not connect"))
            };
            let body = if explained.hint.is_empty() {
                explained.summary
            } else {
                format!("{} {}", explained.summary, explained.hint)
            };
            Some(Notice {
                id,
                title,
                body,
                urgent: !matches!(after.reason.code.as_str(), "idle" | "max-connect"),
            })
        }
        _ => None,
    }
}

/// Shows a notice through the application.
pub fn send(app: &impl IsA<gio::Application>, notice: &Notice) {
    let n = gio::Notification::new(&notice.title);
    n.set_body(Some(&notice.body));
    n.set_priority(if notice.urgent {
        gio::NotificationPriority::High
    } else {
        gio::NotificationPriority::Normal
    });
    app.send_notification(Some(&notice.id), &n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialtone_api::dbus::StateReason;

    fn link(state: &str) -> LinkInfo {
        LinkInfo {
            path: "/l/1".into(),
            state: state.into(),
            ..LinkInfo::default()
        }
    }

    #[test]
    fn coming_up_is_told_with_the_address() {
        let mut up = link("connected");
        up.ipv4 = ("10.0.0.2".into(), "10.0.0.1".into());
        let n = notice("isp", "Example ISP", Some(&link("getting-address")), &up).expect("told");
        assert_eq!(n.title, "Connected to Example ISP");
        assert_eq!(n.body, "Your address is 10.0.0.2.");
        assert_eq!(n.id, "link-isp");
        assert!(!n.urgent);
        assert_eq!(notice("isp", "Example ISP", Some(&up), &up), None, "once");
    }

    #[test]
    fn the_steps_and_the_users_own_hang_up_are_not_told() {
        assert_eq!(
            notice("a", "A", Some(&link("opening")), &link("dialing")),
            None
        );
        let mut down = link("disconnected");
        down.reason = StateReason::new("user", "hung up");
        assert_eq!(notice("a", "A", Some(&link("connected")), &down), None);
    }

    #[test]
    fn drops_and_redials_say_why() {
        let mut down = link("disconnected");
        down.reason = StateReason::new("carrier-lost", "carrier lost");
        let n = notice("a", "A", Some(&link("connected")), &down).expect("told");
        assert_eq!(n.title, "A disconnected");
        assert!(
            n.body.starts_with("The modem lost the carrier"),
            "{}",
            n.body
        );
        assert!(n.urgent);
        let mut redial = link("waiting-to-redial");
        redial.reason = StateReason::new("modem:busy", "busy");
        redial.reason.details.insert("number".into(), "555".into());
        redial
            .reason
            .details
            .insert("redial-in".into(), "20".into());
        let n = notice("a", "A", Some(&link("dialing")), &redial).expect("told");
        assert_eq!(n.title, "A did not connect");
        assert_eq!(n.body, "The number 555 was busy. Redialing in 20 s.");
        let n = notice("a", "A", Some(&link("connected")), &redial).expect("told");
        assert_eq!(n.title, "A dropped");
    }
}
