//! A managed `/etc/resolv.conf`, for systems where systemd-resolved does not
//! run: while links are up the file lists their DNS servers; when the last
//! of them goes down, exactly what was there before comes back — a file
//! with its bytes and mode, a symlink with its target, or nothing.
//!
//! # Several links
//!
//! Several links can be up at once (two modems, say) and they share the
//! file. Each [`ResolvConf::apply`] adds its link to the list of links that
//! contribute to it (a link already listed is replaced, and counts as the
//! newest), and the file is rewritten from that list:
//!
//! * the servers of the most recently up link come first, then those of
//!   the others, newest first; a server listed twice is written once, and
//!   only the first [`MAX_SERVERS`] are written, because the resolver reads
//!   no more;
//! * the search domains are merged the same way, newest link first and
//!   each domain once (compared without regard to case or a trailing dot),
//!   within what every resolver reads: at most [`MAX_SEARCH_DOMAINS`]
//!   domains, on a `search` line of at most [`MAX_SEARCH_LINE`] characters.
//!   `man resolv.conf` gives six domains and 256 characters for glibc up to
//!   2.25 (which cuts a longer list off mid-name; later glibc has no
//!   limit), and musl ignores a whole line that does not fit its 256-byte
//!   buffer. A domain that would not fit is left out;
//! * the comment at the top names the contributing links, newest first.
//!
//! [`ResolvConf::restore`] takes one link out of the list: if others remain
//! the file is rewritten for them, and when the last one goes, what was
//! there before Dialtone took the file over is put back and the backup is
//! deleted.
//!
//! # Crashes
//!
//! Before the file is touched, what was there is saved, once, in a backup
//! file in the helper's state directory, with the list of links; every
//! change writes the backup (fsynced) before the file. So if the helper
//! dies with links up, the next start finds the backup and restores the
//! original ([`ResolvConf::recover`]), however many links were listed:
//! their interfaces died with the helper. Every write is atomic (a
//! temporary file, fsynced, renamed over the target), so a crash never
//! leaves a torn resolv.conf or backup.
//!
//! The backup is a versioned RON file. This is version 2; a version-1
//! backup, written by a release that managed one link at most, is read as
//! the original without any link listed, so [`ResolvConf::recover`]
//! restores it and [`ResolvConf::apply`] keeps its original.
//!
//! # Several tasks, one process
//!
//! Links come and go from different tasks: every change to a managed file
//! is made under one lock in the process, so two links never overwrite
//! each other's backup. The process also remembers which links it has put
//! in the file, and [`ResolvConf::recover`] leaves the file alone while it
//! has any: a session that starts while another link is up must not take
//! that link's DNS away. One process manages a given file; the lock does
//! not reach other processes.
//!
//! # Changes made behind Dialtone's back
//!
//! The file belongs to Dialtone while it is managed. Whatever someone
//! writes into it meanwhile is overwritten when a link comes or goes, and
//! lost when the last link goes: the original saved before the first link
//! came up is put back as it was, as it always has been. Nothing compares
//! the file with what Dialtone wrote.
//!
//! Both paths are parameters: tests never touch the real ones.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use crate::atomic;

/// How many `nameserver` lines the resolver reads (glibc's `MAXNS`): the
/// file gets no more.
pub const MAX_SERVERS: usize = 3;

/// How many search domains the file gets: what glibc up to 2.25 reads
/// (`MAXDNSRCH`).
pub const MAX_SEARCH_DOMAINS: usize = 6;

/// How long the `search` line may be, its newline included. musl reads
/// resolv.conf lines into a 256-byte buffer and ignores a line that does
/// not fit (with its NUL); glibc up to 2.25 keeps 255 characters of the
/// list.
pub const MAX_SEARCH_LINE: usize = 255;

/// The version of the backup written now.
const BACKUP_VERSION: u32 = 2;

/// What was at the resolv.conf path before we took it over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Saved {
    /// A regular file: its bytes and permission bits.
    File { content: Vec<u8>, mode: u32 },
    /// A symlink (e.g. to systemd-resolved's stub or a NetworkManager
    /// file): its target, as bytes.
    Symlink { target: Vec<u8> },
    /// Nothing.
    Absent,
}

/// One link that contributes to the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Link {
    /// Its name (the interface's), as given to [`ResolvConf::apply`].
    name: String,
    /// Its servers, in its order of preference.
    servers: Vec<IpAddr>,
    /// Its search domains.
    search: Vec<String>,
}

