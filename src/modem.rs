//! The modem dialog: where /dev/modem points, every serial port the daemon
//! sees (by its friendly name, with its device, stable by-id name, driver
//! and USB ids), which program holds a busy port, and per port *Query
//! Modem* (asks the modem who it is: manufacturer, model, revision, signal,
//! ATI/ATI3) and *Use as /dev/modem*.
//!
//! The dialog never decides what /dev/modem is: after *Use as /dev/modem*
//! it waits for the daemon's `ModemLink` property to change, which the
//! window passes on as [`ModemInput::Manager`]. Only a failed call shows
//! (in a toast).
//!
//! - Init: [`ModemInit`] — the calls, the Manager's properties, and the
//!   user's `modify` permission (both actions need it).
//! - Input: [`ModemInput::Manager`] when the daemon's `SerialPorts` or
//!   `ModemLink` changed; [`ModemInput::Permission`] when the permissions
//!   were read again; [`ModemInput::Calls`] after the bus was reconnected.
//!   The other variants are the dialog's own.
//! - Output: [`ModemOutput::Called`] after each call came back (a password
//!   given to polkit may have changed what is allowed: read the
//!   permissions again); [`ModemOutput::Closed`] when the window was closed
//!   (it is destroyed: drop the Controller).
//!
//! Launch: `Modem::builder().transient_for(&window).launch(init)
//! .forward(…)`; the dialog presents itself.

use std::collections::HashMap;

use adw::prelude::*;
use dialtone_api::dbus::PortInfo;
use dialtone_api::objects::ManagerInfo;
use gettextrs::gettext;
use relm4::factory::{DynamicIndex, FactoryComponent, FactorySender, FactoryVecDeque, FactoryView};
use relm4::prelude::*;
use relm4::{adw, gtk};

use crate::a11y::A11yExt;
use crate::daemon::{CallError, Calls, Permission};
use crate::text::{self, Explained};

/// How the dialog starts.
#[derive(Clone, Debug)]
pub struct ModemInit {
    /// The daemon's methods.
    pub calls: Calls,
    /// The Manager's properties: `SerialPorts` and `ModemLink`.
    pub manager: ManagerInfo,
    /// The user's `modify` permission (QueryModem and SetModemLink).
    pub permission: Permission,
}

/// Messages to the dialog.
#[derive(Debug)]
pub enum ModemInput {
    /// The Manager's properties changed (ports came or went, a port's
    /// holder changed, /dev/modem was pointed elsewhere).
    Manager(ManagerInfo),
    /// The `modify` permission, read again.
    Permission(Permission),
    /// New calls (the bus connection was made again).
    Calls(Calls),
    /// Internal: *Query Modem* on this port.
    Query(String),
    /// Internal: *Use as /dev/modem* on this port.
    Use(String),
    /// Internal: close the window.
    Close,
}

/// What the dialog tells the window.
#[derive(Debug)]
pub enum ModemOutput {
    /// A call came back: read the permissions again.
    Called,
    /// The window was closed and is gone.
    Closed,
}

/// Answers of calls.
#[derive(Debug)]
pub enum ModemCmd {
    /// QueryModem on this port answered.
    Queried(String, Result<Vec<(String, String)>, CallError>),
    /// SetModemLink to this port answered.
    Linked(String, Result<(), CallError>),
}

// ---- words ----

/// What a modem told about itself, in the order shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// `AT+GMI`.
    Manufacturer,
    /// `AT+GMM`.
    Model,
    /// `AT+GMR`.
    Revision,
    /// `AT+CSQ`, decoded.
    Signal,
    /// `ATI`.
    Identity,
    /// `ATI3`.
    Information,
}

impl Field {
    /// The field's name for people.
    pub fn label(self) -> String {
        match self {
            Field::Manufacturer => gettext("Manufacturer"),
            Field::Model => gettext("Model"),
            Field::Revision => gettext("Revision"),
            Field::Signal => gettext("Signal"),
            // The AT commands are the modem's own words; they stay.
            Field::Identity => gettext("Identification (ATI)"),
            Field::Information => gettext("Information (ATI3)"),
        }
    }

    /// The field a command answers.
    fn of_command(command: &str) -> Option<Field> {
        match command.trim().to_ascii_uppercase().as_str() {
            "AT+GMI" | "AT+CGMI" => Some(Field::Manufacturer),
            "AT+GMM" | "AT+CGMM" => Some(Field::Model),
            "AT+GMR" | "AT+CGMR" => Some(Field::Revision),
            "AT+CSQ" => Some(Field::Signal),
            "ATI" | "ATI0" => Some(Field::Identity),
            "ATI3" => Some(Field::Information),
            _ => None,
        }
    }
}

/// The modem's answers as (field, text), in the order the fields are
/// declared (the order shown); empty
/// answers and commands this dialog does not know are left out.
pub fn answers_of(pairs: &[(String, String)]) -> Vec<(Field, String)> {
    let mut out: Vec<(Field, String)> = Vec::new();
    for (command, answer) in pairs {
        let Some(field) = Field::of_command(command) else {
            continue;
        };
        let lines: Vec<&str> = answer
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if lines.is_empty() {
            continue;
        }
        let text = match field {
            Field::Signal => signal_text(answer).unwrap_or_else(|| lines.join("\n")),
            Field::Manufacturer | Field::Model | Field::Revision => {
                let joined = lines.join("\n");
                // Some modems answer "+CGMI: Quectel".
                strip_echo_prefix(&joined).to_string()
            }
            Field::Identity | Field::Information => lines.join("\n"),
        };
        if !out.iter().any(|(f, _)| *f == field) {
            out.push((field, text));
        }
    }
    out.sort_by_key(|(f, _)| *f);
    out
}

/// "+GMI: Acme" gives "Acme"; anything else is left as it is.
fn strip_echo_prefix(s: &str) -> &str {
    if let Some(rest) = s.strip_prefix('+') {
        if let Some((word, value)) = rest.split_once(':') {
            if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric()) {
                return value.trim();
            }
        }
    }
    s
}

