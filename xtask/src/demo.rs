//! `cargo xtask demo`: the app on a simulated modem and ISP, no hardware
//! needed.
//!
//! Everything runs beside the machine's own setup, which is not changed:
//!
//! * a private **system-style bus** (`dbus-daemon` with `<type>system</type>`
//!   and our bus policy from `data/dbus/`) on a socket in a temporary
//!   directory, not the machine's system bus;
//! * the simulated **modem and ISP** (`dialtone-sim --isp internal`) in a
//!   throw-away network namespace (`unshare --net`, gone with its process);
//! * **`dialtoned service`** on that bus, in a second network namespace,
//!   with its configuration, state and lock directories in the temporary
//!   directory; `data/demo/demo.ron` is its one profile, pointing at the
//!   modem's pty;
//! * the **window** (`dialtone --bus-address …`), on the desktop the demo
//!   was started from (`DISPLAY` or `WAYLAND_DISPLAY`; with sudo, use
//!   `sudo -E`). Click Connect and watch the link come up: the first number
//!   is busy, the second answers with a text login, then PPP with CHAP.
//!   Without a display the demo runs the window on a virtual display (Xvfb),
//!   clicks Connect itself through the accessibility tree and saves
//!   screenshots.
//!
//! Closing the window or Ctrl-C ends the demo and everything it started.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::{cargo_bin, ensure_apt_packages, is_root, run, workspace_root, Failure};

/// The demo account on the simulated ISP.
const USER: &str = "demo";
const PASSWORD: &str = "demo";

pub fn cmd_demo(args: &[String]) -> Result<(), Failure> {
    if let Some(a) = args.first() {
        return Err(Failure::Usage(format!(
            "demo takes no arguments (got {a:?})"
        )));
    }
    if !is_root() {
        return Err(Failure::Failed(
            "the demo needs root: it creates network namespaces and TUN devices \
             (the machine's own network is not changed)"
                .into(),
        ));
    }
    ensure_apt_packages().map_err(Failure::Failed)?;
    let root = workspace_root();
    println!("==> building dialtoned, dialtone-sim and dialtone (release)");
    run(Command::new(cargo_bin()).current_dir(&root).args([
        "build",
        "--release",
        "-p",
        "dialtone-helper",
        "--bins",
        "-p",
        "dialtone",
    ]))
    .map_err(Failure::Failed)?;
    // The committed translations, so that the window speaks the user's
    // language (`LANGUAGE=de cargo xtask demo`).
    for lang in crate::po::linguas(&root.join("po")).map_err(Failure::Failed)? {
        let mo = target_dir(&root).join(format!("locale/{lang}/LC_MESSAGES/dialtone.mo"));
        if let Some(dir) = mo.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::Failed(format!("{}: {e}", dir.display())))?;
        }
        crate::po::compile(&root.join(format!("po/{lang}.po")), &mo).map_err(Failure::Failed)?;
    }
    let bin = target_dir(&root).join("release");
    let dir = std::env::temp_dir().join(format!("dialtone-demo-{}", std::process::id()));
    let result = demo(&root, &bin, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result.map_err(Failure::Failed)
}

/// Cargo's target directory (CARGO_TARGET_DIR or ./target).
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// A child whose output lines are printed with a prefix and forwarded.
struct Shown {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Shown {
    fn spawn(prefix: &'static str, mut cmd: Command) -> Result<Shown, String> {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {prefix}: {e}"))?;
        let (tx, lines) = mpsc::channel();
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().ok_or("no stdout")?),
            Box::new(child.stderr.take().ok_or("no stderr")?),
        ];
        for stream in streams {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    println!("{prefix} | {line}");
                    let _ = tx.send(line);
                }
            });
        }
        Ok(Shown { child, lines })
    }

    /// Waits for a line containing `text`; `Err` if the program exits first.
    fn wait_for(&mut self, text: &str, timeout: Duration) -> Result<(), String> {
        let end = std::time::Instant::now() + timeout;
        loop {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) if line.contains(text) => return Ok(()),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        return Err(format!("it exited ({status}) before saying {text:?}"));
                    }
                    if std::time::Instant::now() > end {
                        return Err(format!("no {text:?} within {timeout:?}"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map_err(|e| e.to_string())?;
                    return Err(format!("it exited ({status}) before saying {text:?}"));
                }
            }
        }
    }

    /// Waits up to `timeout` for the program to exit.
    fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let end = std::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }
}

