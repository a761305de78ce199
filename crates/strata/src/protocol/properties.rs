//! Table properties (`metaData.configuration`): the `delta.*` keys strata interprets, parsed
//! once per snapshot into [`TableProperties`], and the Spark interval strings Delta's duration
//! properties use (`protocol/PROTOCOL.md#table-properties`).
//!
//! Every key strata reads is named here and nowhere else. A value strata cannot read is treated
//! as the property asks: where guessing would be unsafe (a retention), the value is kept as
//! written ([`PropertyValue::Invalid`]) so the operation that needs it can refuse or do the
//! safe thing and say why; where the default is always safe (a checkpoint interval), the
//! default applies, as Delta's readers do.

use std::collections::HashMap;

/// `delta.appendOnly`: `true` forbids removing data (overwrite, delete).
pub const APPEND_ONLY: &str = "delta.appendOnly";
/// `delta.checkpointInterval`: commits between automatic checkpoints.
pub const CHECKPOINT_INTERVAL: &str = "delta.checkpointInterval";
/// `delta.checkpoint.writeStatsAsStruct`: also write `stats_parsed` and
/// `partitionValues_parsed` in checkpoints.
pub const CHECKPOINT_WRITE_STATS_AS_STRUCT: &str = "delta.checkpoint.writeStatsAsStruct";
/// `delta.checkpointPolicy`: `v2` asks for V2 checkpoints.
pub const CHECKPOINT_POLICY: &str = "delta.checkpointPolicy";
/// `delta.logRetentionDuration`: how long the log keeps history (an interval).
pub const LOG_RETENTION_DURATION: &str = "delta.logRetentionDuration";
/// `delta.deletedFileRetentionDuration`: how long removed files are kept (an interval).
pub const DELETED_FILE_RETENTION_DURATION: &str = "delta.deletedFileRetentionDuration";
/// `strata.vacuum.inFlightGraceMs`: how long a data file no commit references is presumed to
/// belong to a write still in flight, which vacuum never deletes, whatever its retention
/// (milliseconds, or an interval). `protocol/PROTOCOL.md#vacuum`.
pub const IN_FLIGHT_GRACE: &str = "strata.vacuum.inFlightGraceMs";
/// `delta.enableExpiredLogCleanup`: `false` turns off log cleanup after checkpoints.
pub const ENABLE_EXPIRED_LOG_CLEANUP: &str = "delta.enableExpiredLogCleanup";
/// `delta.enableInCommitTimestamps`: commits carry `commitInfo.inCommitTimestamp`.
pub const ENABLE_IN_COMMIT_TIMESTAMPS: &str = "delta.enableInCommitTimestamps";
/// `delta.inCommitTimestampEnablementVersion`: the first version with in-commit timestamps.
pub const IN_COMMIT_TIMESTAMP_ENABLEMENT_VERSION: &str = "delta.inCommitTimestampEnablementVersion";
/// `delta.enableChangeDataFeed`: DML commits record their changes.
pub const ENABLE_CHANGE_DATA_FEED: &str = "delta.enableChangeDataFeed";
/// `delta.enableDeletionVectors`: DML may mark rows deleted instead of rewriting files.
pub const ENABLE_DELETION_VECTORS: &str = "delta.enableDeletionVectors";
/// `delta.enableRowTracking`: rows keep stable ids and commit versions across rewrites.
pub const ENABLE_ROW_TRACKING: &str = "delta.enableRowTracking";
/// `delta.enableTypeWidening`: columns may be widened (feature `typeWidening`).
pub const ENABLE_TYPE_WIDENING: &str = "delta.enableTypeWidening";
/// The hidden column a rewritten file keeps its rows' ids in (Spark's name for it).
pub const MATERIALIZED_ROW_ID_COLUMN_NAME: &str = "delta.rowTracking.materializedRowIdColumnName";
/// The hidden column a rewritten file keeps its rows' commit versions in.
pub const MATERIALIZED_ROW_COMMIT_VERSION_COLUMN_NAME: &str =
    "delta.rowTracking.materializedRowCommitVersionColumnName";
