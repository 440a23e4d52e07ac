//! # sigstore-kms-pkcs11
//!
//! A Sigstore KMS plugin for hardware security modules, smart cards and security keys (and
//! SoftHSM) through PKCS#11: the program `sigstore-kms-pkcs11`, which every host of the
//! protocol runs for `pkcs11:` key URIs (cosign's and Go's hosts for `pkcs11://` ones).
//!
//! ## Key URIs
//!
//! The key is named by an RFC 7512 PKCS#11 URI, the form cosign, p11-kit, OpenSSL and GnuTLS
//! use, in either of two spellings that mean the same key:
//!
//! ```text
//! pkcs11:token=ci;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/run/secrets/pin
//! pkcs11://token=ci;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/run/secrets/pin
//! ```
//!
//! The first is what users copy from their tools (`sigstore-kms pkcs11 list-keys` prints it);
//! this repository's hosts (Rust, Python, Node, the `sigstore-kms` CLI) map the plain
//! `pkcs11:` scheme to this plugin. The second is the plugin form every host of the protocol
//! understands, including Go's `kms.Get`. Either way the plugin receives everything after
//! `pkcs11:` (or `pkcs11://`) as its key reference. (cosign itself treats both spellings as
//! its own PKCS#11 keys, which need a cosign built with the `pkcs11key` tag: verify its
//! signatures with the exported public key instead, `cosign verify-blob --key key.pub`.)
//!
//! Path attributes (before `?`, separated by `;`), all optional; every one given must match:
//!
//! | attribute | matches |
//! |---|---|
//! | `token`, `manufacturer`, `model`, `serial` | the token's label, manufacturer ID, model, serial number |
//! | `slot-id`, `slot-description`, `slot-manufacturer` | the slot (`slot-id` is the decimal `CK_SLOT_ID`) |
//! | `library-manufacturer`, `library-description`, `library-version` | the module (`C_GetInfo`) |
//! | `object` | the key's `CKA_LABEL` |
//! | `id` | the key's `CKA_ID`, percent-encoded byte by byte: `id=%01%a2` |
//! | `type` | `private` or `public` (both name the key pair); other types are refused |
//!
//! Query attributes (after `?`, separated by `&`; cosign's `;` works too): `module-path` (the
//! module's shared library, an absolute path), `pin-value` (the user PIN), `pin-source` (a file
//! holding the PIN: a path, `file:/path` or `file:///path`; one trailing newline is dropped).
//! Values are percent-decoded; `+` is a plus sign, not a space. Attributes starting with `x-`
//! are ignored; any other unknown attribute is an error (a typo must not widen a match), and
//! so is `module-name` (module directories differ between systems: give `module-path`).
//!
//! A URI needs a token only when the module has more than one initialized token, and an
//! object (`object` or `id`) only when the token has more than one key; an ambiguous URI is an
//! error that says what to add. `createKey` needs `object` or `id`.
//!
//! ## Configuration
//!
//! * The module: `module-path`, else `SIGSTORE_KMS_PKCS11_MODULE`, else cosign's
//!   `COSIGN_PKCS11_MODULE_PATH`.
//! * `SIGSTORE_KMS_PKCS11_SERIALIZE=0`: let the calls on this machine use a module at the
//!   same time. By default they take turns (an `flock` on a file in the temporary directory,
//!   per module and `SOFTHSM2_CONF`): SoftHSM2's file store is not safe for concurrent
//!   processes (one's login rewrites the token file while another reads it, which then finds
//!   no token or fails; `pkcs11-tool` fails the same way), and USB tokens serve one
//!   application at a time. A network HSM that handles concurrent clients can do without.
//! * The user PIN: `pin-value`, else `pin-source`, else `SIGSTORE_KMS_PKCS11_PIN`, else
//!   cosign's `COSIGN_PKCS11_PIN`. A token with a protected authentication path (a PIN pad)
//!   needs none. Without a PIN only public objects are visible: `publicKey` and local
//!   `verifySignature` work, signing does not.
//!
//! **The PIN is never shown**: not in an `errorMessage`, not in a log line, not in
//! `sigstore-kms pkcs11 list-keys` output (the URIs it prints have no PIN), not in `Debug`
//! output (it is held in the kit's `Secret`). As a last guard, every error message of a call is
//! scrubbed of the PIN's text (PINs of at least 4 characters, the PKCS#11 minimum of most
//! tokens). Prefer `pin-source` or the variable over `pin-value`: a PIN in a key URI ends up
//! in shell histories and process lists. The hosts also hide `pin-value` when they echo a URI
//! (`sigstore_kms_plugins::redact_key_uri`).
//!
//! ## Methods
//!
//! * `defaultAlgorithm`: `ecdsa-p256`. `supportedAlgorithms`: `ecdsa-p256`, `ecdsa-p384`,
//!   `ecdsa-p521`, `rsa-2048`, `rsa-3072`, `rsa-4096`.
//! * `createKey`: if the token has a private key the URI names, answers its public key and
//!   changes nothing (whatever algorithm was asked for; a note goes to stderr when it differs);
//!   otherwise generates a key pair on the token (`C_GenerateKeyPair`) with the URI's `object`
//!   as `CKA_LABEL` and its `id` as `CKA_ID` (16 random bytes when the URI has no `id`): the
//!   private key sensitive, not extractable, `CKA_SIGN`; the public key a public token object
//!   with `CKA_VERIFY`. Concurrent `createKey` calls for one key on one machine are serialized
//!   (by the module's turn-taking, or with `SIGSTORE_KMS_PKCS11_SERIALIZE=0` by a lock file
//!   per key in the temporary directory), so only one generates it.
//! * `publicKey`: the public key object's `CKA_EC_POINT` and `CKA_EC_PARAMS` (or RSA modulus
//!   and exponent) as a SubjectPublicKeyInfo PEM; without a public object, the private key's
//!   `CKA_PUBLIC_KEY_INFO` or RSA modulus and exponent.
//! * `signMessage`: hashes the message here (streamed in 64 KiB chunks), or takes the host's
//!   digest as is, and signs only the digest on the token: `CKM_ECDSA` (the raw `r || s` the
//!   token answers becomes ASN.1 DER) or `CKM_RSA_PKCS` over the DigestInfo of the hash
//!   (RSASSA-PKCS1-v1_5). Tokens such as SoftHSM2 have no `CKM_ECDSA_SHA256`; hashing here
//!   works with every token and keeps large messages off slow hardware.
//! * `verifySignature`: locally against the public key (no PIN needed), or on the token with
//!   `C_Verify` when the host asks for remote verification.
//!
//! The hash is the host's, as for localkms and Go's software signers (a token does not fix
//! it): the call's `hashFunc`, else the client's (`initOptions.hashFunc`), else the key's
//! natural hash (SHA-384 for P-384, SHA-512 for P-521, SHA-256 otherwise). An ECDSA digest
//! sent without `hashFunc` may have any SHA-2 length (cosign sends a P-384 key a SHA-384
//! digest while its client hash is SHA-256); an RSA digest must match the hash.
//!
//! Each call loads the module, opens one session on the token, logs in once (when it needs to
//! or has a PIN), does its work and closes the session. A missing module, a file that is not a
//! PKCS#11 module, a missing or uninitialized token, a wrong PIN, a locked PIN, a missing or
//! ambiguous object and an unsupported key type each answer an `errorMessage` that says which
//! and what to do. `ctxDeadline` is checked before the call starts; the host kills a plugin
//! that overruns it.
//!
//! ## Tested modules
//!
//! SoftHSM 2.6 (Debian's `softhsm2`), in CI, with keys made through the plugin and keys made
//! by OpenSC's `pkcs11-tool`. The code uses only PKCS#11 2.20 functions and mechanisms that
//! hardware tokens share (`CKM_ECDSA`, `CKM_RSA_PKCS`), but has not been run against hardware
//! here. Keys with `CKA_ALWAYS_AUTHENTICATE` (a PIV card's signature key) need a PIN per
//! signature, which this plugin does not do yet: it says so.
//!
//! ## Crates, and why
//!
//! `cryptoki` 0.12 (the Parsec project's PKCS#11 wrapper): maintained, loads the module at
//! run time with `libloading` (no PKCS#11 headers or C compiler at build time), and takes the
//! PKCS#11 3.x function list when the module has one. The public keys, hashing and signature
//! encodings come from `sigstore-kms-provider-kit` and the RustCrypto crates it is built on,
//! already compiled for the rest of the workspace. What this crate adds to a debug build of the
//! workspace (`cryptoki`, `cryptoki-sys`, `libloading`, `secrecy` and this crate) took 9.5 s of
//! CPU, 32 s of wall time on a shared, loaded 2-core machine (`cargo clean -p` of those, then
//! `cargo build -p sigstore-kms-pkcs11`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cryptoki::object::ObjectClass;
use sigstore_kms_plugins::{CallContext, HandlerError, KmsHandler, MessageOptions};
use sigstore_kms_provider_kit::call::{self, check_deadline};
use sigstore_kms_provider_kit::public_key::{ecdsa_digest, rsa_digest};
pub use sigstore_kms_provider_kit::{Error, Input, PublicKey, Secret};

