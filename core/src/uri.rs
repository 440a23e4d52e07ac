//! Key URIs: `NAME://REF` names the plugin program `sigstore-kms-NAME` and the key `REF`.

use std::fmt;

use crate::error::{escape_text, Error, Result};
use crate::protocol::PROGRAM_PREFIX;

/// A parsed key URI.
///
/// The URI is split at the first `://`; everything after it (which may contain more `://`,
/// slashes, query strings...) is the plugin's key reference, passed unchanged as
/// `keyResourceID`.
///
/// ```
/// use sigstore_kms_plugins::KeyUri;
/// let uri: KeyUri = "mykms://projects/p/keys/k".parse()?;
/// assert_eq!(uri.plugin_name(), "mykms");
/// assert_eq!(uri.key_ref(), "projects/p/keys/k");
/// assert_eq!(uri.program_name(), "sigstore-kms-mykms");
/// assert!("../evil://x".parse::<KeyUri>().is_err());
/// # Ok::<(), sigstore_kms_plugins::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyUri {
    name: String,
    key_ref: String,
}

impl KeyUri {
    /// Parses and validates `uri`.
    pub fn parse(uri: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidKeyUri { uri: escape_text(uri, 200), reason };
        let Some((name, key_ref)) = uri.split_once("://") else {
            return Err(invalid(
                "expected the form NAME://KEY-REF (for example mykms://my-key), found no \"://\"".into(),
            ));
        };
        validate_plugin_name(name).map_err(invalid)?;
        Ok(KeyUri { name: name.to_owned(), key_ref: key_ref.to_owned() })
    }

    /// The plugin name, the part before `://`.
    #[must_use]
    pub fn plugin_name(&self) -> &str {
        &self.name
    }

    /// The key reference, the part after `://` (sent as `keyResourceID`).
    #[must_use]
    pub fn key_ref(&self) -> &str {
        &self.key_ref
    }

    /// The program to look up on the search path: `sigstore-kms-NAME`.
    #[must_use]
    pub fn program_name(&self) -> String {
        format!("{PROGRAM_PREFIX}{}", self.name)
    }
}

impl std::str::FromStr for KeyUri {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        KeyUri::parse(s)
    }
}

impl fmt::Display for KeyUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.name, self.key_ref)
    }
}

/// Checks that a plugin name cannot make the program name reach outside the search path or
/// be mistaken for an option: no path separators, NUL, whitespace or control characters, not
/// empty, no leading `-` or `.`.
pub fn validate_plugin_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("the plugin name before \"://\" is empty".into());
    }
    if let Some(c) = name.chars().find(|c| matches!(c, '/' | '\\')) {
        return Err(format!(
            "the plugin name {:?} contains a path separator {c:?}; a plugin is looked up by name on PATH only",
            escape_text(name, 100)
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "the plugin name {:?} contains {}; use letters, digits, '-' or '_'",
            escape_text(name, 100),
            if c == '\0' { "a NUL byte".to_owned() } else { format!("the character {}", c.escape_default()) }
        ));
    }
    if name.starts_with('-') || name.starts_with('.') {
        return Err(format!(
            "the plugin name {:?} starts with {:?}; names may not start with '-' or '.'",
            escape_text(name, 100),
            &name[..1]
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_first_separator() {
        let u = KeyUri::parse("a://b://c").unwrap();
        assert_eq!((u.plugin_name(), u.key_ref()), ("a", "b://c"));
        let u = KeyUri::parse("x://").unwrap();
        assert_eq!(u.key_ref(), "");
        assert_eq!(u.to_string(), "x://");
    }

    #[test]
    fn refuses_bad_names() {
        for bad in ["", "a/b", "..", ".hidden", "-rf", "a\\b", "a b", "a\tb", "a\0b", "a\u{1b}", "\u{a0}x", "nouri"] {
            let uri = if bad == "nouri" { bad.to_owned() } else { format!("{bad}://k") };
            let err = KeyUri::parse(&uri).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidKeyUri, "{uri:?}");
        }
        assert!(KeyUri::parse("my-hsm_2.0://k").is_ok());
        assert!(KeyUri::parse("日本://k").is_ok());
    }
}
