//! `replace_where`: an overwrite of only the rows a predicate matches, in one commit
//! (`protocol/PROTOCOL.md#replace-where`), as delta-rs's predicate overwrite and Spark's
//! `replaceWhere`. Every new row must satisfy the predicate (checked before anything is
//! written); the rows it matches now are deleted as a delete deletes them (whole files,
//! rewrites or deletion vectors), and the new rows added, so a job that recomputes one
//! partition or one day never touches the rest of the table.

use arrow::array::RecordBatch;
use futures::StreamExt;

use super::delete::plan_delete;
use super::files::refuse_append_only;
use crate::error::{Error, Result};
use crate::expr::predicate::Predicate;
use crate::expr::value::definitely_true;
use crate::expr::{Expr, ExprError};
use crate::snapshot::latest::LatestSnapshot;
use crate::transaction::Transaction;
use crate::write::cdc::write_cdc_files;
use crate::write::{WriterOptions, conform_to_table, write_stream_files};

/// What a `replace_where` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplaceWhereResult {
    /// The version committed; `None` when nothing matched and there were no new rows.
    pub version: Option<i64>,
    /// Rows the predicate matched before, now gone.
    pub num_deleted_rows: u64,
    /// New rows written.
    pub num_added_rows: u64,
    /// Data files removed (whole, rewritten, or re-added with a vector).
    pub num_removed_files: u64,
    /// Data files added (new rows, and rewrites of partly matched files).
    pub num_added_files: u64,
}

/// A predicate overwrite, built by [`Table::replace_where`](crate::Table::replace_where).
#[must_use = "a replace_where does nothing until executed"]
pub struct ReplaceWhereBuilder {
    latest: LatestSnapshot,
    filter: std::result::Result<Expr, ExprError>,
    batches: Vec<RecordBatch>,
    expected_version: Option<i64>,
}

impl ReplaceWhereBuilder {
    pub(crate) fn new(
        latest: LatestSnapshot,
        filter: std::result::Result<Expr, ExprError>,
        batches: Vec<RecordBatch>,
    ) -> ReplaceWhereBuilder {
        ReplaceWhereBuilder {
            latest,
            filter,
            batches,
            expected_version: None,
        }
    }

    /// Commits only on top of `version` (see
    /// [`WriteBuilder::with_expected_version`](crate::WriteBuilder::with_expected_version)).
    pub fn with_expected_version(mut self, version: i64) -> Self {
        self.expected_version = Some(version);
        self
    }

    /// Checks the new rows, deletes what the predicate matches, writes the new rows, and
    /// commits once.
    ///
    /// # Errors
    /// [`Error::Predicate`]; [`Error::SchemaMismatch`] for rows that do not fit the table;
    /// [`Error::InvalidArgument`] when a new row does not satisfy the predicate (nothing is
    /// written); [`Error::NotAllowed`] on an append-only table; [`Error::Conflict`] as for a
    /// delete; read and write errors.
    pub async fn execute(self) -> Result<ReplaceWhereResult> {
        let snapshot = self.latest.get_confirmed().await?;
        snapshot.require_writable()?;
        refuse_append_only(&snapshot, "replace_where")?;
        let expr = self.filter.clone()?;
        let check = Predicate::bind(&expr, &snapshot.arrow_schema())?;
        let mut rows = Vec::with_capacity(self.batches.len());
        let (mut outside, mut first) = (0usize, None);
        for batch in &self.batches {
            let batch = conform_to_table(&snapshot, batch)?;
            let holds = definitely_true(&check.evaluate(&batch)?);
            outside += batch.num_rows() - holds.true_count();
            if first.is_none()
                && let Some(i) = (0..batch.num_rows()).find(|&i| !holds.value(i))
            {
                first = Some(render_row(&batch, i));
            }
            rows.push(batch);
        }
        if outside > 0 {
            return Err(Error::InvalidArgument(format!(
                "replace_where `{expr}`: {outside} of the new rows do not satisfy it (the first: {}); every new row must, so that it replaces only what it matches; nothing was written",
                first.unwrap_or_default()
            )));
        }
        let num_added_rows: u64 = rows.iter().map(|b| b.num_rows() as u64).sum();
        let mut planned = plan_delete(&snapshot, Some(Ok(expr.clone())), None).await?;
        if planned.outcome.is_empty() && num_added_rows == 0 {
            return Ok(ReplaceWhereResult::default());
        }
        // A commit with change files must carry every change in them: the new rows too.
        if !planned.outcome.cdc.is_empty() {
            let inserted = write_cdc_files(&snapshot, &rows, "insert").await?;
            planned.outcome.cdc.extend(inserted);
        }
        let stream = futures::stream::iter(rows.into_iter().map(Ok)).boxed();
        let written = write_stream_files(
            &snapshot,
            stream,
            &WriterOptions::default(),
            "replace where",
        )
        .await?;
        let num_new_files = written.len() as u64;
        planned
            .outcome
            .adds
            .extend(written.into_iter().map(|(add, _)| add));
        let mut tx = Transaction::new(&snapshot, "WRITE")
            .with_parameter("mode", "Overwrite")
            .with_parameter(
                "predicate",
                serde_json::json!([expr.to_string()]).to_string(),
            );
        if let Some(v) = self.expected_version {
            tx = tx.with_expected_version(v);
        }
        planned.read_into(&mut tx, &snapshot);
        tx.set_metric("numOutputRows", num_added_rows);
        let (deleted, committed) = planned.outcome.commit(tx, &snapshot).await?;
        self.latest.remember_committed(&committed);
        Ok(ReplaceWhereResult {
            version: deleted.version,
            num_deleted_rows: deleted.num_deleted_rows,
            num_added_rows,
            num_removed_files: deleted.num_removed_files,
            num_added_files: deleted.num_added_files + num_new_files,
        })
    }
}

/// Row `i` of `batch` as `column=value, …` (for errors).
fn render_row(batch: &RecordBatch, i: usize) -> String {
    let options = arrow::util::display::FormatOptions::default().with_null("NULL");
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            let value = arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &options)
                .map(|fmt| fmt.value(i).to_string())
                .unwrap_or_default();
            format!("{}={value}", f.name())
        })
        .collect::<Vec<_>>()
        .join(", ")
}
