//! The Vault token, found as the Go provider finds it.
//!
//! 1. `VAULT_TOKEN`, then `BAO_TOKEN`.
//! 2. Otherwise the CLI's token helper: the config file `VAULT_CONFIG_PATH` (HashiCorp's CLI,
//!    default `~/.vault`) or `BAO_CONFIG_PATH` (OpenBao's, default `~/.bao`) may name an external
//!    `token_helper` program, which is run as `PROGRAM get` and prints the token.
//! 3. Otherwise the internal helper's file: `BAO_TOKEN_PATH` / `VAULT_TOKEN_PATH` (OpenBao's
//!    CLI), else `~/.vault-token`, which both `vault login` and `bao login` write.
//!
//! The token is a [`Secret`] from the moment it is read: it is never formatted into a message.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sigstore_kms_provider_kit::Secret;

use crate::config::{home, lookup, Environment};
use crate::Error;

/// Where the token came from (error messages say which one to check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An environment variable.
    Env(String),
    /// An external token helper program.
    Helper(PathBuf),
    /// A token file.
    File(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Env(var) => write!(f, "from {var}"),
            Origin::Helper(p) => write!(f, "from the token helper {}", p.display()),
            Origin::File(p) => write!(f, "from {}", p.display()),
        }
    }
}

/// A token and where it came from.
#[derive(Debug, Clone)]
pub struct Token {
    /// The token.
    pub secret: Secret,
    /// Its origin.
    pub origin: Origin,
}

/// Finds the token (see the module docs). `timeout` bounds an external helper.
pub fn resolve(env: &dyn Environment, timeout: Duration) -> Result<Token, Error> {
    if let Some(s) = lookup(env, "TOKEN") {
        return checked(Secret::new(s.value.trim()), Origin::Env(s.var));
    }
    if let Some(helper) = configured_helper(env)? {
        let secret = run_helper(&helper, timeout)?;
        return checked(secret, Origin::Helper(helper));
    }
    let file = token_file(env);
    match file.as_deref().map(read_token_file).transpose()? {
        Some(Some(secret)) => checked(secret, Origin::File(file.unwrap_or_default())),
        _ => Err(Error::new(format!(
            "no Vault token: set VAULT_TOKEN (or BAO_TOKEN), or log in with `vault login` or `bao login`, which \
             store the token in {}",
            file.map_or_else(|| "~/.vault-token (HOME is not set)".to_owned(), |f| f.display().to_string())
        ))),
    }
}

/// A token goes into an HTTP header: refuse what cannot (and would otherwise be echoed by an
/// HTTP library's error).
fn checked(secret: Secret, origin: Origin) -> Result<Token, Error> {
    if secret.is_empty() {
        return Err(Error::new(format!("the Vault token {origin} is empty")));
    }
    if secret.expose().bytes().any(|b| b.is_ascii_control() || b >= 0x80) {
        return Err(Error::new(format!(
            "the Vault token {origin} has characters a token cannot have (control or non-ASCII characters): check it"
        )));
    }
    Ok(Token { secret, origin })
}

/// The internal helper's token file.
fn token_file(env: &dyn Environment) -> Option<PathBuf> {
    if let Some(s) = lookup(env, "TOKEN_PATH") {
        return Some(PathBuf::from(s.value));
    }
    home(env).map(|h| h.join(".vault-token"))
}

/// The token in `path` (whitespace trimmed), `None` if the file does not exist or is empty.
fn read_token_file(path: &Path) -> Result<Option<Secret>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes)
                .map_err(|_| Error::new(format!("the token file {} is not text: check it", path.display())))?;
            let token = text.trim();
            Ok((!token.is_empty()).then(|| Secret::new(token)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::new(format!("cannot read the token file {}: {e}", path.display()))),
    }
}

/// The CLI config file: `VAULT_CONFIG_PATH`, `BAO_CONFIG_PATH`, else `~/.vault`, else `~/.bao`.
fn config_file(env: &dyn Environment) -> Option<PathBuf> {
    if let Some(s) = lookup(env, "CONFIG_PATH") {
        return Some(expand_home(&s.value, env));
    }
    let home = home(env)?;
    [".vault", ".bao"].iter().map(|n| home.join(n)).find(|p| p.exists())
}

fn expand_home(path: &str, env: &dyn Environment) -> PathBuf {
    match (path.strip_prefix("~/"), home(env)) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => PathBuf::from(path),
    }
}

