//! SQLite has no server: no sessions to drain, no connection switch, no names but file names.
//! Restores replace the file in one rename under an exclusive lock, so nothing here is needed;
//! every method says so.

use super::Sqlite;
use crate::engines::EngineError;
use crate::engines::admin::{Admin, DatabaseState, Marker, SessionInfo, unsupported};
use crate::engines::conn::Conn;
use crate::engines::target::Target;

const WHAT: &str = "SQLite (a file, no server)";

#[async_trait::async_trait]
impl Admin for Sqlite {
    fn has_server(&self) -> bool {
        false
    }
    async fn connect_admin(&self, _: &Target) -> Result<Conn, EngineError> {
        Err(unsupported(WHAT, "server to administer"))
    }
    async fn databases(&self, _: &mut Conn) -> Result<Vec<String>, EngineError> {
        Err(unsupported(WHAT, "list of databases"))
    }
    async fn database_state(&self, _: &mut Conn, _: &str) -> Result<DatabaseState, EngineError> {
        Err(unsupported(WHAT, "database settings"))
    }
    async fn drop_database(&self, _: &mut Conn, _: &str) -> Result<(), EngineError> {
        Err(unsupported(WHAT, "DROP DATABASE"))
    }
    async fn rename_database(&self, _: &mut Conn, _: &str, _: &str) -> Result<(), EngineError> {
        Err(unsupported(WHAT, "RENAME DATABASE"))
    }
    async fn set_allow_connections(
        &self,
        _: &mut Conn,
        _: &str,
        _: bool,
    ) -> Result<(), EngineError> {
        Err(unsupported(WHAT, "connection switch"))
    }
    async fn set_connection_limit(&self, _: &mut Conn, _: &str, _: i64) -> Result<(), EngineError> {
        Err(unsupported(WHAT, "connection limit"))
    }
    async fn set_database_setting(
        &self,
        _: &mut Conn,
        _: &str,
        _: &str,
        _: Option<&str>,
    ) -> Result<(), EngineError> {
        Err(unsupported(WHAT, "database-level settings"))
    }
    async fn session_id(&self, _: &mut Conn) -> Result<i64, EngineError> {
        Err(unsupported(WHAT, "sessions"))
    }
    async fn sessions(
        &self,
        _: &mut Conn,
        _: &str,
        _: &[i64],
    ) -> Result<Vec<SessionInfo>, EngineError> {
        Err(unsupported(WHAT, "session list"))
    }
    async fn terminate_sessions(
        &self,
        _: &mut Conn,
        _: &str,
        _: &[i64],
    ) -> Result<u64, EngineError> {
        Err(unsupported(WHAT, "sessions to terminate"))
    }
    async fn read_only(&self, _: &mut Conn, _: &str) -> Result<bool, EngineError> {
        Err(unsupported(WHAT, "server-side read-only mode"))
    }
    async fn set_read_only(&self, _: &mut Conn, _: &str, _: bool) -> Result<(), EngineError> {
        Err(unsupported(WHAT, "server-side read-only mode"))
    }
    async fn set_marker(&self, _: &mut Conn, _: &str, _: &Marker) -> Result<(), EngineError> {
        Err(unsupported(WHAT, "place for a marker"))
    }
    async fn clear_marker(&self, _: &mut Conn, _: &str, _: &str) -> Result<(), EngineError> {
        Err(unsupported(WHAT, "place for a marker"))
    }
    async fn markers(&self, _: &mut Conn) -> Result<Vec<(String, Marker)>, EngineError> {
        Ok(Vec::new())
    }
}
