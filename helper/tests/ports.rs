//! `ports` on the real machine: listing its serial ports without opening
//! any, checking device paths a client sends, the modem link in a temporary
//! directory, busy detection and `query_modem` on real pseudo-terminals
//! (the simulated Hayes modem, a scripted one, and silence).
//!
//! Nothing is written outside temporary directories: the lock directory
//! and the modem link are always temporary.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, FileTypeExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dialtone_helper::hayes::HayesConfig;
use dialtone_helper::lock;
use dialtone_helper::ports::{
    check_serial_device, modem_link, query_modem, serial_ports, set_modem_link, who_holds, Busy,
    DeviceError, ModemLinkError, QueryError, SystemRoots,
};
use dialtone_helper::sim::modem::{run_modem, ModemOptions};
use dialtone_helper::sim::pty::{open_pair, Pty};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

/// Tests that count or watch this process's descriptors must not overlap
/// with tests that open some: every test takes this.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// This process's command name, as `/proc/self/comm` has it.
fn my_comm() -> String {
    fs::read_to_string("/proc/self/comm")
        .unwrap()
        .trim()
        .to_owned()
}

/// How many of this process's descriptors point at `path`.
fn my_fds_on(path: &Path) -> usize {
    fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|fd| fs::read_link(fd.path()).is_ok_and(|t| t == path))
        .count()
}

/// A child that lives until killed, to own lock files.
struct Sleeper(Child);

