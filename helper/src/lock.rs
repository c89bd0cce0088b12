//! UUCP-style lock files for serial devices.
//!
//! Before `dialtoned` opens a modem it creates `<lock dir>/LCK..<name>`
//! (normally `/run/lock/LCK..ttyS1`), the same convention pppd's `lock`
//! option, minicom, mgetty, cu and friends follow, so that two programs
//! never drive one modem at once.
//!
//! * `<name>` is the basename of the device *after* resolving symlinks, so
//!   `/dev/modem -> ttyS1` and `/dev/serial/by-id/usb-… -> ../../ttyUSB0`
//!   lock the same file as the real device node. If the path cannot be
//!   resolved, the basename of the path as given is used.
//! * The file holds the owner's PID in the HDB ("ASCII") format: ten
//!   characters, right-aligned, then a newline (`"      1234\n"`). When
//!   reading, surrounding whitespace is ignored and the old Kermit/UUCP
//!   binary format (a native-endian 4-byte `int`) is accepted as well.
//! * A lock whose owner is dead (`kill(pid, 0)` fails with `ESRCH`), or whose
//!   content is not a PID at all, is stale: it is removed and taken over,
//!   and the returned [`DeviceLock`] says so ([`DeviceLock::took_over_stale`],
//!   [`DeviceLock::takeover_notice`]).
//! * A lock that already holds this process's PID is treated as ours; see
//!   [`acquire`] for what that means for the guards.
//!
//! The lock directory is always a parameter: nothing here hard-codes
//! `/run/lock`.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// How many times [`acquire`] retries when the lock file changes under it
/// (removed between `link()` and `read()`, or replaced while we were
/// removing a stale one) before giving up.
const MAX_ATTEMPTS: usize = 8;

/// Why a device could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds the lock.
    #[error("{} is in use by {}", device.display(), describe_owner(*pid, command.as_deref()))]
    InUse {
        /// The device that was asked for, as given to [`acquire`].
        device: PathBuf,
        /// The lock file that names the owner.
        lock_file: PathBuf,
        /// The PID written in the lock file.
        pid: u32,
        /// The owner's command name from `/proc/<pid>/comm`, if readable.
        command: Option<String>,
    },
    /// A file-system operation on the lock (or temporary) file failed.
    #[error("cannot {action} {}: {}", path.display(), describe_io(source))]
    Io {
        /// What was being done, as a verb phrase: `"create"`, `"read"`,
        /// `"remove stale lock"`, `"remove"`, `"lock"`.
        action: &'static str,
        /// The file the operation was on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// `"minicom (PID 1234)"`, or `"PID 1234"` when the command is unknown.
fn describe_owner(pid: u32, command: Option<&str>) -> String {
    match command {
        Some(command) => format!("{command} (PID {pid})"),
        None => format!("PID {pid}"),
    }
}

/// An `io::Error` as a person reads it in the middle of a sentence:
/// `"permission denied"` rather than `"Permission denied (os error 13)"`.
pub(crate) fn describe_io(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => &text[..],
    };
    let mut chars = text.chars();
    match (chars.next(), chars.clone().next()) {
        (Some(first), Some(second)) if first.is_ascii_uppercase() && !second.is_uppercase() => {
            format!("{}{}", first.to_ascii_lowercase(), chars.as_str())
        }
        _ => text.to_owned(),
    }
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> LockError {
    LockError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Why an existing lock file was taken over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stale {
    /// It named a process that no longer exists.
    DeadProcess(u32),
    /// It did not contain a usable PID (empty, garbage, PID 0, …).
    Unreadable,
}

/// A held lock on a serial device; the lock file is removed when the guard
/// is dropped (or [`released`](DeviceLock::release) explicitly), but only
/// if it still contains our PID.
#[derive(Debug)]
#[must_use = "the device is unlocked as soon as the DeviceLock is dropped"]
pub struct DeviceLock {
    path: PathBuf,
    /// Key into [`HELD`] (the lock path with the lock directory canonicalized).
    key: PathBuf,
    stale: Option<Stale>,
    active: bool,
}

impl DeviceLock {
    /// The lock file, e.g. `/run/lock/LCK..ttyS1`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The PID of the dead process whose stale lock was removed to take
    /// this one, if that happened.
    pub fn took_over_stale(&self) -> Option<u32> {
        match self.stale {
            Some(Stale::DeadProcess(pid)) => Some(pid),
            _ => None,
        }
    }

    /// Whether an existing lock file without a usable PID (empty or
    /// garbage) was removed to take this one.
    pub fn replaced_unreadable(&self) -> bool {
        self.stale == Some(Stale::Unreadable)
    }

    /// A log line describing a stale lock that was taken over, or `None`
    /// if the lock was free (or already ours).
    pub fn takeover_notice(&self) -> Option<String> {
        let path = self.path.display();
        match self.stale? {
            Stale::DeadProcess(pid) => Some(format!(
                "removed stale lock {path} left by PID {pid}, which is no longer running"
            )),
            Stale::Unreadable => Some(format!(
                "removed stale lock {path}: it did not contain a process ID"
            )),
        }
    }

    /// Releases the lock now, reporting failure to remove the lock file
    /// (dropping the guard does the same but has to ignore errors).
    ///
    /// If other guards of this process hold the same lock (see [`acquire`]),
    /// the file stays until the last of them is released.
    pub fn release(mut self) -> Result<(), LockError> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<(), LockError> {
        if !std::mem::replace(&mut self.active, false) {
            return Ok(());
        }
        if !unregister(&self.key) {
            return Ok(()); // another guard of ours still holds it
        }
        let content = match fs::read(&self.path) {
            Ok(content) => content,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error("read", &self.path, e)),
        };
        // Only remove the file if it is still ours: someone may have
        // (wrongly) removed and re-created it in the meantime.
        if parse_pid(&content) != Some(std::process::id()) {
            return Ok(());
        }
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("remove", &self.path, e)),
        }
    }
}

