//! Literal values and how they compare: [`Scalar`], [`CompareOp`], and the parsing of
//! literal text (numbers, dates, timestamps) shared by the SQL parser, predicate binding and
//! statistics.

use std::cmp::Ordering;
use std::fmt;

use super::ExprError;
use crate::protocol::values::{EPOCH_DAYS_FROM_CE, format_decimal, parse_decimal};

/// A literal value.
///
/// Literals written by users are untyped (`Int`, `Float`, `Decimal` text, `String`); binding
/// converts them to the column's type. The typed variants are what binding produces and what
/// statistics are parsed into.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Scalar {
    /// SQL `NULL`.
    Null,
    /// A boolean.
    Boolean(bool),
    /// An integer (any width).
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// An exact decimal: `unscaled × 10^-scale`.
    Decimal {
        /// The digits as an integer.
        unscaled: i128,
        /// Digits after the point.
        scale: i8,
    },
    /// A UTF-8 string.
    String(String),
    /// Bytes.
    Binary(Vec<u8>),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
    /// Microseconds since 1970-01-01T00:00:00, no time zone.
    TimestampNtz(i64),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Null => f.write_str("NULL"),
            Scalar::Boolean(b) => write!(f, "{}", if *b { "TRUE" } else { "FALSE" }),
            Scalar::Int(v) => write!(f, "{v}"),
            // Exponent form parses back as a float (`-0e0` keeps its sign); non-finite values
            // have no SQL literal and are written as strings, which float columns accept.
            Scalar::Float(v) if v.is_finite() => write!(f, "{v:e}"),
            Scalar::Float(v) => write!(f, "'{v}'"),
            Scalar::Decimal { unscaled, scale } => f.write_str(&format_decimal(*unscaled, *scale)),
            Scalar::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Scalar::Binary(b) => {
                f.write_str("X'")?;
                for byte in b {
                    write!(f, "{byte:02X}")?;
                }
                f.write_str("'")
            }
            Scalar::Date(days) => match chrono::NaiveDate::from_num_days_from_ce_opt(
                days.saturating_add(EPOCH_DAYS_FROM_CE),
            ) {
                Some(d) => write!(f, "DATE '{d}'"),
                None => write!(f, "DATE {days}"),
            },
            Scalar::Timestamp(us) => match chrono::DateTime::from_timestamp_micros(*us) {
                Some(t) => write!(f, "TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S%.fZ")),
                None => write!(f, "TIMESTAMP {us}"),
            },
            Scalar::TimestampNtz(us) => match chrono::DateTime::from_timestamp_micros(*us) {
                Some(t) => write!(
                    f,
                    "TIMESTAMP_NTZ '{}'",
                    t.naive_utc().format("%Y-%m-%d %H:%M:%S%.f")
                ),
                None => write!(f, "TIMESTAMP_NTZ {us}"),
            },
        }
    }
}

macro_rules! scalar_from {
    ($($t:ty => $v:ident as $as:ty),* $(,)?) => {$(
        impl From<$t> for Scalar {
            fn from(v: $t) -> Scalar {
                Scalar::$v(<$as>::from(v))
            }
        }
    )*};
}
scalar_from!(
    i8 => Int as i64, i16 => Int as i64, i32 => Int as i64, i64 => Int as i64,
    u8 => Int as i64, u16 => Int as i64, u32 => Int as i64,
    f32 => Float as f64, f64 => Float as f64, bool => Boolean as bool,
    String => String as String, &str => String as String, Vec<u8> => Binary as Vec<u8>,
);

impl From<chrono::NaiveDate> for Scalar {
    fn from(d: chrono::NaiveDate) -> Scalar {
        Scalar::Date(chrono::Datelike::num_days_from_ce(&d) - EPOCH_DAYS_FROM_CE)
    }
}

impl From<chrono::DateTime<chrono::Utc>> for Scalar {
    fn from(t: chrono::DateTime<chrono::Utc>) -> Scalar {
        Scalar::Timestamp(t.timestamp_micros())
    }
}

impl From<chrono::NaiveDateTime> for Scalar {
    fn from(t: chrono::NaiveDateTime) -> Scalar {
        Scalar::TimestampNtz(t.and_utc().timestamp_micros())
    }
}

impl<T: Into<Scalar>> From<Option<T>> for Scalar {
    fn from(v: Option<T>) -> Scalar {
        v.map_or(Scalar::Null, Into::into)
    }
}

impl Scalar {
    /// An exact decimal literal, e.g. `Scalar::decimal(1234, 2)` is `12.34`.
    pub fn decimal(unscaled: i128, scale: i8) -> Scalar {
        Scalar::Decimal { unscaled, scale }
    }

