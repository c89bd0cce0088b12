//! The modem dialer: what pppd's `connect "chat …"` did, as a sans-IO state
//! machine.
//!
//! A [`Chat`] is driven like [`dialtone_ppp::Link`]: the caller feeds it the
//! bytes read from the serial line ([`Chat::handle_input`]) and the passing
//! of time ([`Chat::handle_timeout`] at [`Chat::poll_timeout`]), writes what
//! [`Chat::poll_transmit`] hands out, and reads [`Chat::poll_event`]. It never
//! reads a clock nor touches a device, so a whole dial can be replayed.
//!
//! The conversation:
//!
//! 1. each of the modem's `init` commands, answered by `OK`;
//! 2. the dial command with each number in turn until one answers
//!    `CONNECT` (`BUSY`, `NO ANSWER`, `NO CARRIER` and a timeout go on to the
//!    next number; `NO DIALTONE`, `ERROR` and the profile's own abort strings
//!    stop at once);
//! 3. the text login's expect/send steps, with chat's `expect-send-expect`
//!    retry form;
//! 4. [`ChatEvent::Finished`]: PPP starts, with the bytes already received
//!    past the conversation from [`Chat::take_remainder`].
//!
//! Every line sent and received is reported as a
//! [`ChatEvent::Transcript`] for the log view, with the password masked
//! and control characters escaped.
//!
//! # Answering
//!
//! [`Chat::answer`] plays the other side (the ISP, a dial-in server): the
//! init commands each answered by `OK` as above, then, per
//! [`AnswerMode`], either counting `RING`s and sending `ATA`, or letting the
//! modem answer by itself (`ATS0=n`), until `CONNECT`
//! ([`ChatEvent::Connected`], then [`ChatEvent::Finished`]). Waiting for a
//! call has no time limit; the answer itself (from `ATA`, or from the ring
//! the modem answers on, to `CONNECT`) has the spec's `connect_timeout`.

use std::collections::VecDeque;
use std::time::Duration;

use dialtone_api::profile::{LoginStep, Modem, Send};
pub use dialtone_ppp::Direction;
use dialtone_ppp::Instant;

/// The most received text buffered while waiting for a line end; a longer
/// line keeps (roughly) its last this many bytes.
pub const MAX_LINE: usize = 4096;

/// The most transcript events queued before further ones are counted
/// rather than kept (see [`ChatEvent::Transcript`]).
pub const MAX_QUEUED_TRANSCRIPTS: usize = 256;

/// What replaces the password in every transcript.
pub const PASSWORD_MASK: &str = "********";

/// Why the conversation failed. The message is a sentence a person can act
/// on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    /// A command got no final answer in time.
    #[error("the modem did not answer {command} — is it switched on and on this port?")]
    NoResponse {
        /// The command.
        command: String,
    },
    /// The modem answered `ERROR` to a command.
    #[error("the modem answered ERROR to {command}: check this command in the profile")]
    ModemError {
        /// The command.
        command: String,
    },
    /// The number is busy.
    #[error("the line is busy ({number})")]
    Busy {
        /// The number dialed.
        number: String,
    },
    /// Nobody picked up.
    #[error("no answer from {number}")]
    NoAnswer {
        /// The number dialed.
        number: String,
    },
    /// The call was answered but no modem connection came of it (or the
    /// modems could not agree).
    #[error("no carrier from {number}: no modem answered, or the modems could not agree")]
    NoCarrier {
        /// The number dialed.
        number: String,
    },
    /// The modem hears no dial tone.
    #[error("no dial tone: is the phone line plugged in?")]
    NoDialtone,
    /// No `CONNECT` within the profile's `connect_timeout`.
    #[error("{number} did not connect within {seconds} seconds")]
    ConnectTimeout {
        /// The number dialed.
        number: String,
        /// The timeout.
        seconds: u32,
    },
    /// One of the profile's own abort strings came while dialing.
    #[error("the modem answered {abort:?} while dialing {number}")]
    Abort {
        /// The abort string.
        abort: String,
        /// The number dialed.
        number: String,
    },
    /// A login prompt did not come, even after the retries.
    #[error("the login prompt {expect:?} did not come: check the login steps in the profile")]
    LoginTimeout {
        /// The step's whole `expect` text.
        expect: String,
    },
    /// The text login seemed to go through, but the line then echoed our
    /// own PPP packets back, as a server does when it shows a login
    /// prompt again after refusing the password.
    #[error("the login was refused: after the password the server started a new login prompt, echoing our packets back; check the user name and password")]
    LoginRefused,
    /// The modem has no number to dial.
    #[error("there is no number to dial: add one to the profile")]
    NoNumbers,
    /// An incoming call was answered but ended in `NO CARRIER`: the caller
    /// hung up, or the modems could not agree.
    #[error("the incoming call was answered but did not connect: the caller hung up, or the modems could not agree")]
    AnswerNoCarrier,
    /// An answered call gave no `CONNECT` within `connect_timeout`.
    #[error("the incoming call did not connect within {seconds} seconds of answering")]
    AnswerTimeout {
        /// The timeout.
        seconds: u32,
    },
}

impl ChatError {
    /// Whether another number might do better after this failure.
    fn try_next_number(&self) -> bool {
        matches!(
            self,
            ChatError::Busy { .. }
                | ChatError::NoAnswer { .. }
                | ChatError::NoCarrier { .. }
                | ChatError::ConnectTimeout { .. }
        )
    }

    /// A stable code for the failure (`busy`, `no-carrier`, ...), for
    /// clients that render it in their own words.
    pub fn code(&self) -> &'static str {
        match self {
            ChatError::NoResponse { .. } => "no-response",
            ChatError::ModemError { .. } => "error",
            ChatError::Busy { .. } => "busy",
            ChatError::NoAnswer { .. } => "no-answer",
            ChatError::NoCarrier { .. } => "no-carrier",
            ChatError::NoDialtone => "no-dialtone",
            ChatError::ConnectTimeout { .. } => "connect-timeout",
            ChatError::Abort { .. } => "abort",
            ChatError::LoginTimeout { .. } => "login-timeout",
            ChatError::NoNumbers => "no-numbers",
            ChatError::LoginRefused => "login-refused",
            ChatError::AnswerNoCarrier => "answer-no-carrier",
            ChatError::AnswerTimeout { .. } => "answer-timeout",
        }
    }
}

/// What the dialer tells its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatEvent {
    /// A line (or, in the login, a piece of text) was sent or received.
    /// Sent text ends in an escaped carriage return (`ATZ\r`), as chat's
    /// log did; received lines are without their line ends. The password is
    /// shown as [`PASSWORD_MASK`], control characters are escaped, and a
    /// line truncated to [`MAX_LINE`] starts with `…`. If more than
    /// [`MAX_QUEUED_TRANSCRIPTS`] are waiting to be polled, further ones are
    /// dropped and a note saying how many takes their place.
    Transcript {
        /// Which way it went.
        direction: Direction,
        /// The text, escaped.
        text: String,
    },
    /// A number is being dialed.
    Dialing {
        /// The number.
        number: String,
        /// Which one of the profile's numbers, from 1.
        attempt: usize,
    },
    /// A number failed in a way another number may not; the next one is
    /// dialed.
    DialFailed {
        /// The number that failed.
        number: String,
        /// Why.
        reason: ChatError,
    },
    /// The modem answered `CONNECT`.
    Connected {
        /// The speed it reported (`CONNECT 57600` → 57600), if any.
        speed: Option<u32>,
        /// The whole line, as received (`CONNECT 115200/V42BIS`).
        text: String,
    },
    /// The conversation is over: PPP can start, with
    /// [`Chat::take_remainder`] first. The last event but transcripts.
    Finished,
    /// The conversation failed. The last event.
    Failed(ChatError),
}

/// How [`Chat::answer`] takes a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnswerMode {
    /// Wait for this many `RING`s (at least one: 0 counts as 1), then send
    /// `ATA`.
    Ring {
        /// The rings to let pass.
        rings: u8,
    },
    /// The modem answers by itself: `ATS0=<rings>` (at least 1) is sent
    /// after the init commands, then `CONNECT` is awaited.
    AutoAnswer {
        /// The ring the modem answers on.
        rings: u8,
    },
    /// No modem (a null-modem cable): the conversation is finished at once
    /// and the init commands are not sent.
    Direct,
}

/// What [`Chat::answer`] needs: the modem's init and how to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerSpec {
    /// Commands sent in turn before waiting for a call, each expecting
    /// `OK`.
    pub init: Vec<String>,
    /// How the call is answered.
    pub mode: AnswerMode,
    /// Seconds to wait for `OK` after each command.
    pub command_timeout: u32,
    /// Seconds from the answer (`ATA`, or the ring the modem answers on)
    /// to `CONNECT`.
    pub connect_timeout: u32,
}

impl AnswerSpec {
    /// The init commands and timeouts of a dialing profile's `modem`,
    /// answering per `mode`.
    pub fn from_modem(modem: &Modem, mode: AnswerMode) -> AnswerSpec {
        AnswerSpec {
            init: modem.init.clone(),
            mode,
            command_timeout: modem.command_timeout,
            connect_timeout: modem.connect_timeout,
        }
    }
}

