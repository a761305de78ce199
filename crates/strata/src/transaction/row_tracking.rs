//! Row tracking (`protocol/PROTOCOL.md#row-tracking`): on a table that supports the
//! `rowTracking` feature every new data file gets a `baseRowId` (its first row's id; row `i` of
//! the file has id `baseRowId + i`) and a `defaultRowCommitVersion` (the version that committed
//! it), and the commit records the largest id handed out in the `delta.rowTracking` domain as
//! `{"rowIdHighWaterMark": N}`.
//!
//! Ids are handed out per commit attempt, from the high-water mark of the version the attempt
//! lands on, so two writers racing for a version never give out the same ids: the loser
//! re-assigns from the winner's mark. Files that already have ids (restore re-adding them)
//! keep them. Pure: the commit loop calls [`assign_row_ids`] on each attempt.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::protocol::actions::{Action, DomainMetadata};

/// The domain holding the row id high-water mark.
pub const ROW_TRACKING_DOMAIN: &str = "delta.rowTracking";

/// The high-water mark a `delta.rowTracking` domain records; -1 (no ids handed out yet) without
/// one.
///
/// # Errors
/// [`Error::InvalidArgument`] when the domain is not the JSON the spec describes.
pub fn high_water_mark(domain: Option<&DomainMetadata>) -> Result<i64> {
    let Some(domain) = domain.filter(|d| !d.removed) else {
        return Ok(-1);
    };
    serde_json::from_str::<Value>(&domain.configuration)
        .ok()
        // Spark and delta-kernel-rs write `rowIdHighWaterMark`; the spec's text says
        // `highWaterMark`. Either is read, the former written.
        .and_then(|v| {
            v.get("rowIdHighWaterMark")
                .or_else(|| v.get("highWaterMark"))?
                .as_i64()
        })
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "the {ROW_TRACKING_DOMAIN} domain holds {:?}, not {{\"rowIdHighWaterMark\": N}}; the table's row tracking state is corrupt",
                domain.configuration
            ))
        })
}

/// The newest `delta.rowTracking` domain among `actions`, if they set it.
pub fn domain_in(actions: &[Action]) -> Option<&DomainMetadata> {
    actions.iter().rev().find_map(|a| match a {
        Action::DomainMetadata(d) if d.domain == ROW_TRACKING_DOMAIN => Some(d),
        _ => None,
    })
}

/// `actions` as committed at `version` over high-water mark `mark`: `add`s without a
/// `baseRowId` get the next ids, those without a `defaultRowCommitVersion` get `version`, and
/// the new mark is appended as the `delta.rowTracking` domain when any id was handed out.
///
/// # Errors
/// [`Error::InvalidArgument`] naming a file that needs ids but has no `numRecords` statistic.
pub fn assign_row_ids(actions: &[Action], mark: i64, version: i64) -> Result<Vec<Action>> {
    let mut next = mark + 1;
    let mut out = Vec::with_capacity(actions.len() + 1);
    for action in actions {
        let Action::Add(add) = action else {
            out.push(action.clone());
            continue;
        };
        let mut add = add.clone();
        if add.base_row_id.is_none() {
            let rows = add.num_records().ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "data file {} has no numRecords statistic, which row tracking needs to give its rows ids",
                    add.path
                ))
            })?;
            add.base_row_id = Some(next);
            next += rows;
        }
        if add.default_row_commit_version.is_none() {
            add.default_row_commit_version = Some(version);
        }
        out.push(Action::Add(add));
    }
    if next != mark + 1 {
        out.push(Action::DomainMetadata(DomainMetadata {
            domain: ROW_TRACKING_DOMAIN.to_string(),
            configuration: serde_json::json!({ "rowIdHighWaterMark": next - 1 }).to_string(),
            removed: false,
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::actions::Add;

    fn add(path: &str, rows: Option<i64>) -> Action {
        let mut add = Add::for_test(path, 10);
        add.stats = rows.map(|n| format!(r#"{{"numRecords":{n}}}"#));
        Action::Add(add)
    }

    fn ids(actions: &[Action]) -> Vec<(Option<i64>, Option<i64>)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Add(a) => Some((a.base_row_id, a.default_row_commit_version)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn new_files_take_consecutive_ids_after_the_mark() {
        let out = assign_row_ids(&[add("a", Some(3)), add("b", Some(2))], 9, 7).unwrap();
        assert_eq!(ids(&out), [(Some(10), Some(7)), (Some(13), Some(7))]);
        assert_eq!(high_water_mark(domain_in(&out)).unwrap(), 14);
        // A fresh table starts at 0.
        let out = assign_row_ids(&[add("a", Some(3))], high_water_mark(None).unwrap(), 1).unwrap();
        assert_eq!(ids(&out), [(Some(0), Some(1))]);
        assert_eq!(high_water_mark(domain_in(&out)).unwrap(), 2);
    }

    #[test]
    fn files_with_ids_keep_them_and_move_no_mark() {
        let Action::Add(mut kept) = add("a", Some(3)) else {
            unreachable!()
        };
        kept.base_row_id = Some(100);
        kept.default_row_commit_version = Some(2);
        let out = assign_row_ids(&[Action::Add(kept)], 200, 9).unwrap();
        assert_eq!(ids(&out), [(Some(100), Some(2))]);
        assert!(domain_in(&out).is_none());
    }

    #[test]
    fn a_file_without_a_row_count_or_a_bad_domain_is_an_error() {
        let err = assign_row_ids(&[add("x.parquet", None)], 0, 1).unwrap_err();
        assert!(err.to_string().contains("x.parquet"), "{err}");
        let bad = DomainMetadata {
            domain: ROW_TRACKING_DOMAIN.into(),
            configuration: "{}".into(),
            removed: false,
        };
        assert!(high_water_mark(Some(&bad)).is_err());
    }
}
