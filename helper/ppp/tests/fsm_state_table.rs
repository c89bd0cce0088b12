//! Every cell of the RFC 1661 §4.1 state transition table, driven through the
//! public API of [`dialtone_ppp::fsm::Fsm`] with a test [`Negotiator`].
//!
//! The table is written below exactly as printed in the RFC (as data, one
//! string per cell) and [`rfc1661_state_transition_table`] walks all 16 × 10
//! cells: it puts a fresh automaton into the cell's state through legal
//! events, applies the event, and checks the new state and the exact set of
//! actions:
//!
//! * tlu/tld/tls/tlf are `Output::Up/Down/Started/Finished`;
//! * scr/sca/scn/str/sta/scj are `Output::Send` of a Configure-Request,
//!   Configure-Ack, Configure-Nak or -Reject, Terminate-Request,
//!   Terminate-Ack and Code-Reject; sca/scn/sta must echo the identifier of
//!   the packet that caused them, sca/scn carry the right options, str the
//!   Close message, scj the rejected packet;
//! * irc/zrc are not outputs: they show in how many TO+ the automaton allows
//!   before TO- once the cell is done (Max-Configure or Max-Terminate minus
//!   the requests sent since, zero after zrc, unchanged without either);
//! * ser (RXR in Opened) belongs to LCP, not to the generic automaton: the
//!   automaton hands codes 9–11 back to its caller (`Some(packet)`) and
//!   changes nothing; LCP answers Echo-Requests only while `is_opened()`.
//!   So RXR is checked as: state untouched, no output, packet handed back,
//!   and ser ⇔ `is_opened()`.
//! * RUC: an unknown code is handed back and the caller answers it with
//!   `code_reject(raw, max)`, which is the scj action.
//!
//! "-" cells (illegal events) must do nothing at all: same state, no output,
//! restart timer untouched, nothing handed back. The RFC lets the actions of
//! a cell be done "in any convenient order", so they are compared as a
//! multiset; `Output::Failure` is not an RFC action and is checked on its
//! own (it must come first, and only where a layer fails).
//!
//! Five cells cannot be entered through this engine's API, by design; they
//! are listed in [`UNREACHABLE`] with the reason, and the nearest stimulus is
//! checked instead (see there).

use std::time::Duration;

use dialtone_ppp::config::FsmConfig;
use dialtone_ppp::fsm::{Fsm, Negotiator, Output, Reply, State, Verdict};
use dialtone_ppp::reason::DownReason;
use dialtone_ppp::wire::{self, code, Opt, Options};
use dialtone_ppp::Instant;

// RFC 1661 §4.1, State Transition Table (verbatim, for reference):
//
//       | State
//       |    0         1         2         3         4         5
// Events| Initial   Starting  Closed    Stopped   Closing   Stopping
// ------+-----------------------------------------------------------
//  Up   |    2     irc,scr/6     -         -         -         -
//  Down |    -         -         0       tls/1       0         1
//  Open |  tls/1       1     irc,scr/6     3r        5r        5r
//  Close|    0       tlf/0       2         2         4         4
//       |
//   TO+ |    -         -         -         -       str/4     str/5
//   TO- |    -         -         -         -       tlf/2     tlf/3
//       |
//  RCR+ |    -         -       sta/2 irc,scr,sca/8   4         5
//  RCR- |    -         -       sta/2 irc,scr,scn/6   4         5
//  RCA  |    -         -       sta/2     sta/3       4         5
//  RCN  |    -         -       sta/2     sta/3       4         5
//       |
//  RTR  |    -         -       sta/2     sta/3     sta/4     sta/5
//  RTA  |    -         -         2         3       tlf/2     tlf/3
//       |
//  RUC  |    -         -       scj/2     scj/3     scj/4     scj/5
//  RXJ+ |    -         -         2         3         4         5
//  RXJ- |    -         -       tlf/2     tlf/3     tlf/2     tlf/3
//       |
//  RXR  |    -         -         2         3         4         5
//
//       | State
//       |    6         7         8           9
// Events| Req-Sent  Ack-Rcvd  Ack-Sent    Opened
// ------+-----------------------------------------
//  Up   |    -         -         -           -
//  Down |    1         1         1         tld/1
//  Open |    6         7         8           9r
//  Close|irc,str/4 irc,str/4 irc,str/4 tld,irc,str/4
//       |
//   TO+ |  scr/6     scr/6     scr/8         -
//   TO- |  tlf/3p    tlf/3p    tlf/3p        -
//       |
//  RCR+ |  sca/8   sca,tlu/9   sca/8   tld,scr,sca/8
//  RCR- |  scn/6     scn/7     scn/6   tld,scr,scn/6
//  RCA  |  irc/7     scr/6x  irc,tlu/9   tld,scr/6x
//  RCN  |irc,scr/6   scr/6x  irc,scr/8   tld,scr/6x
//       |
//  RTR  |  sta/6     sta/6     sta/6   tld,zrc,sta/5
//  RTA  |    6         6         8       tld,scr/6
//       |
//  RUC  |  scj/6     scj/7     scj/8       scj/9
//  RXJ+ |    6         6         8           9
//  RXJ- |  tlf/3     tlf/3     tlf/3   tld,irc,str/5
//       |
//  RXR  |    6         7         8         ser/9
//
// Footnotes: r = restart option (an implementation MAY do Down/Up; this one
// does not, so the cell is the plain state), p = passive option (stay in
// Stopped), x = crossed connection. '-' = illegal transition.

/// The table above, cell for cell: one row per event, one column per state
/// (0 Initial … 9 Opened).
#[rustfmt::skip]
const RFC_TABLE: [(Event, [&str; 10]); 16] = [
    //                 0        1            2            3                4        5        6            7            8            9
    //                 Initial  Starting     Closed       Stopped          Closing  Stopping Req-Sent     Ack-Rcvd     Ack-Sent     Opened
    (Event::Up,       ["2",     "irc,scr/6", "-",         "-",             "-",     "-",     "-",         "-",         "-",         "-"]),
    (Event::Down,     ["-",     "-",         "0",         "tls/1",         "0",     "1",     "1",         "1",         "1",         "tld/1"]),
    (Event::Open,     ["tls/1", "1",         "irc,scr/6", "3r",            "5r",    "5r",    "6",         "7",         "8",         "9r"]),
    (Event::Close,    ["0",     "tlf/0",     "2",         "2",             "4",     "4",     "irc,str/4", "irc,str/4", "irc,str/4", "tld,irc,str/4"]),

    (Event::ToPlus,   ["-",     "-",         "-",         "-",             "str/4", "str/5", "scr/6",     "scr/6",     "scr/8",     "-"]),
    (Event::ToMinus,  ["-",     "-",         "-",         "-",             "tlf/2", "tlf/3", "tlf/3p",    "tlf/3p",    "tlf/3p",    "-"]),

    (Event::RcrPlus,  ["-",     "-",         "sta/2",     "irc,scr,sca/8", "4",     "5",     "sca/8",     "sca,tlu/9", "sca/8",     "tld,scr,sca/8"]),
    (Event::RcrMinus, ["-",     "-",         "sta/2",     "irc,scr,scn/6", "4",     "5",     "scn/6",     "scn/7",     "scn/6",     "tld,scr,scn/6"]),
    (Event::Rca,      ["-",     "-",         "sta/2",     "sta/3",         "4",     "5",     "irc/7",     "scr/6x",    "irc,tlu/9", "tld,scr/6x"]),
    (Event::Rcn,      ["-",     "-",         "sta/2",     "sta/3",         "4",     "5",     "irc,scr/6", "scr/6x",    "irc,scr/8", "tld,scr/6x"]),

    (Event::Rtr,      ["-",     "-",         "sta/2",     "sta/3",         "sta/4", "sta/5", "sta/6",     "sta/6",     "sta/6",     "tld,zrc,sta/5"]),
    (Event::Rta,      ["-",     "-",         "2",         "3",             "tlf/2", "tlf/3", "6",         "6",         "8",         "tld,scr/6"]),

    (Event::Ruc,      ["-",     "-",         "scj/2",     "scj/3",         "scj/4", "scj/5", "scj/6",     "scj/7",     "scj/8",     "scj/9"]),
    (Event::RxjPlus,  ["-",     "-",         "2",         "3",             "4",     "5",     "6",         "6",         "8",         "9"]),
    (Event::RxjMinus, ["-",     "-",         "tlf/2",     "tlf/3",         "tlf/2", "tlf/3", "tlf/3",     "tlf/3",     "tlf/3",     "tld,irc,str/5"]),

    (Event::Rxr,      ["-",     "-",         "2",         "3",             "4",     "5",     "6",         "7",         "8",         "ser/9"]),
];

