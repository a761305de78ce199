//! Clustered tables: strata appends to a table clustered by Spark (the `clustering` feature
//! and the `delta.clustering` domain), and every file it adds has statistics on the clustering
//! columns even where the indexing properties would leave them out; other clients read it.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use strata::actions::{Action, DomainMetadata, Protocol};
use strata::{Table, Transaction};

use crate::support::python::read_with;
use crate::support::*;

#[tokio::test]
async fn appends_to_a_clustered_table_have_statistics_on_its_clustering_columns() {
    let lake = TempLake::new();
    let location = lake.table("t");
    // 40 columns: the default statistics cover the first 32, the clustering column is c39.
    let schema = Arc::new(Schema::new(
        (0..40)
            .map(|i| Field::new(format!("c{i}"), DataType::Int64, true))
            .collect::<Vec<_>>(),
    ));
    let table = Table::create(location.as_str())
        .with_arrow_schema(&schema)
        .unwrap()
        .execute()
        .await
        .unwrap();
    // Cluster it as Spark does (`ALTER TABLE t CLUSTER BY (c39)`).
    let snapshot = table.snapshot().await.unwrap();
    let mut tx = Transaction::new(&snapshot, "CLUSTER BY");
    tx.add_actions([
        Action::Protocol(Protocol {
            min_reader_version: 1,
            min_writer_version: 7,
            reader_features: None,
            writer_features: Some(
                ["appendOnly", "invariants", "domainMetadata", "clustering"]
                    .map(String::from)
                    .to_vec(),
            ),
        }),
        Action::DomainMetadata(DomainMetadata {
            domain: "delta.clustering".into(),
            configuration: r#"{"clusteringColumns":[["c39"]]}"#.into(),
            removed: false,
        }),
    ]);
    tx.commit().await.unwrap();
    let batch = |start: i64| {
        let columns: Vec<ArrayRef> = (0..40)
            .map(|c| {
                Arc::new(Int64Array::from_iter_values(
                    (start..start + 10).map(|i| i * 100 + c),
                )) as ArrayRef
            })
            .collect();
        RecordBatch::try_new(schema.clone(), columns).unwrap()
    };
    table.append([batch(0)]).await.unwrap();
    table.append([batch(10)]).await.unwrap();
    let snapshot = table.snapshot().await.unwrap();
    for file in snapshot.files() {
        let stats: serde_json::Value = serde_json::from_str(file.stats().unwrap()).unwrap();
        let min = stats["minValues"].as_object().unwrap();
        assert!(
            min.contains_key("c39") && min.contains_key("c31"),
            "{stats}"
        );
        assert!(!min.contains_key("c32"), "{stats}");
        assert!(file.to_add().clustering_provider.is_none());
    }
    // The clustering column prunes.
    let plan = snapshot
        .scan()
        .with_filter("c39 >= 1039")
        .plan()
        .await
        .unwrap();
    assert_eq!(plan.metrics().files_to_read, 1, "{:?}", plan.metrics());
    let ours = snapshot.scan().collect().await.unwrap();
    for client in ["duckdb", "deltalake"] {
        assert_same_rows(&ours, &read_with(client, &location, None), &schema, client);
    }
}
