//! The options of a signer-verifier, and the one vocabulary every language uses for them.
//!
//! Rust code sets [`Options`] with typed setters. The Python and Node bindings and the CLI set
//! them by name with [`Options::set`]: each passes the value it was given, as a neutral
//! [`OptionValue`], with its [`Lang`], and the core checks and converts it. So the options,
//! their defaults, their meanings and their errors are the same everywhere; only the spelling
//! differs, and the spellings are in one table, [`OPTIONS`] (rendered in `docs/options.md`,
//! and checked against it by a test; each binding's suite runs a table test over it).

use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::process::StderrMode;
use crate::protocol::HashFunc;

/// The default timeout of one call: 5 minutes.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// The default cap on a plugin's stdout: 4 MiB (answers are a few KiB at most).
pub const DEFAULT_STDOUT_LIMIT: usize = 4 * 1024 * 1024;
/// The longest timeout accepted: Go's largest `time.Duration` (about 292 years), since the
/// deadline is sent to plugins that may be written in Go.
pub const MAX_TIMEOUT: Duration = Duration::new(9_223_372_036, 854_775_807);
/// The largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: i128 = (1 << 53) - 1;

/// Options of a signer-verifier. Start from [`Options::default`] and chain the setters.
///
/// ```
/// use std::time::Duration;
/// use sigstore_kms_plugins::{HashFunc, Options, StderrMode};
/// let opts = Options::default()
///     .hash_func(HashFunc::Sha384)
///     .timeout(Some(Duration::from_secs(30)))
///     .stderr(StderrMode::Capture);
/// assert_eq!(opts.get_hash_func(), HashFunc::Sha384);
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) hash_func: HashFunc,
    pub(crate) key_version: Option<String>,
    pub(crate) remote_verification: bool,
    pub(crate) timeout: Option<Duration>,
    pub(crate) stdout_limit: usize,
    pub(crate) search_path: Option<OsString>,
    pub(crate) plugin_dirs: Vec<PathBuf>,
    pub(crate) stderr: StderrMode,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            hash_func: HashFunc::Sha256,
            key_version: None,
            remote_verification: false,
            timeout: Some(DEFAULT_TIMEOUT),
            stdout_limit: DEFAULT_STDOUT_LIMIT,
            search_path: None,
            plugin_dirs: Vec::new(),
            stderr: StderrMode::Inherit,
        }
    }
}

impl Options {
    /// The hash function sent as `initOptions.hashFunc` (default SHA-256, as cosign).
    #[must_use]
    pub fn hash_func(mut self, hash: HashFunc) -> Self {
        self.hash_func = hash;
        self
    }

    /// The key version sent in every call's `rpcOptions.keyVersion`.
    #[must_use]
    pub fn key_version(mut self, version: impl Into<String>) -> Self {
        self.key_version = Some(version.into());
        self
    }

    /// Ask the KMS to verify signatures itself (`rpcOptions.remoteVerification`).
    #[must_use]
    pub fn remote_verification(mut self, on: bool) -> Self {
        self.remote_verification = on;
        self
    }