pub mod config;
pub mod token;
pub mod uri;

pub use config::{Environment, Pin};
pub use token::{Curve, KeyKind, Module};
pub use uri::{ObjectType, Pkcs11Uri};

use token::Login;

/// The name of the default algorithm, `ecdsa-p256`.
pub const DEFAULT_ALGORITHM: &str = "ecdsa-p256";

/// The algorithms `createKey` takes, with the key each makes.
pub const ALGORITHMS: [(&str, KeyKind); 6] = [
    ("ecdsa-p256", KeyKind::Ec(Curve::P256)),
    ("ecdsa-p384", KeyKind::Ec(Curve::P384)),
    ("ecdsa-p521", KeyKind::Ec(Curve::P521)),
    ("rsa-2048", KeyKind::Rsa(2048)),
    ("rsa-3072", KeyKind::Rsa(3072)),
    ("rsa-4096", KeyKind::Rsa(4096)),
];

/// PINs shorter than this are not scrubbed from messages (they would garble them: a 1-digit
/// PIN matches every digit); PKCS#11 tokens commonly require at least 4 characters.
const MIN_SCRUBBED_PIN: usize = 4;

/// The plugin: a [`KmsHandler`] whose key reference is an RFC 7512 PKCS#11 URI.
#[derive(Debug, Clone, Default)]
pub struct Pkcs11Kms {
    env: Environment,
}