impl Sleeper {
    fn start() -> Sleeper {
        Sleeper(Command::new("sleep").arg("60").spawn().expect("sleep"))
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---- serial_ports ----

/// An inotify instance watching for opens.
struct OpenWatch(OwnedFd);

impl OpenWatch {
    fn new() -> OpenWatch {
        // SAFETY: plain syscall; the result is checked and owned.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        assert!(
            fd >= 0,
            "inotify_init1: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: a fresh descriptor owned here.
        OpenWatch(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    fn watch(&self, path: &Path) {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: valid descriptor and NUL-terminated path.
        let wd = unsafe { libc::inotify_add_watch(self.0.as_raw_fd(), c.as_ptr(), libc::IN_OPEN) };
        assert!(
            wd >= 0,
            "inotify_add_watch {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }

    /// Whether any open was seen since the last call.
    fn opened(&self) -> bool {
        let mut buf = [0u8; 4096];
        let mut any = false;
        loop {
            // SAFETY: the buffer is valid for its length.
            let n = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return any;
            }
            any = true;
        }
    }
}

#[test]
fn serial_ports_of_this_machine_are_listed_without_opening_any() {
    let _serial = one_at_a_time();
    let rt = runtime();
    let roots = SystemRoots::default();
    let first = serial_ports(&roots);

    // The watch catches opens: checked on a pty slave.
    let watch = OpenWatch::new();
    let pty = {
        let _guard = rt.enter();
        Pty::open().unwrap()
    };
    watch.watch(pty.slave_path());
    assert!(!watch.opened());
    drop(fs::File::open(pty.slave_path()).unwrap());
    assert!(watch.opened(), "inotify sees an open of a device node");

    for port in &first {
        watch.watch(&port.path);
    }
    let fds_before = fs::read_dir("/proc/self/fd").unwrap().count();
    let again = serial_ports(&roots);
    assert!(!watch.opened(), "serial_ports opened a port");
    assert_eq!(fs::read_dir("/proc/self/fd").unwrap().count(), fds_before);
    assert_eq!(first.len(), again.len());

    let mut paths: Vec<&PathBuf> = again.iter().map(|p| &p.path).collect();
    let sorted = {
        let mut s = paths.clone();
        s.sort();
        s
    };
    assert_eq!(paths, sorted, "sorted by path");
    paths.dedup();
    assert_eq!(paths.len(), again.len(), "no duplicates");
    for port in &again {
        eprintln!("{port:?}");
        let name = port
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(port.path.starts_with("/dev"), "{port:?}");
        assert!(port.description.ends_with(&format!("({name})")), "{port:?}");
        let class = Path::new("/sys/class/tty").join(&name);
        assert!(class.join("device").exists(), "{port:?}");
        let kind = fs::read_to_string(class.join("type")).unwrap_or_default();
        assert_ne!(kind.trim(), "0", "a phantom port is listed: {port:?}");
        if let Some(by_id) = &port.by_id {
            assert_eq!(fs::canonicalize(by_id).unwrap(), port.path);
        }
        // Every port this VM has is a serial port by the device check too.
        check_serial_device(&port.path, &roots).unwrap();
    }
    // Whatever the machine: every port with a device link and a real
    // UART type is listed.
    for entry in fs::read_dir("/sys/class/tty").unwrap().flatten() {
        let kind = fs::read_to_string(entry.path().join("type")).unwrap_or_default();
        let name = entry.file_name();
        let listed = again.iter().any(|p| p.path.file_name() == Some(&name));
        let has_device = entry.path().join("device").exists();
        let phantom = kind.trim() == "0";
        assert_eq!(listed, has_device && !phantom, "{name:?}");
    }
    if let Some(s0) = again.iter().find(|p| p.path == Path::new("/dev/ttyS0")) {
        assert_eq!(s0.description, "Built-in serial port (ttyS0)");
        assert_eq!(s0.usb, None);
        assert!(!s0.driver.is_empty());
        assert_ne!(s0.driver, "port", "the driver behind serial-base's port");
    }
}

#[test]
fn a_pty_held_open_by_this_process_is_busy_with_our_pid() {
    let _serial = one_at_a_time();
    let rt = runtime();
    let _guard = rt.enter();
    let locks = tempfile::tempdir().unwrap();
    let roots = SystemRoots {
        lock_dir: locks.path().to_path_buf(),
        ..SystemRoots::default()
    };
    let pty = Pty::open().unwrap();
    assert_eq!(
        who_holds(pty.slave_path(), &roots),
        Some(Busy {
            pid: std::process::id(),
            program: Some(my_comm()),
        })
    );
    // Through a symbolic link as well.
    let dir = tempfile::tempdir().unwrap();
    let alias = dir.path().join("modem");
    symlink(pty.slave_path(), &alias).unwrap();
    assert_eq!(
        who_holds(&alias, &roots).map(|b| b.pid),
        Some(std::process::id())
    );

    // A pty whose slave nobody has open: free.
    let pair = open_pair().unwrap();
    let free = pair.slave_path.clone();
    drop(pair.slave);
    assert_eq!(my_fds_on(&free), 0);
    assert_eq!(who_holds(&free, &roots), None);

    // A live lock names its owner; a dead one does not count.
    let sleeper = Sleeper::start();
    let lock_file = roots.lock_dir.join(lock::lock_file_name(&free).unwrap());
    fs::write(&lock_file, lock::format_pid(sleeper.pid())).unwrap();
    assert_eq!(
        who_holds(&free, &roots),
        Some(Busy {
            pid: sleeper.pid(),
            program: Some("sleep".into()),
        })
    );
    drop(sleeper);
    assert_eq!(who_holds(&free, &roots), None, "the lock's owner is dead");
    drop(pair.master);
}

// ---- check_serial_device ----

#[test]
fn a_pty_slave_passes_the_device_check() {
    let _serial = one_at_a_time();
    let rt = runtime();
    let _guard = rt.enter();
    let roots = SystemRoots::default();
    let pty = Pty::open().unwrap();
    assert_eq!(
        check_serial_device(pty.slave_path(), &roots).unwrap(),
        pty.slave_path()
    );
    // A symbolic link anywhere to it: the resolved path comes back.
    let dir = tempfile::tempdir().unwrap();
    let alias = dir.path().join("by-id-ish");
    symlink(pty.slave_path(), &alias).unwrap();
    assert_eq!(
        check_serial_device(&alias, &roots).unwrap(),
        pty.slave_path()
    );
}

/// The error for `path`, which must be refused.
fn refused(path: &Path) -> DeviceError {
    match check_serial_device(path, &SystemRoots::default()) {
        Ok(ok) => panic!("{} was accepted as {}", path.display(), ok.display()),
        Err(e) => e,
    }
}

#[test]
fn files_that_are_not_serial_ports_are_refused_each_with_its_reason() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();

    let e = refused(Path::new("/etc/shadow"));
    assert!(matches!(e, DeviceError::RegularFile { .. }), "{e:?}");
    assert_eq!(e.to_string(), "not a device: /etc/shadow is a regular file");

    let to_passwd = dir.path().join("x");
    symlink("/etc/passwd", &to_passwd).unwrap();
    let e = refused(&to_passwd);
    assert_eq!(e.to_string(), "not a device: /etc/passwd is a regular file");

    let e = refused(dir.path());
    assert!(matches!(e, DeviceError::Directory { .. }), "{e:?}");
    assert!(e.to_string().ends_with("is a directory"), "{e}");

    let fifo = dir.path().join("fifo");
    let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let e = refused(&fifo);
    assert!(matches!(e, DeviceError::Fifo { .. }), "{e:?}");
    assert!(e.to_string().ends_with("is a named pipe (FIFO)"), "{e}");

    let socket = dir.path().join("socket");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let e = refused(&socket);
    assert!(matches!(e, DeviceError::Socket { .. }), "{e:?}");

    let e = refused(Path::new("/dev/null"));
    assert!(
        matches!(
            e,
            DeviceError::NotATty {
                major: 1,
                minor: 3,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "not a serial port: /dev/null is character device 1:3, which is not a terminal"
    );

    for console in ["/dev/tty", "/dev/console", "/dev/tty0", "/dev/tty1"] {
        let path = Path::new(console);
        if !path.exists() {
            continue;
        }
        let e = refused(path);
        assert!(matches!(e, DeviceError::VirtualConsole { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("{console} is a virtual console, not a serial port")
        );
    }

    let e = refused(Path::new("/dev/ptmx"));
    assert!(matches!(e, DeviceError::PtyMaster { .. }), "{e:?}");

    let e = refused(Path::new("/dev/ttyUSB97"));
    assert!(matches!(e, DeviceError::NoSuchDevice { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "no such device: /dev/ttyUSB97; is the modem plugged in? ls -l /dev/serial/by-id"
    );
    let dangling = dir.path().join("dangling");
    symlink("/dev/ttyUSB97", &dangling).unwrap();
    assert!(matches!(
        refused(&dangling),
        DeviceError::NoSuchDevice { .. }
    ));

    for sneaky in ["/dev/../etc/passwd", "/dev/pts/../null"] {
        let e = refused(Path::new(sneaky));
        assert!(matches!(e, DeviceError::InvalidPath { .. }), "{e:?}");
    }
    let with_nul = Path::new(std::ffi::OsStr::from_bytes(b"/dev/ttyS0\0/x"));
    assert!(matches!(refused(with_nul), DeviceError::InvalidPath { .. }));

    // A block device, if the machine has one.
    let block = fs::read_dir("/dev")
        .unwrap()
        .flatten()
        .find(|e| e.file_type().is_ok_and(|t| t.is_block_device()));
    if let Some(block) = block {
        let e = refused(&block.path());
        assert!(matches!(e, DeviceError::BlockDevice { .. }), "{e:?}");
    }
}

#[test]
fn a_tty_device_node_outside_dev_is_refused() {
    let _serial = one_at_a_time();
    let rt = runtime();
    let _guard = rt.enter();
    let pty = Pty::open().unwrap();
    let rdev = fs::metadata(pty.slave_path()).unwrap();
    let rdev = std::os::unix::fs::MetadataExt::rdev(&rdev);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("pts-copy");
    let c = CString::new(copy.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, rdev) };
    if made != 0 {
        eprintln!(
            "skipped: mknod needs CAP_MKNOD: {}",
            std::io::Error::last_os_error()
        );
        return;
    }
    let e = refused(&copy);
    assert!(matches!(e, DeviceError::OutsideDev { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with("not a device under /dev: "),
        "{e}"
    );
}

// ---- the modem link ----

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_modem_link_is_created_and_replaced_atomically() {
    let _serial = one_at_a_time();
    let rt = runtime();
    let _guard = rt.enter();
    let roots = SystemRoots::default();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("modem");
    let (one, two) = (Pty::open().unwrap(), Pty::open().unwrap());

    assert_eq!(modem_link(&link).unwrap(), None);
    assert_eq!(
        set_modem_link(&link, one.slave_path(), &roots).unwrap(),
        one.slave_path()
    );
    assert_eq!(fs::read_link(&link).unwrap(), one.slave_path());
    assert_eq!(
        modem_link(&link).unwrap().as_deref(),
        Some(one.slave_path())
    );

    assert_eq!(
        set_modem_link(&link, two.slave_path(), &roots).unwrap(),
        two.slave_path()
    );
    assert_eq!(fs::read_link(&link).unwrap(), two.slave_path());
    assert_eq!(listing(dir.path()), ["modem"], "no temporary files left");

    // A stable alias (as /dev/serial/by-id is) is written as given.
    let by_id = dir.path().join("usb-Acme_Modem_42-if00");
    symlink(one.slave_path(), &by_id).unwrap();
    assert_eq!(set_modem_link(&link, &by_id, &roots).unwrap(), by_id);
    assert_eq!(fs::read_link(&link).unwrap(), by_id);
    assert_eq!(modem_link(&link).unwrap(), Some(by_id.clone()));
    assert_eq!(listing(dir.path()), ["modem", "usb-Acme_Modem_42-if00"]);

    // Not a serial port: refused, the link unchanged.
    let e = set_modem_link(&link, Path::new("/dev/null"), &roots).unwrap_err();
    assert!(
        matches!(e, ModemLinkError::Device(DeviceError::NotATty { .. })),
        "{e:?}"
    );
    assert_eq!(fs::read_link(&link).unwrap(), by_id);
    let e = set_modem_link(&link, Path::new("/etc/passwd"), &roots).unwrap_err();
    assert_eq!(e.to_string(), "not a device: /etc/passwd is a regular file");
    assert_eq!(fs::read_link(&link).unwrap(), by_id);
    // And nothing is created for a refused port.
    let fresh = dir.path().join("modem2");
    assert!(set_modem_link(&fresh, Path::new("/dev/tty"), &roots).is_err());
    assert!(fs::symlink_metadata(&fresh).is_err());
    assert_eq!(listing(dir.path()), ["modem", "usb-Acme_Modem_42-if00"]);
}

#[test]
fn the_modem_link_never_replaces_a_file_or_directory() {
    let _serial = one_at_a_time();
    let rt = runtime();
    let _guard = rt.enter();
    let roots = SystemRoots::default();
    let dir = tempfile::tempdir().unwrap();
    let pty = Pty::open().unwrap();

    let file = dir.path().join("modem");
    let content = b"a real file \x00\xff with bytes\n";
    fs::write(&file, content).unwrap();
    let e = set_modem_link(&file, pty.slave_path(), &roots).unwrap_err();
    assert!(
        matches!(
            e,
            ModemLinkError::NotASymlink {
                what: "a regular file",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("was left alone"), "{e}");
    assert_eq!(fs::read(&file).unwrap(), content, "byte for byte unchanged");
    assert!(fs::symlink_metadata(&file).unwrap().file_type().is_file());
    assert!(matches!(
        modem_link(&file),
        Err(ModemLinkError::NotASymlink { .. })
    ));

    let sub = dir.path().join("modem.d");
    fs::create_dir(&sub).unwrap();
    fs::write(sub.join("keep"), "x").unwrap();
    let e = set_modem_link(&sub, pty.slave_path(), &roots).unwrap_err();
    assert!(
        matches!(
            e,
            ModemLinkError::NotASymlink {
                what: "a directory",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(listing(&sub), ["keep"]);
    assert_eq!(
        listing(dir.path()),
        ["modem", "modem.d"],
        "no temporary files"
    );
}

// ---- query_modem ----

const T: Duration = Duration::from_secs(2);

#[test]
fn query_modem_reads_the_simulated_modem() {
    let _serial = one_at_a_time();
    let rt = runtime();
    let locks = tempfile::tempdir().unwrap();
    let hayes = HayesConfig {
        identity: "Acme Rocket 33.6".into(),
        manufacturer: "Acme".into(),
        model: "Rocket".into(),
        revision: "9.9".into(),
        ..HayesConfig::default()
    };
    let pty = {
        let _guard = rt.enter();
        Pty::open().unwrap()
    };
    let slave = pty.slave_path().to_path_buf();
    let (commands, command_rx) = mpsc::channel(1);
    let (events, _event_rx) = mpsc::unbounded_channel();
    let options = ModemOptions {
        hayes,
        ..ModemOptions::default()
    };
    let modem = rt.spawn(run_modem(pty, options, |_, _| {}, command_rx, events));

    let answers = rt
        .block_on(query_modem(&slave, 115_200, locks.path(), T))
        .unwrap();
    let expected: Vec<(String, String)> = [
        ("ATI", "Acme Rocket 33.6"),
        ("ATI3", "Acme Rocket 9.9"),
        ("AT+GMI", "Acme"),
        ("AT+GMM", "Rocket"),
        ("AT+GMR", "9.9"),
        ("AT+CSQ", "+CSQ: 20,99"),
    ]
    .iter()
    .map(|(c, a)| ((*c).to_owned(), (*a).to_owned()))
    .collect();
    assert_eq!(answers, expected);
    assert!(listing(locks.path()).is_empty(), "the lock is released");
    assert_eq!(
        my_fds_on(&slave),
        1,
        "the port is closed (the pty keeps one)"
    );

    // Again: the port and the lock can be had again.
    let again = rt
        .block_on(query_modem(&slave, 57_600, locks.path(), T))
        .unwrap();
    assert_eq!(again, expected);
    drop(commands);
    rt.block_on(async { tokio::time::timeout(T, modem).await })
        .expect("the modem stops")
        .unwrap()
        .unwrap();
}

/// A scripted modem on a pty master: echoes each command line and answers
/// from `script` (`ERROR` for the rest); records what it received.
fn scripted_modem(
    rt: &Runtime,
    script: HashMap<&'static str, &'static str>,
) -> (PathBuf, Arc<Mutex<Vec<u8>>>) {
    let pty = {
        let _guard = rt.enter();
        Pty::open().unwrap()
    };
    let path = pty.slave_path().to_path_buf();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&heard);
    rt.spawn(async move {
        let mut pty = pty;
        let mut line = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            let n = match pty.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            log.lock().unwrap().extend_from_slice(&buf[..n]);
            for &b in &buf[..n] {
                if b != b'\r' {
                    line.push(b);
                    continue;
                }
                let command = String::from_utf8_lossy(&line).into_owned();
                line.clear();
                let answer = script
                    .get(command.as_str())
                    .copied()
                    .unwrap_or("\r\nERROR\r\n");
                let reply = format!("{command}\r{answer}");
                if pty.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    });
    (path, heard)
}

#[test]
fn commands_answering_error_are_left_out_and_echo_is_stripped() {
    let _serial = one_at_a_time();
    let rt = runtime();
    let locks = tempfile::tempdir().unwrap();
    let script = HashMap::from([
        ("AT", "\r\nOK\r\n"),
        ("ATI", "\r\nU.S. Robotics 56K FAX EXT\r\n\r\nOK\r\n"),
        ("ATI3", "\r\nline one\r\nline two\r\n\r\nOK\r\n"),
        ("AT+GMI", "\r\nOK\r\n"), // OK without text: left out
        ("AT+GMM", "\r\n+CME ERROR: 4\r\n"),
    ]);
    let (port, heard) = scripted_modem(&rt, script);
    let answers = rt
        .block_on(query_modem(&port, 115_200, locks.path(), T))
        .unwrap();
    assert_eq!(
        answers,
        [
            ("ATI".to_owned(), "U.S. Robotics 56K FAX EXT".to_owned()),
            ("ATI3".to_owned(), "line one\nline two".to_owned()),
        ]
    );
    assert_eq!(
        String::from_utf8_lossy(&heard.lock().unwrap()),
        "AT\rATI\rATI3\rAT+GMI\rAT+GMM\rAT+GMR\rAT+CSQ\r"
    );
    assert!(listing(locks.path()).is_empty());
}

#[test]
fn a_port_answering_error_to_at_is_not_a_modem() {
    let _serial = one_at_a_time();
    let rt = runtime();
    let locks = tempfile::tempdir().unwrap();
    let (port, heard) = scripted_modem(&rt, HashMap::new());
    let e = rt
        .block_on(query_modem(&port, 115_200, locks.path(), T))
        .unwrap_err();
    assert!(matches!(e, QueryError::NotAModem { .. }), "{e:?}");
    assert_eq!(
        String::from_utf8_lossy(&heard.lock().unwrap()),
        "AT\rAT\r",
        "AT is retried once, and nothing else is sent"
    );
    assert!(listing(locks.path()).is_empty());
}

/// Everything waiting on the pty's master, without waiting for more.
fn pending_on_master(rt: &Runtime, pty: &Pty) -> Vec<u8> {
    rt.block_on(async {
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        let mut master = pty.master();
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(100), master.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got
    })
}

#[test]
fn silence_is_no_response_within_a_bounded_time() {
    let _serial = one_at_a_time();
    let rt = runtime();
    let locks = tempfile::tempdir().unwrap();
    let pty = {
        let _guard = rt.enter();
        Pty::open().unwrap()
    };
    let per_command = Duration::from_millis(300);
    let started = Instant::now();
    let e = rt
        .block_on(query_modem(
            pty.slave_path(),
            115_200,
            locks.path(),
            per_command,
        ))
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, QueryError::NoResponse { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with(&format!(
            "nothing answered AT on {} within 300 ms",
            pty.slave_path().display()
        )),
        "{e}"
    );
    assert!(took >= per_command * 2, "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(pending_on_master(&rt, &pty), b"AT\rAT\r");
    assert!(listing(locks.path()).is_empty(), "the lock is released");
    assert_eq!(my_fds_on(pty.slave_path()), 1, "the port is closed");
}

#[test]
fn a_locked_port_is_busy_and_not_opened() {
    let _serial = one_at_a_time();
    let rt = runtime();
    let locks = tempfile::tempdir().unwrap();
    let pty = {
        let _guard = rt.enter();
        Pty::open().unwrap()
    };
    let slave = pty.slave_path().to_path_buf();
    let watch = OpenWatch::new();
    watch.watch(&slave);

    // Another process's lock.
    let sleeper = Sleeper::start();
    let lock_file = locks.path().join(lock::lock_file_name(&slave).unwrap());
    let content = lock::format_pid(sleeper.pid());
    fs::write(&lock_file, &content).unwrap();
    let e = rt
        .block_on(query_modem(&slave, 115_200, locks.path(), T))
        .unwrap_err();
    match &e {
        QueryError::Busy { port, holder } => {
            assert_eq!(port, &slave);
            assert_eq!(
                holder,
                &Busy {
                    pid: sleeper.pid(),
                    program: Some("sleep".into())
                }
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.to_string(),
        format!(
            "{} is in use by sleep (PID {}): it was not touched",
            slave.display(),
            sleeper.pid()
        )
    );
    assert!(!watch.opened(), "the port was opened");
    assert_eq!(fs::read_to_string(&lock_file).unwrap(), content);
    fs::remove_file(&lock_file).unwrap();

    // Our own lock: a link of this daemon runs on the port.
    let held = lock::acquire(locks.path(), &slave).unwrap();
    let e = rt
        .block_on(query_modem(&slave, 115_200, locks.path(), T))
        .unwrap_err();
    assert!(
        matches!(&e, QueryError::Busy { holder, .. } if holder.pid == std::process::id()),
        "{e:?}"
    );
    assert!(!watch.opened(), "the port was opened");
    assert!(lock_file.exists(), "our link's lock is left alone");
    held.release().unwrap();
    assert!(pending_on_master(&rt, &pty).is_empty(), "nothing was sent");
}
