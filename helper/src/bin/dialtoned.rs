//! `dialtoned`: Dialtone's privileged helper.
//!
//! `dialtoned run PROFILE.ron [--device PATH]` brings one link up in the
//! foreground, like `pppd call isp nodetach`: one line per state change,
//! `connected` on the line that says the link is up, teardown on Ctrl-C or
//! SIGTERM, and an exit status that says why it ended (pppd's numbers
//! where one fits; see `dialtoned --help`).

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use dialtone_api::profile::Profile;
use dialtone_api::secrets::Secrets;
use dialtone_helper::dns::{Backend, Dns};
use dialtone_helper::net::RouteJournal;
use dialtone_helper::runtime::{Command, Progress, Session, SessionEvent, SessionOptions};
use dialtone_helper::service::ServiceConfig;
use tokio::signal::unix::{signal, SignalKind};

const USAGE: &str = "\
usage: dialtoned service [options]
       dialtoned run PROFILE.ron [options]

dialtoned service: the system service on the D-Bus system bus
(io.github.dialtone.Dialtone1), normally started by D-Bus activation.

options of service:
  --idle-timeout SECS  exit after SECS with no link up and no call
                       (default: run until SIGTERM)
  --config-dir DIR     profiles/ and secrets/ below it (default /etc/dialtone)
  --state-dir DIR      backups and the journal (default /var/lib/dialtone)
  --lock-dir DIR       where UUCP lock files go (default /run/lock)
  --modem-link PATH    the modem link SetModemLink manages (default /dev/modem)
  --bus-address ADDR   serve on this bus instead of the system bus
  --dns MODE, --resolv-conf PATH, --interface NAME: as for run

dialtoned run: one link in the foreground, without the bus.

Brings the profile's link up in the foreground and keeps it up until
Ctrl-C or SIGTERM (a second one drops the line at once).

options:
  --device PATH        use this serial device instead of the profile's
  --secrets FILE       the profile's secrets (default: ../secrets/NAME.ron
                       beside the profile's directory, if it exists)
  --interface NAME     the network interface name or template (dtn%d)
  --dns MODE           auto (default), resolved or resolv-conf
  --resolv-conf PATH   the resolv.conf to manage (default /etc/resolv.conf)
  --state-dir DIR      where backups and the journal of replaced default
                       routes live (default /var/lib/dialtone)
  --lock-dir DIR       where UUCP lock files go (default /run/lock)
  -v, --verbose        also print the modem dialog and PPP packets

exit status:
   0  hung up on request
   1  the network or DNS could not be set up
   2  bad usage, profile or secrets file
   7  the serial device could not be opened
   8  the device is in use, or the modem did not connect
  10  PPP negotiation failed
  11  the caller failed to authenticate to us
  12  the link was idle
  13  the maximum connect time was reached
  14  the line loops back (the modem echoes our own packets)
  15  the peer hung up, or stopped answering
  16  the line or the modem's carrier went away
  19  our user name or password was refused
";

