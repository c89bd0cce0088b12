//! One profile's session on the dialing side: lock, open, dial, PPP, the
//! interface, and the policies around it. See the [module
//! documentation](super).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use dialtone_api::profile::{Carrier, Profile};
use dialtone_ppp::{Credentials, DownReason, Link, LinkInfo, Role};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::pump::{describe_io, LineIo, LoopEvent, PppLoop, StepCtx, WaitFor, Wake};
use super::{
    down_failure, random_seed, Clock, Command, Connected, Failure, Progress, SessionEvent,
    Statistics, Transcript, TranscriptSource,
};
use crate::chat::{Chat, ChatEvent};

/// The IPCP protocol number.
const IPCP: u16 = 0x8021;
use crate::demand::{self, AddressRewriter, DemandQueue};
use crate::dns::{Dns, DnsGuard, DnsSettings};
use crate::lock::{self, DeviceLock};
use crate::net::{
    LinkAddresses, Netlink, RouteGuard, RouteJournal, TunDevice, TunPackets, IPV6_MIN_MTU,
};
use crate::policy::{Ending, Limits, Next, Redial, StopReason};
use crate::serial::{self, CarrierMonitor, SerialLine};

/// How a session reaches the system: paths and knobs that are not part of
/// a profile.
#[derive(Debug)]
pub struct SessionOptions {
    /// Use this device instead of the profile's (`pppd call isp
    /// /dev/ttyUSB1`).
    pub device_override: Option<PathBuf>,
    /// Where UUCP lock files go (`/run/lock`).
    pub lock_dir: PathBuf,
    /// DNS: systemd-resolved or the managed resolv.conf.
    pub dns: Arc<Dns>,
    /// The TUN device's name or kernel template (`dtn%d` if `None`).
    pub interface: Option<String>,
    /// The engine's seed; random if `None`.
    pub seed: Option<[u8; 32]>,
    /// How often DCD is read on a modem line that has modem-control lines.
    pub carrier_poll: Duration,
    /// The silence around `+++` when DTR cannot hang up.
    pub escape_guard: Duration,
    /// How long a Disconnect may wait for the peer to acknowledge the LCP
    /// Terminate-Request before the line is dropped anyway.
    pub terminate_grace: Duration,
    /// Whether the session restores a resolver configuration left behind
    /// by an earlier run before it starts (`dialtoned run`). The service
    /// does that once at start-up instead: with several links up, one
    /// session must not restore the file another has just set.
    pub recover_dns: bool,
    /// Where the default routes that a link replaces are journaled, so
    /// that they can be put back should the process die with the link up
    /// (see [`RouteJournal`]); not journaled if `None`. Putting them back
    /// ([`RouteJournal::recover`]) is the caller's part, once, before any
    /// session starts.
    pub route_journal: Option<RouteJournal>,
}

impl SessionOptions {
    /// Defaults for a system: `/run/lock`, the given DNS, carrier read
    /// every second.
    pub fn new(dns: Arc<Dns>) -> SessionOptions {
        SessionOptions {
            device_override: None,
            lock_dir: PathBuf::from("/run/lock"),
            dns,
            interface: None,
            seed: None,
            carrier_poll: Duration::from_secs(1),
            escape_guard: serial::DEFAULT_ESCAPE_GUARD,
            terminate_grace: Duration::from_secs(10),
            recover_dns: true,
            route_journal: None,
        }
    }
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEnd {
    /// Why it stopped.
    pub stop: StopReason,
    /// The last failure, if the last connection failed.
    pub failure: Option<Failure>,
    /// How the last connection (or attempt) ended, if there was one.
    pub last_ending: Option<Ending>,
}

impl SessionEnd {
    /// The exit status for `dialtoned run`: 0 for a requested hang-up,
    /// else pppd's numbers: 12 for an idle link, 13 for the connect-time
    /// limit, the failure's code otherwise. (pppd exits 5 when stopped by a
    /// signal; a hang-up the user asked for is a success here.)
    pub fn exit_code(&self) -> u8 {
        match (&self.stop, &self.failure) {
            (StopReason::User, _) => 0,
            (StopReason::Idle, _) => 12,
            (_, None) if self.last_ending == Some(Ending::MaxConnect) => 13,
            (_, Some(f)) => f.exit_code(),
            (StopReason::TooManyFailures(_), None) => 1,
            (_, None) => 0,
        }
    }
}

/// One profile's session. See the [module documentation](super).
pub struct Session {
    profile: Profile,
    password: String,
    opts: SessionOptions,
    events: UnboundedSender<SessionEvent>,
    stats: Arc<Mutex<Statistics>>,
    clock: Clock,
}

/// The result of one attempt.
struct Attempt {
    ending: Ending,
    was_up: bool,
    failure: Option<Failure>,
    /// The user asked to stop.
    stop: bool,
}

impl Attempt {
    fn failed(failure: Failure) -> Attempt {
        Attempt {
            ending: failure.ending(),
            was_up: false,
            failure: Some(failure),
            stop: false,
        }
    }

