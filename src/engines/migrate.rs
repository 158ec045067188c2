//! The migration session: what `status` and `apply` need from an engine to read and write a
//! migration tool's history table and to apply migrations safely — the migration lock (a
//! PostgreSQL advisory lock, a MySQL named lock, a lock file beside a SQLite database) and who
//! holds it, lock and statement timeouts, which failures are lock timeouts worth a retry, and
//! SQL literals and expressions in the engine's spelling.

use super::EngineError;
use super::conn::Conn;
use super::observe::RawError;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// The lock that keeps two appliers apart: the one the migration tool takes itself where it
/// has one, so migsafe and the tool also exclude each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "key", rename_all = "kebab-case")]
pub enum LockKey {
    /// PostgreSQL `pg_advisory_lock(bigint)`.
    Advisory(i64),
    /// MySQL/MariaDB `GET_LOCK(name)`.
    Named(String),
    /// An exclusive `flock` on a file beside a SQLite database.
    File(PathBuf),
}

impl std::fmt::Display for LockKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockKey::Advisory(k) => write!(f, "pg_advisory_lock({k})"),
            LockKey::Named(n) => write!(f, "GET_LOCK('{n}')"),
            LockKey::File(p) => write!(f, "flock({})", p.display()),
        }
    }
}

/// The session that holds a lock migsafe waits for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LockHolder {
    /// Backend pid, connection id, or process id (SQLite lock file).
    pub session: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
}

impl LockHolder {
    /// One line: `session 4242 (user app, application "migsafe apply …", from 10.0.0.5, since …)`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(u) = &self.user {
            parts.push(format!("user {u}"));
        }
        if let Some(a) = self.application.as_ref().filter(|a| !a.is_empty()) {
            parts.push(format!("application \"{a}\""));
        }
        if let Some(c) = self.client.as_ref().filter(|c| !c.is_empty()) {
            parts.push(format!("from {c}"));
        }
        if let Some(s) = &self.since {
            parts.push(format!("connected since {s}"));
        }
        if let Some(q) = self.activity.as_ref().filter(|q| !q.is_empty()) {
            parts.push(format!("doing: {q}"));
        }
        if parts.is_empty() {
            format!("session {}", self.session)
        } else {
            format!("session {} ({})", self.session, parts.join(", "))
        }
    }
}

/// A lock this process holds; give it back with [`MigrateEngine::unlock`].
#[derive(Debug)]
pub struct LockGuard {
    pub key: LockKey,
    /// The open lock file (SQLite): the lock lives as long as the descriptor.
    pub file: Option<std::fs::File>,
}

/// The bounds every statement of an apply runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Timeouts {
    /// How long a statement may wait for a lock before it fails (and is retried).
    #[serde(with = "ms")]
    pub lock: Duration,
    /// How long a statement may run in all; `None`: no limit.
    #[serde(with = "opt_ms")]
    pub statement: Option<Duration>,
}

mod ms {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

mod opt_ms {
    pub fn serialize<S: serde::Serializer>(
        d: &Option<std::time::Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }
}

/// Why a statement failed, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// It waited for a lock longer than the lock timeout: retrying later may succeed.
    LockTimeout,
    /// It ran longer than the statement timeout.
    StatementTimeout,
    Other,
}

