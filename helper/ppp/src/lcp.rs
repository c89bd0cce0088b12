//! The Link Control Protocol's options (RFC 1661 §6, RFC 1662 §7.1,
//! RFC 1994 §3, RFC 2759 §2).
//!
//! [`Lcp`] is the [`Negotiator`] for LCP: Maximum-Receive-Unit,
//! Async-Control-Character-Map, Authentication-Protocol, Magic-Number (with
//! loop-back detection), Protocol-Field-Compression and
//! Address-and-Control-Field-Compression. Anything else is rejected. LCP's
//! own codes (Protocol-Reject, Echo, Discard) are handled by the link.

use crate::config::{AuthMethod, LcpConfig};
use crate::fsm::{Negotiator, Reply};
use crate::reason::DownReason;
use crate::rng::Rng;
use crate::wire::{protocol, Opt, Options};

/// LCP option types (RFC 1661 §6, IANA "PPP LCP Configuration Option Types").
#[allow(missing_docs)]
pub mod opt {
    pub const MRU: u8 = 1;
    pub const ACCM: u8 = 2;
    pub const AUTH_PROTOCOL: u8 = 3;
    pub const QUALITY_PROTOCOL: u8 = 4;
    pub const MAGIC_NUMBER: u8 = 5;
    pub const PFC: u8 = 7;
    pub const ACFC: u8 = 8;
}

/// CHAP algorithm numbers (RFC 1994 §3, RFC 2759 §2).
pub const CHAP_MD5: u8 = 5;
/// MS-CHAP-v2's algorithm number.
pub const CHAP_MSV2: u8 = 0x81;

/// The smallest MRU we allow the peer to ask for (pppd's MINMRU).
pub const MIN_MRU: u16 = 128;
/// The default MRU (RFC 1661 §6.1).
pub const DEFAULT_MRU: u16 = 1500;

/// The Authentication-Protocol option's data for a method.
pub fn auth_option_data(method: AuthMethod) -> &'static [u8] {
    match method {
        AuthMethod::Pap => &[0xc0, 0x23],
        AuthMethod::ChapMd5 => &[0xc2, 0x23, CHAP_MD5],
        AuthMethod::MsChapV2 => &[0xc2, 0x23, CHAP_MSV2],
    }
}

/// The method an Authentication-Protocol option names, if we know it.
pub fn parse_auth_option(data: &[u8]) -> Option<AuthMethod> {
    match data {
        [0xc0, 0x23] => Some(AuthMethod::Pap),
        [0xc2, 0x23, CHAP_MD5] => Some(AuthMethod::ChapMd5),
        [0xc2, 0x23, CHAP_MSV2] => Some(AuthMethod::MsChapV2),
        _ => None,
    }
}

/// One side's set of LCP options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LcpOptions {
    /// Maximum-Receive-Unit.
    pub mru: Option<u16>,
    /// Async-Control-Character-Map.
    pub accm: Option<u32>,
    /// Authentication-Protocol.
    pub auth: Option<AuthMethod>,
    /// Magic-Number.
    pub magic: Option<u32>,
    /// Protocol-Field-Compression.
    pub pfc: bool,
    /// Address-and-Control-Field-Compression.
    pub acfc: bool,
}

/// Whether this end demands authentication of the peer, or agrees to
/// authenticate itself.
#[derive(Clone, Debug)]
pub enum AuthPolicy {
    /// The dialer: agrees to authenticate with these methods (most
    /// preferred first) when the peer asks; never asks the peer.
    Authenticatee {
        /// Acceptable methods; empty if we have no credentials.
        methods: Vec<AuthMethod>,
    },
    /// The answerer: requires the peer to authenticate with one of these
    /// (most preferred first); empty for no authentication.
    Authenticator {
        /// Required methods.
        methods: Vec<AuthMethod>,
    },
}

/// LCP's negotiator: four option sets, as pppd keeps them (what we want,
/// what the peer acked for us, what we acked for the peer).
#[derive(Debug)]
pub struct Lcp {
    config: LcpConfig,
    policy: AuthPolicy,
    rng: Rng,
    /// What we ask for in the current negotiation.
    pub want: LcpOptions,
    /// Our options as acked by the peer.
    pub ours: LcpOptions,
    /// The peer's options as we acked them.
    pub his: LcpOptions,
    /// Authenticator: the methods already tried and refused by the peer.
    tried: Vec<AuthMethod>,
    /// Authenticatee: the methods the peer asked us to use (None for ones
    /// we do not know), to explain a failure.
    pub peer_asked: Vec<Option<AuthMethod>>,
    /// Authenticatee: we refused to authenticate because we have no
    /// credentials.
    pub refused_without_credentials: bool,
    loops: u32,
    max_loops: u32,
    failure: Option<DownReason>,
}

impl Lcp {
    pub(crate) fn new(config: LcpConfig, policy: AuthPolicy, max_failure: u8, rng: Rng) -> Self {
        let mut lcp = Lcp {
            config,
            policy,
            rng,
            want: LcpOptions::default(),
            ours: LcpOptions::default(),
            his: LcpOptions::default(),
            tried: Vec::new(),
            peer_asked: Vec::new(),
            refused_without_credentials: false,
            loops: 0,
            max_loops: u32::from(max_failure.max(1)),
            failure: None,
        };
        lcp.reset();
        lcp
    }

