//! `sigstore-kms-hashivault`: the plugin for `hashivault://` key URIs (see the library docs).

fn main() -> std::process::ExitCode {
    sigstore_kms_hashivault::main_entry(sigstore_kms_hashivault::Scheme::Hashivault)
}
