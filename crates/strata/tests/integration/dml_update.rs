//! `UPDATE`: rows changed as a model says, by copy-on-write and with deletion vectors, the
//! same rows as deltalake's update leaves, every version read by DuckDB and deltalake; types
//! checked before anything is read, a failing row failing the update with nothing committed;
//! the change feed's pre- and post-images read back by strata and deltalake.

use std::collections::BTreeMap;

use strata::{Error, Table};

use crate::deletion_vectors::assert_reads_like_other_clients;
use crate::dml_delete::{copy_table, people_table};
use crate::support::python::{changes_with_deltalake, update_with_deltalake};
use crate::support::*;

/// id → (name, country), rendered as a scan renders rows.
type Model = BTreeMap<i64, Row>;

fn render(model: &Model) -> Vec<String> {
    let cell = |v: &Option<String>| v.clone().unwrap_or_else(|| "NULL".into());
    let mut rows: Vec<String> = model
        .iter()
        .map(|(id, (name, country))| format!("{id}|{}|{}", cell(name), cell(country)))
        .collect();
    rows.sort();
    rows
}

async fn rows(location: &str) -> Vec<String> {
    let batches = latest(location).await.scan().collect().await.unwrap();
    rendered(&batches)
}

fn people_model() -> Model {
    (0..30)
        .map(|id| {
            let country = if (10..20).contains(&id) { "NL" } else { "PT" };
            (id, (Some(format!("n{id}")), Some(country.to_string())))
        })
        .collect()
}

/// A row of the model: (name, country).
type Row = (Option<String>, Option<String>);

/// One update, and what it does to a row of the model (`None`: the row is not updated).
struct Step {
    predicate: Option<&'static str>,
    sets: &'static [(&'static str, &'static str)],
    apply: fn(i64, &Row) -> Option<Row>,
}

fn steps() -> Vec<Step> {
    vec![
        // Across two files of two partitions, with a string expression.
        Step {
            predicate: Some("id >= 5 AND id < 12"),
            sets: &[("name", "concat(upper(name), '!')")],
            apply: |id, (name, country)| {
                (5..12).contains(&id).then(|| {
                    (
                        name.as_ref().map(|n| format!("{}!", n.to_uppercase())),
                        country.clone(),
                    )
                })
            },
        },
        // A partition column: the rows move to another partition.
        Step {
            predicate: Some("country = 'NL' AND id >= 15"),
            sets: &[("country", "'BE'")],
            apply: |id, (name, country)| {
                (country.as_deref() == Some("NL") && id >= 15)
                    .then(|| (name.clone(), Some("BE".into())))
            },
        },
        // Nulls, on rows updated before.
        Step {
            predicate: Some("id < 3 OR id = 7"),
            sets: &[("name", "NULL")],
            apply: |id, (_, country)| (id < 3 || id == 7).then(|| (None, country.clone())),
        },
        // Every row; CASE and COALESCE.
        Step {
            predicate: None,
            sets: &[(
                "name",
                "CASE WHEN id % 2 = 0 THEN coalesce(name, 'anon') ELSE lower(coalesce(name, 'ANON')) END",
            )],
            apply: |id, (name, country)| {
                let name = if id % 2 == 0 {
                    name.clone().unwrap_or_else(|| "anon".into())
                } else {
                    name.clone().unwrap_or_else(|| "ANON".into()).to_lowercase()
                };
                Some((Some(name), country.clone()))
            },
        },
        // Nothing matches: nothing is committed.
        Step {
            predicate: Some("id = 1000"),
            sets: &[("name", "'x'")],
            apply: |_, _| None,
        },
    ]
}

