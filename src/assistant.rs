//! The new-connection dialog: one page asking only what a first-time user
//! knows (a name, the serial port, the number, the user name and the
//! password); everything else takes the profile's defaults and can be
//! changed later in the editor.
//!
//! # Interface
//!
//! ```text
//! Assistant::builder()
//!     .transient_for(&main_window)
//!     .launch(AssistantInit { ports, modem_link, calls, permission })
//!     .forward(sender.input_sender(), |out| match out { … });
//! ```
//!
//! * [`AssistantInit`] `{ ports: Vec<PortInfo>, modem_link: String, calls: Calls, permission: Permission }`:
//!   the daemon's serial ports (`Manager.SerialPorts`), where `/dev/modem`
//!   points (`Manager.ModemLink`, empty if nowhere), the calls to make and
//!   the `modify` permission. The device starts as `/dev/modem` when that
//!   link exists, else the first port.
//! * [`AssistantInput`], from the parent:
//!   * `Ports(Vec<PortInfo>, String)`: the ports or the `/dev/modem`
//!     link changed (what the user typed is kept).
//!   * `Permission(Permission)`: the `modify` permission changed. With
//!     `Auth` the Create button shows a lock and the dialog says a password
//!     will be asked for; with `No` Create is off (the parent should not
//!     offer the dialog then).
//!
//!   The other variants are the dialog's own (its widgets send them).
//! * [`AssistantOutput`]:
//!   * `Created(path)`: the profile exists at `path` (with its password,
//!     if one was typed, unless saving it failed and the user closed the
//!     dialog anyway); the dialog has closed.
//!   * `Cancelled`: closed without creating anything.
//!
//!   After either, the parent drops the controller.
//!
//! Create calls `AddProfile`, then `SetSecrets` if a password was typed,
//! and closes only then. A refusal naming a setting (`line.device: …`) is
//! shown at its field; other failures at the top. If the password cannot
//! be saved after the profile was added, the dialog says so and offers to
//! save the password alone again.
//!
//! The pure logic is in [`AssistantForm`], [`AssistantCore`] and
//! [`port_choices`], tested without GTK.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use adw::prelude::*;
use dialtone_api::dbus::PortInfo;
use dialtone_api::profile::{Carrier, FlowControl, Modem, Profile};
use dialtone_api::settings::to_settings;
use gettextrs::gettext;
use relm4::gtk;
use relm4::{Component, ComponentParts, ComponentSender};

use crate::daemon::{CallError, Calls, Permission};
use crate::editor::{call_problem, ui};
use crate::text::fill;

// ---------------------------------------------------------------------------
// The form and its steps, without GTK.
// ---------------------------------------------------------------------------

/// The dialog's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// The connection's name.
    Name,
    /// The serial device.
    Device,
    /// The phone number.
    Number,
    /// The user name.
    User,
    /// The password.
    Password,
}

impl Field {
    /// The field showing a setting the daemon refused (`modem.numbers[0]`),
    /// if the dialog has it.
    pub fn for_key(path: &str) -> Option<Field> {
        let base = path.split(['[', ']']).next().unwrap_or(path);
        match base {
            "name" => Some(Field::Name),
            "line.device" => Some(Field::Device),
            "modem.numbers" => Some(Field::Number),
            "user" => Some(Field::User),
            "password" => Some(Field::Password),
            _ => None,
        }
    }
}

/// What the user typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssistantForm {
    /// The connection's name.
    pub name: String,
    /// The serial device (`/dev/ttyUSB0`).
    pub device: String,
    /// A direct serial cable: no modem, nothing to dial.
    pub direct: bool,
    /// The number to dial.
    pub number: String,
    /// The user name.
    pub user: String,
    /// The password (saved apart, with `SetSecrets`).
    pub password: String,
}

impl AssistantForm {
    /// The profile to add: the defaults, with what was typed. A direct
    /// line has no modem, ignores the control lines and has no flow control
    /// (a three-wire null-modem cable has no RTS/CTS).
    pub fn to_profile(&self) -> Profile {
        let mut p = Profile::new(self.name.trim());
        p.line.device = self.device.trim().to_string();
        if self.direct {
            p.modem = None;
            p.line.carrier = Carrier::Local;
            p.line.flow_control = FlowControl::None;
        } else {
            p.modem = Some(Modem {
                numbers: vec![self.number.trim().to_string()],
                ..Modem::default()
            });
        }
        p.user = self.user.trim().to_string();
        p
    }

    /// What is obviously missing, before asking the daemon (which checks
    /// everything).
    pub fn check(&self) -> Vec<(Field, String)> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push((Field::Name, gettext("Give the connection a name")));
        }
        if self.device.trim().is_empty() {
            errors.push((
                Field::Device,
                gettext("Choose the serial port, or type its device such as /dev/ttyS0"),
            ));
        }
        if !self.direct && self.number.trim().is_empty() {
            errors.push((Field::Number, gettext("Type the number to dial")));
        }
        errors
    }
}

/// A serial port as the device list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortChoice {
    /// The device path the profile gets.
    pub path: String,
    /// The first line: what it is.
    pub title: String,
    /// The second line: its path, and who uses it.
    pub detail: String,
}

