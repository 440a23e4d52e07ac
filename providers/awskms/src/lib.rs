//! # sigstore-kms-awskms
//!
//! A Sigstore KMS plugin for AWS KMS keys: install the `sigstore-kms-awskms` program on `PATH`
//! and the key URIs cosign knows, `awskms://...`, work unchanged from every host of the plugin
//! protocol (this project's Rust, Python and Node packages and CLI, and any Go program built on
//! `sigstore/sigstore` without its AWS provider). It behaves as the Go provider
//! (`pkg/signature/kms/aws` of sigstore/sigstore, what cosign has built in) does, method for
//! method; the differences are listed at the end. User documentation, with examples:
//! `docs/providers/awskms.md`.
//!
//! ## Key URIs
//!
//! Parsed exactly as Go's `ParseReference` parses them (the same patterns, the same order):
//!
//! | form | example |
//! |---|---|
//! | key ID | `awskms:///1234abcd-12ab-34cd-56ef-1234567890ab`, `awskms:///mrk-1234abcd12ab34cd56ef1234567890ab` |
//! | key ARN | `awskms:///arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab` |
//! | alias name | `awskms:///alias/release` |
//! | alias ARN | `awskms:///arn:aws:kms:us-east-2:111122223333:alias/release` |
//!
//! Each may name an endpoint between the second and third slash,
//! `awskms://localhost:4566/alias/release`: requests then go to `https://localhost:4566`
//! (always https, as in Go). Without an endpoint the URI needs three slashes. A reference that
//! does not parse gets an error that lists these forms.
//!
//! ## Configuration
//!
//! The AWS SDK's standard configuration, as cosign's Go SDK reads it:
//!
//! * **Credentials**: the SDK's default chain: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
//!   `AWS_SESSION_TOKEN`; the shared files (`~/.aws/credentials`, `~/.aws/config`, or
//!   `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`) with the profile `AWS_PROFILE`
//!   (static keys, `role_arn` + `source_profile` / `credential_source`, IAM Identity Center
//!   `sso_session` / `sso_*`, `credential_process`, `web_identity_token_file`); web identity
//!   (`AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME`); the container
//!   credentials endpoint (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` / `_FULL_URI`); the EC2
//!   instance metadata service (IMDSv2; `AWS_EC2_METADATA_DISABLED=true` turns it off). The
//!   chain stops at the first source that is configured.
//! * **Region**: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, then the region of
//!   an ARN reference, then the instance metadata. Without one the call fails with an error
//!   that says where to set it.
//! * **Endpoint**: the endpoint in the URI (https); else `AWS_ENDPOINT_URL_KMS`, then
//!   `AWS_ENDPOINT_URL`, then the profile's `endpoint_url` / `services` section (all ignored
//!   when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`); else the region's AWS endpoint
//!   (`AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT` apply).
//! * **TLS**: the system's root certificates (`SSL_CERT_FILE`, `SSL_CERT_DIR`), or only those
//!   of `AWS_CA_BUNDLE` (a PEM file). `AWS_TLS_INSECURE_SKIP_VERIFY=1` turns certificate
//!   checks off (tests only), as in Go.
//! * **Proxy**: `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` (and lower case).
//! * **Retries**: `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE` (standard by default: 3 attempts),
//!   within the call's deadline.
//!
//! Nothing is read before it is needed: `defaultAlgorithm` and `supportedAlgorithms` check
//! the reference and answer without any configuration, file or network access.
//!
//! ## Methods
//!
//! * `defaultAlgorithm`: `ECC_NIST_P256`. `supportedAlgorithms`: `RSA_2048`, `RSA_3072`,
//!   `RSA_4096`, `ECC_NIST_P256`, `ECC_NIST_P384`, `ECC_NIST_P521` (Go's names, which are the
//!   AWS key specs). `createKey` also accepts the bundled localkms plugin's names
//!   (`ecdsa-p256`, `rsa-2048`, ...).
//! * `createKey`: answers the existing key's public key when the reference names one
//!   (whatever algorithm was asked for, as in Go). Otherwise, for an alias reference, creates
//!   an asymmetric `SIGN_VERIFY` key of that spec (description "Created by Sigstore", as Go)
//!   and the alias pointing to it. If another caller created the alias in the meantime, that
//!   key is answered and the key made here is scheduled for deletion (7 days; best effort).
//!   Key IDs and ARNs cannot be chosen, so a reference to a key that does not exist is an
//!   error.
//! * `publicKey`: the key's SubjectPublicKeyInfo (`GetPublicKey`) as a `PUBLIC KEY` PEM.
//! * `signMessage`: the key signs with its first signing algorithm (as Go: `ECDSA_SHA_256`
//!   for P-256, `ECDSA_SHA_384` for P-384, `ECDSA_SHA_512` for P-521, and `RSASSA_PSS_SHA_256`
//!   for RSA keys), found with `DescribeKey`. The message is hashed here with that algorithm's
//!   hash and only the digest is sent (`MessageType=DIGEST`), or the host's digest is sent as
//!   given (it must have that hash's length). A `hashFunc` in the request other than the
//!   key's hash is refused with an error naming the key's. ECDSA signatures are ASN.1 DER (what
//!   AWS returns), RSA signatures are the key's scheme.
//! * `verifySignature`: locally against the key's public key (one `GetPublicKey`), with the
//!   key's scheme and hash (or the request's `hashFunc`); with `remoteVerification`, by AWS KMS
//!   (`Verify`, `MessageType=DIGEST`). `keyVersion` is ignored: AWS KMS keys have no versions.
//!
//! ## Errors and deadlines
//!
//! Every failure is one `errorMessage` that says which operation on which key failed, what AWS
//! (or the network) said, and what to check: unknown key or alias, access denied (with the IAM
//! action needed), disabled or pending-deletion key, wrong key usage, throttling after the
//! retries, refused or expired credentials, no credentials, no region, an endpoint that is down
//! or does not answer, TLS failures. Secret keys and session tokens from the environment are
//! removed from every message. Each call's network work is bounded by the host's
//! `ctxDeadline` (60 s without one): the SDK's retries happen inside it, and a dead endpoint
//! fails with a clear error before the host gives up.
//!
//! ## Crates, and why
//!
//! `aws-sdk-kms` and `aws-config` are AWS's official Rust SDK, the counterparts of the Go SDK
//! that cosign uses: SigV4 signing, the whole credential and region chain (SSO, web identity,
//! assume-role, IMDSv2, `credential_process`), endpoint rules (FIPS, dual stack), retries with
//! backoff. A hand-written client would have to redo all of that. They are used without their
//! default features: the SDK's default HTTPS client is rustls on aws-lc, whose C build is the
//! largest single compile cost; the client here (module `http`) is the SDK's own hyper client
//! (`aws-smithy-http-client`) with rustls on *ring*, which the rest of the tree can share.
//! `aws-config` keeps `sso` (IAM Identity Center) and `credentials-process`, which cosign's chain
//! has too; the newer `credentials-login` (`aws login`) source is left out. The behaviour
//! version is pinned ([`config::behavior_version`]). Key references are matched with
//! `regex-lite` (a dependency of the SDK already) using Go's own patterns.
//!
//! Compile time (2 cores, cold cache, measured while other builds shared the machine, so the
//! wall times are upper bounds): a debug build of this crate and all it needs took 580
//! CPU-seconds with the workspace's dependency `opt-level = 2`, of which the five generated SDK
//! crates took 207; the workspace's dev profile now builds those five, like every dependency that
//! does no arithmetic or hashing, unoptimised (42 CPU-seconds: they make one request per call,
//! nothing is slower for it). A release build took 358
//! CPU-seconds. The table is in `docs/providers/awskms.md`.
//!
//! ## Differences from the Go provider
//!
//! * `createKey` answers an existing key for any reference form (Go refuses key IDs and ARNs
//!   before looking), checks the algorithm before anything else (Go passes any string to AWS),
//!   and survives a concurrent creation of the same alias (Go fails and leaves a stray key).
//! * `signMessage` needs `kms:DescribeKey` and `kms:Sign`; `verifySignature` needs
//!   `kms:GetPublicKey` (Go asks for both `DescribeKey` and `GetPublicKey` before either).
//! * The region may come from an ARN reference when nothing else sets it (Go then fails).