    fn user() -> Attempt {
        Attempt {
            ending: Ending::User,
            was_up: false,
            failure: None,
            stop: true,
        }
    }
}

/// The demand-dialing interface, alive for the whole session.
struct Demand {
    tun: TunDevice,
    queue: DemandQueue,
    rewriter: AddressRewriter,
    route: Option<RouteGuard>,
    dns: Option<DnsGuard>,
}

impl Session {
    /// A session for `profile` with its `password` (empty if it has none),
    /// reporting on `events`.
    pub fn new(
        profile: Profile,
        password: String,
        opts: SessionOptions,
        events: UnboundedSender<SessionEvent>,
    ) -> Session {
        Session {
            profile,
            password,
            opts,
            events,
            stats: Arc::new(Mutex::new(Statistics::default())),
            clock: Clock::new(),
        }
    }

    /// The counters of the current connection, updated as it runs.
    pub fn statistics(&self) -> Arc<Mutex<Statistics>> {
        self.stats.clone()
    }

    fn emit(&self, ev: SessionEvent) {
        let _ = self.events.send(ev);
    }

    fn progress(&self, p: Progress) {
        self.emit(SessionEvent::Progress(p));
    }

    fn notice(&self, text: impl Into<String>) {
        self.emit(SessionEvent::Notice(text.into()));
    }

    /// Runs the session until it stops: the user's [`Command::Disconnect`]
    /// (or every command sender dropped while waiting to redial), a failure
    /// with no redial, or the policies saying so.
    pub async fn run(self, mut commands: UnboundedReceiver<Command>) -> SessionEnd {
        let netlink = match Netlink::new().await {
            Ok(n) => n,
            Err(e) => {
                return self.stopped(StopReason::Permanent, Some(Failure::Network(e.to_string())))
            }
        };
        let recovered = match self.opts.recover_dns {
            true => self.opts.dns.recover().await,
            false => Ok(false),
        };
        match recovered {
            Ok(true) => {
                self.notice("restored a resolver configuration left behind by an earlier run")
            }
            Ok(false) => {}
            Err(e) => self.notice(format!(
                "could not restore an earlier resolver configuration: {e}"
            )),
        }
        let mut redial = Redial::new(&self.profile.policy);
        let mut demand = None;
        if self.profile.policy.demand {
            match self.start_demand(&netlink).await {
                Ok(d) => demand = Some(d),
                Err(f) => return self.stopped(StopReason::Permanent, Some(f)),
            }
        }
        let mut last_failure = None;
        let mut last_ending = None;
        let stop = loop {
            if let Some(d) = demand.as_mut() {
                self.progress(Progress::WaitingForTraffic {
                    interface: d.tun.name().to_owned(),
                });
                if !self.wait_for_traffic(d, &mut commands).await {
                    break StopReason::User;
                }
            }
            let attempt = self.attempt(&netlink, demand.as_mut(), &mut commands).await;
            self.progress(Progress::Disconnected {
                ending: attempt.ending.clone(),
                failure: attempt.failure.clone(),
            });
            if let Ok(stats) = self.stats.lock() {
                self.emit(SessionEvent::Statistics(stats.clone()));
            }
            last_failure = attempt.failure.clone();
            last_ending = Some(attempt.ending.clone());
            if attempt.stop {
                break StopReason::User;
            }
            let now = self.clock.now();
            match redial.after(&attempt.ending, attempt.was_up, now) {
                Next::Stop(reason) => break reason,
                Next::WaitForTraffic => {}
                Next::RedialAt(at) => {
                    self.progress(Progress::Redialing {
                        after: at.saturating_duration_since(now),
                        failures: redial.failures(),
                    });
                    let sleep = tokio::time::sleep_until(self.clock.at(at));
                    tokio::select! {
                        _ = sleep => {}
                        c = commands.recv() => {
                            if matches!(c, Some(Command::Disconnect | Command::Abort)) {
                                break StopReason::User;
                            }
                        }
                    }
                }
            }
        };
        if let Some(d) = demand {
            self.stop_demand(d).await;
        }
        let failure = if stop == StopReason::User {
            None
        } else {
            last_failure
        };
        let mut end = self.stopped(stop, failure);
        end.last_ending = last_ending;
        end
    }

