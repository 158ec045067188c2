//! How each migrator runs a file: in one transaction, statement by statement, or as one
//! multi-statement query; and why migsafe believes so (a directive in the file, the config, or
//! the migrator's default, checked against each tool's source):
//!
//! | layout | default | opt-out or setting |
//! |---|---|---|
//! | sqlx | one transaction per file | file starts with `-- no-transaction` |
//! | golang-migrate | PostgreSQL: the file is sent as one multi-statement query, which PostgreSQL runs as one implicit transaction when it holds more than one statement; MySQL: statement by statement; SQLite: one transaction | `x-multi-statement` / `x-no-tx-wrap` in the URL → `[migrations] transaction` |
//! | Flyway | one transaction per file; on PostgreSQL a file with a statement that cannot run in a transaction (`CREATE/DROP INDEX CONCURRENTLY`, `REINDEX`, `VACUUM`, `ALTER SYSTEM`, `CREATE DATABASE`…) runs without one | `executeInTransaction=false` in `<file>.conf` or the config → `[migrations] transaction` |
//! | dbmate | one transaction per file | `-- migrate:up transaction:false` |
//! | goose | one transaction per file | `-- +goose NO TRANSACTION` |
//! | Prisma | PostgreSQL: one multi-statement query (implicit transaction); others: statement by statement | — |
//! | Diesel | one transaction per file | `run_in_transaction = false` in `metadata.toml` |
//! | Drizzle | every pending migration in one transaction | — |
//! | pop (ory/popx) | one transaction per file | `.autocommit` in the file name |
//! | plain | statement by statement (as `psql -f` runs a file) | `[migrations] transaction` |
//!
//! Every layout also honours `-- no-transaction` / `-- migsafe:no-transaction` at the top of a
//! file.

use super::Layout;
use crate::sql::Dialect;
use std::fmt;

/// How the statements of one file run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxMode {
    /// Wrapped in one transaction.
    PerFile,
    /// Each statement on its own (autocommit).
    None,
    /// Sent as one multi-statement query: PostgreSQL runs it as one implicit transaction when
    /// it holds more than one statement, and a single statement on its own.
    MultiStatement,
    /// Flyway on PostgreSQL: one transaction, unless a statement cannot run inside one.
    FlywayAuto,
}

impl TxMode {
    /// Whether the file runs inside a transaction, given its top-level statements' SQL.
    pub fn in_transaction<'a>(self, statements: impl IntoIterator<Item = &'a str>) -> bool {
        match self {
            TxMode::PerFile => true,
            TxMode::None => false,
            TxMode::MultiStatement => statements.into_iter().nth(1).is_some(),
            TxMode::FlywayAuto => !statements.into_iter().any(flyway_non_transactional),
        }
    }
}

/// Statements Flyway's PostgreSQL parser runs outside a transaction (its
/// `detectCanExecuteInTransaction`): the test is on the statement's leading words, as Flyway's.
pub fn flyway_non_transactional(sql: &str) -> bool {
    let words = leading_words(sql, 4);
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    matches!(
        w.as_slice(),
        ["CREATE", "INDEX", "CONCURRENTLY", ..]
            | ["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY", ..]
            | ["DROP", "INDEX", "CONCURRENTLY", ..]
            | ["DROP", "UNIQUE", "INDEX", "CONCURRENTLY", ..]
            | ["REINDEX", ..]
            | ["VACUUM", ..]
            | ["DISCARD", "ALL", ..]
            | ["ALTER", "SYSTEM", ..]
            | ["CREATE", "DATABASE", ..]
            | ["CREATE", "TABLESPACE", ..]
            | ["CREATE", "SUBSCRIPTION", ..]
    )
}

/// The first `n` words of a statement, upper-cased, after leading comments.
fn leading_words(sql: &str, n: usize) -> Vec<String> {
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.find('\n').map_or("", |i| &r[i..]);
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.find("*/").map_or("", |i| &r[i + 2..]);
        } else {
            break;
        }
    }
    rest.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .take(n)
        .map(str::to_ascii_uppercase)
        .collect()
}

/// `[migrations] transaction` in migsafe.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TxSetting {
    /// What the layout's migrator does by default (the default).
    #[default]
    Auto,
    PerFile,
    None,
}

