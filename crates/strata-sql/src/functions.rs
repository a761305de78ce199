//! Table functions over strata tables, usable anywhere SQL names a table:
//!
//! - `strata_version('LOCATION', VERSION)`
//! - `strata_timestamp('LOCATION', 'RFC 3339 TIMESTAMP')`
//! - `strata_tag('LOCATION', 'TAG')`
//! - `strata_changes('LOCATION', FROM [, TO])`: the change feed
//!   (`protocol/PROTOCOL.md#change-data-feed`), with `_change_type`, `_commit_version` and
//!   `_commit_timestamp`.
//!
//! DataFusion calls table functions synchronously while planning, and opening a table is I/O,
//! so [`Context::sql`](crate::Context::sql) finds every call in the statement first, opens
//! the tables, and the functions then answer from what was opened.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::logical_expr::Expr as DfExpr;
use sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, TableFactor, Value, Visit, Visitor,
};
use strata::Table;

use crate::error::SqlError;
use crate::location::{TableSpec, VersionSpec};
use crate::provider::StrataTable;

/// The table functions, by SQL name.
pub(crate) const FUNCTIONS: [&str; 4] = [
    "strata_version",
    "strata_timestamp",
    "strata_tag",
    "strata_changes",
];

/// Tables the statement's table functions read, opened before planning.
#[derive(Debug, Default)]
pub(crate) struct Opened {
    tables: Mutex<HashMap<String, Arc<dyn TableProvider>>>,
}

/// One table function; answers from [`Opened`].
#[derive(Debug)]
pub(crate) struct StrataFunction {
    pub(crate) name: &'static str,
    pub(crate) opened: Arc<Opened>,
}

impl TableFunctionImpl for StrataFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let mut values = Vec::with_capacity(args.exprs().len());
        for e in args.exprs() {
            match e {
                DfExpr::Literal(v, _) if !v.is_null() => values.push(scalar_text(v)),
                other => {
                    return plan_err!("{}: arguments must be literals, not {other}", self.name);
                }
            }
        }
        let key = key(self.name, &values);
        let opened = self.opened.tables.lock().expect("not poisoned");
        match opened.get(&key) {
            Some(t) => Ok(t.clone()),
            None => plan_err!(
                "{}({}) was not opened before planning: run the statement through strata_sql::Context::sql",
                self.name,
                values.join(", ")
            ),
        }
    }
}

fn scalar_text(v: &ScalarValue) -> String {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => s.clone(),
        other => other.to_string(),
    }
}

fn key(function: &str, args: &[String]) -> String {
    format!("{function}\u{1}{}", args.join("\u{1}"))
}

/// A table function call found in a statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    function: &'static str,
    args: Vec<String>,
}

/// Every call of a strata table function in `statement`.
pub(crate) fn calls<V: Visit>(statement: &V) -> Result<Vec<Call>, SqlError> {
    struct Finder {
        calls: Vec<Call>,
        error: Option<SqlError>,
    }
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            let TableFactor::Table {
                name,
                args: Some(args),
                ..
            } = factor
            else {
                return ControlFlow::Continue(());
            };
            let called = name.to_string().to_lowercase();
            let Some(function) = FUNCTIONS.iter().find(|f| **f == called) else {
                return ControlFlow::Continue(());
            };
            let mut values = Vec::new();
            for arg in &args.args {
                match literal(arg) {
                    Some(v) => values.push(v),
                    None => {
                        self.error = Some(SqlError::Unsupported {
                            statement: format!("{called}(…)"),
                            reason: format!(
                                "argument {arg} is not a literal; pass the location, version, tag or timestamp as literals"
                            ),
                        });
                        return ControlFlow::Break(());
                    }
                }
            }
            self.calls.push(Call {
                function,
                args: values,
            });
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder {
        calls: Vec::new(),
        error: None,
    };
    let _ = statement.visit(&mut finder);
    match finder.error {
        Some(e) => Err(e),
        None => Ok(finder.calls),
    }
}

fn literal(arg: &FunctionArg) -> Option<String> {
    let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) = arg else {
        return None;
    };
    match expr {
        SqlExpr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            Value::Number(n, _) => Some(n.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Opens the tables `calls` read, so the functions can answer while planning.
pub(crate) async fn open(
    calls: &[Call],
    opened: &Opened,
    options: &HashMap<String, String>,
) -> Result<(), SqlError> {
    for call in calls {
        let k = key(call.function, &call.args);
        if opened.tables.lock().expect("not poisoned").contains_key(&k) {
            continue;
        }
        let provider = open_call(call, options).await?;
        opened
            .tables
            .lock()
            .expect("not poisoned")
            .insert(k, provider);
    }
    Ok(())
}

async fn open_call(
    call: &Call,
    options: &HashMap<String, String>,
) -> Result<Arc<dyn TableProvider>, SqlError> {
    let bad = |reason: &str| SqlError::BadTable {
        spec: format!("{}({})", call.function, call.args.join(", ")),
        reason: reason.to_string(),
    };
    let location = call
        .args
        .first()
        .ok_or_else(|| bad("the first argument is the table's location"))?;
    let second = call.args.get(1);
    let version = match (call.function, second) {
        ("strata_version", Some(v)) => VersionSpec::Version(
            v.parse()
                .map_err(|_| bad("the second argument is a version number"))?,
        ),
        ("strata_timestamp", Some(t)) => VersionSpec::Timestamp(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|_| {
                    bad("the second argument is an RFC 3339 timestamp (2026-01-31T00:00:00Z)")
                })?
                .with_timezone(&chrono::Utc),
        ),
        ("strata_tag", Some(t)) => VersionSpec::Tag(t.clone()),
        ("strata_changes", Some(_)) => return open_changes(call, location, options, &bad).await,
        _ => {
            return Err(bad(
                "expected two arguments: the location, then the version, timestamp, tag or starting version",
            ));
        }
    };
    let spec = TableSpec {
        name: None,
        location: location.clone(),
        version,
    };
    Ok(Arc::new(
        StrataTable::open_with_options(&spec, options).await?,
    ))
}

async fn open_changes(
    call: &Call,
    location: &str,
    options: &HashMap<String, String>,
    bad: &(dyn Fn(&str) -> SqlError + Sync),
) -> Result<Arc<dyn TableProvider>, SqlError> {
    let number = |i: usize| -> Result<Option<i64>, SqlError> {
        call.args
            .get(i)
            .map(|v| v.parse::<i64>().map_err(|_| bad("versions are numbers")))
            .transpose()
    };
    let table = Table::open_with_options(location, options.clone()).await?;
    let mut changes = table.changes();
    if let Some(from) = number(1)? {
        changes = changes.from_version(from);
    }
    if let Some(to) = number(2)? {
        changes = changes.to_version(to);
    }
    let plan = changes.plan().await?;
    let schema = plan.output_schema();
    let batches = plan.collect().await?;
    Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
}
