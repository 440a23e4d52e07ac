//! # sigstore-kms-bundle
//!
//! Sigstore bundles signed with a key held by a KMS (through a Sigstore KMS plugin), and
//! verified against a public key, as cosign, sigstore-go and sigstore-js read and write them.
//! It is the one implementation behind the `sigstore-kms sign --bundle`, `verify --bundle` and
//! `attest` commands, the Python module `sigstore_kms_plugins.sigstore` and the Node function
//! `verifyBundle`.
//!
//! * [`Bundle`]: the JSON bundle (`dev.sigstore.bundle.v1.Bundle`), read in every form the
//!   ecosystem writes (media types v0.1 to v0.3, omitted empty fields, `.proto` field names)
//!   and written as cosign writes it for a key (v0.3,
//!   `verificationMaterial.publicKey.hint` = base64(SHA-256(SubjectPublicKeyInfo DER))).
//! * [`BundleSigner`]: message-signature and DSSE bundles signed through a plugin, each
//!   signature checked against the public key before it is returned.
//! * [`verify_message`], [`verify_dsse`], [`verify_dsse_artifact`], [`verify`]: checks against
//!   a [`VerificationKey`], with errors whose [`ErrorKind`] says why (digest mismatch, bad
//!   signature, hint mismatch, unsupported key or algorithm, malformed bundle).
//! * [`in_toto_statement`], [`match_subject`]: in-toto statements for attestations.
//!
//! Which algorithms: the key decides, as in protobuf-specs' algorithm registry. ECDSA P-256 and
//! RSA (PKCS#1 v1.5) sign SHA-256 digests, ECDSA P-384 SHA-384 and P-521 SHA-512 digests;
//! Ed25519 signs the data itself (pure Ed25519; its message digest is SHA-512, for
//! identification only). Verification uses the digest algorithm the bundle names (sigstore-js
//! signs SHA-256 whatever the curve), accepts RSA-PSS as well as PKCS#1 v1.5, and for a P-384
//! or P-521 DSSE envelope also accepts SHA-256 (sigstore-js's choice).
//!
//! **Trust.** A bundle is verified against the public key you give: transparency-log entries and
//! RFC 3161 timestamps are read and kept but not verified (that needs a trust root), and keyless
//! (certificate) bundles are refused as [`ErrorKind::Unsupported`].
//!
//! ```
//! use sigstore_kms_bundle::{verify_message, Bundle, ErrorKind, VerificationKey};
//!
//! // Written by `cosign sign-blob --bundle` with a P-256 key (no transparency log).
//! let json = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"hIDbpqe9AUf3oqz2lryIfkNWFBK6xJ+O/T/9sNW++qU="}},"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"UbwPwfGRBPpuic5Qvpqh9XwzRsHKUatJ9fAOFM6PgHY="},"signature":"MEQCICUIgvZQqknQzgxnp6WEwz9krFeaO8CF3x3PApznWydiAiAHhVsnHZmpUFYrrMmys6PfqGiLo1ns8l073DSTTyFQtQ=="}}"#;
//! let key = VerificationKey::from_pem(b"-----BEGIN PUBLIC KEY-----
//! MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEP0YO5aL6Gvr/pjJ3qk9fkaq25sSz
//! R/nA2NAEjFFH6aqvqTUSPPNy4GoQJZRyhh0aDf89eJPpE6qcm9KXcnG51Q==
//! -----END PUBLIC KEY-----
//! ")?;
//! let bundle = Bundle::from_json(json)?;
//! let verified = verify_message(&bundle, &key, &mut &b"hello artifact\n"[..])?;
//! assert_eq!(verified.digest.map(|d| d.algorithm.name()), Some("SHA2_256"));
//! let tampered = verify_message(&bundle, &key, &mut &b"hello artifacT\n"[..]).unwrap_err();
//! assert_eq!(tampered.kind(), ErrorKind::DigestMismatch);
//! assert_eq!(bundle.to_json().as_bytes(), json); // written back as cosign wrote it
//! # Ok::<(), sigstore_kms_bundle::Error>(())
//! ```

mod error;
mod key;
mod model;
mod sign;
mod statement;
mod verify;

pub use error::{Error, ErrorKind, Result};
pub use key::{KeyKind, VerificationKey};
pub use model::{
    Bundle, Content, DigestAlgorithm, DsseEnvelope, DsseSignature, HashOutput, KeyMaterial, MessageSignature,
    MEDIA_TYPE, MEDIA_TYPES,
};
pub use sign::{digest_of, dsse_bundle, message_bundle, pae, Artifact, BundleSigner};
pub use statement::{
    in_toto_statement, match_subject, predicate_type, Subject, IN_TOTO_PAYLOAD_TYPE, PREDICATE_TYPES, STATEMENT_V01,
    STATEMENT_V1,
};
pub use verify::{verify, verify_dsse, verify_dsse_artifact, verify_message, Verified};
