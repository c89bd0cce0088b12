//! The answering side of a call: what an ISP's access server did, and what
//! the simulated ISP of the tests and the demo runs (the dial-in server
//! will build on it).
//!
//! [`serve`] takes a line on which a call was just answered (a modem's
//! `CONNECT`, a direct cable, the simulated modem's call), optionally
//! presents a text `login:` / `Password:` prompt as old terminal servers
//! did, then runs the PPP engine as the authenticator: it requires PAP,
//! CHAP or MS-CHAPv2 with the configured accounts, hands the caller its
//! address and DNS servers, and carries IP between the link and a TUN
//! device of its own (address `local peer remote`, no routes, no DNS
//! changes). It returns when the link goes down or the line closes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use dialtone_ppp::{Direction, DownReason, Link, LinkInfo, Role};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::UnboundedSender;

use super::pump::{LineIo, LoopEvent, PppLoop, StepCtx, WaitFor, Wake};
use super::{
    down_failure, random_seed, Clock, Connected, Failure, Progress, SessionEvent, Statistics,
    Transcript, TranscriptSource,
};
use crate::net::{LinkAddresses, Netlink, TunDevice};

/// How the answering side behaves.
#[derive(Clone, Debug)]
pub struct IspConfig {
    /// The engine's configuration: `ipcp.local` is our address,
    /// `ipcp.remote` the caller's, `ipcp.dns` the servers handed out,
    /// `auth.methods` what is required (empty: no authentication).
    pub ppp: dialtone_ppp::Config,
    /// The accounts: user name → password.
    pub accounts: BTreeMap<String, String>,
    /// Present a text `login:` / `Password:` prompt before PPP, checked
    /// against the same accounts.
    pub login_prompt: bool,
    /// The banner shown before the prompt.
    pub banner: String,
    /// How long the caller has for the text login.
    pub login_timeout: Duration,
    /// The TUN device's name or template (`dtn%d` if `None`).
    pub interface: Option<String>,
    /// The engine's seed; random if `None`.
    pub seed: Option<[u8; 32]>,
}

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallEnd {
    /// Whether the link came up.
    pub was_up: bool,
    /// Why it ended.
    pub failure: Option<Failure>,
    /// The counters.
    pub statistics: Statistics,
}

/// Answers one call on `line`. See the [module documentation](self).
pub async fn serve<L>(line: L, config: &IspConfig, events: UnboundedSender<SessionEvent>) -> CallEnd
where
    L: AsyncRead + AsyncWrite + Unpin,
{
    let clock = Clock::new();
    let stats = Arc::new(Mutex::new(Statistics::default()));
    let mut io = LineIo::new(line);
    let remainder = if config.login_prompt {
        match text_login(&mut io, config, &events).await {
            Ok(r) => r,
            Err(failure) => {
                let _ = tokio::time::timeout(Duration::from_secs(1), io.flush()).await;
                return CallEnd {
                    was_up: false,
                    failure: Some(failure),
                    statistics: Statistics::default(),
                };
            }
        }
    } else {
        Vec::new()
    };

    let accounts = config.accounts.clone();
    let link = Link::new(
        config.ppp.clone(),
        Role::Answerer {
            secrets: Box::new(move |user: &str| accounts.get(user).cloned()),
        },
        config.seed.unwrap_or_else(random_seed),
    );
    let mut ppp = PppLoop::new(link, clock, events.clone(), stats.clone());
    ppp.open(&remainder);
    let mut tun: Option<TunDevice> = None;
    let mut configured: Option<LinkAddresses> = None;
    let mut failure = None;
    let mut netlink: Option<Netlink> = None;
    let mut announced = false;
    let mut line_closed = None;
    loop {
        let mut ctx = StepCtx {
            tun: tun.as_ref().filter(|_| configured.is_some()),
            commands: None,
            carrier: None,
            limits: None,
            rewriter: None,
        };
        match ppp.step(&mut io, &mut ctx).await {
            LoopEvent::Up(info) => {
                match configure(&mut tun, &mut netlink, &mut configured, &info, config).await {
                    Ok(c) => {
                        if let Ok(mut s) = stats.lock() {
                            s.connected_since.get_or_insert_with(SystemTime::now);
                        }
                        // IPV6CP may open first: "connected" waits for IPv4
                        // unless it is off.
                        if announced {
                            let _ = events.send(SessionEvent::Progress(Progress::Changed(c)));
                        } else if info.ipv4.is_some() || !config.ppp.ipcp.enabled {
                            announced = true;
                            let _ = events.send(SessionEvent::Progress(Progress::Connected(c)));
                        }
                    }
                    Err(f) => {
                        failure.get_or_insert(f);
                        ppp.link.close("Network setup failed", clock.now());
                    }
                }
            }
            LoopEvent::Down(reason) => {
                if failure.is_none() && reason != DownReason::LocalClose {
                    failure = Some(down_failure(reason, line_closed.take()));
                }
                break;
            }
            LoopEvent::TunFailed(why) => {
                failure.get_or_insert(Failure::Network(why));
                ppp.link.close("Interface failed", clock.now());
            }
            LoopEvent::LineClosed(why) => line_closed = Some(why),
            LoopEvent::NcpFailed(reason) => {
                let _ = events.send(SessionEvent::Notice(reason.to_string()));
            }
            LoopEvent::Command(_) | LoopEvent::Limit(_) | LoopEvent::CarrierTick => {}
        }
    }
    if !io.is_closed() {
        let _ = tokio::time::timeout(Duration::from_secs(2), io.flush()).await;
    }
    drop(tun);
    let mut statistics = stats.lock().map(|s| s.clone()).unwrap_or_default();
    if let Some(since) = statistics.connected_since {
        statistics.connected_for = SystemTime::now().duration_since(since).unwrap_or_default();
    }
    let _ = events.send(SessionEvent::Progress(Progress::Disconnected {
        ending: match &failure {
            Some(f) => f.ending(),
            None => crate::policy::Ending::User,
        },
        failure: failure.clone(),
    }));
    let _ = events.send(SessionEvent::Statistics(statistics.clone()));
    CallEnd {
        was_up: configured.is_some(),
        failure,
        statistics,
    }
}

