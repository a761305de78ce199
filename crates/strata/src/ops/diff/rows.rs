//! What changed row by row between two versions (`protocol/PROTOCOL.md#diff`): the rows one
//! version has that the other lacks, as `EXCEPT ALL` both ways would find them, and with a key,
//! which of those are updates.
//!
//! Only the changes are read, never two whole versions. Where the change data feed covers every
//! version between the two, its rows are the changes; otherwise the rows of the data files the
//! two versions do not share (each read with its deletion vector) are, because a shared file
//! holds the same rows on both sides. Either way the rows are *netted*: a row inserted and
//! deleted again, or a file rewritten unchanged by `OPTIMIZE`, cancels out, so what remains is
//! exactly the multiset difference of the two versions. The netting ([`Netting`]) and the
//! pairing of updates by key ([`pair_by_key`]) are pure.
//!
//! Rows are compared in the later version's schema: a column added in between reads as null on
//! the older side, and a column dropped in between is not compared.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{concat, take_record_batch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::row::{OwnedRow, RowConverter, SortField};
use futures::TryStreamExt;

use crate::error::{Error, Result};
use crate::ops::restore::live_files;
use crate::read::changes::{CHANGE_TYPE_COLUMN, ChangesBuilder};
use crate::read::scan::scan_files;
use crate::snapshot::latest::LatestSnapshot;

/// `_change_type` of a row only the later version has.
pub const INSERT: &str = "insert";
/// `_change_type` of a row only the earlier version has.
pub const DELETE: &str = "delete";
/// `_change_type` of the earlier side of an updated row (with a key).
pub const UPDATE_PREIMAGE: &str = "update_preimage";
/// `_change_type` of the later side of an updated row (with a key).
pub const UPDATE_POSTIMAGE: &str = "update_postimage";

/// Rows per output batch.
const BATCH_ROWS: usize = 8192;

/// Where a row diff's changes were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowDiffSource {
    /// The change data feed of the versions in between.
    ChangeDataFeed,
    /// The data files the two versions do not share.
    Files,
}

/// The rows two versions do not share, built by [`Table::diff_rows`](crate::Table::diff_rows).
#[derive(Debug, Clone)]
pub struct RowDiff {
    /// The version compared from.
    pub from: i64,
    /// The version compared to.
    pub to: i64,
    /// Where the changes were read from.
    pub source: RowDiffSource,
    /// Rows in `to` and not in `from` that no key pairs with a deleted row.
    pub inserted: u64,
    /// Rows in `from` and not in `to` that no key pairs with an inserted row.
    pub deleted: u64,
    /// Keys whose one row in `from` became one other row in `to` (0 without a key).
    pub updated: u64,
    /// The table's columns (in `to`'s or `from`'s schema, whichever is later) and
    /// `_change_type`.
    pub schema: SchemaRef,
    /// The changed rows, ordered by key (or by row without one), then deletes before updates
    /// before inserts.
    pub batches: Vec<RecordBatch>,
}

impl RowDiff {
    /// Whether the two versions hold the same rows.
    pub fn is_empty(&self) -> bool {
        self.inserted == 0 && self.deleted == 0 && self.updated == 0
    }
}

/// A row diff request, built by [`Table::diff_rows`](crate::Table::diff_rows).
#[must_use = "a row diff does nothing until executed"]
pub struct RowDiffBuilder {
    latest: LatestSnapshot,
    from: i64,
    to: i64,
    key: Vec<String>,
}

impl RowDiffBuilder {
    pub(crate) fn new(latest: LatestSnapshot, from: i64, to: i64) -> RowDiffBuilder {
        RowDiffBuilder {
            latest,
            from,
            to,
            key: Vec::new(),
        }
    }

