//! Key URIs: `NAME://REF` names the plugin program `sigstore-kms-NAME` and the key `REF`.
//!
//! One scheme has a second, plain form: an RFC 7512 PKCS#11 URI `pkcs11:REF` (no `//`), as
//! cosign, p11-kit, OpenSSL and GnuTLS write them, is the key `REF` of the plugin `pkcs11`
//! (`sigstore-kms-pkcs11`), exactly like `pkcs11://REF`.

use std::borrow::Cow;
use std::fmt;

use crate::error::{escape_text, Error, Result};
use crate::protocol::PROGRAM_PREFIX;

/// The scheme whose plain RFC 7512 form `pkcs11:REF` (without `//`) is accepted too.
pub const PKCS11_SCHEME: &str = "pkcs11";

/// A parsed key URI.
///
/// The URI is split at the first `://`; everything after it (which may contain more `://`,
/// slashes, query strings...) is the plugin's key reference, passed unchanged as
/// `keyResourceID`.
///
/// The one exception is a PKCS#11 URI in its RFC 7512 form, `pkcs11:token=...;object=...`:
/// a URI that starts with `pkcs11:` not followed by `//` names the plugin `pkcs11`, and
/// everything after `pkcs11:` is the key reference, so `pkcs11:token=t;object=k` and
/// `pkcs11://token=t;object=k` call `sigstore-kms-pkcs11` with the same `keyResourceID`
/// (`token=t;object=k`), even when the query holds a `file://` URI. [`KeyUri`]'s `Display`
/// gives back the form it was parsed from.
///
/// ```
/// use sigstore_kms_plugins::KeyUri;
/// let uri: KeyUri = "mykms://projects/p/keys/k".parse()?;
/// assert_eq!(uri.plugin_name(), "mykms");
/// assert_eq!(uri.key_ref(), "projects/p/keys/k");
/// assert_eq!(uri.program_name(), "sigstore-kms-mykms");
/// assert!("../evil://x".parse::<KeyUri>().is_err());
///
/// // RFC 7512: the plain `pkcs11:` form is the `pkcs11` plugin's key.
/// let hsm: KeyUri = "pkcs11:token=ci;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so".parse()?;
/// assert_eq!(hsm.program_name(), "sigstore-kms-pkcs11");
/// assert_eq!(hsm.key_ref(), "token=ci;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so");
/// # Ok::<(), sigstore_kms_plugins::Error>(())
/// ```
///
/// `Debug` hides the value of a `pin-value` attribute (see [`redact_key_uri`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyUri {
    name: String,
    key_ref: String,
    /// Parsed from the RFC 7512 form `pkcs11:REF` (no `//`): `Display` writes it back so.
    plain_pkcs11: bool,
}

impl fmt::Debug for KeyUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyUri")
            .field("name", &self.name)
            .field("key_ref", &redact_key_uri(&self.key_ref))
            .finish_non_exhaustive()
    }
}

impl KeyUri {
    /// Parses and validates `uri`.
    ///
    /// An invalid URI's error shows it with any `pin-value` hidden.
    pub fn parse(uri: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidKeyUri { uri: escape_text(&redact_key_uri(uri), 200), reason };
        if let Some(key_ref) = plain_pkcs11_ref(uri) {
            return Ok(KeyUri { name: PKCS11_SCHEME.to_owned(), key_ref: key_ref.to_owned(), plain_pkcs11: true });
        }
        let Some((name, key_ref)) = uri.split_once("://") else {
            return Err(invalid(
                "expected the form NAME://KEY-REF (for example mykms://my-key, or an RFC 7512 pkcs11:... URI), \
                 found no \"://\""
                    .into(),
            ));
        };
        validate_plugin_name(name).map_err(invalid)?;
        Ok(KeyUri { name: name.to_owned(), key_ref: key_ref.to_owned(), plain_pkcs11: false })
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
        if self.plain_pkcs11 {
            write!(f, "{}:{}", self.name, self.key_ref)
        } else {
            write!(f, "{}://{}", self.name, self.key_ref)
        }
    }
}

/// The key reference of a URI in the RFC 7512 form `pkcs11:REF`, where `REF` does not start
/// with `//` (that is the plugin form `pkcs11://REF`, split as every other scheme is).
fn plain_pkcs11_ref(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix(PKCS11_SCHEME)?.strip_prefix(':')?;
    (!rest.starts_with("//")).then_some(rest)
}

