//! What a database holds, in comparable form: row counts per table (exact, or the planner's
//! estimate for large tables, flagged) and a schema fingerprint (sha256 of normalised catalog
//! lines). Backups record it in their manifest; restores, restore drills and integrity checks
//! compare against it.

use super::EngineKind;
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

fn quote_ident(kind: EngineKind, s: &str) -> String {
    match kind {
        EngineKind::Mysql => format!("`{}`", s.replace('`', "``")),
        _ => format!("\"{}\"", s.replace('"', "\"\"")),
    }
}

/// Row counts of every user table. Tables whose estimate exceeds `exact_limit` keep the estimate
/// (flagged); pass `u64::MAX` to count everything exactly.
pub async fn row_counts(conn: &mut Conn, exact_limit: u64) -> Result<Vec<TableRows>, sqlx::Error> {
    let kind = conn.kind();
    let list_sql = match kind {
        EngineKind::Postgres => {
            "SELECT n.nspname::text, c.relname::text, c.reltuples::bigint::text \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' \
             ORDER BY 1, 2"
        }
        EngineKind::Mysql => {
            "SELECT CAST(table_schema AS CHAR), CAST(table_name AS CHAR), CAST(IFNULL(table_rows, -1) AS CHAR) \
             FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1, 2"
        }
        EngineKind::Sqlite => {
            "SELECT '', name, '-1' FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
    };
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
        let name = if schema.is_empty() || kind == EngineKind::Mysql {
            quote_ident(kind, &table)
        } else {
            format!(
                "{}.{}",
                quote_ident(kind, &schema),
                quote_ident(kind, &table)
            )
        };
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

const PG_SCHEMA: &str = r#"
SELECT 'column ' || n.nspname || '.' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || COALESCE(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
UNION ALL
SELECT 'constraint ' || n.nspname || '.' || c.relname || '.' || co.conname || ' ' || pg_get_constraintdef(co.oid)
       || CASE WHEN co.convalidated THEN '' ELSE ' (not validated)' END
FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'index ' || n.nspname || '.' || ic.relname || ' ' || pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
UNION ALL
SELECT 'view ' || n.nspname || '.' || c.relname || ' ' || regexp_replace(pg_get_viewdef(c.oid), '\s+', ' ', 'g')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'enum ' || n.nspname || '.' || t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
GROUP BY n.nspname, t.typname
UNION ALL
SELECT 'function ' || n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || md5(p.prosrc)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
LEFT JOIN pg_depend dep ON dep.objid = p.oid AND dep.deptype = 'e'
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND dep.objid IS NULL
UNION ALL
SELECT 'sequence ' || n.nspname || '.' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'extension ' || extname FROM pg_extension
"#;

const MYSQL_SCHEMA: &str = r#"
SELECT CONCAT('column ', table_name, '.', column_name, ' ', column_type,
              IF(is_nullable = 'NO', ' not null', ''), IFNULL(CONCAT(' default ', column_default), ''), IF(extra <> '', CONCAT(' ', extra), ''))
FROM information_schema.columns WHERE table_schema = DATABASE()
UNION ALL
SELECT CONCAT('index ', table_name, '.', index_name, IF(non_unique = 0, ' unique', ''), ' ',
              GROUP_CONCAT(column_name ORDER BY seq_in_index SEPARATOR ','))
FROM information_schema.statistics WHERE table_schema = DATABASE() GROUP BY table_name, index_name, non_unique
UNION ALL
SELECT CONCAT('constraint ', k.table_name, '.', k.constraint_name, ' ', GROUP_CONCAT(k.column_name ORDER BY k.ordinal_position SEPARATOR ','),
              ' references ', k.referenced_table_name, '(', GROUP_CONCAT(k.referenced_column_name ORDER BY k.ordinal_position SEPARATOR ','), ')')
FROM information_schema.key_column_usage k
WHERE k.table_schema = DATABASE() AND k.referenced_table_name IS NOT NULL GROUP BY k.table_name, k.constraint_name, k.referenced_table_name
UNION ALL
SELECT CONCAT('check ', table_name, '.', constraint_name, ' ', check_clause)
FROM information_schema.check_constraints WHERE constraint_schema = DATABASE()
UNION ALL
SELECT CONCAT('view ', table_name, ' ', view_definition) FROM information_schema.views WHERE table_schema = DATABASE()
UNION ALL
SELECT CONCAT('routine ', routine_type, ' ', routine_name, ' ', MD5(IFNULL(routine_definition, '')))
FROM information_schema.routines WHERE routine_schema = DATABASE()
UNION ALL
SELECT CONCAT('trigger ', trigger_name, ' ', event_manipulation, ' ', event_object_table, ' ', MD5(action_statement))
FROM information_schema.triggers WHERE trigger_schema = DATABASE()
"#;

const SQLITE_SCHEMA: &str = "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'";

/// The normalised schema and its sha256.
pub async fn schema_fingerprint(conn: &mut Conn) -> Result<SchemaFingerprint, sqlx::Error> {
    let sql = match conn.kind() {
        EngineKind::Postgres => PG_SCHEMA,
        EngineKind::Mysql => MYSQL_SCHEMA,
        EngineKind::Sqlite => SQLITE_SCHEMA,
    };
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
        sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
        lines,
    })
}
