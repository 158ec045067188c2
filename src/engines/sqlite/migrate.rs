//! SQLite migration sessions: no server, so the migration lock is an exclusive `flock` on
//! `<database>-migsafe.lock` beside the database file (the holder writes its process id, host
//! and start time into it); lock waits are `busy_timeout`; SQLITE_BUSY (5) and SQLITE_LOCKED
//! (6) are the retryable failures.

use super::Sqlite;
use super::dry_run::ident;
use crate::engines::EngineError;
use crate::engines::conn::Conn;
use crate::engines::migrate::{Failure, LockGuard, LockHolder, LockKey, MigrateEngine, Timeouts};
use crate::engines::observe::RawError;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;

use crate::sql::quote::standard_literal as lit;

#[async_trait::async_trait]
impl MigrateEngine for Sqlite {
    async fn database(&self, _conn: &mut Conn) -> Result<String, EngineError> {
        Ok("main".into())
    }

    async fn schema(&self, _conn: &mut Conn) -> Result<String, EngineError> {
        Ok("main".into())
    }

    async fn table_exists(
        &self,
        conn: &mut Conn,
        _schema: Option<&str>,
        table: &str,
    ) -> Result<bool, EngineError> {
        let (_, rows) = conn
            .query_text(&format!(
                "SELECT CAST(count(*) AS TEXT) FROM sqlite_master WHERE type = 'table' AND name = {}",
                lit(table)
            ))
            .await
            .map_err(|e| EngineError::db("looking for the history table", e))?;
        Ok(rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .is_some_and(|n| n != "0"))
    }

    async fn try_lock(
        &self,
        _conn: &mut Conn,
        key: &LockKey,
    ) -> Result<Option<LockGuard>, EngineError> {
        let LockKey::File(path) = key else {
            return Err(EngineError::Unsupported(format!(
                "{key}: SQLite locks a file beside the database"
            )));
        };
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| EngineError::Io(format!("{}: {e}", path.display())))?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Ok(None);
            }
            return Err(EngineError::Io(format!("{}: {err}", path.display())));
        }
        let who = format!(
            "{} {} {}\n",
            std::process::id(),
            crate::sys::proc::hostname(),
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
        );
        let _ = f.set_len(0);
        let _ = f.rewind();
        let _ = f.write_all(who.as_bytes());
        let _ = f.sync_data();
        Ok(Some(LockGuard {
            key: key.clone(),
            file: Some(f),
        }))
    }

    async fn unlock(&self, _conn: &mut Conn, guard: LockGuard) -> Result<(), EngineError> {
        // closing the descriptor releases the flock; the file stays (removing it would race
        // with a waiter that already opened it)
        drop(guard);
        Ok(())
    }

    async fn lock_holder(&self, _conn: &mut Conn, key: &LockKey) -> Option<LockHolder> {
        let LockKey::File(path) = key else {
            return None;
        };
        let mut text = String::new();
        std::fs::File::open(path)
            .ok()?
            .read_to_string(&mut text)
            .ok()?;
        let mut parts = text.split_whitespace();
        let pid = parts.next()?.to_string();
        let host = parts.next().map(String::from);
        let since: Vec<&str> = parts.collect();
        Some(LockHolder {
            session: format!("process {pid}"),
            client: host,
            since: (!since.is_empty()).then(|| since.join(" ")),
            ..LockHolder::default()
        })
    }

    async fn session(&self, _conn: &mut Conn) -> Result<Option<String>, EngineError> {
        Ok(None)
    }

    async fn end_session(
        &self,
        _conn: &mut Conn,
        _session: &str,
        _wait: std::time::Duration,
    ) -> Result<bool, EngineError> {
        Ok(false)
    }

    async fn label_session(&self, _conn: &mut Conn, _label: &str) -> Result<(), EngineError> {
        Ok(())
    }

    async fn set_timeouts(&self, conn: &mut Conn, t: &Timeouts) -> Result<(), EngineError> {
        conn.execute(&format!(
            "PRAGMA busy_timeout = {}",
            t.lock.as_millis().max(1)
        ))
        .await
        .map(|_| ())
        .map_err(|e| EngineError::db("setting busy_timeout", e))
    }

    fn failure(&self, e: &RawError) -> Failure {
        // extended codes keep the primary code in the low byte
        match e.code.map(|c| c & 0xff) {
            Some(5 | 6) => Failure::LockTimeout,
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
        format!("CAST({col} AS TEXT)")
    }

    fn hex(&self, col: &str) -> String {
        format!("lower(hex({col}))")
    }

    fn ident(&self, s: &str) -> String {
        ident(s)
    }
}
