//! The network side of a PPP link: the TUN device that carries the IP
//! packets of the userspace PPP engine, and its configuration (addresses,
//! MTU, link state, default route) through rtnetlink.
//!
//! Everything here talks to the kernel directly (the TUN character device
//! and `NETLINK_ROUTE`); nothing runs the `ip` tool. Every operation acts on
//! the network namespace of the *calling thread* at the time the TUN device
//! or the [`Netlink`] socket is created.
//!
//! # Choices worth knowing
//!
//! * [`TunDevice::create`] makes a layer-3 TUN without the packet
//!   information header (`IFF_NO_PI`), so [`TunDevice::recv`] and
//!   [`TunDevice::send`] handle bare IPv4/IPv6 packets. Without a name it
//!   asks the kernel for `dtn%d` ([`TUN_NAME_PREFIX`]), so that leftovers of
//!   a crashed helper can be found with [`Netlink::find_links_with_prefix`].
//!   The device is created *down*; [`Netlink::configure`] brings it up.
//!   It is not persistent: it disappears when the [`TunDevice`] is dropped.
//! * IPv4 is configured as pppd does (`ip addr add L peer P dev X`): local
//!   address with prefix length 32 and the peer as the point-to-point
//!   destination, which gives a host route to the peer.
//! * IPv6: before the link goes up the interface's
//!   `IFLA_INET6_ADDR_GEN_MODE` is set to `none`, so the kernel does not add
//!   its own (random, for a TUN) link-local address; then the link-local
//!   address built from the negotiated interface identifier is added, with
//!   `IFA_F_NODAD`: `fe80::<local id>/64`, or, when the peer's identifier is
//!   known, `fe80::<local id> peer fe80::<peer id>/128` (as pppd does).
//! * Default routes are IPv4 and live in the main table; see
//!   [`Netlink::add_default_route`] for how existing ones are treated.

use std::fmt;
use std::io::{self, IoSlice};
use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use rtnetlink::packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, LinkAttribute, LinkFlags, LinkMessage,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHopFlags,
    RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::AddressFamily;

/// The name prefix of the TUN devices this module creates when no name is
/// given (the kernel numbers them: `dtn0`, `dtn1`, ...).
pub const TUN_NAME_PREFIX: &str = "dtn";

/// The smallest MTU at which the kernel keeps IPv6 enabled on an interface.
pub const IPV6_MIN_MTU: u16 = 1280;

/// What the link negotiated, to configure on the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkAddresses {
    /// Our IPv4 address (IPCP), if IPv4 was negotiated.
    pub local: Option<Ipv4Addr>,
    /// The peer's IPv4 address (IPCP), if known.
    pub peer: Option<Ipv4Addr>,
    /// Our IPv6 interface identifier (IPV6CP), if IPv6 was negotiated.
    pub ipv6_local_id: Option<[u8; 8]>,
    /// The peer's IPv6 interface identifier (IPV6CP), if known.
    pub ipv6_peer_id: Option<[u8; 8]>,
    /// The MTU to set on the interface.
    pub mtu: u16,
}

impl LinkAddresses {
    /// What an up link negotiated, to configure. IPv6 is left out when the
    /// MTU is below [`IPV6_MIN_MTU`] (the kernel would disable it).
    pub fn from_info(info: &dialtone_ppp::LinkInfo) -> LinkAddresses {
        let ipv4 = info.ipv4.as_ref();
        let ipv6 = info.ipv6.as_ref().filter(|_| info.mtu >= IPV6_MIN_MTU);
        LinkAddresses {
            local: ipv4.and_then(|v| v.local),
            peer: ipv4.and_then(|v| v.remote),
            ipv6_local_id: ipv6.map(|v| v.local_id),
            ipv6_peer_id: ipv6.and_then(|v| v.remote_id),
            mtu: info.mtu,
        }
    }
}

/// The IPv6 link-local address `fe80::<id>` for an interface identifier
/// (the engine's, RFC 5072 §5).
pub use dialtone_ppp::ipv6cp::link_local;

/// Errors of the network configuration, with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The TUN device could not be created or used.
    #[error(
        "cannot create TUN device {name}: {source} (needs /dev/net/tun, the tun kernel module \
         and CAP_NET_ADMIN)"
    )]
    Tun {
        /// The requested name (or the kernel template).
        name: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The rtnetlink socket could not be opened.
    #[error("cannot open a NETLINK_ROUTE socket: {0}")]
    Socket(#[source] io::Error),
    /// The kernel refused (or failed) a netlink request.
    #[error("{what}: {}{}", describe(source), hint(source))]
    Netlink {
        /// What was being done, e.g. "adding address 10.0.0.1 to interface 7".
        what: String,
        /// The error from rtnetlink.
        #[source]
        source: rtnetlink::Error,
    },
    /// A default route with the same metric already exists on another
    /// interface, and replacing it was not asked for.
    #[error(
        "a default route with metric {metric} already exists ({existing}); use another metric \
         or ask to replace the existing default route"
    )]
    RouteExists {
        /// The metric asked for.
        metric: u32,
        /// The route in the way.
        existing: DefaultRoute,
    },
    /// The request itself is not valid.
    #[error("invalid network configuration: {0}")]
    Invalid(String),
}

