//! The profile editor: every setting of a connection, grouped by topic on
//! pages beside a sidebar, saved to the daemon in one `Update` call.
//!
//! # Interface
//!
//! ```text
//! Editor::builder()
//!     .transient_for(&main_window)
//!     .launch(EditorInit { profile, calls, permission })
//!     .forward(sender.input_sender(), |out| match out { … });
//! ```
//!
//! * [`EditorInit`] `{ profile: ProfileInfo, calls: Calls, permission: Permission }`:
//!   the profile as the daemon has it (its path and settings), the calls to
//!   make, and the `modify` permission. Settings that do not make a valid
//!   profile are not edited: the window then says why and offers only Close.
//! * [`EditorInput`], from the parent:
//!   * `Changed(ProfileInfo)`: the daemon's profile changed (forward every
//!     `Update::Profile` for this path). Edits are never overwritten: with
//!     unsaved edits the window says "This connection was changed
//!     elsewhere" and offers to load the new version; without edits it
//!     loads it and says so.
//!   * `Removed`: the profile was deleted on the daemon; saving is off.
//!   * `Permission(Permission)`: the `modify` permission changed.
//!
//!   The other variants are the window's own (its widgets send them).
//! * [`EditorOutput`]:
//!   * `Saved(path)`: the daemon confirmed the settings (and the new
//!     password, if one was typed); the window has closed.
//!   * `Closed`: closed without saving (Cancel, Escape, the close button,
//!     or discarding the changes).
//!
//!   After either, the parent drops the controller.
//!
//! The window presents itself once launched. Saving sends
//! `Calls::update(path, to_settings(&edited))`, then `set_password` when a
//! new password was typed; the window closes only after the daemon said
//! yes. A refusal that names a setting (`modem.numbers[1]: …`) is shown at
//! that setting's row (its page is opened and the row focused); other
//! failures are shown above the pages. Nothing typed is lost. Closing
//! with unsaved changes asks first.
//!
//! Keys: Ctrl+S saves, Escape closes, Ctrl+Page Down / Page Up go to the
//! next / previous page; every row's title has a mnemonic (Alt+letter,
//! unique per page).
//!
//! The pure logic (the form and its conversion to and from [`Profile`],
//! the table of every setting's control, where an error goes, the saving
//! steps) is in plain types tested without GTK: [`EditorForm`],
//! [`fields`], [`field_for_key`], [`EditorCore`].

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use adw::prelude::*;
use dialtone_api::objects::ProfileInfo;
use dialtone_api::profile::{LoginStep, Modem, Profile, Send as LoginSend, SPEEDS};
use dialtone_api::settings::{carrier_word, flow_word, from_settings, to_settings, Settings, KEYS};
use gettextrs::gettext;
use relm4::gtk;
use relm4::gtk::glib;
use relm4::{Component, ComponentParts, ComponentSender};

use crate::daemon::{CallError, Calls, Permission};
use crate::text::fill;

// ---------------------------------------------------------------------------
// The form: what the widgets hold, and its conversion to and from a Profile.
// ---------------------------------------------------------------------------

/// A setting's value as the form holds it: what its control shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Text as typed (also choices' words, addresses, masks).
    Text(String),
    /// A switch or a check box.
    Bool(bool),
    /// A number (u, q and y keys; the control keeps it in range).
    Number(u32),
    /// A list of texts (numbers, commands, authentication method words).
    List(Vec<String>),
    /// The login script.
    Steps(Vec<Step>),
}

/// What a login step sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendKind {
    /// The profile's user name.
    User,
    /// The password.
    Password,
    /// The step's text.
    Text,
}

impl SendKind {
    /// Every kind, in the order the step's drop-down lists them.
    pub const ALL: [SendKind; 3] = [SendKind::User, SendKind::Password, SendKind::Text];

    /// The settings' word.
    pub fn word(self) -> &'static str {
        match self {
            SendKind::User => "user",
            SendKind::Password => "password",
            SendKind::Text => "text",
        }
    }

    /// For people.
    pub fn label(self) -> String {
        match self {
            SendKind::User => gettext("The user name"),
            SendKind::Password => gettext("The password"),
            SendKind::Text => gettext("Text"),
        }
    }
}

/// One step of the login script as the form holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The text to wait for.
    pub expect: String,
    /// What to send.
    pub send: SendKind,
    /// The text sent when `send` is [`SendKind::Text`] (kept while another
    /// kind is chosen, so that switching back does not lose it).
    pub text: String,
    /// Seconds to wait.
    pub timeout: u32,
}

impl Default for Step {
    fn default() -> Self {
        Step {
            expect: String::new(),
            send: SendKind::Text,
            text: String::new(),
            timeout: 30,
        }
    }
}

/// A change to a list of texts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListOp {
    /// Appends an empty entry.
    Add,
    /// Removes the entry.
    Remove(usize),
    /// Swaps the entry with the one before it.
    MoveUp(usize),
    /// Swaps the entry with the one after it.
    MoveDown(usize),
    /// Replaces the entry's text.
    Set(usize, String),
}

/// A change to one login step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepEdit {
    /// The text to wait for.
    Expect(String),
    /// What to send.
    Send(SendKind),
    /// The text to send.
    Text(String),
    /// Seconds to wait.
    Timeout(u32),
}

/// A change to the login script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginOp {
    /// Appends a step.
    Add,
    /// Removes the step.
    Remove(usize),
    /// Swaps the step with the one before it.
    MoveUp(usize),
    /// Swaps the step with the one after it.
    MoveDown(usize),
    /// Changes a step.
    Edit(usize, StepEdit),
}

/// A refusal placed at its field: the path as the daemon named it
/// (`modem.numbers[1]`) and what is wrong, without the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Where.
    pub path: FieldPath,
    /// What is wrong.
    pub message: String,
}

/// Everything the editor edits. `values` has one entry per key of
/// [`fields`] (every settings key but `version`, and `password`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EditorForm {
    values: BTreeMap<&'static str, Value>,
}

/// The settings keys whose absence means "not set" (empty text).
const OPTIONAL: [&str; 3] = [
    "ppp.ipcp.local",
    "ppp.ipcp.remote",
    "ppp.ipv6cp.interface_id",
];

/// The pseudo key of the password (not a setting: `SetSecrets`).
pub const PASSWORD: &str = "password";

fn method_word(display: &str) -> String {
    match display {
        "PAP" => "pap".into(),
        "CHAP-MD5" => "chap-md5".into(),
        "MS-CHAPv2" => "mschapv2".into(),
        other => other.to_lowercase(),
    }
}

/// The authentication methods' words with their labels, strongest first.
pub const METHODS: [(&str, &str); 3] = [
    ("mschapv2", "_MS-CHAPv2"),
    ("chap-md5", "C_HAP-MD5"),
    ("pap", "P_AP"),
];

/// Formats an ACCM bit mask as the entry shows it.
fn mask_text(mask: u32) -> String {
    format!("0x{mask:08x}")
}

/// Parses an ACCM bit mask: `0x…` hexadecimal or decimal.
fn parse_mask(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => t.parse::<u32>(),
    };
    parsed.map_err(|_| gettext("must be a 32-bit mask, such as 0x000a0000"))
}

/// Formats an interface identifier as four groups of hexadecimal digits.
fn interface_id_text(id: &[u8; 8]) -> String {
    id.chunks(2)
        .map(|pair| format!("{:02x}{:02x}", pair[0], pair[1]))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses an interface identifier: 16 hexadecimal digits, colons allowed.
fn parse_interface_id(text: &str) -> Result<[u8; 8], String> {
    let digits: String = text
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    let bad = || gettext("must be 16 hexadecimal digits, such as 0211:22ff:fe33:4455");
    if digits.len() != 16 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut id = [0u8; 8];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(id)
}

/// Splits a list typed on one line: commas or white space between items.
fn split_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn join_list<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every key's value in a profile; the `modem.*` keys of a profile without
/// a modem take the default modem's values, so that switching the modem on
/// starts from them.
fn values_of(p: &Profile) -> Vec<(&'static str, Value)> {
    use Value::{Bool, List, Number, Steps, Text};
    // Destructured with every field, so that a field added to the model
    // does not compile here until the editor has it.
    let Profile {
        version: _,
        name,
        line,
        modem,
        login,
        user,
        ppp,
        network,
        policy,
    } = p;
    let default_modem = Modem::default();
    let Modem {
        init,
        dial_command,
        numbers,
        abort,
        command_timeout,
        connect_timeout,
    } = modem.as_ref().unwrap_or(&default_modem);
    let steps = login
        .iter()
        .map(
            |LoginStep {
                 expect,
                 send,
                 timeout,
             }| {
                let (send, text) = match send {
                    LoginSend::User => (SendKind::User, String::new()),
                    LoginSend::Password => (SendKind::Password, String::new()),
                    LoginSend::Text(t) => (SendKind::Text, t.clone()),
                };
                Step {
                    expect: expect.clone(),
                    send,
                    text,
                    timeout: *timeout,
                }
            },
        )
        .collect();
    let (fsm, lcp, auth, ipcp, ipv6cp) = (&ppp.fsm, &ppp.lcp, &ppp.auth, &ppp.ipcp, &ppp.ipv6cp);
    let opt = |a: Option<std::net::Ipv4Addr>| Text(a.map(|a| a.to_string()).unwrap_or_default());
    vec![
        ("name", Text(name.clone())),
        ("line.device", Text(line.device.clone())),
        ("line.speed", Number(line.speed)),
        (
            "line.flow_control",
            Text(flow_word(line.flow_control).into()),
        ),
        ("line.carrier", Text(carrier_word(line.carrier).into())),
        ("modem.enabled", Bool(modem.is_some())),
        ("modem.init", List(init.clone())),
        ("modem.dial_command", Text(dial_command.clone())),
        ("modem.numbers", List(numbers.clone())),
        ("modem.abort", List(abort.clone())),
        ("modem.command_timeout", Number(*command_timeout)),
        ("modem.connect_timeout", Number(*connect_timeout)),
        ("login", Steps(steps)),
        ("user", Text(user.clone())),
        ("ppp.fsm.restart_ms", Number(fsm.restart_ms)),
        ("ppp.fsm.max_configure", Number(fsm.max_configure.into())),
        ("ppp.fsm.max_terminate", Number(fsm.max_terminate.into())),
        ("ppp.fsm.max_failure", Number(fsm.max_failure.into())),
        ("ppp.lcp.mru", Number(lcp.mru.into())),
        ("ppp.lcp.accm", Text(mask_text(lcp.accm))),
        ("ppp.lcp.magic_number", Bool(lcp.magic_number)),
        ("ppp.lcp.pfc", Bool(lcp.pfc)),
        ("ppp.lcp.acfc", Bool(lcp.acfc)),
        ("ppp.lcp.echo_interval", Number(lcp.echo_interval)),
        ("ppp.lcp.echo_failure", Number(lcp.echo_failure)),
        (
            "ppp.auth.methods",
            List(
                auth.methods
                    .iter()
                    .map(|m| method_word(&m.to_string()))
                    .collect(),
            ),
        ),
        ("ppp.auth.name", Text(auth.name.clone())),
        ("ppp.auth.timeout", Number(auth.timeout)),
        (
            "ppp.auth.rechallenge_interval",
            Number(auth.rechallenge_interval),
        ),
        ("ppp.ipcp.enabled", Bool(ipcp.enabled)),
        ("ppp.ipcp.local", opt(ipcp.local)),
        ("ppp.ipcp.remote", opt(ipcp.remote)),
        ("ppp.ipcp.request_dns", Bool(ipcp.request_dns)),
        ("ppp.ipcp.dns", Text(join_list(&ipcp.dns))),
        ("ppp.ipv6cp.enabled", Bool(ipv6cp.enabled)),
        (
            "ppp.ipv6cp.interface_id",
            Text(
                ipv6cp
                    .interface_id
                    .as_ref()
                    .map(interface_id_text)
                    .unwrap_or_default(),
            ),
        ),
        ("network.default_route", Bool(network.default_route)),
        ("network.route_metric", Number(network.route_metric)),
        (
            "network.replace_default_route",
            Bool(network.replace_default_route),
        ),
        ("network.peer_dns", Bool(network.peer_dns)),
        ("network.dns", Text(join_list(&network.dns))),
        ("network.search", Text(join_list(&network.search))),
        ("policy.persist", Bool(policy.persist)),
        ("policy.max_fail", Number(policy.max_fail)),
        ("policy.holdoff", Number(policy.holdoff)),
        ("policy.holdoff_max", Number(policy.holdoff_max)),
        ("policy.idle", Number(policy.idle)),
        ("policy.demand", Bool(policy.demand)),
        ("policy.max_connect", Number(policy.max_connect)),
        (PASSWORD, Text(String::new())),
    ]
}

fn owned<'a>(v: impl Into<zbus::Variant<'a>>) -> Option<zbus::OwnedVariant> {
    v.into().try_into_owned().ok()
}

/// One key's value as a settings value: `Ok(None)` leaves the key out.
fn settings_value(
    key: &str,
    signature: &str,
    value: &Value,
) -> Result<Option<zbus::OwnedVariant>, String> {
    let internal = || format!("the form holds {value:?} for {key}");
    Ok(match (signature, value) {
        ("s", Value::Text(t)) if OPTIONAL.contains(&key) => {
            let t = t.trim();
            if t.is_empty() {
                None
            } else {
                owned(t)
            }
        }
        ("s", Value::Text(t)) => owned(t.as_str()),
        ("u", Value::Number(n)) => owned(*n),
        ("u", Value::Text(t)) => owned(parse_mask(t)?),
        ("q", Value::Number(n)) => owned(u16::try_from(*n).map_err(|_| internal())?),
        ("y", Value::Number(n)) => owned(u8::try_from(*n).map_err(|_| internal())?),
        ("b", Value::Bool(b)) => owned(*b),
        ("as", Value::List(items)) => owned(items.clone()),
        ("as", Value::Text(t)) => owned(split_list(t)),
        ("a(sssu)", Value::Steps(steps)) => {
            let tuples: Vec<(String, String, String, u32)> = steps
                .iter()
                .map(|s| {
                    let text = if s.send == SendKind::Text {
                        s.text.clone()
                    } else {
                        String::new()
                    };
                    (s.expect.clone(), s.send.word().to_string(), text, s.timeout)
                })
                .collect();
            owned(tuples)
        }
        ("ay", Value::Text(t)) if t.trim().is_empty() => None,
        ("ay", Value::Text(t)) => owned(parse_interface_id(t)?.to_vec()),
        _ => return Err(internal()),
    })
}

impl EditorForm {
    /// The form showing a profile (and no new password).
    pub fn from_profile(profile: &Profile) -> EditorForm {
        EditorForm {
            values: values_of(profile).into_iter().collect(),
        }
    }

    /// A key's value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// Sets a key's value; a key the form does not have is ignored.
    pub fn set(&mut self, key: &str, value: Value) {
        if let Some(slot) = self.values.get_mut(key) {
            *slot = value;
        }
    }