#[tokio::test]
async fn updates_match_the_model_and_deltalake_by_copy_on_write_and_with_deletion_vectors() {
    for vectors in [false, true] {
        let lake = TempLake::new();
        let properties: &[(&str, &str)] = if vectors {
            &[("delta.enableDeletionVectors", "true")]
        } else {
            &[]
        };
        let table = people_table(&lake, "t", properties).await;
        let mut model = people_model();
        let mut vectors_written = 0;
        for (i, step) in steps().iter().enumerate() {
            let context = format!(
                "vectors {vectors}, step {i}: {:?} {:?}",
                step.predicate, step.sets
            );
            let peer = (!vectors).then(|| {
                let name = format!("peer{i}");
                copy_table(&lake, "t", &name);
                let metrics = update_with_deltalake(&lake.table(&name), step.sets, step.predicate);
                (name, metrics)
            });
            let before = table.version().await.unwrap();
            let mut update = table.update();
            if let Some(p) = step.predicate {
                update = update.with_predicate(p);
            }
            for (column, value) in step.sets {
                update = update.set(*column, *value);
            }
            let result = update
                .execute()
                .await
                .unwrap_or_else(|e| panic!("{context}: {e}"));
            let mut changed = 0;
            for (id, row) in model.iter_mut() {
                if let Some(new) = (step.apply)(*id, row) {
                    *row = new;
                    changed += 1;
                }
            }
            assert_eq!(rows(&lake.table("t")).await, render(&model), "{context}");
            assert_eq!(result.num_updated_rows, changed, "{context}");
            vectors_written += result.num_deletion_vectors_added;
            match result.version {
                None => {
                    assert_eq!(changed, 0, "{context}");
                    assert_eq!(table.version().await.unwrap(), before, "{context}");
                }
                Some(v) => assert_eq!(v, before + 1, "{context}"),
            }
            if let Some((name, metrics)) = peer {
                assert_eq!(
                    rows(&lake.table(&name)).await,
                    render(&model),
                    "{context}: deltalake"
                );
                assert_eq!(
                    metrics["num_updated_rows"].as_u64(),
                    Some(result.num_updated_rows),
                    "{context}: {metrics}"
                );
            }
        }
        assert_eq!(vectors_written > 0, vectors);
        let snapshot = table.snapshot().await.unwrap();
        assert_eq!(
            snapshot.num_records().await.unwrap(),
            Some(model.len() as i64)
        );
        assert_reads_like_other_clients(&lake.table("t")).await;
    }
}

#[tokio::test]
async fn assignments_are_evaluated_on_the_rows_as_they_were() {
    let lake = TempLake::new();
    let table = people_table(&lake, "t", &[]).await;
    // name and country swap (country is a partition column).
    table
        .update()
        .with_predicate("id = 3")
        .set("name", "country")
        .set("country", "name")
        .execute()
        .await
        .unwrap();
    let snapshot = table.snapshot().await.unwrap();
    assert_eq!(rendered_where(&snapshot, "id = 3").await, ["3|PT|n3"]);
    // A residual predicate (no statistics decide it) picks rows per row.
    let result = table
        .update()
        .with_predicate("length(name) = 3 AND id + 0 >= 25")
        .set("id", "id * 1000")
        .execute()
        .await
        .unwrap();
    assert_eq!(result.num_updated_rows, 5);
    let snapshot = table.snapshot().await.unwrap();
    assert_eq!(
        rendered_where(&snapshot, "id >= 1000").await,
        [
            "25000|n25|PT",
            "26000|n26|PT",
            "27000|n27|PT",
            "28000|n28|PT",
            "29000|n29|PT"
        ]
    );
}

