//! `io.github.dialtone.Dialtone1.Profile` on `…/Profile/<id>`.

use std::collections::HashMap;
use std::sync::Arc;

use dialtone_api::dbus::{self, Error, ACTION_CONNECT, ACTION_MODIFY};
use dialtone_api::secrets::Secrets;
use dialtone_api::settings::{from_settings, to_settings, Settings};
use zbus::message::Header;
use zbus::OwnedObjectPath;

use super::{auth, link, root_path, store_error, Daemon};
use crate::store::ProfileId;

/// One profile's object.
pub struct ProfileIface {
    daemon: Arc<Daemon>,
    id: ProfileId,
}

/// Publishes profile `id` (replacing an object already there).
pub(crate) async fn register(daemon: &Arc<Daemon>, id: &ProfileId) -> zbus::Result<()> {
    let path = dbus::profile_path(id.as_ref());
    let server = daemon.conn.object_server();
    let _ = server.remove::<ProfileIface, _>(path.as_str()).await;
    server
        .at(
            path.as_str(),
            ProfileIface {
                daemon: daemon.clone(),
                id: id.clone(),
            },
        )
        .await
        .map(drop)
}

/// Re-reads the store and makes the objects match it: new profiles
/// appear, removed ones go (their links keep running), changed ones say so.
pub(crate) async fn reload(daemon: &Arc<Daemon>) -> zbus::Result<()> {
    let (before, after): (Vec<ProfileId>, Vec<ProfileId>) = {
        let mut state = daemon.state.lock().await;
        let before = state.store.list().map(|(id, _)| id.clone()).collect();
        state.store.reload();
        let after = state.store.list().map(|(id, _)| id.clone()).collect();
        (before, after)
    };
    let server = daemon.conn.object_server();
    for gone in before.iter().filter(|id| !after.contains(id)) {
        server
            .remove::<ProfileIface, _>(dbus::profile_path(gone.as_ref()).as_str())
            .await?;
    }
    for id in &after {
        if before.contains(id) {
            notify(daemon, id, &[Change::Settings]).await;
        } else {
            register(daemon, id).await?;
        }
    }
    Ok(())
}

/// Which properties of a profile changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Settings and Name.
    Settings,
    /// HasSecrets.
    Secrets,
    /// ActiveLink and LastLink.
    Links,
}

/// Emits PropertiesChanged for profile `id`. Emission failures are only
/// logged: the change itself is done.
pub(crate) async fn notify(daemon: &Arc<Daemon>, id: &ProfileId, changes: &[Change]) {
    let path = dbus::profile_path(id.as_ref());
    let Ok(iface) = daemon
        .conn
        .object_server()
        .interface::<_, ProfileIface>(path.as_str())
        .await
    else {
        return;
    };
    let emitter = iface.signal_emitter();
    let guard = iface.get().await;
    for change in changes {
        let result = match change {
            Change::Settings => {
                let a = guard.settings_changed(emitter).await;
                a.and(guard.name_changed(emitter).await)
            }
            Change::Secrets => guard.has_secrets_changed(emitter).await,
            Change::Links => {
                let a = guard.active_link_changed(emitter).await;
                a.and(guard.last_link_changed(emitter).await)
            }
        };
        if let Err(e) = result {
            eprintln!("dialtoned: could not announce a change of {path}: {e}");
        }
    }
}

impl ProfileIface {
    fn not_found(&self) -> Error {
        Error::NotFound(format!("the profile {} no longer exists", self.id))
    }
}

