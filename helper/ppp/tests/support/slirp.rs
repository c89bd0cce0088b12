//! Test harness: Debian's `slirp` as a real PPP peer ("ISP") on a pseudo-terminal.
//!
//! Include it from an integration test with
//!
//! ```ignore
//! #[path = "support/slirp.rs"]
//! mod slirp;
//! use slirp::{SlirpAuth, SlirpPeer};
//!
//! let mut peer = SlirpPeer::spawn(SlirpAuth::None).unwrap();
//! peer.write_all(&framed_lcp_configure_request).unwrap();
//! let bytes = peer.read_until(Duration::from_secs(5), |b| b.contains(&0x7e)).unwrap();
//! ```
//!
//! The test owns the pty *master*: whatever it writes there is what slirp reads
//! from its "serial line" (its stdin), whatever slirp writes to its stdout shows
//! up for reading.  Only raw, HDLC-framed PPP bytes travel over it: slirp prints
//! its banner on stderr, which goes to a log file (see [`SlirpPeer::stderr_log`]).
//!
//! # What we know about slirp 1.0.17 (Debian bookworm package `slirp`)
//!
//! Established on Debian 12 (glibc 2.36) with `slirp help`, `slirp "help CMD"`,
//! `man slirp`, `/usr/share/doc/slirp/slirp.doc.gz`, `strings /usr/bin/slirp`
//! and by driving it by hand over a pty:
//!
//! * **Startup bug**: the main loop passes `select()` a timeout with
//!   `tv_usec = (u_int)-1`; glibc 2.36/Linux reject it with `EINVAL` and slirp
//!   exits right after `SLiRP Ready ...`.  `slirp_shim.c` (LD_PRELOAD) replaces
//!   invalid timeouts with 100 ms.  With it slirp runs indefinitely.
//! * **Command line**: `slirp -P [options...]`.  `-P` (= `ppp`) must come FIRST:
//!   parsing it resets every PPP option given before it.  Options containing
//!   spaces are ONE argv element (`"debugppp 1"`); options starting with `-`/`+`
//!   never are (`-P`, `+pap`).  slirp also reads `~/.slirprc` (and
//!   `~/.slirprc-N`) before the command line, so we run it with a private,
//!   empty `$HOME`.
//! * **Options we use**: `-P`; `nozeros` (disables "five 0s = exit, five 1s =
//!   detach" on the line); `+pap` = require PAP from the peer; `+chap` =
//!   require CHAP (MD5 only) from the peer; `initiate-options` (optional) = send
//!   our LCP Configure-Request unprompted; `debugppp 1` = write a PPP debug log
//!   to `./slirp_pppdebug`.  `auth` alone requests no authentication at all;
//!   `+pap +chap` together request CHAP first.  Other pppd-2.2 style options
//!   exist (see `slirp help`): `auth`, `name`, `user`, `remotename`, `-vj`, `-pc`, `-ac`,
//!   `-am`, `-mn`, `mru`, `mtu`, `asyncmap`, `escape`, `lcp-echo-interval`,
//!   `lcp-echo-failure`, `lcp-restart`, `ipcp-accept-local`, `ppp_exit`, ...
//! * **Secrets**: pppd-2.2 format `client server secret [addresses...]` in
//!   `$HOME/.pap-secrets` and `$HOME/.chap-secrets` (strings in the binary:
//!   `/.pap-secrets`, `/.chap-secrets` appended to `$HOME`; NOT /etc/ppp).  The
//!   file must not be group/world readable (it warns otherwise) so we write it
//!   with mode 0600.  Do NOT put `*` in the addresses column: pppd 2.2 treats it
//!   as a host name, fails to resolve it, and then refuses every peer address,
//!   i.e. IPCP gets Acked and immediately Terminate-Requested ("Peer is not
//!   authorized to use remote address").  Leaving the column empty means "any
//!   address".  The server column `*` is fine.  The `login` option (system
//!   password database) is not used.
//! * **Addresses/IPCP**: slirp's own IPCP address comes from
//!   `gethostbyname(gethostname())`.  If that is a loopback address (as on most
//!   machines: `127.0.0.1 <hostname>` in /etc/hosts) it sends 0.0.0.0, and IPCP
//!   comes up and is torn down right away.  `host addr A.B.C.D` does NOT help
//!   (it changes the NAT host address only).  So slirp runs in private UTS +
//!   mount namespaces with hostname [`SLIRP_HOSTNAME`] and a bind-mounted
//!   private `/etc/hosts` mapping it to 10.0.2.2.  We also bind-mount a private
//!   `/etc/resolv.conf` (`nameserver 10.0.2.3`) because slirp hands out the
//!   FIRST resolv.conf nameserver as primary DNS; this makes it deterministic.
//! * **Network isolation**: slirp also gets its own, empty network namespace
//!   (only a down loopback): it cannot touch the real network at all, and it
//!   doesn't need to.  ICMP echo to 10.0.2.2 (its own address) is answered by
//!   slirp itself (TTL 255).  Nothing else is reachable.
//! * **What slirp negotiates** (observed):
//!   - It is passive by default: it says nothing until the peer sends an LCP
//!     Configure-Request.  With `initiate-options` it sends one immediately and
//!     repeats it every 3 s.
//!   - LCP Configure-Request: MRU 1500 (`01 04 05dc`), Magic-Number, PFC
//!     (`07 02`), ACFC (`08 02`), plus Authentication-Protocol `03 04 c023` with
//!     `+pap` or `03 05 c223 05` (CHAP-MD5) with `+chap`.  No ACCM option; it
//!     sends with ACCM ffffffff until told otherwise.  It answers LCP
//!     Echo-Request with its magic.
//!   - PAP: correct credentials -> Authenticate-Ack "Login ok"; wrong ->
//!     Authenticate-Nak "Login incorrect" and then LCP Terminate-Request.
//!   - CHAP: Challenge Name = the hostname ([`SLIRP_HOSTNAME`]); Success
//!     message "Welcome to <hostname>."; failure: "I don't like you.  Go 'way."
//!     followed by LCP Terminate-Request.
//!   - IPCP Configure-Request: IP-Address 10.0.2.2 and IP-Compression-Protocol
//!     VJ (`02 06 002d 0f 01`: max-slot 15, comp-slot 1).  If the peer rejects
//!     VJ, it re-requests with the address only.
//!   - IPCP towards the client: a request for 0.0.0.0 is Nak'd to
//!     [`CLIENT_ADDR`] 10.0.2.15; primary DNS (129) 0.0.0.0 is Nak'd to
//!     [`DNS_ADDR`] 10.0.2.3 (the resolv.conf above); secondary DNS (131)
//!     0.0.0.0 is Acked as 0.0.0.0.
//!   - CCP: it sends an EMPTY Configure-Request (`80fd 01 id 0004`).  An empty
//!     Configure-Reject makes it resend at once, forever (a tight loop); a
//!     Configure-Ack leaves it retransmitting every 3 s (we never open CCP).
//!     LCP Protocol-Reject of 0x80fd makes it stop: that is the right answer.
//! * It does not exit when the link goes down (no `ppp_exit`), but it does
//!   exit (status 0) as soon as the pty master is closed, so even a test
//!   process killed with SIGKILL leaves no slirp behind.  Drop kills it anyway.
//! * It writes `slirp_pppdebug` (with `debugppp`) and other files into its
//!   current directory, which is the private temporary directory.
#![allow(dead_code)] // each test binary uses a different subset of this module

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The host name slirp runs under (in its own UTS namespace).  It is the Name
/// in slirp's CHAP Challenges and resolves (in its private /etc/hosts) to
/// [`SLIRP_ADDR`].
pub const SLIRP_HOSTNAME: &str = "dialtone-isp";
/// slirp's own IPCP address; it answers ICMP echo requests sent here.
pub const SLIRP_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// The address slirp assigns to the client (Nak to a request for 0.0.0.0).
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
/// The primary DNS slirp hands out (Nak to a request for 0.0.0.0).
pub const DNS_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);

