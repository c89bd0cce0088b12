//! One PPP link, sans-IO: the phases of RFC 1661 §3.2 driving LCP,
//! authentication and the network control protocols over RFC 1662 framing.
//!
//! ```text
//!   let mut link = Link::new(config, role, seed);
//!   link.open(now);
//!   loop {
//!       link.handle_input(bytes_from_serial, now);   // any split
//!       link.handle_timeout(now);                    // at poll_timeout()
//!       while let Some(n) = link.poll_transmit(&mut buf) { serial.write(&buf[..n]) }
//!       while let Some(ev) = link.poll_event() { ... }          // phases, Up, Down, trace
//!       while let Some(ip) = link.poll_packet() { tun.write(ip) }
//!       link.send_ip(packet_from_tun, now);
//!   }
//! ```
//!
//! A `Link` lives for one call: once it reports [`Event::Down`] it is dead
//! and ignores further input; a redial makes a new one.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::auth::{Auth, Outcome};
use crate::config::{AuthMethod, Config, Credentials, Role, SecretLookup};
use crate::framing::{Accm, Decoder, Encoder, FrameError, TxOptions};
use crate::fsm::{Fsm, Output, State};
use crate::ipcp::Ipcp;
use crate::ipv6cp::{self, Ipv6cp};
use crate::lcp::{AuthPolicy, Lcp, DEFAULT_MRU};
use crate::reason::DownReason;
use crate::rng::Rng;
use crate::time::Instant;
use crate::trace::{self, Direction, TraceEntry};
use crate::wire::{self, code, protocol, Packet};

/// The link phases (RFC 1661 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// No link: before `open`, and after the link went down.
    Dead,
    /// LCP is negotiating the link.
    Establish,
    /// Authenticating (PAP, CHAP or MS-CHAPv2).
    Authenticate,
    /// Negotiating and carrying network protocols.
    Network,
    /// LCP is closing the link.
    Terminate,
}

/// IPv4 on an open link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv4Info {
    /// Our address.
    pub local: Option<Ipv4Addr>,
    /// The peer's address, if it told us or one is configured.
    pub remote: Option<Ipv4Addr>,
    /// DNS servers: learnt from the peer (dialer) or handed out (answerer).
    pub dns: Vec<Ipv4Addr>,
}

/// IPv6 on an open link: the interface identifiers of RFC 5072.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6Info {
    /// Our interface identifier.
    pub local_id: [u8; 8],
    /// The peer's, if it sent one.
    pub remote_id: Option<[u8; 8]>,
}

impl Ipv6Info {
    /// Our link-local address.
    pub fn local_address(&self) -> Ipv6Addr {
        ipv6cp::link_local(self.local_id)
    }
    /// The peer's link-local address.
    pub fn remote_address(&self) -> Option<Ipv6Addr> {
        self.remote_id.map(ipv6cp::link_local)
    }
}

/// What an open link carries, reported by [`Event::Up`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    /// IPv4, if IPCP is open.
    pub ipv4: Option<Ipv4Info>,
    /// IPv6, if IPV6CP is open.
    pub ipv6: Option<Ipv6Info>,
    /// The largest packet we may send (the peer's MRU): the interface MTU.
    pub mtu: u16,
    /// The largest packet the peer may send us (our MRU).
    pub mru: u16,
    /// How the link was authenticated, if it was.
    pub auth: Option<AuthMethod>,
    /// Answerer: the name the caller authenticated as.
    pub peer_name: Option<String>,
}

/// What the link tells its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The link entered a phase.
    Phase(Phase),
    /// Network protocols are up, or what they carry changed (IPV6CP opened
    /// after IPCP, a renegotiated address): configure the interface so.
    Up(LinkInfo),
    /// A network protocol (IPCP or IPV6CP) failed or was refused while the
    /// link goes on with the others, and why: "IPv6 is not available: the
    /// peer does not speak IPV6CP". When none is left, `Down` follows.
    NetworkProtocolFailed(DownReason),
    /// The link is down for good, and why. The last event of a link.
    Down(DownReason),
    /// A control packet was sent or received (decoded, secrets masked).
    Trace(TraceEntry),
}

