//! `dialtone-sim`: a simulated Hayes modem on a pseudo-terminal, with an
//! ISP behind it.
//!
//! ```text
//! dialtone-sim --link /tmp/modem --number 5550000=busy --isp slirp --auth pap \
//!     --user ppp --password s3cret
//! ```
//!
//! A dialer opens the link (a symbolic link to the pty's slave), talks AT
//! commands to the modem and, once a call connects, PPP to the ISP. One
//! line per event goes to standard output (`ready /dev/pts/5 -> /tmp/modem`
//! first, then `dialed 5551234`, `online 57600`, `hung up (remote)`, ...).
//! `SIGUSR1` makes the remote end hang up, `SIGUSR2` rings, `SIGINT` and
//! `SIGTERM` end the program (the link is removed, slirp is stopped).
//! Bad arguments exit with status 2, other failures with 1.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Display;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use std::net::Ipv4Addr;

use dialtone_helper::hayes::{HangupBy, HayesConfig, HayesEvent, Outcome};
use dialtone_helper::runtime::isp::{self as answerer, IspConfig};
use dialtone_helper::runtime::{Progress, SessionEvent};
use dialtone_helper::sim::modem::{
    run_modem, Direction, ModemCommand, ModemEvent, ModemOptions, ModemReport,
};
use dialtone_helper::sim::pty::Pty;
use dialtone_helper::sim::slirp::{self, CallEnd, SlirpAuth, SlirpOptions};
use dialtone_ppp::AuthMethod;
use tokio::io::DuplexStream;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

const USAGE: &str = "\
usage: dialtone-sim --link PATH [--number NUM=OUTCOME]... [--default OUTCOME]
                    [--dial-delay-ms N] [--baud N] [--latency-ms N]
                    [--bit-error-rate P] [--seed N]
                    --isp internal|slirp [--auth none|pap|chap|mschapv2]
                    [--user U] [--password P] [--login-prompt]
                    [--local ADDR] [--remote ADDR] [--dns ADDR]... [--direct]

  --link PATH           make PATH a symbolic link to the modem's pty
  --number NUM=OUTCOME  what dialling NUM does (repeatable)
  --default OUTCOME     what other numbers do (default: connect:57600)
  --dial-delay-ms N     time from ATD to the result (default: 2000)
  --baud N              pace data at N bit/s (default: unpaced)
  --latency-ms N        delay data crossing a call by N ms (default: 0)
  --bit-error-rate P    flip each bit of call data with probability P
  --seed N              seed of the bit errors (default: 0)
  --isp internal        answer calls with Dialtone's own PPP answerer, on a
                        TUN device in this network namespace
  --isp slirp           answer calls with slirp in PPP mode
  --auth METHOD         the authentication the ISP requires: none (default),
                        pap, chap or (internal only) mschapv2
  --user U, --password P   the credentials it accepts
  --login-prompt        (internal) a text login: / Password: prompt first
  --local ADDR          (internal) the ISP's address (default: 10.0.0.1)
  --remote ADDR         (internal) the caller's address (default: 10.0.0.2)
  --dns ADDR            (internal) a DNS server handed out (up to two;
                        default: 10.0.0.53)
  --direct              no modem: the pty is a null-modem cable to the ISP,
                        which answers whatever starts on it

OUTCOME: connect[:SPEED], busy, no-carrier, no-answer, no-dialtone, error

Signals: SIGUSR1 hangs up (remote), SIGUSR2 rings, SIGINT/SIGTERM exit.";

/// The ISP that answers calls. Another backend is one more variant, and
/// one more arm in each method.
#[derive(Debug)]
enum Isp {
    /// Debian's slirp in PPP mode, one process per call.
    Slirp(SlirpOptions),
    /// Dialtone's own answering side (`runtime::isp`), with a TUN device
    /// per call in this network namespace.
    Internal(Box<IspConfig>),
}

