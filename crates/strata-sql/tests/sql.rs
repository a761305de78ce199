//! SQL over strata tables, checked against DuckDB's `delta` extension (delta-kernel-rs) on the
//! same tables, plus pushdown, statistics, writes with lineage, DML and table functions.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use futures::TryStreamExt;
use strata::Table;
use strata_sql::{Context, SqlError, StrataScanExec, WriteMode};
use strata_test_support::TempLake;
use strata_test_support::python::{read_with, sql_with_duckdb};

const CARRIERS: [&str; 4] = ["AA", "DL", "UA", "WN"];

fn flights_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("carrier", DataType::Utf8, true),
        Field::new("dep_delay", DataType::Int64, true),
        Field::new("value", DataType::Float64, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]))
}

/// Rows `from..to`: carrier by `id % 4`, a null delay every 11th row.
fn flights(from: i64, to: i64) -> RecordBatch {
    let ids: Vec<i64> = (from..to).collect();
    RecordBatch::try_new(
        flights_schema(),
        vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| CARRIERS[(i % 4) as usize]),
            )),
            Arc::new(Int64Array::from_iter(
                ids.iter()
                    .map(|i| (i % 11 != 0).then_some((i * 37) % 120 - 20)),
            )),
            Arc::new(Float64Array::from_iter_values(
                ids.iter()
                    .map(|i| ((i * 2_654_435_761) % 1000) as f64 / 8.0),
            )),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    ids.iter().map(|i| 1_700_000_000_000_000 + i * 60_000_000),
                )
                .with_timezone("UTC"),
            ),
        ],
    )
    .unwrap()
}

/// `flights`, partitioned by carrier with deletion vectors: v0 rows 0..3000, v1 3000..6000,
/// v2 deletes `id % 7 = 0` (as deletion vectors), v3 updates 100 delays.
async fn flights_table(lake: &TempLake) -> String {
    let location = lake.table("flights");
    Table::create(&location)
        .with_arrow_schema(&flights_schema())
        .unwrap()
        .with_partition_columns(["carrier"])
        .with_property("delta.enableDeletionVectors", "true")
        .write([flights(0, 3000)])
        .unwrap()
        .execute()
        .await
        .unwrap();
    let table = Table::open(&location).await.unwrap();
    table.append([flights(3000, 6000)]).await.unwrap();
    table
        .delete()
        .with_predicate("id % 7 = 0")
        .execute()
        .await
        .unwrap();
    table
        .update()
        .with_predicate("id < 100")
        .set("dep_delay", "dep_delay + 1")
        .execute()
        .await
        .unwrap();
    location
}

/// A table of carrier names, for joins.
async fn carriers_table(lake: &TempLake) -> String {
    let location = lake.table("carriers");
    let schema = Arc::new(Schema::new(vec![
        Field::new("code", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["AA", "DL", "UA", "B6"])),
            Arc::new(StringArray::from(vec![
                "American", "Delta", "United", "JetBlue",
            ])),
        ],
    )
    .unwrap();
    Table::create(&location)
        .with_arrow_schema(&schema)
        .unwrap()
        .write([batch])
        .unwrap()
        .execute()
        .await
        .unwrap();
    location
}