/// Per-link counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Octets received from the line.
    pub rx_bytes: u64,
    /// Octets handed out for the line.
    pub tx_bytes: u64,
    /// Good frames received.
    pub rx_frames: u64,
    /// Frames sent.
    pub tx_frames: u64,
    /// IP packets delivered to the owner.
    pub rx_packets: u64,
    /// IP packets sent.
    pub tx_packets: u64,
    /// Octets of IP delivered.
    pub rx_ip_bytes: u64,
    /// Octets of IP sent.
    pub tx_ip_bytes: u64,
    /// Frames dropped for a bad FCS.
    pub fcs_errors: u64,
    /// Frames dropped for being longer than the MRU.
    pub too_long: u64,
    /// Frames aborted by the sender, too short, or with a bad header.
    pub malformed: u64,
    /// Octets of text between frames (modem messages, echoes), skipped.
    pub noise_bytes: u64,
    /// Frames discarded: a protocol not open or not known, a malformed
    /// control packet, IP received faster than it was taken.
    pub discarded: u64,
    /// IP packets refused by `send_ip` because the line was backed up.
    pub tx_dropped: u64,
}

/// Why `send_ip` refused a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// Not an IPv4 or IPv6 packet.
    NotIp,
    /// The packet's protocol is not open on this link (yet).
    NotOpen,
    /// Longer than the peer's MRU.
    TooLarge {
        /// The largest packet the peer takes.
        mtu: u16,
    },
    /// Too much is already waiting for the line; try after draining
    /// `poll_transmit`.
    Busy,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SendError::NotIp => f.write_str("not an IP packet"),
            SendError::NotOpen => f.write_str("that protocol is not open on the link"),
            SendError::TooLarge { mtu } => write!(f, "packet larger than the link MTU ({mtu})"),
            SendError::Busy => f.write_str("the line is backed up"),
        }
    }
}

impl std::error::Error for SendError {}

/// Bytes of framed output allowed to wait for the line before `send_ip`
/// pushes back.
const TX_LIMIT: usize = 64 * 1024;
/// Bytes of received IP allowed to wait for `poll_packet`.
const RX_LIMIT: usize = 256 * 1024;

/// One PPP link. See the [module documentation](self).
pub struct Link {
    config: Config,
    credentials: Option<Credentials>,
    secrets: Option<Box<dyn SecretLookup>>,
    rng: Rng,
    phase: Phase,
    lcp: Fsm<Lcp>,
    ipcp: Fsm<Ipcp>,
    ipv6cp: Fsm<Ipv6cp>,
    auth: Option<Auth>,
    /// Authentication sessions started (one per LCP opening): each gets
    /// its own random stream, and its identifiers carry on from the last
    /// session's, so that a packet delayed from an earlier session can
    /// never be taken for an answer in this one (RFC 1994 §4.1).
    auth_sessions: u32,
    /// The identifier the last session's Auth had reached.
    auth_last_id: u8,
    auth_deadline: Option<Instant>,
    reached_auth: bool,
    peer_name: Option<String>,
    encoder: Encoder,
    decoder: Decoder,
    tx: Vec<u8>,
    tx_pos: usize,
    rx_buf: Vec<u8>,
    rx_queue: VecDeque<(usize, usize)>,
    control: Vec<u8>,
    events: VecDeque<Event>,
    stats: Stats,
    failure: Option<DownReason>,
    ncp_failures: Vec<DownReason>,
    echo_deadline: Option<Instant>,
    echo_missed: u32,
    info: Option<LinkInfo>,
    finished: bool,
    terminated_authenticating: Option<AuthMethod>,
    /// The method of our own authentication while it has not succeeded.
    auth_attempt: Option<AuthMethod>,
    /// The message of the peer's last Terminate-Request.
    peer_terminated: Option<String>,
}

