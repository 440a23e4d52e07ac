//! `sigstore-kms-awskms`: the plugin program (see the library docs).

fn main() -> std::process::ExitCode {
    sigstore_kms_awskms::main_entry()
}
