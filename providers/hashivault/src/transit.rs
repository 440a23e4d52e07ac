//! The transit secrets engine: keys, their versions and public keys, signing and verification,
//! and what each failure means for the user.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use sigstore_kms_plugins::{CallContext, HashFunc};
use sigstore_kms_provider_kit::{call, PublicKey};

use crate::client::{Client, Failure};
use crate::reference::Scheme;
use crate::Error;

/// The algorithms transit keys can be created with, in the Go provider's names (which are
/// transit's key types).
pub const ALGORITHMS: [&str; 7] =
    ["ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096"];

/// The default algorithm, as in Go.
pub const DEFAULT_ALGORITHM: &str = "ecdsa-p256";

/// How a key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA: a digest, ASN.1 DER signatures.
    Ecdsa,
    /// RSA: a digest, PKCS#1 v1.5 signatures.
    Rsa,
    /// Ed25519: the message itself.
    Ed25519,
}

/// One version of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The `public_key` field: PEM, or for Ed25519 the base64 of the raw 32 bytes.
    pub public_key: String,
    /// The `name` field (`P-256`, `rsa-2048`, `ed25519`, ...).
    pub name: String,
}

/// What `GET {transit}/keys/{name}` says about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key type, e.g. `ecdsa-p256` or `aes256-gcm96`.
    pub key_type: String,
    /// Whether transit can sign with it.
    pub supports_signing: bool,
    /// The latest version.
    pub latest_version: u64,
    /// Versions below this one cannot sign (0: none excluded).
    pub min_encryption_version: u64,
    /// Versions below this one cannot verify.
    pub min_decryption_version: u64,
    /// The versions that have a public key.
    pub versions: BTreeMap<u64, Version>,
}

fn number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

impl KeyInfo {
    /// Parses a key read (or create) response; `Err` says what was missing.
    pub fn from_response(body: &Value) -> Result<KeyInfo, String> {
        let data = body.get("data").filter(|d| d.is_object()).ok_or("no \"data\" object")?;
        let key_type = data.get("type").and_then(Value::as_str).ok_or("no key \"type\"")?.to_owned();
        let latest_version = data.get("latest_version").and_then(number).ok_or("no \"latest_version\"")?;
        let mut versions = BTreeMap::new();
        if let Some(keys) = data.get("keys").and_then(Value::as_object) {
            for (v, entry) in keys {
                let (Ok(v), Some(public_key)) = (v.parse::<u64>(), entry.get("public_key").and_then(Value::as_str))
                else {
                    continue;
                };
                let name = entry.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
                versions.insert(v, Version { public_key: public_key.to_owned(), name });
            }
        }
        Ok(KeyInfo {
            supports_signing: data.get("supports_signing").and_then(Value::as_bool).unwrap_or(!versions.is_empty()),
            min_encryption_version: data.get("min_encryption_version").and_then(number).unwrap_or(0),
            min_decryption_version: data.get("min_decryption_version").and_then(number).unwrap_or(0),
            key_type,
            latest_version,
            versions,
        })
    }

    /// How the key signs; an error for a key transit cannot sign with.
    pub fn kind(&self, key: &str) -> Result<KeyKind, Error> {
        let kind = match self.key_type.as_str() {
            t if t.starts_with("ecdsa-") => Some(KeyKind::Ecdsa),
            t if t.starts_with("rsa-") => Some(KeyKind::Rsa),
            "ed25519" => Some(KeyKind::Ed25519),
            _ => None,
        };
        match kind {
            Some(k) if self.supports_signing => Ok(k),
            _ => Err(Error::new(format!(
                "transit key {key:?} is of type {}, which cannot sign: signing keys are of type {}; use another key \
                 name, or create one of those",
                self.key_type,
                ALGORITHMS.join(", ")
            ))),
        }
    }

    /// The version to use: `requested`, or the latest; an error for a version the key lacks.
    pub fn version(&self, key: &str, requested: Option<u64>) -> Result<u64, Error> {
        let v = requested.unwrap_or(self.latest_version);
        if v == 0 || v > self.latest_version {
            return Err(Error::new(format!(
                "transit key {key:?} has no version {v}: its versions are 1 to {} (leave keyVersion empty for the latest)",
                self.latest_version
            )));
        }
        Ok(v)
    }

