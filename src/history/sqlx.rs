//! sqlx (`sqlx migrate run`, `sqlx::migrate!`): `_sqlx_migrations`, from sqlx 0.8/0.9
//! `sqlx-{postgres,mysql,sqlite}/src/migrate.rs` and `sqlx-core/src/migrate/{migration,source}.rs`.
//!
//! - Table (the same on the three engines but for the timestamp and binary types):
//!   `version BIGINT PRIMARY KEY, description TEXT NOT NULL, installed_on TIMESTAMPTZ|TIMESTAMP
//!   NOT NULL DEFAULT now()|CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, checksum BYTEA|BLOB NOT
//!   NULL, execution_time BIGINT NOT NULL` (nanoseconds).
//! - Checksum: SHA-384 of the file as read, less the `[migrate] ignored-chars` of the project's
//!   `sqlx.toml` (sqlx 0.9: `source.rs` `checksum_with`) when it lists any. Description: the file name after the first `_`,
//!   without `.sql`/`.up.sql`, `_` as spaces.
//! - Dirty: a row with `success = false` (sqlx on MySQL inserts it before running the file, as
//!   DDL commits implicitly); sqlx stops with "migration N is partially applied; fix and remove
//!   row from `_sqlx_migrations` table". sqlx has no repair command.
//! - Lock: `pg_advisory_lock(0x3d32ad9e * crc32(current_database()))`; MySQL
//!   `GET_LOCK(hex of the same, -1)`; none on SQLite.
//! - Out of order: sqlx applies every version it has not recorded, in version order.

use super::checksum::{hex, sqlx as sha384, sqlx_lock_id};
use super::{Entry, HistoryError, MigFile, OutOfOrder, Tool, ToolSpec};
use crate::engines::EngineKind;
use crate::engines::migrate::{LockKey, MigrateEngine};
use std::path::Path;

pub struct Sqlx;

/// `[migrate] ignored-chars` of the `sqlx.toml` that governs `file`: sqlx reads it from the crate
/// root (`sqlx::migrate!`) or the working directory (`sqlx-cli`); migsafe takes the nearest one
/// in the folders above the migration, up to the crate root (a folder with `Cargo.toml`) or the
/// repository root (`.git`).
pub(super) fn ignored_chars(file: &Path) -> Result<Vec<char>, HistoryError> {
    let Some(dir) = file.parent() else {
        return Ok(Vec::new());
    };
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    for d in dir.ancestors() {
        let cfg = d.join("sqlx.toml");
        if cfg.is_file() {
            let bad = |message: String| HistoryError::File {
                path: cfg.display().to_string(),
                message,
            };
            let text = std::fs::read_to_string(&cfg).map_err(|e| bad(e.to_string()))?;
            let v: toml::Table = text
                .parse()
                .map_err(|e| bad(format!("not valid TOML: {e}")))?;
            let Some(list) = v.get("migrate").and_then(|m| m.get("ignored-chars")) else {
                return Ok(Vec::new());
            };
            let list = list.as_array().ok_or_else(|| {
                bad("[migrate] ignored-chars must be a list of one-character strings".into())
            })?;
            return list
                .iter()
                .map(|c| {
                    let s = c.as_str().unwrap_or_default();
                    let mut it = s.chars();
                    match (it.next(), it.next()) {
                        (Some(ch), None) => Ok(ch),
                        _ => Err(bad(format!(
                            "[migrate] ignored-chars: {c} is not a one-character string"
                        ))),
                    }
                })
                .collect();
        }
        if d.join("Cargo.toml").is_file() || d.join(".git").exists() {
            break;
        }
    }
    Ok(Vec::new())
}

/// The checksum sqlx records for `f`.
fn digest(f: &MigFile) -> Vec<u8> {
    if f.sqlx_ignored.is_empty() {
        return sha384(&f.raw);
    }
    let text: String = String::from_utf8_lossy(&f.raw)
        .chars()
        .filter(|c| !f.sqlx_ignored.contains(c))
        .collect();
    sha384(text.as_bytes())
}

fn description(f: &MigFile) -> String {
    let name = f.file_name.split_once('_').map(|(_, d)| d).unwrap_or("");
    let d = name
        .strip_suffix(".up.sql")
        .or_else(|| name.strip_suffix(".down.sql"))
        .or_else(|| name.strip_suffix(".sql"))
        .unwrap_or(name);
    d.replace('_', " ")
}

