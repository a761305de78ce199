//! Merge clauses (`protocol/PROTOCOL.md#merge`): what a user writes (`WHEN MATCHED [AND cond]
//! THEN UPDATE SET …`, …), the check that only the last clause of each group may go without a
//! condition, and binding to the schemas each group sees: matched clauses see the target and
//! the source, `NOT MATCHED` clauses only the source, `NOT MATCHED BY SOURCE` only the target.

use arrow::datatypes::{DataType, Field, Fields, Schema};

use crate::error::{Error, Result};
use crate::expr::predicate::Predicate;
use crate::expr::{Expr, ExprError};
use crate::ops::dml::assign::{Assignment, bind_assignments, target_field};
use crate::read::scan::IntoFilter;

/// A clause being written: an optional condition, and assignments (or all columns).
#[derive(Default)]
#[must_use]
pub struct MergeClause {
    condition: Option<std::result::Result<Expr, ExprError>>,
    assignments: Vec<(String, std::result::Result<Expr, ExprError>)>,
    all: bool,
}

impl MergeClause {
    /// The clause applies only to rows for which `condition` is true.
    pub fn condition(mut self, condition: impl IntoFilter) -> Self {
        self.condition = Some(condition.into_filter());
        self
    }

    /// Sets target `column` to `value` (SQL text or an [`Expr`] over the columns the clause
    /// sees, qualified by the aliases or unqualified where unambiguous).
    pub fn set(mut self, column: impl Into<String>, value: impl IntoFilter) -> Self {
        self.assignments.push((column.into(), value.into_filter()));
        self
    }

    /// Every target column from the source column of the same name (`UPDATE SET *`,
    /// `INSERT *`).
    pub fn all(mut self) -> Self {
        self.all = true;
        self
    }
}

/// The kind of a clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    MatchedUpdate,
    MatchedDelete,
    NotMatchedInsert,
    BySourceUpdate,
    BySourceDelete,
}

impl Kind {
    /// The group whose clauses are tried in order.
    fn group(self) -> &'static str {
        match self {
            Kind::MatchedUpdate | Kind::MatchedDelete => "WHEN MATCHED",
            Kind::NotMatchedInsert => "WHEN NOT MATCHED",
            Kind::BySourceUpdate | Kind::BySourceDelete => "WHEN NOT MATCHED BY SOURCE",
        }
    }

    fn action(self) -> &'static str {
        match self {
            Kind::MatchedUpdate | Kind::BySourceUpdate => "update",
            Kind::MatchedDelete | Kind::BySourceDelete => "delete",
            Kind::NotMatchedInsert => "insert",
        }
    }

    pub(super) fn is_delete(self) -> bool {
        matches!(self, Kind::MatchedDelete | Kind::BySourceDelete)
    }
}

/// A clause as added to the builder.
pub(super) struct Written {
    pub(super) kind: Kind,
    pub(super) clause: MergeClause,
}

/// A clause bound to the schema its group sees.
pub(super) struct Bound {
    pub(super) kind: Kind,
    pub(super) condition: Option<Predicate>,
    pub(super) assignments: Vec<Assignment>,
}

