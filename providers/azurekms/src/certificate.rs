//! A service principal's certificate (`AZURE_CLIENT_CERTIFICATE_PATH`) as a client assertion:
//! the signed JWT Microsoft Entra ID accepts instead of a client secret
//! (<https://learn.microsoft.com/entra/identity-platform/certificate-credentials>).
//!
//! The Rust SDK's certificate credential needs OpenSSL; this one is pure Rust, on the RSA code
//! the plugin already has. The file is PEM: the certificate (first, or with its chain) and its
//! unencrypted RSA private key (`PRIVATE KEY` or `RSA PRIVATE KEY`), as Go's
//! `azidentity.ParseCertificates` reads PEM files. A PKCS#12 (`.pfx`) file, or an encrypted
//! key, gets an error that says how to convert it.

use std::fmt::{self, Write as _};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use azure_core::error::ErrorKind;
use azure_core::http::ClientMethodOptions;
use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use sha1::Digest as _;

use crate::Error;

/// Signs client assertions with a certificate's private key.
pub struct CertificateAssertion {
    client_id: String,
    /// The token endpoint the assertion is for (its audience), set by [`Self::for_endpoint`].
    audience: String,
    /// base64url SHA-1 thumbprint of the certificate (`x5t`).
    thumbprint: String,
    /// The certificate chain, base64 DER (`x5c`), when it is to be sent.
    chain: Option<Vec<String>>,
    key: rsa::RsaPrivateKey,
}

impl fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The private key is left out on purpose.
        f.debug_struct("CertificateAssertion")
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .field("x5t", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl CertificateAssertion {
    /// Reads the certificate and key from `path`.
    pub fn load(path: &Path, client_id: &str, send_chain: bool) -> Result<Self, Error> {
        let shown = path.display();
        let bytes = std::fs::read(path).map_err(|e| {
            Error::new(format!("cannot read the certificate file {shown} (AZURE_CLIENT_CERTIFICATE_PATH): {e}"))
        })?;
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return Err(not_pem(&shown.to_string()));
        };
        if !text.contains("-----BEGIN ") {
            return Err(not_pem(&shown.to_string()));
        }
        let mut certs = Vec::new();
        let mut key = None;
        for block in text.split("-----BEGIN ").skip(1) {
            let label = block.split("-----").next().unwrap_or_default().trim().to_owned();
            let pem = format!("-----BEGIN {block}");
            let end = format!("-----END {label}-----");
            let pem = match pem.find(&end) {
                Some(i) => pem[..i + end.len()].to_owned(),
                None => return Err(Error::new(format!("{shown}: the PEM block {label} has no END line"))),
            };
            match label.as_str() {
                "CERTIFICATE" => {
                    let (_, der) = pem_rfc7468::decode_vec(pem.as_bytes())
                        .map_err(|e| Error::new(format!("{shown}: a CERTIFICATE block does not decode: {e}")))?;
                    certs.push(der);
                }
                "PRIVATE KEY" => {
                    key = Some(rsa::RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|e| {
                        Error::new(format!("{shown}: the PRIVATE KEY is not an RSA key this plugin can read ({e})"))
                    })?);
                }
                "RSA PRIVATE KEY" => {
                    key = Some(
                        rsa::RsaPrivateKey::from_pkcs1_pem(&pem)
                            .map_err(|e| Error::new(format!("{shown}: the RSA PRIVATE KEY does not decode ({e})")))?,
                    );
                }
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(Error::new(format!(
                        "{shown}: the private key is encrypted, which this plugin does not read: decrypt it \
                         (openssl pkey -in {shown} -out key.pem) and put it in the PEM file with the certificate"
                    )))
                }
                _ => {}
            }
        }
        let (Some(leaf), Some(key)) = (certs.first(), key) else {
            return Err(Error::new(format!(
                "{shown} (AZURE_CLIENT_CERTIFICATE_PATH) must hold the certificate and its unencrypted RSA private \
                 key as PEM blocks"
            )));
        };
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let thumbprint = b64url.encode(sha1::Sha1::digest(leaf));
        let chain =
            send_chain.then(|| certs.iter().map(|c| base64::engine::general_purpose::STANDARD.encode(c)).collect());
        Ok(CertificateAssertion { client_id: client_id.to_owned(), audience: String::new(), thumbprint, chain, key })
    }

    /// The assertion for tokens from `endpoint` (`https://AUTHORITY/TENANT/oauth2/v2.0/token`).
    #[must_use]
    pub fn for_endpoint(mut self, endpoint: String) -> Self {
        self.audience = endpoint;
        self
    }

    /// A signed assertion, valid for ten minutes from `now` (seconds since the epoch).
    pub fn assertion(&self, now: u64) -> Result<String, Error> {
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": self.thumbprint});
        if let Some(chain) = &self.chain {
            header["x5c"] = serde_json::json!(chain);
        }
        let mut jti = [0u8; 16];
        rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut jti)
            .map_err(|e| Error::new(format!("no random numbers for the assertion's jti: {e}")))?;
        let claims = serde_json::json!({
            "aud": self.audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": jti.iter().fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            }),
            "nbf": now,
            "iat": now,
            "exp": now + 600,
        });
        let signing_input = format!("{}.{}", b64url.encode(header.to_string()), b64url.encode(claims.to_string()));
        let digest = sha2::Sha256::digest(signing_input.as_bytes());
        let signature = self
            .key
            .sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest)
            .map_err(|e| Error::new(format!("signing the client assertion failed: {e}")))?;
        Ok(format!("{signing_input}.{}", b64url.encode(signature)))
    }
}

