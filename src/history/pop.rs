//! pop (gobuffalo/pop) and ory's popx (`kratos migrate sql`, `hydra migrate sql`, …):
//! `schema_migration`, from ory/x `popx/migrator.go` (`createTransactionalMigrationTable`,
//! `UpTo`, `Status`) and pop's default `MigrationTableName`.
//!
//! - Table: `CREATE TABLE schema_migration (version VARCHAR (48) NOT NULL, version_self INT NOT
//!   NULL DEFAULT 0)` with a unique index `schema_migration_version_idx` on `version` and an
//!   index `schema_migration_version_self_idx` on `version_self`, on every engine.
//! - A row per applied version — the digits before the first `_` of the file name — inserted
//!   in the migration's own transaction (`INSERT INTO schema_migration (version) VALUES
//!   ('<version>')`). The file applied is the variant for the connection's dialect
//!   (`.postgres`, `.mysql`, `.sqlite3`, …), else the generic file; the version is the same
//!   either way. No checksums, no dirty state, no lock.
//! - A legacy row holding only the first 14 digits of a longer version (pop's old timestamps)
//!   counts as that migration applied.
//! - Out of order: popx applies every file without a row, in order.

use super::{Entry, History, Line, MigFile, OutOfOrder, Tool, ToolSpec};
use crate::engines::EngineKind;
use crate::engines::migrate::{LockKey, MigrateEngine};

pub struct Pop;

/// pop's default migration table.
const TABLE: &str = "schema_migration";

/// The length of pop's legacy versions (a timestamp to the second).
const LEGACY: usize = 14;

impl ToolSpec for Pop {
    fn tool(&self) -> Tool {
        Tool::Pop
    }

    fn table(&self, _kind: EngineKind) -> (Option<&'static str>, &'static str) {
        (None, TABLE)
    }

    fn create(&self, _kind: EngineKind, _e: &dyn MigrateEngine, table: &str) -> Vec<String> {
        vec![
            format!(
                "CREATE TABLE {table} (version VARCHAR (48) NOT NULL, version_self INT NOT NULL DEFAULT 0)"
            ),
            format!("CREATE UNIQUE INDEX {TABLE}_version_idx ON {table} (version)"),
            format!("CREATE INDEX {TABLE}_version_self_idx ON {table} (version_self)"),
        ]
    }

    fn select(&self, _kind: EngineKind, e: &dyn MigrateEngine, table: &str) -> String {
        format!(
            "SELECT {v}, {v}, NULL, NULL, 'applied', NULL FROM {table} ORDER BY version",
            v = e.text("version")
        )
    }

    fn key(&self, f: &MigFile) -> String {
        // popx's `^(\d+)_…`: the digits before the first `_`, as written (dbmate's key too)
        super::dbmate::Dbmate.key(f)
    }

    fn record(
        &self,
        _kind: EngineKind,
        e: &dyn MigrateEngine,
        table: &str,
        f: &MigFile,
        _ms: u64,
    ) -> Vec<String> {
        vec![format!(
            "INSERT INTO {table} (version) VALUES ({})",
            e.str_lit(&self.key(f))
        )]
    }

    fn lock(&self, _kind: EngineKind, _database: &str, _schema: &str) -> Option<LockKey> {
        None
    }

    fn repair(&self, entry: &Entry) -> String {
        super::no_failed_state("pop", entry)
    }

    fn out_of_order(&self) -> OutOfOrder {
        OutOfOrder::Runs
    }

    fn checksum_doc(&self) -> &'static str {
        "none"
    }

    fn mark_doc(&self) -> &'static str {
        "none"
    }
}

/// As popx's `Status`: a legacy row (the first 14 digits of a longer version, and no row with
/// the whole version) stands for the file with that version.
pub(super) fn compare(spec: &dyn ToolSpec, files: &[MigFile], h: &History) -> Vec<Line> {
    let keys: Vec<String> = files.iter().map(|f| spec.key(f)).collect();
    let mut h = h.clone();
    let recorded: std::collections::HashSet<String> =
        h.entries.iter().map(|e| e.key.clone()).collect();
    for e in &mut h.entries {
        if e.key.len() != LEGACY {
            continue;
        }
        if let Some(k) = keys
            .iter()
            .find(|k| k.len() > LEGACY && k.starts_with(&e.key) && !recorded.contains(*k))
        {
            e.key = k.clone();
        }
    }
    super::compare_by_key(spec, files, &h)
}
