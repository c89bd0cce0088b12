//! The simulated modem on a real pty: a client opens the slave (through
//! the symbolic link) like a serial port and talks to it, behind it an
//! echo ISP or slirp; and the `dialtone-sim` program itself.
//!
//! Runs in real time; slirp runs in private UTS and mount namespaces (root
//! or unprivileged user namespaces needed) but in this process's network
//! namespace.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use dialtone_helper::hayes::{HangupBy, HayesConfig, HayesEvent, Outcome};
use dialtone_helper::sim::modem::{
    run_modem, Direction, ModemCommand, ModemEvent, ModemOptions, ModemReport,
};
use dialtone_helper::sim::pty::Pty;
use dialtone_helper::sim::slirp::{
    self, CallEnd, CallSummary, SlirpAuth, SlirpOptions, CLIENT_ADDR, DNS_ADDR, SLIRP_ADDR,
};
use dialtone_ppp::{AuthMethod, Config, Credentials, DownReason, Event, Link, LinkInfo, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

const T: Duration = Duration::from_secs(10);

// ---- the client: a program on the slave side ----

/// A serial-port user of the modem (blocking, like a simple dialer).
struct Client {
    file: File,
    pending: Vec<u8>,
}

impl Client {
    fn open(path: &Path) -> Client {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        Client {
            file,
            pending: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.file.write_all(bytes).expect("write to the modem");
    }

    /// Reads what arrives within `timeout` (at least one read attempt).
    fn read_some(&mut self, timeout: Duration) -> usize {
        let ms = timeout.as_millis().clamp(0, i32::MAX as u128) as libc::c_int;
        let mut pfd = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc <= 0 {
            return 0;
        }
        let mut buf = [0u8; 4096];
        match self.file.read(&mut buf) {
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                n
            }
            Err(e) => panic!("reading from the modem: {e}"),
        }
    }

    /// Reads until `done(pending)` gives the length of a complete answer,
    /// and takes that much.
    fn take_until(&mut self, timeout: Duration, done: impl Fn(&[u8]) -> Option<usize>) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(n) = done(&self.pending) {
                return self.pending.drain(..n).collect();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out; got {:?}",
                String::from_utf8_lossy(&self.pending)
            );
            self.read_some(left.min(Duration::from_millis(200)));
        }
    }

    /// Reads up to and including `text`; returns everything read.
    fn expect(&mut self, text: &str) -> String {
        let needle = text.as_bytes().to_vec();
        let got = self.take_until(T, |p| {
            p.windows(needle.len())
                .position(|w| w == needle)
                .map(|i| i + needle.len())
        });
        String::from_utf8_lossy(&got).into_owned()
    }

    /// Exactly `n` bytes.
    fn read_exact(&mut self, n: usize, timeout: Duration) -> Vec<u8> {
        self.take_until(timeout, |p| (p.len() >= n).then_some(n))
    }

    /// Sends a command line and returns the answer up to its final
    /// result `result`.
    fn cmd(&mut self, line: &str, result: &str) -> String {
        self.send(format!("{line}\r").as_bytes());
        self.expect(&format!("{result}\r\n"))
    }
}

// ---- the modem under test, on its own runtime ----

struct Bench {
    rt: Runtime,
    _dir: tempfile::TempDir,
    link: PathBuf,
    commands: Option<mpsc::Sender<ModemCommand>>,
    events: mpsc::UnboundedReceiver<ModemEvent>,
    seen: Vec<ModemEvent>,
    modem: Option<tokio::task::JoinHandle<io::Result<ModemReport>>>,
}

impl Bench {
    fn start<F>(options: ModemOptions, on_call: F) -> Bench
    where
        F: FnMut(&str, DuplexStream) + Send + 'static,
    {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("modem");
        let pty = {
            let _guard = rt.enter();
            Pty::open_with_link(&link).expect("pty")
        };
        assert_eq!(
            std::fs::read_link(&link).expect("link"),
            pty.slave_path(),
            "the link points at the slave"
        );
        let (commands, command_rx) = mpsc::channel(8);
        let (event_tx, events) = mpsc::unbounded_channel();
        let modem = rt.spawn(run_modem(pty, options, on_call, command_rx, event_tx));
        Bench {
            rt,
            _dir: dir,
            link,
            commands: Some(commands),
            events,
            seen: Vec::new(),
            modem: Some(modem),
        }
    }