/// The choices of the device list: `/dev/modem` first when it is a link,
/// then every port, busy ones marked "in use by PROGRAM".
pub fn port_choices(ports: &[PortInfo], modem_link: &str) -> Vec<PortChoice> {
    let mut choices = Vec::new();
    if !modem_link.is_empty() {
        choices.push(PortChoice {
            path: "/dev/modem".into(),
            title: gettext("The modem"),
            detail: fill(
                &gettext("/dev/modem, which points to {target}"),
                &[("target", modem_link)],
            ),
        });
    }
    for port in ports {
        let title = if port.description.is_empty() {
            port.path.clone()
        } else {
            port.description.clone()
        };
        let mut detail = port.path.clone();
        if !port.busy_program.is_empty() {
            detail = format!(
                "{detail} · {}",
                fill(
                    &gettext("in use by {program}"),
                    &[("program", &port.busy_program)]
                )
            );
        } else if port.busy_pid != 0 {
            detail = format!("{detail} · {}", gettext("in use"));
        }
        choices.push(PortChoice {
            path: port.path.clone(),
            title,
            detail,
        });
    }
    choices
}

/// The device to start with: `/dev/modem` if it is a link, else the
/// first port, else nothing (the user types it).
pub fn default_device(ports: &[PortInfo], modem_link: &str) -> String {
    if !modem_link.is_empty() {
        "/dev/modem".into()
    } else {
        ports.first().map(|p| p.path.clone()).unwrap_or_default()
    }
}

/// The choice showing a device, if any.
pub fn choice_for(device: &str, choices: &[PortChoice]) -> Option<usize> {
    let device = device.trim();
    choices.iter().position(|c| c.path == device)
}

/// What the dialog is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the user.
    Editing,
    /// `AddProfile` is on its way.
    Adding,
    /// The profile was added at `path`; `SetSecrets` is on its way.
    SettingPassword {
        /// The new profile.
        path: String,
    },
    /// The profile was added at `path`, but its password was not saved.
    PasswordFailed {
        /// The new profile.
        path: String,
    },
    /// Closed (or about to).
    Done,
}

/// What the component must do after a step of [`AssistantCore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Call `AddProfile` with this profile's settings.
    Add(Box<Profile>),
    /// Call `SetSecrets` on the new profile.
    SetPassword {
        /// The profile.
        path: String,
        /// The password.
        password: String,
    },
    /// Focus this field (the first with an error).
    Focus(Field),
    /// Send this to the parent and close.
    Finish(AssistantOutput),
}

/// The dialog's state and its steps: messages in, effects out.
#[derive(Clone, Debug)]
pub struct AssistantCore {
    /// What was typed.
    pub form: AssistantForm,
    /// What is going on.
    pub phase: Phase,
    /// Messages at fields.
    pub errors: Vec<(Field, String)>,
    /// A failure not about one field: summary and details.
    pub top_error: Option<(String, String)>,
    /// Whether this user may add profiles.
    pub permission: Permission,
}

impl AssistantCore {
    /// A new dialog's state.
    pub fn new(device: String, permission: Permission) -> AssistantCore {
        AssistantCore {
            form: AssistantForm {
                device,
                ..AssistantForm::default()
            },
            phase: Phase::Editing,
            errors: Vec::new(),
            top_error: None,
            permission,
        }
    }

    /// Whether a call is on its way.
    pub fn is_busy(&self) -> bool {
        matches!(self.phase, Phase::Adding | Phase::SettingPassword { .. })
    }

    /// A field was typed in (its message goes).
    pub fn edit(&mut self, field: Field, text: String) {
        let slot = match field {
            Field::Name => &mut self.form.name,
            Field::Device => &mut self.form.device,
            Field::Number => &mut self.form.number,
            Field::User => &mut self.form.user,
            Field::Password => &mut self.form.password,
        };
        if *slot != text {
            *slot = text;
            self.errors.retain(|(f, _)| *f != field);
        }
    }

    /// The direct-cable switch moved.
    pub fn set_direct(&mut self, direct: bool) {
        self.form.direct = direct;
        if direct {
            self.errors.retain(|(f, _)| *f != Field::Number);
        }
    }

    /// Create (or, after the password failed, save the password again).
    pub fn create(&mut self) -> Vec<Effect> {
        if self.is_busy() || self.phase == Phase::Done {
            return Vec::new();
        }
        if !self.permission.usable() {
            self.top_error = Some((
                gettext("You are not allowed to add connections."),
                gettext("Ask an administrator."),
            ));
            return Vec::new();
        }
        if let Phase::PasswordFailed { path } = &self.phase {
            if self.form.password.is_empty() {
                self.errors.retain(|(f, _)| *f != Field::Password);
                self.errors
                    .push((Field::Password, gettext("Type the password")));
                return vec![Effect::Focus(Field::Password)];
            }
            let path = path.clone();
            self.phase = Phase::SettingPassword { path: path.clone() };
            return vec![Effect::SetPassword {
                path,
                password: self.form.password.clone(),
            }];
        }
        self.top_error = None;
        self.errors = self.form.check();
        if let Some((first, _)) = self.errors.first() {
            return vec![Effect::Focus(*first)];
        }
        self.phase = Phase::Adding;
        vec![Effect::Add(Box::new(self.form.to_profile()))]
    }

