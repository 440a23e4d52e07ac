//! Public keys as plugins return them: PEM text, parsed to a SubjectPublicKeyInfo.

use spki::der::asn1::{BitString, Null, ObjectIdentifier};
use spki::der::{Any, Decode, Encode};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::protocol::gojson::base64_decode;

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// A public key: the PEM a plugin returned and its parsed SubjectPublicKeyInfo (SPKI).
///
/// Accepts what Go's `cryptoutils.UnmarshalPEMToPublicKey` accepts: a `PUBLIC KEY` block
/// (SPKI) or an `RSA PUBLIC KEY` block (PKCS#1, converted to SPKI here), with any text before
/// the block ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pem: String,
    spki_der: Vec<u8>,
    algorithm: ObjectIdentifier,
    parameters: Option<ObjectIdentifier>,
}

impl PublicKey {
    /// Parses PEM text.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(pem).map_err(|_| "the public key PEM is not valid UTF-8 text".to_owned())?;
        let (label, der) = decode_pem_block(text)?;
        let spki_der = match label.as_str() {
            "PUBLIC KEY" => der,
            "RSA PUBLIC KEY" => pkcs1_to_spki(&der)?,
            other => return Err(format!("expected a \"PUBLIC KEY\" PEM block, found {other:?}")),
        };
        let spki = SubjectPublicKeyInfoOwned::from_der(&spki_der)
            .map_err(|e| format!("the PEM block is not a valid SubjectPublicKeyInfo: {e}"))?;
        let parameters = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        Ok(PublicKey { pem: text.to_owned(), spki_der, algorithm: spki.algorithm.oid, parameters })
    }

    /// The PEM text exactly as the plugin returned it.
    #[must_use]
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The DER encoding of the SubjectPublicKeyInfo.
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The SubjectPublicKeyInfo as a `PUBLIC KEY` PEM block (64-column lines, trailing newline).
    #[must_use]
    pub fn spki_pem(&self) -> String {
        encode_pem("PUBLIC KEY", &self.spki_der)
    }

    /// The dotted OID of the key algorithm, e.g. `1.2.840.10045.2.1` for EC.
    #[must_use]
    pub fn algorithm_oid(&self) -> String {
        self.algorithm.to_string()
    }

    /// A short name of the key type: `ecdsa-p256`, `ecdsa-p384`, `ecdsa-p521`, `ecdsa`
    /// (another curve), `rsa`, `ed25519`, or the algorithm OID when unknown.
    #[must_use]
    pub fn key_type(&self) -> String {
        match (self.algorithm, self.parameters) {
            (OID_EC, Some(OID_P256)) => "ecdsa-p256".into(),
            (OID_EC, Some(OID_P384)) => "ecdsa-p384".into(),
            (OID_EC, Some(OID_P521)) => "ecdsa-p521".into(),
            (OID_EC, _) => "ecdsa".into(),
            (OID_RSA, _) => "rsa".into(),
            (OID_ED25519, _) => "ed25519".into(),
            (oid, _) => oid.to_string(),
        }
    }
}

/// Finds the first PEM block in `text` and decodes it, leniently as Go's `pem.Decode`: any
/// line width, headers (`Key: value` lines) skipped, text before the block ignored.
fn decode_pem_block(text: &str) -> Result<(String, Vec<u8>), String> {
    let start = text.find("-----BEGIN ").ok_or("no \"-----BEGIN\" line: the public key is not PEM")?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or("malformed PEM BEGIN line")?;
    let label = &rest[..label_end];
    let body_and_end = &rest[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let end = body_and_end.find(&end_marker).ok_or_else(|| format!("no matching \"{end_marker}\" line"))?;
    let body: String = body_and_end[..end]
        .lines()
        .filter(|line| !line.contains(':'))
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    let der = base64_decode(&body).map_err(|e| format!("bad base64 inside the PEM block: {e}"))?;
    Ok((label.to_owned(), der))
}

fn pkcs1_to_spki(pkcs1: &[u8]) -> Result<Vec<u8>, String> {
    let spki = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned { oid: OID_RSA, parameters: Some(Any::from(Null)) },
        subject_public_key: BitString::from_bytes(pkcs1).map_err(|e| e.to_string())?,
    };
    spki.to_der().map_err(|e| format!("cannot convert the PKCS#1 RSA key: {e}"))
}

/// Encodes DER as a PEM block with 64-column lines.
#[must_use]
pub fn encode_pem(label: &str, der: &[u8]) -> String {
    let b64 = crate::protocol::gojson::base64_encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const P256: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDHw40rZ/xIEwOp2rKlb+zA80N38h\npvpEsyMEpJUCMLMgAzVm1rj9hJJFU4GoW7YwpgXSzj6cmNQ6+VAscdohhQ==\n-----END PUBLIC KEY-----\n";

    #[test]
    fn parses_p256_with_leading_text() {
        let k = PublicKey::from_pem(format!("junk\n{P256}").as_bytes()).unwrap();
        assert_eq!(k.key_type(), "ecdsa-p256");
        assert_eq!(k.spki_pem(), P256);
        assert_eq!(k.spki_der().len(), 91);
    }

    #[test]
    fn rejects_garbage() {
        assert!(PublicKey::from_pem(b"mypem").is_err());
        assert!(PublicKey::from_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").is_err());
        assert!(PublicKey::from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").is_err());
    }
}