struct Args {
    profile: PathBuf,
    device: Option<PathBuf>,
    secrets: Option<PathBuf>,
    interface: Option<String>,
    dns: Backend,
    resolv_conf: PathBuf,
    state_dir: PathBuf,
    lock_dir: PathBuf,
    verbose: bool,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut profile = None;
    let mut args = Args {
        profile: PathBuf::new(),
        device: None,
        secrets: None,
        interface: None,
        dns: Backend::Auto,
        resolv_conf: PathBuf::from("/etc/resolv.conf"),
        state_dir: PathBuf::from("/var/lib/dialtone"),
        lock_dir: PathBuf::from("/run/lock"),
        verbose: false,
    };
    match argv.next().as_deref() {
        Some("run") => {}
        Some("-h" | "--help" | "help") => return Ok(None),
        Some("--version" | "-V") => {
            println!("dialtoned {}", env!("CARGO_PKG_VERSION"));
            std::process::exit(0);
        }
        Some(other) => return Err(format!("unknown command {other:?}")),
        None => return Err("a command is needed".into()),
    }
    while let Some(arg) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--device" => args.device = Some(PathBuf::from(value("--device")?)),
            "--secrets" => args.secrets = Some(PathBuf::from(value("--secrets")?)),
            "--interface" => args.interface = Some(value("--interface")?),
            "--dns" => args.dns = parse_dns(&value("--dns")?)?,
            "--resolv-conf" => args.resolv_conf = PathBuf::from(value("--resolv-conf")?),
            "--state-dir" => args.state_dir = PathBuf::from(value("--state-dir")?),
            "--lock-dir" => args.lock_dir = PathBuf::from(value("--lock-dir")?),
            "-v" | "--verbose" => args.verbose = true,
            "-h" | "--help" => return Ok(None),
            s if s.starts_with('-') => return Err(format!("unknown option {s:?}")),
            s => {
                if profile.is_some() {
                    return Err(format!("only one profile, please ({s:?} is one too many)"));
                }
                profile = Some(PathBuf::from(s));
            }
        }
    }
    args.profile = profile.ok_or("which profile? (dialtoned run PROFILE.ron)")?;
    Ok(Some(args))
}

/// Loads and checks the profile.
fn load_profile(path: &Path) -> Result<Profile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let profile = Profile::from_ron(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    profile
        .validate()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(profile)
}

/// The secrets file: given, or `../secrets/NAME.ron` beside the profile.
fn secrets_path(args: &Args) -> Option<PathBuf> {
    if let Some(p) = &args.secrets {
        return Some(p.clone());
    }
    let stem = args.profile.file_stem()?;
    let dir = args.profile.parent()?.parent()?;
    let mut name = stem.to_os_string();
    name.push(".ron");
    let candidate = dir.join("secrets").join(name);
    candidate.exists().then_some(candidate)
}

/// Reads the password; refuses a file that others can read or that
/// belongs to someone else than root (or us).
fn load_password(path: &Path) -> Result<String, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(format!(
            "{} belongs to user {}, not root: whoever owns it can read and change the password",
            path.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "{} can be read by other users (mode {:o}); it holds a password: chmod 600 {}",
            path.display(),
            meta.mode() & 0o777,
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let secrets = Secrets::from_ron(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(secrets.password)
}

fn print(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Parses `dialtoned service …`.
fn parse_service(mut argv: impl Iterator<Item = String>) -> Result<Option<ServiceConfig>, String> {
    let mut config = ServiceConfig::default();
    while let Some(arg) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--idle-timeout" => {
                let v = value("--idle-timeout")?;
                let secs: u64 = v
                    .parse()
                    .map_err(|_| format!("--idle-timeout takes seconds, not {v:?}"))?;
                config.idle_timeout = Some(std::time::Duration::from_secs(secs));
            }
            "--config-dir" => config.config_dir = PathBuf::from(value("--config-dir")?),
            "--state-dir" => config.state_dir = PathBuf::from(value("--state-dir")?),
            "--lock-dir" => config.lock_dir = PathBuf::from(value("--lock-dir")?),
            "--modem-link" => config.modem_link = PathBuf::from(value("--modem-link")?),
            "--bus-address" => config.bus_address = Some(value("--bus-address")?),
            "--interface" => config.interface = Some(value("--interface")?),
            "--resolv-conf" => config.resolv_conf = PathBuf::from(value("--resolv-conf")?),
            "--dns" => config.dns = parse_dns(&value("--dns")?)?,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Some(config))
}

fn parse_dns(v: &str) -> Result<Backend, String> {
    match v {
        "auto" => Ok(Backend::Auto),
        "resolved" => Ok(Backend::Resolved),
        "resolv-conf" => Ok(Backend::ResolvConf),
        other => Err(format!(
            "--dns takes auto, resolved or resolv-conf, not {other:?}"
        )),
    }
}

/// The parsed arguments, or how to exit: after the usage text for
/// `--help` (0), or with the error and the usage (2).
fn parsed<T>(result: Result<Option<T>, String>) -> Result<T, ExitCode> {
    match result {
        Ok(Some(t)) => Ok(t),
        Ok(None) => {
            print!("{USAGE}");
            Err(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("dialtoned: {e}\n\n{USAGE}");
            Err(ExitCode::from(2))
        }
    }
}

/// The single-threaded runtime both commands run on.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("dialtoned: cannot start: {e}");
            ExitCode::from(1)
        })
}

