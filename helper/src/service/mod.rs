//! `dialtoned service`: the privileged helper on the system bus.
//!
//! One [`Daemon`] holds the profile store and the running links. The bus
//! objects only authorize the caller (polkit, [`auth`]), check their
//! arguments and hand the work to it; each link runs as its own task that
//! drives a [`Session`](crate::runtime::Session) and mirrors its events
//! into the link's properties ([`link`]).
//!
//! Objects (see `docs/dbus.md`):
//! - the root, [`dialtone_api::dbus::ROOT_PATH`]: the Manager and the
//!   ObjectManager;
//! - `…/Profile/<id>`: one per profile in the store;
//! - `…/Link/<n>`: one per link started since the daemon started; an ended
//!   link stays (with its final state, reason and statistics) until its
//!   profile connects again.
//!
//! At start-up the daemon cleans up what a crashed predecessor left: the
//! managed resolv.conf, `dtn*` interfaces (their routes go with them),
//! replaced default routes it had journaled, and the lock files of its
//! dead process. With an idle timeout it exits once no link is active and
//! no call came for that long; D-Bus activation starts it again.

pub mod auth;
pub mod cleanup;
pub mod link;
pub mod manager;
pub mod profile;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dialtone_api::dbus::{self, Error, LinkState};
use tokio::sync::Mutex;
use zbus::Connection;

use crate::dns::{Backend, Dns};
use crate::ports::SystemRoots;
use crate::runtime::Command;
use crate::store::{ProfileId, Store, StoreConfig, StoreError};

/// Everything `dialtoned service` can be told; every path configurable for
/// tests.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// `/etc/dialtone`: `profiles/` and `secrets/` below it.
    pub config_dir: PathBuf,
    /// `/var/lib/dialtone`: backups and the daemon's journal.
    pub state_dir: PathBuf,
    /// `/run/lock`: UUCP lock files.
    pub lock_dir: PathBuf,
    /// `/dev/modem`.
    pub modem_link: PathBuf,
    /// Where sysfs, /dev and /proc are.
    pub roots: SystemRoots,
    /// The bus to serve on; `None` for the system bus.
    pub bus_address: Option<String>,
    /// Exit after this long with no link active and no call; `None` to
    /// run until stopped.
    pub idle_timeout: Option<Duration>,
    /// DNS backend.
    pub dns: Backend,
    /// The resolv.conf managed without systemd-resolved.
    pub resolv_conf: PathBuf,
    /// The interface name template (`dtn%d`).
    pub interface: Option<String>,
    /// How long QueryModem waits for each answer.
    pub query_timeout: Duration,
    /// How long a link's LCP Terminate may wait for the peer.
    pub terminate_grace: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            config_dir: PathBuf::from("/etc/dialtone"),
            state_dir: PathBuf::from("/var/lib/dialtone"),
            lock_dir: PathBuf::from("/run/lock"),
            modem_link: PathBuf::from("/dev/modem"),
            roots: SystemRoots::default(),
            bus_address: None,
            idle_timeout: None,
            dns: Backend::Auto,
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            interface: None,
            query_timeout: Duration::from_secs(3),
            terminate_grace: Duration::from_secs(10),
        }
    }
}

/// A link the daemon started.
#[derive(Debug)]
pub(crate) struct LinkEntry {
    /// Its profile.
    pub profile: ProfileId,
    /// Commands to its session; closed once it ended.
    pub commands: tokio::sync::mpsc::UnboundedSender<Command>,
    /// Its state, as last published.
    pub state: LinkState,
    /// The serial device it uses.
    pub device: PathBuf,
}

/// The daemon's mutable state.
pub(crate) struct State {
    /// The profiles.
    pub store: Store,
    /// Every link since start, by number.
    pub links: BTreeMap<u32, LinkEntry>,
    /// The next link number.
    pub next_link: u32,
}

impl State {
    /// The running link of a profile.
    pub fn active_link(&self, id: &ProfileId) -> Option<u32> {
        self.links
            .iter()
            .rev()
            .find(|(_, l)| &l.profile == id && l.state.is_active())
            .map(|(n, _)| *n)
    }

    /// The last link of a profile, running or ended.
    pub fn last_link(&self, id: &ProfileId) -> Option<u32> {
        self.links
            .iter()
            .rev()
            .find(|(_, l)| &l.profile == id)
            .map(|(n, _)| *n)
    }

    /// How many links are not disconnected.
    pub fn active_count(&self) -> u32 {
        self.links.values().filter(|l| l.state.is_active()).count() as u32
    }
}

/// The daemon: configuration, DNS, state, and the bus connection.
pub(crate) struct Daemon {
    pub config: ServiceConfig,
    pub dns: Arc<Dns>,
    pub state: Mutex<State>,
    pub conn: Connection,
    /// The last time a call came or a link ended (for the idle timeout).
    pub activity: std::sync::Mutex<tokio::time::Instant>,
}

impl Daemon {
    /// Notes activity: a call, a link ending.
    pub fn touch(&self) {
        if let Ok(mut a) = self.activity.lock() {
            *a = tokio::time::Instant::now();
        }
    }

    /// An object path built by `dbus::profile_path` or `dbus::link_path`.
    pub fn object_path(path: String) -> zbus::OwnedObjectPath {
        // Paths are built from validated ids and numbers.
        zbus::OwnedObjectPath::try_from(path).unwrap_or_else(|_| root_path())
    }
}

/// `/`, the "no object" path.
pub(crate) fn root_path() -> zbus::OwnedObjectPath {
    zbus::OwnedObjectPath::try_from("/").unwrap_or_default()
}

