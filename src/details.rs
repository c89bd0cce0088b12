//! A profile's link in detail: state and failure, the live throughput
//! graph, the line (device, number, speed, authentication, duration), the
//! addresses (IPv4, IPv6, DNS, interface, default route) and the traffic.
//!
//! Init: `()`. Input: [`DetailsInput::Show`] with a [`DetailsView`] made by
//! [`DetailsView::of`] and the link's [`History`]. Output:
//! [`DetailsOutput`], what its buttons ask of the window.

use crate::a11y::A11yExt;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use adw::prelude::*;
use gettextrs::gettext;
use relm4::{adw, gtk, ComponentParts, ComponentSender, SimpleComponent};

use crate::daemon::{Mirror, Permission};
use crate::graph::{self, Graph, History};
use crate::text::{self, Explained};

/// What the page shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DetailsView {
    /// The profile's path.
    pub profile: String,
    /// Its link's path, if it has had one.
    pub link: Option<String>,
    /// The profile's name.
    pub name: String,
    /// The state in words.
    pub state: String,
    /// Why it failed, if it did.
    pub failure: Option<Explained>,
    /// Holds the line.
    pub active: bool,
    /// Connected.
    pub connected: bool,
    /// May this user connect?
    pub permission: Permission,
    /// May this user change it?
    pub modify: Permission,
    /// Value rows, each (label, value); empty values are shown as "—".
    pub line: Vec<(String, String)>,
    /// Address rows.
    pub addresses: Vec<(String, String)>,
    /// Traffic rows.
    pub traffic: Vec<(String, String)>,
    /// Current rates in words: (received, sent).
    pub rates: (String, String),
}

fn now_usec() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "—".to_string()
    } else {
        s.to_string()
    }
}

fn pair(local: &str, peer: &str) -> String {
    match (local.is_empty(), peer.is_empty()) {
        (true, true) => String::new(),
        (false, true) => local.to_string(),
        (true, false) => text::fill(&gettext("peer {peer}"), &[("peer", peer)]),
        (false, false) => text::fill(
            &gettext("{local}, peer {peer}"),
            &[("local", local), ("peer", peer)],
        ),
    }
}

impl DetailsView {
    /// The page for the profile at `path`, as the mirror says, at `now`
    /// (wall clock in µs, for the duration).
    pub fn of(
        mirror: &Mirror,
        path: &str,
        history: Option<&History>,
        now: Instant,
    ) -> Option<Self> {
        Self::at(mirror, path, history, now, now_usec())
    }

    fn at(
        mirror: &Mirror,
        path: &str,
        history: Option<&History>,
        now: Instant,
        wall_usec: u64,
    ) -> Option<Self> {
        let p = mirror.profiles.get(path)?;
        let link = mirror.link_of(p);
        let mut v = DetailsView {
            profile: path.to_string(),
            link: link.map(|l| l.path.clone()),
            name: p.name.clone(),
            state: text::state_line(link),
            failure: text::failure(link),
            active: text::is_active(link),
            connected: link
                .and_then(|l| l.link_state())
                .is_some_and(|s| s == dialtone_api::dbus::LinkState::Connected),
            permission: mirror.permissions.connect,
            modify: mirror.permissions.modify,
            ..DetailsView::default()
        };
        let device = link
            .map(|l| l.device.clone())
            .filter(|d| !d.is_empty())
            .or_else(|| p.setting_str("line.device"))
            .unwrap_or_default();
        let (rx, tx) = history.map(|h| h.current(now)).unwrap_or((0.0, 0.0));
        v.rates = (text::rate(rx), text::rate(tx));
        let l = link.cloned().unwrap_or_default();
        let duration = if l.connected_since > 0 && v.connected {
            text::duration(wall_usec.saturating_sub(l.connected_since) / 1_000_000)
        } else {
            String::new()
        };
        v.line = vec![
            (gettext("Duration"), duration),
            (
                gettext("Line speed"),
                if l.connect_speed > 0 {
                    text::line_speed(l.connect_speed)
                } else {
                    String::new()
                },
            ),
            (gettext("Number"), l.number.clone()),
            (gettext("Device"), device),
            (gettext("Authentication"), l.authentication.clone()),
        ];
        v.addresses = vec![
            (gettext("IPv4"), pair(&l.ipv4.0, &l.ipv4.1)),
            (gettext("IPv6"), pair(&l.ipv6.0, &l.ipv6.1)),
            (gettext("DNS"), l.dns.join(", ")),
            (gettext("Interface"), l.interface.clone()),
            (
                gettext("Default route"),
                if link.is_none() || l.interface.is_empty() {
                    String::new()
                } else if l.default_route {
                    gettext("Through this link")
                } else {
                    gettext("Not through this link")
                },
            ),
            (
                gettext("MTU"),
                if l.mtu > 0 {
                    l.mtu.to_string()
                } else {
                    String::new()
                },
            ),
        ];
        let packets = |bytes: &str, packets: &str| {
            if link.is_none() {
                return String::new();
            }
            text::fill(
                &gettext("{bytes} in {packets} packets"),
                &[
                    ("bytes", &text::bytes(l.stat(bytes))),
                    ("packets", &l.stat(packets).to_string()),
                ],
            )
        };
        v.traffic = vec![
            (gettext("Received"), packets("rx-bytes", "rx-packets")),
            (gettext("Sent"), packets("tx-bytes", "tx-packets")),
            (
                gettext("Errors"),
                if link.is_none() {
                    String::new()
                } else {
                    text::fill(
                        &gettext("{rx} received, {tx} sent"),
                        &[
                            ("rx", &l.stat("rx-errors").to_string()),
                            ("tx", &l.stat("tx-errors").to_string()),
                        ],
                    )
                },
            ),
        ];
        Some(v)
    }
}

