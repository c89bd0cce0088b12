//! DNS for a link that is up: through systemd-resolved's D-Bus API when
//! resolved runs, otherwise through the managed resolv.conf
//! ([`crate::resolv`]).
//!
//! [`Dns::apply`] puts a link's DNS servers (and search domains) in place and
//! hands back a [`DnsGuard`]; [`DnsGuard::restore`] takes them away again
//! when the link goes down. [`Dns::recover`], called once when the helper
//! starts, restores a resolv.conf that a crashed run left managed.
//!
//! # The two backends
//!
//! * **systemd-resolved** (`org.freedesktop.resolve1` on the system bus):
//!   the servers are set *per link* with `SetLinkDNS`, the search domains
//!   with `SetLinkDomains`, and whether the link is resolved's default DNS
//!   route with `SetLinkDefaultRoute` (a resolved older than v240 does not
//!   know that call, which is tolerated). When the link is the default
//!   route, the routing-only root domain is added too — what
//!   `resolvectl domain <link> '~.'` sets — so that the link's servers get
//!   every query, not only those under its search domains. On the wire that
//!   is the pair `(".", true)`: `resolvectl` strips the `~` and sends the
//!   route-only flag instead, and so does NetworkManager. Restoring is
//!   `RevertLink`. If a call fails half-way, what was already set is
//!   reverted before the error is returned. Nothing needs recovering after
//!   a crash: resolved forgets a link's settings when its interface
//!   disappears, which the TUN device does when the helper dies.
//! * **resolv.conf**: delegated to [`ResolvConf`], which saves what was
//!   there and puts it back exactly, even after a crash. Several links can
//!   be up at once: they share the file, which lists the servers of the
//!   most recently up link first, then the others' (three at most, as the
//!   resolver reads no more); when a link goes down its servers leave the
//!   file, and when the last one does, what was there before comes back.
//!
//! [`Backend::Auto`] picks resolved when `org.freedesktop.resolve1` has an
//! owner on the system bus, and resolv.conf otherwise — also when there is
//! no system bus at all, or it does not answer within
//! [`BUS_CONNECT_TIMEOUT`]: detection never hangs.
//!
//! # Inputs
//!
//! Servers that cannot be DNS servers (the unspecified, multicast and
//! broadcast addresses — a peer that sends `0.0.0.0` means "none") are left
//! out; with no servers left nothing is changed at all and the guard
//! restores nothing. Search domains must be plain DNS names (letters,
//! digits, `-`, `_`, dots between labels of 1 to 63 characters, at most 253
//! characters, one trailing dot allowed): anything else is refused with
//! [`DnsError::BadDomain`] before anything changes, so that no text can
//! find its way into the resolv.conf or resolved.
//!
//! Everything here must run inside a Tokio runtime with its time driver
//! enabled (zbus is built for Tokio).
//!
//! # Tests
//!
//! `helper/tests/dns_resolved.rs` runs a real `dbus-daemon` with a
//! system-bus configuration on a private socket, and a stand-in for
//! `org.freedesktop.resolve1` that records the calls it receives. The real
//! systemd-resolved is not run in tests: installing it takes over the
//! host's `/etc/resolv.conf`.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zbus::connection::Builder;
use zbus::{Connection, DBusError};

use crate::resolv::{ResolvConf, ResolvError, MAX_SERVERS};

/// The bus name of systemd-resolved.
pub const RESOLVED_BUS_NAME: &str = "org.freedesktop.resolve1";
/// The object path of systemd-resolved's manager object.
pub const RESOLVED_PATH: &str = "/org/freedesktop/resolve1";
/// The interface of systemd-resolved's manager object.
pub const RESOLVED_MANAGER_INTERFACE: &str = "org.freedesktop.resolve1.Manager";

/// How long connecting to the system bus may take before [`Backend::Auto`]
/// gives up on it (and [`Backend::Resolved`] fails).
pub const BUS_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a D-Bus call may wait for its reply.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The address family numbers systemd-resolved's API takes (Linux's
/// `AF_INET` and `AF_INET6`).
const AF_INET: i32 = libc::AF_INET;
const AF_INET6: i32 = libc::AF_INET6;

/// The D-Bus error name of resolved's reply to a link it does not know.
const NO_SUCH_LINK: &str = "org.freedesktop.resolve1.NoSuchLink";
/// The D-Bus error name of a reply to a method the peer does not have.
const UNKNOWN_METHOD: &str = "org.freedesktop.DBus.Error.UnknownMethod";

