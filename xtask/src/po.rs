//! `cargo xtask po`: the translations of the gettext domain `dialtone`.
//!
//! One run does everything, in order:
//!
//! 1. extracts the messages of the files that `po/POTFILES.in` names into
//!    `po/dialtone.pot` with xgettext (Rust with its C parser, GtkBuilder
//!    files as Glade, the desktop entry as Desktop, the AppStream metadata
//!    by its ITS rules), and the descriptions of the settings table `KEYS`
//!    in `helper/api/src/settings.rs`, which the profile editor translates
//!    at run time (see [`SETTINGS_FILE`]);
//! 2. merges the template into every `po/<lang>.po` of `po/LINGUAS`
//!    (msgmerge; a missing one is created with msginit);
//! 3. checks and compiles every language with `msgfmt --check --statistics`
//!    to `target/locale/<lang>/LC_MESSAGES/dialtone.mo`, where the GUI finds
//!    them when run from the source tree;
//! 4. merges the translations into the desktop entry and the AppStream
//!    metadata (`msgfmt --desktop` and `msgfmt --xml`): the `.in` files are
//!    the sources, the files beside them are generated and committed.
//!
//! Everything is generated in a temporary directory first; a file in the
//! tree is written only when its content changes, so a second run changes
//! nothing. The template's `POT-Creation-Date` alone does not count as a
//! change (the committed template is kept), and since msgmerge copies that
//! date into every `.po` file, they keep theirs too.
//!
//! `--check` writes nothing: it fails, naming the files, when one of the
//! committed files is not what a run would make of it, or when a language
//! of `po/LINGUAS` has untranslated or fuzzy messages.
//!
//! Locations are written without line numbers (`#: src/window.rs`), so that
//! moving code does not change the template; the messages are sorted by
//! file, then by text.
//!
//! gettext 0.21 has no Rust parser. Rust files go through xgettext's C
//! parser after [`rust_as_c`] has rewritten each string literal as the C
//! literal of the same text (escapes, `\`-newline continuations and raw
//! strings read as Rust reads them) and blanked what C would misread
//! (lifetimes, character literals, attributes). The keywords are
//! `gettext`, `ngettext`, `pgettext` and `npgettext` of gettext-rs; a
//! comment starting `Translators` just before a call goes to the
//! translators. C's format-string flags are dropped from the template:
//! Rust's `{}` formats are not C's, and a `%` in a message must not make
//! msgfmt compare C directives.
//!
//! The settings table has no `gettext` calls: [`settings_table`] reads its
//! rows (`("key", "signature", "Description"),` between `pub const KEYS`
//! and the closing `];`, literals read as Rust reads them) and each
//! description becomes a message with the comment `The setting <key>` and
//! the table's file as its location, in the text the editor looks up (a
//! trailing ` (required)` cut off, see [`EDITOR_CUTS`]). A table that cannot
//! be read fails the run, naming the line.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::demo::target_dir;
use crate::{show, workspace_root, Failure};

/// The gettext domain: `po/dialtone.pot`, `dialtone.mo`.
pub(crate) const DOMAIN: &str = "dialtone";

/// The directory of the template, the translations, `POTFILES.in` and
/// `LINGUAS`, relative to the workspace root.
const PO_DIR: &str = "po";

/// Where the template's header sends reports about the messages.
const BUGS_ADDRESS: &str = "https://github.com/dialtone/dialtone/issues";

/// The template's copyright holder.
const COPYRIGHT_HOLDER: &str = "Dialtone developers";

/// The keywords of gettext-rs (`--keyword` specs): the message, the plural
/// and the context arguments.
const RUST_KEYWORDS: &[&str] = &[
    "gettext",
    "ngettext:1,2",
    "pgettext:1c,2",
    "npgettext:1c,2,3",
];

/// The settings table of the D-Bus API: `pub const KEYS` lists every
/// setting as `("key", "signature", "Description")`, and the profile editor
/// shows each description (the subtitle of the setting's row) through
/// `gettext`, so the descriptions are messages though no `gettext` call
/// names them. Always extracted (see [`settings_table`]); not a line of
/// `po/POTFILES.in`, whose Rust files go through the `gettext` calls.
pub(crate) const SETTINGS_FILE: &str = "helper/api/src/settings.rs";

/// The suffix the profile editor cuts off a description before it looks
/// it up (`FieldSpec::description` in src/editor.rs): the template has the
/// text the editor asks for.
const EDITOR_CUTS: &str = " (required)";

/// A data file whose translations are merged back by msgfmt.
pub(crate) struct Merged {
    /// The source, in `po/POTFILES.in`.
    pub(crate) template: &'static str,
    /// The generated file beside it (committed, installed).
    pub(crate) output: &'static str,
    /// msgfmt's mode for it.
    mode: &'static str,
}

/// The translated desktop entry, generated from its `.in` file.
pub(crate) const DESKTOP_FILE: &str = "data/io.github.dialtone.Dialtone.desktop";
/// The translated AppStream metadata, generated from its `.in` file.
pub(crate) const METAINFO_FILE: &str = "data/io.github.dialtone.Dialtone.metainfo.xml";

/// The desktop entry and the AppStream metadata.
pub(crate) const MERGED: &[Merged] = &[
    Merged {
        template: "data/io.github.dialtone.Dialtone.desktop.in",
        output: DESKTOP_FILE,
        mode: "--desktop",
    },
    Merged {
        template: "data/io.github.dialtone.Dialtone.metainfo.xml.in",
        output: METAINFO_FILE,
        mode: "--xml",
    },
];

pub fn cmd_po(args: &[String]) -> Result<(), Failure> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        [other, ..] => return Err(Failure::Usage(format!("unexpected argument `{other}`"))),
    };
    let root = workspace_root();
    let report = run(&root, &target_dir(&root), check).map_err(Failure::Failed)?;
    if report.problems.is_empty() {
        if check {
            println!("==> po: the template, the translations and the merged files are up to date");
        }
        Ok(())
    } else {
        Err(Failure::Failed(format!(
            "\n  {}\n(`cargo xtask po` updates the generated files; untranslated and \
             fuzzy messages need a translator)",
            report.problems.join("\n  ")
        )))
    }
}

/// What a run found.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// With `--check`: one line per problem, each starting with the file.
    pub(crate) problems: Vec<String>,
}

/// One file of the tree as a run would make it.
struct Generated {
    /// Relative to the root.
    path: String,
    text: String,
}