impl Drop for DeviceLock {
    fn drop(&mut self) {
        // Nothing useful to do with an error here; `release` reports it.
        let _ = self.release_inner();
    }
}

/// Locks held by this process: lock-file key and number of live guards.
///
/// A lock file with our PID in it is ours, so a second [`acquire`] of the
/// same device succeeds; this count keeps the first guard's drop from
/// removing the file the second guard still relies on.
static HELD: Mutex<Vec<(PathBuf, usize)>> = Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<(PathBuf, usize)>> {
    // The data is a plain counter table; a panic elsewhere cannot leave it
    // inconsistent, so a poisoned lock is still usable.
    HELD.lock().unwrap_or_else(|poison| poison.into_inner())
}

fn register(key: &Path) {
    let mut held = held();
    match held.iter_mut().find(|(path, _)| path == key) {
        Some((_, count)) => *count += 1,
        None => held.push((key.to_path_buf(), 1)),
    }
}

/// Drops one guard's claim; returns whether it was the last one.
fn unregister(key: &Path) -> bool {
    let mut held = held();
    match held.iter().position(|(path, _)| path == key) {
        Some(at) if held[at].1 > 1 => {
            held[at].1 -= 1;
            false
        }
        Some(at) => {
            held.swap_remove(at);
            true
        }
        None => true,
    }
}

/// The lock file name for `device`: `LCK..` and the basename of the device
/// after resolving symlinks (or of the path as given, if it cannot be
/// resolved). `None` if there is no basename at all (e.g. `/` or `..`).
pub fn lock_file_name(device: &Path) -> Option<OsString> {
    let base = match fs::canonicalize(device) {
        Ok(real) => real.file_name().map(|name| name.to_os_string()),
        Err(_) => None,
    }
    .or_else(|| device.file_name().map(|name| name.to_os_string()))?;
    let mut name = OsString::from("LCK..");
    name.push(base);
    Some(name)
}

/// The HDB ("ASCII") lock file content for `pid`: ten characters,
/// right-aligned, and a newline — what pppd, minicom and mgetty write.
pub fn format_pid(pid: u32) -> String {
    format!("{pid:>10}\n")
}

