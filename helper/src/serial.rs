//! The serial line: opening the device a profile names, its data stream,
//! its modem-control lines and hanging up.
//!
//! * [`SerialLine::open`] opens the device through tokio-serial (`O_NOCTTY`,
//!   non-blocking, `TIOCEXCL` and an exclusive `flock` so nobody else can
//!   open it meanwhile), puts it in raw mode (8N1, no echo, no line
//!   editing, no output processing), sets the profile's flow control and
//!   speed, and turns every failure into a [`SerialError`] that says what
//!   to do about it.
//! * A [`SerialLine`] is a tokio [`AsyncRead`] + [`AsyncWrite`] for the
//!   data.
//! * The modem-control lines (DCD in, DTR out) are reached through the
//!   [`ModemControl`] trait, so that the runtime's carrier logic can be
//!   tested with [`FakeModemLines`]. A port without them (a pty, a USB
//!   adapter with three wires, some drivers) answers [`Unsupported`]: that
//!   is a property of the port, not an error.
//! * [`CarrierMonitor`] applies the profile's [`Carrier`] rule to what the
//!   lines say, and [`carrier_lost`] waits for the link's carrier to go.
//! * [`hang_up`] drops DTR, or sends the Hayes escape and `ATH` where DTR
//!   cannot be driven, and says which it did ([`HangUpMethod`]).
//!
//! `CLOCAL` stays set on the line: carrier loss is noticed by polling DCD
//! (see [`CarrierMonitor`]), not by the kernel hanging the line up under
//! us. `HUPCL` is left as the driver has it (on, normally), so closing the
//! line drops DTR as well.

use std::collections::VecDeque;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use dialtone_api::profile::{Carrier, FlowControl, Line};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_serial::SerialPortBuilderExt;

/// How long [`hang_up`] holds DTR low: long enough for any modem set to
/// `AT&D2` to notice and hang up.
pub const DTR_DROP: Duration = Duration::from_secs(1);

/// A guard time for the Hayes escape that suits the factory setting of
/// register S12 (one second), with a little to spare.
pub const DEFAULT_ESCAPE_GUARD: Duration = Duration::from_millis(1100);

/// What [`CarrierMonitor`] reports (once) for a modem line whose port has
/// no modem-control lines.
pub const NO_MODEM_LINES_NOTICE: &str = "this port has no modem-control lines: carrier loss cannot be detected; LCP echoes will notice a dead line";

/// Why a serial device could not be opened. Every message names the device
/// and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SerialError {
    /// Nothing at that path.
    #[error(
        "{} does not exist: is the modem plugged in? (`ls -l /dev/serial/by-id` lists the serial ports by name)",
        path.display()
    )]
    NoSuchDevice {
        /// The device that was asked for.
        path: PathBuf,
    },
    /// The device node exists but no hardware answers behind it (`ENXIO`,
    /// `ENODEV`).
    #[error(
        "{} has no device behind it: is the modem plugged in and switched on? (`ls -l /dev/serial/by-id` lists the serial ports by name)",
        path.display()
    )]
    NoHardware {
        /// The device that was asked for.
        path: PathBuf,
    },
    /// The device may not be opened for reading and writing.
    #[error(
        "permission denied opening {}: dialtoned needs read and write access to it (run it as root, or add its user to the device's group, usually `dialout`)",
        path.display()
    )]
    PermissionDenied {
        /// The device that was asked for.
        path: PathBuf,
    },
    /// The path is not a terminal device.
    #[error("{} is not a serial port ({what})", path.display())]
    NotATty {
        /// The path that was asked for.
        path: PathBuf,
        /// What it is instead: `"it is a regular file"`, `"it is a
        /// directory"`, `"it is a device but not a terminal"`….
        what: &'static str,
    },
    /// Someone else has the device open exclusively (`EBUSY` from
    /// `TIOCEXCL`, or its `flock`).
    #[error(
        "{} is in use by another program (another dialtoned, pppd, minicom, ModemManager?): stop it and try again",
        path.display()
    )]
    Busy {
        /// The device that was asked for.
        path: PathBuf,
    },
    /// The device opened but could not be configured as asked.
    #[error("cannot set up {}: {problem}", path.display())]
    Setup {
        /// The device that was asked for.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// Any other failure of the operating system.
    #[error("cannot open {}: {source}", path.display())]
    Io {
        /// The device that was asked for.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl SerialError {
    /// The device the error is about.
    pub fn path(&self) -> &Path {
        match self {
            SerialError::NoSuchDevice { path }
            | SerialError::NoHardware { path }
            | SerialError::PermissionDenied { path }
            | SerialError::NotATty { path, .. }
            | SerialError::Busy { path }
            | SerialError::Setup { path, .. }
            | SerialError::Io { path, .. } => path,
        }
    }

    /// The error for an `errno` from opening `path`.
    fn from_errno(path: &Path, err: io::Error) -> SerialError {
        let path = path.to_path_buf();
        match err.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => SerialError::NoSuchDevice { path },
            Some(libc::ENXIO) | Some(libc::ENODEV) => SerialError::NoHardware { path },
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => {
                SerialError::PermissionDenied { path }
            }
            Some(libc::EBUSY) => SerialError::Busy { path },
            Some(libc::EISDIR) => SerialError::NotATty {
                path,
                what: "it is a directory",
            },
            Some(libc::ENOTTY) => SerialError::NotATty {
                path,
                what: "it is a device but not a terminal",
            },
            _ => SerialError::Io { path, source: err },
        }
    }
}

