//! Python venvs made on first use under target/: the second Delta client (deltalake, for the
//! interop tests) and any other pinned set of packages a crate's tests need ([`Venv`]; the
//! Python package's tests use one with maturin and pytest).
//!
//! A venv lives at `<target>/<name>` (`<target>` = `$CARGO_TARGET_DIR`, else the workspace's
//! `target/`) and is built from a pinned requirements file (the interop venv's is
//! `python/requirements.txt` in this crate) with `python3` from PATH (or `$STRATA_PYTHON`). A
//! marker file inside it records the exact requirements it was built from; if the pins
//! change, the venv is rebuilt. Creation is serialised across threads (a lock per process)
//! and across test processes (an exclusive lock on `<target>/<name>.lock`). Failing to build
//! it panics: CI must fail, not skip.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// Written inside the venv, last, with the requirements.txt contents it was built from.
const MARKER: &str = "strata-interop-requirements.txt";

/// A Python venv under the target directory, built from a pinned requirements file.
#[derive(Debug, Clone)]
pub struct Venv {
    /// Its directory under `<target>` (`interop-venv`); also names its lock file.
    pub name: &'static str,
    /// The requirements file (exact pins) it is built from.
    pub requirements: PathBuf,
    /// Python code that must run in it before it counts as built, e.g. `import deltalake`.
    pub smoke: &'static str,
}

/// The interop venv: deltalake, DuckDB's delta extension, pyarrow, moto.
fn interop_venv() -> Venv {
    Venv {
        name: "interop-venv",
        requirements: requirements_path(),
        smoke: "import deltalake, pyarrow, duckdb, duckdb_extension_delta",
    }
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace root (this crate is `crates/strata-test-support`).
fn workspace_dir() -> PathBuf {
    manifest_dir().join("..").join("..")
}

/// The cargo target directory tests build into: `$CARGO_TARGET_DIR` (relative to the
/// workspace when relative), else the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_dir().join(dir)
            }
        }
        _ => workspace_dir().join("target"),
    }
}

fn requirements_path() -> PathBuf {
    manifest_dir().join("python").join("requirements.txt")
}

fn interop_script() -> PathBuf {
    manifest_dir().join("python").join("interop.py")
}

