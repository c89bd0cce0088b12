//! The GUI's connection to `dialtoned`.
//!
//! [`watch`] keeps a [`Mirror`] of the daemon's objects (the Manager, every
//! Profile and Link, the links' transcripts) and reports each change as an
//! [`Update`]; the GUI applies the same updates to its own copy, so it only
//! ever shows what the daemon said. It survives the daemon restarting or
//! being absent: the bus connection is kept, the daemon's name is watched,
//! and a new daemon (or a D-Bus activation) brings a fresh snapshot.
//!
//! [`Calls`] are the method calls, each answering with a [`CallError`] a
//! person can act on.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use dialtone_api::dbus::{
    LinkProxy, ManagerProxy, ProfileProxy, TranscriptEntry, BUS_NAME, ROOT_PATH,
};
use dialtone_api::objects::{
    decode, Interface, LinkInfo, ManagerInfo, ProfileInfo, Signal, Stamp, OBJECT_MANAGER_INTERFACE,
    PROPERTIES_INTERFACE,
};
use dialtone_api::settings::Settings;
use futures::StreamExt;
use gettextrs::gettext;
use zbus::message::Type as MessageType;
use zbus::proxy::CacheProperties;
use zbus::{Connection, MatchRule, Message, MessageStream, OwnedObjectPath, OwnedVariant};

use crate::text::fill;

/// The most transcript lines kept per link (the daemon keeps as many).
pub const TRANSCRIPT_LINES: usize = 2000;

/// How many signals may wait unread before the oldest are dropped.
const SIGNAL_QUEUE: usize = 4096;

/// How long to wait before trying the bus again after it failed.
const RETRY: Duration = Duration::from_secs(2);

/// What the caller may do, from `GetPermissions`: per action `yes`,
/// `auth` or `no`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    /// `io.github.dialtone.connect`.
    pub connect: Permission,
    /// `io.github.dialtone.modify`.
    pub modify: Permission,
}

/// One action's permission.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Permission {
    /// Allowed.
    Yes,
    /// Allowed after authenticating (polkit asks for a password).
    Auth,
    /// Not allowed; also what is assumed before the daemon answered.
    #[default]
    No,
}

impl Permission {
    fn from_word(word: Option<&String>) -> Permission {
        match word.map(String::as_str) {
            Some(dialtone_api::dbus::PERMISSION_YES) => Permission::Yes,
            Some(dialtone_api::dbus::PERMISSION_AUTH) => Permission::Auth,
            _ => Permission::No,
        }
    }

    /// Whether the control may be used at all (possibly after a password).
    pub fn usable(self) -> bool {
        self != Permission::No
    }
}

impl Permissions {
    /// From `GetPermissions`' answer.
    pub fn from_map(map: &HashMap<String, String>) -> Permissions {
        Permissions {
            connect: Permission::from_word(map.get(dialtone_api::dbus::ACTION_CONNECT)),
            modify: Permission::from_word(map.get(dialtone_api::dbus::ACTION_MODIFY)),
        }
    }
}

/// The daemon's objects as it last said they were.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mirror {
    /// The Manager's properties.
    pub manager: ManagerInfo,
    /// Profiles by object path.
    pub profiles: BTreeMap<String, ProfileInfo>,
    /// Links by object path.
    pub links: BTreeMap<String, LinkInfo>,
    /// Each link's transcript, oldest first, at most [`TRANSCRIPT_LINES`].
    pub transcripts: BTreeMap<String, Vec<TranscriptEntry>>,
    /// What this user may do.
    pub permissions: Permissions,
}

/// One change of the daemon's state, or of its presence.
#[derive(Clone, Debug)]
pub enum Update {
    /// The bus connection, for [`Calls`]; sent once connected (again).
    Bus(Connection),
    /// Everything afresh: the daemon (re)appeared.
    Snapshot(Box<Mirror>),
    /// The daemon is not there (and cannot be started); why, for people.
    Absent(String),
    /// The Manager's properties changed.
    Manager(ManagerInfo),
    /// A profile appeared or changed.
    Profile(ProfileInfo),
    /// A profile went away.
    ProfileRemoved(String),
    /// A link appeared or changed.
    Link(Box<LinkInfo>),
    /// A link went away.
    LinkRemoved(String),
    /// A link's whole transcript (read when the link appeared).
    TranscriptReset(String, Vec<TranscriptEntry>),
    /// A new transcript line of a link.
    Transcript(String, TranscriptEntry),
    /// What this user may do changed.
    Permissions(Permissions),
}