    fn text(&self, key: &str) -> &str {
        match self.values.get(key) {
            Some(Value::Text(t)) => t,
            _ => "",
        }
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.values.get(key), Some(Value::Bool(true)))
    }

    /// The new password typed, or empty.
    pub fn password(&self) -> &str {
        self.text(PASSWORD)
    }

    /// Changes a list of texts; the index to focus afterwards, if any.
    pub fn edit_list(&mut self, key: &str, op: ListOp) -> Option<usize> {
        let Some(Value::List(items)) = self.values.get_mut(key) else {
            return None;
        };
        edit_vec(items, op, String::new(), |item, text| *item = text)
    }

    /// Changes the login script; the index of the step to focus, if any.
    pub fn edit_login(&mut self, op: LoginOp) -> Option<usize> {
        let Some(Value::Steps(steps)) = self.values.get_mut("login") else {
            return None;
        };
        let list_op = match op {
            LoginOp::Add => ListOp::Add,
            LoginOp::Remove(i) => ListOp::Remove(i),
            LoginOp::MoveUp(i) => ListOp::MoveUp(i),
            LoginOp::MoveDown(i) => ListOp::MoveDown(i),
            LoginOp::Edit(i, edit) => {
                let step = steps.get_mut(i)?;
                match edit {
                    StepEdit::Expect(t) => step.expect = t,
                    StepEdit::Send(k) => step.send = k,
                    StepEdit::Text(t) => step.text = t,
                    StepEdit::Timeout(n) => step.timeout = n,
                }
                return Some(i);
            }
        };
        edit_vec(steps, list_op, Step::default(), |_, _| {})
    }

    /// Whether a key's control has any effect with the other values as
    /// they are (the modem's settings without a modem do not); controls
    /// without effect are shown insensitive.
    pub fn is_relevant(&self, key: &str) -> bool {
        match key {
            "modem.enabled" => true,
            k if k.starts_with("modem.") => self.flag("modem.enabled"),
            "ppp.ipcp.local" | "ppp.ipcp.remote" | "ppp.ipcp.request_dns" | "ppp.ipcp.dns" => {
                self.flag("ppp.ipcp.enabled")
            }
            "ppp.ipv6cp.interface_id" => self.flag("ppp.ipv6cp.enabled"),
            "network.route_metric" | "network.replace_default_route" => {
                self.flag("network.default_route")
            }
            "policy.max_fail" | "policy.holdoff" | "policy.holdoff_max" => {
                self.flag("policy.persist")
            }
            "ppp.lcp.echo_failure" => !matches!(
                self.values.get("ppp.lcp.echo_interval"),
                Some(Value::Number(0))
            ),
            _ => true,
        }
    }

    /// The settings the form stands for, as the daemon will get them, or
    /// what stops them, at their fields.
    pub fn to_settings(&self) -> Result<Settings, Vec<FieldError>> {
        let mut settings = Settings::new();
        let mut errors = Vec::new();
        if let Some(v) = owned(dialtone_api::profile::PROFILE_VERSION) {
            settings.insert("version".into(), v);
        }
        let modem = self.flag("modem.enabled");
        for (key, signature, _) in KEYS {
            if *key == "version" || (key.starts_with("modem.") && *key != "modem.enabled" && !modem)
            {
                continue;
            }
            let Some(value) = self.values.get(key) else {
                continue;
            };
            match settings_value(key, signature, value) {
                Ok(Some(v)) => {
                    settings.insert(key.to_string(), v);
                }
                Ok(None) => {}
                Err(message) => errors.push(FieldError {
                    path: field_for_key(key).unwrap_or_else(|| FieldPath::top(key)),
                    message,
                }),
            }
        }
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    }

    /// The profile the form stands for, validated as the daemon will, or
    /// what is wrong, at its field.
    pub fn to_profile(&self) -> Result<Profile, Vec<FieldError>> {
        let settings = self.to_settings()?;
        from_settings(&settings).map_err(|e| vec![place(&e.to_string()).into_field_error()])
    }
}

/// Applies a list change; returns the index to focus afterwards.
fn edit_vec<T>(
    items: &mut Vec<T>,
    op: ListOp,
    new: T,
    set: impl FnOnce(&mut T, String),
) -> Option<usize> {
    match op {
        ListOp::Add => {
            items.push(new);
            Some(items.len() - 1)
        }
        ListOp::Remove(i) if i < items.len() => {
            items.remove(i);
            if items.is_empty() {
                None
            } else {
                Some(i.min(items.len() - 1))
            }
        }
        ListOp::MoveUp(i) if i > 0 && i < items.len() => {
            items.swap(i - 1, i);
            Some(i - 1)
        }
        ListOp::MoveDown(i) if i + 1 < items.len() => {
            items.swap(i, i + 1);
            Some(i + 1)
        }
        ListOp::Set(i, text) if i < items.len() => {
            set(&mut items[i], text);
            Some(i)
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// The table: every key's page, group, title and control, in one place.
// ---------------------------------------------------------------------------

/// The editor's pages, in sidebar order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Page {
    /// Line and modem.
    Line,
    /// Numbers, abort responses, login script.
    Dialing,
    /// User, password, methods.
    Authentication,
    /// IPv4, IPv6, DNS.
    Addresses,
    /// The default route.
    Routing,
    /// Redialing, idle, demand.
    Reconnecting,
    /// LCP and the negotiation.
    Advanced,
}

impl Page {
    /// Every page, in order.
    pub const ALL: [Page; 7] = [
        Page::Line,
        Page::Dialing,
        Page::Authentication,
        Page::Addresses,
        Page::Routing,
        Page::Reconnecting,
        Page::Advanced,
    ];

    /// The stack child's name.
    pub fn id(self) -> &'static str {
        match self {
            Page::Line => "line",
            Page::Dialing => "dialing",
            Page::Authentication => "authentication",
            Page::Addresses => "addresses",
            Page::Routing => "routing",
            Page::Reconnecting => "reconnecting",
            Page::Advanced => "advanced",
        }
    }

    /// The sidebar's title.
    pub fn title(self) -> String {
        match self {
            Page::Line => gettext("Line and Modem"),
            Page::Dialing => gettext("Dialing and Login"),
            Page::Authentication => gettext("Authentication"),
            Page::Addresses => gettext("Addresses and DNS"),
            Page::Routing => gettext("Routing"),
            Page::Reconnecting => gettext("Reconnecting"),
            Page::Advanced => gettext("Advanced"),
        }
    }

    /// The page's icon.
    pub fn icon(self) -> &'static str {
        match self {
            Page::Line => "network-wired-symbolic",
            Page::Dialing => "call-start-symbolic",
            Page::Authentication => "dialog-password-symbolic",
            Page::Addresses => "network-workgroup-symbolic",
            Page::Routing => "mail-send-receive-symbolic",
            Page::Reconnecting => "view-refresh-symbolic",
            Page::Advanced => "applications-engineering-symbolic",
        }
    }
}

/// The groups of rows, each on one page, in page order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// The name.
    Connection,
    /// Device, speed, flow control, carrier.
    SerialLine,
    /// Modem on/off, dial command, timeouts.
    Modem,
    /// Initialization commands.
    Init,
    /// Phone numbers.
    Numbers,
    /// Abort responses.
    Abort,
    /// The login script.
    Login,
    /// User name and password.
    SignIn,
    /// Methods, name, timeout.
    Methods,
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
    /// DNS.
    Dns,
    /// The default route.
    Route,
    /// Redialing.
    Redial,
    /// Idle and demand.
    Limits,
    /// LCP options.
    Lcp,
    /// The negotiation's timers and counters.
    Negotiation,
    /// Settings only used when answering calls.
    Answering,
}

impl Group {
    /// The page the group is on.
    pub fn page(self) -> Page {
        match self {
            Group::Connection | Group::SerialLine | Group::Modem | Group::Init => Page::Line,
            Group::Numbers | Group::Abort | Group::Login => Page::Dialing,
            Group::SignIn | Group::Methods => Page::Authentication,
            Group::Ipv4 | Group::Ipv6 | Group::Dns => Page::Addresses,
            Group::Route => Page::Routing,
            Group::Redial | Group::Limits => Page::Reconnecting,
            Group::Lcp | Group::Negotiation | Group::Answering => Page::Advanced,
        }
    }

    /// The group's title.
    pub fn title(self) -> String {
        match self {
            Group::Connection => gettext("Connection"),
            Group::SerialLine => gettext("Serial Line"),
            Group::Modem => gettext("Modem"),
            Group::Init => gettext("Initialization Commands"),
            Group::Numbers => gettext("Phone Numbers"),
            Group::Abort => gettext("Abort Responses"),
            Group::Login => gettext("Login Script"),
            Group::SignIn => gettext("Sign-In"),
            Group::Methods => gettext("Methods"),
            Group::Ipv4 => gettext("IPv4"),
            Group::Ipv6 => gettext("IPv6"),
            Group::Dns => gettext("Name Servers"),
            Group::Route => gettext("Default Route"),
            Group::Redial => gettext("Redialing"),
            Group::Limits => gettext("Idle and Demand"),
            Group::Lcp => gettext("Link Control"),
            Group::Negotiation => gettext("Negotiation"),
            Group::Answering => gettext("Answering Calls"),
        }
    }
}

/// The unit a number is counted in, shown after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Seconds.
    Seconds,
    /// Milliseconds.
    Milliseconds,
    /// Bytes.
    Bytes,
    /// A count.
    Times,
    /// Nothing shown.
    None,
}

impl Unit {
    fn label(self) -> String {
        match self {
            Unit::Seconds => gettext("s"),
            Unit::Milliseconds => gettext("ms"),
            Unit::Bytes => gettext("bytes"),
            Unit::Times => gettext("times"),
            Unit::None => String::new(),
        }
    }
}

/// What shows and edits a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// A one-line entry (Text); `hint` is its placeholder.
    Entry {
        /// Shown while empty.
        hint: String,
    },
    /// A masked entry (the password; Text).
    Password,
    /// A switch (Bool).
    Switch,
    /// A spin button (Number), `min..=max`.
    Spin {
        /// The least value.
        min: u32,
        /// The greatest value.
        max: u32,
        /// What it counts.
        unit: Unit,
    },
    /// A drop-down: the values with their labels.
    Choice(Vec<(Value, String)>),
    /// An editable list of texts (List), in its own group.
    Strings {
        /// An entry's title ("Number"), followed by its position.
        item: String,
        /// The add button's label, with a mnemonic.
        add: String,
        /// Shown when the list is empty.
        empty: String,
    },
    /// The login script (Steps), in its own group.
    Login,
    /// The authentication methods' check boxes (List of words).
    Methods,
}

/// One row of the editor: a settings key and how it is shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    /// The settings key (or [`PASSWORD`]).
    pub key: &'static str,
    /// Where it is.
    pub group: Group,
    /// The row's title, with a mnemonic (`_Device`).
    pub title: String,
    /// Its control.
    pub control: Control,
}

impl FieldSpec {
    /// The key's description from [`KEYS`], for the row's subtitle.
    pub fn description(&self) -> String {
        if self.key == PASSWORD {
            return String::new();
        }
        KEYS.iter()
            .find(|(k, _, _)| *k == self.key)
            .map(|(_, _, d)| gettext(d.trim_end_matches(" (required)")))
            .unwrap_or_default()
    }
}

fn spin(min: u32, max: u32, unit: Unit) -> Control {
    Control::Spin { min, max, unit }
}

fn entry(hint: &str) -> Control {
    Control::Entry { hint: hint.into() }
}

/// Every setting's row, in the order shown: the one table mapping settings
/// keys to widgets. Every key of [`KEYS`] but `version` is here (a test
/// checks it), and the password.
pub fn fields() -> Vec<FieldSpec> {
    use Control::{Login, Methods, Password, Switch};
    use Group as G;
    use Unit::{Bytes, Milliseconds, Seconds, Times};
    const ANY: u32 = u32::MAX;
    let f = |key, group, title: String, control| FieldSpec {
        key,
        group,
        title,
        control,
    };
    let text = |w: &str| Value::Text(w.into());
    let speeds = SPEEDS
        .iter()
        .map(|s| {
            (
                Value::Number(*s),
                fill(&gettext("{n} bit/s"), &[("n", &s.to_string())]),
            )
        })
        .collect();
    vec![
        f("name", G::Connection, gettext("_Name"), entry("")),
        f(
            "line.device",
            G::SerialLine,
            gettext("_Device"),
            entry("/dev/ttyS0"),
        ),
        f(
            "line.speed",
            G::SerialLine,
            gettext("S_peed"),
            Control::Choice(speeds),
        ),
        f(
            "line.flow_control",
            G::SerialLine,
            gettext("_Flow control"),
            Control::Choice(vec![
                (text("hardware"), gettext("Hardware")),
                (text("software"), gettext("Software")),
                (text("none"), gettext("None")),
            ]),
        ),
        f(
            "line.carrier",
            G::SerialLine,
            gettext("Control _lines"),
            Control::Choice(vec![
                (text("modem"), gettext("Modem")),
                (text("local"), gettext("Local (ignored)")),
            ]),
        ),
        f(
            "modem.enabled",
            G::Modem,
            gettext("Dial through a _modem"),
            Switch,
        ),
        f(
            "modem.dial_command",
            G::Modem,
            gettext("D_ial command"),
            entry("ATDT"),
        ),
        f(
            "modem.command_timeout",
            G::Modem,
            gettext("Command _timeout"),
            spin(1, 600, Seconds),
        ),
        f(
            "modem.connect_timeout",
            G::Modem,
            gettext("C_onnect timeout"),
            spin(1, 600, Seconds),
        ),
        f(
            "modem.init",
            G::Init,
            gettext("Initialization commands"),
            Control::Strings {
                item: gettext("Command"),
                add: gettext("_Add Command"),
                empty: gettext("No commands: the modem is dialed as it is"),
            },
        ),
        f(
            "modem.numbers",
            G::Numbers,
            gettext("Phone numbers"),
            Control::Strings {
                item: gettext("Number"),
                add: gettext("_Add Number"),
                empty: gettext("No numbers yet"),
            },
        ),
        f(
            "modem.abort",
            G::Abort,
            gettext("Abort responses"),
            Control::Strings {
                item: gettext("Response"),
                add: gettext("Add _Response"),
                empty: gettext(
                    "Only the standard ones: BUSY, NO CARRIER, NO DIALTONE, NO ANSWER, ERROR",
                ),
            },
        ),
        f("login", G::Login, gettext("Login script"), Login),
        f("user", G::SignIn, gettext("_User name"), entry("")),
        f(PASSWORD, G::SignIn, gettext("_Password"), Password),
        f(
            "ppp.auth.methods",
            G::Methods,
            gettext("Authentication methods"),
            Methods,
        ),
        f(
            "ppp.auth.name",
            G::Methods,
            gettext("Authentication _name"),
            entry(""),
        ),
        f(
            "ppp.auth.timeout",
            G::Methods,
            gettext("Time_out"),
            spin(0, ANY, Seconds),
        ),
        f("ppp.ipcp.enabled", G::Ipv4, gettext("_IPv4"), Switch),
        f(
            "ppp.ipcp.local",
            G::Ipv4,
            gettext("_Local address"),
            entry(&gettext("Ask the peer")),
        ),
        f(
            "ppp.ipcp.remote",
            G::Ipv4,
            gettext("_Remote address"),
            entry(&gettext("Not known")),
        ),
        f(
            "ppp.ipcp.request_dns",
            G::Ipv4,
            gettext("Ask for _DNS servers"),
            Switch,
        ),
        f("ppp.ipv6cp.enabled", G::Ipv6, gettext("IPv_6"), Switch),
        f(
            "ppp.ipv6cp.interface_id",
            G::Ipv6,
            gettext("Interface identi_fier"),
            entry(&gettext("Random")),
        ),
        f(
            "network.peer_dns",
            G::Dns,
            gettext("Use the _peer’s DNS servers"),
            Switch,
        ),
        f(
            "network.dns",
            G::Dns,
            gettext("_Own DNS servers"),
            entry("192.0.2.53, 2001:db8::53"),
        ),
        f(
            "network.search",
            G::Dns,
            gettext("Search do_mains"),
            entry("example.com"),
        ),
        f(
            "network.default_route",
            G::Route,
            gettext("_Default route"),
            Switch,
        ),
        f(
            "network.route_metric",
            G::Route,
            gettext("Route _metric"),
            spin(0, ANY, Unit::None),
        ),
        f(
            "network.replace_default_route",
            G::Route,
            gettext("_Replace an existing default route"),
            Switch,
        ),
        f(
            "policy.persist",
            G::Redial,
            gettext("_Redial after the link drops"),
            Switch,
        ),
        f(
            "policy.max_fail",
            G::Redial,
            gettext("_Failures before giving up"),
            spin(0, ANY, Times),
        ),
        f(
            "policy.holdoff",
            G::Redial,
            gettext("First redial _delay"),
            spin(0, ANY, Seconds),
        ),
        f(
            "policy.holdoff_max",
            G::Redial,
            gettext("_Longest redial delay"),
            spin(0, ANY, Seconds),
        ),
        f(
            "policy.idle",
            G::Limits,
            gettext("_Idle time"),
            spin(0, ANY, Seconds),
        ),
        f(
            "policy.demand",
            G::Limits,
            gettext("Dial on dema_nd"),
            Switch,
        ),
        f(
            "policy.max_connect",
            G::Limits,
            gettext("Connect _time limit"),
            spin(0, ANY, Seconds),
        ),
        f(
            "ppp.lcp.mru",
            G::Lcp,
            gettext("Maximum receive _unit"),
            spin(128, 16384, Bytes),
        ),
        f(
            "ppp.lcp.accm",
            G::Lcp,
            gettext("Escaped control characters (ACC_M)"),
            entry("0x00000000"),
        ),
        f(
            "ppp.lcp.magic_number",
            G::Lcp,
            gettext("Ma_gic number"),
            Switch,
        ),
        f(
            "ppp.lcp.pfc",
            G::Lcp,
            gettext("Protocol _field compression"),
            Switch,
        ),
        f(
            "ppp.lcp.acfc",
            G::Lcp,
            gettext("_Address and control field compression"),
            Switch,
        ),
        f(
            "ppp.lcp.echo_interval",
            G::Lcp,
            gettext("_Echo interval"),
            spin(0, ANY, Seconds),
        ),
        f(
            "ppp.lcp.echo_failure",
            G::Lcp,
            gettext("Echo failure _limit"),
            spin(0, ANY, Times),
        ),
        f(
            "ppp.fsm.restart_ms",
            G::Negotiation,
            gettext("Restart _timer"),
            spin(0, ANY, Milliseconds),
        ),
        f(
            "ppp.fsm.max_configure",
            G::Negotiation,
            gettext("Configure _requests"),
            spin(0, 255, Times),
        ),
        f(
            "ppp.fsm.max_terminate",
            G::Negotiation,
            gettext("Term_inate requests"),
            spin(0, 255, Times),
        ),
        f(
            "ppp.fsm.max_failure",
            G::Negotiation,
            gettext("Naks before re_jecting"),
            spin(0, 255, Times),
        ),
        f(
            "ppp.auth.rechallenge_interval",
            G::Answering,
            gettext("C_HAP rechallenge interval"),
            spin(0, ANY, Seconds),
        ),
        f(
            "ppp.ipcp.dns",
            G::Answering,
            gettext("D_NS servers handed out"),
            entry("192.0.2.53"),
        ),
    ]
}

