//! Runtime benchmark: the real `dialtoned` and `dialtone-sim` programs in
//! two network namespaces, as the end-to-end tests run them
//! (`tests/support/e2e.rs`), measured rather than asserted.
//!
//! ```text
//! cargo bench -p dialtone-helper --bench runtime
//! ```
//!
//! 1. TCP throughput ISP → client through two Dialtone PPP links over a
//!    pty (`dialtoned` with a direct-line profile, `dialtone-sim --direct`
//!    with the internal ISP), against the raw bandwidth of a pty pair
//!    measured in the same run; goal ≥ 60 %. The CPU used meanwhile is
//!    split between dialtoned, the sim, the bench's TCP ends, kernel
//!    threads, interrupts and other processes (other load on the machine
//!    makes the figures unreliable, and is reported).
//! 2. Link-up time, `modem: CONNECT` to `connected`, through the simulated
//!    modem with 50 ms latency each way (100 ms round trip) and PAP; goal
//!    ≤ 4 round trips + 20 ms = 420 ms. One run's PPP transcript is
//!    printed with timestamps; a variant where the ISP offers two DNS
//!    servers follows for information.
//! 3. `dialtoned`'s VmRSS/VmHWM while connected and idle; goal ≤ 8 MiB.
//! 4. Context switches per second of `dialtoned` (and, for information,
//!    of the simulator) while connected and idle, LCP echo every 30 s;
//!    goal: no periodic polling. IPv6 router solicitations are turned off
//!    in the bench's namespaces so that the window carries no traffic.
//!
//! Needs root (network namespaces, TUN). Nothing outside the namespaces
//! it creates is touched: resolv.conf, state and lock files live in a
//! temporary directory; namespaces, directories and child processes go
//! away on return, on panic and on Ctrl-C. It reports and always exits 0:
//! a missed goal is printed as FAIL, not turned into an error.

#[path = "../tests/support/e2e.rs"]
mod e2e;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{write_file, Netns, Stream, TempDir, DIALTONED, SIM};

/// Bytes moved per throughput run (both the pty and the PPP link).
const LEN: usize = 64 * 1024 * 1024;
/// Throughput runs (each: one raw pty run, then one run over the link).
const RUNS: usize = 5;
/// Link-up runs.
const UP_RUNS: usize = 5;
/// Link-up runs of the variant with two DNS servers.
const UP2_RUNS: usize = 3;
/// The simulated modem's one-way latency.
const LATENCY_MS: u64 = 50;
/// Quiet time after the link is up before idle figures are taken.
/// More than tokio's 10 s keep-alive of idle blocking-pool threads, so
/// that none exits during the window.
const SETTLE: Duration = Duration::from_secs(12);
/// The idle window over which context switches are counted.
const IDLE_WINDOW: Duration = Duration::from_secs(10);
/// LCP echo interval of the profiles, in seconds.
const ECHO_INTERVAL: u32 = 30;
/// Chunk size of writes and reads, and the length of the data pattern.
const CHUNK: usize = 64 * 1024;

const USER: &str = "alice";
const PASSWORD: &str = "open sesame";
const ISP_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// 1 MB = 10^6 bytes in all figures.
const MB: f64 = 1_000_000.0;

// ---------------------------------------------------------------------
// Cleanup on Ctrl-C: the guards below clean up on return and on panic;
// a signal is taken by a thread that kills the children, deletes the
// namespaces and removes the directories before exiting.

