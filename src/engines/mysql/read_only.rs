//! MySQL/MariaDB read-only and maintenance modes.
//!
//! Read-only: `SET GLOBAL read_only = ON`, and with `--super-read-only` on MySQL 5.7.8+ also
//! `super_read_only`. It is global: every database on the server becomes read-only, so the mode
//! refuses a server that hosts other databases unless `--server-wide` is given. It reaches
//! sessions already open at once (their next write fails with error 1290, and a transaction
//! still open fails at COMMIT), so open write transactions are drained before the switch. It
//! does not stop temporary tables, replication threads, or accounts with the privilege that
//! exempts them: `READ ONLY ADMIN` on MariaDB 10.11+ (root has it), `SUPER` on older MariaDB and
//! on MySQL without `super_read_only`. That privilege is how migsafe's migration session keeps
//! writing.
//!
//! Maintenance: `ALTER USER … ACCOUNT LOCK` for each application account (new connections fail
//! with error 4151 on MariaDB, 3118 on MySQL) and `KILL CONNECTION` for their sessions. An
//! account's lock is server-wide.

use super::Mysql;
use super::admin::{MARKER_SCHEMA, ident, lit};
use crate::engines::EngineError;
use crate::engines::conn::Conn;
use crate::engines::modes::{
    Change, Knob, Mode, ModeEngine, ModeOptions, ModePlan, OpenSession, Probe, truthy,
};
use sqlx::Connection;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError};
use std::str::FromStr;

/// Databases every server has; they do not make a server "shared".
const SYSTEM_SCHEMAS: &[&str] = &[
    "information_schema",
    "mysql",
    "performance_schema",
    "sys",
    MARKER_SCHEMA,
];

/// The server: MariaDB or MySQL, and its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    pub mariadb: bool,
    pub version: (u32, u32, u32),
}

impl Server {
    pub fn parse(version: &str) -> Server {
        let mut nums = version
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u32>().unwrap_or(0));
        Server {
            mariadb: version.to_ascii_lowercase().contains("mariadb"),
            version: (
                nums.next().unwrap_or(0),
                nums.next().unwrap_or(0),
                nums.next().unwrap_or(0),
            ),
        }
    }

    fn at_least(&self, v: (u32, u32, u32)) -> bool {
        self.version >= v
    }

    /// The privilege that lets an account write while `read_only` is on.
    pub fn exempting_privilege(&self) -> &'static str {
        if self.mariadb && self.at_least((10, 11, 0)) {
            "READ_ONLY ADMIN"
        } else {
            "SUPER"
        }
    }

    pub fn has_super_read_only(&self) -> bool {
        !self.mariadb && self.at_least((5, 7, 8))
    }

    pub fn has_account_lock(&self) -> bool {
        if self.mariadb {
            self.at_least((10, 4, 2))
        } else {
            self.at_least((5, 7, 6))
        }
    }

    fn name(&self) -> String {
        let (a, b, c) = self.version;
        format!(
            "{} {a}.{b}.{c}",
            if self.mariadb { "MariaDB" } else { "MySQL" }
        )
    }
}

async fn server(conn: &mut Conn) -> Result<Server, EngineError> {
    Ok(Server::parse(
        &conn
            .first("reading the version", "SELECT VERSION()")
            .await?
            .unwrap_or_default(),
    ))
}

/// `'user'@'host'` of information_schema's GRANTEE column → (user, host).
fn parse_grantee(g: &str) -> Option<(String, String)> {
    let (u, h) = g.rsplit_once("@")?;
    let unq = |s: &str| s.trim().trim_matches('\'').replace("''", "'");
    Some((unq(u), unq(h)))
}

fn account(user: &str, host: &str) -> String {
    format!("{}@{}", lit(user), lit(host))
}

/// A global variable's name, checked before it reaches SQL.
fn variable(name: &str) -> Result<&str, EngineError> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(name)
    } else {
        Err(EngineError::step(
            "a global variable",
            format!("{name:?} is not a variable name"),
        ))
    }
}

/// A global's value as written back (`ON`, `OFF`, or a word such as MariaDB 11's `NO_LOCK`).
fn global_value(v: &str) -> Result<String, EngineError> {
    let t = v.trim();
    if t == "1" || t.eq_ignore_ascii_case("on") {
        return Ok("ON".into());
    }
    if t == "0" || t.eq_ignore_ascii_case("off") {
        return Ok("OFF".into());
    }
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(t.to_string())
    } else {
        Err(EngineError::step(
            "a global variable",
            format!("{v:?} is not a value migsafe writes back"),
        ))
    }
}