/// What one call works with, resolved from the key URI and the environment.
struct Target {
    uri: Pkcs11Uri,
    module: PathBuf,
    pin: Option<Pin>,
}

impl Pkcs11Kms {
    /// The handler, reading the configuration variables of the process environment.
    #[must_use]
    pub fn new() -> Self {
        Pkcs11Kms { env: Environment::from_process() }
    }

    /// The handler with an explicit environment (for embedders and tests).
    #[must_use]
    pub fn with_environment(env: Environment) -> Self {
        Pkcs11Kms { env }
    }

    fn target(&self, ctx: &CallContext) -> Result<Target, Error> {
        let uri = Pkcs11Uri::parse(&ctx.key_resource_id)?;
        let module = config::module_path(&uri, &self.env)?;
        let pin = config::pin(&uri, &self.env)?;
        Ok(Target { uri, module, pin })
    }

    /// Runs `f` for the call: deadline check, target resolution, and the PIN scrubbed from
    /// any error message.
    fn call<T>(&self, ctx: &CallContext, f: impl FnOnce(&Target) -> Result<T, Error>) -> Result<T, HandlerError> {
        check_deadline(ctx)?;
        let target = self.target(ctx)?;
        let _turn = if self.env.serialize { token::module_lock(&target.module) } else { None };
        f(&target).map_err(|e| {
            let message = match &target.pin {
                Some(p) if p.secret.expose().len() >= MIN_SCRUBBED_PIN => p.secret.scrub(e.message()),
                _ => e.message().to_owned(),
            };
            HandlerError(message)
        })
    }
}

