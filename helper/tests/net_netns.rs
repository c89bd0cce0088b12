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

use dialtone_helper::net::{
    LinkAddresses, NetError, Netlink, RouteGuard, RouteJournal, TunBatch, TunDevice, TunPackets,
};

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

/// The files in the journal's directory, sorted (none if it is missing).
fn journal_files(journal: &RouteJournal) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(journal.dir()) {
        Ok(list) => list
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// A TUN configured with `local` peer `peer`, as a link would have it.
async fn link_tun(nl: &Netlink, local: Ipv4Addr, peer: Ipv4Addr) -> TunDevice {
    let tun = TunDevice::create(None).unwrap();
    let addrs = LinkAddresses {
        local: Some(local),
        peer: Some(peer),
        ..ppp_addrs(false)
    };
    nl.configure(tun.index(), &addrs).await.unwrap();
    tun
}

/// What a crash leaves: the guard forgotten (it has no `Drop`), the TUN
/// gone with the process.
async fn crash(guard: RouteGuard, tun: TunDevice) {
    std::mem::forget(guard);
    drop(tun);
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[test]
fn journaled_routes_come_back_after_a_crash() {
    if !can_run() {
        return;
    }
    let ns = Netns::new();
    add_existing_defaults(&ns.r());
    let ns2 = ns.r();
    ns.run(move || async move {
        let ns = ns2;
        let state = tempfile::tempdir().unwrap();
        let journal = RouteJournal::new(state.path());
        assert_eq!(journal.dir(), state.path().join("routes"));
        let before = defaults_json(&ns);
        let nl = Netlink::new().await.unwrap();
        let tun = link_tun(&nl, LOCAL, PEER).await;

        let guard = nl
            .add_default_route_journaled(tun.index(), Some(PEER), 10, true, Some(&journal))
            .await
            .unwrap();
        assert_eq!(guard.replaced().len(), 2, "{guard:?}");
        let entry = guard.journal_entry().expect("journaled").to_path_buf();
        assert_eq!(journal.entries().unwrap(), vec![entry.clone()]);
        let name = entry.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(&format!("replaced-{}-", std::process::id()))
                && name.ends_with(".routes"),
            "{name}"
        );
        // Nothing else (no temporary file) beside it.
        assert_eq!(journal_files(&journal), vec![name.to_string()]);
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&entry), 0o600);
        assert_eq!(mode(journal.dir()), 0o700);
        let text = std::fs::read_to_string(&entry).unwrap();
        assert!(
            text.starts_with('#') && text.contains("\ndialtone-route-journal 1\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!("\ninterface {}\n", tun.index())),
            "{text}"
        );
        for (gw, metric) in [("192.168.77.1", 50), ("172.30.0.1", 200)] {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("# default via {gw} ")))
                .unwrap_or_else(|| panic!("{gw} not listed:\n{text}"));
            assert!(
                line.contains(&format!(" metric {metric} table 254 ")),
                "{line}"
            );
        }
        assert_eq!(text.lines().filter(|l| l.starts_with("route ")).count(), 2);
        assert!(text.ends_with("\nend\n"), "{text}");

        crash(guard, tun).await;
        assert!(defaults_text(&ns).is_empty(), "{:?}", defaults_text(&ns));

        assert_eq!(journal.recover().await.unwrap(), 2);
        // Exactly as they were: gateway, metric, protocol, flags, table.
        assert_eq!(defaults_json(&ns), before);
        assert!(!entry.exists());
        assert!(journal_files(&journal).is_empty());
        assert_eq!(journal.recover().await.unwrap(), 0);
        assert_eq!(defaults_json(&ns), before);
    });
}

