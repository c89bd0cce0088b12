//! # dialtone-api
//!
//! The contract between Dialtone's parts: the [`profile`] model that the
//! helper runs and the front ends edit, and the [`secrets`] kept apart from
//! it. Profiles are RON files with a version, defaults for everything
//! optional and no unknown fields.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod dbus;
pub mod objects;
pub mod profile;
pub mod secrets;
pub mod settings;

pub use profile::{Profile, ProfileError};
pub use secrets::Secrets;
pub use settings::{Settings, SettingsError};