/// The key kind an algorithm name makes.
pub fn parse_algorithm(name: &str) -> Result<KeyKind, Error> {
    let name = if name.is_empty() { DEFAULT_ALGORITHM } else { name };
    ALGORITHMS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k).ok_or_else(|| {
        Error::new(format!(
            "unsupported algorithm {name:?}: use one of {}",
            ALGORITHMS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        ))
    })
}

fn input<'a>(opts: &'a MessageOptions, message: &'a mut dyn Read) -> Input<'a> {
    match call::given_digest(opts) {
        Some(d) => Input::Digest(d),
        None => Input::Message(message),
    }
}

/// The digest a call signs or verifies, and its hash.
fn digest_of(
    ctx: &CallContext,
    opts: &MessageOptions,
    message: &mut dyn Read,
    kind: KeyKind,
) -> Result<(sigstore_kms_plugins::HashFunc, Vec<u8>), Error> {
    let choice = call::hash_choice(ctx, opts, kind.default_hash());
    let digest = match kind {
        KeyKind::Ec(_) => ecdsa_digest(input(opts, message), choice)?,
        KeyKind::Rsa(_) => rsa_digest(input(opts, message), choice)?,
    };
    Ok((choice.hash, digest))
}

impl KmsHandler for Pkcs11Kms {
    fn default_algorithm(&self, _ctx: &CallContext) -> Result<String, HandlerError> {
        Ok(DEFAULT_ALGORITHM.to_owned())
    }

    fn supported_algorithms(&self, _ctx: &CallContext) -> Result<Vec<String>, HandlerError> {
        Ok(ALGORITHMS.iter().map(|(n, _)| (*n).to_owned()).collect())
    }

    fn create_key(&self, ctx: &CallContext, algorithm: &str) -> Result<String, HandlerError> {
        check_deadline(ctx)?;
        let kind = parse_algorithm(algorithm)?;
        self.call(ctx, |t| {
            if !t.uri.names_object() {
                return Err(Error::new(
                    "createKey needs the new key's name in the key URI: add object=LABEL (and optionally id=%01...) to its path",
                ));
            }
            let module = Module::open(&t.module)?;
            let token = module.select_token(&t.uri)?;
            let opened = module.session(&token, true, t.pin.as_ref(), Login::Required)?;
            let session = &opened.session;
            // Taking turns on the module (the default) already keeps two createKey calls apart.
            let _lock = if self.env.serialize { None } else { token::create_lock(&module, &token, &t.uri) };
            let existing = token::find(session, ObjectClass::PRIVATE_KEY, &t.uri)?;
            let key = match existing.len() {
                0 => {
                    if !token::find(session, ObjectClass::PUBLIC_KEY, &t.uri)?.is_empty() {
                        return Err(Error::new(format!(
                            "token {} has a public key {} but no private key: delete that object or name the new key differently",
                            token.describe(),
                            t.uri.describe_object()
                        )));
                    }
                    token::generate(session, &token, &t.uri, kind)?
                }
                1 => {
                    let key = token::find_key(session, &token, &t.uri, true, true)?;
                    if key.kind != kind {
                        eprintln!(
                            "sigstore-kms-pkcs11: token {} already holds an {} key {}; answering that key (asked for {})",
                            token.describe(),
                            key.kind.name(),
                            t.uri.describe_object(),
                            kind.name()
                        );
                    }
                    key
                }
                n => {
                    return Err(Error::new(format!(
                        "{n} private keys match {} on token {}: add id= to the key URI to pick one",
                        t.uri.describe_object(),
                        token.describe()
                    )))
                }
            };
            token::public_key(session, &key)?.to_pem()
        })
    }

    fn public_key(&self, ctx: &CallContext) -> Result<String, HandlerError> {
        self.call(ctx, |t| {
            let module = Module::open(&t.module)?;
            let token = module.select_token(&t.uri)?;
            let opened = module.session(&token, false, t.pin.as_ref(), Login::IfPin)?;
            let key = token::find_key(&opened.session, &token, &t.uri, false, opened.logged_in)?;
            token::public_key(&opened.session, &key)?.to_pem()
        })
    }

