//! # sigstore-kms-localkms
//!
//! A Sigstore KMS plugin that keeps each key in a local PEM file, built on the plugin SDK of
//! [`sigstore_kms_plugins::plugin`]. Install the `sigstore-kms-localkms` program on `PATH` and
//! use the key URI `localkms://PATH-TO-KEY-FILE` with cosign, or any host of the protocol:
//!
//! ```text
//! cosign generate-key-pair --kms localkms://$HOME/keys/release.pem
//! cosign sign-blob --key localkms://$HOME/keys/release.pem artifact.tar.gz
//! ```
//!
//! It is the Rust counterpart of Go's example plugin (`test/cliplugin/localkms` in
//! sigstore/sigstore), with more algorithms and safer key files. As with Go's example, the key
//! reference is a file path, relative paths being relative to the host's working directory.
//! **A key file is only as safe as the file system it sits on**: use a real KMS or HSM for
//! keys that matter.
//!
//! ## Methods
//!
//! * `defaultAlgorithm`: `ecdsa-p256`. `supportedAlgorithms`: `ecdsa-p256`, `ecdsa-p384`,
//!   `ed25519`, `rsa-2048`, `rsa-3072`, `rsa-4096` (RSA signs with PKCS#1 v1.5).
//! * `createKey`: if the file exists, answers that key's public key and leaves the file alone
//!   (as Go's example does), whatever algorithm was asked for. Otherwise generates a key,
//!   writes it as an unencrypted PKCS#8 `PRIVATE KEY` PEM to a temporary file with mode 0600
//!   in the same directory, and moves it into place with a rename that refuses to replace an
//!   existing file (`renameat2(RENAME_NOREPLACE)`, or a hard link where that is not
//!   available): two concurrent `createKey` calls never clobber each other, and the loser
//!   answers the winner's key. An empty algorithm means the default.
//! * `publicKey`: the key's SubjectPublicKeyInfo as a `PUBLIC KEY` PEM.
//! * `signMessage`, `verifySignature`: see below.
//!
//! Key files may be PKCS#8 (`PRIVATE KEY`), SEC 1 (`EC PRIVATE KEY`) or PKCS#1
//! (`RSA PRIVATE KEY`) PEM; the first PEM block counts, so the keys Go's example plugin writes
//! (an RSA key, written twice in one file) work. Encrypted keys are refused.
//!
//! ## Which hash, which bytes
//!
//! The hash function of a call is, in order: the call's `messageOptions.hashFunc` if given and
//! not 0; else `initOptions.hashFunc` (the hash the host's client was loaded with: cosign
//! loads every KMS key with SHA-256, and this crate's host defaults to SHA-256 too) if not 0;
//! else the key's own default (SHA-384 for P-384, SHA-256 for P-256 and RSA). Go's example
//! plugin does the same, minus the last fallback (it would crash on hash 0). Only the SHA-2
//! family is supported (SHA-224, SHA-256, SHA-384, SHA-512, SHA-512/224, SHA-512/256).
//!
//! When the request carries a non-empty `digest`, that digest is signed (or verified) and
//! stdin is not read; an empty digest counts as none, as in Go's example.
//!
//! * **ECDSA** signs the digest as given (prehash signing, like Go's `ecdsa.SignASN1`) and
//!   answers an ASN.1 DER signature. cosign sends the message *and* a digest made with the
//!   key's natural hash (SHA-384 for a P-384 key) while `hashFunc` says SHA-256, so a digest
//!   is accepted when its length is that of a SHA-2 digest (28, 32, 48 or 64 bytes); when
//!   the call names its own `hashFunc`, the digest must have exactly that hash's length.
//! * **RSA** (PKCS#1 v1.5) needs the hash function for its DigestInfo: a digest whose length
//!   is not that of the call's hash is refused with a clear error.
//! * **Ed25519** is pure Ed25519 over the message (the hash is not used); a digest is refused,
//!   since pure Ed25519 cannot sign one (cosign's default for Ed25519 keys is Ed25519ph, which
//!   this plugin does not implement).
//!
//! Messages are streamed: ECDSA and RSA hash stdin in 64 KiB chunks; Ed25519, which must read
//! the message twice, keeps up to 8 MiB in memory and spools the rest to an unnamed temporary
//! file. An expired deadline (`ctxDeadline`) is refused before any work, as Go's
//! `ctx.Err()` check does.
//!
//! ## Crates, and why
//!
//! Everything is pure Rust from the RustCrypto project: `p256`/`p384` with `ecdsa` (ECDSA,
//! RFC 6979 deterministic nonces), `ed25519-dalek`, `rsa`, `sha2`, and `pkcs8`/`sec1`/`spki`
//! for the key formats, with `rand_core`'s `OsRng` (the operating system's generator, through
//! `getrandom`). No C compiler, assembler or system library is needed, so the plugin builds
//! wherever `cargo`, maturin or napi-rs build, including static musl binaries and Python
//! wheels. These are the 0.13/0.16/0.9/0.10 generation that shares `der`/`spki` 0.7 with the
//! core crate. Written files go through `tempfile`'s no-clobber persist.
//!
//! **The `rsa` crate and the Marvin attack (RUSTSEC-2023-0071).** The `rsa` crate's private-key
//! operation is not constant-time; the advisory has no fixed release. The attack needs an
//! attacker who can submit many chosen ciphertexts to a *decryption* oracle and time the
//! answers precisely. localkms only signs, never decrypts; its private-key operations run with
//! RSA blinding (`sign_with_rng`); and it is a short-lived local process reading a local key
//! file, which an attacker able to time it closely could likely read anyway. Prefer ECDSA or
//! Ed25519 keys all the same.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sigstore_kms_plugins::{CallContext, HandlerError, KmsHandler, MessageOptions};
use sigstore_kms_provider_kit::call::{self, check_deadline};

