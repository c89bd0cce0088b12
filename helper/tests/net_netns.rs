//! Integration tests of `dialtone_helper::net` against the real kernel.
//!
//! Every test runs in a network namespace of its own, created here with
//! `ip netns add` and deleted by a guard when the test ends (also when it
//! fails). The code under test runs in a thread that has moved itself into
//! that namespace with `setns(2)`; the initial namespace is never changed.
//! The tests need root; without it they say so and pass without doing
//! anything.

use std::future::Future;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dialtone_helper::net::{LinkAddresses, NetError, Netlink, TunDevice};

static NEXT_NS: AtomicUsize = AtomicUsize::new(0);

/// A network namespace for one test, deleted on drop.
struct Netns {
    name: String,
}

/// The name of a test namespace, to run `ip -n` in it from any thread.
#[derive(Clone)]
struct NsRef(String);

impl NsRef {
    /// Runs `ip -n <ns> args...`, panics on failure, returns stdout.
    fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", &self.0];
        all.extend_from_slice(args);
        run_ip(&all)
    }
}

impl Netns {
    fn new() -> Netns {
        let name = format!(
            "dialtone-test-{}-{}",
            std::process::id(),
            NEXT_NS.fetch_add(1, Ordering::SeqCst)
        );
        run_ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs `ip -n <ns> args...`, panics on failure, returns stdout.
    fn ip(&self, args: &[&str]) -> String {
        self.r().ip(args)
    }

    /// A reference for use inside the namespace thread.
    fn r(&self) -> NsRef {
        NsRef(self.name.clone())
    }

    /// Runs `body` on a thread inside the namespace, with a current-thread
    /// tokio runtime, and returns its result (re-raising its panic).
    fn run<F, Fut, T>(&self, body: F) -> T
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        let path = format!("/var/run/netns/{}", self.name);
        let initial = std::fs::metadata("/proc/thread-self/ns/net")
            .expect("stat the initial namespace")
            .ino();
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open the namespace file");
            // SAFETY: setns on a valid namespace fd; it only affects this thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            // Make very sure we are not in the initial namespace any more
            // before touching anything.
            let want = std::fs::metadata(&path).expect("stat the namespace");
            let have = std::fs::metadata("/proc/thread-self/ns/net").expect("stat our namespace");
            assert_eq!((want.dev(), want.ino()), (have.dev(), have.ino()));
            assert_ne!(initial, have.ino(), "still in the initial namespace");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(body())
        });
        match thread.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

/// Adds a stand-in for a LAN interface named `name` in the namespace and
/// brings it up: a dummy interface, or, on kernels without the dummy
/// driver, one end of a veth pair (the other end, `<name>p`, also up).
fn add_fake_lan(ns: &NsRef, name: &str) {
    let dummy = Command::new("ip")
        .args(["-n", &ns.0, "link", "add", name, "type", "dummy"])
        .output()
        .expect("run ip");
    if !dummy.status.success() {
        let peer = format!("{name}p");
        ns.ip(&["link", "add", name, "type", "veth", "peer", "name", &peer]);
        ns.ip(&["link", "set", &peer, "up"]);
    }
    ns.ip(&["link", "set", name, "up"]);
}

fn run_ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 from ip")
}

/// False (after saying why) when these tests cannot run here.
fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: the netns tests need root (network namespaces, TUN, netlink)");
        return false;
    }
    true
}

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 64, 0, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 64, 0, 1);
const LOCAL_ID: [u8; 8] = [0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55];
const PEER_ID: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 1];

fn ppp_addrs(v6: bool) -> LinkAddresses {
    LinkAddresses {
        local: Some(LOCAL),
        peer: Some(PEER),
        ipv6_local_id: v6.then_some(LOCAL_ID),
        ipv6_peer_id: v6.then_some(PEER_ID),
        mtu: 1400,
    }
}