/// The received signal strength of an `AT+CSQ` rssi (3GPP TS 27.007):
/// dBm and whether it is a bound ("or less" for 0, "or more" for 31);
/// `None` for 99 (unknown) and values out of range.
pub fn rssi_dbm(rssi: u8) -> Option<(i32, std::cmp::Ordering)> {
    use std::cmp::Ordering;
    match rssi {
        0 => Some((-113, Ordering::Less)),
        1..=30 => Some((-113 + 2 * i32::from(rssi), Ordering::Equal)),
        31 => Some((-51, Ordering::Greater)),
        _ => None,
    }
}

/// How good a signal of this strength is, in a word.
pub fn signal_quality(dbm: i32) -> String {
    if dbm >= -70 {
        gettext("excellent")
    } else if dbm >= -85 {
        gettext("good")
    } else if dbm >= -100 {
        gettext("fair")
    } else {
        gettext("poor")
    }
}

/// The rssi of an `AT+CSQ` answer (`+CSQ: 20,99`, or just `20,99`).
pub fn csq_rssi(answer: &str) -> Option<u8> {
    let line = answer
        .lines()
        .map(str::trim)
        .find(|l| l.to_ascii_uppercase().starts_with("+CSQ:"))
        .map(|l| l[5..].trim())
        .or_else(|| answer.lines().map(str::trim).find(|l| !l.is_empty()))?;
    let (rssi, _ber) = line.split_once(',')?;
    rssi.trim().parse().ok()
}

/// An `AT+CSQ` answer in words: "-73 dBm (good)", "-113 dBm or less
/// (poor)", "Unknown"; `None` when it is not a CSQ answer.
pub fn signal_text(answer: &str) -> Option<String> {
    use std::cmp::Ordering;
    let rssi = csq_rssi(answer)?;
    if rssi == 99 {
        return Some(gettext("Unknown (no signal measured)"));
    }
    let (dbm, bound) = rssi_dbm(rssi)?;
    let template = match bound {
        Ordering::Less => gettext("{dbm} dBm or less ({quality})"),
        Ordering::Equal => gettext("{dbm} dBm ({quality})"),
        Ordering::Greater => gettext("{dbm} dBm or more ({quality})"),
    };
    Some(text::fill(
        &template,
        &[("dbm", &dbm.to_string()), ("quality", &signal_quality(dbm))],
    ))
}

/// The last element of a path.
fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A port's name for people: its description, else its USB product, else
/// its device name.
pub fn port_title(port: &PortInfo) -> String {
    [&port.description, &port.product]
        .into_iter()
        .map(|s| s.trim())
        .find(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| base_name(&port.path).to_string())
}

/// The description without the device name the daemon adds at the end
/// ("FTDI FT232R USB UART (ttyUSB0)" gives "FTDI FT232R USB UART"), for
/// places that show the device already.
pub fn short_title(port: &PortInfo) -> String {
    let title = port_title(port);
    let suffix = format!(" ({})", base_name(&port.path));
    match title.strip_suffix(&suffix) {
        Some(short) if !short.trim().is_empty() => short.trim().to_string(),
        _ => title,
    }
}

/// USB vendor and product id as `vvvv:pppp`, if the port is on USB.
pub fn usb_ids(port: &PortInfo) -> Option<String> {
    (port.vendor_id != 0 || port.product_id != 0)
        .then(|| format!("{:04x}:{:04x}", port.vendor_id, port.product_id))
}

