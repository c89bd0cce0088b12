//! The profile store `dialtoned` serves: one RON file per profile, and
//! the profile's secrets in a file of their own.
//!
//! ```text
//! /etc/dialtone/profiles/        0755  <id>.ron  0644  (a Profile)
//! /etc/dialtone/secrets/         0700  <id>.ron  0600  (its Secrets), owned by root
//! ```
//!
//! Both directories are parameters ([`StoreConfig`]): tests never touch
//! `/etc/dialtone`.
//!
//! * Every profile is checked ([`Profile::validate`], the daemon's device
//!   check, the size limit, a RON round trip) *before* anything is
//!   written: a refused profile leaves every file and directory as it was.
//! * Every write is atomic and durable ([`write_atomic`]): a crash (even
//!   `kill -9` or a power cut) leaves either the old file or the new one,
//!   never a torn one and never none. A crash can leave a temporary file
//!   (`.<id>.ron.tmp-<pid>-<n>`); [`Store::open`] removes those, and
//!   nothing else.
//! * A file that does not load (bad RON, an unknown field, a newer version,
//!   a name that is not a [`ProfileId`], too large, a symlink…) is reported
//!   as a [`LoadProblem`] naming it, and left in place untouched for a
//!   person to fix; the other profiles load regardless.
//! * Secrets are read only when a connection needs them ([`Store::password`]),
//!   and only from a file no one but root (or the daemon's user) can read.
//!   No error message and no `Debug` output ever contains a password.
//!
//! The store assumes one writer: the daemon. An administrator may edit the
//! files by hand and have them re-read with [`Store::reload`].

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use dialtone_api::profile::MAX_PROFILE_BYTES;
use dialtone_api::{Profile, ProfileError, Secrets};

pub use crate::atomic::write_atomic;
use crate::atomic::{parent_dir, sync_dir};
use crate::lock::describe_io;

/// Where profiles live unless configured otherwise.
pub const DEFAULT_PROFILES_DIR: &str = "/etc/dialtone/profiles";
/// Where secrets live unless configured otherwise.
pub const DEFAULT_SECRETS_DIR: &str = "/etc/dialtone/secrets";

/// The mode of a profile file.
pub const PROFILE_MODE: u32 = 0o644;
/// The mode of a secrets file.
pub const SECRETS_MODE: u32 = 0o600;
/// The mode the profiles directory is created with.
pub const PROFILES_DIR_MODE: u32 = 0o755;
/// The mode the secrets directory is created with.
pub const SECRETS_DIR_MODE: u32 = 0o700;

/// The longest profile id.
pub const MAX_ID_LEN: usize = 64;
/// The largest secrets file read (what [`Secrets::from_ron`] accepts).
const MAX_SECRETS_BYTES: u64 = 4096;
/// The longest password accepted (what [`Secrets::from_ron`] accepts).
const MAX_PASSWORD_BYTES: usize = 256;

/// A profile id: the file stem (`<id>.ron`) and the element of the
/// profile's D-Bus object path.
///
/// 1 to 64 characters of `[a-z0-9_]`, not starting with `_`. D-Bus object
/// path elements allow only `[A-Za-z0-9_]`, so there is no `-` and no `.`
/// (which also rules out `..`, `/` and hidden files); uppercase is left out
/// so that ids never differ only by case. Ids are stable: renaming a
/// profile keeps its id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProfileId(String);

impl ProfileId {
    /// Checks `id` against the rules above; the error says which one it
    /// breaks.
    pub fn new(id: &str) -> Result<ProfileId, StoreError> {
        let bad = |problem: String| {
            // Quote the id (escaping control characters), and not all of a
            // huge one.
            let shown: String = id.chars().take(MAX_ID_LEN + 16).collect();
            let more = if shown.len() < id.len() { "…" } else { "" };
            StoreError::BadId(format!("{shown:?}{more} is not a profile id: {problem}"))
        };
        if id.is_empty() {
            return Err(bad("it is empty".into()));
        }
        if id.chars().count() > MAX_ID_LEN {
            return Err(bad(format!(
                "it has {} characters; at most {MAX_ID_LEN} are allowed",
                id.chars().count()
            )));
        }
        if let Some(c) = id.chars().find(|c| !is_id_char(*c)) {
            let problem = if c.is_ascii_uppercase() {
                format!(
                    "uppercase letters are not allowed (did you mean {:?}?)",
                    id.to_ascii_lowercase()
                )
            } else {
                format!(
                    "{c:?} is not allowed; an id has only lowercase letters a-z, digits \
                     and '_' (D-Bus object paths allow no '-' or '.')"
                )
            };
            return Err(bad(problem));
        }
        if id.starts_with('_') {
            return Err(bad("it must not start with '_'".into()));
        }
        Ok(ProfileId(id.to_owned()))
    }

    /// The id for a new profile called `name`, unique among the ids for
    /// which `taken` is true: `"Example ISP"` gives `example_isp`, then
    /// `example_isp_2`, `example_isp_3`, … Letters are lowercased, common
    /// accented Latin letters lose their accents (`"Café"` → `cafe`, `ß` →
    /// `ss`), letters of other scripts are dropped, and every run of
    /// spaces and punctuation (`-`, `.`, `—`…) becomes one `_`. A name that leaves nothing
    /// gives `profile`. `taken` must be false for some suffix.
    pub fn from_name(name: &str, taken: impl Fn(&ProfileId) -> bool) -> ProfileId {
        let mut base = String::new();
        let mut pending_separator = false;
        for c in name.chars().flat_map(char::to_lowercase) {
            let piece: Option<&str> = if c.is_ascii_alphanumeric() {
                None
            } else if let Some(t) = transliterate(c) {
                Some(t)
            } else {
                // Spaces and punctuation separate; letters of other
                // scripts are dropped.
                if c.is_ascii() || !c.is_alphanumeric() {
                    pending_separator = true;
                }
                continue;
            };
            if pending_separator && !base.is_empty() {
                base.push('_');
            }
            pending_separator = false;
            match piece {
                Some(t) => base.push_str(t),
                None => base.push(c),
            }
        }
        if base.is_empty() {
            base.push_str("profile");
        }
        let candidate = |suffix: &str| {
            let mut id = base.clone();
            id.truncate(MAX_ID_LEN - suffix.len());
            while id.ends_with('_') {
                id.pop();
            }
            id.push_str(suffix);
            ProfileId(id)
        };
        let first = candidate("");
        if !taken(&first) {
            return first;
        }
        (2u64..)
            .map(|n| candidate(&format!("_{n}")))
            .find(|id| !taken(id))
            .unwrap_or(first)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The profile file's name: `<id>.ron`.
    fn file_name(&self) -> String {
        format!("{}.ron", self.0)
    }
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

/// The ASCII a (lowercase) Latin letter loses its accent to, if it is one
/// of the common ones.
fn transliterate(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ß' => "ss",
        'ś' | 'ŝ' | 'ş' | 'š' => "s",
        'ţ' | 'ť' | 'ŧ' => "t",
        'þ' => "th",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

impl fmt::Display for ProfileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ProfileId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for ProfileId {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProfileId::new(s)
    }
}

impl TryFrom<&str> for ProfileId {
    type Error = StoreError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        ProfileId::new(s)
    }
}

impl TryFrom<String> for ProfileId {
    type Error = StoreError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        ProfileId::new(&s)
    }
}

