//! `io.github.dialtone.Dialtone1.Link` on `…/Link/<n>`, and the task that
//! runs a link's session and mirrors it onto that object.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dialtone_api::dbus::{
    self, Error, LinkState, StateReason, TranscriptEntry, ACTION_CONNECT, STATISTICS_KEYS,
};
use dialtone_ppp::trace::Direction;
use dialtone_ppp::Phase;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use zbus::message::Header;
use zbus::object_server::{InterfaceRef, SignalEmitter};
use zbus::OwnedObjectPath;

use super::profile::{self, Change};
use super::{auth, store_error, Daemon, LinkEntry};
use crate::policy::{Ending, StopReason};
use crate::runtime::{
    Command, Failure, Progress, Session, SessionEnd, SessionEvent, SessionOptions, Statistics,
    TranscriptSource,
};
use crate::store::ProfileId;

/// How many transcript lines a link keeps for GetTranscript.
pub const TRANSCRIPT_LINES: usize = 2000;

/// One link's object: everything a client shows.
pub struct LinkIface {
    daemon: Arc<Daemon>,
    commands: UnboundedSender<Command>,
    profile: OwnedObjectPath,
    state: LinkState,
    reason: StateReason,
    phase: String,
    device: String,
    number: String,
    interface: String,
    ipv4: (String, String),
    ipv6: (String, String),
    dns: Vec<String>,
    default_route: bool,
    mtu: u32,
    authentication: String,
    connect_speed: u32,
    connected_since: u64,
    statistics: HashMap<String, u64>,
    attempts: u64,
    transcript: VecDeque<TranscriptEntry>,
}

