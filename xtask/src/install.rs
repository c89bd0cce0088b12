//! `cargo xtask install`: builds `dialtoned`, `dialtonectl` and the GUI
//! `dialtone`, and installs them with the system files from `data/` (bus
//! policy, D-Bus activation file, systemd unit, polkit actions), the
//! desktop files (desktop entry, AppStream metadata, icons) and the
//! translations.
//!
//! The layout, for `--prefix /usr` (the default):
//!
//! | file | mode |
//! |---|---|
//! | `/usr/libexec/dialtoned` | 0755 |
//! | `/usr/bin/dialtonectl` (when the package has that program) | 0755 |
//! | `/usr/bin/dialtone` (the GUI) | 0755 |
//! | `/usr/share/dbus-1/system.d/io.github.dialtone.Dialtone1.conf` | 0644 |
//! | `/usr/share/dbus-1/system-services/io.github.dialtone.Dialtone1.service` | 0644 |
//! | `/usr/lib/systemd/system/dialtoned.service` | 0644 |
//! | `/usr/share/polkit-1/actions/io.github.dialtone.policy` | 0644 |
//! | `/usr/share/applications/io.github.dialtone.Dialtone.desktop` | 0644 |
//! | `/usr/share/metainfo/io.github.dialtone.Dialtone.metainfo.xml` | 0644 |
//! | `/usr/share/icons/hicolor/scalable/apps/io.github.dialtone.Dialtone.svg` | 0644 |
//! | `/usr/share/icons/hicolor/symbolic/apps/io.github.dialtone.Dialtone-symbolic.svg` | 0644 |
//! | `/usr/share/locale/<lang>/LC_MESSAGES/dialtone.mo`, each language of `po/LINGUAS` | 0644 |
//! | `/etc/dialtone/`, `/etc/dialtone/profiles/` | 0755 (directories) |
//! | `/etc/dialtone/secrets/` | 0700 (directory) |
//!
//! The program path in the activation file (`Exec=`) and the unit
//! (`ExecStart=`) is rewritten to `<prefix>/libexec/dialtoned`. The unit goes
//! to `<prefix>/lib/systemd/system`: on Debian 12 (merged /usr) `/lib` is a
//! link to `/usr/lib`, and systemd also reads `/usr/local/lib/systemd/system`.
//! `/etc` does not follow the prefix: the daemon's default configuration
//! directory is `/etc/dialtone` whatever the prefix.
//!
//! The desktop entry and the metadata are the translated files that
//! `cargo xtask po` generates and that are committed; their `Exec=` lines
//! name `dialtone` without a directory (it is found on `PATH`). The
//! translations are compiled from `po/<lang>.po` with msgfmt.
//!
//! `--destdir DIR` (or the `DESTDIR` environment variable) stages the tree
//! under DIR, as packaging tools expect; nothing else is touched then.
//! Without it the files go into the running system (root only), after which
//! the system bus reloads its configuration, systemd its units, and the
//! icon theme's cache (if there is one) is updated.
//!
//! Every file is written to a temporary name beside its destination and
//! renamed into place, so a running `dialtoned` is never overwritten in the
//! middle (and never fails the copy with "text file busy").

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use crate::demo::target_dir;
use crate::po;
use crate::{cargo_bin, is_root, run, workspace_root, Failure};

/// The name the daemon and the activation file use.
const DAEMON: &str = "dialtoned";
/// The command-line client.
const CLIENT: &str = "dialtonectl";
/// The GUI.
const GUI: &str = "dialtone";
/// The package of the daemon and the client.
const HELPER_PACKAGE: &str = "dialtone-helper";
/// The package of the GUI (the workspace root).
const GUI_PACKAGE: &str = "dialtone";
/// The application id: the names of the desktop files.
const APP_ID: &str = "io.github.dialtone.Dialtone";

/// The command line, parsed.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    /// Staging directory; `None` installs into the running system.
    destdir: Option<PathBuf>,
    /// Where the programs and data go (`/usr`).
    prefix: PathBuf,
    /// `cargo build --release` (the default) or a debug build.
    release: bool,
}

