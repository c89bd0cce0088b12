//! The main window: the profiles as rows with click-to-connect, a page
//! of details for one of them, and the dialogs (new connection, editor,
//! modem, log, shortcuts, about).
//!
//! The window holds no state of its own about links: [`daemon::watch`]
//! feeds it [`Update`]s, which go into a [`Mirror`] of the daemon, and
//! everything shown is made from that mirror. A click sends a call and
//! shows a spinner; what changes on screen comes from the daemon's
//! answer and signals.

use crate::a11y::A11yExt;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use adw::prelude::*;
use gettextrs::gettext;
use relm4::actions::{AccelsPlus, ActionName, RelmAction, RelmActionGroup};
use relm4::factory::FactoryVecDeque;
use relm4::prelude::*;
use relm4::{adw, gtk};

use crate::assistant::{Assistant, AssistantInit, AssistantInput, AssistantOutput};
use crate::daemon::{self, BusChoice, CallError, Calls, Mirror, Permission, Update};
use crate::details::{Details, DetailsInput, DetailsOutput, DetailsView};
use crate::editor::{Editor, EditorInit, EditorInput, EditorOutput};
use crate::graph::History;
use crate::log::{Log, LogInit, LogInput, LogOutput};
use crate::modem::{Modem, ModemInit, ModemInput, ModemOutput};
use crate::notify;
use crate::rows::{rows_of, ProfileRow, RowOutput};
use crate::text;
use crate::APP_ID;

/// What `dialtone` was asked on its command line (here or by a second
/// instance, which GApplication forwards to this one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Show the window.
    Show,
    /// Connect this profile (id or name), or the last one used.
    Connect(Option<String>),
    /// Hang up this profile, or every active link.
    Disconnect(Option<String>),
}

thread_local! {
    /// The hold taken by the command-line handler, until [`App::request`]
    /// takes the request (and a hold of its own) over.
    static REQUEST_HOLD: std::cell::RefCell<Vec<gtk::gio::ApplicationHoldGuard>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Keeps the application running until the request just sent is handled.
pub fn hold_for_request(guard: gtk::gio::ApplicationHoldGuard) {
    REQUEST_HOLD.with(|h| h.borrow_mut().push(guard));
}

/// How the window starts.
#[derive(Debug)]
pub struct AppInit {
    /// Where the daemon is.
    pub bus: BusChoice,
    /// Print `first-frame` on stdout once the window is drawn (for the
    /// startup benchmark).
    pub report_first_frame: bool,
}

/// Messages to the window.
#[derive(Debug)]
pub enum AppMsg {
    /// Connect the profile at this path.
    Connect(String),
    /// Hang up the profile at this path.
    Disconnect(String),
    /// Show the details of the profile at this path.
    ShowDetails(String),
    /// Back to the list.
    Back,
    /// The command line (of this or a later instance).
    Request(Request),
    /// The about window.
    About,
    /// The shortcuts window.
    Shortcuts,
    /// A second passed (durations, graph, the modem dialog's ports).
    Tick,
    /// The New Connection dialog.
    NewProfile,
    /// It closed; with the new profile's path if one was created.
    AssistantDone(Option<String>),
    /// The editor for the profile at this path.
    Edit(String),
    /// The editor closed; whether it saved.
    EditorDone(bool),
    /// The modem dialog.
    ShowModem,
    /// The modem dialog closed.
    ModemClosed,
    /// A call of the modem dialog came back: permissions may have changed.
    ModemCalled,
    /// The log of the profile at this path.
    ShowLog(String),
    /// The log window of this profile closed.
    LogClosed(String),
    /// Ask whether to delete the profile at this path.
    AskDelete(String),
    /// Delete it.
    Delete(String),
}

/// Answers from the daemon and from calls.
#[derive(Debug)]
pub enum AppCmd {
    /// Nothing to show; logged.
    Ignored(String),
    /// The mirror changed.
    Daemon(Update),
    /// A Connect or Disconnect call for this profile came back.
    Called {
        /// The profile.
        profile: String,
        /// What was asked.
        what: Call,
        /// The answer.
        result: Result<(), CallError>,
        /// Connect's link.
        link: Option<String>,
    },
}

/// A call the window makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// Connect.
    Connect,
    /// Disconnect.
    Disconnect,
    /// Delete the profile.
    Delete,
}

/// Which page the window shows.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Page {
    /// The daemon is not there: why.
    Absent,
    /// Still waiting for the first snapshot.
    Loading,
    /// No profiles.
    Empty,
    /// The rows.
    List,
    /// One profile.
    Details(String),
}

/// A command-line connect waiting for its outcome.
#[derive(Debug)]
struct Waiting {
    profile: String,
    /// The link Connect answered with, once it answered.
    link: Option<String>,
    deadline: Instant,
}