    fn client(&self) -> Client {
        Client::open(&self.link)
    }

    fn command(&self, command: ModemCommand) {
        let tx = self.commands.as_ref().expect("modem running");
        self.rt.block_on(tx.send(command)).expect("modem running");
    }

    /// Waits for an event matching `want`; earlier events are kept in
    /// `seen`.
    fn wait_event(&mut self, want: impl Fn(&ModemEvent) -> bool) -> ModemEvent {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            let events = &mut self.events;
            let got = self
                .rt
                .block_on(async { tokio::time::timeout_at(deadline, events.recv()).await });
            match got {
                Ok(Some(e)) => {
                    self.seen.push(e.clone());
                    if want(&e) {
                        return e;
                    }
                }
                Ok(None) => panic!("the modem stopped; events: {:?}", self.seen),
                Err(_) => panic!("no such event; events: {:?}", self.seen),
            }
        }
    }

    /// Every event so far, without waiting.
    fn drain_events(&mut self) -> Vec<ModemEvent> {
        while let Ok(e) = self.events.try_recv() {
            self.seen.push(e);
        }
        self.seen.clone()
    }

    /// Stops the modem (drops the command sender) and returns its report;
    /// the link disappears.
    fn stop(&mut self) -> ModemReport {
        self.commands = None;
        let modem = self.modem.take().expect("running");
        let report = self
            .rt
            .block_on(async { tokio::time::timeout(T, modem).await })
            .expect("the modem stops")
            .expect("no panic")
            .expect("no error");
        assert!(
            std::fs::symlink_metadata(&self.link).is_err(),
            "the link is removed"
        );
        report
    }
}

fn hayes(numbers: &[(&str, Outcome)]) -> HayesConfig {
    HayesConfig {
        numbers: numbers.iter().map(|(n, o)| ((*n).to_owned(), *o)).collect(),
        dial_delay: Duration::from_millis(50),
        ..HayesConfig::default()
    }
}

fn options(hayes: HayesConfig) -> ModemOptions {
    ModemOptions {
        hayes,
        ..ModemOptions::default()
    }
}

// ---- an echo ISP ----

/// What the echo ISP saw.
#[derive(Clone, Default)]
struct EchoLog {
    /// The numbers of the calls it was handed.
    calls: Arc<Mutex<Vec<String>>>,
    /// Everything it received (and echoed).
    received: Arc<Mutex<Vec<u8>>>,
}

/// An ISP that echoes everything; it says on `ended` when a call's line
/// reached end of file.
fn echo_isp() -> (
    impl FnMut(&str, DuplexStream) + Send + 'static,
    EchoLog,
    std_mpsc::Receiver<String>,
) {
    let log = EchoLog::default();
    let (ended_tx, ended) = std_mpsc::channel();
    let isp_log = log.clone();
    let on_call = move |number: &str, line: DuplexStream| {
        isp_log.calls.lock().unwrap().push(number.to_owned());
        let received = Arc::clone(&isp_log.received);
        let ended_tx = ended_tx.clone();
        let number = number.to_owned();
        tokio::spawn(async move {
            let (mut r, mut w) = tokio::io::split(line);
            let mut buf = [0u8; 4096];
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        received.lock().unwrap().extend_from_slice(&buf[..n]);
                        if w.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = ended_tx.send(number);
        });
    };
    (on_call, log, ended)
}

fn is_online(e: &ModemEvent) -> bool {
    matches!(e, ModemEvent::Hayes(HayesEvent::Online { .. }))
}

fn hung_up(by: HangupBy) -> impl Fn(&ModemEvent) -> bool {
    move |e| *e == ModemEvent::Hayes(HayesEvent::HungUp { by })
}

// ---- tests with the echo ISP ----

