//! # sigstore-kms-hashivault
//!
//! Sigstore KMS plugins for keys in the transit secrets engine of HashiCorp Vault and OpenBao:
//! the programs `sigstore-kms-hashivault` and `sigstore-kms-openbao`, which serve the key URIs
//! that cosign's built-in provider (sigstore/sigstore `pkg/signature/kms/hashivault`) accepts,
//! with the same configuration, so that those URIs work unchanged from every host of the plugin
//! protocol (our Rust, Python and Node packages and CLI, and Go programs built without the
//! provider).
//!
//! ```text
//! export VAULT_ADDR=https://vault.example.com:8200 VAULT_TOKEN=...
//! sigstore-kms generate-key --key hashivault://release       # a transit key, ecdsa-p256
//! sigstore-kms sign --key hashivault://release artifact.tar.gz
//! ```
//!
//! ## Key URIs
//!
//! `hashivault://KEY` and `openbao://KEY` (the Go provider registers both for one provider;
//! each program accepts either). `KEY` is the transit key's name, parsed exactly as Go's
//! `referenceRegex` `^(?:hashivault|openbao)://(?P<path>\w(([\w-.]+)?\w)?)$`: ASCII letters,
//! digits and `_`, with `-` and `.` also allowed except first and last; no `/` (the mount comes
//! from `TRANSIT_SECRET_ENGINE_PATH`). See [`mod@reference`].
//!
//! ## Configuration (environment variables)
//!
//! Each `VAULT_X` below is also read as `BAO_X` (OpenBao's name); the `VAULT_` one wins when both
//! are set and non-empty. An empty variable counts as unset, as in Go. A malformed value is an
//! error that names the variable.
//!
//! | variable | meaning |
//! |---|---|
//! | `VAULT_ADDR` / `BAO_ADDR` | the server, `http(s)://HOST:PORT[/PREFIX]` (required; Go reads `VAULT_ADDR`, then `BAO_ADDR`) |
//! | `VAULT_TOKEN` / `BAO_TOKEN` | the token; without one, the CLI token helper (below) |
//! | `VAULT_CONFIG_PATH` / `BAO_CONFIG_PATH` | the CLI config naming an external `token_helper` (default `~/.vault`, else `~/.bao`) |
//! | `VAULT_TOKEN_PATH` / `BAO_TOKEN_PATH` | the internal helper's token file (default `~/.vault-token`, which `vault login` and `bao login` write) |
//! | `VAULT_NAMESPACE` / `BAO_NAMESPACE` | the namespace (`X-Vault-Namespace`) |
//! | `TRANSIT_SECRET_ENGINE_PATH` | the transit mount (default `transit`; may be nested, e.g. `teams/signing`) |
//! | `VAULT_KEY_PREFIX` | the signature prefix for remote verification when the call names no key version, e.g. `vault:v2:` (also selects that version for local verification) |
//! | `VAULT_CACERT` | a PEM file of CA certificates to trust instead of the system's |
//! | `VAULT_CACERT_BYTES` | the same, as PEM text |
//! | `VAULT_CAPATH` | a directory of PEM CA files (CACERT wins over CACERT_BYTES, which wins over CAPATH, as in Go) |
//! | `VAULT_CLIENT_CERT`, `VAULT_CLIENT_KEY` | a client certificate and key (PEM files) for TLS client authentication; both or neither (`BAO_CLIENT_CERT_BYTES`/`BAO_CLIENT_KEY_BYTES`: PEM text, OpenBao's) |
//! | `VAULT_TLS_SERVER_NAME` | the name sent in SNI and checked in the server's certificate |
//! | `VAULT_SKIP_VERIFY` | `true`: do not verify the server's certificate (testing only) |
//! | `VAULT_HEADERS` | extra request headers, a JSON object of strings (`X-Vault-*` refused, as in Go) |
//! | `VAULT_PROXY_ADDR` (or `VAULT_HTTP_PROXY`) | a proxy for every request |
//! | `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` | otherwise, the standard proxy variables as Go applies them (never for loopback) |
//! | `VAULT_CLIENT_TIMEOUT` | an upper bound for each request (seconds, or `30s`, `2m`); the host's deadline always bounds it too |
//! | `SSL_CERT_FILE`, `SSL_CERT_DIR` | where the system roots are read from (as Go reads them on Linux) |
//!
//! What HashiCorp's Go client reads that the Go provider does not apply (it builds its client
//! from `&Config{Address}`, so these stay in the unused default configuration), and so neither
//! do we: `VAULT_AGENT_ADDR`, `VAULT_MAX_RETRIES` (no retries), `VAULT_RATE_LIMIT`,
//! `VAULT_SRV_LOOKUP`, `VAULT_DISABLE_REDIRECTS` (one redirect is followed), `VAULT_WRAP_TTL`
//! and `VAULT_MFA` (a wrapped signing response could not be used). `VAULT_CLIENT_TIMEOUT` is the
//! exception: Go ignores it too, but a bound the user asked for is honoured. `unix://`
//! addresses are refused with a clear error. The Go provider's `log.Printf` lines are not
//! printed.
//!
//! ### The token
//! [`token`]: `VAULT_TOKEN`, then `BAO_TOKEN`; else the external helper named by
//! `token_helper = "PATH"` in the CLI config (run as `PATH get`, bounded by the deadline); else
//! the token file. The token is a [`sigstore_kms_provider_kit::Secret`]: it appears in no error
//! message (server answers and helper output are scrubbed of it) and no log line.
//!
//! ## Methods
//!
//! * `defaultAlgorithm`: `ecdsa-p256`. `supportedAlgorithms`: `ecdsa-p256`, `ecdsa-p384`,
//!   `ecdsa-p521`, `ed25519`, `rsa-2048`, `rsa-3072`, `rsa-4096` (the Go provider's names,
//!   which are transit's key types).
//! * `createKey`: `POST {mount}/keys/KEY` with the type, then the key's public key. Transit
//!   leaves an existing key as it is, so an existing key's public key is answered (with a note
//!   on stderr when its type differs from the one asked for), as in Go.
//! * `publicKey`: the SubjectPublicKeyInfo PEM of the latest version, or of `keyVersion`
//!   (Ed25519 keys, which transit returns as raw base64, are converted).
//! * `signMessage`: ECDSA and RSA keys sign a digest, made here from the message with the call's
//!   hash (or the digest the host sent), sent with `prehashed=true`, the hash as
//!   `hash_algorithm`, `marshaling_algorithm=asn1` and `signature_algorithm=pkcs1v15` (what Go
//!   sends): ECDSA signatures are ASN.1 DER, RSA PKCS#1 v1.5. Ed25519 keys sign the message
//!   itself (pure Ed25519), which travels to Vault; a digest cannot be signed. `keyVersion`
//!   picks the version (empty or `0`: the latest). The `vault:vN:` prefix is removed.
//! * `verifySignature`: locally against the public key of `keyVersion` (else the version of
//!   `VAULT_KEY_PREFIX`, else the latest); with `remoteVerification`, by transit's `verify`
//!   with the prefix `vault:vN:` of the same version.
//!
//! The hash of a call is `messageOptions.hashFunc`, else `initOptions.hashFunc` (cosign loads
//! keys with SHA-256, as our hosts do), else SHA-256; transit takes SHA-224, SHA-256, SHA-384 and
//! SHA-512. As in Go, a P-384 key loaded with SHA-256 signs SHA-256 digests. A digest the host
//! sends without naming its hash is taken for the call's hash when its length matches, else for
//! ECDSA by its length (cosign sends a P-384 key a SHA-384 digest).
//!
//! Differences from the Go provider, each deliberate: remote verification without a key version
//! uses the latest version (Go assumes `vault:v1:`, which fails after a rotation unless
//! `VAULT_KEY_PREFIX` is set), and sends `signature_algorithm=pkcs1v15` (Go does not, so
//! transit verifies RSA signatures as PSS and refuses the PKCS#1 v1.5 signatures it made);
//! Ed25519 signs the message, where Go, loaded by cosign with SHA-256, signs the SHA-256 digest
//! as if it were the message, which no standard Ed25519 verifier accepts; `publicKey` honours
//! `keyVersion` (Go always answers the latest).
//!
//! ## Failures
//!
//! Every call is bounded by the host's `ctxDeadline` (each request gets what is left of it; 60
//! s without one). Every failure is one `errorMessage` that says what failed and what to check:
//! permission denied (403: token invalid, expired or revoked, or the policy), unknown key, no
//! transit mount at the path, unknown namespace, a key that cannot sign, a sealed server (503),
//! rate limiting (429), the server down or unreachable, TLS problems, a timeout.
//!
//! ## The HTTP client, and why
//!
//! A small client on the transit HTTP API ([`client`]), on `ureq` 3 (blocking HTTP/1.1) with
//! rustls and ring, rather than `vaultrs` (async, on `reqwest`, `tokio` and `rustify`) or
//! `reqwest`'s blocking client (which runs `tokio` and `hyper` underneath). One plugin process
//! makes one to three requests, so an async runtime buys nothing, and the transit API needs
//! three calls. Measured on this project's 2-core machine (shared, so CPU seconds, user+sys, are
//! the figures to compare), a clean `cargo build -j2` of each HTTP stack alone with the
//! workspace's `opt-level = 2` for dependencies: `ureq`+rustls 86 s (31 crates), `reqwest`
//! blocking+rustls 186 s (122 crates), `vaultrs` 389 s (155 crates). This crate over the core
//! and the kit: 77 s to build (59 s of which are rustls and ring, which the AWS provider
//! compiles anyway in a workspace build), 12 s more for clippy, 9 s for its tests. The
//! certificate roots are the system's (`rustls-native-certs`), as Go uses them, falling back to
//! Mozilla's where the system has none. A signature through `sigstore-kms sign` and this plugin
//! (debug build, local OpenBao) takes 10 ms wall and 7 ms CPU, median of 21; `cosign sign-blob`
//! with its built-in provider on the same key, 81 ms and 54 ms (farm-bench, in turn).
//!
//! ## Programs
//!
//! Two `[[bin]]` targets over this library, one per scheme, rather than one program answering
//! to two names through a link: links do not survive in wheels (zip files) or npm tarballs, and
//! each name must be a real executable on `PATH`. [`run_with_args`] picks the scheme from the
//! program name, for the Python and Node packages' entry points.