#[tokio::test]
async fn bad_updates_are_typed_errors_and_commit_nothing() {
    let lake = TempLake::new();
    let table = people_table(&lake, "t", &[]).await;
    let version = table.version().await.unwrap();
    let schema_problem = |r: Result<strata::UpdateResult, Error>| match r {
        Err(Error::SchemaMismatch { problems, .. }) => problems.join("; "),
        other => panic!("expected a schema mismatch, got {other:?}"),
    };
    let problem = schema_problem(table.update().set("id", "name").execute().await);
    assert!(
        problem.contains("string value cannot be stored in a long column"),
        "{problem}"
    );
    let problem = schema_problem(table.update().set("nope", "1").execute().await);
    assert!(problem.contains("no column `nope`"), "{problem}");
    let problem = schema_problem(table.update().set("id", "1").set("ID", "2").execute().await);
    assert!(problem.contains("assigned twice"), "{problem}");
    let err = table
        .update()
        .set("name", "name + 1")
        .execute()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Predicate(_)), "{err}");
    let err = table
        .update()
        .with_predicate("id = 1")
        .execute()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    // A row that fails: division by zero, a failed cast, a null for a non-nullable column.
    for (column, value) in [
        ("id", "id / (id - 5)"),
        ("id", "CAST(name AS BIGINT)"),
        ("id", "NULL"),
    ] {
        let err = table
            .update()
            .set(column, value)
            .execute()
            .await
            .unwrap_err();
        match &err {
            Error::Evaluation {
                file, expression, ..
            } => {
                assert!(file.ends_with(".parquet"), "{err}");
                assert!(expression.starts_with(column), "{err}");
            }
            other => panic!("{column} = {value}: expected an evaluation error, got {other}"),
        }
    }
    // The division is guarded where the predicate excludes the row.
    table
        .update()
        .with_predicate("id <> 5")
        .set("id", "CAST(id / (id - 5) * 0 AS BIGINT) + id")
        .execute()
        .await
        .unwrap();
    assert_eq!(table.version().await.unwrap(), version + 1);
    let appendonly = people_table(&lake, "a", &[("delta.appendOnly", "true")]).await;
    let err = appendonly
        .update()
        .set("name", "'x'")
        .execute()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotAllowed { .. }), "{err}");
}

#[tokio::test]
async fn the_change_feed_has_pre_and_post_images_as_deltalake_reads_them() {
    for vectors in [false, true] {
        let lake = TempLake::new();
        let mut properties = vec![("delta.enableChangeDataFeed", "true")];
        if vectors {
            properties.push(("delta.enableDeletionVectors", "true"));
        }
        let table = people_table(&lake, "t", &properties).await;
        let result = table
            .update()
            .with_predicate("id >= 8 AND id < 12")
            .set("name", "upper(name)")
            .execute()
            .await
            .unwrap();
        let v = result.version.unwrap();
        assert_eq!(
            result.num_added_change_files, 4,
            "two partitions, pre and post"
        );
        let changes = table
            .changes()
            .from_version(v)
            .to_version(v)
            .with_columns(["id", "name"])
            .collect()
            .await
            .unwrap();
        let cells: Vec<String> = rendered(&changes)
            .into_iter()
            .map(|r| {
                r.rsplit_once('|')
                    .unwrap()
                    .0
                    .rsplit_once('|')
                    .unwrap()
                    .0
                    .to_string()
            })
            .collect();
        let mut expected: Vec<String> = (8..12)
            .flat_map(|id| {
                [
                    format!("{id}|n{id}|update_preimage"),
                    format!("{id}|N{id}|update_postimage"),
                ]
            })
            .collect();
        expected.sort();
        assert_eq!(cells, expected, "vectors {vectors}");
        let location = lake.table("t");
        let ours = table.changes().from_version(0).collect().await.unwrap();
        let theirs = changes_with_deltalake(&location, 0, None);
        let project = |batches: &[arrow::array::RecordBatch]| {
            let cols = ["id", "name", "country", "_change_type", "_commit_version"];
            let projected: Vec<arrow::array::RecordBatch> = batches
                .iter()
                .map(|b| {
                    let idx: Vec<usize> = cols
                        .iter()
                        .map(|c| b.schema().index_of(c).unwrap())
                        .collect();
                    b.project(&idx).unwrap()
                })
                .collect();
            rendered(&projected)
        };
        assert_eq!(project(&ours), project(&theirs), "vectors {vectors}");
        assert_reads_like_other_clients(&location).await;
    }
}

