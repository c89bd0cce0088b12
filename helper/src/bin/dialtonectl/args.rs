//! The command line: global options, the command and its arguments,
//! parsed by hand like `dialtoned`'s.

use std::path::PathBuf;
use std::time::Duration;

/// Options that apply to every command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Global {
    /// Machine-readable output (`--json`).
    pub json: bool,
    /// The bus to use instead of the system bus (`--bus-address`).
    pub bus_address: Option<String>,
}

/// A command and its arguments. `profile` is an id or a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `list`.
    List,
    /// `show PROFILE`.
    Show {
        /// Which profile.
        profile: String,
    },
    /// `add FILE.ron`.
    Add {
        /// The profile file.
        file: PathBuf,
    },
    /// `edit PROFILE FILE.ron`.
    Edit {
        /// Which profile.
        profile: String,
        /// The new settings.
        file: PathBuf,
    },
    /// `delete PROFILE`.
    Delete {
        /// Which profile.
        profile: String,
    },
    /// `set-secret PROFILE`.
    SetSecret {
        /// Which profile.
        profile: String,
    },
    /// `up PROFILE [--no-wait] [--timeout SECS]`.
    Up {
        /// Which profile.
        profile: String,
        /// Wait until the link is up (not `--no-wait`).
        wait: bool,
        /// Give up waiting after this long.
        timeout: Option<Duration>,
    },
    /// `down PROFILE`.
    Down {
        /// Which profile.
        profile: String,
    },
    /// `status [PROFILE]`.
    Status {
        /// Only this profile's link.
        profile: Option<String>,
    },
    /// `monitor`.
    Monitor,
    /// `log PROFILE [-f]`.
    Log {
        /// Which profile.
        profile: String,
        /// Follow the transcript (`-f`).
        follow: bool,
    },
    /// `ports`.
    Ports,
    /// `modem-link [PORT]`.
    ModemLink {
        /// Where to point /dev/modem; `None` to show where it points.
        port: Option<String>,
    },
    /// `query-modem PORT`.
    QueryModem {
        /// The serial port.
        port: String,
    },
    /// `permissions`.
    Permissions,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// `--help`: print the usage text.
    Help,
    /// `--version`.
    Version,
    /// Run a command.
    Run(Global, Command),
}

/// Command-specific options, collected wherever they appear and checked
/// against the command afterwards.
#[derive(Default)]
struct Options {
    no_wait: bool,
    timeout: Option<String>,
    follow: bool,
}

/// Parses the arguments (without the program name). Errors are messages
/// for a person; the caller prints them with the usage text and exits 2.
pub fn parse<I>(argv: I) -> Result<Parsed, String>
where
    I: IntoIterator<Item = String>,
{
    let mut global = Global::default();
    let mut opts = Options::default();
    let mut words: Vec<String> = Vec::new();
    let mut argv = argv.into_iter();
    let mut only_words = false;
    while let Some(arg) = argv.next() {
        if only_words || arg == "-" || !arg.starts_with('-') {
            words.push(arg);
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match inline.clone().or_else(|| argv.next()) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(format!("{name} needs {what}")),
            }
        };
        match name.as_str() {
            "--" => only_words = true,
            "-h" | "--help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            "--json" => global.json = true,
            "--bus-address" => global.bus_address = Some(value("an address")?),
            "--no-wait" => opts.no_wait = true,
            "--timeout" => opts.timeout = Some(value("a number of seconds")?),
            "-f" | "--follow" => opts.follow = true,
            _ => return Err(format!("unknown option {arg:?}")),
        }
        if inline.is_some() && !matches!(name.as_str(), "--bus-address" | "--timeout") {
            return Err(format!("{name} takes no value"));
        }
    }
    let mut words = words.into_iter();
    let Some(command) = words.next() else {
        return Err("a command is needed".into());
    };
    let rest: Vec<String> = words.collect();
    let cmd = command_from(&command, rest, &opts)?;
    // Options that the command does not take are mistakes, not no-ops.
    let is_up = matches!(cmd, Command::Up { .. });
    let is_log = matches!(cmd, Command::Log { .. });
    if (opts.no_wait || opts.timeout.is_some()) && !is_up {
        return Err(format!("--no-wait and --timeout are for up, not {command}"));
    }
    if opts.follow && !is_log {
        return Err(format!("-f is for log, not {command}"));
    }
    Ok(Parsed::Run(global, cmd))
}

