//! `dialtonectl`: the command-line client of `dialtoned` over the D-Bus
//! system bus: profiles (list, show, add, edit, delete, set-secret), links
//! (up, down, status, monitor, log), serial ports and permissions, for
//! people or, with `--json`, for scripts. See `dialtonectl --help`.
//!
//! Modules: [`args`] (the command line), [`client`] (the bus, snapshots
//! and signals), [`commands`], [`model`] (links and profiles from their
//! properties), [`format`] (human output), [`json`] (`--json` output),
//! [`error`] (exit statuses), [`password`] and [`convert`] (profiles to
//! and from settings).

mod args;
mod client;
mod commands;
mod convert;
mod error;
mod format;
mod json;
mod password;

use std::process::ExitCode;

use args::Parsed;
use error::{exit, CliError};

/// The usage text: commands, options, exit statuses and `--json` shapes.
const USAGE: &str = "\
usage: dialtonectl [--json] [--bus-address ADDR] COMMAND [ARGS]

Talks to dialtoned, Dialtone's daemon, over the D-Bus system bus.
PROFILE is a profile's id or, when no id matches, its name (ignoring case).

profiles:
  list                    the profiles, their state and serial device;
                          profile files that could not be loaded are warned
                          about on standard error
  show PROFILE            the profile's settings as RON (never the password)
  add FILE.ron            adds the profile in FILE.ron (- reads standard
                          input) and prints its new id
  edit PROFILE FILE.ron   replaces the profile's settings with FILE.ron's
  delete PROFILE          deletes the profile and its password
  set-secret PROFILE      stores the profile's password: one line read from
                          standard input, or typed twice on a terminal

