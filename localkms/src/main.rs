//! `sigstore-kms-localkms`: the plugin program (see the library docs).

fn main() -> std::process::ExitCode {
    sigstore_kms_localkms::main_entry()
}
