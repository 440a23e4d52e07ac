//! The bundle as JSON: reading every form cosign, sigstore-go, sigstore-js and sigstore-python
//! write (media types v0.1 to v0.3), and writing it as cosign does for a key.
//!
//! The JSON is protobuf's JSON mapping (`protojson`) of `dev.sigstore.bundle.v1.Bundle`
//! (sigstore/protobuf-specs). Reading follows protojson where writers differ: field names in
//! lowerCamelCase or as in the `.proto` (snake_case), `null` as an absent field, enums by name
//! or number, bytes as standard or URL-safe base64 with or without padding; unknown fields are
//! ignored. Omitted repeated fields are empty: cosign omits an empty `tlogEntries`.
//! Writing follows protojson too (and so cosign byte for byte): fields in `.proto` order,
//! default values (empty strings, empty lists, the unspecified enum) omitted, standard padded
//! base64, no whitespace.

use std::fmt::Write as _;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The media type written: version 0.3, in the form cosign and sigstore-go write.
pub const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Every media type read (the spec asks clients to accept the older forms).
pub const MEDIA_TYPES: [&str; 4] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    MEDIA_TYPE,
];

/// A digest algorithm of protobuf-specs' `HashAlgorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `HASH_ALGORITHM_UNSPECIFIED` (cosign writes `"messageDigest":{}` for pure Ed25519).
    Unspecified,
    /// `SHA2_256`.
    Sha2_256,
    /// `SHA2_384`.
    Sha2_384,
    /// `SHA2_512`.
    Sha2_512,
    /// `SHA3_256` (deprecated in the spec; read, not verified).
    Sha3_256,
    /// `SHA3_384` (deprecated in the spec; read, not verified).
    Sha3_384,
}

impl DigestAlgorithm {
    const NAMES: [(DigestAlgorithm, &'static str); 6] = [
        (DigestAlgorithm::Unspecified, "HASH_ALGORITHM_UNSPECIFIED"),
        (DigestAlgorithm::Sha2_256, "SHA2_256"),
        (DigestAlgorithm::Sha2_384, "SHA2_384"),
        (DigestAlgorithm::Sha2_512, "SHA2_512"),
        (DigestAlgorithm::Sha3_256, "SHA3_256"),
        (DigestAlgorithm::Sha3_384, "SHA3_384"),
    ];

    /// The protobuf enum name, e.g. `"SHA2_256"`.
    #[must_use]
    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(a, _)| *a == self).map_or("HASH_ALGORITHM_UNSPECIFIED", |(_, n)| n)
    }

    /// The algorithm of a protobuf enum name (`"SHA2_384"`).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(_, n)| *n == name).map(|(a, _)| *a)
    }

    /// The enum number protojson also accepts (`SHA2_256` is 1).
    fn from_number(n: u64) -> Option<Self> {
        usize::try_from(n).ok().and_then(|i| Self::NAMES.get(i)).map(|(a, _)| *a)
    }

    /// The hash function to compute it with, for the SHA-2 algorithms.
    #[must_use]
    pub fn hash_func(self) -> Option<sigstore_kms_plugins::HashFunc> {
        use sigstore_kms_plugins::HashFunc;
        match self {
            DigestAlgorithm::Sha2_256 => Some(HashFunc::Sha256),
            DigestAlgorithm::Sha2_384 => Some(HashFunc::Sha384),
            DigestAlgorithm::Sha2_512 => Some(HashFunc::Sha512),
            _ => None,
        }
    }

    /// The name in-toto statements use for the digest (`"sha256"`), for the SHA-2 algorithms.
    #[must_use]
    pub fn in_toto_name(self) -> Option<&'static str> {
        match self {
            DigestAlgorithm::Sha2_256 => Some("sha256"),
            DigestAlgorithm::Sha2_384 => Some("sha384"),
            DigestAlgorithm::Sha2_512 => Some("sha512"),
            _ => None,
        }
    }
}