/// A port without modem-control lines: a pty, a three-wire cable's USB
/// adapter, a driver that does not implement them. Not an error: the
/// caller falls back (see [`CarrierMonitor`], [`hang_up`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("this port has no modem-control lines")]
pub struct Unsupported;

/// What the carrier-detect line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CarrierState {
    /// DCD is asserted: the modem has a connection.
    Up,
    /// DCD is not asserted.
    Down,
    /// The port has no modem-control lines.
    Unsupported,
}

/// The modem-control lines of a port: the seam between the link runtime
/// and the hardware. [`SerialLine`] and [`ModemLines`] implement it with
/// ioctls; [`FakeModemLines`] is the test double.
pub trait ModemControl {
    /// Whether DCD (carrier detect) is asserted.
    fn carrier(&mut self) -> Result<bool, Unsupported>;

    /// Raises (`true`) or drops (`false`) DTR.
    fn set_dtr(&mut self, on: bool) -> Result<(), Unsupported>;

    /// [`ModemControl::carrier`] as a [`CarrierState`].
    fn carrier_state(&mut self) -> CarrierState {
        match self.carrier() {
            Ok(true) => CarrierState::Up,
            Ok(false) => CarrierState::Down,
            Err(Unsupported) => CarrierState::Unsupported,
        }
    }
}

impl<M: ModemControl + ?Sized> ModemControl for &mut M {
    fn carrier(&mut self) -> Result<bool, Unsupported> {
        (**self).carrier()
    }

    fn set_dtr(&mut self, on: bool) -> Result<(), Unsupported> {
        (**self).set_dtr(on)
    }
}

impl<M: ModemControl + ?Sized> ModemControl for Box<M> {
    fn carrier(&mut self) -> Result<bool, Unsupported> {
        (**self).carrier()
    }

    fn set_dtr(&mut self, on: bool) -> Result<(), Unsupported> {
        (**self).set_dtr(on)
    }
}

/// Whether an ioctl's error means "this port has no modem-control lines".
fn means_unsupported(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOTTY) | Some(libc::EINVAL))
}

/// The modem-control ioctls on a file descriptor, remembering in `known`
/// whether the port has the lines at all, so that a port without them is
/// asked only once.
#[derive(Debug, Default)]
struct LinesState {
    /// `None` until the first ioctl answered.
    known: Option<bool>,
}

