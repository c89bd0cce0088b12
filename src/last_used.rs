//! The connection used last, for `dialtone --connect` without a name and
//! the desktop file's Connect action: one id in
//! `$XDG_STATE_HOME/dialtone/last-connection`, written atomically.
//! A preference of this user's, not state about links.

use std::io::Write;
use std::path::PathBuf;

fn path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(base.join("dialtone/last-connection"))
}

/// The id used last, if any.
pub fn read() -> Option<String> {
    read_from(&path()?)
}

fn read_from(path: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let id = text.trim();
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    valid.then(|| id.to_string())
}

/// Remembers `id`; failures are logged, never shown (it is a convenience).
pub fn write(id: &str) {
    let Some(path) = path() else {
        return;
    };
    if let Err(e) = write_to(&path, id) {
        tracing::warn!(
            "cannot remember the last connection in {}: {e}",
            path.display()
        );
    }
}

fn write_to(path: &std::path::Path, id: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".last-connection.{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(id.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_junk() {
        let dir = std::env::temp_dir().join(format!("dialtone-last-{}", std::process::id()));
        let path = dir.join("sub/last-connection");
        assert_eq!(read_from(&path), None);
        write_to(&path, "example_isp").expect("written");
        assert_eq!(read_from(&path).as_deref(), Some("example_isp"));
        std::fs::write(&path, "../../etc/passwd\n").expect("written");
        assert_eq!(read_from(&path), None, "not an id");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