#[test]
fn journal_entries_go_with_a_restore() {
    if !can_run() {
        return;
    }
    let ns = Netns::new();
    let ns2 = ns.r();
    ns.run(move || async move {
        let ns = ns2;
        let state = tempfile::tempdir().unwrap();
        let journal = RouteJournal::new(state.path());
        let nl = Netlink::new().await.unwrap();
        let tun = link_tun(&nl, LOCAL, PEER).await;

        // Nothing to replace: nothing written.
        let guard = nl
            .add_default_route_journaled(tun.index(), Some(PEER), 10, true, Some(&journal))
            .await
            .unwrap();
        assert!(guard.replaced().is_empty() && guard.journal_entry().is_none());
        assert!(journal_files(&journal).is_empty());
        guard.restore().await.unwrap();

        add_existing_defaults(&ns);
        let before = defaults_json(&ns);
        // Not replacing: nothing written either.
        let guard = nl
            .add_default_route_journaled(tun.index(), Some(PEER), 10, false, Some(&journal))
            .await
            .unwrap();
        assert!(guard.journal_entry().is_none());
        assert!(journal_files(&journal).is_empty());
        guard.restore().await.unwrap();

        // Replacing: the entry lives as long as the routes are away.
        let guard = nl
            .add_default_route_journaled(tun.index(), Some(PEER), 10, true, Some(&journal))
            .await
            .unwrap();
        let entry = guard.journal_entry().expect("journaled").to_path_buf();
        assert!(entry.exists());
        guard.restore().await.unwrap();
        assert!(!entry.exists());
        assert!(journal_files(&journal).is_empty());
        assert_eq!(defaults_json(&ns), before);

        // Ours refused (the gateway is not on the link): theirs come back
        // at once, and the entry goes.
        let err = nl
            .add_default_route_journaled(
                tun.index(),
                Some(Ipv4Addr::new(10, 99, 0, 1)),
                10,
                true,
                Some(&journal),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("adding default route"), "{err}");
        assert!(journal_files(&journal).is_empty());
        assert_eq!(defaults_json(&ns), before);
        assert_eq!(journal.recover().await.unwrap(), 0);
    });
}

#[test]
fn damaged_journal_entries_are_left_for_a_person() {
    if !can_run() {
        return;
    }
    let ns = Netns::new();
    add_existing_defaults(&ns.r());
    let ns2 = ns.r();
    ns.run(move || async move {
        let ns = ns2;
        let state = tempfile::tempdir().unwrap();
        let journal = RouteJournal::new(state.path());
        let before = defaults_json(&ns);
        let nl = Netlink::new().await.unwrap();
        let tun = link_tun(&nl, LOCAL, PEER).await;
        let guard = nl
            .add_default_route_journaled(tun.index(), Some(PEER), 10, true, Some(&journal))
            .await
            .unwrap();
        let good = guard.journal_entry().unwrap().to_path_buf();
        crash(guard, tun).await;

        // Sorted before the good one; a stale temporary file of a process
        // that is gone; a file that is none of ours.
        let dir = journal.dir();
        let damaged = dir.join("replaced-1-0.routes");
        std::fs::write(&damaged, "dialtone-route-journal 1\nroute zz\nend\n").unwrap();
        let stale = dir.join(format!("replaced-{}-0.routes.tmp", u32::MAX));
        std::fs::write(&stale, "dialtone-route-journal 1\n").unwrap();
        std::fs::write(dir.join("notes.txt"), "mine\n").unwrap();

        let err = journal.recover().await.unwrap_err();
        match &err {
            NetError::Recovery {
                dir: d,
                restored,
                problems,
            } => {
                assert_eq!(d, dir);
                assert_eq!(*restored, 2);
                assert_eq!(problems.len(), 1, "{problems:?}");
                let damaged = "replaced-1-0.routes is damaged (line 2: bad hex)";
                assert!(problems[0].starts_with(damaged), "{problems:?}");
            }
            other => panic!("expected Recovery, got {other}"),
        }
        let text = err.to_string();
        let said = "put back 2 default routes, but 1 entry was left in place";
        assert!(text.contains(said), "{text}");
        assert_eq!(defaults_json(&ns), before);
        assert!(!good.exists() && !stale.exists());
        assert_eq!(
            journal_files(&journal),
            vec!["notes.txt".to_string(), "replaced-1-0.routes".to_string()]
        );

        // Again: still there, still said, nothing else done.
        match journal.recover().await.unwrap_err() {
            NetError::Recovery {
                restored, problems, ..
            } => assert_eq!((restored, problems.len()), (0, 1)),
            other => panic!("expected Recovery, got {other}"),
        }
        assert!(damaged.exists());
        assert_eq!(defaults_json(&ns), before);
    });
}

