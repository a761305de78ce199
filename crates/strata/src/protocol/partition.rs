//! Partition values: serialization, parsing and Hive-style directory paths.
//!
//! Implements the "Partition Value Serialization" rules of the Delta protocol
//! (`protocol/PROTOCOL.md#partitions`). Partition columns are not stored in the
//! data files; their values live as strings in `add.partitionValues` and are
//! re-materialised as constant columns on read, so the string form must round
//! trip exactly and match what Spark/Delta writers produce. Directory names use
//! Hive's `escapePathName` so that tables written here are laid out the way other
//! Delta engines expect (the protocol does not require a layout, but readers and
//! humans rely on the conventional one).

use std::fmt::Write as _;
use std::iter::repeat_n;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BinaryArray, BinaryViewArray, BooleanArray,
    FixedSizeBinaryArray, LargeBinaryArray, LargeStringArray, PrimitiveArray, StringArray,
    StringViewArray, new_null_array,
};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Date32Type, Decimal32Type, Decimal64Type, Decimal128Type, Float32Type, Float64Type,
    Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow::error::ArrowError;
use chrono::Datelike as _;

use crate::protocol::values::{EPOCH_DAYS_FROM_CE, format_decimal, parse_decimal_at};

/// Serialized values of a row's partition columns (`None` = null), in
/// partition-column order; equal to `Vec<Option<String>>`.
pub type PartitionValues = Vec<Option<String>>;

/// Directory value used for null (and empty-string) partition values.
pub const HIVE_DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Errors raised while serializing, parsing or splitting partition values.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// A partition value string cannot be parsed as (or a value cannot be
    /// serialized from) the column type.
    #[error("invalid partition value {value:?} for type {data_type}: {reason}")]
    InvalidValue {
        /// The offending value, as text.
        value: String,
        /// The Arrow type it was meant for.
        data_type: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The Arrow type cannot be used as a partition column.
    #[error("unsupported partition column type {0}")]
    UnsupportedType(String),
    /// A partition column is not present in the record batch.
    #[error("partition column {0:?} not found in record batch")]
    MissingColumn(String),
    /// `row` is past the end of the array.
    #[error("row {row} out of bounds for array of length {len}")]
    RowOutOfBounds {
        /// The requested row.
        row: usize,
        /// The array length.
        len: usize,
    },
    /// An Arrow kernel failed.
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

fn invalid(
    value: impl Into<String>,
    data_type: &DataType,
    reason: impl Into<String>,
) -> PartitionError {
    PartitionError::InvalidValue {
        value: value.into(),
        data_type: data_type.to_string(),
        reason: reason.into(),
    }
}

pub(crate) fn unsupported(data_type: &DataType) -> PartitionError {
    PartitionError::UnsupportedType(data_type.to_string())
}

/// Whether `data_type` can be a partition column (serialized and parsed).
pub(crate) fn is_supported(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float32
        | DataType::Float64
        | DataType::Boolean
        | DataType::Date32
        | DataType::Timestamp(..)
        | DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => true,
        DataType::Dictionary(_, value) => is_supported(value),
        _ => false,
    }
}

fn primitive<T: ArrowPrimitiveType>(
    array: &dyn Array,
    row: usize,
) -> Result<T::Native, PartitionError> {
    array
        .as_primitive_opt::<T>()
        .map(|a| a.value(row))
        .ok_or_else(|| unsupported(array.data_type()))
}