/// The backup on disk: what to put back, where, and the links that
/// contribute to the file now, in the order they came up.
///
/// Version 1 had no `links` (it managed one link, whose settings were not
/// kept); it reads as a backup with no link listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Backup {
    version: u32,
    path: PathBuf,
    saved: Saved,
    #[serde(default)]
    links: Vec<Link>,
}

/// Why the resolv.conf could not be managed.
#[derive(Debug, thiserror::Error)]
pub enum ResolvError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The backup file is damaged (or written by a newer release, or for
    /// another path): it is left in place for a person to look at, and the
    /// resolv.conf is not touched.
    #[error("the backup {0} is damaged; it was left in place and nothing was changed")]
    BadBackup(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ResolvError + '_ {
    move |source| ResolvError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What [`ResolvConf::restore`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restored {
    /// The link was the last one: what was there before is back, and the
    /// backup is gone.
    Original,
    /// Other links remain: the file now lists theirs only.
    OthersRemain,
    /// The link was not listed (never applied, already restored, or
    /// recovered since): nothing was changed.
    NotListed,
}

/// The links this process has put in a managed file, by backup path. Its
/// lock is also held for every read-modify-write of a backup, so that
/// links coming and going from different tasks never lose each other's
/// changes.
static LINKS_OF_THIS_PROCESS: Mutex<BTreeMap<PathBuf, BTreeSet<String>>> =
    Mutex::new(BTreeMap::new());

/// The lock over [`LINKS_OF_THIS_PROCESS`]. A thread that panicked while
/// holding it left nothing half-done in memory (the files are the truth),
/// so a poisoned lock is taken as it is.
fn links_of_this_process() -> MutexGuard<'static, BTreeMap<PathBuf, BTreeSet<String>>> {
    LINKS_OF_THIS_PROCESS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Manages one resolv.conf path, with its backup in a state directory.
#[derive(Clone, Debug)]
pub struct ResolvConf {
    path: PathBuf,
    backup: PathBuf,
}

/// Writes `bytes` to `path` atomically and durably with the given mode
/// (a renamed temporary file, which replaces a symlink itself, never its
/// target).
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ResolvError> {
    atomic::write_atomic(path, bytes, mode).map_err(io_err(path))
}

/// Puts a symlink at `path` atomically.
fn symlink_atomic(path: &Path, target: &Path) -> Result<(), ResolvError> {
    atomic::symlink_atomic(path, target).map_err(io_err(path))
}

/// A link name as it may appear in the comment line: anything that is not
/// a visible ASCII character becomes `?`.
fn comment_safe(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// Whether two search domains are the same name: DNS names do not care
/// about case, and `example.net.` is `example.net`.
fn same_domain(a: &str, b: &str) -> bool {
    a.strip_suffix('.')
        .unwrap_or(a)
        .eq_ignore_ascii_case(b.strip_suffix('.').unwrap_or(b))
}

/// The servers of `links` (newest first), each once, at most
/// [`MAX_SERVERS`].
fn merged_servers(newest_first: &[&Link]) -> Vec<IpAddr> {
    let mut servers = Vec::new();
    for server in newest_first.iter().flat_map(|l| &l.servers) {
        if servers.len() == MAX_SERVERS {
            break;
        }
        if !servers.contains(server) {
            servers.push(*server);
        }
    }
    servers
}

/// The search domains of `links` (newest first), each once, as many as
/// fit in [`MAX_SEARCH_DOMAINS`] and a [`MAX_SEARCH_LINE`]-character line.
fn merged_search<'a>(newest_first: &[&'a Link]) -> Vec<&'a str> {
    // "search" and the newline.
    let mut line = "search".len() + 1;
    let mut domains: Vec<&str> = Vec::new();
    for domain in newest_first.iter().flat_map(|l| &l.search) {
        if domains.len() == MAX_SEARCH_DOMAINS {
            break;
        }
        let fits = line + 1 + domain.len() <= MAX_SEARCH_LINE;
        if fits && !domains.iter().any(|d| same_domain(d, domain)) {
            line += 1 + domain.len();
            domains.push(domain);
        }
    }
    domains
}

/// The resolv.conf text for `links`, given in the order they came up.
fn render(links: &[Link]) -> String {
    let newest_first: Vec<&Link> = links.iter().rev().collect();
    let names: Vec<String> = newest_first.iter().map(|l| comment_safe(&l.name)).collect();
    let mut s = if let [name] = names.as_slice() {
        format!(
            "# Generated by Dialtone for the link {name}.\n\
             # What was here before comes back when the link goes down.\n"
        )
    } else {
        format!(
            "# Generated by Dialtone for the links {} (newest first).\n\
             # What was here before comes back when the last of them goes down.\n",
            names.join(", ")
        )
    };
    let search = merged_search(&newest_first);
    if !search.is_empty() {
        s.push_str("search");
        for d in search {
            s.push(' ');
            s.push_str(d);
        }
        s.push('\n');
    }
    for server in merged_servers(&newest_first) {
        s.push_str(&format!("nameserver {server}\n"));
    }
    s
}

impl ResolvConf {
    /// Manages `path` (normally `/etc/resolv.conf`), keeping its backup in
    /// `state_dir` (normally `/run/dialtone`, or a persistent directory so
    /// that a power cut is covered too).
    pub fn new(path: impl Into<PathBuf>, state_dir: impl AsRef<Path>) -> Self {
        ResolvConf {
            path: path.into(),
            backup: state_dir.as_ref().join("resolv.conf.backup"),
        }
    }

    /// The managed path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a backup exists, i.e. the file is managed now (or was when a
    /// previous run died).
    pub fn is_managed(&self) -> bool {
        self.backup.exists()
    }

    fn read_current(&self) -> Result<Saved, ResolvError> {
        match fs::symlink_metadata(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Saved::Absent),
            Err(e) => Err(io_err(&self.path)(e)),
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&self.path).map_err(io_err(&self.path))?;
                Ok(Saved::Symlink {
                    target: target.as_os_str().as_bytes().to_vec(),
                })
            }
            Ok(meta) => Ok(Saved::File {
                content: fs::read(&self.path).map_err(io_err(&self.path))?,
                mode: meta.mode() & 0o7777,
            }),
        }
    }

    /// The backup, if there is one, as the current version: a version-1
    /// backup has no link listed. Anything unreadable, of an unknown
    /// version or for another path is [`ResolvError::BadBackup`].
    fn read_backup(&self) -> Result<Option<Backup>, ResolvError> {
        let bytes = match fs::read(&self.backup) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&self.backup)(e)),
        };
        let bad = || ResolvError::BadBackup(self.backup.clone());
        let mut backup: Backup = ron::de::from_bytes(&bytes).map_err(|_| bad())?;
        if backup.path != self.path {
            return Err(bad());
        }
        match backup.version {
            1 => backup.links.clear(),
            BACKUP_VERSION => {}
            _ => return Err(bad()),
        }
        backup.version = BACKUP_VERSION;
        Ok(Some(backup))
    }

    /// Writes `backup` durably (creating the state directory if need be).
    fn write_backup(&self, backup: &Backup) -> Result<(), ResolvError> {
        if let Some(dir) = self.backup.parent() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let text = ron::to_string(backup).map_err(|e| ResolvError::Io {
            path: self.backup.clone(),
            source: io::Error::other(e.to_string()),
        })?;
        write_atomic(&self.backup, text.as_bytes(), 0o600)
    }

    /// Puts `saved` back at the path, exactly, then deletes the backup.
    fn put_back(&self, saved: Saved) -> Result<(), ResolvError> {
        match saved {
            Saved::File { content, mode } => write_atomic(&self.path, &content, mode)?,
            Saved::Symlink { target } => {
                symlink_atomic(&self.path, Path::new(OsStr::from_bytes(&target)))?
            }
            Saved::Absent => match fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(&self.path)(e)),
                _ => {}
            },
        }
        fs::remove_file(&self.backup).map_err(io_err(&self.backup))
    }

    /// Points the resolver at `servers` (and `search` domains) for the link
    /// `link`, beside the links already there (see the [module
    /// documentation](self) for how they are merged). The first link saves
    /// what was there; a link already listed is replaced, and counts as the
    /// newest. On error the file and the backup are as they were.
    pub fn apply(
        &self,
        link: &str,
        servers: &[IpAddr],
        search: &[String],
    ) -> Result<(), ResolvError> {
        let mut live = links_of_this_process();
        let previous = self.read_backup()?;
        let mut backup = match &previous {
            Some(b) => b.clone(),
            None => Backup {
                version: BACKUP_VERSION,
                path: self.path.clone(),
                saved: self.read_current()?,
                links: Vec::new(),
            },
        };
        backup.links.retain(|l| l.name != link);
        backup.links.push(Link {
            name: link.to_string(),
            servers: servers.to_vec(),
            search: search.to_vec(),
        });
        // The backup is durable before the file changes.
        self.write_backup(&backup)?;
        if let Err(e) = write_atomic(&self.path, render(&backup.links).as_bytes(), 0o644) {
            // The file did not change: neither should the backup.
            let _ = match &previous {
                None => fs::remove_file(&self.backup).map_err(io_err(&self.backup)),
                Some(p) => self.write_backup(p),
            };
            return Err(e);
        }
        live.entry(self.backup.clone())
            .or_default()
            .insert(link.to_string());
        Ok(())
    }

    /// Takes the link `link` out: with other links left the file is
    /// rewritten for them; when it was the last, what was there before the
    /// first [`ResolvConf::apply`] is put back exactly (whatever was
    /// written into the file meanwhile), and the backup is deleted. A link
    /// that is not listed changes nothing.
    pub fn restore(&self, link: &str) -> Result<Restored, ResolvError> {
        let mut live = links_of_this_process();
        // The link is going down, whatever happens to the file.
        if let Some(names) = live.get_mut(&self.backup) {
            names.remove(link);
            if names.is_empty() {
                live.remove(&self.backup);
            }
        }
        let Some(mut backup) = self.read_backup()? else {
            return Ok(Restored::NotListed);
        };
        let before = backup.links.len();
        backup.links.retain(|l| l.name != link);
        if backup.links.len() == before {
            return Ok(Restored::NotListed);
        }
        if backup.links.is_empty() {
            self.put_back(backup.saved)?;
            return Ok(Restored::Original);
        }
        // The backup is durable before the file changes.
        self.write_backup(&backup)?;
        write_atomic(&self.path, render(&backup.links).as_bytes(), 0o644)?;
        Ok(Restored::OthersRemain)
    }

    /// At start-up: if a previous run died with the file managed, puts back
    /// what was there before, however many links were listed (their
    /// interfaces died with that run), and deletes the backup. Returns
    /// whether there was anything to restore.
    ///
    /// While this process has links in the file, it is not a previous
    /// run's and nothing is done.
    pub fn recover(&self) -> Result<bool, ResolvError> {
        let live = links_of_this_process();
        if live.contains_key(&self.backup) {
            return Ok(false);
        }
        match self.read_backup()? {
            None => Ok(false),
            Some(backup) => self.put_back(backup.saved).map(|()| true),
        }
    }

    /// Forgets the links this process put in the file, as a process that
    /// dies does: for tests of [`ResolvConf::recover`].
    #[cfg(test)]
    pub(crate) fn forget_links_of_this_process(&self) {
        links_of_this_process().remove(&self.backup);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn setup() -> (tempfile::TempDir, ResolvConf) {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        fs::create_dir(&etc).unwrap();
        let rc = ResolvConf::new(etc.join("resolv.conf"), dir.path().join("state"));
        (dir, rc)
    }

    fn servers() -> Vec<IpAddr> {
        vec![
            "10.0.0.53".parse().unwrap(),
            "2001:db8::53".parse().unwrap(),
        ]
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn domains(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// The `nameserver` lines of the managed file, in order.
    fn nameservers(rc: &ResolvConf) -> Vec<String> {
        fs::read_to_string(rc.path())
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("nameserver "))
            .map(str::to_string)
            .collect()
    }

    /// The names of the links listed in the backup, in the order they
    /// came up.
    fn listed(rc: &ResolvConf) -> Vec<String> {
        let backup = rc.read_backup().unwrap().unwrap();
        backup.links.into_iter().map(|l| l.name).collect()
    }

    /// A new manager for the same paths, in a process where no link of
    /// the old one survived: what the next start after a crash sees.
    fn next_run(rc: &ResolvConf) -> ResolvConf {
        rc.forget_links_of_this_process();
        ResolvConf::new(rc.path(), rc.backup.parent().unwrap())
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn file_comes_back_byte_for_byte_with_its_mode() {
        let (_d, rc) = setup();
        let original = b"# mine\nnameserver 192.0.2.1\noptions edns0 \xff\n";
        fs::write(rc.path(), original).unwrap();
        fs::set_permissions(rc.path(), fs::Permissions::from_mode(0o640)).unwrap();
        rc.apply("ppp0", &servers(), &["example.net".into()])
            .unwrap();
        let during = fs::read_to_string(rc.path()).unwrap();
        assert!(during.starts_with("# Generated by Dialtone for the link ppp0.\n"));
        assert!(during.contains("nameserver 10.0.0.53\nnameserver 2001:db8::53\n"));
        assert!(during.contains("search example.net\n"));
        assert!(rc.is_managed());
        assert_eq!(rc.restore("ppp0").unwrap(), Restored::Original);
        assert_eq!(fs::read(rc.path()).unwrap(), original);
        assert_eq!(mode(rc.path()), 0o640);
        assert!(!rc.is_managed());
        assert_eq!(
            rc.restore("ppp0").unwrap(),
            Restored::NotListed,
            "restoring twice does nothing"
        );
    }

    #[test]
    fn symlink_comes_back_as_a_symlink() {
        let (d, rc) = setup();
        let stub = d.path().join("stub-resolv.conf");
        fs::write(&stub, "nameserver 127.0.0.53\n").unwrap();
        std::os::unix::fs::symlink(&stub, rc.path()).unwrap();
        rc.apply("ppp0", &servers(), &[]).unwrap();
        // The link was replaced, not written through.
        assert!(!fs::symlink_metadata(rc.path())
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            fs::read_to_string(&stub).unwrap(),
            "nameserver 127.0.0.53\n"
        );
        rc.restore("ppp0").unwrap();
        assert_eq!(fs::read_link(rc.path()).unwrap(), stub);
    }

    #[test]
    fn absent_file_is_absent_again() {
        let (_d, rc) = setup();
        rc.apply("ppp0", &servers(), &[]).unwrap();
        assert!(rc.path().exists());
        rc.restore("ppp0").unwrap();
        assert!(fs::symlink_metadata(rc.path()).is_err());
    }

    #[test]
    fn a_crashed_run_is_recovered_at_the_next_start() {
        let (_d, rc) = setup();
        fs::write(rc.path(), "nameserver 192.0.2.1\n").unwrap();
        rc.apply("ppp0", &servers(), &[]).unwrap();
        // The helper dies here; a new one starts with a fresh manager.
        let next = next_run(&rc);
        assert!(next.recover().unwrap());
        assert_eq!(
            fs::read_to_string(rc.path()).unwrap(),
            "nameserver 192.0.2.1\n"
        );
        assert!(!next.recover().unwrap());
    }

    #[test]
    fn two_links_share_the_file_newest_first() {
        let (_d, rc) = setup();
        fs::write(rc.path(), "nameserver 192.0.2.1\n").unwrap();
        rc.apply("ppp0", &ips(&["10.0.0.1"]), &domains(&["zero.example"]))
            .unwrap();
        rc.apply("ppp1", &ips(&["10.1.0.1"]), &domains(&["one.example"]))
            .unwrap();
        assert_eq!(
            fs::read_to_string(rc.path()).unwrap(),
            "# Generated by Dialtone for the links ppp1, ppp0 (newest first).\n\
             # What was here before comes back when the last of them goes down.\n\
             search one.example zero.example\n\
             nameserver 10.1.0.1\n\
             nameserver 10.0.0.1\n"
        );
        assert_eq!(listed(&rc), ["ppp0", "ppp1"]);
        assert_eq!(mode(rc.path()), 0o644);
    }

    #[test]
    fn a_server_two_links_share_is_written_once() {
        let (_d, rc) = setup();
        rc.apply("ppp0", &ips(&["10.0.0.1", "10.9.9.9"]), &[])
            .unwrap();
        rc.apply("ppp1", &ips(&["10.9.9.9", "10.1.0.1"]), &[])
            .unwrap();
        assert_eq!(nameservers(&rc), ["10.9.9.9", "10.1.0.1", "10.0.0.1"]);
    }

    #[test]
    fn at_most_three_servers_are_written_the_newest_links_first() {
        let (_d, rc) = setup();
        rc.apply("ppp0", &ips(&["10.0.0.1", "10.0.0.2"]), &[])
            .unwrap();
        rc.apply("ppp1", &ips(&["10.1.0.1", "10.1.0.2"]), &[])
            .unwrap();
        assert_eq!(nameservers(&rc), ["10.1.0.1", "10.1.0.2", "10.0.0.1"]);
        // The older link's servers come back when the newer one goes.
        rc.restore("ppp1").unwrap();
        assert_eq!(nameservers(&rc), ["10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn at_most_three_servers_are_written() {
        let many: Vec<IpAddr> = (1..=5).map(|i| IpAddr::from([10, 0, 0, i])).collect();
        let text = render(&[Link {
            name: "ppp0".into(),
            servers: many,
            search: vec![],
        }]);
        assert_eq!(text.matches("nameserver").count(), MAX_SERVERS);
    }

    #[test]
    fn search_domains_are_merged_within_the_resolvers_limits() {
        let link = |name: &str, search: &[&str]| Link {
            name: name.into(),
            servers: ips(&["10.0.0.1"]),
            search: domains(search),
        };
        let search_line = |links: &[Link]| {
            render(links)
                .lines()
                .find(|l| l.starts_with("search "))
                .unwrap()
                .to_string()
        };
        // Newest first, each once whatever its case or trailing dot.
        let text = search_line(&[
            link("ppp0", &["a.example", "shared.example"]),
            link("ppp1", &["b.example", "Shared.Example."]),
        ]);
        assert_eq!(text, "search b.example Shared.Example. a.example");

        // Six domains at most.
        let text = search_line(&[
            link("ppp0", &["d4", "d5", "d6", "d7"]),
            link("ppp1", &["d1", "d2", "d3"]),
        ]);
        assert_eq!(text, "search d1 d2 d3 d4 d5 d6");

        // A line of 255 characters at most, newline included: what does not
        // fit is left out, and a shorter one after it may still fit.
        let long = |c: &str| [c.repeat(63), c.repeat(63), c.repeat(61)].join(".");
        let (a, b) = (long("a"), long("b"));
        assert_eq!(a.len(), 189);
        let text = search_line(&[link("ppp0", &[&b, "short.example"]), link("ppp1", &[&a])]);
        assert_eq!(text, format!("search {a} short.example"));
        assert!(text.len() < MAX_SEARCH_LINE);
        let exact = "x".repeat(MAX_SEARCH_LINE - "search \n".len() - a.len() - 1);
        let text = search_line(&[link("ppp0", &[&exact]), link("ppp1", &[&a])]);
        assert_eq!(text.len() + 1, MAX_SEARCH_LINE);
        let text = search_line(&[link("ppp0", &[&format!("{exact}x")]), link("ppp1", &[&a])]);
        assert_eq!(text, format!("search {a}"));
    }

    #[test]
    fn the_first_link_down_leaves_the_seconds_servers() {
        let (_d, rc) = setup();
        fs::write(rc.path(), "nameserver 192.0.2.1\n").unwrap();
        rc.apply("ppp0", &ips(&["10.0.0.1"]), &domains(&["zero.example"]))
            .unwrap();
        rc.apply("ppp1", &ips(&["10.1.0.1"]), &domains(&["one.example"]))
            .unwrap();
        assert_eq!(rc.restore("ppp0").unwrap(), Restored::OthersRemain);
        assert_eq!(
            fs::read_to_string(rc.path()).unwrap(),
            "# Generated by Dialtone for the link ppp1.\n\
             # What was here before comes back when the link goes down.\n\
             search one.example\n\
             nameserver 10.1.0.1\n"
        );
        assert_eq!(listed(&rc), ["ppp1"]);
        assert_eq!(rc.restore("ppp1").unwrap(), Restored::Original);
        assert_eq!(
            fs::read_to_string(rc.path()).unwrap(),
            "nameserver 192.0.2.1\n"
        );
    }

    #[test]
    fn the_last_link_down_restores_the_original_byte_for_byte_with_its_mode() {
        for last in ["ppp0", "ppp1"] {
            let (_d, rc) = setup();
            let original = b"# mine\nnameserver 192.0.2.1\n\xfe\xff no newline";
            fs::write(rc.path(), original).unwrap();
            fs::set_permissions(rc.path(), fs::Permissions::from_mode(0o604)).unwrap();
            rc.apply("ppp0", &servers(), &[]).unwrap();
            rc.apply("ppp1", &ips(&["10.1.0.1"]), &[]).unwrap();
            let first = if last == "ppp0" { "ppp1" } else { "ppp0" };
            assert_eq!(rc.restore(first).unwrap(), Restored::OthersRemain);
            assert!(rc.is_managed());
            assert_eq!(rc.restore(last).unwrap(), Restored::Original);
            assert_eq!(fs::read(rc.path()).unwrap(), original, "{last} last");
            assert_eq!(mode(rc.path()), 0o604, "{last} last");
            assert!(!rc.is_managed(), "{last} last");
        }
    }

    #[test]
    fn a_symlink_comes_back_after_two_links() {
        let (d, rc) = setup();
        let stub = d.path().join("stub-resolv.conf");
        fs::write(&stub, "nameserver 127.0.0.53\n").unwrap();
        std::os::unix::fs::symlink(&stub, rc.path()).unwrap();
        rc.apply("ppp0", &servers(), &[]).unwrap();
        rc.apply("ppp1", &ips(&["10.1.0.1"]), &[]).unwrap();
        rc.restore("ppp1").unwrap();
        assert!(!fs::symlink_metadata(rc.path())
            .unwrap()
            .file_type()
            .is_symlink());
        rc.restore("ppp0").unwrap();
        assert_eq!(fs::read_link(rc.path()).unwrap(), stub);
        assert_eq!(
            fs::read_to_string(&stub).unwrap(),
            "nameserver 127.0.0.53\n"
        );
        assert!(!rc.is_managed());
    }

    #[test]
    fn a_link_applied_again_replaces_its_entry_and_counts_as_newest() {
        let (_d, rc) = setup();
        fs::write(rc.path(), "nameserver 192.0.2.1\n").unwrap();
        rc.apply("ppp0", &ips(&["10.0.0.1"]), &[]).unwrap();
        rc.apply("ppp1", &ips(&["10.1.0.1"]), &[]).unwrap();
        rc.apply("ppp0", &ips(&["10.0.0.2"]), &[]).unwrap();
        assert_eq!(listed(&rc), ["ppp1", "ppp0"]);
        assert_eq!(nameservers(&rc), ["10.0.0.2", "10.1.0.1"]);
        assert_eq!(rc.restore("ppp0").unwrap(), Restored::OthersRemain);
        assert_eq!(rc.restore("ppp1").unwrap(), Restored::Original);
        assert_eq!(
            fs::read_to_string(rc.path()).unwrap(),
            "nameserver 192.0.2.1\n"
        );
    }

    #[test]
    fn restoring_a_link_that_is_not_listed_changes_nothing() {
        let (_d, rc) = setup();
        fs::write(rc.path(), "nameserver 192.0.2.1\n").unwrap();
        assert_eq!(rc.restore("ppp0").unwrap(), Restored::NotListed);
        assert!(!rc.is_managed());
        rc.apply("ppp0", &servers(), &[]).unwrap();
        let during = fs::read(rc.path()).unwrap();
        assert_eq!(rc.restore("ppp1").unwrap(), Restored::NotListed);
        assert_eq!(fs::read(rc.path()).unwrap(), during);
        assert_eq!(listed(&rc), ["ppp0"]);
    }

    #[test]
    fn a_crash_with_two_links_up_is_recovered_at_the_next_start() {
        let (_d, rc) = setup();
        fs::write(rc.path(), "nameserver 192.0.2.1\n").unwrap();
        fs::set_permissions(rc.path(), fs::Permissions::from_mode(0o600)).unwrap();
        rc.apply("ppp0", &servers(), &[]).unwrap();
        rc.apply("ppp1", &ips(&["10.1.0.1"]), &[]).unwrap();
        let next = next_run(&rc);
        assert!(next.recover().unwrap());
        assert_eq!(
            fs::read_to_string(rc.path()).unwrap(),
            "nameserver 192.0.2.1\n"
        );
        assert_eq!(mode(rc.path()), 0o600);
        assert!(!next.is_managed());
        // The old run's guards find nothing left to do.
        assert_eq!(rc.restore("ppp0").unwrap(), Restored::NotListed);
    }

    #[test]
    fn recovering_leaves_the_links_of_this_process_alone() {
        let (_d, rc) = setup();
        fs::write(rc.path(), "nameserver 192.0.2.1\n").unwrap();
        rc.apply("ppp0", &servers(), &[]).unwrap();
        let during = fs::read(rc.path()).unwrap();
        // Another session starting while ppp0 is up, with its own manager.
        let other = ResolvConf::new(rc.path(), rc.backup.parent().unwrap());
        assert!(!other.recover().unwrap());
        assert_eq!(fs::read(rc.path()).unwrap(), during);
        other.apply("ppp1", &ips(&["10.1.0.1"]), &[]).unwrap();
        assert_eq!(listed(&rc), ["ppp0", "ppp1"]);
        rc.restore("ppp0").unwrap();
        assert!(!other.recover().unwrap(), "ppp1 is still up");
        other.restore("ppp1").unwrap();
        assert_eq!(
            fs::read_to_string(rc.path()).unwrap(),
            "nameserver 192.0.2.1\n"
        );
    }

    /// A backup exactly as the previous release wrote it (`ron::to_string`
    /// of its version-1 `Backup`) for `content` with mode 0640.
    fn version_1_backup(rc: &ResolvConf, content: &[u8]) -> String {
        let bytes: Vec<String> = content.iter().map(u8::to_string).collect();
        format!(
            "(version:1,path:\"{}\",saved:File(content:[{}],mode:416))",
            rc.path().display(),
            bytes.join(",")
        )
    }

    #[test]
    fn a_version_1_backup_is_recovered() {
        let (_d, rc) = setup();
        let original = b"nameserver 192.0.2.1\n";
        fs::create_dir_all(rc.backup.parent().unwrap()).unwrap();
        fs::write(&rc.backup, version_1_backup(&rc, original)).unwrap();
        // What that release left in the file.
        fs::write(
            rc.path(),
            "# Generated by Dialtone for the link ppp0.\nnameserver 10.0.0.53\n",
        )
        .unwrap();
        assert!(rc.recover().unwrap());
        assert_eq!(fs::read(rc.path()).unwrap(), original);
        assert_eq!(mode(rc.path()), 0o640);
        assert!(!rc.is_managed());
    }

    #[test]
    fn a_link_applied_over_a_version_1_backup_keeps_its_original() {
        let (_d, rc) = setup();
        let original = b"nameserver 192.0.2.1\n";
        fs::create_dir_all(rc.backup.parent().unwrap()).unwrap();
        fs::write(&rc.backup, version_1_backup(&rc, original)).unwrap();
        fs::write(rc.path(), "nameserver 10.0.0.53\n").unwrap();
        rc.apply("ppp1", &ips(&["10.1.0.1"]), &[]).unwrap();
        let text = fs::read_to_string(&rc.backup).unwrap();
        assert!(text.starts_with("(version:2,"), "{text}");
        assert_eq!(listed(&rc), ["ppp1"]);
        assert_eq!(rc.restore("ppp1").unwrap(), Restored::Original);
        assert_eq!(fs::read(rc.path()).unwrap(), original);
        assert_eq!(mode(rc.path()), 0o640);
    }

    #[test]
    fn a_damaged_backup_changes_nothing() {
        let (d, rc) = setup();
        let other_path = version_1_backup(&ResolvConf::new(d.path().join("x"), d.path()), b"");
        let newer = format!(
            "(version:3,path:\"{}\",saved:Absent,links:[])",
            rc.path().display()
        );
        for damaged in [
            "not a backup".as_bytes(),
            b"\xff\xfe",
            other_path.as_bytes(),
            newer.as_bytes(),
        ] {
            fs::write(rc.path(), "nameserver 10.9.9.9\n").unwrap();
            fs::create_dir_all(rc.backup.parent().unwrap()).unwrap();
            fs::write(&rc.backup, damaged).unwrap();
            assert!(matches!(rc.recover(), Err(ResolvError::BadBackup(_))));
            assert!(matches!(
                rc.apply("ppp0", &servers(), &[]),
                Err(ResolvError::BadBackup(_))
            ));
            assert!(matches!(rc.restore("ppp0"), Err(ResolvError::BadBackup(_))));
            assert_eq!(
                fs::read_to_string(rc.path()).unwrap(),
                "nameserver 10.9.9.9\n"
            );
            assert_eq!(
                fs::read(&rc.backup).unwrap(),
                damaged,
                "left for a person to look at"
            );
        }
    }

    #[test]
    fn links_coming_and_going_at_once_keep_the_original() {
        let (_d, rc) = setup();
        let original = b"nameserver 192.0.2.1\n";
        fs::write(rc.path(), original).unwrap();
        std::thread::scope(|s| {
            for i in 0..3u8 {
                let rc = rc.clone();
                s.spawn(move || {
                    let name = format!("ppp{i}");
                    for _ in 0..10 {
                        rc.apply(&name, &[IpAddr::from([10, i, 0, 1])], &[])
                            .unwrap();
                        assert_ne!(rc.restore(&name).unwrap(), Restored::NotListed);
                    }
                });
            }
        });
        assert_eq!(fs::read(rc.path()).unwrap(), original);
        assert!(!rc.is_managed());
    }

    #[test]
    fn link_names_cannot_break_the_comment_line() {
        assert_eq!(comment_safe("ppp0"), "ppp0");
        assert_eq!(comment_safe("a\nb c"), "a?b?c");
        let text = render(&[Link {
            name: "x\nnameserver 6.6.6.6".into(),
            servers: ips(&["10.0.0.1"]),
            search: vec![],
        }]);
        assert_eq!(text.matches("nameserver").count(), 2);
        assert_eq!(
            text.lines().filter(|l| l.starts_with("nameserver")).count(),
            1
        );
    }
}
