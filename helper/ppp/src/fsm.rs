//! The option negotiation automaton (RFC 1661 §4), shared by LCP, IPCP and
//! IPV6CP.
//!
//! [`Fsm`] implements every state and every cell of the state transition
//! table of RFC 1661 §4.1 (RCA/RCN in Ack-Rcvd and Opened, and TO- in
//! Ack-Rcvd, are coded but unreachable: identifier matching drops the only
//! replies that could cause them, and Ack-Rcvd always starts a fresh count), the restart timer with Max-Configure and
//! Max-Terminate (§4.6), Max-Failure (persistent Naks become Rejects), and
//! identifier matching (replies to anything but our latest Configure-Request
//! are dropped, as are duplicates of the reply already taken). What differs
//! between protocols, the options, lives behind the [`Negotiator`] trait, in
//! the manner of pppd's `fsm_callbacks`.
//!
//! The automaton does no I/O: it queues [`Output`]s (packets to send and the
//! This-Layer-Up/Down/Started/Finished actions) for the link to drain.

use std::collections::VecDeque;
use std::time::Duration;

use crate::config::FsmConfig;
use crate::reason::DownReason;
use crate::time::Instant;
use crate::wire::{self, code, Opt, Options};

/// The ten states of RFC 1661 §4.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// 0: lower layer down, no Open.
    Initial,
    /// 1: Open issued, lower layer not yet up.
    Starting,
    /// 2: lower layer up, no Open: Terminate-Acks answer everything.
    Closed,
    /// 3: waiting for the peer after a finish (or passive open).
    Stopped,
    /// 4: Terminate-Request sent after a Close.
    Closing,
    /// 5: Terminate-Request sent, or received, without a Close.
    Stopping,
    /// 6: Configure-Request sent.
    ReqSent,
    /// 7: Configure-Request sent and Acked.
    AckRcvd,
    /// 8: Configure-Request sent, peer's Acked.
    AckSent,
    /// 9: both sides Acked: the layer is up.
    Opened,
}

impl State {
    /// Whether the restart timer runs in this state (§4.6).
    fn timed(self) -> bool {
        matches!(
            self,
            State::Closing | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent
        )
    }
}

/// What the automaton asks of the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this control packet (code, identifier, length, data).
    Send(Vec<u8>),
    /// This-Layer-Up (tlu).
    Up,
    /// This-Layer-Down (tld).
    Down,
    /// This-Layer-Started (tls).
    Started,
    /// This-Layer-Finished (tlf).
    Finished,
    /// Something went wrong that ends this layer; reported once, before
    /// the transitions it causes.
    Failure(DownReason),
}

/// How we answer a Configure-Request (RFC 1661 §5.2–5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every option acceptable: Configure-Ack.
    Ack,
    /// Recognised options with unacceptable values: Configure-Nak.
    Nak,
    /// Unrecognised or non-negotiable options: Configure-Reject.
    Reject,
}

/// Builds the reply to a Configure-Request, option by option. Rejects win
/// over Naks, Naks over Acks (RFC 1661 §5.2–5.4).
#[derive(Debug)]
pub struct Reply {
    acks: Vec<u8>,
    naks: Vec<u8>,
    rejects: Vec<u8>,
    reject_if_disagree: bool,
}

impl Reply {
    fn new(reject_if_disagree: bool) -> Self {
        Reply {
            acks: Vec::new(),
            naks: Vec::new(),
            rejects: Vec::new(),
            reject_if_disagree,
        }
    }

    /// The option is acceptable as it is.
    pub fn ack(&mut self, opt: Opt<'_>) {
        opt.emit(&mut self.acks);
    }

    /// The option's value is unacceptable; suggest `value` instead. After
    /// Max-Failure Naks in a row the option is rejected instead.
    pub fn nak(&mut self, opt: Opt<'_>, value: &[u8]) {
        if self.reject_if_disagree {
            self.reject(opt);
        } else {
            wire::emit_option(opt.kind, value, &mut self.naks);
        }
    }

    /// Ask the peer to include an option it left out (RFC 1661 §5.3: a Nak
    /// may list options not in the request). Dropped after Max-Failure.
    pub fn nak_missing(&mut self, kind: u8, value: &[u8]) {
        if !self.reject_if_disagree {
            wire::emit_option(kind, value, &mut self.naks);
        }
    }

    /// The option is not recognised or not acceptable for negotiation.
    pub fn reject(&mut self, opt: Opt<'_>) {
        opt.emit(&mut self.rejects);
    }

