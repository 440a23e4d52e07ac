//! # sigstore-kms-gcpkms
//!
//! A Sigstore KMS plugin for Google Cloud KMS keys: install the `sigstore-kms-gcpkms` program
//! on `PATH` and the key URIs cosign knows, `gcpkms://projects/...`, work unchanged from every
//! host of the plugin protocol (this project's Rust, Python and Node packages and CLI, and any
//! Go program built on `sigstore/sigstore` without its GCP provider). It behaves as the Go
//! provider (`pkg/signature/kms/gcp` of sigstore/sigstore, what cosign has built in) does,
//! method for method; the differences are listed at the end. User documentation, with
//! examples: `docs/providers/gcpkms.md`.
//!
//! ## Key URIs
//!
//! Parsed exactly as Go parses them ([`mod@reference`]):
//!
//! ```text
//! gcpkms://projects/PROJECT/locations/LOCATION/keyRings/KEY_RING/cryptoKeys/KEY
//! gcpkms://projects/PROJECT/locations/LOCATION/keyRings/KEY_RING/cryptoKeys/KEY/cryptoKeyVersions/VERSION
//! gcpkms://projects/PROJECT/locations/LOCATION/keyRings/KEY_RING/cryptoKeys/KEY/versions/VERSION
//! ```
//!
//! Without a version the plugin uses the key's newest enabled version (Go's rule: the first
//! `ENABLED` version listed in `name desc` order). The protocol's `keyVersion` option pins a
//! version too; a URI and an option that name different versions are an error.
//!
//! ## Configuration
//!
//! * **Credentials**: Application Default Credentials, found as Go's provider (and `gcloud`)
//!   find them: the JSON file named by `GOOGLE_APPLICATION_CREDENTIALS` (a service account
//!   key, an authorized user, an impersonated service account, or a workload identity
//!   federation `external_account` configuration); else gcloud's user credentials
//!   `$HOME/.config/gcloud/application_default_credentials.json` (`gcloud auth
//!   application-default login`); else the metadata server of the Compute Engine, GKE, Cloud
//!   Run or App Engine instance (`GCE_METADATA_HOST` overrides its address).
//!   `GOOGLE_CLOUD_QUOTA_PROJECT` sets the quota project. Service account keys sign their own
//!   token (a self-signed JWT): no token endpoint is called for them.
//! * **Endpoint**: `https://cloudkms.googleapis.com` (of the universe `GOOGLE_CLOUD_UNIVERSE_DOMAIN`
//!   when set), or the URL in `GCPKMS_ENDPOINT` (a regional endpoint such as
//!   `https://cloudkms.europe-west1.rep.googleapis.com`, a Private Service Connect endpoint, a
//!   test server; `http://` only for `localhost`). Go's provider has no such setting.
//! * **TLS**: the system's root certificates (`SSL_CERT_FILE`, `SSL_CERT_DIR` add a private CA).
//! * **Proxy**: `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` (and lower case).
//!
//! `defaultAlgorithm` and `supportedAlgorithms` check the reference and answer without any
//! configuration, file or network access.
//!
//! ## Methods
//!
//! * `defaultAlgorithm`: `ecdsa-p256-sha256`. `supportedAlgorithms`: Go's ten names
//!   ([`algorithms::ALGORITHMS`]): `ecdsa-p256-sha256`, `ecdsa-p384-sha384`,
//!   `rsa-pkcs1v15-{2048,3072,4096}-sha256`, `rsa-pkcs1v15-4096-sha512`,
//!   `rsa-pss-{2048,3072,4096}-sha256`, `rsa-pss-4096-sha512`. `createKey` also accepts Cloud
//!   KMS's names (`EC_SIGN_P256_SHA256`, ...).
//! * `createKey`: an unknown algorithm is refused first. If the key exists, its public key is
//!   answered (whatever algorithm was asked for, as in Go; a note on stderr says so when it
//!   differs). Otherwise the key ring is created if missing, then the key (purpose
//!   `ASYMMETRIC_SIGN`, the algorithm as version template), and the plugin waits, within the
//!   call's deadline, until its first version is generated and `ENABLED`.
//! * `publicKey`: `GetPublicKey` of the resolved version, as a `PUBLIC KEY` PEM.
//! * `signMessage`: the version's algorithm fixes the hash (SHA-256 for `EC_SIGN_P256_SHA256`,
//!   ...). The message is hashed here and only the digest is sent (`AsymmetricSign`), or the
//!   host's digest is sent as given (it must have that hash's length; a `hashFunc` in the
//!   request other than the key's is refused with an error naming the key's). ECDSA signatures
//!   are ASN.1 DER (what Cloud KMS returns); RSA signatures are PKCS#1 v1.5 or PSS as the
//!   algorithm says.
//! * `verifySignature`: against the version's public key, here. Cloud KMS has no verification
//!   call for asymmetric keys, so `remoteVerification` changes nothing (Go's provider ignores it
//!   too).
//!
//! **Integrity.** Every `AsymmetricSign` carries the digest's CRC32C (`digestCrc32c`); the
//! answer must say Cloud KMS verified it (`verifiedDigestCrc32c`), its `signatureCrc32c` must
//! match the signature, and every `GetPublicKey` answer's `pemCrc32c` must match the PEM.
//! Either mismatch is an error that says the data was corrupted in transit, as Google's
//! data-integrity guidelines ask. Answers for another key version than asked are refused.
//!
//! **Deadlines and retries.** Every call runs within the host's `ctxDeadline` (60 s without
//! one): the whole exchange is cancelled when it passes. Within it the client retries what is
//! safe to retry (unavailable service, throttling `429`/`RESOURCE_EXHAUSTED`, with exponential
//! backoff), `AsymmetricSign` included (signing twice is harmless).
//!
//! **Errors** are one message each: what failed, for which resource, and what to check (the
//! IAM role a permission error needs, where the credentials came from, the endpoint). Secrets
//! from the credentials file never appear in them.
//!
//! ## Differences from Go's provider
//!
//! * A key with no enabled version, or a version still being generated, gets a clear error (or
//!   a wait, for a version being generated) instead of an iterator error.
//! * An answer without `signatureCrc32c` is an error (Go dereferences it).
//! * `createKey` checks the algorithm before looking the key up (so an unknown algorithm is
//!   always an error, as the reference's plugin tests expect), and waits for the first version.
//! * `GCPKMS_ENDPOINT`, and the `keyVersion` option.
//!
//! ## Client, and why
//!
//! Google's own Rust client, `google-cloud-kms-v1` (googleapis/google-cloud-rust, the REST
//! transport, on `reqwest`) with `google-cloud-auth` for Application Default Credentials, both
//! without default features: TLS is rustls on *ring* (shared with the other providers of this
//! repository) instead of aws-lc-rs, which needs a C and assembler build of its own. The
//! client needs Rust 1.91. Measured compile time: see `docs/providers/gcpkms.md`.

