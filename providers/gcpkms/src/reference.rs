//! Key references, parsed exactly as Go's `pkg/signature/kms/gcp` parses them.
//!
//! The Go provider matches the whole URI against
//! `^gcpkms://projects/([^/]+)/locations/([^/]+)/keyRings/([^/]+)/cryptoKeys/([^/]+)(?:/(?:cryptoKeyVersions|versions)/([^/]+))?$`.
//! A plugin receives the part after `gcpkms://`; [`KeyRef::parse`] puts the scheme back and
//! applies the same rule: eight or ten `/`-separated segments, the literal words in place
//! (case-sensitive), every name non-empty and free of `/`.

use std::fmt;

use crate::Error;

/// The accepted forms, for error messages.
pub const FORMS: &str = "gcpkms://projects/PROJECT/locations/LOCATION/keyRings/KEY_RING/cryptoKeys/KEY, optionally \
                         followed by /cryptoKeyVersions/VERSION (or /versions/VERSION)";

/// A Cloud KMS key, and the key version when the reference pins one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    /// The project ID.
    pub project: String,
    /// The location (`global`, `us-east1`, ...).
    pub location: String,
    /// The key ring.
    pub key_ring: String,
    /// The crypto key.
    pub key: String,
    /// The pinned key version, `""` when none: the plugin then uses the newest enabled version.
    pub version: String,
}

impl KeyRef {
    /// Parses the key reference the plugin was given (the URI after `gcpkms://`).
    pub fn parse(key_resource_id: &str) -> Result<Self, Error> {
        Self::parse_uri(&format!("gcpkms://{key_resource_id}"))
    }

    /// Parses a whole `gcpkms://...` URI, as Go's `parseReference` does.
    pub fn parse_uri(uri: &str) -> Result<Self, Error> {
        let invalid = || {
            Error::new(format!(
                "invalid gcpkms key reference {uri:?}: the key URI must be {FORMS} (each name without '/')"
            ))
        };
        let rest = uri.strip_prefix("gcpkms://").ok_or_else(invalid)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let named = |i: usize, word: &str| parts[i] == word && !parts[i + 1].is_empty();
        let shape_ok = match parts.len() {
            8 => true,
            10 => named(8, "cryptoKeyVersions") || named(8, "versions"),
            _ => false,
        };
        if !shape_ok
            || !named(0, "projects")
            || !named(2, "locations")
            || !named(4, "keyRings")
            || !named(6, "cryptoKeys")
        {
            return Err(invalid());
        }
        Ok(KeyRef {
            project: parts[1].to_owned(),
            location: parts[3].to_owned(),
            key_ring: parts[5].to_owned(),
            key: parts[7].to_owned(),
            version: parts.get(9).map_or(String::new(), |v| (*v).to_owned()),
        })
    }

    /// `projects/P/locations/L`: the parent of key rings.
    #[must_use]
    pub fn location_name(&self) -> String {
        format!("projects/{}/locations/{}", self.project, self.location)
    }

    /// `projects/P/locations/L/keyRings/R`.
    #[must_use]
    pub fn key_ring_name(&self) -> String {
        format!("{}/keyRings/{}", self.location_name(), self.key_ring)
    }

    /// `projects/P/locations/L/keyRings/R/cryptoKeys/K`: the resource name of the key.
    #[must_use]
    pub fn key_name(&self) -> String {
        format!("{}/cryptoKeys/{}", self.key_ring_name(), self.key)
    }

