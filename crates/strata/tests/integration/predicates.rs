//! Filtered scans: predicates, data skipping and SQL null semantics.
//!
//! - A model-based property test: random tables (partitioned or not, with full, partial or no
//!   statistics, several files of small row groups) and random predicates; the filtered scan
//!   must return exactly the rows a plain Rust three-valued-logic model keeps. Since the scan
//!   prunes files and row groups and then filters with Arrow kernels, this checks both that
//!   pruning never drops a matching row and that the kernels follow SQL semantics. Cases
//!   default to 64; `STRATA_PROPTEST_CASES=N` changes them; failures print the minimal case.
//! - Pruning on tables written by deltalake (the checked-in fixtures) and by strata: the rows
//!   equal filtering the full scan, and the scan's metrics show the files it skipped.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::support::{latest, num_rows, rendered, scan_rows};
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{
    DataType, Decimal128Type, Field, Float64Type, Int32Type, Int64Type, Schema, SchemaRef,
    TimeUnit, TimestampMicrosecondType,
};
use proptest::prelude::*;
use strata::{Error, Expr, ExprError, Predicate, Scalar, Table, col, lit};

const TS0: i64 = 1_795_000_000_000_000;

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

/// One cell of the model table.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Null,
    I(i64),
    S(String),
    D(i128),
    T(i64),
    F(f64),
    B(bool),
}

impl V {
    fn cmp(&self, other: &V) -> Option<Ordering> {
        Some(match (self, other) {
            (V::I(a), V::I(b)) | (V::T(a), V::T(b)) => a.cmp(b),
            (V::S(a), V::S(b)) => a.as_bytes().cmp(b.as_bytes()),
            (V::D(a), V::D(b)) => a.cmp(b),
            (V::F(a), V::F(b)) => a.total_cmp(b),
            (V::B(a), V::B(b)) => a.cmp(b),
            _ => return None,
        })
    }

    fn scalar(&self) -> Scalar {
        match self {
            V::Null => Scalar::Null,
            V::I(v) => Scalar::Int(*v),
            V::S(s) => Scalar::String(s.clone()),
            V::D(u) => Scalar::decimal(*u, 2),
            V::T(us) => Scalar::Timestamp(*us),
            V::F(f) => Scalar::Float(*f),
            V::B(b) => Scalar::Boolean(*b),
        }
    }
}

/// Columns: id long, k int, s string, d decimal(9,2), ts timestamp, f double, b boolean.
const COLUMNS: [&str; 7] = ["id", "k", "s", "d", "ts", "f", "b"];

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("k", DataType::Int32, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("d", DataType::Decimal128(9, 2), true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("f", DataType::Float64, true),
        Field::new("b", DataType::Boolean, true),
    ]))
}

type Row = Vec<V>;

fn long(tail: &str) -> String {
    format!("{}{tail}", "x".repeat(32))
}

/// A value of column `c`, from a small domain so that predicates hit and miss.
fn value(c: usize) -> BoxedStrategy<V> {
    let v = match c {
        0 => (-5i64..20).prop_map(V::I).boxed(),
        1 => (0i64..3).prop_map(V::I).boxed(),
        2 => prop_oneof![
            Just(""),
            Just("a"),
            Just("ab"),
            Just("b"),
            Just("é"),
            Just("LONG_A"),
            Just("LONG_B"),
            Just("LONG_LONG"),
        ]
        .prop_map(|s| {
            V::S(match s {
                "LONG_A" => long("a"),
                "LONG_B" => long("b"),
                "LONG_LONG" => long(&"z".repeat(10)),
                other => other.to_string(),
            })
        })
        .boxed(),
        3 => (-300i128..300).prop_map(V::D).boxed(),
        4 => prop_oneof![
            Just(0i64),
            Just(1),
            Just(999),
            Just(1_000),
            Just(1_001),
            Just(2_500_123),
            Just(-1)
        ]
        .prop_map(|o| V::T(TS0 + o))
        .boxed(),
        5 => prop_oneof![
            Just(-1.5f64),
            Just(-0.0),
            Just(0.0),
            Just(2.5),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY)
        ]
        .prop_map(V::F)
        .boxed(),
        _ => any::<bool>().prop_map(V::B).boxed(),
    };
    prop_oneof![1 => Just(V::Null), 5 => v].boxed()
}

fn row() -> impl Strategy<Value = Row> {
    (0..COLUMNS.len())
        .map(value)
        .collect::<Vec<_>>()
        .prop_map(|r| r)
}