impl NetError {
    /// The errno the kernel answered with, for a [`NetError::Netlink`]
    /// error that carries one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetError::Netlink { source, .. } => errno_of(source),
            NetError::Tun { source, .. } | NetError::Socket(source) => source.raw_os_error(),
            _ => None,
        }
    }
}

fn errno_of(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) if m.raw_code() != 0 => Some(m.raw_code().abs()),
        _ => None,
    }
}

fn describe(e: &rtnetlink::Error) -> String {
    match e {
        rtnetlink::Error::NetlinkError(m) => format!("the kernel answered: {}", m.to_io()),
        other => other.to_string(),
    }
}

fn hint(e: &rtnetlink::Error) -> &'static str {
    match errno_of(e) {
        Some(libc::EPERM) | Some(libc::EACCES) => " (needs root or CAP_NET_ADMIN)",
        Some(libc::ENODEV) => " (the interface is gone)",
        Some(libc::ENETUNREACH) => " (the gateway is not reachable through the interface)",
        _ => "",
    }
}

fn nl(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetError {
    let what = what.into();
    move |source| NetError::Netlink { what, source }
}

/// A layer-3 TUN device (no packet information header) carrying the IP
/// packets of the link.
///
/// When the kernel allows it, the device is created with offloads
/// (`IFF_VNET_HDR`, TSO/USO and checksum offload through `TUNSETOFFLOAD`):
/// the kernel then hands over TCP (and UDP) "super-packets" of up to 64 KiB
/// with a virtio-net header in front, which [`TunDevice::recv_packets`]
/// splits into packets no larger than the interface MTU (with their
/// checksums filled in), and [`TunDevice::send_packets`] coalesces the
/// segments of a TCP or UDP flow into such super-packets again, so that the
/// kernel handles one large packet instead of many small ones. Where
/// offloads are not available the device carries plain packets, and the
/// same methods handle them one by one. Every read and write goes through
/// the methods of this type, which add and strip the virtio-net header;
/// [`TunDevice::device`] gives the raw device (with the header, when
/// [`TunDevice::offload`] is true) for readiness only.
///
/// Must be created from within a tokio runtime. The device is removed by
/// the kernel when this value is dropped.
pub struct TunDevice {
    dev: tun_rs::AsyncDevice,
    name: String,
    index: u32,
    offload: bool,
}

impl fmt::Debug for TunDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TunDevice")
            .field("name", &self.name)
            .field("index", &self.index)
            .field("offload", &self.offload)
            .finish()
    }
}

/// The length of the virtio-net header in front of every packet read from
/// or written to a TUN device with offloads.
const VNET_HDR_LEN: usize = tun_rs::VIRTIO_NET_HDR_LEN;
/// A virtio-net header saying "a plain packet, checksums complete".
const PLAIN_VNET_HDR: [u8; VNET_HDR_LEN] = [0; VNET_HDR_LEN];
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the transport checksum is partial.
const VNET_F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_NONE`.
const VNET_GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_ECN`, a modifier of the GSO type.
const VNET_GSO_ECN: u8 = 0x80;
/// The largest read from the TUN: a 64 KiB super-packet (or, without
/// offloads, a packet as large as the MTU allows) and its header.
const RAW_READ: usize = VNET_HDR_LEN + 65_536;
/// Packets handed to the kernel in one [`TunDevice::send_packets`].
pub const SEND_BATCH: usize = tun_rs::IDEAL_BATCH_SIZE;

impl TunDevice {
    /// Creates a TUN device named `name` (which may be a kernel template
    /// such as `"dtn%d"`), or `dtn%d` if `None`. The device is left down
    /// and unconfigured: see [`Netlink::configure`]. Offloads are turned on
    /// when the kernel supports them (see the type's documentation).
    pub fn create(name: Option<&str>) -> Result<TunDevice, NetError> {
        Self::create_with(name, true)
    }