#[test]
fn at_commands_dial_outcomes_and_data_through_the_echo_isp() {
    let (on_call, log, ended) = echo_isp();
    let mut b = Bench::start(
        options(hayes(&[
            ("555-0000", Outcome::Busy),
            ("5550001", Outcome::NoDialtone),
        ])),
        on_call,
    );
    let mut c = b.client();
    // Echo is on at first.
    assert_eq!(c.cmd("ATZ", "OK"), "ATZ\r\r\nOK\r\n");
    assert_eq!(c.cmd("ATE0", "OK"), "ATE0\r\r\nOK\r\n");
    assert_eq!(c.cmd("AT", "OK"), "\r\nOK\r\n");
    assert_eq!(c.cmd("ATDT5550000", "BUSY"), "\r\nBUSY\r\n");
    assert_eq!(c.cmd("ATDT555-0001", "NO DIALTONE"), "\r\nNO DIALTONE\r\n");
    assert!(log.calls.lock().unwrap().is_empty());
    assert_eq!(
        c.cmd("ATDT5551234", "CONNECT 57600"),
        "\r\nCONNECT 57600\r\n"
    );
    b.wait_event(is_online);
    assert_eq!(*log.calls.lock().unwrap(), ["5551234"]);

    // Binary data both ways (no escape character in it).
    let data: Vec<u8> = (0..=255u8).filter(|&b| b != b'+').collect();
    c.send(&data);
    assert_eq!(c.read_exact(data.len(), T), data);
    assert_eq!(*log.received.lock().unwrap(), data);

    // +++ with the guard time (1 s by default) on both sides, then ATH.
    std::thread::sleep(Duration::from_millis(1100));
    c.send(b"+++");
    assert_eq!(c.expect("OK\r\n"), "\r\nOK\r\n");
    assert!(ended.try_recv().is_err(), "escaping does not end the call");
    assert_eq!(c.cmd("ATH", "OK"), "\r\nOK\r\n");
    assert_eq!(ended.recv_timeout(T).expect("the ISP sees EOF"), "5551234");
    b.wait_event(hung_up(HangupBy::Dte));
    // The escape never reached the ISP.
    assert_eq!(*log.received.lock().unwrap(), data);
    assert_eq!(c.cmd("AT", "OK"), "\r\nOK\r\n");

    let events = b.drain_events();
    assert!(events.contains(&ModemEvent::Hayes(HayesEvent::Dialed {
        number: "5550000".into()
    })));
    let report = b.stop();
    assert_eq!(report.calls, 1);
    assert_eq!(report.bytes_to_line, data.len() as u64);
    assert_eq!(report.bits_flipped_to_line + report.bits_flipped_to_dte, 0);
}

#[test]
fn hang_up_on_demand_ring_and_dtr() {
    let (on_call, log, ended) = echo_isp();
    let mut b = Bench::start(options(hayes(&[])), on_call);
    let mut c = b.client();
    c.cmd("ATE0", "OK");
    assert_eq!(c.cmd("ATDT1", "CONNECT 57600"), "\r\nCONNECT 57600\r\n");
    b.wait_event(is_online);
    c.send(b"ping");
    assert_eq!(c.read_exact(4, T), b"ping");

    // The remote end hangs up on demand.
    b.command(ModemCommand::HangUp);
    assert_eq!(c.expect("NO CARRIER\r\n"), "\r\nNO CARRIER\r\n");
    b.wait_event(hung_up(HangupBy::Remote));
    assert_eq!(ended.recv_timeout(T).expect("the ISP sees EOF"), "1");

    // An incoming call rings; ATA answers it (an empty number).
    b.command(ModemCommand::Ring);
    assert_eq!(c.expect("RING\r\n"), "\r\nRING\r\n");
    assert_eq!(c.cmd("ATA", "CONNECT 57600"), "\r\nCONNECT 57600\r\n");
    b.wait_event(|e| *e == ModemEvent::Hayes(HayesEvent::Answered));
    b.wait_event(is_online);
    c.send(b"pong");
    assert_eq!(c.read_exact(4, T), b"pong");
    assert_eq!(*log.calls.lock().unwrap(), ["1", ""]);

    // DTR drops (as a harness says it did): NO CARRIER.
    b.command(ModemCommand::Dtr(false));
    assert_eq!(c.expect("NO CARRIER\r\n"), "\r\nNO CARRIER\r\n");
    b.wait_event(hung_up(HangupBy::Dtr));
    assert_eq!(ended.recv_timeout(T).expect("the ISP sees EOF"), "");
    b.command(ModemCommand::Dtr(true));
    assert_eq!(c.cmd("AT", "OK"), "\r\nOK\r\n");
    assert_eq!(b.stop().calls, 2);
}

