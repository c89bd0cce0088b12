//! How long the window takes to appear: `cargo bench -p dialtone --bench startup`.
//!
//! Runs the release `dialtone` many times on a virtual display (Xvfb) and
//! times, from the spawn to the line it prints:
//!
//! * `first-frame`: the window's first frame is painted (the goal is
//!   400 ms or less);
//! * `first-content`: the frame after the daemon's snapshot arrived, with
//!   the connections listed.
//!
//! A private bus with `dialtoned service` on it (three profiles, no link
//! is brought up, nothing on the network is touched) and a session bus for
//! GApplication are started once. Needs root (dialtoned) and the Debian
//! packages xvfb and dbus-daemon. Prints the median, minimum and maximum.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 25;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn wait_path(p: &Path) {
    let end = Instant::now() + Duration::from_secs(10);
    while !p.exists() {
        assert!(Instant::now() < end, "{} did not appear", p.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn(what: &'static str, cmd: &mut Command) -> Killed {
    let child = cmd
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    Killed(child)
}

fn bus(dir: &Path, name: &str) -> (Killed, String) {
    let socket = dir.join(name);
    let address = format!("unix:path={}", socket.display());
    let k = spawn(
        "dbus-daemon",
        Command::new("dbus-daemon").args([
            "--session",
            "--nofork",
            "--nopidfile",
            &format!("--address={address}"),
        ]),
    );
    wait_path(&socket);
    (k, address)
}

fn stats(name: &str, mut v: Vec<f64>) {
    if v.is_empty() {
        return;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let median = v[v.len() / 2];
    println!(
        "{name:<22} median {median:6.1} ms   min {:6.1} ms   max {:6.1} ms   ({} runs)",
        v[0],
        v[v.len() - 1],
        v.len()
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("startup: bench");
        return;
    }
    let gui = env!("CARGO_BIN_EXE_dialtone");
    let status = Command::new(env!("CARGO"))
        .current_dir(root())
        .args([
            "build",
            "--release",
            "-p",
            "dialtone-helper",
            "--bin",
            "dialtoned",
        ])
        .status()
        .expect("cargo build");
    assert!(status.success(), "building dialtoned failed");
    let target = Path::new(gui).parent().expect("the binary's directory");
    let dialtoned = target.join("dialtoned");

    let dir = std::env::temp_dir().join(format!("dialtone-startup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for d in ["profiles", "secrets", "state", "lock"] {
        std::fs::create_dir_all(dir.join(d)).expect("temporary directory");
    }
    let demo = std::fs::read_to_string(root().join("data/demo/demo.ron")).expect("demo profile");
    for (id, name) in [
        ("demo", "Dialtone demo ISP"),
        ("work", "Work"),
        ("bbs", "Retro BBS"),
    ] {
        std::fs::write(
            dir.join(format!("profiles/{id}.ron")),
            demo.replace("Dialtone demo ISP", name),
        )
        .expect("profile");
    }

    let display = (90..200)
        .find(|n| !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists())
        .expect("a free display");
    let _xvfb = spawn(
        "Xvfb",
        Command::new("Xvfb")
            .args([
                &format!(":{display}"),
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
            ])
            .stderr(Stdio::null()),
    );
    wait_path(Path::new(&format!("/tmp/.X11-unix/X{display}")));
    let (_system, system_address) = bus(&dir, "system");
    let (_session, session_address) = bus(&dir, "session");
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    let _daemon = spawn(
        "dialtoned",
        Command::new(&dialtoned).args([
            "service",
            "--bus-address",
            &system_address,
            "--config-dir",
            &s(dir.clone()),
            "--state-dir",
            &s(dir.join("state")),
            "--lock-dir",
            &s(dir.join("lock")),
            "--modem-link",
            &s(dir.join("modem")),
            "--resolv-conf",
            &s(dir.join("resolv.conf")),
        ]),
    );
    std::thread::sleep(Duration::from_millis(500));

    println!("dialtone startup on Xvfb ({gui})");
    // GTK's default renderer (GL, here Mesa's llvmpipe on the CPU) and the
    // cairo renderer.
    for renderer in [None, Some("cairo")] {
        let (frames, contents) = measure(gui, display, &system_address, &session_address, renderer);
        let label = renderer.unwrap_or("gl");
        stats(&format!("first-frame ({label})"), frames);
        stats(&format!("first-content ({label})"), contents);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the window RUNS times (after two warm-up runs); the times to its
/// first frame and to its first frame with content, in milliseconds.
fn measure(
    gui: &str,
    display: u32,
    system_address: &str,
    session_address: &str,
    renderer: Option<&str>,
) -> (Vec<f64>, Vec<f64>) {
    let mut frames = Vec::new();
    let mut contents = Vec::new();
    for run in 0..RUNS + 2 {
        let start = Instant::now();
        let mut cmd = Command::new(gui);
        if let Some(r) = renderer {
            cmd.env("GSK_RENDERER", r);
        } else {
            cmd.env_remove("GSK_RENDERER");
        }
        let mut child = cmd
            .args(["--bus-address", system_address])
            .env("DISPLAY", format!(":{display}"))
            .env("DBUS_SESSION_BUS_ADDRESS", session_address)
            .env("DIALTONE_REPORT_FIRST_FRAME", "1")
            .env("GSETTINGS_BACKEND", "memory")
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dialtone");
        let out = child.stdout.take().expect("stdout");
        let mut frame = None;
        let mut content = None;
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let t = start.elapsed().as_secs_f64() * 1000.0;
            match line.trim() {
                "first-frame" => frame = Some(t),
                "first-content" => content = Some(t),
                _ => {}
            }
            if frame.is_some() && content.is_some() {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        // The first two runs warm the caches (fonts, icons, the binary).
        if run >= 2 {
            frames.push(frame.expect("a first frame"));
            contents.push(content.expect("the connections shown"));
        }
    }
    (frames, contents)
}
