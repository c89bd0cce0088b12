//! Demand dialing: the link comes up when the first packet wants to leave,
//! and connections opened before the address was known keep working.
//!
//! With demand dialing the TUN interface exists before the call, configured
//! with placeholder addresses ([`PLACEHOLDER_LOCAL`] and
//! [`PLACEHOLDER_PEER`], pppd's) and the default route. The runtime reads
//! packets from the TUN device while the link is down: those for which
//! [`triggers_dial`] says yes bring the link up, and all are kept in a
//! [`DemandQueue`] until it is, then handed to PPP.
//!
//! When IPCP then assigns a different (dynamic) local address, the
//! connections that began under the placeholder are bound to it: pppd
//! breaks them. Here the runtime keeps the placeholder on the interface
//! next to the real address, and an [`AddressRewriter`] translates their
//! packets: [`AddressRewriter::outbound`] gives every packet from the
//! placeholder the real source address and remembers its flow;
//! [`AddressRewriter::inbound`] gives replies of remembered flows the
//! placeholder back as their destination. Checksums are updated
//! incrementally (RFC 1624). Only TCP, UDP and ICMP are translated; ICMP
//! errors about a translated flow (destination unreachable, time exceeded,
//! parameter problem, source quench) have the packet they quote translated
//! too, so path MTU discovery and "connection refused" keep working.
//!
//! Everything here is pure: no clock (the caller passes
//! [`dialtone_ppp::Instant`]s), no device, and no input makes it panic or
//! grow without bound.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use dialtone_ppp::Instant;

/// The local address the interface has before the call (pppd's).
pub const PLACEHOLDER_LOCAL: Ipv4Addr = Ipv4Addr::new(10, 64, 64, 64);

/// The peer address the interface has before the call (pppd's).
pub const PLACEHOLDER_PEER: Ipv4Addr = Ipv4Addr::new(10, 112, 112, 112);

/// The most packets a [`DemandQueue::default`] holds.
pub const QUEUE_MAX_PACKETS: usize = 32;

/// The most bytes (of packets) a [`DemandQueue::default`] holds.
pub const QUEUE_MAX_BYTES: usize = 64 * 1024;

/// How long a [`DemandQueue::default`] keeps a packet: older ones are
/// stale (their sender has retransmitted or given up) and are dropped.
pub const QUEUE_MAX_AGE: Duration = Duration::from_secs(30);

/// The most flows an [`AddressRewriter::new`] remembers; the least
/// recently used one is forgotten to make room.
pub const MAX_FLOWS: usize = 1024;

/// A TCP flow idle this long is forgotten.
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(2 * 60 * 60);

/// A UDP or ICMP flow idle this long is forgotten.
pub const OTHER_IDLE_TIMEOUT: Duration = Duration::from_secs(3 * 60);

const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMPV6: u8 = 58;

/// The IPv4 header length this module translates (no options).
const IPV4_HEADER: usize = 20;

// ---------------------------------------------------------------------------
// The queue
// ---------------------------------------------------------------------------

/// Packets read from the TUN device while the link is not up yet, bounded
/// in count, bytes and age. When full, the oldest packets make room; every
/// packet dropped, for room or for age, is counted ([`DemandQueue::dropped`]).
#[derive(Debug)]
pub struct DemandQueue {
    entries: VecDeque<(Instant, Vec<u8>)>,
    bytes: usize,
    max_packets: usize,
    max_bytes: usize,
    max_age: Duration,
    dropped: u64,
}

impl Default for DemandQueue {
    /// [`QUEUE_MAX_PACKETS`], [`QUEUE_MAX_BYTES`] and [`QUEUE_MAX_AGE`].
    fn default() -> Self {
        DemandQueue::new(QUEUE_MAX_PACKETS, QUEUE_MAX_BYTES, QUEUE_MAX_AGE)
    }
}

impl DemandQueue {
    /// A queue of at most `max_packets` packets and `max_bytes` bytes, each
    /// kept at most `max_age`.
    pub fn new(max_packets: usize, max_bytes: usize, max_age: Duration) -> Self {
        DemandQueue {
            entries: VecDeque::new(),
            bytes: 0,
            max_packets,
            max_bytes,
            max_age,
            dropped: 0,
        }
    }

    /// Queues `packet`, read at `now`. Stale packets go first; then, if
    /// the queue is full, the oldest ones. A packet larger than the whole
    /// queue is dropped itself.
    pub fn push(&mut self, packet: Vec<u8>, now: Instant) {
        self.expire(now);
        if self.max_packets == 0 || packet.len() > self.max_bytes {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        while self.entries.len() >= self.max_packets
            || self.bytes.saturating_add(packet.len()) > self.max_bytes
        {
            if !self.drop_oldest() {
                break;
            }
        }
        self.bytes = self.bytes.saturating_add(packet.len());
        self.entries.push_back((now, packet));
    }

    /// Empties the queue: the packets not stale at `now`, oldest first.
    pub fn drain(&mut self, now: Instant) -> Vec<Vec<u8>> {
        self.expire(now);
        self.bytes = 0;
        self.entries.drain(..).map(|(_, p)| p).collect()
    }

    /// Drops the packets older than the maximum age at `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.entries.front() {
            if now.saturating_duration_since(*at) <= self.max_age {
                break;
            }
            self.drop_oldest();
        }
    }

    /// Drops every packet (the call failed), counting them.
    pub fn clear(&mut self) {
        let n = u64::try_from(self.entries.len()).unwrap_or(u64::MAX);
        self.dropped = self.dropped.saturating_add(n);
        self.entries.clear();
        self.bytes = 0;
    }

    /// How many packets are queued.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no packet is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bytes queued.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many packets were dropped since the queue was made: for room,
    /// for age, or by [`DemandQueue::clear`].
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn drop_oldest(&mut self) -> bool {
        match self.entries.pop_front() {
            Some((_, p)) => {
                self.bytes = self.bytes.saturating_sub(p.len());
                self.dropped = self.dropped.saturating_add(1);
                true
            }
            None => false,
        }
    }
}

// ---------------------------------------------------------------------------
// What dials
// ---------------------------------------------------------------------------

/// Whether an outgoing packet (as read from the TUN device) should bring
/// the link up.
///
/// Yes for IPv4 and IPv6 unicast to a routable destination. No for what
/// the kernel sends by itself when an interface comes up or lives: IPv4
/// multicast (224.0.0.0/4) and broadcast (255.255.255.255), anything IPv6
/// to a multicast address (ff00::/8) or from or to a link-local one
/// (fe80::/10), from the unspecified address (duplicate address detection),
/// and the ICMPv6 router, neighbour, redirect and MLD messages wherever
/// they go. No for unspecified and loopback destinations, other IP
/// versions, and malformed packets.
pub fn triggers_dial(pkt: &[u8]) -> bool {
    match pkt.first().map(|b| b >> 4) {
        Some(4) => ipv4_triggers(pkt),
        Some(6) => ipv6_triggers(pkt),
        _ => false,
    }
}

fn ipv4_triggers(pkt: &[u8]) -> bool {
    if pkt.len() < IPV4_HEADER {
        return false;
    }
    let header = usize::from(pkt[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    if header < IPV4_HEADER || total < header || total > pkt.len() {
        return false;
    }
    let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
    !(dst.is_multicast() || dst.is_broadcast() || dst.is_unspecified() || dst.is_loopback())
}

fn ipv6_triggers(pkt: &[u8]) -> bool {
    const HEADER: usize = 40;
    if pkt.len() < HEADER {
        return false;
    }
    let payload = usize::from(u16::from_be_bytes([pkt[4], pkt[5]]));
    if HEADER + payload > pkt.len() {
        return false;
    }
    let addr = |at: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&pkt[at..at + 16]);
        Ipv6Addr::from(a)
    };
    let (src, dst) = (addr(8), addr(24));
    let link_local = |a: &Ipv6Addr| a.segments()[0] & 0xffc0 == 0xfe80;
    if dst.is_multicast()
        || link_local(&src)
        || link_local(&dst)
        || src.is_unspecified()
        || dst.is_unspecified()
        || dst.is_loopback()
    {
        return false;
    }
    if pkt[6] == PROTO_ICMPV6 {
        // Router solicitation/advertisement, neighbour solicitation/
        // advertisement, redirect, MLD query/report/done, MLDv2 report.
        return match pkt.get(HEADER) {
            Some(&ty) => !matches!(ty, 130..=137 | 143),
            None => false,
        };
    }
    true
}

