//! Request types: the JSON in `argv[2]`, shaped and ordered exactly as the Go client writes it.

use std::time::SystemTime;

use serde::Serialize;

use super::gojson::{self, go_decode_struct, ser_base64, ser_deadline, DecodeError, GoDecode};
use super::{HashFunc, Method, PROTOCOL_VERSION};

/// Per-call RPC options (Go's `common.RPCOptions`).
///
/// The Go client always writes `keyVersion` and `remoteVerification` (as `""`/`false` when
/// unset); `None` here leaves a field out, which only a hand-made request does.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RpcOptions {
    /// The caller's deadline for this call.
    #[serde(rename = "ctxDeadline", skip_serializing_if = "Option::is_none", serialize_with = "ser_deadline")]
    pub ctx_deadline: Option<SystemTime>,
    /// Which version of the key to use (KMS-specific), `""` for the default.
    #[serde(rename = "keyVersion", skip_serializing_if = "Option::is_none")]
    pub key_version: Option<String>,
    /// Ask the KMS to verify remotely instead of with the cached public key.
    #[serde(rename = "remoteVerification", skip_serializing_if = "Option::is_none")]
    pub remote_verification: Option<bool>,
}

impl RpcOptions {
    /// The options as the Go client packs them: both fields always present.
    #[must_use]
    pub fn packed(ctx_deadline: Option<SystemTime>, key_version: Option<&str>, remote_verification: bool) -> Self {
        RpcOptions {
            ctx_deadline,
            key_version: Some(key_version.unwrap_or_default().to_owned()),
            remote_verification: Some(remote_verification),
        }
    }
}

go_decode_struct!(RpcOptions, "an rpcOptions object" {
    "ctxDeadline" => ctx_deadline,
    "keyVersion" => key_version,
    "remoteVerification" => remote_verification,
});

/// Options shared by every call of one plugin client (Go's `common.InitOptions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitOptions {
    /// Deadline of the whole call, if any.
    #[serde(rename = "ctxDeadline", skip_serializing_if = "Option::is_none", serialize_with = "ser_deadline")]
    pub ctx_deadline: Option<SystemTime>,
    /// Always `"v1"` from our host.
    #[serde(rename = "protocolVersion")]
    pub protocol_version: String,
    /// The part of the key URI after `://`.
    #[serde(rename = "keyResourceID")]
    pub key_resource_id: String,
    /// The hash function the client was created with.
    #[serde(rename = "hashFunc", serialize_with = "ser_hash")]
    pub hash_func: HashFunc,
    /// RPC options given when the client was created.
    #[serde(rename = "rpcOptions")]
    pub rpc_options: Option<RpcOptions>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            ctx_deadline: None,
            protocol_version: String::new(),
            key_resource_id: String::new(),
            // Go's zero crypto.Hash: a request without `hashFunc` decodes to "none".
            hash_func: HashFunc::None,
            rpc_options: None,
        }
    }
}

impl InitOptions {
    /// Init options as our host sends them for protocol v1.
    #[must_use]
    pub fn new(key_resource_id: &str, hash_func: HashFunc, rpc_options: RpcOptions) -> Self {
        InitOptions {
            ctx_deadline: None,
            protocol_version: PROTOCOL_VERSION.to_owned(),
            key_resource_id: key_resource_id.to_owned(),
            hash_func,
            rpc_options: Some(rpc_options),
        }
    }
}

go_decode_struct!(InitOptions, "an initOptions object" {
    "ctxDeadline" => ctx_deadline,
    "protocolVersion" => protocol_version,
    "keyResourceID" => key_resource_id,
    "hashFunc" => hash_func,
    "rpcOptions" => rpc_options,
});

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `serialize_with` passes a reference
fn ser_hash<S: serde::Serializer>(h: &HashFunc, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u32(h.number())
}

#[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)]
fn ser_opt_hash<S: serde::Serializer>(h: &Option<HashFunc>, s: S) -> Result<S::Ok, S::Error> {
    match h {
        Some(h) => s.serialize_u32(h.number()),
        None => s.serialize_none(),
    }
}

#[allow(clippy::ref_option)]
fn ser_digest<S: serde::Serializer>(d: &Option<Option<Vec<u8>>>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(Some(bytes)) => ser_base64(bytes, s),
        _ => s.serialize_none(),
    }
}