fn not_pem(shown: &str) -> Error {
    Error::new(format!(
        "{shown} (AZURE_CLIENT_CERTIFICATE_PATH) is not a PEM file; this plugin reads PEM only. Convert a PKCS#12 \
         (.pfx) file with: openssl pkcs12 -in cert.pfx -out cert.pem -nodes"
    ))
}

#[async_trait::async_trait]
impl azure_identity::ClientAssertion for CertificateAssertion {
    async fn secret(&self, _options: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.assertion(now).map_err(|e| azure_core::Error::with_message(ErrorKind::Credential, e.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use rsa::pkcs8::EncodePrivateKey as _;
    use rsa::traits::PublicKeyParts as _;

    use super::*;

    #[test]
    fn assertions_verify_with_the_key() {
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
        let pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        // Any DER stands in for the certificate here: only its thumbprint is used.
        let cert =
            pem_rfc7468::encode_string("CERTIFICATE", pem_rfc7468::LineEnding::LF, b"not really a cert").unwrap();
        let dir = std::env::temp_dir().join(format!("azurekms-cert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("sp.pem");
        std::fs::write(&file, format!("{cert}{}", pem.as_str())).unwrap();
        let a = CertificateAssertion::load(&file, "client-1", true)
            .unwrap()
            .for_endpoint("https://login.example/tenant/oauth2/v2.0/token".into());
        let jwt = a.assertion(1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header: serde_json::Value = serde_json::from_slice(&b64url.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["x5t"], b64url.encode(sha1::Sha1::digest(b"not really a cert")));
        assert!(header["x5c"].is_array());
        let claims: serde_json::Value = serde_json::from_slice(&b64url.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://login.example/tenant/oauth2/v2.0/token");
        assert_eq!(claims["exp"], 1_700_000_600);
        let digest = sha2::Sha256::digest(format!("{}.{}", parts[0], parts[1]).as_bytes());
        let sig = b64url.decode(parts[2]).unwrap();
        assert_eq!(sig.len(), key.size());
        key.to_public_key().verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, &sig).unwrap();
        std::fs::write(&file, b"\x30\x82binary pfx").unwrap();
        let e = CertificateAssertion::load(&file, "c", false).unwrap_err().to_string();
        assert!(e.contains("openssl pkcs12"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
