//! `dialtoned service` on a real system-style bus (a private dbus-daemon
//! with our bus policy) with the real polkitd: the profile store over
//! D-Bus, bad input refused with nothing changed on disk, the daemon
//! killed during saves, D-Bus activation and the idle exit. The calls here
//! come from this test process, which is root; the authorization matrix
//! and links are in `service_links.rs`. Needs root.

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/system_bus.rs"]
mod system_bus;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use dialtone_api::dbus::{LinkProxy, ManagerProxy, ProfileProxy, BUS_NAME};
use dialtone_api::profile::Profile;
use dialtone_api::settings::{to_settings, Settings};
use e2e::{Proc, TempDir, DIALTONED};
use system_bus::SystemBus;
use zbus::OwnedVariant;

/// Every file under `dir` with its bytes and mode: what "nothing changed
/// on disk" compares.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p.clone());
                out.insert(p, (Vec::new(), meta.mode()));
            } else {
                out.insert(
                    p.clone(),
                    (std::fs::read(&p).unwrap_or_default(), meta.mode()),
                );
            }
        }
    }
    out
}

/// The daemon with every path in `dir`, on `bus`.
fn start_daemon(bus: &SystemBus, dir: &TempDir, extra: &[&str]) -> Proc {
    start_daemon_in(None, bus, dir, extra)
}

/// The daemon, in network namespace `ns` if given.
fn start_daemon_in(
    ns: Option<&e2e::Netns>,
    bus: &SystemBus,
    dir: &TempDir,
    extra: &[&str],
) -> Proc {
    for d in ["etc", "state", "lock"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let mut cmd = match ns {
        Some(ns) => ns.command(DIALTONED),
        None => std::process::Command::new(DIALTONED),
    };
    cmd.arg("service")
        .arg("--bus-address")
        .arg(bus.address())
        .arg("--config-dir")
        .arg(dir.join("etc"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--lock-dir")
        .arg(dir.join("lock"))
        .arg("--modem-link")
        .arg(dir.join("modem"))
        .arg("--dns")
        .arg("resolv-conf")
        .arg("--resolv-conf")
        .arg(dir.join("resolv.conf"))
        .args(extra);
    let mut p = Proc::spawn("dialtoned", cmd);
    p.wait_contains("serving", Duration::from_secs(20));
    p
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn connect(bus: &SystemBus) -> zbus::Connection {
    zbus::connection::Builder::address(bus.address())
        .build()
        .await
        .unwrap()
}

/// The D-Bus error name of a failed call.
fn error_name(e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(name, _, _) => name.to_string(),
        other => format!("not a method error: {other}"),
    }
}

fn error_text(e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(_, Some(text), _) => text.clone(),
        other => other.to_string(),
    }
}

fn profile(name: &str, device: &str) -> Profile {
    let mut p = Profile::new(name);
    p.line.device = device.into();
    p
}

fn with(settings: &Settings, key: &str, value: impl Into<zbus::Variant<'static>>) -> Settings {
    let mut s: Settings = settings
        .iter()
        .map(|(k, v)| (k.clone(), v.try_clone().unwrap()))
        .collect();
    s.insert(
        key.to_string(),
        OwnedVariant::try_from(value.into()).unwrap(),
    );
    s
}

const INVALID: &str = "io.github.dialtone.Dialtone1.Error.InvalidArgument";

/// Profiles are added, read back, updated, given a password (never read
/// back) and deleted; files appear and go with the right modes.
#[test]
fn profiles_over_the_bus() {
    system_bus::require_root();
    let bus = SystemBus::start();
    let dir = TempDir::new();
    let _d = start_daemon(&bus, &dir, &[]);
    runtime().block_on(async {
        let conn = connect(&bus).await;
        let manager = ManagerProxy::new(&conn).await.unwrap();
        assert!(manager.list_profiles().await.unwrap().is_empty());
        let p = profile("Example ISP", "/dev/ttyS0");
        let path = manager.add_profile(to_settings(&p)).await.unwrap();
        assert_eq!(
            path.as_str(),
            "/io/github/dialtone/Dialtone1/Profile/example_isp"
        );
        let file = dir.join("etc/profiles/example_isp.ron");
        assert_eq!(
            Profile::from_ron(&std::fs::read_to_string(&file).unwrap()).unwrap(),
            p
        );
        let prof = ProfileProxy::builder(&conn)
            .path(path.clone())
            .build()
            .await
            .unwrap();
        assert_eq!(prof.id().await.unwrap(), "example_isp");
        assert_eq!(prof.name().await.unwrap(), "Example ISP");
        assert!(!prof.has_secrets().await.unwrap());
        assert_eq!(prof.active_link().await.unwrap().as_str(), "/");

        let mut p2 = p.clone();
        p2.user = "alice".into();
        p2.name = "Renamed ISP".into();
        prof.update(to_settings(&p2)).await.unwrap();
        assert_eq!(
            Profile::from_ron(&std::fs::read_to_string(&file).unwrap()).unwrap(),
            p2
        );
        let back = dialtone_api::settings::from_settings(&prof.settings().await.unwrap()).unwrap();
        assert_eq!(back, p2);

        let secret = "s3cret-pa55";
        prof.set_secrets(HashMap::from([(
            "password".to_string(),
            secret.to_string(),
        )]))
        .await
        .unwrap();
        assert!(prof.has_secrets().await.unwrap());
        let sfile = dir.join("etc/secrets/example_isp.ron");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&sfile).unwrap().mode() & 0o777, 0o600);
        // Nothing the bus offers returns the password.
        let all = format!("{:?}", prof.settings().await.unwrap());
        assert!(!all.contains(secret));
        let e = prof
            .set_secrets(HashMap::from([("pin".to_string(), "1".to_string())]))
            .await
            .unwrap_err();
        assert_eq!(error_name(&e), INVALID, "{e}");

        prof.delete().await.unwrap();
        assert!(!file.exists() && !sfile.exists());
        assert!(manager.list_profiles().await.unwrap().is_empty());
        // Its object goes too.
        let om = zbus::fdo::ObjectManagerProxy::builder(&conn)
            .destination(BUS_NAME)
            .path("/io/github/dialtone/Dialtone1")
            .build()
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while om
            .get_managed_objects()
            .await
            .unwrap()
            .keys()
            .any(|p| p.as_str().contains("/Profile/"))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the profile object stayed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

/// A corrupt file is reported by name and left in place; the others load.
#[test]
fn a_corrupt_file_is_reported_and_left_alone() {
    system_bus::require_root();
    let bus = SystemBus::start();
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.join("etc/profiles")).unwrap();
    std::fs::write(
        dir.join("etc/profiles/broken.ron"),
        "Profile(version: 1, name: ",
    )
    .unwrap();
    std::fs::write(
        dir.join("etc/profiles/good.ron"),
        profile("Good", "/dev/ttyS0").to_ron(),
    )
    .unwrap();
    let _d = start_daemon(&bus, &dir, &[]);
    runtime().block_on(async {
        let conn = connect(&bus).await;
        let manager = ManagerProxy::new(&conn).await.unwrap();
        let list = manager.list_profiles().await.unwrap();
        assert_eq!(list.len(), 1);
        assert!(list[0].as_str().ends_with("/good"));
        let problems = manager.profile_problems().await.unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].0.ends_with("broken.ron"), "{problems:?}");
        assert_eq!(
            std::fs::read_to_string(dir.join("etc/profiles/broken.ron")).unwrap(),
            "Profile(version: 1, name: "
        );
    });
}

