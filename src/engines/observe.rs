//! What the engines report after each statement, in engine-neutral form: the locks the
//! session holds and the state of every relation (storage identity for rewrites, a digest of its
//! columns for drops and type changes), server errors, and foreign-key violations.

use serde::Serialize;
use std::collections::BTreeMap;

/// One relation as a probe sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelState {
    /// Qualified name (`public.users`).
    pub name: String,
    /// `table`, `index`, `view`, `materialized view`, `sequence`, …
    pub kind: String,
    /// Storage identity: PostgreSQL relfilenode, InnoDB table id. A change means the relation's
    /// data was rewritten into new storage.
    pub storage: Option<String>,
    /// Digest of the column list (names, types, nullability).
    pub columns: Option<String>,
}

/// The state after one statement.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// (relation id, engine lock mode) held by the migration's session.
    pub locks: Vec<(String, String)>,
    /// Relation id (PostgreSQL oid; the name elsewhere) → state.
    pub rels: BTreeMap<String, RelState>,
}

/// An error from the server, before it is located in the file.
#[derive(Debug, Clone, Default)]
pub struct RawError {
    pub sqlstate: Option<String>,
    pub code: Option<u32>,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// 1-based character position in the statement text (PostgreSQL error cursor).
    pub position: Option<usize>,
}

impl RawError {
    /// A non-database error (I/O, protocol): only the message.
    pub fn other(e: impl std::fmt::Display) -> RawError {
        RawError {
            message: e.to_string(),
            ..RawError::default()
        }
    }
}

/// A row whose foreign key points nowhere (SQLite `PRAGMA foreign_key_check`).
#[derive(Debug, Clone, Serialize)]
pub struct FkViolation {
    pub table: String,
    pub rowid: Option<i64>,
    pub parent: String,
}

/// `pg_class.relkind` in words.
pub fn pg_relkind(k: &str) -> &'static str {
    match k {
        "r" => "table",
        "p" => "partitioned table",
        "i" => "index",
        "I" => "partitioned index",
        "S" => "sequence",
        "v" => "view",
        "m" => "materialized view",
        "f" => "foreign table",
        "c" => "composite type",
        "t" => "toast table",
        _ => "relation",
    }
}
