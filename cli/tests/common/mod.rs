//! What the CLI's integration tests share (included with `mod common;`): a scratch directory
//! with the `localkms` plugin alone on `PATH`, and ways to run `sigstore-kms` in it.
//!
//! The plugin is the CLI binary itself started as `sigstore-kms-localkms` (a symbolic link in a
//! temporary PATH directory): a second `[[bin]]` of that name in this crate would collide with
//! the localkms crate's own binary in `target/` (cargo's "output filename collision").
// Each test crate uses part of this module.
#![allow(dead_code, clippy::unwrap_used, clippy::panic, clippy::missing_panics_doc)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// A scratch directory, with `bin/` holding only the `localkms` plugin.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub bin: PathBuf,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sigstore-kms"), bin.join("sigstore-kms-localkms")).unwrap();
        Env { dir, bin }
    }

    /// `name` in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// [`Env::path`] as a command-line argument.
    pub fn file(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// A `localkms://` key URI for the key file `name`.
    pub fn key(&self, name: &str) -> String {
        format!("localkms://{}", self.file(name))
    }

    /// `sigstore-kms ARGS` in the scratch directory, with `bin/` as `PATH` and no stdin.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sigstore-kms"));
        c.args(args).env("PATH", &self.bin).current_dir(self.dir.path()).stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs with `stdin` written to the program's standard input.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child =
            self.cmd(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs and expects success; answers stdout and stderr.
    pub fn ok_with_stderr(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?} failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    }

    /// Runs and expects success; answers stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_with_stderr(args).0
    }

    /// Runs and expects exit code `code`; answers stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stderr).unwrap()
    }

    /// Writes `bytes` to `name`; answers its path as an argument.
    pub fn write(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.file(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}