use std::io::Read;
use std::process::ExitCode;

use sigstore_kms_plugins::{CallContext, HandlerError, HashFunc, KmsHandler, MessageOptions};
use sigstore_kms_provider_kit::public_key::ed25519_digest_error;
use sigstore_kms_provider_kit::{call, hash, HashChoice, Input, RsaPadding};

pub mod client;
pub mod config;
pub mod reference;
pub mod token;
pub mod transit;

pub use reference::Scheme;
pub use sigstore_kms_provider_kit::Error;

use crate::client::Client;
use crate::config::{Environment, ProcessEnv, Settings};
use crate::transit::{KeyInfo, KeyKind, Transit};

/// The largest message an Ed25519 key signs: it travels to Vault inside the JSON request
/// (base64, 4/3 larger), and Vault's default `max_request_size` is 32 MiB.
pub const MAX_ED25519_MESSAGE: u64 = 24 * 1024 * 1024;

/// The plugin: a [`KmsHandler`] for transit keys, configured from the environment.
pub struct HashiVault {
    scheme: Scheme,
    env: Box<dyn Environment + Send + Sync>,
}

impl std::fmt::Debug for HashiVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashiVault").field("scheme", &self.scheme).finish_non_exhaustive()
    }
}

impl HashiVault {
    /// The handler for `scheme`, configured from the process environment.
    #[must_use]
    pub fn new(scheme: Scheme) -> Self {
        HashiVault { scheme, env: Box::new(ProcessEnv) }
    }

