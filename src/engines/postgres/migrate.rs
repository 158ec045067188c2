//! PostgreSQL migration sessions: session advisory locks (`pg_try_advisory_lock`), the holder
//! from `pg_locks` joined with `pg_stat_activity`, `lock_timeout` / `statement_timeout`, and
//! SQLSTATE 55P03 (lock not available) as the retryable failure.

use super::Postgres;
use super::admin::{ident, lit};
use crate::engines::EngineError;
use crate::engines::conn::Conn;
use crate::engines::migrate::{Failure, LockGuard, LockHolder, LockKey, MigrateEngine, Timeouts};
use crate::engines::observe::RawError;

/// SQLSTATE of a lock wait cut short by `lock_timeout`.
pub const LOCK_NOT_AVAILABLE: &str = "55P03";
/// SQLSTATE of a statement cancelled (`statement_timeout`, or by a user).
pub const QUERY_CANCELED: &str = "57014";

async fn one(conn: &mut Conn, what: &str, sql: &str) -> Result<Option<String>, EngineError> {
    let (_, rows) = conn
        .query_text(sql)
        .await
        .map_err(|e| EngineError::db(what, e))?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten()))
}

fn pg_interval(d: std::time::Duration) -> String {
    format!("'{}ms'", d.as_millis().max(1))
}

#[async_trait::async_trait]
impl MigrateEngine for Postgres {
    async fn database(&self, conn: &mut Conn) -> Result<String, EngineError> {
        one(
            conn,
            "reading current_database()",
            "SELECT current_database()::text",
        )
        .await?
        .ok_or_else(|| EngineError::step("reading current_database()", "no value"))
    }

    async fn schema(&self, conn: &mut Conn) -> Result<String, EngineError> {
        one(
            conn,
            "reading current_schema()",
            "SELECT current_schema()::text",
        )
        .await?
        .ok_or_else(|| {
            EngineError::step(
                "reading current_schema()",
                "no schema on the search_path exists: set search_path or create the schema",
            )
        })
    }

    async fn table_exists(
        &self,
        conn: &mut Conn,
        schema: Option<&str>,
        table: &str,
    ) -> Result<bool, EngineError> {
        let schema = match schema {
            Some(s) => lit(s),
            None => "current_schema()".to_string(),
        };
        let v = one(
            conn,
            "looking for the history table",
            &format!(
                "SELECT count(*)::text FROM pg_catalog.pg_tables WHERE schemaname = {schema} AND tablename = {}",
                lit(table)
            ),
        )
        .await?;
        Ok(v.as_deref().is_some_and(|n| n != "0"))
    }

    async fn try_lock(
        &self,
        conn: &mut Conn,
        key: &LockKey,
    ) -> Result<Option<LockGuard>, EngineError> {
        let LockKey::Advisory(k) = key else {
            return Err(EngineError::Unsupported(format!(
                "{key}: PostgreSQL takes advisory locks"
            )));
        };
        let v = one(
            conn,
            "taking the migration lock",
            &format!("SELECT pg_try_advisory_lock({k})::text"),
        )
        .await?;
        Ok((v.as_deref() == Some("true")).then(|| LockGuard {
            key: key.clone(),
            file: None,
        }))
    }

    async fn unlock(&self, conn: &mut Conn, guard: LockGuard) -> Result<(), EngineError> {
        if let LockKey::Advisory(k) = guard.key {
            one(
                conn,
                "releasing the migration lock",
                &format!("SELECT pg_advisory_unlock({k})::text"),
            )
            .await?;
        }
        Ok(())
    }

    async fn lock_holder(&self, conn: &mut Conn, key: &LockKey) -> Option<LockHolder> {
        let LockKey::Advisory(k) = key else {
            return None;
        };
        // a bigint key is stored as two oids: the high half in classid, the low in objid
        let high = ((*k as u64) >> 32) as u32;
        let low = (*k as u64 & 0xffff_ffff) as u32;
        let sql = format!(
            "SELECT a.pid::text, a.usename::text, a.application_name::text, \
                    COALESCE(a.client_addr::text, CASE WHEN a.client_port = -1 THEN 'local socket' END), \
                    to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), \
                    a.state || ': ' || left(regexp_replace(a.query, '\\s+', ' ', 'g'), 120) \
             FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
               AND l.classid = {high}::oid AND l.objid = {low}::oid \
               AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) \
             LIMIT 1"
        );
        let (_, rows) = conn.query_text(&sql).await.ok()?;
        let r = rows.into_iter().next()?;
        let cell = |i: usize| r.get(i).cloned().flatten();
        Some(LockHolder {
            session: format!("pid {}", cell(0)?),
            user: cell(1),
            application: cell(2),
            client: cell(3),
            since: cell(4),
            activity: cell(5),
        })
    }

    async fn session(&self, conn: &mut Conn) -> Result<Option<String>, EngineError> {
        one(
            conn,
            "reading this session",
            "SELECT pid::text || '@' || backend_start::text FROM pg_catalog.pg_stat_activity WHERE pid = pg_backend_pid()",
        )
        .await
    }

    async fn end_session(
        &self,
        conn: &mut Conn,
        session: &str,
        wait: std::time::Duration,
    ) -> Result<bool, EngineError> {
        let Some((pid, start)) = session.split_once('@') else {
            return Ok(false);
        };
        let Ok(pid) = pid.parse::<i32>() else {
            return Ok(false);
        };
        let this = format!(
            "FROM pg_catalog.pg_stat_activity WHERE pid = {pid} AND backend_start::text = {}",
            lit(start)
        );
        crate::engines::migrate::end_session_with(
            conn,
            &format!("SELECT count(*)::text {this}"),
            &format!("SELECT pg_terminate_backend(pid) {this}"),
            &format!("session {pid}"),
            wait,
        )
        .await
    }

    async fn label_session(&self, conn: &mut Conn, label: &str) -> Result<(), EngineError> {
        // application_name is at most 63 bytes
        let mut l: String = label
            .chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .collect();
        l.truncate(63);
        conn.execute(&format!("SET application_name = {}", lit(&l)))
            .await
            .map(|_| ())
            .map_err(|e| EngineError::db("setting application_name", e))
    }

    async fn set_timeouts(&self, conn: &mut Conn, t: &Timeouts) -> Result<(), EngineError> {
        let stmt = t.statement.map(pg_interval).unwrap_or_else(|| "0".into());
        conn.execute(&format!(
            "SET lock_timeout = {}; SET statement_timeout = {stmt}",
            pg_interval(t.lock)
        ))
        .await
        .map(|_| ())
        .map_err(|e| EngineError::db("setting lock_timeout and statement_timeout", e))
    }

    fn failure(&self, e: &RawError) -> Failure {
        match e.sqlstate.as_deref() {
            Some(LOCK_NOT_AVAILABLE) => Failure::LockTimeout,
            Some(QUERY_CANCELED) if e.message.contains("statement timeout") => {
                Failure::StatementTimeout
            }
            _ => Failure::Other,
        }
    }

    fn str_lit(&self, s: &str) -> String {
        lit(s)
    }

    fn bytes_lit(&self, b: &[u8]) -> String {
        format!("decode('{}', 'hex')", crate::sys::hex::hex(b))
    }

    fn truthy(&self, col: &str) -> String {
        format!("CASE WHEN {col} THEN 1 ELSE 0 END")
    }

    fn text(&self, col: &str) -> String {
        format!("({col})::text")
    }

    fn hex(&self, col: &str) -> String {
        format!("encode({col}, 'hex')")
    }

    fn ident(&self, s: &str) -> String {
        ident(s)
    }
}