/// The PID in a lock file's content, or `None` if there is no usable one.
///
/// Accepts the HDB/ASCII format with any surrounding whitespace (and the
/// trailing NULs some old programs left), and the old Kermit/UUCP binary
/// format: exactly four bytes holding a native-endian `int` (tried only if
/// the content is not ASCII digits, and only up to the kernel's
/// `PID_MAX_LIMIT`, so that four bytes of text are never misread as a PID).
/// PIDs that are not positive `pid_t` values are rejected, since `kill()`
/// would treat them as process groups.
pub fn parse_pid(content: &[u8]) -> Option<u32> {
    let valid = |pid: i64| {
        (1..=i64::from(i32::MAX))
            .contains(&pid)
            .then_some(pid as u32)
    };
    let trimmed = content
        .iter()
        .position(|b| !is_padding(*b))
        .map(|start| {
            let end = content
                .iter()
                .rposition(|b| !is_padding(*b))
                .unwrap_or(start);
            &content[start..=end]
        })
        .unwrap_or(&[]);
    if !trimmed.is_empty() && trimmed.iter().all(u8::is_ascii_digit) {
        // All digits: the ASCII format. Too many digits is garbage, not a
        // reason to fall back to the binary reading.
        return std::str::from_utf8(trimmed)
            .ok()?
            .parse::<i64>()
            .ok()
            .and_then(valid);
    }
    let binary: [u8; 4] = content.try_into().ok()?;
    let pid = i32::from_ne_bytes(binary);
    // Text (e.g. "   \n") read as an int is far above any real PID; the
    // kernel never hands out PIDs above PID_MAX_LIMIT (2^22).
    if pid > PID_MAX_LIMIT {
        return None;
    }
    valid(i64::from(pid))
}

/// The largest PID Linux can hand out (`PID_MAX_LIMIT` on 64-bit kernels).
const PID_MAX_LIMIT: i32 = 1 << 22;

fn is_padding(byte: u8) -> bool {
    byte.is_ascii_whitespace() || byte == 0
}

/// Whether process `pid` exists: `kill(pid, 0)` succeeds, or fails only
/// because we may not signal it (`EPERM`). Only `ESRCH` means dead.
pub(crate) fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill() with signal 0 sends nothing; it only checks that the
    // process exists and may be signalled. `pid` is positive, so it names a
    // single process, never a process group.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// The command name of process `pid` from `/proc/<pid>/comm`.
fn command_name(pid: u32) -> Option<String> {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let comm = comm.trim_end_matches('\n').trim();
    (!comm.is_empty()).then(|| comm.to_owned())
}

/// Locks `device` by creating `<lock_dir>/LCK..<name>` (see the
/// [module documentation](self) for the name and format).
///
/// * If the lock file names another live process, fails with
///   [`LockError::InUse`] (including the owner's command name when
///   `/proc` has it).
/// * If it names a dead process, or holds no usable PID, it is stale: it is
///   removed and the lock taken, and [`DeviceLock::took_over_stale`] /
///   [`DeviceLock::replaced_unreadable`] / [`DeviceLock::takeover_notice`]
///   report it.
/// * If it holds **this** process's PID, it is ours: the call succeeds
///   without rewriting the file and returns another guard. Guards for the
///   same lock file are counted, and the file is removed only when the last
///   of them is dropped, so re-locking a device the process already holds
///   (e.g. when redialling) is safe. A file with our PID that no guard of
///   ours holds (left behind by an earlier process that had the same PID)
///   is simply adopted.
///
/// The lock file is created race-free: the PID is written to a temporary
/// `LTMP.<pid>.<n>` file in `lock_dir`, which is then `link()`ed to the lock
/// name (failing if it exists), so the lock never appears without its PID.
pub fn acquire(lock_dir: &Path, device: &Path) -> Result<DeviceLock, LockError> {
    let name = lock_file_name(device).ok_or_else(|| {
        io_error(
            "lock",
            device,
            io::Error::new(ErrorKind::InvalidInput, "the path names no device file"),
        )
    })?;
    let path = lock_dir.join(&name);
    let key = fs::canonicalize(lock_dir)
        .map(|dir| dir.join(&name))
        .unwrap_or_else(|_| path.clone());
    let me = std::process::id();
    let mut stale = None;

    for _ in 0..MAX_ATTEMPTS {
        match create_lock(lock_dir, &path, me) {
            Ok(()) => return Ok(guard(path, key, stale)),
            Err(LockError::Io { source, .. }) if source.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let content = match fs::read(&path) {
            Ok(content) => content,
            // Removed between our link() and read(): try again.
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error("read", &path, e)),
        };
        let why = match parse_pid(&content) {
            Some(pid) if pid == me => return Ok(guard(path, key, stale)),
            Some(pid) if process_alive(pid) => {
                return Err(LockError::InUse {
                    device: device.to_path_buf(),
                    lock_file: path,
                    pid,
                    command: command_name(pid),
                })
            }
            Some(pid) => Stale::DeadProcess(pid),
            None => Stale::Unreadable,
        };
        remove_stale(&path, &content)?;
        stale = Some(why);
    }
    Err(io_error(
        "create",
        &path,
        io::Error::other("the lock file kept changing while we tried to take it"),
    ))
}