/// The bound clauses, by group, in order.
pub(super) struct Clauses {
    pub(super) matched: Vec<Bound>,
    pub(super) not_matched: Vec<Bound>,
    pub(super) by_source: Vec<Bound>,
    /// The clauses as Delta's `commitInfo` lists them: `(group, [{actionType, predicate}])`.
    pub(super) described: [(&'static str, Vec<serde_json::Value>); 3],
}

/// The names the clauses use for the two sides.
#[derive(Debug, Clone)]
pub(super) struct Aliases {
    pub(super) target: String,
    pub(super) source: String,
}

/// A struct column per side, as clause conditions and values see them.
pub(super) fn side_schema(sides: &[(&str, &Schema)]) -> Schema {
    Schema::new(
        sides
            .iter()
            .map(|(name, schema)| {
                Field::new(*name, DataType::Struct(nullable(schema.fields())), true)
            })
            .collect::<Vec<_>>(),
    )
}

/// The fields, all nullable (a side's struct holds rows of other sides' nulls).
pub(super) fn nullable(fields: &Fields) -> Fields {
    fields
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect()
}

/// Qualifies every column of `expr` with the alias of the side it names: `t.x` and `s.x` stay,
/// an unqualified `x` takes the side that has it (an error when both or neither have it, or
/// when the side is not visible to the clause).
pub(super) fn qualify(
    expr: &Expr,
    aliases: &Aliases,
    target: &Schema,
    source: &Schema,
    visible: (bool, bool),
    context: &str,
) -> std::result::Result<Expr, ExprError> {
    let has = |schema: &Schema, name: &str| {
        schema
            .fields()
            .iter()
            .any(|f| f.name().eq_ignore_ascii_case(name))
    };
    let not_visible = |side: &str, path: &[String]| ExprError::Type {
        expr: crate::expr::column_text(path),
        reason: format!("{context} sees only the {side}'s columns"),
    };
    expr.map_columns(&mut |path: &[String]| {
        let first = path[0].as_str();
        let (is_target, is_source) = (
            path.len() > 1 && first.eq_ignore_ascii_case(&aliases.target),
            path.len() > 1 && first.eq_ignore_ascii_case(&aliases.source),
        );
        let qualified = if is_target && !(is_source && aliases.target == aliases.source) {
            let mut p = vec![aliases.target.clone()];
            p.extend_from_slice(&path[1..]);
            p
        } else if is_source {
            let mut p = vec![aliases.source.clone()];
            p.extend_from_slice(&path[1..]);
            p
        } else {
            let (in_t, in_s) = (has(target, first) && visible.0, has(source, first) && visible.1);
            match (in_t, in_s) {
                (true, true) => {
                    return Err(ExprError::Type {
                        expr: crate::expr::column_text(path),
                        reason: format!(
                            "both the target and the source have this column; write {}.{first} or {}.{first}",
                            aliases.target, aliases.source
                        ),
                    });
                }
                (true, false) => std::iter::once(aliases.target.clone())
                    .chain(path.iter().cloned())
                    .collect(),
                (false, true) => std::iter::once(aliases.source.clone())
                    .chain(path.iter().cloned())
                    .collect(),
                (false, false) => {
                    if has(target, first) {
                        return Err(not_visible("source", path));
                    }
                    if has(source, first) {
                        return Err(not_visible("target", path));
                    }
                    let mut available: Vec<String> = Vec::new();
                    if visible.0 {
                        available.extend(target.fields().iter().map(|f| format!("{}.{}", aliases.target, f.name())));
                    }
                    if visible.1 {
                        available.extend(source.fields().iter().map(|f| format!("{}.{}", aliases.source, f.name())));
                    }
                    return Err(ExprError::UnknownColumn {
                        column: crate::expr::column_text(path),
                        available,
                    });
                }
            }
        };
        if (qualified[0] == aliases.target && !visible.0)
            || (qualified[0] == aliases.source && !visible.1)
        {
            let side = if visible.0 { "target" } else { "source" };
            return Err(not_visible(side, path));
        }
        Ok(qualified)
    })
}

/// Checks the clause order rule and binds every clause to the schema its group sees.
pub(super) fn bind_clauses(
    written: &[Written],
    aliases: &Aliases,
    target: &Schema,
    source: &Schema,
    location: &str,
) -> Result<Clauses> {
    if written.is_empty() {
        return Err(Error::InvalidArgument(
            "a merge needs at least one WHEN clause (when_matched_update_all, when_not_matched_insert_all, …)".into(),
        ));
    }
    for (i, w) in written.iter().enumerate() {
        let later_same_group = written[i + 1..]
            .iter()
            .any(|l| l.kind.group() == w.kind.group());
        if w.clause.condition.is_none() && later_same_group {
            return Err(Error::InvalidArgument(format!(
                "only the last {} clause may omit its condition: clause {} ({}) has none, and a later {} clause would never apply",
                w.kind.group(),
                i + 1,
                w.kind.action(),
                w.kind.group()
            )));
        }
        if w.kind.is_delete() && (w.clause.all || !w.clause.assignments.is_empty()) {
            return Err(Error::InvalidArgument(format!(
                "clause {} ({} delete) takes a condition only, not assignments",
                i + 1,
                w.kind.group()
            )));
        }
        if !w.kind.is_delete() && !w.clause.all && w.clause.assignments.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "clause {} ({} {}) assigns nothing: set columns, or use all()",
                i + 1,
                w.kind.group(),
                w.kind.action()
            )));
        }
    }
    let both = side_schema(&[(&aliases.target, target), (&aliases.source, source)]);
    let only_source = side_schema(&[(&aliases.source, source)]);
    let only_target = side_schema(&[(&aliases.target, target)]);
    let mut problems = Vec::new();
    let mut clauses = Clauses {
        matched: Vec::new(),
        not_matched: Vec::new(),
        by_source: Vec::new(),
        described: [
            ("matchedPredicates", Vec::new()),
            ("notMatchedPredicates", Vec::new()),
            ("notMatchedBySourcePredicates", Vec::new()),
        ],
    };
    for (i, w) in written.iter().enumerate() {
        let (eval, visible, slot) = match w.kind {
            Kind::MatchedUpdate | Kind::MatchedDelete => (&both, (true, true), 0),
            Kind::NotMatchedInsert => (&only_source, (false, true), 1),
            Kind::BySourceUpdate | Kind::BySourceDelete => (&only_target, (true, false), 2),
        };
        let context = format!("clause {} ({} {})", i + 1, w.kind.group(), w.kind.action());
        let q = |e: &Expr| qualify(e, aliases, target, source, visible, &context);
        let condition = match &w.clause.condition {
            Some(c) => Some(Predicate::bind(&q(&c.clone()?)?, eval)?),
            None => None,
        };
        let assignments: Vec<(String, std::result::Result<Expr, ExprError>)> = if w.clause.all {
            let mut all = Vec::new();
            for field in target.fields() {
                match target_field(source, field.name()) {
                    Some(s) => all.push((
                        field.name().clone(),
                        Ok(Expr::Column(vec![aliases.source.clone(), s.name().clone()])),
                    )),
                    None => problems.push(format!(
                        "{context}: the source has no column `{}` for {} *",
                        field.name(),
                        if w.kind == Kind::NotMatchedInsert {
                            "INSERT"
                        } else {
                            "UPDATE SET"
                        }
                    )),
                }
            }
            all
        } else {
            w.clause
                .assignments
                .iter()
                .map(|(c, e)| (c.clone(), e.clone().and_then(|e| q(&e))))
                .collect()
        };
        let assignments = bind_assignments(
            target,
            eval,
            &assignments,
            &format!("{context}: "),
            &mut problems,
        )?;
        let mut described = serde_json::json!({ "actionType": w.kind.action() });
        if let Some(c) = &condition {
            described["predicate"] = serde_json::Value::String(c.to_string());
        }
        clauses.described[slot].1.push(described);
        let bound = Bound {
            kind: w.kind,
            condition,
            assignments,
        };
        match slot {
            0 => clauses.matched.push(bound),
            1 => clauses.not_matched.push(bound),
            _ => clauses.by_source.push(bound),
        }
    }
    if !problems.is_empty() {
        return Err(Error::SchemaMismatch {
            location: location.to_string(),
            problems,
        });
    }
    Ok(clauses)
}