impl LinesState {
    fn carrier(&mut self, fd: RawFd) -> Result<bool, Unsupported> {
        if self.known == Some(false) {
            return Err(Unsupported);
        }
        let mut bits: libc::c_int = 0;
        // SAFETY: TIOCMGET writes one c_int through the pointer, which is
        // valid for the call.
        let r = unsafe { libc::ioctl(fd, libc::TIOCMGET, &mut bits as *mut libc::c_int) };
        if r == 0 {
            self.known = Some(true);
            return Ok(bits & libc::TIOCM_CAR != 0);
        }
        let err = io::Error::last_os_error();
        if means_unsupported(&err) {
            self.known = Some(false);
            Err(Unsupported)
        } else {
            // EIO and friends: the device went away (a USB adapter pulled
            // out). Whatever carried the call is gone too.
            Ok(false)
        }
    }

    fn set_dtr(&mut self, fd: RawFd, on: bool) -> Result<(), Unsupported> {
        if self.known == Some(false) {
            return Err(Unsupported);
        }
        let request = if on { libc::TIOCMBIS } else { libc::TIOCMBIC };
        let bits: libc::c_int = libc::TIOCM_DTR;
        // SAFETY: TIOCMBIS/TIOCMBIC read one c_int through the pointer,
        // which is valid for the call.
        let r = unsafe { libc::ioctl(fd, request, &bits as *const libc::c_int) };
        if r == 0 {
            self.known = Some(true);
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if means_unsupported(&err) {
            self.known = Some(false);
        }
        // Any other failure: DTR cannot be driven now either; the caller
        // falls back the same way (this is not remembered).
        Err(Unsupported)
    }
}

/// An open serial line: the data stream (tokio [`AsyncRead`] +
/// [`AsyncWrite`]) and the modem-control lines ([`ModemControl`]).
#[derive(Debug)]
pub struct SerialLine {
    stream: tokio_serial::SerialStream,
    path: PathBuf,
    line: Line,
    lines: LinesState,
}

impl SerialLine {
    /// Opens the profile's line, or `device_override` instead of
    /// `line.device` (tests, `dialtonectl --device`), with the profile's
    /// speed and flow control, 8N1, in raw mode and for exclusive use.
    ///
    /// Must be called inside a tokio runtime (the stream registers with its
    /// reactor).
    pub fn open(line: &Line, device_override: Option<&Path>) -> Result<SerialLine, SerialError> {
        let path = device_override
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(&line.device));
        check_file_type(&path)?;
        let Some(name) = path.to_str() else {
            return Err(SerialError::Setup {
                path,
                problem: "the path is not valid UTF-8".into(),
            });
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SerialError::Setup {
                path,
                problem: "SerialLine::open must be called inside a tokio runtime".into(),
            });
        }
        let flow = match line.flow_control {
            FlowControl::None => tokio_serial::FlowControl::None,
            FlowControl::Hardware => tokio_serial::FlowControl::Hardware,
            FlowControl::Software => tokio_serial::FlowControl::Software,
        };
        let mut stream = tokio_serial::new(name, line.speed)
            .flow_control(flow)
            .data_bits(tokio_serial::DataBits::Eight)
            .parity(tokio_serial::Parity::None)
            .stop_bits(tokio_serial::StopBits::One)
            .open_native_async()
            .map_err(|e| diagnose(&path, e))?;
        // serialport opens ports exclusively by default (TIOCEXCL + flock);
        // make sure of it all the same.
        if !stream.exclusive() {
            stream
                .set_exclusive(true)
                .map_err(|_| SerialError::Busy { path: path.clone() })?;
        }
        configure_termios(stream.as_raw_fd(), line.speed).map_err(|problem| {
            SerialError::Setup {
                path: path.clone(),
                problem,
            }
        })?;
        // Whatever waited in the input queue (a modem's answer to the last
        // program's hang-up) is not for us.
        // SAFETY: tcflush on the stream's own open descriptor.
        unsafe { libc::tcflush(stream.as_raw_fd(), libc::TCIFLUSH) };
        Ok(SerialLine {
            stream,
            path,
            line: line.clone(),
            lines: LinesState::default(),
        })
    }

    /// The device that was opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The line settings it was opened with (the device field as in the
    /// profile, even when overridden).
    pub fn line(&self) -> &Line {
        &self.line
    }

    /// Whether the port has modem-control lines: `None` until a
    /// [`ModemControl`] call has found out.
    pub fn has_modem_lines(&self) -> Option<bool> {
        self.lines.known
    }

    /// A second handle on this line's modem-control lines (a duplicate of
    /// its file descriptor), for a task that watches the carrier while
    /// another owns the data stream.
    pub fn modem_lines(&self) -> io::Result<ModemLines> {
        // SAFETY: F_DUPFD_CLOEXEC on an open descriptor; the result is a
        // new descriptor that we own.
        let fd = unsafe { libc::fcntl(self.stream.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ModemLines {
            // SAFETY: `fd` was just created and nothing else owns it.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            lines: LinesState {
                known: self.lines.known,
            },
        })
    }

    /// The tokio-serial stream underneath.
    pub fn get_ref(&self) -> &tokio_serial::SerialStream {
        &self.stream
    }

    /// The tokio-serial stream underneath, mutably.
    pub fn get_mut(&mut self) -> &mut tokio_serial::SerialStream {
        &mut self.stream
    }
}