/// `delta.columnMapping.mode`: `none`, `name` or `id`.
pub const COLUMN_MAPPING_MODE: &str = "delta.columnMapping.mode";
/// The largest column id given out so far (`protocol/PROTOCOL.md#column-mapping`): a new column
/// takes the next one.
pub const COLUMN_MAPPING_MAX_COLUMN_ID: &str = "delta.columnMapping.maxColumnId";
/// `delta.dataSkippingNumIndexedCols`: statistics for the first N leaf columns.
pub const DATA_SKIPPING_NUM_INDEXED_COLS: &str = "delta.dataSkippingNumIndexedCols";
/// `delta.dataSkippingStatsColumns`: statistics for exactly these columns.
pub const DATA_SKIPPING_STATS_COLUMNS: &str = "delta.dataSkippingStatsColumns";
/// Prefix of `CHECK` constraint properties (`delta.constraints.<name>`).
pub const CONSTRAINTS_PREFIX: &str = "delta.constraints.";
/// The isolation level of the table's writes: `Serializable`, or `WriteSerializable` (the
/// default) (`protocol/PROTOCOL.md#conflicts`).
pub const ISOLATION_LEVEL: &str = "delta.isolationLevel";

/// Default `delta.checkpointInterval`: a checkpoint every 100 commits, as delta-rs does.
pub const DEFAULT_CHECKPOINT_INTERVAL: i64 = 100;
/// Default `delta.logRetentionDuration`: `interval 30 days`, as in Delta.
pub const DEFAULT_LOG_RETENTION_MS: i64 = 30 * 86_400_000;
/// Default `delta.deletedFileRetentionDuration`: `interval 1 week`, as in Delta.
pub const DEFAULT_DELETED_FILE_RETENTION_MS: i64 = 7 * 86_400_000;
/// Default `strata.vacuum.inFlightGraceMs`: one hour, longer than a write takes to upload its
/// files and commit.
pub const DEFAULT_IN_FLIGHT_GRACE_MS: i64 = 3_600_000;

/// A property as read: absent, understood, or present with a value strata cannot read (kept
/// as written, for messages).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PropertyValue<T> {
    /// The table does not set the property.
    #[default]
    Unset,
    /// The property's value.
    Set(T),
    /// The value as written, which strata cannot read.
    Invalid(String),
}

impl<T: Copy> PropertyValue<T> {
    /// The value, `default` when unset, or the unreadable value as written.
    ///
    /// # Errors
    /// The value as written when it is [`PropertyValue::Invalid`].
    pub fn or(&self, default: T) -> Result<T, &str> {
        match self {
            PropertyValue::Unset => Ok(default),
            PropertyValue::Set(v) => Ok(*v),
            PropertyValue::Invalid(raw) => Err(raw),
        }
    }
}

/// How a table maps logical column names to physical ones (`delta.columnMapping.mode`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ColumnMappingMode {
    /// Physical names are the logical names.
    #[default]
    None,
    /// Physical names come from `delta.columnMapping.physicalName`.
    Name,
    /// Parquet field ids (`delta.columnMapping.id`) identify columns.
    Id,
    /// A mode strata does not know, as written.
    Unknown(String),
}

impl ColumnMappingMode {
    /// The mode as the property spells it.
    pub fn name(&self) -> &str {
        match self {
            ColumnMappingMode::None => "none",
            ColumnMappingMode::Name => "name",
            ColumnMappingMode::Id => "id",
            ColumnMappingMode::Unknown(mode) => mode,
        }
    }
}