    /// `AddProfile` answered.
    pub fn added(&mut self, result: Result<String, CallError>) -> Vec<Effect> {
        if self.phase != Phase::Adding {
            return Vec::new();
        }
        match result {
            Ok(path) if self.form.password.is_empty() => {
                self.phase = Phase::Done;
                vec![Effect::Finish(AssistantOutput::Created(path))]
            }
            Ok(path) => {
                self.phase = Phase::SettingPassword { path: path.clone() };
                vec![Effect::SetPassword {
                    path,
                    password: self.form.password.clone(),
                }]
            }
            Err(e) => {
                self.phase = Phase::Editing;
                match at_field(&e) {
                    Some((field, message)) => {
                        self.errors.retain(|(f, _)| *f != field);
                        self.errors.push((field, message));
                        vec![Effect::Focus(field)]
                    }
                    None => {
                        self.top_error = Some(call_problem(&e));
                        Vec::new()
                    }
                }
            }
        }
    }

    /// `SetSecrets` answered.
    pub fn password_set(&mut self, result: Result<(), CallError>) -> Vec<Effect> {
        let Phase::SettingPassword { path } = &self.phase else {
            return Vec::new();
        };
        let path = path.clone();
        match result {
            Ok(()) => {
                self.phase = Phase::Done;
                vec![Effect::Finish(AssistantOutput::Created(path))]
            }
            Err(e) => {
                self.phase = Phase::PasswordFailed { path };
                let detail = match at_field(&e) {
                    Some((_, message)) => message,
                    None => {
                        let (summary, detail) = call_problem(&e);
                        format!("{summary} {detail}")
                    }
                };
                self.top_error = Some((
                    fill(
                        &gettext("“{name}” was created, but its password was not saved."),
                        &[("name", self.form.name.trim())],
                    ),
                    gettext(
                        "The connection exists without a password. Save the password again, or set it later in the connection’s settings.",
                    ),
                ));
                self.errors.retain(|(f, _)| *f != Field::Password);
                self.errors.push((Field::Password, detail));
                vec![Effect::Focus(Field::Password)]
            }
        }
    }

    /// Cancel, Close, Escape or the window's close button.
    pub fn close(&mut self) -> Vec<Effect> {
        if self.is_busy() || self.phase == Phase::Done {
            return Vec::new();
        }
        let output = match &self.phase {
            Phase::PasswordFailed { path } => AssistantOutput::Created(path.clone()),
            _ => AssistantOutput::Cancelled,
        };
        self.phase = Phase::Done;
        vec![Effect::Finish(output)]
    }
}

/// The field a refusal names, with the message without the key.
fn at_field(e: &CallError) -> Option<(Field, String)> {
    let CallError::InvalidArgument { message, .. } = e else {
        return None;
    };
    let (head, problem) = message.split_once(": ")?;
    Some((Field::for_key(head)?, problem.to_string()))
}

// ---------------------------------------------------------------------------
// The component.
// ---------------------------------------------------------------------------

/// What the dialog starts with.
#[derive(Clone, Debug)]
pub struct AssistantInit {
    /// The daemon's serial ports.
    pub ports: Vec<PortInfo>,
    /// Where `/dev/modem` points; empty if it is not a link.
    pub modem_link: String,
    /// The daemon's methods.
    pub calls: Calls,
    /// Whether this user may add profiles.
    pub permission: Permission,
}

/// The dialog's messages: the first two from the parent.
#[derive(Debug)]
pub enum AssistantInput {
    /// The ports or the `/dev/modem` link changed.
    Ports(Vec<PortInfo>, String),
    /// The `modify` permission changed.
    Permission(Permission),
    /// A field was typed in (the dialog's own).
    Edit(Field, String),
    /// A port was picked from the list (the dialog's own).
    PortPicked(u32),
    /// The direct-cable switch moved (the dialog's own).
    Direct(bool),
    /// Create was pressed (the dialog's own).
    Create,
    /// Closing was asked for (the dialog's own).
    Close,
}

/// What the dialog tells its parent; the dialog has closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssistantOutput {
    /// The new profile's path.
    Created(String),
    /// Nothing was created.
    Cancelled,
}

/// The answers of the daemon's calls.
#[derive(Debug)]
pub enum AssistantCommand {
    /// `AddProfile` answered.
    Added(Result<String, CallError>),
    /// `SetSecrets` answered.
    PasswordSet(Result<(), CallError>),
}

/// The new-connection dialog.
pub struct Assistant {
    core: AssistantCore,
    calls: Calls,
    ports: Vec<PortInfo>,
    modem_link: String,
    /// The device list's choices, read by its item factory.
    choices: Rc<RefCell<Vec<PortChoice>>>,
    /// Set while the dialog itself changes the device list, whose
    /// selection signals are then not the user's.
    quiet: Rc<Cell<bool>>,
    /// Whether the user typed a device (a new port list then keeps it).
    device_typed: bool,
    /// Set once the output was sent: the window may then close. Until
    /// then a close request goes to [`AssistantCore::close`].
    finished: Rc<Cell<bool>>,
}

/// A field's widgets.
struct FieldRow {
    row: gtk::Widget,
    error: ui::ErrorRow,
}

/// The dialog's widgets.
pub struct AssistantWidgets {
    cancel: ui::TextButton,
    create: ui::BusyButton,
    banner: ui::Banner,
    note: gtk::Box,
    note_label: gtk::Label,
    name: adw::EntryRow,
    device: adw::EntryRow,
    port: adw::ComboRow,
    ports_model: gtk::StringList,
    modem_group: adw::PreferencesGroup,
    direct_row: adw::ActionRow,
    number: adw::EntryRow,
    user: adw::EntryRow,
    password: adw::PasswordEntryRow,
    rows: Vec<(Field, FieldRow)>,
}