/// A predicate in the model's terms; turned into an [`Expr`] for strata.
#[derive(Debug, Clone)]
enum P {
    Cmp(usize, &'static str, V),
    IsNull(usize),
    IsNotNull(usize),
    In(usize, Vec<V>, bool),
    Between(usize, V, V, bool),
    Not(Box<P>),
    And(Box<P>, Box<P>),
    Or(Box<P>, Box<P>),
}

const OPS: [&str; 6] = ["=", "<>", "<", "<=", ">", ">="];

fn leaf() -> impl Strategy<Value = P> {
    (0..COLUMNS.len()).prop_flat_map(|c| {
        prop_oneof![
            4 => (prop::sample::select(&OPS[..]), value(c)).prop_map(move |(op, v)| P::Cmp(c, op, v)),
            1 => Just(P::IsNull(c)),
            1 => Just(P::IsNotNull(c)),
            1 => (prop::collection::vec(value(c), 1..4), any::<bool>()).prop_map(move |(l, n)| P::In(c, l, n)),
            1 => (value(c), value(c), any::<bool>()).prop_map(move |(lo, hi, n)| P::Between(c, lo, hi, n)),
        ]
    })
}

fn predicate() -> impl Strategy<Value = P> {
    leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|p| P::Not(Box::new(p))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| P::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| P::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn and3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn or3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

fn cmp3(a: &V, op: &str, b: &V) -> Option<bool> {
    let o = a.cmp(b)?;
    Some(match op {
        "=" => o == Ordering::Equal,
        "<>" => o != Ordering::Equal,
        "<" => o == Ordering::Less,
        "<=" => o != Ordering::Greater,
        ">" => o == Ordering::Greater,
        _ => o != Ordering::Less,
    })
}

/// SQL three-valued logic, written out plainly.
fn eval(p: &P, r: &Row) -> Option<bool> {
    match p {
        P::Cmp(c, op, v) => cmp3(&r[*c], op, v),
        P::IsNull(c) => Some(r[*c] == V::Null),
        P::IsNotNull(c) => Some(r[*c] != V::Null),
        P::In(c, list, negated) => {
            // Not a try_fold: a null hit does not end the search, a later true still wins.
            let mut hit = Some(false);
            for v in list {
                hit = or3(hit, cmp3(&r[*c], "=", v));
            }
            if *negated { hit.map(|b| !b) } else { hit }
        }
        P::Between(c, lo, hi, negated) => {
            let inside = and3(cmp3(&r[*c], ">=", lo), cmp3(&r[*c], "<=", hi));
            if *negated { inside.map(|b| !b) } else { inside }
        }
        P::Not(p) => eval(p, r).map(|b| !b),
        P::And(a, b) => and3(eval(a, r), eval(b, r)),
        P::Or(a, b) => or3(eval(a, r), eval(b, r)),
    }
}

fn to_expr(p: &P) -> Expr {
    let c = |i: usize| col(COLUMNS[i]);
    match p {
        P::Cmp(i, op, v) => {
            let (l, r) = (c(*i), lit(v.scalar()));
            match *op {
                "=" => l.eq(r),
                "<>" => l.not_eq(r),
                "<" => l.lt(r),
                "<=" => l.lt_eq(r),
                ">" => l.gt(r),
                _ => l.gt_eq(r),
            }
        }
        P::IsNull(i) => c(*i).is_null(),
        P::IsNotNull(i) => c(*i).is_not_null(),
        P::In(i, list, negated) => {
            let items = list.iter().map(|v| lit(v.scalar()));
            if *negated {
                c(*i).is_not_in(items)
            } else {
                c(*i).is_in(items)
            }
        }
        P::Between(i, lo, hi, negated) => {
            let e = c(*i).between(lit(lo.scalar()), lit(hi.scalar()));
            if *negated { e.not() } else { e }
        }
        P::Not(p) => to_expr(p).not(),
        P::And(a, b) => to_expr(a).and(to_expr(b)),
        P::Or(a, b) => to_expr(a).or(to_expr(b)),
    }
}

// ---------------------------------------------------------------------------------------------
// Arrow <-> model rows
// ---------------------------------------------------------------------------------------------

fn batch(rows: &[Row]) -> RecordBatch {
    let pick = |c: usize| rows.iter().map(move |r| &r[c]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter(pick(0).map(|v| match v {
            V::I(x) => Some(*x),
            _ => None,
        }))),
        Arc::new(Int32Array::from_iter(pick(1).map(|v| match v {
            V::I(x) => Some(*x as i32),
            _ => None,
        }))),
        Arc::new(StringArray::from_iter(pick(2).map(|v| match v {
            V::S(s) => Some(s.clone()),
            _ => None,
        }))),
        Arc::new(
            Decimal128Array::from_iter(pick(3).map(|v| match v {
                V::D(x) => Some(*x),
                _ => None,
            }))
            .with_precision_and_scale(9, 2)
            .unwrap(),
        ),
        Arc::new(
            TimestampMicrosecondArray::from_iter(pick(4).map(|v| match v {
                V::T(x) => Some(*x),
                _ => None,
            }))
            .with_timezone("UTC"),
        ),
        Arc::new(Float64Array::from_iter(pick(5).map(|v| match v {
            V::F(x) => Some(*x),
            _ => None,
        }))),
        Arc::new(BooleanArray::from_iter(pick(6).map(|v| match v {
            V::B(x) => Some(*x),
            _ => None,
        }))),
    ];
    RecordBatch::try_new(schema(), columns).unwrap()
}

fn rows_of(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let get = |name: &str| b.column_by_name(name).unwrap().clone();
        let (id, k, s, d, ts, f, bo) = (
            get("id"),
            get("k"),
            get("s"),
            get("d"),
            get("ts"),
            get("f"),
            get("b"),
        );
        for i in 0..b.num_rows() {
            let cell = |a: &ArrayRef, v: V| if a.is_null(i) { V::Null } else { v };
            out.push(vec![
                cell(&id, V::I(id.as_primitive::<Int64Type>().value(i))),
                cell(&k, V::I(k.as_primitive::<Int32Type>().value(i).into())),
                cell(&s, V::S(s.as_string::<i32>().value(i).to_string())),
                cell(&d, V::D(d.as_primitive::<Decimal128Type>().value(i))),
                cell(
                    &ts,
                    V::T(ts.as_primitive::<TimestampMicrosecondType>().value(i)),
                ),
                cell(&f, V::F(f.as_primitive::<Float64Type>().value(i))),
                cell(&bo, V::B(bo.as_boolean().value(i))),
            ]);
        }
    }
    out
}

