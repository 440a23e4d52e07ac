//! Keys: generation, PEM reading and writing, signing and verification.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::str::FromStr;

use base64::Engine as _;
use ed25519_dalek::hazmat::ExpandedSecretKey;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use pkcs8::der::Decode as _;
use pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand_core::OsRng;
use rsa::pkcs1::DecodeRsaPrivateKey;

use spki::ObjectIdentifier;

use sigstore_kms_provider_kit::hash;
use sigstore_kms_provider_kit::public_key::{ecdsa_digest, ed25519_digest_error, pkcs1v15, rsa_digest};

use crate::{Error, HashChoice, Input, PublicKey};

const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// Largest key file read (real ones are a few KiB).
const MAX_KEY_FILE: u64 = 1024 * 1024;
/// Messages up to this size are kept in memory for Ed25519 signing; larger ones are spooled to
/// an unnamed temporary file (pure Ed25519 reads the message twice).
const ED25519_MEMORY_LIMIT: usize = 8 * 1024 * 1024;

/// A key algorithm localkms can create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA on NIST P-256 (the default).
    EcdsaP256,
    /// ECDSA on NIST P-384.
    EcdsaP384,
    /// Ed25519 (pure EdDSA over the whole message).
    Ed25519,
    /// RSA, 2048-bit modulus, PKCS#1 v1.5 signatures.
    Rsa2048,
    /// RSA, 3072-bit modulus, PKCS#1 v1.5 signatures.
    Rsa3072,
    /// RSA, 4096-bit modulus, PKCS#1 v1.5 signatures.
    Rsa4096,
}

impl Algorithm {
    /// Every algorithm, default first.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::EcdsaP256,
        Algorithm::EcdsaP384,
        Algorithm::Ed25519,
        Algorithm::Rsa2048,
        Algorithm::Rsa3072,
        Algorithm::Rsa4096,
    ];

    /// The algorithm `createKey` uses when the request names none.
    pub const DEFAULT: Algorithm = Algorithm::EcdsaP256;

    /// The name used on the wire, e.g. `"ecdsa-p256"`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256 => "ecdsa-p256",
            Algorithm::EcdsaP384 => "ecdsa-p384",
            Algorithm::Ed25519 => "ed25519",
            Algorithm::Rsa2048 => "rsa-2048",
            Algorithm::Rsa3072 => "rsa-3072",
            Algorithm::Rsa4096 => "rsa-4096",
        }
    }

    /// The names of every algorithm, default first.
    #[must_use]
    pub fn names() -> Vec<String> {
        Algorithm::ALL.iter().map(|a| a.name().to_owned()).collect()
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Algorithm::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| {
            Error::new(format!(
                "algorithm {s:?} not supported; supported algorithms: {}",
                Algorithm::names().join(", ")
            ))
        })
    }
}

/// A private key.
///
/// ```
/// use sigstore_kms_localkms::{Algorithm, HashChoice, Input, PrivateKey};
/// use sigstore_kms_plugins::HashFunc;
///
/// let key = PrivateKey::generate(Algorithm::EcdsaP256)?;
/// let sha256 = HashChoice::explicit(HashFunc::Sha256);
/// let signature = key.sign(Input::Message(&mut &b"hello"[..]), sha256)?;
/// key.public_key().verify(&signature, Input::Message(&mut &b"hello"[..]), sha256)?;
/// assert!(key.public_key().verify(&signature, Input::Message(&mut &b"hellO"[..]), sha256).is_err());
/// # Ok::<(), sigstore_kms_localkms::Error>(())
/// ```
pub enum PrivateKey {
    /// ECDSA P-256.
    P256(p256::ecdsa::SigningKey),
    /// ECDSA P-384.
    P384(p384::ecdsa::SigningKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
    /// RSA.
    Rsa(Box<rsa::RsaPrivateKey>),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.public_key().describe())
    }
}