/// Six updates of the same rows, each on its own handle and retried when it loses to another,
/// with blind appends racing them: no update is lost (every row ends with all six marks), and
/// no append fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_updates_lose_no_update_and_never_fail_a_blind_append() {
    const ROWS: i64 = 20_000;
    const UPDATES: usize = 6;
    for vectors in [false, true] {
        let lake = TempLake::new();
        let mut create = Table::create(lake.table("t"))
            .with_arrow_schema(&people_schema())
            .unwrap();
        if vectors {
            create = create.with_property("delta.enableDeletionVectors", "true");
        }
        let table = create.execute().await.unwrap();
        table.append([people(0..ROWS, Some("PT"))]).await.unwrap();
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(UPDATES + 1));
        let mut tasks = Vec::new();
        for _ in 0..UPDATES {
            let handle = Table::open(lake.table("t")).await.unwrap();
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let mut lost = 0;
                loop {
                    match handle
                        .update()
                        .with_predicate("id % 1000 = 0")
                        .set("name", "concat(name, 'x')")
                        .execute()
                        .await
                    {
                        Ok(r) => return (r.num_updated_rows, lost),
                        Err(Error::Conflict { .. }) => lost += 1,
                        Err(e) => panic!("update: {e}"),
                    }
                }
            }));
        }
        let appender = Table::open(lake.table("t")).await.unwrap();
        let appends = tokio::spawn(async move {
            start.wait().await;
            for k in 0..6i64 {
                appender
                    .append([people(ROWS + 1 + k..ROWS + 2 + k, Some("ES"))])
                    .await
                    .expect("a blind append never conflicts with an update");
            }
        });
        let mut lost = 0;
        for t in tasks {
            let (updated, l) = t.await.unwrap();
            assert_eq!(updated, (ROWS / 1000) as u64);
            lost += l;
        }
        appends.await.unwrap();
        let snapshot = table.snapshot().await.unwrap();
        let marked = rendered_where(&snapshot, "id % 1000 = 0 AND id < 20000").await;
        let all_marks = "x".repeat(UPDATES);
        for row in &marked {
            assert!(
                row.split('|').nth(1).unwrap().ends_with(&all_marks),
                "vectors {vectors}: an update was lost: {row}"
            );
        }
        assert_eq!(marked.len(), (ROWS / 1000) as usize);
        assert_eq!(
            scan_rows(&snapshot).await as i64,
            ROWS + 6,
            "vectors {vectors}"
        );
        eprintln!("vectors {vectors}: {lost} lost races retried");
    }
}

// --- Seeded random deletes and updates against deltalake -----------------------------------