impl AssistantWidgets {
    fn focus(&self, field: Field) {
        let w: &gtk::Widget = match field {
            Field::Name => self.name.upcast_ref(),
            Field::Device => self.device.upcast_ref(),
            Field::Number => self.number.upcast_ref(),
            Field::User => self.user.upcast_ref(),
            Field::Password => self.password.upcast_ref(),
        };
        w.grab_focus();
        ui::scroll_to(w);
    }
}

/// An entry row; its title (without the underline) is also its name for
/// assistive technologies (libadwaita makes the title its label).
fn entry_row(title: &str) -> adw::EntryRow {
    let row = adw::EntryRow::new();
    row.set_title(title);
    row.set_use_underline(true);
    row.set_activates_default(true);
    row
}

impl Component for Assistant {
    type CommandOutput = AssistantCommand;
    type Input = AssistantInput;
    type Output = AssistantOutput;
    type Init = AssistantInit;
    type Root = adw::Window;
    type Widgets = AssistantWidgets;

    fn init_root() -> Self::Root {
        adw::Window::builder()
            .modal(true)
            .title(gettext("New Connection"))
            .default_width(500)
            .width_request(360)
            .build()
    }

    fn init(
        init: Self::Init,
        root: Self::Root,
        sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        ui::install_css();
        let device = default_device(&init.ports, &init.modem_link);
        let core = AssistantCore::new(device.clone(), init.permission);
        let choices = Rc::new(RefCell::new(port_choices(&init.ports, &init.modem_link)));
        let finished = Rc::new(Cell::new(false));
        let quiet = Rc::new(Cell::new(false));

        // Header: Cancel, the title, Create.
        let header = adw::HeaderBar::builder()
            .title_widget(&adw::WindowTitle::new(&gettext("New Connection"), ""))
            .show_end_title_buttons(false)
            .show_start_title_buttons(false)
            .build();
        let cancel = ui::TextButton::new(&gettext("_Cancel"));
        header.pack_start(&cancel.button);
        let create = ui::BusyButton::new(&gettext("C_reate"));
        header.pack_end(&create.button);
        root.set_default_widget(Some(&create.button));

        let banner = ui::Banner::new("dialog-error-symbolic", &["dialtone-error", "inline"]);

        // What the connection is called.
        let name = entry_row(&gettext("Connection _name"));
        let name_group = adw::PreferencesGroup::builder()
            .description(gettext(
                "Fill in what your provider told you; everything else can be changed later.",
            ))
            .build();
        name_group.add(&name);
        let name_error = ui::ErrorRow::new();
        name_group.add(&name_error.row);

        // The line: a port from the list or a device typed by hand.
        let modem_group = adw::PreferencesGroup::builder()
            .title(gettext("Modem"))
            .build();
        let ports_model = gtk::StringList::new(&[]);
        let port = adw::ComboRow::new();
        port.set_title(&gettext("Serial p_ort"));
        port.set_use_underline(true);
        port.set_model(Some(&ports_model));
        port.set_list_factory(Some(&port_factory(choices.clone())));
        modem_group.add(&port);
        let device_row = entry_row(&gettext("_Device"));
        device_row.set_text(&device);
        modem_group.add(&device_row);
        let device_error = ui::ErrorRow::new();
        modem_group.add(&device_error.row);
        let direct = gtk::Switch::new();
        direct.set_valign(gtk::Align::Center);
        let direct_row = adw::ActionRow::builder()
            .title(gettext("Direct _serial cable (no modem)"))
            .subtitle(gettext(
                "A null-modem cable or a device’s serial port: nothing is dialed",
            ))
            .use_underline(true)
            .activatable_widget(&direct)
            .build();
        direct_row.add_suffix(&direct);
        modem_group.add(&direct_row);
        let number = entry_row(&gettext("_Phone number"));
        number.set_input_purpose(gtk::InputPurpose::Phone);
        modem_group.add(&number);
        let number_error = ui::ErrorRow::new();
        modem_group.add(&number_error.row);

        // Sign-in.
        let sign_in = adw::PreferencesGroup::builder()
            .title(gettext("Sign-In"))
            .description(gettext(
                "Leave these empty if your provider does not ask for them.",
            ))
            .build();
        let user = entry_row(&gettext("_User name"));
        sign_in.add(&user);
        let user_error = ui::ErrorRow::new();
        sign_in.add(&user_error.row);
        let password = adw::PasswordEntryRow::new();
        password.set_title(&gettext("Pass_word"));
        password.set_use_underline(true);
        password.set_activates_default(true);
        sign_in.add(&password);
        let password_error = ui::ErrorRow::new();
        sign_in.add(&password_error.row);

        // The line about permissions.
        let note = gtk::Box::new(gtk::Orientation::Horizontal, 6);
        note.set_halign(gtk::Align::Center);
        note.add_css_class("dim-label");
        note.add_css_class("dialtone-note");
        note.append(&gtk::Image::from_icon_name("changes-prevent-symbolic"));
        let note_label = gtk::Label::builder().wrap(true).build();
        note_label.add_css_class("caption");
        note.append(&note_label);

        let column = gtk::Box::new(gtk::Orientation::Vertical, 24);
        column.set_margin_top(12);
        column.set_margin_bottom(24);
        column.set_margin_start(12);
        column.set_margin_end(12);
        column.append(&banner.revealer);
        column.append(&name_group);
        column.append(&modem_group);
        column.append(&sign_in);
        column.append(&note);
        let clamp = adw::Clamp::builder()
            .maximum_size(560)
            .child(&column)
            .build();
        let scrolled = gtk::ScrolledWindow::builder()
            .hscrollbar_policy(gtk::PolicyType::Never)
            .propagate_natural_height(true)
            .max_content_height(720)
            .vexpand(true)
            .child(&clamp)
            .build();
        let outer = gtk::Box::new(gtk::Orientation::Vertical, 0);
        outer.append(&header);
        outer.append(&scrolled);
        root.set_content(Some(&outer));

        // Signals.
        for (row, field) in [
            (&name, Field::Name),
            (&device_row, Field::Device),
            (&number, Field::Number),
            (&user, Field::User),
        ] {
            let s = sender.clone();
            row.connect_changed(move |r| s.input(AssistantInput::Edit(field, r.text().into())));
        }
        {
            let s = sender.clone();
            password.connect_changed(move |r| {
                s.input(AssistantInput::Edit(Field::Password, r.text().into()))
            });
            let s = sender.clone();
            let quiet = quiet.clone();
            port.connect_selected_notify(move |r| {
                if !quiet.get() {
                    s.input(AssistantInput::PortPicked(r.selected()))
                }
            });
            let s = sender.clone();
            direct.connect_active_notify(move |sw| s.input(AssistantInput::Direct(sw.is_active())));
            let s = sender.clone();
            create
                .button
                .connect_clicked(move |_| s.input(AssistantInput::Create));
            let window = root.clone();
            cancel.button.connect_clicked(move |_| {
                window.close();
            });
        }
        {
            let s = sender.clone();
            ui::ask_before_closing(&root, finished.clone(), move || {
                s.input(AssistantInput::Close)
            });
        }

        let model = Assistant {
            core,
            calls: init.calls,
            ports: init.ports,
            modem_link: init.modem_link,
            choices,
            quiet,
            device_typed: false,
            finished,
        };
        let mut widgets = AssistantWidgets {
            cancel,
            create,
            banner,
            note,
            note_label,
            name: name.clone(),
            device: device_row.clone(),
            port,
            ports_model,
            modem_group,
            direct_row,
            number: number.clone(),
            user: user.clone(),
            password: password.clone(),
            rows: vec![
                (
                    Field::Name,
                    FieldRow {
                        row: name.upcast(),
                        error: name_error,
                    },
                ),
                (
                    Field::Device,
                    FieldRow {
                        row: device_row.upcast(),
                        error: device_error,
                    },
                ),
                (
                    Field::Number,
                    FieldRow {
                        row: number.upcast(),
                        error: number_error,
                    },
                ),
                (
                    Field::User,
                    FieldRow {
                        row: user.upcast(),
                        error: user_error,
                    },
                ),
                (
                    Field::Password,
                    FieldRow {
                        row: password.upcast(),
                        error: password_error,
                    },
                ),
            ],
        };
        model.fill_ports(&mut widgets);
        model.refresh(&widgets);
        ui::present_later(&root, Some(widgets.name.clone().upcast()));
        ComponentParts { model, widgets }
    }