use std::io::Read;
use std::process::ExitCode;

use aws_sdk_kms::error::SdkError;
use aws_sdk_kms::operation::create_alias::CreateAliasError;
use aws_sdk_kms::operation::get_public_key::{GetPublicKeyError, GetPublicKeyOutput};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyUsageType, MessageType};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use sigstore_kms_plugins::{CallContext, HandlerError, HashFunc, KmsHandler, MessageOptions};
use sigstore_kms_provider_kit::call::{self, check_deadline, time_left};
use sigstore_kms_provider_kit::runtime::Runtime;
pub use sigstore_kms_provider_kit::Error;
use sigstore_kms_provider_kit::{HashChoice, Input, PublicKey};

pub mod algorithms;
pub mod config;
pub mod errors;
pub mod http;
pub mod reference;

use algorithms::Scheme;
pub use reference::Reference;

/// The plugin: a [`KmsHandler`] for `awskms://` key references.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsKms;

impl AwsKms {
    /// The handler.
    #[must_use]
    pub fn new() -> Self {
        AwsKms
    }
}

/// The time this call may still spend on the network: the host's deadline, less a margin (a
/// tenth, at most half a second) so that our own error, which says what timed out, reaches the
/// host before the host gives up and kills the plugin.
fn budget(ctx: &CallContext) -> Result<std::time::Duration, Error> {
    let left = time_left(ctx)?;
    let margin = (left / 10).min(std::time::Duration::from_millis(500));
    Ok(left.saturating_sub(margin))
}