/// The `po` command on the tree at `root`; the `.mo` files go to
/// `<target>/locale` (not with `check`, which writes nothing there or in
/// the tree).
pub(crate) fn run(root: &Path, target: &Path, check: bool) -> Result<Report, String> {
    let work = TempDir::new("po")?;
    let po_dir = root.join(PO_DIR);
    let sources = potfiles(root)?;
    let languages = linguas(&po_dir)?;
    println!(
        "==> po: {} source files, languages: {}",
        sources.len(),
        if languages.is_empty() {
            "none".to_string()
        } else {
            languages.join(" ")
        }
    );

    let mut generated = Vec::new();
    let mut problems = Vec::new();

    // 1. The template.
    let pot_rel = format!("{PO_DIR}/{DOMAIN}.pot");
    let fresh = extract(root, &sources, work.path())?;
    let pot = match fs::read_to_string(root.join(&pot_rel)) {
        // Only the creation date differs: keep the committed template,
        // and with it the date msgmerge copies into the translations.
        Ok(old) if same_but_creation_date(&old, &fresh) => old,
        _ => fresh,
    };
    let pot_path = work.path().join(format!("{DOMAIN}.pot"));
    write(&pot_path, &pot)?;
    generated.push(Generated {
        path: pot_rel,
        text: pot,
    });

    // 2. and 3. The translations, merged, checked and compiled.
    let merged_dir = work.path().join("merged");
    fs::create_dir_all(&merged_dir).map_err(|e| format!("{}: {e}", merged_dir.display()))?;
    let mut linguas_text = String::new();
    for lang in &languages {
        let rel = format!("{PO_DIR}/{lang}.po");
        let merged = merged_dir.join(format!("{lang}.po"));
        match fs::read(root.join(&rel)) {
            Ok(bytes) => {
                fs::write(&merged, bytes).map_err(|e| format!("{}: {e}", merged.display()))?;
                tool(Command::new("msgmerge").args([
                    "--quiet",
                    "--update",
                    "--backup=none",
                    "--previous",
                    "--add-location=file",
                ]))
                .arg(&merged)
                .arg(&pot_path)
                .run()?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if check {
                    problems.push(format!("{rel}: missing (the language is in po/LINGUAS)"));
                    continue;
                }
                println!("{rel} is new");
                tool(Command::new("msginit").args(["--no-translator", "--locale", lang]))
                    .arg("--input")
                    .arg(&pot_path)
                    .arg("--output-file")
                    .arg(&merged)
                    .run()?;
            }
            Err(e) => return Err(format!("{}: {e}", root.join(&rel).display())),
        }
        let mo = work.path().join(format!("{lang}.mo"));
        let stats = compile(&merged, &mo)?;
        println!("{rel}: {stats}");
        if check && !stats.complete() {
            problems.push(format!("{rel}: {}", stats.missing()));
        }
        if !check {
            let dest = target.join("locale").join(lang).join("LC_MESSAGES");
            fs::create_dir_all(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
            let dest = dest.join(format!("{DOMAIN}.mo"));
            fs::copy(&mo, &dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        }
        generated.push(Generated {
            path: rel,
            text: read(&merged)?,
        });
        linguas_text.push_str(lang);
        linguas_text.push('\n');
    }

    // 4. The desktop entry and the metadata, translated.
    write(&merged_dir.join("LINGUAS"), &linguas_text)?;
    for m in MERGED {
        let out = work
            .path()
            .join(Path::new(m.output).file_name().unwrap_or_default());
        tool(Command::new("msgfmt").arg(m.mode))
            .arg(format!("--template={}", root.join(m.template).display()))
            .arg("-d")
            .arg(&merged_dir)
            .arg("-o")
            .arg(&out)
            .run()?;
        generated.push(Generated {
            path: m.output.to_string(),
            text: read(&out)?,
        });
    }

    for g in &generated {
        let path = root.join(&g.path);
        let old = fs::read_to_string(&path).ok();
        if old.as_deref() == Some(g.text.as_str()) {
            continue;
        }
        if check {
            let why = if old.is_none() {
                "missing"
            } else {
                "out of date"
            };
            problems.push(format!("{}: {why}", g.path));
        } else {
            write(&path, &g.text)?;
            println!("updated {}", g.path);
        }
    }
    if !check {
        println!(
            "==> po: compiled translations in {}",
            target.join("locale").display()
        );
    }
    Ok(Report { problems })
}

// ---------------------------------------------------------------------------
// POTFILES.in and LINGUAS

/// The files `po/POTFILES.in` names, sorted, relative to `root`.
///
/// One path or pattern per line, relative to the root; `#` starts a
/// comment. In a pattern `*` and `?` match within one directory, and `**`
/// matches any number of directories: `src/**/*.rs`. A pattern may match
/// nothing (yet); a plain path must exist.
pub(crate) fn potfiles(root: &Path) -> Result<Vec<String>, String> {
    let list = root.join(PO_DIR).join("POTFILES.in");
    let text = read(&list)?;
    let mut files = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let entry = line.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        let at = || format!("{}:{}", list.display(), n + 1);
        if entry.starts_with('/') || entry.split('/').any(|s| s == ".." || s.is_empty()) {
            return Err(format!(
                "{}: `{entry}` must be a plain path relative to the workspace root",
                at()
            ));
        }
        if entry.contains(['*', '?']) {
            let segments: Vec<&str> = entry.split('/').collect();
            let mut found = Vec::new();
            expand(root, "", &segments, &mut found)
                .map_err(|e| format!("{}: `{entry}`: {e}", at()))?;
            files.extend(found);
        } else if root.join(entry).is_file() {
            files.insert(entry.to_string());
        } else {
            return Err(format!("{}: `{entry}` is not a file", at()));
        }
    }
    for f in &files {
        Kind::of(f)?;
    }
    Ok(files.into_iter().collect())
}

/// Adds the files under `root/rel` that match the pattern `segments`.
fn expand(root: &Path, rel: &str, segments: &[&str], found: &mut Vec<String>) -> io::Result<()> {
    let Some((first, rest)) = segments.split_first() else {
        return Ok(());
    };
    let dir = root.join(rel);
    if !dir.is_dir() {
        return Ok(());
    }
    let join = |name: &str| {
        if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        }
    };
    let mut entries: Vec<(String, bool)> = Vec::new();
    for entry in fs::read_dir(&dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        entries.push((name, entry.path().is_dir()));
    }
    entries.sort();
    if *first == "**" {
        expand(root, rel, rest, found)?;
        for (name, is_dir) in &entries {
            if *is_dir && !name.starts_with('.') {
                expand(root, &join(name), segments, found)?;
            }
        }
        return Ok(());
    }
    for (name, is_dir) in entries {
        if !matches(first, &name) {
            continue;
        }
        if rest.is_empty() {
            if !is_dir {
                found.push(join(&name));
            }
        } else if is_dir {
            expand(root, &join(&name), rest, found)?;
        }
    }
    Ok(())
}

