//! # sigstore-kms-azurekms
//!
//! A Sigstore KMS plugin for Azure Key Vault keys: install the `sigstore-kms-azurekms` program
//! on `PATH` and the key URIs cosign knows, `azurekms://...`, work unchanged from every host of
//! the plugin protocol (this project's Rust, Python and Node packages and CLI, and any Go
//! program built on `sigstore/sigstore` without its Azure provider). It behaves as the Go
//! provider (`pkg/signature/kms/azure` of sigstore/sigstore, what cosign has built in) does,
//! method for method; the differences are listed at the end. User documentation, with
//! examples: `docs/providers/azurekms.md`.
//!
//! ## Key URIs
//!
//! Parsed exactly as Go parses them ([`mod@reference`]):
//!
//! ```text
//! azurekms://VAULT_HOST/KEY_NAME            the key's latest version
//! azurekms://VAULT_HOST/KEY_NAME/VERSION    one version (lowercase letters and digits)
//! ```
//!
//! `VAULT_HOST` is the vault's host name (`myvault.vault.azure.net`, a managed HSM's
//! `myhsm.managedhsm.azure.net`, optionally with `:PORT`); requests go to `https://VAULT_HOST/`.
//! A bare vault name without a dot (`azurekms://myvault/release`) gets the vault DNS suffix of
//! the cloud (`.vault.azure.net` for the public cloud). The protocol's `keyVersion` option pins
//! a version too; a URI and an option that name different versions are an error.
//!
//! ## Configuration
//!
//! * **Credentials** ([`credential`]): Go's `DefaultAzureCredential` chain, in its order:
//!   1. a service principal from the environment: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
//!      `AZURE_CLIENT_SECRET`, or `AZURE_CLIENT_CERTIFICATE_PATH` (a PEM file with the
//!      certificate and its RSA key; `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN=true` sends the
//!      chain);
//!   2. workload identity (AKS): `AZURE_FEDERATED_TOKEN_FILE` with `AZURE_TENANT_ID` and
//!      `AZURE_CLIENT_ID`;
//!   3. a managed identity (App Service's `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`, or the
//!      instance metadata service of a VM); `AZURE_CLIENT_ID` selects a user-assigned one.
//!      Given two seconds when other credentials follow it;
//!   4. the Azure CLI (`az login`; `az account get-access-token`);
//!   5. the Azure Developer CLI (`azd auth login`).
//!
//!   `AZURE_TOKEN_CREDENTIALS` narrows the chain as in Go: `dev` (the two CLIs), `prod` (1 to
//!   3), or one credential's name (`EnvironmentCredential`, `WorkloadIdentityCredential`,
//!   `ManagedIdentityCredential`, `AzureCLICredential`, `AzureDeveloperCLICredential`).
//! * **Cloud**: `AZURE_ENVIRONMENT` as in Go: `AZUREPUBLICCLOUD` (or `AZURECLOUD`, the
//!   default), `AZURECHINACLOUD`, `AZUREUSGOVERNMENT` (or `AZUREUSGOVERNMENTCLOUD`); it picks
//!   the Microsoft Entra authority (`login.microsoftonline.com`, `login.chinacloudapi.cn`,
//!   `login.microsoftonline.us`) and the vault suffix of bare vault names. Without it,
//!   `AZURE_AUTHORITY_HOST` may name another authority (Azure Stack, a test server).
//! * **TLS**: the system's root certificates (`SSL_CERT_FILE`, `SSL_CERT_DIR` add a private CA).
//! * **Proxy**: `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` (and lower case).
//!
//! The vault tells the client which token it wants (its `WWW-Authenticate` challenge), and the
//! client checks that the challenge's resource matches the vault's domain, as Azure's SDKs do.
//! `defaultAlgorithm` and `supportedAlgorithms` check the reference and answer without any
//! configuration or network access.
//!
//! ## Methods
//!
//! * `defaultAlgorithm`: `ES256`. `supportedAlgorithms`: Go's six, `ES256`, `ES384`, `ES512`,
//!   `RS256`, `RS384`, `RS512` ([`keys::SPECS`]). `createKey` also accepts the bundled
//!   localkms plugin's names (`ecdsa-p256`, `rsa-2048`, ...).
//! * `createKey`: an unknown algorithm is refused first. If the key exists, its public key is
//!   answered (whatever algorithm was asked for, as in Go; a note on stderr says so when it
//!   differs); if the vault answers 404, the key is created: `ES256` → EC P-256, `ES384` →
//!   P-384, `ES512` → P-521, `RS256` → RSA 2048, `RS384` → RSA 3072, `RS512` → RSA 4096, with
//!   operations sign and verify, enabled, tagged `use=sigstore` (Go creates an EC key of the
//!   vault's default curve whatever was asked). Any other error is reported.
//! * `publicKey`: the key's JSON Web Key as a `PUBLIC KEY` PEM (`EC-HSM` and `RSA-HSM` keys
//!   too).
//! * `signMessage`: the key type and size fix the algorithm, as in Go: P-256 → `ES256`
//!   (SHA-256), P-384 → `ES384`, P-521 → `ES512`, RSA 2048 → `RS256`, 3072 → `RS384`, 4096 →
//!   `RS512`. The message is hashed here and only the digest is sent (the host's digest is sent
//!   as given; it must have that hash's length). The signature is made with the version the
//!   key was read at. Key Vault's raw `r || s` ECDSA signatures are converted to ASN.1 DER.
//! * `verifySignature`: locally against the key's public key; with `remoteVerification`, by
//!   Key Vault (`verify`, the DER signature converted back to `r || s`).
//!
//! **Deadlines and retries.** Every call runs within the host's `ctxDeadline` (60 s without
//! one). Within it the SDK retries throttling (`429`, honouring `Retry-After`) and server errors
//! with exponential backoff.
//!
//! **Errors** are one message each: what failed, for which key, and what to check (the role an
//! access error needs, the credentials tried, the vault URL). Client secrets, certificate
//! passwords and federated tokens never appear in them.
//!
//! ## Differences from Go's provider
//!
//! * `verifySignature` is local unless `remoteVerification` is asked for (Go always asks the
//!   vault; its conversion of DER to `r || s` uses `r` twice, so its remote verification of
//!   ECDSA signatures fails).
//! * `createKey` honours the algorithm and refuses unknown ones, and refuses a pinned version
//!   that does not exist (Key Vault names new versions).
//! * Bare vault names; `AZURE_ENVIRONMENT` compared without regard to case, and an unknown
//!   value is an error (Go silently uses the public cloud); `AZURE_AUTHORITY_HOST`.
//! * Not supported: the Azure PowerShell credential, username/password sign-in, PKCS#12 and
//!   encrypted certificate files, `AZURE_ADDITIONALLY_ALLOWED_TENANTS` (the Rust SDK does not
//!   follow a vault's tenant).
//!
//! ## Client, and why
//!
//! Microsoft's Rust SDK: `azure_security_keyvault_keys` and `azure_identity` on `azure_core`,
//! without default features, on `reqwest` with rustls on *ring* (shared with the other
//! providers of this repository; the SDK's default is aws-lc-rs, a C and assembler build). The
//! SDK needs Rust 1.88. Measured compile time: see `docs/providers/azurekms.md`.

