//! Dialtone's project automation: `cargo xtask <command>`.
//!
//! The alias lives in `.cargo/config.toml` (`xtask = "run --package xtask --"`).
//! This crate uses the standard library and `libc` only (the demo ignores
//! Ctrl-C itself so that it can clean up after the programs it runs), so it
//! builds on a fresh machine before anything else is known to work.
//!
//! Commands are listed in [`COMMANDS`]; to add one (`demo`, `install`, `po`,
//! ...), write a `fn cmd_NAME(args: &[String]) -> Result<(), Failure>` and add a
//! row to the table.  Long-running work should be split into [`Step`]s run by
//! [`run_steps`], which prints each step's name and duration and stops at the
//! first failure, naming the step that failed.

mod demo;
mod install;
mod po;

use std::cell::Cell;
use std::env;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{self, Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Debian packages the test suite needs.  `cargo xtask test` installs the
/// missing ones when it runs as root.  Later issues extend this list.
///
/// * `slirp`: the PPP peer ("ISP") of the integration tests.
/// * `socat`: pty/socket plumbing in tests and demos.
/// * `iproute2`: `ip`, for network namespaces in tests.
/// * `iputils-ping`: `ping` through the links of the end-to-end tests.
/// * `dbus-daemon`: a private bus for the systemd-resolved client's tests
///   and the system-bus tests (its dependency `dbus-bin` has `dbus-send`).
/// * `polkitd`: the real polkit daemon (and `pkcheck`, `pkaction`) on the
///   system-bus tests' private bus.
/// * `gcc`: `cc`, to build the LD_PRELOAD shim that fixes slirp on glibc 2.36.
/// * `g++`: libFuzzer's C++ sources, built when the fuzz targets are checked.
/// * `pkg-config`: for crates that link system libraries.
/// * `desktop-file-utils`: `desktop-file-validate`, run on the desktop entry.
/// * `appstream`: `appstreamcli validate`, run on the AppStream metadata, and
///   the ITS rules xgettext and msgfmt read that metadata by.
/// * `gettext`: xgettext, msgmerge and msgfmt for `cargo xtask po`.
/// * `libgtk-4-dev`, `libadwaita-1-dev`: to build the GUI (GTK 4.8 and
///   libadwaita 1.2 on Debian 12).
/// * `xvfb`, `xauth`: the virtual display of the GUI test, the startup
///   benchmark and a demo without a display.
/// * `at-spi2-core`, `python3-pyatspi`: the accessibility bus and the
///   Python client the GUI test drives the window through
///   (`tests/gui/atspi_driver.py`).
/// * `xdotool`: pointer and keys for what AT-SPI cannot do in GTK 4.8.
/// * `imagemagick`: `import`, the GUI test's screenshots.
const APT_PACKAGES: &[&str] = &[
    "slirp",
    "socat",
    "iproute2",
    "iputils-ping",
    "dbus-daemon",
    "polkitd",
    "gcc",
    "g++",
    "pkg-config",
    "desktop-file-utils",
    "appstream",
    "gettext",
    "libgtk-4-dev",
    "libadwaita-1-dev",
    "xvfb",
    "xauth",
    "at-spi2-core",
    "python3-pyatspi",
    "xdotool",
    "imagemagick",
];

/// The seed of the property tests' cases in `cargo xtask test`.
const PROPTEST_SEED: &str = "20261121";

/// Rust toolchain components the checks need (installed with rustup if missing).
const RUSTUP_COMPONENTS: &[&str] = &["rustfmt", "clippy"];

/// One `cargo xtask` subcommand.
struct XCommand {
    name: &'static str,
    usage: &'static str,
    about: &'static str,
    run: fn(&[String]) -> Result<(), Failure>,
}

/// Every subcommand, in the order `help` lists them.
const COMMANDS: &[XCommand] = &[
    XCommand {
        name: "test",
        usage: "test [-- <extra `cargo test` args>]",
        about: "the project's one test command (CI runs it): install missing system \
                packages (as root), then cargo fmt --check, cargo clippy -D warnings \
                (all targets, incl. benches), a compile check of the fuzz targets, \
                cargo test --workspace, then one `N passed, N failed, N skipped` line",
        run: cmd_test,
    },
    XCommand {
        name: "demo",
        usage: "demo",
        about: "as root: a full dial on the simulated modem and ISP (dialtone-sim), \
                each side in a throw-away network namespace; shows the modem dialog, \
                PPP coming up and a ping through the link; Ctrl-C hangs up",
        run: demo::cmd_demo,
    },
    XCommand {
        name: "install",
        usage: "install [--destdir DIR] [--prefix /usr] [--release|--debug]",
        about: "build dialtoned, dialtonectl and the GUI dialtone (release by default) \
                and install them with the bus policy, the D-Bus activation file, the \
                systemd unit and the polkit actions, the desktop entry, the AppStream \
                metadata, the icons and the compiled translations, and create \
                /etc/dialtone/{profiles,secrets}; --destdir \
                (or DESTDIR) stages the tree there, without it the files go into the \
                running system (root) and the system bus reloads",
        run: install::cmd_install,
    },
    XCommand {
        name: "po",
        usage: "po [--check]",
        about: "translations: extract po/dialtone.pot from the files po/POTFILES.in \
                names (xgettext), merge it into the po/LINGUAS languages (msgmerge), \
                check and compile them to target/locale (msgfmt), and merge them into \
                the desktop entry and the AppStream metadata in data/; --check changes \
                nothing and fails when a generated file is out of date or a \
                translation is incomplete",
        run: po::cmd_po,
    },
    XCommand {
        name: "help",
        usage: "help",
        about: "show this list",
        run: cmd_help,
    },
];

/// Why a command failed; printed once by `main`.
#[derive(Debug)]
enum Failure {
    /// Wrong command line: help is printed, exit code 2.
    Usage(String),
    /// Anything else: exit code 1.
    Failed(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m) | Failure::Failed(m) => f.write_str(m),
        }
    }
}

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let Some(name) = args.first() else {
        print_help();
        process::exit(2);
    };
    let name = match name.as_str() {
        "-h" | "--help" => "help",
        other => other,
    };
    let Some(command) = COMMANDS.iter().find(|c| c.name == name) else {
        eprintln!("xtask: unknown command `{name}`\n");
        print_help();
        process::exit(2);
    };
    match (command.run)(&args[1..]) {
        Ok(()) => {}
        Err(Failure::Usage(msg)) => {
            eprintln!("xtask {}: {msg}\n", command.name);
            print_help();
            process::exit(2);
        }
        Err(Failure::Failed(msg)) => {
            eprintln!("xtask {}: FAILED: {msg}", command.name);
            process::exit(1);
        }
    }
}