/// Where a file's bytes come from.
#[derive(Debug, PartialEq, Eq)]
enum Source {
    /// A program cargo built from `package`. `required: false` means:
    /// installed if the package has it (another person may not have written
    /// it yet).
    Program {
        name: &'static str,
        package: &'static str,
        required: bool,
    },
    /// A file in `data/`, with the program of one `key=` line set to the
    /// installed daemon (`Exec=`, `ExecStart=`).
    Data {
        path: &'static str,
        exec_key: Option<&'static str>,
    },
    /// The translation `po/<lang>.po`, compiled with msgfmt.
    Translation { lang: String },
    /// A directory to create (mode set even if it exists).
    Directory,
}

/// One thing to install.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    source: Source,
    /// The absolute path on the target system (before DESTDIR).
    dest: PathBuf,
    mode: u32,
}

/// What goes where for `prefix` (absolute, checked by [`check_prefix`]),
/// with the translations `languages`.
fn layout(prefix: &Path, languages: &[String]) -> Vec<Entry> {
    let file = |source, dest: PathBuf, mode| Entry { source, dest, mode };
    let data = |path, exec_key| Source::Data { path, exec_key };
    let share = prefix.join("share");
    let mut entries = vec![
        file(
            Source::Program {
                name: DAEMON,
                package: HELPER_PACKAGE,
                required: true,
            },
            daemon_path(prefix),
            0o755,
        ),
        file(
            Source::Program {
                name: CLIENT,
                package: HELPER_PACKAGE,
                required: false,
            },
            prefix.join("bin").join(CLIENT),
            0o755,
        ),
        file(
            Source::Program {
                name: GUI,
                package: GUI_PACKAGE,
                required: true,
            },
            prefix.join("bin").join(GUI),
            0o755,
        ),
        file(
            data("data/dbus/io.github.dialtone.Dialtone1.conf", None),
            share.join("dbus-1/system.d/io.github.dialtone.Dialtone1.conf"),
            0o644,
        ),
        file(
            data(
                "data/dbus/io.github.dialtone.Dialtone1.service",
                Some("Exec"),
            ),
            share.join("dbus-1/system-services/io.github.dialtone.Dialtone1.service"),
            0o644,
        ),
        file(
            data("data/systemd/dialtoned.service", Some("ExecStart")),
            prefix.join("lib/systemd/system/dialtoned.service"),
            0o644,
        ),
        file(
            data("data/polkit/io.github.dialtone.policy", None),
            share.join("polkit-1/actions/io.github.dialtone.policy"),
            0o644,
        ),
        file(
            data(po::DESKTOP_FILE, None),
            share.join(format!("applications/{APP_ID}.desktop")),
            0o644,
        ),
        file(
            data(po::METAINFO_FILE, None),
            share.join(format!("metainfo/{APP_ID}.metainfo.xml")),
            0o644,
        ),
        file(
            data(
                "data/icons/hicolor/scalable/apps/io.github.dialtone.Dialtone.svg",
                None,
            ),
            share.join(format!("icons/hicolor/scalable/apps/{APP_ID}.svg")),
            0o644,
        ),
        file(
            data(
                "data/icons/hicolor/symbolic/apps/io.github.dialtone.Dialtone-symbolic.svg",
                None,
            ),
            share.join(format!("icons/hicolor/symbolic/apps/{APP_ID}-symbolic.svg")),
            0o644,
        ),
        file(Source::Directory, PathBuf::from("/etc/dialtone"), 0o755),
        file(
            Source::Directory,
            PathBuf::from("/etc/dialtone/profiles"),
            0o755,
        ),
        file(
            Source::Directory,
            PathBuf::from("/etc/dialtone/secrets"),
            0o700,
        ),
    ];
    for lang in languages {
        entries.push(file(
            Source::Translation { lang: lang.clone() },
            share.join(format!("locale/{lang}/LC_MESSAGES/{}.mo", po::DOMAIN)),
            0o644,
        ));
    }
    entries
}

