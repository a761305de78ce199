//! Model-based property tests: random operation sequences against a trivial model.
//!
//! The model is, at every version, the table's columns (names, types and order) and its rows
//! (every column's value, null where the column did not exist when the row was written), plus
//! the latest txn version per appId, the tags, and which versions a vacuum may have made
//! unreadable. Operations include restore (the version's rows *and* schema come back), revert
//! (a refusal is allowed, and required across a metadata change; a success must undo exactly
//! that commit's rows), tag, optimize (rows unchanged), checkpoint, a zero-retention vacuum
//! (after which the current and every tagged version must still read identically), `DELETE`
//! and `UPDATE` by predicate (on the key, and on another column that exists at that version),
//! `MERGE`, and, on tables with deletion vectors, deleting rows of a file with a vector written
//! as Spark writes it. Schema evolution: adding, renaming and dropping columns
//! (`ALTER TABLE`), and appends in schema mode merge that bring a new column; the column
//! names come from a small pool, so a dropped name is often added again (a new column: old
//! rows read null) and collisions (refused, case-insensitively) happen. Each case writes a
//! plain table or one with column mapping (name or id mode) and deletion vectors, partitioned
//! or not.
//! After every step, every version of the table must read exactly as the model says (columns
//! in order, and rows), through a handle that may be stale (another handle committed) or
//! freshly reopened, and each commit must hold a `metaData` action exactly when the schema
//! changed. Cases default to 256 of up to 11 operations; `STRATA_PROPTEST_CASES=N` and
//! `STRATA_PROPTEST_OPS=N` raise them. A failure prints the minimal operation sequence, which
//! replays deterministically (proptest also records its seed in
//! `tests/proptest-regressions/model.txt`).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType as ArrowType, Field, Int64Type, Schema};
use proptest::prelude::*;
use strata::actions::{Action, parse_commit};
use strata::{DataType, NewColumn, SchemaMode, Table, WriteMode};

use crate::support::*;

/// The names columns are added and renamed to: few, so that a dropped name comes back and
/// names collide (`b` and `B` are the same name to Delta).
const NAMES: [&str; 5] = ["name", "country", "a", "b", "B"];

#[derive(Debug, Clone)]
enum Op {
    /// Append `rows` rows (ids from the model's counter) in `batches` batches.
    Append {
        rows: usize,
        batches: usize,
        country: Option<&'static str>,
    },
    /// Replace everything with `rows` rows.
    Overwrite { rows: usize },
    /// Idempotent append for (app, version): applied only if newer than the app's last.
    TxnAppend {
        app: usize,
        version: i64,
        rows: usize,
    },
    /// Commit an append through the second handle (the first becomes stale).
    AppendFromSecondHandle { rows: usize },
    /// Drop both handles and open the table again.
    Reopen,
    /// Read a version chosen by `pick` (modulo the number of versions).
    TimeTravel { pick: usize },
    /// Restore the version chosen by `pick`.
    Restore { pick: usize },
    /// Revert the commit `back` versions before the latest (refusals are allowed; a success
    /// must undo exactly its rows). Recent commits are the ones that can usually be reverted.
    Revert { back: usize },
    /// Tag the version chosen by `pick` with one of a few names.
    Tag { pick: usize, name: usize },
    /// Compact small files (the rows stay the same).
    Optimize,
    /// Write a checkpoint of the latest version (no new version).
    Checkpoint,
    /// Vacuum with a zero retention (forced): only the current and tagged versions stay
    /// readable.
    Vacuum,
    /// `DELETE WHERE id >= lo AND id < lo + width [AND c IS [NOT] NULL]`, `lo` chosen by
    /// `pick` among the live ids and `c` by `column` among the non-key columns of the latest
    /// version (copy-on-write, or deletion vectors where the table has them on).
    Delete {
        pick: usize,
        width: i64,
        column: Option<(usize, bool)>,
    },
    /// Delete every `every`-th row of the live file chosen by `pick` with a deletion vector,
    /// as Spark's `DELETE` does (files that have a vector already are not picked).
    DeleteRows { pick: usize, every: usize },
    /// `UPDATE SET id = id + 1_000_000_000 WHERE` the predicate of `Delete`: the rows move to
    /// new ids with their other values (copy-on-write, or a vector plus new files).
    Update {
        pick: usize,
        width: i64,
        column: Option<(usize, bool)>,
    },
    /// `MERGE` a source of the live ids in `[lo, lo + width)` and `fresh` new ones on `id`: matched
    /// rows deleted (`delete`) or updated with every source column, the rest inserted.
    Merge {
        pick: usize,
        width: i64,
        fresh: usize,
        delete: bool,
    },
    /// `ALTER TABLE ADD COLUMN` (a string or a long, nullable, last) named as `State::name`
    /// chooses; refused when the name is taken.
    AddColumn {
        name: usize,
        clash: bool,
        text: bool,
    },
    /// `ALTER TABLE RENAME COLUMN` of the non-key column chosen by `pick` to the name
    /// `State::name` chooses; refused when another column has that name.
    RenameColumn { pick: usize, to: usize, clash: bool },
    /// `ALTER TABLE DROP COLUMN` of the non-key column chosen by `pick`; refused for the
    /// partition column.
    DropColumn { pick: usize },
    /// Append in schema mode merge with a new column named as `State::name` chooses (when no
    /// column has that name), without the column chosen by `omit` (read as null), the batch's columns rotated
    /// by `rotate` (matched by name).
    MergeAppend {
        rows: usize,
        name: usize,
        clash: bool,
        text: bool,
        omit: Option<usize>,
        rotate: usize,
    },
}

/// Whether a new column's name is one a column has (rarely: such a change is refused).
fn clash() -> impl Strategy<Value = bool> {
    proptest::bool::weighted(0.2)
}

