//! Predicates over a table's columns (`protocol/PROTOCOL.md#predicates`).
//!
//! An [`Expr`] is what a user writes: built in Rust (`col("id").gt_eq(lit(10))`) or parsed from
//! a SQL-like string (`"id >= 10 AND country = 'PT'"`, parsed by the `sqlparser` crate). It is
//! untyped: literals keep the form they were written in. Binding it to a table schema
//! ([`crate::expr::predicate::Predicate::bind`]) resolves the columns, coerces each literal to the
//! type of the column it is compared with, and rejects what cannot be evaluated, before any
//! file is opened. The same bound predicate prunes files and row groups by their statistics
//! ([`crate::expr::skipping`]) and filters rows with Arrow kernels, so delete, update and merge can
//! reuse it.
//!
//! Semantics are SQL's three-valued logic: a comparison with a null is null, `NOT null` is null,
//! and a row is kept only when the predicate is true.

pub mod predicate;
pub mod skipping;

use std::fmt;
use std::str::FromStr;

use sqlparser::ast::{self, BinaryOperator, UnaryOperator};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

/// Why an expression could not be parsed or bound.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ExprError {
    /// The text is not a valid expression.
    #[error("cannot parse predicate {input:?}: {message}")]
    Parse {
        /// The text given.
        input: String,
        /// What the parser expected.
        message: String,
    },
    /// The expression uses SQL that predicates do not support (functions, arithmetic, ...).
    #[error(
        "unsupported in a predicate: {what}; use comparisons, AND/OR/NOT, IS [NOT] NULL, IN and BETWEEN over columns and literals"
    )]
    Unsupported {
        /// The construct, as written.
        what: String,
    },
    /// A column the table does not have.
    #[error("predicate column `{column}` is not in the table schema; columns are: {}", available.join(", "))]
    UnknownColumn {
        /// The column as written.
        column: String,
        /// The table's columns.
        available: Vec<String>,
    },
    /// A literal or column that cannot be compared with the other side.
    #[error("predicate `{expr}`: {reason}")]
    Type {
        /// The offending sub-expression.
        expr: String,
        /// Why it does not type-check.
        reason: String,
    },
}

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
            Scalar::Decimal { unscaled, scale } => {
                f.write_str(&crate::protocol::partition::format_decimal(*unscaled, *scale))
            }
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

/// Days from 0001-01-01 (CE day 1) to 1970-01-01.
pub(crate) const EPOCH_DAYS_FROM_CE: i32 = 719_163;

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

    fn symbol(self) -> &'static str {
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