/// `<prefix>/libexec/dialtoned`.
fn daemon_path(prefix: &Path) -> PathBuf {
    prefix.join("libexec").join(DAEMON)
}

/// `path` (absolute) under `destdir`, or `path` itself without one.
fn staged(destdir: Option<&Path>, path: &Path) -> PathBuf {
    match destdir {
        None => path.to_path_buf(),
        Some(d) => d.join(path.strip_prefix("/").unwrap_or(path)),
    }
}

/// A prefix must be absolute, plain (no `..`), and safe to write unquoted
/// in an `Exec=` line: no white space, no quotes or backslashes, and no `%`
/// or `$` (systemd specifiers and variables).
fn check_prefix(prefix: &Path) -> Result<(), String> {
    if !prefix.is_absolute() {
        return Err(format!(
            "the prefix must be an absolute path (got {})",
            prefix.display()
        ));
    }
    if prefix.components().any(|c| c == Component::ParentDir) {
        return Err(format!(
            "the prefix must not contain `..` (got {})",
            prefix.display()
        ));
    }
    let Some(text) = prefix.to_str() else {
        return Err(format!(
            "the prefix must be UTF-8 (got {})",
            prefix.display()
        ));
    };
    if let Some(bad) = text
        .chars()
        .find(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '%' | '$'))
    {
        return Err(format!(
            "the prefix {text:?} contains {bad:?}, which an Exec= line would need \
             quoted; choose a plain path"
        ));
    }
    Ok(())
}

/// Sets the program of the one `key=` line of a D-Bus activation file or a
/// systemd unit to `program`, keeping its arguments:
/// `Exec=/usr/libexec/dialtoned service` becomes
/// `Exec=/opt/dt/libexec/dialtoned service`. Only a line whose key is
/// exactly `key` counts (`ExecStartPre=` is not `ExecStart=`); none, or
/// more than one, is an error.
fn set_program(text: &str, key: &str, program: &Path) -> Result<String, String> {
    let program = program
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", program.display()))?;
    let mut found = 0;
    let mut out = String::with_capacity(text.len() + program.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        match body.split_once('=') {
            Some((k, value)) if k.trim() == key && !body.trim_start().starts_with('#') => {
                found += 1;
                let value = value.trim();
                let args = value
                    .split_once(char::is_whitespace)
                    .map(|(_, rest)| rest.trim_start())
                    .unwrap_or("");
                if value.is_empty() {
                    return Err(format!("`{key}=` has no program"));
                }
                out.push_str(key);
                out.push('=');
                out.push_str(program);
                if !args.is_empty() {
                    out.push(' ');
                    out.push_str(args);
                }
                out.push_str(ending);
            }
            _ => out.push_str(line),
        }
    }
    match found {
        1 => Ok(out),
        0 => Err(format!("no `{key}=` line")),
        n => Err(format!("{n} `{key}=` lines, expected one")),
    }
}

/// Parses `[--destdir DIR] [--prefix DIR] [--release|--debug]`;
/// `env_destdir` is the `DESTDIR` environment variable (an empty one counts
/// as unset), which `--destdir` overrides.
fn parse_args(args: &[String], env_destdir: Option<OsString>) -> Result<Options, Failure> {
    let mut destdir: Option<PathBuf> = None;
    let mut prefix: Option<PathBuf> = None;
    let mut build: Option<&str> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |flag: &str| -> Result<PathBuf, Failure> {
            let v = match inline.clone() {
                Some(v) => v,
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| Failure::Usage(format!("{flag} needs a directory")))?,
            };
            if v.is_empty() {
                return Err(Failure::Usage(format!("{flag} needs a directory")));
            }
            Ok(PathBuf::from(v))
        };
        match flag {
            "--destdir" => destdir = Some(value(flag)?),
            "--prefix" => prefix = Some(value(flag)?),
            "--release" | "--debug" if inline.is_none() => {
                if build.is_some_and(|b| b != flag) {
                    return Err(Failure::Usage(
                        "--release and --debug exclude each other".into(),
                    ));
                }
                build = Some(flag);
            }
            _ => return Err(Failure::Usage(format!("unexpected argument `{arg}`"))),
        }
    }
    let destdir = destdir.or_else(|| env_destdir.filter(|d| !d.is_empty()).map(PathBuf::from));
    let prefix = prefix.unwrap_or_else(|| PathBuf::from("/usr"));
    check_prefix(&prefix).map_err(Failure::Usage)?;
    Ok(Options {
        destdir,
        prefix,
        release: build != Some("--debug"),
    })
}