/// Serialize the value at `row` of a partition column to Delta's partition-value
/// string; `None` for null.
///
/// Strings are kept as-is, integers and decimals are plain decimal text (decimals
/// keep their scale: `1.50`), floats use Rust's shortest round-trip text (`1.5`,
/// `1e20`, `NaN`, `Infinity`), booleans `true`/`false`, dates `YYYY-MM-DD`,
/// timestamps `YYYY-MM-DD HH:MM:SS[.ffffff]` in UTC (nanosecond timestamps with
/// sub-microsecond digits get nine fraction digits so they stay lossless), and
/// binary maps each byte to the char U+00XX. An empty result is `None`, as Spark
/// treats empty-string partition values as null.
pub fn serialize_value(array: &dyn Array, row: usize) -> Result<Option<String>, PartitionError> {
    if row >= array.len() {
        return Err(PartitionError::RowOutOfBounds {
            row,
            len: array.len(),
        });
    }
    if array.is_null(row) {
        return Ok(None);
    }
    let data_type = array.data_type();
    let text = match data_type {
        DataType::Utf8 => string_value(
            array.as_string_opt::<i32>().map(|a| a.value(row)),
            data_type,
        )?,
        DataType::LargeUtf8 => string_value(
            array.as_string_opt::<i64>().map(|a| a.value(row)),
            data_type,
        )?,
        DataType::Utf8View => {
            string_value(array.as_string_view_opt().map(|a| a.value(row)), data_type)?
        }
        DataType::Int8 => primitive::<Int8Type>(array, row)?.to_string(),
        DataType::Int16 => primitive::<Int16Type>(array, row)?.to_string(),
        DataType::Int32 => primitive::<Int32Type>(array, row)?.to_string(),
        DataType::Int64 => primitive::<Int64Type>(array, row)?.to_string(),
        DataType::UInt8 => primitive::<UInt8Type>(array, row)?.to_string(),
        DataType::UInt16 => primitive::<UInt16Type>(array, row)?.to_string(),
        DataType::UInt32 => primitive::<UInt32Type>(array, row)?.to_string(),
        DataType::UInt64 => primitive::<UInt64Type>(array, row)?.to_string(),
        DataType::Float32 => format_float(primitive::<Float32Type>(array, row)?),
        DataType::Float64 => format_float(primitive::<Float64Type>(array, row)?),
        DataType::Boolean => array
            .as_boolean_opt()
            .map(|a| a.value(row).to_string())
            .ok_or_else(|| unsupported(data_type))?,
        DataType::Date32 => {
            let days = primitive::<Date32Type>(array, row)?;
            date_from_days(days)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .ok_or_else(|| invalid(days.to_string(), data_type, "date out of range"))?
        }
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => primitive::<TimestampSecondType>(array, row)?,
                TimeUnit::Millisecond => primitive::<TimestampMillisecondType>(array, row)?,
                TimeUnit::Microsecond => primitive::<TimestampMicrosecondType>(array, row)?,
                TimeUnit::Nanosecond => primitive::<TimestampNanosecondType>(array, row)?,
            };
            format_timestamp(v, *unit)
                .ok_or_else(|| invalid(v.to_string(), data_type, "timestamp out of range"))?
        }
        DataType::Decimal32(_, scale) => {
            format_decimal(primitive::<Decimal32Type>(array, row)?.into(), *scale)
        }
        DataType::Decimal64(_, scale) => {
            format_decimal(primitive::<Decimal64Type>(array, row)?.into(), *scale)
        }
        DataType::Decimal128(_, scale) => {
            format_decimal(primitive::<Decimal128Type>(array, row)?, *scale)
        }
        DataType::Binary => binary_to_string(
            array.as_binary_opt::<i32>().map(|a| a.value(row)),
            data_type,
        )?,
        DataType::LargeBinary => binary_to_string(
            array.as_binary_opt::<i64>().map(|a| a.value(row)),
            data_type,
        )?,
        DataType::BinaryView => {
            binary_to_string(array.as_binary_view_opt().map(|a| a.value(row)), data_type)?
        }
        DataType::FixedSizeBinary(_) => binary_to_string(
            array.as_fixed_size_binary_opt().map(|a| a.value(row)),
            data_type,
        )?,
        DataType::Dictionary(_, value_type) if is_supported(value_type) => {
            // Decode just this row; `is_null` above only looked at the key.
            let decoded = cast(&array.slice(row, 1), value_type)?;
            return serialize_value(decoded.as_ref(), 0);
        }
        other => return Err(unsupported(other)),
    };
    Ok(if text.is_empty() { None } else { Some(text) })
}

fn string_value(value: Option<&str>, data_type: &DataType) -> Result<String, PartitionError> {
    value
        .map(str::to_string)
        .ok_or_else(|| unsupported(data_type))
}

fn binary_to_string(value: Option<&[u8]>, data_type: &DataType) -> Result<String, PartitionError> {
    value
        .map(|bytes| bytes.iter().map(|&b| char::from(b)).collect())
        .ok_or_else(|| unsupported(data_type))
}

trait FloatText: Copy + std::fmt::Debug {
    fn is_nan(self) -> bool;
    fn is_infinite(self) -> bool;
    fn is_sign_negative(self) -> bool;
}

macro_rules! float_text {
    ($($t:ty),*) => {$(
        impl FloatText for $t {
            fn is_nan(self) -> bool { <$t>::is_nan(self) }
            fn is_infinite(self) -> bool { <$t>::is_infinite(self) }
            fn is_sign_negative(self) -> bool { <$t>::is_sign_negative(self) }
        }
    )*};
}
float_text!(f32, f64);

fn format_float<F: FloatText>(v: F) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v.is_sign_negative() {
            "-Infinity"
        } else {
            "Infinity"
        }
        .to_string()
    } else {
        format!("{v:?}")
    }
}

fn date_from_days(days: i32) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::from_num_days_from_ce_opt(days.checked_add(EPOCH_DAYS_FROM_CE)?)
}