#[test]
fn two_links_that_replaced_in_turn_leave_the_lan_routes() {
    if !can_run() {
        return;
    }
    let ns = Netns::new();
    add_existing_defaults(&ns.r());
    let ns2 = ns.r();
    ns.run(move || async move {
        let ns = ns2;
        let state = tempfile::tempdir().unwrap();
        let journal = RouteJournal::new(state.path());
        let before = defaults_json(&ns);
        let nl = Netlink::new().await.unwrap();
        let a = link_tun(&nl, LOCAL, PEER).await;
        let b = link_tun(
            &nl,
            Ipv4Addr::new(10, 65, 0, 2),
            Ipv4Addr::new(10, 65, 0, 1),
        )
        .await;
        let guard_a = nl
            .add_default_route_journaled(a.index(), Some(PEER), 10, true, Some(&journal))
            .await
            .unwrap();
        // The second link replaces the first one's route.
        let guard_b = nl
            .add_default_route_journaled(
                b.index(),
                Some(Ipv4Addr::new(10, 65, 0, 1)),
                20,
                true,
                Some(&journal),
            )
            .await
            .unwrap();
        assert_eq!(guard_b.replaced().len(), 1);
        assert_eq!(guard_b.replaced()[0].oif, Some(a.index()));
        assert_eq!(journal.entries().unwrap().len(), 2);
        crash(guard_a, a).await;
        crash(guard_b, b).await;

        // The first link's route went with its interface: only the LAN's
        // come back, and nothing is left.
        assert_eq!(journal.recover().await.unwrap(), 2);
        assert_eq!(defaults_json(&ns), before);
        assert!(journal_files(&journal).is_empty());
    });
}

/// The start time (field 22 of /proc/PID/stat) of a process.
fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