pub fn cmd_install(args: &[String]) -> Result<(), Failure> {
    let options = parse_args(args, std::env::var_os("DESTDIR"))?;
    if options.destdir.is_none() && !is_root() {
        return Err(Failure::Failed(
            "installing into the system needs root (sudo cargo xtask install); \
             to stage the files elsewhere use --destdir DIR"
                .into(),
        ));
    }
    let root = workspace_root();
    let languages = po::linguas(&root.join("po")).map_err(Failure::Failed)?;
    let profile = if options.release { "release" } else { "debug" };
    println!("==> building {DAEMON}, {CLIENT} and {GUI} ({profile})");
    let mut build = Command::new(cargo_bin());
    build
        .current_dir(&root)
        .args(["build", "-p", HELPER_PACKAGE, "-p", GUI_PACKAGE, "--bins"]);
    if options.release {
        build.arg("--release");
    }
    run(&mut build).map_err(Failure::Failed)?;
    let target = target_dir(&root);
    let bin_dir = target.join(profile);

    let destdir = options.destdir.as_deref();
    match destdir {
        Some(d) => println!(
            "==> installing into {} (prefix {})",
            d.display(),
            options.prefix.display()
        ),
        None => println!(
            "==> installing into the system (prefix {})",
            options.prefix.display()
        ),
    }
    let daemon = daemon_path(&options.prefix);
    for entry in layout(&options.prefix, &languages) {
        let dest = staged(destdir, &entry.dest);
        let done = match &entry.source {
            Source::Directory => make_dir(&dest, entry.mode).map(|()| true),
            Source::Program {
                name,
                package,
                required,
            } => {
                let built = bin_dir.join(name);
                if built.is_file() && has_program(&root, package, name) {
                    install_file(
                        &dest,
                        &fs::read(&built).map_err(io_error(&built))?,
                        entry.mode,
                    )
                    .map(|()| true)
                } else if *required {
                    return Err(Failure::Failed(format!(
                        "cargo built no {} (expected {}); is its source ({}) there?",
                        name,
                        built.display(),
                        program_sources(&root, package, name)
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(" or ")
                    )));
                } else {
                    println!(
                        "skipped {} ({package} has no `{name}` program yet)",
                        dest.display()
                    );
                    Ok(false)
                }
            }
            Source::Data { path, exec_key } => {
                let src = root.join(path);
                let text = fs::read_to_string(&src).map_err(io_error(&src))?;
                let text = match exec_key {
                    None => text,
                    Some(key) => set_program(&text, key, &daemon)
                        .map_err(|e| Failure::Failed(format!("{}: {e}", src.display())))?,
                };
                install_file(&dest, text.as_bytes(), entry.mode).map(|()| true)
            }
            Source::Translation { lang } => {
                let po_file = root.join("po").join(format!("{lang}.po"));
                let mo_dir = target.join("locale").join(lang).join("LC_MESSAGES");
                fs::create_dir_all(&mo_dir).map_err(io_error(&mo_dir))?;
                let mo = mo_dir.join(format!("{}.mo", po::DOMAIN));
                let stats = po::compile(&po_file, &mo)
                    .map_err(|e| Failure::Failed(format!("{}: {e}", po_file.display())))?;
                println!("po/{lang}.po: {stats}");
                install_file(&dest, &fs::read(&mo).map_err(io_error(&mo))?, entry.mode)
                    .map(|()| true)
            }
        }
        .map_err(Failure::Failed)?;
        if done {
            let kind = if entry.source == Source::Directory {
                "directory "
            } else {
                ""
            };
            println!("installed {kind}{} ({:04o})", dest.display(), entry.mode);
        }
    }
    if options.prefix != Path::new("/usr") {
        println!(
            "note: dbus-daemon reads bus policies only from /usr/share/dbus-1/system.d and \
             /etc/dbus-1/system.d, and polkitd reads actions only from \
             /usr/share/polkit-1/actions: with the prefix {} they are not seen until linked there",
            options.prefix.display()
        );
    }
    if destdir.is_none() {
        reload_system();
        update_icon_cache(&options.prefix);
    }
    Ok(())
}

