//! Constraints (`protocol/PROTOCOL.md#constraints`): CHECK constraints and column invariants
//! are enforced on every write path (append, overwrite, update, merge, optimize), a violation
//! commits nothing and names the constraint and a row, adding a constraint checks the existing
//! rows first, a constraint strata cannot evaluate refuses writes, and a constraint racing an
//! append of violating rows never leaves a violating row in the table.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use strata::actions::{Action, Metadata};
use strata::{Error, Table, Transaction};

use crate::support::python::read_with;
use crate::support::*;

fn orders(rows: &[(i64, Option<i64>, &str)]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("amount", DataType::Int64, true),
        Field::new("status", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap()
}

async fn orders_table(dir: &std::path::Path) -> (Table, String) {
    let location = dir.join("orders").to_str().unwrap().to_string();
    let table = Table::create(location.as_str())
        .with_arrow_schema(&orders(&[]).schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    table
        .append(vec![orders(&[(1, Some(10), "new"), (2, Some(20), "paid")])])
        .await
        .unwrap();
    (table, location)
}

#[track_caller]
fn assert_violation(result: Result<impl std::fmt::Debug, Error>, constraint: &str) {
    match result {
        Err(Error::ConstraintViolation {
            constraint: found,
            violations,
            sample,
            ..
        }) => {
            assert!(
                found.contains(constraint),
                "expected {constraint}, got {found}"
            );
            assert!(violations >= 1);
            assert!(sample.contains("=>"), "sample names values: {sample}");
        }
        other => panic!("expected a violation of {constraint}, got {other:?}"),
    }
}

#[tokio::test]
async fn check_constraints_hold_on_every_write_path() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = orders_table(dir.path()).await;
    let added = table
        .alter()
        .add_constraint("positive_amount", "amount > 0")
        .add_constraint("known_status", "status IN ('new', 'paid', 'shipped')")
        .execute()
        .await
        .unwrap();
    assert_eq!(added.version, 2);
    assert_eq!(added.operation, "ADD CONSTRAINT");
    assert_eq!(added.rows_checked, 2);
    let snapshot = latest(&location).await;
    assert_eq!(
        (
            snapshot.protocol().min_reader_version,
            snapshot.protocol().min_writer_version
        ),
        (1, 3),
        "CHECK constraints need writer 3"
    );

    // Append: a negative amount, a null amount (null is not true), an unknown status.
    let bad = table
        .append(vec![orders(&[(3, Some(5), "new"), (4, Some(-1), "new")])])
        .await;
    assert_violation(bad, "positive_amount");
    let err = table
        .append(vec![orders(&[(5, None, "new")])])
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("positive_amount")
            && message.contains("amount > 0")
            && message.contains("amount => NULL"),
        "{message}"
    );
    assert_violation(
        table.append(vec![orders(&[(6, Some(1), "lost")])]).await,
        "known_status",
    );
    // Overwrite and a streamed write.
    assert_violation(
        table
            .write(vec![orders(&[(7, Some(-7), "new")])])
            .with_mode(strata::WriteMode::Overwrite)
            .execute()
            .await,
        "positive_amount",
    );
    let stream = futures::stream::iter(vec![
        Ok(orders(&[(8, Some(8), "new")])),
        Ok(orders(&[(9, Some(-9), "new")])),
    ]);
    assert_violation(
        table.write_stream(stream).execute().await,
        "positive_amount",
    );
    // Update and merge.
    assert_violation(
        table
            .update()
            .with_predicate("id = 1")
            .set("amount", "amount - 100")
            .execute()
            .await,
        "positive_amount",
    );
    let source = orders(&[(2, Some(25), "paid"), (10, Some(-10), "new")]);
    assert_violation(
        table
            .merge(source, "target.id = source.id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
            .await,
        "positive_amount",
    );
    assert_eq!(table.version().await.unwrap(), 2, "nothing was committed");

    // Good writes pass, and optimize rewrites them under the constraints.
    table
        .append(vec![orders(&[(3, Some(30), "shipped")])])
        .await
        .unwrap();
    table
        .update()
        .with_predicate("id = 1")
        .set("amount", "amount + 1")
        .execute()
        .await
        .unwrap();
    table.optimize().execute().await.unwrap();
    let rows = rendered_where(&latest(&location).await, "id >= 0").await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    for client in ["duckdb", "deltalake"] {
        let theirs = read_with(client, &location, None);
        assert_eq!(num_rows(&theirs), 3, "{client}");
    }

    // Dropping the constraint lets the row in.
    table
        .alter()
        .drop_constraint("positive_amount")
        .execute()
        .await
        .unwrap();
    table
        .append(vec![orders(&[(4, Some(-1), "new")])])
        .await
        .unwrap();
    let missing = table
        .alter()
        .drop_constraint("positive_amount")
        .execute()
        .await;
    assert!(
        matches!(&missing, Err(Error::InvalidArgument(m)) if m.contains("known_status")),
        "{missing:?}"
    );
}

#[tokio::test]
async fn adding_a_constraint_checks_the_existing_rows_first() {
    let dir = tempfile::tempdir().unwrap();
    let (table, _) = orders_table(dir.path()).await;
    table
        .append(vec![orders(&[(3, Some(-3), "new")])])
        .await
        .unwrap();
    let before = table.version().await.unwrap();
    let err = table
        .alter()
        .add_constraint("positive_amount", "amount > 0")
        .execute()
        .await;
    assert_violation(err, "positive_amount");
    assert_eq!(table.version().await.unwrap(), before);
    // The same through table properties, as Spark's ALTER TABLE … SET TBLPROPERTIES would.
    let err = table
        .set_properties([("delta.constraints.positive_amount", "amount > 0")])
        .await;
    assert_violation(err, "positive_amount");
    table
        .delete()
        .with_predicate("amount <= 0")
        .execute()
        .await
        .unwrap();
    table
        .alter()
        .add_constraint("positive_amount", "amount > 0")
        .execute()
        .await
        .unwrap();
    // Later changes of one ALTER see what earlier ones did: a constraint on a column added
    // or renamed in the same commit binds to the new name; the old name is unknown.
    table
        .alter()
        .add_column(strata::NewColumn::new("note", strata::DataType::STRING))
        .add_constraint("no_note", "note IS NULL")
        .execute()
        .await
        .unwrap();
    let stale = table
        .alter()
        .rename_column("status", "state")
        .add_constraint("known", "status IS NOT NULL")
        .execute()
        .await;
    assert!(matches!(stale, Err(Error::InvalidArgument(_))), "{stale:?}");
    // Names are validated, duplicates refused, and bad SQL refused up front.
    for (name, expr) in [
        ("bad name", "amount > 0"),
        ("positive_amount", "amount > 1"),
        ("liked", "status LIKE 'n%'"),
        ("unknown", "nope > 1"),
    ] {
        let result = table.alter().add_constraint(name, expr).execute().await;
        assert!(
            matches!(result, Err(Error::InvalidArgument(_))),
            "{name}: {result:?}"
        );
    }
}

#[tokio::test]
async fn invariants_and_constraints_from_other_writers_are_enforced_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (table, _) = orders_table(dir.path()).await;
    // An invariant as Spark stores it: JSON text in the field's metadata.
    let snapshot = table.snapshot().await.unwrap();
    let mut schema = snapshot.schema().clone();
    schema.fields[1] = schema.fields[1].clone().with_metadata([(
        "delta.invariants",
        serde_json::Value::String(r#"{"expression":{"expression":"amount < 1000"}}"#.into()),
    )]);
    commit_metadata(&snapshot, |m| m.schema_string = schema.to_json_string()).await;
    let table = Table::open(table.location()).await.unwrap();
    let err = table.append(vec![orders(&[(3, Some(5000), "new")])]).await;
    assert_violation(err, "invariant on column amount");
    table
        .append(vec![orders(&[(3, Some(500), "new")])])
        .await
        .unwrap();

    // A constraint strata cannot evaluate: writes are refused by name, never unchecked.
    let snapshot = table.snapshot().await.unwrap();
    commit_metadata(&snapshot, |m| {
        m.configuration.insert(
            "delta.constraints.pattern".into(),
            "status LIKE 'n%'".into(),
        );
    })
    .await;
    let table = Table::open(table.location()).await.unwrap();
    let err = table
        .append(vec![orders(&[(4, Some(5), "new")])])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedWriterFeatures { features, .. } if features[0].contains("pattern")),
        "{err}"
    );
    // Reading is unaffected.
    assert_eq!(scan_rows(&table.snapshot().await.unwrap()).await, 3);
}