    fn stopped(&self, stop: StopReason, failure: Option<Failure>) -> SessionEnd {
        self.progress(Progress::Stopped(stop.clone()));
        SessionEnd {
            stop,
            failure,
            last_ending: None,
        }
    }

    fn device(&self) -> PathBuf {
        self.opts
            .device_override
            .clone()
            .unwrap_or_else(|| PathBuf::from(&self.profile.line.device))
    }

    /// One connection: lock, open, dial, PPP until down, teardown.
    async fn attempt(
        &self,
        netlink: &Netlink,
        demand: Option<&mut Demand>,
        commands: &mut UnboundedReceiver<Command>,
    ) -> Attempt {
        if let Ok(mut s) = self.stats.lock() {
            *s = Statistics::default();
        }
        let device = self.device();
        self.progress(Progress::Opening {
            device: device.clone(),
        });
        let lock = match lock::acquire(&self.opts.lock_dir, &device) {
            Ok(l) => l,
            Err(e @ lock::LockError::InUse { .. }) => {
                return Attempt::failed(Failure::DeviceBusy(e.to_string()))
            }
            Err(e) => return Attempt::failed(Failure::DeviceUnavailable(e.to_string())),
        };
        if let Some(n) = lock.takeover_notice() {
            self.notice(n);
        }
        let serial =
            match SerialLine::open(&self.profile.line, self.opts.device_override.as_deref()) {
                Ok(s) => s,
                Err(e) => {
                    release(lock, self);
                    return Attempt::failed(Failure::DeviceUnavailable(e.to_string()));
                }
            };
        let mut io = LineIo::new(serial);
        let result = self.connect(&mut io, netlink, demand, commands).await;
        if self.profile.modem.is_some() && !io.is_closed() {
            self.hang_up(&mut io).await;
        }
        drop(io);
        release(lock, self);
        result
    }

    /// Hangs the modem up: DTR, or `+++` and `ATH`.
    async fn hang_up(&self, io: &mut LineIo<SerialLine>) {
        if io.flush().await.is_err() {
            return;
        }
        match serial::hang_up(&mut io.line, self.opts.escape_guard).await {
            Ok(serial::HangUpMethod::Dtr) => {}
            Ok(serial::HangUpMethod::Escape) => {
                self.transcript_modem(dialtone_ppp::Direction::Sent, "+++ ATH\\r".into());
            }
            Err(e) => self.notice(format!("could not hang the modem up: {}", describe_io(&e))),
        }
    }

    fn transcript_modem(&self, direction: dialtone_ppp::Direction, text: String) {
        self.emit(SessionEvent::Transcript(Transcript {
            source: TranscriptSource::Modem,
            direction,
            text,
            at: SystemTime::now(),
        }));
    }

