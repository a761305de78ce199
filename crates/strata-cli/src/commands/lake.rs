//! Commands over a lake of `layer.name` tables: lineage and the table listing.

use serde_json::{Value, json};
use strata_pipelines::{
    FlowOutcome, Lake, Pin, Pipeline, PipelineFile, PipelineReport, walk_lineage,
};

use super::Context;
use crate::args::PipelineCommand;
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

/// The pipeline a file declares, and its lake (`--lake`, else the file's own, relative to it).
fn load_pipeline(
    ctx: &Context,
    file: &std::path::Path,
    lake: Option<String>,
) -> CliResult<(Pipeline, Lake)> {
    let parsed = PipelineFile::load(file)?;
    let base = file.parent().unwrap_or(std::path::Path::new("."));
    let root = lake.or_else(|| parsed.lake_root(base)).ok_or_else(|| {
        CliError::Usage(format!(
            "{} names no lake; add lake = \"DIR\" to it or pass --lake DIR",
            file.display()
        ))
    })?;
    let pipeline = parsed.pipeline(&file.display().to_string())?;
    Ok((pipeline, Lake::open(root).with_options(ctx.options.clone())))
}

/// `strata pipeline …`.
pub async fn pipeline(ctx: &Context, command: PipelineCommand) -> CliResult {
    match command {
        PipelineCommand::Run {
            file,
            lake,
            watch,
            json,
        } => {
            let (pipeline, lake) = load_pipeline(ctx, &file, lake)?;
            let Some(seconds) = watch else {
                let progress = output::Progress::spinner(ctx.quiet, "running the pipeline");
                let report = pipeline.run_once(&lake).await?;
                drop(progress);
                return finish(&report, json.json);
            };
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            let mut printed: CliResult = Ok(());
            pipeline
                .watch(
                    &lake,
                    std::time::Duration::from_secs(seconds),
                    stop,
                    |report| {
                        if printed.is_ok() {
                            printed = show(report, json.json);
                        }
                    },
                )
                .await?;
            printed
        }
        PipelineCommand::Status { file, lake, json } => {
            let (pipeline, lake) = load_pipeline(ctx, &file, lake)?;
            let lags = pipeline.status(&lake).await?;
            if json.json {
                let list: Vec<Value> = lags
                    .iter()
                    .map(|l| {
                        json!({
                            "flow": l.flow,
                            "source": l.source,
                            "cursor": l.cursor,
                            "latest": l.latest,
                            "versionsBehind": l.versions_behind,
                            "rowsBehind": l.rows_behind,
                        })
                    })
                    .collect();
                return print_json(&Value::Array(list));
            }
            let mut table = output::table(&["flow", "source", "at", "latest", "behind"]);
            for l in &lags {
                table.add_row(vec![
                    l.flow.clone(),
                    l.source.clone(),
                    l.cursor.map_or("never ran".into(), |c| format!("v{c}")),
                    format!("v{}", l.latest),
                    match (l.versions_behind, l.rows_behind) {
                        (0, _) => "up to date".to_string(),
                        (v, Some(r)) => format!(
                            "{}, {}",
                            output::plural(v, "version"),
                            output::plural(r, "row")
                        ),
                        (v, None) => output::plural(v, "version"),
                    },
                ]);
            }
            print(table)
        }
        PipelineCommand::Reset {
            file,
            flow,
            lake,
            json,
        } => {
            let (pipeline, lake) = load_pipeline(ctx, &file, lake)?;
            let report = pipeline.reset(&lake, &flow).await?;
            finish(&report, json.json)
        }
    }
}

/// Prints a run's report; a failed flow makes the command fail (after the report).
fn finish(report: &PipelineReport, json: bool) -> CliResult {
    show(report, json)?;
    match report.flows.iter().find_map(|(name, o)| match o {
        FlowOutcome::Failed(e) => Some((name, e)),
        _ => None,
    }) {
        Some((name, e)) => Err(CliError::Refused(format!("flow {name} failed: {e}"))),
        None => Ok(()),
    }
}

fn show(report: &PipelineReport, json: bool) -> CliResult {
    if !json {
        return print(report.to_string().trim_end());
    }
    let flows: Vec<Value> = report
        .flows
        .iter()
        .map(|(name, outcome)| match outcome {
            FlowOutcome::Ran(r) => json!({
                "flow": name,
                "status": if r.up_to_date { "upToDate" } else if r.already_applied { "alreadyApplied" } else { "ran" },
                "target": r.target,
                "version": r.version,
                "rowsRead": r.rows_read,
                "rowsWritten": r.rows_written,
                "expectations": r.expectations.iter().map(|e| json!({
                    "name": e.name, "action": e.action, "violations": e.violations,
                })).collect::<Vec<_>>(),
                "sources": r.sources.iter().map(|s| json!({
                    "table": s.table, "fromVersion": s.from_version, "toVersion": s.to_version,
                })).collect::<Vec<_>>(),
            }),
            FlowOutcome::Failed(e) => json!({"flow": name, "status": "failed", "error": e.to_string()}),
            FlowOutcome::Skipped { upstream } => {
                json!({"flow": name, "status": "skipped", "upstream": upstream})
            }
        })
        .collect();
    print_json(&json!({ "flows": flows }))
}
