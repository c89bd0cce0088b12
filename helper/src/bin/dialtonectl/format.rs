//! Human output: states and reasons in words, durations, byte counts,
//! clock times, transcript lines, aligned tables and the status block.

use dialtone_api::dbus::{LinkState, StateReason, TranscriptEntry};

use dialtone_api::objects::LinkInfo;

/// A state word in plain English (`getting-address` → "getting an
/// address"); words this client does not know are shown with spaces.
pub fn state_words(state: &str) -> String {
    match state.parse::<LinkState>() {
        Ok(LinkState::WaitingForTraffic) => "waiting for traffic".into(),
        Ok(LinkState::ModemConnected) => "modem connected".into(),
        Ok(LinkState::GettingAddress) => "getting an address".into(),
        Ok(LinkState::Disconnecting) => "hanging up".into(),
        Ok(LinkState::WaitingToRedial) => "waiting to redial".into(),
        Ok(s) => s.as_str().into(),
        Err(_) if state.is_empty() => "unknown".into(),
        Err(_) => state.replace('-', " "),
    }
}

/// A reason as a person reads it: the daemon's sentence, with the number
/// it concerns when the sentence does not already say it; the code when
/// there is no sentence; empty for no reason.
pub fn reason_text(r: &StateReason) -> String {
    let mut text = if r.message.is_empty() {
        r.code.clone()
    } else {
        r.message.clone()
    };
    if let Some(n) = r.details.get("number") {
        if !text.is_empty() && !n.is_empty() && !text.contains(n.as_str()) {
            text = format!("{text} ({n})");
        }
    }
    text
}

/// The line `up` and `monitor` print for a link's state: "dialing
/// 5551234", "modem connected CONNECT 57600", "connected: dtn0 10.0.0.2 →
/// 10.0.0.1, DNS 192.0.2.53", "waiting to redial: the line is busy".
pub fn state_line(info: &LinkInfo) -> String {
    let words = state_words(&info.state);
    let reason = reason_text(&info.reason);
    let with_reason = |w: String| {
        if reason.is_empty() {
            w
        } else {
            format!("{w}: {reason}")
        }
    };
    match info.link_state() {
        Some(LinkState::WaitingForTraffic) => {
            let mut s = words;
            if !info.interface.is_empty() {
                s.push_str(&format!(" on {}", info.interface));
            }
            s.push_str(" (the first packet dials)");
            s
        }
        Some(LinkState::Opening) if !info.device.is_empty() => {
            format!("{words} {}", info.device)
        }
        Some(LinkState::Dialing) if !info.number.is_empty() => {
            format!("{words} {}", info.number)
        }
        Some(LinkState::ModemConnected) => {
            let response = match info.reason.details.get("modem-response") {
                Some(r) if !r.is_empty() => r.clone(),
                _ if info.connect_speed > 0 => format!("CONNECT {}", info.connect_speed),
                _ => String::new(),
            };
            if response.is_empty() {
                words
            } else {
                format!("{words} {response}")
            }
        }
        Some(LinkState::Authenticating) if !info.authentication.is_empty() => {
            format!("{words} ({})", info.authentication)
        }
        Some(LinkState::Connected) => {
            let mut parts = Vec::new();
            let mut first = info.interface.clone();
            if let Some(a) = addresses(&info.ipv4) {
                first = join_nonempty(&[&first, &a], " ");
            }
            if !first.is_empty() {
                parts.push(first);
            }
            if let Some(a) = addresses(&info.ipv6) {
                parts.push(format!("IPv6 {a}"));
            }
            if !info.dns.is_empty() {
                parts.push(format!("DNS {}", info.dns.join(" ")));
            }
            if parts.is_empty() {
                words
            } else {
                format!("{words}: {}", parts.join(", "))
            }
        }
        Some(LinkState::Disconnecting | LinkState::WaitingToRedial | LinkState::Disconnected) => {
            with_reason(words)
        }
        _ => words,
    }
}

/// What `up` prints on standard error when the link failed: "failed: the
/// line is busy (5551234) [modem:busy]".
pub fn failure_line(r: &StateReason) -> String {
    let text = reason_text(r);
    let text = if text.is_empty() {
        "no reason given".to_string()
    } else {
        text
    };
    if r.code.is_empty() || text == r.code {
        format!("failed: {text}")
    } else {
        format!("failed: {text} [{}]", r.code)
    }
}