fn number(e: &sqlx::Error) -> Option<(String, String)> {
    let d = e.as_database_error()?;
    let m = d.try_downcast_ref::<MySqlDatabaseError>()?;
    Some((m.number().to_string(), m.message().to_string()))
}

/// Accounts with privileges on `db` (schema-level grants), sorted.
async fn accounts_on(conn: &mut Conn, db: &str) -> Result<Vec<(String, String)>, EngineError> {
    let mut v: Vec<(String, String)> = conn.rows(
        "reading schema privileges",
        &format!(
            "SELECT DISTINCT CAST(grantee AS CHAR) FROM information_schema.schema_privileges WHERE table_schema = {}",
            lit(db)
        ),
    )
    .await?
    .into_iter()
    .filter_map(|r| r.into_iter().next().flatten())
    .filter_map(|g| parse_grantee(&g))
    .collect();
    v.sort();
    v.dedup();
    Ok(v)
}

async fn current_account(conn: &mut Conn) -> Result<(String, String), EngineError> {
    let cu = conn
        .first("reading CURRENT_USER()", "SELECT CURRENT_USER()")
        .await?
        .unwrap_or_default();
    let (u, h) = cu.rsplit_once('@').unwrap_or((cu.as_str(), "%"));
    Ok((u.to_string(), h.to_string()))
}