/// Maps a store error to the D-Bus error a client sees: this and
/// [`auth`] are the only places that choose error names.
pub(crate) fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::NotFound(_) => Error::NotFound(e.to_string()),
        StoreError::Invalid { .. } | StoreError::BadId(_) | StoreError::TooLarge(..) => {
            Error::InvalidArgument(e.to_string())
        }
        other => Error::Failed(other.to_string()),
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The bus could not be reached.
    #[error("cannot connect to the system bus: {0}")]
    Bus(String),
    /// Another daemon owns the name.
    #[error("cannot own the name {name}: {reason}")]
    Name {
        /// The name.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// The profile store could not be opened.
    #[error("the profile store: {0}")]
    Store(String),
    /// Registering the objects failed.
    #[error("registering the bus objects: {0}")]
    Objects(String),
}

/// Runs the service until the idle timeout (or forever).
pub async fn run(config: ServiceConfig) -> Result<(), ServiceError> {
    let dns = Arc::new(Dns::new(
        &config.resolv_conf,
        &config.state_dir,
        config.dns,
        config.bus_address.clone(),
    ));
    for line in cleanup::after_crash(&config, &dns).await {
        eprintln!("dialtoned: {line}");
    }
    let roots = config.roots.clone();
    let device_check: crate::store::DeviceCheck = Arc::new(move |path| {
        match crate::ports::check_serial_device(path, &roots) {
            Ok(_) => Ok(()),
            // A USB modem that is unplugged now is still a fine profile:
            // connecting says the device is missing.
            Err(crate::ports::DeviceError::NoSuchDevice { .. }) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    });
    let (store, problems) = Store::open(
        StoreConfig {
            profiles_dir: config.config_dir.join("profiles"),
            secrets_dir: config.config_dir.join("secrets"),
        },
        device_check,
    )
    .map_err(|e| ServiceError::Store(e.to_string()))?;
    for p in &problems {
        eprintln!(
            "dialtoned: {} was not loaded: {}",
            p.file.display(),
            p.error
        );
    }
    let builder = match &config.bus_address {
        Some(a) => zbus::connection::Builder::address(a.as_str()),
        None => zbus::connection::Builder::system(),
    };
    let conn = builder
        .build()
        .await
        .map_err(|e| ServiceError::Bus(e.to_string()))?;
    let daemon = Arc::new(Daemon {
        config: config.clone(),
        dns,
        state: Mutex::new(State {
            store,
            links: BTreeMap::new(),
            next_link: 1,
        }),
        conn: conn.clone(),
        activity: std::sync::Mutex::new(tokio::time::Instant::now()),
    });
    let server = conn.object_server();
    let objects = |e: zbus::Error| ServiceError::Objects(e.to_string());
    server
        .at(dbus::ROOT_PATH, zbus::fdo::ObjectManager)
        .await
        .map_err(objects)?;
    server
        .at(dbus::ROOT_PATH, manager::ManagerIface::new(daemon.clone()))
        .await
        .map_err(objects)?;
    let ids: Vec<ProfileId> = {
        let state = daemon.state.lock().await;
        state.store.list().map(|(id, _)| id.clone()).collect()
    };
    for id in ids {
        profile::register(&daemon, &id).await.map_err(objects)?;
    }
    conn.request_name(dbus::BUS_NAME)
        .await
        .map_err(|e| ServiceError::Name {
            name: dbus::BUS_NAME,
            reason: e.to_string(),
        })?;
    eprintln!("dialtoned: serving {} on the bus", dbus::BUS_NAME);
    wait_until_idle(&daemon).await;
    eprintln!("dialtoned: idle, exiting");
    let _ = conn.release_name(dbus::BUS_NAME).await;
    Ok(())
}

/// Returns once the daemon has been idle for its timeout, or never
/// without one. A SIGTERM or SIGINT stops every link first. It wakes only
/// when the timeout could have run out, never on a fixed tick.
async fn wait_until_idle(daemon: &Arc<Daemon>) {
    use tokio::signal::unix::{signal, Signal, SignalKind};
    async fn received(s: &mut Option<Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            // A handler that could not be set leaves the default action,
            // which ends the process.
            None => std::future::pending().await,
        }
    }
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    let stopping = async {
        tokio::select! {
            _ = received(&mut term) => {}
            _ = received(&mut int) => {}
        }
    };
    tokio::pin!(stopping);
    loop {
        let deadline = daemon
            .config
            .idle_timeout
            .and_then(|timeout| daemon.activity.lock().ok().map(|last| *last + timeout));
        tokio::select! {
            _ = &mut stopping => {
                stop_all(daemon).await;
                return;
            }
            _ = sleep_until(deadline) => {}
        }
        // The deadline passed: idle if no link runs and no call came since
        // (a call moves the mark, and the next round waits for the new one).
        let Some(timeout) = daemon.config.idle_timeout else {
            continue;
        };
        let active = daemon.state.lock().await.active_count();
        let last = daemon.activity.lock().map(|a| *a).ok();
        if active == 0 && last.is_some_and(|l| l.elapsed() >= timeout) {
            return;
        }
    }
}

/// Sleeps until `deadline`, or for ever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Hangs up every link and waits (bounded) until they ended.
async fn stop_all(daemon: &Arc<Daemon>) {
    {
        let state = daemon.state.lock().await;
        for l in state.links.values().filter(|l| l.state.is_active()) {
            // A link whose session already ended has no receiver: nothing
            // to hang up.
            let _ = l.commands.send(Command::Disconnect);
        }
    }
    let deadline =
        tokio::time::Instant::now() + daemon.config.terminate_grace + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        if daemon.state.lock().await.active_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