/// The `ip -o addr` lines of `dev` for one family ("inet" or "inet6"),
/// reduced to what follows the family up to "scope".
fn addr_lines(ns: &NsRef, family: &str, dev: &str) -> Vec<String> {
    let flag = if family == "inet" { "-4" } else { "-6" };
    ns.ip(&["-o", flag, "addr", "show", "dev", dev])
        .lines()
        .map(|l| {
            let start = l.find(&format!("{family} ")).expect("family in line");
            let rest = &l[start..];
            let end = rest.find(" scope").unwrap_or(rest.len());
            rest[..end].to_string()
        })
        .collect()
}

#[test]
fn configure_sets_addresses_mtu_and_up() {
    if !can_run() {
        return;
    }
    let ns = Netns::new();
    let ns2 = ns.r();
    let name = ns.run(move || async move {
        let ns = ns2;
        let tun = TunDevice::create(None).expect("create TUN");
        assert!(tun.name().starts_with("dtn"), "name {}", tun.name());
        let name = tun.name().to_string();
        let nl = Netlink::new().await.expect("netlink");
        nl.configure(tun.index(), &ppp_addrs(true))
            .await
            .expect("configure");
        // Again: must be harmless.
        nl.configure(tun.index(), &ppp_addrs(true))
            .await
            .expect("configure twice");

        let inet = addr_lines(&ns, "inet", &name);
        assert_eq!(inet, vec!["inet 10.64.0.2 peer 10.64.0.1/32".to_string()]);
        let inet6 = addr_lines(&ns, "inet6", &name);
        assert_eq!(
            inet6,
            vec!["inet6 fe80::211:22ff:fe33:4455 peer fe80::1/128".to_string()],
            "exactly our link-local, no kernel-generated one"
        );
        let json = ns.ip(&["-j", "addr", "show", "dev", &name]);
        assert!(json.contains("\"local\":\"10.64.0.2\""), "{json}");
        assert!(json.contains("\"address\":\"10.64.0.1\""), "{json}");
        assert!(json.contains("\"prefixlen\":32"), "{json}");
        assert!(json.contains("\"mtu\":1400"), "{json}");
        let link = ns.ip(&["-d", "link", "show", "dev", &name]);
        let flags = &link[link.find('<').unwrap()..link.find('>').unwrap()];
        assert!(flags.contains(",UP"), "link not up: {link}");
        assert!(flags.contains("POINTOPOINT"), "{link}");
        assert!(link.contains("mtu 1400"), "{link}");
        assert!(link.contains("addrgenmode none"), "{link}");
        let routes = ns.ip(&["route", "show", "dev", &name]);
        assert!(
            routes.contains("10.64.0.1 proto kernel scope link src 10.64.0.2"),
            "{routes}"
        );
        name
    });
    // The TUN is not persistent: gone with its file descriptor.
    let links = ns.ip(&["-o", "link", "show"]);
    assert!(!links.contains(&name), "{links}");
}

#[test]
fn configure_variants_and_invalid_requests() {
    if !can_run() {
        return;
    }
    let ns = Netns::new();
    let ns2 = ns.r();
    ns.run(move || async move {
        let ns = ns2;
        let nl = Netlink::new().await.unwrap();

        // IPv6 without the peer's identifier: fe80::id/64. IPv4 without peer.
        let tun = TunDevice::create(Some("dtnvar%d")).unwrap();
        assert_eq!(tun.name(), "dtnvar0");
        let addrs = LinkAddresses {
            local: Some(LOCAL),
            peer: None,
            ipv6_local_id: Some(LOCAL_ID),
            ipv6_peer_id: None,
            mtu: 1500,
        };
        nl.configure(tun.index(), &addrs).await.unwrap();
        assert_eq!(
            addr_lines(&ns, "inet", tun.name()),
            vec!["inet 10.64.0.2/32".to_string()]
        );
        assert_eq!(
            addr_lines(&ns, "inet6", tun.name()),
            vec!["inet6 fe80::211:22ff:fe33:4455/64".to_string()]
        );

        // IPv4 only: no IPv6 address at all.
        let tun4 = TunDevice::create(Some("dtnv4")).unwrap();
        let addrs = LinkAddresses {
            ipv6_local_id: None,
            ipv6_peer_id: None,
            mtu: 576,
            ..ppp_addrs(false)
        };
        nl.configure(tun4.index(), &addrs).await.unwrap();
        assert!(addr_lines(&ns, "inet6", "dtnv4").is_empty());
        assert!(ns.ip(&["link", "show", "dtnv4"]).contains("mtu 576"));

        // IPv6 with an MTU the kernel won't do IPv6 on.
        let bad = LinkAddresses {
            mtu: 1000,
            ..ppp_addrs(true)
        };
        let err = nl.configure(tun4.index(), &bad).await.unwrap_err();
        assert!(matches!(err, NetError::Invalid(_)), "{err}");
        assert!(err.to_string().contains("1280"), "{err}");

        // An interface that does not exist: a netlink error naming it.
        let err = nl.configure(9999, &ppp_addrs(false)).await.unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENODEV), "{err}");
        assert!(err.to_string().contains("interface 9999"), "{err}");
    });
}