fn guard(path: PathBuf, key: PathBuf, stale: Option<Stale>) -> DeviceLock {
    register(&key);
    DeviceLock {
        path,
        key,
        stale,
        active: true,
    }
}

/// Removes a stale lock file, but only if it still holds what we judged
/// stale: if another process took it over meanwhile and wrote its own PID,
/// that lock is left alone and the next attempt sees it. (A window between
/// the re-read and the unlink remains; UUCP locking has no atomic
/// compare-and-remove.)
fn remove_stale(path: &Path, judged: &[u8]) -> Result<(), LockError> {
    match fs::read(path) {
        Ok(now) if now == judged => {}
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("read", path, e)),
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove stale lock", path, e)),
    }
}

/// Creates the lock file at `path` holding `pid`, failing with
/// `AlreadyExists` (inside [`LockError::Io`]) if it exists.
///
/// Why write a temporary file and `link()` it rather than
/// `OpenOptions::create_new` + write: with `create_new` the lock file exists
/// *empty* for a moment before the PID is written, and another locker that
/// reads it in that moment sees no PID, judges it stale, deletes it and
/// takes the device too. `link()` makes the lock file appear atomically with
/// its full content, and fails if the name exists — the classic race-free
/// UUCP method. On file systems without hard links (`link()` fails with
/// `EPERM`/`ENOTSUP`) we fall back to `create_new`, which is still exclusive.
fn create_lock(lock_dir: &Path, path: &Path, pid: u32) -> Result<(), LockError> {
    let content = format_pid(pid);
    let temp = write_temp(lock_dir, path, pid, content.as_bytes())?;
    let linked = fs::hard_link(&temp, path);
    let _ = fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(()),
        Err(e)
            if e.kind() == ErrorKind::Unsupported
                || matches!(e.raw_os_error(), Some(libc::EPERM | libc::EOPNOTSUPP)) =>
        {
            create_new(path, content.as_bytes())
        }
        Err(e) => Err(io_error("create", path, e)),
    }
}

/// Writes `content` to a fresh `LTMP.<pid>.<n>` file in `lock_dir`.
///
/// Errors name the lock file `path`, not the temporary file: that is the
/// file the person asked for, and it lives in the same directory.
fn write_temp(
    lock_dir: &Path,
    path: &Path,
    pid: u32,
    content: &[u8],
) -> Result<PathBuf, LockError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut last_error = None;
    for _ in 0..MAX_ATTEMPTS {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = lock_dir.join(format!("LTMP.{pid}.{n}"));
        match write_new(&temp, content) {
            Ok(()) => return Ok(temp),
            // Left by a crashed process that had our PID: nobody's now.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&temp);
                last_error = Some(e);
            }
            Err(e) => {
                let _ = fs::remove_file(&temp);
                return Err(io_error("create", path, e));
            }
        }
    }
    let e = last_error.unwrap_or_else(|| io::Error::from(ErrorKind::AlreadyExists));
    Err(io_error("create", path, e))
}

fn create_new(path: &Path, content: &[u8]) -> Result<(), LockError> {
    write_new(path, content).map_err(|e| {
        if e.kind() != ErrorKind::AlreadyExists {
            // Don't leave a half-written lock behind.
            let _ = fs::remove_file(path);
        }
        io_error("create", path, e)
    })
}