/// The window's model.
pub struct App {
    mirror: Mirror,
    ready: bool,
    absent: Option<String>,
    calls: Option<Calls>,
    pending: BTreeSet<String>,
    page: Page,
    rows: FactoryVecDeque<ProfileRow>,
    details: Controller<Details>,
    histories: HashMap<String, History>,
    toasts: adw::ToastOverlay,
    queued: Vec<Request>,
    waiting: Vec<Waiting>,
    hold: Option<gtk::gio::ApplicationHoldGuard>,
    window: adw::ApplicationWindow,
    /// Print `first-content` once the list or the empty page shows.
    report_content: bool,
    /// Profiles the command line asked to hang up, until the call returns.
    cli_calls: BTreeSet<String>,
    /// The New Connection dialog, while open.
    assistant: Option<Controller<Assistant>>,
    /// The editor, while open, with the path of the profile it edits.
    editor: Option<(Controller<Editor>, String)>,
    /// The modem dialog, while open.
    modem: Option<Controller<Modem>>,
    /// Ticks counted (the ports are read again every other one).
    ticks: u32,
    /// Open log windows by profile path, with the link each shows.
    logs: HashMap<String, (Controller<Log>, Option<String>)>,
    /// The once-a-second timer, running only while something on screen
    /// moves with time (the details page) or a command line waits.
    tick: Option<gtk::glib::SourceId>,
}

relm4::new_action_group!(WinActions, "win");
relm4::new_stateless_action!(ShortcutsAction, WinActions, "show-help-overlay");
relm4::new_stateless_action!(AboutAction, WinActions, "about");
relm4::new_stateless_action!(BackAction, WinActions, "back");
relm4::new_stateless_action!(QuitAction, WinActions, "quit");
relm4::new_stateless_action!(ModemAction, WinActions, "modem");
relm4::new_stateless_action!(NewAction, WinActions, "new-connection");