/// "10.0.0.2 → 10.0.0.1", or `None` when neither end is known.
pub fn addresses(pair: &(String, String)) -> Option<String> {
    match (pair.0.is_empty(), pair.1.is_empty()) {
        (true, true) => None,
        (false, true) => Some(pair.0.clone()),
        (true, false) => Some(format!("? → {}", pair.1)),
        (false, false) => Some(format!("{} → {}", pair.0, pair.1)),
    }
}

/// The non-empty parts, joined by `sep`.
fn join_nonempty(parts: &[&str], sep: &str) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(sep)
}

/// A duration for people: "42 s", "5 min 03 s", "2 h 05 min", "3 d 4 h".
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if secs < 60 {
        format!("{s} s")
    } else if secs < 3600 {
        format!("{m} min {s:02} s")
    } else if secs < 86_400 {
        format!("{h} h {m:02} min")
    } else {
        format!("{d} d {h} h")
    }
}

/// A byte count with SI prefixes: "999 B", "1.2 kB", "1.2 MB", "3.4 GB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// One direction's counters: "1.2 MB, 345 packets, 0 errors".
pub fn traffic(info: &LinkInfo, direction: &str) -> String {
    let b = info.stat(&format!("{direction}-bytes"));
    let p = info.stat(&format!("{direction}-packets"));
    let e = info.stat(&format!("{direction}-errors"));
    format!(
        "{}, {p} packet{}, {e} error{}",
        bytes(b),
        if p == 1 { "" } else { "s" },
        if e == 1 { "" } else { "s" }
    )
}

/// `HH:MM:SS.mmm` of a time in microseconds since the epoch, at a UTC
/// offset of `offset` seconds.
pub fn clock(usec: u64, offset: i64) -> String {
    let local_ms = (usec / 1000) as i64 + offset * 1000;
    let ms_of_day = local_ms.rem_euclid(86_400_000);
    let (h, m, s, ms) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!("{h:02}:{m:02}:{s:02}.{ms:03}")
}

/// The local time zone's offset from UTC at `usec`, in seconds.
pub fn local_offset(usec: u64) -> i64 {
    let t = (usec / 1_000_000) as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value (integers and a null
    // pointer), and localtime_r only writes to it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals; localtime_r is the
    // reentrant variant.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        0
    } else {
        tm.tm_gmtoff as i64
    }
}

/// Now, in microseconds since the epoch.
pub fn now_usec() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A time in microseconds since the epoch as a local `HH:MM:SS.mmm`.
pub fn local_clock(usec: u64) -> String {
    clock(usec, local_offset(usec))
}

/// A transcript line: `HH:MM:SS.mmm source dir text`, the columns lined up.
pub fn transcript_line(e: &TranscriptEntry, offset: i64) -> String {
    format!(
        "{} {:<5} {:<3} {}",
        clock(e.time_usec, offset),
        e.source,
        e.direction,
        e.text
    )
}

/// Rows under headers, each column as wide as its widest cell; the last
/// column is not padded. Every line ends with a newline.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let cols = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().take(cols).map(String::as_str).collect()));
    }
    out
}

/// Label/value lines, the values lined up, indented by two spaces; empty
/// values are left out.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.push_str(&format!("  {k:<width$}  {v}\n"));
    }
    out
}