/// One call's connection to AWS KMS: the runtime, the client, and the parsed reference.
struct Call<'a> {
    ctx: &'a CallContext,
    reference: Reference,
    runtime: Runtime,
    session: config::Session,
}

impl<'a> Call<'a> {
    /// Parses the reference and loads the configuration (within the call's deadline).
    fn open(ctx: &'a CallContext) -> Result<Self, Error> {
        let reference = Reference::parse(&ctx.key_resource_id)?;
        let runtime = Runtime::new("AWS KMS")?;
        let session = runtime.block_on(
            "loading the AWS configuration (region, credentials sources)",
            budget(ctx)?,
            config::load(&reference),
        )??;
        Ok(Call { ctx, reference, runtime, session })
    }

    /// Runs one request future within the time left.
    fn run<T, F: std::future::Future<Output = Result<T, Error>>>(&self, op: &str, f: F) -> Result<T, Error> {
        let what = format!("AWS KMS {op} for key {} at {}", self.session.target.key, self.session.target.endpoint);
        self.runtime.block_on(&what, budget(self.ctx)?, f)?
    }

    fn client(&self) -> &aws_sdk_kms::Client {
        &self.session.client
    }

    fn key_id(&self) -> &str {
        &self.reference.key_id
    }

    /// `GetPublicKey`: the key and its scheme.
    fn public_key(&self) -> Result<(PublicKey, Scheme), Error> {
        self.run("GetPublicKey", self.fetch_public_key(self.key_id()))
    }

    async fn fetch_public_key(&self, key_id: &str) -> Result<(PublicKey, Scheme), Error> {
        let out = self
            .get_public_key(key_id)
            .await
            .map_err(|e| errors::describe("GetPublicKey", &self.session.target, &e))?;
        self.parse_public_key(&out)
    }

    async fn get_public_key(
        &self,
        key_id: &str,
    ) -> Result<GetPublicKeyOutput, SdkError<GetPublicKeyError, HttpResponse>> {
        self.client().get_public_key().key_id(key_id).send().await
    }

    fn parse_public_key(&self, out: &GetPublicKeyOutput) -> Result<(PublicKey, Scheme), Error> {
        if out.key_usage() == Some(&KeyUsageType::EncryptDecrypt) {
            return Err(not_for_signing(&self.reference.key_id));
        }
        let der = out.public_key().map(Blob::as_ref).ok_or_else(|| {
            Error::new(format!(
                "AWS KMS GetPublicKey for key {} answered no public key: is it an asymmetric key?",
                self.reference.key_id
            ))
        })?;
        let public = PublicKey::from_spki_der(der).map_err(|e| {
            Error::new(format!(
                "the public key of AWS KMS key {} cannot be used: {e} (supported: RSA and NIST P-256/P-384/P-521 keys)",
                self.reference.key_id
            ))
        })?;
        let scheme = Scheme::of_key(&self.reference.key_id, out.signing_algorithms())?;
        Ok((public, scheme))
    }