use std::io::Read;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use google_cloud_gax::error::rpc::Code;
use google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder;
use google_cloud_gax::options::RequestOptionsBuilder as _;
use google_cloud_gax::retry_policy::{Aip194Strict, RetryPolicyExt as _};
use google_cloud_kms_v1::client::KeyManagementService;
use google_cloud_kms_v1::model::crypto_key::CryptoKeyPurpose;
use google_cloud_kms_v1::model::crypto_key_version::{CryptoKeyVersionAlgorithm, CryptoKeyVersionState};
use google_cloud_kms_v1::model::{CryptoKey, CryptoKeyVersion, CryptoKeyVersionTemplate, Digest as KmsDigest, KeyRing};
use sigstore_kms_plugins::{CallContext, HandlerError, HashFunc, KmsHandler, MessageOptions};
use sigstore_kms_provider_kit::call::{self, Digest};
use sigstore_kms_provider_kit::{runtime, HashChoice, Input, PublicKey};

pub mod algorithms;
pub mod config;
pub mod crc32c;
pub mod errors;
pub mod reference;

pub use algorithms::{Algorithm, KeyKind};
pub use config::Config;
pub use reference::KeyRef;
pub use sigstore_kms_provider_kit::Error;

/// How long the metadata server may take to accept a connection (Go's `metadata.OnGCE`
/// gives it a few seconds at most).
const METADATA_PROBE: Duration = Duration::from_secs(2);