/// Where in the editor a refusal goes: the table's key, and for lists the
/// entry (`modem.numbers[1]`) and the part of it (`login[0].expect`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath {
    /// The key in [`fields`], or the key as given when no field has it
    /// (then the message goes above the pages).
    pub key: String,
    /// The list entry.
    pub index: Option<usize>,
    /// The part of the entry.
    pub part: Option<String>,
}

impl FieldPath {
    fn top(key: &str) -> FieldPath {
        FieldPath {
            key: key.to_string(),
            index: None,
            part: None,
        }
    }

    /// Whether a field of the editor shows it.
    pub fn has_field(&self) -> bool {
        fields().iter().any(|f| f.key == self.key)
    }
}

/// The editor's field for a key or field path as the daemon names it:
/// `modem.numbers[1]` is the second number, `login[0].expect` the first
/// step's text to wait for, `ppp` (IPv4 and IPv6 both off) the IPv4
/// switch. `None` for what no field shows (`version`, unknown keys).
pub fn field_for_key(path: &str) -> Option<FieldPath> {
    let (base, rest) = match path.find('[') {
        Some(at) => (&path[..at], Some(&path[at + 1..])),
        None => (path, None),
    };
    let (index, part) = match rest {
        Some(rest) => {
            let (number, after) = rest.split_once(']')?;
            let part = after.strip_prefix('.').map(str::to_string);
            (Some(number.parse().ok()?), part)
        }
        None => (None, None),
    };
    let key = match base {
        "ppp" => "ppp.ipcp.enabled",
        other => other,
    };
    let spec = fields().into_iter().find(|f| f.key == key)?;
    Some(FieldPath {
        key: spec.key.to_string(),
        index,
        part,
    })
}

/// Where a message goes: at a field, or above everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placed {
    /// At this field, with the message without its path.
    Field(FieldError),
    /// Above the fields.
    Top(String),
}

impl Placed {
    fn into_field_error(self) -> FieldError {
        match self {
            Placed::Field(e) => e,
            Placed::Top(message) => FieldError {
                path: FieldPath::top(""),
                message,
            },
        }
    }
}

/// Places a refusal (`modem.numbers[1]: "x" cannot be dialed`) at its field.
pub fn place(message: &str) -> Placed {
    if let Some((head, problem)) = message.split_once(": ") {
        let looks_like_path = !head.is_empty()
            && head
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._[]".contains(c));
        if looks_like_path {
            if let Some(path) = field_for_key(head) {
                return Placed::Field(FieldError {
                    path,
                    message: problem.to_string(),
                });
            }
        }
    }
    Placed::Top(message.to_string())
}

// ---------------------------------------------------------------------------
// The saving steps, without GTK.
// ---------------------------------------------------------------------------

/// What the editor is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the user.
    Editing,
    /// `Update` is on its way with this profile.
    Saving(Box<Profile>),
    /// `SetSecrets` is on its way.
    SavingPassword,
    /// Closed (or about to): nothing more happens.
    Done,
}

/// What the component must do after a step of [`EditorCore`].
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Call `Update` with this profile's settings.
    Update(Box<Profile>),
    /// Call `SetSecrets` with this password.
    SetPassword(String),
    /// Show the form afresh (it was replaced by the daemon's version).
    Reload,
    /// Say this in passing.
    Toast(String),
    /// Open the page of the first error and focus its field.
    ShowErrors,
    /// Ask whether to discard the changes.
    ConfirmDiscard,
    /// Send this to the parent and close.
    Finish(EditorOutput),
}

/// The editor's state and its steps: messages in, effects out.
#[derive(Clone, Debug)]
pub struct EditorCore {
    /// The profile's object path.
    pub path: String,
    /// The daemon's version the form started from.
    pub base: Profile,
    /// What the user sees and edits.
    pub form: EditorForm,
    /// Whether the daemon has a password for the profile.
    pub has_secrets: bool,
    /// What is going on.
    pub phase: Phase,
    /// Settings the daemon accepted in this session, while the password
    /// still has to be saved.
    pub saved: Option<Profile>,
    /// Refusals at their fields.
    pub errors: Vec<FieldError>,
    /// A failure not about one field: summary and details.
    pub top_error: Option<(String, String)>,
    /// The daemon's newer version, not loaded because of unsaved edits.
    pub elsewhere: Option<Profile>,
    /// The profile was deleted on the daemon.
    pub removed: bool,
}

impl EditorCore {
    /// The editor for a profile as the daemon sent it; `Err` says, for
    /// people, why it cannot be edited.
    pub fn new(info: &ProfileInfo) -> Result<EditorCore, String> {
        let base = from_settings(&info.settings).map_err(|e| {
            fill(
                &gettext("Its settings could not be read: {error}"),
                &[("error", &e.to_string())],
            )
        })?;
        Ok(EditorCore {
            path: info.path.clone(),
            form: EditorForm::from_profile(&base),
            base,
            has_secrets: info.has_secrets,
            phase: Phase::Editing,
            saved: None,
            errors: Vec::new(),
            top_error: None,
            elsewhere: None,
            removed: false,
        })
    }

    /// Whether the form differs from the daemon's version.
    pub fn is_dirty(&self) -> bool {
        let mut form = self.form.clone();
        form.set(PASSWORD, Value::Text(String::new()));
        form != EditorForm::from_profile(&self.base) || !self.form.password().is_empty()
    }

    /// Whether a call is on its way.
    pub fn is_busy(&self) -> bool {
        matches!(self.phase, Phase::Saving(_) | Phase::SavingPassword)
    }

    /// Changes a value (clearing the errors at that field).
    pub fn set(&mut self, key: &str, value: Value) {
        self.form.set(key, value);
        self.errors.retain(|e| e.path.key != key);
    }

    /// Save: checks the form, then asks for `Update` (or, when these
    /// settings were already saved, only for the password).
    pub fn save(&mut self) -> Vec<Effect> {
        if self.is_busy() || self.phase == Phase::Done || self.removed {
            return Vec::new();
        }
        self.top_error = None;
        self.errors.clear();
        match self.form.to_profile() {
            Err(errors) => {
                self.place_all(errors);
                vec![Effect::ShowErrors]
            }
            Ok(profile) => {
                if self.saved.as_ref() == Some(&profile) && !self.form.password().is_empty() {
                    self.phase = Phase::SavingPassword;
                    vec![Effect::SetPassword(self.form.password().to_string())]
                } else {
                    self.phase = Phase::Saving(Box::new(profile.clone()));
                    vec![Effect::Update(Box::new(profile))]
                }
            }
        }
    }

    fn place_all(&mut self, errors: Vec<FieldError>) {
        for e in errors {
            if e.path.has_field() {
                self.errors.push(e);
            } else {
                let detail = if e.path.key.is_empty() {
                    e.message
                } else {
                    format!("{}: {}", e.path.key, e.message)
                };
                self.top_error = Some((gettext("The settings cannot be saved."), detail));
            }
        }
    }

    fn refused(&mut self, error: &CallError) -> Vec<Effect> {
        match error {
            CallError::InvalidArgument { message, .. } => match place(message) {
                Placed::Field(e) => {
                    self.errors.push(e);
                    vec![Effect::ShowErrors]
                }
                Placed::Top(m) => {
                    self.top_error = Some((gettext("The service refused the settings."), m));
                    Vec::new()
                }
            },
            other => {
                self.top_error = Some(call_problem(other));
                Vec::new()
            }
        }
    }

    /// `Update` answered.
    pub fn updated(&mut self, result: Result<(), CallError>) -> Vec<Effect> {
        let Phase::Saving(profile) = std::mem::replace(&mut self.phase, Phase::Editing) else {
            return Vec::new();
        };
        match result {
            Ok(()) => {
                self.base = (*profile).clone();
                self.saved = Some(*profile);
                self.elsewhere = None;
                if self.form.password().is_empty() {
                    self.phase = Phase::Done;
                    vec![Effect::Finish(EditorOutput::Saved(self.path.clone()))]
                } else {
                    self.phase = Phase::SavingPassword;
                    vec![Effect::SetPassword(self.form.password().to_string())]
                }
            }
            Err(e) => self.refused(&e),
        }
    }

    /// `SetSecrets` answered.
    pub fn password_set(&mut self, result: Result<(), CallError>) -> Vec<Effect> {
        if self.phase != Phase::SavingPassword {
            return Vec::new();
        }
        match result {
            Ok(()) => {
                self.phase = Phase::Done;
                vec![Effect::Finish(EditorOutput::Saved(self.path.clone()))]
            }
            Err(e) => {
                // The settings were saved before: say so at the password.
                self.phase = Phase::Editing;
                let detail = match &e {
                    CallError::InvalidArgument { message, .. } => match place(message) {
                        Placed::Field(f) => f.message,
                        Placed::Top(m) => m,
                    },
                    other => {
                        let (summary, detail) = call_problem(other);
                        format!("{summary} {detail}")
                    }
                };
                self.errors.retain(|e| e.path.key != PASSWORD);
                self.errors.push(FieldError {
                    path: FieldPath::top(PASSWORD),
                    message: fill(
                        &gettext(
                            "The other settings were saved, but the password was not: {error}",
                        ),
                        &[("error", &detail)],
                    ),
                });
                vec![Effect::ShowErrors]
            }
        }
    }

    /// The daemon's profile changed.
    pub fn changed(&mut self, info: &ProfileInfo) -> Vec<Effect> {
        self.has_secrets = info.has_secrets;
        let Ok(theirs) = from_settings(&info.settings) else {
            return Vec::new();
        };
        let ours = match &self.phase {
            Phase::Saving(p) => Some(&**p),
            _ => self.saved.as_ref(),
        };
        if theirs == self.base || ours == Some(&theirs) || self.phase == Phase::Done {
            return Vec::new();
        }
        if self.is_dirty() || self.is_busy() {
            self.elsewhere = Some(theirs);
            return Vec::new();
        }
        self.load(theirs);
        vec![
            Effect::Reload,
            Effect::Toast(gettext(
                "This connection was changed elsewhere; its new settings are shown.",
            )),
        ]
    }

    /// Loads the daemon's newer version, discarding the edits (the typed
    /// password is kept).
    pub fn take_theirs(&mut self) -> Vec<Effect> {
        match self.elsewhere.take() {
            Some(theirs) if !self.is_busy() => {
                self.load(theirs);
                vec![Effect::Reload]
            }
            other => {
                self.elsewhere = other;
                Vec::new()
            }
        }
    }

    fn load(&mut self, profile: Profile) {
        let password = self.form.password().to_string();
        self.form = EditorForm::from_profile(&profile);
        self.form.set(PASSWORD, Value::Text(password));
        self.base = profile;
        self.saved = None;
        self.errors.clear();
        self.top_error = None;
        self.elsewhere = None;
    }

    /// The profile was deleted.
    pub fn removed(&mut self) {
        self.removed = true;
        self.elsewhere = None;
    }

    /// The user asked to close.
    pub fn close(&mut self) -> Vec<Effect> {
        if self.is_busy() || self.phase == Phase::Done {
            Vec::new()
        } else if self.is_dirty() && !self.removed {
            vec![Effect::ConfirmDiscard]
        } else {
            self.phase = Phase::Done;
            vec![Effect::Finish(EditorOutput::Closed)]
        }
    }

    /// The user chose to discard the changes.
    pub fn discard(&mut self) -> Vec<Effect> {
        if self.is_busy() || self.phase == Phase::Done {
            return Vec::new();
        }
        self.phase = Phase::Done;
        vec![Effect::Finish(EditorOutput::Closed)]
    }
}

/// A failed call for people: what happened, and the daemon's words.
pub fn call_problem(error: &CallError) -> (String, String) {
    let summary = match error {
        CallError::NotAuthorized(_) => {
            gettext("Not allowed: changing connections needs an administrator’s permission.")
        }
        CallError::InvalidArgument { .. } => gettext("The service refused the settings."),
        CallError::NotFound(_) => gettext("This connection no longer exists."),
        CallError::Busy(_) => gettext("The connection is in use."),
        CallError::DeviceUnavailable(_) => gettext("The serial port cannot be opened."),
        CallError::Unreachable(_) => gettext("The Dialtone service is not running."),
        CallError::Failed(_) => gettext("The Dialtone service could not do this."),
    };
    (summary, error.to_string())
}

// ---------------------------------------------------------------------------
// The component.
// ---------------------------------------------------------------------------