impl App {
    fn page_name(&self) -> &'static str {
        match self.page {
            Page::Absent => "absent",
            Page::Loading => "loading",
            Page::Empty => "empty",
            Page::List => "list",
            Page::Details(_) => "details",
        }
    }

    fn absent_text(&self) -> String {
        self.absent.clone().unwrap_or_default()
    }

    /// Chooses the page from the mirror.
    fn settle_page(&mut self) {
        self.page = match &self.page {
            _ if self.absent.is_some() && !self.ready => Page::Absent,
            _ if !self.ready => Page::Loading,
            Page::Details(p) if self.mirror.profiles.contains_key(p) => Page::Details(p.clone()),
            _ if self.mirror.profiles.is_empty() => Page::Empty,
            _ => Page::List,
        };
    }

    fn sync_rows(&mut self) {
        let views = rows_of(&self.mirror, &self.pending);
        crate::rows::sync_rows(&mut self.rows, views);
    }

    fn sync_details(&self) {
        if let Page::Details(path) = &self.page {
            let history = self
                .mirror
                .profiles
                .get(path)
                .and_then(|p| self.mirror.link_of(p))
                .and_then(|l| self.histories.get(&l.path))
                .cloned()
                .unwrap_or_default();
            if let Some(view) = DetailsView::of(&self.mirror, path, Some(&history), Instant::now())
            {
                self.details
                    .emit(DetailsInput::Show(Box::new(view), Box::new(history)));
            }
        }
    }

    fn toast(&self, message: &str) {
        let toast = adw::Toast::new(message);
        toast.set_timeout(6);
        self.toasts.add_toast(toast);
    }

    fn call_error_text(&self, what: Call, name: &str, e: &CallError) -> String {
        let head = match what {
            Call::Connect => text::fill(&gettext("Cannot connect “{name}”"), &[("name", name)]),
            Call::Disconnect => {
                text::fill(&gettext("Cannot disconnect “{name}”"), &[("name", name)])
            }
            Call::Delete => text::fill(&gettext("Cannot delete “{name}”"), &[("name", name)]),
        };
        let why = match e {
            CallError::NotAuthorized(_) => {
                gettext("You are not allowed to do this; an administrator can allow it.")
            }
            CallError::Unreachable(_) => gettext("The Dialtone service is not running."),
            other => other.to_string(),
        };
        format!("{head}: {why}")
    }

    /// Takes in one update from the daemon.
    fn take_update(&mut self, update: Update, sender: &ComponentSender<Self>) {
        let before: HashMap<String, dialtone_api::objects::LinkInfo> = match &update {
            Update::Link(l) => self
                .mirror
                .links
                .get(&l.path)
                .map(|old| (l.path.clone(), old.clone()))
                .into_iter()
                .collect(),
            _ => HashMap::new(),
        };
        match &update {
            Update::Bus(conn) => {
                self.calls = Some(Calls::new(conn.clone()));
            }
            Update::Snapshot(_) => {
                self.ready = true;
                self.absent = None;
            }
            Update::Absent(why) => {
                self.ready = false;
                self.absent = Some(why.clone());
                self.histories.clear();
            }
            Update::Link(l) => {
                let rx = l.stat("rx-bytes");
                let tx = l.stat("tx-bytes");
                self.histories
                    .entry(l.path.clone())
                    .or_default()
                    .push(Instant::now(), rx, tx);
            }
            Update::LinkRemoved(path) => {
                self.histories.remove(path);
            }
            _ => {}
        }
        let changed = self.mirror.apply(&update);
        if let Update::Link(l) = &update {
            self.tell(before.get(&l.path), l);
        }
        if changed || matches!(update, Update::Bus(_) | Update::Snapshot(_)) {
            self.forward_update(&update);
        }
        if self.ready {
            let queued = std::mem::take(&mut self.queued);
            for r in queued {
                self.request(r, sender);
            }
        }
        self.settle_page();
        self.sync_rows();
        self.sync_details();
        self.check_waiting();
        if self.report_content && matches!(self.page, Page::List | Page::Empty) {
            self.report_content = false;
            report_after_paint(self.window.upcast_ref(), "first-content");
        }
    }

    /// Sends the notification a link change deserves.
    fn tell(
        &self,
        before: Option<&dialtone_api::objects::LinkInfo>,
        after: &dialtone_api::objects::LinkInfo,
    ) {
        let Some(profile) = self.mirror.profiles.get(&after.profile) else {
            return;
        };
        if let Some(n) = notify::notice(&profile.id, &profile.name, before, after) {
            notify::send(&relm4::main_application(), &n);
        }
    }

    /// Ends command-line connects whose link came up or failed.
    fn check_waiting(&mut self) {
        let now = Instant::now();
        let mirror = &self.mirror;
        self.waiting.retain(|w| {
            if now > w.deadline || !mirror.profiles.contains_key(&w.profile) {
                return false;
            }
            // Until Connect answered, the link is not known yet.
            let Some(link) = &w.link else {
                return true;
            };
            let state = mirror.links.get(link).and_then(|l| l.link_state());
            !matches!(
                state,
                Some(dialtone_api::dbus::LinkState::Connected)
                    | Some(dialtone_api::dbus::LinkState::WaitingForTraffic)
                    | Some(dialtone_api::dbus::LinkState::Disconnected)
                    | Some(dialtone_api::dbus::LinkState::WaitingToRedial)
            )
        });
        if self.waiting.is_empty()
            && self.cli_calls.is_empty()
            && self.queued.is_empty()
            && self.hold.is_some()
        {
            self.hold = None;
            if !self.window.is_visible() {
                relm4::main_application().quit();
            }
        }
    }

    fn request(&mut self, request: Request, sender: &ComponentSender<Self>) {
        if !matches!(request, Request::Show) && self.hold.is_none() {
            self.hold = Some(relm4::main_application().hold());
        }
        REQUEST_HOLD.with(|h| h.borrow_mut().pop());
        match request {
            Request::Show => self.window.present(),
            Request::Connect(_) | Request::Disconnect(_) if !self.ready => {
                self.queued.push(request);
            }
            Request::Connect(wanted) => {
                let wanted = wanted.or_else(crate::last_used::read);
                let found = match &wanted {
                    Some(w) => self.mirror.find_profile(w),
                    None if self.mirror.profiles.len() == 1 => self.mirror.profiles.values().next(),
                    None => None,
                };
                match found {
                    Some(p) => {
                        let path = p.path.clone();
                        self.waiting.push(Waiting {
                            profile: path.clone(),
                            link: None,
                            deadline: Instant::now() + Duration::from_secs(300),
                        });
                        self.connect(path, sender);
                    }
                    None => {
                        let body = match wanted {
                            Some(w) => text::fill(
                                &gettext("There is no connection named “{name}”."),
                                &[("name", &w)],
                            ),
                            None => gettext("Say which connection: dialtone --connect NAME."),
                        };
                        eprintln!("dialtone: {body}");
                        notify::send(
                            &relm4::main_application(),
                            &notify::Notice {
                                id: "cli".into(),
                                title: gettext("Cannot Connect"),
                                body,
                                urgent: true,
                            },
                        );
                        self.check_waiting();
                    }
                }
            }
            Request::Disconnect(wanted) => {
                let targets: Vec<String> = match &wanted {
                    Some(w) => self
                        .mirror
                        .find_profile(w)
                        .map(|p| p.path.clone())
                        .into_iter()
                        .collect(),
                    None => self
                        .mirror
                        .profiles
                        .values()
                        .filter(|p| p.active_link.is_some())
                        .map(|p| p.path.clone())
                        .collect(),
                };
                for t in targets {
                    self.cli_calls.insert(t.clone());
                    self.disconnect(t, sender);
                }
                self.check_waiting();
            }
        }
    }

    fn connect(&mut self, profile: String, sender: &ComponentSender<Self>) {
        let Some(calls) = self.calls.clone() else {
            return;
        };
        if let Some(p) = self.mirror.profiles.get(&profile) {
            crate::last_used::write(&p.id);
        }
        self.pending.insert(profile.clone());
        sender.oneshot_command(async move {
            let (result, link) = match calls.connect(&profile).await {
                Ok(link) => (Ok(()), Some(link)),
                Err(e) => (Err(e), None),
            };
            AppCmd::Called {
                profile,
                what: Call::Connect,
                result,
                link,
            }
        });
    }

    fn disconnect(&mut self, profile: String, sender: &ComponentSender<Self>) {
        let Some(calls) = self.calls.clone() else {
            return;
        };
        let Some(link) = self
            .mirror
            .profiles
            .get(&profile)
            .and_then(|p| p.active_link.clone())
        else {
            return;
        };
        self.pending.insert(profile.clone());
        sender.oneshot_command(async move {
            let result = calls.disconnect(&link).await;
            AppCmd::Called {
                profile,
                what: Call::Disconnect,
                result,
                link: None,
            }
        });
    }

    fn new_profile(&mut self, sender: &ComponentSender<Self>) {
        if let Some(a) = &self.assistant {
            a.widget().present();
            return;
        }
        let Some(calls) = self.calls.clone().filter(|_| self.ready) else {
            self.toast(&gettext("The Dialtone service is not running."));
            return;
        };
        if self.mirror.permissions.modify == Permission::No {
            self.toast(&gettext(
                "Only administrators can add connections on this computer.",
            ));
            return;
        }
        let assistant = Assistant::builder()
            .transient_for(&self.window)
            .launch(AssistantInit {
                ports: self.mirror.manager.serial_ports.clone(),
                modem_link: self.mirror.manager.modem_link.clone(),
                calls,
                permission: self.mirror.permissions.modify,
            })
            .forward(sender.input_sender(), |out| match out {
                AssistantOutput::Created(path) => AppMsg::AssistantDone(Some(path)),
                AssistantOutput::Cancelled => AppMsg::AssistantDone(None),
            });
        self.assistant = Some(assistant);
    }

    fn edit(&mut self, profile: String, sender: &ComponentSender<Self>) {
        if let Some((e, path)) = &self.editor {
            if *path == profile {
                e.widget().present();
                return;
            }
        }
        let Some(calls) = self.calls.clone().filter(|_| self.ready) else {
            self.toast(&gettext("The Dialtone service is not running."));
            return;
        };
        let Some(p) = self.mirror.profiles.get(&profile) else {
            return;
        };
        let editor = Editor::builder()
            .transient_for(&self.window)
            .launch(EditorInit {
                profile: p.clone(),
                calls,
                permission: self.mirror.permissions.modify,
            })
            .forward(sender.input_sender(), |out| match out {
                EditorOutput::Saved(_) => AppMsg::EditorDone(true),
                EditorOutput::Closed => AppMsg::EditorDone(false),
            });
        self.editor = Some((editor, profile));
    }

    fn show_modem(&mut self, sender: &ComponentSender<Self>) {
        if let Some(m) = &self.modem {
            m.widget().present();
            return;
        }
        let Some(calls) = self.calls.clone().filter(|_| self.ready) else {
            self.toast(&gettext("The Dialtone service is not running."));
            return;
        };
        let modem = Modem::builder()
            .transient_for(&self.window)
            .launch(ModemInit {
                calls,
                manager: self.mirror.manager.clone(),
                permission: self.mirror.permissions.modify,
            })
            .forward(sender.input_sender(), |out| match out {
                ModemOutput::Called => AppMsg::ModemCalled,
                ModemOutput::Closed => AppMsg::ModemClosed,
            });
        self.modem = Some(modem);
    }

    /// Reads the serial ports again while the modem dialog shows them: the
    /// daemon does not announce ports that come and go.
    fn reread_ports(&self, sender: &ComponentSender<Self>) {
        let Some(calls) = self.calls.clone() else {
            return;
        };
        sender.oneshot_command(async move {
            match calls.manager_info().await {
                Ok(m) => AppCmd::Daemon(Update::Manager(m)),
                Err(e) => AppCmd::Ignored(format!("cannot read the serial ports: {e}")),
            }
        });
    }

    fn show_log(&mut self, profile: String, sender: &ComponentSender<Self>) {
        if let Some((log, _)) = self.logs.get(&profile) {
            log.widget().present();
            return;
        }
        let Some(p) = self.mirror.profiles.get(&profile) else {
            return;
        };
        let link = self.mirror.link_of(p).map(|l| l.path.clone());
        let lines = link
            .as_ref()
            .and_then(|l| self.mirror.transcripts.get(l))
            .cloned()
            .unwrap_or_default();
        let path = profile.clone();
        let log = Log::builder()
            .launch(LogInit {
                profile_name: p.name.clone(),
                lines,
            })
            .forward(sender.input_sender(), move |out| match out {
                LogOutput::Closed => AppMsg::LogClosed(path.clone()),
            });
        self.logs.insert(profile, (log, link));
    }

    /// Feeds the open windows what changed.
    fn forward_update(&mut self, update: &Update) {
        match update {
            Update::Manager(m) => {
                if let Some(modem) = &self.modem {
                    modem.emit(ModemInput::Manager(m.clone()));
                }
                if let Some(a) = &self.assistant {
                    a.emit(AssistantInput::Ports(
                        m.serial_ports.clone(),
                        m.modem_link.clone(),
                    ));
                }
            }
            Update::Permissions(p) => {
                if let Some(modem) = &self.modem {
                    modem.emit(ModemInput::Permission(p.modify));
                }
                if let Some(a) = &self.assistant {
                    a.emit(AssistantInput::Permission(p.modify));
                }
                if let Some((e, _)) = &self.editor {
                    e.emit(EditorInput::Permission(p.modify));
                }
            }
            Update::Profile(p) => {
                if let Some((e, path)) = &self.editor {
                    if *path == p.path {
                        e.emit(EditorInput::Changed(p.clone()));
                    }
                }
            }
            Update::ProfileRemoved(removed) => {
                if let Some((e, path)) = &self.editor {
                    if path == removed {
                        e.emit(EditorInput::Removed);
                    }
                }
            }
            Update::Bus(conn) => {
                if let Some(modem) = &self.modem {
                    modem.emit(ModemInput::Calls(Calls::new(conn.clone())));
                }
            }
            Update::Transcript(link, entry) => {
                for (log, shown) in self.logs.values() {
                    if shown.as_deref() == Some(link.as_str()) {
                        log.emit(LogInput::Line(entry.clone()));
                    }
                }
            }
            _ => {}
        }
        // A profile's log follows its newest link; a renamed profile's
        // window is renamed.
        for (profile, (log, shown)) in self.logs.iter_mut() {
            let Some(p) = self.mirror.profiles.get(profile) else {
                continue;
            };
            if let Update::Profile(changed) = update {
                if changed.path == *profile {
                    log.emit(LogInput::Renamed(p.name.clone()));
                }
            }
            let link = self.mirror.link_of(p).map(|l| l.path.clone());
            let reset = match update {
                Update::TranscriptReset(l, _) => link.as_deref() == Some(l.as_str()),
                Update::Snapshot(_) => true,
                _ => false,
            };
            if link != *shown || reset {
                let lines = link
                    .as_ref()
                    .and_then(|l| self.mirror.transcripts.get(l))
                    .cloned()
                    .unwrap_or_default();
                log.emit(LogInput::Reset(lines));
                *shown = link;
            }
        }
    }

    /// Starts or stops the timer as needed.
    fn sync_tick(&mut self, sender: &ComponentSender<Self>) {
        let wanted = matches!(self.page, Page::Details(_))
            || !self.waiting.is_empty()
            || self.modem.is_some();
        match (wanted, self.tick.is_some()) {
            (true, false) => {
                let s = sender.clone();
                self.tick = Some(gtk::glib::timeout_add_seconds_local(1, move || {
                    s.input(AppMsg::Tick);
                    gtk::glib::ControlFlow::Continue
                }));
            }
            (false, true) => {
                if let Some(id) = self.tick.take() {
                    id.remove();
                }
            }
            _ => {}
        }
    }

    fn ask_delete(&self, profile: String, sender: &ComponentSender<Self>) {
        let Some(p) = self.mirror.profiles.get(&profile) else {
            return;
        };
        let dialog = adw::MessageDialog::new(
            Some(&self.window),
            Some(&text::fill(
                &gettext("Delete “{name}”?"),
                &[("name", &p.name)],
            )),
            Some(&gettext(
                "The connection and its password are removed from this computer.",
            )),
        );
        dialog.add_response("cancel", &gettext("_Cancel"));
        dialog.add_response("delete", &gettext("_Delete"));
        dialog.set_response_appearance("delete", adw::ResponseAppearance::Destructive);
        dialog.set_default_response(Some("cancel"));
        dialog.set_close_response("cancel");
        let sender = sender.clone();
        dialog.connect_response(None, move |_, response| {
            if response == "delete" {
                sender.input(AppMsg::Delete(profile.clone()));
            }
        });
        dialog.present();
    }

    fn delete(&mut self, profile: String, sender: &ComponentSender<Self>) {
        let Some(calls) = self.calls.clone() else {
            return;
        };
        self.pending.insert(profile.clone());
        sender.oneshot_command(async move {
            let result = calls.delete(&profile).await;
            AppCmd::Called {
                profile,
                what: Call::Delete,
                result,
                link: None,
            }
        });
    }

    fn refresh_permissions(&self, sender: &ComponentSender<Self>) {
        if let Some(calls) = self.calls.clone() {
            sender.oneshot_command(async move {
                match calls.permissions().await {
                    Ok(p) => AppCmd::Daemon(Update::Permissions(p)),
                    Err(e) => {
                        tracing::warn!("cannot read the permissions: {e}");
                        AppCmd::Daemon(Update::Permissions(Default::default()))
                    }
                }
            });
        }
    }

    fn about(&self) {
        let about = adw::AboutWindow::builder()
            .transient_for(&self.window)
            .modal(true)
            .application_name("Dialtone")
            .application_icon(APP_ID)
            .version(env!("CARGO_PKG_VERSION"))
            .developer_name(gettext("Dialtone developers"))
            .website("https://github.com/dialtone/dialtone")
            .issue_url("https://github.com/dialtone/dialtone/issues")
            .license_type(gtk::License::Gpl30)
            .comments(gettext(
                "Dial-up and serial PPP links with one click: analog and cellular modems, \
                 dial-in servers and serial links to small computers.",
            ))
            .translator_credits(gettext("translator-credits"))
            .build();
        about.present();
    }

    fn shortcuts(&self) {
        let builder = gtk::Builder::from_string(include_str!("../ui/shortcuts.ui"));
        if let Some(w) = builder.object::<gtk::ShortcutsWindow>("help_overlay") {
            w.set_transient_for(Some(&self.window));
            w.set_modal(true);
            w.present();
        }
    }
}

