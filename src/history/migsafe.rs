//! migsafe's own history table, for plain folders of SQL files that no migration tool owns:
//! `migsafe_schema_history (version, description, script, checksum, installed_on,
//! execution_ms, success)`. The key (in `version`) is the file's path below the folder of the
//! run (`003_users.sql`, `v1.1/schema.sql`); the
//! checksum is migsafe's (SHA-256 of the text with the BOM removed and line endings
//! normalised); a row with `success = false` is a migration that did not finish, ended by
//! `migsafe recover`.

use super::{Entry, MigFile, OutOfOrder, Tool, ToolSpec};
use crate::engines::EngineKind;
use crate::engines::migrate::{LockKey, MigrateEngine};

pub struct Migsafe;

/// The file's path below the folder of the run: versions of plain files are not unique (a
/// `schema.sql` in every version folder of a tree), their paths are.
fn key(f: &MigFile) -> String {
    f.rel.clone()
}

impl ToolSpec for Migsafe {
    fn tool(&self) -> Tool {
        Tool::Migsafe
    }

    fn table(&self, _kind: EngineKind) -> (Option<&'static str>, &'static str) {
        (None, "migsafe_schema_history")
    }

    fn create(&self, kind: EngineKind, _e: &dyn MigrateEngine, table: &str) -> Vec<String> {
        let (ts, now) = match kind {
            EngineKind::Postgres => ("TIMESTAMPTZ", "now()"),
            EngineKind::Mysql => ("TIMESTAMP", "CURRENT_TIMESTAMP"),
            EngineKind::Sqlite => ("TEXT", "CURRENT_TIMESTAMP"),
        };
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {table} (version VARCHAR(255) NOT NULL PRIMARY KEY, description VARCHAR(255) NOT NULL, script VARCHAR(1000) NOT NULL, checksum VARCHAR(64) NOT NULL, installed_on {ts} NOT NULL DEFAULT {now}, execution_ms BIGINT NOT NULL, success BOOLEAN NOT NULL)"
        )]
    }

    fn select(&self, _kind: EngineKind, e: &dyn MigrateEngine, table: &str) -> String {
        format!(
            "SELECT version, version, description, checksum, CASE WHEN {s} = 1 THEN 'applied' ELSE 'failed' END, {t} FROM {table} ORDER BY installed_on, version",
            s = e.truthy("success"),
            t = e.text("installed_on")
        )
    }

    fn key(&self, f: &MigFile) -> String {
        key(f)
    }

    fn checksum(&self, f: &MigFile) -> Option<String> {
        Some(f.m.checksum.clone())
    }

    fn record(
        &self,
        _kind: EngineKind,
        e: &dyn MigrateEngine,
        table: &str,
        f: &MigFile,
        elapsed_ms: u64,
    ) -> Vec<String> {
        let k = e.str_lit(&key(f));
        vec![
            format!("DELETE FROM {table} WHERE version = {k}"),
            format!(
                "INSERT INTO {table} (version, description, script, checksum, execution_ms, success) VALUES ({k}, {}, {}, {}, {elapsed_ms}, {})",
                e.str_lit(&f.m.description),
                e.str_lit(&f.file_name),
                e.str_lit(&f.m.checksum),
                e.bool_lit(true)
            ),
        ]
    }

    fn start(
        &self,
        kind: EngineKind,
        e: &dyn MigrateEngine,
        table: &str,
        f: &MigFile,
    ) -> Vec<String> {
        let mut v = self.record(kind, e, table, f, 0);
        if let Some(last) = v.last_mut() {
            *last = last.replace(
                &format!(", 0, {})", e.bool_lit(true)),
                &format!(", 0, {})", e.bool_lit(false)),
            );
        }
        v.remove(0);
        v
    }

    fn unstart(
        &self,
        _kind: EngineKind,
        e: &dyn MigrateEngine,
        table: &str,
        f: &MigFile,
    ) -> Vec<String> {
        vec![format!(
            "DELETE FROM {table} WHERE version = {} AND success = {}",
            e.str_lit(&key(f)),
            e.bool_lit(false)
        )]
    }

    fn lock(&self, _kind: EngineKind, _database: &str, _schema: &str) -> Option<LockKey> {
        None
    }

    fn repair(&self, entry: &Entry) -> String {
        format!(
            "migration {} did not finish: `migsafe recover` ends it from the journal (on the machine that ran it), or finish it by hand and delete its row from migsafe_schema_history",
            entry.version
        )
    }

    fn out_of_order(&self) -> OutOfOrder {
        OutOfOrder::Runs
    }

    fn checksum_doc(&self) -> &'static str {
        "SHA-256 of the text, BOM removed and line endings normalised (hex)"
    }

    fn mark_doc(&self) -> &'static str {
        "a row with `success = false`"
    }
}
