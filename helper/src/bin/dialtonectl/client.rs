//! The connection to `dialtoned`: proxies, property snapshots that know
//! when they were taken, profile lookup, and the daemon's signals decoded.
//!
//! Waiting commands subscribe to the signals *before* reading the state
//! they start from. A snapshot carries the serial number of the reply
//! that brought it; a signal with a lower serial from the same daemon
//! connection was sent before the snapshot and is already in it.

use std::collections::HashMap;
use std::num::NonZeroUsize;

use dialtone_api::dbus::{
    LinkProxy, ManagerProxy, ProfileProxy, TranscriptEntry, BUS_NAME, LINK_INTERFACE,
    PROFILE_INTERFACE, ROOT_PATH,
};
use futures::StreamExt;
use zbus::message::Type as MessageType;
use zbus::proxy::CacheProperties;
use zbus::{Connection, MatchRule, Message, MessageStream, OwnedVariant};

use crate::error::CliError;
pub use dialtone_api::objects::Stamp;
use dialtone_api::objects::{
    self, pick_profile, Interface, LinkInfo, PickError, ProfileInfo, Signal, PROPERTIES_INTERFACE,
};

/// How many signals may wait unread before the oldest are dropped.
const SIGNAL_QUEUE: usize = 4096;

/// The bus connection.
pub struct Client {
    conn: Connection,
}

/// A signal from the daemon, decoded.
pub enum Event {
    /// Properties of the Link at `path` changed.
    LinkChanged {
        /// The link.
        path: String,
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
    /// A link appeared (InterfacesAdded with the Link interface).
    LinkAdded {
        /// The link.
        path: String,
        /// Its properties.
        properties: HashMap<String, OwnedVariant>,
    },
    /// A link went away (InterfacesRemoved with the Link interface).
    LinkRemoved {
        /// The link.
        path: String,
    },
    /// Anything else (profiles changing, the Manager's properties).
    Other,
}

/// Decodes a signal (see [`objects::decode`]) into what the commands
/// follow: links.
pub fn decode(msg: &Message) -> Result<Event, String> {
    Ok(match objects::decode(msg)? {
        Signal::Changed {
            path,
            interface: Interface::Link,
            changed,
            invalidated,
        } => Event::LinkChanged {
            path,
            changed,
            invalidated,
        },
        Signal::Transcript { path, entry } => Event::Transcript { path, entry },
        Signal::Added { path, interfaces } => {
            match interfaces.into_iter().find(|(i, _)| *i == Interface::Link) {
                Some((_, properties)) => Event::LinkAdded { path, properties },
                None => Event::Other,
            }
        }
        Signal::Removed { path, interfaces } if interfaces.contains(&Interface::Link) => {
            Event::LinkRemoved { path }
        }
        _ => Event::Other,
    })
}

/// Which of the daemon's signals to receive.
pub enum Signals<'a> {
    /// Everything the daemon sends (`monitor`).
    All,
    /// PropertiesChanged of every link, present and future (`up`).
    LinkProperties,
    /// Every signal of one object (`log -f`, `down`).
    Object(&'a str),
}

impl Client {
    /// Connects to the system bus, or to `address`.
    pub async fn connect(address: Option<&str>) -> Result<Client, CliError> {
        let builder = match address {
            Some(a) => zbus::connection::Builder::address(a),
            None => zbus::connection::Builder::system(),
        };
        let bus = match address {
            Some(a) => format!("the bus at {a}"),
            None => "the system bus".to_string(),
        };
        match builder.build().await {
            Ok(conn) => Ok(Client { conn }),
            Err(zbus::Error::Address(e)) if address.is_some() => {
                Err(CliError::usage(format!("--bus-address: {e}")))
            }
            Err(e) => Err(CliError::unreachable(format!(
                "cannot connect to {bus}: {e}"
            ))),
        }
    }

    /// The Manager.
    pub async fn manager(&self) -> Result<ManagerProxy<'static>, CliError> {
        ManagerProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(CliError::bus)
    }