impl std::fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A digest and its algorithm (`HashOutput`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashOutput {
    /// The algorithm.
    pub algorithm: DigestAlgorithm,
    /// The digest bytes (empty in cosign's pure-Ed25519 `"messageDigest":{}`).
    pub digest: Vec<u8>,
}

/// The signature over an artifact (`MessageSignature`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSignature {
    /// The artifact's digest, for identification (the spec forbids using it to verify the
    /// signature: the artifact is hashed again).
    pub message_digest: Option<HashOutput>,
    /// The signature bytes (ASN.1 DER for ECDSA).
    pub signature: Vec<u8>,
}

/// One signature of a DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsseSignature {
    /// The signature over the envelope's pre-authentication encoding.
    pub sig: Vec<u8>,
    /// The key id (the key hint, in a bundle; empty when absent).
    pub keyid: String,
}

/// A DSSE envelope (`io.intoto.Envelope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsseEnvelope {
    /// The signed payload.
    pub payload: Vec<u8>,
    /// Its type, e.g. `application/vnd.in-toto+json`.
    pub payload_type: String,
    /// The signatures: a bundle's envelope has exactly one.
    pub signatures: Vec<DsseSignature>,
}

/// What the bundle signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A signature over an artifact.
    MessageSignature(MessageSignature),
    /// A DSSE envelope (typically an in-toto statement about artifacts).
    DsseEnvelope(DsseEnvelope),
}

/// How the verifier finds the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// A public key delivered out of band, named by a hint (cosign and sigstore-js write
    /// base64(SHA-256(SubjectPublicKeyInfo DER)); empty when absent).
    PublicKey {
        /// The hint.
        hint: String,
    },
    /// A leaf certificate, DER (v0.3 keyless bundles).
    Certificate(Vec<u8>),
    /// A certificate chain, leaf first, DER (v0.1 and v0.2 keyless bundles).
    CertificateChain(Vec<Vec<u8>>),
}

/// A Sigstore bundle.
///
/// Transparency-log entries and RFC 3161 timestamps are kept as their JSON (they round-trip
/// through [`Bundle::to_json`]) but not interpreted: this crate verifies against a public key,
/// without a trust root.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// The media type, as read (written bundles: [`MEDIA_TYPE`]).
    pub media_type: String,
    /// The key material.
    pub key_material: KeyMaterial,
    /// `verificationMaterial.tlogEntries`, as JSON objects.
    pub tlog_entries: Vec<Value>,
    /// `verificationMaterial.timestampVerificationData.rfc3161Timestamps`, as JSON objects.
    pub rfc3161_timestamps: Vec<Value>,
    /// The content.
    pub content: Content,
}

/// A base64 engine with `alphabet`, padding optional (protojson accepts both).
const fn lenient(alphabet: &base64::alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(alphabet, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent))
}
const STANDARD: GeneralPurpose = lenient(&base64::alphabet::STANDARD);
const URL_SAFE: GeneralPurpose = lenient(&base64::alphabet::URL_SAFE);

/// Decodes protojson bytes: standard or URL-safe base64, padding optional. Any other character
/// is an error (never skipped).
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).or_else(|_| URL_SAFE.decode(text)).ok()
}

pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A JSON object being read, with its path for error messages.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn of(value: &'a Value, path: String) -> Result<Obj<'a>> {
        match value {
            Value::Object(map) => Ok(Obj { map, path }),
            other => Err(Error::malformed(format!("{path} must be a JSON object, not {}", kind_of(other)))),
        }
    }

    fn child_path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// The field `camel` (or its `.proto` name `snake`), `None` when absent or `null`.
    fn get(&self, camel: &str, snake: &str) -> Option<(&'a Value, String)> {
        [camel, snake]
            .into_iter()
            .find_map(|k| self.map.get(k).filter(|v| !v.is_null()))
            .map(|v| (v, self.child_path(camel)))
    }

    fn object(&self, camel: &str, snake: &str) -> Result<Option<Obj<'a>>> {
        self.get(camel, snake).map(|(v, path)| Obj::of(v, path)).transpose()
    }

    fn required_object(&self, camel: &str, snake: &str) -> Result<Obj<'a>> {
        self.object(camel, snake)?.ok_or_else(|| self.missing(camel))
    }

    fn string(&self, camel: &str, snake: &str) -> Result<Option<&'a str>> {
        match self.get(camel, snake) {
            None => Ok(None),
            Some((Value::String(s), _)) => Ok(Some(s)),
            Some((other, path)) => Err(Error::malformed(format!("{path} must be a string, not {}", kind_of(other)))),
        }
    }

    fn bytes(&self, camel: &str, snake: &str) -> Result<Option<Vec<u8>>> {
        let Some(text) = self.string(camel, snake)? else { return Ok(None) };
        decode_base64(text).map(Some).ok_or_else(|| {
            Error::malformed(format!("{} is not valid base64 ({} characters)", self.child_path(camel), text.len()))
        })
    }

    fn required_bytes(&self, camel: &str, snake: &str) -> Result<Vec<u8>> {
        match self.bytes(camel, snake)? {
            Some(b) if !b.is_empty() => Ok(b),
            _ => Err(self.missing(camel)),
        }
    }

    fn array(&self, camel: &str, snake: &str) -> Result<&'a [Value]> {
        match self.get(camel, snake) {
            None => Ok(&[]),
            Some((Value::Array(items), _)) => Ok(items),
            Some((other, path)) => {
                Err(Error::malformed(format!("{path} must be a JSON array, not {}", kind_of(other))))
            }
        }
    }

    fn missing(&self, camel: &str) -> Error {
        Error::malformed(format!("{} is missing", self.child_path(camel)))
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Bundle {
    /// Reads a bundle from its JSON.
    pub fn from_json(json: &[u8]) -> Result<Bundle> {
        let value: Value = serde_json::from_slice(json).map_err(|e| Error::malformed(format!("not JSON: {e}")))?;
        Bundle::from_value(&value)
    }

    /// Reads a bundle from parsed JSON.
    pub fn from_value(value: &Value) -> Result<Bundle> {
        let root = Obj::of(value, String::new()).map_err(|_| Error::malformed("the JSON is not an object"))?;
        let media_type = root.string("mediaType", "media_type")?.ok_or_else(|| root.missing("mediaType"))?;
        if !MEDIA_TYPES.contains(&media_type) {
            return Err(Error::malformed(format!(
                "unknown media type {media_type:?}; expected a Sigstore bundle ({})",
                MEDIA_TYPES.join(", ")
            )));
        }
        let material = root.required_object("verificationMaterial", "verification_material")?;
        let key_material = read_key_material(&material)?;
        let tlog_entries = read_objects(&material, "tlogEntries", "tlog_entries")?;
        let rfc3161_timestamps = match material.object("timestampVerificationData", "timestamp_verification_data")? {
            Some(data) => read_objects(&data, "rfc3161Timestamps", "rfc3161_timestamps")?,
            None => Vec::new(),
        };
        let message = root.object("messageSignature", "message_signature")?;
        let dsse = root.object("dsseEnvelope", "dsse_envelope")?;
        let content = match (message, dsse) {
            (Some(m), None) => Content::MessageSignature(read_message_signature(&m)?),
            (None, Some(d)) => Content::DsseEnvelope(read_envelope(&d)?),
            (Some(_), Some(_)) => {
                return Err(Error::malformed("it has both messageSignature and dsseEnvelope; a bundle has one"))
            }
            (None, None) => return Err(Error::malformed("it has neither messageSignature nor dsseEnvelope")),
        };
        Ok(Bundle { media_type: media_type.to_owned(), key_material, tlog_entries, rfc3161_timestamps, content })
    }

    /// The bundle as JSON, as cosign writes it (see the module docs).
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(1024);
        out.push_str("{\"mediaType\":");
        push_str(&mut out, &self.media_type);
        out.push_str(",\"verificationMaterial\":{");
        let mut material = Fields::new(&mut out);
        match &self.key_material {
            KeyMaterial::PublicKey { hint } => {
                let mut key = String::from("{");
                if !hint.is_empty() {
                    key.push_str("\"hint\":");
                    push_str(&mut key, hint);
                }
                key.push('}');
                material.raw("publicKey", &key);
            }
            KeyMaterial::CertificateChain(certs) => {
                let items: Vec<String> = certs.iter().map(|c| raw_bytes_object(c)).collect();
                material.raw("x509CertificateChain", &format!("{{\"certificates\":[{}]}}", items.join(",")));
            }
            KeyMaterial::Certificate(cert) => material.raw("certificate", &raw_bytes_object(cert)),
        }
        if !self.tlog_entries.is_empty() {
            material.raw("tlogEntries", &Value::Array(self.tlog_entries.clone()).to_string());
        }
        if !self.rfc3161_timestamps.is_empty() {
            let stamps = Value::Array(self.rfc3161_timestamps.clone()).to_string();
            material.raw("timestampVerificationData", &format!("{{\"rfc3161Timestamps\":{stamps}}}"));
        }
        out.push('}');
        match &self.content {
            Content::MessageSignature(m) => {
                out.push_str(",\"messageSignature\":{");
                let mut fields = Fields::new(&mut out);
                if let Some(d) = &m.message_digest {
                    let mut digest = String::from("{");
                    let mut inner = Fields::new(&mut digest);
                    if d.algorithm != DigestAlgorithm::Unspecified {
                        inner.string("algorithm", d.algorithm.name());
                    }
                    if !d.digest.is_empty() {
                        inner.string("digest", &encode_base64(&d.digest));
                    }
                    digest.push('}');
                    fields.raw("messageDigest", &digest);
                }
                if !m.signature.is_empty() {
                    fields.string("signature", &encode_base64(&m.signature));
                }
                out.push('}');
            }
            Content::DsseEnvelope(e) => {
                out.push_str(",\"dsseEnvelope\":{");
                let mut fields = Fields::new(&mut out);
                if !e.payload.is_empty() {
                    fields.string("payload", &encode_base64(&e.payload));
                }
                if !e.payload_type.is_empty() {
                    fields.string("payloadType", &e.payload_type);
                }
                let sigs: Vec<String> = e
                    .signatures
                    .iter()
                    .map(|s| {
                        let mut sig = String::from("{");
                        let mut f = Fields::new(&mut sig);
                        if !s.sig.is_empty() {
                            f.string("sig", &encode_base64(&s.sig));
                        }
                        if !s.keyid.is_empty() {
                            f.string("keyid", &s.keyid);
                        }
                        sig.push('}');
                        sig
                    })
                    .collect();
                if !sigs.is_empty() {
                    fields.raw("signatures", &format!("[{}]", sigs.join(",")));
                }
                out.push('}');
            }
        }
        out.push('}');
        out
    }

    /// The key hint, for a public-key bundle (empty when the bundle names no key).
    #[must_use]
    pub fn key_hint(&self) -> Option<&str> {
        match &self.key_material {
            KeyMaterial::PublicKey { hint } => Some(hint),
            _ => None,
        }
    }

    /// The message signature, for a message-signature bundle.
    #[must_use]
    pub fn message_signature(&self) -> Option<&MessageSignature> {
        match &self.content {
            Content::MessageSignature(m) => Some(m),
            Content::DsseEnvelope(_) => None,
        }
    }

    /// The DSSE envelope, for a DSSE bundle.
    #[must_use]
    pub fn dsse_envelope(&self) -> Option<&DsseEnvelope> {
        match &self.content {
            Content::DsseEnvelope(e) => Some(e),
            Content::MessageSignature(_) => None,
        }
    }
}

