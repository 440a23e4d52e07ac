//! Discovery with the rules of Go's `exec.LookPath`, and key URI validation.
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sigstore_kms_plugins::{
    discover, discover_in, find_program, find_program_in, get_signer_verifier, ErrorKind, Options, PluginSource,
};

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

// Plugin directories (Options::plugin_dirs): searched after PATH with the same checks.

#[test]
fn plugin_dirs_are_searched_after_path() {
    let path_dir = tempfile::tempdir().unwrap();
    let bundled = tempfile::tempdir().unwrap();
    write_plugin(bundled.path(), "only-bundled", 0o755);
    write_plugin(bundled.path(), "both", 0o755);
    write_plugin(path_dir.path(), "both", 0o755);
    let dirs = [bundled.path().to_path_buf()];
    let path = path_dir.path().as_os_str();
    assert_eq!(
        find_program_in("sigstore-kms-only-bundled", Some(path), &dirs).unwrap(),
        bundled.path().join("sigstore-kms-only-bundled")
    );
    // The user's program on PATH shadows the bundled one.
    assert_eq!(
        find_program_in("sigstore-kms-both", Some(path), &dirs).unwrap(),
        path_dir.path().join("sigstore-kms-both")
    );
    // Without the plugin directories only PATH counts.
    let err = find_program("sigstore-kms-only-bundled", Some(path)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PluginNotFound);
}

#[test]
fn plugin_dirs_skip_non_executables_and_name_themselves_in_errors() {
    let bundled = tempfile::tempdir().unwrap();
    write_plugin(bundled.path(), "p", 0o644);
    let dirs = [bundled.path().to_path_buf()];
    let err = find_program_in("sigstore-kms-p", Some("/nonexistent".as_ref()), &dirs).unwrap_err();
    assert!(err.to_string().contains("found but not executable"), "{err}");
    let err = find_program_in("sigstore-kms-absent", Some("/nonexistent".as_ref()), &dirs).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("/nonexistent") && text.contains(&bundled.path().display().to_string()), "{text}");
    assert!(text.contains("plugin directories"), "{text}");
    let sigstore_kms_plugins::Error::PluginNotFound { searched, .. } = err else { panic!("{err:?}") };
    assert_eq!(searched, vec![Path::new("/nonexistent").to_path_buf(), bundled.path().to_path_buf()]);
    // Empty PATH: the plugin directories are still searched, and the error says both.
    let err = find_program_in("sigstore-kms-absent", Some("".as_ref()), &dirs).unwrap_err();
    assert!(err.to_string().contains("PATH is empty and there is no file named sigstore-kms-absent"), "{err}");
}

#[test]
fn relative_plugin_dirs_are_refused_never_resolved_against_the_cwd() {
    let dir = tempfile::tempdir().unwrap();
    write_plugin(dir.path(), "relb", 0o755);
    let rel = pathdiff(dir.path(), &std::env::current_dir().unwrap());
    for entry in [rel.clone(), format!("{rel}/."), ".".to_owned()] {
        let dirs = [Path::new(&entry).to_path_buf()];
        let found = find_program_in("sigstore-kms-relb", Some("/nonexistent".as_ref()), &dirs);
        if entry == "." {
            // The crate dir has no such program: nothing found, nothing run from the cwd.
            assert_eq!(found.unwrap_err().kind(), ErrorKind::PluginNotFound);
            continue;
        }
        let err = found.unwrap_err();
        assert!(err.to_string().contains("relative plugin directory"), "{entry}: {err}");
    }
}

#[test]
fn discover_in_says_where_each_plugin_comes_from() {
    let path_dir = tempfile::tempdir().unwrap();
    let bundled = tempfile::tempdir().unwrap();
    write_plugin(path_dir.path(), "mine", 0o755);
    write_plugin(path_dir.path(), "localkms", 0o755);
    write_plugin(bundled.path(), "localkms", 0o755);
    write_plugin(bundled.path(), "extra", 0o755);
    let found = discover_in(Some(path_dir.path().as_os_str()), &[bundled.path().to_path_buf()]);
    let summary: Vec<_> = found.iter().map(|p| (p.name.as_str(), p.source, p.shadowed, p.is_usable())).collect();
    assert_eq!(
        summary,
        vec![
            ("localkms", PluginSource::Path, false, true),
            ("mine", PluginSource::Path, false, true),
            ("extra", PluginSource::Bundled, false, true),
            ("localkms", PluginSource::Bundled, true, false),
        ]
    );
    assert_eq!(found[3].shadowed_by.as_deref(), Some(path_dir.path().join("sigstore-kms-localkms").as_path()));
    assert!(found[..3].iter().all(|p| p.shadowed_by.is_none()));
    assert_eq!(PluginSource::Bundled.to_string(), "bundled");

    // A plugin directory that is also on PATH (an activated venv) is listed once, in its PATH
    // position, as bundled.
    let path = format!("{}:{}", bundled.path().display(), path_dir.path().display());
    let found = discover_in(Some(path.as_ref()), &[bundled.path().to_path_buf()]);
    let summary: Vec<_> = found.iter().map(|p| (p.name.as_str(), p.source, p.shadowed)).collect();
    assert_eq!(
        summary,
        vec![
            ("extra", PluginSource::Bundled, false),
            ("localkms", PluginSource::Bundled, false),
            ("localkms", PluginSource::Path, true),
            ("mine", PluginSource::Path, false),
        ]
    );
}

#[test]
fn a_signer_verifier_runs_a_plugin_from_a_plugin_dir() {
    // Nothing on the search path: the plugin comes from the plugin directory.
    let opts = Options::default().search_path("/nonexistent").plugin_dirs([common::fixtures_dir()]);
    let sv = get_signer_verifier("fixture://k", opts).unwrap();
    assert_eq!(sv.program_path(), Some(common::fixtures_dir().join("sigstore-kms-fixture").as_path()));
    sv.default_algorithm_blocking().unwrap();
}