/// What the editor starts with.
#[derive(Clone, Debug)]
pub struct EditorInit {
    /// The profile as the daemon has it.
    pub profile: ProfileInfo,
    /// The daemon's methods.
    pub calls: Calls,
    /// Whether this user may change profiles.
    pub permission: Permission,
}

/// The editor's messages: the first three from the parent.
#[derive(Debug)]
pub enum EditorInput {
    /// The daemon's profile changed.
    Changed(ProfileInfo),
    /// The profile was deleted on the daemon.
    Removed,
    /// The `modify` permission changed.
    Permission(Permission),
    /// A control changed (the window's own).
    Set(&'static str, Value),
    /// A list changed (the window's own).
    List(&'static str, ListOp),
    /// The login script changed (the window's own).
    Login(LoginOp),
    /// Save was pressed (the window's own).
    Save,
    /// Close was asked for (the window's own).
    Close,
    /// The changes are to be discarded (the window's own).
    Discard,
    /// Load the daemon's newer version (the window's own).
    TakeTheirs,
}

/// What the editor tells its parent; the window has closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EditorOutput {
    /// The daemon saved the profile at this path.
    Saved(String),
    /// Closed without saving.
    Closed,
}

/// The answers of the daemon's calls.
#[derive(Debug)]
pub enum EditorCommand {
    /// `Update` answered.
    Updated(Result<(), CallError>),
    /// `SetSecrets` answered.
    PasswordSet(Result<(), CallError>),
}

/// The profile editor.
pub struct Editor {
    core: Option<EditorCore>,
    calls: Calls,
    permission: Permission,
    /// Set once the output was sent: the window may then close. Until
    /// then a close request goes to [`EditorCore::close`].
    finished: Rc<Cell<bool>>,
}

/// The widgets of one field.
struct FieldWidgets {
    spec: FieldSpec,
    /// The row, styled as invalid.
    row: gtk::Widget,
    /// What gets the focus.
    focus: gtk::Widget,
    /// The message under the row.
    error: ui::ErrorRow,
    control: ControlWidgets,
}

enum ControlWidgets {
    Entry(gtk::Entry),
    Password(gtk::PasswordEntry, adw::ActionRow),
    Switch(gtk::Switch),
    Spin(gtk::SpinButton),
    Choice(adw::ComboRow, Vec<Value>),
    Strings(Rc<ui::StringsEditor>),
    Login(Rc<ui::LoginEditor>),
    Methods(Vec<(String, gtk::CheckButton)>),
}

/// The editor's widgets.
pub struct EditorWidgets {
    title: adw::WindowTitle,
    save: ui::BusyButton,
    cancel: ui::TextButton,
    stack: gtk::Stack,
    content: gtk::Widget,
    fields: Vec<FieldWidgets>,
    pages: BTreeMap<Page, adw::PreferencesPage>,
    error_banner: ui::Banner,
    elsewhere_banner: ui::Banner,
    removed_banner: ui::Banner,
    toasts: adw::ToastOverlay,
}

impl Component for Editor {
    type CommandOutput = EditorCommand;
    type Input = EditorInput;
    type Output = EditorOutput;
    type Init = EditorInit;
    type Root = adw::Window;
    type Widgets = EditorWidgets;

    fn init_root() -> Self::Root {
        adw::Window::builder()
            .modal(true)
            .default_width(880)
            .default_height(680)
            .width_request(360)
            .build()
    }

    fn init(
        init: Self::Init,
        root: Self::Root,
        sender: ComponentSender<Self>,
    ) -> ComponentParts<Self> {
        ui::install_css();
        let core = EditorCore::new(&init.profile);
        let finished = Rc::new(Cell::new(false));
        let name = match &core {
            Ok(core) => core.base.name.clone(),
            Err(_) => init.profile.name.clone(),
        };
        root.set_title(Some(&edit_title(&name)));

        let title = adw::WindowTitle::new(&edit_title(&name), "");
        let header = adw::HeaderBar::builder()
            .title_widget(&title)
            .show_end_title_buttons(false)
            .show_start_title_buttons(false)
            .build();
        let cancel = ui::TextButton::new(&gettext("_Cancel"));
        header.pack_start(&cancel.button);
        let save = ui::BusyButton::new(&gettext("_Save"));
        header.pack_end(&save.button);

        let toasts = adw::ToastOverlay::new();
        let outer = gtk::Box::new(gtk::Orientation::Vertical, 0);
        outer.append(&header);
        outer.append(&toasts);
        root.set_content(Some(&outer));

        let error_banner = ui::Banner::new("dialog-error-symbolic", &["dialtone-error"]);
        let elsewhere_banner =
            ui::Banner::new("dialog-information-symbolic", &["dialtone-warning"]);
        elsewhere_banner.set_button(&gettext("_Discard My Changes"));
        let removed_banner = ui::Banner::new("user-trash-symbolic", &["dialtone-warning"]);
        removed_banner.set(
            &gettext("This connection was deleted elsewhere."),
            &gettext("It can no longer be saved."),
        );

        let column = gtk::Box::new(gtk::Orientation::Vertical, 0);
        toasts.set_child(Some(&column));
        for banner in [&error_banner, &elsewhere_banner, &removed_banner] {
            column.append(&banner.revealer);
        }

        let stack = gtk::Stack::builder()
            .transition_type(gtk::StackTransitionType::Crossfade)
            .hexpand(true)
            .vexpand(true)
            .build();
        let mut fields = Vec::new();
        let mut pages = BTreeMap::new();

        let content: gtk::Widget = match &core {
            Ok(core) => {
                let sidebar = gtk::StackSidebar::builder()
                    .stack(&stack)
                    .width_request(210)
                    .vexpand(true)
                    .build();
                sidebar.add_css_class("dialtone-sidebar");
                let split = gtk::Box::new(gtk::Orientation::Horizontal, 0);
                split.append(&sidebar);
                split.append(&gtk::Separator::new(gtk::Orientation::Vertical));
                split.append(&stack);
                build_pages(
                    &stack,
                    &mut pages,
                    &mut fields,
                    &core.form,
                    core.has_secrets,
                    &sender,
                );
                split.upcast()
            }
            Err(why) => {
                let status = adw::StatusPage::builder()
                    .icon_name("dialog-error-symbolic")
                    .title(gettext("This Connection Cannot Be Edited"))
                    .description(why.as_str())
                    .vexpand(true)
                    .build();
                save.button.set_visible(false);
                cancel.set_label(&gettext("_Close"));
                status.upcast()
            }
        };
        column.append(&content);

        // Buttons and keys.
        {
            let s = sender.clone();
            save.button
                .connect_clicked(move |_| s.input(EditorInput::Save));
            let window = root.clone();
            cancel.button.connect_clicked(move |_| {
                window.close();
            });
            let s = sender.clone();
            elsewhere_banner
                .button
                .button
                .connect_clicked(move |_| s.input(EditorInput::TakeTheirs));
        }
        // Before the focused widget sees them (a list takes Ctrl+Page Down).
        let shortcuts = gtk::ShortcutController::new();
        shortcuts.set_propagation_phase(gtk::PropagationPhase::Capture);
        for (trigger, step) in [("<Control>Page_Down", 1i32), ("<Control>Page_Up", -1)] {
            // The next or previous page, from the keyboard anywhere.
            let stack = stack.clone();
            shortcuts.add_shortcut(gtk::Shortcut::new(
                gtk::ShortcutTrigger::parse_string(trigger),
                Some(gtk::CallbackAction::new(move |_, _| {
                    let current = stack
                        .visible_child_name()
                        .and_then(|name| Page::ALL.iter().position(|p| p.id() == name));
                    if let Some(at) = current {
                        let next = (at as i32 + step).rem_euclid(Page::ALL.len() as i32);
                        stack.set_visible_child_name(Page::ALL[next as usize].id());
                    }
                    glib::Propagation::Stop
                })),
            ));
        }
        {
            let s = sender.clone();
            shortcuts.add_shortcut(gtk::Shortcut::new(
                gtk::ShortcutTrigger::parse_string("<Control>s"),
                Some(gtk::CallbackAction::new(move |_, _| {
                    s.input(EditorInput::Save);
                    glib::Propagation::Stop
                })),
            ));
        }
        root.add_controller(shortcuts);
        {
            let s = sender.clone();
            ui::ask_before_closing(&root, finished.clone(), move || s.input(EditorInput::Close));
        }

        let model = Editor {
            core: core.ok(),
            calls: init.calls,
            permission: init.permission,
            finished,
        };
        let mut widgets = EditorWidgets {
            title,
            save,
            cancel,
            stack,
            content,
            fields,
            pages,
            error_banner,
            elsewhere_banner,
            removed_banner,
            toasts,
        };
        model.refresh(&mut widgets);
        ui::present_later(&root, widgets.fields.first().map(|f| f.focus.clone()));
        ComponentParts { model, widgets }
    }

    fn update_with_view(
        &mut self,
        widgets: &mut Self::Widgets,
        message: Self::Input,
        sender: ComponentSender<Self>,
        root: &Self::Root,
    ) {
        let Some(core) = self.core.as_mut() else {
            // A profile that cannot be edited: only closing.
            if matches!(message, EditorInput::Close) {
                self.run(
                    vec![Effect::Finish(EditorOutput::Closed)],
                    widgets,
                    &sender,
                    root,
                );
            }
            return;
        };
        let effects = match message {
            EditorInput::Changed(info) => core.changed(&info),
            EditorInput::Removed => {
                core.removed();
                Vec::new()
            }
            EditorInput::Permission(p) => {
                self.permission = p;
                Vec::new()
            }
            EditorInput::Set(key, value) => {
                if core.form.get(key) == Some(&value) {
                    return;
                }
                core.set(key, value);
                Vec::new()
            }
            EditorInput::List(key, op) => {
                let structural = !matches!(op, ListOp::Set(..));
                let focus = core.form.edit_list(key, op);
                core.errors.retain(|e| e.path.key != key);
                if structural {
                    if let Some(f) = widgets.fields.iter().find(|f| f.spec.key == key) {
                        if let ControlWidgets::Strings(list) = &f.control {
                            if let Some(Value::List(items)) = core.form.get(key) {
                                list.rebuild(items);
                                list.focus(focus);
                            }
                        }
                    }
                }
                Vec::new()
            }
            EditorInput::Login(op) => {
                let structural = !matches!(op, LoginOp::Edit(..));
                let focus = core.form.edit_login(op);
                core.errors.retain(|e| e.path.key != "login");
                if let Some(f) = widgets.fields.iter().find(|f| f.spec.key == "login") {
                    if let (ControlWidgets::Login(list), Some(Value::Steps(steps))) =
                        (&f.control, core.form.get("login"))
                    {
                        if structural {
                            list.rebuild(steps);
                            list.focus(focus);
                        } else {
                            list.refresh_titles(steps);
                        }
                    }
                }
                Vec::new()
            }
            EditorInput::Save => {
                if self.permission.usable() {
                    core.save()
                } else {
                    Vec::new()
                }
            }
            EditorInput::Close => core.close(),
            EditorInput::Discard => core.discard(),
            EditorInput::TakeTheirs => core.take_theirs(),
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
        let Some(core) = self.core.as_mut() else {
            return;
        };
        let effects = match message {
            EditorCommand::Updated(r) => core.updated(r),
            EditorCommand::PasswordSet(r) => core.password_set(r),
        };
        self.run(effects, widgets, &sender, root);
        self.refresh(widgets);
    }
}

fn edit_title(name: &str) -> String {
    fill(&gettext("Edit “{name}”"), &[("name", name)])
}

impl Editor {
    fn run(
        &mut self,
        effects: Vec<Effect>,
        widgets: &mut EditorWidgets,
        sender: &ComponentSender<Self>,
        root: &adw::Window,
    ) {
        for effect in effects {
            match effect {
                Effect::Update(profile) => {
                    let (calls, path) = (self.calls.clone(), self.path());
                    let settings = to_settings(&profile);
                    sender.oneshot_command(async move {
                        EditorCommand::Updated(calls.update(&path, settings).await)
                    });
                }
                Effect::SetPassword(password) => {
                    let (calls, path) = (self.calls.clone(), self.path());
                    sender.oneshot_command(async move {
                        EditorCommand::PasswordSet(calls.set_password(&path, &password).await)
                    });
                }
                Effect::Reload => {
                    if let Some(core) = &self.core {
                        load_widgets(widgets, &core.form, core.has_secrets);
                    }
                }
                Effect::Toast(text) => widgets.toasts.add_toast(adw::Toast::new(&text)),
                Effect::ShowErrors => {
                    self.refresh(widgets);
                    show_first_error(widgets, self.core.as_ref());
                }
                Effect::ConfirmDiscard => {
                    let s = sender.clone();
                    ui::confirm_discard(root, move || s.input(EditorInput::Discard));
                }
                Effect::Finish(output) => {
                    self.finished.set(true);
                    let _ = sender.output(output);
                    root.close();
                }
            }
        }
    }

    fn path(&self) -> String {
        self.core
            .as_ref()
            .map(|c| c.path.clone())
            .unwrap_or_default()
    }

