//! Finding plugin programs on the search path, with the rules of Go's `exec.LookPath`.
//!
//! * PATH entries are tried in order; an empty entry means the current directory.
//! * A match found through a relative entry (`.`, `bin`, or an empty entry) is refused, as
//!   Go 1.19+ refuses it (`exec.ErrDot`): running a program from the current directory because
//!   of a key URI is a classic hijack.
//! * Directories and files that are not executable are skipped.
//! * With PATH unset or empty nothing is found on PATH.
//!
//! After PATH, the *plugin directories* given with [`Options::plugin_dirs`](crate::Options::plugin_dirs)
//! are searched with the same checks (a relative one is refused, never resolved against the
//! current directory). The Python and Node packages pass the directory their bundled plugin
//! programs are installed in, so `localkms://` works from a script run without the package's
//! `bin` directory on PATH, while a program of the same name on PATH still wins.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::protocol::PROGRAM_PREFIX;

/// The directories to search: an explicit PATH-style list, or the `PATH` environment variable.
#[must_use]
pub fn search_dirs(search_path: Option<&OsStr>) -> Vec<PathBuf> {
    let path = match search_path {
        Some(p) => p.to_owned(),
        None => std::env::var_os("PATH").unwrap_or_default(),
    };
    if path.is_empty() {
        return Vec::new();
    }
    // Like Go's filepath.SplitList: an empty element is kept, and means ".".
    path.as_bytes()
        .split(|b| *b == b':')
        .map(|dir| if dir.is_empty() { PathBuf::from(".") } else { PathBuf::from(OsStr::from_bytes(dir)) })
        .collect()
}

/// What a candidate file is.
enum Candidate {
    Missing,
    NotExecutable,
    Executable,
}

fn check_candidate(path: &Path) -> Candidate {
    let Ok(meta) = std::fs::metadata(path) else { return Candidate::Missing };
    if meta.is_dir() {
        return Candidate::NotExecutable;
    }
    if is_executable(path, &meta) {
        Candidate::Executable
    } else {
        Candidate::NotExecutable
    }
}

/// Executable for *us* (effective ids), as Go's `findExecutable` checks with `eaccess`; falls
/// back to the mode bits where `faccessat(AT_EACCESS)` is not available.
fn is_executable(path: &Path, meta: &std::fs::Metadata) -> bool {
    crate::sys::is_executable(path).unwrap_or_else(|| meta.mode() & 0o111 != 0)
}

/// Where a plugin program was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginSource {
    /// In a directory of the search path (`PATH`, or [`Options::search_path`](crate::Options::search_path)).
    Path,
    /// In one of the plugin directories ([`Options::plugin_dirs`](crate::Options::plugin_dirs)):
    /// for the Python and Node packages, a plugin bundled with the package. A directory that is
    /// also on the search path counts as a plugin directory; it is searched in its PATH position.
    Bundled,
}

impl PluginSource {
    /// `"path"` or `"bundled"`, as the bindings and `sigstore-kms list --json` spell it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PluginSource::Path => "path",
            PluginSource::Bundled => "bundled",
        }
    }
}

impl std::fmt::Display for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The directories searched, in order: the search path, then the plugin directories not already
/// on it (named twice, a directory is searched once, in its first position).
fn ordered_dirs(path_dirs: &[PathBuf], plugin_dirs: &[PathBuf]) -> Vec<(PathBuf, PluginSource)> {
    let mut out: Vec<(PathBuf, PluginSource)> = Vec::new();
    let bundled: HashSet<&PathBuf> = plugin_dirs.iter().collect();
    for dir in path_dirs {
        let source = if bundled.contains(dir) { PluginSource::Bundled } else { PluginSource::Path };
        out.push((dir.clone(), source));
    }
    for dir in plugin_dirs {
        if !out.iter().any(|(d, _)| d == dir) {
            out.push((dir.clone(), PluginSource::Bundled));
        }
    }
    out
}

/// Resolves `program` (e.g. `sigstore-kms-mykms`) on the search path (`search_path`, or `$PATH`
/// when `None`) to the absolute path of the executable to run.
pub fn find_program(program: &str, search_path: Option<&OsStr>) -> Result<PathBuf> {
    find_program_in(program, search_path, &[])
}