fn op() -> impl Strategy<Value = Op> {
    let country = prop_oneof![Just(Some("PT")), Just(Some("NL")), Just(None)];
    let column = proptest::option::of((any::<usize>(), any::<bool>()));
    prop_oneof![
        4 => (1usize..6, 1usize..3, country).prop_map(|(rows, batches, country)| Op::Append { rows, batches, country }),
        1 => (0usize..4).prop_map(|rows| Op::Overwrite { rows }),
        3 => (0usize..2, 0i64..4, 1usize..4).prop_map(|(app, version, rows)| Op::TxnAppend { app, version, rows }),
        2 => (1usize..4).prop_map(|rows| Op::AppendFromSecondHandle { rows }),
        1 => Just(Op::Reopen),
        1 => any::<usize>().prop_map(|pick| Op::TimeTravel { pick }),
        2 => any::<usize>().prop_map(|pick| Op::Restore { pick }),
        2 => (0usize..3).prop_map(|back| Op::Revert { back }),
        1 => (any::<usize>(), 0usize..3).prop_map(|(pick, name)| Op::Tag { pick, name }),
        1 => Just(Op::Optimize),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Vacuum),
        2 => (any::<usize>(), 1usize..4).prop_map(|(pick, every)| Op::DeleteRows { pick, every }),
        2 => (any::<usize>(), 1i64..6, column.clone()).prop_map(|(pick, width, column)| Op::Delete { pick, width, column }),
        2 => (any::<usize>(), 1i64..6, column).prop_map(|(pick, width, column)| Op::Update { pick, width, column }),
        2 => (any::<usize>(), 1i64..6, 0usize..3, any::<bool>())
            .prop_map(|(pick, width, fresh, delete)| Op::Merge { pick, width, fresh, delete }),
        3 => (0..NAMES.len(), clash(), any::<bool>()).prop_map(|(name, clash, text)| Op::AddColumn { name, clash, text }),
        2 => (any::<usize>(), 0..NAMES.len(), clash()).prop_map(|(pick, to, clash)| Op::RenameColumn { pick, to, clash }),
        3 => any::<usize>().prop_map(|pick| Op::DropColumn { pick }),
        3 => (1usize..4, 0..NAMES.len(), clash(), any::<bool>(), proptest::option::of(any::<usize>()), 0usize..3)
            .prop_map(|(rows, name, clash, text, omit, rotate)| Op::MergeAppend { rows, name, clash, text, omit, rotate }),
    ]
}

/// The table each case writes: 0 plain (deletion vectors off), 1 column mapping by name, 2 by
/// id, 3 no mapping; 1–3 with deletion vectors.
fn flavor_properties(flavor: u8) -> Vec<(&'static str, &'static str)> {
    let dv = ("delta.enableDeletionVectors", "true");
    match flavor {
        1 => vec![("delta.columnMapping.mode", "name"), dv],
        2 => vec![("delta.columnMapping.mode", "id"), dv],
        3 => vec![dv],
        _ => Vec::new(),
    }
}

