//! The IP Control Protocol (RFC 1332) with the DNS extensions (RFC 1877).
//!
//! As a dialer we request 0.0.0.0 (or the configured address) and take the
//! address the peer Naks back, and ask for primary and secondary DNS the
//! same way; a DNS server of 0.0.0.0 counts as none. As an answerer we
//! assign the configured address to the caller and hand out DNS servers.
//! IP-Compression-Protocol (Van Jacobson), the old IP-Addresses option and
//! the NBNS options are always rejected.

use std::net::Ipv4Addr;

use crate::config::IpcpConfig;
use crate::fsm::{Negotiator, Reply};
use crate::reason::DownReason;
use crate::wire::{protocol, Opt, Options};

/// IPCP option types (RFC 1332 §3, RFC 1877 §1).
#[allow(missing_docs)]
pub mod opt {
    pub const IP_ADDRESSES: u8 = 1;
    pub const IP_COMPRESSION_PROTOCOL: u8 = 2;
    pub const IP_ADDRESS: u8 = 3;
    pub const PRIMARY_DNS: u8 = 129;
    pub const PRIMARY_NBNS: u8 = 130;
    pub const SECONDARY_DNS: u8 = 131;
    pub const SECONDARY_NBNS: u8 = 132;
}

fn addr(o: &Opt<'_>) -> Option<Ipv4Addr> {
    o.u32().map(Ipv4Addr::from)
}

/// One side's IPCP options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpcpOptions {
    /// IP-Address.
    pub address: Option<Ipv4Addr>,
    /// Primary-DNS-Address.
    pub dns1: Option<Ipv4Addr>,
    /// Secondary-DNS-Address.
    pub dns2: Option<Ipv4Addr>,
}

/// IPCP's negotiator.
#[derive(Debug)]
pub struct Ipcp {
    config: IpcpConfig,
    answerer: bool,
    /// What we ask for.
    pub want: IpcpOptions,
    /// Ours, as acked by the peer.
    pub ours: IpcpOptions,
    /// The peer's, as we acked them.
    pub his: IpcpOptions,
    suggested_address: bool,
}

impl Ipcp {
    pub(crate) fn new(config: IpcpConfig, answerer: bool) -> Self {
        let mut ipcp = Ipcp {
            config,
            answerer,
            want: IpcpOptions::default(),
            ours: IpcpOptions::default(),
            his: IpcpOptions::default(),
            suggested_address: false,
        };
        ipcp.reset();
        ipcp
    }

    /// Our address once open.
    pub fn local(&self) -> Option<Ipv4Addr> {
        self.ours
            .address
            .or(self.config.local)
            .filter(|a| !a.is_unspecified())
    }

    /// The peer's address once open.
    pub fn remote(&self) -> Option<Ipv4Addr> {
        self.his
            .address
            .or(self.config.remote)
            .filter(|a| !a.is_unspecified())
    }

    /// The DNS servers: learnt from the peer (dialer) or handed out
    /// (answerer). 0.0.0.0 means none.
    pub fn dns(&self) -> Vec<Ipv4Addr> {
        if self.answerer {
            return self.config.dns.iter().copied().take(2).collect();
        }
        let mut dns: Vec<Ipv4Addr> = [self.ours.dns1, self.ours.dns2]
            .into_iter()
            .flatten()
            .filter(|a| !a.is_unspecified())
            .collect();
        // An answerer with one server may give it for both options.
        dns.dedup();
        dns
    }

    /// The server for a DNS option. With a single server configured, the
    /// secondary is the primary again: a Nak the caller takes in the same
    /// round as its address, where a Configure-Reject (RFC 1877 allows
    /// both) would cost the caller a round trip before it may ask again.
    fn dns_to_give(&self, kind: u8) -> Option<Ipv4Addr> {
        let i = usize::from(kind == opt::SECONDARY_DNS);
        self.config
            .dns
            .get(i)
            .or_else(|| self.config.dns.first())
            .copied()
    }
}

impl Negotiator for Ipcp {
    fn protocol(&self) -> u16 {
        protocol::IPCP
    }

