//! What a client knows of the daemon's objects: snapshots of a link's, a
//! profile's and the manager's properties, built from `GetAll` or
//! `GetManagedObjects` answers and kept up to date from the daemon's
//! signals, which [`decode`] turns into [`Signal`]s. `dialtonectl` and the
//! GUI both keep their view of the daemon with these.
//!
//! Ordering: a client subscribes to the signals *before* it reads the
//! state it starts from. A snapshot carries a [`Stamp`], the serial number
//! of the reply that brought it; a signal with a lower serial from the same
//! daemon connection was sent before the snapshot and is already in it.

use std::collections::{BTreeMap, HashMap};

use zbus::{Message, OwnedObjectPath, OwnedVariant, Variant};

use crate::dbus::{
    LinkState, PortInfo, StateReason, Transcript, TranscriptEntry, LINK_INTERFACE,
    MANAGER_INTERFACE, PROFILE_INTERFACE,
};
use crate::settings::Settings;

/// The standard Properties interface.
pub const PROPERTIES_INTERFACE: &str = "org.freedesktop.DBus.Properties";
/// The standard ObjectManager interface.
pub const OBJECT_MANAGER_INTERFACE: &str = "org.freedesktop.DBus.ObjectManager";

/// The object path that stands for "none" (`ActiveLink` of a profile that
/// is not connected).
pub const NO_PATH: &str = "/";

/// A value of the type `T` out of a property's variant.
fn value<T>(v: &Variant<'_>) -> Result<T, String>
where
    T: TryFrom<OwnedVariant>,
    T::Error: std::fmt::Display,
{
    let owned = v.try_to_owned().map_err(|e| e.to_string())?;
    T::try_from(owned).map_err(|e| e.to_string())
}

/// `Some(path)` unless it is [`NO_PATH`] or empty.
fn some_path(p: OwnedObjectPath) -> Option<String> {
    let s = p.as_str();
    (s != NO_PATH && !s.is_empty()).then(|| s.to_string())
}

/// The last element of an object path: a link's number, a profile's
/// escaped id.
pub fn leaf(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A link's properties (the Link interface), named as on the bus.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkInfo {
    /// The link's object path.
    pub path: String,
    /// Its profile's object path (`Profile`).
    pub profile: String,
    /// A [`LinkState`] word (`State`).
    pub state: String,
    /// `StateReason`.
    pub reason: StateReason,
    /// The PPP phase (`Phase`).
    pub phase: String,
    /// The serial device (`Device`).
    pub device: String,
    /// The number dialed (`Number`).
    pub number: String,
    /// The network interface (`Interface`).
    pub interface: String,
    /// (local, peer) IPv4 (`Ipv4`).
    pub ipv4: (String, String),
    /// (local, peer) IPv6 (`Ipv6`).
    pub ipv6: (String, String),
    /// DNS servers (`Dns`).
    pub dns: Vec<String>,
    /// Whether the default route goes through the link (`DefaultRoute`).
    pub default_route: bool,
    /// `Mtu`, or 0.
    pub mtu: u32,
    /// `Authentication`: PAP, CHAP-MD5, MS-CHAPv2 or empty.
    pub authentication: String,
    /// The modem's CONNECT speed (`ConnectSpeed`), or 0.
    pub connect_speed: u32,
    /// `ConnectedSince`, microseconds since the epoch, or 0.
    pub connected_since: u64,
    /// `Statistics`, by key.
    pub statistics: BTreeMap<String, u64>,
}

impl LinkInfo {
    /// An empty snapshot of the link at `path`.
    pub fn new(path: &str) -> Self {
        LinkInfo {
            path: path.to_string(),
            ..LinkInfo::default()
        }
    }

    /// A snapshot from a `GetAll` answer.
    pub fn from_props(path: &str, props: &HashMap<String, OwnedVariant>) -> Result<Self, String> {
        let mut info = LinkInfo::new(path);
        for (name, v) in props {
            info.apply(name, v)?;
        }
        Ok(info)
    }

    /// Takes in one property's new value. Properties this client does not
    /// know (a newer daemon's) are ignored; a known one of the wrong type
    /// is an error naming it.
    pub fn apply(&mut self, name: &str, v: &Variant<'_>) -> Result<(), String> {
        let r: Result<(), String> = (|| {
            match name {
                "Profile" => self.profile = some_path(value(v)?).unwrap_or_default(),
                "State" => self.state = value(v)?,
                "StateReason" => {
                    let (code, message, details): (String, String, HashMap<String, String>) =
                        value(v)?;
                    self.reason = StateReason {
                        code,
                        message,
                        details,
                    };
                }
                "Phase" => self.phase = value(v)?,
                "Device" => self.device = value(v)?,
                "Number" => self.number = value(v)?,
                "Interface" => self.interface = value(v)?,
                "Ipv4" => self.ipv4 = value(v)?,
                "Ipv6" => self.ipv6 = value(v)?,
                "Dns" => self.dns = value(v)?,
                "DefaultRoute" => self.default_route = value(v)?,
                "Mtu" => self.mtu = value(v)?,
                "Authentication" => self.authentication = value(v)?,
                "ConnectSpeed" => self.connect_speed = value(v)?,
                "ConnectedSince" => self.connected_since = value(v)?,
                "Statistics" => {
                    let map: HashMap<String, u64> = value(v)?;
                    self.statistics = map.into_iter().collect();
                }
                _ => {}
            }
            Ok(())
        })();
        r.map_err(|e| format!("Link.{name}: {e}"))
    }

    /// The state, if it is one this client knows.
    pub fn link_state(&self) -> Option<LinkState> {
        self.state.parse().ok()
    }

    /// Whether the session is over.
    pub fn is_disconnected(&self) -> bool {
        self.link_state() == Some(LinkState::Disconnected)
    }

    /// The link's number (the last element of its path).
    pub fn number_of_link(&self) -> &str {
        leaf(&self.path)
    }

    /// A counter of `Statistics`, 0 when absent.
    pub fn stat(&self, key: &str) -> u64 {
        self.statistics.get(key).copied().unwrap_or(0)
    }
}

/// A profile's properties (the Profile interface).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProfileInfo {
    /// Its object path.
    pub path: String,
    /// `Id`.
    pub id: String,
    /// `Name`.
    pub name: String,
    /// `HasSecrets`.
    pub has_secrets: bool,
    /// `ActiveLink`, unless `/`.
    pub active_link: Option<String>,
    /// `LastLink`, unless `/`.
    pub last_link: Option<String>,
    /// `Settings`.
    pub settings: Settings,
}

