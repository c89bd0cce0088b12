//! The link runtime end to end, as root, on the real kernel: `dialtoned run`
//! in a client network namespace dials the simulated modem (`dialtone-sim`,
//! a Hayes modem on a real pty) whose ISP side — Dialtone's own answerer,
//! or slirp — runs in a second namespace with its own TUN device. The
//! tests look at the client's interface, routes and resolv.conf, pass
//! traffic, and check that everything is put back.
//!
//! Each test makes its own namespaces and temporary directory; the host's
//! own network configuration is never read or written.

#[path = "support/e2e.rs"]
mod e2e;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use e2e::*;

const USER: &str = "alice";
const PASSWORD: &str = "open sesame";
const ISP_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// What a test profile says.
struct Spec {
    numbers: Vec<&'static str>,
    login: bool,
    methods: &'static str,
    default_route: bool,
    replace: bool,
    persist: bool,
    holdoff: u32,
    idle: u32,
    demand: bool,
    max_connect: u32,
    echo_interval: u32,
    modem: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            numbers: vec!["5551234"],
            login: false,
            methods: "[MsChapV2, ChapMd5, Pap]",
            default_route: true,
            replace: false,
            persist: false,
            holdoff: 1,
            idle: 0,
            demand: false,
            max_connect: 0,
            echo_interval: 5,
            modem: true,
        }
    }
}

/// Writes the profile and its secrets (with `password`) into `dir`.
fn write_profile(dir: &TempDir, spec: &Spec, password: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("profiles")).unwrap();
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    let numbers: Vec<String> = spec.numbers.iter().map(|n| format!("{n:?}")).collect();
    let modem = if spec.modem {
        format!(
            "Some((init: [\"ATZ\", \"ATE1\"], dial_command: \"ATDT\", numbers: [{}], command_timeout: 5, connect_timeout: 20))",
            numbers.join(", ")
        )
    } else {
        "None".into()
    };
    let login = if spec.login {
        "[(expect: \"ogin:--ogin:\", send: User, timeout: 10), (expect: \"ssword:\", send: Password, timeout: 10)]"
    } else {
        "[]"
    };
    let text = format!(
        r#"Profile(
    version: 1,
    name: "Test ISP",
    line: (device: "/dev/null-not-used", speed: 115200, flow_control: None, carrier: Modem),
    modem: {modem},
    login: {login},
    user: "{USER}",
    ppp: (
        lcp: (echo_interval: {echo}, echo_failure: 3),
        auth: (methods: {methods}),
    ),
    network: (default_route: {dr}, route_metric: 50, replace_default_route: {replace}, peer_dns: true),
    policy: (persist: {persist}, max_fail: 0, holdoff: {holdoff}, holdoff_max: 2, idle: {idle}, demand: {demand}, max_connect: {max_connect}),
)
"#,
        echo = spec.echo_interval,
        methods = spec.methods,
        dr = spec.default_route,
        replace = spec.replace,
        persist = spec.persist,
        holdoff = spec.holdoff,
        idle = spec.idle,
        demand = spec.demand,
        max_connect = spec.max_connect,
    );
    let path = dir.join("profiles/test.ron");
    write_file(&path, &text, 0o644);
    write_file(
        &dir.join("secrets/test.ron"),
        &format!("Secrets(version: 1, password: {password:?})"),
        0o600,
    );
    path
}