/// `uri` with the value of every `pin-value` attribute (RFC 7512's PIN in a PKCS#11 URI)
/// replaced by `[redacted]`, for messages and logs that show a key URI or key reference.
///
/// The attribute is found wherever it stands (path or query, after `?`, `&` or `;`), its name
/// compared without regard to case; its value runs to the next `&`, `;`, `?` or `#`.
///
/// ```
/// use sigstore_kms_plugins::redact_key_uri;
/// assert_eq!(
///     redact_key_uri("pkcs11:token=ci;object=k?module-path=/m.so&pin-value=1234"),
///     "pkcs11:token=ci;object=k?module-path=/m.so&pin-value=[redacted]"
/// );
/// assert_eq!(redact_key_uri("mykms://key"), "mykms://key");
/// ```
#[must_use]
pub fn redact_key_uri(uri: &str) -> Cow<'_, str> {
    const NAME: &str = "pin-value=";
    const REDACTED: &str = "[redacted]";
    let bytes = uri.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i + NAME.len() <= bytes.len() {
        let at_start = i == 0 || matches!(bytes[i - 1], b'?' | b'&' | b';' | b':' | b'/');
        if at_start && bytes[i..i + NAME.len()].eq_ignore_ascii_case(NAME.as_bytes()) {
            let value = i + NAME.len();
            let end = bytes[value..]
                .iter()
                .position(|b| matches!(b, b'&' | b';' | b'?' | b'#'))
                .map_or(bytes.len(), |n| value + n);
            out.push_str(&uri[copied..value]);
            out.push_str(REDACTED);
            copied = end;
            i = end;
        } else {
            i += 1;
        }
    }
    if copied == 0 {
        Cow::Borrowed(uri)
    } else {
        out.push_str(&uri[copied..]);
        Cow::Owned(out)
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

    #[test]
    fn rfc7512_pkcs11_uris_name_the_pkcs11_plugin() {
        let cases = [
            // (URI, key reference)
            ("pkcs11:token=ci;object=release", "token=ci;object=release"),
            ("pkcs11://token=ci;object=release", "token=ci;object=release"),
            (
                "pkcs11:token=ci;id=%01?module-path=/usr/lib/softhsm/libsofthsm2.so",
                "token=ci;id=%01?module-path=/usr/lib/softhsm/libsofthsm2.so",
            ),
            // A file:// URI in the query does not make it NAME://REF.
            ("pkcs11:token=ci;object=k?pin-source=file:///run/pin", "token=ci;object=k?pin-source=file:///run/pin"),
            ("pkcs11://token=ci;object=k?pin-source=file:///run/pin", "token=ci;object=k?pin-source=file:///run/pin"),
            ("pkcs11:", ""),
        ];
        for (uri, key_ref) in cases {
            let u = KeyUri::parse(uri).unwrap();
            assert_eq!(
                (u.plugin_name(), u.key_ref(), u.program_name().as_str()),
                ("pkcs11", key_ref, "sigstore-kms-pkcs11"),
                "{uri}"
            );
            // Display gives back the form it was given in (the fuzz target checks this for every input).
            assert_eq!(u.to_string(), uri);
        }
        // Only that scheme: other NAME:REF URIs still need "://".
        for uri in ["mykms:key", "pkcs11x:token=a", "PKCS11:token=a", "xpkcs11:token=a"] {
            assert_eq!(KeyUri::parse(uri).unwrap_err().kind(), crate::ErrorKind::InvalidKeyUri, "{uri}");
        }
    }

    #[test]
    fn pins_are_hidden_in_errors_and_debug() {
        let err = KeyUri::parse("pkcs 11:token=a?pin-value=s3cr3t-PIN&module-path=/m.so").unwrap_err().to_string();
        assert!(!err.contains("s3cr3t-PIN") && err.contains("pin-value=[redacted]&module-path=/m.so"), "{err}");
        let u = KeyUri::parse("pkcs11:token=a?pin-value=s3cr3t-PIN").unwrap();
        let debug = format!("{u:?}");
        assert!(!debug.contains("s3cr3t-PIN") && debug.contains("[redacted]"), "{debug}");
        for (uri, want) in [
            ("pkcs11:token=a?PIN-VALUE=x;pin-value=y#f", "pkcs11:token=a?PIN-VALUE=[redacted];pin-value=[redacted]#f"),
            ("pkcs11:pin-value=", "pkcs11:pin-value=[redacted]"),
            ("x://no-pin-value=here", "x://no-pin-value=here"),
            ("pkcs11:token=pin-value=", "pkcs11:token=pin-value="),
        ] {
            assert_eq!(redact_key_uri(uri), want, "{uri}");
        }
    }
}