/// The `delta.*` properties strata interprets, parsed once from `metaData.configuration`.
/// The raw map stays available (`Snapshot::properties`) for everything else.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TableProperties {
    /// `delta.appendOnly` (false unless `true`).
    pub append_only: bool,
    /// `delta.checkpointInterval`, [`DEFAULT_CHECKPOINT_INTERVAL`] unless a positive integer.
    pub checkpoint_interval: i64,
    /// `delta.checkpoint.writeStatsAsStruct` (false unless `true`).
    pub checkpoint_write_stats_as_struct: bool,
    /// `delta.checkpointPolicy` is `v2`.
    pub checkpoint_policy_v2: bool,
    /// `delta.logRetentionDuration` in milliseconds.
    pub log_retention_ms: PropertyValue<i64>,
    /// `delta.deletedFileRetentionDuration` in milliseconds.
    pub deleted_file_retention_ms: PropertyValue<i64>,
    /// `delta.enableExpiredLogCleanup`.
    pub enable_expired_log_cleanup: PropertyValue<bool>,
    /// `strata.vacuum.inFlightGraceMs` in milliseconds.
    pub in_flight_grace_ms: PropertyValue<i64>,
    /// `delta.enableInCommitTimestamps` (false unless `true`).
    pub enable_in_commit_timestamps: bool,
    /// `delta.inCommitTimestampEnablementVersion`, when it is a number.
    pub in_commit_timestamp_enablement_version: Option<i64>,
    /// `delta.enableChangeDataFeed` (false unless `true`).
    pub enable_change_data_feed: bool,
    /// `delta.enableDeletionVectors` (false unless `true`).
    pub enable_deletion_vectors: bool,
    /// `delta.enableRowTracking`.
    pub enable_row_tracking: bool,
    /// `delta.enableTypeWidening` (false unless `true`).
    pub enable_type_widening: bool,
    /// `delta.columnMapping.mode`.
    pub column_mapping_mode: ColumnMappingMode,
    /// `delta.isolationLevel` is `Serializable` (else write-serializable).
    pub serializable: bool,
}

impl TableProperties {
    /// Parses the properties strata interprets out of a table's configuration. Never fails:
    /// what cannot be read is recorded as such (see the module docs).
    pub fn from_configuration(configuration: &HashMap<String, String>) -> TableProperties {
        let get = |key: &str| configuration.get(key).map(String::as_str);
        let flag = |key: &str| get(key).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let interval = |key: &str| match get(key) {
            None => PropertyValue::Unset,
            Some(raw) => parse_interval_ms(raw).map_or_else(
                || PropertyValue::Invalid(raw.to_string()),
                PropertyValue::Set,
            ),
        };
        TableProperties {
            append_only: flag(APPEND_ONLY),
            checkpoint_interval: get(CHECKPOINT_INTERVAL)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|v| *v > 0)
                .unwrap_or(DEFAULT_CHECKPOINT_INTERVAL),
            checkpoint_write_stats_as_struct: flag(CHECKPOINT_WRITE_STATS_AS_STRUCT),
            checkpoint_policy_v2: get(CHECKPOINT_POLICY)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("v2")),
            log_retention_ms: interval(LOG_RETENTION_DURATION),
            deleted_file_retention_ms: interval(DELETED_FILE_RETENTION_DURATION),
            enable_expired_log_cleanup: match get(ENABLE_EXPIRED_LOG_CLEANUP) {
                None => PropertyValue::Unset,
                Some(v) if v.eq_ignore_ascii_case("true") => PropertyValue::Set(true),
                Some(v) if v.eq_ignore_ascii_case("false") => PropertyValue::Set(false),
                Some(v) => PropertyValue::Invalid(v.to_string()),
            },
            in_flight_grace_ms: match get(IN_FLIGHT_GRACE) {
                None => PropertyValue::Unset,
                Some(raw) => raw
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|ms| *ms >= 0)
                    .or_else(|| parse_interval_ms(raw))
                    .map_or_else(
                        || PropertyValue::Invalid(raw.to_string()),
                        PropertyValue::Set,
                    ),
            },
            enable_in_commit_timestamps: flag(ENABLE_IN_COMMIT_TIMESTAMPS),
            in_commit_timestamp_enablement_version: get(IN_COMMIT_TIMESTAMP_ENABLEMENT_VERSION)
                .and_then(|v| v.trim().parse().ok()),
            enable_change_data_feed: flag(ENABLE_CHANGE_DATA_FEED),
            enable_deletion_vectors: flag(ENABLE_DELETION_VECTORS),
            enable_row_tracking: flag(ENABLE_ROW_TRACKING),
            enable_type_widening: flag(ENABLE_TYPE_WIDENING),
            column_mapping_mode: match get(COLUMN_MAPPING_MODE).map(str::trim) {
                None => ColumnMappingMode::None,
                Some(m) if m.eq_ignore_ascii_case("none") => ColumnMappingMode::None,
                Some(m) if m.eq_ignore_ascii_case("name") => ColumnMappingMode::Name,
                Some(m) if m.eq_ignore_ascii_case("id") => ColumnMappingMode::Id,
                Some(m) => ColumnMappingMode::Unknown(m.to_string()),
            },
            serializable: get(ISOLATION_LEVEL)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("Serializable")),
        }
    }

    /// The log retention in milliseconds, 30 days when unset.
    ///
    /// # Errors
    /// The value as written when it is not an interval strata can read.
    pub fn log_retention(&self) -> Result<i64, &str> {
        self.log_retention_ms.or(DEFAULT_LOG_RETENTION_MS)
    }

    /// The deleted-file retention in milliseconds, 7 days when unset.
    ///
    /// # Errors
    /// The value as written when it is not an interval strata can read.
    pub fn deleted_file_retention(&self) -> Result<i64, &str> {
        self.deleted_file_retention_ms
            .or(DEFAULT_DELETED_FILE_RETENTION_MS)
    }

    /// How long an uncommitted data file is presumed in flight, one hour when unset. A value
    /// strata cannot read keeps the default (keeping files longer is the safe reading) and is
    /// logged.
    pub fn in_flight_grace(&self) -> i64 {
        match &self.in_flight_grace_ms {
            PropertyValue::Unset => DEFAULT_IN_FLIGHT_GRACE_MS,
            PropertyValue::Set(ms) => *ms,
            PropertyValue::Invalid(v) => {
                tracing::warn!(
                    "{IN_FLIGHT_GRACE}={v:?} is not milliseconds or an interval; using one hour"
                );
                DEFAULT_IN_FLIGHT_GRACE_MS
            }
        }
    }

    /// Whether the automatic log cleanup after a checkpoint runs: true unless the table says
    /// `false`. A value other than `true`/`false` turns it off (deleting nothing is the safe
    /// reading) and is logged.
    pub fn expired_log_cleanup_enabled(&self) -> bool {
        match &self.enable_expired_log_cleanup {
            PropertyValue::Unset => true,
            PropertyValue::Set(on) => *on,
            PropertyValue::Invalid(v) => {
                tracing::warn!(
                    "{ENABLE_EXPIRED_LOG_CLEANUP}={v:?} is not true or false; automatic log cleanup is off"
                );
                false
            }
        }
    }
}

