//! Finding plugin programs on the search path, with the rules of Go's `exec.LookPath`.
//!
//! * PATH entries are tried in order; an empty entry means the current directory.
//! * A match found through a relative entry (`.`, `bin`, or an empty entry) is refused, as
//!   Go 1.19+ refuses it (`exec.ErrDot`): running a program from the current directory because
//!   of a key URI is a classic hijack.
//! * Directories and files that are not executable are skipped.
//! * With PATH unset or empty nothing is found: there is no fallback list.

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

/// Resolves `program` (e.g. `sigstore-kms-mykms`) to the absolute path of the executable to run.
pub fn find_program(program: &str, search_path: Option<&OsStr>) -> Result<PathBuf> {
    let dirs = search_dirs(search_path);
    let mut not_executable = Vec::new();
    for dir in &dirs {
        let candidate = dir.join(program);
        match check_candidate(&candidate) {
            Candidate::Missing => {}
            Candidate::NotExecutable => not_executable.push(candidate),
            Candidate::Executable if !dir.is_absolute() => {
                return Err(Error::PluginNotFound {
                    program: program.to_owned(),
                    searched: dirs.clone(),
                    detail: format!(
                        "found {} through the relative PATH entry {:?}, which is refused (as Go's exec.ErrDot): \
                         put the plugin in a directory named by an absolute path in PATH",
                        candidate.display(),
                        dir.display().to_string()
                    ),
                });
            }
            Candidate::Executable => return Ok(candidate),
        }
    }
    let searched = display_dirs(&dirs);
    let detail = if dirs.is_empty() {
        format!(
            "PATH is {}, so there is nowhere to look; set PATH or pass an explicit search path",
            if search_path.is_some() || std::env::var_os("PATH").is_some() { "empty" } else { "not set" }
        )
    } else if not_executable.is_empty() {
        format!("no file named {program} in PATH ({searched}); install the plugin or add its directory to PATH")
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
    /// Found through a relative PATH entry: it would be refused.
    pub relative_dir: bool,
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
    let mut seen_dirs = HashSet::new();
    let mut winners: HashSet<OsString> = HashSet::new();
    let mut out = Vec::new();
    for dir in search_dirs(search_path) {
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
            let shadowed = executable && !winners.insert(file_name.clone());
            let name = String::from_utf8_lossy(&file_name.as_bytes()[PROGRAM_PREFIX.len()..]).into_owned();
            out.push(PluginInfo { name, path, executable, shadowed, relative_dir: !dir.is_absolute() });
        }
    }
    out
}
