//! The desktop files in `data/` pass their validators, and the translations
//! and the files generated from them are up to date (`cargo xtask po
//! --check`). The tools come from the Debian packages desktop-file-utils,
//! appstream and gettext, which `cargo xtask test` installs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DESKTOP: &str = "data/io.github.dialtone.Dialtone.desktop";
const METAINFO: &str = "data/io.github.dialtone.Dialtone.metainfo.xml";
const ICON: &str = "data/icons/hicolor/scalable/apps/io.github.dialtone.Dialtone.svg";
const SYMBOLIC: &str = "data/icons/hicolor/symbolic/apps/io.github.dialtone.Dialtone-symbolic.svg";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(rel: &str) -> String {
    fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Runs `program args` in the workspace root.
fn output(program: &str, package: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(root())
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); install the package {package}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_desktop_entry_is_valid() {
    let o = output("desktop-file-validate", "desktop-file-utils", &[DESKTOP]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o), "", "desktop-file-validate has something to say");
}

/// The `key=value` lines of each `[group]` of a desktop entry.
fn groups(entry: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut groups: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in entry.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            groups.push((name.to_string(), Vec::new()));
        } else if let Some((k, v)) = line.split_once('=') {
            if !line.starts_with('#') {
                let group = groups.last_mut().expect("a key before the first group");
                group.1.push((k.to_string(), v.to_string()));
            }
        }
    }
    groups
}

fn value<'a>(group: &'a [(String, String)], key: &str) -> Option<&'a str> {
    group
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn the_desktop_entry_starts_the_gui_and_has_its_actions() {
    let groups = groups(&read(DESKTOP));
    let names: Vec<&str> = groups.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Desktop Entry",
            "Desktop Action connect",
            "Desktop Action disconnect"
        ]
    );
    let main = &groups[0].1;
    for (key, expected) in [
        ("Type", "Application"),
        ("Name", "Dialtone"),
        ("Exec", "dialtone"),
        ("Icon", "io.github.dialtone.Dialtone"),
        ("Categories", "Network;Dialup;"),
        ("StartupNotify", "true"),
        ("Actions", "connect;disconnect;"),
    ] {
        assert_eq!(value(main, key), Some(expected), "{key}");
    }
    assert_eq!(value(main, "DBusActivatable"), None);
    let keywords = value(main, "Keywords").unwrap();
    for k in ["modem", "dial-up", "PPP", "serial"] {
        assert!(keywords.split(';').any(|w| w == k), "{k} in {keywords}");
    }
    let connect = &groups[1].1;
    assert_eq!(
        value(connect, "Name"),
        Some("Connect (last used connection)")
    );
    assert_eq!(value(connect, "Exec"), Some("dialtone --connect"));
    let disconnect = &groups[2].1;
    assert_eq!(value(disconnect, "Name"), Some("Disconnect all"));
    assert_eq!(value(disconnect, "Exec"), Some("dialtone --disconnect"));
    // The translations are merged in.
    assert!(value(main, "Comment[de]").is_some());
    assert!(value(connect, "Name[de]").is_some());
}

#[test]
fn the_metainfo_is_valid() {
    let o = output(
        "appstreamcli",
        "appstream",
        &["validate", "--no-net", "--strict", METAINFO],
    );
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    // --strict fails on warnings; infos are not welcome either.
    for line in said.lines() {
        assert!(
            !["E:", "W:", "I:"].iter().any(|p| line.starts_with(p)),
            "{said}"
        );
    }
}

#[test]
fn the_metainfo_describes_the_app() {
    let xml = read(METAINFO);
    for needed in [
        "<id>io.github.dialtone.Dialtone</id>",
        "<metadata_license>CC0-1.0</metadata_license>",
        "<project_license>GPL-3.0-or-later</project_license>",
        "<summary>Connect to the internet over a modem or serial line</summary>",
        "<launchable type=\"desktop-id\">io.github.dialtone.Dialtone.desktop</launchable>",
        "<developer_name>Dialtone developers</developer_name>",
        "<url type=\"homepage\">https://github.com/dialtone/dialtone</url>",
        "<image>https://raw.githubusercontent.com/dialtone/dialtone/main/data/screenshots/main.png</image>",
        "<content_rating type=\"oars-1.1\"/>",
        "<release version=\"0.1.0\" date=\"2026-11-22\">",
        "<binary>dialtone</binary>",
        "<translation type=\"gettext\">dialtone</translation>",
        "<summary xml:lang=\"de\">",
    ] {
        assert!(xml.contains(needed), "no {needed}");
    }
}

#[test]
fn the_translations_and_the_generated_files_are_up_to_date() {
    let watched = || -> Vec<(String, String)> {
        let mut files: Vec<String> = [DESKTOP, METAINFO, "po/dialtone.pot"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for e in fs::read_dir(root().join("po")).unwrap() {
            files.push(format!("po/{}", e.unwrap().file_name().to_string_lossy()));
        }
        files.sort();
        files
            .into_iter()
            .map(|f| {
                let text = read(&f);
                (f, text)
            })
            .collect()
    };
    let before = watched();
    let o = output(env!("CARGO_BIN_EXE_xtask"), "gettext", &["po", "--check"]);
    assert!(
        o.status.success(),
        "cargo xtask po --check failed:\n{}",
        text(&o)
    );
    assert_eq!(watched(), before, "po --check changed files");
}

#[test]
fn the_icons_are_plain_svg_of_the_right_size() {
    let icon = read(ICON);
    assert!(icon.contains("viewBox=\"0 0 128 128\""));
    let symbolic = read(SYMBOLIC);
    assert!(symbolic.contains("viewBox=\"0 0 16 16\""));
    // Symbolic icons are recoloured by GTK through their fills: one colour,
    // no strokes, no gradients, no transforms.
    let colours: Vec<&str> = symbolic
        .split('#')
        .skip(1)
        .map(|s| &s[..6.min(s.len())])
        .collect();
    assert!(!colours.is_empty());
    assert!(colours.iter().all(|c| *c == "2e3436"), "{colours:?}");
    for bad in ["stroke", "Gradient", "transform", "opacity"] {
        assert!(!symbolic.contains(bad), "{bad} in {SYMBOLIC}");
    }
    assert!(symbolic.matches("<path ").count() >= 2);
}