/// [`find_program`], then the `plugin_dirs` (see the [module docs](self)): the first executable
/// `program` wins, so one on the search path shadows a bundled one.
pub fn find_program_in(program: &str, search_path: Option<&OsStr>, plugin_dirs: &[PathBuf]) -> Result<PathBuf> {
    let path_dirs = search_dirs(search_path);
    let ordered = ordered_dirs(&path_dirs, plugin_dirs);
    let dirs: Vec<PathBuf> = ordered.iter().map(|(d, _)| d.clone()).collect();
    let mut not_executable = Vec::new();
    for (dir, _) in &ordered {
        let candidate = dir.join(program);
        match check_candidate(&candidate) {
            Candidate::Missing => {}
            Candidate::NotExecutable => not_executable.push(candidate),
            Candidate::Executable if !dir.is_absolute() => {
                let detail = if path_dirs.contains(dir) {
                    format!(
                        "found {} through the relative PATH entry {:?}, which is refused (as Go's exec.ErrDot): \
                         put the plugin in a directory named by an absolute path in PATH",
                        candidate.display(),
                        dir.display().to_string()
                    )
                } else {
                    format!(
                        "found {} through the relative plugin directory {:?}, which is refused: \
                         plugin directories must be absolute paths",
                        candidate.display(),
                        dir.display().to_string()
                    )
                };
                return Err(Error::PluginNotFound { program: program.to_owned(), searched: dirs, detail });
            }
            Candidate::Executable => return Ok(candidate),
        }
    }
    let extra: Vec<PathBuf> = plugin_dirs.iter().filter(|d| !path_dirs.contains(d)).cloned().collect();
    let searched = display_dirs(&path_dirs);
    let also =
        if extra.is_empty() { String::new() } else { format!(" or the plugin directories ({})", display_dirs(&extra)) };
    let path_state = if search_path.is_some() || std::env::var_os("PATH").is_some() { "empty" } else { "not set" };
    let detail = if path_dirs.is_empty() && not_executable.is_empty() && extra.is_empty() {
        format!("PATH is {path_state}, so there is nowhere to look; set PATH or pass an explicit search path")
    } else if path_dirs.is_empty() && not_executable.is_empty() {
        format!(
            "PATH is {path_state} and there is no file named {program} in the plugin directories ({}); \
             install the plugin or set PATH",
            display_dirs(&extra)
        )
    } else if not_executable.is_empty() {
        format!("no file named {program} in PATH ({searched}){also}; install the plugin or add its directory to PATH")
    } else {
        format!(
            "found but not executable: {}; make it executable (chmod +x) or fix its permissions",
            not_executable.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    };
    Err(Error::PluginNotFound { program: program.to_owned(), searched: dirs, detail })
}

fn display_dirs(dirs: &[PathBuf]) -> String {
    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":")
}

/// A plugin program found on the search path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// The plugin name: what goes before `://` in a key URI.
    pub name: String,
    /// Where it was found (absolute when found through an absolute PATH entry).
    pub path: PathBuf,
    /// Whether we may execute it.
    pub executable: bool,
    /// Whether an earlier executable of the same name wins over this one.
    pub shadowed: bool,
    /// Found through a relative PATH entry (or relative plugin directory): it would be refused.
    pub relative_dir: bool,
    /// Found on the search path, or in one of the plugin directories (bundled).
    pub source: PluginSource,
    /// For a shadowed plugin, the program that wins over it.
    pub shadowed_by: Option<PathBuf>,
}

impl PluginInfo {
    /// Whether a key URI `name://...` would run exactly this file.
    #[must_use]
    pub fn is_usable(&self) -> bool {
        self.executable && !self.shadowed && !self.relative_dir
    }
}

/// Lists every `sigstore-kms-*` file on the search path, in PATH order (names sorted within a
/// directory), flagging shadowed, non-executable and relative-directory entries, like
/// `kubectl plugin list`. A directory named twice in PATH is listed once.
#[must_use]
pub fn discover(search_path: Option<&OsStr>) -> Vec<PluginInfo> {
    discover_in(search_path, &[])
}

/// [`discover`], then the `plugin_dirs`, in the order [`find_program_in`] searches them: each
/// entry says where it comes from ([`PluginInfo::source`]) and, when shadowed, by what.
#[must_use]
pub fn discover_in(search_path: Option<&OsStr>, plugin_dirs: &[PathBuf]) -> Vec<PluginInfo> {
    let mut seen_dirs = HashSet::new();
    let mut winners: std::collections::HashMap<OsString, PathBuf> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for (dir, source) in ordered_dirs(&search_dirs(search_path), plugin_dirs) {
        if !seen_dirs.insert(dir.clone()) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut names: Vec<OsString> = entries
            .filter_map(std::result::Result::ok)
            .map(|e| e.file_name())
            .filter(|n| n.as_bytes().starts_with(PROGRAM_PREFIX.as_bytes()) && n.len() > PROGRAM_PREFIX.len())
            .collect();
        names.sort();
        for file_name in names {
            let path = dir.join(&file_name);
            let executable = match check_candidate(&path) {
                Candidate::Executable => true,
                Candidate::NotExecutable => false,
                Candidate::Missing => continue,
            };
            if std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            // The first executable of a name wins; later ones are shadowed by it.
            let shadowed_by = if executable {
                let winner = winners.entry(file_name.clone()).or_insert_with(|| path.clone());
                (*winner != path).then(|| winner.clone())
            } else {
                None
            };
            let name = String::from_utf8_lossy(&file_name.as_bytes()[PROGRAM_PREFIX.len()..]).into_owned();
            out.push(PluginInfo {
                name,
                path,
                executable,
                shadowed: shadowed_by.is_some(),
                relative_dir: !dir.is_absolute(),
                source,
                shadowed_by,
            });
        }
    }
    out
}
