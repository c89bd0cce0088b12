//! An ISP for the simulated modem: Debian's `slirp` in PPP mode, one
//! process per call.
//!
//! [`serve_call`] takes the ISP's end of a call's line (from
//! [`run_modem`](super::modem::run_modem)'s `on_call`), starts `slirp` on
//! a fresh pty and relays bytes both ways until one side goes: when the
//! line closes (the modem hung up) slirp is killed and reaped; when slirp
//! exits the line is closed (the modem sees a remote hang-up). Its private
//! directory is removed either way.
//!
//! slirp 1.0.17 needs some help, all of it explained at length in the PPP
//! engine's slirp test harness (`helper/ppp/tests/support/slirp.rs`):
//!
//! * An `LD_PRELOAD` shim (`helper/ppp/tests/support/slirp_shim.c`, shared
//!   with the engine's slirp interop tests) fixes the
//!   invalid `select()` timeout that makes it exit at once on current
//!   glibc. It is compiled with `gcc` on first use into
//!   `<work dir>/dialtone-sim-shim-<euid>/` (the work dir defaults to
//!   [`std::env::temp_dir`]) and reused from there; the directory must be
//!   ours and not writable by anyone else, or it is refused.
//! * It runs as `slirp -P nozeros [+pap|+chap] [debugppp 1] ...` with a
//!   private, empty `$HOME` (its current directory too) holding the PAP or
//!   CHAP secrets file (mode 0600, empty address column).
//! * It runs in private UTS and mount namespaces (plus a user namespace
//!   when not root): host name [`SLIRP_HOSTNAME`], a bind-mounted private
//!   `/etc/hosts` mapping it to [`SLIRP_ADDR`] (so that IPCP offers that
//!   address rather than 0.0.0.0) and a private `/etc/resolv.conf` with
//!   `nameserver 10.0.2.3` (so that the DNS it hands out is
//!   [`DNS_ADDR`]). Every mount is made private first, so nothing
//!   propagates to the real system.
//! * Unlike the test harness it does **not** get a private network
//!   namespace: it shares the caller's, so a TCP connection through slirp
//!   to `10.0.2.2:PORT` reaches a server on `127.0.0.1:PORT` (slirp's host
//!   alias), and other addresses reach whatever the caller's namespace
//!   reaches.
//!
//! Addresses: the caller gets [`CLIENT_ADDR`] (10.0.2.15), slirp is
//! 10.0.2.2 and answers ICMP echo there itself.

use std::ffi::CString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::pty::{open_pair, PtyMaster};

/// The host name slirp runs under (in its own UTS namespace): the Name in
/// its CHAP Challenges; it resolves to [`SLIRP_ADDR`] in slirp's private
/// `/etc/hosts`.
pub const SLIRP_HOSTNAME: &str = "dialtone-isp";
/// slirp's own address on the link (also its alias for the host's
/// loopback); it answers ICMP echo requests sent here.
pub const SLIRP_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// The address slirp assigns to the caller.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
/// The primary DNS server slirp hands out.
pub const DNS_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);

/// How long slirp may take to print its "SLiRP Ready" banner.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of slirp's stderr is kept for messages.
const STDERR_LIMIT: usize = 64 * 1024;

/// The shim lives with the engine's slirp interop tests, which need it too.
const SHIM_SOURCE: &str = include_str!("../../ppp/tests/support/slirp_shim.c");

/// The authentication slirp demands from the caller.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum SlirpAuth {
    /// No authentication phase.
    #[default]
    None,
    /// `+pap`: the caller must authenticate with PAP with these.
    Pap {
        /// The user name (PAP Peer-ID).
        user: String,
        /// The password.
        password: String,
    },
    /// `+chap`: the caller must answer CHAP-MD5 challenges with these.
    Chap {
        /// The name the caller puts in its Response.
        user: String,
        /// The shared secret.
        password: String,
    },
}

impl fmt::Debug for SlirpAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlirpAuth::None => f.write_str("None"),
            SlirpAuth::Pap { user, .. } => f
                .debug_struct("Pap")
                .field("user", user)
                .field("password", &"********")
                .finish(),
            SlirpAuth::Chap { user, .. } => f
                .debug_struct("Chap")
                .field("user", user)
                .field("password", &"********")
                .finish(),
        }
    }
}