#[test]
fn the_isp_closing_the_line_is_a_remote_hang_up() {
    // An ISP that drops the line at once.
    let mut b = Bench::start(options(hayes(&[])), |_: &str, line: DuplexStream| {
        drop(line)
    });
    let mut c = b.client();
    c.cmd("ATE0", "OK");
    assert_eq!(
        c.cmd("ATD42", "NO CARRIER"),
        "\r\nCONNECT 57600\r\n\r\nNO CARRIER\r\n"
    );
    b.wait_event(hung_up(HangupBy::Remote));
    assert_eq!(c.cmd("AT", "OK"), "\r\nOK\r\n");
    b.stop();
}

#[test]
fn bit_errors_flip_about_the_expected_number_of_bits() {
    let (on_call, log, _ended) = echo_isp();
    let mut b = Bench::start(
        ModemOptions {
            hayes: hayes(&[]),
            bit_error_rate: 0.01,
            seed: 42,
        },
        on_call,
    );
    let mut c = b.client();
    c.cmd("ATE0", "OK");
    c.cmd("ATD1", "CONNECT 57600");
    b.wait_event(is_online);
    let sent: Vec<u8> = (0..4000u32).map(|i| (i * 7 % 251) as u8).collect();
    for chunk in sent.chunks(500) {
        c.send(chunk);
    }
    let back = c.read_exact(sent.len(), T);
    let at_isp = log.received.lock().unwrap().clone();
    assert_eq!(at_isp.len(), sent.len());
    let diff = |a: &[u8], b: &[u8]| -> u64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| u64::from((x ^ y).count_ones()))
            .sum()
    };
    let to_line = diff(&sent, &at_isp);
    let to_dte = diff(&at_isp, &back);
    // 32 000 bits each way at 1 %: 320 expected, standard deviation ~18.
    for (what, n) in [("to the line", to_line), ("to the DTE", to_dte)] {
        assert!((200..=450).contains(&n), "{n} bits flipped {what}");
    }
    let report = b.stop();
    assert_eq!(report.bits_flipped_to_line, to_line);
    assert_eq!(report.bits_flipped_to_dte, to_dte);
    let events = b.drain_events();
    let counted = |d: Direction| -> u64 {
        events
            .iter()
            .filter_map(|e| match e {
                ModemEvent::BitErrors { direction, bits } if *direction == d => Some(*bits),
                _ => None,
            })
            .sum()
    };
    assert_eq!(counted(Direction::ToLine), to_line);
    assert_eq!(counted(Direction::ToDte), to_dte);
}

#[test]
fn pacing_at_9600_baud_takes_about_a_second_for_960_bytes() {
    let (on_call, _log, _ended) = echo_isp();
    let mut b = Bench::start(
        options(HayesConfig {
            baud: Some(9600),
            ..hayes(&[])
        }),
        on_call,
    );
    let mut c = b.client();
    c.cmd("ATE0", "OK");
    c.cmd("ATD1", "CONNECT 57600");
    b.wait_event(is_online);
    let data = vec![b'x'; 960];
    let start = Instant::now();
    c.send(&data);
    assert_eq!(c.read_exact(960, Duration::from_secs(20)), data);
    let took = start.elapsed();
    // 960 bytes of 10 bits at 9600 bit/s: 1 s to the ISP, the echo
    // pipelined behind it. Only a lower bound: machines are slow at times.
    assert!(took >= Duration::from_millis(950), "took {took:?}");
    b.stop();
}

#[test]
fn closing_and_reopening_the_slave_between_calls() {
    let (on_call, log, ended) = echo_isp();
    let mut b = Bench::start(options(hayes(&[])), on_call);
    for round in 0..3u8 {
        let mut c = b.client();
        // The modem keeps its settings while nobody has it open: echo is
        // off from the previous round, ATZ turns it back on.
        let echo = if round == 0 { "ATZ\r" } else { "" };
        assert_eq!(
            c.cmd("ATZ", "OK"),
            format!("{echo}\r\nOK\r\n"),
            "round {round}"
        );
        // A short guard time (10/50 s) keeps the escape quick.
        c.cmd("ATE0S12=10", "OK");
        let number = format!("77{round}");
        assert_eq!(
            c.cmd(&format!("ATDT{number}"), "CONNECT 57600"),
            "\r\nCONNECT 57600\r\n"
        );
        c.send(&[round; 100]);
        assert_eq!(c.read_exact(100, T), [round; 100]);
        std::thread::sleep(Duration::from_millis(300));
        c.send(b"+++");
        c.expect("OK\r\n");
        c.cmd("ATH", "OK");
        assert_eq!(ended.recv_timeout(T).expect("EOF at the ISP"), number);
        drop(c);
    }
    assert_eq!(*log.calls.lock().unwrap(), ["770", "771", "772"]);
    // And once more after the last close.
    let mut c = b.client();
    assert_eq!(c.cmd("AT", "OK"), "\r\nOK\r\n");
    assert_eq!(b.stop().calls, 3);
}