    /// Per-call timeout (default 5 minutes), sent to the plugin as `ctxDeadline` and enforced
    /// by killing its process group. `None` waits for ever and sends no deadline. Longer than
    /// [`MAX_TIMEOUT`] is taken as [`MAX_TIMEOUT`].
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout.map(|t| t.min(MAX_TIMEOUT));
        self
    }

    /// Largest stdout accepted from the plugin (default [`DEFAULT_STDOUT_LIMIT`]).
    #[must_use]
    pub fn stdout_limit(mut self, bytes: usize) -> Self {
        self.stdout_limit = bytes;
        self
    }

    /// Search these directories (PATH syntax, `:`-separated) instead of `$PATH`.
    #[must_use]
    pub fn search_path(mut self, path: impl Into<OsString>) -> Self {
        self.search_path = Some(path.into());
        self
    }

    /// Directories searched for `sigstore-kms-NAME` after the search path, with the same checks
    /// (executable files only; a relative directory is refused, never resolved against the
    /// current directory). A program on the search path wins over one here. The Python and
    /// Node packages set this to the directories of their bundled plugins (it is not one of the
    /// by-name options of [`OPTIONS`]: the packages know these directories, their users need not
    /// name them). Replaces any earlier list; default: none.
    ///
    /// ```
    /// use sigstore_kms_plugins::Options;
    /// let opts = Options::default().plugin_dirs(["/opt/kms-plugins/bin"]);
    /// assert_eq!(opts.get_plugin_dirs(), [std::path::PathBuf::from("/opt/kms-plugins/bin")]);
    /// ```
    #[must_use]
    pub fn plugin_dirs<I, P>(mut self, dirs: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.plugin_dirs = dirs.into_iter().map(Into::into).collect();
        self
    }

    /// Where the plugin's stderr goes (default: inherited, as the Go client does).
    #[must_use]
    pub fn stderr(mut self, mode: StderrMode) -> Self {
        self.stderr = mode;
        self
    }

    /// The configured hash function.
    #[must_use]
    pub fn get_hash_func(&self) -> HashFunc {
        self.hash_func
    }

    /// The configured key version, if any.
    #[must_use]
    pub fn get_key_version(&self) -> Option<&str> {
        self.key_version.as_deref()
    }

    /// Whether remote verification is asked for.
    #[must_use]
    pub fn get_remote_verification(&self) -> bool {
        self.remote_verification
    }

    /// The configured timeout.
    #[must_use]
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The configured stdout cap, in bytes.
    #[must_use]
    pub fn get_stdout_limit(&self) -> usize {
        self.stdout_limit
    }

    /// The configured search path, if any.
    #[must_use]
    pub fn get_search_path(&self) -> Option<&std::ffi::OsStr> {
        self.search_path.as_deref()
    }

    /// The plugin directories searched after the search path.
    #[must_use]
    pub fn get_plugin_dirs(&self) -> &[PathBuf] {
        &self.plugin_dirs
    }

    /// Where the plugin's stderr goes.
    #[must_use]
    pub fn get_stderr(&self) -> StderrMode {
        self.stderr
    }
}

// ---------------------------------------------------------------------------------------------
// The vocabulary

/// A language whose spelling of the options [`OPTIONS`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Lang {
    /// The Rust API (the setters of [`Options`]).
    Rust,
    /// The Python package (keyword arguments of `get_signer_verifier`).
    Python,
    /// The npm package (properties of `getSignerVerifier`'s options object).
    Node,
    /// The `sigstore-kms` command line.
    Cli,
}

impl Lang {
    /// Every language, in the table's column order.
    pub const ALL: [Lang; 4] = [Lang::Rust, Lang::Python, Lang::Node, Lang::Cli];

    /// The language's name, e.g. `"python"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Node => "node",
            Lang::Cli => "cli",
        }
    }
}

/// Which option (whatever the language calls it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OptionKey {
    /// See [`Options::hash_func`].
    HashFunc,
    /// See [`Options::key_version`].
    KeyVersion,
    /// See [`Options::remote_verification`].
    RemoteVerification,
    /// See [`Options::timeout`].
    Timeout,
    /// See [`Options::stdout_limit`].
    StdoutLimit,
    /// See [`Options::search_path`].
    SearchPath,
    /// See [`Options::stderr`].
    Stderr,
}

/// One language's spelling of an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Spelling {
    /// Its name (`stdout_limit`, `stdoutLimit`, `--timeout`).
    pub name: &'static str,
    /// What it accepts, as error messages say it.
    pub accepts: &'static str,
    /// Its default, as the language writes it.
    pub default: &'static str,
}

/// An option, as every language spells it: one row of [`OPTIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OptionSpec {
    /// Which option.
    pub key: OptionKey,
    /// What it does.
    pub meaning: &'static str,
    /// The Rust setter.
    pub rust: Spelling,
    /// The Python keyword argument.
    pub python: Spelling,
    /// The Node option property.
    pub node: Spelling,
    /// The CLI flag, for the options the CLI has.
    pub cli: Option<Spelling>,
}