/// The simulated ISP's arguments for `auth`.
fn isp_args(auth: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "--isp",
        "internal",
        "--auth",
        auth,
        "--local",
        "10.0.0.1",
        "--remote",
        "10.0.0.2",
        "--dns",
        "10.0.0.53",
        "--dial-delay-ms",
        "300",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if auth != "none" {
        args.extend(["--user", USER, "--password", PASSWORD].map(String::from));
    }
    args
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

const RESOLV_BEFORE: &str = "# the resolver before the test\nnameserver 192.168.77.1\n";

/// One test's world: a temporary directory, the client's and the ISP's
/// network namespaces, and the path of the simulated modem.
struct World {
    dir: TempDir,
    client: Netns,
    isp: Netns,
    modem: PathBuf,
}

impl World {
    fn new() -> World {
        require_root();
        let dir = TempDir::new();
        World {
            modem: dir.join("modem"),
            dir,
            client: Netns::new("cli"),
            isp: Netns::new("isp"),
        }
    }

    /// The simulated modem and ISP with these arguments.
    fn sim(&self, args: &[String]) -> Proc {
        start_sim(&self.isp, &self.modem, &strs(args))
    }

    /// `dialtoned run` with a profile written from `spec` and `password`.
    fn dial(&self, spec: &Spec, password: &str) -> Proc {
        let profile = write_profile(&self.dir, spec, password);
        start_dialtoned(&self.client, &self.dir, &profile, &self.modem, &[])
    }
}

/// Waits for the `connected` line and returns it.
fn connected(d: &mut Proc) -> String {
    d.wait_for("connected", Duration::from_secs(30), |l| {
        l.starts_with("connected")
    })
}

/// Dial, check the address, route and DNS, ping, move 20 MB, hang up with
/// Ctrl-C and check that everything is as before.
#[test]
fn dial_connect_transfer_and_restore() {
    let w = World::new();
    let (dir, client, isp) = (&w.dir, &w.client, &w.isp);
    client.add_lan_default_route();
    write_file(&dir.join("resolv.conf"), RESOLV_BEFORE, 0o644);
    let routes_before = client.routes();

    let mut args = isp_args("mschapv2");
    args.push("--login-prompt".into());
    let _sim = w.sim(&args);
    let mut d = w.dial(
        &Spec {
            login: true,
            ..Spec::default()
        },
        PASSWORD,
    );

    d.wait_contains("dialing 5551234", Duration::from_secs(15));
    d.wait_contains("modem: CONNECT 57600", Duration::from_secs(15));
    let up = connected(&mut d);
    assert!(up.contains("10.0.0.2 peer 10.0.0.1"), "{up}");
    assert!(up.contains("DNS 10.0.0.53"), "{up}");
    assert!(up.contains("MS-CHAPv2"), "{up}");
    assert!(up.contains("default route"), "{up}");
    let out = d.output();
    assert!(
        out.contains("rcvd login:"),
        "the text login is in the transcript:\n{out}"
    );
    assert!(
        !out.contains(PASSWORD),
        "the password never appears:\n{out}"
    );

    // The interface, its address, the routes and DNS.
    let links = client.dtn_links();
    assert_eq!(links.len(), 1, "{links:?}");
    let addr = client.ip(&["-4", "addr", "show", "dev", &links[0]]);
    assert!(addr.contains("inet 10.0.0.2 peer 10.0.0.1/32"), "{addr}");
    let routes = client.ip(&["route", "show", "default"]);
    assert!(
        routes
            .lines()
            .any(|l| l.starts_with(&format!("default dev {} ", links[0]))
                && l.contains(" metric 50")),
        "{routes}"
    );
    assert!(
        routes.contains("default via 192.168.77.1 dev lan0 metric 100"),
        "the LAN's route stays:\n{routes}"
    );
    let resolv = std::fs::read_to_string(dir.join("resolv.conf")).unwrap();
    assert!(resolv.contains("nameserver 10.0.0.53"), "{resolv}");

    // Ping the ISP.
    let ping = client
        .command("ping")
        .args(["-c", "3", "-i", "0.2", "-W", "5", "10.0.0.1"])
        .output()
        .unwrap();
    assert!(
        ping.status.success(),
        "ping: {}",
        String::from_utf8_lossy(&ping.stdout)
    );

    // 20 MB from the ISP's side to the client, every byte checked.
    const LEN: usize = 20 * 1024 * 1024;
    let server = serve_stream(isp, Ipv4Addr::UNSPECIFIED, 5001, LEN, 42);
    let got = fetch_stream(
        client,
        SocketAddr::from((ISP_ADDR, 5001)),
        42,
        Duration::from_secs(60),
    )
    .join()
    .unwrap();
    assert_eq!(got, Ok(LEN));
    server.join().unwrap().unwrap();

    // Ctrl-C: LCP terminate, hang-up, and everything back as it was.
    d.signal(libc::SIGINT);
    let status = d.wait_exit(Duration::from_secs(30));
    let out = d.output();
    assert!(status.success(), "exit {status}:\n{out}");
    assert!(out.contains("LCP Terminate-Request"), "{out}");
    assert!(out.contains("LCP Terminate-Ack"), "{out}");
    assert!(
        out.contains("+++ ATH"),
        "hung up with the escape on a pty:\n{out}"
    );
    assert!(out.contains("statistics: received"), "{out}");
    assert!(client.dtn_links().is_empty(), "the TUN is gone");
    assert_eq!(client.routes(), routes_before);
    assert_eq!(
        std::fs::read_to_string(dir.join("resolv.conf")).unwrap(),
        RESOLV_BEFORE
    );
    let locks: Vec<_> = std::fs::read_dir(dir.join("lock")).unwrap().collect();
    assert!(locks.is_empty(), "the lock file is gone");
}

/// `replace_default_route` takes the LAN's default route away while up and
/// puts it back exactly.
#[test]
fn replaced_default_route_comes_back() {
    let w = World::new();
    let client = &w.client;
    client.add_lan_default_route();
    let routes_before = client.routes();
    let _sim = w.sim(&isp_args("pap"));
    let mut d = w.dial(
        &Spec {
            replace: true,
            ..Spec::default()
        },
        PASSWORD,
    );
    let up = connected(&mut d);
    assert!(up.contains("PAP"), "{up}");
    let routes = client.ip(&["route", "show", "default"]);
    assert!(!routes.contains("lan0"), "replaced:\n{routes}");
    d.signal(libc::SIGTERM);
    assert!(
        d.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        d.output()
    );
    assert_eq!(client.routes(), routes_before);
}

/// A `dialtoned` killed (SIGKILL) while its link has replaced the LAN's
/// default route: the route was journaled before it was deleted, and the
/// next `dialtoned run` puts it back before it dials.
#[test]
fn replaced_default_route_survives_a_killed_dialtoned() {
    let w = World::new();
    let client = &w.client;
    client.add_lan_default_route();
    let routes_before = client.routes();
    let journal = w.dir.join("state").join("routes");
    let entries = || -> Vec<String> {
        match std::fs::read_dir(&journal) {
            Ok(list) => list
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    };
    let _sim = w.sim(&isp_args("pap"));
    let mut d = w.dial(
        &Spec {
            replace: true,
            ..Spec::default()
        },
        PASSWORD,
    );
    connected(&mut d);
    let listed = entries();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].starts_with("replaced-"), "{listed:?}");
    d.signal(libc::SIGKILL);
    d.wait_exit(Duration::from_secs(10));
    // The TUN went with the process; the LAN's route stayed deleted.
    assert!(client.dtn_links().is_empty(), "the TUN is gone");
    let routes = client.ip(&["route", "show", "default"]);
    assert!(routes.trim().is_empty(), "no default route:\n{routes}");

    let mut d = w.dial(
        &Spec {
            default_route: false,
            ..Spec::default()
        },
        PASSWORD,
    );
    d.wait_contains(
        "note: put back 1 default route left behind by an earlier run",
        Duration::from_secs(15),
    );
    let routes = client.ip(&["route", "show", "default"]);
    assert!(
        routes.contains("default via 192.168.77.1 dev lan0 metric 100"),
        "{routes}"
    );
    assert!(entries().is_empty(), "{:?}", entries());
    d.signal(libc::SIGTERM);
    d.wait_exit(Duration::from_secs(30));
    assert_eq!(client.routes(), routes_before);
}

