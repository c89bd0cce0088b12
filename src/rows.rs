//! The main window's profile rows: name, state in words, the failure and
//! what to try, a spinner while connecting, and the Connect / Disconnect
//! button (with a lock when polkit will ask for a password).

use crate::a11y::A11yExt;
use relm4::factory::{DynamicIndex, FactoryComponent, FactorySender, FactoryVecDeque, FactoryView};
use relm4::gtk;
use relm4::gtk::prelude::*;

use gettextrs::gettext;

use crate::daemon::{Mirror, Permission};
use crate::text::{self, Explained};

/// What a row shows; made from the mirror by [`RowView::of`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowView {
    /// The profile's object path.
    pub path: String,
    /// Its name.
    pub name: String,
    /// Whether it dials a modem (else a direct line).
    pub modem: bool,
    /// The state in words.
    pub state: String,
    /// Why the last attempt failed, if it did.
    pub failure: Option<Explained>,
    /// The link holds the line: the button says Disconnect.
    pub active: bool,
    /// Between Connect and Connected: a spinner.
    pub busy: bool,
    /// Connected.
    pub connected: bool,
    /// A Connect or Disconnect call is on its way.
    pub pending: bool,
    /// May this user connect?
    pub permission: Permission,
}

impl RowView {
    /// The row of the profile at `path`, as the mirror says it is.
    pub fn of(mirror: &Mirror, path: &str, pending: bool) -> Option<RowView> {
        let p = mirror.profiles.get(path)?;
        let link = mirror.link_of(p);
        let connected = link
            .and_then(|l| l.link_state())
            .is_some_and(|s| s == dialtone_api::dbus::LinkState::Connected);
        Some(RowView {
            path: path.to_string(),
            name: p.name.clone(),
            modem: !matches!(
                p.settings
                    .get("modem.enabled")
                    .and_then(|v| bool::try_from(v).ok()),
                Some(false)
            ),
            state: match link {
                Some(l) if connected && !l.ipv4.0.is_empty() => {
                    text::fill(&gettext("Connected · {address}"), &[("address", &l.ipv4.0)])
                }
                _ => text::state_line(link),
            },
            failure: text::failure(link),
            active: text::is_active(link),
            busy: text::is_busy(link),
            connected,
            pending,
            permission: mirror.permissions.connect,
        })
    }
}

/// Every row, in the order shown: by name, then path.
pub fn rows_of(mirror: &Mirror, pending: &std::collections::BTreeSet<String>) -> Vec<RowView> {
    let mut rows: Vec<RowView> = mirror
        .profiles
        .keys()
        .filter_map(|path| RowView::of(mirror, path, pending.contains(path)))
        .collect();
    rows.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then(a.path.cmp(&b.path))
    });
    rows
}

/// A factory row shown from a view, with a key that says which thing it
/// shows (an object path, a device).
pub trait ViewRow: FactoryComponent<Init = <Self as ViewRow>::View, Index = DynamicIndex> {
    /// What the row shows.
    type View: PartialEq;
    /// The view it shows now.
    fn view(&self) -> &Self::View;
    /// Shows another view of the same thing.
    fn set_view(&mut self, view: Self::View);
    /// Which thing a view is of.
    fn key(view: &Self::View) -> &str;
}

/// Makes `rows` show `views`: when the same things are listed in the same
/// order, only rows whose view changed are touched (so focus and state
/// stay); otherwise the rows are made afresh.
pub fn sync_rows<C: ViewRow>(rows: &mut FactoryVecDeque<C>, views: Vec<C::View>)
where
    C::ParentWidget: FactoryView,
{
    let mut g = rows.guard();
    let same = g.len() == views.len()
        && views
            .iter()
            .enumerate()
            .all(|(i, v)| g.get(i).is_some_and(|r| C::key(r.view()) == C::key(v)));
    if !same {
        g.clear();
        for v in views {
            g.push_back(v);
        }
        return;
    }
    for (i, v) in views.into_iter().enumerate() {
        if g.get(i).is_some_and(|r| *r.view() != v) {
            if let Some(r) = g.get_mut(i) {
                r.set_view(v);
            }
        }
    }
}