/// Parses a Spark calendar interval as Delta's duration properties use it (`interval 1 week`,
/// `interval 7 days`, `168 hours`, `interval 1 day 12 hours`) into milliseconds. Units: week,
/// day, hour, minute, second, millisecond, microsecond (singular or plural, any case); the
/// `interval` keyword is optional. Months and years have no fixed length and are refused, as
/// Delta refuses them; so are negative totals and anything else (`None`).
pub fn parse_interval_ms(text: &str) -> Option<i64> {
    let lower = text.trim().to_ascii_lowercase();
    let mut words = lower.split_whitespace().peekable();
    if words.peek() == Some(&"interval") {
        words.next();
    }
    let mut total_us: i64 = 0;
    let mut any = false;
    while let Some(number) = words.next() {
        let n: i64 = number.parse().ok()?;
        let unit = words.next()?;
        let unit = unit.strip_suffix('s').unwrap_or(unit);
        let per_unit_us: i64 = match unit {
            "week" => 7 * 86_400_000_000,
            "day" => 86_400_000_000,
            "hour" => 3_600_000_000,
            "minute" => 60_000_000,
            "second" => 1_000_000,
            "millisecond" => 1_000,
            "microsecond" => 1,
            _ => return None,
        };
        total_us = total_us.checked_add(n.checked_mul(per_unit_us)?)?;
        any = true;
    }
    (any && total_us >= 0).then_some(total_us / 1000)
}