/// Creates `path` exclusively (mode 0644, like pppd) and writes `content`.
fn write_new(path: &Path, content: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)?;
    file.write_all(content)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::process::{Child, Command};

    /// A fake device node (a plain file) in the temp dir.
    fn fake_device(dir: &Path, name: &str) -> PathBuf {
        let dev = dir.join("dev");
        fs::create_dir_all(&dev).unwrap();
        let path = dev.join(name);
        fs::write(&path, b"").unwrap();
        path
    }

    fn lock_dir(root: &Path) -> PathBuf {
        let dir = root.join("lock");
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A running `sleep`, killed and reaped when dropped.
    struct Sleeper(Child);

    impl Sleeper {
        fn start() -> Self {
            Sleeper(Command::new("sleep").arg("60").spawn().unwrap())
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

    /// The PID of a process that has exited and been reaped.
    fn dead_pid() -> u32 {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_alive(pid));
        pid
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn lock_writes_hdb_pid_and_leaves_no_temp_files() {
        let root = tempfile::tempdir().unwrap();
        let locks = lock_dir(root.path());
        let device = fake_device(root.path(), "ttyS1");

        let lock = acquire(&locks, &device).unwrap();
        assert_eq!(lock.path(), locks.join("LCK..ttyS1"));
        let content = fs::read_to_string(lock.path()).unwrap();
        assert_eq!(content, format!("{:>10}\n", std::process::id()));
        assert_eq!(content.len(), 11);
        assert_eq!(lock.took_over_stale(), None);
        assert!(!lock.replaced_unreadable());
        assert_eq!(lock.takeover_notice(), None);
        assert_eq!(dir_entries(&locks), ["LCK..ttyS1"]);
    }

    #[test]
    fn lock_format_pid_is_ten_wide_right_aligned() {
        assert_eq!(format_pid(1234), "      1234\n");
        assert_eq!(format_pid(2_147_483_647), "2147483647\n");
    }

    #[test]
    fn lock_release_on_drop_removes_file() {
        let root = tempfile::tempdir().unwrap();
        let locks = lock_dir(root.path());
        let device = fake_device(root.path(), "ttyS0");

        let lock = acquire(&locks, &device).unwrap();
        let path = lock.path().to_path_buf();
        assert!(path.exists());
        drop(lock);
        assert!(!path.exists());
        // And it can be taken again.
        let again = acquire(&locks, &device).unwrap();
        assert!(again.path().exists());
        again.release().unwrap();
        assert!(!path.exists());
    }

    /// Spec: a lock holding our own PID is ours. A second acquire succeeds,
    /// and the file stays until the last guard goes.
    #[test]
    fn lock_relock_by_same_process_is_ours_until_last_guard_drops() {
        let root = tempfile::tempdir().unwrap();
        let locks = lock_dir(root.path());
        let device = fake_device(root.path(), "ttyS2");

        let first = acquire(&locks, &device).unwrap();
        let second = acquire(&locks, &device).unwrap();
        assert_eq!(first.path(), second.path());
        assert_eq!(second.took_over_stale(), None);
        assert!(!second.replaced_unreadable());
        drop(first);
        assert!(second.path().exists(), "second guard still holds it");
        let path = second.path().to_path_buf();
        drop(second);
        assert!(!path.exists());
    }

    #[test]
    fn lock_with_own_pid_left_over_is_adopted_and_removed_on_drop() {
        let root = tempfile::tempdir().unwrap();
        let locks = lock_dir(root.path());
        let device = fake_device(root.path(), "ttyS3");
        let path = locks.join("LCK..ttyS3");
        fs::write(&path, format_pid(std::process::id())).unwrap();

        let lock = acquire(&locks, &device).unwrap();
        assert_eq!(lock.took_over_stale(), None);
        drop(lock);
        assert!(!path.exists());
    }

    #[test]
    fn lock_held_by_live_process_is_in_use_with_command_name() {
        let root = tempfile::tempdir().unwrap();
        let locks = lock_dir(root.path());
        let device = fake_device(root.path(), "ttyS1");
        let sleeper = Sleeper::start();
        let path = locks.join("LCK..ttyS1");
        fs::write(&path, format_pid(sleeper.pid())).unwrap();

        let err = acquire(&locks, &device).unwrap_err();
        match &err {
            LockError::InUse {
                pid,
                command,
                lock_file,
                device: dev,
            } => {
                assert_eq!(*pid, sleeper.pid());
                assert_eq!(command.as_deref(), Some("sleep"));
                assert_eq!(lock_file, &path);
                assert_eq!(dev, &device);
            }
            other => panic!("expected InUse, got {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            format!(
                "{} is in use by sleep (PID {})",
                device.display(),
                sleeper.pid()
            )
        );
        // The foreign lock is untouched.
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format_pid(sleeper.pid())
        );
    }

    #[test]
    fn lock_held_by_pid_1_is_in_use() {
        // PID 1 always exists (kill gives 0 or EPERM, both mean alive).
        let root = tempfile::tempdir().unwrap();
        let locks = lock_dir(root.path());
        let device = fake_device(root.path(), "ttyS1");
        fs::write(locks.join("LCK..ttyS1"), "         1\n").unwrap();

        match acquire(&locks, &device) {
            Err(LockError::InUse { pid: 1, .. }) => {}
            other => panic!("expected InUse by PID 1, got {other:?}"),
        }
    }

    #[test]
    fn lock_of_dead_process_is_taken_over_and_reported() {
        let root = tempfile::tempdir().unwrap();
        let locks = lock_dir(root.path());
        let device = fake_device(root.path(), "ttyUSB0");
        let dead = dead_pid();
        fs::write(locks.join("LCK..ttyUSB0"), format_pid(dead)).unwrap();

        let lock = acquire(&locks, &device).unwrap();
        assert_eq!(lock.took_over_stale(), Some(dead));
        assert!(!lock.replaced_unreadable());
        let notice = lock.takeover_notice().unwrap();
        assert!(notice.contains(&format!("PID {dead}")), "{notice}");
        assert!(notice.contains("LCK..ttyUSB0"), "{notice}");
        assert_eq!(
            fs::read_to_string(lock.path()).unwrap(),
            format_pid(std::process::id())
        );
    }

    #[test]
    fn lock_with_garbage_or_empty_content_is_taken_over() {
        for garbage in [
            &b""[..],
            b"\n",
            b"hello modem\n",
            b"0\n",
            b"-5\n",
            b"99999999999\n",
        ] {
            let root = tempfile::tempdir().unwrap();
            let locks = lock_dir(root.path());
            let device = fake_device(root.path(), "ttyS1");
            fs::write(locks.join("LCK..ttyS1"), garbage).unwrap();

            let lock = acquire(&locks, &device).unwrap();
            assert!(lock.replaced_unreadable(), "{garbage:?}");
            assert_eq!(lock.took_over_stale(), None);
            assert!(lock.takeover_notice().is_some());
            assert_eq!(
                fs::read_to_string(lock.path()).unwrap(),
                format_pid(std::process::id())
            );
        }
    }

    #[test]
    fn lock_name_uses_symlink_target_basename() {
        let root = tempfile::tempdir().unwrap();
        let locks = lock_dir(root.path());
        let real = fake_device(root.path(), "ttyUSB0");
        // /dev/modem -> ttyUSB0 and /dev/serial/by-id/usb-… -> ../../ttyUSB0
        let modem = root.path().join("dev/modem");
        symlink("ttyUSB0", &modem).unwrap();
        let by_id = root.path().join("dev/serial/by-id");
        fs::create_dir_all(&by_id).unwrap();
        let usb = by_id.join("usb-US_Robotics_56K_FAX-if00");
        symlink("../../ttyUSB0", &usb).unwrap();

        let lock = acquire(&locks, &modem).unwrap();
        assert_eq!(lock.path(), locks.join("LCK..ttyUSB0"));
        // The same device through another link is the same lock: ours.
        let other = acquire(&locks, &usb).unwrap();
        assert_eq!(other.path(), locks.join("LCK..ttyUSB0"));
        assert_eq!(lock_file_name(&real).unwrap(), "LCK..ttyUSB0");
    }

    #[test]
    fn lock_name_of_unresolvable_path_is_its_basename() {
        let root = tempfile::tempdir().unwrap();
        let locks = lock_dir(root.path());
        let missing = root.path().join("dev/ttyACM7");
        let dangling = root.path().join("modem");
        symlink(root.path().join("nowhere/ttyS9"), &dangling).unwrap();

        assert_eq!(lock_file_name(&missing).unwrap(), "LCK..ttyACM7");
        assert_eq!(lock_file_name(&dangling).unwrap(), "LCK..modem");
        let lock = acquire(&locks, &missing).unwrap();
        assert_eq!(lock.path(), locks.join("LCK..ttyACM7"));
        assert_eq!(lock_file_name(Path::new("/")), None);
        assert!(matches!(
            acquire(&locks, Path::new("/")),
            Err(LockError::Io { .. })
        ));
    }

    #[test]
    fn lock_drop_keeps_file_replaced_by_another_pid() {
        let root = tempfile::tempdir().unwrap();
        let locks = lock_dir(root.path());
        let device = fake_device(root.path(), "ttyS1");

        let lock = acquire(&locks, &device).unwrap();
        let path = lock.path().to_path_buf();
        // Someone removes our lock and writes their own.
        fs::remove_file(&path).unwrap();
        fs::write(&path, format_pid(1)).unwrap();
        drop(lock);
        assert_eq!(fs::read_to_string(&path).unwrap(), format_pid(1));
    }

    #[test]
    fn lock_binary_pid_format_is_read() {
        let root = tempfile::tempdir().unwrap();
        let locks = lock_dir(root.path());
        let device = fake_device(root.path(), "ttyS1");
        let path = locks.join("LCK..ttyS1");

        // Live owner in binary format: in use.
        let sleeper = Sleeper::start();
        let live = i32::try_from(sleeper.pid()).unwrap();
        fs::write(&path, live.to_ne_bytes()).unwrap();
        match acquire(&locks, &device) {
            Err(LockError::InUse { pid, command, .. }) => {
                assert_eq!(pid, sleeper.pid());
                assert_eq!(command.as_deref(), Some("sleep"));
            }
            other => panic!("expected InUse, got {other:?}"),
        }

        // Dead owner in binary format: taken over, PID reported.
        let dead = dead_pid();
        fs::write(&path, i32::try_from(dead).unwrap().to_ne_bytes()).unwrap();
        let lock = acquire(&locks, &device).unwrap();
        assert_eq!(lock.took_over_stale(), Some(dead));
    }

    #[test]
    fn lock_parse_pid_accepts_whitespace_and_binary() {
        assert_eq!(parse_pid(b"      1234\n"), Some(1234));
        assert_eq!(parse_pid(b"1234"), Some(1234)); // 4 ASCII digits, not binary
        assert_eq!(parse_pid(b"  \t 42 \r\n\0\0"), Some(42));
        assert_eq!(parse_pid(&4321i32.to_ne_bytes()), Some(4321));
        assert_eq!(parse_pid(&0i32.to_ne_bytes()), None);
        assert_eq!(parse_pid(&(-7i32).to_ne_bytes()), None);
        assert_eq!(parse_pid(b""), None);
        assert_eq!(parse_pid(b"   \n"), None);
        assert_eq!(parse_pid(b"12 34\n"), None);
        assert_eq!(parse_pid(b"2147483648\n"), None);
        assert_eq!(parse_pid(b"LCK\n"), None);
        assert_eq!(parse_pid(b"ab\n\n"), None); // 4 bytes of text, not a binary PID
        assert_eq!(parse_pid(&4_194_304i32.to_ne_bytes()), Some(4_194_304));
    }

    #[test]
    fn lock_missing_dir_is_an_io_error_naming_the_lock_file() {
        let root = tempfile::tempdir().unwrap();
        let locks = root.path().join("no-such-dir");
        let device = fake_device(root.path(), "ttyS1");

        let err = acquire(&locks, &device).unwrap_err();
        assert!(matches!(err, LockError::Io { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.starts_with("cannot create "), "{message}");
        assert!(
            message.ends_with(": no such file or directory"),
            "{message}"
        );
        assert!(message.contains(&*locks.to_string_lossy()), "{message}");
    }

    #[test]
    fn lock_error_messages_read_well() {
        let in_use = LockError::InUse {
            device: "/dev/ttyS1".into(),
            lock_file: "/run/lock/LCK..ttyS1".into(),
            pid: 1234,
            command: Some("minicom".into()),
        };
        assert_eq!(
            in_use.to_string(),
            "/dev/ttyS1 is in use by minicom (PID 1234)"
        );
        let unknown = LockError::InUse {
            device: "/dev/ttyS1".into(),
            lock_file: "/run/lock/LCK..ttyS1".into(),
            pid: 1234,
            command: None,
        };
        assert_eq!(unknown.to_string(), "/dev/ttyS1 is in use by PID 1234");
        let denied = LockError::Io {
            action: "create",
            path: "/run/lock/LCK..ttyS1".into(),
            source: io::Error::from_raw_os_error(libc::EACCES),
        };
        assert_eq!(
            denied.to_string(),
            "cannot create /run/lock/LCK..ttyS1: permission denied"
        );
    }

    proptest::proptest! {
        #[test]
        fn lock_format_then_parse_round_trips(pid in 1u32..=i32::MAX as u32) {
            proptest::prop_assert_eq!(parse_pid(format_pid(pid).as_bytes()), Some(pid));
        }

        #[test]
        fn lock_parse_pid_never_panics(content in proptest::collection::vec(proptest::num::u8::ANY, 0..16)) {
            if let Some(pid) = parse_pid(&content) {
                proptest::prop_assert!(pid >= 1 && pid <= i32::MAX as u32);
            }
        }
    }
}
