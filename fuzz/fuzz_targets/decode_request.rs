#![no_main]
//! Any argv[2]: the plugin-side request decoder never panics, and what decodes re-encodes.
use libfuzzer_sys::fuzz_target;
use sigstore_kms_plugins::protocol::PluginArgs;

fuzz_target!(|data: &[u8]| {
    if let Ok(args) = PluginArgs::from_json(data) {
        let again = PluginArgs::from_json(&args.to_json()).expect("our own encoding decodes");
        assert_eq!(again, args);
    }
});
