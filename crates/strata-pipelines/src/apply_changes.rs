//! `apply_changes`: a change stream applied to a target by key, in sequence order, as slowly
//! changing dimensions of type 1 or 2 (`protocol/PROTOCOL.md#pipelines`), tolerating changes
//! that arrive out of order.
//!
//! - **Type 1** keeps one row per key: the change with the highest `sequence_by` value wins,
//!   against the other changes of the run and against the row already stored (whose sequence
//!   column is kept); a winning delete removes the row.
//! - **Type 2** keeps every version: rows with `__START_AT` (the sequence value that began it)
//!   and `__END_AT` (the one that ended it; null for the current version). A key's versions are
//!   rebuilt from the stored ones and the new changes, ordered by sequence, so a late change
//!   splits the version it falls into, and a delete ends the version current at it.
//!
//! Either is committed as one merge with the flow's cursors.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray, new_null_array};
use arrow::compute::{concat_batches, interleave};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::row::{OwnedRow, RowConverter, SortField};
use strata::{CommitExtras, Expr, Predicate, Table};

use crate::error::PipelineError;

/// The column of a type 2 version holding the sequence value that began it.
pub const START_AT: &str = "__START_AT";
/// The column of a type 2 version holding the sequence value that ended it (null: current).
pub const END_AT: &str = "__END_AT";
/// The merge source's column saying what to do with a type 1 row.
const OP: &str = "__strata_op";

/// Slowly changing dimension type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScdType {
    /// The latest row per key.
    Type1,
    /// Every version per key, with `__START_AT` / `__END_AT`.
    Type2,
}

/// How a change stream is applied: the target's key, the column ordering changes, which
/// changes are deletes, and columns of the changes not to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyChanges {
    /// The key columns.
    pub keys: Vec<String>,
    /// The column ordering the changes of a key (any orderable type).
    pub sequence_by: String,
    /// A predicate over a change that makes it a delete (`operation = 'DELETE'`).
    pub delete_when: Option<String>,
    /// Columns of the changes that are not stored (the operation column, say).
    pub except: Vec<String>,
    /// Type 1 or 2.
    pub scd: ScdType,
}

impl ApplyChanges {
    /// Type 1 on `keys`, ordered by `sequence_by`.
    pub fn scd1(keys: &[&str], sequence_by: &str) -> ApplyChanges {
        ApplyChanges {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            sequence_by: sequence_by.to_string(),
            delete_when: None,
            except: Vec::new(),
            scd: ScdType::Type1,
        }
    }

    /// Type 2 on `keys`, ordered by `sequence_by`.
    pub fn scd2(keys: &[&str], sequence_by: &str) -> ApplyChanges {
        ApplyChanges {
            scd: ScdType::Type2,
            ..ApplyChanges::scd1(keys, sequence_by)
        }
    }

    /// Changes for which `predicate` is true are deletes.
    pub fn delete_when(mut self, predicate: &str) -> ApplyChanges {
        self.delete_when = Some(predicate.to_string());
        self
    }

    /// Columns of the changes not to store.
    pub fn except(mut self, columns: &[&str]) -> ApplyChanges {
        self.except = columns.iter().map(|c| c.to_string()).collect();
        self
    }

    /// The target's schema for changes of schema `changes`.
    pub(crate) fn target_schema(&self, changes: &Schema) -> Result<SchemaRef, PipelineError> {
        let mut fields: Vec<Field> = changes
            .fields()
            .iter()
            .filter(|f| !self.except.contains(f.name()))
            .map(|f| f.as_ref().clone())
            .collect();
        if self.scd == ScdType::Type2 {
            let sequence = changes.field_with_name(&self.sequence_by)?;
            fields.push(Field::new(START_AT, sequence.data_type().clone(), false));
            fields.push(Field::new(END_AT, sequence.data_type().clone(), true));
        }
        Ok(Arc::new(Schema::new(fields)))
    }