impl Default for AnswerSpec {
    /// `ATZ`, answering on the first ring with `ATA`, the
    /// [`Modem::default`] timeouts.
    fn default() -> Self {
        AnswerSpec::from_modem(&Modem::default(), AnswerMode::Ring { rings: 1 })
    }
}

/// While waiting for a call, a silence this long after a `RING` means
/// the caller gave up: the ring count starts again. (Rings come every
/// 6 seconds or less; a modem resets its own count, `S1`, after about 8.)
pub const RING_GAP: Duration = Duration::from_secs(10);

/// Where the conversation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// `init[index]` sent, waiting for `OK`.
    Init { index: usize },
    /// `numbers[index]` dialed, waiting for `CONNECT`.
    Dial { index: usize },
    /// `numbers[index]` timed out; a carriage return was sent to cancel the
    /// call, waiting for the modem's answer before the next number.
    Cancel { index: usize },
    /// Answering: waiting for a call, `rings` heard so far.
    Waiting { rings: u8 },
    /// Answering: `ATA` sent (or the modem answering by itself), waiting
    /// for `CONNECT`.
    Answering,
    /// Waiting for `parts[part]` of `login[step]`.
    Login { step: usize, part: usize },
    /// Finished: input goes to the remainder.
    Done,
    /// Failed: input is ignored.
    Failed,
}

/// The dialer. See the [module documentation](self).
#[derive(Debug)]
pub struct Chat {
    init: Vec<String>,
    dial_command: String,
    numbers: Vec<String>,
    aborts: Vec<String>,
    command_timeout: u32,
    connect_timeout: u32,
    /// Each step's `expect`, split on `-`: expect, sub-send, expect, …
    login: Vec<(LoginStep, Vec<String>)>,
    user: String,
    password: String,
    /// Answering a call instead of dialing: how.
    answer: Option<AnswerMode>,

    state: State,
    deadline: Option<Instant>,
    /// The last command sent, to recognise its echo.
    last_sent: String,
    /// Received text since the last line end.
    line: Vec<u8>,
    /// Whether `line` lost its beginning to the cap.
    line_truncated: bool,
    /// The login stream since the wait began (its last few bytes only).
    window: Vec<u8>,
    /// The CONNECT line ended in `\r`: a `\n` right after belongs to it.
    skip_lf: bool,
    remainder: Vec<u8>,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<ChatEvent>,
    queued_transcripts: usize,
    dropped_transcripts: usize,
}

impl Chat {
    /// A dialer for `modem`, then the text `login` (empty for none). The
    /// first command (or, with no `init`, the first dial) is queued at once.
    pub fn new(
        modem: &Modem,
        login: &[LoginStep],
        user: &str,
        password: &str,
        now: Instant,
    ) -> Chat {
        let mut chat = Chat::blank(login, user, password);
        chat.init = modem.init.clone();
        chat.dial_command = modem.dial_command.clone();
        chat.numbers = modem.numbers.clone();
        chat.aborts = modem.aborts();
        chat.command_timeout = modem.command_timeout;
        chat.connect_timeout = modem.connect_timeout;
        if chat.init.is_empty() {
            chat.start_dial(0, now);
        } else {
            chat.start_init(0, now);
        }
        chat
    }

    /// A text login on a direct line, without a modem. With no steps it is
    /// finished at once.
    pub fn login_only(login: &[LoginStep], user: &str, password: &str, now: Instant) -> Chat {
        let mut chat = Chat::blank(login, user, password);
        chat.start_login(now);
        chat
    }

    /// The answering side: the init commands of `spec`, then a call
    /// answered per its [`AnswerMode`] (see the [module
    /// documentation](self)). With [`AnswerMode::Direct`] it is finished at
    /// once.
    pub fn answer(spec: &AnswerSpec, now: Instant) -> Chat {
        let mut chat = Chat::blank(&[], "", "");
        chat.command_timeout = spec.command_timeout;
        chat.connect_timeout = spec.connect_timeout;
        chat.answer = Some(spec.mode);
        chat.init = spec.init.clone();
        match spec.mode {
            AnswerMode::Direct => {
                chat.finish();
                return chat;
            }
            AnswerMode::AutoAnswer { rings } => chat.init.push(format!("ATS0={}", rings.max(1))),
            AnswerMode::Ring { .. } => {}
        }
        if chat.init.is_empty() {
            chat.start_waiting();
        } else {
            chat.start_init(0, now);
        }
        chat
    }

    fn blank(login: &[LoginStep], user: &str, password: &str) -> Chat {
        Chat {
            init: Vec::new(),
            dial_command: String::new(),
            numbers: Vec::new(),
            aborts: Vec::new(),
            command_timeout: 0,
            connect_timeout: 0,
            login: login
                .iter()
                .map(|s| (s.clone(), s.expect.split('-').map(str::to_owned).collect()))
                .collect(),
            user: user.to_owned(),
            password: password.to_owned(),
            answer: None,
            state: State::Done,
            deadline: None,
            last_sent: String::new(),
            line: Vec::new(),
            line_truncated: false,
            window: Vec::new(),
            skip_lf: false,
            remainder: Vec::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            queued_transcripts: 0,
            dropped_transcripts: 0,
        }
    }

