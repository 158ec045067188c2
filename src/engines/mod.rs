//! Database engines: the traits operations use to drive an engine (owned here, implemented by
//! one folder per engine with the same file names so engines can be compared side by side), the
//! engine-neutral types they speak in, connections and targets, database URLs (`url`: the one
//! parser and redaction), and the process plumbing shared by the ephemeral servers. Engines
//! never import operations or the command line.
//!
//! | trait | what | module |
//! |---|---|---|
//! | [`Engine`] | the registry entry of one engine: its kind and the traits below | here |
//! | [`admin::Admin`] | server administration: databases, settings, sessions, drain, rename, read-only, markers | `admin.rs`, `<engine>/admin.rs` |
//! | [`catalog::CatalogEngine`] | schema catalog, probes after each statement, server errors | `catalog.rs`, `<engine>/dry_run.rs` |
//! | [`integrity::IntegrityEngine`] | read-only integrity checks: plan, begin/end, classify failures | `integrity.rs`, `<engine>/integrity.rs` |
//! | [`dump::DumpLoad`] | backup formats, restore error classes, whether a swap is possible | `dump.rs`, `<engine>/backup.rs`, `<engine>/restore.rs` |
//! | [`snapshot::SnapshotEngine`] | row counts and schema fingerprint queries | `snapshot.rs`, `<engine>/mod.rs` |
//! | [`modes::ModeEngine`] | read-only and maintenance modes: knobs with prior values, sessions, probes | `modes.rs`, `<engine>/read_only.rs` |
//! | [`migrate::MigrateEngine`] | migration sessions: the migration lock and its holder, lock/statement timeouts, retryable failures, literals | `migrate.rs`, `<engine>/migrate.rs` |

pub mod admin;
pub mod catalog;
pub mod conn;
pub mod dump;
pub mod integrity;
pub mod migrate;
pub mod modes;
pub mod mysql;
pub mod observe;
pub mod pgbouncer;
pub mod postgres;
pub mod process;
pub mod snapshot;
pub mod sqlite;
pub mod target;
pub mod template;
pub mod url;

/// One engine: its kind and the traits operations drive it through. A new engine is a folder
/// implementing these, plus one line in [`EngineKind::engine`].
pub trait Engine: Sync {
    fn kind(&self) -> EngineKind;
    fn admin(&self) -> &dyn admin::Admin;
    fn catalog(&self) -> &dyn catalog::CatalogEngine;
    fn integrity(&self) -> &dyn integrity::IntegrityEngine;
    fn dump(&self) -> &dyn dump::DumpLoad;
    fn snapshot(&self) -> &dyn snapshot::SnapshotEngine;
    fn modes(&self) -> &dyn modes::ModeEngine;
    fn migrate(&self) -> &dyn migrate::MigrateEngine;
}

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineKind {
    Postgres,
    Mysql,
    Sqlite,
}

impl EngineKind {
    /// The SQL dialect the engine speaks.
    pub fn dialect(self) -> crate::sql::Dialect {
        use crate::sql::Dialect;
        match self {
            EngineKind::Postgres => Dialect::Postgres,
            EngineKind::Mysql => Dialect::Mysql,
            EngineKind::Sqlite => Dialect::Sqlite,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Postgres => "postgres",
            EngineKind::Mysql => "mysql",
            EngineKind::Sqlite => "sqlite",
        }
    }

    pub fn parse(s: &str) -> Option<EngineKind> {
        match s.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" | "pg" => Some(EngineKind::Postgres),
            "mysql" | "mariadb" => Some(EngineKind::Mysql),
            "sqlite" | "sqlite3" => Some(EngineKind::Sqlite),
            _ => None,
        }
    }

    /// The engine's implementation (the one place that maps kinds to engines).
    pub fn engine(self) -> &'static dyn Engine {
        match self {
            EngineKind::Postgres => &postgres::Postgres,
            EngineKind::Mysql => &mysql::Mysql,
            EngineKind::Sqlite => &sqlite::Sqlite,
        }
    }

    /// The engine a database URL points at, from its scheme.
    pub fn from_url(url: &str) -> Option<EngineKind> {
        let scheme = url.split_once(':')?.0;
        EngineKind::parse(scheme.split('+').next().unwrap_or(scheme))
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors from starting, reaching or driving a database. Messages never contain passwords.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{what} not found (looked in {looked}): {hint}")]
    BinaryMissing {
        what: String,
        looked: String,
        hint: String,
    },
    #[error("{step} failed: {message}")]
    Step { step: String, message: String },
    #[error("cannot connect to {target}: {message}")]
    Connect { target: String, message: String },
    #[error("{0}")]
    Io(String),
    /// The engine cannot do this at all (SQLite has no sessions to terminate).
    #[error("{0}")]
    Unsupported(String),
}

impl EngineError {
    /// A failed database statement while doing `what`.
    pub fn db(what: impl Into<String>, e: impl fmt::Display) -> Self {
        EngineError::step(what, e)
    }

    pub fn step(step: impl Into<String>, message: impl fmt::Display) -> Self {
        EngineError::Step {
            step: step.into(),
            message: message.to_string(),
        }
    }
}

/// A connection URL with its password replaced: `postgres://app:****@db/app` (see
/// [`url::redact`]). Never print a URL any other way.
pub fn redact_url(url: &str) -> String {
    url::redact(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_everywhere() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/app"),
            "postgres://app:****@db:5432/app"
        );
        assert_eq!(
            redact_url("mysql://root@localhost/test"),
            "mysql://root@localhost/test"
        );
        assert_eq!(
            redact_url("postgres://u:p%40ss@h/db?password=x&sslmode=require"),
            "postgres://u:****@h/db?password=****&sslmode=require"
        );
        assert_eq!(redact_url("sqlite:app.db"), "sqlite:app.db");
        assert!(!redact_url("postgresql://a:b@c@d/e").contains(":b"));
        assert_eq!(
            EngineKind::from_url("postgresql://x/y"),
            Some(EngineKind::Postgres)
        );
        assert_eq!(
            EngineKind::from_url("mariadb://x/y"),
            Some(EngineKind::Mysql)
        );
        assert_eq!(
            EngineKind::from_url("sqlite:x.db"),
            Some(EngineKind::Sqlite)
        );
    }
}