#[zbus::interface(name = "io.github.dialtone.Dialtone1.Profile")]
impl ProfileIface {
    /// Replaces the settings.
    async fn update(
        &self,
        settings: Settings,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<(), Error> {
        self.daemon.touch();
        auth::authorize(&self.daemon.conn, &header, ACTION_MODIFY).await?;
        let profile =
            from_settings(&settings).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        {
            let mut state = self.daemon.state.lock().await;
            state.store.update(&self.id, profile).map_err(store_error)?;
        }
        notify(&self.daemon, &self.id, &[Change::Settings]).await;
        Ok(())
    }

    /// Sets the secrets (`password`).
    async fn set_secrets(
        &self,
        secrets: HashMap<String, String>,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<(), Error> {
        self.daemon.touch();
        auth::authorize(&self.daemon.conn, &header, ACTION_MODIFY).await?;
        if let Some(unknown) = secrets.keys().find(|k| k.as_str() != "password") {
            return Err(Error::InvalidArgument(format!(
                "{unknown:?} is not a secret Dialtone keeps; the only one is \"password\""
            )));
        }
        // The store checks the password itself (length, no NUL).
        let password = secrets.get("password").cloned().unwrap_or_default();
        {
            let mut state = self.daemon.state.lock().await;
            state
                .store
                .set_secrets(&self.id, &Secrets::new(password))
                .map_err(store_error)?;
        }
        notify(&self.daemon, &self.id, &[Change::Secrets]).await;
        Ok(())
    }

    /// Deletes the profile and its secrets; refused while its link runs.
    async fn delete(&self, #[zbus(header)] header: Header<'_>) -> Result<(), Error> {
        self.daemon.touch();
        auth::authorize(&self.daemon.conn, &header, ACTION_MODIFY).await?;
        {
            let mut state = self.daemon.state.lock().await;
            if state.active_link(&self.id).is_some() {
                return Err(Error::Busy(format!(
                    "the profile {} is connected; disconnect it first",
                    self.id
                )));
            }
            state.store.delete(&self.id).map_err(store_error)?;
        }
        // The object goes once this call has returned: removing it here
        // would wait for the call's own hold on it.
        let path = dbus::profile_path(self.id.as_ref());
        let conn = self.daemon.conn.clone();
        tokio::spawn(async move {
            if let Err(e) = conn
                .object_server()
                .remove::<ProfileIface, _>(path.as_str())
                .await
            {
                eprintln!("dialtoned: could not remove the object {path}: {e}");
            }
        });
        Ok(())
    }

    /// Brings the link up; returns the link's path at once. A profile that
    /// is already up answers with its running link.
    async fn connect(&self, #[zbus(header)] header: Header<'_>) -> Result<OwnedObjectPath, Error> {
        self.daemon.touch();
        auth::authorize(&self.daemon.conn, &header, ACTION_CONNECT).await?;
        let n = link::start(&self.daemon, &self.id).await?;
        notify(&self.daemon, &self.id, &[Change::Links]).await;
        Ok(Daemon::object_path(dbus::link_path(n)))
    }

    /// The id.
    #[zbus(property)]
    fn id(&self) -> String {
        self.id.to_string()
    }

    /// The name people see.
    #[zbus(property)]
    async fn name(&self) -> Result<String, zbus::fdo::Error> {
        let state = self.daemon.state.lock().await;
        state
            .store
            .get(&self.id)
            .map(|p| p.name.clone())
            .ok_or_else(|| zbus::fdo::Error::UnknownObject(self.not_found().to_string()))
    }

    /// The settings.
    #[zbus(property)]
    async fn settings(&self) -> Result<Settings, zbus::fdo::Error> {
        let state = self.daemon.state.lock().await;
        state
            .store
            .get(&self.id)
            .map(to_settings)
            .ok_or_else(|| zbus::fdo::Error::UnknownObject(self.not_found().to_string()))
    }

    /// Whether a password is stored.
    #[zbus(property)]
    async fn has_secrets(&self) -> bool {
        self.daemon.state.lock().await.store.has_secrets(&self.id)
    }

    /// The running link, or `/`.
    #[zbus(property)]
    async fn active_link(&self) -> OwnedObjectPath {
        let state = self.daemon.state.lock().await;
        match state.active_link(&self.id) {
            Some(n) => Daemon::object_path(dbus::link_path(n)),
            None => root_path(),
        }
    }

    /// The last link, running or ended, or `/`.
    #[zbus(property)]
    async fn last_link(&self) -> OwnedObjectPath {
        let state = self.daemon.state.lock().await;
        match state.last_link(&self.id) {
            Some(n) => Daemon::object_path(dbus::link_path(n)),
            None => root_path(),
        }
    }
}