fn sorted(mut rows: Vec<Row>) -> Vec<String> {
    let mut out: Vec<String> = rows.drain(..).map(|r| format!("{r:?}")).collect();
    out.sort();
    out
}

/// How much of the table carries statistics.
#[derive(Debug, Clone, Copy)]
enum StatsMode {
    All,
    FirstThree,
    None,
}

async fn run_case(
    files: Vec<Vec<Row>>,
    partition: Option<&'static str>,
    stats: StatsMode,
    predicates: Vec<P>,
) {
    let location = format!("memory://predicates-{}/t", uuid::Uuid::new_v4());
    let mut create = Table::create(location.as_str())
        .with_arrow_schema(&schema())
        .unwrap();
    if let Some(p) = partition {
        create = create.with_partition_columns([p]);
    }
    create = match stats {
        StatsMode::All => create,
        StatsMode::FirstThree => create.with_property("delta.dataSkippingNumIndexedCols", "3"),
        StatsMode::None => create.with_property("delta.dataSkippingNumIndexedCols", "0"),
    };
    let table = create.execute().await.unwrap();
    // An empty partition value means null (`protocol/PROTOCOL.md#partitions`).
    let files: Vec<Vec<Row>> = if partition == Some("s") {
        files
            .into_iter()
            .map(|rows| {
                rows.into_iter()
                    .map(|mut r| {
                        if r[2] == V::S(String::new()) {
                            r[2] = V::Null;
                        }
                        r
                    })
                    .collect()
            })
            .collect()
    } else {
        files
    };
    let mut all_rows = Vec::new();
    for rows in files.iter().filter(|r| !r.is_empty()) {
        table
            .write([batch(rows)])
            .with_row_group_rows(3)
            .execute()
            .await
            .unwrap();
        all_rows.extend(rows.iter().cloned());
    }
    let snapshot = table.snapshot().await.unwrap();
    for p in &predicates {
        let expected: Vec<Row> = all_rows
            .iter()
            .filter(|r| eval(p, r) == Some(true))
            .cloned()
            .collect();
        let expr = to_expr(p);
        let plan = snapshot
            .scan()
            .with_filter(expr.clone())
            .plan()
            .await
            .unwrap();
        let got = rows_of(&plan.collect().await.unwrap());
        assert_eq!(
            sorted(got),
            sorted(expected),
            "predicate {expr} (model {p:?}), partition {partition:?}, stats {stats:?}, metrics {:?}",
            plan.metrics()
        );
        // The SQL text form means the same.
        let text = expr.to_string();
        let again = snapshot.scan().with_filter(text.as_str()).collect().await;
        assert_eq!(
            sorted(rows_of(&again.unwrap())),
            sorted(
                all_rows
                    .iter()
                    .filter(|r| eval(p, r) == Some(true))
                    .cloned()
                    .collect()
            ),
            "predicate text {text}"
        );
    }
}

