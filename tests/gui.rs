//! The whole system under a virtual display: the real `dialtoned service` on
//! a private system bus with the real polkitd, the simulated modem and ISP,
//! and the window running as an unprivileged user, driven through the
//! accessibility tree (AT-SPI, `tests/gui/connect_check.py` with
//! `tests/gui/atspi_driver.py`; the recipe is in `tests/gui/README-atspi.md`).
//!
//! As the user `dtgui` (allowed to connect and to modify by a polkit rule),
//! the test creates a connection with the New Connection assistant, clicks
//! Connect, waits for the row to say Connected, checks the details page,
//! pings the ISP through the link, disconnects, and looks at the window in
//! German. Screenshots go to `target/gui-test/`.
//!
//! Needs root (namespaces, TUN, the bus, polkitd, the test user) and the
//! Debian packages xvfb, at-spi2-core, python3-pyatspi, xdotool,
//! imagemagick, dbus-daemon and polkitd (`cargo xtask test` installs them).
//! Nothing outside temporary directories and the test's network namespaces
//! is changed, apart from the system user `dtgui`, which stays.

#[path = "../helper/tests/support/system_bus.rs"]
mod system_bus;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use system_bus::{ensure_user, SystemBus, TestUser};

/// The GUI under test.
const DIALTONE: &str = env!("CARGO_BIN_EXE_dialtone");

/// The polkit rule: the test user may connect and modify, others not.
const RULES: &str = r#"
polkit.addRule(function(action, subject) {
    if ((action.id == "io.github.dialtone.connect" ||
         action.id == "io.github.dialtone.modify") && subject.user == "dtgui") {
        return polkit.Result.YES;
    }
});
"#;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The helper's programs, built beside the GUI (`cargo test --workspace`
/// builds them; this builds them when the GUI's tests run alone).
fn helper_bin(name: &str) -> PathBuf {
    let dir = Path::new(DIALTONE).parent().expect("the target directory");
    let path = dir.join(name);
    let status = Command::new(env!("CARGO"))
        .current_dir(workspace())
        .args(["build", "-p", "dialtone-helper", "--bin", name])
        .status()
        .expect("cargo build");
    assert!(status.success(), "building {name} failed");
    path
}