/// What DNS a link should use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsSettings {
    /// The DNS servers, in order of preference.
    pub servers: Vec<IpAddr>,
    /// The search domains (plain DNS names, e.g. `example.net`).
    pub search: Vec<String>,
    /// Whether the link's servers answer every query (the link is the
    /// default route): with resolved, the link becomes its default DNS
    /// route and gets the routing domain `~.`. Without resolved this makes
    /// no difference: the resolv.conf has one list of servers for every
    /// link, the newest link's first.
    pub default_route: bool,
}

/// Which way DNS is set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// systemd-resolved if `org.freedesktop.resolve1` has an owner on the
    /// system bus, else the resolv.conf.
    #[default]
    Auto,
    /// systemd-resolved, or an error.
    Resolved,
    /// The managed resolv.conf.
    ResolvConf,
}

/// The backend that is (or would be) used: its [`Display`](fmt::Display)
/// is `systemd-resolved` or the resolv.conf path, for "DNS via ...".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActiveBackend {
    /// systemd-resolved, over D-Bus.
    Resolved,
    /// The managed resolv.conf at this path.
    ResolvConf(PathBuf),
}

impl fmt::Display for ActiveBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActiveBackend::Resolved => f.write_str("systemd-resolved"),
            ActiveBackend::ResolvConf(path) => write!(f, "{}", path.display()),
        }
    }
}

/// What became of settings already made when a later call to resolved
/// failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// Nothing had been set yet.
    NotNeeded,
    /// What had been set was taken back (`RevertLink`).
    Reverted,
    /// Taking it back failed too; the link may keep part of the settings
    /// until its interface goes away.
    RevertFailed(String),
}

impl fmt::Display for Cleanup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cleanup::NotNeeded => Ok(()),
            Cleanup::Reverted => f.write_str("; what was already set was reverted"),
            Cleanup::RevertFailed(e) => write!(
                f,
                "; reverting what was already set failed too ({e}), so the link may keep part \
                 of its DNS settings until it goes down"
            ),
        }
    }
}

/// Why DNS could not be set or restored.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The system bus could not be reached (only with
    /// [`Backend::Resolved`], or when restoring; [`Backend::Auto`] falls
    /// back to the resolv.conf instead).
    #[error("cannot connect to the system bus at {address}: {reason}")]
    Bus {
        /// The bus address tried.
        address: String,
        /// What went wrong.
        reason: String,
    },
    /// A call to systemd-resolved failed.
    #[error("systemd-resolved {call} for {ifname} failed: {reason}{cleanup}")]
    Resolved {
        /// The method called, e.g. `SetLinkDNS`.
        call: &'static str,
        /// The interface concerned.
        ifname: String,
        /// The D-Bus error name of the reply, if it was an error reply
        /// (e.g. `org.freedesktop.DBus.Error.AccessDenied`).
        error_name: Option<String>,
        /// What went wrong, for a person.
        reason: String,
        /// What became of the settings already made.
        cleanup: Cleanup,
    },
    /// The interface index cannot be a Linux interface's (0, or beyond
    /// the `int` resolved takes).
    #[error("{ifname}: {ifindex} is not a valid interface index")]
    BadInterface {
        /// The index given.
        ifindex: u32,
        /// The interface name given.
        ifname: String,
    },
    /// A search domain is not a plain DNS name.
    #[error("{0:?} is not a valid DNS search domain")]
    BadDomain(String),
    /// The resolv.conf could not be managed.
    #[error(transparent)]
    ResolvConf(#[from] ResolvError),
    /// The blocking file work could not be run.
    #[error("the resolv.conf work did not complete: {0}")]
    Task(String),
}

/// Sets DNS for links, through systemd-resolved or the resolv.conf.
#[derive(Clone, Debug)]
pub struct Dns {
    resolv: ResolvConf,
    backend: Backend,
    bus_address: Option<String>,
}

/// Where DNS goes for one [`Dns::apply`], with the bus connection when it
/// is resolved.
enum Chosen {
    Resolved(Connection),
    ResolvConf,
}