/// Whether `name` matches the one-directory pattern `pattern` (`*`, `?`).
fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // The classic backtracking match: remember the last `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// The languages of `po/LINGUAS` (white-space separated, `#` comments).
pub(crate) fn linguas(po_dir: &Path) -> Result<Vec<String>, String> {
    let path = po_dir.join("LINGUAS");
    let text = read(&path)?;
    let mut out: Vec<String> = Vec::new();
    for word in text
        .lines()
        .flat_map(|l| l.split('#').next().unwrap_or("").split_whitespace())
    {
        if !word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | '-'))
        {
            return Err(format!("{}: `{word}` is not a language", path.display()));
        }
        if !out.iter().any(|l| l == word) {
            out.push(word.to_string());
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Extraction

/// How xgettext reads a source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Rust,
    Builder,
    Desktop,
    MetaInfo,
}

impl Kind {
    fn of(path: &str) -> Result<Kind, String> {
        if path.ends_with(".rs") {
            Ok(Kind::Rust)
        } else if path.ends_with(".ui") {
            Ok(Kind::Builder)
        } else if path.ends_with(".desktop.in") {
            Ok(Kind::Desktop)
        } else if path.ends_with(".metainfo.xml.in") {
            Ok(Kind::MetaInfo)
        } else {
            Err(format!(
                "po/POTFILES.in: no extraction rule for {path} \
                 (known: .rs, .ui, .desktop.in, .metainfo.xml.in)"
            ))
        }
    }
}

/// Runs xgettext over `sources` and the settings table
/// ([`SETTINGS_FILE`] under `root`) and returns the template's text.
fn extract(root: &Path, sources: &[String], work: &Path) -> Result<String, String> {
    if sources.is_empty() {
        return Err("po/POTFILES.in names no file".into());
    }
    let pot = work.join("extracted.pot");
    let rust_dir = work.join("rust");
    // The descriptions of the settings, as the calls of a C file at the
    // path of the table, each after the comment that names its key. They
    // go first: the messages of the file xgettext adds last stay in their
    // order (the AppStream metadata's are in the order of the document).
    let text = read(&root.join(SETTINGS_FILE))?;
    let rows = settings_table(&text).map_err(|e| {
        let sep = if e.starts_with(|c: char| c.is_ascii_digit()) {
            ":"
        } else {
            ": "
        };
        format!("{SETTINGS_FILE}{sep}{e}")
    })?;
    let mut c = String::new();
    for (key, description) in rows {
        let msgid = description
            .strip_suffix(EDITOR_CUTS)
            .unwrap_or(&description);
        if msgid.is_empty() {
            return Err(format!(
                "{SETTINGS_FILE}: the setting {key} has no description"
            ));
        }
        c.push_str(&format!(
            "/* The setting {key} */\ngettext({});\n",
            c_literal(msgid)
        ));
    }
    let settings_dir = work.join("settings");
    write(&settings_dir.join(SETTINGS_FILE), &c)?;
    let mut cmd = xgettext(&pot, true);
    cmd.args([
        "--add-comments",
        "--language=C",
        "--keyword=",
        "--keyword=gettext",
    ])
    .arg("--directory")
    .arg(&settings_dir)
    .arg("--")
    .arg(SETTINGS_FILE);
    tool(&mut cmd).run()?;

    for kind in [Kind::Rust, Kind::Builder, Kind::Desktop, Kind::MetaInfo] {
        let files: Vec<&String> = sources
            .iter()
            .filter(|f| Kind::of(f).ok() == Some(kind))
            .collect();
        if files.is_empty() {
            continue;
        }
        let mut cmd = xgettext(&pot, false);
        cmd.arg("--add-comments=Translators");
        match kind {
            Kind::Rust => {
                // The rewritten copies, at the same relative paths, so that
                // the locations name the real files.
                for f in &files {
                    let text = read(&root.join(f))?;
                    write(&rust_dir.join(f), &rust_as_c(&text))?;
                }
                cmd.arg("--language=C").arg("--keyword=");
                for k in RUST_KEYWORDS {
                    cmd.arg(format!("--keyword={k}"));
                }
                cmd.arg("--directory").arg(&rust_dir);
            }
            Kind::Builder => {
                cmd.arg("--language=Glade").arg("--directory").arg(root);
            }
            Kind::Desktop => {
                cmd.arg("--language=Desktop").arg("--directory").arg(root);
            }
            // By the file name, xgettext finds AppStream's ITS rules
            // (metainfo.its, from the appstream or the gettext package).
            Kind::MetaInfo => {
                cmd.arg("--directory").arg(root);
            }
        }
        cmd.arg("--").args(&files);
        tool(&mut cmd).run()?;
        if kind == Kind::MetaInfo {
            // A missing ITS rule would leave the metadata out silently.
            let text = read(&pot)?;
            for f in &files {
                if !text
                    .lines()
                    .any(|l| l.starts_with("#: ") && l.contains(f.as_str()))
                {
                    return Err(format!(
                        "xgettext found no message in {f}: are AppStream's ITS rules \
                         (metainfo.its) installed?"
                    ));
                }
            }
        }
    }
    Ok(tidy_template(&read(&pot)?))
}

/// xgettext with the options of every run, writing to `pot` (adding to it
/// unless `first`).
fn xgettext(pot: &Path, first: bool) -> Command {
    let mut cmd = Command::new("xgettext");
    cmd.args([
        "--from-code=UTF-8",
        "--sort-by-file",
        "--add-location=file",
        "--force-po",
    ])
    .arg(format!("--package-name={DOMAIN}"))
    .arg(format!("--package-version={}", env!("CARGO_PKG_VERSION")))
    .arg(format!("--msgid-bugs-address={BUGS_ADDRESS}"))
    .arg(format!("--copyright-holder={COPYRIGHT_HOLDER}"))
    .arg("--output")
    .arg(pot);
    if !first {
        cmd.arg("--join-existing");
    }
    cmd
}

