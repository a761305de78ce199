//! The conflict matrix (`protocol/PROTOCOL.md#conflicts`): every operation, held at the store
//! just before its commit (it has read the table and written its files), against every
//! winning operation another handle commits meanwhile. The held one is then released: it is
//! rebased and committed, or fails with `Error::Conflict`, exactly as the matrix in PROTOCOL.md
//! says, at write-serializable and at serializable isolation; either way no other writer's
//! rows are lost.

use std::sync::Arc;

use object_store::memory::InMemory;
use strata::{Error, Storage, Table};

use crate::support::fault_store::{FaultStore, OpMatch};
use crate::support::*;

/// The operations of the matrix, on a table partitioned by country with ids 0..5 and 5..10
/// in two PT files and 10..15 and 15..20 in two NL files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Blind append of NL rows 100..102.
    Append,
    /// Blind append of PT rows 1..4 (rows the PT operations' predicates match).
    AppendPt,
    /// Overwrite everything.
    Overwrite,
    /// `DELETE WHERE country = 'PT' AND id < 5`.
    DeletePt,
    /// `DELETE WHERE country = 'NL' AND id >= 15`.
    DeleteNl,
    /// `UPDATE SET name = 'u' WHERE country = 'PT' AND id < 5`.
    UpdatePt,
    /// `MERGE` a source row of id 3 (update on match).
    MergePt,
    /// Compaction (both partitions have two files).
    Optimize,
    /// A table property (a metadata change).
    SetProperty,
}

const OPS: [Op; 9] = [
    Op::Append,
    Op::AppendPt,
    Op::Overwrite,
    Op::DeletePt,
    Op::DeleteNl,
    Op::UpdatePt,
    Op::MergePt,
    Op::Optimize,
    Op::SetProperty,
];

async fn run(op: Op, table: &Table) -> strata::Result<()> {
    match op {
        Op::Append => table.append([people(100..102, Some("NL"))]).await.map(drop),
        Op::AppendPt => table.append([people(1..4, Some("PT"))]).await.map(drop),
        Op::Overwrite => table
            .overwrite([people(200..202, Some("PT"))])
            .await
            .map(drop),
        Op::DeletePt => table
            .delete()
            .with_predicate("country = 'PT' AND id < 5")
            .execute()
            .await
            .map(drop),
        Op::DeleteNl => table
            .delete()
            .with_predicate("country = 'NL' AND id >= 15")
            .execute()
            .await
            .map(drop),
        Op::UpdatePt => table
            .update()
            .with_predicate("country = 'PT' AND id < 5")
            .set("name", "'u'")
            .execute()
            .await
            .map(drop),
        Op::MergePt => table
            .merge(people(3..4, Some("PT")), "target.id = source.id")
            .when_matched_update(|c| c.set("name", "'merged'"))
            .execute()
            .await
            .map(drop),
        Op::Optimize => table.optimize().execute().await.map(drop),
        Op::SetProperty => table
            .set_properties([("strata.matrix", "1")])
            .await
            .map(drop),
    }
}

/// Whether `ours`, held before its commit while `winner` commits, conflicts. The matrix of
/// PROTOCOL.md#conflicts.
fn conflicts(ours: Op, winner: Op, serializable: bool) -> bool {
    use Op::*;
    if ours == SetProperty || winner == SetProperty || ours == Overwrite || winner == Overwrite {
        // Metadata changes fail the other side, and are failed by any data change; an
        // overwrite reads the whole table.
        return !(matches!(ours, Append | AppendPt) && winner == Overwrite);
    }
    match ours {
        // A blind append reads nothing: only metadata changes stop it.
        Append | AppendPt => false,
        // Compaction conflicts with whatever removes the files it compacts.
        Optimize => !matches!(winner, Append | AppendPt),
        DeletePt | UpdatePt | MergePt => match winner {
            // A blind append of rows the predicate matches: only at serializable.
            AppendPt => serializable,
            Append | DeleteNl => false,
            // Each of these removes the PT file the operation read and removes.
            DeletePt | UpdatePt | MergePt | Optimize => true,
            Overwrite | SetProperty => true,
        },
        DeleteNl => match winner {
            Append => serializable,
            AppendPt | DeletePt | UpdatePt | MergePt => false,
            DeleteNl | Optimize => true,
            Overwrite | SetProperty => true,
        },
        Overwrite | SetProperty => true,
    }
}

