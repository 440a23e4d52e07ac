//! Key Vault keys as the plugin sees them: the JSON Web Key a vault answers, turned into a
//! public key, and the key type and size that fix the signing algorithm (Go's mapping).

use azure_security_keyvault_keys::models::{CurveName, JsonWebKey, KeyType, SignatureAlgorithm};
use rsa::traits::PublicKeyParts;
use sigstore_kms_plugins::HashFunc;
use sigstore_kms_provider_kit::PublicKey;

use crate::Error;

/// How a key signs: Key Vault's algorithm, its hash, and for ECDSA the size of each half of
/// the raw `r || s` signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signing {
    /// `ES256`, `RS384`, ...
    pub algorithm: SignatureAlgorithm,
    /// The digest the algorithm signs.
    pub hash: HashFunc,
    /// ECDSA: bytes per integer (32, 48, 66); `None` for RSA.
    pub ec_size: Option<usize>,
}

/// A key the plugin can create, by the name `createKey` is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// Go's name (Key Vault's signature algorithm): `ES256`, ..., `RS512`.
    pub name: &'static str,
    /// EC curve, or RSA modulus bits.
    pub kind: SpecKind,
}

/// The key a [`KeySpec`] creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecKind {
    /// An EC key on this curve (`P-256`, `P-384`, `P-521`).
    Ec(&'static str),
    /// An RSA key of this many bits.
    Rsa(i32),
}

/// Go's `azureSupportedAlgorithms`, in its order: the key each one creates, chosen so that the
/// key then signs with that algorithm under Go's key-to-algorithm mapping.
pub const SPECS: [KeySpec; 6] = [
    KeySpec { name: "ES256", kind: SpecKind::Ec("P-256") },
    KeySpec { name: "ES384", kind: SpecKind::Ec("P-384") },
    KeySpec { name: "ES512", kind: SpecKind::Ec("P-521") },
    KeySpec { name: "RS256", kind: SpecKind::Rsa(2048) },
    KeySpec { name: "RS384", kind: SpecKind::Rsa(3072) },
    KeySpec { name: "RS512", kind: SpecKind::Rsa(4096) },
];

/// The default, as in Go: `ES256`.
pub const DEFAULT: KeySpec = SPECS[0];

/// The names of [`SPECS`].
#[must_use]
pub fn names() -> Vec<String> {
    SPECS.iter().map(|s| s.name.to_owned()).collect()
}

impl KeySpec {
    /// The key `createKey` was asked for: Go's names (any case), or the bundled localkms
    /// plugin's (`ecdsa-p256`, `rsa-2048`, ...); empty means the default.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        let name = name.trim();
        if name.is_empty() {
            return Ok(DEFAULT);
        }
        let alias = match name.to_ascii_lowercase().as_str() {
            "ecdsa-p256" => "ES256",
            "ecdsa-p384" => "ES384",
            "ecdsa-p521" => "ES512",
            "rsa-2048" => "RS256",
            "rsa-3072" => "RS384",
            "rsa-4096" => "RS512",
            _ => name,
        };
        SPECS.iter().find(|s| s.name.eq_ignore_ascii_case(alias)).copied().ok_or_else(|| {
            Error::new(format!(
                "unsupported algorithm {name:?} for Azure Key Vault keys: use one of {} (or leave it empty for {})",
                names().join(", "),
                DEFAULT.name
            ))
        })
    }

    /// The key type, curve and size to create.
    #[must_use]
    pub fn create_parameters(&self) -> (KeyType, Option<CurveName>, Option<i32>) {
        match self.kind {
            SpecKind::Ec(curve) => (KeyType::Ec, Some(curve_name(curve)), None),
            SpecKind::Rsa(bits) => (KeyType::Rsa, None, Some(bits)),
        }
    }
}

fn curve_name(curve: &str) -> CurveName {
    match curve {
        "P-384" => CurveName::P384,
        "P-521" => CurveName::P521,
        _ => CurveName::P256,
    }
}

