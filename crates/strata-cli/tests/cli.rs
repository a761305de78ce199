//! The `strata` binary, run as a user runs it, on tables written by strata and by the Python
//! `deltalake` package (fixtures): human output, `--json` parsed and checked against the
//! library, `scan --format parquet` equal to the library's scan, errors and exit codes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use strata::{Snapshot, Table};

use strata_test_support as support;
use support::*;

/// What one run of the binary did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    args: Vec<String>,
}

fn strata(args: &[&str]) -> Run {
    strata_with_env(args, &[])
}

fn strata_with_env(args: &[&str], env: &[(String, String)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run strata");
    checked_run(args, out)
}

/// Runs the binary with `input` on its standard input (a pipe).
fn strata_with_stdin(args: &[&str], input: &[u8]) -> Run {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run strata");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    // A writer thread: the child may refuse before reading, and a full pipe must not block.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for strata");
    writer.join().expect("stdin writer");
    checked_run(args, out)
}

/// What a finished run did, refusing panics and debug output on any input.
fn checked_run(args: &[&str], out: std::process::Output) -> Run {
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        args: args.iter().map(|a| a.to_string()).collect(),
    };
    // On any input: no panic, no Rust debug output.
    for marker in [
        "panicked",
        "RUST_BACKTRACE",
        "stack backtrace",
        "internal error",
    ] {
        assert!(
            !run.stderr.contains(marker),
            "{:?}: {}",
            run.args,
            run.stderr
        );
    }
    run
}

/// Runs a command that must succeed; returns its standard output.
#[track_caller]
fn ok(args: &[&str]) -> String {
    let run = strata(args);
    assert_eq!(run.code, 0, "{:?} failed: {}", run.args, run.stderr);
    // Progress bars are for terminals; piped, a command says nothing on stderr.
    if !args.contains(&"--metrics") {
        assert_eq!(run.stderr, "", "{:?}", run.args);
    }
    run.stdout
}

/// Runs a command with `--json`; returns the parsed document.
#[track_caller]
fn json(args: &[&str]) -> Value {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let out = ok(&with_json);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed {out:?}: {e}"))
}

/// Runs a command that must fail with `code`; returns the one-line error message.
#[track_caller]
fn fails(args: &[&str], code: i32) -> String {
    let run = strata(args);
    assert_eq!(
        run.code, code,
        "{:?}: {}{}",
        run.args, run.stdout, run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "{:?} printed {}",
        run.args,
        run.stdout
    );
    run.stderr
}

/// An error message: one line, starting `error: `.
#[track_caller]
fn one_line_error(stderr: &str) -> &str {
    let line = stderr.trim_end();
    assert!(!line.contains('\n'), "more than one line: {stderr}");
    line.strip_prefix("error: ")
        .unwrap_or_else(|| panic!("not an error line: {stderr}"))
}

/// The library's fixtures (`crates/strata/fixtures`), as an absolute path without `..`.
fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../strata/fixtures")
        .canonicalize()
        .expect("crates/strata/fixtures")
}

fn fixture(name: &str) -> PathBuf {
    fixtures_dir().join("tables").join(name)
}

fn fixture_info(name: &str) -> Value {
    let path = fixtures_dir()
        .join("expected")
        .join(name)
        .join("versions.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("versions.json")).expect("json")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A writable copy of a fixture table.
fn copy_fixture(name: &str, lake: &TempLake) -> String {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read_dir") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("type").is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).expect("copy");
            }
        }
    }
    copy(&fixture(name), &lake.table_path(name));
    lake.table(name)
}

/// Every file under a directory with its size, sorted: what "changes nothing" means.
fn tree(dir: &Path) -> Vec<(String, u64)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let entry = entry.expect("entry");
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                let relative = entry.path().strip_prefix(dir).expect("prefix").to_owned();
                files.push((relative.display().to_string(), meta.len()));
            }
        }
    }
    files.sort();
    files
}

async fn library_rows(snapshot: &Snapshot) -> Vec<String> {
    let batches = snapshot.scan().collect().await.expect("scan");
    canonical_rows(&batches, &snapshot.arrow_schema())
}

#[tokio::test]
async fn info_and_history_describe_deltalake_tables() {
    for name in [
        "appends",
        "all_types",
        "partitioned_special",
        "overwrite",
        "delete",
    ] {
        let location = fixture(name);
        let location = path_str(&location);
        let expected = fixture_info(name);
        let latest = expected["latest"].as_i64().unwrap();
        for version in 0..=latest {
            let want = &expected["info"][version.to_string()];
            let v = version.to_string();
            let info = json(&["info", location, "--version", &v]);
            let context = format!("{name} v{version}: {info}");
            assert_eq!(info["version"], version, "{context}");
            assert_eq!(info["numFiles"], want["num_files"], "{context}");
            assert_eq!(info["numRecords"], want["num_rows"], "{context}");
            assert_eq!(
                info["partitionColumns"], want["partition_columns"],
                "{context}"
            );
            let protocol = &info["protocol"];
            assert_eq!(
                protocol["minReaderVersion"], want["min_reader_version"],
                "{context}"
            );
            assert_eq!(
                protocol["minWriterVersion"], want["min_writer_version"],
                "{context}"
            );
            let schema_names: Vec<&Value> = want["schema"]["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| &f["name"])
                .collect();
            let names: Vec<&Value> = info["schema"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| &f["name"])
                .collect();
            assert_eq!(names, schema_names, "{context}");
            assert!(
                info["timestamp"].as_str().unwrap().ends_with('Z'),
                "{context}"
            );
        }
        let history = json(&["history", location]);
        let versions: Vec<i64> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["version"].as_i64().unwrap())
            .collect();
        assert_eq!(versions, (0..=latest).rev().collect::<Vec<_>>(), "{name}");
        let limited = json(&["history", location, "--limit", "1"]);
        assert_eq!(limited.as_array().unwrap().len(), 1);
        assert_eq!(limited[0]["version"], latest);
        assert!(
            history[0]["engineInfo"]
                .as_str()
                .unwrap()
                .contains("delta-rs")
        );
    }
    // Human output: aligned tables with the same facts.
    let location = fixture("partitioned_special");
    let info = ok(&["info", path_str(&location)]);
    for expected in [
        "Version         1",
        "Partitioned by  p, q",
        "Files           27",
        "Rows            27",
        "│ p ",
        "string",
    ] {
        assert!(info.contains(expected), "missing {expected:?} in\n{info}");
    }
    let history = ok(&["history", path_str(&fixture("delete"))]);
    assert!(history.contains("DELETE"), "{history}");
    assert!(history.contains("predicate="), "{history}");
}

