//! SQLite integrity checks (`migsafe integrity-check`): `PRAGMA integrity_check` and
//! `PRAGMA foreign_key_check` per table (SQLite does not enforce foreign keys unless each
//! connection turns them on, so orphans are common). The connection is made `query_only` for the
//! run, and a progress-handler deadline stands in for a statement timeout.

use crate::engines::EngineError;
use crate::engines::conn::Conn;
use crate::engines::integrity::{
    Check, CostClass, DbFailure, EnginePlan, FailureKind, Level, PlanContext, Planned, Problem,
    Session, Severity, Sizes, TableSize, catalog_query, col, estimate, first_value,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A table's foreign keys: id → (parent, child columns, parent columns).
type FkMap = BTreeMap<String, (String, Vec<String>, Vec<String>)>;

use crate::sql::quote::double_quoted as qi;

use crate::sql::quote::standard_literal as lit;

/// `PRAGMA query_only = 1` for the run (even on a connection the caller opened read-write),
/// restored afterwards.
pub async fn session_start(conn: &mut Conn) -> Result<Session, EngineError> {
    let err = |e: sqlx::Error| EngineError::step("making the connection read-only", classify(&e));
    let (_, rows) = conn.query_text("PRAGMA query_only").await.map_err(err)?;
    let prior = rows.first().map(|r| col(r, 0) == "1").unwrap_or(false);
    conn.execute("PRAGMA query_only = 1").await.map_err(err)?;
    Ok(Session::new(vec![format!(
        "PRAGMA query_only = {}",
        if prior { 1 } else { 0 }
    )]))
}

pub async fn begin(conn: &mut Conn, timeout: Duration) -> Result<(), DbFailure> {
    let deadline = Instant::now() + timeout;
    if let Conn::Sqlite(c) = conn {
        let mut handle = c.lock_handle().await.map_err(|e| classify(&e))?;
        // returning false interrupts the statement (SQLITE_INTERRUPT)
        handle.set_progress_handler(1000, move || Instant::now() < deadline);
    }
    conn.execute("BEGIN").await.map_err(|e| classify(&e))?;
    Ok(())
}

pub async fn end(conn: &mut Conn) {
    let _ = conn.execute("ROLLBACK").await;
    if let Conn::Sqlite(c) = conn
        && let Ok(mut handle) = c.lock_handle().await
    {
        handle.remove_progress_handler();
    }
}

/// Result code → what the run does with the failure.
pub fn classify(e: &sqlx::Error) -> DbFailure {
    let (code, message) = match e {
        sqlx::Error::Database(db) => (
            db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0),
            db.message().to_string(),
        ),
        other => (0, other.to_string()),
    };
    let kind = match code & 0xff {
        9 => FailureKind::Timeout,
        5 | 6 => FailureKind::LockTimeout,
        11 | 26 => FailureKind::Corruption,
        3 | 23 => FailureKind::Unavailable,
        1 if message.starts_with("no such table") || message.starts_with("no such column") => {
            FailureKind::Unavailable
        }
        _ => FailureKind::Other,
    };
    DbFailure {
        kind,
        message: if code == 0 {
            message
        } else {
            format!("{message} (SQLite code {code})")
        },
    }
}

pub async fn plan(conn: &mut Conn, ctx: &PlanContext<'_>) -> Result<EnginePlan, EngineError> {
    let v = catalog_query(conn, "version and size", "SELECT sqlite_version(), (SELECT page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size())").await?;
    let server_version = v.first().map(|r| col(r, 0).to_string()).unwrap_or_default();
    let file_bytes: u64 = v.first().and_then(|r| col(r, 1).parse().ok()).unwrap_or(0);
    let tables = catalog_query(conn, "tables", "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").await?;
    // per-table sizes need the dbstat table, which not every build has: fall back to the whole
    // file for every table (pessimistic)
    let has_dbstat = catalog_query(
        conn,
        "modules",
        "SELECT sqlite_compileoption_used('ENABLE_DBSTAT_VTAB')",
    )
    .await?;
    let per_table: BTreeMap<String, u64> = if first_value(&has_dbstat) == Some("1") {
        catalog_query(
            conn,
            "table sizes",
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name",
        )
        .await?
        .iter()
        .map(|r| (col(r, 0).to_string(), col(r, 1).parse().unwrap_or(0)))
        .collect()
    } else {
        BTreeMap::new()
    };
    let sizes: Sizes = tables
        .iter()
        .map(|r| {
            let name = col(r, 0).to_string();
            let bytes = per_table.get(&name).copied().unwrap_or(file_bytes);
            ((String::new(), name), TableSize { bytes, rows: None })
        })
        .collect();
    let mut planned = Vec::new();
    if ctx.wants("sqlite-integrity") {
        planned.push(Planned::Run(integrity_check(file_bytes)));
    }
    if !ctx.wants("fk-orphans") {
        return Ok(EnginePlan {
            server_version,
            planned,
            sizes,
        });
    }
    let fks = catalog_query(conn, "foreign keys", "SELECT m.name, f.id, f.\"table\", f.\"from\", COALESCE(f.\"to\", '') FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq")
    .await?;
    // child table → fk id → (parent, child columns, parent columns)
    let mut by_table: BTreeMap<String, FkMap> = BTreeMap::new();
    for r in &fks {
        let e = by_table
            .entry(col(r, 0).to_string())
            .or_default()
            .entry(col(r, 1).to_string())
            .or_insert_with(|| (col(r, 2).to_string(), Vec::new(), Vec::new()));
        e.1.push(col(r, 3).to_string());
        e.2.push(col(r, 4).to_string());
    }
    for (table, fks) in by_table {
        let child_size = sizes
            .get(&(String::new(), table.clone()))
            .copied()
            .unwrap_or_default();
        let parent_size = fks
            .values()
            .map(|(p, _, _)| {
                sizes
                    .get(&(String::new(), p.clone()))
                    .copied()
                    .unwrap_or_default()
            })
            .fold(TableSize::default(), |a, b| TableSize {
                bytes: a.bytes + b.bytes,
                rows: None,
            });
        planned.push(Planned::Run(foreign_key_check(
            table,
            fks,
            estimate::anti_join(child_size, parent_size),
        )));
    }
    Ok(EnginePlan {
        server_version,
        planned,
        sizes,
    })
}