    /// `DescribeKey`: the key's scheme (all `Sign` and `Verify` need).
    fn scheme(&self) -> Result<Scheme, Error> {
        self.run("DescribeKey", async {
            let out = self
                .client()
                .describe_key()
                .key_id(self.key_id())
                .send()
                .await
                .map_err(|e| errors::describe("DescribeKey", &self.session.target, &e))?;
            let meta = out.key_metadata().ok_or_else(|| {
                Error::new(format!("AWS KMS DescribeKey for key {} answered no key metadata", self.reference.key_id))
            })?;
            if meta.key_usage() == Some(&KeyUsageType::EncryptDecrypt) {
                return Err(not_for_signing(&self.reference.key_id));
            }
            Scheme::of_key(&self.reference.key_id, meta.signing_algorithms())
        })
    }

    /// `createKey` for a reference whose key does not exist.
    async fn create(&self, spec: aws_sdk_kms::types::KeySpec) -> Result<PublicKey, Error> {
        let target = &self.session.target;
        let created = self
            .client()
            .create_key()
            .key_spec(spec)
            .key_usage(KeyUsageType::SignVerify)
            .description("Created by Sigstore")
            .send()
            .await
            .map_err(|e| errors::describe("CreateKey", target, &e))?;
        let new_id = created
            .key_metadata()
            .map(|m| m.key_id().to_owned())
            .ok_or_else(|| Error::new("AWS KMS CreateKey answered no key ID"))?;
        let alias = self.client().create_alias().alias_name(&self.reference.alias).target_key_id(&new_id).send().await;
        match alias {
            Ok(_) => Ok(self.fetch_public_key(&new_id).await?.0),
            Err(e) if e.as_service_error().is_some_and(CreateAliasError::is_already_exists_exception) => {
                // Someone else created the alias since we looked: theirs wins, ours goes.
                let deleted =
                    self.client().schedule_key_deletion().key_id(&new_id).pending_window_in_days(7).send().await;
                if deleted.is_err() {
                    eprintln!(
                        "sigstore-kms-awskms: {} was created concurrently; the key {new_id} made by this call is \
                         unused and could not be scheduled for deletion (needs kms:ScheduleKeyDeletion): delete it \
                         by hand",
                        self.reference.alias
                    );
                }
                Ok(self.fetch_public_key(self.key_id()).await?.0)
            }
            Err(e) => {
                eprintln!(
                    "sigstore-kms-awskms: the key {new_id} was created but the alias {} was not; it is unused",
                    self.reference.alias
                );
                Err(errors::describe("CreateAlias", target, &e))
            }
        }
    }
}

fn not_for_signing(key: &str) -> Error {
    Error::new(format!(
        "the AWS KMS key {key} is an encryption key (key usage ENCRYPT_DECRYPT), not a signing key: use an asymmetric \
         key with key usage SIGN_VERIFY"
    ))
}

/// The message as the KMS gets it: the host's digest, or stdin.
fn input<'a>(opts: &'a MessageOptions, message: &'a mut dyn Read) -> Input<'a> {
    match call::given_digest(opts) {
        Some(d) => Input::Digest(d),
        None => Input::Message(message),
    }
}

/// The hash of a verification: the request's `hashFunc` when it names one, else the key's.
fn verify_hash(opts: &MessageOptions, key: HashFunc) -> HashFunc {
    opts.hash_func.filter(|h| *h != HashFunc::None).unwrap_or(key)
}

impl KmsHandler for AwsKms {
    fn default_algorithm(&self, ctx: &CallContext) -> Result<String, HandlerError> {
        Reference::parse(&ctx.key_resource_id)?;
        Ok(algorithms::DEFAULT.to_owned())
    }

    fn supported_algorithms(&self, ctx: &CallContext) -> Result<Vec<String>, HandlerError> {
        Reference::parse(&ctx.key_resource_id)?;
        Ok(algorithms::SUPPORTED.iter().map(|(go, _)| (*go).to_owned()).collect())
    }

