//! Wire format of protocol v1: request and response types, Go-compatible JSON.
//!
//! Requests are written byte for byte as the Go client writes them (field order, `null` digest,
//! `\u003c`-style escapes, RFC 3339 deadlines, padded base64); responses and requests are read
//! with Go's decoding rules (see [`gojson`]). The same types serve the host and the plugin SDK.

pub mod fields;
pub mod gojson;
mod hash;
mod method;
mod request;
mod response;

pub use hash::{HashFunc, UnknownHashFunc};
pub use method::Method;
pub use request::{
    CreateKeyArgs, DefaultAlgorithmArgs, InitOptions, MessageOptions, MethodArgs, PluginArgs, PublicKeyArgs,
    PublicKeyOptions, RpcOptions, SignMessageArgs, SignOptions, SupportedAlgorithmsArgs, VerifyOptions,
    VerifySignatureArgs,
};
pub use response::{
    decode_response, CreateKeyResp, DefaultAlgorithmResp, MethodResult, PluginResponse, PublicKeyResp, ResponseError,
    SignMessageResp, SupportedAlgorithmsResp, VerifySignatureResp,
};

/// The protocol version this crate speaks, passed as `argv[1]`.
pub const PROTOCOL_VERSION: &str = "v1";

/// The prefix of every plugin program's name: `sigstore-kms-NAME`.
pub const PROGRAM_PREFIX: &str = "sigstore-kms-";