/// The migration-session capabilities of one engine.
#[async_trait::async_trait]
pub trait MigrateEngine: Sync {
    /// The current database's name (PostgreSQL `current_database()`, MySQL `DATABASE()`,
    /// SQLite `main`).
    async fn database(&self, conn: &mut Conn) -> Result<String, EngineError>;
    /// The schema unqualified names resolve to (PostgreSQL `current_schema()`, MySQL the
    /// database, SQLite `main`).
    async fn schema(&self, conn: &mut Conn) -> Result<String, EngineError>;
    /// Whether `schema.table` exists (the current schema when `schema` is `None`).
    async fn table_exists(
        &self,
        conn: &mut Conn,
        schema: Option<&str>,
        table: &str,
    ) -> Result<bool, EngineError>;
    /// Takes `key` without waiting; `None` when another session holds it.
    async fn try_lock(
        &self,
        conn: &mut Conn,
        key: &LockKey,
    ) -> Result<Option<LockGuard>, EngineError>;
    async fn unlock(&self, conn: &mut Conn, guard: LockGuard) -> Result<(), EngineError>;
    /// Who holds `key`, when that can be seen.
    async fn lock_holder(&self, conn: &mut Conn, key: &LockKey) -> Option<LockHolder>;
    /// This session, as [`MigrateEngine::end_session`] finds it again (journaled by `apply`):
    /// PostgreSQL `pid@backend_start` (a pid can be reused), MySQL the connection id; `None` on
    /// SQLite, whose statements die with the process.
    async fn session(&self, conn: &mut Conn) -> Result<Option<String>, EngineError>;
    /// Ends `session` if it still runs — the server rolls back what it was doing — and waits
    /// until it is gone (up to `wait`). `Ok(true)` when it was still there. A process killed
    /// while a statement runs leaves its server session running that statement to its end, so
    /// recovery must end it before it looks at what took effect.
    async fn end_session(
        &self,
        conn: &mut Conn,
        session: &str,
        wait: Duration,
    ) -> Result<bool, EngineError>;
    /// Names this session so that another applier waiting for its lock can say who holds it.
    async fn label_session(&self, conn: &mut Conn, label: &str) -> Result<(), EngineError>;
    /// Sets the lock and statement timeouts for the session.
    async fn set_timeouts(&self, conn: &mut Conn, t: &Timeouts) -> Result<(), EngineError>;
    /// Classifies a failed statement.
    fn failure(&self, e: &RawError) -> Failure;
    /// A string literal.
    fn str_lit(&self, s: &str) -> String;
    /// A binary literal.
    fn bytes_lit(&self, b: &[u8]) -> String;
    fn bool_lit(&self, b: bool) -> String {
        if b { "TRUE" } else { "FALSE" }.to_string()
    }
    /// An expression that is 1 when boolean column `col` is true, else 0.
    fn truthy(&self, col: &str) -> String {
        format!("CASE WHEN {col} <> 0 THEN 1 ELSE 0 END")
    }
    /// `col` as text.
    fn text(&self, col: &str) -> String;
    /// A binary column as lower-case hex.
    fn hex(&self, col: &str) -> String;
    /// An identifier, quoted.
    fn ident(&self, s: &str) -> String;
    /// `schema.table` (or `table`), quoted.
    fn qualified(&self, schema: Option<&str>, table: &str) -> String {
        match schema {
            Some(s) => format!("{}.{}", self.ident(s), self.ident(table)),
            None => self.ident(table),
        }
    }
}

/// [`MigrateEngine::end_session`] for servers: `count_sql` counts the session (0 or 1), `kill_sql`
/// ends it; waits until it is gone, up to `wait`.
pub(crate) async fn end_session_with(
    conn: &mut Conn,
    count_sql: &str,
    kill_sql: &str,
    who: &str,
    wait: Duration,
) -> Result<bool, EngineError> {
    let what = "ending the interrupted session";
    let alive = async |conn: &mut Conn| -> Result<bool, EngineError> {
        let (_, rows) = conn
            .query_text(count_sql)
            .await
            .map_err(|e| EngineError::db(what, e))?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten())
            .is_some_and(|n| n.trim() != "0"))
    };
    if !alive(conn).await? {
        return Ok(false);
    }
    // it may end by itself between the look and the kill
    let _ = conn.execute(kill_sql).await;
    let began = std::time::Instant::now();
    while began.elapsed() < wait {
        if !alive(conn).await? {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(EngineError::step(
        what,
        format!("{who} is still there after {} s", wait.as_secs()),
    ))
}

/// Waits between tries of a statement that timed out on a lock: exponential backoff from
/// `base`, capped at `cap`, with full jitter (a random delay between half and all of it) so
/// that several appliers do not retry in step.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, random: u64) -> Duration {
    let exp = base
        .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
        .min(cap);
    let ms = exp.as_millis() as u64;
    let half = ms / 2;
    Duration::from_millis(
        half + if ms > half {
            random % (ms - half + 1)
        } else {
            0
        },
    )
}

/// A random number from the kernel (jitter; not for secrets).
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u64::from_le_bytes(b) ^ u64::from(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(8);
        let all: Vec<Duration> = (0..8).map(|a| backoff(a, base, cap, 0)).collect();
        assert_eq!(all[0], Duration::from_millis(250), "half of the first wait");
        assert!(all.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(all[7], Duration::from_secs(4), "half of the cap");
        for r in [1u64, 77, 1 << 40] {
            let d = backoff(2, base, cap, r);
            assert!(
                d >= Duration::from_secs(1) && d <= Duration::from_secs(2),
                "{d:?}"
            );
        }
    }

    #[test]
    fn holders_describe_themselves() {
        let h = LockHolder {
            session: "4242".into(),
            user: Some("app".into()),
            application: Some("migsafe apply (ci-7 pid 99)".into()),
            ..LockHolder::default()
        };
        assert_eq!(
            h.describe(),
            "session 4242 (user app, application \"migsafe apply (ci-7 pid 99)\")"
        );
    }
}