    /// The largest frame we may send: the peer's MRU, default 1500.
    pub fn peer_mru(&self) -> u16 {
        self.his.mru.unwrap_or(DEFAULT_MRU)
    }

    /// The largest frame we accept: our MRU as acked.
    pub fn our_mru(&self) -> u16 {
        self.ours.mru.unwrap_or(DEFAULT_MRU)
    }

    /// The method we authenticate the peer with (authenticator), or
    /// authenticate ourselves with (authenticatee), as negotiated.
    pub fn auth_method(&self) -> Option<AuthMethod> {
        match self.policy {
            AuthPolicy::Authenticatee { .. } => self.his.auth,
            AuthPolicy::Authenticator { .. } => self.ours.auth,
        }
    }

    /// Our Magic-Number, if negotiated.
    pub fn our_magic(&self) -> Option<u32> {
        self.ours.magic
    }

    fn preferred_untried(&self) -> Option<AuthMethod> {
        match &self.policy {
            AuthPolicy::Authenticator { methods } => {
                methods.iter().copied().find(|m| !self.tried.contains(m))
            }
            AuthPolicy::Authenticatee { .. } => None,
        }
    }

    fn required_methods(&self) -> Vec<AuthMethod> {
        match &self.policy {
            AuthPolicy::Authenticator { methods } | AuthPolicy::Authenticatee { methods } => {
                methods.clone()
            }
        }
    }
}

impl Negotiator for Lcp {
    fn protocol(&self) -> u16 {
        protocol::LCP
    }

    fn reset(&mut self) {
        let c = &self.config;
        self.want = LcpOptions {
            mru: (c.mru != DEFAULT_MRU).then_some(c.mru.max(MIN_MRU)),
            // Always state our ACCM: the default (all escaped) costs up to
            // a third of the line for nothing (pppd's `asyncmap 0`).
            accm: (c.accm != u32::MAX).then_some(c.accm),
            auth: None,
            magic: c.magic_number.then(|| self.rng.nonzero_u32()),
            pfc: c.pfc,
            acfc: c.acfc,
        };
        self.tried.clear();
        self.want.auth = self.preferred_untried();
        self.ours = LcpOptions::default();
        self.his = LcpOptions::default();
        self.peer_asked.clear();
        self.refused_without_credentials = false;
    }

    fn build_request(&mut self, out: &mut Vec<u8>) {
        let w = self.want;
        if let Some(mru) = w.mru {
            crate::wire::emit_option(opt::MRU, &mru.to_be_bytes(), out);
        }
        if let Some(accm) = w.accm {
            crate::wire::emit_option(opt::ACCM, &accm.to_be_bytes(), out);
        }
        if let Some(auth) = w.auth {
            crate::wire::emit_option(opt::AUTH_PROTOCOL, auth_option_data(auth), out);
        }
        if let Some(magic) = w.magic {
            crate::wire::emit_option(opt::MAGIC_NUMBER, &magic.to_be_bytes(), out);
        }
        if w.pfc {
            crate::wire::emit_option(opt::PFC, &[], out);
        }
        if w.acfc {
            crate::wire::emit_option(opt::ACFC, &[], out);
        }
    }

    fn acked(&mut self, _opts: Options<'_>) {
        // The automaton checked that the Ack repeats our request exactly.
        self.ours = self.want;
        self.loops = 0;
    }

    fn naked(&mut self, opts: Options<'_>, treat_as_reject: bool) -> Result<(), DownReason> {
        for o in opts {
            match o.kind {
                opt::MRU if self.want.mru.is_some() || o.u16().is_some() => {
                    match o.u16() {
                        // Take a smaller MRU, or anything up to the default.
                        Some(m) if !treat_as_reject && m >= MIN_MRU => {
                            let limit = self.config.mru.max(DEFAULT_MRU);
                            self.want.mru = (m <= limit).then_some(m).filter(|&m| m != DEFAULT_MRU);
                        }
                        _ => self.want.mru = None,
                    }
                }
                opt::ACCM if self.want.accm.is_some() => match o.u32() {
                    // The peer needs more characters escaped towards it... or
                    // wants us to escape more: add its bits to ours.
                    Some(map) if !treat_as_reject => {
                        self.want.accm = Some(self.want.accm.unwrap_or(0) | map)
                    }
                    _ => self.want.accm = None,
                },
                opt::AUTH_PROTOCOL if self.want.auth.is_some() => {
                    let current = self.want.auth;
                    if let Some(m) = current {
                        self.tried.push(m);
                    }
                    let suggested = parse_auth_option(o.data);
                    let acceptable = |m: &AuthMethod| self.required_methods().contains(m);
                    let next = match suggested {
                        Some(s)
                            if acceptable(&s) && !self.tried.contains(&s) && !treat_as_reject =>
                        {
                            Some(s)
                        }
                        _ => self.preferred_untried(),
                    };
                    match next {
                        Some(m) => self.want.auth = Some(m),
                        None => {
                            return Err(DownReason::NoCommonAuth {
                                ours: self.required_methods(),
                                peer: suggested.into_iter().collect(),
                            })
                        }
                    }
                }
                opt::MAGIC_NUMBER if self.want.magic.is_some() => {
                    // A Nak of our Magic-Number: pick another (§6.4).
                    self.want.magic = if treat_as_reject {
                        None
                    } else {
                        Some(self.rng.nonzero_u32())
                    };
                }
                opt::PFC if self.want.pfc => self.want.pfc = false,
                opt::ACFC if self.want.acfc => self.want.acfc = false,
                // Options we did not ask for: ignore the suggestion.
                _ => {}
            }
        }
        Ok(())
    }

