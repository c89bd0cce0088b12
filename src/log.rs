//! The link log window: a profile's link transcript as it happens — the
//! modem's AT conversation, the text login, PPP negotiation and the
//! daemon's notes — one line each, "HH:MM:SS.mmm  SOURCE DIR  text" in
//! local time, coloured by source and direction. It follows the end while
//! the user is at the end, and stays put when they scrolled up.
//!
//! The header bar copies the whole log (Ctrl+C copies the selection as
//! usual), saves it (Ctrl+S; written to a temporary file next to the
//! chosen one, then renamed over it) and searches it (Ctrl+F; matches
//! highlighted, Enter / Shift+Enter for the next and previous one).
//! Escape and Ctrl+W close the window (Escape closes the search first).
//! At most [`MAX_LINES`] lines are kept; the oldest go first.
//!
//! - Init: [`LogInit`] — the profile's name and
//!   the transcript so far.
//! - Input: [`LogInput::Line`] for each new transcript line,
//!   [`LogInput::Reset`] with a whole transcript (a new link of the
//!   profile, or a fresh snapshot after the daemon came back),
//!   [`LogInput::Renamed`] when the profile's name changed. The other
//!   variants are the window's own.
//! - Output: [`LogOutput::Closed`] when the window was closed (it is
//!   destroyed: drop the Controller).
//!
//! Launch: `Log::builder().launch(init).forward(…)` (or `.detach()`); the
//! window presents itself.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use adw::prelude::*;
use dialtone_api::dbus::TranscriptEntry;
use gettextrs::gettext;
use relm4::prelude::*;
use relm4::{adw, gtk};

use crate::a11y::A11yExt;
use crate::text;

/// The most lines kept (as many as the daemon keeps per link).
pub const MAX_LINES: usize = crate::daemon::TRANSCRIPT_LINES;

/// How the window starts.
#[derive(Clone, Debug)]
pub struct LogInit {
    /// The profile's name, for the title and the file name.
    pub profile_name: String,
    /// The transcript so far, oldest first.
    pub lines: Vec<TranscriptEntry>,
}

/// Messages to the window.
#[derive(Debug)]
pub enum LogInput {
    /// A new line, appended.
    Line(TranscriptEntry),
    /// Everything afresh (a new link of the profile, a new snapshot).
    Reset(Vec<TranscriptEntry>),
    /// The profile's new name.
    Renamed(String),
    /// Internal: copy the whole log.
    Copy,
    /// Internal: ask where to save it.
    Save,
    /// Internal: save it here.
    SaveTo(PathBuf),
    /// Internal: close the window.
    Close,
    /// Internal: open the search bar.
    StartSearch,
    /// Internal: the search text changed.
    Search(String),
    /// Internal: go to the next match (or the previous one).
    Find {
        /// Towards the start.
        backwards: bool,
    },
}

/// What the window tells its owner.
#[derive(Debug)]
pub enum LogOutput {
    /// The window was closed and is gone.
    Closed,
}

// ---- words ----

/// The width of the time column ("HH:MM:SS.mmm"), in characters.
pub const TIME_WIDTH: usize = 12;

/// Where the text starts ("HH:MM:SS.mmm  SOURCE D  "), in characters.
pub const TEXT_COLUMN: usize = TIME_WIDTH + 2 + 5 + 1 + 1 + 2;

/// Whether a view scrolled to `value` shows the end (within a few pixels).
pub fn at_end(value: f64, page_size: f64, upper: f64) -> bool {
    value + page_size >= upper - 8.0
}

/// Keeps a scrolled view at the end while the user is there, and where
/// they put it when they scrolled away.
///
/// A move of the view with the same text height and page size, while no
/// new text is being laid out, is the user's (a wheel, the scroll bar,
/// keys): it decides whether they are at the end. A move that comes with
/// a new height, or between a change of the text and the end of its
/// layout ([`Follow::text_changed`] … [`Follow::settled`]), is the view's
/// own (new lines, wrapped lines measured late, old lines dropped above):
/// it does not. Once laid out, a view that was at the end is put back
/// there; one the user had scrolled away shows the same text as before
/// (moved up by what was dropped above it).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Follow {
    /// The user scrolled away from the end.
    detached: bool,
    /// The text changed and is not laid out yet.
    settling: bool,
    /// (upper, page size) last seen.
    geometry: (f64, f64),
    /// Where the view was when the text started changing.
    base: f64,
    /// The height dropped above since.
    dropped: f64,
}

impl Follow {
    /// Whether new lines keep the view at the end.
    #[cfg(test)]
    pub fn following(&self) -> bool {
        !self.detached
    }

    /// The text changed while the view was at `value`, `dropped` pixels
    /// of it at the top; its layout follows. Whether the caller should
    /// arrange for [`Follow::settled`] (it is not waiting for it yet).
    pub fn text_changed(&mut self, value: f64, dropped: f64) -> bool {
        let first = !std::mem::replace(&mut self.settling, true);
        if first {
            self.base = value;
            self.dropped = 0.0;
        }
        self.dropped += dropped;
        first
    }

