//! Read-only commands: info, history, files, diff, tags (scan has its own module).

use serde_json::{Map, Value, json};
use strata::actions::Add;
use strata::{HistoryEntry, Snapshot, Table, TableDiff};

use super::Context;
use crate::args::At;
use crate::error::{CliError, CliResult};
use crate::output::{self, print, print_json};

/// `strata info`.
pub async fn info(ctx: &Context, location: &str, at: &At, json: bool) -> CliResult {
    let snapshot = ctx.snapshot(location, at).await?;
    let num_records = snapshot.num_records().await?;
    let size = snapshot
        .files()
        .fold(0i64, |total, f| total.saturating_add(f.size().max(0)));
    let protocol = snapshot.protocol();
    let metadata = snapshot.metadata();
    let features = |f: &Option<Vec<String>>| f.clone().unwrap_or_default();
    // Application transaction watermarks (`--txn`, flow cursors): the highest version each
    // appId committed.
    let txns: Map<String, Value> = snapshot
        .txn_versions()
        .map(|(app, version)| (app.to_string(), Value::from(version)))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect();
    let constraints = constraints(&snapshot);
    let generated = generated_columns(snapshot.schema());
    if json {
        let schema = schema_json(snapshot.schema());
        return print_json(&json!({
            "location": location,
            "version": snapshot.version(),
            "timestamp": output::rfc3339(snapshot.timestamp_ms()),
            "protocol": {
                "minReaderVersion": protocol.min_reader_version,
                "minWriterVersion": protocol.min_writer_version,
                "readerFeatures": features(&protocol.reader_features),
                "writerFeatures": features(&protocol.writer_features),
            },
            "id": metadata.id,
            "name": metadata.name,
            "description": metadata.description,
            "createdTime": metadata.created_time.map(output::rfc3339),
            "schema": schema,
            "partitionColumns": snapshot.partition_columns(),
            "properties": sorted(snapshot.properties()),
            "numFiles": snapshot.num_files(),
            "sizeBytes": size,
            "numRecords": num_records,
            "txns": txns,
            "constraints": constraints
                .iter()
                .map(|c| json!({"kind": c.kind, "name": c.name, "expression": c.expression}))
                .collect::<Vec<_>>(),
            "generatedColumns": generated
                .iter()
                .filter_map(|g| match &g.how {
                    Generated::Expression(expression) => {
                        Some(json!({"column": g.column, "expression": expression}))
                    }
                    Generated::Identity(_) => None,
                })
                .collect::<Vec<_>>(),
            "identityColumns": generated
                .iter()
                .filter_map(|g| match &g.how {
                    Generated::Identity(identity) => Some(json!({
                        "column": g.column,
                        "start": identity.get("start"),
                        "step": identity.get("step"),
                        "highWaterMark": identity.get("highWaterMark"),
                        "allowExplicitInsert": identity.get("allowExplicitInsert"),
                    })),
                    Generated::Expression(_) => None,
                })
                .collect::<Vec<_>>(),
        }));
    }
    let mut rows = vec![
        ("Table", location.to_string()),
        (
            "Version",
            format!(
                "{} ({}, {})",
                snapshot.version(),
                output::time(snapshot.timestamp_ms()),
                output::ago(snapshot.timestamp_ms())
            ),
        ),
        (
            "Protocol",
            format!(
                "reader {}, writer {}",
                protocol.min_reader_version, protocol.min_writer_version
            ),
        ),
    ];
    let (reader, writer) = (
        features(&protocol.reader_features),
        features(&protocol.writer_features),
    );
    let listed = |side: &str, features: &[String]| {
        (!features.is_empty()).then(|| format!("{side}: {}", features.join(", ")))
    };
    let feature_text: Vec<String> = [listed("reader", &reader), listed("writer", &writer)]
        .into_iter()
        .flatten()
        .collect();
    if !feature_text.is_empty() {
        rows.push(("Features", feature_text.join("; ")));
    }
    rows.push(("Id", metadata.id.clone()));
    if let Some(name) = &metadata.name {
        rows.push(("Name", name.clone()));
    }
    if let Some(description) = &metadata.description {
        rows.push(("Description", description.clone()));
    }
    if let Some(created) = metadata.created_time {
        rows.push(("Created", output::time(created)));
    }
    rows.push((
        "Partitioned by",
        if snapshot.partition_columns().is_empty() {
            "(not partitioned)".into()
        } else {
            snapshot.partition_columns().join(", ")
        },
    ));
    rows.push((
        "Files",
        format!(
            "{} ({})",
            output::count(snapshot.num_files() as i64),
            output::bytes_i64(size)
        ),
    ));
    rows.push((
        "Rows",
        match num_records {
            Some(n) => output::count(n),
            None => "unknown (some files have no row count statistics)".into(),
        },
    ));
    let properties = sorted(snapshot.properties());
    rows.push((
        "Properties",
        if properties.is_empty() {
            "(none)".into()
        } else {
            output::key_values(&properties)
        },
    ));
    if !txns.is_empty() {
        rows.push(("Txn watermarks", output::key_values(&txns)));
    }
    let mut schema = output::table(&["column", "type", "nullable"]);
    for field in &snapshot.schema().fields {
        schema.add_row(vec![
            field.name.clone(),
            field.data_type.to_string(),
            field.nullable.to_string(),
        ]);
    }
    let mut text = format!("{}\n\nSchema\n{schema}", output::fields(&rows));
    if !constraints.is_empty() {
        let mut table = output::table(&["kind", "name", "expression"]);
        for c in &constraints {
            table.add_row(vec![
                c.kind.to_string(),
                c.name.clone(),
                c.expression.clone(),
            ]);
        }
        text.push_str(&format!("\n\nConstraints\n{table}"));
    }
    if !generated.is_empty() {
        let mut table = output::table(&["column", "generated"]);
        for g in &generated {
            table.add_row(vec![g.column.clone(), g.how.to_string()]);
        }
        text.push_str(&format!("\n\nGenerated columns\n{table}"));
    }
    print(text)
}

