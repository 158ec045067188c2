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
    let migrations = applied_migrations(conn).await;
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

/// Applied migrations from whichever known history tables exist (DESIGN.md §3), read by
/// [`crate::history`] as each tool reads its own table: the rows the tool counts as applied.
pub async fn applied_migrations(conn: &mut Conn) -> Vec<AppliedMigration> {
    let kind = conn.kind();
    let mut out = Vec::new();
    for h in crate::history::read_all(conn).await {
        let table = match h.tool.spec().table(kind) {
            (Some(schema), name) => format!("{schema}.{name}"),
            (None, name) => name.to_string(),
        };
        for e in h.entries.into_iter().filter(|e| {
            matches!(
                e.state,
                crate::history::EntryState::Applied | crate::history::EntryState::Baseline
            )
        }) {
            out.push(AppliedMigration {
                version: e.version,
                checksum: e.checksum,
                table: Some(table.clone()),
            });
        }
    }
    out
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