/// A child stopped (SIGTERM, then SIGKILL) and reaped when dropped, whose
/// output is collected.
struct Proc {
    name: String,
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let (tx, lines) = std::sync::mpsc::channel();
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for stream in streams {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Proc {
            name: name.to_string(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `text`; returns it.
    fn wait_for(&mut self, text: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        let output = self.output();
                        panic!(
                            "{} exited ({status}) before saying {text:?}:\n{output}",
                            self.name
                        );
                    }
                    if Instant::now() >= end {
                        let output = self.output();
                        panic!(
                            "{} did not say {text:?} within {timeout:?}:\n{output}",
                            self.name
                        );
                    }
                }
            }
        }
    }

    fn output(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the program to exit; panics with its output after
    /// `timeout`.
    fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() >= end {
                let output = self.output();
                panic!("{} did not exit within {timeout:?}:\n{output}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let group = -(self.child.id() as i32);
        // SAFETY: kill(2) on the process group of our own child.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// `unshare --net` with loopback up, then the program.
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

/// Runs `program` in the network namespace of process `pid`.
fn in_netns_of(pid: u32, program: &str, args: &[&str]) -> Output {
    Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .arg(program)
        .args(args)
        .output()
        .expect("nsenter")
}

/// The user's desktop session: Xvfb (as root), a session bus (as the
/// user), and a directory of the user's for artifacts and XDG_RUNTIME_DIR.
struct Session {
    user: TestUser,
    home: String,
    dir: PathBuf,
    display: String,
    bus: Option<Proc>,
    xvfb: Option<Proc>,
}

impl Session {
    fn start(user: &TestUser) -> Session {
        let home = format!("/tmp/dialtone-gui-home-{}", user.name);
        std::fs::create_dir_all(&home).expect("home");
        chown(Path::new(&home), user);
        let dir = std::env::temp_dir().join(format!("dialtone-gui-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("session directory");
        chown(&dir, user);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        // The scripts, where the user can read them.
        for f in ["atspi_driver.py", "connect_check.py"] {
            let to = dir.join(f);
            std::fs::copy(workspace().join("tests/gui").join(f), &to).expect("copy script");
            chown(&to, user);
        }
        let mut xvfb_cmd = Command::new("Xvfb");
        xvfb_cmd.args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1100x820x24",
            "-nolisten",
            "tcp",
            "-ac",
        ]);
        let mut xvfb = Proc::spawn("Xvfb", xvfb_cmd);
        // The display number comes on stdout; warnings may come first on
        // stderr.
        let end = Instant::now() + Duration::from_secs(20);
        let number: u32 = loop {
            let line = xvfb.wait_for("", end.saturating_duration_since(Instant::now()));
            if let Ok(n) = line.trim().parse() {
                break n;
            }
        };
        let display = format!(":{number}");
        let mut s = Session {
            user: user.clone(),
            home,
            dir,
            display,
            bus: None,
            xvfb: Some(xvfb),
        };
        let address = s.bus_address();
        let mut bus = Proc::spawn(
            "session bus",
            s.command(
                "dbus-daemon",
                &[
                    "--session",
                    &format!("--address={address}"),
                    "--nofork",
                    "--nopidfile",
                    "--print-address=1",
                ],
            ),
        );
        bus.wait_for("unix:path=", Duration::from_secs(20));
        s.bus = Some(bus);
        s
    }

    fn bus_address(&self) -> String {
        format!("unix:path={}/bus", self.dir.display())
    }

    /// `program` as the user, in the session's environment and no other.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("USER", &self.user.name)
            .env("LOGNAME", &self.user.name)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("XDG_RUNTIME_DIR", &self.dir)
            .env("DISPLAY", &self.display)
            .env("DBUS_SESSION_BUS_ADDRESS", self.bus_address())
            .env("LANG", "C.UTF-8")
            .env("GSETTINGS_BACKEND", "memory")
            .env("GDK_BACKEND", "x11")
            .env("GSK_RENDERER", "cairo")
            .current_dir(&self.dir)
            .uid(self.user.uid)
            .gid(self.user.gid);
        cmd
    }

    /// The window, as the user, on the daemon's bus.
    fn gui(&self, system_bus: &str, extra_env: &[(&str, &str)]) -> Proc {
        let mut cmd = self.command(DIALTONE, &["--bus-address", system_bus]);
        cmd.env("DIALTONE_LOCALE_DIR", workspace().join("target/locale"));
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        Proc::spawn("dialtone", cmd)
    }

    /// One step of `connect_check.py`; panics with its output unless it
    /// printed `STEP ok`.
    fn step(&self, step: &str, env: &[(&str, &str)], gui: &mut Proc) {
        let mut cmd = self.command("/usr/bin/python3", &["connect_check.py", step]);
        cmd.env("DT_ARTIFACTS", &self.dir)
            .env("ATSPI_TIMEOUT", "20");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("python3");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        self.keep_screenshots();
        assert!(
            out.status.success() && stdout.contains(&format!("{step} ok")),
            "GUI step {step} failed ({}):\n{stdout}\n{stderr}\n--- the window's output:\n{}",
            out.status,
            gui.output()
        );
        println!("GUI step {step}: ok");
    }

    /// Copies the screenshots to target/gui-test/.
    fn keep_screenshots(&self) {
        let to = workspace().join("target/gui-test");
        let _ = std::fs::create_dir_all(&to);
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "png") {
                    let _ = std::fs::copy(e.path(), to.join(e.file_name()));
                }
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.bus.take();
        self.xvfb.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn chown(path: &Path, user: &TestUser) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("a path");
    // SAFETY: a valid NUL-terminated path.
    let r = unsafe { libc::chown(c.as_ptr(), user.uid, user.gid) };
    assert_eq!(r, 0, "chown {}", path.display());
}

/// The translations the window reads (what `cargo xtask po` makes).
fn compile_translations() {
    let linguas = std::fs::read_to_string(workspace().join("po/LINGUAS")).expect("po/LINGUAS");
    for lang in linguas
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(str::split_whitespace)
    {
        let dir = workspace().join(format!("target/locale/{lang}/LC_MESSAGES"));
        std::fs::create_dir_all(&dir).expect("locale dir");
        let status = Command::new("msgfmt")
            .arg("-o")
            .arg(dir.join("dialtone.mo"))
            .arg(workspace().join(format!("po/{lang}.po")))
            .status()
            .expect("msgfmt (Debian package gettext)");
        assert!(status.success(), "msgfmt po/{lang}.po");
    }
}

/// `dialtoned service` on `bus` in its own network namespace, with its
/// files in `dir`; returns once it serves.
fn start_daemon(dialtoned: &Path, bus: &str, dir: &Path, resolv: &Path) -> Proc {
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let mut daemon = Proc::spawn(
        "dialtoned",
        in_new_netns(
            dialtoned,
            &[
                "service",
                "--bus-address",
                bus,
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
                &s(resolv),
            ],
        ),
    );
    daemon.wait_for("serving", Duration::from_secs(30));
    daemon
}

#[test]
fn create_connect_and_disconnect_through_the_window() {
    system_bus::require_root();
    compile_translations();
    let dialtoned = helper_bin("dialtoned");
    let sim = helper_bin("dialtone-sim");
    let user = ensure_user("dtgui");
    let bus = SystemBus::with_polkit(RULES);

    let dir = tempfile::Builder::new()
        .prefix("dialtone-gui-daemon-")
        .tempdir()
        .expect("temporary directory");
    for d in ["profiles", "secrets", "state", "lock"] {
        std::fs::create_dir_all(dir.path().join(d)).expect("directory");
    }
    let resolv = dir.path().join("resolv.conf");
    let original_resolv = "# the test's own resolv.conf\nnameserver 192.0.2.1\n";
    std::fs::write(&resolv, original_resolv).expect("resolv.conf");
    let s = |p: &Path| p.to_string_lossy().into_owned();

    // The modem and ISP in their own namespace.
    let link = dir.path().join("modem");
    let mut sim_proc = Proc::spawn(
        "dialtone-sim",
        in_new_netns(
            &sim,
            &[
                "--link",
                &s(&link),
                "--dial-delay-ms",
                "300",
                "--isp",
                "internal",
                "--auth",
                "chap",
                "--user",
                "alice",
                "--password",
                "s3cret",
            ],
        ),
    );
    sim_proc.wait_for("ready", Duration::from_secs(30));
    let pty = std::fs::read_link(&link).expect("the modem's pty");

    // The daemon in another.
    let daemon = start_daemon(&dialtoned, bus.address(), dir.path(), &resolv);

    let session = Session::start(&user);
    let mut gui = session.gui(bus.address(), &[]);
    let env = [
        ("DT_NAME", "Test ISP"),
        ("DT_DEVICE", &*pty.to_string_lossy()),
        ("DT_NUMBER", "5551234"),
        ("DT_USER", "alice"),
        ("DT_PASSWORD", "s3cret"),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, *v)).collect();

    session.step("create", &env, &mut gui);
    // The assistant's profile and password are the daemon's files now.
    let profile = std::fs::read_to_string(dir.path().join("profiles/test_isp.ron"))
        .expect("the profile the assistant created");
    assert!(profile.contains("5551234"), "{profile}");
    assert!(profile.contains(&*pty.to_string_lossy()), "{profile}");
    let secrets = dir.path().join("secrets/test_isp.ron");
    assert_eq!(
        std::fs::metadata(&secrets)
            .expect("the password")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    session.step("connect", &env, &mut gui);
    // Traffic passes: the ISP answers a ping through the link.
    let ping = in_netns_of(daemon.pid(), "ping", &["-c", "3", "-W", "5", "10.0.0.1"]);
    assert!(
        ping.status.success(),
        "ping through the link failed:\n{}{}",
        String::from_utf8_lossy(&ping.stdout),
        String::from_utf8_lossy(&ping.stderr)
    );
    let managed = std::fs::read_to_string(&resolv).expect("resolv.conf");
    assert!(managed.contains("10.0.0.53"), "the ISP's DNS: {managed}");

    session.step("disconnect", &env, &mut gui);
    let links = in_netns_of(daemon.pid(), "ip", &["-o", "link"]);
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains("dtn"),
        "no interface is left"
    );
    assert_eq!(
        std::fs::read_to_string(&resolv).expect("resolv.conf"),
        original_resolv
    );

    // The daemon goes away and comes back: the window follows.
    drop(daemon);
    session.step("absent", &env, &mut gui);
    let daemon = start_daemon(&dialtoned, bus.address(), dir.path(), &resolv);
    session.step("back", &env, &mut gui);

    // `dialtone --connect NAME` from the desktop: a second instance hands
    // the request to the running window (GApplication) and exits.
    for (args, step) in [
        (["--connect", "test isp"], "wait_connected"),
        (["--disconnect", "Test ISP"], "wait_disconnected"),
    ] {
        let mut all = vec!["--bus-address", bus.address()];
        all.extend(args);
        let mut second = Proc::spawn(
            "dialtone (second instance)",
            session.command(DIALTONE, &all),
        );
        let status = second.wait_exit(Duration::from_secs(30));
        assert!(
            status.success(),
            "dialtone {args:?}: {status}\n{}",
            second.output()
        );
        session.step(step, &env, &mut gui);
    }
    drop(gui);

    // The same window in German.
    let mut gui = session.gui(bus.address(), &[("LANGUAGE", "de")]);
    session.step("german", &env, &mut gui);
    drop(gui);
    drop(session);
    drop(daemon);
    drop(sim_proc);
}