impl OptionSpec {
    /// The spelling of `lang`, if the option exists there.
    #[must_use]
    pub fn spelling(&self, lang: Lang) -> Option<&Spelling> {
        match lang {
            Lang::Rust => Some(&self.rust),
            Lang::Python => Some(&self.python),
            Lang::Node => Some(&self.node),
            Lang::Cli => self.cli.as_ref(),
        }
    }
}

const fn sp(name: &'static str, accepts: &'static str, default: &'static str) -> Spelling {
    Spelling { name, accepts, default }
}

/// Every option, with its spelling in every language: the one table of the vocabulary.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: OptionKey::HashFunc,
        meaning: "the hash function sent as initOptions.hashFunc, and the default of the digest methods",
        rust: sp("hash_func", "a HashFunc", "HashFunc::Sha256"),
        python: sp(
            "hash_func",
            "a hash function name (\"sha256\", \"SHA-384\", ...), Go's crypto.Hash number (0 to 19) or a HashFunc",
            "'sha256'",
        ),
        node: sp(
            "hashFunc",
            "a hash function name ('sha256', 'SHA-384', ...) or Go's crypto.Hash number (0 to 19)",
            "'sha256'",
        ),
        cli: None,
    },
    OptionSpec {
        key: OptionKey::KeyVersion,
        meaning: "the key version sent in every call's rpcOptions.keyVersion",
        rust: sp("key_version", "a string", "none (sent as \"\")"),
        python: sp("key_version", "a str or None", "None"),
        node: sp("keyVersion", "a string", "undefined"),
        cli: None,
    },
    OptionSpec {
        key: OptionKey::RemoteVerification,
        meaning: "ask the KMS to verify signatures itself (rpcOptions.remoteVerification)",
        rust: sp("remote_verification", "a bool", "false"),
        python: sp("remote_verification", "a bool", "False"),
        node: sp("remoteVerification", "a boolean", "false"),
        cli: None,
    },
    OptionSpec {
        key: OptionKey::Timeout,
        meaning: "how long one call may take; the deadline is sent to the plugin and its process group killed when it \
                  expires",
        rust: sp("timeout", "Some(duration) or None for no timeout", "Some(300 s)"),
        python: sp(
            "timeout",
            "a number of seconds > 0 (at most 9223372036.854775807) or a timedelta, or None for no timeout",
            "300.0",
        ),
        node: sp(
            "timeoutMs",
            "a number of milliseconds > 0 (at most 9223372036854.775), or 0 or Infinity for no timeout",
            "300000",
        ),
        cli: Some(sp(
            "--timeout",
            "a number of seconds > 0 (at most 9223372036.854775807), or 0 for no timeout",
            "300",
        )),
    },
    OptionSpec {
        key: OptionKey::StdoutLimit,
        meaning: "the largest answer accepted on a plugin's stdout; a plugin writing more is killed",
        rust: sp("stdout_limit", "a number of bytes (usize)", "4194304"),
        python: sp("stdout_limit", "an integer from 1 to 18446744073709551615 (bytes)", "4194304"),
        node: sp("stdoutLimit", "an integer from 1 to 9007199254740991 (bytes)", "4194304"),
        cli: None,
    },
    OptionSpec {
        key: OptionKey::SearchPath,
        meaning: "the directories searched for sigstore-kms-NAME instead of $PATH",
        rust: sp("search_path", "a PATH-style string (dir1:dir2)", "none ($PATH)"),
        python: sp(
            "path",
            "a PATH-style str (\"dir1:dir2\"), a path-like object, a list of directories, or None for $PATH",
            "None",
        ),
        node: sp("path", "a PATH-style string ('dir1:dir2'), or undefined for $PATH", "undefined"),
        cli: None,
    },
    OptionSpec {
        key: OptionKey::Stderr,
        meaning:
            "where a plugin's stderr goes: passed through (as Go does), captured (its end attached to errors), or \
                  discarded",
        rust: sp("stderr", "StderrMode::Inherit, Capture or Null", "StderrMode::Inherit"),
        python: sp("stderr", "\"inherit\", \"capture\" or \"null\"", "'inherit'"),
        node: sp("stderr", "'inherit', 'capture' or 'ignore'", "'inherit'"),
        cli: None,
    },
];

