//! `strata alter`: schema, property, constraint and comment changes, in one commit.

use serde_json::json;
use strata::AlterBuilder;

use super::Context;
use crate::args::AlterArgs;
use crate::error::{CliError, CliResult};
use crate::output::{self, print, print_json};

/// `strata alter`.
pub async fn alter(ctx: &Context, args: AlterArgs) -> CliResult {
    if no_change(&args) {
        return Err(CliError::Usage(
            "say what to change: --add-column, --rename-column, --drop-column, --widen-type, --set-nullable, --set-not-null, --column-comment, --set-property, --unset-property, --add-constraint, --drop-constraint or --comment; see `strata alter --help`".into(),
        ));
    }
    let table = ctx.table(&args.table).await?;
    let result = changes(table.alter(), &args).execute().await?;
    // False when every change was already in effect (a property unset that was not set, say).
    let committed = result.committed;
    if args.json.json {
        return print_json(&json!({
            "version": committed.then_some(result.version),
            "operation": result.operation,
            "protocolUpgraded": result.protocol_upgraded,
            "rowsChecked": result.rows_checked,
        }));
    }
    if !committed {
        return print(format!(
            "nothing to change: {} is already as asked; table version {}",
            args.table, result.version
        ));
    }
    let mut text = format!(
        "altered {}: version {} ({})",
        args.table, result.version, result.operation
    );
    if result.protocol_upgraded {
        text.push_str(", protocol upgraded");
    }
    if result.rows_checked > 0 {
        text.push_str(&format!(
            ", checked {}",
            output::plural(result.rows_checked, "row")
        ));
    }
    print(text)
}

/// True when no change flag was given.
fn no_change(args: &AlterArgs) -> bool {
    args.add_columns.is_empty()
        && args.rename_columns.is_empty()
        && args.drop_columns.is_empty()
        && args.widen_types.is_empty()
        && args.set_nullable.is_empty()
        && args.set_not_null.is_empty()
        && args.column_comments.is_empty()
        && args.set_properties.is_empty()
        && args.unset_properties.is_empty()
        && args.add_constraints.is_empty()
        && args.drop_constraints.is_empty()
        && args.comment.is_none()
}

/// The changes in the order `strata alter --help` documents: what is removed first (so that
/// a name can be reused), then renames, so that later changes use the new names.
fn changes(mut builder: AlterBuilder, args: &AlterArgs) -> AlterBuilder {
    for name in &args.drop_constraints {
        builder = builder.drop_constraint(name);
    }
    for column in &args.drop_columns {
        builder = builder.drop_column(column);
    }
    for (old, new) in &args.rename_columns {
        builder = builder.rename_column(old, new);
    }
    for column in &args.add_columns {
        builder = builder.add_column(column.clone());
    }
    for (column, data_type) in &args.widen_types {
        builder = builder.widen_type(column, data_type.clone());
    }
    for column in &args.set_nullable {
        builder = builder.set_nullable(column, true);
    }
    for column in &args.set_not_null {
        builder = builder.set_nullable(column, false);
    }
    for (column, comment) in &args.column_comments {
        builder = builder.set_column_comment(column, non_empty(comment));
    }
    for key in &args.unset_properties {
        builder = builder.unset_property(key);
    }
    for (key, value) in &args.set_properties {
        builder = builder.set_property(key, value);
    }
    for (name, expression) in &args.add_constraints {
        builder = builder.add_constraint(name, expression.trim());
    }
    if let Some(comment) = &args.comment {
        builder = builder.set_comment(non_empty(comment));
    }
    builder
}

/// An empty text removes a comment.
fn non_empty(text: &str) -> Option<&str> {
    Some(text).filter(|t| !t.trim().is_empty())
}