/// How slirp is run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlirpOptions {
    /// The authentication slirp requires.
    pub auth: SlirpAuth,
    /// Where the per-call directories and the compiled shim go; `None`
    /// for [`std::env::temp_dir`].
    pub work_dir: Option<PathBuf>,
    /// The slirp program; `None` looks for `/usr/bin/slirp`, then `slirp`
    /// on `PATH`.
    pub program: Option<PathBuf>,
    /// Pass `debugppp 1`: slirp logs its PPP negotiation, returned in
    /// [`CallSummary::ppp_debug_log`].
    pub debug_log: bool,
    /// More slirp options, one per element (`"mru 1000"`, `"-vj"`).
    pub extra_args: Vec<String>,
}

impl SlirpOptions {
    /// The defaults with the given authentication.
    pub fn new(auth: SlirpAuth) -> SlirpOptions {
        SlirpOptions {
            auth,
            ..SlirpOptions::default()
        }
    }

    fn base_dir(&self) -> PathBuf {
        self.work_dir.clone().unwrap_or_else(std::env::temp_dir)
    }
}

/// Why a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallEnd {
    /// The line closed (the modem hung up); slirp was killed.
    LineClosed,
    /// slirp went away; the line was closed.
    SlirpExited,
}

/// What happened during a call, from [`serve_call`].
#[derive(Clone, Debug)]
pub struct CallSummary {
    /// Why the call ended.
    pub ended: CallEnd,
    /// slirp's exit status (after `SIGKILL` when the line closed).
    pub status: Option<ExitStatus>,
    /// What slirp printed on stderr (its banner, complaints), truncated.
    pub stderr: String,
    /// slirp's PPP debug log, with [`SlirpOptions::debug_log`].
    pub ppp_debug_log: String,
}

/// Finds the slirp program: `/usr/bin/slirp`, else `slirp` on `PATH`.
pub fn find_slirp() -> io::Result<PathBuf> {
    let usr_bin = PathBuf::from("/usr/bin/slirp");
    if usr_bin.is_file() {
        return Ok(usr_bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("slirp"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "`slirp` not found (/usr/bin/slirp or on PATH): install it (apt-get install slirp)",
            )
        })
}

/// Finds slirp and builds the shim now (blocking), so that a missing
/// program or compiler shows at start-up rather than at the first call.
pub fn prepare(options: &SlirpOptions) -> io::Result<()> {
    match &options.program {
        Some(p) if !p.is_file() => {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such program", p.display()),
            ))
        }
        Some(_) => {}
        None => {
            find_slirp()?;
        }
    }
    shim_path(&options.base_dir()).map(drop)
}

/// The path of the compiled `select()` shim under `work_dir`, compiling it
/// with `gcc` if it is not there yet (blocking). The file is named after a
/// hash of the source and created atomically, so concurrent users do not
/// race.
pub fn shim_path(work_dir: &Path) -> io::Result<PathBuf> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let cache = work_dir.join(format!("dialtone-sim-shim-{euid}"));
    match fs::DirBuilder::new().mode(0o700).create(&cache) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(annotate(e, "creating", &cache)),
    }
    // The shim is preloaded into a program we run, possibly as root: it
    // must be ours and nobody else's to change.
    check_private(&cache)?;
    let so = cache.join(format!(
        "slirp_shim-{:016x}.so",
        fnv1a(SHIM_SOURCE.as_bytes())
    ));
    if so.is_file() {
        check_private(&so)?;
        return Ok(so);
    }
    let unique = format!("{}-{}", std::process::id(), next_id());
    let src = cache.join(format!("slirp_shim-{unique}.c"));
    let tmp = cache.join(format!("slirp_shim-{unique}.so.tmp"));
    fs::write(&src, SHIM_SOURCE).map_err(|e| annotate(e, "writing", &src))?;
    let out = Command::new("gcc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
        .arg(&tmp)
        .arg(&src)
        .arg("-ldl")
        .stdin(Stdio::null())
        .output();
    let _ = fs::remove_file(&src);
    let out = out.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("running gcc to build slirp's select() shim: {e} (install gcc)"),
        )
    })?;
    if !out.status.success() {
        let _ = fs::remove_file(&tmp);
        return Err(io::Error::other(format!(
            "gcc failed to build slirp's select() shim ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    if let Err(e) = fs::rename(&tmp, &so) {
        let _ = fs::remove_file(&tmp);
        return Err(annotate(e, "renaming into", &so));
    }
    Ok(so)
}

/// Refuses a path that is a symbolic link, not ours, or writable by
/// group or others.
fn check_private(path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path).map_err(|e| annotate(e, "inspecting", path))?;
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if meta.file_type().is_symlink() || meta.uid() != euid || meta.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{}: must be owned by uid {euid} and writable by nobody else",
                path.display()
            ),
        ));
    }
    Ok(())
}