/// Where the source of the program `name` of `package` can be: cargo's
/// `src/bin/NAME.rs`, `src/bin/NAME/main.rs`, and `src/main.rs` for the
/// program named like its package.
fn program_sources(root: &Path, package: &str, name: &str) -> Vec<PathBuf> {
    let dir = match package {
        HELPER_PACKAGE => root.join("helper"),
        _ => root.to_path_buf(),
    };
    let bin = dir.join("src/bin");
    let mut sources = vec![
        bin.join(format!("{name}.rs")),
        bin.join(name).join("main.rs"),
    ];
    if name == package {
        sources.push(dir.join("src/main.rs"));
    }
    sources
}

/// Whether the package has the program `name` (its source exists), so that
/// a stale binary left in the target directory is not installed for a
/// program that is gone.
fn has_program(root: &Path, package: &str, name: &str) -> bool {
    program_sources(root, package, name)
        .iter()
        .any(|p| p.is_file())
}

fn io_error(path: &Path) -> impl Fn(io::Error) -> Failure + '_ {
    move |e| Failure::Failed(format!("{}: {e}", path.display()))
}

/// Creates `dir` (and its parents) and gives it `mode`.
fn make_dir(dir: &Path, mode: u32) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", dir.display()))
}

/// Writes `bytes` to `dest` with `mode`: a temporary file beside it, renamed
/// over it. Parent directories are created (0755).
fn install_file(dest: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let dir = dest
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", dest.display()))?;
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut name = OsString::from(".");
    name.push(dest.file_name().unwrap_or_default());
    name.push(format!(".xtask-{}", std::process::id()));
    let tmp = dir.join(name);
    let result = fs::write(&tmp, bytes)
        .and_then(|()| fs::set_permissions(&tmp, fs::Permissions::from_mode(mode)))
        .and_then(|()| fs::rename(&tmp, dest));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| format!("cannot install {}: {e}", dest.display()))
}

/// After installing into the running system: the icon theme's cache, if
/// there is one, learns the new icons (GTK ignores a cache older than its
/// directory, but one that is only out of date hides new icons). Without a
/// cache, or without the program, there is nothing to do.
fn update_icon_cache(prefix: &Path) {
    let theme = prefix.join("share/icons/hicolor");
    if !theme.join("icon-theme.cache").is_file() {
        return;
    }
    let status = Command::new("gtk-update-icon-cache")
        .args(["--quiet", "--force"])
        .arg(&theme)
        .stdin(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => println!("updated the icon cache of {}", theme.display()),
        Ok(s) => println!("warning: gtk-update-icon-cache exited with {s}"),
        Err(e) => println!(
            "warning: cannot run gtk-update-icon-cache ({e}); {} is out of date",
            theme.join("icon-theme.cache").display()
        ),
    }
}