/// Creates and configures our TUN for the caller.
async fn configure(
    tun: &mut Option<TunDevice>,
    netlink: &mut Option<Netlink>,
    configured: &mut Option<LinkAddresses>,
    info: &LinkInfo,
    config: &IspConfig,
) -> Result<Connected, Failure> {
    let netf = |e: crate::net::NetError| Failure::Network(e.to_string());
    if netlink.is_none() {
        *netlink = Some(Netlink::new().await.map_err(netf)?);
    }
    let nl = netlink
        .as_ref()
        .ok_or_else(|| Failure::Network("no netlink".into()))?;
    let t = match tun {
        Some(t) => t,
        None => tun.insert(TunDevice::create(config.interface.as_deref()).map_err(netf)?),
    };
    let addrs = LinkAddresses::from_info(info);
    if configured.as_ref() != Some(&addrs) {
        nl.configure(t.index(), &addrs).await.map_err(netf)?;
        *configured = Some(addrs.clone());
    }
    let mut connected = Connected::new(t.name().to_owned(), t.index(), &addrs, info);
    connected.dns = info
        .ipv4
        .as_ref()
        .map(|v| v.dns.iter().copied().map(Into::into).collect())
        .unwrap_or_default();
    Ok(connected)
}

/// The longest user name or password line taken at the prompt.
const MAX_LOGIN_LINE: usize = 128;
/// Tries at the text prompt before the call is dropped.
const LOGIN_TRIES: usize = 3;

/// The text prompt; `Ok` with whatever followed the accepted password.
async fn text_login<L: AsyncRead + AsyncWrite + Unpin>(
    io: &mut LineIo<L>,
    config: &IspConfig,
    events: &UnboundedSender<SessionEvent>,
) -> Result<Vec<u8>, Failure> {
    let transcript = |direction, text: String| {
        let _ = events.send(SessionEvent::Transcript(Transcript {
            source: TranscriptSource::Modem,
            direction,
            text,
            at: SystemTime::now(),
        }));
    };
    let deadline = tokio::time::Instant::now() + config.login_timeout;
    let mut pending: Vec<u8> = Vec::new();
    let banner = format!("\r\n{}\r\n\r\n", config.banner);
    io.queue(banner.as_bytes());
    for _ in 0..LOGIN_TRIES {
        io.queue(b"login: ");
        transcript(Direction::Sent, "login: ".into());
        let user = read_line(io, &mut pending, deadline, true).await?;
        transcript(Direction::Received, dialtone_ppp::wire::printable(&user));
        io.queue(b"Password: ");
        transcript(Direction::Sent, "Password: ".into());
        let password = read_line(io, &mut pending, deadline, false).await?;
        transcript(Direction::Received, crate::chat::PASSWORD_MASK.into());
        let user = String::from_utf8_lossy(&user).into_owned();
        let ok = config
            .accounts
            .get(&user)
            .is_some_and(|p| p.as_bytes() == password.as_slice());
        if ok {
            io.queue(b"\r\nStarting PPP\r\n");
            transcript(Direction::Sent, "Starting PPP".into());
            return Ok(pending);
        }
        io.queue(b"\r\nLogin incorrect\r\n");
        transcript(Direction::Sent, "Login incorrect".into());
    }
    Err(Failure::Profile(format!(
        "the caller failed the text login {LOGIN_TRIES} times"
    )))
}

/// Reads one line (up to CR or LF) from the caller, echoing it if `echo`.
async fn read_line<L: AsyncRead + AsyncWrite + Unpin>(
    io: &mut LineIo<L>,
    pending: &mut Vec<u8>,
    deadline: tokio::time::Instant,
    echo: bool,
) -> Result<Vec<u8>, Failure> {
    let mut line = Vec::new();
    loop {
        while !pending.is_empty() {
            let b = pending.remove(0);
            match b {
                b'\r' | b'\n' if line.is_empty() => {}
                b'\r' | b'\n' => {
                    io.queue(b"\r\n");
                    return Ok(line);
                }
                0x08 | 0x7f if line.pop().is_some() && echo => io.queue(b"\x08 \x08"),
                0x08 | 0x7f => {}
                0x7e => {
                    // A PPP frame: the caller skipped the login.
                    return Err(Failure::Profile(
                        "the caller started PPP without logging in at the text prompt".into(),
                    ));
                }
                b if b >= 0x20 && line.len() < MAX_LOGIN_LINE => {
                    line.push(b);
                    if echo {
                        io.queue(&[b]);
                    }
                }
                _ => {}
            }
        }
        let mut wait = WaitFor::new(None);
        wait.deadline = Some(deadline);
        match io.wait(wait).await {
            Wake::Line(n) => pending.extend_from_slice(io.input(n)),
            Wake::LineClosed(why) => return Err(Failure::LineClosed(why)),
            Wake::Timer => {
                io.queue(b"\r\nTimed out\r\n");
                return Err(Failure::Profile(
                    "the caller did not log in at the text prompt in time".into(),
                ));
            }
            _ => {}
        }
    }
}