    /// Brings every widget's state (not the values typed) up to the model.
    fn refresh(&self, widgets: &mut EditorWidgets) {
        let Some(core) = &self.core else {
            return;
        };
        let busy = core.is_busy();
        let may = self.permission.usable();
        widgets.save.set_busy(busy);
        widgets.save.set_locked(self.permission == Permission::Auth);
        widgets.save.button.set_visible(may);
        widgets
            .save
            .button
            .set_sensitive(!busy && !core.removed && core.phase != Phase::Done);
        widgets.cancel.button.set_sensitive(!busy);
        widgets.content.set_sensitive(!busy && may);
        widgets.title.set_title(&edit_title(&core.base.name));
        widgets.title.set_subtitle(&match self.permission {
            Permission::Auth => gettext("You will be asked for an administrator password"),
            Permission::No => gettext("You are not allowed to change connections"),
            Permission::Yes => String::new(),
        });

        match &core.top_error {
            Some((summary, detail)) => {
                widgets.error_banner.set(summary, detail);
                widgets.error_banner.revealer.set_reveal_child(true);
            }
            None => widgets.error_banner.revealer.set_reveal_child(false),
        }
        widgets.elsewhere_banner.set(
            &gettext("This connection was changed elsewhere."),
            &gettext("Saving replaces those changes with yours."),
        );
        widgets
            .elsewhere_banner
            .revealer
            .set_reveal_child(core.elsewhere.is_some());
        widgets
            .removed_banner
            .revealer
            .set_reveal_child(core.removed);

        let mut attention: BTreeMap<Page, bool> = BTreeMap::new();
        for f in &widgets.fields {
            let errors: Vec<&FieldError> = core
                .errors
                .iter()
                .filter(|e| e.path.key == f.spec.key)
                .collect();
            let relevant = core.form.is_relevant(f.spec.key);
            f.row.set_sensitive(relevant);
            let message = errors
                .iter()
                .map(|e| match e.path.index {
                    Some(i) if !matches!(f.control, ControlWidgets::Methods(_)) => fill(
                        &gettext("Entry {n}: {message}"),
                        &[("n", &(i + 1).to_string()), ("message", &e.message)],
                    ),
                    _ => e.message.clone(),
                })
                .collect::<Vec<_>>()
                .join("\n");
            let invalid = !errors.is_empty();
            ui::mark_invalid(&f.row, &f.focus, invalid.then_some(message.as_str()));
            f.error.show(invalid.then_some(message.as_str()));
            match &f.control {
                ControlWidgets::Strings(list) => list.mark(
                    &errors
                        .iter()
                        .filter_map(|e| e.path.index)
                        .collect::<Vec<_>>(),
                ),
                ControlWidgets::Login(list) => list.mark(
                    &errors
                        .iter()
                        .filter_map(|e| e.path.index)
                        .collect::<Vec<_>>(),
                ),
                ControlWidgets::Password(_, row) => row.set_subtitle(&password_note(core)),
                _ => {}
            }
            *attention.entry(f.spec.group.page()).or_default() |= invalid;
        }
        for (page, widget) in &widgets.pages {
            widgets
                .stack
                .page(widget)
                .set_needs_attention(attention.get(page).copied().unwrap_or(false));
        }
    }
}

fn password_note(core: &EditorCore) -> String {
    if !core.form.password().is_empty() {
        gettext("The new password is saved with the settings")
    } else if core.has_secrets {
        gettext("A password is stored; type a new one to replace it")
    } else {
        gettext("No password is stored")
    }
}

/// Opens the page of the first error and focuses its field.
fn show_first_error(widgets: &EditorWidgets, core: Option<&EditorCore>) {
    let Some(core) = core else { return };
    let Some(first) = core.errors.first() else {
        return;
    };
    let Some(f) = widgets.fields.iter().find(|f| f.spec.key == first.path.key) else {
        return;
    };
    if let Some(page) = widgets.pages.get(&f.spec.group.page()) {
        widgets.stack.set_visible_child(page);
    }
    let target = match (&f.control, first.path.index) {
        (ControlWidgets::Strings(list), Some(i)) => list.item(i).unwrap_or(f.focus.clone()),
        (ControlWidgets::Login(list), Some(i)) => list.item(i).unwrap_or(f.focus.clone()),
        _ => f.focus.clone(),
    };
    let row = f.row.clone();
    // After the page switch has laid the page out.
    glib::idle_add_local_once(move || {
        ui::scroll_to(&row);
        target.grab_focus();
    });
}

/// Builds every page, group and row from [`fields`].
fn build_pages(
    stack: &gtk::Stack,
    pages: &mut BTreeMap<Page, adw::PreferencesPage>,
    widgets: &mut Vec<FieldWidgets>,
    form: &EditorForm,
    has_secrets: bool,
    sender: &ComponentSender<Editor>,
) {
    for page in Page::ALL {
        let p = adw::PreferencesPage::builder()
            .title(page.title())
            .icon_name(page.icon())
            .build();
        stack.add_titled(&p, Some(page.id()), &page.title());
        pages.insert(page, p);
    }
    let mut groups: BTreeMap<Group, adw::PreferencesGroup> = BTreeMap::new();
    for spec in fields() {
        let group = groups
            .entry(spec.group)
            .or_insert_with(|| {
                let g = adw::PreferencesGroup::builder()
                    .title(spec.group.title())
                    .build();
                pages[&spec.group.page()].add(&g);
                g
            })
            .clone();
        let value = form.get(spec.key).cloned();
        widgets.push(build_field(&group, spec, value, has_secrets, sender));
    }
}

fn build_field(
    group: &adw::PreferencesGroup,
    spec: FieldSpec,
    value: Option<Value>,
    has_secrets: bool,
    sender: &ComponentSender<Editor>,
) -> FieldWidgets {
    let key = spec.key;
    let title = spec.title.clone();
    let description = spec.description();
    let action_row = || {
        let row = adw::ActionRow::builder()
            .title(title.as_str())
            .use_underline(true)
            .subtitle(description.as_str())
            .build();
        row.set_subtitle_lines(0);
        row
    };
    let error = ui::ErrorRow::new();
    let (row, focus, control): (gtk::Widget, gtk::Widget, ControlWidgets) = match &spec.control {
        Control::Entry { hint } => {
            let row = action_row();
            let entry = gtk::Entry::new();
            entry.set_valign(gtk::Align::Center);
            entry.set_width_chars(22);
            entry.set_placeholder_text(Some(hint.as_str()));
            if let Some(Value::Text(t)) = &value {
                entry.set_text(t);
            }
            let s = sender.clone();
            entry.connect_changed(move |e| {
                s.input(EditorInput::Set(key, Value::Text(e.text().to_string())))
            });
            row.add_suffix(&entry);
            row.set_activatable_widget(Some(&entry));
            (
                row.upcast(),
                entry.clone().upcast(),
                ControlWidgets::Entry(entry),
            )
        }
        Control::Password => {
            let row = action_row();
            let entry = gtk::PasswordEntry::new();
            entry.set_valign(gtk::Align::Center);
            entry.set_show_peek_icon(true);
            entry.set_width_chars(22);
            entry.set_placeholder_text(Some(&if has_secrets {
                gettext("Unchanged")
            } else {
                gettext("Not set")
            }));
            let s = sender.clone();
            entry.connect_changed(move |e| {
                s.input(EditorInput::Set(key, Value::Text(e.text().to_string())))
            });
            row.add_suffix(&entry);
            row.set_activatable_widget(Some(&entry));
            (
                row.clone().upcast(),
                entry.clone().upcast(),
                ControlWidgets::Password(entry, row),
            )
        }
        Control::Switch => {
            let row = action_row();
            let switch = gtk::Switch::new();
            switch.set_valign(gtk::Align::Center);
            if let Some(Value::Bool(b)) = &value {
                switch.set_active(*b);
            }
            let s = sender.clone();
            switch.connect_active_notify(move |sw| {
                s.input(EditorInput::Set(key, Value::Bool(sw.is_active())))
            });
            row.add_suffix(&switch);
            row.set_activatable_widget(Some(&switch));
            (
                row.upcast(),
                switch.clone().upcast(),
                ControlWidgets::Switch(switch),
            )
        }
        Control::Spin { min, max, unit } => {
            let row = action_row();
            let spin = gtk::SpinButton::with_range(f64::from(*min), f64::from(*max), 1.0);
            spin.set_increments(1.0, 10.0);
            spin.set_valign(gtk::Align::Center);
            spin.set_numeric(true);
            spin.set_digits(0);
            spin.set_width_chars(6);
            if let Some(Value::Number(n)) = &value {
                spin.set_value(f64::from(*n));
            }
            let s = sender.clone();
            spin.connect_value_changed(move |sp| {
                let n = sp.value().round().clamp(0.0, f64::from(u32::MAX)) as u32;
                s.input(EditorInput::Set(key, Value::Number(n)))
            });
            row.add_suffix(&spin);
            let unit = unit.label();
            if !unit.is_empty() {
                let label = gtk::Label::new(Some(&unit));
                label.add_css_class("dim-label");
                label.set_width_chars(5);
                label.set_xalign(0.0);
                row.add_suffix(&label);
            }
            row.set_activatable_widget(Some(&spin));
            (
                row.upcast(),
                spin.clone().upcast(),
                ControlWidgets::Spin(spin),
            )
        }
        Control::Choice(options) => {
            let labels: Vec<&str> = options.iter().map(|(_, l)| l.as_str()).collect();
            let model = gtk::StringList::new(&labels);
            let row = adw::ComboRow::new();
            row.set_title(&title);
            row.set_use_underline(true);
            row.set_subtitle(&description);
            row.set_model(Some(&model));
            row.set_subtitle_lines(0);
            let values: Vec<Value> = options.iter().map(|(v, _)| v.clone()).collect();
            if let Some(i) = value
                .as_ref()
                .and_then(|v| values.iter().position(|o| o == v))
            {
                row.set_selected(i as u32);
            }
            let s = sender.clone();
            let choices = values.clone();
            row.connect_selected_notify(move |r| {
                if let Some(v) = choices.get(r.selected() as usize) {
                    s.input(EditorInput::Set(key, v.clone()))
                }
            });
            (
                row.clone().upcast(),
                row.clone().upcast(),
                ControlWidgets::Choice(row, values),
            )
        }
        Control::Strings { item, add, empty } => {
            group.set_description(Some(&description));
            let items = match &value {
                Some(Value::List(items)) => items.clone(),
                _ => Vec::new(),
            };
            let list = ui::StringsEditor::new(group, key, item, add, empty, sender);
            list.rebuild(&items);
            let first = list.add_button.clone().upcast();
            (group.clone().upcast(), first, ControlWidgets::Strings(list))
        }
        Control::Login => {
            // The key's description is its D-Bus form; people get words.
            group.set_description(Some(&gettext(
                "Some dial-in servers ask for the user name and password as text before PPP starts. Each step waits for a text, then sends something.",
            )));
            let steps = match &value {
                Some(Value::Steps(steps)) => steps.clone(),
                _ => Vec::new(),
            };
            let list = ui::LoginEditor::new(group, sender);
            list.rebuild(&steps);
            let first = list.add_button.clone().upcast();
            (group.clone().upcast(), first, ControlWidgets::Login(list))
        }
        Control::Methods => {
            group.set_description(Some(&description));
            let on = match &value {
                Some(Value::List(words)) => words.clone(),
                _ => Vec::new(),
            };
            let mut checks = Vec::new();
            let first_row = adw::ActionRow::new();
            for (i, (word, label)) in METHODS.iter().enumerate() {
                let row = if i == 0 {
                    first_row.clone()
                } else {
                    adw::ActionRow::new()
                };
                row.set_title(&gettext(*label));
                row.set_use_underline(true);
                row.set_subtitle(&match *word {
                    "pap" => gettext("Sends the password in clear text"),
                    "chap-md5" => gettext("Proves the password without sending it"),
                    _ => gettext("Microsoft’s challenge-response; also checks the server"),
                });
                let check = gtk::CheckButton::new();
                check.set_valign(gtk::Align::Center);
                check.set_active(on.iter().any(|w| w == word));
                check.add_css_class("selection-mode");
                row.add_prefix(&check);
                row.set_activatable_widget(Some(&check));
                group.add(&row);
                checks.push((word.to_string(), check));
            }
            let checks_for_handler = checks.clone();
            for (_, check) in &checks {
                let s = sender.clone();
                let all = checks_for_handler.clone();
                let original = on.clone();
                check.connect_toggled(move |_| {
                    s.input(EditorInput::Set(
                        key,
                        Value::List(checked_methods(&all, &original)),
                    ))
                });
            }
            let focus = checks[0].1.clone().upcast();
            (first_row.upcast(), focus, ControlWidgets::Methods(checks))
        }
    };
    match &spec.control {
        Control::Strings { .. } | Control::Login | Control::Methods => {
            group.add(&error.label_box);
        }
        _ => {
            group.add(&row);
            group.add(&error.row);
        }
    }
    FieldWidgets {
        spec,
        row,
        focus,
        error,
        control,
    }
}

/// The checked methods' words: in the profile's order for those it had,
/// then newly checked ones strongest first.
fn checked_methods(checks: &[(String, gtk::CheckButton)], original: &[String]) -> Vec<String> {
    let on: Vec<&String> = checks
        .iter()
        .filter(|(_, c)| c.is_active())
        .map(|(w, _)| w)
        .collect();
    ordered_methods(&on, original)
}

/// The words in `on` ordered as in `original`, then the rest in `METHODS`
/// order.
fn ordered_methods(on: &[&String], original: &[String]) -> Vec<String> {
    let mut out: Vec<String> = original
        .iter()
        .filter(|w| on.contains(w))
        .cloned()
        .collect();
    for (word, _) in METHODS {
        if on.iter().any(|w| *w == word) && !out.iter().any(|w| w == word) {
            out.push(word.to_string());
        }
    }
    out
}

/// Shows the form's values in every control (after loading the daemon's
/// newer version).
fn load_widgets(widgets: &EditorWidgets, form: &EditorForm, has_secrets: bool) {
    for f in &widgets.fields {
        let value = form.get(f.spec.key);
        match (&f.control, value) {
            (ControlWidgets::Entry(e), Some(Value::Text(t))) if e.text().as_str() != t => {
                e.set_text(t)
            }
            (ControlWidgets::Password(e, _), Some(Value::Text(t))) => {
                if e.text().as_str() != t {
                    e.set_text(t);
                }
                e.set_placeholder_text(Some(&if has_secrets {
                    gettext("Unchanged")
                } else {
                    gettext("Not set")
                }));
            }
            (ControlWidgets::Switch(s), Some(Value::Bool(b))) => s.set_active(*b),
            (ControlWidgets::Spin(s), Some(Value::Number(n))) => s.set_value(f64::from(*n)),
            (ControlWidgets::Choice(row, values), Some(v)) => {
                if let Some(i) = values.iter().position(|o| o == v) {
                    row.set_selected(i as u32);
                }
            }
            (ControlWidgets::Strings(list), Some(Value::List(items))) => list.rebuild(items),
            (ControlWidgets::Login(list), Some(Value::Steps(steps))) => list.rebuild(steps),
            (ControlWidgets::Methods(checks), Some(Value::List(words))) => {
                for (word, check) in checks {
                    check.set_active(words.contains(word));
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Widgets shared with the new-connection assistant.
// ---------------------------------------------------------------------------

pub(crate) mod ui {
    use super::*;

    /// Escape closes the window; closing it (by any means) sends `ask`
    /// instead until `finished` is set, so the window can ask about
    /// unsaved work or a running call first.
    pub(crate) fn ask_before_closing(
        window: &adw::Window,
        finished: Rc<Cell<bool>>,
        ask: impl Fn() + 'static,
    ) {
        let w = window.clone();
        crate::log::add_shortcuts(window, &["Escape"], move || {
            w.close();
        });
        window.connect_close_request(move |_| {
            if finished.get() {
                glib::Propagation::Proceed
            } else {
                ask();
                glib::Propagation::Stop
            }
        });
    }

    const CSS: &str = "
.dialtone-banner {
  padding: 10px 14px;
  border-radius: 12px;
  margin: 12px 12px 0 12px;
}
.dialtone-banner.inline { margin: 0; }
.dialtone-banner.dialtone-error { background-color: alpha(@error_bg_color, 0.14); }
.dialtone-banner.dialtone-error > image { color: @error_color; }
.dialtone-banner.dialtone-warning { background-color: alpha(@warning_bg_color, 0.18); }
.dialtone-banner.dialtone-warning > image { color: @warning_color; }
.dialtone-banner .title { font-weight: bold; }
row.dialtone-error-row {
  min-height: 0;
  padding: 6px 12px 8px 12px;
  background-color: alpha(@error_bg_color, 0.08);
}
row.dialtone-error-row label, box.dialtone-error-label label, box.dialtone-error-label image,
row.dialtone-error-row image { color: @error_color; }
box.dialtone-error-label { margin-top: 6px; }
row.dialtone-invalid { background-color: alpha(@error_bg_color, 0.10); }
row.dialtone-invalid > box > box > box > label.title { color: @error_color; }
.dialtone-note { margin-top: 6px; }
";

    /// Loads the windows' few styles, once.
    pub(crate) fn install_css() {
        thread_local! {
            static DONE: Cell<bool> = const { Cell::new(false) };
        }
        if DONE.with(|d| d.replace(true)) {
            return;
        }
        let provider = gtk::CssProvider::new();
        provider.load_from_data(CSS);
        if let Some(display) = gtk::gdk::Display::default() {
            gtk::style_context_add_provider_for_display(
                &display,
                &provider,
                gtk::STYLE_PROVIDER_PRIORITY_APPLICATION,
            );
        }
    }

    /// A new widget of type `T` with an accessible name, for controls
    /// without a label of their own (icon buttons). GTK 4.8's bindings
    /// cannot set it on a built widget (that API came with 4.10), but a
    /// builder template can, as `.ui` files do. Controls in rows need none:
    /// libadwaita names them after the row's title.
    pub(crate) fn named<T: IsA<gtk::Widget> + IsA<glib::Object>>(name: &str) -> T {
        let class = T::static_type().name();
        let xml = format!(
            "<interface><object class=\"{class}\" id=\"w\"><accessibility>\
             <property name=\"label\">{}</property></accessibility></object></interface>",
            glib::markup_escape_text(name)
        );
        gtk::Builder::from_string(&xml)
            .object::<T>("w")
            .unwrap_or_else(|| panic!("GTK builds a {class}"))
    }

    /// Marks a row and its control invalid (or valid again). The
    /// message is also the control's tooltip (its accessible description),
    /// besides the line under the row.
    pub(crate) fn mark_invalid(row: &gtk::Widget, control: &gtk::Widget, message: Option<&str>) {
        match message {
            Some(message) => {
                if row.is::<adw::EntryRow>() || row.is::<adw::PasswordEntryRow>() {
                    row.add_css_class("error");
                } else if row.is::<gtk::ListBoxRow>() {
                    row.add_css_class("dialtone-invalid");
                }
                if control.is::<gtk::Entry>()
                    || control.is::<gtk::SpinButton>()
                    || control.is::<gtk::PasswordEntry>()
                {
                    control.add_css_class("error");
                }
                control.set_tooltip_text(Some(message));
            }
            None => {
                row.remove_css_class("error");
                row.remove_css_class("dialtone-invalid");
                control.remove_css_class("error");
                control.set_tooltip_text(None);
            }
        }
    }

    /// A message under a row: a row of its own in the same list (hidden
    /// while there is nothing to say), or, for lists, a line under the
    /// group.
    pub(crate) struct ErrorRow {
        /// The row, for groups of single settings.
        pub row: adw::PreferencesRow,
        /// The line, for groups that are one list.
        pub label_box: gtk::Box,
        row_label: gtk::Label,
        box_label: gtk::Label,
    }

    impl ErrorRow {
        pub(crate) fn new() -> ErrorRow {
            let make = || {
                let b = gtk::Box::new(gtk::Orientation::Horizontal, 8);
                let icon = gtk::Image::from_icon_name("dialog-error-symbolic");
                icon.set_valign(gtk::Align::Start);
                let label = gtk::Label::builder()
                    .wrap(true)
                    .xalign(0.0)
                    .hexpand(true)
                    .selectable(true)
                    .build();
                label.add_css_class("caption");
                b.append(&icon);
                b.append(&label);
                (b, label)
            };
            let (inner, row_label) = make();
            let row = adw::PreferencesRow::builder()
                .activatable(false)
                .selectable(false)
                .focusable(false)
                .visible(false)
                .child(&inner)
                .build();
            row.add_css_class("dialtone-error-row");
            let (label_box, box_label) = make();
            label_box.add_css_class("dialtone-error-label");
            label_box.set_visible(false);
            ErrorRow {
                row,
                label_box,
                row_label,
                box_label,
            }
        }

        pub(crate) fn show(&self, message: Option<&str>) {
            let text = message.unwrap_or("");
            self.row_label.set_text(text);
            self.box_label.set_text(text);
            self.row.set_visible(message.is_some());
            self.label_box.set_visible(message.is_some());
        }
    }

    /// A button showing a label with a mnemonic (`_Cancel`). Its label is
    /// its mnemonic label, so assistive technologies read "Cancel" (GTK
    /// 4.8's own button label would also give them the raw "_Cancel").
    pub(crate) struct TextButton {
        pub button: gtk::Button,
        label: gtk::Label,
    }

    impl TextButton {
        pub(crate) fn new(mnemonic: &str) -> TextButton {
            let label = gtk::Label::with_mnemonic(mnemonic);
            let button = gtk::Button::builder().child(&label).build();
            label.set_mnemonic_widget(Some(&button));
            TextButton { button, label }
        }

        pub(crate) fn set_label(&self, mnemonic: &str) {
            self.label.set_text_with_mnemonic(mnemonic);
        }
    }

    /// A suggested-action button with a spinner for while its call is on
    /// its way and a lock for when it asks for a password.
    pub(crate) struct BusyButton {
        pub button: gtk::Button,
        lock: gtk::Image,
        spinner: gtk::Spinner,
        label: gtk::Label,
    }

    impl BusyButton {
        /// `mnemonic` is the label (`C_reate`); without its underline it is
        /// also the button's accessible name (the label is its mnemonic
        /// label, so assistive technologies read it).
        pub(crate) fn new(mnemonic: &str) -> BusyButton {
            let label = gtk::Label::with_mnemonic(mnemonic);
            let lock = gtk::Image::from_icon_name("changes-prevent-symbolic");
            lock.set_visible(false);
            let spinner = gtk::Spinner::new();
            spinner.set_visible(false);
            let inner = gtk::Box::new(gtk::Orientation::Horizontal, 6);
            inner.set_halign(gtk::Align::Center);
            inner.append(&spinner);
            inner.append(&lock);
            inner.append(&label);
            let button = gtk::Button::builder().child(&inner).build();
            button.add_css_class("suggested-action");
            label.set_mnemonic_widget(Some(&button));
            BusyButton {
                button,
                lock,
                spinner,
                label,
            }
        }

        pub(crate) fn set_busy(&self, busy: bool) {
            self.spinner.set_visible(busy);
            self.spinner.set_spinning(busy);
            if busy {
                self.lock.set_visible(false);
            }
            self.button.set_tooltip_text(
                busy.then(|| gettext("Waiting for the Dialtone service…"))
                    .as_deref(),
            );
        }

        pub(crate) fn set_locked(&self, locked: bool) {
            self.lock.set_visible(locked && !self.spinner.is_visible());
            self.lock.set_tooltip_text(
                locked
                    .then(|| gettext("You will be asked for an administrator password"))
                    .as_deref(),
            );
        }

        pub(crate) fn set_label(&self, mnemonic: &str) {
            self.label.set_text_with_mnemonic(mnemonic);
        }
    }

    /// A message across the top of a window: an icon, a bold summary, the
    /// details, and possibly a button.
    pub(crate) struct Banner {
        pub revealer: gtk::Revealer,
        title: gtk::Label,
        detail: gtk::Label,
        pub button: TextButton,
    }

    impl Banner {
        pub(crate) fn new(icon: &str, classes: &[&str]) -> Banner {
            let b = gtk::Box::new(gtk::Orientation::Horizontal, 12);
            b.add_css_class("dialtone-banner");
            for c in classes {
                b.add_css_class(c);
            }
            let image = gtk::Image::from_icon_name(icon);
            image.set_valign(gtk::Align::Start);
            image.set_margin_top(2);
            let text = gtk::Box::new(gtk::Orientation::Vertical, 2);
            text.set_hexpand(true);
            let title = gtk::Label::builder().wrap(true).xalign(0.0).build();
            title.add_css_class("title");
            let detail = gtk::Label::builder().wrap(true).xalign(0.0).build();
            detail.add_css_class("caption");
            text.append(&title);
            text.append(&detail);
            let button = TextButton::new("");
            button.button.set_valign(gtk::Align::Center);
            button.button.set_visible(false);
            b.append(&image);
            b.append(&text);
            b.append(&button.button);
            let revealer = gtk::Revealer::builder()
                .child(&b)
                .transition_type(gtk::RevealerTransitionType::SlideDown)
                .build();
            Banner {
                revealer,
                title,
                detail,
                button,
            }
        }

        pub(crate) fn set(&self, title: &str, detail: &str) {
            self.title.set_text(title);
            self.detail.set_text(detail);
            self.detail.set_visible(!detail.is_empty());
        }

        pub(crate) fn set_button(&self, mnemonic: &str) {
            self.button.set_label(mnemonic);
            self.button.button.set_visible(true);
        }
    }

    /// Presents a window once the main loop runs (after relm4 has made it
    /// transient for its parent), focusing a widget.
    pub(crate) fn present_later(window: &adw::Window, focus: Option<gtk::Widget>) {
        let window = window.clone();
        glib::idle_add_local_once(move || {
            window.present();
            if let Some(w) = focus {
                w.grab_focus();
            }
        });
    }

    /// Scrolls the nearest scrolled window so that `widget` (and a
    /// message under it) is in view, once the window has laid out what
    /// just changed.
    pub(crate) fn scroll_to(widget: &gtk::Widget) {
        let widget = widget.clone();
        glib::timeout_add_local_once(std::time::Duration::from_millis(80), move || {
            let mut parent = widget.parent();
            while let Some(p) = parent {
                if let Some(sw) = p.downcast_ref::<gtk::ScrolledWindow>() {
                    // The content inside the scrolled window's viewport, whose
                    // coordinates do not move with the scrolling.
                    let content = sw.child().and_then(|c| {
                        if c.is::<gtk::Viewport>() {
                            c.first_child()
                        } else {
                            Some(c)
                        }
                    });
                    let point = content.and_then(|c| {
                        widget.compute_point(&c, &gtk::graphene::Point::new(0.0, 0.0))
                    });
                    if let Some(point) = point {
                        let adj = sw.vadjustment();
                        let top = f64::from(point.y()) - 24.0;
                        let bottom = f64::from(point.y()) + f64::from(widget.height()) + 72.0;
                        if top < adj.value() {
                            adj.set_value(top.max(0.0));
                        } else if bottom > adj.value() + adj.page_size() {
                            adj.set_value(bottom - adj.page_size());
                        }
                    }
                    return;
                }
                parent = p.parent();
            }
        });
    }

    /// Asks whether to discard unsaved changes.
    pub(crate) fn confirm_discard(parent: &adw::Window, discard: impl Fn() + 'static) {
        let dialog = adw::MessageDialog::new(
            Some(parent),
            Some(&gettext("Discard Changes?")),
            Some(&gettext(
                "The changes to this connection have not been saved.",
            )),
        );
        dialog.add_response("keep", &gettext("_Keep Editing"));
        dialog.add_response("discard", &gettext("_Discard"));
        dialog.set_response_appearance("discard", adw::ResponseAppearance::Destructive);
        dialog.set_default_response(Some("keep"));
        dialog.set_close_response("keep");
        dialog.connect_response(None, move |_, response| {
            if response == "discard" {
                discard();
            }
        });
        dialog.present();
    }

    fn icon_button(icon: &str, tooltip: &str) -> gtk::Button {
        let b: gtk::Button = named(tooltip);
        b.set_icon_name(icon);
        b.set_valign(gtk::Align::Center);
        b.add_css_class("flat");
        b.set_tooltip_text(Some(tooltip));
        b
    }

    fn add_button(mnemonic: &str) -> gtk::Button {
        let content = adw::ButtonContent::builder()
            .icon_name("list-add-symbolic")
            .label(mnemonic)
            .use_underline(true)
            .build();
        let b = gtk::Button::builder().child(&content).build();
        b.add_css_class("flat");
        b
    }

    /// Up, down and remove buttons for entry `i` of `len`.
    fn item_buttons(
        i: usize,
        len: usize,
        what: &str,
        send: impl Fn(ListOp) + Clone + 'static,
    ) -> Vec<gtk::Button> {
        let n = (i + 1).to_string();
        let up = icon_button(
            "go-up-symbolic",
            &fill(&gettext("Move {what} {n} up"), &[("what", what), ("n", &n)]),
        );
        up.set_sensitive(i > 0);
        let down = icon_button(
            "go-down-symbolic",
            &fill(
                &gettext("Move {what} {n} down"),
                &[("what", what), ("n", &n)],
            ),
        );
        down.set_sensitive(i + 1 < len);
        let remove = icon_button(
            "user-trash-symbolic",
            &fill(&gettext("Remove {what} {n}"), &[("what", what), ("n", &n)]),
        );
        let s = send.clone();
        up.connect_clicked(move |_| s(ListOp::MoveUp(i)));
        let s = send.clone();
        down.connect_clicked(move |_| s(ListOp::MoveDown(i)));
        remove.connect_clicked(move |_| send(ListOp::Remove(i)));
        vec![up, down, remove]
    }

    /// An editable list of texts in its own group: one entry row per item
    /// with up, down and remove buttons, and an add button in the header.
    pub(crate) struct StringsEditor {
        group: adw::PreferencesGroup,
        key: &'static str,
        item: String,
        empty: String,
        pub add_button: gtk::Button,
        rows: RefCell<Vec<adw::EntryRow>>,
        placeholder: adw::ActionRow,
        sender: ComponentSender<Editor>,
    }

    impl StringsEditor {
        pub(crate) fn new(
            group: &adw::PreferencesGroup,
            key: &'static str,
            item: &str,
            add: &str,
            empty: &str,
            sender: &ComponentSender<Editor>,
        ) -> Rc<StringsEditor> {
            let add_button = add_button(add);
            let s = sender.clone();
            add_button.connect_clicked(move |_| s.input(EditorInput::List(key, ListOp::Add)));
            group.set_header_suffix(Some(&add_button));
            let placeholder = adw::ActionRow::builder().title(empty).build();
            placeholder.add_css_class("dim-label");
            group.add(&placeholder);
            Rc::new(StringsEditor {
                group: group.clone(),
                key,
                item: item.to_string(),
                empty: empty.to_string(),
                add_button,
                rows: RefCell::new(Vec::new()),
                placeholder,
                sender: sender.clone(),
            })
        }

        /// Shows these items (after an add, remove or move).
        pub(crate) fn rebuild(&self, items: &[String]) {
            for row in self.rows.borrow_mut().drain(..) {
                self.group.remove(&row);
            }
            self.placeholder.set_visible(items.is_empty());
            self.placeholder.set_title(&self.empty);
            let key = self.key;
            // As the list names its items ("Number"): nouns keep their case
            // in every language (German capitalises them).
            let what = self.item.clone();
            let mut rows = self.rows.borrow_mut();
            for (i, text) in items.iter().enumerate() {
                let title = format!("{} {}", self.item, i + 1);
                let row = adw::EntryRow::new();
                row.set_title(&title);
                row.set_text(text);
                let s = self.sender.clone();
                row.connect_changed(move |r| {
                    s.input(EditorInput::List(key, ListOp::Set(i, r.text().to_string())))
                });
                let s = self.sender.clone();
                for b in item_buttons(i, items.len(), &what, move |op| {
                    s.input(EditorInput::List(key, op))
                }) {
                    row.add_suffix(&b);
                }
                self.group.add(&row);
                rows.push(row);
            }
        }

        /// Focuses an entry's text (or the add button).
        pub(crate) fn focus(&self, index: Option<usize>) {
            match index.and_then(|i| self.item(i)) {
                Some(w) => {
                    w.grab_focus();
                }
                None => {
                    self.add_button.grab_focus();
                }
            }
        }

        /// An entry's row.
        pub(crate) fn item(&self, index: usize) -> Option<gtk::Widget> {
            self.rows.borrow().get(index).map(|r| r.clone().upcast())
        }

        /// Marks the entries at these indexes invalid.
        pub(crate) fn mark(&self, invalid: &[usize]) {
            for (i, row) in self.rows.borrow().iter().enumerate() {
                if invalid.contains(&i) {
                    row.add_css_class("error");
                } else {
                    row.remove_css_class("error");
                }
            }
        }
    }

    /// The login script: one expander row per step (wait for, then send,
    /// the text, the timeout), with up, down and remove buttons.
    pub(crate) struct LoginEditor {
        group: adw::PreferencesGroup,
        pub add_button: gtk::Button,
        rows: RefCell<Vec<(adw::ExpanderRow, gtk::Widget)>>,
        placeholder: adw::ActionRow,
        sender: ComponentSender<Editor>,
    }

    fn step_title(i: usize, step: &Step) -> String {
        if step.expect.is_empty() {
            fill(&gettext("Step {n}"), &[("n", &(i + 1).to_string())])
        } else {
            fill(
                &gettext("Wait for “{text}”"),
                &[("text", step.expect.as_str())],
            )
        }
    }

    fn step_subtitle(step: &Step) -> String {
        let what = match step.send {
            SendKind::User => gettext("then send the user name"),
            SendKind::Password => gettext("then send the password"),
            SendKind::Text if step.text.is_empty() => gettext("then send an empty line"),
            SendKind::Text => fill(
                &gettext("then send “{text}”"),
                &[("text", step.text.as_str())],
            ),
        };
        fill(
            &gettext("{what}, within {seconds} s"),
            &[("what", &what), ("seconds", &step.timeout.to_string())],
        )
    }

    impl LoginEditor {
        pub(crate) fn new(
            group: &adw::PreferencesGroup,
            sender: &ComponentSender<Editor>,
        ) -> Rc<LoginEditor> {
            let add_button = add_button(&gettext("Add S_tep"));
            let s = sender.clone();
            add_button.connect_clicked(move |_| s.input(EditorInput::Login(LoginOp::Add)));
            group.set_header_suffix(Some(&add_button));
            let placeholder = adw::ActionRow::builder()
                .title(gettext(
                    "No text login: PPP starts as soon as the modem connects",
                ))
                .build();
            placeholder.add_css_class("dim-label");
            group.add(&placeholder);
            Rc::new(LoginEditor {
                group: group.clone(),
                add_button,
                rows: RefCell::new(Vec::new()),
                placeholder,
                sender: sender.clone(),
            })
        }

        pub(crate) fn rebuild(&self, steps: &[Step]) {
            for (row, _) in self.rows.borrow_mut().drain(..) {
                self.group.remove(&row);
            }
            self.placeholder.set_visible(steps.is_empty());
            let mut rows = self.rows.borrow_mut();
            for (i, step) in steps.iter().enumerate() {
                let send = {
                    let s = self.sender.clone();
                    move |edit: StepEdit| s.input(EditorInput::Login(LoginOp::Edit(i, edit)))
                };
                let expander = adw::ExpanderRow::builder()
                    .title(step_title(i, step).as_str())
                    .subtitle(step_subtitle(step).as_str())
                    .build();
                let s = self.sender.clone();
                let buttons = item_buttons(i, steps.len(), &gettext("step"), move |op| {
                    let op = match op {
                        ListOp::MoveUp(i) => LoginOp::MoveUp(i),
                        ListOp::MoveDown(i) => LoginOp::MoveDown(i),
                        ListOp::Remove(i) => LoginOp::Remove(i),
                        ListOp::Add | ListOp::Set(..) => LoginOp::Add,
                    };
                    s.input(EditorInput::Login(op))
                });
                // Each action goes before the ones added earlier.
                for b in buttons.iter().rev() {
                    expander.add_action(b);
                }

                let expect = adw::EntryRow::new();
                expect.set_title(&gettext("Wait for"));
                expect.set_text(&step.expect);
                let s = send.clone();
                expect.connect_changed(move |r| s(StepEdit::Expect(r.text().to_string())));
                expander.add_row(&expect);

                let labels: Vec<String> = SendKind::ALL.iter().map(|k| k.label()).collect();
                let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
                let kind = adw::ComboRow::new();
                kind.set_title(&gettext("Then send"));
                kind.set_model(Some(&gtk::StringList::new(&label_refs)));
                kind.set_selected(
                    SendKind::ALL
                        .iter()
                        .position(|k| *k == step.send)
                        .unwrap_or(0) as u32,
                );
                expander.add_row(&kind);

                let text = adw::EntryRow::new();
                text.set_title(&gettext("Text to send"));
                text.set_visible(step.send == SendKind::Text);
                text.set_text(&step.text);
                let s = send.clone();
                text.connect_changed(move |r| s(StepEdit::Text(r.text().to_string())));
                expander.add_row(&text);

                let s = send.clone();
                let text_row = text.clone();
                kind.connect_selected_notify(move |r| {
                    let k = SendKind::ALL
                        .get(r.selected() as usize)
                        .copied()
                        .unwrap_or(SendKind::Text);
                    text_row.set_visible(k == SendKind::Text);
                    s(StepEdit::Send(k))
                });

                let timeout_row = adw::ActionRow::builder()
                    .title(gettext("Timeout").as_str())
                    .build();
                let spin = gtk::SpinButton::with_range(1.0, 600.0, 1.0);
                spin.set_increments(1.0, 10.0);
                spin.set_numeric(true);
                spin.set_valign(gtk::Align::Center);
                spin.set_value(f64::from(step.timeout));
                let s = send.clone();
                spin.connect_value_changed(move |sp| {
                    s(StepEdit::Timeout(sp.value().round() as u32))
                });
                timeout_row.add_suffix(&spin);
                let unit = gtk::Label::new(Some(&gettext("s")));
                unit.add_css_class("dim-label");
                timeout_row.add_suffix(&unit);
                timeout_row.set_activatable_widget(Some(&spin));
                expander.add_row(&timeout_row);

                self.group.add(&expander);
                rows.push((expander, expect.upcast()));
            }
        }

        pub(crate) fn refresh_titles(&self, steps: &[Step]) {
            for (i, ((row, _), step)) in self.rows.borrow().iter().zip(steps).enumerate() {
                row.set_title(&step_title(i, step));
                row.set_subtitle(&step_subtitle(step));
            }
        }

        pub(crate) fn focus(&self, index: Option<usize>) {
            match index.and_then(|i| self.rows.borrow().get(i).cloned()) {
                Some((row, expect)) => {
                    row.set_expanded(true);
                    expect.grab_focus();
                }
                None => {
                    self.add_button.grab_focus();
                }
            }
        }

        pub(crate) fn item(&self, index: usize) -> Option<gtk::Widget> {
            self.rows.borrow().get(index).map(|(row, expect)| {
                row.set_expanded(true);
                expect.clone()
            })
        }

        pub(crate) fn mark(&self, invalid: &[usize]) {
            for (i, (row, _)) in self.rows.borrow().iter().enumerate() {
                if invalid.contains(&i) {
                    row.add_css_class("dialtone-invalid");
                    row.set_expanded(true);
                } else {
                    row.remove_css_class("dialtone-invalid");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialtone_api::profile::{Carrier, FlowControl};
    use std::collections::BTreeSet;

    /// A profile with every field away from its default.
    fn every_field() -> Profile {
        let mut p = Profile::new("Example ISP");
        p.line.device = "/dev/ttyUSB3".into();
        p.line.speed = 57_600;
        p.line.flow_control = FlowControl::Software;
        p.line.carrier = Carrier::Local;
        p.modem = Some(Modem {
            init: vec!["ATZ".into(), "AT&F1".into()],
            dial_command: "ATDP".into(),
            numbers: vec!["555-0100".into(), "555-0199".into()],
            abort: vec!["VOICE".into()],
            command_timeout: 7,
            connect_timeout: 90,
        });
        p.login = vec![
            LoginStep {
                expect: "ogin:--ogin:".into(),
                send: LoginSend::User,
                timeout: 20,
            },
            LoginStep {
                expect: "ssword:".into(),
                send: LoginSend::Password,
                timeout: 25,
            },
            LoginStep {
                expect: "$".into(),
                send: LoginSend::Text("ppp".into()),
                timeout: 15,
            },
        ];
        p.user = "someone".into();
        p.ppp.fsm.restart_ms = 2500;
        p.ppp.fsm.max_configure = 12;
        p.ppp.fsm.max_terminate = 3;
        p.ppp.fsm.max_failure = 6;
        p.ppp.lcp.mru = 1400;
        p.ppp.lcp.accm = 0x000a_0000;
        p.ppp.lcp.magic_number = false;
        p.ppp.lcp.pfc = false;
        p.ppp.lcp.acfc = false;
        p.ppp.lcp.echo_interval = 20;
        p.ppp.lcp.echo_failure = 5;
        p.ppp.auth.methods.retain(|m| m.to_string() != "MS-CHAPv2");
        p.ppp.auth.methods.reverse();
        p.ppp.auth.name = "me".into();
        p.ppp.auth.timeout = 40;
        p.ppp.auth.rechallenge_interval = 60;
        p.ppp.ipcp.local = Some("10.0.0.2".parse().unwrap());
        p.ppp.ipcp.remote = Some("10.0.0.1".parse().unwrap());
        p.ppp.ipcp.request_dns = false;
        p.ppp.ipcp.dns = vec!["10.0.0.53".parse().unwrap()];
        p.ppp.ipv6cp.interface_id = Some([0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55]);
        p.network.default_route = false;
        p.network.route_metric = 600;
        p.network.replace_default_route = true;
        p.network.peer_dns = false;
        p.network.dns = vec![
            "192.0.2.53".parse().unwrap(),
            "2001:db8::53".parse().unwrap(),
        ];
        p.network.search = vec!["example.com".into(), "example.net".into()];
        p.policy.persist = true;
        p.policy.max_fail = 3;
        p.policy.holdoff = 10;
        p.policy.holdoff_max = 120;
        p.policy.idle = 600;
        p.policy.demand = true;
        p.policy.max_connect = 3600;
        p.validate().expect("the test profile is valid");
        p
    }

    #[test]
    fn every_setting_has_a_field() {
        let table: BTreeSet<&str> = fields().iter().map(|f| f.key).collect();
        for (key, _, _) in KEYS {
            if *key == "version" {
                continue;
            }
            assert!(table.contains(key), "{key} has no widget in the editor");
        }
        let keys: BTreeSet<&str> = KEYS.iter().map(|(k, _, _)| *k).collect();
        for key in &table {
            assert!(
                keys.contains(key) || *key == PASSWORD,
                "{key} is not a setting"
            );
        }
        assert_eq!(table.len(), fields().len(), "a key is in the table twice");
        assert!(!table.contains("version"));
    }

    #[test]
    fn every_field_has_a_value_and_a_description() {
        let form = EditorForm::from_profile(&Profile::new("x"));
        for spec in fields() {
            let value = form
                .get(spec.key)
                .unwrap_or_else(|| panic!("{} has no value", spec.key));
            let fits = match (&spec.control, value) {
                (Control::Entry { .. } | Control::Password, Value::Text(_)) => true,
                (Control::Switch, Value::Bool(_)) => true,
                (Control::Spin { .. }, Value::Number(_)) => true,
                (Control::Choice(options), v) => options.iter().any(|(o, _)| o == v),
                (Control::Strings { .. } | Control::Methods, Value::List(_)) => true,
                (Control::Login, Value::Steps(_)) => true,
                _ => false,
            };
            assert!(fits, "{}: {:?} in a {:?}", spec.key, value, spec.control);
            if spec.key != PASSWORD {
                assert!(!spec.description().is_empty(), "{}", spec.key);
            }
            assert!(
                spec.title.contains('_')
                    || matches!(
                        spec.control,
                        Control::Strings { .. } | Control::Login | Control::Methods
                    ),
                "{} has no mnemonic",
                spec.key
            );
        }
    }

    #[test]
    fn mnemonics_are_unique_per_page() {
        for page in Page::ALL {
            // The header's Cancel and Save are on every page.
            let mut seen =
                BTreeMap::from([('c', "_Cancel".to_string()), ('s', "_Save".to_string())]);
            for spec in fields().iter().filter(|f| f.group.page() == page) {
                let mut titles = vec![spec.title.clone()];
                match &spec.control {
                    Control::Strings { add, .. } => titles = vec![add.clone()],
                    Control::Login => titles = vec![gettext("Add S_tep")],
                    Control::Methods => {
                        titles = METHODS.iter().map(|(_, l)| l.to_string()).collect()
                    }
                    _ => {}
                }
                for title in titles {
                    let Some(at) = title.find('_') else { continue };
                    let key = title[at + 1..].chars().next().unwrap().to_ascii_lowercase();
                    if let Some(other) = seen.insert(key, title.clone()) {
                        panic!("{page:?}: “{title}” and “{other}” share Alt+{key}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_form_round_trips_every_field() {
        for p in [every_field(), Profile::new("Defaults"), {
            let mut direct = every_field();
            direct.modem = None;
            direct.login.clear();
            direct
        }] {
            let form = EditorForm::from_profile(&p);
            assert_eq!(form.to_profile(), Ok(p.clone()));
            // Through the daemon's settings and back, as Save sends them.
            let settings = form.to_settings().unwrap();
            assert_eq!(from_settings(&settings), Ok(p.clone()));
            assert_eq!(to_settings(&p).len(), settings.len(), "{}", p.name);
        }
    }

    #[test]
    fn every_field_changes_the_profile() {
        // Each control's value reaches the profile: set every field of the
        // defaults' form to the every-field profile's value, one at a
        // time, and the profile changes.
        let base = Profile::new("x");
        let other = EditorForm::from_profile(&every_field());
        for spec in fields() {
            if spec.key == PASSWORD || spec.key.starts_with("modem.") && spec.key != "modem.enabled"
            {
                continue;
            }
            let mut form = EditorForm::from_profile(&base);
            let mut value = other.get(spec.key).unwrap().clone();
            if Some(&value) == form.get(spec.key) {
                // Both protocols are on in either profile.
                match value {
                    Value::Bool(b) => value = Value::Bool(!b),
                    _ => panic!("{}: the every-field profile has the default", spec.key),
                }
            }
            form.set(spec.key, value);
            if spec.key == "login" {
                form.set("user", Value::Text("u".into()));
            }
            if spec.key == "modem.enabled" {
                form.set("modem.numbers", Value::List(vec!["1".into()]));
            }
            if spec.key == "policy.holdoff" {
                form.set("policy.holdoff_max", Value::Number(300));
            }
            let p = form
                .to_profile()
                .unwrap_or_else(|e| panic!("{}: {e:?}", spec.key));
            assert_ne!(p, base, "{} does not reach the profile", spec.key);
            // And the profile shows that one change, read from its place.
            assert_eq!(
                EditorForm::from_profile(&p),
                form,
                "{} does not read back",
                spec.key
            );
        }
        // The modem's own fields, with a modem.
        let mut with_modem = base.clone();
        with_modem.modem = Some(Modem {
            numbers: vec!["1".into()],
            ..Modem::default()
        });
        for key in [
            "modem.init",
            "modem.dial_command",
            "modem.numbers",
            "modem.abort",
            "modem.command_timeout",
            "modem.connect_timeout",
        ] {
            let mut form = EditorForm::from_profile(&with_modem);
            form.set(key, other.get(key).unwrap().clone());
            let p = form.to_profile().unwrap();
            assert_ne!(p, with_modem, "{key}");
            assert_eq!(
                EditorForm::from_profile(&p),
                form,
                "{key} does not read back"
            );
        }
    }

    #[test]
    fn switching_the_modem_off_and_on_keeps_defaults() {
        let mut form = EditorForm::from_profile(&Profile::new("Direct"));
        assert_eq!(form.get("modem.enabled"), Some(&Value::Bool(false)));
        assert_eq!(
            form.get("modem.init"),
            Some(&Value::List(vec!["ATZ".into()]))
        );
        assert!(!form.is_relevant("modem.numbers"));
        form.set("modem.enabled", Value::Bool(true));
        assert!(form.is_relevant("modem.numbers"));
        // A modem needs a number: the daemon's own check, at the field.
        let errors = form.to_profile().unwrap_err();
        assert_eq!(errors[0].path.key, "modem.numbers");
        form.edit_list("modem.numbers", ListOp::Add);
        form.edit_list("modem.numbers", ListOp::Set(0, "555 0100".into()));
        let p = form.to_profile().unwrap();
        assert_eq!(p.modem.unwrap().numbers, ["555 0100"]);
    }

    #[test]
    fn lists_are_edited() {
        let mut form = EditorForm::from_profile(&every_field());
        let numbers = |f: &EditorForm| match f.get("modem.numbers") {
            Some(Value::List(v)) => v.clone(),
            _ => panic!(),
        };
        assert_eq!(form.edit_list("modem.numbers", ListOp::Add), Some(2));
        assert_eq!(
            form.edit_list("modem.numbers", ListOp::Set(2, "555-0111".into())),
            Some(2)
        );
        assert_eq!(form.edit_list("modem.numbers", ListOp::MoveUp(2)), Some(1));
        assert_eq!(numbers(&form), ["555-0100", "555-0111", "555-0199"]);
        assert_eq!(form.edit_list("modem.numbers", ListOp::MoveUp(0)), None);
        assert_eq!(form.edit_list("modem.numbers", ListOp::MoveDown(2)), None);
        assert_eq!(
            form.edit_list("modem.numbers", ListOp::MoveDown(0)),
            Some(1)
        );
        assert_eq!(numbers(&form), ["555-0111", "555-0100", "555-0199"]);
        assert_eq!(form.edit_list("modem.numbers", ListOp::Remove(2)), Some(1));
        assert_eq!(form.edit_list("modem.numbers", ListOp::Remove(7)), None);
        assert_eq!(numbers(&form), ["555-0111", "555-0100"]);
        assert_eq!(
            form.to_profile().unwrap().modem.unwrap().numbers,
            ["555-0111", "555-0100"]
        );
        // Not a list: nothing happens.
        assert_eq!(form.edit_list("user", ListOp::Add), None);
    }

    #[test]
    fn login_steps_are_edited() {
        let mut form = EditorForm::from_profile(&every_field());
        assert_eq!(form.edit_login(LoginOp::MoveDown(0)), Some(1));
        assert_eq!(
            form.edit_login(LoginOp::Edit(2, StepEdit::Send(SendKind::User))),
            Some(2)
        );
        assert_eq!(form.edit_login(LoginOp::Add), Some(3));
        form.edit_login(LoginOp::Edit(3, StepEdit::Expect("$ ".into())));
        form.edit_login(LoginOp::Edit(3, StepEdit::Text("ppp".into())));
        form.edit_login(LoginOp::Edit(3, StepEdit::Timeout(9)));
        let p = form.to_profile().unwrap();
        assert_eq!(p.login[0].expect, "ssword:");
        assert_eq!(p.login[1].send, LoginSend::User);
        // A step switched away from text sends no text, but the form keeps
        // it for switching back.
        assert_eq!(p.login[2].send, LoginSend::User);
        assert_eq!(
            p.login[3],
            LoginStep {
                expect: "$ ".into(),
                send: LoginSend::Text("ppp".into()),
                timeout: 9
            }
        );
        form.edit_login(LoginOp::Edit(2, StepEdit::Send(SendKind::Text)));
        assert_eq!(
            form.to_profile().unwrap().login[2].send,
            LoginSend::Text("ppp".into())
        );
        assert_eq!(form.edit_login(LoginOp::Remove(0)), Some(0));
        assert_eq!(form.to_profile().unwrap().login.len(), 3);
    }

    #[test]
    fn methods_keep_their_order() {
        let on = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        let original = on(&["pap", "chap-md5"]);
        let checked = on(&["chap-md5", "mschapv2", "pap"]);
        let refs: Vec<&String> = checked.iter().collect();
        assert_eq!(
            ordered_methods(&refs, &original),
            ["pap", "chap-md5", "mschapv2"]
        );
        let checked = on(&["chap-md5"]);
        let refs: Vec<&String> = checked.iter().collect();
        assert_eq!(ordered_methods(&refs, &original), ["chap-md5"]);
        let mut form = EditorForm::from_profile(&Profile::new("x"));
        form.set("ppp.auth.methods", Value::List(on(&["pap"])));
        assert_eq!(
            form.to_profile()
                .unwrap()
                .ppp
                .auth
                .methods
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>(),
            ["PAP"]
        );
    }

    #[test]
    fn text_fields_are_parsed_at_their_field() {
        let mut form = EditorForm::from_profile(&Profile::new("x"));
        form.set("ppp.lcp.accm", Value::Text("0xffff".into()));
        form.set(
            "ppp.ipv6cp.interface_id",
            Value::Text("0211 22ff fe33 4455".into()),
        );
        form.set(
            "network.search",
            Value::Text("a.example, b.example c.example".into()),
        );
        form.set("ppp.ipcp.local", Value::Text(" 10.1.1.1 ".into()));
        let p = form.to_profile().unwrap();
        assert_eq!(p.ppp.lcp.accm, 0xffff);
        assert_eq!(
            p.ppp.ipv6cp.interface_id,
            Some([0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55])
        );
        assert_eq!(p.network.search, ["a.example", "b.example", "c.example"]);
        assert_eq!(p.ppp.ipcp.local, Some("10.1.1.1".parse().unwrap()));

        form.set("ppp.lcp.accm", Value::Text("lots".into()));
        form.set("ppp.ipv6cp.interface_id", Value::Text("12:34".into()));
        let errors = form.to_profile().unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.path.key.as_str()).collect();
        assert_eq!(keys, ["ppp.lcp.accm", "ppp.ipv6cp.interface_id"]);

        let mut form = EditorForm::from_profile(&Profile::new("x"));
        form.set("network.dns", Value::Text("192.0.2.1, dns.example".into()));
        let errors = form.to_profile().unwrap_err();
        assert_eq!(
            errors[0].path,
            FieldPath {
                key: "network.dns".into(),
                index: Some(1),
                part: None
            }
        );
        assert!(
            !errors[0].message.starts_with("network.dns"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn keys_map_to_their_fields() {
        let path = |key: &str, index: Option<usize>, part: Option<&str>| {
            Some(FieldPath {
                key: key.into(),
                index,
                part: part.map(str::to_string),
            })
        };
        assert_eq!(
            field_for_key("modem.numbers[1]"),
            path("modem.numbers", Some(1), None)
        );
        assert_eq!(
            field_for_key("login[0].expect"),
            path("login", Some(0), Some("expect"))
        );
        assert_eq!(
            field_for_key("line.device"),
            path("line.device", None, None)
        );
        assert_eq!(field_for_key("ppp"), path("ppp.ipcp.enabled", None, None));
        assert_eq!(field_for_key("password"), path(PASSWORD, None, None));
        assert_eq!(field_for_key("version"), None);
        assert_eq!(field_for_key("colour"), None);
        assert_eq!(field_for_key("modem.numbers[x]"), None);
        for (key, _, _) in KEYS.iter().filter(|(k, _, _)| *k != "version") {
            assert_eq!(field_for_key(key).map(|p| p.key), Some(key.to_string()));
        }
    }

    #[test]
    fn refusals_are_placed() {
        assert_eq!(
            place("modem.numbers[1]: 'x' cannot be dialed"),
            Placed::Field(FieldError {
                path: field_for_key("modem.numbers[1]").unwrap(),
                message: "'x' cannot be dialed".into()
            })
        );
        assert_eq!(
            place("the settings are too large: 300 keys"),
            Placed::Top("the settings are too large: 300 keys".into())
        );
        assert_eq!(
            place("version: version 2 is not supported"),
            Placed::Top("version: version 2 is not supported".into())
        );
    }

    fn info(p: &Profile) -> ProfileInfo {
        ProfileInfo {
            path: "/io/github/dialtone/Dialtone1/Profile/isp".into(),
            id: "isp".into(),
            name: p.name.clone(),
            has_secrets: true,
            settings: to_settings(p),
            ..ProfileInfo::default()
        }
    }

    fn invalid(message: &str) -> CallError {
        CallError::InvalidArgument {
            key: crate::daemon::setting_key(message),
            message: message.into(),
        }
    }

    #[test]
    fn unreadable_settings_are_not_edited() {
        let mut bad = info(&Profile::new("x"));
        bad.settings.remove("version");
        let why = EditorCore::new(&bad).unwrap_err();
        assert!(why.contains("version"), "{why}");
    }

    #[test]
    fn saving_sends_the_edited_profile_and_closes_when_confirmed() {
        let p = every_field();
        let mut core = EditorCore::new(&info(&p)).unwrap();
        assert!(!core.is_dirty());
        assert_eq!(core.close(), [Effect::Finish(EditorOutput::Closed)]);
        let mut core = EditorCore::new(&info(&p)).unwrap();
        core.set("user", Value::Text("other".into()));
        assert!(core.is_dirty());
        assert_eq!(core.close(), [Effect::ConfirmDiscard]);
        let effects = core.save();
        let mut expected = p.clone();
        expected.user = "other".into();
        assert_eq!(effects, [Effect::Update(Box::new(expected.clone()))]);
        assert!(core.is_busy());
        assert_eq!(core.save(), [], "one call at a time");
        assert_eq!(core.close(), [], "no closing while saving");
        assert_eq!(
            core.updated(Ok(())),
            [Effect::Finish(EditorOutput::Saved(core.path.clone()))]
        );
        assert_eq!(core.base, expected);
    }

    #[test]
    fn a_refusal_goes_to_its_field_and_keeps_the_form() {
        let p = every_field();
        let mut core = EditorCore::new(&info(&p)).unwrap();
        core.set("line.device", Value::Text("/dev/ttyS9".into()));
        core.save();
        let effects = core.updated(Err(invalid("modem.numbers[1]: \"#\" cannot be dialed")));
        assert_eq!(effects, [Effect::ShowErrors]);
        assert_eq!(core.phase, Phase::Editing);
        assert_eq!(core.errors.len(), 1);
        assert_eq!(core.errors[0].path.key, "modem.numbers");
        assert_eq!(core.errors[0].path.index, Some(1));
        assert_eq!(core.errors[0].message, "\"#\" cannot be dialed");
        assert_eq!(
            core.form.get("line.device"),
            Some(&Value::Text("/dev/ttyS9".into())),
            "nothing typed is lost"
        );
        // Editing the field clears its error.
        core.set("modem.numbers", Value::List(vec!["1".into()]));
        assert!(core.errors.is_empty());

        // Other failures go above the pages.
        core.save();
        core.updated(Err(CallError::NotAuthorized("dismissed".into())));
        assert!(core.errors.is_empty());
        let (summary, detail) = core.top_error.clone().unwrap();
        assert!(summary.contains("Not allowed"), "{summary}");
        assert_eq!(detail, "dismissed");
        // And go away on the next try.
        core.save();
        assert_eq!(core.top_error, None);
    }

    #[test]
    fn local_errors_stop_saving() {
        let mut core = EditorCore::new(&info(&every_field())).unwrap();
        core.set("name", Value::Text("  ".into()));
        core.set("ppp.lcp.accm", Value::Text("0xzz".into()));
        assert_eq!(core.save(), [Effect::ShowErrors]);
        assert_eq!(core.phase, Phase::Editing);
        assert_eq!(core.errors[0].path.key, "ppp.lcp.accm");
        core.set("ppp.lcp.accm", Value::Text("0".into()));
        assert_eq!(core.save(), [Effect::ShowErrors]);
        assert_eq!(core.errors[0].path.key, "name");
    }

    #[test]
    fn a_new_password_is_set_after_the_settings() {
        let p = every_field();
        let mut core = EditorCore::new(&info(&p)).unwrap();
        core.set(PASSWORD, Value::Text("s3cret".into()));
        assert!(core.is_dirty(), "a typed password is a change");
        assert_eq!(core.save(), [Effect::Update(Box::new(p.clone()))]);
        assert_eq!(core.updated(Ok(())), [Effect::SetPassword("s3cret".into())]);
        // The password is refused: said at its field; the settings are saved.
        let effects = core.password_set(Err(invalid("password: longer than 256 bytes")));
        assert_eq!(effects, [Effect::ShowErrors]);
        assert_eq!(core.errors.len(), 1);
        assert_eq!(core.errors[0].path.key, PASSWORD);
        assert!(
            core.errors[0].message.contains("were saved"),
            "{}",
            core.errors[0].message
        );
        // Saving again sends only the password.
        core.set(PASSWORD, Value::Text("shorter".into()));
        assert_eq!(core.save(), [Effect::SetPassword("shorter".into())]);
        assert_eq!(
            core.password_set(Ok(())),
            [Effect::Finish(EditorOutput::Saved(core.path.clone()))]
        );
    }

    #[test]
    fn changes_elsewhere_never_overwrite_edits() {
        let p = every_field();
        let mut theirs = p.clone();
        theirs.user = "changed-by-someone".into();

        // No edits: their version is shown, and said so.
        let mut core = EditorCore::new(&info(&p)).unwrap();
        let effects = core.changed(&info(&theirs));
        assert!(matches!(&effects[..], [Effect::Reload, Effect::Toast(_)]));
        assert_eq!(core.base, theirs);
        assert_eq!(
            core.form.get("user"),
            Some(&Value::Text("changed-by-someone".into()))
        );

        // Edits: kept; the window says so and offers theirs.
        let mut core = EditorCore::new(&info(&p)).unwrap();
        core.set("line.speed", Value::Number(9600));
        assert_eq!(core.changed(&info(&theirs)), []);
        assert_eq!(core.elsewhere, Some(theirs.clone()));
        assert_eq!(core.form.get("line.speed"), Some(&Value::Number(9600)));
        assert_eq!(core.take_theirs(), [Effect::Reload]);
        assert_eq!(core.form.get("line.speed"), Some(&Value::Number(57_600)));
        assert_eq!(core.elsewhere, None);

        // Our own save coming back is not "elsewhere".
        let mut core = EditorCore::new(&info(&p)).unwrap();
        core.set("user", Value::Text("mine".into()));
        let Effect::Update(sent) = core.save().remove(0) else {
            panic!()
        };
        assert_eq!(core.changed(&info(&sent)), []);
        assert_eq!(core.elsewhere, None);

        // The same settings again (a HasSecrets change) is nothing.
        let mut core = EditorCore::new(&info(&p)).unwrap();
        let mut same = info(&p);
        same.has_secrets = false;
        assert_eq!(core.changed(&same), []);
        assert!(!core.has_secrets);
    }

    #[test]
    fn a_deleted_profile_is_not_saved() {
        let mut core = EditorCore::new(&info(&every_field())).unwrap();
        core.set("user", Value::Text("x".into()));
        core.removed();
        assert_eq!(core.save(), []);
        assert_eq!(core.close(), [Effect::Finish(EditorOutput::Closed)]);
    }

    #[test]
    fn relevance_follows_the_switches() {
        let mut form = EditorForm::from_profile(&every_field());
        assert!(form.is_relevant("ppp.ipcp.local"));
        form.set("ppp.ipcp.enabled", Value::Bool(false));
        assert!(!form.is_relevant("ppp.ipcp.local"));
        assert!(!form.is_relevant("network.route_metric"));
        form.set("network.default_route", Value::Bool(true));
        assert!(form.is_relevant("network.route_metric"));
        form.set("ppp.lcp.echo_interval", Value::Number(0));
        assert!(!form.is_relevant("ppp.lcp.echo_failure"));
        assert!(form.is_relevant("name"));
    }

    #[test]
    fn masks_and_identifiers_are_shown_as_typed() {
        assert_eq!(mask_text(0x000a_0000), "0x000a0000");
        assert_eq!(parse_mask("0x000A0000"), Ok(0x000a_0000));
        assert_eq!(parse_mask("655360"), Ok(0x000a_0000));
        assert!(parse_mask("-1").is_err());
        let id = [0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55];
        assert_eq!(interface_id_text(&id), "0211:22ff:fe33:4455");
        assert_eq!(parse_interface_id("0211:22ff:fe33:4455"), Ok(id));
        assert_eq!(parse_interface_id("021122fffe334455"), Ok(id));
        assert!(parse_interface_id("0211:22ff:fe33:445").is_err());
        assert!(parse_interface_id("0211:22ff:fe33:445g").is_err());
    }
}