    /// The merge condition on the keys (and, for type 2, the version's start).
    fn on(&self) -> String {
        let mut columns: Vec<&str> = self.keys.iter().map(String::as_str).collect();
        if self.scd == ScdType::Type2 {
            columns.push(START_AT);
        }
        columns
            .iter()
            .map(|k| format!("target.`{k}` = source.`{k}`"))
            .collect::<Vec<_>>()
            .join(" AND ")
    }
}

/// Applies `changes` to `table` in one merge carrying `extras`; returns the version (`None`
/// when already applied) and whether it was.
pub(crate) async fn apply(
    flow: &str,
    table: &Table,
    changes: Vec<RecordBatch>,
    spec: &ApplyChanges,
    extras: CommitExtras,
) -> Result<(i64, bool), PipelineError> {
    let changes: Vec<RecordBatch> = changes.into_iter().filter(|b| b.num_rows() > 0).collect();
    let source = match changes.first() {
        None => Vec::new(),
        Some(first) => {
            let all = concat_batches(&first.schema(), &changes)?;
            match spec.scd {
                ScdType::Type1 => vec![type1_source(flow, &all, spec)?],
                ScdType::Type2 => vec![type2_source(flow, table, &all, spec).await?],
            }
        }
    };
    let mut merge = table.merge(source, spec.on().as_str());
    merge = match spec.scd {
        ScdType::Type1 => {
            let newer = format!(
                "target.`{0}` IS NULL OR source.`{0}` > target.`{0}`",
                spec.sequence_by
            );
            merge
                .when_matched_delete(|c| {
                    c.condition(format!("source.{OP} = 'delete' AND ({newer})").as_str())
                })
                .when_matched_update(|c| {
                    c.all()
                        .condition(format!("source.{OP} = 'upsert' AND ({newer})").as_str())
                })
                .when_not_matched_insert(|c| {
                    c.all()
                        .condition(format!("source.{OP} = 'upsert'").as_str())
                })
        }
        ScdType::Type2 => merge
            .when_matched_update_all()
            .when_not_matched_insert_all(),
    };
    let result = merge.with_commit_extras(extras).execute().await?;
    Ok((result.version.unwrap_or(-1), result.already_applied))
}

/// Which rows of `batch` are deletes.
fn deletes(
    flow: &str,
    batch: &RecordBatch,
    spec: &ApplyChanges,
) -> Result<Vec<bool>, PipelineError> {
    let Some(text) = &spec.delete_when else {
        return Ok(vec![false; batch.num_rows()]);
    };
    let bad = |e: strata::ExprError| PipelineError::BadFlow {
        flow: flow.to_string(),
        reason: format!("apply_changes delete_when {text:?}: {e}"),
    };
    let predicate =
        Predicate::bind(&Expr::parse(text).map_err(bad)?, &batch.schema()).map_err(bad)?;
    let mask: BooleanArray = predicate.evaluate(batch)?;
    Ok((0..mask.len())
        .map(|i| mask.is_valid(i) && mask.value(i))
        .collect())
}

