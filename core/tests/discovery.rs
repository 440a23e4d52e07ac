//! Discovery with the rules of Go's `exec.LookPath`, and key URI validation.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sigstore_kms_plugins::{discover, find_program, get_signer_verifier, ErrorKind, Options};

fn write_plugin(dir: &Path, name: &str, mode: u32) {
    let p = dir.join(format!("sigstore-kms-{name}"));
    std::fs::write(&p, "#!/bin/sh\necho '{\"defaultAlgorithm\":{\"defaultAlgorithm\":\"x\"}}'\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn resolves_to_an_absolute_path_in_path_order() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write_plugin(a.path(), "dup", 0o755);
    write_plugin(b.path(), "dup", 0o755);
    let path = format!("{}:{}", a.path().display(), b.path().display());
    assert_eq!(find_program("sigstore-kms-dup", Some(path.as_ref())).unwrap(), a.path().join("sigstore-kms-dup"));
}

#[test]
fn skips_non_executables_and_directories() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write_plugin(a.path(), "p", 0o644);
    std::fs::create_dir(a.path().join("sigstore-kms-q")).unwrap();
    write_plugin(b.path(), "p", 0o755);
    let path = format!("{}:{}", a.path().display(), b.path().display());
    assert_eq!(find_program("sigstore-kms-p", Some(path.as_ref())).unwrap(), b.path().join("sigstore-kms-p"));
    // Only a non-executable file: say so.
    let err = find_program("sigstore-kms-p", Some(a.path().as_os_str())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PluginNotFound);
    assert!(err.to_string().contains("found but not executable"), "{err}");
    let err = get_signer_verifier("notexec://k", Options::default().search_path(common::fixture_path())).unwrap_err();
    assert!(err.to_string().contains("found but not executable"), "{err}");
}

#[test]
fn refuses_matches_through_relative_entries() {
    let dir = tempfile::tempdir().unwrap();
    write_plugin(dir.path(), "rel", 0o755);
    // A relative entry that resolves from the current directory. Tests run with the crate dir
    // as cwd, so name the temp dir relative to it.
    let cwd = std::env::current_dir().unwrap();
    let rel = pathdiff(dir.path(), &cwd);
    for entry in [rel.clone(), format!("{rel}/."), format!("/nonexistent:{rel}")] {
        let err = find_program("sigstore-kms-rel", Some(entry.as_ref())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PluginNotFound);
        assert!(err.to_string().contains("relative PATH entry"), "{entry}: {err}");
    }
}

/// `target` relative to `base` using `..` components.
fn pathdiff(target: &Path, base: &Path) -> String {
    let t: Vec<_> = target.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_owned(), b.len() - common).collect();
    parts.extend(t[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    parts.join("/")
}

#[test]
fn empty_path_finds_nothing() {
    let err = find_program("sigstore-kms-fixture", Some("".as_ref())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PluginNotFound);
    assert!(err.to_string().contains("nowhere to look"), "{err}");
    let err = get_signer_verifier("missing://k", Options::default().search_path("/nonexistent")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PluginNotFound);
    assert!(err.to_string().contains("sigstore-kms-missing") && err.to_string().contains("/nonexistent"), "{err}");
}

#[test]
fn bad_names_run_nothing() {
    let path = common::fixture_path();
    for uri in [
        "../fixtures/plugins/sigstore-kms-fixture://k",
        "/bin/sh://k",
        "-x://k",
        ".x://k",
        "://k",
        "fix ture://k",
        "a\\b://k",
        "noseparator",
    ] {
        let err = get_signer_verifier(uri, Options::default().search_path(&path)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidKeyUri, "{uri}");
    }
}

#[test]
fn discover_lists_and_flags() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write_plugin(a.path(), "one", 0o755);
    write_plugin(a.path(), "two", 0o644);
    write_plugin(b.path(), "one", 0o755);
    write_plugin(b.path(), "two", 0o755);
    std::fs::write(b.path().join("unrelated"), "").unwrap();
    let path = format!("{0}:{1}:{0}", a.path().display(), b.path().display());
    let found = discover(Some(path.as_ref()));
    let summary: Vec<_> =
        found.iter().map(|p| (p.name.as_str(), p.path.starts_with(a.path()), p.executable, p.shadowed)).collect();
    assert_eq!(
        summary,
        vec![
            ("one", true, true, false),
            ("two", true, false, false),
            ("one", false, true, true),
            ("two", false, true, false)
        ]
    );
    assert!(found.iter().all(|p| !p.relative_dir));
    assert_eq!(found.iter().filter(|p| p.is_usable()).count(), 2);
}
