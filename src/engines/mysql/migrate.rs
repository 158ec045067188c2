//! MySQL/MariaDB migration sessions: named locks (`GET_LOCK(name, 0)`), the holder from
//! `IS_USED_LOCK` and the process list, `lock_wait_timeout` (metadata locks) with
//! `innodb_lock_wait_timeout` (row locks) and MariaDB's `max_statement_time`, and error 1205
//! (lock wait timeout exceeded) as the retryable failure.

use super::Mysql;
use super::admin::{ident, lit};
use crate::engines::EngineError;
use crate::engines::conn::Conn;
use crate::engines::migrate::{Failure, LockGuard, LockHolder, LockKey, MigrateEngine, Timeouts};
use crate::engines::observe::RawError;

/// ER_LOCK_WAIT_TIMEOUT: a metadata or row lock wait exceeded its timeout.
pub const LOCK_WAIT_TIMEOUT: u32 = 1205;
/// ER_STATEMENT_TIMEOUT (MariaDB `max_statement_time`) and MySQL's ER_QUERY_TIMEOUT.
pub const STATEMENT_TIMEOUTS: [u32; 2] = [1969, 3024];

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

#[async_trait::async_trait]
impl MigrateEngine for Mysql {
    async fn database(&self, conn: &mut Conn) -> Result<String, EngineError> {
        one(
            conn,
            "reading DATABASE()",
            "SELECT CAST(DATABASE() AS CHAR)",
        )
        .await?
        .ok_or_else(|| {
            EngineError::step(
                "reading DATABASE()",
                "no database selected: put the database name in the URL",
            )
        })
    }

    async fn schema(&self, conn: &mut Conn) -> Result<String, EngineError> {
        self.database(conn).await
    }

    async fn table_exists(
        &self,
        conn: &mut Conn,
        schema: Option<&str>,
        table: &str,
    ) -> Result<bool, EngineError> {
        let schema = match schema {
            Some(s) => lit(s),
            None => "DATABASE()".to_string(),
        };
        let v = one(
            conn,
            "looking for the history table",
            &format!(
                "SELECT CAST(COUNT(*) AS CHAR) FROM information_schema.tables WHERE table_schema = {schema} AND table_name = {}",
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
        let LockKey::Named(n) = key else {
            return Err(EngineError::Unsupported(format!(
                "{key}: MySQL takes named locks"
            )));
        };
        let v = one(
            conn,
            "taking the migration lock",
            &format!("SELECT CAST(GET_LOCK({}, 0) AS CHAR)", lit(n)),
        )
        .await?;
        Ok((v.as_deref() == Some("1")).then(|| LockGuard {
            key: key.clone(),
            file: None,
        }))
    }

    async fn unlock(&self, conn: &mut Conn, guard: LockGuard) -> Result<(), EngineError> {
        if let LockKey::Named(n) = &guard.key {
            one(
                conn,
                "releasing the migration lock",
                &format!("SELECT CAST(RELEASE_LOCK({}) AS CHAR)", lit(n)),
            )
            .await?;
        }
        Ok(())
    }

    async fn lock_holder(&self, conn: &mut Conn, key: &LockKey) -> Option<LockHolder> {
        let LockKey::Named(n) = key else {
            return None;
        };
        let id = one(
            conn,
            "",
            &format!("SELECT CAST(IS_USED_LOCK({}) AS CHAR)", lit(n)),
        )
        .await
        .ok()
        .flatten()?;
        let id: u64 = id.parse().ok()?;
        let (_, rows) = conn
            .query_text(&format!(
                "SELECT CAST(USER AS CHAR), CAST(HOST AS CHAR), CAST(COMMAND AS CHAR), CAST(TIME AS CHAR), CAST(LEFT(INFO, 120) AS CHAR) \
                 FROM information_schema.PROCESSLIST WHERE ID = {id}"
            ))
            .await
            .ok()?;
        let r = rows.into_iter().next().unwrap_or_default();
        let cell = |i: usize| r.get(i).cloned().flatten();
        Some(LockHolder {
            session: format!("connection {id}"),
            user: cell(0),
            client: cell(1),
            application: None,
            since: cell(3).map(|t| format!("{t} s in its current state")),
            activity: match (cell(2), cell(4)) {
                (Some(c), Some(q)) => Some(format!("{c}: {q}")),
                (c, _) => c,
            },
        })
    }

    async fn session(&self, conn: &mut Conn) -> Result<Option<String>, EngineError> {
        one(
            conn,
            "reading CONNECTION_ID()",
            "SELECT CAST(CONNECTION_ID() AS CHAR)",
        )
        .await
    }

    async fn end_session(
        &self,
        conn: &mut Conn,
        session: &str,
        wait: std::time::Duration,
    ) -> Result<bool, EngineError> {
        let Ok(id) = session.parse::<u64>() else {
            return Ok(false);
        };
        crate::engines::migrate::end_session_with(
            conn,
            &format!(
                "SELECT CAST(COUNT(*) AS CHAR) FROM information_schema.PROCESSLIST WHERE ID = {id}"
            ),
            &format!("KILL {id}"),
            &format!("connection {id}"),
            wait,
        )
        .await
    }

    async fn label_session(&self, conn: &mut Conn, label: &str) -> Result<(), EngineError> {
        // no application name on MySQL: a session variable shows in performance_schema
        conn.execute(&format!("SET @migsafe_session = {}", lit(label)))
            .await
            .map(|_| ())
            .map_err(|e| EngineError::db("labelling the session", e))
    }

    async fn set_timeouts(&self, conn: &mut Conn, t: &Timeouts) -> Result<(), EngineError> {
        // both take whole seconds, at least 1
        let secs = t.lock.as_secs().max(1);
        conn.execute(&format!(
            "SET SESSION lock_wait_timeout = {secs}, SESSION innodb_lock_wait_timeout = {secs}"
        ))
        .await
        .map_err(|e| EngineError::db("setting lock_wait_timeout", e))?;
        let mariadb = one(
            conn,
            "reading the server version",
            "SELECT CAST(VERSION() AS CHAR)",
        )
        .await?
        .is_some_and(|v| v.to_ascii_lowercase().contains("mariadb"));
        if mariadb {
            let stmt = t.statement.map(|d| d.as_secs_f64()).unwrap_or(0.0);
            conn.execute(&format!("SET SESSION max_statement_time = {stmt}"))
                .await
                .map_err(|e| EngineError::db("setting max_statement_time", e))?;
        }
        // MySQL's max_execution_time bounds SELECTs only: DDL has no statement timeout there
        Ok(())
    }

    fn failure(&self, e: &RawError) -> Failure {
        match e.code {
            Some(LOCK_WAIT_TIMEOUT) => Failure::LockTimeout,
            Some(c) if STATEMENT_TIMEOUTS.contains(&c) => Failure::StatementTimeout,
            _ => Failure::Other,
        }
    }

    fn str_lit(&self, s: &str) -> String {
        lit(s)
    }

    fn bytes_lit(&self, b: &[u8]) -> String {
        format!("X'{}'", crate::sys::hex::hex(b))
    }

    fn text(&self, col: &str) -> String {
        format!("CAST({col} AS CHAR)")
    }

    fn hex(&self, col: &str) -> String {
        format!("LOWER(HEX({col}))")
    }

    fn ident(&self, s: &str) -> String {
        ident(s)
    }
}