/// The ids of a data file in the order its rows are stored (the id is the file's first column
/// whatever its physical name: partition columns are not in files, and columns are only ever
/// added last).
async fn file_ids(table: &Table, path: &str) -> Vec<i64> {
    let storage = table.storage();
    let object = storage
        .relative_path(&strata::paths::decode_path(path))
        .unwrap();
    let bytes = storage.get(&object).await.unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap();
    reader
        .flat_map(|b| {
            b.unwrap()
                .column(0)
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Long,
    Text,
}

/// A non-key column: `key` is its identity in the model (a column dropped and added again
/// under the same name is a new key), `name` its current name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    key: u32,
    name: String,
    kind: Kind,
}

/// The model's column keys of the table's initial columns (`id` is the row key itself).
const NAME_KEY: u32 = 1;
const COUNTRY_KEY: u32 = 2;

/// What a commit holds of `metaData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metadata {
    /// None: a data commit (or the table's creation, version 0).
    Unchanged,
    /// A new one: a schema change.
    Changed,
    /// A restore of this version: its `metaData` exactly when it differs from the current
    /// one (which it must when their columns or column mapping differ).
    Restored(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Null,
    Long(i64),
    Text(String),
}

/// A row's values by column key; a key it lacks (a column added after it was written) is null.
/// Values of dropped columns stay: a restore to a version before the drop reads them again.
type Row = BTreeMap<u32, Value>;

/// The table at one version.
#[derive(Debug, Clone)]
struct State {
    /// The columns after `id` (always first, never renamed or dropped), in order.
    columns: Vec<Column>,
    rows: BTreeMap<i64, Row>,
    /// Column mapping is on (from creation, or since the first rename or drop).
    mapped: bool,
}

impl State {
    fn taken(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case("id")
            || self
                .columns
                .iter()
                .any(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// A name for a new or renamed column, chosen by `pick`: one no column has (often a
    /// dropped column's), or with `clash` one a column has (in any case: `B` is `b`).
    fn name(&self, pick: usize, clash: bool) -> &'static str {
        let (taken, free): (Vec<&str>, Vec<&str>) = NAMES.iter().partition(|n| self.taken(n));
        let from = if (clash && !taken.is_empty()) || free.is_empty() {
            taken
        } else {
            free
        };
        from[pick % from.len()]
    }

    /// `(name, kind)` of every column, `id` first, as the table's schema must read.
    fn schema(&self) -> Vec<(String, Kind)> {
        std::iter::once(("id".to_string(), Kind::Long))
            .chain(self.columns.iter().map(|c| (c.name.clone(), c.kind)))
            .collect()
    }

    /// Every row's values in column order, as a scan must read them.
    fn table(&self) -> BTreeMap<i64, Vec<Value>> {
        self.rows
            .iter()
            .map(|(&id, row)| {
                let values = self
                    .columns
                    .iter()
                    .map(|c| row.get(&c.key).cloned().unwrap_or(Value::Null))
                    .collect();
                (id, values)
            })
            .collect()
    }

    /// New rows `ids` for the current columns (`salt` varies the values: 0 for writes, 1 for
    /// merge sources).
    fn new_rows(
        &self,
        ids: impl IntoIterator<Item = i64>,
        salt: i64,
        country: Option<&str>,
    ) -> Vec<(i64, Row)> {
        ids.into_iter()
            .map(|id| {
                let row = self
                    .columns
                    .iter()
                    .map(|c| (c.key, value(c, id, salt, country)))
                    .filter(|(_, v)| *v != Value::Null)
                    .collect();
                (id, row)
            })
            .collect()
    }

    /// `c IS [NOT] NULL` for the non-key column `c` chosen by `column` (none without one or
    /// without columns): `c`'s key, whether it is `IS NULL`, and the predicate's text.
    fn column_condition(&self, column: Option<(usize, bool)>) -> Option<(u32, bool, String)> {
        let (pick, is_null) = column?;
        if self.columns.is_empty() {
            return None;
        }
        let c = &self.columns[pick % self.columns.len()];
        let text = format!(
            " AND `{}` IS {}NULL",
            c.name,
            if is_null { "" } else { "NOT " }
        );
        Some((c.key, is_null, text))
    }
}

/// The value a new row `id` gets in `column`.
fn value(column: &Column, id: i64, salt: i64, country: Option<&str>) -> Value {
    match column.key {
        NAME_KEY => Value::Text(format!("{}{id}", if salt == 0 { "n" } else { "m" })),
        COUNTRY_KEY => country.map_or(Value::Null, |c| Value::Text(c.to_string())),
        key => {
            let key = i64::from(key);
            if (id + key + salt) % 4 == 0 {
                return Value::Null;
            }
            match column.kind {
                Kind::Long => Value::Long(id * 1000 + key * 10 + salt),
                Kind::Text => Value::Text(format!("v{key}-{id}-{salt}")),
            }
        }
    }
}

/// A batch of `rows` with `id` and `columns`, in that order.
fn batch(columns: &[Column], rows: &[(i64, Row)]) -> RecordBatch {
    let mut fields = vec![Field::new("id", ArrowType::Int64, false)];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(
        rows.iter().map(|(id, _)| *id),
    ))];
    for c in columns {
        let values = rows
            .iter()
            .map(|(_, row)| row.get(&c.key).cloned().unwrap_or(Value::Null));
        let (data_type, array): (ArrowType, ArrayRef) = match c.kind {
            Kind::Long => (
                ArrowType::Int64,
                Arc::new(
                    values
                        .map(|v| match v {
                            Value::Long(n) => Some(n),
                            Value::Null => None,
                            other => panic!("{other:?} in long column {}", c.name),
                        })
                        .collect::<Int64Array>(),
                ),
            ),
            Kind::Text => (
                ArrowType::Utf8,
                Arc::new(
                    values
                        .map(|v| match v {
                            Value::Text(s) => Some(s),
                            Value::Null => None,
                            other => panic!("{other:?} in string column {}", c.name),
                        })
                        .collect::<StringArray>(),
                ),
            ),
        };
        fields.push(Field::new(&c.name, data_type, true));
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("model batch")
}

/// The model: the table at each version, latest txn versions, and the next id to hand out.
#[derive(Default)]
struct Model {
    versions: Vec<State>,
    txns: BTreeMap<String, i64>,
    next_id: i64,
    /// What each version's commit must hold of `metaData` (parallel to `versions`).
    metadata: Vec<Metadata>,
    /// The next column key to hand out.
    next_key: u32,
    /// Tag name → version.
    tags: BTreeMap<String, usize>,
    /// Versions whose files a vacuum may have deleted (all but the then-current and tagged).
    vacuumed: BTreeSet<usize>,
}

impl Model {
    fn new(mapped: bool) -> Model {
        let mut model = Model {
            next_key: COUNTRY_KEY + 1,
            ..Model::default()
        };
        model.commit(State {
            columns: vec![
                Column {
                    key: NAME_KEY,
                    name: "name".into(),
                    kind: Kind::Text,
                },
                Column {
                    key: COUNTRY_KEY,
                    name: "country".into(),
                    kind: Kind::Text,
                },
            ],
            rows: BTreeMap::new(),
            mapped,
        });
        model
    }

    fn take_ids(&mut self, n: usize) -> std::ops::Range<i64> {
        let start = self.next_id;
        self.next_id += n as i64;
        start..self.next_id
    }

    fn take_key(&mut self) -> u32 {
        self.next_key += 1;
        self.next_key - 1
    }

    fn latest(&self) -> State {
        self.versions.last().cloned().expect("version 0")
    }

    fn latest_version(&self) -> i64 {
        self.versions.len() as i64 - 1
    }

    /// A commit of data (or of nothing): no `metaData`.
    fn commit(&mut self, state: State) {
        self.commit_with(state, Metadata::Unchanged);
    }

    /// A commit that changes the schema (or turns column mapping on): a new `metaData`.
    fn commit_schema(&mut self, state: State) {
        self.commit_with(state, Metadata::Changed);
    }

    fn commit_with(&mut self, state: State, metadata: Metadata) {
        self.versions.push(state);
        self.metadata.push(metadata);
    }

    fn readable(&self, v: usize) -> bool {
        !self.vacuumed.contains(&v)
    }
}

fn kind_of(data_type: &ArrowType) -> Kind {
    match data_type {
        ArrowType::Int64 => Kind::Long,
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => Kind::Text,
        other => panic!("unexpected column type {other}"),
    }
}

fn cell(array: &dyn Array, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    match array.data_type() {
        ArrowType::Int64 => Value::Long(array.as_primitive::<Int64Type>().value(i)),
        ArrowType::Utf8 => Value::Text(array.as_string::<i32>().value(i).to_string()),
        ArrowType::LargeUtf8 => Value::Text(array.as_string::<i64>().value(i).to_string()),
        ArrowType::Utf8View => Value::Text(array.as_string_view().value(i).to_string()),
        other => panic!("unexpected column type {other}"),
    }
}

/// Version `version` as `table` reads it: its schema and its rows by id.
async fn read_version(
    table: &Table,
    version: i64,
) -> (Vec<(String, Kind)>, BTreeMap<i64, Vec<Value>>) {
    let snapshot = table
        .snapshot_at_version(version)
        .await
        .unwrap_or_else(|e| panic!("load v{version}: {e}"));
    assert_eq!(snapshot.version(), version);
    let arrow_schema = snapshot.arrow_schema();
    let schema: Vec<(String, Kind)> = arrow_schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), kind_of(f.data_type())))
        .collect();
    let logical: Vec<String> = snapshot
        .schema()
        .field_names()
        .map(str::to_string)
        .collect();
    let names: Vec<String> = schema.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(logical, names, "v{version}: Delta and Arrow schemas");
    let batches = snapshot
        .scan()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("scan v{version}: {e}"));
    let mut rows = BTreeMap::new();
    for b in &batches {
        let read: Vec<(String, Kind)> = b
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), kind_of(f.data_type())))
            .collect();
        assert_eq!(read, schema, "v{version}: the scan's columns");
        let ids = b.column(0).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let values = b.columns()[1..]
                .iter()
                .map(|c| cell(c.as_ref(), i))
                .collect();
            let id = ids.value(i);
            assert!(
                rows.insert(id, values).is_none(),
                "v{version}: duplicate row {id}"
            );
        }
    }
    (schema, rows)
}

