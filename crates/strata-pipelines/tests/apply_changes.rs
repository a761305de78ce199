//! apply_changes: a CDC stream applied as SCD type 1 and type 2, with changes arriving out of
//! order across runs, against hand-computed histories.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use strata::Table;
use strata_pipelines::{ApplyChanges, Flow, Lake, ReadMode, Sink};

fn cdc_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("city", DataType::Utf8, true),
        Field::new("op", DataType::Utf8, false),
        Field::new("seq", DataType::Int64, false),
    ]))
}

/// CDC records `(id, name, city, op, seq)`.
fn cdc(rows: &[(i64, &str, &str, &str, i64)]) -> RecordBatch {
    let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
    RecordBatch::try_new(
        cdc_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from(
                rows.iter().map(|r| text(r.1)).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| text(r.2)).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.4))),
        ],
    )
    .unwrap()
}

fn flow(name: &str, target: &str, spec: ApplyChanges) -> Flow {
    Flow::new(name, target)
        .source("bronze.customers_cdc", ReadMode::Appends)
        .transform(|input| Ok(input.rows("bronze.customers_cdc").to_vec()))
        .sink(Sink::ApplyChanges(spec))
}

/// Every row as `col=value` text joined by spaces, sorted.
async fn rendered(table: &Table) -> Vec<String> {
    let snapshot = table.snapshot().await.unwrap();
    let options = FormatOptions::default().with_null("null");
    let mut rows = Vec::new();
    for b in snapshot.scan().collect().await.unwrap() {
        let schema = b.schema();
        let formatters: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            let cells: Vec<String> = schema
                .fields()
                .iter()
                .zip(&formatters)
                .map(|(f, v)| format!("{}={}", f.name(), v.value(i)))
                .collect();
            rows.push(cells.join(" "));
        }
    }
    rows.sort();
    rows
}

fn expected(rows: &[&str]) -> Vec<String> {
    let mut rows: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn out_of_order_changes_make_the_hand_computed_scd1_and_scd2_tables() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap());
    let bronze = lake
        .create_table("bronze.customers_cdc")
        .unwrap()
        .with_arrow_schema(&cdc_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    let scd1 = flow(
        "customers_latest",
        "silver.customers",
        ApplyChanges::scd1(&["id"], "seq")
            .delete_when("op = 'DELETE'")
            .except(&["op"]),
    );
    let scd2 = flow(
        "customers_history",
        "silver.customers_history",
        ApplyChanges::scd2(&["id"], "seq")
            .delete_when("op = 'DELETE'")
            .except(&["op"]),
    );

    bronze
        .append([cdc(&[
            (1, "Alice", "Lisbon", "INSERT", 1),
            (2, "Bob", "Porto", "INSERT", 2),
            (1, "Alice", "Madrid", "UPDATE", 5),
            (3, "Carol", "Faro", "INSERT", 3),
        ])])
        .await
        .unwrap();
    scd1.run(&lake).await.unwrap();
    scd2.run(&lake).await.unwrap();
    let latest = lake.table("silver.customers").await.unwrap();
    let history = lake.table("silver.customers_history").await.unwrap();
    assert_eq!(
        rendered(&latest).await,
        expected(&[
            "id=1 name=Alice city=Madrid seq=5",
            "id=2 name=Bob city=Porto seq=2",
            "id=3 name=Carol city=Faro seq=3",
        ])
    );
    assert_eq!(
        rendered(&history).await,
        expected(&[
            "id=1 name=Alice city=Lisbon seq=1 __START_AT=1 __END_AT=5",
            "id=1 name=Alice city=Madrid seq=5 __START_AT=5 __END_AT=null",
            "id=2 name=Bob city=Porto seq=2 __START_AT=2 __END_AT=null",
            "id=3 name=Carol city=Faro seq=3 __START_AT=3 __END_AT=null",
        ])
    );

    // Late changes: an update between two versions, a delete, an update from before the
    // insert, a new key.
    bronze
        .append([cdc(&[
            (1, "Alice", "Paris", "UPDATE", 3),
            (2, "", "", "DELETE", 4),
            (3, "Carol", "Braga", "UPDATE", 2),
            (4, "Dan", "Evora", "INSERT", 6),
        ])])
        .await
        .unwrap();
    scd1.run(&lake).await.unwrap();
    scd2.run(&lake).await.unwrap();
    assert_eq!(
        rendered(&latest).await,
        expected(&[
            "id=1 name=Alice city=Madrid seq=5",
            "id=3 name=Carol city=Faro seq=3",
            "id=4 name=Dan city=Evora seq=6",
        ])
    );

    // A re-insert after the delete, and another late update.
    bronze
        .append([cdc(&[
            (2, "Bob", "Aveiro", "INSERT", 7),
            (1, "Alice", "Rome", "UPDATE", 4),
        ])])
        .await
        .unwrap();
    scd1.run(&lake).await.unwrap();
    scd2.run(&lake).await.unwrap();
    assert_eq!(
        rendered(&latest).await,
        expected(&[
            "id=1 name=Alice city=Madrid seq=5",
            "id=2 name=Bob city=Aveiro seq=7",
            "id=3 name=Carol city=Faro seq=3",
            "id=4 name=Dan city=Evora seq=6",
        ])
    );
    assert_eq!(
        rendered(&history).await,
        expected(&[
            "id=1 name=Alice city=Lisbon seq=1 __START_AT=1 __END_AT=3",
            "id=1 name=Alice city=Paris seq=3 __START_AT=3 __END_AT=4",
            "id=1 name=Alice city=Rome seq=4 __START_AT=4 __END_AT=5",
            "id=1 name=Alice city=Madrid seq=5 __START_AT=5 __END_AT=null",
            "id=2 name=Bob city=Porto seq=2 __START_AT=2 __END_AT=4",
            "id=2 name=Bob city=Aveiro seq=7 __START_AT=7 __END_AT=null",
            "id=3 name=Carol city=Braga seq=2 __START_AT=2 __END_AT=3",
            "id=3 name=Carol city=Faro seq=3 __START_AT=3 __END_AT=null",
            "id=4 name=Dan city=Evora seq=6 __START_AT=6 __END_AT=null",
        ])
    );
    // Nothing new: nothing committed.
    assert!(scd2.run(&lake).await.unwrap().up_to_date);
}