fn annotate(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn next_id() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Serves one call: runs slirp on a fresh pty and relays between it and
/// `line` until either goes away (see the [module documentation](self)).
///
/// Fails if slirp cannot be started (the line is closed then too, which
/// the modem reports as `NO CARRIER`); if the line closes while slirp is
/// still starting, slirp is killed and the call ends normally.
pub async fn serve_call(line: DuplexStream, options: &SlirpOptions) -> io::Result<CallSummary> {
    let program = match &options.program {
        Some(p) => p.clone(),
        None => find_slirp()?,
    };
    let base = options.base_dir();
    let shim = {
        let base = base.clone();
        tokio::task::spawn_blocking(move || shim_path(&base))
            .await
            .map_err(io::Error::other)??
    };
    let dir = CallDir::create(&base)?;
    let mut slirp = spawn_slirp(&dir.path, &program, &shim, options)?;
    let stderr = slirp
        .child
        .as_mut()
        .and_then(|c| c.stderr.take())
        .ok_or_else(|| io::Error::other("slirp's stderr is missing"))?;
    let mut stderr = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(stderr))?;
    let master = PtyMaster::new(
        slirp
            .master
            .take()
            .ok_or_else(|| io::Error::other("no pty"))?,
    )?;

    let (mut line_r, mut line_w) = tokio::io::split(line);
    let mut log = Vec::new();
    let mut stderr_open = true;
    let mut buf = vec![0u8; 4096];
    let mut line_buf = vec![0u8; 4096];

    // Start-up: wait for the banner, holding on to what the caller sends.
    let mut early = Vec::new();
    let timeout = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(timeout);
    loop {
        if contains(&log, b"SLiRP Ready") {
            break;
        }
        tokio::select! {
            r = stderr.read(&mut buf), if stderr_open => match r {
                Ok(n) if n > 0 => keep(&mut log, buf.get(..n).unwrap_or_default()),
                _ => {
                    let status = slirp.finish().await;
                    return Err(io::Error::other(format!(
                        "slirp exited during start-up ({}):\n{}",
                        status.map_or_else(|| "status unknown".to_owned(), |s| s.to_string()),
                        String::from_utf8_lossy(&log)
                    )));
                }
            },
            r = line_r.read(&mut line_buf) => match r {
                Ok(n) if n > 0 => early.extend_from_slice(line_buf.get(..n).unwrap_or_default()),
                _ => {
                    // The caller hung up before slirp was ready.
                    let status = slirp.finish().await;
                    return Ok(CallSummary {
                        ended: CallEnd::LineClosed,
                        status,
                        stderr: String::from_utf8_lossy(&log).into_owned(),
                        ppp_debug_log: dir.ppp_debug_log(),
                    });
                }
            },
            () = &mut timeout => {
                slirp.finish().await;
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "slirp did not print \"SLiRP Ready\" within {STARTUP_TIMEOUT:?}:\n{}",
                        String::from_utf8_lossy(&log)
                    ),
                ));
            }
        }
    }

    // Relay: each direction on its own, until one of them ends.
    let ended = {
        let to_slirp = async {
            let mut w = &master;
            if !early.is_empty() && w.write_all(&early).await.is_err() {
                return CallEnd::SlirpExited;
            }
            let mut buf = vec![0u8; 4096];
            loop {
                match line_r.read(&mut buf).await {
                    Ok(0) | Err(_) => return CallEnd::LineClosed,
                    Ok(n) => {
                        if w.write_all(buf.get(..n).unwrap_or_default()).await.is_err() {
                            return CallEnd::SlirpExited;
                        }
                    }
                }
            }
        };
        let from_slirp = async {
            let mut r = &master;
            let mut buf = vec![0u8; 4096];
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => return CallEnd::SlirpExited,
                    Ok(n) => {
                        if line_w
                            .write_all(buf.get(..n).unwrap_or_default())
                            .await
                            .is_err()
                        {
                            return CallEnd::LineClosed;
                        }
                    }
                }
            }
        };
        tokio::pin!(to_slirp, from_slirp);
        loop {
            tokio::select! {
                end = &mut to_slirp => break end,
                end = &mut from_slirp => break end,
                r = stderr.read(&mut buf), if stderr_open => match r {
                    Ok(n) if n > 0 => keep(&mut log, buf.get(..n).unwrap_or_default()),
                    _ => stderr_open = false,
                },
            }
        }
    };
    // Close the line first, so the modem learns at once.
    drop(line_r);
    drop(line_w);
    drop(master);
    let status = slirp.finish().await;
    Ok(CallSummary {
        ended,
        status,
        stderr: String::from_utf8_lossy(&log).into_owned(),
        ppp_debug_log: dir.ppp_debug_log(),
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Appends to the stderr log, up to [`STDERR_LIMIT`].
fn keep(log: &mut Vec<u8>, bytes: &[u8]) {
    let room = STDERR_LIMIT.saturating_sub(log.len());
    log.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
}

/// A call's private directory (slirp's `$HOME` and working directory),
/// removed on drop.
struct CallDir {
    path: PathBuf,
}

impl CallDir {
    fn create(base: &Path) -> io::Result<CallDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = base.join(format!(
            "dialtone-sim-slirp-{}-{}-{nanos:08x}",
            std::process::id(),
            next_id()
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| annotate(e, "creating", &path))?;
        Ok(CallDir { path })
    }

    fn ppp_debug_log(&self) -> String {
        fs::read_to_string(self.path.join("slirp_pppdebug")).unwrap_or_default()
    }
}

impl Drop for CallDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A started slirp: the process (in its own session) and, until taken,
/// the pty master. Dropping it kills and reaps slirp.
struct Slirp {
    child: Option<Child>,
    master: Option<OwnedFd>,
}

impl Slirp {
    /// Kills slirp's process group unless slirp has exited, then reaps it
    /// (on a blocking thread).
    async fn finish(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        tokio::task::spawn_blocking(move || kill_and_reap(&mut child))
            .await
            .ok()
            .flatten()
    }
}

impl Drop for Slirp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }
}

