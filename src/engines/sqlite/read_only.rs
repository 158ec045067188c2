//! SQLite has no server, so it has no server-side read-only or maintenance mode: every process
//! that opens the file may write (`PRAGMA query_only` and read-only opens are per connection,
//! chosen by the application). The `modes` operation switches only the application layer
//! (hooks, `--flag-file`) for SQLite, and says so.

use super::Sqlite;
use crate::engines::EngineError;
use crate::engines::conn::Conn;
use crate::engines::modes::{Knob, Mode, ModeEngine, ModeOptions, ModePlan, OpenSession, Probe};

/// Why SQLite answers `Unsupported` to every server-side part of a mode.
pub const NO_SERVER_MODE: &str = "SQLite has no server-side read-only or maintenance mode: every process that opens the file can write (PRAGMA query_only and read-only opens are per connection, chosen by the application); only the application layer (hooks, --flag-file) can be switched";

fn unsupported() -> EngineError {
    EngineError::Unsupported(NO_SERVER_MODE.into())
}

#[async_trait::async_trait]
impl ModeEngine for Sqlite {
    fn server_side(&self) -> Result<(), &'static str> {
        Err(NO_SERVER_MODE)
    }

    async fn plan(
        &self,
        _: &mut Conn,
        _: &str,
        _: Mode,
        _: &ModeOptions,
    ) -> Result<ModePlan, EngineError> {
        Err(unsupported())
    }

    async fn read_knob(&self, _: &mut Conn, _: &Knob) -> Result<Option<String>, EngineError> {
        Err(unsupported())
    }

    async fn write_knob(&self, _: &mut Conn, _: &Knob, _: Option<&str>) -> Result<(), EngineError> {
        Err(unsupported())
    }

    fn clock_sql(&self) -> &'static str {
        "SELECT CAST(unixepoch('subsec') AS TEXT)"
    }

    async fn open_sessions(
        &self,
        _: &mut Conn,
        _: &str,
        _: &[String],
        _: bool,
    ) -> Result<Vec<OpenSession>, EngineError> {
        Err(unsupported())
    }

    async fn end_sessions(&self, _: &mut Conn, _: &[i64]) -> Result<u64, EngineError> {
        Err(unsupported())
    }

    async fn still_writable(
        &self,
        _: &mut Conn,
        _: &str,
        _: Mode,
        _: &ModeOptions,
    ) -> Result<Vec<String>, EngineError> {
        Err(unsupported())
    }

    async fn probe(&self, _: &str, _: &str, _: Mode, _: bool) -> Probe {
        Probe::Inconclusive {
            reason: NO_SERVER_MODE.into(),
        }
    }

    async fn writable_session(&self, _: &mut Conn) -> Result<(), EngineError> {
        Ok(())
    }
}