pub mod keys;
mod pem;

pub use keys::{Algorithm, PrivateKey};
/// Hashing and the hash rule, shared with the other provider plugins.
pub use sigstore_kms_provider_kit::hash;
pub use sigstore_kms_provider_kit::{Error, HashChoice, Input, PublicKey};

/// The name of the default algorithm, `ecdsa-p256`.
pub const DEFAULT_ALGORITHM: &str = "ecdsa-p256";

/// The plugin: a [`KmsHandler`] whose key reference is the path of a PEM key file.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalKms;

impl LocalKms {
    /// The handler.
    #[must_use]
    pub fn new() -> Self {
        LocalKms
    }

    /// Loads the key at `path`.
    pub fn load_key(path: &Path) -> Result<PrivateKey, Error> {
        let bytes = keys::read_key_file(path)?;
        PrivateKey::from_pem(&bytes).map_err(|e| Error::new(format!("{}: {e}", path.display())))
    }

    /// Creates a key at `path` with `algorithm` unless the file exists; answers the key in the
    /// file either way. See the crate docs for how the file is written.
    pub fn create_key_file(path: &Path, algorithm: Algorithm) -> Result<PrivateKey, Error> {
        if path.symlink_metadata().is_ok() {
            return Self::load_key(path);
        }
        let key = PrivateKey::generate(algorithm)?;
        let pem = key.to_pkcs8_pem()?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let write_failed =
            |e: &dyn std::fmt::Display| Error::new(format!("cannot write the key file {}: {e}", path.display()));
        let mut tmp = tempfile::Builder::new()
            .prefix(".localkms-")
            .suffix(".tmp")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .tempfile_in(&dir)
            .map_err(|e| write_failed(&e))?;
        std::io::Write::write_all(&mut tmp, pem.as_bytes()).map_err(|e| write_failed(&e))?;
        tmp.as_file().sync_all().map_err(|e| write_failed(&e))?;
        match tmp.persist_noclobber(path) {
            Ok(_) => {
                // Make the new name durable too (best effort).
                if let Ok(d) = std::fs::File::open(&dir) {
                    let _ = d.sync_all();
                }
                Ok(key)
            }
            // Someone else created it since we looked: theirs wins.
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Self::load_key(path),
            Err(e) => Err(write_failed(&e.error)),
        }
    }
}

