#![no_main]
//! Any stdout, any method: the host's decoder returns a result or an error, never panics.
use libfuzzer_sys::fuzz_target;
use sigstore_kms_plugins::protocol::decode_response;
use sigstore_kms_plugins::Method;

fuzz_target!(|data: &[u8]| {
    if let Some((&m, rest)) = data.split_first() {
        let method = Method::ALL[usize::from(m) % Method::ALL.len()];
        let _ = decode_response(method, rest);
    }
});
