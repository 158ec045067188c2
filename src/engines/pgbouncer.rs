//! PgBouncer's admin console (`[pgbouncer] admin_url`, database `pgbouncer`): the pooler in front
//! of PostgreSQL that zero-error maintenance windows use.
//!
//! - `PAUSE db` waits until every server connection of the pool is released (in transaction
//!   pooling: until in-flight transactions end), then holds new queries: clients wait instead of
//!   failing, until `RESUME db` (or PgBouncer's `query_wait_timeout`, 120 s by default).
//!   A `RESUME` issued while a `PAUSE` still waits cancels it, but the console that sent the
//!   `PAUSE` never gets an answer: it is dropped.
//! - `RECONNECT db` closes each server connection once it is released, so the next ones pick up
//!   new defaults (a read-only switch) without failing clients.
//! - `SHOW SERVERS` gives each server connection's backend pid (`remote_pid`), so a mode can
//!   spare them when it ends the database's other sessions.
//!
//! The console speaks only the simple query protocol and rejects unknown startup parameters,
//! hence raw SQL and no `extra_float_digits`.

use super::{EngineError, redact_url};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{Column, Connection, Row};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

/// A connection to the admin console.
pub struct PgBouncer {
    conn: PgConnection,
    url: String,
}

/// One pool, from `SHOW DATABASES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    pub paused: bool,
    pub disabled: bool,
    pub current_connections: u64,
}

type TextRow = BTreeMap<String, Option<String>>;

fn text(row: &PgRow, i: usize) -> Option<String> {
    // the simple protocol sends every value as text, whatever its type
    row.try_get_unchecked::<Option<String>, _>(i).ok().flatten()
}

impl PgBouncer {
    /// Connects to the admin console at `url` (credentials included; never printed).
    pub async fn connect(url: &str) -> Result<PgBouncer, EngineError> {
        let fail = |e: &dyn std::fmt::Display| EngineError::Connect {
            target: redact_url(url),
            message: redact_url(&e.to_string()),
        };
        let opts = PgConnectOptions::from_str(&super::conn::sqlx_url(url))
            .map_err(|e| fail(&e))?
            .extra_float_digits(None)
            .statement_cache_capacity(0);
        let conn = PgConnection::connect_with(&opts)
            .await
            .map_err(|e| fail(&e))?;
        Ok(PgBouncer {
            conn,
            url: url.to_string(),
        })
    }

    /// The console's URL without password.
    pub fn redacted(&self) -> String {
        redact_url(&self.url)
    }

    async fn query(&mut self, sql: &str) -> Result<Vec<TextRow>, EngineError> {
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&mut self.conn)
            .await
            .map_err(|e| EngineError::db(format!("PgBouncer {sql}"), e))?;
        Ok(rows
            .iter()
            .map(|r| {
                r.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name().to_string(), text(r, i)))
                    .collect()
            })
            .collect())
    }

    async fn command(&mut self, sql: &str) -> Result<(), EngineError> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut self.conn)
            .await
            .map(|_| ())
            .map_err(|e| EngineError::db(format!("PgBouncer {sql}"), e))
    }

    /// `SHOW VERSION`.
    pub async fn version(&mut self) -> Result<String, EngineError> {
        Ok(self
            .query("SHOW VERSION")
            .await?
            .into_iter()
            .next()
            .and_then(|r| r.into_values().next().flatten())
            .unwrap_or_default())
    }

    /// The pool `name` (`None`: PgBouncer has no such database).
    pub async fn pool(&mut self, name: &str) -> Result<Option<Pool>, EngineError> {
        let rows = self.query("SHOW DATABASES").await?;
        Ok(rows
            .into_iter()
            .find(|r| r.get("name").cloned().flatten().as_deref() == Some(name))
            .map(|r| {
                let num = |k: &str| {
                    r.get(k)
                        .cloned()
                        .flatten()
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                Pool {
                    name: name.to_string(),
                    paused: num("paused") != 0,
                    disabled: num("disabled") != 0,
                    current_connections: num("current_connections"),
                }
            }))
    }

    /// Backend pids of the pool's server connections (`SHOW SERVERS`, `remote_pid`).
    pub async fn server_pids(&mut self, name: &str) -> Result<Vec<i64>, EngineError> {
        Ok(self
            .query("SHOW SERVERS")
            .await?
            .into_iter()
            .filter(|r| r.get("database").cloned().flatten().as_deref() == Some(name))
            .filter_map(|r| r.get("remote_pid").cloned().flatten()?.parse().ok())
            .filter(|p| *p > 0)
            .collect())
    }

    /// `PAUSE name`: returns once every server connection of the pool is released. Bounded by
    /// `max_wait`: past it, the pause is cancelled with `RESUME` on a second console and this
    /// one is dropped, so a pool is never left paused by a pause that did not finish.
    pub async fn pause(url: &str, name: &str, max_wait: Duration) -> Result<(), EngineError> {
        check_name(name)?;
        let mut pb = PgBouncer::connect(url).await?;
        match tokio::time::timeout(max_wait, pb.command(&format!("PAUSE {name}"))).await {
            Ok(r) => r,
            Err(_) => {
                drop(pb);
                let mut other = PgBouncer::connect(url).await?;
                let busy = other.server_pids(name).await.map(|p| p.len()).unwrap_or(0);
                other.resume(name).await?;
                Err(EngineError::step(
                    format!("PgBouncer PAUSE {name}"),
                    format!(
                        "the pool did not release its server connections within {} ({busy} still open: transactions still running); the pause was cancelled (RESUME)",
                        humantime::format_duration(max_wait)
                    ),
                ))
            }
        }
    }

    /// `RESUME name`; a pool that is not paused is fine.
    pub async fn resume(&mut self, name: &str) -> Result<(), EngineError> {
        check_name(name)?;
        match self.command(&format!("RESUME {name}")).await {
            Ok(()) => Ok(()),
            Err(e) if e.to_string().contains("not paused") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `RECONNECT name`: server connections are closed once released and reopened on demand.
    pub async fn reconnect(&mut self, name: &str) -> Result<(), EngineError> {
        check_name(name)?;
        self.command(&format!("RECONNECT {name}")).await
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// Pool names go into console commands unquoted: only plain names are accepted.
fn check_name(name: &str) -> Result<(), EngineError> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Ok(())
    } else {
        Err(EngineError::step(
            "PgBouncer",
            format!("{name:?}: only letters, digits, _ and - are accepted in a pool name"),
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pool_names_are_plain() {
        assert!(super::check_name("app_1").is_ok());
        assert!(super::check_name("app; SHUTDOWN").is_err());
        assert!(super::check_name("").is_err());
    }
}
