//! Post-commit hooks: work that runs after a commit has landed and never fails it.
//!
//! The transaction layer calls them through one narrow interface, [`PostCommitHook`], with the
//! snapshot of the version it committed. The default is [`AutoCheckpoint`]: a checkpoint every
//! `delta.checkpointInterval` commits, then the log cleanup that checkpoint allows
//! (`protocol/PROTOCOL.md#checkpoints`, `protocol/PROTOCOL.md#log-cleanup`). Checkpointing and
//! cleanup live below the transaction layer (they read the log and write derived files, but
//! never commit), so the hook runs them without either layer importing the other's callers.

use std::fmt::Debug;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::snapshot::Snapshot;

/// Work that runs after a commit landed, given the table at the committed version. It must
/// not fail the commit: a hook logs its own failures.
pub(crate) trait PostCommitHook: Send + Sync + Debug {
    /// Runs the hook.
    fn run<'a>(&'a self, committed: &'a Snapshot) -> BoxFuture<'a, ()>;
}

/// The hooks every transaction runs unless told otherwise.
pub(crate) fn default_hooks() -> Vec<Arc<dyn PostCommitHook>> {
    vec![Arc::new(AutoCheckpoint)]
}

/// A checkpoint when the committed version is a multiple of the table's checkpoint interval,
/// then log cleanup.
#[derive(Debug)]
pub(crate) struct AutoCheckpoint;

impl PostCommitHook for AutoCheckpoint {
    fn run<'a>(&'a self, committed: &'a Snapshot) -> BoxFuture<'a, ()> {
        Box::pin(maybe_checkpoint(committed))
    }
}

async fn maybe_checkpoint(snapshot: &Snapshot) {
    let interval = snapshot.table_properties().checkpoint_interval;
    if snapshot.version() <= 0 || snapshot.version() % interval != 0 {
        return;
    }
    match crate::checkpoint::write_checkpoint(snapshot).await {
        Ok(_) => crate::checkpoint::cleanup::cleanup_after_checkpoint(snapshot).await,
        Err(e) => {
            tracing::warn!(version = snapshot.version(), error = %e, "checkpoint failed; the commit stands");
        }
    }
}