/// The row of [`OPTIONS`] for `key`.
#[must_use]
pub fn option_spec(key: OptionKey) -> &'static OptionSpec {
    OPTIONS.iter().find(|o| o.key == key).unwrap_or(&OPTIONS[0])
}

/// A value given for an option by name, in a form every binding can make from its own values.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OptionValue {
    /// `None` (Python), `null`, or no value (a CLI flag without one).
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (Python `int`; a JavaScript number that is an exact integer).
    Int(i128),
    /// An integer too large for an `i128`, as decimal text.
    BigInt(String),
    /// Any other number (Python `float`; a JavaScript number that is not an exact integer).
    Float(f64),
    /// Text.
    Text(String),
    /// A string that is not text: it holds a lone surrogate.
    BadText,
    /// A path (Python's path-like objects).
    Path(OsString),
    /// A list of paths.
    List(Vec<OsString>),
    /// Something else; the text describes it for the error (`"a dict"`).
    Other(String),
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Null => f.write_str("null"),
            OptionValue::Bool(b) => write!(f, "{b}"),
            OptionValue::Int(n) => write!(f, "{n}"),
            OptionValue::BigInt(n) => f.write_str(n),
            OptionValue::Float(x) if x.is_infinite() => f.write_str(if *x > 0.0 { "inf" } else { "-inf" }),
            OptionValue::Float(x) => write!(f, "{x}"),
            OptionValue::Text(s) => write!(f, "{:?}", crate::escape_text(s, 100)),
            OptionValue::BadText => f.write_str("a string with a lone surrogate"),
            OptionValue::Path(p) => write!(f, "{:?}", p.to_string_lossy()),
            OptionValue::List(items) => write!(f, "a list of {} paths", items.len()),
            OptionValue::Other(what) => f.write_str(what),
        }
    }
}

/// Which way an option is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OptionProblem {
    /// Not a value of an accepted type (Python `TypeError`, Node `ERR_INVALID_ARG_TYPE`).
    WrongType,
    /// A number outside the accepted range (Python `ValueError`, Node `ERR_OUT_OF_RANGE`).
    OutOfRange,
    /// Of the right type, but not an accepted value (Python `ValueError`, Node
    /// `ERR_INVALID_ARG_VALUE`).
    BadValue,
    /// No option of that name (Node `ERR_INVALID_ARG_VALUE`).
    Unknown,
}

