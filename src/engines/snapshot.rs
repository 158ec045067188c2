//! What a database holds, in comparable form: row counts per table (exact, or the planner's
//! estimate for large tables, flagged) and a schema fingerprint (sha256 of normalised catalog
//! lines). Backups record it in their manifest; restores, restore drills and integrity checks
//! compare against it.

use super::conn::Conn;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Tables estimated above this many rows are not counted exactly by default (a full scan each).
pub const DEFAULT_EXACT_LIMIT: u64 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRows {
    pub schema: String,
    pub table: String,
    pub rows: u64,
    /// True when `rows` is the planner's estimate, not `count(*)`.
    pub estimated: bool,
}

impl TableRows {
    pub fn qualified(&self) -> String {
        if self.schema.is_empty() {
            self.table.clone()
        } else {
            format!("{}.{}", self.schema, self.table)
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SchemaFingerprint {
    /// sha256 hex of `lines` joined with newlines.
    pub sha256: String,
    /// The normalised catalog, one object property per line, sorted.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub lines: Vec<String>,
}

/// The queries a snapshot runs on one engine.
pub trait SnapshotEngine: Sync {
    /// (schema, table, the planner's row estimate or -1) of every user table, sorted.
    fn tables_sql(&self) -> &'static str;
    /// One normalised line per schema object (see [`schema_fingerprint`]).
    fn schema_sql(&self) -> &'static str;
    /// A table as written after `FROM`.
    fn table_ref(&self, schema: &str, table: &str) -> String;
}

/// Row counts of every user table. Tables whose estimate exceeds `exact_limit` keep the estimate
/// (flagged); pass `u64::MAX` to count everything exactly.
pub async fn row_counts(conn: &mut Conn, exact_limit: u64) -> Result<Vec<TableRows>, sqlx::Error> {
    let eng = conn.kind().engine().snapshot();
    let list_sql = eng.tables_sql();
    let (_, rows) = conn.query_text(list_sql).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let schema = r.first().cloned().flatten().unwrap_or_default();
        let table = r.get(1).cloned().flatten().unwrap_or_default();
        let estimate: i64 = r
            .get(2)
            .cloned()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1);
        if estimate >= 0 && estimate as u64 > exact_limit {
            out.push(TableRows {
                schema,
                table,
                rows: estimate as u64,
                estimated: true,
            });
            continue;
        }
        let name = eng.table_ref(&schema, &table);
        let (_, c) = conn
            .query_text(&format!("SELECT count(*) FROM {name}"))
            .await?;
        let rows = c
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        out.push(TableRows {
            schema,
            table,
            rows,
            estimated: false,
        });
    }
    Ok(out)
}

/// The normalised schema and its sha256.
pub async fn schema_fingerprint(conn: &mut Conn) -> Result<SchemaFingerprint, sqlx::Error> {
    let sql = conn.kind().engine().snapshot().schema_sql();
    let (_, rows) = conn.query_text(sql).await?;
    let mut lines: Vec<String> = rows
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    lines.sort();
    lines.dedup();
    let digest = Sha256::digest(lines.join("\n").as_bytes());
    Ok(SchemaFingerprint {
        sha256: crate::sys::hex::hex(&digest),
        lines,
    })
}
