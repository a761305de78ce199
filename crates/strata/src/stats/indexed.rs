//! Which leaf columns get statistics: `delta.dataSkippingNumIndexedCols` and
//! `delta.dataSkippingStatsColumns` (`protocol/PROTOCOL.md#statistics`).

use std::collections::HashMap;

use arrow_schema::Schema;

use super::{
    DEFAULT_NUM_INDEXED_COLS, NUM_INDEXED_COLS_PROPERTY, STATS_COLUMNS_PROPERTY, StatsError,
};
use crate::protocol::schema::column_mapping::{ColumnLookup, physical_path};

/// Which leaf columns receive statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexedColumns {
    /// The first `n` leaf columns in schema order (depth-first through structs).
    /// From `delta.dataSkippingNumIndexedCols`; the default is 32.
    First(usize),
    /// Every leaf column (`delta.dataSkippingNumIndexedCols = -1`).
    All,
    /// Only the listed columns, from `delta.dataSkippingStatsColumns`. Entries may
    /// be dotted nested paths such as `a.b` (backticks quote names containing dots);
    /// naming a struct selects all of its leaves.
    Named(Vec<String>),
}

impl Default for IndexedColumns {
    fn default() -> Self {
        IndexedColumns::First(DEFAULT_NUM_INDEXED_COLS)
    }
}

impl IndexedColumns {
    /// Derive the indexed columns from table properties.
    ///
    /// `delta.dataSkippingStatsColumns` wins over `delta.dataSkippingNumIndexedCols`;
    /// without either the first 32 leaves are indexed. Empty entries of the
    /// stats-columns list are ignored and a blank list counts as unset. An invalid
    /// number (anything but an integer `>= -1`) is an error naming the property,
    /// even when the stats-columns list makes it irrelevant.
    pub fn from_properties(props: &HashMap<String, String>) -> Result<Self, StatsError> {
        let counted = match props.get(NUM_INDEXED_COLS_PROPERTY) {
            None => IndexedColumns::default(),
            Some(raw) => {
                let invalid = |reason: &str| StatsError::InvalidProperty {
                    property: NUM_INDEXED_COLS_PROPERTY.to_string(),
                    value: raw.clone(),
                    reason: reason.to_string(),
                };
                let n: i64 = raw
                    .trim()
                    .parse()
                    .map_err(|_| invalid("expected an integer"))?;
                match n {
                    -1 => IndexedColumns::All,
                    n if n < -1 => return Err(invalid("must be -1 (all columns) or >= 0")),
                    n => usize::try_from(n)
                        .map(IndexedColumns::First)
                        .map_err(|_| invalid("value too large"))?,
                }
            }
        };
        let names: Vec<String> = props
            .get(STATS_COLUMNS_PROPERTY)
            .map(|raw| {
                split_unquoted(raw, ',')
                    .into_iter()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(if names.is_empty() {
            counted
        } else {
            IndexedColumns::Named(names)
        })
    }
}

impl IndexedColumns {
    /// The same choice over the physical names of a column-mapped table
    /// (`protocol/PROTOCOL.md#column-mapping`): `delta.dataSkippingStatsColumns` names logical
    /// columns, statistics are keyed by physical ones. Names not in `schema` stay as they are
    /// (and select nothing).
    pub fn to_physical(self, schema: &Schema, lookup: ColumnLookup) -> IndexedColumns {
        match self {
            IndexedColumns::Named(names) if lookup.is_mapped() => IndexedColumns::Named(
                names
                    .into_iter()
                    .map(|name| {
                        let path = parse_column_path(&name);
                        match physical_path(schema, &path, lookup) {
                            Some(physical) => quoted_path(&physical),
                            None => name,
                        }
                    })
                    .collect(),
            ),
            other => other,
        }
    }
}

impl IndexedColumns {
    /// The same choice widened to include `required` column paths (of `schema`): a clustered
    /// table needs statistics on its clustering columns whatever the indexing properties say
    /// (`protocol/PROTOCOL.md#clustered-tables`).
    pub fn including(self, schema: &Schema, required: &[Vec<String>]) -> IndexedColumns {
        if required.is_empty() {
            return self;
        }
        let mut names = match self {
            IndexedColumns::All => return IndexedColumns::All,
            IndexedColumns::Named(names) => names,
            IndexedColumns::First(n) => {
                let mut leaves = Vec::new();
                leaf_paths(schema.fields(), &mut Vec::new(), &mut leaves);
                leaves.truncate(n);
                leaves.iter().map(|p| quoted_path(p)).collect()
            }
        };
        for path in required {
            let name = quoted_path(path);
            if !names.contains(&name) {
                names.push(name);
            }
        }
        IndexedColumns::Named(names)
    }
}

/// Every leaf column's path, depth first in schema order (structs are not leaves).
fn leaf_paths(fields: &arrow_schema::Fields, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for field in fields {
        prefix.push(field.name().clone());
        match field.data_type() {
            arrow_schema::DataType::Struct(children) => leaf_paths(children, prefix, out),
            _ => out.push(prefix.clone()),
        }
        prefix.pop();
    }
}

/// A column path as `delta.dataSkippingStatsColumns` writes it, every segment backticked.
fn quoted_path(path: &[String]) -> String {
    path.iter()
        .map(|s| format!("`{}`", s.replace('`', "``")))
        .collect::<Vec<_>>()
        .join(".")
}

/// Split `s` on `sep`, ignoring separators inside backtick-quoted sections.
/// Backticks are kept; see [`parse_column_path`].
fn split_unquoted(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in s.chars() {
        if c == '`' {
            quoted = !quoted;
            current.push(c);
        } else if c == sep && !quoted {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
}

/// Parse a dotted column path; backticks quote components (a doubled backtick
/// inside quotes is a literal backtick).
pub(super) fn parse_column_path(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = s.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' if quoted && chars.peek() == Some(&'`') => {
                chars.next();
                current.push('`');
            }
            '`' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut current).trim().to_string()),
            c => current.push(c),
        }
    }
    parts.push(current.trim().to_string());
    parts
}

