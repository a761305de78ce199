//! `replace_where`: the rows a predicate matches replaced in one commit, whole partitions and
//! parts of files alike, by copy-on-write and with deletion vectors; a new row outside the
//! predicate refuses the write with nothing written; the change feed holds exactly the
//! replaced and new rows; other clients read every version.

use strata::{Error, Table};

use crate::deletion_vectors::assert_reads_like_other_clients;
use crate::dml_delete::people_table;
use crate::support::python::changes_with_deltalake;
use crate::support::*;

#[tokio::test]
async fn the_rows_a_predicate_matches_are_replaced_in_one_commit() {
    for properties in [
        vec![],
        vec![("delta.enableDeletionVectors", "true")],
        vec![("delta.enableChangeDataFeed", "true")],
    ] {
        let lake = TempLake::new();
        let table = people_table(&lake, "t", &properties).await;
        let context = format!("{properties:?}");
        // A whole partition: NL's 10 rows become 3.
        let r = table
            .replace_where("country = 'NL'", [people(100..103, Some("NL"))])
            .execute()
            .await
            .unwrap();
        assert_eq!((r.num_deleted_rows, r.num_added_rows), (10, 3), "{context}");
        assert_eq!(r.version, Some(4), "{context}");
        // Part of files: PT ids 5..25 (two files) replaced by 2 rows.
        let r = table
            .replace_where(
                "country = 'PT' AND id >= 5 AND id < 25",
                [people(5..7, Some("PT"))],
            )
            .execute()
            .await
            .unwrap();
        assert_eq!((r.num_deleted_rows, r.num_added_rows), (10, 2), "{context}");
        let mut expected: Vec<i64> = (0..7).chain(25..30).chain(100..103).collect();
        expected.sort_unstable();
        let ids: Vec<i64> = id_set(&table.snapshot().await.unwrap())
            .await
            .into_iter()
            .collect();
        assert_eq!(ids, expected, "{context}");
        // A new row outside the predicate: refused, nothing written or committed.
        let before = table.version().await.unwrap();
        let files = std::fs::read_dir(lake.table_path("t")).unwrap().count();
        let err = table
            .replace_where("country = 'PT'", [people(50..52, Some("NL"))])
            .execute()
            .await
            .unwrap_err();
        match &err {
            Error::InvalidArgument(m) => {
                assert!(
                    m.contains("2 of the new rows") && m.contains("id=50"),
                    "{m}"
                )
            }
            other => panic!("{context}: expected a refusal, got {other}"),
        }
        assert_eq!(table.version().await.unwrap(), before, "{context}");
        assert_eq!(
            std::fs::read_dir(lake.table_path("t")).unwrap().count(),
            files
        );
        let history = table.history(Some(1)).await.unwrap();
        assert_eq!(history[0].operation.as_deref(), Some("WRITE"), "{context}");
        if properties
            .iter()
            .any(|(k, _)| *k == "delta.enableChangeDataFeed")
        {
            let location = lake.table("t");
            let ours = table.changes().from_version(5).collect().await.unwrap();
            let cells: Vec<String> = rendered(&ours)
                .into_iter()
                .map(|r| r.split('|').take(4).collect::<Vec<_>>().join("|"))
                .collect();
            let mut want: Vec<String> = (5..25)
                .filter(|i| !(10..20).contains(i))
                .map(|i| format!("{i}|n{i}|PT|delete"))
                .chain((5..7).map(|i| format!("{i}|n{i}|PT|insert")))
                .collect();
            want.sort();
            assert_eq!(cells, want);
            let theirs = changes_with_deltalake(&location, 0, None);
            let project = |b: &[arrow::array::RecordBatch]| {
                let cols = ["id", "_change_type", "_commit_version"];
                let p: Vec<_> = b
                    .iter()
                    .map(|x| {
                        let idx: Vec<usize> = cols
                            .iter()
                            .map(|c| x.schema().index_of(c).unwrap())
                            .collect();
                        x.project(&idx).unwrap()
                    })
                    .collect();
                rendered(&p)
            };
            let all = table.changes().from_version(0).collect().await.unwrap();
            assert_eq!(project(&all), project(&theirs));
        }
        assert_reads_like_other_clients(&lake.table("t")).await;
    }
}

#[tokio::test]
async fn a_replace_races_like_a_delete() {
    let lake = TempLake::new();
    let table = people_table(&lake, "t", &[]).await;
    let v = table.version().await.unwrap();
    // Guarded by the version the job read: a concurrent append makes it fail, not overwrite.
    table.append([people(40..41, Some("PT"))]).await.unwrap();
    let err = table
        .replace_where("country = 'PT'", [people(0..1, Some("PT"))])
        .with_expected_version(v)
        .execute()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    let again = Table::open(lake.table("t")).await.unwrap();
    let r = again
        .replace_where("country = 'PT'", [people(0..1, Some("PT"))])
        .execute()
        .await
        .unwrap();
    assert_eq!(r.num_deleted_rows, 21);
}