    /// Dial and run PPP on an open line.
    async fn connect(
        &self,
        io: &mut LineIo<SerialLine>,
        netlink: &Netlink,
        mut demand: Option<&mut Demand>,
        commands: &mut UnboundedReceiver<Command>,
    ) -> Attempt {
        let has_lines = io.line.has_modem_lines();
        if has_lines == Some(false) && self.profile.line.carrier == Carrier::Modem {
            self.notice(serial::NO_MODEM_LINES_NOTICE);
        }
        // The modem conversation and the text login.
        let remainder = if self.profile.modem.is_some() || !self.profile.login.is_empty() {
            match self.chat(io, commands).await {
                Ok(r) => r,
                Err(a) => return a,
            }
        } else {
            Vec::new()
        };

        // PPP.
        let credentials =
            (!self.profile.user.is_empty() || !self.password.is_empty()).then(|| Credentials {
                user: self.profile.user.clone(),
                password: self.password.clone(),
            });
        let link = Link::new(
            self.profile.ppp.clone(),
            Role::Dialer { credentials },
            self.opts.seed.unwrap_or_else(random_seed),
        );
        let mut ppp = PppLoop::new(link, self.clock, self.events.clone(), self.stats.clone());
        ppp.open(&remainder);

        let mut carrier = (self.profile.line.carrier == Carrier::Modem && has_lines != Some(false))
            .then(|| {
                let mut i = tokio::time::interval(self.opts.carrier_poll);
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                i
            });
        let mut monitor = CarrierMonitor::new(self.profile.line.carrier);
        let mut net = NetUp::default();
        let mut limits: Option<Limits> = None;
        let mut failure: Option<Failure> = None;
        let mut ending: Option<Ending> = None;
        let mut stop = false;
        let mut closing_since: Option<tokio::time::Instant> = None;
        let mut commands_open = true;
        let mut announced = false;
        let mut unannounced: Option<Connected> = None;
        let mut ipcp_failed = false;
        let mut line_closed: Option<String> = None;

        loop {
            let (tun, rewriter) = match demand.as_deref_mut() {
                Some(d) => (Some(&d.tun), Some(&mut d.rewriter)),
                None => (net.tun.as_ref(), None),
            };
            let configured = net.configured;
            let mut ctx = StepCtx {
                tun: tun.filter(|_| configured),
                commands: if commands_open {
                    Some(&mut *commands)
                } else {
                    None
                },
                carrier: carrier.as_mut(),
                limits: limits.as_mut(),
                rewriter: rewriter.filter(|_| configured),
            };
            let grace = closing_since.map(|t| t + self.opts.terminate_grace);
            let event = match grace {
                Some(g) => tokio::select! {
                    ev = ppp.step(io, &mut ctx) => ev,
                    _ = tokio::time::sleep_until(g) => LoopEvent::Down(DownReason::LocalClose),
                },
                None => ppp.step(io, &mut ctx).await,
            };
            if ctx.commands.is_none() {
                commands_open = false;
            }
            match event {
                LoopEvent::Up(info) => {
                    let first = !net.configured;
                    match self
                        .network_up(netlink, &mut net, demand.as_deref_mut(), &info)
                        .await
                    {
                        Ok(connected) => {
                            if first {
                                let now = self.clock.now();
                                limits = Some(Limits::new(&self.profile.policy, now));
                                if let Ok(mut s) = self.stats.lock() {
                                    s.connected_since = Some(SystemTime::now());
                                }
                                if let Some(d) = demand.as_deref_mut() {
                                    for pkt in d.queue.drain(now) {
                                        let mut pkt = pkt;
                                        d.rewriter.outbound(&mut pkt, now);
                                        let _ = ppp.send_ip(&pkt);
                                    }
                                }
                            }
                            // IPv6 may open before IPCP: "connected" waits for
                            // the IPv4 address unless IPv4 is off or failed.
                            let waiting_for_ipv4 = info.ipv4.is_none()
                                && self.profile.ppp.ipcp.enabled
                                && !ipcp_failed;
                            if announced {
                                self.progress(Progress::Changed(connected));
                            } else if waiting_for_ipv4 {
                                unannounced = Some(connected);
                            } else {
                                announced = true;
                                unannounced = None;
                                self.progress(Progress::Connected(connected));
                            }
                        }
                        Err(f) => {
                            self.notice(format!("{f}; closing the link"));
                            failure.get_or_insert(f);
                            ppp.link.close("Network setup failed", self.clock.now());
                            closing_since.get_or_insert_with(tokio::time::Instant::now);
                        }
                    }
                }
                LoopEvent::LineClosed(why) => line_closed = Some(why),
                LoopEvent::NcpFailed(reason) => {
                    self.notice(reason.to_string());
                    if ncp_protocol(&reason) == Some(IPCP) {
                        ipcp_failed = true;
                    }
                    if let Some(c) = unannounced.take().filter(|_| ipcp_failed) {
                        announced = true;
                        self.progress(Progress::Connected(c));
                    }
                }
                LoopEvent::Down(reason) => {
                    if failure.is_none() && ending.is_none() && reason != DownReason::LocalClose {
                        // Our own packets coming back right after a text
                        // login: the server refused it and echoes a new
                        // login prompt (a real loop-back has no login).
                        let refused = reason == DownReason::LoopedBack
                            && !self.profile.login.is_empty()
                            && !net.configured;
                        failure = Some(if refused {
                            Failure::Modem(crate::chat::ChatError::LoginRefused)
                        } else {
                            down_failure(reason, line_closed.take())
                        });
                    }
                    break;
                }
                LoopEvent::Command(Command::Disconnect) => {
                    if ending.is_none() {
                        self.progress(Progress::Disconnecting {
                            why: "hanging up on request".into(),
                        });
                    }
                    ending.get_or_insert(Ending::User);
                    stop = true;
                    ppp.link.close("User request", self.clock.now());
                    closing_since.get_or_insert_with(tokio::time::Instant::now);
                }
                LoopEvent::Command(Command::Abort) => {
                    ending.get_or_insert(Ending::User);
                    stop = true;
                    break;
                }
                LoopEvent::Limit(limit) => {
                    let (why, msg) = match limit {
                        Ending::MaxConnect => (
                            "the maximum connect time was reached",
                            "Connect time expired",
                        ),
                        _ => ("the link was idle", "Idle timeout"),
                    };
                    if ending.is_none() {
                        self.progress(Progress::Disconnecting { why: why.into() });
                        ending = Some(limit);
                    }
                    limits = None;
                    ppp.link.close(msg, self.clock.now());
                    closing_since.get_or_insert_with(tokio::time::Instant::now);
                }
                LoopEvent::CarrierTick => {
                    let reading = monitor.poll(&mut io.line);
                    if let Some(text) = reading.notice {
                        self.notice(text);
                    }
                    if matches!(
                        reading.state,
                        None | Some(serial::CarrierState::Unsupported)
                    ) {
                        carrier = None;
                    }
                    if !reading.up {
                        failure.get_or_insert(Failure::CarrierLost);
                        carrier = None;
                        ppp.link.lower_down(self.clock.now());
                    }
                }
                LoopEvent::TunFailed(why) => {
                    failure.get_or_insert(Failure::Network(format!(
                        "the network interface failed: {why}"
                    )));
                    ppp.link.close("Interface failed", self.clock.now());
                    closing_since.get_or_insert_with(tokio::time::Instant::now);
                }
            }
        }
        let was_up = net.configured;
        if let Ok(mut s) = self.stats.lock() {
            if let Some(since) = s.connected_since {
                s.connected_for = SystemTime::now().duration_since(since).unwrap_or_default();
            }
        }
        // Anything still queued (the Terminate-Ack) goes out before the
        // hang-up; a line that takes nothing more is not waited for.
        if !io.is_closed() {
            let _ = tokio::time::timeout(Duration::from_secs(2), io.flush()).await;
        }
        self.network_down(netlink, net, demand).await;
        let ending = match (ending, &failure) {
            (Some(e), _) => e,
            (None, Some(f)) => f.ending(),
            (None, None) => Ending::User,
        };
        let failure = match ending {
            Ending::User | Ending::Idle | Ending::MaxConnect => None,
            Ending::Failed { .. } => failure,
        };
        Attempt {
            ending,
            was_up,
            failure,
            stop,
        }
    }

