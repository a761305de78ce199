//! Parsing SQL-like expression text into an [`Expr`] with the `sqlparser` crate, refusing what
//! strata does not evaluate.

use std::fmt;

use sqlparser::ast::{self, BinaryOperator, UnaryOperator};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use super::scalar::{parse_date, parse_number, parse_timestamp, parse_timestamp_ntz};
use super::value::{FUNCTIONS, arrow_type_of_sql};
use super::{ArithmeticOp, CompareOp, Expr, ExprError, Scalar, lit};

/// Parses a SQL-like predicate: comparisons (`= <> != < <= > >=`), `AND`, `OR`, `NOT`,
/// `IS [NOT] NULL`, `[NOT] IN (…)`, `[NOT] BETWEEN … AND …`, parentheses; column names
/// (`a.b` for struct fields, backticks or double quotes for other names) and literals:
/// numbers (exact decimals), `'strings'`, `TRUE`/`FALSE`/`NULL`, `DATE '2026-11-23'`,
/// `TIMESTAMP '2026-11-23 10:00:00'` (UTC unless an offset is given), `X'00FF'`.
///
/// # Errors
/// [`ExprError::Parse`] for malformed text, [`ExprError::Unsupported`] for SQL outside
/// that list.
pub(crate) fn parse(input: &str) -> Result<Expr, ExprError> {
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
        ast::Expr::InList {
            expr,
            list,
            negated,
        } => Expr::In {
            expr: boxed(*expr)?,
            list: list.into_iter().map(from_sql).collect::<Result<_, _>>()?,
            negated,
        },
        ast::Expr::UnaryOp { op, expr } => match op {
            UnaryOperator::Not => Expr::Not(boxed(*expr)?),
            UnaryOperator::Minus => match from_sql(*expr)? {
                Expr::Literal(s) => Expr::Literal(negate(s)?),
                other => Expr::Negative(Box::new(other)),
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
                BinaryOperator::Plus => Expr::Arithmetic {
                    op: ArithmeticOp::Add,
                    left: l,
                    right: r,
                },
                BinaryOperator::Minus => Expr::Arithmetic {
                    op: ArithmeticOp::Subtract,
                    left: l,
                    right: r,
                },
                BinaryOperator::Multiply => Expr::Arithmetic {
                    op: ArithmeticOp::Multiply,
                    left: l,
                    right: r,
                },
                BinaryOperator::Divide => Expr::Arithmetic {
                    op: ArithmeticOp::Divide,
                    left: l,
                    right: r,
                },
                BinaryOperator::Modulo => Expr::Arithmetic {
                    op: ArithmeticOp::Modulo,
                    left: l,
                    right: r,
                },
                BinaryOperator::StringConcat => Expr::Function {
                    name: "concat".into(),
                    args: vec![*l, *r],
                },
                other => return Err(unsupported(format!("operator {other}"))),
            }
        }
        ast::Expr::Function(function) => call(function)?,
        ast::Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => Expr::Case {
            operand: operand.map(|e| boxed(*e)).transpose()?,
            branches: conditions
                .into_iter()
                .map(|w| Ok((from_sql(w.condition)?, from_sql(w.result)?)))
                .collect::<Result<_, ExprError>>()?,
            otherwise: else_result.map(|e| boxed(*e)).transpose()?,
        },
        ast::Expr::Cast {
            kind: ast::CastKind::Cast | ast::CastKind::DoubleColon,
            expr,
            data_type,
            array: false,
            format: None,
        } => Expr::Cast {
            expr: boxed(*expr)?,
            to: arrow_type_of_sql(&data_type.to_string())?,
        },
        ast::Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            let mut args = vec![from_sql(*expr)?];
            args.push(match substring_from {
                Some(e) => from_sql(*e)?,
                None => lit(1),
            });
            if let Some(e) = substring_for {
                args.push(from_sql(*e)?);
            }
            Expr::Function {
                name: "substring".into(),
                args,
            }
        }
        ast::Expr::Trim {
            trim_where,
            trim_what: None,
            expr,
            trim_characters: None,
        } => Expr::Function {
            name: match trim_where {
                None | Some(ast::TrimWhereField::Both) => "trim",
                Some(ast::TrimWhereField::Leading) => "ltrim",
                Some(ast::TrimWhereField::Trailing) => "rtrim",
            }
            .into(),
            args: vec![from_sql(*expr)?],
        },
        other => return Err(unsupported(other)),
    })
}

/// A plain function call `name(arg, …)` of a function strata evaluates.
fn call(function: ast::Function) -> Result<Expr, ExprError> {
    let text = function.to_string();
    let name = function.name.to_string().to_ascii_lowercase();
    let name = match name.as_str() {
        "substr" => "substring".to_string(),
        "lcase" => "lower".to_string(),
        "ucase" => "upper".to_string(),
        "char_length" | "character_length" => "length".to_string(),
        "dayofmonth" => "day".to_string(),
        _ => name,
    };
    if !FUNCTIONS.contains(&name.as_str())
        || function.filter.is_some()
        || function.over.is_some()
        || !function.within_group.is_empty()
        || !matches!(function.parameters, ast::FunctionArguments::None)
    {
        return Err(unsupported(text));
    }
    let args = match function.args {
        ast::FunctionArguments::None => Vec::new(),
        ast::FunctionArguments::List(list)
            if list.duplicate_treatment.is_none() && list.clauses.is_empty() =>
        {
            list.args
                .into_iter()
                .map(|arg| match arg {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => from_sql(e),
                    _ => Err(unsupported(&text)),
                })
                .collect::<Result<_, _>>()?
        }
        _ => return Err(unsupported(text)),
    };
    Ok(Expr::Function { name, args })
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
