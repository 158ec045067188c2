//! One connection type over the three engines, for code that is engine-generic (snapshots,
//! integrity checks, dry-runs). URLs in errors are always redacted.

use super::url::DbUrl;
use super::{EngineError, EngineKind, redact_url};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Column, Connection, Row};
use std::str::FromStr;

pub enum Conn {
    Postgres(PgConnection),
    Mysql(MySqlConnection),
    Sqlite(SqliteConnection),
}

/// A result row with every value as text (NULL as `None`); queries cast to text themselves.
pub type TextRow = Vec<Option<String>>;

fn connect_err(url: &str, e: impl std::fmt::Display) -> EngineError {
    // sqlx errors can quote the URL they were given: never pass them through unredacted
    let msg = e.to_string();
    let msg = if msg.contains(url) {
        msg.replace(url, &redact_url(url))
    } else {
        msg
    };
    EngineError::Connect {
        target: redact_url(url),
        message: format!("{msg}{}", tls_hint(&msg)),
    }
}

/// What to do about a certificate rustls refused, in the URL's own terms.
fn tls_hint(msg: &str) -> &'static str {
    if msg.contains("NotValidForName") {
        " (the server's certificate does not name this host: connect by a name it carries, or \
         check the CA only with sslmode=verify-ca / ssl-mode=VERIFY_CA)"
    } else if msg.contains("invalid peer certificate") {
        " (the server's certificate is not signed by the CA given: name the CA that signed it in \
         sslrootcert= (PostgreSQL) or ssl-ca= (MySQL/MariaDB), or encrypt without checking with \
         sslmode=require / ssl-mode=REQUIRED)"
    } else {
        ""
    }
}

/// A URL sqlx accepts: libpq allows an empty host (`postgresql://user@/db?host=/socket/dir`),
/// sqlx's parser does not, so `localhost` stands in (the `host` parameter still wins). A URL
/// [`DbUrl`] cannot parse is returned as it is, for sqlx to refuse (its error is redacted).
pub fn sqlx_url(url: &str) -> String {
    match DbUrl::parse(url) {
        Ok(mut u) if u.hosts.is_empty() || u.hosts.starts_with(':') => {
            u.hosts = format!("localhost{}", u.hosts);
            u.with_password(u.database.clone().as_deref())
        }
        _ => url.to_string(),
    }
}

impl Conn {
    /// Opens a connection from a URL (`postgres://`, `postgresql://`, `mysql://`, `mariadb://`,
    /// `sqlite:`).
    pub async fn open(url: &str) -> Result<Conn, EngineError> {
        let kind = EngineKind::from_url(url).ok_or_else(|| EngineError::Connect {
            target: redact_url(url),
            message: "unknown URL scheme: expected postgres://, mysql://, mariadb:// or sqlite:"
                .into(),
        })?;
        match kind {
            EngineKind::Postgres => {
                let o =
                    PgConnectOptions::from_str(&sqlx_url(url)).map_err(|e| connect_err(url, e))?;
                Ok(Conn::Postgres(
                    PgConnection::connect_with(&o)
                        .await
                        .map_err(|e| connect_err(url, e))?,
                ))
            }
            EngineKind::Mysql => {
                let url2 = url.replacen("mariadb://", "mysql://", 1);
                let o = MySqlConnectOptions::from_str(&url2).map_err(|e| connect_err(url, e))?;
                Ok(Conn::Mysql(
                    MySqlConnection::connect_with(&o)
                        .await
                        .map_err(|e| connect_err(url, e))?,
                ))
            }
            EngineKind::Sqlite => {
                let o = SqliteConnectOptions::from_str(url).map_err(|e| connect_err(url, e))?;
                Ok(Conn::Sqlite(
                    SqliteConnection::connect_with(&o)
                        .await
                        .map_err(|e| connect_err(url, e))?,
                ))
            }
        }
    }

    pub fn kind(&self) -> EngineKind {
        match self {
            Conn::Postgres(_) => EngineKind::Postgres,
            Conn::Mysql(_) => EngineKind::Mysql,
            Conn::Sqlite(_) => EngineKind::Sqlite,
        }
    }

