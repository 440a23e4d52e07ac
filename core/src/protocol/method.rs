//! The six methods of protocol v1.

use std::fmt;

/// A method of the plugin protocol: the `methodName` of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `defaultAlgorithm`: the algorithm `createKey` uses when none is given.
    DefaultAlgorithm,
    /// `supportedAlgorithms`: the algorithms the plugin can create keys for.
    SupportedAlgorithms,
    /// `createKey`: create a key (or return an existing one) and answer its public key.
    CreateKey,
    /// `publicKey`: answer the public key.
    PublicKey,
    /// `signMessage`: sign stdin, or the digest given in the request.
    SignMessage,
    /// `verifySignature`: verify a signature over stdin (or the given digest).
    VerifySignature,
}

impl Method {
    /// All methods, in the order the Go reference declares them.
    pub const ALL: [Method; 6] = [
        Method::DefaultAlgorithm,
        Method::SupportedAlgorithms,
        Method::CreateKey,
        Method::PublicKey,
        Method::SignMessage,
        Method::VerifySignature,
    ];

    /// The wire name, e.g. `"signMessage"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Method::DefaultAlgorithm => "defaultAlgorithm",
            Method::SupportedAlgorithms => "supportedAlgorithms",
            Method::CreateKey => "createKey",
            Method::PublicKey => "publicKey",
            Method::SignMessage => "signMessage",
            Method::VerifySignature => "verifySignature",
        }
    }

    /// The method with wire name `name` (exact match, as the Go handler dispatches).
    #[must_use]
    pub fn from_wire_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Whether the message is sent on stdin for this method.
    #[must_use]
    pub fn takes_message(self) -> bool {
        matches!(self, Method::SignMessage | Method::VerifySignature)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
