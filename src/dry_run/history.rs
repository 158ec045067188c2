//! Which migrations a database has already applied, for `--pending`, `--schema-from` and
//! `--from-backup`: the layout's own history table (`_sqlx_migrations`, `schema_migrations`,
//! `flyway_schema_history`, `schema_migration`, …) read and compared with the files by
//! [`crate::history`], the one reader `status`, `apply` and backup manifests use too.

use crate::engines::conn::Conn;
use crate::history::{self, EntryState, History, MigFile, State, Tool};
use crate::migrations::{Layout, Migration};

/// The applied state a history table records.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The table it was read from (`schema.table` or `table`, unquoted).
    pub table: String,
    /// A version the history marks as failed/dirty.
    pub dirty: Option<String>,
    tool: Tool,
    history: History,
}

impl Applied {
    /// Whether the tool counts `m` as applied (a file changed since still is).
    pub fn contains(&self, m: &Migration) -> bool {
        let Ok(f) = MigFile::load(m) else {
            return false;
        };
        history::compare(self.tool.spec(), std::slice::from_ref(&f), &self.history)
            .iter()
            .any(|l| l.file == Some(0) && matches!(l.state, State::Applied | State::Modified))
    }
}

/// Reads the history table of `layout`; `None` when the table does not exist (or cannot be read).
pub async fn read(conn: &mut Conn, layout: Layout) -> Option<Applied> {
    let tool = Tool::of(layout)?;
    let h = history::read(conn, tool).await.ok()?;
    if !h.exists {
        return None;
    }
    let table = match tool.spec().table(conn.kind()) {
        (Some(schema), name) => format!("{schema}.{name}"),
        (None, name) => name.to_string(),
    };
    let dirty = h
        .entries
        .iter()
        .rev()
        .find(|e| e.state == EntryState::Failed)
        .map(|e| e.version.clone());
    Some(Applied {
        table,
        dirty,
        tool,
        history: h,
    })
}
