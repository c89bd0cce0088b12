//! End-to-end test harness: network namespaces, the real `dialtoned` and
//! `dialtone-sim` programs run inside them with `ip netns exec`, their
//! output read line by line, and TCP traffic between namespaces from
//! threads that moved themselves in with `setns(2)`.
//!
//! Nothing here touches the initial network namespace: every interface,
//! route and resolv.conf a test looks at is in a namespace it created, or a
//! file in its own temporary directory.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Whether we may create namespaces (root). Tests that need it say so and
/// fail otherwise: CI runs as root.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests need root (network namespaces, TUN)"
    );
}

/// A unique short tag for names.
pub fn tag() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(role: &str) -> Netns {
        let name = format!("dt-{role}-{}", tag());
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NS args...`, panicking on failure; stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// `ip -n NS args...`, whatever happens; (success, stdout+stderr).
    pub fn try_ip(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .output()
            .expect("run ip");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// A command run inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Runs `f` on a thread inside the namespace.
    pub fn thread<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open the namespace file");
            // SAFETY: setns on a valid namespace fd; it affects this thread only.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            let want = std::fs::metadata(&path).expect("stat the namespace");
            let have = std::fs::metadata("/proc/thread-self/ns/net").expect("stat ours");
            assert_eq!((want.dev(), want.ino()), (have.dev(), have.ino()));
            f()
        })
    }

    /// Adds a fake LAN with a default route (metric 100) as a machine
    /// would have: a veth pair inside the namespace.
    pub fn add_lan_default_route(&self) {
        self.ip(&[
            "link", "add", "lan0", "type", "veth", "peer", "name", "lan0p",
        ]);
        self.ip(&["link", "set", "lan0p", "up"]);
        self.ip(&["link", "set", "lan0", "up"]);
        self.ip(&["addr", "add", "192.168.77.2/24", "dev", "lan0"]);
        self.ip(&[
            "route",
            "add",
            "default",
            "via",
            "192.168.77.1",
            "metric",
            "100",
        ]);
    }

    /// The interfaces whose names start with `dtn`.
    pub fn dtn_links(&self) -> Vec<String> {
        self.ip(&["-o", "link", "show"])
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_owned())
            .filter(|n| n.starts_with("dtn"))
            .collect()
    }

    /// `ip route show` (main table), sorted lines.
    pub fn routes(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .ip(&["route", "show"])
            .lines()
            .map(str::to_owned)
            .collect();
        v.sort();
        v
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!("dialtone-e2e-{}", tag()));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, s: &str) -> PathBuf {
        self.0.join(s)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running program whose stdout is read line by line.
pub struct Proc {
    pub name: String,
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub all: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    pub fn spawn(name: &str, mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let (tx, rx) = mpsc::channel();
        let all = Arc::new(Mutex::new(Vec::new()));
        for (stream, prefix) in [
            (
                Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
                "",
            ),
            (
                Box::new(child.stderr.take().expect("stderr")) as Box<dyn Read + Send>,
                "stderr: ",
            ),
        ] {
            let tx = tx.clone();
            let all = all.clone();
            let label = name.to_owned();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let line = format!("{prefix}{line}");
                    if std::env::var_os("DIALTONE_E2E_ECHO").is_some() {
                        eprintln!("[{label}] {line}");
                    }
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

    /// Waits for a line matching `pred`; panics with everything seen so far
    /// after `timeout`.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(line) if pred(&line) => return line,
                Ok(_) => {}
                Err(_) if Instant::now() < end => {
                    // The program exited: nothing more will come.
                    if let Ok(Some(status)) = self.child.try_wait() {
                        std::thread::sleep(Duration::from_millis(200));
                        while let Ok(line) = self.lines.try_recv() {
                            if pred(&line) {
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

    pub fn wait_contains(&mut self, text: &str, timeout: Duration) -> String {
        let t = text.to_owned();
        self.wait_for(text, timeout, move |l| l.contains(&t))
    }

    /// Everything printed so far.
    pub fn output(&self) -> String {
        self.all.lock().unwrap().join("\n")
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }

    /// Waits for the exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let end = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                std::thread::sleep(Duration::from_millis(100));
                return s;
            }
            if Instant::now() > end {
                panic!(
                    "{}: still running after {timeout:?}; output:\n{}",
                    self.name,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

pub const DIALTONED: &str = env!("CARGO_BIN_EXE_dialtoned");
pub const SIM: &str = env!("CARGO_BIN_EXE_dialtone-sim");

/// The simulated modem + ISP in the namespace `ns`, its pty at `link`.
pub fn start_sim(ns: &Netns, link: &Path, args: &[&str]) -> Proc {
    let mut cmd = ns.command(SIM);
    cmd.arg("--link").arg(link).args(args);
    let mut p = Proc::spawn("sim", cmd);
    p.wait_contains("ready", Duration::from_secs(20));
    p
}

/// `dialtoned run PROFILE` in `ns`, with every system path in `dir`.
pub fn start_dialtoned(
    ns: &Netns,
    dir: &TempDir,
    profile: &Path,
    device: &Path,
    extra: &[&str],
) -> Proc {
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
        .arg("-v")
        .args(extra);
    Proc::spawn("dialtoned", cmd)
}

/// A deterministic byte stream (SplitMix64), so a receiver can check every
/// byte without a copy of what was sent.
pub struct Stream(u64);

impl Stream {
    pub fn new(seed: u64) -> Stream {
        Stream(seed)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// A TCP server in `ns` on `port` that sends `len` bytes of
/// `Stream::new(seed)` to the first client, then closes. Returns once it is
/// listening.
pub fn serve_stream(
    ns: &Netns,
    bind: Ipv4Addr,
    port: u16,
    len: usize,
    seed: u64,
) -> std::thread::JoinHandle<std::io::Result<()>> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let h = ns.thread(move || {
        let listener = TcpListener::bind(SocketAddr::from((bind, port)))?;
        let _ = ready_tx.send(());
        let (mut conn, _) = listener.accept()?;
        let mut s = Stream::new(seed);
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(buf.len()) & !7;
            let n = if n == 0 { left } else { n };
            s.fill(&mut buf[..n]);
            conn.write_all(&buf[..n])?;
            left -= n;
        }
        conn.shutdown(std::net::Shutdown::Write)?;
        // Wait for the client to close, so nothing is cut short.
        let mut sink = [0u8; 16];
        let _ = conn.read(&mut sink);
        Ok(())
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server listening");
    h
}

/// Connects from `ns` to `addr`, reads everything and checks it against
/// `Stream::new(seed)`; the number of bytes that matched, or an error.
pub fn fetch_stream(
    ns: &Netns,
    addr: SocketAddr,
    seed: u64,
    timeout: Duration,
) -> std::thread::JoinHandle<Result<usize, String>> {
    ns.thread(move || {
        let mut conn = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| format!("connect {addr}: {e}"))?;
        conn.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let mut expect = Stream::new(seed);
        let mut buf = vec![0u8; 64 * 1024];
        let mut want = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        // The sender fills 8-byte words; keep our generator aligned to them.
        let mut carry: Vec<u8> = Vec::new();
        loop {
            let n = conn
                .read(&mut buf)
                .map_err(|e| format!("after {total} bytes: {e}"))?;
            if n == 0 {
                break;
            }
            let mut got = &buf[..n];
            while !got.is_empty() {
                if carry.is_empty() {
                    let words = got.len().div_ceil(8) * 8;
                    want.resize(words, 0);
                    expect.fill(&mut want[..words]);
                    carry.extend_from_slice(&want[..words]);
                }
                let k = got.len().min(carry.len());
                if got[..k] != carry[..k] {
                    return Err(format!("the data differ after {total} bytes"));
                }
                carry.drain(..k);
                got = &got[k..];
                total += k;
            }
        }
        Ok(total)
    })
}

/// Writes a file with `mode`.
pub fn write_file(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
