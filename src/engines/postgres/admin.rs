//! PostgreSQL administration: database settings in `pg_database` and `pg_db_role_setting`,
//! sessions in `pg_stat_activity`, `ALTER DATABASE` for connections, limits, names and settings.
//! The markers of unfinished operations are a database-level setting, `migsafe.operation` (a
//! JSON array, one entry per operation): it lives in a shared catalog (visible from any database
//! of the cluster, even one that refuses connections), follows the database through a rename,
//! and means nothing to applications.

use super::Postgres;
use crate::engines::EngineError;
use crate::engines::admin::{Admin, DatabaseState, Marker, SessionInfo, cell, exec, rows};
use crate::engines::conn::Conn;
use crate::engines::target::Target;

/// The database-level setting that carries migsafe's marker.
pub const MARKER_SETTING: &str = "migsafe.operation";

pub use crate::sql::quote::double_quoted as ident;

pub use crate::sql::quote::standard_literal as lit;

/// ` AND pid NOT IN (…)` for sessions to spare.
fn spare(except: &[i64]) -> String {
    if except.is_empty() {
        String::new()
    } else {
        let ids: Vec<String> = except.iter().map(|p| p.to_string()).collect();
        format!(" AND pid NOT IN ({})", ids.join(", "))
    }
}

/// `name=value` entries of a `setconfig` array, as text rows.
fn settings_of(rows: Vec<Vec<Option<String>>>) -> Vec<String> {
    let mut v: Vec<String> = rows
        .into_iter()
        .filter_map(|r| cell(&r, 0))
        .filter(|s| !s.starts_with(&format!("{MARKER_SETTING}=")))
        .collect();
    v.sort();
    v
}

#[async_trait::async_trait]
impl Admin for Postgres {
    fn has_server(&self) -> bool {
        true
    }

    async fn connect_admin(&self, target: &Target) -> Result<Conn, EngineError> {
        let Target::Postgres(t) = target else {
            return Err(EngineError::Unsupported(format!(
                "{} is not a PostgreSQL database",
                target.redacted()
            )));
        };
        match Conn::open(&t.sqlx_url("postgres")).await {
            Ok(c) => Ok(c),
            Err(first) => Conn::open(&t.sqlx_url("template1"))
                .await
                .map_err(|_| first),
        }
    }

    async fn databases(&self, conn: &mut Conn) -> Result<Vec<String>, EngineError> {
        let r = rows(
            conn,
            "listing databases",
            "SELECT datname::text FROM pg_database ORDER BY 1",
        )
        .await?;
        Ok(r.into_iter().filter_map(|r| cell(&r, 0)).collect())
    }

    async fn database_state(
        &self,
        conn: &mut Conn,
        db: &str,
    ) -> Result<DatabaseState, EngineError> {
        let r = rows(
            conn,
            "reading pg_database",
            &format!(
                "SELECT pg_get_userbyid(datdba)::text, datallowconn::text, datconnlimit::text FROM pg_database WHERE datname = {}",
                lit(db)
            ),
        )
        .await?;
        let Some(row) = r.into_iter().next() else {
            return Ok(DatabaseState {
                name: db.to_string(),
                ..DatabaseState::default()
            });
        };
        let settings = rows(
            conn,
            "reading database settings",
            &format!(
                "SELECT c FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) c \
                 WHERE s.setrole = 0 AND d.datname = {}",
                lit(db)
            ),
        )
        .await?;
        Ok(DatabaseState {
            name: db.to_string(),
            exists: true,
            owner: cell(&row, 0),
            allow_connections: cell(&row, 1).map(|v| v == "true"),
            connection_limit: cell(&row, 2).and_then(|v| v.parse().ok()),
            settings: settings_of(settings),
        })
    }

    async fn drop_database(&self, conn: &mut Conn, db: &str) -> Result<(), EngineError> {
        // connections of our own (a failed verification's) may linger for a moment
        let _ = self.terminate_sessions(conn, db, &[]).await;
        exec(
            conn,
            &format!("dropping {db}"),
            &format!("DROP DATABASE IF EXISTS {}", ident(db)),
        )
        .await
    }

    async fn rename_database(
        &self,
        conn: &mut Conn,
        from: &str,
        to: &str,
    ) -> Result<(), EngineError> {
        exec(
            conn,
            &format!("renaming {from} to {to}"),
            &format!("ALTER DATABASE {} RENAME TO {}", ident(from), ident(to)),
        )
        .await
    }

    async fn set_allow_connections(
        &self,
        conn: &mut Conn,
        db: &str,
        allow: bool,
    ) -> Result<(), EngineError> {
        exec(
            conn,
            &format!("setting ALLOW_CONNECTIONS {allow} on {db}"),
            &format!(
                "ALTER DATABASE {} WITH ALLOW_CONNECTIONS {allow}",
                ident(db)
            ),
        )
        .await
    }

    async fn set_connection_limit(
        &self,
        conn: &mut Conn,
        db: &str,
        limit: i64,
    ) -> Result<(), EngineError> {
        exec(
            conn,
            &format!("setting CONNECTION LIMIT {limit} on {db}"),
            &format!("ALTER DATABASE {} WITH CONNECTION LIMIT {limit}", ident(db)),
        )
        .await
    }