// ---- slirp behind the modem, a PPP link over the pty ----

/// The result of a slirp call, from the ISP task.
type SlirpResult = io::Result<CallSummary>;

/// A slirp ISP whose call results arrive on the returned channel.
fn slirp_isp(
    opts: SlirpOptions,
) -> (
    impl FnMut(&str, DuplexStream) + Send + 'static,
    std_mpsc::Receiver<SlirpResult>,
) {
    let (tx, rx) = std_mpsc::channel();
    let on_call = move |_: &str, line: DuplexStream| {
        let tx = tx.clone();
        let opts = opts.clone();
        tokio::spawn(async move {
            let _ = tx.send(slirp::serve_call(line, &opts).await);
        });
    };
    (on_call, rx)
}

/// A PPP dialer over the client's serial port.
struct Dialer {
    link: Link,
    start: Instant,
    events: Vec<Event>,
    packets: Vec<Vec<u8>>,
}

impl Dialer {
    fn new(credentials: Option<Credentials>) -> Dialer {
        let mut link = Link::new(Config::default(), Role::Dialer { credentials }, [9; 32]);
        link.open(dialtone_ppp::Instant::ZERO);
        Dialer {
            link,
            start: Instant::now(),
            events: Vec::new(),
            packets: Vec::new(),
        }
    }

    fn now(&self) -> dialtone_ppp::Instant {
        dialtone_ppp::Instant::from_duration(self.start.elapsed())
    }

    /// Runs the link over `c` until `done` or `limit` from now.
    fn run_until(
        &mut self,
        c: &mut Client,
        limit: Duration,
        done: impl Fn(&Dialer) -> bool,
    ) -> bool {
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 4096];
        loop {
            while let Some(n) = self.link.poll_transmit(&mut buf) {
                c.send(&buf[..n]);
            }
            while let Some(e) = self.link.poll_event() {
                self.events.push(e);
            }
            while let Some(p) = self.link.poll_packet() {
                self.packets.push(p.to_vec());
            }
            if done(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            let now = self.now();
            let wait = self
                .link
                .poll_timeout()
                .map(|t| t.saturating_duration_since(now))
                .unwrap_or(Duration::from_millis(50))
                .clamp(Duration::from_millis(1), Duration::from_millis(50));
            if c.read_some(wait) > 0 {
                let input = std::mem::take(&mut c.pending);
                self.link.handle_input(&input, self.now());
            }
            let now = self.now();
            if self.link.poll_timeout().is_some_and(|t| t <= now) {
                self.link.handle_timeout(now);
            }
        }
    }

    fn up(&self) -> Option<&LinkInfo> {
        self.events.iter().rev().find_map(|e| match e {
            Event::Up(i) => Some(i),
            _ => None,
        })
    }

    fn down(&self) -> Option<&DownReason> {
        self.events.iter().find_map(|e| match e {
            Event::Down(r) => Some(r),
            _ => None,
        })
    }

    fn trace(&self) -> String {
        self.events
            .iter()
            .map(|e| format!("  {e:?}\n"))
            .collect::<String>()
    }
}