/// The public key of a JSON Web Key and how it signs: Go's `getKeyVaultHashFunc` mapping
/// (P-256 → ES256, P-384 → ES384, P-521 → ES512; RSA 2048 → RS256, 3072 → RS384,
/// 4096 → RS512). `-HSM` key types are the same keys held in an HSM.
pub fn public_key(jwk: &JsonWebKey, kid: &str) -> Result<(PublicKey, Signing), Error> {
    let bad = |what: &str| Error::new(format!("the key {kid} that the vault answered is not usable: {what}"));
    let kty = jwk.kty.as_ref().ok_or_else(|| bad("it has no key type (kty)"))?;
    match kty {
        KeyType::Ec | KeyType::EcHsm => {
            let (Some(x), Some(y)) = (&jwk.x, &jwk.y) else { return Err(bad("the EC key lacks x or y")) };
            let (size, alg, hash) = match jwk.crv.as_ref() {
                Some(CurveName::P256) => (32, SignatureAlgorithm::Es256, HashFunc::Sha256),
                Some(CurveName::P384) => (48, SignatureAlgorithm::Es384, HashFunc::Sha384),
                Some(CurveName::P521) => (66, SignatureAlgorithm::Es512, HashFunc::Sha512),
                Some(other) => {
                    return Err(Error::new(format!(
                        "the key {kid} is on curve {other}, which this plugin does not sign with: use a P-256, \
                         P-384 or P-521 key"
                    )))
                }
                None => return Err(bad("the EC key names no curve (crv)")),
            };
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&left_pad(x, size).ok_or_else(|| bad("x is longer than the curve"))?);
            point.extend_from_slice(&left_pad(y, size).ok_or_else(|| bad("y is longer than the curve"))?);
            let off_curve = || bad("the EC point is not on the curve");
            let key = match size {
                32 => PublicKey::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| off_curve())?),
                48 => PublicKey::P384(p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(|_| off_curve())?),
                _ => PublicKey::P521(p521::PublicKey::from_sec1_bytes(&point).map_err(|_| off_curve())?),
            };
            Ok((key, Signing { algorithm: alg, hash, ec_size: Some(size) }))
        }
        KeyType::Rsa | KeyType::RsaHsm => {
            let (Some(n), Some(e)) = (&jwk.n, &jwk.e) else { return Err(bad("the RSA key lacks n or e")) };
            let key = rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(n), rsa::BigUint::from_bytes_be(e))
                .map_err(|e| bad(&format!("the RSA key is invalid ({e})")))?;
            let (alg, hash) = match key.size() {
                256 => (SignatureAlgorithm::Rs256, HashFunc::Sha256),
                384 => (SignatureAlgorithm::Rs384, HashFunc::Sha384),
                512 => (SignatureAlgorithm::Rs512, HashFunc::Sha512),
                other => {
                    return Err(Error::new(format!(
                        "the key {kid} is a {}-bit RSA key, which this plugin does not sign with: use RSA 2048, 3072 \
                         or 4096",
                        other * 8
                    )))
                }
            };
            Ok((PublicKey::Rsa(key), Signing { algorithm: alg, hash, ec_size: None }))
        }
        other => Err(Error::new(format!(
            "the key {kid} has type {other}, which cannot sign: use an EC or RSA key (EC, EC-HSM, RSA, RSA-HSM)"
        ))),
    }
}

/// `v` left-padded with zeros to `size` bytes (JWK coordinates are that long, but a lenient
/// encoder may drop leading zeros), or `None` if it is longer.
fn left_pad(v: &[u8], size: usize) -> Option<Vec<u8>> {
    let v = if v.len() > size {
        let extra = v.len() - size;
        if v[..extra].iter().any(|b| *b != 0) {
            return None;
        }
        &v[extra..]
    } else {
        v
    };
    let mut out = vec![0u8; size - v.len()];
    out.extend_from_slice(v);
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ec_jwk(kty: KeyType) -> (JsonWebKey, p256::ecdsa::VerifyingKey) {
        let sk = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let vk = *sk.verifying_key();
        let point = vk.to_encoded_point(false);
        let jwk = JsonWebKey {
            kty: Some(kty),
            crv: Some(CurveName::P256),
            x: Some(point.x().unwrap().to_vec()),
            y: Some(point.y().unwrap().to_vec()),
            ..Default::default()
        };
        (jwk, vk)
    }

    #[test]
    fn ec_and_hsm_keys() {
        for kty in [KeyType::Ec, KeyType::EcHsm] {
            let (jwk, vk) = ec_jwk(kty);
            let (key, signing) = public_key(&jwk, "kid").unwrap();
            assert_eq!(key, PublicKey::P256(vk));
            assert_eq!(
                signing,
                Signing { algorithm: SignatureAlgorithm::Es256, hash: HashFunc::Sha256, ec_size: Some(32) }
            );
        }
        let (mut jwk, _) = ec_jwk(KeyType::Ec);
        jwk.crv = Some(CurveName::P256K);
        assert!(public_key(&jwk, "kid").unwrap_err().to_string().contains("P-256K"));
        jwk.crv = Some(CurveName::P256);
        jwk.y = Some(vec![1; 32]);
        assert!(public_key(&jwk, "kid").unwrap_err().to_string().contains("not on the curve"));
    }

    #[test]
    fn rsa_sizes_fix_the_algorithm() {
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap().to_public_key();
        let jwk = JsonWebKey {
            kty: Some(KeyType::RsaHsm),
            n: Some(key.n().to_bytes_be()),
            e: Some(key.e().to_bytes_be()),
            ..Default::default()
        };
        let (parsed, signing) = public_key(&jwk, "kid").unwrap();
        assert_eq!(parsed, PublicKey::Rsa(key));
        assert_eq!(signing.algorithm, SignatureAlgorithm::Rs256);
        let oct = JsonWebKey { kty: Some(KeyType::Oct), ..Default::default() };
        assert!(public_key(&oct, "kid").unwrap_err().to_string().contains("cannot sign"));
    }

    #[test]
    fn create_names() {
        assert_eq!(KeySpec::from_name("").unwrap(), DEFAULT);
        assert_eq!(KeySpec::from_name("es384").unwrap().kind, SpecKind::Ec("P-384"));
        assert_eq!(KeySpec::from_name("rsa-3072").unwrap().name, "RS384");
        assert_eq!(KeySpec::from_name("ecdsa-p256").unwrap().name, "ES256");
        let e = KeySpec::from_name("any-algorithm").unwrap_err().to_string();
        assert!(e.contains("ES256, ES384, ES512, RS256, RS384, RS512"), "{e}");
        assert_eq!(left_pad(&[1, 2], 4).unwrap(), vec![0, 0, 1, 2]);
        assert_eq!(left_pad(&[0, 1, 2], 2).unwrap(), vec![1, 2]);
        assert!(left_pad(&[9, 1, 2], 2).is_none());
    }
}
