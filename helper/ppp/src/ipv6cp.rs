//! The IPv6 Control Protocol (RFC 5072): 64-bit interface identifiers for
//! the link-local addresses at both ends, with collision handling.
//! IPv6-Compression-Protocol is rejected.

use std::net::Ipv6Addr;

use crate::config::Ipv6cpConfig;
use crate::fsm::{Negotiator, Reply};
use crate::reason::DownReason;
use crate::rng::Rng;
use crate::wire::{protocol, Options};

/// IPV6CP option types (RFC 5072 §4).
#[allow(missing_docs)]
pub mod opt {
    pub const INTERFACE_IDENTIFIER: u8 = 1;
    pub const IPV6_COMPRESSION_PROTOCOL: u8 = 2;
}

/// The link-local address (fe80::/64) for an interface identifier
/// (RFC 5072 §5).
pub fn link_local(id: [u8; 8]) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets[0] = 0xfe;
    octets[1] = 0x80;
    octets[8..].copy_from_slice(&id);
    Ipv6Addr::from(octets)
}

/// IPV6CP's negotiator.
#[derive(Debug)]
pub struct Ipv6cp {
    config: Ipv6cpConfig,
    rng: Rng,
    /// The identifier we ask for, if any.
    pub want: Option<[u8; 8]>,
    /// Ours, as acked.
    pub ours: Option<[u8; 8]>,
    /// The peer's, as acked.
    pub his: Option<[u8; 8]>,
    /// Ours, used without negotiation after the peer rejected the option.
    kept: Option<[u8; 8]>,
}

impl Ipv6cp {
    pub(crate) fn new(config: Ipv6cpConfig, rng: Rng) -> Self {
        let mut n = Ipv6cp {
            config,
            rng,
            want: None,
            ours: None,
            his: None,
            kept: None,
        };
        n.reset();
        n
    }

    fn random_id(&mut self, avoid: Option<[u8; 8]>) -> [u8; 8] {
        loop {
            let mut id = self.rng.bytes::<8>();
            // Not a universal/global EUI-64: clear the "u" bit (RFC 4291 App. A).
            id[0] &= !0x02;
            if id != [0; 8] && Some(id) != avoid {
                return id;
            }
        }
    }

    /// Our identifier as used on the link.
    pub fn local_id(&self) -> Option<[u8; 8]> {
        self.ours.or(self.kept)
    }
}

impl Negotiator for Ipv6cp {
    fn protocol(&self) -> u16 {
        protocol::IPV6CP
    }

    fn reset(&mut self) {
        let id = match self.config.interface_id {
            Some(id) if id != [0; 8] => id,
            _ => self.random_id(None),
        };
        self.want = Some(id);
        self.ours = None;
        self.his = None;
        self.kept = None;
    }

    fn build_request(&mut self, out: &mut Vec<u8>) {
        if let Some(id) = self.want {
            crate::wire::emit_option(opt::INTERFACE_IDENTIFIER, &id, out);
        }
    }

    fn acked(&mut self, _opts: Options<'_>) {
        self.ours = self.want;
    }

    fn naked(&mut self, opts: Options<'_>, treat_as_reject: bool) -> Result<(), DownReason> {
        for o in opts {
            if o.kind != opt::INTERFACE_IDENTIFIER || self.want.is_none() {
                continue;
            }
            let suggested = <[u8; 8]>::try_from(o.data).ok();
            self.want = match suggested {
                // Take the peer's suggestion unless it is zero or its own.
                Some(s) if s != [0; 8] && Some(s) != self.his && !treat_as_reject => Some(s),
                _ if treat_as_reject => None,
                _ => Some(self.random_id(self.his)),
            };
        }
        Ok(())
    }

    fn rejected(&mut self, opts: Options<'_>) -> Result<(), DownReason> {
        for o in opts {
            if o.kind == opt::INTERFACE_IDENTIFIER {
                // Keep using our identifier without negotiating it.
                self.kept = self.want.take();
            }
        }
        Ok(())
    }

    fn check_request(&mut self, opts: Options<'_>, reply: &mut Reply) {
        self.his = None;
        for o in opts {
            match (o.kind, <[u8; 8]>::try_from(o.data)) {
                (opt::INTERFACE_IDENTIFIER, Ok(id)) => {
                    let ours = self.want.or(self.ours);
                    if id == [0; 8] || Some(id) == ours {
                        // Zero, or a collision with ours: suggest another
                        // (RFC 5072 §4.1).
                        let suggestion = self.random_id(ours);
                        reply.nak(o, &suggestion);
                    } else {
                        self.his = Some(id);
                        reply.ack(o);
                    }
                }
                _ => reply.reject(o),
            }
        }
    }
}
