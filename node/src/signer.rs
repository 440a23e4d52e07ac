//! `getSignerVerifier` and the native signer-verifier class wrapped by `node/index.js`.
//!
//! Each method builds the core's typed [`Call`] and message, and the core decides how it runs
//! ([`PluginSignerVerifier::route`]); every call is submitted to this environment's reactor
//! ([`crate::reactor`]) and returns a Promise. This file only turns arguments into those and
//! replies into JavaScript values: the JavaScript thread never waits for a plugin.

use napi::bindgen_prelude::{Buffer, Function, Object, PromiseRaw, ToNapiValue, Uint8Array, Unknown, Utf16String};
use napi::Env;
use napi_derive::napi;
use sigstore_kms_plugins::{
    get_signer_verifier as core_get, Call, Error, HandlerError, HashFunc, Message, PluginSignerVerifier, PublicKey,
    Reply,
};

use crate::error;
use crate::handler::{self, HandlerCall};
use crate::message::{self, MessageSink};
use crate::reactor;

/// The key URI as text; one holding a lone surrogate is an invalid key URI (it cannot be sent).
fn uri_text(env: &Env, uri: &Utf16String) -> napi::Result<String> {
    String::from_utf16(uri).map_err(|_| error::to_js(env, &Error::unencodable_key_uri(&uri.to_string())))
}

/// Resolves a key URI to a signer-verifier (see `getSignerVerifier` in `node/index.d.ts`);
/// every option is checked by the core under its Node name.
///
/// When `uri` belongs to a provider registered from JavaScript, `node/index.js` has already
/// called that provider's factory and passes the handler's `dispatch` function, or the
/// factory's error message: the handler is given to the core directly.
#[napi(ts_args_type = "uri: string, options?: object | undefined | null, dispatch?: (call: HandlerCall) => void, \
                       factoryError?: string")]
pub fn get_signer_verifier(
    env: &Env,
    uri: Utf16String,
    options: Option<Object<'_>>,
    dispatch: Option<Function<HandlerCall, ()>>,
    factory_error: Option<String>,
) -> napi::Result<NativeSignerVerifier> {
    let uri = uri_text(env, &uri)?;
    let options = crate::options::from_object(env, options)?;
    let hash = options.get_hash_func();
    let inner = match (dispatch, factory_error) {
        (_, Some(message)) => Err(Error::provider_factory_failed(&uri, HandlerError::new(message))),
        (Some(f), None) => PluginSignerVerifier::with_handler(&uri, handler::bind(&f)?, options),
        (None, None) => core_get(&uri, options),
    };
    match inner {
        Ok(inner) => Ok(NativeSignerVerifier { inner, hash }),
        Err(e) => Err(error::to_js(env, &e)),
    }
}

/// A public key as `publicKeyInfo()` returns it.
#[napi(object)]
pub struct PublicKeyInfo {
    /// The PEM exactly as the plugin returned it.
    pub pem: String,
    /// The SubjectPublicKeyInfo as a `PUBLIC KEY` PEM block (PKCS#1 RSA keys converted).
    pub spki_pem: String,
    /// The DER encoding of the SubjectPublicKeyInfo.
    pub spki_der: Buffer,
    /// `ecdsa-p256`, `ecdsa-p384`, `ecdsa-p521`, `ecdsa`, `rsa`, `ed25519`, or the OID.
    pub key_type: String,
    /// The dotted OID of the key algorithm.
    pub algorithm_oid: String,
}

fn key_of(reply: Reply) -> Option<PublicKey> {
    match reply {
        Reply::CreateKey(key) | Reply::PublicKey(key) => Some(key),
        _ => None,
    }
}

fn key_info(reply: Reply) -> Option<PublicKeyInfo> {
    key_of(reply).map(|key| PublicKeyInfo {
        pem: key.pem().to_owned(),
        spki_pem: key.spki_pem(),
        spki_der: key.spki_der().to_vec().into(),
        key_type: key.key_type(),
        algorithm_oid: key.algorithm_oid(),
    })
}