impl Mirror {
    /// Takes in an update; returns whether anything changed.
    pub fn apply(&mut self, update: &Update) -> bool {
        match update {
            Update::Bus(_) => false,
            Update::Snapshot(m) => {
                let changed = **m != *self;
                *self = (**m).clone();
                changed
            }
            Update::Absent(_) => {
                let changed = *self != Mirror::default();
                *self = Mirror::default();
                changed
            }
            Update::Manager(m) => replace(&mut self.manager, m.clone()),
            Update::Profile(p) => {
                self.profiles.insert(p.path.clone(), p.clone()).as_ref() != Some(p)
            }
            Update::ProfileRemoved(path) => self.profiles.remove(path).is_some(),
            Update::Link(l) => {
                self.links.insert(l.path.clone(), (**l).clone()).as_ref() != Some(&**l)
            }
            Update::LinkRemoved(path) => {
                self.transcripts.remove(path);
                self.links.remove(path).is_some()
            }
            Update::TranscriptReset(path, lines) => {
                let mut lines = lines.clone();
                trim(&mut lines);
                self.transcripts.insert(path.clone(), lines);
                true
            }
            Update::Transcript(path, entry) => {
                let lines = self.transcripts.entry(path.clone()).or_default();
                lines.push(entry.clone());
                trim(lines);
                true
            }
            Update::Permissions(p) => replace(&mut self.permissions, p.clone()),
        }
    }

    /// The link a profile shows: its running link, else its last one.
    pub fn link_of(&self, profile: &ProfileInfo) -> Option<&LinkInfo> {
        profile
            .active_link
            .as_ref()
            .or(profile.last_link.as_ref())
            .and_then(|path| self.links.get(path))
    }

    /// The profile with this id or, failing that, this name (ignoring case).
    pub fn find_profile(&self, wanted: &str) -> Option<&ProfileInfo> {
        self.profiles.values().find(|p| p.id == wanted).or_else(|| {
            let wanted = wanted.to_lowercase();
            self.profiles
                .values()
                .find(|p| p.name.to_lowercase() == wanted)
        })
    }

    /// What a signal does to the mirror, as updates (already applied).
    /// Properties to read again (invalidated ones) are returned apart, as
    /// (path, interface, name).
    fn take(&mut self, signal: Signal) -> (Vec<Update>, Vec<(String, Interface, String)>) {
        let mut updates = Vec::new();
        let mut reread = Vec::new();
        match signal {
            Signal::Changed {
                path,
                interface,
                changed,
                invalidated,
            } => {
                let update = match interface {
                    Interface::Manager => {
                        let mut m = self.manager.clone();
                        apply_all(&changed, |k, v| m.apply(k, v));
                        Some(Update::Manager(m))
                    }
                    Interface::Profile => self.profiles.get(&path).map(|p| {
                        let mut p = p.clone();
                        apply_all(&changed, |k, v| p.apply(k, v));
                        Update::Profile(p)
                    }),
                    Interface::Link => self.links.get(&path).map(|l| {
                        let mut l = l.clone();
                        apply_all(&changed, |k, v| l.apply(k, v));
                        Update::Link(Box::new(l))
                    }),
                };
                if let Some(u) = update {
                    if self.apply(&u) {
                        updates.push(u);
                    }
                }
                for name in invalidated {
                    reread.push((path.clone(), interface, name));
                }
            }
            Signal::Transcript { path, entry } => {
                let u = Update::Transcript(path, entry);
                self.apply(&u);
                updates.push(u);
            }
            Signal::Added { path, interfaces } => {
                for (interface, props) in interfaces {
                    let u = match interface {
                        Interface::Manager => ManagerInfo::from_props(&props).map(Update::Manager),
                        Interface::Profile => {
                            ProfileInfo::from_props(&path, &props).map(Update::Profile)
                        }
                        Interface::Link => {
                            LinkInfo::from_props(&path, &props).map(|l| Update::Link(Box::new(l)))
                        }
                    };
                    match u {
                        Ok(u) => {
                            if self.apply(&u) {
                                updates.push(u);
                            }
                        }
                        Err(e) => tracing::warn!("ignoring a malformed object {path}: {e}"),
                    }
                }
            }
            Signal::Removed { path, interfaces } => {
                for interface in interfaces {
                    let u = match interface {
                        Interface::Profile => Update::ProfileRemoved(path.clone()),
                        Interface::Link => Update::LinkRemoved(path.clone()),
                        Interface::Manager => continue,
                    };
                    if self.apply(&u) {
                        updates.push(u);
                    }
                }
            }
            Signal::Other => {}
        }
        (updates, reread)
    }
}