/// The part of `org.freedesktop.resolve1.Manager` that Dialtone calls, as
/// typed methods over a bus connection.
///
/// (Written by hand rather than with zbus's `#[proxy]` macro: the crate's
/// zbus dependency is built without its `proxy` feature.)
struct ResolvedManager<'c> {
    conn: &'c Connection,
}

impl ResolvedManager<'_> {
    async fn call<B>(&self, method: &'static str, body: &B) -> zbus::Result<()>
    where
        B: serde::Serialize + zbus::DynamicType,
    {
        self.conn
            .call_method(
                Some(RESOLVED_BUS_NAME),
                RESOLVED_PATH,
                Some(RESOLVED_MANAGER_INTERFACE),
                method,
                body,
            )
            .await
            .map(drop)
    }

    /// `SetLinkDNS(i ifindex, a(iay) addresses)`.
    async fn set_link_dns(&self, ifindex: i32, addresses: &[(i32, Vec<u8>)]) -> zbus::Result<()> {
        self.call("SetLinkDNS", &(ifindex, addresses)).await
    }

    /// `SetLinkDomains(i ifindex, a(sb) domains)`: (name, routing only).
    async fn set_link_domains(&self, ifindex: i32, domains: &[(&str, bool)]) -> zbus::Result<()> {
        self.call("SetLinkDomains", &(ifindex, domains)).await
    }

    /// `SetLinkDefaultRoute(i ifindex, b enable)`.
    async fn set_link_default_route(&self, ifindex: i32, enable: bool) -> zbus::Result<()> {
        self.call("SetLinkDefaultRoute", &(ifindex, enable)).await
    }

    /// `RevertLink(i ifindex)`.
    async fn revert_link(&self, ifindex: i32) -> zbus::Result<()> {
        self.call("RevertLink", &ifindex).await
    }
}

/// The D-Bus error name of an error reply, if `e` is one.
fn error_name(e: &zbus::Error) -> Option<String> {
    match e {
        zbus::Error::MethodError(name, _, _) => Some(name.to_string()),
        zbus::Error::FDO(fdo) => Some(fdo.name().to_string()),
        _ => None,
    }
}

/// `e` for a person: an error reply as `name: description`, with a hint
/// when resolved is simply not there.
fn describe_error(e: &zbus::Error) -> String {
    let text = match e {
        zbus::Error::MethodError(name, description, _) => match description {
            Some(d) => format!("{name}: {d}"),
            None => name.to_string(),
        },
        zbus::Error::FDO(fdo) => match fdo.description() {
            Some(d) => format!("{}: {d}", fdo.name()),
            None => fdo.name().to_string(),
        },
        zbus::Error::InputOutput(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            format!("no reply within {} s", CALL_TIMEOUT.as_secs())
        }
        other => other.to_string(),
    };
    match error_name(e).as_deref() {
        Some("org.freedesktop.DBus.Error.ServiceUnknown")
        | Some("org.freedesktop.DBus.Error.NameHasNoOwner") => {
            format!("{text} (is systemd-resolved running?)")
        }
        _ => text,
    }
}

fn is_error_named(e: &zbus::Error, name: &str) -> bool {
    error_name(e).as_deref() == Some(name)
}

