//! Splitting written rows by partition (`protocol/PROTOCOL.md#partitions`): each group of
//! rows with the same partition values, the values serialized as the log stores them.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::error::ArrowError;
use arrow::row::{RowConverter, SortField};

use crate::protocol::partition::{
    PartitionError, PartitionValues, is_supported, serialize_value, unsupported,
};

/// Split a batch by the distinct values of `partition_columns`.
///
/// Each group carries the serialized values (in `partition_columns` order, as
/// [`serialize_value`] produces them) and the rows of the group with the
/// partition columns removed. Groups are ordered by first appearance; rows whose
/// values serialize identically (e.g. null and empty string) share a group. An
/// empty batch gives no groups. A single-valued batch is returned without
/// copying; clustered input is sliced; otherwise rows are grouped with arrow's
/// row format and gathered with `take`.
pub fn split_by_partition(
    batch: &RecordBatch,
    partition_columns: &[String],
) -> Result<Vec<(PartitionValues, RecordBatch)>, PartitionError> {
    let schema = batch.schema();
    let mut part_indices = Vec::with_capacity(partition_columns.len());
    for name in partition_columns {
        let index = schema
            .index_of(name)
            .map_err(|_| PartitionError::MissingColumn(name.clone()))?;
        let data_type = schema.field(index).data_type();
        if !is_supported(data_type) {
            return Err(unsupported(data_type));
        }
        part_indices.push(index);
    }
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|i| !part_indices.contains(i))
        .collect();
    let data = batch.project(&keep)?;
    let num_rows = batch.num_rows();
    if num_rows == 0 {
        return Ok(Vec::new());
    }
    if part_indices.is_empty() {
        return Ok(vec![(Vec::new(), data)]);
    }
    let columns: Vec<ArrayRef> = part_indices
        .iter()
        .map(|&i| Arc::clone(batch.column(i)))
        .collect();
    let key_at = |row: usize| -> Result<PartitionValues, PartitionError> {
        columns
            .iter()
            .map(|c| serialize_value(c.as_ref(), row))
            .collect()
    };

    // Runs of equal consecutive rows, found with a vectorised kernel. Few runs
    // (sorted/clustered input, or a single value) means slicing is cheapest.
    if let Ok(runs) = arrow::compute::partition(&columns)
        && runs.len() <= (num_rows / 16).max(1)
    {
        let runs = runs.ranges();
        if let [_] = runs.as_slice() {
            return Ok(vec![(key_at(0)?, data)]);
        }
        let mut groups: Vec<(PartitionValues, Vec<Range<usize>>)> = Vec::new();
        let mut by_key: HashMap<PartitionValues, usize> = HashMap::new();
        for run in runs {
            let key = key_at(run.start)?;
            match by_key.get(&key).and_then(|&g| groups.get_mut(g)) {
                Some(group) => group.1.push(run),
                None => {
                    by_key.insert(key.clone(), groups.len());
                    groups.push((key, vec![run]));
                }
            }
        }
        return groups
            .into_iter()
            .map(|(key, runs)| {
                let rows = match runs.as_slice() {
                    [run] => data.slice(run.start, run.len()),
                    _ => {
                        let indices: UInt32Array = runs
                            .into_iter()
                            .flatten()
                            .map(row_index)
                            .collect::<Result<_, _>>()?;
                        take_rows(&data, &indices)?
                    }
                };
                Ok((key, rows))
            })
            .collect();
    }

    // General case: hash each row's binary row-format key.
    let converter = RowConverter::new(
        columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&columns)?;
    let mut distinct: HashMap<arrow::row::Row<'_>, usize> = HashMap::new();
    let mut first_rows: Vec<usize> = Vec::new();
    let mut row_groups: Vec<usize> = Vec::with_capacity(num_rows);
    for i in 0..num_rows {
        let next = first_rows.len();
        let g = *distinct.entry(rows.row(i)).or_insert_with(|| {
            first_rows.push(i);
            next
        });
        row_groups.push(g);
    }
    // Merge distinct rows whose serialized values coincide (null vs "", NaNs).
    let mut keys: Vec<PartitionValues> = Vec::new();
    let mut by_key: HashMap<PartitionValues, usize> = HashMap::new();
    let mut final_group: Vec<usize> = Vec::with_capacity(first_rows.len());
    for &row in &first_rows {
        let key = key_at(row)?;
        let g = match by_key.get(&key) {
            Some(&g) => g,
            None => {
                by_key.insert(key.clone(), keys.len());
                keys.push(key);
                keys.len() - 1
            }
        };
        final_group.push(g);
    }
    if keys.len() == 1 {
        return Ok(keys.into_iter().map(|k| (k, data.clone())).collect());
    }
    let mut indices: Vec<Vec<u32>> = vec![Vec::new(); keys.len()];
    for (row, g) in row_groups.into_iter().enumerate() {
        if let Some(list) = final_group.get(g).and_then(|&f| indices.get_mut(f)) {
            list.push(row_index(row)?);
        }
    }
    keys.into_iter()
        .zip(indices)
        .map(|(key, idx)| Ok((key, take_rows(&data, &UInt32Array::from(idx))?)))
        .collect()
}

/// `take_record_batch`, keeping the row count of a batch with no columns (a table whose
/// every column is a partition column writes files of row counts only).
fn take_rows(data: &RecordBatch, indices: &UInt32Array) -> Result<RecordBatch, ArrowError> {
    if data.num_columns() > 0 {
        return take_record_batch(data, indices);
    }
    RecordBatch::try_new_with_options(
        data.schema(),
        Vec::new(),
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(indices.len())),
    )
}