/// How long [`SlirpPeer::spawn`] waits for slirp's "SLiRP Ready" banner.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Set this environment variable to keep slirp's temporary directory (logs,
/// secrets) after the test; its path is printed.
pub const KEEP_DIR_ENV: &str = "DIALTONE_KEEP_SLIRP_DIR";

const SHIM_SOURCE: &str = include_str!("slirp_shim.c");

/// The authentication slirp demands from the peer (the code under test).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlirpAuth {
    /// No authentication phase.
    None,
    /// `+pap`: the peer must authenticate with PAP using these credentials.
    Pap {
        /// Peer-ID the peer must send.
        user: String,
        /// Password the peer must send.
        password: String,
    },
    /// `+chap`: the peer must answer CHAP-MD5 challenges with this secret.
    Chap {
        /// Name the peer must put in its Response.
        user: String,
        /// The shared secret.
        password: String,
    },
}

/// Everything [`SlirpPeer::spawn_with`] can vary.
#[derive(Clone, Debug)]
pub struct SlirpConfig {
    /// Authentication slirp requires.
    pub auth: SlirpAuth,
    /// Pass `initiate-options`: slirp sends its LCP Configure-Request without
    /// waiting for ours (every 3 s).  Default: false (slirp is passive).
    pub initiate: bool,
    /// Pass `debugppp 1`, making slirp log PPP events to `slirp_pppdebug`
    /// (see [`SlirpPeer::ppp_debug_log`]).  Default: true.
    pub debug_log: bool,
    /// More slirp options, appended after ours, one option per element
    /// (e.g. `"mru 1000"`, `"-vj"`, `"lcp-echo-interval 1"`).
    pub extra_args: Vec<String>,
}

