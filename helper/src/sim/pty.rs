//! Pseudo-terminals: the simulated modem's serial port.
//!
//! A [`Pty`] is a pty pair whose *slave* (`/dev/pts/N`) plays the modem's
//! serial device: a dialer opens it like `/dev/ttyS0`. The simulator owns
//! the *master*, a tokio [`AsyncRead`] + [`AsyncWrite`] ([`PtyMaster`]).
//!
//! * The slave starts in raw mode (`cfmakeraw`: 8 bits, no echo, no line
//!   editing, no CR/NL translation, no XON/XOFF), `VMIN` 1, `VTIME` 0.
//! * The [`Pty`] keeps a slave descriptor of its own open for its whole
//!   life, so the master never sees a hang-up (`EIO`/`POLLHUP`) when the
//!   program on the slave closes and reopens it, as dialers do between
//!   calls. A consequence worth knowing: what the master writes while
//!   nobody has the slave open waits in the slave's input queue for the
//!   next opener, as it would not on a real serial port.
//! * [`Pty::open_with_link`] also points a symbolic link at the slave, so
//!   the device has a stable name (`/tmp/modem` -> `/dev/pts/5`). The link
//!   is created under a temporary name and renamed into place (replacing
//!   whatever was there atomically) and removed on drop, if it still
//!   points at this pty.
//!
//! [`open_pair`] is the lower level: a raw pair with no descriptor kept
//! back, for a program that should see the master hang up when its child
//! on the slave exits (the slirp ISP uses it).

use std::ffi::CStr;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A freshly opened pty pair, both ends close-on-exec.
#[derive(Debug)]
pub struct PtyPair {
    /// The master (blocking mode; [`PtyMaster::new`] makes it async).
    pub master: OwnedFd,
    /// The slave, in raw mode.
    pub slave: OwnedFd,
    /// The slave's path, `/dev/pts/N`.
    pub slave_path: PathBuf,
}

/// Turns a `-1` return into the current `errno`.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Opens a pty pair: the master with `posix_openpt`, the slave by name with
/// `O_NOCTTY`, the slave put in raw mode. Both are close-on-exec.
pub fn open_pair() -> io::Result<PtyPair> {
    // SAFETY: posix_openpt has no memory-safety preconditions; the result is
    // checked and owned right away.
    let m = check(unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) })?;
    // SAFETY: `m` is a fresh descriptor nobody else owns.
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    // SAFETY: `master` is a valid pty master descriptor.
    check(unsafe { libc::grantpt(master.as_raw_fd()) })?;
    // SAFETY: as above.
    check(unsafe { libc::unlockpt(master.as_raw_fd()) })?;
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: the buffer is valid for `name.len()` bytes; ptsname_r writes
    // a NUL-terminated name into it or fails.
    let rc = unsafe { libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: ptsname_r succeeded, so `name` holds a NUL-terminated string.
    let cname = unsafe { CStr::from_ptr(name.as_ptr()) };
    let slave_path = PathBuf::from(std::ffi::OsStr::from_bytes(cname.to_bytes()));
    // SAFETY: `cname` is a valid NUL-terminated path.
    let s = check(unsafe {
        libc::open(
            cname.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `s` is a fresh descriptor nobody else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(s) };
    make_raw(slave.as_fd())?;
    Ok(PtyPair {
        master,
        slave,
        slave_path,
    })
}

/// `cfmakeraw`, `VMIN` 1, `VTIME` 0 on a terminal.
fn make_raw(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: termios is plain old data; all-zero is a valid value that
    // tcgetattr overwrites.
    let mut tio: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and a valid termios to fill.
    check(unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut tio) })?;
    // SAFETY: `tio` is a valid termios.
    unsafe { libc::cfmakeraw(&mut tio) };
    tio.c_cc[libc::VMIN] = 1;
    tio.c_cc[libc::VTIME] = 0;
    // SAFETY: valid descriptor and termios.
    check(unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &tio) })?;
    Ok(())
}

/// Sets `O_NONBLOCK` on a descriptor.
fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFL on a valid descriptor.
    let flags = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: F_SETFL with the flags just read plus O_NONBLOCK.
        check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    }
    Ok(())
}

/// The master side of a pty, as a tokio [`AsyncRead`] + [`AsyncWrite`].
///
/// Reads and writes take `&self` too (`&PtyMaster` implements both
/// traits), so one task can read and write at once. When no slave
/// descriptor is open any more the kernel answers reads with `EIO`; that
/// is reported as end of file.
#[derive(Debug)]
pub struct PtyMaster {
    fd: AsyncFd<OwnedFd>,
}

