//! Profiles to and from the `a{sv}` of dotted keys that travels on the bus.
//!
//! REPLACED AT MERGE by `dialtone_api::settings`: the two functions below
//! become
//!
//! ```ignore
//! pub use dialtone_api::settings::Settings;
//! pub fn profile_to_settings(p: &Profile) -> Settings {
//!     dialtone_api::settings::to_settings(p)
//! }
//! pub fn settings_to_profile(s: &Settings) -> Result<Profile, String> {
//!     dialtone_api::settings::from_settings(s).map_err(|e| e.to_string())
//! }
//! ```
//!
//! and the local mapping (with its tests) goes. Until then only `version`,
//! `name`, `line.device`, `line.speed`, `modem.enabled`, `modem.numbers`
//! and `user` are mapped; every other key is ignored.

use std::collections::HashMap;

use dialtone_api::profile::{Modem, Profile};
use zbus::{OwnedVariant, Variant};

/// A profile's settings as they travel: dotted key → value.
// REPLACED AT MERGE by dialtone_api::settings::Settings
pub type Settings = HashMap<String, OwnedVariant>;

/// The settings of `profile`, for AddProfile and Update.
// REPLACED AT MERGE by dialtone_api::settings
pub fn profile_to_settings(profile: &Profile) -> Settings {
    let mut s = Settings::new();
    s.insert("version".into(), OwnedVariant::from(profile.version));
    s.insert("name".into(), text(&profile.name));
    s.insert("line.device".into(), text(&profile.line.device));
    s.insert("line.speed".into(), OwnedVariant::from(profile.line.speed));
    s.insert(
        "modem.enabled".into(),
        OwnedVariant::from(profile.modem.is_some()),
    );
    if let Some(m) = &profile.modem {
        if let Ok(v) = OwnedVariant::try_from(Variant::from(m.numbers.clone())) {
            s.insert("modem.numbers".into(), v);
        }
    }
    s.insert("user".into(), text(&profile.user));
    s
}

/// The profile those settings describe (the `Settings` property).
// REPLACED AT MERGE by dialtone_api::settings
pub fn settings_to_profile(settings: &Settings) -> Result<Profile, String> {
    let name: String = get(settings, "name")?.ok_or("name: missing")?;
    let mut p = Profile::new(name);
    if let Some(v) = get(settings, "version")? {
        p.version = v;
    }
    if let Some(v) = get(settings, "line.device")? {
        p.line.device = v;
    }
    if let Some(v) = get(settings, "line.speed")? {
        p.line.speed = v;
    }
    if get::<bool>(settings, "modem.enabled")?.unwrap_or(false) {
        p.modem = Some(Modem {
            numbers: get(settings, "modem.numbers")?.unwrap_or_default(),
            ..Modem::default()
        });
    }
    if let Some(v) = get(settings, "user")? {
        p.user = v;
    }
    Ok(p)
}

/// A string as a variant.
// REPLACED AT MERGE by dialtone_api::settings
fn text(s: &str) -> OwnedVariant {
    OwnedVariant::from(zbus::Str::from(s.to_owned()))
}

/// The value at `key`, if present, as a `T`.
// REPLACED AT MERGE by dialtone_api::settings
fn get<T>(settings: &Settings, key: &str) -> Result<Option<T>, String>
where
    T: TryFrom<OwnedVariant>,
{
    match settings.get(key) {
        None => Ok(None),
        Some(v) => {
            let v = v.try_clone().map_err(|e| format!("{key}: {e}"))?;
            T::try_from(v)
                .map(Some)
                .map_err(|_| format!("{key}: not of the expected type"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mapped_keys_round_trip() {
        let mut p = Profile::new("Example ISP");
        p.line.device = "/dev/ttyS1".into();
        p.line.speed = 57_600;
        p.modem = Some(Modem {
            numbers: vec!["5551234".into(), "5554321".into()],
            ..Modem::default()
        });
        p.user = "ppp".into();
        let s = profile_to_settings(&p);
        assert_eq!(settings_to_profile(&s), Ok(p));
    }

    #[test]
    fn wrong_types_name_the_key() {
        let mut s = profile_to_settings(&Profile::new("x"));
        s.insert("line.speed".into(), text("fast"));
        assert_eq!(
            settings_to_profile(&s),
            Err("line.speed: not of the expected type".into())
        );
        s.remove("name");
        assert!(settings_to_profile(&s).is_err());
    }
}