impl Isp {
    fn name(&self) -> &'static str {
        match self {
            Isp::Slirp(_) => "slirp",
            Isp::Internal(_) => "internal",
        }
    }

    /// Checks, before the modem is ready, that calls can be served.
    fn prepare(&self) -> io::Result<()> {
        match self {
            Isp::Slirp(options) => slirp::prepare(options),
            Isp::Internal(_) => Ok(()),
        }
    }

    /// Serves one call; says how it ended.
    async fn serve(&self, line: DuplexStream) -> io::Result<String> {
        match self {
            Isp::Slirp(options) => {
                let summary = slirp::serve_call(line, options).await?;
                Ok(match summary.ended {
                    CallEnd::LineClosed => "line closed".to_owned(),
                    CallEnd::SlirpExited => match summary.status {
                        Some(status) => format!("slirp exited, {status}"),
                        None => "slirp exited".to_owned(),
                    },
                })
            }
            Isp::Internal(config) => Ok(serve_internal(line, config).await),
        }
    }
}

/// Serves one call with Dialtone's answerer on `line`, printing its
/// progress; says how it ended.
async fn serve_internal<L>(line: L, config: &IspConfig) -> String
where
    L: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (events, mut rx) = mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            match ev {
                SessionEvent::Progress(Progress::Phase(_)) => {}
                SessionEvent::Progress(p) => say(format_args!("isp: {p}")),
                SessionEvent::Notice(n) => say(format_args!("isp: note: {n}")),
                SessionEvent::Transcript(_) | SessionEvent::Statistics(_) => {}
            }
        }
    });
    let end = answerer::serve(line, config, events).await;
    let _ = printer.await;
    match end.failure {
        Some(f) => format!("internal: {f}"),
        None => "internal: hung up".to_owned(),
    }
}

/// The command line, parsed.
#[derive(Debug)]
struct Args {
    link: PathBuf,
    modem: ModemOptions,
    isp: Isp,
    /// No modem: the pty is wired straight to the ISP.
    direct: bool,
}

/// What the command line asks for.
#[derive(Debug)]
enum Parsed {
    Run(Box<Args>),
    Help,
}

fn parse_outcome(text: &str) -> Result<Outcome, String> {
    let bad = || {
        format!(
            "bad outcome {text:?}: expected connect[:SPEED], busy, no-carrier, no-answer, \
             no-dialtone or error"
        )
    };
    Ok(match text {
        "connect" => Outcome::Connect { speed: 57600 },
        "busy" => Outcome::Busy,
        "no-carrier" => Outcome::NoCarrier,
        "no-answer" => Outcome::NoAnswer,
        "no-dialtone" => Outcome::NoDialtone,
        "error" => Outcome::Error,
        other => {
            let speed = other.strip_prefix("connect:").ok_or_else(bad)?;
            let speed: u32 = speed
                .parse()
                .ok()
                .filter(|&s| s > 0)
                .ok_or_else(|| format!("bad speed in {text:?}: expected a positive number"))?;
            Outcome::Connect { speed }
        }
    })
}

/// Whether `number` is something `ATD` can dial: dial digits and
/// modifiers, with at least one digit.
fn valid_number(number: &str) -> bool {
    number
        .chars()
        .all(|c| c.is_ascii_digit() || "*#+ABCDabcdTPWtpw,@! -()./".contains(c))
        && number
            .chars()
            .any(|c| c.is_ascii_digit() || "*#+ABCDabcd".contains(c))
}