/// Rows as text, column by column cast to strings (timestamps as microseconds), so results
/// from two engines compare whatever physical types each chose.
fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for batch in batches {
        let columns: Vec<Arc<dyn Array>> = batch
            .columns()
            .iter()
            .map(|c| {
                let c = match c.data_type() {
                    DataType::Timestamp(..) => cast(c, &DataType::Int64).unwrap(),
                    _ => c.clone(),
                };
                cast(&c, &DataType::Utf8).unwrap()
            })
            .collect();
        for row in 0..batch.num_rows() {
            out.push(
                columns
                    .iter()
                    .map(|c| {
                        let s = c.as_any().downcast_ref::<StringArray>().unwrap();
                        if s.is_null(row) {
                            "NULL".to_string()
                        } else {
                            s.value(row).to_string()
                        }
                    })
                    .collect(),
            );
        }
    }
    out
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../strata/fixtures/spark")
        .join(name)
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_match_duckdb_on_the_same_tables_and_versions() {
    let lake = TempLake::new();
    let flights = flights_table(&lake).await;
    let carriers = carriers_table(&lake).await;
    let dv = fixture("with-short-dv");
    let mapped = fixture("cdf-column-mapping-name-mode");
    let (dv, mapped) = (dv.to_str().unwrap(), mapped.to_str().unwrap());

    let ctx = Context::new();
    ctx.register("flights", &flights).await.unwrap();
    ctx.register("flights_v1", &format!("{flights}@1"))
        .await
        .unwrap();
    ctx.register("carriers", &carriers).await.unwrap();
    ctx.register("dv", dv).await.unwrap();
    ctx.register("mapped", mapped).await.unwrap();
    ctx.register("mapped_v1", &format!("{mapped}@1"))
        .await
        .unwrap();

    let queries = [
        // Group by with a data filter strata cannot prune by statistics.
        "SELECT carrier, count(*) AS n, sum(dep_delay) AS d, round(avg(value), 6) AS v, min(ts) AS first FROM flights WHERE id % 3 = 0 GROUP BY carrier ORDER BY carrier",
        // A partition filter and a data filter.
        "SELECT count(*) AS n, min(id) AS lo, max(id) AS hi, count(dep_delay) AS delays FROM flights WHERE carrier = 'UA' AND id >= 2500",
        "SELECT id, carrier, dep_delay FROM flights WHERE id BETWEEN 1000 AND 1030 ORDER BY id",
        // A join, and a left join that keeps unmatched carriers.
        "SELECT c.name, count(*) AS n FROM flights f JOIN carriers c ON f.carrier = c.code WHERE f.dep_delay > 50 GROUP BY c.name ORDER BY c.name",
        "SELECT c.code, count(f.id) AS n FROM carriers c LEFT JOIN flights f ON f.carrier = c.code AND f.id < 40 GROUP BY c.code ORDER BY c.code",
        // Window functions.
        "SELECT id, carrier, row_number() OVER (PARTITION BY carrier ORDER BY id) AS rn, sum(dep_delay) OVER (PARTITION BY carrier ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS s FROM flights WHERE id < 120 ORDER BY id",
        // A time-travelled version (before the delete and update).
        "SELECT carrier, count(*) AS n, sum(dep_delay) AS d FROM flights_v1 GROUP BY carrier ORDER BY carrier",
        // Deletion vectors and column mapping, written by Spark.
        "SELECT * FROM dv ORDER BY 1",
        "SELECT * FROM mapped ORDER BY 1, 2",
        "SELECT * FROM mapped_v1 ORDER BY 1, 2",
    ];
    let duck = sql_with_duckdb(
        &[
            ("flights", &flights, None),
            ("flights_v1", &flights, Some(1)),
            ("carriers", &carriers, None),
            ("dv", dv, None),
            ("mapped", mapped, None),
            ("mapped_v1", mapped, Some(1)),
        ],
        &queries,
    );
    for (query, expected) in queries.iter().zip(&duck) {
        let ours = ctx
            .collect(query)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        let (ours, theirs) = (rows(&ours), rows(expected));
        assert!(!theirs.is_empty(), "{query}: DuckDB returned no rows");
        assert_eq!(ours, theirs, "{query}");
    }
}

/// The strata scan in a plan, after it ran.
fn scan_of(plan: &Arc<dyn ExecutionPlan>) -> Option<&StrataScanExec> {
    if let Some(scan) = plan.downcast_ref::<StrataScanExec>() {
        return Some(scan);
    }
    plan.children().into_iter().find_map(scan_of)
}

async fn run_plan(ctx: &Context, query: &str) -> (Arc<dyn ExecutionPlan>, Vec<RecordBatch>) {
    let plan = ctx
        .sql(query)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let batches = execute_stream(plan.clone(), ctx.session().task_ctx())
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    (plan, batches)
}

