//! The test system bus itself (`support/system_bus.rs`), with the real
//! dbus-daemon and polkitd and our files from `data/`: the bus policy lets
//! only root own `io.github.dialtone.Dialtone1` and everyone call its
//! interfaces (and no other), D-Bus activation with our activation file
//! starts a root process on the bus, and polkit decides by our actions and
//! the rules each test gives. Needs root.
//!
//! Without a logind session (there is none here) polkit's `allow_active`
//! and `allow_inactive` never apply: every caller is judged by `allow_any`
//! (auth_admin and auth_admin_keep, i.e. "only after an administrator
//! authenticates", which without an agent means no) unless a rule decides,
//! so the grants below are rules.

#[path = "support/system_bus.rs"]
mod system_bus;

use std::process::Output;

use system_bus::{ensure_user, SystemBus, TestUser, DIALTONE_NAME};

const CONNECT: &str = "io.github.dialtone.connect";
const MODIFY: &str = "io.github.dialtone.modify";

/// dtconnect may dial, dtadmin may do everything; nobody else anything.
const RULES: &str = r#"
polkit.addRule(function(action, subject) {
    if (action.id == "io.github.dialtone.connect" && subject.user == "dtconnect") {
        return polkit.Result.YES;
    }
});
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("io.github.dialtone.") == 0 && subject.user == "dtadmin") {
        return polkit.Result.YES;
    }
});
"#;

fn text(out: &Output) -> String {
    format!(
        "status {}, stdout {:?}, stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// pkcheck's exit status for `action` and a process running as `user`.
fn pkcheck(bus: &SystemBus, user: &TestUser, action: &str) -> Option<i32> {
    let subject = bus.spawn_as(user, "sleep", &["30"]);
    let out = bus.pkcheck(action, subject.id());
    let code = out.status.code();
    // 0 yes, 2 "requires authentication" (no agent here): nothing else.
    assert!(matches!(code, Some(0 | 2)), "{}: {}", user.name, text(&out));
    code
}

#[test]
fn polkit_decides_by_our_actions_and_the_rules_of_the_test() {
    let bus = SystemBus::with_polkit(RULES);
    let connect = ensure_user("dtconnect");
    let admin = ensure_user("dtadmin");
    let nobody = ensure_user("dtnobody");

    // The user's own uid and group, and no other group.
    let out = bus.command_as(&connect, "id").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "uid={uid}(dtconnect) gid={gid}(dtconnect) groups={gid}(dtconnect)",
            uid = connect.uid,
            gid = connect.gid
        )
    );

    assert_eq!(pkcheck(&bus, &connect, CONNECT), Some(0));
    assert_eq!(pkcheck(&bus, &connect, MODIFY), Some(2));
    assert_eq!(pkcheck(&bus, &admin, CONNECT), Some(0));
    assert_eq!(pkcheck(&bus, &admin, MODIFY), Some(0));
    assert_eq!(pkcheck(&bus, &nobody, CONNECT), Some(2));
    assert_eq!(pkcheck(&bus, &nobody, MODIFY), Some(2));

    // polkitd knows our actions, with their defaults (pkaction asks it
    // over the bus).
    for (action, any, inactive, active) in [
        (CONNECT, "auth_admin", "yes", "yes"),
        (
            MODIFY,
            "auth_admin_keep",
            "auth_admin_keep",
            "auth_admin_keep",
        ),
    ] {
        let out = bus
            .command("pkaction")
            .args(["--verbose", "--action-id", action])
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&out.stdout);
        for line in [
            format!("implicit any:      {any}\n"),
            format!("implicit inactive: {inactive}\n"),
            format!("implicit active:   {active}\n"),
        ] {
            assert!(
                listing.contains(&line),
                "{action}: {line:?} in {}",
                text(&out)
            );
        }
    }
}

#[test]
fn each_bus_has_its_own_rules_and_the_machine_keeps_its_own() {
    let granting = SystemBus::with_polkit(RULES);
    let strict = SystemBus::with_polkit("// no rule: the actions' defaults decide\n");
    let connect = ensure_user("dtconnect");
    assert_eq!(pkcheck(&granting, &connect, CONNECT), Some(0));
    assert_eq!(pkcheck(&strict, &connect, CONNECT), Some(2));
    // polkitd saw its files through its own mount namespace only.
    assert!(!std::path::Path::new("/etc/polkit-1/rules.d/49-dialtone-test.rules").exists());
}

