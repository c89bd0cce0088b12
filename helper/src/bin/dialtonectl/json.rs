//! `--json` output. The field names here are a stable interface for
//! scripts and are listed in the usage text; add fields, never rename.

use dialtone_api::dbus::{PortInfo, StateReason, TranscriptEntry};
use serde_json::{json, Value};

use crate::format;
use dialtone_api::objects::LinkInfo;

/// `{"code", "message", "details": {…}}`.
pub fn reason(r: &StateReason) -> Value {
    let details: serde_json::Map<String, Value> = r
        .details
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "code": r.code,
        "message": r.message,
        "details": details,
    })
}

/// `{"local", "peer"}`.
fn pair(p: &(String, String)) -> Value {
    json!({ "local": p.0, "peer": p.1 })
}

/// A link: every property, plus its profile's id and name and the state
/// in words.
pub fn link(info: &LinkInfo, profile_id: &str, profile_name: &str) -> Value {
    json!({
        "path": info.path,
        "link": info.number_of_link(),
        "profile": profile_id,
        "profile_name": profile_name,
        "state": info.state,
        "description": format::state_line(info),
        "reason": reason(&info.reason),
        "phase": info.phase,
        "device": info.device,
        "number": info.number,
        "interface": info.interface,
        "ipv4": pair(&info.ipv4),
        "ipv6": pair(&info.ipv6),
        "dns": info.dns,
        "default_route": info.default_route,
        "mtu": info.mtu,
        "authentication": info.authentication,
        "connect_speed": info.connect_speed,
        "connected_since_usec": info.connected_since,
        "statistics": info.statistics,
    })
}

/// `{"time_usec", "source", "direction", "text"}`.
pub fn transcript_entry(e: &TranscriptEntry) -> Value {
    json!({
        "time_usec": e.time_usec,
        "source": e.source,
        "direction": e.direction,
        "text": e.text,
    })
}

/// A serial port, with `busy` as `null` or `{"program", "pid"}`.
pub fn port(p: &PortInfo) -> Value {
    let busy = if p.busy_pid == 0 && p.busy_program.is_empty() {
        Value::Null
    } else {
        json!({ "program": p.busy_program, "pid": p.busy_pid })
    };
    json!({
        "path": p.path,
        "description": p.description,
        "by_id": p.by_id,
        "by_path": p.by_path,
        "driver": p.driver,
        "manufacturer": p.manufacturer,
        "product": p.product,
        "vendor_id": p.vendor_id,
        "product_id": p.product_id,
        "serial": p.serial,
        "busy": busy,
        "modem_link": p.modem_link,
    })
}

/// A string, or `null` when empty.
pub fn or_null(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        Value::String(s.to_string())
    }
}

/// A document, pretty-printed (one per command).
pub fn document(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// One line of a stream (`monitor`, `log -f`).
pub fn line(v: &Value) -> String {
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn keys(v: &Value) -> Vec<&str> {
        let mut k: Vec<&str> = v
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        k.sort_unstable();
        k
    }

    #[test]
    fn the_link_object() {
        let mut info = LinkInfo::new("/io/github/dialtone/Dialtone1/Link/7");
        info.state = "connected".into();
        info.interface = "dtn0".into();
        info.ipv4 = ("10.0.0.2".into(), "10.0.0.1".into());
        info.reason = StateReason::new("ppp:up", "up");
        info.reason.details = HashMap::from([("number".into(), "5551234".into())]);
        info.statistics = [("rx-bytes".to_string(), 5u64)].into_iter().collect();
        let v = link(&info, "isp", "Example ISP");
        assert_eq!(
            keys(&v),
            [
                "authentication",
                "connect_speed",
                "connected_since_usec",
                "default_route",
                "description",
                "device",
                "dns",
                "interface",
                "ipv4",
                "ipv6",
                "link",
                "mtu",
                "number",
                "path",
                "phase",
                "profile",
                "profile_name",
                "reason",
                "state",
                "statistics",
            ]
        );
        assert_eq!(v["link"], "7");
        assert_eq!(v["profile"], "isp");
        assert_eq!(v["ipv4"], json!({"local": "10.0.0.2", "peer": "10.0.0.1"}));
        assert_eq!(
            v["reason"],
            json!({"code": "ppp:up", "message": "up", "details": {"number": "5551234"}})
        );
        assert_eq!(v["statistics"], json!({"rx-bytes": 5}));
        assert_eq!(v["description"], "connected: dtn0 10.0.0.2 → 10.0.0.1");
    }

    #[test]
    fn transcript_and_ports() {
        let e = TranscriptEntry {
            time_usec: 1,
            source: "modem".into(),
            direction: "in".into(),
            text: "OK".into(),
        };
        assert_eq!(
            transcript_entry(&e),
            json!({"time_usec": 1, "source": "modem", "direction": "in", "text": "OK"})
        );
        let mut p = PortInfo {
            path: "/dev/ttyUSB0".into(),
            ..PortInfo::default()
        };
        assert_eq!(port(&p)["busy"], Value::Null);
        p.busy_program = "minicom".into();
        p.busy_pid = 42;
        assert_eq!(port(&p)["busy"], json!({"program": "minicom", "pid": 42}));
        assert_eq!(
            keys(&port(&p)),
            [
                "busy",
                "by_id",
                "by_path",
                "description",
                "driver",
                "manufacturer",
                "modem_link",
                "path",
                "product",
                "product_id",
                "serial",
                "vendor_id"
            ]
        );
    }

    #[test]
    fn documents_and_lines() {
        let v = json!({"a": 1});
        assert_eq!(document(&v), "{\n  \"a\": 1\n}");
        assert_eq!(line(&v), "{\"a\":1}");
        assert_eq!(or_null(""), Value::Null);
        assert_eq!(or_null("x"), json!("x"));
    }
}