    /// As [`TunDevice::create`], with offloads only if `offload` is true
    /// (and the kernel supports them).
    pub fn create_with(name: Option<&str>, offload: bool) -> Result<TunDevice, NetError> {
        let requested = name
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{TUN_NAME_PREFIX}%d"));
        let tun_err = |source: io::Error| NetError::Tun {
            name: requested.clone(),
            source,
        };
        if requested.is_empty() || requested.len() > 15 || requested.contains('/') {
            return Err(NetError::Invalid(format!(
                "bad interface name {requested:?} (1 to 15 characters, no '/')"
            )));
        }
        let build = |offload: bool| {
            tun_rs::DeviceBuilder::new()
                .name(requested.clone())
                .layer(tun_rs::Layer::L3)
                .packet_information(false)
                .offload(offload)
                .enable(false)
                .build_async()
        };
        // Without offload support (an old kernel), plain packets.
        let dev = match offload {
            true => build(true).or_else(|_| build(false)),
            false => build(false),
        }
        .map_err(tun_err)?;
        let offload = (*dev).tcp_gso();
        let name = dev.name().map_err(tun_err)?;
        let index = dev.if_index().map_err(tun_err)?;
        Ok(TunDevice {
            dev,
            name,
            index,
            offload,
        })
    }

    /// The interface name the kernel gave the device.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Whether the device has offloads on (every read and write carries a
    /// virtio-net header; reads may be super-packets).
    pub fn offload(&self) -> bool {
        self.offload
    }

    /// Receives one IP packet that the kernel routed into the device.
    ///
    /// With offloads a read can be a super-packet of many: only its first
    /// packet is returned and the others are dropped (use
    /// [`TunDevice::recv_packets`] to get them all).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.offload {
            return self.dev.recv(buf).await;
        }
        let mut rx = TunPackets::new();
        loop {
            if self.recv_packets(&mut rx).await? > 0 {
                let pkt = rx.packet(0);
                let n = pkt.len().min(buf.len());
                buf[..n].copy_from_slice(&pkt[..n]);
                return Ok(n);
            }
        }
    }

    /// Hands one IP packet to the kernel, as if received from the link.
    /// Returns the packet's length.
    pub async fn send(&self, pkt: &[u8]) -> io::Result<usize> {
        if !self.offload {
            return self.dev.send(pkt).await;
        }
        let n = self
            .dev
            .send_vectored(&[IoSlice::new(&PLAIN_VNET_HDR), IoSlice::new(pkt)])
            .await?;
        Ok(n.saturating_sub(VNET_HDR_LEN))
    }

    /// Receives the IP packets of one read into `rx` (see
    /// [`TunPackets`]), waiting for one; returns how many there are. A
    /// read the kernel framed badly (which it should never do) gives none.
    pub async fn recv_packets(&self, rx: &mut TunPackets) -> io::Result<usize> {
        let n = self.dev.recv(&mut rx.raw).await?;
        Ok(rx.take(n, self.offload))
    }

    /// As [`TunDevice::recv_packets`] without waiting: `WouldBlock` when
    /// nothing is queued.
    pub fn try_recv_packets(&self, rx: &mut TunPackets) -> io::Result<usize> {
        let n = self.dev.try_recv(&mut rx.raw)?;
        Ok(rx.take(n, self.offload))
    }

    /// As [`TunDevice::recv_packets`], polled.
    pub fn poll_recv_packets(
        &self,
        cx: &mut std::task::Context<'_>,
        rx: &mut TunPackets,
    ) -> std::task::Poll<io::Result<usize>> {
        self.dev
            .poll_recv(cx, &mut rx.raw)
            .map_ok(|n| rx.take(n, self.offload))
    }

    /// Hands the packets collected in `tx` to the kernel without waiting,
    /// coalesced (with offloads) into as few writes as possible, and
    /// empties `tx`. Packets the kernel does not take (its queue is full)
    /// are dropped, as a full router queue would; so are packets the
    /// kernel refuses.
    pub fn send_packets(&self, tx: &mut TunBatch) {
        let bufs = &mut tx.bufs[..tx.count];
        tx.count = 0;
        if bufs.is_empty() {
            return;
        }
        if self.offload {
            // The non-blocking descriptor: a write that would block fails
            // and the packet is dropped.
            let dev: &tun_rs::DeviceImpl = &self.dev;
            let gro = tx.gro.get_or_insert_with(Default::default);
            let _ = dev.send_multiple(gro, bufs, VNET_HDR_LEN);
        } else {
            for buf in bufs {
                let _ = self.dev.try_send(&buf[VNET_HDR_LEN..]);
            }
        }
    }

    /// The underlying tun-rs device. With offloads, what it reads and
    /// writes carries a virtio-net header: use it for readiness only.
    pub fn device(&self) -> &tun_rs::AsyncDevice {
        &self.dev
    }
}

/// Where the packets of one TUN read are: the read buffer, and the packets
/// a super-packet was split into. Reused from read to read.
pub struct TunPackets {
    raw: Box<[u8]>,
    split: Vec<u8>,
    sizes: Vec<usize>,
    layout: Layout,
}

