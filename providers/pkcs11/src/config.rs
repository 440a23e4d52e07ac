//! Where the module and the PIN come from: the key URI first, then the environment.

use std::path::{Path, PathBuf};

use sigstore_kms_provider_kit::{Error, Secret};

use crate::uri::Pkcs11Uri;

/// The PKCS#11 module to load when the key URI has no `module-path`.
pub const ENV_MODULE: &str = "SIGSTORE_KMS_PKCS11_MODULE";
/// The user PIN when the key URI has neither `pin-value` nor `pin-source`.
pub const ENV_PIN: &str = "SIGSTORE_KMS_PKCS11_PIN";
/// `0` lets the calls of this machine use a module at the same time (by default they take
/// turns: see [`crate::token::module_lock`]).
pub const ENV_SERIALIZE: &str = "SIGSTORE_KMS_PKCS11_SERIALIZE";
/// cosign's variable for the module, read after [`ENV_MODULE`].
pub const COSIGN_ENV_MODULE: &str = "COSIGN_PKCS11_MODULE_PATH";
/// cosign's variable for the PIN, read after [`ENV_PIN`].
pub const COSIGN_ENV_PIN: &str = "COSIGN_PKCS11_PIN";

/// Where PKCS#11 modules are commonly installed; an error about a missing module names those
/// that exist on this machine.
pub const KNOWN_MODULES: [&str; 14] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
    "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
    "/usr/lib64/opensc-pkcs11.so",
    "/usr/lib/x86_64-linux-gnu/libykcs11.so",
    "/usr/lib64/libykcs11.so",
    "/usr/local/lib/libykcs11.dylib",
    "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib64/p11-kit-proxy.so",
];

/// The environment the plugin reads, captured once (tests give their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// [`ENV_MODULE`], else [`COSIGN_ENV_MODULE`], and which of the two it was.
    pub module: Option<(PathBuf, &'static str)>,
    /// [`ENV_PIN`], else [`COSIGN_ENV_PIN`], and which of the two it was.
    pub pin: Option<(Secret, &'static str)>,
    /// Whether calls take turns on a module ([`ENV_SERIALIZE`] is not `0`).
    pub serialize: bool,
}

impl Default for Environment {
    fn default() -> Self {
        Environment { module: None, pin: None, serialize: true }
    }
}

impl Environment {
    /// Reads the process environment (empty variables count as unset).
    #[must_use]
    pub fn from_process() -> Self {
        let var = |name: &'static str| std::env::var_os(name).filter(|v| !v.is_empty()).map(|v| (v, name));
        Environment {
            module: var(ENV_MODULE).or_else(|| var(COSIGN_ENV_MODULE)).map(|(v, n)| (PathBuf::from(v), n)),
            pin: var(ENV_PIN)
                .or_else(|| var(COSIGN_ENV_PIN))
                .map(|(v, n)| (Secret::new(v.to_string_lossy().into_owned()), n)),
            serialize: std::env::var_os(ENV_SERIALIZE).is_none_or(|v| v != "0"),
        }
    }
}

/// A user PIN and where it came from (for messages: never the PIN itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The PIN.
    pub secret: Secret,
    /// Where it came from: `pin-value in the key URI`, `pin-source /run/pin`, `$SIGSTORE_KMS_PKCS11_PIN`.
    pub source: String,
}

/// The module to load for `uri`: its `module-path`, else the environment. It must be an
/// absolute path to an existing file (a relative name would be looked up in the working
/// directory or the loader's search path, which is not what anyone means for a key).
pub fn module_path(uri: &Pkcs11Uri, env: &Environment) -> Result<PathBuf, Error> {
    let (path, source) = match (&uri.module_path, &env.module) {
        (Some(p), _) => (p.clone(), "module-path in the key URI".to_owned()),
        (None, Some((p, var))) => (p.clone(), format!("${var}")),
        (None, None) => {
            let hint = match &uri.module_name {
                Some(name) => format!(
                    "module-name={name:?} is not resolved by this plugin (module directories differ between systems); "
                ),
                None => String::new(),
            };
            return Err(Error::new(format!(
                "no PKCS#11 module: {hint}add module-path=/path/to/module.so to the key URI (after '?'), or set {ENV_MODULE}{}",
                found_modules_hint()
            )));
        }
    };
    if !path.is_absolute() {
        return Err(Error::new(format!(
            "the PKCS#11 module {} (from {source}) is not an absolute path: give the full path of the module's shared library{}",
            path.display(),
            found_modules_hint()
        )));
    }
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(path),
        Ok(_) => Err(Error::new(format!("the PKCS#11 module {} (from {source}) is not a file", path.display()))),
        Err(e) => Err(Error::new(format!(
            "the PKCS#11 module {} (from {source}) cannot be used: {e}{}",
            path.display(),
            found_modules_hint()
        ))),
    }
}

fn found_modules_hint() -> String {
    let found: Vec<&str> = KNOWN_MODULES.iter().copied().filter(|p| Path::new(p).is_file()).collect();
    if found.is_empty() {
        String::new()
    } else {
        format!(" (modules found on this machine: {})", found.join(", "))
    }
}

/// The user PIN for `uri`: `pin-value`, else `pin-source`, else the environment; `None` when
/// none is given (a token with a PIN pad, or public objects only).
pub fn pin(uri: &Pkcs11Uri, env: &Environment) -> Result<Option<Pin>, Error> {
    if let Some(p) = &uri.pin_value {
        if uri.pin_source.is_some() {
            return Err(Error::new("the key URI has both pin-value and pin-source: keep one"));
        }
        return Ok(Some(Pin { secret: p.clone(), source: "pin-value in the key URI".into() }));
    }
    if let Some(source) = &uri.pin_source {
        return read_pin_source(source).map(Some);
    }
    Ok(env.pin.as_ref().map(|(secret, var)| Pin { secret: secret.clone(), source: format!("${var}") }))
}