/// Cells whose event cannot occur in their state through this engine's
/// public API. The RFC action is still in [`RFC_TABLE`]; for these cells the
/// test checks the nearest stimulus instead.
///
/// * RCA/RCN in Ack-Rcvd and Opened: both states are only ever entered after
///   our latest Configure-Request has been answered (Ack-Rcvd by RCA in
///   Req-Sent, Opened by RCA in Ack-Sent or by RCR+ in Ack-Rcvd), and no
///   Configure-Request is sent while in them. The only Ack/Nak/Reject that
///   could carry the identifier of our latest request is therefore a second
///   reply to that request, which the engine (like pppd's `seen_ack`) treats
///   as invalid and silently discards (RFC 1661 §4.1: "all invalid
///   Ack/Nak/Rej packets are silently discarded, and do not affect the
///   transitions of the automaton"; §5.2–5.4 identifier matching). Any other
///   identifier is stale and discarded too. Checked: replaying the reply
///   with the matching identifier does nothing.
/// * TO- in Ack-Rcvd: Ack-Rcvd is only entered through irc (RCA in
///   Req-Sent), which sets the counter to Max-Configure (at least 1), and the
///   first timeout (TO+, scr/6) leaves Ack-Rcvd. Checked: with
///   Max-Configure = 1 the timeout in Ack-Rcvd is still a TO+.
const UNREACHABLE: [(State, Event); 5] = [
    (State::AckRcvd, Event::ToMinus),
    (State::AckRcvd, Event::Rca),
    (State::AckRcvd, Event::Rcn),
    (State::Opened, Event::Rca),
    (State::Opened, Event::Rcn),
];

/// The states in the RFC's numbering.
const STATES: [State; 10] = [
    State::Initial,
    State::Starting,
    State::Closed,
    State::Stopped,
    State::Closing,
    State::Stopping,
    State::ReqSent,
    State::AckRcvd,
    State::AckSent,
    State::Opened,
];

/// The states in which the restart timer runs (RFC 1661 §4.2).
fn timed(state: State) -> bool {
    matches!(
        state,
        State::Closing | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent
    )
}

// ---------------------------------------------------------------------------
// The test negotiator.

const PROTO: u16 = 0x8021;
/// The option we ask for (2-byte value).
const OPT: u8 = 1;
/// A second option, requested only when `TestNeg::extra` is set.
const EXTRA_OPT: u8 = 3;
/// The value we ask for at the start of a negotiation.
const OURS: u16 = 0x05dc;
/// Peer values: GOOD is Acked, BAD is Naked (suggesting GOOD), anything else
/// is Rejected.
const GOOD: u16 = 0x0101;
const BAD: u16 = 0x0202;
const UGLY: u16 = 0x0303;
/// The value the peer suggests in its Naks.
const PEER_SUGGESTS: u16 = 0x0007;

fn judge(value: u16) -> Verdict {
    match value {
        GOOD => Verdict::Ack,
        BAD => Verdict::Nak,
        _ => Verdict::Reject,
    }
}

#[derive(Debug, Default)]
struct TestNeg {
    /// The value of OPT we ask for; None once rejected.
    want: Option<u16>,
    /// EXTRA_OPT's value at the start of a negotiation.
    initial_extra: Option<[u8; 4]>,
    extra: Option<[u8; 4]>,
    /// `naked` / `rejected` fail when set.
    fail_nak: bool,
    fail_reject: bool,
    /// `check_request` reports a fatal condition when set.
    fail_request: bool,
    pending_failure: Option<DownReason>,
    resets: u32,
    acked: Vec<Vec<u8>>,
    naked: Vec<(Vec<u8>, bool)>,
    rejected: Vec<Vec<u8>>,
}

fn refused(detail: &str) -> DownReason {
    DownReason::OptionRefused {
        protocol: PROTO,
        option: "Test-Option".into(),
        detail: detail.into(),
    }
}

impl Negotiator for TestNeg {
    fn protocol(&self) -> u16 {
        PROTO
    }

    fn reset(&mut self) {
        self.resets += 1;
        self.want = Some(OURS);
        self.extra = self.initial_extra;
    }

    fn build_request(&mut self, out: &mut Vec<u8>) {
        if let Some(v) = self.want {
            wire::emit_option(OPT, &v.to_be_bytes(), out);
        }
        if let Some(e) = self.extra {
            wire::emit_option(EXTRA_OPT, &e, out);
        }
    }

    fn acked(&mut self, opts: Options<'_>) {
        self.acked.push(opts.as_bytes().to_vec());
    }

    fn naked(&mut self, opts: Options<'_>, treat_as_reject: bool) -> Result<(), DownReason> {
        self.naked.push((opts.as_bytes().to_vec(), treat_as_reject));
        if self.fail_nak {
            return Err(refused("naked"));
        }
        for opt in opts {
            if opt.kind == OPT {
                self.want = if treat_as_reject { None } else { opt.u16() };
            }
        }
        Ok(())
    }

    fn rejected(&mut self, opts: Options<'_>) -> Result<(), DownReason> {
        self.rejected.push(opts.as_bytes().to_vec());
        if self.fail_reject {
            return Err(refused("rejected"));
        }
        for opt in opts {
            match opt.kind {
                OPT => self.want = None,
                EXTRA_OPT => self.extra = None,
                _ => {}
            }
        }
        Ok(())
    }

    fn check_request(&mut self, opts: Options<'_>, reply: &mut Reply) {
        for opt in opts {
            if opt.kind != OPT {
                reply.reject(opt);
                continue;
            }
            match opt.u16().map(judge) {
                Some(Verdict::Ack) => reply.ack(opt),
                Some(Verdict::Nak) => reply.nak(opt, &GOOD.to_be_bytes()),
                _ => reply.reject(opt),
            }
        }
        if self.fail_request {
            self.pending_failure = Some(DownReason::LoopedBack);
        }
    }

    fn take_failure(&mut self) -> Option<DownReason> {
        self.pending_failure.take()
    }
}

fn opt16(kind: u8, value: u16) -> Vec<u8> {
    let mut out = Vec::new();
    wire::emit_option(kind, &value.to_be_bytes(), &mut out);
    out
}

// ---------------------------------------------------------------------------
// The harness.

const RESTART_MS: u32 = 1000;
const MAX_CONFIGURE: u8 = 4;
const MAX_TERMINATE: u8 = 3;
const MAX_FAILURE: u8 = 3;
const MAX_CTRL: usize = 1496;
const CLOSE_MSG: &[u8] = b"admin close";
const SETUP_CLOSE_MSG: &[u8] = b"setup close";
const PEER_BYE: &[u8] = b"peer says bye";
/// Identifiers of the peer's own packets.
const PEER_REQ_ID: u8 = 0x40;
const PEER_TERM_ID: u8 = 0x50;