#[derive(Debug, Clone, Copy)]
enum Layout {
    /// One packet in the read buffer.
    Raw { start: usize, len: usize },
    /// `count` packets in `split`, `stride` bytes apart, lengths in `sizes`.
    Split { stride: usize, count: usize },
}

impl fmt::Debug for TunPackets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TunPackets")
            .field("layout", &self.layout)
            .finish()
    }
}

impl Default for TunPackets {
    fn default() -> Self {
        Self::new()
    }
}

impl TunPackets {
    /// Buffers for the largest read.
    pub fn new() -> TunPackets {
        TunPackets {
            raw: vec![0; RAW_READ].into_boxed_slice(),
            split: Vec::new(),
            sizes: Vec::new(),
            layout: Layout::Raw { start: 0, len: 0 },
        }
    }

    /// How many packets the last read gave.
    pub fn len(&self) -> usize {
        match self.layout {
            Layout::Raw { .. } => 1,
            Layout::Split { count, .. } => count,
        }
    }

    /// Whether the last read gave no packet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Packet `i` of the last read.
    pub fn packet(&self, i: usize) -> &[u8] {
        match self.layout {
            Layout::Raw { start, len } => &self.raw[start..start + len],
            Layout::Split { stride, .. } => &self.split[i * stride..i * stride + self.sizes[i]],
        }
    }

    /// Packet `i` of the last read, to change in place.
    pub fn packet_mut(&mut self, i: usize) -> &mut [u8] {
        match self.layout {
            Layout::Raw { start, len } => &mut self.raw[start..start + len],
            Layout::Split { stride, .. } => &mut self.split[i * stride..i * stride + self.sizes[i]],
        }
    }

    /// Takes a read of `n` bytes; returns the number of packets.
    fn take(&mut self, n: usize, offload: bool) -> usize {
        if !offload {
            self.layout = Layout::Raw { start: 0, len: n };
            return 1;
        }
        match self.take_vnet(n) {
            Some(count) => count,
            None => {
                self.layout = Layout::Split {
                    stride: 0,
                    count: 0,
                };
                0
            }
        }
    }

    /// Strips the virtio-net header of a read: completes a partial checksum
    /// or splits a super-packet. `None` for a read the kernel should never
    /// produce.
    fn take_vnet(&mut self, n: usize) -> Option<usize> {
        if n <= VNET_HDR_LEN || n > self.raw.len() {
            return None;
        }
        let mut hdr = tun_rs::VirtioNetHdr::decode(&self.raw[..VNET_HDR_LEN]).ok()?;
        let pkt = &mut self.raw[VNET_HDR_LEN..n];
        let len = pkt.len();
        if hdr.gso_type == VNET_GSO_NONE {
            if hdr.flags & VNET_F_NEEDS_CSUM != 0 {
                // CHECKSUM_PARTIAL: the field holds the pseudo-header sum;
                // the sum from csum_start to the end is ours to add.
                let start = usize::from(hdr.csum_start);
                let at = start + usize::from(hdr.csum_offset);
                if at + 2 > len {
                    return None;
                }
                let initial = u16::from_be_bytes([pkt[at], pkt[at + 1]]);
                pkt[at] = 0;
                pkt[at + 1] = 0;
                let sum = !tun_rs::checksum(&pkt[start..], u64::from(initial));
                pkt[at..at + 2].copy_from_slice(&sum.to_be_bytes());
            }
            self.layout = Layout::Raw {
                start: VNET_HDR_LEN,
                len,
            };
            return Some(1);
        }
        let is_v6 = match pkt.first()? >> 4 {
            4 => false,
            6 => true,
            _ => return None,
        };
        // The header length the kernel gives is not to be trusted (on the
        // forwarding path it can cover the whole first segment): the IP
        // header ends at csum_start, the transport header is parsed.
        let start = usize::from(hdr.csum_start);
        hdr.hdr_len = if hdr.gso_type & !VNET_GSO_ECN == tun_rs::VIRTIO_NET_HDR_GSO_UDP_L4 {
            hdr.csum_start.checked_add(8)?
        } else {
            let tcp_len = u16::from(*pkt.get(start + 12)? >> 4) * 4;
            if !(20..=60).contains(&tcp_len) {
                return None;
            }
            hdr.csum_start.checked_add(tcp_len)?
        };
        let hdr_len = usize::from(hdr.hdr_len);
        let gso_size = usize::from(hdr.gso_size);
        if gso_size == 0 || hdr_len >= len {
            return None;
        }
        let count = (len - hdr_len).div_ceil(gso_size);
        let stride = hdr_len + gso_size;
        if self.split.len() < stride * count {
            self.split.resize(stride * count, 0);
        }
        if self.sizes.len() < count {
            self.sizes.resize(count, 0);
        }
        let mut outs: Vec<&mut [u8]> = self.split[..stride * count].chunks_mut(stride).collect();
        let count =
            tun_rs::gso_split(pkt, hdr, &mut outs, &mut self.sizes[..count], 0, is_v6).ok()?;
        self.layout = Layout::Split { stride, count };
        Some(count)
    }
}