/// A predicate expression, before it is bound to a schema.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Expr {
    /// A column, as a path of field names (`["address", "city"]` for a struct field).
    Column(Vec<String>),
    /// A literal.
    Literal(Scalar),
    /// `left op right`.
    Compare {
        /// The operator.
        op: CompareOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `left AND right`.
    And(Box<Expr>, Box<Expr>),
    /// `left OR right`.
    Or(Box<Expr>, Box<Expr>),
    /// `NOT expr`.
    Not(Box<Expr>),
    /// `expr IS NULL`.
    IsNull(Box<Expr>),
    /// `expr IS NOT NULL`.
    IsNotNull(Box<Expr>),
    /// `expr [NOT] IN (list)`.
    In {
        /// The tested value.
        expr: Box<Expr>,
        /// The candidates.
        list: Vec<Expr>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `expr [NOT] BETWEEN low AND high` (inclusive).
    Between {
        /// The tested value.
        expr: Box<Expr>,
        /// Lower bound.
        low: Box<Expr>,
        /// Upper bound.
        high: Box<Expr>,
        /// `NOT BETWEEN`.
        negated: bool,
    },
}

/// A column reference; a dotted name (`"address.city"`) is a struct field path. Use
/// [`Expr::Column`] directly for names that contain dots.
pub fn col(name: &str) -> Expr {
    Expr::Column(name.split('.').map(str::to_string).collect())
}

/// A literal.
pub fn lit(value: impl Into<Scalar>) -> Expr {
    Expr::Literal(value.into())
}

impl Expr {
    fn compare(self, op: CompareOp, other: Expr) -> Expr {
        Expr::Compare {
            op,
            left: Box::new(self),
            right: Box::new(other),
        }
    }

    /// `self = other`
    pub fn eq(self, other: Expr) -> Expr {
        self.compare(CompareOp::Eq, other)
    }
    /// `self <> other`
    pub fn not_eq(self, other: Expr) -> Expr {
        self.compare(CompareOp::NotEq, other)
    }
    /// `self < other`
    pub fn lt(self, other: Expr) -> Expr {
        self.compare(CompareOp::Lt, other)
    }
    /// `self <= other`
    pub fn lt_eq(self, other: Expr) -> Expr {
        self.compare(CompareOp::LtEq, other)
    }
    /// `self > other`
    pub fn gt(self, other: Expr) -> Expr {
        self.compare(CompareOp::Gt, other)
    }
    /// `self >= other`
    pub fn gt_eq(self, other: Expr) -> Expr {
        self.compare(CompareOp::GtEq, other)
    }
    /// `self AND other`
    pub fn and(self, other: Expr) -> Expr {
        Expr::And(Box::new(self), Box::new(other))
    }
    /// `self OR other`
    pub fn or(self, other: Expr) -> Expr {
        Expr::Or(Box::new(self), Box::new(other))
    }
    /// `NOT self`
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Expr {
        Expr::Not(Box::new(self))
    }
    /// `self IS NULL`
    pub fn is_null(self) -> Expr {
        Expr::IsNull(Box::new(self))
    }
    /// `self IS NOT NULL`
    pub fn is_not_null(self) -> Expr {
        Expr::IsNotNull(Box::new(self))
    }
    /// `self IN (list)`
    pub fn is_in(self, list: impl IntoIterator<Item = Expr>) -> Expr {
        Expr::In {
            expr: Box::new(self),
            list: list.into_iter().collect(),
            negated: false,
        }
    }
    /// `self NOT IN (list)`
    pub fn is_not_in(self, list: impl IntoIterator<Item = Expr>) -> Expr {
        Expr::In {
            expr: Box::new(self),
            list: list.into_iter().collect(),
            negated: true,
        }
    }
    /// `self BETWEEN low AND high` (inclusive).
    pub fn between(self, low: Expr, high: Expr) -> Expr {
        Expr::Between {
            expr: Box::new(self),
            low: Box::new(low),
            high: Box::new(high),
            negated: false,
        }
    }

    /// Parses a SQL-like predicate: comparisons (`= <> != < <= > >=`), `AND`, `OR`, `NOT`,
    /// `IS [NOT] NULL`, `[NOT] IN (…)`, `[NOT] BETWEEN … AND …`, parentheses; column names
    /// (`a.b` for struct fields, backticks or double quotes for other names) and literals:
    /// numbers (exact decimals), `'strings'`, `TRUE`/`FALSE`/`NULL`, `DATE '2026-11-23'`,
    /// `TIMESTAMP '2026-11-23 10:00:00'` (UTC unless an offset is given), `X'00FF'`.
    ///
    /// # Errors
    /// [`ExprError::Parse`] for malformed text, [`ExprError::Unsupported`] for SQL outside
    /// that list.
    pub fn parse(input: &str) -> Result<Expr, ExprError> {
        let parse_error = |e: sqlparser::parser::ParserError| ExprError::Parse {
            input: input.to_string(),
            message: e.to_string(),
        };
        let dialect = GenericDialect {};
        let mut parser = Parser::new(&dialect)
            .try_with_sql(input)
            .map_err(parse_error)?;
        let expr = parser.parse_expr().map_err(parse_error)?;
        let next = parser.peek_token();
        if next.token != Token::EOF {
            return Err(ExprError::Parse {
                input: input.to_string(),
                message: format!("unexpected `{}` after the expression", next.token),
            });
        }
        from_sql(expr)
    }

    /// Every column path the expression reads.
    pub fn columns(&self) -> Vec<&[String]> {
        let mut out = Vec::new();
        self.visit_columns(&mut |c| out.push(c));
        out
    }

    fn visit_columns<'a>(&'a self, f: &mut impl FnMut(&'a [String])) {
        match self {
            Expr::Column(path) => f(path),
            Expr::Literal(_) => {}
            Expr::Compare { left, right, .. } | Expr::And(left, right) | Expr::Or(left, right) => {
                left.visit_columns(f);
                right.visit_columns(f);
            }
            Expr::Not(e) | Expr::IsNull(e) | Expr::IsNotNull(e) => e.visit_columns(f),
            Expr::In { expr, list, .. } => {
                expr.visit_columns(f);
                list.iter().for_each(|e| e.visit_columns(f));
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                expr.visit_columns(f);
                low.visit_columns(f);
                high.visit_columns(f);
            }
        }
    }
}

impl FromStr for Expr {
    type Err = ExprError;
    fn from_str(s: &str) -> Result<Expr, ExprError> {
        Expr::parse(s)
    }
}

/// Writes a column path as SQL, quoting names that are not plain identifiers.
pub(crate) fn column_text(path: &[String]) -> String {
    path.iter()
        .map(|name| {
            let plain = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if plain {
                name.clone()
            } else {
                format!("`{}`", name.replace('`', "``"))
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Column(path) => f.write_str(&column_text(path)),
            Expr::Literal(s) => write!(f, "{s}"),
            Expr::Compare { op, left, right } => write!(f, "{left} {} {right}", op.symbol()),
            Expr::And(l, r) => write!(f, "({l} AND {r})"),
            Expr::Or(l, r) => write!(f, "({l} OR {r})"),
            Expr::Not(e) => write!(f, "NOT ({e})"),
            Expr::IsNull(e) => write!(f, "{e} IS NULL"),
            Expr::IsNotNull(e) => write!(f, "{e} IS NOT NULL"),
            Expr::In {
                expr,
                list,
                negated,
            } => {
                let items: Vec<String> = list.iter().map(ToString::to_string).collect();
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{expr} {not}IN ({})", items.join(", "))
            }
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{expr} {not}BETWEEN {low} AND {high}")
            }
        }
    }
}

fn unsupported(what: impl fmt::Display) -> ExprError {
    ExprError::Unsupported {
        what: what.to_string(),
    }
}

/// Converts sqlparser's AST into an [`Expr`], refusing everything predicates do not support.
fn from_sql(expr: ast::Expr) -> Result<Expr, ExprError> {
    let boxed = |e: ast::Expr| from_sql(e).map(Box::new);
    Ok(match expr {
        ast::Expr::Identifier(ident) => Expr::Column(vec![ident.value]),
        ast::Expr::CompoundIdentifier(idents) => {
            Expr::Column(idents.into_iter().map(|i| i.value).collect())
        }
        ast::Expr::Nested(inner) => from_sql(*inner)?,
        ast::Expr::Value(v) => Expr::Literal(value_literal(v.value)?),
        ast::Expr::TypedString(ts) => typed_string(&ts.data_type, ts.value.value)?,
        ast::Expr::IsNull(e) => Expr::IsNull(boxed(*e)?),
        ast::Expr::IsNotNull(e) => Expr::IsNotNull(boxed(*e)?),
        ast::Expr::IsTrue(e) => from_sql(*e)?.eq(lit(true)),
        ast::Expr::IsFalse(e) => from_sql(*e)?.eq(lit(false)),
        ast::Expr::Between {
            expr,
            negated,
            low,
            high,
        } => Expr::Between {
            expr: boxed(*expr)?,
            low: boxed(*low)?,
            high: boxed(*high)?,
            negated,
        },
        ast::Expr::In {
            expr,
            target: ast::InTarget::List(list),
            negated,
            ..
        } => Expr::In {
            expr: boxed(*expr)?,
            list: list.into_iter().map(from_sql).collect::<Result<_, _>>()?,
            negated,
        },
        ast::Expr::UnaryOp { op, expr } => match op {
            UnaryOperator::Not => Expr::Not(boxed(*expr)?),
            UnaryOperator::Minus => match from_sql(*expr)? {
                Expr::Literal(s) => Expr::Literal(negate(s)?),
                other => return Err(unsupported(format!("-{other}"))),
            },
            UnaryOperator::Plus => from_sql(*expr)?,
            other => return Err(unsupported(other)),
        },
        ast::Expr::BinaryOp { left, op, right } => {
            let (l, r) = (boxed(*left)?, boxed(*right)?);
            let cmp = |op| Expr::Compare {
                op,
                left: l.clone(),
                right: r.clone(),
            };
            match op {
                BinaryOperator::And => Expr::And(l, r),
                BinaryOperator::Or => Expr::Or(l, r),
                BinaryOperator::Eq => cmp(CompareOp::Eq),
                BinaryOperator::NotEq => cmp(CompareOp::NotEq),
                BinaryOperator::Lt => cmp(CompareOp::Lt),
                BinaryOperator::LtEq => cmp(CompareOp::LtEq),
                BinaryOperator::Gt => cmp(CompareOp::Gt),
                BinaryOperator::GtEq => cmp(CompareOp::GtEq),
                other => return Err(unsupported(format!("operator {other}"))),
            }
        }
        other => return Err(unsupported(other)),
    })
}

fn negate(s: Scalar) -> Result<Scalar, ExprError> {
    Ok(match s {
        Scalar::Int(v) => Scalar::Int(v.checked_neg().ok_or_else(|| unsupported("-(i64::MIN)"))?),
        Scalar::Float(v) => Scalar::Float(-v),
        Scalar::Decimal { unscaled, scale } => Scalar::Decimal {
            unscaled: -unscaled,
            scale,
        },
        other => return Err(unsupported(format!("-{other}"))),
    })
}

fn value_literal(v: ast::Value) -> Result<Scalar, ExprError> {
    Ok(match v {
        ast::Value::Number(text, _) => parse_number(&text)?,
        ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => Scalar::String(s),
        ast::Value::Boolean(b) => Scalar::Boolean(b),
        ast::Value::Null => Scalar::Null,
        ast::Value::HexStringLiteral(hex) => Scalar::Binary(parse_hex(&hex)?),
        other => return Err(unsupported(format!("literal {other}"))),
    })
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

/// `"-12.340"` → `(-12340, 3)`; at most 38 digits.
pub(crate) fn parse_decimal(text: &str) -> Option<(i128, i8)> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
        || int.len() + frac.len() > 38
    {
        return None;
    }
    let unscaled: i128 = format!("{int}{frac}").parse().ok()?;
    let scale = i8::try_from(frac.len()).ok()?;
    Some((if negative { -unscaled } else { unscaled }, scale))
}

fn parse_hex(hex: &str) -> Result<Vec<u8>, ExprError> {
    let bad = || ExprError::Parse {
        input: format!("X'{hex}'"),
        message: "not an even number of hex digits".into(),
    };
    if !hex.len().is_multiple_of(2) {
        return Err(bad());
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad()))
        .collect()
}