/// Writes `"name":value` pairs separated by commas.
struct Fields<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Fields<'a> {
    fn new(out: &'a mut String) -> Self {
        Fields { out, first: true }
    }

    fn raw(&mut self, name: &str, json: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        let _ = write!(self.out, "\"{name}\":{json}");
    }

    fn string(&mut self, name: &str, value: &str) {
        let mut quoted = String::new();
        push_str(&mut quoted, value);
        self.raw(name, &quoted);
    }
}

fn push_str(out: &mut String, s: &str) {
    out.push_str(&Value::String(s.to_owned()).to_string());
}

fn raw_bytes_object(der: &[u8]) -> String {
    let mut s = String::from("{\"rawBytes\":");
    push_str(&mut s, &encode_base64(der));
    s.push('}');
    s
}

fn read_key_material(material: &Obj<'_>) -> Result<KeyMaterial> {
    let key = material.object("publicKey", "public_key")?;
    let chain = material.object("x509CertificateChain", "x509_certificate_chain")?;
    let cert = material.object("certificate", "certificate")?;
    match (key, chain, cert) {
        (Some(k), None, None) => {
            Ok(KeyMaterial::PublicKey { hint: k.string("hint", "hint")?.unwrap_or_default().to_owned() })
        }
        (None, Some(c), None) => {
            let mut certs = Vec::new();
            for (i, item) in c.array("certificates", "certificates")?.iter().enumerate() {
                let obj = Obj::of(item, format!("{}[{i}]", c.child_path("certificates")))?;
                certs.push(obj.required_bytes("rawBytes", "raw_bytes")?);
            }
            if certs.is_empty() {
                return Err(Error::malformed(format!("{} has no certificates", c.path)));
            }
            Ok(KeyMaterial::CertificateChain(certs))
        }
        (None, None, Some(c)) => Ok(KeyMaterial::Certificate(c.required_bytes("rawBytes", "raw_bytes")?)),
        (None, None, None) => Err(Error::malformed(
            "verificationMaterial has no publicKey, x509CertificateChain or certificate: nothing names the key",
        )),
        _ => Err(Error::malformed(
            "verificationMaterial has more than one of publicKey, x509CertificateChain and certificate",
        )),
    }
}