/// Where the store keeps its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// The profiles: `<id>.ron`, mode 0644 (default
    /// [`DEFAULT_PROFILES_DIR`]).
    pub profiles_dir: PathBuf,
    /// The secrets: `<id>.ron`, mode 0600, in a directory of mode 0700
    /// (default [`DEFAULT_SECRETS_DIR`]).
    pub secrets_dir: PathBuf,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            profiles_dir: DEFAULT_PROFILES_DIR.into(),
            secrets_dir: DEFAULT_SECRETS_DIR.into(),
        }
    }
}

/// Checks a device path before a profile naming it is written (the daemon
/// passes one that checks for a serial character device; tests pass their
/// own). The error text says what is wrong with the device, e.g. "no such
/// device" or "not a serial port".
pub type DeviceCheck = Arc<dyn Fn(&Path) -> Result<(), String> + Send + Sync>;

/// A file that did not load: reported by name and left in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadProblem {
    /// The file.
    pub file: PathBuf,
    /// What is wrong with it, for a person to fix.
    pub error: String,
}

impl fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.error)
    }
}

/// Why the store refused or failed an operation. No message contains a
/// password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No loaded profile has this id.
    #[error("no profile {0}")]
    NotFound(ProfileId),
    /// A value was refused; `field` is named as [`Profile::validate`] names
    /// it (`line.device`, `modem.numbers[1]`, `password`).
    #[error("{field}: {problem}")]
    Invalid {
        /// The field, as a path.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Not a valid [`ProfileId`]; the message quotes it and says why.
    #[error("{0}")]
    BadId(String),
    /// The profile as RON would be larger than
    /// [`MAX_PROFILE_BYTES`].
    #[error("the profile is {0} bytes as RON; at most {MAX_PROFILE_BYTES} are accepted")]
    TooLarge(usize),
    /// A secrets file that others could read or change: it is not used.
    #[error("refusing the secrets file {}: {problem}", path.display())]
    InsecureSecrets {
        /// The secrets file.
        path: PathBuf,
        /// What is wrong, and how to fix it.
        problem: String,
    },
    /// A secrets file that does not parse (the message never quotes it).
    #[error("the secrets file {} is damaged: {problem}", path.display())]
    BadSecrets {
        /// The secrets file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// Reading or writing a file or directory failed.
    #[error("{}: {}", path.display(), describe_io(source))]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl From<ProfileError> for StoreError {
    /// Keeps the field of [`ProfileError::Invalid`]; a wrong version is
    /// about the field `version`, a RON syntax error about `profile`.
    fn from(e: ProfileError) -> Self {
        match e {
            ProfileError::Invalid { field, problem } => StoreError::Invalid { field, problem },
            ProfileError::TooLarge(n) => StoreError::TooLarge(n),
            ProfileError::Version { found } => StoreError::Invalid {
                field: "version".into(),
                problem: format!(
                    "{found} is not supported; this Dialtone writes version {}",
                    dialtone_api::profile::PROFILE_VERSION
                ),
            },
            ProfileError::Syntax(problem) => StoreError::Invalid {
                field: "profile".into(),
                problem,
            },
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The profiles, loaded from and saved to their directories.
pub struct Store {
    config: StoreConfig,
    device_check: DeviceCheck,
    profiles: BTreeMap<ProfileId, Profile>,
    problems: Vec<LoadProblem>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("config", &self.config)
            .field("profiles", &self.profiles.keys().collect::<Vec<_>>())
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store: creates the directories if missing (profiles 0755,
    /// secrets 0700; existing ones are left as they are), removes the
    /// temporary files a crashed save left in either (only names of the
    /// form `.<id>.ron.tmp-<pid>-<n>`), then loads every `*.ron` profile.
    /// The ones that parse and validate are kept; every other file (and a
    /// secrets file whose profile does not exist) yields a [`LoadProblem`]
    /// and stays on disk untouched. Secrets are not read here.
    ///
    /// Fails only when a directory cannot be created or listed.
    pub fn open(
        config: StoreConfig,
        device_check: DeviceCheck,
    ) -> Result<(Store, Vec<LoadProblem>), StoreError> {
        ensure_dir(&config.profiles_dir, PROFILES_DIR_MODE)?;
        ensure_dir(&config.secrets_dir, SECRETS_DIR_MODE)?;
        let mut cleanup = remove_stale_temps(&config.profiles_dir)?;
        cleanup.extend(remove_stale_temps(&config.secrets_dir)?);
        let (profiles, mut problems) = load(&config)?;
        problems.extend(cleanup);
        problems.sort_by(|a, b| a.file.cmp(&b.file));
        let store = Store {
            config,
            device_check,
            profiles,
            problems: problems.clone(),
        };
        Ok((store, problems))
    }

    /// Re-reads the profiles directory (after an administrator edited files
    /// by hand) and returns the problems found. If the directory cannot be
    /// listed at all, the profiles loaded before are kept and that is the
    /// problem reported.
    pub fn reload(&mut self) -> Vec<LoadProblem> {
        match load(&self.config) {
            Ok((profiles, problems)) => {
                self.profiles = profiles;
                self.problems = problems;
            }
            Err(e) => {
                self.problems = vec![LoadProblem {
                    file: self.config.profiles_dir.clone(),
                    error: format!("{e}; the profiles loaded before are kept"),
                }];
            }
        }
        self.problems.clone()
    }

    /// Where the files are.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The profiles, sorted by id.
    pub fn list(&self) -> impl Iterator<Item = (&ProfileId, &Profile)> + '_ {
        self.profiles.iter()
    }

    /// The profile with this id.
    pub fn get(&self, id: &ProfileId) -> Option<&Profile> {
        self.profiles.get(id)
    }

    /// The files that did not load at the last [`open`](Store::open) or
    /// [`reload`](Store::reload).
    pub fn problems(&self) -> &[LoadProblem] {
        &self.problems
    }

    /// The profile file of `id`: `<profiles_dir>/<id>.ron`.
    pub fn profile_path(&self, id: &ProfileId) -> PathBuf {
        self.config.profiles_dir.join(id.file_name())
    }

    /// The secrets file of `id`: `<secrets_dir>/<id>.ron`.
    pub fn secrets_path(&self, id: &ProfileId) -> PathBuf {
        self.config.secrets_dir.join(id.file_name())
    }

    /// Everything a profile must pass before it is written; the RON text
    /// to write.
    fn check(&self, profile: &Profile) -> Result<String, StoreError> {
        profile.validate()?;
        (self.device_check)(Path::new(&profile.line.device)).map_err(|problem| {
            StoreError::Invalid {
                field: "line.device".into(),
                problem,
            }
        })?;
        let text = profile.to_ron();
        if text.len() > MAX_PROFILE_BYTES {
            return Err(StoreError::TooLarge(text.len()));
        }
        // What is written must read back as the same profile.
        if Profile::from_ron(&text)? != *profile {
            return Err(StoreError::Invalid {
                field: "profile".into(),
                problem: "does not read back the same from RON".into(),
            });
        }
        Ok(text)
    }

    /// Whether `id` is in use: a loaded profile, or any file by that name
    /// (a profile that did not load, an orphaned secrets file that a new
    /// profile must not inherit).
    fn is_taken(&self, id: &ProfileId) -> bool {
        let exists = |path: PathBuf| match fs::symlink_metadata(path) {
            Ok(_) => true,
            Err(e) => e.kind() != io::ErrorKind::NotFound,
        };
        self.profiles.contains_key(id)
            || exists(self.profile_path(id))
            || exists(self.secrets_path(id))
    }

    /// Adds a profile: validates it ([`Profile::validate`], the device
    /// check on `line.device`, the RON text within
    /// [`MAX_PROFILE_BYTES`])
    /// before anything is written, then writes it atomically under a new id
    /// made from its name ([`ProfileId::from_name`]), which is returned.
    pub fn add(&mut self, profile: Profile) -> Result<ProfileId, StoreError> {
        let text = self.check(&profile)?;
        let id = ProfileId::from_name(&profile.name, |id| self.is_taken(id));
        let path = self.profile_path(&id);
        write_atomic(&path, text.as_bytes(), PROFILE_MODE).map_err(io_err(&path))?;
        self.profiles.insert(id.clone(), profile);
        Ok(id)
    }

    /// Replaces the profile `id`, checked as in [`add`](Store::add). The id
    /// stays the same when the name changes.
    pub fn update(&mut self, id: &ProfileId, profile: Profile) -> Result<(), StoreError> {
        if !self.profiles.contains_key(id) {
            return Err(StoreError::NotFound(id.clone()));
        }
        let text = self.check(&profile)?;
        let path = self.profile_path(id);
        write_atomic(&path, text.as_bytes(), PROFILE_MODE).map_err(io_err(&path))?;
        self.profiles.insert(id.clone(), profile);
        Ok(())
    }

    /// Removes the profile and its secrets.
    ///
    /// The secrets go first, each removal made durable before the next: a
    /// crash in between leaves the profile without a password (visible,
    /// and deleted again with one more call), never a password without its
    /// profile, which nobody would see and which a later profile of the
    /// same name could otherwise inherit.
    pub fn delete(&mut self, id: &ProfileId) -> Result<(), StoreError> {
        if !self.profiles.contains_key(id) {
            return Err(StoreError::NotFound(id.clone()));
        }
        remove_durably(&self.secrets_path(id))?;
        remove_durably(&self.profile_path(id))?;
        self.profiles.remove(id);
        Ok(())
    }

    /// Sets the secrets of profile `id`, written atomically with mode 0600.
    /// The secrets must survive their own RON round trip, and the password
    /// be at most 256 bytes without NUL.
    pub fn set_secrets(&mut self, id: &ProfileId, secrets: &Secrets) -> Result<(), StoreError> {
        if !self.profiles.contains_key(id) {
            return Err(StoreError::NotFound(id.clone()));
        }
        if secrets.password.len() > MAX_PASSWORD_BYTES || secrets.password.contains('\0') {
            return Err(StoreError::Invalid {
                field: "password".into(),
                problem: format!("must be at most {MAX_PASSWORD_BYTES} bytes, without NUL"),
            });
        }
        let text = secrets.to_ron();
        match Secrets::from_ron(&text) {
            Ok(back) if back == *secrets => {}
            Err(ProfileError::Version { found }) => {
                return Err(StoreError::Invalid {
                    field: "version".into(),
                    problem: secrets_version_problem(found),
                })
            }
            // The errors of Secrets::from_ron never quote the text.
            Err(e) => return Err(e.into()),
            Ok(_) => {
                return Err(StoreError::Invalid {
                    field: "password".into(),
                    problem: "does not read back the same from RON".into(),
                })
            }
        }
        let path = self.secrets_path(id);
        write_atomic(&path, text.as_bytes(), SECRETS_MODE).map_err(io_err(&path))
    }

    /// Whether profile `id` has a secrets file (checked now, not read).
    pub fn has_secrets(&self, id: &ProfileId) -> bool {
        fs::symlink_metadata(self.secrets_path(id)).is_ok()
    }

    /// The password of profile `id`, read fresh from its secrets file (at
    /// connect time); empty if there is no secrets file. A secrets file
    /// that is a symlink or not a regular file, that group or others can
    /// access, or that is owned by a user other than root and the daemon's
    /// effective user is refused with [`StoreError::InsecureSecrets`].
    pub fn password(&self, id: &ProfileId) -> Result<String, StoreError> {
        if !self.profiles.contains_key(id) {
            return Err(StoreError::NotFound(id.clone()));
        }
        let path = self.secrets_path(id);
        let insecure = |problem: String| StoreError::InsecureSecrets {
            path: path.clone(),
            problem,
        };
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(String::new()),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(insecure(
                    "it is a symbolic link; secrets must be a regular file".into(),
                ))
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        let meta = file.metadata().map_err(io_err(&path))?;
        if !meta.is_file() {
            return Err(insecure("it is not a regular file".into()));
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(insecure(format!(
                "group or others can access it (mode {mode:04o}); make it private with \
                 `chmod 600 {}`",
                path.display()
            )));
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        if meta.uid() != 0 && meta.uid() != euid {
            return Err(insecure(format!(
                "it is owned by uid {}, not by root or the daemon's user (uid {euid}); \
                 fix with `chown root: {}`",
                meta.uid(),
                path.display()
            )));
        }
        let mut bytes = Vec::new();
        file.take(MAX_SECRETS_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err(&path))?;
        let bad = |problem: String| StoreError::BadSecrets {
            path: path.clone(),
            problem,
        };
        if bytes.len() as u64 > MAX_SECRETS_BYTES {
            return Err(bad(format!(
                "it is larger than the {MAX_SECRETS_BYTES} bytes a secrets file may have"
            )));
        }
        let text = String::from_utf8(bytes).map_err(|_| bad("it is not UTF-8 text".into()))?;
        // The errors of Secrets::from_ron never quote the file.
        let secrets = Secrets::from_ron(&text).map_err(|e| match e {
            ProfileError::Version { found } => bad(secrets_version_problem(found)),
            e => bad(e.to_string()),
        })?;
        Ok(secrets.password)
    }
}

fn secrets_version_problem(found: u32) -> String {
    format!(
        "secrets version {found} is not supported; this Dialtone reads and writes version {}",
        dialtone_api::secrets::SECRETS_VERSION
    )
}

/// Creates `dir` with `mode` (exactly, whatever the umask) if it is
/// missing; an existing directory is left as it is.
fn ensure_dir(dir: &Path, mode: u32) -> Result<(), StoreError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(io_err(dir)(io::Error::new(
            io::ErrorKind::NotADirectory,
            "exists and is not a directory",
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(dir)
                .map_err(io_err(dir))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(io_err(dir))
        }
        Err(e) => Err(io_err(dir)(e)),
    }
}

/// Whether `name` is one of [`write_atomic`]'s temporary files for a
/// store file: `.<id>.ron.tmp-<pid>-<n>`.
fn is_store_temp(name: &OsStr) -> bool {
    let Some(rest) = name.to_str().and_then(|n| n.strip_prefix('.')) else {
        return false;
    };
    let Some((stem, tail)) = rest.split_once(".ron.tmp-") else {
        return false;
    };
    let Some((pid, n)) = tail.split_once('-') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    ProfileId::new(stem).is_ok() && digits(pid) && digits(n)
}

/// Removes the temporary files (regular files only) that interrupted
/// saves left in `dir`; one that cannot be removed is a problem.
fn remove_stale_temps(dir: &Path) -> Result<Vec<LoadProblem>, StoreError> {
    let mut problems = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        if !is_store_temp(&name) {
            continue;
        }
        let path = entry.path();
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => {}
            _ => continue,
        }
        if let Err(e) = fs::remove_file(&path) {
            problems.push(LoadProblem {
                file: path,
                error: format!(
                    "a temporary file left by an interrupted save could not be removed: {}",
                    describe_io(&e)
                ),
            });
        }
    }
    Ok(problems)
}

/// Reads the profiles directory: the profiles that load, and a problem for
/// every `*.ron` file that does not and every orphaned secrets file.
fn load(
    config: &StoreConfig,
) -> Result<(BTreeMap<ProfileId, Profile>, Vec<LoadProblem>), StoreError> {
    let dir = &config.profiles_dir;
    let mut profiles = BTreeMap::new();
    let mut problems = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(stem) = ron_stem(&name) else {
            continue;
        };
        let path = entry.path();
        let id = match stem.to_str().map(ProfileId::new) {
            Some(Ok(id)) => id,
            Some(Err(e)) => {
                problems.push(LoadProblem {
                    file: path,
                    error: format!("the file name must be <id>.ron: {e}"),
                });
                continue;
            }
            None => {
                problems.push(LoadProblem {
                    file: path,
                    error: "the file name must be <id>.ron: it is not UTF-8".into(),
                });
                continue;
            }
        };
        match load_profile(&path) {
            Ok(profile) => {
                profiles.insert(id, profile);
            }
            Err(error) => problems.push(LoadProblem { file: path, error }),
        }
    }
    problems.extend(orphaned_secrets(config));
    problems.sort_by(|a, b| a.file.cmp(&b.file));
    Ok((profiles, problems))
}

/// The stem of a `*.ron` file name.
fn ron_stem(name: &OsStr) -> Option<&OsStr> {
    let bytes = name.as_bytes();
    let stem = bytes.strip_suffix(b".ron")?;
    (!stem.is_empty()).then(|| OsStr::from_bytes(stem))
}

/// Reads and checks one profile file; the error is for a person to fix.
fn load_profile(path: &Path) -> Result<Profile, String> {
    let file = OpenOptions::new()
        .read(true)
        // Not a FIFO's writer to wait for, nor a terminal to take.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => "it is a symbolic link; a profile must be a regular file".into(),
            _ => format!("cannot read it: {}", describe_io(&e)),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read it: {}", describe_io(&e)))?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    let too_large = |n: u64| format!("it is {n} bytes; a profile is at most {MAX_PROFILE_BYTES}");
    if meta.len() > MAX_PROFILE_BYTES as u64 {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_PROFILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {}", describe_io(&e)))?;
    if bytes.len() > MAX_PROFILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "it is not UTF-8 text (at byte {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    Profile::from_ron(&text).map_err(|e| e.to_string())
}

/// A problem for each `<id>.ron` in the secrets directory without a
/// `<id>.ron` in the profiles directory (loaded or not). They are left in
/// place: [`Store::add`] never gives their ids to a new profile.
fn orphaned_secrets(config: &StoreConfig) -> Vec<LoadProblem> {
    let dir = &config.secrets_dir;
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            return vec![LoadProblem {
                file: dir.clone(),
                error: format!("cannot list the secrets: {}", describe_io(&e)),
            }]
        }
    };
    let mut problems = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if ron_stem(&name).is_none() {
            continue;
        }
        let profile = config.profiles_dir.join(&name);
        if fs::symlink_metadata(&profile).is_err() {
            problems.push(LoadProblem {
                file: entry.path(),
                error: format!(
                    "secrets without a profile ({} does not exist); remove the file, or \
                     restore the profile",
                    profile.display()
                ),
            });
        }
    }
    problems
}

