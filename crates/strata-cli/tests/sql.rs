//! `strata sql` (feature `sql`), run as a user runs it: a query over a lake, a gold table
//! built with `--into` (with the layer's policy and lineage), `--explain`, errors on one line.

#![cfg(feature = "sql")]

use std::process::Command;

use serde_json::Value;
use strata::Table;

fn strata(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run strata");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

#[track_caller]
fn ok(args: &[&str]) -> String {
    let (code, stdout, stderr) = strata(args);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_queries_a_lake_and_builds_a_gold_table_with_lineage() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let csv = dir.path().join("flights.csv");
    std::fs::write(&csv, "id,carrier,delay\n1,AA,10\n2,DL,20\n3,AA,30\n4,UA,\n").unwrap();
    let silver = lake.join("silver/flights");
    let (lake, silver, csv) = (
        lake.to_str().unwrap(),
        silver.to_str().unwrap(),
        csv.to_str().unwrap(),
    );
    ok(&["append", silver, csv, "--create"]);

    let out = ok(&[
        "sql",
        "SELECT carrier, count(*) AS n, sum(delay) AS d FROM silver.flights GROUP BY carrier ORDER BY carrier",
        "--lake",
        lake,
        "--json",
    ]);
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["carrier"], "AA");
    assert_eq!(rows[0]["n"], 2);
    assert_eq!(rows[0]["d"], 40);

    // One line builds a gold table: the layer's properties, lineage naming silver's version.
    let out = ok(&[
        "sql",
        "SELECT carrier, count(*) AS n FROM silver.flights GROUP BY carrier",
        "--lake",
        lake,
        "--into",
        "gold.by_carrier",
        "--mode",
        "overwrite",
    ]);
    assert!(
        out.contains("version 0") && out.contains("silver.flights@0"),
        "{out}"
    );
    let gold = Table::open(format!("{lake}/gold/by_carrier"))
        .await
        .unwrap();
    let snapshot = gold.snapshot().await.unwrap();
    assert_eq!(snapshot.properties()["strata.layer"], "gold");
    assert_eq!(snapshot.properties()[strata::REQUIRE_LINEAGE], "true");
    let entry = snapshot.history(Some(1)).await.unwrap().remove(0);
    assert_eq!(
        entry.user_metadata[strata::LINEAGE]["sources"][0]["table"],
        "silver.flights"
    );
    // Overwriting it again is a second version.
    ok(&[
        "sql",
        "SELECT carrier, count(*) AS n FROM silver.flights GROUP BY carrier",
        "--lake",
        lake,
        "--into",
        "gold.by_carrier",
        "--mode",
        "overwrite",
    ]);
    assert_eq!(gold.version().await.unwrap(), 1);

    // A pinned table, explained: the scan and its files.
    let out = ok(&[
        "sql",
        "SELECT * FROM f WHERE id > 2",
        "--table",
        &format!("f={silver}@0"),
        "--explain",
    ]);
    assert!(
        out.contains("StrataScanExec: table=f version=0 files=1/1"),
        "{out}"
    );

    // Errors are one line, exit 1.
    let (code, _, err) = strata(&[
        "sql",
        "SELECT nope FROM f",
        "--table",
        &format!("f={silver}"),
    ]);
    assert_eq!(code, 1);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("nope"), "{err}");
    let (code, _, err) = strata(&["sql", "SELEC 1"]);
    assert_eq!(code, 1);
    assert!(err.contains("Line: 1, Column: 1"), "{err}");
}
