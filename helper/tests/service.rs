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

use dialtone_api::dbus::{ManagerProxy, ProfileProxy, BUS_NAME};
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
    for d in ["etc", "state", "lock"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let mut cmd = std::process::Command::new(DIALTONED);
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
        // Kill after a random number of saves, sent back to back so the
        // kill lands in the middle of one.
        let burst = 20 + (next() % 60) as u32;
        let pid = daemon.as_ref().unwrap().child.id();
        let delay_ms = 5 + next() % 60;
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