/// Whether `ip` can be a DNS server.
fn usable_server(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

/// A server as resolved's API takes it: address family and address bytes.
fn resolved_address(ip: &IpAddr) -> (i32, Vec<u8>) {
    match ip {
        IpAddr::V4(v4) => (AF_INET, v4.octets().to_vec()),
        IpAddr::V6(v6) => (AF_INET6, v6.octets().to_vec()),
    }
}

/// Whether `domain` is a plain DNS name that may be a search domain.
pub fn valid_search_domain(domain: &str) -> bool {
    let name = domain.strip_suffix('.').unwrap_or(domain);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The domains resolved gets: the search domains, and the routing-only
/// root domain (`~.`, sent as `(".", true)`) when the link is the default
/// route.
fn resolved_domains(search: &[String], default_route: bool) -> Vec<(&str, bool)> {
    let mut domains: Vec<(&str, bool)> = search.iter().map(|d| (d.as_str(), false)).collect();
    if default_route {
        domains.push((".", true));
    }
    domains
}

fn join_servers(servers: &[IpAddr]) -> String {
    servers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Dns {
    /// Sets DNS through `backend`. `resolv_conf` is the file managed
    /// without resolved (normally `/etc/resolv.conf`), with its backup in
    /// `state_dir`; `system_bus_address` is a D-Bus address for the system
    /// bus, `None` for the default one (`DBUS_SYSTEM_BUS_ADDRESS`, else
    /// `/var/run/dbus/system_bus_socket`).
    pub fn new(
        resolv_conf: impl Into<PathBuf>,
        state_dir: impl AsRef<Path>,
        backend: Backend,
        system_bus_address: Option<String>,
    ) -> Self {
        Dns {
            resolv: ResolvConf::new(resolv_conf, state_dir),
            backend,
            bus_address: system_bus_address,
        }
    }

    /// The backend asked for.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The managed resolv.conf path.
    pub fn resolv_conf_path(&self) -> &Path {
        self.resolv.path()
    }

    /// At start-up: restores a resolv.conf that a previous run left managed
    /// (it died with links up), however many links it listed. Returns
    /// whether there was anything to restore. This is checked whatever the
    /// backend, since the previous run may have used the resolv.conf;
    /// resolved needs nothing (it forgets a link when its interface goes
    /// away). While this process has links in the resolv.conf (another
    /// session is up), nothing is done: see [`ResolvConf::recover`].
    pub async fn recover(&self) -> Result<bool, DnsError> {
        let rc = self.resolv.clone();
        run_blocking(move || rc.recover()).await
    }

    /// Which backend [`Dns::apply`] would use now: for [`Backend::Auto`],
    /// whether resolved owns its name on the system bus. Fails only for
    /// [`Backend::Resolved`] when the system bus cannot be reached.
    pub async fn backend_in_use(&self) -> Result<ActiveBackend, DnsError> {
        Ok(match self.choose().await? {
            Chosen::Resolved(_) => ActiveBackend::Resolved,
            Chosen::ResolvConf => ActiveBackend::ResolvConf(self.resolv.path().to_path_buf()),
        })
    }

    /// Sets `settings` for the link `ifname` (interface index `ifindex`),
    /// through the backend in use now. With no usable server, nothing is
    /// changed and the guard restores nothing. On error nothing is left
    /// changed (see [`Cleanup`] for the one exception).
    pub async fn apply(
        &self,
        ifindex: u32,
        ifname: &str,
        settings: &DnsSettings,
    ) -> Result<DnsGuard, DnsError> {
        let link = i32::try_from(ifindex)
            .ok()
            .filter(|&i| i > 0)
            .ok_or_else(|| DnsError::BadInterface {
                ifindex,
                ifname: ifname.to_string(),
            })?;
        if let Some(bad) = settings.search.iter().find(|d| !valid_search_domain(d)) {
            return Err(DnsError::BadDomain(bad.clone()));
        }
        let servers: Vec<IpAddr> = settings
            .servers
            .iter()
            .copied()
            .filter(usable_server)
            .collect();
        let mut guard = DnsGuard {
            ifname: ifname.to_string(),
            servers,
            search: settings.search.clone(),
            default_route: settings.default_route,
            state: GuardState::Unchanged,
        };
        if guard.servers.is_empty() {
            return Ok(guard);
        }
        match self.choose().await? {
            Chosen::Resolved(conn) => {
                apply_resolved(&conn, link, ifname, &guard.servers, settings).await?;
                guard.state = GuardState::Resolved {
                    conn,
                    ifindex: link,
                    bus_address: self.bus_address.clone(),
                };
            }
            Chosen::ResolvConf => {
                // The interface name is the link's name in the file (it is
                // made safe for the comment there).
                let rc = self.resolv.clone();
                let name = ifname.to_string();
                let (servers, search) = (guard.servers.clone(), guard.search.clone());
                run_blocking(move || rc.apply(&name, &servers, &search)).await?;
                // The resolver reads (and the file gets) at most three.
                guard.servers.truncate(MAX_SERVERS);
                guard.state = GuardState::ResolvConf {
                    resolv: self.resolv.clone(),
                };
            }
        }
        Ok(guard)
    }

    /// Picks the backend for one apply.
    async fn choose(&self) -> Result<Chosen, DnsError> {
        match self.backend {
            Backend::ResolvConf => Ok(Chosen::ResolvConf),
            Backend::Resolved => Ok(Chosen::Resolved(
                connect(self.bus_address.as_deref()).await?,
            )),
            Backend::Auto => {
                let Ok(conn) = connect(self.bus_address.as_deref()).await else {
                    return Ok(Chosen::ResolvConf);
                };
                let owned =
                    tokio::time::timeout(BUS_CONNECT_TIMEOUT, resolved_has_owner(&conn)).await;
                Ok(match owned {
                    Ok(Ok(true)) => Chosen::Resolved(conn),
                    _ => Chosen::ResolvConf,
                })
            }
        }
    }
}

/// Runs resolv.conf file work (which fsyncs) off the async threads.
async fn run_blocking<T, F>(work: F) -> Result<T, DnsError>
where
    F: FnOnce() -> Result<T, ResolvError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(DnsError::from),
        Err(e) => Err(DnsError::Task(e.to_string())),
    }
}

/// Connects to the system bus (`address`, or the default), giving up after
/// [`BUS_CONNECT_TIMEOUT`].
async fn connect(address: Option<&str>) -> Result<Connection, DnsError> {
    let shown = address.unwrap_or("the default address").to_string();
    let builder = match address {
        Some(a) => Builder::address(a),
        None => Builder::system(),
    }
    .method_timeout(CALL_TIMEOUT);
    match tokio::time::timeout(BUS_CONNECT_TIMEOUT, builder.build()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(DnsError::Bus {
            address: shown,
            reason: match e {
                // Its text repeats the address.
                zbus::Error::Connection(io, _) => io.to_string(),
                other => other.to_string(),
            },
        }),
        Err(_) => Err(DnsError::Bus {
            address: shown,
            reason: format!("no answer within {} s", BUS_CONNECT_TIMEOUT.as_secs()),
        }),
    }
}

/// Whether `org.freedesktop.resolve1` has an owner on the bus.
async fn resolved_has_owner(conn: &Connection) -> zbus::Result<bool> {
    conn.call_method(
        Some("org.freedesktop.DBus"),
        "/org/freedesktop/DBus",
        Some("org.freedesktop.DBus"),
        "NameHasOwner",
        &RESOLVED_BUS_NAME,
    )
    .await?
    .body()
    .deserialize::<bool>()
}

/// Sets the link's DNS in resolved; on failure, reverts what was set.
async fn apply_resolved(
    conn: &Connection,
    ifindex: i32,
    ifname: &str,
    servers: &[IpAddr],
    settings: &DnsSettings,
) -> Result<(), DnsError> {
    let manager = ResolvedManager { conn };
    let failed = |call: &'static str, e: &zbus::Error, cleanup: Cleanup| DnsError::Resolved {
        call,
        ifname: ifname.to_string(),
        error_name: error_name(e),
        reason: describe_error(e),
        cleanup,
    };
    let addresses: Vec<(i32, Vec<u8>)> = servers.iter().map(resolved_address).collect();
    // The first call changes nothing when it fails.
    if let Err(e) = manager.set_link_dns(ifindex, &addresses).await {
        return Err(failed("SetLinkDNS", &e, Cleanup::NotNeeded));
    }
    let domains = resolved_domains(&settings.search, settings.default_route);
    let rest = match manager.set_link_domains(ifindex, &domains).await {
        Err(e) => Err(("SetLinkDomains", e)),
        Ok(()) => match manager
            .set_link_default_route(ifindex, settings.default_route)
            .await
        {
            // resolved before v240 has no such call.
            Err(e) if is_error_named(&e, UNKNOWN_METHOD) => Ok(()),
            Err(e) => Err(("SetLinkDefaultRoute", e)),
            Ok(()) => Ok(()),
        },
    };
    match rest {
        Ok(()) => Ok(()),
        Err((call, e)) => {
            let cleanup = match manager.revert_link(ifindex).await {
                Ok(()) => Cleanup::Reverted,
                Err(r) => Cleanup::RevertFailed(format!("RevertLink: {}", describe_error(&r))),
            };
            Err(failed(call, &e, cleanup))
        }
    }
}

