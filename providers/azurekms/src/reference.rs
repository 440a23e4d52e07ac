//! Key references, parsed exactly as Go's `pkg/signature/kms/azure` parses them.
//!
//! The Go provider matches the whole URI against `^azurekms://([^/]+)/([^/]+)(/[a-z0-9]*)?$`
//! and calls the vault `https://HOST/`. A plugin receives the part after `azurekms://`;
//! [`KeyRef::parse`] puts the scheme back and applies the same rule: a host, a key name, and
//! optionally a version of lowercase letters and digits (possibly empty: the latest version).
//!
//! Two checks come after the parse, before anything is sent: the host must be a host name or
//! address with an optional port (no user, path or query), and the key name must be what Key
//! Vault accepts (1 to 127 letters, digits and dashes), because the name travels in the URL
//! path. A host without a dot or a colon is a vault *name* (cosign's docs write
//! `azurekms://VAULT_NAME/KEY`): [`KeyRef::vault_url`] adds the vault DNS suffix of the chosen
//! cloud (`myvault` → `https://myvault.vault.azure.net/`). Go would send such a request to
//! `https://myvault/`, which no vault answers.

use std::fmt;

use crate::cloud::Cloud;
use crate::Error;

/// The accepted forms, for error messages.
pub const FORMS: &str = "azurekms://VAULT_HOST/KEY_NAME or azurekms://VAULT_HOST/KEY_NAME/VERSION (VAULT_HOST: \
                         the vault's host name, e.g. myvault.vault.azure.net, or just its name myvault; \
                         VERSION: lowercase letters and digits)";

/// A Key Vault key, and the key version when the reference pins one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    /// The vault host as written (`myvault.vault.azure.net`, `myvault`, `127.0.0.1:8443`).
    pub host: String,
    /// The key name.
    pub name: String,
    /// The pinned version, `""` for the latest.
    pub version: String,
}

impl KeyRef {
    /// Parses the key reference the plugin was given (the URI after `azurekms://`).
    pub fn parse(key_resource_id: &str) -> Result<Self, Error> {
        Self::parse_uri(&format!("azurekms://{key_resource_id}"))
    }

    /// Parses a whole `azurekms://...` URI as Go's `parseReference` does, then checks the host
    /// and key name (see the module docs).
    pub fn parse_uri(uri: &str) -> Result<Self, Error> {
        let r = Self::parse_go(uri)?;
        r.check()?;
        Ok(r)
    }

    /// Go's parse alone: the three parts, or an error showing the accepted forms.
    pub fn parse_go(uri: &str) -> Result<Self, Error> {
        let invalid = || Error::new(format!("invalid azurekms key reference {uri:?}: the key URI must be {FORMS}"));
        let rest = uri.strip_prefix("azurekms://").ok_or_else(invalid)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let version_ok = |v: &str| v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let ok = match parts.as_slice() {
            [host, name] => !host.is_empty() && !name.is_empty(),
            [host, name, version] => !host.is_empty() && !name.is_empty() && version_ok(version),
            _ => false,
        };
        if !ok {
            return Err(invalid());
        }
        Ok(KeyRef {
            host: parts[0].to_owned(),
            name: parts[1].to_owned(),
            version: parts.get(2).map_or(String::new(), |v| (*v).to_owned()),
        })
    }

    fn check(&self) -> Result<(), Error> {
        let name_ok =
            (1..=127).contains(&self.name.len()) && self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !name_ok {
            return Err(Error::new(format!(
                "invalid Key Vault key name {:?} in azurekms://{self}: key names are 1 to 127 letters, digits and dashes",
                self.name
            )));
        }
        let url = url::Url::parse(&format!("https://{}/", self.host)).ok();
        let host_ok = url.as_ref().is_some_and(|u| {
            u.username().is_empty()
                && u.password().is_none()
                && u.path() == "/"
                && u.query().is_none()
                && u.fragment().is_none()
                && u.host_str().is_some_and(|h| !h.is_empty())
        });
        if !host_ok {
            return Err(Error::new(format!(
                "invalid vault host {:?} in azurekms://{self}: write the vault's host name (e.g. myvault.vault.azure.net, \
                 optionally with :PORT) or its name (myvault)",
                self.host
            )));
        }
        Ok(())
    }