impl Drop for Shown {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGTERM);
            std::thread::sleep(Duration::from_millis(500));
            if let Ok(None) = self.child.try_wait() {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

/// `unshare --net` with loopback up, then `exec` the program.
fn in_new_netns(program: &Path, args: &[&str]) -> Command {
    let mut script = String::from("ip link set lo up && exec");
    for word in std::iter::once(program.to_string_lossy().as_ref()).chain(args.iter().copied()) {
        script.push_str(" '");
        script.push_str(&word.replace('\'', r"'\''"));
        script.push('\'');
    }
    let mut cmd = Command::new("unshare");
    cmd.args(["--net", "sh", "-c", &script]);
    cmd
}

/// The private bus's configuration: Debian's system bus policy in short
/// (nobody owns names or calls methods unless a policy file allows it),
/// with our policy file included.
fn bus_config(socket: &Path, policies: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <includedir>{policies}</includedir>
</busconfig>
"#,
        socket = socket.display(),
        policies = policies.display(),
    )
}

/// Which display the window goes to.
enum Display {
    /// The desktop's (X11 or Wayland).
    Desktop,
    /// A virtual one we started, at this number.
    Virtual(u32),
}

fn demo(root: &Path, bin: &Path, dir: &Path) -> Result<(), String> {
    let s = |p: &Path| p.to_string_lossy().into_owned();
    for sub in ["profiles", "secrets", "state", "lock", "bus.d"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("secrets"), std::fs::Permissions::from_mode(0o700))
        .map_err(|e| e.to_string())?;
    let resolv = dir.join("resolv.conf");
    std::fs::write(
        &resolv,
        "# the demo's own resolv.conf (the machine's is not touched)\n",
    )
    .map_err(|e| e.to_string())?;
    let modem = dir.join("modem");

    // Ctrl-C is for the programs: dialtoned hangs up, the sim exits; we
    // stay to clean up and say what happened.
    // SAFETY: setting a signal disposition to SIG_IGN has no preconditions.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };

    println!("==> a private system bus (the machine's is not used)");
    let policy = "io.github.dialtone.Dialtone1.conf";
    std::fs::copy(
        root.join("data/dbus").join(policy),
        dir.join("bus.d").join(policy),
    )
    .map_err(|e| format!("copying the bus policy: {e}"))?;
    let socket = dir.join("bus");
    let address = format!("unix:path={}", socket.display());
    let config = dir.join("bus.conf");
    std::fs::write(&config, bus_config(&socket, &dir.join("bus.d"))).map_err(|e| e.to_string())?;
    let mut bus_cmd = Command::new("dbus-daemon");
    bus_cmd.args([
        &format!("--config-file={}", config.display()),
        "--nofork",
        "--nopidfile",
        "--print-address=1",
    ]);
    std::os::unix::process::CommandExt::process_group(&mut bus_cmd, 0);
    let mut bus = Shown::spawn("   bus", bus_cmd)?;
    bus.wait_for("unix:path=", Duration::from_secs(10))
        .map_err(|e| format!("dbus-daemon: {e}"))?;

    println!("==> the simulated modem and ISP (its own network namespace)");
    let modem_s = s(&modem);
    let mut sim_cmd = in_new_netns(
        &bin.join("dialtone-sim"),
        &[
            "--link",
            &modem_s,
            "--number",
            "5550100=busy",
            "--dial-delay-ms",
            "1500",
            "--isp",
            "internal",
            "--auth",
            "chap",
            "--user",
            USER,
            "--password",
            PASSWORD,
            "--login-prompt",
        ],
    );
    // Its own process group: Ctrl-C goes to dialtoned only, which hangs
    // up through the modem; the simulation is stopped afterwards.
    std::os::unix::process::CommandExt::process_group(&mut sim_cmd, 0);
    let mut sim = Shown::spawn("   modem+isp", sim_cmd)?;
    sim.wait_for("ready", Duration::from_secs(20))
        .map_err(|e| format!("dialtone-sim: {e}"))?;
    let pty = std::fs::read_link(&modem).map_err(|e| format!("the modem's pty: {e}"))?;

    // The demo profile, on the modem's pty (a device under /dev, as the
    // daemon insists), with its password in the secrets directory.
    let profile = std::fs::read_to_string(root.join("data/demo/demo.ron"))
        .map_err(|e| format!("data/demo/demo.ron: {e}"))?
        .replace(
            "device: \"/dev/modem\"",
            &format!("device: {:?}", pty.to_string_lossy()),
        );
    std::fs::write(dir.join("profiles/demo.ron"), profile).map_err(|e| e.to_string())?;
    let secrets = dir.join("secrets/demo.ron");
    std::fs::write(
        &secrets,
        format!("Secrets(version: 1, password: {PASSWORD:?})\n"),
    )
    .map_err(|e| e.to_string())?;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())?;

    println!("==> dialtoned service on that bus (a second network namespace)");
    let mut daemon = Shown::spawn(
        "   dialtoned",
        in_new_netns(
            &bin.join("dialtoned"),
            &[
                "service",
                "--bus-address",
                &address,
                "--config-dir",
                &s(dir),
                "--state-dir",
                &s(&dir.join("state")),
                "--lock-dir",
                &s(&dir.join("lock")),
                "--modem-link",
                &s(&dir.join("modem-link")),
                "--dns",
                "resolv-conf",
                "--resolv-conf",
                &s(&resolv),
            ],
        ),
    )?;
    daemon
        .wait_for("serving", Duration::from_secs(20))
        .map_err(|e| format!("dialtoned: {e}"))?;
    let netns = format!("--net=/proc/{}/ns/net", daemon.child.id());

    let display =
        if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some() {
            Display::Desktop
        } else {
            Display::Virtual(free_display())
        };
    let _xvfb = match &display {
        Display::Desktop => None,
        Display::Virtual(n) => {
            println!("==> no display: a virtual one (Xvfb :{n}); the demo clicks Connect itself");
            let mut x = Command::new("Xvfb");
            x.args([
                &format!(":{n}"),
                "-screen",
                "0",
                "900x700x24",
                "-nolisten",
                "tcp",
            ]);
            let shown = Shown::spawn("   Xvfb", x)?;
            wait_for_path(
                Path::new(&format!("/tmp/.X11-unix/X{n}")),
                Duration::from_secs(10),
            )?;
            Some(shown)
        }
    };

    // A session bus of the demo's own, for GApplication and the
    // accessibility bus (a user's session bus does not accept root).
    let session_socket = dir.join("session-bus");
    let session_address = format!("unix:path={}", session_socket.display());
    let mut session_cmd = Command::new("dbus-daemon");
    session_cmd.args([
        "--session",
        &format!("--address={session_address}"),
        "--nofork",
        "--nopidfile",
        "--print-address=1",
    ]);
    std::os::unix::process::CommandExt::process_group(&mut session_cmd, 0);
    let mut session = Shown::spawn("   session bus", session_cmd)?;
    session
        .wait_for("unix:path=", Duration::from_secs(10))
        .map_err(|e| format!("dbus-daemon --session: {e}"))?;

    println!("==> the window: click Connect, then the row for the details");
    let mut gui_cmd = Command::new(bin.join("dialtone"));
    gui_cmd
        .args(["--bus-address", &address])
        .env("DBUS_SESSION_BUS_ADDRESS", &session_address)
        .env("DIALTONE_LOCALE_DIR", target_dir(root).join("locale"));
    if let Display::Virtual(n) = display {
        gui_cmd
            .env("DISPLAY", format!(":{n}"))
            .env("GSK_RENDERER", "cairo")
            .env_remove("WAYLAND_DISPLAY");
    }
    let mut gui = Shown::spawn("   dialtone", gui_cmd)?;
    println!(
        "==> once connected, try the link:  sudo nsenter {netns} ping 10.0.0.1\n\
         ==> close the window or press Ctrl-C to end the demo"
    );
    if let Display::Virtual(n) = display {
        drive_headless(root, n, &session_address, &netns)?;
    }
    let status = gui.child.wait().map_err(|e| e.to_string())?;
    println!("==> the window closed ({status}); stopping dialtoned (it hangs up)");
    daemon.signal(libc::SIGTERM);
    let _ = daemon.wait_exit(Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(300));
    drop(sim);
    drop(session);
    drop(bus);
    println!("==> the demo is over");
    Ok(())
}

