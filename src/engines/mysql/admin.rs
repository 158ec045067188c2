//! MySQL/MariaDB administration: databases in `information_schema`, sessions in the process list
//! (`KILL CONNECTION` for all but our own), the global `read_only`. There is no RENAME DATABASE
//! and no per-database connection switch. The marker of an unfinished operation is a row in
//! `_migsafe.operations`, a small table in a schema of its own so that it never shows up among
//! the restored database's tables.

use super::Mysql;
use crate::engines::EngineError;
use crate::engines::admin::{
    Admin, DatabaseState, Marker, SessionInfo, cell, exec, rows, unsupported,
};
use crate::engines::conn::Conn;
use crate::engines::target::Target;

/// The schema holding migsafe's markers.
pub const MARKER_SCHEMA: &str = "_migsafe";

pub use crate::sql::quote::backquoted as ident;

pub use crate::sql::quote::mysql_literal as lit;

#[async_trait::async_trait]
impl Admin for Mysql {
    fn has_server(&self) -> bool {
        true
    }

    async fn connect_admin(&self, target: &Target) -> Result<Conn, EngineError> {
        let Target::Mysql(t) = target else {
            return Err(EngineError::Unsupported(format!(
                "{} is not a MySQL/MariaDB database",
                target.redacted()
            )));
        };
        Conn::open(&t.sqlx_url("information_schema")).await
    }

    async fn databases(&self, conn: &mut Conn) -> Result<Vec<String>, EngineError> {
        let r = rows(
            conn,
            "listing databases",
            "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata ORDER BY 1",
        )
        .await?;
        Ok(r.into_iter().filter_map(|r| cell(&r, 0)).collect())
    }

    async fn database_state(
        &self,
        conn: &mut Conn,
        db: &str,
    ) -> Result<DatabaseState, EngineError> {
        let exists = self.databases(conn).await?.iter().any(|d| d == db);
        Ok(DatabaseState {
            name: db.to_string(),
            exists,
            ..DatabaseState::default()
        })
    }

    async fn drop_database(&self, conn: &mut Conn, db: &str) -> Result<(), EngineError> {
        exec(
            conn,
            &format!("dropping {db}"),
            &format!("DROP DATABASE IF EXISTS {}", ident(db)),
        )
        .await
    }

    async fn rename_database(&self, _: &mut Conn, _: &str, _: &str) -> Result<(), EngineError> {
        Err(unsupported("MySQL/MariaDB", "RENAME DATABASE"))
    }

    async fn set_allow_connections(
        &self,
        _: &mut Conn,
        _: &str,
        _: bool,
    ) -> Result<(), EngineError> {
        Err(unsupported(
            "MySQL/MariaDB",
            "per-database connection switch (lock the application accounts instead)",
        ))
    }

    async fn set_connection_limit(&self, _: &mut Conn, _: &str, _: i64) -> Result<(), EngineError> {
        Err(unsupported(
            "MySQL/MariaDB",
            "per-database connection limit",
        ))
    }

    async fn set_database_setting(
        &self,
        _: &mut Conn,
        _: &str,
        _: &str,
        _: Option<&str>,
    ) -> Result<(), EngineError> {
        Err(unsupported("MySQL/MariaDB", "database-level settings"))
    }

