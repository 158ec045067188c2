//! The recovery protocol: how an operation kind that journals its steps is brought to a
//! consistent end from its journal alone ([`RecoverKind`]). Operations implement it next to the
//! steps they journal; `crate::recover` keeps the registry and runs `migsafe recover`.

use super::{Journal, JournalError, JournalState};
use crate::engines::EngineError;
use crate::engines::target::Target;
use serde::Serialize;
use std::path::PathBuf;

/// What to do with an unfinished operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Finish what the operation set out to do.
    Resume,
    /// Undo it: the database as it was before the operation.
    Abort,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Resume => "resume",
            Action::Abort => "abort",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{0}")]
    Failed(String),
}

/// What a recovery kind is given.
pub struct RecoverCtx<'a> {
    /// The target with credentials (from `--database-url`), same server as the journal's.
    pub target: &'a Target,
    /// The journal, reopened: a kind records each step it takes before taking it.
    pub journal: &'a mut Journal,
    /// `--pg-bin-dir`, for kinds that run PostgreSQL tools.
    pub pg_bin_dir: Option<PathBuf>,
    /// PgBouncer's admin console with credentials (`[pgbouncer] admin_url`), for kinds that
    /// paused or reconnected a pool: the journal keeps only a redacted URL.
    pub pgbouncer_admin_url: Option<String>,
}

/// One operation kind that can be resumed or aborted from its journal.
/// Its futures need not be `Send`: migsafe runs one operation on a single-threaded runtime.
#[async_trait::async_trait(?Send)]
pub trait RecoverKind: Sync {
    /// The journal kind it handles (`restore-swap`).
    fn kind(&self) -> &'static str;
    /// What recover does without `--resume`/`--abort`: the end that loses nothing.
    fn default_action(&self, state: &JournalState) -> Action;
    /// Brings the operation to a consistent end; returns what was done, one line each. On
    /// success recover ends the journal with outcome `aborted` or `resumed`.
    async fn recover(
        &self,
        ctx: &mut RecoverCtx<'_>,
        state: &JournalState,
        action: Action,
    ) -> Result<Vec<String>, RecoverError>;
}
