//! Atomic, durable file replacement: a new file (or symbolic link) under
//! a temporary name in the same directory, renamed over the old one, so a
//! reader or a crash sees the old version or the new one, never a torn
//! one. Used by the profile store, the managed resolv.conf and /dev/modem.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::lock::describe_io;

/// The directory of `path` (`.` for a bare name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// fsyncs a directory, so that a rename or removal in it survives a power
/// cut. File systems that cannot sync a directory (EINVAL) are let be.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        other => other,
    }
}

/// Makes the temporary files of one process unique.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically and durably: a new temporary file
/// `.<name>.tmp-<pid>-<n>` in the same directory (created with
/// `O_CREAT|O_EXCL` and `mode`, so it is never more open than `mode`, then
/// set to exactly `mode` should the umask have narrowed it), `write_all`,
/// fsync, rename over `path`, fsync the directory.
///
/// On an error up to the rename, the temporary file is removed and `path`
/// is unchanged. Only the last step can fail after `path` was replaced: if
/// the directory cannot be fsynced, the new content is in place but may
/// not survive a power cut, and the error says so.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = parent_dir(path);
    let (tmp, mut file) = create_beside(path, |tmp| {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(tmp)
    })?;
    let written = (|| {
        let meta = file.metadata()?;
        if meta.mode() & 0o7777 != mode & 0o7777 {
            file.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "saved, but the directory could not be synced, so the change may not \
                 survive a power cut: {}",
                describe_io(&e)
            ),
        )
    })
}

/// A temporary name beside `name` in `dir`: `.<name>.tmp-<pid>-<n>`, the
/// pattern the profile store cleans up after a crash.
fn temp_path(dir: &Path, name: &OsStr) -> PathBuf {
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    dir.join(tmp_name)
}

/// Makes something new (`make` must fail with `AlreadyExists` rather than
/// replace) under a temporary name beside `path`; a name left by an
/// earlier process that had our pid is skipped.
fn create_beside<T>(
    path: &Path,
    make: impl Fn(&Path) -> io::Result<T>,
) -> io::Result<(PathBuf, T)> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )
    })?;
    let mut attempts = 0;
    loop {
        let tmp = temp_path(parent_dir(path), name);
        match make(&tmp) {
            Ok(made) => return Ok((tmp, made)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 100 => {
                attempts += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Puts a symbolic link to `target` at `path` atomically: a new link
/// beside it under a temporary name, renamed over `path` (which replaces
/// whatever is there, so callers check first what they may replace). On
/// an error the temporary link is removed and `path` is unchanged.
pub fn symlink_atomic(path: &Path, target: &Path) -> io::Result<()> {
    let (tmp, ()) = create_beside(path, |tmp| std::os::unix::fs::symlink(target, tmp))?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // Making the rename durable is a courtesy here: the link is in place.
    let _ = sync_dir(parent_dir(path));
    Ok(())
}