/// The field metadata key of a column invariant.
const INVARIANTS_KEY: &str = "delta.invariants";
/// The field metadata key of a generated column's expression.
const GENERATION_EXPRESSION_KEY: &str = "delta.generationExpression";
/// The prefix of an identity column's field metadata keys (`delta.identity.start`, …).
const IDENTITY_PREFIX: &str = "delta.identity.";

/// A constraint every row written must satisfy.
struct Constraint {
    /// `check` (a `delta.constraints.<name>` property) or `invariant` (a column's
    /// `delta.invariants`).
    kind: &'static str,
    /// The CHECK constraint's name, or the invariant's column path.
    name: String,
    /// Its SQL expression, as the table stores it.
    expression: String,
}

/// The CHECK constraints by name, then the column invariants in schema order.
fn constraints(snapshot: &Snapshot) -> Vec<Constraint> {
    let mut found: Vec<Constraint> = snapshot
        .metadata()
        .configuration
        .iter()
        .filter_map(|(key, value)| {
            key.strip_prefix(strata::properties::CONSTRAINTS_PREFIX)
                .map(|name| Constraint {
                    kind: "check",
                    name: name.to_string(),
                    expression: value.clone(),
                })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    for (path, field) in fields_by_path(snapshot.schema()) {
        if let Some(value) = field.metadata.get(INVARIANTS_KEY) {
            found.push(Constraint {
                kind: "invariant",
                name: path,
                expression: invariant_expression(value),
            });
        }
    }
    found
}

/// The SQL of an invariant, `{"expression": {"expression": "<sql>"}}` as a JSON string (as
/// Spark writes it) or object; anything else as it is.
fn invariant_expression(value: &Value) -> String {
    let document = match value {
        Value::String(text) => serde_json::from_str::<Value>(text).unwrap_or(value.clone()),
        other => other.clone(),
    };
    document
        .get("expression")
        .and_then(|e| e.get("expression"))
        .and_then(Value::as_str)
        .map_or_else(|| output::compact(value), str::to_string)
}

/// A column whose values the table computes.
struct GeneratedColumn {
    /// Its path (`a.b` for a struct field).
    column: String,
    how: Generated,
}

enum Generated {
    /// `delta.generationExpression`.
    Expression(String),
    /// The `delta.identity.*` metadata, keys without the prefix.
    Identity(Map<String, Value>),
}

impl std::fmt::Display for Generated {
    /// As Spark's DDL says it: `ALWAYS AS (expr)`, `ALWAYS AS IDENTITY (START WITH 1 INCREMENT
    /// BY 1)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Generated::Expression(expression) => write!(f, "ALWAYS AS ({expression})"),
            Generated::Identity(identity) => {
                let value = |key: &str| identity.get(key).map_or("?".into(), output::compact);
                let by_default = identity.get("allowExplicitInsert") == Some(&Value::Bool(true));
                write!(
                    f,
                    "{} AS IDENTITY (START WITH {} INCREMENT BY {})",
                    if by_default { "BY DEFAULT" } else { "ALWAYS" },
                    value("start"),
                    value("step")
                )?;
                if let Some(mark) = identity.get("highWaterMark") {
                    write!(f, ", high-water mark {}", output::compact(mark))?;
                }
                Ok(())
            }
        }
    }
}

