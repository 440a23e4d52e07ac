//! `sigstore-kms-gcpkms`: the plugin program (see the library docs).

fn main() -> std::process::ExitCode {
    sigstore_kms_gcpkms::main_entry()
}
