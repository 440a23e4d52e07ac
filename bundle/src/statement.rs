//! in-toto statements: what `attest` signs into a DSSE bundle, and matching an artifact against
//! a statement's subjects when verifying one.

use std::io::Read;

use serde_json::Value;
use sigstore_kms_provider_kit::hash::Hasher;

use crate::error::{Error, ErrorKind, Result};
use crate::model::DigestAlgorithm;
use crate::verify::hex;

/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The `_type` of an in-toto statement, version 1 (what this crate writes).
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// The `_type` of an in-toto statement, version 0.1 (what cosign writes; read too).
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";

/// cosign's short names for predicate types (`cosign attest-blob --type`), and their URIs.
pub const PREDICATE_TYPES: [(&str, &str); 10] = [
    ("custom", "https://cosign.sigstore.dev/attestation/v1"),
    ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
    ("spdx", "https://spdx.dev/Document"),
    ("spdxjson", "https://spdx.dev/Document"),
    ("cyclonedx", "https://cyclonedx.org/bom"),
    ("link", "https://in-toto.io/Link/v1"),
    ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
    ("openvex", "https://openvex.dev/ns"),
];

/// The predicate type URI for `name`: one of cosign's short names ([`PREDICATE_TYPES`]), or a
/// URI (anything with a scheme, `https://...`), kept as it is.
pub fn predicate_type(name: &str) -> Result<String> {
    if let Some((_, uri)) = PREDICATE_TYPES.iter().find(|(short, _)| *short == name) {
        return Ok((*uri).to_owned());
    }
    let is_uri = name.split_once(':').is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && !rest.is_empty()
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            && !name.chars().any(char::is_whitespace)
    });
    if is_uri {
        Ok(name.to_owned())
    } else {
        Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "predicate type {name:?} is neither a URI nor one of {}",
                PREDICATE_TYPES.iter().map(|(s, _)| *s).collect::<Vec<_>>().join(", ")
            ),
        ))
    }
}

/// A subject of a statement: a name and its digests (`("sha256", bytes)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The name (typically the artifact's file name).
    pub name: String,
    /// The digests, by in-toto algorithm name (`sha256`, `sha384`, `sha512`).
    pub digests: Vec<(String, Vec<u8>)>,
}

impl Subject {
    /// The subject `name` with the `algorithm` digest of what `reader` yields.
    pub fn of_reader(name: impl Into<String>, reader: &mut dyn Read, algorithm: DigestAlgorithm) -> Result<Subject> {
        let (Some(hash), Some(label)) = (algorithm.hash_func(), algorithm.in_toto_name()) else {
            return Err(Error::new(ErrorKind::Unsupported, format!("cannot make a {algorithm} subject digest")));
        };
        let digest = crate::sign::digest_of(hash, reader)?;
        Ok(Subject { name: name.into(), digests: vec![(label.to_owned(), digest)] })
    }
}

/// An in-toto statement (v1) about `subjects`, as compact JSON: `_type`, `subject`,
/// `predicateType`, `predicate`, in that order.
#[must_use]
pub fn in_toto_statement(subjects: &[Subject], predicate_type: &str, predicate: &Value) -> Vec<u8> {
    let quote = |text: &str| Value::String(text.to_owned()).to_string();
    let subjects: Vec<String> = subjects
        .iter()
        .map(|s| {
            let digests: Vec<String> =
                s.digests.iter().map(|(alg, d)| format!("{}:{}", quote(alg), quote(&hex(d)))).collect();
            format!("{{\"name\":{},\"digest\":{{{}}}}}", quote(&s.name), digests.join(","))
        })
        .collect();
    format!(
        "{{\"_type\":{},\"subject\":[{}],\"predicateType\":{},\"predicate\":{predicate}}}",
        quote(STATEMENT_V1),
        subjects.join(","),
        quote(predicate_type)
    )
    .into_bytes()
}

