//! Drizzle (`drizzle-kit migrate`, `migrate()` of drizzle-orm): `__drizzle_migrations`, from
//! drizzle-orm `src/migrator.ts` and `src/{pg,mysql,sqlite}-core/dialect.ts`.
//!
//! - Table: PostgreSQL `"drizzle"."__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT
//!   NULL, created_at bigint)` (schema created first); MySQL `(id serial primary key, hash text
//!   not null, created_at bigint)`; SQLite `(id SERIAL PRIMARY KEY, hash text NOT NULL,
//!   created_at numeric)`.
//! - A row per migration: `hash` = SHA-256 hex of the file, `created_at` = the `when` of its
//!   entry in `meta/_journal.json`. Drizzle applies exactly the migrations whose `when` is later
//!   than the newest `created_at`, all in one transaction; an older one is never applied. No
//!   dirty state, no lock.

use super::checksum::sha256_hex;
use super::{Entry, History, Line, MigFile, OutOfOrder, State, Tool, ToolSpec};
use crate::engines::EngineKind;
use crate::engines::migrate::{LockKey, MigrateEngine};
use std::path::Path;

pub struct Drizzle;

/// `when` of the journal entry whose tag is the file's stem.
pub(super) fn journal_when(file: &Path) -> Option<i64> {
    let dir = file.parent()?;
    let stem = file.file_stem()?.to_string_lossy().into_owned();
    let text = std::fs::read_to_string(dir.join("meta").join("_journal.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("entries")?
        .as_array()?
        .iter()
        .find(|e| e.get("tag").and_then(|t| t.as_str()) == Some(stem.as_str()))?
        .get("when")?
        .as_i64()
}

impl ToolSpec for Drizzle {
    fn tool(&self) -> Tool {
        Tool::Drizzle
    }

    fn table(&self, kind: EngineKind) -> (Option<&'static str>, &'static str) {
        match kind {
            EngineKind::Postgres => (Some("drizzle"), "__drizzle_migrations"),
            _ => (None, "__drizzle_migrations"),
        }
    }

    fn create(&self, kind: EngineKind, e: &dyn MigrateEngine, table: &str) -> Vec<String> {
        match kind {
            EngineKind::Postgres => vec![
                format!("CREATE SCHEMA IF NOT EXISTS {}", e.ident("drizzle")),
                format!(
                    "CREATE TABLE IF NOT EXISTS {table} (\n\t\t\t\tid SERIAL PRIMARY KEY,\n\t\t\t\thash text NOT NULL,\n\t\t\t\tcreated_at bigint\n\t\t\t)"
                ),
            ],
            EngineKind::Mysql => vec![format!(
                "create table if not exists {table} (\n\t\t\t\tid serial primary key,\n\t\t\t\thash text not null,\n\t\t\t\tcreated_at bigint\n\t\t\t)"
            )],
            EngineKind::Sqlite => vec![format!(
                "CREATE TABLE IF NOT EXISTS {table} (\n\t\t\t\tid SERIAL PRIMARY KEY,\n\t\t\t\thash text NOT NULL,\n\t\t\t\tcreated_at numeric\n\t\t\t)"
            )],
        }
    }

    fn select(&self, _kind: EngineKind, e: &dyn MigrateEngine, table: &str) -> String {
        format!(
            "SELECT {c}, {c}, NULL, hash, 'applied', NULL FROM {table} ORDER BY created_at",
            c = e.text("created_at")
        )
    }

    fn key(&self, f: &MigFile) -> String {
        f.drizzle_when.map(|w| w.to_string()).unwrap_or_default()
    }

    fn checksum(&self, f: &MigFile) -> Option<String> {
        Some(sha256_hex(&f.raw))
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
            "insert into {table} ({}, {}) values({}, {})",
            e.ident("hash"),
            e.ident("created_at"),
            e.str_lit(&sha256_hex(&f.raw)),
            f.drizzle_when.unwrap_or(0)
        )]
    }

    fn lock(&self, _kind: EngineKind, _database: &str, _schema: &str) -> Option<LockKey> {
        None
    }

    fn repair(&self, entry: &Entry) -> String {
        super::no_failed_state("Drizzle", entry)
    }

    fn out_of_order(&self) -> OutOfOrder {
        OutOfOrder::Skips
    }

    fn checksum_doc(&self) -> &'static str {
        "SHA-256 of the file (hex)"
    }

    fn mark_doc(&self) -> &'static str {
        "none"
    }
}

/// Drizzle's view: everything up to the newest `created_at` counts as applied.
pub(super) fn compare(spec: &dyn ToolSpec, files: &[MigFile], h: &History) -> Vec<Line> {
    let newest: Option<i64> = h.entries.iter().filter_map(|e| e.key.parse().ok()).max();
    let mut out = Vec::new();
    let mut used = std::collections::HashSet::new();
    for (i, f) in files.iter().enumerate() {
        let mut line = super::line_for(spec, i, f, State::Pending);
        let Some(when) = f.drizzle_when else {
            line.note = Some("not in meta/_journal.json: Drizzle does not apply it".into());
            out.push(line);
            continue;
        };
        let entry = h.entries.iter().find(|e| e.key == when.to_string());
        if let Some(e) = entry {
            used.insert(e.key.clone());
            line.recorded_checksum = e.checksum.clone();
            line.state = if e.checksum.as_deref().is_some_and(|c| !spec.matches(f, c)) {
                line.note = Some("the file changed after it was applied".into());
                State::Modified
            } else {
                State::Applied
            };
        } else if newest.is_some_and(|n| when <= n) {
            line.state = State::OutOfOrder;
            line.note = Some(format!(
                "its journal time {when} is not later than the newest applied migration: Drizzle never applies it; regenerate it so it comes last"
            ));
        }
        out.push(line);
    }
    for e in h.entries.iter().filter(|e| !used.contains(&e.key)) {
        out.push(super::missing_line(spec, e));
    }
    out
}