impl AsRawFd for SerialLine {
    fn as_raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}

impl ModemControl for SerialLine {
    fn carrier(&mut self) -> Result<bool, Unsupported> {
        let fd = self.stream.as_raw_fd();
        self.lines.carrier(fd)
    }

    fn set_dtr(&mut self, on: bool) -> Result<(), Unsupported> {
        let fd = self.stream.as_raw_fd();
        self.lines.set_dtr(fd, on)
    }
}

impl AsyncRead for SerialLine {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SerialLine {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The modem-control lines of a [`SerialLine`] on a descriptor of their
/// own ([`SerialLine::modem_lines`]).
#[derive(Debug)]
pub struct ModemLines {
    fd: OwnedFd,
    lines: LinesState,
}

impl ModemLines {
    /// Whether the port has modem-control lines: `None` until a
    /// [`ModemControl`] call has found out.
    pub fn has_modem_lines(&self) -> Option<bool> {
        self.lines.known
    }
}

impl ModemControl for ModemLines {
    fn carrier(&mut self) -> Result<bool, Unsupported> {
        self.lines.carrier(self.fd.as_raw_fd())
    }

    fn set_dtr(&mut self, on: bool) -> Result<(), Unsupported> {
        self.lines.set_dtr(self.fd.as_raw_fd(), on)
    }
}

/// Refuses, before anything is opened, paths that cannot be serial ports.
fn check_file_type(path: &Path) -> Result<(), SerialError> {
    let meta = std::fs::metadata(path).map_err(|e| SerialError::from_errno(path, e))?;
    let file_type = meta.file_type();
    let what = if file_type.is_dir() {
        "it is a directory"
    } else if file_type.is_file() {
        "it is a regular file"
    } else if file_type.is_block_device() {
        "it is a block device"
    } else if file_type.is_fifo() {
        "it is a named pipe"
    } else if file_type.is_socket() {
        "it is a socket"
    } else {
        return Ok(());
    };
    Err(SerialError::NotATty {
        path: path.to_path_buf(),
        what,
    })
}

/// Turns a tokio-serial error into a [`SerialError`]. Its errors lose the
/// `errno` (everything but `EBUSY`, `EACCES` and `ENOENT` becomes
/// "unknown"), so the open is repeated here to learn it.
fn diagnose(path: &Path, err: tokio_serial::Error) -> SerialError {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return SerialError::Setup {
            path: path.to_path_buf(),
            problem: err.description,
        };
    };
    // SAFETY: a valid NUL-terminated path; the descriptor is owned below.
    let fd = unsafe {
        libc::open(
            c_path.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return SerialError::from_errno(path, io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: isatty on an open descriptor.
    let is_tty = unsafe { libc::isatty(fd.as_raw_fd()) } == 1;
    drop(fd);
    let path = path.to_path_buf();
    if !is_tty {
        return SerialError::NotATty {
            path,
            what: "it is a device but not a terminal",
        };
    }
    match err.kind {
        // serialport's word for EBUSY from TIOCEXCL and for a held flock.
        tokio_serial::ErrorKind::NoDevice => SerialError::Busy { path },
        tokio_serial::ErrorKind::Io(io::ErrorKind::PermissionDenied) => {
            SerialError::PermissionDenied { path }
        }
        tokio_serial::ErrorKind::Io(io::ErrorKind::NotFound) => SerialError::NoSuchDevice { path },
        _ => SerialError::Setup {
            path,
            problem: err.description,
        },
    }
}

/// The termios constant for a speed, where there is one.
fn speed_constant(speed: u32) -> Option<libc::speed_t> {
    Some(match speed {
        300 => libc::B300,
        600 => libc::B600,
        1200 => libc::B1200,
        2400 => libc::B2400,
        4800 => libc::B4800,
        9600 => libc::B9600,
        19_200 => libc::B19200,
        38_400 => libc::B38400,
        57_600 => libc::B57600,
        115_200 => libc::B115200,
        230_400 => libc::B230400,
        460_800 => libc::B460800,
        500_000 => libc::B500000,
        576_000 => libc::B576000,
        921_600 => libc::B921600,
        1_000_000 => libc::B1000000,
        1_152_000 => libc::B1152000,
        1_500_000 => libc::B1500000,
        2_000_000 => libc::B2000000,
        3_000_000 => libc::B3000000,
        _ => return None,
    })
}

/// Sets the speed with the classic `Bnnn` constants (serialport sets it
/// with `BOTHER`, which `stty` and `cfgetospeed` do not understand), makes
/// sure the line is raw, and checks that the kernel kept both.
fn configure_termios(fd: RawFd, speed: u32) -> Result<(), String> {
    // SAFETY: termios is plain old data; tcgetattr fills it in.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and pointer.
    if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
        return Err(format!("tcgetattr: {}", io::Error::last_os_error()));
    }
    let constant = speed_constant(speed);
    if let Some(b) = constant {
        // SAFETY: valid pointer to an initialised termios.
        unsafe {
            libc::cfsetospeed(&mut t, b);
            libc::cfsetispeed(&mut t, b);
        }
    }
    // Raw, as serialport already made it; flow control's IXON/IXOFF and
    // CRTSCTS are left as it set them.
    t.c_lflag &= !(libc::ICANON | libc::ECHO | libc::ECHOE | libc::ECHONL | libc::ISIG);
    t.c_lflag &= !libc::IEXTEN;
    t.c_oflag &= !libc::OPOST;
    t.c_iflag &= !(libc::IGNBRK
        | libc::BRKINT
        | libc::PARMRK
        | libc::ISTRIP
        | libc::INLCR
        | libc::IGNCR
        | libc::ICRNL);
    t.c_cflag |= libc::CREAD | libc::CLOCAL;
    t.c_cc[libc::VMIN] = 1;
    t.c_cc[libc::VTIME] = 0;
    // SAFETY: valid descriptor and pointer.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } != 0 {
        return Err(format!("tcsetattr: {}", io::Error::last_os_error()));
    }
    // SAFETY: as above.
    let mut actual: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and pointer.
    if unsafe { libc::tcgetattr(fd, &mut actual) } != 0 {
        return Err(format!("tcgetattr: {}", io::Error::last_os_error()));
    }
    if let Some(b) = constant {
        // SAFETY: valid pointer to an initialised termios.
        if unsafe { libc::cfgetospeed(&actual) } != b {
            return Err(format!("the port does not accept {speed} bit/s"));
        }
    }
    if actual.c_lflag & (libc::ICANON | libc::ECHO | libc::ISIG) != 0
        || actual.c_oflag & libc::OPOST != 0
    {
        return Err("the port did not accept raw mode".into());
    }
    Ok(())
}

/// What [`CarrierMonitor::poll`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CarrierReading {
    /// What the lines said; `None` for a [`Carrier::Local`] line, whose
    /// lines are not consulted.
    pub state: Option<CarrierState>,
    /// Whether the link should be considered to have carrier.
    pub up: bool,
    /// Something to tell the user, at most once per monitor:
    /// [`NO_MODEM_LINES_NOTICE`].
    pub notice: Option<&'static str>,
}

/// The profile's carrier rule:
///
/// * [`Carrier::Local`]: the control lines are ignored; the carrier is
///   always up.
/// * [`Carrier::Modem`]: the carrier is what DCD says; if the port has no
///   modem-control lines it is taken as up, and [`NO_MODEM_LINES_NOTICE`]
///   is reported the first time.
#[derive(Clone, Debug)]
pub struct CarrierMonitor {
    mode: Carrier,
    noticed: bool,
}

impl CarrierMonitor {
    /// A monitor for a line with this carrier setting.
    pub fn new(mode: Carrier) -> Self {
        CarrierMonitor {
            mode,
            noticed: false,
        }
    }

