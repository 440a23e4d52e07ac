//! `sigstore-kms-openbao`: the plugin for `openbao://` key URIs (see the library docs).

fn main() -> std::process::ExitCode {
    sigstore_kms_hashivault::main_entry(sigstore_kms_hashivault::Scheme::Openbao)
}