impl PtyMaster {
    /// Wraps a pty master descriptor: sets `O_NONBLOCK` and registers it
    /// with the tokio reactor. Fails outside a tokio runtime.
    pub fn new(fd: OwnedFd) -> io::Result<PtyMaster> {
        // Registering without a runtime would panic: say so instead.
        tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        set_nonblocking(fd.as_fd())?;
        // SAFETY: an `OwnedFd` is an open descriptor that stays open, and
        // keeps returning the same number, until it is dropped, which only
        // happens when the `AsyncFd` owning it is.
        let fd = unsafe { AsyncFd::register(fd) }?;
        Ok(PtyMaster { fd })
    }

    fn poll_read_inner(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let result = guard.try_io(|fd| {
                // SAFETY: `unfilled` is valid for writes of its length.
                let n = unsafe {
                    libc::read(
                        fd.get_ref().as_raw_fd(),
                        unfilled.as_mut_ptr().cast(),
                        unfilled.len(),
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n.unsigned_abs())
                }
            });
            match result {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Every slave descriptor is closed: end of file.
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Poll::Ready(Ok(())),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_write_inner(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            let result = guard.try_io(|fd| {
                // SAFETY: `data` is valid for reads of its length.
                let n = unsafe {
                    libc::write(fd.get_ref().as_raw_fd(), data.as_ptr().cast(), data.len())
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n.unsigned_abs())
                }
            });
            match result {
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsRawFd for PtyMaster {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.get_ref().as_raw_fd()
    }
}

impl AsFd for PtyMaster {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.get_ref().as_fd()
    }
}

/// `AsyncRead` and `AsyncWrite` for a type (owned or borrowed: reads and
/// writes need only `&PtyMaster`) through the master it reaches with
/// `|this| expr`. Flushing and shutting down have nothing to do.
macro_rules! master_io {
    ($($ty:ty => |$this:ident| $master:expr;)*) => {$(
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let $this: &Self = &self;
                $master.poll_read_inner(cx, buf)
            }
        }

        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let $this: &Self = &self;
                $master.poll_write_inner(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
        }
    )*};
}

master_io! {
    PtyMaster => |this| this;
    &PtyMaster => |this| this;
}

/// A pty whose slave is the simulated modem's serial device. See the
/// [module documentation](self).
#[derive(Debug)]
pub struct Pty {
    master: PtyMaster,
    /// Held open so that the master never hangs up.
    _slave: OwnedFd,
    slave_path: PathBuf,
    link: Option<PathBuf>,
}

impl Pty {
    /// Opens a pty. Fails outside a tokio runtime.
    pub fn open() -> io::Result<Pty> {
        let pair = open_pair()?;
        Ok(Pty {
            master: PtyMaster::new(pair.master)?,
            _slave: pair.slave,
            slave_path: pair.slave_path,
            link: None,
        })
    }

    /// Opens a pty and points the symbolic link `link` at its slave,
    /// replacing whatever `link` was atomically (a directory cannot be
    /// replaced). The link is removed when the `Pty` is dropped.
    pub fn open_with_link(link: impl AsRef<Path>) -> io::Result<Pty> {
        let link = link.as_ref();
        let mut pty = Pty::open()?;
        replace_with_symlink(&pty.slave_path, link)?;
        pty.link = Some(link.to_path_buf());
        Ok(pty)
    }

    /// The slave's path, `/dev/pts/N`.
    pub fn slave_path(&self) -> &Path {
        &self.slave_path
    }

    /// The symbolic link pointing at the slave, if one was asked for.
    pub fn link_path(&self) -> Option<&Path> {
        self.link.as_deref()
    }

    /// The master side.
    pub fn master(&self) -> &PtyMaster {
        &self.master
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Some(link) = &self.link {
            // Only remove the link if nobody has replaced it since.
            if fs::read_link(link).is_ok_and(|target| target == self.slave_path) {
                let _ = fs::remove_file(link);
            }
        }
    }
}

master_io! {
    Pty => |this| this.master;
    &Pty => |this| this.master;
}

/// Makes `link` a symbolic link to `target`: created under a temporary
/// name next to it, then renamed over it.
fn replace_with_symlink(target: &Path, link: &Path) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = link.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file name", link.display()),
        )
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = link.with_file_name(tmp_name);
    std::os::unix::fs::symlink(target, &tmp)
        .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", tmp.display())))?;
    if let Err(e) = fs::rename(&tmp, link) {
        let _ = fs::remove_file(&tmp);
        return Err(io::Error::new(
            e.kind(),
            format!("replacing {}: {e}", link.display()),
        ));
    }
    Ok(())
}