    /// The carrier setting.
    pub fn mode(&self) -> Carrier {
        self.mode
    }

    /// Reads the lines (not for a local line) and applies the rule.
    pub fn poll<M: ModemControl + ?Sized>(&mut self, lines: &mut M) -> CarrierReading {
        match self.mode {
            Carrier::Local => self.judge(None),
            Carrier::Modem => {
                let state = lines.carrier_state();
                self.judge(Some(state))
            }
        }
    }

    /// Applies the rule to a state read elsewhere (`None`: not read).
    pub fn judge(&mut self, state: Option<CarrierState>) -> CarrierReading {
        let (up, notice) = match (self.mode, state) {
            (Carrier::Local, _) | (Carrier::Modem, None) => (true, None),
            (Carrier::Modem, Some(CarrierState::Up)) => (true, None),
            (Carrier::Modem, Some(CarrierState::Down)) => (false, None),
            (Carrier::Modem, Some(CarrierState::Unsupported)) => {
                let first = !self.noticed;
                self.noticed = true;
                (true, first.then_some(NO_MODEM_LINES_NOTICE))
            }
        };
        CarrierReading { state, up, notice }
    }
}

/// Polls the lines every `interval` and returns once the carrier, by the
/// monitor's rule, is down. Notices go to `notice`. Where the carrier can
/// never go down (a local line, a port without modem-control lines) it
/// stops polling and never returns: use it in a `select!`.
pub async fn carrier_lost<M, F>(
    lines: &mut M,
    monitor: &mut CarrierMonitor,
    interval: Duration,
    mut notice: F,
) where
    M: ModemControl + ?Sized,
    F: FnMut(&'static str),
{
    loop {
        let reading = monitor.poll(lines);
        if let Some(text) = reading.notice {
            notice(text);
        }
        if !reading.up {
            return;
        }
        if matches!(reading.state, None | Some(CarrierState::Unsupported)) {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(interval).await;
    }
}

/// How [`hang_up`] hung up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HangUpMethod {
    /// DTR was dropped for [`DTR_DROP`] and raised again.
    Dtr,
    /// DTR cannot be driven: the Hayes escape (`+++` between two guard
    /// times of silence) and `ATH\r` were sent.
    Escape,
}

/// Hangs the modem up: drops DTR for [`DTR_DROP`], then raises it again.
/// Where DTR cannot be driven (a pty, a three-wire cable) it falls back to
/// the Hayes escape: `guard` of silence, `+++`, `guard` of silence, then
/// `ATH\r`. The modem's answer, if any, is left for the caller to read.
pub async fn hang_up<L>(line: &mut L, guard: Duration) -> io::Result<HangUpMethod>
where
    L: ModemControl + AsyncWrite + Unpin + ?Sized,
{
    line.flush().await?;
    if line.set_dtr(false).is_ok() {
        tokio::time::sleep(DTR_DROP).await;
        // It was just dropped, so raising it fails only if the device has
        // gone, and then there is nothing left to hang up.
        let _ = line.set_dtr(true);
        return Ok(HangUpMethod::Dtr);
    }
    tokio::time::sleep(guard).await;
    line.write_all(b"+++").await?;
    line.flush().await?;
    tokio::time::sleep(guard).await;
    line.write_all(b"ATH\r").await?;
    line.flush().await?;
    Ok(HangUpMethod::Escape)
}

/// A test double for the modem-control lines (and the data stream) of a
/// line, for tests of the link runtime.
///
/// Clones share one state, so a test can keep a clone to toggle the
/// carrier ([`FakeModemLines::set_carrier`]) and inspect DTR and what was
/// written while the code under test owns the other. It implements
/// [`ModemControl`], [`AsyncWrite`] (recording the bytes) and
/// [`AsyncRead`] (of what [`FakeModemLines::push_input`] queued).
#[derive(Clone, Debug, Default)]
pub struct FakeModemLines {
    state: Arc<Mutex<FakeState>>,
}

#[derive(Debug, Default)]
struct FakeState {
    no_lines: bool,
    carrier: bool,
    dtr: bool,
    dtr_changes: Vec<bool>,
    carrier_polls: usize,
    written: Vec<u8>,
    input: VecDeque<u8>,
    eof: bool,
    read_waker: Option<Waker>,
}

impl FakeModemLines {
    /// Lines with DTR raised and no carrier.
    pub fn new() -> Self {
        let fake = FakeModemLines::default();
        fake.lock().dtr = true;
        fake
    }

    /// A port without modem-control lines: every [`ModemControl`] call
    /// answers [`Unsupported`].
    pub fn without_lines() -> Self {
        let fake = FakeModemLines::new();
        fake.lock().no_lines = true;
        fake
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asserts or drops the carrier.
    pub fn set_carrier(&self, up: bool) {
        self.lock().carrier = up;
    }

    /// Whether DTR is raised.
    pub fn dtr(&self) -> bool {
        self.lock().dtr
    }

    /// Every successful [`ModemControl::set_dtr`], in order.
    pub fn dtr_changes(&self) -> Vec<bool> {
        self.lock().dtr_changes.clone()
    }

    /// How many times the carrier was asked for (including unsupported
    /// answers).
    pub fn carrier_polls(&self) -> usize {
        self.lock().carrier_polls
    }

    /// Everything written so far.
    pub fn written(&self) -> Vec<u8> {
        self.lock().written.clone()
    }

    /// Queues bytes for reading.
    pub fn push_input(&self, bytes: &[u8]) {
        let mut state = self.lock();
        state.input.extend(bytes);
        if let Some(waker) = state.read_waker.take() {
            waker.wake();
        }
    }

    /// Ends the input: reads return end of file once the queue is empty.
    pub fn close_input(&self) {
        let mut state = self.lock();
        state.eof = true;
        if let Some(waker) = state.read_waker.take() {
            waker.wake();
        }
    }
}

impl ModemControl for FakeModemLines {
    fn carrier(&mut self) -> Result<bool, Unsupported> {
        let mut state = self.lock();
        state.carrier_polls += 1;
        if state.no_lines {
            Err(Unsupported)
        } else {
            Ok(state.carrier)
        }
    }

    fn set_dtr(&mut self, on: bool) -> Result<(), Unsupported> {
        let mut state = self.lock();
        if state.no_lines {
            return Err(Unsupported);
        }
        state.dtr = on;
        state.dtr_changes.push(on);
        Ok(())
    }
}

impl AsyncRead for FakeModemLines {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        if state.input.is_empty() {
            if state.eof {
                return Poll::Ready(Ok(()));
            }
            state.read_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.remaining().min(state.input.len());
        let bytes: Vec<u8> = state.input.drain(..n).collect();
        buf.put_slice(&bytes);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for FakeModemLines {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.lock().written.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errno(n: i32) -> io::Error {
        io::Error::from_raw_os_error(n)
    }

    #[test]
    fn errno_mapping() {
        let p = Path::new("/dev/ttyS1");
        assert!(matches!(
            SerialError::from_errno(p, errno(libc::ENOENT)),
            SerialError::NoSuchDevice { .. }
        ));
        assert!(matches!(
            SerialError::from_errno(p, errno(libc::ENXIO)),
            SerialError::NoHardware { .. }
        ));
        assert!(matches!(
            SerialError::from_errno(p, errno(libc::EACCES)),
            SerialError::PermissionDenied { .. }
        ));
        assert!(matches!(
            SerialError::from_errno(p, errno(libc::EBUSY)),
            SerialError::Busy { .. }
        ));
        assert!(matches!(
            SerialError::from_errno(p, errno(libc::EIO)),
            SerialError::Io { .. }
        ));
    }

    #[test]
    fn messages_say_what_to_do() {
        let p = PathBuf::from("/dev/ttyS1");
        assert_eq!(
            SerialError::NoSuchDevice { path: p.clone() }.to_string(),
            "/dev/ttyS1 does not exist: is the modem plugged in? (`ls -l /dev/serial/by-id` lists the serial ports by name)"
        );
        let denied = SerialError::PermissionDenied { path: p.clone() }.to_string();
        assert!(denied.starts_with("permission denied opening /dev/ttyS1"));
        assert!(denied.contains("dialout"));
        assert!(SerialError::Busy { path: p.clone() }
            .to_string()
            .contains("in use by another program"));
        assert_eq!(
            SerialError::NotATty {
                path: "/etc/passwd".into(),
                what: "it is a regular file"
            }
            .to_string(),
            "/etc/passwd is not a serial port (it is a regular file)"
        );
        assert_eq!(SerialError::Busy { path: p.clone() }.path(), p.as_path());
    }

    #[test]
    fn unsupported_errnos() {
        assert!(means_unsupported(&errno(libc::ENOTTY)));
        assert!(means_unsupported(&errno(libc::EINVAL)));
        assert!(!means_unsupported(&errno(libc::EIO)));
    }

    #[test]
    fn unsupported_is_remembered() {
        let mut lines = LinesState { known: Some(false) };
        // Not even a valid descriptor: the answer comes from memory.
        assert_eq!(lines.carrier(-1), Err(Unsupported));
        assert_eq!(lines.set_dtr(-1, true), Err(Unsupported));
    }

    #[test]
    fn carrier_ioctl_on_bad_fd_is_not_unsupported() {
        // EBADF is neither ENOTTY nor EINVAL: the line is dead, not
        // without modem lines.
        let mut lines = LinesState::default();
        assert_eq!(lines.carrier(-1), Ok(false));
        assert_eq!(lines.known, None);
    }

    #[test]
    fn every_profile_speed_has_a_constant() {
        for speed in dialtone_api::profile::SPEEDS {
            assert!(speed_constant(speed).is_some(), "{speed}");
        }
        assert_eq!(speed_constant(12_345), None);
    }

    #[tokio::test]
    async fn hang_up_drops_dtr_when_it_can() {
        let mut fake = FakeModemLines::new();
        let watcher = fake.clone();
        let method = hang_up(&mut fake, Duration::from_millis(10)).await.unwrap();
        assert_eq!(method, HangUpMethod::Dtr);
        assert_eq!(watcher.dtr_changes(), vec![false, true]);
        assert!(watcher.dtr());
        assert!(watcher.written().is_empty());
    }

    #[tokio::test]
    async fn hang_up_escapes_without_lines() {
        let mut fake = FakeModemLines::without_lines();
        let method = hang_up(&mut fake, Duration::from_millis(10)).await.unwrap();
        assert_eq!(method, HangUpMethod::Escape);
        assert_eq!(fake.written(), b"+++ATH\r");
        assert!(fake.dtr_changes().is_empty());
    }
}
