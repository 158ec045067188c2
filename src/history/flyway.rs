//! Flyway (`flyway migrate`): `flyway_schema_history`, from Flyway 10/11
//! `PostgreSQLDatabase.getRawCreateScript`, `MySQLDatabase`, `SQLiteDatabase`,
//! `resolver/ChecksumCalculator.java`, `PostgreSQLAdvisoryLockTemplate`, `MySQLNamedLockTemplate`.
//!
//! - Table: `installed_rank INT NOT NULL` (primary key), `version VARCHAR(50)`, `description
//!   VARCHAR(200) NOT NULL`, `type VARCHAR(20) NOT NULL`, `script VARCHAR(1000) NOT NULL`,
//!   `checksum INT[EGER]`, `installed_by VARCHAR(100) NOT NULL`, `installed_on TIMESTAMP NOT NULL
//!   DEFAULT now()` (SQLite: `TEXT … strftime(…)`), `execution_time INT[EGER] NOT NULL` (ms),
//!   `success BOOL[EAN] NOT NULL`, and an index on `success`.
//! - Checksum: CRC-32 over the lines (see `checksum::flyway`), a signed int.
//! - Versions compare numerically by part (`1.01` = `1.1`, `1.0` = `1`); repeatable migrations
//!   (`R__x.sql`) have no version and are applied again when their checksum changes; a
//!   `BASELINE` row makes everything up to its version count as applied.
//! - Failed: a row with `success = false` (written when a migration fails where DDL is not
//!   transactional); `flyway repair` removes failed rows and realigns checksums.
//! - Lock: PostgreSQL `pg_advisory_lock(0x466C79776179 + "\"schema\".\"flyway_schema_history\"".hashCode())`;
//!   MySQL `GET_LOCK('Flyway-' + "`db`.`flyway_schema_history`".hashCode(), 10)`.
//! - Out of order: refused by `validate` unless `outOfOrder=true`.

use super::checksum::{flyway as crc, flyway_pg_lock, java_hash};
use super::{Entry, MigFile, OutOfOrder, Tool, ToolSpec};
use crate::engines::EngineKind;
use crate::engines::migrate::{LockKey, MigrateEngine};

pub struct Flyway;

/// Flyway's version equality: numeric parts, trailing zero parts dropped.
pub fn norm_version(v: &str) -> String {
    let mut parts: Vec<String> = v
        .split(['.', '_'])
        .map(|p| {
            let t = p.trim_start_matches('0');
            if t.is_empty() {
                "0".to_string()
            } else {
                t.to_string()
            }
        })
        .collect();
    while parts.len() > 1 && parts.last().is_some_and(|p| p == "0") {
        parts.pop();
    }
    parts.join(".")
}

pub(super) fn is_repeatable(f: &MigFile) -> bool {
    f.m.layout == crate::migrations::Layout::Flyway && f.file_name.starts_with("R__")
}

/// Whether versioned key `key` is at or below baseline key `baseline`.
pub(super) fn below_baseline(key: &str, baseline: &str) -> bool {
    if key.starts_with("R__") {
        return false;
    }
    let parse = |s: &str| -> Vec<u128> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let (a, b) = (parse(key), parse(baseline));
    let n = a.len().max(b.len());
    for i in 0..n {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x < y;
        }
    }
    true
}

fn description(f: &MigFile) -> String {
    let stem = f.file_name.strip_suffix(".sql").unwrap_or(&f.file_name);
    stem.split_once("__")
        .map(|(_, d)| d)
        .unwrap_or(stem)
        .replace('_', " ")
}

impl ToolSpec for Flyway {
    fn tool(&self) -> Tool {
        Tool::Flyway
    }

    fn table(&self, _kind: EngineKind) -> (Option<&'static str>, &'static str) {
        (None, "flyway_schema_history")
    }

    fn create(&self, kind: EngineKind, e: &dyn MigrateEngine, table: &str) -> Vec<String> {
        let idx = e.ident("flyway_schema_history_s_idx");
        match kind {
            EngineKind::Postgres => vec![
                format!(
                    "CREATE TABLE {table} (\n    \"installed_rank\" INT NOT NULL,\n    \"version\" VARCHAR(50),\n    \"description\" VARCHAR(200) NOT NULL,\n    \"type\" VARCHAR(20) NOT NULL,\n    \"script\" VARCHAR(1000) NOT NULL,\n    \"checksum\" INTEGER,\n    \"installed_by\" VARCHAR(100) NOT NULL,\n    \"installed_on\" TIMESTAMP NOT NULL DEFAULT now(),\n    \"execution_time\" INTEGER NOT NULL,\n    \"success\" BOOLEAN NOT NULL\n)"
                ),
                format!(
                    "ALTER TABLE {table} ADD CONSTRAINT \"flyway_schema_history_pk\" PRIMARY KEY (\"installed_rank\")"
                ),
                format!("CREATE INDEX {idx} ON {table} (\"success\")"),
            ],
            EngineKind::Mysql => vec![
                format!(
                    "CREATE TABLE {table} (\n    `installed_rank` INT NOT NULL,\n    `version` VARCHAR(50),\n    `description` VARCHAR(200) NOT NULL,\n    `type` VARCHAR(20) NOT NULL,\n    `script` VARCHAR(1000) NOT NULL,\n    `checksum` INT,\n    `installed_by` VARCHAR(100) NOT NULL,\n    `installed_on` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,\n    `execution_time` INT NOT NULL,\n    `success` BOOL NOT NULL,\n    CONSTRAINT `flyway_schema_history_pk` PRIMARY KEY (`installed_rank`)\n)"
                ),
                format!("CREATE INDEX {idx} ON {table} (`success`)"),
            ],
            EngineKind::Sqlite => vec![
                format!(
                    "CREATE TABLE {table} (\n    \"installed_rank\" INT NOT NULL PRIMARY KEY,\n    \"version\" VARCHAR(50),\n    \"description\" VARCHAR(200) NOT NULL,\n    \"type\" VARCHAR(20) NOT NULL,\n    \"script\" VARCHAR(1000) NOT NULL,\n    \"checksum\" INT,\n    \"installed_by\" VARCHAR(100) NOT NULL,\n    \"installed_on\" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f','now')),\n    \"execution_time\" INT NOT NULL,\n    \"success\" BOOLEAN NOT NULL\n)"
                ),
                format!("CREATE INDEX \"main\".{idx} ON \"flyway_schema_history\" (\"success\")"),
            ],
        }
    }