/// The command named `command` with its positional arguments.
fn command_from(command: &str, args: Vec<String>, opts: &Options) -> Result<Command, String> {
    let count = |n: usize, what: &str| -> Result<(), String> {
        if args.len() == n {
            Ok(())
        } else if args.len() < n {
            Err(format!(
                "{command}: {what} is missing (dialtonectl {command} {what})"
            ))
        } else {
            Err(format!(
                "{command}: too many arguments ({:?} is one too many)",
                args[n]
            ))
        }
    };
    let first = |args: &[String]| args.first().cloned().unwrap_or_default();
    Ok(match command {
        "list" => {
            count(0, "")?;
            Command::List
        }
        "show" => {
            count(1, "PROFILE")?;
            Command::Show {
                profile: first(&args),
            }
        }
        "add" => {
            count(1, "FILE.ron")?;
            Command::Add {
                file: PathBuf::from(first(&args)),
            }
        }
        "edit" => {
            count(2, "PROFILE FILE.ron")?;
            Command::Edit {
                profile: args[0].clone(),
                file: PathBuf::from(&args[1]),
            }
        }
        "delete" => {
            count(1, "PROFILE")?;
            Command::Delete {
                profile: first(&args),
            }
        }
        "set-secret" => {
            count(1, "PROFILE")?;
            Command::SetSecret {
                profile: first(&args),
            }
        }
        "up" => {
            count(1, "PROFILE")?;
            if opts.no_wait && opts.timeout.is_some() {
                return Err("up: --timeout has no use with --no-wait".into());
            }
            let timeout = match &opts.timeout {
                Some(t) => Some(parse_seconds(t)?),
                None => None,
            };
            Command::Up {
                profile: first(&args),
                wait: !opts.no_wait,
                timeout,
            }
        }
        "down" => {
            count(1, "PROFILE")?;
            Command::Down {
                profile: first(&args),
            }
        }
        "status" => {
            if args.len() > 1 {
                count(1, "PROFILE")?;
            }
            Command::Status {
                profile: args.first().cloned(),
            }
        }
        "monitor" => {
            count(0, "")?;
            Command::Monitor
        }
        "log" => {
            count(1, "PROFILE")?;
            Command::Log {
                profile: first(&args),
                follow: opts.follow,
            }
        }
        "ports" => {
            count(0, "")?;
            Command::Ports
        }
        "modem-link" => {
            if args.len() > 1 {
                count(1, "PORT")?;
            }
            Command::ModemLink {
                port: args.first().cloned(),
            }
        }
        "query-modem" => {
            count(1, "PORT")?;
            Command::QueryModem { port: first(&args) }
        }
        "permissions" => {
            count(0, "")?;
            Command::Permissions
        }
        "help" => return Err("use dialtonectl --help".into()),
        other => return Err(format!("unknown command {other:?}")),
    })
}

