//! Response types: the JSON a plugin writes on stdout.

use serde::Serialize;

use super::gojson::{self, go_decode_struct, ser_base64, DecodeError};
use super::Method;

/// Answer of `defaultAlgorithm`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DefaultAlgorithmResp {
    /// The algorithm `createKey` uses by default.
    #[serde(rename = "defaultAlgorithm")]
    pub default_algorithm: String,
}
go_decode_struct!(DefaultAlgorithmResp, "a defaultAlgorithm object" { "defaultAlgorithm" => default_algorithm });

/// Answer of `supportedAlgorithms`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SupportedAlgorithmsResp {
    /// The algorithms the plugin supports.
    #[serde(rename = "supportedAlgorithms")]
    pub supported_algorithms: Vec<String>,
}
go_decode_struct!(SupportedAlgorithmsResp, "a supportedAlgorithms object" { "supportedAlgorithms" => supported_algorithms });

/// Answer of `createKey` and `publicKey`: the public key PEM text (base64 on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PublicKeyResp {
    /// The PEM bytes.
    #[serde(rename = "publicKeyPEM", serialize_with = "ser_base64")]
    pub public_key_pem: Vec<u8>,
}
go_decode_struct!(PublicKeyResp, "a publicKey/createKey object" { "publicKeyPEM" => public_key_pem });

/// Go's `common.CreateKeyResp` (the same shape as [`PublicKeyResp`]).
pub type CreateKeyResp = PublicKeyResp;

/// Answer of `signMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SignMessageResp {
    /// The signature bytes.
    #[serde(rename = "signature", serialize_with = "ser_base64")]
    pub signature: Vec<u8>,
}
go_decode_struct!(SignMessageResp, "a signMessage object" { "signature" => signature });

/// Answer of `verifySignature` (empty: success is the absence of an error).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct VerifySignatureResp {}
go_decode_struct!(VerifySignatureResp, "a verifySignature object" {});

/// One response: Go's `common.PluginResp`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PluginResponse {
    /// The plugin's error; non-empty means the call failed, whatever else is set.
    #[serde(rename = "errorMessage", skip_serializing_if = "String::is_empty")]
    pub error_message: String,
    /// Set for `defaultAlgorithm`.
    #[serde(rename = "defaultAlgorithm", skip_serializing_if = "Option::is_none")]
    pub default_algorithm: Option<DefaultAlgorithmResp>,
    /// Set for `supportedAlgorithms`.
    #[serde(rename = "supportedAlgorithms", skip_serializing_if = "Option::is_none")]
    pub supported_algorithms: Option<SupportedAlgorithmsResp>,
    /// Set for `createKey`.
    #[serde(rename = "createKey", skip_serializing_if = "Option::is_none")]
    pub create_key: Option<CreateKeyResp>,
    /// Set for `publicKey`.
    #[serde(rename = "publicKey", skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyResp>,
    /// Set for `signMessage`.
    #[serde(rename = "signMessage", skip_serializing_if = "Option::is_none")]
    pub sign_message: Option<SignMessageResp>,
    /// Set for `verifySignature`.
    #[serde(rename = "verifySignature", skip_serializing_if = "Option::is_none")]
    pub verify_signature: Option<VerifySignatureResp>,
}

go_decode_struct!(PluginResponse, "a response object" {
    "errorMessage" => error_message,
    "defaultAlgorithm" => default_algorithm,
    "supportedAlgorithms" => supported_algorithms,
    "createKey" => create_key,
    "publicKey" => public_key,
    "signMessage" => sign_message,
    "verifySignature" => verify_signature,
});

/// The successful result of one method, as read from a response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum MethodResult {
    DefaultAlgorithm(String),
    SupportedAlgorithms(Vec<String>),
    CreateKey { public_key_pem: Vec<u8> },
    PublicKey { public_key_pem: Vec<u8> },
    SignMessage { signature: Vec<u8> },
    VerifySignature,
}