/// The line under a port's name: device, driver, USB ids ("/dev/ttyUSB0 ·
/// ftdi_sio · USB 0403:6001").
pub fn port_subtitle(port: &PortInfo) -> String {
    let ids = usb_ids(port)
        .map(|ids| text::fill(&gettext("USB {ids}"), &[("ids", &ids)]))
        .unwrap_or_default();
    [port.path.as_str(), port.driver.as_str(), ids.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The port's stable name under /dev/serial/by-id, if it has one
/// ("usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0").
pub fn by_id_name(port: &PortInfo) -> Option<String> {
    let name = base_name(port.by_id.trim());
    (!name.is_empty()).then(|| name.to_string())
}

/// Who holds a busy port: "In use by minicom (PID 4242)"; `None` when free.
pub fn busy_text(port: &PortInfo) -> Option<String> {
    if port.busy_pid == 0 {
        return None;
    }
    let pid = port.busy_pid.to_string();
    Some(if port.busy_program.is_empty() {
        text::fill(&gettext("In use (PID {pid})"), &[("pid", &pid)])
    } else {
        text::fill(
            &gettext("In use by {program} (PID {pid})"),
            &[("program", &port.busy_program), ("pid", &pid)],
        )
    })
}

/// Whether /dev/modem points at this port.
pub fn is_target(port: &PortInfo, modem_link: &str) -> bool {
    port.modem_link
        || (!modem_link.is_empty()
            && [&port.path, &port.by_id, &port.by_path]
                .iter()
                .any(|p| p.as_str() == modem_link))
}

/// Where /dev/modem points, in a sentence, and a hint under it.
pub fn modem_link_text(manager: &ManagerInfo) -> (String, String) {
    let target = manager.modem_link.as_str();
    let port = manager.serial_ports.iter().find(|p| is_target(p, target));
    match (target.is_empty(), port) {
        (true, None) => (
            gettext("/dev/modem is not set"),
            gettext("Some programs expect a modem there. A port’s “Use as /dev/modem” sets it."),
        ),
        (_, Some(p)) => {
            let shown = if target.is_empty() { &p.path } else { target };
            let name = short_title(p);
            let sentence = if name == base_name(shown) {
                text::fill(&gettext("/dev/modem points to {port}"), &[("port", shown)])
            } else {
                text::fill(
                    &gettext("/dev/modem points to {port} — {name}"),
                    &[("port", shown), ("name", &name)],
                )
            };
            (
                sentence,
                gettext("Programs that open /dev/modem use this port."),
            )
        }
        (false, None) => (
            text::fill(&gettext("/dev/modem points to {port}"), &[("port", target)]),
            gettext("That port is not connected now. Choose another port below."),
        ),
    }
}

/// Why QueryModem failed, in plain words, with what to try.
pub fn query_failure(e: &CallError, port: Option<&PortInfo>) -> Explained {
    let (summary, hint) = match e {
        CallError::Busy(m) => {
            let holder = port.filter(|p| p.busy_pid != 0).map(|p| {
                if p.busy_program.is_empty() {
                    text::fill(
                        &gettext("The port is in use by another program (PID {pid})."),
                        &[("pid", &p.busy_pid.to_string())],
                    )
                } else {
                    text::fill(
                        &gettext("The port is in use by {program} (PID {pid})."),
                        &[
                            ("program", &p.busy_program),
                            ("pid", &p.busy_pid.to_string()),
                        ],
                    )
                }
            });
            match holder {
                Some(h) => (
                    h,
                    gettext("Close that program and try again; the modem was not disturbed."),
                ),
                None => (
                    gettext("The port is in use by another program or a connection."),
                    text::fill(
                        &gettext("Hang up or close it and try again. ({message})"),
                        &[("message", m)],
                    ),
                ),
            }
        }
        CallError::DeviceUnavailable(m) => (
            gettext("The port could not be opened."),
            text::fill(
                &gettext("Is the device still plugged in? The system said: {message}"),
                &[("message", m)],
            ),
        ),
        CallError::NotAuthorized(_) => (
            gettext("You are not allowed to talk to modems."),
            gettext("An administrator can allow it."),
        ),
        CallError::Unreachable(_) => (
            gettext("The Dialtone service is not running."),
            String::new(),
        ),
        CallError::NotFound(_) => (gettext("The port is gone."), String::new()),
        CallError::InvalidArgument { message, .. } => (
            gettext("Dialtone does not talk to this port."),
            message.clone(),
        ),
        CallError::Failed(m) if m.contains("nothing answered") => (
            gettext("The modem does not answer."),
            gettext("Is a modem connected to this port and switched on?"),
        ),
        CallError::Failed(m) if m.contains("instead of OK") => (
            gettext("Something answered, but not like a modem."),
            m.clone(),
        ),
        CallError::Failed(m) => (gettext("The modem could not be asked."), m.clone()),
    };
    Explained { summary, hint }
}

/// Why SetModemLink failed: the summary for a toast, the reason for the
/// port's row.
pub fn link_failure(e: &CallError, port: &str) -> Explained {
    let hint = match e {
        CallError::NotAuthorized(_) => {
            gettext("You are not allowed to change /dev/modem; an administrator can allow it.")
        }
        CallError::Unreachable(_) => gettext("The Dialtone service is not running."),
        CallError::InvalidArgument { message, .. } => text::fill(
            &gettext("Dialtone does not use this port: {message}"),
            &[("message", message)],
        ),
        other => other.to_string(),
    };
    Explained {
        summary: text::fill(
            &gettext("Cannot point /dev/modem at {port}"),
            &[("port", port)],
        ),
        hint,
    }
}

/// A button's tooltip for this permission; `allowed` when it is `Yes`.
pub fn action_tooltip(permission: Permission, allowed: &str) -> String {
    match permission {
        Permission::Yes => allowed.to_string(),
        Permission::Auth => gettext("An administrator password is needed"),
        Permission::No => gettext("Only administrators can change modems"),
    }
}

// ---- the rows ----

/// A QueryModem on a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// Asked; no answer yet.
    Running,
    /// What the modem said (possibly nothing).
    Answered(Vec<(Field, String)>),
    /// Why it could not be asked.
    Failed(Explained),
}

/// What a port's row shows; made by [`ports_of`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortView {
    /// The device.
    pub path: String,
    /// [`port_title`].
    pub title: String,
    /// [`port_subtitle`].
    pub subtitle: String,
    /// [`by_id_name`].
    pub by_id: Option<String>,
    /// USB or not (the icon).
    pub usb: bool,
    /// [`busy_text`].
    pub busy: Option<String>,
    /// /dev/modem points here.
    pub target: bool,
    /// The last QueryModem, if any.
    pub query: Option<Query>,
    /// A SetModemLink call for this port is on its way.
    pub linking: bool,
    /// Another SetModemLink call is on its way.
    pub linking_other: bool,
    /// Why the last SetModemLink to this port failed.
    pub link_error: Option<Explained>,
    /// The `modify` permission.
    pub permission: Permission,
}

impl PortView {
    fn querying(&self) -> bool {
        self.query == Some(Query::Running)
    }

    /// The Query button's accessible name.
    pub fn query_label(&self) -> String {
        text::fill(&gettext("Query modem on {port}"), &[("port", &self.path)])
    }

    /// The Use button's accessible name.
    pub fn use_label(&self) -> String {
        text::fill(
            &gettext("Use {port} as /dev/modem"),
            &[("port", &self.path)],
        )
    }

    fn query_tooltip(&self) -> String {
        action_tooltip(
            self.permission,
            &gettext("Ask the modem who it is and how strong its signal is"),
        )
    }

    fn use_tooltip(&self) -> String {
        if self.target && self.permission.usable() {
            return gettext("/dev/modem already points to this port");
        }
        action_tooltip(
            self.permission,
            &text::fill(
                &gettext("Point /dev/modem at {port}"),
                &[("port", &self.path)],
            ),
        )
    }
}

/// The rows, in the daemon's order.
pub fn ports_of(
    manager: &ManagerInfo,
    queries: &HashMap<String, Query>,
    linking: Option<&str>,
    link_error: Option<&(String, Explained)>,
    permission: Permission,
) -> Vec<PortView> {
    manager
        .serial_ports
        .iter()
        .map(|p| PortView {
            path: p.path.clone(),
            title: port_title(p),
            subtitle: port_subtitle(p),
            by_id: by_id_name(p),
            usb: usb_ids(p).is_some(),
            busy: busy_text(p),
            target: is_target(p, &manager.modem_link),
            query: queries.get(&p.path).cloned(),
            linking: linking == Some(p.path.as_str()),
            linking_other: linking.is_some_and(|l| l != p.path),
            link_error: link_error
                .filter(|(path, _)| *path == p.path)
                .map(|(_, e)| e.clone()),
            permission,
        })
        .collect()
}

/// What a row's buttons ask.
#[derive(Debug)]
pub enum PortOutput {
    /// Query Modem.
    Query(String),
    /// Use as /dev/modem.
    Use(String),
}

/// A port's row.
#[derive(Debug)]
pub struct PortRow {
    view: PortView,
}

impl crate::rows::ViewRow for PortRow {
    type View = PortView;
    fn view(&self) -> &PortView {
        &self.view
    }
    fn set_view(&mut self, view: PortView) {
        self.view = view;
    }
    fn key(view: &PortView) -> &str {
        &view.path
    }
}

