//! Profiles to and from the `a{sv}` of dotted keys that travels on the bus
//! (`dialtone_api::settings`, described in `docs/settings.md`).

use dialtone_api::profile::Profile;
pub use dialtone_api::settings::Settings;

/// The settings of `profile`, for AddProfile and Update.
pub fn profile_to_settings(profile: &Profile) -> Settings {
    dialtone_api::settings::to_settings(profile)
}

/// The profile the daemon's settings describe.
pub fn settings_to_profile(settings: &Settings) -> Result<Profile, String> {
    dialtone_api::settings::from_settings(settings).map_err(|e| e.to_string())
}