#[async_trait::async_trait]
impl ModeEngine for Mysql {
    fn server_side(&self) -> Result<(), &'static str> {
        Ok(())
    }

    async fn plan(
        &self,
        conn: &mut Conn,
        db: &str,
        mode: Mode,
        opts: &ModeOptions,
    ) -> Result<ModePlan, EngineError> {
        use crate::engines::admin::Admin;
        let srv = server(conn).await?;
        let dbs = self.databases(conn).await?;
        if !dbs.iter().any(|d| d == db) {
            return Err(EngineError::step(
                "reading the database",
                format!("there is no database {db} on this server"),
            ));
        }
        let mut plan = ModePlan::default();
        match mode {
            Mode::ReadOnly => {
                let others: Vec<String> = dbs
                    .into_iter()
                    .filter(|d| d != db && !SYSTEM_SCHEMAS.contains(&d.as_str()))
                    .collect();
                if !others.is_empty() && !opts.server_wide {
                    plan.refusal = Some(format!(
                        "read_only is global on {}: it would make every database of this server read-only, and the server also hosts {}; pass --server-wide if that is intended",
                        srv.name(),
                        others.join(", ")
                    ));
                    return Ok(plan);
                }
                if opts.super_read_only && !srv.has_super_read_only() {
                    plan.refusal = Some(format!(
                        "{} has no super_read_only{}",
                        srv.name(),
                        if srv.mariadb {
                            ": read_only already holds every account without READ_ONLY ADMIN (10.11+) or SUPER (older)"
                        } else {
                            " (MySQL 5.7.8+)"
                        }
                    ));
                    return Ok(plan);
                }
                let knob = Knob::Global {
                    name: "read_only".into(),
                };
                plan.changes.push(Change {
                    prior: self.read_knob(conn, &knob).await?,
                    knob,
                    value: Some("ON".into()),
                });
                if opts.super_read_only {
                    let knob = Knob::Global {
                        name: "super_read_only".into(),
                    };
                    plan.changes.push(Change {
                        prior: self.read_knob(conn, &knob).await?,
                        knob,
                        value: Some("ON".into()),
                    });
                }
                plan.reaches_open_sessions = true;
                plan.server_wide_sessions = true;
                plan.notes.push(format!(
                    "SET GLOBAL read_only = ON on {}: global, so every database of the server is read-only{}",
                    srv.name(),
                    if others.is_empty() {
                        String::new()
                    } else {
                        format!(" ({} too, as --server-wide allows)", others.join(", "))
                    }
                ));
                plan.notes.push("it reaches sessions already open at once: their next write fails with error 1290, and a transaction still open fails at COMMIT; open write transactions get --drain to finish first".into());
                plan.notes
                    .push("temporary tables stay writable under read_only".into());
                plan.notes.push(if opts.super_read_only {
                    "super_read_only holds accounts with SUPER too, migsafe's own migration session included".to_string()
                } else {
                    format!(
                        "accounts with {} are not held by read_only: migsafe's migration session writes that way",
                        srv.exempting_privilege()
                    )
                });
            }
            Mode::Maintenance => {
                if !srv.has_account_lock() {
                    plan.refusal = Some(format!(
                        "{} has no ACCOUNT LOCK (MariaDB 10.4.2+, MySQL 5.7.6+)",
                        srv.name()
                    ));
                    return Ok(plan);
                }
                let me = current_account(conn).await?;
                let mut accounts: Vec<(String, String)> = Vec::new();
                if opts.app_roles.is_empty() {
                    accounts = accounts_on(conn, db).await?;
                    accounts.retain(|a| *a != me);
                    if accounts.is_empty() {
                        plan.refusal = Some(format!(
                            "no application account has privileges on {db}: name the accounts to lock with --app-role (or app_roles in [modes] of migsafe.toml)"
                        ));
                        return Ok(plan);
                    }
                } else {
                    for user in &opts.app_roles {
                        let found: Vec<(String, String)> = conn.rows(
                            "reading accounts",
                            &format!(
                                "SELECT CAST(user AS CHAR), CAST(host AS CHAR) FROM mysql.user WHERE user = {} ORDER BY host",
                                lit(user)
                            ),
                        )
                        .await?
                        .into_iter()
                        .filter_map(|r| Some((r[0].clone()?, r[1].clone()?)))
                        .collect();
                        if found.is_empty() {
                            plan.refusal = Some(format!("there is no account named {user}"));
                            return Ok(plan);
                        }
                        if found.contains(&me) {
                            plan.refusal = Some(format!(
                                "{user} is the account migsafe connects with: locking it would lock migsafe out"
                            ));
                            return Ok(plan);
                        }
                        accounts.extend(found);
                    }
                }
                for (user, host) in &accounts {
                    let knob = Knob::AccountLock {
                        user: user.clone(),
                        host: host.clone(),
                    };
                    plan.changes.push(Change {
                        prior: self.read_knob(conn, &knob).await?,
                        knob,
                        value: Some("locked".into()),
                    });
                }
                let mut users: Vec<String> = accounts.iter().map(|(u, _)| u.clone()).collect();
                users.dedup();
                plan.app_roles = users;
                // an account's lock is server-wide: so is the end of its sessions
                plan.server_wide_sessions = true;
                plan.notes.push(format!(
                    "ALTER USER … ACCOUNT LOCK for {}: their new connections are refused (error {}) on every database of the server, an account's lock being server-wide; their open sessions are killed",
                    accounts
                        .iter()
                        .map(|(u, h)| format!("'{u}'@'{h}'"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if srv.mariadb { 4151 } else { 3118 }
                ));
            }
        }
        let opts = ModeOptions {
            app_roles: plan.app_roles.clone(),
            ..opts.clone()
        };
        plan.warnings = self.still_writable(conn, db, mode, &opts).await?;
        Ok(plan)
    }

    async fn read_knob(&self, conn: &mut Conn, knob: &Knob) -> Result<Option<String>, EngineError> {
        match knob {
            Knob::Global { name } => {
                conn.first(
                    &format!("reading {name}"),
                    &format!("SELECT CAST(@@global.{} AS CHAR)", variable(name)?),
                )
                .await
            }
            Knob::AccountLock { user, host } => {
                let text = conn
                    .first(
                        "reading the account",
                        &format!("SHOW CREATE USER {}", account(user, host)),
                    )
                    .await?
                    .unwrap_or_default();
                Ok(Some(
                    if text.to_ascii_uppercase().contains("ACCOUNT LOCK") {
                        "locked"
                    } else {
                        "unlocked"
                    }
                    .into(),
                ))
            }
            other => Err(EngineError::Unsupported(format!(
                "MySQL/MariaDB has no {}",
                other.describe()
            ))),
        }
    }

    async fn write_knob(
        &self,
        conn: &mut Conn,
        knob: &Knob,
        value: Option<&str>,
    ) -> Result<(), EngineError> {
        let what = format!("changing {}", knob.describe());
        match knob {
            Knob::Global { name } => {
                let v = global_value(value.unwrap_or("OFF"))?;
                conn.run(&what, &format!("SET GLOBAL {} = {v}", variable(name)?))
                    .await
            }
            Knob::AccountLock { user, host } => {
                let lock = match value {
                    Some("locked") => "LOCK",
                    None | Some("unlocked") => "UNLOCK",
                    Some(other) => {
                        return Err(EngineError::step(
                            what,
                            format!("{other:?} is not locked or unlocked"),
                        ));
                    }
                };
                conn.run(
                    &what,
                    &format!("ALTER USER {} ACCOUNT {lock}", account(user, host)),
                )
                .await
            }
            other => Err(EngineError::Unsupported(format!(
                "MySQL/MariaDB has no {}",
                other.describe()
            ))),
        }
    }

    fn clock_sql(&self) -> &'static str {
        "SELECT CAST(UNIX_TIMESTAMP(NOW(6)) AS CHAR)"
    }

    async fn open_sessions(
        &self,
        conn: &mut Conn,
        db: &str,
        roles: &[String],
        server_wide: bool,
    ) -> Result<Vec<OpenSession>, EngineError> {
        let mut cond = String::new();
        if !server_wide {
            cond.push_str(&format!(" AND p.db = {}", lit(db)));
        }
        if !roles.is_empty() {
            let v: Vec<String> = roles.iter().map(|r| lit(r)).collect();
            cond.push_str(&format!(" AND p.user IN ({})", v.join(", ")));
        }
        let r = conn.rows(
            "reading the process list",
            &format!(
                "SELECT CAST(p.id AS CHAR), CAST(p.user AS CHAR), CAST(IFNULL(p.host, '') AS CHAR), CAST(IFNULL(p.command, '') AS CHAR), \
                        CAST(EXISTS (SELECT 1 FROM information_schema.innodb_trx t WHERE t.trx_mysql_thread_id = p.id AND t.trx_rows_modified > 0) AS CHAR) \
                 FROM information_schema.processlist p \
                 WHERE p.id <> CONNECTION_ID() AND p.command NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID', 'Slave_IO', 'Slave_SQL', 'Slave_worker') \
                   AND p.user NOT IN ('system user', 'event_scheduler', 'unauthenticated user'){cond} ORDER BY p.id"
            ),
        )
        .await?;
        Ok(r.into_iter()
            .map(|r| OpenSession {
                id: r[0].as_deref().and_then(|v| v.parse().ok()).unwrap_or(0),
                user: r[1].clone().unwrap_or_default(),
                application: String::new(),
                state: r[3].clone().unwrap_or_default(),
                writing: r[4].as_deref() == Some("1"),
                started_epoch: None,
                client: r[2].clone().unwrap_or_default(),
            })
            .collect())
    }

    async fn end_sessions(&self, conn: &mut Conn, ids: &[i64]) -> Result<u64, EngineError> {
        let mut n = 0;
        for id in ids {
            // a session that ended meanwhile is not an error
            if conn.execute(&format!("KILL CONNECTION {id}")).await.is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn still_writable(
        &self,
        conn: &mut Conn,
        db: &str,
        mode: Mode,
        opts: &ModeOptions,
    ) -> Result<Vec<String>, EngineError> {
        let srv = server(conn).await?;
        let mut out = Vec::new();
        match mode {
            Mode::ReadOnly => {
                let privs = if opts.super_read_only {
                    Vec::new()
                } else {
                    conn.rows(
                        "reading privileges",
                        &format!(
                            "SELECT DISTINCT CAST(grantee AS CHAR) FROM information_schema.user_privileges WHERE privilege_type = {} ORDER BY 1",
                            lit(srv.exempting_privilege())
                        ),
                    )
                    .await?
                    .into_iter()
                    .filter_map(|r| r.into_iter().next().flatten())
                    .collect()
                };
                if !privs.is_empty() {
                    out.push(format!(
                        "accounts with {} can still write: {}",
                        srv.exempting_privilege(),
                        privs.join(", ")
                    ));
                }
                let replica = match conn.query_text("SHOW REPLICA STATUS").await {
                    Ok((_, r)) => !r.is_empty(),
                    Err(_) => conn
                        .query_text("SHOW SLAVE STATUS")
                        .await
                        .map(|(_, r)| !r.is_empty())
                        .unwrap_or(false),
                };
                if replica {
                    out.push("this server is a replica: its replication threads keep applying the primary's writes".into());
                }
            }
            Mode::Maintenance => {
                let me = current_account(conn).await?;
                let locked: Vec<String> = opts.app_roles.clone();
                let others: Vec<String> = accounts_on(conn, db)
                    .await?
                    .into_iter()
                    .filter(|a| *a != me && !locked.contains(&a.0))
                    .map(|(u, h)| format!("'{u}'@'{h}'"))
                    .collect();
                if !others.is_empty() {
                    out.push(format!(
                        "accounts with privileges on {db} that are not locked can still connect: {}",
                        others.join(", ")
                    ));
                }
                out.push(format!(
                    "accounts with global privileges (migsafe's '{}'@'{}' among them) can still connect",
                    me.0, me.1
                ));
            }
        }
        Ok(out)
    }

    async fn probe(&self, url: &str, db: &str, mode: Mode, _as_migsafe: bool) -> Probe {
        let url = url.replacen("mariadb://", "mysql://", 1);
        let opts = match MySqlConnectOptions::from_str(&url) {
            Ok(o) => o,
            Err(e) => {
                return Probe::Inconclusive {
                    reason: format!("bad URL: {e}"),
                };
            }
        };
        let connected = MySqlConnection::connect_with(&opts).await;
        let refused = |codes: &'static [&'static str]| {
            move |e: &sqlx::Error| number(e).filter(|(c, _)| codes.contains(&c.as_str()))
        };
        if mode == Mode::Maintenance {
            let p =
                Probe::of_connection(connected.as_ref().map(|_| ()), refused(&["4151", "3118"]));
            if let Ok(c) = connected {
                let _ = c.close().await;
            }
            return p;
        }
        let mut c = match connected {
            Ok(c) => Conn::Mysql(c),
            Err(e) => return Probe::cannot_connect(&e),
        };
        let table = c.first(
            "finding a table",
            &format!(
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = {} AND table_type = 'BASE TABLE' ORDER BY 1 LIMIT 1",
                lit(db)
            ),
        )
        .await
        .ok()
        .flatten();
        let (sql, undo) = match &table {
            Some(t) => (
                format!("DELETE FROM {}.{} WHERE 1 = 0", ident(db), ident(t)),
                None,
            ),
            None => {
                let t = format!("{}.migsafe_probe_{}", ident(db), std::process::id());
                (
                    format!("CREATE TABLE {t} (x INT)"),
                    Some(format!("DROP TABLE IF EXISTS {t}")),
                )
            }
        };
        let wrote = c
            .execute(&sql)
            .await
            .map(|_| format!("`{sql}` ran and changed nothing"));
        if wrote.is_ok()
            && let Some(u) = undo
        {
            let _ = c.execute(&u).await;
        }
        let out = Probe::of_write(
            wrote.as_ref().map(String::clone),
            refused(&["1290", "1836"]),
        );
        c.close().await;
        out
    }

    async fn writable_session(&self, _conn: &mut Conn) -> Result<(), EngineError> {
        // a session cannot override the global: the account's privilege decides
        Ok(())
    }
}

/// Whether a global read back means on.
pub fn global_on(v: Option<&str>) -> bool {
    v.is_some_and(truthy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavours_and_versions_decide_the_mechanism() {
        let m = Server::parse("10.11.19-MariaDB-0+deb12u1");
        assert!(m.mariadb && m.version == (10, 11, 19));
        assert_eq!(m.exempting_privilege(), "READ_ONLY ADMIN");
        assert!(!m.has_super_read_only() && m.has_account_lock());
        let old = Server::parse("10.3.39-MariaDB");
        assert_eq!(old.exempting_privilege(), "SUPER");
        assert!(!old.has_account_lock());
        let my = Server::parse("8.0.36");
        assert!(!my.mariadb && my.has_super_read_only() && my.has_account_lock());
        assert_eq!(my.exempting_privilege(), "SUPER");
        assert!(!Server::parse("5.7.7").has_super_read_only());
    }

    #[test]
    fn values_and_names_are_checked_before_they_reach_sql() {
        assert_eq!(
            parse_grantee("'app'@'localhost'"),
            Some(("app".into(), "localhost".into()))
        );
        assert_eq!(
            parse_grantee("'o''k'@'%'"),
            Some(("o'k".into(), "%".into()))
        );
        assert_eq!(global_value("1").unwrap(), "ON");
        assert_eq!(global_value("OFF").unwrap(), "OFF");
        assert_eq!(global_value("NO_LOCK").unwrap(), "NO_LOCK");
        assert!(global_value("1; DROP").is_err());
        assert!(variable("read_only").is_ok() && variable("x y").is_err());
        assert!(global_on(Some("ON")) && !global_on(Some("OFF")) && !global_on(None));
    }
}
