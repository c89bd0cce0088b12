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
//!   [`Netlink::add_default_route`] for how existing ones are treated, and
//!   [`RouteJournal`] for how replaced ones survive a crash of the helper.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io::{self, IoSlice, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use futures::TryStreamExt;
use rtnetlink::packet_core::{Emitable, Parseable};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use rtnetlink::packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, LinkAttribute, LinkFlags, LinkMessage,
};
#[cfg(test)]
use rtnetlink::packet_route::route::RouteNextHop;
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
    /// The [`RouteJournal`] could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Journal {
        /// What was being done, e.g. "cannot write the route journal entry".
        what: String,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// [`RouteJournal::recover`] left entries in place that a person should
    /// look at (damaged files, routes the kernel refused); the others were
    /// handled.
    #[error("{}", recovery_summary(dir, *restored, problems))]
    Recovery {
        /// The journal directory.
        dir: PathBuf,
        /// How many default routes were put back all the same.
        restored: usize,
        /// One line per entry left in place: its file name and why.
        problems: Vec<String>,
    },
}

fn recovery_summary(dir: &Path, restored: usize, problems: &[String]) -> String {
    let left = match problems.len() {
        1 => "1 entry was left in place".to_string(),
        n => format!("{n} entries were left in place"),
    };
    let put_back = match restored {
        0 => String::new(),
        1 => "put back 1 default route, but ".to_string(),
        n => format!("put back {n} default routes, but "),
    };
    format!(
        "route journal {}: {put_back}{left}: {}",
        dir.display(),
        problems.join("; ")
    )
}

impl NetError {
    /// The errno the kernel answered with, for a [`NetError::Netlink`]
    /// error that carries one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetError::Netlink { source, .. } => errno_of(source),
            NetError::Tun { source, .. }
            | NetError::Socket(source)
            | NetError::Journal { source, .. } => source.raw_os_error(),
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
    /// The indices of the interfaces the route goes through (`dev`, and
    /// those of its next hops).
    fn interfaces(&self) -> impl Iterator<Item = u32> + '_ {
        self.message.attributes.iter().flat_map(|a| {
            let (one, hops) = match a {
                RouteAttribute::Oif(i) => (Some(*i), &[][..]),
                RouteAttribute::MultiPath(hops) => (None, &hops[..]),
                _ => (None, &[][..]),
            };
            one.into_iter()
                .chain(hops.iter().map(|h| h.interface_index))
        })
    }

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
/// itself with the interface, but replaced routes would stay removed —
/// unless they were journaled (see [`RouteJournal`]), in which case
/// [`RouteJournal::recover`] puts them back later.
#[must_use = "call restore() to put the replaced default routes back"]
pub struct RouteGuard {
    handle: rtnetlink::Handle,
    ours: RouteMessage,
    index: u32,
    replaced: Vec<DefaultRoute>,
    entry: Option<PathBuf>,
}

impl fmt::Debug for RouteGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteGuard")
            .field("index", &self.index)
            .field("replaced", &self.replaced)
            .field("entry", &self.entry)
            .finish()
    }
}

impl RouteGuard {
    /// The default routes that were removed to make way for ours (empty
    /// unless `replace` was asked for).
    pub fn replaced(&self) -> &[DefaultRoute] {
        &self.replaced
    }

    /// The [`RouteJournal`] entry that lists the replaced routes, if they
    /// were journaled (none when nothing was replaced).
    pub fn journal_entry(&self) -> Option<&Path> {
        self.entry.as_deref()
    }