    /// The handler for `scheme`, configured from `env` instead of the process environment.
    #[must_use]
    pub fn with_env(scheme: Scheme, env: impl Environment + Send + Sync + 'static) -> Self {
        HashiVault { scheme, env: Box::new(env) }
    }

    /// The scheme this handler serves.
    #[must_use]
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    fn key_name(&self, ctx: &CallContext) -> Result<String, Error> {
        reference::parse(&ctx.key_resource_id, self.scheme)
    }

    fn connect(&self, ctx: &CallContext) -> Result<Client, Error> {
        let settings = Settings::from_env(&*self.env)?;
        let token = token::resolve(&*self.env, call::time_left(ctx)?)?;
        Client::new(settings, token, &*self.env)
    }

    fn transit<'a>(&self, client: &'a Client, key: &'a str, ctx: &'a CallContext) -> Transit<'a> {
        Transit { client, key, scheme: self.scheme, ctx }
    }
}

/// What a key signs for a call: the message (Ed25519) or a digest and its hash.
enum Signed {
    Message(Vec<u8>),
    Digest(HashFunc, Vec<u8>),
}

impl Signed {
    fn parts(&self) -> (&[u8], Option<HashFunc>) {
        match self {
            Signed::Message(m) => (m, None),
            Signed::Digest(h, d) => (d, Some(*h)),
        }
    }
}