/// What a [`DnsGuard`] restores.
enum GuardState {
    /// Nothing was changed.
    Unchanged,
    /// resolved has the link's settings.
    Resolved {
        conn: Connection,
        ifindex: i32,
        bus_address: Option<String>,
    },
    /// The resolv.conf lists the link (named by the guard's `ifname`).
    ResolvConf { resolv: ResolvConf },
}

/// The DNS settings of one link, in place until [`DnsGuard::restore`].
///
/// Dropping the guard without restoring leaves them in place: resolved
/// forgets them when the interface goes away, and a managed resolv.conf is
/// put back by [`Dns::recover`] at the next start.
#[must_use = "DNS stays set until the guard is restored"]
pub struct DnsGuard {
    ifname: String,
    servers: Vec<IpAddr>,
    search: Vec<String>,
    default_route: bool,
    state: GuardState,
}

impl fmt::Debug for DnsGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsGuard")
            .field("description", &self.describe())
            .finish()
    }
}

impl DnsGuard {
    /// The backend that holds the settings; `None` when nothing was changed
    /// (there was no usable server).
    pub fn backend(&self) -> Option<ActiveBackend> {
        match &self.state {
            GuardState::Unchanged => None,
            GuardState::Resolved { .. } => Some(ActiveBackend::Resolved),
            GuardState::ResolvConf { resolv } => {
                Some(ActiveBackend::ResolvConf(resolv.path().to_path_buf()))
            }
        }
    }

