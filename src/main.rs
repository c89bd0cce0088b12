//! # Dialtone
//!
//! The desktop app: GTK 4 and libadwaita through relm4. It shows and edits
//! what `dialtoned` (the privileged helper, on the system bus) has, and
//! never touches system files itself.
//!
//! The widget tree:
//!
//! - [`app::App`], an `adw::ApplicationWindow`: a header bar (back, title,
//!   main menu) over a toast overlay and a stack of pages: *loading*,
//!   *absent* (the daemon is not there), *empty* (no profiles), *list*
//!   (a boxed `gtk::ListBox` of [`rows::ProfileRow`]s, made by a relm4
//!   factory) and *details* ([`details::Details`], with the
//!   [`graph::Graph`]).
//! - State comes only from [`daemon::watch`], which mirrors the daemon's
//!   objects ([`daemon::Mirror`]); calls go through [`daemon::Calls`].
//! - Words for states and reasons are made in [`text`], translated with
//!   gettext; notifications are decided in [`notify`].
//!
//! `dialtone --connect [NAME]` and `--disconnect [NAME]` act without
//! opening the window; a running instance takes them over (GApplication).

mod a11y;
mod app;
mod assistant;
mod daemon;
mod details;
mod editor;
mod graph;
mod last_used;
mod log;
mod modem;
mod notify;
mod rows;
mod text;

use std::path::PathBuf;
use std::process::ExitCode;

use relm4::gtk::prelude::*;
use relm4::{adw, gtk, MessageBroker, RelmApp};

use app::{App, AppInit, AppMsg, Request};
use daemon::BusChoice;

/// The application id (D-Bus name, desktop file, icon).
pub const APP_ID: &str = "io.github.dialtone.Dialtone";

/// The gettext domain.
const DOMAIN: &str = "dialtone";

static BROKER: MessageBroker<AppMsg> = MessageBroker::new();

const USAGE: &str =
    "Usage: dialtone [--connect [NAME]] [--disconnect [NAME]] [--bus-address ADDRESS]

  (no option)          open the window
  --connect [NAME]     connect the connection with this id or name (without
                       NAME: the one used last), without opening the window;
                       a notification tells when it is up or why it failed
  --disconnect [NAME]  hang up this connection (without NAME: every one)
  --bus-address ADDR   the D-Bus address of dialtoned's bus (default: the
                       system bus)
  --version            print the version
  --help               print this";

/// The command line, parsed.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    request: Request,
    bus: BusChoice,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut request = Request::Show;
    let mut bus = BusChoice::System;
    let mut i = 0;
    let value =
        |i: usize| -> Option<String> { args.get(i + 1).filter(|a| !a.starts_with("--")).cloned() };
    while i < args.len() {
        match args[i].as_str() {
            "--connect" | "--disconnect" => {
                if request != Request::Show {
                    return Err("give one of --connect and --disconnect, once".into());
                }
                let name = value(i);
                if name.is_some() {
                    i += 1;
                }
                request = if args[i - usize::from(name.is_some())] == "--connect" {
                    Request::Connect(name)
                } else {
                    Request::Disconnect(name)
                };
            }
            "--bus-address" => {
                let Some(a) = value(i) else {
                    return Err("--bus-address needs an address".into());
                };
                bus = BusChoice::Address(a);
                i += 1;
            }
            other => return Err(format!("unknown argument “{other}”")),
        }
        i += 1;
    }
    Ok(Args { request, bus })
}

/// Where the translations are: `DIALTONE_LOCALE_DIR`, else next to an
/// installed binary (`PREFIX/share/locale`), else what `cargo xtask po`
/// built (`target/locale`).
fn locale_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DIALTONE_LOCALE_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let bin = exe.parent().map(PathBuf::from).unwrap_or_default();
    let installed = bin.join("../share/locale");
    if installed.is_dir() {
        return installed;
    }
    let built = bin.join("../locale");
    if built.is_dir() {
        return built;
    }
    PathBuf::from("/usr/share/locale")
}

fn init_gettext() {
    use gettextrs::{
        bind_textdomain_codeset, bindtextdomain, setlocale, textdomain, LocaleCategory,
    };
    setlocale(LocaleCategory::LcAll, "");
    if let Err(e) = bindtextdomain(DOMAIN, locale_dir()) {
        tracing::warn!("no translations: {e}");
    }
    if let Err(e) = bind_textdomain_codeset(DOMAIN, "UTF-8") {
        tracing::warn!("no translations: {e}");
    }
    if let Err(e) = textdomain(DOMAIN) {
        tracing::warn!("no translations: {e}");
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let rest = &argv[1..];
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if rest.iter().any(|a| a == "--version") {
        println!("dialtone {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let args = match parse_args(rest) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("dialtone: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    init_gettext();

    let app = adw::Application::new(
        Some(APP_ID),
        gtk::gio::ApplicationFlags::HANDLES_COMMAND_LINE,
    );
    app.connect_command_line(|app, cmdline| {
        let argv: Vec<String> = cmdline
            .arguments()
            .iter()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        match parse_args(&argv) {
            Ok(Args {
                request: Request::Show,
                ..
            }) => {
                app.activate();
                gtk::glib::ExitCode::SUCCESS
            }
            Ok(Args { request, .. }) => {
                // Held until the window has taken the request over (it holds
                // the application itself while the request runs).
                app::hold_for_request(app.hold());
                BROKER.send(AppMsg::Request(request));
                gtk::glib::ExitCode::SUCCESS
            }
            Err(e) => {
                // printerr_literal is GLib 2.80; this GLib is 2.74.
                eprintln!("dialtone: a second instance was refused: {e}");
                gtk::glib::ExitCode::from(2)
            }
        }
    });
    // A second instance only hands its command line to the first one
    // (GApplication's remote mode) and then must exit; but after
    // `Application::run` returns, relm4 waits for one more event of the main
    // context, which nothing sends in a remote instance. This timer is that
    // event there; in the first instance it stops once registered.
    let probe = app.clone();
    gtk::glib::timeout_add_local(std::time::Duration::from_millis(200), move || {
        if probe.is_registered() && !probe.is_remote() {
            gtk::glib::ControlFlow::Break
        } else {
            gtk::glib::ControlFlow::Continue
        }
    });
    let relm = RelmApp::from_app(app)
        .with_broker(&BROKER)
        .with_args(argv.clone());
    relm.run::<App>(AppInit {
        bus: args.bus,
        report_first_frame: std::env::var_os("DIALTONE_REPORT_FIRST_FRAME").is_some(),
    });
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn command_lines() {
        assert_eq!(parse(&[]).map(|a| a.request), Ok(Request::Show));
        assert_eq!(
            parse(&["--connect", "isp"]).map(|a| a.request),
            Ok(Request::Connect(Some("isp".into())))
        );
        assert_eq!(
            parse(&["--connect"]).map(|a| a.request),
            Ok(Request::Connect(None))
        );
        assert_eq!(
            parse(&["--disconnect", "--bus-address", "unix:path=/x"]),
            Ok(Args {
                request: Request::Disconnect(None),
                bus: BusChoice::Address("unix:path=/x".into())
            })
        );
        assert!(parse(&["--connect", "a", "--disconnect"]).is_err());
        assert!(parse(&["--bus-address"]).is_err());
        assert!(parse(&["--frobnicate"]).is_err());
    }
}