/// 10 files of 1,000 ascending ids each.
async fn sorted_table(lake: &TempLake) -> String {
    let location = lake.table("sorted");
    for i in 0..10 {
        let batch = flights(i * 1000, (i + 1) * 1000);
        if i == 0 {
            Table::create(&location)
                .with_arrow_schema(&flights_schema())
                .unwrap()
                .with_partition_columns(["carrier"])
                .write([batch])
                .unwrap()
                .execute()
                .await
                .unwrap();
        } else {
            Table::open(&location)
                .await
                .unwrap()
                .append([batch])
                .await
                .unwrap();
        }
    }
    location
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_prune_files_and_row_groups_and_partition_filters_are_exact() {
    let lake = TempLake::new();
    let location = sorted_table(&lake).await;
    let ctx = Context::new();
    ctx.register("t", &location).await.unwrap();

    // A selective range on a data column reads the files holding it: one per carrier of
    // the one commit whose ids it covers.
    let (plan, batches) = run_plan(&ctx, "SELECT id FROM t WHERE id BETWEEN 4100 AND 4199").await;
    assert_eq!(
        batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        100
    );
    let m = scan_of(&plan).unwrap().scan_metrics();
    assert_eq!(m.files_considered, 40, "{m:?}");
    assert_eq!(m.files_to_read, 4, "{m:?}");
    assert_eq!(m.files_pruned_by_stats, 36, "{m:?}");

    // A partition filter prunes by partition values and is exact: DataFusion keeps no filter.
    let (plan, batches) = run_plan(&ctx, "SELECT count(id) FROM t WHERE carrier = 'DL'").await;
    assert_eq!(rows(&batches), vec![vec!["2500".to_string()]]);
    let m = scan_of(&plan).unwrap().scan_metrics();
    assert_eq!(
        (m.files_to_read, m.files_pruned_by_partition),
        (10, 30),
        "{m:?}"
    );
    let text = ctx
        .explain("SELECT id FROM t WHERE carrier = 'DL'", false)
        .await
        .unwrap();
    assert!(!text.contains("FilterExec"), "{text}");
    assert!(
        text.contains("StrataScanExec: table=t version=9 files=10/40"),
        "{text}"
    );
    // A data filter is inexact: DataFusion filters again.
    let text = ctx
        .explain("SELECT id FROM t WHERE id > 5", false)
        .await
        .unwrap();
    assert!(text.contains("FilterExec"), "{text}");

    // Files are split across partitions.
    let parts = ctx.session().state().config().target_partitions();
    let (plan, _) = run_plan(&ctx, "SELECT * FROM t").await;
    let scan = scan_of(&plan).unwrap();
    assert_eq!(
        scan.properties().partitioning.partition_count(),
        parts.min(40)
    );

    // EXPLAIN ANALYZE shows what the scan read.
    let text = ctx
        .explain("SELECT id FROM t WHERE id BETWEEN 4100 AND 4199", true)
        .await
        .unwrap();
    assert!(text.contains("files_read=4"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn count_star_comes_from_the_log_and_statistics_reach_the_planner() {
    let lake = TempLake::new();
    let location = flights_table(&lake).await;
    let ctx = Context::new();
    ctx.register("f", &location).await.unwrap();
    // numRecords less the deletion vectors' cardinality: exact, so no file is read.
    let text = ctx.explain("SELECT count(*) FROM f", false).await.unwrap();
    assert!(!text.contains("StrataScanExec"), "{text}");
    let expected = (0..6000).filter(|i| i % 7 != 0).count();
    assert_eq!(
        rows(&ctx.collect("SELECT count(*) FROM f").await.unwrap()),
        vec![vec![expected.to_string()]]
    );
    // With a filter the count is read.
    let n = rows(
        &ctx.collect("SELECT count(*) FROM f WHERE dep_delay IS NULL")
            .await
            .unwrap(),
    );
    let nulls = (0..6000).filter(|i| i % 7 != 0 && i % 11 == 0).count();
    assert_eq!(n, vec![vec![nulls.to_string()]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn inserts_and_ctas_commit_once_with_lineage_and_read_back_in_other_clients() {
    let lake = TempLake::new();
    let flights = flights_table(&lake).await;
    let ctx = Context::new();
    ctx.register("flights", &flights).await.unwrap();
    ctx.register_directory("gold", lake.path().join("gold").to_str().unwrap())
        .unwrap();

    // CREATE TABLE … AS SELECT in a directory schema creates root/NAME.
    let query =
        "SELECT carrier, count(*) AS n, sum(dep_delay) AS delay FROM flights GROUP BY carrier";
    ctx.collect(&format!("CREATE TABLE gold.by_carrier AS {query}"))
        .await
        .unwrap();
    let gold = lake.path().join("gold/by_carrier");
    let gold = gold.to_str().unwrap();
    let table = Table::open(gold).await.unwrap();
    assert_eq!(table.version().await.unwrap(), 0);
    let lineage = lineage_of(&table, 0).await;
    assert_eq!(lineage["flow"], "sql");
    assert_eq!(lineage["sources"][0]["table"], "flights");
    assert_eq!(lineage["sources"][0]["toVersion"], 3);
    let flights_id = Table::open(&flights)
        .await
        .unwrap()
        .snapshot()
        .await
        .unwrap()
        .metadata()
        .id
        .clone();
    assert_eq!(lineage["sources"][0]["tableId"], flights_id.as_str());

    // INSERT INTO and INSERT OVERWRITE on the gold table, resolved by schema and name.
    let n = ctx
        .collect("INSERT INTO gold.by_carrier SELECT carrier, count(*), sum(dep_delay) FROM flights WHERE carrier = 'AA' GROUP BY carrier")
        .await
        .unwrap();
    assert_eq!(rows(&n), vec![vec!["1".to_string()]]);
    assert_eq!(table.version().await.unwrap(), 1);
    assert_eq!(lineage_of(&table, 1).await["sink"], "append");
    ctx.collect(&format!("INSERT OVERWRITE gold.by_carrier {query}"))
        .await
        .unwrap();
    assert_eq!(table.version().await.unwrap(), 2);
    assert_eq!(lineage_of(&table, 2).await["sink"], "overwrite");

    // write_into a new location creates it; again appends.
    let out = lake.table("late");
    let written = ctx
        .write_into(
            "SELECT id, dep_delay FROM flights WHERE dep_delay > 90",
            &out,
            WriteMode::Append,
        )
        .await
        .unwrap();
    assert_eq!(written.version, 0);
    assert_eq!(written.sources.len(), 1);
    let again = ctx
        .write_into(
            "SELECT id, dep_delay FROM flights WHERE dep_delay > 90",
            &out,
            WriteMode::Append,
        )
        .await
        .unwrap();
    assert_eq!((again.version, again.rows), (1, written.rows));

    // deltalake and DuckDB read what SQL wrote.
    let ours = rows(
        &ctx.collect("SELECT * FROM gold.by_carrier ORDER BY carrier")
            .await
            .unwrap(),
    );
    for client in ["deltalake", "duckdb"] {
        let mut theirs = rows(&read_with(client, gold, None));
        theirs.sort();
        assert_eq!(ours, theirs, "{client}");
    }
    assert_eq!(ours.len(), 4);
}

async fn lineage_of(table: &Table, version: i64) -> serde_json::Value {
    let snapshot = table.snapshot_at_version(version).await.unwrap();
    let entry = snapshot.history(Some(1)).await.unwrap().remove(0);
    entry.user_metadata[strata::LINEAGE].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_and_update_statements_run_strata_dml() {
    let lake = TempLake::new();
    let location = flights_table(&lake).await;
    let ctx = Context::new();
    ctx.register("f", &location).await.unwrap();
    let deleted = ctx
        .collect("DELETE FROM f WHERE carrier = 'WN' AND id < 1000")
        .await
        .unwrap();
    let expected = (0..1000).filter(|i| i % 4 == 3 && i % 7 != 0).count();
    assert_eq!(rows(&deleted), vec![vec![expected.to_string()]]);
    let updated = ctx
        .collect("UPDATE f SET dep_delay = 0 WHERE id BETWEEN 10 AND 19")
        .await
        .unwrap();
    let expected_updates = (10..20).filter(|i| i % 7 != 0 && i % 4 != 3).count();
    assert_eq!(rows(&updated), vec![vec![expected_updates.to_string()]]);

    let ctx = Context::new();
    ctx.register("f", &location).await.unwrap();
    let left = rows(
        &ctx.collect("SELECT count(*) FROM f WHERE carrier = 'WN' AND id < 1000")
            .await
            .unwrap(),
    );
    assert_eq!(left, vec![vec!["0".to_string()]]);
    let zeros = rows(
        &ctx.collect("SELECT count(*) FROM f WHERE id BETWEEN 10 AND 19 AND dep_delay = 0")
            .await
            .unwrap(),
    );
    assert_eq!(zeros, vec![vec![expected_updates.to_string()]]);

    // A subquery would reach strata without its condition: refused, nothing changes.
    let version = Table::open(&location)
        .await
        .unwrap()
        .version()
        .await
        .unwrap();
    let err = ctx
        .collect("DELETE FROM f WHERE id IN (SELECT id FROM f WHERE id < 5)")
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::Unsupported { .. }), "{err}");
    assert_eq!(
        Table::open(&location)
            .await
            .unwrap()
            .version()
            .await
            .unwrap(),
        version
    );
    // A predicate strata cannot evaluate is refused, not dropped.
    let err = ctx
        .collect("DELETE FROM f WHERE carrier LIKE 'W%'")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("LIKE") || err.to_string().contains("like"),
        "{err}"
    );
    assert_eq!(
        Table::open(&location)
            .await
            .unwrap()
            .version()
            .await
            .unwrap(),
        version
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn table_functions_read_versions_tags_and_the_change_feed() {
    let lake = TempLake::new();
    let location = lake.table("t");
    Table::create(&location)
        .with_arrow_schema(&flights_schema())
        .unwrap()
        .with_property("delta.enableChangeDataFeed", "true")
        .write([flights(0, 10)])
        .unwrap()
        .execute()
        .await
        .unwrap();
    let table = Table::open(&location).await.unwrap();
    table.append([flights(10, 15)]).await.unwrap();
    table
        .delete()
        .with_predicate("id < 3")
        .execute()
        .await
        .unwrap();
    table.tag("before_delete", 1).await.unwrap();
    let ctx = Context::new();
    let q = |sql: String| {
        let ctx = ctx.clone();
        async move {
            rows(
                &ctx.collect(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}")),
            )
        }
    };
    assert_eq!(
        q(format!(
            "SELECT count(*) FROM strata_version('{location}', 0)"
        ))
        .await,
        vec![vec!["10".to_string()]]
    );
    assert_eq!(
        q(format!(
            "SELECT count(*) FROM strata_tag('{location}', 'before_delete')"
        ))
        .await,
        vec![vec!["15".to_string()]]
    );
    assert_eq!(
        q(format!("SELECT _change_type, count(*) FROM strata_changes('{location}', 1) GROUP BY 1 ORDER BY 1")).await,
        vec![vec!["delete".to_string(), "3".to_string()], vec!["insert".to_string(), "5".to_string()]]
    );
    // Versions of one table join each other.
    let diff = q(format!(
        "SELECT count(*) FROM strata_version('{location}', 1) a LEFT JOIN strata_version('{location}', 2) b ON a.id = b.id WHERE b.id IS NULL"
    ))
    .await;
    assert_eq!(diff, vec![vec!["3".to_string()]]);
    // Errors name what is wrong.
    let err = ctx
        .collect(&format!("SELECT * FROM strata_version('{location}', 9)"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains('9'), "{err}");
    let err = ctx
        .collect(&format!("SELECT * FROM strata_tag('{location}', 'nope')"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pinned_registrations_are_read_only_and_errors_stay_one_line() {
    let lake = TempLake::new();
    let location = flights_table(&lake).await;
    let ctx = Context::new();
    ctx.register("old", &format!("{location}@1")).await.unwrap();
    let err = ctx
        .collect("INSERT INTO old SELECT * FROM old")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    assert_eq!(
        Table::open(&location)
            .await
            .unwrap()
            .version()
            .await
            .unwrap(),
        3
    );
    let err = ctx.collect("SELEC id FROM old").await.unwrap_err();
    assert!(!err.to_string().contains('\n'), "{err}");
    let err = ctx.collect("SELECT nope FROM old").await.unwrap_err();
    assert!(
        err.to_string().contains("nope") && !err.to_string().contains('\n'),
        "{err}"
    );
    assert!(ctx.register("x", "/no/such/table").await.is_err());
    assert!(
        ctx.register("x", &format!("{location}@yesterday"))
            .await
            .is_err()
    );
}

/// Every future the API returns can move between threads (`tokio::spawn`, a pipeline run).
#[test]
fn futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let ctx = Context::new();
    send(&ctx.sql("SELECT 1"));
    send(&ctx.collect("SELECT 1"));
    send(&ctx.register("t", "/t"));
    send(&ctx.write_into("SELECT 1", "/t", WriteMode::Append));
    send(&ctx.create_table_as("/t", "SELECT 1"));
    send(&ctx.explain("SELECT 1", true));
}
