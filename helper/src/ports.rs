//! The machine's serial ports, the modem link, and asking a modem who it is.
//!
//! * [`serial_ports`] lists the serial ports the kernel knows, from sysfs
//!   alone: it never opens or probes a port, so it is cheap enough to run
//!   on every read of a D-Bus property. Each [`SerialPort`] carries its
//!   stable `/dev/serial/by-id` and `by-path` names, its driver, the USB
//!   device behind it, a description a person recognises, and who holds it
//!   ([`Busy`]: a live UUCP lock, or a process with it open).
//! * [`check_serial_device`] decides whether a path a client sent is a
//!   serial port (or a pty slave) under `/dev`, with a message that says
//!   what it is instead.
//! * [`modem_link`] and [`set_modem_link`] read and (atomically) repoint
//!   the `/dev/modem` symbolic link.
//! * [`query_modem`] identifies the modem on a port, only when asked: it
//!   takes the UUCP lock ([`crate::lock`]) so it never disturbs a link,
//!   sends `AT`, `ATI`, `ATI3`, `AT+GMI`, `AT+GMM`, `AT+GMR` and `AT+CSQ`,
//!   and returns what answered.
//!
//! Every system path comes from a [`SystemRoots`], so tests run against a
//! fake tree in a temporary directory.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use dialtone_api::profile::{Carrier, FlowControl, Line};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::atomic;
use crate::lock::{self, describe_io, LockError};
use crate::serial::{SerialError, SerialLine};

/// Where the system's files are; every path configurable for tests.
#[derive(Clone, Debug)]
pub struct SystemRoots {
    /// sysfs, normally `/sys`.
    pub sys: PathBuf,
    /// The device directory, normally `/dev`.
    pub dev: PathBuf,
    /// procfs, normally `/proc`.
    pub proc_: PathBuf,
    /// The UUCP lock directory, normally `/run/lock`.
    pub lock_dir: PathBuf,
}

impl Default for SystemRoots {
    /// The real paths: `/sys`, `/dev`, `/proc`, `/run/lock`.
    fn default() -> Self {
        SystemRoots {
            sys: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
            proc_: PathBuf::from("/proc"),
            lock_dir: PathBuf::from("/run/lock"),
        }
    }
}

impl SystemRoots {
    /// The four directories under `root`, as on a real system:
    /// `root/sys`, `root/dev`, `root/proc`, `root/run/lock` (for fake trees
    /// in tests; nothing is created).
    pub fn under(root: &Path) -> Self {
        SystemRoots {
            sys: root.join("sys"),
            dev: root.join("dev"),
            proc_: root.join("proc"),
            lock_dir: root.join("run/lock"),
        }
    }
}

/// The USB device behind a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsbInfo {
    /// `idVendor`.
    pub vendor_id: u16,
    /// `idProduct`.
    pub product_id: u16,
    /// The manufacturer string, if the device has one.
    pub manufacturer: Option<String>,
    /// The product string, if the device has one.
    pub product: Option<String>,
    /// The serial number string, if the device has one.
    pub serial: Option<String>,
    /// `bInterfaceNumber` of the interface the port belongs to.
    pub interface: Option<u8>,
}

/// Who holds a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Busy {
    /// The process: the PID in a live UUCP lock file, or a process with
    /// the device open.
    pub pid: u32,
    /// Its command name (`/proc/<pid>/comm`), if readable.
    pub program: Option<String>,
}

impl std::fmt::Display for Busy {
    /// `"minicom (PID 1234)"`, or `"PID 1234"`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.program {
            Some(program) => write!(f, "{program} (PID {})", self.pid),
            None => write!(f, "PID {}", self.pid),
        }
    }
}

/// A serial port of the machine, as [`serial_ports`] found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerialPort {
    /// The device node: `/dev/ttyUSB0`.
    pub path: PathBuf,
    /// The `/dev/serial/by-id/…` symbolic link that resolves to
    /// [`SerialPort::path`], if there is one (the name that stays the same
    /// when the adapter is plugged in elsewhere).
    pub by_id: Option<PathBuf>,
    /// The `/dev/serial/by-path/…` symbolic link that resolves to
    /// [`SerialPort::path`], if there is one.
    pub by_path: Option<PathBuf>,
    /// The kernel driver: `serial8250`, `pl2303`, `cdc_acm`, `ftdi_sio`, …
    /// (for USB serial, the driver of the interface).
    pub driver: String,
    /// The USB device behind the port, if it is on USB.
    pub usb: Option<UsbInfo>,
    /// For people: `"FTDI FT232R USB UART (ttyUSB0)"`, `"Built-in serial
    /// port (ttyS0)"`, …; always ends with the device name in parentheses.
    pub description: String,
    /// Who holds the port, if anybody does.
    pub busy: Option<Busy>,
}

/// The serial ports of the machine, sorted by path, read from sysfs (and
/// `/dev/serial`, the lock directory and `/proc` for [`SerialPort::busy`]).
/// No port is opened or probed.
///
/// Every entry of `<sys>/class/tty` with a `device` link is a port (virtual
/// consoles, ptys and `/dev/ptmx` have none), except serial-core ports whose
/// `type` is 0 (`PORT_UNKNOWN`: the phantom legacy `ttyS` ports every PC
/// lists). Entries that cannot be read are skipped.
pub fn serial_ports(roots: &SystemRoots) -> Vec<SerialPort> {
    let Ok(entries) = fs::read_dir(roots.sys.join("class/tty")) else {
        return Vec::new();
    };
    let mut found: Vec<(OsString, PortFacts)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            port_facts(&entry.path(), roots).map(|facts| (name, facts))
        })
        .collect();
    if found.is_empty() {
        return Vec::new();
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));

    let by_id = serial_links(&roots.dev.join("serial/by-id"));
    let by_path = serial_links(&roots.dev.join("serial/by-path"));
    let mut ports: Vec<SerialPort> = found
        .into_iter()
        .map(|(name, facts)| {
            let path = roots.dev.join(&name);
            let key = resolve_fully(&path);
            let description = describe(&name.to_string_lossy(), &facts);
            SerialPort {
                by_id: by_id.get(&key).cloned(),
                by_path: by_path.get(&key).cloned(),
                driver: facts.driver,
                usb: facts.usb,
                description,
                busy: None,
                path,
            }
        })
        .collect();

    // Who holds them: a live lock first; otherwise one scan of /proc for
    // all of them together.
    let mut unlocked = Vec::new();
    for (at, port) in ports.iter_mut().enumerate() {
        port.busy = lock_holder(&port.path, roots);
        if port.busy.is_none() {
            unlocked.push(at);
        }
    }
    if !unlocked.is_empty() {
        let mut wanted: HashMap<PathBuf, usize> = HashMap::new();
        for &at in &unlocked {
            if let Some(port) = ports.get(at) {
                for name in device_names(&port.path) {
                    wanted.insert(name, at);
                }
            }
        }
        for (at, pid) in fd_holders(&roots.proc_, &wanted) {
            if let Some(port) = ports.get_mut(at) {
                port.busy = Some(Busy {
                    pid,
                    program: command_name(&roots.proc_, pid),
                });
            }
        }
    }
    ports.sort_by(|a, b| a.path.cmp(&b.path));
    ports
}