fn version(f: &MigFile) -> String {
    f.file_name
        .split_once('_')
        .map(|(v, _)| v)
        .and_then(|v| v.parse::<i64>().ok())
        .map(|v| v.to_string())
        .unwrap_or_else(|| super::norm(&f.m.version))
}

impl ToolSpec for Sqlx {
    fn tool(&self) -> Tool {
        Tool::Sqlx
    }

    fn table(&self, _kind: EngineKind) -> (Option<&'static str>, &'static str) {
        (None, "_sqlx_migrations")
    }

    fn create(&self, kind: EngineKind, _e: &dyn MigrateEngine, table: &str) -> Vec<String> {
        let (ts, now, bin) = match kind {
            EngineKind::Postgres => ("TIMESTAMPTZ", "now()", "BYTEA"),
            _ => ("TIMESTAMP", "CURRENT_TIMESTAMP", "BLOB"),
        };
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {table} (\n    version BIGINT PRIMARY KEY,\n    description TEXT NOT NULL,\n    installed_on {ts} NOT NULL DEFAULT {now},\n    success BOOLEAN NOT NULL,\n    checksum {bin} NOT NULL,\n    execution_time BIGINT NOT NULL\n)"
        )]
    }

    fn select(&self, _kind: EngineKind, e: &dyn MigrateEngine, table: &str) -> String {
        format!(
            "SELECT {v}, {v}, description, {h}, CASE WHEN {s} = 1 THEN 'applied' ELSE 'failed' END, {t} FROM {table} ORDER BY version",
            v = e.text("version"),
            h = e.hex("checksum"),
            s = e.truthy("success"),
            t = e.text("installed_on"),
        )
    }

    fn key(&self, f: &MigFile) -> String {
        version(f)
    }

    fn checksum(&self, f: &MigFile) -> Option<String> {
        Some(hex(&digest(f)))
    }

    fn record(
        &self,
        _kind: EngineKind,
        e: &dyn MigrateEngine,
        table: &str,
        f: &MigFile,
        elapsed_ms: u64,
    ) -> Vec<String> {
        let v = version(f);
        vec![
            format!(
                "DELETE FROM {table} WHERE version = {v} AND success = {}",
                e.bool_lit(false)
            ),
            format!(
                "INSERT INTO {table} (version, description, success, checksum, execution_time) VALUES ({v}, {}, {}, {}, {})",
                e.str_lit(&description(f)),
                e.bool_lit(true),
                e.bytes_lit(&digest(f)),
                elapsed_ms.saturating_mul(1_000_000)
            ),
        ]
    }

    fn start(
        &self,
        _kind: EngineKind,
        e: &dyn MigrateEngine,
        table: &str,
        f: &MigFile,
    ) -> Vec<String> {
        vec![format!(
            "INSERT INTO {table} (version, description, success, checksum, execution_time) VALUES ({}, {}, {}, {}, -1)",
            version(f),
            e.str_lit(&description(f)),
            e.bool_lit(false),
            e.bytes_lit(&digest(f)),
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
            "DELETE FROM {table} WHERE version = {} AND success = {}",
            version(f),
            e.bool_lit(false)
        )]
    }

    fn lock(&self, kind: EngineKind, database: &str, _schema: &str) -> Option<LockKey> {
        match kind {
            EngineKind::Postgres => Some(LockKey::Advisory(sqlx_lock_id(database))),
            EngineKind::Mysql => Some(LockKey::Named(format!("{:x}", sqlx_lock_id(database)))),
            EngineKind::Sqlite => None,
        }
    }

    fn repair(&self, entry: &Entry) -> String {
        format!(
            "sqlx stops at \"migration {v} is partially applied\": finish or undo its statements by hand, then remove its row: DELETE FROM _sqlx_migrations WHERE version = {v} (sqlx has no repair command; `migsafe recover` does this when migsafe applied it)",
            v = entry.version
        )
    }

    fn out_of_order(&self) -> OutOfOrder {
        OutOfOrder::Runs
    }

    fn checksum_doc(&self) -> &'static str {
        "SHA-384 of the file as read (bytes), less the `ignored-chars` of `sqlx.toml`"
    }

    fn mark_doc(&self) -> &'static str {
        "a row with `success = false` (MySQL: inserted before the file runs)"
    }
}