/// The hash of a SHA-2 digest by its length, for a digest sent without its hash.
fn hash_by_length(len: usize) -> Option<HashFunc> {
    match len {
        28 => Some(HashFunc::Sha224),
        32 => Some(HashFunc::Sha256),
        48 => Some(HashFunc::Sha384),
        64 => Some(HashFunc::Sha512),
        _ => None,
    }
}

/// What to send to transit's sign or verify for this call (see the crate docs).
fn signed_input(
    kind: KeyKind,
    ctx: &CallContext,
    opts: &MessageOptions,
    message: &mut dyn Read,
) -> Result<Signed, Error> {
    let choice = call::hash_choice(ctx, opts, HashFunc::Sha256);
    if kind == KeyKind::Ed25519 {
        if call::given_digest(opts).is_some() {
            return Err(ed25519_digest_error());
        }
        let mut m = Vec::new();
        message
            .take(MAX_ED25519_MESSAGE + 1)
            .read_to_end(&mut m)
            .map_err(|e| Error::new(format!("reading the message failed: {e}")))?;
        if m.len() as u64 > MAX_ED25519_MESSAGE {
            return Err(Error::new(format!(
                "the message is larger than {} MiB: an Ed25519 key signs the message itself, which travels to Vault in \
                 the request (limited by Vault's max_request_size); use an ECDSA or RSA key for large messages",
                MAX_ED25519_MESSAGE >> 20
            )));
        }
        return Ok(Signed::Message(m));
    }
    let Some(digest) = call::given_digest(opts) else {
        transit::hash_name(choice.hash)?;
        return Ok(Signed::Digest(choice.hash, hash::digest_reader(choice.hash, message)?));
    };
    let matches = Some(digest.len()) == choice.hash.digest_len();
    let hash = match (matches, choice.explicit, kind) {
        (true, _, _) => choice.hash,
        (false, false, KeyKind::Ecdsa) => hash_by_length(digest.len()).ok_or_else(|| {
            Error::new(format!(
                "the digest is {} bytes, which is not the length of a SHA-224, SHA-256, SHA-384 or SHA-512 digest",
                digest.len()
            ))
        })?,
        _ => {
            return Err(Error::new(format!(
                "the digest is {} bytes, but a {} digest is {} bytes: send the digest's hash function as hashFunc",
                digest.len(),
                choice.hash.go_name(),
                choice.hash.digest_len().unwrap_or(0)
            )))
        }
    };
    transit::hash_name(hash)?;
    Ok(Signed::Digest(hash, digest.to_vec()))
}

/// The algorithm asked for, checked (empty: the default).
fn algorithm(asked: &str) -> Result<&str, Error> {
    let asked = asked.trim();
    if asked.is_empty() {
        return Ok(transit::DEFAULT_ALGORITHM);
    }
    transit::ALGORITHMS.iter().copied().find(|a| *a == asked).ok_or_else(|| {
        Error::new(format!(
            "algorithm {asked:?} is not supported for transit signing keys: use one of {}",
            transit::ALGORITHMS.join(", ")
        ))
    })
}

/// The version a verification uses: `keyVersion`, else `VAULT_KEY_PREFIX`'s, else the latest.
fn verify_version(ctx: &CallContext, settings: &Settings, info: &KeyInfo, key: &str) -> Result<u64, Error> {
    let asked = transit::parse_key_version(&ctx.key_version, false)?;
    let asked = asked.or_else(|| settings.key_prefix.as_ref().and_then(|p| p.version));
    let v = info.version(key, asked)?;
    if v < info.min_decryption_version {
        return Err(Error::new(format!(
            "version {v} of transit key {key:?} is below its min_decryption_version ({}): Vault no longer verifies with \
             it",
            info.min_decryption_version
        )));
    }
    Ok(v)
}

impl KmsHandler for HashiVault {
    fn default_algorithm(&self, _ctx: &CallContext) -> Result<String, HandlerError> {
        Ok(transit::DEFAULT_ALGORITHM.to_owned())
    }

    fn supported_algorithms(&self, _ctx: &CallContext) -> Result<Vec<String>, HandlerError> {
        Ok(transit::ALGORITHMS.iter().map(|a| (*a).to_owned()).collect())
    }