pub(super) fn name_matches(wanted: &str, actual: &str) -> bool {
    wanted == actual || wanted.to_lowercase() == actual.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_columns_widen_any_choice() {
        use arrow_schema::{DataType, Field};
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new(
                "s",
                DataType::Struct(
                    vec![
                        Field::new("b", DataType::Int64, true),
                        Field::new("c", DataType::Int64, true),
                    ]
                    .into(),
                ),
                true,
            ),
            Field::new("d", DataType::Int64, true),
        ]);
        let d = vec![vec!["d".to_string()]];
        assert_eq!(
            IndexedColumns::First(2).including(&schema, &d),
            IndexedColumns::Named(vec!["`a`".into(), "`s`.`b`".into(), "`d`".into()])
        );
        assert_eq!(
            IndexedColumns::All.including(&schema, &d),
            IndexedColumns::All
        );
        assert_eq!(
            IndexedColumns::Named(vec!["`d`".into()]).including(&schema, &d),
            IndexedColumns::Named(vec!["`d`".into()])
        );
        assert_eq!(
            IndexedColumns::First(1).including(&schema, &[]),
            IndexedColumns::First(1)
        );
    }

    #[test]
    fn properties() {
        let p = |k: &str, v: &str| HashMap::from([(k.to_string(), v.to_string())]);
        assert_eq!(
            IndexedColumns::from_properties(&p(NUM_INDEXED_COLS_PROPERTY, "-1")).unwrap(),
            IndexedColumns::All
        );
        assert_eq!(
            IndexedColumns::from_properties(&p(NUM_INDEXED_COLS_PROPERTY, " 5 ")).unwrap(),
            IndexedColumns::First(5)
        );
        for bad in ["abc", "-2", "1.5", ""] {
            let err = IndexedColumns::from_properties(&p(NUM_INDEXED_COLS_PROPERTY, bad))
                .unwrap_err()
                .to_string();
            assert!(err.contains(NUM_INDEXED_COLS_PROPERTY), "{err}");
        }
        // Named wins, but a broken number is still reported.
        let both = |n: &str| {
            HashMap::from([
                (STATS_COLUMNS_PROPERTY.to_string(), "a".to_string()),
                (NUM_INDEXED_COLS_PROPERTY.to_string(), n.to_string()),
            ])
        };
        assert_eq!(
            IndexedColumns::from_properties(&both("3")).unwrap(),
            IndexedColumns::Named(vec!["a".into()])
        );
        assert!(IndexedColumns::from_properties(&both("x")).is_err());
        assert_eq!(
            IndexedColumns::from_properties(&p(STATS_COLUMNS_PROPERTY, " , ")).unwrap(),
            IndexedColumns::First(32)
        );
        assert_eq!(
            IndexedColumns::from_properties(&p(STATS_COLUMNS_PROPERTY, "`x,y`,z")).unwrap(),
            IndexedColumns::Named(vec!["`x,y`".into(), "z".into()])
        );
    }
}