impl PrivateKey {
    /// Generates a new key with the operating system's random number generator.
    pub fn generate(algorithm: Algorithm) -> Result<Self, Error> {
        Ok(match algorithm {
            Algorithm::EcdsaP256 => PrivateKey::P256(p256::ecdsa::SigningKey::random(&mut OsRng)),
            Algorithm::EcdsaP384 => PrivateKey::P384(p384::ecdsa::SigningKey::random(&mut OsRng)),
            Algorithm::Ed25519 => PrivateKey::Ed25519(ed25519_dalek::SigningKey::generate(&mut OsRng)),
            Algorithm::Rsa2048 | Algorithm::Rsa3072 | Algorithm::Rsa4096 => {
                let bits = match algorithm {
                    Algorithm::Rsa2048 => 2048,
                    Algorithm::Rsa3072 => 3072,
                    _ => 4096,
                };
                let key = rsa::RsaPrivateKey::new(&mut OsRng, bits)
                    .map_err(|e| Error::new(format!("generating an RSA-{bits} key failed: {e}")))?;
                PrivateKey::Rsa(Box::new(key))
            }
        })
    }

    /// Reads a private key from PEM text: the first PEM block, which may be `PRIVATE KEY`
    /// (PKCS#8: ECDSA P-256/P-384, Ed25519, RSA), `EC PRIVATE KEY` (SEC 1) or
    /// `RSA PRIVATE KEY` (PKCS#1). Text around the block and further blocks are ignored, as
    /// Go's `pem.Decode` does (Go's example plugin writes its key twice in one file).
    pub fn from_pem(text: &[u8]) -> Result<Self, Error> {
        let block = crate::pem::first_block(text)?;
        if block.encrypted {
            return Err(Error::new(
                "the private key is encrypted (PEM Proc-Type ENCRYPTED); localkms reads unencrypted keys only",
            ));
        }
        let der = &block.der;
        match block.label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8_der(der),
            "EC PRIVATE KEY" => {
                let parsed = sec1::EcPrivateKey::from_der(der)
                    .map_err(|e| Error::new(format!("invalid EC PRIVATE KEY: {e}")))?;
                // Without a named curve (RustCrypto omits it), the secret's length tells.
                let curve =
                    parsed.parameters.and_then(sec1::EcParameters::named_curve).or(match parsed.private_key.len() {
                        32 => Some(OID_P256),
                        48 => Some(OID_P384),
                        _ => None,
                    });
                match curve {
                    Some(OID_P256) => p256::SecretKey::from_sec1_der(der)
                        .map(|k| PrivateKey::P256(k.into()))
                        .map_err(|e| Error::new(format!("invalid P-256 EC PRIVATE KEY: {e}"))),
                    Some(OID_P384) => p384::SecretKey::from_sec1_der(der)
                        .map(|k| PrivateKey::P384(k.into()))
                        .map_err(|e| Error::new(format!("invalid P-384 EC PRIVATE KEY: {e}"))),
                    Some(other) => Err(Error::new(format!("EC curve {other} is not supported; use P-256 or P-384"))),
                    None => Err(Error::new("the EC PRIVATE KEY does not name its curve")),
                }
            }
            "RSA PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs1_der(der)
                .map(|k| PrivateKey::Rsa(Box::new(k)))
                .map_err(|e| Error::new(format!("invalid RSA PRIVATE KEY: {e}"))),
            "ENCRYPTED PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY" | "ENCRYPTED SIGSTORE PRIVATE KEY" => {
                Err(Error::new(format!(
                    "the private key is encrypted ({}); localkms reads unencrypted keys only",
                    block.label
                )))
            }
            other => Err(Error::new(format!(
                "expected a PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY PEM block, found {other:?}"
            ))),
        }
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        let info =
            pkcs8::PrivateKeyInfo::from_der(der).map_err(|e| Error::new(format!("invalid PKCS#8 PRIVATE KEY: {e}")))?;
        let bad = |e: pkcs8::Error| Error::new(format!("invalid PKCS#8 PRIVATE KEY: {e}"));
        match info.algorithm.oid {
            OID_EC => match info.algorithm.parameters_oid().ok() {
                Some(OID_P256) => Ok(PrivateKey::P256(p256::ecdsa::SigningKey::from_pkcs8_der(der).map_err(bad)?)),
                Some(OID_P384) => Ok(PrivateKey::P384(p384::ecdsa::SigningKey::from_pkcs8_der(der).map_err(bad)?)),
                Some(other) => Err(Error::new(format!("EC curve {other} is not supported; use P-256 or P-384"))),
                None => Err(Error::new("the PKCS#8 EC key does not name its curve")),
            },
            OID_RSA => Ok(PrivateKey::Rsa(Box::new(rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(bad)?))),
            OID_ED25519 => Ok(PrivateKey::Ed25519(ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(bad)?)),
            other => Err(Error::new(format!(
                "key algorithm {other} is not supported; localkms reads ECDSA P-256/P-384, Ed25519 and RSA keys"
            ))),
        }
    }

    /// The key as an unencrypted PKCS#8 `PRIVATE KEY` PEM block (what `createKey` writes; Ed25519
    /// in the RFC 8410 v1 form that Go and OpenSSL write).
    pub fn to_pkcs8_pem(&self) -> Result<String, Error> {
        let pem = match self {
            PrivateKey::P256(k) => k.to_pkcs8_pem(LineEnding::LF),
            PrivateKey::P384(k) => k.to_pkcs8_pem(LineEnding::LF),
            PrivateKey::Ed25519(k) => ed25519_dalek::pkcs8::KeypairBytes { secret_key: k.to_bytes(), public_key: None }
                .to_pkcs8_pem(LineEnding::LF),
            PrivateKey::Rsa(k) => k.to_pkcs8_pem(LineEnding::LF),
        };
        pem.map(|p| p.as_str().to_owned()).map_err(|e| Error::new(format!("encoding the private key failed: {e}")))
    }

    /// The public half.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::P256(k) => PublicKey::P256(*k.verifying_key()),
            PrivateKey::P384(k) => PublicKey::P384(*k.verifying_key()),
            PrivateKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            PrivateKey::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
        }
    }

    /// Signs `input`.
    ///
    /// * ECDSA: hashes a message with `hash.hash`, or takes the digest as given (prehash
    ///   signing, as Go's `ecdsa.SignASN1`), and answers an ASN.1 DER signature.
    /// * RSA: PKCS#1 v1.5 with the DigestInfo of `hash.hash`; a digest must have its length.
    /// * Ed25519: pure Ed25519 over the message (the hash is not used); a digest is refused.
    pub fn sign(&self, input: Input<'_>, hash: HashChoice) -> Result<Vec<u8>, Error> {
        match self {
            PrivateKey::Ed25519(k) => match input {
                Input::Digest(_) => Err(ed25519_digest_error()),
                Input::Message(message) => ed25519_sign(k, message),
            },
            PrivateKey::P256(k) => {
                let digest = ecdsa_digest(input, hash)?;
                let sig: p256::ecdsa::Signature =
                    k.sign_prehash(&digest).map_err(|e| Error::new(format!("ECDSA signing failed: {e}")))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            PrivateKey::P384(k) => {
                let digest = ecdsa_digest(input, hash)?;
                let sig: p384::ecdsa::Signature =
                    k.sign_prehash(&digest).map_err(|e| Error::new(format!("ECDSA signing failed: {e}")))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            PrivateKey::Rsa(k) => {
                let digest = rsa_digest(input, hash)?;
                // With an RNG the private operation is blinded.
                k.sign_with_rng(&mut OsRng, pkcs1v15(hash.hash)?, &digest)
                    .map_err(|e| Error::new(format!("RSA signing failed: {e}")))
            }
        }
    }
}

/// The message, kept so that it can be read twice: in memory, or spooled to a temporary file.
struct Spool {
    head: Vec<u8>,
    file: Option<std::fs::File>,
}

impl Spool {
    fn read(message: &mut dyn Read) -> io::Result<Spool> {
        let mut head = Vec::new();
        message.take(ED25519_MEMORY_LIMIT as u64).read_to_end(&mut head)?;
        if head.len() < ED25519_MEMORY_LIMIT {
            return Ok(Spool { head, file: None });
        }
        let mut file = tempfile::tempfile()?;
        io::copy(message, &mut file)?;
        file.flush()?;
        Ok(Spool { head, file: Some(file) })
    }

    fn replay(&self, mut f: impl FnMut(&[u8])) -> io::Result<()> {
        f(&self.head);
        if let Some(file) = &self.file {
            let mut file = file;
            file.seek(SeekFrom::Start(0))?;
            hash::for_each_chunk(&mut file, f)?;
        }
        Ok(())
    }
}

/// Pure Ed25519 over a streamed message, with memory bounded whatever its size.
fn ed25519_sign(key: &ed25519_dalek::SigningKey, message: &mut dyn Read) -> Result<Vec<u8>, Error> {
    let spool = Spool::read(message).map_err(|e| Error::new(format!("reading the message failed: {e}")))?;
    let expanded = ExpandedSecretKey::from(key.as_bytes());
    let io_error = std::cell::RefCell::new(None);
    let sig = ed25519_dalek::hazmat::raw_sign_byupdate::<ed25519_dalek::Sha512, _>(
        &expanded,
        |h| {
            spool.replay(|chunk| ed25519_dalek::Digest::update(h, chunk)).map_err(|e| {
                *io_error.borrow_mut() = Some(e);
                ed25519_dalek::SignatureError::new()
            })
        },
        &key.verifying_key(),
    );
    if let Some(e) = io_error.into_inner() {
        return Err(Error::new(format!("re-reading the spooled message failed: {e}")));
    }
    sig.map(|s| s.to_bytes().to_vec()).map_err(|e| Error::new(format!("Ed25519 signing failed: {e}")))
}

/// Decodes standard base64, ignoring ASCII whitespace.
pub(crate) fn base64_lenient(text: &[u8]) -> Option<Vec<u8>> {
    let cleaned: Vec<u8> = text.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(cleaned).ok()
}

/// Reads a key file, refusing anything implausibly large.
pub(crate) fn read_key_file(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::new(format!("cannot open the key file {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::new(format!("cannot read the key file {}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(Error::new(format!("{} is larger than {MAX_KEY_FILE} bytes: not a key file", path.display())));
    }
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use ed25519_dalek::Signer as _;
    use sigstore_kms_plugins::HashFunc;

    use super::*;

    fn implicit(hash: HashFunc) -> HashChoice {
        HashChoice { hash, explicit: false }
    }

    #[test]
    fn every_algorithm_round_trips_through_pem_and_signs() {
        for alg in [Algorithm::EcdsaP256, Algorithm::EcdsaP384, Algorithm::Ed25519, Algorithm::Rsa2048] {
            let key = PrivateKey::generate(alg).unwrap();
            let pem = key.to_pkcs8_pem().unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{alg}");
            let again = PrivateKey::from_pem(pem.as_bytes()).unwrap();
            let public = again.public_key();
            assert_eq!(public, key.public_key(), "{alg}");
            assert_eq!(public.describe(), alg.name());
            let public_pem = public.to_pem().unwrap();
            assert_eq!(PublicKey::from_pem(public_pem.as_bytes()).unwrap(), public);
            let h = implicit(public.default_hash());
            let sig = key.sign(Input::Message(&mut &b"hello"[..]), h).unwrap();
            public.verify(&sig, Input::Message(&mut &b"hello"[..]), h).unwrap();
            assert!(public.verify(&sig, Input::Message(&mut &b"hellO"[..]), h).is_err(), "{alg}");
            assert!(public.verify(b"garbage", Input::Message(&mut &b"hello"[..]), h).is_err(), "{alg}");
        }
    }

    #[test]
    fn digest_and_message_paths_agree() {
        let key = PrivateKey::generate(Algorithm::EcdsaP384).unwrap();
        let public = key.public_key();
        // cosign: a SHA-384 digest while the client's hash is SHA-256.
        let digest = hash::digest_reader(HashFunc::Sha384, &mut &b"msg"[..]).unwrap();
        let sig = key.sign(Input::Digest(&digest), implicit(HashFunc::Sha256)).unwrap();
        public.verify(&sig, Input::Message(&mut &b"msg"[..]), implicit(HashFunc::Sha384)).unwrap();
        assert!(public.verify(&sig, Input::Message(&mut &b"msg"[..]), implicit(HashFunc::Sha256)).is_err());
        // An explicit hash must match the digest.
        let e = key.sign(Input::Digest(&digest), HashChoice::explicit(HashFunc::Sha256)).unwrap_err().to_string();
        assert!(e.contains("48 bytes") && e.contains("SHA-256"), "{e}");
        let e = key.sign(Input::Digest(b"bad digest"), implicit(HashFunc::Sha256)).unwrap_err().to_string();
        assert!(e.contains("10 bytes"), "{e}");

        let rsa = PrivateKey::generate(Algorithm::Rsa2048).unwrap();
        let e = rsa.sign(Input::Digest(&digest), implicit(HashFunc::Sha256)).unwrap_err().to_string();
        assert!(e.contains("48 bytes") && e.contains("SHA-256 digest is 32 bytes"), "{e}");
        let sig = rsa.sign(Input::Digest(&digest), HashChoice::explicit(HashFunc::Sha384)).unwrap();
        rsa.public_key().verify(&sig, Input::Message(&mut &b"msg"[..]), implicit(HashFunc::Sha384)).unwrap();

        let ed = PrivateKey::generate(Algorithm::Ed25519).unwrap();
        let e = ed.sign(Input::Digest(&digest), implicit(HashFunc::Sha256)).unwrap_err().to_string();
        assert!(e.contains("pure Ed25519"), "{e}");
    }

    #[test]
    fn streamed_ed25519_equals_the_one_shot_signature() {
        let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
        for len in [0, 1, 1000, ED25519_MEMORY_LIMIT - 1, ED25519_MEMORY_LIMIT, ED25519_MEMORY_LIMIT + 70_001] {
            let message: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let ours = ed25519_sign(&key, &mut &message[..]).unwrap();
            assert_eq!(ours, key.sign(&message).to_bytes().to_vec(), "length {len}");
            PublicKey::Ed25519(key.verifying_key())
                .verify(&ours, Input::Message(&mut &message[..]), implicit(HashFunc::Sha256))
                .unwrap();
        }
    }

    #[test]
    fn reads_sec1_pkcs1_and_the_fixture() {
        let fixture =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/keys/fixture-p256.pem")).unwrap();
        let key = PrivateKey::from_pem(&fixture).unwrap();
        let want =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/keys/fixture-p256.pub.pem")).unwrap();
        assert_eq!(key.public_key(), PublicKey::from_pem(&want).unwrap());

        let p384 = p384::SecretKey::random(&mut OsRng);
        let sec1 = p384.to_sec1_pem(LineEnding::LF).unwrap();
        assert!(sec1.starts_with("-----BEGIN EC PRIVATE KEY-----"));
        assert_eq!(PrivateKey::from_pem(sec1.as_bytes()).unwrap().public_key().describe(), "ecdsa-p384");

        let PrivateKey::Rsa(rsa) = PrivateKey::generate(Algorithm::Rsa2048).unwrap() else { unreachable!() };
        let pkcs1 = rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_pem(rsa.as_ref(), LineEnding::LF).unwrap();
        // Go's example plugin writes the block twice, with text around it.
        let doubled = format!("comment\n{}{}", pkcs1.as_str(), pkcs1.as_str());
        assert_eq!(PrivateKey::from_pem(doubled.as_bytes()).unwrap().public_key().describe(), "rsa-2048");

        for (text, want) in [
            ("no pem here", "no PEM"),
            ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "found \"PUBLIC KEY\""),
            ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"),
            ("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n", "encrypted"),
            ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "invalid PKCS#8"),
        ] {
            let e = PrivateKey::from_pem(text.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn algorithm_names() {
        for a in Algorithm::ALL {
            assert_eq!(a.name().parse::<Algorithm>().unwrap(), a);
        }
        let e = "any-algorithm".parse::<Algorithm>().unwrap_err().to_string();
        assert!(e.contains("not supported") && e.contains("rsa-4096"), "{e}");
        assert_eq!(base64_lenient(b" AQID\n").unwrap(), [1, 2, 3]);
    }
}
