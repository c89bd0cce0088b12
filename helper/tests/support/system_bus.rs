//! A private system bus with polkit, for tests of the D-Bus service.
//!
//! Include it with `#[path = "support/system_bus.rs"] mod system_bus;`.
//! Everything here needs root (CI runs as root).
//!
//! * [`SystemBus::start`] runs a `dbus-daemon` configured like Debian's
//!   system bus (`/usr/share/dbus-1/system.conf`: `<type>system</type>`,
//!   EXTERNAL authentication, the same default policy: nobody may own a name
//!   and method calls are refused unless a policy file punches a hole). Its
//!   policy directory holds our `data/dbus/io.github.dialtone.Dialtone1.conf`
//!   and a copy of polkit's bus policy; it listens on a socket in a temporary
//!   directory, never the machine's `/run/dbus/system_bus_socket`.
//! * [`SystemBus::start_polkit`] (or [`SystemBus::with_polkit`]) runs the real
//!   `polkitd` on that bus with our `data/polkit/io.github.dialtone.policy`
//!   and rules (JavaScript) given by the test. polkitd reads actions only
//!   from `/usr/share/polkit-1/actions` and rules only from
//!   `/etc/polkit-1/rules.d` and `/usr/share/polkit-1/rules.d`; rather than
//!   installing files there (seen by every test running at the same time,
//!   and left behind by a killed test), it runs in its own mount namespace
//!   where two bind mounts put directories of the test's temporary directory
//!   over the first two. The distribution's `/usr/share/polkit-1/rules.d`
//!   (Debian: members of `sudo` are administrators) stays visible. Nothing
//!   outside the temporary directory is written.
//! * There is no logind session here, so polkit's `allow_active` and
//!   `allow_inactive` never apply: every subject is judged by `allow_any`
//!   unless a rule decides. Tests grant actions with rules.
//! * [`SystemBus::add_activation`] / [`SystemBus::add_dialtone_activation`]
//!   put D-Bus activation files in the bus's service directory. The bus has
//!   no `<servicehelper>`, so it starts services itself, as root, with its
//!   own environment (where `DBUS_SYSTEM_BUS_ADDRESS` points at this bus).
//!   The real system bus runs as `messagebus` and starts them through the
//!   setuid `dbus-daemon-launch-helper` (or asks systemd, which uses
//!   `data/systemd/dialtoned.service`); the result, a root process on the
//!   bus, is the same.
//! * [`SystemBus::add_policy`] adds a bus policy file (for a stand-in
//!   service with another name, say).
//! * [`ensure_user`] creates system users for tests (they stay; creating
//!   them again is a no-op) and [`SystemBus::command_as`] runs programs as
//!   one of them, with no supplementary groups, on this bus.
//!
//! The bus and polkitd each run in their own process group, and dropping the
//! [`SystemBus`] kills both groups (services the bus started are in its
//! group), also when the test panics; the log of both is printed then.

#![allow(dead_code)]

use std::ffi::{CString, OsStr};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The service's bus name.
pub const DIALTONE_NAME: &str = "io.github.dialtone.Dialtone1";
/// polkit's bus name.
pub const POLKIT_NAME: &str = "org.freedesktop.PolicyKit1";
/// The polkit daemon (Debian package `polkitd`).
pub const POLKITD: &str = "/usr/lib/polkit-1/polkitd";
/// polkit's own bus policy, copied into the test bus's policy directory.
const POLKIT_BUS_POLICY: &str = "/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf";
/// Where polkitd reads actions and (the administrator's) rules; in its
/// namespace, directories of the test are mounted over them.
const POLKIT_ACTIONS_DIR: &str = "/usr/share/polkit-1/actions";
const POLKIT_RULES_DIR: &str = "/etc/polkit-1/rules.d";

/// The repository's `data/` directory (this file serves the helper's tests
/// and the root package's).
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|p| p.join("data"))
        .find(|d| d.join("dbus").is_dir())
        .expect("the repository's data/ directory")
}

/// Panics unless we run as root.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests need root (a system bus, polkitd, test users)"
    );
}

