//! A throwaway SQLite database: a file in a private workspace (a copy of the source database when
//! there is one), removed on drop, on Ctrl-C, or by the next run.

use crate::engines::EngineError;
use crate::engines::process::Workspace;
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug)]
pub struct EphemeralSqlite {
    ws: Workspace,
    path: PathBuf,
}

impl EphemeralSqlite {
    /// An empty database, or a consistent copy of `source` (made with `VACUUM INTO`, so a database
    /// in use is copied safely).
    pub async fn start(source: Option<&Path>) -> Result<EphemeralSqlite, EngineError> {
        crate::engines::process::reap_orphans();
        let mut ws = Workspace::create("sqlite", libc::SIGTERM)?;
        let path = ws.path.join("db.sqlite");
        if let Some(src) = source {
            let copy = async {
                let mut conn = SqliteConnection::connect_with(
                    &SqliteConnectOptions::new().filename(src).read_only(true),
                )
                .await?;
                sqlx::query("VACUUM INTO ?")
                    .bind(path.display().to_string())
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            };
            if let Err(e) = copy.await {
                ws.teardown(Duration::ZERO);
                return Err(EngineError::step(format!("copying {}", src.display()), e));
            }
        }
        Ok(EphemeralSqlite { ws, path })
    }

    pub fn connect_options(&self) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(&self.path)
            .create_if_missing(true)
            .foreign_keys(true)
    }

    pub async fn connect(&self) -> Result<SqliteConnection, EngineError> {
        SqliteConnection::connect_with(&self.connect_options())
            .await
            .map_err(|e| EngineError::Connect {
                target: "ephemeral SQLite database".into(),
                message: e.to_string(),
            })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn workspace(&self) -> &Path {
        &self.ws.path
    }
}

impl Drop for EphemeralSqlite {
    fn drop(&mut self) {
        self.ws.teardown(Duration::ZERO);
    }
}