/// Checks that the in-toto statement `payload` names the artifact `reader` yields as one of its
/// subjects (by a SHA-2 digest); returns that subject's name.
pub fn match_subject(payload_type: &str, payload: &[u8], reader: &mut dyn Read) -> Result<String> {
    if payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "the DSSE payload is {payload_type:?}, not an in-toto statement ({IN_TOTO_PAYLOAD_TYPE}): \
                 there is no subject to match the artifact against"
            ),
        ));
    }
    let statement: Value = serde_json::from_slice(payload)
        .map_err(|e| Error::malformed(format!("the DSSE payload is not an in-toto statement (not JSON: {e})")))?;
    let Some(subjects) = statement.get("subject").and_then(Value::as_array) else {
        return Err(Error::malformed("the in-toto statement has no \"subject\" array"));
    };
    let algorithms = [DigestAlgorithm::Sha2_256, DigestAlgorithm::Sha2_384, DigestAlgorithm::Sha2_512];
    let wanted: Vec<DigestAlgorithm> = algorithms
        .into_iter()
        .filter(|a| {
            subjects.iter().any(|s| s.get("digest").and_then(|d| d.get(a.in_toto_name().unwrap_or(""))).is_some())
        })
        .collect();
    if wanted.is_empty() {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "no subject of the in-toto statement has a sha256, sha384 or sha512 digest to match the artifact against",
        ));
    }
    let mut hashers = Vec::new();
    for a in &wanted {
        let hash = a.hash_func().ok_or_else(|| Error::new(ErrorKind::Unsupported, a.name()))?;
        hashers.push(Hasher::new(hash).map_err(|e| Error::new(ErrorKind::Unsupported, e.to_string()))?);
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hashers.iter_mut().for_each(|h| h.update(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("reading the artifact failed", e)),
        }
    }
    let ours: Vec<(&str, String)> =
        wanted.iter().zip(hashers).map(|(a, h)| (a.in_toto_name().unwrap_or(""), hex(&h.finish()))).collect();
    for s in subjects {
        for (label, digest) in &ours {
            let theirs = s.get("digest").and_then(|d| d.get(*label)).and_then(Value::as_str);
            if theirs.is_some_and(|t| t.eq_ignore_ascii_case(digest)) {
                return Ok(s.get("name").and_then(Value::as_str).unwrap_or_default().to_owned());
            }
        }
    }
    let listed: Vec<String> = subjects
        .iter()
        .take(5)
        .map(|s| s.get("name").and_then(Value::as_str).unwrap_or("(no name)").to_owned())
        .collect();
    Err(Error::new(
        ErrorKind::SubjectMismatch,
        format!(
            "the artifact's {} digest {} matches none of the statement's {} subjects ({}{}): the attestation is \
             about another artifact",
            ours[0].0,
            ours[0].1,
            subjects.len(),
            listed.join(", "),
            if subjects.len() > 5 { ", ..." } else { "" }
        ),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn statements_name_their_subjects() {
        let s = Subject::of_reader("a.txt", &mut &b"abc"[..], DigestAlgorithm::Sha2_256).unwrap();
        let json = in_toto_statement(&[s], "https://example.com/p", &serde_json::json!({"b": 1, "a": [true]}));
        assert_eq!(
            String::from_utf8(json.clone()).unwrap(),
            "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"name\":\"a.txt\",\"digest\":{\"sha256\":\
             \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}}],\"predicateType\":\
             \"https://example.com/p\",\"predicate\":{\"a\":[true],\"b\":1}}"
        );
        assert_eq!(match_subject(IN_TOTO_PAYLOAD_TYPE, &json, &mut &b"abc"[..]).unwrap(), "a.txt");
        let err = match_subject(IN_TOTO_PAYLOAD_TYPE, &json, &mut &b"abd"[..]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SubjectMismatch);
        assert!(err.to_string().contains("a.txt"), "{err}");
        assert_eq!(match_subject("text/plain", &json, &mut &b"abc"[..]).unwrap_err().kind(), ErrorKind::Unsupported);
    }

    #[test]
    fn predicate_types_are_short_names_or_uris() {
        assert_eq!(predicate_type("slsaprovenance1").unwrap(), "https://slsa.dev/provenance/v1");
        assert_eq!(predicate_type("https://example.com/x").unwrap(), "https://example.com/x");
        assert_eq!(predicate_type("urn:example:x").unwrap(), "urn:example:x");
        assert!(predicate_type("provenance").is_err());
        assert!(predicate_type("a b:c").is_err());
    }
}