/// Removes `path` (already gone is fine) and makes the removal durable.
fn remove_durably(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(parent_dir(path)).map_err(io_err(parent_dir(path))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialtone_api::profile::Modem;
    use std::collections::HashSet;
    use std::os::unix::fs::symlink;

    fn accept_all() -> DeviceCheck {
        Arc::new(|_| Ok(()))
    }

    /// A temporary root; the store's directories are not created yet.
    fn setup() -> (tempfile::TempDir, StoreConfig) {
        let root = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            profiles_dir: root.path().join("etc/dialtone/profiles"),
            secrets_dir: root.path().join("etc/dialtone/secrets"),
        };
        (root, config)
    }

    fn open(config: &StoreConfig) -> (Store, Vec<LoadProblem>) {
        Store::open(config.clone(), accept_all()).unwrap()
    }

    fn profile(name: &str) -> Profile {
        let mut p = Profile::new(name);
        p.line.device = "/dev/ttyS0".into();
        p
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Entry {
        File(u32, Vec<u8>),
        Dir(u32),
        Link(PathBuf),
    }

    /// Everything under `root`: names, modes, bytes, link targets.
    fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
        let mut all = BTreeMap::new();
        let mut todo = vec![root.to_path_buf()];
        while let Some(dir) = todo.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let meta = fs::symlink_metadata(&path).unwrap();
                let mode = meta.mode() & 0o7777;
                let e = if meta.file_type().is_symlink() {
                    Entry::Link(fs::read_link(&path).unwrap())
                } else if meta.is_dir() {
                    todo.push(path.clone());
                    Entry::Dir(mode)
                } else {
                    Entry::File(mode, fs::read(&path).unwrap())
                };
                all.insert(path, e);
            }
        }
        all
    }

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    fn bad_id(id: &str) -> String {
        match ProfileId::new(id) {
            Err(e @ StoreError::BadId(_)) => e.to_string(),
            other => panic!("{id:?}: {other:?}"),
        }
    }

    #[test]
    fn ids_follow_the_dbus_rules() {
        for ok in [
            "a",
            "0",
            "example_isp",
            "isp2",
            "a_b_c",
            "a_",
            &"a".repeat(64),
        ] {
            let id: ProfileId = ok.parse().unwrap();
            assert_eq!(id.to_string(), ok);
            assert_eq!(id.as_ref(), ok);
            assert_eq!(ProfileId::try_from(ok.to_string()).unwrap(), id);
        }
        let cases: [(&str, &str); 11] = [
            ("../etc/passwd", "'.' is not allowed"),
            ("a/b", "'/' is not allowed"),
            ("", "empty"),
            (&"a".repeat(65), "65 characters; at most 64"),
            (
                "Ab",
                "uppercase letters are not allowed (did you mean \"ab\"?)",
            ),
            ("x\0", "'\\0' is not allowed"),
            ("-x", "'-' is not allowed"),
            ("_x", "must not start with '_'"),
            ("a.b", "D-Bus object paths allow no '-' or '.'"),
            ("a b", "' ' is not allowed"),
            ("café", "'é' is not allowed"),
        ];
        for (id, expected) in cases {
            let message = bad_id(id);
            assert!(message.contains(expected), "{id:?}: {message}");
            assert!(message.contains("is not a profile id"), "{message}");
            assert!(!message.contains('\0'), "{message:?}");
            assert!(ProfileId::try_from(id).is_err());
        }
        // A huge id is not quoted whole.
        assert!(bad_id(&"A".repeat(100_000)).len() < 400);
    }

    #[test]
    fn from_name_makes_readable_ids() {
        let none = |_: &ProfileId| false;
        let cases = [
            ("Example ISP", "example_isp"),
            ("  Example   ISP!! ", "example_isp"),
            ("ISP-2 (backup)", "isp_2_backup"),
            ("Café Net", "cafe_net"),
            ("Straße", "strasse"),
            ("Über.Net", "uber_net"),
            ("Łódź Dial-up", "lodz_dial_up"),
            ("東京 ISP", "isp"),
            ("Dial—up №1", "dial_up_1"),
            ("東京", "profile"),
            ("", "profile"),
            ("---", "profile"),
            ("_hidden_", "hidden"),
            ("../../etc/passwd", "etc_passwd"),
            ("9600 baud", "9600_baud"),
        ];
        for (name, expected) in cases {
            let id = ProfileId::from_name(name, none);
            assert_eq!(id.as_str(), expected, "{name:?}");
            ProfileId::new(id.as_str()).unwrap();
        }
        let long = ProfileId::from_name(&"Abc ".repeat(40), none);
        assert!(long.as_str().len() <= 64 && !long.as_str().ends_with('_'));
        ProfileId::new(long.as_str()).unwrap();
    }

    #[test]
    fn from_name_is_unique() {
        let taken: HashSet<&str> = ["example_isp", "example_isp_2"].into();
        let id = ProfileId::from_name("Example ISP", |id| taken.contains(id.as_str()));
        assert_eq!(id.as_str(), "example_isp_3");

        // The suffix fits in 64 characters.
        let long = "a".repeat(70);
        let id = ProfileId::from_name(&long, |id| id.as_str() == "a".repeat(64));
        assert_eq!(id.as_str(), format!("{}_2", "a".repeat(62)));

        let mut seen = HashSet::new();
        for _ in 0..12 {
            let id = ProfileId::from_name("Same Name", |id| seen.contains(id));
            ProfileId::new(id.as_str()).unwrap();
            assert!(seen.insert(id));
        }
        assert!(seen.contains(&ProfileId::new("same_name_12").unwrap()));
    }

    #[test]
    fn add_update_delete_list_round_trip() {
        let (_root, config) = setup();
        let (mut store, problems) = open(&config);
        assert!(problems.is_empty() && store.list().next().is_none());

        let isp = store.add(profile("Example ISP")).unwrap();
        let isp2 = store.add(profile("Example ISP")).unwrap();
        let backup = store.add(profile("Backup")).unwrap();
        assert_eq!(
            (isp.as_str(), isp2.as_str(), backup.as_str()),
            ("example_isp", "example_isp_2", "backup")
        );
        let ids: Vec<&str> = store.list().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["backup", "example_isp", "example_isp_2"]);
        assert_eq!(
            fs::read_to_string(store.profile_path(&isp)).unwrap(),
            profile("Example ISP").to_ron()
        );

        let mut changed = profile("Example ISP (renamed)");
        changed.line.speed = 57_600;
        changed.modem = Some(Modem {
            numbers: vec!["1234567".into()],
            ..Modem::default()
        });
        store.update(&isp, changed.clone()).unwrap();
        assert_eq!(store.get(&isp), Some(&changed));
        let on_disk = fs::read_to_string(store.profile_path(&isp)).unwrap();
        assert_eq!(Profile::from_ron(&on_disk).unwrap(), changed);

        let nope = ProfileId::new("nope").unwrap();
        let err = store.update(&nope, profile("x")).unwrap_err();
        assert_eq!(err.to_string(), "no profile nope");
        assert!(matches!(store.delete(&nope), Err(StoreError::NotFound(_))));
        assert!(matches!(
            store.password(&nope),
            Err(StoreError::NotFound(_))
        ));

        assert!(!store.has_secrets(&isp));
        assert_eq!(store.password(&isp).unwrap(), "");
        store.set_secrets(&isp, &Secrets::new("hunter2")).unwrap();
        assert!(store.has_secrets(&isp));
        assert_eq!(store.password(&isp).unwrap(), "hunter2");
        store
            .set_secrets(&isp, &Secrets::new("correct horse"))
            .unwrap();
        assert_eq!(store.password(&isp).unwrap(), "correct horse");

        store.delete(&isp2).unwrap();
        store.delete(&isp).unwrap();
        assert!(!store.profile_path(&isp).exists() && !store.profile_path(&isp2).exists());
        assert!(!store.has_secrets(&isp) && !store.secrets_path(&isp).exists());
        assert!(store.get(&isp).is_none());
        assert!(matches!(store.delete(&isp), Err(StoreError::NotFound(_))));
        let ids: Vec<&str> = store.list().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["backup"]);

        // The id is free again, and comes without the old secrets.
        let again = store.add(profile("Example ISP")).unwrap();
        assert_eq!(again, isp);
        assert_eq!(store.password(&again).unwrap(), "");
    }

    #[test]
    fn reopen_finds_the_same() {
        let (_root, config) = setup();
        let (mut store, _) = open(&config);
        for name in ["Zeta", "Alpha", "Middle", "Alpha"] {
            let mut p = profile(name);
            p.user = format!("user of {name}");
            store.add(p).unwrap();
        }
        let alpha = ProfileId::new("alpha").unwrap();
        store.set_secrets(&alpha, &Secrets::new("pw")).unwrap();
        let before: Vec<(ProfileId, Profile)> = store
            .list()
            .map(|(id, p)| (id.clone(), p.clone()))
            .collect();
        drop(store);

        let (store, problems) = open(&config);
        assert_eq!(problems, []);
        let after: Vec<(ProfileId, Profile)> = store
            .list()
            .map(|(id, p)| (id.clone(), p.clone()))
            .collect();
        assert_eq!(after, before);
        assert_eq!(after.len(), 4);
        assert!(store.has_secrets(&alpha));
        assert_eq!(store.password(&alpha).unwrap(), "pw");
        assert!(!store.has_secrets(&ProfileId::new("alpha_2").unwrap()));
    }

    #[test]
    fn bad_files_are_reported_by_name_and_left_untouched() {
        let (root, config) = setup();
        let (mut store, _) = open(&config);
        let good = store.add(profile("Good")).unwrap();
        drop(store);
        let dir = &config.profiles_dir;
        let valid = profile("Valid").to_ron();
        fs::write(dir.join("garbage.ron"), "this is not RON {{{").unwrap();
        fs::write(dir.join("newer.ron"), "Profile(version: 2, name: \"x\")").unwrap();
        fs::write(
            dir.join("unknown.ron"),
            "Profile(version: 1, name: \"x\", colour: \"red\")",
        )
        .unwrap();
        fs::write(
            dir.join("invalid.ron"),
            "Profile(version: 1, name: \"x\", line: (speed: 12345))",
        )
        .unwrap();
        fs::write(dir.join("Bad-Name.ron"), &valid).unwrap();
        fs::write(dir.join(".hidden.ron"), &valid).unwrap();
        fs::write(dir.join("latin1.ron"), b"Profile(name: \"Caf\xe9\")").unwrap();
        let mut huge = valid.clone().into_bytes();
        huge.resize(10 * 1024 * 1024, b' ');
        fs::write(dir.join("huge.ron"), &huge).unwrap();
        symlink("good.ron", dir.join("link.ron")).unwrap();
        fs::create_dir(dir.join("dir.ron")).unwrap();
        fs::write(dir.join("notes.txt"), "not a profile, not a problem").unwrap();
        fs::write(
            config.secrets_dir.join("ghost.ron"),
            Secrets::new("boo").to_ron(),
        )
        .unwrap();
        let before = snapshot(root.path());

        let (mut store, problems) = open(&config);
        assert_eq!(store.problems(), &problems[..]);
        let ids: Vec<&str> = store.list().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["good"]);
        assert_eq!(store.get(&good), Some(&profile("Good")));
        let expected = [
            (".hidden.ron", "must be <id>.ron"),
            ("Bad-Name.ron", "uppercase letters are not allowed"),
            ("dir.ron", "not a regular file"),
            ("garbage.ron", "not a valid profile"),
            ("huge.ron", "10485760 bytes; a profile is at most 65536"),
            ("invalid.ron", "line.speed: 12345 is not a serial speed"),
            ("latin1.ron", "not UTF-8 text (at byte 18)"),
            ("link.ron", "symbolic link"),
            ("newer.ron", "version 2 is not supported"),
            ("unknown.ron", "colour"),
        ];
        let mut found: Vec<(PathBuf, String)> = problems
            .iter()
            .map(|p| (p.file.clone(), p.error.clone()))
            .collect();
        let ghost = found.remove(
            found
                .iter()
                .position(|(f, _)| *f == config.secrets_dir.join("ghost.ron"))
                .unwrap(),
        );
        assert!(ghost.1.contains("secrets without a profile"), "{}", ghost.1);
        assert_eq!(found.len(), expected.len(), "{found:#?}");
        for ((file, error), (name, text)) in found.iter().zip(expected) {
            assert_eq!(*file, dir.join(name));
            assert!(error.contains(text), "{name}: {error}");
        }
        assert_eq!(snapshot(root.path()), before, "open changed a file");

        // Their names stay taken: nothing is overwritten, nothing inherited.
        assert_eq!(store.add(profile("Garbage")).unwrap().as_str(), "garbage_2");
        let ghost2 = store.add(profile("Ghost")).unwrap();
        assert_eq!(ghost2.as_str(), "ghost_2");
        assert_eq!(store.password(&ghost2).unwrap(), "");
        assert_eq!(
            fs::read(dir.join("garbage.ron")).unwrap(),
            b"this is not RON {{{"
        );
    }

    #[test]
    fn reload_sees_hand_edits() {
        let (_root, config) = setup();
        let (mut store, _) = open(&config);
        let a = store.add(profile("A")).unwrap();
        let b = store.add(profile("B")).unwrap();
        let mut edited = profile("A, edited by hand");
        edited.line.speed = 9600;
        fs::write(store.profile_path(&a), edited.to_ron()).unwrap();
        fs::write(store.profile_path(&b), "Profile(").unwrap();
        fs::write(config.profiles_dir.join("c.ron"), profile("C").to_ron()).unwrap();

        let problems = store.reload();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].file, store.profile_path(&b));
        assert_eq!(store.problems(), &problems[..]);
        assert_eq!(store.get(&a), Some(&edited));
        assert!(store.get(&b).is_none());
        let ids: Vec<&str> = store.list().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(fs::read(store.profile_path(&b)).unwrap(), b"Profile(");
    }

    #[test]
    fn open_removes_leftover_temp_files_and_nothing_else() {
        let (root, config) = setup();
        let (mut store, _) = open(&config);
        store.add(profile("ISP")).unwrap();
        drop(store);
        let p = &config.profiles_dir;
        let s = &config.secrets_dir;
        let stale = [
            p.join(".isp.ron.tmp-123-4"),
            p.join(".other.ron.tmp-99999-0"),
            s.join(".isp.ron.tmp-5-6"),
        ];
        for path in &stale {
            fs::write(path, "Profile(version: 1, na").unwrap();
        }
        for name in [
            ".isp.ron.tmp-abc-1",
            ".isp.ron.tmp-1-2-3",
            ".isp.ron.tmp-1",
            "isp.ron.tmp-1-2",
            ".Bad.ron.tmp-1-2",
            ".isp.ron.swp",
            "notes.txt",
        ] {
            fs::write(p.join(name), "keep me").unwrap();
        }
        fs::create_dir(p.join(".dir.ron.tmp-1-2")).unwrap();
        symlink("isp.ron", p.join(".link.ron.tmp-1-2")).unwrap();
        let mut expected = snapshot(root.path());
        for path in &stale {
            expected.remove(path).unwrap();
        }

        let (store, problems) = open(&config);
        assert_eq!(problems, []);
        assert_eq!(snapshot(root.path()), expected);
        let ids: Vec<&str> = store.list().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["isp"]);
    }

    #[test]
    fn files_and_directories_get_their_modes() {
        let (_root, config) = setup();
        let (mut store, _) = open(&config);
        assert_eq!(mode_of(&config.profiles_dir), 0o755);
        assert_eq!(mode_of(&config.secrets_dir), 0o700);
        let id = store.add(profile("ISP")).unwrap();
        store.set_secrets(&id, &Secrets::new("pw")).unwrap();
        for _ in 0..2 {
            assert_eq!(mode_of(&store.profile_path(&id)), 0o644);
            assert_eq!(mode_of(&store.secrets_path(&id)), 0o600);
            // SAFETY: geteuid has no preconditions.
            let euid = unsafe { libc::geteuid() };
            assert_eq!(fs::metadata(store.secrets_path(&id)).unwrap().uid(), euid);
            store.update(&id, profile("ISP 2")).unwrap();
            store.set_secrets(&id, &Secrets::new("pw2")).unwrap();
        }
        // Existing directories keep their modes.
        fs::set_permissions(&config.profiles_dir, fs::Permissions::from_mode(0o750)).unwrap();
        drop(store);
        open(&config);
        assert_eq!(mode_of(&config.profiles_dir), 0o750);

        // The exact mode, even one the umask would narrow.
        let path = config.profiles_dir.join("shared");
        write_atomic(&path, b"x", 0o666).unwrap();
        assert_eq!(mode_of(&path), 0o666);
        write_atomic(&path, b"y", 0o600).unwrap();
        assert_eq!(mode_of(&path), 0o600);
    }

    #[test]
    fn a_refused_device_writes_nothing() {
        let (root, config) = setup();
        let check: DeviceCheck = Arc::new(|device| {
            if device == Path::new("/dev/ttyS9") {
                Err("/dev/ttyS9 is not a serial port".into())
            } else {
                Ok(())
            }
        });
        let (mut store, _) = Store::open(config.clone(), check).unwrap();
        let id = store.add(profile("ISP")).unwrap();
        let before = snapshot(root.path());
        let mut p = profile("Other");
        p.line.device = "/dev/ttyS9".into();
        for result in [store.add(p.clone()).map(|_| ()), store.update(&id, p)] {
            match result {
                Err(StoreError::Invalid { field, problem }) => {
                    assert_eq!(field, "line.device");
                    assert_eq!(problem, "/dev/ttyS9 is not a serial port");
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(snapshot(root.path()), before);
        assert_eq!(store.get(&id), Some(&profile("ISP")));
        assert_eq!(store.list().count(), 1);
    }

    #[test]
    fn invalid_profiles_write_nothing() {
        let (root, config) = setup();
        let (mut store, _) = open(&config);
        let id = store.add(profile("ISP")).unwrap();
        let before = snapshot(root.path());
        let mut cases: Vec<(Profile, &str)> = Vec::new();
        let mut p = profile("Speed");
        p.line.speed = 12_345;
        cases.push((p, "line.speed"));
        cases.push((profile(" "), "name"));
        let mut p = profile("Version");
        p.version = 2;
        cases.push((p, "version"));
        let mut p = profile("No numbers");
        p.modem = Some(Modem::default());
        cases.push((p, "modem.numbers"));
        let mut p = profile("Shadow");
        p.line.device = "/dev/../etc/shadow".into();
        cases.push((p, "line.device"));
        for (p, field) in cases {
            for result in [
                store.add(p.clone()).map(|_| ()),
                store.update(&id, p.clone()),
            ] {
                match result {
                    Err(StoreError::Invalid { field: f, .. }) => assert_eq!(f, field),
                    other => panic!("{field}: {other:?}"),
                }
            }
        }
        // Validation bounds every list and string, so the largest valid
        // profile stays well within the size limit of a profile file.
        let mut p = profile("Huge");
        p.modem = Some(Modem {
            init: vec!["AT".repeat(64); 16],
            numbers: vec!["1".repeat(64); 16],
            abort: vec!["X".repeat(64); 32],
            ..Modem::default()
        });
        p.validate().unwrap();
        assert!(p.to_ron().len() < dialtone_api::profile::MAX_PROFILE_BYTES / 2);
        p.modem.as_mut().unwrap().init.push("ATZ".into());
        assert!(
            matches!(store.update(&id, p), Err(StoreError::Invalid { field, .. }) if field == "modem.init")
        );

        assert_eq!(snapshot(root.path()), before);
        assert_eq!(store.get(&id), Some(&profile("ISP")));
        assert_eq!(store.list().count(), 1);
    }

    #[test]
    fn bad_secrets_write_nothing() {
        let (root, config) = setup();
        let (mut store, _) = open(&config);
        let id = store.add(profile("ISP")).unwrap();
        store.set_secrets(&id, &Secrets::new("old")).unwrap();
        let before = snapshot(root.path());
        let long = Secrets::new("p".repeat(257));
        let nul = Secrets::new("pass\0word");
        let mut newer = Secrets::new("pw");
        newer.version = 2;
        for (s, field) in [(&long, "password"), (&nul, "password"), (&newer, "version")] {
            match store.set_secrets(&id, s) {
                Err(StoreError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{s:?}: {other:?}"),
            }
        }
        let nope = ProfileId::new("nope").unwrap();
        assert!(matches!(
            store.set_secrets(&nope, &Secrets::new("pw")),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(snapshot(root.path()), before);
        assert_eq!(store.password(&id).unwrap(), "old");
        // Exactly 256 bytes is fine.
        store
            .set_secrets(&id, &Secrets::new("p".repeat(256)))
            .unwrap();
    }

    #[test]
    fn password_refuses_secrets_others_could_read() {
        let (_root, config) = setup();
        let (mut store, _) = open(&config);
        let id = store.add(profile("ISP")).unwrap();
        store.set_secrets(&id, &Secrets::new("pw")).unwrap();
        let path = store.secrets_path(&id);
        for mode in [0o644, 0o640, 0o604, 0o660] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            match store.password(&id) {
                Err(e @ StoreError::InsecureSecrets { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains(&format!("mode {mode:04o}")), "{text}");
                    assert!(text.contains("chmod 600"), "{text}");
                    assert!(text.contains(&path.display().to_string()), "{text}");
                }
                other => panic!("{mode:o}: {other:?}"),
            }
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(store.password(&id).unwrap(), "pw");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();

        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&path, Some(12345), None).unwrap();
            let err = store.password(&id).unwrap_err().to_string();
            assert!(err.contains("owned by uid 12345"), "{err}");
            std::os::unix::fs::chown(&path, Some(0), None).unwrap();
            assert_eq!(store.password(&id).unwrap(), "pw");
        }

        let elsewhere = config.secrets_dir.join("elsewhere");
        fs::rename(&path, &elsewhere).unwrap();
        symlink(&elsewhere, &path).unwrap();
        let err = store.password(&id).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }

    #[test]
    fn secrets_never_appear_in_errors_or_debug() {
        const PW: &str = "Sup3r-Secret-PW";
        let (_root, config) = setup();
        let (mut store, _) = open(&config);
        let id = store.add(profile("ISP")).unwrap();
        store.set_secrets(&id, &Secrets::new(PW)).unwrap();
        let mut said: Vec<String> = vec![
            format!("{store:?}"),
            format!("{:?}", Secrets::new(PW)),
            format!("{:?}", store.problems()),
        ];
        let mut say = |e: StoreError| {
            said.push(e.to_string());
            said.push(format!("{e:?}"));
        };
        say(store
            .set_secrets(&id, &Secrets::new(PW.repeat(20)))
            .unwrap_err());
        say(store
            .set_secrets(&id, &Secrets::new(format!("{PW}\0")))
            .unwrap_err());
        let mut newer = Secrets::new(PW);
        newer.version = 7;
        say(store.set_secrets(&id, &newer).unwrap_err());

        let path = store.secrets_path(&id);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        say(store.password(&id).unwrap_err());
        for damaged in [
            format!("Secrets(version: 1, password: \"{PW}\", extra: 1)"),
            format!("Secrets(version: 1, password: \"{PW}"),
            format!("Secrets(version: 1, password: {PW})"),
            format!("Secrets(version: 1, password: \"{}\")", PW.repeat(300)),
            format!("Secrets(version: 3, password: \"{PW}\")"),
        ] {
            write_atomic(&path, damaged.as_bytes(), 0o600).unwrap();
            let err = store.password(&id).unwrap_err();
            assert!(
                matches!(&err, StoreError::BadSecrets { path: p, .. } if *p == path),
                "{err:?}"
            );
            say(err);
        }
        let problems = store.reload();
        said.push(format!("{problems:?}"));
        drop(store);
        let (store, problems) = open(&config);
        said.push(format!("{problems:?} {store:?}"));
        assert!(said.len() > 10);
        assert!(said
            .iter()
            .any(|t| t.contains("larger than the 4096 bytes")));
        assert!(said
            .iter()
            .any(|t| t.contains("secrets version 3 is not supported")));
        assert!(said
            .iter()
            .any(|t| t.contains("secrets version 7 is not supported")));
        for text in &said {
            assert!(!text.contains(PW), "{text}");
            assert!(!text.contains("Sup3r"), "{text}");
        }
    }

    /// Runs `f` on a thread whose file-system accesses are checked as user
    /// `nobody` (when root: `setfsuid` is per thread and drops
    /// CAP_DAC_OVERRIDE with it), so that a read-only directory is one.
    fn as_nobody<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(move || {
            // SAFETY: setfsuid changes only this thread's file-system uid
            // and has no memory-safety preconditions.
            unsafe { libc::setfsuid(65534) };
            let out = f();
            // SAFETY: as above.
            unsafe { libc::setfsuid(0) };
            out
        })
        .join()
        .unwrap()
    }

    #[test]
    fn write_atomic_failures_leave_the_old_file() {
        let root = tempfile::tempdir().unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();

        // No directory: nothing is created.
        let missing = root.path().join("missing/x.ron");
        let err = write_atomic(&missing, b"new", 0o644).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(!root.path().join("missing").exists());

        // The rename fails (a non-empty directory is in the way) after the
        // temporary file was written: it is removed.
        let dir = root.path().join("d");
        fs::create_dir_all(dir.join("in_the_way/inside")).unwrap();
        fs::write(dir.join("old"), "old").unwrap();
        let before = snapshot(&dir);
        write_atomic(&dir.join("in_the_way"), b"new", 0o644).unwrap_err();
        assert_eq!(snapshot(&dir), before);

        // A read-only directory: the old file stays as it was.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
        let old = dir.join("old");
        let result = as_nobody(move || write_atomic(&old, b"new", 0o644));
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(snapshot(&dir), before);
        assert_eq!(fs::read(dir.join("old")).unwrap(), b"old");

        // And through the store: an error naming the file, the profile as
        // it was in memory and on disk.
        let config = StoreConfig {
            profiles_dir: root.path().join("profiles"),
            secrets_dir: root.path().join("secrets"),
        };
        let (mut store, _) = open(&config);
        let id = store.add(profile("ISP")).unwrap();
        fs::set_permissions(&config.profiles_dir, fs::Permissions::from_mode(0o555)).unwrap();
        let before = snapshot(&config.profiles_dir);
        let (store, err) = as_nobody(move || {
            let err = store.update(&id, profile("ISP, changed")).unwrap_err();
            (store, err)
        });
        assert!(
            matches!(&err, StoreError::Io { path, .. } if path.ends_with("profiles/isp.ron")),
            "{err:?}"
        );
        assert!(
            err.to_string().ends_with("isp.ron: permission denied"),
            "{err}"
        );
        assert_eq!(snapshot(&config.profiles_dir), before);
        let id = ProfileId::new("isp").unwrap();
        assert_eq!(store.get(&id), Some(&profile("ISP")));
        for d in [&dir, &config.profiles_dir] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    #[test]
    fn profile_errors_keep_their_field() {
        let e: StoreError = ProfileError::Invalid {
            field: "modem.numbers[1]".into(),
            problem: "'x' cannot be dialed".into(),
        }
        .into();
        assert!(matches!(&e, StoreError::Invalid { field, .. } if field == "modem.numbers[1]"));
        assert_eq!(e.to_string(), "modem.numbers[1]: 'x' cannot be dialed");
        let e: StoreError = ProfileError::Version { found: 3 }.into();
        assert_eq!(
            e.to_string(),
            "version: 3 is not supported; this Dialtone writes version 1"
        );
        let e: StoreError = ProfileError::TooLarge(70_000).into();
        assert!(matches!(e, StoreError::TooLarge(70_000)));
    }
}
