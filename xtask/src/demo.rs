//! `cargo xtask demo`: a full dial on the simulated modem and ISP, no
//! hardware needed.
//!
//! Two throw-away network namespaces (`unshare --net`, gone when their
//! process exits) keep the machine's own network untouched: the simulated
//! modem and ISP (`dialtone-sim --isp internal`) in one, `dialtoned run`
//! with `data/demo/demo.ron` in the other. The modem's pty joins them. The
//! demo shows the dial (a busy number first), the text login, PPP, the
//! connected link, and a ping through it; Ctrl-C hangs up.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::{cargo_bin, ensure_apt_packages, is_root, run, workspace_root, Failure};

/// The demo account on the simulated ISP.
const USER: &str = "demo";
const PASSWORD: &str = "demo";

pub fn cmd_demo(args: &[String]) -> Result<(), Failure> {
    if let Some(a) = args.first() {
        return Err(Failure::Usage(format!(
            "demo takes no arguments (got {a:?})"
        )));
    }
    if !is_root() {
        return Err(Failure::Failed(
            "the demo needs root: it creates network namespaces and TUN devices \
             (the machine's own network is not changed)"
                .into(),
        ));
    }
    ensure_apt_packages().map_err(Failure::Failed)?;
    let root = workspace_root();
    println!("==> building dialtoned and dialtone-sim (release)");
    run(Command::new(cargo_bin()).current_dir(&root).args([
        "build",
        "--release",
        "-p",
        "dialtone-helper",
        "--bins",
    ]))
    .map_err(Failure::Failed)?;
    let bin = target_dir(&root).join("release");
    let dir = std::env::temp_dir().join(format!("dialtone-demo-{}", std::process::id()));
    let result = demo(&root, &bin, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result.map_err(Failure::Failed)
}

/// Cargo's target directory (CARGO_TARGET_DIR or ./target).
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// A child whose output lines are printed with a prefix and forwarded.
struct Shown {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Shown {
    fn spawn(prefix: &'static str, mut cmd: Command) -> Result<Shown, String> {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {prefix}: {e}"))?;
        let (tx, lines) = mpsc::channel();
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().ok_or("no stdout")?),
            Box::new(child.stderr.take().ok_or("no stderr")?),
        ];
        for stream in streams {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    println!("{prefix} | {line}");
                    let _ = tx.send(line);
                }
            });
        }
        Ok(Shown { child, lines })
    }

    /// Waits for a line containing `text`; `Err` if the program exits first.
    fn wait_for(&mut self, text: &str, timeout: Duration) -> Result<(), String> {
        let end = std::time::Instant::now() + timeout;
        loop {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) if line.contains(text) => return Ok(()),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        return Err(format!("it exited ({status}) before saying {text:?}"));
                    }
                    if std::time::Instant::now() > end {
                        return Err(format!("no {text:?} within {timeout:?}"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map_err(|e| e.to_string())?;
                    return Err(format!("it exited ({status}) before saying {text:?}"));
                }
            }
        }
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }
}

impl Drop for Shown {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGTERM);
            std::thread::sleep(Duration::from_millis(500));
            if let Ok(None) = self.child.try_wait() {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

/// `unshare --net` with loopback up, then `exec` the program.
fn in_new_netns(program: &Path, args: &[&str]) -> Command {
    let mut script = String::from("ip link set lo up && exec");
    for word in std::iter::once(program.to_string_lossy().as_ref()).chain(args.iter().copied()) {
        script.push_str(" '");
        script.push_str(&word.replace('\'', r"'\''"));
        script.push('\'');
    }
    let mut cmd = Command::new("unshare");
    cmd.args(["--net", "sh", "-c", &script]);
    cmd
}

fn demo(root: &Path, bin: &Path, dir: &Path) -> Result<(), String> {
    for sub in ["profiles", "secrets", "state", "lock"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let profile = dir.join("profiles/demo.ron");
    std::fs::copy(root.join("data/demo/demo.ron"), &profile)
        .map_err(|e| format!("copying the demo profile: {e}"))?;
    let secrets = dir.join("secrets/demo.ron");
    std::fs::write(
        &secrets,
        format!("Secrets(version: 1, password: {PASSWORD:?})\n"),
    )
    .map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    let resolv = dir.join("resolv.conf");
    std::fs::write(
        &resolv,
        "# the demo's own resolv.conf (the machine's is not touched)\n",
    )
    .map_err(|e| e.to_string())?;
    let modem = dir.join("modem");

    // Ctrl-C is for the programs: dialtoned hangs up, the sim exits; we
    // stay to clean up and say what happened.
    // SAFETY: setting a signal disposition to SIG_IGN has no preconditions.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };

    println!("==> the simulated modem and ISP (its own network namespace)");
    let modem_s = modem.to_string_lossy().into_owned();
    // Its own process group: Ctrl-C goes to dialtoned only, which hangs
    // up through the modem; the simulation is stopped afterwards.
    let mut sim_cmd = in_new_netns(
        &bin.join("dialtone-sim"),
        &[
            "--link",
            &modem_s,
            "--number",
            "5550100=busy",
            "--dial-delay-ms",
            "1500",
            "--isp",
            "internal",
            "--auth",
            "chap",
            "--user",
            USER,
            "--password",
            PASSWORD,
            "--login-prompt",
        ],
    );
    std::os::unix::process::CommandExt::process_group(&mut sim_cmd, 0);
    let mut sim = Shown::spawn("   modem+isp", sim_cmd)?;
    sim.wait_for("ready", Duration::from_secs(20))
        .map_err(|e| format!("dialtone-sim: {e}"))?;

    println!("==> dialtoned run data/demo/demo.ron (a second network namespace)");
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let (profile_s, resolv_s, state_s, lock_s) = (
        s(&profile),
        s(&resolv),
        s(&dir.join("state")),
        s(&dir.join("lock")),
    );
    let mut dialer = Shown::spawn(
        "   dialtoned",
        in_new_netns(
            &bin.join("dialtoned"),
            &[
                "run",
                &profile_s,
                "--device",
                &modem_s,
                "--dns",
                "resolv-conf",
                "--resolv-conf",
                &resolv_s,
                "--state-dir",
                &state_s,
                "--lock-dir",
                &lock_s,
                "--verbose",
            ],
        ),
    )?;
    dialer
        .wait_for("connected", Duration::from_secs(60))
        .map_err(|e| format!("dialtoned: {e}"))?;

    println!("==> ping 10.0.0.1 (the ISP) through the link");
    let netns = format!("--net=/proc/{}/ns/net", dialer.child.id());
    let _ = Command::new("nsenter")
        .args([&netns, "ping", "-c", "3", "10.0.0.1"])
        .status();
    println!(
        "==> the link is up. Try it:  sudo nsenter {netns} ping 10.0.0.1\n\
         ==> press Ctrl-C to hang up"
    );
    let status = dialer.child.wait().map_err(|e| e.to_string())?;
    // Let the output threads print the last lines.
    std::thread::sleep(Duration::from_millis(300));
    drop(sim);
    println!("==> dialtoned exited ({status}); the demo is over");
    Ok(())
}