fn cases() -> u32 {
    std::env::var("STRATA_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 300, ..ProptestConfig::default() })]

    #[test]
    fn filtered_scans_return_exactly_the_rows_sql_keeps(
        files in prop::collection::vec(prop::collection::vec(row(), 0..10), 1..4),
        partition in prop_oneof![Just(None), Just(Some("k")), Just(Some("s")), Just(Some("ts"))],
        stats in prop_oneof![Just(StatsMode::All), Just(StatsMode::FirstThree), Just(StatsMode::None)],
        predicates in prop::collection::vec(predicate(), 1..6),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run_case(files, partition, stats, predicates));
    }
}

// ---------------------------------------------------------------------------------------------
// Pruning on real tables
// ---------------------------------------------------------------------------------------------

fn fixture(name: &str) -> String {
    format!("{}/fixtures/tables/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Scans `location` with `filter` and checks the rows equal filtering the full scan.
/// Returns the scan's metrics and the number of rows.
async fn check_filter(location: &str, filter: &str) -> (strata::ScanMetrics, usize) {
    let snapshot = latest(location).await;
    let full = snapshot.scan().collect().await.unwrap();
    let predicate = Predicate::bind(&Expr::parse(filter).unwrap(), &snapshot.arrow_schema())
        .unwrap_or_else(|e| panic!("{filter}: {e}"));
    let expected: Vec<RecordBatch> = full.iter().map(|b| predicate.filter(b).unwrap()).collect();
    let plan = snapshot.scan().with_filter(filter).plan().await.unwrap();
    let got = plan.collect().await.unwrap();
    assert_eq!(
        rendered(&got),
        rendered(&expected),
        "{location}: {filter} ({:?})",
        plan.metrics()
    );
    let rows = num_rows(&got);
    (plan.metrics(), rows)
}

#[tokio::test]
async fn deltalake_fixtures_filter_like_a_full_scan() {
    let cases: &[(&str, &[&str])] = &[
        (
            "appends",
            &[
                "id = 1",
                "id > 3",
                "name >= 'c'",
                "value < 0 OR name IS NULL",
                "NOT (id BETWEEN 2 AND 5)",
                "id IN (1, 9) AND value IS NOT NULL",
            ],
        ),
        (
            "all_types",
            &[
                "bool_col",
                "NOT bool_col",
                "byte_col = 127",
                "short_col < 0",
                "int_col >= -2147483648",
                "long_col <> 0",
                "float_col > 1.5",
                "double_col < 0",
                "decimal_10_2 >= 1.23",
                "decimal_10_2 = 12345678.90",
                "decimal_38_10 < 0",
                "string_col >= 'a'",
                "binary_col IS NULL",
                "date_col < DATE '1970-01-01'",
                "timestamp_col >= TIMESTAMP '2000-01-01 00:00:00'",
                "timestamp_ntz_col < TIMESTAMP '1970-01-01 00:00:00'",
                "struct_col.a > 0",
                "struct_col.b IS NULL",
            ],
        ),
        (
            "partitioned_special",
            &[
                "p = 'a b'",
                "p IS NULL",
                "NOT (p = 'a/b')",
                "q < 0",
                "q = -2147483648 OR p = '100%'",
                "p IN ('x=y', 'ümlaut') AND q IS NOT NULL",
            ],
        ),
        (
            "partitioned_dates",
            &[
                "d = DATE '1999-12-31'",
                "d IS NULL",
                "ts > TIMESTAMP '2021-01-01 00:00:00'",
                "ts = TIMESTAMP '2021-01-01 00:00:00'",
                "d >= '2021-01-01' AND v <> 'c'",
            ],
        ),
        ("delete", &["id >= 5", "id = 1"]),
    ];
    for (name, filters) in cases {
        for filter in *filters {
            check_filter(&fixture(name), filter).await;
        }
    }
}

#[tokio::test]
async fn deltalake_tables_prune_by_stats_and_partitions() {
    // appends: 3 files; ids 1..4 in the first.
    let (m, rows) = check_filter(&fixture("appends"), "id = 1").await;
    assert_eq!(rows, 1);
    assert_eq!(m.files_considered, 3);
    assert_eq!(m.files_to_read, 1, "{m:?}");
    assert_eq!(m.files_pruned_by_stats, 2, "{m:?}");
    // partitioned_dates: one file per partition.
    let (m, _) = check_filter(&fixture("partitioned_dates"), "d = DATE '1999-12-31'").await;
    assert_eq!(m.files_considered, 7);
    assert!(m.files_pruned_by_partition >= 4, "{m:?}");
    assert_eq!(
        m.files_to_read + m.files_pruned_by_partition,
        7,
        "partition-only predicates never consult stats: {m:?}"
    );
    let (m, rows) = check_filter(&fixture("partitioned_special"), "q = 7").await;
    assert!(rows > 0);
    assert!(m.files_to_read < m.files_considered / 2, "{m:?}");
}

fn id_batch(ids: std::ops::Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("part", DataType::Utf8, true),
    ]));
    let part: StringArray = ids.clone().map(|i| Some(format!("p{}", i % 3))).collect();
    RecordBatch::try_new(
        schema,
        vec![Arc::new(Int64Array::from_iter_values(ids)), Arc::new(part)],
    )
    .unwrap()
}