    fn sign_message(
        &self,
        ctx: &CallContext,
        message: &mut dyn Read,
        opts: &MessageOptions,
    ) -> Result<Vec<u8>, HandlerError> {
        self.call(ctx, |t| {
            let module = Module::open(&t.module)?;
            let token = module.select_token(&t.uri)?;
            let opened = module.session(&token, false, t.pin.as_ref(), Login::Required)?;
            let key = token::find_key(&opened.session, &token, &t.uri, true, opened.logged_in)?;
            let (hash, digest) = digest_of(ctx, opts, message, key.kind)?;
            token::sign(&opened.session, &key, hash, &digest)
        })
    }

    fn verify_signature(
        &self,
        ctx: &CallContext,
        signature: &[u8],
        message: &mut dyn Read,
        opts: &MessageOptions,
    ) -> Result<(), HandlerError> {
        self.call(ctx, |t| {
            let module = Module::open(&t.module)?;
            let token = module.select_token(&t.uri)?;
            let opened = module.session(&token, false, t.pin.as_ref(), Login::IfPin)?;
            let key = token::find_key(&opened.session, &token, &t.uri, false, opened.logged_in)?;
            if ctx.remote_verification {
                let (hash, digest) = digest_of(ctx, opts, message, key.kind)?;
                return token::verify(&opened.session, &key, hash, &digest, signature);
            }
            let public = token::public_key(&opened.session, &key)?;
            drop(opened);
            let choice = call::hash_choice(ctx, opts, key.kind.default_hash());
            public.verify(signature, input(opts, message), choice)
        })
    }
}

// ----- listing, for `sigstore-kms pkcs11` --------------------------------------------------------

/// A token, as `sigstore-kms pkcs11 list-tokens` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(clippy::struct_excessive_bools)] // the flags of CK_TOKEN_INFO, one field each
pub struct TokenSummary {
    /// The slot ID.
    pub slot_id: u64,
    /// The token label.
    pub label: String,
    /// The manufacturer ID.
    pub manufacturer: String,
    /// The model.
    pub model: String,
    /// The serial number.
    pub serial: String,
    /// Whether the token is initialized (SoftHSM always shows one empty slot that is not).
    pub initialized: bool,
    /// Whether using private objects needs a login.
    pub login_required: bool,
    /// Whether the user PIN is locked.
    pub user_pin_locked: bool,
    /// Whether the token has its own PIN entry (a PIN pad).
    pub protected_authentication_path: bool,
    /// A URI naming the token (no object), with the module path.
    pub uri: String,
}

/// A key on a token, as `sigstore-kms pkcs11 list-keys` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeySummary {
    /// `CKA_LABEL`, as text (invalid UTF-8 replaced).
    pub label: String,
    /// `CKA_ID`.
    pub id: Vec<u8>,
    /// `ecdsa-p256`, `rsa-2048`, ... or why the key is not usable here.
    pub algorithm: Result<String, String>,
    /// Whether the private key was seen (only when logged in).
    pub private: bool,
    /// Whether a public key object was seen.
    pub public: bool,
    /// The key URI in RFC 7512 form, with the module path and without any PIN; `None` for a
    /// key with neither label nor ID (it cannot be named).
    pub uri: Option<String>,
}

/// The tokens of the module at `module`.
pub fn list_tokens(module: &Path) -> Result<Vec<TokenSummary>, Error> {
    let _turn = token::module_lock(module);
    let m = Module::open(module)?;
    let tokens = m.tokens()?;
    Ok(tokens
        .iter()
        .map(|t| {
            let uri = token_uri(&tokens, t, module);
            TokenSummary {
                slot_id: t.slot.id(),
                label: t.info.label().to_owned(),
                manufacturer: t.info.manufacturer_id().to_owned(),
                model: t.info.model().to_owned(),
                serial: t.info.serial_number().to_owned(),
                initialized: t.info.token_initialized(),
                login_required: t.info.login_required(),
                user_pin_locked: t.info.user_pin_locked(),
                protected_authentication_path: t.info.protected_authentication_path(),
                uri: uri.to_uri(true),
            }
        })
        .collect())
}

