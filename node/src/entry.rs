//! The package's programs: `sigstore-kms` (the CLI) and `sigstore-kms-localkms` (the bundled
//! plugin), run in-process by the scripts in `node/bin/` so one `npm install` ships both.
//!
//! Both are synchronous: the scripts call them first thing, before Node's event loop has
//! touched stdin or stdout, so the Rust code reads stdin raw and writes exactly what it means
//! to stdout (a plugin writes exactly one JSON value there).

use std::ffi::OsString;
use std::io::Write;

use napi_derive::napi;

fn os_args(argv: Vec<String>) -> Vec<OsString> {
    argv.into_iter().map(OsString::from).collect()
}

fn flush_stdout() {
    // Rust's stdout is line-buffered and a Node process does not run Rust's exit-time flush.
    let _ = std::io::stdout().flush();
}

/// Runs the `sigstore-kms` CLI on `argv` (`argv[0]` is the program name); returns the exit code.
#[napi]
#[must_use]
pub fn cli_main(argv: Vec<String>) -> i32 {
    crate::plugin::blocking_stdio();
    let code = sigstore_kms_cli::run_with_plugin_dirs(os_args(argv), crate::discovery::plugin_dirs());
    flush_stdout();
    code
}

/// Runs the bundled `sigstore-kms-localkms` plugin on `argv` (`[program, "v1", REQUEST-JSON]`),
/// this process's stdin and stdout; returns the exit code.
#[napi]
#[must_use]
pub fn localkms_main(argv: Vec<String>) -> i32 {
    crate::plugin::blocking_stdio();
    let code = sigstore_kms_localkms::run_with_args(os_args(argv));
    flush_stdout();
    code
}
