//! Commands that change rows: delete and update.

use serde_json::json;

use super::Context;
use crate::error::CliResult;
use crate::output::{self, print, print_json};

/// `strata delete`.
pub async fn delete(
    ctx: &Context,
    location: &str,
    filter: Option<String>,
    expected_version: Option<i64>,
    json: bool,
) -> CliResult {
    let table = ctx.table(location).await?;
    let mut builder = table.delete();
    if let Some(filter) = filter {
        builder = builder.with_predicate(filter);
    }
    if let Some(version) = expected_version {
        builder = builder.with_expected_version(version);
    }
    let result = builder.execute().await?;
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
    let mut builder = table.update();
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
