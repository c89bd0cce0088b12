//! What a crashed daemon leaves behind, put right at the next start.
//!
//! - The managed resolv.conf: restored from its backup ([`Dns::recover`]).
//!   systemd-resolved forgets a link's DNS when its interface goes away.
//! - TUN interfaces: Dialtone's are not persistent, so the kernel removes
//!   them (and every address and route through them) when the crashed
//!   process's file descriptors close. Nothing is deleted by name here: a
//!   `dialtoned run` in the foreground may own a `dtn*` interface too.
//! - Default routes a link had replaced: journaled by the session
//!   ([`crate::net::RouteJournal`]) and put back.
//! - UUCP lock files holding the dead daemon's pid (recorded in
//!   `<state_dir>/dialtoned.pid`): removed. A lock of any other dead
//!   process is left for whoever takes the port next; [`crate::lock`]
//!   takes stale locks over anyway.

use std::path::Path;

use super::ServiceConfig;
use crate::dns::Dns;
use crate::lock::{parse_pid, process_alive};

/// The file holding the running daemon's pid.
pub fn pid_file(state_dir: &Path) -> std::path::PathBuf {
    state_dir.join("dialtoned.pid")
}

/// Cleans up after a crashed predecessor and records this daemon's pid.
/// Returns one line per thing done or failed, for the log.
pub async fn after_crash(config: &ServiceConfig, dns: &Dns) -> Vec<String> {
    let mut log = Vec::new();
    match dns.recover().await {
        Ok(true) => log.push("restored the resolver configuration a crashed run left".into()),
        Ok(false) => {}
        Err(e) => log.push(format!(
            "could not restore an earlier resolver configuration: {e}"
        )),
    }
    match crate::net::RouteJournal::new(&config.state_dir)
        .recover()
        .await
    {
        Ok(0) => {}
        Ok(n) => log.push(format!(
            "put back {n} default route(s) a crashed run had replaced"
        )),
        Err(e) => log.push(format!("route journal: {e}")),
    }
    if let Err(e) = std::fs::create_dir_all(&config.lock_dir) {
        log.push(format!(
            "cannot create the lock directory {}: {e}",
            config.lock_dir.display()
        ));
    }
    let pid_path = pid_file(&config.state_dir);
    let previous = std::fs::read(&pid_path).ok().and_then(|c| parse_pid(&c));
    if let Some(old) = previous.filter(|&p| p != std::process::id() && !process_alive(p)) {
        if let Ok(entries) = std::fs::read_dir(&config.lock_dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if !name.to_string_lossy().starts_with("LCK..") {
                    continue;
                }
                let holder = std::fs::read(entry.path()).ok().and_then(|c| parse_pid(&c));
                if holder == Some(old) {
                    match std::fs::remove_file(entry.path()) {
                        Ok(()) => log.push(format!(
                            "removed {} left by the crashed daemon (PID {old})",
                            entry.path().display()
                        )),
                        Err(e) => {
                            log.push(format!("could not remove {}: {e}", entry.path().display()))
                        }
                    }
                }
            }
        }
    }
    if let Err(e) = std::fs::create_dir_all(&config.state_dir).and_then(|()| {
        crate::atomic::write_atomic(
            &pid_path,
            crate::lock::format_pid(std::process::id()).as_bytes(),
            0o644,
        )
    }) {
        log.push(format!("could not write {}: {e}", pid_path.display()));
    }
    log
}