/// The rows of the settings table in the Rust source `text`, as (key,
/// description): the tuples between `pub const KEYS ... = &[` and the
/// closing `];`, each `("key", "signature", "description")` with string
/// literals read as Rust reads them (escapes, `\`-newline continuations,
/// raw strings); comments may stand between rows. An error starts with the
/// line where the table or the row went wrong (`12: ...`), unless there is
/// no table.
pub(crate) fn settings_table(text: &str) -> Result<Vec<(String, String)>, String> {
    let s: Vec<char> = text.chars().collect();
    let line = |i: usize| s[..i.min(s.len())].iter().filter(|&&c| c == '\n').count() + 1;

    // The declaration: a line starting `pub const KEYS` (not `KEYS_...`).
    let mut starts = Vec::new();
    let mut at = 0;
    for l in text.split_inclusive('\n') {
        let t = l.trim_start();
        if let Some(rest) = t.strip_prefix("pub const KEYS") {
            if !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
                starts.push(at + l.chars().count() - t.chars().count());
            }
        }
        at += l.chars().count();
    }
    let mut i = match starts[..] {
        [one] => one,
        [] => return Err("no `pub const KEYS` (the table of the settings) found".into()),
        [_, second, ..] => {
            return Err(format!("{}: a second `pub const KEYS`", line(second)));
        }
    };
    let table = line(i);
    let eq = s[i..]
        .iter()
        .position(|&c| c == '=' || c == ';')
        .map(|n| i + n);
    i = match eq {
        Some(e) if s[e] == '=' => e + 1,
        _ => return Err(format!("{table}: `pub const KEYS` has no `= &[`")),
    };

    // Skips white space and comments; the index of what follows.
    let skip = |mut i: usize| -> usize {
        loop {
            while s.get(i).is_some_and(|c| c.is_whitespace()) {
                i += 1;
            }
            if s.get(i) == Some(&'/') && s.get(i + 1) == Some(&'/') {
                while s.get(i).is_some_and(|&c| c != '\n') {
                    i += 1;
                }
            } else if s.get(i) == Some(&'/') && s.get(i + 1) == Some(&'*') {
                let mut depth = 0;
                while i < s.len() {
                    if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            } else {
                return i;
            }
        }
    };
    let expect = |i: usize, what: char, context: &str| -> Result<usize, String> {
        let i = skip(i);
        match s.get(i) {
            Some(&c) if c == what => Ok(i + 1),
            Some(&c) => Err(format!(
                "{}: expected `{what}` {context}, found `{c}`",
                line(i)
            )),
            None => Err(format!(
                "{}: expected `{what}` {context}, found the end of the file \
                 (the table `pub const KEYS` of line {table} is not closed by `];`)",
                line(i)
            )),
        }
    };
    // A string literal, plain or raw.
    let literal = |i: usize| -> Result<(String, usize), String> {
        let i = skip(i);
        let (open, raw) = match s.get(i) {
            Some('"') => (i + 1, None),
            Some('r') => {
                let hashes = s[i + 1..].iter().take_while(|&&c| c == '#').count();
                if s.get(i + 1 + hashes) != Some(&'"') {
                    return Err(format!("{}: expected a string literal", line(i)));
                }
                (i + 2 + hashes, Some(hashes))
            }
            _ => return Err(format!("{}: expected a string literal", line(i))),
        };
        match rust_string(&s, open, raw) {
            (text, _, Some(end)) => Ok((text, end)),
            (_, _, None) => Err(format!("{}: a string literal is not closed", line(i))),
        }
    };

    i = expect(i, '&', "after `pub const KEYS ... =`")?;
    i = expect(i, '[', "after `pub const KEYS ... = &`")?;
    let mut rows = Vec::new();
    loop {
        i = skip(i);
        if s.get(i) == Some(&']') {
            expect(i + 1, ';', "after the table's `]`")?;
            break;
        }
        let row = line(i);
        i = expect(i, '(', "at the start of a row")?;
        let (key, next) = literal(i)?;
        i = expect(next, ',', "after the key")?;
        let (_signature, next) = literal(i)?;
        i = expect(next, ',', "after the signature")?;
        let (description, next) = literal(i)?;
        i = skip(next);
        if s.get(i) == Some(&',') {
            i += 1;
        }
        i = expect(i, ')', "after the description (a row has three strings)")?;
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(format!("{row}: `{key}` is not a settings key"));
        }
        rows.push((key, description));
        i = skip(i);
        if s.get(i) == Some(&',') {
            i += 1;
        } else if s.get(i) != Some(&']') {
            i = expect(i, ',', "after a row")?;
        }
    }
    if rows.is_empty() {
        return Err(format!("{table}: the table `pub const KEYS` has no rows"));
    }
    Ok(rows)
}