fn table_config() -> FsmConfig {
    FsmConfig {
        restart_ms: RESTART_MS,
        max_configure: MAX_CONFIGURE,
        max_terminate: MAX_TERMINATE,
        max_failure: MAX_FAILURE,
    }
}

fn restart() -> Duration {
    Duration::from_millis(u64::from(RESTART_MS))
}

struct Harness {
    fsm: Fsm<TestNeg>,
    now: Instant,
    /// Identifier and options of our last Configure-Request.
    last_req: Option<(u8, Vec<u8>)>,
    /// Identifier of our last Terminate-Request.
    last_term_id: Option<u8>,
    /// The message our Terminate-Requests carry (the last Close's).
    term_msg: Vec<u8>,
}

/// A packet fed to the automaton by [`Harness::fire`].
#[derive(Debug)]
struct Stimulus {
    id: u8,
    data: Vec<u8>,
    raw: Vec<u8>,
}

#[derive(Debug, Default)]
struct Fired {
    outputs: Vec<Output>,
    handed_back: Option<Vec<u8>>,
    stimulus: Option<Stimulus>,
}

/// The variants of an event: Nak or Reject for RCR-/RCN, the codes for
/// RUC/RXJ±/RXR, Protocol-Reject for RXJ-.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Plain,
    Nak,
    Reject,
    /// A packet with this code (RUC, RXR).
    Code(u8),
    /// A Code-Reject of a packet with this code (RXJ±).
    CodeRejectOf(u8),
    /// `protocol_rejected()` (RXJ-, what LCP calls on a Protocol-Reject).
    ProtocolReject,
}

fn forms(event: Event) -> &'static [Form] {
    match event {
        Event::RcrMinus | Event::Rcn => &[Form::Nak, Form::Reject],
        Event::Ruc => &[Form::Code(0x20), Form::Code(0), Form::Code(0xff)],
        Event::RxjPlus => &[
            Form::CodeRejectOf(0x20),
            Form::CodeRejectOf(9),
            Form::CodeRejectOf(0),
        ],
        Event::RxjMinus => &[
            Form::CodeRejectOf(code::CONFIGURE_REQUEST),
            Form::CodeRejectOf(code::CONFIGURE_REJECT),
            Form::CodeRejectOf(code::CODE_REJECT),
            Form::ProtocolReject,
        ],
        Event::Rxr => &[
            Form::Code(code::ECHO_REQUEST),
            Form::Code(code::ECHO_REPLY),
            Form::Code(code::DISCARD_REQUEST),
        ],
        _ => &[Form::Plain],
    }
}

impl Harness {
    fn new(config: FsmConfig) -> Self {
        Harness {
            fsm: Fsm::new(TestNeg::default(), config),
            now: Instant::from_millis(10_000),
            last_req: None,
            last_term_id: None,
            term_msg: Vec::new(),
        }
    }

    fn with_extra(config: FsmConfig, extra: [u8; 4]) -> Self {
        let mut h = Harness::new(config);
        h.fsm.neg.initial_extra = Some(extra);
        h
    }

    fn state(&self) -> State {
        self.fsm.state()
    }

    /// Takes every queued output, remembering our requests.
    fn drain(&mut self) -> Vec<Output> {
        let mut outs = Vec::new();
        while let Some(o) = self.fsm.poll_output() {
            if let Output::Send(bytes) = &o {
                let p = wire::Packet::parse(bytes).expect("the automaton sends valid packets");
                match p.code {
                    code::CONFIGURE_REQUEST => self.last_req = Some((p.id, p.data.to_vec())),
                    code::TERMINATE_REQUEST => self.last_term_id = Some(p.id),
                    _ => {}
                }
            }
            outs.push(o);
        }
        outs
    }

    /// Feeds a packet from the peer; returns the packet if handed back.
    fn peer(&mut self, c: u8, id: u8, data: &[u8]) -> Option<Vec<u8>> {
        let raw = wire::build(c, id, data);
        let packet = wire::Packet::parse(&raw).expect("test packets are valid");
        let now = self.now;
        self.fsm.handle_packet(packet, now).map(|p| {
            let mut v = Vec::new();
            p.emit(&mut v);
            v
        })
    }

    /// Like [`Harness::peer`], and asserts that nothing at all happened.
    fn peer_ignored(&mut self, c: u8, id: u8, data: &[u8], what: &str) {
        let state = self.state();
        let deadline = self.fsm.poll_timeout();
        let back = self.peer(c, id, data);
        let outs = self.drain();
        assert_eq!(back, None, "{what}: packet handed back");
        assert_eq!(outs, vec![], "{what}: must be silently discarded");
        assert_eq!(self.state(), state, "{what}: state changed");
        assert_eq!(self.fsm.poll_timeout(), deadline, "{what}: timer changed");
    }

    fn open(&mut self) {
        let now = self.now;
        self.fsm.open(now);
    }

    fn up(&mut self) {
        let now = self.now;
        self.fsm.up(now);
    }

    fn close(&mut self, msg: &[u8]) {
        self.term_msg = msg.to_vec();
        let now = self.now;
        self.fsm.close(msg, now);
    }

    /// Lets the restart timer expire (just past its deadline). Without a
    /// running timer, moves an hour on and calls `handle_timeout` anyway.
    fn expire(&mut self) {
        match self.fsm.poll_timeout() {
            Some(d) => self.now = d + Duration::from_millis(1),
            None => self.now += Duration::from_secs(3600),
        }
        let now = self.now;
        self.fsm.handle_timeout(now);
    }

    /// Acks our last Configure-Request, exactly as sent.
    fn ack_last(&mut self) -> Option<Vec<u8>> {
        let (id, data) = self.last_req.clone().expect("a request was sent");
        self.peer(code::CONFIGURE_ACK, id, &data)
    }

    fn last_req_id(&self) -> u8 {
        self.last_req.as_ref().expect("a request was sent").0
    }

    /// Lets the timer expire until it is a TO-, and returns how many TO+
    /// there were (the restart counter). Destructive.
    fn count_retries(&mut self) -> Result<u32, String> {
        let mut n = 0;
        loop {
            if self.fsm.poll_timeout().is_none() {
                return Err(format!("restart timer not running in {:?}", self.state()));
            }
            self.expire();
            let outs = self.drain();
            if outs.contains(&Output::Finished) {
                return Ok(n);
            }
            let retransmit = matches!(
                outs.as_slice(),
                [Output::Send(p)] if p[0] == code::CONFIGURE_REQUEST || p[0] == code::TERMINATE_REQUEST
            );
            if !retransmit {
                return Err(format!("timeout #{n} neither TO+ nor TO-: {outs:?}"));
            }
            n += 1;
            if n > 300 {
                return Err("the restart counter never runs out".into());
            }
        }
    }

