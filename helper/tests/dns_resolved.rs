//! Integration tests of `dialtone_helper::dns` over a real D-Bus bus.
//!
//! Every test starts its own `dbus-daemon` (Debian package `dbus-daemon`)
//! with a system-bus configuration written to a temporary directory: a unix
//! socket in that directory and a policy that lets the test own names and
//! call methods. The daemon is killed by a guard when the test ends, also
//! when it fails. systemd-resolved is played by a stand-in served from the
//! test process, which owns `org.freedesktop.resolve1`, records every call
//! it gets and answers with errors when told to. The real resolved is not
//! run: installing it takes over the host's `/etc/resolv.conf`. The
//! resolv.conf used is always a file in a temporary directory.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dialtone_helper::dns::{
    ActiveBackend, Backend, Cleanup, Dns, DnsError, DnsSettings, RESOLVED_BUS_NAME,
    RESOLVED_MANAGER_INTERFACE, RESOLVED_PATH,
};
use futures::StreamExt;
use zbus::connection::Builder;
use zbus::message::Type;
use zbus::{Connection, MessageStream};

/// A private `dbus-daemon`, killed on drop.
struct Bus {
    child: Child,
    address: String,
    dir: tempfile::TempDir,
}

impl Bus {
    fn start() -> Bus {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let socket = dir.path().join("system_bus_socket");
        let config = dir.path().join("system.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .expect("write the bus configuration");
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run dbus-daemon ({e}): install the Debian package dbus-daemon")
            });
        // The daemon prints its address once it listens.
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        let read = BufReader::new(stdout).read_line(&mut line);
        if read.map(|n| n == 0).unwrap_or(true) {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = stderr.read_to_string(&mut err);
            }
            let _ = child.wait();
            panic!("dbus-daemon did not start: {err}");
        }
        Bus {
            child,
            address: line.trim().to_string(),
            dir,
        }
    }

    fn dns(&self, backend: Backend) -> Dns {
        Dns::new(
            self.resolv_conf(),
            self.dir.path().join("state"),
            backend,
            Some(self.address.clone()),
        )
    }

    fn resolv_conf(&self) -> PathBuf {
        self.dir.path().join("resolv.conf")
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A call the stand-in received, with its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    SetLinkDns(i32, Vec<(i32, Vec<u8>)>),
    SetLinkDomains(i32, Vec<(String, bool)>),
    SetLinkDefaultRoute(i32, bool),
    RevertLink(i32),
    /// A method the stand-in does not know, or bad arguments.
    Other(String),
}

