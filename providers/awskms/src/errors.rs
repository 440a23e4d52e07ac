//! Every failure of an AWS KMS call as one message: what failed, and what to check.

use std::error::Error as StdError;
use std::fmt::Debug;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::Error;

/// Where a call went, for the messages.
#[derive(Debug, Clone)]
pub struct Target {
    /// The key as the reference named it.
    pub key: String,
    /// The region requests were signed for.
    pub region: String,
    /// Where requests went, e.g. `https://localhost:4566 (from the key URI)`.
    pub endpoint: String,
    /// Secrets that must not appear in a message (from the environment).
    pub secrets: Vec<String>,
}

impl Target {
    /// `text` with every secret replaced by `[redacted]`.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        self.secrets.iter().filter(|s| s.len() >= 4).fold(text.to_owned(), |t, s| t.replace(s.as_str(), "[redacted]"))
    }
}

/// The IAM action of an operation, for access-denied hints.
fn action(op: &str) -> String {
    format!("kms:{op}")
}

/// Turns the SDK's error of operation `op` (`"Sign"`, `"GetPublicKey"`, ...) into our message.
pub fn describe<E, R>(op: &str, target: &Target, err: &SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static,
{
    let head = format!("AWS KMS {op} for key {} failed", target.key);
    let body = match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            service_error(op, target, e.code().unwrap_or("UnknownError"), e.message().unwrap_or(""))
        }
        SdkError::TimeoutError(_) => format!(
            "no answer from {} in time: check that the endpoint is reachable, or give the call a longer timeout",
            target.endpoint
        ),
        SdkError::DispatchFailure(failure) => {
            let cause = chain(err);
            if let Some(creds) = credentials_error(err) {
                credentials_hint(creds, &cause)
            } else if failure.is_timeout() {
                format!(
                    "no answer from {} in time ({cause}): check the endpoint (the key URI, AWS_ENDPOINT_URL_KMS, \
                     AWS_ENDPOINT_URL), the network and proxy settings (HTTPS_PROXY, NO_PROXY)",
                    target.endpoint
                )
            } else if looks_like_tls(&cause) {
                format!(
                    "the TLS connection to {} failed ({cause}): check the endpoint's certificate; for a private CA set \
                     AWS_CA_BUNDLE to its PEM file (AWS_TLS_INSECURE_SKIP_VERIFY=1 skips the check, for tests only)",
                    target.endpoint
                )
            } else {
                format!(
                    "cannot reach AWS KMS at {} ({cause}): check the endpoint (the key URI, AWS_ENDPOINT_URL_KMS, \
                     AWS_ENDPOINT_URL), that it is up, and the network and proxy settings (HTTPS_PROXY, NO_PROXY)",
                    target.endpoint
                )
            }
        }
        SdkError::ConstructionFailure(_) => {
            let cause = chain(err);
            match credentials_error(err) {
                Some(creds) => credentials_hint(creds, &cause),
                None => format!("the request could not be made ({cause})"),
            }
        }
        SdkError::ResponseError(_) => format!(
            "the answer from {} could not be read ({}): check that the endpoint is AWS KMS (or an emulator of it)",
            target.endpoint,
            chain(err)
        ),
        _ => chain(err),
    };
    Error::new(target.scrub(&format!("{head}: {body}")))
}

/// The message for an error AWS KMS answered with `code`.
#[must_use]
pub fn service_error(op: &str, target: &Target, code: &str, message: &str) -> String {
    let said = if message.is_empty() { code.to_owned() } else { format!("{code}: {message}") };
    match code {
        "NotFoundException" => format!(
            "the key does not exist ({said}): check the key ID, alias or ARN, and that the region ({}) and the account \
             of your credentials are the key's",
            target.region
        ),
        "AccessDeniedException" | "AccessDenied" => format!(
            "access denied ({said}): the credentials in use need {} on this key, in their IAM policy and in the key \
             policy; check which credentials are in use (AWS_PROFILE, AWS_ACCESS_KEY_ID, ...)",
            action(op)
        ),
        "DisabledException" => {
            format!("the key is disabled ({said}): enable it (aws kms enable-key) or use another key")
        }
        "KMSInvalidStateException" => format!(
            "the key cannot be used in its current state ({said}): it may be pending deletion or pending import; check \
             its state with aws kms describe-key"
        ),
        "InvalidKeyUsageException" => format!(
            "the key cannot do this ({said}): signing needs an asymmetric key with key usage SIGN_VERIFY (an RSA or \
             ECC_NIST key)"
        ),
        "KMSInvalidSignatureException" => format!("invalid signature: AWS KMS says it does not verify ({said})"),
        "ThrottlingException"
        | "Throttling"
        | "ThrottledException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "LimitExceededException" => format!(
            "AWS KMS throttled the request and the retries did not get through ({said}): try again later, allow more \
             attempts (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE=adaptive), or ask AWS for a higher request quota"
        ),
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "MissingAuthenticationTokenException"
        | "InvalidAccessKeyId"
        | "AuthFailure" => format!(
            "AWS refused the credentials ({said}): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and \
             AWS_SESSION_TOKEN, or the profile in use (AWS_PROFILE, ~/.aws/credentials), and that they belong to the \
             partition of region {}",
            target.region
        ),
        "ExpiredTokenException" | "ExpiredToken" | "TokenRefreshRequired" => format!(
            "the credentials have expired ({said}): get new ones (aws sso login, a new session token, or a fresh \
             AWS_SESSION_TOKEN)"
        ),
        "RequestExpired" | "RequestTimeTooSkewed" | "InvalidSignatureException.Skew" => {
            format!("AWS refused the request's time ({said}): check this machine's clock")
        }
        "KMSInternalException"
        | "DependencyTimeoutException"
        | "KeyUnavailableException"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "InternalFailure"
        | "InternalError" => {
            format!("AWS KMS could not process the request ({said}); this is usually temporary: try again later")
        }
        "ValidationException" => format!("AWS KMS refused the request as invalid ({said})"),
        "UnsupportedOperationException" => format!("AWS KMS does not support this for the key ({said})"),
        _ => format!("AWS KMS answered {said}"),
    }
}