    fn update_with_view(
        &mut self,
        widgets: &mut Self::Widgets,
        message: Self::Input,
        sender: ComponentSender<Self>,
        root: &Self::Root,
    ) {
        let effects = match message {
            AssistantInput::Ports(ports, modem_link) => {
                self.ports = ports;
                self.modem_link = modem_link;
                *self.choices.borrow_mut() = port_choices(&self.ports, &self.modem_link);
                if !self.device_typed && self.core.form.device.trim().is_empty() {
                    let device = default_device(&self.ports, &self.modem_link);
                    widgets.device.set_text(&device);
                    self.core.edit(Field::Device, device);
                }
                self.fill_ports(widgets);
                Vec::new()
            }
            AssistantInput::Permission(p) => {
                self.core.permission = p;
                Vec::new()
            }
            AssistantInput::Edit(field, text) => {
                if field == Field::Device && text != self.core.form.device {
                    self.device_typed = true;
                }
                self.core.edit(field, text);
                if field == Field::Device {
                    self.select_port(widgets);
                }
                Vec::new()
            }
            AssistantInput::PortPicked(i) => {
                let picked = self
                    .choices
                    .borrow()
                    .get(i as usize)
                    .map(|c| c.path.clone());
                match picked {
                    Some(path) if path != self.core.form.device.trim() => {
                        widgets.device.set_text(&path);
                    }
                    Some(_) => {}
                    None => {
                        // "Other device": the path is typed below.
                        if choice_for(&self.core.form.device, &self.choices.borrow()).is_some() {
                            widgets.device.set_text("");
                        }
                        widgets.device.grab_focus();
                    }
                }
                Vec::new()
            }
            AssistantInput::Direct(direct) => {
                self.core.set_direct(direct);
                Vec::new()
            }
            AssistantInput::Create => self.core.create(),
            AssistantInput::Close => self.core.close(),
        };
        self.run(effects, widgets, &sender, root);
        self.refresh(widgets);
    }