async fn check_version(table: &Table, model: &Model, v: usize, context: &str) {
    let want = &model.versions[v];
    let (schema, rows) = read_version(table, v as i64).await;
    assert_eq!(schema, want.schema(), "{context}: version {v}: columns");
    assert_eq!(rows, want.table(), "{context}: version {v}: rows");
}

async fn check_all_versions(table: &Table, model: &Model, step: usize) {
    let latest = table.version().await.unwrap();
    assert_eq!(
        latest,
        model.latest_version(),
        "after step {step}: latest version"
    );
    for v in 0..model.versions.len() {
        if model.readable(v) {
            check_version(table, model, v, &format!("after step {step}")).await;
        }
    }
    let snapshot = table.snapshot().await.unwrap();
    for (app, version) in &model.txns {
        assert_eq!(
            snapshot.txn_version(app),
            Some(*version),
            "after step {step}: txn {app}"
        );
    }
}

/// The actions of commit `version`.
async fn commit_actions(table: &Table, version: i64) -> Vec<Action> {
    let storage = table.storage();
    let bytes = storage
        .get(&storage.log_path(&format!("{version:020}.json")))
        .await
        .unwrap_or_else(|e| panic!("read commit {version}: {e}"));
    parse_commit(&bytes).unwrap_or_else(|e| panic!("commit {version}: {e:?}"))
}

/// Whether commit `version` holds a `metaData` action.
async fn commits_metadata(table: &Table, version: i64) -> bool {
    commit_actions(table, version)
        .await
        .iter()
        .any(|a| matches!(a, Action::Metadata(_)))
}

/// Commit `v` holds a `metaData` action exactly when the model says it must: a schema change
/// does, a data commit does not, and a restore does when the target's `metaData` differs from
/// the one it replaces (a restore to the same schema commits none).
async fn check_metadata_commit(table: &Table, model: &Model, v: usize, step: usize) {
    let committed = commits_metadata(table, v as i64).await;
    let context = format!("step {step}: metaData in commit {v}");
    match model.metadata[v] {
        Metadata::Unchanged => assert!(!committed, "{context}"),
        Metadata::Changed => assert!(committed, "{context}"),
        Metadata::Restored(target) => {
            // The state committed: the target's columns and rows, with column mapping kept on.
            let (wanted, replaced) = (&model.versions[v], &model.versions[v - 1]);
            if wanted.schema() != replaced.schema() || wanted.mapped != replaced.mapped {
                assert!(committed, "{context}: restore of v{target}");
            }
            if committed {
                assert_ne!(
                    metadata_at(table, v).await,
                    metadata_at(table, v - 1).await,
                    "{context}: restore of v{target} committed an unchanged metaData"
                );
            }
        }
    }
    check_column_mapping_only_grows(table, v, step).await;
}

async fn metadata_at(table: &Table, version: usize) -> strata::actions::Metadata {
    let snapshot = table.snapshot_at_version(version as i64).await.unwrap();
    snapshot.metadata().clone()
}

/// Delta forbids turning column mapping off and reusing column ids: from one version to the
/// next, mode `name` stays `name` and `delta.columnMapping.maxColumnId` never goes down.
async fn check_column_mapping_only_grows(table: &Table, v: usize, step: usize) {
    let (before, after) = (metadata_at(table, v - 1).await, metadata_at(table, v).await);
    let mode = |m: &strata::actions::Metadata| {
        m.configuration
            .get("delta.columnMapping.mode")
            .cloned()
            .unwrap_or_else(|| "none".into())
    };
    let max_id = |m: &strata::actions::Metadata| {
        m.configuration
            .get("delta.columnMapping.maxColumnId")
            .map(|v| v.parse::<i64>().unwrap())
            .unwrap_or(0)
    };
    if mode(&before) != "none" {
        assert_eq!(
            mode(&after),
            mode(&before),
            "step {step}: v{v} changed the column mapping mode"
        );
    }
    assert!(
        max_id(&after) >= max_id(&before),
        "step {step}: v{v} lowered maxColumnId from {} to {}",
        max_id(&before),
        max_id(&after)
    );
}

/// The live id `pick` chooses (0 on an empty table).
fn pick_id(state: &State, pick: usize) -> i64 {
    let live: Vec<i64> = state.rows.keys().copied().collect();
    live.get(pick % live.len().max(1)).copied().unwrap_or(0)
}