/// Dials through the modem and brings PPP up with slirp.
fn dial_slirp(b: &mut Bench, c: &mut Client, credentials: Option<Credentials>) -> Dialer {
    c.cmd("ATE0S12=10", "OK");
    assert_eq!(
        c.cmd("ATDT5551234", "CONNECT 57600"),
        "\r\nCONNECT 57600\r\n"
    );
    b.wait_event(is_online);
    let mut d = Dialer::new(credentials);
    let up = d.run_until(c, Duration::from_secs(30), |d| {
        d.up().is_some_and(|i| i.ipv4.is_some()) || d.down().is_some()
    });
    assert!(up && d.down().is_none(), "not up:\n{}", d.trace());
    let v4 = d.up().and_then(|i| i.ipv4.clone()).expect("IPv4");
    assert_eq!(v4.local, Some(CLIENT_ADDR), "{}", d.trace());
    assert_eq!(v4.remote, Some(SLIRP_ADDR));
    assert_eq!(v4.dns, vec![DNS_ADDR]);
    d
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

const SYN: u8 = 0x02;
const PSH_ACK: u8 = 0x18;
const ACK: u8 = 0x10;

/// An IPv4 TCP segment with valid checksums.
fn tcp(
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut seg = Vec::new();
    seg.extend_from_slice(&src.1.to_be_bytes());
    seg.extend_from_slice(&dst.1.to_be_bytes());
    seg.extend_from_slice(&seq.to_be_bytes());
    seg.extend_from_slice(&ack.to_be_bytes());
    seg.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    seg.extend_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src.0.octets());
    pseudo.extend_from_slice(&dst.0.octets());
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
    pseudo.extend_from_slice(&seg);
    let c = checksum(&pseudo);
    seg[16..18].copy_from_slice(&c.to_be_bytes());
    let total = (20 + seg.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0x00, 0x01, 0x40, 0, 64, 6, 0, 0]);
    ip.extend_from_slice(&src.0.octets());
    ip.extend_from_slice(&dst.0.octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&seg);
    ip
}

/// A TCP segment to `port` on us from 10.0.2.2:`from`, parsed:
/// (seq, ack, flags, payload).
fn parse_tcp(packet: &[u8], from: u16, port: u16) -> Option<(u32, u32, u8, Vec<u8>)> {
    if packet.len() < 40 || packet[9] != 6 || packet[12..16] != SLIRP_ADDR.octets() {
        return None;
    }
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]])).min(packet.len());
    let seg = packet.get(ihl..total)?;
    let sport = u16::from_be_bytes([seg[0], seg[1]]);
    let dport = u16::from_be_bytes([seg[2], seg[3]]);
    if sport != from || dport != port {
        return None;
    }
    let seq = u32::from_be_bytes([seg[4], seg[5], seg[6], seg[7]]);
    let ack = u32::from_be_bytes([seg[8], seg[9], seg[10], seg[11]]);
    let off = usize::from(seg[12] >> 4) * 4;
    Some((seq, ack, seg[13], seg.get(off..)?.to_vec()))
}