fn units_per_second(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

fn format_timestamp(v: i64, unit: TimeUnit) -> Option<String> {
    let per_sec = units_per_second(unit);
    let secs = v.div_euclid(per_sec);
    let nanos = u32::try_from(v.rem_euclid(per_sec) * (1_000_000_000 / per_sec)).ok()?;
    let ts = chrono::DateTime::from_timestamp(secs, nanos)?;
    let mut out = ts.format("%Y-%m-%d %H:%M:%S").to_string();
    if nanos % 1_000 != 0 {
        let _ = write!(out, ".{nanos:09}");
    } else if nanos != 0 {
        let _ = write!(out, ".{:06}", nanos / 1_000);
    }
    Some(out)
}

/// A constant array of `len` rows holding the partition value parsed for
/// `data_type` (`None`, or an empty string, gives nulls).
///
/// Accepts everything [`serialize_value`] produces plus ISO-8601 timestamps
/// (`1970-01-01T00:00:00.123456Z`, `...+02:00`, converted to UTC; a zone is also
/// accepted for timezone-less timestamps and normalised to UTC), timestamps
/// without fraction or seconds, dates for timestamp columns (midnight), Java
/// float spellings (`Infinity`, `1.0E20`) and exponent forms for decimals.
/// Values that would lose precision (too many fraction digits for a decimal's
/// scale or a timestamp's unit) are rejected.
pub fn parse_value(
    value: Option<&str>,
    data_type: &DataType,
    len: usize,
) -> Result<ArrayRef, PartitionError> {
    if !is_supported(data_type) {
        return Err(unsupported(data_type));
    }
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(new_null_array(data_type, len));
    };
    let bad = |reason: &str| invalid(value, data_type, reason);
    fn num<T: std::str::FromStr>(value: &str) -> Option<T> {
        value.trim().parse().ok()
    }
    fn constant<T: ArrowPrimitiveType>(v: T::Native, len: usize) -> ArrayRef {
        Arc::new(PrimitiveArray::<T>::from_value(v, len))
    }
    let array: ArrayRef = match data_type {
        DataType::Utf8 => Arc::new(StringArray::from_iter_values(repeat_n(value, len))),
        DataType::LargeUtf8 => Arc::new(LargeStringArray::from_iter_values(repeat_n(value, len))),
        DataType::Utf8View => Arc::new(StringViewArray::from_iter_values(repeat_n(value, len))),
        DataType::Int8 => constant::<Int8Type>(num(value).ok_or_else(|| bad("not an int8"))?, len),
        DataType::Int16 => {
            constant::<Int16Type>(num(value).ok_or_else(|| bad("not an int16"))?, len)
        }
        DataType::Int32 => {
            constant::<Int32Type>(num(value).ok_or_else(|| bad("not an int32"))?, len)
        }
        DataType::Int64 => {
            constant::<Int64Type>(num(value).ok_or_else(|| bad("not an int64"))?, len)
        }
        DataType::UInt8 => {
            constant::<UInt8Type>(num(value).ok_or_else(|| bad("not a uint8"))?, len)
        }
        DataType::UInt16 => {
            constant::<UInt16Type>(num(value).ok_or_else(|| bad("not a uint16"))?, len)
        }
        DataType::UInt32 => {
            constant::<UInt32Type>(num(value).ok_or_else(|| bad("not a uint32"))?, len)
        }
        DataType::UInt64 => {
            constant::<UInt64Type>(num(value).ok_or_else(|| bad("not a uint64"))?, len)
        }
        DataType::Float32 => {
            constant::<Float32Type>(num(value).ok_or_else(|| bad("not a float"))?, len)
        }
        DataType::Float64 => {
            constant::<Float64Type>(num(value).ok_or_else(|| bad("not a double"))?, len)
        }
        DataType::Boolean => {
            let b = match value.trim() {
                v if v.eq_ignore_ascii_case("true") => true,
                v if v.eq_ignore_ascii_case("false") => false,
                _ => return Err(bad("expected true or false")),
            };
            Arc::new(BooleanArray::from(vec![b; len]))
        }
        DataType::Date32 => {
            let date = parse_date(value.trim()).ok_or_else(|| bad("expected YYYY-MM-DD"))?;
            let days = date.num_days_from_ce() - EPOCH_DAYS_FROM_CE;
            constant::<Date32Type>(days, len)
        }
        DataType::Timestamp(unit, tz) => {
            let (secs, nanos) = parse_timestamp(value).map_err(|r| bad(&r))?;
            let v = to_unit(secs, nanos, *unit).map_err(|r| bad(&r))?;
            match unit {
                TimeUnit::Second => Arc::new(
                    PrimitiveArray::<TimestampSecondType>::from_value(v, len)
                        .with_timezone_opt(tz.clone()),
                ),
                TimeUnit::Millisecond => Arc::new(
                    PrimitiveArray::<TimestampMillisecondType>::from_value(v, len)
                        .with_timezone_opt(tz.clone()),
                ),
                TimeUnit::Microsecond => Arc::new(
                    PrimitiveArray::<TimestampMicrosecondType>::from_value(v, len)
                        .with_timezone_opt(tz.clone()),
                ),
                TimeUnit::Nanosecond => Arc::new(
                    PrimitiveArray::<TimestampNanosecondType>::from_value(v, len)
                        .with_timezone_opt(tz.clone()),
                ),
            }
        }
        DataType::Decimal32(p, s) => {
            let v = parse_decimal_at(value, *p, *s).map_err(|r| bad(&r))?;
            let v = i32::try_from(v).map_err(|_| bad("out of range"))?;
            Arc::new(
                PrimitiveArray::<Decimal32Type>::from_value(v, len)
                    .with_precision_and_scale(*p, *s)?,
            )
        }
        DataType::Decimal64(p, s) => {
            let v = parse_decimal_at(value, *p, *s).map_err(|r| bad(&r))?;
            let v = i64::try_from(v).map_err(|_| bad("out of range"))?;
            Arc::new(
                PrimitiveArray::<Decimal64Type>::from_value(v, len)
                    .with_precision_and_scale(*p, *s)?,
            )
        }
        DataType::Decimal128(p, s) => {
            let v = parse_decimal_at(value, *p, *s).map_err(|r| bad(&r))?;
            Arc::new(
                PrimitiveArray::<Decimal128Type>::from_value(v, len)
                    .with_precision_and_scale(*p, *s)?,
            )
        }
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => {
            let bytes = value
                .chars()
                .map(|c| u8::try_from(u32::from(c)).ok())
                .collect::<Option<Vec<u8>>>()
                .ok_or_else(|| bad("binary values must only contain chars U+0000..=U+00FF"))?;
            match data_type {
                DataType::Binary => Arc::new(BinaryArray::from_iter_values(repeat_n(&bytes, len))),
                DataType::LargeBinary => {
                    Arc::new(LargeBinaryArray::from_iter_values(repeat_n(&bytes, len)))
                }
                DataType::BinaryView => {
                    Arc::new(BinaryViewArray::from_iter_values(repeat_n(&bytes, len)))
                }
                _ => {
                    let DataType::FixedSizeBinary(width) = data_type else {
                        return Err(unsupported(data_type));
                    };
                    if usize::try_from(*width).ok() != Some(bytes.len()) {
                        return Err(bad("wrong length for fixed-size binary"));
                    }
                    if len == 0 {
                        Arc::new(FixedSizeBinaryArray::new_null(*width, 0))
                    } else {
                        Arc::new(FixedSizeBinaryArray::try_from_iter(repeat_n(&bytes, len))?)
                    }
                }
            }
        }
        DataType::Dictionary(_, value_type) => {
            let values = parse_value(Some(value), value_type, len)?;
            cast(&values, data_type)?
        }
        other => return Err(unsupported(other)),
    };
    Ok(array)
}