/// The row's widgets.
#[derive(Debug)]
pub struct PortWidgets {
    row: gtk::ListBoxRow,
    icon: gtk::Image,
    title: gtk::Label,
    badge: gtk::Box,
    subtitle: gtk::Label,
    by_id: gtk::Label,
    busy: gtk::Box,
    busy_label: gtk::Label,
    spinner: gtk::Spinner,
    query: gtk::Button,
    query_lock: gtk::Image,
    use_button: gtk::Button,
    use_lock: gtk::Image,
    revealer: gtk::Revealer,
    answers: gtk::Box,
    shown: Option<Query>,
    link_error: gtk::Box,
    link_shown: Option<Explained>,
}

/// A button with a lock icon (shown when polkit will ask) and a label.
fn lock_button(label: &str) -> (gtk::Button, gtk::Image) {
    let lock = gtk::Image::from_icon_name("changes-prevent-symbolic");
    let text = gtk::Label::with_mnemonic(label);
    let content = gtk::Box::new(gtk::Orientation::Horizontal, 6);
    content.set_halign(gtk::Align::Center);
    content.append(&lock);
    content.append(&text);
    let button = gtk::Button::new();
    button.set_child(Some(&content));
    button.set_valign(gtk::Align::Center);
    text.set_mnemonic_widget(Some(&button));
    (button, lock)
}

/// A label for an answer or an explanation.
fn text_label(text: &str, classes: &[&str]) -> gtk::Label {
    let l = gtk::Label::new(Some(text));
    l.set_xalign(0.0);
    l.set_yalign(0.0);
    l.set_wrap(true);
    l.set_wrap_mode(gtk::pango::WrapMode::WordChar);
    l.set_selectable(true);
    l.set_hexpand(true);
    for c in classes {
        l.add_css_class(c);
    }
    l
}

/// A warning icon and an explanation.
fn failure_line(why: &Explained) -> gtk::Box {
    let line = gtk::Box::new(gtk::Orientation::Horizontal, 8);
    let icon = gtk::Image::from_icon_name("dialog-warning-symbolic");
    icon.add_css_class("error");
    icon.set_valign(gtk::Align::Start);
    let words = gtk::Box::new(gtk::Orientation::Vertical, 2);
    words.append(&text_label(&why.summary, &["error"]));
    if !why.hint.is_empty() {
        words.append(&text_label(&why.hint, &["dim-label"]));
    }
    line.append(&icon);
    line.append(&words);
    line
}

/// Fills the answers box for a query result.
fn show_query(answers: &gtk::Box, query: &Query) {
    while let Some(child) = answers.first_child() {
        answers.remove(&child);
    }
    match query {
        Query::Running => {}
        Query::Answered(fields) if fields.is_empty() => {
            answers.append(&text_label(
                &gettext("The modem answered, but told nothing about itself."),
                &["dim-label"],
            ));
        }
        Query::Answered(fields) => {
            let grid = gtk::Grid::new();
            grid.set_column_spacing(18);
            grid.set_row_spacing(6);
            for (row, (field, value)) in fields.iter().enumerate() {
                let name = gtk::Label::new(Some(&field.label()));
                name.set_xalign(0.0);
                name.set_yalign(0.0);
                name.add_css_class("dim-label");
                let value_label = text_label(value, &[]);
                if matches!(field, Field::Identity | Field::Information) && value.contains('\n') {
                    value_label.add_css_class("monospace");
                }
                value_label.set_a11y_label(&field.label());
                grid.attach(&name, 0, row as i32, 1, 1);
                grid.attach(&value_label, 1, row as i32, 1, 1);
            }
            answers.append(&grid);
        }
        Query::Failed(why) => answers.append(&failure_line(why)),
    }
}

impl FactoryComponent for PortRow {
    type ParentWidget = gtk::ListBox;
    type CommandOutput = ();
    type Input = ();
    type Output = PortOutput;
    type Init = PortView;
    type Root = gtk::ListBoxRow;
    type Widgets = PortWidgets;
    type Index = DynamicIndex;

    fn init_model(view: PortView, _index: &DynamicIndex, _sender: FactorySender<Self>) -> Self {
        PortRow { view }
    }

    fn init_root(&self) -> gtk::ListBoxRow {
        let row = gtk::ListBoxRow::new();
        row.set_activatable(false);
        row.set_selectable(false);
        row
    }