/// Messages to the page.
#[derive(Debug)]
pub enum DetailsInput {
    /// Show this, with this rate history, as of now.
    Show(Box<DetailsView>, Box<History>),
    /// The Connect / Disconnect button.
    Toggle,
    /// The log button.
    Log,
    /// The edit button.
    Edit,
    /// The delete button.
    Delete,
}

/// What the page's buttons ask of the window.
#[derive(Debug)]
pub enum DetailsOutput {
    /// Connect the profile.
    Connect(String),
    /// Hang up the profile.
    Disconnect(String),
    /// Show the link's log.
    Log(String),
    /// Edit the profile.
    Edit(String),
    /// Delete the profile (after asking).
    Delete(String),
}

/// The page.
pub struct Details {
    view: DetailsView,
    graph: Graph,
    rows: Vec<(adw::ActionRow, gtk::Label)>,
}

/// Value rows: label and a selectable value.
fn value_rows(group: &adw::PreferencesGroup, count: usize) -> Vec<(adw::ActionRow, gtk::Label)> {
    (0..count)
        .map(|_| {
            let row = adw::ActionRow::new();
            row.add_css_class("property");
            let value = gtk::Label::new(None);
            value.set_selectable(true);
            value.set_xalign(1.0);
            value.set_wrap(true);
            value.set_wrap_mode(gtk::pango::WrapMode::WordChar);
            // As wide as the text wants; wrapped only when the row is narrower.
            value.set_natural_wrap_mode(gtk::NaturalWrapMode::None);
            value.set_valign(gtk::Align::Center);
            row.add_suffix(&value);
            group.add(&row);
            (row, value)
        })
        .collect()
}

fn fill_rows(rows: &[(adw::ActionRow, gtk::Label)], values: &[(String, String)]) {
    for ((row, value_label), (label, value)) in rows.iter().zip(values) {
        row.set_title(label);
        let shown = or_dash(value);
        value_label.set_label(&shown);
        row.set_a11y_description(&shown);
    }
}

#[relm4::component(pub)]
impl SimpleComponent for Details {
    type Init = ();
    type Input = DetailsInput;
    type Output = DetailsOutput;

