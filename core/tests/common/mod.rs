//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code, clippy::unwrap_used, clippy::panic, clippy::missing_panics_doc, missing_docs)]

use std::path::{Path, PathBuf};

/// The repository's `tests/` directory (fixtures and vectors shared by every language).
#[must_use]
pub fn shared_tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests").canonicalize().unwrap()
}

#[must_use]
pub fn vectors_dir(kind: &str) -> PathBuf {
    shared_tests_dir().join("vectors").join(kind)
}

#[must_use]
pub fn fixtures_dir() -> PathBuf {
    shared_tests_dir().join("fixtures").join("plugins")
}

/// A PATH holding the fixture plugins first, then the system dirs the scripts need.
#[must_use]
pub fn fixture_path() -> String {
    format!("{}:/usr/local/bin:/usr/bin:/bin", fixtures_dir().display())
}

/// Loads every JSON file in a vectors directory, sorted by name.
#[must_use]
pub fn load_vectors(kind: &str) -> Vec<(String, serde_json::Value)> {
    let mut files: Vec<_> = std::fs::read_dir(vectors_dir(kind)).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (p.file_stem().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect()
}

use sigstore_kms_plugins::{get_signer_verifier, Options, PluginSignerVerifier, StderrMode};

/// Options searching only the fixture PATH, with stderr captured (some fixtures flood it).
#[must_use]
pub fn fixture_options() -> Options {
    Options::default().search_path(fixture_path()).stderr(StderrMode::Capture)
}

#[must_use]
pub fn fixture(uri: &str) -> PluginSignerVerifier {
    get_signer_verifier(uri, fixture_options()).unwrap()
}

/// A reader producing `left` bytes of `x` without holding them in memory.
pub struct PatternReader {
    pub left: u64,
}

impl std::io::Read for PatternReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = usize::try_from(self.left.min(buf.len() as u64)).unwrap();
        buf[..n].fill(b'x');
        self.left -= n as u64;
        Ok(n)
    }
}

/// Whether process `pid` is gone or a zombie.
#[must_use]
pub fn process_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// Number of open file descriptors of this process.
#[must_use]
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Pids of live (non-zombie) children of this process.
#[must_use]
pub fn live_children() -> Vec<u32> {
    let me = std::process::id();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some((_, rest)) = stat.rsplit_once(") ") else { continue };
        let fields: Vec<&str> = rest.split(' ').collect();
        if fields.len() > 1 && fields[1] == me.to_string() && fields[0] != "Z" {
            out.push(pid);
        }
    }
    out
}

/// SHA-256 of `data`, by `sha256sum` (the fixture's fake signatures are digests; computing them
/// with code from the crate under test would be circular).
#[must_use]
pub fn sha256(data: &[u8]) -> Vec<u8> {
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), data).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect()
}