    /// The modem conversation; `Ok` with the bytes that followed it.
    async fn chat(
        &self,
        io: &mut LineIo<SerialLine>,
        commands: &mut UnboundedReceiver<Command>,
    ) -> Result<Vec<u8>, Attempt> {
        let now = self.clock.now();
        let p = &self.profile;
        let mut chat = match &p.modem {
            Some(modem) => Chat::new(modem, &p.login, &p.user, &self.password, now),
            None => Chat::login_only(&p.login, &p.user, &self.password, now),
        };
        let numbers = p.modem.as_ref().map_or(0, |m| m.numbers.len());
        let mut commands_open = true;
        loop {
            while let Some(bytes) = chat.poll_transmit() {
                io.queue(&bytes);
            }
            while let Some(ev) = chat.poll_event() {
                match ev {
                    ChatEvent::Transcript { direction, text } => {
                        self.transcript_modem(direction, text)
                    }
                    ChatEvent::Dialing { number, attempt } => self.progress(Progress::Dialing {
                        number,
                        attempt,
                        of: numbers,
                    }),
                    ChatEvent::DialFailed { number, reason } => {
                        let _ = number;
                        self.notice(format!("{reason}; trying the next number"))
                    }
                    ChatEvent::Connected { speed, text } => {
                        if let Ok(mut s) = self.stats.lock() {
                            s.connect_speed = speed;
                        }
                        self.progress(Progress::ModemConnected { speed, text })
                    }
                    ChatEvent::Finished => return Ok(chat.take_remainder()),
                    ChatEvent::Failed(e) => return Err(Attempt::failed(Failure::Modem(e))),
                }
            }
            let mut wait = WaitFor::new(if commands_open {
                Some(&mut *commands)
            } else {
                None
            });
            wait.deadline = chat.poll_timeout().map(|t| self.clock.at(t));
            match io.wait(wait).await {
                Wake::Line(n) => chat.handle_input(io.input(n), self.clock.now()),
                Wake::Timer => chat.handle_timeout(self.clock.now()),
                Wake::LineClosed(why) => {
                    return Err(Attempt::failed(Failure::LineClosed(why)));
                }
                Wake::Command(_) => {
                    // A byte aborts a dial in progress; the hang-up that
                    // follows takes care of a modem already online.
                    io.queue(b"\r");
                    return Err(Attempt::user());
                }
                Wake::CommandsClosed => commands_open = false,
                Wake::Tun(_) | Wake::TunError(_) | Wake::CarrierTick | Wake::Drained => {}
            }
        }
    }

