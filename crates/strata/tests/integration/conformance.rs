//! One conformance suite, every store: the same scenarios on in-memory, local disk and a real
//! S3-compatible server (moto on 127.0.0.1, started by the tests; `--features s3`).
//!
//! Each scenario takes a function that opens a [`Storage`] for a fresh table, so it exercises
//! exactly the paths a user's table on that store would: listing, put-if-absent commits,
//! ranged Parquet reads, keys with partition escapes.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use strata::{Error, Storage, Table};

use crate::support::*;

/// Opens a fresh, empty table location on one kind of store.
type StoreFactory = fn(&str) -> Storage;

fn memory(name: &str) -> Storage {
    Storage::open(
        &format!("memory://conformance-{}/{name}", uuid::Uuid::new_v4()),
        &HashMap::new(),
    )
    .unwrap()
}

/// Local tables live under cargo's per-target temp dir (removed by `cargo clean`), since the
/// scenario outlives any one handle.
fn local(name: &str) -> Storage {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("conformance-{}", uuid::Uuid::new_v4()));
    Storage::open(dir.join(name).to_str().unwrap(), &HashMap::new()).unwrap()
}

#[cfg(feature = "s3")]
fn s3(name: &str) -> Storage {
    let server = crate::support::s3::s3_server();
    Storage::open(&server.location(name), &server.options()).unwrap()
}

async fn create(storage: Storage, partitioned: bool) -> Table {
    let mut builder = Table::create(storage.location())
        .with_storage(storage)
        .with_arrow_schema(&people_schema())
        .unwrap();
    if partitioned {
        builder = builder.with_partition_columns(["country"]);
    }
    builder.execute().await.unwrap()
}

/// Create, append, overwrite, time travel, reopen.
async fn lifecycle(store: StoreFactory) {
    let storage = store("lifecycle");
    let table = create(storage.clone(), true).await;
    table.append([people(0..3, Some("PT"))]).await.unwrap();
    table
        .append([people(3..5, Some("NL")), people(5..6, None)])
        .await
        .unwrap();
    table.overwrite([people(10..12, Some("ES"))]).await.unwrap();
    let reopened = Table::open_storage(storage).await.unwrap();
    assert_eq!(reopened.version().await.unwrap(), 3);
    assert_eq!(ids_at(&reopened, 1).await, vec![0, 1, 2]);
    assert_eq!(ids_at(&reopened, 2).await, (0..6).collect::<Vec<_>>());
    assert_eq!(ids_at(&reopened, 3).await, vec![10, 11]);
    let err = reopened.snapshot_at_version(4).await.unwrap_err();
    assert!(
        matches!(err, Error::VersionNotFound { latest: 3, .. }),
        "{err}"
    );
}

/// Partition values whose escaped directory names contain `%`, `=`, spaces and non-ASCII:
/// the object keys must round-trip exactly on every store.
async fn escaped_keys(store: StoreFactory) {
    let storage = store("escaped");
    let table = create(storage.clone(), true).await;
    let countries = [
        Some("a b"),
        Some("x=y"),
        Some("100%"),
        Some("ü/ß"),
        Some("a:b#c"),
        None,
    ];
    let batch = RecordBatch::try_new(
        people_schema(),
        vec![
            Arc::new(Int64Array::from(
                (0..countries.len() as i64).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(vec![Some("n"); countries.len()])),
            Arc::new(StringArray::from(countries.to_vec())),
        ],
    )
    .unwrap();
    table.append([batch.clone()]).await.unwrap();
    let read = Table::open_storage(storage)
        .await
        .unwrap()
        .snapshot()
        .await
        .unwrap()
        .scan()
        .collect()
        .await
        .unwrap();
    assert_same_rows(&read, &[batch], &people_schema(), "escaped partition keys");
}

/// Writers racing through separate handles: every commit lands once.
async fn racing_writers(store: StoreFactory) {
    let storage = store("racing");
    create(storage.clone(), false).await;
    let mut tasks = Vec::new();
    for writer in 0..4i64 {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            let table = Table::open_storage(storage).await.unwrap();
            for k in 0..5i64 {
                let start = writer * 1000 + k * 10;
                table
                    .append([people(start..start + 2, None)])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let table = Table::open_storage(storage).await.unwrap();
    assert_eq!(table.version().await.unwrap(), 20);
    let all = ids_at(&table, 20).await;
    let want: Vec<i64> = {
        let mut w: Vec<i64> = (0..4)
            .flat_map(|w| (0..5).flat_map(move |k| [w * 1000 + k * 10, w * 1000 + k * 10 + 1]))
            .collect();
        w.sort();
        w
    };
    assert_eq!(all, want);
}

/// The same idempotent write from two handles: applied exactly once.
async fn idempotent_retries(store: StoreFactory) {
    let storage = store("idempotent");
    let a = create(storage.clone(), false).await;
    let b = Table::open_storage(storage).await.unwrap();
    let first = a
        .write([people(0..3, None)])
        .with_txn("etl", 1)
        .execute()
        .await
        .unwrap();
    let second = b
        .write([people(0..3, None)])
        .with_txn("etl", 1)
        .execute()
        .await
        .unwrap();
    assert!(!first.already_applied && second.already_applied);
    assert_eq!(ids_at(&b, b.version().await.unwrap()).await, vec![0, 1, 2]);
}

/// A wider schema and a second table in the same store do not interfere.
async fn two_tables(store: StoreFactory) {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let a = Table::create("a")
        .with_storage(store("two-a"))
        .with_arrow_schema(&schema)
        .unwrap()
        .execute()
        .await
        .unwrap();
    let b = create(store("two-b"), false).await;
    a.append([RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![7]))]).unwrap()])
        .await
        .unwrap();
    assert_eq!(
        (a.version().await.unwrap(), b.version().await.unwrap()),
        (1, 0)
    );
}

macro_rules! conformance {
    ($store:ident) => {
        mod $store {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn lifecycle() {
                super::lifecycle(super::$store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn escaped_keys() {
                super::escaped_keys(super::$store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn racing_writers() {
                super::racing_writers(super::$store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn idempotent_retries() {
                super::idempotent_retries(super::$store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn two_tables() {
                super::two_tables(super::$store).await;
            }
        }
    };
}

conformance!(memory);
conformance!(local);
#[cfg(feature = "s3")]
conformance!(s3);