links:
  up PROFILE [--no-wait] [--timeout SECS]
                          dials and prints each step until the link is up
                          (with demand dialing: until it waits for traffic);
                          --no-wait prints the link's object path at once;
                          --timeout gives up waiting, leaving the link to go
                          on; Ctrl-C while waiting hangs up
  down PROFILE            hangs up and waits (30 s at most) until it is down
  status [PROFILE]        the active links (or PROFILE's latest) in detail
  monitor                 every link's state changes as they happen, with a
                          timestamp, until Ctrl-C
  log PROFILE [-f]        the link's modem, login and PPP transcript; -f
                          (--follow) goes on until the link ends or Ctrl-C

serial ports:
  ports                   the serial ports, who uses them, /dev/modem
  modem-link [PORT]       where /dev/modem points; with PORT, points it there
  query-modem PORT        asks the modem on PORT who it is (ATI, AT+GMM, …)
  permissions             what polkit lets you do (yes, auth or no)

options:
  --json                  output for scripts (see below)
  --bus-address ADDR      use the bus at ADDR (unix:path=…) instead of the
                          system bus; DBUS_SYSTEM_BUS_ADDRESS works too
  -h, --help              this text
  -V, --version           the version

Changes to profiles, /dev/modem and query-modem need polkit's
io.github.dialtone.modify, up and down io.github.dialtone.connect; a polkit
agent in your session may ask for a password.

exit status:
    0  success (monitor and log -f: also when ended by Ctrl-C)
    1  the operation failed; for up: the link failed (its reason and code
       are printed), or --timeout passed
    2  bad usage, or a profile file that is not valid
    3  not authorized
    4  no such profile, link or port
    5  dialtoned is not reachable (no system bus, or not installed)
    6  a setting or argument was refused (the message names it)
    7  the profile, port or device is busy or not available
  130  up was interrupted by Ctrl-C (and hung up)

--json prints one JSON document on standard output (monitor and log -f:
one object per line); errors stay on standard error. The fields:
  list          {\"profiles\": [{\"id\", \"name\", \"state\", \"device\",
                \"link\" (path or null), \"has_secrets\"}],
                \"problems\": [{\"file\", \"error\"}]}
  show          {\"id\", \"name\", \"has_secrets\", \"profile\": {the profile's
                fields, as in the RON file}}
  add, edit, delete, set-secret
                {\"id\", \"path\"}
  up --no-wait  {\"id\", \"link\" (path)}
  up            {\"id\", \"result\" (connected, waiting-for-traffic, failed,
                timeout or interrupted), \"link\": LINK, \"transitions\":
                [{\"time_usec\", \"state\", \"description\", \"reason\": REASON}]}
  down          {\"id\", \"link\": LINK, or null when it was not connected}
  status        {\"links\": [LINK]}
  monitor       per line: {\"time_usec\", \"event\" (present, added, state,
                reason, removed), \"link\": LINK}, or {\"time_usec\", \"event\"
                (daemon-left, daemon-started)}
  log           {\"id\", \"link\" (path), \"entries\": [ENTRY]}
  log -f        per line: ENTRY
  ports         {\"ports\": [{\"path\", \"description\", \"by_id\", \"by_path\",
                \"driver\", \"manufacturer\", \"product\", \"vendor_id\",
                \"product_id\", \"serial\", \"busy\" (null or {\"program\",
                \"pid\"}), \"modem_link\" (bool)}], \"modem_link\" (path or null)}
  modem-link    {\"modem_link\" (path or null)}
  query-modem   {\"port\", \"answers\": [{\"command\", \"answer\"}]}
  permissions   {\"permissions\": {action: \"yes\", \"auth\" or \"no\"}}
where
  LINK    {\"path\", \"link\" (its number), \"profile\" (id), \"profile_name\",
          \"state\" (a word: dialing, connected, …), \"description\" (the
          state in words), \"reason\": REASON, \"phase\", \"device\",
          \"number\" (dialed), \"interface\", \"ipv4\" and \"ipv6\": {\"local\",
          \"peer\"}, \"dns\" [..], \"default_route\", \"mtu\",
          \"authentication\", \"connect_speed\", \"connected_since_usec\",
          \"statistics\": {\"rx-bytes\", \"tx-bytes\", \"rx-packets\", …}}
  REASON  {\"code\" (modem:busy, ppp:auth-failed, user, …), \"message\",
          \"details\": {name: text}}
  ENTRY   {\"time_usec\", \"source\" (modem, login, ppp, note), \"direction\"
          (in, out or empty), \"text\"}
Times are microseconds since the Unix epoch.
";

/// The arguments as strings; one that is not valid UTF-8 is a usage error.
fn arguments() -> Result<Vec<String>, String> {
    std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string()
                .map_err(|a| format!("the argument {a:?} is not valid UTF-8"))
        })
        .collect()
}

/// Parses the command line, runs the command on a current-thread Tokio
/// runtime, prints the error if any and exits with its status.
fn main() -> ExitCode {
    let parsed = match arguments().and_then(args::parse) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("dialtonectl: {e}\n(dialtonectl --help lists the commands)");
            return ExitCode::from(exit::USAGE);
        }
    };
    let (global, command) = match parsed {
        Parsed::Help => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Parsed::Version => {
            println!("dialtonectl {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Parsed::Run(g, c) => (g, c),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dialtonectl: cannot start: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    match runtime.block_on(commands::run(&global, command)) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(CliError { code, message }) => {
            for line in message.lines() {
                eprintln!("dialtonectl: {line}");
            }
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_text_documents_every_command_and_status() {
        for command in [
            "list",
            "show PROFILE",
            "add FILE.ron",
            "edit PROFILE FILE.ron",
            "delete PROFILE",
            "set-secret PROFILE",
            "up PROFILE",
            "down PROFILE",
            "status [PROFILE]",
            "monitor",
            "log PROFILE [-f]",
            "ports",
            "modem-link [PORT]",
            "query-modem PORT",
            "permissions",
        ] {
            assert!(USAGE.contains(&format!("\n  {command}")), "{command}");
        }
        for status in [
            exit::OK,
            exit::FAILED,
            exit::USAGE,
            exit::NOT_AUTHORIZED,
            exit::NOT_FOUND,
            exit::UNREACHABLE,
            exit::INVALID_ARGUMENT,
            exit::BUSY,
            exit::INTERRUPTED,
        ] {
            assert!(USAGE.contains(&format!("{status:>5}  ")), "{status}");
        }
        assert!(USAGE.lines().all(|l| l.chars().count() <= 80));
    }
}