    fn init_widgets(
        &mut self,
        _index: &DynamicIndex,
        root: gtk::ListBoxRow,
        _returned: &<gtk::ListBox as FactoryView>::ReturnedWidget,
        sender: FactorySender<Self>,
    ) -> PortWidgets {
        let outer = gtk::Box::new(gtk::Orientation::Vertical, 0);
        outer.set_margin_top(12);
        outer.set_margin_bottom(12);
        outer.set_margin_start(12);
        outer.set_margin_end(12);

        let head = gtk::Box::new(gtk::Orientation::Horizontal, 12);
        let icon = gtk::Image::new();
        icon.set_pixel_size(24);
        icon.set_valign(gtk::Align::Center);
        head.append(&icon);

        let words = gtk::Box::new(gtk::Orientation::Vertical, 3);
        words.set_hexpand(true);
        words.set_valign(gtk::Align::Center);
        let title_line = gtk::Box::new(gtk::Orientation::Horizontal, 8);
        let title = gtk::Label::new(None);
        title.set_xalign(0.0);
        title.set_wrap(true);
        title.set_wrap_mode(gtk::pango::WrapMode::WordChar);
        title.add_css_class("heading");
        let badge = gtk::Box::new(gtk::Orientation::Horizontal, 4);
        badge.add_css_class("dialtone-badge");
        badge.set_valign(gtk::Align::Center);
        badge.append(&gtk::Image::from_icon_name("object-select-symbolic"));
        badge.append(&gtk::Label::new(Some("/dev/modem")));
        badge.set_tooltip_text(Some(&gettext("/dev/modem points to this port")));
        title_line.append(&title);
        title_line.append(&badge);
        words.append(&title_line);

        let subtitle = gtk::Label::new(None);
        subtitle.set_xalign(0.0);
        subtitle.set_wrap(true);
        subtitle.set_selectable(true);
        subtitle.add_css_class("caption");
        subtitle.add_css_class("dim-label");
        words.append(&subtitle);
        let by_id = gtk::Label::new(None);
        by_id.set_xalign(0.0);
        by_id.set_ellipsize(gtk::pango::EllipsizeMode::Middle);
        by_id.set_selectable(true);
        by_id.add_css_class("caption");
        by_id.add_css_class("dim-label");
        words.append(&by_id);

        let busy = gtk::Box::new(gtk::Orientation::Horizontal, 6);
        let busy_icon = gtk::Image::from_icon_name("dialog-warning-symbolic");
        let busy_label = gtk::Label::new(None);
        busy_label.set_xalign(0.0);
        busy_label.set_wrap(true);
        busy_label.add_css_class("caption");
        busy.add_css_class("warning");
        busy.append(&busy_icon);
        busy.append(&busy_label);
        words.append(&busy);
        head.append(&words);

        outer.append(&head);

        // The buttons under the words, at the end: the names stay whole.
        let spinner = gtk::Spinner::new();
        spinner.set_valign(gtk::Align::Center);
        spinner.set_a11y_label(&gettext("Working"));
        let (query, query_lock) = lock_button(&gettext("_Query Modem"));
        let (use_button, use_lock) = lock_button(&gettext("_Use as /dev/modem"));
        let buttons = gtk::Box::new(gtk::Orientation::Horizontal, 6);
        buttons.set_halign(gtk::Align::End);
        buttons.set_margin_top(10);
        buttons.append(&spinner);
        buttons.append(&query);
        buttons.append(&use_button);
        outer.append(&buttons);

        {
            let sender = sender.clone();
            let path = self.view.path.clone();
            query.connect_clicked(move |_| {
                if sender.output(PortOutput::Query(path.clone())).is_err() {
                    tracing::warn!("the modem dialog is gone; a click was lost");
                }
            });
        }
        {
            let path = self.view.path.clone();
            use_button.connect_clicked(move |_| {
                if sender.output(PortOutput::Use(path.clone())).is_err() {
                    tracing::warn!("the modem dialog is gone; a click was lost");
                }
            });
        }

        let answers = gtk::Box::new(gtk::Orientation::Vertical, 6);
        answers.set_margin_top(12);
        // Under the text, past the icon.
        answers.set_margin_start(36);
        let revealer = gtk::Revealer::new();
        revealer.set_transition_type(gtk::RevealerTransitionType::SlideDown);
        revealer.set_child(Some(&answers));
        outer.append(&revealer);
        let link_error = gtk::Box::new(gtk::Orientation::Vertical, 0);
        link_error.set_margin_top(12);
        link_error.set_margin_start(36);
        link_error.set_visible(false);
        outer.append(&link_error);
        root.set_child(Some(&outer));

        let mut widgets = PortWidgets {
            row: root,
            icon,
            title,
            badge,
            subtitle,
            by_id,
            busy,
            busy_label,
            spinner,
            query,
            query_lock,
            use_button,
            use_lock,
            revealer,
            answers,
            shown: None,
            link_error,
            link_shown: None,
        };
        self.show(&mut widgets);
        widgets
    }

    fn update_view(&self, widgets: &mut PortWidgets, _sender: FactorySender<Self>) {
        self.show(widgets);
    }
}

impl PortRow {
    fn show(&self, w: &mut PortWidgets) {
        let v = &self.view;
        let root = &w.row;
        w.icon.set_icon_name(Some("modem-symbolic"));
        if v.target {
            w.icon.add_css_class("accent");
        } else {
            w.icon.remove_css_class("accent");
        }
        w.title.set_label(&v.title);
        w.subtitle.set_label(&v.subtitle);
        w.by_id.set_visible(v.by_id.is_some());
        w.by_id.set_label(v.by_id.as_deref().unwrap_or_default());
        w.by_id.set_tooltip_text(
            v.by_id
                .as_ref()
                .map(|n| format!("/dev/serial/by-id/{n}"))
                .as_deref(),
        );
        w.badge.set_visible(v.target);
        w.busy.set_visible(v.busy.is_some());
        w.busy_label
            .set_label(v.busy.as_deref().unwrap_or_default());
        let working = v.querying() || v.linking;
        w.spinner.set_visible(working);
        w.spinner.set_spinning(working);

        let usable = v.permission.usable();
        let locked = v.permission == Permission::Auth;
        w.query.set_sensitive(usable && !v.querying());
        w.query_lock.set_visible(locked);
        w.query.set_tooltip_text(Some(&v.query_tooltip()));
        w.query.set_a11y_label(&v.query_label());
        w.use_button
            .set_sensitive(usable && !v.target && !v.linking && !v.linking_other);
        w.use_lock.set_visible(locked && !v.target);
        w.use_button.set_tooltip_text(Some(&v.use_tooltip()));
        w.use_button.set_a11y_label(&v.use_label());

        root.set_a11y_label(&v.title);
        let mut description = v.subtitle.clone();
        if let Some(n) = &v.by_id {
            description.push_str(" · ");
            description.push_str(n);
        }
        if v.target {
            description.push_str(". ");
            description.push_str(&gettext("/dev/modem points to this port"));
        }
        if let Some(b) = &v.busy {
            description.push_str(". ");
            description.push_str(b);
        }
        root.set_a11y_description(&description);

        if w.shown != v.query {
            match &v.query {
                None | Some(Query::Running) => w.revealer.set_reveal_child(false),
                Some(q) => {
                    show_query(&w.answers, q);
                    w.revealer.set_reveal_child(true);
                }
            }
            w.shown = v.query.clone();
        }
        if w.link_shown != v.link_error {
            while let Some(child) = w.link_error.first_child() {
                w.link_error.remove(&child);
            }
            if let Some(why) = &v.link_error {
                w.link_error.append(&failure_line(why));
            }
            w.link_error.set_visible(v.link_error.is_some());
            w.link_shown = v.link_error.clone();
        }
    }
}

// ---- the dialog ----

/// The dialog's model.
pub struct Modem {
    calls: Calls,
    manager: ManagerInfo,
    permission: Permission,
    queries: HashMap<String, Query>,
    linking: Option<String>,
    link_error: Option<(String, Explained)>,
    rows: FactoryVecDeque<PortRow>,
    toasts: adw::ToastOverlay,
    window: adw::Window,
}

impl Modem {
    fn link_text(&self) -> (String, String) {
        modem_link_text(&self.manager)
    }