    /// The text is laid out; where to put the view, if anywhere.
    pub fn settled(&mut self, value: f64, page_size: f64, upper: f64) -> Option<f64> {
        self.settling = false;
        if !self.detached {
            return self.resized(value, page_size, upper);
        }
        self.geometry = (upper, page_size);
        let target = (self.base - self.dropped).clamp(0.0, (upper - page_size).max(0.0));
        ((target - value).abs() >= 0.5).then_some(target)
    }

    /// The view moved to `value`; where to put it instead, if anywhere.
    pub fn moved(&mut self, value: f64, page_size: f64, upper: f64) -> Option<f64> {
        if self.settling || (upper, page_size) != self.geometry {
            return self.resized(value, page_size, upper);
        }
        self.detached = page_size > 0.0 && !at_end(value, page_size, upper);
        None
    }

    /// The text or the view changed size; where to put the view, if
    /// anywhere.
    pub fn resized(&mut self, value: f64, page_size: f64, upper: f64) -> Option<f64> {
        self.geometry = (upper, page_size);
        let end = upper - page_size;
        (!self.detached && page_size > 0.0 && value < end).then_some(end)
    }
}

/// Every line tag [`format_line`] gives, for the tag table.
pub const LINE_TAGS: [&str; 8] = [
    "modem-out",
    "modem-in",
    "login-out",
    "login-in",
    "ppp-out",
    "ppp-in",
    "note",
    "other",
];

/// The wall-clock time of a transcript line in `tz`: "HH:MM:SS.mmm".
pub fn clock(time_usec: u64, tz: &gtk::glib::TimeZone) -> String {
    let secs = i64::try_from(time_usec / 1_000_000).unwrap_or(i64::MAX);
    let millis = (time_usec / 1000) % 1000;
    gtk::glib::DateTime::from_unix_utc(secs)
        .and_then(|t| t.to_timezone(tz))
        .and_then(|t| t.format("%H:%M:%S"))
        .map(|hms| format!("{hms}.{millis:03}"))
        .unwrap_or_else(|_| "--:--:--.---".to_string())
}

/// Control characters as their visible pictures (`\r` as `␍`), so each
/// entry stays one line and nothing invisible hides in it; line ends at
/// the end are left out.
pub fn visible(text: &str) -> String {
    text.trim_end_matches(['\r', '\n'])
        .chars()
        .map(|c| match c {
            '\t' => c,
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('?'),
            '\u{7f}' => '␡',
            _ => c,
        })
        .collect()
}

/// The tag of a line: its source and its direction.
pub fn line_tag(entry: &TranscriptEntry) -> &'static str {
    let out = entry.direction == "out";
    match entry.source.as_str() {
        "modem" if out => "modem-out",
        "modem" => "modem-in",
        "login" if out => "login-out",
        "login" => "login-in",
        "ppp" if out => "ppp-out",
        "ppp" => "ppp-in",
        "note" => "note",
        _ => "other",
    }
}

/// One transcript line as shown and saved, and its tag:
/// `"12:00:01.250  MODEM →  ATDT5550100"`, `"modem-out"`. The first
/// [`TIME_WIDTH`] characters are the time.
pub fn format_line(entry: &TranscriptEntry, tz: &gtk::glib::TimeZone) -> (String, &'static str) {
    let source = match entry.source.as_str() {
        "modem" => "MODEM".to_string(),
        "login" => "LOGIN".to_string(),
        "ppp" => "PPP".to_string(),
        "note" => "NOTE".to_string(),
        other => other.to_uppercase(),
    };
    let arrow = match entry.direction.as_str() {
        "out" => "→",
        "in" => "←",
        _ => " ",
    };
    (
        format!(
            "{}  {source:<5} {arrow}  {}",
            clock(entry.time_usec, tz),
            visible(&entry.text)
        ),
        line_tag(entry),
    )
}

/// The whole log as plain text, one line each, ending with a newline.
pub fn log_text<'a>(
    entries: impl IntoIterator<Item = &'a TranscriptEntry>,
    tz: &gtk::glib::TimeZone,
) -> String {
    let mut s = String::new();
    for e in entries {
        s.push_str(&format_line(e, tz).0);
        s.push('\n');
    }
    s
}

/// Drops the oldest entries beyond `max`; how many went.
pub fn cap<T>(entries: &mut VecDeque<T>, max: usize) -> usize {
    let extra = entries.len().saturating_sub(max);
    entries.drain(..extra);
    extra
}