    /// Applies `event` in form `form`. `budget` is the restart counter in
    /// the current state (needed to get to TO-).
    fn fire(&mut self, event: Event, form: Form, budget: Option<u32>) -> Result<Fired, String> {
        let now = self.now;
        let mut fired = Fired::default();
        match event {
            Event::Up => self.fsm.up(now),
            Event::Down => self.fsm.down(),
            Event::Open => self.fsm.open(now),
            Event::Close => self.close(CLOSE_MSG),
            Event::ToPlus => {
                if self.fsm.poll_timeout().is_some() && budget == Some(0) {
                    return Err("TO+ precondition: counter is already 0".into());
                }
                self.expire();
            }
            Event::ToMinus => {
                if self.fsm.poll_timeout().is_some() {
                    let budget = budget.ok_or("TO-: unknown restart counter")?;
                    let state = self.state();
                    for i in 0..budget {
                        self.expire();
                        let outs = self.drain();
                        let ok = matches!(
                            outs.as_slice(),
                            [Output::Send(p)] if p[0] == code::CONFIGURE_REQUEST || p[0] == code::TERMINATE_REQUEST
                        );
                        if !ok || self.state() != state {
                            return Err(format!(
                                "exhausting the counter: TO+ #{i} gave {outs:?}, state {:?}",
                                self.state()
                            ));
                        }
                    }
                }
                self.expire();
            }
            _ => {
                let (c, id, data) = match (event, form) {
                    (Event::RcrPlus, _) => (code::CONFIGURE_REQUEST, PEER_REQ_ID, opt16(OPT, GOOD)),
                    (Event::RcrMinus, Form::Nak) => {
                        (code::CONFIGURE_REQUEST, PEER_REQ_ID, opt16(OPT, BAD))
                    }
                    (Event::RcrMinus, _) => {
                        (code::CONFIGURE_REQUEST, PEER_REQ_ID, opt16(OPT, UGLY))
                    }
                    (Event::Rca, _) => {
                        let (id, data) = self.last_req.clone().unwrap_or((0x34, opt16(OPT, OURS)));
                        (code::CONFIGURE_ACK, id, data)
                    }
                    (Event::Rcn, Form::Nak) => {
                        let id = self.last_req.as_ref().map_or(0x33, |r| r.0);
                        (code::CONFIGURE_NAK, id, opt16(OPT, PEER_SUGGESTS))
                    }
                    (Event::Rcn, _) => {
                        let (id, data) = self.last_req.clone().unwrap_or((0x33, opt16(OPT, OURS)));
                        (code::CONFIGURE_REJECT, id, data)
                    }
                    (Event::Rtr, _) => (code::TERMINATE_REQUEST, PEER_TERM_ID, PEER_BYE.to_vec()),
                    (Event::Rta, _) => (
                        code::TERMINATE_ACK,
                        self.last_term_id.unwrap_or(0x35),
                        Vec::new(),
                    ),
                    (Event::Ruc, Form::Code(c)) => (c, 0x60, vec![1, 2, 3, 4]),
                    (Event::RxjPlus | Event::RxjMinus, Form::CodeRejectOf(c)) => {
                        (code::CODE_REJECT, 0x61, wire::build(c, 0x17, &[9, 9]))
                    }
                    (Event::RxjMinus, Form::ProtocolReject) => {
                        self.fsm.protocol_rejected(now);
                        fired.outputs = self.drain();
                        return Ok(fired);
                    }
                    (Event::Rxr, Form::Code(c)) => (c, 0x63, vec![0xde, 0xad, 0xbe, 0xef]),
                    _ => return Err(format!("no stimulus for {event:?} {form:?}")),
                };
                let raw = wire::build(c, id, &data);
                fired.handed_back = self.peer(c, id, &data);
                if event == Event::Ruc {
                    if let Some(back) = &fired.handed_back {
                        // What the protocol does with an unknown code: scj.
                        self.fsm.code_reject(back, MAX_CTRL);
                    }
                }
                fired.stimulus = Some(Stimulus { id, data, raw });
            }
        }
        fired.outputs = self.drain();
        Ok(fired)
    }
}

/// A fresh automaton in `target`, reached through legal events only.
fn reach_with(target: State, config: FsmConfig) -> Harness {
    let mut h = Harness::new(config);
    drive_to(&mut h, target);
    h
}

fn reach(target: State) -> Harness {
    reach_with(target, table_config())
}

fn drive_to(h: &mut Harness, target: State) {
    match target {
        State::Initial => {}
        State::Starting => h.open(),
        State::Closed => h.up(),
        State::ReqSent => {
            drive_to(h, State::Closed);
            h.open();
        }
        State::Stopped => {
            // Req-Sent, then TO- (tlf/3p).
            drive_to(h, State::ReqSent);
            h.drain();
            for _ in 0..1000 {
                if h.state() != State::ReqSent {
                    break;
                }
                h.expire();
                h.drain();
            }
        }
        State::Closing => {
            drive_to(h, State::ReqSent);
            h.close(SETUP_CLOSE_MSG);
        }
        State::Stopping => {
            drive_to(h, State::Closing);
            h.open();
        }
        State::AckRcvd => {
            drive_to(h, State::ReqSent);
            h.drain();
            h.ack_last();
        }
        State::AckSent => {
            drive_to(h, State::ReqSent);
            h.peer(code::CONFIGURE_REQUEST, 0x20, &opt16(OPT, GOOD));
        }
        State::Opened => {
            drive_to(h, State::AckSent);
            h.drain();
            h.ack_last();
        }
    }
    h.drain();
    assert_eq!(h.state(), target, "setup could not reach {target:?}");
}

/// The restart counter in `state` as reached by [`reach`], measured on a
/// twin automaton. Opened has no timer: its counter is Max-Configure, from
/// the irc of the RCA that led to it (irc/7 or irc,tlu/9).
fn budget_in(state: State, config: FsmConfig) -> Result<Option<u32>, String> {
    if state == State::Opened {
        return Ok(Some(u32::from(config.max_configure)));
    }
    if !timed(state) {
        return Ok(None);
    }
    reach_with(state, config).count_retries().map(Some)
}

// ---------------------------------------------------------------------------
// The table, parsed.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    Up,
    Down,
    Open,
    Close,
    ToPlus,
    ToMinus,
    RcrPlus,
    RcrMinus,
    Rca,
    Rcn,
    Rtr,
    Rta,
    Ruc,
    RxjPlus,
    RxjMinus,
    Rxr,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::Up => "Up",
            Event::Down => "Down",
            Event::Open => "Open",
            Event::Close => "Close",
            Event::ToPlus => "TO+",
            Event::ToMinus => "TO-",
            Event::RcrPlus => "RCR+",
            Event::RcrMinus => "RCR-",
            Event::Rca => "RCA",
            Event::Rcn => "RCN",
            Event::Rtr => "RTR",
            Event::Rta => "RTA",
            Event::Ruc => "RUC",
            Event::RxjPlus => "RXJ+",
            Event::RxjMinus => "RXJ-",
            Event::Rxr => "RXR",
        }
    }

    fn is_packet(self) -> bool {
        !matches!(
            self,
            Event::Up | Event::Down | Event::Open | Event::Close | Event::ToPlus | Event::ToMinus
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Tlu,
    Tld,
    Tls,
    Tlf,
    Irc,
    Zrc,
    Scr,
    Sca,
    Scn,
    Str,
    Sta,
    Scj,
    Ser,
}

impl Action {
    fn parse(s: &str) -> Action {
        match s {
            "tlu" => Action::Tlu,
            "tld" => Action::Tld,
            "tls" => Action::Tls,
            "tlf" => Action::Tlf,
            "irc" => Action::Irc,
            "zrc" => Action::Zrc,
            "scr" => Action::Scr,
            "sca" => Action::Sca,
            "scn" => Action::Scn,
            "str" => Action::Str,
            "sta" => Action::Sta,
            "scj" => Action::Scj,
            "ser" => Action::Ser,
            _ => panic!("unknown action {s:?} in the table"),
        }
    }

    /// Whether the action shows as an output (irc/zrc do not).
    fn visible(self) -> bool {
        !matches!(self, Action::Irc | Action::Zrc)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Cell {
    /// "-": illegal, nothing happens.
    Illegal,
    Go {
        actions: Vec<Action>,
        next: State,
    },
}

fn parse_cell(text: &str) -> Cell {
    if text == "-" {
        return Cell::Illegal;
    }
    let (actions, target) = text.rsplit_once('/').unwrap_or(("", text));
    let mut chars = target.chars();
    let digit = chars
        .next()
        .and_then(|c| c.to_digit(10))
        .unwrap_or_else(|| panic!("bad cell {text:?}"));
    let footnote = chars.as_str();
    assert!(
        matches!(footnote, "" | "r" | "p" | "x"),
        "bad footnote in {text:?}"
    );
    let actions = if actions.is_empty() {
        Vec::new()
    } else {
        actions.split(',').map(Action::parse).collect()
    };
    Cell::Go {
        actions,
        next: STATES[digit as usize],
    }
}

// ---------------------------------------------------------------------------
// Checking one cell.

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(format!($($fmt)*));
        }
    };
}

