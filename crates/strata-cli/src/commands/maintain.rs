//! Rollback and maintenance: restore, revert, tag, vacuum, optimize, checkpoint.

use serde_json::json;
use strata::{OptimizeProgress, UndoResult, VacuumProgress};

use super::Context;
use crate::args::At;
use crate::error::{CliError, CliResult};
use crate::output::{self, Progress, print, print_json};

/// `strata restore`.
pub async fn restore(ctx: &Context, location: &str, at: &At, json: bool) -> CliResult {
    let table = ctx.table(location).await?;
    let result = match (&at.version, &at.timestamp, &at.tag) {
        (Some(version), _, _) => table.restore_to_version(*version).await?,
        (_, Some(timestamp), _) => table.restore_to_timestamp(*timestamp).await?,
        (_, _, Some(tag)) => table.restore_to_tag(tag).await?,
        (None, None, None) => {
            return Err(CliError::Usage(
                "say which version to restore: --version, --timestamp or --tag".into(),
            ));
        }
    };
    report_undo(&result, "restored to version", json)
}

/// `strata revert`.
pub async fn revert(ctx: &Context, location: &str, version: i64, json: bool) -> CliResult {
    let result = ctx.table(location).await?.revert(version).await?;
    report_undo(&result, "reverted version", json)
}

fn report_undo(result: &UndoResult, what: &str, json: bool) -> CliResult {
    if json {
        return print_json(&json!({
            "version": result.version,
            "target": result.target,
            "numRestoredFiles": result.num_restored_files,
            "numRemovedFiles": result.num_removed_files,
            "restoredBytes": result.restored_bytes,
            "removedBytes": result.removed_bytes,
        }));
    }
    print(format!(
        "{what} {} as version {}: {} added back ({}), {} removed ({})",
        result.target,
        result.version,
        output::plural(result.num_restored_files as i64, "file"),
        output::bytes_i64(result.restored_bytes),
        output::plural(result.num_removed_files as i64, "file"),
        output::bytes_i64(result.removed_bytes)
    ))
}

/// `strata tag`.
pub async fn tag(
    ctx: &Context,
    location: &str,
    name: &str,
    version: Option<i64>,
    delete: bool,
    json: bool,
) -> CliResult {
    let table = ctx.table(location).await?;
    if delete {
        let deleted = table.delete_tag(name).await?;
        if json {
            return print_json(&json!({"tag": name, "deleted": true, "target": deleted.version}));
        }
        return print(format!(
            "deleted tag {name:?} (it named version {})",
            deleted.version
        ));
    }
    let target = match version {
        Some(v) => v,
        None => table.version().await?,
    };
    let created = table.tag(name, target).await?;
    if json {
        return print_json(&json!({"tag": name, "target": target, "created": created}));
    }
    print(if created {
        format!("tagged version {target} as {name:?}")
    } else {
        format!("{name:?} already names version {target}; nothing changed")
    })
}

