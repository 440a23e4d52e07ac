//! The SDK configuration of one call: loaded only by the methods that talk to AWS KMS, from the
//! SDK's standard sources, plus what the Go provider adds (the endpoint in the URI,
//! `AWS_TLS_INSECURE_SKIP_VERIFY`).

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_types::date_time::{DateTime, Format};

use aws_config::imds::region::ImdsRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};

use crate::errors::Target;
use crate::http::{self, Trust};
use crate::reference::Reference;
use crate::Error;

/// The SDK behaviour version this plugin was written and tested against (pinned rather than
/// "latest", so that an SDK upgrade cannot change defaults such as retries unnoticed).
#[must_use]
pub fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

/// How long the SDK waits for a TCP (and TLS) connection before it retries: the SDK's default.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// Reads an environment variable; unset, empty and non-UTF-8 count as unset.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// How HTTPS servers are checked: `AWS_TLS_INSECURE_SKIP_VERIFY=1` (exactly `1`, as in Go), or
/// `AWS_CA_BUNDLE`, or the system's roots.
#[must_use]
pub fn trust() -> Trust {
    if std::env::var("AWS_TLS_INSECURE_SKIP_VERIFY").is_ok_and(|v| v == "1") {
        return Trust::Insecure;
    }
    // Read when the first HTTPS connection is made: an http:// endpoint never touches it.
    env("AWS_CA_BUNDLE").map_or(Trust::System, |path| Trust::Bundle(path.into()))
}

/// Where requests go, in words, for messages: the endpoint in the URI (https, as Go does), else
/// the configured one, else the region's.
fn endpoint_description(reference: &Reference, configured: Option<&str>, region: &str) -> String {
    if !reference.endpoint.is_empty() {
        return format!("https://{} (from the key URI)", reference.endpoint);
    }
    let ignore = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !ignore {
        for name in ["AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL"] {
            if let Some(url) = env(name) {
                return format!("{url} ({name})");
            }
        }
        if let Some(url) = configured {
            return format!("{url} (endpoint_url of the AWS profile)");
        }
    }
    format!("the AWS KMS endpoint of region {region}")
}

/// A configured client, and where it sends requests.
#[derive(Debug, Clone)]
pub struct Session {
    /// The KMS client.
    pub client: aws_sdk_kms::Client,
    /// Where requests go, for messages.
    pub target: Target,
}

/// Loads the configuration and builds the client for `reference`.
///
/// The region is, in order: `AWS_REGION` / `AWS_DEFAULT_REGION`, the profile's `region`, the
/// region of an ARN reference, and then the EC2 instance metadata (unless
/// `AWS_EC2_METADATA_DISABLED=true`). The ARN comes before the instance metadata so that a
/// reference that names its region never waits for a metadata endpoint that is not there.
pub async fn load(reference: &Reference) -> Result<Session, Error> {
    let http = http::Client::new(trust());
    let provider_config = ProviderConfig::default().with_http_client(http.clone());
    let arn_region = reference.arn_region().map(|r| Region::new(r.to_owned()));
    // An empty AWS_REGION counts as unset, as in Go (the SDK's own provider would answer "").
    let env_region = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")).map(Region::new);
    let region = RegionProviderChain::first_try(env_region)
        .or_else(ProfileFileRegionProvider::builder().configure(&provider_config).build())
        .or_else(arn_region)
        .or_else(ImdsRegionProvider::builder().configure(&provider_config).build());
    let Some(region) = region.region().await else {
        return Err(Error::new(format!(
            "no AWS region is configured for {reference}: set AWS_REGION (or AWS_DEFAULT_REGION), a region in the AWS \
             profile (~/.aws/config, AWS_PROFILE), or use the key's ARN (awskms:///arn:aws:kms:REGION:ACCOUNT:...), \
             which names its region"
        )));
    };
    if region.as_ref().is_empty() || !region.as_ref().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(Error::new(format!(
            "the AWS region {:?} is not a region name (such as eu-west-2): check AWS_REGION, AWS_DEFAULT_REGION and the \
             profile's region",
            region.as_ref()
        )));
    }
    let timeouts = TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).build();
    let sdk = aws_config::defaults(behavior_version())
        .http_client(http)
        .region(region.clone())
        .timeout_config(timeouts)
        .load()
        .await;
    let mut kms = aws_sdk_kms::config::Builder::from(&sdk);
    if let Some(credentials) = sdk.credentials_provider() {
        kms = kms.credentials_provider(RefuseExpired(credentials));
    }
    if !reference.endpoint.is_empty() {
        kms = kms.endpoint_url(format!("https://{}", reference.endpoint));
    }
    let secrets =
        ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"].into_iter().filter_map(env).collect();
    let target = Target {
        key: reference.key_id.clone(),
        region: region.to_string(),
        endpoint: endpoint_description(reference, sdk.endpoint_url(), region.as_ref()),
        secrets,
    };
    Ok(Session { client: aws_sdk_kms::Client::from_conf(kms.build()), target })
}

/// Refuses credentials that have already expired (a `credential_process` or cache that hands
/// out stale ones): AWS would refuse them anyway, with a less helpful message.
#[derive(Debug)]
struct RefuseExpired(SharedCredentialsProvider);

impl ProvideCredentials for RefuseExpired {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let credentials = self.0.provide_credentials().await?;
            match credentials.expiry() {
                Some(at) if at <= SystemTime::now() => Err(CredentialsError::provider_error(format!(
                    "the credentials have expired (at {})",
                    DateTime::from(at).fmt(Format::DateTime).unwrap_or_else(|_| "an earlier time".into())
                ))),
                _ => Ok(credentials),
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_in_words() {
        let uri = Reference::parse("localhost:4566/alias/x").unwrap();
        assert_eq!(endpoint_description(&uri, None, "r"), "https://localhost:4566 (from the key URI)");
        let plain = Reference::parse("/alias/x").unwrap();
        let text = endpoint_description(&plain, Some("https://kms.example"), "eu-west-2");
        // Unless the environment of this test run names one, the profile's is used, then the region's.
        if std::env::var_os("AWS_ENDPOINT_URL_KMS").is_none() && std::env::var_os("AWS_ENDPOINT_URL").is_none() {
            assert_eq!(text, "https://kms.example (endpoint_url of the AWS profile)");
            assert_eq!(endpoint_description(&plain, None, "eu-west-2"), "the AWS KMS endpoint of region eu-west-2");
        }
    }
}