/// Options about the message (Go's `common.MessageOptions`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct MessageOptions {
    /// A precomputed digest to sign or verify instead of hashing stdin.
    ///
    /// Outer `None` leaves the field out; `Some(None)` writes `"digest":null`, which is what the
    /// Go client sends when there is no digest. Read it with [`MessageOptions::digest`].
    #[serde(rename = "digest", skip_serializing_if = "Option::is_none", serialize_with = "ser_digest")]
    pub digest: Option<Option<Vec<u8>>>,
    /// The hash function of the digest (or to hash the message with).
    #[serde(rename = "hashFunc", skip_serializing_if = "Option::is_none", serialize_with = "ser_opt_hash")]
    pub hash_func: Option<HashFunc>,
}

impl MessageOptions {
    /// The digest, if one was given.
    #[must_use]
    pub fn digest(&self) -> Option<&[u8]> {
        self.digest.as_ref().and_then(|d| d.as_deref())
    }
}

go_decode_struct!(MessageOptions, "a messageOptions object" {
    "digest" => digest,
    "hashFunc" => hash_func,
});

/// Arguments of `defaultAlgorithm` (none).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DefaultAlgorithmArgs {}
go_decode_struct!(DefaultAlgorithmArgs, "a defaultAlgorithm object" {});

/// Arguments of `supportedAlgorithms` (none).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SupportedAlgorithmsArgs {}
go_decode_struct!(SupportedAlgorithmsArgs, "a supportedAlgorithms object" {});

/// Arguments of `createKey`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CreateKeyArgs {
    /// The caller's deadline.
    #[serde(rename = "ctxDeadline", skip_serializing_if = "Option::is_none", serialize_with = "ser_deadline")]
    pub ctx_deadline: Option<SystemTime>,
    /// The algorithm of the key to create, e.g. `ecdsa-p256`.
    #[serde(rename = "algorithm")]
    pub algorithm: String,
}
go_decode_struct!(CreateKeyArgs, "a createKey object" {
    "ctxDeadline" => ctx_deadline,
    "algorithm" => algorithm,
});

/// Go's `common.PublicKeyOptions`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PublicKeyOptions {
    /// RPC options of the call.
    #[serde(rename = "rpcOptions")]
    pub rpc_options: RpcOptions,
}
go_decode_struct!(PublicKeyOptions, "a publicKeyOptions object" { "rpcOptions" => rpc_options });

/// Arguments of `publicKey`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PublicKeyArgs {
    /// Options of the call (`null` when absent).
    #[serde(rename = "publicKeyOptions")]
    pub public_key_options: Option<PublicKeyOptions>,
}
go_decode_struct!(PublicKeyArgs, "a publicKey object" { "publicKeyOptions" => public_key_options });

/// Go's `common.SignOptions` and `common.VerifyOptions` (the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SignOptions {
    /// RPC options of the call.
    #[serde(rename = "rpcOptions")]
    pub rpc_options: RpcOptions,
    /// Digest and hash function.
    #[serde(rename = "messageOptions")]
    pub message_options: MessageOptions,
}
go_decode_struct!(SignOptions, "a signOptions/verifyOptions object" {
    "rpcOptions" => rpc_options,
    "messageOptions" => message_options,
});

/// Go's `common.VerifyOptions`.
pub type VerifyOptions = SignOptions;

/// Arguments of `signMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SignMessageArgs {
    /// Options of the call (`null` when absent).
    #[serde(rename = "signOptions")]
    pub sign_options: Option<SignOptions>,
}
go_decode_struct!(SignMessageArgs, "a signMessage object" { "signOptions" => sign_options });

/// Arguments of `verifySignature`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct VerifySignatureArgs {
    /// The signature to verify (`None` is Go's nil slice, written as `null`).
    #[serde(rename = "signature", serialize_with = "gojson::ser_opt_base64")]
    pub signature: Option<Vec<u8>>,
    /// Options of the call (`null` when absent).
    #[serde(rename = "verifyOptions")]
    pub verify_options: Option<VerifyOptions>,
}
go_decode_struct!(VerifySignatureArgs, "a verifySignature object" {
    "signature" => signature,
    "verifyOptions" => verify_options,
});

