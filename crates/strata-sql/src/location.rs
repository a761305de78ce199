//! Table references as users write them: `LOCATION`, `LOCATION@VERSION`,
//! `LOCATION@TIMESTAMP` (RFC 3339) and `LOCATION#TAG`, optionally named `NAME=…`.

use chrono::{DateTime, Utc};
use strata::{Snapshot, Table};

use crate::error::SqlError;

/// Which snapshot of a table to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSpec {
    /// The latest version.
    Latest,
    /// One version.
    Version(i64),
    /// The last version committed at or before an instant.
    Timestamp(DateTime<Utc>),
    /// The version a tag names.
    Tag(String),
}

impl VersionSpec {
    /// The snapshot of `table` this names.
    ///
    /// # Errors
    /// As [`Table::snapshot_at_version`], [`Table::snapshot_at_timestamp`] and
    /// [`Table::snapshot_at_tag`].
    pub async fn snapshot(&self, table: &Table) -> Result<Snapshot, strata::Error> {
        match self {
            VersionSpec::Latest => table.snapshot().await,
            VersionSpec::Version(v) => table.snapshot_at_version(*v).await,
            VersionSpec::Timestamp(t) => table.snapshot_at_timestamp(*t).await,
            VersionSpec::Tag(name) => table.snapshot_at_tag(name).await,
        }
    }
}

/// A parsed table reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// The name given with `NAME=`, if any.
    pub name: Option<String>,
    /// Where the table is.
    pub location: String,
    /// Which snapshot.
    pub version: VersionSpec,
}

impl TableSpec {
    /// Parses `[NAME=]LOCATION[@VERSION|@TIMESTAMP|#TAG]`.
    ///
    /// # Errors
    /// [`SqlError::BadTable`] for an empty name or location, or a `@` suffix that is neither a
    /// version number nor an RFC 3339 timestamp.
    pub fn parse(spec: &str) -> Result<TableSpec, SqlError> {
        let bad = |reason: &str| SqlError::BadTable {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let (name, rest) = match spec.split_once('=') {
            Some((name, rest)) if is_identifier(name) => (Some(name.to_string()), rest),
            Some((name, _)) if !name.contains('/') && !name.contains(':') => {
                return Err(bad(
                    "the name before '=' must be letters, digits and '_' (it is the SQL table name)",
                ));
            }
            _ => (None, spec),
        };
        let (location, version) = if let Some((location, tag)) = rest.rsplit_once('#') {
            if tag.is_empty() {
                return Err(bad("'#' must be followed by a tag name"));
            }
            (location, VersionSpec::Tag(tag.to_string()))
        } else if let Some((location, at)) = rest.rsplit_once('@') {
            let version = if let Ok(v) = at.parse::<i64>() {
                if v < 0 {
                    return Err(bad("versions start at 0"));
                }
                VersionSpec::Version(v)
            } else if let Ok(t) = DateTime::parse_from_rfc3339(at) {
                VersionSpec::Timestamp(t.with_timezone(&Utc))
            } else {
                return Err(bad(
                    "'@' must be followed by a version number or an RFC 3339 timestamp (2026-01-31T00:00:00Z)",
                ));
            };
            (location, version)
        } else {
            (rest, VersionSpec::Latest)
        };
        if location.is_empty() {
            return Err(bad("the location is empty"));
        }
        Ok(TableSpec {
            name,
            location: location.to_string(),
            version,
        })
    }

    /// The name to register: the `NAME=` given, else the location's last path segment.
    pub fn default_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let last = self
            .location
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        last.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    }
}

/// Letters, digits and `_`, not starting with a digit: a SQL name that needs no quotes.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions_tags_timestamps_and_names() {
        let s = TableSpec::parse("/lake/silver/flights").unwrap();
        assert_eq!(s.version, VersionSpec::Latest);
        assert_eq!(s.default_name(), "flights");
        let s = TableSpec::parse("f=/lake/silver/flights@12").unwrap();
        assert_eq!(s.name.as_deref(), Some("f"));
        assert_eq!(s.location, "/lake/silver/flights");
        assert_eq!(s.version, VersionSpec::Version(12));
        let s = TableSpec::parse("s3://bucket/t#train").unwrap();
        assert_eq!(s.location, "s3://bucket/t");
        assert_eq!(s.version, VersionSpec::Tag("train".into()));
        let s = TableSpec::parse("/t@2026-01-31T00:00:00Z").unwrap();
        assert!(matches!(s.version, VersionSpec::Timestamp(_)));
        assert!(TableSpec::parse("/t@yesterday").is_err());
        assert!(TableSpec::parse("/t@-1").is_err());
        assert!(TableSpec::parse("/t#").is_err());
        assert!(TableSpec::parse("bad name=/t").is_err());
    }
}