/// The URI attributes that name token `t` among `all`: its label, and its serial number when
/// another token has the same label.
fn token_uri(all: &[token::TokenEntry], t: &token::TokenEntry, module: &Path) -> Pkcs11Uri {
    let shared = all.iter().filter(|o| o.info.label() == t.info.label()).count() > 1;
    Pkcs11Uri {
        token: Some(t.info.label().to_owned()),
        serial: shared.then(|| t.info.serial_number().to_owned()),
        module_path: Some(module.to_path_buf()),
        ..Pkcs11Uri::default()
    }
}

/// The keys on the token `selector` names (its token attributes; object attributes narrow the
/// list), in the module at `module`. With a PIN, private keys are listed (with their public
/// objects); without, public key objects only.
pub fn list_keys(selector: &Pkcs11Uri, module: &Path, pin: Option<&Pin>) -> Result<(String, Vec<KeySummary>), Error> {
    let _turn = token::module_lock(module);
    let m = Module::open(module)?;
    let all = m.tokens()?;
    let t = m.select_token(selector)?;
    let opened = m.session(&t, false, pin, Login::IfPin)?;
    let session = &opened.session;
    let base = token_uri(&all, &t, module);
    let mut filter = selector.clone();
    filter.object_type = None;
    let mut out: Vec<KeySummary> = Vec::new();
    let mut seen_public = Vec::new();
    if opened.logged_in {
        for handle in token::find(session, ObjectClass::PRIVATE_KEY, &filter)? {
            let (label, id, algorithm, public) = match token::key_of_private(session, handle) {
                Ok(k) => {
                    if let Some(p) = k.public {
                        seen_public.push(p);
                    }
                    (k.label, k.id, Ok(k.kind.name()), k.public.is_some())
                }
                Err(e) => {
                    let (label, id) = token::label_and_id(session, handle);
                    (label, id, Err(e.to_string()), false)
                }
            };
            out.push(summary(&base, &label, &id, algorithm, true, public));
        }
    }
    for handle in token::find(session, ObjectClass::PUBLIC_KEY, &filter)? {
        if seen_public.contains(&handle) {
            continue;
        }
        let (label, id) = token::label_and_id(session, handle);
        let algorithm = token::kind_of_object(session, handle).map(KeyKind::name).map_err(|e| e.to_string());
        out.push(summary(&base, &label, &id, algorithm, false, true));
    }
    out.sort_by(|a, b| (&a.label, &a.id).cmp(&(&b.label, &b.id)));
    Ok((t.describe(), out))
}

fn summary(
    base: &Pkcs11Uri,
    label: &[u8],
    id: &[u8],
    algorithm: Result<String, String>,
    private: bool,
    public: bool,
) -> KeySummary {
    let uri = (!label.is_empty() || !id.is_empty()).then(|| {
        Pkcs11Uri {
            object: (!label.is_empty()).then(|| label.to_vec()),
            id: (!id.is_empty()).then(|| id.to_vec()),
            ..base.clone()
        }
        .to_uri(true)
    });
    KeySummary { label: String::from_utf8_lossy(label).into_owned(), id: id.to_vec(), algorithm, private, public, uri }
}

// ----- entry points --------------------------------------------------------------------------------

/// Runs the plugin on this process's argv, stdin and stdout: the whole `main` of
/// `sigstore-kms-pkcs11`.
#[must_use]
pub fn main_entry() -> ExitCode {
    sigstore_kms_plugins::plugin::serve(Pkcs11Kms::new())
}

/// Runs the plugin with explicit arguments (`args[0]` is the program name, then `v1` and the
/// request JSON) on this process's stdin and stdout, and returns the exit code: for embedders
/// whose process arguments are not the plugin's (the Node and Python packages' entry points).
#[must_use]
#[allow(clippy::needless_pass_by_value)] // the signature embedders call, owned like std::env::args_os()
pub fn run_with_args(args: Vec<std::ffi::OsString>) -> i32 {
    sigstore_kms_plugins::plugin::serve_args(&args, &Pkcs11Kms::new())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
