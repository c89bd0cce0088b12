//! `kill -9` in the middle of saves never tears or loses a profile.
//!
//! The test re-executes its own binary as a child (with
//! `DIALTONE_STORE_CRASH_CHILD` set to the store's directory) that updates
//! five profiles of a few KiB in turn, forever, printing the number of each
//! save once it has returned. The parent SIGKILLs the child at random
//! moments (a fixed seed; `DIALTONE_STORE_CRASH_SEED` picks another), then
//! reopens the store and checks that it loads without problems, that every
//! profile is exactly the last version reported saved or the one being
//! saved when the child died, and that no temporary file survives the open
//! or is ever taken for a profile.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dialtone_api::profile::Modem;
use dialtone_api::Profile;
use dialtone_helper::store::{DeviceCheck, ProfileId, Store, StoreConfig};

const CHILD_ENV: &str = "DIALTONE_STORE_CRASH_CHILD";
const START_ENV: &str = "DIALTONE_STORE_CRASH_START";
const SEED_ENV: &str = "DIALTONE_STORE_CRASH_SEED";
const PROFILES: u64 = 5;
/// Saves the child must have reported, over all the kills.
const MIN_SAVES: u64 = 1000;
/// Kills, at least.
const MIN_KILLS: u32 = 60;

fn config(root: &Path) -> StoreConfig {
    StoreConfig {
        profiles_dir: root.join("profiles"),
        secrets_dir: root.join("secrets"),
    }
}

fn accept_all() -> DeviceCheck {
    Arc::new(|_| Ok(()))
}

fn id(p: u64) -> ProfileId {
    ProfileId::new(&format!("crash_{p}")).unwrap()
}

/// Profile `p` at save number `seq`: about 4 KiB, with `seq` in every
/// modem command and in the user name, so that any mix of two versions
/// shows.
fn version(p: u64, seq: u64) -> Profile {
    let mut profile = Profile::new(format!("Crash {p}"));
    profile.line.device = "/dev/ttyS0".into();
    profile.user = format!("user{p}-seq{seq}");
    profile.modem = Some(Modem {
        init: (0..16)
            .map(|i| format!("ATS{i}={seq} &C1 &D2 +MS=V92 (profile {p}, save {seq}, line {i})"))
            .collect(),
        abort: (0..32)
            .map(|i| format!("NO LUCK {i} (profile {p}, save {seq})"))
            .collect(),
        numbers: vec!["5551234".into()],
        ..Modem::default()
    });
    profile
}

/// The child: saves `start`, `start + 1`, … until killed.
fn child(root: &Path) -> ! {
    let start: u64 = std::env::var(START_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(PROFILES);
    let (mut store, problems) = match Store::open(config(root), accept_all()) {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("child: cannot open the store: {e}");
            std::process::exit(2);
        }
    };
    if !problems.is_empty() {
        eprintln!("child: problems at open: {problems:?}");
        std::process::exit(2);
    }
    let mut out = std::io::stdout().lock();
    for seq in start.. {
        let p = seq % PROFILES;
        if let Err(e) = store.update(&id(p), version(p, seq)) {
            eprintln!("child: save {seq}: {e}");
            std::process::exit(2);
        }
        // A closed pipe means the parent is gone: stop.
        if writeln!(out, "saved {seq}")
            .and_then(|()| out.flush())
            .is_err()
        {
            std::process::exit(3);
        }
    }
    std::process::exit(0)
}

/// SplitMix64: deterministic, good enough to pick moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max`.
    fn upto(&mut self, max: u64) -> u64 {
        self.next() % (max + 1)
    }
}

/// Kills the child if the parent panics.
struct Killer(Child);

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The store's temporary files in `dir`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut temps: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".tmp-"))
        .collect();
    temps.sort();
    temps
}