fn request_name(name: &str) -> [String; 5] {
    [
        "--dest=org.freedesktop.DBus".into(),
        "/org/freedesktop/DBus".into(),
        "org.freedesktop.DBus.RequestName".into(),
        format!("string:{name}"),
        "uint32:0".into(),
    ]
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn is_access_denied(out: &Output) -> bool {
    !out.status.success()
        && String::from_utf8_lossy(&out.stderr).contains("org.freedesktop.DBus.Error.AccessDenied")
}

/// The state letter of `/proc/PID/stat`, if the process still exists.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[test]
fn only_root_owns_the_name_and_everyone_may_call_its_interfaces() {
    let bus = SystemBus::start();
    let nobody = ensure_user("dtnobody");

    let ours = request_name(DIALTONE_NAME);
    let out = bus.dbus_send_as(&nobody, &as_strs(&ours));
    assert!(is_access_denied(&out), "{}", text(&out));
    // Root may, and only this name.
    let out = bus.dbus_send(&as_strs(&ours));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("uint32 1"),
        "{}",
        text(&out)
    );
    let out = bus.dbus_send(&as_strs(&request_name("io.github.dialtone.Other")));
    assert!(is_access_denied(&out), "{}", text(&out));

    // Our activation file, starting the real daemon with its files in a
    // temporary directory.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    bus.add_dialtone_activation(&format!(
        "{} service --idle-timeout 30 --config-dir {} --state-dir {} --lock-dir {} --modem-link {} --dns resolv-conf --resolv-conf {}",
        env!("CARGO_BIN_EXE_dialtoned"),
        d.join("etc").display(),
        d.join("state").display(),
        d.join("lock").display(),
        d.join("modem").display(),
        d.join("resolv.conf").display(),
    ));
    let call = |iface: &str, member: &str, args: &[&str]| {
        let dest = format!("--dest={DIALTONE_NAME}");
        let method = format!("{iface}.{member}");
        let mut all = vec![
            "--print-reply",
            dest.as_str(),
            "/io/github/dialtone/Dialtone1",
            method.as_str(),
        ];
        all.extend_from_slice(args);
        bus.dbus_send_as(&nobody, &all)
    };
    // Reads need no authorization; each of our interfaces may be called.
    for (iface, member, args) in [
        (
            "io.github.dialtone.Dialtone1.Manager",
            "ListProfiles",
            &[][..],
        ),
        (
            "org.freedesktop.DBus.ObjectManager",
            "GetManagedObjects",
            &[][..],
        ),
        (
            "org.freedesktop.DBus.Properties",
            "Get",
            &[
                "string:io.github.dialtone.Dialtone1.Manager",
                "string:Version",
            ][..],
        ),
        ("org.freedesktop.DBus.Introspectable", "Introspect", &[][..]),
        ("org.freedesktop.DBus.Peer", "Ping", &[][..]),
    ] {
        let out = call(iface, member, args);
        assert!(
            out.status.success(),
            "{iface}: {}\n{}",
            text(&out),
            bus.log()
        );
    }
    // The root object has no Profile or Link: the daemon says so, the bus
    // does not refuse the call.
    for iface in [
        "io.github.dialtone.Dialtone1.Profile",
        "io.github.dialtone.Dialtone1.Link",
    ] {
        let out = call(iface, "Connect", &[]);
        assert!(
            !out.status.success() && !is_access_denied(&out),
            "{iface}: {}",
            text(&out)
        );
    }
    let call = |iface: &str| call(iface, "Method", &[]);
    for iface in ["org.example.Other", "io.github.dialtone.Dialtone1.Secret"] {
        let out = call(iface);
        assert!(is_access_denied(&out), "{iface}: {}", text(&out));
    }

    // The daemon is root, in the bus's process group: dropping the bus
    // ends it too.
    let pid = bus.owner_pid(DIALTONE_NAME);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("\nUid:\t0\t0\t0\t0\n"), "{status}");
    // SAFETY: getpgid has no preconditions.
    let group = unsafe { libc::getpgid(pid as libc::pid_t) };
    assert_eq!(group as u32, bus.bus_pid());
    let bus_pid = bus.bus_pid();
    drop(bus);
    for pid in [pid, bus_pid] {
        let state = process_state(pid);
        assert!(matches!(state, None | Some('Z')), "{pid} is {state:?}");
    }
}