/// IP packets collected for [`TunDevice::send_packets`], each behind room
/// for a virtio-net header. Reused from batch to batch.
pub struct TunBatch {
    bufs: Vec<Vec<u8>>,
    count: usize,
    /// Made at the first send with offloads (it preallocates its flow
    /// tables, about a MiB).
    gro: Option<Box<tun_rs::GROTable>>,
}

impl fmt::Debug for TunBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TunBatch")
            .field("count", &self.count)
            .finish()
    }
}

impl Default for TunBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl TunBatch {
    /// An empty batch.
    pub fn new() -> TunBatch {
        TunBatch {
            bufs: Vec::new(),
            count: 0,
            gro: None,
        }
    }

    /// Packets collected.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no packet is collected.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether the batch holds [`SEND_BATCH`] packets: time to send.
    pub fn is_full(&self) -> bool {
        self.count >= SEND_BATCH
    }

    /// Adds a copy of `pkt` (not empty) and returns it, to change in place
    /// before sending.
    pub fn push(&mut self, pkt: &[u8]) -> &mut [u8] {
        if self.count == self.bufs.len() {
            // Coalescing appends the payload of later packets to the
            // first of a flow, up to a 64 KiB super-packet, and only into
            // room already there (tun-rs does not grow the buffer). Pages
            // never written are not resident.
            self.bufs
                .push(Vec::with_capacity(2 * VNET_HDR_LEN + usize::from(u16::MAX)));
        }
        let buf = &mut self.bufs[self.count];
        self.count += 1;
        buf.clear();
        buf.extend_from_slice(&PLAIN_VNET_HDR);
        buf.extend_from_slice(pkt);
        &mut buf[VNET_HDR_LEN..]
    }
}

/// An IPv4 default route (destination `0.0.0.0/0`, type unicast) as the
/// kernel reports it.
///
/// The public fields describe it; the complete netlink message is kept as
/// well, so that [`RouteGuard::restore`] can put it back exactly (including
/// multipath next hops, metrics, preferred source, and so on).
#[derive(Debug, Clone)]
pub struct DefaultRoute {
    /// The gateway (`via`), if any.
    pub gateway: Option<Ipv4Addr>,
    /// The output interface index (`dev`), if any (none for multipath).
    pub oif: Option<u32>,
    /// The metric (`RTA_PRIORITY`), 0 if the kernel reported none.
    pub metric: u32,
    /// The routing table (254 is `main`).
    pub table: u32,
    /// The protocol that installed it (`RTPROT_*`: 3 boot, 4 static, 16 dhcp, ...).
    pub protocol: u8,
    /// The scope (`RT_SCOPE_*`: 0 universe, 253 link, ...).
    pub scope: u8,
    message: RouteMessage,
}

impl PartialEq for DefaultRoute {
    fn eq(&self, other: &Self) -> bool {
        self.gateway == other.gateway
            && self.oif == other.oif
            && self.metric == other.metric
            && self.table == other.table
            && self.protocol == other.protocol
            && self.scope == other.scope
    }
}

impl fmt::Display for DefaultRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("default")?;
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        if let Some(oif) = self.oif {
            write!(f, " dev #{oif}")?;
        }
        write!(
            f,
            " metric {} table {} proto {} scope {}",
            self.metric, self.table, self.protocol, self.scope
        )
    }
}

impl DefaultRoute {
    fn from_message(msg: RouteMessage) -> Option<DefaultRoute> {
        let h = &msg.header;
        if h.address_family != AddressFamily::Inet
            || h.destination_prefix_length != 0
            || h.kind != RouteType::Unicast
            || h.flags.contains(RouteFlags::Cloned)
        {
            return None;
        }
        let mut route = DefaultRoute {
            gateway: None,
            oif: None,
            metric: 0,
            table: u32::from(h.table),
            protocol: u8::from(h.protocol),
            scope: u8::from(h.scope),
            message: RouteMessage::default(),
        };
        for attr in &msg.attributes {
            match attr {
                RouteAttribute::Gateway(RouteAddress::Inet(gw)) => route.gateway = Some(*gw),
                RouteAttribute::Oif(i) => route.oif = Some(*i),
                RouteAttribute::Priority(p) => route.metric = *p,
                RouteAttribute::Table(t) => route.table = *t,
                _ => {}
            }
        }
        route.message = sanitize(msg);
        Some(route)
    }
}