/// A display number no X server uses.
fn free_display() -> u32 {
    (90..200)
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .unwrap_or(199)
}

fn wait_for_path(path: &Path, timeout: Duration) -> Result<(), String> {
    let end = std::time::Instant::now() + timeout;
    while !path.exists() {
        if std::time::Instant::now() > end {
            return Err(format!("{} did not appear", path.display()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Without a display: click Connect through the accessibility tree, wait
/// for Connected, ping through the link, save screenshots.
fn drive_headless(root: &Path, display: u32, session: &str, netns: &str) -> Result<(), String> {
    let shots = target_dir(root).join("demo");
    std::fs::create_dir_all(&shots).map_err(|e| e.to_string())?;
    // Debian's interpreter: it has pyatspi (a pyenv or venv one may not).
    let status = Command::new("/usr/bin/python3")
        .arg(root.join("tests/gui/demo_drive.py"))
        .arg(&shots)
        .env("DISPLAY", format!(":{display}"))
        .env("DBUS_SESSION_BUS_ADDRESS", session)
        .status()
        .map_err(|e| format!("python3: {e}"))?;
    if !status.success() {
        return Err(format!("driving the window failed ({status})"));
    }
    println!("==> ping 10.0.0.1 (the ISP) through the link");
    let _ = Command::new("nsenter")
        .args([netns, "ping", "-c", "3", "10.0.0.1"])
        .status();
    println!(
        "==> screenshots in {}; press Ctrl-C to end the demo",
        shots.display()
    );
    Ok(())
}