/// Who holds `device` (any device node, e.g. a pty slave, which has no
/// sysfs entry): the owner of a live UUCP lock for it in `roots.lock_dir`,
/// else a process with it open (found in `roots.proc_/<pid>/fd`; when
/// several have it open, the lowest PID). This process counts too.
pub fn who_holds(device: &Path, roots: &SystemRoots) -> Option<Busy> {
    if let Some(busy) = lock_holder(device, roots) {
        return Some(busy);
    }
    let wanted: HashMap<PathBuf, usize> = device_names(device)
        .into_iter()
        .map(|name| (name, 0))
        .collect();
    let pid = fd_holders(&roots.proc_, &wanted).remove(&0)?;
    Some(Busy {
        pid,
        program: command_name(&roots.proc_, pid),
    })
}

/// What sysfs says about one tty.
#[derive(Debug)]
struct PortFacts {
    driver: String,
    /// The subsystem of the device the driver belongs to (`platform`,
    /// `pnp`, `pci`, `usb`, `usb-serial`, …).
    subsystem: Option<String>,
    usb: Option<UsbInfo>,
}

/// The facts about `<sys>/class/tty/<name>`, or `None` if it is not a
/// port (no `device` link, or a phantom serial-core port).
fn port_facts(class_entry: &Path, roots: &SystemRoots) -> Option<PortFacts> {
    let device_link = class_entry.join("device");
    fs::symlink_metadata(&device_link).ok()?;
    if let Some(kind) = read_attr(&class_entry.join("type")) {
        // serial_core's PORT_UNKNOWN: no UART behind the minor.
        if kind.parse::<u32>().ok() == Some(0) {
            return None;
        }
    }
    let device = fs::canonicalize(&device_link).ok()?;
    let sys = fs::canonicalize(&roots.sys).unwrap_or_else(|_| roots.sys.clone());
    let (driver, subsystem) = driver_of(&device, &sys);
    Some(PortFacts {
        driver: driver.unwrap_or_default(),
        subsystem,
        usb: usb_info(&device, &sys),
    })
}

/// The basename of a symbolic link's target.
fn link_basename(link: &Path) -> Option<String> {
    let target = fs::read_link(link).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// The driver (and its device's subsystem) of a tty's device. Since Linux
/// 6.5 a serial-core port's device is a `serial-base` port (driver `port`)
/// below a `serial-base` controller (driver `ctrl`): the real driver
/// (`serial8250`, `serial`, …) is that of the first ancestor on another bus.
fn driver_of(device: &Path, sys: &Path) -> (Option<String>, Option<String>) {
    let first = (
        link_basename(&device.join("driver")),
        link_basename(&device.join("subsystem")),
    );
    let mut dir = device;
    for _ in 0..8 {
        let subsystem = link_basename(&dir.join("subsystem"));
        if subsystem.as_deref() != Some("serial-base") {
            let driver = link_basename(&dir.join("driver"));
            return if driver.is_some() {
                (driver, subsystem)
            } else {
                first
            };
        }
        match dir.parent() {
            Some(parent) if parent.starts_with(sys) && parent != sys => dir = parent,
            _ => break,
        }
    }
    first
}

/// The USB device above `device`, if any: the first ancestor (within
/// sysfs) with `idVendor` and `idProduct`; the interface is the first
/// ancestor on the way with `bInterfaceNumber`.
fn usb_info(device: &Path, sys: &Path) -> Option<UsbInfo> {
    let mut interface = None;
    let mut dir = device;
    loop {
        if interface.is_none() {
            interface = read_attr(&dir.join("bInterfaceNumber"))
                .and_then(|n| u8::from_str_radix(&n, 16).ok());
        }
        let vendor = read_attr(&dir.join("idVendor"));
        let product = read_attr(&dir.join("idProduct"));
        if let (Some(vendor), Some(product)) = (vendor, product) {
            return Some(UsbInfo {
                vendor_id: u16::from_str_radix(&vendor, 16).ok()?,
                product_id: u16::from_str_radix(&product, 16).ok()?,
                manufacturer: read_attr(&dir.join("manufacturer")),
                product: read_attr(&dir.join("product")),
                serial: read_attr(&dir.join("serial")),
                interface,
            });
        }
        match dir.parent() {
            Some(parent) if parent.starts_with(sys) && parent != sys => dir = parent,
            _ => return None,
        }
    }
}

/// A sysfs attribute, trimmed; `None` if unreadable or empty.
fn read_attr(path: &Path) -> Option<String> {
    let bytes = fs::read(path).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!text.is_empty()).then(|| text.to_owned())
}

/// The phrase for a port from its driver, when USB strings do not say.
fn driver_phrase(name: &str, facts: &PortFacts) -> String {
    let phrase = match facts.driver.as_str() {
        "ftdi_sio" => "FTDI USB serial",
        "pl2303" => "Prolific PL2303 USB serial",
        "cp210x" => "Silicon Labs CP210x USB serial",
        "ch341" => "WCH CH340 USB serial",
        "cdc_acm" => "USB modem (CDC ACM)",
        "option" | "qcserial" | "sierra" => "USB mobile broadband modem",
        "usb_serial_generic" | "usbserial_generic" => "USB serial",
        "uart-pl011" | "amba-pl011" => "Built-in serial port (PL011)",
        _ if name.starts_with("ttyS") => {
            if facts.subsystem.as_deref() == Some("pci") {
                "PCI serial port"
            } else {
                "Built-in serial port"
            }
        }
        "" if facts.usb.is_some() => "USB serial port",
        "" => "Serial port",
        driver if facts.usb.is_some() => return format!("USB serial port, driver {driver}"),
        driver => return format!("Serial port, driver {driver}"),
    };
    phrase.to_owned()
}

/// `"<manufacturer> <product> (<name>)"` for USB (without the manufacturer
/// twice), else a phrase from the driver, and the device name.
fn describe(name: &str, facts: &PortFacts) -> String {
    let usb_words = facts.usb.as_ref().and_then(|usb| {
        match (usb.manufacturer.as_deref(), usb.product.as_deref()) {
            (Some(maker), Some(product)) => Some(prefixed(maker, product)),
            (None, Some(product)) => Some(product.to_owned()),
            (Some(maker), None) => Some(prefixed(maker, &driver_phrase(name, facts))),
            (None, None) => None,
        }
    });
    let words = usb_words.unwrap_or_else(|| driver_phrase(name, facts));
    format!("{words} ({name})")
}

/// `"<maker> <words>"`, or just `words` when they already start with the
/// maker's name.
fn prefixed(maker: &str, words: &str) -> String {
    if words.to_lowercase().starts_with(&maker.to_lowercase()) {
        words.to_owned()
    } else {
        format!("{maker} {words}")
    }
}

/// The symbolic links in `dir` (`/dev/serial/by-id`), by the path they
/// resolve to; where several resolve to one device, the first by name.
fn serial_links(dir: &Path) -> HashMap<PathBuf, PathBuf> {
    let mut links: HashMap<PathBuf, PathBuf> = HashMap::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return links;
    };
    for entry in entries.flatten() {
        let link = entry.path();
        let Ok(meta) = fs::symlink_metadata(&link) else {
            continue;
        };
        if !meta.file_type().is_symlink() {
            continue;
        }
        let target = resolve_fully(&link);
        match links.get(&target) {
            Some(existing) if *existing <= link => {}
            _ => {
                links.insert(target, link);
            }
        }
    }
    links
}

/// `path` with every symbolic link resolved (relative targets against
/// their directory). Where the result does not exist, one level of link is
/// resolved by hand and `.`/`..` are folded lexically.
fn resolve_fully(path: &Path) -> PathBuf {
    if let Ok(real) = fs::canonicalize(path) {
        return real;
    }
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match fs::read_link(&current) {
            Ok(target) => {
                let base = current.parent().unwrap_or(Path::new("/"));
                current = normalize(&base.join(target));
            }
            Err(_) => break,
        }
    }
    normalize(&current)
}