fn read_objects(parent: &Obj<'_>, camel: &str, snake: &str) -> Result<Vec<Value>> {
    let items = parent.array(camel, snake)?;
    for (i, item) in items.iter().enumerate() {
        if !item.is_object() {
            return Err(Error::malformed(format!("{}[{i}] must be a JSON object", parent.child_path(camel))));
        }
    }
    Ok(items.to_vec())
}

fn read_message_signature(m: &Obj<'_>) -> Result<MessageSignature> {
    let message_digest = match m.object("messageDigest", "message_digest")? {
        None => None,
        Some(d) => {
            let algorithm = match d.get("algorithm", "algorithm") {
                None => DigestAlgorithm::Unspecified,
                Some((Value::String(name), path)) => DigestAlgorithm::from_name(name)
                    .ok_or_else(|| Error::malformed(format!("{path} {name:?} is not a HashAlgorithm")))?,
                Some((Value::Number(n), path)) => n
                    .as_u64()
                    .and_then(DigestAlgorithm::from_number)
                    .ok_or_else(|| Error::malformed(format!("{path} {n} is not a HashAlgorithm")))?,
                Some((other, path)) => {
                    return Err(Error::malformed(format!("{path} must be a string, not {}", kind_of(other))))
                }
            };
            Some(HashOutput { algorithm, digest: d.bytes("digest", "digest")?.unwrap_or_default() })
        }
    };
    Ok(MessageSignature { message_digest, signature: m.required_bytes("signature", "signature")? })
}