impl Options {
    /// Sets the option `name`, as `lang` spells it (see [`OPTIONS`]), to `value`, checked and
    /// converted as that language's spelling says. This is how the bindings and the CLI set
    /// options, so that every language checks them the same way.
    ///
    /// ```
    /// use sigstore_kms_plugins::{ErrorKind, Lang, OptionValue, Options};
    /// let mut opts = Options::default();
    /// opts.set(Lang::Python, "timeout", OptionValue::Float(2.5))?;
    /// assert_eq!(opts.get_timeout(), Some(std::time::Duration::from_millis(2500)));
    /// opts.set(Lang::Node, "timeoutMs", OptionValue::Int(0))?; // Node's spelling of "none"
    /// assert_eq!(opts.get_timeout(), None);
    /// let err = opts.set(Lang::Python, "stdout_limit", OptionValue::Int(-1)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidOption);
    /// assert_eq!(err.to_string(), "stdout_limit must be an integer from 1 to 18446744073709551615 (bytes), got -1");
    /// # Ok::<(), sigstore_kms_plugins::Error>(())
    /// ```
    pub fn set(&mut self, lang: Lang, name: &str, value: OptionValue) -> Result<(), Error> {
        use OptionProblem::{BadValue, OutOfRange, WrongType};
        let Some((spec, spelling)) =
            OPTIONS.iter().find_map(|o| o.spelling(lang).filter(|s| s.name == name).map(|s| (o, s)))
        else {
            let known: Vec<&str> = OPTIONS.iter().filter_map(|o| o.spelling(lang)).map(|s| s.name).collect();
            return Err(Error::InvalidOption {
                option: qualified(lang, name),
                reason: format!("is not an option; the options are {}", known.join(", ")),
                problem: OptionProblem::Unknown,
            });
        };
        let fail = |problem: OptionProblem| Error::InvalidOption {
            option: qualified(lang, spelling.name),
            reason: format!("must be {}, got {value}", spelling.accepts),
            problem,
        };
        match spec.key {
            OptionKey::HashFunc => {
                self.hash_func = match &value {
                    OptionValue::Text(name) => name.parse().map_err(|_| fail(BadValue))?,
                    OptionValue::Int(n) => {
                        u64::try_from(*n).ok().and_then(HashFunc::from_number).ok_or_else(|| fail(OutOfRange))?
                    }
                    OptionValue::BigInt(_) => return Err(fail(OutOfRange)),
                    _ => return Err(fail(WrongType)),
                };
            }
            OptionKey::KeyVersion => match value {
                OptionValue::Text(v) => self.key_version = Some(v),
                OptionValue::Null if lang == Lang::Python => self.key_version = None,
                OptionValue::BadText => return Err(fail(BadValue)),
                _ => return Err(fail(WrongType)),
            },
            OptionKey::RemoteVerification => match value {
                OptionValue::Bool(b) => self.remote_verification = b,
                _ => return Err(fail(WrongType)),
            },
            OptionKey::Timeout => self.timeout = timeout(lang, &value).map_err(fail)?,
            OptionKey::StdoutLimit => {
                let max =
                    if lang == Lang::Node { MAX_SAFE_INTEGER } else { i128::try_from(usize::MAX).unwrap_or(i128::MAX) };
                self.stdout_limit = match value {
                    OptionValue::Int(n) if (1..=max).contains(&n) => {
                        usize::try_from(n).map_err(|_| fail(OutOfRange))?
                    }
                    OptionValue::Int(_) | OptionValue::BigInt(_) => return Err(fail(OutOfRange)),
                    OptionValue::Null if lang == Lang::Python => DEFAULT_STDOUT_LIMIT,
                    // A JavaScript number that is not an exact integer is of the right type.
                    OptionValue::Float(_) if lang == Lang::Node => return Err(fail(OutOfRange)),
                    _ => return Err(fail(WrongType)),
                };
            }
            OptionKey::SearchPath => {
                self.search_path = match value {
                    OptionValue::Text(p) => Some(p.into()),
                    OptionValue::Path(p) if lang == Lang::Python => Some(p),
                    OptionValue::List(dirs) if lang == Lang::Python => Some(join_dirs(lang, spelling.name, dirs)?),
                    OptionValue::Null if lang == Lang::Python => None,
                    OptionValue::BadText => return Err(fail(BadValue)),
                    _ => return Err(fail(WrongType)),
                };
            }
            OptionKey::Stderr => {
                let names: &[(&str, StderrMode)] = match lang {
                    Lang::Node => &[
                        ("inherit", StderrMode::Inherit),
                        ("capture", StderrMode::Capture),
                        ("ignore", StderrMode::Null),
                    ],
                    _ => &[
                        ("inherit", StderrMode::Inherit),
                        ("capture", StderrMode::Capture),
                        ("null", StderrMode::Null),
                        ("devnull", StderrMode::Null),
                    ],
                };
                self.stderr = match &value {
                    OptionValue::Text(t) => {
                        names.iter().find(|(n, _)| n == t).map(|(_, m)| *m).ok_or_else(|| fail(BadValue))?
                    }
                    _ => return Err(fail(WrongType)),
                };
            }
        }
        Ok(())
    }
}

/// The option's name as the language's error messages show it.
fn qualified(lang: Lang, name: &str) -> String {
    match lang {
        Lang::Node => format!("options.{name}"),
        _ => name.to_owned(),
    }
}