/// The template as committed: a title instead of xgettext's placeholder,
/// and no C format flags (see the module documentation).
fn tidy_template(pot: &str) -> String {
    let mut out = String::with_capacity(pot.len());
    for line in pot.split_inclusive('\n') {
        if line.trim_end() == "# SOME DESCRIPTIVE TITLE." {
            out.push_str("# The messages of Dialtone, for translation.\n");
        } else if let Some(flags) = line.trim_end().strip_prefix("#, ") {
            let kept: Vec<&str> = flags
                .split(", ")
                .filter(|f| !matches!(*f, "c-format" | "possible-c-format" | "no-c-format"))
                .collect();
            if !kept.is_empty() {
                out.push_str("#, ");
                out.push_str(&kept.join(", "));
                out.push('\n');
            }
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Whether two templates differ at most in their `POT-Creation-Date`.
fn same_but_creation_date(a: &str, b: &str) -> bool {
    let lines = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with("\"POT-Creation-Date:"))
            .map(str::to_string)
            .collect()
    };
    lines(a) == lines(b)
}

/// Rust source rewritten for xgettext's C parser: every string literal
/// (plain, byte, C, raw) becomes the C literal of the text Rust gives it,
/// followed by the line breaks it spanned, so that later lines keep their
/// numbers; character literals become `0`, the quote of a lifetime or a
/// label and every `#` (attributes, raw identifiers: C would take `#[...]`
/// at the start of a line for a preprocessor line) a space; nested block
/// comments are flattened, and a line comment never ends with a backslash
/// (a line continuation in C). Everything else is copied.
pub(crate) fn rust_as_c(src: &str) -> String {
    let s: Vec<char> = src.chars().collect();
    let at = |i: usize| s.get(i).copied();
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(src.len() + src.len() / 8);
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let after_ident = i > 0 && ident(s[i - 1]);
        match c {
            '/' if at(i + 1) == Some('/') => {
                let end = s[i..]
                    .iter()
                    .position(|&c| c == '\n')
                    .map_or(s.len(), |n| i + n);
                out.extend(&s[i..end]);
                if s[i..end].last() == Some(&'\\') {
                    out.push(' ');
                }
                i = end;
            }
            '/' if at(i + 1) == Some('*') => {
                out.push_str("/*");
                i += 2;
                let mut depth = 1;
                while i < s.len() && depth > 0 {
                    if s[i] == '/' && at(i + 1) == Some('*') {
                        depth += 1;
                        out.push_str("/ *");
                        i += 2;
                    } else if s[i] == '*' && at(i + 1) == Some('/') {
                        depth -= 1;
                        out.push_str(if depth == 0 { "*/" } else { "* /" });
                        i += 2;
                    } else {
                        out.push(s[i]);
                        i += 1;
                    }
                }
            }
            '"' => i = string(&s, i + 1, None, &mut out),
            'b' | 'c' | 'r' if !after_ident => {
                // b"..", c"..", r"..", r#".."#, br"..", cr#"..."#
                let mut j = i;
                if c != 'r' {
                    j += 1;
                }
                if at(j) == Some('r') {
                    let hashes = s[j + 1..].iter().take_while(|&&c| c == '#').count();
                    if at(j + 1 + hashes) == Some('"') {
                        i = string(&s, j + 2 + hashes, Some(hashes), &mut out);
                        continue;
                    }
                } else if j == i + 1 && at(j) == Some('"') {
                    i = string(&s, j + 1, None, &mut out);
                    continue;
                }
                out.push(c);
                i += 1;
            }
            '\'' => {
                if at(i + 1) == Some('\\') {
                    // '\n', '\'', '\u{..}': up to the closing quote.
                    let from = (i + 3).min(s.len());
                    let close = s[from..]
                        .iter()
                        .take_while(|&&c| c != '\n')
                        .position(|&c| c == '\'')
                        .map(|n| i + 3 + n);
                    match close {
                        Some(end) => {
                            out.push('0');
                            i = end + 1;
                        }
                        None => {
                            out.push(' ');
                            i += 1;
                        }
                    }
                } else if at(i + 2) == Some('\'') && at(i + 1) != Some('\n') {
                    out.push('0');
                    i += 3;
                } else {
                    // A lifetime or a label.
                    out.push(' ');
                    i += 1;
                }
            }
            '#' => {
                out.push(' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Reads a string literal whose text starts at `s[i]` (after the opening
/// quote), writes it as a C literal and returns the index after it. `raw`
/// is the number of `#` of a raw string.
fn string(s: &[char], i: usize, raw: Option<usize>, out: &mut String) -> usize {
    let (text, lines, end) = rust_string(s, i, raw);
    out.push_str(&c_literal(&text));
    out.extend(std::iter::repeat_n('\n', lines));
    end.unwrap_or(s.len())
}

/// Reads a string literal whose text starts at `s[i]` (after the opening
/// quote) as Rust reads it: its text, the number of line breaks it spans
/// and the index after its closing quote (`None` when `s` ends first).
/// `raw` is the number of `#` of a raw string.
fn rust_string(s: &[char], mut i: usize, raw: Option<usize>) -> (String, usize, Option<usize>) {
    let mut text = String::new();
    let mut lines = 0;
    let skip_space = |i: &mut usize, lines: &mut usize| {
        while let Some(&c) = s.get(*i) {
            if !matches!(c, ' ' | '\t' | '\n' | '\r') {
                break;
            }
            if c == '\n' {
                *lines += 1;
            }
            *i += 1;
        }
    };
    while let Some(&c) = s.get(i) {
        match (c, raw) {
            ('"', None) => return (text, lines, Some(i + 1)),
            ('"', Some(n)) if s[i + 1..].iter().take(n).filter(|&&c| c == '#').count() == n => {
                return (text, lines, Some(i + 1 + n));
            }
            ('\\', None) => {
                let escaped = s.get(i + 1).copied();
                i += 2;
                match escaped {
                    Some('n') => text.push('\n'),
                    Some('r') => text.push('\r'),
                    Some('t') => text.push('\t'),
                    Some('0') => text.push('\0'),
                    Some('x') => {
                        let hex: String = s[i.min(s.len())..].iter().take(2).collect();
                        if let Some(ch) =
                            u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                        {
                            text.push(ch);
                            i += 2;
                        }
                    }
                    Some('u') if s.get(i) == Some(&'{') => {
                        let hex: String = s[i + 1..].iter().take_while(|&&c| c != '}').collect();
                        let ch = u32::from_str_radix(&hex.replace('_', ""), 16)
                            .ok()
                            .and_then(char::from_u32);
                        if let Some(ch) = ch {
                            text.push(ch);
                            i += hex.chars().count() + 2;
                        }
                    }
                    Some('\n') => {
                        lines += 1;
                        skip_space(&mut i, &mut lines);
                    }
                    Some('\r') if s.get(i) == Some(&'\n') => {
                        i += 1;
                        lines += 1;
                        skip_space(&mut i, &mut lines);
                    }
                    Some(other) => text.push(other),
                    None => {}
                }
            }
            _ => {
                if c == '\n' {
                    lines += 1;
                }
                text.push(c);
                i += 1;
            }
        }
    }
    (text, lines, None)
}

/// `text` as a C string literal, on one line.
fn c_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------
// Compiling

/// Counts of msgfmt's `--statistics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    translated: u32,
    fuzzy: u32,
    untranslated: u32,
}

impl Stats {
    /// Parses msgfmt's line, e.g. `7 translated messages, 1 fuzzy
    /// translation, 2 untranslated messages.`
    fn parse(text: &str) -> Option<Stats> {
        let line = text
            .lines()
            .rev()
            .find(|l| l.contains(" translated message"))?;
        let mut stats = Stats::default();
        for part in line.trim().trim_end_matches('.').split(", ") {
            let (n, what) = part.split_once(' ')?;
            let n: u32 = n.parse().ok()?;
            match what.split(' ').next()? {
                "translated" => stats.translated = n,
                "fuzzy" => stats.fuzzy = n,
                "untranslated" => stats.untranslated = n,
                _ => return None,
            }
        }
        Some(stats)
    }

    fn complete(&self) -> bool {
        self.fuzzy == 0 && self.untranslated == 0
    }

    /// What keeps a translation from being complete.
    fn missing(&self) -> String {
        format!(
            "incomplete: {} untranslated and {} fuzzy of {} messages",
            self.untranslated,
            self.fuzzy,
            self.translated + self.fuzzy + self.untranslated
        )
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} translated, {} fuzzy, {} untranslated",
            self.translated, self.fuzzy, self.untranslated
        )
    }
}

/// `msgfmt --check --statistics -o mo po`.
pub(crate) fn compile(po: &Path, mo: &Path) -> Result<Stats, String> {
    let output = tool(Command::new("msgfmt").args(["--check", "--statistics", "-o"]))
        .arg(mo)
        .arg(po)
        .run()?;
    let said = String::from_utf8_lossy(&output.stderr);
    Stats::parse(&said).ok_or_else(|| format!("cannot read msgfmt's statistics: {said}"))
}

// ---------------------------------------------------------------------------
// Helpers

/// A gettext tool with English messages, quiet unless it fails.
struct Tool<'a>(&'a mut Command);

fn tool(cmd: &mut Command) -> Tool<'_> {
    cmd.env("LC_ALL", "C.UTF-8").env_remove("LANGUAGE");
    Tool(cmd)
}