use std::collections::HashMap;
use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RequestContent, RetryOptions, StatusCode, Transport};
use azure_security_keyvault_keys::models::{
    CreateKeyParameters, Key, KeyAttributes, KeyClientGetKeyOptions, KeyClientSignOptions, KeyOperation,
    SignParameters, VerifyParameters,
};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions};
use sigstore_kms_plugins::{CallContext, HandlerError, KmsHandler, MessageOptions};
use sigstore_kms_provider_kit::call::{self, Digest};
use sigstore_kms_provider_kit::{ecdsa, runtime, HashChoice, Input, PublicKey};

pub mod certificate;
pub mod cloud;
pub mod credential;
pub mod errors;
pub mod keys;
pub mod reference;

pub use cloud::Cloud;
pub use keys::{KeySpec, Signing};
pub use reference::KeyRef;
pub use sigstore_kms_provider_kit::Error;

/// The plugin: a [`KmsHandler`] for `azurekms://` key references.
#[derive(Debug, Clone, Copy, Default)]
pub struct AzureKms;

impl AzureKms {
    /// The handler.
    #[must_use]
    pub fn new() -> Self {
        AzureKms
    }
}

/// One call: the key, its cloud, and the time it has.
struct Call {
    key: KeyRef,
    version: String,
    cloud: Cloud,
    left: Duration,
}