    /// Configures the interface for an up link: addresses, the default
    /// route, DNS. Called again when the link renegotiates.
    async fn network_up(
        &self,
        netlink: &Netlink,
        net: &mut NetUp,
        demand: Option<&mut Demand>,
        info: &LinkInfo,
    ) -> Result<Connected, Failure> {
        let netf = |e: crate::net::NetError| Failure::Network(e.to_string());
        let tun = match (demand.as_deref(), &mut net.tun) {
            (Some(d), _) => &d.tun,
            (None, Some(t)) => t,
            (None, slot) => {
                slot.insert(TunDevice::create(self.opts.interface.as_deref()).map_err(netf)?)
            }
        };
        let (name, index) = (tun.name().to_owned(), tun.index());
        let addrs = LinkAddresses::from_info(info);
        if info.ipv6.is_some() && addrs.ipv6_local_id.is_none() {
            self.notice(format!(
                "IPv6 is not configured: the link's MTU {} is below IPv6's minimum of {IPV6_MIN_MTU}",
                info.mtu
            ));
        }
        if net.addrs.as_ref() != Some(&addrs) {
            if let (Some(old), Some(d)) = (&net.addrs, demand.as_deref()) {
                // A renegotiated address on a demand interface: the old
                // one goes, the placeholder stays.
                remove_v4(netlink, d.tun.index(), old).await;
            }
            netlink.configure(index, &addrs).await.map_err(netf)?;
            net.addrs = Some(addrs.clone());
        }
        net.configured = true;
        let mut default_route = false;
        if let Some(d) = demand {
            if let Some(local) = addrs.local {
                d.rewriter.set_real(local);
            }
            default_route = d.route.is_some();
        } else if self.profile.network.default_route && addrs.local.is_some() {
            if net.route.is_none() {
                let n = &self.profile.network;
                net.route = Some(
                    netlink
                        .add_default_route_journaled(
                            index,
                            None,
                            n.route_metric,
                            n.replace_default_route,
                            self.opts.route_journal.as_ref(),
                        )
                        .await
                        .map_err(netf)?,
                );
            }
            default_route = true;
        }
        let peer_dns = info.ipv4.as_ref().map(|v| v.dns.as_slice()).unwrap_or(&[]);
        let servers = self.dns_servers(peer_dns);
        if net.dns.is_none() && !servers.is_empty() && !self.static_dns_applied() {
            let settings = DnsSettings {
                servers: servers.clone(),
                search: self.profile.network.search.clone(),
                default_route: self.profile.network.default_route,
            };
            net.dns = Some(
                self.opts
                    .dns
                    .apply(index, &name, &settings)
                    .await
                    .map_err(|e| Failure::Dns(e.to_string()))?,
            );
        }
        let speed = self.stats.lock().ok().and_then(|s| s.connect_speed);
        let mut connected = Connected::new(name, index, &addrs, info);
        connected.dns = servers;
        connected.dns_via = net
            .dns
            .as_ref()
            .and_then(DnsGuard::backend)
            .map(|b| b.to_string());
        connected.default_route = default_route;
        connected.speed = speed;
        Ok(connected)
    }