/// `STRATA_DML_CASES` seeded deletes and updates (default 200) with null-heavy data, random
/// predicates (residual ones included) and assignments (partition columns included): strata's
/// result, on a copy-on-write or deletion-vector table, equals deltalake's on a copy-on-write
/// twin built from the same writes, and so do the row counts. A failure prints the seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_deletes_and_updates_match_deltalake() {
    use crate::dml_merge::{Rng, Row, batch, rows, schema};
    let cases: u64 = std::env::var("STRATA_DML_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let predicates: &[fn(i64) -> String] = &[
        |c| format!("v > {c}"),
        |c| format!("id = {c} OR v IS NULL"),
        |c| format!("grp = 'a' AND v < {c}"),
        |c| format!("id BETWEEN {c} AND {}", c + 3),
        |c| format!("NOT (v > {c})"),
        |_| "coalesce(v, 0) % 2 = 0".to_string(),
        |c| format!("v + id > {c}"),
        |c| format!("grp = 'b' OR id < {c}"),
    ];
    let sets: &[&[(&str, &str)]] = &[
        &[("v", "v + 1")],
        &[("v", "CASE WHEN v > 5 THEN NULL ELSE v * 2 END")],
        &[("grp", "'b'")],
        &[("id", "coalesce(id, -1)"), ("v", "id")],
    ];
    let lake = TempLake::new();
    let mut peer_cases = Vec::new();
    let mut ours = Vec::new();
    for seed in 1..=cases {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let files: Vec<Vec<Row>> = (0..1 + rng.below(3))
            .map(|_| (0..1 + rng.below(10)).map(|_| rng.row(15)).collect())
            .collect();
        let partitioned = rng.chance(50);
        let vectors = rng.chance(40);
        let predicate = (!rng.chance(10))
            .then(|| predicates[rng.below(predicates.len() as u64) as usize](rng.below(15) as i64));
        let update = rng
            .chance(50)
            .then(|| sets[rng.below(sets.len() as u64) as usize]);
        let context = format!(
            "seed {seed} (STRATA_DML_CASES={seed} reaches it): partitioned {partitioned}, vectors {vectors}, {predicate:?}, {update:?}, {files:?}"
        );
        let mut tables = Vec::new();
        for (name, dv) in [(format!("s{seed}"), vectors), (format!("p{seed}"), false)] {
            let mut create = Table::create(lake.table(&name))
                .with_arrow_schema(&schema())
                .unwrap();
            if partitioned {
                create = create.with_partition_columns(["grp"]);
            }
            if dv {
                create = create.with_property("delta.enableDeletionVectors", "true");
            }
            let table = create.execute().await.unwrap();
            for file in &files {
                table.append([batch(file)]).await.unwrap();
            }
            tables.push((name, table));
        }
        let (_, table) = &tables[0];
        let (count, result) = match update {
            None => {
                let mut d = table.delete();
                if let Some(p) = &predicate {
                    d = d.with_predicate(p.as_str());
                }
                match d.execute().await {
                    Ok(r) => (r.num_deleted_rows, Ok(())),
                    Err(e) => (0, Err(e.to_string())),
                }
            }
            Some(set) => {
                let mut u = table.update();
                if let Some(p) = &predicate {
                    u = u.with_predicate(p.as_str());
                }
                for (c, v) in set {
                    u = u.set(*c, *v);
                }
                match u.execute().await {
                    Ok(r) => (r.num_updated_rows, Ok(())),
                    Err(e) => (0, Err(e.to_string())),
                }
            }
        };
        let mut case = serde_json::json!({
            "table": lake.table(&tables[1].0),
            "kind": if update.is_some() { "update" } else { "delete" },
        });
        if let Some(p) = &predicate {
            case["predicate"] = p.clone().into();
        }
        if let Some(set) = update {
            let set: serde_json::Map<String, serde_json::Value> = set
                .iter()
                .map(|(c, v)| (c.to_string(), (*v).into()))
                .collect();
            case["set"] = serde_json::Value::Object(set);
        }
        peer_cases.push(case);
        ours.push((
            context,
            count,
            result,
            rows(table).await,
            tables[1].0.clone(),
        ));
    }
    let answers = crate::support::python::dml_with_deltalake(&serde_json::Value::Array(peer_cases));
    let mut wrong = Vec::new();
    for ((context, count, result, ours, peer), answer) in ours.into_iter().zip(answers) {
        let theirs = rows(&Table::open(lake.table(&peer)).await.unwrap()).await;
        match (&result, answer["ok"].as_bool()) {
            (Ok(()), Some(true)) => {
                let metrics = &answer["metrics"];
                let their_count = metrics["num_deleted_rows"]
                    .as_u64()
                    .or(metrics["num_updated_rows"].as_u64());
                if ours != theirs || their_count != Some(count) {
                    wrong.push(format!(
                        "{context}\n  strata {count} rows: {ours:?}\n  deltalake {their_count:?}: {theirs:?}"
                    ));
                }
            }
            _ => wrong.push(format!(
                "{context}\n  strata {result:?}\n  deltalake {answer}"
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {cases} differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