    async fn session_id(&self, conn: &mut Conn) -> Result<i64, EngineError> {
        let r = rows(
            conn,
            "reading CONNECTION_ID()",
            "SELECT CAST(CONNECTION_ID() AS CHAR)",
        )
        .await?;
        r.first()
            .and_then(|r| cell(r, 0))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| EngineError::step("reading CONNECTION_ID()", "no value"))
    }

    async fn sessions(
        &self,
        conn: &mut Conn,
        db: &str,
        except: &[i64],
    ) -> Result<Vec<SessionInfo>, EngineError> {
        let r = rows(
            conn,
            "reading the process list",
            &format!(
                "SELECT CAST(p.id AS CHAR), CAST(p.user AS CHAR), CAST(IFNULL(p.host, '') AS CHAR), CAST(IFNULL(p.command, '') AS CHAR), \
                        CAST(EXISTS (SELECT 1 FROM information_schema.innodb_trx t WHERE t.trx_mysql_thread_id = p.id AND t.trx_rows_modified > 0) AS CHAR) \
                 FROM information_schema.processlist p WHERE p.db = {} AND p.id <> CONNECTION_ID() ORDER BY p.id",
                lit(db)
            ),
        )
        .await?;
        Ok(r.into_iter()
            .map(|r| SessionInfo {
                id: cell(&r, 0).and_then(|v| v.parse().ok()).unwrap_or(0),
                user: cell(&r, 1).unwrap_or_default(),
                application: cell(&r, 2).unwrap_or_default(),
                state: cell(&r, 3).unwrap_or_default(),
                writing: cell(&r, 4).as_deref() == Some("1"),
            })
            .filter(|s| !except.contains(&s.id))
            .collect())
    }

    async fn terminate_sessions(
        &self,
        conn: &mut Conn,
        db: &str,
        except: &[i64],
    ) -> Result<u64, EngineError> {
        let mut n = 0;
        for s in self.sessions(conn, db, except).await? {
            // a session that ended meanwhile is not an error
            if conn
                .execute(&format!("KILL CONNECTION {}", s.id))
                .await
                .is_ok()
            {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn read_only(&self, conn: &mut Conn, _db: &str) -> Result<bool, EngineError> {
        let r = rows(
            conn,
            "reading read_only",
            "SELECT CAST(@@global.read_only AS CHAR)",
        )
        .await?;
        // `1` on MySQL, `ON` on MariaDB 10.11+ (where read_only is no longer a plain boolean)
        Ok(r.first()
            .and_then(|r| cell(r, 0))
            .is_some_and(|v| crate::engines::modes::truthy(&v)))
    }

    async fn set_read_only(&self, conn: &mut Conn, _db: &str, on: bool) -> Result<(), EngineError> {
        exec(
            conn,
            "setting read_only",
            &format!("SET GLOBAL read_only = {}", if on { "ON" } else { "OFF" }),
        )
        .await
    }

    async fn set_marker(
        &self,
        conn: &mut Conn,
        db: &str,
        marker: &Marker,
    ) -> Result<(), EngineError> {
        let json = serde_json::to_string(marker).map_err(|e| EngineError::Io(e.to_string()))?;
        let s = ident(MARKER_SCHEMA);
        exec(
            conn,
            "creating the migsafe marker schema",
            &format!("CREATE DATABASE IF NOT EXISTS {s}"),
        )
        .await?;
        exec(
            conn,
            "creating the migsafe marker table",
            &format!("CREATE TABLE IF NOT EXISTS {s}.operations (database_name VARCHAR(64) NOT NULL, operation VARCHAR(128) NOT NULL, marker TEXT NOT NULL, PRIMARY KEY (database_name, operation))"),
        )
        .await?;
        exec(
            conn,
            "writing the migsafe marker",
            &format!(
                "REPLACE INTO {s}.operations VALUES ({}, {}, {})",
                lit(db),
                lit(&marker.operation),
                lit(&json)
            ),
        )
        .await
    }

    async fn clear_marker(
        &self,
        conn: &mut Conn,
        db: &str,
        operation: &str,
    ) -> Result<(), EngineError> {
        let mine = self
            .markers(conn)
            .await?
            .into_iter()
            .any(|(d, m)| d == db && m.operation == operation);
        if mine {
            exec(
                conn,
                "removing the migsafe marker",
                &format!(
                    "DELETE FROM {}.operations WHERE database_name = {} AND operation = {}",
                    ident(MARKER_SCHEMA),
                    lit(db),
                    lit(operation)
                ),
            )
            .await?;
        }
        Ok(())
    }

    async fn markers(&self, conn: &mut Conn) -> Result<Vec<(String, Marker)>, EngineError> {
        let exists = rows(
            conn,
            "looking for migsafe markers",
            &format!(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = {} AND table_name = 'operations'",
                lit(MARKER_SCHEMA)
            ),
        )
        .await?;
        if exists.is_empty() {
            return Ok(Vec::new());
        }
        let r = rows(
            conn,
            "reading migsafe markers",
            &format!(
                "SELECT CAST(database_name AS CHAR), CAST(marker AS CHAR) FROM {}.operations ORDER BY 1",
                ident(MARKER_SCHEMA)
            ),
        )
        .await?;
        Ok(r.into_iter()
            .filter_map(|r| Some((cell(&r, 0)?, serde_json::from_str(&cell(&r, 1)?).ok()?)))
            .collect())
    }
}
