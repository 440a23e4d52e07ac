//! Every failure of a Cloud KMS call as one message: what failed, and what to check.

use std::error::Error as StdError;

use google_cloud_gax::error::rpc::Code;
use google_cloud_gax::error::Error as GaxError;

use crate::config::Config;
use crate::Error;

/// The IAM role a call needs, for permission errors.
fn role(op: &str) -> &'static str {
    match op {
        "AsymmetricSign" => "roles/cloudkms.signer (permission cloudkms.cryptoKeyVersions.useToSign)",
        "GetPublicKey" => "roles/cloudkms.publicKeyViewer (permission cloudkms.cryptoKeyVersions.viewPublicKey)",
        "CreateKeyRing" | "CreateCryptoKey" => {
            "roles/cloudkms.admin (permissions cloudkms.keyRings.create, cloudkms.cryptoKeys.create)"
        }
        _ => "roles/cloudkms.viewer (permissions cloudkms.cryptoKeys.get, cloudkms.cryptoKeyVersions.list)",
    }
}

pub use sigstore_kms_provider_kit::error_text::chain;

/// Turns the SDK's error of operation `op` on `resource` into our message.
#[must_use]
pub fn describe(op: &str, resource: &str, config: &Config, err: &GaxError) -> Error {
    // After the retries, what counts is the last attempt's error.
    if err.is_exhausted() {
        if let Some(last) = err.source().and_then(|s| s.downcast_ref::<GaxError>()) {
            return describe(op, resource, config, last);
        }
    }
    let head = format!("Cloud KMS {op} for {resource} failed");
    let body = if let Some(status) = err.status() {
        let msg = status.message.trim();
        let said =
            if msg.is_empty() { status.code.name().to_owned() } else { format!("{}: {msg}", status.code.name()) };
        match status.code {
            Code::NotFound => format!(
                "not found ({said}): check the project, location, key ring, key and version in the key URI, and \
                 that the credentials ({}) belong to that project",
                config.credentials_source
            ),
            Code::PermissionDenied => format!(
                "permission denied ({said}): the account of {} needs {} on the key",
                config.credentials_source,
                role(op)
            ),
            Code::Unauthenticated => format!(
                "the credentials were refused ({said}): they come from {}; refresh them (gcloud auth \
                 application-default login) or point GOOGLE_APPLICATION_CREDENTIALS at a valid key file",
                config.credentials_source
            ),
            Code::ResourceExhausted => format!(
                "throttled or over quota ({said}); the plugin retried until the call's deadline: try again later, \
                 give the call a longer timeout, or raise the Cloud KMS quota"
            ),
            Code::Unavailable | Code::DeadlineExceeded => format!(
                "the service did not answer ({said}); the plugin retried until the call's deadline: try again later"
            ),
            Code::FailedPrecondition => format!("the key cannot be used now ({said})"),
            Code::InvalidArgument => format!("the request was refused ({said})"),
            _ => said,
        }
    } else if err.is_authentication() {
        format!(
            "no usable Google credentials ({}): they come from {}. Set GOOGLE_APPLICATION_CREDENTIALS to a \
             service account or authorized user JSON file, or run `gcloud auth application-default login`",
            chain(err),
            config.credentials_source
        )
    } else if err.is_timeout() {
        format!(
            "no answer from {} in time ({}): check that the endpoint is reachable, or give the call a longer timeout",
            config.endpoint_shown(),
            chain(err)
        )
    } else if err.is_connect() || err.is_io() || err.is_transport() {
        let cause = chain(err);
        let tls = if cause.to_ascii_lowercase().contains("certificate") {
            "; for a server whose certificate a private CA issued, set SSL_CERT_FILE to that CA's PEM file"
        } else {
            ""
        };
        format!(
            "cannot reach {} ({cause}): check the network, the proxy settings (HTTPS_PROXY, NO_PROXY) and \
             {}{tls}",
            config.endpoint_shown(),
            crate::config::ENDPOINT_VAR
        )
    } else if err.is_exhausted() {
        format!("the plugin gave up retrying ({})", chain(err))
    } else {
        chain(err)
    };
    Error::new(config.scrub(&format!("{head}: {body}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use google_cloud_gax::error::rpc::Status;

    use super::*;

    fn config() -> Config {
        Config {
            endpoint: Some("https://127.0.0.1:1".into()),
            credentials_source: "the file /x.json (GOOGLE_APPLICATION_CREDENTIALS)".into(),
            secrets: vec![sigstore_kms_provider_kit::Secret::new("1//refresh")],
            metadata_server: None,
        }
    }

    #[test]
    fn service_errors_say_what_to_check() {
        let e = |code: Code, msg: &str| GaxError::service(Status::default().set_code(code).set_message(msg));
        let d = describe("GetPublicKey", "projects/p/.../cryptoKeyVersions/1", &config(), &e(Code::NotFound, "gone"));
        assert!(
            d.to_string().starts_with(
                "Cloud KMS GetPublicKey for projects/p/.../cryptoKeyVersions/1 failed: not found (NOT_FOUND: gone)"
            ),
            "{d}"
        );
        let d = describe("AsymmetricSign", "k", &config(), &e(Code::PermissionDenied, "no"));
        assert!(d.to_string().contains("roles/cloudkms.signer"), "{d}");
        let d = describe("AsymmetricSign", "k", &config(), &e(Code::ResourceExhausted, "slow down"));
        assert!(d.to_string().contains("throttled"), "{d}");
        let d = describe("AsymmetricSign", "k", &config(), &e(Code::Unauthenticated, "token 1//refresh is bad"));
        assert!(d.to_string().contains("[redacted]") && !d.to_string().contains("1//refresh"), "{d}");
    }
}