/// The plugin: a [`KmsHandler`] for `gcpkms://` key references.
#[derive(Debug, Clone, Copy, Default)]
pub struct GcpKms;

impl GcpKms {
    /// The handler.
    #[must_use]
    pub fn new() -> Self {
        GcpKms
    }
}

/// A key version the plugin will use.
#[derive(Debug, Clone)]
struct Version {
    /// Its resource name.
    name: String,
    /// Its algorithm.
    alg: Algorithm,
}

/// One call: the key, its configuration, and the time it has.
struct Call {
    key: KeyRef,
    pinned: String,
    config: Config,
    left: Duration,
    deadline: Instant,
}

impl Call {
    fn new(ctx: &CallContext) -> Result<Self, Error> {
        let key = KeyRef::parse(&ctx.key_resource_id)?;
        let pinned = pinned_version(&key, &ctx.key_version)?;
        let config = Config::from_env(|k| std::env::var(k).ok())?;
        let left = call::budget(ctx)?;
        Ok(Call { key, pinned, config, left, deadline: Instant::now() + left })
    }

    /// Runs `fut` on a runtime of its own, within the call's deadline.
    fn block_on<T>(&self, what: &str, fut: impl std::future::Future<Output = Result<T, Error>>) -> Result<T, Error> {
        runtime::block_on(&format!("Cloud KMS {what} for {}", self.key), self.left, fut)?
    }