#[test]
fn kill_9_during_saves_never_tears_or_loses_a_profile() {
    if let Some(root) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&root));
    }
    let began = Instant::now();
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_D1A1_u64);
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let config = config(root);

    // Profile p starts at version p.
    let (mut store, _) = Store::open(config.clone(), accept_all()).unwrap();
    for p in 0..PROFILES {
        assert_eq!(store.add(version(p, p)).unwrap(), id(p));
    }
    drop(store);
    let mut on_disk: Vec<u64> = (0..PROFILES).collect();
    let mut next = PROFILES;

    let (mut saves, mut kills, mut mid_write, mut new_versions) = (0u64, 0u32, 0u32, 0u32);
    let mut save_time = Duration::from_millis(2);
    while saves < MIN_SAVES || kills < MIN_KILLS {
        let start = next;
        let mut child = Killer(
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "kill_9_during_saves_never_tears_or_loses_a_profile",
                    "--nocapture",
                    "--test-threads=1",
                    "-q",
                ])
                .env(CHILD_ENV, root)
                .env(START_ENV, start.to_string())
                .env("RUST_BACKTRACE", "0")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stdout = child.0.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The test harness prints lines of its own.
                if let Some(n) = line.strip_prefix("saved ") {
                    if tx.send(n.parse::<u64>().unwrap()).is_err() {
                        break;
                    }
                }
            }
        });

        // Kill after a random number of saves (sometimes none: during the
        // start or the first save), at a random point of the next one.
        let wanted = if rng.upto(7) == 0 {
            0
        } else {
            1 + rng.upto(30)
        };
        let mut first = None;
        for i in 0..wanted {
            rx.recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("the child saved {i} of {wanted} and then: {e}"));
            if i == 0 {
                first = Some(Instant::now());
            }
        }
        if let (Some(first), true) = (first, wanted > 1) {
            save_time = first.elapsed() / (wanted as u32 - 1);
        }
        let wait = if wanted == 0 {
            Duration::from_micros(rng.upto(20_000))
        } else {
            Duration::from_micros(rng.upto(save_time.as_micros() as u64 * 5 / 4))
        };
        std::thread::sleep(wait);
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        reader.join().unwrap();
        let reported: Vec<u64> = rx.try_iter().collect::<Vec<_>>();
        let done = wanted + reported.len() as u64;
        kills += 1;
        saves += done;
        // Every save start..start+done returned; the next was in flight.
        let in_flight = start + done;
        for seq in start..in_flight {
            on_disk[(seq % PROFILES) as usize] = seq;
        }

        let temps = temp_files(&config.profiles_dir);
        if !temps.is_empty() {
            mid_write += 1;
        }
        for t in &temps {
            let name = t.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                name.starts_with(".crash_") && !name.ends_with(".ron"),
                "{name}"
            );
        }
        let (store, problems) = Store::open(config.clone(), accept_all()).unwrap();
        assert!(problems.is_empty(), "after kill {kills}: {problems:?}");
        assert_eq!(temp_files(&config.profiles_dir), Vec::<PathBuf>::new());
        let ids: BTreeSet<&str> = store.list().map(|(id, _)| id.as_str()).collect();
        let expected_ids: BTreeSet<String> = (0..PROFILES).map(|p| id(p).to_string()).collect();
        assert_eq!(
            ids,
            expected_ids.iter().map(String::as_str).collect(),
            "after kill {kills}"
        );
        for p in 0..PROFILES {
            let found = store.get(&id(p)).unwrap();
            let old = on_disk[p as usize];
            if *found == version(p, old) {
                continue;
            }
            assert!(
                in_flight % PROFILES == p && *found == version(p, in_flight),
                "after kill {kills}: profile {p} is neither save {old} nor {in_flight}: user {:?}",
                found.user
            );
            on_disk[p as usize] = in_flight;
            new_versions += 1;
        }
        next = in_flight + 1;
    }
    let took = began.elapsed();
    println!(
        "store_crash: seed {seed:#x}: {saves} saves, {kills} kills ({mid_write} left a \
         temporary file, {new_versions} after the in-flight save had landed), \
         about {} µs per save, {:.1} s in all",
        save_time.as_micros(),
        took.as_secs_f64()
    );
}
