//! Server administration, the trait operations use to change a live database's server-side state
//! and put it back: connect, database and role settings, sessions (drain, terminate all but our
//! own), allow/deny connections and connection limits, rename, read-only settings, and a marker
//! of an unfinished migsafe operation that another machine can see. Every method that changes
//! something has a reader for the prior state, so the journal can record it first.
//!
//! Engines without a server (SQLite) answer [`EngineError::Unsupported`] where nothing applies.

use super::EngineError;
use super::conn::Conn;
use super::target::Target;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A database's server-side state that operations change and must be able to put back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseState {
    pub name: String,
    pub exists: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Whether new connections are accepted (PostgreSQL `datallowconn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_connections: Option<bool>,
    /// `-1` for no limit (PostgreSQL `datconnlimit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_limit: Option<i64>,
    /// Database-level settings as `name=value` (PostgreSQL `ALTER DATABASE … SET`), sorted;
    /// migsafe's own marker is not among them.
    #[serde(default)]
    pub settings: Vec<String>,
}

impl DatabaseState {
    /// The value of database-level setting `name`, if set.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.iter().find_map(|s| {
            s.split_once('=')
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v)
        })
    }
}

/// A session connected to a database (our own is never listed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: i64,
    pub user: String,
    pub application: String,
    pub state: String,
    /// Holds a transaction that has written (PostgreSQL: has an XID).
    pub writing: bool,
}

/// What a drain did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainOutcome {
    /// Sessions when the drain began.
    pub at_start: u64,
    /// Sessions that left on their own within the drain period.
    pub left: u64,
    /// Sessions terminated after it.
    pub terminated: u64,
    pub waited_ms: u64,
}

/// The database-side record of an unfinished migsafe operation, so another machine (or a
/// command that cannot read this machine's journal) sees it. Never holds credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub operation: String,
    /// The journal kind (`restore-swap`, `restore-in-place`, …).
    pub kind: String,
    pub started_at: DateTime<Utc>,
    pub host: String,
    pub pid: u32,
    /// The command that started it, with credentials removed.
    pub command: String,
    /// The OS user who started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The process's start time (with `pid`, tells a live process from a reused pid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    /// An operation that stays on by design (a read-only or maintenance mode) once it is in
    /// force; until then it is being switched.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub active: bool,
    /// Until when the operation's lease runs, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    /// The facts a recovery needs (prior settings), for operations that any machine seeing the
    /// marker may end without the journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<serde_json::Value>,
}

impl Marker {
    /// The command that ends the operation.
    pub fn recover_command(&self) -> String {
        format!("migsafe recover --operation {}", self.operation)
    }
}

/// Server administration on one engine. `conn` is an admin connection from
/// [`Admin::connect_admin`] unless a method says otherwise.
#[async_trait::async_trait]
pub trait Admin: Sync {
    /// Whether the engine has a server with databases, sessions and settings (false: SQLite).
    fn has_server(&self) -> bool;

    /// A connection to the server that does not hold the target database open (PostgreSQL's
    /// maintenance database, MySQL without a default database).
    async fn connect_admin(&self, target: &Target) -> Result<Conn, EngineError>;

    /// Every database on the server.
    async fn databases(&self, conn: &mut Conn) -> Result<Vec<String>, EngineError>;

    /// The state of `db` (`exists: false` when there is none).
    async fn database_state(&self, conn: &mut Conn, db: &str)
    -> Result<DatabaseState, EngineError>;

    async fn drop_database(&self, conn: &mut Conn, db: &str) -> Result<(), EngineError>;

    async fn rename_database(
        &self,
        conn: &mut Conn,
        from: &str,
        to: &str,
    ) -> Result<(), EngineError>;

    async fn set_allow_connections(
        &self,
        conn: &mut Conn,
        db: &str,
        allow: bool,
    ) -> Result<(), EngineError>;

    async fn set_connection_limit(
        &self,
        conn: &mut Conn,
        db: &str,
        limit: i64,
    ) -> Result<(), EngineError>;

    /// Sets (or with `None` resets) a database-level setting.
    async fn set_database_setting(
        &self,
        conn: &mut Conn,
        db: &str,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), EngineError>;

    /// The server's id of the session behind `conn` (PostgreSQL backend pid, MySQL connection
    /// id), to spare migsafe's other connections in [`Admin::sessions`] and friends.
    async fn session_id(&self, conn: &mut Conn) -> Result<i64, EngineError>;

    /// Sessions connected to `db`, except `conn`'s own and those in `except`.
    async fn sessions(
        &self,
        conn: &mut Conn,
        db: &str,
        except: &[i64],
    ) -> Result<Vec<SessionInfo>, EngineError>;

    /// Terminates every session of `db` except `conn`'s own and those in `except`; returns how
    /// many.
    async fn terminate_sessions(
        &self,
        conn: &mut Conn,
        db: &str,
        except: &[i64],
    ) -> Result<u64, EngineError>;