/// The credentials error in `err`'s causes, if any.
fn credentials_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a CredentialsError> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return Some(c);
        }
        next = e.source();
    }
    None
}

fn credentials_hint(err: &CredentialsError, cause: &str) -> String {
    match err {
        CredentialsError::CredentialsNotLoaded(_) => format!(
            "no AWS credentials were found ({cause}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, choose a \
             profile with AWS_PROFILE (~/.aws/config, ~/.aws/credentials), log in with aws sso login, or run where \
             a web identity token, a container role or an EC2 instance role provides them"
        ),
        CredentialsError::ProviderTimedOut(_) => format!(
            "loading AWS credentials timed out ({cause}): check the credential source (SSO, STS, the container or \
             instance metadata endpoint); off EC2, AWS_EC2_METADATA_DISABLED=true skips the instance metadata"
        ),
        CredentialsError::InvalidConfiguration(_) => format!(
            "the AWS credential configuration is invalid ({cause}): check ~/.aws/config, ~/.aws/credentials and the \
             AWS_* environment variables"
        ),
        _ if cause.contains("expired") => format!(
            "the AWS credentials have expired ({cause}): get new ones (aws sso login, a new session token, or whatever \
             the profile's credential_process or source uses)"
        ),
        _ => format!(
            "loading AWS credentials failed ({cause}): check the profile in use (AWS_PROFILE) and its source; for SSO, \
             log in again with aws sso login"
        ),
    }
}

/// The causes of `err` (below the SDK's own one-word summary, such as "dispatch failure"), each
/// once, on one line.
fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
        // Errors often repeat their source in their own text: keep the most specific wording once.
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    if parts.is_empty() {
        DisplayErrorContext(err).to_string()
    } else {
        parts.join(": ")
    }
}

fn looks_like_tls(cause: &str) -> bool {
    let c = cause.to_ascii_lowercase();
    ["certificate", "tls handshake", "unknownissuer", "invalid peer", "peer is incompatible"]
        .iter()
        .any(|w| c.contains(w))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use aws_sdk_kms::operation::sign::SignError;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    fn target() -> Target {
        Target {
            key: "alias/release".into(),
            region: "eu-west-2".into(),
            endpoint: "http://127.0.0.1:9 (AWS_ENDPOINT_URL_KMS)".into(),
            secrets: vec!["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into()],
        }
    }

    fn service(code: &str, message: &str) -> String {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        let err: SdkError<SignError, HttpResponse> = SdkError::service_error(
            SignError::generic(meta),
            HttpResponse::new(400.try_into().unwrap(), SdkBody::empty()),
        );
        describe("Sign", &target(), &err).to_string()
    }

    /// The failures AWS KMS answers with: each says what failed and what to check (these cannot
    /// all be produced by local-kms, which checks no credentials and never throttles).
    #[test]
    fn service_errors_say_what_to_check() {
        let cases = [
            ("AccessDeniedException", "User: arn:aws:iam::111122223333:user/ci is not authorized", "kms:Sign"),
            ("NotFoundException", "Alias arn:aws:kms:eu-west-2:111122223333:alias/release is not found.", "eu-west-2"),
            ("DisabledException", "key is disabled", "enable-key"),
            ("InvalidKeyUsageException", "ENCRYPT_DECRYPT", "SIGN_VERIFY"),
            ("ThrottlingException", "Rate exceeded", "AWS_MAX_ATTEMPTS"),
            (
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
                "AWS_ACCESS_KEY_ID",
            ),
            ("ExpiredTokenException", "The security token included in the request is expired", "aws sso login"),
            ("KMSInternalException", "", "temporary"),
            ("SomethingNew", "odd", "SomethingNew: odd"),
        ];
        for (code, message, hint) in cases {
            let text = service(code, message);
            assert!(text.starts_with("AWS KMS Sign for key alias/release failed: "), "{text}");
            assert!(text.contains(code) && text.contains(message) && text.contains(hint), "{code}: {text}");
        }
    }

    #[test]
    fn secrets_never_show() {
        let text = service("InvalidSignatureException", "secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY echoed");
        assert!(!text.contains("wJalrXUtnFEMI") && text.contains("[redacted]"), "{text}");
    }

    #[test]
    fn transport_errors_name_the_endpoint() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        let err: SdkError<SignError, HttpResponse> = SdkError::dispatch_failure(ConnectorError::io(refused.into()));
        let text = describe("Sign", &target(), &err).to_string();
        assert!(text.contains("cannot reach AWS KMS at http://127.0.0.1:9") && text.contains("refused"), "{text}");
        let bad_cert = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        let err: SdkError<SignError, HttpResponse> = SdkError::dispatch_failure(ConnectorError::io(bad_cert.into()));
        let text = describe("Sign", &target(), &err).to_string();
        assert!(text.contains("TLS") && text.contains("AWS_CA_BUNDLE"), "{text}");
        let err: SdkError<SignError, HttpResponse> =
            SdkError::construction_failure(CredentialsError::not_loaded("no providers in chain provided credentials"));
        let text = describe("Sign", &target(), &err).to_string();
        assert!(text.contains("no AWS credentials were found") && text.contains("AWS_PROFILE"), "{text}");
    }
}