/// Folds `.` and `..` components without looking at the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(component);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The names under which a process's descriptor can show the device: the
/// path as given and resolved.
fn device_names(device: &Path) -> Vec<PathBuf> {
    let given = normalize(device);
    let real = resolve_fully(device);
    if real == given {
        vec![given]
    } else {
        vec![given, real]
    }
}

/// The owner of a live UUCP lock for `device`: the lock file names a PID
/// that exists under `roots.proc_`.
fn lock_holder(device: &Path, roots: &SystemRoots) -> Option<Busy> {
    let name = lock::lock_file_name(device)?;
    let content = fs::read(roots.lock_dir.join(name)).ok()?;
    let pid = lock::parse_pid(&content)?;
    fs::symlink_metadata(roots.proc_.join(pid.to_string())).ok()?;
    Some(Busy {
        pid,
        program: command_name(&roots.proc_, pid),
    })
}

/// One scan of `<proc>/<pid>/fd/*`: for each value of `wanted` (keyed by
/// the path a descriptor's link shows), the lowest PID that has one of its
/// paths open. Unreadable entries are skipped.
fn fd_holders(proc_: &Path, wanted: &HashMap<PathBuf, usize>) -> HashMap<usize, u32> {
    let mut holders: HashMap<usize, u32> = HashMap::new();
    if wanted.is_empty() {
        return holders;
    }
    let Ok(entries) = fs::read_dir(proc_) else {
        return holders;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let mut seen: HashSet<usize> = HashSet::new();
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            if let Some(&at) = wanted.get(&target) {
                if seen.insert(at) {
                    let lowest = holders.entry(at).or_insert(pid);
                    *lowest = (*lowest).min(pid);
                }
            }
        }
    }
    holders
}

/// `<proc>/<pid>/comm`, trimmed.
fn command_name(proc_: &Path, pid: u32) -> Option<String> {
    read_attr(&proc_.join(pid.to_string()).join("comm"))
}

// ---- checking a device a client names ----

/// Why a path is not a serial port this service will use. Every message
/// names the file and says what it is instead.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// Refused before looking at the file system: empty, relative, a NUL
    /// byte, a `..` component.
    #[error("refusing {path:?}: {reason}")]
    InvalidPath {
        /// The path as given (lossily decoded).
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Nothing there (or a dangling symbolic link).
    #[error(
        "no such device: {}; is the modem plugged in? ls -l /dev/serial/by-id",
        path.display()
    )]
    NoSuchDevice {
        /// The path as given.
        path: PathBuf,
    },
    /// A regular file.
    #[error("not a device: {} is a regular file", path.display())]
    RegularFile {
        /// The file, links resolved.
        path: PathBuf,
    },
    /// A directory.
    #[error("not a device: {} is a directory", path.display())]
    Directory {
        /// The directory, links resolved.
        path: PathBuf,
    },
    /// A named pipe.
    #[error("not a device: {} is a named pipe (FIFO)", path.display())]
    Fifo {
        /// The pipe, links resolved.
        path: PathBuf,
    },
    /// A Unix socket.
    #[error("not a device: {} is a socket", path.display())]
    Socket {
        /// The socket, links resolved.
        path: PathBuf,
    },
    /// A block device (a disk, a partition, a loop device).
    #[error("not a serial port: {} is a block device (a disk?)", path.display())]
    BlockDevice {
        /// The device, links resolved.
        path: PathBuf,
    },
    /// A character device, but not in the device directory.
    #[error(
        "not a device under {}: {} (device nodes elsewhere are refused)",
        dev.display(),
        path.display()
    )]
    OutsideDev {
        /// The device node, links resolved.
        path: PathBuf,
        /// The device directory, normally `/dev`.
        dev: PathBuf,
    },
    /// A character device that no tty driver owns (`/dev/null`,
    /// `/dev/random`, …).
    #[error(
        "not a serial port: {} is character device {major}:{minor}, which is not a terminal",
        path.display()
    )]
    NotATty {
        /// The device, links resolved.
        path: PathBuf,
        /// Its major number.
        major: u32,
        /// Its minor number.
        minor: u32,
    },
    /// `/dev/tty`, `/dev/console`, `/dev/tty1`, …
    #[error("{} is a virtual console, not a serial port", path.display())]
    VirtualConsole {
        /// The device, links resolved.
        path: PathBuf,
    },
    /// `/dev/ptmx`: the master side of pseudo-terminals.
    #[error(
        "{} is a pseudo-terminal master, not a serial port (a pty's slave, /dev/pts/N, is accepted)",
        path.display()
    )]
    PtyMaster {
        /// The device, links resolved.
        path: PathBuf,
    },
    /// A terminal of another kind than serial port or pty slave.
    #[error("{} is a terminal of type {kind:?}, not a serial port", path.display())]
    OtherTerminal {
        /// The device, links resolved.
        path: PathBuf,
        /// Its driver type in `/proc/tty/drivers`.
        kind: String,
    },
    /// The file system would not say.
    #[error("cannot {action} {}: {}", path.display(), describe_io(source))]
    Io {
        /// What was being done: `"resolve"`, `"examine"`, `"read"`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// The kind of a tty driver, from the last column of `/proc/tty/drivers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TtyKind {
    /// `serial`: a serial port (8250, USB serial, CDC ACM, …).
    Serial,
    /// `pty:slave`: `/dev/pts/N`.
    PtySlave,
    /// `pty:master` (and `/dev/ptmx`).
    PtyMaster,
    /// `console`, `system…` (`/dev/tty`, `/dev/console`, virtual
    /// consoles).
    Console,
    /// Anything else, as written.
    Other(String),
}

/// The kind of the tty driver owning character device `major:minor`,
/// according to the text of `/proc/tty/drivers`; `None` if no driver owns
/// it. Lines that do not parse are ignored.
pub fn tty_driver_kind(drivers: &str, major: u32, minor: u32) -> Option<TtyKind> {
    for line in drivers.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_name, node, line_major, range, kind] = fields.as_slice() else {
            continue;
        };
        if line_major.parse::<u32>().ok() != Some(major) {
            continue;
        }
        let (low, high) = match range.split_once('-') {
            Some((low, high)) => (low.parse::<u32>(), high.parse::<u32>()),
            None => (range.parse::<u32>(), range.parse::<u32>()),
        };
        let (Ok(low), Ok(high)) = (low, high) else {
            continue;
        };
        if !(low..=high).contains(&minor) {
            continue;
        }
        return Some(match *kind {
            "serial" => TtyKind::Serial,
            "pty:slave" => TtyKind::PtySlave,
            "pty:master" => TtyKind::PtyMaster,
            _ if *node == "/dev/ptmx" => TtyKind::PtyMaster,
            "console" => TtyKind::Console,
            kind if kind.starts_with("system") => TtyKind::Console,
            other => TtyKind::Other(other.to_owned()),
        });
    }
    None
}