async fn run(ops: Vec<Op>, partitioned: bool, flavor: u8, case: u64) {
    let location = format!("memory://model-{case}-{}/t", uuid::Uuid::new_v4());
    let mut create = Table::create(&location)
        .with_arrow_schema(&people_schema())
        .unwrap();
    let properties = flavor_properties(flavor);
    let vectors = properties
        .iter()
        .any(|(k, _)| *k == "delta.enableDeletionVectors");
    let mapped = properties
        .iter()
        .any(|(k, _)| *k == "delta.columnMapping.mode");
    for (key, value) in properties {
        create = create.with_property(key, value);
    }
    if partitioned {
        create = create.with_partition_columns(["country"]);
    }
    let mut a = create.execute().await.unwrap();
    let mut b = Table::open(&location).await.unwrap();
    let mut model = Model::new(mapped);
    for (step, op) in ops.into_iter().enumerate() {
        let first_new = model.versions.len();
        'op: {
            match op {
                Op::Append {
                    rows,
                    batches,
                    country,
                } => {
                    let ids = model.take_ids(rows);
                    let mut next = model.latest();
                    let new = next.new_rows(ids, 0, country);
                    let parts: Vec<_> = new
                        .chunks(rows.div_ceil(batches).max(1))
                        .map(|chunk| batch(&next.columns, chunk))
                        .collect();
                    let w = a.append(parts).await.unwrap();
                    next.rows.extend(new);
                    model.commit(next);
                    assert_eq!(w.version, model.latest_version(), "step {step}");
                }
                Op::Overwrite { rows } => {
                    let ids = model.take_ids(rows);
                    let mut next = model.latest();
                    let new = next.new_rows(ids, 0, Some("PT"));
                    let w = a
                        .write([batch(&next.columns, &new)])
                        .with_mode(WriteMode::Overwrite)
                        .execute()
                        .await
                        .unwrap();
                    next.rows = new.into_iter().collect();
                    model.commit(next);
                    assert_eq!(w.version, model.latest_version(), "step {step}");
                }
                Op::TxnAppend { app, version, rows } => {
                    let app = format!("job-{app}");
                    let applied = model.txns.get(&app).is_some_and(|v| *v >= version);
                    let ids = model.take_ids(rows);
                    let mut next = model.latest();
                    let new = next.new_rows(ids, 0, None);
                    let w = a
                        .write([batch(&next.columns, &new)])
                        .with_txn(&app, version)
                        .execute()
                        .await
                        .unwrap();
                    assert_eq!(w.already_applied, applied, "step {step}: {app} v{version}");
                    if !applied {
                        next.rows.extend(new);
                        model.commit(next);
                        model.txns.insert(app, version);
                    }
                }
                Op::AppendFromSecondHandle { rows } => {
                    let ids = model.take_ids(rows);
                    let mut next = model.latest();
                    let new = next.new_rows(ids, 0, Some("NL"));
                    b.append([batch(&next.columns, &new)]).await.unwrap();
                    next.rows.extend(new);
                    model.commit(next);
                }
                Op::Reopen => {
                    a = Table::open(&location).await.unwrap();
                    b = Table::open(&location).await.unwrap();
                }
                Op::Restore { pick } => {
                    let v = pick % model.versions.len();
                    match a.restore_to_version(v as i64).await {
                        Ok(r) => {
                            // A vacuumed version restores when its files all survived (they were
                            // also the current or a tagged version's); the check reads it back.
                            // The version's schema comes back with its rows; column mapping,
                            // once on, stays on.
                            let mut restored = model.versions[v].clone();
                            restored.mapped |= model.latest().mapped;
                            model.commit_with(restored, Metadata::Restored(v));
                            assert_eq!(r.version, model.latest_version(), "step {step}");
                        }
                        Err(strata::Error::NotAllowed { .. }) if !model.readable(v) => {}
                        Err(e) => panic!("step {step}: restore v{v}: {e}"),
                    }
                }
                Op::Revert { back } => {
                    let v = (model.versions.len() - 1).saturating_sub(back);
                    // A revert is refused across a `metaData` change (its own or a later one).
                    let mut metadata_changed = false;
                    for u in v.max(1)..model.versions.len() {
                        metadata_changed |= commits_metadata(&a, u as i64).await;
                    }
                    match a.revert(v as i64).await {
                        Ok(r) => {
                            assert!(
                                !metadata_changed,
                                "step {step}: revert of v{v} succeeded across a metaData change"
                            );
                            let (prev, this) =
                                (&model.versions[v - 1].rows, &model.versions[v].rows);
                            let added: Vec<i64> = this
                                .iter()
                                .filter(|(id, row)| prev.get(id) != Some(row))
                                .map(|(id, _)| *id)
                                .collect();
                            let removed: Vec<(i64, Row)> = prev
                                .iter()
                                .filter(|(id, row)| this.get(id) != Some(row))
                                .map(|(id, row)| (*id, row.clone()))
                                .collect();
                            let mut next = model.latest();
                            for id in added {
                                next.rows.remove(&id);
                            }
                            next.rows.extend(removed);
                            model.commit(next);
                            assert_eq!(r.version, model.latest_version(), "step {step}");
                        }
                        Err(strata::Error::NotAllowed { .. }) => {}
                        Err(e) => panic!("step {step}: revert v{v}: {e}"),
                    }
                }
                Op::Tag { pick, name } => {
                    let v = pick % model.versions.len();
                    let name = format!("tag-{name}");
                    let result = a.tag(&name, v as i64).await;
                    match model.tags.get(&name) {
                        _ if !model.readable(v) => {
                            // The log still has the version, so tagging works even if its data
                            // files are gone; the model only records it. A tag is a side file,
                            // not a commit.
                            if result.is_ok() && !model.tags.contains_key(&name) {
                                model.tags.insert(name, v);
                            }
                        }
                        Some(&tagged) if tagged == v => {
                            assert!(!result.unwrap(), "step {step}: a repeated tag is a no-op");
                        }
                        Some(_) => assert!(
                            matches!(result, Err(strata::Error::NotAllowed { .. })),
                            "step {step}: {result:?}"
                        ),
                        None => {
                            assert!(result.unwrap(), "step {step}: tag {name} created");
                            model.tags.insert(name, v);
                        }
                    }
                }
                Op::Optimize => {
                    let r = a.optimize().execute().await.unwrap();
                    if r.num_files_removed > 0 {
                        model.commit(model.latest());
                    }
                    assert_eq!(r.version, model.latest_version(), "step {step}");
                }
                Op::Checkpoint => {
                    let info = a
                        .checkpoint()
                        .await
                        .unwrap_or_else(|e| panic!("step {step}: checkpoint: {e}"));
                    assert_eq!(info.version, model.latest_version(), "step {step}");
                }
                Op::Vacuum => {
                    let current = model.versions.len() - 1;
                    a.vacuum()
                        .with_retention_ms(0)
                        .with_force(true)
                        .execute()
                        .await
                        .unwrap_or_else(|e| panic!("step {step}: vacuum: {e}"));
                    let tagged: BTreeSet<usize> = model.tags.values().copied().collect();
                    for v in 0..current {
                        if !tagged.contains(&v) {
                            model.vacuumed.insert(v);
                        }
                    }
                    // VACUUM START and VACUUM END.
                    model.commit(model.latest());
                    model.commit(model.latest());
                }
                Op::Delete {
                    pick,
                    width,
                    column,
                } => {
                    let mut next = model.latest();
                    let lo = pick_id(&next, pick);
                    let condition = next.column_condition(column);
                    let predicate = format!(
                        "id >= {lo} AND id < {}{}",
                        lo + width,
                        condition.as_ref().map_or("", |(_, _, text)| text.as_str())
                    );
                    let result = a
                        .delete()
                        .with_predicate(predicate.as_str())
                        .execute()
                        .await
                        .unwrap_or_else(|e| panic!("step {step}: delete {predicate}: {e}"));
                    let before = next.rows.len();
                    next.rows
                        .retain(|id, row| !selected(*id, row, lo, width, condition.as_ref()));
                    let deleted = before - next.rows.len();
                    assert_eq!(
                        result.num_deleted_rows, deleted as u64,
                        "step {step}: {predicate}"
                    );
                    if deleted > 0 {
                        model.commit(next);
                        assert_eq!(
                            result.version,
                            Some(model.latest_version()),
                            "step {step}: {predicate}"
                        );
                    } else {
                        assert_eq!(result.version, None, "step {step}: {predicate}");
                    }
                }
                Op::Update {
                    pick,
                    width,
                    column,
                } => {
                    let mut next = model.latest();
                    let lo = pick_id(&next, pick);
                    let condition = next.column_condition(column);
                    let predicate = format!(
                        "id >= {lo} AND id < {}{}",
                        lo + width,
                        condition.as_ref().map_or("", |(_, _, text)| text.as_str())
                    );
                    let result = a
                        .update()
                        .with_predicate(predicate.as_str())
                        .set("id", "id + 1000000000")
                        .execute()
                        .await
                        .unwrap_or_else(|e| panic!("step {step}: update {predicate}: {e}"));
                    let moved: Vec<(i64, Row)> = next
                        .rows
                        .iter()
                        .filter(|(id, row)| selected(**id, row, lo, width, condition.as_ref()))
                        .map(|(id, row)| (*id, row.clone()))
                        .collect();
                    for (id, row) in &moved {
                        next.rows.remove(id);
                        next.rows.insert(id + 1_000_000_000, row.clone());
                    }
                    assert_eq!(
                        result.num_updated_rows,
                        moved.len() as u64,
                        "step {step}: {predicate}"
                    );
                    if !moved.is_empty() {
                        model.commit(next);
                        assert_eq!(
                            result.version,
                            Some(model.latest_version()),
                            "step {step}: {predicate}"
                        );
                    } else {
                        assert_eq!(result.version, None, "step {step}: {predicate}");
                    }
                }
                Op::Merge {
                    pick,
                    width,
                    fresh,
                    delete,
                } => {
                    let mut next = model.latest();
                    let lo = pick_id(&next, pick);
                    let fresh_ids = model.take_ids(fresh);
                    // Live ids of the range (others could collide with ids not issued yet or
                    // moved by updates) and fresh ones, with every column (`*` needs them).
                    let in_range: Vec<i64> = next
                        .rows
                        .keys()
                        .copied()
                        .filter(|id| (lo..lo + width).contains(id))
                        .collect();
                    let source_rows = next.new_rows(
                        in_range.iter().copied().chain(fresh_ids.clone()),
                        1,
                        Some("NL"),
                    );
                    let (matched_rows, fresh_rows) = source_rows.split_at(in_range.len());
                    let source: Vec<_> = matched_rows
                        .iter()
                        .map(|row| batch(&next.columns, std::slice::from_ref(row)))
                        .chain([batch(&next.columns, fresh_rows)])
                        .collect();
                    let mut merge = a.merge(source, "target.id = source.id");
                    merge = if delete {
                        merge.when_matched_delete(|c| c)
                    } else {
                        merge.when_matched_update_all()
                    };
                    let result = merge
                        .when_not_matched_insert_all()
                        .execute()
                        .await
                        .unwrap_or_else(|e| panic!("step {step}: merge {lo}+{width}: {e}"));
                    let (mut matched, mut inserted) = (0u64, 0u64);
                    for (id, row) in source_rows.iter().cloned() {
                        match next.rows.entry(id) {
                            Entry::Occupied(target) => {
                                matched += 1;
                                if delete {
                                    target.remove();
                                } else {
                                    *target.into_mut() = row;
                                }
                            }
                            Entry::Vacant(slot) => {
                                inserted += 1;
                                slot.insert(row);
                            }
                        }
                    }
                    let context = format!("step {step}: merge {lo}+{width} delete {delete}");
                    assert_eq!(result.num_target_rows_inserted, inserted, "{context}");
                    let changed = if delete {
                        result.num_target_rows_deleted
                    } else {
                        result.num_target_rows_updated
                    };
                    assert_eq!(changed, matched, "{context}");
                    if matched + inserted > 0 {
                        model.commit(next);
                        assert_eq!(result.version, Some(model.latest_version()), "{context}");
                    } else {
                        assert_eq!(result.version, None, "{context}");
                    }
                }
                Op::DeleteRows { pick, every } => {
                    if !vectors {
                        break 'op;
                    }
                    let snapshot = a.snapshot().await.unwrap();
                    let mut files: Vec<_> = snapshot
                        .files()
                        .filter(|f| f.deletion_vector().is_none())
                        .map(|f| f.to_add())
                        .collect();
                    if files.is_empty() {
                        break 'op;
                    }
                    files.sort_by(|x, y| x.path.cmp(&y.path));
                    let add = files.swap_remove(pick % files.len());
                    let ids = file_ids(&a, &add.path).await;
                    let positions: roaring::RoaringTreemap =
                        (0..ids.len() as u64).step_by(every).collect();
                    let mut next = model.latest();
                    for p in positions.iter() {
                        next.rows.remove(&ids[p as usize]);
                    }
                    let landed = crate::support::deletion_vectors::delete_rows(
                        a.storage(),
                        &snapshot,
                        vec![(add, positions)],
                        crate::support::deletion_vectors::Storage::Uuid,
                    )
                    .await;
                    model.commit(next);
                    assert_eq!(landed.version, model.latest_version(), "step {step}");
                    // The handle learns of the commit made around it on its next read.
                }
                Op::TimeTravel { pick } => {
                    let v = pick % model.versions.len();
                    if !model.readable(v) {
                        break 'op;
                    }
                    check_version(&b, &model, v, &format!("step {step}: time travel")).await;
                }
                Op::AddColumn { name, clash, text } => {
                    let name = model.versions[model.versions.len() - 1].name(name, clash);
                    let kind = if text { Kind::Text } else { Kind::Long };
                    let data_type = match kind {
                        Kind::Long => DataType::LONG,
                        Kind::Text => DataType::STRING,
                    };
                    let result = a
                        .alter()
                        .add_column(NewColumn::new(name, data_type))
                        .execute()
                        .await;
                    let mut next = model.latest();
                    if next.taken(name) {
                        assert!(
                            matches!(result, Err(strata::Error::InvalidArgument(_))),
                            "step {step}: add column {name} again: {result:?}"
                        );
                        break 'op;
                    }
                    let r =
                        result.unwrap_or_else(|e| panic!("step {step}: add column {name}: {e}"));
                    next.columns.push(Column {
                        key: model.take_key(),
                        name: name.to_string(),
                        kind,
                    });
                    model.commit_schema(next);
                    assert!(r.committed, "step {step}: add column {name}");
                    assert_eq!(r.version, model.latest_version(), "step {step}");
                }
                Op::RenameColumn { pick, to, clash } => {
                    let mut next = model.latest();
                    if next.columns.is_empty() {
                        break 'op;
                    }
                    let i = pick % next.columns.len();
                    let (from, to) = (next.columns[i].name.clone(), next.name(to, clash));
                    let result = a.alter().rename_column(&from, to).execute().await;
                    let context = format!("step {step}: rename {from} to {to}");
                    let taken = next
                        .columns
                        .iter()
                        .any(|c| c.name != from && c.name.eq_ignore_ascii_case(to));
                    if taken {
                        assert!(
                            matches!(result, Err(strata::Error::InvalidArgument(_))),
                            "{context}: {result:?}"
                        );
                        break 'op;
                    }
                    let r = result.unwrap_or_else(|e| panic!("{context}: {e}"));
                    // Renaming a column to its own name only turns column mapping on (when off).
                    let changed = from != to || !next.mapped;
                    assert_eq!(r.committed, changed, "{context}");
                    if changed {
                        next.columns[i].name = to.to_string();
                        next.mapped = true;
                        model.commit_schema(next);
                    }
                    assert_eq!(r.version, model.latest_version(), "{context}");
                }
                Op::DropColumn { pick } => {
                    let mut next = model.latest();
                    if next.columns.is_empty() {
                        break 'op;
                    }
                    let i = pick % next.columns.len();
                    let name = next.columns[i].name.clone();
                    let result = a.alter().drop_column(&name).execute().await;
                    if partitioned && next.columns[i].key == COUNTRY_KEY {
                        assert!(
                            matches!(result, Err(strata::Error::NotAllowed { .. })),
                            "step {step}: drop partition column {name}: {result:?}"
                        );
                        break 'op;
                    }
                    let r = result.unwrap_or_else(|e| panic!("step {step}: drop {name}: {e}"));
                    next.columns.remove(i);
                    next.mapped = true;
                    model.commit_schema(next);
                    assert!(r.committed, "step {step}: drop {name}");
                    assert_eq!(r.version, model.latest_version(), "step {step}");
                }
                Op::MergeAppend {
                    rows,
                    name,
                    clash,
                    text,
                    omit,
                    rotate,
                } => {
                    let mut next = model.latest();
                    let name = next.name(name, clash);
                    let evolves = !next.taken(name);
                    if evolves {
                        next.columns.push(Column {
                            key: model.take_key(),
                            name: name.to_string(),
                            kind: if text { Kind::Text } else { Kind::Long },
                        });
                    }
                    let ids = model.take_ids(rows);
                    let mut new = next.new_rows(ids, 0, Some("PT"));
                    // The data may lack a nullable column (not the partition column): null.
                    let mut written = next.columns.clone();
                    let existing = next.columns.len() - usize::from(evolves);
                    if let Some(pick) = omit {
                        let i = pick % existing.max(1);
                        if i < existing && !(partitioned && written[i].key == COUNTRY_KEY) {
                            let gone = written.remove(i);
                            for (_, row) in &mut new {
                                row.remove(&gone.key);
                            }
                        }
                    }
                    let len = written.len();
                    written.rotate_left(rotate % len.max(1));
                    let w = a
                        .write([batch(&written, &new)])
                        .with_schema_mode(SchemaMode::Merge)
                        .execute()
                        .await
                        .unwrap_or_else(|e| panic!("step {step}: append merging {name}: {e}"));
                    next.rows.extend(new);
                    if evolves {
                        model.commit_schema(next);
                    } else {
                        model.commit(next);
                    }
                    assert_eq!(
                        w.version,
                        model.latest_version(),
                        "step {step}: {name} {evolves}"
                    );
                }
            }
        }
        for v in first_new..model.versions.len() {
            check_metadata_commit(&a, &model, v, step).await;
        }
        check_all_versions(&a, &model, step).await;
    }
}

