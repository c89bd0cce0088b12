//! What the client knows of the daemon's objects: snapshots of a link's
//! and a profile's properties, built from `GetAll` answers and kept up to
//! date from `PropertiesChanged` and `InterfacesAdded` signals.

use std::collections::{BTreeMap, HashMap};

use dialtone_api::dbus::{LinkState, StateReason};
use zbus::{OwnedObjectPath, OwnedVariant, Variant};

use crate::convert::Settings;

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
#[derive(Debug, Default)]
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
            let r: Result<(), String> = (|| {
                match name.as_str() {
                    "Id" => p.id = value(v)?,
                    "Name" => p.name = value(v)?,
                    "HasSecrets" => p.has_secrets = value(v)?,
                    "ActiveLink" => p.active_link = some_path(value(v)?),
                    "LastLink" => p.last_link = some_path(value(v)?),
                    "Settings" => p.settings = value(v)?,
                    _ => {}
                }
                Ok(())
            })();
            r.map_err(|e| format!("Profile.{name}: {e}"))?;
        }
        if p.id.is_empty() {
            p.id = leaf(path).to_string();
        }
        Ok(p)
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
}