impl SlirpConfig {
    /// The defaults with the given authentication.
    pub fn new(auth: SlirpAuth) -> Self {
        SlirpConfig {
            auth,
            initiate: false,
            debug_log: true,
            extra_args: Vec::new(),
        }
    }
}

/// A running slirp speaking PPP on the slave side of a pty.
///
/// Dropping it kills slirp (and its process group), reaps it and deletes its
/// temporary directory.
#[derive(Debug)]
pub struct SlirpPeer {
    child: Child,
    master: File,
    dir: PathBuf,
    reaped: bool,
}

impl SlirpPeer {
    /// Starts slirp with the default [`SlirpConfig`] for `auth`.
    ///
    /// Panics if `slirp` or a C compiler (`cc`) is missing; returns an error if
    /// anything else goes wrong (namespaces not permitted, slirp died, ...).
    pub fn spawn(auth: SlirpAuth) -> io::Result<SlirpPeer> {
        Self::spawn_with(SlirpConfig::new(auth))
    }

    /// Starts slirp as configured; see [`SlirpPeer::spawn`].
    ///
    /// Steps: compile the select() shim (once per test process, cached under
    /// the cargo target dir), create a private temp dir (HOME and cwd of
    /// slirp) with hosts/resolv.conf/secrets files, open a pty (slave in raw
    /// mode, no echo), then start slirp with stdin+stdout on the slave, stderr
    /// into `slirp.stderr`, in new UTS+mount+network namespaces (plus a user
    /// namespace when not root) and its own session, and wait for its
    /// "SLiRP Ready" banner.
    pub fn spawn_with(config: SlirpConfig) -> io::Result<SlirpPeer> {
        let slirp = find_slirp();
        let shim = shim_path();
        let dir = make_temp_dir()?;
        match Self::start_in(&dir, &slirp, &shim, &config) {
            Ok(peer) => Ok(peer),
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                let hint = if e.kind() == io::ErrorKind::PermissionDenied {
                    "\n(slirp runs in new user/mount/UTS/network namespaces: that needs \
                     root or unprivileged user namespaces)"
                } else {
                    ""
                };
                Err(io::Error::new(
                    e.kind(),
                    format!("starting slirp failed: {e}{hint}"),
                ))
            }
        }
    }

    fn start_in(dir: &Path, slirp: &Path, shim: &Path, config: &SlirpConfig) -> io::Result<Self> {
        // Files slirp sees.
        let hosts = dir.join("hosts");
        fs::write(
            &hosts,
            format!("127.0.0.1 localhost\n{SLIRP_ADDR} {SLIRP_HOSTNAME}\n"),
        )?;
        let resolv = dir.join("resolv.conf");
        fs::write(&resolv, format!("nameserver {DNS_ADDR}\n"))?;

        let mut args: Vec<String> = vec!["-P".into(), "nozeros".into()];
        match &config.auth {
            SlirpAuth::None => {}
            SlirpAuth::Pap { user, password } => {
                write_secret(&dir.join(".pap-secrets"), user, password)?;
                args.push("+pap".into());
            }
            SlirpAuth::Chap { user, password } => {
                write_secret(&dir.join(".chap-secrets"), user, password)?;
                args.push("+chap".into());
            }
        }
        if config.initiate {
            args.push("initiate-options".into());
        }
        if config.debug_log {
            args.push("debugppp 1".into());
        }
        args.extend(config.extra_args.iter().cloned());

        let (master, slave) = open_pty()?;
        let stderr = File::create(dir.join("slirp.stderr"))?;

        // Everything the child needs after fork() is prepared here: no
        // allocation happens in pre_exec.
        let hostname = SLIRP_HOSTNAME.as_bytes().to_vec();
        let hosts_c = cstring(&hosts)?;
        let resolv_c = cstring(&resolv)?;
        let etc_hosts = CString::new("/etc/hosts").unwrap();
        let etc_resolv = CString::new("/etc/resolv.conf").unwrap();
        let root = CString::new("/").unwrap();
        // SAFETY: plain getters without preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let userns = if uid == 0 {
            None
        } else {
            Some((
                format!("0 {uid} 1\n").into_bytes(),
                format!("0 {gid} 1\n").into_bytes(),
                CString::new("/proc/self/setgroups").unwrap(),
                CString::new("/proc/self/uid_map").unwrap(),
                CString::new("/proc/self/gid_map").unwrap(),
            ))
        };

        let mut cmd = Command::new(slirp);
        cmd.args(&args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", dir)
            .env("LANG", "C")
            .env("LD_PRELOAD", shim)
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave))
            .stderr(Stdio::from(stderr));
        // SAFETY: the closure only makes async-signal-safe system calls on
        // data prepared before fork().
        unsafe {
            cmd.pre_exec(move || {
                // Own session + process group: Drop kills the whole group.
                check(libc::setsid())?;
                if let Some((uid_map, gid_map, setgroups, uid_path, gid_path)) = &userns {
                    check(libc::unshare(libc::CLONE_NEWUSER))?;
                    write_proc(setgroups, b"deny")?;
                    write_proc(uid_path, uid_map)?;
                    write_proc(gid_path, gid_map)?;
                }
                check(libc::unshare(
                    libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWNET,
                ))?;
                // Make every mount private first, so that the bind mounts
                // below can never propagate to the real system.
                check(libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ))?;
                check(libc::sethostname(hostname.as_ptr().cast(), hostname.len()))?;
                check(libc::mount(
                    hosts_c.as_ptr(),
                    etc_hosts.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ))?;
                // Best effort: a machine without /etc/resolv.conf just makes
                // the DNS slirp hands out less predictable.
                libc::mount(
                    resolv_c.as_ptr(),
                    etc_resolv.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                );
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        // `cmd` holds the parent's copies of the slave; close them, or EOF
        // (EIO) would never be seen on the master when slirp dies.
        drop(cmd);

        let mut peer = SlirpPeer {
            child,
            master,
            dir: dir.to_path_buf(),
            reaped: false,
        };
        if let Err(e) = peer.wait_ready() {
            // Dropping `peer` deletes the directory: grab the log first.
            let log = peer.stderr_log();
            return Err(io::Error::new(
                e.kind(),
                format!("{e}\n--- slirp stderr ---\n{log}"),
            ));
        }
        Ok(peer)
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if self.stderr_log().contains("SLiRP Ready") {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                self.reaped = true;
                return Err(io::Error::other(format!(
                    "slirp exited during startup ({status})"
                )));
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "slirp did not print \"SLiRP Ready\" in time",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The pty master (blocking mode).  Bytes written to it reach slirp's
    /// stdin; slirp's stdout can be read from it.  Prefer
    /// [`SlirpPeer::read_timeout`] for reading, which never blocks forever.
    pub fn master(&self) -> &File {
        &self.master
    }

    /// A second handle to the pty master, e.g. for a reader thread.
    pub fn try_clone_master(&self) -> io::Result<File> {
        self.master.try_clone()
    }

    /// Reads whatever slirp has sent, waiting at most `timeout` for the
    /// first byte.
    ///
    /// Returns `Ok(n)` with `n > 0` bytes, `Ok(0)` when slirp has gone away
    /// (the pty slave is closed), or `Err(kind TimedOut)` when nothing
    /// arrived in time.
    pub fn read_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if !poll_readable(&self.master, timeout)? {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("slirp sent nothing within {timeout:?}"),
            ));
        }
        match (&self.master).read(buf) {
            Ok(n) => Ok(n),
            // Linux reports a closed pty slave as EIO on the master.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Collects everything slirp sends during `duration`.
    pub fn read_for(&mut self, duration: Duration) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + duration;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(out);
            }
            match self.read_timeout(&mut buf, left) {
                Ok(0) => return Ok(out),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ok(out),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads until `done(all bytes so far)` is true and returns those bytes.
    /// Fails with `TimedOut` (the message shows what did arrive, in hex) if
    /// that doesn't happen within `timeout`, or with `UnexpectedEof` if slirp
    /// goes away first.
    pub fn read_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[u8]) -> bool,
    ) -> io::Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while !done(&out) {
            let left = deadline.saturating_duration_since(Instant::now());
            let res = if left.is_zero() {
                Err(io::Error::from(io::ErrorKind::TimedOut))
            } else {
                self.read_timeout(&mut buf, left)
            };
            match res {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("slirp went away; it had sent: {}", hex(&out)),
                    ))
                }
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("timed out after {timeout:?}; slirp had sent: {}", hex(&out)),
                    ))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Writes all of `data` to slirp.
    pub fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        (&self.master).write_all(data)?;
        (&self.master).flush()
    }

    /// Whether slirp is still running (reaps it if it has exited).
    pub fn is_running(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// slirp's exit status, if it has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.reaped = true;
                Some(status)
            }
            _ => None,
        }
    }

    /// slirp's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// slirp's private directory (its HOME and cwd).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What slirp printed on stderr (its banner, errors).
    pub fn stderr_log(&self) -> String {
        fs::read_to_string(self.dir.join("slirp.stderr")).unwrap_or_default()
    }

    /// slirp's PPP debug log (`slirp_pppdebug`, written with
    /// [`SlirpConfig::debug_log`]): received protocols, negotiated addresses,
    /// "PPP is up now", ...
    pub fn ppp_debug_log(&self) -> String {
        fs::read_to_string(self.dir.join("slirp_pppdebug")).unwrap_or_default()
    }
}