#[tokio::test]
async fn strata_tables_read_one_file_of_many_and_skip_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_str().unwrap().to_string();
    let table = Table::create(location.as_str())
        .with_arrow_schema(&id_batch(0..1).schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    for f in 0..20 {
        table
            .append([id_batch(f * 100..(f + 1) * 100)])
            .await
            .unwrap();
    }
    let (m, rows) = check_filter(&location, "id BETWEEN 1010 AND 1019").await;
    assert_eq!(rows, 10);
    assert_eq!((m.files_considered, m.files_to_read), (20, 1), "{m:?}");

    // One file of 10 row groups: the footer statistics skip 9 of them.
    let dir2 = tempfile::tempdir().unwrap();
    let location = dir2.path().join("t").to_str().unwrap().to_string();
    let table = Table::create(location.as_str())
        .with_arrow_schema(&id_batch(0..1).schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    table
        .write([id_batch(0..1000)])
        .with_row_group_rows(100)
        .execute()
        .await
        .unwrap();
    let (m, rows) = check_filter(&location, "id >= 950").await;
    assert_eq!(rows, 50);
    assert_eq!(m.files_to_read, 1);
    assert_eq!(
        (m.row_groups_considered, m.row_groups_pruned),
        (10, 9),
        "{m:?}"
    );
    assert_eq!(m.rows_read, 100, "{m:?}");
    // A column the output does not include can still filter.
    let snapshot = table.snapshot().await.unwrap();
    let only_part = snapshot
        .scan()
        .with_columns(["part"])
        .with_filter(col("id").lt(lit(3)))
        .collect()
        .await
        .unwrap();
    assert_eq!(rendered(&only_part), vec!["p0", "p1", "p2"]);
    assert_eq!(only_part[0].num_columns(), 1);
    // A limit stops early.
    let limited = snapshot
        .scan()
        .with_filter("id >= 10")
        .with_limit(25)
        .collect()
        .await;
    assert_eq!(num_rows(&limited.unwrap()), 25);
}

#[tokio::test]
async fn bad_filters_are_typed_errors_naming_the_problem() {
    let snapshot = latest(fixture("appends")).await;
    let err = snapshot
        .scan()
        .with_filter("idd = 1")
        .collect()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Predicate(ExprError::UnknownColumn { column, .. }) if column == "idd"),
        "{err:?}"
    );
    assert!(err.to_string().contains("id, name, value"), "{err}");
    let err = snapshot.scan().with_filter("id >").execute().err().unwrap();
    assert!(
        matches!(err, Error::Predicate(ExprError::Parse { .. })),
        "{err:?}"
    );
    let err = snapshot
        .scan()
        .with_filter("name = 1")
        .collect()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Predicate(ExprError::Type { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("name = 1"), "{err}");
}

#[tokio::test]
async fn null_partitions_follow_sql_semantics() {
    // NOT (p = 'a b') keeps neither the 'a b' partition nor the null one.
    let (_, rows_not) = check_filter(&fixture("partitioned_special"), "NOT (p = 'a b')").await;
    let (_, rows_null) = check_filter(&fixture("partitioned_special"), "p IS NULL").await;
    let (_, rows_eq) = check_filter(&fixture("partitioned_special"), "p = 'a b'").await;
    let total = scan_rows(&latest(fixture("partitioned_special")).await).await;
    assert!(rows_null > 0 && rows_eq > 0);
    assert_eq!(rows_not + rows_null + rows_eq, total);
}