fn usec(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The reason for a failure: its code, its sentence and its details.
pub fn failure_reason(f: &Failure) -> StateReason {
    StateReason {
        code: f.code(),
        message: f.to_string(),
        details: f
            .details()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

/// The reason for how a connection ended.
pub fn ending_reason(ending: &Ending, failure: Option<&Failure>) -> StateReason {
    if let Some(f) = failure {
        return failure_reason(f);
    }
    match ending {
        Ending::User => StateReason::new("user", "hung up on request"),
        Ending::Idle => StateReason::new("idle", "the link was idle"),
        Ending::MaxConnect => {
            StateReason::new("max-connect", "the maximum connect time was reached")
        }
        Ending::Failed { reason, .. } => StateReason::new("failed", reason.clone()),
    }
}

/// The reason a session stopped for good: its failure, or for a profile
/// that does not redial how its last connection ended, or the stop reason
/// in the runtime's words.
pub fn end_reason(end: &SessionEnd) -> StateReason {
    if let Some(f) = &end.failure {
        return failure_reason(f);
    }
    if let (StopReason::NoPersist, Some(e)) = (&end.stop, &end.last_ending) {
        return ending_reason(e, None);
    }
    let code = match end.stop {
        StopReason::User => "user",
        StopReason::Idle => "idle",
        StopReason::NoPersist => "ended",
        StopReason::Permanent => "permanent",
        StopReason::TooManyFailures(_) => "too-many-failures",
    };
    let mut r = StateReason::new(code, crate::runtime::describe_stop(&end.stop));
    if let StopReason::TooManyFailures(n) = end.stop {
        r.details.insert("failures".into(), n.to_string());
    }
    r
}

/// The counters as the `Statistics` property carries them.
fn statistics_map(s: &Statistics, attempts: u64) -> HashMap<String, u64> {
    let l = &s.link;
    let values = [
        l.rx_bytes,
        l.tx_bytes,
        l.rx_packets,
        l.tx_packets,
        l.fcs_errors + l.too_long + l.malformed,
        l.tx_dropped,
        s.connected_for.as_secs(),
        attempts,
    ];
    STATISTICS_KEYS
        .iter()
        .zip(values)
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Whether two device paths are the same device.
fn same_device(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Starts profile `id`'s link: publishes its object and spawns its task.
/// A profile already up answers with its running link.
pub(crate) async fn start(daemon: &Arc<Daemon>, id: &ProfileId) -> Result<u32, Error> {
    let mut state = daemon.state.lock().await;
    if let Some(n) = state.active_link(id) {
        return Ok(n);
    }
    let profile = state
        .store
        .get(id)
        .cloned()
        .ok_or_else(|| Error::NotFound(format!("the profile {id} no longer exists")))?;
    let device = std::path::PathBuf::from(&profile.line.device);
    if let Some(other) = state
        .links
        .values()
        .find(|l| l.state.is_active() && same_device(&l.device, &device))
    {
        return Err(Error::Busy(format!(
            "{} is in use by the link of the profile {}",
            device.display(),
            other.profile
        )));
    }
    let password = state.store.password(id).map_err(store_error)?;
    let n = state.next_link;
    state.next_link += 1;
    let (commands, commands_rx) = unbounded_channel();
    let (events_tx, events) = unbounded_channel();
    let mut opts = SessionOptions::new(daemon.dns.clone());
    opts.lock_dir = daemon.config.lock_dir.clone();
    opts.interface = daemon.config.interface.clone();
    opts.recover_dns = false;
    opts.route_journal = Some(crate::net::RouteJournal::new(&daemon.config.state_dir));
    opts.terminate_grace = daemon.config.terminate_grace;
    let session = Session::new(profile, password, opts, events_tx);
    let stats = session.statistics();
    let iface = LinkIface {
        daemon: daemon.clone(),
        commands: commands.clone(),
        profile: Daemon::object_path(dbus::profile_path(id.as_ref())),
        state: LinkState::Opening,
        reason: StateReason::none(),
        phase: "dead".into(),
        device: device.display().to_string(),
        number: String::new(),
        interface: String::new(),
        ipv4: Default::default(),
        ipv6: Default::default(),
        dns: Vec::new(),
        default_route: false,
        mtu: 0,
        authentication: String::new(),
        connect_speed: 0,
        connected_since: 0,
        statistics: statistics_map(&Statistics::default(), 0),
        attempts: 0,
        transcript: VecDeque::new(),
    };
    // Ended links of this profile are superseded by the new one.
    let superseded: Vec<u32> = state
        .links
        .iter()
        .filter(|(_, l)| &l.profile == id && !l.state.is_active())
        .map(|(n, _)| *n)
        .collect();
    let server = daemon.conn.object_server();
    for old in &superseded {
        state.links.remove(old);
        let _ = server
            .remove::<LinkIface, _>(dbus::link_path(*old).as_str())
            .await;
    }
    server
        .at(dbus::link_path(n).as_str(), iface)
        .await
        .map_err(|e| Error::Failed(format!("publishing the link: {e}")))?;
    state.links.insert(
        n,
        LinkEntry {
            profile: id.clone(),
            commands,
            state: LinkState::Opening,
            device,
        },
    );
    drop(state);
    tokio::spawn(drive(
        daemon.clone(),
        n,
        id.clone(),
        session,
        commands_rx,
        events,
        stats,
    ));
    Ok(n)
}

/// Runs the session and mirrors its events onto the link's object.
async fn drive(
    daemon: Arc<Daemon>,
    n: u32,
    id: ProfileId,
    session: Session,
    commands: UnboundedReceiver<Command>,
    mut events: UnboundedReceiver<SessionEvent>,
    stats: Arc<Mutex<Statistics>>,
) {
    let path = dbus::link_path(n);
    let iref = daemon
        .conn
        .object_server()
        .interface::<_, LinkIface>(path.as_str())
        .await
        .ok();
    let mut run = tokio::spawn(session.run(commands));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let end = loop {
        tokio::select! {
            end = &mut run => break end,
            Some(ev) = events.recv() => {
                if let Some(iref) = &iref {
                    apply(&daemon, iref, n, ev).await;
                }
            }
            _ = tick.tick() => {
                if let Some(iref) = &iref {
                    publish_statistics(iref, &stats).await;
                }
            }
        }
    };
    while let Ok(ev) = events.try_recv() {
        if let Some(iref) = &iref {
            apply(&daemon, iref, n, ev).await;
        }
    }
    let reason = match &end {
        Ok(end) => end_reason(end),
        Err(e) => StateReason::new("internal", format!("the link's task failed: {e}")),
    };
    // The daemon's count first: a client that sees the link disconnected
    // and then reads ActiveLinks must not still find it counted.
    {
        let mut state = daemon.state.lock().await;
        if let Some(l) = state.links.get_mut(&n) {
            l.state = LinkState::Disconnected;
        }
    }
    if let Some(iref) = &iref {
        publish_statistics(iref, &stats).await;
        let mut link = iref.get_mut().await;
        link.reason = reason;
        link.state = LinkState::Disconnected;
        link.phase = "dead".into();
        let e = iref.signal_emitter();
        let _ = link.state_reason_changed(e).await;
        let _ = link.state_changed(e).await;
        let _ = link.phase_changed(e).await;
    }
    daemon.touch();
    profile::notify(&daemon, &id, &[Change::Links]).await;
    announce_active_links(&daemon).await;
}

/// Emits the Manager's ActiveLinks change.
async fn announce_active_links(daemon: &Arc<Daemon>) {
    if let Ok(m) = daemon
        .conn
        .object_server()
        .interface::<_, super::manager::ManagerIface>(dbus::ROOT_PATH)
        .await
    {
        let _ = m.get().await.active_links_changed(m.signal_emitter()).await;
    }
}

/// Updates the Statistics property if the counters moved.
async fn publish_statistics(iref: &InterfaceRef<LinkIface>, stats: &Arc<Mutex<Statistics>>) {
    let Ok(now) = stats.lock().map(|s| s.clone()) else {
        return;
    };
    iref.get_mut()
        .await
        .set_statistics(&now, iref.signal_emitter())
        .await;
}

/// The property a change touched, to announce.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prop {
    State,
    Reason,
    Phase,
    Number,
    Interface,
    Addresses,
    Speed,
    Since,
}

/// Applies one session event to the link's object and announces it.
async fn apply(daemon: &Arc<Daemon>, iref: &InterfaceRef<LinkIface>, n: u32, ev: SessionEvent) {
    let emitter = iref.signal_emitter();
    let mut link = iref.get_mut().await;
    let mut changed: Vec<Prop> = Vec::new();
    let set_state = |link: &mut LinkIface, s: LinkState, changed: &mut Vec<Prop>| {
        if link.state != s {
            link.state = s;
            changed.push(Prop::State);
        }
    };
    match ev {
        SessionEvent::Transcript(t) => {
            let entry = TranscriptEntry {
                time_usec: usec(t.at),
                source: match t.source {
                    TranscriptSource::Modem => "modem",
                    TranscriptSource::Ppp => "ppp",
                }
                .into(),
                direction: match t.direction {
                    Direction::Sent => "out",
                    Direction::Received => "in",
                }
                .into(),
                text: t.text,
            };
            link.push_transcript(emitter, entry).await;
        }
        SessionEvent::Notice(text) => {
            let entry = TranscriptEntry {
                time_usec: usec(SystemTime::now()),
                source: "note".into(),
                direction: String::new(),
                text,
            };
            link.push_transcript(emitter, entry).await;
        }
        SessionEvent::Statistics(s) => link.set_statistics(&s, emitter).await,
        SessionEvent::Progress(p) => {
            // Every state change is also a transcript note, so the log
            // reads as a story.
            let note = TranscriptEntry {
                time_usec: usec(SystemTime::now()),
                source: "note".into(),
                direction: String::new(),
                text: p.to_string(),
            };
            match p {
                Progress::WaitingForTraffic { interface } => {
                    set_state(&mut link, LinkState::WaitingForTraffic, &mut changed);
                    link.interface = interface;
                    changed.push(Prop::Interface);
                }
                Progress::Opening { device } => {
                    set_state(&mut link, LinkState::Opening, &mut changed);
                    link.device = device.display().to_string();
                    link.attempts += 1;
                    if !link.reason.code.is_empty() {
                        link.reason = StateReason::none();
                        changed.push(Prop::Reason);
                    }
                }
                Progress::Dialing { number, .. } => {
                    set_state(&mut link, LinkState::Dialing, &mut changed);
                    link.number = number;
                    changed.push(Prop::Number);
                }
                Progress::ModemConnected { speed, .. } => {
                    set_state(&mut link, LinkState::ModemConnected, &mut changed);
                    link.connect_speed = speed.unwrap_or(0);
                    changed.push(Prop::Speed);
                }
                Progress::Phase(phase) => {
                    let (word, state) = match phase {
                        Phase::Dead => ("dead", None),
                        Phase::Establish => ("establish", Some(LinkState::Negotiating)),
                        Phase::Authenticate => ("authenticate", Some(LinkState::Authenticating)),
                        Phase::Network => ("network", Some(LinkState::GettingAddress)),
                        Phase::Terminate => ("terminate", Some(LinkState::Disconnecting)),
                    };
                    if link.phase != word {
                        link.phase = word.into();
                        changed.push(Prop::Phase);
                    }
                    // A renegotiation of an up link stays "connected"
                    // until it fails or finishes.
                    if let Some(s) = state {
                        if link.state != LinkState::Connected || s == LinkState::Disconnecting {
                            set_state(&mut link, s, &mut changed);
                        }
                    }
                }
                Progress::Connected(c) | Progress::Changed(c) => {
                    set_state(&mut link, LinkState::Connected, &mut changed);
                    link.phase = "running".into();
                    changed.push(Prop::Phase);
                    link.interface = c.interface.clone();
                    link.ipv4 = (
                        c.local.map(|a| a.to_string()).unwrap_or_default(),
                        c.remote.map(|a| a.to_string()).unwrap_or_default(),
                    );
                    link.ipv6 = (
                        c.local_ipv6.map(|a| a.to_string()).unwrap_or_default(),
                        c.remote_ipv6.map(|a| a.to_string()).unwrap_or_default(),
                    );
                    link.dns = c.dns.iter().map(ToString::to_string).collect();
                    link.default_route = c.default_route;
                    link.mtu = u32::from(c.mtu);
                    link.authentication = c.auth.map(|m| m.to_string()).unwrap_or_default();
                    if let Some(speed) = c.speed {
                        link.connect_speed = speed;
                        changed.push(Prop::Speed);
                    }
                    if link.connected_since == 0 {
                        link.connected_since = usec(SystemTime::now());
                        changed.push(Prop::Since);
                    }
                    changed.push(Prop::Interface);
                    changed.push(Prop::Addresses);
                }
                Progress::Disconnecting { why } => {
                    set_state(&mut link, LinkState::Disconnecting, &mut changed);
                    link.reason = StateReason::new("disconnecting", why);
                    changed.push(Prop::Reason);
                }
                Progress::Disconnected { ending, failure } => {
                    link.reason = ending_reason(&ending, failure.as_ref());
                    changed.push(Prop::Reason);
                    link.clear_connection(&mut changed);
                }
                Progress::Redialing { after, failures } => {
                    set_state(&mut link, LinkState::WaitingToRedial, &mut changed);
                    link.reason
                        .details
                        .insert("redial-in".into(), after.as_secs().to_string());
                    link.reason
                        .details
                        .insert("failures".into(), failures.to_string());
                    changed.push(Prop::Reason);
                }
                Progress::Stopped(_) => {}
            }
            link.push_transcript(emitter, note).await;
        }
    }
    let state_changed = changed.contains(&Prop::State);
    for prop in dedup(changed) {
        let r = match prop {
            Prop::State => link.state_changed(emitter).await,
            Prop::Reason => link.state_reason_changed(emitter).await,
            Prop::Phase => link.phase_changed(emitter).await,
            Prop::Number => link.number_changed(emitter).await,
            Prop::Interface => link.interface_changed(emitter).await,
            Prop::Speed => link.connect_speed_changed(emitter).await,
            Prop::Since => link.connected_since_changed(emitter).await,
            Prop::Addresses => {
                let mut r = link.ipv4_changed(emitter).await;
                r = r.and(link.ipv6_changed(emitter).await);
                r = r.and(link.dns_changed(emitter).await);
                r = r.and(link.default_route_changed(emitter).await);
                r = r.and(link.mtu_changed(emitter).await);
                r.and(link.authentication_changed(emitter).await)
            }
        };
        if let Err(e) = r {
            eprintln!("dialtoned: could not announce a change of link {n}: {e}");
        }
    }
    // The daemon's copy of the state (for ActiveLink and the idle check)
    // only when it moved, not for every transcript line.
    if state_changed {
        let state = link.state;
        drop(link);
        if let Some(l) = daemon.state.lock().await.links.get_mut(&n) {
            l.state = state;
        }
    }
}

fn dedup(v: Vec<Prop>) -> Vec<Prop> {
    let mut out: Vec<Prop> = Vec::new();
    for p in v {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

impl LinkIface {
    /// Takes the session's counters, and announces them if they moved.
    async fn set_statistics(&mut self, stats: &Statistics, emitter: &SignalEmitter<'_>) {
        let map = statistics_map(stats, self.attempts);
        if map != self.statistics {
            self.statistics = map;
            if let Err(e) = self.statistics_changed(emitter).await {
                eprintln!("dialtoned: could not announce the statistics: {e}");
            }
        }
    }

    /// Keeps a transcript line and sends the Transcript signal.
    async fn push_transcript(&mut self, emitter: &SignalEmitter<'_>, entry: TranscriptEntry) {
        if self.transcript.len() == TRANSCRIPT_LINES {
            self.transcript.pop_front();
        }
        self.transcript.push_back(entry.clone());
        if let Err(e) = LinkIface::transcript(emitter, entry).await {
            eprintln!("dialtoned: could not send a transcript line: {e}");
        }
    }

    /// Forgets an ended connection's addresses.
    fn clear_connection(&mut self, changed: &mut Vec<Prop>) {
        self.interface.clear();
        self.ipv4 = Default::default();
        self.ipv6 = Default::default();
        self.dns.clear();
        self.default_route = false;
        self.mtu = 0;
        self.authentication.clear();
        self.connected_since = 0;
        self.connect_speed = 0;
        changed.extend([Prop::Interface, Prop::Addresses, Prop::Since, Prop::Speed]);
    }
}

#[zbus::interface(name = "io.github.dialtone.Dialtone1.Link")]
impl LinkIface {
    /// Hangs up. Hanging up an ended link does nothing.
    async fn disconnect(&self, #[zbus(header)] header: Header<'_>) -> Result<(), Error> {
        self.daemon.touch();
        auth::authorize(&self.daemon.conn, &header, ACTION_CONNECT).await?;
        if self.state.is_active() {
            // A session that just ended has dropped its receiver: then
            // there is nothing left to hang up.
            let _ = self.commands.send(Command::Disconnect);
        }
        Ok(())
    }

    /// The transcript so far.
    fn get_transcript(&self) -> Vec<TranscriptEntry> {
        self.transcript.iter().cloned().collect()
    }

    /// A new transcript line.
    #[zbus(signal)]
    async fn transcript(emitter: &SignalEmitter<'_>, entry: TranscriptEntry) -> zbus::Result<()>;

    /// The profile.
    #[zbus(property)]
    fn profile(&self) -> OwnedObjectPath {
        self.profile.clone()
    }

    /// The state word.
    #[zbus(property)]
    fn state(&self) -> String {
        self.state.as_str().to_string()
    }

    /// Why.
    #[zbus(property)]
    fn state_reason(&self) -> StateReason {
        self.reason.clone()
    }

    /// The PPP phase.
    #[zbus(property)]
    fn phase(&self) -> String {
        self.phase.clone()
    }

    /// The serial device.
    #[zbus(property)]
    fn device(&self) -> String {
        self.device.clone()
    }

    /// The number dialed.
    #[zbus(property)]
    fn number(&self) -> String {
        self.number.clone()
    }

    /// The network interface.
    #[zbus(property)]
    fn interface(&self) -> String {
        self.interface.clone()
    }

    /// (local, peer) IPv4.
    #[zbus(property)]
    fn ipv4(&self) -> (String, String) {
        self.ipv4.clone()
    }

    /// (local, peer) IPv6 link-local.
    #[zbus(property)]
    fn ipv6(&self) -> (String, String) {
        self.ipv6.clone()
    }

    /// DNS servers in use.
    #[zbus(property)]
    fn dns(&self) -> Vec<String> {
        self.dns.clone()
    }

    /// Whether the default route goes through the link.
    #[zbus(property)]
    fn default_route(&self) -> bool {
        self.default_route
    }

    /// The MTU.
    #[zbus(property)]
    fn mtu(&self) -> u32 {
        self.mtu
    }

    /// The authentication used.
    #[zbus(property)]
    fn authentication(&self) -> String {
        self.authentication.clone()
    }

    /// The CONNECT speed.
    #[zbus(property)]
    fn connect_speed(&self) -> u32 {
        self.connect_speed
    }

    /// When the link came up (µs since the epoch), or 0.
    #[zbus(property)]
    fn connected_since(&self) -> u64 {
        self.connected_since
    }

    /// The counters.
    #[zbus(property)]
    fn statistics(&self) -> HashMap<String, u64> {
        self.statistics.clone()
    }
}