/// A system user made for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// The user `name`, created first if it does not exist: a system user with
/// its own group, no home directory and no login shell. Users stay after
/// the test.
pub fn ensure_user(name: &str) -> TestUser {
    // useradd locks /etc/passwd and fails if another useradd holds it:
    // tests of this process take turns, other processes are waited for.
    static USERADD: Mutex<()> = Mutex::new(());
    let _turn = USERADD.lock().unwrap_or_else(|e| e.into_inner());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(user) = lookup_user(name) {
            return user;
        }
        let out = Command::new("useradd")
            .args([
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ])
            .output()
            .unwrap_or_else(|e| panic!("cannot run useradd ({e}): install the package passwd"));
        if out.status.success() {
            continue;
        }
        assert!(
            Instant::now() < deadline,
            "useradd {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `name`'s uid and primary gid from the user database.
fn lookup_user(name: &str) -> Option<TestUser> {
    let out = Command::new("getent")
        .args(["passwd", name])
        .output()
        .expect("run getent");
    if !out.status.success() {
        return None;
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = line.trim_end().split(':').collect();
    assert!(fields.len() >= 4, "odd passwd entry for {name}: {line}");
    Some(TestUser {
        name: name.to_string(),
        uid: fields[2].parse().expect("a numeric uid"),
        gid: fields[3].parse().expect("a numeric gid"),
    })
}

/// A child process killed (and reaped) when dropped.
pub struct Process {
    pub child: Child,
}

impl Process {
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Output of the bus and polkitd, line by line with the program's name.
type Log = Arc<Mutex<String>>;

/// Copies `stream` into `log` from a thread, each line prefixed.
fn drain(log: &Log, prefix: &'static str, stream: impl Read + Send + 'static) {
    let log = Arc::clone(log);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            log.push_str(prefix);
            log.push_str(": ");
            log.push_str(&line);
            log.push('\n');
        }
    });
}

/// A private system bus (and, once started, polkitd); everything is killed
/// and removed on drop.
pub struct SystemBus {
    dir: tempfile::TempDir,
    address: String,
    bus: Child,
    polkitd: Option<Child>,
    log: Log,
}

impl SystemBus {
    /// Starts the bus; returns once it listens.
    pub fn start() -> SystemBus {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("dialtone-bus-")
            .tempdir()
            .expect("a temporary directory");
        // Other users (the test users) reach the socket through it.
        chmod(dir.path(), 0o755);
        let policies = dir.path().join("system.d");
        let services = dir.path().join("system-services");
        for d in [&policies, &services] {
            std::fs::create_dir(d).unwrap();
            chmod(d, 0o755);
        }
        let conf = "io.github.dialtone.Dialtone1.conf";
        std::fs::copy(data_dir().join("dbus").join(conf), policies.join(conf))
            .expect("copy data/dbus/io.github.dialtone.Dialtone1.conf");
        let polkit_policy = std::fs::read_to_string(POLKIT_BUS_POLICY).unwrap_or_else(|e| {
            panic!("cannot read {POLKIT_BUS_POLICY} ({e}): install the Debian package polkitd")
        });
        std::fs::write(
            policies.join("org.freedesktop.PolicyKit1.conf"),
            polkit_policy,
        )
        .unwrap();

        let socket = dir.path().join("system_bus_socket");
        let address = format!("unix:path={}", socket.display());
        let config = dir.path().join("system.conf");
        std::fs::write(&config, bus_config(&socket, &policies, &services)).unwrap();

        let mut cmd = Command::new("dbus-daemon");
        cmd.arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            // What services it starts inherit: they find this bus by default.
            .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut bus = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot run dbus-daemon ({e}): install the Debian package dbus-daemon")
        });
        let log: Log = Arc::default();
        drain(&log, "dbus-daemon", bus.stderr.take().unwrap());
        // The daemon prints its address once it listens; what it prints
        // later (the output of the services it starts) goes to the log.
        let mut stdout = BufReader::new(bus.stdout.take().unwrap());
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        if read.map(|n| n == 0).unwrap_or(true) {
            let _ = bus.wait();
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "dbus-daemon did not start:\n{}",
                log.lock().unwrap_or_else(|e| e.into_inner())
            );
        }
        drain(&log, "bus stdout", stdout);
        assert!(
            line.trim().starts_with(&address),
            "dbus-daemon listens at {line:?}, not {address}"
        );
        SystemBus {
            dir,
            address,
            bus,
            polkitd: None,
            log,
        }
    }

    /// [`SystemBus::start`], then [`SystemBus::start_polkit`].
    pub fn with_polkit(rules: &str) -> SystemBus {
        let mut bus = SystemBus::start();
        bus.start_polkit(rules);
        bus
    }

    /// Starts polkitd on this bus, with our actions and `rules` (the text of
    /// a `.rules` file) as the administrator's rules; returns once polkitd
    /// owns its name. polkitd starts as root and switches to the user
    /// `polkitd` itself. It runs without `--no-debug` (which the real
    /// service uses), so that what it says (rules loaded, JavaScript errors
    /// in them) is in [`SystemBus::log`].
    pub fn start_polkit(&mut self, rules: &str) {
        assert!(self.polkitd.is_none(), "polkitd runs already");
        let actions = self.dir.path().join("polkit-actions");
        let rules_dir = self.dir.path().join("polkit-rules.d");
        for d in [&actions, &rules_dir] {
            std::fs::create_dir(d).unwrap();
            chmod(d, 0o755);
        }
        let policy = "io.github.dialtone.policy";
        std::fs::copy(data_dir().join("polkit").join(policy), actions.join(policy))
            .expect("copy data/polkit/io.github.dialtone.policy");
        let rules_file = rules_dir.join("49-dialtone-test.rules");
        std::fs::write(&rules_file, rules).unwrap();
        chmod(&rules_file, 0o644);

        let binds = [
            (actions.as_path(), Path::new(POLKIT_ACTIONS_DIR)),
            (rules_dir.as_path(), Path::new(POLKIT_RULES_DIR)),
        ]
        .map(|(from, to)| (cstring(from), cstring(to)));
        let mut cmd = Command::new(POLKITD);
        cmd.env("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: between fork and exec only system calls run (unshare,
        // mount), on strings allocated before the fork.
        unsafe {
            cmd.pre_exec(move || {
                if libc::unshare(libc::CLONE_NEWNS) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // Our mounts must not propagate back to the machine.
                if libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                for (from, to) in &binds {
                    if libc::mount(
                        from.as_ptr(),
                        to.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND,
                        std::ptr::null(),
                    ) != 0
                    {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot run {POLKITD} ({e}): install the Debian package polkitd")
        });
        drain(&self.log, "polkitd", child.stdout.take().unwrap());
        drain(&self.log, "polkitd", child.stderr.take().unwrap());
        self.polkitd = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.name_has_owner(POLKIT_NAME) {
            if let Some(Ok(Some(status))) = self.polkitd.as_mut().map(Child::try_wait) {
                panic!("polkitd exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "polkitd did not take {POLKIT_NAME} within 20 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The bus address (`unix:path=...`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The test's temporary directory (readable by everyone).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// polkitd's process id, once started.
    pub fn polkitd_pid(&self) -> Option<u32> {
        self.polkitd.as_ref().map(Child::id)
    }

    /// The bus's process id.
    pub fn bus_pid(&self) -> u32 {
        self.bus.id()
    }

    /// What the bus, the services it started and polkitd printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A command that runs as root with this bus as its system bus.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::null());
        cmd
    }

    /// A command that runs as `user` (its uid and primary group, no
    /// supplementary groups) with this bus as its system bus.
    pub fn command_as(&self, user: &TestUser, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = self.command(program);
        cmd.env("HOME", "/").env("USER", &user.name);
        let (uid, gid) = (user.uid, user.gid);
        // SAFETY: between fork and exec only system calls run. They are
        // made here, in this order, rather than with CommandExt::uid/gid,
        // which would switch the uid before pre_exec ran and so make
        // dropping the groups impossible.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    /// Starts `program args` as `user`; killed when the result is dropped.
    pub fn spawn_as(&self, user: &TestUser, program: &str, args: &[&str]) -> Process {
        let child = self
            .command_as(user, program)
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} as {}: {e}", user.name));
        Process { child }
    }

    /// `dbus-send --system --print-reply ARGS` as root on this bus.
    pub fn dbus_send(&self, args: &[&str]) -> Output {
        self.dbus_send_with(self.command("dbus-send"), args)
    }

    /// `dbus-send --system --print-reply ARGS` as `user` on this bus.
    pub fn dbus_send_as(&self, user: &TestUser, args: &[&str]) -> Output {
        self.dbus_send_with(self.command_as(user, "dbus-send"), args)
    }

    fn dbus_send_with(&self, mut cmd: Command, args: &[&str]) -> Output {
        cmd.args(["--system", "--print-reply", "--reply-timeout=10000"])
            .args(args)
            .output()
            .expect("run dbus-send (Debian package dbus-bin)")
    }

    /// Whether someone owns `name` on the bus.
    pub fn name_has_owner(&self, name: &str) -> bool {
        let out = self.dbus_send(&[
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            &format!("string:{name}"),
        ]);
        assert!(
            out.status.success(),
            "NameHasOwner failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).contains("boolean true")
    }

    /// Waits until someone owns `name`; panics after `timeout`.
    pub fn wait_for_owner(&self, name: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.name_has_owner(name) {
            assert!(
                Instant::now() < deadline,
                "nobody took {name} within {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id of `name`'s owner.
    pub fn owner_pid(&self, name: &str) -> u32 {
        let out = self.dbus_send(&[
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetConnectionUnixProcessID",
            &format!("string:{name}"),
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .skip_while(|w| *w != "uint32")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "no process owns {name}: {text}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
    }

    /// `pkcheck --action-id ACTION --process PID`, as root on this bus:
    /// exit status 0 means authorized, 1 not authorized, 2 authorized only
    /// after authenticating (which cannot happen here: there is no agent).
    pub fn pkcheck(&self, action: &str, pid: u32) -> Output {
        self.command("pkcheck")
            .args(["--action-id", action, "--process", &pid.to_string()])
            .output()
            .expect("run pkcheck (Debian package polkitd)")
    }

    /// Makes `name` activatable: the bus runs `exec` (a command line, as
    /// in an activation file's `Exec=`) as root when a message is sent to
    /// `name`.
    pub fn add_activation(&self, name: &str, exec: &str) {
        self.write_activation_file(
            name,
            &format!("[D-BUS Service]\nName={name}\nExec={exec}\nUser=root\n"),
        );
    }

    /// Installs `data/dbus/io.github.dialtone.Dialtone1.service` with its
    /// `Exec=` line replaced by `exec` (for example the `dialtoned` that
    /// cargo built, `service` and its test options).
    pub fn add_dialtone_activation(&self, exec: &str) {
        let path = data_dir().join("dbus/io.github.dialtone.Dialtone1.service");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut replaced = 0;
        let text: String = text
            .lines()
            .map(|line| {
                if line.starts_with("Exec=") {
                    replaced += 1;
                    format!("Exec={exec}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        assert_eq!(replaced, 1, "{} has one Exec= line", path.display());
        self.write_activation_file(DIALTONE_NAME, &text);
    }

    /// Adds a bus policy file (`<busconfig>...</busconfig>`) named
    /// `file_name` to the policy directory, beside ours and polkit's.
    pub fn add_policy(&self, file_name: &str, xml: &str) {
        let path = self.dir.path().join("system.d").join(file_name);
        std::fs::write(&path, xml).unwrap();
        chmod(&path, 0o644);
        self.reload_config();
    }

    fn write_activation_file(&self, name: &str, text: &str) {
        let path = self
            .dir
            .path()
            .join("system-services")
            .join(format!("{name}.service"));
        std::fs::write(&path, text).unwrap();
        chmod(&path, 0o644);
        self.reload_config();
    }

    /// Makes the bus reread its configuration and service directory.
    pub fn reload_config(&self) {
        let out = self.dbus_send(&[
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.ReloadConfig",
        ]);
        assert!(
            out.status.success(),
            "ReloadConfig failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for SystemBus {
    fn drop(&mut self) {
        // polkitd first (it would notice the bus go away, but not at once),
        // then the bus and, in its process group, what it started.
        let mut children: Vec<&mut Child> = self.polkitd.iter_mut().collect();
        children.push(&mut self.bus);
        for child in &children {
            signal_group(child, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for child in children {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            // Whatever is left of the group, the leader included.
            signal_group(child, libc::SIGKILL);
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- system bus and polkitd log ---\n{}", self.log());
        }
    }
}

/// Sends `signal` to the process group that `child` leads.
fn signal_group(child: &Child, signal: libc::c_int) {
    let Ok(pgid) = libc::pid_t::try_from(child.id()) else {
        return;
    };
    // SAFETY: kill(2) on a process group our child leads (process_group(0)).
    // Its id cannot be reused while the child is not reaped.
    unsafe { libc::kill(-pgid, signal) };
}

/// The bus configuration: Debian's system bus (`/usr/share/dbus-1/system.conf`
/// of dbus 1.14) without its `<user>`, `<fork/>`, `<pidfile>`, `<syslog/>`,
/// standard service directories, `<servicehelper>` and the machine's
/// policy directories.
fn bus_config(socket: &Path, policies: &Path, services: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <!-- No <servicehelper>: this bus runs as root and starts services itself. -->
  <servicedir>{services}</servicedir>

  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Containers1"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.DBus.Debug.Stats"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.systemd1.Activator"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.systemd1.Activator"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Monitoring"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Debug.Stats"/>
  </policy>

  <includedir>{policies}</includedir>
</busconfig>
"#,
        socket = socket.display(),
        services = services.display(),
        policies = policies.display(),
    )
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn cstring(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("a path without NUL")
}