/// Each modem refusal ends the attempt with its own reason and status 8.
#[test]
fn abort_cases_give_their_reasons() {
    let w = World::new();
    let client = &w.client;
    let mut args = isp_args("pap");
    for n in [
        "1=busy",
        "2=no-carrier",
        "3=no-dialtone",
        "4=no-answer",
        "5=error",
    ] {
        args.push("--number".into());
        args.push(n.into());
    }
    let _sim = w.sim(&args);
    for (number, reason) in [
        ("1", "busy"),
        ("2", "no carrier"),
        ("3", "no dial tone"),
        ("4", "no answer"),
        ("5", "ERROR"),
    ] {
        let mut d = w.dial(
            &Spec {
                numbers: vec![number],
                ..Spec::default()
            },
            PASSWORD,
        );
        let status = d.wait_exit(Duration::from_secs(60));
        let out = d.output();
        assert_eq!(status.code(), Some(8), "number {number}:\n{out}");
        let last = out
            .lines()
            .rfind(|l| l.starts_with("disconnected:"))
            .unwrap_or_default();
        assert!(
            last.to_lowercase().contains(&reason.to_lowercase()),
            "number {number}: {last}\n{out}"
        );
        assert!(client.dtn_links().is_empty());
    }
}

/// A refused password: the peer's message, status 19, no redial even with
/// persist.
#[test]
fn wrong_password_gives_the_peers_message() {
    let w = World::new();
    let _sim = w.sim(&isp_args("pap"));
    let mut d = w.dial(
        &Spec {
            persist: true,
            methods: "[Pap]",
            ..Spec::default()
        },
        "wrong",
    );
    let status = d.wait_exit(Duration::from_secs(60));
    let out = d.output();
    assert_eq!(status.code(), Some(19), "{out}");
    assert!(
        out.contains("Login incorrect") || out.contains("incorrect"),
        "{out}"
    );
    assert!(!out.contains("redialing"), "{out}");
}