    /// Columns identifying a row: a deleted and an inserted row with the same key, when the
    /// key has exactly one of each, are reported as an update (`update_preimage` and
    /// `update_postimage`).
    pub fn with_key<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.key = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Reads the changes between the two versions and nets them.
    ///
    /// # Errors
    /// [`Error::VersionNotFound`] for a version that cannot be read, [`Error::InvalidArgument`]
    /// for a key column the table does not have or a column type rows cannot be compared on,
    /// and errors reading the changed files.
    pub async fn execute(self) -> Result<RowDiff> {
        let (lo, hi) = (self.from.min(self.to), self.from.max(self.to));
        let later = self.latest.at_version(hi).await?;
        self.latest.at_version(lo).await?;
        let table_schema = later.arrow_schema();
        let key = key_indices(&table_schema, &self.key)?;
        let mut netting = Netting::new(&table_schema)?;
        // Inserts between `lo` and `hi` are rows of `to` when diffing forwards, of `from`
        // when backwards.
        let forwards: i64 = if self.from <= self.to { 1 } else { -1 };
        let source = if lo == hi {
            RowDiffSource::Files
        } else {
            match ChangesBuilder::new(self.latest.clone())
                .from_version(lo + 1)
                .to_version(hi)
                .plan()
                .await
            {
                Ok(plan) => {
                    let mut changes = plan.execute()?;
                    while let Some(batch) = changes.try_next().await? {
                        net_change_batch(&mut netting, &batch, forwards)?;
                    }
                    RowDiffSource::ChangeDataFeed
                }
                Err(Error::ChangeDataFeed { .. }) => {
                    let earlier = self.latest.at_version(lo).await?;
                    let (added, removed) =
                        super::diff_files(&live_files(&earlier), &live_files(&later));
                    for (files, sign) in [(removed, -forwards), (added, forwards)] {
                        let mut rows = scan_files(&later, files).execute()?;
                        while let Some(batch) = rows.try_next().await? {
                            netting.add(batch.columns(), sign)?;
                        }
                    }
                    RowDiffSource::Files
                }
                Err(e) => return Err(e),
            }
        };
        let (deleted, inserted) = netting.finish()?;
        let mut diff = pair_by_key(&table_schema, &key, deleted, inserted)?;
        diff.from = self.from;
        diff.to = self.to;
        diff.source = source;
        Ok(diff)
    }
}

/// Positions of the key columns in `schema`.
fn key_indices(schema: &Schema, key: &[String]) -> Result<Vec<usize>> {
    key.iter()
        .map(|name| {
            schema.index_of(name).map_err(|_| {
                let known: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                Error::InvalidArgument(format!(
                    "key column {name:?} is not in the table schema; columns are: {}",
                    known.join(", ")
                ))
            })
        })
        .collect()
}