/// A connected client, with what the messages need.
struct Session {
    client: KeyClient,
    chain: Arc<credential::Chain>,
    target: errors::Target,
    version: String,
    name: String,
}

/// A key as the vault answered it.
struct VaultKey {
    public: PublicKey,
    signing: Signing,
    /// The version it was read at (from its `kid`).
    version: String,
    kid: String,
}

impl Call {
    fn new(ctx: &CallContext) -> Result<Self, Error> {
        let key = KeyRef::parse(&ctx.key_resource_id)?;
        let version = pinned_version(&key, &ctx.key_version)?;
        let cloud = Cloud::from_env(|k| std::env::var(k).ok())?;
        let left = call::budget(ctx)?;
        Ok(Call { key, version, cloud, left })
    }

    fn block_on<T>(&self, what: &str, fut: impl std::future::Future<Output = Result<T, Error>>) -> Result<T, Error> {
        runtime::block_on(&format!("Azure Key Vault {what} for key {}", self.key), self.left, fut)?
    }

    /// The Key Vault client, on the credential chain, retrying within the deadline.
    fn connect(&self) -> Result<Session, Error> {
        install_tls_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(self.left.min(Duration::from_secs(10)))
            // Key Vault answers 3xx to nothing the plugin asks; a redirect would carry the token.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::new(format!("cannot set up the HTTPS client: {}", errors::chain(&e))))?;
        let mut custom = CustomConfiguration::default();
        custom.authority_host.clone_from(&self.cloud.authority_host);
        let retry = ExponentialRetryOptions {
            initial_delay: azure_core::time::Duration::milliseconds(200),
            max_retries: 8,
            // Retries stop before the deadline: the answer is then the vault's last error.
            max_total_elapsed: azure_core::time::Duration::try_from(call::retry_window(self.left))
                .unwrap_or(azure_core::time::Duration::MINUTE),
            max_delay: azure_core::time::Duration::seconds(10),
        };
        let options = ClientOptions {
            transport: Some(Transport::new(Arc::new(http))),
            retry: RetryOptions::exponential(retry),
            cloud: Some(Arc::new(CloudConfiguration::Custom(custom))),
            ..Default::default()
        };
        let chain =
            Arc::new(credential::Chain::from_env(|k| std::env::var(k).ok(), &options, &self.cloud.authority_host)?);
        let vault = self.key.vault_url(&self.cloud);
        let target = errors::Target {
            key: self.key.to_string(),
            vault: vault.clone(),
            cloud: format!(
                "{}, authority {} from {}",
                self.cloud.name, self.cloud.authority_host, self.cloud.authority_from
            ),
            credentials: chain.names().join(", "),
        };
        let client = KeyClient::new(
            &vault,
            chain.clone(),
            Some(KeyClientOptions { client_options: options, ..Default::default() }),
        )
        .map_err(|e| Error::new(format!("cannot set up the Key Vault client for {vault}: {}", errors::chain(&e))))?;
        Ok(Session { client, chain, target, version: self.version.clone(), name: self.key.name.clone() })
    }
}

impl Session {
    fn fail(&self, op: &str, e: &azure_core::Error) -> Error {
        errors::describe(op, &self.target, &|t| self.chain.scrub(t), e)
    }