/// Makes a dumped route message fit to be sent back (to delete or re-add
/// the route): drops what the kernel only reports, clears state flags it
/// refuses on input.
fn sanitize(mut msg: RouteMessage) -> RouteMessage {
    msg.header.flags &= RouteFlags::Onlink;
    msg.attributes.retain(|a| {
        !matches!(
            a,
            RouteAttribute::CacheInfo(_)
                | RouteAttribute::Expires(_)
                | RouteAttribute::MulticastExpires(_)
                | RouteAttribute::MfcStats(_)
                | RouteAttribute::Uid(_)
        )
    });
    for attr in &mut msg.attributes {
        if let RouteAttribute::MultiPath(hops) = attr {
            for hop in hops {
                hop.flags &= !(RouteNextHopFlags::Dead
                    | RouteNextHopFlags::Linkdown
                    | RouteNextHopFlags::Offload
                    | RouteNextHopFlags::Trap
                    | RouteNextHopFlags::Unresolved);
            }
        }
    }
    msg
}

/// The default route added by [`Netlink::add_default_route`], and the
/// default routes it replaced.
///
/// Call [`RouteGuard::restore`] when the link goes down. Dropping the guard
/// without it leaves the routing table as it is (netlink requests are
/// asynchronous, so nothing can be done in `Drop`); our route disappears by
/// itself with the interface, but replaced routes would stay removed.
#[must_use = "call restore() to put the replaced default routes back"]
pub struct RouteGuard {
    handle: rtnetlink::Handle,
    ours: RouteMessage,
    index: u32,
    replaced: Vec<DefaultRoute>,
}

impl fmt::Debug for RouteGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteGuard")
            .field("index", &self.index)
            .field("replaced", &self.replaced)
            .finish()
    }
}

impl RouteGuard {
    /// The default routes that were removed to make way for ours (empty
    /// unless `replace` was asked for).
    pub fn replaced(&self) -> &[DefaultRoute] {
        &self.replaced
    }