    fn reset(&mut self) {
        let dialer = !self.answerer;
        self.want = IpcpOptions {
            address: match (self.config.local, dialer) {
                (Some(a), _) => Some(a),
                (None, true) => Some(Ipv4Addr::UNSPECIFIED),
                (None, false) => None,
            },
            dns1: (dialer && self.config.request_dns).then_some(Ipv4Addr::UNSPECIFIED),
            dns2: (dialer && self.config.request_dns).then_some(Ipv4Addr::UNSPECIFIED),
        };
        self.ours = IpcpOptions::default();
        self.his = IpcpOptions::default();
        self.suggested_address = false;
    }

    fn build_request(&mut self, out: &mut Vec<u8>) {
        let w = self.want;
        if let Some(a) = w.address {
            crate::wire::emit_option(opt::IP_ADDRESS, &a.octets(), out);
        }
        if let Some(a) = w.dns1 {
            crate::wire::emit_option(opt::PRIMARY_DNS, &a.octets(), out);
        }
        if let Some(a) = w.dns2 {
            crate::wire::emit_option(opt::SECONDARY_DNS, &a.octets(), out);
        }
    }

    fn acked(&mut self, _opts: Options<'_>) {
        self.ours = self.want;
    }

    fn naked(&mut self, opts: Options<'_>, treat_as_reject: bool) -> Result<(), DownReason> {
        for o in opts {
            let Some(value) = addr(&o) else { continue };
            match o.kind {
                opt::IP_ADDRESS if self.want.address.is_some() => {
                    if value.is_unspecified() || treat_as_reject {
                        // The peer has no address for us either.
                        if self.config.local.is_none() {
                            return Err(DownReason::OptionRefused {
                                protocol: protocol::IPCP,
                                option: "IP-Address".into(),
                                detail: "the peer did not assign an address and none is configured"
                                    .into(),
                            });
                        }
                        self.want.address = None;
                    } else {
                        self.want.address = Some(value);
                    }
                }
                opt::PRIMARY_DNS if self.want.dns1.is_some() => {
                    self.want.dns1 = (!treat_as_reject).then_some(value)
                }
                opt::SECONDARY_DNS if self.want.dns2.is_some() => {
                    self.want.dns2 = (!treat_as_reject).then_some(value)
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn rejected(&mut self, opts: Options<'_>) -> Result<(), DownReason> {
        for o in opts {
            match o.kind {
                opt::IP_ADDRESS => {
                    if self.config.local.is_none() && !self.answerer {
                        return Err(DownReason::OptionRefused {
                            protocol: protocol::IPCP,
                            option: "IP-Address".into(),
                            detail: "the peer will not assign an address and none is configured"
                                .into(),
                        });
                    }
                    self.want.address = None;
                }
                opt::PRIMARY_DNS => self.want.dns1 = None,
                opt::SECONDARY_DNS => self.want.dns2 = None,
                _ => {}
            }
        }
        Ok(())
    }

    fn check_request(&mut self, opts: Options<'_>, reply: &mut Reply) {
        self.his = IpcpOptions::default();
        let mut saw_address = false;
        for o in opts {
            match o.kind {
                opt::IP_ADDRESS => {
                    saw_address = true;
                    let Some(asked) = addr(&o) else {
                        reply.reject(o);
                        continue;
                    };
                    match (self.answerer, self.config.remote) {
                        // We assign the caller's address.
                        (true, Some(assigned)) if asked != assigned => {
                            reply.nak(o, &assigned.octets())
                        }
                        // The peer wants an address we cannot give.
                        (_, None) if asked.is_unspecified() => reply.reject(o),
                        (false, Some(r)) if asked.is_unspecified() => reply.nak(o, &r.octets()),
                        _ => {
                            self.his.address = Some(asked);
                            reply.ack(o);
                        }
                    }
                }
                opt::PRIMARY_DNS | opt::SECONDARY_DNS if self.answerer => {
                    match (addr(&o), self.dns_to_give(o.kind)) {
                        (Some(asked), Some(ours)) if asked == ours => reply.ack(o),
                        (Some(_), Some(ours)) => reply.nak(o, &ours.octets()),
                        _ => reply.reject(o),
                    }
                }
                // VJ compression, IP-Addresses, NBNS, a dialer asked for
                // DNS, anything unknown.
                _ => reply.reject(o),
            }
        }
        // A caller that did not ask for an address is told the one it
        // gets, once (RFC 1332 §3.3).
        if self.answerer && !saw_address && !self.suggested_address {
            if let Some(assigned) = self.config.remote {
                self.suggested_address = true;
                reply.nak_missing(opt::IP_ADDRESS, &assigned.octets());
            }
        }
    }
}