fn replace<T: PartialEq>(slot: &mut T, new: T) -> bool {
    if *slot == new {
        false
    } else {
        *slot = new;
        true
    }
}

fn trim(lines: &mut Vec<TranscriptEntry>) {
    if lines.len() > TRANSCRIPT_LINES {
        let extra = lines.len() - TRANSCRIPT_LINES;
        lines.drain(..extra);
    }
}

/// Applies each changed property; a value of the wrong type is logged and
/// the rest still applied.
fn apply_all(
    changed: &HashMap<String, OwnedVariant>,
    mut apply: impl FnMut(&str, &zbus::Variant<'_>) -> Result<(), String>,
) {
    for (name, v) in changed {
        if let Err(e) = apply(name, v) {
            tracing::warn!("ignoring a property: {e}");
        }
    }
}

/// Which bus the daemon is on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BusChoice {
    /// The system bus (`DBUS_SYSTEM_BUS_ADDRESS` or the standard socket).
    #[default]
    System,
    /// A bus at this address (`--bus-address`), for tests and the demo.
    Address(String),
}

impl BusChoice {
    /// Connects.
    pub async fn connect(&self) -> zbus::Result<Connection> {
        match self {
            BusChoice::System => zbus::connection::Builder::system().build().await,
            BusChoice::Address(a) => zbus::connection::Builder::address(a.as_str()).build().await,
        }
    }
}