    fn sync_rows(&mut self) {
        let views = ports_of(
            &self.manager,
            &self.queries,
            self.linking.as_deref(),
            self.link_error.as_ref(),
            self.permission,
        );
        crate::rows::sync_rows(&mut self.rows, views);
    }

    fn toast(&self, message: &str) {
        let toast = adw::Toast::new(message);
        toast.set_timeout(6);
        self.toasts.add_toast(toast);
    }

    fn called(&self, sender: &ComponentSender<Self>) {
        if sender.output(ModemOutput::Called).is_err() {
            tracing::debug!("nobody listens to the modem dialog");
        }
    }
}

/// Styles of this dialog (the /dev/modem badge), added once.
fn add_styles() {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Some(display) = gtk::gdk::Display::default() else {
            return;
        };
        let provider = gtk::CssProvider::new();
        provider.load_from_data(
            ".dialtone-badge { padding: 2px 8px; border-radius: 999px; \
             background-color: alpha(@accent_bg_color, 0.15); color: @accent_color; \
             font-weight: bold; font-size: smaller; }",
        );
        #[allow(deprecated)]
        gtk::style_context_add_provider_for_display(
            &display,
            &provider,
            gtk::STYLE_PROVIDER_PRIORITY_APPLICATION,
        );
    });
}

#[relm4::component(pub)]
impl Component for Modem {
    type Init = ModemInit;
    type Input = ModemInput;
    type Output = ModemOutput;
    type CommandOutput = ModemCmd;

    view! {
        #[root]
        window = adw::Window {
            set_title: Some(&gettext("Modems and Serial Ports")),
            set_modal: true,
            set_default_size: (640, 700),
            set_width_request: 360,
            set_height_request: 360,

            connect_close_request[sender] => move |_| {
                if sender.output(ModemOutput::Closed).is_err() {
                    tracing::debug!("nobody listens to the modem dialog");
                }
                gtk::glib::Propagation::Proceed
            },

            gtk::Box {
                set_orientation: gtk::Orientation::Vertical,

                adw::HeaderBar {
                    #[wrap(Some)]
                    set_title_widget = &adw::WindowTitle {
                        set_title: &gettext("Modems and Serial Ports"),
                    },
                },

                #[local_ref]
                toasts -> adw::ToastOverlay {
                    set_vexpand: true,

                    gtk::Stack {
                        set_transition_type: gtk::StackTransitionType::Crossfade,

                        add_named[Some("empty")] = &adw::StatusPage {
                            set_icon_name: Some("modem-symbolic"),
                            set_title: &gettext("No Serial Ports"),
                            set_description: Some(&gettext(
                                "Plug in a USB modem or serial adapter: it shows here at once. \
                                 If it does not, “sudo dmesg” tells whether the system found it \
                                 and which driver took it.",
                            )),
                        },

                        add_named[Some("ports")] = &gtk::ScrolledWindow {
                            set_hscrollbar_policy: gtk::PolicyType::Never,

                            adw::Clamp {
                                set_maximum_size: 760,
                                set_margin_top: 24,
                                set_margin_bottom: 24,
                                set_margin_start: 12,
                                set_margin_end: 12,

                                gtk::Box {
                                    set_orientation: gtk::Orientation::Vertical,
                                    set_spacing: 24,

                                    gtk::ListBox {
                                        set_selection_mode: gtk::SelectionMode::None,
                                        add_css_class: "boxed-list",
                                        set_a11y_label: &gettext("/dev/modem"),

                                        #[name = "link_row"]
                                        adw::ActionRow {
                                            set_activatable: false,
                                            #[watch]
                                            set_title: &model.link_text().0,
                                            #[watch]
                                            set_subtitle: &model.link_text().1,
                                            #[watch]
                                            set_a11y_label: &model.link_text().0,
                                            add_prefix = &gtk::Image {
                                                #[watch]
                                                set_icon_name: Some(if model.manager.modem_link.is_empty() {
                                                    "dialog-question-symbolic"
                                                } else {
                                                    "object-select-symbolic"
                                                }),
                                                set_pixel_size: 24,
                                                #[watch]
                                                set_css_classes: if model.manager.modem_link.is_empty() { &["dim-label"] } else { &["accent"] },
                                            },
                                        },
                                    },

                                    adw::PreferencesGroup {
                                        set_title: &gettext("Serial Ports"),
                                        set_description: Some(&gettext(
                                            "Asking a modem sends it a few AT commands; no port is touched otherwise.",
                                        )),

                                        #[local_ref]
                                        port_list -> gtk::ListBox {
                                            set_selection_mode: gtk::SelectionMode::None,
                                            add_css_class: "boxed-list",
                                            set_a11y_label: &gettext("Serial ports"),
                                        },
                                    },

                                    gtk::Label {
                                        #[watch]
                                        set_visible: model.permission == Permission::No,
                                        set_label: &gettext("You may look at the ports, but not query modems or change /dev/modem: the system’s policy does not allow your account to. An administrator can allow it."),
                                        set_wrap: true,
                                        set_xalign: 0.0,
                                        add_css_class: "dim-label",
                                    },
                                },
                            },
                        },

                        #[watch]
                        set_visible_child_name: if model.manager.serial_ports.is_empty() { "empty" } else { "ports" },
                    },
                },
            },
        }
    }