/// The stand-in for systemd-resolved: owns `org.freedesktop.resolve1` on
/// the bus and records what it is asked.
struct FakeResolved {
    conn: Connection,
    calls: Arc<Mutex<Vec<Call>>>,
    /// Method name → (error name, message) to reply with.
    failures: Arc<Mutex<HashMap<String, (String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeResolved {
    async fn start(bus: &Bus) -> FakeResolved {
        let conn = Builder::address(bus.address.as_str())
            .build()
            .await
            .expect("the stand-in connects to the bus");
        // The stream exists before the name is owned, so no call is lost.
        let mut stream = MessageStream::from(&conn);
        let calls = Arc::new(Mutex::new(Vec::new()));
        let failures: Arc<Mutex<HashMap<String, (String, String)>>> = Arc::default();
        let task = {
            let (conn, calls, failures) = (conn.clone(), calls.clone(), failures.clone());
            tokio::spawn(async move {
                while let Some(Ok(msg)) = stream.next().await {
                    if msg.message_type() != Type::MethodCall {
                        continue;
                    }
                    let header = msg.header();
                    let is_manager = header.path().map(|p| p.as_str()) == Some(RESOLVED_PATH)
                        && header.interface().map(|i| i.as_str())
                            == Some(RESOLVED_MANAGER_INTERFACE);
                    if !is_manager {
                        continue;
                    }
                    let member = header.member().map(|m| m.to_string()).unwrap_or_default();
                    let body = msg.body();
                    let call = match member.as_str() {
                        "SetLinkDNS" => body
                            .deserialize::<(i32, Vec<(i32, Vec<u8>)>)>()
                            .map(|(i, a)| Call::SetLinkDns(i, a)),
                        "SetLinkDomains" => body
                            .deserialize::<(i32, Vec<(String, bool)>)>()
                            .map(|(i, d)| Call::SetLinkDomains(i, d)),
                        "SetLinkDefaultRoute" => body
                            .deserialize::<(i32, bool)>()
                            .map(|(i, b)| Call::SetLinkDefaultRoute(i, b)),
                        "RevertLink" => body.deserialize::<i32>().map(Call::RevertLink),
                        other => Ok(Call::Other(other.to_string())),
                    }
                    .unwrap_or_else(|e| Call::Other(format!("{member} with bad arguments: {e}")));
                    calls.lock().unwrap().push(call.clone());
                    let failure = failures.lock().unwrap().get(&member).cloned();
                    let sent = match (failure, call) {
                        (Some((name, text)), _) => {
                            conn.reply_error(&header, name.as_str(), &text).await
                        }
                        (None, Call::Other(text)) => {
                            conn.reply_error(
                                &header,
                                "org.freedesktop.DBus.Error.UnknownMethod",
                                &text,
                            )
                            .await
                        }
                        (None, _) => conn.reply(&header, &()).await,
                    };
                    sent.expect("the stand-in replies");
                }
            })
        };
        conn.request_name(RESOLVED_BUS_NAME)
            .await
            .expect("the stand-in owns org.freedesktop.resolve1");
        FakeResolved {
            conn,
            calls,
            failures,
            task,
        }
    }

    /// Makes `method` fail with the D-Bus error `name`.
    fn fail(&self, method: &str, name: &str, text: &str) {
        self.failures
            .lock()
            .unwrap()
            .insert(method.into(), (name.into(), text.into()));
    }

    /// The calls so far, forgetting them.
    fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    async fn stop(self) {
        let _ = self.conn.release_name(RESOLVED_BUS_NAME).await;
        self.task.abort();
    }
}

fn settings() -> DnsSettings {
    DnsSettings {
        servers: vec![
            "10.0.0.53".parse().unwrap(),
            "2001:db8::53".parse().unwrap(),
        ],
        search: vec!["example.net".into(), "corp.example".into()],
        default_route: true,
    }
}

fn expected_addresses() -> Vec<(i32, Vec<u8>)> {
    vec![
        (2, vec![10, 0, 0, 53]),
        (
            10,
            vec![
                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53,
            ],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_uses_resolved_when_it_owns_its_name() {
    let bus = Bus::start();
    let resolved = FakeResolved::start(&bus).await;
    let dns = bus.dns(Backend::Auto);
    assert_eq!(dns.backend_in_use().await.unwrap(), ActiveBackend::Resolved);

    let guard = dns.apply(7, "ppp0", &settings()).await.unwrap();
    assert_eq!(guard.backend(), Some(ActiveBackend::Resolved));
    assert_eq!(
        guard.describe(),
        "DNS via systemd-resolved for ppp0: 10.0.0.53 2001:db8::53; \
         search example.net corp.example; default DNS route (~.)"
    );
    assert_eq!(
        resolved.take_calls(),
        vec![
            Call::SetLinkDns(7, expected_addresses()),
            Call::SetLinkDomains(
                7,
                vec![
                    ("example.net".into(), false),
                    ("corp.example".into(), false),
                    // `~.`, as resolvectl and NetworkManager send it.
                    (".".into(), true),
                ]
            ),
            Call::SetLinkDefaultRoute(7, true),
        ]
    );
    assert!(
        !bus.resolv_conf().exists(),
        "the resolv.conf is left alone with resolved"
    );

    guard.restore().await.unwrap();
    assert_eq!(resolved.take_calls(), vec![Call::RevertLink(7)]);
    resolved.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_is_not_the_default_route_gets_only_its_domains() {
    let bus = Bus::start();
    let resolved = FakeResolved::start(&bus).await;
    let dns = bus.dns(Backend::Resolved);
    let settings = DnsSettings {
        servers: vec!["192.0.2.1".parse().unwrap(), "0.0.0.0".parse().unwrap()],
        search: vec![],
        default_route: false,
    };
    let guard = dns.apply(12, "dtn0", &settings).await.unwrap();
    assert_eq!(guard.servers(), &["192.0.2.1".parse::<IpAddr>().unwrap()]);
    assert_eq!(
        resolved.take_calls(),
        vec![
            Call::SetLinkDns(12, vec![(2, vec![192, 0, 2, 1])]),
            Call::SetLinkDomains(12, vec![]),
            Call::SetLinkDefaultRoute(12, false),
        ]
    );
    guard.restore().await.unwrap();
    assert_eq!(resolved.take_calls(), vec![Call::RevertLink(12)]);
    resolved.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_uses_the_resolv_conf_when_nobody_owns_the_name() {
    let bus = Bus::start();
    let dns = bus.dns(Backend::Auto);
    let path = bus.resolv_conf();
    std::fs::write(&path, "nameserver 192.0.2.1\n").unwrap();
    assert_eq!(
        dns.backend_in_use().await.unwrap(),
        ActiveBackend::ResolvConf(path.clone())
    );

    let guard = dns.apply(7, "ppp0", &settings()).await.unwrap();
    assert_eq!(
        guard.backend(),
        Some(ActiveBackend::ResolvConf(path.clone()))
    );
    assert!(guard
        .describe()
        .starts_with(&format!("DNS via {} for ppp0: ", path.display())));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# Generated by Dialtone for the link ppp0.\n"));
    assert!(text.contains(
        "search example.net corp.example\nnameserver 10.0.0.53\nnameserver 2001:db8::53\n"
    ));

    guard.restore().await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "nameserver 192.0.2.1\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_follows_resolved_coming_and_going() {
    let bus = Bus::start();
    let dns = bus.dns(Backend::Auto);
    let resolved = FakeResolved::start(&bus).await;
    assert_eq!(dns.backend_in_use().await.unwrap(), ActiveBackend::Resolved);
    resolved.stop().await;
    assert_eq!(
        dns.backend_in_use().await.unwrap(),
        ActiveBackend::ResolvConf(bus.resolv_conf())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_from_resolved_is_clear_and_what_was_set_is_reverted() {
    let bus = Bus::start();
    let resolved = FakeResolved::start(&bus).await;
    let dns = bus.dns(Backend::Auto);
    resolved.fail(
        "SetLinkDomains",
        "org.freedesktop.DBus.Error.InvalidArgs",
        "Invalid search domain corp.example",
    );
    let err = dns.apply(7, "ppp0", &settings()).await.unwrap_err();
    match &err {
        DnsError::Resolved {
            call,
            ifname,
            error_name,
            cleanup,
            ..
        } => {
            assert_eq!(*call, "SetLinkDomains");
            assert_eq!(ifname, "ppp0");
            assert_eq!(
                error_name.as_deref(),
                Some("org.freedesktop.DBus.Error.InvalidArgs")
            );
            assert_eq!(*cleanup, Cleanup::Reverted);
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "systemd-resolved SetLinkDomains for ppp0 failed: \
         org.freedesktop.DBus.Error.InvalidArgs: Invalid search domain corp.example; \
         what was already set was reverted"
    );
    let calls = resolved.take_calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(matches!(calls[0], Call::SetLinkDns(7, _)));
    assert!(matches!(calls[1], Call::SetLinkDomains(7, _)));
    assert_eq!(calls[2], Call::RevertLink(7));
    assert!(!bus.resolv_conf().exists(), "no fallback to the file");
    resolved.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_call_refused_needs_no_revert() {
    let bus = Bus::start();
    let resolved = FakeResolved::start(&bus).await;
    let dns = bus.dns(Backend::Resolved);
    resolved.fail(
        "SetLinkDNS",
        "org.freedesktop.DBus.Error.AccessDenied",
        "Access denied",
    );
    let err = dns.apply(7, "ppp0", &settings()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            DnsError::Resolved {
                call: "SetLinkDNS",
                cleanup: Cleanup::NotNeeded,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "systemd-resolved SetLinkDNS for ppp0 failed: \
         org.freedesktop.DBus.Error.AccessDenied: Access denied"
    );
    assert_eq!(
        resolved.take_calls(),
        vec![Call::SetLinkDns(7, expected_addresses())]
    );
    resolved.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_revert_is_reported_too() {
    let bus = Bus::start();
    let resolved = FakeResolved::start(&bus).await;
    let dns = bus.dns(Backend::Resolved);
    resolved.fail(
        "SetLinkDefaultRoute",
        "org.freedesktop.DBus.Error.Failed",
        "no",
    );
    resolved.fail("RevertLink", "org.freedesktop.DBus.Error.Failed", "nope");
    let err = dns.apply(7, "ppp0", &settings()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            DnsError::Resolved {
                call: "SetLinkDefaultRoute",
                cleanup: Cleanup::RevertFailed(_),
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("RevertLink: org.freedesktop.DBus.Error.Failed: nope"),
        "{text}"
    );
    resolved.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_resolved_without_set_link_default_route_is_fine() {
    let bus = Bus::start();
    let resolved = FakeResolved::start(&bus).await;
    resolved.fail(
        "SetLinkDefaultRoute",
        "org.freedesktop.DBus.Error.UnknownMethod",
        "Unknown method SetLinkDefaultRoute",
    );
    let guard = bus
        .dns(Backend::Auto)
        .apply(7, "ppp0", &settings())
        .await
        .unwrap();
    assert_eq!(resolved.take_calls().len(), 3);
    guard.restore().await.unwrap();
    assert_eq!(resolved.take_calls(), vec![Call::RevertLink(7)]);
    resolved.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_errors_name_revert_link_but_a_forgotten_link_is_fine() {
    let bus = Bus::start();
    let resolved = FakeResolved::start(&bus).await;
    let dns = bus.dns(Backend::Resolved);

    let guard = dns.apply(7, "ppp0", &settings()).await.unwrap();
    resolved.fail(
        "RevertLink",
        "org.freedesktop.resolve1.NoSuchLink",
        "Link 7 not known",
    );
    guard.restore().await.unwrap();

    let guard = dns.apply(7, "ppp0", &settings()).await.unwrap();
    resolved.fail(
        "RevertLink",
        "org.freedesktop.DBus.Error.AccessDenied",
        "Access denied",
    );
    let err = guard.restore().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "systemd-resolved RevertLink for ppp0 failed: \
         org.freedesktop.DBus.Error.AccessDenied: Access denied"
    );
    resolved.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_changes_nothing_anywhere() {
    let bus = Bus::start();
    let resolved = FakeResolved::start(&bus).await;
    let dns = bus.dns(Backend::Auto);
    let none = DnsSettings {
        servers: vec![],
        ..settings()
    };
    let guard = dns.apply(7, "ppp0", &none).await.unwrap();
    assert_eq!(guard.backend(), None);
    guard.restore().await.unwrap();
    assert_eq!(resolved.take_calls(), vec![]);
    assert!(!bus.resolv_conf().exists());
    resolved.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_resolved_gives_a_hint() {
    let bus = Bus::start();
    let dns = bus.dns(Backend::Resolved);
    let err = dns.apply(7, "ppp0", &settings()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("systemd-resolved SetLinkDNS for ppp0 failed: "),
        "{text}"
    );
    assert!(text.ends_with("(is systemd-resolved running?)"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_bus_falls_back_to_the_resolv_conf_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resolv.conf");
    let state = dir.path().join("state");

    // Nothing listens there.
    let absent = format!("unix:path={}", dir.path().join("no-bus").display());
    // Something listens there but never says a word.
    let silent_path = dir.path().join("silent-bus");
    let listener = std::os::unix::net::UnixListener::bind(&silent_path).unwrap();
    let silent = format!("unix:path={}", silent_path.display());

    for address in [absent, silent, "not a bus address".to_string()] {
        let started = Instant::now();
        let dns = Dns::new(&path, &state, Backend::Auto, Some(address.clone()));
        assert_eq!(
            dns.backend_in_use().await.unwrap(),
            ActiveBackend::ResolvConf(path.clone()),
            "{address}"
        );
        let guard = dns.apply(3, "ppp0", &settings()).await.unwrap();
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("nameserver 10.0.0.53\n"));
        guard.restore().await.unwrap();
        assert!(!path.exists());
        // Two detections, each bounded by the connect timeout.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{address}: {:?}",
            started.elapsed()
        );

        // Asked for resolved explicitly, the same bus is an error.
        let dns = Dns::new(&path, &state, Backend::Resolved, Some(address.clone()));
        let err = dns.apply(3, "ppp0", &settings()).await.unwrap_err();
        assert!(matches!(err, DnsError::Bus { .. }), "{address}: {err:?}");
        assert!(
            err.to_string()
                .starts_with("cannot connect to the system bus at "),
            "{err}"
        );
        assert!(!path.exists());
    }
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_system_bus_is_probed_without_hanging() {
    // Whatever the host has (here usually no system bus at all), detection
    // answers within its time limits. Only detection runs: nothing is
    // applied, so the host's DNS is not touched.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resolv.conf");
    let dns = Dns::new(&path, dir.path().join("state"), Backend::Auto, None);
    let started = Instant::now();
    let backend = dns.backend_in_use().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "{backend}");
    if !std::path::Path::new("/var/run/dbus/system_bus_socket").exists()
        && std::env::var_os("DBUS_SYSTEM_BUS_ADDRESS").is_none()
    {
        assert_eq!(backend, ActiveBackend::ResolvConf(path));
    }
}