    /// Whether a Reject or Nak has been recorded so far.
    pub fn disagrees(&self) -> bool {
        !self.rejects.is_empty() || !self.naks.is_empty()
    }

    fn finish(self) -> (Verdict, Vec<u8>) {
        if !self.rejects.is_empty() {
            (Verdict::Reject, self.rejects)
        } else if !self.naks.is_empty() {
            (Verdict::Nak, self.naks)
        } else {
            (Verdict::Ack, self.acks)
        }
    }
}

/// The per-protocol half of the automaton: the options.
pub trait Negotiator {
    /// The protocol number, for traces and reasons.
    fn protocol(&self) -> u16;
    /// Start a fresh negotiation with the options we want (pppd `resetci`).
    fn reset(&mut self);
    /// Append the options of our next Configure-Request.
    fn build_request(&mut self, out: &mut Vec<u8>);
    /// Our request was Acked as sent: remember the options as agreed.
    fn acked(&mut self, opts: Options<'_>);
    /// The peer Naked some options: adjust what we ask for. With
    /// `treat_as_reject` (Max-Failure reached) stop asking for them instead.
    /// An error means we cannot go on without what the peer refuses.
    fn naked(&mut self, opts: Options<'_>, treat_as_reject: bool) -> Result<(), DownReason>;
    /// The peer rejected these options (already checked to be a subset of
    /// our request): stop asking for them, or fail.
    fn rejected(&mut self, opts: Options<'_>) -> Result<(), DownReason>;
    /// Judge the peer's Configure-Request, option by option, into `reply`.
    fn check_request(&mut self, opts: Options<'_>, reply: &mut Reply);
    /// A fatal condition found while judging a request (a looped-back
    /// line): the automaton closes the layer instead of replying.
    fn take_failure(&mut self) -> Option<DownReason> {
        None
    }
    /// The reason to give when the peer answered none of our
    /// Configure-Requests, if the protocol knows better than
    /// `PeerNotResponding` (LCP: only our own requests ever came back).
    fn silence_reason(&self) -> Option<DownReason> {
        None
    }
}

/// Why a negotiation round was abandoned, for `PeerNotResponding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Counter {
    Configure,
    Terminate,
}

/// The RFC 1661 automaton around a [`Negotiator`].
#[derive(Debug)]
pub struct Fsm<N> {
    /// The protocol's options.
    pub neg: N,
    config: FsmConfig,
    state: State,
    restart_count: u32,
    counting: Counter,
    deadline: Option<Instant>,
    next_id: u8,
    req_id: u8,
    seen_ack: bool,
    last_request: Vec<u8>,
    naks_sent: u32,
    naks_received: u32,
    term_message: Vec<u8>,
    out: VecDeque<Output>,
}

impl<N: Negotiator> Fsm<N> {
    /// A new automaton in the Initial state.
    pub fn new(neg: N, config: FsmConfig) -> Self {
        Fsm {
            neg,
            config,
            state: State::Initial,
            restart_count: 0,
            counting: Counter::Configure,
            deadline: None,
            next_id: 1,
            req_id: 0,
            seen_ack: false,
            last_request: Vec::new(),
            naks_sent: 0,
            naks_received: 0,
            term_message: Vec::new(),
            out: VecDeque::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// When the restart timer fires next, if it runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The next queued output.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The identifier for a new request.
    pub fn next_id(&mut self) -> u8 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    fn set_state(&mut self, state: State) {
        self.state = state;
        if !state.timed() {
            self.deadline = None;
        }
    }

    fn restart_interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.config.restart_ms.max(1)))
    }

    // ---- actions (RFC 1661 §4.4) ----

    fn tlu(&mut self) {
        self.out.push_back(Output::Up);
    }
    fn tld(&mut self) {
        self.out.push_back(Output::Down);
    }
    fn tls(&mut self) {
        self.out.push_back(Output::Started);
    }
    fn tlf(&mut self) {
        self.out.push_back(Output::Finished);
    }

    /// Initialize-Restart-Count for Configure-Requests; a fresh negotiation
    /// also forgets the Nak loop counters and asks for our wanted options.
    fn irc_configure(&mut self) {
        self.restart_count = u32::from(self.config.max_configure.max(1));
        self.counting = Counter::Configure;
        if !matches!(self.state, State::ReqSent | State::AckRcvd | State::AckSent) {
            self.naks_sent = 0;
            self.naks_received = 0;
            self.neg.reset();
        }
    }

    fn irc_terminate(&mut self) {
        self.restart_count = u32::from(self.config.max_terminate.max(1));
        self.counting = Counter::Terminate;
    }

    fn zrc(&mut self, now: Instant) {
        self.restart_count = 0;
        self.counting = Counter::Terminate;
        self.deadline = Some(now + self.restart_interval());
    }

    fn scr(&mut self, now: Instant) {
        let mut opts = Vec::new();
        self.neg.build_request(&mut opts);
        self.req_id = self.next_id();
        self.seen_ack = false;
        self.out.push_back(Output::Send(wire::build(
            code::CONFIGURE_REQUEST,
            self.req_id,
            &opts,
        )));
        self.last_request = opts;
        self.restart_count = self.restart_count.saturating_sub(1);
        self.deadline = Some(now + self.restart_interval());
    }

    fn str(&mut self, now: Instant) {
        let id = self.next_id();
        let msg = self.term_message.clone();
        self.out
            .push_back(Output::Send(wire::build(code::TERMINATE_REQUEST, id, &msg)));
        self.restart_count = self.restart_count.saturating_sub(1);
        self.deadline = Some(now + self.restart_interval());
    }

    fn sta(&mut self, id: u8) {
        self.out
            .push_back(Output::Send(wire::build(code::TERMINATE_ACK, id, &[])));
    }

    fn send_reply(&mut self, verdict: Verdict, id: u8, data: &[u8]) {
        let c = match verdict {
            Verdict::Ack => code::CONFIGURE_ACK,
            Verdict::Nak => code::CONFIGURE_NAK,
            Verdict::Reject => code::CONFIGURE_REJECT,
        };
        self.out.push_back(Output::Send(wire::build(c, id, data)));
    }

    fn failure(&mut self, reason: DownReason) {
        self.out.push_back(Output::Failure(reason));
    }

    // ---- events (RFC 1661 §4.3) ----

    /// Up: the lower layer is ready.
    pub fn up(&mut self, now: Instant) {
        match self.state {
            State::Initial => self.set_state(State::Closed),
            State::Starting => {
                self.irc_configure();
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            _ => {}
        }
    }

    /// Down: the lower layer is gone.
    pub fn down(&mut self) {
        match self.state {
            State::Closed | State::Closing => self.set_state(State::Initial),
            State::Stopped => {
                self.tls();
                self.set_state(State::Starting);
            }
            State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent => {
                self.set_state(State::Starting)
            }
            State::Opened => {
                self.tld();
                self.set_state(State::Starting);
            }
            State::Initial | State::Starting => {}
        }
    }

    /// Open: the administrator wants the link.
    pub fn open(&mut self, now: Instant) {
        match self.state {
            State::Initial => {
                self.tls();
                self.set_state(State::Starting);
            }
            State::Closed => {
                self.irc_configure();
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            State::Closing => self.set_state(State::Stopping),
            _ => {}
        }
    }

    /// Close: the administrator wants the link down. `message` goes into
    /// the Terminate-Request.
    pub fn close(&mut self, message: &[u8], now: Instant) {
        self.term_message = message.to_vec();
        match self.state {
            State::Starting => {
                self.tlf();
                self.set_state(State::Initial);
            }
            State::Stopped => self.set_state(State::Closed),
            State::Stopping => self.set_state(State::Closing),
            State::ReqSent | State::AckRcvd | State::AckSent => {
                self.irc_terminate();
                self.str(now);
                self.set_state(State::Closing);
            }
            State::Opened => {
                self.tld();
                self.irc_terminate();
                self.str(now);
                self.set_state(State::Closing);
            }
            State::Initial | State::Closed | State::Closing => {}
        }
    }

    /// The restart timer: TO+ while the counter lasts, TO- after.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.deadline {
            Some(d) if d <= now => {}
            _ => return,
        }
        self.deadline = None;
        if self.restart_count > 0 {
            match self.state {
                State::Closing | State::Stopping => self.str(now),
                State::ReqSent | State::AckRcvd => {
                    self.scr(now);
                    self.set_state(State::ReqSent);
                }
                State::AckSent => self.scr(now),
                _ => {}
            }
        } else {
            match self.state {
                State::Closing => {
                    self.tlf();
                    self.set_state(State::Closed);
                }
                State::Stopping => {
                    self.tlf();
                    self.set_state(State::Stopped);
                }
                State::ReqSent | State::AckRcvd | State::AckSent => {
                    let requests = u32::from(self.config.max_configure.max(1));
                    if self.counting == Counter::Configure {
                        let reason =
                            self.neg
                                .silence_reason()
                                .unwrap_or(DownReason::PeerNotResponding {
                                    protocol: self.neg.protocol(),
                                    requests,
                                });
                        self.failure(reason);
                    }
                    self.tlf();
                    self.set_state(State::Stopped);
                }
                _ => {}
            }
        }
    }

    /// A received control packet for this protocol, already parsed.
    /// Returns the packet back if its code is not one of the seven the
    /// automaton knows, so that the protocol can handle its own codes
    /// (LCP's Echo, Discard and Protocol-Reject) or answer with
    /// [`Fsm::code_reject`].
    pub fn handle_packet<'p>(
        &mut self,
        packet: wire::Packet<'p>,
        now: Instant,
    ) -> Option<wire::Packet<'p>> {
        if matches!(self.state, State::Initial | State::Starting) {
            // RFC 1661 §4.2: no packets are expected before the lower
            // layer is up; silently discard.
            return None;
        }
        match packet.code {
            code::CONFIGURE_REQUEST => self.rcr(packet.id, packet.data, now),
            code::CONFIGURE_ACK => self.rca(packet.id, packet.data, now),
            code::CONFIGURE_NAK => self.rcn(packet.id, packet.data, false, now),
            code::CONFIGURE_REJECT => self.rcn(packet.id, packet.data, true, now),
            code::TERMINATE_REQUEST => self.rtr(packet.id, packet.data, now),
            code::TERMINATE_ACK => self.rta(now),
            code::CODE_REJECT => {
                // The rejected packet follows; its first octet is the code.
                match packet.data.first() {
                    Some(&rejected) if (1..=7).contains(&rejected) => {
                        self.failure(DownReason::CodeRejected {
                            protocol: self.neg.protocol(),
                            code: rejected,
                        });
                        self.rxj_bad(now);
                    }
                    Some(_) => self.rxj_good(),
                    None => {}
                }
            }
            _ => return Some(packet),
        }
        None
    }

