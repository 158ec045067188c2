//! The structured catalog each engine reads (tables, columns, types, nullability, defaults,
//! indexes, constraints, views, functions, enums, sequences, triggers) and the trait through which
//! operations read it, probe relations after each statement and turn server errors into
//! engine-neutral ones. Engine-neutral: the dry-run diffs catalogs, the engines fill them.

use super::EngineError;
use super::conn::Conn;
use super::observe::{FkViolation, Probe, RawError};
use std::collections::{BTreeMap, BTreeSet};

/// Reading an engine's schema and observing a session (dry-run, restore verification).
#[async_trait::async_trait]
pub trait CatalogEngine: Sync {
    /// The whole user schema.
    async fn catalog(&self, conn: &mut Conn) -> Result<Catalog, sqlx::Error>;
    /// Locks held by this session and the state of relations (`ids`: only those; `None`: all).
    /// `mariadb` tells MySQL-protocol servers apart (their catalogs differ).
    async fn probe(
        &self,
        conn: &mut Conn,
        ids: Option<&[String]>,
        mariadb: bool,
    ) -> Result<Probe, sqlx::Error>;
    /// Columns of the relations with these probe ids.
    async fn columns(
        &self,
        conn: &mut Conn,
        ids: &[String],
    ) -> Result<BTreeMap<String, Vec<Column>>, sqlx::Error>;
    /// A server error in engine-neutral form.
    fn error(&self, e: &sqlx::Error) -> RawError;
    /// Rows that break a foreign key the engine does not enforce by itself (SQLite).
    async fn foreign_key_violations(
        &self,
        _conn: &mut Conn,
    ) -> Result<Vec<FkViolation>, sqlx::Error> {
        Ok(Vec::new())
    }
    /// Whether a transaction is still open (MySQL DDL commits implicitly); `None` when the engine
    /// never ends one on its own.
    async fn in_transaction(&self, _conn: &mut Conn) -> Result<Option<bool>, sqlx::Error> {
        Ok(None)
    }
    /// Whether the server is MariaDB (MySQL-protocol servers), else false.
    async fn is_mariadb(&self, _conn: &mut Conn) -> bool {
        false
    }
    /// An identifier quoted for the engine.
    fn quote_ident(&self, s: &str) -> String;
    /// The query that returns the server's version text.
    fn version_sql(&self) -> &'static str;
    /// The server's version text.
    async fn server_version(&self, conn: &mut Conn) -> Result<String, EngineError> {
        let (_, rows) = conn
            .query_text(self.version_sql())
            .await
            .map_err(|e| EngineError::db("reading the server version", e))?;
        Ok(rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .unwrap_or_default())
    }
}

/// A database schema as the engines describe it. Keys are qualified names as the engine shows
/// them (`public.users` on PostgreSQL, `users` on MySQL and SQLite).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    pub tables: BTreeMap<String, Table>,
    pub views: BTreeMap<String, View>,
    /// Signature (`public.f(integer)`) → definition digest with the result type.
    pub functions: BTreeMap<String, String>,
    /// Type name → labels in order.
    pub enums: BTreeMap<String, Vec<String>>,
    pub sequences: BTreeSet<String>,
    /// `table.trigger` → definition digest.
    pub triggers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Engine identity that survives a rename (PostgreSQL oid, SQLite root page), when there is one.
    pub id: Option<String>,
    pub columns: Vec<Column>,
    pub indexes: BTreeMap<String, Index>,
    pub constraints: BTreeMap<String, Constraint>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// Engine identity of the column (PostgreSQL attnum): a different id under the same name
    /// means the column was dropped and re-added, so its values are gone.
    pub id: Option<String>,
    /// 1-based position.
    pub position: usize,
    pub data_type: String,
    pub nullable: bool,
    pub default: Option<String>,
    /// Identity, generated expression, auto_increment …
    pub extra: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    pub definition: String,
    pub unique: bool,
    pub valid: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraint {
    /// `primary key`, `unique`, `foreign key`, `check`, `exclusion`, `not null`.
    pub kind: String,
    pub definition: String,
    pub validated: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    pub materialized: bool,
    /// Whitespace-normalised definition.
    pub definition: String,
}

impl Column {
    /// `varchar(20) not null default 'x'`.
    pub fn describe(&self) -> String {
        let mut s = self.data_type.clone();
        if !self.nullable {
            s.push_str(" not null");
        }
        if let Some(d) = &self.default {
            s.push_str(" default ");
            s.push_str(d);
        }
        if let Some(e) = &self.extra {
            s.push(' ');
            s.push_str(e);
        }
        s
    }
}