/// Checks that `path` (after resolving symlinks) is a character device
/// under `roots.dev` that is a serial port or a pty slave (by its major
/// and minor numbers in `roots.proc_/tty/drivers`). Returns the resolved
/// path.
///
/// Relative paths, NUL bytes and `..` components are refused before the
/// file system is touched. Nothing is opened.
pub fn check_serial_device(path: &Path, roots: &SystemRoots) -> Result<PathBuf, DeviceError> {
    let invalid = |reason| DeviceError::InvalidPath {
        path: path.to_string_lossy().into_owned(),
        reason,
    };
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() {
        return Err(invalid("the path is empty"));
    }
    if bytes.contains(&0) {
        return Err(invalid("the path contains a NUL byte"));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(invalid("the path contains a \"..\" component"));
    }
    if !path.is_absolute() {
        return Err(invalid("the path is not absolute"));
    }
    let resolved = match fs::canonicalize(path) {
        Ok(resolved) => resolved,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
            return Err(DeviceError::NoSuchDevice {
                path: path.to_path_buf(),
            })
        }
        Err(source) => {
            return Err(DeviceError::Io {
                action: "resolve",
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let meta = fs::metadata(&resolved).map_err(|source| DeviceError::Io {
        action: "examine",
        path: resolved.clone(),
        source,
    })?;
    let file_type = meta.file_type();
    let not_a_device = if file_type.is_file() {
        DeviceError::RegularFile { path: resolved }
    } else if file_type.is_dir() {
        DeviceError::Directory { path: resolved }
    } else if file_type.is_fifo() {
        DeviceError::Fifo { path: resolved }
    } else if file_type.is_socket() {
        DeviceError::Socket { path: resolved }
    } else if file_type.is_block_device() {
        DeviceError::BlockDevice { path: resolved }
    } else if file_type.is_char_device() {
        return check_char_device(resolved, meta.rdev(), roots);
    } else {
        DeviceError::RegularFile { path: resolved }
    };
    Err(not_a_device)
}

/// The rest of [`check_serial_device`] for a character device.
fn check_char_device(
    resolved: PathBuf,
    rdev: u64,
    roots: &SystemRoots,
) -> Result<PathBuf, DeviceError> {
    let dev = fs::canonicalize(&roots.dev).unwrap_or_else(|_| roots.dev.clone());
    if !resolved.starts_with(&dev) || resolved == dev {
        return Err(DeviceError::OutsideDev {
            path: resolved,
            dev: roots.dev.clone(),
        });
    }
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    let drivers_path = roots.proc_.join("tty/drivers");
    let drivers = fs::read(&drivers_path).map_err(|source| DeviceError::Io {
        action: "read",
        path: drivers_path,
        source,
    })?;
    match tty_driver_kind(&String::from_utf8_lossy(&drivers), major, minor) {
        Some(TtyKind::Serial | TtyKind::PtySlave) => Ok(resolved),
        Some(TtyKind::Console) => Err(DeviceError::VirtualConsole { path: resolved }),
        Some(TtyKind::PtyMaster) => Err(DeviceError::PtyMaster { path: resolved }),
        Some(TtyKind::Other(kind)) => Err(DeviceError::OtherTerminal {
            path: resolved,
            kind,
        }),
        None => Err(DeviceError::NotATty {
            path: resolved,
            major,
            minor,
        }),
    }
}

// ---- the modem link ----

/// Why the modem link could not be read or set.
#[derive(Debug, thiserror::Error)]
pub enum ModemLinkError {
    /// The port is not one to point the link at.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// Something other than a symbolic link is at the link's path; it is
    /// left alone.
    #[error(
        "{} is {what}, not a symbolic link: it was left alone (remove it by hand if it should be replaced)",
        link.display()
    )]
    NotASymlink {
        /// The link's path.
        link: PathBuf,
        /// What is there: `"a regular file"`, `"a character device"`, …
        what: &'static str,
    },
    /// The link path has no file name or no directory.
    #[error("{} cannot be a symbolic link's path", link.display())]
    BadLinkPath {
        /// The link's path.
        link: PathBuf,
    },
    /// A file-system operation failed.
    #[error("cannot {action} {}: {}", path.display(), describe_io(source))]
    Io {
        /// What was being done: `"read"`, `"create"`, `"replace"`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// What a file is, for [`ModemLinkError::NotASymlink`].
fn what_is(file_type: fs::FileType) -> &'static str {
    if file_type.is_file() {
        "a regular file"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_fifo() {
        "a named pipe"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a symbolic link"
    }
}

/// The current target of the modem link (normally `/dev/modem`); `None` if
/// absent. A relative target (`ttyS0`, as old setups wrote it) is returned
/// joined to the link's directory (`/dev/ttyS0`). The target need not
/// exist. Something other than a symbolic link at `link` is
/// [`ModemLinkError::NotASymlink`].
pub fn modem_link(link: &Path) -> Result<Option<PathBuf>, ModemLinkError> {
    match fs::read_link(link) {
        Ok(target) if target.is_absolute() => Ok(Some(target)),
        Ok(target) => {
            let dir = link.parent().unwrap_or(Path::new("/"));
            Ok(Some(normalize(&dir.join(target))))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            let meta = fs::symlink_metadata(link).map_err(|source| ModemLinkError::Io {
                action: "read",
                path: link.to_path_buf(),
                source,
            })?;
            Err(ModemLinkError::NotASymlink {
                link: link.to_path_buf(),
                what: what_is(meta.file_type()),
            })
        }
        Err(source) => Err(ModemLinkError::Io {
            action: "read",
            path: link.to_path_buf(),
            source,
        }),
    }
}

/// Points `link` at `port` atomically, only after
/// [`check_serial_device`]`(port)`: a new link is created in one step; an
/// existing one is replaced by a symbolic link made under a temporary name
/// in the same directory and renamed over it. Refuses to replace anything
/// at `link` that is not a symbolic link (a real device node or file there
/// is left alone, with a clear error).
///
/// The link's target is `port` as given (a `/dev/serial/by-id` name stays
/// stable across replugging), so a port given as a by-id path stays by-id.
/// Returns the target written.
pub fn set_modem_link(
    link: &Path,
    port: &Path,
    roots: &SystemRoots,
) -> Result<PathBuf, ModemLinkError> {
    check_serial_device(port, roots)?;
    if link.file_name().is_none() {
        return Err(ModemLinkError::BadLinkPath {
            link: link.to_path_buf(),
        });
    }
    // A few rounds in case the link appears or disappears under us.
    let mut last = None;
    for _ in 0..4 {
        match fs::symlink_metadata(link) {
            Ok(meta) if meta.file_type().is_symlink() => {
                // Checked just before: `link` is a symbolic link (the
                // rename would replace whatever is there, so that check is
                // what protects a real file or device node; the window
                // between them is what /dev's permissions leave to root).
                return atomic::symlink_atomic(link, port)
                    .map(|()| port.to_path_buf())
                    .map_err(|source| ModemLinkError::Io {
                        action: "replace",
                        path: link.to_path_buf(),
                        source,
                    });
            }
            Ok(meta) => {
                return Err(ModemLinkError::NotASymlink {
                    link: link.to_path_buf(),
                    what: what_is(meta.file_type()),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // symlink() creates it whole or fails if something is there.
                match std::os::unix::fs::symlink(port, link) {
                    Ok(()) => return Ok(port.to_path_buf()),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                    Err(source) => {
                        return Err(ModemLinkError::Io {
                            action: "create",
                            path: link.to_path_buf(),
                            source,
                        })
                    }
                }
            }
            Err(source) => {
                return Err(ModemLinkError::Io {
                    action: "read",
                    path: link.to_path_buf(),
                    source,
                })
            }
        }
    }
    Err(ModemLinkError::Io {
        action: "create",
        path: link.to_path_buf(),
        source: last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)),
    })
}

// ---- asking the modem ----

/// The identification commands [`query_modem`] sends after `AT`.
pub const QUERY_COMMANDS: [&str; 6] = ["ATI", "ATI3", "AT+GMI", "AT+GMM", "AT+GMR", "AT+CSQ"];

/// The most [`query_modem`] keeps of one answer, in bytes.
const MAX_ANSWER: usize = 4096;

/// Why the modem could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Someone holds the port (a live UUCP lock, including one of this
    /// process: a link running on it); it was not opened.
    #[error(
        "{} is in use by {holder}: it was not touched",
        port.display()
    )]
    Busy {
        /// The port.
        port: PathBuf,
        /// Who holds it.
        holder: Busy,
    },
    /// The lock file could not be created or read.
    #[error(transparent)]
    Lock(LockError),
    /// The port could not be opened.
    #[error(transparent)]
    Open(#[from] SerialError),
    /// Nothing answered `AT`, twice.
    #[error(
        "nothing answered AT on {} within {}: is a modem connected and switched on?",
        port.display(),
        describe_duration(*waited)
    )]
    NoResponse {
        /// The port.
        port: PathBuf,
        /// How long each of the two attempts waited.
        waited: Duration,
    },
    /// Something answered `AT`, twice, but not with `OK`.
    #[error(
        "{} answered AT with {answer:?} instead of OK: is it a modem, and set to this speed?",
        port.display()
    )]
    NotAModem {
        /// The port.
        port: PathBuf,
        /// What came back (control characters shown as spaces, cut short).
        answer: String,
    },
    /// Reading or writing the port failed.
    #[error("cannot talk to the modem on {}: {}", port.display(), describe_io(source))]
    Io {
        /// The port.
        port: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// `"2 s"`, `"300 ms"`.
fn describe_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// How a command ended.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// `OK`, after these lines (echo and empty lines removed).
    Ok(Vec<String>),
    /// `ERROR`, `+CME ERROR: …`, `NO CARRIER`, …
    Error,
    /// No final result within the time; what did arrive.
    Silence(Vec<u8>),
}