/// Commits a `metaData` edited by `edit`, as another client would.
async fn commit_metadata(snapshot: &strata::Snapshot, edit: impl FnOnce(&mut Metadata)) {
    let mut metadata = snapshot.metadata().clone();
    edit(&mut metadata);
    let mut tx = Transaction::new(snapshot, "SET TBLPROPERTIES");
    tx.add_actions([Action::Metadata(metadata)]);
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_constraint_racing_an_append_of_violating_rows_never_admits_them() {
    for round in 0..8 {
        let dir = tempfile::tempdir().unwrap();
        let (_, location) = orders_table(dir.path()).await;
        let writer = Table::open(&location).await.unwrap();
        let alterer = Table::open(&location).await.unwrap();
        let (appended, altered) = tokio::join!(
            writer.append(vec![orders(&[(3, Some(-3), "new")])]),
            alterer
                .alter()
                .add_constraint("positive_amount", "amount > 0")
                .execute()
        );
        let snapshot = latest(&location).await;
        let has_constraint = snapshot
            .properties()
            .contains_key("delta.constraints.positive_amount");
        let has_bad_row = !rendered_where(&snapshot, "amount < 0").await.is_empty();
        assert!(
            appended.is_ok() != altered.is_ok(),
            "round {round}: exactly one wins: append {appended:?}, alter {altered:?}"
        );
        assert!(
            !(has_constraint && has_bad_row),
            "round {round}: the table holds a row its constraint forbids"
        );
        assert_eq!(has_constraint, altered.is_ok(), "round {round}");
    }
}