fn integrity_check(file_bytes: u64) -> Check {
    Check::query(
        "sqlite-integrity",
        "database",
        Level::Standard,
        CostClass::Scan,
        estimate::scan(TableSize {
            bytes: file_bytes * 2,
            rows: None,
        }),
        "PRAGMA integrity_check(100)".into(),
        Box::new(|rows| {
            if rows.len() == 1 && rows[0].first().cloned().flatten().as_deref() == Some("ok") {
                return Vec::new();
            }
            let lines: Vec<String> = rows.iter().map(|r| col(r, 0).to_string()).collect();
            let n = lines.len() as u64;
            vec![Problem {
                check: "sqlite-integrity",
                severity: Severity::Error,
                object: "database".into(),
                message: format!("PRAGMA integrity_check reports {n}{} problems", if n >= 100 { "+" } else { "" }),
                evidence: lines.iter().take(20).cloned().collect::<Vec<_>>().join("\n"),
                count: Some(n),
                fix: "If only indexes are named, REINDEX fixes them; otherwise copy the file aside and recover with `sqlite3 app.db .recover`, or restore from a verified backup".into(),
                inspect_sql: Some("PRAGMA integrity_check".into()),
            }]
        }),
    )
}

fn foreign_key_check(table: String, fks: FkMap, est: Duration) -> Check {
    let sql = format!(
        "SELECT rowid, fkid FROM pragma_foreign_key_check({})",
        lit(&table)
    );
    let inspect_base = qi(&table);
    let t2 = table.clone();
    Check::query(
        "fk-orphans",
        table,
        Level::Standard,
        CostClass::Scan,
        est,
        sql,
        Box::new(move |rows| {
            let mut by_fk: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for r in rows {
                by_fk
                    .entry(col(r, 1).to_string())
                    .or_default()
                    .push(col(r, 0).to_string());
            }
            by_fk
                .into_iter()
                .map(|(id, rowids)| {
                    let (parent, from, to) = fks.get(&id).cloned().unwrap_or_default();
                    let n = rowids.len() as u64;
                    let sample: Vec<String> = rowids.iter().take(5).cloned().collect();
                    let target = if to.iter().all(|c| c.is_empty()) { format!("{parent}'s primary key") } else { format!("{parent}({})", to.join(", ")) };
                    Problem {
                        check: "fk-orphans",
                        severity: Severity::Error,
                        object: format!("{t2}({}) → {parent}", from.join(", ")),
                        message: format!("{n} rows of {t2} reference {parent} rows that do not exist ({})", from.join(", ")),
                        evidence: format!("{n} orphan rows (rowid {}{}) against {target}; SQLite enforces foreign keys only on connections with PRAGMA foreign_keys = ON", sample.join(", "), if n > 5 { ", …" } else { "" }),
                        count: Some(n),
                        fix: format!("Insert the missing {parent} rows or delete the orphans, and turn PRAGMA foreign_keys = ON in every connection that writes"),
                        inspect_sql: Some(format!("SELECT c.rowid, c.* FROM {inspect_base} c WHERE c.rowid IN (SELECT rowid FROM pragma_foreign_key_check({}) WHERE fkid = {id})", lit(&t2))),
                    }
                })
                .collect()
        }),
    )
}

#[async_trait::async_trait]
impl crate::engines::integrity::IntegrityEngine for super::Sqlite {
    async fn session_start(&self, conn: &mut Conn) -> Result<Session, EngineError> {
        session_start(conn).await
    }
    async fn begin(
        &self,
        conn: &mut Conn,
        session: &Session,
        mode: &crate::engines::integrity::ExecMode,
        timeout: Duration,
    ) -> Result<(), DbFailure> {
        let _ = (session, mode);
        begin(conn, timeout).await
    }
    async fn end(&self, conn: &mut Conn, mode: &crate::engines::integrity::ExecMode) {
        let _ = mode;
        end(conn).await
    }
    fn classify(&self, e: &sqlx::Error) -> DbFailure {
        classify(e)
    }
    async fn plan(
        &self,
        conn: &mut Conn,
        ctx: &PlanContext<'_>,
    ) -> Result<EnginePlan, EngineError> {
        plan(conn, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_check_ok_is_clean_and_anything_else_is_a_problem() {
        let c = integrity_check(4096);
        let crate::engines::integrity::Exec::Query { judge, .. } = &c.exec else {
            panic!()
        };
        assert!(judge(&[vec![Some("ok".into())]]).is_empty());
        let p = judge(&[
            vec![Some("row 3 missing from index i".into())],
            vec![Some("wrong # of entries in index i".into())],
        ]);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].count, Some(2));
        assert!(p[0].evidence.contains("row 3 missing"));
        assert_eq!(judge(&[]).len(), 1, "no answer is not ok");
    }
}