fn kill_and_reap(child: &mut Child) -> Option<ExitStatus> {
    if let Ok(None) = child.try_wait() {
        // Not reaped, so its pid (its process group's id, thanks to
        // setsid) cannot have been reused: kill the whole group.
        if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: a plain system call on a process group we created.
            unsafe { libc::killpg(pgid, libc::SIGKILL) };
        }
        let _ = child.kill();
    }
    child.wait().ok()
}

/// Writes the private files and starts slirp on a new pty (see the module
/// documentation).
fn spawn_slirp(
    dir: &Path,
    program: &Path,
    shim: &Path,
    options: &SlirpOptions,
) -> io::Result<Slirp> {
    let hosts = dir.join("hosts");
    fs::write(
        &hosts,
        format!("127.0.0.1 localhost\n{SLIRP_ADDR} {SLIRP_HOSTNAME}\n"),
    )
    .map_err(|e| annotate(e, "writing", &hosts))?;
    let resolv = dir.join("resolv.conf");
    fs::write(&resolv, format!("nameserver {DNS_ADDR}\n"))
        .map_err(|e| annotate(e, "writing", &resolv))?;

    let mut args: Vec<String> = vec!["-P".into(), "nozeros".into()];
    match &options.auth {
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
    if options.debug_log {
        args.push("debugppp 1".into());
    }
    args.extend(options.extra_args.iter().cloned());

    let pair = open_pair()?;

    // Everything the child needs after fork() is prepared here: nothing is
    // allocated in pre_exec.
    let hostname = SLIRP_HOSTNAME.as_bytes().to_vec();
    let hosts_c = cstring(&hosts)?;
    let resolv_c = cstring(&resolv)?;
    // SAFETY: plain getters without preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let userns = if uid == 0 {
        None
    } else {
        Some((
            format!("0 {uid} 1\n").into_bytes(),
            format!("0 {gid} 1\n").into_bytes(),
        ))
    };

    let mut cmd = Command::new(program);
    cmd.args(&args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", dir)
        .env("LANG", "C")
        .env("LD_PRELOAD", shim)
        .stdin(Stdio::from(pair.slave.try_clone()?))
        .stdout(Stdio::from(pair.slave))
        .stderr(Stdio::piped());
    // SAFETY: the closure only makes async-signal-safe system calls on data
    // prepared before fork().
    unsafe {
        cmd.pre_exec(move || {
            // Own session and process group: the group is killed at the end.
            check(libc::setsid())?;
            if let Some((uid_map, gid_map)) = &userns {
                check(libc::unshare(libc::CLONE_NEWUSER))?;
                write_proc(c"/proc/self/setgroups", b"deny")?;
                write_proc(c"/proc/self/uid_map", uid_map)?;
                write_proc(c"/proc/self/gid_map", gid_map)?;
            }
            // UTS and mount only: the network namespace is the caller's.
            check(libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWUTS))?;
            // Make every mount private first, so that the bind mounts below
            // can never propagate to the real system.
            check(libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::sethostname(hostname.as_ptr().cast(), hostname.len()))?;
            check(libc::mount(
                hosts_c.as_ptr(),
                c"/etc/hosts".as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ))?;
            // Best effort: without an /etc/resolv.conf to cover, the DNS
            // slirp hands out is just less predictable.
            libc::mount(
                resolv_c.as_ptr(),
                c"/etc/resolv.conf".as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            );
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| {
        let hint = if e.kind() == io::ErrorKind::PermissionDenied {
            " (slirp runs in new mount and UTS namespaces: that needs root or \
             unprivileged user namespaces)"
        } else {
            ""
        };
        io::Error::new(
            e.kind(),
            format!("starting {}: {e}{hint}", program.display()),
        )
    })?;
    // `cmd` holds the parent's copies of the slave: close them, or the
    // master would never see slirp go away.
    drop(cmd);
    Ok(Slirp {
        child: Some(child),
        master: Some(pair.master),
    })
}

fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// open + write + close, for `/proc/self/{setgroups,uid_map,gid_map}`
/// between fork and exec.
fn write_proc(path: &std::ffi::CStr, data: &[u8]) -> io::Result<()> {
    // SAFETY: a valid NUL-terminated path.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    check(fd)?;
    // SAFETY: `fd` is open and `data` valid for its length.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    let err = io::Error::last_os_error();
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    if n < 0 {
        return Err(err);
    }
    Ok(())
}

/// Writes a one-line pppd secrets file (`client server secret`), mode
/// 0600, with an empty address column (any address).
fn write_secret(path: &Path, user: &str, password: &str) -> io::Result<()> {
    let mut f: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| annotate(e, "creating", path))?;
    writeln!(f, "{} * {}", quote(user)?, quote(password)?)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

/// Quotes a word for a pppd secrets file.
fn quote(word: &str) -> io::Result<String> {
    if word.is_empty() || word.chars().any(char::is_control) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a slirp user name or password must be non-empty, without control characters",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_words_are_quoted() {
        assert_eq!(quote("ppp").unwrap(), "\"ppp\"");
        assert_eq!(quote("a\"b\\c d").unwrap(), "\"a\\\"b\\\\c d\"");
        assert!(quote("").is_err());
        assert!(quote("a\nb").is_err());
    }

    #[test]
    fn auth_debug_hides_the_password() {
        let auth = SlirpAuth::Pap {
            user: "ppp".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }
}