/// After installing into the running system: the system bus rereads its
/// policies (it would otherwise refuse to let dialtoned own its name) and
/// systemd its units. Either may be absent (a container); that is not an
/// error. polkitd notices new actions by itself.
fn reload_system() {
    if Path::new("/run/dbus/system_bus_socket").exists() {
        let status = Command::new("dbus-send")
            .args([
                "--system",
                "--type=method_call",
                "--dest=org.freedesktop.DBus",
                "/",
                "org.freedesktop.DBus.ReloadConfig",
            ])
            .status();
        match status {
            Ok(s) if s.success() => println!("the system bus reloaded its configuration"),
            Ok(s) => println!("warning: dbus-send ReloadConfig exited with {s}"),
            Err(e) => println!("warning: cannot run dbus-send to reload the system bus: {e}"),
        }
    } else {
        println!("no system bus is running: nothing to reload");
    }
    if Path::new("/run/systemd/system").is_dir() {
        let status = Command::new("systemctl")
            .arg("daemon-reload")
            .stdin(Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => println!("systemd reloaded its units"),
            Ok(s) => println!("warning: systemctl daemon-reload exited with {s}"),
            Err(e) => println!("warning: cannot run systemctl daemon-reload: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn parsed(list: &[&str], env: Option<&str>) -> Options {
        parse_args(&args(list), env.map(OsString::from)).unwrap()
    }

    fn usage(list: &[&str]) -> String {
        match parse_args(&args(list), None) {
            Err(Failure::Usage(m)) => m,
            other => panic!("{list:?}: expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_a_release_build_into_the_system_under_usr() {
        assert_eq!(
            parsed(&[], None),
            Options {
                destdir: None,
                prefix: "/usr".into(),
                release: true
            }
        );
    }

    #[test]
    fn options_in_both_spellings_and_destdir_from_the_environment() {
        let o = parsed(
            &["--destdir", "/tmp/x", "--prefix=/opt/dt", "--debug"],
            None,
        );
        assert_eq!(o.destdir.as_deref(), Some(Path::new("/tmp/x")));
        assert_eq!(o.prefix, Path::new("/opt/dt"));
        assert!(!o.release);
        assert_eq!(
            parsed(&[], Some("/stage")).destdir.as_deref(),
            Some(Path::new("/stage"))
        );
        assert_eq!(parsed(&[], Some("")).destdir, None);
        assert_eq!(
            parsed(&["--destdir=/cli"], Some("/env")).destdir.as_deref(),
            Some(Path::new("/cli"))
        );
        assert!(parsed(&["--release", "--release"], None).release);
    }

    #[test]
    fn bad_command_lines_are_usage_errors() {
        assert!(usage(&["--release", "--debug"]).contains("exclude"));
        assert!(usage(&["--destdir"]).contains("needs a directory"));
        assert!(usage(&["--destdir="]).contains("needs a directory"));
        assert!(usage(&["--frobnicate"]).contains("--frobnicate"));
        assert!(usage(&["--debug=yes"]).contains("--debug=yes"));
        assert!(usage(&["--prefix", "usr"]).contains("absolute"));
        assert!(usage(&["--prefix", "/usr/../opt"]).contains(".."));
        assert!(usage(&["--prefix", "/opt/my dt"]).contains("' '"));
        assert!(usage(&["--prefix", "/opt/100%"]).contains("'%'"));
    }

    #[test]
    fn the_layout_for_usr() {
        let layout = layout(Path::new("/usr"), &["de".to_string(), "pt_BR".to_string()]);
        let dest = |what: &str| {
            layout
                .iter()
                .find(|e| e.dest.to_str().unwrap().ends_with(what))
                .map(|e| (e.dest.to_str().unwrap().to_string(), e.mode))
                .unwrap_or_else(|| panic!("{what} is not installed"))
        };
        assert_eq!(dest("/dialtoned"), ("/usr/libexec/dialtoned".into(), 0o755));
        assert_eq!(dest("/dialtonectl"), ("/usr/bin/dialtonectl".into(), 0o755));
        assert_eq!(dest("/dialtone"), ("/usr/bin/dialtone".into(), 0o755));
        assert_eq!(
            dest(".conf"),
            (
                "/usr/share/dbus-1/system.d/io.github.dialtone.Dialtone1.conf".into(),
                0o644
            )
        );
        assert_eq!(
            dest("Dialtone1.service"),
            (
                "/usr/share/dbus-1/system-services/io.github.dialtone.Dialtone1.service".into(),
                0o644
            )
        );
        assert_eq!(
            dest("dialtoned.service"),
            ("/usr/lib/systemd/system/dialtoned.service".into(), 0o644)
        );
        assert_eq!(
            dest(".policy"),
            (
                "/usr/share/polkit-1/actions/io.github.dialtone.policy".into(),
                0o644
            )
        );
        assert_eq!(
            dest(".desktop"),
            (
                "/usr/share/applications/io.github.dialtone.Dialtone.desktop".into(),
                0o644
            )
        );
        assert_eq!(
            dest(".metainfo.xml"),
            (
                "/usr/share/metainfo/io.github.dialtone.Dialtone.metainfo.xml".into(),
                0o644
            )
        );
        assert_eq!(
            dest("Dialtone.svg"),
            (
                "/usr/share/icons/hicolor/scalable/apps/io.github.dialtone.Dialtone.svg".into(),
                0o644
            )
        );
        assert_eq!(
            dest("-symbolic.svg"),
            (
                "/usr/share/icons/hicolor/symbolic/apps/io.github.dialtone.Dialtone-symbolic.svg"
                    .into(),
                0o644
            )
        );
        assert_eq!(
            dest("/de/LC_MESSAGES/dialtone.mo"),
            ("/usr/share/locale/de/LC_MESSAGES/dialtone.mo".into(), 0o644)
        );
        assert_eq!(
            dest("/pt_BR/LC_MESSAGES/dialtone.mo"),
            (
                "/usr/share/locale/pt_BR/LC_MESSAGES/dialtone.mo".into(),
                0o644
            )
        );
        assert_eq!(dest("/profiles"), ("/etc/dialtone/profiles".into(), 0o755));
        assert_eq!(dest("/secrets"), ("/etc/dialtone/secrets".into(), 0o700));
        // The daemon and the GUI are required; the client may not exist yet.
        let required: Vec<_> = layout
            .iter()
            .filter(|e| matches!(e.source, Source::Program { required: true, .. }))
            .map(|e| e.dest.clone())
            .collect();
        assert_eq!(
            required,
            [
                PathBuf::from("/usr/libexec/dialtoned"),
                PathBuf::from("/usr/bin/dialtone")
            ]
        );
    }

    #[test]
    fn the_prefix_moves_everything_but_etc() {
        for entry in layout(Path::new("/usr/local"), &["de".to_string()]) {
            let d = entry.dest.to_str().unwrap();
            assert!(
                d.starts_with("/usr/local/") || d.starts_with("/etc/dialtone"),
                "{d}"
            );
        }
        assert_eq!(
            daemon_path(Path::new("/opt/dt")),
            Path::new("/opt/dt/libexec/dialtoned")
        );
    }

    #[test]
    fn destdir_is_put_in_front_of_the_absolute_path() {
        let p = Path::new("/usr/libexec/dialtoned");
        assert_eq!(staged(None, p), p);
        assert_eq!(
            staged(Some(Path::new("/tmp/x")), p),
            Path::new("/tmp/x/usr/libexec/dialtoned")
        );
        assert_eq!(
            staged(Some(Path::new("stage/")), Path::new("/etc/dialtone")),
            Path::new("stage/etc/dialtone")
        );
    }

    #[test]
    fn set_program_keeps_the_arguments_and_the_other_lines() {
        let unit = "[Service]\n\
                    # ExecStart=/commented/out\n\
                    ExecStartPre=-+/sbin/modprobe -abq usbserial\n\
                    ExecStart=/usr/libexec/dialtoned service\n\
                    NoNewPrivileges=yes";
        let new = set_program(unit, "ExecStart", Path::new("/opt/dt/libexec/dialtoned")).unwrap();
        assert_eq!(
            new,
            "[Service]\n\
             # ExecStart=/commented/out\n\
             ExecStartPre=-+/sbin/modprobe -abq usbserial\n\
             ExecStart=/opt/dt/libexec/dialtoned service\n\
             NoNewPrivileges=yes"
        );
        assert_eq!(
            set_program("Exec = /x  a b\r\n", "Exec", Path::new("/y")).unwrap(),
            "Exec=/y a b\r\n"
        );
        assert_eq!(
            set_program("Exec=/x\n", "Exec", Path::new("/y")).unwrap(),
            "Exec=/y\n"
        );
    }

    #[test]
    fn set_program_wants_exactly_one_line() {
        let p = Path::new("/y");
        assert_eq!(
            set_program("ExecStartPre=/x\n", "ExecStart", p).unwrap_err(),
            "no `ExecStart=` line"
        );
        assert_eq!(
            set_program("Exec=/a\nExec=/b\n", "Exec", p).unwrap_err(),
            "2 `Exec=` lines, expected one"
        );
        assert_eq!(
            set_program("Exec=\n", "Exec", p).unwrap_err(),
            "`Exec=` has no program"
        );
    }

    #[test]
    fn the_data_files_take_the_rewrite() {
        let root = workspace_root();
        let daemon = daemon_path(Path::new("/usr/local"));
        for entry in layout(Path::new("/usr/local"), &[]) {
            let Source::Data { path, exec_key } = entry.source else {
                continue;
            };
            let text = fs::read_to_string(root.join(path)).unwrap();
            let Some(key) = exec_key else { continue };
            let new = set_program(&text, key, &daemon).unwrap();
            assert!(
                new.contains(&format!(
                    "\n{key}=/usr/local/libexec/dialtoned service --idle-timeout 60\n"
                )),
                "{path}:\n{new}"
            );
            assert!(!new.contains(&format!("\n{key}=/usr/libexec/")), "{path}");
            // For /usr the files come out unchanged.
            assert_eq!(
                set_program(&text, key, &daemon_path(Path::new("/usr"))).unwrap(),
                text,
                "{path}"
            );
        }
    }

    #[test]
    fn the_sources_of_the_layout_are_in_the_tree() {
        let root = workspace_root();
        let languages = po::linguas(&root.join("po")).unwrap();
        assert!(languages.contains(&"de".to_string()), "{languages:?}");
        for entry in layout(Path::new("/usr"), &languages) {
            match entry.source {
                Source::Data { path, .. } => {
                    assert!(root.join(path).is_file(), "{path} is missing")
                }
                Source::Translation { lang } => {
                    assert!(root.join(format!("po/{lang}.po")).is_file(), "{lang}")
                }
                Source::Program {
                    name,
                    package,
                    required: true,
                } => assert!(has_program(&root, package, name), "{package}: {name}"),
                Source::Program { .. } | Source::Directory => {}
            }
        }
        // A program's source is looked for in its own package.
        assert!(has_program(&root, GUI_PACKAGE, GUI));
        assert!(has_program(&root, HELPER_PACKAGE, DAEMON));
        assert!(!has_program(&root, GUI_PACKAGE, DAEMON));
        assert!(!has_program(&root, HELPER_PACKAGE, GUI));
    }

    #[test]
    fn install_file_replaces_and_sets_the_mode() {
        let dir = std::env::temp_dir().join(format!("xtask-install-test-{}", std::process::id()));
        let dest = dir.join("a/b/file");
        install_file(&dest, b"one", 0o600).unwrap();
        install_file(&dest, b"two", 0o755).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        let mode = fs::metadata(&dest).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o755);
        assert_eq!(fs::read_dir(dest.parent().unwrap()).unwrap().count(), 1);
        make_dir(&dir.join("secrets"), 0o700).unwrap();
        let mode = fs::metadata(dir.join("secrets"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(mode, 0o700);
        fs::remove_dir_all(&dir).unwrap();
    }
}
