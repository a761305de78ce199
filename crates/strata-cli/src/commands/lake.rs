//! Commands over a lake of `layer.name` tables: lineage and the table listing.

use serde_json::{Value, json};
use strata_pipelines::{Lake, Pin, walk_lineage};

use super::Context;
use crate::error::{CliError, CliResult};
use crate::output::{self, print, print_json};

/// The lake a table location `ROOT/LAYER/NAME` belongs to, and the table's name in it.
fn lake_of(ctx: &Context, location: &str) -> CliResult<(Lake, String)> {
    let (lake, name) = Lake::of_table(location).ok_or_else(|| {
        CliError::Usage(format!(
            "{location} is not a lake table: expected ROOT/LAYER/NAME with LAYER one of bronze, silver, gold"
        ))
    })?;
    let root = lake.root().to_string();
    Ok((
        Lake::open(root).with_options(ctx.options.clone()),
        name.to_string(),
    ))
}

/// `strata lineage`.
pub async fn lineage(
    ctx: &Context,
    location: &str,
    version: Option<i64>,
    depth: usize,
    json: bool,
) -> CliResult {
    let (lake, name) = lake_of(ctx, location)?;
    let version = match version {
        Some(v) => v,
        None => lake.table(&name).await?.version().await?,
    };
    let walked = walk_lineage(&lake, &name, version, depth).await?;
    if json {
        let value = serde_json::to_value(&walked).map_err(|e| CliError::Output {
            format: "json",
            reason: e.to_string(),
        })?;
        return print_json(&value);
    }
    if walked.upstream.is_empty() {
        return print(format!(
            "{} v{version} was not written by a flow: no lineage recorded",
            walked.table
        ));
    }
    print(walked.render())
}

/// `strata tables`.
pub async fn tables(ctx: &Context, root: &str, json: bool) -> CliResult {
    let lake = Lake::open(root).with_options(ctx.options.clone());
    let tables = lake.tables().await?;
    if json {
        let list: Vec<Value> = tables
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "layer": t.layer,
                    "location": t.location,
                    "version": t.version,
                    "rows": t.rows,
                    "lastCommit": output::rfc3339(t.last_commit_ms),
                    "flow": t.flow,
                })
            })
            .collect();
        return print_json(&Value::Array(list));
    }
    if tables.is_empty() {
        return print(format!(
            "no tables under {root}/bronze, {root}/silver or {root}/gold"
        ));
    }
    let mut table = output::table(&["table", "version", "rows", "last commit", "written by"]);
    for t in &tables {
        table.add_row(vec![
            t.name.clone(),
            t.version.to_string(),
            t.rows.map(output::count).unwrap_or_else(|| "?".into()),
            output::time(t.last_commit_ms),
            t.flow.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    output::align_right(&mut table, &[1, 2]);
    print(table)
}

/// `strata pin`.
pub async fn pin(
    ctx: &Context,
    root: &str,
    name: &str,
    tables: &[String],
    lineage_of: Option<&str>,
    json: bool,
) -> CliResult {
    let lake = Lake::open(root).with_options(ctx.options.clone());
    let pin = match lineage_of {
        Some(spec) => {
            let (table, version) = spec
                .rsplit_once('@')
                .and_then(|(t, v)| Some((t, v.parse::<i64>().ok()?)))
                .ok_or_else(|| {
                    CliError::Usage(format!(
                        "--lineage-of {spec:?}: expected LAYER.NAME@VERSION, e.g. gold.delays@12"
                    ))
                })?;
            lake.pin_lineage_of(name, table, version).await?
        }
        None if tables.is_empty() => {
            return Err(CliError::Usage(
                "name the tables to pin (layer.name ...), or give --lineage-of".into(),
            ));
        }
        None => {
            let names: Vec<&str> = tables.iter().map(String::as_str).collect();
            lake.pin(name, &names).await?
        }
    };
    if json {
        return print_json(&pin_json(&pin));
    }
    let pinned: Vec<String> = pin
        .tables
        .iter()
        .map(|(t, p)| format!("{t}@{}", p.version))
        .collect();
    print(format!("pinned {} as {:?}", pinned.join(", "), pin.name))
}

/// `strata pins`.
pub async fn pins(ctx: &Context, root: &str, json: bool) -> CliResult {
    let lake = Lake::open(root).with_options(ctx.options.clone());
    let pins = lake.pins().await?;
    if json {
        return print_json(&Value::Array(pins.iter().map(pin_json).collect()));
    }
    if pins.is_empty() {
        return print("no pins; create one with `strata pin ROOT NAME TABLE...`");
    }
    let mut table = output::table(&["pin", "created", "tables"]);
    for pin in &pins {
        let pinned: Vec<String> = pin
            .tables
            .iter()
            .map(|(t, p)| format!("{t}@{}", p.version))
            .collect();
        table.add_row(vec![
            pin.name.clone(),
            output::time(pin.created_at),
            pinned.join(", "),
        ]);
    }
    print(table)
}

fn pin_json(pin: &Pin) -> Value {
    let tables: serde_json::Map<String, Value> = pin
        .tables
        .iter()
        .map(|(t, p)| {
            let entry =
                json!({"location": p.location, "tableId": p.table_id, "version": p.version});
            (t.clone(), entry)
        })
        .collect();
    json!({
        "name": pin.name,
        "createdAt": output::rfc3339(pin.created_at),
        "tables": tables,
        "lineageOf": pin.lineage_of,
    })
}
