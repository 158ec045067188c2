//! What a database holds, comparable with a manifest: row counts, schema fingerprint and the
//! applied migrations of its history tables; and the comparison itself.

use super::*;

/// Row counts, fingerprint and applied migrations of a database.
#[derive(Debug, Clone, Default)]
pub struct Snap {
    pub tables: Vec<TableRows>,
    pub fingerprint: String,
    pub fingerprint_lines: Vec<String>,
    pub migrations: Vec<AppliedMigration>,
    pub consistent: bool,
}

pub async fn take_snapshot(conn: &mut Conn, exact_limit: u64) -> Result<Snap, sqlx::Error> {
    let tables = snapshot::row_counts(conn, exact_limit).await?;
    let fp = snapshot::schema_fingerprint(conn).await?;
    let migrations = applied_migrations(conn).await.unwrap_or_default();
    Ok(Snap {
        tables,
        fingerprint: fp.sha256,
        fingerprint_lines: fp.lines,
        migrations,
        consistent: true,
    })
}

/// A snapshot comparable with manifest `m`: tables the manifest recorded as estimates keep the
/// (fresh) planner estimate, every other table is counted exactly, so verifying a large
/// database costs no more full scans than the backup did.
pub async fn snapshot_for(conn: &mut Conn, m: &Manifest) -> Result<Snap, sqlx::Error> {
    let limit = m.exact_row_limit.unwrap_or(snapshot::DEFAULT_EXACT_LIMIT);
    let mut snap = take_snapshot(conn, limit).await?;
    let kind = conn.kind();
    let q = |s: &str| crate::sql::quote::ident(kind.dialect(), s);
    for t in snap.tables.iter_mut().filter(|t| t.estimated) {
        let recorded_exact = m.tables.iter().any(|w| {
            w.table == t.table
                && (kind == EngineKind::Mysql || w.schema == t.schema)
                && !w.estimated
        });
        if !recorded_exact {
            continue;
        }
        let name = if kind == EngineKind::Postgres {
            format!("{}.{}", q(&t.schema), q(&t.table))
        } else {
            q(&t.table)
        };
        let (_, rows) = conn
            .query_text(&format!("SELECT CAST(count(*) AS CHAR(20)) FROM {name}"))
            .await?;
        if let Some(n) = rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|v| v.trim().parse().ok())
        {
            t.rows = n;
            t.estimated = false;
        }
    }
    Ok(snap)
}

const HISTORY_TABLES: [&str; 8] = [
    "_sqlx_migrations",
    "schema_migrations",
    "flyway_schema_history",
    "goose_db_version",
    "_prisma_migrations",
    "__diesel_schema_migrations",
    "__drizzle_migrations",
    "migsafe_schema_history",
];

