//! `sigstore-kms`: see the library docs.

fn main() -> std::process::ExitCode {
    sigstore_kms_cli::main_entry()
}