    /// The servers put in place (empty when nothing was changed; at most
    /// three with the resolv.conf).
    pub fn servers(&self) -> &[IpAddr] {
        match self.state {
            GuardState::Unchanged => &[],
            _ => &self.servers,
        }
    }

    /// One line for a person: what was set, and how.
    pub fn describe(&self) -> String {
        let Some(backend) = self.backend() else {
            return format!("DNS unchanged for {}: no usable server", self.ifname);
        };
        let mut s = format!(
            "DNS via {backend} for {}: {}",
            self.ifname,
            join_servers(&self.servers)
        );
        if !self.search.is_empty() {
            s.push_str(&format!("; search {}", self.search.join(" ")));
        }
        if self.default_route && backend == ActiveBackend::Resolved {
            s.push_str("; default DNS route (~.)");
        }
        s
    }

    /// Takes the settings away: `RevertLink` for resolved; for the file,
    /// this link's servers out of it ([`ResolvConf::restore`]), and what was
    /// there before back when no other link is left. A link resolved no
    /// longer knows (its interface is gone), or that the resolv.conf no
    /// longer lists (it was recovered since), counts as restored.
    pub async fn restore(self) -> Result<(), DnsError> {
        match self.state {
            GuardState::Unchanged => Ok(()),
            GuardState::ResolvConf { resolv } => {
                let link = self.ifname;
                run_blocking(move || resolv.restore(&link)).await.map(drop)
            }
            GuardState::Resolved {
                conn,
                ifindex,
                bus_address,
            } => {
                let conn = if conn.is_closed() {
                    connect(bus_address.as_deref()).await?
                } else {
                    conn
                };
                match (ResolvedManager { conn: &conn }).revert_link(ifindex).await {
                    Ok(()) => Ok(()),
                    Err(e) if is_error_named(&e, NO_SUCH_LINK) => Ok(()),
                    Err(e) => Err(DnsError::Resolved {
                        call: "RevertLink",
                        ifname: self.ifname,
                        error_name: error_name(&e),
                        reason: describe_error(&e),
                        cleanup: Cleanup::NotNeeded,
                    }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn servers_are_encoded_as_resolved_takes_them() {
        let v4: IpAddr = "10.0.0.53".parse().unwrap();
        let v6: IpAddr = "2001:db8::53".parse().unwrap();
        assert_eq!(resolved_address(&v4), (2, vec![10, 0, 0, 53]));
        let (family, bytes) = resolved_address(&v6);
        assert_eq!(family, 10);
        assert_eq!(
            bytes,
            vec![0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53]
        );
    }

    #[test]
    fn servers_that_cannot_be_servers_are_left_out() {
        for bad in ["0.0.0.0", "::", "224.0.0.1", "255.255.255.255", "ff02::1"] {
            assert!(!usable_server(&bad.parse().unwrap()), "{bad}");
        }
        for good in ["10.0.0.53", "192.0.2.1", "2001:db8::1", "fe80::1"] {
            assert!(usable_server(&good.parse().unwrap()), "{good}");
        }
    }

    #[test]
    fn search_domains_are_plain_dns_names() {
        for good in ["example.net", "example.net.", "a", "my_lan", "x-1.y-2.z"] {
            assert!(valid_search_domain(good), "{good}");
        }
        let long_label = "a".repeat(64);
        let long_name = vec!["abcdefghi"; 26].join(".");
        for bad in [
            "",
            ".",
            "..",
            "a..b",
            ".example.net",
            "~.",
            "~example.net",
            "exa mple.net",
            "example.net\nnameserver 6.6.6.6",
            "ex#ample",
            "exämple.net",
            long_label.as_str(),
            long_name.as_str(),
        ] {
            assert!(!valid_search_domain(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_default_route_adds_the_routing_only_root_domain() {
        let search = vec!["example.net".to_string(), "corp.example".to_string()];
        assert_eq!(
            resolved_domains(&search, true),
            vec![("example.net", false), ("corp.example", false), (".", true)]
        );
        assert_eq!(
            resolved_domains(&search, false),
            vec![("example.net", false), ("corp.example", false)]
        );
        assert!(resolved_domains(&[], false).is_empty());
    }

    #[test]
    fn backends_read_well_after_via() {
        assert_eq!(ActiveBackend::Resolved.to_string(), "systemd-resolved");
        assert_eq!(
            ActiveBackend::ResolvConf("/etc/resolv.conf".into()).to_string(),
            "/etc/resolv.conf"
        );
    }

    #[test]
    fn errors_name_the_call_and_what_was_done() {
        let e = DnsError::Resolved {
            call: "SetLinkDomains",
            ifname: "ppp0".into(),
            error_name: Some("org.freedesktop.DBus.Error.InvalidArgs".into()),
            reason: "org.freedesktop.DBus.Error.InvalidArgs: bad domain".into(),
            cleanup: Cleanup::Reverted,
        };
        assert_eq!(
            e.to_string(),
            "systemd-resolved SetLinkDomains for ppp0 failed: \
             org.freedesktop.DBus.Error.InvalidArgs: bad domain; what was already set was reverted"
        );
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn bad_input_is_refused_before_anything_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        std::fs::write(&path, "nameserver 192.0.2.1\n").unwrap();
        let dns = Dns::new(&path, dir.path().join("state"), Backend::ResolvConf, None);
        let settings = DnsSettings {
            servers: vec!["10.0.0.53".parse().unwrap()],
            search: vec![],
            default_route: true,
        };
        let rt = runtime();
        for ifindex in [0, u32::MAX, 1 << 31] {
            assert!(matches!(
                rt.block_on(dns.apply(ifindex, "ppp0", &settings)),
                Err(DnsError::BadInterface { .. })
            ));
        }
        let bad = DnsSettings {
            search: vec!["ok.example".into(), "bad\nnameserver 6.6.6.6".into()],
            ..settings.clone()
        };
        assert!(matches!(
            rt.block_on(dns.apply(3, "ppp0", &bad)),
            Err(DnsError::BadDomain(d)) if d.starts_with("bad")
        ));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "nameserver 192.0.2.1\n"
        );
        assert!(!rt.block_on(dns.recover()).unwrap(), "nothing was managed");
    }

    #[test]
    fn no_usable_server_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        std::fs::write(&path, "nameserver 192.0.2.1\n").unwrap();
        let dns = Dns::new(&path, dir.path().join("state"), Backend::ResolvConf, None);
        let settings = DnsSettings {
            servers: vec!["0.0.0.0".parse().unwrap()],
            search: vec!["example.net".into()],
            default_route: true,
        };
        let rt = runtime();
        let guard = rt.block_on(dns.apply(3, "ppp0", &settings)).unwrap();
        assert_eq!(guard.backend(), None);
        assert!(guard.servers().is_empty());
        assert_eq!(guard.describe(), "DNS unchanged for ppp0: no usable server");
        rt.block_on(guard.restore()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "nameserver 192.0.2.1\n"
        );
    }

    #[test]
    fn the_resolv_conf_backend_applies_restores_and_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        std::fs::write(&path, "nameserver 192.0.2.1\n").unwrap();
        let state = dir.path().join("state");
        let dns = Dns::new(&path, &state, Backend::ResolvConf, None);
        let settings = DnsSettings {
            servers: (1..=5).map(|i| IpAddr::from([10, 0, 0, i])).collect(),
            search: vec!["example.net".into()],
            default_route: true,
        };
        let rt = runtime();
        assert_eq!(
            rt.block_on(dns.backend_in_use()).unwrap(),
            ActiveBackend::ResolvConf(path.clone())
        );
        let guard = rt.block_on(dns.apply(3, "ppp0", &settings)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("link ppp0."));
        assert!(text.contains("search example.net\nnameserver 10.0.0.1\n"));
        assert_eq!(guard.servers().len(), 3);
        assert_eq!(
            guard.describe(),
            format!(
                "DNS via {} for ppp0: 10.0.0.1 10.0.0.2 10.0.0.3; search example.net",
                path.display()
            )
        );
        rt.block_on(guard.restore()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "nameserver 192.0.2.1\n"
        );

        // A run that dies with the link up is recovered by the next one.
        let guard = rt.block_on(dns.apply(3, "ppp0", &settings)).unwrap();
        drop(guard);
        dns.resolv.forget_links_of_this_process();
        let next = Dns::new(&path, &state, Backend::Auto, None);
        assert!(rt.block_on(next.recover()).unwrap());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "nameserver 192.0.2.1\n"
        );
    }

    #[test]
    fn two_interfaces_share_the_resolv_conf() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        std::fs::write(&path, "nameserver 192.0.2.1\n").unwrap();
        let dns = Dns::new(&path, dir.path().join("state"), Backend::ResolvConf, None);
        let settings = |servers: &[[u8; 4]], search: &str| DnsSettings {
            servers: servers.iter().map(|&s| IpAddr::from(s)).collect(),
            search: vec![search.to_string()],
            default_route: true,
        };
        let rt = runtime();
        let first = rt
            .block_on(dns.apply(3, "ppp0", &settings(&[[10, 0, 0, 1]], "zero.example")))
            .unwrap();
        // The second modem comes up while the first is.
        let second = rt
            .block_on(dns.apply(
                4,
                "ppp1",
                &settings(&[[10, 1, 0, 1], [10, 0, 0, 1]], "one.example"),
            ))
            .unwrap();
        assert_eq!(
            second.describe(),
            format!(
                "DNS via {} for ppp1: 10.1.0.1 10.0.0.1; search one.example",
                path.display()
            )
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("links ppp1, ppp0 "), "{text}");
        assert!(
            text.contains(
                "search one.example zero.example\nnameserver 10.1.0.1\nnameserver 10.0.0.1\n"
            ),
            "{text}"
        );
        assert_eq!(text.matches("nameserver").count(), 2, "{text}");

        // The first goes down: the second's settings stay.
        rt.block_on(first.restore()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("link ppp1."), "{text}");
        assert!(
            text.contains("search one.example\nnameserver 10.1.0.1\nnameserver 10.0.0.1\n"),
            "{text}"
        );
        // A session starting now does not take them away.
        assert!(!rt.block_on(dns.recover()).unwrap());

        rt.block_on(second.restore()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "nameserver 192.0.2.1\n"
        );
    }

    #[test]
    fn the_futures_can_be_spawned() {
        fn assert_send<T: Send>(_: &T) {}
        let dns = Dns::new(
            "/nonexistent/resolv.conf",
            "/nonexistent",
            Backend::Auto,
            None,
        );
        let settings = DnsSettings::default();
        assert_send(&dns.apply(1, "ppp0", &settings));
        assert_send(&dns.recover());
        assert_send(&dns.backend_in_use());
        let guard = DnsGuard {
            ifname: "ppp0".into(),
            servers: vec![],
            search: vec![],
            default_route: false,
            state: GuardState::Unchanged,
        };
        assert_send(&guard);
        assert_send(&guard.restore());
    }

    proptest! {
        #[test]
        fn accepted_domains_are_single_words(s in "\\PC{0,80}") {
            if valid_search_domain(&s) {
                prop_assert!(s.bytes().all(|b| b.is_ascii_graphic()));
                prop_assert!(!s.contains(['#', ';', '~']));
            }
        }

        #[test]
        fn every_address_encodes_to_its_family_length(bytes in any::<[u8; 16]>(), v4 in any::<bool>()) {
            let ip = if v4 {
                IpAddr::from([bytes[0], bytes[1], bytes[2], bytes[3]])
            } else {
                IpAddr::from(bytes)
            };
            let (family, encoded) = resolved_address(&ip);
            prop_assert_eq!(encoded.len(), if v4 { 4 } else { 16 });
            prop_assert_eq!(family, if v4 { AF_INET } else { AF_INET6 });
        }
    }
}