/// `status`'s block for one link: a heading naming the profile and link,
/// then its state, reason, line, addresses, time connected and counters.
pub fn status_block(info: &LinkInfo, profile: &str, now_usec: u64) -> String {
    let mut out = format!("{profile}: link {}\n", info.number_of_link());
    let since = if info.connected_since > 0 && info.link_state() == Some(LinkState::Connected) {
        duration(now_usec.saturating_sub(info.connected_since) / 1_000_000)
    } else {
        String::new()
    };
    let reason = reason_text(&info.reason);
    let reason = match reason.is_empty() || info.reason.code.is_empty() {
        true => reason,
        false if reason == info.reason.code => reason,
        false => format!("{reason} [{}]", info.reason.code),
    };
    let active = info.link_state() == Some(LinkState::Connected);
    let pairs = [
        ("state", state_words(&info.state)),
        ("reason", reason),
        ("device", info.device.clone()),
        ("number", info.number.clone()),
        ("interface", info.interface.clone()),
        ("IPv4", addresses(&info.ipv4).unwrap_or_default()),
        ("IPv6", addresses(&info.ipv6).unwrap_or_default()),
        ("DNS", info.dns.join(", ")),
        (
            "default route",
            if active && info.default_route {
                "yes".into()
            } else {
                String::new()
            },
        ),
        ("authentication", info.authentication.clone()),
        (
            "speed",
            if info.connect_speed > 0 {
                format!("{} bps", info.connect_speed)
            } else {
                String::new()
            },
        ),
        ("connected for", since),
        (
            "received",
            if info.statistics.is_empty() {
                String::new()
            } else {
                traffic(info, "rx")
            },
        ),
        (
            "sent",
            if info.statistics.is_empty() {
                String::new()
            } else {
                traffic(info, "tx")
            },
        ),
    ];
    out.push_str(&fields(&pairs));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn link(state: &str) -> LinkInfo {
        LinkInfo {
            path: "/io/github/dialtone/Dialtone1/Link/3".into(),
            state: state.into(),
            ..LinkInfo::default()
        }
    }

    #[test]
    fn every_state_in_words() {
        let words: Vec<String> = LinkState::ALL
            .iter()
            .map(|s| state_words(s.as_str()))
            .collect();
        assert_eq!(
            words,
            [
                "waiting for traffic",
                "opening",
                "dialing",
                "modem connected",
                "negotiating",
                "authenticating",
                "getting an address",
                "connected",
                "hanging up",
                "waiting to redial",
                "disconnected"
            ]
        );
        assert_eq!(state_words("teleporting-home"), "teleporting home");
        assert_eq!(state_words(""), "unknown");
    }

    #[test]
    fn state_lines() {
        let mut l = link("dialing");
        l.number = "5551234".into();
        assert_eq!(state_line(&l), "dialing 5551234");

        let mut l = link("modem-connected");
        l.connect_speed = 57_600;
        assert_eq!(state_line(&l), "modem connected CONNECT 57600");
        l.reason.details = HashMap::from([("modem-response".into(), "CONNECT 57600/V42".into())]);
        assert_eq!(state_line(&l), "modem connected CONNECT 57600/V42");

        let mut l = link("authenticating");
        assert_eq!(state_line(&l), "authenticating");
        l.authentication = "PAP".into();
        assert_eq!(state_line(&l), "authenticating (PAP)");

        assert_eq!(state_line(&link("getting-address")), "getting an address");

        let mut l = link("connected");
        l.interface = "dtn0".into();
        l.ipv4 = ("10.0.0.2".into(), "10.0.0.1".into());
        l.dns = vec!["192.0.2.53".into(), "192.0.2.54".into()];
        assert_eq!(
            state_line(&l),
            "connected: dtn0 10.0.0.2 → 10.0.0.1, DNS 192.0.2.53 192.0.2.54"
        );

        let mut l = link("waiting-to-redial");
        l.reason = StateReason::new("modem:busy", "the line is busy");
        l.reason.details = HashMap::from([("number".into(), "5551234".into())]);
        assert_eq!(
            state_line(&l),
            "waiting to redial: the line is busy (5551234)"
        );

        let mut l = link("disconnected");
        assert_eq!(state_line(&l), "disconnected");
        l.reason = StateReason::new("user", "hung up on request");
        assert_eq!(state_line(&l), "disconnected: hung up on request");
    }

    #[test]
    fn reasons_and_failures() {
        let mut r = StateReason::new("modem:busy", "the line is busy (5551234)");
        r.details = HashMap::from([("number".into(), "5551234".into())]);
        assert_eq!(reason_text(&r), "the line is busy (5551234)", "not twice");
        assert_eq!(
            failure_line(&r),
            "failed: the line is busy (5551234) [modem:busy]"
        );
        assert_eq!(failure_line(&StateReason::new("idle", "")), "failed: idle");
        assert_eq!(
            failure_line(&StateReason::none()),
            "failed: no reason given"
        );
        assert_eq!(reason_text(&StateReason::none()), "");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(60), "1 min 00 s");
        assert_eq!(duration(303), "5 min 03 s");
        assert_eq!(duration(3600 + 5 * 60 + 7), "1 h 05 min");
        assert_eq!(duration(3 * 86_400 + 4 * 3600 + 59), "3 d 4 h");
    }

    #[test]
    fn byte_counts() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1000), "1.0 kB");
        assert_eq!(bytes(1_234), "1.2 kB");
        assert_eq!(bytes(1_234_567), "1.2 MB");
        assert_eq!(bytes(999_999), "1.0 MB");
        assert_eq!(bytes(123_456_789), "123.5 MB");
        assert_eq!(bytes(3_400_000_000), "3.4 GB");
        assert_eq!(bytes(u64::MAX), "18446.7 PB");
    }

    #[test]
    fn statistics() {
        let mut l = link("connected");
        l.statistics = [
            ("rx-bytes", 1_234_567u64),
            ("rx-packets", 1),
            ("rx-errors", 2),
            ("tx-bytes", 12),
            ("tx-packets", 3),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(traffic(&l, "rx"), "1.2 MB, 1 packet, 2 errors");
        assert_eq!(traffic(&l, "tx"), "12 B, 3 packets, 0 errors");
    }

    #[test]
    fn clock_times() {
        // 2024-01-02 03:04:05.678901 UTC
        let t = 1_704_164_645_678_901;
        assert_eq!(clock(t, 0), "03:04:05.678");
        assert_eq!(clock(t, 3600), "04:04:05.678");
        assert_eq!(clock(t, -4 * 3600), "23:04:05.678");
        let e = TranscriptEntry {
            time_usec: t,
            source: "modem".into(),
            direction: "out".into(),
            text: "ATDT5551234".into(),
        };
        assert_eq!(transcript_line(&e, 0), "03:04:05.678 modem out ATDT5551234");
        let e = TranscriptEntry {
            source: "note".into(),
            direction: String::new(),
            text: "dialing".into(),
            ..e
        };
        assert_eq!(transcript_line(&e, 0), "03:04:05.678 note      dialing");
    }

    #[test]
    fn tables_line_up() {
        let t = table(
            &["ID", "NAME", "STATE"],
            &[
                vec!["isp".into(), "Example ISP".into(), "connected".into()],
                vec!["work-line".into(), "Work".into(), "disconnected".into()],
            ],
        );
        assert_eq!(
            t,
            "ID         NAME         STATE\n\
             isp        Example ISP  connected\n\
             work-line  Work         disconnected\n"
        );
        assert_eq!(
            table(&["A", "B"], &[vec!["é".into(), String::new()]]),
            "A  B\né\n"
        );
    }

    #[test]
    fn the_status_block() {
        let mut l = link("connected");
        l.device = "/dev/ttyS1".into();
        l.number = "5551234".into();
        l.interface = "dtn0".into();
        l.ipv4 = ("10.0.0.2".into(), "10.0.0.1".into());
        l.dns = vec!["192.0.2.53".into()];
        l.connect_speed = 57_600;
        l.connected_since = 1_000_000;
        l.statistics = [("rx-bytes".to_string(), 2_500u64)].into_iter().collect();
        let s = status_block(&l, "isp (Example ISP)", 1_000_000 + 125_000_000);
        assert_eq!(
            s,
            "isp (Example ISP): link 3\n\
             \x20 state          connected\n\
             \x20 device         /dev/ttyS1\n\
             \x20 number         5551234\n\
             \x20 interface      dtn0\n\
             \x20 IPv4           10.0.0.2 → 10.0.0.1\n\
             \x20 DNS            192.0.2.53\n\
             \x20 speed          57600 bps\n\
             \x20 connected for  2 min 05 s\n\
             \x20 received       2.5 kB, 0 packets, 0 errors\n\
             \x20 sent           0 B, 0 packets, 0 errors\n"
        );
        let mut l = link("disconnected");
        l.reason = StateReason::new("modem:no-carrier", "the modem lost the carrier");
        assert!(status_block(&l, "isp", 0)
            .contains("reason  the modem lost the carrier [modem:no-carrier]\n"));
    }
}