    /// Whether the host is a bare vault name (no dot, no port).
    #[must_use]
    pub fn is_vault_name(&self) -> bool {
        !self.host.contains('.') && !self.host.contains(':') && !self.host.contains('[')
    }

    /// The vault URL: `https://HOST/`, or `https://NAME.VAULT_SUFFIX/` for a bare vault name.
    #[must_use]
    pub fn vault_url(&self, cloud: &Cloud) -> String {
        if self.is_vault_name() {
            format!("https://{}.{}/", self.host, cloud.vault_suffix)
        } else {
            format!("https://{}/", self.host)
        }
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.name)?;
        if !self.version.is_empty() {
            write!(f, "/{}", self.version)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Go's `TestParseReference` (pkg/signature/kms/azure/client_test.go), case for case: the
    /// vault URL, key name and version Go derives.
    #[test]
    fn go_parse_cases() {
        let public = Cloud::public();
        let cases: [(&str, Option<[&str; 3]>); 5] = [
            (
                "azurekms://honk-vault.vault.azure.net/honk-key",
                Some(["https://honk-vault.vault.azure.net/", "honk-key", ""]),
            ),
            (
                "azurekms://honk-vault.vault.azure.net/honk-key/123abc",
                Some(["https://honk-vault.vault.azure.net/", "honk-key", "123abc"]),
            ),
            ("foo://bar", None),
            ("", None),
            ("azurekms://wrong-test/test/1/3", None),
        ];
        for (input, want) in cases {
            if let Some([url, name, version]) = want {
                let r = KeyRef::parse_uri(input).unwrap();
                assert_eq!([r.vault_url(&public).as_str(), &r.name, &r.version], [url, name, version], "{input}");
            } else {
                let e = KeyRef::parse_uri(input).unwrap_err().to_string();
                assert!(e.contains("invalid azurekms key reference") && e.contains("VAULT_HOST/KEY_NAME"), "{e}");
            }
        }
    }

    /// What Go's pattern accepts and refuses beyond its own cases.
    #[test]
    fn go_pattern_edges() {
        let ok = |s: &str| KeyRef::parse_go(s).map(|r| (r.host, r.name, r.version));
        assert_eq!(ok("azurekms://h/k/").unwrap(), ("h".into(), "k".into(), String::new()));
        assert_eq!(ok("azurekms://h:8443/k/0a1b").unwrap(), ("h:8443".into(), "k".into(), "0a1b".into()));
        for bad in [
            "azurekms://h/k/ABC",
            "azurekms://h/k/a-b",
            "azurekms:///k",
            "azurekms://h/",
            "azurekms://h",
            "azurekms://h//v",
            "AZUREKMS://h/k",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checks_after_the_parse() {
        let e = KeyRef::parse("v.vault.azure.net/my_key").unwrap_err().to_string();
        assert!(e.contains("letters, digits and dashes"), "{e}");
        let e = KeyRef::parse(&format!("v.vault.azure.net/{}", "k".repeat(128))).unwrap_err().to_string();
        assert!(e.contains("1 to 127"), "{e}");
        for bad in ["user@v.vault.azure.net/k", "v.vault.azure.net?x/k", "v.vault.azure.net#f/k", "v:notaport/k"] {
            let e = KeyRef::parse(bad).unwrap_err().to_string();
            assert!(e.contains("invalid vault host"), "{bad}: {e}");
        }
        let r = KeyRef::parse("127.0.0.1:8443/release-key").unwrap();
        assert_eq!(r.vault_url(&Cloud::public()), "https://127.0.0.1:8443/");
        assert_eq!(r.to_string(), "127.0.0.1:8443/release-key");
    }

    #[test]
    fn bare_vault_names_get_the_cloud_suffix() {
        let r = KeyRef::parse("myvault/k/abc").unwrap();
        assert!(r.is_vault_name());
        assert_eq!(r.vault_url(&Cloud::public()), "https://myvault.vault.azure.net/");
        assert_eq!(r.vault_url(&Cloud::china()), "https://myvault.vault.azure.cn/");
        assert_eq!(r.vault_url(&Cloud::us_government()), "https://myvault.vault.usgovcloudapi.net/");
        assert!(!KeyRef::parse("localhost:8443/k").unwrap().is_vault_name());
    }
}