fn pem_of(reply: Reply) -> Option<String> {
    key_of(reply).map(|key| key.pem().to_owned())
}

fn text_of(reply: Reply) -> Option<String> {
    match reply {
        Reply::DefaultAlgorithm(a) => Some(a),
        _ => None,
    }
}

fn texts_of(reply: Reply) -> Option<Vec<String>> {
    match reply {
        Reply::SupportedAlgorithms(a) => Some(a),
        _ => None,
    }
}

fn signature_of(reply: Reply) -> Option<Buffer> {
    match reply {
        Reply::SignMessage(signature) => Some(signature.into()),
        _ => None,
    }
}

fn nothing(_: Reply) {}

/// A key reached through a plugin program or an in-process provider.
#[napi]
pub struct NativeSignerVerifier {
    inner: PluginSignerVerifier,
    hash: HashFunc,
}

impl NativeSignerVerifier {
    /// Runs `call` with `message`; the promise resolves with what `convert` makes of the reply
    /// (the reply of a call is always of its method: `convert` never sees another).
    fn run<'e, V: ToNapiValue + 'static>(
        &self,
        env: &'e Env,
        call: Call,
        message: Message,
        convert: fn(Reply) -> V,
    ) -> napi::Result<PromiseRaw<'e, V>> {
        reactor::submit(env, self.inner.route(call, message), convert)
    }

    /// A digest call, its digest checked against its hash function first.
    fn digest(&self, env: &Env, hash: Option<Unknown<'_>>, make: impl FnOnce(HashFunc) -> Call) -> napi::Result<Call> {
        let hash = match hash {
            Some(h) => crate::options::hash_func(env, &h)?,
            None => self.hash,
        };
        let call = make(hash);
        call.check().map_err(|e| error::to_js(env, &e))?;
        Ok(call)
    }

    /// Runs `call` on the file at `path` (opened now: a missing file rejects as `fs` would).
    fn run_file<'e, V: ToNapiValue + 'static>(
        &self,
        env: &'e Env,
        call: Call,
        path: &str,
        convert: fn(Reply) -> V,
    ) -> napi::Result<PromiseRaw<'e, V>> {
        match message::from_path(env, path) {
            Ok(m) => self.run(env, call, m, convert),
            Err(e) => reactor::rejected(env, e),
        }
    }

    fn sink_message(env: &Env, sink: &MessageSink) -> napi::Result<Message> {
        sink.take_message(env)?.ok_or_else(|| {
            error::invalid_arg(env, "ERR_INVALID_ARG_VALUE", "this MessageSink was already given to a call")
        })
    }
}

#[napi]
impl NativeSignerVerifier {
    /// The absolute path of the plugin program, `null` for an in-process provider.
    #[napi(getter)]
    #[must_use]
    pub fn program_path(&self) -> Option<String> {
        self.inner.program_path().map(|p| p.to_string_lossy().into_owned())
    }

    /// The key reference: the part of the URI after `://`.
    #[napi(getter)]
    #[must_use]
    pub fn key_ref(&self) -> String {
        self.inner.key_ref().to_owned()
    }

    /// The hash function sent as `initOptions.hashFunc`, e.g. `sha256`.
    #[napi(getter)]
    #[must_use]
    pub fn hash_func(&self) -> String {
        self.hash.name().to_owned()
    }