impl core::fmt::Debug for Link {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Link")
            .field("phase", &self.phase)
            .field("lcp", &self.lcp.state())
            .field("ipcp", &self.ipcp.state())
            .field("ipv6cp", &self.ipv6cp.state())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A link in the Dead phase. `seed` feeds every random choice
    /// (Magic-Numbers, challenges, interface identifiers): give 32 bytes
    /// from the OS, or fixed bytes for a reproducible test.
    pub fn new(config: Config, role: Role, seed: [u8; 32]) -> Self {
        let mut rng = Rng::new(seed);
        let (credentials, secrets, policy, answerer) = match role {
            Role::Dialer { credentials } => {
                let methods = if credentials.is_some() {
                    config.auth.methods.clone()
                } else {
                    Vec::new()
                };
                (
                    credentials,
                    None,
                    AuthPolicy::Authenticatee { methods },
                    false,
                )
            }
            Role::Answerer { secrets } => (
                None,
                Some(secrets),
                AuthPolicy::Authenticator {
                    methods: config.auth.methods.clone(),
                },
                true,
            ),
        };
        let lcp = Lcp::new(config.lcp, policy, config.fsm.max_failure, rng.fork(b"lcp"));
        let ipcp = Ipcp::new(config.ipcp.clone(), answerer);
        let ipv6cp = Ipv6cp::new(config.ipv6cp, rng.fork(b"ipv6cp"));
        let mru = config.lcp.mru.max(DEFAULT_MRU);
        Link {
            lcp: Fsm::new(lcp, config.fsm),
            ipcp: Fsm::new(ipcp, config.fsm),
            ipv6cp: Fsm::new(ipv6cp, config.fsm),
            config,
            credentials,
            secrets,
            rng,
            phase: Phase::Dead,
            auth: None,
            auth_deadline: None,
            reached_auth: false,
            auth_sessions: 0,
            auth_last_id: 0,
            peer_name: None,
            encoder: Encoder::new(TxOptions::DEFAULT),
            decoder: Decoder::new(mru),
            tx: Vec::with_capacity(4096),
            tx_pos: 0,
            rx_buf: Vec::new(),
            rx_queue: VecDeque::new(),
            control: Vec::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            failure: None,
            ncp_failures: Vec::new(),
            echo_deadline: None,
            echo_missed: 0,
            info: None,
            finished: false,
            terminated_authenticating: None,
            auth_attempt: None,
            peer_terminated: None,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// What the link carries while it is up.
    pub fn info(&self) -> Option<&LinkInfo> {
        self.info.as_ref()
    }

    /// Whether the link has gone down for good ([`Event::Down`] was
    /// reported).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The state of the LCP automaton (for diagnostics).
    pub fn lcp_state(&self) -> State {
        self.lcp.state()
    }

    /// Starts the link: the serial line is connected, LCP begins.
    pub fn open(&mut self, now: Instant) {
        if self.finished || self.lcp.state() != State::Initial {
            return;
        }
        self.set_phase(Phase::Establish);
        self.lcp.open(now);
        self.lcp.up(now);
        self.drain(now);
    }

    /// Closes the link gracefully (LCP Terminate-Request carrying
    /// `message`); [`Event::Down`] follows once the peer acknowledges or
    /// the Terminate-Requests run out.
    pub fn close(&mut self, message: &str, now: Instant) {
        if self.phase == Phase::Dead {
            return;
        }
        self.record_failure(DownReason::LocalClose);
        self.terminate(message, now);
    }

    fn terminate(&mut self, message: &str, now: Instant) {
        if self.phase != Phase::Dead {
            self.set_phase(Phase::Terminate);
        }
        self.lcp.close(message.as_bytes(), now);
        self.drain(now);
    }

    /// The serial line is gone (carrier lost, device closed): the link is
    /// down at once.
    pub fn lower_down(&mut self, now: Instant) {
        if self.phase == Phase::Dead {
            return;
        }
        self.record_failure(DownReason::LowerDown);
        self.lcp.down();
        self.drain(now);
        self.finish();
    }

    /// Feeds bytes received from the serial line, split anywhere.
    pub fn handle_input(&mut self, mut input: &[u8], now: Instant) {
        if self.phase == Phase::Dead {
            return;
        }
        self.stats.rx_bytes += input.len() as u64;
        if self.rx_queue.is_empty() {
            self.rx_buf.clear();
        }
        while let Some(result) = self.decoder.decode(&mut input) {
            let frame = match result {
                Ok(frame) => frame,
                Err(e) => {
                    match e {
                        FrameError::BadFcs => self.stats.fcs_errors += 1,
                        FrameError::TooLong => self.stats.too_long += 1,
                        FrameError::Noise { bytes } => self.stats.noise_bytes += bytes as u64,
                        FrameError::Aborted | FrameError::TooShort | FrameError::BadHeader => {
                            self.stats.malformed += 1
                        }
                    }
                    continue;
                }
            };
            self.stats.rx_frames += 1;
            let open = match frame.protocol {
                protocol::IPV4 => Some(self.ipcp.is_opened()),
                protocol::IPV6 => Some(self.ipv6cp.is_opened()),
                _ => None,
            };
            match open {
                Some(true) if self.rx_buf.len() + frame.payload.len() <= RX_LIMIT => {
                    let start = self.rx_buf.len();
                    self.rx_buf.extend_from_slice(frame.payload);
                    self.rx_queue.push_back((start, frame.payload.len()));
                    self.stats.rx_packets += 1;
                    self.stats.rx_ip_bytes += frame.payload.len() as u64;
                }
                Some(_) => self.stats.discarded += 1,
                None => {
                    let proto = frame.protocol;
                    self.control.clear();
                    self.control.extend_from_slice(frame.payload);
                    let payload = core::mem::take(&mut self.control);
                    self.handle_control(proto, &payload, now);
                    self.control = payload;
                    self.drain(now);
                    if self.phase == Phase::Dead {
                        return;
                    }
                }
            }
        }
    }

    /// The earliest time at which [`Link::handle_timeout`] has work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Dead {
            return None;
        }
        [
            self.lcp.poll_timeout(),
            self.ipcp.poll_timeout(),
            self.ipv6cp.poll_timeout(),
            self.auth.as_ref().and_then(Auth::poll_timeout),
            self.auth_deadline,
            self.echo_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs whatever timers are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Dead {
            return;
        }
        self.lcp.handle_timeout(now);
        self.ipcp.handle_timeout(now);
        self.ipv6cp.handle_timeout(now);
        if let Some(auth) = &mut self.auth {
            let outcome = auth.handle_timeout(now);
            self.on_auth_outcome(outcome, now);
        }
        if matches!(self.auth_deadline, Some(d) if d <= now) {
            self.auth_deadline = None;
            if self.phase == Phase::Authenticate {
                self.record_failure(DownReason::AuthTimeout);
                self.terminate("Authentication timed out", now);
            }
        }
        if matches!(self.echo_deadline, Some(d) if d <= now) {
            self.echo_timer(now);
        }
        self.drain(now);
    }

    /// Copies framed bytes for the serial line into `buf`; `None` when
    /// nothing is waiting.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<usize> {
        let pending = &self.tx[self.tx_pos..];
        if pending.is_empty() || buf.is_empty() {
            return None;
        }
        let n = pending.len().min(buf.len());
        buf[..n].copy_from_slice(&pending[..n]);
        self.tx_pos += n;
        self.stats.tx_bytes += n as u64;
        if self.tx_pos == self.tx.len() {
            self.tx.clear();
            self.tx_pos = 0;
        } else if self.tx_pos > 16 * 1024 {
            self.tx.drain(..self.tx_pos);
            self.tx_pos = 0;
        }
        Some(n)
    }

