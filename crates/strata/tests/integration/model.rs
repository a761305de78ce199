//! Model-based property tests: random operation sequences against a trivial model.
//!
//! The model is the set of row ids at every version plus the latest txn version per appId, the
//! tags, and which versions a vacuum may have made unreadable. Operations include restore,
//! revert (a refusal is allowed; a success must undo exactly that commit's rows), tag, optimize
//! (rows unchanged), a zero-retention vacuum (after which the current and every tagged
//! version must still read identically), `DELETE` by predicate (copy-on-write, or deletion
//! vectors where on) and, on tables with deletion vectors, deleting rows of a file with a vector
//! written as Spark writes it. Each case writes a plain table or one with column mapping (name or
//! id mode) and deletion vectors.
//! After every step, every version of the table must read exactly as the model says, through a
//! handle that may be stale (another handle committed) or freshly reopened. Cases default to
//! 256; `STRATA_PROPTEST_CASES=N` raises them. A failure prints the minimal operation sequence,
//! which replays deterministically (proptest also records its seed under
//! `tests/integration/proptest-regressions/`).

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use proptest::prelude::*;
use strata::{Table, WriteMode};

use crate::support::*;

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
    /// Vacuum with a zero retention (forced): only the current and tagged versions stay
    /// readable.
    Vacuum,
    /// `DELETE WHERE id >= lo AND id < lo + width`, `lo` chosen by `pick` among the live ids
    /// (copy-on-write, or deletion vectors where the table has them on).
    Delete { pick: usize, width: i64 },
    /// Delete every `every`-th row of the live file chosen by `pick` with a deletion vector,
    /// as Spark's `DELETE` does (files that have a vector already are not picked).
    DeleteRows { pick: usize, every: usize },
    /// `UPDATE SET id = id + 1_000_000_000 WHERE id >= lo AND id < lo + width`: the rows move
    /// to new ids (copy-on-write, or a vector plus new files).
    Update { pick: usize, width: i64 },
    /// `MERGE` a source of the live ids in `[lo, lo + width)` and `fresh` new ones on `id`: matched
    /// rows deleted (`delete`) or updated with every source column, the rest inserted.
    Merge {
        pick: usize,
        width: i64,
        fresh: usize,
        delete: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let country = prop_oneof![Just(Some("PT")), Just(Some("NL")), Just(None)];
    prop_oneof![
        4 => (1usize..6, 1usize..3, country).prop_map(|(rows, batches, country)| Op::Append { rows, batches, country }),
        1 => (0usize..4).prop_map(|rows| Op::Overwrite { rows }),
        3 => (0usize..2, 0i64..4, 1usize..4).prop_map(|(app, version, rows)| Op::TxnAppend { app, version, rows }),
        2 => (1usize..4).prop_map(|rows| Op::AppendFromSecondHandle { rows }),
        1 => Just(Op::Reopen),
        1 => any::<usize>().prop_map(|pick| Op::TimeTravel { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Restore { pick }),
        2 => (0usize..3).prop_map(|back| Op::Revert { back }),
        1 => (any::<usize>(), 0usize..3).prop_map(|(pick, name)| Op::Tag { pick, name }),
        1 => Just(Op::Optimize),
        1 => Just(Op::Vacuum),
        2 => (any::<usize>(), 1usize..4).prop_map(|(pick, every)| Op::DeleteRows { pick, every }),
        2 => (any::<usize>(), 1i64..6).prop_map(|(pick, width)| Op::Delete { pick, width }),
        2 => (any::<usize>(), 1i64..6).prop_map(|(pick, width)| Op::Update { pick, width }),
        2 => (any::<usize>(), 1i64..6, 0usize..3, any::<bool>())
            .prop_map(|(pick, width, fresh, delete)| Op::Merge { pick, width, fresh, delete }),
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
/// whatever its physical name: partition columns are not in files).
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

/// The model: row ids at each version, latest txn versions, and the next id to hand out.
#[derive(Default)]
struct Model {
    versions: Vec<BTreeSet<i64>>,
    txns: BTreeMap<String, i64>,
    next_id: i64,
    /// Tag name → version.
    tags: BTreeMap<String, usize>,
    /// Versions whose files a vacuum may have deleted (all but the then-current and tagged).
    vacuumed: BTreeSet<usize>,
}

impl Model {
    fn take_ids(&mut self, n: usize) -> std::ops::Range<i64> {
        let start = self.next_id;
        self.next_id += n as i64;
        start..self.next_id
    }

    fn latest(&self) -> BTreeSet<i64> {
        self.versions.last().cloned().unwrap_or_default()
    }

    fn commit(&mut self, rows: BTreeSet<i64>) {
        self.versions.push(rows);
    }

    fn readable(&self, v: usize) -> bool {
        !self.vacuumed.contains(&v)
    }
}

async fn read_ids(table: &Table, version: i64) -> BTreeSet<i64> {
    let snapshot = table
        .snapshot_at_version(version)
        .await
        .unwrap_or_else(|e| panic!("load v{version}: {e}"));
    assert_eq!(snapshot.version(), version);
    let batches = snapshot
        .scan()
        .with_columns(["id"])
        .collect()
        .await
        .unwrap_or_else(|e| panic!("scan v{version}: {e}"));
    let ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    let set: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(set.len(), ids.len(), "v{version}: duplicate rows");
    set
}

async fn check_all_versions(table: &Table, model: &Model, step: usize) {
    let latest = table.version().await.unwrap();
    assert_eq!(
        latest,
        model.versions.len() as i64 - 1,
        "after step {step}: latest version"
    );
    for (v, want) in model.versions.iter().enumerate() {
        if !model.readable(v) {
            continue;
        }
        assert_eq!(
            &read_ids(table, v as i64).await,
            want,
            "after step {step}: version {v}"
        );
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

async fn run(ops: Vec<Op>, partitioned: bool, flavor: u8, case: u64) {
    let location = format!("memory://model-{case}-{}/t", uuid::Uuid::new_v4());
    let mut create = Table::create(&location)
        .with_arrow_schema(&people_schema())
        .unwrap();
    let properties = flavor_properties(flavor);
    let vectors = properties
        .iter()
        .any(|(k, _)| *k == "delta.enableDeletionVectors");
    for (key, value) in properties {
        create = create.with_property(key, value);
    }
    if partitioned {
        create = create.with_partition_columns(["country"]);
    }
    let mut a = create.execute().await.unwrap();
    let mut b = Table::open(&location).await.unwrap();
    let mut model = Model::default();
    model.commit(BTreeSet::new());
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Append {
                rows,
                batches,
                country,
            } => {
                let ids = model.take_ids(rows);
                let chunk = rows.div_ceil(batches).max(1) as i64;
                let parts: Vec<_> = ids
                    .clone()
                    .step_by(chunk as usize)
                    .map(|s| people(s..(s + chunk).min(ids.end), country))
                    .collect();
                let w = a.append(parts).await.unwrap();
                let mut next = model.latest();
                next.extend(ids);
                model.commit(next);
                assert_eq!(w.version, model.versions.len() as i64 - 1, "step {step}");
            }
            Op::Overwrite { rows } => {
                let ids = model.take_ids(rows);
                let w = a
                    .write([people(ids.clone(), Some("PT"))])
                    .with_mode(WriteMode::Overwrite)
                    .execute()
                    .await
                    .unwrap();
                model.commit(ids.collect());
                assert_eq!(w.version, model.versions.len() as i64 - 1, "step {step}");
            }
            Op::TxnAppend { app, version, rows } => {
                let app = format!("job-{app}");
                let applied = model.txns.get(&app).is_some_and(|v| *v >= version);
                let ids = model.take_ids(rows);
                let w = a
                    .write([people(ids.clone(), None)])
                    .with_txn(&app, version)
                    .execute()
                    .await
                    .unwrap();
                assert_eq!(w.already_applied, applied, "step {step}: {app} v{version}");
                if !applied {
                    let mut next = model.latest();
                    next.extend(ids);
                    model.commit(next);
                    model.txns.insert(app, version);
                }
            }
            Op::AppendFromSecondHandle { rows } => {
                let ids = model.take_ids(rows);
                b.append([people(ids.clone(), Some("NL"))]).await.unwrap();
                let mut next = model.latest();
                next.extend(ids);
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
                        model.commit(model.versions[v].clone());
                        assert_eq!(r.version, model.versions.len() as i64 - 1, "step {step}");
                    }
                    Err(strata::Error::NotAllowed { .. }) if !model.readable(v) => {}
                    Err(e) => panic!("step {step}: restore v{v}: {e}"),
                }
            }
            Op::Revert { back } => {
                let v = (model.versions.len() - 1).saturating_sub(back);
                match a.revert(v as i64).await {
                    Ok(r) => {
                        let (prev, this) = (&model.versions[v - 1], &model.versions[v]);
                        let added: BTreeSet<i64> = this.difference(prev).copied().collect();
                        let removed: BTreeSet<i64> = prev.difference(this).copied().collect();
                        let mut next: BTreeSet<i64> =
                            model.latest().difference(&added).copied().collect();
                        next.extend(removed);
                        model.commit(next);
                        assert_eq!(r.version, model.versions.len() as i64 - 1, "step {step}");
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
                assert_eq!(r.version, model.versions.len() as i64 - 1, "step {step}");
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
            Op::Delete { pick, width } => {
                let live: Vec<i64> = model.latest().into_iter().collect();
                let lo = live.get(pick % live.len().max(1)).copied().unwrap_or(0);
                let predicate = format!("id >= {lo} AND id < {}", lo + width);
                let result = a
                    .delete()
                    .with_predicate(predicate.as_str())
                    .execute()
                    .await
                    .unwrap_or_else(|e| panic!("step {step}: delete {predicate}: {e}"));
                let next: BTreeSet<i64> = model
                    .latest()
                    .into_iter()
                    .filter(|id| !(lo..lo + width).contains(id))
                    .collect();
                let deleted = model.latest().len() - next.len();
                assert_eq!(
                    result.num_deleted_rows, deleted as u64,
                    "step {step}: {predicate}"
                );
                if deleted > 0 {
                    model.commit(next);
                    assert_eq!(
                        result.version,
                        Some(model.versions.len() as i64 - 1),
                        "step {step}: {predicate}"
                    );
                } else {
                    assert_eq!(result.version, None, "step {step}: {predicate}");
                }
            }
            Op::Update { pick, width } => {
                let live: Vec<i64> = model.latest().into_iter().collect();
                let lo = live.get(pick % live.len().max(1)).copied().unwrap_or(0);
                let predicate = format!("id >= {lo} AND id < {}", lo + width);
                let result = a
                    .update()
                    .with_predicate(predicate.as_str())
                    .set("id", "id + 1000000000")
                    .execute()
                    .await
                    .unwrap_or_else(|e| panic!("step {step}: update {predicate}: {e}"));
                let before = model.latest();
                let next: BTreeSet<i64> = before
                    .iter()
                    .map(|&id| {
                        if (lo..lo + width).contains(&id) {
                            id + 1_000_000_000
                        } else {
                            id
                        }
                    })
                    .collect();
                let updated = before
                    .iter()
                    .filter(|id| (lo..lo + width).contains(id))
                    .count();
                assert_eq!(
                    result.num_updated_rows, updated as u64,
                    "step {step}: {predicate}"
                );
                if updated > 0 {
                    model.commit(next);
                    assert_eq!(
                        result.version,
                        Some(model.versions.len() as i64 - 1),
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
                let live: Vec<i64> = model.latest().into_iter().collect();
                let lo = live.get(pick % live.len().max(1)).copied().unwrap_or(0);
                let fresh_ids = model.take_ids(fresh);
                // Live ids of the range (others could collide with ids not issued yet or
                // moved by updates) and fresh ones.
                let source: Vec<_> = live
                    .iter()
                    .filter(|id| (lo..lo + width).contains(*id))
                    .map(|&id| people(id..id + 1, Some("NL")))
                    .chain([people(fresh_ids.clone(), Some("NL"))])
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
                let before = model.latest();
                let mut next = before.clone();
                let (mut matched, mut inserted) = (0u64, 0u64);
                let in_range = live
                    .iter()
                    .copied()
                    .filter(|id| (lo..lo + width).contains(id));
                for id in in_range.chain(fresh_ids) {
                    if before.contains(&id) {
                        matched += 1;
                        if delete {
                            next.remove(&id);
                        }
                    } else {
                        inserted += 1;
                        next.insert(id);
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
                    assert_eq!(
                        result.version,
                        Some(model.versions.len() as i64 - 1),
                        "{context}"
                    );
                } else {
                    assert_eq!(result.version, None, "{context}");
                }
            }
            Op::DeleteRows { pick, every } => {
                if !vectors {
                    continue;
                }
                let snapshot = a.snapshot().await.unwrap();
                let mut files: Vec<_> = snapshot
                    .files()
                    .filter(|f| f.deletion_vector().is_none())
                    .map(|f| f.to_add())
                    .collect();
                if files.is_empty() {
                    continue;
                }
                files.sort_by(|x, y| x.path.cmp(&y.path));
                let add = files.swap_remove(pick % files.len());
                let ids = file_ids(&a, &add.path).await;
                let positions: roaring::RoaringTreemap =
                    (0..ids.len() as u64).step_by(every).collect();
                let mut next = model.latest();
                for p in positions.iter() {
                    next.remove(&ids[p as usize]);
                }
                let landed = crate::support::deletion_vectors::delete_rows(
                    a.storage(),
                    &snapshot,
                    vec![(add, positions)],
                    crate::support::deletion_vectors::Storage::Uuid,
                )
                .await;
                model.commit(next);
                assert_eq!(
                    landed.version,
                    model.versions.len() as i64 - 1,
                    "step {step}"
                );
                // The handle learns of the commit made around it on its next read.
            }
            Op::TimeTravel { pick } => {
                let v = pick % model.versions.len();
                if !model.readable(v) {
                    continue;
                }
                assert_eq!(
                    read_ids(&b, v as i64).await,
                    model.versions[v],
                    "step {step}: time travel to {v}"
                );
            }
        }
        check_all_versions(&a, &model, step).await;
    }
}

fn cases() -> u32 {
    std::env::var("STRATA_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_match_the_model(ops in proptest::collection::vec(op(), 1..8), partitioned in any::<bool>(), flavor in 0u8..4, case in any::<u64>()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(ops, partitioned, flavor, case));
    }
}