    async fn get(&self) -> Result<Result<Key, azure_core::Error>, Error> {
        let options = KeyClientGetKeyOptions { key_version: Some(self.version.clone()), ..Default::default() };
        Ok(match self.client.get_key(&self.name, Some(options)).await {
            Ok(response) => response.into_model(),
            Err(e) => Err(e),
        })
    }

    /// The key, with its public key and signing algorithm.
    async fn key(&self) -> Result<VaultKey, Error> {
        let key = self.get().await?.map_err(|e| self.fail("get key", &e))?;
        self.vault_key(&key)
    }

    fn vault_key(&self, key: &Key) -> Result<VaultKey, Error> {
        let jwk = key.key.as_ref().ok_or_else(|| {
            Error::new(format!("Azure Key Vault answered key {} without its JSON Web Key", self.target.key))
        })?;
        let kid = jwk.kid.clone().unwrap_or_default();
        if key.attributes.as_ref().and_then(|a| a.enabled) == Some(false) {
            return Err(Error::new(format!(
                "the key {kid} is disabled: enable it in the vault, or use another version"
            )));
        }
        let (public, signing) = keys::public_key(jwk, &kid)?;
        let version = version_of_kid(&kid, &self.name)?;
        if !self.version.is_empty() && version != self.version {
            return Err(Error::new(format!(
                "Azure Key Vault answered version {version} of key {} for version {}: refusing it",
                self.name, self.version
            )));
        }
        Ok(VaultKey { public, signing, version, kid })
    }

    async fn sign(&self, key: &VaultKey, digest: &Digest) -> Result<Vec<u8>, Error> {
        let params =
            SignParameters { algorithm: Some(key.signing.algorithm.clone()), value: Some(digest.bytes.clone()) };
        let body =
            RequestContent::try_from(params).map_err(|e| Error::new(format!("encoding the sign request: {e}")))?;
        let options = KeyClientSignOptions { key_version: Some(key.version.clone()), ..Default::default() };
        let result = self
            .client
            .sign(&self.name, body, Some(options))
            .await
            .and_then(azure_core::http::Response::into_model)
            .map_err(|e| self.fail("sign", &e))?;
        if let Some(kid) = result.kid.as_deref() {
            if kid.trim_end_matches('/') != key.kid.trim_end_matches('/') {
                return Err(Error::new(format!(
                    "Azure Key Vault signed with {kid} when asked for {}: refusing the signature",
                    key.kid
                )));
            }
        }
        let raw = result.result.unwrap_or_default();
        match key.signing.ec_size {
            Some(size) if raw.len() == 2 * size => ecdsa::raw_to_der(&raw),
            Some(size) => Err(Error::new(format!(
                "Azure Key Vault answered a {}-byte ECDSA signature for {}, not the {} bytes of r || s",
                raw.len(),
                key.kid,
                2 * size
            ))),
            None if raw.is_empty() => {
                Err(Error::new(format!("Azure Key Vault answered an empty signature for {}", key.kid)))
            }
            None => Ok(raw),
        }
    }

    async fn verify_remote(&self, key: &VaultKey, digest: &Digest, signature: &[u8]) -> Result<(), Error> {
        let signature = match key.signing.ec_size {
            Some(size) => {
                ecdsa::der_to_raw(signature, size).map_err(|e| Error::new(format!("invalid signature: {e}")))?
            }
            None => signature.to_vec(),
        };
        let params = VerifyParameters {
            algorithm: Some(key.signing.algorithm.clone()),
            digest: Some(digest.bytes.clone()),
            signature: Some(signature),
        };
        let body =
            RequestContent::try_from(params).map_err(|e| Error::new(format!("encoding the verify request: {e}")))?;
        let result = self
            .client
            .verify(&self.name, &key.version, body, None)
            .await
            .and_then(azure_core::http::Response::into_model)
            .map_err(|e| self.fail("verify", &e))?;
        match result.value {
            Some(true) => Ok(()),
            _ => {
                Err(Error::new(format!("invalid signature: Azure Key Vault says it does not verify with {}", key.kid)))
            }
        }
    }