/// The external token helper named by the config file, as an absolute path.
fn configured_helper(env: &dyn Environment) -> Result<Option<PathBuf>, Error> {
    let Some(file) = config_file(env) else { return Ok(None) };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::new(format!("cannot read the Vault CLI config {}: {e}", file.display()))),
    };
    let Some(helper) = token_helper_setting(&text)
        .map_err(|why| Error::new(format!("the Vault CLI config {} does not parse: {why}", file.display())))?
    else {
        return Ok(None);
    };
    let path = expand_home(&helper, env);
    let path = if path.is_absolute() { path } else { std::env::current_dir().map(|d| d.join(&path)).unwrap_or(path) };
    if !path.exists() {
        return Err(Error::new(format!(
            "the token helper {} named in {} does not exist: fix token_helper there, or set VAULT_TOKEN",
            path.display(),
            file.display()
        )));
    }
    Ok(Some(path))
}

/// The `token_helper` of a CLI config file: HCL (`token_helper = "/path"`) or JSON
/// (`{"token_helper": "/path"}`); the only key the CLIs accept there.
pub fn token_helper_setting(text: &str) -> Result<Option<String>, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        return match value.get("token_helper") {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err("token_helper must be a string".into()),
        };
    }
    let mut found = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: expected token_helper = \"PATH\"", n + 1));
        };
        if key.trim() != "token_helper" {
            return Err(format!("line {}: invalid key {:?} (only token_helper is allowed)", n + 1, key.trim()));
        }
        let value = value.trim();
        let value = value.split_once(" #").map_or(value, |(v, _)| v.trim());
        let inner = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(|| format!("line {}: the token_helper value must be a quoted string", n + 1))?;
        found = Some(inner.replace("\\\\", "\\").replace("\\\"", "\""));
    }
    Ok(found)
}