impl ProfileInfo {
    /// A snapshot from a `GetAll` answer.
    pub fn from_props(path: &str, props: &HashMap<String, OwnedVariant>) -> Result<Self, String> {
        let mut p = ProfileInfo {
            path: path.to_string(),
            ..ProfileInfo::default()
        };
        for (name, v) in props {
            p.apply(name, v)?;
        }
        if p.id.is_empty() {
            p.id = leaf(path).to_string();
        }
        Ok(p)
    }

    /// Takes in one property's new value; unknown properties are ignored,
    /// a known one of the wrong type is an error naming it.
    pub fn apply(&mut self, name: &str, v: &Variant<'_>) -> Result<(), String> {
        let r: Result<(), String> = (|| {
            match name {
                "Id" => self.id = value(v)?,
                "Name" => self.name = value(v)?,
                "HasSecrets" => self.has_secrets = value(v)?,
                "ActiveLink" => self.active_link = some_path(value(v)?),
                "LastLink" => self.last_link = some_path(value(v)?),
                "Settings" => self.settings = value(v)?,
                _ => {}
            }
            Ok(())
        })();
        r.map_err(|e| format!("Profile.{name}: {e}"))
    }

    /// A string setting (`line.device`), if present and a string.
    pub fn setting_str(&self, key: &str) -> Option<String> {
        let v = self.settings.get(key)?.try_clone().ok()?;
        String::try_from(v).ok()
    }
}

/// Picks the profile meant by `wanted` among `all`: the one whose id is
/// `wanted`, else the one whose name is `wanted` ignoring case.
pub fn pick_profile(all: Vec<ProfileInfo>, wanted: &str) -> Result<ProfileInfo, PickError> {
    let mut by_name = Vec::new();
    for p in all {
        if p.id == wanted {
            return Ok(p);
        }
        if p.name.to_lowercase() == wanted.to_lowercase() {
            by_name.push(p);
        }
    }
    match by_name.len() {
        0 => Err(PickError::None),
        1 => Ok(by_name.remove(0)),
        _ => Err(PickError::Ambiguous(
            by_name.into_iter().map(|p| p.id).collect(),
        )),
    }
}

/// Why [`pick_profile`] found none.
#[derive(Debug, PartialEq, Eq)]
pub enum PickError {
    /// Nothing has that id or name.
    None,
    /// Several profiles have that name: their ids.
    Ambiguous(Vec<String>),
}

