//! Diesel (`diesel migration run`): `__diesel_schema_migrations`, from diesel 2
//! `diesel/src/migration/setup_migration_table.sql`, `diesel_migrations/src/migration_harness.rs`
//! and `migrations_internals` (`version_from_string`).
//!
//! - Table: `version VARCHAR(50) PRIMARY KEY NOT NULL, run_on TIMESTAMP NOT NULL DEFAULT
//!   CURRENT_TIMESTAMP` on every engine.
//! - Version: the folder name up to the first `_`, dashes removed (`2024-01-15-093000_x` →
//!   `20240115093000`); inserted in the migration's transaction (`run_in_transaction = false`
//!   in `metadata.toml` runs without one). No checksums, no dirty state, no lock.
//! - Out of order: Diesel runs every version it has not recorded.

use super::{Entry, MigFile, OutOfOrder, Tool, ToolSpec};
use crate::engines::EngineKind;
use crate::engines::migrate::{LockKey, MigrateEngine};

pub struct Diesel;

impl ToolSpec for Diesel {
    fn tool(&self) -> Tool {
        Tool::Diesel
    }

    fn table(&self, _kind: EngineKind) -> (Option<&'static str>, &'static str) {
        (None, "__diesel_schema_migrations")
    }

    fn create(&self, _kind: EngineKind, _e: &dyn MigrateEngine, table: &str) -> Vec<String> {
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {table} (\n       version VARCHAR(50) PRIMARY KEY NOT NULL,\n       run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP\n)"
        )]
    }

    fn select(&self, _kind: EngineKind, e: &dyn MigrateEngine, table: &str) -> String {
        format!(
            "SELECT {v}, {v}, NULL, NULL, 'applied', {t} FROM {table} ORDER BY version",
            v = e.text("version"),
            t = e.text("run_on")
        )
    }

    fn key(&self, f: &MigFile) -> String {
        f.folder.split('_').next().unwrap_or("").replace('-', "")
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
        super::no_failed_state("Diesel", entry)
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