fn print_help() {
    println!("Usage: cargo xtask <command> [args]\n\nCommands:");
    for c in COMMANDS {
        println!("  {:<10} {}", c.name, c.about);
        println!("  {:<10} usage: cargo xtask {}", "", c.usage);
    }
    println!(
        "\nSystem packages (Debian) the tests need: {}",
        APT_PACKAGES.join(" ")
    );
}

fn cmd_help(_args: &[String]) -> Result<(), Failure> {
    print_help();
    Ok(())
}

// ---------------------------------------------------------------------------
// test

fn cmd_test(args: &[String]) -> Result<(), Failure> {
    let extra: Vec<String> = match args.split_first() {
        None => Vec::new(),
        Some((sep, rest)) if sep == "--" => rest.to_vec(),
        Some((other, _)) => return Err(Failure::Usage(format!("unexpected argument `{other}`"))),
    };
    let root = workspace_root();
    let cargo = cargo_bin();

    let mut test_args = vec!["test".to_string(), "--workspace".to_string()];
    if !extra.is_empty() {
        test_args.push("--".into());
        test_args.extend(extra);
    }

    let totals = Rc::new(Cell::new(Totals::default()));
    let steps = vec![
        Step::new("system packages", ensure_apt_packages),
        Step::new("toolchain components", ensure_rustup_components),
        Step::cargo("fmt", &cargo, &root, &["fmt", "--all", "--", "--check"]),
        // --all-targets includes tests, examples and benches: the benches'
        // compile check happens here.
        Step::cargo(
            "clippy",
            &cargo,
            &root,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
        // The fuzz targets live outside the workspace (cargo-fuzz builds
        // them with sanitizer flags); check that they still compile.
        Step::cargo(
            "fuzz targets",
            &cargo,
            &root,
            &["check", "--manifest-path", "fuzz/Cargo.toml", "--bins"],
        ),
        Step::new("test", {
            let totals = Rc::clone(&totals);
            let mut cmd = Command::new(&cargo);
            cmd.current_dir(&root).args(&test_args);
            // The property tests draw their cases from a fixed seed here, so
            // that a CI run is reproducible; set PROPTEST_RNG_SEED to explore
            // other cases (each failure found is kept in a
            // *.proptest-regressions file and replayed first).
            if env::var_os("PROPTEST_RNG_SEED").is_none() {
                cmd.env("PROPTEST_RNG_SEED", PROPTEST_SEED);
            }
            move || run_counting_tests(&mut cmd, &totals)
        }),
    ];
    run_steps(steps)?;
    let t = totals.get();
    if t.passed == 0 {
        return Err(Failure::Failed("cargo test ran no test".into()));
    }
    // The plain closing line CI reads: every test binary's results added up.
    println!(
        "\ntests: {} passed, {} failed, {} skipped",
        t.passed, t.failed, t.ignored
    );
    Ok(())
}

/// Test counts added up over every `test result:` line of a `cargo test` run.
#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Totals {
    /// Adds the counts of one libtest summary line, e.g.
    /// `test result: ok. 60 passed; 0 failed; 1 ignored; 0 measured; ...`.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result:") else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

/// Runs `cargo test`, passing its output through while adding up the
/// counts of every test binary.
fn run_counting_tests(cmd: &mut Command, totals: &Rc<Cell<Totals>>) -> Result<(), String> {
    let shown = show(cmd);
    println!("$ {shown}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if let Some(out) = child.stdout.take() {
        let mut t = totals.get();
        for line in BufReader::new(out).lines() {
            let line = line.map_err(|e| format!("reading `{shown}`: {e}"))?;
            println!("{line}");
            t.add_line(&line);
        }
        totals.set(t);
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for `{shown}`: {e}"))?;
    check_status(&shown, status)
}

/// A named unit of work for [`run_steps`].
struct Step {
    name: &'static str,
    action: Box<dyn FnOnce() -> Result<(), String>>,
}

impl Step {
    fn new(name: &'static str, action: impl FnOnce() -> Result<(), String> + 'static) -> Step {
        Step {
            name,
            action: Box::new(action),
        }
    }

    /// A step that runs `cargo <args>` in `dir`.
    fn cargo<S: AsRef<str>>(name: &'static str, cargo: &Path, dir: &Path, args: &[S]) -> Step {
        let mut cmd = Command::new(cargo);
        cmd.current_dir(dir).args(args.iter().map(AsRef::as_ref));
        Step::new(name, move || run(&mut cmd))
    }
}

/// Runs the steps in order, printing each one's name and duration, and stops
/// at the first failure, which names the failed step.
fn run_steps(steps: Vec<Step>) -> Result<(), Failure> {
    let total = Instant::now();
    let mut done: Vec<(&'static str, Duration)> = Vec::new();
    let count = steps.len();
    for (i, step) in steps.into_iter().enumerate() {
        println!("\n==> xtask [{}/{count}] {}", i + 1, step.name);
        let started = Instant::now();
        let result = (step.action)();
        let took = started.elapsed();
        match result {
            Ok(()) => {
                println!(
                    "==> xtask [{}/{count}] {}: ok ({})",
                    i + 1,
                    step.name,
                    secs(took)
                );
                done.push((step.name, took));
            }
            Err(msg) => {
                println!(
                    "==> xtask [{}/{count}] {}: FAILED after {}",
                    i + 1,
                    step.name,
                    secs(took)
                );
                return Err(Failure::Failed(format!(
                    "step `{}` failed: {msg}",
                    step.name
                )));
            }
        }
    }
    println!(
        "\n==> xtask: all {count} steps passed ({})",
        secs(total.elapsed())
    );
    for (name, took) in done {
        println!("    {name:<22} {}", secs(took));
    }
    Ok(())
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Runs a command with inherited stdio; Err describes a failure.
fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = show(cmd);
    println!("$ {shown}");
    let status = cmd
        .status()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    check_status(&shown, status)
}

fn check_status(shown: &str, status: ExitStatus) -> Result<(), String> {
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` exited with {status}"))
    }
}

fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(manifest_dir)
}

/// The cargo that runs us (cargo sets `CARGO` for `cargo run`).
fn cargo_bin() -> PathBuf {
    env::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("cargo"))
}

fn is_root() -> bool {
    // /proc/self/status has "Uid:\treal\teffective\tsaved\tfs".
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(process::Stdio::null())
        .stderr(process::Stdio::null())
        .status()
        .is_ok()
}

/// Whether dpkg says `package` is installed.
fn dpkg_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .stderr(process::Stdio::null())
        .output()
        .map(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout).trim() == "install ok installed"
        })
        .unwrap_or(false)
}

/// Step 1: install the missing [`APT_PACKAGES`] (root only; apt-get runs only
/// when something is missing).
fn ensure_apt_packages() -> Result<(), String> {
    if !have("dpkg-query") {
        println!(
            "no dpkg-query: not a Debian system, skipping (needed: {})",
            APT_PACKAGES.join(" ")
        );
        return Ok(());
    }
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        println!("all installed: {}", APT_PACKAGES.join(" "));
        return Ok(());
    }
    if !is_root() {
        println!(
            "warning: missing packages {} (not root, not installing); tests that need \
             them will fail. Install with: sudo apt-get install {}",
            missing.join(" "),
            missing.join(" ")
        );
        return Ok(());
    }
    println!("installing missing packages: {}", missing.join(" "));
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("NEEDRESTART_MODE", "a");
        run(&mut cmd)
    };
    apt(&["update", "-q"])?;
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend(&missing);
    apt(&install)?;
    let still: Vec<&str> = missing.into_iter().filter(|p| !dpkg_installed(p)).collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!("still not installed: {}", still.join(" ")))
    }
}

/// Step 2: make sure `cargo fmt` and `cargo clippy` exist (rustup installs).
fn ensure_rustup_components() -> Result<(), String> {
    let cargo = cargo_bin();
    let works = |sub: &str| {
        Command::new(&cargo)
            .args([sub, "--version"])
            .stdout(process::Stdio::null())
            .stderr(process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let missing: Vec<&str> = RUSTUP_COMPONENTS
        .iter()
        .copied()
        .filter(|c| !works(if *c == "rustfmt" { "fmt" } else { c }))
        .collect();
    if missing.is_empty() {
        println!("available: {}", RUSTUP_COMPONENTS.join(" "));
        return Ok(());
    }
    if !have("rustup") {
        return Err(format!(
            "missing toolchain components {} and no rustup to install them",
            missing.join(" ")
        ));
    }
    let mut cmd = Command::new("rustup");
    cmd.args(["component", "add"]).args(&missing);
    run(&mut cmd)
}