/// The Manager's properties.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManagerInfo {
    /// `Version`.
    pub version: String,
    /// `SerialPorts`.
    pub serial_ports: Vec<PortInfo>,
    /// `ModemLink`: where /dev/modem points, empty if nowhere.
    pub modem_link: String,
    /// `ProfileProblems`: (file, why) of profiles that could not be loaded.
    pub profile_problems: Vec<(String, String)>,
    /// `ActiveLinks`.
    pub active_links: u32,
}

impl ManagerInfo {
    /// A snapshot from a `GetAll` answer.
    pub fn from_props(props: &HashMap<String, OwnedVariant>) -> Result<Self, String> {
        let mut m = ManagerInfo::default();
        for (name, v) in props {
            m.apply(name, v)?;
        }
        Ok(m)
    }

    /// Takes in one property's new value; unknown properties are ignored,
    /// a known one of the wrong type is an error naming it.
    pub fn apply(&mut self, name: &str, v: &Variant<'_>) -> Result<(), String> {
        let r: Result<(), String> = (|| {
            match name {
                "Version" => self.version = value(v)?,
                "SerialPorts" => {
                    let ports: Vec<PortTuple> = value(v)?;
                    self.serial_ports = ports.into_iter().map(port_from_tuple).collect();
                }
                "ModemLink" => self.modem_link = value(v)?,
                "ProfileProblems" => self.profile_problems = value(v)?,
                "ActiveLinks" => self.active_links = value(v)?,
                _ => {}
            }
            Ok(())
        })();
        r.map_err(|e| format!("Manager.{name}: {e}"))
    }
}

/// [`PortInfo`] as its fields travel in a variant.
type PortTuple = (
    String,
    String,
    String,
    String,
    String,
    String,
    u16,
    u16,
    String,
    String,
    String,
    u32,
    bool,
);

fn port_from_tuple(t: PortTuple) -> PortInfo {
    PortInfo {
        path: t.0,
        by_id: t.1,
        by_path: t.2,
        driver: t.3,
        description: t.4,
        manufacturer: t.5,
        vendor_id: t.6,
        product_id: t.7,
        product: t.8,
        serial: t.9,
        busy_program: t.10,
        busy_pid: t.11,
        modem_link: t.12,
    }
}

/// When a snapshot was taken: the daemon's connection and the serial
/// number of its reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    sender: Option<String>,
    serial: u32,
}

impl Stamp {
    /// The stamp of a reply (or any message) from the daemon.
    pub fn of(msg: &Message) -> Self {
        Stamp {
            sender: msg.header().sender().map(|s| s.to_string()),
            serial: msg.primary_header().serial_num().get(),
        }
    }

    /// Whether `msg` was sent after the message this stamp is of (or by
    /// another daemon connection, i.e. a restarted daemon).
    pub fn is_before(&self, msg: &Message) -> bool {
        let other = Stamp::of(msg);
        other.sender != self.sender || other.serial > self.serial
    }
}

/// Which of the daemon's interfaces a signal is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    /// `…Dialtone1.Manager`.
    Manager,
    /// `…Dialtone1.Profile`.
    Profile,
    /// `…Dialtone1.Link`.
    Link,
}

impl Interface {
    /// The interface of this name, if it is one of ours.
    pub fn from_name(name: &str) -> Option<Interface> {
        match name {
            MANAGER_INTERFACE => Some(Interface::Manager),
            PROFILE_INTERFACE => Some(Interface::Profile),
            LINK_INTERFACE => Some(Interface::Link),
            _ => None,
        }
    }
}

/// A signal from the daemon, decoded.
#[derive(Debug)]
pub enum Signal {
    /// Properties of one of our interfaces changed (PropertiesChanged).
    Changed {
        /// The object.
        path: String,
        /// Its interface.
        interface: Interface,
        /// The new values.
        changed: HashMap<String, OwnedVariant>,
        /// Properties whose new value must be read.
        invalidated: Vec<String>,
    },
    /// A transcript line of the link at `path`.
    Transcript {
        /// The link.
        path: String,
        /// The line.
        entry: TranscriptEntry,
    },
    /// An object appeared, or gained interfaces (InterfacesAdded): our
    /// interfaces among them, with their properties.
    Added {
        /// The object.
        path: String,
        /// Each interface with its properties.
        interfaces: Vec<(Interface, HashMap<String, OwnedVariant>)>,
    },
    /// An object lost interfaces (InterfacesRemoved): ours among them.
    Removed {
        /// The object.
        path: String,
        /// The interfaces.
        interfaces: Vec<Interface>,
    },
    /// Anything else.
    Other,
}