/// Comparable rows of `columns` of `batch` (keys, or the sequence).
fn rows_of(batch: &RecordBatch, columns: &[&str]) -> Result<Vec<OwnedRow>, PipelineError> {
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|c| {
            batch.column_by_name(c).cloned().ok_or_else(|| {
                arrow::error::ArrowError::SchemaError(format!("no column `{c}` in the changes"))
            })
        })
        .collect::<Result<_, _>>()?;
    let converter = RowConverter::new(
        arrays
            .iter()
            .map(|a| SortField::new(a.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&arrays)?;
    Ok(rows.iter().map(|r| r.owned()).collect())
}

/// Type 1: per key, the change with the highest sequence (the last of equals), as the merge
/// source: the stored columns plus what to do.
fn type1_source(
    flow: &str,
    changes: &RecordBatch,
    spec: &ApplyChanges,
) -> Result<RecordBatch, PipelineError> {
    let keys: Vec<&str> = spec.keys.iter().map(String::as_str).collect();
    let key_rows = rows_of(changes, &keys)?;
    let seq_rows = rows_of(changes, &[spec.sequence_by.as_str()])?;
    let is_delete = deletes(flow, changes, spec)?;
    let mut winner: BTreeMap<&OwnedRow, usize> = BTreeMap::new();
    for (i, key) in key_rows.iter().enumerate() {
        match winner.get(key) {
            Some(&w) if seq_rows[w] > seq_rows[i] => {}
            _ => {
                winner.insert(key, i);
            }
        }
    }
    let picks: Vec<u32> = winner.values().map(|&i| i as u32).collect();
    let target = spec.target_schema(&changes.schema())?;
    let indices = arrow::array::UInt32Array::from(picks.clone());
    let mut columns: Vec<ArrayRef> = target
        .fields()
        .iter()
        .map(|f| {
            let column = changes
                .column_by_name(f.name())
                .expect("target columns come from the changes");
            arrow::compute::take(column, &indices, None)
        })
        .collect::<Result<_, _>>()?;
    let mut fields: Vec<Field> = target.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(OP, arrow::datatypes::DataType::Utf8, false));
    columns.push(Arc::new(StringArray::from_iter_values(picks.iter().map(
        |&i| {
            if is_delete[i as usize] {
                "delete"
            } else {
                "upsert"
            }
        },
    ))));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// One event of a key's history: a version starting, or a delete ending one.
struct Event {
    sequence: OwnedRow,
    /// (batch, row) of the sequence value: 0 = stored versions' `__START_AT`, 1 = stored
    /// versions' `__END_AT`, 2 = the changes' sequence column.
    at: (usize, usize),
    /// (batch, row) of the version's columns (0 = stored, 1 = changes); `None` for a delete.
    row: Option<(usize, usize)>,
}

/// Type 2: every version of each changed key, rebuilt from the stored versions and the
/// changes, as the merge source (merged on the keys and `__START_AT`).
async fn type2_source(
    flow: &str,
    table: &Table,
    changes: &RecordBatch,
    spec: &ApplyChanges,
) -> Result<RecordBatch, PipelineError> {
    let target = spec.target_schema(&changes.schema())?;
    let content: Vec<String> = target
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != START_AT && n != END_AT)
        .collect();
    let stored = stored_versions(table, changes, spec, &target).await?;
    let keys: Vec<&str> = spec.keys.iter().map(String::as_str).collect();
    let is_delete = deletes(flow, changes, spec)?;

    // The stored versions' sequence values and the changes', in one comparable encoding.
    let starts = stored
        .column_by_name(START_AT)
        .expect("type 2 target")
        .clone();
    let ends = stored
        .column_by_name(END_AT)
        .expect("type 2 target")
        .clone();
    let sequence = changes
        .column_by_name(&spec.sequence_by)
        .ok_or_else(|| {
            arrow::error::ArrowError::SchemaError(format!(
                "no column `{}` in the changes",
                spec.sequence_by
            ))
        })?
        .clone();
    let converter = RowConverter::new(vec![SortField::new(sequence.data_type().clone())])?;
    let encode = |a: &ArrayRef| -> Result<Vec<Option<OwnedRow>>, PipelineError> {
        let rows = converter.convert_columns(std::slice::from_ref(a))?;
        Ok((0..a.len())
            .map(|i| a.is_valid(i).then(|| rows.row(i).owned()))
            .collect())
    };
    let (start_rows, end_rows, seq_rows) = (encode(&starts)?, encode(&ends)?, encode(&sequence)?);

    let mut histories: BTreeMap<OwnedRow, Vec<Event>> = BTreeMap::new();
    for (i, key) in rows_of(&stored, &keys)?.into_iter().enumerate() {
        let events = histories.entry(key).or_default();
        if let Some(start) = &start_rows[i] {
            events.push(Event {
                sequence: start.clone(),
                at: (0, i),
                row: Some((0, i)),
            });
        }
        if let Some(end) = &end_rows[i] {
            events.push(Event {
                sequence: end.clone(),
                at: (1, i),
                row: None,
            });
        }
    }
    for (i, key) in rows_of(changes, &keys)?.into_iter().enumerate() {
        let Some(sequence) = seq_rows[i].clone() else {
            continue; // a change without a sequence cannot be placed
        };
        histories.entry(key).or_default().push(Event {
            sequence,
            at: (2, i),
            row: (!is_delete[i]).then_some((1, i)),
        });
    }

    // Per key: events by sequence; a later event of one sequence replaces an earlier one (the
    // changes come after the stored versions); an end that another version starts at is no
    // delete.
    let mut rows: Vec<(usize, usize)> = Vec::new();
    let mut start_picks: Vec<(usize, usize)> = Vec::new();
    let mut end_picks: Vec<(usize, usize)> = Vec::new();
    for (_, mut events) in histories {
        events.sort_by(|a, b| a.sequence.cmp(&b.sequence));
        let mut merged: Vec<Event> = Vec::new();
        for event in events {
            match merged.last_mut() {
                Some(last) if last.sequence == event.sequence => {
                    // At one point a version start beats an end or a delete (so no stored
                    // version ever disappears); between two starts the later (a change over a
                    // stored version) wins.
                    if !(last.row.is_some() && event.row.is_none()) {
                        *last = event;
                    }
                }
                _ => merged.push(event),
            }
        }
        for (j, event) in merged.iter().enumerate() {
            let Some(row) = event.row else { continue };
            rows.push(row);
            start_picks.push(event.at);
            end_picks.push(merged.get(j + 1).map_or((3, 0), |next| next.at));
        }
    }

    let sources = [&stored, changes];
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(target.fields().len());
    for name in &content {
        let arrays: Vec<&dyn Array> = sources
            .iter()
            .map(|b| b.column_by_name(name).expect("content columns").as_ref())
            .collect();
        columns.push(interleave(&arrays, &rows)?);
    }
    let null = new_null_array(sequence.data_type(), 1);
    let points: [&dyn Array; 4] = [
        starts.as_ref(),
        ends.as_ref(),
        sequence.as_ref(),
        null.as_ref(),
    ];
    columns.push(interleave(&points, &start_picks)?);
    columns.push(interleave(&points, &end_picks)?);
    Ok(RecordBatch::try_new(target, columns)?)
}