/// Parse `[+-]Y-M-D` (month and day with one or two digits).
fn parse_date(s: &str) -> Option<chrono::NaiveDate> {
    let (sign, rest) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut parts = rest.split('-');
    let year = digits_i32(parts.next()?, 4, 6)?;
    let month = digits_i32(parts.next()?, 1, 2)?;
    let day = digits_i32(parts.next()?, 1, 2)?;
    if parts.next().is_some() {
        return None;
    }
    chrono::NaiveDate::from_ymd_opt(
        sign * year,
        u32::try_from(month).ok()?,
        u32::try_from(day).ok()?,
    )
}

/// Parse an all-ASCII-digit string of `min..=max` digits.
fn digits_i32(s: &str, min: usize, max: usize) -> Option<i32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parse a timestamp into UTC `(seconds since epoch, nanoseconds)`.
///
/// Grammar: `DATE[(' '|'T')HH:MM[:SS[.F{1,9}]][ZONE]]`, where ZONE is `Z`, `UTC`
/// or `[+-]HH[:MM]` / `[+-]HHMM`, optionally preceded by a space.
fn parse_timestamp(s: &str) -> Result<(i64, u32), String> {
    let s = s.trim();
    let (date_part, time_part) = match s.find([' ', 'T', 't']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let date = parse_date(date_part).ok_or("invalid date")?;
    let (time, offset_secs) = match time_part {
        None => (chrono::NaiveTime::MIN, 0),
        Some(t) => parse_time_and_zone(t.trim_start())?,
    };
    let utc = date.and_time(time).and_utc();
    let secs = utc
        .timestamp()
        .checked_sub(offset_secs)
        .ok_or("timestamp out of range")?;
    Ok((secs, utc.timestamp_subsec_nanos()))
}

fn parse_time_and_zone(t: &str) -> Result<(chrono::NaiveTime, i64), String> {
    // The clock part is digits, ':' and '.'; everything after is the zone.
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
        .unwrap_or(t.len());
    let (clock, zone) = t.split_at(end);
    let (hms, frac) = match clock.split_once('.') {
        Some((hms, frac)) => (hms, Some(frac)),
        None => (clock, None),
    };
    let mut fields = hms.split(':');
    let hour = fields.next().and_then(|h| digits_i32(h, 1, 2));
    let minute = fields.next().and_then(|m| digits_i32(m, 2, 2));
    let second = match fields.next() {
        Some(sec) => digits_i32(sec, 2, 2),
        None if frac.is_none() => Some(0),
        None => None,
    };
    let (Some(hour), Some(minute), Some(second), None) = (hour, minute, second, fields.next())
    else {
        return Err("invalid time, expected HH:MM:SS[.ffffff]".to_string());
    };
    let nanos = match frac {
        None => 0,
        Some(f) if (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
            let padded = format!("{f:0<9}");
            padded.parse::<u32>().map_err(|_| "invalid fraction")?
        }
        Some(_) => return Err("fraction must have 1 to 9 digits".to_string()),
    };
    let time = match [hour, minute, second].map(u32::try_from) {
        [Ok(h), Ok(m), Ok(sec)] => chrono::NaiveTime::from_hms_nano_opt(h, m, sec, nanos),
        _ => None,
    }
    .ok_or("time out of range")?;
    Ok((time, parse_zone(zone.trim_start())?))
}

/// Offset of `zone` from UTC in seconds (`""`, `Z`, `UTC` are zero).
fn parse_zone(zone: &str) -> Result<i64, String> {
    if zone.is_empty() || zone.eq_ignore_ascii_case("z") || zone.eq_ignore_ascii_case("utc") {
        return Ok(0);
    }
    let err = || format!("invalid time zone offset {zone:?}");
    let (sign, rest) = match zone.split_at_checked(1) {
        Some(("+", rest)) => (1, rest),
        Some(("-", rest)) => (-1, rest),
        _ => return Err(err()),
    };
    let (hh, mm) = match rest.split_once(':') {
        Some((hh, mm)) => (hh, mm),
        None if rest.len() == 4 => rest.split_at_checked(2).ok_or_else(err)?,
        None => (rest, "00"),
    };
    let hours = digits_i32(hh, 2, 2).filter(|h| *h <= 18).ok_or_else(err)?;
    let minutes = digits_i32(mm, 2, 2).filter(|m| *m < 60).ok_or_else(err)?;
    Ok(sign * (i64::from(hours) * 3600 + i64::from(minutes) * 60))
}

fn to_unit(secs: i64, nanos: u32, unit: TimeUnit) -> Result<i64, String> {
    let per_sec = units_per_second(unit);
    let nanos_per_unit = 1_000_000_000 / per_sec;
    let nanos = i64::from(nanos);
    if nanos % nanos_per_unit != 0 {
        return Err(format!("more precision than the {unit:?} unit holds"));
    }
    secs.checked_mul(per_sec)
        .and_then(|v| v.checked_add(nanos / nanos_per_unit))
        .ok_or_else(|| "timestamp out of range".to_string())
}

/// Relative directory for a partition, e.g. `date=2024-01-01/country=PT`.
///
/// Names and values are escaped with [`escape_path_name`]; a `None` or empty
/// value becomes [`HIVE_DEFAULT_PARTITION`]. Extra columns or values beyond the
/// shorter of the two slices are ignored.
pub fn partition_dir(columns: &[String], values: &[Option<String>]) -> String {
    let mut out = String::new();
    for (i, (column, value)) in columns.iter().zip(values).enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&escape_path_name(column));
        out.push('=');
        match value.as_deref() {
            Some(v) if !v.is_empty() => out.push_str(&escape_path_name(v)),
            _ => out.push_str(HIVE_DEFAULT_PARTITION),
        }
    }
    out
}