    fn select(&self, _kind: EngineKind, e: &dyn MigrateEngine, table: &str) -> String {
        format!(
            "SELECT COALESCE({v}, ''), COALESCE({v}, ''), description, {c}, \
                    CASE WHEN type = 'BASELINE' THEN 'baseline' \
                         WHEN type IN ('DELETE', 'UNDO_SQL', 'UNDO_JDBC', 'UNDO_SCRIPT') THEN 'rolled-back' \
                         WHEN type = 'SCHEMA' OR type = 'TABLE' THEN 'skip' \
                         WHEN {s} = 1 THEN 'applied' ELSE 'failed' END, \
                    {t} \
             FROM {table} ORDER BY installed_rank",
            v = e.text("version"),
            c = e.text("checksum"),
            s = e.truthy("success"),
            t = e.text("installed_on"),
        )
    }

    fn fold(&self, rows: Vec<Entry>) -> Vec<Entry> {
        rows.into_iter()
            .map(|mut r| {
                r.key = if r.key.is_empty() {
                    format!("R__{}", r.description.clone().unwrap_or_default())
                } else {
                    norm_version(&r.key)
                };
                r
            })
            .collect()
    }

    fn key(&self, f: &MigFile) -> String {
        if is_repeatable(f) {
            format!("R__{}", description(f))
        } else {
            norm_version(&f.m.version)
        }
    }

    fn checksum(&self, f: &MigFile) -> Option<String> {
        Some(crc(&f.raw).to_string())
    }

    fn record(
        &self,
        kind: EngineKind,
        e: &dyn MigrateEngine,
        table: &str,
        f: &MigFile,
        elapsed_ms: u64,
    ) -> Vec<String> {
        let (version, failed_match) = if is_repeatable(f) {
            (
                "NULL".to_string(),
                format!(
                    "version IS NULL AND description = {}",
                    e.str_lit(&description(f))
                ),
            )
        } else {
            let v = e.str_lit(&f.m.version);
            (v.clone(), format!("version = {v}"))
        };
        let user = match kind {
            EngineKind::Postgres => "current_user".to_string(),
            EngineKind::Mysql => "SUBSTRING_INDEX(USER(),'@',1)".to_string(),
            EngineKind::Sqlite => "''".to_string(),
        };
        vec![
            format!(
                "DELETE FROM {table} WHERE {failed_match} AND success = {}",
                e.bool_lit(false)
            ),
            format!(
                "INSERT INTO {table} (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) \
                 SELECT COALESCE(MAX(installed_rank), 0) + 1, {version}, {}, 'SQL', {}, {}, {user}, {}, {} FROM {table}",
                e.str_lit(&description(f)),
                e.str_lit(&f.file_name),
                crc(&f.raw),
                elapsed_ms.min(i32::MAX as u64),
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
        // what Flyway itself leaves when a migration fails where DDL commits on its own
        let mut v = self.record(kind, e, table, f, 0);
        if let Some(last) = v.last_mut() {
            *last = last.replace(
                &format!(", {} FROM", e.bool_lit(true)),
                &format!(", {} FROM", e.bool_lit(false)),
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
        let m = if is_repeatable(f) {
            format!(
                "version IS NULL AND description = {}",
                e.str_lit(&description(f))
            )
        } else {
            format!("version = {}", e.str_lit(&f.m.version))
        };
        vec![format!(
            "DELETE FROM {table} WHERE {m} AND success = {}",
            e.bool_lit(false)
        )]
    }

    fn lock(&self, kind: EngineKind, database: &str, schema: &str) -> Option<LockKey> {
        match kind {
            EngineKind::Postgres => Some(LockKey::Advisory(flyway_pg_lock(&format!(
                "\"{schema}\".\"flyway_schema_history\""
            )))),
            EngineKind::Mysql => Some(LockKey::Named(format!(
                "Flyway-{}",
                java_hash(&format!("`{database}`.`flyway_schema_history`"))
            ))),
            EngineKind::Sqlite => None,
        }
    }

    fn repair(&self, entry: &Entry) -> String {
        format!(
            "Flyway refuses to migrate past the failed migration {}: undo what it did by hand, then `flyway repair` (removes the failed row) and migrate again",
            entry.version
        )
    }

    fn out_of_order(&self) -> OutOfOrder {
        OutOfOrder::Refuses
    }

    fn checksum_doc(&self) -> &'static str {
        "CRC-32 over the lines, without line terminators (signed int)"
    }

    fn mark_doc(&self) -> &'static str {
        "a row with `success = false`"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_like_flyway() {
        assert_eq!(norm_version("1.01"), norm_version("1.1"));
        assert_eq!(norm_version("1.0"), "1");
        assert_eq!(norm_version("2_1"), "2.1");
        assert!(below_baseline("1.1", "2"));
        assert!(below_baseline("2", "2.0"));
        assert!(!below_baseline("2.1", "2"));
    }
}
