//! A profile's secrets, kept in their own file readable only by root
//! (`/etc/dialtone/secrets/<id>.ron`, mode 0600). A profile never contains
//! them, and `Debug` never shows them.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::profile::ProfileError;

/// The secrets format this build reads and writes.
pub const SECRETS_VERSION: u32 = 1;

/// A profile's secrets.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// The format version: [`SECRETS_VERSION`].
    pub version: u32,
    /// The password for the login and for PAP/CHAP.
    #[serde(default)]
    pub password: String,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("version", &self.version)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "********"
                },
            )
            .finish()
    }
}

impl Secrets {
    /// Secrets holding this password.
    pub fn new(password: impl Into<String>) -> Self {
        Secrets {
            version: SECRETS_VERSION,
            password: password.into(),
        }
    }

    /// Parses a secrets file. The error never quotes the file's content.
    pub fn from_ron(text: &str) -> Result<Secrets, ProfileError> {
        if text.len() > 4096 {
            return Err(ProfileError::TooLarge(text.len()));
        }
        let s: Secrets = ron::from_str(text)
            .map_err(|e| ProfileError::Syntax(format!("secrets file at {}", e.span.start)))?;
        if s.version != SECRETS_VERSION {
            return Err(ProfileError::Version { found: s.version });
        }
        if s.password.len() > 256 || s.password.contains('\0') {
            return Err(ProfileError::Invalid {
                field: "password".into(),
                problem: "at most 256 bytes, and no NUL".into(),
            });
        }
        Ok(s)
    }

    /// The secrets as RON.
    pub fn to_ron(&self) -> String {
        ron::ser::to_string_pretty(self, ron::ser::PrettyConfig::new().struct_names(true))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_masking() {
        let s = Secrets::new("hunter2");
        let text = s.to_ron();
        assert_eq!(Secrets::from_ron(&text).unwrap(), s);
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn errors_do_not_echo_the_file() {
        let err = Secrets::from_ron("Secrets(version: 1, password: \"hunter2\", oops: 1)")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(Secrets::from_ron("Secrets(version: 9, password: \"x\")").is_err());
    }
}