/// The stored versions of the keys `changes` touch (a superset: filtered on the first key
/// column where its type has literals, else every row).
async fn stored_versions(
    table: &Table,
    changes: &RecordBatch,
    spec: &ApplyChanges,
    target: &SchemaRef,
) -> Result<RecordBatch, PipelineError> {
    let snapshot = table.snapshot().await?;
    let mut scan = snapshot.scan();
    if let Some(filter) = key_filter(changes, &spec.keys[0]) {
        scan = scan.with_filter(filter.as_str());
    }
    let batches = scan.collect().await?;
    Ok(concat_batches(target, &batches)?)
}

/// `key IN (...)` over the distinct values of `key` in `changes`, for integer and string keys.
fn key_filter(changes: &RecordBatch, key: &str) -> Option<String> {
    use arrow::datatypes::DataType as T;
    let column = changes.column_by_name(key)?;
    let options = arrow::util::display::FormatOptions::default();
    let formatter =
        arrow::util::display::ArrayFormatter::try_new(column.as_ref(), &options).ok()?;
    let mut values = std::collections::BTreeSet::new();
    for i in 0..column.len() {
        if column.is_null(i) {
            continue;
        }
        let text = formatter.value(i).to_string();
        values.insert(match column.data_type() {
            T::Int8
            | T::Int16
            | T::Int32
            | T::Int64
            | T::UInt8
            | T::UInt16
            | T::UInt32
            | T::UInt64 => text,
            T::Utf8 | T::LargeUtf8 | T::Utf8View => format!("'{}'", text.replace('\'', "''")),
            _ => return None,
        });
    }
    if values.is_empty() {
        return None;
    }
    Some(format!(
        "`{key}` IN ({})",
        values.into_iter().collect::<Vec<_>>().join(", ")
    ))
}