    /// Framed bytes waiting for the line.
    pub fn pending_transmit(&self) -> usize {
        self.tx.len() - self.tx_pos
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next IP packet received, valid until the next call on the link.
    /// (Packets are kept in one reused buffer rather than allocated each.)
    #[must_use]
    pub fn poll_packet(&mut self) -> Option<&[u8]> {
        let (start, len) = self.rx_queue.pop_front()?;
        self.rx_buf.get(start..start + len)
    }

    /// Sends an IPv4 or IPv6 packet over the link.
    pub fn send_ip(&mut self, packet: &[u8], _now: Instant) -> Result<(), SendError> {
        let proto = match packet.first().map(|b| b >> 4) {
            Some(4) => protocol::IPV4,
            Some(6) => protocol::IPV6,
            _ => return Err(SendError::NotIp),
        };
        let open = if proto == protocol::IPV4 {
            self.ipcp.is_opened()
        } else {
            self.ipv6cp.is_opened()
        };
        if !open {
            return Err(SendError::NotOpen);
        }
        let mtu = self.lcp.neg.peer_mru();
        if packet.len() > usize::from(mtu) {
            return Err(SendError::TooLarge { mtu });
        }
        if self.pending_transmit() > TX_LIMIT {
            self.stats.tx_dropped += 1;
            return Err(SendError::Busy);
        }
        self.encoder.encode(proto, packet, &mut self.tx);
        self.stats.tx_frames += 1;
        self.stats.tx_packets += 1;
        self.stats.tx_ip_bytes += packet.len() as u64;
        Ok(())
    }

    // ---- internals ----

    /// The random stream of the next authentication session: the first
    /// is `fork("auth")` as always; later ones are forked with their
    /// number, so no challenge value is ever repeated on a link.
    fn auth_rng(&mut self) -> Rng {
        let n = self.auth_sessions;
        self.auth_sessions += 1;
        if n == 0 {
            self.rng.fork(b"auth")
        } else {
            let mut label = b"auth".to_vec();
            label.extend_from_slice(&n.to_le_bytes());
            self.rng.fork(&label)
        }
    }

    /// Drops the current authentication session, remembering where its
    /// identifiers got to.
    fn end_auth(&mut self) {
        if let Some(auth) = self.auth.take() {
            self.auth_last_id = auth.last_id();
        }
    }

    fn set_phase(&mut self, phase: Phase) {
        if self.phase != phase {
            self.phase = phase;
            self.events.push_back(Event::Phase(phase));
        }
    }

    fn record_failure(&mut self, reason: DownReason) {
        if self.failure.is_none() {
            self.failure = Some(reason);
        }
    }

    fn trace(&mut self, direction: Direction, proto: u16, payload: &[u8], now: Instant) {
        self.events.push_back(Event::Trace(TraceEntry {
            at: now,
            direction,
            protocol: proto,
            text: trace::describe(proto, payload),
        }));
    }

    fn send_control(&mut self, proto: u16, packet: &[u8], now: Instant) {
        self.trace(Direction::Sent, proto, packet, now);
        self.encoder.encode(proto, packet, &mut self.tx);
        self.stats.tx_frames += 1;
    }

    fn handle_control(&mut self, proto: u16, payload: &[u8], now: Instant) {
        self.trace(Direction::Received, proto, payload, now);
        let Ok(packet) = Packet::parse(payload) else {
            self.stats.discarded += 1;
            return;
        };
        let lcp_open = self.lcp.is_opened();
        let negotiation = matches!(proto, protocol::LCP | protocol::IPCP | protocol::IPV6CP)
            && (code::CONFIGURE_REQUEST..=code::CONFIGURE_REJECT).contains(&packet.code);
        if negotiation && wire::Options::new(packet.data).is_err() {
            // The automaton drops it silently (RFC 1661 §5); count it.
            self.stats.discarded += 1;
        }
        match proto {
            protocol::LCP => {
                if packet.code == code::TERMINATE_REQUEST {
                    // Remembered to explain a failure later: in Req-Sent the
                    // automaton Acks it and keeps trying (RFC 1661 §4.1).
                    self.peer_terminated = Some(wire::printable(packet.data));
                    if self.auth_attempt.is_some() {
                        self.terminated_authenticating = self.auth_attempt;
                    }
                }
                if let Some(p) = self.lcp.handle_packet(packet, now) {
                    self.lcp_extended(p, &payload[..p.buffer_len()], now);
                }
            }
            protocol::PAP | protocol::CHAP => {
                let ours = self.auth.as_ref().is_some_and(|a| a.protocol() == proto);
                if !ours || !matches!(self.phase, Phase::Authenticate | Phase::Network) {
                    self.stats.discarded += 1;
                    return;
                }
                let secrets = self.secrets.as_deref();
                let outcome = match &mut self.auth {
                    Some(auth) => auth.handle_packet(packet, secrets, now),
                    None => Outcome::Pending,
                };
                self.on_auth_outcome(outcome, now);
            }
            protocol::IPCP if self.config.ipcp.enabled => {
                if self.phase != Phase::Network {
                    self.stats.discarded += 1;
                } else if self.ipcp.handle_packet(packet, now).is_some() {
                    let max = self.max_control_data();
                    self.ipcp.code_reject(&payload[..packet.buffer_len()], max);
                }
            }
            protocol::IPV6CP if self.config.ipv6cp.enabled => {
                if self.phase != Phase::Network {
                    self.stats.discarded += 1;
                } else if self.ipv6cp.handle_packet(packet, now).is_some() {
                    let max = self.max_control_data();
                    self.ipv6cp
                        .code_reject(&payload[..packet.buffer_len()], max);
                }
            }
            _ if lcp_open => self.protocol_reject(proto, payload, now),
            _ => self.stats.discarded += 1,
        }
    }

    /// The most data a control packet may carry towards the peer.
    fn max_control_data(&self) -> usize {
        usize::from(self.lcp.neg.peer_mru()).saturating_sub(4)
    }

    /// LCP Protocol-Reject for a protocol we do not speak (RFC 1661 §5.7).
    fn protocol_reject(&mut self, proto: u16, payload: &[u8], now: Instant) {
        self.stats.discarded += 1;
        let mut data = proto.to_be_bytes().to_vec();
        let room = self.max_control_data().saturating_sub(2);
        data.extend_from_slice(&payload[..payload.len().min(room)]);
        let id = self.lcp.next_id();
        let pkt = wire::build(code::PROTOCOL_REJECT, id, &data);
        self.send_control(protocol::LCP, &pkt, now);
    }

    /// LCP codes 8–13 and unknown codes (RFC 1661 §5.7–5.9, RFC 1570 §2).
    fn lcp_extended(&mut self, p: Packet<'_>, raw: &[u8], now: Instant) {
        let opened = self.lcp.is_opened();
        let our_magic = self.lcp.neg.our_magic().unwrap_or(0);
        let magic_of = |data: &[u8]| -> Option<u32> {
            data.get(..4)
                .and_then(|m| <[u8; 4]>::try_from(m).ok())
                .map(u32::from_be_bytes)
        };
        match p.code {
            code::PROTOCOL_REJECT if opened => {
                let Some(rejected) = p.data.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]))
                else {
                    return;
                };
                match rejected {
                    protocol::IPCP | protocol::IPV4 => self.ipcp.protocol_rejected(now),
                    protocol::IPV6CP | protocol::IPV6 => self.ipv6cp.protocol_rejected(now),
                    protocol::LCP | protocol::PAP | protocol::CHAP => {
                        self.record_failure(DownReason::ProtocolRejected { protocol: rejected });
                        self.terminate("", now);
                    }
                    // Something we never send; nothing to stop.
                    _ => {}
                }
            }
            code::ECHO_REQUEST if opened => {
                if our_magic != 0 && magic_of(p.data) == Some(our_magic) {
                    self.record_failure(DownReason::LoopedBack);
                    self.terminate("Looped back", now);
                    return;
                }
                let mut data = our_magic.to_be_bytes().to_vec();
                let rest = p.data.get(4..).unwrap_or(&[]);
                let room = self.max_control_data().saturating_sub(4);
                data.extend_from_slice(&rest[..rest.len().min(room)]);
                let pkt = wire::build(code::ECHO_REPLY, p.id, &data);
                self.send_control(protocol::LCP, &pkt, now);
            }
            code::ECHO_REPLY if opened => {
                if our_magic != 0 && magic_of(p.data) == Some(our_magic) {
                    self.record_failure(DownReason::LoopedBack);
                    self.terminate("Looped back", now);
                    return;
                }
                self.echo_missed = 0;
            }
            code::PROTOCOL_REJECT
            | code::ECHO_REQUEST
            | code::ECHO_REPLY
            | code::DISCARD_REQUEST
            | code::IDENTIFICATION
            | code::TIME_REMAINING => {
                // Discard-Request, the informational RFC 1570 packets (shown
                // in the trace) and anything before LCP is open: dropped.
            }
            _ => {
                let max = self.max_control_data();
                self.lcp.code_reject(raw, max);
            }
        }
    }

    fn echo_timer(&mut self, now: Instant) {
        self.echo_deadline = None;
        if !self.lcp.is_opened() || self.config.lcp.echo_interval == 0 {
            return;
        }
        if self.echo_missed >= self.config.lcp.echo_failure.max(1) {
            self.record_failure(DownReason::EchoTimeout {
                missed: self.echo_missed,
            });
            self.terminate("Peer not responding", now);
            return;
        }
        let magic = self.lcp.neg.our_magic().unwrap_or(0);
        let id = self.lcp.next_id();
        let pkt = wire::build(code::ECHO_REQUEST, id, &magic.to_be_bytes());
        self.send_control(protocol::LCP, &pkt, now);
        self.echo_missed += 1;
        self.echo_deadline =
            Some(now + Duration::from_secs(u64::from(self.config.lcp.echo_interval)));
    }

    fn on_auth_outcome(&mut self, outcome: Outcome, now: Instant) {
        if outcome == Outcome::Pending {
            return;
        }
        // The verdict (Success/Failure, Ack/Nak) goes out before anything
        // it causes: the peer must see it before our IPCP or LCP Terminate.
        while let Some((proto, pkt)) = self.auth.as_mut().and_then(Auth::poll_transmit) {
            self.send_control(proto, &pkt, now);
        }
        match outcome {
            Outcome::Pending => {}
            Outcome::Success { peer_name } => {
                if peer_name.is_some() {
                    self.peer_name = peer_name;
                }
                self.auth_deadline = None;
                self.auth_attempt = None;
                if self.phase == Phase::Authenticate {
                    self.enter_network(now);
                }
            }
            Outcome::Failure(reason) => {
                let message = match &reason {
                    DownReason::PeerAuthFailed { .. } => "Authentication failed",
                    _ => "",
                };
                self.record_failure(reason);
                self.terminate(message, now);
            }
        }
    }

    /// Drains the automata and the authenticator until all are quiet,
    /// turning their outputs into frames, phase changes and events.
    fn drain(&mut self, now: Instant) {
        loop {
            let mut busy = false;
            while let Some(o) = self.lcp.poll_output() {
                busy = true;
                self.on_lcp(o, now);
            }
            while let Some(o) = self.ipcp.poll_output() {
                busy = true;
                self.on_ncp(protocol::IPCP, o, now);
            }
            while let Some(o) = self.ipv6cp.poll_output() {
                busy = true;
                self.on_ncp(protocol::IPV6CP, o, now);
            }
            while let Some((proto, pkt)) = self.auth.as_mut().and_then(Auth::poll_transmit) {
                busy = true;
                self.send_control(proto, &pkt, now);
            }
            if !busy {
                break;
            }
        }
    }

    fn on_lcp(&mut self, output: Output, now: Instant) {
        match output {
            Output::Send(pkt) => self.send_control(protocol::LCP, &pkt, now),
            Output::Failure(reason) => self.record_failure(reason),
            Output::Started => {}
            Output::Up => self.lcp_up(now),
            Output::Down => self.lcp_down(),
            Output::Finished => self.finish(),
        }
    }

    fn lcp_up(&mut self, now: Instant) {
        self.peer_terminated = None;
        let his = self.lcp.neg.his;
        let ours = self.lcp.neg.ours;
        self.encoder.set_options(TxOptions {
            accm: Accm(his.accm.unwrap_or(u32::MAX)),
            acfc: his.acfc,
            pfc: his.pfc,
        });
        self.decoder.set_accm(Accm(ours.accm.unwrap_or(u32::MAX)));
        // RFC 1661 §6.1: having asked for a smaller MRU, we MUST still
        // receive the full 1500 octets (in case link synchronization is
        // lost). Anything longer than max(MRU, 1500) is dropped and counted.
        self.decoder
            .set_mru(self.lcp.neg.our_mru().max(DEFAULT_MRU));
        self.echo_missed = 0;
        if self.config.lcp.echo_interval > 0 {
            self.echo_deadline =
                Some(now + Duration::from_secs(u64::from(self.config.lcp.echo_interval)));
        }
        let restart = Duration::from_millis(u64::from(self.config.fsm.restart_ms.max(1)));
        let transmits = u32::from(self.config.fsm.max_configure.max(1));
        let auth = match (&self.credentials, self.lcp.neg.auth_method()) {
            (_, None) => None,
            // Authenticator: we asked the peer to authenticate.
            (None, Some(method)) => {
                let rechallenge = (self.config.auth.rechallenge_interval > 0)
                    .then(|| Duration::from_secs(u64::from(self.config.auth.rechallenge_interval)));
                Some(Auth::authenticator(
                    method,
                    self.config.auth.name.clone(),
                    restart,
                    transmits,
                    rechallenge,
                    self.auth_rng(),
                ))
            }
            // Authenticatee: the peer asked us.
            (Some(creds), Some(method)) => {
                self.auth_attempt = Some(method);
                Some(Auth::peer(
                    method,
                    creds.clone(),
                    restart,
                    transmits,
                    self.auth_rng(),
                ))
            }
        };
        match auth {
            Some(mut auth) => {
                auth.continue_ids_from(self.auth_last_id);
                self.reached_auth = true;
                self.set_phase(Phase::Authenticate);
                self.auth_deadline =
                    Some(now + Duration::from_secs(u64::from(self.config.auth.timeout.max(1))));
                auth.start(now);
                self.auth = Some(auth);
            }
            None => self.enter_network(now),
        }
    }

    fn lcp_down(&mut self) {
        self.encoder.set_options(TxOptions::DEFAULT);
        self.decoder.set_accm(Accm::ALL);
        self.echo_deadline = None;
        self.end_auth();
        self.auth_deadline = None;
        self.ipcp.down();
        self.ipv6cp.down();
        // The NCPs' outputs (their This-Layer-Down) are drained next.
        self.info = None;
        if self.phase != Phase::Dead {
            // Closing: the link is ending; otherwise the peer restarted
            // negotiation and we are establishing it again.
            let closing = matches!(self.lcp.state(), State::Closing | State::Stopping);
            self.set_phase(if closing {
                Phase::Terminate
            } else {
                Phase::Establish
            });
        }
    }

    fn enter_network(&mut self, now: Instant) {
        self.set_phase(Phase::Network);
        let mut any = false;
        if self.config.ipcp.enabled {
            self.ipcp.up(now);
            self.ipcp.open(now);
            any = true;
        }
        if self.config.ipv6cp.enabled {
            self.ipv6cp.up(now);
            self.ipv6cp.open(now);
            any = true;
        }
        if !any {
            self.record_failure(DownReason::NoNetworkProtocols);
            self.terminate("No network protocols", now);
        }
    }

    fn on_ncp(&mut self, proto: u16, output: Output, now: Instant) {
        match output {
            Output::Send(pkt) => self.send_control(proto, &pkt, now),
            Output::Failure(reason) => {
                self.events
                    .push_back(Event::NetworkProtocolFailed(reason.clone()));
                self.ncp_failures.push(reason);
            }
            Output::Started => {}
            Output::Up | Output::Down => {
                let info = self.current_info();
                if info.ipv4.is_some() || info.ipv6.is_some() {
                    if self.info.as_ref() != Some(&info) {
                        self.info = Some(info.clone());
                        if output == Output::Up {
                            self.events.push_back(Event::Up(info));
                        }
                    }
                } else {
                    self.info = None;
                }
            }
            Output::Finished => {
                let alive = |s: State| {
                    !matches!(
                        s,
                        State::Initial | State::Starting | State::Closed | State::Stopped
                    )
                };
                let v4 = self.config.ipcp.enabled && alive(self.ipcp.state());
                let v6 = self.config.ipv6cp.enabled && alive(self.ipv6cp.state());
                if self.phase == Phase::Network && !v4 && !v6 {
                    let reason = self
                        .ncp_failures
                        .first()
                        .cloned()
                        .unwrap_or(DownReason::NoNetworkProtocols);
                    self.record_failure(reason);
                    self.terminate("No network protocols running", now);
                }
            }
        }
    }

    fn current_info(&self) -> LinkInfo {
        let ipv4 = self.ipcp.is_opened().then(|| Ipv4Info {
            local: self.ipcp.neg.local(),
            remote: self.ipcp.neg.remote(),
            dns: self.ipcp.neg.dns(),
        });
        let ipv6 = if self.ipv6cp.is_opened() {
            self.ipv6cp.neg.local_id().map(|local_id| Ipv6Info {
                local_id,
                remote_id: self.ipv6cp.neg.his,
            })
        } else {
            None
        };
        LinkInfo {
            ipv4,
            ipv6,
            mtu: self.lcp.neg.peer_mru(),
            mru: self.lcp.neg.our_mru(),
            auth: self.auth.as_ref().map(Auth::method),
            peer_name: self.peer_name.clone(),
        }
    }

    /// The link is down for good: report why, once.
    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let reason = self.final_reason();
        self.info = None;
        self.end_auth();
        self.auth_deadline = None;
        self.echo_deadline = None;
        self.set_phase(Phase::Dead);
        self.failure = Some(reason.clone());
        self.events.push_back(Event::Down(reason));
    }

    fn final_reason(&self) -> DownReason {
        let mut reason = self.failure.clone().unwrap_or(DownReason::LowerDown);
        // We gave up waiting, but the peer had said goodbye: say that.
        if let (
            DownReason::PeerNotResponding {
                protocol: protocol::LCP,
                ..
            },
            Some(message),
        ) = (&reason, &self.peer_terminated)
        {
            reason = DownReason::TerminatedByPeer {
                protocol: protocol::LCP,
                message: message.clone(),
            };
        }
        // The peer hung up while checking our credentials: its verdict may
        // have been lost on the line, but the Terminate-Request says it
        // (pppd closes with "Authentication failed").
        if let (
            Some(method),
            DownReason::TerminatedByPeer {
                protocol: protocol::LCP,
                message,
            },
        ) = (self.terminated_authenticating, &reason)
        {
            return DownReason::AuthFailed {
                method,
                message: message.clone(),
            };
        }
        let lcp = &self.lcp.neg;
        let peer_gave_up = matches!(
            reason,
            DownReason::TerminatedByPeer {
                protocol: protocol::LCP,
                ..
            } | DownReason::PeerNotResponding {
                protocol: protocol::LCP,
                ..
            } | DownReason::LowerDown
        );
        if self.reached_auth || !peer_gave_up {
            return reason;
        }
        // The peer hung up during LCP after asking for authentication we
        // would not do: say that, not just "terminated".
        if lcp.refused_without_credentials {
            return DownReason::NoCredentials;
        }
        let allowed = &self.config.auth.methods;
        if !lcp.peer_asked.is_empty()
            && lcp
                .peer_asked
                .iter()
                .all(|m| m.is_none_or(|m| !allowed.contains(&m)))
        {
            return DownReason::NoCommonAuth {
                ours: allowed.clone(),
                peer: lcp.peer_asked.iter().flatten().copied().collect(),
            };
        }
        reason
    }
}
