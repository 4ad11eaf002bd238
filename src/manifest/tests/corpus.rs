//! Golden tests: every `tests/manifests/bad/NAME.yaml` must fail to load with exactly the
//! rendered diagnostics in `NAME.expected`; every `tests/manifests/good/NAME.yaml` must load (with
//! the warnings in `NAME.warnings`, or none). `bad-dir/NAME/` directories are loaded as a whole
//! and compared with `bad-dir/NAME.expected`.
//!
//! Paths are relative to the package root (cargo runs tests there), so the file names inside
//! the expected output are stable across machines.

use std::path::{Path, PathBuf};

use super::{render, test_env};
use crate::manifest::load;

fn update() -> bool {
    std::env::var_os("UPDATE_EXPECT").is_some()
}

fn entries(dir: &str, want_dirs: bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            if want_dirs {
                p.is_dir()
            } else {
                p.extension().is_some_and(|e| e == "yaml")
            }
        })
        .collect();
    out.sort();
    out
}

/// Compares `actual` with the file at `expected_path` (or rewrites it under UPDATE_EXPECT).
/// Returns a description of the mismatch.
fn compare(expected_path: &Path, actual: &str) -> Option<String> {
    if update() {
        std::fs::write(expected_path, actual).expect("write expected file");
        return None;
    }
    match std::fs::read_to_string(expected_path) {
        Ok(expected) if expected == actual => None,
        Ok(expected) => Some(format!(
            "{}: rendered output differs\n--- expected\n{expected}\n--- actual\n{actual}",
            expected_path.display()
        )),
        Err(_) => Some(format!(
            "{} is missing (UPDATE_EXPECT=1 creates it); actual output:\n{actual}",
            expected_path.display()
        )),
    }
}

/// Loads each of `inputs` (a file or a directory), which must fail, and compares the rendered
/// diagnostics with its `.expected` file. Returns the failures.
fn bad_inputs_mismatches(inputs: Vec<PathBuf>) -> Vec<String> {
    let mut failures = Vec::new();
    for input in inputs {
        let rendered = match load(std::slice::from_ref(&input), &test_env()) {
            Ok(_) => {
                failures.push(format!("{} loaded but must not", input.display()));
                continue;
            }
            Err(e) => render(&e),
        };
        if let Some(f) = compare(&input.with_extension("expected"), &rendered) {
            failures.push(f);
        }
    }
    failures
}

#[test]
fn bad_manifests_render_exactly_as_expected() {
    let files = entries("tests/manifests/bad", false);
    assert!(files.len() >= 20, "the bad corpus went missing: {files:?}");
    let failures = bad_inputs_mismatches(files);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn bad_directories_render_exactly_as_expected() {
    let dirs = entries("tests/manifests/bad-dir", true);
    assert!(!dirs.is_empty());
    let failures = bad_inputs_mismatches(dirs);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn good_manifests_load_with_expected_warnings() {
    let files = entries("tests/manifests/good", false);
    assert!(files.len() >= 3, "the good corpus went missing: {files:?}");
    let mut failures = Vec::new();
    for file in files {
        let loaded = match load(std::slice::from_ref(&file), &test_env()) {
            Ok(l) => l,
            Err(e) => {
                failures.push(format!(
                    "{} failed to load:\n{}",
                    file.display(),
                    render(&e)
                ));
                continue;
            }
        };
        let rendered: String = loaded.warnings.iter().map(|w| render(w)).collect();
        let warnings_file = file.with_extension("warnings");
        if rendered.is_empty() && !warnings_file.exists() {
            continue;
        }
        if update() && rendered.is_empty() {
            std::fs::remove_file(&warnings_file).expect("remove stale warnings file");
            continue;
        }
        if let Some(f) = compare(&warnings_file, &rendered) {
            failures.push(f);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_good_directory_loads_as_one_set() {
    let loaded = load(&[PathBuf::from("tests/manifests/good")], &test_env())
        .unwrap_or_else(|e| panic!("{}", render(&e)));
    let names: Vec<&str> = loaded
        .manifests
        .iter()
        .map(|m| m.manifest.name.as_str())
        .collect();
    // Sorted by file name: full, minimal, multi-account, owner-warning.
    assert_eq!(
        names,
        ["team-alpha", "minimal", "platform-shared", "owner-warning"]
    );
    let per_manifest: usize = loaded.manifests.iter().map(|m| m.warnings.len()).sum();
    assert_eq!(loaded.warnings.len(), per_manifest);
    assert!(!loaded.warnings.is_empty());
}