fn parse_number<T: std::str::FromStr>(option: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{option}: {value:?} is not a valid number"))
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, String> {
    let mut link: Option<PathBuf> = None;
    let mut numbers: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut default: Option<Outcome> = None;
    let mut dial_delay: Option<u64> = None;
    let mut baud: Option<u32> = None;
    let mut latency: Option<u64> = None;
    let mut ber: Option<f64> = None;
    let mut seed: Option<u64> = None;
    let mut isp: Option<String> = None;
    let mut auth: Option<String> = None;
    let mut user: Option<String> = None;
    let mut password: Option<String> = None;
    let mut login_prompt = false;
    let mut direct = false;
    let mut local: Option<Ipv4Addr> = None;
    let mut remote: Option<Ipv4Addr> = None;
    let mut dns: Vec<Ipv4Addr> = Vec::new();

    fn once<T>(slot: &mut Option<T>, option: &str, value: T) -> Result<(), String> {
        if slot.replace(value).is_some() {
            return Err(format!("{option} given twice"));
        }
        Ok(())
    }

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|a| format!("argument {a:?} is not valid UTF-8"))?;
        if arg == "-h" || arg == "--help" {
            return Ok(Parsed::Help);
        }
        let (option, inline) = match arg.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let known = [
            "--link",
            "--number",
            "--default",
            "--dial-delay-ms",
            "--baud",
            "--latency-ms",
            "--bit-error-rate",
            "--seed",
            "--isp",
            "--auth",
            "--user",
            "--password",
            "--login-prompt",
            "--local",
            "--remote",
            "--dns",
            "--direct",
        ];
        if !known.contains(&option.as_str()) {
            return Err(if option.starts_with('-') {
                format!("unknown option {option}")
            } else {
                format!("unexpected argument {option:?}")
            });
        }
        match (option.as_str(), &inline) {
            ("--login-prompt", None) => {
                login_prompt = true;
                continue;
            }
            ("--direct", None) => {
                direct = true;
                continue;
            }
            ("--login-prompt" | "--direct", Some(_)) => {
                return Err(format!("{option} takes no value"));
            }
            _ => {}
        }
        let value = match inline {
            Some(v) => v,
            None => args
                .next()
                .ok_or_else(|| format!("{option} needs a value"))?
                .into_string()
                .map_err(|v| format!("{option}: {v:?} is not valid UTF-8"))?,
        };
        let o = option.as_str();
        match o {
            "--link" => {
                if value.is_empty() {
                    return Err("--link: empty path".to_owned());
                }
                once(&mut link, o, PathBuf::from(value))?;
            }
            "--number" => {
                let (number, outcome) = value
                    .split_once('=')
                    .ok_or_else(|| format!("--number {value:?}: expected NUM=OUTCOME"))?;
                if !valid_number(number) {
                    return Err(format!(
                        "--number {value:?}: {number:?} is not a dialable number"
                    ));
                }
                let outcome = parse_outcome(outcome)?;
                if numbers.insert(number.to_owned(), outcome).is_some() {
                    return Err(format!("--number: {number} given twice"));
                }
            }
            "--default" => once(&mut default, o, parse_outcome(&value)?)?,
            "--dial-delay-ms" => once(&mut dial_delay, o, parse_number(o, &value)?)?,
            "--baud" => {
                let b: u32 = parse_number(o, &value)?;
                if b == 0 {
                    return Err("--baud must be positive".to_owned());
                }
                once(&mut baud, o, b)?;
            }
            "--latency-ms" => once(&mut latency, o, parse_number(o, &value)?)?,
            "--bit-error-rate" => {
                let p: f64 = parse_number(o, &value)?;
                if !(0.0..=1.0).contains(&p) {
                    return Err(format!("--bit-error-rate {value}: must be within 0 to 1"));
                }
                once(&mut ber, o, p)?;
            }
            "--seed" => once(&mut seed, o, parse_number(o, &value)?)?,
            "--isp" => once(&mut isp, o, value)?,
            "--auth" => once(&mut auth, o, value)?,
            "--user" => once(&mut user, o, value)?,
            "--password" => once(&mut password, o, value)?,
            "--local" => once(&mut local, o, parse_number(o, &value)?)?,
            "--remote" => once(&mut remote, o, parse_number(o, &value)?)?,
            "--dns" => {
                if dns.len() == 2 {
                    return Err("--dns: at most two servers".to_owned());
                }
                dns.push(parse_number(o, &value)?);
            }
            _ => return Err(format!("unknown option {option}")),
        }
    }

    let link = link.ok_or("missing --link PATH")?;
    let credentials = |method: &str| -> Result<(String, String), String> {
        match (user.clone(), password.clone()) {
            (Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => Ok((u, p)),
            (Some(_), Some(_)) => Err("--user and --password must not be empty".to_owned()),
            _ => Err(format!("--auth {method} needs --user and --password")),
        }
    };
    let method = auth.as_deref().unwrap_or("none");
    let (user, password) = match method {
        "none" => {
            if user.is_some() || password.is_some() {
                return Err("--user and --password need --auth pap, chap or mschapv2".to_owned());
            }
            (String::new(), String::new())
        }
        "pap" | "chap" | "mschapv2" => credentials(method)?,
        other => {
            return Err(format!(
                "--auth {other:?}: expected none, pap, chap or mschapv2"
            ))
        }
    };
    let internal_only = login_prompt || local.is_some() || remote.is_some() || !dns.is_empty();
    let isp = match isp.as_deref() {
        Some("slirp") => {
            if internal_only {
                return Err(
                    "--login-prompt, --local, --remote and --dns need --isp internal".to_owned(),
                );
            }
            let auth = match method {
                "none" => SlirpAuth::None,
                "pap" => SlirpAuth::Pap { user, password },
                "chap" => SlirpAuth::Chap { user, password },
                _ => return Err("slirp cannot require MS-CHAPv2: use pap or chap".to_owned()),
            };
            Isp::Slirp(SlirpOptions::new(auth))
        }
        Some("internal") => {
            let mut ppp = dialtone_ppp::Config::default();
            ppp.auth.methods = match method {
                "pap" => vec![AuthMethod::Pap],
                "chap" => vec![AuthMethod::ChapMd5],
                "mschapv2" => vec![AuthMethod::MsChapV2],
                _ => Vec::new(),
            };
            ppp.auth.name = "dialtone-isp".to_owned();
            ppp.ipcp.local = Some(local.unwrap_or(Ipv4Addr::new(10, 0, 0, 1)));
            ppp.ipcp.remote = Some(remote.unwrap_or(Ipv4Addr::new(10, 0, 0, 2)));
            ppp.ipcp.dns = if dns.is_empty() {
                vec![Ipv4Addr::new(10, 0, 0, 53)]
            } else {
                dns
            };
            let mut accounts = BTreeMap::new();
            if !user.is_empty() {
                accounts.insert(user, password);
            }
            if login_prompt && accounts.is_empty() {
                return Err("--login-prompt needs --auth with --user and --password".to_owned());
            }
            Isp::Internal(Box::new(IspConfig {
                ppp,
                accounts,
                login_prompt,
                banner: "Dialtone simulated ISP".to_owned(),
                login_timeout: Duration::from_secs(60),
                interface: None,
                seed: None,
            }))
        }
        Some(other) => return Err(format!("--isp {other:?}: expected internal or slirp")),
        None => return Err("missing --isp (internal or slirp)".to_owned()),
    };

    let defaults = HayesConfig::default();
    let modem = ModemOptions {
        hayes: HayesConfig {
            numbers,
            default_outcome: default.unwrap_or(defaults.default_outcome),
            dial_delay: dial_delay.map_or(defaults.dial_delay, Duration::from_millis),
            baud,
            latency: latency.map_or(defaults.latency, Duration::from_millis),
            ..defaults
        },
        bit_error_rate: ber.unwrap_or(0.0),
        seed: seed.unwrap_or(0),
    };
    Ok(Parsed::Run(Box::new(Args {
        link,
        modem,
        isp,
        direct,
    })))
}

