//! A simulated Hayes-style modem, sans-IO and deterministic.
//!
//! [`Hayes`] is the pure state machine of a dial-up modem in the style of
//! [`dialtone_ppp::Link`]: it never reads a clock nor touches a file
//! descriptor. The caller feeds it bytes from the two sides, the current
//! [`Instant`], and drains what it has to say:
//!
//! ```text
//!   let mut modem = Hayes::new(HayesConfig::default());
//!   loop {
//!       modem.handle_dte_input(bytes_from_computer, now);   // AT commands, then data
//!       modem.handle_line_input(bytes_from_remote, now);    // the ISP, while online
//!       modem.handle_timeout(now);                          // at poll_timeout()
//!       while let Some(b) = modem.poll_dte() { pty.write(&b) }
//!       while let Some(b) = modem.poll_line() { isp.input(&b) }
//!       while let Some(ev) = modem.poll_event() { ... }
//!       dcd.set(modem.carrier());
//!   }
//! ```
//!
//! The two sides are the **DTE** (the computer: AT commands, then PPP
//! bytes once connected) and the **line** (the remote end reached when a
//! call connects). In command mode the modem parses command lines from the
//! DTE and answers with result codes; online, bytes pass between the two
//! sides untouched until the `+++` escape (with guard times), a hang-up by
//! either end, or DTR dropping.
//!
//! What a number does when dialled is scripted by [`HayesConfig::numbers`]
//! (an [`Outcome`] per number, [`HayesConfig::default_outcome`] for the
//! rest), reported after [`HayesConfig::dial_delay`] of virtual time.
//!
//! Behaviour worth knowing, modelled on real modems:
//!
//! * Every byte is echoed in command mode while `E1` (the default), except
//!   `\n`, which is ignored; backspace (`S5`, or 0x7f) erases and echoes
//!   `"\x08 \x08"`. Other control characters are dropped.
//! * Lines that do not start with `AT` (after leading spaces) are ignored
//!   silently, as a real modem hunts for `AT`; lines that do but hold an
//!   unknown command answer `ERROR`. Commands before the bad one have
//!   taken effect. Lines longer than 256 bytes answer `ERROR`.
//! * `A/` repeats the last command line at once (no carriage return).
//! * `ATH` hangs up and answers `OK` (not `NO CARRIER`); a hang-up by the
//!   remote or by DTR is reported with `NO CARRIER`.
//! * Any byte (other than the `\n` right after the command's `\r`) while a
//!   dial is in progress aborts it with `NO CARRIER`.
//! * The escape characters are held back, not sent to the line: if the
//!   escape does not complete they are sent late, in order; if it does, the
//!   remote never sees them. Line data arriving in online command mode
//!   (after `+++`) is discarded.
//! * `ATX0`..`ATX4` select the result-code set as on a Hayes: `X0` shows
//!   `CONNECT` without a speed and reports busy/no-dial-tone/no-answer as
//!   `NO CARRIER`; `X1` adds speeds; `X2` adds `NO DIALTONE`; `X3` adds
//!   `BUSY`; `X4` (the default) shows all.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use dialtone_ppp::Instant;

/// The longest command line accepted, in bytes (including `AT`).
pub const MAX_COMMAND_LINE: usize = 256;

/// Carriage return, the default `S3`.
const CR: u8 = b'\r';
/// Line feed, the default `S4`.
const LF: u8 = b'\n';
/// Backspace, the default `S5`.
const BS: u8 = 0x08;
/// Delete, also accepted as backspace.
const DEL: u8 = 0x7f;

/// What dialling a number leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call connects at `speed` bits per second (`CONNECT <speed>`).
    Connect {
        /// The connection speed reported in `CONNECT`.
        speed: u32,
    },
    /// The line is busy (`BUSY`).
    Busy,
    /// No carrier was detected (`NO CARRIER`).
    NoCarrier,
    /// The remote did not answer (`NO ANSWER`).
    NoAnswer,
    /// No dial tone on the line (`NO DIALTONE`).
    NoDialtone,
    /// The modem reports `ERROR`.
    Error,
}

/// The configuration of a simulated modem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HayesConfig {
    /// The identity text answered to `ATI` / `ATI0`.
    pub identity: String,
    /// The manufacturer (`AT+GMI`, `AT+CGMI`).
    pub manufacturer: String,
    /// The model (`AT+GMM`, `AT+CGMM`).
    pub model: String,
    /// The revision (`AT+GMR`, `AT+CGMR`, `ATI1`).
    pub revision: String,
    /// The serial number (`AT+GSN`, `AT+CGSN`).
    pub serial: String,
    /// What each number leads to when dialled. Keys are compared after
    /// dropping dial modifiers (`T`, `P`, `W`, `,`, spaces, `-`, ...), so
    /// `"555-1234"` matches `ATDT5551234`.
    pub numbers: BTreeMap<String, Outcome>,
    /// What numbers missing from [`HayesConfig::numbers`] lead to.
    pub default_outcome: Outcome,
    /// The virtual time between `ATD` and its result.
    pub dial_delay: Duration,
    /// Pacing: bytes to the DTE and to the line are released at this rate
    /// (10 bits per byte). `None` (or zero) releases them at once.
    pub baud: Option<u32>,
    /// Latency added to data crossing the call, in both directions.
    pub latency: Duration,
    /// The time between two `RING`s of an incoming call (at least 1 ms).
    pub ring_interval: Duration,
    /// The speed reported when answering an incoming call.
    pub answer_speed: u32,
}

impl Default for HayesConfig {
    fn default() -> Self {
        HayesConfig {
            identity: "Dialtone Virtual Modem".to_owned(),
            manufacturer: "Dialtone".to_owned(),
            model: "Virtual Modem".to_owned(),
            revision: env!("CARGO_PKG_VERSION").to_owned(),
            serial: "DT0000000001".to_owned(),
            numbers: BTreeMap::new(),
            default_outcome: Outcome::Connect { speed: 57600 },
            dial_delay: Duration::from_secs(2),
            baud: None,
            latency: Duration::ZERO,
            ring_interval: Duration::from_secs(6),
            answer_speed: 57600,
        }
    }
}

/// Who ended a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HangupBy {
    /// The computer, with `ATH` or `ATZ`.
    Dte,
    /// The remote end ([`Hayes::remote_hangup`]).
    Remote,
    /// DTR dropped ([`Hayes::set_dtr`]) with `&D2` or `&D3`.
    Dtr,
}

/// Something that happened, for a test or demo harness.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HayesEvent {
    /// `ATD` dialled this number (modifiers dropped).
    Dialed {
        /// The number as looked up in [`HayesConfig::numbers`].
        number: String,
    },
    /// The modem entered data mode: a call connected or was answered, or
    /// `ATO` returned online.
    Online {
        /// The speed reported in `CONNECT`.
        speed: u32,
    },
    /// A call ended.
    HungUp {
        /// Who ended it.
        by: HangupBy,
    },
    /// An incoming call rang.
    Ring,
    /// An incoming call was answered (by `ATA` or auto-answer).
    Answered,
}

/// Result codes, with their `ATV0` numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Code {
    Ok,
    Connect(u32),
    Ring,
    NoCarrier,
    Error,
    NoDialtone,
    Busy,
    NoAnswer,
}

impl Code {
    fn number(self) -> u8 {
        match self {
            Code::Ok => 0,
            Code::Connect(_) => 1,
            Code::Ring => 2,
            Code::NoCarrier => 3,
            Code::Error => 4,
            Code::NoDialtone => 6,
            Code::Busy => 7,
            Code::NoAnswer => 8,
        }
    }
}

/// The settings `ATZ` and `AT&F` restore.
#[derive(Clone, Debug)]
struct Settings {
    echo: bool,
    verbose: bool,
    quiet: bool,
    /// `ATX` result-code set, 0..=4.
    x: u8,
    /// `AT&D`: 0 ignore DTR, 1 escape, 2 hang up, 3 hang up and reset.
    dtr_mode: u8,
    regs: [u8; 256],
}