    fn init(
        init: Self::Init,
        root: Self::Root,
        sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        add_styles();
        let port_list = gtk::ListBox::new();
        let rows = FactoryVecDeque::builder()
            .launch(port_list.clone())
            .forward(sender.input_sender(), |out| match out {
                PortOutput::Query(p) => ModemInput::Query(p),
                PortOutput::Use(p) => ModemInput::Use(p),
            });
        let toasts = adw::ToastOverlay::new();
        let mut model = Modem {
            calls: init.calls,
            manager: init.manager,
            permission: init.permission,
            queries: HashMap::new(),
            linking: None,
            link_error: None,
            rows,
            toasts: toasts.clone(),
            window: root.clone(),
        };
        model.sync_rows();
        let widgets = view_output!();
        widgets.link_row.set_title_selectable(true);

        let s = sender.clone();
        crate::log::add_shortcuts(&root, &["Escape", "<Control>w"], move || {
            s.input(ModemInput::Close)
        });
        // After relm4 made it transient for the main window.
        let w = root.clone();
        gtk::glib::idle_add_local_once(move || w.present());
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Self::Input, sender: ComponentSender<Self>, _root: &Self::Root) {
        match msg {
            ModemInput::Manager(m) => {
                if m.modem_link != self.manager.modem_link {
                    self.link_error = None;
                }
                self.manager = m;
                // Queries of ports that went away are forgotten.
                let paths: Vec<String> = self
                    .manager
                    .serial_ports
                    .iter()
                    .map(|p| p.path.clone())
                    .collect();
                self.queries
                    .retain(|path, q| paths.contains(path) || *q == Query::Running);
            }
            ModemInput::Permission(p) => self.permission = p,
            ModemInput::Calls(c) => self.calls = c,
            ModemInput::Query(path) => {
                if self.queries.get(&path) == Some(&Query::Running) || !self.permission.usable() {
                    return;
                }
                self.queries.insert(path.clone(), Query::Running);
                let calls = self.calls.clone();
                sender.oneshot_command(async move {
                    let result = calls.query_modem(&path).await;
                    ModemCmd::Queried(path, result)
                });
            }
            ModemInput::Use(path) => {
                if self.linking.is_some() || !self.permission.usable() {
                    return;
                }
                self.linking = Some(path.clone());
                self.link_error = None;
                let calls = self.calls.clone();
                sender.oneshot_command(async move {
                    let result = calls.set_modem_link(&path).await;
                    ModemCmd::Linked(path, result)
                });
            }
            ModemInput::Close => self.window.close(),
        }
        self.sync_rows();
    }