    /// The resource name of key version `version` of this key.
    #[must_use]
    pub fn version_name(&self, version: &str) -> String {
        format!("{}/cryptoKeyVersions/{version}", self.key_name())
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.version.is_empty() {
            f.write_str(&self.key_name())
        } else {
            f.write_str(&self.version_name(&self.version))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Go's `TestParseReference` (pkg/signature/kms/gcp/gcp_test.go), case for case, then ours.
    #[test]
    fn go_parse_cases() {
        struct Case {
            input: &'static str,
            want: Option<[&'static str; 5]>,
        }
        let cases = [
            Case {
                input: "gcpkms://projects/pp/locations/ll/keyRings/rr/cryptoKeys/kk",
                want: Some(["pp", "ll", "rr", "kk", ""]),
            },
            Case {
                input: "gcpkms://projects/pp/locations/ll/keyRings/rr/cryptoKeys/kk/versions/1",
                want: Some(["pp", "ll", "rr", "kk", "1"]),
            },
            Case {
                input: "gcpkms://projects/pp/locations/ll/keyRings/rr/cryptoKeys/kk/cryptoKeyVersions/1",
                want: Some(["pp", "ll", "rr", "kk", "1"]),
            },
            Case { input: "gcpkms://projects/p1/p2/locations/l1/l2/keyRings/r1/r2/cryptoKeys/k1/k2", want: None },
            Case { input: "foo://bar", want: None },
            Case { input: "", want: None },
            Case { input: "gcpkms://projects/p1/p2/locations/l1/l2/keyRings/r1/r2/cryptoKeys/k1/versions", want: None },
            // Ours: what the same pattern accepts and refuses.
            Case {
                input: "gcpkms://projects/my-proj/locations/global/keyRings/ring.1/cryptoKeys/k_2/cryptoKeyVersions/42",
                want: Some(["my-proj", "global", "ring.1", "k_2", "42"]),
            },
            Case { input: "gcpkms://projects/pp/locations/ll/keyRings/rr/cryptoKeys/kk/", want: None },
            Case { input: "gcpkms://projects/pp/locations/ll/keyRings/rr/cryptoKeys/kk/versions/", want: None },
            Case { input: "gcpkms://projects/pp/locations/ll/keyRings/rr/cryptoKeys/kk/keyVersions/1", want: None },
            Case { input: "gcpkms://projects/pp/locations/ll/keyRings/rr/cryptoKeys/kk/versions/1/x", want: None },
            Case { input: "gcpkms://projects//locations/ll/keyRings/rr/cryptoKeys/kk", want: None },
            Case { input: "gcpkms://Projects/pp/locations/ll/keyRings/rr/cryptoKeys/kk", want: None },
            Case { input: "gcpkms://projects/pp/locations/ll/keyrings/rr/cryptoKeys/kk", want: None },
            Case { input: "gcpkms:///projects/pp/locations/ll/keyRings/rr/cryptoKeys/kk", want: None },
            Case { input: "GCPKMS://projects/pp/locations/ll/keyRings/rr/cryptoKeys/kk", want: None },
        ];
        for c in cases {
            let got = KeyRef::parse_uri(c.input);
            if let Some([project, location, key_ring, key, version]) = c.want {
                let r = got.unwrap();
                assert_eq!(
                    [r.project.as_str(), &r.location, &r.key_ring, &r.key, &r.version],
                    [project, location, key_ring, key, version],
                    "{:?}",
                    c.input
                );
            } else {
                let e = got.expect_err(c.input).to_string();
                assert!(e.contains("cryptoKeys/KEY") && e.contains("invalid gcpkms key reference"), "{e}");
            }
        }
    }

    #[test]
    fn plugin_references_and_names() {
        let r = KeyRef::parse("projects/p/locations/global/keyRings/r/cryptoKeys/k/versions/3").unwrap();
        assert_eq!(r.key_name(), "projects/p/locations/global/keyRings/r/cryptoKeys/k");
        assert_eq!(r.version_name("3"), "projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3");
        assert_eq!(r.to_string(), r.version_name("3"));
        assert_eq!(r.key_ring_name(), "projects/p/locations/global/keyRings/r");
        assert_eq!(r.location_name(), "projects/p/locations/global");
        // The plugin is given what follows gcpkms://: a doubled scheme is not a reference.
        assert!(KeyRef::parse("gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k").is_err());
    }
}