struct Registry {
    pids: Vec<u32>,
    netns: Vec<String>,
    dirs: Vec<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    pids: Vec::new(),
    netns: Vec::new(),
    dirs: Vec::new(),
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Blocks SIGINT, SIGTERM and SIGHUP in this thread (and so in every
/// thread started later) and starts the thread that waits for them.
/// [`Proc::spawn`] clears the mask again in its children.
fn install_signal_cleanup() {
    // SAFETY: plain sigset manipulation on a local, then
    // pthread_sigmask with valid pointers.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is a valid signal set and `sig` a valid out pointer.
        unsafe { libc::sigwait(&set, &mut sig) };
        eprintln!("\nbench: signal {sig}: cleaning up");
        let r = registry();
        for &pid in &r.pids {
            // SAFETY: kill(2) on a child we started and have not reaped.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(300));
        for ns in &r.netns {
            let _ = Command::new("ip")
                .args(["netns", "delete", ns])
                .stderr(Stdio::null())
                .status();
        }
        for d in &r.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
        std::process::exit(130);
    });
}

fn netns(role: &str) -> Netns {
    let ns = Netns::new(role);
    registry().netns.push(ns.name.clone());
    ns
}

/// Turns IPv6 router solicitations off for interfaces created later in
/// the namespace: an RS every few seconds is traffic, not polling, and
/// would blur the idle window. (This namespace's sysctl only.)
fn quiet_ipv6(ns: &Netns) {
    let _ = ns
        .thread(|| {
            for which in ["all", "default"] {
                let path = format!("/proc/sys/net/ipv6/conf/{which}/router_solicitations");
                let _ = std::fs::write(path, "0");
            }
        })
        .join();
}

fn temp_dir() -> TempDir {
    let d = TempDir::new();
    registry().dirs.push(d.path().to_owned());
    d
}

// ---------------------------------------------------------------------
// A program whose output lines are timestamped as they are read.

#[derive(Clone, Debug)]
struct Line {
    at: Instant,
    text: String,
}

struct Proc {
    name: String,
    child: Child,
    lines: mpsc::Receiver<Line>,
    all: Arc<Mutex<Vec<Line>>>,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command) -> Proc {
        use std::os::unix::process::CommandExt;
        // SAFETY: only sigemptyset and sigprocmask, both async-signal-safe,
        // between fork and exec: the child starts with no signal blocked
        // (this process blocks the ones its cleanup thread takes).
        unsafe {
            cmd.pre_exec(|| {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        registry().pids.push(child.id());
        let (tx, rx) = mpsc::channel();
        let all = Arc::new(Mutex::new(Vec::new()));
        let out: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("stdout"));
        let err: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("stderr"));
        for (stream, prefix) in [(out, ""), (err, "stderr: ")] {
            let tx = tx.clone();
            let all = all.clone();
            std::thread::spawn(move || {
                for text in BufReader::new(stream).lines() {
                    let at = Instant::now();
                    let Ok(text) = text else { break };
                    let line = Line {
                        at,
                        text: format!("{prefix}{text}"),
                    };
                    all.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        Proc {
            name: name.to_owned(),
            child,
            lines: rx,
            all,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line matching `pred`, within `timeout`; panics with the
    /// output so far otherwise.
    fn wait_for(&mut self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> Line {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(line) if pred(&line.text) => return line,
                Ok(_) => {}
                Err(_) if Instant::now() < end => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        std::thread::sleep(Duration::from_millis(200));
                        while let Ok(line) = self.lines.try_recv() {
                            if pred(&line.text) {
                                return line;
                            }
                        }
                        panic!(
                            "{}: exited ({status}) before {what}; output:\n{}",
                            self.name,
                            self.output()
                        );
                    }
                }
                Err(_) => panic!(
                    "{}: no {what} within {timeout:?}; output:\n{}",
                    self.name,
                    self.output()
                ),
            }
        }
    }

    fn wait_contains(&mut self, text: &str, timeout: Duration) -> Line {
        self.wait_for(text, timeout, |l| l.contains(text))
    }

    fn lines(&self) -> Vec<Line> {
        self.all.lock().unwrap().clone()
    }

    fn output(&self) -> String {
        let all = self.all.lock().unwrap();
        all.iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own, not yet reaped, child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    /// SIGINT (hang up), then the exit; SIGKILL after `timeout`.
    fn stop(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.signal(libc::SIGINT);
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                // Let the readers take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return Some(s);
            }
            if Instant::now() > end {
                self.signal(libc::SIGKILL);
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Checks that the pid is the named program (`ip netns exec` execs it).
    fn check_comm(&self, want: &str) -> String {
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", self.pid()))
            .unwrap_or_default()
            .trim()
            .to_owned();
        assert_eq!(
            comm,
            want,
            "/proc/{}/comm is {comm:?}, not {want:?}",
            self.pid()
        );
        comm
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait();
        }
        let pid = self.child.id();
        registry().pids.retain(|&p| p != pid);
    }
}

fn start_sim(ns: &Netns, link: &Path, args: &[&str]) -> Proc {
    let mut cmd = ns.command(SIM);
    cmd.arg("--link").arg(link).args(args);
    let mut p = Proc::spawn("dialtone-sim", cmd);
    p.wait_contains("ready", Duration::from_secs(20));
    p
}

fn start_dialtoned(ns: &Netns, dir: &TempDir, profile: &Path, device: &Path) -> Proc {
    std::fs::create_dir_all(dir.join("lock")).unwrap();
    let mut cmd = ns.command(DIALTONED);
    cmd.arg("run")
        .arg(profile)
        .arg("--device")
        .arg(device)
        .arg("--dns")
        .arg("resolv-conf")
        .arg("--resolv-conf")
        .arg(dir.join("resolv.conf"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--lock-dir")
        .arg(dir.join("lock"))
        .arg("-v");
    Proc::spawn("dialtoned", cmd)
}

/// Writes a profile (and its secrets) into `dir`: a direct line (no
/// modem, no authentication, carrier Local) or the simulated modem with
/// the usual methods, carrier Modem.
fn write_profile(dir: &TempDir, name: &str, modem: bool) -> PathBuf {
    std::fs::create_dir_all(dir.join("profiles")).unwrap();
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    let (modem_text, carrier, methods, password) = if modem {
        (
            "Some((init: [\"ATZ\"], dial_command: \"ATDT\", numbers: [\"5551234\"], \
             command_timeout: 5, connect_timeout: 20))",
            "Modem",
            "[MsChapV2, ChapMd5, Pap]",
            PASSWORD,
        )
    } else {
        ("None", "Local", "[]", "")
    };
    let text = format!(
        r#"Profile(
    version: 1,
    name: "Bench {name}",
    line: (device: "/dev/null-not-used", speed: 115200, flow_control: None, carrier: {carrier}),
    modem: {modem_text},
    login: [],
    user: "{USER}",
    ppp: (
        lcp: (echo_interval: {ECHO_INTERVAL}, echo_failure: 3),
        auth: (methods: {methods}),
    ),
    network: (default_route: true, route_metric: 50, replace_default_route: false, peer_dns: true),
    policy: (persist: false, max_fail: 0, holdoff: 1, holdoff_max: 2, idle: 0, demand: false),
)
"#
    );
    let path = dir.join(&format!("profiles/{name}.ron"));
    write_file(&path, &text, 0o644);
    write_file(
        &dir.join(&format!("secrets/{name}.ron")),
        &format!("Secrets(version: 1, password: {password:?})"),
        0o600,
    );
    write_file(
        &dir.join("resolv.conf"),
        "# the bench's own resolv.conf\nnameserver 192.0.2.53\n",
        0o644,
    );
    path
}

// ---------------------------------------------------------------------
// /proc readings.

/// A process's memory and thread figures from /proc/PID/status.
#[derive(Clone, Copy, Debug, Default)]
struct Mem {
    rss_kib: u64,
    hwm_kib: u64,
    threads: u64,
}

fn status_field(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn mem(pid: u32) -> Mem {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    Mem {
        rss_kib: status_field(&text, "VmRSS:"),
        hwm_kib: status_field(&text, "VmHWM:"),
        threads: status_field(&text, "Threads:"),
    }
}

/// Context switches (voluntary + involuntary) per thread.
fn switches(pid: u32) -> Vec<(u32, u64)> {
    switches_named(pid)
        .into_iter()
        .map(|(t, _, n)| (t, n))
        .collect()
}

/// Context switches per thread, with the threads' names.
fn switches_named(pid: u32) -> Vec<(u32, String, u64)> {
    let mut v = Vec::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return v;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let text = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let n = status_field(&text, "voluntary_ctxt_switches:")
            + status_field(&text, "nonvoluntary_ctxt_switches:");
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("Name:"))
            .unwrap_or("")
            .trim()
            .to_owned();
        v.push((tid, name, n));
    }
    v.sort_unstable();
    v
}

/// Switches between two readings: threads present in both, plus the
/// whole count of threads that appeared; (switches, threads that went).
fn switch_delta(before: &[(u32, u64)], after: &[(u32, u64)]) -> (u64, usize) {
    let mut total = 0;
    for (tid, n) in after {
        let was = before.iter().find(|(t, _)| t == tid).map_or(0, |&(_, b)| b);
        total += n.saturating_sub(was);
    }
    let gone = before
        .iter()
        .filter(|(t, _)| !after.iter().any(|(a, _)| a == t))
        .count();
    (total, gone)
}

/// CPU time used by a process (all its threads), from its CPU clock.
fn cpu_time(pid: u32) -> Duration {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: valid out pointer; pid of a live child.
    if unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) } != 0 {
        return Duration::ZERO;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The whole machine's jiffies from /proc/stat: (busy, total, of which
/// interrupts and softirqs, steal). Busy excludes steal.
fn machine_jiffies() -> (u64, u64, u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return (0, 0, 0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    let total: u64 = (0..8).map(at).sum();
    let busy = total - at(3) - at(4) - at(7);
    (busy, total, at(5) + at(6), at(7))
}

/// Jiffies (user + system) of all kernel threads (kworkers, ksoftirqd).
fn kthread_jiffies() -> u64 {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut sum = 0;
    for entry in dir.flatten() {
        let name = entry.file_name();
        if !name
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command name: state ppid pgrp session tty_nr
        // tpgid flags minflt cminflt majflt cmajflt utime stime.
        let Some(rest) = text.rfind(')').map(|i| &text[i + 1..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        if num(6) & PF_KTHREAD != 0 {
            sum += num(11) + num(12);
        }
    }
    sum
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn cpus() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    n.max(1) as f64
}

/// CPU counters at one moment.
#[derive(Clone, Copy, Debug)]
struct CpuSnap {
    at: Instant,
    busy: u64,
    total: u64,
    irq: u64,
    steal: u64,
    kthreads: u64,
    bench: Duration,
    dialtoned: Duration,
    sim: Duration,
}

fn cpu_snap(dialtoned: Option<u32>, sim: Option<u32>) -> CpuSnap {
    let (busy, total, irq, steal) = machine_jiffies();
    CpuSnap {
        at: Instant::now(),
        busy,
        total,
        irq,
        steal,
        kthreads: kthread_jiffies(),
        bench: own_cpu(),
        dialtoned: dialtoned.map_or(Duration::ZERO, cpu_time),
        sim: sim.map_or(Duration::ZERO, cpu_time),
    }
}

/// CPU used between two snapshots, in cores (1.0 = one core all along).
#[derive(Clone, Copy, Debug, Default)]
struct CpuUse {
    wall: f64,
    /// Busy, steal excluded.
    machine: f64,
    /// Interrupts and softirqs not charged to a task.
    irq: f64,
    /// Time the hypervisor gave to others.
    steal: f64,
    kthreads: f64,
    bench: f64,
    dialtoned: f64,
    sim: f64,
    /// The rest: other processes.
    others: f64,
}

fn cpu_use(a: &CpuSnap, b: &CpuSnap) -> CpuUse {
    let wall = (b.at - a.at).as_secs_f64().max(1e-9);
    let share = |x: u64, y: u64| (y - x) as f64 / (b.total - a.total).max(1) as f64 * cpus();
    let machine = share(a.busy, b.busy);
    let irq = share(a.irq, b.irq);
    let steal = share(a.steal, b.steal);
    let kthreads = (b.kthreads.saturating_sub(a.kthreads)) as f64 / clock_ticks() / wall;
    let per = |x: Duration, y: Duration| y.saturating_sub(x).as_secs_f64() / wall;
    let bench = per(a.bench, b.bench);
    let dialtoned = per(a.dialtoned, b.dialtoned);
    let sim = per(a.sim, b.sim);
    CpuUse {
        wall,
        machine,
        irq,
        steal,
        kthreads,
        bench,
        dialtoned,
        sim,
        others: (machine - irq - kthreads - bench - dialtoned - sim).max(0.0),
    }
}

/// Time-weighted mean of several [`CpuUse`]s.
fn cpu_mean(v: &[CpuUse]) -> CpuUse {
    let wall: f64 = v.iter().map(|u| u.wall).sum::<f64>().max(1e-9);
    let m = |f: fn(&CpuUse) -> f64| v.iter().map(|u| f(u) * u.wall).sum::<f64>() / wall;
    CpuUse {
        wall,
        machine: m(|u| u.machine),
        irq: m(|u| u.irq),
        steal: m(|u| u.steal),
        kthreads: m(|u| u.kthreads),
        bench: m(|u| u.bench),
        dialtoned: m(|u| u.dialtoned),
        sim: m(|u| u.sim),
        others: m(|u| u.others),
    }
}

/// Packets through an interface of a namespace: (rx, tx), from
/// /proc/thread-self/net/dev read by a thread inside it.
fn if_packets(ns: &Netns, ifname: &str) -> (u64, u64) {
    let name = format!("{ifname}:");
    ns.thread(move || {
        let text = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap_or_default();
        text.lines()
            .find_map(|l| {
                let l = l.trim_start();
                let rest = l.strip_prefix(&name)?;
                let v: Vec<u64> = rest
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                Some((v.get(1).copied()?, v.get(9).copied()?))
            })
            .unwrap_or((0, 0))
    })
    .join()
    .unwrap_or((0, 0))
}

// ---------------------------------------------------------------------
// Data: a 64 KiB pseudo-random pattern, repeated. Random bytes are what
// a compressed download looks like, and what HDLC escaping sees.

fn pattern() -> Arc<Vec<u8>> {
    let mut p = vec![0u8; CHUNK];
    Stream::new(0x00d1_a170_7e5e).fill(&mut p);
    Arc::new(p)
}

/// Whether `got` is the pattern's bytes from stream offset `offset`.
fn matches_pattern(pattern: &[u8], offset: usize, got: &[u8]) -> bool {
    let mut off = offset % pattern.len();
    let mut rest = got;
    while !rest.is_empty() {
        let k = rest.len().min(pattern.len() - off);
        if rest[..k] != pattern[off..off + k] {
            return false;
        }
        rest = &rest[k..];
        off = 0;
    }
    true
}

/// Writes `len` bytes of the pattern to `w` in CHUNK writes.
fn write_pattern(w: &mut impl Write, pattern: &[u8], len: usize) -> std::io::Result<()> {
    let mut left = len;
    while left > 0 {
        let n = left.min(pattern.len());
        w.write_all(&pattern[..n])?;
        left -= n;
    }
    Ok(())
}

/// Reads until `len` bytes or end of file, checking every byte; the count.
fn read_pattern(r: &mut impl Read, pattern: &[u8], len: usize) -> Result<usize, String> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0usize;
    while total < len {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("after {total} bytes: {e}")),
        };
        if !matches_pattern(pattern, total, &buf[..n]) {
            return Err(format!("the data differ after {total} bytes"));
        }
        total += n;
    }
    Ok(total)
}

// ---------------------------------------------------------------------
// 1. Throughput.

/// One raw pty run: a thread writes LEN bytes into the master, this one
/// reads them from the slave (the direction the ISP's bytes take to
/// dialtoned). The time to the last byte.
fn raw_pty_run(pattern: &Arc<Vec<u8>>) -> Result<(Duration, CpuUse), String> {
    let mut m: libc::c_int = -1;
    let mut s: libc::c_int = -1;
    // SAFETY: valid out pointers; no name, termios or window size.
    let rc = unsafe {
        libc::openpty(
            &mut m,
            &mut s,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(format!("openpty: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fresh descriptors that nobody else owns.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s)) };
    // SAFETY: termios is plain data; tcgetattr fills it, cfmakeraw edits
    // it, tcsetattr applies it, all on a valid descriptor.
    unsafe {
        let mut tio: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(slave.as_raw_fd(), &mut tio) != 0 {
            return Err(format!("tcgetattr: {}", std::io::Error::last_os_error()));
        }
        libc::cfmakeraw(&mut tio);
        tio.c_cc[libc::VMIN] = 1;
        tio.c_cc[libc::VTIME] = 0;
        if libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &tio) != 0 {
            return Err(format!("tcsetattr: {}", std::io::Error::last_os_error()));
        }
    }
    let mut master = std::fs::File::from(master);
    let mut slave = std::fs::File::from(slave);
    let p = Arc::clone(pattern);
    let c0 = cpu_snap(None, None);
    let start = Instant::now();
    let writer = std::thread::spawn(move || write_pattern(&mut master, &p, LEN).map(|()| master));
    let got = read_pattern(&mut slave, pattern, LEN)?;
    let elapsed = start.elapsed();
    let c1 = cpu_snap(None, None);
    let _master = writer
        .join()
        .map_err(|_| "the writer panicked".to_owned())?
        .map_err(|e| format!("write: {e}"))?;
    if got != LEN {
        return Err(format!("raw pty: {got} of {LEN} bytes"));
    }
    Ok((elapsed, cpu_use(&c0, &c1)))
}

/// What one run over the link cost.
#[derive(Clone, Copy, Debug, Default)]
struct LinkRun {
    elapsed: Duration,
    cpu: CpuUse,
    dialtoned_switches: u64,
    sim_switches: u64,
}

fn own_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One TCP transfer of LEN bytes ISP → client over the link.
fn link_run(
    client: &Netns,
    isp: &Netns,
    port: u16,
    pattern: &Arc<Vec<u8>>,
    dialtoned: u32,
    sim: u32,
) -> Result<LinkRun, String> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let p = Arc::clone(pattern);
    let server = isp.thread(move || -> std::io::Result<()> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))?;
        let _ = ready_tx.send(());
        let (mut conn, _) = listener.accept()?;
        write_pattern(&mut conn, &p, LEN)?;
        conn.shutdown(std::net::Shutdown::Write)?;
        let mut sink = [0u8; 16];
        let _ = conn.read(&mut sink);
        Ok(())
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the server did not start".to_owned())?;

    let c0 = cpu_snap(Some(dialtoned), Some(sim));
    let (dsw0, ssw0) = (switches(dialtoned), switches(sim));
    let p = Arc::clone(pattern);
    let fetch = client.thread(move || -> Result<(usize, Duration), String> {
        let start = Instant::now();
        let addr = SocketAddr::from((ISP_ADDR, port));
        let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let got = read_pattern(&mut conn, &p, usize::MAX)?;
        Ok((got, start.elapsed()))
    });
    let (got, elapsed) = fetch
        .join()
        .map_err(|_| "the client panicked".to_owned())??;
    let c1 = cpu_snap(Some(dialtoned), Some(sim));
    let (dsw1, ssw1) = (switches(dialtoned), switches(sim));
    server
        .join()
        .map_err(|_| "the server panicked".to_owned())?
        .map_err(|e| format!("server: {e}"))?;
    if got != LEN {
        return Err(format!("link: {got} of {LEN} bytes"));
    }
    Ok(LinkRun {
        elapsed,
        cpu: cpu_use(&c0, &c1),
        dialtoned_switches: switch_delta(&dsw0, &dsw1).0,
        sim_switches: switch_delta(&ssw0, &ssw1).0,
    })
}

/// Idle figures of one process over the window.
#[derive(Clone, Debug, Default)]
struct Idle {
    mem: Mem,
    switches: u64,
    threads_gone: usize,
    cpu: Duration,
    /// Per thread: (tid, name, switches in the window, gone at the end).
    threads: Vec<(u32, String, u64, bool)>,
}

fn idle_of(pid: u32, mem: Mem, before: &[(u32, String, u64)], cpu: Duration) -> Idle {
    let after = switches_named(pid);
    let mut threads = Vec::new();
    for (tid, name, n) in before {
        match after.iter().find(|(t, _, _)| t == tid) {
            Some((_, _, m)) => threads.push((*tid, name.clone(), m.saturating_sub(*n), false)),
            None => threads.push((*tid, name.clone(), 0, true)),
        }
    }
    for (tid, name, m) in &after {
        if !before.iter().any(|(t, _, _)| t == tid) {
            threads.push((*tid, name.clone(), *m, false));
        }
    }
    Idle {
        mem,
        switches: threads.iter().map(|t| t.2).sum(),
        threads_gone: threads.iter().filter(|t| t.3).count(),
        cpu,
        threads,
    }
}

#[derive(Debug, Default)]
struct DirectResults {
    raw_mbps: Vec<f64>,
    raw_cpu: Vec<CpuUse>,
    link_mbps: Vec<f64>,
    runs: Vec<LinkRun>,
    statistics: Option<String>,
    idle_dialtoned: Idle,
    idle_sim: Idle,
    idle_packets: (u64, u64),
    idle_echoes: usize,
    hwm_after_transfer_kib: u64,
    rss_after_transfer_kib: u64,
    connected: String,
}

/// Takes the idle figures of both processes over IDLE_WINDOW.
fn idle_window(
    d: &Proc,
    s: &Proc,
    client: &Netns,
    ifname: &str,
) -> (Idle, Idle, (u64, u64), usize) {
    let (dm, sm) = (mem(d.pid()), mem(s.pid()));
    let (dsw0, ssw0) = (switches_named(d.pid()), switches_named(s.pid()));
    let (dc0, sc0) = (cpu_time(d.pid()), cpu_time(s.pid()));
    let p0 = if_packets(client, ifname);
    let t0 = Instant::now();
    std::thread::sleep(IDLE_WINDOW);
    let t1 = Instant::now();
    let (dc1, sc1) = (cpu_time(d.pid()), cpu_time(s.pid()));
    let di = idle_of(d.pid(), dm, &dsw0, dc1.saturating_sub(dc0));
    let si = idle_of(s.pid(), sm, &ssw0, sc1.saturating_sub(sc0));
    let p1 = if_packets(client, ifname);
    let echoes = d
        .lines()
        .iter()
        .filter(|l| l.at >= t0 && l.at <= t1 && l.text.contains("Echo-Request"))
        .count();
    (di, si, (p1.0 - p0.0, p1.1 - p0.1), echoes)
}

fn interface_of(connected: &str) -> String {
    connected
        .split_whitespace()
        .nth(2)
        .map(|s| s.trim_end_matches(':').to_owned())
        .unwrap_or_else(|| "dtn0".to_owned())
}

/// Sections 1, 3 and 4 on a direct line.
fn direct_line() -> DirectResults {
    let mut r = DirectResults::default();
    let dir = temp_dir();
    let client = netns("cli");
    let isp = netns("isp");
    quiet_ipv6(&client);
    quiet_ipv6(&isp);
    let line = dir.join("line");
    let sim = start_sim(
        &isp,
        &line,
        &["--isp", "internal", "--auth", "none", "--direct"],
    );
    sim.check_comm("dialtone-sim");
    let profile = write_profile(&dir, "direct", false);
    let mut d = start_dialtoned(&client, &dir, &profile, &line);
    let up = d.wait_for("connected", Duration::from_secs(30), |l| {
        l.starts_with("connected")
    });
    d.check_comm("dialtoned");
    r.connected = up.text.clone();
    let ifname = interface_of(&up.text);
    println!("  {}", up.text);
    println!(
        "  pids: dialtoned {} (/proc/{}/comm = dialtoned), dialtone-sim {}",
        d.pid(),
        d.pid(),
        sim.pid()
    );

    // 3 and 4: idle, before any bulk traffic.
    println!(
        "  idle: {} s quiet, then a {} s window ...",
        SETTLE.as_secs(),
        IDLE_WINDOW.as_secs()
    );
    std::thread::sleep(SETTLE);
    let (di, si, pk, echoes) = idle_window(&d, &sim, &client, &ifname);
    r.idle_dialtoned = di;
    r.idle_sim = si;
    r.idle_packets = pk;
    r.idle_echoes = echoes;

    // 1: throughput, a raw pty run and a link run in turn.
    let pattern = pattern();
    println!(
        "  throughput: {RUNS} × (raw pty {} MiB, then TCP {} MiB over the link) ...",
        LEN >> 20,
        LEN >> 20
    );
    for i in 0..RUNS {
        match raw_pty_run(&pattern) {
            Ok((t, cpu)) => {
                let v = LEN as f64 / t.as_secs_f64() / MB;
                r.raw_mbps.push(v);
                r.raw_cpu.push(cpu);
                print!(
                    "    run {}: raw pty {v:6.1} MB/s (cpu {:3.0} %, others {:3.0} %)",
                    i + 1,
                    100.0 * cpu.machine,
                    100.0 * cpu.others
                );
            }
            Err(e) => print!("    run {}: raw pty ERROR {e}", i + 1),
        }
        match link_run(&client, &isp, 5001 + i as u16, &pattern, d.pid(), sim.pid()) {
            Ok(run) => {
                let v = LEN as f64 / run.elapsed.as_secs_f64() / MB;
                r.link_mbps.push(v);
                r.runs.push(run);
                let c = run.cpu;
                println!(
                    "  link {v:5.1} MB/s ({:2.0} %; cpu {:3.0} %: dialtoned {:2.0}, sim {:2.0}, \
                     TCP ends {:2.0}, kthreads {:2.0}, others {:2.0})",
                    100.0 * v / r.raw_mbps.last().copied().unwrap_or(f64::NAN),
                    100.0 * c.machine,
                    100.0 * c.dialtoned,
                    100.0 * c.sim,
                    100.0 * c.bench,
                    100.0 * c.kthreads,
                    100.0 * c.others,
                );
            }
            Err(e) => println!("   link ERROR {e}"),
        }
    }
    // Idle again: the runtime gives its TUN batch buffers back 5 s after
    // the last packet.
    std::thread::sleep(Duration::from_secs(7));
    let m = mem(d.pid());
    r.rss_after_transfer_kib = m.rss_kib;
    r.hwm_after_transfer_kib = m.hwm_kib;

    // Hang up: the statistics line. (The sim's `direct line: N bytes`
    // summary comes only when a later write finds the ISP gone, so it is
    // not waited for.)
    let _ = d.stop(Duration::from_secs(20));
    r.statistics = d
        .lines()
        .into_iter()
        .find(|l| l.text.starts_with("statistics:"))
        .map(|l| l.text);
    let mut sim = sim;
    let _ = sim.stop(Duration::from_secs(10));
    r
}

// ---------------------------------------------------------------------
// 2. Link-up time.

#[derive(Debug, Default)]
struct UpResults {
    times_ms: Vec<f64>,
    /// The transcript of the median run: (ms from CONNECT, text).
    transcript: Vec<(f64, String)>,
    transcript_run: usize,
    connected: String,
    idle_dialtoned: Idle,
    idle_sim: Idle,
    idle_echoes: usize,
}

/// Link-up runs through the modem with latency; `two_dns`: the ISP hands
/// out two DNS servers instead of its default one; `idle`: also measure
/// the last link idle.
fn link_up(two_dns: bool, runs: usize, idle: bool) -> UpResults {
    let mut r = UpResults::default();
    let dir = temp_dir();
    let client = netns("cli");
    let isp = netns("isp");
    quiet_ipv6(&client);
    quiet_ipv6(&isp);
    let modem = dir.join("modem");
    let latency = LATENCY_MS.to_string();
    let mut args = vec![
        "--isp",
        "internal",
        "--auth",
        "pap",
        "--user",
        USER,
        "--password",
        PASSWORD,
        "--latency-ms",
        &latency,
        "--dial-delay-ms",
        "0",
    ];
    if two_dns {
        args.extend(["--dns", "10.0.0.53", "--dns", "10.0.0.54"]);
    }
    let mut sim = start_sim(&isp, &modem, &args);
    let profile = write_profile(&dir, "modem", true);
    let mut transcripts = Vec::new();
    for run in 0..runs {
        let mut d = start_dialtoned(&client, &dir, &profile, &modem);
        let connect = d.wait_contains("modem: CONNECT", Duration::from_secs(30));
        let up = d.wait_for("connected", Duration::from_secs(30), |l| {
            l.starts_with("connected")
        });
        let ms = (up.at - connect.at).as_secs_f64() * 1000.0;
        println!("    run {}: {ms:6.1} ms", run + 1);
        r.times_ms.push(ms);
        r.connected = up.text.clone();
        // The lines up to 600 ms after `connected` (IPV6CP may finish
        // later; the `connected` line does not wait for it).
        std::thread::sleep(Duration::from_millis(600));
        let lines: Vec<(f64, String)> = d
            .lines()
            .into_iter()
            .filter(|l| l.at >= connect.at && l.at <= up.at + Duration::from_millis(600))
            .map(|l| ((l.at - connect.at).as_secs_f64() * 1000.0, l.text))
            .collect();
        transcripts.push(lines);
        if idle && run + 1 == runs {
            // The modem profile idle, for information.
            d.check_comm("dialtoned");
            std::thread::sleep(SETTLE);
            let ifname = interface_of(&up.text);
            let (di, si, _, echoes) = idle_window(&d, &sim, &client, &ifname);
            r.idle_dialtoned = di;
            r.idle_sim = si;
            r.idle_echoes = echoes;
        }
        let _ = d.stop(Duration::from_secs(20));
        sim.wait_contains("hung up", Duration::from_secs(10));
    }
    // The run nearest the median.
    let med = median(&r.times_ms);
    let (idx, _) = r
        .times_ms
        .iter()
        .enumerate()
        .min_by(|a, b| (a.1 - med).abs().total_cmp(&(b.1 - med).abs()))
        .unwrap_or((0, &0.0));
    r.transcript_run = idx;
    r.transcript = transcripts.swap_remove(idx);
    let _ = sim.stop(Duration::from_secs(10));
    r
}

// ---------------------------------------------------------------------
// Reporting.

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn range(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

/// Runs a section, turning a panic into an error message.
fn section<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panicked".to_owned())
    })
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("runtime bench: needs root (network namespaces, TUN): skipped");
        return;
    }
    for bin in [DIALTONED, SIM] {
        if !Path::new(bin).exists() {
            println!(
                "runtime bench: {bin} is missing; build it first \
                 (cargo build --release -p dialtone-helper --bins)"
            );
            return;
        }
    }
    // `cargo bench` passes --bench; nothing else is taken.
    install_signal_cleanup();
    let mut rows: Vec<[String; 4]> = Vec::new();

    println!("Dialtone runtime bench (release build; 1 MB = 10^6 bytes)");
    println!("  dialtoned:    {DIALTONED}");
    println!("  dialtone-sim: {SIM}");
    let c0 = cpu_snap(None, None);
    std::thread::sleep(Duration::from_secs(1));
    let c1 = cpu_snap(None, None);
    println!(
        "  machine: {:.0} cores; load average {}; busy {:.0} % of one core in the second before \
         the start (other load perturbs the throughput figures)",
        cpus(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        100.0 * cpu_use(&c0, &c1).machine
    );
    println!();
    println!("== 1/3/4: direct line (no modem, no auth, carrier Local, LCP echo every {ECHO_INTERVAL} s)");
    println!(
        "  dialtoned (client netns) <-pty-> dialtone-sim --direct --isp internal --auth none \
         (ISP netns)"
    );
    println!(
        "  note: with --direct the sim runs its PPP answerer on the pty master itself \
         (no relay); both ends use TUN offloads (GSO/GRO) where the kernel has them."
    );
    let direct = section(direct_line);
    println!();
    match &direct {
        Ok(r) => report_direct(r, &mut rows),
        Err(e) => {
            println!("  ERROR: {e}");
            rows.push([
                "Throughput / RSS / wakeups".into(),
                "error".into(),
                "".into(),
                "ERROR".into(),
            ]);
        }
    }

    println!();
    println!(
        "== 2: link-up time through the simulated modem, {LATENCY_MS} ms each way \
         ({} ms round trip), PAP, dial delay 0",
        2 * LATENCY_MS
    );
    let up = section(|| link_up(false, UP_RUNS, true));
    println!();
    match &up {
        Ok(r) => report_up(r, &mut rows),
        Err(e) => {
            println!("  ERROR: {e}");
            rows.push([
                "Link-up time".into(),
                "error".into(),
                "".into(),
                "ERROR".into(),
            ]);
        }
    }

    println!();
    println!(
        "== 2b (information): the same with the ISP handing out two DNS servers \
         (--dns 10.0.0.53 --dns 10.0.0.54), so that nothing in IPCP is rejected"
    );
    let up2 = section(|| link_up(true, UP2_RUNS, false));
    println!();
    match &up2 {
        Ok(r) => report_up2(r, &mut rows),
        Err(e) => println!("  ERROR: {e}"),
    }

    println!();
    println!("== Summary (paste into the README)");
    println!();
    println!("{}", table(&rows));
    println!(
        "* dialtoned <-pty-> dialtone-sim --direct, whose PPP answerer runs on the pty \
         master itself; both TUN devices with GSO/GRO offloads."
    );
}

fn report_direct(r: &DirectResults, rows: &mut Vec<[String; 4]>) {
    let raw = median(&r.raw_mbps);
    let link = median(&r.link_mbps);
    let (rlo, rhi) = range(&r.raw_mbps);
    let (llo, lhi) = range(&r.link_mbps);
    let ratios: Vec<f64> = r
        .raw_mbps
        .iter()
        .zip(&r.link_mbps)
        .map(|(a, b)| 100.0 * b / a)
        .collect();
    let ratio = 100.0 * link / raw;
    let (qlo, qhi) = range(&ratios);
    let ok = ratio >= 60.0;
    println!(
        "-- 1. Throughput, ISP -> client, {} MiB per run, {RUNS} runs",
        LEN >> 20
    );
    println!(
        "  raw pty (openpty, cfmakeraw, master -> slave, {} KiB writes/reads): median {raw:.1} MB/s \
         (range {rlo:.1}-{rhi:.1})",
        CHUNK >> 10
    );
    println!(
        "  TCP through the two PPP links over a pty: median {link:.1} MB/s (range {llo:.1}-{lhi:.1})"
    );
    println!(
        "  ratio link/raw: {ratio:.0} % of the median (per run {qlo:.0}-{qhi:.0} %); goal >= 60 %: {}",
        verdict(ok)
    );
    if !r.runs.is_empty() && !r.raw_cpu.is_empty() {
        let n = cpus();
        let raw_cpu = cpu_mean(&r.raw_cpu);
        let link_cpu = cpu_mean(&r.runs.iter().map(|x| x.cpu).collect::<Vec<_>>());
        let mb = (LEN * r.runs.len()) as f64 / MB;
        let raw_ms_per_mb = 1000.0 * (raw_cpu.machine - raw_cpu.others) * raw_cpu.wall
            / (LEN * r.raw_cpu.len()) as f64
            * MB;
        let link_ms_per_mb = 1000.0 * (link_cpu.machine - link_cpu.others) * link_cpu.wall / mb;
        println!(
            "  CPU, in % of one core ({n:.0} cores = {:.0} %), time-weighted over the runs:",
            100.0 * n
        );
        println!(
            "    raw pty runs:  machine {:.0} % (bench writer+reader {:.0}, kernel threads {:.0}, \
             irq/softirq {:.0}, other processes {:.0}; steal {:.0})",
            100.0 * raw_cpu.machine,
            100.0 * raw_cpu.bench,
            100.0 * raw_cpu.kthreads,
            100.0 * raw_cpu.irq,
            100.0 * raw_cpu.others,
            100.0 * raw_cpu.steal,
        );
        println!(
            "    link runs:     machine {:.0} % (dialtoned {:.0}, dialtone-sim {:.0}, bench TCP ends {:.0}, \
             kernel threads {:.0}, irq/softirq {:.0}, other processes {:.0}; steal {:.0})",
            100.0 * link_cpu.machine,
            100.0 * link_cpu.dialtoned,
            100.0 * link_cpu.sim,
            100.0 * link_cpu.bench,
            100.0 * link_cpu.kthreads,
            100.0 * link_cpu.irq,
            100.0 * link_cpu.others,
            100.0 * link_cpu.steal,
        );
        println!(
            "    CPU per MB moved (other processes left out): raw pty {raw_ms_per_mb:.1} ms, link {link_ms_per_mb:.1} ms \
             ({:.1}×)",
            link_ms_per_mb / raw_ms_per_mb
        );
        if raw_cpu.others > 0.15 || link_cpu.others > 0.15 {
            println!(
                "    WARNING: other load on the machine during the runs: the figures are perturbed"
            );
        }
        println!(
            "  context switches per MB moved: dialtoned {:.0}, dialtone-sim {:.0}",
            r.runs.iter().map(|x| x.dialtoned_switches).sum::<u64>() as f64 / mb,
            r.runs.iter().map(|x| x.sim_switches).sum::<u64>() as f64 / mb,
        );
    }
    if let Some(stats) = &r.statistics {
        // "received N bytes in P packets, ..., D dropped": IP octets.
        let words: Vec<&str> = stats.split_whitespace().collect();
        let ip_in = words
            .iter()
            .position(|w| *w == "received")
            .and_then(|i| words.get(i + 1))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(ip_in) = ip_in {
            let payload = (LEN * r.link_mbps.len()) as f64;
            println!(
                "  IP octets delivered to the client per TCP payload octet: {:.3} \
                 (IP/TCP headers; HDLC framing and escaping come on top)",
                ip_in as f64 / payload
            );
        }
    }
    if let Some(s) = &r.statistics {
        println!("  dialtoned {s}");
    }
    rows.push([
        format!(
            "TCP ISP→client, 2 PPP links over a pty ({} MiB × {RUNS})*",
            LEN >> 20
        ),
        format!("{link:.1} MB/s ({llo:.1}–{lhi:.1})"),
        String::new(),
        String::new(),
    ]);
    rows.push([
        "Raw pty bandwidth, same run".into(),
        format!("{raw:.1} MB/s ({rlo:.1}–{rhi:.1})"),
        String::new(),
        String::new(),
    ]);
    rows.push([
        "Link / raw pty".into(),
        format!("{ratio:.0} % ({qlo:.0}–{qhi:.0} %)"),
        "≥ 60 %".into(),
        verdict(ok).into(),
    ]);

    println!();
    println!(
        "-- 3. dialtoned memory, connected and idle ({} s after `connected`, before any bulk traffic)",
        SETTLE.as_secs()
    );
    let dm = r.idle_dialtoned.mem;
    let rss_mib = dm.rss_kib as f64 / 1024.0;
    let ok3 = dm.rss_kib as f64 <= 8.0 * 1024.0;
    println!(
        "  dialtoned VmRSS {rss_mib:.2} MiB, VmHWM {:.2} MiB, {} thread(s); goal VmRSS <= 8 MiB: {}",
        dm.hwm_kib as f64 / 1024.0,
        dm.threads,
        verdict(ok3)
    );
    println!(
        "  idle again, 7 s after the {RUNS} transfers: VmRSS {:.2} MiB (peak during them: VmHWM {:.2} MiB); goal VmRSS <= 8 MiB: {}",
        r.rss_after_transfer_kib as f64 / 1024.0,
        r.hwm_after_transfer_kib as f64 / 1024.0,
        verdict(r.rss_after_transfer_kib as f64 <= 8.0 * 1024.0)
    );
    let sm = r.idle_sim.mem;
    println!(
        "  (dialtone-sim, for information: VmRSS {:.2} MiB, VmHWM {:.2} MiB, {} thread(s))",
        sm.rss_kib as f64 / 1024.0,
        sm.hwm_kib as f64 / 1024.0,
        sm.threads
    );
    rows.push([
        "dialtoned VmRSS, connected and idle (VmHWM)".into(),
        format!("{rss_mib:.2} MiB ({:.2} MiB)", dm.hwm_kib as f64 / 1024.0),
        "≤ 8 MiB".into(),
        verdict(ok3).into(),
    ]);
    rows.push([
        format!(
            "dialtoned VmRSS idle again after {RUNS}×{} MiB (peak VmHWM)",
            LEN >> 20
        ),
        format!(
            "{:.2} MiB ({:.2} MiB)",
            r.rss_after_transfer_kib as f64 / 1024.0,
            r.hwm_after_transfer_kib as f64 / 1024.0
        ),
        "≤ 8 MiB".into(),
        verdict(r.rss_after_transfer_kib as f64 <= 8.0 * 1024.0).into(),
    ]);

    println!();
    println!(
        "-- 4. Wakeups while connected and idle ({} s window; LCP echo every {ECHO_INTERVAL} s)",
        IDLE_WINDOW.as_secs()
    );
    report_idle(
        "direct line",
        &r.idle_dialtoned,
        &r.idle_sim,
        r.idle_echoes,
        Some(r.idle_packets),
        rows,
    );
}

/// Whether a count of switches over the window shows no periodic wake
/// besides LCP echo: at most 2 strays plus 4 per echo seen.
fn no_polling(switches: u64, echoes: usize) -> bool {
    switches <= 2 + 4 * echoes as u64
}

fn report_idle(
    what: &str,
    d: &Idle,
    s: &Idle,
    echoes: usize,
    packets: Option<(u64, u64)>,
    rows: &mut Vec<[String; 4]>,
) {
    let secs = IDLE_WINDOW.as_secs_f64();
    let ok = no_polling(d.switches, echoes);
    println!(
        "  [{what}] dialtoned: {} context switches in {secs:.0} s = {:.2}/s, CPU {:.1} ms, \
         {} LCP Echo-Request(s) in the window{}",
        d.switches,
        d.switches as f64 / secs,
        d.cpu.as_secs_f64() * 1000.0,
        echoes,
        if d.threads_gone > 0 {
            format!(", {} thread(s) exited during it", d.threads_gone)
        } else {
            String::new()
        }
    );
    println!(
        "  [{what}] dialtoned per thread: {}",
        thread_list(&d.threads)
    );
    if let Some((rx, tx)) = packets {
        println!("  [{what}] client interface: {rx} packet(s) in, {tx} out during the window");
    }
    println!(
        "  [{what}] goal: no periodic polling (at most 2 + 4 per echo switches in the window): {}",
        verdict(ok)
    );
    println!(
        "  [{what}] dialtone-sim (information): {} context switches = {:.2}/s, CPU {:.1} ms{}",
        s.switches,
        s.switches as f64 / secs,
        s.cpu.as_secs_f64() * 1000.0,
        if s.threads_gone > 0 {
            format!(", {} thread(s) exited during it", s.threads_gone)
        } else {
            String::new()
        }
    );
    println!(
        "  [{what}] dialtone-sim per thread: {}",
        thread_list(&s.threads)
    );
    rows.push([
        format!("dialtoned wakeups/s, idle ({what}, echo {ECHO_INTERVAL} s)"),
        format!("{:.2}/s", d.switches as f64 / secs),
        "no periodic polling".into(),
        verdict(ok).into(),
    ]);
    rows.push([
        format!("dialtone-sim wakeups/s, idle ({what})"),
        format!("{:.2}/s", s.switches as f64 / secs),
        "info".into(),
        String::new(),
    ]);
}

fn thread_list(threads: &[(u32, String, u64, bool)]) -> String {
    threads
        .iter()
        .map(|(tid, name, n, gone)| {
            format!(
                "{tid} {name} {n}{}",
                if *gone {
                    " (exited during the window: its switches are not counted)"
                } else {
                    ""
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn report_up(r: &UpResults, rows: &mut Vec<[String; 4]>) {
    let rtt = 2.0 * LATENCY_MS as f64;
    let goal = 4.0 * rtt + 20.0;
    let med = median(&r.times_ms);
    let (lo, hi) = range(&r.times_ms);
    let ok = med <= goal;
    println!(
        "-- 2. Link-up time, `modem: CONNECT` -> `connected`, {} runs",
        r.times_ms.len()
    );
    println!(
        "  median {med:.1} ms (range {lo:.1}-{hi:.1}) = {:.2} round trips of {rtt:.0} ms; \
         goal <= 4 round trips + 20 ms = {goal:.0} ms: {}",
        med / rtt,
        verdict(ok)
    );
    println!("  {}", r.connected);
    println!();
    println!(
        "  PPP transcript of run {} (ms after the CONNECT line was read; RTT = {rtt:.0} ms):",
        r.transcript_run + 1
    );
    for (ms, text) in &r.transcript {
        println!("  {ms:8.1} ms  {:4.2} RTT  {text}", ms / rtt);
    }
    rows.push([
        format!(
            "Link-up, CONNECT→connected, PAP, {} ms RTT relay ({} runs)",
            2 * LATENCY_MS,
            r.times_ms.len()
        ),
        format!("{med:.0} ms ({lo:.0}–{hi:.0}) = {:.2} RTT", med / rtt),
        format!("≤ {goal:.0} ms"),
        verdict(ok).into(),
    ]);
    println!();
    println!(
        "  modem profile idle, for information ({} s window, after {} s quiet):",
        IDLE_WINDOW.as_secs(),
        SETTLE.as_secs()
    );
    report_idle(
        "modem+PAP",
        &r.idle_dialtoned,
        &r.idle_sim,
        r.idle_echoes,
        None,
        rows,
    );
}

fn report_up2(r: &UpResults, rows: &mut Vec<[String; 4]>) {
    let rtt = 2.0 * LATENCY_MS as f64;
    let med = median(&r.times_ms);
    let (lo, hi) = range(&r.times_ms);
    println!(
        "  median {med:.1} ms (range {lo:.1}-{hi:.1}) = {:.2} round trips, {} runs",
        med / rtt,
        r.times_ms.len()
    );
    println!("  IPCP in run {}:", r.transcript_run + 1);
    for (ms, text) in r
        .transcript
        .iter()
        .filter(|(_, t)| t.contains("IPCP ") || t.starts_with("connected"))
    {
        println!("  {ms:8.1} ms  {:4.2} RTT  {text}", ms / rtt);
    }
    rows.push([
        "Link-up as above, ISP offering 2 DNS servers (no IPCP Reject)".into(),
        format!("{med:.0} ms ({lo:.0}–{hi:.0}) = {:.2} RTT", med / rtt),
        "info".into(),
        String::new(),
    ]);
}

fn table(rows: &[[String; 4]]) -> String {
    let head = ["Measure", "Result (median, range)", "Goal", ""];
    let mut w = [0usize; 4];
    for r in std::iter::once(&head.map(String::from)).chain(rows.iter()) {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String; 4]| {
        out.push('|');
        for (i, c) in cells.iter().enumerate() {
            let pad = w[i] - c.chars().count();
            let _ = write!(out, " {c}{} |", " ".repeat(pad));
        }
        out.push('\n');
    };
    line(&mut out, &head.map(String::from));
    out.push('|');
    for wi in w {
        let _ = write!(out, "{}|", "-".repeat(wi + 2));
    }
    out.push('\n');
    for r in rows {
        line(&mut out, r);
    }
    out
}