/// `strata vacuum`'s flags.
pub struct VacuumOptions {
    /// `--retention`.
    pub retention_ms: Option<i64>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--force`.
    pub force: bool,
    /// `--in-flight-grace`.
    pub in_flight_grace_ms: Option<i64>,
}

/// `strata vacuum`.
pub async fn vacuum(
    ctx: &Context,
    location: &str,
    options: VacuumOptions,
    json: bool,
) -> CliResult {
    let table = ctx.table(location).await?;
    let progress = Progress::items(ctx.quiet, 0, "vacuum");
    let bar = progress.handle();
    let mut builder = table
        .vacuum()
        .with_dry_run(options.dry_run)
        .with_force(options.force)
        .with_progress(move |p: VacuumProgress| {
            bar.set_length(p.to_delete);
            bar.set_position(p.deleted);
            bar.set_message(format!("vacuum (listed {})", p.listed));
        });
    if let Some(ms) = options.retention_ms {
        builder = builder.with_retention_ms(ms);
    }
    if let Some(ms) = options.in_flight_grace_ms {
        builder = builder.with_in_flight_grace_ms(ms);
    }
    let report = builder.execute().await?;
    drop(progress);
    if json {
        return print_json(&json!({
            "dryRun": report.dry_run,
            "retentionMs": report.retention_ms,
            "numFiles": report.files.len(),
            "bytes": report.bytes,
            "files": report.files,
            "inFlight": report.in_flight,
            "version": report.version,
        }));
    }
    let mut summary = format!(
        "{} ({}) not needed by any version of the last {} or any tagged version",
        output::plural(report.files.len() as i64, "file"),
        output::bytes(report.bytes),
        strata::format_duration_ms(report.retention_ms)
    );
    if !report.in_flight.is_empty() {
        summary.push_str(&format!(
            "; kept {} no commit references yet, written within the in-flight grace (--in-flight-grace)",
            output::plural(report.in_flight.len() as i64, "file")
        ));
    }
    if report.dry_run {
        let mut text = format!("dry run: would delete {summary}");
        for file in &report.files {
            text.push_str("\n  ");
            text.push_str(file);
        }
        return print(text);
    }
    match report.version {
        Some(version) => print(format!("deleted {summary}; recorded as version {version}")),
        None => print(format!("deleted {summary}")),
    }
}

/// `strata optimize`.
pub async fn optimize(
    ctx: &Context,
    location: &str,
    target_size: Option<u64>,
    filter: Option<String>,
    zorder: Vec<String>,
    json: bool,
) -> CliResult {
    let table = ctx.table(location).await?;
    let progress = Progress::bytes(ctx.quiet, 0, "optimize");
    let bar = progress.handle();
    let mut builder = table.optimize().with_progress(move |p: OptimizeProgress| {
        bar.set_length(p.bytes_total);
        bar.set_position(p.bytes_done);
    });
    if let Some(size) = target_size {
        builder = builder.with_target_size(size);
    }
    if let Some(filter) = filter {
        builder = builder.with_filter(filter);
    }
    if !zorder.is_empty() {
        builder = builder.with_zorder(zorder);
    }
    let result = builder.execute().await?;
    drop(progress);
    if json {
        // `version` is what was committed: null when there was nothing to compact.
        let committed = result.num_files_removed > 0;
        return print_json(&json!({
            "version": committed.then_some(result.version),
            "numFilesRemoved": result.num_files_removed,
            "numFilesAdded": result.num_files_added,
            "bytesRemoved": result.bytes_removed,
            "bytesAdded": result.bytes_added,
            "partitionsOptimized": result.partitions_optimized,
        }));
    }
    if result.num_files_removed == 0 {
        return print(format!(
            "nothing to compact at version {}: no partition has two or more files below the target size",
            result.version
        ));
    }
    print(format!(
        "compacted {} ({}) into {} ({}) in {} as version {}",
        output::plural(result.num_files_removed as i64, "file"),
        output::bytes_i64(result.bytes_removed),
        output::plural(result.num_files_added as i64, "file"),
        output::bytes_i64(result.bytes_added),
        output::plural(result.partitions_optimized as i64, "partition"),
        result.version
    ))
}

/// `strata checkpoint`.
pub async fn checkpoint(ctx: &Context, location: &str, json: bool) -> CliResult {
    let table = ctx.table(location).await?;
    let progress = Progress::spinner(ctx.quiet, "writing checkpoint");
    let info = table.checkpoint().await?;
    drop(progress);
    if json {
        return print_json(&json!({
            "version": info.version,
            "numActions": info.num_actions,
            "numAddFiles": info.num_add_files,
            "sizeInBytes": info.size_in_bytes,
        }));
    }
    print(format!(
        "checkpoint of version {} written: {}, {} live, {}",
        info.version,
        output::plural(info.num_actions, "action"),
        output::plural(info.num_add_files, "file"),
        output::bytes_i64(info.size_in_bytes)
    ))
}