/// Whether Hive/Spark's `escapePathName` escapes `c` (its `charToEscape` set).
fn needs_escaping(c: char) -> bool {
    matches!(
        c,
        '\u{01}'
            ..='\u{1F}'
                | '"'
                | '#'
                | '%'
                | '\''
                | '*'
                | '/'
                | ':'
                | '='
                | '?'
                | '\\'
                | '\u{7F}'
                | '{'
                | '['
                | ']'
                | '^'
    )
}

/// Hive/Spark `escapePathName`: replace each character of the `charToEscape`
/// set (control chars U+0001..U+001F, `"#%'*/:=?\`, U+007F, `{[]^`) by `%XX`
/// (uppercase hex); everything else, including non-ASCII, is kept.
pub fn escape_path_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if needs_escaping(c) {
            let _ = write!(out, "%{:02X}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// Hive/Spark `unescapePathName`: replace each `%XX` (two hex digits) by the
/// char U+00XX; malformed `%` sequences are left as-is.
#[cfg(test)]
pub fn unescape_path_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let code = after
            .get(..2)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match code {
            Some(code) => {
                out.push(char::from(code));
                rest = &after[2..];
            }
            None => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        Date32Array, Decimal128Array, DictionaryArray, Float32Array, Float64Array, Int8Array,
        Int16Array, Int32Array, Int64Array, TimestampMicrosecondArray, TimestampMillisecondArray,
        TimestampNanosecondArray, TimestampSecondArray,
    };

    use proptest::prelude::*;

    fn ser(array: &dyn Array, row: usize) -> Option<String> {
        serialize_value(array, row).unwrap()
    }

    /// serialize -> parse gives back the same single value for every row.
    fn assert_round_trip(array: ArrayRef) {
        for row in 0..array.len() {
            let text = ser(array.as_ref(), row);
            let parsed = parse_value(text.as_deref(), array.data_type(), 3).unwrap();
            assert_eq!(parsed.len(), 3);
            for i in 0..3 {
                assert_eq!(
                    parsed.slice(i, 1).to_data(),
                    array.slice(row, 1).to_data(),
                    "row {row} of {} via {text:?}",
                    array.data_type()
                );
            }
        }
    }

    #[test]
    fn round_trip_every_type() {
        let max38 = 10i128.pow(38) - 1;
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                Some("PT"),
                None,
                Some("a/b=c %"),
                Some("日本"),
            ])),
            Arc::new(LargeStringArray::from(vec!["x", "y z"])),
            Arc::new(StringViewArray::from(vec![
                "a longer string than twelve bytes",
                "s",
            ])),
            Arc::new(Int8Array::from(vec![Some(i8::MIN), None, Some(i8::MAX)])),
            Arc::new(Int16Array::from(vec![i16::MIN, 0, i16::MAX])),
            Arc::new(Int32Array::from(vec![i32::MIN, -1, i32::MAX])),
            Arc::new(Int64Array::from(vec![i64::MIN, 42, i64::MAX])),
            Arc::new(PrimitiveArray::<UInt64Type>::from(vec![u64::MAX, 0])),
            Arc::new(Float32Array::from(vec![
                0.1f32,
                -1.5e-7,
                f32::MAX,
                f32::INFINITY,
                -0.0,
            ])),
            Arc::new(Float64Array::from(vec![
                Some(0.1),
                Some(1e300),
                Some(f64::NEG_INFINITY),
                Some(f64::MIN_POSITIVE),
                None,
            ])),
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
            Arc::new(Date32Array::from(vec![0, 19753, -719162, 2_932_896])),
            Arc::new(TimestampMicrosecondArray::from(vec![
                0,
                123_456,
                -1,
                1_706_704_496_000_000,
            ])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(1), None, Some(-86_400_000_001)])
                    .with_timezone("UTC"),
            ),
            Arc::new(TimestampSecondArray::from(vec![-1, 1]).with_timezone("+05:30")),
            Arc::new(TimestampMillisecondArray::from(vec![-1, 1_500])),
            Arc::new(TimestampNanosecondArray::from(vec![
                -1,
                1_000,
                1_706_704_496_123_456_789,
            ])),
            Arc::new(
                Decimal128Array::from(vec![Some(150), Some(-1), Some(0), None])
                    .with_precision_and_scale(5, 2)
                    .unwrap(),
            ),
            Arc::new(
                Decimal128Array::from(vec![max38, -max38, 1])
                    .with_precision_and_scale(38, 18)
                    .unwrap(),
            ),
            Arc::new(
                Decimal128Array::from(vec![max38, -7])
                    .with_precision_and_scale(38, 0)
                    .unwrap(),
            ),
            Arc::new(BinaryArray::from(vec![
                Some(&[0u8, 1, 0x7f, 0x80, 0xff][..]),
                Some(b"abc"),
                None,
            ])),
            Arc::new(LargeBinaryArray::from(vec![&b"\xfe\x00"[..]])),
            Arc::new(BinaryViewArray::from(vec![&b"view"[..]])),
            Arc::new(
                FixedSizeBinaryArray::try_from_iter(vec![vec![1u8, 2], vec![255, 0]].into_iter())
                    .unwrap(),
            ),
        ];
        for array in arrays {
            assert_round_trip(array);
        }
    }

    #[test]
    fn serialized_forms() {
        let dec = Decimal128Array::from(vec![150, -5, 12345])
            .with_precision_and_scale(5, 2)
            .unwrap();
        assert_eq!(ser(&dec, 0).as_deref(), Some("1.50"));
        assert_eq!(ser(&dec, 1).as_deref(), Some("-0.05"));
        assert_eq!(ser(&dec, 2).as_deref(), Some("123.45"));
        let floats = Float64Array::from(vec![1.0, 1.5, f64::NAN, f64::INFINITY, 1e20]);
        let texts: Vec<_> = (0..5).map(|i| ser(&floats, i).unwrap()).collect();
        assert_eq!(texts, ["1.0", "1.5", "NaN", "Infinity", "1e20"]);
        let b = BooleanArray::from(vec![true, false]);
        assert_eq!(ser(&b, 0).as_deref(), Some("true"));
        assert_eq!(ser(&b, 1).as_deref(), Some("false"));
        let d = Date32Array::from(vec![19753]);
        assert_eq!(ser(&d, 0).as_deref(), Some("2024-01-31"));
        let ts = TimestampMicrosecondArray::from(vec![0, 123_456, 1_000_000, 120])
            .with_timezone("America/New_York");
        assert_eq!(ser(&ts, 0).as_deref(), Some("1970-01-01 00:00:00"));
        assert_eq!(ser(&ts, 1).as_deref(), Some("1970-01-01 00:00:00.123456"));
        assert_eq!(ser(&ts, 2).as_deref(), Some("1970-01-01 00:00:01"));
        assert_eq!(ser(&ts, 3).as_deref(), Some("1970-01-01 00:00:00.000120"));
        let ns = TimestampNanosecondArray::from(vec![1_500_000, 1]);
        assert_eq!(ser(&ns, 0).as_deref(), Some("1970-01-01 00:00:00.001500"));
        assert_eq!(
            ser(&ns, 1).as_deref(),
            Some("1970-01-01 00:00:00.000000001")
        );
        let bin = BinaryArray::from(vec![&[0x41u8, 0xe9, 0x00][..]]);
        assert_eq!(ser(&bin, 0).as_deref(), Some("A\u{e9}\u{0}"));
        // Empty strings (and empty binary) are null partition values.
        let s = StringArray::from(vec![Some(""), None]);
        assert_eq!(ser(&s, 0), None);
        assert_eq!(ser(&s, 1), None);
        assert_eq!(ser(&BinaryArray::from(vec![&b""[..]]), 0), None);
        // Dictionary-encoded columns serialize their decoded values.
        let dict: DictionaryArray<Int32Type> =
            vec![Some("b"), None, Some("a")].into_iter().collect();
        assert_eq!(ser(&dict, 0).as_deref(), Some("b"));
        assert_eq!(ser(&dict, 1), None);
    }

    #[test]
    fn serialize_errors() {
        let a = Int32Array::from(vec![1]);
        assert!(matches!(
            serialize_value(&a, 1),
            Err(PartitionError::RowOutOfBounds { row: 1, len: 1 })
        ));
        let list =
            arrow::array::ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![
                Some(1),
            ])]);
        assert!(matches!(
            serialize_value(&list, 0),
            Err(PartitionError::UnsupportedType(_))
        ));
        let ts = TimestampSecondArray::from(vec![i64::MAX]);
        assert!(matches!(
            serialize_value(&ts, 0),
            Err(PartitionError::InvalidValue { .. })
        ));
    }

    fn parse_micros(value: &str, tz: Option<&str>) -> Result<i64, PartitionError> {
        let dt = DataType::Timestamp(TimeUnit::Microsecond, tz.map(Into::into));
        let a = parse_value(Some(value), &dt, 1)?;
        Ok(a.as_primitive::<TimestampMicrosecondType>().value(0))
    }

    #[test]
    fn timestamp_parsing() {
        let utc = Some("UTC");
        for (text, expected) in [
            ("1970-01-01 00:00:00", 0),
            ("1970-01-01 00:00:00.123456", 123_456),
            ("1970-01-01 00:00:00.5", 500_000),
            ("1970-01-01T00:00:00.123456Z", 123_456),
            ("1970-01-01T00:00:00Z", 0),
            ("1970-01-01T01:00:00+01:00", 0),
            ("1970-01-01T00:00:00-0130", 5_400_000_000),
            ("1970-01-01 00:00:00 UTC", 0),
            ("1970-01-01 00:00", 0),
            ("1970-01-02", 86_400_000_000),
            ("1969-12-31 23:59:59.999999", -1),
            ("2024-01-31 12:34:56.123456", 1_706_704_496_123_456),
        ] {
            assert_eq!(parse_micros(text, utc).unwrap(), expected, "{text}");
        }
        // timestamp_ntz: no zone; a zone, if present, is normalised to UTC.
        assert_eq!(
            parse_micros("2024-01-31 12:34:56", None).unwrap(),
            1_706_704_496_000_000
        );
        assert_eq!(parse_micros("1970-01-01T02:00:00+02:00", None).unwrap(), 0);
        // The timezone of the target type is kept.
        let dt = DataType::Timestamp(TimeUnit::Microsecond, Some("+02:00".into()));
        assert_eq!(
            parse_value(Some("1970-01-01 00:00:00"), &dt, 2)
                .unwrap()
                .data_type(),
            &dt
        );
        // Other units.
        let sec = DataType::Timestamp(TimeUnit::Second, None);
        let a = parse_value(Some("1970-01-01 00:01:00"), &sec, 1).unwrap();
        assert_eq!(a.as_primitive::<TimestampSecondType>().value(0), 60);
        let ns = DataType::Timestamp(TimeUnit::Nanosecond, None);
        let a = parse_value(Some("1970-01-01 00:00:00.000000007"), &ns, 1).unwrap();
        assert_eq!(a.as_primitive::<TimestampNanosecondType>().value(0), 7);
        // Precision loss and garbage are rejected.
        for bad in [
            "1970-01-01 00:00:00.0000001",
            "1970-13-01 00:00:00",
            "1970-01-01 25:00:00",
            "1970-01-01 00:00:00+25:00",
            "1970-01-01 00:00:00 PST",
            "yesterday",
            "1970-01-01 00:00:00.",
            "1970-01-01 00:00:00.1234567890",
        ] {
            assert!(
                matches!(
                    parse_micros(bad, utc),
                    Err(PartitionError::InvalidValue { .. })
                ),
                "{bad}"
            );
        }
        assert!(parse_value(Some("1970-01-01 00:00:00.5"), &sec, 1).is_err());
    }

    #[test]
    fn other_parsing() {
        let p = |v: &str, dt: &DataType| parse_value(Some(v), dt, 1);
        assert!(p("1.0E20", &DataType::Float64).is_ok());
        let f = p("-Infinity", &DataType::Float64).unwrap();
        assert_eq!(f.as_primitive::<Float64Type>().value(0), f64::NEG_INFINITY);
        assert!(
            p("NaN", &DataType::Float32)
                .unwrap()
                .as_primitive::<Float32Type>()
                .value(0)
                .is_nan()
        );
        let b = p("TRUE", &DataType::Boolean).unwrap();
        assert!(b.as_boolean().value(0));
        let dec = DataType::Decimal128(5, 2);
        for (text, unscaled) in [
            ("1.5", 150),
            ("-0.05", -5),
            ("1.5E2", 15000),
            (".5", 50),
            ("7", 700),
        ] {
            let a = p(text, &dec).unwrap();
            assert_eq!(
                a.as_primitive::<Decimal128Type>().value(0),
                unscaled,
                "{text}"
            );
            assert_eq!(a.data_type(), &dec);
        }
        for bad in ["1.505", "1000", "abc", "1e", "", "-", "1.2.3"] {
            let r = p(bad, &dec);
            if bad.is_empty() {
                assert!(r.unwrap().is_null(0));
            } else {
                assert!(
                    matches!(r, Err(PartitionError::InvalidValue { .. })),
                    "{bad}"
                );
            }
        }
        let err = p("300", &DataType::Int8).unwrap_err();
        match err {
            PartitionError::InvalidValue {
                value, data_type, ..
            } => {
                assert_eq!(value, "300");
                assert_eq!(data_type, "Int8");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(p("2024-02-30", &DataType::Date32).is_err());
        assert!(p("\u{100}", &DataType::Binary).is_err());
        assert!(p("abc", &DataType::FixedSizeBinary(2)).is_err());
        assert!(matches!(
            p("1", &DataType::Float16),
            Err(PartitionError::UnsupportedType(_))
        ));
        assert!(matches!(
            parse_value(None, &DataType::Duration(TimeUnit::Second), 1),
            Err(PartitionError::UnsupportedType(_))
        ));
        // Null and empty string give all-null arrays of the right type.
        for v in [None, Some("")] {
            let a = parse_value(v, &DataType::Int32, 4).unwrap();
            assert_eq!(
                (a.len(), a.null_count(), a.data_type()),
                (4, 4, &DataType::Int32)
            );
        }
        let empty = parse_value(Some("x"), &DataType::Utf8, 0).unwrap();
        assert_eq!(empty.len(), 0);
        let dict_type = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let d = parse_value(Some("v"), &dict_type, 2).unwrap();
        assert_eq!(d.data_type(), &dict_type);
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_path_name("a/b=c"), "a%2Fb%3Dc");
        assert_eq!(
            escape_path_name("\"#%'*/:=?\\\u{7f}{[]^"),
            "%22%23%25%27%2A%2F%3A%3D%3F%5C%7F%7B%5B%5D%5E"
        );
        assert_eq!(escape_path_name("\u{1}\u{1f}\u{0} x"), "%01%1F\u{0} x");
        // Not in Spark's set: space, `}`, `<`, `>`, `|`, `&`, `+`, non-ASCII.
        let kept = " }<>|&+~!@$()日本é😀";
        assert_eq!(escape_path_name(kept), kept);
        assert_eq!(unescape_path_name("a%2Fb%3dc"), "a/b=c");
        assert_eq!(unescape_path_name("100%"), "100%");
        assert_eq!(unescape_path_name("%zz%4"), "%zz%4");
        assert_eq!(unescape_path_name("%%41"), "%A");
        assert_eq!(unescape_path_name("%E9"), "\u{e9}");
        assert_eq!(unescape_path_name("日%41本"), "日A本");
    }

    proptest! {
        #[test]
        fn unescape_inverts_escape(s in any::<String>()) {
            prop_assert_eq!(unescape_path_name(&escape_path_name(&s)), s);
        }

        #[test]
        fn unescape_never_panics(s in "[%0-9a-fA-F\u{0}-\u{ff}日]{0,12}") {
            let _ = unescape_path_name(&s);
        }

        #[test]
        fn string_and_i64_round_trip(s in any::<String>(), i in any::<i64>()) {
            // Empty strings intentionally become null (Spark semantics).
            prop_assume!(!s.is_empty());
            assert_round_trip(Arc::new(StringArray::from(vec![s])));
            assert_round_trip(Arc::new(Int64Array::from(vec![i])));
        }

        #[test]
        fn timestamp_round_trip(v in any::<i64>()) {
            let a = TimestampMicrosecondArray::from(vec![v / 8]).with_timezone("UTC");
            assert_round_trip(Arc::new(a));
        }
    }

    #[test]
    fn partition_dirs() {
        let cols = vec!["date".to_string(), "country".to_string()];
        assert_eq!(
            partition_dir(&cols, &[Some("2024-01-01".into()), Some("PT".into())]),
            "date=2024-01-01/country=PT"
        );
        assert_eq!(
            partition_dir(&cols, &[None, Some(String::new())]),
            "date=__HIVE_DEFAULT_PARTITION__/country=__HIVE_DEFAULT_PARTITION__"
        );
        assert_eq!(
            partition_dir(&["a=b".to_string()], &[Some("x/y:z 日".into())]),
            "a%3Db=x%2Fy%3Az 日"
        );
        assert_eq!(
            partition_dir(&["ts".to_string()], &[Some("1970-01-01 00:00:00".into())]),
            "ts=1970-01-01 00%3A00%3A00"
        );
        assert_eq!(partition_dir(&[], &[]), "");
    }
}