    fn create_key(&self, ctx: &CallContext, algorithm: &str) -> Result<String, HandlerError> {
        check_deadline(ctx)?;
        Reference::parse(&ctx.key_resource_id)?;
        let spec = algorithms::key_spec(algorithm)?;
        let call = Call::open(ctx)?;
        let existing = call.run("GetPublicKey", async { Ok(call.get_public_key(call.key_id()).await) })?;
        let public = match existing {
            Ok(out) => {
                let public = call.parse_public_key(&out)?.0;
                if out.key_spec().is_some_and(|s| *s != spec) {
                    eprintln!(
                        "sigstore-kms-awskms: {} already exists and is an {} key; answering that key (asked for {})",
                        call.reference,
                        out.key_spec().map_or("unknown", |s| s.as_str()),
                        spec.as_str()
                    );
                }
                public
            }
            Err(e) if e.as_service_error().is_some_and(GetPublicKeyError::is_not_found_exception) => {
                if call.reference.alias.is_empty() {
                    return Err(Error::new(format!(
                        "the AWS KMS key {} does not exist, and createKey can only create keys for an alias reference \
                         (awskms:///alias/NAME): AWS KMS chooses key IDs itself",
                        call.reference.key_id
                    ))
                    .into());
                }
                call.run("CreateKey", call.create(spec.clone()))?
            }
            Err(e) => return Err(errors::describe("GetPublicKey", &call.session.target, &e).into()),
        };
        Ok(public.to_pem()?)
    }

    fn public_key(&self, ctx: &CallContext) -> Result<String, HandlerError> {
        check_deadline(ctx)?;
        let call = Call::open(ctx)?;
        Ok(call.public_key()?.0.to_pem()?)
    }

    fn sign_message(
        &self,
        ctx: &CallContext,
        message: &mut dyn Read,
        opts: &MessageOptions,
    ) -> Result<Vec<u8>, HandlerError> {
        check_deadline(ctx)?;
        let call = Call::open(ctx)?;
        let scheme = call.scheme()?;
        // Hashing reads stdin: done between the two requests, outside the runtime.
        let digest = call::digest_for_key(ctx, opts, message, scheme.hash)?;
        check_deadline(ctx)?;
        let signature = call.run("Sign", async {
            let out = call
                .client()
                .sign()
                .key_id(call.key_id())
                .message(Blob::new(digest.bytes))
                .message_type(MessageType::Digest)
                .signing_algorithm(scheme.algorithm.clone())
                .send()
                .await
                .map_err(|e| errors::describe("Sign", &call.session.target, &e))?;
            out.signature.map(Blob::into_inner).ok_or_else(|| Error::new("AWS KMS Sign answered no signature"))
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
        check_deadline(ctx)?;
        let call = Call::open(ctx)?;
        if !ctx.remote_verification {
            let (public, scheme) = call.public_key()?;
            let hash = HashChoice::explicit(verify_hash(opts, scheme.hash));
            return Ok(public.verify_with(signature, input(opts, message), hash, scheme.padding)?);
        }
        let scheme = call.scheme()?;
        let digest = call::digest_for_key(ctx, opts, message, scheme.hash)?;
        check_deadline(ctx)?;
        call.run("Verify", async {
            let out = call
                .client()
                .verify()
                .key_id(call.key_id())
                .message(Blob::new(digest.bytes))
                .message_type(MessageType::Digest)
                .signature(Blob::new(signature))
                .signing_algorithm(scheme.algorithm.clone())
                .send()
                .await;
            match out {
                Ok(o) if o.signature_valid => Ok(()),
                Ok(_) => Err(Error::new("invalid signature: AWS KMS Verify says it does not verify")),
                Err(e) => Err(errors::describe("Verify", &call.session.target, &e)),
            }
        })?;
        Ok(())
    }
}

/// Runs the plugin on this process's argv, stdin and stdout: the whole `main` of
/// `sigstore-kms-awskms`.
#[must_use]
pub fn main_entry() -> ExitCode {
    sigstore_kms_plugins::plugin::serve(AwsKms::new())
}

/// Runs the plugin with explicit arguments (`args[0]` is the program name, then `v1` and the
/// request JSON) on this process's stdin and stdout, and returns the exit code: for embedders
/// whose process arguments are not the plugin's (the Node and Python packages' entry points).
#[must_use]
#[allow(clippy::needless_pass_by_value)] // the signature embedders call, owned like std::env::args_os()
pub fn run_with_args(args: Vec<std::ffi::OsString>) -> i32 {
    sigstore_kms_plugins::plugin::serve_args(&args, &AwsKms::new())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
