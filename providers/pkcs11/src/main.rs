//! `sigstore-kms-pkcs11`: the plugin program (see the library docs).

fn main() -> std::process::ExitCode {
    sigstore_kms_pkcs11::main_entry()
}