    /// The Profile at `path`.
    pub async fn profile(&self, path: &str) -> Result<ProfileProxy<'static>, CliError> {
        ProfileProxy::builder(&self.conn)
            .path(path.to_string())
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(CliError::bus)
    }

    /// The Link at `path`.
    pub async fn link_proxy(&self, path: &str) -> Result<LinkProxy<'static>, CliError> {
        LinkProxy::builder(&self.conn)
            .path(path.to_string())
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(CliError::bus)
    }

    /// The ObjectManager on the root object.
    pub async fn object_manager(&self) -> Result<zbus::fdo::ObjectManagerProxy<'static>, CliError> {
        zbus::fdo::ObjectManagerProxy::builder(&self.conn)
            .destination(BUS_NAME)
            .path(ROOT_PATH)
            .build()
            .await
            .map_err(CliError::bus)
    }

    /// Every property of `interface` on `path`, and when they were read.
    pub async fn get_all(
        &self,
        path: &str,
        interface: &str,
    ) -> Result<(HashMap<String, OwnedVariant>, Stamp), CliError> {
        let reply = self
            .conn
            .call_method(
                Some(BUS_NAME),
                path,
                Some(PROPERTIES_INTERFACE),
                "GetAll",
                &(interface,),
            )
            .await
            .map_err(CliError::bus)?;
        let props: HashMap<String, OwnedVariant> = reply
            .body()
            .deserialize()
            .map_err(|e| CliError::bad_reply(format!("GetAll {interface}: {e}")))?;
        Ok((props, Stamp::of(&reply)))
    }

    /// One property, read now.
    pub async fn get(
        &self,
        path: &str,
        interface: &str,
        name: &str,
    ) -> Result<OwnedVariant, CliError> {
        let reply = self
            .conn
            .call_method(
                Some(BUS_NAME),
                path,
                Some(PROPERTIES_INTERFACE),
                "Get",
                &(interface, name),
            )
            .await
            .map_err(CliError::bus)?;
        reply
            .body()
            .deserialize()
            .map_err(|e| CliError::bad_reply(format!("Get {name}: {e}")))
    }

    /// A snapshot of the link at `path`.
    pub async fn link(&self, path: &str) -> Result<(LinkInfo, Stamp), CliError> {
        let (props, stamp) = self.get_all(path, LINK_INTERFACE).await?;
        let info = LinkInfo::from_props(path, &props).map_err(CliError::bad_reply)?;
        Ok((info, stamp))
    }

    /// A snapshot of the profile at `path`.
    pub async fn profile_info(&self, path: &str) -> Result<ProfileInfo, CliError> {
        let (props, _) = self.get_all(path, PROFILE_INTERFACE).await?;
        ProfileInfo::from_props(path, &props).map_err(CliError::bad_reply)
    }

    /// Every profile, sorted by id. Profiles deleted while being read are
    /// left out.
    pub async fn profiles(&self) -> Result<Vec<ProfileInfo>, CliError> {
        let paths = self
            .manager()
            .await?
            .list_profiles()
            .await
            .map_err(CliError::bus)?;
        let mut all = Vec::new();
        for path in paths {
            match self.profile_info(path.as_str()).await {
                Ok(p) => all.push(p),
                Err(e) if e.code == crate::error::exit::NOT_FOUND => {}
                Err(e) => return Err(e),
            }
        }
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    /// The profile meant by `wanted`: its id, or its name (ignoring case)
    /// when no id matches.
    pub async fn resolve(&self, wanted: &str) -> Result<ProfileInfo, CliError> {
        let all = self.profiles().await?;
        pick_profile(all, wanted).map_err(|e| match e {
            PickError::None => CliError::not_found(format!(
                "no profile has the id or name {wanted:?} (dialtonectl list shows them)"
            )),
            PickError::Ambiguous(ids) => CliError::usage(format!(
                "several profiles are called {wanted:?}: use one of the ids {}",
                ids.join(", ")
            )),
        })
    }

    /// A stream of the daemon's signals; subscribe before reading the
    /// state the signals change.
    pub async fn signals(&self, which: Signals<'_>) -> Result<MessageStream, CliError> {
        let rule = MatchRule::builder()
            .msg_type(MessageType::Signal)
            .sender(BUS_NAME);
        let rule = match which {
            Signals::All => rule,
            Signals::LinkProperties => rule
                .interface(PROPERTIES_INTERFACE)
                .member("PropertiesChanged")
                .path_namespace(dialtone_api::dbus::LINK_PATH_PREFIX),
            Signals::Object(path) => rule.path(path.to_string()),
        };
        let rule = rule
            .build()
            .map_err(|e| CliError::failed(format!("cannot subscribe: {e}")))?;
        MessageStream::for_match_rule(rule, &self.conn, NonZeroUsize::new(SIGNAL_QUEUE))
            .await
            .map_err(CliError::bus)
    }

    /// A stream that yields whenever the daemon's name changes hands:
    /// `Some(unique name)` for a new owner, `None` when it left.
    pub async fn owner_changes(
        &self,
    ) -> Result<impl futures::Stream<Item = Option<String>> + Unpin + 'static, CliError> {
        let dbus = zbus::fdo::DBusProxy::new(&self.conn)
            .await
            .map_err(CliError::bus)?;
        let stream = dbus
            .receive_name_owner_changed_with_args(&[(0, BUS_NAME)])
            .await
            .map_err(CliError::bus)?;
        Ok(stream.filter_map(|signal| {
            let owner = signal
                .args()
                .ok()
                .map(|args| args.new_owner().as_ref().map(|n| n.to_string()));
            futures::future::ready(owner)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialtone_api::objects::OBJECT_MANAGER_INTERFACE;
    use zbus::Variant;

    #[test]
    fn properties_changed_of_a_link_is_decoded() {
        let changed: HashMap<&str, Variant<'_>> =
            HashMap::from([("State", Variant::from("dialing"))]);
        let invalidated: Vec<&str> = vec!["Statistics"];
        let msg = Message::signal(
            "/io/github/dialtone/Dialtone1/Link/1",
            PROPERTIES_INTERFACE,
            "PropertiesChanged",
        )
        .build(&(LINK_INTERFACE, changed, invalidated))
        .expect("a signal");
        match decode(&msg) {
            Ok(Event::LinkChanged {
                path,
                changed,
                invalidated,
            }) => {
                assert_eq!(path, "/io/github/dialtone/Dialtone1/Link/1");
                let state = changed
                    .get("State")
                    .expect("State")
                    .try_clone()
                    .expect("plain");
                assert_eq!(String::try_from(state).ok().as_deref(), Some("dialing"));
                assert_eq!(invalidated, ["Statistics"]);
            }
            _ => panic!("not decoded as a link change"),
        }
    }

    #[test]
    fn other_interfaces_properties_are_not_link_changes() {
        let changed: HashMap<&str, Variant<'_>> = HashMap::from([("Name", Variant::from("x"))]);
        let msg = Message::signal(
            "/io/github/dialtone/Dialtone1/Profile/isp",
            PROPERTIES_INTERFACE,
            "PropertiesChanged",
        )
        .build(&(PROFILE_INTERFACE, changed, Vec::<&str>::new()))
        .expect("a signal");
        assert!(matches!(decode(&msg), Ok(Event::Other)));
    }

    #[test]
    fn transcript_signals_are_decoded() {
        let entry = TranscriptEntry {
            time_usec: 5,
            source: "modem".into(),
            direction: "in".into(),
            text: "CONNECT 57600".into(),
        };
        let msg = Message::signal(
            "/io/github/dialtone/Dialtone1/Link/2",
            LINK_INTERFACE,
            "Transcript",
        )
        .build(&(entry.clone(),))
        .expect("a signal");
        match decode(&msg) {
            Ok(Event::Transcript { path, entry: e }) => {
                assert_eq!(path, "/io/github/dialtone/Dialtone1/Link/2");
                assert_eq!(e, entry);
            }
            _ => panic!("not decoded as a transcript line"),
        }
    }

    #[test]
    fn links_added_and_removed() {
        let props: HashMap<&str, Variant<'_>> =
            HashMap::from([("State", Variant::from("opening"))]);
        let ifaces: HashMap<&str, HashMap<&str, Variant<'_>>> =
            HashMap::from([(LINK_INTERFACE, props)]);
        let path =
            zbus::ObjectPath::try_from("/io/github/dialtone/Dialtone1/Link/4").expect("a path");
        let msg = Message::signal(ROOT_PATH, OBJECT_MANAGER_INTERFACE, "InterfacesAdded")
            .build(&(path.clone(), ifaces))
            .expect("a signal");
        match decode(&msg) {
            Ok(Event::LinkAdded { path, properties }) => {
                assert_eq!(path, "/io/github/dialtone/Dialtone1/Link/4");
                assert!(properties.contains_key("State"));
            }
            _ => panic!("not decoded as a new link"),
        }
        let msg = Message::signal(ROOT_PATH, OBJECT_MANAGER_INTERFACE, "InterfacesRemoved")
            .build(&(path, vec![LINK_INTERFACE]))
            .expect("a signal");
        assert!(matches!(decode(&msg), Ok(Event::LinkRemoved { .. })));
    }
}
