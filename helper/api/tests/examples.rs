//! Every example profile shipped in data/examples loads and validates, and
//! says what its comments promise.

use std::path::Path;

use dialtone_api::profile::{Carrier, FlowControl, Send};
use dialtone_api::Profile;

fn load(name: &str) -> Profile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/examples")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Profile::from_ron(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_example_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "ron") {
            let p = load(path.file_name().unwrap().to_str().unwrap());
            // Saving and loading again changes nothing.
            assert_eq!(Profile::from_ron(&p.to_ron()).unwrap(), p);
            n += 1;
        }
    }
    assert_eq!(n, 3);
}

#[test]
fn analog_isp_is_the_guides_recipe() {
    let p = load("analog-isp.ron");
    let m = p.modem.as_ref().unwrap();
    assert_eq!(m.init[0], "ATZ");
    assert_eq!(m.dial_command, "ATDT");
    assert_eq!(p.line.speed, 57600);
    assert!(m.aborts().contains(&"Login incorrect".to_string()));
    assert_eq!(p.login[0].expect, "ogin:--ogin:");
    assert_eq!(p.login[1].send, Send::Password);
    assert!(p.network.default_route && p.policy.persist);
}

#[test]
fn cellular_dials_star_99() {
    let p = load("cellular.ron");
    let m = p.modem.as_ref().unwrap();
    assert_eq!(format!("{}{}", m.dial_command, m.numbers[0]), "ATD*99#");
    assert!(m.init.iter().any(|c| c.starts_with("AT+CGDCONT")));
}

#[test]
fn direct_line_has_no_modem_and_no_authentication() {
    let p = load("direct-line.ron");
    assert!(p.modem.is_none() && p.login.is_empty());
    assert_eq!(p.line.carrier, Carrier::Local);
    assert_eq!(p.line.flow_control, FlowControl::None);
    assert!(p.ppp.auth.methods.is_empty());
    assert!(p.network.peer_dns && p.network.default_route);
}

#[test]
fn the_demo_profile_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/demo/demo.ron");
    let text = std::fs::read_to_string(&path).unwrap();
    let p = Profile::from_ron(&text).unwrap();
    p.validate().unwrap();
    assert_eq!(p.modem.as_ref().unwrap().numbers.len(), 2);
    assert_eq!(p.login.len(), 2);
}