fn owned_props<'a>(
    props: impl IntoIterator<Item = (impl ToString, &'a Variant<'a>)>,
    what: &str,
) -> Result<HashMap<String, OwnedVariant>, String> {
    let mut out = HashMap::new();
    for (name, v) in props {
        let name = name.to_string();
        let v = v
            .try_to_owned()
            .map_err(|e| format!("{what} {name}: {e}"))?;
        out.insert(name, v);
    }
    Ok(out)
}

/// Decodes a signal. Malformed signals are errors naming what was wrong;
/// signals about other interfaces are [`Signal::Other`].
pub fn decode(msg: &Message) -> Result<Signal, String> {
    let header = msg.header();
    let path = header.path().map(|p| p.to_string()).unwrap_or_default();
    let interface = header
        .interface()
        .map(|i| i.to_string())
        .unwrap_or_default();
    let member = header.member().map(|m| m.to_string()).unwrap_or_default();
    match (interface.as_str(), member.as_str()) {
        (PROPERTIES_INTERFACE, "PropertiesChanged") => {
            let Some(signal) = zbus::fdo::PropertiesChanged::from_message(msg.clone()) else {
                return Ok(Signal::Other);
            };
            let args = signal
                .args()
                .map_err(|e| format!("PropertiesChanged: {e}"))?;
            let Some(interface) = Interface::from_name(args.interface_name().as_str()) else {
                return Ok(Signal::Other);
            };
            let changed = owned_props(args.changed_properties().iter(), "PropertiesChanged")?;
            let invalidated = args
                .invalidated_properties()
                .iter()
                .map(|s| s.to_string())
                .collect();
            Ok(Signal::Changed {
                path,
                interface,
                changed,
                invalidated,
            })
        }
        (LINK_INTERFACE, "Transcript") => {
            let Some(signal) = Transcript::from_message(msg.clone()) else {
                return Ok(Signal::Other);
            };
            let args = signal.args().map_err(|e| format!("Transcript: {e}"))?;
            Ok(Signal::Transcript {
                path,
                entry: args.entry().clone(),
            })
        }
        (OBJECT_MANAGER_INTERFACE, "InterfacesAdded") => {
            let Some(signal) = zbus::fdo::InterfacesAdded::from_message(msg.clone()) else {
                return Ok(Signal::Other);
            };
            let args = signal.args().map_err(|e| format!("InterfacesAdded: {e}"))?;
            let mut interfaces = Vec::new();
            for (name, props) in args.interfaces_and_properties() {
                if let Some(i) = Interface::from_name(name.as_str()) {
                    interfaces.push((i, owned_props(props.iter(), "InterfacesAdded")?));
                }
            }
            if interfaces.is_empty() {
                return Ok(Signal::Other);
            }
            Ok(Signal::Added {
                path: args.object_path().to_string(),
                interfaces,
            })
        }
        (OBJECT_MANAGER_INTERFACE, "InterfacesRemoved") => {
            let Some(signal) = zbus::fdo::InterfacesRemoved::from_message(msg.clone()) else {
                return Ok(Signal::Other);
            };
            let args = signal
                .args()
                .map_err(|e| format!("InterfacesRemoved: {e}"))?;
            let interfaces: Vec<Interface> = args
                .interfaces()
                .iter()
                .filter_map(|i| Interface::from_name(i.as_str()))
                .collect();
            if interfaces.is_empty() {
                return Ok(Signal::Other);
            }
            Ok(Signal::Removed {
                path: args.object_path().to_string(),
                interfaces,
            })
        }
        _ => Ok(Signal::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ov(v: Variant<'_>) -> OwnedVariant {
        v.try_to_owned().expect("plain values")
    }

    pub(crate) fn sample_props() -> HashMap<String, OwnedVariant> {
        let mut m = HashMap::new();
        m.insert(
            "Profile".to_string(),
            ov(Variant::from(
                zbus::ObjectPath::try_from("/io/github/dialtone/Dialtone1/Profile/isp")
                    .expect("a path"),
            )),
        );
        m.insert("State".into(), ov(Variant::from("connected")));
        m.insert(
            "StateReason".into(),
            ov(Variant::from(zbus::Structure::from((
                "ppp:up".to_string(),
                "the link is up".to_string(),
                HashMap::from([("number".to_string(), "5551234".to_string())]),
            )))),
        );
        m.insert("Interface".into(), ov(Variant::from("dtn0")));
        m.insert(
            "Ipv4".into(),
            ov(Variant::from(zbus::Structure::from((
                "10.0.0.2".to_string(),
                "10.0.0.1".to_string(),
            )))),
        );
        m.insert(
            "Dns".into(),
            ov(Variant::from(vec!["192.0.2.53".to_string()])),
        );
        m.insert("ConnectSpeed".into(), ov(Variant::from(57_600u32)));
        m.insert("ConnectedSince".into(), ov(Variant::from(1_000_000u64)));
        m.insert(
            "Statistics".into(),
            ov(Variant::from(HashMap::from([(
                "rx-bytes".to_string(),
                1_234_567u64,
            )]))),
        );
        m.insert("SomethingNewer".into(), ov(Variant::from(7u32)));
        m
    }

    #[test]
    fn a_link_from_its_properties() {
        let info = LinkInfo::from_props("/io/github/dialtone/Dialtone1/Link/3", &sample_props())
            .expect("valid properties");
        assert_eq!(info.profile, "/io/github/dialtone/Dialtone1/Profile/isp");
        assert_eq!(info.link_state(), Some(LinkState::Connected));
        assert_eq!(info.reason.code, "ppp:up");
        assert_eq!(info.reason.details["number"], "5551234");
        assert_eq!(info.ipv4, ("10.0.0.2".into(), "10.0.0.1".into()));
        assert_eq!(info.dns, ["192.0.2.53"]);
        assert_eq!(info.connect_speed, 57_600);
        assert_eq!(info.stat("rx-bytes"), 1_234_567);
        assert_eq!(info.stat("tx-bytes"), 0);
        assert_eq!(info.number_of_link(), "3");
    }

    #[test]
    fn a_property_of_the_wrong_type_is_named() {
        let mut info = LinkInfo::new("/l/1");
        let e = info.apply("Mtu", &Variant::from("big")).unwrap_err();
        assert!(e.starts_with("Link.Mtu: "), "{e}");
    }

    fn profile(id: &str, name: &str) -> ProfileInfo {
        ProfileInfo {
            id: id.into(),
            name: name.into(),
            ..ProfileInfo::default()
        }
    }

    #[test]
    fn profiles_by_id_then_by_name() {
        let all = || {
            vec![
                profile("isp", "Example ISP"),
                profile("work", "isp"),
                profile("a", "Twin"),
                profile("b", "twin"),
            ]
        };
        assert_eq!(pick_profile(all(), "isp").map(|p| p.id), Ok("isp".into()));
        assert_eq!(
            pick_profile(all(), "example isp").map(|p| p.id),
            Ok("isp".into())
        );
        assert_eq!(pick_profile(all(), "ISP").map(|p| p.id), Ok("work".into()));
        assert_eq!(
            pick_profile(all(), "TWIN").map(|p| p.id),
            Err(PickError::Ambiguous(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            pick_profile(all(), "nope").map(|p| p.id),
            Err(PickError::None)
        );
    }

    #[test]
    fn a_profile_from_its_properties() {
        let mut m = HashMap::new();
        m.insert("Id".to_string(), ov(Variant::from("isp")));
        m.insert("Name".to_string(), ov(Variant::from("Example ISP")));
        m.insert("HasSecrets".to_string(), ov(Variant::from(true)));
        m.insert(
            "ActiveLink".to_string(),
            ov(Variant::from(
                zbus::ObjectPath::try_from("/").expect("root"),
            )),
        );
        let settings: HashMap<String, OwnedVariant> =
            HashMap::from([("line.device".to_string(), ov(Variant::from("/dev/ttyS1")))]);
        m.insert(
            "Settings".to_string(),
            OwnedVariant::try_from(Variant::from(
                settings
                    .iter()
                    .map(|(k, v)| (k.clone(), v.try_clone().expect("plain")))
                    .collect::<HashMap<_, _>>(),
            ))
            .expect("a dict"),
        );
        let p = ProfileInfo::from_props("/p/isp", &m).expect("valid properties");
        assert_eq!((p.id.as_str(), p.name.as_str()), ("isp", "Example ISP"));
        assert!(p.has_secrets);
        assert_eq!(p.active_link, None);
        assert_eq!(p.setting_str("line.device").as_deref(), Some("/dev/ttyS1"));
        assert_eq!(p.setting_str("line.speed"), None);
    }

    #[test]
    fn stamps_order_messages_of_one_sender() {
        let msg = |serial: u32| {
            Message::signal("/a", "a.b", "C")
                .sender(":1.5")
                .serial(std::num::NonZeroU32::new(serial).expect("nonzero"))
                .build(&())
                .expect("a signal")
        };
        let stamp = Stamp::of(&msg(10));
        assert!(!stamp.is_before(&msg(9)));
        assert!(!stamp.is_before(&msg(10)));
        assert!(stamp.is_before(&msg(11)));
    }

    #[test]
    fn the_manager_from_its_properties() {
        let port = (
            "/dev/ttyUSB0".to_string(),
            "/dev/serial/by-id/usb-FTDI-if00".to_string(),
            String::new(),
            "ftdi_sio".to_string(),
            "FTDI FT232R (ttyUSB0)".to_string(),
            "FTDI".to_string(),
            0x0403u16,
            0x6001u16,
            "FT232R".to_string(),
            "A1B2".to_string(),
            "minicom".to_string(),
            4242u32,
            true,
        );
        let props: HashMap<String, OwnedVariant> = HashMap::from([
            ("Version".to_string(), ov(Variant::from("0.1.0"))),
            ("SerialPorts".to_string(), ov(Variant::from(vec![port]))),
            ("ModemLink".to_string(), ov(Variant::from("/dev/ttyUSB0"))),
            ("ActiveLinks".to_string(), ov(Variant::from(2u32))),
        ]);
        let m = ManagerInfo::from_props(&props).expect("valid properties");
        assert_eq!(m.version, "0.1.0");
        assert_eq!(m.serial_ports.len(), 1);
        let p = &m.serial_ports[0];
        assert_eq!(p.path, "/dev/ttyUSB0");
        assert_eq!((p.vendor_id, p.product_id), (0x0403, 0x6001));
        assert_eq!((p.busy_program.as_str(), p.busy_pid), ("minicom", 4242));
        assert!(p.modem_link);
        assert_eq!(m.modem_link, "/dev/ttyUSB0");
        assert_eq!(m.active_links, 2);
        let mut m = m;
        let e = m.apply("ActiveLinks", &Variant::from("two")).unwrap_err();
        assert!(e.starts_with("Manager.ActiveLinks: "), "{e}");
    }

    #[test]
    fn property_changes_of_each_interface_are_decoded() {
        for (iface, expected) in [
            (MANAGER_INTERFACE, Some(Interface::Manager)),
            (PROFILE_INTERFACE, Some(Interface::Profile)),
            (LINK_INTERFACE, Some(Interface::Link)),
            ("org.example.Other", None),
        ] {
            let changed: HashMap<&str, Variant<'_>> =
                HashMap::from([("Name", Variant::from("New name"))]);
            let msg = Message::signal(
                "/io/github/dialtone/Dialtone1/Profile/isp",
                PROPERTIES_INTERFACE,
                "PropertiesChanged",
            )
            .build(&(iface, changed, vec!["Settings"]))
            .expect("a signal");
            match (decode(&msg), expected) {
                (
                    Ok(Signal::Changed {
                        path,
                        interface,
                        changed,
                        invalidated,
                    }),
                    Some(want),
                ) => {
                    assert_eq!(path, "/io/github/dialtone/Dialtone1/Profile/isp");
                    assert_eq!(interface, want);
                    assert!(changed.contains_key("Name"));
                    assert_eq!(invalidated, ["Settings"]);
                }
                (Ok(Signal::Other), None) => {}
                (other, want) => panic!("{iface}: {other:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn a_profile_follows_its_changes() {
        let mut p = ProfileInfo::from_props("/p/isp", &HashMap::new()).expect("empty is fine");
        assert_eq!(p.id, "isp");
        p.apply("Name", &Variant::from("Renamed"))
            .expect("a string");
        p.apply(
            "ActiveLink",
            &Variant::from(zbus::ObjectPath::try_from("/l/7").expect("a path")),
        )
        .expect("a path");
        assert_eq!(p.name, "Renamed");
        assert_eq!(p.active_link.as_deref(), Some("/l/7"));
        let e = p.apply("HasSecrets", &Variant::from(1u32)).unwrap_err();
        assert!(e.starts_with("Profile.HasSecrets: "), "{e}");
    }
}
