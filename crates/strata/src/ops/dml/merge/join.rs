//! Matching target rows with source rows (`protocol/PROTOCOL.md#merge`): the `ON` condition
//! split into equality keys and the rest, a hash index of the source's keys (Arrow's row
//! format, hashed once; rows with a null key never match, as SQL's `=`), and the filter that
//! prunes target files to those that may hold a source key.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::{SortOptions, can_cast_types, cast, sort_to_indices};
use arrow::datatypes::{DataType, Int64Type, Schema};
use arrow::row::{RowConverter, Rows, SortField};

use super::clauses::Aliases;
use crate::error::{Error, Result};
use crate::expr::column::{BoundColumn, column_array, resolve_column};
use crate::expr::{CompareOp, Expr, ExprError, Scalar};

/// Source keys up to this many rows prune target files by their values (`IN`), more by their
/// range (`BETWEEN`).
const IN_LIST_LIMIT: usize = 1_000;

/// The `ON` condition, split.
pub(super) struct JoinOn {
    /// `(target column, source column)` pairs compared with `=`.
    pub(super) keys: Vec<(Vec<String>, Vec<String>)>,
    /// Conjuncts over target columns only (they prune target files too).
    pub(super) target_only: Vec<Expr>,
    /// Every conjunct but the keys, qualified (evaluated on matched pairs).
    pub(super) residual: Option<Expr>,
}

/// Splits a qualified `ON` condition into keys, target-only conjuncts and the residual.
pub(super) fn split_on(on: &Expr, aliases: &Aliases) -> std::result::Result<JoinOn, ExprError> {
    let side =
        |path: &[String]| -> Option<bool> { (path.len() > 1).then(|| path[0] == aliases.target) };
    let mut keys = Vec::new();
    let mut target_only = Vec::new();
    let mut rest: Vec<Expr> = Vec::new();
    for conjunct in on.conjuncts() {
        if let Expr::Compare {
            op: CompareOp::Eq,
            left,
            right,
        } = conjunct
            && let (Expr::Column(l), Expr::Column(r)) = (left.as_ref(), right.as_ref())
        {
            match (side(l), side(r)) {
                (Some(true), Some(false)) => {
                    keys.push((l[1..].to_vec(), r[1..].to_vec()));
                    continue;
                }
                (Some(false), Some(true)) => {
                    keys.push((r[1..].to_vec(), l[1..].to_vec()));
                    continue;
                }
                _ => {}
            }
        }
        let columns = conjunct.columns();
        if !columns.is_empty() && columns.iter().all(|c| side(c) == Some(true)) {
            target_only.push(conjunct.map_columns(&mut |p| Ok(p[1..].to_vec()))?);
        }
        rest.push(conjunct.clone());
    }
    if keys.is_empty() {
        return Err(ExprError::Type {
            expr: on.to_string(),
            reason: format!(
                "a merge condition needs at least one equality between a target and a source column ({}.id = {}.id)",
                aliases.target, aliases.source
            ),
        });
    }
    let residual = rest.into_iter().reduce(|a, b| a.and(b));
    Ok(JoinOn {
        keys,
        target_only,
        residual,
    })
}

/// The source's rows and a hash index of their keys.
pub(super) struct SourceIndex {
    pub(super) rows: RecordBatch,
    /// The target's key columns, resolved.
    target_keys: Vec<BoundColumn>,
    /// The type both sides' keys are compared in.
    key_types: Vec<DataType>,
    converter: RowConverter,
    probe: Probe,
    /// After a head, `next` chains the other source rows of the same key (or hash, for rows)
    /// (`u32::MAX` ends).
    next: Vec<u32>,
    /// Per key: the source's key values in the key type (for pruning).
    source_keys: Vec<ArrayRef>,
}

