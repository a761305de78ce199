//! Commands that change rows: delete, update and merge.

use serde_json::json;
use strata::DmlProgress;

use super::Context;
use crate::args::{BySourceAction, MatchedAction, MergeArgs, NotMatchedAction, SchemaModeArg};
use crate::error::{CliError, CliResult};
use crate::input::{self, Input, InputOptions, Source};
use crate::output::{self, Progress, print, print_json};

/// `strata delete`.
pub async fn delete(
    ctx: &Context,
    location: &str,
    filter: Option<String>,
    expected_version: Option<i64>,
    json: bool,
) -> CliResult {
    let table = ctx.table(location).await?;
    let progress = Progress::items(ctx.quiet, 0, "deleting");
    let mut builder = table.delete().with_progress(files_bar(&progress));
    if let Some(filter) = filter {
        builder = builder.with_predicate(filter);
    }
    if let Some(version) = expected_version {
        builder = builder.with_expected_version(version);
    }
    let result = builder.execute().await?;
    drop(progress);
    if json {
        return print_json(&json!({
            "version": result.version,
            "numDeletedRows": result.num_deleted_rows,
            "numRemovedFiles": result.num_removed_files,
            "numAddedFiles": result.num_added_files,
            "numCopiedRows": result.num_copied_rows,
            "numDeletionVectorsAdded": result.num_deletion_vectors_added,
        }));
    }
    let Some(version) = result.version else {
        return print("no row matched; nothing was committed".to_string());
    };
    let mut how = vec![format!(
        "{} removed",
        output::plural(result.num_removed_files as i64, "file")
    )];
    if result.num_added_files > 0 {
        how.push(format!(
            "{} rewritten with {} copied",
            output::plural(result.num_added_files as i64, "file"),
            output::plural(result.num_copied_rows as i64, "row")
        ));
    }
    if result.num_deletion_vectors_added > 0 {
        how.push(format!(
            "{} written",
            output::plural(result.num_deletion_vectors_added as i64, "deletion vector")
        ));
    }
    print(format!(
        "deleted {} as version {version} ({})",
        output::plural(result.num_deleted_rows as i64, "row"),
        how.join(", ")
    ))
}

/// `strata update`.
pub async fn update(
    ctx: &Context,
    location: &str,
    sets: Vec<(String, String)>,
    filter: Option<String>,
    expected_version: Option<i64>,
    json: bool,
) -> CliResult {
    let table = ctx.table(location).await?;
    let progress = Progress::items(ctx.quiet, 0, "updating");
    let mut builder = table.update().with_progress(files_bar(&progress));
    for (column, value) in sets {
        builder = builder.set(column, value);
    }
    if let Some(filter) = filter {
        builder = builder.with_predicate(filter);
    }
    if let Some(version) = expected_version {
        builder = builder.with_expected_version(version);
    }
    let result = builder.execute().await?;
    drop(progress);
    if json {
        return print_json(&json!({
            "version": result.version,
            "numUpdatedRows": result.num_updated_rows,
            "numCopiedRows": result.num_copied_rows,
            "numRemovedFiles": result.num_removed_files,
            "numAddedFiles": result.num_added_files,
            "numDeletionVectorsAdded": result.num_deletion_vectors_added,
            "numAddedChangeFiles": result.num_added_change_files,
        }));
    }
    let Some(version) = result.version else {
        return print("no row matched; nothing was committed".to_string());
    };
    let mut how = vec![
        format!(
            "{} removed",
            output::plural(result.num_removed_files as i64, "file")
        ),
        format!(
            "{} added",
            output::plural(result.num_added_files as i64, "file")
        ),
    ];
    if result.num_copied_rows > 0 {
        how.push(format!(
            "{} copied",
            output::plural(result.num_copied_rows as i64, "row")
        ));
    }
    if result.num_deletion_vectors_added > 0 {
        how.push(format!(
            "{} written",
            output::plural(result.num_deletion_vectors_added as i64, "deletion vector")
        ));
    }
    print(format!(
        "updated {} as version {version} ({})",
        output::plural(result.num_updated_rows as i64, "row"),
        how.join(", ")
    ))
}

