//! Deletion vectors written as Spark writes them, independently of strata's reader (so a test
//! checks the reader against the format, not against itself): a `RoaringBitmapArray` in its
//! portable form behind the magic number, framed in a DV file (version byte, big-endian size,
//! vector, big-endian CRC-32), and the descriptor that names it.

use roaring::RoaringTreemap;
use strata::actions::{Action, Add, DeletionVectorDescriptor, Remove};
use strata::{Snapshot, Transaction};

/// The magic number before a portable `RoaringBitmapArray`.
const MAGIC: u32 = 1_681_511_377;

/// How a vector is stored, as its descriptor's `storageType` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// In `deletion_vector_<uuid>.bin` beside the data, named by the UUID in Z85 (`u`).
    Uuid,
    /// Inline in the log, in Z85 (`i`).
    Inline,
    /// In a DV file named by its absolute URI (`p`).
    Path,
}

/// The vector's bytes: the magic number, then the portable 64-bit Roaring format.
pub fn serialize(rows: &RoaringTreemap) -> Vec<u8> {
    let mut vector = MAGIC.to_le_bytes().to_vec();
    rows.serialize_into(&mut vector)
        .expect("serialize to a Vec");
    vector
}

/// Writes a vector deleting `rows` beside the table's data (for `u` and `p`) and returns its
/// descriptor.
pub async fn write_vector(
    storage: &strata::Storage,
    rows: &RoaringTreemap,
    kind: Storage,
) -> DeletionVectorDescriptor {
    let vector = serialize(rows);
    let uuid = uuid::Uuid::new_v4();
    let file_name = format!("deletion_vector_{uuid}.bin");
    if kind != Storage::Inline {
        let mut file = vec![1u8];
        file.extend_from_slice(&(vector.len() as u32).to_be_bytes());
        file.extend_from_slice(&vector);
        file.extend_from_slice(&crc32fast::hash(&vector).to_be_bytes());
        let path = storage.relative_path(&file_name).expect("DV path");
        storage.put(&path, file).await.expect("write DV file");
    }
    let (storage_type, path_or_inline_dv) = match kind {
        Storage::Uuid => ("u", z85::encode(uuid.as_bytes())),
        Storage::Inline => {
            let mut padded = vector.clone();
            padded.resize(vector.len().div_ceil(4) * 4, 0);
            ("i", z85::encode(&padded))
        }
        Storage::Path => {
            let root = storage.location().trim_end_matches('/');
            let url = if root.contains("://") {
                format!("{root}/{file_name}")
            } else {
                format!("file://{root}/{file_name}")
            };
            ("p", url)
        }
    };
    DeletionVectorDescriptor {
        storage_type: storage_type.into(),
        path_or_inline_dv,
        offset: (kind != Storage::Inline).then_some(1),
        size_in_bytes: vector.len() as i32,
        cardinality: rows.len() as i64,
    }
}

/// Commits, as Spark's `DELETE` does, a vector deleting `rows` on each given live file of
/// `snapshot` (which must not carry a vector yet): the file removed and added back with it.
/// Only for tests that know no other writer races them: it does not retry a conflict.
pub async fn delete_rows(
    storage: &strata::Storage,
    snapshot: &Snapshot,
    deletes: Vec<(Add, RoaringTreemap)>,
    kind: Storage,
) -> strata::CommitResult {
    let mut tx = Transaction::new(snapshot, "DELETE");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    for (add, rows) in deletes {
        let dv = write_vector(storage, &rows, kind).await;
        tx.add_actions([
            Action::Remove(Remove::from_add(&add, now, true)),
            Action::Add(Add {
                deletion_vector: Some(dv),
                ..add
            }),
        ]);
    }
    tx.commit().await.expect("commit the deletion vectors")
}