impl SourceIndex {
    pub(super) fn build(
        rows: RecordBatch,
        keys: &[(Vec<String>, Vec<String>)],
        target: &Schema,
    ) -> Result<SourceIndex> {
        let source_schema = rows.schema();
        let mut target_keys = Vec::new();
        let mut key_types = Vec::new();
        let mut source_keys = Vec::new();
        for (t, s) in keys {
            let tc = resolve_column(target, t)?;
            let sc = resolve_column(&source_schema, s)?;
            let t_type = evaluated(&tc.data_type);
            let s_array = column_array(&rows, &sc)?;
            let key_type =
                key_type(&t_type, s_array.data_type()).ok_or_else(|| ExprError::Type {
                    expr: format!("{} = {}", tc.name(), sc.name()),
                    reason: format!(
                        "a {} target key cannot be compared with a {} source key",
                        t_type,
                        s_array.data_type()
                    ),
                })?;
            source_keys.push(cast(&s_array, &key_type)?);
            key_types.push(key_type);
            target_keys.push(tc);
        }
        let converter = RowConverter::new(
            key_types
                .iter()
                .map(|t| SortField::new(t.clone()))
                .collect(),
        )?;
        let mut next = vec![u32::MAX; rows.num_rows()];
        let count = u32::try_from(rows.num_rows()).map_err(|_| {
            Error::InvalidArgument("a merge source of more than 4 billion rows".into())
        })?;
        let build = MixBuild::new();
        let probe = if let [DataType::Int64] = key_types.as_slice() {
            // One integer key, the common case: keyed by value, no row encoding.
            let values = source_keys[0].as_primitive::<Int64Type>();
            let mut heads = HashMap::with_capacity_and_hasher(rows.num_rows(), build);
            for i in (0..count).rev() {
                if values.is_valid(i as usize)
                    && let Some(previous) = heads.insert(values.value(i as usize), i)
                {
                    next[i as usize] = previous;
                }
            }
            Probe::Int(heads)
        } else {
            let encoded = converter.convert_columns(&source_keys)?;
            let mut heads = HashMap::with_capacity_and_hasher(rows.num_rows(), build.clone());
            for i in (0..count).rev() {
                if source_keys.iter().any(|k| k.is_null(i as usize)) {
                    continue;
                }
                let h = build.hash_one(encoded.row(i as usize).as_ref());
                if let Some(previous) = heads.insert(h, i) {
                    next[i as usize] = previous;
                }
            }
            Probe::Rows {
                heads,
                encoded,
                build,
            }
        };
        Ok(SourceIndex {
            rows,
            target_keys,
            key_types,
            converter,
            probe,
            next,
            source_keys,
        })
    }

    /// Every `(target row, source row)` pair of `batch` whose keys are equal.
    pub(super) fn pairs(&self, batch: &RecordBatch) -> Result<(Vec<u32>, Vec<u32>)> {
        let keys = self
            .target_keys
            .iter()
            .zip(&self.key_types)
            .map(|(c, t)| Ok(cast(&column_array(batch, c)?, t)?))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let (mut targets, mut sources) = (Vec::new(), Vec::new());
        let mut chain = |i: usize, head: u32, same: &dyn Fn(u32) -> bool| {
            let mut s = head;
            while s != u32::MAX {
                if same(s) {
                    targets.push(i as u32);
                    sources.push(s);
                }
                s = self.next[s as usize];
            }
        };
        match &self.probe {
            Probe::Int(heads) => {
                let values = keys[0].as_primitive::<Int64Type>();
                for i in 0..batch.num_rows() {
                    if values.is_valid(i)
                        && let Some(&head) = heads.get(&values.value(i))
                    {
                        chain(i, head, &|_| true);
                    }
                }
            }
            Probe::Rows {
                heads,
                encoded,
                build,
            } => {
                let rows = self.converter.convert_columns(&keys)?;
                for i in 0..batch.num_rows() {
                    if keys.iter().any(|k| k.is_null(i)) {
                        continue;
                    }
                    let row = rows.row(i);
                    if let Some(&head) = heads.get(&build.hash_one(row.as_ref())) {
                        chain(i, head, &|s| encoded.row(s as usize) == row);
                    }
                }
            }
        }
        Ok((targets, sources))
    }

    /// The target's top-level columns the keys are in.
    pub(super) fn key_columns(&self) -> Vec<String> {
        let mut columns: Vec<String> = self.target_keys.iter().map(|c| c.path[0].clone()).collect();
        columns.dedup();
        columns
    }

