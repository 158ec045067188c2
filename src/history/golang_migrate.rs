//! golang-migrate (`migrate up`): `schema_migrations`, from golang-migrate v4
//! `database/{postgres,mysql,sqlite3}/*.go`, `database/util.go` and `migrate.go`.
//!
//! - Table: PostgreSQL and MySQL `(version bigint not null primary key, dirty boolean not null)`;
//!   SQLite `(version uint64,dirty bool)` with `CREATE UNIQUE INDEX version_unique`.
//! - One row: the current version. Every file up to it counts as applied; `dirty = true` means
//!   the migration to that version started and did not finish: golang-migrate writes
//!   `(N, dirty)` before running file N and `(N, clean)` after. No checksums.
//! - Repair: `migrate force N` (N if the migration's effect is complete, else the version before
//!   it) once the database is fixed by hand.
//! - Lock: PostgreSQL `pg_advisory_lock(GenerateAdvisoryLockId(db, schema, table))`, MySQL
//!   `GET_LOCK(GenerateAdvisoryLockId("db:table"), 10)`; none on SQLite.

use super::checksum::golang_migrate_lock_id;
use super::{Entry, History, Line, MigFile, OutOfOrder, State, Tool, ToolSpec, norm};
use crate::engines::EngineKind;
use crate::engines::migrate::{LockKey, MigrateEngine};

pub struct GolangMigrate;

fn version(f: &MigFile) -> String {
    norm(&f.m.version)
}

fn set_version(
    kind: EngineKind,
    e: &dyn MigrateEngine,
    table: &str,
    v: &str,
    dirty: bool,
) -> Vec<String> {
    let clear = match kind {
        EngineKind::Postgres => format!("TRUNCATE {table}"),
        EngineKind::Mysql => format!("DELETE FROM {table} LIMIT 1"),
        EngineKind::Sqlite => format!("DELETE FROM {table}"),
    };
    vec![
        clear,
        format!(
            "INSERT INTO {table} (version, dirty) VALUES ({v}, {})",
            e.bool_lit(dirty)
        ),
    ]
}

impl ToolSpec for GolangMigrate {
    fn tool(&self) -> Tool {
        Tool::GolangMigrate
    }

    fn table(&self, _kind: EngineKind) -> (Option<&'static str>, &'static str) {
        (None, "schema_migrations")
    }

    fn create(&self, kind: EngineKind, _e: &dyn MigrateEngine, table: &str) -> Vec<String> {
        match kind {
            EngineKind::Sqlite => vec![
                format!("CREATE TABLE IF NOT EXISTS {table} (version uint64,dirty bool)"),
                format!("CREATE UNIQUE INDEX IF NOT EXISTS version_unique ON {table} (version)"),
            ],
            _ => vec![format!(
                "CREATE TABLE IF NOT EXISTS {table} (version bigint not null primary key, dirty boolean not null)"
            )],
        }
    }

    fn select(&self, _kind: EngineKind, e: &dyn MigrateEngine, table: &str) -> String {
        format!(
            "SELECT {v}, {v}, NULL, NULL, CASE WHEN {d} = 1 THEN 'failed' ELSE 'applied' END, NULL FROM {table}",
            v = e.text("version"),
            d = e.truthy("dirty"),
        )
    }

    fn key(&self, f: &MigFile) -> String {
        version(f)
    }

    fn record(
        &self,
        kind: EngineKind,
        e: &dyn MigrateEngine,
        table: &str,
        f: &MigFile,
        _ms: u64,
    ) -> Vec<String> {
        set_version(kind, e, table, &version(f), false)
    }

    fn start(
        &self,
        kind: EngineKind,
        e: &dyn MigrateEngine,
        table: &str,
        f: &MigFile,
    ) -> Vec<String> {
        set_version(kind, e, table, &version(f), true)
    }

    fn unstart(
        &self,
        _kind: EngineKind,
        _e: &dyn MigrateEngine,
        _table: &str,
        _f: &MigFile,
    ) -> Vec<String> {
        // the previous version is not known from the file alone: recover puts back the row it
        // journaled before the start
        Vec::new()
    }

    fn lock(&self, kind: EngineKind, database: &str, schema: &str) -> Option<LockKey> {
        match kind {
            EngineKind::Postgres => {
                golang_migrate_lock_id(database, &[schema, "schema_migrations"])
                    .parse()
                    .ok()
                    .map(LockKey::Advisory)
            }
            EngineKind::Mysql => Some(LockKey::Named(golang_migrate_lock_id(
                &format!("{database}:schema_migrations"),
                &[],
            ))),
            EngineKind::Sqlite => None,
        }
    }

    fn repair(&self, entry: &Entry) -> String {
        format!(
            "golang-migrate stops at \"Dirty database version {v}. Fix and force version.\": finish or undo migration {v} by hand, then `migrate -path <dir> -database <url> force {v}` (or force the version before it if you undid it)",
            v = entry.version
        )
    }

    fn out_of_order(&self) -> OutOfOrder {
        OutOfOrder::Skips
    }

    fn checksum_doc(&self) -> &'static str {
        "none"
    }

    fn mark_doc(&self) -> &'static str {
        "`dirty = true` on the one version row"
    }
}

/// golang-migrate's view: one current version; files up to it are applied.
pub(super) fn compare(spec: &dyn ToolSpec, files: &[MigFile], h: &History) -> Vec<Line> {
    let current = h.entries.last();
    let cur: Option<u128> = current.and_then(|e| e.version.parse().ok());
    let mut out = Vec::new();
    let mut matched = false;
    for (i, f) in files.iter().enumerate() {
        let mut line = super::line_for(spec, i, f, State::Pending);
        let v: Option<u128> = version(f).parse().ok();
        if let (Some(v), Some(c), Some(e)) = (v, cur, current) {
            if v == c {
                matched = true;
                if e.state == super::EntryState::Failed {
                    line.state = State::Failed;
                    line.note = Some(spec.repair(e));
                } else {
                    line.state = State::Applied;
                }
            } else if v < c {
                line.state = State::Applied;
            }
        }
        out.push(line);
    }
    if let Some(e) = current.filter(|_| !matched) {
        out.push(super::missing_line(spec, e));
    }
    out
}