    fn rejected(&mut self, opts: Options<'_>) -> Result<(), DownReason> {
        for o in opts {
            match o.kind {
                opt::MRU => self.want.mru = None,
                opt::ACCM => self.want.accm = None,
                opt::AUTH_PROTOCOL => return Err(DownReason::PeerRefusedAuth),
                opt::MAGIC_NUMBER => self.want.magic = None,
                opt::PFC => self.want.pfc = false,
                opt::ACFC => self.want.acfc = false,
                _ => {}
            }
        }
        Ok(())
    }

    fn check_request(&mut self, opts: Options<'_>, reply: &mut Reply) {
        self.his = LcpOptions::default();
        for o in opts {
            self.check_option(o, reply);
        }
    }

    fn take_failure(&mut self) -> Option<DownReason> {
        self.failure.take()
    }

    /// Our own Magic-Number came back in a Configure-Request and the peer
    /// then answered nothing: what we heard was our own packets, a line
    /// that echoes (RFC 1661 §6.4), even if it stopped before `max_loops`
    /// rounds (a dial-in server's login prompt echoes only while it reads
    /// a line).
    fn silence_reason(&self) -> Option<DownReason> {
        (self.loops > 0).then_some(DownReason::LoopedBack)
    }
}

impl Lcp {
    fn check_option(&mut self, o: Opt<'_>, reply: &mut Reply) {
        match o.kind {
            opt::MRU => match o.u16() {
                Some(m) if m >= MIN_MRU => {
                    self.his.mru = Some(m);
                    reply.ack(o);
                }
                Some(_) => reply.nak(o, &MIN_MRU.to_be_bytes()),
                None => reply.reject(o),
            },
            opt::ACCM => match o.u32() {
                Some(map) => {
                    self.his.accm = Some(map);
                    reply.ack(o);
                }
                None => reply.reject(o),
            },
            opt::AUTH_PROTOCOL => self.check_auth(o, reply),
            opt::MAGIC_NUMBER => match o.u32() {
                Some(0) => {
                    // A Magic-Number of zero is illegal and always Naked.
                    let suggestion = self.rng.nonzero_u32();
                    reply.nak(o, &suggestion.to_be_bytes());
                }
                Some(m) if Some(m) == self.want.magic => {
                    // Our own number: perhaps the line is looped back
                    // (RFC 1661 §6.4). Nak with a new number for the peer
                    // and choose a new one ourselves; after enough rounds
                    // the loop is certain.
                    self.loops += 1;
                    if self.loops >= self.max_loops {
                        self.failure = Some(DownReason::LoopedBack);
                        return;
                    }
                    self.want.magic = Some(self.rng.nonzero_u32());
                    let suggestion = self.rng.nonzero_u32();
                    reply.nak(o, &suggestion.to_be_bytes());
                }
                Some(m) => {
                    self.his.magic = Some(m);
                    reply.ack(o);
                }
                None => reply.reject(o),
            },
            opt::PFC if o.data.is_empty() => {
                self.his.pfc = true;
                reply.ack(o);
            }
            opt::ACFC if o.data.is_empty() => {
                self.his.acfc = true;
                reply.ack(o);
            }
            // Quality-Protocol, Callback, Multilink, FCS-Alternatives, ...:
            // not supported, so rejected (RFC 1661 §5.4).
            _ => reply.reject(o),
        }
    }

    fn check_auth(&mut self, o: Opt<'_>, reply: &mut Reply) {
        let asked = parse_auth_option(o.data);
        match &self.policy {
            AuthPolicy::Authenticator { .. } => {
                // We answer calls; we do not authenticate ourselves to
                // callers.
                reply.reject(o);
            }
            AuthPolicy::Authenticatee { methods } => {
                self.peer_asked.push(asked);
                if methods.is_empty() {
                    self.refused_without_credentials = true;
                    reply.reject(o);
                    return;
                }
                match asked {
                    Some(m) if methods.contains(&m) => {
                        self.his.auth = Some(m);
                        reply.ack(o);
                    }
                    // Suggest the method we prefer among those we allow
                    // (RFC 1661 §6.2: Nak with the desired protocol).
                    _ => {
                        let first = methods[0];
                        reply.nak(o, auth_option_data(first));
                    }
                }
            }
        }
    }
}