/// Identifies the modem on `port`, only when asked.
///
/// Takes the UUCP lock in `lock_dir` ([`crate::lock`]) so it never disturbs
/// a link: a lock held by another live process, or by this one (a link of
/// this daemon on the port), is [`QueryError::Busy`] and the port is not
/// opened. Opens the port at `speed`, 8N1, without flow control and
/// ignoring the modem-control lines ([`crate::serial`]), sends `AT`
/// (expecting `OK`; retried once), then each of [`QUERY_COMMANDS`], each
/// given `per_command` for its final result. Returns `(command, response)`
/// for the commands that answered `OK` with some text (echo lines and `OK`
/// stripped; lines joined with `\n`); those answering `ERROR` or nothing
/// are left out. The port is closed and the lock released at the end in
/// every case.
///
/// The caller checks the port first ([`check_serial_device`]): this writes
/// `AT` commands to whatever it is given.
pub async fn query_modem(
    port: &Path,
    speed: u32,
    lock_dir: &Path,
    per_command: Duration,
) -> Result<Vec<(String, String)>, QueryError> {
    // A lock with our own PID is a link of ours: lock::acquire would share
    // it, so look first.
    if let Some(name) = lock::lock_file_name(port) {
        if let Ok(content) = fs::read(lock_dir.join(name)) {
            let me = std::process::id();
            if lock::parse_pid(&content) == Some(me) {
                return Err(QueryError::Busy {
                    port: port.to_path_buf(),
                    holder: Busy {
                        pid: me,
                        program: command_name(Path::new("/proc"), me),
                    },
                });
            }
        }
    }
    let device_lock = match lock::acquire(lock_dir, port) {
        Ok(device_lock) => device_lock,
        Err(LockError::InUse { pid, command, .. }) => {
            return Err(QueryError::Busy {
                port: port.to_path_buf(),
                holder: Busy {
                    pid,
                    program: command,
                },
            })
        }
        Err(e) => return Err(QueryError::Lock(e)),
    };
    let line = Line {
        device: port.to_string_lossy().into_owned(),
        speed,
        flow_control: FlowControl::None,
        carrier: Carrier::Local,
    };
    let result = match SerialLine::open(&line, Some(port)) {
        Ok(mut serial) => {
            let result = converse(&mut serial, port, per_command).await;
            drop(serial);
            result
        }
        Err(e) => Err(QueryError::Open(e)),
    };
    // The port is closed; now the lock goes.
    let released = device_lock.release();
    let answers = result?;
    released.map_err(QueryError::Lock)?;
    Ok(answers)
}

/// `AT` (twice if need be), then the identification commands.
async fn converse(
    serial: &mut SerialLine,
    port: &Path,
    per_command: Duration,
) -> Result<Vec<(String, String)>, QueryError> {
    let io_error = |source| QueryError::Io {
        port: port.to_path_buf(),
        source,
    };
    let mut heard = Vec::new();
    let mut ok = false;
    for _ in 0..2 {
        match command(serial, "AT", per_command).await.map_err(io_error)? {
            Answer::Ok(_) => {
                ok = true;
                break;
            }
            Answer::Error => heard = b"ERROR".to_vec(),
            Answer::Silence(bytes) if !bytes.is_empty() => heard = bytes,
            Answer::Silence(_) => {}
        }
    }
    if !ok {
        return Err(if heard.is_empty() {
            QueryError::NoResponse {
                port: port.to_path_buf(),
                waited: per_command,
            }
        } else {
            QueryError::NotAModem {
                port: port.to_path_buf(),
                answer: printable(&heard, 80),
            }
        });
    }
    let mut answers = Vec::new();
    for name in QUERY_COMMANDS {
        if let Answer::Ok(lines) = command(serial, name, per_command).await.map_err(io_error)? {
            if !lines.is_empty() {
                answers.push((name.to_owned(), lines.join("\n")));
            }
        }
    }
    Ok(answers)
}

/// Sends `name` and a carriage return and waits up to `timeout` for the
/// final result. Input that was waiting before is discarded.
async fn command(serial: &mut SerialLine, name: &str, timeout: Duration) -> io::Result<Answer> {
    // SAFETY: tcflush on the line's own open descriptor.
    unsafe { libc::tcflush(serial.as_raw_fd(), libc::TCIFLUSH) };
    let deadline = tokio::time::Instant::now() + timeout;
    let mut text = name.as_bytes().to_vec();
    text.push(b'\r');
    let write = async {
        serial.write_all(&text).await?;
        serial.flush().await
    };
    match tokio::time::timeout_at(deadline, write).await {
        Ok(result) => result?,
        Err(_) => return Ok(Answer::Silence(Vec::new())),
    }
    let mut got = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        if let Some(answer) = parse_answer(&got, name) {
            return Ok(answer);
        }
        if got.len() > MAX_ANSWER {
            return Ok(Answer::Silence(got));
        }
        match tokio::time::timeout_at(deadline, serial.read(&mut chunk)).await {
            Err(_) | Ok(Ok(0)) => return Ok(Answer::Silence(got)),
            Ok(Ok(n)) => got.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => return Err(e),
        }
    }
}

/// The answer in `got` to `command`, once a complete final-result line has
/// arrived.
fn parse_answer(got: &[u8], command: &str) -> Option<Answer> {
    // Only complete lines count: the last piece may still be arriving.
    let complete = got
        .iter()
        .rposition(|&b| b == b'\r' || b == b'\n')
        .map(|end| &got[..end])?;
    let mut lines = Vec::new();
    for raw in complete.split(|&b| b == b'\r' || b == b'\n') {
        let line = printable(raw, usize::MAX);
        let line = line.trim();
        if line.is_empty() || line.eq_ignore_ascii_case(command) {
            continue;
        }
        let upper = line.to_ascii_uppercase();
        if upper == "OK" {
            return Some(Answer::Ok(lines));
        }
        if upper == "ERROR"
            || upper.starts_with("+CME ERROR")
            || upper.starts_with("+CMS ERROR")
            || upper == "NO CARRIER"
            || upper == "COMMAND NOT SUPPORT"
        {
            return Some(Answer::Error);
        }
        lines.push(line.to_owned());
    }
    None
}