/// A duration in its largest whole unit (`7 days`, `36 hours`, `1500 ms`), for messages: the
/// inverse, for people, of [`parse_interval_ms`].
pub fn format_duration_ms(ms: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (7 * 86_400_000, "week"),
        (86_400_000, "day"),
        (3_600_000, "hour"),
        (60_000, "minute"),
        (1_000, "second"),
    ];
    if ms == 0 {
        return "0 seconds".into();
    }
    for (size, unit) in UNITS {
        if ms % size == 0 {
            let n = ms / size;
            return format!("{n} {unit}{}", if n.abs() == 1 { "" } else { "s" });
        }
    }
    format!("{ms} ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> TableProperties {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TableProperties::from_configuration(&map)
    }

    #[test]
    fn retention_defaults_to_thirty_days_and_refuses_what_it_cannot_read() {
        assert_eq!(props(&[]).log_retention(), Ok(DEFAULT_LOG_RETENTION_MS));
        assert_eq!(
            props(&[(LOG_RETENTION_DURATION, "interval 2 days")]).log_retention(),
            Ok(2 * 86_400_000)
        );
        assert_eq!(
            props(&[(LOG_RETENTION_DURATION, "interval 0 seconds")]).log_retention(),
            Ok(0)
        );
        for bad in ["interval 1 month", "forever", "", "-1 days"] {
            assert_eq!(
                props(&[(LOG_RETENTION_DURATION, bad)]).log_retention(),
                Err(bad),
                "{bad:?}"
            );
        }
        assert_eq!(
            props(&[]).deleted_file_retention(),
            Ok(DEFAULT_DELETED_FILE_RETENTION_MS)
        );
    }

    #[test]
    fn automatic_cleanup_is_on_unless_turned_off() {
        assert!(props(&[]).expired_log_cleanup_enabled());
        assert!(props(&[(ENABLE_EXPIRED_LOG_CLEANUP, "TRUE")]).expired_log_cleanup_enabled());
        for off in ["false", "False", "maybe"] {
            assert!(
                !props(&[(ENABLE_EXPIRED_LOG_CLEANUP, off)]).expired_log_cleanup_enabled(),
                "{off:?}"
            );
        }
    }

    #[test]
    fn flags_intervals_and_modes_parse_once() {
        let p = props(&[
            (APPEND_ONLY, "TRUE"),
            (CHECKPOINT_INTERVAL, "10"),
            (CHECKPOINT_WRITE_STATS_AS_STRUCT, " true "),
            (ENABLE_IN_COMMIT_TIMESTAMPS, "true"),
            (IN_COMMIT_TIMESTAMP_ENABLEMENT_VERSION, "7"),
            (COLUMN_MAPPING_MODE, "Name"),
        ]);
        assert!(p.append_only && p.checkpoint_write_stats_as_struct);
        assert_eq!(p.checkpoint_interval, 10);
        assert!(p.enable_in_commit_timestamps);
        assert_eq!(p.in_commit_timestamp_enablement_version, Some(7));
        assert_eq!(p.column_mapping_mode, ColumnMappingMode::Name);
        let defaults = props(&[(CHECKPOINT_INTERVAL, "-5"), (APPEND_ONLY, "yes")]);
        assert_eq!(defaults.checkpoint_interval, DEFAULT_CHECKPOINT_INTERVAL);
        assert!(!defaults.append_only);
        assert_eq!(
            props(&[(COLUMN_MAPPING_MODE, "magic")]).column_mapping_mode,
            ColumnMappingMode::Unknown("magic".into())
        );
    }

    #[test]
    fn durations_format_in_their_largest_whole_unit_and_parse_back() {
        for (ms, text) in [
            (7 * 86_400_000, "1 week"),
            (36 * 3_600_000, "36 hours"),
            (0, "0 seconds"),
            (1_500, "1500 ms"),
            (90_000, "90 seconds"),
        ] {
            assert_eq!(format_duration_ms(ms), text);
            if !text.ends_with(" ms") {
                assert_eq!(parse_interval_ms(text), Some(ms), "{text}");
            }
        }
    }

    #[test]
    fn spark_intervals_parse() {
        let day = 86_400_000;
        for (text, ms) in [
            ("interval 1 week", 7 * day),
            ("interval 7 days", 7 * day),
            ("interval 168 hours", 7 * day),
            ("INTERVAL 2 Weeks", 14 * day),
            ("30 days", 30 * day),
            ("interval 1 day 12 hours", day + day / 2),
            ("interval 90 minutes", 5_400_000),
            ("interval 5 seconds 7 milliseconds", 5_007),
            ("interval 1500 microseconds", 1),
            ("interval 0 seconds", 0),
        ] {
            assert_eq!(parse_interval_ms(text), Some(ms), "{text}");
        }
        for bad in [
            "",
            "interval",
            "interval 1 month",
            "interval 1 year",
            "interval -1 days",
            "interval 1.5 days",
            "interval days",
            "1 fortnight",
            "interval 1 day extra",
        ] {
            assert_eq!(parse_interval_ms(bad), None, "{bad}");
        }
    }
}