    /// Deletes our default route (it is not an error if it is already gone,
    /// e.g. with the interface) and adds back the routes it replaced,
    /// exactly as they were. Tries every route; returns the first error.
    /// Once the replaced routes are back, the journal entry (if any) is
    /// removed; if one of them could not be put back, the entry stays for
    /// [`RouteJournal::recover`].
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
        match put_back(&self.handle, &self.replaced).await {
            Ok(()) => {
                if let Some(entry) = self.entry {
                    if let Err(e) = remove_entry(entry).await {
                        first_err.get_or_insert(e);
                    }
                }
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Puts back the routes a failed [`Netlink::add_default_route_journaled`]
/// had deleted, and drops its journal entry once they are back.
async fn undo_replace(
    handle: &rtnetlink::Handle,
    replaced: &[DefaultRoute],
    entry: Option<PathBuf>,
) {
    if put_back(handle, replaced).await.is_ok() {
        if let Some(entry) = entry {
            let _ = remove_entry(entry).await;
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

/// The subdirectory of the state directory that holds the route journal.
const JOURNAL_DIR: &str = "routes";
/// Entries are `replaced-<pid>-<n>.routes`.
const ENTRY_PREFIX: &str = "replaced-";
/// The suffix of an entry.
const ENTRY_SUFFIX: &str = ".routes";
/// The suffix of an entry being written (`replaced-<pid>-<n>.routes.tmp`).
const TMP_SUFFIX: &str = ".tmp";
/// The first line of an entry, with [`JOURNAL_VERSION`].
const JOURNAL_MAGIC: &str = "dialtone-route-journal";
/// The version of the entry format.
const JOURNAL_VERSION: u32 = 1;
/// Entries larger than this are not read (they are not ours).
const ENTRY_MAX_BYTES: u64 = 1 << 20;
/// Numbers the entries of this process.
static NEXT_ENTRY: AtomicU64 = AtomicU64::new(0);

/// A journal of the default routes that
/// [`Netlink::add_default_route_journaled`] replaced, so that they can be
/// put back if the process that replaced them dies (killed, crashed)
/// before [`RouteGuard::restore`].
///
/// The journal is the directory `<state_dir>/routes/` (mode 0700), with
/// one file (mode 0600) per [`RouteGuard`] that replaced routes,
/// `replaced-<pid>-<n>.routes`. It is written atomically (a temporary
/// file, fsynced, renamed, and the directory fsynced) *before* the routes
/// are deleted, and removed once they are back. An entry is a small
/// versioned text file:
///
/// ```text
/// # ... (what this file is)
/// dialtone-route-journal 1
/// boot 0b1d7c2e-3f6a-4a8e-9d55-6c0f1e2d3a4b
/// pid 4242 1834567
/// interface 7
/// # default via 192.168.1.1 dev #2 metric 100 table 254 proto 16 scope 0
/// route 0200000010fe0301...
/// end
/// ```
///
/// Each `route` line is a replaced route's netlink message (the
/// `RTM_NEWROUTE` body as the kernel reported it, less its kernel-only
/// state) in hex, so that it comes back exactly; the comment above it says
/// the same for people. `boot` (the kernel's boot id), and `pid` (the
/// writer's process id and start time) tell [`RouteJournal::recover`]
/// whether the entry belongs to a process that still runs, and `interface`
/// is the index of the interface whose default route took their place.
///
/// Routes are journaled and recovered in the network namespace of the
/// calling thread: use one state directory per network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteJournal {
    dir: PathBuf,
}

impl RouteJournal {
    /// The journal of the state directory `state_dir` (e.g.
    /// `/var/lib/dialtone`), in its subdirectory `routes`. Nothing is
    /// created until an entry is written.
    pub fn new(state_dir: &Path) -> RouteJournal {
        RouteJournal {
            dir: state_dir.join(JOURNAL_DIR),
        }
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entries now in the journal, sorted by name (none when the
    /// directory does not exist). Entries being written are not listed.
    pub fn entries(&self) -> Result<Vec<PathBuf>, NetError> {
        let mut found = Vec::new();
        let list = match fs::read_dir(&self.dir) {
            Ok(list) => list,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
            Err(source) => return Err(self.dir_error(source)),
        };
        for item in list {
            let item = item.map_err(|source| self.dir_error(source))?;
            if let Some(name) = item.file_name().to_str() {
                if is_entry_name(name) {
                    found.push(item.path());
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// Puts back the default routes of the entries left behind by
    /// processes that died before restoring them, in the network namespace
    /// of the calling thread (on a netlink connection of its own, opened
    /// only when there is something to put back). Call it once at
    /// start-up, before this process replaces any default route.
    ///
    /// For every entry: each route is added again, and the entry is
    /// removed. A route that exists again is left as it is, and one whose
    /// interface is gone is dropped (it would have gone with it); neither
    /// is counted. Entries are left alone when they belong to another
    /// process that still runs (its links are up, it restores them
    /// itself), and removed without touching the routes when they were
    /// written before the system last booted (the routing table they
    /// describe is gone, and interface indices change from boot to boot).
    /// Stale temporary files are removed.
    ///
    /// Returns how many routes were put back. An entry that is damaged, or
    /// whose routes the kernel refuses, is left in place for a person to
    /// look at and the others are handled all the same; they are reported
    /// together as [`NetError::Recovery`] (which also counts the routes
    /// put back).
    pub async fn recover(&self) -> Result<usize, NetError> {
        let dir = self.dir.clone();
        let scan = blocking(&self.dir, "cannot read the route journal", move || {
            scan_journal(&dir)
        })
        .await?;
        let mut problems = scan.problems;
        let mut restored = 0;
        let mut netlink: Option<(Netlink, HashSet<u32>)> = None;
        for (path, parsed) in scan.entries {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let entry = match parsed {
                Ok(entry) => entry,
                Err(why) => {
                    problems.push(format!(
                        "{name} is damaged ({why}); it was left for a person to look at"
                    ));
                    continue;
                }
            };
            match entry.owner.fate() {
                Fate::Running => continue,
                Fate::OtherBoot => {
                    if let Err(e) = remove_entry(path).await {
                        problems.push(format!("{name}: {e}"));
                    }
                    continue;
                }
                Fate::Recover => {}
            }
            let (link, interfaces) = match &netlink {
                Some(open) => open,
                None => {
                    let link = Netlink::new().await?;
                    let interfaces = link.link_indices().await?;
                    netlink.insert((link, interfaces))
                }
            };
            let mut failed = None;
            for route in &entry.routes {
                if !route.interfaces().all(|i| interfaces.contains(&i)) {
                    // Its interface is gone (say, the TUN of another link
                    // that replaced it), and the route would have gone
                    // with it.
                    continue;
                }
                match link
                    .handle
                    .route()
                    .add(route.message.clone())
                    .execute()
                    .await
                {
                    Ok(()) => restored += 1,
                    Err(e) if matches!(errno_of(&e), Some(libc::EEXIST) | Some(libc::ENODEV)) => {}
                    Err(e) => {
                        failed.get_or_insert(nl(format!("restoring the default route {route}"))(e));
                    }
                }
            }
            match failed {
                Some(e) => problems.push(format!("{name}: {e}; the entry was left in place")),
                None => {
                    if let Err(e) = remove_entry(path).await {
                        problems.push(format!("{name}: {e}"));
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(restored)
        } else {
            Err(NetError::Recovery {
                dir: self.dir.clone(),
                restored,
                problems,
            })
        }
    }

    /// Writes a new entry listing `routes`, about to be replaced by a
    /// default route through interface `index`; returns its path.
    async fn record(&self, index: u32, routes: &[DefaultRoute]) -> Result<PathBuf, NetError> {
        let dir = self.dir.clone();
        let routes = routes.to_vec();
        blocking(&self.dir, "cannot write the route journal", move || {
            create_journal_dir(&dir)?;
            let path = new_entry_path(&dir);
            write_entry(&path, index, routes)?;
            Ok(path)
        })
        .await
    }

    /// Writes the entry `path` again, with `routes`.
    async fn write(
        &self,
        path: PathBuf,
        index: u32,
        routes: &[DefaultRoute],
    ) -> Result<(), NetError> {
        let routes = routes.to_vec();
        blocking(&self.dir, "cannot write the route journal", move || {
            write_entry(&path, index, routes)
        })
        .await
    }

    fn dir_error(&self, source: io::Error) -> NetError {
        NetError::Journal {
            what: "cannot read the route journal".into(),
            path: self.dir.clone(),
            source,
        }
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    path: &Path,
    what: &str,
    work: impl FnOnce() -> Result<T, NetError> + Send + 'static,
) -> Result<T, NetError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(NetError::Journal {
            what: what.into(),
            path: path.to_path_buf(),
            source: io::Error::other(e.to_string()),
        })
    })
}

fn journal_error(what: &str, path: &Path) -> impl FnOnce(io::Error) -> NetError {
    let what = what.to_string();
    let path = path.to_path_buf();
    move |source| NetError::Journal { what, path, source }
}

fn is_entry_name(name: &str) -> bool {
    name.starts_with(ENTRY_PREFIX) && name.ends_with(ENTRY_SUFFIX)
}

/// The process id in the name of an entry (or of its temporary file).
fn pid_of_entry_name(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(ENTRY_PREFIX)?;
    rest.split('-').next()?.parse().ok()
}

fn create_journal_dir(dir: &Path) -> Result<(), NetError> {
    let mk = |d: &Path, mode: u32| {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(d)
            .map_err(journal_error("cannot create the route journal", d))
    };
    // The state directory as others in it are made; the journal private.
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent)
            .map_err(journal_error("cannot create the state directory", parent))?;
    }
    mk(dir, 0o700)
}

/// A name for a new entry that no file has yet (one left behind by a dead
/// process with the same id is not overwritten).
fn new_entry_path(dir: &Path) -> PathBuf {
    let pid = std::process::id();
    loop {
        let n = NEXT_ENTRY.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{ENTRY_PREFIX}{pid}-{n}{ENTRY_SUFFIX}"));
        let mut tmp = path.clone().into_os_string();
        tmp.push(TMP_SUFFIX);
        if !path.exists() && !Path::new(&tmp).exists() {
            return path;
        }
    }
}

/// Writes the entry `path` atomically and durably, mode 0600.
fn write_entry(path: &Path, index: u32, routes: Vec<DefaultRoute>) -> Result<(), NetError> {
    let entry = Entry {
        owner: Owner::current(),
        index,
        routes,
    };
    let text = entry.render();
    let mut tmp = path.to_path_buf().into_os_string();
    tmp.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    let dir = path.parent().unwrap_or(Path::new("."));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(journal_error("cannot write the route journal entry", path))
}

/// Removes a journal entry, durably; one already gone is fine.
async fn remove_entry(path: PathBuf) -> Result<(), NetError> {
    let p = path.clone();
    blocking(&path, "cannot remove the route journal entry", move || {
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(journal_error("cannot remove the route journal entry", &p)(
                    e,
                ))
            }
        }
        if let Some(dir) = p.parent() {
            // Make the removal durable; not all filesystems allow it.
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })
    .await
}

/// What [`scan_journal`] found.
struct Scan {
    /// The entries, sorted by path, parsed or with what is wrong.
    entries: Vec<(PathBuf, Result<Entry, String>)>,
    /// Files that could not be read or removed.
    problems: Vec<String>,
}

/// Reads the journal's entries and removes stale temporary files (those of
/// processes that no longer run).
fn scan_journal(dir: &Path) -> Result<Scan, NetError> {
    let mut scan = Scan {
        entries: Vec::new(),
        problems: Vec::new(),
    };
    let list = match fs::read_dir(dir) {
        Ok(list) => list,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(scan),
        Err(e) => return Err(journal_error("cannot read the route journal", dir)(e)),
    };
    for item in list {
        let item = item.map_err(journal_error("cannot read the route journal", dir))?;
        let Some(name) = item.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let path = item.path();
        if let Some(stem) = name.strip_suffix(TMP_SUFFIX) {
            if !is_entry_name(stem) {
                continue;
            }
            let writing = pid_of_entry_name(stem).is_some_and(|pid| running_since(pid).is_some());
            if !writing {
                if let Err(e) = fs::remove_file(&path) {
                    if e.kind() != io::ErrorKind::NotFound {
                        scan.problems.push(format!(
                            "cannot remove the stale temporary file {name}: {e}"
                        ));
                    }
                }
            }
        } else if is_entry_name(&name) {
            match read_entry_text(&path) {
                Ok(text) => scan.entries.push((path, Entry::parse(&text))),
                Err(e) => scan.problems.push(format!("cannot read {name}: {e}")),
            }
        }
    }
    scan.entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(scan)
}

/// An entry's text; `InvalidData` if it is too large or not UTF-8.
fn read_entry_text(path: &Path) -> io::Result<String> {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    if f.metadata()?.len() > ENTRY_MAX_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "larger than a route journal entry can be",
        ));
    }
    io::read_to_string(f)
}

/// The process that wrote an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    /// The kernel's boot id then, if known.
    boot: Option<String>,
    /// Its process id.
    pid: u32,
    /// Its start time (clock ticks after boot), if known.
    start: Option<u64>,
}

/// What [`RouteJournal::recover`] does with an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Its process is gone: put the routes back.
    Recover,
    /// Its process still runs and restores the routes itself.
    Running,
    /// Written before the last boot: the routes are meaningless now.
    OtherBoot,
}

impl Owner {
    fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            boot: boot_id(),
            pid,
            start: running_since(pid),
        }
    }

    fn fate(&self) -> Fate {
        if let (Some(then), Some(now)) = (&self.boot, boot_id()) {
            if *then != now {
                return Fate::OtherBoot;
            }
        }
        if self.pid == std::process::id() {
            return Fate::Recover;
        }
        match (self.start, running_since(self.pid)) {
            (_, None) => Fate::Recover,
            (Some(then), Some(now)) if then != now => Fate::Recover,
            _ => Fate::Running,
        }
    }
}

/// The kernel's boot id (a new one every boot), if readable.
fn boot_id() -> Option<String> {
    let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim();
    (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| id.to_owned())
}

/// The start time (clock ticks after boot) of process `pid`, if it exists
/// and is not a zombie.
fn running_since(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses (which may hold anything):
    // field 3, the state, ... field 22, the start time.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if matches!(state, "Z" | "X" | "x") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// One journal entry: the routes replaced by a default route through
/// interface `index`.
#[derive(Debug, Clone)]
struct Entry {
    owner: Owner,
    index: u32,
    routes: Vec<DefaultRoute>,
}

impl Entry {
    fn render(&self) -> String {
        let mut text = String::from(
            "# Default routes that dialtone replaced with its own. Should dialtone\n\
             # stop without putting them back, it does so when it starts again.\n\
             # Each route line is the route's netlink message (RTM_NEWROUTE) in hex.\n",
        );
        text.push_str(&format!("{JOURNAL_MAGIC} {JOURNAL_VERSION}\n"));
        if let Some(boot) = &self.owner.boot {
            text.push_str(&format!("boot {boot}\n"));
        }
        match self.owner.start {
            Some(start) => text.push_str(&format!("pid {} {start}\n", self.owner.pid)),
            None => text.push_str(&format!("pid {}\n", self.owner.pid)),
        }
        text.push_str(&format!("interface {}\n", self.index));
        for route in &self.routes {
            text.push_str(&format!(
                "# {route}\nroute {}\n",
                route_to_hex(&route.message)
            ));
        }
        text.push_str("end\n");
        text
    }

    fn parse(text: &str) -> Result<Entry, String> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        let (_, first) = lines.next().ok_or("no content")?;
        let version = first
            .strip_prefix(JOURNAL_MAGIC)
            .and_then(|v| v.strip_prefix(' '))
            .ok_or("not a route journal entry")?;
        match version.trim().parse::<u32>() {
            Ok(JOURNAL_VERSION) => {}
            Ok(v) => {
                return Err(format!(
                    "format version {v}; this dialtone reads version {JOURNAL_VERSION}"
                ))
            }
            Err(_) => return Err(format!("bad format version {version:?}")),
        }
        let mut boot = None;
        let mut owner = None;
        let mut index = None;
        let mut routes = Vec::new();
        let mut ended = false;
        for (n, line) in lines {
            let bad = |what: &str| format!("line {n}: {what}");
            if ended {
                return Err(bad("text after the end line"));
            }
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            let value = value.trim();
            match key {
                "boot" if boot.is_none() && !value.is_empty() => boot = Some(value.to_owned()),
                "pid" if owner.is_none() => {
                    let mut words = value.split_whitespace();
                    let pid = words.next().and_then(|w| w.parse::<u32>().ok());
                    let start = words.next().map(str::parse::<u64>);
                    owner = match (pid, start, words.next()) {
                        (Some(pid), None, None) => Some((pid, None)),
                        (Some(pid), Some(Ok(start)), None) => Some((pid, Some(start))),
                        _ => return Err(bad("bad pid line")),
                    };
                }
                "interface" if index.is_none() => {
                    index = Some(value.parse::<u32>().map_err(|_| bad("bad interface"))?)
                }
                "route" => routes.push(route_from_hex(value).map_err(|e| bad(&e))?),
                "end" if value.is_empty() => ended = true,
                _ => return Err(bad(&format!("unexpected {key:?}"))),
            }
        }
        if !ended {
            return Err("incomplete (no end line)".into());
        }
        let (pid, start) = owner.ok_or("no pid line")?;
        Ok(Entry {
            owner: Owner { boot, pid, start },
            index: index.ok_or("no interface line")?,
            routes,
        })
    }
}

fn route_to_hex(msg: &RouteMessage) -> String {
    let mut buf = vec![0; msg.buffer_len()];
    msg.emit(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn route_from_hex(hex: &str) -> Result<DefaultRoute, String> {
    let digit = |c: u8| (c as char).to_digit(16);
    if hex.is_empty() || hex.len() % 2 != 0 {
        return Err("bad hex".into());
    }
    let bytes = hex
        .as_bytes()
        .chunks(2)
        .map(|pair| Some((digit(pair[0])? << 4 | digit(pair[1])?) as u8))
        .collect::<Option<Vec<u8>>>()
        .ok_or("bad hex")?;
    // The parsers are written for the kernel's messages; a damaged file
    // must not take the process down should one of them panic.
    let msg = std::panic::catch_unwind(|| RouteMessage::parse(&bytes[..]))
        .map_err(|_| "not a route message".to_string())?
        .map_err(|e| format!("not a route message: {e}"))?;
    DefaultRoute::from_message(msg).ok_or_else(|| "not an IPv4 default route".into())
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
    ///
    /// The replaced routes are not journaled: if this process dies before
    /// [`RouteGuard::restore`], they stay deleted. See
    /// [`Netlink::add_default_route_journaled`].
    pub async fn add_default_route(
        &self,
        index: u32,
        gateway_peer: Option<Ipv4Addr>,
        metric: u32,
        replace: bool,
    ) -> Result<RouteGuard, NetError> {
        self.add_default_route_journaled(index, gateway_peer, metric, replace, None)
            .await
    }

    /// As [`Netlink::add_default_route`]; with a `journal`, the default
    /// routes about to be replaced are first written to a new entry of it
    /// (durably, before any is deleted), so that
    /// [`RouteJournal::recover`] can put them back if this process dies
    /// before [`RouteGuard::restore`]. The entry is removed when they are
    /// back ([`RouteGuard::restore`], or at once when adding ours fails).
    /// Nothing is written when nothing is replaced.
    ///
    /// If the entry cannot be written this fails with
    /// [`NetError::Journal`] and the routing table is left as it was.
    pub async fn add_default_route_journaled(
        &self,
        index: u32,
        gateway_peer: Option<Ipv4Addr>,
        metric: u32,
        replace: bool,
        journal: Option<&RouteJournal>,
    ) -> Result<RouteGuard, NetError> {
        let ours = our_default_route(index, gateway_peer, metric);
        let mut replaced = Vec::new();
        let mut entry = None;
        if replace {
            let existing: Vec<DefaultRoute> = self
                .default_routes()
                .await?
                .into_iter()
                .filter(|r| {
                    r.table == u32::from(RouteHeader::RT_TABLE_MAIN) && r.oif != Some(index)
                })
                .collect();
            if let (Some(journal), false) = (journal, existing.is_empty()) {
                entry = Some(journal.record(index, &existing).await?);
            }
            for route in &existing {
                match self
                    .handle
                    .route()
                    .del(route.message.clone())
                    .execute()
                    .await
                {
                    Ok(()) => replaced.push(route.clone()),
                    Err(e) if errno_of(&e) == Some(libc::ESRCH) => {}
                    Err(e) => {
                        let err = nl(format!("deleting the default route {route}"))(e);
                        undo_replace(&self.handle, &replaced, entry).await;
                        return Err(err);
                    }
                }
            }
            if let (Some(journal), Some(path)) = (journal, &entry) {
                // Some went away by themselves in between: the entry lists
                // only what we deleted. Should this fail, the entry still
                // holds every route we deleted (and a few more).
                if replaced.is_empty() {
                    let _ = remove_entry(path.clone()).await;
                    entry = None;
                } else if replaced.len() != existing.len() {
                    let _ = journal.write(path.clone(), index, &replaced).await;
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
            undo_replace(&self.handle, &replaced, entry).await;
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
            entry,
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

    /// The indices of all interfaces.
    async fn link_indices(&self) -> Result<HashSet<u32>, NetError> {
        let mut stream = self.handle.link().get().execute();
        let mut found = HashSet::new();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(nl("listing the interfaces"))?
        {
            found.insert(msg.header.index);
        }
        Ok(found)
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

    /// A route as a LAN's DHCP client would leave it: gateway, metric,
    /// table attribute, protocol, onlink, preferred source.
    fn lan_route() -> RouteMessage {
        let mut msg = our_default_route(2, Some(Ipv4Addr::new(192, 168, 1, 1)), 100);
        msg.header.protocol = RouteProtocol::Dhcp;
        msg.header.flags = RouteFlags::Onlink;
        msg.attributes.push(RouteAttribute::Table(254));
        msg.attributes
            .push(RouteAttribute::PrefSource(RouteAddress::Inet(
                Ipv4Addr::new(192, 168, 1, 20),
            )));
        msg
    }

    fn multipath_route() -> RouteMessage {
        let mut msg = our_default_route(2, None, 7);
        msg.header.scope = RouteScope::Universe;
        msg.attributes
            .retain(|a| !matches!(a, RouteAttribute::Oif(_)));
        let hops = [(2, [10, 0, 0, 1]), (3, [10, 0, 1, 1])]
            .into_iter()
            .map(|(index, gw)| {
                let mut hop = RouteNextHop::default();
                hop.interface_index = index;
                hop.hops = 1;
                hop.attributes
                    .push(RouteAttribute::Gateway(RouteAddress::Inet(gw.into())));
                hop
            })
            .collect();
        msg.attributes.push(RouteAttribute::MultiPath(hops));
        msg
    }

    #[test]
    fn route_messages_round_trip_through_hex() {
        for msg in [
            lan_route(),
            multipath_route(),
            our_default_route(9, None, 0),
        ] {
            let hex = route_to_hex(&msg);
            let mut buf = vec![0; msg.buffer_len()];
            msg.emit(&mut buf);
            assert_eq!(RouteMessage::parse(&buf[..]).unwrap(), msg);
            let back = route_from_hex(&hex).unwrap();
            assert_eq!(back.message, msg, "{hex}");
        }
        let route = route_from_hex(&route_to_hex(&lan_route())).unwrap();
        assert_eq!(route.gateway, Some(Ipv4Addr::new(192, 168, 1, 1)));
        assert_eq!((route.oif, route.metric, route.table), (Some(2), 100, 254));
        assert_eq!(route.protocol, u8::from(RouteProtocol::Dhcp));
    }

    fn sample_entry() -> Entry {
        Entry {
            owner: Owner {
                boot: Some("0b1d7c2e-3f6a-4a8e-9d55-6c0f1e2d3a4b".into()),
                pid: 4242,
                start: Some(1_834_567),
            },
            index: 7,
            routes: [lan_route(), multipath_route()]
                .into_iter()
                .map(|m| DefaultRoute::from_message(m).unwrap())
                .collect(),
        }
    }

    #[test]
    fn entries_round_trip() {
        let entry = sample_entry();
        let text = entry.render();
        assert!(
            text.contains("# default via 192.168.1.1 dev #2 metric 100 table 254 proto 16"),
            "{text}"
        );
        let back = Entry::parse(&text).unwrap();
        assert_eq!(back.owner, entry.owner);
        assert_eq!(back.index, 7);
        let messages = |e: &Entry| {
            e.routes
                .iter()
                .map(|r| r.message.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(messages(&back), messages(&entry));

        // Without what could not be known.
        let mut bare = sample_entry();
        bare.owner.boot = None;
        bare.owner.start = None;
        let back = Entry::parse(&bare.render()).unwrap();
        assert_eq!(back.owner, bare.owner);
    }

    #[test]
    fn damaged_entries_are_errors() {
        let good = sample_entry().render();
        let route_line = good.lines().find(|l| l.starts_with("route ")).unwrap();
        let cases = [
            String::new(),
            "# only a comment\n".to_string(),
            "hello\n".to_string(),
            good.replace("route-journal 1", "route-journal 2"),
            good.replace("route-journal 1", "route-journal x"),
            good.replace("end\n", ""),
            good.replace("end\n", "end\nroute 00\n"),
            good.replace(route_line, "route 0"),
            good.replace(route_line, "route zz"),
            good.replace(route_line, "route 0200"),
            good.replace(route_line, &route_line[..route_line.len() - 8]),
            good.replace(route_line, &format!("{route_line}ff")),
            good.replace("pid 4242 1834567", "pid x"),
            good.replace("pid 4242 1834567", "pid 4242 1 2"),
            good.replace("pid 4242 1834567\n", ""),
            good.replace("interface 7", "interface -1"),
            good.replace("interface 7\n", ""),
            good.replace("interface 7", "interface 7\ninterface 8"),
            good.replace("interface 7", "colour blue"),
        ];
        for (i, text) in cases.iter().enumerate() {
            assert!(Entry::parse(text).is_err(), "case {i} parsed:\n{text}");
        }
        // Not a default route.
        let mut msg = lan_route();
        msg.header.destination_prefix_length = 24;
        let text = good.replace(route_line, &format!("route {}", route_to_hex(&msg)));
        let err = Entry::parse(&text).unwrap_err();
        assert!(err.contains("not an IPv4 default route"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_fails_without_panicking(text in "\\PC*") {
            let _ = Entry::parse(&format!("{JOURNAL_MAGIC} 1\n{text}"));
        }

        #[test]
        fn any_bytes_parse_or_fail_without_panicking(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)
        ) {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let _ = route_from_hex(&hex);
        }

        #[test]
        fn damaged_routes_fail_without_panicking(
            which in 0..2usize,
            flips in proptest::collection::vec((0..200usize, proptest::num::u8::ANY), 1..6),
            cut in 0..200usize,
        ) {
            let msg = [lan_route(), multipath_route()][which].clone();
            let mut bytes = vec![0; msg.buffer_len()];
            msg.emit(&mut bytes);
            for (at, value) in flips {
                let at = at % bytes.len();
                bytes[at] = value;
            }
            bytes.truncate(cut.max(1));
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let _ = route_from_hex(&hex);
        }
    }

    #[test]
    fn entry_names() {
        assert!(is_entry_name("replaced-12-0.routes"));
        assert!(!is_entry_name("replaced-12-0.routes.tmp"));
        assert!(!is_entry_name("resolv.conf"));
        assert_eq!(pid_of_entry_name("replaced-12-0.routes"), Some(12));
        assert_eq!(pid_of_entry_name("replaced-x-0.routes"), None);
    }

    #[test]
    fn owners_that_still_run_keep_their_entries() {
        let me = Owner::current();
        assert_eq!(me.pid, std::process::id());
        assert!(me.start.is_some() && me.boot.is_some(), "{me:?}");
        // Ours: the caller asked, at start-up.
        assert_eq!(me.fate(), Fate::Recover);
        // Another boot: whatever the process.
        let other_boot = Owner {
            boot: Some("not-this-boot".into()),
            ..me.clone()
        };
        assert_eq!(other_boot.fate(), Fate::OtherBoot);

        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let start = running_since(child.id());
        assert!(start.is_some());
        let alive = Owner {
            pid: child.id(),
            start,
            ..me.clone()
        };
        assert_eq!(alive.fate(), Fate::Running);
        // The same id, another process.
        let reused = Owner {
            start: start.map(|s| s + 1),
            ..alive.clone()
        };
        assert_eq!(reused.fate(), Fate::Recover);
        child.kill().unwrap();
        // A zombie is dead.
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(alive.fate(), Fate::Recover);
        child.wait().unwrap();
        assert_eq!(alive.fate(), Fate::Recover);
    }

    #[test]
    fn recovery_error_says_what_was_done() {
        let e = NetError::Recovery {
            dir: PathBuf::from("/var/lib/dialtone/routes"),
            restored: 2,
            problems: vec!["replaced-1-0.routes is damaged (bad hex)".into()],
        };
        assert_eq!(
            e.to_string(),
            "route journal /var/lib/dialtone/routes: put back 2 default routes, but 1 entry \
             was left in place: replaced-1-0.routes is damaged (bad hex)"
        );
    }

    #[test]
    fn non_default_routes_are_ignored() {
        let mut msg = our_default_route(3, None, 0);
        msg.header.destination_prefix_length = 24;
        assert!(DefaultRoute::from_message(msg).is_none());
    }
}