    /// Deletes our default route (it is not an error if it is already gone,
    /// e.g. with the interface) and adds back the routes it replaced,
    /// exactly as they were. Tries every route; returns the first error.
    pub async fn restore(self) -> Result<(), NetError> {
        let mut first_err = None;
        if let Err(e) = self.handle.route().del(self.ours.clone()).execute().await {
            if !matches!(errno_of(&e), Some(libc::ESRCH) | Some(libc::ENODEV)) {
                first_err = Some(nl(format!(
                    "deleting our default route through interface {}",
                    self.index
                ))(e));
            }
        }
        if let Err(e) = put_back(&self.handle, &self.replaced).await {
            first_err.get_or_insert(e);
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Re-adds routes; one that already exists again counts as restored.
async fn put_back(handle: &rtnetlink::Handle, routes: &[DefaultRoute]) -> Result<(), NetError> {
    let mut first_err = None;
    for route in routes {
        if let Err(e) = handle.route().add(route.message.clone()).execute().await {
            if errno_of(&e) != Some(libc::EEXIST) && first_err.is_none() {
                first_err = Some(nl(format!("restoring the default route {route}"))(e));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A connection to the kernel's routing netlink (rtnetlink) in the network
/// namespace of the thread that called [`Netlink::new`].
#[derive(Debug, Clone)]
pub struct Netlink {
    handle: rtnetlink::Handle,
}

impl Netlink {
    /// Opens the netlink socket and spawns its connection task on the
    /// current tokio runtime.
    pub async fn new() -> Result<Netlink, NetError> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(NetError::Socket)?;
        tokio::spawn(connection);
        Ok(Netlink { handle })
    }

    /// The underlying rtnetlink handle, for anything not covered here.
    pub fn handle(&self) -> &rtnetlink::Handle {
        &self.handle
    }

    /// Configures the interface `index` for the negotiated link: MTU,
    /// IPv6 address generation off, link up, then the IPv4 address
    /// `local/32 peer <peer>` (or `local/32` without a peer) and the IPv6
    /// link-local address (see the module documentation). Existing equal
    /// addresses are replaced, so calling this again is harmless; addresses
    /// from an earlier call with *different* values are not removed.
    ///
    /// IPv6 needs an MTU of at least [`IPV6_MIN_MTU`]; asking for IPv6 with
    /// a smaller MTU is an [`NetError::Invalid`] error.
    pub async fn configure(&self, index: u32, addrs: &LinkAddresses) -> Result<(), NetError> {
        let want_v6 = addrs.ipv6_local_id.is_some();
        if addrs.mtu < 68 {
            return Err(NetError::Invalid(format!(
                "MTU {} is below the IPv4 minimum of 68",
                addrs.mtu
            )));
        }
        if want_v6 && addrs.mtu < IPV6_MIN_MTU {
            return Err(NetError::Invalid(format!(
                "MTU {} is below {IPV6_MIN_MTU}, the kernel disables IPv6 on the interface; \
                 cannot configure the IPv6 link-local address",
                addrs.mtu
            )));
        }
        if addrs.local.is_none() && addrs.peer.is_some() {
            return Err(NetError::Invalid(
                "a peer IPv4 address without a local one".into(),
            ));
        }
        if addrs.ipv6_local_id.is_none() && addrs.ipv6_peer_id.is_some() {
            return Err(NetError::Invalid(
                "a peer IPv6 interface identifier without a local one".into(),
            ));
        }

        // MTU.
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes
            .push(LinkAttribute::Mtu(u32::from(addrs.mtu)));
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(nl(format!(
                "setting MTU {} on interface {index}",
                addrs.mtu
            )))?;

        // No kernel-made IPv6 addresses. Without IPv6 on the link this is
        // only tidiness, so a failure (IPv6 disabled in the kernel) is fine.
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes
            .push(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
            )]));
        let res = self.handle.link().set(msg).execute().await;
        if want_v6 {
            res.map_err(nl(format!(
                "turning off IPv6 address generation (addr_gen_mode none) on interface {index}"
            )))?;
        }

        // Up.
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(nl(format!("bringing interface {index} up")))?;

        if let Some(local) = addrs.local {
            let remote = addrs.peer.unwrap_or(local);
            let msg = address_message(index, local.into(), remote.into(), 32);
            let mut req = self.handle.address().add(index, local.into(), 32).replace();
            *req.message_mut() = msg;
            let what = match addrs.peer {
                Some(p) => format!("adding address {local} peer {p} to interface {index}"),
                None => format!("adding address {local}/32 to interface {index}"),
            };
            req.execute().await.map_err(nl(what))?;
        }

        if let Some(id) = addrs.ipv6_local_id {
            let local = link_local(id);
            let (remote, plen) = match addrs.ipv6_peer_id {
                Some(p) => (link_local(p), 128),
                None => (local, 64),
            };
            let mut msg = address_message(index, local.into(), remote.into(), plen);
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
            let mut req = self
                .handle
                .address()
                .add(index, local.into(), plen)
                .replace();
            *req.message_mut() = msg;
            req.execute().await.map_err(nl(format!(
                "adding IPv6 address {local} peer {remote}/{plen} to interface {index}"
            )))?;
        }
        Ok(())
    }

    /// Adds an IPv4 default route through interface `index` (via
    /// `gateway_peer` if given, else a direct `scope link` route) in the
    /// main table with the given metric.
    ///
    /// * `replace == false`: existing default routes are left alone; the
    ///   kernel keeps several default routes as long as their metrics
    ///   differ, and the lowest metric wins. If one in the main table
    ///   already has this metric, the kernel refuses ours and this returns
    ///   [`NetError::RouteExists`].
    /// * `replace == true`: the default routes of the main table (on any
    ///   other interface, any metric) are remembered as the kernel reports them,
    ///   deleted, and ours is added. [`RouteGuard::restore`] deletes ours
    ///   and adds them back. If adding ours fails, they are put back at
    ///   once. Default routes in other tables (policy routing, VPNs) are
    ///   never touched.
    pub async fn add_default_route(
        &self,
        index: u32,
        gateway_peer: Option<Ipv4Addr>,
        metric: u32,
        replace: bool,
    ) -> Result<RouteGuard, NetError> {
        let ours = our_default_route(index, gateway_peer, metric);
        let mut replaced = Vec::new();
        if replace {
            let existing: Vec<DefaultRoute> = self
                .default_routes()
                .await?
                .into_iter()
                .filter(|r| {
                    r.table == u32::from(RouteHeader::RT_TABLE_MAIN) && r.oif != Some(index)
                })
                .collect();
            for route in existing {
                match self
                    .handle
                    .route()
                    .del(route.message.clone())
                    .execute()
                    .await
                {
                    Ok(()) => replaced.push(route),
                    Err(e) if errno_of(&e) == Some(libc::ESRCH) => {}
                    Err(e) => {
                        let err = nl(format!("deleting the default route {route}"))(e);
                        let _ = put_back(&self.handle, &replaced).await;
                        return Err(err);
                    }
                }
            }
        }
        let what = match gateway_peer {
            Some(gw) => {
                format!("adding default route via {gw} dev #{index} metric {metric}")
            }
            None => format!("adding default route dev #{index} metric {metric}"),
        };
        if let Err(e) = self.handle.route().add(ours.clone()).execute().await {
            let _ = put_back(&self.handle, &replaced).await;
            if errno_of(&e) == Some(libc::EEXIST) {
                let existing = self.default_routes().await.ok().and_then(|routes| {
                    routes.into_iter().find(|r| {
                        r.metric == metric && r.table == u32::from(RouteHeader::RT_TABLE_MAIN)
                    })
                });
                if let Some(existing) = existing {
                    return Err(NetError::RouteExists { metric, existing });
                }
            }
            return Err(nl(what)(e));
        }
        Ok(RouteGuard {
            handle: self.handle.clone(),
            ours,
            index,
            replaced,
        })
    }

    /// The IPv4 default routes (unicast `0.0.0.0/0`) of all routing tables.
    pub async fn default_routes(&self) -> Result<Vec<DefaultRoute>, NetError> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        let mut stream = self.handle.route().get(req).execute();
        let mut routes = Vec::new();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(nl("listing the IPv4 routes"))?
        {
            routes.extend(DefaultRoute::from_message(msg));
        }
        Ok(routes)
    }

    /// Removes the IPv4 address `local` (with its `peer`, as
    /// [`Netlink::configure`] added it) from interface `index`. An address
    /// that is already gone is not an error.
    pub async fn remove_ipv4(
        &self,
        index: u32,
        local: Ipv4Addr,
        peer: Option<Ipv4Addr>,
    ) -> Result<(), NetError> {
        let msg = address_message(index, local.into(), peer.unwrap_or(local).into(), 32);
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if matches!(errno_of(&e), Some(libc::EADDRNOTAVAIL) | Some(libc::ENODEV)) => {
                Ok(())
            }
            Err(e) => Err(nl(format!(
                "removing address {local} from interface {index}"
            ))(e)),
        }
    }

    /// Deletes the interface `index` (e.g. a TUN left over by a crash).
    pub async fn delete_link(&self, index: u32) -> Result<(), NetError> {
        self.handle
            .link()
            .del(index)
            .execute()
            .await
            .map_err(nl(format!("deleting interface {index}")))
    }

    /// The interfaces (index, name) whose name starts with `prefix`, such
    /// as [`TUN_NAME_PREFIX`].
    pub async fn find_links_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<(u32, String)>, NetError> {
        let mut stream = self.handle.link().get().execute();
        let mut found = Vec::new();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(nl("listing the interfaces"))?
        {
            for attr in &msg.attributes {
                if let LinkAttribute::IfName(name) = attr {
                    if name.starts_with(prefix) {
                        found.push((msg.header.index, name.clone()));
                    }
                }
            }
        }
        Ok(found)
    }
}

/// An `RTM_NEWADDR` body: `local` with `remote` as the (point-to-point)
/// destination, no broadcast.
fn address_message(index: u32, local: IpAddr, remote: IpAddr, prefix_len: u8) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = match local {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    msg.header.prefix_len = prefix_len;
    msg.header.index = index;
    msg.attributes.push(AddressAttribute::Local(local));
    msg.attributes.push(AddressAttribute::Address(remote));
    msg
}

fn our_default_route(index: u32, gateway: Option<Ipv4Addr>, metric: u32) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    msg.header.destination_prefix_length = 0;
    msg.header.table = RouteHeader::RT_TABLE_MAIN;
    msg.header.protocol = RouteProtocol::Static;
    msg.header.kind = RouteType::Unicast;
    msg.header.scope = if gateway.is_some() {
        RouteScope::Universe
    } else {
        RouteScope::Link
    };
    if let Some(gw) = gateway {
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gw)));
    }
    msg.attributes.push(RouteAttribute::Oif(index));
    msg.attributes.push(RouteAttribute::Priority(metric));
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_from_id() {
        assert_eq!(
            link_local([0, 0, 0, 0, 0, 0, 0, 2]),
            "fe80::2".parse::<std::net::Ipv6Addr>().unwrap()
        );
        assert_eq!(
            link_local([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0]),
            "fe80::1234:5678:9abc:def0"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
        );
    }

    #[test]
    fn sanitize_drops_kernel_only_state() {
        let mut msg = our_default_route(3, Some(Ipv4Addr::new(10, 0, 0, 1)), 5);
        msg.header.flags = RouteFlags::Linkdown | RouteFlags::Onlink;
        msg.attributes.push(RouteAttribute::Expires(3));
        let route = DefaultRoute::from_message(msg).unwrap();
        assert_eq!(route.gateway, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(route.oif, Some(3));
        assert_eq!(route.metric, 5);
        assert_eq!(route.table, 254);
        assert_eq!(route.message.header.flags, RouteFlags::Onlink);
        assert!(!route
            .message
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Expires(_))));
    }

    #[test]
    fn non_default_routes_are_ignored() {
        let mut msg = our_default_route(3, None, 0);
        msg.header.destination_prefix_length = 24;
        assert!(DefaultRoute::from_message(msg).is_none());
    }
}