    /// The public key of `version` (the latest when `None`).
    pub fn public_key(&self, key: &str, version: Option<u64>) -> Result<PublicKey, Error> {
        self.kind(key)?;
        let v = self.version(key, version)?;
        let entry = self.versions.get(&v).ok_or_else(|| {
            Error::new(format!(
                "Vault did not return the public key of version {v} of transit key {key:?} (it returned versions {:?}); \
                 versions below min_decryption_version ({}) are archived",
                self.versions.keys().collect::<Vec<_>>(),
                self.min_decryption_version
            ))
        })?;
        let bad = |e: &dyn std::fmt::Display| {
            Error::new(format!("the public key of version {v} of transit key {key:?} is not usable: {e}"))
        };
        if self.key_type == "ed25519" || entry.name == "ed25519" {
            // Transit answers Ed25519 public keys as the base64 of the raw 32 bytes.
            let raw = STANDARD.decode(entry.public_key.trim()).map_err(|e| bad(&e))?;
            let raw: [u8; 32] = raw
                .as_slice()
                .try_into()
                .map_err(|_| bad(&format_args!("an Ed25519 public key is 32 bytes, got {}", raw.len())))?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|e| bad(&e))?;
            return Ok(PublicKey::Ed25519(key));
        }
        PublicKey::from_pem(entry.public_key.as_bytes()).map_err(|e| bad(&e))
    }
}

/// The transit name of a hash function (the `hash_algorithm` path segment).
pub fn hash_name(hash: HashFunc) -> Result<&'static str, Error> {
    match hash {
        HashFunc::Sha224 => Ok("sha2-224"),
        HashFunc::Sha256 => Ok("sha2-256"),
        HashFunc::Sha384 => Ok("sha2-384"),
        HashFunc::Sha512 => Ok("sha2-512"),
        other => Err(Error::new(format!(
            "Vault transit signs SHA-224, SHA-256, SHA-384 or SHA-512 digests, not {}: use one of those (the Go \
             provider's list)",
            other.go_name()
        ))),
    }
}

/// The signature of a sign response without its `vault:vN:` prefix, decoded.
pub fn decode_signature(text: &str) -> Result<Vec<u8>, Error> {
    let body = match text.strip_prefix("vault:v") {
        Some(rest) => match rest.split_once(':') {
            Some((digits, b64)) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => b64,
            _ => text,
        },
        None => text,
    };
    let sig = STANDARD
        .decode(body)
        .map_err(|e| Error::new(format!("Vault answered a signature that is not base64 ({e})")))?;
    if sig.is_empty() {
        return Err(Error::new("Vault answered an empty signature"));
    }
    Ok(sig)
}

/// A parsed `keyVersion`: `None` for empty (and for `0` where `zero_is_latest`).
pub fn parse_key_version(text: &str, zero_is_latest: bool) -> Result<Option<u64>, Error> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let v: u64 = text.parse().map_err(|_| {
        Error::new(format!("keyVersion {text:?} is not a key version: use a number such as 2 (empty for the latest)"))
    })?;
    match v {
        0 if zero_is_latest => Ok(None),
        0 => Err(Error::new("keyVersion 0 cannot verify: key versions start at 1 (leave it empty for the latest)")),
        v => Ok(Some(v)),
    }
}

/// A transit key on one server, for one call.
pub struct Transit<'a> {
    /// The client.
    pub client: &'a Client,
    /// The key name.
    pub key: &'a str,
    /// The scheme (for messages).
    pub scheme: Scheme,
    /// The call (its deadline bounds every request).
    pub ctx: &'a CallContext,
}