/// `DATE '…'`, `TIMESTAMP '…'`, `TIMESTAMP_NTZ '…'`.
fn typed_string(data_type: &ast::DataType, value: ast::Value) -> Result<Expr, ExprError> {
    let text = match value {
        ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => s,
        other => return Err(unsupported(format!("{data_type} {other}"))),
    };
    let bad = |what: &str| ExprError::Parse {
        input: format!("{data_type} '{text}'"),
        message: format!("not a valid {what}"),
    };
    let scalar = match data_type {
        ast::DataType::Date => parse_date(&text).ok_or_else(|| bad("date (YYYY-MM-DD)"))?,
        ast::DataType::Timestamp(_, ast::TimezoneInfo::None)
        | ast::DataType::Timestamp(_, ast::TimezoneInfo::WithTimeZone)
        | ast::DataType::Timestamp(_, ast::TimezoneInfo::Tz) => {
            parse_timestamp(&text).ok_or_else(|| bad("timestamp"))?
        }
        ast::DataType::Timestamp(_, ast::TimezoneInfo::WithoutTimeZone) => {
            parse_timestamp_ntz(&text).ok_or_else(|| bad("timestamp"))?
        }
        ast::DataType::Custom(name, _)
            if name.to_string().eq_ignore_ascii_case("timestamp_ntz") =>
        {
            parse_timestamp_ntz(&text).ok_or_else(|| bad("timestamp"))?
        }
        other => return Err(unsupported(format!("{other} literal"))),
    };
    Ok(Expr::Literal(scalar))
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

    fn parse(s: &str) -> Expr {
        Expr::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_the_supported_grammar() {
        assert_eq!(
            parse("id >= 10 AND country = 'PT'"),
            col("id").gt_eq(lit(10)).and(col("country").eq(lit("PT")))
        );
        assert_eq!(
            parse("NOT (a < -1.50 OR b IS NULL)"),
            col("a")
                .lt(lit(Scalar::decimal(-150, 2)))
                .or(col("b").is_null())
                .not()
        );
        assert_eq!(
            parse("x IN (1, 2, NULL)"),
            col("x").is_in([lit(1), lit(2), lit(Scalar::Null)])
        );
        assert_eq!(
            parse("x NOT BETWEEN 1 AND 3"),
            Expr::Between {
                expr: Box::new(col("x")),
                low: Box::new(lit(1)),
                high: Box::new(lit(3)),
                negated: true,
            }
        );
        assert_eq!(
            parse("s.city <> 'Porto'"),
            col("s.city").not_eq(lit("Porto"))
        );
        assert_eq!(
            parse("`odd name` = 1"),
            Expr::Column(vec!["odd name".into()]).eq(lit(1))
        );
        assert_eq!(parse("f = 1e3"), col("f").eq(lit(1000.0)));
        assert_eq!(
            parse("d = DATE '1970-01-02'"),
            col("d").eq(lit(Scalar::Date(1)))
        );
        assert_eq!(
            parse("t < TIMESTAMP '1970-01-01 00:00:01+01:00'"),
            col("t").lt(lit(Scalar::Timestamp(-3_599_000_000)))
        );
        assert_eq!(parse("b = X'0aFF'"), col("b").eq(lit(vec![10u8, 255])));
        assert_eq!(parse("flag IS TRUE"), col("flag").eq(lit(true)));
    }

    #[test]
    fn refuses_what_it_cannot_evaluate() {
        for bad in [
            "a + 1 > 2",
            "upper(s) = 'A'",
            "a IN (SELECT 1)",
            "a LIKE 'x%'",
        ] {
            assert!(
                matches!(Expr::parse(bad), Err(ExprError::Unsupported { .. })),
                "{bad}: {:?}",
                Expr::parse(bad)
            );
        }
        for bad in ["a >", "a = 1 b", "", "(a = 1", "d = DATE 'yesterday'"] {
            let err = Expr::parse(bad).unwrap_err();
            assert!(matches!(err, ExprError::Parse { .. }), "{bad}: {err:?}");
        }
    }

    #[test]
    fn display_parses_back_to_the_same_expression() {
        for text in [
            "(id >= 10 AND country = 'P''T')",
            "NOT (a IS NULL)",
            "x NOT IN (1, -2.5, NULL)",
            "t BETWEEN TIMESTAMP '2026-11-23 10:00:00.5Z' AND DATE '2026-11-24'",
            "`a b`.c <> X'00FF'",
        ] {
            let e = parse(text);
            assert_eq!(parse(&e.to_string()), e, "{text} -> {e}");
        }
    }

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
