//! One function per subcommand: open the table, make the library call, render the result.

mod alter;
mod dml;
mod lake;
mod maintain;
mod read;
mod scan;
#[cfg(feature = "sql")]
mod sql;
mod write;

use std::collections::HashMap;

use strata::{Snapshot, Storage, Table};

use crate::args::{At, Cli, Command};
use crate::error::CliResult;

/// What every command gets besides its own arguments.
pub struct Context {
    /// Object store options from `--option`.
    options: HashMap<String, String>,
    /// `--quiet`: no progress bars.
    quiet: bool,
}

impl Context {
    /// Opens the table at its latest version.
    async fn table(&self, location: &str) -> CliResult<Table> {
        Ok(Table::open_with_options(location, self.options.clone()).await?)
    }

    /// Whether a table is at `location` (one that fails to open for another reason counts, so
    /// that writing to it reports why).
    #[cfg(feature = "sql")]
    async fn is_table(&self, location: &str) -> bool {
        !matches!(
            self.table(location).await,
            Err(crate::error::CliError::Table(
                strata::Error::NotATable { .. }
            ))
        )
    }

    fn storage(&self, location: &str) -> CliResult<Storage> {
        Ok(Storage::open(location, &self.options)?)
    }

    /// The version `at` selects, the latest when it selects none. A version or timestamp is
    /// loaded directly (the latest version need not be readable); a tag is looked up in the
    /// latest version, where tags live.
    async fn snapshot(&self, location: &str, at: &At) -> CliResult<Snapshot> {
        if let Some(tag) = &at.tag {
            return Ok(self.table(location).await?.snapshot_at_tag(tag).await?);
        }
        let storage = self.storage(location)?;
        Ok(match at.timestamp {
            Some(t) => Snapshot::load_at_timestamp(&storage, t).await?,
            None => Snapshot::load(&storage, at.version).await?,
        })
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> CliResult {
    let ctx = Context {
        options: cli.options.into_iter().collect(),
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Info { table, at, json } => read::info(&ctx, &table, &at, json.json).await,
        Command::History { table, limit, json } => {
            read::history(&ctx, &table, limit, json.json).await
        }
        Command::Scan(args) => scan::scan(&ctx, args).await,
        Command::Changes(args) => scan::changes(&ctx, args).await,
        Command::Files {
            table,
            at,
            filter,
            json,
        } => read::files(&ctx, &table, &at, filter, json.json).await,
        Command::Diff(args) if args.rows => scan::diff_rows(&ctx, args).await,
        Command::Diff(args) => {
            read::diff(&ctx, &args.table, &args.from, args.to.as_deref(), args.json).await
        }
        Command::Tags { table, json } => read::tags(&ctx, &table, json.json).await,
        Command::Lineage {
            table,
            version,
            depth,
            json,
        } => lake::lineage(&ctx, &table, version, depth, json.json).await,
        #[cfg(feature = "sql")]
        Command::Sql(args) => sql::sql(&ctx, args).await,
        Command::Tables { root, json } => lake::tables(&ctx, &root, json.json).await,
        Command::Pipeline(command) => lake::pipeline(&ctx, command).await,
        Command::Pin {
            root,
            name,
            tables,
            lineage_of,
            json,
        } => {
            lake::pin(
                &ctx,
                &root,
                &name,
                &tables,
                lineage_of.as_deref(),
                json.json,
            )
            .await
        }
        Command::Pins { root, json } => lake::pins(&ctx, &root, json.json).await,
        Command::Create {
            table,
            schema,
            new_table,
            json,
        } => write::create(&ctx, &table, &schema, &new_table, json.json).await,
        Command::Append(args) => write::append(&ctx, args).await,
        Command::Alter(args) => alter::alter(&ctx, args).await,
        Command::Merge(args) => dml::merge(&ctx, args).await,
        Command::Restore { table, at, json } => {
            maintain::restore(&ctx, &table, &at, json.json).await
        }
        Command::Revert {
            table,
            version,
            json,
        } => maintain::revert(&ctx, &table, version, json.json).await,
        Command::Tag {
            table,
            name,
            version,
            delete,
            json,
        } => maintain::tag(&ctx, &table, &name, version, delete, json.json).await,
        Command::Vacuum {
            table,
            retention,
            dry_run,
            force,
            in_flight_grace,
            json,
        } => {
            let options = maintain::VacuumOptions {
                retention_ms: retention,
                dry_run,
                force,
                in_flight_grace_ms: in_flight_grace,
            };
            maintain::vacuum(&ctx, &table, options, json.json).await
        }
        Command::Delete {
            table,
            filter,
            all: _,
            expected_version,
            json,
        } => dml::delete(&ctx, &table, filter, expected_version, json.json).await,
        Command::Update {
            table,
            sets,
            filter,
            expected_version,
            json,
        } => dml::update(&ctx, &table, sets, filter, expected_version, json.json).await,
        Command::Optimize {
            table,
            target_size,
            filter,
            zorder,
            json,
        } => maintain::optimize(&ctx, &table, target_size, filter, zorder, json.json).await,
        Command::Checkpoint { table, json } => maintain::checkpoint(&ctx, &table, json.json).await,
    }
}