    fn update_cmd_with_view(
        &mut self,
        widgets: &mut Self::Widgets,
        message: Self::CommandOutput,
        sender: ComponentSender<Self>,
        root: &Self::Root,
    ) {
        let effects = match message {
            AssistantCommand::Added(r) => self.core.added(r),
            AssistantCommand::PasswordSet(r) => self.core.password_set(r),
        };
        self.run(effects, widgets, &sender, root);
        self.refresh(widgets);
    }
}

/// The device list's rows: what the port is, and its path (and who uses
/// it) below.
fn port_factory(choices: Rc<RefCell<Vec<PortChoice>>>) -> gtk::SignalListItemFactory {
    let factory = gtk::SignalListItemFactory::new();
    factory.connect_setup(|_, item| {
        let Some(item) = item.downcast_ref::<gtk::ListItem>() else {
            return;
        };
        let lines = gtk::Box::new(gtk::Orientation::Vertical, 2);
        lines.set_margin_top(3);
        lines.set_margin_bottom(3);
        lines.set_hexpand(true);
        let title = gtk::Label::builder().xalign(0.0).build();
        let detail = gtk::Label::builder().xalign(0.0).build();
        detail.add_css_class("caption");
        detail.add_css_class("dim-label");
        lines.append(&title);
        lines.append(&detail);
        let check = gtk::Image::from_icon_name("object-select-symbolic");
        item.bind_property("selected", &check, "opacity")
            .transform_to(|_, selected: bool| Some(if selected { 1.0 } else { 0.0 }))
            .sync_create()
            .build();
        let b = gtk::Box::new(gtk::Orientation::Horizontal, 12);
        b.append(&lines);
        b.append(&check);
        item.set_child(Some(&b));
    });
    factory.connect_bind(move |_, item| {
        let Some(item) = item.downcast_ref::<gtk::ListItem>() else {
            return;
        };
        let Some(lines) = item.child().and_then(|b| b.first_child()) else {
            return;
        };
        let (Some(title), Some(detail)) = (lines.first_child(), lines.last_child()) else {
            return;
        };
        let (Ok(title), Ok(detail)) = (
            title.downcast::<gtk::Label>(),
            detail.downcast::<gtk::Label>(),
        ) else {
            return;
        };
        match choices.borrow().get(item.position() as usize) {
            Some(c) => {
                title.set_text(&c.title);
                detail.set_text(&c.detail);
            }
            None => {
                title.set_text(&gettext("Other device"));
                detail.set_text(&gettext("Type its path below"));
            }
        }
    });
    factory
}

impl Assistant {
    fn run(
        &mut self,
        effects: Vec<Effect>,
        widgets: &mut AssistantWidgets,
        sender: &ComponentSender<Self>,
        root: &adw::Window,
    ) {
        for effect in effects {
            match effect {
                Effect::Add(profile) => {
                    let calls = self.calls.clone();
                    let settings = to_settings(&profile);
                    sender.oneshot_command(async move {
                        AssistantCommand::Added(calls.add_profile(settings).await)
                    });
                }
                Effect::SetPassword { path, password } => {
                    let calls = self.calls.clone();
                    sender.oneshot_command(async move {
                        AssistantCommand::PasswordSet(calls.set_password(&path, &password).await)
                    });
                }
                Effect::Focus(field) => {
                    self.refresh(widgets);
                    widgets.focus(field);
                }
                Effect::Finish(output) => {
                    self.finished.set(true);
                    let _ = sender.output(output);
                    root.close();
                }
            }
        }
    }

    /// Fills the device list from the choices.
    fn fill_ports(&self, widgets: &mut AssistantWidgets) {
        let choices = self.choices.borrow();
        let mut titles: Vec<String> = choices.iter().map(|c| c.title.clone()).collect();
        titles.push(gettext("Other device"));
        let refs: Vec<&str> = titles.iter().map(String::as_str).collect();
        let n = widgets.ports_model.n_items();
        self.quiet.set(true);
        widgets.ports_model.splice(0, n, &refs);
        self.quiet.set(false);
        widgets.port.set_visible(!choices.is_empty());
        widgets.modem_group.set_description(if choices.is_empty() {
            Some(gettext(
                "No serial port was found. Plug in the modem, or type its device, such as /dev/ttyS0.",
            ))
        } else {
            None
        }
        .as_deref());
        drop(choices);
        self.select_port(widgets);
    }

    /// Shows the device's port in the list ("Other device" if none).
    fn select_port(&self, widgets: &AssistantWidgets) {
        let choices = self.choices.borrow();
        let index = choice_for(&self.core.form.device, &choices).unwrap_or(choices.len());
        if widgets.port.selected() != index as u32 {
            self.quiet.set(true);
            widgets.port.set_selected(index as u32);
            self.quiet.set(false);
        }
    }