/// A timeout in the language's unit and spelling of "none".
fn timeout(lang: Lang, value: &OptionValue) -> Result<Option<Duration>, OptionProblem> {
    let number = match (lang, value) {
        (Lang::Python, OptionValue::Null) => return Ok(None),
        (Lang::Cli, OptionValue::Text(t)) => t.trim().parse::<f64>().map_err(|_| OptionProblem::BadValue)?,
        #[allow(clippy::cast_precision_loss)] // the range check below is what matters
        (_, OptionValue::Int(n)) => *n as f64,
        (_, OptionValue::Float(x)) => *x,
        (_, OptionValue::BigInt(_)) => return Err(OptionProblem::OutOfRange),
        _ => return Err(OptionProblem::WrongType),
    };
    let seconds = match lang {
        Lang::Node => {
            if number == 0.0 || number == f64::INFINITY {
                return Ok(None);
            }
            number / 1000.0
        }
        Lang::Cli if number == 0.0 => return Ok(None),
        _ => number,
    };
    if !(seconds > 0.0 && seconds <= MAX_TIMEOUT.as_secs_f64()) {
        return Err(OptionProblem::OutOfRange);
    }
    Duration::try_from_secs_f64(seconds).map(|d| Some(d.min(MAX_TIMEOUT))).map_err(|_| OptionProblem::OutOfRange)
}