    fn update_cmd(
        &mut self,
        msg: Self::CommandOutput,
        sender: ComponentSender<Self>,
        _root: &Self::Root,
    ) {
        match msg {
            ModemCmd::Queried(path, result) => {
                let query = match result {
                    Ok(pairs) => Query::Answered(answers_of(&pairs)),
                    Err(e) => {
                        let port = self.manager.serial_ports.iter().find(|p| p.path == path);
                        Query::Failed(query_failure(&e, port))
                    }
                };
                self.queries.insert(path, query);
            }
            ModemCmd::Linked(path, result) => {
                self.linking = None;
                // Success shows when the daemon's ModemLink changes.
                if let Err(e) = result {
                    let why = link_failure(&e, &path);
                    self.toast(&why.summary);
                    self.link_error = Some((path, why));
                }
            }
        }
        self.called(&sender);
        self.sync_rows();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftdi() -> PortInfo {
        PortInfo {
            path: "/dev/ttyUSB0".into(),
            by_id: "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0".into(),
            by_path: "/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0".into(),
            driver: "ftdi_sio".into(),
            description: "FTDI FT232R USB UART (ttyUSB0)".into(),
            manufacturer: "FTDI".into(),
            vendor_id: 0x0403,
            product_id: 0x6001,
            product: "FT232R USB UART".into(),
            serial: "A50285BI".into(),
            ..PortInfo::default()
        }
    }

    fn builtin() -> PortInfo {
        PortInfo {
            path: "/dev/ttyS0".into(),
            driver: "serial8250".into(),
            ..PortInfo::default()
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(c, a)| (c.to_string(), a.to_string()))
            .collect()
    }

    #[test]
    fn csq_in_dbm_per_27_007() {
        use std::cmp::Ordering::*;
        assert_eq!(rssi_dbm(0), Some((-113, Less)));
        assert_eq!(rssi_dbm(1), Some((-111, Equal)));
        assert_eq!(rssi_dbm(2), Some((-109, Equal)));
        assert_eq!(rssi_dbm(20), Some((-73, Equal)));
        assert_eq!(rssi_dbm(30), Some((-53, Equal)));
        assert_eq!(rssi_dbm(31), Some((-51, Greater)));
        assert_eq!(rssi_dbm(32), None);
        assert_eq!(rssi_dbm(99), None);
    }

    #[test]
    fn csq_answers_in_words() {
        assert_eq!(
            signal_text("+CSQ: 20,99").as_deref(),
            Some("-73 dBm (good)")
        );
        assert_eq!(signal_text("20,99").as_deref(), Some("-73 dBm (good)"));
        assert_eq!(
            signal_text("\n+csq: 0,0\n").as_deref(),
            Some("-113 dBm or less (poor)")
        );
        assert_eq!(
            signal_text("+CSQ: 31,99").as_deref(),
            Some("-51 dBm or more (excellent)")
        );
        assert_eq!(signal_text("+CSQ: 10,3").as_deref(), Some("-93 dBm (fair)"));
        assert_eq!(
            signal_text("+CSQ: 99,99").as_deref(),
            Some("Unknown (no signal measured)")
        );
        assert_eq!(signal_text("+CSQ: 45,99"), None, "out of range");
        assert_eq!(signal_text("OK"), None);
        assert_eq!(signal_text(""), None);
    }

    #[test]
    fn answers_by_field_in_order() {
        let a = answers_of(&pairs(&[
            ("ATI", "5601\n"),
            ("ATI3", "U.S. Robotics 56K FAX EXT V5.x\n\nRev 1"),
            ("AT+GMI", "+GMI: U.S. Robotics"),
            ("AT+GMM", "56K FAX EXT"),
            ("AT+GMR", ""),
            ("AT+CSQ", "+CSQ: 20,99"),
            ("AT+XYZ", "something"),
        ]));
        assert_eq!(
            a,
            vec![
                (Field::Manufacturer, "U.S. Robotics".to_string()),
                (Field::Model, "56K FAX EXT".to_string()),
                (Field::Signal, "-73 dBm (good)".to_string()),
                (Field::Identity, "5601".to_string()),
                (
                    Field::Information,
                    "U.S. Robotics 56K FAX EXT V5.x\nRev 1".to_string()
                ),
            ]
        );
        // A CSQ answer that cannot be decoded is shown as it came.
        let a = answers_of(&pairs(&[("AT+CSQ", "+CSQ: banana")]));
        assert_eq!(a, vec![(Field::Signal, "+CSQ: banana".to_string())]);
        assert!(answers_of(&[]).is_empty());
    }

    #[test]
    fn ports_by_their_friendly_names() {
        let p = ftdi();
        assert_eq!(port_title(&p), "FTDI FT232R USB UART (ttyUSB0)");
        assert_eq!(short_title(&p), "FTDI FT232R USB UART");
        assert_eq!(port_subtitle(&p), "/dev/ttyUSB0 · ftdi_sio · USB 0403:6001");
        assert_eq!(
            by_id_name(&p).as_deref(),
            Some("usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0")
        );
        assert_eq!(by_id_name(&builtin()), None);
        let s = builtin();
        assert_eq!(port_title(&s), "ttyS0", "no description: the device");
        assert_eq!(short_title(&s), "ttyS0");
        assert_eq!(port_subtitle(&s), "/dev/ttyS0 · serial8250");
        assert_eq!(usb_ids(&s), None);
        let mut product_only = builtin();
        product_only.product = "Acme Modem".into();
        assert_eq!(port_title(&product_only), "Acme Modem");
    }

    #[test]
    fn busy_ports_say_who_holds_them() {
        let mut p = ftdi();
        assert_eq!(busy_text(&p), None);
        p.busy_pid = 4242;
        assert_eq!(busy_text(&p).as_deref(), Some("In use (PID 4242)"));
        p.busy_program = "minicom".into();
        assert_eq!(
            busy_text(&p).as_deref(),
            Some("In use by minicom (PID 4242)")
        );
    }

    #[test]
    fn where_dev_modem_points() {
        let mut m = ManagerInfo::default();
        assert_eq!(modem_link_text(&m).0, "/dev/modem is not set");
        let mut p = ftdi();
        p.modem_link = true;
        m.serial_ports = vec![builtin(), p];
        m.modem_link = "/dev/ttyUSB0".into();
        assert_eq!(
            modem_link_text(&m).0,
            "/dev/modem points to /dev/ttyUSB0 — FTDI FT232R USB UART"
        );
        // Pointed at the by-id name, without the daemon's flag.
        m.serial_ports[1].modem_link = false;
        m.modem_link = m.serial_ports[1].by_id.clone();
        assert!(modem_link_text(&m).0.ends_with("— FTDI FT232R USB UART"));
        // A port without a name is not named twice.
        m.modem_link = "/dev/ttyS0".into();
        assert_eq!(modem_link_text(&m).0, "/dev/modem points to /dev/ttyS0");
        // A target that is not plugged in.
        m.modem_link = "/dev/ttyACM3".into();
        let (sentence, hint) = modem_link_text(&m);
        assert_eq!(sentence, "/dev/modem points to /dev/ttyACM3");
        assert!(hint.contains("not connected"));
    }

    #[test]
    fn rows_mark_the_target_and_carry_queries() {
        let mut m = ManagerInfo::default();
        let mut p = ftdi();
        p.busy_pid = 7;
        p.busy_program = "screen".into();
        m.serial_ports = vec![builtin(), p];
        m.modem_link = "/dev/ttyUSB0".into();
        let queries = HashMap::from([("/dev/ttyS0".to_string(), Query::Running)]);
        let failed = (
            "/dev/ttyUSB0".to_string(),
            link_failure(&CallError::Failed("no".into()), "/dev/ttyUSB0"),
        );
        let rows = ports_of(
            &m,
            &queries,
            Some("/dev/ttyS0"),
            Some(&failed),
            Permission::Auth,
        );
        assert!(rows[0].link_error.is_none());
        assert_eq!(
            rows[1].link_error.as_ref().map(|e| e.summary.as_str()),
            Some("Cannot point /dev/modem at /dev/ttyUSB0")
        );
        assert_eq!(rows.len(), 2);
        assert!(!rows[0].target && rows[1].target);
        assert!(!rows[0].usb && rows[1].usb);
        assert_eq!(rows[0].query, Some(Query::Running));
        assert_eq!(rows[1].query, None);
        assert!(rows[0].linking && !rows[0].linking_other);
        assert!(!rows[1].linking && rows[1].linking_other);
        assert_eq!(rows[1].busy.as_deref(), Some("In use by screen (PID 7)"));
        assert_eq!(rows[1].query_label(), "Query modem on /dev/ttyUSB0");
        assert_eq!(rows[1].use_label(), "Use /dev/ttyUSB0 as /dev/modem");
        assert_eq!(
            rows[0].query_tooltip(),
            "An administrator password is needed"
        );
        let rows = ports_of(&m, &queries, None, None, Permission::No);
        assert_eq!(
            rows[0].use_tooltip(),
            "Only administrators can change modems"
        );
        let rows = ports_of(&m, &queries, None, None, Permission::Yes);
        assert_eq!(
            rows[1].use_tooltip(),
            "/dev/modem already points to this port"
        );
        assert_eq!(rows[0].use_tooltip(), "Point /dev/modem at /dev/ttyS0");
    }

    #[test]
    fn query_errors_in_plain_words() {
        let mut p = ftdi();
        p.busy_pid = 4242;
        p.busy_program = "minicom".into();
        let busy = CallError::Busy("/dev/ttyUSB0 is in use by minicom".into());
        assert_eq!(
            query_failure(&busy, Some(&p)).summary,
            "The port is in use by minicom (PID 4242)."
        );
        let e = query_failure(&busy, None);
        assert_eq!(
            e.summary,
            "The port is in use by another program or a connection."
        );
        assert!(e.hint.contains("/dev/ttyUSB0 is in use by minicom"));
        let silent = CallError::Failed(
            "nothing answered AT on /dev/ttyS0 within 2 s: is a modem connected and switched on?"
                .into(),
        );
        assert_eq!(
            query_failure(&silent, None).summary,
            "The modem does not answer."
        );
        let gone = CallError::DeviceUnavailable("cannot open /dev/ttyUSB0: No such device".into());
        let e = query_failure(&gone, None);
        assert_eq!(e.summary, "The port could not be opened.");
        assert!(e.hint.ends_with("No such device"));
        assert_eq!(
            query_failure(&CallError::NotAuthorized("no".into()), None).summary,
            "You are not allowed to talk to modems."
        );
        let e = link_failure(&CallError::NotAuthorized("x".into()), "/dev/ttyS0");
        assert_eq!(e.summary, "Cannot point /dev/modem at /dev/ttyS0");
        assert_eq!(
            e.hint,
            "You are not allowed to change /dev/modem; an administrator can allow it."
        );
        let e = link_failure(
            &CallError::Failed("cannot create /dev/modem: Read-only file system".into()),
            "/dev/ttyS0",
        );
        assert_eq!(e.hint, "cannot create /dev/modem: Read-only file system");
    }
}