/// One request: Go's `common.PluginArgs` (init options, then the flattened method arguments).
///
/// Exactly one method object is set by a well-formed request; [`PluginArgs::to_json`] writes
/// the bytes the Go client would.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PluginArgs {
    /// Options of the client (`null` when absent).
    #[serde(rename = "initOptions")]
    pub init_options: Option<InitOptions>,
    /// Which method to call.
    #[serde(rename = "methodName")]
    pub method_name: String,
    /// Set when `method_name` is `defaultAlgorithm`.
    #[serde(rename = "defaultAlgorithm", skip_serializing_if = "Option::is_none")]
    pub default_algorithm: Option<DefaultAlgorithmArgs>,
    /// Set when `method_name` is `supportedAlgorithms`.
    #[serde(rename = "supportedAlgorithms", skip_serializing_if = "Option::is_none")]
    pub supported_algorithms: Option<SupportedAlgorithmsArgs>,
    /// Set when `method_name` is `createKey`.
    #[serde(rename = "createKey", skip_serializing_if = "Option::is_none")]
    pub create_key: Option<CreateKeyArgs>,
    /// Set when `method_name` is `publicKey`.
    #[serde(rename = "publicKey", skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyArgs>,
    /// Set when `method_name` is `signMessage`.
    #[serde(rename = "signMessage", skip_serializing_if = "Option::is_none")]
    pub sign_message: Option<SignMessageArgs>,
    /// Set when `method_name` is `verifySignature`.
    #[serde(rename = "verifySignature", skip_serializing_if = "Option::is_none")]
    pub verify_signature: Option<VerifySignatureArgs>,
}

go_decode_struct!(PluginArgs, "a request object" {
    "initOptions" => init_options,
    "methodName" => method_name,
    "defaultAlgorithm" => default_algorithm,
    "supportedAlgorithms" => supported_algorithms,
    "createKey" => create_key,
    "publicKey" => public_key,
    "signMessage" => sign_message,
    "verifySignature" => verify_signature,
});

/// The arguments of one method, for building a [`PluginArgs`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum MethodArgs {
    DefaultAlgorithm(DefaultAlgorithmArgs),
    SupportedAlgorithms(SupportedAlgorithmsArgs),
    CreateKey(CreateKeyArgs),
    PublicKey(PublicKeyArgs),
    SignMessage(SignMessageArgs),
    VerifySignature(VerifySignatureArgs),
}

impl MethodArgs {
    /// The method these arguments are for.
    #[must_use]
    pub fn method(&self) -> Method {
        match self {
            MethodArgs::DefaultAlgorithm(_) => Method::DefaultAlgorithm,
            MethodArgs::SupportedAlgorithms(_) => Method::SupportedAlgorithms,
            MethodArgs::CreateKey(_) => Method::CreateKey,
            MethodArgs::PublicKey(_) => Method::PublicKey,
            MethodArgs::SignMessage(_) => Method::SignMessage,
            MethodArgs::VerifySignature(_) => Method::VerifySignature,
        }
    }
}

impl PluginArgs {
    /// A request for `args` with `init_options`.
    #[must_use]
    pub fn new(init_options: InitOptions, args: MethodArgs) -> Self {
        let mut out = PluginArgs {
            init_options: Some(init_options),
            method_name: args.method().as_str().to_owned(),
            ..PluginArgs::default()
        };
        match args {
            MethodArgs::DefaultAlgorithm(a) => out.default_algorithm = Some(a),
            MethodArgs::SupportedAlgorithms(a) => out.supported_algorithms = Some(a),
            MethodArgs::CreateKey(a) => out.create_key = Some(a),
            MethodArgs::PublicKey(a) => out.public_key = Some(a),
            MethodArgs::SignMessage(a) => out.sign_message = Some(a),
            MethodArgs::VerifySignature(a) => out.verify_signature = Some(a),
        }
        out
    }

    /// The compact JSON the Go client's `json.Marshal` writes for this request.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        gojson::to_go_json(self)
    }

    /// Decodes a request as Go's `json.Unmarshal` would (the plugin side).
    pub fn from_json(bytes: &[u8]) -> Result<Self, DecodeError> {
        gojson::decode_document(bytes)
    }

    /// The method named by `methodName`, if it is one of the six.
    #[must_use]
    pub fn method(&self) -> Option<Method> {
        Method::from_wire_name(&self.method_name)
    }
}

/// Checks that `GoDecode` is implemented for every request type (compile-time only).
#[allow(dead_code)]
fn _assert_decodable(a: &mut PluginArgs, v: &gojson::GoValue) -> Result<(), DecodeError> {
    a.apply(v, "")
}