fn classify(output: &Output) -> Result<Option<Action>, String> {
    Ok(Some(match output {
        Output::Up => Action::Tlu,
        Output::Down => Action::Tld,
        Output::Started => Action::Tls,
        Output::Finished => Action::Tlf,
        Output::Failure(_) => return Ok(None),
        Output::Send(bytes) => match bytes.first() {
            Some(&code::CONFIGURE_REQUEST) => Action::Scr,
            Some(&code::CONFIGURE_ACK) => Action::Sca,
            Some(&code::CONFIGURE_NAK | &code::CONFIGURE_REJECT) => Action::Scn,
            Some(&code::TERMINATE_REQUEST) => Action::Str,
            Some(&code::TERMINATE_ACK) => Action::Sta,
            Some(&code::CODE_REJECT) => Action::Scj,
            _ => return Err(format!("unexpected packet sent: {bytes:02x?}")),
        },
    }))
}

/// The `Output::Failure` a cell must report, if any.
fn expected_failure(state: State, event: Event, form: Form) -> Option<DownReason> {
    let live = !matches!(state, State::Initial | State::Starting);
    match (event, state, form) {
        (Event::ToMinus, State::ReqSent | State::AckRcvd | State::AckSent, _) => {
            Some(DownReason::PeerNotResponding {
                protocol: PROTO,
                requests: u32::from(MAX_CONFIGURE),
            })
        }
        (Event::Rtr, State::Opened, _) => Some(DownReason::TerminatedByPeer {
            protocol: PROTO,
            message: String::from_utf8_lossy(PEER_BYE).into_owned(),
        }),
        (Event::RxjMinus, _, Form::CodeRejectOf(c)) if live => Some(DownReason::CodeRejected {
            protocol: PROTO,
            code: c,
        }),
        (Event::RxjMinus, _, Form::ProtocolReject) if live => {
            Some(DownReason::ProtocolRejected { protocol: PROTO })
        }
        _ => None,
    }
}

fn check_cell(state: State, event: Event, form: Form, cell: &Cell) -> Result<(), String> {
    let config = table_config();
    let budget = budget_in(state, config)?;
    let mut h = reach(state);
    let prev_req_id = h.last_req.as_ref().map(|r| r.0);
    let deadline_before = h.fsm.poll_timeout();
    let fired = h.fire(event, form, budget)?;
    let stimulus = fired.stimulus.as_ref();

    // Handed back: only unknown codes (RUC) and RXR, once packets count.
    let live = !matches!(state, State::Initial | State::Starting);
    let should_hand_back = live && matches!(event, Event::Ruc | Event::Rxr);
    ensure!(
        fired.handed_back.is_some() == should_hand_back,
        "handed back {:02x?}, expected {}",
        fired.handed_back,
        if should_hand_back {
            "the packet"
        } else {
            "nothing"
        }
    );
    if let (Some(back), Some(s)) = (&fired.handed_back, stimulus) {
        ensure!(
            *back == s.raw,
            "handed back {back:02x?}, not the packet received"
        );
    }

    // Failure: first, and only where expected.
    let failures: Vec<&DownReason> = fired
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Failure(r) => Some(r),
            _ => None,
        })
        .collect();
    let want_failure = expected_failure(state, event, form);
    ensure!(
        failures == want_failure.iter().collect::<Vec<_>>(),
        "failures {failures:?}, expected {want_failure:?}"
    );
    if want_failure.is_some() {
        ensure!(
            matches!(fired.outputs.first(), Some(Output::Failure(_))),
            "Failure must come before the actions: {:?}",
            fired.outputs
        );
    }

    // The actions, as a multiset ("in any convenient order").
    let mut seen = Vec::new();
    for o in &fired.outputs {
        if let Some(a) = classify(o)? {
            seen.push(a);
        }
    }
    if event == Event::Rxr && fired.handed_back.is_some() && h.fsm.is_opened() {
        seen.push(Action::Ser);
    }
    seen.sort();
    let (mut want, next) = match cell {
        Cell::Illegal => (Vec::new(), state),
        Cell::Go { actions, next } => (actions.clone(), *next),
    };
    want.retain(|a| a.visible());
    want.sort();
    ensure!(
        seen == want,
        "actions {seen:?}, expected {want:?} (outputs {:?})",
        fired.outputs
    );
    ensure!(
        h.state() == next,
        "new state {:?}, expected {next:?}",
        h.state()
    );

    // The packets' contents.
    for o in &fired.outputs {
        let Output::Send(bytes) = o else { continue };
        let p = wire::Packet::parse(bytes).map_err(|e| format!("bad packet sent: {e}"))?;
        match p.code {
            code::CONFIGURE_REQUEST => {
                ensure!(Some(p.id) != prev_req_id, "scr reuses identifier {}", p.id);
                ensure!(Options::new(p.data).is_ok(), "scr with bad options");
            }
            code::CONFIGURE_ACK => {
                let s = stimulus.ok_or("sca without a request")?;
                ensure!(p.id == s.id, "sca id {} != request id {}", p.id, s.id);
                ensure!(p.data == s.data, "sca options {:02x?}", p.data);
            }
            code::CONFIGURE_NAK | code::CONFIGURE_REJECT => {
                let s = stimulus.ok_or("scn without a request")?;
                ensure!(p.id == s.id, "scn id {} != request id {}", p.id, s.id);
                let (want_code, want_data) = match form {
                    Form::Nak => (code::CONFIGURE_NAK, opt16(OPT, GOOD)),
                    _ => (code::CONFIGURE_REJECT, s.data.clone()),
                };
                ensure!(
                    p.code == want_code && p.data == want_data,
                    "scn sent {bytes:02x?}, expected code {want_code} data {want_data:02x?}"
                );
            }
            code::TERMINATE_REQUEST => {
                ensure!(
                    p.data == h.term_msg,
                    "str carries {:?}, not the Close message {:?}",
                    wire::printable(p.data),
                    wire::printable(&h.term_msg)
                );
            }
            code::TERMINATE_ACK => {
                let s = stimulus.ok_or("sta without a packet")?;
                ensure!(p.id == s.id, "sta id {} != received id {}", p.id, s.id);
            }
            code::CODE_REJECT => {
                let s = stimulus.ok_or("scj without a packet")?;
                ensure!(p.data == s.raw, "scj does not carry the rejected packet");
            }
            _ => {}
        }
    }

    // The restart timer.
    let starts_timer = want.iter().any(|a| matches!(a, Action::Scr | Action::Str))
        || matches!(cell, Cell::Go { actions, .. } if actions.contains(&Action::Zrc));
    let deadline = h.fsm.poll_timeout();
    if !timed(next) {
        ensure!(deadline.is_none(), "timer runs in {next:?}");
        return Ok(());
    }
    if starts_timer {
        ensure!(
            deadline == Some(h.now + restart()),
            "timer {deadline:?}, expected restarted at {:?}",
            h.now + restart()
        );
    } else {
        ensure!(
            deadline == deadline_before,
            "timer moved from {deadline_before:?} to {deadline:?}"
        );
    }

    // The restart counter (irc/zrc): TO+ left before TO-.
    let all = match cell {
        Cell::Illegal => Vec::new(),
        Cell::Go { actions, .. } => actions.clone(),
    };
    let base = if all.contains(&Action::Zrc) {
        0
    } else if all.contains(&Action::Irc) {
        if all.contains(&Action::Str) {
            u32::from(MAX_TERMINATE)
        } else {
            u32::from(MAX_CONFIGURE)
        }
    } else {
        budget.ok_or_else(|| format!("no counter known in {state:?}"))?
    };
    let sent = all
        .iter()
        .filter(|a| matches!(a, Action::Scr | Action::Str))
        .count() as u32;
    let want_retries = base - sent;
    let retries = h.count_retries()?;
    ensure!(
        retries == want_retries,
        "restart counter {retries}, expected {want_retries}"
    );
    Ok(())
}