    /// Bytes read from the line. After [`ChatEvent::Finished`] they are
    /// kept for [`Chat::take_remainder`]; after [`ChatEvent::Failed`] they
    /// are ignored.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        for (i, &b) in bytes.iter().enumerate() {
            if std::mem::take(&mut self.skip_lf) && b == b'\n' {
                continue;
            }
            match self.state {
                State::Init { .. }
                | State::Dial { .. }
                | State::Cancel { .. }
                | State::Waiting { .. }
                | State::Answering => self.modem_byte(b, now),
                State::Login { step, part } => self.login_byte(b, step, part, now),
                State::Done => {
                    self.remainder.extend_from_slice(&bytes[i..]);
                    return;
                }
                State::Failed => return,
            }
        }
    }

    /// Runs the timer if it is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.deadline {
            Some(d) if d <= now => self.deadline = None,
            _ => return,
        }
        match self.state {
            State::Init { index } => {
                self.flush_line();
                let command = self.init.get(index).cloned().unwrap_or_default();
                self.fail(ChatError::NoResponse { command });
            }
            State::Dial { index } => {
                self.flush_line();
                let reason = ChatError::ConnectTimeout {
                    number: self.number(index),
                    seconds: self.connect_timeout,
                };
                if index + 1 < self.numbers.len() {
                    self.events.push_back(ChatEvent::DialFailed {
                        number: self.number(index),
                        reason,
                    });
                    // Any character ends a call in progress.
                    self.send("", "", now);
                    self.state = State::Cancel { index };
                    self.deadline = Some(now + secs(self.command_timeout));
                } else {
                    self.fail(reason);
                }
            }
            State::Cancel { index } => {
                self.flush_line();
                self.start_dial(index + 1, now);
            }
            State::Waiting { .. } => {
                // The caller gave up: count the next call's rings afresh.
                self.state = State::Waiting { rings: 0 };
            }
            State::Answering => {
                self.flush_line();
                let seconds = self.connect_timeout;
                self.fail(ChatError::AnswerTimeout { seconds });
            }
            State::Login { step, part } => {
                self.flush_line();
                let Some((login, parts)) = self.login.get(step) else {
                    self.finish();
                    return;
                };
                if part + 2 < parts.len() {
                    let sub = parts[part + 1].clone();
                    self.send(&sub, &sub, now);
                    self.wait_login(step, part + 2, now);
                } else {
                    let expect = login.expect.clone();
                    self.fail(ChatError::LoginTimeout { expect });
                }
            }
            State::Done | State::Failed => {}
        }
    }

    /// When [`Chat::handle_timeout`] next has work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The next bytes to write to the line.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ChatEvent> {
        let event = self.events.pop_front()?;
        if matches!(event, ChatEvent::Transcript { .. }) {
            self.queued_transcripts = self.queued_transcripts.saturating_sub(1);
        }
        Some(event)
    }

    /// The bytes received after the end of the conversation (the rest of a
    /// banner, the first PPP frames), to be given to the PPP engine first.
    /// Empties the store.
    pub fn take_remainder(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.remainder)
    }

    /// Whether the conversation is over, either way.
    pub fn is_over(&self) -> bool {
        matches!(self.state, State::Done | State::Failed)
    }

    // --- the modem's line-by-line answers ---

    fn modem_byte(&mut self, b: u8, now: Instant) {
        if b == b'\r' || b == b'\n' {
            let truncated = std::mem::take(&mut self.line_truncated);
            let raw = std::mem::take(&mut self.line);
            let text = String::from_utf8_lossy(&raw);
            let text = text.trim();
            if text.is_empty() {
                return;
            }
            let shown = if truncated {
                format!("…{text}")
            } else {
                text.to_owned()
            };
            self.transcript(Direction::Received, &shown);
            self.modem_line(text, b == b'\r', now);
        } else {
            self.push_line(b);
        }
    }

    fn modem_line(&mut self, line: &str, ended_by_cr: bool, now: Instant) {
        if line == self.last_sent.trim() {
            return; // the echo
        }
        match self.state {
            State::Init { index } => {
                if line == "OK" {
                    if index + 1 < self.init.len() {
                        self.start_init(index + 1, now);
                    } else if self.answer.is_some() {
                        self.start_waiting();
                    } else {
                        self.start_dial(0, now);
                    }
                } else if line.contains("ERROR") {
                    let command = self.init.get(index).cloned().unwrap_or_default();
                    self.fail(ChatError::ModemError { command });
                }
            }
            State::Dial { index } => {
                if line.starts_with("CONNECT") {
                    self.connected(line, ended_by_cr, now);
                    return;
                }
                let Some(abort) = self.aborts.iter().find(|a| line.contains(a.as_str())) else {
                    return;
                };
                let number = self.number(index);
                let reason = match abort.as_str() {
                    "BUSY" => ChatError::Busy { number },
                    "NO CARRIER" => ChatError::NoCarrier { number },
                    "NO DIALTONE" => ChatError::NoDialtone,
                    "NO ANSWER" => ChatError::NoAnswer { number },
                    "ERROR" => ChatError::ModemError {
                        command: format!("{}{}", self.dial_command, number),
                    },
                    _ => ChatError::Abort {
                        abort: abort.clone(),
                        number,
                    },
                };
                if reason.try_next_number() && index + 1 < self.numbers.len() {
                    self.events.push_back(ChatEvent::DialFailed {
                        number: self.number(index),
                        reason,
                    });
                    self.start_dial(index + 1, now);
                } else {
                    self.fail(reason);
                }
            }
            State::Cancel { index } => {
                if line.starts_with("CONNECT") {
                    // The call came through just as it was given up.
                    self.connected(line, ended_by_cr, now);
                } else {
                    self.start_dial(index + 1, now);
                }
            }
            State::Waiting { rings } => self.waiting_line(line, ended_by_cr, rings, now),
            State::Answering => self.answering_line(line, ended_by_cr, now),
            State::Login { .. } | State::Done | State::Failed => {}
        }
    }

    fn connected(&mut self, line: &str, ended_by_cr: bool, now: Instant) {
        let rest = line["CONNECT".len()..].trim_start();
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let speed = rest[..digits].parse::<u32>().ok();
        self.events.push_back(ChatEvent::Connected {
            speed,
            text: line.to_owned(),
        });
        self.skip_lf = ended_by_cr;
        self.start_login(now);
    }

    fn start_init(&mut self, index: usize, now: Instant) {
        let command = self.init.get(index).cloned().unwrap_or_default();
        self.send(&command, &command, now);
        self.state = State::Init { index };
        self.deadline = Some(now + secs(self.command_timeout));
    }

    fn start_dial(&mut self, index: usize, now: Instant) {
        if index >= self.numbers.len() {
            self.fail(ChatError::NoNumbers);
            return;
        }
        let number = self.number(index);
        let command = format!("{}{}", self.dial_command, number);
        self.send(&command, &command, now);
        self.events.push_back(ChatEvent::Dialing {
            number,
            attempt: index + 1,
        });
        self.state = State::Dial { index };
        self.deadline = Some(now + secs(self.connect_timeout));
    }

    fn number(&self, index: usize) -> String {
        self.numbers.get(index).cloned().unwrap_or_default()
    }

    // --- answering ---

    fn start_waiting(&mut self) {
        self.state = State::Waiting { rings: 0 };
        self.deadline = None;
    }

    fn waiting_line(&mut self, line: &str, ended_by_cr: bool, rings: u8, now: Instant) {
        if line.starts_with("CONNECT") {
            // The modem answered by itself (its own S0, or a ring missed).
            self.connected(line, ended_by_cr, now);
            return;
        }
        // Anything else (caller ID, a stray NO CARRIER) leaves the modem
        // waiting, and so do we.
        if !line.starts_with("RING") {
            return;
        }
        let rings = rings.saturating_add(1);
        let (wanted, ata) = match self.answer {
            Some(AnswerMode::Ring { rings }) => (rings.max(1), true),
            Some(AnswerMode::AutoAnswer { rings }) => (rings.max(1), false),
            Some(AnswerMode::Direct) | None => (1, false),
        };
        if rings < wanted {
            self.state = State::Waiting { rings };
            self.deadline = Some(now + RING_GAP);
            return;
        }
        if ata {
            self.send("ATA", "ATA", now);
        }
        self.state = State::Answering;
        self.deadline = Some(now + secs(self.connect_timeout));
    }

    fn answering_line(&mut self, line: &str, ended_by_cr: bool, now: Instant) {
        if line.starts_with("CONNECT") {
            self.connected(line, ended_by_cr, now);
        } else if line.contains("NO CARRIER") {
            self.fail(ChatError::AnswerNoCarrier);
        } else if line.contains("NO DIALTONE") {
            self.fail(ChatError::NoDialtone);
        } else if line.contains("ERROR") && matches!(self.answer, Some(AnswerMode::Ring { .. })) {
            self.fail(ChatError::ModemError {
                command: "ATA".to_owned(),
            });
        }
    }

    // --- the text login: a substring match on the stream ---

    fn start_login(&mut self, now: Instant) {
        if self.login.is_empty() {
            self.finish();
        } else {
            self.wait_login(0, 0, now);
        }
    }

    fn wait_login(&mut self, step: usize, part: usize, now: Instant) {
        self.window.clear();
        let Some((login, parts)) = self.login.get(step) else {
            self.finish();
            return;
        };
        if parts.get(part).is_none_or(|p| p.is_empty()) {
            // chat's empty expect: nothing to wait for.
            self.login_matched(step, now);
            return;
        }
        self.state = State::Login { step, part };
        self.deadline = Some(now + secs(login.timeout));
    }

    fn login_byte(&mut self, b: u8, step: usize, part: usize, now: Instant) {
        if b == b'\r' || b == b'\n' {
            self.flush_line();
        } else {
            self.push_line(b);
        }
        let expect = match self.login.get(step).and_then(|(_, p)| p.get(part)) {
            Some(e) => e.as_bytes(),
            None => return,
        };
        self.window.push(b);
        if self.window.len() > 2 * expect.len() + 64 {
            let cut = self.window.len() - expect.len();
            self.window.drain(..cut);
        }
        if self.window.ends_with(expect) {
            self.flush_line();
            self.login_matched(step, now);
        }
    }

    fn login_matched(&mut self, step: usize, now: Instant) {
        let Some((login, _)) = self.login.get(step) else {
            self.finish();
            return;
        };
        let (text, shown) = match &login.send {
            Send::User => (self.user.clone(), self.user.clone()),
            Send::Password => (self.password.clone(), PASSWORD_MASK.to_owned()),
            Send::Text(t) => (t.clone(), t.clone()),
        };
        self.send(&text, &shown, now);
        if step + 1 < self.login.len() {
            self.wait_login(step + 1, 0, now);
        } else {
            self.finish();
        }
    }

    // --- common ---

    /// Queues `text` and a carriage return; `shown` is what the transcript
    /// says was sent.
    fn send(&mut self, text: &str, shown: &str, _now: Instant) {
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(b'\r');
        self.transmit.push_back(bytes);
        self.last_sent = text.to_owned();
        self.transcript(Direction::Sent, &format!("{shown}\r"));
    }

    fn push_line(&mut self, b: u8) {
        if self.line.len() >= MAX_LINE {
            self.line.drain(..MAX_LINE / 2);
            self.line_truncated = true;
        }
        self.line.push(b);
    }

    /// Reports received text not yet ended by a line end.
    fn flush_line(&mut self) {
        let truncated = std::mem::take(&mut self.line_truncated);
        let raw = std::mem::take(&mut self.line);
        if raw.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&raw);
        let shown = if truncated {
            format!("…{text}")
        } else {
            text.into_owned()
        };
        self.transcript(Direction::Received, &shown);
    }

    fn transcript(&mut self, direction: Direction, text: &str) {
        if self.queued_transcripts >= MAX_QUEUED_TRANSCRIPTS {
            self.dropped_transcripts += 1;
            return;
        }
        if self.dropped_transcripts > 0 {
            let note = format!(
                "({} transcript lines not shown)",
                std::mem::take(&mut self.dropped_transcripts)
            );
            self.queued_transcripts += 1;
            self.events.push_back(ChatEvent::Transcript {
                direction: Direction::Received,
                text: note,
            });
            if self.queued_transcripts >= MAX_QUEUED_TRANSCRIPTS {
                self.dropped_transcripts += 1;
                return;
            }
        }
        let masked = if self.password.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.password, PASSWORD_MASK)
        };
        self.queued_transcripts += 1;
        self.events.push_back(ChatEvent::Transcript {
            direction,
            text: escape(&masked),
        });
    }

    fn finish(&mut self) {
        self.flush_line();
        self.state = State::Done;
        self.deadline = None;
        self.window = Vec::new();
        self.events.push_back(ChatEvent::Finished);
    }

    fn fail(&mut self, error: ChatError) {
        self.flush_line();
        self.state = State::Failed;
        self.deadline = None;
        self.window = Vec::new();
        self.events.push_back(ChatEvent::Failed(error));
    }
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