fn read_envelope(e: &Obj<'_>) -> Result<DsseEnvelope> {
    let payload = e.bytes("payload", "payload")?.unwrap_or_default();
    let payload_type = e.string("payloadType", "payload_type")?.ok_or_else(|| e.missing("payloadType"))?.to_owned();
    let mut signatures = Vec::new();
    for (i, item) in e.array("signatures", "signatures")?.iter().enumerate() {
        let s = Obj::of(item, format!("{}[{i}]", e.child_path("signatures")))?;
        signatures.push(DsseSignature {
            sig: s.required_bytes("sig", "sig")?,
            keyid: s.string("keyid", "keyid")?.unwrap_or_default().to_owned(),
        });
    }
    if signatures.len() != 1 {
        return Err(Error::malformed(format!(
            "the DSSE envelope has {} signatures; a bundle's envelope has exactly one",
            signatures.len()
        )));
    }
    Ok(DsseEnvelope { payload, payload_type, signatures })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    // Written by cosign v3.1.3 (sign-blob --bundle, a localkms P-256 key, no tlog).
    const COSIGN_P256: &str = r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"hIDbpqe9AUf3oqz2lryIfkNWFBK6xJ+O/T/9sNW++qU="}},"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"UbwPwfGRBPpuic5Qvpqh9XwzRsHKUatJ9fAOFM6PgHY="},"signature":"MEQCICUIgvZQqknQzgxnp6WEwz9krFeaO8CF3x3PApznWydiAiAHhVsnHZmpUFYrrMmys6PfqGiLo1ns8l073DSTTyFQtQ=="}}"#;
    // cosign v3.1.3 with an Ed25519 key: an empty messageDigest.
    const COSIGN_ED25519: &str = r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"4kIuZ+RmM1OmX6rsYKFXp42iqB9Pp0aF8Bdhh7c8MV8="}},"messageSignature":{"messageDigest":{},"signature":"bR8DGItdtnHio+SmUCrxr5IvokVvZdWqcekVHTN2TdAi9+ELCObBwt/4GaRoB3TjGVnZr+EArkn1ZbNV/ttXCg=="}}"#;

    #[test]
    fn cosign_bundles_round_trip_byte_for_byte() {
        for json in [COSIGN_P256, COSIGN_ED25519] {
            let b = Bundle::from_json(json.as_bytes()).unwrap();
            assert!(b.tlog_entries.is_empty());
            assert_eq!(b.to_json(), json);
        }
        let b = Bundle::from_json(COSIGN_ED25519.as_bytes()).unwrap();
        let m = b.message_signature().unwrap();
        assert_eq!(m.message_digest, Some(HashOutput { algorithm: DigestAlgorithm::Unspecified, digest: vec![] }));
    }

    #[test]
    fn reads_sigstore_js_form_and_proto_names() {
        // sigstore-js: v0.2 media type for message signatures, empty arrays written out.
        let js = r#"{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.2","verificationMaterial":{"publicKey":{"hint":"abc"},"tlogEntries":[],"timestampVerificationData":{"rfc3161Timestamps":[]}},"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AAEC"},"signature":"AQID"}}"#;
        let b = Bundle::from_json(js.as_bytes()).unwrap();
        assert_eq!(b.key_hint(), Some("abc"));
        assert_eq!(b.message_signature().unwrap().signature, [1, 2, 3]);
        // The same with .proto field names, an enum number, URL-safe unpadded base64, nulls.
        let proto = r#"{"media_type":"application/vnd.dev.sigstore.bundle+json;version=0.2","verification_material":{"public_key":{"hint":"abc"},"tlog_entries":null},"message_signature":{"message_digest":{"algorithm":1,"digest":"AAEC"},"signature":"AQID"},"unknown":true}"#;
        assert_eq!(Bundle::from_json(proto.as_bytes()).unwrap().content, b.content);
    }

    #[test]
    fn malformed_bundles_say_what_is_wrong() {
        let cases: &[(&str, &str)] = &[
            ("not json", "not JSON"),
            ("[]", "not an object"),
            (r#"{"mediaType":"application/json"}"#, "unknown media type"),
            (&COSIGN_P256.replace("\"verificationMaterial\"", "\"x\""), "verificationMaterial is missing"),
            (
                &COSIGN_P256.replace("\"signature\":\"MEQ", "\"signature\":\"!EQ"),
                "messageSignature.signature is not valid base64",
            ),
            (&COSIGN_P256.replace("\"SHA2_256\"", "\"MD5\""), "is not a HashAlgorithm"),
            (&COSIGN_P256.replace("\"publicKey\":{", "\"publicKey\":5,\"x\":{"), "publicKey must be a JSON object"),
            (&COSIGN_P256.replace("\"messageSignature\"", "\"other\""), "neither messageSignature nor dsseEnvelope"),
        ];
        for (json, want) in cases {
            let err = Bundle::from_json(json.as_bytes()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Malformed, "{json}");
            assert!(err.to_string().contains(want), "{json}: {err}");
        }
        let two = r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{}},"dsseEnvelope":{"payload":"e30=","payloadType":"t","signatures":[{"sig":"AQ=="},{"sig":"AQ=="}]}}"#;
        assert!(Bundle::from_json(two.as_bytes()).unwrap_err().to_string().contains("exactly one"));
    }

    #[test]
    fn tlog_entries_and_timestamps_round_trip() {
        let json = r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"h"},"tlogEntries":[{"logIndex":"7"}],"timestampVerificationData":{"rfc3161Timestamps":[{"signedTimestamp":"AQ=="}]}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AQ==","keyid":"h"}]}}"#;
        let b = Bundle::from_json(json.as_bytes()).unwrap();
        assert_eq!(b.tlog_entries.len(), 1);
        assert_eq!(b.rfc3161_timestamps.len(), 1);
        assert_eq!(b.to_json(), json);
    }
}