/// Keeps the mirror for as long as `out` accepts updates (returns true).
pub async fn watch(bus: BusChoice, mut out: impl FnMut(Update) -> bool + Send) {
    loop {
        let conn = match bus.connect().await {
            Ok(c) => c,
            Err(e) => {
                if !out(Update::Absent(absent_bus(&bus, &e))) {
                    return;
                }
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if !out(Update::Bus(conn.clone())) {
            return;
        }
        match follow_daemon(&conn, &mut out).await {
            Ok(Ended::OutClosed) => return,
            Ok(Ended::ConnectionClosed) => {}
            Err(e) => {
                tracing::warn!("lost the bus: {e}");
                if !out(Update::Absent(absent_bus(&bus, &e))) {
                    return;
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Why [`follow_daemon`] returned.
enum Ended {
    OutClosed,
    ConnectionClosed,
}

fn absent_bus(bus: &BusChoice, e: &zbus::Error) -> String {
    match bus {
        BusChoice::System => fill(
            &gettext("cannot reach the system bus: {error}"),
            &[("error", &e.to_string())],
        ),
        BusChoice::Address(a) => fill(
            &gettext("cannot reach the bus at {address}: {error}"),
            &[("address", a), ("error", &e.to_string())],
        ),
    }
}

/// Follows the daemon (each instance of it in turn) on one connection.
async fn follow_daemon(
    conn: &Connection,
    out: &mut (impl FnMut(Update) -> bool + Send),
) -> zbus::Result<Ended> {
    let dbus = zbus::fdo::DBusProxy::new(conn).await?;
    let mut owners = dbus
        .receive_name_owner_changed_with_args(&[(0, BUS_NAME)])
        .await?;
    loop {
        // Subscribed before the snapshot, so nothing between is lost.
        let rule = MatchRule::builder()
            .msg_type(MessageType::Signal)
            .sender(BUS_NAME)
            .path_namespace(ROOT_PATH)
            .build()?;
        let mut signals =
            MessageStream::for_match_rule(rule, conn, std::num::NonZeroUsize::new(SIGNAL_QUEUE))
                .await?;
        match snapshot(conn).await {
            Ok((mirror, stamps)) => {
                let mut mirror = mirror;
                if !out(Update::Snapshot(Box::new(mirror.clone()))) {
                    return Ok(Ended::OutClosed);
                }
                let mut stamps = stamps;
                loop {
                    tokio::select! {
                        msg = signals.next() => {
                            let Some(msg) = msg else { return Ok(Ended::ConnectionClosed) };
                            let Ok(msg) = msg else { continue };
                            if !take_signal(conn, &mut mirror, &mut stamps, &msg, out).await {
                                return Ok(Ended::OutClosed);
                            }
                        }
                        change = owners.next() => {
                            let Some(change) = change else { return Ok(Ended::ConnectionClosed) };
                            let gone = change
                                .args()
                                .map(|a| a.new_owner().is_none())
                                .unwrap_or(true);
                            if gone {
                                tracing::info!("dialtoned left the bus");
                            } else {
                                tracing::info!("dialtoned was replaced");
                            }
                            break;
                        }
                    }
                }
                // The daemon left (or was replaced): read it afresh. An
                // activatable daemon is started again by the snapshot.
            }
            Err(e) => {
                if !out(Update::Absent(absent_daemon(&e))) {
                    return Ok(Ended::OutClosed);
                }
                // Wait for someone to start it, and look again now and
                // then in case it is activatable after all.
                tokio::select! {
                    change = owners.next() => {
                        if change.is_none() {
                            return Ok(Ended::ConnectionClosed);
                        }
                    }
                    _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                }
            }
        }
    }
}

/// Stamps of the snapshot and of each transcript read since.
struct Stamps {
    snapshot: Stamp,
    transcripts: HashMap<String, Stamp>,
}

/// Takes in one signal; false when `out` is closed.
async fn take_signal(
    conn: &Connection,
    mirror: &mut Mirror,
    stamps: &mut Stamps,
    msg: &Message,
    out: &mut (impl FnMut(Update) -> bool + Send),
) -> bool {
    if !stamps.snapshot.is_before(msg) {
        return true;
    }
    let signal = match decode(msg) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("ignoring a malformed signal: {e}");
            return true;
        }
    };
    if let Signal::Transcript { path, .. } = &signal {
        if let Some(stamp) = stamps.transcripts.get(path) {
            if !stamp.is_before(msg) {
                return true;
            }
        }
    }
    let new_link = match &signal {
        Signal::Added { path, interfaces }
            if interfaces.iter().any(|(i, _)| *i == Interface::Link) =>
        {
            Some(path.clone())
        }
        _ => None,
    };
    let (updates, reread) = mirror.take(signal);
    for u in updates {
        if !out(u) {
            return false;
        }
    }
    for (path, interface, name) in reread {
        if let Some(u) = reread_property(conn, mirror, &path, interface, &name).await {
            if mirror.apply(&u) && !out(u) {
                return false;
            }
        }
    }
    if let Some(path) = new_link {
        match transcript(conn, &path).await {
            Ok((lines, stamp)) => {
                stamps.transcripts.insert(path.clone(), stamp);
                let u = Update::TranscriptReset(path, lines);
                mirror.apply(&u);
                if !out(u) {
                    return false;
                }
            }
            Err(e) => tracing::warn!("cannot read the transcript of {path}: {e}"),
        }
    }
    true
}

async fn reread_property(
    conn: &Connection,
    mirror: &Mirror,
    path: &str,
    interface: Interface,
    name: &str,
) -> Option<Update> {
    let iface = match interface {
        Interface::Manager => dialtone_api::dbus::MANAGER_INTERFACE,
        Interface::Profile => dialtone_api::dbus::PROFILE_INTERFACE,
        Interface::Link => dialtone_api::dbus::LINK_INTERFACE,
    };
    let reply = conn
        .call_method(
            Some(BUS_NAME),
            path,
            Some(PROPERTIES_INTERFACE),
            "Get",
            &(iface, name),
        )
        .await
        .ok()?;
    let v: OwnedVariant = reply.body().deserialize().ok()?;
    let logged = |r: Result<(), String>| {
        if let Err(e) = r {
            tracing::warn!("ignoring a property: {e}");
        }
    };
    match interface {
        Interface::Manager => {
            let mut m = mirror.manager.clone();
            logged(m.apply(name, &v));
            Some(Update::Manager(m))
        }
        Interface::Profile => {
            let mut p = mirror.profiles.get(path)?.clone();
            logged(p.apply(name, &v));
            Some(Update::Profile(p))
        }
        Interface::Link => {
            let mut l = mirror.links.get(path)?.clone();
            logged(l.apply(name, &v));
            Some(Update::Link(Box::new(l)))
        }
    }
}

/// Everything the daemon has, with the stamps of the answers. Starts the
/// daemon if it is D-Bus activatable.
async fn snapshot(conn: &Connection) -> zbus::Result<(Mirror, Stamps)> {
    let reply = conn
        .call_method(
            Some(BUS_NAME),
            ROOT_PATH,
            Some(OBJECT_MANAGER_INTERFACE),
            "GetManagedObjects",
            &(),
        )
        .await?;
    let stamp = Stamp::of(&reply);
    let objects: zbus::fdo::ManagedObjects = reply.body().deserialize()?;
    let mut mirror = Mirror::default();
    for (path, interfaces) in &objects {
        for (iface, props) in interfaces {
            let path = path.as_str();
            let r = match Interface::from_name(iface.as_str()) {
                Some(Interface::Manager) => {
                    ManagerInfo::from_props(props).map(|m| mirror.manager = m)
                }
                Some(Interface::Profile) => ProfileInfo::from_props(path, props).map(|p| {
                    mirror.profiles.insert(path.to_string(), p);
                }),
                Some(Interface::Link) => LinkInfo::from_props(path, props).map(|l| {
                    mirror.links.insert(path.to_string(), l);
                }),
                None => Ok(()),
            };
            if let Err(e) = r {
                tracing::warn!("ignoring a malformed object {path}: {e}");
            }
        }
    }
    let mut stamps = Stamps {
        snapshot: stamp,
        transcripts: HashMap::new(),
    };
    let links: Vec<String> = mirror.links.keys().cloned().collect();
    for path in links {
        match transcript(conn, &path).await {
            Ok((lines, stamp)) => {
                stamps.transcripts.insert(path.clone(), stamp);
                mirror.transcripts.insert(path, lines);
            }
            Err(e) => tracing::warn!("cannot read the transcript of {path}: {e}"),
        }
    }
    mirror.permissions = permissions(conn).await.unwrap_or_default();
    Ok((mirror, stamps))
}

async fn transcript(conn: &Connection, path: &str) -> zbus::Result<(Vec<TranscriptEntry>, Stamp)> {
    let reply = conn
        .call_method(
            Some(BUS_NAME),
            path,
            Some(dialtone_api::dbus::LINK_INTERFACE),
            "GetTranscript",
            &(),
        )
        .await?;
    let lines: Vec<TranscriptEntry> = reply.body().deserialize()?;
    Ok((lines, Stamp::of(&reply)))
}

async fn permissions(conn: &Connection) -> zbus::Result<Permissions> {
    let manager = ManagerProxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await?;
    Ok(Permissions::from_map(&manager.get_permissions().await?))
}

/// Why the daemon cannot be reached, for people.
fn absent_daemon(e: &zbus::Error) -> String {
    match e {
        zbus::Error::FDO(fdo) => match fdo.as_ref() {
            zbus::fdo::Error::ServiceUnknown(_) | zbus::fdo::Error::NameHasNoOwner(_) => {
                gettext("the Dialtone service (dialtoned) is not installed or not running")
            }
            zbus::fdo::Error::SpawnFailed(m) | zbus::fdo::Error::SpawnExecFailed(m) => fill(
                &gettext("the Dialtone service (dialtoned) could not be started: {error}"),
                &[("error", m)],
            ),
            other => no_answer(&other.to_string()),
        },
        other => no_answer(&other.to_string()),
    }
}

fn no_answer(error: &str) -> String {
    fill(
        &gettext("the Dialtone service (dialtoned) did not answer: {error}"),
        &[("error", error)],
    )
}

/// Why a call failed, sorted by what the user can do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// polkit said no (or wanted a password nobody could give).
    NotAuthorized(String),
    /// A setting or argument was refused; `key` is the setting it names
    /// (`line.device`), if any.
    InvalidArgument {
        /// The dotted setting key the message starts with, if any.
        key: Option<String>,
        /// The daemon's message.
        message: String,
    },
    /// No such profile (any more).
    NotFound(String),
    /// In use.
    Busy(String),
    /// The port cannot be opened.
    DeviceUnavailable(String),
    /// The daemon is not there.
    Unreachable(String),
    /// Anything else.
    Failed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::NotAuthorized(m)
            | CallError::NotFound(m)
            | CallError::Busy(m)
            | CallError::DeviceUnavailable(m)
            | CallError::Unreachable(m)
            | CallError::Failed(m) => f.write_str(m),
            CallError::InvalidArgument { message, .. } => f.write_str(message),
        }
    }
}

impl From<zbus::Error> for CallError {
    fn from(e: zbus::Error) -> Self {
        use dialtone_api::dbus::Error as E;
        match E::from(e) {
            E::NotAuthorized(m) => CallError::NotAuthorized(m),
            E::InvalidArgument(m) => CallError::InvalidArgument {
                key: setting_key(&m),
                message: m,
            },
            E::NotFound(m) => CallError::NotFound(m),
            E::Busy(m) => CallError::Busy(m),
            E::DeviceUnavailable(m) => CallError::DeviceUnavailable(m),
            E::Failed(m) => CallError::Failed(m),
            E::ZBus(zbus::Error::FDO(fdo)) => match *fdo {
                zbus::fdo::Error::ServiceUnknown(m) | zbus::fdo::Error::NameHasNoOwner(m) => {
                    CallError::Unreachable(m)
                }
                other => CallError::Failed(other.to_string()),
            },
            E::ZBus(other) => CallError::Failed(other.to_string()),
        }
    }
}

/// The setting an InvalidArgument message names: `line.device: …` gives
/// `line.device`; list fields (`modem.numbers[1]`) give the key
/// (`modem.numbers`).
pub fn setting_key(message: &str) -> Option<String> {
    let (head, _) = message.split_once(": ")?;
    let key = head.split('[').next().unwrap_or(head);
    dialtone_api::settings::KEYS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(k, _, _)| k.to_string())
        .or_else(|| {
            // A field of a list entry (`login[0].expect`) names its list.
            let first = key.split('.').next()?;
            dialtone_api::settings::KEYS
                .iter()
                .find(|(k, _, _)| *k == first)
                .map(|(k, _, _)| k.to_string())
        })
}

/// The daemon's methods.
#[derive(Clone, Debug)]
pub struct Calls {
    conn: Connection,
}

impl Calls {
    /// Calls on this connection.
    pub fn new(conn: Connection) -> Calls {
        Calls { conn }
    }

    async fn manager(&self) -> Result<ManagerProxy<'static>, CallError> {
        Ok(ManagerProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?)
    }

    async fn profile(&self, path: &str) -> Result<ProfileProxy<'static>, CallError> {
        Ok(ProfileProxy::builder(&self.conn)
            .path(path.to_string())
            .cache_properties(CacheProperties::No)
            .build()
            .await?)
    }

    async fn link(&self, path: &str) -> Result<LinkProxy<'static>, CallError> {
        Ok(LinkProxy::builder(&self.conn)
            .path(path.to_string())
            .cache_properties(CacheProperties::No)
            .build()
            .await?)
    }

    /// Connects a profile; the link's path.
    pub async fn connect(&self, profile: &str) -> Result<String, CallError> {
        let link: OwnedObjectPath = self.profile(profile).await?.connect().await?;
        Ok(link.to_string())
    }

    /// Hangs up a link.
    pub async fn disconnect(&self, link: &str) -> Result<(), CallError> {
        Ok(self.link(link).await?.disconnect().await?)
    }

    /// Adds a profile; its path.
    pub async fn add_profile(&self, settings: Settings) -> Result<String, CallError> {
        let path = self.manager().await?.add_profile(settings).await?;
        Ok(path.to_string())
    }

    /// Replaces a profile's settings.
    pub async fn update(&self, profile: &str, settings: Settings) -> Result<(), CallError> {
        Ok(self.profile(profile).await?.update(settings).await?)
    }

    /// Sets a profile's password.
    pub async fn set_password(&self, profile: &str, password: &str) -> Result<(), CallError> {
        let secrets = HashMap::from([("password".to_string(), password.to_string())]);
        Ok(self.profile(profile).await?.set_secrets(secrets).await?)
    }

    /// Deletes a profile.
    pub async fn delete(&self, profile: &str) -> Result<(), CallError> {
        Ok(self.profile(profile).await?.delete().await?)
    }

    /// Asks the modem on `port` who it is: (command, answer) pairs.
    pub async fn query_modem(&self, port: &str) -> Result<Vec<(String, String)>, CallError> {
        Ok(self.manager().await?.query_modem(port).await?)
    }

    /// Points /dev/modem at `port`.
    pub async fn set_modem_link(&self, port: &str) -> Result<(), CallError> {
        Ok(self.manager().await?.set_modem_link(port).await?)
    }

    /// The Manager's properties, read now (the daemon reads the serial
    /// ports from sysfs at each read, so this sees hot-plugged ones).
    pub async fn manager_info(&self) -> Result<ManagerInfo, CallError> {
        let reply = self
            .conn
            .call_method(
                Some(BUS_NAME),
                ROOT_PATH,
                Some(PROPERTIES_INTERFACE),
                "GetAll",
                &(dialtone_api::dbus::MANAGER_INTERFACE,),
            )
            .await?;
        let props: HashMap<String, OwnedVariant> = reply.body().deserialize()?;
        ManagerInfo::from_props(&props).map_err(CallError::Failed)
    }

    /// What this user may do now.
    pub async fn permissions(&self) -> Result<Permissions, CallError> {
        Ok(permissions(&self.conn).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(path: &str, state: &str) -> LinkInfo {
        LinkInfo {
            path: path.into(),
            state: state.into(),
            ..LinkInfo::default()
        }
    }

    fn profile(path: &str, id: &str, active: Option<&str>, last: Option<&str>) -> ProfileInfo {
        ProfileInfo {
            path: path.into(),
            id: id.into(),
            name: id.to_uppercase(),
            active_link: active.map(Into::into),
            last_link: last.map(Into::into),
            ..ProfileInfo::default()
        }
    }

    fn entry(text: &str) -> TranscriptEntry {
        TranscriptEntry {
            time_usec: 1,
            source: "note".into(),
            direction: String::new(),
            text: text.into(),
        }
    }

    #[test]
    fn updates_say_whether_they_changed_anything() {
        let mut m = Mirror::default();
        let l = link("/l/1", "dialing");
        assert!(m.apply(&Update::Link(Box::new(l.clone()))));
        assert!(
            !m.apply(&Update::Link(Box::new(l.clone()))),
            "the same again"
        );
        assert!(m.apply(&Update::Link(Box::new(link("/l/1", "connected")))));
        assert!(m.apply(&Update::Transcript("/l/1".into(), entry("a"))));
        assert!(m.apply(&Update::LinkRemoved("/l/1".into())));
        assert!(m.transcripts.is_empty(), "a removed link's transcript goes");
        assert!(!m.apply(&Update::LinkRemoved("/l/1".into())));
    }

    #[test]
    fn absence_forgets_everything() {
        let mut m = Mirror::default();
        m.apply(&Update::Profile(profile("/p/a", "a", None, None)));
        assert!(m.apply(&Update::Absent("gone".into())));
        assert_eq!(m, Mirror::default());
    }

    #[test]
    fn transcripts_keep_the_last_lines() {
        let mut m = Mirror::default();
        let many: Vec<TranscriptEntry> = (0..TRANSCRIPT_LINES + 5)
            .map(|i| entry(&i.to_string()))
            .collect();
        m.apply(&Update::TranscriptReset("/l/1".into(), many));
        m.apply(&Update::Transcript("/l/1".into(), entry("new")));
        let lines = &m.transcripts["/l/1"];
        assert_eq!(lines.len(), TRANSCRIPT_LINES);
        assert_eq!(lines[0].text, "6");
        assert_eq!(lines.last().map(|e| e.text.as_str()), Some("new"));
    }

    #[test]
    fn a_profile_shows_its_running_link_else_its_last() {
        let mut m = Mirror::default();
        m.apply(&Update::Link(Box::new(link("/l/1", "disconnected"))));
        m.apply(&Update::Link(Box::new(link("/l/2", "dialing"))));
        let p = profile("/p/a", "a", Some("/l/2"), Some("/l/1"));
        assert_eq!(m.link_of(&p).map(|l| l.state.as_str()), Some("dialing"));
        let p = profile("/p/a", "a", None, Some("/l/1"));
        assert_eq!(
            m.link_of(&p).map(|l| l.state.as_str()),
            Some("disconnected")
        );
        let p = profile("/p/a", "a", None, Some("/l/9"));
        assert!(m.link_of(&p).is_none(), "a link the daemon no longer has");
    }

    #[test]
    fn profiles_are_found_by_id_then_name() {
        let mut m = Mirror::default();
        m.apply(&Update::Profile(profile("/p/isp", "isp", None, None)));
        let mut work = profile("/p/work", "work", None, None);
        work.name = "Example ISP".into();
        m.apply(&Update::Profile(work));
        assert_eq!(m.find_profile("isp").map(|p| p.id.as_str()), Some("isp"));
        assert_eq!(
            m.find_profile("example isp").map(|p| p.id.as_str()),
            Some("work")
        );
        assert!(m.find_profile("nope").is_none());
    }

    #[test]
    fn signals_become_updates() {
        let mut m = Mirror::default();
        m.apply(&Update::Link(Box::new(link("/l/1", "dialing"))));
        let changed = HashMap::from([
            (
                "State".to_string(),
                OwnedVariant::try_from(zbus::Variant::from("connected")).expect("plain"),
            ),
            (
                "Mtu".to_string(),
                OwnedVariant::try_from(zbus::Variant::from("wrong type")).expect("plain"),
            ),
        ]);
        let (updates, reread) = m.take(Signal::Changed {
            path: "/l/1".into(),
            interface: Interface::Link,
            changed: changed.clone(),
            invalidated: vec!["Statistics".into()],
        });
        assert!(matches!(&updates[..], [Update::Link(l)] if l.state == "connected"));
        assert_eq!(m.links["/l/1"].state, "connected");
        assert_eq!(m.links["/l/1"].mtu, 0, "the wrong type is left out");
        assert_eq!(
            reread,
            [(
                "/l/1".to_string(),
                Interface::Link,
                "Statistics".to_string()
            )]
        );
        // A link the mirror does not know is not invented from a change.
        let (updates, _) = m.take(Signal::Changed {
            path: "/l/7".into(),
            interface: Interface::Link,
            changed,
            invalidated: vec![],
        });
        assert!(updates.is_empty());
        assert!(!m.links.contains_key("/l/7"));
        // Added and removed.
        let props = HashMap::from([(
            "State".to_string(),
            OwnedVariant::try_from(zbus::Variant::from("opening")).expect("plain"),
        )]);
        let (updates, _) = m.take(Signal::Added {
            path: "/l/2".into(),
            interfaces: vec![(Interface::Link, props)],
        });
        assert!(matches!(&updates[..], [Update::Link(l)] if l.path == "/l/2"));
        let (updates, _) = m.take(Signal::Removed {
            path: "/l/2".into(),
            interfaces: vec![Interface::Link],
        });
        assert!(matches!(&updates[..], [Update::LinkRemoved(p)] if p == "/l/2"));
        assert_eq!(m.links.len(), 1);
    }

    #[test]
    fn invalid_argument_messages_name_their_setting() {
        assert_eq!(
            setting_key("line.device: not a serial device").as_deref(),
            Some("line.device")
        );
        assert_eq!(
            setting_key("modem.numbers[1]: cannot be dialed").as_deref(),
            Some("modem.numbers")
        );
        assert_eq!(
            setting_key("login[0].expect: empty").as_deref(),
            Some("login")
        );
        assert_eq!(setting_key("password: too long"), None);
        assert_eq!(setting_key("no colon here"), None);
    }

    #[test]
    fn permissions_from_the_daemons_words() {
        let map = HashMap::from([
            ("io.github.dialtone.connect".to_string(), "yes".to_string()),
            ("io.github.dialtone.modify".to_string(), "auth".to_string()),
        ]);
        let p = Permissions::from_map(&map);
        assert_eq!(p.connect, Permission::Yes);
        assert_eq!(p.modify, Permission::Auth);
        assert!(p.modify.usable());
        let p = Permissions::from_map(&HashMap::new());
        assert_eq!(p.connect, Permission::No, "unknown means no");
        assert!(!p.connect.usable());
    }
}