    /// Brings the widgets' state (not the text typed) up to the model.
    fn refresh(&self, widgets: &AssistantWidgets) {
        let core = &self.core;
        let busy = core.is_busy();
        let password_only = matches!(core.phase, Phase::PasswordFailed { .. });
        widgets.create.set_busy(busy);
        widgets
            .create
            .set_locked(core.permission == Permission::Auth);
        widgets
            .create
            .button
            .set_sensitive(!busy && core.permission.usable());
        if password_only || matches!(core.phase, Phase::SettingPassword { .. }) {
            widgets.create.set_label(&gettext("Save _Password"));
            widgets.cancel.set_label(&gettext("_Close"));
        } else {
            widgets.create.set_label(&gettext("C_reate"));
            widgets.cancel.set_label(&gettext("_Cancel"));
        }
        widgets.cancel.button.set_sensitive(!busy);
        for (field, row) in &widgets.rows {
            let editable = !busy && (!password_only || *field == Field::Password);
            row.row.set_sensitive(editable);
            let message: Vec<&str> = core
                .errors
                .iter()
                .filter(|(f, _)| f == field)
                .map(|(_, m)| m.as_str())
                .collect();
            let message = (!message.is_empty()).then(|| message.join("\n"));
            ui::mark_invalid(&row.row, &row.row, message.as_deref());
            row.error.show(message.as_deref());
        }
        widgets.port.set_sensitive(!busy && !password_only);
        widgets.direct_row.set_sensitive(!busy && !password_only);
        widgets.number.set_visible(!core.form.direct);
        if core.form.direct {
            // Its message (if any) went with it.
            if let Some((_, row)) = widgets.rows.iter().find(|(f, _)| *f == Field::Number) {
                row.error.show(None);
            }
        }
        match &core.top_error {
            Some((summary, detail)) => {
                widgets.banner.set(summary, detail);
                widgets.banner.revealer.set_reveal_child(true);
            }
            None => widgets.banner.revealer.set_reveal_child(false),
        }
        match core.permission {
            Permission::Yes => widgets.note.set_visible(false),
            Permission::Auth => {
                widgets
                    .note_label
                    .set_text(&gettext("You will be asked for an administrator password"));
                widgets.note.set_visible(true);
            }
            Permission::No => {
                widgets
                    .note_label
                    .set_text(&gettext("You are not allowed to add connections"));
                widgets.note.set_visible(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialtone_api::settings::from_settings;

    fn port(path: &str, description: &str, busy: &str) -> PortInfo {
        PortInfo {
            path: path.into(),
            description: description.into(),
            busy_program: busy.into(),
            busy_pid: if busy.is_empty() { 0 } else { 4242 },
            ..PortInfo::default()
        }
    }

    fn filled() -> AssistantForm {
        AssistantForm {
            name: " Example ISP ".into(),
            device: "/dev/ttyUSB0".into(),
            direct: false,
            number: "555-0100".into(),
            user: "someone".into(),
            password: "s3cret".into(),
        }
    }

    fn invalid(message: &str) -> CallError {
        CallError::InvalidArgument {
            key: crate::daemon::setting_key(message),
            message: message.into(),
        }
    }

    #[test]
    fn the_form_makes_a_dialing_profile() {
        let p = filled().to_profile();
        let mut expected = Profile::new("Example ISP");
        expected.line.device = "/dev/ttyUSB0".into();
        expected.modem = Some(Modem {
            numbers: vec!["555-0100".into()],
            ..Modem::default()
        });
        expected.user = "someone".into();
        assert_eq!(p, expected);
        assert_eq!(p.validate(), Ok(()));
        // The settings the daemon gets read back the same.
        assert_eq!(from_settings(&to_settings(&p)), Ok(p));
    }

    #[test]
    fn a_direct_cable_has_no_modem() {
        let form = AssistantForm {
            direct: true,
            number: "ignored".into(),
            ..filled()
        };
        let p = form.to_profile();
        assert_eq!(p.modem, None);
        assert_eq!(p.line.carrier, Carrier::Local);
        assert_eq!(p.line.flow_control, FlowControl::None);
        assert_eq!(p.validate(), Ok(()));
        assert!(form.check().is_empty(), "no number needed");
    }

    #[test]
    fn obvious_gaps_are_found_before_calling() {
        let form = AssistantForm::default();
        let fields: Vec<Field> = form.check().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, [Field::Name, Field::Device, Field::Number]);
        assert!(filled().check().is_empty());
    }

    #[test]
    fn ports_are_listed_with_their_users() {
        let ports = [
            port("/dev/ttyUSB0", "FTDI FT232R USB UART (ttyUSB0)", ""),
            port("/dev/ttyACM0", "", "minicom"),
        ];
        let choices = port_choices(&ports, "/dev/ttyACM0");
        assert_eq!(choices.len(), 3);
        assert_eq!(choices[0].path, "/dev/modem");
        assert!(choices[0].detail.contains("/dev/ttyACM0"));
        assert_eq!(choices[1].title, "FTDI FT232R USB UART (ttyUSB0)");
        assert_eq!(choices[1].detail, "/dev/ttyUSB0");
        assert_eq!(choices[2].title, "/dev/ttyACM0");
        assert_eq!(choices[2].detail, "/dev/ttyACM0 · in use by minicom");
        assert_eq!(choice_for(" /dev/ttyACM0", &choices), Some(2));
        assert_eq!(choice_for("/dev/ttyS7", &choices), None);

        assert_eq!(default_device(&ports, "/dev/ttyACM0"), "/dev/modem");
        assert_eq!(default_device(&ports, ""), "/dev/ttyUSB0");
        assert_eq!(default_device(&[], ""), "");
        assert!(port_choices(&[], "").is_empty());
    }

    #[test]
    fn refusals_name_their_fields() {
        assert_eq!(Field::for_key("modem.numbers[0]"), Some(Field::Number));
        assert_eq!(Field::for_key("line.device"), Some(Field::Device));
        assert_eq!(Field::for_key("name"), Some(Field::Name));
        assert_eq!(Field::for_key("user"), Some(Field::User));
        assert_eq!(Field::for_key("password"), Some(Field::Password));
        assert_eq!(Field::for_key("line.speed"), None);
        assert_eq!(Field::for_key("ppp"), None);
    }

    fn ready() -> AssistantCore {
        let mut core = AssistantCore::new("/dev/ttyUSB0".into(), Permission::Auth);
        let f = filled();
        core.edit(Field::Name, f.name);
        core.edit(Field::Number, f.number);
        core.edit(Field::User, f.user);
        core.edit(Field::Password, f.password);
        core
    }

    #[test]
    fn create_adds_then_sets_the_password_then_closes() {
        let mut core = ready();
        let effects = core.create();
        assert_eq!(effects, [Effect::Add(Box::new(filled().to_profile()))]);
        assert!(core.is_busy());
        assert_eq!(core.create(), [], "one call at a time");
        assert_eq!(core.close(), [], "no closing while creating");
        let path = "/io/github/dialtone/Dialtone1/Profile/example_isp".to_string();
        assert_eq!(
            core.added(Ok(path.clone())),
            [Effect::SetPassword {
                path: path.clone(),
                password: "s3cret".into()
            }]
        );
        assert_eq!(core.phase, Phase::SettingPassword { path: path.clone() });
        assert_eq!(
            core.password_set(Ok(())),
            [Effect::Finish(AssistantOutput::Created(path))]
        );
        assert_eq!(core.phase, Phase::Done);
    }

    #[test]
    fn without_a_password_create_closes_after_adding() {
        let mut core = ready();
        core.edit(Field::Password, String::new());
        core.create();
        assert_eq!(
            core.added(Ok("/p/x".into())),
            [Effect::Finish(AssistantOutput::Created("/p/x".into()))]
        );
    }

    #[test]
    fn local_checks_stop_create() {
        let mut core = AssistantCore::new(String::new(), Permission::Yes);
        assert_eq!(core.create(), [Effect::Focus(Field::Name)]);
        assert_eq!(core.phase, Phase::Editing);
        assert_eq!(core.errors.len(), 3);
        core.edit(Field::Name, "x".into());
        assert_eq!(core.errors.len(), 2, "typing clears the field's message");
        core.set_direct(true);
        assert_eq!(core.errors.len(), 1, "no number for a direct cable");
        assert_eq!(core.errors[0].0, Field::Device);
    }

    #[test]
    fn the_daemons_refusal_goes_to_its_field() {
        let mut core = ready();
        core.create();
        let effects = core.added(Err(invalid("line.device: must be a device under /dev/")));
        assert_eq!(effects, [Effect::Focus(Field::Device)]);
        assert_eq!(core.phase, Phase::Editing);
        assert_eq!(
            core.errors,
            [(Field::Device, "must be a device under /dev/".to_string())]
        );
        assert_eq!(core.top_error, None);
        assert_eq!(core.form.name, filled().name, "nothing typed is lost");

        core.create();
        core.added(Err(invalid("modem.numbers[0]: 'x' cannot be dialed")));
        assert_eq!(core.errors[0].0, Field::Number);

        // A setting the dialog does not show, and other failures: at the top.
        core.create();
        assert!(core.errors.is_empty());
        core.added(Err(invalid("line.speed: 12345 is not a serial speed")));
        assert!(core.errors.is_empty());
        assert!(core.top_error.is_some());
        core.create();
        assert_eq!(core.top_error, None, "cleared on the next try");
        core.added(Err(CallError::Unreachable("no daemon".into())));
        let (summary, detail) = core.top_error.clone().unwrap();
        assert!(summary.contains("not running"), "{summary}");
        assert_eq!(detail, "no daemon");
    }

    #[test]
    fn a_failed_password_is_retried_alone() {
        let mut core = ready();
        core.create();
        core.added(Ok("/p/x".into()));
        let effects = core.password_set(Err(invalid("password: longer than 256 bytes")));
        assert_eq!(effects, [Effect::Focus(Field::Password)]);
        assert_eq!(
            core.phase,
            Phase::PasswordFailed {
                path: "/p/x".into()
            }
        );
        assert_eq!(
            core.errors,
            [(Field::Password, "longer than 256 bytes".to_string())]
        );
        let (summary, detail) = core.top_error.clone().unwrap();
        assert!(summary.contains("was created"), "{summary}");
        assert!(detail.contains("without a password"), "{detail}");
        // Create now saves the password only.
        core.edit(Field::Password, "shorter".into());
        assert_eq!(
            core.create(),
            [Effect::SetPassword {
                path: "/p/x".into(),
                password: "shorter".into()
            }]
        );
        // Failing again, then closing: the profile exists, so Created.
        core.password_set(Err(CallError::NotAuthorized("dismissed".into())));
        assert!(core.errors[0].1.contains("dismissed"));
        assert_eq!(
            core.close(),
            [Effect::Finish(AssistantOutput::Created("/p/x".into()))]
        );
    }

    #[test]
    fn cancel_creates_nothing() {
        let mut core = ready();
        assert_eq!(core.close(), [Effect::Finish(AssistantOutput::Cancelled)]);
        assert_eq!(core.close(), [], "only once");
    }

    #[test]
    fn without_permission_nothing_is_called() {
        let mut core = ready();
        core.permission = Permission::No;
        assert_eq!(core.create(), []);
        assert!(core.top_error.is_some());
        assert_eq!(core.phase, Phase::Editing);
    }
}