/// Bytes as text: invalid UTF-8 replaced, control characters as spaces,
/// at most `max` characters.
fn printable(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// Writes `content` to `path`, creating its directory.
    fn write(path: &Path, content: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    /// Makes `link` a symbolic link to `target`, creating its directory.
    fn link(link: &Path, target: impl AsRef<Path>) {
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        symlink(target, link).unwrap();
    }

    /// A fake sysfs tty: `class/tty/<name>` -> `<device dir>/tty/<name>`,
    /// whose `device` points at `device_dir`.
    fn tty(sys: &Path, name: &str, device_dir: Option<&str>, kind: Option<&str>) {
        let home = match device_dir {
            Some(dir) => sys.join(dir).join("tty").join(name),
            None => sys.join("devices/virtual/tty").join(name),
        };
        fs::create_dir_all(&home).unwrap();
        write(&home.join("dev"), "4:64\n");
        if let Some(kind) = kind {
            write(&home.join("type"), &format!("{kind}\n"));
        }
        if device_dir.is_some() {
            // Relative, as sysfs has it: <dir>/tty/<name>/device -> ../..
            link(&home.join("device"), "../..");
        }
        let rel = home.strip_prefix(sys).unwrap();
        link(
            &sys.join("class/tty").join(name),
            Path::new("../..").join(rel),
        );
    }

    /// `dir/driver` and `dir/subsystem` links, as sysfs has them.
    fn bound(sys: &Path, dir: &str, bus: &str, driver: Option<&str>) {
        let dir = sys.join(dir);
        fs::create_dir_all(&dir).unwrap();
        link(&dir.join("subsystem"), sys.join("bus").join(bus));
        if let Some(driver) = driver {
            link(
                &dir.join("driver"),
                sys.join("bus").join(bus).join("drivers").join(driver),
            );
        }
    }

    fn usb_device(sys: &Path, dir: &str, vendor: &str, product: &str, strings: [&str; 3]) {
        let dir = sys.join(dir);
        write(&dir.join("idVendor"), &format!("{vendor}\n"));
        write(&dir.join("idProduct"), &format!("{product}\n"));
        for (file, text) in ["manufacturer", "product", "serial"].iter().zip(strings) {
            write(&dir.join(file), &format!("{text}\n"));
        }
    }

    const FTDI_DEV: &str = "devices/pci0000:00/0000:00:14.0/usb1/1-2";
    const FTDI_IF: &str = "devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0";
    const FTDI_PORT: &str = "devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/ttyUSB0";
    const ACM_DEV: &str = "devices/pci0000:00/0000:00:14.0/usb1/1-3";
    const ACM_IF: &str = "devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3:1.2";

    /// The fake tree the tests share (see the comments for what is in it).
    fn fake_system() -> (tempfile::TempDir, SystemRoots) {
        let dir = tempfile::tempdir().unwrap();
        let roots = SystemRoots::under(dir.path());
        let sys = &roots.sys;

        // An FTDI adapter: ttyUSB0 on interface 0.
        usb_device(
            sys,
            FTDI_DEV,
            "0403",
            "6001",
            ["FTDI", "FT232R USB UART", "A50285BI"],
        );
        bound(sys, FTDI_DEV, "usb", Some("usb"));
        bound(sys, FTDI_IF, "usb", Some("ftdi_sio"));
        write(&sys.join(FTDI_IF).join("bInterfaceNumber"), "00\n");
        bound(sys, FTDI_PORT, "usb-serial", Some("ftdi_sio"));
        tty(sys, "ttyUSB0", Some(FTDI_PORT), None);

        // A CDC ACM modem on interface 2; the product repeats the maker.
        usb_device(
            sys,
            ACM_DEV,
            "0572",
            "1329",
            ["Conexant", "Conexant USB Modem", "24680"],
        );
        bound(sys, ACM_IF, "usb", Some("cdc_acm"));
        write(&sys.join(ACM_IF).join("bInterfaceNumber"), "02\n");
        tty(sys, "ttyACM0", Some(ACM_IF), None);

        // ttyS0, a 16550A, as Linux >= 6.5 shows it: port -> ctrl ->
        // the platform device serial8250.
        bound(
            sys,
            "devices/platform/serial8250",
            "platform",
            Some("serial8250"),
        );
        bound(
            sys,
            "devices/platform/serial8250/serial8250:0",
            "serial-base",
            Some("ctrl"),
        );
        bound(
            sys,
            "devices/platform/serial8250/serial8250:0/serial8250:0.0",
            "serial-base",
            Some("port"),
        );
        tty(
            sys,
            "ttyS0",
            Some("devices/platform/serial8250/serial8250:0/serial8250:0.0"),
            Some("4"),
        );
        // ttyS1: a phantom (PORT_UNKNOWN).
        bound(
            sys,
            "devices/platform/serial8250/serial8250:0/serial8250:0.1",
            "serial-base",
            Some("port"),
        );
        tty(
            sys,
            "ttyS1",
            Some("devices/platform/serial8250/serial8250:0/serial8250:0.1"),
            Some("0"),
        );
        // ttyS2: the layout before 6.5, the device straight on a PnP
        // device bound to 8250_pnp's driver "serial".
        bound(sys, "devices/pnp0/00:05", "pnp", Some("serial"));
        tty(sys, "ttyS2", Some("devices/pnp0/00:05"), Some("4"));
        // tty1: a virtual console, no device link.
        tty(sys, "tty1", None, None);

        // /dev: the nodes (plain files will do) and udev's links.
        for name in ["ttyUSB0", "ttyACM0", "ttyS0", "ttyS1", "ttyS2", "tty1"] {
            write(&roots.dev.join(name), "");
        }
        let by_id = roots.dev.join("serial/by-id");
        let by_path = roots.dev.join("serial/by-path");
        link(
            &by_id.join("usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0"),
            "../../ttyUSB0",
        );
        link(
            &by_path.join("pci-0000:00:14.0-usb-0:2:1.0-port0"),
            "../../ttyUSB0",
        );
        link(
            &by_path.join("pci-0000:00:14.0-usbv2-0:2:1.0-port0"),
            "../../ttyUSB0",
        );
        // A chain: by-id -> by-path -> the node.
        link(
            &by_path.join("pci-0000:00:14.0-usb-0:3:1.2"),
            "../../ttyACM0",
        );
        link(
            &by_id.join("usb-Conexant_USB_Modem_24680-if02"),
            "../by-path/pci-0000:00:14.0-usb-0:3:1.2",
        );
        link(&by_id.join("usb-gone-if00-port0"), "../../ttyUSB9");

        // Locks: ttyUSB0 by a live process (this one), ttyACM0 by a dead
        // one.
        let me = std::process::id();
        write(&roots.lock_dir.join("LCK..ttyUSB0"), &lock::format_pid(me));
        write(
            &roots.lock_dir.join("LCK..ttyACM0"),
            &lock::format_pid(3_999_999),
        );
        let proc_ = &roots.proc_;
        write(&proc_.join(me.to_string()).join("comm"), "dialtoned\n");
        // minicom (PID 4242) has ttyS0 open; 4243 has something else;
        // 4244's fds are unreadable (no fd dir); non-PID entries exist.
        write(&proc_.join("4242/comm"), "minicom\n");
        link(&proc_.join("4242/fd/0"), "/dev/pts/0");
        link(&proc_.join("4242/fd/3"), roots.dev.join("ttyS0"));
        write(&proc_.join("4243/comm"), "cat\n");
        link(&proc_.join("4243/fd/3"), "/etc/passwd");
        write(&proc_.join("4244/comm"), "secret\n");
        write(&proc_.join("self/comm"), "nope\n");
        write(&proc_.join("tty/drivers"), "");
        (dir, roots)
    }

    #[test]
    fn lists_ports_from_a_fake_sysfs() {
        let (_dir, roots) = fake_system();
        let ports = serial_ports(&roots);
        let names: Vec<&Path> = ports.iter().map(|p| p.path.as_path()).collect();
        let dev = &roots.dev;
        assert_eq!(
            names,
            [
                dev.join("ttyACM0"),
                dev.join("ttyS0"),
                dev.join("ttyS2"),
                dev.join("ttyUSB0")
            ],
            "phantom ttyS1 and the console tty1 are skipped; sorted by path"
        );
        let me = std::process::id();

        let acm = &ports[0];
        assert_eq!(
            acm,
            &SerialPort {
                path: dev.join("ttyACM0"),
                by_id: Some(dev.join("serial/by-id/usb-Conexant_USB_Modem_24680-if02")),
                by_path: Some(dev.join("serial/by-path/pci-0000:00:14.0-usb-0:3:1.2")),
                driver: "cdc_acm".into(),
                usb: Some(UsbInfo {
                    vendor_id: 0x0572,
                    product_id: 0x1329,
                    manufacturer: Some("Conexant".into()),
                    product: Some("Conexant USB Modem".into()),
                    serial: Some("24680".into()),
                    interface: Some(2),
                }),
                description: "Conexant USB Modem (ttyACM0)".into(),
                busy: None, // its lock names a dead process
            }
        );

        assert_eq!(
            ports[1],
            SerialPort {
                path: dev.join("ttyS0"),
                by_id: None,
                by_path: None,
                driver: "serial8250".into(),
                usb: None,
                description: "Built-in serial port (ttyS0)".into(),
                busy: Some(Busy {
                    pid: 4242,
                    program: Some("minicom".into())
                }),
            }
        );
        assert_eq!(ports[2].driver, "serial");
        assert_eq!(ports[2].description, "Built-in serial port (ttyS2)");
        assert_eq!(ports[2].busy, None);

        assert_eq!(
            ports[3],
            SerialPort {
                path: dev.join("ttyUSB0"),
                by_id: Some(dev.join("serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0")),
                by_path: Some(dev.join("serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0")),
                driver: "ftdi_sio".into(),
                usb: Some(UsbInfo {
                    vendor_id: 0x0403,
                    product_id: 0x6001,
                    manufacturer: Some("FTDI".into()),
                    product: Some("FT232R USB UART".into()),
                    serial: Some("A50285BI".into()),
                    interface: Some(0),
                }),
                description: "FTDI FT232R USB UART (ttyUSB0)".into(),
                busy: Some(Busy {
                    pid: me,
                    program: Some("dialtoned".into())
                }),
            }
        );
    }

    #[test]
    fn a_lock_beats_an_open_descriptor_and_dead_locks_do_not_count() {
        let (_dir, roots) = fake_system();
        // ttyS0 is open in 4242; a live lock by us wins.
        let me = std::process::id();
        write(&roots.lock_dir.join("LCK..ttyS0"), &lock::format_pid(me));
        assert_eq!(
            who_holds(&roots.dev.join("ttyS0"), &roots),
            Some(Busy {
                pid: me,
                program: Some("dialtoned".into())
            })
        );
        // A dead lock and nobody with it open.
        assert_eq!(who_holds(&roots.dev.join("ttyACM0"), &roots), None);
        // Without comm, the program is unknown.
        fs::remove_file(roots.proc_.join("4242/comm")).unwrap();
        fs::remove_file(roots.lock_dir.join("LCK..ttyS0")).unwrap();
        assert_eq!(
            who_holds(&roots.dev.join("ttyS0"), &roots),
            Some(Busy {
                pid: 4242,
                program: None
            })
        );
        // Through a by-id name: the same node.
        link(&roots.dev.join("serial/by-id/s0"), "../../ttyS0");
        assert_eq!(
            who_holds(&roots.dev.join("serial/by-id/s0"), &roots).map(|b| b.pid),
            Some(4242)
        );
    }

    #[test]
    fn the_lowest_pid_holding_a_device_is_reported() {
        let (_dir, roots) = fake_system();
        write(&roots.proc_.join("17/comm"), "getty\n");
        link(&roots.proc_.join("17/fd/0"), roots.dev.join("ttyS0"));
        link(&roots.proc_.join("17/fd/1"), roots.dev.join("ttyS0"));
        assert_eq!(
            who_holds(&roots.dev.join("ttyS0"), &roots),
            Some(Busy {
                pid: 17,
                program: Some("getty".into())
            })
        );
    }

    #[test]
    fn an_empty_or_missing_tree_lists_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(serial_ports(&SystemRoots::under(dir.path())), []);
        fs::create_dir_all(dir.path().join("sys/class/tty")).unwrap();
        assert_eq!(serial_ports(&SystemRoots::under(dir.path())), []);
    }

    #[test]
    fn unreadable_attributes_do_not_break_the_list() {
        let (_dir, roots) = fake_system();
        // Garbage in idVendor: the port stays, without USB details.
        write(&roots.sys.join(FTDI_DEV).join("idVendor"), "zzzz\n");
        // No driver link at all for ttyACM0's interface.
        fs::remove_file(roots.sys.join(ACM_IF).join("driver")).unwrap();
        let ports = serial_ports(&roots);
        let usb0 = ports.iter().find(|p| p.path.ends_with("ttyUSB0")).unwrap();
        assert_eq!(usb0.usb, None);
        assert_eq!(usb0.description, "FTDI USB serial (ttyUSB0)");
        let acm = ports.iter().find(|p| p.path.ends_with("ttyACM0")).unwrap();
        assert_eq!(acm.driver, "");
        assert_eq!(acm.description, "Conexant USB Modem (ttyACM0)");
    }

    fn facts(driver: &str, usb: Option<(Option<&str>, Option<&str>)>) -> PortFacts {
        PortFacts {
            driver: driver.into(),
            subsystem: None,
            usb: usb.map(|(maker, product)| UsbInfo {
                vendor_id: 1,
                product_id: 2,
                manufacturer: maker.map(Into::into),
                product: product.map(Into::into),
                serial: None,
                interface: None,
            }),
        }
    }

    #[test]
    fn descriptions() {
        let d = |name, f: PortFacts| describe(name, &f);
        assert_eq!(
            d("ttyUSB0", facts("pl2303", Some((None, None)))),
            "Prolific PL2303 USB serial (ttyUSB0)"
        );
        assert_eq!(
            d(
                "ttyUSB0",
                facts(
                    "pl2303",
                    Some((
                        Some("Prolific Technology Inc."),
                        Some("USB-Serial Controller")
                    ))
                )
            ),
            "Prolific Technology Inc. USB-Serial Controller (ttyUSB0)"
        );
        assert_eq!(
            d("ttyUSB1", facts("ch341", Some((None, Some("USB Serial"))))),
            "USB Serial (ttyUSB1)"
        );
        assert_eq!(
            d(
                "ttyUSB1",
                facts("cp210x", Some((Some("Silicon Labs"), None)))
            ),
            "Silicon Labs CP210x USB serial (ttyUSB1)"
        );
        assert_eq!(
            d("ttyUSB1", facts("cp210x", Some((Some("Acme"), None)))),
            "Acme Silicon Labs CP210x USB serial (ttyUSB1)"
        );
        assert_eq!(
            d("ttyACM0", facts("cdc_acm", None)),
            "USB modem (CDC ACM) (ttyACM0)"
        );
        assert_eq!(
            d("ttyS3", facts("serial", None)),
            "Built-in serial port (ttyS3)"
        );
        let mut pci = facts("serial", None);
        pci.subsystem = Some("pci".into());
        assert_eq!(d("ttyS4", pci), "PCI serial port (ttyS4)");
        assert_eq!(
            d("ttyXR0", facts("xr_serial", Some((None, None)))),
            "USB serial port, driver xr_serial (ttyXR0)"
        );
        assert_eq!(
            d("ttyMFD0", facts("hsu", None)),
            "Serial port, driver hsu (ttyMFD0)"
        );
    }

    const DRIVERS: &str = "\
/dev/tty             /dev/tty        5       0 system:/dev/tty
/dev/console         /dev/console    5       1 system:console
/dev/ptmx            /dev/ptmx       5       2 system
/dev/vc/0            /dev/vc/0       4       0 system:vtmaster
usbserial            /dev/ttyUSB   188 0-511 serial
acm                  /dev/ttyACM   166 0-255 serial
serial               /dev/ttyS       4 64-111 serial
pty_slave            /dev/pts      136 0-1048575 pty:slave
pty_master           /dev/ptm      128 0-1048575 pty:master
unknown              /dev/tty        4 1-63 console
odd                  /dev/odd      200 7 type:9.9
garbage line
";

    #[test]
    fn tty_driver_kinds() {
        let k = |major, minor| tty_driver_kind(DRIVERS, major, minor);
        assert_eq!(k(4, 64), Some(TtyKind::Serial));
        assert_eq!(k(4, 111), Some(TtyKind::Serial));
        assert_eq!(k(4, 112), None);
        assert_eq!(k(188, 0), Some(TtyKind::Serial));
        assert_eq!(k(166, 3), Some(TtyKind::Serial));
        assert_eq!(k(136, 5), Some(TtyKind::PtySlave));
        assert_eq!(k(128, 5), Some(TtyKind::PtyMaster));
        assert_eq!(k(5, 2), Some(TtyKind::PtyMaster));
        assert_eq!(k(5, 0), Some(TtyKind::Console));
        assert_eq!(k(5, 1), Some(TtyKind::Console));
        assert_eq!(k(4, 0), Some(TtyKind::Console));
        assert_eq!(k(4, 7), Some(TtyKind::Console));
        assert_eq!(k(200, 7), Some(TtyKind::Other("type:9.9".into())));
        assert_eq!(k(1, 3), None);
    }

    #[test]
    fn paths_refused_before_the_file_system() {
        let roots = SystemRoots::under(Path::new("/nonexistent"));
        for (path, reason) in [
            ("", "empty"),
            ("/dev/tty\0S0", "NUL"),
            ("/dev/../etc/shadow", ".."),
            ("/dev/serial/by-id/../../ttyS0", ".."),
            ("ttyS0", "not absolute"),
        ] {
            let path = Path::new(std::ffi::OsStr::from_bytes(path.as_bytes()));
            match check_serial_device(path, &roots) {
                Err(e @ DeviceError::InvalidPath { .. }) => {
                    assert!(e.to_string().contains(reason), "{e}")
                }
                other => panic!("{path:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn file_kinds_in_a_fake_dev_are_refused() {
        let (dir, roots) = fake_system();
        let dev = &roots.dev;
        let e = check_serial_device(&dev.join("ttyS0"), &roots).unwrap_err();
        assert!(matches!(e, DeviceError::RegularFile { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "not a device: {} is a regular file",
                dev.join("ttyS0").display()
            )
        );
        let e = check_serial_device(&dev.join("serial"), &roots).unwrap_err();
        assert!(matches!(e, DeviceError::Directory { .. }), "{e:?}");
        // A link in dev pointing out of it: the message names the target.
        let outside = dir.path().join("shadow");
        write(&outside, "secret");
        link(&dev.join("x"), &outside);
        let e = check_serial_device(&dev.join("x"), &roots).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("not a device: {} is a regular file", outside.display())
        );
        // Missing, and dangling.
        let e = check_serial_device(&dev.join("ttyUSB7"), &roots).unwrap_err();
        assert!(matches!(e, DeviceError::NoSuchDevice { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "no such device: {}; is the modem plugged in? ls -l /dev/serial/by-id",
                dev.join("ttyUSB7").display()
            )
        );
        let gone = dev.join("serial/by-id/usb-gone-if00-port0");
        assert!(matches!(
            check_serial_device(&gone, &roots),
            Err(DeviceError::NoSuchDevice { .. })
        ));
    }

    #[test]
    fn parsing_answers() {
        let p = |bytes: &[u8], cmd| parse_answer(bytes, cmd);
        assert_eq!(p(b"AT\r\r\nOK\r\n", "AT"), Some(Answer::Ok(vec![])));
        assert_eq!(
            p(b"ATI3\r\r\nAcme Rocket 9.9\r\n\r\nOK\r\n", "ATI3"),
            Some(Answer::Ok(vec!["Acme Rocket 9.9".into()]))
        );
        assert_eq!(
            p(b"\r\nline one\r\nline\ttwo\r\n\r\nok\r\n", "ATI"),
            Some(Answer::Ok(vec!["line one".into(), "line two".into()]))
        );
        assert_eq!(p(b"at+csq\r\r\nERROR\r\n", "AT+CSQ"), Some(Answer::Error));
        assert_eq!(p(b"\r\n+CME ERROR: 4\r\n", "AT+CSQ"), Some(Answer::Error));
        // Incomplete: OK without its line end yet, or nothing.
        assert_eq!(p(b"AT\r\r\nOK", "AT"), None);
        assert_eq!(p(b"", "AT"), None);
        assert_eq!(p(b"\r\nOKAY\r\n", "AT"), None);
    }

    #[test]
    fn messages() {
        let busy = QueryError::Busy {
            port: "/dev/ttyS0".into(),
            holder: Busy {
                pid: 12,
                program: Some("minicom".into()),
            },
        };
        assert_eq!(
            busy.to_string(),
            "/dev/ttyS0 is in use by minicom (PID 12): it was not touched"
        );
        let silent = QueryError::NoResponse {
            port: "/dev/ttyS0".into(),
            waited: Duration::from_secs(2),
        };
        assert_eq!(
            silent.to_string(),
            "nothing answered AT on /dev/ttyS0 within 2 s: is a modem connected and switched on?"
        );
        assert_eq!(describe_duration(Duration::from_millis(300)), "300 ms");
        assert_eq!(
            ModemLinkError::NotASymlink {
                link: "/dev/modem".into(),
                what: "a character device"
            }
            .to_string(),
            "/dev/modem is a character device, not a symbolic link: it was left alone (remove it by hand if it should be replaced)"
        );
    }

    #[test]
    fn modem_link_reads_relative_targets_against_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let modem = dir.path().join("modem");
        assert_eq!(modem_link(&modem).unwrap(), None);
        symlink("ttyS0", &modem).unwrap();
        assert_eq!(modem_link(&modem).unwrap(), Some(dir.path().join("ttyS0")));
        fs::remove_file(&modem).unwrap();
        symlink("/dev/serial/by-id/usb-x", &modem).unwrap();
        assert_eq!(
            modem_link(&modem).unwrap(),
            Some(PathBuf::from("/dev/serial/by-id/usb-x"))
        );
        fs::remove_file(&modem).unwrap();
        fs::write(&modem, "").unwrap();
        assert!(matches!(
            modem_link(&modem),
            Err(ModemLinkError::NotASymlink {
                what: "a regular file",
                ..
            })
        ));
    }
}
