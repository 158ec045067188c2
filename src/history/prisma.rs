//! Prisma Migrate (`prisma migrate deploy`): `_prisma_migrations`, from prisma-engines
//! `schema-engine/connectors/sql-schema-connector/src/flavour/{postgres,mysql,sqlite}.rs`,
//! `sql_migration_persistence.rs` and `schema-connector/src/checksum.rs`.
//!
//! - Table: `id VARCHAR(36)` (a UUID v4), `checksum VARCHAR(64)`, `finished_at`, `migration_name
//!   VARCHAR(255)`, `logs TEXT`, `rolled_back_at`, `started_at … DEFAULT now()`,
//!   `applied_steps_count INTEGER [UNSIGNED] NOT NULL DEFAULT 0`; timestamps are `TIMESTAMPTZ`
//!   (PostgreSQL), `DATETIME(3)` (MySQL, `utf8mb4_unicode_ci`), `DATETIME` holding Unix
//!   milliseconds (SQLite).
//! - A migration is the folder name; the checksum is SHA-256 of `migration.sql` (line-ending
//!   agnostic when compared).
//! - Prisma inserts the row when it starts a migration and sets `finished_at` when it is done:
//!   a row with neither `finished_at` nor `rolled_back_at` is a failed migration and `migrate
//!   deploy` stops with P3009; the repair is `prisma migrate resolve --rolled-back <name>` (after
//!   undoing it) or `--applied <name>` (after finishing it by hand).
//! - Lock: `pg_advisory_lock(72707369)`; MySQL `GET_LOCK('prisma_migrate', 10)`; none on SQLite.

use super::checksum::{prisma_matches, sha256_hex, uuid_v4};
use super::{Entry, MigFile, OutOfOrder, Tool, ToolSpec};
use crate::engines::EngineKind;
use crate::engines::migrate::{LockKey, MigrateEngine};

pub struct Prisma;

fn now(kind: EngineKind) -> &'static str {
    match kind {
        EngineKind::Postgres => "now()",
        EngineKind::Mysql => "CURRENT_TIMESTAMP(3)",
        // Prisma stores SQLite DateTime values as Unix milliseconds
        EngineKind::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
    }
}

impl ToolSpec for Prisma {
    fn tool(&self) -> Tool {
        Tool::Prisma
    }

    fn table(&self, _kind: EngineKind) -> (Option<&'static str>, &'static str) {
        (None, "_prisma_migrations")
    }

    fn create(&self, kind: EngineKind, _e: &dyn MigrateEngine, _table: &str) -> Vec<String> {
        vec![match kind {
            EngineKind::Postgres => "CREATE TABLE _prisma_migrations (\n    id                      VARCHAR(36) PRIMARY KEY NOT NULL,\n    checksum                VARCHAR(64) NOT NULL,\n    finished_at             TIMESTAMPTZ,\n    migration_name          VARCHAR(255) NOT NULL,\n    logs                    TEXT,\n    rolled_back_at          TIMESTAMPTZ,\n    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),\n    applied_steps_count     INTEGER NOT NULL DEFAULT 0\n);\n".to_string(),
            EngineKind::Mysql => "CREATE TABLE _prisma_migrations (\n    id                      VARCHAR(36) PRIMARY KEY NOT NULL,\n    checksum                VARCHAR(64) NOT NULL,\n    finished_at             DATETIME(3),\n    migration_name          VARCHAR(255) NOT NULL,\n    logs                    TEXT,\n    rolled_back_at          DATETIME(3),\n    started_at              DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),\n    applied_steps_count     INTEGER UNSIGNED NOT NULL DEFAULT 0\n) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n".to_string(),
            EngineKind::Sqlite => "CREATE TABLE \"_prisma_migrations\" (\n    \"id\"                    TEXT PRIMARY KEY NOT NULL,\n    \"checksum\"              TEXT NOT NULL,\n    \"finished_at\"           DATETIME,\n    \"migration_name\"        TEXT NOT NULL,\n    \"logs\"                  TEXT,\n    \"rolled_back_at\"        DATETIME,\n    \"started_at\"            DATETIME NOT NULL DEFAULT current_timestamp,\n    \"applied_steps_count\"   INTEGER UNSIGNED NOT NULL DEFAULT 0\n);\n".to_string(),
        }]
    }

    fn select(&self, _kind: EngineKind, e: &dyn MigrateEngine, table: &str) -> String {
        format!(
            "SELECT migration_name, migration_name, NULL, checksum, \
                    CASE WHEN rolled_back_at IS NOT NULL THEN 'rolled-back' WHEN finished_at IS NULL THEN 'failed' ELSE 'applied' END, \
                    {t} FROM {table} ORDER BY started_at",
            t = e.text("started_at")
        )
    }

    fn key(&self, f: &MigFile) -> String {
        f.folder.clone()
    }

    fn checksum(&self, f: &MigFile) -> Option<String> {
        Some(sha256_hex(&f.raw))
    }

    fn matches(&self, f: &MigFile, recorded: &str) -> bool {
        prisma_matches(&f.raw, recorded)
    }

    fn record(
        &self,
        kind: EngineKind,
        e: &dyn MigrateEngine,
        table: &str,
        f: &MigFile,
        _ms: u64,
    ) -> Vec<String> {
        let name = e.str_lit(&f.folder);
        vec![
            format!(
                "DELETE FROM {table} WHERE migration_name = {name} AND finished_at IS NULL AND rolled_back_at IS NULL"
            ),
            format!(
                "INSERT INTO {table} (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES ({}, {}, {n}, {name}, NULL, NULL, {n}, 1)",
                e.str_lit(&uuid_v4()),
                e.str_lit(&sha256_hex(&f.raw)),
                n = now(kind),
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
        vec![format!(
            "INSERT INTO {table} (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES ({}, {}, NULL, {}, NULL, NULL, {}, 0)",
            e.str_lit(&uuid_v4()),
            e.str_lit(&sha256_hex(&f.raw)),
            e.str_lit(&f.folder),
            now(kind),
        )]
    }

    fn unstart(
        &self,
        _kind: EngineKind,
        e: &dyn MigrateEngine,
        table: &str,
        f: &MigFile,
    ) -> Vec<String> {
        vec![format!(
            "DELETE FROM {table} WHERE migration_name = {} AND finished_at IS NULL AND rolled_back_at IS NULL",
            e.str_lit(&f.folder)
        )]
    }

    fn lock(&self, kind: EngineKind, _database: &str, _schema: &str) -> Option<LockKey> {
        match kind {
            EngineKind::Postgres => Some(LockKey::Advisory(72_707_369)),
            EngineKind::Mysql => Some(LockKey::Named("prisma_migrate".into())),
            EngineKind::Sqlite => None,
        }
    }

    fn repair(&self, entry: &Entry) -> String {
        format!(
            "Prisma stops with P3009 (migration {n} failed): undo what it did and run `prisma migrate resolve --rolled-back {n}`, or finish it by hand and run `prisma migrate resolve --applied {n}`",
            n = entry.key
        )
    }

    fn out_of_order(&self) -> OutOfOrder {
        OutOfOrder::Runs
    }

    fn checksum_doc(&self) -> &'static str {
        "SHA-256 of `migration.sql` (hex), line-ending agnostic"
    }

    fn mark_doc(&self) -> &'static str {
        "a row with neither `finished_at` nor `rolled_back_at`"
    }
}