impl ViewRow for ProfileRow {
    type View = RowView;
    fn view(&self) -> &RowView {
        &self.view
    }
    fn set_view(&mut self, view: RowView) {
        self.view = view;
    }
    fn key(view: &RowView) -> &str {
        &view.path
    }
}

/// What a row asks of the window.
#[derive(Debug)]
pub enum RowOutput {
    /// Connect this profile.
    Connect(String),
    /// Hang up this profile's link.
    Disconnect(String),
}

/// Messages to a row.
#[derive(Debug)]
pub enum RowInput {
    /// Its Connect / Disconnect button was clicked.
    Clicked,
}

/// One row.
#[derive(Debug)]
pub struct ProfileRow {
    /// What it shows.
    pub view: RowView,
}

#[relm4::factory(pub)]
impl FactoryComponent for ProfileRow {
    type Init = RowView;
    type Input = RowInput;
    type Output = RowOutput;
    type CommandOutput = ();
    type ParentWidget = gtk::ListBox;

    view! {
        #[root]
        gtk::ListBoxRow {
            set_activatable: true,
            set_widget_name: &self.view.path,
            #[watch]
            set_a11y_label: &self.view.name,
            #[watch]
            set_a11y_description: &self.view.state,

            gtk::Box {
                set_orientation: gtk::Orientation::Horizontal,
                set_spacing: 12,
                set_margin_top: 10,
                set_margin_bottom: 10,
                set_margin_start: 12,
                set_margin_end: 12,

                gtk::Image {
                    #[watch]
                    set_icon_name: Some(if self.view.modem {
                        "call-start-symbolic"
                    } else {
                        "network-wired-symbolic"
                    }),
                    set_valign: gtk::Align::Center,
                    set_pixel_size: 24,
                },

                gtk::Box {
                    set_orientation: gtk::Orientation::Vertical,
                    set_spacing: 2,
                    set_hexpand: true,
                    set_valign: gtk::Align::Center,

                    gtk::Label {
                        #[watch]
                        set_label: &self.view.name,
                        set_xalign: 0.0,
                        set_ellipsize: gtk::pango::EllipsizeMode::End,
                        add_css_class: "heading",
                    },
                    #[name = "state"]
                    gtk::Label {
                        #[watch]
                        set_label: &self.view.state,
                        set_xalign: 0.0,
                        set_wrap: true,
                        #[watch]
                        set_css_classes: if self.view.connected {
                            &["success"]
                        } else {
                            &["dim-label"]
                        },
                    },
                    gtk::Label {
                        #[watch]
                        set_label: &self.view.failure.as_ref().map(|f| f.summary.clone()).unwrap_or_default(),
                        #[watch]
                        set_visible: self.view.failure.is_some(),
                        set_xalign: 0.0,
                        set_wrap: true,
                        set_selectable: true,
                        add_css_class: "error",
                    },
                    gtk::Label {
                        #[watch]
                        set_label: &self.view.failure.as_ref().map(|f| f.hint.clone()).unwrap_or_default(),
                        #[watch]
                        set_visible: self.view.failure.as_ref().is_some_and(|f| !f.hint.is_empty()),
                        set_xalign: 0.0,
                        set_wrap: true,
                        add_css_class: "caption",
                        add_css_class: "dim-label",
                    },
                },

                gtk::Spinner {
                    #[watch]
                    set_spinning: self.view.busy || self.view.pending,
                    #[watch]
                    set_visible: self.view.busy || self.view.pending,
                    set_valign: gtk::Align::Center,
                    set_a11y_label: &gettext("Working"),
                },

                #[name = "button"]
                gtk::Button {
                    set_valign: gtk::Align::Center,
                    #[watch]
                    set_sensitive: !self.view.pending && self.view.permission.usable(),
                    #[watch]
                    set_tooltip_text: Some(&button_tooltip(&self.view)),
                    #[watch]
                    set_css_classes: if self.view.active { &["destructive-action"] } else { &["suggested-action"] },
                    #[watch]
                    set_a11y_label: &button_label(&self.view),
                    connect_clicked => RowInput::Clicked,

                    gtk::Box {
                        set_spacing: 6,
                        gtk::Image {
                            set_icon_name: Some("changes-prevent-symbolic"),
                            #[watch]
                            set_visible: self.view.permission == Permission::Auth,
                        },
                        gtk::Label {
                            #[watch]
                            set_label: &button_label(&self.view),
                        },
                    },
                },

                gtk::Image {
                    set_icon_name: Some("go-next-symbolic"),
                    set_valign: gtk::Align::Center,
                },
            }
        }
    }

