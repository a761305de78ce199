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

pub(crate) mod column;
mod parse;
pub mod predicate;
mod scalar;
pub mod skipping;
pub mod value;

pub use scalar::{CompareOp, Scalar};
pub(crate) use scalar::{
    compare_scalars, op_holds, parse_date, parse_number, parse_timestamp, parse_timestamp_ntz,
};

use std::fmt;
use std::str::FromStr;

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
    /// The expression uses SQL that strata does not evaluate (subqueries, `LIKE`, unknown
    /// functions, ...).
    #[error(
        "unsupported in an expression: {what}; expressions take columns, literals, comparisons, AND/OR/NOT, IS [NOT] NULL, IN, BETWEEN, + - * / %, CASE, CAST and the functions lower, upper, trim, ltrim, rtrim, substring, length, concat (||), coalesce, nullif, abs, year, month, day, hour and to_date"
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
    /// `left op right`, arithmetic (`+ - * / %`).
    Arithmetic {
        /// The operator.
        op: ArithmeticOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `-expr`.
    Negative(Box<Expr>),
    /// A function call: `lower`, `upper`, `trim`, `ltrim`, `rtrim`, `substring`, `length`,
    /// `concat` (also `a || b`), `coalesce`, `nullif`, `abs`. The name is lowercase.
    Function {
        /// The function's name, lowercase.
        name: String,
        /// Its arguments.
        args: Vec<Expr>,
    },
    /// `CASE [operand] WHEN w THEN t … [ELSE e] END`.
    Case {
        /// The simple form's operand, compared with each `WHEN` value.
        operand: Option<Box<Expr>>,
        /// `(WHEN, THEN)` pairs, in order.
        branches: Vec<(Expr, Expr)>,
        /// `ELSE`; null when absent.
        otherwise: Option<Box<Expr>>,
    },
    /// `CAST(expr AS type)`: a failed conversion is an error, not a null (ANSI SQL).
    Cast {
        /// The value cast.
        expr: Box<Expr>,
        /// The target type.
        to: arrow::datatypes::DataType,
    },
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithmeticOp {
    /// `+`
    Add,
    /// `-`
    Subtract,
    /// `*`
    Multiply,
    /// `/` (integers divide as doubles, as in Spark SQL)
    Divide,
    /// `%`
    Modulo,
}

impl ArithmeticOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            ArithmeticOp::Add => "+",
            ArithmeticOp::Subtract => "-",
            ArithmeticOp::Multiply => "*",
            ArithmeticOp::Divide => "/",
            ArithmeticOp::Modulo => "%",
        }
    }
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
    /// Parses a SQL-like expression: comparisons (`= <> != < <= > >=`), `AND`, `OR`, `NOT`,
    /// `IS [NOT] NULL`, `[NOT] IN (…)`, `[NOT] BETWEEN … AND …`, parentheses, arithmetic
    /// (`+ - * / %`), `CASE`, `CAST(… AS type)`, `||` and the functions `coalesce`, `nullif`,
    /// `abs`, `concat`, `lower`, `upper`, `trim`, `ltrim`, `rtrim`, `length`, `substring`
    /// (`protocol/PROTOCOL.md#expressions`); column names
    /// (`a.b` for struct fields, backticks or double quotes for other names) and literals:
    /// numbers (exact decimals), `'strings'`, `TRUE`/`FALSE`/`NULL`, `DATE '2026-11-23'`,
    /// `TIMESTAMP '2026-11-23 10:00:00'` (UTC unless an offset is given), `X'00FF'`.
    ///
    /// # Errors
    /// [`ExprError::Parse`] for malformed text, [`ExprError::Unsupported`] for SQL outside
    /// that list.
    pub fn parse(input: &str) -> Result<Expr, ExprError> {
        parse::parse(input)
    }

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

    fn arithmetic(self, op: ArithmeticOp, other: Expr) -> Expr {
        Expr::Arithmetic {
            op,
            left: Box::new(self),
            right: Box::new(other),
        }
    }

    /// `self + other`
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, other: Expr) -> Expr {
        self.arithmetic(ArithmeticOp::Add, other)
    }
    /// `self - other`
    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, other: Expr) -> Expr {
        self.arithmetic(ArithmeticOp::Subtract, other)
    }
    /// `self * other`
    #[allow(clippy::should_implement_trait)]
    pub fn mul(self, other: Expr) -> Expr {
        self.arithmetic(ArithmeticOp::Multiply, other)
    }
    /// `self / other`
    #[allow(clippy::should_implement_trait)]
    pub fn div(self, other: Expr) -> Expr {
        self.arithmetic(ArithmeticOp::Divide, other)
    }
    /// `CAST(self AS to)`
    pub fn cast(self, to: arrow::datatypes::DataType) -> Expr {
        Expr::Cast {
            expr: Box::new(self),
            to,
        }
    }

    /// The expression with every column path replaced by `f`'s answer (or `f`'s error).
    pub(crate) fn map_columns(
        &self,
        f: &mut impl FnMut(&[String]) -> Result<Vec<String>, ExprError>,
    ) -> Result<Expr, ExprError> {
        Ok(match self {
            Expr::Column(path) => Expr::Column(f(path)?),
            Expr::Literal(s) => Expr::Literal(s.clone()),
            Expr::Compare { op, left, right } => Expr::Compare {
                op: *op,
                left: Box::new(left.map_columns(f)?),
                right: Box::new(right.map_columns(f)?),
            },
            Expr::And(l, r) => Expr::And(Box::new(l.map_columns(f)?), Box::new(r.map_columns(f)?)),
            Expr::Or(l, r) => Expr::Or(Box::new(l.map_columns(f)?), Box::new(r.map_columns(f)?)),
            Expr::Not(e) => Expr::Not(Box::new(e.map_columns(f)?)),
            Expr::IsNull(e) => Expr::IsNull(Box::new(e.map_columns(f)?)),
            Expr::IsNotNull(e) => Expr::IsNotNull(Box::new(e.map_columns(f)?)),
            Expr::Negative(e) => Expr::Negative(Box::new(e.map_columns(f)?)),
            Expr::In {
                expr,
                list,
                negated,
            } => Expr::In {
                expr: Box::new(expr.map_columns(f)?),
                list: list
                    .iter()
                    .map(|e| e.map_columns(f))
                    .collect::<Result<_, _>>()?,
                negated: *negated,
            },
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => Expr::Between {
                expr: Box::new(expr.map_columns(f)?),
                low: Box::new(low.map_columns(f)?),
                high: Box::new(high.map_columns(f)?),
                negated: *negated,
            },
            Expr::Arithmetic { op, left, right } => Expr::Arithmetic {
                op: *op,
                left: Box::new(left.map_columns(f)?),
                right: Box::new(right.map_columns(f)?),
            },
            Expr::Function { name, args } => Expr::Function {
                name: name.clone(),
                args: args
                    .iter()
                    .map(|e| e.map_columns(f))
                    .collect::<Result<_, _>>()?,
            },
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => Expr::Case {
                operand: match operand {
                    Some(e) => Some(Box::new(e.map_columns(f)?)),
                    None => None,
                },
                branches: branches
                    .iter()
                    .map(|(w, t)| Ok((w.map_columns(f)?, t.map_columns(f)?)))
                    .collect::<Result<_, ExprError>>()?,
                otherwise: match otherwise {
                    Some(e) => Some(Box::new(e.map_columns(f)?)),
                    None => None,
                },
            },
            Expr::Cast { expr, to } => Expr::Cast {
                expr: Box::new(expr.map_columns(f)?),
                to: to.clone(),
            },
        })
    }

    /// The conjuncts of `a AND b AND …`.
    pub(crate) fn conjuncts(&self) -> Vec<&Expr> {
        match self {
            Expr::And(l, r) => {
                let mut out = l.conjuncts();
                out.extend(r.conjuncts());
                out
            }
            other => vec![other],
        }
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
            Expr::Not(e) | Expr::IsNull(e) | Expr::IsNotNull(e) | Expr::Negative(e) => {
                e.visit_columns(f)
            }
            Expr::Arithmetic { left, right, .. } => {
                left.visit_columns(f);
                right.visit_columns(f);
            }
            Expr::Function { args, .. } => args.iter().for_each(|e| e.visit_columns(f)),
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => {
                if let Some(e) = operand {
                    e.visit_columns(f);
                }
                for (w, t) in branches {
                    w.visit_columns(f);
                    t.visit_columns(f);
                }
                if let Some(e) = otherwise {
                    e.visit_columns(f);
                }
            }
            Expr::Cast { expr, .. } => expr.visit_columns(f),
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
            Expr::Arithmetic { op, left, right } => write!(f, "({left} {} {right})", op.symbol()),
            Expr::Negative(e) => write!(f, "-({e})"),
            Expr::Function { name, args } => {
                let items: Vec<String> = args.iter().map(ToString::to_string).collect();
                write!(f, "{name}({})", items.join(", "))
            }
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => {
                f.write_str("CASE")?;
                if let Some(e) = operand {
                    write!(f, " {e}")?;
                }
                for (w, t) in branches {
                    write!(f, " WHEN {w} THEN {t}")?;
                }
                if let Some(e) = otherwise {
                    write!(f, " ELSE {e}")?;
                }
                f.write_str(" END")
            }
            Expr::Cast { expr, to } => write!(f, "CAST({expr} AS {})", value::sql_type_name(to)),
        }
    }
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
            "sqrt(a) > 2",
            "a IN (SELECT 1)",
            "a LIKE 'x%'",
            "count(*) > 1",
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
}