    /// The existing key, or a new one of `spec`: (key, existed).
    async fn create(&self, spec: KeySpec) -> Result<(VaultKey, bool), Error> {
        match self.get().await? {
            Ok(key) => return Ok((self.vault_key(&key)?, true)),
            Err(e) if e.http_status() == Some(StatusCode::NotFound) => {}
            Err(e) => return Err(self.fail("get key", &e)),
        }
        if !self.version.is_empty() {
            return Err(Error::new(format!(
                "version {} of key {} does not exist, and createKey cannot make it (Key Vault names the versions \
                 it creates): leave the version out of the key URI to create the key",
                self.version, self.target.key
            )));
        }
        let (kty, curve, key_size) = spec.create_parameters();
        let params = CreateKeyParameters {
            kty: Some(kty),
            curve,
            key_size,
            key_ops: Some(vec![KeyOperation::Sign, KeyOperation::Verify]),
            key_attributes: Some(KeyAttributes { enabled: Some(true), ..Default::default() }),
            tags: Some(HashMap::from([("use".to_owned(), "sigstore".to_owned())])),
            ..Default::default()
        };
        let body =
            RequestContent::try_from(params).map_err(|e| Error::new(format!("encoding the create request: {e}")))?;
        let key = self
            .client
            .create_key(&self.name, body, None)
            .await
            .and_then(azure_core::http::Response::into_model)
            .map_err(|e| self.fail("create key", &e))?;
        Ok((self.vault_key(&key)?, false))
    }
}

/// Makes rustls on *ring* the process's TLS provider (reqwest is built without one). Several
/// providers may share a process (the CLI); the first installed provider wins.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The version in a key ID `https://VAULT/keys/NAME/VERSION`.
fn version_of_kid(kid: &str, name: &str) -> Result<String, Error> {
    let parts: Vec<&str> = kid.trim_end_matches('/').rsplitn(3, '/').collect();
    match parts.as_slice() {
        [version, n, _] if *n == name && !version.is_empty() => Ok((*version).to_owned()),
        _ => Err(Error::new(format!(
            "Azure Key Vault answered key ID {kid:?}, which is not a version of key {name}: refusing it"
        ))),
    }
}

/// The version the call pins: the URI's, or the protocol's `keyVersion` option; both must agree.
fn pinned_version(key: &KeyRef, option: &str) -> Result<String, Error> {
    let option = option.trim();
    let valid = |v: &str| v.bytes().all(|b| b.is_ascii_alphanumeric());
    match (key.version.as_str(), option) {
        (v, "") => Ok(v.to_owned()),
        ("", o) if valid(o) => Ok(o.to_owned()),
        ("", o) => Err(Error::new(format!("keyVersion {o:?} is not a Key Vault key version (letters and digits)"))),
        (v, o) if v == o => Ok(v.to_owned()),
        (v, o) => Err(Error::new(format!(
            "the key URI pins version {v} but the keyVersion option asks for {o}: give one of them"
        ))),
    }
}

impl KmsHandler for AzureKms {
    fn default_algorithm(&self, ctx: &CallContext) -> Result<String, HandlerError> {
        KeyRef::parse(&ctx.key_resource_id)?;
        Ok(keys::DEFAULT.name.to_owned())
    }

    fn supported_algorithms(&self, ctx: &CallContext) -> Result<Vec<String>, HandlerError> {
        KeyRef::parse(&ctx.key_resource_id)?;
        Ok(keys::names())
    }