fn row_index(row: usize) -> Result<u32, PartitionError> {
    u32::try_from(row).map_err(|_| {
        PartitionError::Arrow(ArrowError::ComputeError(
            "record batch too large to split (more than u32::MAX rows)".to_string(),
        ))
    })
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    use super::*;
    use crate::protocol::partition::partition_dir;

    fn split_batch(
        n: usize,
        key: impl Fn(usize) -> (Option<&'static str>, Option<i32>),
    ) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("country", DataType::Utf8, true),
            Field::new("year", DataType::Int32, true),
        ]));
        let keys: Vec<_> = (0..n).map(key).collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..n as i64)),
                Arc::new(StringArray::from(
                    keys.iter().map(|k| k.0).collect::<Vec<_>>(),
                )),
                Arc::new(Int32Array::from(
                    keys.iter().map(|k| k.1).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    fn ids(batch: &RecordBatch) -> Vec<i64> {
        batch
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec()
    }

    fn parts() -> Vec<String> {
        vec!["country".to_string(), "year".to_string()]
    }

    #[test]
    fn split_two_columns_with_nulls() {
        // Interleaved keys (hash path), with null and empty string sharing a group.
        let keys = [
            (Some("PT"), Some(2024)),
            (None, Some(2024)),
            (Some("PT"), None),
            (Some(""), Some(2024)),
            (Some("PT"), Some(2024)),
        ];
        let batch = split_batch(5, |i| keys[i]);
        let groups = split_by_partition(&batch, &parts()).unwrap();
        let summary: Vec<_> = groups.iter().map(|(k, b)| (k.clone(), ids(b))).collect();
        assert_eq!(
            summary,
            vec![
                (
                    vec![Some("PT".to_string()), Some("2024".to_string())],
                    vec![0, 4]
                ),
                (vec![None, Some("2024".to_string())], vec![1, 3]),
                (vec![Some("PT".to_string()), None], vec![2]),
            ]
        );
        for (_, b) in &groups {
            assert_eq!(b.num_columns(), 1);
            assert_eq!(b.schema().field(0).name(), "id");
        }
        let dirs: Vec<_> = groups
            .iter()
            .map(|(k, _)| partition_dir(&parts(), k))
            .collect();
        assert_eq!(dirs[1], "country=__HIVE_DEFAULT_PARTITION__/year=2024");
    }

    #[test]
    fn split_clustered_input_slices() {
        // 1000 rows in 3 runs, with the first key reappearing at the end.
        let batch = split_batch(1000, |i| match i {
            0..400 => (Some("A"), Some(1)),
            400..900 => (Some("B"), Some(1)),
            _ => (Some("A"), Some(1)),
        });
        let groups = split_by_partition(&batch, &parts()).unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(
            groups[0].0,
            vec![Some("A".to_string()), Some("1".to_string())]
        );
        assert_eq!(
            ids(&groups[0].1),
            (0..400).chain(900..1000).collect::<Vec<_>>()
        );
        assert_eq!(ids(&groups[1].1), (400..900).collect::<Vec<_>>());
    }

    #[test]
    fn split_single_value_does_not_copy() {
        let batch = split_batch(10_000, |_| (Some("PT"), None));
        let groups = split_by_partition(&batch, &parts()).unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].0, vec![Some("PT".to_string()), None]);
        let out = groups[0].1.column(0).to_data();
        let input = batch.column(0).to_data();
        assert_eq!(out.buffers()[0].as_ptr(), input.buffers()[0].as_ptr());
    }

    #[test]
    fn split_many_rows_hash_path() {
        let n = 200_000;
        let countries = ["PT", "ES", "FR"];
        let batch = split_batch(n, |i| (Some(countries[i % 3]), Some((i % 7) as i32)));
        let groups = split_by_partition(&batch, &parts()).unwrap();
        assert_eq!(groups.len(), 21);
        assert_eq!(groups.iter().map(|(_, b)| b.num_rows()).sum::<usize>(), n);
        for (key, b) in &groups {
            let first = ids(b)[0] as usize;
            assert_eq!(key[0].as_deref(), Some(countries[first % 3]));
            assert!(ids(b).iter().all(|&id| id as usize % 21 == first % 21));
        }
        assert_eq!(ids(&groups[0].1)[..3], [0, 21, 42]);
    }

    #[test]
    fn split_edge_cases() {
        let batch = split_batch(3, |_| (Some("x"), Some(1)));
        let err = split_by_partition(&batch, &["nope".to_string()]).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        assert!(matches!(err, PartitionError::MissingColumn(_)));
        assert!(
            split_by_partition(&batch.slice(0, 0), &parts())
                .unwrap()
                .is_empty()
        );
        let all =
            split_by_partition(&batch, &["id".into(), "country".into(), "year".into()]).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].1.num_columns(), 0);
        assert_eq!(all[0].1.num_rows(), 1);
        let none = split_by_partition(&batch, &[]).unwrap();
        assert_eq!(none.len(), 1);
        assert_eq!(none[0].1.num_columns(), 3);
        // Sliced input.
        let sliced = split_batch(10, |i| (Some(if i < 5 { "a" } else { "b" }), None)).slice(3, 4);
        let groups = split_by_partition(&sliced, &parts()).unwrap();
        assert_eq!(
            groups.iter().map(|(_, b)| ids(b)).collect::<Vec<_>>(),
            vec![vec![3, 4], vec![5, 6]]
        );
    }
}