/// Control characters as escapes (`\r`, `\u{1b}`), the rest as is.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialtone_api::profile::STANDARD_ABORTS;

    /// One turn of a scripted fake modem (or dial-in server).
    #[derive(Clone, Copy, Debug)]
    enum Step {
        /// The chat must have sent this and a `\r`; echoed back if the
        /// modem echoes.
        Tx(&'static str),
        /// The modem sends these bytes.
        Rx(&'static [u8]),
        /// Nothing comes: the virtual clock jumps to the chat's timer.
        Wait,
    }
    use Step::{Rx, Tx, Wait};

    #[derive(Debug, PartialEq, Eq)]
    struct Outcome {
        events: Vec<ChatEvent>,
        remainder: Vec<u8>,
        now: Instant,
    }

    /// A script and the chat it is played against.
    type Scenario = (&'static [Step], fn() -> Chat);

    type Split<'a> = &'a dyn Fn(&[u8]) -> Vec<Vec<u8>>;

    fn whole(b: &[u8]) -> Vec<Vec<u8>> {
        vec![b.to_vec()]
    }

    fn feed(chat: &mut Chat, bytes: &[u8], now: Instant, split: Split) {
        let chunks = split(bytes);
        assert_eq!(chunks.concat(), bytes, "the split lost bytes");
        for chunk in chunks {
            chat.handle_input(&chunk, now);
        }
    }

    /// Plays `script` against `chat`, cutting every received piece with
    /// `split`.
    fn run_split(mut chat: Chat, echo: bool, script: &[Step], split: Split) -> Outcome {
        let mut now = Instant::ZERO;
        let mut events = Vec::new();
        let mut sent = VecDeque::new();
        for step in script {
            match *step {
                Tx(expected) => {
                    while let Some(t) = chat.poll_transmit() {
                        sent.push_back(t);
                    }
                    let got = sent
                        .pop_front()
                        .unwrap_or_else(|| panic!("nothing sent, expected {expected:?}"));
                    assert_eq!(String::from_utf8_lossy(&got), format!("{expected}\r"));
                    if echo {
                        feed(&mut chat, &got, now, split);
                    }
                }
                Rx(bytes) => feed(&mut chat, bytes, now, split),
                Wait => {
                    let due = chat.poll_timeout().expect("a timer is running");
                    assert!(due >= now);
                    // Just before the deadline nothing happens.
                    if due > now {
                        chat.handle_timeout(Instant::from_duration(
                            due.as_duration() - Duration::from_millis(1),
                        ));
                        assert_eq!(chat.poll_timeout(), Some(due));
                    }
                    now = due;
                    chat.handle_timeout(now);
                }
            }
            while let Some(e) = chat.poll_event() {
                events.push(e);
            }
        }
        while let Some(t) = chat.poll_transmit() {
            sent.push_back(t);
        }
        assert!(sent.is_empty(), "sent but not in the script: {sent:?}");
        Outcome {
            events,
            remainder: chat.take_remainder(),
            now,
        }
    }

    fn run(chat: Chat, echo: bool, script: &[Step]) -> Outcome {
        run_split(chat, echo, script, &whole)
    }

    fn modem(numbers: &[&str]) -> Modem {
        Modem {
            numbers: numbers.iter().map(|n| n.to_string()).collect(),
            ..Modem::default()
        }
    }

    fn step(expect: &str, send: Send) -> LoginStep {
        LoginStep {
            expect: expect.into(),
            send,
            timeout: 10,
        }
    }

    fn dialer(m: &Modem) -> Chat {
        Chat::new(m, &[], "", "", Instant::ZERO)
    }

    /// The events but the transcript.
    fn milestones(o: &Outcome) -> Vec<ChatEvent> {
        o.events
            .iter()
            .filter(|e| !matches!(e, ChatEvent::Transcript { .. }))
            .cloned()
            .collect()
    }

    fn transcript(o: &Outcome) -> Vec<(Direction, String)> {
        o.events
            .iter()
            .filter_map(|e| match e {
                ChatEvent::Transcript { direction, text } => Some((*direction, text.clone())),
                _ => None,
            })
            .collect()
    }

    fn last(o: &Outcome) -> ChatEvent {
        milestones(o).pop().expect("an event")
    }

    fn sent(t: &str) -> ChatEvent {
        ChatEvent::Transcript {
            direction: Direction::Sent,
            text: t.into(),
        }
    }

    fn received(t: &str) -> ChatEvent {
        ChatEvent::Transcript {
            direction: Direction::Received,
            text: t.into(),
        }
    }

    fn dialing(number: &str, attempt: usize) -> ChatEvent {
        ChatEvent::Dialing {
            number: number.into(),
            attempt,
        }
    }

    #[test]
    fn happy_path_with_echo() {
        let o = run(
            dialer(&modem(&["5551234"])),
            true,
            &[
                Tx("ATZ"),
                Rx(b"\r\nOK\r\n"),
                Tx("ATDT5551234"),
                Rx(b"\r\nCONNECT 57600\r\n"),
            ],
        );
        assert_eq!(
            o.events,
            [
                sent("ATZ\\r"),
                received("ATZ"),
                received("OK"),
                sent("ATDT5551234\\r"),
                dialing("5551234", 1),
                received("ATDT5551234"),
                received("CONNECT 57600"),
                ChatEvent::Connected {
                    speed: Some(57600),
                    text: "CONNECT 57600".into()
                },
                ChatEvent::Finished,
            ]
        );
        assert!(o.remainder.is_empty());
    }

    #[test]
    fn several_init_commands_and_none() {
        let mut m = modem(&["1"]);
        m.init = vec!["ATZ".into(), "AT&F E1 V1".into(), "AT+MS=V34".into()];
        let o = run(
            dialer(&m),
            true,
            &[
                Tx("ATZ"),
                Rx(b"\r\nOK\r\n"),
                Tx("AT&F E1 V1"),
                Rx(b"\r\n\r\nOK\r\n"),
                Tx("AT+MS=V34"),
                Rx(b"\r\nRING\r\nOK\r\n"),
                Tx("ATDT1"),
                Rx(b"\r\nCONNECT\r\n"),
            ],
        );
        assert_eq!(last(&o), ChatEvent::Finished);

        m.init.clear();
        let o = run(dialer(&m), false, &[Tx("ATDT1"), Rx(b"CONNECT\r\n")]);
        assert_eq!(last(&o), ChatEvent::Finished);
    }

    #[test]
    fn connect_speed_variants() {
        let cases: [(&[u8], Option<u32>, &str); 6] = [
            (b"\r\nCONNECT\r\n", None, "CONNECT"),
            (b"\r\nCONNECT 57600\r\n", Some(57600), "CONNECT 57600"),
            (
                b"\r\nCONNECT 115200/V42BIS\r\n",
                Some(115200),
                "CONNECT 115200/V42BIS",
            ),
            (
                b"CONNECT 28800/ARQ/V34/LAPM/V42BIS\r",
                Some(28800),
                "CONNECT 28800/ARQ/V34/LAPM/V42BIS",
            ),
            (b"\r\nCONNECT  33600 \r\n", Some(33600), "CONNECT  33600"),
            (b"\r\nCONNECT 99999999999\r\n", None, "CONNECT 99999999999"),
        ];
        for (reply, speed, text) in cases {
            let o = run(
                dialer(&modem(&["1"])),
                false,
                &[Tx("ATZ"), Rx(b"\r\nOK\r\n"), Tx("ATDT1"), Rx(reply)],
            );
            assert_eq!(
                milestones(&o),
                [
                    dialing("1", 1),
                    ChatEvent::Connected {
                        speed,
                        text: text.into()
                    },
                    ChatEvent::Finished
                ],
                "{text}"
            );
        }
    }

    #[test]
    fn each_abort_gives_its_reason() {
        let number = || "5551234".to_string();
        let cases: [(&[u8], ChatError); 7] = [
            (b"\r\nBUSY\r\n", ChatError::Busy { number: number() }),
            (
                b"\r\nNO CARRIER\r\n",
                ChatError::NoCarrier { number: number() },
            ),
            (b"\r\nNO DIALTONE\r\n", ChatError::NoDialtone),
            (
                b"\r\nNO ANSWER\r\n",
                ChatError::NoAnswer { number: number() },
            ),
            (
                b"\r\nERROR\r\n",
                ChatError::ModemError {
                    command: "ATDT5551234".into(),
                },
            ),
            // Anywhere in the line, like chat.
            (
                b"\r\n+++ LINE BUSY +++\r\n",
                ChatError::Busy { number: number() },
            ),
            (
                b"\r\nRING\r\n\r\nNO CARRIER",
                ChatError::NoCarrier { number: number() },
            ),
        ];
        for (reply, reason) in cases {
            // The last case has no line end yet: it is not a line.
            let script = [
                Tx("ATZ"),
                Rx(b"OK\r"),
                Tx("ATDT5551234"),
                Rx(reply),
                Rx(b"\r\n"),
            ];
            let o = run(dialer(&modem(&["5551234"])), true, &script);
            assert_eq!(last(&o), ChatEvent::Failed(reason), "{reply:?}");
        }
        assert_eq!(STANDARD_ABORTS.len(), 5);
    }

    #[test]
    fn busy_then_connect_on_the_second_number() {
        let o = run(
            dialer(&modem(&["111", "222", "333"])),
            true,
            &[
                Tx("ATZ"),
                Rx(b"\r\nOK\r\n"),
                Tx("ATDT111"),
                Rx(b"\r\nBUSY\r\n"),
                Tx("ATDT222"),
                Rx(b"\r\nCONNECT 115200/V42BIS\r\n"),
            ],
        );
        assert_eq!(
            milestones(&o),
            [
                dialing("111", 1),
                ChatEvent::DialFailed {
                    number: "111".into(),
                    reason: ChatError::Busy {
                        number: "111".into()
                    }
                },
                dialing("222", 2),
                ChatEvent::Connected {
                    speed: Some(115200),
                    text: "CONNECT 115200/V42BIS".into()
                },
                ChatEvent::Finished,
            ]
        );
    }

    #[test]
    fn all_numbers_failing_gives_the_last_reason() {
        let o = run(
            dialer(&modem(&["111", "222"])),
            false,
            &[
                Tx("ATZ"),
                Rx(b"\r\nOK\r\n"),
                Tx("ATDT111"),
                Rx(b"\r\nNO CARRIER\r\n"),
                Tx("ATDT222"),
                Rx(b"\r\nNO ANSWER\r\n"),
            ],
        );
        assert_eq!(
            last(&o),
            ChatEvent::Failed(ChatError::NoAnswer {
                number: "222".into()
            })
        );
    }

    #[test]
    fn no_dialtone_and_error_stop_at_once() {
        for (reply, reason) in [
            (&b"\r\nNO DIALTONE\r\n"[..], ChatError::NoDialtone),
            (
                &b"\r\nERROR\r\n"[..],
                ChatError::ModemError {
                    command: "ATDT111".into(),
                },
            ),
        ] {
            // `run` checks that ATDT222 is never sent.
            let o = run(
                dialer(&modem(&["111", "222"])),
                true,
                &[Tx("ATZ"), Rx(b"\r\nOK\r\n"), Tx("ATDT111"), Rx(reply)],
            );
            assert_eq!(
                milestones(&o),
                [dialing("111", 1), ChatEvent::Failed(reason)]
            );
        }
    }

    #[test]
    fn custom_abort_string_stops() {
        let mut m = modem(&["111", "222"]);
        m.abort = vec!["VOICE".into(), "BUSY".into()];
        let o = run(
            dialer(&m),
            true,
            &[
                Tx("ATZ"),
                Rx(b"\r\nOK\r\n"),
                Tx("ATDT111"),
                Rx(b"\r\nVOICE\r\n"),
            ],
        );
        let reason = ChatError::Abort {
            abort: "VOICE".into(),
            number: "111".into(),
        };
        assert_eq!(
            reason.to_string(),
            "the modem answered \"VOICE\" while dialing 111"
        );
        assert_eq!(last(&o), ChatEvent::Failed(reason));
    }

    #[test]
    fn init_timeout_and_error() {
        let o = run(dialer(&modem(&["1"])), false, &[Tx("ATZ"), Wait]);
        let reason = ChatError::NoResponse {
            command: "ATZ".into(),
        };
        assert_eq!(
            reason.to_string(),
            "the modem did not answer ATZ — is it switched on and on this port?"
        );
        assert_eq!(milestones(&o), [ChatEvent::Failed(reason)]);
        assert_eq!(o.now, Instant::from_millis(5000));

        // Echo but no answer: still a timeout; the echo is in the log.
        let o = run(dialer(&modem(&["1"])), true, &[Tx("ATZ"), Wait]);
        assert_eq!(transcript(&o)[1], (Direction::Received, "ATZ".into()));
        assert!(matches!(
            last(&o),
            ChatEvent::Failed(ChatError::NoResponse { .. })
        ));

        let mut m = modem(&["1"]);
        m.init.push("AT&Q99".into());
        let o = run(
            dialer(&m),
            true,
            &[
                Tx("ATZ"),
                Rx(b"\r\nOK\r\n"),
                Tx("AT&Q99"),
                Rx(b"\r\nERROR\r\n"),
            ],
        );
        assert_eq!(
            last(&o),
            ChatEvent::Failed(ChatError::ModemError {
                command: "AT&Q99".into()
            })
        );
    }

    #[test]
    fn connect_timeout() {
        let o = run(
            dialer(&modem(&["111"])),
            true,
            &[Tx("ATZ"), Rx(b"\r\nOK\r\n"), Tx("ATDT111"), Wait],
        );
        assert_eq!(
            last(&o),
            ChatEvent::Failed(ChatError::ConnectTimeout {
                number: "111".into(),
                seconds: 60
            })
        );
        assert_eq!(o.now, Instant::from_millis(60_000));

        // With another number: the call is cancelled with a carriage return,
        // the modem's NO CARRIER awaited, then the next number dialed.
        let o = run(
            dialer(&modem(&["111", "222"])),
            true,
            &[
                Tx("ATZ"),
                Rx(b"\r\nOK\r\n"),
                Tx("ATDT111"),
                Wait,
                Tx(""),
                Rx(b"\r\nNO CARRIER\r\n"),
                Tx("ATDT222"),
                Rx(b"\r\nCONNECT 31200\r\n"),
            ],
        );
        assert_eq!(
            milestones(&o),
            [
                dialing("111", 1),
                ChatEvent::DialFailed {
                    number: "111".into(),
                    reason: ChatError::ConnectTimeout {
                        number: "111".into(),
                        seconds: 60
                    }
                },
                dialing("222", 2),
                ChatEvent::Connected {
                    speed: Some(31200),
                    text: "CONNECT 31200".into()
                },
                ChatEvent::Finished,
            ]
        );

        // A modem that does not even answer the cancel: dial on anyway.
        let o = run(
            dialer(&modem(&["111", "222"])),
            false,
            &[
                Tx("ATZ"),
                Rx(b"OK\r\n"),
                Tx("ATDT111"),
                Wait,
                Tx(""),
                Wait,
                Tx("ATDT222"),
                Wait,
            ],
        );
        assert_eq!(o.now, Instant::from_millis(60_000 + 5_000 + 60_000));
        assert!(matches!(
            last(&o),
            ChatEvent::Failed(ChatError::ConnectTimeout { .. })
        ));
    }

    fn isp_login() -> Vec<LoginStep> {
        vec![
            step("ogin:--ogin:", Send::User),
            step("ssword:", Send::Password),
            step("$", Send::Text("ppp".into())),
        ]
    }

    /// The full conversation: init, dial, a login whose first prompt needs a
    /// prod, and PPP right behind. With echo on, the fake echoes the login
    /// replies too (the password included, like a careless server).
    const FULL: [Step; 13] = [
        Tx("ATZ"),
        Rx(b"\r\nOK\r\n"),
        Tx("ATDT5551234"),
        Rx(b"\r\nCONNECT 57600\r\n"),
        Wait,
        Tx(""),
        Rx(b"\r\n\r\nExample ISP dial-in\r\nlogin: "),
        Tx("alice"),
        Rx(b"\nPassword: "),
        Tx("s3cret"),
        Rx(b"\nWelcome, alice\r\n$ "),
        Tx("ppp"),
        Rx(b"\n~\xff}#\xc0!}!}!} }4~"),
    ];

    fn full_chat() -> Chat {
        Chat::new(
            &modem(&["5551234"]),
            &isp_login(),
            "alice",
            "s3cret",
            Instant::ZERO,
        )
    }

    #[test]
    fn login_with_a_prod_for_the_first_prompt() {
        let o = run(full_chat(), true, &FULL);
        assert_eq!(
            milestones(&o),
            [
                dialing("5551234", 1),
                ChatEvent::Connected {
                    speed: Some(57600),
                    text: "CONNECT 57600".into()
                },
                ChatEvent::Finished
            ]
        );
        // The prod came when the first wait ran out.
        assert_eq!(o.now, Instant::from_millis(10_000));
        // The space after the prompt, the echo, the frame: all kept.
        assert_eq!(o.remainder, b" ppp\r\n~\xff}#\xc0!}!}!} }4~");
        let t = transcript(&o);
        let expected: Vec<(Direction, String)> = [
            (Direction::Sent, "ATZ\\r"),
            (Direction::Received, "ATZ"),
            (Direction::Received, "OK"),
            (Direction::Sent, "ATDT5551234\\r"),
            (Direction::Received, "ATDT5551234"),
            (Direction::Received, "CONNECT 57600"),
            (Direction::Sent, "\\r"),
            (Direction::Received, "Example ISP dial-in"),
            (Direction::Received, "login:"),
            (Direction::Sent, "alice\\r"),
            (Direction::Received, " alice"),
            (Direction::Received, "Password:"),
            (Direction::Sent, "********\\r"),
            (Direction::Received, " ********"),
            (Direction::Received, "Welcome, alice"),
            (Direction::Received, "$"),
            (Direction::Sent, "ppp\\r"),
        ]
        .iter()
        .map(|(d, s)| (*d, s.to_string()))
        .collect();
        assert_eq!(t, expected);
    }

    #[test]
    fn password_masked_in_every_transcript() {
        let o = run(full_chat(), true, &FULL);
        let mut masks = 0;
        for e in &o.events {
            let text = format!("{e:?}");
            assert!(!text.contains("s3cret"), "{text}");
            masks += usize::from(text.contains(PASSWORD_MASK));
        }
        assert_eq!(masks, 2, "the password sent and echoed");
    }

    #[test]
    fn login_timeout_after_every_retry() {
        let o = run(
            full_chat(),
            false,
            &[
                Tx("ATZ"),
                Rx(b"OK\r\n"),
                Tx("ATDT5551234"),
                Rx(b"CONNECT\r\n"),
                Wait,
                Tx(""),
                Rx(b"Welcome to nowhere"),
                Wait,
            ],
        );
        let reason = ChatError::LoginTimeout {
            expect: "ogin:--ogin:".into(),
        };
        assert_eq!(last(&o), ChatEvent::Failed(reason));
        // What came instead of the prompt is in the log.
        assert!(transcript(&o).contains(&(Direction::Received, "Welcome to nowhere".into())));
        assert_eq!(o.now, Instant::from_millis(20_000));
    }

    #[test]
    fn direct_line_login_only() {
        let login = [
            step("ogin:", Send::User),
            step("", Send::Text("ppp".into())),
        ];
        let o = run(
            Chat::login_only(&login, "bob", "pw", Instant::ZERO),
            false,
            &[Rx(b"\r\nlogin:"), Tx("bob"), Tx("ppp"), Rx(b"~\x7d")],
        );
        assert_eq!(milestones(&o), [ChatEvent::Finished]);
        assert_eq!(o.remainder, b"~\x7d");

        let o = run(
            Chat::login_only(&[], "", "", Instant::ZERO),
            false,
            &[Rx(b"~")],
        );
        assert_eq!(milestones(&o), [ChatEvent::Finished]);
        assert_eq!(o.remainder, b"~");
    }

    #[test]
    fn remainder_after_connect_is_exact() {
        let frame: &[u8] = b"~\xff}#\xc0!}!}!} }8}\"}&} }*} }}~";
        for reply in [
            &b"\r\nCONNECT 57600\r\n~\xff}#\xc0!}!}!} }8}\"}&} }*} }}~"[..],
            &b"CONNECT 57600\r~\xff}#\xc0!}!}!} }8}\"}&} }*} }}~"[..],
            &b"CONNECT 57600\n~\xff}#\xc0!}!}!} }8}\"}&} }*} }}~"[..],
        ] {
            let mut chat = dialer(&modem(&["1"]));
            let _ = chat.poll_transmit();
            chat.handle_input(b"OK\r\n", Instant::ZERO);
            let _ = chat.poll_transmit();
            chat.handle_input(reply, Instant::ZERO);
            assert!(chat.is_over());
            assert_eq!(chat.take_remainder(), frame);
            assert!(chat.take_remainder().is_empty());
            // Later input is kept too, untouched (a `\n` included).
            chat.handle_input(b"\n~", Instant::ZERO);
            assert_eq!(chat.take_remainder(), b"\n~");
        }
    }

    fn split_at(k: usize) -> impl Fn(&[u8]) -> Vec<Vec<u8>> {
        move |b: &[u8]| {
            let k = k.min(b.len());
            vec![b[..k].to_vec(), b[k..].to_vec()]
        }
    }

    fn bytewise(b: &[u8]) -> Vec<Vec<u8>> {
        b.iter().map(|&x| vec![x]).collect()
    }

    #[test]
    fn input_split_anywhere_gives_the_same_result() {
        let scripts: [Scenario; 3] = [
            (&FULL, full_chat),
            (
                &[
                    Tx("ATZ"),
                    Rx(b"\r\nOK\r\n"),
                    Tx("ATDT1"),
                    Rx(b"\r\nBUSY\r\n"),
                    Tx("ATDT2"),
                    Rx(b"\r\nCONNECT 115200/V42BIS\r\n~\x7e\xff\n"),
                ],
                || dialer(&modem(&["1", "2"])),
            ),
            (
                &[
                    Tx("ATZ"),
                    Rx(b"\r\nOK\r\n"),
                    Tx("ATDT1"),
                    Rx(b"\r\nNO DIALTONE\r\n"),
                ],
                || dialer(&modem(&["1", "2"])),
            ),
        ];
        for (script, make) in scripts {
            for echo in [false, true] {
                let reference = run(make(), echo, script);
                assert_eq!(run_split(make(), echo, script, &bytewise), reference);
                for k in 0..64 {
                    assert_eq!(
                        run_split(make(), echo, script, &split_at(k)),
                        reference,
                        "split at {k}"
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn random_chunks_give_the_same_result(sizes in proptest::collection::vec(1usize..9, 1..16)) {
            let chunker = move |b: &[u8]| {
                let mut out = Vec::new();
                let mut rest = b;
                for &n in sizes.iter().cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    let (a, r) = rest.split_at(n.min(rest.len()));
                    out.push(a.to_vec());
                    rest = r;
                }
                out
            };
            let reference = run(full_chat(), true, &FULL);
            proptest::prop_assert_eq!(run_split(full_chat(), true, &FULL, &chunker), reference);
        }

        #[test]
        fn arbitrary_modem_output_never_panics(
            replies in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..64), 0..8)
        ) {
            let mut chat = full_chat();
            let mut now = Instant::ZERO;
            for r in &replies {
                chat.handle_input(r, now);
                while chat.poll_event().is_some() {}
                while chat.poll_transmit().is_some() {}
                if let Some(t) = chat.poll_timeout() {
                    now = t;
                    chat.handle_timeout(now);
                }
            }
        }
    }

    #[test]
    fn babbling_modem_stays_bounded() {
        let mut chat = dialer(&modem(&["1"]));
        let _ = chat.poll_transmit();
        // A megabyte without a line end.
        let chunk = [b'A'; 1000];
        while chat.poll_event().is_some() {}
        for _ in 0..1000 {
            chat.handle_input(&chunk, Instant::ZERO);
            assert!(chat.line.len() <= MAX_LINE);
        }
        assert!(chat.events.is_empty());
        // Then many lines, never polled.
        for _ in 0..10_000 {
            chat.handle_input(b"\r\nRING\r\n", Instant::ZERO);
        }
        assert!(chat.events.len() <= MAX_QUEUED_TRANSCRIPTS);
        let first = chat.poll_event();
        let Some(ChatEvent::Transcript { text, .. }) = first else {
            panic!("{first:?}");
        };
        assert!(
            text.starts_with('…') && text.len() <= MAX_LINE + 3,
            "{}",
            text.len()
        );
        while chat.poll_event().is_some() {}
        // Still working, and the log says what was left out.
        chat.handle_input(b"\r\nOK\r\n", Instant::ZERO);
        assert_eq!(chat.poll_transmit(), Some(b"ATDT1\r".to_vec()));
        let events: Vec<_> = std::iter::from_fn(|| chat.poll_event()).collect();
        assert_eq!(events[0], received("(9745 transcript lines not shown)"));

        // The login too: a stream with no line end and no prompt.
        let mut chat = Chat::login_only(&isp_login(), "alice", "s3cret", Instant::ZERO);
        for _ in 0..1000 {
            chat.handle_input(&chunk, Instant::ZERO);
            assert!(chat.line.len() <= MAX_LINE);
            assert!(chat.window.len() <= 2 * "ogin:".len() + 64);
        }
        chat.handle_input(b"login:", Instant::ZERO);
        assert_eq!(chat.poll_transmit(), Some(b"alice\r".to_vec()));
    }

    #[test]
    fn control_characters_escaped_and_bad_utf8_survives() {
        let o = run(
            dialer(&modem(&["1"])),
            false,
            &[
                Tx("ATZ"),
                Rx(b"\x1b[0m\x07OK\xff\r\nOK\r\n"),
                Tx("ATDT1"),
                Rx(b"CONNECT\r\n"),
            ],
        );
        assert_eq!(
            transcript(&o)[1],
            (Direction::Received, "\\u{1b}[0m\\u{7}OK\u{fffd}".into())
        );
        assert_eq!(last(&o), ChatEvent::Finished);
    }

    #[test]
    fn no_numbers_and_messages() {
        let mut chat = dialer(&modem(&[]));
        let _ = chat.poll_transmit();
        chat.handle_input(b"OK\r", Instant::ZERO);
        let events: Vec<_> = std::iter::from_fn(|| chat.poll_event()).collect();
        assert_eq!(
            events.last(),
            Some(&ChatEvent::Failed(ChatError::NoNumbers))
        );
        assert_eq!(chat.poll_timeout(), None);
        // Input after a failure is ignored.
        chat.handle_input(b"CONNECT\r\n~", Instant::ZERO);
        assert!(chat.take_remainder().is_empty());
        assert!(chat.poll_event().is_none());

        assert_eq!(
            ChatError::NoDialtone.to_string(),
            "no dial tone: is the phone line plugged in?"
        );
        assert_eq!(
            ChatError::Busy {
                number: "5551234".into()
            }
            .to_string(),
            "the line is busy (5551234)"
        );
    }

    // --- answering ---

    use crate::hayes::{Hayes, HayesConfig, HayesEvent};

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn answer_spec(init: &[&str], mode: AnswerMode) -> AnswerSpec {
        AnswerSpec {
            init: init.iter().map(|c| c.to_string()).collect(),
            mode,
            command_timeout: 5,
            connect_timeout: 30,
        }
    }

    /// A chat wired to a simulated modem, on a virtual clock.
    struct Bench {
        chat: Chat,
        modem: Hayes,
        now: Instant,
        /// The chat's events, with when they came.
        events: Vec<(Instant, ChatEvent)>,
        /// What the chat sent, with when.
        sent: Vec<(Instant, String)>,
        hayes: Vec<HayesEvent>,
    }

    impl Bench {
        fn new(spec: &AnswerSpec) -> Bench {
            let mut b = Bench {
                chat: Chat::answer(spec, Instant::ZERO),
                modem: Hayes::new(HayesConfig::default()),
                now: Instant::ZERO,
                events: Vec::new(),
                sent: Vec::new(),
                hayes: Vec::new(),
            };
            b.pump();
            b
        }

        /// Moves bytes both ways until nothing moves.
        fn pump(&mut self) {
            loop {
                let mut moved = false;
                while let Some(t) = self.chat.poll_transmit() {
                    self.sent
                        .push((self.now, String::from_utf8_lossy(&t).into_owned()));
                    self.modem.handle_dte_input(&t, self.now);
                    moved = true;
                }
                while let Some(b) = self.modem.poll_dte() {
                    self.chat.handle_input(&b, self.now);
                    moved = true;
                }
                while let Some(e) = self.chat.poll_event() {
                    self.events.push((self.now, e));
                }
                while let Some(e) = self.modem.poll_event() {
                    self.hayes.push(e);
                }
                if !moved {
                    break;
                }
            }
        }

        /// Runs both sides' timers up to `until`.
        fn run_until(&mut self, until: Instant) {
            for _ in 0..100_000 {
                self.pump();
                let next = [self.chat.poll_timeout(), self.modem.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                match next {
                    Some(t) if t <= until => {
                        self.now = self.now.max(t);
                        self.chat.handle_timeout(self.now);
                        self.modem.handle_timeout(self.now);
                    }
                    _ => break,
                }
            }
            self.now = self.now.max(until);
            self.chat.handle_timeout(self.now);
            self.modem.handle_timeout(self.now);
            self.pump();
        }

        fn call(&mut self) {
            self.modem.incoming_call(self.now);
            self.pump();
        }

        fn milestones(&self) -> Vec<(Instant, ChatEvent)> {
            self.events
                .iter()
                .filter(|(_, e)| !matches!(e, ChatEvent::Transcript { .. }))
                .cloned()
                .collect()
        }

        fn transcript(&self) -> Vec<ChatEvent> {
            self.events
                .iter()
                .filter(|(_, e)| matches!(e, ChatEvent::Transcript { .. }))
                .map(|(_, e)| e.clone())
                .collect()
        }

        fn sent_text(&self) -> Vec<&str> {
            self.sent.iter().map(|(_, t)| t.as_str()).collect()
        }
    }

    fn connected_57600() -> ChatEvent {
        ChatEvent::Connected {
            speed: Some(57600),
            text: "CONNECT 57600".into(),
        }
    }

    #[test]
    fn answer_with_ata_on_the_second_ring() {
        let mut b = Bench::new(&answer_spec(&["ATZ"], AnswerMode::Ring { rings: 2 }));
        // Waiting for a call has no timer, however long it takes.
        assert_eq!(b.chat.poll_timeout(), None);
        b.run_until(at(3_600_000));
        assert!(!b.chat.is_over());
        assert!(b.milestones().is_empty());

        b.call();
        // One ring: the ring gap is timed, nothing more.
        assert_eq!(b.chat.poll_timeout(), Some(at(3_610_000)));
        b.run_until(at(3_700_000));
        let t = at(3_606_000);
        assert_eq!(
            b.milestones(),
            [(t, connected_57600()), (t, ChatEvent::Finished)]
        );
        assert_eq!(
            b.sent,
            [(Instant::ZERO, "ATZ\r".into()), (t, "ATA\r".into())]
        );
        assert_eq!(
            b.hayes,
            [
                HayesEvent::Ring,
                HayesEvent::Ring,
                HayesEvent::Answered,
                HayesEvent::Online { speed: 57600 }
            ]
        );
        assert_eq!(
            b.transcript(),
            [
                sent("ATZ\\r"),
                received("ATZ"),
                received("OK"),
                received("RING"),
                received("RING"),
                sent("ATA\\r"),
                received("ATA"),
                received("CONNECT 57600"),
            ]
        );
        assert!(b.chat.is_over());
        assert_eq!(b.chat.poll_timeout(), None);
        // The caller's PPP, right behind.
        b.modem.handle_line_input(b"~\xff}#\xc0!~", b.now);
        b.pump();
        assert_eq!(b.chat.take_remainder(), b"~\xff}#\xc0!~");
    }

    #[test]
    fn auto_answer_on_the_third_ring() {
        let mut b = Bench::new(&answer_spec(
            &["ATZ", "AT&C1"],
            AnswerMode::AutoAnswer { rings: 3 },
        ));
        assert_eq!(b.sent_text(), ["ATZ\r", "AT&C1\r", "ATS0=3\r"]);
        assert_eq!(b.modem.s_register(0), 3);
        assert_eq!(b.chat.poll_timeout(), None);
        b.run_until(at(10_000));
        b.call();
        b.run_until(at(100_000));
        let t = at(22_000);
        assert_eq!(
            b.milestones(),
            [(t, connected_57600()), (t, ChatEvent::Finished)]
        );
        // The modem answered: no ATA.
        assert_eq!(b.sent.len(), 3);
        assert_eq!(
            b.hayes,
            [
                HayesEvent::Ring,
                HayesEvent::Ring,
                HayesEvent::Ring,
                HayesEvent::Answered,
                HayesEvent::Online { speed: 57600 }
            ]
        );
        let t = b.transcript();
        assert_eq!(
            t[t.len() - 4..],
            [
                received("RING"),
                received("RING"),
                received("RING"),
                received("CONNECT 57600")
            ]
        );
    }

    #[test]
    fn answer_on_the_nth_ring_for_each_mode() {
        for rings in 1..=4u8 {
            for auto in [false, true] {
                let mode = if auto {
                    AnswerMode::AutoAnswer { rings }
                } else {
                    AnswerMode::Ring { rings }
                };
                let mut b = Bench::new(&answer_spec(&["ATZ"], mode));
                b.run_until(at(1_000));
                b.call();
                b.run_until(at(60_000));
                let t = at(1_000 + 6_000 * (u64::from(rings) - 1));
                assert_eq!(
                    b.milestones(),
                    [(t, connected_57600()), (t, ChatEvent::Finished)],
                    "{mode:?}"
                );
                let rung = b.hayes.iter().filter(|e| **e == HayesEvent::Ring).count();
                assert_eq!(rung, usize::from(rings), "{mode:?}");
            }
        }
    }

    #[test]
    fn zero_rings_answer_on_the_first() {
        let mut b = Bench::new(&answer_spec(&[], AnswerMode::Ring { rings: 0 }));
        assert!(b.sent.is_empty());
        b.call();
        assert_eq!(b.sent_text(), ["ATA\r"]);
        assert_eq!(
            b.milestones().last().map(|e| &e.1),
            Some(&ChatEvent::Finished)
        );

        let mut b = Bench::new(&answer_spec(&[], AnswerMode::AutoAnswer { rings: 0 }));
        assert_eq!(b.sent_text(), ["ATS0=1\r"]);
        b.call();
        assert_eq!(
            b.milestones().last().map(|e| &e.1),
            Some(&ChatEvent::Finished)
        );
    }

    #[test]
    fn direct_answer_is_finished_at_once() {
        let mut chat = Chat::answer(&answer_spec(&["ATZ"], AnswerMode::Direct), Instant::ZERO);
        assert!(chat.is_over());
        assert_eq!(chat.poll_transmit(), None);
        assert_eq!(chat.poll_timeout(), None);
        assert_eq!(chat.poll_event(), Some(ChatEvent::Finished));
        assert_eq!(chat.poll_event(), None);
        chat.handle_input(b"~\xff}#", Instant::ZERO);
        assert_eq!(chat.take_remainder(), b"~\xff}#");
    }

    #[test]
    fn ring_count_starts_again_when_the_caller_gives_up() {
        let mut b = Bench::new(&answer_spec(&["ATZ"], AnswerMode::Ring { rings: 2 }));
        b.call();
        b.run_until(at(1_000));
        b.modem.remote_hangup(b.now);
        b.run_until(at(20_000));
        // The gap passed: no timer, still waiting, nothing answered.
        assert_eq!(b.chat.poll_timeout(), None);
        assert!(!b.chat.is_over());
        assert_eq!(b.sent.len(), 1);
        // The next call needs its own two rings.
        b.run_until(at(30_000));
        b.call();
        assert_eq!(b.sent.len(), 1, "one ring of the new call is not enough");
        b.run_until(at(60_000));
        assert_eq!(b.sent.last(), Some(&(at(36_000), "ATA\r".to_string())));
        assert_eq!(
            b.milestones().last(),
            Some(&(at(36_000), ChatEvent::Finished))
        );
    }

    #[test]
    fn caller_hanging_up_as_ata_goes_out_is_no_carrier() {
        let mut b = Bench::new(&answer_spec(&["ATZ"], AnswerMode::Ring { rings: 1 }));
        b.modem.incoming_call(b.now);
        // The RING reaches the chat, which queues ATA...
        while let Some(d) = b.modem.poll_dte() {
            b.chat.handle_input(&d, b.now);
        }
        // ...as the caller gives up.
        b.modem.remote_hangup(b.now);
        b.pump();
        assert_eq!(b.sent_text(), ["ATZ\r", "ATA\r"]);
        let reason = ChatError::AnswerNoCarrier;
        assert_eq!(
            reason.to_string(),
            "the incoming call was answered but did not connect: the caller hung up, or the modems could not agree"
        );
        assert_eq!(b.milestones(), [(Instant::ZERO, ChatEvent::Failed(reason))]);
        assert!(b.chat.is_over());
        assert_eq!(b.chat.poll_timeout(), None);
    }

    #[test]
    fn modem_answering_by_itself_is_accepted() {
        // The init sets S0 itself; the chat meant to answer on ring 3.
        let mut b = Bench::new(&answer_spec(
            &["ATZ", "ATS0=1"],
            AnswerMode::Ring { rings: 3 },
        ));
        b.call();
        assert_eq!(
            b.milestones(),
            [
                (Instant::ZERO, connected_57600()),
                (Instant::ZERO, ChatEvent::Finished)
            ]
        );
        assert_eq!(b.sent_text(), ["ATZ\r", "ATS0=1\r"]);
    }

    fn ringer(mode: AnswerMode) -> Chat {
        Chat::answer(&answer_spec(&["ATZ"], mode), Instant::ZERO)
    }

    #[test]
    fn answer_failures() {
        let ring1 = AnswerMode::Ring { rings: 1 };
        let auto2 = AnswerMode::AutoAnswer { rings: 2 };
        let ringing: [Step; 4] = [Tx("ATZ"), Rx(b"\r\nOK\r\n"), Rx(b"\r\nRING\r\n"), Tx("ATA")];

        let o = run(
            ringer(ring1),
            true,
            &[ringing.as_slice(), &[Rx(b"\r\nNO CARRIER\r\n")]].concat(),
        );
        assert_eq!(last(&o), ChatEvent::Failed(ChatError::AnswerNoCarrier));

        // ATA, then nothing: the answer is timed.
        let o = run(ringer(ring1), true, &[ringing.as_slice(), &[Wait]].concat());
        let reason = ChatError::AnswerTimeout { seconds: 30 };
        assert_eq!(
            reason.to_string(),
            "the incoming call did not connect within 30 seconds of answering"
        );
        assert_eq!(last(&o), ChatEvent::Failed(reason));
        assert_eq!(o.now, at(30_000));

        let o = run(
            ringer(ring1),
            false,
            &[ringing.as_slice(), &[Rx(b"\r\nERROR\r\n")]].concat(),
        );
        assert_eq!(
            last(&o),
            ChatEvent::Failed(ChatError::ModemError {
                command: "ATA".into()
            })
        );
        let o = run(
            ringer(ring1),
            false,
            &[ringing.as_slice(), &[Rx(b"NO DIALTONE\r")]].concat(),
        );
        assert_eq!(last(&o), ChatEvent::Failed(ChatError::NoDialtone));

        // Auto-answer: timed from the ring the modem answers on.
        let auto_ringing: [Step; 6] = [
            Tx("ATZ"),
            Rx(b"\r\nOK\r\n"),
            Tx("ATS0=2"),
            Rx(b"\r\nOK\r\n"),
            Rx(b"\r\nRING\r\n"),
            Rx(b"\r\nRING\r\n"),
        ];
        let o = run(
            ringer(auto2),
            true,
            &[auto_ringing.as_slice(), &[Rx(b"\r\nNO CARRIER\r\n")]].concat(),
        );
        assert_eq!(last(&o), ChatEvent::Failed(ChatError::AnswerNoCarrier));
        let o = run(
            ringer(auto2),
            true,
            &[auto_ringing.as_slice(), &[Wait]].concat(),
        );
        assert_eq!(
            last(&o),
            ChatEvent::Failed(ChatError::AnswerTimeout { seconds: 30 })
        );
        assert_eq!(o.now, at(30_000));

        // The init fails as when dialing.
        let o = run(
            ringer(auto2),
            true,
            &[
                Tx("ATZ"),
                Rx(b"\r\nOK\r\n"),
                Tx("ATS0=2"),
                Rx(b"\r\nERROR\r\n"),
            ],
        );
        assert_eq!(
            last(&o),
            ChatEvent::Failed(ChatError::ModemError {
                command: "ATS0=2".into()
            })
        );
        let o = run(ringer(ring1), false, &[Tx("ATZ"), Wait]);
        assert_eq!(
            last(&o),
            ChatEvent::Failed(ChatError::NoResponse {
                command: "ATZ".into()
            })
        );
        assert_eq!(o.now, at(5_000));
    }

    #[test]
    fn waiting_ignores_what_is_not_a_ring() {
        // Caller ID between the rings, a stray NO CARRIER and ERROR: still
        // waiting, ATA on the second real ring, then CONNECT.
        let o = run(
            ringer(AnswerMode::Ring { rings: 2 }),
            false,
            &[
                Tx("ATZ"),
                Rx(b"\r\nOK\r\n"),
                Rx(b"\r\nNO CARRIER\r\n\r\nERROR\r\n"),
                Rx(b"\r\nRING\r\n\r\nDATE = 0321\r\nNMBR = 5551234\r\n"),
                Rx(b"\r\nRING\r\n"),
                Tx("ATA"),
                Rx(b"\r\nRING\r\n\r\nCONNECT 33600/ARQ\r\n~"),
            ],
        );
        assert_eq!(
            milestones(&o),
            [
                ChatEvent::Connected {
                    speed: Some(33600),
                    text: "CONNECT 33600/ARQ".into()
                },
                ChatEvent::Finished
            ]
        );
        assert_eq!(o.remainder, b"~");
        assert!(transcript(&o).contains(&(Direction::Received, "NMBR = 5551234".into())));
    }

    const ANSWER: [Step; 7] = [
        Tx("ATZ"),
        Rx(b"\r\nOK\r\n"),
        Rx(b"\r\nRING\r\n"),
        Rx(b"\r\nRING\r\n"),
        Tx("ATA"),
        Rx(b"\r\nCONNECT 57600\r\n~\xff}#~"),
        Rx(b"\n"),
    ];

    fn ring_twice() -> Chat {
        ringer(AnswerMode::Ring { rings: 2 })
    }

    #[test]
    fn answer_input_split_anywhere_gives_the_same_result() {
        for echo in [false, true] {
            let reference = run(ring_twice(), echo, &ANSWER);
            assert_eq!(last(&reference), ChatEvent::Finished);
            assert_eq!(reference.remainder, b"~\xff}#~\n");
            assert_eq!(run_split(ring_twice(), echo, &ANSWER, &bytewise), reference);
            for k in 0..32 {
                assert_eq!(
                    run_split(ring_twice(), echo, &ANSWER, &split_at(k)),
                    reference,
                    "split at {k}"
                );
            }
        }
    }

    #[test]
    fn answer_spec_from_the_modem() {
        let m = Modem {
            init: vec!["ATZ".into(), "AT&F".into()],
            connect_timeout: 45,
            ..Modem::default()
        };
        let spec = AnswerSpec::from_modem(&m, AnswerMode::AutoAnswer { rings: 2 });
        assert_eq!(spec.init, ["ATZ", "AT&F"]);
        assert_eq!((spec.command_timeout, spec.connect_timeout), (5, 45));
        let d = AnswerSpec::default();
        assert_eq!(d.mode, AnswerMode::Ring { rings: 1 });
        assert_eq!(d.init, ["ATZ"]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_modem_output_never_panics_when_answering(
            mode in 0u8..3,
            rings in proptest::num::u8::ANY,
            replies in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![
                        b'R', b'I', b'N', b'G', b'O', b'K', b'C', b'\r', b'\n', b' ', b'5', 0xff,
                    ]),
                    0..48,
                ),
                0..12,
            ),
        ) {
            let mode = match mode {
                0 => AnswerMode::Ring { rings },
                1 => AnswerMode::AutoAnswer { rings },
                _ => AnswerMode::Direct,
            };
            let mut chat = ringer(mode);
            let mut now = Instant::ZERO;
            let mut finished = 0;
            while let Some(e) = chat.poll_event() {
                finished += usize::from(matches!(e, ChatEvent::Finished | ChatEvent::Failed(_)));
            }
            for r in &replies {
                chat.handle_input(r, now);
                while let Some(e) = chat.poll_event() {
                    finished += usize::from(matches!(e, ChatEvent::Finished | ChatEvent::Failed(_)));
                }
                while chat.poll_transmit().is_some() {}
                if let Some(t) = chat.poll_timeout() {
                    proptest::prop_assert!(t >= now);
                    now = t;
                    chat.handle_timeout(now);
                }
                while let Some(e) = chat.poll_event() {
                    finished += usize::from(matches!(e, ChatEvent::Finished | ChatEvent::Failed(_)));
                }
            }
            proptest::prop_assert!(finished <= 1);
            proptest::prop_assert_eq!(finished == 1, chat.is_over());
        }
    }
}