/// A fresh table, and a handle whose commits go through a store that can hold them.
async fn setup(serializable: bool) -> (Table, Table, Arc<FaultStore>) {
    let inner: Arc<dyn object_store::ObjectStore> = Arc::new(InMemory::new());
    let clean = Storage::from_store(inner.clone(), "t", "memory://matrix/t").unwrap();
    let mut create = Table::create("memory://matrix/t")
        .with_storage(clean.clone())
        .with_arrow_schema(&people_schema())
        .unwrap()
        .with_partition_columns(["country"]);
    if serializable {
        create = create.with_property("delta.isolationLevel", "Serializable");
    }
    let table = create.execute().await.unwrap();
    for (ids, country) in [(0..5, "PT"), (5..10, "PT"), (10..15, "NL"), (15..20, "NL")] {
        table.append([people(ids, Some(country))]).await.unwrap();
    }
    let faults = Arc::new(FaultStore::new(inner, vec![]));
    let held = Storage::from_store(faults.clone(), "t", "memory://matrix/t").unwrap();
    let ours = Table::open_storage(held).await.unwrap();
    let winner = Table::open_storage(clean).await.unwrap();
    (ours, winner, faults)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_against_every_winner_conflicts_as_the_matrix_says() {
    let mut wrong = Vec::new();
    for serializable in [false, true] {
        for ours in OPS {
            for winner in OPS {
                let (table, other, faults) = setup(serializable).await;
                let mut hold = faults.hold(OpMatch::commit_put());
                let held = tokio::spawn({
                    let table = table.clone();
                    async move { run(ours, &table).await }
                });
                hold.arrived().await;
                run(winner, &other)
                    .await
                    .unwrap_or_else(|e| panic!("winner {winner:?}: {e}"));
                hold.release();
                let outcome = held.await.unwrap();
                let conflicted = match &outcome {
                    Ok(()) => false,
                    Err(Error::Conflict { .. }) => true,
                    Err(e) => panic!("{ours:?} after {winner:?}: {e}"),
                };
                let expected = conflicts(ours, winner, serializable);
                if conflicted != expected {
                    wrong.push(format!(
                        "serializable {serializable}: {ours:?} held while {winner:?} commits: {}, the matrix says {}",
                        if conflicted { "conflict" } else { "committed" },
                        if expected { "conflict" } else { "committed" },
                    ));
                }
                // Whatever happened, the winner's commit is intact: the latest version reads.
                let snapshot = other.snapshot().await.unwrap();
                assert!(snapshot.version() >= 5);
                scan_rows(&snapshot).await;
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Two deletes writing deletion vectors on the same file conflict (each would replace the
/// file's vector); on different files both commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_vectors_on_one_file_conflict_and_on_two_files_do_not() {
    for (theirs, gone, expected) in [("id = 2", 2, true), ("id = 12", 12, false)] {
        let inner: Arc<dyn object_store::ObjectStore> = Arc::new(InMemory::new());
        let clean = Storage::from_store(inner.clone(), "t", "memory://dv/t").unwrap();
        let table = Table::create("memory://dv/t")
            .with_storage(clean.clone())
            .with_arrow_schema(&people_schema())
            .unwrap()
            .with_property("delta.enableDeletionVectors", "true")
            .execute()
            .await
            .unwrap();
        table.append([people(0..10, Some("PT"))]).await.unwrap();
        table.append([people(10..20, Some("NL"))]).await.unwrap();
        let faults = Arc::new(FaultStore::new(inner, vec![]));
        let ours =
            Table::open_storage(Storage::from_store(faults.clone(), "t", "memory://dv/t").unwrap())
                .await
                .unwrap();
        let mut hold = faults.hold(OpMatch::commit_put());
        let held =
            tokio::spawn(async move { ours.delete().with_predicate("id = 1").execute().await });
        hold.arrived().await;
        let r = table
            .delete()
            .with_predicate(theirs)
            .execute()
            .await
            .unwrap();
        assert_eq!(r.num_deletion_vectors_added, 1);
        hold.release();
        let outcome = held.await.unwrap();
        assert_eq!(
            matches!(outcome, Err(Error::Conflict { .. })),
            expected,
            "{theirs}: {outcome:?}"
        );
        let ids = id_set(&table.snapshot().await.unwrap()).await;
        assert!(!ids.contains(&gone), "the winner's delete is kept");
        assert_eq!(
            ids.contains(&1),
            expected,
            "our delete landed exactly when it did not conflict"
        );
    }
}

/// Two writers of one `(appId, version)` race: the one that loses finds its exact work
/// committed by the winner and reports it already applied (as a rerun would), not a conflict;
/// the data is in the table once. A merge does the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_txn_race_loser_whose_work_the_winner_committed_is_already_applied() {
    for merge in [false, true] {
        let inner: Arc<dyn object_store::ObjectStore> = Arc::new(InMemory::new());
        let clean = Storage::from_store(inner.clone(), "t", "memory://txn/t").unwrap();
        let table = Table::create("memory://txn/t")
            .with_storage(clean)
            .with_arrow_schema(&people_schema())
            .unwrap()
            .execute()
            .await
            .unwrap();
        let faults = Arc::new(FaultStore::new(inner, vec![]));
        let ours = Table::open_storage(
            Storage::from_store(faults.clone(), "t", "memory://txn/t").unwrap(),
        )
        .await
        .unwrap();
        let write = move |t: Table| async move {
            if merge {
                t.merge(people(0..5, Some("PT")), "target.id = source.id")
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .with_txn("nightly", 7)
                    .execute()
                    .await
                    .map(|r| r.already_applied)
            } else {
                t.write([people(0..5, Some("PT"))])
                    .with_txn("nightly", 7)
                    .execute()
                    .await
                    .map(|r| r.already_applied)
            }
        };
        let mut hold = faults.hold(OpMatch::commit_put());
        let held = tokio::spawn(write(ours));
        hold.arrived().await;
        assert!(!write(table.clone()).await.unwrap(), "the winner commits");
        hold.release();
        let loser = held.await.unwrap();
        assert!(
            matches!(loser, Ok(true)),
            "merge {merge}: the loser is already applied: {loser:?}"
        );
        let ids = id_set(&table.snapshot().await.unwrap()).await;
        assert_eq!(ids.len(), 5, "merge {merge}: written once");
        assert_eq!(table.version().await.unwrap(), 1);
    }
}