#[tokio::test]
async fn scan_to_parquet_equals_the_library_scan() {
    let lake = TempLake::new();
    // deltalake's tables, every type and partition escaping, plus one strata wrote.
    let strata_table = lake.table("strata");
    let table = Table::create(strata_table.as_str())
        .with_arrow_schema(&all_types_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    table.append([all_types(0, 40)]).await.unwrap();
    table.append([all_types(40, 40)]).await.unwrap();
    let tables = [
        path_str(&fixture("all_types")).to_string(),
        path_str(&fixture("partitioned_special")).to_string(),
        path_str(&fixture("overwrite")).to_string(),
        strata_table,
    ];
    for location in &tables {
        let opened = Table::open(location).await.unwrap();
        for version in [None, Some(0)] {
            let snapshot = match version {
                Some(v) => opened.snapshot_at_version(v).await.unwrap(),
                None => opened.snapshot().await.unwrap(),
            };
            let out = lake.path().join("out.parquet");
            let mut args = vec!["scan", location.as_str(), "--format", "parquet", "--output"];
            args.push(path_str(&out));
            let v;
            if let Some(version) = version {
                v = version.to_string();
                args.extend(["--version", v.as_str()]);
            }
            assert_eq!(ok(&args), "");
            let batches = read_parquet(&out);
            // The file's own schema (also for a version without rows).
            let file = std::fs::File::open(&out).unwrap();
            let schema =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .schema()
                    .clone();
            let context = format!("{location} at {version:?}");
            // Lossless: the table's Arrow schema exactly, and the same rows.
            assert_eq!(
                schema.fields(),
                snapshot.arrow_schema().fields(),
                "{context}"
            );
            assert_eq!(
                canonical_rows(&batches, &snapshot.arrow_schema()),
                library_rows(&snapshot).await,
                "{context}"
            );
        }
    }
}

#[tokio::test]
async fn scan_selects_versions_columns_filters_and_formats() {
    let location = fixture("partitioned_special");
    let location = path_str(&location);
    let snapshot = latest(location).await;
    let filter = "q >= 0 AND p IS NOT NULL";
    let expected = snapshot
        .scan()
        .with_columns(["q", "p"])
        .with_filter(filter)
        .collect()
        .await
        .unwrap();
    let expected_rows = num_rows(&expected);
    assert!(expected_rows > 0 && expected_rows < 27);

    let selected = |format: &[&str]| {
        let mut args = vec!["scan", location, "--columns", "q,p", "--filter", filter];
        args.extend(format);
        ok(&args)
    };
    // jsonl: one object per row, with exactly the requested keys (nulls explicit).
    let out = selected(&["--format", "jsonl"]);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), expected_rows);
    for line in &lines {
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 2, "{line}");
        assert!(line["q"].as_i64().unwrap() >= 0, "{line}");
    }
    assert_eq!(selected(&["--json"]), out);
    // csv: a header and one line per row; a header even when nothing matches.
    let csv = selected(&["--format", "csv"]);
    let mut csv_lines = csv.lines();
    assert_eq!(csv_lines.next(), Some("q,p"));
    assert_eq!(csv_lines.count(), expected_rows);
    let none = ok(&["scan", location, "--filter", "q > 1000", "--format", "csv"]);
    assert_eq!(none.trim(), "id,p,q,v");
    // table: aligned, with a row count; --limit caps it, and without one a table shows the
    // first 100 rows and says there are more.
    let table = ok(&["scan", location, "--limit", "3"]);
    assert!(table.ends_with("3 rows\n"), "{table}");
    assert_eq!(
        table.lines().filter(|l| l.starts_with('│')).count(),
        4,
        "{table}"
    );
    // Time travel by version and by timestamp reads the same version.
    let at_zero = ok(&[
        "scan",
        path_str(&fixture("overwrite")),
        "--version",
        "0",
        "--json",
    ]);
    assert_eq!(at_zero.lines().count(), 2);
    let info = json(&["info", path_str(&fixture("overwrite")), "--version", "0"]);
    let at_time = ok(&[
        "scan",
        path_str(&fixture("overwrite")),
        "--timestamp",
        info["timestamp"].as_str().unwrap(),
        "--json",
    ]);
    let sorted = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    assert_eq!(sorted(&at_time), sorted(&at_zero));
    let dir = tempfile::tempdir().unwrap();
    let (big, big_location) = id_table(dir.path()).await;
    big.append([id_batch(0..150)]).await.unwrap();
    let shown = ok(&["scan", &big_location]);
    assert!(
        shown.ends_with("first 100 rows; pass --limit N for more\n"),
        "{shown}"
    );
    assert_eq!(shown.lines().filter(|l| l.starts_with('│')).count(), 101);
    assert!(ok(&["scan", &big_location, "--limit", "150"]).ends_with("\n150 rows\n"));
    // A scan that fails part-way leaves no partial output file.
    for entry in std::fs::read_dir(&big_location).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "parquet") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let out = dir.path().join("out.csv");
    let err = fails(
        &[
            "scan",
            &big_location,
            "--format",
            "csv",
            "--output",
            path_str(&out),
        ],
        1,
    );
    one_line_error(&err);
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "temporary file left behind"
    );
    // --metrics reports what was pruned on standard error.
    let run = strata(&[
        "scan",
        location,
        "--filter",
        "q = 7",
        "--format",
        "csv",
        "--metrics",
    ]);
    assert_eq!(run.code, 0);
    assert!(
        run.stderr
            .contains("read 2 of 27 files (25 pruned by partition values"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn create_and_append_parquet_csv_and_json_files() {
    let lake = TempLake::new();
    let location = lake.table("events");
    let created = json(&[
        "create",
        &location,
        "--schema",
        "id long not null, country string, amount decimal(10,2), day date",
        "--partition-by",
        "country",
        "--property",
        "delta.appendOnly=false",
    ]);
    assert_eq!(created["version"], 0);
    assert_eq!(created["partitionColumns"], serde_json::json!(["country"]));

    let csv = lake.path().join("a.csv");
    std::fs::write(
        &csv,
        "day,id,country,amount\n2026-11-01,1,PT,10.50\n2026-11-02,2,NL,\n",
    )
    .unwrap();
    let jsonl = lake.path().join("b.jsonl");
    std::fs::write(
        &jsonl,
        "{\"id\": 3, \"country\": \"PT\", \"amount\": 1.25}\n{\"id\": 4}\n",
    )
    .unwrap();
    let written = json(&["append", &location, path_str(&csv), path_str(&jsonl)]);
    assert_eq!(written["version"], 1);
    assert_eq!(written["numRows"], 4);

    let table = Table::open(&location).await.unwrap();
    let snapshot = table.snapshot().await.unwrap();
    assert_eq!(snapshot_ids(&snapshot).await, vec![1, 2, 3, 4]);
    assert_eq!(
        rendered_where(&snapshot, "country = 'PT' AND amount > 10").await,
        vec!["1|PT|10.50|2026-11-01"]
    );

    // Parquet in, idempotent with --txn, then an overwrite.
    let parquet = lake.path().join("c.parquet");
    ok(&[
        "scan",
        &location,
        "--format",
        "parquet",
        "--output",
        path_str(&parquet),
    ]);
    let again = json(&["append", &location, path_str(&parquet), "--txn", "ingest:7"]);
    assert_eq!(again["version"], 2);
    let skipped = json(&["append", &location, path_str(&parquet), "--txn", "ingest:7"]);
    assert_eq!(skipped["alreadyApplied"], true);
    assert_eq!(skipped["version"], 2);
    // An older txn version is below the high-water mark: done, and said so.
    let older = ok(&["append", &location, path_str(&parquet), "--txn", "ingest:3"]);
    assert!(older.contains("high-water mark"), "{older}");
    // The watermark is visible.
    assert_eq!(json(&["info", &location])["txns"]["ingest"], 7);
    assert!(ok(&["info", &location]).contains("ingest=7"));
    let replaced = json(&["append", &location, path_str(&csv), "--mode", "overwrite"]);
    assert_eq!(replaced["version"], 3);
    assert_eq!(ids_at(&table, 3).await, vec![1, 2]);
    assert_eq!(ids_at(&table, 2).await, vec![1, 1, 2, 2, 3, 3, 4, 4]);
    // Options of a new table are refused, not ignored, for a table that exists.
    let err = fails(
        &[
            "append",
            &location,
            path_str(&csv),
            "--partition-by",
            "country",
        ],
        2,
    );
    assert!(one_line_error(&err).contains("--create"), "{err}");
    let err = fails(
        &[
            "append",
            &location,
            path_str(&csv),
            "--create",
            "--partition-by",
            "day",
        ],
        1,
    );
    assert!(
        one_line_error(&err).contains("partitioned by [country]"),
        "{err}"
    );
    // Commit metadata reaches the history.
    ok(&[
        "append",
        &location,
        path_str(&csv),
        "--metadata",
        "jobId=nightly-17",
    ]);
    let history = json(&["history", &location, "--limit", "1"]);
    assert_eq!(history[0]["userMetadata"]["jobId"], "nightly-17");

    // --create makes a table from the first file's schema; another client reads it.
    let new = lake.table("from_csv");
    let run = fails(&["append", &new, path_str(&csv)], 1);
    assert!(one_line_error(&run).contains("--create"), "{run}");
    ok(&[
        "append",
        &new,
        path_str(&csv),
        "--create",
        "--partition-by",
        "country",
    ]);
    let info = json(&["info", &new]);
    assert_eq!(info["numRecords"], 2);
    assert_eq!(info["partitionColumns"], serde_json::json!(["country"]));
    assert_deltalake_row_count(&new, 2);
    assert_deltalake_row_count(&location, 4);

    // Bad input, refused with the reason: a column the table lacks, a malformed file, an
    // unknown extension, a JSON number that is not an integer (not truncated).
    let refused = |name: &str, content: &str, code: i32, names: &str| {
        let file = lake.path().join(name);
        std::fs::write(&file, content).unwrap();
        let err = fails(&["append", &location, path_str(&file)], code);
        assert!(one_line_error(&err).contains(names), "{name}: {err}");
        file
    };
    refused(
        "extra.jsonl",
        "{\"id\": 9, \"colour\": \"red\"}\n",
        1,
        "colour",
    );
    let broken = refused(
        "broken.csv",
        "id,country\n1,PT\nnot-a-number,NL\n",
        1,
        "broken.csv",
    );
    refused("data.xyz", "", 2, "--input-format");
    refused("fractional.jsonl", "{\"id\": 5.9}\n", 1, "5.9");
    // A column the table lacks is refused even in a file with no rows to show it.
    refused("header_only.csv", "id,colour\n", 1, "`colour`");
    // An input without rows (a truncated export) is refused unless asked for.
    refused("empty.csv", "id,country\n", 1, "--allow-empty");
    let before = table.version().await.unwrap();
    assert_eq!(before, 4, "failed appends committed nothing");
    let header_only = lake.path().join("header_only_ok.csv");
    std::fs::write(&header_only, "id,country\n").unwrap();
    let allowed = json(&["append", &location, path_str(&header_only), "--allow-empty"]);
    assert_eq!(
        (allowed["version"].as_i64(), allowed["numRows"].as_i64()),
        (Some(5), Some(0))
    );
    let before = table.version().await.unwrap();
    assert_eq!(before, 5);
    // A JSON field first seen after the records used for inference is still the table's.
    let late = lake.path().join("late.jsonl");
    let mut lines: String = (100..10_100)
        .map(|i| format!("{{\"id\": {i}}}\n"))
        .collect();
    lines.push_str("{\"id\": 10100, \"country\": \"LATE\", \"amount\": 2.5}\n");
    std::fs::write(&late, lines).unwrap();
    assert_eq!(
        json(&["append", &location, path_str(&late)])["numRows"],
        10_001
    );
    let latest_rows = table.snapshot().await.unwrap();
    assert_eq!(
        rendered_where(&latest_rows, "country = 'LATE'").await,
        vec!["10100|LATE|2.50|NULL"]
    );

    // --create with an unreadable later file creates nothing.
    let never = lake.table("never");
    let err = fails(
        &["append", &never, path_str(&csv), "/no/such.csv", "--create"],
        1,
    );
    assert!(one_line_error(&err).contains("/no/such.csv"), "{err}");
    assert!(one_line_error(&fails(&["info", &never], 1)).contains("no Delta table"));
    // ... and so does one whose data turns out bad part-way: the table and its first rows are
    // one commit.
    let err = fails(
        &[
            "append",
            &never,
            path_str(&csv),
            path_str(&broken),
            "--create",
        ],
        1,
    );
    assert!(one_line_error(&err).contains("broken.csv"), "{err}");
    assert!(one_line_error(&fails(&["info", &never], 1)).contains("no Delta table"));
    let first_run = [
        "append",
        &never,
        path_str(&csv),
        "--create",
        "--txn",
        "first:1",
    ];
    assert_eq!(json(&first_run)["version"], 0);
    // A rerun of the same job finds its transaction in the table it created.
    let rerun = json(&first_run);
    assert_eq!(
        (rerun["alreadyApplied"].as_bool(), rerun["version"].as_i64()),
        (Some(true), Some(0))
    );
    let created = json(&["history", &never]);
    assert_eq!(
        created.as_array().unwrap().len(),
        1,
        "created and written in version 0"
    );
    assert_eq!(json(&["info", &never])["numRecords"], 2);
}

#[tokio::test]
async fn append_with_an_expected_version_commits_only_on_that_version() {
    let lake = TempLake::new();
    let location = lake.table("t");
    let csv = lake.path().join("rows.csv");
    std::fs::write(&csv, "id,country\n1,PT\n2,NL\n").unwrap();
    ok(&["append", &location, path_str(&csv), "--create"]);
    ok(&["append", &location, path_str(&csv)]);
    // A job that read version 0 commits nothing on version 1.
    let stale = fails(
        &[
            "append",
            &location,
            path_str(&csv),
            "--mode",
            "overwrite",
            "--expected-version",
            "0",
        ],
        1,
    );
    assert!(
        one_line_error(&stale).contains("moved past version 0"),
        "{stale}"
    );
    let guarded = json(&[
        "append",
        &location,
        path_str(&csv),
        "--mode",
        "overwrite",
        "--expected-version",
        "1",
    ]);
    assert_eq!(guarded["version"], 2);
}

/// Creates `name` as `id long not null, amount long` with rows (1, 10) and (2, 20) in version 1.
fn table_with_two_rows(lake: &TempLake, name: &str) -> String {
    let location = lake.table(name);
    ok(&[
        "create",
        &location,
        "--schema",
        "id long not null, amount long",
    ]);
    let csv = lake.path().join(format!("{name}-rows.csv"));
    std::fs::write(&csv, "id,amount\n1,10\n2,20\n").unwrap();
    assert_eq!(json(&["append", &location, path_str(&csv)])["version"], 1);
    location
}

/// `scan --format csv` output, header first.
fn scan_csv(location: &str) -> Vec<String> {
    let out = ok(&["scan", location, "--format", "csv"]);
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    lines[1..].sort();
    lines
}

#[tokio::test]
async fn alter_adds_a_column_and_a_constraint_in_one_version_that_appends_obey() {
    let lake = TempLake::new();
    let location = table_with_two_rows(&lake, "t");
    let altered = json(&[
        "alter",
        &location,
        "--add-column",
        "year int",
        "--add-constraint",
        "pos=amount > 0",
    ]);
    assert_eq!(altered["version"], 2, "{altered}");
    assert_eq!(altered["operation"], "ALTER TABLE", "{altered}");
    assert_eq!(altered["protocolUpgraded"], true, "{altered}");
    assert_eq!(altered["rowsChecked"], 2, "{altered}");
    let history = json(&["history", &location]);
    assert_eq!(
        history.as_array().unwrap().len(),
        3,
        "one commit: {history}"
    );
    assert_eq!(history[0]["operation"], "ALTER TABLE");
    let info = json(&["info", &location]);
    let columns: Vec<&str> = info["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["id", "amount", "year"]);
    assert_eq!(info["schema"][2]["type"], "integer");
    assert!(info["protocol"]["minWriterVersion"].as_i64().unwrap() >= 3);

    // A row breaking the constraint: exit 1, one line naming it, nothing committed.
    let bad = lake.path().join("bad.csv");
    std::fs::write(&bad, "id,amount,year\n3,-1,2026\n").unwrap();
    let err = fails(&["append", &location, path_str(&bad)], 1);
    let err = one_line_error(&err);
    assert!(
        err.contains("CHECK constraint pos") && err.contains("amount > 0"),
        "{err}"
    );
    assert!(err.contains("nothing was committed"), "{err}");
    assert_eq!(json(&["info", &location])["version"], 2);
    // A row keeping it is written, with the new column.
    let good = lake.path().join("good.csv");
    std::fs::write(&good, "id,amount,year\n3,30,2026\n").unwrap();
    assert_eq!(json(&["append", &location, path_str(&good)])["version"], 3);
    assert_eq!(
        scan_csv(&location),
        ["id,amount,year", "1,10,", "2,20,", "3,30,2026"]
    );
    // Existing rows must satisfy an added constraint: refused, nothing committed.
    let err = fails(
        &["alter", &location, "--add-constraint", "big=amount > 15"],
        1,
    );
    assert!(one_line_error(&err).contains("big"), "{err}");
    assert_eq!(json(&["info", &location])["version"], 3);
    // A change already in effect commits nothing and says so.
    let noop = json(&["alter", &location, "--unset-property", "no.such.key"]);
    assert_eq!(noop["version"], Value::Null, "{noop}");
    let noop = ok(&["alter", &location, "--unset-property", "no.such.key"]);
    assert!(noop.starts_with("nothing to change"), "{noop}");
    // Dropping the constraint lets the row in.
    let dropped = ok(&["alter", &location, "--drop-constraint", "pos"]);
    assert_eq!(
        dropped.trim_end(),
        format!("altered {location}: version 4 (DROP CONSTRAINT)")
    );
    assert_eq!(json(&["append", &location, path_str(&bad)])["version"], 5);
}

#[tokio::test]
async fn alter_renames_and_drops_columns_keeping_the_data() {
    let lake = TempLake::new();
    let location = table_with_two_rows(&lake, "t");
    let renamed = ok(&["alter", &location, "--rename-column", "amount=total"]);
    assert_eq!(
        renamed.trim_end(),
        format!("altered {location}: version 2 (RENAME COLUMN), protocol upgraded")
    );
    assert_eq!(scan_csv(&location), ["id,total", "1,10", "2,20"]);
    // Earlier versions keep the old name.
    let old = ok(&["scan", &location, "--version", "1", "--format", "csv"]);
    assert!(old.starts_with("id,amount\n"), "{old}");
    // Columns added, made NOT NULL, constrained and commented in one commit.
    let altered = json(&[
        "alter",
        &location,
        "--add-constraint",
        "keyed=id > 0",
        "--add-column",
        "note string COMMENT 'free text' FIRST",
        "--set-not-null",
        "total",
        "--column-comment",
        "total=in cents",
        "--comment",
        "amounts",
    ]);
    assert_eq!(altered["version"], 3, "{altered}");
    assert_eq!(altered["operation"], "ALTER TABLE");
    assert_eq!(altered["protocolUpgraded"], false, "{altered}");
    assert_eq!(altered["rowsChecked"], 2, "{altered}");
    assert_eq!(scan_csv(&location), ["note,id,total", ",1,10", ",2,20"]);
    // A column a constraint reads cannot be dropped ...
    let err = fails(&["alter", &location, "--drop-column", "id"], 1);
    assert!(one_line_error(&err).contains("keyed"), "{err}");
    // ... but dropping the constraint in the same command does it: constraints are dropped
    // before columns, whatever the command-line order.
    let dropped = ok(&[
        "alter",
        &location,
        "--drop-column",
        "id",
        "--drop-constraint",
        "keyed",
        "--comment",
        "",
    ]);
    assert_eq!(
        dropped.trim_end(),
        format!("altered {location}: version 4 (ALTER TABLE)")
    );
    assert_eq!(scan_csv(&location), ["note,total", ",10", ",20"]);
    let info = json(&["info", &location]);
    assert_eq!(info["description"], Value::Null);
    assert_eq!(info["constraints"], serde_json::json!([]));
    assert_eq!(
        info["schema"],
        serde_json::json!([
            {"name": "note", "type": "string", "nullable": true},
            {"name": "total", "type": "long", "nullable": false},
        ])
    );
    // The library reads the renamed column's old data.
    let table = Table::open(&location).await.unwrap();
    let snapshot = table.snapshot().await.unwrap();
    assert_eq!(
        rendered_where(&snapshot, "total > 15").await,
        vec!["NULL|20"]
    );
    // A missing column is an error naming it; nothing is committed.
    let err = fails(&["alter", &location, "--drop-column", "nope"], 1);
    assert!(one_line_error(&err).contains("nope"), "{err}");
    let err = fails(&["alter", &location, "--widen-type", "amount=int"], 1);
    one_line_error(&err);
    assert_eq!(json(&["info", &location])["version"], 4);
}

#[tokio::test]
async fn append_with_schema_mode_merge_adds_the_new_columns() {
    let lake = TempLake::new();
    let location = table_with_two_rows(&lake, "t");
    let extra = lake.path().join("extra.csv");
    std::fs::write(&extra, "id,amount,channel\n3,30,web\n").unwrap();
    // Without the flag a column the table lacks is refused.
    let err = fails(&["append", &location, path_str(&extra)], 1);
    assert!(one_line_error(&err).contains("`channel`"), "{err}");
    assert_eq!(json(&["info", &location])["version"], 1);
    let written = json(&[
        "append",
        &location,
        path_str(&extra),
        "--schema-mode",
        "merge",
    ]);
    assert_eq!(
        (written["version"].as_i64(), written["numRows"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        scan_csv(&location),
        ["id,amount,channel", "1,10,", "2,20,", "3,30,web"]
    );
    assert_eq!(
        json(&["info", &location])["schema"][2],
        serde_json::json!({"name": "channel", "type": "string", "nullable": true})
    );
    // Files with different new columns, CSV and JSON, in one commit.
    let a = lake.path().join("a.csv");
    std::fs::write(&a, "id,amount,region\n4,40,EU\n").unwrap();
    let b = lake.path().join("b.jsonl");
    std::fs::write(&b, "{\"id\": 5, \"score\": 1.5, \"channel\": \"app\"}\n").unwrap();
    let written = json(&[
        "append",
        &location,
        path_str(&a),
        path_str(&b),
        "--schema-mode",
        "merge",
    ]);
    assert_eq!(written["version"], 3, "{written}");
    assert_eq!(
        scan_csv(&location),
        [
            "id,amount,channel,region,score",
            "1,10,,,",
            "2,20,,,",
            "3,30,web,,",
            "4,40,,EU,",
            "5,,app,,1.5",
        ]
    );
    // Schema overwrite needs an overwrite: a usage error, then the schema replaced.
    let replacement = lake.path().join("replacement.csv");
    std::fs::write(&replacement, "id,label\n9,x\n").unwrap();
    let err = fails(
        &[
            "append",
            &location,
            path_str(&replacement),
            "--schema-mode",
            "overwrite",
        ],
        2,
    );
    assert!(one_line_error(&err).contains("--mode overwrite"), "{err}");
    let replaced = json(&[
        "append",
        &location,
        path_str(&replacement),
        "--mode",
        "overwrite",
        "--schema-mode",
        "overwrite",
    ]);
    assert_eq!(replaced["version"], 4, "{replaced}");
    assert_eq!(scan_csv(&location), ["id,label", "9,x"]);
    let err = fails(
        &[
            "append",
            &location,
            path_str(&extra),
            "--schema-mode",
            "sideways",
        ],
        2,
    );
    assert!(one_line_error(&err).contains("--schema-mode"), "{err}");
}

#[tokio::test]
async fn info_lists_constraints_invariants_generated_and_identity_columns() {
    let lake = TempLake::new();
    let location = table_with_two_rows(&lake, "t");
    ok(&["alter", &location, "--add-constraint", "pos=amount > 0"]);
    let info = json(&["info", &location]);
    assert_eq!(
        info["constraints"],
        serde_json::json!([{"kind": "check", "name": "pos", "expression": "amount > 0"}])
    );
    assert_eq!(info["generatedColumns"], serde_json::json!([]));
    assert_eq!(info["identityColumns"], serde_json::json!([]));
    let text = ok(&["info", &location]);
    let section = text.split("\nConstraints\n").nth(1).expect(&text);
    assert!(
        section.contains("check") && section.contains("pos") && section.contains("amount > 0"),
        "{text}"
    );
    assert!(!text.contains("Generated columns"), "{text}");

    // A table another engine made: an invariant, a generated and an identity column.
    let other = lake.table_path("other");
    std::fs::create_dir_all(other.join("_delta_log")).unwrap();
    let schema = serde_json::json!({"type": "struct", "fields": [
        {"name": "id", "type": "long", "nullable": false, "metadata": {
            "delta.identity.start": 1, "delta.identity.step": 1,
            "delta.identity.highWaterMark": 7, "delta.identity.allowExplicitInsert": false}},
        {"name": "amount", "type": "long", "nullable": true, "metadata": {
            "delta.invariants": "{\"expression\":{\"expression\":\"amount < 1000\"}}"}},
        {"name": "day", "type": "date", "nullable": true, "metadata": {}},
        {"name": "year", "type": "integer", "nullable": true, "metadata": {
            "delta.generationExpression": "YEAR(day)"}},
    ]});
    let metadata = serde_json::json!({"metaData": {
        "id": "o", "format": {"provider": "parquet", "options": {}},
        "schemaString": schema.to_string(), "partitionColumns": [],
        "configuration": {"delta.constraints.small": "amount < 500"}}});
    let protocol = serde_json::json!({"protocol": {"minReaderVersion": 1, "minWriterVersion": 7,
        "writerFeatures": ["invariants", "checkConstraints", "generatedColumns", "identityColumns"]}});
    std::fs::write(commit_path(&other, 0), format!("{protocol}\n{metadata}\n")).unwrap();
    let other = path_str(&other);
    let info = json(&["info", other]);
    assert_eq!(
        info["constraints"],
        serde_json::json!([
            {"kind": "check", "name": "small", "expression": "amount < 500"},
            {"kind": "invariant", "name": "amount", "expression": "amount < 1000"},
        ])
    );
    assert_eq!(
        info["generatedColumns"],
        serde_json::json!([{"column": "year", "expression": "YEAR(day)"}])
    );
    assert_eq!(
        info["identityColumns"],
        serde_json::json!([{"column": "id", "start": 1, "step": 1, "highWaterMark": 7,
            "allowExplicitInsert": false}])
    );
    let text = ok(&["info", other]);
    for expected in [
        "invariant",
        "amount < 1000",
        "Generated columns",
        "ALWAYS AS (YEAR(day))",
        "ALWAYS AS IDENTITY (START WITH 1 INCREMENT BY 1), high-water mark 7",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
}

#[tokio::test]
async fn alter_without_a_change_or_with_a_malformed_one_is_a_usage_error() {
    let lake = TempLake::new();
    let location = table_with_two_rows(&lake, "t");
    for (args, names) in [
        (vec!["alter", location.as_str()], "--add-column"),
        (
            vec!["alter", location.as_str(), "--rename-column", "amount"],
            "--rename-column",
        ),
        (
            vec!["alter", location.as_str(), "--widen-type", "amount=huge"],
            "--widen-type",
        ),
        (
            vec!["alter", location.as_str(), "--add-constraint", "amount > 0"],
            "--add-constraint",
        ),
        (vec!["alter", location.as_str(), "--json"], "--add-column"),
    ] {
        let err = fails(&args, 2);
        let err = one_line_error(&err);
        assert!(
            err.contains(names) && err.contains("--help"),
            "{args:?}: {err}"
        );
    }
    let err = fails(&["alter", &location, "--add-column", "year"], 2);
    let err = one_line_error(&err);
    assert!(
        err.contains("--add-column") && err.contains("year"),
        "{err}"
    );
    assert_eq!(json(&["info", &location])["version"], 1);
}

#[tokio::test]
async fn delete_removes_the_matching_rows() {
    let lake = TempLake::new();
    let location = lake.table("t");
    let csv = lake.path().join("rows.csv");
    std::fs::write(&csv, "id,country\n1,PT\n2,NL\n3,PT\n4,NL\n").unwrap();
    ok(&[
        "append",
        &location,
        path_str(&csv),
        "--create",
        "--partition-by",
        "country",
    ]);
    let one = json(&["delete", &location, "--where", "id = 1"]);
    assert_eq!(
        (one["version"].as_i64(), one["numDeletedRows"].as_i64()),
        (Some(1), Some(1))
    );
    let human = ok(&["delete", &location, "--where", "country = 'NL'"]);
    assert!(human.starts_with("deleted 2 rows as version 2"), "{human}");
    let none = json(&["delete", &location, "--where", "id = 99"]);
    assert!(none["version"].is_null(), "{none}");
    let table = Table::open(&location).await.unwrap();
    assert_eq!(ids_at(&table, 2).await, vec![3]);
    // Every row needs saying so; a bad predicate is an error naming it.
    let usage = fails(&["delete", &location], 2);
    assert!(usage.contains("--all"), "{usage}");
    let bad = fails(&["delete", &location, "--where", "nope = 1"], 1);
    assert!(one_line_error(&bad).contains("nope"), "{bad}");
    let all = json(&["delete", &location, "--all"]);
    assert_eq!(all["numDeletedRows"], 1);
}

#[tokio::test]
async fn update_sets_columns_of_the_matching_rows() {
    let lake = TempLake::new();
    let location = lake.table("t");
    let csv = lake.path().join("rows.csv");
    std::fs::write(&csv, "id,country,amount\n1,PT,-5\n2,NL,7\n3,PT,-1\n").unwrap();
    ok(&["append", &location, path_str(&csv), "--create"]);
    let fixed = json(&[
        "update",
        &location,
        "--set",
        "amount = abs(amount)",
        "--set",
        "`country` = lower(country)",
        "--where",
        "amount < 0",
    ]);
    assert_eq!(
        (fixed["version"].as_i64(), fixed["numUpdatedRows"].as_i64()),
        (Some(1), Some(2)),
        "{fixed}"
    );
    let scan = ok(&["scan", &location, "--format", "csv"]);
    let mut lines: Vec<&str> = scan.lines().skip(1).collect();
    lines.sort_unstable();
    assert_eq!(lines, ["1,pt,5", "2,NL,7", "3,pt,1"]);
    let human = ok(&["update", &location, "--set", "amount = amount + 1"]);
    assert!(human.starts_with("updated 3 rows as version 2"), "{human}");
    // Usage errors name the flag; type errors name the assignment; nothing is committed.
    let usage = fails(&["update", &location, "--set", "amount"], 2);
    assert!(usage.contains("column = expression"), "{usage}");
    let bad = fails(&["update", &location, "--set", "amount = country"], 1);
    assert!(one_line_error(&bad).contains("SET amount"), "{bad}");
    let none = json(&[
        "update",
        &location,
        "--set",
        "amount = 0",
        "--where",
        "id = 99",
    ]);
    assert!(none["version"].is_null(), "{none}");
}

#[tokio::test]
async fn merge_upserts_rows_from_files_by_key() {
    let lake = TempLake::new();
    let location = lake.table("t");
    let csv = lake.path().join("rows.csv");
    std::fs::write(&csv, "id,country,amount\n1,PT,10\n2,NL,20\n3,PT,30\n").unwrap();
    ok(&["append", &location, path_str(&csv), "--create"]);
    let changes = lake.path().join("changes.jsonl");
    std::fs::write(
        &changes,
        "{\"id\":2,\"country\":\"NL\",\"amount\":21}\n{\"id\":4,\"country\":\"ES\",\"amount\":40}\n",
    )
    .unwrap();
    let upsert = json(&["merge", &location, path_str(&changes), "--on", "id"]);
    assert_eq!(
        (
            upsert["version"].as_i64(),
            upsert["numTargetRowsUpdated"].as_i64(),
            upsert["numTargetRowsInserted"].as_i64()
        ),
        (Some(1), Some(1), Some(1)),
        "{upsert}"
    );
    let scan = |location: &str| {
        let out = ok(&["scan", location, "--format", "csv"]);
        let mut lines: Vec<String> = out.lines().skip(1).map(String::from).collect();
        lines.sort();
        lines
    };
    assert_eq!(
        scan(&location),
        ["1,PT,10", "2,NL,21", "3,PT,30", "4,ES,40"]
    );
    // Deletes by key, only where the condition holds; the rest of the table untouched.
    let deletes = lake.path().join("deletes.csv");
    std::fs::write(&deletes, "id,country,amount\n1,PT,0\n3,PT,99\n").unwrap();
    let human = ok(&[
        "merge",
        &location,
        path_str(&deletes),
        "--on",
        "id,country",
        "--when-matched",
        "delete",
        "--matched-condition",
        "source.amount > target.amount",
        "--when-not-matched",
        "ignore",
    ]);
    assert!(
        human.starts_with("merged 2 source rows as version 2: 0 inserted, 0 updated, 1 deleted"),
        "{human}"
    );
    assert_eq!(scan(&location), ["1,PT,10", "2,NL,21", "4,ES,40"]);
    // Duplicate keys in the source name the key; a missing key column is an error.
    let dupes = lake.path().join("dupes.csv");
    std::fs::write(&dupes, "id,country,amount\n2,NL,1\n2,NL,2\n").unwrap();
    let err = fails(&["merge", &location, path_str(&dupes), "--on", "id"], 1);
    assert!(one_line_error(&err).contains("id = 2"), "{err}");
    let err = fails(&["merge", &location, path_str(&dupes), "--on", "nope"], 1);
    assert!(one_line_error(&err).contains("nope"), "{err}");
}

#[tokio::test]
async fn diff_lists_the_files_and_rows_between_versions() {
    let location = fixture("overwrite");
    let location = path_str(&location);
    let diff = json(&["diff", location, "1", "3"]);
    let library = Table::open(location)
        .await
        .unwrap()
        .diff(1, 3)
        .await
        .unwrap();
    assert_eq!(diff["numFilesAdded"], library.added.len());
    assert_eq!(diff["numFilesRemoved"], library.removed.len());
    assert_eq!(diff["rowsAdded"], library.rows_added().unwrap());
    assert_eq!(diff["rowsRemoved"], library.rows_removed().unwrap());
    assert_eq!(diff["bytesAdded"], library.bytes_added());
    // v1 has 4 rows in 2 files; v2 overwrote them with 2 rows, v3 appended 1.
    assert_eq!(
        (diff["rowsAdded"].as_i64(), diff["rowsRemoved"].as_i64()),
        (Some(3), Some(4))
    );
    let paths: Vec<&str> = diff["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        library
            .added
            .iter()
            .map(|a| a.path.as_str())
            .collect::<Vec<_>>()
    );
    // TO defaults to the latest version; the same version has no changes.
    assert_eq!(json(&["diff", location, "1"])["to"], 3);
    let same = ok(&["diff", location, "2", "2"]);
    assert!(same.contains("the same data files"), "{same}");
    let human = ok(&["diff", location, "1", "3"]);
    assert!(human.contains("2 files added (3 rows"), "{human}");
}

#[tokio::test]
async fn diff_rows_prints_the_rows_the_library_finds_in_every_format() {
    let location = fixture("overwrite");
    let location = path_str(&location);
    let library = Table::open(location)
        .await
        .unwrap()
        .diff_rows(1, 3)
        .execute()
        .await
        .unwrap();
    // v1 has 4 rows; v2 overwrote them with 2, v3 appended 1.
    assert_eq!((library.deleted, library.inserted), (4, 3));
    let run = strata(&["diff", location, "1", "3", "--rows", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("3 rows inserted, 4 deleted, 0 updated"),
        "{}",
        run.stderr
    );
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds = |kind: &str| lines.iter().filter(|l| l["_change_type"] == kind).count();
    assert_eq!((kinds("delete"), kinds("insert"), lines.len()), (4, 3, 7));
    let human = ok(&["diff", location, "1", "3", "--rows"]);
    assert!(
        human.starts_with("version 1 -> 3: 3 rows inserted, 4 deleted"),
        "{human}"
    );
    assert!(
        human.contains("_change_type") && human.trim_end().ends_with("7 rows"),
        "{human}"
    );
    let lake = TempLake::new();
    let out = lake.path().join("diff.parquet");
    let run = strata(&[
        "diff",
        location,
        "1",
        "3",
        "--rows",
        "--format",
        "parquet",
        "-O",
        path_str(&out),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(rendered(&read_parquet(&out)), rendered(&library.batches));
    let same = ok(&["diff", location, "3", "3", "--rows"]);
    assert!(
        same.contains("the two versions hold the same rows"),
        "{same}"
    );
    let limited = ok(&["diff", location, "1", "3", "--rows", "--limit", "2"]);
    assert!(limited.trim_end().ends_with("2 rows"), "{limited}");
    let usage = fails(&["diff", location, "1", "3", "--key", "id"], 2);
    assert!(usage.contains("--rows"), "{usage}");
    let bad_key = fails(&["diff", location, "1", "3", "--rows", "--key", "nope"], 1);
    assert!(bad_key.contains("\"nope\""), "{bad_key}");
}

#[tokio::test]
async fn tag_restore_and_revert_a_deltalake_table() {
    let lake = TempLake::new();
    let location = copy_fixture("appends", &lake);
    // appends: v0..v2, 10 rows at v2.
    let tagged = json(&["tag", &location, "first", "--version", "0"]);
    assert_eq!(tagged["target"], 0);
    assert_eq!(tagged["created"], true);
    // A tag is a side file, not a commit.
    assert_eq!(json(&["info", &location])["version"], 2);
    let again = ok(&["tag", &location, "first", "--version", "0"]);
    assert!(again.contains("already names version 0"), "{again}");
    let tags = json(&["tags", &location]);
    assert_eq!(tags[0]["name"], "first");
    assert_eq!(tags[0]["version"], 0);
    assert!(ok(&["tags", &location]).contains("│ first"));
    let at_tag = json(&["info", &location, "--tag", "first"]);
    assert_eq!(at_tag["version"], 0);
    let tag_diff = json(&["diff", &location, "first", "2"]);
    assert_eq!(tag_diff["from"], 0);

    let restored = json(&["restore", &location, "--tag", "first"]);
    assert_eq!(restored["target"], 0);
    assert_eq!(restored["version"], 3);
    let table = Table::open(&location).await.unwrap();
    let v0 = library_rows(&table.snapshot_at_version(0).await.unwrap()).await;
    assert_eq!(library_rows(&table.snapshot().await.unwrap()).await, v0);
    // Revert the restore: back to v2's rows.
    let reverted = json(&["revert", &location, "3"]);
    assert_eq!(reverted["version"], 4);
    let v2 = library_rows(&table.snapshot_at_version(2).await.unwrap()).await;
    assert_eq!(library_rows(&table.snapshot().await.unwrap()).await, v2);
    ok(&["restore", &location, "--version", "1"]);
    assert_eq!(
        json(&["history", &location, "--limit", "1"])[0]["operation"],
        "RESTORE"
    );
    assert_eq!(
        json(&["tag", &location, "first", "--delete"])["deleted"],
        true
    );
    assert_eq!(json(&["tags", &location]), serde_json::json!([]));
    // The other client still reads what strata committed.
    let rows = json(&["info", &location])["numRecords"].as_i64().unwrap();
    assert_deltalake_row_count(&location, rows);

    let err = fails(&["revert", &location, "0"], 1);
    assert!(one_line_error(&err).contains("version 0"), "{err}");
    let err = fails(&["restore", &location], 2);
    assert!(one_line_error(&err).contains("--version"), "{err}");
}

#[tokio::test]
async fn vacuum_dry_run_changes_nothing_and_vacuum_deletes_what_it_listed() {
    let lake = TempLake::new();
    let location = copy_fixture("overwrite", &lake);
    let dir = lake.table_path("overwrite");
    let before = tree(&dir);
    // Within the default retention nothing may go.
    let report = json(&["vacuum", &location, "--dry-run"]);
    assert_eq!(report["numFiles"], 0);
    // A short retention is refused without --force, and changes nothing either.
    let err = fails(&["vacuum", &location, "--retention", "0s"], 1);
    assert!(one_line_error(&err).contains("--force"), "{err}");
    let report = json(&[
        "vacuum",
        &location,
        "--retention",
        "0s",
        "--force",
        "--dry-run",
    ]);
    assert_eq!(report["dryRun"], true);
    assert_eq!(report["numFiles"], 2, "{report}");
    assert_eq!(report["version"], Value::Null);
    let human = ok(&[
        "vacuum",
        &location,
        "--retention",
        "0s",
        "--force",
        "--dry-run",
    ]);
    assert!(
        human.starts_with("dry run: would delete 2 files"),
        "{human}"
    );
    assert_eq!(tree(&dir), before, "a dry run changed the table directory");

    let done = json(&["vacuum", &location, "--retention", "0s", "--force"]);
    assert_eq!(done["files"], report["files"]);
    assert_eq!(done["version"], 5, "VACUUM START and END commits");
    for file in report["files"].as_array().unwrap() {
        assert!(
            !dir.join(file.as_str().unwrap()).exists(),
            "{file} still there"
        );
    }
    let table = Table::open(&location).await.unwrap();
    assert_eq!(ids_at(&table, 5).await, ids_at(&table, 3).await);
}

#[tokio::test]
async fn optimize_and_checkpoint_report_what_they_did() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = id_table(dir.path()).await;
    for k in 0..4 {
        table.append([id_batch(k * 10..k * 10 + 10)]).await.unwrap();
    }
    let optimized = json(&["optimize", &location, "--target-size", "1MiB"]);
    assert_eq!(optimized["numFilesRemoved"], 4);
    assert_eq!(optimized["numFilesAdded"], 1);
    assert_eq!(optimized["version"], 5);
    assert_eq!(ids_at(&table, 5).await, (0..40).collect::<Vec<_>>());
    let nothing = ok(&["optimize", &location]);
    assert!(nothing.starts_with("nothing to compact"), "{nothing}");
    let err = fails(&["optimize", &location, "--where", "id > 3"], 1);
    assert!(one_line_error(&err).contains("partition"), "{err}");
    // Z-order rewrites even a partition's single file, in order.
    let zordered = json(&["optimize", &location, "--zorder", "id"]);
    assert_eq!(
        (
            zordered["numFilesRemoved"].as_i64(),
            zordered["version"].as_i64()
        ),
        (Some(1), Some(6))
    );
    let err = fails(&["optimize", &location, "--zorder", "nope"], 1);
    assert!(one_line_error(&err).contains("nope"), "{err}");

    let checkpoint = json(&["checkpoint", &location]);
    assert_eq!(checkpoint["version"], 6);
    assert_eq!(checkpoint["numAddFiles"], 1);
    assert!(
        Path::new(&location)
            .join("_delta_log/_last_checkpoint")
            .exists()
    );
    assert!(ok(&["checkpoint", &location]).starts_with("checkpoint of version 6 written"));
    assert_eq!(json(&["info", &location])["numRecords"], 40);
    assert_eq!(json(&["files", &location]).as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn errors_are_one_sentence_on_stderr_with_exit_code_1() {
    let lake = TempLake::new();
    // A missing table.
    let missing = lake.table("nothing-here");
    let err = fails(&["info", &missing], 1);
    let err = one_line_error(&err);
    assert!(
        err.contains("no Delta table at") && err.contains("nothing-here"),
        "{err}"
    );
    fails(&["scan", &missing], 1);
    fails(&["history", &missing], 1);

    // A corrupt log: the message names the file and the version.
    let location = copy_fixture("appends", &lake);
    std::fs::write(
        commit_path(&lake.table_path("appends"), 2),
        "{\"add\": {\"path\": tru",
    )
    .unwrap();
    let err = fails(&["info", &location], 1);
    let err = one_line_error(&err);
    assert!(
        err.contains("00000000000000000002.json") && err.contains("version 2"),
        "{err}"
    );
    // Earlier versions stay readable.
    assert_eq!(json(&["info", &location, "--version", "1"])["version"], 1);

    // A table the protocol gate refuses: the features are named.
    let future = lake.table_path("future");
    std::fs::create_dir_all(future.join("_delta_log")).unwrap();
    std::fs::write(
        commit_path(&future, 0),
        concat!(
            r#"{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["variantShredding-preview","futureMagic"],"writerFeatures":["variantShredding-preview","futureMagic"]}}"#,
            "\n",
            r#"{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":[],"configuration":{}}}"#,
            "\n"
        ),
    )
    .unwrap();
    let err = fails(&["scan", path_str(&future)], 1);
    let err = one_line_error(&err);
    assert!(
        err.contains("futureMagic") && err.contains("variantShredding-preview"),
        "{err}"
    );

    // Values from storage that overflow sums or clocks are shown, not a crash.
    let huge = lake.table_path("huge");
    std::fs::create_dir_all(huge.join("_delta_log")).unwrap();
    let add = |name: &str| {
        format!(
            r#"{{"add":{{"path":"{name}.parquet","partitionValues":{{}},"size":9223372036854775807,"modificationTime":-9223372036854775808,"dataChange":true,"stats":"{{\"numRecords\":9223372036854775807}}"}}}}"#
        )
    };
    std::fs::write(
        commit_path(&huge, 0),
        [
            r#"{"commitInfo":{"timestamp":-9223372036854775808,"inCommitTimestamp":-9223372036854775808}}"#.to_string(),
            r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}"#.to_string(),
            r#"{"metaData":{"id":"h","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":[],"configuration":{}}}"#.to_string(),
            add("a"),
            add("b"),
        ]
        .join("\n"),
    )
    .unwrap();
    let huge = path_str(&huge);
    let info = json(&["info", huge]);
    assert_eq!(info["sizeBytes"], i64::MAX);
    assert_eq!(info["numRecords"], Value::Null);
    ok(&["info", huge]);
    ok(&["files", huge]);
    assert_eq!(json(&["diff", huge, "0", "0"])["numFilesAdded"], 0);

    // Bad predicates, versions, tags.
    let appends = fixture("appends");
    let appends = path_str(&appends);
    let err = fails(&["scan", appends, "--filter", "nope = 1"], 1);
    assert!(one_line_error(&err).contains("`nope`"), "{err}");
    let err = fails(&["scan", appends, "--filter", "id >"], 1);
    one_line_error(&err);
    let err = fails(&["scan", appends, "--version", "99"], 1);
    assert!(one_line_error(&err).contains("versions 0..=2"), "{err}");
    let err = fails(&["scan", appends, "--tag", "nope"], 1);
    assert!(one_line_error(&err).contains("nope"), "{err}");
    let err = fails(&["scan", appends, "--columns", "id,missing"], 1);
    assert!(one_line_error(&err).contains("missing"), "{err}");
    let err = fails(
        &["scan", path_str(&fixture("all_types")), "--format", "csv"],
        1,
    );
    assert!(one_line_error(&err).contains("struct_col"), "{err}");
    let err = fails(
        &["create", &lake.table("bad"), "--schema", "id long,, x"],
        1,
    );
    assert!(one_line_error(&err).contains("position"), "{err}");
    let writable = copy_fixture("overwrite", &lake);
    let err = fails(&["append", &writable, "/no/such/file.parquet"], 1);
    assert!(
        one_line_error(&err).contains("/no/such/file.parquet"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_with_2_and_every_subcommand_has_help_with_examples() {
    let appends = fixture("appends");
    let appends = path_str(&appends);
    // No command at all: the overview, as a usage error.
    let bare = strata(&[]);
    assert_eq!(bare.code, 2);
    assert!(bare.stderr.contains("Usage: strata"), "{}", bare.stderr);
    for args in [
        vec!["frobnicate"],
        vec!["info"],
        vec!["scan", appends, "--version", "1", "--tag", "x"],
        vec!["scan", appends, "--format", "xml"],
        vec!["scan", appends, "--limit", "-3"],
        vec!["vacuum", appends, "--retention", "7"],
        vec!["optimize", appends, "--target-size", "huge"],
        vec!["append", appends, "x.parquet", "--txn", "no-version"],
        vec!["info", appends, "--timestamp", "yesterday"],
    ] {
        let run = strata(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
        assert!(
            one_line_error(&run.stderr).contains("--help"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let subcommands = [
        "info",
        "history",
        "scan",
        "files",
        "diff",
        "create",
        "append",
        "alter",
        "restore",
        "revert",
        "tag",
        "tags",
        "vacuum",
        "optimize",
        "checkpoint",
    ];
    let help = ok(&["--help"]);
    for sub in subcommands {
        assert!(help.contains(sub), "{sub} missing from --help");
        let text = ok(&[sub, "--help"]);
        assert!(
            text.contains("Examples:") && text.contains(&format!("strata {sub} ")),
            "{sub}: {text}"
        );
    }
    assert!(ok(&["--version"]).starts_with("strata "));
}

#[tokio::test]
async fn a_closed_pipe_ends_the_scan_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = id_table(dir.path()).await;
    table.append([id_batch(0..200_000)]).await.unwrap();
    // Every format's encoder reports the closed pipe its own way (CSV only as text).
    for format in ["csv", "jsonl", "parquet", "table"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["scan", &location, "--format", format, "--limit", "200000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = Vec::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_until(b'\n', &mut first)
            .unwrap();
        if format == "csv" {
            assert_eq!(first, b"id\n");
        }
        // The reader is gone (like `| head -1`); the scan must stop without an error.
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{format}: {:?}: {stderr}", out.status);
        assert!(stderr.is_empty(), "{format}: {stderr}");
    }
}

/// The same commands against a real S3-compatible server, configured by `--option` and, as
/// people also do, by `AWS_*` environment variables.
#[cfg(feature = "s3")]
#[tokio::test]
async fn commands_work_on_s3_configured_by_options_or_environment() {
    let server = crate::support::s3::s3_server();
    let location = server.location("cli");
    let mut options: Vec<(String, String)> = server.options().into_iter().collect();
    options.sort();
    let with_options = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        for (k, v) in &options {
            all.push("--option".into());
            all.push(format!("{k}={v}"));
        }
        all
    };
    let run = |args: &[&str]| -> String {
        let args = with_options(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(&args)
    };
    let lake = TempLake::new();
    let csv = lake.path().join("rows.csv");
    std::fs::write(&csv, "id,country\n1,PT\n2,NL\n3,PT\n").unwrap();
    run(&[
        "create",
        &location,
        "--schema",
        "id long, country string",
        "--partition-by",
        "country",
    ]);
    run(&["append", &location, path_str(&csv)]);
    let info: Value = serde_json::from_str(&run(&["info", &location, "--json"])).unwrap();
    assert_eq!(info["numRecords"], 3);
    assert_eq!(info["version"], 1);
    let rows = run(&["scan", &location, "--filter", "country = 'PT'", "--json"]);
    assert_eq!(rows.lines().count(), 2, "{rows}");

    // The environment instead of --option.
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT", server.endpoint()),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", "strata-test-key".into()),
        ("AWS_SECRET_ACCESS_KEY", "strata-test-secret".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let history = strata_with_env(&["history", &location, "--json"], &env);
    assert_eq!(history.code, 0, "{}", history.stderr);
    let history: Value = serde_json::from_str(&history.stdout).unwrap();
    assert_eq!(history.as_array().unwrap().len(), 2);

    // The library reads what the CLI wrote.
    let table = Table::open_with_options(&location, server.options())
        .await
        .unwrap();
    assert_eq!(ids_at(&table, 1).await, vec![1, 2, 3]);
}

/// On a terminal (a pseudo-terminal from util-linux's `script`, part of every Debian system)
/// a long command draws a progress bar on stderr; `--quiet` and a pipe (every other test)
/// keep it silent.
#[tokio::test]
async fn progress_is_drawn_on_a_terminal_only() {
    let lake = TempLake::new();
    let source = lake.table("source");
    let table = Table::create(source.as_str())
        .with_arrow_schema(&id_batch(0..1).schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    table.append([id_batch(0..500_000)]).await.unwrap();
    let input = lake.path().join("in.parquet");
    ok(&[
        "scan",
        &source,
        "--format",
        "parquet",
        "--output",
        path_str(&input),
    ]);
    let on_terminal = |extra: &str, name: &str| -> String {
        let command = format!(
            "{} append {} {} --create {extra}",
            env!("CARGO_BIN_EXE_strata"),
            lake.table(name),
            path_str(&input)
        );
        let out = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .expect("util-linux `script` runs the command on a pseudo-terminal");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let drawn = on_terminal("", "drawn");
    assert!(drawn.contains("appending ["), "{drawn:?}");
    assert!(drawn.contains("wrote 500,000 rows"), "{drawn:?}");
    let quiet = on_terminal("--quiet", "quiet");
    assert!(!quiet.contains("appending ["), "{quiet:?}");
    assert!(quiet.contains("wrote 500,000 rows"), "{quiet:?}");
}

/// Random command lines and random input files, from a seed: whatever the input, the binary
/// exits 0, 1 or 2, never panics (checked by [`strata`]), fails with one `error:` line, and
/// prints valid JSON when it succeeds with `--json`. `STRATA_CLI_SEED=<n>` replays one seed.
#[tokio::test]
async fn random_command_lines_never_crash() {
    use crate::support::fault_store::SplitMix64;
    let seed = std::env::var("STRATA_CLI_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        });
    let mut rng = SplitMix64::new(seed);
    let lake = TempLake::new();
    let appends = copy_fixture("appends", &lake);
    let partitioned = copy_fixture("partitioned_special", &lake);
    let all_types = copy_fixture("all_types", &lake);
    let file = lake.path().join("plain.txt");
    std::fs::write(&file, "not a table").unwrap();
    // Input files with random bytes, truncated real files, and plausible text.
    let mut inputs = Vec::new();
    for (k, ext) in ["csv", "jsonl", "parquet", "tsv"].iter().enumerate() {
        let path = lake.path().join(format!("random{k}.{ext}"));
        let bytes: Vec<u8> = (0..rng.below(300)).map(|_| rng.next_u64() as u8).collect();
        std::fs::write(&path, bytes).unwrap();
        inputs.push(path_str(&path).to_string());
    }
    let texts = [
        (
            "a.csv",
            "id,name,value\n1,a,1.5\n2,,\n\"3\",\"c,d\",1e400\n",
        ),
        (
            "b.jsonl",
            "{\"id\": 1, \"name\": \"x\"}\n{\"id\": \"2\"}\n[1,2]\n",
        ),
        ("c.jsonl", "{\"id\": 9223372036854775808}\n"),
        ("d.csv", "id\n\n-0\n99999999999999999999\n"),
    ];
    for (name, text) in texts {
        let path = lake.path().join(name);
        std::fs::write(&path, text).unwrap();
        inputs.push(path_str(&path).to_string());
    }
    let real = fixture("appends").join("_delta_log/00000000000000000000.json");
    let truncated = lake.path().join("truncated.parquet");
    let data = std::fs::read_dir(fixture("appends"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    let bytes = std::fs::read(&data).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    inputs.push(path_str(&truncated).to_string());
    inputs.push(path_str(&real).to_string());

    let tables = [
        appends.clone(),
        partitioned,
        all_types,
        lake.table("new"),
        path_str(&file).to_string(),
        "memory://fuzz/t".to_string(),
        "unknown-scheme://x/y".to_string(),
    ];
    let out = lake.path().join("out");
    let outputs = [path_str(&out)];
    let versions: &[&str] = &["0", "1", "2", "5", "-1", "99999999999999999999"];
    let filters: &[&str] = &[
        "id >",
        "id = 'x'",
        "name IN (1, NULL)",
        "q BETWEEN 1 AND -1",
        "value > 1e400",
        "p = 'a/b'",
        "id >= 2 AND NOT (name IS NULL)",
        "id = 99999999999999999999",
        "ts < TIMESTAMP '2000-01-01'",
        "nope = 1",
    ];
    // Each subcommand's options with the values they draw from (none: a switch; an empty
    // flag: a positional).
    let at: &[(&str, &[&str])] = &[
        ("--version", versions),
        (
            "--timestamp",
            &[
                "1970-01-01",
                "9999-12-31 23:59:59",
                "2026-11-23T00:00:00+14:00",
            ],
        ),
        ("--tag", &["t1", "", " ", "ü名"]),
    ];
    let json: (&str, &[&str]) = ("--json", &[]);
    type Options<'a> = Vec<(&'a str, &'a [&'a str])>;
    let commands: Vec<(&str, Options)> = vec![
        ("info", [at, &[json]].concat()),
        ("history", vec![("--limit", &["0", "1", "-1"]), json]),
        (
            "scan",
            [
                at,
                &[
                    (
                        "--columns",
                        &[",", "id,id", "id", "name", "p,q", "nope", "value,id"],
                    ),
                    ("--filter", filters),
                    ("--limit", &["0", "1", "5"]),
                    ("--format", &["table", "csv", "jsonl", "parquet"]),
                    ("--output", &outputs),
                    ("--metrics", &[]),
                    json,
                ],
            ]
            .concat(),
        ),
        ("files", [at, &[("--filter", filters), json]].concat()),
        (
            "diff",
            vec![
                ("", &["0", "1", "t1", "7", "-3"]),
                ("", &["0", "2", "t1"]),
                json,
            ],
        ),
        (
            "create",
            vec![
                (
                    "--schema",
                    &[
                        "id long, p string",
                        "a b c",
                        "{\"type\":\"struct\"",
                        "id long,",
                        "x decimal(38,38), y map<string,array<int>>",
                    ],
                ),
                ("--partition-by", &["p", "id", "p,p", "", "nope"]),
                (
                    "--property",
                    &[
                        "delta.appendOnly=true",
                        "delta.logRetentionDuration=interval -1 days",
                        "k=v",
                    ],
                ),
                json,
            ],
        ),
        (
            "append",
            vec![
                ("", &[]),
                ("--mode", &["append", "overwrite"]),
                ("--txn", &["a:1", "a:0", "b:9223372036854775807"]),
                ("--create", &[]),
                ("--partition-by", &["name", "id", ""]),
                ("--input-format", &["csv", "json", "parquet"]),
                ("--delimiter", &[";", "|"]),
                ("--no-header", &[]),
                ("--metadata", &["k=v"]),
                ("--schema-mode", &["merge", "overwrite"]),
                json,
            ],
        ),
        (
            "alter",
            vec![
                (
                    "--add-column",
                    &[
                        "year int",
                        "x",
                        "id long",
                        "z string NOT NULL FIRST",
                        "n int AFTER nope",
                        "s.f int",
                    ],
                ),
                (
                    "--rename-column",
                    &["id=key", "value=id", "nope=x", "p=ü名"],
                ),
                ("--drop-column", &["id", "p", "nope"]),
                (
                    "--widen-type",
                    &["id=long", "value=double", "id=int", "q=x"],
                ),
                ("--set-not-null", &["id", "name"]),
                ("--set-nullable", &["id"]),
                (
                    "--add-constraint",
                    &["c=id > 0", "c=nope > 1", "bad name=id > 0", "d=id >"],
                ),
                ("--drop-constraint", &["c", "nope"]),
                (
                    "--set-property",
                    &[
                        "delta.appendOnly=true",
                        "delta.columnMapping.mode=id",
                        "k=v",
                    ],
                ),
                ("--unset-property", &["k", "delta.appendOnly"]),
                ("--column-comment", &["id=the key", "nope="]),
                ("--comment", &["", "hello"]),
                json,
            ],
        ),
        ("restore", [at, &[json]].concat()),
        ("revert", vec![("", versions), json]),
        (
            "tag",
            vec![
                ("", &["t1", "ü名", " "]),
                ("--version", versions),
                ("--delete", &[]),
                json,
            ],
        ),
        ("tags", vec![json]),
        (
            "vacuum",
            vec![
                ("--retention", &["0s", "7d", "1ms", "interval 1 hour"]),
                ("--dry-run", &[]),
                ("--force", &[]),
                json,
            ],
        ),
        (
            "optimize",
            vec![
                ("--target-size", &["1", "1KiB", "1GiB"]),
                ("--where", filters),
                json,
            ],
        ),
        ("checkpoint", vec![json]),
    ];
    let garbage = ["--frobnicate", "-z", "extra", "--limit", "ü名"];
    let mut codes = [0usize; 4];
    for round in 0..300 {
        let (name, options) = &commands[rng.below(commands.len() as u64) as usize];
        let mut args: Vec<String> = vec![name.to_string()];
        args.push(tables[rng.below(tables.len() as u64) as usize].clone());
        for (flag, values) in options {
            if rng.chance(1, 2) {
                continue;
            }
            let pick = |rng: &mut SplitMix64| values[rng.below(values.len() as u64) as usize];
            match (*flag, values.is_empty()) {
                // A positional with no values: input files (append).
                ("", true) => {
                    for _ in 0..=rng.below(2) {
                        args.push(inputs[rng.below(inputs.len() as u64) as usize].clone());
                    }
                }
                ("", false) => args.push(pick(&mut rng).into()),
                (flag, true) => args.push(flag.into()),
                (flag, false) => {
                    args.push(flag.into());
                    args.push(pick(&mut rng).into());
                }
            }
        }
        if rng.chance(1, 10) {
            args.push(garbage[rng.below(garbage.len() as u64) as usize].into());
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let context = format!("STRATA_CLI_SEED={seed} round {round}: strata {argv:?}");
        let run = strata(&argv);
        codes[run.code.clamp(0, 3) as usize] += 1;
        assert!(
            [0, 1, 2].contains(&run.code),
            "{context}: exit {}: {}",
            run.code,
            run.stderr
        );
        if run.code != 0 {
            let line = run.stderr.trim_end();
            assert!(
                line.starts_with("error: ") && !line.contains('\n'),
                "{context}: {}",
                run.stderr
            );
        } else if argv.contains(&"--json") && !argv.contains(&"--output") && argv[0] != "scan" {
            assert!(
                serde_json::from_str::<Value>(&run.stdout).is_ok(),
                "{context}: not JSON: {}",
                run.stdout
            );
        }
    }
    eprintln!("STRATA_CLI_SEED={seed}: exit codes 0/1/2: {codes:?}");
    // The rounds must reach the commands, not stop at argument parsing.
    assert!(
        codes[0] + codes[1] >= 100,
        "seed {seed}: exit codes 0/1/2: {codes:?}"
    );
}

#[tokio::test]
async fn tables_and_lineage_of_a_lake_built_by_flows() {
    use strata_pipelines::{Flow, Lake, ReadMode, Sink};

    let dir = TempLake::new();
    let root = path_str(dir.path()).to_string();
    let csv = dir.path().join("events.csv");
    std::fs::write(&csv, "id,country\n1,PT\n2,NL\n3,PT\n").unwrap();
    let bronze = format!("{root}/bronze/events");
    ok(&["append", &bronze, path_str(&csv), "--create"]);
    let lake = Lake::open(root.as_str());
    let silver = Flow::new("clean_events", "silver.events")
        .source("bronze.events", ReadMode::Appends)
        .transform(|input| Ok(input.rows("bronze.events").to_vec()))
        .sink(Sink::Upsert {
            keys: vec!["id".into()],
        });
    let gold = Flow::new("event_copy", "gold.events")
        .source("silver.events", ReadMode::Snapshot)
        .transform(|input| Ok(input.rows("silver.events").to_vec()))
        .sink(Sink::FullRefresh);
    silver.run(&lake).await.unwrap();
    gold.run(&lake).await.unwrap();

    let listed = json(&["tables", &root]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bronze.events", "silver.events", "gold.events"]);
    assert_eq!(listed[1]["layer"], "silver");
    assert_eq!(listed[1]["rows"], 3);
    assert_eq!(listed[1]["flow"], "clean_events");
    assert!(listed[0]["flow"].is_null());
    assert!(ok(&["tables", &root]).contains("clean_events"));

    let gold_location = format!("{root}/gold/events");
    let text = ok(&["lineage", &gold_location]);
    assert_eq!(
        text.trim(),
        "gold.events v1 <- silver.events @v1 <- bronze.events @v0",
        "{text}"
    );
    let walked = json(&["lineage", &gold_location, "--depth", "1"]);
    assert_eq!(walked["upstream"][0]["table"], "silver.events");
    assert!(
        walked["upstream"][0]["upstream"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let bronze_text = ok(&["lineage", &bronze]);
    assert!(
        bronze_text.contains("not written by a flow"),
        "{bronze_text}"
    );
    let usage = fails(&["lineage", path_str(&csv)], 2);
    assert!(
        one_line_error(&usage).contains("ROOT/LAYER/NAME"),
        "{usage}"
    );
}

#[tokio::test]
async fn a_pipeline_file_runs_reports_lag_and_resets() {
    let dir = TempLake::new();
    let root = path_str(dir.path()).to_string();
    let csv = dir.path().join("flights.csv");
    std::fs::write(&csv, "id,carrier,delay\n1,AA,5\n2,DL,\n3,UA,40\n").unwrap();
    let bronze = format!("{root}/bronze/flights");
    ok(&["append", &bronze, path_str(&csv), "--create"]);
    let file = dir.path().join("pipeline.toml");
    std::fs::write(
        &file,
        r#"lake = "."

[[flow]]
name = "clean_flights"
target = "silver.flights"
sink = "upsert"
keys = ["id"]
source = { table = "bronze.flights", read = "appends" }
expect = [
  { name = "has_delay", predicate = "delay IS NOT NULL", action = "drop" },
  { name = "on_time", predicate = "delay <= 15", action = "warn" },
]

[[flow]]
name = "late_flights"
target = "gold.late_flights"
sink = "full_refresh"
where = "delay > 15"
columns = ["id", "carrier"]
source = { table = "silver.flights", read = "snapshot" }
"#,
    )
    .unwrap();
    let file = path_str(&file);

    let status = json(&["pipeline", "status", file]);
    assert_eq!(status[0]["flow"], "clean_flights");
    assert!(status[0]["cursor"].is_null());
    let run = json(&["pipeline", "run", file]);
    let flows = run["flows"].as_array().unwrap();
    assert_eq!(flows[0]["status"], "ran");
    assert_eq!(flows[0]["rowsWritten"], 2);
    assert_eq!(flows[0]["expectations"][0]["violations"], 1);
    assert_eq!(flows[1]["flow"], "late_flights");
    assert_eq!(flows[1]["rowsWritten"], 1);
    let gold = Table::open(format!("{root}/gold/late_flights"))
        .await
        .unwrap();
    assert_eq!(
        library_rows(&gold.snapshot().await.unwrap()).await,
        ["3 | UA"]
    );
    let again = ok(&["pipeline", "run", file]);
    assert!(again.contains("up to date"), "{again}");
    let lag = ok(&["pipeline", "status", file]);
    assert!(lag.contains("up to date"), "{lag}");

    let reset = json(&["pipeline", "reset", file, "clean_flights"]);
    let names: Vec<&str> = reset["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flow"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["clean_flights", "late_flights"],
        "the flow and what reads it"
    );
    assert_eq!(
        library_rows(&gold.snapshot().await.unwrap()).await,
        ["3 | UA"]
    );

    // A broken file names its line.
    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        "lake = \".\"\n\n[[flow]]\nname = \"x\"\ntarget = 7\n",
    )
    .unwrap();
    let err = fails(&["pipeline", "run", path_str(&broken)], 1);
    assert!(one_line_error(&err).contains("broken.toml:5:"), "{err}");
    let err = fails(&["pipeline", "reset", file, "nope"], 1);
    assert!(one_line_error(&err).contains("clean_flights"), "{err}");
}

#[tokio::test]
async fn merge_with_schema_mode_merge_adds_the_source_columns() {
    let lake = TempLake::new();
    let location = table_with_two_rows(&lake, "t");
    let changes = lake.path().join("changes.csv");
    std::fs::write(&changes, "id,amount,channel\n2,25,web\n3,30,app\n").unwrap();
    let merged = json(&[
        "merge",
        &location,
        path_str(&changes),
        "--on",
        "id",
        "--schema-mode",
        "merge",
    ]);
    assert_eq!(merged["version"], 2, "{merged}");
    assert_eq!(
        scan_csv(&location),
        ["id,amount,channel", "1,10,", "2,25,web", "3,30,app"]
    );
    let err = fails(
        &[
            "merge",
            &location,
            path_str(&changes),
            "--on",
            "id",
            "--schema-mode",
            "overwrite",
        ],
        2,
    );
    assert!(
        one_line_error(&err).contains("--schema-mode merge"),
        "{err}"
    );
}

/// A one-row-per-id table's ids, sorted, as `scan --format csv` prints them.
fn scanned_ids(location: &str) -> Vec<String> {
    let mut ids: Vec<String> = ok(&["scan", location, "--format", "csv", "--columns", "id"])
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn append_and_merge_read_standard_input_as_dash_once() {
    let lake = TempLake::new();
    let location = lake.table("piped");
    // `-` with --input-format: a new table from standard input.
    let run = strata_with_stdin(
        &[
            "append",
            &location,
            "-",
            "--input-format",
            "csv",
            "--create",
            "--json",
        ],
        b"id,name\n1,a\n2,b\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let written: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(written["numRows"], 2);
    assert_eq!(scanned_ids(&location), ["1", "2"]);

    // `/dev/stdin` is a pipe here: read once (it used to be read once to check the columns and
    // again, empty, to load them).
    let run = strata_with_stdin(
        &["append", &location, "/dev/stdin", "--input-format", "json"],
        b"{\"id\": 3, \"name\": \"c\"}\n{\"id\": 4}\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(scanned_ids(&location), ["1", "2", "3", "4"]);

    // Beside a regular file, and as a merge source.
    let file = lake.path().join("more.csv");
    std::fs::write(&file, "id,name\n5,e\n").unwrap();
    let run = strata_with_stdin(
        &[
            "append",
            &location,
            path_str(&file),
            "-",
            "--input-format",
            "csv",
        ],
        b"id,name\n6,f\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(scanned_ids(&location), ["1", "2", "3", "4", "5", "6"]);
    let run = strata_with_stdin(
        &[
            "merge",
            &location,
            "-",
            "--on",
            "id",
            "--input-format",
            "json",
        ],
        b"{\"id\": 6, \"name\": \"F\"}\n{\"id\": 7, \"name\": \"g\"}\n",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(scanned_ids(&location), ["1", "2", "3", "4", "5", "6", "7"]);

    // Parquet from a pipe: its footer is at the end, so it must be held whole.
    let parquet = lake.path().join("rows.parquet");
    ok(&[
        "scan",
        &location,
        "--format",
        "parquet",
        "-O",
        path_str(&parquet),
    ]);
    let copy = lake.table("copy");
    let run = strata_with_stdin(
        &[
            "append",
            &copy,
            "-",
            "--input-format",
            "parquet",
            "--create",
        ],
        &std::fs::read(&parquet).unwrap(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(scanned_ids(&copy), scanned_ids(&location));
}

#[tokio::test]
async fn a_named_pipe_is_read_once_and_standard_input_needs_a_format() {
    let lake = TempLake::new();
    let location = table_with_two_rows(&lake, "fifo");
    let fifo = lake.path().join("rows.csv");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let path = fifo.clone();
    let writer = std::thread::spawn(move || {
        std::fs::write(&path, "id,amount\n3,30\n4,40\n").expect("write the pipe");
    });
    let written = json(&["append", &location, path_str(&fifo)]);
    writer.join().unwrap();
    assert_eq!(written["numRows"], 2);
    assert_eq!(scanned_ids(&location), ["1", "2", "3", "4"]);

    // Usage errors, before standard input is read (it is a terminal or an open pipe here).
    let run = strata_with_stdin(&["append", &location, "-"], b"");
    assert_eq!(run.code, 2, "{}", run.stderr);
    let err = one_line_error(&run.stderr);
    assert!(
        err.contains("standard input") && err.contains("--input-format"),
        "{err}"
    );
    let run = strata_with_stdin(
        &["append", &location, "-", "-", "--input-format", "csv"],
        b"",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        one_line_error(&run.stderr).contains("only once"),
        "{}",
        run.stderr
    );
    // Errors in piped input name standard input.
    let run = strata_with_stdin(
        &["append", &location, "-", "--input-format", "csv"],
        b"id,amount\nx,1\n",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        one_line_error(&run.stderr).contains("standard input"),
        "{}",
        run.stderr
    );
    // A directory is named as one.
    let err = fails(
        &[
            "append",
            &location,
            path_str(lake.path()),
            "--input-format",
            "csv",
        ],
        1,
    );
    assert!(one_line_error(&err).contains("directory"), "{err}");
}

#[tokio::test]
async fn scan_output_to_a_device_pipe_or_symlink_is_written_in_place() {
    use std::os::unix::fs::FileTypeExt;
    let lake = TempLake::new();
    let location = table_with_two_rows(&lake, "out");
    let expected = ok(&["scan", &location, "--format", "csv"]);

    // Standard output named as a file: a link into /proc, written in place, never replaced.
    // (`/dev/stdout` is the same link; it is not named here because a binary without this fix,
    // run as root, would rename a file over the system's `/dev/stdout`.)
    for name in ["/dev/fd/1", "/proc/self/fd/1"] {
        let run = strata(&["scan", &location, "--format", "csv", "-O", name]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert_eq!(run.stdout, expected, "{name}");
    }

    // A named pipe stays a pipe, and its reader gets the rows.
    let fifo = lake.path().join("rows.pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::read_to_string(&path).unwrap());
    ok(&["scan", &location, "--format", "csv", "-O", path_str(&fifo)]);
    assert_eq!(reader.join().unwrap(), expected);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());

    // A symlink to a file: the file gets the rows, the link stays a link (still atomically:
    // no temporary file is left).
    let real = lake.path().join("real.csv");
    std::fs::write(&real, "old").unwrap();
    let link = lake.path().join("link.csv");
    std::os::unix::fs::symlink("real.csv", &link).unwrap();
    ok(&["scan", &location, "--format", "csv", "-O", path_str(&link)]);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&real).unwrap(), expected);
    // A link to a link to a file not there yet: the file is made where the links point.
    let chained = lake.path().join("chained.csv");
    let dangling = lake.path().join("dangling.csv");
    std::os::unix::fs::symlink(&dangling, &chained).unwrap();
    std::os::unix::fs::symlink("new.csv", &dangling).unwrap();
    ok(&[
        "scan",
        &location,
        "--format",
        "csv",
        "-O",
        path_str(&chained),
    ]);
    assert!(
        std::fs::symlink_metadata(&chained)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(lake.path().join("new.csv")).unwrap(),
        expected
    );
    let leftovers: Vec<String> = std::fs::read_dir(lake.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A column's type in `info --json`.
fn column_type(info: &Value, column: &str) -> String {
    info["schema"]
        .as_array()
        .expect("schema")
        .iter()
        .find(|f| f["name"] == column)
        .unwrap_or_else(|| panic!("no column {column}: {info}"))["type"]
        .as_str()
        .expect("type")
        .to_string()
}

#[tokio::test]
async fn csv_timestamps_with_a_zone_infer_as_timestamp_not_timestamp_ntz() {
    let lake = TempLake::new();
    // A `Z` or an offset: a UTC timestamp, adjusted, with no timestampNtz feature.
    let zoned = lake.path().join("zoned.csv");
    std::fs::write(
        &zoned,
        "id,at\n1,2026-03-01T10:00:00Z\n2,2026-03-01T12:30:00+01:00\n3,\n4,2026-03-01 09:00:00-0500\n",
    )
    .unwrap();
    let location = lake.table("zoned");
    ok(&["append", &location, path_str(&zoned), "--create"]);
    let info = json(&["info", &location]);
    assert_eq!(column_type(&info, "at"), "timestamp", "{info}");
    assert!(
        info["protocol"]["minWriterVersion"].as_i64().unwrap() < 7,
        "{info}"
    );
    let rows = scan_csv(&location);
    assert!(rows[1].starts_with("1,2026-03-01T10:00:00"), "{rows:?}");
    assert!(rows[2].starts_with("2,2026-03-01T11:30:00"), "{rows:?}");
    assert!(rows[4].starts_with("4,2026-03-01T14:00:00"), "{rows:?}");

    // Without a zone: still timestamp_ntz (the wall-clock time as written).
    let local = lake.path().join("local.csv");
    std::fs::write(&local, "id,at\n1,2026-03-01T10:00:00\n").unwrap();
    let location = lake.table("local");
    ok(&["append", &location, path_str(&local), "--create"]);
    assert_eq!(
        column_type(&json(&["info", &location]), "at"),
        "timestamp_ntz"
    );

    // NDJSON infers such text as a string, never as timestamp_ntz.
    let jsonl = lake.path().join("zoned.jsonl");
    std::fs::write(&jsonl, "{\"id\": 1, \"at\": \"2026-03-01T10:00:00Z\"}\n").unwrap();
    let location = lake.table("json");
    ok(&["append", &location, path_str(&jsonl), "--create"]);
    assert_eq!(column_type(&json(&["info", &location]), "at"), "string");
}

#[tokio::test]
async fn input_errors_name_the_file_line_and_column_name() {
    let lake = TempLake::new();
    let location = lake.table("lines");
    ok(&[
        "create",
        &location,
        "--schema",
        "id long, note string, amount long",
    ]);
    // Over two batches of 65,536 rows; a quoted note spanning two lines early on shifts every
    // later record's line by one.
    let rows = 80_000;
    let csv_with = |bad_line: usize, bad: &str| {
        let mut text = String::from("id,note,amount\n");
        for line in 2..rows {
            let id = line;
            if line == 3 {
                text.push_str(&format!("{id},\"two\nlines\",1\n"));
            } else if line == bad_line {
                text.push_str(bad);
                text.push('\n');
            } else {
                text.push_str(&format!("{id},n,{id}\n"));
            }
        }
        text
    };
    let path = lake.path().join("rows.csv");
    for bad_line in [5_000, 70_001] {
        std::fs::write(&path, csv_with(bad_line - 1, "9,x,12abc")).unwrap();
        let err = fails(&["append", &location, path_str(&path)], 1);
        let err = one_line_error(&err);
        assert!(err.contains(path_str(&path)), "{err}");
        assert!(
            err.contains(&format!("line {bad_line}, column `amount`: \"12abc\"")),
            "{err}"
        );
        assert!(!err.contains("column 2"), "{err}");
    }
    // A record with a field too many.
    std::fs::write(&path, csv_with(69_999, "9,x,1,extra")).unwrap();
    let err = fails(&["append", &location, path_str(&path)], 1);
    assert!(
        one_line_error(&err).contains("line 70000: 4 fields where the header has 3"),
        "{err}"
    );
    // ... and one early enough to be met while the file's columns are read.
    std::fs::write(&path, csv_with(5, "9,x,1,extra")).unwrap();
    let err = fails(&["append", &location, path_str(&path)], 1);
    assert!(
        one_line_error(&err).contains("line 6: 4 fields where the header has 3"),
        "{err}"
    );

    // NDJSON: the file's line (blank lines count), the field by name.
    let path = lake.path().join("rows.jsonl");
    let mut text = String::from("\n");
    for id in 0..rows {
        if id == 69_998 {
            text.push_str("{\"id\": 1, \"amount\": \"12abc\"}\n");
        } else {
            text.push_str(&format!("{{\"id\": {id}, \"amount\": {id}}}\n"));
        }
    }
    std::fs::write(&path, &text).unwrap();
    let err = fails(&["append", &location, path_str(&path)], 1);
    let err = one_line_error(&err);
    assert!(
        err.contains("line 70000:") && err.contains("amount"),
        "{err}"
    );
    // A line that is not JSON, found while the types are inferred for a new table.
    std::fs::write(&path, "{\"id\": 1}\n\n{\"id\": 2}\n{\"id\": 3,}\n").unwrap();
    let err = fails(
        &["append", &lake.table("new"), path_str(&path), "--create"],
        1,
    );
    assert!(one_line_error(&err).contains("line 4, column 10"), "{err}");
}

#[tokio::test]
async fn a_data_file_changed_after_its_commit_is_named_with_its_version() {
    let lake = TempLake::new();
    let location = table_with_two_rows(&lake, "resized");
    let log = std::fs::read_to_string(commit_path(&lake.table_path("resized"), 1)).unwrap();
    let file = log
        .lines()
        .find_map(|line| {
            let action: Value = serde_json::from_str(line).unwrap();
            action["add"]["path"].as_str().map(str::to_string)
        })
        .expect("an added file");
    let data = lake.table_path("resized").join(&file);
    let bytes = std::fs::read(&data).unwrap();
    std::fs::write(&data, &bytes[..bytes.len() / 2]).unwrap();
    let err = fails(&["scan", &location], 1);
    let err = one_line_error(&err);
    assert!(
        err.contains(&file)
            && err.contains("version 1")
            && err.contains("differs from the size the log records"),
        "{err}"
    );
    assert!(!err.contains("EOF"), "{err}");
}