/// The generated and identity columns, in schema order.
fn generated_columns(schema: &strata::StructType) -> Vec<GeneratedColumn> {
    let mut found = Vec::new();
    for (path, field) in fields_by_path(schema) {
        if let Some(expression) = field.metadata.get(GENERATION_EXPRESSION_KEY) {
            found.push(GeneratedColumn {
                column: path.clone(),
                how: Generated::Expression(output::compact(expression)),
            });
        }
        let identity: Map<String, Value> = field
            .metadata
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(IDENTITY_PREFIX)?.to_string(), v.clone())))
            .collect();
        if !identity.is_empty() {
            found.push(GeneratedColumn {
                column: path,
                how: Generated::Identity(identity),
            });
        }
    }
    found
}

/// Every field with its path, struct fields after their struct (`a`, `a.b`).
fn fields_by_path(schema: &strata::StructType) -> Vec<(String, &strata::StructField)> {
    fn walk<'a>(
        fields: &'a [strata::StructField],
        prefix: &str,
        out: &mut Vec<(String, &'a strata::StructField)>,
    ) {
        for field in fields {
            let path = if prefix.is_empty() {
                field.name.clone()
            } else {
                format!("{prefix}.{}", field.name)
            };
            if let strata::DataType::Struct(inner) = &field.data_type {
                out.push((path.clone(), field));
                walk(&inner.fields, &path, out);
            } else {
                out.push((path, field));
            }
        }
    }
    let mut out = Vec::new();
    walk(&schema.fields, "", &mut out);
    out
}

/// A schema as `[{"name", "type", "nullable"}]`, types as Delta names them.
pub(super) fn schema_json(schema: &strata::StructType) -> Value {
    schema
        .fields
        .iter()
        .map(|f| json!({"name": f.name, "type": f.data_type.to_string(), "nullable": f.nullable}))
        .collect()
}

fn sorted(map: &std::collections::HashMap<String, String>) -> Map<String, Value> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort();
    entries
        .into_iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// `strata history`.
pub async fn history(ctx: &Context, location: &str, limit: Option<usize>, json: bool) -> CliResult {
    let entries = ctx.table(location).await?.history(limit).await?;
    if json {
        return print_json(&Value::Array(entries.iter().map(history_json).collect()));
    }
    let mut table = output::table(&["version", "timestamp", "operation", "parameters", "metrics"]);
    for entry in &entries {
        table.add_row(vec![
            entry.version.to_string(),
            output::time(entry.timestamp_ms),
            entry.operation.clone().unwrap_or_else(|| "-".into()),
            output::key_values(&entry.parameters),
            output::key_values(&entry.metrics),
        ]);
    }
    output::align_right(&mut table, &[0]);
    print(table)
}

fn history_json(entry: &HistoryEntry) -> Value {
    json!({
        "version": entry.version,
        "timestamp": output::rfc3339(entry.timestamp_ms),
        "operation": entry.operation,
        "parameters": entry.parameters,
        "metrics": entry.metrics,
        "engineInfo": entry.engine_info,
        "readVersion": entry.read_version,
        "isBlindAppend": entry.is_blind_append,
        "userMetadata": entry.user_metadata,
    })
}

/// `strata files`.
pub async fn files(
    ctx: &Context,
    location: &str,
    at: &At,
    filter: Option<String>,
    json: bool,
) -> CliResult {
    let snapshot = ctx.snapshot(location, at).await?;
    snapshot.load_stats().await?;
    let mut builder = snapshot.scan();
    if let Some(filter) = filter {
        builder = builder.with_filter(filter);
    }
    let plan = builder.plan().await?;
    let files = plan.files();
    if json {
        return print_json(&Value::Array(
            files.iter().map(|f| file_json(&snapshot, f)).collect(),
        ));
    }
    let mut table = output::table(&["path", "rows", "size", "modified"]);
    for add in files {
        table.add_row(vec![
            strata::paths::decode_path(&add.path),
            add.num_records()
                .map(output::count)
                .unwrap_or_else(|| "?".into()),
            output::bytes_i64(add.size),
            output::time(add.modification_time),
        ]);
    }
    output::align_right(&mut table, &[1, 2]);
    let total = files.iter().fold(0i64, |t, a| t.saturating_add(a.size));
    print(format!(
        "{table}\n{} of {} files at version {}, {}",
        output::count(files.len() as i64),
        output::count(snapshot.num_files() as i64),
        snapshot.version(),
        output::bytes_i64(total)
    ))
}