impl MethodResult {
    /// The method this result answers.
    #[must_use]
    pub fn method(&self) -> Method {
        match self {
            MethodResult::DefaultAlgorithm(_) => Method::DefaultAlgorithm,
            MethodResult::SupportedAlgorithms(_) => Method::SupportedAlgorithms,
            MethodResult::CreateKey { .. } => Method::CreateKey,
            MethodResult::PublicKey { .. } => Method::PublicKey,
            MethodResult::SignMessage { .. } => Method::SignMessage,
            MethodResult::VerifySignature => Method::VerifySignature,
        }
    }
}

/// Why a response did not give a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    /// The output is not a response Go's decoder accepts, or lacks the method's object.
    Invalid(DecodeError),
    /// The plugin reported an error in `errorMessage`.
    Returned(String),
}

impl PluginResponse {
    /// A response carrying `result`.
    #[must_use]
    pub fn from_result(result: MethodResult) -> Self {
        let mut out = PluginResponse::default();
        match result {
            MethodResult::DefaultAlgorithm(a) => {
                out.default_algorithm = Some(DefaultAlgorithmResp { default_algorithm: a });
            }
            MethodResult::SupportedAlgorithms(a) => {
                out.supported_algorithms = Some(SupportedAlgorithmsResp { supported_algorithms: a });
            }
            MethodResult::CreateKey { public_key_pem } => out.create_key = Some(PublicKeyResp { public_key_pem }),
            MethodResult::PublicKey { public_key_pem } => out.public_key = Some(PublicKeyResp { public_key_pem }),
            MethodResult::SignMessage { signature } => out.sign_message = Some(SignMessageResp { signature }),
            MethodResult::VerifySignature => out.verify_signature = Some(VerifySignatureResp {}),
        }
        out
    }

    /// A response carrying only an error message.
    #[must_use]
    pub fn from_error(message: impl Into<String>) -> Self {
        PluginResponse { error_message: message.into(), ..PluginResponse::default() }
    }

    /// The compact JSON the Go handler's `json.Marshal` writes for this response.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        gojson::to_go_json(self)
    }

    /// Decodes a response as Go's `json.Unmarshal` would (the host side).
    pub fn from_json(bytes: &[u8]) -> Result<Self, DecodeError> {
        gojson::decode_document(bytes)
    }

    /// The result for `method`: the plugin's error if `errorMessage` is non-empty, an
    /// [`ResponseError::Invalid`] if the method's object is missing.
    pub fn into_result(self, method: Method) -> Result<MethodResult, ResponseError> {
        if !self.error_message.is_empty() {
            return Err(ResponseError::Returned(self.error_message));
        }
        let result = match method {
            Method::DefaultAlgorithm => {
                self.default_algorithm.map(|r| MethodResult::DefaultAlgorithm(r.default_algorithm))
            }
            Method::SupportedAlgorithms => {
                self.supported_algorithms.map(|r| MethodResult::SupportedAlgorithms(r.supported_algorithms))
            }
            Method::CreateKey => self.create_key.map(|r| MethodResult::CreateKey { public_key_pem: r.public_key_pem }),
            Method::PublicKey => self.public_key.map(|r| MethodResult::PublicKey { public_key_pem: r.public_key_pem }),
            Method::SignMessage => self.sign_message.map(|r| MethodResult::SignMessage { signature: r.signature }),
            Method::VerifySignature => self.verify_signature.map(|_| MethodResult::VerifySignature),
        };
        result.ok_or_else(|| {
            ResponseError::Invalid(DecodeError {
                path: String::new(),
                message: format!(
                    "the response has no {:?} object (a plugin must answer {{\"{0}\":{{...}}}} or {{\"errorMessage\":\"...\"}})",
                    method.as_str()
                ),
            })
        })
    }
}

/// Decodes `stdout` and extracts the result of `method`.
pub fn decode_response(method: Method, stdout: &[u8]) -> Result<MethodResult, ResponseError> {
    PluginResponse::from_json(stdout).map_err(ResponseError::Invalid)?.into_result(method)
}