impl Drop for SlirpPeer {
    fn drop(&mut self) {
        if !self.reaped {
            if let Ok(None) = self.child.try_wait() {
                // Not reaped, so the pid (== its process group id, thanks to
                // setsid) cannot have been reused: kill the whole group.
                if let Ok(pgid) = libc::pid_t::try_from(self.child.id()) {
                    // SAFETY: plain system call.
                    unsafe { libc::killpg(pgid, libc::SIGKILL) };
                }
                let _ = self.child.kill();
            }
            let _ = self.child.wait();
        }
        if std::env::var_os(KEEP_DIR_ENV).is_some() {
            eprintln!("slirp: kept {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Lowercase hex with spaces, for messages.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn find_slirp() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join("slirp"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`slirp` not found in PATH: install slirp: cargo xtask test installs it \
                 (or `apt-get install slirp`)"
            )
        })
}

/// Compiles `slirp_shim.c` into a shared object, once per process.  The result
/// is cached under the cargo target dir, named after a hash of the source, and
/// created atomically, so parallel test binaries don't race.
fn shim_path() -> PathBuf {
    static SHIM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    SHIM.get_or_init(build_shim)
        .clone()
        .unwrap_or_else(|e| panic!("cannot build the slirp select() shim: {e}"))
}

fn build_shim() -> Result<PathBuf, String> {
    let base = option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("dialtone-slirp-shim");
    fs::create_dir_all(&base).map_err(|e| format!("mkdir {}: {e}", base.display()))?;
    let so = base.join(format!(
        "slirp_shim-{:016x}.so",
        fnv1a(SHIM_SOURCE.as_bytes())
    ));
    if so.is_file() {
        return Ok(so);
    }
    let unique = format!("{}-{}", std::process::id(), next_id());
    let src = base.join(format!("slirp_shim-{unique}.c"));
    let tmp = base.join(format!("slirp_shim-{unique}.so.tmp"));
    fs::write(&src, SHIM_SOURCE).map_err(|e| format!("write {}: {e}", src.display()))?;
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
        .arg(&tmp)
        .arg(&src)
        .arg("-ldl")
        .output();
    let _ = fs::remove_file(&src);
    let out = out.map_err(|e| {
        format!("running `cc` failed ({e}): install gcc: cargo xtask test installs it")
    })?;
    if !out.status.success() {
        let _ = fs::remove_file(&tmp);
        return Err(format!(
            "cc failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    fs::rename(&tmp, &so).map_err(|e| format!("rename to {}: {e}", so.display()))?;
    Ok(so)
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn next_id() -> usize {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

fn make_temp_dir() -> io::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "dialtone-slirp-{}-{}-{nanos:08x}",
        std::process::id(),
        next_id()
    ));
    fs::create_dir(&dir)?;
    Ok(dir)
}

/// Writes a one-line pppd secrets file (`client server secret`), mode 0600.
/// The address column stays empty (= any address; see the module docs).
fn write_secret(path: &Path, user: &str, password: &str) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{} * {}", quote(user)?, quote(password)?)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

/// Quotes a word for a pppd secrets file.
fn quote(word: &str) -> io::Result<String> {
    if word.is_empty() || word.chars().any(|c| c.is_control()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unusable secrets word {word:?} (empty or control characters)"),
        ));
    }
    let mut s = String::from("\"");
    for c in word.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    Ok(s)
}

