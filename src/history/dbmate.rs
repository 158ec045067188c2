//! dbmate (`dbmate up`/`migrate`): `schema_migrations`, from dbmate v2
//! `pkg/driver/{postgres,mysql,sqlite}/*.go` and `pkg/dbmate/db.go`.
//!
//! - Table: PostgreSQL `create table if not exists <schema>.schema_migrations (version varchar
//!   primary key)`; MySQL and SQLite `(version varchar(128) primary key)`.
//! - A row per applied version, the version string exactly as in the file name, inserted in the
//!   migration's transaction (`-- migrate:up transaction:false` runs without one). No
//!   checksums, no dirty state, no lock.
//! - Out of order: dbmate applies every unapplied file in order (unless `--strict`).

use super::{Entry, MigFile, OutOfOrder, Tool, ToolSpec};
use crate::engines::EngineKind;
use crate::engines::migrate::{LockKey, MigrateEngine};

pub struct Dbmate;

impl ToolSpec for Dbmate {
    fn tool(&self) -> Tool {
        Tool::Dbmate
    }

    fn table(&self, _kind: EngineKind) -> (Option<&'static str>, &'static str) {
        (None, "schema_migrations")
    }

    fn create(&self, kind: EngineKind, _e: &dyn MigrateEngine, table: &str) -> Vec<String> {
        let ty = if kind == EngineKind::Postgres {
            "varchar"
        } else {
            "varchar(128)"
        };
        vec![format!(
            "create table if not exists {table} (version {ty} primary key)"
        )]
    }

    fn select(&self, _kind: EngineKind, e: &dyn MigrateEngine, table: &str) -> String {
        format!(
            "SELECT {v}, {v}, NULL, NULL, 'applied', NULL FROM {table} ORDER BY version",
            v = e.text("version")
        )
    }

    fn key(&self, f: &MigFile) -> String {
        // dbmate stores the digits before the first `_` exactly as written
        f.file_name
            .split_once('_')
            .map(|(v, _)| v.to_string())
            .unwrap_or_else(|| f.m.version.clone())
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
            "insert into {table} (version) values ({})",
            e.str_lit(&self.key(f))
        )]
    }

    fn lock(&self, _kind: EngineKind, _database: &str, _schema: &str) -> Option<LockKey> {
        None
    }

    fn repair(&self, entry: &Entry) -> String {
        super::no_failed_state("dbmate", entry)
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