impl TxSetting {
    pub fn parse(s: &str) -> Option<TxSetting> {
        match s {
            "auto" => Some(TxSetting::Auto),
            "per-file" => Some(TxSetting::PerFile),
            "none" => Some(TxSetting::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TxSetting::Auto => "auto",
            TxSetting::PerFile => "per-file",
            TxSetting::None => "none",
        }
    }
}

/// Why a file's transaction mode is what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxOrigin {
    /// The file (or a file beside it) says so: a fact, not an assumption.
    Directive(String),
    /// `[migrations] transaction` in migsafe.toml.
    Config(TxSetting),
    /// The migrator's default.
    Default,
}

/// A file's transaction mode and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub mode: TxMode,
    pub origin: TxOrigin,
    pub layout: Layout,
    pub dialect: Dialect,
}

impl Transaction {
    /// The sentence a finding that depends on the transaction mode carries; `None` when a
    /// directive in the file decides it.
    pub fn assumption(&self) -> Option<String> {
        let how = match &self.origin {
            TxOrigin::Directive(_) => return None,
            TxOrigin::Config(s) => {
                return Some(format!(
                    "assumes each file runs {}, as `[migrations] transaction = \"{}\"` in migsafe.toml says",
                    match self.mode {
                        TxMode::None => "statement by statement, without a transaction",
                        _ => "in one transaction",
                    },
                    s.as_str()
                ));
            }
            TxOrigin::Default => default_description(self.layout, self.dialect),
        };
        let change = if configurable(self.layout) {
            "; set `[migrations] transaction` in migsafe.toml if yours runs differently"
        } else {
            ""
        };
        Some(format!("assumes {how}{change}"))
    }
}

impl fmt::Display for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            TxOrigin::Directive(d) => write!(f, "no transaction ({d})"),
            _ => f.write_str(match self.mode {
                TxMode::PerFile => "one transaction per file",
                TxMode::None => "no transaction",
                TxMode::MultiStatement => "one multi-statement query",
                TxMode::FlywayAuto => "one transaction unless a statement cannot run in one",
            }),
        }
    }
}

/// Whether `[migrations] transaction` may change the layout's mode: only where the migrator
/// itself lets the deployment choose (a driver option, a global setting, or no migrator at all).
pub fn configurable(layout: Layout) -> bool {
    matches!(
        layout,
        Layout::GolangMigrate | Layout::Flyway | Layout::Plain
    )
}

/// What a migrator whose mode cannot be configured does, for the error that refuses the setting.
pub fn fixed_behaviour(layout: Layout) -> String {
    default_description(layout, Dialect::Postgres)
}

/// What the migrator does by default.
pub fn default_mode(layout: Layout, dialect: Dialect) -> TxMode {
    match (layout, dialect) {
        (Layout::GolangMigrate, Dialect::Postgres) => TxMode::MultiStatement,
        (Layout::GolangMigrate, Dialect::Mysql) => TxMode::None,
        (Layout::Prisma, Dialect::Postgres) => TxMode::MultiStatement,
        (Layout::Prisma, _) => TxMode::None,
        (Layout::Flyway, Dialect::Postgres) => TxMode::FlywayAuto,
        (Layout::Plain, _) => TxMode::None,
        _ => TxMode::PerFile,
    }
}