    fn create_key(&self, ctx: &CallContext, asked: &str) -> Result<String, HandlerError> {
        call::check_deadline(ctx)?;
        let key = self.key_name(ctx)?;
        let algorithm = algorithm(asked)?;
        let client = self.connect(ctx)?;
        let info = self.transit(&client, &key, ctx).create(algorithm)?;
        if info.key_type != algorithm {
            eprintln!(
                "{}: transit key {key:?} already exists as a {} key; answering that key (asked for {algorithm})",
                self.scheme.program(),
                info.key_type
            );
        }
        Ok(info.public_key(&key, None)?.to_pem()?)
    }

    fn public_key(&self, ctx: &CallContext) -> Result<String, HandlerError> {
        call::check_deadline(ctx)?;
        let key = self.key_name(ctx)?;
        let version = transit::parse_key_version(&ctx.key_version, true)?;
        let client = self.connect(ctx)?;
        let info = self.transit(&client, &key, ctx).read()?;
        Ok(info.public_key(&key, version)?.to_pem()?)
    }

    fn sign_message(
        &self,
        ctx: &CallContext,
        message: &mut dyn Read,
        opts: &MessageOptions,
    ) -> Result<Vec<u8>, HandlerError> {
        call::check_deadline(ctx)?;
        let key = self.key_name(ctx)?;
        let version = transit::parse_key_version(&ctx.key_version, true)?;
        let client = self.connect(ctx)?;
        let t = self.transit(&client, &key, ctx);
        let info = t.read()?;
        let kind = info.kind(&key)?;
        if let Some(v) = version {
            info.version(&key, Some(v))?;
            if v < info.min_encryption_version {
                return Err(Error::new(format!(
                    "version {v} of transit key {key:?} is below its min_encryption_version ({}): Vault no longer signs \
                     with it; use a newer version",
                    info.min_encryption_version
                ))
                .into());
            }
        }
        let signed = signed_input(kind, ctx, opts, message)?;
        let (input, hash) = signed.parts();
        Ok(t.sign(input, hash, version)?)
    }

    fn verify_signature(
        &self,
        ctx: &CallContext,
        signature: &[u8],
        message: &mut dyn Read,
        opts: &MessageOptions,
    ) -> Result<(), HandlerError> {
        call::check_deadline(ctx)?;
        let key = self.key_name(ctx)?;
        transit::parse_key_version(&ctx.key_version, false)?;
        let client = self.connect(ctx)?;
        let t = self.transit(&client, &key, ctx);
        let info = t.read()?;
        let kind = info.kind(&key)?;
        let version = verify_version(ctx, client.settings(), &info, &key)?;
        if ctx.remote_verification {
            let prefix = match (ctx.key_version.trim().is_empty(), &client.settings().key_prefix) {
                (true, Some(p)) => p.prefix.clone(),
                _ => format!("vault:v{version}:"),
            };
            let signed = signed_input(kind, ctx, opts, message)?;
            let (input, hash) = signed.parts();
            return Ok(t.verify(signature, input, hash, &prefix)?);
        }
        let public = info.public_key(&key, Some(version))?;
        let choice: HashChoice = call::hash_choice(ctx, opts, HashFunc::Sha256);
        let input = match call::given_digest(opts) {
            Some(d) => Input::Digest(d),
            None => Input::Message(message),
        };
        Ok(public.verify_with(signature, input, choice, RsaPadding::Pkcs1v15)?)
    }
}

/// Runs the plugin for `scheme` on this process's argv, stdin and stdout: the whole `main` of
/// `sigstore-kms-hashivault` and `sigstore-kms-openbao`.
#[must_use]
pub fn main_entry(scheme: Scheme) -> ExitCode {
    sigstore_kms_plugins::plugin::serve(HashiVault::new(scheme))
}

/// Runs the plugin with explicit arguments (`args[0]` is the program name, which picks the
/// scheme: see [`Scheme::from_program`]; then `v1` and the request JSON) on this process's stdin
/// and stdout, and returns the exit code: for embedders whose process arguments are not the
/// plugin's (the Python and Node packages' entry points).
#[must_use]
#[allow(clippy::needless_pass_by_value)] // the signature embedders call, owned like std::env::args_os()
pub fn run_with_args(args: Vec<std::ffi::OsString>) -> i32 {
    let program = args.first().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let handler = HashiVault::new(Scheme::from_program(&program));
    sigstore_kms_plugins::plugin::serve_args(&args, &handler)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests;