/// A password refused at the text login: the server prompts again and
/// echoes the PPP packets that follow, and the failure says the login was
/// refused (not "looped back"), with no redial.
#[test]
fn wrong_password_at_the_text_login_is_named() {
    let w = World::new();
    let mut args = isp_args("chap");
    args.push("--login-prompt".into());
    let _sim = w.sim(&args);
    let mut d = w.dial(
        &Spec {
            login: true,
            persist: true,
            ..Spec::default()
        },
        "wrong",
    );
    let status = d.wait_exit(Duration::from_secs(60));
    let out = d.output();
    assert_eq!(status.code(), Some(19), "{out}");
    assert!(out.contains("the login was refused"), "{out}");
    assert!(!out.contains("redialing"), "{out}");
}

/// The ISP dies in the middle of a transfer: the reason is reported, and
/// with persist the session redials and comes up again once it is back.
#[test]
fn isp_killed_mid_transfer_then_persist_redials() {
    let w = World::new();
    let (client, isp) = (&w.client, &w.isp);
    let args = isp_args("chap");
    let mut sim = w.sim(&args);
    let mut d = w.dial(
        &Spec {
            persist: true,
            ..Spec::default()
        },
        PASSWORD,
    );
    connected(&mut d);

    let _server = serve_stream(isp, Ipv4Addr::UNSPECIFIED, 5002, 200 * 1024 * 1024, 7);
    let fetch = fetch_stream(
        client,
        SocketAddr::from((ISP_ADDR, 5002)),
        7,
        Duration::from_secs(20),
    );
    std::thread::sleep(Duration::from_millis(1500));
    sim.signal(libc::SIGKILL);
    let _ = sim.wait_exit(Duration::from_secs(10));
    let down = d.wait_for("the reason", Duration::from_secs(30), |l| {
        l.starts_with("disconnected:")
    });
    assert!(
        down.contains("line went away") || down.contains("not responding") || down.contains("echo"),
        "{down}"
    );
    d.wait_contains("redialing in", Duration::from_secs(10));
    assert!(fetch.join().unwrap().is_err(), "the transfer was cut");

    // The ISP comes back; the session gets through.
    let _sim2 = w.sim(&args);
    d.wait_for("connected again", Duration::from_secs(60), |l| {
        l.starts_with("connected")
    });
    let ping = client
        .command("ping")
        .args(["-c", "1", "-W", "5", "10.0.0.1"])
        .output()
        .unwrap();
    assert!(ping.status.success());
    d.signal(libc::SIGINT);
    assert!(
        d.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        d.output()
    );
}

/// Damaged frames on the line are dropped and counted, and TCP still
/// gets every byte through.
#[test]
fn line_errors_are_counted_and_transfer_completes() {
    let w = World::new();
    let (client, isp) = (&w.client, &w.isp);
    let mut args = isp_args("pap");
    // One bit in a million: about 1 % of 1500-byte frames are hit.
    args.extend([
        "--bit-error-rate".to_string(),
        "0.000001".into(),
        "--seed".into(),
        "3".into(),
    ]);
    let _sim = w.sim(&args);
    let mut d = w.dial(&Spec::default(), PASSWORD);
    connected(&mut d);
    const LEN: usize = 8 * 1024 * 1024;
    let server = serve_stream(isp, Ipv4Addr::UNSPECIFIED, 5003, LEN, 9);
    let got = fetch_stream(
        client,
        SocketAddr::from((ISP_ADDR, 5003)),
        9,
        Duration::from_secs(60),
    )
    .join()
    .unwrap();
    assert_eq!(got, Ok(LEN));
    server.join().unwrap().unwrap();
    d.signal(libc::SIGINT);
    assert!(d.wait_exit(Duration::from_secs(30)).success());
    let out = d.output();
    let stats = out
        .lines()
        .find(|l| l.starts_with("statistics:"))
        .expect("statistics line");
    let damaged: u64 = stats
        .split(", ")
        .find_map(|p| p.strip_suffix(" damaged frames"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stats}"));
    // About 5800 full frames came in: 1 % is about 58.
    assert!((10..=400).contains(&damaged), "{stats}");
}

/// No traffic for the idle time: hung up, status 12.
#[test]
fn idle_link_hangs_up() {
    let w = World::new();
    let client = &w.client;
    let _sim = w.sim(&isp_args("pap"));
    let mut d = w.dial(
        &Spec {
            idle: 2,
            ..Spec::default()
        },
        PASSWORD,
    );
    connected(&mut d);
    d.wait_contains("disconnecting: the link was idle", Duration::from_secs(20));
    let status = d.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(12), "{}", d.output());
    assert!(client.dtn_links().is_empty());
}