/// `dialtoned service`.
fn service(argv: impl Iterator<Item = String>) -> ExitCode {
    let config = match parsed(parse_service(argv)) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    match runtime.block_on(dialtone_helper::service::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dialtoned: {e}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1).peekable();
    if argv.peek().map(String::as_str) == Some("service") {
        argv.next();
        return service(argv);
    }
    let args = match parsed(parse(argv)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let profile = match load_profile(&args.profile) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("dialtoned: {e}");
            return ExitCode::from(2);
        }
    };
    let password = match secrets_path(&args) {
        Some(p) => match load_password(&p) {
            Ok(pw) => pw,
            Err(e) => {
                eprintln!("dialtoned: {e}");
                return ExitCode::from(2);
            }
        },
        None => String::new(),
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    ExitCode::from(runtime.block_on(run(args, profile, password)))
}

async fn run(args: Args, profile: Profile, password: String) -> u8 {
    let dns = Dns::new(&args.resolv_conf, &args.state_dir, args.dns, None);
    let mut opts = SessionOptions::new(Arc::new(dns));
    opts.device_override = args.device.clone();
    opts.lock_dir = args.lock_dir.clone();
    opts.interface = args.interface.clone();
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let (commands, commands_rx) = tokio::sync::mpsc::unbounded_channel();
    print(format!("dialtoned: {}", profile.name));
    // Default routes that an earlier run replaced and could not put back
    // (it was killed) come back first; those of runs still up are left.
    let journal = RouteJournal::new(&args.state_dir);
    match journal.recover().await {
        Ok(0) => {}
        Ok(1) => print("note: put back 1 default route left behind by an earlier run"),
        Ok(n) => print(format!(
            "note: put back {n} default routes left behind by an earlier run"
        )),
        Err(e) => print(format!("note: {e}")),
    }
    opts.route_journal = Some(journal);
    let session = Session::new(profile, password, opts, events_tx);
    let mut task = tokio::spawn(session.run(commands_rx));
    let (mut int, mut term, mut hup) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        _ => {
            eprintln!("dialtoned: cannot catch signals");
            return 1;
        }
    };
    let mut asked = 0;
    let verbose = args.verbose;
    let show = |ev: SessionEvent| match ev {
        SessionEvent::Progress(p @ Progress::Connected(_)) => print(p),
        SessionEvent::Progress(p) => print(p),
        SessionEvent::Notice(n) => print(format!("note: {n}")),
        SessionEvent::Transcript(t) if verbose => print(format!("  {t}")),
        SessionEvent::Transcript(_) => {}
        SessionEvent::Statistics(s) if s.link.rx_bytes + s.link.tx_bytes > 0 => {
            print(format!("statistics: {s}"))
        }
        SessionEvent::Statistics(_) => {}
    };
    let end = loop {
        tokio::select! {
            ev = events.recv() => if let Some(ev) = ev { show(ev) },
            end = &mut task => break end,
            _ = int.recv() => asked += 1,
            _ = term.recv() => asked += 1,
            _ = hup.recv() => asked += 1,
        }
        if asked == 1 {
            let _ = commands.send(Command::Disconnect);
            asked = 2;
        } else if asked > 2 {
            let _ = commands.send(Command::Abort);
        }
    };
    while let Ok(ev) = events.try_recv() {
        show(ev);
    }
    match end {
        Ok(end) => end.exit_code(),
        Err(e) => {
            eprintln!("dialtoned: the session failed: {e}");
            1
        }
    }
}