/// Runs `helper get` (stdin closed, the inherited environment) and returns what it printed,
/// trimmed. It is killed if it does not finish within `timeout`.
fn run_helper(helper: &Path, timeout: Duration) -> Result<Secret, Error> {
    let failed = |why: &dyn std::fmt::Display| {
        Error::new(format!("the token helper {} failed: {why}: check it, or set VAULT_TOKEN", helper.display()))
    };
    let mut child = Command::new(helper)
        .arg("get")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(&e))?;
    // Read both pipes on threads so that a chatty helper cannot block on a full pipe.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.take(64 * 1024).read_to_end(&mut buf);
        }
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(4 * 1024).read_to_end(&mut buf);
        }
        buf
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(&format_args!("it did not finish within {:.1}s", timeout.as_secs_f64())));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(failed(&e)),
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    let token = Secret::new(String::from_utf8_lossy(&out).trim());
    if !status.success() {
        let stderr = token.scrub(String::from_utf8_lossy(&err).trim());
        let stderr: String = stderr.chars().take(300).collect();
        return Err(failed(&format_args!("`get` exited with {status}: {stderr}")));
    }
    if token.is_empty() {
        return Err(failed(&"`get` printed no token"));
    }
    Ok(token)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    const T: Duration = Duration::from_secs(10);

    /// Go's `TestNewHashivaultClient` token cases: environment, ~/.vault-token, a helper script.
    #[test]
    fn go_token_cases() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_str().unwrap();
        // Environment variables first.
        let t = resolve(&env(&[("VAULT_TOKEN", "hvc.exampletoken"), ("HOME", h)]), T).unwrap();
        assert_eq!((t.secret.expose(), t.origin), ("hvc.exampletoken", Origin::Env("VAULT_TOKEN".into())));
        let t = resolve(&env(&[("VAULT_TOKEN", ""), ("BAO_TOKEN", "s.bao"), ("HOME", h)]), T).unwrap();
        assert_eq!(t.origin, Origin::Env("BAO_TOKEN".into()));
        // The default token helper: ~/.vault-token, trimmed.
        std::fs::write(home.path().join(".vault-token"), "hvc.exampletoken\n").unwrap();
        let t = resolve(&env(&[("HOME", h)]), T).unwrap();
        assert_eq!(t.secret.expose(), "hvc.exampletoken");
        assert_eq!(t.origin, Origin::File(home.path().join(".vault-token")));
        // A custom helper script named in ~/.vault.
        let script = home.path().join("token-helper.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\ncase \"$1\" in get) printf 'hvc.fromhelper';; store) cat >/dev/null;; erase) ;; *) echo unknown >&2; exit 1;; esac\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(home.path().join(".vault"), format!("token_helper = \"{}\"\n", script.display())).unwrap();
        let t = resolve(&env(&[("HOME", h)]), T).unwrap();
        assert_eq!((t.secret.expose(), t.origin), ("hvc.fromhelper", Origin::Helper(script.clone())));
        // VAULT_TOKEN still wins over the helper.
        assert_eq!(resolve(&env(&[("HOME", h), ("VAULT_TOKEN", "a")]), T).unwrap().secret.expose(), "a");
    }

    #[test]
    fn no_token_says_where_to_put_one() {
        let home = tempfile::tempdir().unwrap();
        let e = resolve(&env(&[("HOME", home.path().to_str().unwrap())]), T).unwrap_err().to_string();
        assert!(e.contains("VAULT_TOKEN") && e.contains("bao login") && e.contains(".vault-token"), "{e}");
        std::fs::write(home.path().join(".vault-token"), "  \n").unwrap();
        assert!(resolve(&env(&[("HOME", home.path().to_str().unwrap())]), T).is_err());
        let e = resolve(&env(&[]), T).unwrap_err().to_string();
        assert!(e.contains("HOME is not set"), "{e}");
    }

    #[test]
    fn openbao_token_path_and_config_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tok");
        std::fs::write(&file, "s.path").unwrap();
        let t = resolve(&env(&[("BAO_TOKEN_PATH", file.to_str().unwrap())]), T).unwrap();
        assert_eq!((t.secret.expose(), t.origin), ("s.path", Origin::File(file)));
        // ~/.bao is read when there is no ~/.vault; a JSON config works too.
        let script = dir.path().join("helper");
        std::fs::write(&script, "#!/bin/sh\necho s.json-helper\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(dir.path().join(".bao"), format!("{{\"token_helper\": \"{}\"}}", script.display())).unwrap();
        let t = resolve(&env(&[("HOME", dir.path().to_str().unwrap())]), T).unwrap();
        assert_eq!(t.secret.expose(), "s.json-helper");
        // An explicit config path wins; a helper that does not exist is an error naming it.
        let conf = dir.path().join("conf.hcl");
        std::fs::write(&conf, "# comment\ntoken_helper = \"/no/such/helper\"\n").unwrap();
        let e = resolve(&env(&[("VAULT_CONFIG_PATH", conf.to_str().unwrap())]), T).unwrap_err().to_string();
        assert!(e.contains("/no/such/helper") && e.contains("does not exist"), "{e}");
    }

    #[test]
    fn failing_and_slow_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let write = |body: &str| {
            let script = dir.path().join("helper");
            std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
            std::fs::write(dir.path().join(".vault"), format!("token_helper = \"{}\"", script.display())).unwrap();
        };
        write("echo 's.secret-token'; echo 'cannot reach the keyring (s.secret-token)' >&2; exit 3");
        let e = resolve(&env(&[("HOME", d)]), T).unwrap_err().to_string();
        assert!(e.contains("exited with") && e.contains("keyring") && !e.contains("s.secret-token"), "{e}");
        write("exit 0");
        assert!(resolve(&env(&[("HOME", d)]), T).unwrap_err().to_string().contains("printed no token"));
        write("sleep 30");
        let start = Instant::now();
        let e = resolve(&env(&[("HOME", d)]), Duration::from_millis(300)).unwrap_err().to_string();
        assert!(e.contains("did not finish") && start.elapsed() < Duration::from_secs(10), "{e}");
    }

    #[test]
    fn config_file_syntax() {
        assert_eq!(token_helper_setting("").unwrap(), None);
        assert_eq!(token_helper_setting("token_helper = \"/a b\"  # note").unwrap().as_deref(), Some("/a b"));
        assert_eq!(token_helper_setting("{\"token_helper\":\"/x\"}").unwrap().as_deref(), Some("/x"));
        assert!(token_helper_setting("other = \"x\"").unwrap_err().contains("invalid key"));
        assert!(token_helper_setting("token_helper = x").unwrap_err().contains("quoted"));
        assert!(token_helper_setting("{\"token_helper\": 1}").is_err());
    }

    #[test]
    fn tokens_that_cannot_be_a_header_are_refused_without_being_shown() {
        let e = resolve(&env(&[("VAULT_TOKEN", "s.abc\u{7}def")]), T).unwrap_err().to_string();
        assert!(e.contains("VAULT_TOKEN") && !e.contains("abc"), "{e}");
    }
}