fn default_description(layout: Layout, dialect: Dialect) -> String {
    let d = dialect.as_str();
    match (layout, default_mode(layout, dialect)) {
        (Layout::Sqlx, _) => "sqlx runs each file in a transaction unless its first line is `-- no-transaction`".into(),
        (Layout::GolangMigrate, TxMode::MultiStatement) => "golang-migrate sends the file as one multi-statement query, which PostgreSQL runs as one implicit transaction when it holds more than one statement".into(),
        (Layout::GolangMigrate, TxMode::None) => format!("golang-migrate runs the file on {d} without a transaction"),
        (Layout::GolangMigrate, _) => format!("golang-migrate's {d} driver wraps the file in a transaction"),
        (Layout::Flyway, TxMode::FlywayAuto) => "Flyway runs each file in a transaction unless it holds a statement PostgreSQL cannot run in one".into(),
        (Layout::Flyway, _) => "Flyway runs each file in a transaction".into(),
        (Layout::Dbmate, _) => "dbmate runs each file in a transaction unless it says `-- migrate:up transaction:false`".into(),
        (Layout::Goose, _) => "goose runs each file in a transaction unless it says `-- +goose NO TRANSACTION`".into(),
        (Layout::Prisma, TxMode::MultiStatement) => "Prisma sends migration.sql as one multi-statement query, which PostgreSQL runs as one implicit transaction when it holds more than one statement".into(),
        (Layout::Prisma, _) => format!("Prisma runs migration.sql on {d} without a transaction"),
        (Layout::Diesel, _) => "Diesel runs each migration in a transaction unless its metadata.toml says `run_in_transaction = false`".into(),
        (Layout::Drizzle, _) => "drizzle-orm's migrator runs all pending migrations in one transaction".into(),
        (Layout::Pop, _) => "pop runs each file in a transaction unless its name has `.autocommit`".into(),
        (Layout::Plain, _) => "plain SQL files run statement by statement, as `psql -f` or `mysql <` run them".into(),
    }
}

/// The mode of one file: a directive wins, then the config, then the migrator's default.
pub fn resolve(
    layout: Layout,
    dialect: Dialect,
    directive: Option<String>,
    setting: TxSetting,
) -> Transaction {
    let (mode, origin) = match (directive, setting) {
        (Some(d), _) => (TxMode::None, TxOrigin::Directive(d)),
        (None, TxSetting::PerFile) if configurable(layout) => {
            (TxMode::PerFile, TxOrigin::Config(setting))
        }
        (None, TxSetting::None) if configurable(layout) => {
            (TxMode::None, TxOrigin::Config(setting))
        }
        _ => (default_mode(layout, dialect), TxOrigin::Default),
    };
    Transaction {
        mode,
        origin,
        layout,
        dialect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_decide_per_statement_list() {
        assert!(TxMode::PerFile.in_transaction([]));
        assert!(!TxMode::None.in_transaction(["CREATE TABLE t ()", "SELECT 1"]));
        assert!(!TxMode::MultiStatement.in_transaction(["CREATE INDEX CONCURRENTLY i ON t (a)"]));
        assert!(TxMode::MultiStatement.in_transaction(["SELECT 1", "SELECT 2"]));
        assert!(TxMode::FlywayAuto.in_transaction(["CREATE INDEX i ON t (a)"]));
        assert!(
            !TxMode::FlywayAuto
                .in_transaction(["SELECT 1", "create  unique index\nconcurrently i ON t (a)"])
        );
        assert!(!TxMode::FlywayAuto.in_transaction(["/* x */ VACUUM t"]));
    }

    #[test]
    fn directive_then_config_then_default() {
        let t = resolve(
            Layout::Sqlx,
            Dialect::Postgres,
            Some("`-- no-transaction`".into()),
            TxSetting::PerFile,
        );
        assert_eq!(t.mode, TxMode::None);
        assert_eq!(t.assumption(), None);
        let t = resolve(Layout::Plain, Dialect::Postgres, None, TxSetting::PerFile);
        assert_eq!(
            (t.mode, t.origin.clone()),
            (TxMode::PerFile, TxOrigin::Config(TxSetting::PerFile))
        );
        assert!(
            t.assumption()
                .unwrap()
                .contains("[migrations] transaction = \"per-file\"")
        );
        let t = resolve(
            Layout::GolangMigrate,
            Dialect::Postgres,
            None,
            TxSetting::Auto,
        );
        assert_eq!(t.mode, TxMode::MultiStatement);
        let a = t.assumption().unwrap();
        assert!(
            a.contains("implicit transaction") && a.contains("set `[migrations] transaction`"),
            "{a}"
        );
        let t = resolve(Layout::GolangMigrate, Dialect::Mysql, None, TxSetting::Auto);
        assert_eq!(t.mode, TxMode::None);
        let t = resolve(Layout::Sqlx, Dialect::Postgres, None, TxSetting::Auto);
        assert!(!t.assumption().unwrap().contains("[migrations]"));
        assert_eq!(
            resolve(Layout::Plain, Dialect::Sqlite, None, TxSetting::Auto).mode,
            TxMode::None
        );
    }
}