/// Reads a `pin-source`: a file path, or a `file:` URI (`file:/run/pin`, `file:///run/pin`).
/// One trailing line break is dropped. RFC 7512 allows other sources (`|program`), which
/// this plugin refuses rather than run anything.
pub fn read_pin_source(source: &str) -> Result<Pin, Error> {
    let path = if let Some(rest) = source.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err(Error::new(format!(
                "pin-source {source:?}: only local files are supported (file:///path or file:/path)"
            )));
        }
        rest
    } else if let Some(rest) = source.strip_prefix("file:") {
        rest
    } else if source.starts_with('|') {
        return Err(Error::new(
            "pin-source with a program ('|...') is not supported: write the PIN to a file readable only by you and give its path",
        ));
    } else {
        source
    };
    let bytes = std::fs::read(path)
        .map_err(|e| Error::new(format!("cannot read the PIN file {path} (pin-source in the key URI): {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::new(format!("the PIN file {path} (pin-source in the key URI) is not UTF-8 text")))?;
    let pin = text.strip_suffix('\n').map_or(text.as_str(), |t| t.strip_suffix('\r').unwrap_or(t));
    if pin.is_empty() {
        return Err(Error::new(format!("the PIN file {path} (pin-source in the key URI) is empty")));
    }
    Ok(Pin { secret: Secret::new(pin), source: format!("pin-source {path}") })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn uri(text: &str) -> Pkcs11Uri {
        Pkcs11Uri::parse(text).unwrap()
    }

    #[test]
    fn the_module_comes_from_the_uri_then_the_environment() {
        let dir = std::env::temp_dir();
        let file = dir.join(format!("sigstore-kms-pkcs11-test-module-{}.so", std::process::id()));
        std::fs::write(&file, b"not really a module").unwrap();
        let env = Environment { module: Some((file.clone(), ENV_MODULE)), ..Environment::default() };
        assert_eq!(module_path(&uri("token=t"), &env).unwrap(), file);
        let with = uri(&format!("token=t?module-path={}", file.display()));
        assert_eq!(module_path(&with, &Environment::default()).unwrap(), file);
        let e = module_path(&uri("token=t"), &Environment::default()).unwrap_err().to_string();
        assert!(e.contains("no PKCS#11 module") && e.contains(ENV_MODULE), "{e}");
        let e = module_path(&uri("token=t?module-name=softhsm2"), &Environment::default()).unwrap_err().to_string();
        assert!(e.contains("module-name=\"softhsm2\" is not resolved"), "{e}");
        let e = module_path(&uri("token=t?module-path=lib.so"), &env).unwrap_err().to_string();
        assert!(e.contains("not an absolute path"), "{e}");
        let e = module_path(&uri("token=t?module-path=/no/such/module.so"), &env).unwrap_err().to_string();
        assert!(e.contains("/no/such/module.so (from module-path in the key URI) cannot be used"), "{e}");
        let e = module_path(&uri(&format!("token=t?module-path={}", dir.display())), &env).unwrap_err().to_string();
        assert!(e.contains("is not a file"), "{e}");
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn the_pin_comes_from_the_uri_a_file_or_the_environment() {
        let env = Environment { pin: Some((Secret::new("from-env"), ENV_PIN)), ..Environment::default() };
        let p = pin(&uri("token=t?pin-value=1234"), &env).unwrap().unwrap();
        assert_eq!((p.secret.expose(), p.source.as_str()), ("1234", "pin-value in the key URI"));
        let p = pin(&uri("token=t"), &env).unwrap().unwrap();
        assert_eq!((p.secret.expose(), p.source.as_str()), ("from-env", "$SIGSTORE_KMS_PKCS11_PIN"));
        assert_eq!(pin(&uri("token=t"), &Environment::default()).unwrap(), None);

        let dir = std::env::temp_dir();
        let file = dir.join(format!("sigstore-kms-pkcs11-test-pin-{}", std::process::id()));
        for (content, want) in [("98765\n", "98765"), ("98765\r\n", "98765"), ("98765", "98765"), ("a b\n\n", "a b\n")]
        {
            std::fs::write(&file, content).unwrap();
            for source in
                [file.display().to_string(), format!("file:{}", file.display()), format!("file://{}", file.display())]
            {
                let p = pin(&uri(&format!("token=t?pin-source={source}")), &env).unwrap().unwrap();
                assert_eq!(p.secret.expose(), want, "{content:?} via {source}");
                assert!(!p.source.contains(want));
            }
        }
        std::fs::write(&file, "\n").unwrap();
        let e = read_pin_source(&file.display().to_string()).unwrap_err().to_string();
        assert!(e.contains("is empty"), "{e}");
        std::fs::remove_file(&file).unwrap();
        let e = read_pin_source("/no/such/pin").unwrap_err().to_string();
        assert!(e.contains("cannot read the PIN file /no/such/pin"), "{e}");
        assert!(read_pin_source("|/usr/bin/pinentry").unwrap_err().to_string().contains("not supported"));
        assert!(read_pin_source("file://host/pin").unwrap_err().to_string().contains("only local files"));
        let e = pin(&uri("token=t?pin-value=1&pin-source=/p"), &env).unwrap_err().to_string();
        assert!(e.contains("both pin-value and pin-source"), "{e}");
    }
}