/// The nearest stimulus for an [`UNREACHABLE`] cell.
fn check_unreachable(state: State, event: Event) -> Result<(), String> {
    match event {
        Event::ToMinus => {
            // Even with Max-Configure = 1, the timeout in Ack-Rcvd is TO+.
            for max_configure in [1, MAX_CONFIGURE] {
                let config = FsmConfig {
                    max_configure,
                    ..table_config()
                };
                let mut h = reach_with(state, config);
                h.expire();
                let outs = h.drain();
                ensure!(
                    matches!(outs.as_slice(), [Output::Send(p)] if p[0] == code::CONFIGURE_REQUEST)
                        && h.state() == State::ReqSent,
                    "Max-Configure {max_configure}: timeout in {state:?} gave {outs:?} -> {:?}, expected TO+ (scr/6)",
                    h.state()
                );
            }
        }
        Event::Rca | Event::Rcn => {
            let mut h = reach(state);
            let (id, data) = h.last_req.clone().ok_or("no request")?;
            let deadline = h.fsm.poll_timeout();
            let replies = [
                (code::CONFIGURE_ACK, data.clone()),
                (code::CONFIGURE_NAK, opt16(OPT, PEER_SUGGESTS)),
                (code::CONFIGURE_REJECT, data),
            ];
            for (c, d) in replies {
                for id in [id, id.wrapping_add(1), id.wrapping_sub(1)] {
                    let back = h.peer(c, id, &d);
                    let outs = h.drain();
                    ensure!(
                        back.is_none() && outs.is_empty() && h.state() == state,
                        "{} id {id} in {state:?}: {outs:?} -> {:?}, expected it discarded",
                        code::name(c),
                        h.state()
                    );
                    ensure!(h.fsm.poll_timeout() == deadline, "timer changed");
                }
            }
        }
        _ => return Err("not an unreachable cell".into()),
    }
    Ok(())
}

#[test]
fn rfc1661_state_transition_table() {
    let mut errors = Vec::new();
    let mut cells = 0;
    let mut runs = 0;
    let mut unreachable = 0;
    for (event, row) in RFC_TABLE {
        for (number, text) in row.iter().enumerate() {
            let state = STATES[number];
            let cell = parse_cell(text);
            let name = format!("cell {:?} ({number}) × {} = {text:?}", state, event.name());
            cells += 1;
            if UNREACHABLE.contains(&(state, event)) {
                unreachable += 1;
                runs += 1;
                if let Err(e) = check_unreachable(state, event) {
                    errors.push(format!("{name} [unreachable, nearest stimulus]: {e}"));
                }
                continue;
            }
            for &form in forms(event) {
                runs += 1;
                if let Err(e) = check_cell(state, event, form, &cell) {
                    errors.push(format!("{name} [{form:?}]: {e}"));
                }
            }
        }
    }
    assert!(
        errors.is_empty(),
        "{} of {runs} checks failed:\n{}",
        errors.len(),
        errors.join("\n")
    );
    assert_eq!(cells, 160, "the table must have 16 × 10 cells");
    assert_eq!(unreachable, UNREACHABLE.len());
}

#[test]
fn table_is_the_rfcs() {
    // Spot checks that the data above was not mistyped into agreement with
    // the code: a few cells parsed by hand.
    let cell = |state: usize, event: Event| {
        let row = RFC_TABLE.iter().find(|(e, _)| *e == event).unwrap().1;
        parse_cell(row[state])
    };
    use Action::*;
    assert_eq!(
        cell(3, Event::RcrPlus),
        Cell::Go {
            actions: vec![Irc, Scr, Sca],
            next: State::AckSent
        }
    );
    assert_eq!(
        cell(9, Event::Rtr),
        Cell::Go {
            actions: vec![Tld, Zrc, Sta],
            next: State::Stopping
        }
    );
    assert_eq!(
        cell(7, Event::RxjPlus),
        Cell::Go {
            actions: vec![],
            next: State::ReqSent
        }
    );
    assert_eq!(cell(0, Event::Down), Cell::Illegal);
    assert_eq!(
        cell(9, Event::Rxr),
        Cell::Go {
            actions: vec![Ser],
            next: State::Opened
        }
    );
    for (event, _) in RFC_TABLE {
        assert!(event.is_packet() || forms(event) == [Form::Plain]);
    }
}

// ---------------------------------------------------------------------------
// Identifier matching and option checks on replies.

#[test]
fn stale_replies_with_wrong_identifier_are_ignored() {
    let mut h = reach(State::ReqSent);
    let (id, data) = h.last_req.clone().unwrap();
    for wrong in [id.wrapping_add(1), id.wrapping_sub(1), id ^ 0x80] {
        h.peer_ignored(code::CONFIGURE_ACK, wrong, &data, "Ack, wrong id");
        h.peer_ignored(
            code::CONFIGURE_NAK,
            wrong,
            &opt16(OPT, PEER_SUGGESTS),
            "Nak, wrong id",
        );
        h.peer_ignored(code::CONFIGURE_REJECT, wrong, &data, "Reject, wrong id");
    }
    assert!(h.fsm.neg.naked.is_empty() && h.fsm.neg.rejected.is_empty());

    // A Nak taken: a new request goes out; the same Nak again (now for an
    // old request) is stale.
    assert_eq!(
        h.peer(code::CONFIGURE_NAK, id, &opt16(OPT, PEER_SUGGESTS)),
        None
    );
    let outs = h.drain();
    assert!(matches!(outs.as_slice(), [Output::Send(p)] if p[0] == code::CONFIGURE_REQUEST));
    let (new_id, new_data) = h.last_req.clone().unwrap();
    assert_ne!(new_id, id);
    assert_eq!(new_data, opt16(OPT, PEER_SUGGESTS));
    h.peer_ignored(
        code::CONFIGURE_NAK,
        id,
        &opt16(OPT, PEER_SUGGESTS),
        "old Nak replayed",
    );
    h.peer_ignored(code::CONFIGURE_ACK, id, &data, "Ack of the old request");
    assert_eq!(h.fsm.neg.naked.len(), 1);

    // The Ack of the current request is taken.
    h.ack_last();
    assert_eq!(h.drain(), vec![]);
    assert_eq!(h.state(), State::AckRcvd);
    assert_eq!(h.fsm.neg.acked, vec![new_data]);
}

#[test]
fn second_reply_to_the_same_request_is_ignored() {
    // Req-Sent: Ack taken (Ack-Rcvd); Ack, Nak and Reject for the same
    // request are duplicates.
    let mut h = reach(State::ReqSent);
    let (id, data) = h.last_req.clone().unwrap();
    h.ack_last();
    assert_eq!(h.state(), State::AckRcvd);
    h.peer_ignored(code::CONFIGURE_ACK, id, &data, "second Ack");
    h.peer_ignored(
        code::CONFIGURE_NAK,
        id,
        &opt16(OPT, PEER_SUGGESTS),
        "Nak after Ack",
    );
    h.peer_ignored(code::CONFIGURE_REJECT, id, &data, "Reject after Ack");
    assert_eq!(h.fsm.neg.acked.len(), 1);

    // Ack-Sent: the Ack opens the layer; a duplicate in Opened changes
    // nothing.
    let mut h = reach(State::AckSent);
    let (id, data) = h.last_req.clone().unwrap();
    h.ack_last();
    assert_eq!(h.drain(), vec![Output::Up]);
    h.peer_ignored(code::CONFIGURE_ACK, id, &data, "duplicate Ack in Opened");
    h.peer_ignored(
        code::CONFIGURE_NAK,
        id,
        &opt16(OPT, PEER_SUGGESTS),
        "Nak in Opened",
    );
    assert_eq!(h.state(), State::Opened);

    // Ack-Sent: a Nak taken (irc,scr/8); the same Nak again answers a
    // request that is no longer the latest, and is ignored.
    let mut h = reach(State::AckSent);
    let id = h.last_req_id();
    h.peer(code::CONFIGURE_NAK, id, &opt16(OPT, PEER_SUGGESTS));
    assert_eq!(h.drain().len(), 1);
    h.peer_ignored(
        code::CONFIGURE_NAK,
        id,
        &opt16(OPT, PEER_SUGGESTS),
        "second Nak",
    );
    assert_eq!(h.fsm.neg.naked.len(), 1);
}