/// A data file as JSON, partition values under the columns' names (not their physical names).
fn file_json(snapshot: &Snapshot, add: &Add) -> Value {
    let partition_values: Map<String, Value> = snapshot
        .partition_values_of(add)
        .into_iter()
        .map(|(k, v)| (k, v.map_or(Value::Null, Value::String)))
        .collect();
    json!({
        "path": add.path,
        "size": add.size,
        "numRecords": add.num_records(),
        "partitionValues": partition_values,
        "modificationTime": output::rfc3339(add.modification_time),
    })
}

/// `strata diff`.
pub async fn diff(
    ctx: &Context,
    location: &str,
    from: &str,
    to: Option<&str>,
    json: bool,
) -> CliResult {
    let table = ctx.table(location).await?;
    let latest = table.snapshot().await?;
    let from = resolve_version(&table, from).await?;
    let to = match to {
        Some(to) => resolve_version(&table, to).await?,
        None => latest.version(),
    };
    let diff = table.diff(from, to).await?;
    if json {
        return print_json(&json!({
            "from": diff.from,
            "to": diff.to,
            "numFilesAdded": diff.added.len(),
            "numFilesRemoved": diff.removed.len(),
            "rowsAdded": diff.rows_added(),
            "rowsRemoved": diff.rows_removed(),
            "bytesAdded": diff.bytes_added(),
            "bytesRemoved": diff.bytes_removed(),
            "added": diff.added.iter().map(|f| file_json(&latest, f)).collect::<Vec<_>>(),
            "removed": diff.removed.iter().map(|f| file_json(&latest, f)).collect::<Vec<_>>(),
        }));
    }
    print(render_diff(&diff))
}

fn render_diff(diff: &TableDiff) -> String {
    let rows = |n: Option<i64>| n.map_or_else(|| "? rows".into(), |n| output::plural(n, "row"));
    let files = |n: usize| output::plural(n as i64, "file");
    let summary = format!(
        "version {} -> {}: {} added ({}, {}), {} removed ({}, {})",
        diff.from,
        diff.to,
        files(diff.added.len()),
        rows(diff.rows_added()),
        output::bytes_i64(diff.bytes_added()),
        files(diff.removed.len()),
        rows(diff.rows_removed()),
        output::bytes_i64(diff.bytes_removed()),
    );
    if diff.added.is_empty() && diff.removed.is_empty() {
        return format!("{summary}\nthe two versions have the same data files");
    }
    let mut table = output::table(&["change", "path", "rows", "size"]);
    let changes = diff
        .added
        .iter()
        .map(|a| ("added", a))
        .chain(diff.removed.iter().map(|a| ("removed", a)));
    for (change, add) in changes {
        table.add_row(vec![
            change.to_string(),
            strata::paths::decode_path(&add.path),
            add.num_records()
                .map(output::count)
                .unwrap_or_else(|| "?".into()),
            output::bytes_i64(add.size),
        ]);
    }
    output::align_right(&mut table, &[2, 3]);
    format!("{summary}\n{table}")
}

/// A version number, or a tag name looked up in the table's tags.
pub(super) async fn resolve_version(table: &Table, text: &str) -> CliResult<i64> {
    if let Ok(version) = text.parse::<i64>() {
        return Ok(version);
    }
    match table.tags().await?.get(text) {
        Some(tag) => Ok(tag.version),
        None => Err(CliError::NotFound(format!(
            "{text:?} is neither a version number nor a tag of the table; `strata tags TABLE` lists the tags"
        ))),
    }
}

/// `strata tags`.
pub async fn tags(ctx: &Context, location: &str, json: bool) -> CliResult {
    let tags = ctx.table(location).await?.tags().await?;
    if json {
        let list: Vec<Value> = tags
            .iter()
            .map(|(name, tag)| {
                json!({"name": name, "version": tag.version, "createdAt": output::rfc3339(tag.created_at)})
            })
            .collect();
        return print_json(&Value::Array(list));
    }
    if tags.is_empty() {
        return print("no tags; create one with `strata tag TABLE NAME`");
    }
    let mut table = output::table(&["tag", "version", "created"]);
    for (name, tag) in &tags {
        table.add_row(vec![
            name.clone(),
            tag.version.to_string(),
            output::time(tag.created_at),
        ]);
    }
    output::align_right(&mut table, &[1]);
    print(table)
}