    fn time_left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Without a credentials file, Application Default Credentials come from the metadata
    /// server: check that one answers first, as Go's `DetectDefault` does (`metadata.OnGCE`),
    /// so that a machine off Google Cloud gets a clear error at once instead of retries.
    async fn check_metadata_server(&self) -> Result<(), Error> {
        let Some(addr) = &self.config.metadata_server else { return Ok(()) };
        let probe = tokio::time::timeout(METADATA_PROBE, tokio::net::TcpStream::connect(addr.as_str())).await;
        match probe {
            Ok(Ok(_)) => Ok(()),
            failed => Err(Error::new(format!(
                "no Google credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, there is no gcloud credentials \
                 file ($HOME/.config/gcloud/application_default_credentials.json), and no metadata server answers \
                 at {addr} ({}). Set GOOGLE_APPLICATION_CREDENTIALS to a service account or authorized user JSON \
                 file, or run `gcloud auth application-default login`",
                match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {}s", METADATA_PROBE.as_secs()),
                }
            ))),
        }
    }

    /// The client, with Application Default Credentials and retries within the deadline.
    async fn client(&self) -> Result<KeyManagementService, Error> {
        self.check_metadata_server().await?;
        // Several providers may share a process (the CLI); the first installed provider wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let credentials = google_cloud_auth::credentials::Builder::default().build().map_err(|e| {
            Error::new(self.config.scrub(&format!(
                "cannot load Google credentials from {}: {}. Set GOOGLE_APPLICATION_CREDENTIALS to a service \
                 account or authorized user JSON file, or run `gcloud auth application-default login`",
                self.config.credentials_source,
                errors::chain(&e)
            )))
        })?;
        let backoff = ExponentialBackoffBuilder::new()
            .with_initial_delay(Duration::from_millis(250))
            .with_maximum_delay(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::new(format!("the retry backoff is invalid: {e}")))?;
        let mut builder = KeyManagementService::builder()
            .with_credentials(credentials)
            // Retries stop a little before the deadline, so that the answer is the service's
            // last error (throttled, unavailable) rather than a bare timeout.
            .with_retry_policy(
                Aip194Strict.continue_on_too_many_requests().with_time_limit(call::retry_window(self.left)),
            )
            .with_backoff_policy(backoff);
        if let Some(endpoint) = &self.config.endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        builder.build().await.map_err(|e| {
            Error::new(self.config.scrub(&format!(
                "cannot set up the Cloud KMS client for {} with the credentials of {}: {}",
                self.config.endpoint_shown(),
                self.config.credentials_source,
                errors::chain(&e)
            )))
        })
    }

    fn fail(&self, op: &str, resource: &str, e: &google_cloud_gax::error::Error) -> Error {
        errors::describe(op, resource, &self.config, e)
    }

    /// The version to use: the pinned one, or the newest enabled one. A version still being
    /// generated is waited for, within the deadline.
    async fn resolve(&self, client: &KeyManagementService) -> Result<Version, Error> {
        let mut pause = Duration::from_millis(100);
        loop {
            match self.resolve_once(client).await? {
                Resolved::Ready(v) => return Ok(v),
                Resolved::Pending(what) => {
                    if self.time_left() <= pause {
                        return Err(Error::new(format!(
                            "{what} is still being generated (PENDING_GENERATION) at the call's deadline: try again \
                             in a moment"
                        )));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    async fn resolve_once(&self, client: &KeyManagementService) -> Result<Resolved, Error> {
        if !self.pinned.is_empty() {
            let name = self.key.version_name(&self.pinned);
            let v = client
                .get_crypto_key_version()
                .set_name(&name)
                .send()
                .await
                .map_err(|e| self.fail("GetCryptoKeyVersion", &name, &e))?;
            return match v.state {
                CryptoKeyVersionState::Enabled => Ok(Resolved::Ready(version_of(&v)?)),
                CryptoKeyVersionState::PendingGeneration | CryptoKeyVersionState::PendingImport => {
                    Ok(Resolved::Pending(format!("key version {name}")))
                }
                ref state => Err(Error::new(format!(
                    "key version {name} is {}, not ENABLED: enable it (gcloud kms keys versions enable {} --key {} \
                     --keyring {} --location {}), or use another version",
                    state.name().unwrap_or("in an unknown state"),
                    self.pinned,
                    self.key.key,
                    self.key.key_ring,
                    self.key.location
                ))),
            };
        }
        let parent = self.key.key_name();
        let listed = client
            .list_crypto_key_versions()
            .set_parent(&parent)
            .set_filter("state=ENABLED")
            .set_order_by("name desc")
            .set_page_size(1)
            .send()
            .await
            .map_err(|e| self.fail("ListCryptoKeyVersions", &parent, &e))?;
        if let Some(v) = listed.crypto_key_versions.first() {
            return Ok(Resolved::Ready(version_of(v)?));
        }
        // No enabled version: say why (not a signing key, versions being generated, none enabled).
        let key = client
            .get_crypto_key()
            .set_name(&parent)
            .send()
            .await
            .map_err(|e| self.fail("GetCryptoKey", &parent, &e))?;
        if key.purpose != CryptoKeyPurpose::AsymmetricSign {
            return Err(not_for_signing(&parent, &key.purpose));
        }
        let all = client
            .list_crypto_key_versions()
            .set_parent(&parent)
            .send()
            .await
            .map_err(|e| self.fail("ListCryptoKeyVersions", &parent, &e))?;
        if all.crypto_key_versions.iter().any(|v| v.state == CryptoKeyVersionState::PendingGeneration) {
            return Ok(Resolved::Pending(format!("the first version of key {parent}")));
        }
        Err(Error::new(format!(
            "key {parent} has no enabled version: enable one (gcloud kms keys versions enable VERSION --key {} \
             --keyring {} --location {}), or create one",
            self.key.key, self.key.key_ring, self.key.location
        )))
    }

    /// The public key of `v`, checked against its CRC32C and algorithm.
    async fn public_key(&self, client: &KeyManagementService, v: &Version) -> Result<PublicKey, Error> {
        let answer = client
            .get_public_key()
            .set_name(&v.name)
            .send()
            .await
            .map_err(|e| self.fail("GetPublicKey", &v.name, &e))?;
        let corrupted = |what: String| {
            Error::new(format!(
                "Cloud KMS GetPublicKey for {}: the response was corrupted in transit ({what}); try again",
                v.name
            ))
        };
        match answer.pem_crc32c {
            Some(c) if c == i64::from(crc32c::checksum(answer.pem.as_bytes())) => {}
            Some(c) => {
                return Err(corrupted(format!(
                    "pemCrc32c is {c}, the PEM's CRC32C is {}",
                    crc32c::checksum(answer.pem.as_bytes())
                )))
            }
            None => return Err(corrupted("the answer has no pemCrc32c".into())),
        }
        if !answer.name.is_empty() && answer.name != v.name {
            return Err(Error::new(format!(
                "Cloud KMS GetPublicKey for {} answered for another key version, {}: refusing it",
                v.name, answer.name
            )));
        }
        let key = PublicKey::from_pem(answer.pem.as_bytes())
            .map_err(|e| Error::new(format!("the public key of {} does not parse: {e}", v.name)))?;
        let matches = match (v.alg.key, &key) {
            (KeyKind::P256, PublicKey::P256(_)) | (KeyKind::P384, PublicKey::P384(_)) => true,
            (KeyKind::Rsa(bits), PublicKey::Rsa(_)) => key.describe() == format!("rsa-{bits}"),
            _ => false,
        };
        if !matches {
            return Err(Error::new(format!(
                "the public key of {} is {}, which does not fit its algorithm {}",
                v.name,
                key.describe(),
                v.alg.kms_name
            )));
        }
        Ok(key)
    }

    /// Signs `digest` with `v`, checking the CRC32C fields both ways.
    async fn sign(&self, client: &KeyManagementService, v: &Version, digest: &Digest) -> Result<Vec<u8>, Error> {
        let crc = crc32c::checksum(&digest.bytes);
        let kms_digest = match digest.hash {
            HashFunc::Sha256 => KmsDigest::new().set_sha256(digest.bytes.clone()),
            HashFunc::Sha384 => KmsDigest::new().set_sha384(digest.bytes.clone()),
            HashFunc::Sha512 => KmsDigest::new().set_sha512(digest.bytes.clone()),
            other => {
                return Err(Error::new(format!(
                    "Cloud KMS signs SHA-256, SHA-384 or SHA-512 digests, not {}",
                    other.go_name()
                )))
            }
        };
        let answer = client
            .asymmetric_sign()
            .set_name(&v.name)
            .set_digest(kms_digest)
            .set_digest_crc32c(i64::from(crc))
            .with_idempotency(true)
            .send()
            .await
            .map_err(|e| self.fail("AsymmetricSign", &v.name, &e))?;
        check_sign_answer(
            &v.name,
            crc,
            &answer.name,
            answer.verified_digest_crc32c,
            answer.signature_crc32c,
            &answer.signature,
        )?;
        Ok(answer.signature.to_vec())
    }

    /// Creates the key (and its key ring) unless it exists; answers whether it existed.
    async fn ensure_key(&self, client: &KeyManagementService, alg: Algorithm) -> Result<bool, Error> {
        let name = self.key.key_name();
        match client.get_crypto_key().set_name(&name).send().await {
            Ok(key) if key.purpose == CryptoKeyPurpose::AsymmetricSign => return Ok(true),
            Ok(key) => return Err(not_for_signing(&name, &key.purpose)),
            Err(e) if e.status().is_some_and(|s| s.code == Code::NotFound) => {}
            Err(e) => return Err(self.fail("GetCryptoKey", &name, &e)),
        }
        let ring = self.key.key_ring_name();
        match client.get_key_ring().set_name(&ring).send().await {
            Ok(_) => {}
            Err(e) if e.status().is_some_and(|s| s.code == Code::NotFound) => {
                match client
                    .create_key_ring()
                    .set_parent(self.key.location_name())
                    .set_key_ring_id(&self.key.key_ring)
                    .set_key_ring(KeyRing::new())
                    .send()
                    .await
                {
                    Ok(_) => {}
                    // Someone else created it meanwhile.
                    Err(e) if e.status().is_some_and(|s| s.code == Code::AlreadyExists) => {}
                    Err(e) => return Err(self.fail("CreateKeyRing", &ring, &e)),
                }
            }
            Err(e) => return Err(self.fail("GetKeyRing", &ring, &e)),
        }
        let template = CryptoKeyVersionTemplate::new().set_algorithm(CryptoKeyVersionAlgorithm::from(alg.kms_name));
        match client
            .create_crypto_key()
            .set_parent(&ring)
            .set_crypto_key_id(&self.key.key)
            .set_crypto_key(
                CryptoKey::new().set_purpose(CryptoKeyPurpose::AsymmetricSign).set_version_template(template),
            )
            .send()
            .await
        {
            Ok(_) => Ok(false),
            Err(e) if e.status().is_some_and(|s| s.code == Code::AlreadyExists) => Ok(true),
            Err(e) => Err(self.fail("CreateCryptoKey", &name, &e)),
        }
    }
}

enum Resolved {
    Ready(Version),
    /// Not usable yet: being generated.
    Pending(String),
}

fn version_of(v: &CryptoKeyVersion) -> Result<Version, Error> {
    let kms_name = v.algorithm.name().map_or_else(|| format!("{:?}", v.algorithm), str::to_owned);
    Ok(Version { name: v.name.clone(), alg: Algorithm::from_kms_name(&kms_name, &v.name)? })
}

fn not_for_signing(name: &str, purpose: &CryptoKeyPurpose) -> Error {
    Error::new(format!(
        "key {name} has purpose {}, not ASYMMETRIC_SIGN: it cannot sign; use an asymmetric signing key",
        purpose.name().unwrap_or("unknown")
    ))
}

/// The checks Google's data-integrity guidelines ask for on an `AsymmetricSign` answer.
fn check_sign_answer(
    name: &str,
    digest_crc: u32,
    answer_name: &str,
    verified_digest_crc32c: bool,
    signature_crc32c: Option<i64>,
    signature: &[u8],
) -> Result<(), Error> {
    let corrupted = |what: String| {
        Error::new(format!(
            "Cloud KMS AsymmetricSign for {name}: {what}; nothing was signed that can be trusted, try again"
        ))
    };
    if !verified_digest_crc32c {
        return Err(corrupted(format!(
            "the request was corrupted in transit (Cloud KMS did not verify the digest's CRC32C {digest_crc}: \
             verifiedDigestCrc32c is false)"
        )));
    }
    let actual = i64::from(crc32c::checksum(signature));
    match signature_crc32c {
        Some(c) if c == actual => {}
        Some(c) => {
            return Err(corrupted(format!(
                "the response was corrupted in transit (signatureCrc32c is {c}, the signature's CRC32C is {actual})"
            )))
        }
        None => return Err(corrupted("the response has no signatureCrc32c".into())),
    }
    if !answer_name.is_empty() && answer_name != name {
        return Err(Error::new(format!(
            "Cloud KMS AsymmetricSign for {name} answered for another key version, {answer_name}: refusing its signature"
        )));
    }
    if signature.is_empty() {
        return Err(Error::new(format!("Cloud KMS AsymmetricSign for {name} answered an empty signature")));
    }
    Ok(())
}

/// The version the call pins: the URI's, or the protocol's `keyVersion` option; both must agree.
fn pinned_version(key: &KeyRef, option: &str) -> Result<String, Error> {
    let option = option.trim();
    match (key.version.as_str(), option) {
        (v, "") => Ok(v.to_owned()),
        ("", o) if !o.contains('/') => Ok(o.to_owned()),
        ("", o) => Err(Error::new(format!("keyVersion {o:?} is not a key version number"))),
        (v, o) if v == o => Ok(v.to_owned()),
        (v, o) => Err(Error::new(format!(
            "the key URI pins version {v} but the keyVersion option asks for {o}: give one of them"
        ))),
    }
}

impl KmsHandler for GcpKms {
    fn default_algorithm(&self, ctx: &CallContext) -> Result<String, HandlerError> {
        KeyRef::parse(&ctx.key_resource_id)?;
        Ok(algorithms::DEFAULT.name.to_owned())
    }

    fn supported_algorithms(&self, ctx: &CallContext) -> Result<Vec<String>, HandlerError> {
        KeyRef::parse(&ctx.key_resource_id)?;
        Ok(algorithms::names())
    }

    fn create_key(&self, ctx: &CallContext, algorithm: &str) -> Result<String, HandlerError> {
        KeyRef::parse(&ctx.key_resource_id)?;
        let alg = Algorithm::from_name(algorithm)?;
        let c = Call::new(ctx)?;
        let pem = c.block_on("createKey", async {
            let client = c.client().await?;
            let existed = c.ensure_key(&client, alg).await?;
            let v = c.resolve(&client).await?;
            let key = c.public_key(&client, &v).await?;
            if existed && v.alg != alg {
                eprintln!(
                    "sigstore-kms-gcpkms: {} already exists with algorithm {}; answering its public key (asked for {})",
                    c.key.key_name(),
                    v.alg.name,
                    alg.name
                );
            }
            key.to_pem()
        })?;
        Ok(pem)
    }

    fn public_key(&self, ctx: &CallContext) -> Result<String, HandlerError> {
        let c = Call::new(ctx)?;
        let pem = c.block_on("publicKey", async {
            let client = c.client().await?;
            let v = c.resolve(&client).await?;
            c.public_key(&client, &v).await?.to_pem()
        })?;
        Ok(pem)
    }

    fn sign_message(
        &self,
        ctx: &CallContext,
        message: &mut dyn Read,
        opts: &MessageOptions,
    ) -> Result<Vec<u8>, HandlerError> {
        let c = Call::new(ctx)?;
        let signature = c.block_on("signMessage", async {
            let client = c.client().await?;
            let v = c.resolve(&client).await?;
            // The message is read and hashed here, on this thread: only the digest travels.
            let digest = call::digest_for_key(ctx, opts, message, v.alg.hash)?;
            c.sign(&client, &v, &digest).await
        })?;
        Ok(signature)
    }

    fn verify_signature(
        &self,
        ctx: &CallContext,
        signature: &[u8],
        message: &mut dyn Read,
        opts: &MessageOptions,
    ) -> Result<(), HandlerError> {
        let c = Call::new(ctx)?;
        let (key, v) = c.block_on("verifySignature", async {
            let client = c.client().await?;
            let v = c.resolve(&client).await?;
            Ok((c.public_key(&client, &v).await?, v))
        })?;
        let digest = call::digest_for_key(ctx, opts, message, v.alg.hash)?;
        key.verify_with(signature, Input::Digest(&digest.bytes), HashChoice::explicit(v.alg.hash), v.alg.padding)?;
        Ok(())
    }
}

/// Variables Go's Google libraries take as unset when empty, and Google's Rust client does not
/// (it would look for a file named "" or a universe named ""). Removed at program start, while
/// the process has one thread; in-process use gets an error from [`Config::from_env`] instead.
const EMPTY_MEANS_UNSET: [&str; 2] = ["GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_UNIVERSE_DOMAIN"];

fn forget_empty_variables() {
    for k in EMPTY_MEANS_UNSET {
        if std::env::var_os(k).is_some_and(|v| v.is_empty()) {
            std::env::remove_var(k);
        }
    }
}

/// Runs the plugin on this process's argv, stdin and stdout: the whole `main` of
/// `sigstore-kms-gcpkms` (also called by the Python and Node packages' entry points).
#[must_use]
pub fn main_entry() -> ExitCode {
    forget_empty_variables();
    sigstore_kms_plugins::plugin::serve(GcpKms::new())
}

/// Runs the plugin with explicit arguments (`args[0]` is the program name, then `v1` and the
/// request JSON) on this process's stdin and stdout, and returns the exit code: for embedders
/// whose process arguments are not the plugin's.
#[must_use]
#[allow(clippy::needless_pass_by_value)] // the signature embedders call, owned like std::env::args_os()
pub fn run_with_args(args: Vec<std::ffi::OsString>) -> i32 {
    forget_empty_variables();
    sigstore_kms_plugins::plugin::serve_args(&args, &GcpKms::new())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