/// Sets up a dummy interface with an existing default route (metric 50),
/// a second one (metric 200, proto dhcp, onlink) and a default route in
/// table 100, like a machine with a LAN and policy routing.
fn add_existing_defaults(ns: &NsRef) {
    add_fake_lan(ns, "d0");
    ns.ip(&["addr", "add", "192.168.77.2/24", "dev", "d0"]);
    ns.ip(&[
        "route",
        "add",
        "default",
        "via",
        "192.168.77.1",
        "dev",
        "d0",
        "metric",
        "50",
    ]);
    add_fake_lan(ns, "d1");
    ns.ip(&[
        "route",
        "add",
        "default",
        "via",
        "172.30.0.1",
        "dev",
        "d1",
        "onlink",
        "proto",
        "dhcp",
        "metric",
        "200",
    ]);
    ns.ip(&[
        "route",
        "add",
        "default",
        "via",
        "192.168.77.254",
        "dev",
        "d0",
        "table",
        "100",
    ]);
}

fn defaults_json(ns: &NsRef) -> String {
    ns.ip(&["-j", "-d", "route", "show", "default", "table", "all"])
}

fn defaults_text(ns: &NsRef) -> Vec<String> {
    ns.ip(&["route", "show", "default"])
        .lines()
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn default_route_alongside_existing() {
    if !can_run() {
        return;
    }
    let ns = Netns::new();
    add_existing_defaults(&ns.r());
    let ns2 = ns.r();
    ns.run(move || async move {
        let ns = ns2;
        let before = defaults_json(&ns);
        let tun = TunDevice::create(None).unwrap();
        let nl = Netlink::new().await.unwrap();
        nl.configure(tun.index(), &ppp_addrs(false)).await.unwrap();
        assert_eq!(nl.default_routes().await.unwrap().len(), 3);

        let guard = nl
            .add_default_route(tun.index(), Some(PEER), 100, false)
            .await
            .unwrap();
        assert!(guard.replaced().is_empty());
        let text = defaults_text(&ns);
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(text.contains(&"default via 192.168.77.1 dev d0 metric 50".to_string()));
        assert!(text.contains(&format!(
            "default via 10.64.0.1 dev {} proto static metric 100",
            tun.name()
        )));
        let routes = nl.default_routes().await.unwrap();
        let ours = routes
            .iter()
            .find(|r| r.oif == Some(tun.index()))
            .expect("ours listed");
        assert_eq!(
            (ours.gateway, ours.metric, ours.table),
            (Some(PEER), 100, 254)
        );

        // Same metric as theirs: refused with a clear error, theirs intact.
        let err = nl
            .add_default_route(tun.index(), None, 50, false)
            .await
            .unwrap_err();
        match &err {
            NetError::RouteExists { metric, existing } => {
                assert_eq!(*metric, 50);
                assert_eq!(existing.gateway, Some(Ipv4Addr::new(192, 168, 77, 1)));
            }
            other => panic!("expected RouteExists, got {other}"),
        }
        assert!(err.to_string().contains("metric 50"), "{err}");

        guard.restore().await.unwrap();
        assert_eq!(defaults_json(&ns), before);
    });
}

#[test]
fn default_route_replace_and_restore() {
    if !can_run() {
        return;
    }
    let ns = Netns::new();
    add_existing_defaults(&ns.r());
    let ns2 = ns.r();
    ns.run(move || async move {
        let ns = ns2;
        let before = defaults_json(&ns);
        let tun = TunDevice::create(None).unwrap();
        let nl = Netlink::new().await.unwrap();
        nl.configure(tun.index(), &ppp_addrs(false)).await.unwrap();

        let guard = nl
            .add_default_route(tun.index(), Some(PEER), 10, true)
            .await
            .unwrap();
        assert_eq!(guard.replaced().len(), 2, "{guard:?}");
        assert_eq!(
            defaults_text(&ns),
            vec![format!(
                "default via 10.64.0.1 dev {} proto static metric 10",
                tun.name()
            )]
        );
        // The policy-routing table is not touched.
        let t100 = ns.ip(&["route", "show", "table", "100"]);
        assert!(t100.contains("default via 192.168.77.254 dev d0"), "{t100}");
        guard.restore().await.unwrap();
        assert_eq!(defaults_json(&ns), before);

        // Without a gateway: a link-scope route through the interface.
        let guard = nl
            .add_default_route(tun.index(), None, 0, true)
            .await
            .unwrap();
        assert_eq!(
            defaults_text(&ns),
            vec![format!(
                "default dev {} proto static scope link",
                tun.name()
            )]
        );
        guard.restore().await.unwrap();
        assert_eq!(defaults_json(&ns), before);

        // The interface went away before restore: ours is gone with it,
        // theirs still come back.
        let guard = nl
            .add_default_route(tun.index(), Some(PEER), 10, true)
            .await
            .unwrap();
        drop(tun);
        tokio::time::sleep(Duration::from_millis(50)).await;
        guard.restore().await.unwrap();
        assert_eq!(defaults_json(&ns), before);
    });
}

/// The ones' complement sum of `data`, folded to 16 bits.
fn ones_sum(mut acc: u32, data: &[u8]) -> u32 {
    for chunk in data.chunks(2) {
        let word = if chunk.len() == 2 {
            u16::from_be_bytes([chunk[0], chunk[1]])
        } else {
            u16::from_be_bytes([chunk[0], 0])
        };
        acc += u32::from(word);
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

/// Turns an IPv4/UDP packet into the reply: addresses and ports swapped,
/// new payload, checksums recomputed.
fn craft_udp_reply(request: &[u8], payload: &[u8]) -> Vec<u8> {
    let ihl = usize::from(request[0] & 0x0f) * 4;
    let total = ihl + 8 + payload.len();
    let mut pkt = request[..ihl + 8].to_vec();
    pkt.extend_from_slice(payload);
    pkt[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    let (src, dst) = (pkt[12..16].to_vec(), pkt[16..20].to_vec());
    pkt[12..16].copy_from_slice(&dst);
    pkt[16..20].copy_from_slice(&src);
    pkt[8] = 64;
    pkt[10..12].copy_from_slice(&[0, 0]);
    let csum = !(ones_sum(0, &pkt[..ihl]) as u16);
    pkt[10..12].copy_from_slice(&csum.to_be_bytes());
    let (sport, dport) = (pkt[ihl..ihl + 2].to_vec(), pkt[ihl + 2..ihl + 4].to_vec());
    pkt[ihl..ihl + 2].copy_from_slice(&dport);
    pkt[ihl + 2..ihl + 4].copy_from_slice(&sport);
    let udp_len = (8 + payload.len()) as u16;
    pkt[ihl + 4..ihl + 6].copy_from_slice(&udp_len.to_be_bytes());
    pkt[ihl + 6..ihl + 8].copy_from_slice(&[0, 0]);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&pkt[12..20]);
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&udp_len.to_be_bytes());
    let sum = ones_sum(ones_sum(0, &pseudo), &pkt[ihl..]);
    let mut csum = !(sum as u16);
    if csum == 0 {
        csum = 0xffff;
    }
    pkt[ihl + 6..ihl + 8].copy_from_slice(&csum.to_be_bytes());
    pkt
}

#[test]
fn packet_round_trip_through_tun() {
    if !can_run() {
        return;
    }
    let ns = Netns::new();
    ns.run(|| async {
        let tun = TunDevice::create(None).unwrap();
        let nl = Netlink::new().await.unwrap();
        nl.configure(tun.index(), &ppp_addrs(true)).await.unwrap();

        let sock = UdpSocket::bind((LOCAL, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let local_port = sock.local_addr().unwrap().port();
        sock.send_to(b"hello peer", (PEER, 9999)).unwrap();

        // Skip anything else the kernel may send (e.g. IPv6 multicast
        // listener reports) until our datagram shows up.
        let mut buf = vec![0u8; 2048];
        let request = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let n = tun.recv(&mut buf).await.unwrap();
                let p = &buf[..n];
                if n >= 28 && p[0] >> 4 == 4 && p[9] == 17 {
                    return p.to_vec();
                }
            }
        })
        .await
        .expect("the datagram reaches the TUN");
        let ihl = usize::from(request[0] & 0x0f) * 4;
        assert_eq!(&request[12..16], &LOCAL.octets());
        assert_eq!(&request[16..20], &PEER.octets());
        assert_eq!(
            u16::from_be_bytes([request[ihl], request[ihl + 1]]),
            local_port
        );
        assert_eq!(
            u16::from_be_bytes([request[ihl + 2], request[ihl + 3]]),
            9999
        );
        assert_eq!(&request[ihl + 8..], b"hello peer");

        let reply = craft_udp_reply(&request, b"hello local");
        assert_eq!(tun.send(&reply).await.unwrap(), reply.len());
        let reply_buf = tokio::task::spawn_blocking(move || {
            let mut b = [0u8; 64];
            let (n, from) = sock.recv_from(&mut b).expect("the reply arrives");
            (b[..n].to_vec(), from)
        })
        .await
        .unwrap();
        assert_eq!(reply_buf.0, b"hello local");
        assert_eq!(reply_buf.1, (PEER, 9999).into());
    });
}

#[test]
fn leftover_tuns_are_found_and_deleted() {
    if !can_run() {
        return;
    }
    let ns = Netns::new();
    // A persistent TUN left behind, and an unrelated interface.
    ns.ip(&["tuntap", "add", "dev", "dtn7", "mode", "tun"]);
    add_fake_lan(&ns.r(), "d0");
    let ns2 = ns.r();
    ns.run(move || async move {
        let ns = ns2;
        let nl = Netlink::new().await.unwrap();
        let live = TunDevice::create(None).unwrap();
        let mut found = nl.find_links_with_prefix("dtn").await.unwrap();
        found.sort_by(|a, b| a.1.cmp(&b.1));
        let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, vec![live.name(), "dtn7"]);
        assert!(found.contains(&(live.index(), live.name().to_string())));

        for (index, name) in &found {
            if name == "dtn7" {
                nl.delete_link(*index).await.unwrap();
            }
        }
        let links = ns.ip(&["-o", "link", "show"]);
        assert!(!links.contains("dtn7"), "{links}");
        assert!(links.contains("d0"), "{links}");
        assert!(links.contains(live.name()), "{links}");

        // Our own live TUN can be deleted too.
        nl.delete_link(live.index()).await.unwrap();
        assert!(nl.find_links_with_prefix("dtn").await.unwrap().is_empty());

        let err = nl.delete_link(live.index()).await.unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENODEV), "{err}");
        assert!(err.to_string().contains("deleting interface"), "{err}");
    });
}