    /// Runs SQL that returns no rows (or ignores them); returns rows affected.
    pub async fn execute(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        Ok(match self {
            Conn::Postgres(c) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(c)
                .await?
                .rows_affected(),
            Conn::Mysql(c) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(c)
                .await?
                .rows_affected(),
            Conn::Sqlite(c) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(c)
                .await?
                .rows_affected(),
        })
    }

    /// Runs a query whose columns are all text (cast them in SQL), returning column names and rows.
    pub async fn query_text(
        &mut self,
        sql: &str,
    ) -> Result<(Vec<String>, Vec<TextRow>), sqlx::Error> {
        macro_rules! collect {
            ($c:expr) => {{
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_all($c)
                    .await?;
                let cols = rows
                    .first()
                    .map(|r| r.columns().iter().map(|c| c.name().to_string()).collect())
                    .unwrap_or_default();
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let mut vals = Vec::with_capacity(r.len());
                    for i in 0..r.len() {
                        vals.push(text_value(r, i));
                    }
                    out.push(vals);
                }
                (cols, out)
            }};
        }
        Ok(match self {
            Conn::Postgres(c) => collect!(c),
            Conn::Mysql(c) => collect!(c),
            Conn::Sqlite(c) => collect!(c),
        })
    }

    /// [`Conn::query_text`]'s rows, a failure reported as doing `what`.
    pub async fn rows(&mut self, what: &str, sql: &str) -> Result<Vec<TextRow>, EngineError> {
        self.query_text(sql)
            .await
            .map(|(_, r)| r)
            .map_err(|e| EngineError::db(what.to_string(), e))
    }

    /// The first column of the first row (`None`: no row, or NULL).
    pub async fn first(&mut self, what: &str, sql: &str) -> Result<Option<String>, EngineError> {
        Ok(self
            .rows(what, sql)
            .await?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten()))
    }

    /// Runs statements, a failure reported as doing `what`.
    pub async fn run(&mut self, what: &str, sql: &str) -> Result<(), EngineError> {
        self.execute(sql)
            .await
            .map(|_| ())
            .map_err(|e| EngineError::db(what.to_string(), e))
    }

    pub async fn close(self) {
        let _ = match self {
            Conn::Postgres(c) => c.close().await,
            Conn::Mysql(c) => c.close().await,
            Conn::Sqlite(c) => c.close().await,
        };
    }
}

/// A value as text, whatever its SQL type (text, integers, floats, booleans, bytes as hex).
fn text_value<R: Row>(r: &R, i: usize) -> Option<String>
where
    usize: sqlx::ColumnIndex<R>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<f64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<bool>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<Vec<u8>>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    if let Ok(v) = r.try_get::<Option<String>, _>(i) {
        return v;
    }
    if let Ok(v) = r.try_get::<Option<i64>, _>(i) {
        return v.map(|v| v.to_string());
    }
    if let Ok(v) = r.try_get::<Option<f64>, _>(i) {
        return v.map(|v| v.to_string());
    }
    if let Ok(v) = r.try_get::<Option<bool>, _>(i) {
        return v.map(|v| v.to_string());
    }
    if let Ok(v) = r.try_get::<Option<Vec<u8>>, _>(i) {
        return v
            .map(|b| String::from_utf8(b.clone()).unwrap_or_else(|_| crate::sys::hex::hex(&b)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::sqlx_url;

    #[test]
    fn libpq_urls_with_an_empty_host_get_a_placeholder() {
        assert_eq!(
            sqlx_url("postgresql://postgres@/app?host=/tmp/s"),
            "postgresql://postgres@localhost/app?host=/tmp/s"
        );
        assert_eq!(
            sqlx_url("postgresql:///app?host=/tmp/s"),
            "postgresql://localhost/app?host=/tmp/s"
        );
        assert_eq!(sqlx_url("postgres://u:p@db/app"), "postgres://u:p@db/app");
    }
}
