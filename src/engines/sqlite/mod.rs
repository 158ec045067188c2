//! SQLite: the ephemeral database file, and the engine traits.

pub mod admin;
pub mod backup;
pub mod dry_run;
pub mod ephemeral;
pub mod integrity;
pub mod migrate;
pub mod read_only;
pub mod restore;

use crate::engines::dump::{DumpLoad, RestoreIssue};
use crate::engines::snapshot::SnapshotEngine;
use crate::engines::{Engine, EngineKind, catalog, dump, snapshot};

/// The SQLite engine (see [`crate::engines::Engine`]).
pub struct Sqlite;

impl Engine for Sqlite {
    fn kind(&self) -> EngineKind {
        EngineKind::Sqlite
    }
    fn admin(&self) -> &dyn crate::engines::admin::Admin {
        self
    }
    fn catalog(&self) -> &dyn catalog::CatalogEngine {
        self
    }
    fn integrity(&self) -> &dyn crate::engines::integrity::IntegrityEngine {
        self
    }
    fn dump(&self) -> &dyn dump::DumpLoad {
        self
    }
    fn snapshot(&self) -> &dyn snapshot::SnapshotEngine {
        self
    }
    fn modes(&self) -> &dyn crate::engines::modes::ModeEngine {
        self
    }

    fn migrate(&self) -> &dyn crate::engines::migrate::MigrateEngine {
        self
    }
}

const SCHEMA_SQL: &str = "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'";

impl SnapshotEngine for Sqlite {
    fn tables_sql(&self) -> &'static str {
        "SELECT '', name, '-1' FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    }
    fn schema_sql(&self) -> &'static str {
        SCHEMA_SQL
    }
    fn table_ref(&self, schema: &str, table: &str) -> String {
        let _ = schema;
        crate::sql::quote::double_quoted(table)
    }
}

impl DumpLoad for Sqlite {
    fn formats(&self) -> &'static [&'static str] {
        &["sqlite"]
    }
    fn classify_restore_errors(&self, stderr: &str) -> Vec<RestoreIssue> {
        restore::classify_errors(stderr)
    }
    fn can_swap(&self) -> bool {
        true
    }
}