#[test]
fn slirp_through_the_modem_reaches_a_server_on_the_host_loopback() {
    let work = tempfile::tempdir().expect("tempdir");
    let opts = SlirpOptions {
        work_dir: Some(work.path().to_path_buf()),
        debug_log: true,
        ..SlirpOptions::new(SlirpAuth::None)
    };
    let (on_call, results) = slirp_isp(opts);
    let mut b = Bench::start(options(hayes(&[])), on_call);
    let mut c = b.client();
    let mut d = dial_slirp(&mut b, &mut c, None);

    // A TCP server on 127.0.0.1 in this network namespace, reached through
    // slirp's host alias 10.0.2.2.
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let (got_tx, got_rx) = std_mpsc::channel();
    let server = std::thread::spawn(move || {
        let (mut sock, peer) = listener.accept().expect("accept");
        sock.set_read_timeout(Some(T)).expect("timeout");
        let mut buf = [0u8; 5];
        sock.read_exact(&mut buf).expect("read");
        sock.write_all(b"welcome").expect("write");
        let _ = got_tx.send((buf, peer));
        // Keep the socket until the test ends.
        std::thread::sleep(Duration::from_secs(2));
    });
    let me = (CLIENT_ADDR, 40_000u16);
    let there = (SLIRP_ADDR, port);
    let now = d.now();
    d.link
        .send_ip(&tcp(me, there, 1000, 0, SYN, &[]), now)
        .expect("send SYN");
    let synack = |d: &Dialer| {
        d.packets
            .iter()
            .find_map(|p| parse_tcp(p, port, 40_000).filter(|s| s.2 & 0x12 == 0x12))
    };
    assert!(
        d.run_until(&mut c, Duration::from_secs(20), |d| synack(d).is_some()),
        "no SYN-ACK from 10.0.2.2:{port}:\n{}",
        d.trace()
    );
    let (their_seq, their_ack, _, _) = synack(&d).expect("SYN-ACK");
    assert_eq!(their_ack, 1001);
    let now = d.now();
    d.link
        .send_ip(
            &tcp(
                me,
                there,
                1001,
                their_seq.wrapping_add(1),
                PSH_ACK,
                b"hello",
            ),
            now,
        )
        .expect("send data");
    let welcome = |d: &Dialer| {
        d.packets
            .iter()
            .any(|p| parse_tcp(p, port, 40_000).is_some_and(|s| s.3 == b"welcome"))
    };
    assert!(
        d.run_until(&mut c, Duration::from_secs(20), welcome),
        "no data from the server:\n{}",
        d.trace()
    );
    let (hello, peer) = got_rx.recv_timeout(T).expect("the server got data");
    assert_eq!(&hello, b"hello");
    assert!(peer.ip().is_loopback(), "{peer}");
    let now = d.now();
    d.link
        .send_ip(
            &tcp(me, there, 1006, their_seq.wrapping_add(8), ACK, &[]),
            now,
        )
        .expect("send ACK");
    d.run_until(&mut c, Duration::from_millis(200), |_| false);

    // The modem hangs up: slirp is killed and its directory goes.
    std::thread::sleep(Duration::from_millis(300));
    c.send(b"+++");
    c.expect("OK\r\n");
    assert_eq!(c.cmd("ATH", "OK"), "\r\nOK\r\n");
    let summary = results
        .recv_timeout(T)
        .expect("the call ends")
        .expect("slirp ran");
    assert_eq!(summary.ended, CallEnd::LineClosed);
    assert!(summary.stderr.contains("SLiRP Ready"), "{}", summary.stderr);
    assert!(
        summary.ppp_debug_log.contains("10.0.2.15"),
        "{}",
        summary.ppp_debug_log
    );
    let left: Vec<_> = std::fs::read_dir(work.path())
        .expect("read work dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(
        left.len() == 1 && left[0].to_string_lossy().starts_with("dialtone-sim-shim-"),
        "only the shim cache is left: {left:?}"
    );
    let _ = server.join();
    b.stop();
}

#[test]
fn slirp_with_chap_then_slirp_exiting_is_a_remote_hang_up() {
    let work = tempfile::tempdir().expect("tempdir");
    let (on_call, results) = slirp_isp(SlirpOptions {
        work_dir: Some(work.path().to_path_buf()),
        ..SlirpOptions::new(SlirpAuth::Chap {
            user: "ppp".into(),
            password: "s3cret".into(),
        })
    });
    let mut b = Bench::start(options(hayes(&[])), on_call);
    let mut c = b.client();
    let credentials = Some(Credentials {
        user: "ppp".into(),
        password: "s3cret".into(),
    });
    let mut d = dial_slirp(&mut b, &mut c, credentials);
    assert_eq!(
        d.up().map(|i| i.auth),
        Some(Some(AuthMethod::ChapMd5)),
        "{}",
        d.trace()
    );
    // Close PPP politely, then hang up with +++ and ATH.
    let now = d.now();
    d.link.close("User request", now);
    assert!(d.run_until(&mut c, Duration::from_secs(20), |d| d.down().is_some()));
    assert_eq!(d.down(), Some(&DownReason::LocalClose), "{}", d.trace());
    std::thread::sleep(Duration::from_millis(300));
    c.send(b"+++");
    c.expect("OK\r\n");
    assert_eq!(c.cmd("ATH", "OK"), "\r\nOK\r\n");
    let summary = results.recv_timeout(T).expect("call ends").expect("ran");
    assert_eq!(summary.ended, CallEnd::LineClosed);

    // A second call: this time slirp is the one to go (killed from
    // outside, as if it crashed): the modem says NO CARRIER.
    assert_eq!(
        c.cmd("ATDT5551234", "CONNECT 57600"),
        "\r\nCONNECT 57600\r\n"
    );
    let slirp_pid = wait_for_slirp(work.path());
    // SAFETY: a plain system call.
    unsafe { libc::kill(slirp_pid, libc::SIGKILL) };
    assert_eq!(c.expect("NO CARRIER\r\n"), "\r\nNO CARRIER\r\n");
    b.wait_event(hung_up(HangupBy::Remote));
    let summary = results.recv_timeout(T).expect("call ends").expect("ran");
    assert_eq!(summary.ended, CallEnd::SlirpExited);
    b.stop();
}