    /// RUC: send a Code-Reject carrying the unknown packet, truncated to
    /// `max_len` octets of data so that it fits the peer's MRU.
    pub fn code_reject(&mut self, rejected: &[u8], max_len: usize) {
        if matches!(self.state, State::Initial | State::Starting) {
            return;
        }
        let id = self.next_id();
        let data = &rejected[..rejected.len().min(max_len)];
        self.out
            .push_back(Output::Send(wire::build(code::CODE_REJECT, id, data)));
    }

    /// RXJ-: the peer rejected this whole protocol (a Protocol-Reject
    /// received by LCP) or a code we cannot do without.
    pub fn protocol_rejected(&mut self, now: Instant) {
        if matches!(self.state, State::Initial | State::Starting) {
            return;
        }
        self.failure(DownReason::ProtocolRejected {
            protocol: self.neg.protocol(),
        });
        self.rxj_bad(now);
    }

    fn rcr(&mut self, id: u8, data: &[u8], now: Instant) {
        let Ok(opts) = Options::new(data) else {
            // Malformed option list: silently discarded (RFC 1661 §5).
            return;
        };
        match self.state {
            State::Closed => {
                self.sta(id);
                return;
            }
            State::Closing | State::Stopping => return,
            State::Stopped => {
                self.irc_configure();
                self.scr(now);
            }
            State::Opened => {
                self.tld();
                self.irc_configure();
                self.scr(now);
            }
            _ => {}
        }
        let mut reply = Reply::new(self.naks_sent >= u32::from(self.config.max_failure));
        self.neg.check_request(opts, &mut reply);
        if let Some(reason) = self.neg.take_failure() {
            self.failure(reason);
            let message = self.term_message.clone();
            self.close(&message, now);
            return;
        }
        let (verdict, data) = reply.finish();
        self.send_reply(verdict, id, &data);
        match verdict {
            Verdict::Ack => self.naks_sent = 0,
            Verdict::Nak => self.naks_sent = self.naks_sent.saturating_add(1),
            Verdict::Reject => {}
        }
        let ack = verdict == Verdict::Ack;
        match (self.state, ack) {
            (State::AckRcvd, true) => {
                self.set_state(State::Opened);
                self.tlu();
            }
            (State::AckRcvd, false) => {}
            (_, true) => self.set_state(State::AckSent),
            (_, false) => self.set_state(State::ReqSent),
        }
    }