/// The maximum connect time hangs up, status 13 as pppd's.
#[test]
fn maximum_connect_time_hangs_up() {
    let w = World::new();
    let _sim = w.sim(&isp_args("pap"));
    let mut d = w.dial(
        &Spec {
            max_connect: 2,
            ..Spec::default()
        },
        PASSWORD,
    );
    connected(&mut d);
    d.wait_contains(
        "disconnecting: the maximum connect time was reached",
        Duration::from_secs(20),
    );
    let status = d.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(13), "{}", d.output());
}

/// The remote end hangs up and the modem has no carrier line to tell us
/// (a pty): LCP echoes notice the dead link, and the modem's own "NO
/// CARRIER" text between frames does no harm.
#[test]
fn a_silent_hang_up_is_noticed_by_lcp_echo() {
    let w = World::new();
    let (isp, modem) = (&w.isp, &w.modem);
    let mut sim = start_sim(isp, modem, &strs(&isp_args("pap")));
    let mut d = w.dial(
        &Spec {
            echo_interval: 1,
            ..Spec::default()
        },
        PASSWORD,
    );
    connected(&mut d);
    sim.signal(libc::SIGUSR1);
    sim.wait_contains("hung up (remote)", Duration::from_secs(10));
    let down = d.wait_for("the reason", Duration::from_secs(30), |l| {
        l.starts_with("disconnected:")
    });
    assert!(down.contains("LCP Echo-Requests went unanswered"), "{down}");
    let status = d.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(15), "{}", d.output());
}

/// Demand dialing: the interface waits with placeholder addresses; the
/// first packet dials; the connection that sent it gets through although
/// the ISP assigns a different (dynamic) address; idle goes back to
/// waiting.
#[test]
fn demand_dial_connects_on_first_packet() {
    let w = World::new();
    let (client, isp) = (&w.client, &w.isp);
    let _sim = w.sim(&isp_args("pap"));
    let mut d = w.dial(
        &Spec {
            demand: true,
            idle: 3,
            ..Spec::default()
        },
        PASSWORD,
    );
    d.wait_contains("waiting for traffic", Duration::from_secs(15));
    let links = client.dtn_links();
    assert_eq!(links.len(), 1);
    let addr = client.ip(&["-4", "addr", "show", "dev", &links[0]]);
    assert!(addr.contains("10.64.64.64 peer 10.112.112.112"), "{addr}");
    assert!(
        !d.output().contains("dialing"),
        "nothing dials before traffic"
    );

    // The first packet: a TCP connection to the ISP's side.
    const LEN: usize = 1024 * 1024;
    let server = serve_stream(isp, Ipv4Addr::UNSPECIFIED, 5004, LEN, 11);
    let fetch = fetch_stream(
        client,
        SocketAddr::from((ISP_ADDR, 5004)),
        11,
        Duration::from_secs(60),
    );
    d.wait_contains("dialing 5551234", Duration::from_secs(15));
    let up = connected(&mut d);
    assert!(up.contains("10.0.0.2"), "the dynamic address: {up}");
    assert_eq!(
        fetch.join().unwrap(),
        Ok(LEN),
        "the connection that dialed gets through"
    );
    server.join().unwrap().unwrap();

    // Idle: back to waiting, the interface stays.
    d.wait_contains("disconnecting: the link was idle", Duration::from_secs(20));
    d.wait_for("waiting again", Duration::from_secs(30), |l| {
        l.starts_with("waiting for traffic")
    });
    assert_eq!(client.dtn_links().len(), 1);
    let addr = client.ip(&["-4", "addr", "show", "dev", &links[0]]);
    assert!(
        !addr.contains("10.0.0.2"),
        "the call's address went with the call: {addr}"
    );
    d.signal(libc::SIGINT);
    assert!(
        d.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        d.output()
    );
    assert!(client.dtn_links().is_empty());
}