/// A progress callback moving `progress` by candidate files.
fn files_bar(progress: &Progress) -> impl Fn(DmlProgress) + Send + Sync + 'static {
    let bar = progress.handle();
    move |p: DmlProgress| {
        bar.set_length(p.files_total);
        bar.set_position(p.files_done);
    }
}

/// `strata merge`.
pub async fn merge(ctx: &Context, args: MergeArgs) -> CliResult {
    if args.schema_mode == Some(SchemaModeArg::Overwrite) {
        return Err(CliError::Usage(
            "merge takes --schema-mode merge (add the source's new columns); a schema overwrite needs `append --mode overwrite --schema-mode overwrite`".into(),
        ));
    }
    let table = ctx.table(&args.table).await?;
    let schema = table.snapshot().await?.arrow_schema();
    let sources = Source::all(&args.files, args.input_format)?;
    let options = InputOptions {
        delimiter: args.delimiter,
        header: !args.no_header,
        schema_mode: args.schema_mode.map(strata::SchemaMode::from),
    };
    let inputs = sources
        .iter()
        .map(|source| Input::open(source, options, Some(&schema)))
        .collect::<CliResult<Vec<_>>>()?;
    let quote = |k: &str| format!("`{}`", k.trim().replace('`', "``"));
    let on = args
        .on
        .iter()
        .map(|k| format!("target.{} = source.{}", quote(k), quote(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let progress = Progress::bytes(ctx.quiet, input::total_size(&inputs), "merging");
    // An empty source is a merge that changes nothing, not an error.
    let (stream, failure) = input::stream(inputs, progress.handle(), true);
    let mut merge = table.merge(stream, on.as_str());
    let condition = args.matched_condition.clone();
    let with_condition = |c: strata::MergeClause| match &condition {
        Some(cond) => c.condition(cond.as_str()),
        None => c,
    };
    merge = match args.when_matched {
        MatchedAction::Update => merge.when_matched_update(|c| with_condition(c.all())),
        MatchedAction::Delete => merge.when_matched_delete(with_condition),
        MatchedAction::Ignore => merge,
    };
    if args.when_not_matched == NotMatchedAction::Insert {
        merge = merge.when_not_matched_insert_all();
    }
    if args.when_not_matched_by_source == BySourceAction::Delete {
        merge = merge.when_not_matched_by_source_delete(|c| c);
    }
    if let Some(version) = args.expected_version {
        merge = merge.with_expected_version(version);
    }
    if let Some(mode) = args.schema_mode {
        merge = merge.with_schema_mode(mode.into());
    }
    let result = merge.execute().await;
    drop(progress);
    let result = match result {
        Ok(result) => result,
        Err(e) => {
            let decode_error = failure.lock().ok().and_then(|mut slot| slot.take());
            return Err(decode_error.unwrap_or(CliError::Table(e)));
        }
    };
    if args.json.json {
        return print_json(&json!({
            "version": result.version,
            "numSourceRows": result.num_source_rows,
            "numTargetRowsInserted": result.num_target_rows_inserted,
            "numTargetRowsUpdated": result.num_target_rows_updated,
            "numTargetRowsDeleted": result.num_target_rows_deleted,
            "numTargetRowsCopied": result.num_target_rows_copied,
            "numTargetFilesAdded": result.num_target_files_added,
            "numTargetFilesRemoved": result.num_target_files_removed,
            "numTargetDeletionVectorsAdded": result.num_target_deletion_vectors_added,
            "numTargetChangeFilesAdded": result.num_target_change_files_added,
        }));
    }
    let Some(version) = result.version else {
        return print(format!(
            "nothing to change for {}; nothing was committed",
            output::plural(result.num_source_rows as i64, "source row")
        ));
    };
    print(format!(
        "merged {} as version {version}: {} inserted, {} updated, {} deleted, {} copied ({} added, {} removed)",
        output::plural(result.num_source_rows as i64, "source row"),
        result.num_target_rows_inserted,
        result.num_target_rows_updated,
        result.num_target_rows_deleted,
        result.num_target_rows_copied,
        output::plural(result.num_target_files_added as i64, "file"),
        output::plural(result.num_target_files_removed as i64, "file"),
    ))
}