// ---------------------------------------------------------------------------
// Checksums
// ---------------------------------------------------------------------------

/// The 16-bit big-endian words of `bytes` (an even number of them).
fn words(bytes: &[u8]) -> impl Iterator<Item = u16> + '_ {
    bytes
        .chunks_exact(2)
        .map(|w| u16::from_be_bytes([w[0], w[1]]))
}

/// RFC 1624, equation 3: the checksum `hc` after the bytes `old` (at an
/// even offset in the checksummed data) became `new` (as long).
/// `HC' = ~(~HC + ~m + m')`.
fn adjust(hc: u16, old: &[u8], new: &[u8]) -> u16 {
    let mut sum = u64::from(!hc);
    for (m, m2) in words(old).zip(words(new)) {
        sum += u64::from(!m) + u64::from(m2);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // After folding the sum fits in 16 bits.
    !(u16::try_from(sum).unwrap_or(0xffff))
}

fn get16(pkt: &[u8], at: usize) -> Option<u16> {
    let b = pkt.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn set16(pkt: &mut [u8], at: usize, v: u16) {
    if let Some(b) = at.checked_add(2).and_then(|end| pkt.get_mut(at..end)) {
        b.copy_from_slice(&v.to_be_bytes());
    }
}

fn get_addr(pkt: &[u8], at: usize) -> Option<Ipv4Addr> {
    let b = pkt.get(at..at.checked_add(4)?)?;
    Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
}

/// Writes `new` over the address at `at` and returns the old one's bytes.
fn set_addr(pkt: &mut [u8], at: usize, new: Ipv4Addr) -> [u8; 4] {
    let mut old = [0u8; 4];
    if let Some(b) = at.checked_add(4).and_then(|end| pkt.get_mut(at..end)) {
        old.copy_from_slice(b);
        b.copy_from_slice(&new.octets());
    }
    old
}

/// Updates the checksum at `at` for `old` → `new`; `zero_means_none`
/// (UDP) keeps a zero checksum zero and never writes a computed zero.
fn fix_checksum(pkt: &mut [u8], at: usize, old: &[u8], new: &[u8], zero_means_none: bool) {
    let Some(hc) = get16(pkt, at) else { return };
    if zero_means_none && hc == 0 {
        return;
    }
    let mut v = adjust(hc, old, new);
    if zero_means_none && v == 0 {
        v = 0xffff;
    }
    set16(pkt, at, v);
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// An IPv4 packet without options, its length consistent.
#[derive(Clone, Copy, Debug)]
struct Ipv4 {
    /// The datagram's end (its total length) in the buffer.
    end: usize,
    protocol: u8,
    /// Whether this is the first (or only) fragment: it has the transport
    /// header.
    first_fragment: bool,
    src: Ipv4Addr,
    dst: Ipv4Addr,
}

fn parse_ipv4(pkt: &[u8]) -> Option<Ipv4> {
    let h = pkt.get(..IPV4_HEADER)?;
    if h[0] != 0x45 {
        return None; // not IPv4, or with options
    }
    let end = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if end < IPV4_HEADER || end > pkt.len() {
        return None;
    }
    let offset = u16::from_be_bytes([h[6], h[7]]) & 0x1fff;
    Some(Ipv4 {
        end,
        protocol: h[9],
        first_fragment: offset == 0,
        src: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
        dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]),
    })
}

/// Where the source and destination addresses are in an IPv4 header.
const SRC: usize = 12;
const DST: usize = 16;
/// Where the header checksum is.
const HEADER_CHECKSUM: usize = 10;

/// ICMP query messages with an identifier: echo, timestamp, information,
/// address mask — (request, reply).
const ICMP_QUERIES: [(u8, u8); 4] = [(8, 0), (13, 14), (15, 16), (17, 18)];

fn icmp_is_request(ty: u8) -> bool {
    ICMP_QUERIES.iter().any(|&(req, _)| req == ty)
}

fn icmp_is_reply(ty: u8) -> bool {
    ICMP_QUERIES.iter().any(|&(_, rep)| rep == ty)
}

/// Destination unreachable, source quench, time exceeded, parameter
/// problem: they quote the packet they are about.
fn icmp_is_error(ty: u8) -> bool {
    matches!(ty, 3 | 4 | 11 | 12)
}

/// The checksum's offset within a transport header, and whether zero
/// means "none" (UDP). ICMP has no pseudo-header: an address change does
/// not touch its checksum.
fn transport_checksum(protocol: u8) -> Option<(usize, bool)> {
    match protocol {
        PROTO_TCP => Some((16, false)),
        PROTO_UDP => Some((6, true)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Flows
// ---------------------------------------------------------------------------

/// A connection seen from the local side: protocol, local port (or ICMP
/// identifier), remote address and remote port (0 for ICMP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FlowKey {
    protocol: u8,
    local_port: u16,
    remote: Ipv4Addr,
    remote_port: u16,
}

impl FlowKey {
    fn idle_timeout(&self) -> Duration {
        if self.protocol == PROTO_TCP {
            TCP_IDLE_TIMEOUT
        } else {
            OTHER_IDLE_TIMEOUT
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct FlowEntry {
    last_seen: Instant,
    /// Its place in the use order.
    seq: u64,
}

/// The remembered flows, bounded, least recently used forgotten first.
#[derive(Debug)]
struct FlowTable {
    map: HashMap<FlowKey, FlowEntry>,
    /// Use order: the smallest sequence number is the least recently used.
    order: BTreeMap<u64, FlowKey>,
    next_seq: u64,
    capacity: usize,
}

impl FlowTable {
    fn new(capacity: usize) -> Self {
        FlowTable {
            map: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            capacity,
        }
    }

    fn is_expired(key: &FlowKey, entry: &FlowEntry, now: Instant) -> bool {
        now.saturating_duration_since(entry.last_seen) > key.idle_timeout()
    }

    fn bump(&mut self, key: FlowKey, now: Instant) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        if let Some(e) = self.map.get_mut(&key) {
            self.order.remove(&e.seq);
            e.seq = seq;
            e.last_seen = e.last_seen.max(now);
            self.order.insert(seq, key);
        }
    }

    /// Remembers `key` as used at `now`.
    fn record(&mut self, key: FlowKey, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        if self.map.contains_key(&key) {
            // An expired entry of the same key is simply a new flow.
            if let Some(e) = self.map.get_mut(&key) {
                e.last_seen = now;
            }
            self.bump(key, now);
            return;
        }
        while self.map.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.map.remove(&oldest);
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.map.insert(
            key,
            FlowEntry {
                last_seen: now,
                seq,
            },
        );
        self.order.insert(seq, key);
    }

    /// Whether `key` is a live flow at `now`; if so it is refreshed, if it
    /// expired it is forgotten.
    fn lookup(&mut self, key: &FlowKey, now: Instant) -> bool {
        let Some(e) = self.map.get(key) else {
            return false;
        };
        if FlowTable::is_expired(key, e, now) {
            self.remove(key);
            return false;
        }
        self.bump(*key, now);
        true
    }

    /// Whether any live flow of `protocol` goes to `remote`.
    fn any_to(&self, protocol: u8, remote: Ipv4Addr, now: Instant) -> bool {
        self.map.iter().any(|(k, e)| {
            k.protocol == protocol && k.remote == remote && !FlowTable::is_expired(k, e, now)
        })
    }

    fn remove(&mut self, key: &FlowKey) {
        if let Some(e) = self.map.remove(key) {
            self.order.remove(&e.seq);
        }
    }

    fn expire(&mut self, now: Instant) {
        let dead: Vec<FlowKey> = self
            .map
            .iter()
            .filter(|(k, e)| FlowTable::is_expired(k, e, now))
            .map(|(k, _)| *k)
            .collect();
        for k in dead {
            self.remove(&k);
        }
    }

    fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }
}

// ---------------------------------------------------------------------------
// The rewriter
// ---------------------------------------------------------------------------

/// Translates the flows that began under the placeholder address once the
/// real address is known. See the [module documentation](self).
///
/// What is translated:
///
/// * IPv4 without options only, TCP, UDP and ICMP only; anything else
///   (IPv6, options, other protocols, a total length longer than the
///   buffer, a first fragment too short to hold the transport checksum or
///   ports) is left untouched, and the call returns `false`.
/// * Outbound, every packet from the placeholder is given the real
///   source: one sent with the placeholder could never be answered. Flows
///   are remembered from the unfragmented packets and first fragments
///   (TCP and UDP by ports, ICMP queries such as echo by identifier).
/// * Inbound, a packet to the real address is given back the placeholder
///   when it belongs to a remembered flow. Only the first fragment of a
///   datagram carries the ports, so a later fragment is translated when
///   any remembered flow of its protocol goes to its source address (a
///   fragment of another connection to the same host and protocol, bound
///   to the real address, would be misdirected: a rare case, traded for
///   not tracking fragment identifiers). Only the IP header of a later
///   fragment changes: the transport checksum is in the first.
/// * Checksums are updated incrementally (RFC 1624): the IPv4 header's,
///   TCP's and UDP's (their pseudo-header holds the addresses; a zero UDP
///   checksum, "none", stays zero), and ICMP's only for an ICMP error whose
///   quoted packet changes (ICMP has no pseudo-header).
/// * Flows are forgotten after [`TCP_IDLE_TIMEOUT`] or
///   [`OTHER_IDLE_TIMEOUT`] without a packet either way, and the least
///   recently used one when the table is full. A closed TCP connection is
///   not tracked: its entry lingers until idle.
#[derive(Debug)]
pub struct AddressRewriter {
    placeholder: Ipv4Addr,
    real: Option<Ipv4Addr>,
    /// The real address the remembered flows were translated to (kept
    /// across [`AddressRewriter::clear_real`]).
    flows_real: Option<Ipv4Addr>,
    flows: FlowTable,
}

impl Default for AddressRewriter {
    /// A rewriter for [`PLACEHOLDER_LOCAL`].
    fn default() -> Self {
        AddressRewriter::new(PLACEHOLDER_LOCAL)
    }
}

impl AddressRewriter {
    /// A rewriter for flows from `placeholder`, remembering at most
    /// [`MAX_FLOWS`] of them. Nothing is translated until
    /// [`AddressRewriter::set_real`].
    pub fn new(placeholder: Ipv4Addr) -> Self {
        AddressRewriter::with_max_flows(placeholder, MAX_FLOWS)
    }

    /// A rewriter remembering at most `max_flows` flows.
    pub fn with_max_flows(placeholder: Ipv4Addr, max_flows: usize) -> Self {
        AddressRewriter {
            placeholder,
            real: None,
            flows_real: None,
            flows: FlowTable::new(max_flows),
        }
    }

    /// The placeholder address.
    pub fn placeholder(&self) -> Ipv4Addr {
        self.placeholder
    }

    /// The real address, once known.
    pub fn real(&self) -> Option<Ipv4Addr> {
        self.real
    }

    /// The address IPCP assigned. A different address than before makes
    /// the remembered flows useless (the remote ends know the old one):
    /// they are forgotten. The same address again (a redial that got it
    /// back) keeps them.
    pub fn set_real(&mut self, addr: Ipv4Addr) {
        if self.flows_real != Some(addr) {
            self.flows.clear();
        }
        self.real = Some(addr);
        self.flows_real = Some(addr);
    }

    /// The link went down: nothing is translated until the next
    /// [`AddressRewriter::set_real`]. The flows are kept, in case the next
    /// call gets the same address.
    pub fn clear_real(&mut self) {
        self.real = None;
    }

    /// How many flows are remembered (idle ones included until
    /// [`AddressRewriter::expire`] or their next lookup).
    pub fn flow_count(&self) -> usize {
        self.flows.map.len()
    }

    /// Forgets the flows idle too long at `now`.
    pub fn expire(&mut self, now: Instant) {
        self.flows.expire(now);
    }

    /// The packet as read from the TUN device, before PPP: if its source
    /// is the placeholder (and the real address is known and differs), the
    /// source becomes the real address and its flow is remembered. Returns
    /// whether the packet was changed.
    pub fn outbound(&mut self, pkt: &mut [u8], now: Instant) -> bool {
        let Some(real) = self.real else { return false };
        if real == self.placeholder {
            return false;
        }
        let Some(ip) = parse_ipv4(pkt) else {
            return false;
        };
        if ip.src != self.placeholder {
            return false;
        }
        let mut flow = None;
        if ip.first_fragment {
            let t = IPV4_HEADER;
            match ip.protocol {
                PROTO_TCP | PROTO_UDP => {
                    let Some((at, zero)) = transport_checksum(ip.protocol) else {
                        return false;
                    };
                    if ip.end < t + at + 2 {
                        return false;
                    }
                    let (Some(local_port), Some(remote_port)) = (get16(pkt, t), get16(pkt, t + 2))
                    else {
                        return false;
                    };
                    fix_checksum(
                        pkt,
                        t + at,
                        &self.placeholder.octets(),
                        &real.octets(),
                        zero,
                    );
                    flow = Some(FlowKey {
                        protocol: ip.protocol,
                        local_port,
                        remote: ip.dst,
                        remote_port,
                    });
                }
                PROTO_ICMP => {
                    if ip.end < t + 4 {
                        return false;
                    }
                    let ty = pkt[t];
                    if icmp_is_request(ty) {
                        if ip.end < t + 8 {
                            return false;
                        }
                        flow = get16(pkt, t + 4).map(|id| FlowKey {
                            protocol: PROTO_ICMP,
                            local_port: id,
                            remote: ip.dst,
                            remote_port: 0,
                        });
                    } else if icmp_is_error(ty) {
                        // About a packet from the remote end to the
                        // placeholder: it was to the real address.
                        let quoted = &pkt[..ip.end];
                        if let Some(q) = parse_quoted(quoted, t) {
                            if q.dst == self.placeholder {
                                rewrite_quoted(&mut pkt[..ip.end], t, &q, DST, real);
                            }
                        }
                    }
                }
                _ => return false,
            }
        } else if !matches!(ip.protocol, PROTO_TCP | PROTO_UDP | PROTO_ICMP) {
            return false;
        }
        let old = set_addr(pkt, SRC, real);
        fix_checksum(pkt, HEADER_CHECKSUM, &old, &real.octets(), false);
        if let Some(key) = flow {
            self.flows.record(key, now);
        }
        true
    }

    /// The packet from PPP, before the TUN device: if it is to the real
    /// address and belongs to a remembered flow, its destination becomes
    /// the placeholder again. Returns whether the packet was changed.
    pub fn inbound(&mut self, pkt: &mut [u8], now: Instant) -> bool {
        let Some(real) = self.real else { return false };
        if real == self.placeholder {
            return false;
        }
        let Some(ip) = parse_ipv4(pkt) else {
            return false;
        };
        if ip.dst != real {
            return false;
        }
        let t = IPV4_HEADER;
        if !ip.first_fragment {
            if !matches!(ip.protocol, PROTO_TCP | PROTO_UDP | PROTO_ICMP)
                || !self.flows.any_to(ip.protocol, ip.src, now)
            {
                return false;
            }
        } else {
            match ip.protocol {
                PROTO_TCP | PROTO_UDP => {
                    let Some((at, zero)) = transport_checksum(ip.protocol) else {
                        return false;
                    };
                    if ip.end < t + at + 2 {
                        return false;
                    }
                    let (Some(remote_port), Some(local_port)) = (get16(pkt, t), get16(pkt, t + 2))
                    else {
                        return false;
                    };
                    let key = FlowKey {
                        protocol: ip.protocol,
                        local_port,
                        remote: ip.src,
                        remote_port,
                    };
                    if !self.flows.lookup(&key, now) {
                        return false;
                    }
                    fix_checksum(
                        pkt,
                        t + at,
                        &real.octets(),
                        &self.placeholder.octets(),
                        zero,
                    );
                }
                PROTO_ICMP => {
                    if ip.end < t + 8 {
                        return false;
                    }
                    let ty = pkt[t];
                    if icmp_is_reply(ty) {
                        let Some(id) = get16(pkt, t + 4) else {
                            return false;
                        };
                        let key = FlowKey {
                            protocol: PROTO_ICMP,
                            local_port: id,
                            remote: ip.src,
                            remote_port: 0,
                        };
                        if !self.flows.lookup(&key, now) {
                            return false;
                        }
                    } else if icmp_is_error(ty) {
                        // About a packet we sent from the real address.
                        let Some(q) = parse_quoted(&pkt[..ip.end], t) else {
                            return false;
                        };
                        if q.src != real {
                            return false;
                        }
                        let Some(key) = q.outbound_key() else {
                            return false;
                        };
                        if !self.flows.lookup(&key, now) {
                            return false;
                        }
                        rewrite_quoted(&mut pkt[..ip.end], t, &q, SRC, self.placeholder);
                    } else {
                        return false;
                    }
                }
                _ => return false,
            }
        }
        let placeholder = self.placeholder;
        let old = set_addr(pkt, DST, placeholder);
        fix_checksum(pkt, HEADER_CHECKSUM, &old, &placeholder.octets(), false);
        true
    }
}

/// The packet an ICMP error quotes.
#[derive(Clone, Copy, Debug)]
struct Quoted {
    /// Where its IP header starts in the buffer.
    start: usize,
    /// Its header length.
    header: usize,
    protocol: u8,
    first_fragment: bool,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    /// Its first transport words, as far as quoted: source and destination
    /// port (or ICMP type/code and identifier).
    ports: Option<(u16, u16)>,
}

impl Quoted {
    /// The flow the quoted packet (one we sent) belongs to.
    fn outbound_key(&self) -> Option<FlowKey> {
        if !self.first_fragment {
            return None;
        }
        let (a, b) = self.ports?;
        match self.protocol {
            PROTO_TCP | PROTO_UDP => Some(FlowKey {
                protocol: self.protocol,
                local_port: a,
                remote: self.dst,
                remote_port: b,
            }),
            PROTO_ICMP if icmp_is_request(a.to_be_bytes()[0]) => Some(FlowKey {
                protocol: PROTO_ICMP,
                local_port: b,
                remote: self.dst,
                remote_port: 0,
            }),
            _ => None,
        }
    }
}

/// The packet quoted by the ICMP error whose header starts at `icmp` in
/// `pkt` (which ends where the datagram does).
fn parse_quoted(pkt: &[u8], icmp: usize) -> Option<Quoted> {
    let start = icmp.checked_add(8)?;
    let h = pkt.get(start..start.checked_add(IPV4_HEADER)?)?;
    if h[0] >> 4 != 4 {
        return None;
    }
    let header = usize::from(h[0] & 0x0f) * 4;
    if header < IPV4_HEADER || pkt.len() < start + header {
        return None;
    }
    let offset = u16::from_be_bytes([h[6], h[7]]) & 0x1fff;
    let t = start + header;
    let ports = match (get16(pkt, t), get16(pkt, t + 2), get16(pkt, t + 4)) {
        (Some(a), Some(b), _) if h[9] != PROTO_ICMP => Some((a, b)),
        // ICMP: type/code, then (past the checksum) the identifier.
        (Some(a), Some(_), Some(id)) => Some((a, id)),
        _ => None,
    };
    Some(Quoted {
        start,
        header,
        protocol: h[9],
        first_fragment: offset == 0,
        src: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
        dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]),
        ports,
    })
}

/// Replaces the quoted packet's address at `field` (`SRC` or `DST`) with
/// `new`, fixing the quoted header's checksum, the quoted transport
/// checksum if it was quoted, and the ICMP checksum over all of it. `pkt`
/// ends where the datagram does; the ICMP header is at `icmp`.
fn rewrite_quoted(pkt: &mut [u8], icmp: usize, q: &Quoted, field: usize, new: Ipv4Addr) {
    let Some(old_addr) = get_addr(pkt, q.start + field) else {
        return;
    };
    let (old_addr, new_addr) = (old_addr.octets(), new.octets());
    let mut old = Vec::with_capacity(8);
    let mut changed = Vec::with_capacity(8);
    // The quoted header: the address, then its checksum.
    set_addr(pkt, q.start + field, new);
    old.extend_from_slice(&old_addr);
    changed.extend_from_slice(&new_addr);
    let hc_at = q.start + HEADER_CHECKSUM;
    if let Some(hc) = get16(pkt, hc_at) {
        let v = adjust(hc, &old_addr, &new_addr);
        set16(pkt, hc_at, v);
        old.extend_from_slice(&hc.to_be_bytes());
        changed.extend_from_slice(&v.to_be_bytes());
    }
    // The quoted transport checksum, when it is there.
    if q.first_fragment {
        if let Some((at, zero)) = transport_checksum(q.protocol) {
            let tc_at = q.start + q.header + at;
            if let Some(tc) = get16(pkt, tc_at) {
                fix_checksum(pkt, tc_at, &old_addr, &new_addr, zero);
                if let Some(v) = get16(pkt, tc_at) {
                    old.extend_from_slice(&tc.to_be_bytes());
                    changed.extend_from_slice(&v.to_be_bytes());
                }
            }
        }
    }
    // Every changed word is at an even offset from the ICMP header (an
    // IPv4 header and its fields are 16-bit aligned).
    let ic_at = icmp + 2;
    if let Some(ic) = get16(pkt, ic_at) {
        set16(pkt, ic_at, adjust(ic, &old, &changed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REAL: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
    const REMOTE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    // --- checksums from scratch ---

    /// The one's complement sum of `data` (odd length padded), folded.
    fn sum(data: &[u8]) -> u16 {
        let mut s: u64 = 0;
        for chunk in data.chunks(2) {
            let w = if chunk.len() == 2 {
                u16::from_be_bytes([chunk[0], chunk[1]])
            } else {
                u16::from_be_bytes([chunk[0], 0])
            };
            s += u64::from(w);
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    fn pseudo(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: usize) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        p.extend_from_slice(&[0, protocol]);
        p.extend_from_slice(&(len as u16).to_be_bytes());
        p
    }

    /// The checksum of `data`, whose checksum field (at `field`) is taken
    /// as zero, after `prefix` (a pseudo-header).
    fn scratch(prefix: &[u8], data: &[u8], field: usize) -> u16 {
        let mut d = prefix.to_vec();
        let mut body = data.to_vec();
        body[field] = 0;
        body[field + 1] = 0;
        d.extend_from_slice(&body);
        !sum(&d)
    }

    /// Whether two checksums are the same one's complement number.
    fn same(a: u16, b: u16) -> bool {
        a == b || (a == 0 && b == 0xffff) || (a == 0xffff && b == 0)
    }

    /// What the header and transport checksums should be, from scratch:
    /// (header, transport; None when the transport has none to check).
    fn expected_checksums(pkt: &[u8]) -> (u16, Option<u16>) {
        let header = scratch(&[], &pkt[..20], 10);
        let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
        let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
        let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
        let body = &pkt[20..total];
        let t = match pkt[9] {
            PROTO_TCP => Some(scratch(&pseudo(src, dst, 6, body.len()), body, 16)),
            PROTO_UDP if body[6..8] != [0, 0] => {
                let c = scratch(&pseudo(src, dst, 17, body.len()), body, 6);
                Some(if c == 0 { 0xffff } else { c })
            }
            PROTO_UDP => None,
            PROTO_ICMP => Some(scratch(&[], body, 2)),
            _ => None,
        };
        (header, t)
    }

    fn stored_checksums(pkt: &[u8]) -> (u16, Option<u16>) {
        let h = u16::from_be_bytes([pkt[10], pkt[11]]);
        let t = match pkt[9] {
            PROTO_TCP => Some(u16::from_be_bytes([pkt[36], pkt[37]])),
            PROTO_UDP if pkt[26..28] != [0, 0] => Some(u16::from_be_bytes([pkt[26], pkt[27]])),
            PROTO_ICMP => Some(u16::from_be_bytes([pkt[22], pkt[23]])),
            _ => None,
        };
        (h, t)
    }

    /// Every checksum of an unfragmented packet is right.
    fn assert_valid(pkt: &[u8]) {
        let (eh, et) = expected_checksums(pkt);
        let (sh, st) = stored_checksums(pkt);
        assert!(same(eh, sh), "header {sh:04x}, expected {eh:04x}");
        match (et, st) {
            (Some(e), Some(s)) => assert!(same(e, s), "transport {s:04x}, expected {e:04x}"),
            (None, None) => {}
            other => panic!("{other:?}"),
        }
        // And the plain check: everything sums to all ones.
        assert_eq!(sum(&pkt[..20]), 0xffff);
    }

    /// Fills in every checksum of an unfragmented packet from scratch.
    fn finish(mut pkt: Vec<u8>) -> Vec<u8> {
        let total = pkt.len() as u16;
        pkt[2..4].copy_from_slice(&total.to_be_bytes());
        pkt[10] = 0;
        pkt[11] = 0;
        let (h, t) = expected_checksums(&pkt);
        pkt[10..12].copy_from_slice(&h.to_be_bytes());
        let at = match pkt[9] {
            PROTO_TCP => Some(36),
            PROTO_UDP if pkt[26..28] != [0, 0] => Some(26),
            PROTO_ICMP => Some(22),
            _ => None,
        };
        if let (Some(at), Some(t)) = (at, t) {
            pkt[at..at + 2].copy_from_slice(&t.to_be_bytes());
        }
        assert_valid(&pkt);
        pkt
    }

    fn ip_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, protocol, 0, 0];
        h.extend_from_slice(&src.octets());
        h.extend_from_slice(&dst.octets());
        h
    }

    fn tcp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = ip_header(src, dst, PROTO_TCP);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        p.extend_from_slice(payload);
        finish(p)
    }

    /// A UDP datagram; `checksum` false sends it without one (zero).
    fn udp(
        src: Ipv4Addr,
        sport: u16,
        dst: Ipv4Addr,
        dport: u16,
        payload: &[u8],
        checksum: bool,
    ) -> Vec<u8> {
        let mut p = ip_header(src, dst, PROTO_UDP);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(if checksum { &[0xaa, 0xaa] } else { &[0, 0] });
        p.extend_from_slice(payload);
        finish(p)
    }

    fn icmp(src: Ipv4Addr, dst: Ipv4Addr, ty: u8, id: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = ip_header(src, dst, PROTO_ICMP);
        p.extend_from_slice(&[ty, 0, 0, 0]);
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&[0, 1]);
        p.extend_from_slice(payload);
        finish(p)
    }

    /// An ICMP error from `router` to `to`, quoting `quoted` (cut to its
    /// header and `keep` transport bytes).
    fn icmp_error(router: Ipv4Addr, to: Ipv4Addr, ty: u8, quoted: &[u8], keep: usize) -> Vec<u8> {
        let mut p = ip_header(router, to, PROTO_ICMP);
        p.extend_from_slice(&[ty, 4, 0, 0, 0, 0, 0x05, 0xdc]);
        p.extend_from_slice(&quoted[..(20 + keep).min(quoted.len())]);
        finish(p)
    }

    fn rewriter() -> AddressRewriter {
        let mut r = AddressRewriter::default();
        r.set_real(REAL);
        r
    }

    fn src(p: &[u8]) -> Ipv4Addr {
        Ipv4Addr::new(p[12], p[13], p[14], p[15])
    }

    fn dst(p: &[u8]) -> Ipv4Addr {
        Ipv4Addr::new(p[16], p[17], p[18], p[19])
    }

    // --- the queue ---

    #[test]
    fn queue_keeps_order_and_drains() {
        let mut q = DemandQueue::default();
        assert!(q.is_empty());
        q.push(vec![1; 100], at(0));
        q.push(vec![2; 200], at(10));
        assert_eq!((q.len(), q.bytes()), (2, 300));
        assert_eq!(q.drain(at(20)), [vec![1; 100], vec![2; 200]]);
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
        assert_eq!(q.dropped(), 0);
        assert!(q.drain(at(30)).is_empty());
    }

    #[test]
    fn queue_bounded_in_packets_and_bytes() {
        let mut q = DemandQueue::default();
        for i in 0..40u8 {
            q.push(vec![i; 10], at(0));
        }
        assert_eq!(q.len(), QUEUE_MAX_PACKETS);
        assert_eq!(q.dropped(), 8);
        // The oldest went.
        let all = q.drain(at(0));
        assert_eq!(all[0], vec![8; 10]);
        assert_eq!(all[31], vec![39; 10]);

        let mut q = DemandQueue::default();
        for i in 0..5u8 {
            q.push(vec![i; 20_000], at(0));
        }
        assert!(q.bytes() <= QUEUE_MAX_BYTES);
        assert_eq!(q.len(), 3);
        assert_eq!(q.dropped(), 2);
        // Larger than the whole queue: dropped itself, the rest stays.
        q.push(vec![9; QUEUE_MAX_BYTES + 1], at(0));
        assert_eq!((q.len(), q.dropped()), (3, 3));
        // Exactly the whole queue: everything else makes room.
        q.push(vec![7; QUEUE_MAX_BYTES], at(0));
        assert_eq!((q.len(), q.bytes(), q.dropped()), (1, QUEUE_MAX_BYTES, 6));

        let mut q = DemandQueue::new(0, 100, QUEUE_MAX_AGE);
        q.push(vec![1], at(0));
        assert_eq!((q.len(), q.dropped()), (0, 1));
    }

    #[test]
    fn queue_drops_stale_packets() {
        let mut q = DemandQueue::new(10, 1000, Duration::from_secs(30));
        q.push(vec![1], at(0));
        q.push(vec![2], at(20_000));
        q.push(vec![3], at(30_000));
        // At 30 s the first is exactly at the limit: kept.
        assert_eq!(q.len(), 3);
        q.push(vec![4], at(30_001));
        assert_eq!(q.len(), 3);
        assert_eq!(q.drain(at(50_001)), [vec![3], vec![4]]);
        assert_eq!(q.dropped(), 2);
        // A clock going backwards drops nothing.
        q.push(vec![5], at(100_000));
        q.expire(at(0));
        assert_eq!(q.len(), 1);
        q.clear();
        assert_eq!((q.len(), q.bytes(), q.dropped()), (0, 0, 3));
    }

    // --- what dials ---

    fn ipv6(src: &str, dst: &str, next: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        p.extend_from_slice(&[next, 255]);
        p.extend_from_slice(&src.parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&dst.parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn unicast_dials() {
        assert!(triggers_dial(&tcp(
            PLACEHOLDER_LOCAL,
            40000,
            REMOTE,
            80,
            b""
        )));
        assert!(triggers_dial(&udp(
            PLACEHOLDER_LOCAL,
            5353,
            Ipv4Addr::new(192, 0, 2, 53),
            53,
            b"q",
            true
        )));
        assert!(triggers_dial(&icmp(PLACEHOLDER_LOCAL, REMOTE, 8, 1, b"")));
        // Even to the placeholder peer (a DNS server not known yet).
        assert!(triggers_dial(&udp(
            PLACEHOLDER_LOCAL,
            1,
            PLACEHOLDER_PEER,
            53,
            b"",
            false
        )));
        assert!(triggers_dial(&ipv6(
            "2001:db8::1",
            "2001:db8:1::2",
            PROTO_TCP,
            &[0; 20]
        )));
        // An ICMPv6 echo to a global address dials.
        assert!(triggers_dial(&ipv6(
            "2001:db8::1",
            "2001:db8:1::2",
            PROTO_ICMPV6,
            &[128, 0, 0, 0, 0, 1, 0, 1]
        )));
    }

    #[test]
    fn housekeeping_does_not_dial() {
        for dst in [
            Ipv4Addr::new(224, 0, 0, 22),
            Ipv4Addr::new(239, 255, 255, 250),
            Ipv4Addr::BROADCAST,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::LOCALHOST,
        ] {
            assert!(!triggers_dial(&udp(
                PLACEHOLDER_LOCAL,
                1,
                dst,
                2,
                b"",
                true
            )));
        }
        let rs = [133, 0, 0, 0, 0, 0, 0, 0];
        // Router solicitation from link-local to all-routers.
        assert!(!triggers_dial(&ipv6(
            "fe80::1",
            "ff02::2",
            PROTO_ICMPV6,
            &rs
        )));
        // Duplicate address detection: from :: to a solicited-node group.
        assert!(!triggers_dial(&ipv6(
            "::",
            "ff02::1:ff00:1",
            PROTO_ICMPV6,
            &[135, 0, 0, 0, 0, 0, 0, 0]
        )));
        // MLDv2 report, behind a hop-by-hop header.
        assert!(!triggers_dial(&ipv6(
            "fe80::1",
            "ff02::16",
            0,
            &[58, 0, 5, 2, 0, 0, 1, 0]
        )));
        // Any multicast, any link-local.
        assert!(!triggers_dial(&ipv6(
            "2001:db8::1",
            "ff05::1:3",
            PROTO_UDP,
            &[0; 8]
        )));
        assert!(!triggers_dial(&ipv6(
            "2001:db8::1",
            "fe80::2",
            PROTO_TCP,
            &[0; 20]
        )));
        assert!(!triggers_dial(&ipv6(
            "fe80::1",
            "2001:db8::2",
            PROTO_TCP,
            &[0; 20]
        )));
        assert!(!triggers_dial(&ipv6(
            "febf::1",
            "2001:db8::2",
            PROTO_TCP,
            &[0; 20]
        )));
        // Neighbour solicitation to a global unicast address (unreachability
        // detection) does not dial either.
        assert!(!triggers_dial(&ipv6(
            "2001:db8::1",
            "2001:db8::2",
            PROTO_ICMPV6,
            &[135, 0, 0, 0, 0, 0, 0, 0]
        )));
        assert!(!triggers_dial(&ipv6(
            "2001:db8::1",
            "::1",
            PROTO_TCP,
            &[0; 20]
        )));
    }

    #[test]
    fn malformed_does_not_dial() {
        let good = tcp(PLACEHOLDER_LOCAL, 1, REMOTE, 2, b"data");
        assert!(triggers_dial(&good));
        assert!(!triggers_dial(&[]));
        assert!(!triggers_dial(&good[..19]));
        // Total length past the end.
        assert!(!triggers_dial(&good[..good.len() - 1]));
        // Header length below 20 or past the total length.
        let mut p = good.clone();
        p[0] = 0x44;
        assert!(!triggers_dial(&p));
        let mut p = good.clone();
        p[0] = 0x4f;
        assert!(!triggers_dial(&p));
        // Other versions.
        let mut p = good.clone();
        p[0] = 0x55;
        assert!(!triggers_dial(&p));
        let v6 = ipv6("2001:db8::1", "2001:db8::2", PROTO_TCP, &[0; 20]);
        assert!(!triggers_dial(&v6[..50]));
        assert!(!triggers_dial(&v6[..39]));
        // An ICMPv6 header missing.
        assert!(!triggers_dial(&ipv6(
            "2001:db8::1",
            "2001:db8::2",
            PROTO_ICMPV6,
            &[]
        )));
    }

    // --- the rewriter ---

    #[test]
    fn nothing_before_the_real_address() {
        let mut r = AddressRewriter::default();
        let mut p = tcp(PLACEHOLDER_LOCAL, 40000, REMOTE, 80, b"x");
        let before = p.clone();
        assert!(!r.outbound(&mut p, at(0)));
        assert_eq!(p, before);
        // The same address as the placeholder: nothing to do either.
        r.set_real(PLACEHOLDER_LOCAL);
        assert!(!r.outbound(&mut p, at(0)));
        assert_eq!(p, before);
        assert_eq!(r.flow_count(), 0);
    }

    #[test]
    fn tcp_outbound_and_reply() {
        let mut r = rewriter();
        let mut p = tcp(
            PLACEHOLDER_LOCAL,
            40000,
            REMOTE,
            80,
            b"GET / HTTP/1.0\r\n\r\n",
        );
        let orig = p.clone();
        assert!(r.outbound(&mut p, at(0)));
        assert_eq!(src(&p), REAL);
        assert_valid(&p);
        // Only the address and the two checksums changed.
        let diff: Vec<usize> = (0..p.len()).filter(|&i| p[i] != orig[i]).collect();
        assert!(
            diff.iter()
                .all(|i| matches!(i, 10 | 11 | 12..=15 | 36 | 37)),
            "{diff:?}"
        );
        // The very packet the socket would have sent from the real address,
        // checksums computed from scratch.
        assert_eq!(p, tcp(REAL, 40000, REMOTE, 80, b"GET / HTTP/1.0\r\n\r\n"));
        assert_eq!(r.flow_count(), 1);

        let mut reply = tcp(REMOTE, 80, REAL, 40000, b"HTTP/1.0 200 OK\r\n");
        assert!(r.inbound(&mut reply, at(1000)));
        assert_eq!(dst(&reply), PLACEHOLDER_LOCAL);
        assert_valid(&reply);
        assert_eq!(
            reply,
            tcp(REMOTE, 80, PLACEHOLDER_LOCAL, 40000, b"HTTP/1.0 200 OK\r\n")
        );

        // Another port, another host, another protocol: not this flow.
        for mut other in [
            tcp(REMOTE, 80, REAL, 40001, b""),
            tcp(REMOTE, 81, REAL, 40000, b""),
            tcp(Ipv4Addr::new(203, 0, 113, 81), 80, REAL, 40000, b""),
            udp(REMOTE, 80, REAL, 40000, b"", true),
        ] {
            let before = other.clone();
            assert!(!r.inbound(&mut other, at(1000)));
            assert_eq!(other, before);
        }
    }

    #[test]
    fn udp_with_and_without_checksum() {
        let mut r = rewriter();
        let mut p = udp(PLACEHOLDER_LOCAL, 5353, REMOTE, 53, b"query", true);
        assert!(r.outbound(&mut p, at(0)));
        assert_valid(&p);
        assert_eq!(p, udp(REAL, 5353, REMOTE, 53, b"query", true));
        let mut p = udp(REMOTE, 53, REAL, 5353, b"answer!", true);
        assert!(r.inbound(&mut p, at(0)));
        assert_valid(&p);
        assert_eq!(dst(&p), PLACEHOLDER_LOCAL);

        // No checksum: stays none.
        let mut p = udp(PLACEHOLDER_LOCAL, 7, REMOTE, 7, b"odd", false);
        assert!(r.outbound(&mut p, at(0)));
        assert_eq!(&p[26..28], &[0, 0]);
        assert_valid(&p);
        let mut p = udp(REMOTE, 7, REAL, 7, b"odd", false);
        assert!(r.inbound(&mut p, at(0)));
        assert_eq!(&p[26..28], &[0, 0]);
        assert_valid(&p);
    }

    #[test]
    fn udp_checksum_never_becomes_zero() {
        // Find a payload whose checksum after the rewrite is 0xffff (a
        // computed zero): it must not be written as zero.
        let mut r = rewriter();
        let mut found = false;
        for n in 0..=u16::MAX {
            let p = udp(PLACEHOLDER_LOCAL, 9, REMOTE, 9, &n.to_be_bytes(), true);
            let target = udp(REAL, 9, REMOTE, 9, &n.to_be_bytes(), true);
            if target[26..28] != [0xff, 0xff] {
                continue;
            }
            let mut q = p.clone();
            assert!(r.outbound(&mut q, at(0)));
            assert_eq!(&q[26..28], &[0xff, 0xff]);
            assert_valid(&q);
            found = true;
            break;
        }
        assert!(found);
    }

    #[test]
    fn icmp_echo_round_trip() {
        let mut r = rewriter();
        let mut p = icmp(PLACEHOLDER_LOCAL, REMOTE, 8, 0x4242, b"ping");
        let icmp_before = p[20..].to_vec();
        assert!(r.outbound(&mut p, at(0)));
        assert_valid(&p);
        // No pseudo-header: the ICMP message is untouched.
        assert_eq!(p[20..], icmp_before[..]);
        let mut reply = icmp(REMOTE, REAL, 0, 0x4242, b"ping");
        assert!(r.inbound(&mut reply, at(10)));
        assert_eq!(dst(&reply), PLACEHOLDER_LOCAL);
        assert_valid(&reply);
        // Another identifier.
        let mut reply = icmp(REMOTE, REAL, 0, 0x4243, b"ping");
        assert!(!r.inbound(&mut reply, at(10)));
        // A request from the remote end is not a reply.
        let mut req = icmp(REMOTE, REAL, 8, 0x4242, b"ping");
        assert!(!r.inbound(&mut req, at(10)));
    }

    /// Checks an ICMP error's own checksum and its quoted header's.
    fn assert_icmp_error_valid(p: &[u8]) {
        assert_valid(p);
        assert_eq!(sum(&p[28..48]), 0xffff, "quoted header checksum");
    }

    #[test]
    fn icmp_errors_about_a_flow_are_translated() {
        let mut r = rewriter();
        let mut sent = udp(PLACEHOLDER_LOCAL, 5000, REMOTE, 9999, b"hello", true);
        assert!(r.outbound(&mut sent, at(0)));
        // Port unreachable from the remote host, quoting the whole datagram.
        let mut err = icmp_error(REMOTE, REAL, 3, &sent, 64);
        assert!(r.inbound(&mut err, at(5)));
        assert_eq!(dst(&err), PLACEHOLDER_LOCAL);
        assert_icmp_error_valid(&err);
        // The quote now reads as what the local socket sent.
        let original = udp(PLACEHOLDER_LOCAL, 5000, REMOTE, 9999, b"hello", true);
        assert_eq!(&err[28..], &original[..]);

        // Fragmentation needed for a TCP flow, from a router, quoting only
        // 8 bytes of TCP (no checksum in the quote).
        let mut syn = tcp(PLACEHOLDER_LOCAL, 40000, REMOTE, 443, &[0; 40]);
        assert!(r.outbound(&mut syn, at(0)));
        let router = Ipv4Addr::new(192, 0, 2, 1);
        let mut err = icmp_error(router, REAL, 3, &syn, 8);
        assert!(r.inbound(&mut err, at(5)));
        assert_eq!(src(&err), router);
        assert_eq!(dst(&err), PLACEHOLDER_LOCAL);
        assert_eq!(src(&err[28..]), PLACEHOLDER_LOCAL);
        assert_icmp_error_valid(&err);

        // Time exceeded quoting a ping (traceroute).
        let mut ping = icmp(PLACEHOLDER_LOCAL, REMOTE, 8, 77, b"");
        assert!(r.outbound(&mut ping, at(0)));
        let mut err = icmp_error(router, REAL, 11, &ping, 8);
        assert!(r.inbound(&mut err, at(5)));
        assert_icmp_error_valid(&err);
        assert_eq!(src(&err[28..]), PLACEHOLDER_LOCAL);

        // About a flow not translated: untouched.
        let other = udp(REAL, 6000, REMOTE, 9999, b"x", true);
        let mut err = icmp_error(REMOTE, REAL, 3, &other, 64);
        let before = err.clone();
        assert!(!r.inbound(&mut err, at(5)));
        assert_eq!(err, before);
        // A quote cut inside its IP header: untouched.
        let mut err = icmp_error(REMOTE, REAL, 3, &sent, 0);
        err.truncate(40);
        err[2..4].copy_from_slice(&40u16.to_be_bytes());
        assert!(!r.inbound(&mut err, at(5)));
    }

    #[test]
    fn outbound_icmp_error_quotes_the_real_address() {
        let mut r = rewriter();
        // The remote end's datagram, already translated inbound.
        let mut out = udp(PLACEHOLDER_LOCAL, 5000, REMOTE, 53, b"", true);
        assert!(r.outbound(&mut out, at(0)));
        let mut incoming = udp(REMOTE, 53, REAL, 5000, b"late", true);
        assert!(r.inbound(&mut incoming, at(1)));
        // The local socket is gone: the kernel says port unreachable.
        let mut err = icmp_error(PLACEHOLDER_LOCAL, REMOTE, 3, &incoming, 64);
        assert!(r.outbound(&mut err, at(2)));
        assert_eq!(src(&err), REAL);
        assert_eq!(dst(&err[28..]), REAL);
        assert_icmp_error_valid(&err);
        assert_eq!(&err[28..], &udp(REMOTE, 53, REAL, 5000, b"late", true)[..]);
    }

    #[test]
    fn untouched_packets() {
        let mut r = rewriter();
        let base = tcp(PLACEHOLDER_LOCAL, 1, REMOTE, 2, b"payload");
        let mut cases: Vec<Vec<u8>> = Vec::new();
        // Not from the placeholder.
        cases.push(tcp(REAL, 1, REMOTE, 2, b""));
        // With options (header length 24).
        let mut p = base.clone();
        p[0] = 0x46;
        p.splice(20..20, [1, 1, 1, 0]);
        let n = p.len() as u16;
        p[2..4].copy_from_slice(&n.to_be_bytes());
        cases.push(p);
        // Too short, total length past the end, below the header.
        cases.push(base[..19].to_vec());
        cases.push(base[..base.len() - 1].to_vec());
        let mut p = base.clone();
        p[2..4].copy_from_slice(&19u16.to_be_bytes());
        cases.push(p);
        // A TCP header cut before its checksum.
        let mut p = base[..36].to_vec();
        p[2..4].copy_from_slice(&36u16.to_be_bytes());
        cases.push(p);
        // Another protocol (GRE).
        let mut p = base.clone();
        p[9] = 47;
        cases.push(p);
        // IPv6.
        cases.push(ipv6("2001:db8::1", "2001:db8::2", PROTO_TCP, &[0; 20]));
        for mut c in cases {
            let before = c.clone();
            assert!(!r.outbound(&mut c, at(0)), "{before:?}");
            assert_eq!(c, before);
            assert!(!r.inbound(&mut c, at(0)));
            assert_eq!(c, before);
        }
        assert_eq!(r.flow_count(), 0);
    }

    /// Splits an unfragmented packet into two fragments at `cut` (a
    /// multiple of 8 bytes of payload).
    fn fragments(p: &[u8], cut: usize) -> (Vec<u8>, Vec<u8>) {
        let mut a = p[..20 + cut].to_vec();
        a[6] = 0x20; // MF, offset 0
        a[7] = 0;
        let n = a.len() as u16;
        a[2..4].copy_from_slice(&n.to_be_bytes());
        let mut b = p[..20].to_vec();
        b.extend_from_slice(&p[20 + cut..]);
        let off = (cut / 8) as u16;
        b[6..8].copy_from_slice(&off.to_be_bytes());
        let n = b.len() as u16;
        b[2..4].copy_from_slice(&n.to_be_bytes());
        for f in [&mut a, &mut b] {
            f[10] = 0;
            f[11] = 0;
            let c = scratch(&[], &f[..20], 10);
            f[10..12].copy_from_slice(&c.to_be_bytes());
        }
        (a, b)
    }

    #[test]
    fn fragments_outbound_and_inbound() {
        let mut r = rewriter();
        let payload = [0x5au8; 100];
        let whole = udp(PLACEHOLDER_LOCAL, 4000, REMOTE, 4001, &payload, true);
        let (mut a, mut b) = fragments(&whole, 48);
        assert!(r.outbound(&mut a, at(0)));
        assert!(r.outbound(&mut b, at(0)));
        for f in [&a, &b] {
            assert_eq!(src(f), REAL);
            assert_eq!(sum(&f[..20]), 0xffff);
        }
        // Together they carry the datagram sent from the real address.
        let want = udp(REAL, 4000, REMOTE, 4001, &payload, true);
        assert_eq!([&a[20..], &b[20..]].concat(), &want[20..]);

        // The reply, fragmented: the first by ports, the rest by address.
        let reply = udp(REMOTE, 4001, REAL, 4000, &payload, true);
        let (mut a, mut b) = fragments(&reply, 48);
        assert!(r.inbound(&mut b, at(1)), "a later fragment arriving first");
        assert!(r.inbound(&mut a, at(1)));
        let want = udp(REMOTE, 4001, PLACEHOLDER_LOCAL, 4000, &payload, true);
        assert_eq!(&a[20..], &want[20..20 + 48]);
        assert_eq!(&b[20..], &want[20 + 48..]);
        for f in [&a, &b] {
            assert_eq!(dst(f), PLACEHOLDER_LOCAL);
            assert_eq!(sum(&f[..20]), 0xffff);
        }
        // A later fragment from a host with no flow is not touched.
        let other = udp(Ipv4Addr::new(192, 0, 2, 9), 1, REAL, 2, &payload, true);
        let (_, mut b) = fragments(&other, 48);
        assert!(!r.inbound(&mut b, at(1)));
        // A first fragment too short for the ports is left alone.
        let mut tiny = a[..24].to_vec();
        tiny[2..4].copy_from_slice(&24u16.to_be_bytes());
        let before = tiny.clone();
        assert!(!r.inbound(&mut tiny, at(1)));
        assert_eq!(tiny, before);
    }

    #[test]
    fn flows_expire_when_idle() {
        let mut r = rewriter();
        let mut p = udp(PLACEHOLDER_LOCAL, 1, REMOTE, 2, b"", true);
        assert!(r.outbound(&mut p, at(0)));
        let mut t = tcp(PLACEHOLDER_LOCAL, 3, REMOTE, 4, b"");
        assert!(r.outbound(&mut t, at(0)));
        let three_min = OTHER_IDLE_TIMEOUT.as_millis() as u64;
        // Replies refresh the flow.
        let mut reply = udp(REMOTE, 2, REAL, 1, b"", true);
        assert!(r.inbound(&mut reply, at(three_min)));
        let mut reply = udp(REMOTE, 2, REAL, 1, b"", true);
        assert!(r.inbound(&mut reply, at(2 * three_min)));
        let mut reply = udp(REMOTE, 2, REAL, 1, b"", true);
        assert!(!r.inbound(&mut reply, at(3 * three_min + 1)));
        assert_eq!(r.flow_count(), 1);
        // TCP lasts two hours.
        let two_h = TCP_IDLE_TIMEOUT.as_millis() as u64;
        let mut reply = tcp(REMOTE, 4, REAL, 3, b"");
        assert!(r.inbound(&mut reply, at(two_h)));
        r.expire(at(2 * two_h));
        assert_eq!(r.flow_count(), 1);
        r.expire(at(2 * two_h + 1));
        assert_eq!(r.flow_count(), 0);
    }

    #[test]
    fn flow_table_is_bounded_least_recently_used_first() {
        let mut r = AddressRewriter::with_max_flows(PLACEHOLDER_LOCAL, 4);
        r.set_real(REAL);
        for port in 1..=4u16 {
            let mut p = udp(PLACEHOLDER_LOCAL, port, REMOTE, 53, b"", true);
            assert!(r.outbound(&mut p, at(0)));
        }
        // Port 1 used again: port 2 is now the least recently used.
        let mut reply = udp(REMOTE, 53, REAL, 1, b"", true);
        assert!(r.inbound(&mut reply, at(1)));
        let mut p = udp(PLACEHOLDER_LOCAL, 5, REMOTE, 53, b"", true);
        assert!(r.outbound(&mut p, at(2)));
        assert_eq!(r.flow_count(), 4);
        for (port, kept) in [(1, true), (2, false), (3, true), (4, true), (5, true)] {
            let mut reply = udp(REMOTE, 53, REAL, port, b"", true);
            assert_eq!(r.inbound(&mut reply, at(3)), kept, "port {port}");
        }
        // The default bound under a flood of new flows.
        let mut r = rewriter();
        for i in 0..5000u32 {
            let mut p = udp(
                PLACEHOLDER_LOCAL,
                i as u16,
                REMOTE,
                (i >> 16) as u16,
                b"",
                true,
            );
            assert!(r.outbound(&mut p, at(u64::from(i))));
        }
        assert_eq!(r.flow_count(), MAX_FLOWS);
        assert_eq!(r.flows.order.len(), MAX_FLOWS);
    }

    #[test]
    fn a_new_address_forgets_the_flows() {
        let mut r = rewriter();
        let mut p = tcp(PLACEHOLDER_LOCAL, 1, REMOTE, 2, b"");
        assert!(r.outbound(&mut p, at(0)));
        // The link drops and the redial gets the same address: kept.
        r.clear_real();
        let mut reply = tcp(REMOTE, 2, REAL, 1, b"");
        assert!(!r.inbound(&mut reply, at(1)));
        r.set_real(REAL);
        assert_eq!(r.flow_count(), 1);
        assert!(r.inbound(&mut reply, at(1)));
        // Another address: forgotten.
        let other = Ipv4Addr::new(198, 51, 100, 8);
        r.set_real(other);
        assert_eq!((r.flow_count(), r.real()), (0, Some(other)));
        assert_eq!(r.placeholder(), PLACEHOLDER_LOCAL);
    }

    #[test]
    fn rfc1624_example() {
        // RFC 1624 section 4: HC 0xdd2f, m 0x5555 → m' 0x3285: HC' 0x0000.
        assert_eq!(adjust(0xdd2f, &[0x55, 0x55], &[0x32, 0x85]), 0x0000);
    }

    // --- properties ---

    #[derive(Clone, Debug)]
    enum Kind {
        Tcp,
        Udp(bool),
        Icmp,
    }

    fn kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            Just(Kind::Tcp),
            any::<bool>().prop_map(Kind::Udp),
            Just(Kind::Icmp)
        ]
    }

    fn build(k: &Kind, s: Ipv4Addr, sp: u16, d: Ipv4Addr, dp: u16, payload: &[u8]) -> Vec<u8> {
        match k {
            Kind::Tcp => tcp(s, sp, d, dp, payload),
            Kind::Udp(c) => udp(s, sp, d, dp, payload, *c),
            Kind::Icmp => icmp(s, d, 8, sp, payload),
        }
    }

    /// The packet with its checksums blanked, for comparing packets whose
    /// checksums were checked otherwise.
    fn mask(p: &[u8]) -> Vec<u8> {
        let mut m = p.to_vec();
        m[10] = 0;
        m[11] = 0;
        let at = match m[9] {
            PROTO_TCP => 36,
            PROTO_UDP => 26,
            _ => 22,
        };
        m[at] = 0;
        m[at + 1] = 0;
        m
    }

    fn reply_of(k: &Kind, s: Ipv4Addr, sp: u16, d: Ipv4Addr, dp: u16, payload: &[u8]) -> Vec<u8> {
        match k {
            Kind::Icmp => icmp(s, d, 0, dp, payload),
            _ => build(k, s, sp, d, dp, payload),
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            real in any::<[u8; 4]>(),
            ms in any::<u32>(),
        ) {
            let mut r = AddressRewriter::with_max_flows(PLACEHOLDER_LOCAL, 8);
            r.set_real(Ipv4Addr::from(real));
            let _ = triggers_dial(&bytes);
            let mut p = bytes.clone();
            let _ = r.outbound(&mut p, Instant::from_millis(u64::from(ms)));
            let mut p = bytes.clone();
            let _ = r.inbound(&mut p, Instant::from_millis(u64::from(ms)));
            prop_assert_eq!(p.len(), bytes.len());
        }

        #[test]
        fn random_packets_never_panic(
            k in kind(),
            sp in any::<u16>(),
            dp in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            flips in proptest::collection::vec((0usize..128, any::<u8>()), 0..6),
            cut in 0usize..128,
        ) {
            // A valid packet, damaged here and there and maybe cut short,
            // inside an ICMP error too.
            let mut r = rewriter();
            let mut p = build(&k, PLACEHOLDER_LOCAL, sp, REMOTE, dp, &payload);
            let _ = r.outbound(&mut p, at(0));
            let mut err = icmp_error(REMOTE, REAL, 3, &p, 64);
            for (i, v) in &flips {
                if let Some(b) = p.get_mut(*i) {
                    *b = *v;
                }
                if let Some(b) = err.get_mut(*i) {
                    *b ^= *v;
                }
            }
            p.truncate(cut.max(1));
            let mut q = p.clone();
            let _ = r.inbound(&mut q, at(1));
            let _ = r.outbound(&mut p, at(1));
            let _ = r.inbound(&mut err, at(1));
            let _ = triggers_dial(&err);
        }

        #[test]
        fn rewritten_packets_keep_valid_checksums_and_round_trip(
            k in kind(),
            sp in any::<u16>(),
            dp in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            real in any::<[u8; 4]>(),
            reply_payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let real = Ipv4Addr::from(real);
            prop_assume!(real != PLACEHOLDER_LOCAL);
            let mut r = AddressRewriter::default();
            r.set_real(real);
            let mut p = build(&k, PLACEHOLDER_LOCAL, sp, REMOTE, dp, &payload);
            prop_assert!(r.outbound(&mut p, at(0)));
            assert_valid(&p);
            // Exactly what the socket would have sent from the real address
            // (the checksums may differ as +0 and -0 only).
            let want = build(&k, real, sp, REMOTE, dp, &payload);
            prop_assert_eq!(mask(&p), mask(&want));

            let mut reply = reply_of(&k, REMOTE, dp, real, sp, &reply_payload);
            prop_assert!(r.inbound(&mut reply, at(1)));
            prop_assert_eq!(dst(&reply), PLACEHOLDER_LOCAL);
            assert_valid(&reply);
            let local = reply_of(&k, REMOTE, dp, PLACEHOLDER_LOCAL, sp, &reply_payload);
            prop_assert_eq!(mask(&reply), mask(&local));

            // An ICMP error about the packet sent comes back translated.
            let mut err = icmp_error(REMOTE, real, 3, &p, 64);
            prop_assert!(r.inbound(&mut err, at(2)));
            assert_icmp_error_valid(&err);
            prop_assert_eq!(src(&err[28..]), PLACEHOLDER_LOCAL);
        }
    }
}
