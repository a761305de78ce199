//! The Python package's tests: builds the wheel with maturin (debug profile, in the shared
//! target directory, so strata is not compiled again from scratch) into a venv under the
//! target directory, installs it, and runs `tests/python/` with pytest.
//!
//! Every step must succeed: a missing Python, PyPI being unreachable, a build failure or a
//! single failing pytest test fails this test. Nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use strata_test_support::python::{Venv, run, target_dir, venv_python_for};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv with maturin, pytest, pyarrow, pandas and Polars (pinned in
/// `tests/python/requirements.txt`).
fn venv() -> PathBuf {
    venv_python_for(&Venv {
        name: "python-venv",
        requirements: crate_dir().join("tests/python/requirements.txt"),
        smoke: "import maturin, pytest, pyarrow, pandas, polars",
    })
}

fn bin_dir(python: &Path) -> PathBuf {
    python
        .parent()
        .unwrap_or_else(|| panic!("{} has no parent directory", python.display()))
        .to_path_buf()
}

/// Builds the wheel (debug) into a fresh directory and returns its path.
fn build_wheel(python: &Path) -> PathBuf {
    let out = target_dir().join("python-wheels");
    if out.exists() {
        std::fs::remove_dir_all(&out)
            .unwrap_or_else(|e| panic!("cannot clear {}: {e}", out.display()));
    }
    let mut cmd = Command::new(bin_dir(python).join("maturin"));
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(crate_dir().join("Cargo.toml"))
        .arg("--interpreter")
        .arg(python)
        .arg("--out")
        .arg(&out)
        .env("CARGO_TARGET_DIR", target_dir());
    if let Err(e) = run(cmd) {
        panic!("building the wheel failed: {e}");
    }
    let wheels: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", out.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "whl"))
        .collect();
    assert_eq!(
        wheels.len(),
        1,
        "maturin should build one wheel: {wheels:?}"
    );
    let wheel = wheels[0].clone();
    let name = wheel.file_name().unwrap_or_default().to_string_lossy();
    assert!(
        name.contains("abi3"),
        "the wheel must be abi3 (one wheel for every CPython >= 3.10): {name}"
    );
    wheel
}

#[test]
fn python_package_passes_its_pytest_suite() {
    let python = venv();
    let wheel = build_wheel(&python);
    let mut cmd = Command::new(&python);
    cmd.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--no-deps",
        "--force-reinstall",
    ])
    .arg(&wheel);
    if let Err(e) = run(cmd) {
        panic!("installing the wheel failed: {e}");
    }
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "pytest", "-p", "no:cacheprovider", "-q", "-ra"])
        .arg(crate_dir().join("tests/python"))
        .current_dir(crate_dir().join("tests/python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUTF8", "1");
    let out = match run(cmd) {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => panic!("pytest failed: {e}"),
    };
    // Shown with --nocapture: which tests ran.
    println!("{out}");
    // Nothing may be skipped silently (a missing library would skip, not fail).
    let summary = out.lines().last().unwrap_or_default();
    assert!(
        summary.contains(" passed")
            && !["skipped", "xfail", "xpass", "deselected", "error"]
                .iter()
                .any(|word| summary.contains(word)),
        "pytest must pass every test and skip none: {summary:?}"
    );
}