/// The pid of a slirp that is our child and runs in a directory under
/// `work` (waits for it to appear).
fn wait_for_slirp(work: &Path) -> libc::pid_t {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let deadline = Instant::now() + T;
    loop {
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<libc::pid_t>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // pid (comm) state ppid ...
            let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
                continue;
            };
            let ppid = rest
                .split(' ')
                .nth(1)
                .and_then(|p| p.parse::<libc::pid_t>().ok());
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"));
            if stat.contains("(slirp)")
                && ppid == Some(me)
                && cwd.is_ok_and(|d| d.starts_with(work))
            {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "no slirp child appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- the program ----

/// The program's standard output, line by line.
struct Program {
    child: std::process::Child,
    lines: std_mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Program {
    fn start(args: &[&str]) -> Program {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dialtone-sim"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dialtone-sim");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std_mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Program {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line starting with `prefix`; returns it.
    fn wait_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => panic!("no line {prefix:?}; got {:?}", self.seen),
            }
        }
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: a plain system call on our own child.
        unsafe { libc::kill(pid, sig) };
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_program_dials_through_its_link_and_answers_signals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("ttySIM");
    let link_s = link.to_str().expect("utf-8 path");
    let mut p = Program::start(&[
        "--link",
        link_s,
        "--number",
        "555-0000=busy",
        "--dial-delay-ms",
        "50",
        "--isp",
        "slirp",
    ]);
    let ready = p.wait_line("ready ");
    assert!(ready.ends_with(&format!(" -> {link_s}")), "{ready}");
    let slave = ready
        .strip_prefix("ready ")
        .and_then(|r| r.split(" -> ").next())
        .expect("slave path");
    assert_eq!(std::fs::read_link(&link).expect("link"), Path::new(slave));

    let mut c = Client::open(&link);
    assert_eq!(c.cmd("ATE0", "OK"), "ATE0\r\r\nOK\r\n");
    assert_eq!(c.cmd("ATDT5550000", "BUSY"), "\r\nBUSY\r\n");
    assert_eq!(p.wait_line("dialed"), "dialed 5550000");
    assert_eq!(c.cmd("ATDT123", "CONNECT 57600"), "\r\nCONNECT 57600\r\n");
    assert_eq!(p.wait_line("dialed"), "dialed 123");
    assert_eq!(p.wait_line("online"), "online 57600");
    assert_eq!(p.wait_line("call "), "call 123 -> slirp");

    // SIGUSR1: the remote hangs up.
    p.signal(libc::SIGUSR1);
    assert_eq!(c.expect("NO CARRIER\r\n"), "\r\nNO CARRIER\r\n");
    assert_eq!(p.wait_line("hung up"), "hung up (remote)");
    p.wait_line("call ended");

    // SIGUSR2: it rings.
    p.signal(libc::SIGUSR2);
    assert_eq!(c.expect("RING\r\n"), "\r\nRING\r\n");
    p.wait_line("ring");
    drop(c);

    // SIGTERM: a clean exit, the link removed.
    p.signal(libc::SIGTERM);
    let deadline = Instant::now() + T;
    let status = loop {
        if let Some(status) = p.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "dialtone-sim did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    assert!(std::fs::symlink_metadata(&link).is_err(), "link removed");
}

#[test]
fn the_program_rejects_bad_arguments_with_status_2() {
    for (args, needle) in [
        (
            &["--link", "/tmp/x", "--isp", "slirp", "--baud", "fast"][..],
            "--baud",
        ),
        (&["--link", "/tmp/x"][..], "--isp"),
        (
            &["--link", "/tmp/x", "--isp", "slirp", "--number", "1=maybe"][..],
            "outcome",
        ),
        (&["--bogus"][..], "unknown option --bogus"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_dialtone-sim"))
            .args(args)
            .output()
            .expect("run dialtone-sim");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: dialtone-sim"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    let help = Command::new(env!("CARGO_BIN_EXE_dialtone-sim"))
        .arg("--help")
        .output()
        .expect("run dialtone-sim");
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--isp slirp"));
}