/// Applied migrations from whichever known history tables exist (DESIGN.md §3).
pub async fn applied_migrations(conn: &mut Conn) -> Result<Vec<AppliedMigration>, sqlx::Error> {
    let kind = conn.kind();
    let mut out = Vec::new();
    for table in HISTORY_TABLES {
        let cols_sql = match kind {
            EngineKind::Postgres => format!(
                "SELECT column_name::text, data_type::text FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{table}'"
            ),
            EngineKind::Mysql => format!(
                "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = '{table}'"
            ),
            EngineKind::Sqlite => {
                format!("SELECT name, lower(type) FROM pragma_table_info('{table}')")
            }
        };
        let (_, cols) = conn.query_text(&cols_sql).await?;
        let cols: Vec<(String, String)> = cols
            .into_iter()
            .filter_map(|r| {
                let mut it = r.into_iter();
                Some((
                    it.next()??.to_ascii_lowercase(),
                    it.next().flatten().unwrap_or_default().to_ascii_lowercase(),
                ))
            })
            .collect();
        if cols.is_empty() {
            continue;
        }
        let has = |c: &str| cols.iter().find(|(n, _)| n == c).map(|(_, t)| t.clone());
        let Some(version_col) = ["version", "version_id", "migration_name", "id"]
            .into_iter()
            .find(|c| has(c).is_some())
        else {
            continue;
        };
        let checksum_col = ["checksum", "hash"].into_iter().find(|c| has(c).is_some());
        let as_text = |c: &str| {
            let ty = has(c).unwrap_or_default();
            let binary = ty.contains("bytea") || ty.contains("blob") || ty.contains("binary");
            match (kind, binary) {
                (EngineKind::Postgres, true) => format!("encode({c}, 'hex')"),
                (EngineKind::Postgres, false) => format!("{c}::text"),
                (EngineKind::Mysql, true) => format!("LOWER(HEX({c}))"),
                (EngineKind::Mysql, false) => format!("CAST({c} AS CHAR)"),
                (EngineKind::Sqlite, true) => format!("lower(hex({c}))"),
                (EngineKind::Sqlite, false) => format!("CAST({c} AS TEXT)"),
            }
        };
        let mut filters = vec![format!("{version_col} IS NOT NULL")];
        if has("success").is_some() {
            filters.push(if kind == EngineKind::Postgres {
                "success IS TRUE".into()
            } else {
                "success = 1".into()
            });
        }
        if has("finished_at").is_some() {
            filters.push("finished_at IS NOT NULL".into());
        }
        if has("rolled_back_at").is_some() {
            filters.push("rolled_back_at IS NULL".into());
        }
        if has("is_applied").is_some() {
            filters.push(if kind == EngineKind::Postgres {
                "is_applied IS TRUE".into()
            } else {
                "is_applied = 1".into()
            });
        }
        let order = ["installed_rank", "id"]
            .into_iter()
            .find(|c| has(c).is_some())
            .unwrap_or(version_col);
        let sql = format!(
            "SELECT {}, {} FROM {table} WHERE {} ORDER BY {order}",
            as_text(version_col),
            checksum_col.map(as_text).unwrap_or_else(|| "NULL".into()),
            filters.join(" AND ")
        );
        let Ok((_, rows)) = conn.query_text(&sql).await else {
            continue;
        };
        for r in rows {
            let mut it = r.into_iter();
            if let Some(Some(version)) = it.next() {
                out.push(AppliedMigration {
                    version,
                    checksum: it.next().flatten(),
                    table: Some(table.to_string()),
                });
            }
        }
    }
    Ok(out)
}

/// Differences between what a manifest recorded and what a restored database holds. MySQL
/// tables are matched by name only (the schema is the database name, which differs).
pub fn compare(
    m: &Manifest,
    kind: EngineKind,
    tables: &[TableRows],
    fingerprint: &str,
) -> Vec<String> {
    let key = |t: &TableRows| {
        if kind == EngineKind::Mysql {
            t.table.clone()
        } else {
            t.qualified()
        }
    };
    let mut out = Vec::new();
    for want in &m.tables {
        match tables.iter().find(|t| key(t) == key(want)) {
            None => out.push(format!("table {} is missing", key(want))),
            Some(got) if want.estimated => {
                let (a, b) = (want.rows as f64, got.rows as f64);
                if (a - b).abs() > (a.max(b) * 0.1).max(1000.0) {
                    out.push(format!(
                        "table {}: {} rows, the manifest estimated {}",
                        key(want),
                        got.rows,
                        want.rows
                    ));
                }
            }
            Some(got) if got.rows != want.rows => out.push(format!(
                "table {}: {} rows, the manifest says {}",
                key(want),
                got.rows,
                want.rows
            )),
            Some(_) => {}
        }
    }
    for got in tables {
        if !m.tables.iter().any(|w| key(w) == key(got)) {
            out.push(format!("table {} is not in the manifest", key(got)));
        }
    }
    if fingerprint != m.schema_fingerprint.sha256 {
        out.push(format!(
            "schema fingerprint {} differs from the manifest's {}",
            &fingerprint[..12.min(fingerprint.len())],
            &m.schema_fingerprint.sha256[..12.min(m.schema_fingerprint.sha256.len())]
        ));
    }
    out
}

/// The fingerprint of schema lines after replacing a scratch database's name with the original
/// one (MySQL view definitions name their database).
pub fn fingerprint_renamed(lines: &[String], from: &str, to: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut v: Vec<String> = lines
        .iter()
        .map(|l| l.replace(&format!("`{from}`"), &format!("`{to}`")))
        .collect();
    v.sort();
    v.dedup();
    atomic::hex(&Sha256::digest(v.join("\n").as_bytes()))
}