/// The key file named by the call.
fn key_path(ctx: &CallContext) -> Result<PathBuf, Error> {
    if ctx.key_resource_id.is_empty() {
        return Err(Error::new("the key reference is empty: use localkms://PATH-TO-KEY-FILE"));
    }
    Ok(PathBuf::from(&ctx.key_resource_id))
}

fn hash_choice(ctx: &CallContext, opts: &MessageOptions, key: &PublicKey) -> HashChoice {
    call::hash_choice(ctx, opts, key.default_hash())
}

impl KmsHandler for LocalKms {
    fn default_algorithm(&self, _ctx: &CallContext) -> Result<String, HandlerError> {
        Ok(DEFAULT_ALGORITHM.to_owned())
    }

    fn supported_algorithms(&self, _ctx: &CallContext) -> Result<Vec<String>, HandlerError> {
        Ok(Algorithm::names())
    }

    fn create_key(&self, ctx: &CallContext, algorithm: &str) -> Result<String, HandlerError> {
        check_deadline(ctx)?;
        let algorithm = if algorithm.is_empty() { Algorithm::DEFAULT } else { algorithm.parse()? };
        let path = key_path(ctx)?;
        let existed = path.symlink_metadata().is_ok();
        let key = LocalKms::create_key_file(&path, algorithm)?;
        let public = key.public_key();
        if existed && public.describe() != algorithm.name() {
            eprintln!(
                "sigstore-kms-localkms: {} already exists and holds an {} key; answering that key (asked for {algorithm})",
                path.display(),
                public.describe()
            );
        }
        Ok(public.to_pem()?)
    }

    fn public_key(&self, ctx: &CallContext) -> Result<String, HandlerError> {
        check_deadline(ctx)?;
        Ok(LocalKms::load_key(&key_path(ctx)?)?.public_key().to_pem()?)
    }

    fn sign_message(
        &self,
        ctx: &CallContext,
        message: &mut dyn Read,
        opts: &MessageOptions,
    ) -> Result<Vec<u8>, HandlerError> {
        check_deadline(ctx)?;
        let key = LocalKms::load_key(&key_path(ctx)?)?;
        let choice = hash_choice(ctx, opts, &key.public_key());
        let input = match call::given_digest(opts) {
            Some(d) => Input::Digest(d),
            None => Input::Message(message),
        };
        Ok(key.sign(input, choice)?)
    }

    fn verify_signature(
        &self,
        ctx: &CallContext,
        signature: &[u8],
        message: &mut dyn Read,
        opts: &MessageOptions,
    ) -> Result<(), HandlerError> {
        check_deadline(ctx)?;
        let public = LocalKms::load_key(&key_path(ctx)?)?.public_key();
        let choice = hash_choice(ctx, opts, &public);
        let input = match call::given_digest(opts) {
            Some(d) => Input::Digest(d),
            None => Input::Message(message),
        };
        Ok(public.verify(signature, input, choice)?)
    }
}

/// Runs the plugin on this process's argv, stdin and stdout: the whole `main` of
/// `sigstore-kms-localkms` (also called by the Python and Node packages' entry points).
#[must_use]
pub fn main_entry() -> ExitCode {
    sigstore_kms_plugins::plugin::serve(LocalKms::new())
}

/// Runs the plugin with explicit arguments (`args[0]` is the program name, then `v1` and the
/// request JSON) on this process's stdin and stdout, and returns the exit code: for embedders
/// whose process arguments are not the plugin's (the Node and Python packages' entry points).
#[must_use]
#[allow(clippy::needless_pass_by_value)] // the signature embedders call, owned like std::env::args_os()
pub fn run_with_args(args: Vec<std::ffi::OsString>) -> i32 {
    sigstore_kms_plugins::plugin::serve_args(&args, &LocalKms::new())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