    /// The servers to use: the profile's own, else the peer's if asked.
    fn dns_servers(&self, peer: &[std::net::Ipv4Addr]) -> Vec<IpAddr> {
        let n = &self.profile.network;
        if !n.dns.is_empty() {
            n.dns.clone()
        } else if n.peer_dns {
            peer.iter().copied().map(IpAddr::V4).collect()
        } else {
            Vec::new()
        }
    }

    /// Demand dialing with the profile's own DNS servers applies them for
    /// the whole session (a lookup is what usually dials).
    fn static_dns_applied(&self) -> bool {
        self.profile.policy.demand && !self.profile.network.dns.is_empty()
    }

    /// Undoes [`Session::network_up`]: DNS, the route, the TUN (a demand
    /// interface stays, without the call's address).
    async fn network_down(&self, netlink: &Netlink, net: NetUp, demand: Option<&mut Demand>) {
        if let Some(guard) = net.dns {
            if let Err(e) = guard.restore().await {
                self.notice(format!("could not restore DNS: {e}"));
            }
        }
        if let Some(route) = net.route {
            if let Err(e) = route.restore().await {
                self.notice(format!("could not restore the default route: {e}"));
            }
        }
        if let (Some(d), Some(addrs)) = (demand, &net.addrs) {
            remove_v4(netlink, d.tun.index(), addrs).await;
            d.rewriter.clear_real();
        }
        // The TUN (not persistent) disappears with its descriptor.
        drop(net.tun);
    }

