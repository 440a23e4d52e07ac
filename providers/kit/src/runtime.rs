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
    Runtime::new(what)?.block_on(what, timeout, future)
}

/// A current-thread Tokio runtime (I/O and timer drivers) kept for a whole call, for a provider
/// that makes several requests with synchronous work in between (reading and hashing the
/// message): connections opened by one [`Runtime::block_on`] stay usable in the next, which
/// they would not with a new runtime each time.
///
/// ```
/// use std::time::Duration;
/// let rt = sigstore_kms_provider_kit::runtime::Runtime::new("the KMS")?;
/// assert_eq!(rt.block_on("first", Duration::from_secs(5), async { 1 })?, 1);
/// assert_eq!(rt.block_on("second", Duration::from_secs(5), async { 2 })?, 2);
/// # Ok::<(), sigstore_kms_provider_kit::Error>(())
/// ```
#[derive(Debug)]
pub struct Runtime(tokio::runtime::Runtime);

impl Runtime {
    /// A new runtime; `what` names what it is for, in the error if it cannot start.
    pub fn new(what: &str) -> Result<Self, Error> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(Runtime)
            .map_err(|e| Error::new(format!("cannot start the I/O runtime for {what}: {e}")))
    }

    /// Runs `future` to completion, giving up after `timeout` (see [`block_on`]).
    pub fn block_on<F: Future>(&self, what: &str, timeout: Duration, future: F) -> Result<F::Output, Error> {
        self.0.block_on(async { tokio::time::timeout(timeout, future).await }).map_err(|_| {
            Error::new(format!(
                "{what} timed out after {}: the KMS did not answer before the host's deadline; check that the \
                 endpoint is reachable, or give the call a longer timeout",
                human(timeout)
            ))
        })
    }

    /// The Tokio runtime, for what needs a handle (spawning, entering its context).
    #[must_use]
    pub fn tokio(&self) -> &tokio::runtime::Runtime {
        &self.0
    }
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
    fn one_runtime_serves_several_calls() {
        let rt = Runtime::new("test").unwrap();
        let listener = rt.block_on("bind", Duration::from_secs(5), tokio::net::TcpListener::bind("127.0.0.1:0"));
        let listener = listener.unwrap().unwrap();
        let addr = listener.local_addr().unwrap();
        // A socket made in one block_on is still driven by the next.
        let accepted = rt.block_on("accept", Duration::from_secs(5), async {
            let connect = tokio::spawn(tokio::net::TcpStream::connect(addr));
            let accepted = listener.accept().await;
            accepted.is_ok() && matches!(connect.await, Ok(Ok(_)))
        });
        assert!(accepted.unwrap());
        let e = rt.block_on("waiting", Duration::from_millis(5), std::future::pending::<()>()).unwrap_err();
        assert!(e.to_string().starts_with("waiting timed out after 5ms"), "{e}");
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