impl Tool<'_> {
    fn arg(self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.0.arg(arg);
        self
    }

    /// Runs the command; an error carries its messages.
    fn run(self) -> Result<Output, String> {
        let shown = show(self.0);
        let output = self
            .0
            .output()
            .map_err(|e| format!("could not start `{shown}`: {e}"))?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(format!(
                "`{shown}` exited with {}:\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `text` to `path` through a temporary file beside it (parents are
/// created).
fn write(path: &Path, text: &str) -> Result<(), String> {
    let dir = path
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", path.display()))?;
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".xtask-{}", std::process::id()));
    let tmp = dir.join(name);
    let result = fs::write(&tmp, text).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A directory under the system's temporary directory, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(what: &str) -> Result<TempDir, String> {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("dialtone-xtask-{what}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(TempDir(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The part of the tree that `po` reads and writes, copied to a
    /// temporary root.
    fn copy_of_the_tree() -> TempDir {
        let root = workspace_root();
        let copy = TempDir::new("po-test").unwrap();
        let mut files = potfiles(&root).unwrap();
        files.extend(["po/POTFILES.in".into(), "po/LINGUAS".into()]);
        files.push(SETTINGS_FILE.into());
        files.push(format!("po/{DOMAIN}.pot"));
        for lang in linguas(&root.join("po")).unwrap() {
            files.push(format!("po/{lang}.po"));
        }
        files.extend(MERGED.iter().map(|m| m.output.to_string()));
        for f in files {
            let to = copy.path().join(&f);
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::copy(root.join(&f), &to).unwrap_or_else(|e| panic!("{f}: {e}"));
        }
        copy
    }

    /// Every file under `dir`, with its content.
    fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    todo.push(p);
                } else {
                    out.push((p.clone(), fs::read(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    fn check(root: &Path) -> Vec<String> {
        let target = TempDir::new("po-test-target").unwrap();
        let before = snapshot(root);
        let report = run(root, target.path(), true).unwrap();
        assert_eq!(snapshot(root), before, "--check changed the tree");
        assert!(
            snapshot(target.path()).is_empty(),
            "--check wrote .mo files"
        );
        report.problems
    }

    /// Removes the entry of `msgid` (a one-line msgid) from a .po text.
    fn without_message(po: &str, msgid: &str) -> String {
        let entries: Vec<&str> = po.split("\n\n").collect();
        let kept: Vec<&str> = entries
            .iter()
            .copied()
            .filter(|e| !e.lines().any(|l| l == format!("msgid \"{msgid}\"")))
            .collect();
        assert_eq!(kept.len() + 1, entries.len(), "{msgid} is not one entry");
        kept.join("\n\n")
    }

    /// Whether `problem` says that de.po lacks one translation (the
    /// message untranslated, or fuzzy when msgmerge found a similar one).
    fn one_missing(problem: &str) -> bool {
        ["1 untranslated and 0 fuzzy", "0 untranslated and 1 fuzzy"]
            .iter()
            .any(|n| problem.starts_with(&format!("po/de.po: incomplete: {n} of ")))
    }

    #[test]
    fn the_committed_tree_passes_the_check() {
        let tree = copy_of_the_tree();
        assert_eq!(check(tree.path()), Vec::<String>::new());
    }

    #[test]
    fn a_stale_translation_is_found() {
        let tree = copy_of_the_tree();
        let de = tree.path().join("po/de.po");
        let text = fs::read_to_string(&de).unwrap();
        fs::write(&de, without_message(&text, "Disconnect all")).unwrap();
        let problems = check(tree.path());
        // msgmerge brings the message back, untranslated or with a fuzzy
        // guess from a similar message ("Disconnect").
        assert!(
            problems.iter().any(|p| p == "po/de.po: out of date"),
            "{problems:?}"
        );
        assert!(problems.iter().any(|p| one_missing(p)), "{problems:?}");
        // The desktop entry loses that translation.
        assert!(
            problems
                .iter()
                .any(|p| p == &format!("{DESKTOP_FILE}: out of date")),
            "{problems:?}"
        );
        assert!(
            !problems.iter().any(|p| p.starts_with("po/dialtone.pot")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_changed_source_makes_everything_stale_until_po_runs() {
        let tree = copy_of_the_tree();
        let root = tree.path();
        let desktop_in = root.join(MERGED[0].template);
        let text = fs::read_to_string(&desktop_in).unwrap();
        let changed = text.replace("Name=Disconnect all", "Name=Hang up all");
        assert_ne!(changed, text);
        fs::write(&desktop_in, changed).unwrap();
        let problems = check(root);
        for file in [
            format!("po/{DOMAIN}.pot: out of date"),
            "po/de.po: out of date".into(),
            format!("{DESKTOP_FILE}: out of date"),
        ] {
            assert!(problems.contains(&file), "{file}: {problems:?}");
        }
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("po/de.po: incomplete")),
            "{problems:?}"
        );

        // A run brings the files up to date; the new message waits for a
        // translator, the old one is kept as obsolete.
        let target = TempDir::new("po-test-target").unwrap();
        assert!(run(root, target.path(), false).unwrap().problems.is_empty());
        let pot = fs::read_to_string(root.join(format!("po/{DOMAIN}.pot"))).unwrap();
        assert!(pot.contains("msgid \"Hang up all\""));
        assert!(!pot.contains("Disconnect all"));
        let de = fs::read_to_string(root.join("po/de.po")).unwrap();
        assert!(de.contains("#~ msgid \"Disconnect all\""), "{de}");
        assert!(target
            .path()
            .join("locale/de/LC_MESSAGES/dialtone.mo")
            .is_file());
        let problems = check(root);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(one_missing(&problems[0]), "{problems:?}");
        // A second run changes nothing.
        let before = snapshot(root);
        run(root, target.path(), false).unwrap();
        assert_eq!(snapshot(root), before);
    }

    #[test]
    fn fuzzy_translations_are_incomplete() {
        let tree = copy_of_the_tree();
        let de = tree.path().join("po/de.po");
        let text = fs::read_to_string(&de).unwrap();
        let fuzzy = text.replace(
            "msgid \"Disconnect all\"",
            "#, fuzzy\nmsgid \"Disconnect all\"",
        );
        assert_ne!(fuzzy, text);
        fs::write(&de, fuzzy).unwrap();
        let problems = check(tree.path());
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("po/de.po: incomplete: 0 untranslated and 1 fuzzy")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_language_without_its_file_is_found() {
        let tree = copy_of_the_tree();
        fs::write(tree.path().join("po/LINGUAS"), "de\nfr\n").unwrap();
        let problems = check(tree.path());
        assert!(
            problems.iter().any(|p| p.starts_with("po/fr.po: missing")),
            "{problems:?}"
        );
    }

    #[test]
    fn rust_sources_and_builder_files_are_extracted() {
        let tree = TempDir::new("po-test-extract").unwrap();
        let root = tree.path();
        let rust = r###"use gettextrs::{gettext, ngettext, npgettext, pgettext};
#[derive(Debug)] struct A<'a> { s: &'a str } fn one() -> String { gettext("After an attribute") }
fn f<'a>(x: &'a str) -> &'static str {
    let quote = '"';
    let esc = '\'';
    let hash = r#"not "translated""#;
    // Translators: the state of a modem.
    let a = gettext("Connected");
    let b = ngettext("One modem", "{n} modems", 3);
    let c = pgettext("verb", "Dial");
    let d = npgettext("log", "{n} line", "{n} lines", 2);
    let e = gettext("50% done");
    let f = gettext("Say \"hi\"\nnow \u{2014} or \x41");
    let g = gettext(
        "a long message \
         on two lines",
    );
    let h = gettext(r"C:\raw\path");
    let i = gettext(r#"a "raw" one"#);
    /* /* nested */ gettext("in a comment") */
    'outer: loop { break 'outer; }
    let j = gettext("Negotiate IPv4");
    gettext("the end")
}
"###;
        let ui = r#"<?xml version="1.0" encoding="UTF-8"?>
<interface>
  <object class="GtkLabel">
    <property name="label" translatable="yes" context="status" comments="Translators: a state">Ready</property>
    <property name="tooltip-text">not translatable</property>
  </object>
</interface>
"#;
        fs::create_dir_all(root.join("src/window")).unwrap();
        fs::create_dir_all(root.join("ui")).unwrap();
        fs::write(root.join("src/window/mod.rs"), rust).unwrap();
        fs::write(root.join("ui/window.ui"), ui).unwrap();
        write(&root.join(SETTINGS_FILE), SETTINGS).unwrap();
        let work = TempDir::new("po-test-work").unwrap();
        let pot = extract(
            root,
            &["src/window/mod.rs".into(), "ui/window.ui".into()],
            work.path(),
        )
        .unwrap();
        let expected = [
            "msgid \"After an attribute\"",
            "#. Translators: the state of a modem.\n#: src/window/mod.rs\nmsgid \"Connected\"",
            "msgid \"One modem\"\nmsgid_plural \"{n} modems\"",
            "msgctxt \"verb\"\nmsgid \"Dial\"",
            "msgctxt \"log\"\nmsgid \"{n} line\"\nmsgid_plural \"{n} lines\"",
            "#: src/window/mod.rs\nmsgid \"50% done\"",
            "msgid \"\"\n\"Say \\\"hi\\\"\\n\"\n\"now — or A\"",
            "msgid \"a long message on two lines\"",
            "msgid \"C:\\\\raw\\\\path\"",
            "msgid \"a \\\"raw\\\" one\"",
            "msgid \"the end\"",
            "#. Translators: a state\n#: ui/window.ui\nmsgctxt \"status\"\nmsgid \"Ready\"",
            // The settings table: the comment names the key, the text is
            // the one the editor looks up.
            "#. The setting name\n#: helper/api/src/settings.rs\nmsgid \"The name people see\"",
            "#. The setting line.device\n#: helper/api/src/settings.rs\n\
             msgid \"The serial device, under /dev/\"",
            "#. The setting modem.init\n#: helper/api/src/settings.rs\n\
             msgid \"Sent before dialing, each expecting \\\"OK\\\"\"",
            "#. The setting ppp.lcp.mru\n#: helper/api/src/settings.rs\n\
             msgid \"The largest packet — in bytes, 50% more is fine\"",
            // A description that is also a message of the code: one
            // message, both places.
            "#. The setting ppp.ipcp.enabled\n\
             #: helper/api/src/settings.rs src/window/mod.rs\nmsgid \"Negotiate IPv4\"",
        ];
        for e in expected {
            assert!(pot.contains(e), "no {e:?} in\n{pot}");
        }
        for not in [
            "in a comment",
            "not translatable",
            "translated",
            "c-format",
            "SOME DESCRIPTIVE TITLE",
            "(required)",
            "\"s\"",
            "KEYS_OLD",
        ] {
            assert!(!pot.contains(not), "{not:?} in\n{pot}");
        }
    }

    /// A settings table as `helper/api/src/settings.rs` has it, with what
    /// the reader must not trip over.
    const SETTINGS: &str = r###"//! The settings ([`KEYS`]); `pub const KEYS` in a comment.
/// Not the table.
pub const KEYS_OLD: &[(&str, &str, &str)] = &[("old", "s", "KEYS_OLD")];

/// Every key.
#[rustfmt::skip]
pub const KEYS: &[(&str, &str, &str)] = &[
    ("name", "s", "The name people see (required)"),
    // The line.
    ("line.device", "s", "The serial device, \
                          under /dev/"),
    /* A list; ("not", "a", "row") */
    ( "modem.init" , "as" , "Sent before dialing, each expecting \"OK\"" , ),
    ("ppp.lcp.mru", r"q", r#"The largest packet \u{2014} in bytes, 50% more is fine"#),
    ("ppp.lcp.mru", "q", "The largest packet \u{2014} in bytes, 50% more is fine"),
    ("ppp.ipcp.enabled", "b", "Negotiate IPv4")
];

const OTHER: [&str; 1] = ["s"];
"###;

    #[test]
    fn the_settings_table_is_read() {
        let rows = settings_table(SETTINGS).unwrap();
        let rows: Vec<(&str, &str)> = rows.iter().map(|(k, d)| (k.as_str(), d.as_str())).collect();
        assert_eq!(
            rows,
            [
                ("name", "The name people see (required)"),
                ("line.device", "The serial device, under /dev/"),
                ("modem.init", "Sent before dialing, each expecting \"OK\""),
                (
                    "ppp.lcp.mru",
                    "The largest packet \\u{2014} in bytes, 50% more is fine"
                ),
                (
                    "ppp.lcp.mru",
                    "The largest packet \u{2014} in bytes, 50% more is fine"
                ),
                ("ppp.ipcp.enabled", "Negotiate IPv4"),
            ]
        );

        let error = |text: &str| settings_table(text).unwrap_err();
        assert!(
            error("pub const OTHER: &[u8] = &[];\n").starts_with("no `pub const KEYS`"),
            "{}",
            error("")
        );
        let table = "pub const KEYS: &[(&str, &str, &str)] = &[\n";
        for (text, expected) in [
            (
                format!("{table}    (\"a\", \"s\", \"A\"),\n"),
                "3: expected `(` at the start of a row, found the end of the file \
                 (the table `pub const KEYS` of line 1 is not closed by `];`)",
            ),
            (
                format!("{table}    (\"a\", \"s\", \"A\"),\n    (\"b\", \"s\", \"B\"),\n"),
                "not closed by `];`",
            ),
            (
                format!("{table}];\n"),
                "1: the table `pub const KEYS` has no rows",
            ),
            (
                format!("{table}    (\"a\", \"s\"),\n];\n"),
                "2: expected `,` after the signature, found `)`",
            ),
            (
                format!("{table}    (\"a\", 5, \"A\"),\n];\n"),
                "2: expected a string literal",
            ),
            (
                format!("{table}    (\"a\", \"s\", \"A\", \"x\"),\n];\n"),
                "2: expected `)` after the description (a row has three strings)",
            ),
            (
                format!("{table}    (\"a\", \"s\", \"A\")\n    (\"b\", \"s\", \"B\"),\n];\n"),
                "3: expected `,` after a row, found `(`",
            ),
            (
                format!("{table}    (\"a\", \"s\", \"A),\n];\n"),
                "2: a string literal is not closed",
            ),
            (
                format!("{table}    (\"a b\", \"s\", \"A\"),\n];\n"),
                "2: `a b` is not a settings key",
            ),
            (
                format!("{table}    (\"a\", \"s\", \"A\"),\n]\n"),
                "expected `;` after the table's `]`",
            ),
            (
                "pub const KEYS: &[(&str, &str, &str)];\n".to_string(),
                "1: `pub const KEYS` has no `= &[`",
            ),
            (
                format!("{table}];\n  pub const KEYS: u8 = 1;\n"),
                "3: a second `pub const KEYS`",
            ),
        ] {
            let e = error(&text);
            assert!(e.contains(expected), "{expected:?} is not in {e:?}");
        }

        // The run names the file.
        let tree = TempDir::new("po-test-no-table").unwrap();
        let root = tree.path();
        write(&root.join("src/main.rs"), "fn main() {}\n").unwrap();
        write(&root.join(SETTINGS_FILE), "pub const OTHER: u8 = 1;\n").unwrap();
        let work = TempDir::new("po-test-work").unwrap();
        let e = extract(root, &["src/main.rs".into()], work.path()).unwrap_err();
        assert!(
            e.starts_with("helper/api/src/settings.rs: no `pub const KEYS`"),
            "{e}"
        );
    }

    #[test]
    fn the_real_settings_table_is_read() {
        let root = workspace_root();
        let text = fs::read_to_string(root.join(SETTINGS_FILE)).unwrap();
        let rows = settings_table(&text).unwrap();
        // One row per line of the table, as it is written.
        let from = text.find("pub const KEYS").unwrap();
        let to = from + text[from..].find("\n];").unwrap();
        let lines = text[from..to]
            .lines()
            .filter(|l| l.trim_start().starts_with("(\""))
            .count();
        assert_eq!(rows.len(), lines);
        assert!(rows.len() > 40, "{rows:?}");
        assert!(rows.contains(&(
            "line.device".to_string(),
            "The serial device, under /dev/".to_string()
        )));
        let keys: BTreeSet<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys.len(), rows.len(), "a key twice");
    }

    #[test]
    fn rust_as_c_keeps_the_lines() {
        let src = "let a = \"x\\\n   y\";\nlet b = r#\"p\nq\"#; // c:\\\nlet c = '\\u{1F600}'; let d = b'\"';\n";
        let c = rust_as_c(src);
        assert_eq!(c.matches('\n').count(), src.matches('\n').count(), "{c}");
        assert_eq!(
            c,
            "let a = \"xy\"\n;\nlet b = \"p\\nq\"\n; // c:\\ \nlet c = 0; let d = b0;\n"
        );
    }

    #[test]
    fn patterns() {
        assert!(matches("*.rs", "main.rs"));
        assert!(matches("*.rs", ".rs"));
        assert!(!matches("*.rs", "main.rs.orig"));
        assert!(matches("a?c*", "abcdef"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*a*b", "xxaxxb"));
        assert!(!matches("*a*b", "xxbxxa"));

        let tree = TempDir::new("po-test-patterns").unwrap();
        let root = tree.path();
        for f in [
            "src/main.rs",
            "src/a/b/deep.rs",
            "src/a/notes.txt",
            "data/x.desktop.in",
        ] {
            fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            fs::write(root.join(f), "").unwrap();
        }
        fs::create_dir_all(root.join("po")).unwrap();
        let list = |text: &str| {
            fs::write(root.join("po/POTFILES.in"), text).unwrap();
            potfiles(root)
        };
        assert_eq!(
            list("# comment\n\nsrc/**/*.rs\nui/*.ui  # none yet\ndata/x.desktop.in\nsrc/main.rs\n")
                .unwrap(),
            ["data/x.desktop.in", "src/a/b/deep.rs", "src/main.rs"]
        );
        assert!(list("src/gone.rs\n")
            .unwrap_err()
            .contains("`src/gone.rs` is not a file"));
        assert!(list("src/a/*\n").unwrap_err().contains("notes.txt"));
        assert!(list("../x.rs\n").unwrap_err().contains("plain path"));
        assert!(list("/etc/x.rs\n").unwrap_err().contains("plain path"));
    }

    #[test]
    fn statistics_and_dates() {
        assert_eq!(
            Stats::parse("7 translated messages, 1 fuzzy translation, 2 untranslated messages.\n"),
            Some(Stats {
                translated: 7,
                fuzzy: 1,
                untranslated: 2
            })
        );
        let one = Stats::parse("1 translated message.\n").unwrap();
        assert!(one.complete());
        assert_eq!(one.translated, 1);
        assert_eq!(Stats::parse("nonsense"), None);

        let a = "msgid \"\"\n\"POT-Creation-Date: 2026-11-22 00:51+0000\\n\"\nmsgid \"x\"\n";
        let b = a.replace("00:51", "13:07");
        assert!(same_but_creation_date(a, &b));
        assert!(!same_but_creation_date(a, &b.replace("\"x\"", "\"y\"")));
    }

    #[test]
    fn the_template_is_tidied() {
        let pot = "# SOME DESCRIPTIVE TITLE.\n#, fuzzy\nmsgid \"\"\n\n#, c-format\nmsgid \"a\"\n\n\
                   #, fuzzy, possible-c-format\nmsgid \"b\"\n";
        assert_eq!(
            tidy_template(pot),
            "# The messages of Dialtone, for translation.\n#, fuzzy\nmsgid \"\"\n\nmsgid \"a\"\n\n\
             #, fuzzy\nmsgid \"b\"\n"
        );
    }

    #[test]
    fn linguas_is_read() {
        let tree = TempDir::new("po-test-linguas").unwrap();
        let po_dir = tree.path();
        fs::write(
            po_dir.join("LINGUAS"),
            "# languages\nde fr\npt_BR # Brazil\nde\n",
        )
        .unwrap();
        assert_eq!(linguas(po_dir).unwrap(), ["de", "fr", "pt_BR"]);
        fs::write(po_dir.join("LINGUAS"), "de/../x\n").unwrap();
        assert!(linguas(po_dir).is_err());
    }
}