    async fn set_database_setting(
        &self,
        conn: &mut Conn,
        db: &str,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), EngineError> {
        let sql = match value {
            Some(v) => format!(
                "ALTER DATABASE {} SET {} TO {}",
                ident(db),
                ident(name),
                lit(v)
            ),
            None => format!("ALTER DATABASE {} RESET {}", ident(db), ident(name)),
        };
        exec(conn, &format!("changing {name} on {db}"), &sql).await
    }

    async fn session_id(&self, conn: &mut Conn) -> Result<i64, EngineError> {
        let r = rows(
            conn,
            "reading pg_backend_pid()",
            "SELECT pg_backend_pid()::text",
        )
        .await?;
        r.first()
            .and_then(|r| cell(r, 0))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| EngineError::step("reading pg_backend_pid()", "no value"))
    }

    async fn sessions(
        &self,
        conn: &mut Conn,
        db: &str,
        except: &[i64],
    ) -> Result<Vec<SessionInfo>, EngineError> {
        let r = rows(
            conn,
            "reading pg_stat_activity",
            &format!(
                "SELECT pid::text, COALESCE(usename::text, ''), COALESCE(application_name, ''), COALESCE(state, backend_type, ''), \
                        (backend_xid IS NOT NULL)::text \
                 FROM pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid(){} ORDER BY pid",
                lit(db),
                spare(except)
            ),
        )
        .await?;
        Ok(r.into_iter()
            .map(|r| SessionInfo {
                id: cell(&r, 0).and_then(|v| v.parse().ok()).unwrap_or(0),
                user: cell(&r, 1).unwrap_or_default(),
                application: cell(&r, 2).unwrap_or_default(),
                state: cell(&r, 3).unwrap_or_default(),
                writing: cell(&r, 4).as_deref() == Some("true"),
            })
            .collect())
    }

    async fn terminate_sessions(
        &self,
        conn: &mut Conn,
        db: &str,
        except: &[i64],
    ) -> Result<u64, EngineError> {
        let r = rows(
            conn,
            &format!("terminating the sessions of {db}"),
            &format!(
                "SELECT count(pg_terminate_backend(pid))::text FROM pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid(){}",
                lit(db),
                spare(except)
            ),
        )
        .await?;
        Ok(r.first()
            .and_then(|r| cell(r, 0))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    async fn read_only(&self, conn: &mut Conn, db: &str) -> Result<bool, EngineError> {
        let s = self.database_state(conn, db).await?;
        Ok(s.setting("default_transaction_read_only").is_some_and(|v| {
            matches!(v.to_ascii_lowercase().as_str(), "on" | "true" | "yes" | "1")
        }))
    }

    async fn set_read_only(&self, conn: &mut Conn, db: &str, on: bool) -> Result<(), EngineError> {
        let value = on.then_some("on");
        self.set_database_setting(conn, db, "default_transaction_read_only", value)
            .await
    }

    async fn set_marker(
        &self,
        conn: &mut Conn,
        db: &str,
        marker: &Marker,
    ) -> Result<(), EngineError> {
        let mut all = markers_of(conn, db).await?;
        all.retain(|m| m.operation != marker.operation);
        all.push(marker.clone());
        write_markers(conn, db, &all).await
    }

    async fn clear_marker(
        &self,
        conn: &mut Conn,
        db: &str,
        operation: &str,
    ) -> Result<(), EngineError> {
        let mut all = markers_of(conn, db).await?;
        let before = all.len();
        all.retain(|m| m.operation != operation);
        if all.len() != before {
            write_markers(conn, db, &all).await?;
        }
        Ok(())
    }

    async fn markers(&self, conn: &mut Conn) -> Result<Vec<(String, Marker)>, EngineError> {
        let r = rows(
            conn,
            "reading migsafe markers",
            &format!(
                "SELECT d.datname::text, substr(c, {}) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) c \
                 WHERE s.setrole = 0 AND c LIKE {} ORDER BY 1",
                MARKER_SETTING.len() + 2,
                lit(&format!("{MARKER_SETTING}=%"))
            ),
        )
        .await?;
        Ok(r.into_iter()
            .filter_map(|r| Some((cell(&r, 0)?, parse_markers(&cell(&r, 1)?))))
            .flat_map(|(db, ms)| ms.into_iter().map(move |m| (db.clone(), m)))
            .collect())
    }
}

/// The markers in a setting's value: a JSON array (or one object, as a single marker).
fn parse_markers(value: &str) -> Vec<Marker> {
    serde_json::from_str::<Vec<Marker>>(value)
        .or_else(|_| serde_json::from_str::<Marker>(value).map(|m| vec![m]))
        .unwrap_or_default()
}

async fn markers_of(conn: &mut Conn, db: &str) -> Result<Vec<Marker>, EngineError> {
    Ok(Postgres
        .markers(conn)
        .await?
        .into_iter()
        .filter(|(d, _)| d == db)
        .map(|(_, m)| m)
        .collect())
}

async fn write_markers(conn: &mut Conn, db: &str, all: &[Marker]) -> Result<(), EngineError> {
    if all.is_empty() {
        return Postgres
            .set_database_setting(conn, db, MARKER_SETTING, None)
            .await;
    }
    let json = serde_json::to_string(all).map_err(|e| EngineError::Io(e.to_string()))?;
    Postgres
        .set_database_setting(conn, db, MARKER_SETTING, Some(&json))
        .await
}