    /// The key of target row `i` of `batch`, as text (for errors).
    pub(super) fn describe_key(&self, batch: &RecordBatch, i: usize) -> String {
        let options = arrow::util::display::FormatOptions::default().with_null("NULL");
        self.target_keys
            .iter()
            .map(|c| {
                let value = column_array(batch, c)
                    .ok()
                    .and_then(|a| {
                        arrow::util::display::ArrayFormatter::try_new(a.as_ref(), &options)
                            .ok()
                            .map(|f| f.value(i).to_string())
                    })
                    .unwrap_or_default();
                format!("{} = {value}", c.name())
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A filter over target columns that every target row matching a source key satisfies:
    /// per key, `IN` the source's values when there are few, else `BETWEEN` their least and
    /// greatest. Keys of types that do not turn into literals are left out; `None` when there
    /// is nothing to say, `Some(false)`-like `key IN ()` never arises (an empty source has no
    /// keys to match, and the filter is then `FALSE`).
    pub(super) fn prune_filter(&self) -> Option<Expr> {
        let mut parts = Vec::new();
        for (column, values) in self.target_keys.iter().zip(&self.source_keys) {
            let valid = values.len() - values.null_count();
            let col = Expr::Column(column.path.clone());
            if valid == 0 {
                return Some(Expr::Literal(Scalar::Boolean(false)));
            }
            if values.len() <= IN_LIST_LIMIT {
                let mut literals: Vec<Scalar> = (0..values.len())
                    .filter(|&i| values.is_valid(i))
                    .map(|i| scalar_at(values, i))
                    .collect::<Option<_>>()?;
                literals.sort_by(|a, b| {
                    crate::expr::compare_scalars(a, b).unwrap_or(std::cmp::Ordering::Equal)
                });
                literals.dedup();
                parts.push(col.is_in(literals.into_iter().map(Expr::Literal)));
            } else {
                let order = sort_to_indices(
                    values,
                    Some(SortOptions {
                        descending: false,
                        nulls_first: true,
                    }),
                    None,
                )
                .ok()?;
                let (low, high) = (
                    order.value(values.null_count()) as usize,
                    order.value(values.len() - 1) as usize,
                );
                match (scalar_at(values, low), scalar_at(values, high)) {
                    (Some(lo), Some(hi)) => {
                        parts.push(col.between(Expr::Literal(lo), Expr::Literal(hi)));
                    }
                    _ => continue,
                }
            }
        }
        parts.into_iter().reduce(|a, b| a.and(b))
    }
}

/// How target keys find source rows.
enum Probe {
    /// One `long` key: the first source row of each value.
    Int(HashMap<i64, u32, MixBuild>),
    /// Any keys, in Arrow's row format: the first source row of each hash.
    Rows {
        heads: HashMap<u64, u32, MixBuild>,
        encoded: Rows,
        build: MixBuild,
    },
}

/// A fast hash for keys (a multiply-rotate over 8-byte words, finished with splitmix64's
/// mixer), seeded per merge so that a source cannot be built to collide.
#[derive(Clone)]
struct MixBuild(u64);

impl MixBuild {
    fn new() -> MixBuild {
        MixBuild(RandomState::new().hash_one(0x5EED_u64))
    }
}

impl BuildHasher for MixBuild {
    type Hasher = Mix;
    fn build_hasher(&self) -> Mix {
        Mix(self.0)
    }
}

struct Mix(u64);

impl Mix {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for Mix {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        self.add(bytes.len() as u64);
    }

    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }

    fn write_i64(&mut self, v: i64) {
        self.add(v as u64);
    }

    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The type a column evaluates as (floats as doubles).
fn evaluated(t: &DataType) -> DataType {
    match t {
        DataType::Float16 | DataType::Float32 => DataType::Float64,
        other => other.clone(),
    }
}

/// The type a target key of `t` and a source key of `s` are compared in.
fn key_type(t: &DataType, s: &DataType) -> Option<DataType> {
    let int = |d: &DataType| {
        matches!(
            d,
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
        )
    };
    if t == s {
        return Some(t.clone());
    }
    if int(t) && int(s) {
        return Some(DataType::Int64);
    }
    match (t, s) {
        (
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View,
        ) => Some(DataType::Utf8),
        _ if can_cast_types(s, t) && !s.is_nested() && !matches!(s, DataType::Utf8) => {
            Some(t.clone())
        }
        _ => None,
    }
}

/// Value `i` of a key array as a literal, for the types pruning handles.
fn scalar_at(array: &ArrayRef, i: usize) -> Option<Scalar> {
    use arrow::datatypes::*;
    Some(match array.data_type() {
        DataType::Int8 => Scalar::Int(array.as_primitive::<Int8Type>().value(i).into()),
        DataType::Int16 => Scalar::Int(array.as_primitive::<Int16Type>().value(i).into()),
        DataType::Int32 => Scalar::Int(array.as_primitive::<Int32Type>().value(i).into()),
        DataType::Int64 => Scalar::Int(array.as_primitive::<Int64Type>().value(i)),
        DataType::Utf8 => Scalar::String(array.as_string::<i32>().value(i).to_string()),
        DataType::Date32 => Scalar::Date(array.as_primitive::<Date32Type>().value(i)),
        DataType::Decimal128(_, scale) => Scalar::Decimal {
            unscaled: array.as_primitive::<Decimal128Type>().value(i),
            scale: *scale,
        },
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            let us = array.as_primitive::<TimestampMicrosecondType>().value(i);
            if tz.is_some() {
                Scalar::Timestamp(us)
            } else {
                Scalar::TimestampNtz(us)
            }
        }
        _ => return None,
    })
}

/// The rows of `batch` at `indices`, as one struct column (a side of the evaluation schema).
pub(super) fn side(batch: &RecordBatch, indices: &arrow::array::UInt32Array) -> Result<ArrayRef> {
    let taken = arrow::compute::take_record_batch(batch, indices)?;
    let fields = super::clauses::nullable(batch.schema().fields());
    Ok(Arc::new(arrow::array::StructArray::try_new(
        fields,
        taken.columns().to_vec(),
        None,
    )?))
}