    fn create_key(&self, ctx: &CallContext, algorithm: &str) -> Result<String, HandlerError> {
        KeyRef::parse(&ctx.key_resource_id)?;
        let spec = KeySpec::from_name(algorithm)?;
        let c = Call::new(ctx)?;
        let pem = c.block_on("createKey", async {
            let s = c.connect()?;
            let (key, existed) = s.create(spec).await?;
            let wanted = KeySpec::from_name(spec.name)?;
            if existed && key.signing.algorithm.to_string() != wanted.name {
                eprintln!(
                    "sigstore-kms-azurekms: key {} already exists and signs with {}; answering its public key (asked \
                     for {})",
                    c.key, key.signing.algorithm, spec.name
                );
            }
            key.public.to_pem()
        })?;
        Ok(pem)
    }

    fn public_key(&self, ctx: &CallContext) -> Result<String, HandlerError> {
        let c = Call::new(ctx)?;
        let pem = c.block_on("publicKey", async { c.connect()?.key().await?.public.to_pem() })?;
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
            let s = c.connect()?;
            let key = s.key().await?;
            // The message is read and hashed here: only the digest travels.
            let digest = call::digest_for_key(ctx, opts, message, key.signing.hash)?;
            s.sign(&key, &digest).await
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
        if ctx.remote_verification {
            c.block_on("verifySignature", async {
                let s = c.connect()?;
                let key = s.key().await?;
                let digest = call::digest_for_key(ctx, opts, message, key.signing.hash)?;
                s.verify_remote(&key, &digest, signature).await
            })?;
            return Ok(());
        }
        let key = c.block_on("verifySignature", async { c.connect()?.key().await })?;
        let digest = call::digest_for_key(ctx, opts, message, key.signing.hash)?;
        key.public.verify(signature, Input::Digest(&digest.bytes), HashChoice::explicit(key.signing.hash))?;
        Ok(())
    }
}

/// Runs the plugin on this process's argv, stdin and stdout: the whole `main` of
/// `sigstore-kms-azurekms` (also called by the Python and Node packages' entry points).
#[must_use]
pub fn main_entry() -> ExitCode {
    sigstore_kms_plugins::plugin::serve(AzureKms::new())
}

/// Runs the plugin with explicit arguments (`args[0]` is the program name, then `v1` and the
/// request JSON) on this process's stdin and stdout, and returns the exit code: for embedders
/// whose process arguments are not the plugin's.
#[must_use]
#[allow(clippy::needless_pass_by_value)] // the signature embedders call, owned like std::env::args_os()
pub fn run_with_args(args: Vec<std::ffi::OsString>) -> i32 {
    sigstore_kms_plugins::plugin::serve_args(&args, &AzureKms::new())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_and_versions() {
        assert_eq!(version_of_kid("https://v.vault.azure.net/keys/k/abc123", "k").unwrap(), "abc123");
        assert!(version_of_kid("https://v.vault.azure.net/keys/other/abc123", "k").is_err());
        assert!(version_of_kid("https://v.vault.azure.net/keys/k", "k").is_err());
        let key = KeyRef::parse("v.vault.azure.net/k").unwrap();
        let pinned = KeyRef::parse("v.vault.azure.net/k/abc").unwrap();
        assert_eq!(pinned_version(&key, "").unwrap(), "");
        assert_eq!(pinned_version(&key, "def").unwrap(), "def");
        assert_eq!(pinned_version(&pinned, "abc").unwrap(), "abc");
        assert!(pinned_version(&pinned, "def").unwrap_err().to_string().contains("pins version abc"));
        assert!(pinned_version(&key, "a/b").is_err());
    }

    #[test]
    fn algorithm_methods_need_no_configuration() {
        let ctx = CallContext::new("v.vault.azure.net/k");
        assert_eq!(AzureKms.default_algorithm(&ctx).unwrap(), "ES256");
        assert_eq!(AzureKms.supported_algorithms(&ctx).unwrap(), keys::names());
        let e = AzureKms.default_algorithm(&CallContext::new("v/k/1/2")).unwrap_err().to_string();
        assert!(e.contains("invalid azurekms key reference"), "{e}");
        let e = AzureKms.create_key(&ctx, "any-algorithm").unwrap_err().to_string();
        assert!(e.contains("unsupported algorithm"), "{e}");
    }
}