impl Default for Settings {
    fn default() -> Self {
        let mut regs = [0u8; 256];
        regs[2] = b'+'; // escape character
        regs[3] = CR; // line terminator
        regs[4] = LF; // response formatting
        regs[5] = BS; // backspace
        regs[6] = 2; // wait for dial tone, s
        regs[7] = 50; // wait for carrier, s
        regs[8] = 2; // comma pause, s
        regs[9] = 6; // carrier detect, 1/10 s
        regs[10] = 14; // carrier loss, 1/10 s
        regs[11] = 95; // DTMF duration, ms
        regs[12] = 50; // escape guard time, 1/50 s
        Settings {
            echo: true,
            verbose: true,
            quiet: false,
            x: 4,
            dtr_mode: 2,
            regs,
        }
    }
}

/// The modem's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Command mode, no call.
    Idle,
    /// `ATD` in progress; the outcome is reported at `due`.
    Dialing { due: Instant, outcome: Outcome },
    /// Data mode: bytes pass between the DTE and the line.
    Online,
    /// Command mode with the call up (after `+++`).
    Escaped,
}

/// How a command ended a line.
enum Step {
    /// Parse the next command.
    Continue,
    /// The line is done; report this result, if any.
    Done(Option<Code>),
}

/// Bytes queued for one side, with the time each may be released.
#[derive(Debug)]
struct Segment {
    /// When release starts: unpaced, every byte then; paced, byte `k`
    /// (from 1) at `start + byte_span(baud, k)`.
    start: Instant,
    data: Vec<u8>,
    released: usize,
}

/// One direction of output: paced and delayed bytes become ready over time.
#[derive(Debug, Default)]
struct Pipe {
    ready: Vec<u8>,
    pending: VecDeque<Segment>,
    /// When the last queued byte is released.
    free_at: Instant,
}

/// The time `n` bytes take at `baud` (10 bits each), rounded up.
fn byte_span(baud: u32, n: usize) -> Duration {
    let bits = (n as u128).saturating_mul(10_000_000_000);
    let baud = u128::from(baud.max(1));
    let nanos = bits.div_ceil(baud);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// How many bytes fit in `elapsed` at `baud`.
fn bytes_in(baud: u32, elapsed: Duration) -> usize {
    let n = elapsed.as_nanos().saturating_mul(u128::from(baud)) / 10_000_000_000;
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl Pipe {
    /// Queues `data`, released from `at` on (after what is already queued).
    fn push(&mut self, data: &[u8], at: Instant, baud: Option<u32>) {
        if data.is_empty() {
            return;
        }
        let start = at.max(self.free_at);
        let contiguous = start == self.free_at;
        match self.pending.back_mut() {
            Some(last) if contiguous && (baud.is_some() || last.start == start) => {
                last.data.extend_from_slice(data);
                if let Some(b) = baud {
                    self.free_at = last.start + byte_span(b, last.data.len());
                }
            }
            _ => {
                self.free_at = match baud {
                    Some(b) => start + byte_span(b, data.len()),
                    None => start,
                };
                self.pending.push_back(Segment {
                    start,
                    data: data.to_vec(),
                    released: 0,
                });
            }
        }
    }

    /// Moves the bytes due at `now` to `ready`.
    fn release(&mut self, now: Instant, baud: Option<u32>) {
        while let Some(seg) = self.pending.front_mut() {
            if now < seg.start {
                break;
            }
            let due = match baud {
                None => seg.data.len(),
                Some(b) => bytes_in(b, now - seg.start).min(seg.data.len()),
            };
            if due > seg.released {
                if let Some(bytes) = seg.data.get(seg.released..due) {
                    self.ready.extend_from_slice(bytes);
                }
                seg.released = due;
            }
            if seg.released >= seg.data.len() {
                self.pending.pop_front();
            } else {
                break;
            }
        }
    }

    /// When the next byte becomes ready.
    fn next_deadline(&self, baud: Option<u32>) -> Option<Instant> {
        let seg = self.pending.front()?;
        Some(match baud {
            None => seg.start,
            Some(b) => seg.start + byte_span(b, seg.released.saturating_add(1)),
        })
    }

    /// Drops what has not been released yet.
    fn discard_pending(&mut self, now: Instant) {
        self.pending.clear();
        self.free_at = self.free_at.min(now);
    }

    fn take_ready(&mut self) -> Option<Vec<u8>> {
        if self.ready.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.ready))
        }
    }
}

/// The simulated modem. See the [module documentation](self).
#[derive(Debug)]
pub struct Hayes {
    config: HayesConfig,
    settings: Settings,
    state: State,
    now: Instant,
    dtr: bool,
    /// The command line being typed.
    cmd: Vec<u8>,
    /// The command line grew past [`MAX_COMMAND_LINE`].
    overflow: bool,
    /// Drop a `\n` if it is the next byte (after a command's `\r`).
    swallow_lf: bool,
    /// The last command line, for `A/`.
    last_cmd: Vec<u8>,
    /// The last number dialled, for `ATDL`.
    last_number: Option<String>,
    /// `AT+CGDCONT=` arguments, as given.
    pdp_context: Option<String>,
    /// The speed of the call in progress.
    speed: u32,
    /// An incoming call is ringing; the next `RING` is due then.
    next_ring: Option<Instant>,
    /// Online: when the DTE last sent a byte (or the modem went online).
    last_dte_rx: Instant,
    /// Online: escape characters held back, and when the last arrived.
    plus: u8,
    plus_last: Instant,
    /// Online: DTE bytes for the line, gathered during one input call.
    scratch: Vec<u8>,
    dte: Pipe,
    line: Pipe,
    events: VecDeque<HayesEvent>,
}