/// Prints one line on standard output, flushed at once. A closed
/// standard output is not a reason to stop the modem.
fn say(line: impl Display) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn describe(event: &ModemEvent) -> String {
    match event {
        ModemEvent::Hayes(HayesEvent::Dialed { number }) => format!("dialed {number}"),
        ModemEvent::Hayes(HayesEvent::Online { speed }) => format!("online {speed}"),
        ModemEvent::Hayes(HayesEvent::HungUp { by }) => format!(
            "hung up ({})",
            match by {
                HangupBy::Dte => "dte",
                HangupBy::Remote => "remote",
                HangupBy::Dtr => "dtr",
            }
        ),
        ModemEvent::Hayes(HayesEvent::Ring) => "ring".to_owned(),
        ModemEvent::Hayes(HayesEvent::Answered) => "answered".to_owned(),
        ModemEvent::BitErrors { direction, bits } => format!(
            "bit errors {bits} to {}",
            match direction {
                Direction::ToLine => "line",
                Direction::ToDte => "dte",
            }
        ),
    }
}

async fn run(args: Args) -> io::Result<()> {
    let isp = Arc::new(args.isp);
    {
        let isp = Arc::clone(&isp);
        tokio::task::spawn_blocking(move || isp.prepare())
            .await
            .map_err(io::Error::other)??;
    }
    // Before `ready`: from then on the signals must not kill us.
    let mut signals = Signals {
        usr1: signal(SignalKind::user_defined1())?,
        usr2: signal(SignalKind::user_defined2())?,
        int: signal(SignalKind::interrupt())?,
        term: signal(SignalKind::terminate())?,
    };

    let pty = Pty::open_with_link(&args.link)?;
    let (commands, command_rx) = mpsc::channel(16);
    let (event_tx, mut events) = mpsc::unbounded_channel();
    let (call_tx, mut new_calls) = mpsc::unbounded_channel::<(String, DuplexStream)>();
    let on_call = move |number: &str, line: DuplexStream| {
        let _ = call_tx.send((number.to_owned(), line));
    };
    let mut calls = JoinSet::new();
    say(format_args!(
        "ready {} -> {}",
        pty.slave_path().display(),
        args.link.display()
    ));

    let modem: std::pin::Pin<Box<dyn std::future::Future<Output = io::Result<ModemReport>>>> =
        if args.direct {
            drop((command_rx, event_tx));
            match &*isp {
                Isp::Internal(config) => Box::pin(direct_internal(&pty, config)),
                Isp::Slirp(_) => Box::pin(direct_line(&pty, on_call)),
            }
        } else {
            Box::pin(run_modem(&pty, args.modem, on_call, command_rx, event_tx))
        };
    let result = serve(
        modem,
        &isp,
        &mut calls,
        &commands,
        &mut events,
        &mut new_calls,
        &mut signals,
    )
    .await;
    // Stop the ISPs (slirp is killed and reaped, its directory removed);
    // the modem has stopped; dropping the pty removes the link.
    calls.shutdown().await;
    drop(pty);
    say("exiting");
    result
}