/// Joins directories into a PATH-style value; an entry holding `:` cannot be one.
fn join_dirs(lang: Lang, name: &str, dirs: Vec<OsString>) -> Result<OsString, Error> {
    let mut joined = Vec::new();
    for (i, dir) in dirs.into_iter().enumerate() {
        if dir.as_bytes().contains(&b':') {
            return Err(Error::InvalidOption {
                option: qualified(lang, name),
                reason: format!(
                    "entry {:?} contains ':', which separates PATH entries: give the directories as a list without it",
                    dir.to_string_lossy()
                ),
                problem: OptionProblem::BadValue,
            });
        }
        if i > 0 {
            joined.push(b':');
        }
        joined.extend_from_slice(dir.as_bytes());
    }
    Ok(OsString::from_vec(joined))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn err(lang: Lang, name: &str, value: OptionValue) -> (String, OptionProblem) {
        match Options::default().set(lang, name, value) {
            Err(Error::InvalidOption { option, reason, problem }) => (format!("{option} {reason}"), problem),
            other => panic!("{name}: expected an option error, got {other:?}"),
        }
    }

    /// The table test: every option of every language is known by its spelling, its default is
    /// the default of `Options`, and a value of the wrong type is refused naming the option and
    /// what it accepts.
    #[test]
    fn every_spelling_is_known_and_refuses_wrong_types_by_name() {
        for spec in OPTIONS {
            for lang in [Lang::Python, Lang::Node, Lang::Cli] {
                let Some(spelling) = spec.spelling(lang) else { continue };
                let (text, problem) = err(lang, spelling.name, OptionValue::Other("a dict".into()));
                assert!(matches!(problem, OptionProblem::WrongType | OptionProblem::BadValue), "{text}");
                assert!(text.contains(spelling.name) && text.contains(spelling.accepts), "{text}");
            }
        }
        let (text, problem) = err(Lang::Node, "timeout", OptionValue::Int(1));
        assert_eq!(problem, OptionProblem::Unknown);
        assert!(text.starts_with("options.timeout is not an option; the options are hashFunc, keyVersion"), "{text}");
    }

    #[test]
    fn each_language_spells_no_timeout_its_own_way() {
        let timeout_of = |lang, name, value| {
            let mut o = Options::default();
            o.set(lang, name, value).map(|()| o.get_timeout())
        };
        assert_eq!(timeout_of(Lang::Python, "timeout", OptionValue::Null).unwrap(), None);
        assert_eq!(timeout_of(Lang::Node, "timeoutMs", OptionValue::Int(0)).unwrap(), None);
        assert_eq!(timeout_of(Lang::Node, "timeoutMs", OptionValue::Float(f64::INFINITY)).unwrap(), None);
        assert_eq!(timeout_of(Lang::Cli, "--timeout", OptionValue::Text("0".into())).unwrap(), None);
        assert_eq!(
            timeout_of(Lang::Node, "timeoutMs", OptionValue::Int(1500)).unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            timeout_of(Lang::Cli, "--timeout", OptionValue::Text("2.5".into())).unwrap(),
            Some(Duration::from_millis(2500))
        );
        for bad in [
            OptionValue::Int(0),
            OptionValue::Int(-1),
            OptionValue::Float(f64::NAN),
            OptionValue::Float(f64::INFINITY),
            OptionValue::Float(1e10),
        ] {
            let (text, problem) = err(Lang::Python, "timeout", bad);
            assert_eq!(problem, OptionProblem::OutOfRange, "{text}");
            assert!(text.starts_with("timeout must be a number of seconds > 0"), "{text}");
        }
        assert_eq!(err(Lang::Python, "timeout", OptionValue::Bool(true)).1, OptionProblem::WrongType);
        assert_eq!(err(Lang::Node, "timeoutMs", OptionValue::Int(-1)).1, OptionProblem::OutOfRange);
        assert_eq!(err(Lang::Cli, "--timeout", OptionValue::Text("soon".into())).1, OptionProblem::BadValue);
    }

    #[test]
    fn numbers_out_of_range_name_the_option_and_the_range() {
        assert_eq!(
            err(Lang::Python, "stdout_limit", OptionValue::Int(1 << 64)).0,
            "stdout_limit must be an integer from 1 to 18446744073709551615 (bytes), got 18446744073709551616"
        );
        assert_eq!(err(Lang::Python, "stdout_limit", OptionValue::Float(1.5)).1, OptionProblem::WrongType);
        assert_eq!(err(Lang::Node, "stdoutLimit", OptionValue::Float(1.5)).1, OptionProblem::OutOfRange);
        assert_eq!(
            err(Lang::Node, "stdoutLimit", OptionValue::Int(0)).0,
            "options.stdoutLimit must be an integer from 1 to 9007199254740991 (bytes), got 0"
        );
        assert_eq!(err(Lang::Python, "hash_func", OptionValue::Int(20)).1, OptionProblem::OutOfRange);
        assert_eq!(err(Lang::Python, "hash_func", OptionValue::Text("sha-1024".into())).1, OptionProblem::BadValue);
        assert_eq!(err(Lang::Python, "hash_func", OptionValue::Bool(true)).1, OptionProblem::WrongType);
        let (text, _) = err(Lang::Python, "path", OptionValue::List(vec!["/a:b".into()]));
        assert!(text.contains("contains ':'"), "{text}");
        assert_eq!(err(Lang::Node, "stderr", OptionValue::Text("null".into())).1, OptionProblem::BadValue);
        let mut o = Options::default();
        o.set(Lang::Python, "path", OptionValue::List(vec!["/x".into(), "/y".into()])).unwrap();
        assert_eq!(o.get_search_path().unwrap(), "/x:/y");
        o.set(Lang::Python, "stderr", OptionValue::Text("null".into())).unwrap();
        assert_eq!(o.get_stderr(), StderrMode::Null);
    }

    /// `docs/options.md` shows exactly this table.
    #[test]
    fn the_documented_table_is_this_table() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/options.md")).unwrap();
        assert!(
            doc.contains(&markdown_table()),
            "docs/options.md differs from OPTIONS; its table must be:\n{}",
            markdown_table()
        );
    }

    /// The table as `docs/options.md` shows it.
    fn markdown_table() -> String {
        use std::fmt::Write as _;
        let cell = |s: Option<&Spelling>| {
            s.map_or_else(
                || "–".to_owned(),
                |s| format!("`{}`: {}; default {}", s.name, s.accepts, s.default).replace('|', "\\|"),
            )
        };
        let mut out = String::from("| meaning | Rust | Python | Node | CLI |\n|---|---|---|---|---|\n");
        for o in OPTIONS {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                o.meaning,
                cell(Some(&o.rust)),
                cell(Some(&o.python)),
                cell(Some(&o.node)),
                cell(o.cli.as_ref())
            );
        }
        out
    }
}