    fn init_model(view: Self::Init, _index: &DynamicIndex, _sender: FactorySender<Self>) -> Self {
        ProfileRow { view }
    }

    fn update(&mut self, msg: Self::Input, sender: FactorySender<Self>) {
        match msg {
            // Decided now, from what the row shows now.
            RowInput::Clicked => {
                let out = if self.view.active {
                    RowOutput::Disconnect(self.view.path.clone())
                } else {
                    RowOutput::Connect(self.view.path.clone())
                };
                if sender.output(out).is_err() {
                    tracing::warn!("the window is gone; a click was lost");
                }
            }
        }
    }
}

fn button_label(view: &RowView) -> String {
    if view.active {
        gettext("Disconnect")
    } else {
        gettext("Connect")
    }
}

fn button_tooltip(view: &RowView) -> String {
    match view.permission {
        Permission::No => gettext("You are not allowed to connect; ask an administrator"),
        Permission::Auth => gettext("An administrator password is needed"),
        Permission::Yes if view.active => {
            text::fill(&gettext("Disconnect “{name}”"), &[("name", &view.name)])
        }
        Permission::Yes => text::fill(&gettext("Connect “{name}”"), &[("name", &view.name)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::{Permissions, Update};
    use dialtone_api::dbus::StateReason;
    use dialtone_api::objects::{LinkInfo, ProfileInfo};

    fn mirror() -> Mirror {
        let mut m = Mirror::default();
        m.apply(&Update::Permissions(Permissions {
            connect: Permission::Auth,
            modify: Permission::No,
        }));
        for (id, name, link) in [
            ("b", "beta", Some("/l/1")),
            ("a", "Alpha", None),
            ("c", "alpha", Some("/l/2")),
        ] {
            m.apply(&Update::Profile(ProfileInfo {
                path: format!("/p/{id}"),
                id: id.into(),
                name: name.into(),
                last_link: link.map(Into::into),
                ..ProfileInfo::default()
            }));
        }
        let mut busy = LinkInfo::new("/l/1");
        busy.state = "disconnected".into();
        busy.reason = StateReason::new("modem:busy", "busy");
        busy.reason.details.insert("number".into(), "555".into());
        m.apply(&Update::Link(Box::new(busy)));
        let mut up = LinkInfo::new("/l/2");
        up.state = "connected".into();
        m.apply(&Update::Link(Box::new(up)));
        m
    }

    #[test]
    fn rows_sorted_by_name_with_their_state() {
        let m = mirror();
        let rows = rows_of(&m, &Default::default());
        let names: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.path.as_str()))
            .collect();
        assert_eq!(
            names,
            [("Alpha", "/p/a"), ("alpha", "/p/c"), ("beta", "/p/b")]
        );
        assert_eq!(rows[0].state, "Not connected");
        assert!(!rows[0].active && rows[0].failure.is_none());
        assert!(rows[1].connected && rows[1].active && !rows[1].busy);
        let failure = rows[2].failure.as_ref().expect("a failure");
        assert_eq!(failure.summary, "The number 555 was busy.");
        assert!(rows.iter().all(|r| r.permission == Permission::Auth));
    }

    #[test]
    fn a_pending_call_shows() {
        let m = mirror();
        let pending = std::collections::BTreeSet::from(["/p/a".to_string()]);
        let rows = rows_of(&m, &pending);
        assert!(rows[0].pending);
        assert!(!rows[1].pending);
    }

    #[test]
    fn the_button_says_what_it_does() {
        let m = mirror();
        let rows = rows_of(&m, &Default::default());
        assert_eq!(button_label(&rows[0]), "Connect");
        assert_eq!(button_label(&rows[1]), "Disconnect");
        assert_eq!(
            button_tooltip(&rows[0]),
            "An administrator password is needed"
        );
    }
}
