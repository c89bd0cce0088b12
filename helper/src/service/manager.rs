//! `io.github.dialtone.Dialtone1.Manager` on the root object.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use dialtone_api::dbus::{Error, PortInfo, ACTION_MODIFY};
use dialtone_api::settings::{from_settings, Settings};
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::OwnedObjectPath;

use super::{auth, profile, store_error, Daemon};
use crate::ports;

/// The Manager interface.
pub struct ManagerIface {
    daemon: Arc<Daemon>,
}

impl ManagerIface {
    /// The interface over the daemon.
    pub(crate) fn new(daemon: Arc<Daemon>) -> Self {
        ManagerIface { daemon }
    }
}

#[zbus::interface(name = "io.github.dialtone.Dialtone1.Manager")]
impl ManagerIface {
    /// Adds a profile; returns its object path.
    async fn add_profile(
        &self,
        settings: Settings,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<OwnedObjectPath, Error> {
        self.daemon.touch();
        auth::authorize(&self.daemon.conn, &header, ACTION_MODIFY).await?;
        let profile =
            from_settings(&settings).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let id = {
            let mut state = self.daemon.state.lock().await;
            state.store.add(profile).map_err(store_error)?
        };
        profile::register(&self.daemon, &id)
            .await
            .map_err(|e| Error::Failed(format!("publishing the new profile: {e}")))?;
        Ok(Daemon::object_path(dialtone_api::dbus::profile_path(
            id.as_ref(),
        )))
    }

    /// The profiles' paths, sorted by id.
    async fn list_profiles(&self) -> Vec<OwnedObjectPath> {
        let state = self.daemon.state.lock().await;
        state
            .store
            .list()
            .map(|(id, _)| Daemon::object_path(dialtone_api::dbus::profile_path(id.as_ref())))
            .collect()
    }

    /// The links' paths, by number.
    async fn list_links(&self) -> Vec<OwnedObjectPath> {
        let state = self.daemon.state.lock().await;
        state
            .links
            .keys()
            .map(|n| Daemon::object_path(dialtone_api::dbus::link_path(*n)))
            .collect()
    }

    /// What the caller may do.
    async fn get_permissions(
        &self,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<HashMap<String, String>, Error> {
        self.daemon.touch();
        auth::permissions(&self.daemon.conn, &header).await
    }

    /// Asks the modem on `port` who it is.
    async fn query_modem(
        &self,
        port: &str,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<Vec<(String, String)>, Error> {
        self.daemon.touch();
        auth::authorize(&self.daemon.conn, &header, ACTION_MODIFY).await?;
        // The device check refuses empty, relative and NUL-bearing paths.
        let path = Path::new(port);
        ports::check_serial_device(path, &self.daemon.config.roots)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let result = ports::query_modem(
            path,
            115_200,
            &self.daemon.config.lock_dir,
            self.daemon.config.query_timeout,
        )
        .await;
        self.daemon.touch();
        result.map_err(|e| match e {
            ports::QueryError::Busy { .. } | ports::QueryError::Lock(..) => {
                Error::Busy(e.to_string())
            }
            ports::QueryError::Open(..) | ports::QueryError::Io { .. } => {
                Error::DeviceUnavailable(e.to_string())
            }
            other => Error::Failed(other.to_string()),
        })
    }

    /// Points /dev/modem at `port`.
    async fn set_modem_link(
        &self,
        port: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), Error> {
        self.daemon.touch();
        auth::authorize(&self.daemon.conn, &header, ACTION_MODIFY).await?;
        let path = Path::new(port);
        ports::set_modem_link(
            &self.daemon.config.modem_link,
            path,
            &self.daemon.config.roots,
        )
        .map_err(|e| match e {
            ports::ModemLinkError::Device(..) => Error::InvalidArgument(e.to_string()),
            other => Error::Failed(other.to_string()),
        })?;
        // The signals are a courtesy; the change itself is done.
        let _ = self.modem_link_changed(&emitter).await;
        let _ = self.serial_ports_changed(&emitter).await;
        Ok(())
    }

    /// Re-reads the profile directory.
    async fn reload(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), Error> {
        self.daemon.touch();
        auth::authorize(&self.daemon.conn, &header, ACTION_MODIFY).await?;
        profile::reload(&self.daemon)
            .await
            .map_err(|e| Error::Failed(format!("publishing the profiles: {e}")))?;
        let _ = self.profile_problems_changed(&emitter).await;
        Ok(())
    }

    /// The daemon's version.
    #[zbus(property)]
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }

    /// Every serial port.
    #[zbus(property)]
    fn serial_ports(&self) -> Vec<PortInfo> {
        // modem_link gives relative targets as full paths already.
        let link = ports::modem_link(&self.daemon.config.modem_link)
            .ok()
            .flatten()
            .and_then(|t| std::fs::canonicalize(t).ok());
        ports::serial_ports(&self.daemon.config.roots)
            .into_iter()
            .map(|p| {
                let text = |o: &Option<std::path::PathBuf>| {
                    o.as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                };
                let usb = p.usb.clone();
                PortInfo {
                    path: p.path.display().to_string(),
                    by_id: text(&p.by_id),
                    by_path: text(&p.by_path),
                    driver: p.driver.clone(),
                    description: p.description.clone(),
                    manufacturer: usb
                        .as_ref()
                        .and_then(|u| u.manufacturer.clone())
                        .unwrap_or_default(),
                    vendor_id: usb.as_ref().map(|u| u.vendor_id).unwrap_or(0),
                    product_id: usb.as_ref().map(|u| u.product_id).unwrap_or(0),
                    product: usb
                        .as_ref()
                        .and_then(|u| u.product.clone())
                        .unwrap_or_default(),
                    serial: usb.and_then(|u| u.serial).unwrap_or_default(),
                    busy_program: p
                        .busy
                        .as_ref()
                        .and_then(|b| b.program.clone())
                        .unwrap_or_default(),
                    busy_pid: p.busy.as_ref().map(|b| b.pid).unwrap_or(0),
                    modem_link: link.as_deref() == Some(p.path.as_path()),
                }
            })
            .collect()
    }

    /// Where /dev/modem points, or empty.
    #[zbus(property)]
    fn modem_link(&self) -> String {
        match ports::modem_link(&self.daemon.config.modem_link) {
            Ok(Some(t)) => t.display().to_string(),
            _ => String::new(),
        }
    }

    /// Profile files that could not be loaded.
    #[zbus(property)]
    async fn profile_problems(&self) -> Vec<(String, String)> {
        let state = self.daemon.state.lock().await;
        state
            .store
            .problems()
            .iter()
            .map(|p| (p.file.display().to_string(), p.error.clone()))
            .collect()
    }

    /// Links not disconnected.
    #[zbus(property)]
    async fn active_links(&self) -> u32 {
        self.daemon.state.lock().await.active_count()
    }
}