    view! {
        #[root]
        gtk::ScrolledWindow {
            set_hscrollbar_policy: gtk::PolicyType::Never,
            set_vexpand: true,

            adw::Clamp {
                set_maximum_size: 720,
                set_margin_top: 18,
                set_margin_bottom: 18,
                set_margin_start: 12,
                set_margin_end: 12,

                #[name = "page"]
                gtk::Box {
                    set_orientation: gtk::Orientation::Vertical,
                    set_spacing: 18,

                    gtk::Box {
                        set_orientation: gtk::Orientation::Horizontal,
                        set_spacing: 12,

                        gtk::Box {
                            set_orientation: gtk::Orientation::Vertical,
                            set_hexpand: true,
                            set_spacing: 4,
                            gtk::Label {
                                #[watch]
                                set_label: &model.view.name,
                                set_xalign: 0.0,
                                set_wrap: true,
                                add_css_class: "title-2",
                            },
                            gtk::Label {
                                #[watch]
                                set_label: &model.view.state,
                                set_xalign: 0.0,
                                #[watch]
                                set_css_classes: if model.view.connected { &["success"] } else { &["dim-label"] },
                            },
                            gtk::Label {
                                #[watch]
                                set_label: &model.view.failure.as_ref().map(|f| f.summary.clone()).unwrap_or_default(),
                                #[watch]
                                set_visible: model.view.failure.is_some(),
                                set_xalign: 0.0,
                                set_wrap: true,
                                set_selectable: true,
                                add_css_class: "error",
                            },
                            gtk::Label {
                                #[watch]
                                set_label: &model.view.failure.as_ref().map(|f| f.hint.clone()).unwrap_or_default(),
                                #[watch]
                                set_visible: model.view.failure.as_ref().is_some_and(|f| !f.hint.is_empty()),
                                set_xalign: 0.0,
                                set_wrap: true,
                                add_css_class: "dim-label",
                            },
                        },

                        gtk::Button {
                            set_valign: gtk::Align::Center,
                            set_use_underline: true,
                            #[watch]
                            set_label: &if model.view.active { gettext("_Disconnect") } else { gettext("_Connect") },
                            #[watch]
                            set_css_classes: if model.view.active { &["destructive-action", "pill"] } else { &["suggested-action", "pill"] },
                            #[watch]
                            set_sensitive: model.view.permission.usable(),
                            connect_clicked => DetailsInput::Toggle,
                        },
                    },

                    #[name = "graph_group"]
                    adw::PreferencesGroup {
                        set_title: &gettext("Throughput"),
                        #[wrap(Some)]
                        set_header_suffix = &gtk::Box {
                            set_spacing: 12,
                            gtk::Label {
                                set_use_markup: true,
                                #[watch]
                                set_label: &format!(
                                    "<span foreground=\"{}\">●</span> {}",
                                    graph::rx_css(),
                                    glib_escape(&text::fill(&gettext("Received {rate}"), &[("rate", &model.view.rates.0)])),
                                ),
                                add_css_class: "caption",
                            },
                            gtk::Label {
                                set_use_markup: true,
                                #[watch]
                                set_label: &format!(
                                    "<span foreground=\"{}\">●</span> {}",
                                    graph::tx_css(),
                                    glib_escape(&text::fill(&gettext("Sent {rate}"), &[("rate", &model.view.rates.1)])),
                                ),
                                add_css_class: "caption",
                            },
                        },
                        gtk::Frame {
                            add_css_class: "view",
                            #[local_ref]
                            graph_widget -> gtk::DrawingArea {
                                set_margin_top: 6,
                                set_margin_bottom: 6,
                                set_margin_start: 6,
                                set_margin_end: 6,
                                set_a11y_label: &gettext("Throughput over the last five minutes"),
                            },
                        },
                    },

                    #[name = "line_group"]
                    adw::PreferencesGroup {
                        set_title: &gettext("Line"),
                    },
                    #[name = "address_group"]
                    adw::PreferencesGroup {
                        set_title: &gettext("Addresses"),
                    },
                    #[name = "traffic_group"]
                    adw::PreferencesGroup {
                        set_title: &gettext("Traffic"),
                    },

                    gtk::Box {
                        set_spacing: 12,
                        set_halign: gtk::Align::End,
                        gtk::Button {
                            set_use_underline: true,
                            set_label: &gettext("Show _Log"),
                            #[watch]
                            set_sensitive: model.view.link.is_some(),
                            connect_clicked => DetailsInput::Log,
                        },
                        gtk::Button {
                            set_use_underline: true,
                            set_label: &gettext("_Edit Connection…"),
                            #[watch]
                            set_sensitive: model.view.modify.usable(),
                            #[watch]
                            set_tooltip_text: modify_tooltip(model.view.modify).as_deref(),
                            connect_clicked => DetailsInput::Edit,
                        },
                        gtk::Button {
                            set_use_underline: true,
                            set_label: &gettext("De_lete…"),
                            add_css_class: "destructive-action",
                            #[watch]
                            set_sensitive: model.view.modify.usable() && !model.view.active,
                            #[watch]
                            set_tooltip_text: if model.view.active {
                                Some(gettext("Disconnect first to delete this connection"))
                            } else {
                                modify_tooltip(model.view.modify)
                            }.as_deref(),
                            connect_clicked => DetailsInput::Delete,
                        },
                    },
                },
            },
        }
    }