    /// The algorithm the plugin creates keys with by default.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn default_algorithm<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, Option<String>>> {
        self.run(env, Call::DefaultAlgorithm, Message::empty(), text_of)
    }

    /// The algorithms the plugin can create keys with.
    #[napi(ts_return_type = "Promise<string[]>")]
    pub fn supported_algorithms<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, Option<Vec<String>>>> {
        self.run(env, Call::SupportedAlgorithms, Message::empty(), texts_of)
    }

    /// Creates the key (or gets the existing one); resolves its public key PEM.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn create_key<'e>(&self, env: &'e Env, algorithm: String) -> napi::Result<PromiseRaw<'e, Option<String>>> {
        self.run(env, Call::create_key(algorithm), Message::empty(), pem_of)
    }

    /// The public key PEM, as the plugin returned it.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn public_key<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, Option<String>>> {
        self.run(env, Call::PublicKey, Message::empty(), pem_of)
    }

    /// The public key, parsed.
    #[napi(ts_return_type = "Promise<PublicKeyInfo>")]
    pub fn public_key_info<'e>(&self, env: &'e Env) -> napi::Result<PromiseRaw<'e, Option<PublicKeyInfo>>> {
        self.run(env, Call::PublicKey, Message::empty(), key_info)
    }

    /// Signs bytes (copied now; the caller may reuse the buffer).
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn sign_bytes<'e>(&self, env: &'e Env, data: Uint8Array) -> napi::Result<PromiseRaw<'e, Option<Buffer>>> {
        self.run(env, Call::sign_message(), message::from_bytes(&data), signature_of)
    }

    /// Signs the file at `path`, streamed from disk.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn sign_file<'e>(&self, env: &'e Env, path: String) -> napi::Result<PromiseRaw<'e, Option<Buffer>>> {
        self.run_file(env, Call::sign_message(), &path, signature_of)
    }

    /// Signs what JavaScript pushes into `sink`.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn sign_stream<'e>(&self, env: &'e Env, sink: &MessageSink) -> napi::Result<PromiseRaw<'e, Option<Buffer>>> {
        let message = Self::sink_message(env, sink)?;
        self.run(env, Call::sign_message(), message, signature_of)
    }

    /// Signs a precomputed digest made with `hashFunc` (default: this key's hash function).
    #[napi(
        ts_args_type = "digest: Uint8Array, hashFunc?: string | number | undefined | null",
        ts_return_type = "Promise<Buffer>"
    )]
    pub fn sign_digest<'e>(
        &self,
        env: &'e Env,
        digest: Uint8Array,
        hash_func: Option<Unknown<'_>>,
    ) -> napi::Result<PromiseRaw<'e, Option<Buffer>>> {
        let call = self.digest(env, hash_func, |h| Call::sign_digest(digest.to_vec(), h))?;
        self.run(env, call, Message::empty(), signature_of)
    }

    /// Verifies `signature` over bytes; rejects if the plugin says it is invalid.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn verify_bytes<'e>(
        &self,
        env: &'e Env,
        signature: Uint8Array,
        data: Uint8Array,
    ) -> napi::Result<PromiseRaw<'e, ()>> {
        self.run(env, Call::verify_signature(signature.to_vec()), message::from_bytes(&data), nothing)
    }

    /// Verifies `signature` over the file at `path`, streamed from disk.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn verify_file<'e>(
        &self,
        env: &'e Env,
        signature: Uint8Array,
        path: String,
    ) -> napi::Result<PromiseRaw<'e, ()>> {
        self.run_file(env, Call::verify_signature(signature.to_vec()), &path, nothing)
    }

    /// Verifies `signature` over what JavaScript pushes into `sink`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn verify_stream<'e>(
        &self,
        env: &'e Env,
        signature: Uint8Array,
        sink: &MessageSink,
    ) -> napi::Result<PromiseRaw<'e, ()>> {
        let message = Self::sink_message(env, sink)?;
        self.run(env, Call::verify_signature(signature.to_vec()), message, nothing)
    }

    /// Verifies `signature` over a precomputed digest made with `hashFunc`.
    #[napi(
        ts_args_type = "signature: Uint8Array, digest: Uint8Array, hashFunc?: string | number | undefined | null",
        ts_return_type = "Promise<void>"
    )]
    pub fn verify_digest<'e>(
        &self,
        env: &'e Env,
        signature: Uint8Array,
        digest: Uint8Array,
        hash_func: Option<Unknown<'_>>,
    ) -> napi::Result<PromiseRaw<'e, ()>> {
        let call = self.digest(env, hash_func, |h| Call::verify_digest(signature.to_vec(), digest.to_vec(), h))?;
        self.run(env, call, Message::empty(), nothing)
    }
}