    /// Creates the demand interface with placeholder addresses, its route
    /// and (with the profile's own servers) DNS.
    async fn start_demand(&self, netlink: &Netlink) -> Result<Demand, Failure> {
        let netf = |e: crate::net::NetError| Failure::Network(e.to_string());
        let tun = TunDevice::create(self.opts.interface.as_deref()).map_err(netf)?;
        let local = self
            .profile
            .ppp
            .ipcp
            .local
            .unwrap_or(demand::PLACEHOLDER_LOCAL);
        let peer = self
            .profile
            .ppp
            .ipcp
            .remote
            .unwrap_or(demand::PLACEHOLDER_PEER);
        let mtu = self.profile.ppp.lcp.mru.clamp(68, 1500);
        netlink
            .configure(
                tun.index(),
                &LinkAddresses {
                    local: Some(local),
                    peer: Some(peer),
                    ipv6_local_id: None,
                    ipv6_peer_id: None,
                    mtu,
                },
            )
            .await
            .map_err(netf)?;
        let n = &self.profile.network;
        let route = if n.default_route {
            Some(
                netlink
                    .add_default_route_journaled(
                        tun.index(),
                        None,
                        n.route_metric,
                        n.replace_default_route,
                        self.opts.route_journal.as_ref(),
                    )
                    .await
                    .map_err(netf)?,
            )
        } else {
            None
        };
        let dns = if self.static_dns_applied() {
            let settings = DnsSettings {
                servers: n.dns.clone(),
                search: n.search.clone(),
                default_route: n.default_route,
            };
            Some(
                self.opts
                    .dns
                    .apply(tun.index(), tun.name(), &settings)
                    .await
                    .map_err(|e| Failure::Dns(e.to_string()))?,
            )
        } else {
            None
        };
        Ok(Demand {
            queue: DemandQueue::new(
                demand::QUEUE_MAX_PACKETS,
                demand::QUEUE_MAX_BYTES,
                demand::QUEUE_MAX_AGE,
            ),
            rewriter: AddressRewriter::new(local),
            tun,
            route,
            dns,
        })
    }

    async fn stop_demand(&self, d: Demand) {
        if let Some(dns) = d.dns {
            if let Err(e) = dns.restore().await {
                self.notice(format!("could not restore DNS: {e}"));
            }
        }
        if let Some(route) = d.route {
            if let Err(e) = route.restore().await {
                self.notice(format!("could not restore the default route: {e}"));
            }
        }
        drop(d.tun);
    }

    /// Waits for a packet that should dial; `false` if the user stopped.
    async fn wait_for_traffic(
        &self,
        d: &mut Demand,
        commands: &mut UnboundedReceiver<Command>,
    ) -> bool {
        let mut rx = TunPackets::new();
        loop {
            tokio::select! {
                r = d.tun.recv_packets(&mut rx) => match r {
                    Ok(n) => {
                        // A super-packet (with TUN offloads) gives many:
                        // from the first that dials on, all are queued.
                        let first = (0..n).find(|&i| demand::triggers_dial(rx.packet(i)));
                        if let Some(first) = first {
                            let now = self.clock.now();
                            for i in first..n {
                                d.queue.push(rx.packet(i).to_vec(), now);
                            }
                            return true;
                        }
                    }
                    Err(e) => {
                        self.notice(format!("reading the demand interface failed: {}", describe_io(&e)));
                        return false;
                    }
                },
                c = commands.recv() => match c {
                    Some(Command::Disconnect | Command::Abort) | None => return false,
                },
            }
        }
    }
}

/// The protocol a network-protocol failure is about.
fn ncp_protocol(reason: &DownReason) -> Option<u16> {
    match reason {
        DownReason::PeerNotResponding { protocol, .. }
        | DownReason::TerminatedByPeer { protocol, .. }
        | DownReason::CodeRejected { protocol, .. }
        | DownReason::ProtocolRejected { protocol }
        | DownReason::OptionRefused { protocol, .. } => Some(*protocol),
        _ => None,
    }
}

/// What an up link put in place.
#[derive(Default)]
struct NetUp {
    tun: Option<TunDevice>,
    addrs: Option<LinkAddresses>,
    configured: bool,
    route: Option<RouteGuard>,
    dns: Option<DnsGuard>,
}

/// Removes a call's IPv4 address from a demand interface.
async fn remove_v4(netlink: &Netlink, index: u32, addrs: &LinkAddresses) {
    if let Some(local) = addrs.local {
        let _ = netlink.remove_ipv4(index, local, addrs.peer).await;
    }
}

fn release(lock: DeviceLock, session: &Session) {
    if let Err(e) = lock.release() {
        session.notice(format!("could not remove the lock file: {e}"));
    }
}