    fn init(
        _init: Self::Init,
        root: Self::Root,
        sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        let graph = Graph::new();
        let graph_widget = graph.widget().clone();
        let mut model = Details {
            view: DetailsView::default(),
            graph,
            rows: Vec::new(),
        };
        let widgets = view_output!();
        let mut rows = value_rows(&widgets.line_group, 5);
        rows.extend(value_rows(&widgets.address_group, 6));
        rows.extend(value_rows(&widgets.traffic_group, 3));
        model.rows = rows;
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Self::Input, sender: ComponentSender<Self>) {
        match msg {
            DetailsInput::Show(view, history) => {
                self.graph.show(&history, Instant::now());
                let values: Vec<(String, String)> = view
                    .line
                    .iter()
                    .chain(&view.addresses)
                    .chain(&view.traffic)
                    .cloned()
                    .collect();
                fill_rows(&self.rows, &values);
                self.view = *view;
            }
            DetailsInput::Toggle => {
                let profile = self.view.profile.clone();
                self.emit(
                    sender,
                    if self.view.active {
                        DetailsOutput::Disconnect(profile)
                    } else {
                        DetailsOutput::Connect(profile)
                    },
                );
            }
            DetailsInput::Log => self.emit(sender, DetailsOutput::Log(self.view.profile.clone())),
            DetailsInput::Edit => self.emit(sender, DetailsOutput::Edit(self.view.profile.clone())),
            DetailsInput::Delete => {
                self.emit(sender, DetailsOutput::Delete(self.view.profile.clone()))
            }
        }
    }
}

/// Why a control that changes the connection is locked, if it is.
pub fn modify_tooltip(permission: Permission) -> Option<String> {
    match permission {
        Permission::Yes => None,
        Permission::Auth => Some(gettext("An administrator password is needed")),
        Permission::No => Some(gettext("Only administrators can change connections")),
    }
}

impl Details {
    fn emit(&self, sender: ComponentSender<Self>, out: DetailsOutput) {
        if self.view.profile.is_empty() {
            return;
        }
        if sender.output(out).is_err() {
            tracing::warn!("the window is gone; a click was lost");
        }
    }
}

fn glib_escape(s: &str) -> String {
    gtk::glib::markup_escape_text(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::Update;
    use dialtone_api::objects::{LinkInfo, ProfileInfo};

    #[test]
    fn a_connected_link_in_detail() {
        let mut m = Mirror::default();
        m.apply(&Update::Profile(ProfileInfo {
            path: "/p/isp".into(),
            id: "isp".into(),
            name: "Example ISP".into(),
            active_link: Some("/l/1".into()),
            ..ProfileInfo::default()
        }));
        let mut l = LinkInfo::new("/l/1");
        l.state = "connected".into();
        l.ipv4 = ("10.0.0.2".into(), "10.0.0.1".into());
        l.dns = vec!["10.0.0.53".into(), "10.0.0.54".into()];
        l.interface = "dtn0".into();
        l.default_route = true;
        l.connect_speed = 57_600;
        l.connected_since = 1_000_000;
        l.statistics.insert("rx-bytes".into(), 2_500_000);
        l.statistics.insert("rx-packets".into(), 1_800);
        m.apply(&Update::Link(Box::new(l)));
        let v = DetailsView::at(&m, "/p/isp", None, Instant::now(), 63_000_000)
            .expect("the profile is there");
        assert_eq!(v.state, "Connected");
        assert!(v.connected && v.active);
        let get = |rows: &[(String, String)], k: &str| {
            rows.iter()
                .find(|(l, _)| l == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{k}"))
        };
        assert_eq!(get(&v.line, "Duration"), "1:02");
        assert_eq!(get(&v.line, "Line speed"), "57600 bit/s");
        assert_eq!(get(&v.addresses, "IPv4"), "10.0.0.2, peer 10.0.0.1");
        assert_eq!(get(&v.addresses, "DNS"), "10.0.0.53, 10.0.0.54");
        assert_eq!(get(&v.addresses, "Default route"), "Through this link");
        assert_eq!(get(&v.addresses, "IPv6"), "");
        assert_eq!(get(&v.traffic, "Received"), "2.5 MB in 1800 packets");
        assert_eq!(v.rates, ("0 B/s".to_string(), "0 B/s".to_string()));
    }

    #[test]
    fn a_profile_never_connected() {
        let mut m = Mirror::default();
        m.apply(&Update::Profile(ProfileInfo {
            path: "/p/isp".into(),
            id: "isp".into(),
            name: "Example ISP".into(),
            ..ProfileInfo::default()
        }));
        let v = DetailsView::of(&m, "/p/isp", None, Instant::now()).expect("there");
        assert_eq!(v.state, "Not connected");
        assert!(v.link.is_none() && !v.active);
        assert!(v.traffic.iter().all(|(_, v)| v.is_empty()));
        assert!(DetailsView::of(&m, "/p/nope", None, Instant::now()).is_none());
    }
}