    /// Gives the sessions of `db` up to `grace` to end, terminates the rest and waits (up to
    /// 5 s) until they are gone, sparing `except`. Callers deny new connections (or writes)
    /// first.
    async fn drain(
        &self,
        conn: &mut Conn,
        db: &str,
        grace: Duration,
        except: &[i64],
    ) -> Result<DrainOutcome, EngineError> {
        let began = std::time::Instant::now();
        let at_start = self.sessions(conn, db, except).await?.len() as u64;
        let mut now = at_start;
        while began.elapsed() < grace && now > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            now = self.sessions(conn, db, except).await?.len() as u64;
        }
        let remaining = now;
        let mut terminated = 0;
        let wait_until = std::time::Instant::now() + Duration::from_secs(5);
        while now > 0 {
            terminated += self.terminate_sessions(conn, db, except).await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            now = self.sessions(conn, db, except).await?.len() as u64;
            if std::time::Instant::now() > wait_until {
                break;
            }
        }
        Ok(DrainOutcome {
            at_start,
            left: at_start.saturating_sub(remaining),
            terminated,
            waited_ms: began.elapsed().as_millis() as u64,
        })
    }

    /// Whether new sessions of `db` start read-only (PostgreSQL database default; MySQL's global
    /// `read_only`).
    async fn read_only(&self, conn: &mut Conn, db: &str) -> Result<bool, EngineError>;

    async fn set_read_only(&self, conn: &mut Conn, db: &str, on: bool) -> Result<(), EngineError>;

    /// Records `marker` on `db` (replacing another marker of the same operation).
    async fn set_marker(
        &self,
        conn: &mut Conn,
        db: &str,
        marker: &Marker,
    ) -> Result<(), EngineError>;

    /// Removes the marker of `operation` from `db`, if it is there.
    async fn clear_marker(
        &self,
        conn: &mut Conn,
        db: &str,
        operation: &str,
    ) -> Result<(), EngineError>;

    /// Every marker on the server: (database, marker).
    async fn markers(&self, conn: &mut Conn) -> Result<Vec<(String, Marker)>, EngineError>;
}

/// Whether `markers` (the server's) put `db` in migsafe maintenance: a maintenance marker on
/// `db`, or one that names it (a swap restore keeps the marker with the database it set aside,
/// and the restored database carries the block).
pub fn in_maintenance(markers: &[(String, Marker)], db: &str) -> bool {
    markers.iter().any(|(d, m)| {
        let names = m
            .facts
            .as_ref()
            .and_then(|f| f.get("database"))
            .and_then(|v| v.as_str())
            == Some(db);
        (d == db || names)
            && super::modes::Mode::parse(&m.kind) == Some(super::modes::Mode::Maintenance)
    })
}

/// Opens `url` (a session on `db` of `target`'s server) even while `db` refuses connections
/// (PostgreSQL `ALLOW_CONNECTIONS false`, as `maintenance on --block database` sets it): migsafe's
/// own sessions must get through a maintenance window (apply, restore, integrity-check). The
/// database accepts connections for the moment it takes to open this one, then refuses them
/// again, and any other session that came in meanwhile is ended, so the application stays out.
/// A database that refuses connections for another reason (closed by someone else, without
/// migsafe's maintenance marker) gives the connection's own error.
pub async fn open_through_block(target: &Target, db: &str, url: &str) -> Result<Conn, EngineError> {
    let refused = match Conn::open(url).await {
        Ok(c) => return Ok(c),
        Err(e) => e,
    };
    let admin = target.kind().engine().admin();
    if !admin.has_server() {
        return Err(refused);
    }
    let Ok(mut a) = admin.connect_admin(target).await else {
        return Err(refused);
    };
    let blocked = admin
        .database_state(&mut a, db)
        .await
        .is_ok_and(|st| st.exists && st.allow_connections == Some(false));
    // only migsafe's own maintenance: a database someone else closed stays closed
    let ours = blocked
        && admin
            .markers(&mut a)
            .await
            .is_ok_and(|ms| in_maintenance(&ms, db));
    if !ours {
        a.close().await;
        return Err(refused);
    }
    let result = open_in_window(admin, &mut a, db, url).await;
    a.close().await;
    result
}

async fn open_in_window(
    admin: &dyn Admin,
    a: &mut Conn,
    db: &str,
    url: &str,
) -> Result<Conn, EngineError> {
    // the sessions already there are migsafe's own (the mode ended the application's)
    let mut spared: Vec<i64> = admin
        .sessions(a, db, &[])
        .await?
        .iter()
        .map(|s| s.id)
        .collect();
    admin.set_allow_connections(a, db, true).await?;
    let opened = Conn::open(url).await;
    // refused again whatever happened: the block is the mode's, not ours to lift
    let reblocked = admin.set_allow_connections(a, db, false).await;
    let mut c = opened?;
    if let Err(e) = reblocked {
        c.close().await;
        return Err(e);
    }
    match admin.session_id(&mut c).await {
        Ok(id) => spared.push(id),
        Err(e) => {
            c.close().await;
            return Err(e);
        }
    }
    if let Err(e) = admin.terminate_sessions(a, db, &spared).await {
        c.close().await;
        return Err(e);
    }
    Ok(c)
}

/// An [`EngineError::Unsupported`] for `what` on `engine`.
pub fn unsupported(engine: &str, what: &str) -> EngineError {
    EngineError::Unsupported(format!("{engine} has no {what}"))
}

/// Rows of an admin query, as text; a failure names `what`.
pub(crate) async fn rows(
    conn: &mut Conn,
    what: &str,
    sql: &str,
) -> Result<Vec<Vec<Option<String>>>, EngineError> {
    conn.query_text(sql)
        .await
        .map(|(_, r)| r)
        .map_err(|e| EngineError::db(what.to_string(), e))
}

/// Runs an admin statement; a failure names `what`.
pub(crate) async fn exec(conn: &mut Conn, what: &str, sql: &str) -> Result<(), EngineError> {
    conn.execute(sql)
        .await
        .map(|_| ())
        .map_err(|e| EngineError::db(what.to_string(), e))
}

/// Column `i` of a text row.
pub(crate) fn cell(r: &[Option<String>], i: usize) -> Option<String> {
    r.get(i).cloned().flatten()
}
