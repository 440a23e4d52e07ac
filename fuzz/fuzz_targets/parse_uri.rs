#![no_main]
//! Any key URI: parsing never panics and never yields a program name with a path separator.
use libfuzzer_sys::fuzz_target;
use sigstore_kms_plugins::KeyUri;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(uri) = KeyUri::parse(s) {
            assert!(!uri.program_name().contains('/'));
            assert_eq!(uri.to_string(), s);
        }
    }
});