#[relm4::component(pub)]
impl Component for App {
    type Init = AppInit;
    type Input = AppMsg;
    type Output = ();
    type CommandOutput = AppCmd;

    view! {
        #[root]
        window = adw::ApplicationWindow {
            set_title: Some("Dialtone"),
            set_default_size: (640, 640),
            set_width_request: 360,
            set_height_request: 400,

            gtk::Box {
                set_orientation: gtk::Orientation::Vertical,

                adw::HeaderBar {
                    pack_start = &gtk::Button {
                        set_icon_name: "go-previous-symbolic",
                        set_tooltip_text: Some(&gettext("Back")),
                        set_a11y_label: &gettext("Back"),
                        #[watch]
                        set_visible: matches!(model.page, Page::Details(_)),
                        connect_clicked => AppMsg::Back,
                    },
                    pack_start = &gtk::Button {
                        set_icon_name: "list-add-symbolic",
                        set_a11y_label: &gettext("New Connection"),
                        #[watch]
                        set_visible: !matches!(model.page, Page::Details(_)),
                        #[watch]
                        set_sensitive: model.ready && model.mirror.permissions.modify.usable(),
                        #[watch]
                        set_tooltip_text: Some(&new_tooltip(model.mirror.permissions.modify)),
                        connect_clicked => AppMsg::NewProfile,
                    },
                    #[wrap(Some)]
                    set_title_widget = &adw::WindowTitle {
                        set_title: "Dialtone",
                        #[watch]
                        set_subtitle: &match &model.page {
                            Page::Details(p) => model.mirror.profiles.get(p).map(|p| p.name.clone()).unwrap_or_default(),
                            _ => String::new(),
                        },
                    },
                    pack_end = &gtk::MenuButton {
                        set_icon_name: "open-menu-symbolic",
                        set_tooltip_text: Some(&gettext("Main Menu")),
                        set_a11y_label: &gettext("Main Menu"),
                        set_menu_model: Some(&main_menu),
                        set_primary: true,
                    },
                },

                #[local_ref]
                toasts -> adw::ToastOverlay {
                    set_vexpand: true,

                    gtk::Stack {
                        set_transition_type: gtk::StackTransitionType::Crossfade,

                        add_named[Some("loading")] = &gtk::Spinner {
                            set_spinning: true,
                            set_halign: gtk::Align::Center,
                            set_valign: gtk::Align::Center,
                            set_width_request: 32,
                            set_height_request: 32,
                            set_a11y_label: &gettext("Asking the Dialtone service"),
                        },

                        add_named[Some("absent")] = &adw::StatusPage {
                            set_icon_name: Some("network-offline-symbolic"),
                            set_title: &gettext("Dialtone Service Unavailable"),
                            #[watch]
                            set_description: Some(&text::fill(
                                &gettext("{why}. This window will update by itself once the service runs; it is started with “systemctl start dialtoned” or by D-Bus activation."),
                                &[("why", &capitalise(&model.absent_text()))],
                            )),
                        },

                        add_named[Some("empty")] = &adw::StatusPage {
                            set_icon_name: Some(APP_ID),
                            set_title: &gettext("No Connections"),
                            set_description: Some(&gettext("Add a connection to dial an internet provider, a bulletin board or a dial-in server, or to link a device over a serial cable.")),
                            #[wrap(Some)]
                            set_child = &gtk::Button {
                                set_halign: gtk::Align::Center,
                                set_use_underline: true,
                                set_label: &gettext("_Add Connection…"),
                                add_css_class: "pill",
                                add_css_class: "suggested-action",
                                #[watch]
                                set_sensitive: model.mirror.permissions.modify.usable(),
                                #[watch]
                                set_tooltip_text: Some(&new_tooltip(model.mirror.permissions.modify)),
                                connect_clicked => AppMsg::NewProfile,
                            },
                        },

                        add_named[Some("list")] = &gtk::ScrolledWindow {
                            set_hscrollbar_policy: gtk::PolicyType::Never,

                            adw::Clamp {
                                set_maximum_size: 720,
                                set_margin_top: 24,
                                set_margin_bottom: 24,
                                set_margin_start: 12,
                                set_margin_end: 12,

                                gtk::Box {
                                    set_orientation: gtk::Orientation::Vertical,
                                    set_spacing: 12,

                                    gtk::Label {
                                        #[watch]
                                        set_label: &problems_text(&model.mirror),
                                        #[watch]
                                        set_visible: !model.mirror.manager.profile_problems.is_empty(),
                                        set_wrap: true,
                                        set_xalign: 0.0,
                                        add_css_class: "error",
                                    },

                                    #[local_ref]
                                    row_list -> gtk::ListBox {
                                        set_selection_mode: gtk::SelectionMode::None,
                                        add_css_class: "boxed-list",
                                        set_a11y_label: &gettext("Connections"),
                                    },

                                    gtk::Label {
                                        #[watch]
                                        set_visible: model.mirror.permissions.connect == Permission::No,
                                        set_label: &gettext("You may look at these connections, but not use them: the system’s policy does not allow your account to connect. An administrator can allow it."),
                                        set_wrap: true,
                                        set_xalign: 0.0,
                                        add_css_class: "dim-label",
                                    },
                                },
                            },
                        },

                        add_named[Some("details")] = model.details.widget(),

                        #[watch]
                        set_visible_child_name: model.page_name(),
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
        let main_menu = gtk::gio::Menu::new();
        let section = gtk::gio::Menu::new();
        section.append(
            Some(&gettext("_Keyboard Shortcuts")),
            Some(&ShortcutsAction::action_name()),
        );
        section.append(
            Some(&gettext("_About Dialtone")),
            Some(&AboutAction::action_name()),
        );
        main_menu.append_section(None, &section);

        let row_list = gtk::ListBox::new();
        let rows = FactoryVecDeque::builder().launch(row_list.clone()).forward(
            sender.input_sender(),
            |out| match out {
                RowOutput::Connect(p) => AppMsg::Connect(p),
                RowOutput::Disconnect(p) => AppMsg::Disconnect(p),
            },
        );
        {
            let sender = sender.clone();
            row_list.connect_row_activated(move |_, row| {
                let path = row.widget_name().to_string();
                if !path.is_empty() {
                    sender.input(AppMsg::ShowDetails(path));
                }
            });
        }
        let details =
            Details::builder()
                .launch(())
                .forward(sender.input_sender(), |out| match out {
                    DetailsOutput::Connect(p) => AppMsg::Connect(p),
                    DetailsOutput::Disconnect(p) => AppMsg::Disconnect(p),
                    DetailsOutput::Delete(p) => AppMsg::AskDelete(p),
                    DetailsOutput::Log(p) => AppMsg::ShowLog(p),
                    DetailsOutput::Edit(p) => AppMsg::Edit(p),
                });
        let toasts = adw::ToastOverlay::new();

        let model = App {
            mirror: Mirror::default(),
            ready: false,
            absent: None,
            calls: None,
            pending: BTreeSet::new(),
            page: Page::Loading,
            rows,
            details,
            histories: HashMap::new(),
            toasts: toasts.clone(),
            queued: Vec::new(),
            waiting: Vec::new(),
            hold: None,
            window: root.clone(),
            report_content: init.report_first_frame,
            tick: None,
            cli_calls: BTreeSet::new(),
            assistant: None,
            editor: None,
            modem: None,
            ticks: 0,
            logs: HashMap::new(),
        };
        let widgets = view_output!();

        let app = relm4::main_application();
        let mut group = RelmActionGroup::<WinActions>::new();
        let s = sender.clone();
        group.add_action(RelmAction::<ShortcutsAction>::new_stateless(move |_| {
            s.input(AppMsg::Shortcuts)
        }));
        let s = sender.clone();
        group.add_action(RelmAction::<AboutAction>::new_stateless(move |_| {
            s.input(AppMsg::About)
        }));
        let s = sender.clone();
        group.add_action(RelmAction::<BackAction>::new_stateless(move |_| {
            s.input(AppMsg::Back)
        }));
        let s = sender.clone();
        group.add_action(RelmAction::<NewAction>::new_stateless(move |_| {
            s.input(AppMsg::NewProfile)
        }));
        let s = sender.clone();
        group.add_action(RelmAction::<ModemAction>::new_stateless(move |_| {
            s.input(AppMsg::ShowModem)
        }));
        let w = root.clone();
        group.add_action(RelmAction::<QuitAction>::new_stateless(move |_| {
            w.close();
        }));
        group.register_for_widget(&root);
        app.set_accelerators_for_action::<ShortcutsAction>(&["<Control>question"]);
        app.set_accelerators_for_action::<BackAction>(&["<Alt>Left", "Escape"]);
        app.set_accelerators_for_action::<QuitAction>(&["<Control>q", "<Control>w"]);
        app.set_accelerators_for_action::<ModemAction>(&["<Control>m"]);
        app.set_accelerators_for_action::<NewAction>(&["<Control>n"]);

        if init.report_first_frame {
            report_first_frame(&root);
        }

        let bus = init.bus;
        sender.command(move |out, shutdown| {
            shutdown
                .register(async move {
                    daemon::watch(bus, move |u| out.send(AppCmd::Daemon(u)).is_ok()).await;
                })
                .drop_on_shutdown()
        });
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Self::Input, sender: ComponentSender<Self>, _root: &Self::Root) {
        match msg {
            AppMsg::Connect(p) => self.connect(p, &sender),
            AppMsg::Disconnect(p) => self.disconnect(p, &sender),
            AppMsg::ShowDetails(p) => {
                self.page = Page::Details(p);
                self.settle_page();
                self.sync_details();
            }
            AppMsg::Back => {
                if matches!(self.page, Page::Details(_)) {
                    self.page = Page::List;
                    self.settle_page();
                }
            }
            AppMsg::Request(r) => self.request(r, &sender),
            AppMsg::About => self.about(),
            AppMsg::Shortcuts => self.shortcuts(),
            AppMsg::Tick => {
                self.sync_details();
                self.check_waiting();
                self.ticks = self.ticks.wrapping_add(1);
                if self.modem.is_some() && self.ticks % 2 == 0 {
                    self.reread_ports(&sender);
                }
            }
            AppMsg::NewProfile => self.new_profile(&sender),
            AppMsg::AssistantDone(created) => {
                self.assistant = None;
                self.refresh_permissions(&sender);
                if let Some(path) = created {
                    if let Some(p) = self.mirror.profiles.get(&path) {
                        let message =
                            text::fill(&gettext("“{name}” was added"), &[("name", &p.name)]);
                        self.toast(&message);
                    }
                }
            }
            AppMsg::Edit(p) => self.edit(p, &sender),
            AppMsg::EditorDone(saved) => {
                self.editor = None;
                self.refresh_permissions(&sender);
                if saved {
                    self.toast(&gettext("The connection was saved"));
                }
            }
            AppMsg::ShowModem => self.show_modem(&sender),
            AppMsg::ModemClosed => self.modem = None,
            AppMsg::ModemCalled => self.refresh_permissions(&sender),
            AppMsg::ShowLog(p) => self.show_log(p, &sender),
            AppMsg::LogClosed(p) => {
                self.logs.remove(&p);
            }
            AppMsg::AskDelete(p) => self.ask_delete(p, &sender),
            AppMsg::Delete(p) => self.delete(p, &sender),
        }
        self.sync_tick(&sender);
    }

    fn update_cmd(
        &mut self,
        msg: Self::CommandOutput,
        sender: ComponentSender<Self>,
        _root: &Self::Root,
    ) {
        self.take_cmd(msg, &sender);
        self.sync_tick(&sender);
    }
}

impl App {
    fn take_cmd(&mut self, msg: AppCmd, sender: &ComponentSender<Self>) {
        match msg {
            AppCmd::Daemon(u) => self.take_update(u, sender),
            AppCmd::Ignored(why) => tracing::warn!("{why}"),
            AppCmd::Called {
                profile,
                what,
                result,
                link,
            } => {
                self.pending.remove(&profile);
                if let Some(link) = link {
                    for w in self.waiting.iter_mut().filter(|w| w.profile == profile) {
                        w.link = Some(link.clone());
                    }
                }
                self.cli_calls.remove(&profile);
                if let Err(e) = result {
                    let name = self
                        .mirror
                        .profiles
                        .get(&profile)
                        .map(|p| p.name.clone())
                        .unwrap_or_default();
                    let message = self.call_error_text(what, &name, &e);
                    self.toast(&message);
                    self.waiting.retain(|w| w.profile != profile);
                    if !self.window.is_visible() {
                        notify::send(
                            &relm4::main_application(),
                            &notify::Notice {
                                id: "cli".into(),
                                title: "Dialtone".into(),
                                body: message,
                                urgent: true,
                            },
                        );
                    }
                }
                // A password given to polkit may have changed what is
                // allowed (auth_admin_keep).
                self.refresh_permissions(sender);
                self.sync_rows();
                self.sync_details();
                self.check_waiting();
            }
        }
    }
}

/// The tooltip of the controls that add a connection.
fn new_tooltip(permission: Permission) -> String {
    match permission {
        Permission::Yes => gettext("Add a connection (Ctrl+N)"),
        Permission::Auth => gettext("Add a connection: an administrator password is needed"),
        Permission::No => gettext("Only administrators can add connections"),
    }
}

/// The text of the profile files the daemon could not load.
fn problems_text(mirror: &Mirror) -> String {
    mirror
        .manager
        .profile_problems
        .iter()
        .map(|(file, why)| {
            text::fill(
                &gettext("The connection file {file} could not be read: {why}"),
                &[("file", file), ("why", why)],
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Prints `first-frame` once the window has been painted.
fn report_first_frame(window: &adw::ApplicationWindow) {
    window.connect_map(|w| report_after_paint(w.upcast_ref(), "first-frame"));
}

/// Prints `word` on stdout after the next frame of `widget`'s window is
/// painted (for the startup benchmark, `benches/startup.rs`).
fn report_after_paint(widget: &gtk::Widget, word: &'static str) {
    let Some(clock) = widget.frame_clock() else {
        return;
    };
    let handler: std::rc::Rc<std::cell::Cell<Option<gtk::glib::SignalHandlerId>>> =
        std::rc::Rc::default();
    let h = handler.clone();
    let id = clock.connect_after_paint(move |clock| {
        use std::io::Write;
        let mut out = std::io::stdout();
        if writeln!(out, "{word}").and_then(|_| out.flush()).is_err() {
            tracing::warn!("cannot report {word}: stdout is closed");
        }
        if let Some(id) = h.take() {
            clock.disconnect(id);
        }
    });
    handler.set(Some(id));
    widget.queue_draw();
}