/// Whether the row `id` is in `[lo, lo + width)` and satisfies the column condition.
fn selected(
    id: i64,
    row: &Row,
    lo: i64,
    width: i64,
    condition: Option<&(u32, bool, String)>,
) -> bool {
    (lo..lo + width).contains(&id)
        && condition.is_none_or(|(key, is_null, _)| {
            row.get(key).is_none_or(|v| *v == Value::Null) == *is_null
        })
}

fn cases() -> u32 {
    std::env::var("STRATA_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// The most operations in a case: 11, or `STRATA_PROPTEST_OPS` (longer histories, more
/// schema changes between a write and its restore; the checks grow with the square).
fn max_ops() -> usize {
    std::env::var("STRATA_PROPTEST_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(11)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_match_the_model(ops in proptest::collection::vec(op(), 1..=max_ops()), partitioned in any::<bool>(), flavor in 0u8..4, case in any::<u64>()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(ops, partitioned, flavor, case));
    }
}

/// A table with deletion vectors (no column mapping) and one file of rows `0..n`.
async fn vectors_table(n: i64) -> Table {
    let location = format!("memory://model-bug-{}/t", uuid::Uuid::new_v4());
    let table = Table::create(&location)
        .with_arrow_schema(&people_schema())
        .unwrap()
        .with_property("delta.enableDeletionVectors", "true")
        .execute()
        .await
        .unwrap();
    table.append([people(0..n, Some("PT"))]).await.unwrap();
    table
}

async fn delete_where(table: &Table, predicate: &str) {
    table
        .delete()
        .with_predicate(predicate)
        .execute()
        .await
        .unwrap();
}

/// Found by the model: commit 3 removed "F + vector {2}", and a restore made F live again
/// without a vector. Reverting 3 compared files by path and vector, saw no later commit touch
/// "F + {2}" and added it back beside the live F, so F's rows read twice. Files are compared
/// by path now, and the revert is refused.
#[tokio::test]
async fn revert_refuses_to_add_back_a_file_a_restore_made_live_again() {
    let table = vectors_table(3).await; // v1: file F, rows 0..3
    delete_where(&table, "id = 2").await; // v2: F + vector {2}
    delete_where(&table, "id < 2").await; // v3: F + vector removed (every row deleted)
    table.restore_to_version(1).await.unwrap(); // v4: F again, without a vector
    // Reverting v3 would add "F + vector {2}" back beside the live "F".
    let result = table.revert(3).await;
    let mut ids = Vec::new();
    for b in table
        .snapshot()
        .await
        .unwrap()
        .scan()
        .collect()
        .await
        .unwrap()
    {
        ids.extend_from_slice(b.column(0).as_primitive::<Int64Type>().values());
    }
    ids.sort_unstable();
    assert_eq!(ids, [0, 1, 2], "after the revert: {result:?}");
    assert!(
        matches!(result, Err(strata::Error::NotAllowed { .. })),
        "{result:?}"
    );
}

/// Found by the model: a vacuum keeps a data file still live under a newer vector but deletes
/// the vector files only older versions used. Restore checked only the data files, committed,
/// and left the latest version unreadable. It checks the vector files too now.
#[tokio::test]
async fn restore_refuses_when_a_vacuum_deleted_a_deletion_vector_it_needs() {
    let table = vectors_table(4).await; // v1: file F
    delete_where(&table, "id = 0").await; // v2: F + vector A
    delete_where(&table, "id = 1").await; // v3: F + vector B; A is no longer live
    // Zero retention keeps what is not older than now: let A's removal age a little.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    table
        .vacuum()
        .with_retention_ms(0)
        .with_force(true)
        .execute()
        .await
        .unwrap(); // deletes A's file; F stays (live with B)
    let result = table.restore_to_version(2).await;
    assert!(
        matches!(result, Err(strata::Error::NotAllowed { .. })),
        "restore to v2 needs vector A: {result:?}"
    );
    // Whatever it answered, the latest version must read.
    table
        .snapshot()
        .await
        .unwrap()
        .scan()
        .collect()
        .await
        .unwrap();
}

/// Found by the model: a restore to a version from before a rename turned column mapping
/// on committed that version's `metaData` as it was, turning mapping off and lowering
/// `maxColumnId`, which Delta forbids. Mapping stays on, the target's columns map to their own
/// names, and the restored version and the next writes read back.
#[tokio::test]
async fn restore_to_before_a_rename_keeps_column_mapping_on() {
    let location = format!("memory://model-bug-{}/t", uuid::Uuid::new_v4());
    let table = Table::create(&location)
        .with_arrow_schema(&people_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    table.append([people(0..3, Some("PT"))]).await.unwrap(); // v1
    let renamed = table
        .alter()
        .rename_column("name", "full_name")
        .execute()
        .await
        .unwrap(); // v2: mapping on
    assert!(renamed.committed);
    table
        .alter()
        .add_column(NewColumn::parse("extra STRING").unwrap())
        .execute()
        .await
        .unwrap(); // v3: a new id
    let before = table.snapshot().await.unwrap();
    let max_before = before.properties()["delta.columnMapping.maxColumnId"].clone();
    table.restore_to_version(1).await.unwrap(); // v4
    let after = table.snapshot().await.unwrap();
    let properties = after.properties();
    assert_eq!(properties["delta.columnMapping.mode"], "name");
    let max_after: i64 = properties["delta.columnMapping.maxColumnId"]
        .parse()
        .unwrap();
    assert!(
        max_after >= max_before.parse::<i64>().unwrap(),
        "{max_after} < {max_before}"
    );
    let names: Vec<String> = after
        .schema()
        .fields
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let original: Vec<String> = people_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, original);
    let rows = |batches: Vec<arrow::array::RecordBatch>| -> usize {
        batches.iter().map(|b| b.num_rows()).sum()
    };
    assert_eq!(rows(after.scan().collect().await.unwrap()), 3);
    // The table keeps working: a rename again, and an append under the restored names.
    table
        .alter()
        .rename_column("name", "label")
        .execute()
        .await
        .unwrap();
    let snapshot = table.snapshot().await.unwrap();
    assert_eq!(rows(snapshot.scan().collect().await.unwrap()), 3);
}