impl Hayes {
    /// A modem in command mode, on hook, DTR on.
    pub fn new(mut config: HayesConfig) -> Self {
        if config.baud == Some(0) {
            config.baud = None;
        }
        config.ring_interval = config.ring_interval.max(Duration::from_millis(1));
        Hayes {
            config,
            settings: Settings::default(),
            state: State::Idle,
            now: Instant::ZERO,
            dtr: true,
            cmd: Vec::new(),
            overflow: false,
            swallow_lf: false,
            last_cmd: Vec::new(),
            last_number: None,
            pdp_context: None,
            speed: 0,
            next_ring: None,
            last_dte_rx: Instant::ZERO,
            plus: 0,
            plus_last: Instant::ZERO,
            scratch: Vec::new(),
            dte: Pipe::default(),
            line: Pipe::default(),
            events: VecDeque::new(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &HayesConfig {
        &self.config
    }

    /// Bytes from the computer: command lines in command mode, data online.
    pub fn handle_dte_input(&mut self, bytes: &[u8], now: Instant) {
        self.advance(now);
        for &b in bytes {
            if std::mem::take(&mut self.swallow_lf) && b == LF {
                continue;
            }
            match self.state {
                State::Online => self.online_byte(b),
                State::Dialing { .. } => {
                    self.state = State::Idle;
                    self.result(Code::NoCarrier);
                }
                State::Idle | State::Escaped => self.command_byte(b),
            }
        }
        self.flush_scratch();
        self.advance(now);
    }

    /// Bytes from the remote end: delivered to the DTE while online,
    /// discarded otherwise.
    pub fn handle_line_input(&mut self, bytes: &[u8], now: Instant) {
        self.advance(now);
        if self.state == State::Online {
            let at = self.now + self.config.latency;
            self.dte.push(bytes, at, self.config.baud);
        }
        self.advance(now);
    }

    /// Runs whatever timers are due at `now`: dial results, the escape
    /// guard time, rings, and paced output.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    /// The earliest time at which [`Hayes::handle_timeout`] has work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let dial = match self.state {
            State::Dialing { due, .. } => Some(due),
            _ => None,
        };
        let escape = (self.state == State::Online && self.plus > 0)
            .then(|| self.plus_last + self.guard_time());
        let ring = if self.state == State::Idle {
            self.next_ring
        } else {
            None
        };
        [
            dial,
            escape,
            ring,
            self.dte.next_deadline(self.config.baud),
            self.line.next_deadline(self.config.baud),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Bytes for the computer, if any are ready.
    #[must_use]
    pub fn poll_dte(&mut self) -> Option<Vec<u8>> {
        self.dte.take_ready()
    }

    /// Bytes for the remote end, if any are ready.
    #[must_use]
    pub fn poll_line(&mut self) -> Option<Vec<u8>> {
        self.line.take_ready()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<HayesEvent> {
        self.events.pop_front()
    }

    /// DTR from the computer. Dropping it acts per `AT&D`: `&D0` ignores
    /// it, `&D1` escapes to command mode, `&D2` (the default) hangs up
    /// (`NO CARRIER`, [`HangupBy::Dtr`]) or aborts a dial, `&D3` also
    /// resets the settings.
    pub fn set_dtr(&mut self, on: bool, now: Instant) {
        self.advance(now);
        let dropped = self.dtr && !on;
        self.dtr = on;
        if dropped {
            match self.settings.dtr_mode {
                0 => {}
                1 => {
                    if self.state == State::Online {
                        self.escape();
                    }
                }
                mode => {
                    if self.carrier() {
                        self.hang_up(HangupBy::Dtr, true);
                    } else if matches!(self.state, State::Dialing { .. }) {
                        self.state = State::Idle;
                        self.result(Code::NoCarrier);
                    }
                    if mode == 3 {
                        self.settings = Settings::default();
                    }
                }
            }
        }
        self.advance(now);
    }

    /// Whether DTR is on (it is at first).
    pub fn dtr(&self) -> bool {
        self.dtr
    }

    /// The remote end hangs up: a call in progress ends with `NO CARRIER`
    /// and [`HangupBy::Remote`]; an incoming call stops ringing.
    pub fn remote_hangup(&mut self, now: Instant) {
        self.advance(now);
        if self.carrier() {
            self.hang_up(HangupBy::Remote, true);
        } else {
            self.next_ring = None;
        }
        self.advance(now);
    }

    /// A call comes in: `RING` now and every
    /// [`HayesConfig::ring_interval`] until `ATA`, auto-answer after `S0`
    /// rings (when non-zero), or [`Hayes::remote_hangup`]. Ignored unless
    /// the modem is idle and not already ringing.
    pub fn incoming_call(&mut self, now: Instant) {
        self.advance(now);
        if self.state == State::Idle && self.next_ring.is_none() {
            self.settings.regs[1] = 0;
            self.next_ring = Some(self.now);
        }
        self.advance(now);
    }

    /// Whether an incoming call is ringing.
    pub fn is_ringing(&self) -> bool {
        self.state == State::Idle && self.next_ring.is_some()
    }

    /// Carrier detect: a call is up (online or in online command mode).
    pub fn carrier(&self) -> bool {
        matches!(self.state, State::Online | State::Escaped)
    }

    /// Whether the modem is in data mode.
    pub fn is_online(&self) -> bool {
        self.state == State::Online
    }

    /// The value of S-register `n`.
    pub fn s_register(&self, n: u8) -> u8 {
        self.settings.regs[usize::from(n)]
    }

    // ---- time ----

    fn guard_time(&self) -> Duration {
        Duration::from_millis(u64::from(self.settings.regs[12]) * 20)
    }

    /// Moves the clock to `now` (never backwards), fires due timers and
    /// releases due output.
    fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let now = self.now;
        if let State::Dialing { due, outcome } = self.state {
            if due <= now {
                self.dial_result(outcome);
            }
        }
        if self.state == State::Online && self.plus > 0 && self.plus_last + self.guard_time() <= now
        {
            if self.plus == 3 {
                self.escape();
            } else {
                self.flush_plus();
                self.last_dte_rx = self.plus_last;
                self.flush_scratch();
            }
        }
        if self.state == State::Idle {
            if let Some(next) = self.next_ring {
                if next <= now {
                    self.ring();
                }
            }
        }
        self.dte.release(now, self.config.baud);
        self.line.release(now, self.config.baud);
    }

    // ---- output ----

    fn send_dte(&mut self, bytes: &[u8]) {
        self.dte.push(bytes, self.now, self.config.baud);
    }

    fn flush_scratch(&mut self) {
        if !self.scratch.is_empty() {
            let data = std::mem::take(&mut self.scratch);
            let at = self.now + self.config.latency;
            self.line.push(&data, at, self.config.baud);
            self.scratch = data;
            self.scratch.clear();
        }
    }

    fn flush_plus(&mut self) {
        let esc = self.settings.regs[2];
        for _ in 0..self.plus {
            self.scratch.push(esc);
        }
        self.plus = 0;
    }

    /// An information response.
    fn info(&mut self, text: &str) {
        let (cr, lf) = (self.settings.regs[3], self.settings.regs[4]);
        let mut out = Vec::with_capacity(text.len() + 4);
        if self.settings.verbose {
            out.extend_from_slice(&[cr, lf]);
        }
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(&[cr, lf]);
        self.send_dte(&out);
    }

    /// A result code, in the form `ATV`, `ATQ` and `ATX` select.
    fn result(&mut self, code: Code) {
        if self.settings.quiet {
            return;
        }
        let x = self.settings.x;
        let code = match code {
            Code::NoDialtone if x != 2 && x != 4 => Code::NoCarrier,
            Code::Busy if x < 3 => Code::NoCarrier,
            Code::NoAnswer if x == 0 => Code::NoCarrier,
            c => c,
        };
        let (cr, lf) = (self.settings.regs[3], self.settings.regs[4]);
        let mut out = Vec::new();
        if self.settings.verbose {
            let text = match code {
                Code::Ok => "OK".to_owned(),
                Code::Connect(speed) if x >= 1 => format!("CONNECT {speed}"),
                Code::Connect(_) => "CONNECT".to_owned(),
                Code::Ring => "RING".to_owned(),
                Code::NoCarrier => "NO CARRIER".to_owned(),
                Code::Error => "ERROR".to_owned(),
                Code::NoDialtone => "NO DIALTONE".to_owned(),
                Code::Busy => "BUSY".to_owned(),
                Code::NoAnswer => "NO ANSWER".to_owned(),
            };
            out.extend_from_slice(&[cr, lf]);
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(&[cr, lf]);
        } else {
            out.extend_from_slice(code.number().to_string().as_bytes());
            out.push(cr);
        }
        self.send_dte(&out);
    }

    fn echo(&mut self, bytes: &[u8]) {
        if self.settings.echo {
            self.send_dte(bytes);
        }
    }

    // ---- calls ----

    fn go_online(&mut self, speed: u32) {
        self.state = State::Online;
        self.next_ring = None;
        self.speed = speed;
        self.last_dte_rx = self.now;
        self.plus = 0;
        self.result(Code::Connect(speed));
        self.events.push_back(HayesEvent::Online { speed });
    }

    fn escape(&mut self) {
        self.plus = 0;
        self.state = State::Escaped;
        self.result(Code::Ok);
    }

    fn hang_up(&mut self, by: HangupBy, announce: bool) {
        self.state = State::Idle;
        self.plus = 0;
        self.scratch.clear();
        self.line.discard_pending(self.now);
        self.events.push_back(HayesEvent::HungUp { by });
        if announce {
            self.result(Code::NoCarrier);
        }
    }

    fn dial_result(&mut self, outcome: Outcome) {
        self.state = State::Idle;
        match outcome {
            Outcome::Connect { speed } => self.go_online(speed),
            Outcome::Busy => self.result(Code::Busy),
            Outcome::NoCarrier => self.result(Code::NoCarrier),
            Outcome::NoAnswer => self.result(Code::NoAnswer),
            Outcome::NoDialtone => self.result(Code::NoDialtone),
            Outcome::Error => self.result(Code::Error),
        }
    }

    fn ring(&mut self) {
        self.settings.regs[1] = self.settings.regs[1].saturating_add(1);
        self.next_ring = Some(self.now + self.config.ring_interval);
        self.result(Code::Ring);
        self.events.push_back(HayesEvent::Ring);
        let s0 = self.settings.regs[0];
        if s0 > 0 && self.settings.regs[1] >= s0 {
            self.answer();
        }
    }

    fn answer(&mut self) {
        self.next_ring = None;
        self.events.push_back(HayesEvent::Answered);
        self.go_online(self.config.answer_speed);
    }

    // ---- data mode ----

    fn online_byte(&mut self, b: u8) {
        let esc = self.settings.regs[2];
        let escapable = esc <= 127 && b == esc;
        if self.plus > 0 {
            if escapable && self.plus < 3 {
                self.plus += 1;
                self.plus_last = self.now;
                return;
            }
            self.flush_plus();
        } else if escapable && self.now - self.last_dte_rx >= self.guard_time() {
            self.plus = 1;
            self.plus_last = self.now;
            return;
        }
        self.scratch.push(b);
        self.last_dte_rx = self.now;
    }

    // ---- command mode ----

    fn command_byte(&mut self, b: u8) {
        let regs = &self.settings.regs;
        let (cr, bs) = (regs[3], regs[5]);
        if b == cr {
            self.echo(&[b]);
            self.swallow_lf = true;
            let line = std::mem::take(&mut self.cmd);
            let overflow = std::mem::take(&mut self.overflow);
            self.command_line(line, overflow);
        } else if b == LF {
            // ignored
        } else if b == bs || b == DEL {
            if self.cmd.pop().is_some() {
                self.echo(&[BS, b' ', BS]);
            }
        } else if b < 0x20 {
            // other control characters are ignored
        } else {
            self.echo(&[b]);
            if self.cmd.len() < MAX_COMMAND_LINE {
                self.cmd.push(b);
            } else {
                self.overflow = true;
            }
            if !self.overflow && self.cmd.len() == 2 && self.cmd.eq_ignore_ascii_case(b"a/") {
                self.cmd.clear();
                let line = self.last_cmd.clone();
                self.command_line(line, false);
            }
        }
    }

    fn command_line(&mut self, line: Vec<u8>, overflow: bool) {
        let start = line.iter().take_while(|&&c| c == b' ').count();
        let line = line.get(start..).unwrap_or_default();
        if line.len() < 2 || !line[..2].eq_ignore_ascii_case(b"AT") {
            return;
        }
        if overflow {
            self.result(Code::Error);
            return;
        }
        self.last_cmd = line.to_vec();
        let cmds = &line[2..];
        let mut i = 0;
        loop {
            match self.command(cmds, &mut i) {
                Ok(Step::Continue) => {}
                Ok(Step::Done(code)) => {
                    if let Some(code) = code {
                        self.result(code);
                    }
                    return;
                }
                Err(()) => {
                    self.result(Code::Error);
                    return;
                }
            }
        }
    }

    /// Runs the command at `cmds[*i..]`, moving `*i` past it.
    fn command(&mut self, cmds: &[u8], i: &mut usize) -> Result<Step, ()> {
        while matches!(cmds.get(*i), Some(b' ' | b';')) {
            *i += 1;
        }
        let Some(&c) = cmds.get(*i) else {
            return Ok(Step::Done(Some(Code::Ok)));
        };
        *i += 1;
        match c.to_ascii_uppercase() {
            b'A' => {
                if self.state != State::Idle {
                    return Err(());
                }
                if self.next_ring.is_some() {
                    self.answer();
                    return Ok(Step::Done(None));
                }
                return Ok(Step::Done(Some(Code::NoCarrier)));
            }
            b'D' => return self.dial(cmds, i),
            b'E' => self.settings.echo = arg(cmds, i, 1)? == 1,
            b'V' => self.settings.verbose = arg(cmds, i, 1)? == 1,
            b'Q' => self.settings.quiet = arg(cmds, i, 1)? == 1,
            b'X' => self.settings.x = u8::try_from(arg(cmds, i, 4)?).map_err(|_| ())?,
            b'L' | b'M' => {
                arg(cmds, i, 3)?;
            }
            b'B' => {
                arg(cmds, i, 1)?;
            }
            b'W' => {
                arg(cmds, i, 2)?;
            }
            b'T' | b'P' => {}
            b'H' => {
                if arg(cmds, i, 1)? == 0 && self.carrier() {
                    self.hang_up(HangupBy::Dte, false);
                }
            }
            b'O' => {
                arg(cmds, i, 1)?;
                if self.state == State::Escaped {
                    self.go_online(self.speed);
                    return Ok(Step::Done(None));
                }
                return Ok(Step::Done(Some(Code::NoCarrier)));
            }
            b'Z' => {
                arg(cmds, i, 1)?;
                if self.carrier() {
                    self.hang_up(HangupBy::Dte, false);
                }
                self.settings = Settings::default();
            }
            b'I' => {
                let text = match arg(cmds, i, 9)? {
                    1 => self.config.revision.clone(),
                    3 => format!(
                        "{} {} {}",
                        self.config.manufacturer, self.config.model, self.config.revision
                    ),
                    _ => self.config.identity.clone(),
                };
                self.info(&text);
            }
            b'S' => self.s_command(cmds, i)?,
            b'&' => {
                let Some(&letter) = cmds.get(*i) else {
                    return Err(());
                };
                *i += 1;
                match letter.to_ascii_uppercase() {
                    b'C' | b'S' => {
                        arg(cmds, i, 1)?;
                    }
                    b'D' => {
                        self.settings.dtr_mode = u8::try_from(arg(cmds, i, 3)?).map_err(|_| ())?
                    }
                    b'K' => {
                        arg(cmds, i, 6)?;
                    }
                    b'F' => {
                        arg(cmds, i, 0)?;
                        self.settings = Settings::default();
                    }
                    b'W' => {
                        arg(cmds, i, 1)?;
                    }
                    _ => return Err(()),
                }
            }
            b'+' => self.extended(cmds, i)?,
            _ => return Err(()),
        }
        Ok(Step::Continue)
    }

    /// `S<n>=<v>` or `S<n>?`.
    fn s_command(&mut self, cmds: &[u8], i: &mut usize) -> Result<(), ()> {
        let n = number(cmds, i).ok_or(())?;
        let n = usize::try_from(n).map_err(|_| ())?;
        if n >= self.settings.regs.len() {
            return Err(());
        }
        match cmds.get(*i) {
            Some(b'=') => {
                *i += 1;
                let v = number(cmds, i).unwrap_or(0);
                self.settings.regs[n] = u8::try_from(v).map_err(|_| ())?;
                Ok(())
            }
            Some(b'?') => {
                *i += 1;
                let text = format!("{:03}", self.settings.regs[n]);
                self.info(&text);
                Ok(())
            }
            _ => Err(()),
        }
    }

    /// `D<dial string>`: dials, or with a trailing `;` dials and stays in
    /// command mode (a voice call: only the event).
    fn dial(&mut self, cmds: &[u8], i: &mut usize) -> Result<Step, ()> {
        if self.state != State::Idle {
            return Err(());
        }
        let rest = cmds.get(*i..).unwrap_or_default();
        let end = rest.iter().position(|&c| c == b';');
        let dial_string = &rest[..end.unwrap_or(rest.len())];
        *i += end.map_or(rest.len(), |e| e + 1);
        let trimmed: Vec<u8> = dial_string.iter().copied().filter(|&c| c != b' ').collect();
        let number = if trimmed.eq_ignore_ascii_case(b"L") {
            self.last_number.clone().ok_or(())?
        } else {
            normalize(dial_string).ok_or(())?
        };
        self.events.push_back(HayesEvent::Dialed {
            number: number.clone(),
        });
        let outcome = self.lookup(&number);
        self.last_number = Some(number);
        self.next_ring = None;
        if end.is_some() {
            return Ok(Step::Continue);
        }
        self.state = State::Dialing {
            due: self.now + self.config.dial_delay,
            outcome,
        };
        Ok(Step::Done(None))
    }

    fn lookup(&self, number: &str) -> Outcome {
        if let Some(&o) = self.config.numbers.get(number) {
            return o;
        }
        self.config
            .numbers
            .iter()
            .find(|(k, _)| normalize(k.as_bytes()).as_deref() == Some(number))
            .map_or(self.config.default_outcome, |(_, &o)| o)
    }

    /// `+<name>[?|=?|=<args>]`, up to a `;` outside quotes.
    fn extended(&mut self, cmds: &[u8], i: &mut usize) -> Result<(), ()> {
        let start = *i;
        while cmds.get(*i).is_some_and(u8::is_ascii_alphanumeric) {
            *i += 1;
        }
        let name = String::from_utf8_lossy(&cmds[start..*i]).to_ascii_uppercase();
        let suffix_start = *i;
        let mut quoted = false;
        while let Some(&c) = cmds.get(*i) {
            if c == b'"' {
                quoted = !quoted;
            } else if c == b';' && !quoted {
                break;
            }
            *i += 1;
        }
        let suffix = String::from_utf8_lossy(&cmds[suffix_start..*i]);
        let suffix = suffix.trim();
        if cmds.get(*i) == Some(&b';') {
            *i += 1;
        }
        enum Form<'a> {
            Action,
            Read,
            Test,
            Set(&'a str),
        }
        let form = match suffix {
            "" => Form::Action,
            "?" => Form::Read,
            "=?" => Form::Test,
            s => match s.strip_prefix('=') {
                Some(args) => Form::Set(args),
                None => return Err(()),
            },
        };
        let text = |s: &str| Some(s.to_owned());
        let reply: Option<String> = match (name.as_str(), form) {
            ("GMI" | "CGMI", Form::Action | Form::Read) => text(&self.config.manufacturer),
            ("GMM" | "CGMM", Form::Action | Form::Read) => text(&self.config.model),
            ("GMR" | "CGMR", Form::Action | Form::Read) => text(&self.config.revision),
            ("GSN" | "CGSN", Form::Action | Form::Read) => text(&self.config.serial),
            ("GMI" | "CGMI" | "GMM" | "CGMM" | "GMR" | "CGMR" | "GSN" | "CGSN", Form::Test) => None,
            ("CSQ", Form::Action) => text("+CSQ: 20,99"),
            ("CSQ", Form::Test) => text("+CSQ: (0-31,99),(0-7,99)"),
            ("CGDCONT", Form::Set(args)) => {
                self.pdp_context = Some(args.to_owned());
                None
            }
            ("CGDCONT", Form::Read) => self
                .pdp_context
                .as_ref()
                .map(|args| format!("+CGDCONT: {args}")),
            ("CGDCONT", Form::Action | Form::Test) => None,
            ("CREG" | "CGREG", Form::Read) => Some(format!("+{name}: 0,1")),
            ("CPIN", Form::Read) => text("+CPIN: READY"),
            ("CFUN", Form::Read) => text("+CFUN: 1"),
            ("CGATT", Form::Read) => text("+CGATT: 1"),
            ("FCLASS", Form::Read) => text("0"),
            (
                "CREG" | "CGREG" | "CPIN" | "CFUN" | "CGATT" | "FCLASS" | "CMEE" | "IFC" | "IPR"
                | "ICF" | "CBST" | "CRC",
                Form::Set(_) | Form::Test,
            ) => None,
            ("CMEE" | "IFC" | "IPR" | "ICF" | "CBST" | "CRC", Form::Read) => {
                Some(format!("+{name}: 0"))
            }
            _ => return Err(()),
        };
        if let Some(reply) = reply {
            self.info(&reply);
        }
        Ok(())
    }
}

/// Decimal digits at `cmds[*i..]`, if any (saturating).
fn number(cmds: &[u8], i: &mut usize) -> Option<u32> {
    let mut value: Option<u32> = None;
    while let Some(&c) = cmds.get(*i) {
        if !c.is_ascii_digit() {
            break;
        }
        *i += 1;
        let v = value.unwrap_or(0);
        value = Some(v.saturating_mul(10).saturating_add(u32::from(c - b'0')));
    }
    value
}

/// An optional numeric argument (0 when absent), at most `max`.
fn arg(cmds: &[u8], i: &mut usize, max: u32) -> Result<u32, ()> {
    let v = number(cmds, i).unwrap_or(0);
    if v <= max {
        Ok(v)
    } else {
        Err(())
    }
}

/// A dial string without its modifiers: digits, `*`, `#`, `+` and the
/// DTMF letters `A`..`D` are kept; `T`, `P`, `W`, `,`, `@`, `!`, spaces,
/// `-`, `(`, `)`, `.` and `/` are dropped. `None` if anything else is in it
/// or nothing is left.
fn normalize(dial: &[u8]) -> Option<String> {
    let mut number = String::new();
    for &c in dial {
        let c = c.to_ascii_uppercase();
        match c {
            b'0'..=b'9' | b'*' | b'#' | b'+' | b'A'..=b'D' => number.push(char::from(c)),
            b'T' | b'P' | b'W' | b',' | b'@' | b'!' | b' ' | b'-' | b'(' | b')' | b'.' | b'/' => {}
            _ => return None,
        }
    }
    (!number.is_empty()).then_some(number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEC: Duration = Duration::from_secs(1);

    /// A modem on a virtual clock.
    struct Sim {
        m: Hayes,
        now: Instant,
    }

    impl Sim {
        fn new(config: HayesConfig) -> Self {
            Sim {
                m: Hayes::new(config),
                now: Instant::from_millis(1000),
            }
        }

        fn default() -> Self {
            Sim::new(HayesConfig {
                dial_delay: Duration::from_secs(2),
                ..HayesConfig::default()
            })
        }

        fn send(&mut self, bytes: &[u8]) {
            self.m.handle_dte_input(bytes, self.now);
        }

        fn remote(&mut self, bytes: &[u8]) {
            self.m.handle_line_input(bytes, self.now);
        }

        /// Runs the timers up to `d` from now.
        fn wait(&mut self, d: Duration) {
            let target = self.now + d;
            let mut rounds = 0;
            while let Some(t) = self.m.poll_timeout() {
                if t > target {
                    break;
                }
                self.now = self.now.max(t);
                self.m.handle_timeout(self.now);
                rounds += 1;
                assert!(rounds < 1_000_000, "timers do not progress");
            }
            self.now = target;
            self.m.handle_timeout(self.now);
        }

        fn dte(&mut self) -> Vec<u8> {
            let mut out = Vec::new();
            while let Some(b) = self.m.poll_dte() {
                out.extend(b);
            }
            out
        }

        fn dte_str(&mut self) -> String {
            String::from_utf8_lossy(&self.dte()).into_owned()
        }

        fn line(&mut self) -> Vec<u8> {
            let mut out = Vec::new();
            while let Some(b) = self.m.poll_line() {
                out.extend(b);
            }
            out
        }

        fn events(&mut self) -> Vec<HayesEvent> {
            std::iter::from_fn(|| self.m.poll_event()).collect()
        }

        /// Sends a command with echo off and returns the answer.
        fn cmd(&mut self, line: &str) -> String {
            self.send(line.as_bytes());
            self.send(b"\r");
            self.dte_str()
        }

        /// Echo off, then dial and wait for the connection.
        fn connect(&mut self) {
            assert_eq!(self.cmd("ATE0"), "ATE0\r\r\nOK\r\n");
            assert_eq!(self.cmd("ATDT5551234"), "");
            self.wait(Duration::from_secs(2));
            assert_eq!(self.dte_str(), "\r\nCONNECT 57600\r\n");
            assert!(self.m.is_online() && self.m.carrier());
            self.events();
        }

        /// `+++` with guard times on both sides.
        fn escape(&mut self) {
            self.wait(SEC);
            self.send(b"+++");
            self.wait(SEC);
        }
    }

    #[test]
    fn echo_is_on_by_default_and_ate0_turns_it_off() {
        let mut s = Sim::default();
        s.send(b"AT\r");
        assert_eq!(s.dte_str(), "AT\r\r\nOK\r\n");
        s.send(b"ATE0\r");
        assert_eq!(s.dte_str(), "ATE0\r\r\nOK\r\n");
        s.send(b"AT\r");
        assert_eq!(s.dte_str(), "\r\nOK\r\n");
        s.send(b"ATE1\r");
        assert_eq!(s.dte_str(), "\r\nOK\r\n");
        s.send(b"at\r");
        assert_eq!(s.dte_str(), "at\r\r\nOK\r\n");
    }

    #[test]
    fn line_editing_crlf_case_and_split_input() {
        let mut s = Sim::default();
        s.cmd("ATE0");
        assert_eq!(s.cmd("aT\n"), "\r\nOK\r\n");
        s.send(b"AT\r\nAT\r\n");
        assert_eq!(s.dte_str(), "\r\nOK\r\n\r\nOK\r\n");
        // Backspace and delete erase.
        assert_eq!(s.cmd("ATX\x08"), "\r\nOK\r\n");
        assert_eq!(s.cmd("ATFOO\x7f\x7f\x7f"), "\r\nOK\r\n");
        // Split anywhere.
        for b in b"ATE0V1\r" {
            s.send(&[*b]);
        }
        assert_eq!(s.dte_str(), "\r\nOK\r\n");
        // With echo, a backspace echoes as erase.
        s.cmd("ATE1");
        s.send(b"AB\x08T\r");
        assert_eq!(s.dte_str(), "AB\x08 \x08T\r\r\nOK\r\n");
        // Empty lines and lines without AT are ignored.
        s.cmd("ATE0");
        assert_eq!(s.cmd(""), "");
        assert_eq!(s.cmd("hello"), "");
        // Leading spaces, spaces between commands.
        assert_eq!(s.cmd("  AT E0 V1"), "\r\nOK\r\n");
    }

    #[test]
    fn several_commands_on_a_line_run_in_order() {
        let mut s = Sim::default();
        assert_eq!(s.cmd("ATE0V0X4"), "ATE0V0X4\r0\r");
        assert_eq!(s.cmd("ATFOO"), "4\r");
        assert_eq!(s.cmd("ATV1Q1"), "");
        assert_eq!(s.cmd("ATFOO"), "");
        assert_eq!(s.cmd("ATQ0"), "\r\nOK\r\n");
        // Commands before the bad one took effect.
        assert_eq!(s.cmd("ATV0 Y"), "4\r");
        assert_eq!(s.cmd("ATV1"), "\r\nOK\r\n");
        // Info responses in V0 form.
        assert_eq!(s.cmd("ATV0I"), "Dialtone Virtual Modem\r\n0\r");
    }

    #[test]
    fn basic_commands_are_accepted() {
        let mut s = Sim::default();
        s.cmd("ATE0");
        for c in [
            "AT",
            "ATZ",
            "ATE0",
            "AT&F",
            "ATE0",
            "ATX0",
            "ATX4",
            "ATL1M0",
            "ATM1L3",
            "AT&C1&D2&K3&S0",
            "AT&K0",
            "AT&W",
            "ATH",
            "ATH0",
            "ATQ0V1E0",
            "ATB0",
            "AT S7=60 S0=0",
            "AT+FCLASS=0",
            "at+cgdcont=1,\"IP\",\"internet\"",
            "AT+CGDCONT=1,\"IP\",\"a;b\";+CSQ=?",
            "AT+CREG?",
            "AT+IFC=2,2",
        ] {
            assert!(s.cmd(c).ends_with("\r\nOK\r\n"), "{c}");
        }
        for c in [
            "ATFOO", "ATE2", "ATX5", "AT&Z", "AT&", "ATS", "ATS7", "ATS7=256", "ATS256=1", "ATI10",
            "AT+", "AT+BOGUS", "AT+GMI=1", "ATO2", "AT\\N3", "ATD", "ATDX",
        ] {
            assert_eq!(s.cmd(c), "\r\nERROR\r\n", "{c}");
        }
    }

    #[test]
    fn atz_and_at_f_restore_defaults() {
        let mut s = Sim::default();
        s.cmd("ATE0V0S0=3S12=10");
        assert_eq!(s.m.s_register(0), 3);
        assert_eq!(s.cmd("ATZ"), "\r\nOK\r\n");
        assert_eq!(s.m.s_register(0), 0);
        assert_eq!(s.m.s_register(12), 50);
        assert_eq!(s.cmd("AT"), "AT\r\r\nOK\r\n");
        s.cmd("ATE0S0=3");
        assert_eq!(s.cmd("AT&F"), "\r\nOK\r\n");
        assert_eq!(s.m.s_register(0), 0);
        assert_eq!(s.cmd("AT"), "AT\r\r\nOK\r\n");
    }

    #[test]
    fn s_registers_set_and_query() {
        let mut s = Sim::default();
        s.cmd("ATE0");
        assert_eq!(s.cmd("ATS0?"), "\r\n000\r\n\r\nOK\r\n");
        assert_eq!(s.cmd("ATS0=2"), "\r\nOK\r\n");
        assert_eq!(s.cmd("ATS0?"), "\r\n002\r\n\r\nOK\r\n");
        assert_eq!(s.cmd("ats7=255s7?"), "\r\n255\r\n\r\nOK\r\n");
        assert_eq!(s.cmd("ATS12?"), "\r\n050\r\n\r\nOK\r\n");
        assert_eq!(s.cmd("ATS2?S3?"), "\r\n043\r\n\r\n013\r\n\r\nOK\r\n");
        assert_eq!(s.cmd("ATS0=999"), "\r\nERROR\r\n");
        assert_eq!(s.cmd("ATS99999999999999=1"), "\r\nERROR\r\n");
        assert_eq!(s.m.s_register(0), 2);
        assert_eq!(s.m.s_register(7), 255);
    }

    #[test]
    fn identity_and_extended_queries() {
        let mut s = Sim::new(HayesConfig {
            identity: "Test Modem 33.6".into(),
            manufacturer: "Acme".into(),
            model: "Rocket".into(),
            revision: "9.9".into(),
            serial: "SN42".into(),
            ..HayesConfig::default()
        });
        s.cmd("ATE0");
        let info = |t: &str| format!("\r\n{t}\r\n\r\nOK\r\n");
        assert_eq!(s.cmd("ATI"), info("Test Modem 33.6"));
        assert_eq!(s.cmd("ATI0"), info("Test Modem 33.6"));
        assert_eq!(s.cmd("ATI4"), info("Test Modem 33.6"));
        assert_eq!(s.cmd("ATI9"), info("Test Modem 33.6"));
        assert_eq!(s.cmd("ATI1"), info("9.9"));
        assert_eq!(s.cmd("ATI3"), info("Acme Rocket 9.9"));
        for (c, t) in [
            ("AT+GMI", "Acme"),
            ("AT+CGMI", "Acme"),
            ("AT+GMM", "Rocket"),
            ("AT+CGMM", "Rocket"),
            ("AT+GMR", "9.9"),
            ("AT+CGMR", "9.9"),
            ("AT+GSN", "SN42"),
            ("at+cgsn", "SN42"),
            ("AT+CSQ", "+CSQ: 20,99"),
            ("AT+CPIN?", "+CPIN: READY"),
            ("AT+CREG?", "+CREG: 0,1"),
        ] {
            assert_eq!(s.cmd(c), info(t), "{c}");
        }
        assert_eq!(s.cmd("AT+GMI;+GMM"), "\r\nAcme\r\n\r\nRocket\r\n\r\nOK\r\n");
        assert_eq!(s.cmd("AT+CGDCONT=1,\"IP\",\"Web.Apn\""), "\r\nOK\r\n");
        assert_eq!(s.cmd("AT+CGDCONT?"), info("+CGDCONT: 1,\"IP\",\"Web.Apn\""));
    }

    #[test]
    fn overlong_lines_answer_error() {
        let mut s = Sim::default();
        s.cmd("ATE0");
        let ok = format!("AT{}", "E0".repeat(127));
        assert_eq!(ok.len(), MAX_COMMAND_LINE);
        assert_eq!(s.cmd(&ok), "\r\nOK\r\n");
        let long = format!("AT{}", "E0".repeat(200));
        assert_eq!(s.cmd(&long), "\r\nERROR\r\n");
        // The modem recovers.
        assert_eq!(s.cmd("AT"), "\r\nOK\r\n");
    }

    #[test]
    fn a_slash_repeats_the_last_command() {
        let mut s = Sim::default();
        s.cmd("ATE0");
        assert_eq!(s.cmd("ATS0?"), "\r\n000\r\n\r\nOK\r\n");
        s.send(b"A/");
        assert_eq!(s.dte_str(), "\r\n000\r\n\r\nOK\r\n");
    }

    fn scripted() -> HayesConfig {
        let mut numbers = BTreeMap::new();
        numbers.insert("100".to_owned(), Outcome::Connect { speed: 33600 });
        numbers.insert("101".to_owned(), Outcome::Busy);
        numbers.insert("102".to_owned(), Outcome::NoCarrier);
        numbers.insert("103".to_owned(), Outcome::NoAnswer);
        numbers.insert("104".to_owned(), Outcome::NoDialtone);
        numbers.insert("105".to_owned(), Outcome::Error);
        numbers.insert("555-0199".to_owned(), Outcome::Busy);
        numbers.insert("*99#".to_owned(), Outcome::Connect { speed: 460800 });
        HayesConfig {
            numbers,
            default_outcome: Outcome::NoAnswer,
            dial_delay: Duration::from_secs(30),
            ..HayesConfig::default()
        }
    }

    #[test]
    fn every_dial_outcome_after_the_dial_delay() {
        for (dial, number, result, online) in [
            ("ATDT100", "100", "CONNECT 33600", true),
            ("ATDT101", "101", "BUSY", false),
            ("ATDP102", "102", "NO CARRIER", false),
            ("ATD103", "103", "NO ANSWER", false),
            ("ATDT104", "104", "NO DIALTONE", false),
            ("ATDT105", "105", "ERROR", false),
            ("ATDT 555 0199", "5550199", "BUSY", false),
            ("ATDT9,,777", "9777", "NO ANSWER", false),
            ("ATD*99#", "*99#", "CONNECT 460800", true),
        ] {
            let mut s = Sim::new(scripted());
            s.cmd("ATE0");
            assert_eq!(s.cmd(dial), "", "{dial}");
            assert_eq!(
                s.events(),
                [HayesEvent::Dialed {
                    number: number.into()
                }]
            );
            assert_eq!(s.m.poll_timeout(), Some(s.now + Duration::from_secs(30)));
            s.wait(Duration::from_millis(29_999));
            assert_eq!(s.dte_str(), "", "{dial}");
            assert!(!s.m.carrier());
            s.wait(Duration::from_millis(1));
            assert_eq!(s.dte_str(), format!("\r\n{result}\r\n"), "{dial}");
            assert_eq!(s.m.carrier(), online, "{dial}");
            assert_eq!(s.m.is_online(), online, "{dial}");
            let ev = s.events();
            if let Outcome::Connect { speed } = s.m.lookup(number) {
                assert_eq!(ev, [HayesEvent::Online { speed }]);
            } else {
                assert!(ev.is_empty());
                assert_eq!(s.cmd("AT"), "\r\nOK\r\n");
            }
        }
    }

    #[test]
    fn cellular_dial_strings_connect() {
        for dial in ["ATD*99#", "ATD*99***1#", "atd*99***1#"] {
            let mut s = Sim::default();
            s.cmd("ATE0");
            assert_eq!(s.cmd("AT+CGDCONT=1,\"IP\",\"internet\""), "\r\nOK\r\n");
            s.cmd(dial);
            s.wait(Duration::from_secs(2));
            assert_eq!(s.dte_str(), "\r\nCONNECT 57600\r\n", "{dial}");
            assert!(s.m.is_online());
        }
    }

    #[test]
    fn x0_hides_speeds_and_busy() {
        let mut s = Sim::new(scripted());
        s.cmd("ATE0X0");
        s.cmd("ATD101");
        s.wait(Duration::from_secs(30));
        assert_eq!(s.dte_str(), "\r\nNO CARRIER\r\n");
        s.cmd("ATD100");
        s.wait(Duration::from_secs(30));
        assert_eq!(s.dte_str(), "\r\nCONNECT\r\n");
    }

    #[test]
    fn a_key_aborts_the_dial_and_atdl_redials() {
        let mut s = Sim::new(scripted());
        s.cmd("ATE0");
        s.cmd("ATDT101");
        s.wait(SEC);
        s.send(b"x");
        assert_eq!(s.dte_str(), "\r\nNO CARRIER\r\n");
        assert_eq!(s.m.poll_timeout(), None);
        s.events();
        s.cmd("ATDL");
        assert_eq!(
            s.events(),
            [HayesEvent::Dialed {
                number: "101".into()
            }]
        );
        s.wait(Duration::from_secs(30));
        assert_eq!(s.dte_str(), "\r\nBUSY\r\n");
        // A voice dial (trailing ;) stays in command mode.
        assert_eq!(s.cmd("ATD100;"), "\r\nOK\r\n");
        assert!(!s.m.carrier());
    }

    #[test]
    fn online_data_is_binary_safe_both_ways() {
        let mut s = Sim::default();
        s.connect();
        let all: Vec<u8> = (0..=255u8).collect();
        s.send(&all);
        s.send(b"AT\r+++ATH\r");
        s.remote(&all);
        s.remote(b"+++\r\nNO CARRIER\r\n");
        let mut to_line = all.clone();
        to_line.extend_from_slice(b"AT\r+++ATH\r");
        assert_eq!(s.line(), to_line);
        let mut to_dte = all.clone();
        to_dte.extend_from_slice(b"+++\r\nNO CARRIER\r\n");
        assert_eq!(s.dte(), to_dte);
        // Nothing after a while either: no escape happened.
        s.wait(Duration::from_secs(3));
        assert!(s.m.is_online());
        assert!(s.dte().is_empty());
        assert!(s.line().is_empty());
    }

    #[test]
    fn plus_signs_without_guard_time_stay_data() {
        let mut s = Sim::default();
        s.connect();
        s.wait(Duration::from_secs(2));
        // Guard before, but data right after.
        s.send(b"+++");
        s.wait(Duration::from_millis(500));
        s.send(b"x");
        assert_eq!(s.line(), b"+++x");
        // No guard before.
        s.wait(Duration::from_millis(10));
        s.send(b"+++");
        s.wait(Duration::from_secs(2));
        assert_eq!(s.line(), b"+++");
        // Guard, then too few pluses: sent once the guard time runs out.
        s.send(b"++");
        assert_eq!(s.line(), b"");
        s.wait(SEC);
        assert_eq!(s.line(), b"++");
        // Four pluses are data.
        s.wait(SEC);
        s.send(b"++++");
        s.wait(Duration::from_secs(2));
        assert_eq!(s.line(), b"++++");
        assert!(s.m.is_online());
        assert_eq!(s.dte(), b"");
    }

    #[test]
    fn escape_ato_and_ath() {
        let mut s = Sim::default();
        s.connect();
        s.send(b"hello");
        assert_eq!(s.line(), b"hello");
        s.escape();
        assert_eq!(s.dte_str(), "\r\nOK\r\n");
        // The escape never reached the remote.
        assert_eq!(s.line(), b"");
        assert!(!s.m.is_online());
        assert!(s.m.carrier());
        // Command mode with the call up; remote data is dropped.
        s.remote(b"dropped");
        assert_eq!(s.cmd("ATI0"), "\r\nDialtone Virtual Modem\r\n\r\nOK\r\n");
        assert_eq!(s.cmd("ATD123"), "\r\nERROR\r\n");
        assert_eq!(s.cmd("ATO"), "\r\nCONNECT 57600\r\n");
        assert!(s.m.is_online());
        assert_eq!(s.events(), [HayesEvent::Online { speed: 57600 }]);
        s.send(b"again");
        s.remote(b"back");
        assert_eq!(s.line(), b"again");
        assert_eq!(s.dte(), b"back");
        // Split +++ with guard times also escapes.
        s.wait(SEC);
        s.send(b"+");
        s.wait(Duration::from_millis(100));
        s.send(b"++");
        s.wait(SEC);
        assert_eq!(s.dte_str(), "\r\nOK\r\n");
        // ATH: OK, carrier drops.
        assert_eq!(s.cmd("ATH"), "\r\nOK\r\n");
        assert!(!s.m.carrier());
        assert_eq!(s.events(), [HayesEvent::HungUp { by: HangupBy::Dte }]);
        assert_eq!(s.cmd("ATO"), "\r\nNO CARRIER\r\n");
        s.remote(b"gone");
        assert_eq!(s.dte(), b"");
    }

    #[test]
    fn s12_changes_the_guard_time() {
        let mut s = Sim::default();
        s.cmd("ATE0S12=10");
        s.cmd("ATD1");
        s.wait(Duration::from_secs(2));
        s.dte();
        s.wait(Duration::from_millis(200));
        s.send(b"+++");
        s.wait(Duration::from_millis(199));
        assert_eq!(s.dte_str(), "");
        s.wait(Duration::from_millis(1));
        assert_eq!(s.dte_str(), "\r\nOK\r\n");
    }

    #[test]
    fn dtr_drop_hangs_up() {
        let mut s = Sim::default();
        s.connect();
        s.m.set_dtr(false, s.now);
        assert_eq!(s.dte_str(), "\r\nNO CARRIER\r\n");
        assert!(!s.m.carrier());
        assert_eq!(s.events(), [HayesEvent::HungUp { by: HangupBy::Dtr }]);
        s.m.set_dtr(true, s.now);
        assert!(s.m.dtr());
        assert_eq!(s.cmd("AT"), "\r\nOK\r\n");

        // &D0 ignores DTR, &D1 escapes.
        let mut s = Sim::default();
        s.cmd("ATE0&D0");
        s.cmd("ATD1");
        s.wait(Duration::from_secs(2));
        s.dte();
        s.m.set_dtr(false, s.now);
        assert!(s.m.is_online());
        s.m.set_dtr(true, s.now);
        s.escape();
        s.dte();
        s.cmd("AT&D1");
        s.cmd("ATO");
        s.m.set_dtr(false, s.now);
        assert_eq!(s.dte_str(), "\r\nOK\r\n");
        assert!(s.m.carrier() && !s.m.is_online());
    }

    #[test]
    fn remote_hangup_reports_no_carrier() {
        let mut s = Sim::default();
        s.connect();
        s.m.remote_hangup(s.now);
        assert_eq!(s.dte_str(), "\r\nNO CARRIER\r\n");
        assert!(!s.m.carrier());
        assert_eq!(
            s.events(),
            [HayesEvent::HungUp {
                by: HangupBy::Remote
            }]
        );
        s.send(b"AT\r");
        assert_eq!(s.dte_str(), "\r\nOK\r\n");
        assert!(s.line().is_empty());
    }

    #[test]
    fn ring_and_ata() {
        let mut s = Sim::default();
        s.cmd("ATE0");
        s.m.incoming_call(s.now);
        assert!(s.m.is_ringing());
        assert_eq!(s.dte_str(), "\r\nRING\r\n");
        s.wait(Duration::from_secs(6));
        assert_eq!(s.dte_str(), "\r\nRING\r\n");
        s.wait(Duration::from_secs(6));
        assert_eq!(s.dte_str(), "\r\nRING\r\n");
        assert_eq!(s.m.s_register(1), 3);
        assert_eq!(s.events(), vec![HayesEvent::Ring; 3]);
        assert_eq!(s.cmd("ATA"), "\r\nCONNECT 57600\r\n");
        assert_eq!(
            s.events(),
            [HayesEvent::Answered, HayesEvent::Online { speed: 57600 }]
        );
        assert!(s.m.is_online());
        s.wait(Duration::from_secs(20));
        assert_eq!(s.dte_str(), "");
        // ATA with nothing ringing.
        let mut s = Sim::default();
        s.cmd("ATE0");
        assert_eq!(s.cmd("ATA"), "\r\nNO CARRIER\r\n");
        // The caller gives up.
        s.m.incoming_call(s.now);
        s.m.remote_hangup(s.now);
        assert!(!s.m.is_ringing());
        assert_eq!(s.m.poll_timeout(), None);
    }

    #[test]
    fn auto_answer_after_s0_rings() {
        let mut s = Sim::default();
        s.cmd("ATE0S0=2");
        s.m.incoming_call(s.now);
        assert_eq!(s.dte_str(), "\r\nRING\r\n");
        assert!(!s.m.carrier());
        s.wait(Duration::from_secs(6));
        assert_eq!(s.dte_str(), "\r\nRING\r\n\r\nCONNECT 57600\r\n");
        assert!(s.m.is_online());
        assert_eq!(
            s.events(),
            [
                HayesEvent::Ring,
                HayesEvent::Ring,
                HayesEvent::Answered,
                HayesEvent::Online { speed: 57600 }
            ]
        );
        // A call while busy is ignored.
        s.m.incoming_call(s.now);
        assert!(!s.m.is_ringing());
        assert!(s.events().is_empty());
    }

    #[test]
    fn baud_pacing_releases_bytes_at_the_line_rate() {
        let mut s = Sim::new(HayesConfig {
            baud: Some(57600),
            dial_delay: Duration::ZERO,
            ..HayesConfig::default()
        });
        s.cmd("ATE0");
        s.wait(SEC);
        s.cmd("ATD1");
        s.wait(SEC);
        assert_eq!(s.dte_str(), "\r\nCONNECT 57600\r\n");
        let data = vec![0x55u8; 11520];
        s.remote(&data);
        s.send(&data);
        assert!(s.dte().is_empty());
        let mut got_dte = 0;
        let mut got_line = 0;
        for tenth in 1..=20 {
            s.wait(Duration::from_millis(100));
            got_dte += s.dte().len();
            got_line += s.line().len();
            let expect = (576 * tenth).min(11520);
            assert!(got_dte.abs_diff(expect) <= 1, "{got_dte} vs {expect}");
            assert!(got_line.abs_diff(expect) <= 1, "{got_line} vs {expect}");
        }
        assert_eq!(got_dte, 11520);
        assert_eq!(got_line, 11520);
        assert_eq!(s.m.poll_timeout(), None);
    }

    #[test]
    fn latency_delays_call_data_only() {
        let mut s = Sim::new(HayesConfig {
            latency: Duration::from_millis(150),
            ..HayesConfig::default()
        });
        s.connect();
        s.remote(b"ping");
        s.send(b"pong");
        assert_eq!(s.dte(), b"");
        assert_eq!(s.line(), b"");
        s.wait(Duration::from_millis(149));
        assert_eq!(s.dte(), b"");
        s.wait(Duration::from_millis(1));
        assert_eq!(s.dte(), b"ping");
        assert_eq!(s.line(), b"pong");
    }

    #[test]
    fn timers_always_progress() {
        let mut s = Sim::new(HayesConfig {
            baud: Some(300),
            latency: Duration::from_millis(7),
            ..HayesConfig::default()
        });
        s.m.incoming_call(s.now);
        s.send(b"ATS0=3\r");
        s.wait(Duration::from_secs(60));
        assert!(s.m.is_online());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Dte(Vec<u8>),
        Line(Vec<u8>),
        Wait(u16),
        Dtr(bool),
        Hangup,
        Call,
    }

    fn op() -> impl Strategy<Value = Op> {
        let cmd = prop::sample::select(vec![
            &b"AT\r"[..],
            b"ATD1\r",
            b"ATDT*99#\r",
            b"ATA\r",
            b"ATO\r",
            b"ATH\r",
            b"+++",
            b"ATS0=1\r",
            b"ATS12=0\r",
            b"ATS3=43\r",
            b"ATS2=13\r",
            b"ATV0Q1\r",
            b"ATX0\r",
            b"A/",
            b"AT&D3\r",
            b"AT+CGDCONT=\"\r",
        ]);
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64).prop_map(Op::Dte),
            cmd.prop_map(|c| Op::Dte(c.to_vec())),
            prop::collection::vec(any::<u8>(), 0..64).prop_map(Op::Line),
            any::<u16>().prop_map(Op::Wait),
            any::<bool>().prop_map(Op::Dtr),
            Just(Op::Hangup),
            Just(Op::Call),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn arbitrary_input_never_panics(
            ops in prop::collection::vec(op(), 0..40),
            baud in prop::option::of(1u32..200_000),
            delay in 0u64..5000,
        ) {
            let mut s = Sim::new(HayesConfig {
                baud,
                dial_delay: Duration::from_millis(delay),
                latency: Duration::from_millis(delay % 50),
                ring_interval: Duration::from_millis(if delay < 100 { 0 } else { delay }),
                ..HayesConfig::default()
            });
            for op in ops {
                match op {
                    Op::Dte(b) => s.send(&b),
                    Op::Line(b) => s.remote(&b),
                    Op::Wait(ms) => s.wait(Duration::from_millis(u64::from(ms))),
                    Op::Dtr(on) => s.m.set_dtr(on, s.now),
                    Op::Hangup => s.m.remote_hangup(s.now),
                    Op::Call => s.m.incoming_call(s.now),
                }
                // Timers always move forward.
                if let Some(t) = s.m.poll_timeout() {
                    if t <= s.now {
                        s.m.handle_timeout(s.now);
                        prop_assert!(s.m.poll_timeout().is_none_or(|t| t > s.now));
                    }
                }
                prop_assert!(!s.m.is_online() || s.m.carrier());
                let _ = s.dte();
                let _ = s.line();
                let _ = s.events();
            }
        }
    }
}