/// `--direct` with slirp: no modem, the pty is a null-modem cable to the
/// ISP. A call lasts until the ISP ends it (the link went down); then a
/// fresh one answers whatever comes next.
async fn direct_line(
    pty: &Pty,
    mut on_call: impl FnMut(&str, DuplexStream),
) -> io::Result<ModemReport> {
    loop {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        on_call("", theirs);
        let (mut from_isp, mut to_isp) = tokio::io::split(ours);
        let (mut pty_in, mut pty_out) = (pty, pty);
        // The pty never reports end of file (it keeps its slave open), so
        // the call is over when the ISP's side is.
        tokio::select! {
            r = tokio::io::copy(&mut pty_in, &mut to_isp) => match r {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                Err(e) => return Err(e),
            },
            r = tokio::io::copy(&mut from_isp, &mut pty_out) => { r?; }
        }
    }
}

/// `--direct` with Dialtone's answerer: it runs on the pty itself, one
/// call after another, without a relay in between.
async fn direct_internal(pty: &Pty, config: &IspConfig) -> io::Result<ModemReport> {
    loop {
        say("call direct -> internal");
        let how = serve_internal(pty, config).await;
        say(format_args!("call ended ({how})"));
    }
}

/// The signals the program answers.
struct Signals {
    /// Hang up on demand.
    usr1: Signal,
    /// Ring.
    usr2: Signal,
    /// Exit.
    int: Signal,
    /// Exit.
    term: Signal,
}