impl Transit<'_> {
    fn path(&self, op: &str) -> String {
        format!("{}/{op}/{}", self.client.settings().transit_path, self.key)
    }

    /// Reads the key.
    pub fn read(&self) -> Result<KeyInfo, Error> {
        let path = self.path("keys");
        let what = format!("reading transit key {:?}", self.key);
        match self.client.read(&path, call::time_left(self.ctx)?) {
            Ok(Some(body)) => KeyInfo::from_response(&body).map_err(|why| self.unexpected(&what, &why)),
            Ok(None) => Err(self.not_found()),
            Err(f) => Err(self.explain(&what, &path, "read", f)),
        }
    }

    /// Creates the key with `algorithm` (Vault leaves an existing key as it is) and reads it.
    pub fn create(&self, algorithm: &str) -> Result<KeyInfo, Error> {
        let path = self.path("keys");
        let what = format!("creating transit key {:?}", self.key);
        let answer = self
            .client
            .write(&path, &json!({ "type": algorithm }), call::time_left(self.ctx)?)
            .map_err(|f| self.explain(&what, &path, "create/update", f))?;
        // OpenBao and recent Vault answer the key; older Vault answers 204 No Content.
        match answer.as_ref().map(KeyInfo::from_response) {
            Some(Ok(info)) => Ok(info),
            _ => self.read(),
        }
    }

    /// Signs: a digest made with `hash` (`prehashed`), or for Ed25519 (`hash` `None`) the
    /// message itself. Returns the signature and the version that made it.
    pub fn sign(&self, input: &[u8], hash: Option<HashFunc>, version: Option<u64>) -> Result<Vec<u8>, Error> {
        let path = match hash {
            Some(h) => format!("{}/{}", self.path("sign"), hash_name(h)?),
            None => self.path("sign"),
        };
        let mut body = json!({
            "input": STANDARD.encode(input),
            "prehashed": hash.is_some(),
            "marshaling_algorithm": "asn1",
            "signature_algorithm": "pkcs1v15",
        });
        if let Some(v) = version {
            body["key_version"] = json!(v);
        }
        let what = format!("signing with transit key {:?}", self.key);
        let answer = self
            .client
            .write(&path, &body, call::time_left(self.ctx)?)
            .map_err(|f| self.explain(&what, &path, "update", f))?;
        let sig = answer
            .as_ref()
            .and_then(|a| a.pointer("/data/signature"))
            .and_then(Value::as_str)
            .ok_or_else(|| self.unexpected(&what, "the answer has no data.signature"))?;
        decode_signature(sig)
    }

    /// Verifies in Vault: `signature` with the `prefix` (`vault:vN:`) that names the version.
    pub fn verify(&self, signature: &[u8], input: &[u8], hash: Option<HashFunc>, prefix: &str) -> Result<(), Error> {
        let path = match hash {
            Some(h) => format!("{}/{}", self.path("verify"), hash_name(h)?),
            None => self.path("verify"),
        };
        let body = json!({
            "input": STANDARD.encode(input),
            "prehashed": hash.is_some(),
            "signature": format!("{prefix}{}", STANDARD.encode(signature)),
            "marshaling_algorithm": "asn1",
            "signature_algorithm": "pkcs1v15",
        });
        let what = format!("verifying with transit key {:?}", self.key);
        let answer = match self.client.write(&path, &body, call::time_left(self.ctx)?) {
            Ok(a) => a,
            // A signature Vault cannot even parse is an invalid signature, not a server fault.
            Err(Failure::Status { status: 400, errors }) if !errors.iter().any(|e| e.contains("not found")) => {
                return Err(Error::new(format!(
                    "invalid signature: Vault refused it for transit key {:?}: {}",
                    self.key,
                    errors.join("; ")
                )));
            }
            Err(f) => return Err(self.explain(&what, &path, "update", f)),
        };
        match answer.as_ref().and_then(|a| a.pointer("/data/valid")).and_then(Value::as_bool) {
            Some(true) => Ok(()),
            Some(false) => Err(Error::new(format!(
                "invalid signature: Vault says it does not verify with transit key {:?} (signature prefix {prefix})",
                self.key
            ))),
            None => Err(self.unexpected(&what, "the answer has no data.valid")),
        }
    }

    /// `Vault at ADDR (namespace "ns")`.
    fn server(&self) -> String {
        let s = self.client.settings();
        let product = match self.scheme {
            Scheme::Hashivault => "Vault",
            Scheme::Openbao => "OpenBao",
        };
        match &s.namespace {
            Some(ns) => format!("{product} at {} (namespace {ns:?})", s.address.base),
            None => format!("{product} at {}", s.address.base),
        }
    }

    fn not_found(&self) -> Error {
        let s = self.client.settings();
        Error::new(format!(
            "transit key {key:?} does not exist in {mount:?} on {server}: create it first (the plugin's createKey, or \
             `cosign generate-key-pair --kms {scheme}://{key}`), or check the key name, TRANSIT_SECRET_ENGINE_PATH \
             (now {mount:?}) and VAULT_NAMESPACE",
            key = self.key,
            mount = s.transit_path,
            server = self.server(),
            scheme = self.scheme.name(),
        ))
    }

    fn unexpected(&self, what: &str, why: &str) -> Error {
        Error::new(format!(
            "{what} failed: {} answered something that is not a transit key response ({why}); is {} \
             (TRANSIT_SECRET_ENGINE_PATH) a transit secrets engine?",
            self.server(),
            self.client.settings().transit_path
        ))
    }

    /// One message for a failed request: what failed, why, and what to check.
    #[must_use]
    pub fn explain(&self, what: &str, path: &str, capability: &str, failure: Failure) -> Error {
        let s = self.client.settings();
        let server = self.server();
        let var = &s.address.var;
        let text = match failure {
            Failure::Status { status, errors } => {
                let errs = if errors.is_empty() { String::new() } else { format!(": {}", errors.join("; ")) };
                let has = |needle: &str| errors.iter().any(|e| e.to_ascii_lowercase().contains(needle));
                match status {
                    403 => format!(
                        "{what} failed: permission denied (HTTP 403 from {server}): the token {} is not valid (expired, \
                         revoked or mistyped) or its policy does not grant {capability:?} on \"{path}\"; check it with \
                         `vault token lookup` and see the policy in docs/providers/hashivault.md",
                        self.client.token().origin
                    ),
                    404 if has("no handler for route") || has("unsupported path") => format!(
                        "{what} failed: no secrets engine is mounted at {mount:?} on {server} (HTTP 404{errs}): set \
                         TRANSIT_SECRET_ENGINE_PATH to the path transit is enabled at, or enable it there (`vault \
                         secrets enable -path={mount} transit`)",
                        mount = s.transit_path
                    ),
                    404 if has("namespace not found") => format!(
                        "{what} failed: {server}: the namespace does not exist (HTTP 404{errs}): check VAULT_NAMESPACE"
                    ),
                    404 => return self.not_found(),
                    400 if has("not found") => return self.not_found(),
                    400 if has("http request to an https server") => format!(
                        "{what} failed: {server} speaks HTTPS (HTTP 400{errs}): {var} must start with https://"
                    ),
                    400 if has("does not support signing") => format!(
                        "{what} failed: transit key {:?} cannot sign (HTTP 400{errs}): use a key of type {}",
                        self.key,
                        ALGORITHMS.join(", ")
                    ),
                    503 if has("sealed") => format!(
                        "{what} failed: {server} is sealed (HTTP 503{errs}): unseal it (`vault operator unseal`), or set \
                         {var} to an unsealed node"
                    ),
                    503 => format!(
                        "{what} failed: {server} is unavailable (HTTP 503{errs}): it may be a standby node, starting, or \
                         in maintenance; try again, or check {var}"
                    ),
                    429 => format!(
                        "{what} failed: {server} is rate limiting this client (HTTP 429{errs}): try again later, or ask \
                         for a higher quota"
                    ),
                    _ => format!("{what} failed: {server} answered HTTP {status}{errs}"),
                }
            }
            Failure::Timeout(t) => format!(
                "{what} failed: {server} did not answer within {:.1}s (the host's deadline{}): check that the server is \
                 up and reachable at {var}, or give the call more time",
                t.as_secs_f64(),
                if s.client_timeout.is_some() { ", or VAULT_CLIENT_TIMEOUT" } else { "" }
            ),
            Failure::Transport(why) => format!(
                "{what} failed: cannot reach {server}: {why}; check {var}, and that the server is running and listening \
                 there"
            ),
            Failure::Tls(why) => format!(
                "{what} failed: the TLS connection to {server} failed: {why}; check VAULT_CACERT, VAULT_CACERT_BYTES or \
                 VAULT_CAPATH (the CA that issued the server's certificate; else the system's roots are used), \
                 VAULT_TLS_SERVER_NAME, VAULT_CLIENT_CERT/VAULT_CLIENT_KEY if the server wants a client certificate, \
                 and that the server speaks TLS at all (else {var} must start with http://)"
            ),
            Failure::Response(body) => format!(
                "{what} failed: the answer of {server} is not JSON ({body:?}); is {var} the address of a Vault or \
                 OpenBao server?"
            ),
        };
        // The pieces that came from elsewhere (server errors, transport texts) were scrubbed of the
        // token by the client; this text is ours and never holds it. (Scrubbing it again would
        // garble messages when a development token is a common word such as "root".)
        Error::new(text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A key read as OpenBao 2.7 answers it (captured from `bao server -dev`), trimmed.
    fn p256_response() -> Value {
        serde_json::from_str(
            r#"{"data":{"keys":{"1":{"certificate_chain":"","creation_time":"2026-12-01T22:12:08Z","name":"P-256",
            "public_key":"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE+fAzGF7Af2ggeN97Lp2j2GqYIGzj\nbYKlCIP5KJvgcIkYowTIswMy2egkb32k4b2UdjvGcyQI+WsJCgMCRKJhBQ==\n-----END PUBLIC KEY-----\n"}},
            "latest_version":1,"min_decryption_version":1,"min_encryption_version":0,"name":"p256",
            "supports_signing":true,"type":"ecdsa-p256"}}"#,
        )
        .unwrap()
    }

    #[test]
    fn key_responses() {
        let info = KeyInfo::from_response(&p256_response()).unwrap();
        assert_eq!(
            (info.key_type.as_str(), info.latest_version, info.kind("k").unwrap()),
            ("ecdsa-p256", 1, KeyKind::Ecdsa)
        );
        let pk = info.public_key("k", None).unwrap();
        assert_eq!(pk.describe(), "ecdsa-p256");
        let e = info.public_key("k", Some(2)).unwrap_err().to_string();
        assert!(e.contains("no version 2") && e.contains("1 to 1"), "{e}");
        // A symmetric key: versions are timestamps, no public key.
        let aes = json!({"data":{"keys":{"1":1_796_163_138},"latest_version":1,"supports_signing":false,"type":"aes256-gcm96"}});
        let info = KeyInfo::from_response(&aes).unwrap();
        let e = info.kind("k").unwrap_err().to_string();
        assert!(e.contains("aes256-gcm96") && e.contains("cannot sign") && e.contains("ecdsa-p256"), "{e}");
        for bad in [json!({}), json!({"data":{"type":"x"}}), json!({"data":{"latest_version":1}})] {
            assert!(KeyInfo::from_response(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ed25519_public_keys_are_raw_base64() {
        let ed = json!({"data":{"keys":{"1":{"name":"ed25519","public_key":"qdZQGvNpF+f6TXqB3yFoZat/9zzQDIv6GYCb/uSuWc0="}},
            "latest_version":1,"supports_signing":true,"type":"ed25519"}});
        let info = KeyInfo::from_response(&ed).unwrap();
        let pem = info.public_key("k", None).unwrap().to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAqdZQGvNpF+f6"), "{pem}");
        let short =
            json!({"data":{"keys":{"1":{"name":"ed25519","public_key":"AAAA"}},"latest_version":1,"type":"ed25519"}});
        let e = KeyInfo::from_response(&short).unwrap().public_key("k", None).unwrap_err().to_string();
        assert!(e.contains("32 bytes, got 3"), "{e}");
    }

    #[test]
    fn signatures_and_prefixes() {
        assert_eq!(decode_signature("vault:v1:AQID").unwrap(), [1, 2, 3]);
        assert_eq!(decode_signature("vault:v12:AQID").unwrap(), [1, 2, 3]);
        assert_eq!(decode_signature("AQID").unwrap(), [1, 2, 3]);
        assert!(decode_signature("vault:v1:").is_err());
        assert!(decode_signature("vault:vx:AQID").is_err());
        assert!(decode_signature("vault:v1:!!").unwrap_err().to_string().contains("base64"));
    }

    #[test]
    fn key_versions() {
        assert_eq!(parse_key_version("", true).unwrap(), None);
        assert_eq!(parse_key_version("0", true).unwrap(), None);
        assert_eq!(parse_key_version(" 3 ", false).unwrap(), Some(3));
        assert!(parse_key_version("0", false).unwrap_err().to_string().contains("start at 1"));
        assert!(parse_key_version("v2", true).unwrap_err().to_string().contains("not a key version"));
        assert!(parse_key_version("-1", true).is_err());
    }

    #[test]
    fn hash_names() {
        assert_eq!(hash_name(HashFunc::Sha384).unwrap(), "sha2-384");
        let e = hash_name(HashFunc::Sha512_256).unwrap_err().to_string();
        assert!(e.contains("SHA-512/256") || e.contains("SHA512_256"), "{e}");
    }
}