/// The suggested file name: `dialtone-NAME-YYYYMMDD-HHMMSS.log`, the name
/// made safe for file systems (`Example ISP/2` gives `Example-ISP-2`).
pub fn save_name(profile_name: &str, now: &gtk::glib::DateTime) -> String {
    let mut name = String::new();
    for c in profile_name.trim().chars() {
        let keep = c.is_alphanumeric() || matches!(c, '_' | '.' | '+');
        if keep {
            name.push(c);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_matches(|c| c == '-' || c == '.');
    let name = if name.is_empty() { "link" } else { name };
    let stamp = now
        .format("%Y%m%d-%H%M%S")
        .map(|s| s.to_string())
        .unwrap_or_default();
    format!("dialtone-{name}-{stamp}.log")
}

/// Writes `contents` to `path` all or nothing: into a temporary file in
/// the same directory, flushed to disk, then renamed over `path`. The
/// temporary file is removed when anything fails.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = dir.join(temp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// A tag's colour (`#rrggbb`) in the light or the dark style, from the
/// GNOME palette, readable on the view's background; `None` keeps the
/// text's own colour.
pub fn tag_colour(tag: &str, dark: bool) -> Option<&'static str> {
    let (light, dark_colour) = match tag {
        "time" => ("#77767b", "#9a9996"),
        "modem-out" => ("#1a5fb4", "#99c1f1"),
        "modem-in" => ("#1c71d8", "#62a0ea"),
        "login-out" => ("#613583", "#dc8add"),
        "login-in" => ("#813d9c", "#c061cb"),
        "ppp-out" => ("#0b6a41", "#8ff0a4"),
        "ppp-in" => ("#1f7a4d", "#57e389"),
        "note" => ("#a33d00", "#ffbe6f"),
        _ => return None,
    };
    Some(if dark { dark_colour } else { light })
}

/// Adds keyboard shortcuts (`"<Control>w"`, `"Escape"`) to a window.
pub(crate) fn add_shortcuts(
    window: &impl IsA<gtk::Widget>,
    triggers: &[&str],
    action: impl Fn() + 'static,
) {
    let action = Rc::new(action);
    let controller = gtk::ShortcutController::new();
    controller.set_scope(gtk::ShortcutScope::Managed);
    for t in triggers {
        let Some(trigger) = gtk::ShortcutTrigger::parse_string(t) else {
            tracing::warn!("not a shortcut: {t}");
            continue;
        };
        let action = action.clone();
        let callback = gtk::CallbackAction::new(move |_, _| {
            action();
            gtk::glib::Propagation::Stop
        });
        controller.add_shortcut(gtk::Shortcut::new(Some(trigger), Some(callback)));
    }
    window.add_controller(controller);
}

// ---- the window ----

/// The window's model.
pub struct Log {
    name: String,
    entries: VecDeque<TranscriptEntry>,
    tz: gtk::glib::TimeZone,
    buffer: gtk::TextBuffer,
    /// The view's vertical adjustment, once the widgets are made.
    adjustment: Option<gtk::Adjustment>,
    /// The view, once made.
    text_view: Option<gtk::TextView>,
    search_bar: gtk::SearchBar,
    search_entry: gtk::SearchEntry,
    /// What is searched for.
    search: String,
    /// How many matches there are.
    matches: usize,
    /// Whether the user is at the end.
    follow: Rc<RefCell<Follow>>,
    toasts: adw::ToastOverlay,
    window: adw::Window,
    chooser: Option<gtk::FileChooserNative>,
    dark_handler: Option<gtk::glib::SignalHandlerId>,
}

impl Log {
    fn title(&self) -> String {
        text::fill(&gettext("Log — {name}"), &[("name", &self.name)])
    }

    /// Appends one line to the buffer (entries are kept apart).
    fn insert(&self, entry: &TranscriptEntry) {
        let (line, tag) = format_line(entry, &self.tz);
        let mut end = self.buffer.end_iter();
        if self.buffer.char_count() > 0 {
            self.buffer.insert(&mut end, "\n");
        }
        let split = line
            .char_indices()
            .nth(TIME_WIDTH)
            .map(|(i, _)| i)
            .unwrap_or(line.len());
        let (time, rest) = line.split_at(split);
        self.buffer
            .insert_with_tags_by_name(&mut end, time, &["time"]);
        self.buffer.insert_with_tags_by_name(&mut end, rest, &[tag]);
    }

    /// After a change of the text: once it is laid out, a view that was
    /// at the end goes (back) there.
    fn keep_at_end(&self, dropped: f64) {
        let value = self.adjustment.as_ref().map_or(0.0, |a| a.value());
        if !self.follow.borrow_mut().text_changed(value, dropped) {
            return;
        }
        let follow = self.follow.clone();
        let adjustment = self.adjustment.clone();
        // After the layout and the text view's own validation.
        gtk::glib::idle_add_local_full(gtk::glib::Priority::LOW, move || {
            let Some(a) = &adjustment else {
                follow.borrow_mut().settled(0.0, 0.0, 0.0);
                return gtk::glib::ControlFlow::Break;
            };
            let to = follow
                .borrow_mut()
                .settled(a.value(), a.page_size(), a.upper());
            if let Some(to) = to {
                a.set_value(to);
            }
            gtk::glib::ControlFlow::Break
        });
    }

    fn push(&mut self, entry: TranscriptEntry) {
        self.insert(&entry);
        self.entries.push_back(entry);
        let dropped = cap(&mut self.entries, MAX_LINES);
        let mut height = 0.0;
        if dropped > 0 {
            let mut start = self.buffer.start_iter();
            let mut end = self
                .buffer
                .iter_at_line(dropped as i32)
                .unwrap_or_else(|| self.buffer.end_iter());
            // How far the text below moves up.
            if let Some(view) = &self.text_view {
                height = f64::from(view.line_yrange(&end).0);
            }
            self.buffer.delete(&mut start, &mut end);
        }
        if !self.search.is_empty() {
            self.highlight();
        }
        self.keep_at_end(height);
    }

    fn reset(&mut self, lines: Vec<TranscriptEntry>) {
        self.buffer.set_text("");
        let mut entries: VecDeque<TranscriptEntry> = lines.into();
        cap(&mut entries, MAX_LINES);
        for e in &entries {
            self.insert(e);
        }
        self.entries = entries;
        self.highlight();
        self.keep_at_end(0.0);
    }

    /// Marks every match of the search (case does not matter).
    fn highlight(&mut self) {
        let (start, end) = self.buffer.bounds();
        self.buffer.remove_tag_by_name("match", &start, &end);
        self.buffer
            .remove_tag_by_name("current-match", &start, &end);
        self.matches = 0;
        if self.search.is_empty() {
            return;
        }
        let mut from = start;
        while let Some((a, b)) =
            from.forward_search(&self.search, gtk::TextSearchFlags::CASE_INSENSITIVE, None)
        {
            self.buffer.apply_tag_by_name("match", &a, &b);
            self.matches += 1;
            from = b;
        }
    }

    /// Selects the next (or previous) match after (before) the selection
    /// and shows it, going round at the end (start). `again`: past the
    /// selected match; else from its start (the search text grew).
    fn find(&self, backwards: bool, again: bool) {
        if self.search.is_empty() {
            return;
        }
        let flags = gtk::TextSearchFlags::CASE_INSENSITIVE;
        let (sel_start, sel_end) = self.buffer.selection_bounds().unwrap_or_else(|| {
            let at = self.buffer.iter_at_mark(&self.buffer.get_insert());
            (at, at)
        });
        let found = if backwards {
            sel_start
                .backward_search(&self.search, flags, None)
                .or_else(|| {
                    self.buffer
                        .end_iter()
                        .backward_search(&self.search, flags, None)
                })
        } else {
            let from = if again { sel_end } else { sel_start };
            from.forward_search(&self.search, flags, None).or_else(|| {
                self.buffer
                    .start_iter()
                    .forward_search(&self.search, flags, None)
            })
        };
        if let Some((a, b)) = found {
            let (start, end) = self.buffer.bounds();
            self.buffer
                .remove_tag_by_name("current-match", &start, &end);
            self.buffer.apply_tag_by_name("current-match", &a, &b);
            self.buffer.select_range(&a, &b);
            if let Some(view) = &self.text_view {
                let mut at = a;
                view.scroll_to_iter(&mut at, 0.0, true, 0.0, 0.5);
            }
        }
    }

    fn match_text(&self) -> String {
        match self.matches {
            _ if self.search.is_empty() => String::new(),
            0 => gettext("No matches"),
            n => text::fill(
                &gettextrs::ngettext("{n} match", "{n} matches", n as u32),
                &[("n", &n.to_string())],
            ),
        }
    }

    fn toast(&self, message: &str) {
        let toast = adw::Toast::new(message);
        toast.set_timeout(4);
        // Answers to what was just done: not queued behind older ones.
        toast.set_priority(adw::ToastPriority::High);
        self.toasts.add_toast(toast);
    }

    fn text(&self) -> String {
        log_text(&self.entries, &self.tz)
    }

    fn ask_where(&mut self, sender: &ComponentSender<Self>) {
        let chooser = gtk::FileChooserNative::new(
            Some(&gettext("Save Log")),
            Some(&self.window),
            gtk::FileChooserAction::Save,
            Some(&gettext("_Save")),
            Some(&gettext("_Cancel")),
        );
        chooser.set_modal(true);
        let now = gtk::glib::DateTime::now_local()
            .or_else(|_| gtk::glib::DateTime::now_utc())
            .ok();
        if let Some(now) = now {
            chooser.set_current_name(&save_name(&self.name, &now));
        }
        if let Some(dir) = gtk::glib::user_special_dir(gtk::glib::UserDirectory::Documents)
            .filter(|d| d.is_dir())
            .or_else(|| Some(gtk::glib::home_dir()))
        {
            let _ = chooser.set_current_folder(Some(&gtk::gio::File::for_path(dir)));
        }
        let s = sender.clone();
        chooser.connect_response(move |c, response| {
            if response == gtk::ResponseType::Accept {
                if let Some(path) = c.file().and_then(|f| f.path()) {
                    s.input(LogInput::SaveTo(path));
                }
            }
        });
        chooser.show();
        self.chooser = Some(chooser);
    }
}

/// Sets the tags' colours for the light or the dark style.
fn colour_tags(table: &gtk::TextTagTable, dark: bool) {
    for name in LINE_TAGS.iter().chain(&["time"]) {
        let Some(tag) = table.lookup(name) else {
            continue;
        };
        match tag_colour(name, dark).and_then(|c| gtk::gdk::RGBA::parse(c).ok()) {
            Some(rgba) => tag.set_foreground_rgba(Some(&rgba)),
            None => tag.set_foreground_rgba(None),
        }
    }
}

/// The buffer's tags: the time column, one per line tag (sent lines
/// bold, notes in italics), and search matches.
fn make_tags(buffer: &gtk::TextBuffer) {
    let table = buffer.tag_table();
    for name in LINE_TAGS.iter().chain(&["time"]) {
        let tag = gtk::TextTag::new(Some(name));
        if name.ends_with("-out") {
            tag.set_weight(700);
        }
        if *name == "note" {
            tag.set_style(gtk::pango::Style::Italic);
        }
        table.add(&tag);
    }
    // Added last: above the line tags.
    let found = gtk::TextTag::new(Some("match"));
    if let Ok(yellow) = gtk::gdk::RGBA::parse("rgba(246, 211, 45, 0.45)") {
        found.set_background_rgba(Some(&yellow));
    }
    table.add(&found);
    // The current match: dark text on orange, in either style.
    let current = gtk::TextTag::new(Some("current-match"));
    if let (Ok(orange), Ok(ink)) = (
        gtk::gdk::RGBA::parse("#ffa348"),
        gtk::gdk::RGBA::parse("#241f31"),
    ) {
        current.set_background_rgba(Some(&orange));
        current.set_foreground_rgba(Some(&ink));
    }
    table.add(&current);
    colour_tags(&table, adw::StyleManager::default().is_dark());
}

#[relm4::component(pub)]
impl Component for Log {
    type Init = LogInit;
    type Input = LogInput;
    type Output = LogOutput;
    type CommandOutput = ();

    view! {
        #[root]
        window = adw::Window {
            #[watch]
            set_title: Some(&model.title()),
            set_default_size: (760, 520),
            set_width_request: 360,
            set_height_request: 240,

            connect_close_request[sender] => move |_| {
                if sender.output(LogOutput::Closed).is_err() {
                    tracing::debug!("nobody listens to the log window");
                }
                gtk::glib::Propagation::Proceed
            },

            gtk::Box {
                set_orientation: gtk::Orientation::Vertical,

                adw::HeaderBar {
                    #[wrap(Some)]
                    set_title_widget = &adw::WindowTitle {
                        #[watch]
                        set_title: &model.title(),
                    },
                    pack_start = &gtk::Button {
                        set_icon_name: "edit-copy-symbolic",
                        set_tooltip_text: Some(&gettext("Copy the Whole Log")),
                        set_a11y_label: &gettext("Copy"),
                        #[watch]
                        set_sensitive: !model.entries.is_empty(),
                        connect_clicked => LogInput::Copy,
                    },
                    #[name = "search_toggle"]
                    pack_end = &gtk::ToggleButton {
                        set_icon_name: "edit-find-symbolic",
                        set_tooltip_text: Some(&gettext("Search")),
                        set_a11y_label: &gettext("Search"),
                    },
                    pack_end = &gtk::Button {
                        set_icon_name: "document-save-as-symbolic",
                        set_tooltip_text: Some(&gettext("Save As…")),
                        set_a11y_label: &gettext("Save As…"),
                        #[watch]
                        set_sensitive: !model.entries.is_empty(),
                        connect_clicked => LogInput::Save,
                    },
                },

                #[local_ref]
                search_bar -> gtk::SearchBar {
                    #[wrap(Some)]
                    set_child = &gtk::Box {
                        set_spacing: 6,

                        #[local_ref]
                        search_entry -> gtk::SearchEntry {
                            set_width_chars: 28,
                            set_placeholder_text: Some(&gettext("Search the log")),
                            set_a11y_label: &gettext("Search the log"),
                            connect_search_changed[sender] => move |e| {
                                sender.input(LogInput::Search(e.text().to_string()));
                            },
                            connect_activate => LogInput::Find { backwards: false },
                            connect_next_match => LogInput::Find { backwards: false },
                            connect_previous_match => LogInput::Find { backwards: true },
                        },
                        gtk::Button {
                            set_icon_name: "go-up-symbolic",
                            set_tooltip_text: Some(&gettext("Previous Match")),
                            set_a11y_label: &gettext("Previous match"),
                            #[watch]
                            set_sensitive: model.matches > 0,
                            connect_clicked => LogInput::Find { backwards: true },
                        },
                        gtk::Button {
                            set_icon_name: "go-down-symbolic",
                            set_tooltip_text: Some(&gettext("Next Match")),
                            set_a11y_label: &gettext("Next match"),
                            #[watch]
                            set_sensitive: model.matches > 0,
                            connect_clicked => LogInput::Find { backwards: false },
                        },
                        gtk::Label {
                            #[watch]
                            set_label: &model.match_text(),
                            set_width_chars: 12,
                            set_xalign: 0.0,
                            add_css_class: "dim-label",
                        },
                    },
                },

                #[local_ref]
                toasts -> adw::ToastOverlay {
                    set_vexpand: true,

                    gtk::Stack {
                        add_named[Some("empty")] = &adw::StatusPage {
                            set_icon_name: Some("utilities-terminal-symbolic"),
                            set_title: &gettext("Nothing Logged Yet"),
                            set_description: Some(&gettext(
                                "The conversation with the modem, the login and the PPP negotiation show here as the connection dials.",
                            )),
                        },

                        #[name = "scrolled"]
                        add_named[Some("log")] = &gtk::ScrolledWindow {
                            set_hscrollbar_policy: gtk::PolicyType::Automatic,

                            #[name = "text_view"]
                            gtk::TextView {
                                set_buffer: Some(&model.buffer),
                                set_editable: false,
                                set_cursor_visible: false,
                                set_monospace: true,
                                set_wrap_mode: gtk::WrapMode::WordChar,
                                set_top_margin: 12,
                                set_bottom_margin: 12,
                                set_left_margin: 12,
                                set_right_margin: 12,
                                set_pixels_below_lines: 2,
                                // Wrapped text lines up under the text column.
                                set_indent: 0,
                                #[watch]
                                set_a11y_label: &text::fill(&gettext("Log of {name}"), &[("name", &model.name)]),
                            },
                        },

                        #[watch]
                        set_visible_child_name: if model.entries.is_empty() { "empty" } else { "log" },
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
        let buffer = gtk::TextBuffer::new(None);
        make_tags(&buffer);
        let toasts = adw::ToastOverlay::new();
        let search_bar = gtk::SearchBar::new();
        let search_entry = gtk::SearchEntry::new();
        let mut model = Log {
            name: init.profile_name,
            entries: VecDeque::new(),
            tz: gtk::glib::TimeZone::local(),
            buffer: buffer.clone(),
            adjustment: None,
            text_view: None,
            search_bar: search_bar.clone(),
            search_entry: search_entry.clone(),
            search: String::new(),
            matches: 0,
            follow: Rc::new(RefCell::new(Follow::default())),
            toasts: toasts.clone(),
            window: root.clone(),
            chooser: None,
            dark_handler: None,
        };
        model.reset(init.lines);
        let widgets = view_output!();

        // Follow the end while the user is there (see Follow).
        let adjustment = widgets.scrolled.vadjustment();
        model.adjustment = Some(adjustment.clone());
        model.text_view = Some(widgets.text_view.clone());
        let follow = model.follow.clone();
        adjustment.connect_value_changed(move |a| {
            let to = follow
                .borrow_mut()
                .moved(a.value(), a.page_size(), a.upper());
            if let Some(to) = to {
                a.set_value(to);
            }
        });
        let follow = model.follow.clone();
        adjustment.connect_changed(move |a| {
            let to = follow
                .borrow_mut()
                .resized(a.value(), a.page_size(), a.upper());
            if let Some(to) = to {
                a.set_value(to);
            }
        });
        model.keep_at_end(0.0);
        // Wrapped lines continue under the text, past the time and source.
        widgets.text_view.connect_realize(|v| {
            let column = " ".repeat(TEXT_COLUMN);
            let width = v.create_pango_layout(Some(&column)).pixel_size().0;
            v.set_indent(-width);
        });

        let table = buffer.tag_table();
        model.dark_handler = Some(adw::StyleManager::default().connect_dark_notify(move |m| {
            colour_tags(&table, m.is_dark());
        }));

        let s = sender.clone();
        add_shortcuts(&root, &["Escape", "<Control>w"], move || {
            s.input(LogInput::Close)
        });
        let s = sender.clone();
        add_shortcuts(&root, &["<Control>s"], move || s.input(LogInput::Save));
        let s = sender.clone();
        add_shortcuts(&root, &["<Control>f"], move || {
            s.input(LogInput::StartSearch)
        });
        search_bar.connect_entry(&search_entry);
        widgets
            .search_toggle
            .bind_property("active", &search_bar, "search-mode-enabled")
            .bidirectional()
            .sync_create()
            .build();
        let s = sender.clone();
        search_bar.connect_search_mode_enabled_notify(move |bar| {
            if !bar.is_search_mode() {
                s.input(LogInput::Search(String::new()));
            }
        });

        let w = root.clone();
        gtk::glib::idle_add_local_once(move || w.present());
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Self::Input, sender: ComponentSender<Self>, _root: &Self::Root) {
        match msg {
            LogInput::Line(e) => self.push(e),
            LogInput::Reset(lines) => self.reset(lines),
            LogInput::Renamed(name) => self.name = name,
            LogInput::Copy => {
                self.window.clipboard().set_text(&self.text());
                self.toast(&gettext("Copied"));
            }
            LogInput::Save => {
                if !self.entries.is_empty() {
                    self.ask_where(&sender);
                }
            }
            LogInput::SaveTo(path) => {
                self.chooser = None;
                let shown = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                match write_atomically(&path, self.text().as_bytes()) {
                    Ok(()) => self.toast(&text::fill(
                        &gettext("Saved as {file}"),
                        &[("file", &shown)],
                    )),
                    Err(e) => self.toast(&text::fill(
                        &gettext("Cannot save {file}: {error}"),
                        &[("file", &shown), ("error", &e.to_string())],
                    )),
                }
            }
            LogInput::Close => self.window.close(),
            LogInput::StartSearch => {
                self.search_bar.set_search_mode(true);
                self.search_entry.grab_focus();
            }
            LogInput::Search(text) => {
                if text != self.search {
                    self.search = text;
                    self.highlight();
                    self.find(false, false);
                }
            }
            LogInput::Find { backwards } => self.find(backwards, true),
        }
    }

    fn shutdown(&mut self, _widgets: &mut Self::Widgets, _output: relm4::Sender<Self::Output>) {
        if let Some(h) = self.dark_handler.take() {
            adw::StyleManager::default().disconnect(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gtk::glib;

    fn entry(usec: u64, source: &str, direction: &str, text: &str) -> TranscriptEntry {
        TranscriptEntry {
            time_usec: usec,
            source: source.into(),
            direction: direction.into(),
            text: text.into(),
        }
    }

    // 2024-03-05 12:00:01.250 UTC.
    const T: u64 = 1_709_640_001_250_000;

    #[test]
    fn lines_in_local_time_with_source_and_direction() {
        let utc = glib::TimeZone::utc();
        let plus2 = glib::TimeZone::from_offset(2 * 3600);
        assert_eq!(
            format_line(&entry(T, "modem", "out", "ATDT5550100"), &utc),
            (
                "12:00:01.250  MODEM →  ATDT5550100".to_string(),
                "modem-out"
            )
        );
        assert_eq!(
            format_line(&entry(T + 7_000, "modem", "in", "CONNECT 57600"), &plus2),
            (
                "14:00:01.257  MODEM ←  CONNECT 57600".to_string(),
                "modem-in"
            )
        );
        assert_eq!(
            format_line(&entry(T, "ppp", "out", "LCP ConfReq id=1"), &utc).0,
            "12:00:01.250  PPP   →  LCP ConfReq id=1"
        );
        assert_eq!(
            format_line(&entry(T, "login", "in", "login:"), &utc),
            ("12:00:01.250  LOGIN ←  login:".to_string(), "login-in")
        );
        assert_eq!(
            format_line(&entry(T, "note", "", "Dialing 555-0100"), &utc),
            (
                "12:00:01.250  NOTE     Dialing 555-0100".to_string(),
                "note"
            )
        );
        assert_eq!(format_line(&entry(T, "chat", "in", "x"), &utc).1, "other");
        // Half past midnight west of UTC is the day before.
        let minus5 = glib::TimeZone::from_offset(-5 * 3600);
        assert_eq!(
            clock(1_709_596_800_000_000 + 1_800_000_000, &minus5),
            "19:30:00.000"
        );
        assert_eq!(clock(T, &utc).chars().count(), TIME_WIDTH);
        let line = format_line(&entry(T, "modem", "in", "OK"), &utc).0;
        assert_eq!(line.chars().skip(TEXT_COLUMN).collect::<String>(), "OK");
    }

    #[test]
    fn every_tag_has_colours_for_both_styles() {
        for tag in LINE_TAGS.iter().filter(|t| **t != "other").chain(&["time"]) {
            let light = tag_colour(tag, false).unwrap_or_else(|| panic!("{tag} light"));
            let dark = tag_colour(tag, true).unwrap_or_else(|| panic!("{tag} dark"));
            assert_ne!(light, dark, "{tag}");
            assert!(gtk::gdk::RGBA::parse(light).is_ok(), "{tag}");
            assert!(gtk::gdk::RGBA::parse(dark).is_ok(), "{tag}");
        }
        assert_eq!(tag_colour("other", false), None);
        // The two directions of a source differ.
        for source in ["modem", "login", "ppp"] {
            for dark in [false, true] {
                assert_ne!(
                    tag_colour(&format!("{source}-out"), dark),
                    tag_colour(&format!("{source}-in"), dark)
                );
            }
        }
    }

    #[test]
    fn control_characters_are_shown() {
        assert_eq!(visible("OK\r\n"), "OK");
        assert_eq!(visible("a\rb\n\r"), "a␍b");
        assert_eq!(visible("a\tb\u{1b}[0m"), "a\tb␛[0m");
        assert_eq!(visible("plain"), "plain");
        let utc = glib::TimeZone::utc();
        assert!(!format_line(&entry(T, "modem", "in", "a\nb"), &utc)
            .0
            .contains('\n'));
    }

    #[test]
    fn the_log_as_text() {
        let utc = glib::TimeZone::utc();
        let lines = [
            entry(T, "note", "", "Opening /dev/ttyUSB0"),
            entry(T + 1_000, "modem", "out", "AT"),
        ];
        assert_eq!(
            log_text(&lines, &utc),
            "12:00:01.250  NOTE     Opening /dev/ttyUSB0\n12:00:01.251  MODEM →  AT\n"
        );
        assert_eq!(log_text(&[], &utc), "");
    }

    #[test]
    fn the_view_follows_until_the_user_scrolls_up() {
        let mut f = Follow::default();
        // Laid out: the first page, then the text grows (value-changed
        // may come before changed).
        assert_eq!(f.resized(0.0, 0.0, 24.0), None, "not shown yet");
        assert_eq!(
            f.moved(65.0, 463.0, 642.0),
            Some(179.0),
            "growth: back to the end"
        );
        assert_eq!(f.moved(179.0, 463.0, 642.0), None);
        assert!(f.following());
        assert_eq!(f.resized(179.0, 463.0, 700.0), Some(237.0), "a new line");
        // The user scrolls up: the view stays where they put it.
        assert_eq!(f.moved(100.0, 463.0, 700.0), None);
        assert!(!f.following());
        assert_eq!(f.resized(100.0, 463.0, 760.0), None, "lines come, no jump");
        assert_eq!(
            f.moved(98.0, 463.0, 770.0),
            None,
            "layout moves it, still no jump"
        );
        // Back at the end: following again.
        assert_eq!(f.moved(307.0, 463.0, 770.0), None);
        assert!(f.following());
        assert_eq!(f.resized(307.0, 463.0, 790.0), Some(327.0));
        assert_eq!(f.moved(327.0, 463.0, 790.0), None);
        // The oldest line dropped as a new one came: the height stays,
        // the view slides up by a line while the text is laid out.
        assert!(
            f.text_changed(327.0, 20.0),
            "the first change asks to be told"
        );
        assert!(!f.text_changed(327.0, 0.0), "once");
        assert_eq!(f.moved(307.0, 463.0, 790.0), Some(327.0));
        assert!(f.following(), "not taken for the user's scroll");
        assert_eq!(f.settled(327.0, 463.0, 790.0), None);
        assert!(
            f.text_changed(327.0, 20.0),
            "settled: the next change asks again"
        );
        assert_eq!(f.settled(310.0, 463.0, 790.0), Some(327.0));
        // Scrolled up: the view keeps showing the same text while lines
        // are dropped above it (whatever the view did meanwhile).
        assert_eq!(f.moved(100.0, 463.0, 790.0), None);
        assert!(!f.following());
        f.text_changed(100.0, 20.0);
        f.text_changed(100.0, 56.0);
        assert_eq!(f.moved(60.0, 463.0, 790.0), None, "the view's own move");
        assert_eq!(f.settled(60.0, 463.0, 790.0), Some(24.0));
        assert_eq!(f.moved(24.0, 463.0, 790.0), None);
        assert!(!f.following());
        // Dropped past the top: the top.
        f.text_changed(24.0, 40.0);
        assert_eq!(f.settled(10.0, 463.0, 790.0), Some(0.0));
        f.text_changed(0.0, 0.0);
        assert_eq!(f.settled(0.0, 463.0, 800.0), None, "already there");
    }

    #[test]
    fn following_the_end() {
        assert!(at_end(100.0, 100.0, 200.0));
        assert!(at_end(93.0, 100.0, 200.0), "a few pixels short");
        assert!(!at_end(50.0, 100.0, 200.0), "scrolled up");
        assert!(at_end(0.0, 100.0, 60.0), "everything fits");
    }

    #[test]
    fn the_oldest_lines_go_first() {
        let mut v: VecDeque<u32> = (0..2005).collect();
        assert_eq!(cap(&mut v, 2000), 5);
        assert_eq!(v.len(), 2000);
        assert_eq!(v.front(), Some(&5));
        assert_eq!(v.back(), Some(&2004));
        assert_eq!(cap(&mut v, 2000), 0);
        let mut small: VecDeque<u32> = (0..3).collect();
        assert_eq!(cap(&mut small, 2000), 0);
        assert_eq!(small.len(), 3);
    }

    #[test]
    fn file_names_for_saving() {
        let at = glib::DateTime::from_unix_utc(1_709_640_001).expect("a time");
        assert_eq!(
            save_name("Example ISP", &at),
            "dialtone-Example-ISP-20240305-120001.log"
        );
        assert_eq!(
            save_name(" ../Work / Home ", &at),
            "dialtone-Work-Home-20240305-120001.log"
        );
        assert_eq!(save_name("Café", &at), "dialtone-Café-20240305-120001.log");
        assert_eq!(save_name("///", &at), "dialtone-link-20240305-120001.log");
    }

    #[test]
    fn saving_replaces_the_file_whole() {
        let dir = std::env::temp_dir().join(format!("dialtone-log-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let path = dir.join("out.log");
        write_atomically(&path, b"first\n").expect("written");
        write_atomically(&path, b"second\n").expect("replaced");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "second\n");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .expect("listed")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("out.log")],
            "no temp file"
        );
        // A directory that is not there: an error, and nothing left behind.
        let missing = dir.join("nope").join("x.log");
        assert!(write_atomically(&missing, b"x").is_err());
        // A directory in the way of the rename: the temp file is removed.
        let blocked = dir.join("blocked");
        std::fs::create_dir_all(blocked.join("inside")).expect("a directory");
        assert!(write_atomically(&blocked, b"x").is_err());
        let left = std::fs::read_dir(&dir).expect("listed").count();
        assert_eq!(left, 2, "out.log and blocked only");
        std::fs::remove_dir_all(&dir).expect("cleaned up");
    }
}