fn venv_bin(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

fn base_python() -> String {
    match std::env::var("STRATA_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => "python3".to_string(),
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion, turning a spawn failure or non-zero exit into an error
/// that carries the command line and both output streams.
pub fn run(mut cmd: Command) -> Result<Output, String> {
    let line = describe(&cmd);
    let out = cmd
        .output()
        .map_err(|e| format!("could not run `{line}`: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "`{line}` failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn ensure_venv(spec: &Venv) -> Result<PathBuf, String> {
    let req_path = &spec.requirements;
    let requirements = fs::read_to_string(req_path)
        .map_err(|e| format!("cannot read {}: {e}", req_path.display()))?;
    let target = target_dir();
    fs::create_dir_all(&target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    let venv = target.join(spec.name);
    let python = venv_bin(&venv);
    let marker = venv.join(MARKER);

    // Cross-process exclusion; released when `lock` is dropped (or the process dies).
    let lock_path = target.join(format!("{}.lock", spec.name));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;

    if python.is_file()
        && fs::read_to_string(&marker).ok().as_deref() == Some(requirements.as_str())
    {
        return Ok(python);
    }

    // Straight to stderr rather than eprintln!, which libtest captures: the first run
    // spends a while in pip and the user should see why.
    let _ = writeln!(
        std::io::stderr(),
        "strata tests: creating Python venv at {} from {} (one-time, downloads the pinned packages)",
        venv.display(),
        req_path.display()
    );
    if venv.exists() {
        fs::remove_dir_all(&venv)
            .map_err(|e| format!("cannot remove stale venv {}: {e}", venv.display()))?;
    }
    let base = base_python();
    let mut cmd = Command::new(&base);
    cmd.arg("-m").arg("venv").arg(&venv);
    run(cmd).map_err(|e| {
        format!("{e}\n(set STRATA_PYTHON to a Python >= 3.10 with the venv module; `{base}` is used now)")
    })?;
    let mut cmd = Command::new(&python);
    cmd.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "-r",
    ])
    .arg(req_path);
    run(cmd)?;
    // Smoke test before declaring the venv good.
    let mut cmd = Command::new(&python);
    cmd.args(["-c", spec.smoke]);
    run(cmd)?;
    // Marker last: a venv without it (an interrupted build) is rebuilt next time.
    let tmp = venv.join(format!("{MARKER}.tmp"));
    fs::write(&tmp, &requirements).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    fs::rename(&tmp, &marker).map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    drop(lock);
    Ok(python)
}

/// Path to the interop venv's python, creating `<target>/interop-venv` on first use. Panics
/// with a clear message (never skips) if it cannot be made — CI must fail, not skip.
pub fn venv_python() -> PathBuf {
    venv_python_for(&interop_venv())
}

/// Path to `spec`'s python, creating the venv on first use (or when its pins changed).
/// Panics with a clear message (never skips) if it cannot be made — CI must fail, not skip.
pub fn venv_python_for(spec: &Venv) -> PathBuf {
    static MADE: Mutex<Option<HashMap<&'static str, Result<PathBuf, String>>>> = Mutex::new(None);
    // A panic elsewhere while holding the lock leaves the map usable.
    let mut made = MADE.lock().unwrap_or_else(|p| p.into_inner());
    let result = made
        .get_or_insert_with(HashMap::new)
        .entry(spec.name)
        .or_insert_with(|| ensure_venv(spec));
    match result {
        Ok(python) => python.clone(),
        Err(e) => panic!(
            "cannot set up the Python venv {} (from {}); these tests need python3 with venv + \
             pip and access to PyPI:\n{e}",
            spec.name,
            spec.requirements.display()
        ),
    }
}

/// Runs python/interop.py with args; panics with stdout+stderr on failure; returns stdout.
pub fn interop(args: &[&str]) -> String {
    let python = venv_python();
    let mut cmd = Command::new(&python);
    cmd.arg(interop_script())
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUTF8", "1");
    match run(cmd) {
        Ok(out) => String::from_utf8(out.stdout)
            .unwrap_or_else(|e| panic!("interop.py {args:?} printed non-UTF-8 output: {e}")),
        Err(e) => panic!("interop.py {args:?} failed: {e}"),
    }
}

/// The rows another Delta client reads from `table` (at `version`, else the latest):
/// `client` is `deltalake` (its QueryBuilder SQL path, which reads deletion vectors and column
/// mapping) or `duckdb` (DuckDB's `delta_scan`, built on delta-kernel-rs). Panics with the
/// client's error when it cannot read the table.
pub fn read_with(
    client: &str,
    table: &str,
    version: Option<i64>,
) -> Vec<arrow::array::RecordBatch> {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("rows.parquet");
    let version = version.map(|v| v.to_string());
    let mut args = vec!["read", client, table, out.to_str().expect("utf-8 path")];
    if let Some(v) = &version {
        args.extend(["--version", v]);
    }
    interop(&args);
    crate::read_parquet(&out)
}

/// deltalake writes to `table` as a user would: appends its current rows again, deletes the
/// rows matching `delete` (if given), compacts, and vacuums with zero retention. Returns
/// `{version, rows}` after all that; panics with deltalake's error when it refuses.
pub fn writes_with_deltalake(table: &str, delete: Option<&str>) -> serde_json::Value {
    let mut args = vec!["writes", table];
    if let Some(p) = delete {
        args.extend(["--delete", p]);
    }
    let out = interop(&args);
    serde_json::from_str(out.trim().lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("deltalake writes printed {out:?}: {e}"))
}

/// Deletes the rows of `table` matching the SQL `predicate` with deltalake's `DeltaTable.delete`;
/// returns its metrics (`num_deleted_rows`, `num_removed_files`, ...).
pub fn delete_with_deltalake(table: &str, predicate: &str) -> serde_json::Value {
    let out = interop(&["delete", table, predicate]);
    serde_json::from_str(out.trim().lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("deltalake delete printed {out:?}: {e}"))
}

/// Updates `table` with deltalake's `DeltaTable.update`: `assignments` as `(column, SQL
/// expression)`, rows matching `predicate` (all without one); returns its metrics.
pub fn update_with_deltalake(
    table: &str,
    assignments: &[(&str, &str)],
    predicate: Option<&str>,
) -> serde_json::Value {
    let sets: Vec<String> = assignments
        .iter()
        .map(|(c, e)| format!("{c}={e}"))
        .collect();
    let mut args = vec!["update", table];
    for set in &sets {
        args.extend(["--set", set]);
    }
    if let Some(p) = predicate {
        args.extend(["--where", p]);
    }
    let out = interop(&args);
    serde_json::from_str(out.trim().lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("deltalake update printed {out:?}: {e}"))
}

/// Runs deltalake's `DeltaTable.delete` or `.update` once per case, in one Python process.
/// Each case is `{table, kind: "delete" | "update", predicate?, set?}`; the answer per case is
/// `{ok: true, metrics}` or `{ok: false, error}`.
pub fn dml_with_deltalake(cases: &serde_json::Value) -> Vec<serde_json::Value> {
    batch_with_deltalake("dml-batch", cases)
}

/// Runs deltalake's `DeltaTable.merge` once per case, in one Python process. Each case is
/// `{table, source (a Parquet file), on, clauses: [{kind, predicate?, set?}]}` with aliases `t`
/// and `s`; the answer per case is `{ok: true, metrics}` or `{ok: false, error}`.
pub fn merge_with_deltalake(cases: &serde_json::Value) -> Vec<serde_json::Value> {
    batch_with_deltalake("merge-batch", cases)
}

/// Runs the interop command `command` over a JSON list of cases, in one Python process.
fn batch_with_deltalake(command: &str, cases: &serde_json::Value) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (input, output) = (dir.path().join("cases.json"), dir.path().join("out.json"));
    std::fs::write(&input, cases.to_string()).expect("write cases");
    interop(&[
        command,
        input.to_str().expect("utf-8 path"),
        output.to_str().expect("utf-8 path"),
    ]);
    let text = std::fs::read_to_string(&output).expect("batch output");
    serde_json::from_str(&text).expect("batch JSON")
}

/// The change data feed deltalake's `load_cdf` reads from `table`, versions `start..=end`.
/// Panics with deltalake's error when it cannot read it.
pub fn changes_with_deltalake(
    table: &str,
    start: i64,
    end: Option<i64>,
) -> Vec<arrow::array::RecordBatch> {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("changes.parquet");
    let (start, end) = (start.to_string(), end.map(|v| v.to_string()));
    let mut args = vec![
        "changes",
        table,
        out.to_str().expect("utf-8 path"),
        "--start",
        &start,
    ];
    if let Some(end) = &end {
        args.extend(["--end", end]);
    }
    interop(&args);
    crate::read_parquet(&out)
}

/// Runs each of `queries` in DuckDB over the Delta tables `tables` (`(name, path, version)`:
/// each a view over `delta_scan`, at `version` when given) and returns each query's rows.
/// Panics with DuckDB's error when a query fails.
pub fn sql_with_duckdb(
    tables: &[(&str, &str, Option<i64>)],
    queries: &[&str],
) -> Vec<Vec<arrow::array::RecordBatch>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let outs: Vec<PathBuf> = (0..queries.len())
        .map(|i| dir.path().join(format!("q{i}.parquet")))
        .collect();
    let cases = serde_json::json!({
        "tables": tables
            .iter()
            .map(|(name, path, version)| {
                (name.to_string(), serde_json::json!({"path": path, "version": version}))
            })
            .collect::<serde_json::Map<String, serde_json::Value>>(),
        "queries": queries
            .iter()
            .zip(&outs)
            .map(|(sql, out)| serde_json::json!({"sql": sql, "out": out}))
            .collect::<Vec<_>>(),
    });
    let file = dir.path().join("cases.json");
    fs::write(&file, cases.to_string()).expect("write cases");
    interop(&["duckdb-sql", file.to_str().expect("utf-8 path")]);
    outs.iter().map(|p| crate::read_parquet(p)).collect()
}