/// slirp as the ISP: connected, and TCP to a server on the ISP side's
/// loopback through slirp's 10.0.2.2.
#[test]
fn slirp_isp_reaches_host_loopback() {
    let w = World::new();
    let (client, isp, modem) = (&w.client, &w.isp, &w.modem);
    let _sim = start_sim(
        isp,
        modem,
        &[
            "--isp",
            "slirp",
            "--auth",
            "pap",
            "--user",
            USER,
            "--password",
            PASSWORD,
            "--dial-delay-ms",
            "300",
        ],
    );
    let mut d = w.dial(
        &Spec {
            echo_interval: 30,
            ..Spec::default()
        },
        PASSWORD,
    );
    let up = connected(&mut d);
    assert!(up.contains("10.0.2.15"), "{up}");
    assert!(up.contains("DNS 10.0.2.3"), "{up}");
    // slirp's own TCP stack is slow here (about 10 kB/s, its timers tick
    // every 100 ms or more): 128 KiB proves the path.
    const LEN: usize = 128 * 1024;
    let server = serve_stream(isp, Ipv4Addr::LOCALHOST, 5005, LEN, 13);
    let got = fetch_stream(
        client,
        SocketAddr::from((Ipv4Addr::new(10, 0, 2, 2), 5005)),
        13,
        Duration::from_secs(60),
    )
    .join()
    .unwrap();
    assert_eq!(got, Ok(LEN));
    server.join().unwrap().unwrap();
    d.signal(libc::SIGINT);
    assert!(
        d.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        d.output()
    );
}

/// A direct line with no modem and no authentication.
#[test]
fn direct_line_without_modem() {
    let w = World::new();
    // The modem auto-connects: with no dialing, the sim's --direct mode
    // puts the ISP on the line at once.
    let mut args = isp_args("none");
    args.push("--direct".into());
    let _sim = w.sim(&args);
    let mut d = w.dial(
        &Spec {
            modem: false,
            methods: "[]",
            ..Spec::default()
        },
        "",
    );
    let up = connected(&mut d);
    assert!(up.contains("10.0.0.2"), "{up}");
    assert!(!d.output().contains("dialing"));
    d.signal(libc::SIGINT);
    assert!(
        d.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        d.output()
    );
    assert!(!d.output().contains("+++"), "no modem, no hang-up escape");
}

/// A second session on a device in use fails at once, naming the program
/// and PID that hold it (UUCP lock), and leaves the first one alone.
#[test]
fn a_device_in_use_is_refused_with_its_owner() {
    let w = World::new();
    let _sim = w.sim(&isp_args("pap"));
    let mut first = w.dial(&Spec::default(), PASSWORD);
    connected(&mut first);
    let mut second = w.dial(&Spec::default(), PASSWORD);
    let status = second.wait_exit(Duration::from_secs(30));
    let out = second.output();
    assert_eq!(status.code(), Some(8), "{out}");
    let pid = first.child.id();
    assert!(
        out.contains(&format!("is in use by dialtoned (PID {pid})")),
        "{out}"
    );
    first.signal(libc::SIGINT);
    assert!(
        first.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        first.output()
    );
}

/// A secrets file that other users can read is refused before anything
/// happens (status 2, no interface, no lock, nothing dialed).
#[test]
fn a_secrets_file_others_can_read_is_refused() {
    let w = World::new();
    let profile = write_profile(&w.dir, &Spec::default(), PASSWORD);
    write_file(
        &w.dir.join("secrets/test.ron"),
        &format!("Secrets(version: 1, password: {PASSWORD:?})"),
        0o644,
    );
    let mut d = start_dialtoned(&w.client, &w.dir, &profile, &w.modem, &[]);
    let status = d.wait_exit(Duration::from_secs(30));
    let out = d.output();
    assert_eq!(status.code(), Some(2), "{out}");
    assert!(
        out.contains("can be read by other users (mode 644)"),
        "{out}"
    );
    assert!(out.contains("chmod 600"), "{out}");
    assert!(!out.contains(PASSWORD), "{out}");
    assert!(!out.contains("opening"), "{out}");
    assert!(w.client.dtn_links().is_empty());
    let locks: Vec<_> = std::fs::read_dir(w.dir.join("lock")).unwrap().collect();
    assert!(locks.is_empty());
}