/// Bad input from the bus: each a clear InvalidArgument naming what is
/// wrong, and nothing changed on disk.
#[test]
fn bad_input_is_refused_and_changes_nothing() {
    system_bus::require_root();
    let bus = SystemBus::start();
    let dir = TempDir::new();
    let _d = start_daemon(&bus, &dir, &[]);
    // Special files under /dev, where profiles must point: /dev/shm is the
    // one place there a test may create files.
    let tag = e2e::tag();
    let fifo = PathBuf::from(format!("/dev/shm/dialtone-{tag}.fifo"));
    let link = PathBuf::from(format!("/dev/shm/dialtone-{tag}.link"));
    let cfifo = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid path.
    assert_eq!(unsafe { libc::mkfifo(cfifo.as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    struct Cleanup(Vec<PathBuf>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    let _c = Cleanup(vec![fifo.clone(), link.clone()]);

    runtime().block_on(async {
        let conn = connect(&bus).await;
        let manager = ManagerProxy::new(&conn).await.unwrap();
        // One good profile to update.
        let good = profile("Good", "/dev/ttyS0");
        let path = manager.add_profile(to_settings(&good)).await.unwrap();
        let prof = ProfileProxy::builder(&conn)
            .path(path)
            .build()
            .await
            .unwrap();
        let before = snapshot(&dir.join("etc"));
        let base = to_settings(&good);

        let cases: Vec<(&str, Settings, &str)> = vec![
            (
                "device /etc/shadow",
                with(&base, "line.device", "/etc/shadow"),
                "line.device",
            ),
            (
                "a symlink to a non-tty",
                with(&base, "line.device", link.display().to_string()),
                "line.device",
            ),
            (
                "a FIFO",
                with(&base, "line.device", fifo.display().to_string()),
                "line.device",
            ),
            (
                "/dev/null",
                with(&base, "line.device", "/dev/null"),
                "line.device",
            ),
            (
                "../ in the device",
                with(&base, "line.device", "/dev/../etc/shadow"),
                "line.device",
            ),
            (
                "a 10 MB name",
                with(&base, "name", "x".repeat(10 << 20)),
                "",
            ),
            (
                "an unknown field",
                with(&base, "line.parity", "even"),
                "line.parity",
            ),
            (
                "a wrong type",
                with(&base, "line.speed", "fast"),
                "line.speed",
            ),
            (
                "a wrong integer type",
                with(&base, "line.speed", 115200i64),
                "line.speed",
            ),
            (
                "a bad speed",
                with(&base, "line.speed", 12345u32),
                "line.speed",
            ),
            (
                "a number that cannot be dialed",
                with(&base, "modem.numbers", vec!["555;reboot`x`"]),
                "modem.numbers",
            ),
        ];
        for (what, settings, field) in cases {
            for target in ["add", "update"] {
                let r = match target {
                    "add" => manager
                        .add_profile(
                            settings
                                .iter()
                                .map(|(k, v)| (k.clone(), v.try_clone().unwrap()))
                                .collect(),
                        )
                        .await
                        .map(drop),
                    _ => {
                        prof.update(
                            settings
                                .iter()
                                .map(|(k, v)| (k.clone(), v.try_clone().unwrap()))
                                .collect(),
                        )
                        .await
                    }
                };
                let e = r.expect_err(what);
                assert_eq!(error_name(&e), INVALID, "{what} ({target}): {e}");
                let text = error_text(&e);
                assert!(
                    text.contains(field),
                    "{what} ({target}): {text:?} should name {field:?}"
                );
                assert!(
                    text.len() < 600,
                    "{what}: the message is {} bytes",
                    text.len()
                );
                assert_eq!(
                    snapshot(&dir.join("etc")),
                    before,
                    "{what} ({target}) changed files"
                );
            }
        }

        // A NUL cannot travel in a D-Bus string at all: the bus drops the
        // sender's connection for the malformed message. The daemon never
        // sees it, stays up, and nothing changes.
        for (key, value) in [
            ("name", zbus::Variant::from("a\0b")),
            ("modem.init", zbus::Variant::from(vec!["AT\0Z"])),
        ] {
            let c = connect(&bus).await;
            let m = ManagerProxy::new(&c).await.unwrap();
            let mut settings = with(&base, "modem.numbers", vec!["1"]);
            settings.insert(key.into(), OwnedVariant::try_from(value).unwrap());
            let e = m
                .add_profile(settings)
                .await
                .expect_err("a NUL went through");
            assert_ne!(error_name(&e), "", "{e}");
            assert_eq!(
                snapshot(&dir.join("etc")),
                before,
                "a NUL in {key} changed files"
            );
        }
        let fresh = connect(&bus).await;
        let m = ManagerProxy::new(&fresh).await.unwrap();
        assert_eq!(
            m.list_profiles().await.unwrap().len(),
            1,
            "the daemon is still there"
        );

        // Shell metacharacters in chat strings are text sent to the modem,
        // never run: accepted and kept byte for byte.
        let odd = "AT$(touch /tmp/pwned);`reboot`|&>";
        let mut p = good.clone();
        p.modem = Some(dialtone_api::profile::Modem {
            init: vec![odd.into()],
            numbers: vec!["5551234".into()],
            ..Default::default()
        });
        prof.update(to_settings(&p)).await.unwrap();
        let text = std::fs::read_to_string(dir.join("etc/profiles/good.ron")).unwrap();
        assert_eq!(
            Profile::from_ron(&text).unwrap().modem.unwrap().init,
            vec![odd.to_string()]
        );

        // Object paths cannot carry "../": the bus itself refuses them,
        // and a profile named like a path gets a plain id.
        assert!(
            zbus::OwnedObjectPath::try_from("/io/github/dialtone/Dialtone1/Profile/../x").is_err()
        );
        let path = manager
            .add_profile(to_settings(&profile("../../etc/shadow", "/dev/ttyS0")))
            .await
            .unwrap();
        assert!(path.as_str().ends_with("/Profile/etc_shadow"), "{path}");
        assert!(dir.join("etc/profiles/etc_shadow.ron").exists());
        // A profile that does not exist.
        let ghost = ProfileProxy::builder(&conn)
            .path("/io/github/dialtone/Dialtone1/Profile/nothing_here")
            .build()
            .await
            .unwrap();
        assert!(ghost.delete().await.is_err());
    });
}

/// kill -9 of the daemon while it saves profiles, again and again, over
/// 1000 saves: every profile file is the old or the new version, none lost
/// or torn.
#[test]
fn kill_9_during_1000_saves_loses_nothing() {
    system_bus::require_root();
    let bus = SystemBus::start();
    let dir = TempDir::new();
    const PROFILES: usize = 4;
    const SAVES: u32 = 1000;
    let version = |i: usize, n: u32| {
        let mut p = profile(&format!("Profile {i}"), "/dev/ttyS0");
        p.user = format!("user-{n}");
        // A few KiB, so that a torn write would show.
        p.modem = Some(dialtone_api::profile::Modem {
            numbers: vec!["5551234".into()],
            init: (0..12)
                .map(|k| format!("AT+SAVE={n},{k},{}", "X".repeat(80)))
                .collect(),
            ..Default::default()
        });
        p
    };
    let mut daemon = Some(start_daemon(&bus, &dir, &[]));
    let rt = runtime();
    let paths: Vec<zbus::OwnedObjectPath> = rt.block_on(async {
        let conn = connect(&bus).await;
        let manager = ManagerProxy::new(&conn).await.unwrap();
        let mut out = Vec::new();
        for i in 0..PROFILES {
            out.push(
                manager
                    .add_profile(to_settings(&version(i, 0)))
                    .await
                    .unwrap(),
            );
        }
        out
    });
    // last[i]: the last version the daemon confirmed; the file may also
    // hold the one after it (saved, but killed before the reply).
    let mut last = [0u32; PROFILES];
    let mut saves = 0u32;
    let mut kills = 0;
    let mut rng = 0x5EEDu64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    while saves < SAVES {
        // Saves back to back until the kill, which lands at a random
        // moment, so in the middle of one.
        let burst = 400;
        let pid = daemon.as_ref().unwrap().child.id();
        let delay_ms = 30 + next() % 170;
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(delay_ms));
            // SAFETY: kill on a child's pid.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        });
        rt.block_on(async {
            let conn = connect(&bus).await;
            for _ in 0..burst {
                let i = (next() % PROFILES as u64) as usize;
                let prof = ProfileProxy::builder(&conn)
                    .path(paths[i].clone())
                    .build()
                    .await
                    .unwrap();
                let n = last[i] + 1;
                match prof.update(to_settings(&version(i, n))).await {
                    Ok(()) => {
                        last[i] = n;
                        saves += 1;
                    }
                    Err(_) => break,
                }
            }
        });
        killer.join().unwrap();
        let mut old = daemon.take().unwrap();
        old.wait_exit(Duration::from_secs(10));
        kills += 1;
        // Every file: the confirmed version or the one after it.
        for (i, last) in last.iter_mut().enumerate() {
            let file = dir.join(&format!("etc/profiles/profile_{i}.ron"));
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("profile {i} lost after kill {kills}: {e}"));
            let p = Profile::from_ron(&text)
                .unwrap_or_else(|e| panic!("profile {i} torn after kill {kills}: {e}"));
            let n = *last;
            if p == version(i, n + 1) {
                *last = n + 1;
            } else {
                assert_eq!(p, version(i, n), "profile {i} after kill {kills}");
            }
        }
        daemon = Some(start_daemon(&bus, &dir, &[]));
    }
    // The restarted daemon loaded them all, and no temp file is a profile.
    rt.block_on(async {
        let conn = connect(&bus).await;
        let manager = ManagerProxy::new(&conn).await.unwrap();
        assert_eq!(manager.list_profiles().await.unwrap().len(), PROFILES);
        assert!(manager.profile_problems().await.unwrap().is_empty());
    });
    let names: Vec<String> = std::fs::read_dir(dir.join("etc/profiles"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), PROFILES, "{names:?}");
    assert!(kills >= 5, "only {kills} kills");
    eprintln!("{saves} saves, {kills} kills");
}

/// D-Bus activation: the first call starts the daemon; with no link and
/// no call it exits after its idle timeout, and the next call starts it
/// again.
#[test]
fn activated_on_first_call_and_gone_when_idle() {
    system_bus::require_root();
    let bus = SystemBus::start();
    let dir = TempDir::new();
    for d in ["etc", "state", "lock"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let exec = format!(
        "{DIALTONED} service --idle-timeout 2 --config-dir {} --state-dir {} --lock-dir {} --modem-link {} --dns resolv-conf --resolv-conf {}",
        dir.join("etc").display(),
        dir.join("state").display(),
        dir.join("lock").display(),
        dir.join("modem").display(),
        dir.join("resolv.conf").display(),
    );
    bus.add_dialtone_activation(&exec);
    assert!(!bus.name_has_owner(BUS_NAME));
    let rt = runtime();
    for round in 0..2 {
        rt.block_on(async {
            let conn = connect(&bus).await;
            let manager = ManagerProxy::new(&conn).await.unwrap();
            assert_eq!(
                manager.version().await.unwrap(),
                env!("CARGO_PKG_VERSION"),
                "round {round}"
            );
        });
        assert!(bus.name_has_owner(BUS_NAME));
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while bus.name_has_owner(BUS_NAME) {
            assert!(
                std::time::Instant::now() < deadline,
                "still running after 15 s idle"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The simulated modem and ISP in `ns`: its pty path (a profile's device
/// must be under /dev, so the pty itself rather than the link).
fn sim(
    ns: &e2e::Netns,
    dir: &TempDir,
    name: &str,
    local: &str,
    remote: &str,
    dns: &str,
) -> (Proc, String) {
    let args = [
        "--isp",
        "internal",
        "--auth",
        "chap",
        "--user",
        "alice",
        "--password",
        "open sesame",
        "--local",
        local,
        "--remote",
        remote,
        "--dns",
        dns,
        "--dial-delay-ms",
        "200",
    ];
    let p = e2e::start_sim(ns, &dir.join(name), &args);
    let out = p.output();
    let ready = out
        .lines()
        .find(|l| l.starts_with("ready"))
        .unwrap_or_default();
    let pty = ready
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no pty in {ready:?}"))
        .to_string();
    (p, pty)
}

/// A dialing profile for the simulated modem on `pty`.
fn dial_profile(name: &str, pty: &str, default_route: bool) -> Profile {
    let text = format!(
        r#"Profile(
    version: 1,
    name: {name:?},
    line: (device: {pty:?}, speed: 115200, flow_control: None, carrier: Modem),
    modem: Some((init: ["ATZ"], numbers: ["5551234"], command_timeout: 5, connect_timeout: 20)),
    user: "alice",
    ppp: (auth: (methods: [ChapMd5])),
    network: (default_route: {default_route}, peer_dns: true),
)"#
    );
    Profile::from_ron(&text).unwrap()
}

/// Polls a link's State until it is `want` (or fails with its reason).
async fn wait_state(link: &LinkProxy<'_>, want: &str, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let state = link.state().await.unwrap();
        if state == want {
            return;
        }
        if state == "disconnected" || std::time::Instant::now() > deadline {
            let reason = link.state_reason().await.unwrap();
            panic!("wanted {want}, the link is {state}: {reason:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn add_with_password(
    manager: &ManagerProxy<'_>,
    conn: &zbus::Connection,
    p: &Profile,
) -> zbus::OwnedObjectPath {
    let path = manager.add_profile(to_settings(p)).await.unwrap();
    let prof = ProfileProxy::builder(conn)
        .path(path.clone())
        .build()
        .await
        .unwrap();
    prof.set_secrets(HashMap::from([(
        "password".to_string(),
        "open sesame".to_string(),
    )]))
    .await
    .unwrap();
    path
}

fn ping(ns: &e2e::Netns, addr: &str) -> bool {
    ns.command("ping")
        .args(["-c", "1", "-W", "3", addr])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Two profiles up at once through two simulated modems, each with its
/// interface, addresses and DNS; both hang up cleanly.
#[test]
fn two_links_at_once() {
    system_bus::require_root();
    let bus = SystemBus::start();
    let dir = TempDir::new();
    let client = e2e::Netns::new("cli");
    let isp1 = e2e::Netns::new("isp");
    let isp2 = e2e::Netns::new("isp");
    std::fs::write(dir.join("resolv.conf"), "nameserver 192.0.2.1\n").unwrap();
    let (_s1, pty1) = sim(&isp1, &dir, "modem1", "10.0.0.1", "10.0.0.2", "10.0.0.53");
    let (_s2, pty2) = sim(&isp2, &dir, "modem2", "10.0.1.1", "10.0.1.2", "10.0.1.53");
    let _d = start_daemon_in(Some(&client), &bus, &dir, &[]);
    runtime().block_on(async {
        let conn = connect(&bus).await;
        let manager = ManagerProxy::new(&conn).await.unwrap();
        let mut links = Vec::new();
        for (name, pty, route) in [("First ISP", &pty1, true), ("Second ISP", &pty2, false)] {
            let path = add_with_password(&manager, &conn, &dial_profile(name, pty, route)).await;
            let prof = ProfileProxy::builder(&conn)
                .path(path)
                .build()
                .await
                .unwrap();
            let lp = prof.connect().await.unwrap();
            // Connecting again answers with the same link.
            assert_eq!(prof.connect().await.unwrap(), lp);
            links.push(LinkProxy::builder(&conn).path(lp).build().await.unwrap());
        }
        for link in &links {
            wait_state(link, "connected", Duration::from_secs(40)).await;
        }
        assert_eq!(manager.active_links().await.unwrap(), 2);
        assert_eq!(
            links[0].ipv4().await.unwrap(),
            ("10.0.0.2".into(), "10.0.0.1".into())
        );
        assert_eq!(
            links[1].ipv4().await.unwrap(),
            ("10.0.1.2".into(), "10.0.1.1".into())
        );
        assert_ne!(
            links[0].interface().await.unwrap(),
            links[1].interface().await.unwrap()
        );
        assert!(links[0].default_route().await.unwrap());
        assert!(!links[1].default_route().await.unwrap());
        assert_eq!(links[0].authentication().await.unwrap(), "CHAP-MD5");
        assert_eq!(links[0].connect_speed().await.unwrap(), 57600);
        assert!(links[0].connected_since().await.unwrap() > 0);
        let resolv = std::fs::read_to_string(dir.join("resolv.conf")).unwrap();
        assert!(
            resolv.contains("10.0.0.53") && resolv.contains("10.0.1.53"),
            "{resolv}"
        );
        assert!(ping(&client, "10.0.0.1"), "no ping through the first link");
        assert!(ping(&client, "10.0.1.1"), "no ping through the second link");
        // Statistics move about once a second.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let stats = links[0].statistics().await.unwrap();
        assert!(
            stats["rx-bytes"] > 0 && stats["tx-packets"] > 0,
            "{stats:?}"
        );
        let transcript = links[0].get_transcript().await.unwrap();
        assert!(
            transcript.iter().any(|t| t.text.contains("ATDT5551234")),
            "{transcript:?}"
        );
        assert!(!transcript.iter().any(|t| t.text.contains("open sesame")));

        for link in &links {
            link.disconnect().await.unwrap();
        }
        for link in &links {
            wait_state(link, "disconnected", Duration::from_secs(30)).await;
        }
        for link in &links {
            assert_eq!(link.state_reason().await.unwrap().code, "user");
        }
        assert_eq!(manager.active_links().await.unwrap(), 0);
    });
    assert_eq!(
        std::fs::read_to_string(dir.join("resolv.conf")).unwrap(),
        "nameserver 192.0.2.1\n"
    );
    assert!(client.dtn_links().is_empty(), "{:?}", client.dtn_links());
}

/// kill -9 of the daemon with a link up: the next daemon restores the
/// resolv.conf and removes the dead daemon's lock; the kernel took the
/// interface away.
#[test]
fn a_restarted_daemon_cleans_up_after_a_crash() {
    system_bus::require_root();
    let bus = SystemBus::start();
    let dir = TempDir::new();
    let client = e2e::Netns::new("cli");
    let isp = e2e::Netns::new("isp");
    client.add_lan_default_route();
    let routes_before = client.routes();
    std::fs::write(dir.join("resolv.conf"), "nameserver 192.0.2.1\n").unwrap();
    let (_s, pty) = sim(&isp, &dir, "modem", "10.0.0.1", "10.0.0.2", "10.0.0.53");
    let mut d = start_daemon_in(Some(&client), &bus, &dir, &[]);
    let mut p = dial_profile("Crash ISP", &pty, true);
    p.network.replace_default_route = true;
    runtime().block_on(async {
        let conn = connect(&bus).await;
        let manager = ManagerProxy::new(&conn).await.unwrap();
        let path = add_with_password(&manager, &conn, &p).await;
        let prof = ProfileProxy::builder(&conn)
            .path(path)
            .build()
            .await
            .unwrap();
        let lp = prof.connect().await.unwrap();
        let link = LinkProxy::builder(&conn).path(lp).build().await.unwrap();
        wait_state(&link, "connected", Duration::from_secs(40)).await;
    });
    assert_ne!(
        std::fs::read_to_string(dir.join("resolv.conf")).unwrap(),
        "nameserver 192.0.2.1\n"
    );
    let locks: Vec<_> = std::fs::read_dir(dir.join("lock")).unwrap().collect();
    assert_eq!(locks.len(), 1);
    d.signal(libc::SIGKILL);
    d.wait_exit(Duration::from_secs(10));
    // The kernel removes the TUN device with the process.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !client.dtn_links().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(client.dtn_links().is_empty());
    let mut d2 = start_daemon_in(Some(&client), &bus, &dir, &[]);
    assert_eq!(
        std::fs::read_to_string(dir.join("resolv.conf")).unwrap(),
        "nameserver 192.0.2.1\n"
    );
    assert_eq!(
        std::fs::read_dir(dir.join("lock")).unwrap().count(),
        0,
        "{}",
        d2.output()
    );
    assert_eq!(client.routes(), routes_before, "{}", d2.output());
    d2.signal(libc::SIGTERM);
    d2.wait_exit(Duration::from_secs(20));
}

/// QueryModem talks to the simulated modem; SetModemLink points the modem
/// link at a serial port and refuses anything else, changing nothing.
#[test]
fn modem_query_and_modem_link_over_the_bus() {
    system_bus::require_root();
    let bus = SystemBus::start();
    let dir = TempDir::new();
    let isp = e2e::Netns::new("isp");
    let (_s, pty) = sim(&isp, &dir, "modem-pty", "10.0.0.1", "10.0.0.2", "10.0.0.53");
    let _d = start_daemon(&bus, &dir, &[]);
    let modem_link = dir.join("modem");
    runtime().block_on(async {
        let conn = connect(&bus).await;
        let manager = ManagerProxy::new(&conn).await.unwrap();
        let answers = manager.query_modem(&pty).await.unwrap();
        let commands: Vec<&str> = answers.iter().map(|(c, _)| c.as_str()).collect();
        assert!(
            commands.contains(&"ATI") && commands.contains(&"AT+GMI"),
            "{answers:?}"
        );
        assert!(
            answers
                .iter()
                .all(|(_, a)| !a.is_empty() && !a.contains("OK\r")),
            "{answers:?}"
        );
        let e = manager.query_modem("/etc/shadow").await.unwrap_err();
        assert_eq!(error_name(&e), INVALID, "{e}");

        assert_eq!(manager.modem_link().await.unwrap(), "");
        manager.set_modem_link(&pty).await.unwrap();
        assert_eq!(
            std::fs::read_link(&modem_link).unwrap(),
            PathBuf::from(&pty)
        );
        assert_eq!(manager.modem_link().await.unwrap(), pty);
        for bad in ["/dev/null", "/etc/passwd", "relative/path", "/dev/tty"] {
            let e = manager.set_modem_link(bad).await.unwrap_err();
            assert_eq!(error_name(&e), INVALID, "{bad}: {e}");
            assert_eq!(
                std::fs::read_link(&modem_link).unwrap(),
                PathBuf::from(&pty),
                "{bad}"
            );
        }
        // Reading the ports opens none of them; it must simply answer.
        manager.serial_ports().await.unwrap();
    });
}

/// `dialtonectl` copied where the test users can run it (the build tree
/// may be under a directory only root can enter).
fn cli_for_users(dir: &TempDir) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = bin.join("dialtonectl");
    std::fs::copy(env!("CARGO_BIN_EXE_dialtonectl"), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    exe
}

/// Runs dialtonectl as `user` (None: root) with `stdin`; (exit code,
/// stdout, stderr).
fn ctl(
    bus: &SystemBus,
    exe: &Path,
    user: Option<&system_bus::TestUser>,
    args: &[&str],
    stdin: &str,
) -> (i32, String, String) {
    use std::io::Write;
    let mut cmd = match user {
        Some(u) => bus.command_as(u, exe),
        None => bus.command(exe),
    };
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// polkit decides who may do what, asked about the calling process:
/// dtconnect may bring links up and down, dtadmin may also change
/// profiles, secrets and /dev/modem, dtnobody may only read, and root may
/// do everything. Without a logind session (there is none in CI) polkit's
/// allow_active never applies, so the grants are polkit rules, as an
/// administrator would write them.
#[test]
fn authorization_matrix_through_dialtonectl() {
    system_bus::require_root();
    let rules = r#"
polkit.addRule(function(action, subject) {
    if (action.id == "io.github.dialtone.connect" && subject.user == "dtconnect") {
        return polkit.Result.YES;
    }
});
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("io.github.dialtone.") == 0 && subject.user == "dtadmin") {
        return polkit.Result.YES;
    }
});
"#;
    let bus = SystemBus::with_polkit(rules);
    let connect_user = system_bus::ensure_user("dtconnect");
    let admin = system_bus::ensure_user("dtadmin");
    let nobody = system_bus::ensure_user("dtnobody");
    let dir = TempDir::new();
    let exe = cli_for_users(&dir);
    let client = e2e::Netns::new("cli");
    let isp = e2e::Netns::new("isp");
    let (_s, pty) = sim(&isp, &dir, "modem-pty", "10.0.0.1", "10.0.0.2", "10.0.0.53");
    let _d = start_daemon_in(Some(&client), &bus, &dir, &[]);
    let profile_text = dial_profile("Matrix ISP", &pty, true).to_ron();
    // Root sets the profile up.
    let (code, out, err) = ctl(&bus, &exe, None, &["add", "-"], &profile_text);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "matrix_isp");
    let (code, _, err) = ctl(
        &bus,
        &exe,
        None,
        &["set-secret", "matrix_isp"],
        "open sesame\n",
    );
    assert_eq!(code, 0, "{err}");
    let etc = dir.join("etc");
    let modem = dir.join("modem");
    let edited = dial_profile("Edited ISP", &pty, true).to_ron();

    // Reads need nothing; permissions say what each may do.
    for (user, connect, modify) in [
        (&nobody, "auth", "auth"),
        (&connect_user, "yes", "auth"),
        (&admin, "yes", "yes"),
    ] {
        let (code, out, err) = ctl(&bus, &exe, Some(user), &["list"], "");
        assert_eq!(code, 0, "{}: {err}", user.name);
        assert!(out.contains("matrix_isp"), "{out}");
        let (code, out, err) = ctl(&bus, &exe, Some(user), &["--json", "permissions"], "");
        assert_eq!(code, 0, "{}: {err}", user.name);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["permissions"]["io.github.dialtone.connect"], connect,
            "{}: {out}",
            user.name
        );
        assert_eq!(
            v["permissions"]["io.github.dialtone.modify"], modify,
            "{}: {out}",
            user.name
        );
    }

    // Changes: refused with NotAuthorized (exit 3) for nobody and for the
    // connect-only user, with nothing changed on disk.
    for user in [&nobody, &connect_user] {
        let before = (snapshot(&etc), std::fs::read_link(&modem).ok());
        for (args, stdin) in [
            (vec!["add", "-"], profile_text.as_str()),
            (vec!["edit", "matrix_isp", "-"], edited.as_str()),
            (vec!["set-secret", "matrix_isp"], "stolen\n"),
            (vec!["delete", "matrix_isp"], ""),
            (vec!["modem-link", pty.as_str()], ""),
            (vec!["query-modem", pty.as_str()], ""),
        ] {
            let (code, out, err) = ctl(&bus, &exe, Some(user), &args, stdin);
            assert_eq!(code, 3, "{} {args:?}: {out}{err}", user.name);
            assert!(err.contains("not allowed"), "{} {args:?}: {err}", user.name);
            assert_eq!(
                (snapshot(&etc), std::fs::read_link(&modem).ok()),
                before,
                "{} {args:?}",
                user.name
            );
        }
    }
    // The caller decides whether polkit may ask for a password:
    // dialtonectl sets ALLOW_INTERACTIVE_AUTHORIZATION, dbus-send does not,
    // and the refusals say which happened.
    let (_, _, err) = ctl(&bus, &exe, Some(&nobody), &["modem-link", pty.as_str()], "");
    assert!(err.contains("no password was given"), "{err}");
    let out = bus.dbus_send_as(
        &nobody,
        &[
            "--print-reply",
            "--dest=io.github.dialtone.Dialtone1",
            "/io/github/dialtone/Dialtone1",
            "io.github.dialtone.Dialtone1.Manager.Reload",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("Error.NotAuthorized"), "{err}");
    assert!(err.contains("did not allow asking for a password"), "{err}");

    // Bringing the link up: nobody may not, dtconnect may.
    let (code, _, err) = ctl(&bus, &exe, Some(&nobody), &["up", "matrix_isp"], "");
    assert_eq!(code, 3, "{err}");
    let (code, out, err) = ctl(&bus, &exe, Some(&connect_user), &["up", "matrix_isp"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("connected: dtn"), "{out}");
    assert!(ping(&client, "10.0.0.1"));
    let (code, _, err) = ctl(&bus, &exe, Some(&nobody), &["down", "matrix_isp"], "");
    assert_eq!(code, 3, "{err}");
    let (code, out, err) = ctl(
        &bus,
        &exe,
        Some(&connect_user),
        &["status", "matrix_isp"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("connected"), "{out}");
    let (code, out, err) = ctl(&bus, &exe, Some(&connect_user), &["down", "matrix_isp"], "");
    assert_eq!(code, 0, "{out}{err}");

    // The administrator may change everything.
    for (args, stdin) in [
        (vec!["edit", "matrix_isp", "-"], edited.as_str()),
        (vec!["set-secret", "matrix_isp"], "open sesame\n"),
        (vec!["modem-link", pty.as_str()], ""),
        (vec!["add", "-"], profile_text.as_str()),
        (vec!["delete", "matrix_isp_2"], ""),
    ] {
        let (code, out, err) = ctl(&bus, &exe, Some(&admin), &args, stdin);
        assert_eq!(code, 0, "dtadmin {args:?}: {out}{err}");
    }
    assert_eq!(std::fs::read_link(&modem).unwrap(), PathBuf::from(&pty));
    let text = std::fs::read_to_string(etc.join("profiles/matrix_isp.ron")).unwrap();
    assert!(text.contains("Edited ISP"));
}

/// `dialtonectl up` shows the phases and fails with the reason; `down`
/// hangs up; `log` shows the dialog.
#[test]
fn dialtonectl_up_and_down_end_to_end() {
    system_bus::require_root();
    let bus = SystemBus::start();
    let dir = TempDir::new();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_dialtonectl"));
    let client = e2e::Netns::new("cli");
    let isp = e2e::Netns::new("isp");
    let (_s, pty) = sim(&isp, &dir, "modem-pty", "10.0.0.1", "10.0.0.2", "10.0.0.53");
    let _d = start_daemon_in(Some(&client), &bus, &dir, &[]);
    let mut p = dial_profile("Up ISP", &pty, true);
    if let Some(m) = p.modem.as_mut() {
        m.numbers = vec!["5550100".into(), "5551234".into()];
    }
    let (code, _, err) = ctl(&bus, &exe, None, &["add", "-"], &p.to_ron());
    assert_eq!(code, 0, "{err}");
    // No password yet: the ISP refuses CHAP.
    let (code, out, err) = ctl(&bus, &exe, None, &["up", "up_isp"], "");
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("dialing 5550100"), "{out}");
    assert!(err.contains("ppp:"), "{err}");
    let (code, _, _) = ctl(&bus, &exe, None, &["set-secret", "up_isp"], "open sesame\n");
    assert_eq!(code, 0);
    let (code, out, err) = ctl(&bus, &exe, None, &["up", "up_isp"], "");
    assert_eq!(code, 0, "{out}{err}");
    for step in [
        "opening",
        "dialing 5550100",
        "modem connected",
        "negotiating",
        "authenticating",
        "connected: dtn",
    ] {
        assert!(out.contains(step), "{step:?} missing from {out}");
    }
    let (code, out, _) = ctl(&bus, &exe, None, &["--json", "status", "up_isp"], "");
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["links"][0]["state"], "connected", "{out}");
    assert_eq!(v["links"][0]["ipv4"]["local"], "10.0.0.2", "{out}");
    let (code, out, _) = ctl(&bus, &exe, None, &["log", "up_isp"], "");
    assert_eq!(code, 0);
    assert!(
        out.contains("ATDT5550100") && out.contains("LCP Configure-Request"),
        "{out}"
    );
    assert!(!out.contains("open sesame"), "{out}");
    let (code, out, err) = ctl(&bus, &exe, None, &["down", "up_isp"], "");
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = ctl(&bus, &exe, None, &["list"], "");
    assert_eq!(code, 0);
    assert!(out.contains("disconnected"), "{out}");
    assert!(client.dtn_links().is_empty());
    // Unknown profile: exit 4.
    let (code, _, err) = ctl(&bus, &exe, None, &["up", "nope"], "");
    assert_eq!(code, 4, "{err}");
}
