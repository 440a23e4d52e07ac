//! The async methods on a Tokio runtime built without its I/O driver: they fall back to the
//! blocking pool (Tokio's refusal is caught once) and still work, cancellation included. Its
//! own binary, because the fallback, once taken, is for the whole process.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{fixture_options, live_children};
use sigstore_kms_plugins::get_signer_verifier;

#[test]
fn async_calls_work_on_a_runtime_without_io() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let sv = get_signer_verifier("fixture://k", fixture_options()).unwrap();
    rt.block_on(async {
        // The first call meets Tokio's "IO is disabled" panic and falls back; the second goes
        // to the blocking pool at once.
        let first = sv.default_algorithm().await.unwrap();
        assert_eq!(first, sv.default_algorithm_blocking().unwrap());
        let signature = sv.sign_message(b"hello".to_vec()).await.unwrap();
        assert!(!signature.is_empty());
    });

    // Dropping the future still kills the plugin (no time driver here: a thread drops it).
    let slow = get_signer_verifier("hang://k", fixture_options().timeout(None)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    rt.block_on(async {
        let call = slow.default_algorithm();
        tokio::pin!(call);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            let _ = tx.send(());
        });
        let waiter = tokio::task::spawn_blocking(move || rx.recv());
        tokio::select! {
            _ = &mut call => panic!("the hanging call finished"),
            _ = waiter => {}
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !live_children().is_empty() {
        assert!(std::time::Instant::now() < deadline, "plugin left running: {:?}", live_children());
        std::thread::sleep(Duration::from_millis(20));
    }
}