#[test]
fn ack_with_other_options_than_requested_is_ignored() {
    for state in [State::ReqSent, State::AckSent] {
        let mut h = Harness::with_extra(table_config(), [1, 2, 3, 4]);
        drive_to(&mut h, state);
        let (id, data) = h.last_req.clone().unwrap();
        let mut other_value = opt16(OPT, OURS + 1);
        wire::emit_option(EXTRA_OPT, &[1, 2, 3, 4], &mut other_value);
        let mut more = data.clone();
        more.extend(opt16(9, 9));
        let mut reordered = Vec::new();
        wire::emit_option(EXTRA_OPT, &[1, 2, 3, 4], &mut reordered);
        reordered.extend(opt16(OPT, OURS));
        let first_only = opt16(OPT, OURS);
        let malformed = [OPT, 9, 0];
        for (what, d) in [
            ("changed value", &other_value[..]),
            ("extra option", &more[..]),
            ("options reordered", &reordered[..]),
            ("option missing", &first_only[..]),
            ("empty", &[][..]),
            ("malformed", &malformed[..]),
        ] {
            h.peer_ignored(code::CONFIGURE_ACK, id, d, what);
        }
        assert!(h.fsm.neg.acked.is_empty());
        h.ack_last();
        h.drain();
        assert_eq!(h.fsm.neg.acked, vec![data]);
        assert_ne!(h.state(), state);
    }
}

#[test]
fn reject_must_be_a_subset_of_the_request() {
    let mut h = Harness::with_extra(table_config(), [1, 2, 3, 4]);
    drive_to(&mut h, State::ReqSent);
    let (id, data) = h.last_req.clone().unwrap();
    let opt = opt16(OPT, OURS);
    let mut extra = Vec::new();
    wire::emit_option(EXTRA_OPT, &[1, 2, 3, 4], &mut extra);
    let mut reordered = extra.clone();
    reordered.extend(&opt);
    let mut twice = opt.clone();
    twice.extend(&opt);
    let mut extra_changed = Vec::new();
    wire::emit_option(EXTRA_OPT, &[1, 2, 3, 5], &mut extra_changed);
    for (what, d) in [
        ("unknown option", opt16(9, 9)),
        ("value changed", opt16(OPT, OURS + 1)),
        ("other value of the second option", extra_changed),
        ("reordered", reordered),
        ("listed twice", twice),
        ("more than requested", [data.clone(), opt16(9, 9)].concat()),
        ("malformed", vec![OPT, 9, 0]),
    ] {
        h.peer_ignored(code::CONFIGURE_REJECT, id, &d, what);
    }
    assert!(h.fsm.neg.rejected.is_empty());

    // A proper subset is taken: the next request leaves the option out.
    assert_eq!(h.peer(code::CONFIGURE_REJECT, id, &extra), None);
    let outs = h.drain();
    assert!(matches!(outs.as_slice(), [Output::Send(p)] if p[0] == code::CONFIGURE_REQUEST));
    assert_eq!(h.fsm.neg.rejected, vec![extra]);
    assert_eq!(h.last_req.as_ref().unwrap().1, opt);
    assert_eq!(h.state(), State::ReqSent);
}

// ---------------------------------------------------------------------------
// Max-Failure.

#[test]
fn max_failure_naks_sent_become_rejects() {
    let mut h = reach(State::ReqSent);
    let bad = opt16(OPT, BAD);
    for i in 0..MAX_FAILURE {
        let id = 0x70 + i;
        h.peer(code::CONFIGURE_REQUEST, id, &bad);
        assert_eq!(
            h.drain(),
            vec![Output::Send(wire::build(
                code::CONFIGURE_NAK,
                id,
                &opt16(OPT, GOOD)
            ))],
            "Nak #{i}"
        );
    }
    // The next request that would be Naked is Rejected instead, and keeps
    // being Rejected.
    for id in [0x80, 0x81] {
        h.peer(code::CONFIGURE_REQUEST, id, &bad);
        assert_eq!(
            h.drain(),
            vec![Output::Send(wire::build(code::CONFIGURE_REJECT, id, &bad))]
        );
        assert_eq!(h.state(), State::ReqSent);
    }
    // An Ack ends the run of Naks: the next bad request is Naked again.
    h.peer(code::CONFIGURE_REQUEST, 0x90, &opt16(OPT, GOOD));
    assert_eq!(
        h.drain(),
        vec![Output::Send(wire::build(
            code::CONFIGURE_ACK,
            0x90,
            &opt16(OPT, GOOD)
        ))]
    );
    assert_eq!(h.state(), State::AckSent);
    h.peer(code::CONFIGURE_REQUEST, 0x91, &bad);
    assert_eq!(
        h.drain(),
        vec![Output::Send(wire::build(
            code::CONFIGURE_NAK,
            0x91,
            &opt16(OPT, GOOD)
        ))]
    );
}

#[test]
fn persistent_received_naks_are_treated_as_rejects() {
    let mut h = reach(State::ReqSent);
    for i in 1..=u32::from(MAX_FAILURE) + 1 {
        let id = h.last_req_id();
        h.peer(code::CONFIGURE_NAK, id, &opt16(OPT, PEER_SUGGESTS));
        let outs = h.drain();
        assert!(
            matches!(outs.as_slice(), [Output::Send(p)] if p[0] == code::CONFIGURE_REQUEST),
            "Nak #{i}: {outs:?}"
        );
    }
    let flags: Vec<bool> = h.fsm.neg.naked.iter().map(|n| n.1).collect();
    let m = usize::from(MAX_FAILURE);
    let mut want = vec![false; m - 1];
    want.extend([true, true]);
    assert_eq!(
        flags, want,
        "treat_as_reject from the Max-Failure-th Nak on"
    );
    // The negotiator gave up the option: the request is empty now.
    assert_eq!(h.last_req.as_ref().unwrap().1, Vec::<u8>::new());

    // An Ack resets the count.
    let mut h = reach(State::ReqSent);
    for _ in 1..MAX_FAILURE {
        let id = h.last_req_id();
        h.peer(code::CONFIGURE_NAK, id, &opt16(OPT, PEER_SUGGESTS));
        h.drain();
    }
    h.ack_last();
    assert_eq!(h.state(), State::AckRcvd);
    h.expire(); // TO+: scr/6
    h.drain();
    let id = h.last_req_id();
    h.peer(code::CONFIGURE_NAK, id, &opt16(OPT, PEER_SUGGESTS));
    h.drain();
    assert!(!h.fsm.neg.naked.last().unwrap().1);
}

// ---------------------------------------------------------------------------
// Failures reported.

