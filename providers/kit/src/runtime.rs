//! A blocking bridge for providers whose KMS client is async (the AWS, GCP and Azure SDKs): one
//! plugin process serves one call, so a small current-thread runtime per call is all it needs.

use std::future::Future;
use std::time::Duration;

use crate::Error;

/// Runs `future` to completion on a new current-thread Tokio runtime (with its I/O and timer
/// drivers), giving up after `timeout`.
///
/// `what` names the operation for the timeout error, e.g. `"AWS KMS Sign"`. A timeout drops the
/// future, which closes its connections; the error says how long was waited and what to check.
///
/// ```
/// use std::time::Duration;
/// let n = sigstore_kms_provider_kit::runtime::block_on("adding", Duration::from_secs(5), async { 1 + 1 })?;
/// assert_eq!(n, 2);
/// let e = sigstore_kms_provider_kit::runtime::block_on("waiting", Duration::from_millis(10), std::future::pending::<()>());
/// assert!(e.unwrap_err().to_string().contains("waiting timed out"));
/// # Ok::<(), sigstore_kms_provider_kit::Error>(())
/// ```
pub fn block_on<F: Future>(what: &str, timeout: Duration, future: F) -> Result<F::Output, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::new(format!("cannot start the I/O runtime for {what}: {e}")))?;
    runtime.block_on(async { tokio::time::timeout(timeout, future).await }).map_err(|_| {
        Error::new(format!(
            "{what} timed out after {}: the KMS did not answer before the host's deadline; check that the \
             endpoint is reachable, or give the call a longer timeout",
            human(timeout)
        ))
    })
}

/// `1.5s`, `250ms`, `2m0s`: short and exact enough for an error message.
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_secs(120)), "2m0s");
    }

    #[test]
    fn timers_and_sockets_work_inside() {
        let slept = block_on("sleeping", Duration::from_secs(5), async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            7
        });
        assert_eq!(slept.unwrap(), 7);
    }
}
