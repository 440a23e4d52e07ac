//! `sigstore-kms-azurekms`: the plugin program (see the library docs).

fn main() -> std::process::ExitCode {
    sigstore_kms_azurekms::main_entry()
}