#[test]
fn peer_not_responding_after_exactly_max_configure_requests() {
    for max_configure in [1, 2, MAX_CONFIGURE, 10] {
        let config = FsmConfig {
            max_configure,
            ..table_config()
        };
        let mut h = reach_with(State::Closed, config);
        h.open();
        let mut requests = 0;
        let mut outs = h.drain();
        while !outs.contains(&Output::Finished) {
            assert!(requests <= 300, "the restart counter never runs out");
            assert!(
                matches!(outs.as_slice(), [Output::Send(p)] if p[0] == code::CONFIGURE_REQUEST),
                "{outs:?}"
            );
            requests += 1;
            assert_eq!(h.state(), State::ReqSent);
            h.expire();
            outs = h.drain();
        }
        assert_eq!(requests, u32::from(max_configure));
        assert_eq!(
            outs,
            vec![
                Output::Failure(DownReason::PeerNotResponding {
                    protocol: PROTO,
                    requests: u32::from(max_configure)
                }),
                Output::Finished
            ]
        );
        assert_eq!(h.state(), State::Stopped);
        assert_eq!(h.fsm.poll_timeout(), None);
    }

    // Closing: Max-Terminate Terminate-Requests, then tlf/2 without a
    // failure (we asked for the close).
    let mut h = reach(State::ReqSent);
    h.close(CLOSE_MSG);
    let mut terminates = 0;
    let mut outs = h.drain();
    while !outs.contains(&Output::Finished) {
        assert!(terminates <= 300, "the restart counter never runs out");
        assert_eq!(
            outs,
            vec![Output::Send(wire::build(
                code::TERMINATE_REQUEST,
                h.last_term_id.unwrap(),
                CLOSE_MSG
            ))]
        );
        terminates += 1;
        h.expire();
        outs = h.drain();
    }
    assert_eq!(terminates, u32::from(MAX_TERMINATE));
    assert_eq!(outs, vec![Output::Finished]);
    assert_eq!(h.state(), State::Closed);
}

#[test]
fn terminate_request_in_opened_reports_terminated_by_peer() {
    let mut h = reach(State::Opened);
    h.peer(code::TERMINATE_REQUEST, 0x55, b"going away\x1b[2J");
    assert_eq!(
        h.drain(),
        vec![
            Output::Failure(DownReason::TerminatedByPeer {
                protocol: PROTO,
                message: "going away\\u{1b}[2J".into(),
            }),
            Output::Down,
            Output::Send(wire::build(code::TERMINATE_ACK, 0x55, &[])),
        ]
    );
    assert_eq!(h.state(), State::Stopping);
    // zrc: the first timeout is TO-, after one restart interval.
    assert_eq!(h.fsm.poll_timeout(), Some(h.now + restart()));
    h.expire();
    assert_eq!(h.drain(), vec![Output::Finished]);
    assert_eq!(h.state(), State::Stopped);
}

#[test]
fn negotiator_failures_close_the_layer() {
    // naked() fails.
    let mut h = reach(State::ReqSent);
    h.fsm.neg.fail_nak = true;
    let id = h.last_req_id();
    h.peer(code::CONFIGURE_NAK, id, &opt16(OPT, PEER_SUGGESTS));
    let outs = h.drain();
    assert_eq!(outs[0], Output::Failure(refused("naked")));
    assert!(matches!(&outs[1..], [Output::Send(p)] if p[0] == code::TERMINATE_REQUEST));
    assert_eq!(h.state(), State::Closing);

    // rejected() fails.
    let mut h = reach(State::AckSent);
    h.fsm.neg.fail_reject = true;
    let (id, data) = h.last_req.clone().unwrap();
    h.peer(code::CONFIGURE_REJECT, id, &data);
    let outs = h.drain();
    assert_eq!(outs[0], Output::Failure(refused("rejected")));
    assert!(matches!(&outs[1..], [Output::Send(p)] if p[0] == code::TERMINATE_REQUEST));
    assert_eq!(h.state(), State::Closing);

    // check_request() reports a fatal condition: no reply, the layer closes.
    let mut h = reach(State::ReqSent);
    h.fsm.neg.fail_request = true;
    h.peer(code::CONFIGURE_REQUEST, 0x41, &opt16(OPT, GOOD));
    let outs = h.drain();
    assert_eq!(outs[0], Output::Failure(DownReason::LoopedBack));
    assert!(matches!(&outs[1..], [Output::Send(p)] if p[0] == code::TERMINATE_REQUEST));
    assert_eq!(h.state(), State::Closing);
}

// ---------------------------------------------------------------------------
// Malformed packets, and the states without a lower layer.

#[test]
fn malformed_option_lists_are_silently_discarded() {
    let malformed: [&[u8]; 4] = [&[OPT, 1], &[OPT, 9, 0], &[OPT], &[OPT, 4, 0, 1, 0]];
    for state in [
        State::Closed,
        State::Stopped,
        State::ReqSent,
        State::AckRcvd,
        State::AckSent,
        State::Opened,
    ] {
        for data in malformed {
            let mut h = reach(state);
            h.peer_ignored(
                code::CONFIGURE_REQUEST,
                0x44,
                data,
                &format!("malformed Configure-Request in {state:?}"),
            );
            if matches!(state, State::ReqSent | State::AckSent) {
                let id = h.last_req_id();
                for c in [
                    code::CONFIGURE_ACK,
                    code::CONFIGURE_NAK,
                    code::CONFIGURE_REJECT,
                ] {
                    h.peer_ignored(
                        c,
                        id,
                        data,
                        &format!("malformed {} in {state:?}", code::name(c)),
                    );
                }
            }
        }
    }
}

#[test]
fn nothing_reacts_to_packets_in_initial_or_starting() {
    for state in [State::Initial, State::Starting] {
        let mut h = reach(state);
        let mut codes: Vec<u8> = (0..=12).collect();
        codes.extend([0x20, 0xff]);
        for c in codes {
            for data in [
                &[][..],
                &opt16(OPT, GOOD)[..],
                &[OPT, 1][..],
                &[1, 2, 3][..],
            ] {
                for id in [0, 1, 0x40] {
                    h.peer_ignored(c, id, data, &format!("code {c} in {state:?}"));
                }
            }
        }
        let now = h.now;
        h.fsm.protocol_rejected(now);
        h.fsm.code_reject(&[0x20, 1, 0, 4], MAX_CTRL);
        h.expire();
        assert_eq!(h.drain(), vec![]);
        assert_eq!(h.state(), state);
        assert_eq!(h.fsm.poll_timeout(), None);
    }
}

#[test]
fn code_reject_is_truncated_to_the_peers_mru() {
    let mut h = reach(State::Opened);
    let data = vec![0xaa; 100];
    let back = h.peer(0x20, 0x61, &data).expect("unknown code handed back");
    h.fsm.code_reject(&back, 50);
    let outs = h.drain();
    let [Output::Send(p)] = outs.as_slice() else {
        panic!("{outs:?}")
    };
    let p = wire::Packet::parse(p).unwrap();
    assert_eq!(p.code, code::CODE_REJECT);
    assert_eq!(p.data, &back[..50]);
    assert_eq!(h.state(), State::Opened);
}

/// scn covers Nak and Reject: a request with one Nak-able and one unknown
/// option gets a Configure-Reject listing only the unknown option (Rejects
/// win over Naks, RFC 1661 §5.3–5.4).
#[test]
fn reply_takes_rejects_over_naks_over_acks() {
    let mut h = reach(State::ReqSent);
    let mut req = opt16(OPT, BAD);
    let unknown = Opt {
        kind: 9,
        data: &[1, 2],
    };
    unknown.emit(&mut req);
    h.peer(code::CONFIGURE_REQUEST, 0x42, &req);
    let mut rej = Vec::new();
    unknown.emit(&mut rej);
    assert_eq!(
        h.drain(),
        vec![Output::Send(wire::build(
            code::CONFIGURE_REJECT,
            0x42,
            &rej
        ))]
    );
}