/// The main loop: runs until the modem fails or a signal says stop.
async fn serve(
    modem: impl std::future::Future<Output = io::Result<ModemReport>>,
    isp: &Arc<Isp>,
    calls: &mut JoinSet<io::Result<String>>,
    commands: &mpsc::Sender<ModemCommand>,
    events: &mut mpsc::UnboundedReceiver<ModemEvent>,
    new_calls: &mut mpsc::UnboundedReceiver<(String, DuplexStream)>,
    signals: &mut Signals,
) -> io::Result<()> {
    tokio::pin!(modem);
    loop {
        tokio::select! {
            r = &mut modem => return r.map(drop),
            Some(event) = events.recv() => say(describe(&event)),
            Some((number, line)) = new_calls.recv() => {
                let who = if number.is_empty() { "incoming".to_owned() } else { number };
                say(format_args!("call {who} -> {}", isp.name()));
                let isp = Arc::clone(isp);
                calls.spawn(async move { isp.serve(line).await });
            }
            Some(done) = calls.join_next() => match done {
                Ok(Ok(how)) => say(format_args!("call ended ({how})")),
                Ok(Err(e)) => {
                    let text = e.to_string();
                    say(format_args!("isp error: {}", text.lines().next().unwrap_or_default()));
                    eprintln!("dialtone-sim: isp error: {text}");
                }
                Err(e) => say(format_args!("isp error: {e}")),
            },
            _ = signals.usr1.recv() => {
                say("hang up requested");
                let _ = commands.send(ModemCommand::HangUp).await;
            }
            _ = signals.usr2.recv() => {
                say("ring requested");
                let _ = commands.send(ModemCommand::Ring).await;
            }
            _ = signals.int.recv() => return Ok(()),
            _ = signals.term.recv() => return Ok(()),
        }
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(args)) => *args,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("dialtone-sim: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dialtone-sim: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dialtone-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed, String> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn a_full_command_line() {
        let Ok(Parsed::Run(a)) = parse(&[
            "--link",
            "/tmp/m",
            "--number",
            "555-0000=busy",
            "--number=1=connect:33600",
            "--default",
            "no-answer",
            "--dial-delay-ms",
            "50",
            "--baud=9600",
            "--latency-ms",
            "20",
            "--bit-error-rate",
            "0.001",
            "--seed",
            "7",
            "--isp",
            "slirp",
            "--auth",
            "chap",
            "--user",
            "ppp",
            "--password",
            "s3cret",
        ]) else {
            panic!("parse failed");
        };
        assert_eq!(a.link, PathBuf::from("/tmp/m"));
        assert_eq!(a.modem.hayes.numbers["555-0000"], Outcome::Busy);
        assert_eq!(
            a.modem.hayes.numbers["1"],
            Outcome::Connect { speed: 33600 }
        );
        assert_eq!(a.modem.hayes.default_outcome, Outcome::NoAnswer);
        assert_eq!(a.modem.hayes.dial_delay, Duration::from_millis(50));
        assert_eq!(a.modem.hayes.baud, Some(9600));
        assert_eq!(a.modem.hayes.latency, Duration::from_millis(20));
        assert_eq!(a.modem.bit_error_rate, 0.001);
        assert_eq!(a.modem.seed, 7);
        let Isp::Slirp(o) = a.isp else {
            panic!("not slirp: {:?}", a.isp);
        };
        assert_eq!(
            o.auth,
            SlirpAuth::Chap {
                user: "ppp".into(),
                password: "s3cret".into()
            }
        );
    }

    #[test]
    fn an_internal_isp_command_line() {
        let Ok(Parsed::Run(a)) = parse(&[
            "--link",
            "/tmp/m",
            "--isp",
            "internal",
            "--auth",
            "mschapv2",
            "--user",
            "alice",
            "--password",
            "pw",
            "--login-prompt",
            "--local",
            "10.1.0.1",
            "--remote",
            "10.1.0.2",
            "--dns",
            "10.1.0.53",
            "--direct",
        ]) else {
            panic!("parse failed");
        };
        assert!(a.direct);
        let Isp::Internal(c) = a.isp else {
            panic!("not internal: {:?}", a.isp);
        };
        assert_eq!(c.ppp.auth.methods, vec![AuthMethod::MsChapV2]);
        assert_eq!(c.ppp.ipcp.local, Some(Ipv4Addr::new(10, 1, 0, 1)));
        assert_eq!(c.ppp.ipcp.remote, Some(Ipv4Addr::new(10, 1, 0, 2)));
        assert_eq!(c.ppp.ipcp.dns, vec![Ipv4Addr::new(10, 1, 0, 53)]);
        assert_eq!(c.accounts.get("alice").map(String::as_str), Some("pw"));
        assert!(c.login_prompt);
    }

    #[test]
    fn bad_command_lines_say_why() {
        for (args, needle) in [
            (&["--isp", "slirp"][..], "missing --link"),
            (&["--link", "x"][..], "missing --isp"),
            (
                &["--link", "x", "--isp", "pppd"][..],
                "expected internal or slirp",
            ),
            (
                &["--link", "x", "--isp", "slirp", "--login-prompt"][..],
                "need --isp internal",
            ),
            (
                &[
                    "--link",
                    "x",
                    "--isp",
                    "slirp",
                    "--auth",
                    "mschapv2",
                    "--user",
                    "u",
                    "--password",
                    "p",
                ][..],
                "cannot require MS-CHAPv2",
            ),
            (
                &["--link", "x", "--isp", "internal", "--login-prompt"][..],
                "--login-prompt needs --auth",
            ),
            (
                &[
                    "--link", "x", "--isp", "internal", "--dns", "1.1.1.1", "--dns", "1.0.0.1",
                    "--dns", "9.9.9.9",
                ][..],
                "at most two",
            ),
            (
                &["--link", "x", "--isp", "internal", "--direct=1"][..],
                "takes no value",
            ),
            (
                &["--link", "x", "--isp", "slirp", "--baud", "abc"][..],
                "--baud",
            ),
            (
                &["--link", "x", "--isp", "slirp", "--baud", "0"][..],
                "positive",
            ),
            (
                &["--link", "x", "--isp", "slirp", "--number", "1"][..],
                "NUM=OUTCOME",
            ),
            (
                &["--link", "x", "--isp", "slirp", "--number", "1=bogus"][..],
                "bad outcome",
            ),
            (
                &["--link", "x", "--isp", "slirp", "--number", "x=busy"][..],
                "dialable",
            ),
            (
                &["--link", "x", "--isp", "slirp", "--default", "connect:0"][..],
                "speed",
            ),
            (
                &["--link", "x", "--isp", "slirp", "--bit-error-rate", "2"][..],
                "0 to 1",
            ),
            (
                &["--link", "x", "--isp", "slirp", "--bit-error-rate", "NaN"][..],
                "0 to 1",
            ),
            (
                &["--link", "x", "--isp", "slirp", "--auth", "pap"][..],
                "needs --user",
            ),
            (
                &["--link", "x", "--isp", "slirp", "--user", "u"][..],
                "need --auth",
            ),
            (
                &["--link", "x", "--isp", "slirp", "--frobnicate"][..],
                "unknown option",
            ),
            (
                &["--link", "x", "--link", "y", "--isp", "slirp"][..],
                "twice",
            ),
            (&["--link"][..], "needs a value"),
            (&["stray"][..], "unexpected argument"),
        ] {
            match parse(args) {
                Err(message) => assert!(message.contains(needle), "{args:?}: {message}"),
                Ok(p) => panic!("{args:?} parsed: {p:?}"),
            }
        }
        assert!(matches!(parse(&["--help"]), Ok(Parsed::Help)));
    }
}
