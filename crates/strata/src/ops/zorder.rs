//! Z-order (`protocol/PROTOCOL.md#optimize`): the order that rewrites a partition's rows so
//! that each file covers a compact region of several columns at once, and a filter on any of
//! them skips files by their statistics.
//!
//! Each column's values are ranked (nulls first, ties in stored order) and the ranks scaled to
//! 32 bits, so skewed or wide-ranged columns weigh equally; the key interleaves the ranks' bits,
//! most significant first (up to 128 bits: 32 per column for up to four columns, fewer for
//! more). Rows are then sorted by key. Pure: arrays in, row order out.

use arrow::array::{ArrayRef, UInt32Array};
use arrow::compute::{SortOptions, sort_to_indices};
use arrow::error::ArrowError;

/// The row order of the Z-order curve over `columns` (equal-length arrays).
///
/// # Errors
/// A column type Arrow cannot sort.
pub fn zorder_indices(columns: &[ArrayRef]) -> Result<UInt32Array, ArrowError> {
    let rows = columns.first().map_or(0, |c| c.len());
    if columns.is_empty() || rows == 0 {
        return Ok(UInt32Array::from_iter_values(0..rows as u32));
    }
    let ranks = columns
        .iter()
        .map(|c| scaled_ranks(c, rows))
        .collect::<Result<Vec<_>, _>>()?;
    let bits = (128 / columns.len()).min(32) as u32;
    let keys: Vec<u128> = (0..rows)
        .map(|row| {
            let mut key = 0u128;
            for b in (0..bits).rev() {
                for rank in &ranks {
                    let top = rank[row] >> (32 - bits);
                    key = (key << 1) | u128::from((top >> b) & 1);
                }
            }
            key
        })
        .collect();
    let mut order: Vec<u32> = (0..rows as u32).collect();
    order.sort_by_key(|&i| keys[i as usize]);
    Ok(UInt32Array::from(order))
}

/// Each row's rank in `column`, scaled to `0..2^32`.
fn scaled_ranks(column: &ArrayRef, rows: usize) -> Result<Vec<u32>, ArrowError> {
    let order = sort_to_indices(
        column,
        Some(SortOptions {
            descending: false,
            nulls_first: true,
        }),
        None,
    )?;
    let mut ranks = vec![0u32; rows];
    for (rank, &row) in order.values().iter().enumerate() {
        ranks[row as usize] = ((rank as u64) << 32).div_euclid(rows as u64) as u32;
    }
    Ok(ranks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use std::sync::Arc;

    #[test]
    fn the_curve_visits_quadrants_in_z_order() {
        // A 4×4 grid: the first four rows of the order are the lower-left quadrant.
        let (xs, ys): (Vec<i64>, Vec<i64>) = (0..16).map(|i| (i % 4, i / 4)).rev().unzip();
        let x: ArrayRef = Arc::new(Int64Array::from(xs.clone()));
        let y: ArrayRef = Arc::new(Int64Array::from(ys.clone()));
        let order = zorder_indices(&[x, y]).unwrap();
        let first: Vec<(i64, i64)> = order.values()[..4]
            .iter()
            .map(|&i| (xs[i as usize], ys[i as usize]))
            .collect();
        let mut sorted = first.clone();
        sorted.sort();
        assert_eq!(sorted, [(0, 0), (0, 1), (1, 0), (1, 1)]);
        // Every row once.
        let mut all: Vec<u32> = order.values().to_vec();
        all.sort_unstable();
        assert_eq!(all, (0..16).collect::<Vec<_>>());
    }

    #[test]
    fn one_column_is_a_sort_and_nothing_is_nothing() {
        let x: ArrayRef = Arc::new(Int64Array::from(vec![Some(3), None, Some(1), Some(2)]));
        assert_eq!(zorder_indices(&[x]).unwrap().values(), &[1, 2, 3, 0]);
        assert_eq!(zorder_indices(&[]).unwrap().len(), 0);
    }
}