fn cstring(path: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// open+write+close, for /proc/self/{setgroups,uid_map,gid_map} after fork.
fn write_proc(path: &CString, data: &[u8]) -> io::Result<()> {
    // SAFETY: valid NUL-terminated path and buffer; the fd is closed below.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        check(fd)?;
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        let err = io::Error::last_os_error();
        libc::close(fd);
        if n < 0 {
            return Err(err);
        }
    }
    Ok(())
}

/// Opens a pty pair: (master, slave).  The master is close-on-exec; the slave
/// is in raw mode (no echo, no line discipline processing, 8 bits).
fn open_pty() -> io::Result<(File, OwnedFd)> {
    // SAFETY: straightforward use of the POSIX pty API; every returned fd is
    // wrapped in an owner right away.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        check(m)?;
        let master = File::from_raw_fd(m);
        check(libc::grantpt(m))?;
        check(libc::unlockpt(m))?;
        let mut name = [0 as libc::c_char; 128];
        let rc = libc::ptsname_r(m, name.as_mut_ptr(), name.len());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        let s = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        check(s)?;
        let slave = OwnedFd::from_raw_fd(s);
        let mut tio: libc::termios = std::mem::zeroed();
        check(libc::tcgetattr(slave.as_raw_fd(), &mut tio))?;
        libc::cfmakeraw(&mut tio);
        tio.c_cc[libc::VMIN] = 1;
        tio.c_cc[libc::VTIME] = 0;
        check(libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &tio))?;
        Ok((master, slave))
    }
}

/// Waits until `file` is readable (or hung up); false on timeout.
fn poll_readable(file: &File, timeout: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // Round up so that a sub-millisecond remainder still waits.
        let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
        let mut pfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if rc > 0 {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
    }
}