/// `--timeout`'s value: whole or fractional seconds, more than zero and
/// at most a day.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let bad = || format!("--timeout takes a number of seconds, not {text:?}");
    let secs: f64 = text.trim().parse().map_err(|_| bad())?;
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Parsed, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    fn cmd(args: &[&str]) -> Command {
        match run(args) {
            Ok(Parsed::Run(_, c)) => c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        match run(args) {
            Err(e) => e,
            other => panic!("{args:?} should be refused: {other:?}"),
        }
    }

    #[test]
    fn every_command() {
        let p = || "isp".to_string();
        assert_eq!(cmd(&["list"]), Command::List);
        assert_eq!(cmd(&["show", "isp"]), Command::Show { profile: p() });
        assert_eq!(
            cmd(&["add", "a.ron"]),
            Command::Add {
                file: PathBuf::from("a.ron")
            }
        );
        assert_eq!(
            cmd(&["edit", "isp", "a.ron"]),
            Command::Edit {
                profile: p(),
                file: PathBuf::from("a.ron")
            }
        );
        assert_eq!(cmd(&["delete", "isp"]), Command::Delete { profile: p() });
        assert_eq!(
            cmd(&["set-secret", "isp"]),
            Command::SetSecret { profile: p() }
        );
        assert_eq!(
            cmd(&["up", "isp"]),
            Command::Up {
                profile: p(),
                wait: true,
                timeout: None
            }
        );
        assert_eq!(
            cmd(&["up", "--no-wait", "isp"]),
            Command::Up {
                profile: p(),
                wait: false,
                timeout: None
            }
        );
        assert_eq!(
            cmd(&["up", "isp", "--timeout", "90"]),
            Command::Up {
                profile: p(),
                wait: true,
                timeout: Some(Duration::from_secs(90))
            }
        );
        assert_eq!(
            cmd(&["up", "isp", "--timeout=0.5"]),
            Command::Up {
                profile: p(),
                wait: true,
                timeout: Some(Duration::from_millis(500))
            }
        );
        assert_eq!(cmd(&["down", "isp"]), Command::Down { profile: p() });
        assert_eq!(cmd(&["status"]), Command::Status { profile: None });
        assert_eq!(
            cmd(&["status", "isp"]),
            Command::Status { profile: Some(p()) }
        );
        assert_eq!(cmd(&["monitor"]), Command::Monitor);
        assert_eq!(
            cmd(&["log", "isp"]),
            Command::Log {
                profile: p(),
                follow: false
            }
        );
        assert_eq!(
            cmd(&["log", "-f", "isp"]),
            Command::Log {
                profile: p(),
                follow: true
            }
        );
        assert_eq!(
            cmd(&["log", "isp", "--follow"]),
            Command::Log {
                profile: p(),
                follow: true
            }
        );
        assert_eq!(cmd(&["ports"]), Command::Ports);
        assert_eq!(cmd(&["modem-link"]), Command::ModemLink { port: None });
        assert_eq!(
            cmd(&["modem-link", "/dev/ttyS0"]),
            Command::ModemLink {
                port: Some("/dev/ttyS0".into())
            }
        );
        assert_eq!(
            cmd(&["query-modem", "/dev/ttyUSB0"]),
            Command::QueryModem {
                port: "/dev/ttyUSB0".into()
            }
        );
        assert_eq!(cmd(&["permissions"]), Command::Permissions);
    }

    #[test]
    fn global_options_anywhere() {
        let expected = Parsed::Run(
            Global {
                json: true,
                bus_address: Some("unix:path=/run/bus".into()),
            },
            Command::List,
        );
        assert_eq!(
            run(&["--json", "--bus-address", "unix:path=/run/bus", "list"]),
            Ok(expected.clone())
        );
        assert_eq!(
            run(&["list", "--bus-address=unix:path=/run/bus", "--json"]),
            Ok(expected)
        );
        assert_eq!(run(&["--help"]), Ok(Parsed::Help));
        assert_eq!(run(&["up", "isp", "-h"]), Ok(Parsed::Help));
        assert_eq!(run(&["-V"]), Ok(Parsed::Version));
        assert_eq!(run(&["--version"]), Ok(Parsed::Version));
    }

    #[test]
    fn a_profile_that_looks_like_an_option() {
        assert_eq!(
            cmd(&["show", "--", "-odd"]),
            Command::Show {
                profile: "-odd".into()
            }
        );
    }

    #[test]
    fn bad_usage_is_refused_with_a_message() {
        assert!(err(&[]).contains("command is needed"));
        assert!(err(&["frobnicate"]).contains("unknown command"));
        assert!(err(&["list", "--colour"]).contains("unknown option"));
        assert!(err(&["list", "extra"]).contains("too many"));
        assert!(err(&["show"]).contains("PROFILE is missing"));
        assert!(err(&["show", "a", "b"]).contains("\"b\" is one too many"));
        assert!(err(&["add"]).contains("FILE.ron"));
        assert!(err(&["edit", "isp"]).contains("PROFILE FILE.ron"));
        assert!(err(&["delete"]).contains("missing"));
        assert!(err(&["set-secret"]).contains("missing"));
        assert!(err(&["set-secret", "isp", "hunter2"]).contains("too many"));
        assert!(err(&["up"]).contains("missing"));
        assert!(err(&["up", "isp", "--timeout"]).contains("needs a number"));
        assert!(err(&["up", "isp", "--timeout", "soon"]).contains("number of seconds"));
        assert!(err(&["up", "isp", "--timeout", "0"]).contains("number of seconds"));
        assert!(err(&["up", "isp", "--timeout", "-5"]).contains("number of seconds"));
        assert!(err(&["up", "isp", "--timeout", "NaN"]).contains("number of seconds"));
        assert!(err(&["up", "isp", "--no-wait", "--timeout", "5"]).contains("--no-wait"));
        assert!(err(&["down", "isp", "--no-wait"]).contains("are for up"));
        assert!(err(&["status", "a", "b"]).contains("too many"));
        assert!(err(&["monitor", "isp"]).contains("too many"));
        assert!(err(&["log"]).contains("missing"));
        assert!(err(&["list", "-f"]).contains("-f is for log"));
        assert!(err(&["ports", "x"]).contains("too many"));
        assert!(err(&["modem-link", "a", "b"]).contains("too many"));
        assert!(err(&["query-modem"]).contains("PORT"));
        assert!(err(&["permissions", "x"]).contains("too many"));
        assert!(err(&["list", "--bus-address"]).contains("needs an address"));
        assert!(err(&["list", "--json=yes"]).contains("takes no value"));
        assert!(err(&["help"]).contains("--help"));
    }
}