/// Nets one batch of the change feed: inserts and post-images count up, deletes and
/// pre-images down (the reverse when diffing backwards).
fn net_change_batch(netting: &mut Netting, batch: &RecordBatch, forwards: i64) -> Result<()> {
    let width = netting.width();
    let change = batch
        .column_by_name(CHANGE_TYPE_COLUMN)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| {
            Error::internal(format!("change feed batch without {CHANGE_TYPE_COLUMN}"))
        })?;
    let columns = &batch.columns()[..width];
    for (kind, sign) in [
        (INSERT, forwards),
        (UPDATE_POSTIMAGE, forwards),
        (DELETE, -forwards),
        (UPDATE_PREIMAGE, -forwards),
    ] {
        let selected: Vec<u32> = (0..change.len())
            .filter(|&i| change.is_valid(i) && change.value(i) == kind)
            .map(|i| i as u32)
            .collect();
        if selected.is_empty() {
            continue;
        }
        let indices = UInt32Array::from(selected);
        let taken = columns
            .iter()
            .map(|c| arrow::compute::take(c, &indices, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        netting.add(&taken, sign)?;
    }
    Ok(())
}

/// A multiset of rows under construction: each distinct row with how many more times the
/// later side has it than the earlier. Rows whose count returns to zero are dropped, so memory
/// holds only the rows that differ so far.
pub(crate) struct Netting {
    converter: RowConverter,
    width: usize,
    counts: HashMap<OwnedRow, i64>,
}

impl Netting {
    /// A netting over rows of `schema`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when a column's type cannot be compared row by row.
    pub(crate) fn new(schema: &Schema) -> Result<Netting> {
        let fields = schema
            .fields()
            .iter()
            .map(|f| {
                if RowConverter::supports_fields(&[SortField::new(f.data_type().clone())]) {
                    Ok(SortField::new(f.data_type().clone()))
                } else {
                    Err(Error::InvalidArgument(format!(
                        "column {:?} of type {} cannot be compared row by row",
                        f.name(),
                        f.data_type()
                    )))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Netting {
            converter: RowConverter::new(fields)?,
            width: schema.fields().len(),
            counts: HashMap::new(),
        })
    }

    /// The number of columns a row has.
    pub(crate) fn width(&self) -> usize {
        self.width
    }

    /// Counts each row of `columns` `sign` times (+1 for the later side, -1 for the earlier).
    pub(crate) fn add(&mut self, columns: &[ArrayRef], sign: i64) -> Result<()> {
        let rows = self.converter.convert_columns(&columns[..self.width])?;
        for row in rows.iter() {
            match self.counts.entry(row.owned()) {
                Entry::Occupied(mut entry) => {
                    *entry.get_mut() += sign;
                    if *entry.get() == 0 {
                        entry.remove();
                    }
                }
                Entry::Vacant(entry) => {
                    entry.insert(sign);
                }
            }
        }
        Ok(())
    }

    /// The rows only the earlier side has and those only the later side has, each repeated as
    /// many times as it differs, in row order.
    pub(crate) fn finish(self) -> Result<(Vec<ArrayRef>, Vec<ArrayRef>)> {
        let mut rows: Vec<(OwnedRow, i64)> = self.counts.into_iter().collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let side = |positive: bool| {
            let repeated = rows
                .iter()
                .filter(|(_, n)| (*n > 0) == positive)
                .flat_map(|(row, n)| std::iter::repeat_n(row.row(), n.unsigned_abs() as usize));
            self.converter.convert_rows(repeated)
        };
        Ok((side(false)?, side(true)?))
    }
}

/// The diff of `deleted` and `inserted` rows (columns of `schema`), with rows sharing a key
/// paired into updates when the key has exactly one row on each side. Ordered by key (the
/// whole row without one), then deletes, pre-images, post-images, inserts.
pub(crate) fn pair_by_key(
    schema: &SchemaRef,
    key: &[usize],
    deleted: Vec<ArrayRef>,
    inserted: Vec<ArrayRef>,
) -> Result<RowDiff> {
    let n_deleted = deleted.first().map_or(0, |c| c.len());
    let n_inserted = inserted.first().map_or(0, |c| c.len());
    let columns = deleted
        .iter()
        .zip(&inserted)
        .map(|(d, i)| concat(&[d.as_ref(), i.as_ref()]))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    // Row i < n_deleted is deleted, the rest inserted; ranks order the kinds within a key.
    let mut rank: Vec<u8> = (0..n_deleted + n_inserted)
        .map(|i| if i < n_deleted { 0 } else { 3 })
        .collect();
    let order_columns: Vec<ArrayRef> = if key.is_empty() {
        columns.clone()
    } else {
        key.iter().map(|&k| columns[k].clone()).collect()
    };
    let converter = RowConverter::new(
        order_columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let order_rows = converter.convert_columns(&order_columns)?;
    let mut updated = 0u64;
    if !key.is_empty() {
        let mut by_key: HashMap<arrow::row::Row<'_>, (Vec<usize>, Vec<usize>)> = HashMap::new();
        for i in 0..rank.len() {
            let sides = by_key.entry(order_rows.row(i)).or_default();
            if i < n_deleted {
                sides.0.push(i);
            } else {
                sides.1.push(i);
            }
        }
        for (deletes, inserts) in by_key.values() {
            if let ([d], [i]) = (deletes.as_slice(), inserts.as_slice()) {
                rank[*d] = 1;
                rank[*i] = 2;
                updated += 1;
            }
        }
    }
    let mut order: Vec<usize> = (0..rank.len()).collect();
    order.sort_by(|&a, &b| {
        order_rows
            .row(a)
            .cmp(&order_rows.row(b))
            .then(rank[a].cmp(&rank[b]))
    });
    let change: StringArray = order
        .iter()
        .map(|&i| Some([DELETE, UPDATE_PREIMAGE, UPDATE_POSTIMAGE, INSERT][rank[i] as usize]))
        .collect();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(
        CHANGE_TYPE_COLUMN,
        arrow::datatypes::DataType::Utf8,
        false,
    ));
    let output = Arc::new(Schema::new(fields));
    let unsorted = RecordBatch::try_new_with_options(
        Arc::new(Schema::new(schema.fields().clone())),
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(rank.len())),
    )?;
    let indices = UInt32Array::from_iter_values(order.iter().map(|&i| i as u32));
    let sorted = take_record_batch(&unsorted, &indices)?;
    let mut all = sorted.columns().to_vec();
    all.push(Arc::new(change));
    let batch = RecordBatch::try_new_with_options(
        output.clone(),
        all,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(rank.len())),
    )?;
    let batches = (0..batch.num_rows())
        .step_by(BATCH_ROWS)
        .map(|start| batch.slice(start, BATCH_ROWS.min(batch.num_rows() - start)))
        .collect();
    Ok(RowDiff {
        from: 0,
        to: 0,
        source: RowDiffSource::Files,
        inserted: n_inserted as u64 - updated,
        deleted: n_deleted as u64 - updated,
        updated,
        schema: output,
        batches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::DataType;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("v", DataType::Utf8, true),
        ]))
    }

    fn rows(data: &[(i64, &str)]) -> Vec<ArrayRef> {
        vec![
            Arc::new(Int64Array::from_iter_values(data.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(data.iter().map(|r| r.1))),
        ]
    }

    fn render(diff: &RowDiff) -> Vec<String> {
        let mut out = Vec::new();
        for batch in &diff.batches {
            let id = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            let v = batch
                .column(1)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            let c = batch
                .column(2)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            for i in 0..batch.num_rows() {
                out.push(format!("{} {} {}", c.value(i), id.value(i), v.value(i)));
            }
        }
        out
    }

    fn diff(before: &[(i64, &str)], after: &[(i64, &str)], key: &[usize]) -> RowDiff {
        let mut netting = Netting::new(&schema()).unwrap();
        netting.add(&rows(before), -1).unwrap();
        netting.add(&rows(after), 1).unwrap();
        let (deleted, inserted) = netting.finish().unwrap();
        pair_by_key(&schema(), key, deleted, inserted).unwrap()
    }

    #[test]
    fn shared_rows_cancel_and_duplicates_count() {
        let d = diff(
            &[(1, "a"), (2, "b"), (2, "b"), (3, "c")],
            &[(3, "c"), (2, "b"), (4, "d"), (4, "d"), (1, "a")],
            &[],
        );
        assert_eq!(render(&d), ["delete 2 b", "insert 4 d", "insert 4 d"]);
        assert_eq!((d.inserted, d.deleted, d.updated), (2, 1, 0));
    }

    #[test]
    fn a_key_pairs_one_delete_with_one_insert() {
        let d = diff(
            &[(1, "a"), (2, "b"), (3, "c"), (5, "x"), (5, "y")],
            &[(1, "a"), (2, "B"), (4, "d"), (5, "z")],
            &[0],
        );
        assert_eq!(
            render(&d),
            [
                "update_preimage 2 b",
                "update_postimage 2 B",
                "delete 3 c",
                "insert 4 d",
                // Key 5 had two rows and now one: not an update, which one changed is unknown.
                "delete 5 x",
                "delete 5 y",
                "insert 5 z",
            ]
        );
        assert_eq!((d.inserted, d.deleted, d.updated), (2, 3, 1));
    }

    #[test]
    fn identical_sides_are_empty() {
        let d = diff(&[(1, "a"), (1, "a")], &[(1, "a"), (1, "a")], &[0]);
        assert!(d.is_empty());
        assert!(d.batches.is_empty());
    }

    #[test]
    fn unknown_key_is_refused_by_name() {
        let err = key_indices(&schema(), &["nope".into()]).unwrap_err();
        assert!(err.to_string().contains("\"nope\""), "{err}");
    }
}