    fn reply_matches(&self, id: u8) -> bool {
        id == self.req_id && !self.seen_ack
    }

    fn rca(&mut self, id: u8, data: &[u8], now: Instant) {
        match self.state {
            State::Closed | State::Stopped => {
                self.sta(id);
                return;
            }
            State::Closing | State::Stopping => return,
            _ => {}
        }
        // RFC 1661 §5.2: the options must be exactly those we sent.
        if !self.reply_matches(id) || data != self.last_request.as_slice() {
            return;
        }
        self.seen_ack = true;
        self.naks_received = 0;
        let Ok(opts) = Options::new(data) else {
            return;
        };
        match self.state {
            State::ReqSent => {
                self.neg.acked(opts);
                self.irc_configure();
                self.set_state(State::AckRcvd);
            }
            State::AckRcvd => {
                // The RFC's crossed-connection cell (scr/6). With identifier
                // matching it cannot be reached: only a second reply to the
                // request already Acked could match, and `seen_ack` drops it.
                // Kept so that the table stays whole.
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            State::AckSent => {
                self.neg.acked(opts);
                self.irc_configure();
                self.set_state(State::Opened);
                self.tlu();
            }
            State::Opened => {
                self.tld();
                self.irc_configure();
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            _ => {}
        }
    }

    /// Whether `rejected` lists a subset of our last request's options, in
    /// order and unmodified (RFC 1661 §5.4).
    fn is_subset_of_request(&self, rejected: Options<'_>) -> bool {
        let Ok(sent) = Options::new(&self.last_request) else {
            return false;
        };
        let mut sent = sent.iter();
        rejected
            .iter()
            .all(|r| sent.by_ref().any(|s| s.kind == r.kind && s.data == r.data))
    }

    fn rcn(&mut self, id: u8, data: &[u8], reject: bool, now: Instant) {
        match self.state {
            State::Closed | State::Stopped => {
                self.sta(id);
                return;
            }
            State::Closing | State::Stopping => return,
            _ => {}
        }
        if !self.reply_matches(id) {
            return;
        }
        let Ok(opts) = Options::new(data) else {
            return;
        };
        if reject && !self.is_subset_of_request(opts) {
            return;
        }
        self.seen_ack = true;
        let result = if reject {
            self.neg.rejected(opts)
        } else {
            self.naks_received = self.naks_received.saturating_add(1);
            let treat_as_reject = self.naks_received >= u32::from(self.config.max_failure);
            self.neg.naked(opts, treat_as_reject)
        };
        if let Err(reason) = result {
            self.failure(reason);
            self.close(b"", now);
            return;
        }
        match self.state {
            State::ReqSent | State::AckSent => {
                self.irc_configure();
                self.scr(now);
            }
            State::AckRcvd => {
                self.irc_configure();
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            State::Opened => {
                self.tld();
                self.irc_configure();
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            _ => {}
        }
    }

    fn rtr(&mut self, id: u8, data: &[u8], now: Instant) {
        match self.state {
            State::Closed | State::Stopped | State::Closing | State::Stopping => self.sta(id),
            State::ReqSent | State::AckRcvd | State::AckSent => {
                self.sta(id);
                self.set_state(State::ReqSent);
            }
            State::Opened => {
                self.failure(DownReason::TerminatedByPeer {
                    protocol: self.neg.protocol(),
                    message: wire::printable(data),
                });
                self.tld();
                self.zrc(now);
                self.sta(id);
                self.set_state(State::Stopping);
            }
            State::Initial | State::Starting => {}
        }
    }

    fn rta(&mut self, now: Instant) {
        match self.state {
            State::Closing => {
                self.tlf();
                self.set_state(State::Closed);
            }
            State::Stopping => {
                self.tlf();
                self.set_state(State::Stopped);
            }
            State::AckRcvd => self.set_state(State::ReqSent),
            State::Opened => {
                self.tld();
                self.irc_configure();
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            _ => {}
        }
    }

    fn rxj_good(&mut self) {
        if self.state == State::AckRcvd {
            self.set_state(State::ReqSent);
        }
    }

    fn rxj_bad(&mut self, now: Instant) {
        match self.state {
            State::Closed | State::Stopped => self.tlf(),
            State::Closing => {
                self.tlf();
                self.set_state(State::Closed);
            }
            State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent => {
                self.tlf();
                self.set_state(State::Stopped);
            }
            State::Opened => {
                self.tld();
                self.irc_terminate();
                self.str(now);
                self.set_state(State::Stopping);
            }
            State::Initial | State::Starting => {}
        }
    }

    /// RXR in the Opened state is handled by the protocol itself (LCP
    /// answers Echo-Requests); in any other state such packets are dropped.
    pub fn is_opened(&self) -> bool {
        self.state == State::Opened
    }
}