    /// Whether this is SQL `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, Scalar::Null)
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `<>` / `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
}

impl CompareOp {
    /// The operator whose result is the negation for non-null operands (`<` ↔ `>=`).
    pub fn negate(self) -> CompareOp {
        match self {
            CompareOp::Eq => CompareOp::NotEq,
            CompareOp::NotEq => CompareOp::Eq,
            CompareOp::Lt => CompareOp::GtEq,
            CompareOp::LtEq => CompareOp::Gt,
            CompareOp::Gt => CompareOp::LtEq,
            CompareOp::GtEq => CompareOp::Lt,
        }
    }

    /// The operator with its operands swapped (`a < b` ↔ `b > a`).
    pub fn flip(self) -> CompareOp {
        match self {
            CompareOp::Lt => CompareOp::Gt,
            CompareOp::LtEq => CompareOp::GtEq,
            CompareOp::Gt => CompareOp::Lt,
            CompareOp::GtEq => CompareOp::LtEq,
            other => other,
        }
    }

    pub(crate) fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::NotEq => "<>",
            CompareOp::Lt => "<",
            CompareOp::LtEq => "<=",
            CompareOp::Gt => ">",
            CompareOp::GtEq => ">=",
        }
    }
}

/// Whether `a op b` holds for two ordered values.
pub fn op_holds(op: CompareOp, ordering: Ordering) -> bool {
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::NotEq => ordering != Ordering::Equal,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::LtEq => ordering != Ordering::Greater,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::GtEq => ordering != Ordering::Less,
    }
}

/// Orders two values of the same kind (decimals of any scale; floats in IEEE total order, as
/// the row filter does); `None` for values of different kinds.
pub fn compare_scalars(a: &Scalar, b: &Scalar) -> Option<Ordering> {
    use Scalar as S;
    Some(match (a, b) {
        (S::Boolean(x), S::Boolean(y)) => x.cmp(y),
        (S::Int(x), S::Int(y)) => x.cmp(y),
        (S::Float(x), S::Float(y)) => x.total_cmp(y),
        (S::Int(x), S::Float(y)) => (*x as f64).total_cmp(y),
        (S::Float(x), S::Int(y)) => x.total_cmp(&(*y as f64)),
        (S::Decimal { .. } | S::Int(_), S::Decimal { .. } | S::Int(_)) => {
            let (xu, xs) = decimal_parts(a)?;
            let (yu, ys) = decimal_parts(b)?;
            let scale = xs.max(ys);
            let x = xu.checked_mul(10i128.checked_pow(u32::from((scale - xs).unsigned_abs()))?)?;
            let y = yu.checked_mul(10i128.checked_pow(u32::from((scale - ys).unsigned_abs()))?)?;
            x.cmp(&y)
        }
        (S::String(x), S::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (S::Binary(x), S::Binary(y)) => x.cmp(y),
        (S::Date(x), S::Date(y)) => x.cmp(y),
        (S::Timestamp(x), S::Timestamp(y)) | (S::TimestampNtz(x), S::TimestampNtz(y)) => x.cmp(y),
        _ => return None,
    })
}

fn decimal_parts(s: &Scalar) -> Option<(i128, i8)> {
    match s {
        Scalar::Int(v) => Some((i128::from(*v), 0)),
        Scalar::Decimal { unscaled, scale } if *scale >= 0 => Some((*unscaled, *scale)),
        _ => None,
    }
}

/// A number literal: an integer when it fits, an exact decimal when written with a point, a
/// float with an exponent.
pub(crate) fn parse_number(text: &str) -> Result<Scalar, ExprError> {
    let bad = || ExprError::Parse {
        input: text.to_string(),
        message: "not a number".into(),
    };
    if let Ok(v) = text.parse::<i64>() {
        return Ok(Scalar::Int(v));
    }
    if text.contains(['e', 'E']) {
        return text.parse::<f64>().map(Scalar::Float).map_err(|_| bad());
    }
    parse_decimal(text)
        .map(|(unscaled, scale)| Scalar::Decimal { unscaled, scale })
        .ok_or_else(bad)
}

/// `YYYY-MM-DD` → days since the epoch.
pub(crate) fn parse_date(text: &str) -> Option<Scalar> {
    let d = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    Some(Scalar::from(d))
}

/// A timestamp with an optional offset (UTC when none): RFC 3339 or `YYYY-MM-DD[ HH:MM:SS[.f]]`.
pub(crate) fn parse_timestamp(text: &str) -> Option<Scalar> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(Scalar::Timestamp(t.timestamp_micros()));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(t) = chrono::DateTime::parse_from_str(text, format) {
            return Some(Scalar::Timestamp(t.timestamp_micros()));
        }
    }
    let text = text.strip_suffix('Z').unwrap_or(text);
    match parse_timestamp_ntz(text)? {
        Scalar::TimestampNtz(us) => Some(Scalar::Timestamp(us)),
        _ => None,
    }
}

/// A timestamp without time zone: `YYYY-MM-DD[( |T)HH:MM:SS[.f]]`.
pub(crate) fn parse_timestamp_ntz(text: &str) -> Option<Scalar> {
    let text = text.trim();
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(Scalar::from(t));
        }
    }
    let d = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(Scalar::from(d.and_hms_opt(0, 0, 0)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_exact_value() {
        assert_eq!(parse_number("12").unwrap(), Scalar::Int(12));
        assert_eq!(parse_number("0.10").unwrap(), Scalar::decimal(10, 2));
        assert_eq!(
            parse_number("99999999999999999999").unwrap(),
            Scalar::decimal(99_999_999_999_999_999_999, 0)
        );
        assert_eq!(parse_decimal("-.5"), Some((-5, 1)));
        assert_eq!(parse_decimal("1.2.3"), None);
    }
}