#[test]
fn journal_entries_of_running_processes_and_other_boots() {
    if !can_run() {
        return;
    }
    let ns = Netns::new();
    add_existing_defaults(&ns.r());
    let ns2 = ns.r();
    ns.run(move || async move {
        let ns = ns2;
        let state = tempfile::tempdir().unwrap();
        let journal = RouteJournal::new(state.path());
        let before = defaults_json(&ns);
        let nl = Netlink::new().await.unwrap();
        let tun = link_tun(&nl, LOCAL, PEER).await;
        let guard = nl
            .add_default_route_journaled(tun.index(), Some(PEER), 10, true, Some(&journal))
            .await
            .unwrap();
        let entry = guard.journal_entry().unwrap().to_path_buf();
        let text = std::fs::read_to_string(&entry).unwrap();
        let pid_line = text
            .lines()
            .find(|l| l.starts_with("pid "))
            .unwrap()
            .to_string();
        let boot_line = text
            .lines()
            .find(|l| l.starts_with("boot "))
            .unwrap()
            .to_string();

        // The entry of another process that still runs: its own to
        // restore, left alone.
        let mut other = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = other.id();
        std::fs::write(
            &entry,
            text.replace(&pid_line, &format!("pid {pid} {}", start_time(pid))),
        )
        .unwrap();
        assert_eq!(journal.recover().await.unwrap(), 0);
        assert!(entry.exists());
        assert_eq!(defaults_text(&ns).len(), 1, "only ours");
        // Once it is gone, they come back.
        other.kill().unwrap();
        other.wait().unwrap();
        assert_eq!(journal.recover().await.unwrap(), 2);
        assert!(!entry.exists());
        assert_eq!(
            guard.restore().await.map_err(|e| e.to_string()),
            Ok(()),
            "restoring after a recovery is harmless"
        );
        assert_eq!(defaults_json(&ns), before);

        // An entry from before the last boot: dropped, routes untouched.
        let guard = nl
            .add_default_route_journaled(tun.index(), Some(PEER), 10, true, Some(&journal))
            .await
            .unwrap();
        let entry = guard.journal_entry().unwrap().to_path_buf();
        let text = std::fs::read_to_string(&entry).unwrap();
        std::fs::write(
            &entry,
            text.replace(&boot_line, "boot 00000000-0000-0000-0000-000000000000"),
        )
        .unwrap();
        assert_eq!(journal.recover().await.unwrap(), 0);
        assert!(!entry.exists());
        assert_eq!(defaults_text(&ns).len(), 1, "only ours");
        guard.restore().await.unwrap();
        assert_eq!(defaults_json(&ns), before);
        drop(tun);
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

/// Moves this thread into the network namespace of `ns` (a namespace file).
fn enter_netns(ns: &std::fs::File) {
    // SAFETY: setns on a valid namespace fd; it only affects this thread.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

/// What the forwarder saw in one direction.
#[derive(Debug, Default)]
struct Seen {
    reads: usize,
    /// Reads that were super-packets (more than one packet).
    super_reads: usize,
    packets: usize,
    largest: usize,
}

/// Checks one packet read from a TUN: no larger than the MTU, lengths and
/// checksums (IPv4 header, TCP, UDP) right.
fn check_packet(pkt: &[u8], mtu: u16) {
    assert!(pkt.len() <= usize::from(mtu), "{} > MTU {mtu}", pkt.len());
    let (proto, l4, pseudo) = match pkt[0] >> 4 {
        4 => {
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            assert_eq!(usize::from(u16::from_be_bytes([pkt[2], pkt[3]])), pkt.len());
            assert_eq!(ones_sum(0, &pkt[..ihl]), 0xffff, "IPv4 header checksum");
            let mut pseudo = pkt[12..20].to_vec();
            pseudo.extend_from_slice(&[0, pkt[9]]);
            pseudo.extend_from_slice(&((pkt.len() - ihl) as u16).to_be_bytes());
            // A fragment's transport checksum covers the whole datagram.
            let fragment = u16::from_be_bytes([pkt[6], pkt[7]]) & 0x3fff != 0;
            (if fragment { 0 } else { pkt[9] }, &pkt[ihl..], pseudo)
        }
        6 => {
            assert_eq!(
                usize::from(u16::from_be_bytes([pkt[4], pkt[5]])),
                pkt.len() - 40
            );
            let mut pseudo = pkt[8..40].to_vec();
            pseudo.extend_from_slice(&((pkt.len() - 40) as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, pkt[6]]);
            (pkt[6], &pkt[40..], pseudo)
        }
        v => panic!("IP version {v}"),
    };
    if proto == 6 || proto == 17 {
        assert_eq!(
            ones_sum(ones_sum(0, &pseudo), l4),
            0xffff,
            "transport checksum of protocol {proto}"
        );
    }
}

/// Forwards one read from `from` to `to` through a batch, checking every
/// packet.
async fn forward_one(
    from: &TunDevice,
    to: &TunDevice,
    rx: &mut TunPackets,
    tx: &mut TunBatch,
    mtu: u16,
    seen: &mut Seen,
) {
    let n = from.recv_packets(rx).await.expect("read the TUN");
    seen.reads += 1;
    seen.super_reads += usize::from(n > 1);
    for i in 0..n {
        let pkt = rx.packet(i);
        check_packet(pkt, mtu);
        seen.packets += 1;
        seen.largest = seen.largest.max(pkt.len());
        tx.push(pkt);
    }
    to.send_packets(tx);
}

/// The pattern byte at offset `i` of a transfer.
fn pattern(i: usize, salt: usize) -> u8 {
    (i.wrapping_mul(7) ^ (i >> 11) ^ salt) as u8
}

fn send_pattern(s: &mut std::net::TcpStream, len: usize, salt: usize) {
    use std::io::Write;
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = 0;
    while at < len {
        let n = buf.len().min(len - at);
        for (j, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern(at + j, salt);
        }
        s.write_all(&buf[..n]).expect("write");
        at += n;
    }
}

fn check_pattern(s: &mut std::net::TcpStream, len: usize, salt: usize) {
    use std::io::Read;
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = 0;
    while at < len {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "end of stream at {at} of {len}");
        for (j, b) in buf[..n].iter().enumerate() {
            assert_eq!(*b, pattern(at + j, salt), "byte {}", at + j);
        }
        at += n;
    }
}

/// The number of packets the kernel counted as received on `dev` (one per
/// write to the TUN, a super-packet counting once).
fn rx_packets(ns: &NsRef, dev: &str) -> u64 {
    let json = ns.ip(&["-j", "-s", "link", "show", "dev", dev]);
    let at = json.find("\"rx\":{").expect("rx statistics") + 6;
    let rest = &json[at..];
    let p = rest.find("\"packets\":").expect("rx packets") + 10;
    let digits: String = rest[p..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().expect("a number")
}

/// TCP both ways and UDP between two namespaces, each with a TUN (with
/// offloads where the kernel has them), the test forwarding between the
/// two as a PPP link would: super-packets read from one are split into
/// packets no larger than the MTU with correct checksums, and written to
/// the other coalesced.
fn offload_transfer(mtu: u16, v6: bool, offload: bool) {
    use std::net::{IpAddr, SocketAddr, SocketAddrV6, TcpListener, TcpStream};
    const LEN: usize = 8 << 20;
    const BACK: usize = 1 << 20;
    let a = Netns::new();
    let b = Netns::new();
    let b_path = format!("/var/run/netns/{}", b.name);
    let b_ref = b.r();
    a.run(move || async move {
        let own = std::fs::File::open("/proc/thread-self/ns/net").unwrap();
        let tun_a = TunDevice::create_with(None, offload).unwrap();
        let nl_a = Netlink::new().await.unwrap();
        let addrs = |local, peer, lid, pid| LinkAddresses {
            local: Some(local),
            peer: Some(peer),
            ipv6_local_id: v6.then_some(lid),
            ipv6_peer_id: v6.then_some(pid),
            mtu,
        };
        nl_a.configure(tun_a.index(), &addrs(LOCAL, PEER, LOCAL_ID, PEER_ID))
            .await
            .unwrap();
        enter_netns(&std::fs::File::open(&b_path).unwrap());
        let tun_b = TunDevice::create_with(None, offload).unwrap();
        let nl_b = Netlink::new().await.unwrap();
        nl_b.configure(tun_b.index(), &addrs(PEER, LOCAL, PEER_ID, LOCAL_ID))
            .await
            .unwrap();
        let server_ip: SocketAddr = if v6 {
            SocketAddrV6::new(
                dialtone_helper::net::link_local(PEER_ID),
                0,
                0,
                tun_b.index(),
            )
            .into()
        } else {
            (PEER, 0).into()
        };
        let listener = TcpListener::bind(server_ip).unwrap();
        let udp_b = UdpSocket::bind(server_ip).unwrap();
        enter_netns(&own);
        let b_name = tun_b.name().to_string();
        assert_eq!(tun_a.offload(), tun_b.offload());
        if offload && !tun_a.offload() {
            eprintln!("no TUN offloads on this kernel: plain packets");
        }
        if !offload {
            assert!(!tun_a.offload());
        }

        let mut server_addr = listener.local_addr().unwrap();
        let udp_addr = udp_b.local_addr().unwrap();
        let client_ip: SocketAddr = match server_addr.ip() {
            IpAddr::V4(_) => (LOCAL, 0).into(),
            IpAddr::V6(_) => SocketAddrV6::new(
                dialtone_helper::net::link_local(LOCAL_ID),
                0,
                0,
                tun_a.index(),
            )
            .into(),
        };
        if let SocketAddr::V6(s) = &mut server_addr {
            s.set_scope_id(tun_a.index());
        }
        let server = tokio::task::spawn_blocking(move || {
            // Never block for ever: a failed client must fail the test,
            // not hang it (the runtime waits for blocking tasks).
            listener.set_nonblocking(true).unwrap();
            let give_up = std::time::Instant::now() + Duration::from_secs(30);
            let mut s = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        assert!(std::time::Instant::now() < give_up, "no connection came");
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            };
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            check_pattern(&mut s, LEN, 1);
            send_pattern(&mut s, BACK, 2);
            // UDP: datagrams of many sizes, as sent.
            udp_b
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut buf = [0u8; 2048];
            for size in [1usize, 100, 500, 1000] {
                let (n, _) = udp_b.recv_from(&mut buf).expect("a datagram");
                assert_eq!(n, size);
                assert!(buf[..n].iter().all(|&x| x == size as u8));
            }
        });
        let client = tokio::task::spawn_blocking(move || {
            // The addresses were just configured: allow the kernel a moment
            // (an IPv6 address can take a little while to be usable).
            let give_up = std::time::Instant::now() + Duration::from_secs(10);
            let mut s = loop {
                match TcpStream::connect_timeout(&server_addr, Duration::from_secs(5)) {
                    Ok(s) => break s,
                    Err(e) if std::time::Instant::now() < give_up => {
                        eprintln!("connect {server_addr}: {e}; again");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Err(e) => panic!("connect {server_addr}: {e}"),
                }
            };
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            send_pattern(&mut s, LEN, 1);
            check_pattern(&mut s, BACK, 2);
            let udp = UdpSocket::bind(client_ip).unwrap();
            let mut to = udp_addr;
            if let SocketAddr::V6(s) = &mut to {
                s.set_scope_id(client_ip_scope(&client_ip));
            }
            for size in [1usize, 100, 500, 1000] {
                udp.send_to(&vec![size as u8; size], to).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let work = async { (client.await, server.await) };
        tokio::pin!(work);
        let (mut rx_a, mut rx_b) = (TunPackets::new(), TunPackets::new());
        let (mut tx_a, mut tx_b) = (TunBatch::new(), TunBatch::new());
        let (mut a_to_b, mut b_to_a) = (Seen::default(), Seen::default());
        let deadline = tokio::time::sleep(Duration::from_secs(60));
        tokio::pin!(deadline);
        let (c, s) = loop {
            tokio::select! {
                r = &mut work => break r,
                _ = forward_one(&tun_a, &tun_b, &mut rx_a, &mut tx_b, mtu, &mut a_to_b) => {}
                _ = forward_one(&tun_b, &tun_a, &mut rx_b, &mut tx_a, mtu, &mut b_to_a) => {}
                _ = &mut deadline => panic!("transfer timed out: {a_to_b:?} {b_to_a:?}"),
            }
        };
        c.expect("client");
        s.expect("server");
        eprintln!("MTU {mtu} v6 {v6}: A→B {a_to_b:?}, B→A {b_to_a:?}");
        if !tun_a.offload() {
            assert_eq!(a_to_b.super_reads, 0);
        } else {
            assert!(a_to_b.super_reads > 0, "no super-packet read: {a_to_b:?}");
            // The kernel counts one received packet per write.
            let written = rx_packets(&b_ref, &b_name);
            assert!(
                written * 2 < a_to_b.packets as u64,
                "{written} writes for {} packets: not coalesced",
                a_to_b.packets
            );
        }
        assert!(a_to_b.largest <= usize::from(mtu));
        drop(nl_b);
    });
}

fn client_ip_scope(addr: &std::net::SocketAddr) -> u32 {
    match addr {
        std::net::SocketAddr::V6(a) => a.scope_id(),
        std::net::SocketAddr::V4(_) => 0,
    }
}

#[test]
fn offload_splits_and_coalesces_ipv4() {
    if !can_run() {
        return;
    }
    offload_transfer(1500, false, true);
    offload_transfer(576, false, true);
    // Without offloads: plain packets, one by one.
    offload_transfer(1500, false, false);
}

#[test]
fn offload_splits_and_coalesces_ipv6() {
    if !can_run() {
        return;
    }
    offload_transfer(1400, true, true);
    offload_transfer(1280, true, true);
    offload_transfer(1400, true, false);
}
