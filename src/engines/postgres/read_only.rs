//! PostgreSQL read-only and maintenance modes.
//!
//! Read-only: `ALTER DATABASE d SET default_transaction_read_only = on`, and the same per role
//! in that database (`ALTER ROLE r IN DATABASE d SET …`) for every role that carries its own
//! setting, because a role's setting wins over the database's. New sessions start read-only
//! (a write fails with SQLSTATE 25006); sessions already open keep their default, so the mode
//! drains and ends them. Any session can still `SET default_transaction_read_only = off`: it is
//! a guard rail against application writes, and it is exactly how migsafe's migration session
//! keeps writing.
//!
//! Maintenance: `ALTER DATABASE d ALLOW_CONNECTIONS false` (every new connection refused,
//! SQLSTATE 55000, superusers included) or `ALTER ROLE r CONNECTION LIMIT 0` per application role
//! (SQLSTATE 53300, that role only, on every database of the cluster; superusers are not
//! limited). Sessions already open are ended by the mode.
//!
//! Admin statements run on the admin connection (the maintenance database), never in the
//! database being switched, whose own sessions would be read-only.

use super::Postgres;
use super::admin::{ident, lit};
use crate::engines::EngineError;
use crate::engines::admin::Admin;
use crate::engines::conn::{self, Conn};
use crate::engines::modes::{
    Block, Change, Knob, Mode, ModeEngine, ModeOptions, ModePlan, OpenSession, Probe, truthy,
};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::str::FromStr;

/// The setting read-only turns.
pub const READ_ONLY_SETTING: &str = "default_transaction_read_only";

/// `name=value` → `value` when the entry is `name`.
fn value_of(entry: Option<String>, name: &str) -> Option<String> {
    entry.and_then(|e| e.strip_prefix(&format!("{name}=")).map(str::to_string))
}

/// `ARRAY['a','b']::text[]`.
fn text_array(items: &[String]) -> String {
    let v: Vec<String> = items.iter().map(|s| lit(s)).collect();
    format!("ARRAY[{}]::text[]", v.join(", "))
}

/// At most `n` names, then `and N more`.
fn names(v: &[String], n: usize) -> String {
    if v.len() <= n {
        v.join(", ")
    } else {
        format!("{} and {} more", v[..n].join(", "), v.len() - n)
    }
}

fn setting_sql(role: Option<&str>, db: &str, name: &str) -> String {
    let role_cond = match role {
        Some(r) => format!(
            "s.setrole = (SELECT oid FROM pg_roles WHERE rolname = {})",
            lit(r)
        ),
        None => "s.setrole = 0".into(),
    };
    format!(
        "SELECT c FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) c \
         WHERE {role_cond} AND d.datname = {} AND c LIKE {} LIMIT 1",
        lit(db),
        lit(&format!("{name}=%"))
    )
}

fn check_bool(v: &str) -> Result<&'static str, EngineError> {
    match v {
        "true" | "on" => Ok("true"),
        "false" | "off" => Ok("false"),
        other => Err(EngineError::step(
            "ALLOW_CONNECTIONS",
            format!("{other:?} is not true or false"),
        )),
    }
}

fn check_limit(v: Option<&str>) -> Result<i64, EngineError> {
    match v {
        None => Ok(-1),
        Some(s) => s
            .trim()
            .parse()
            .map_err(|_| EngineError::step("CONNECTION LIMIT", format!("{s:?} is not a number"))),
    }
}

/// Roles that carry their own `default_transaction_read_only` (for this database or for all):
/// (role, value in this database, value for every database).
async fn role_overrides(
    conn: &mut Conn,
    db: &str,
) -> Result<Vec<(String, Option<String>, Option<String>)>, EngineError> {
    let like = lit(&format!("{READ_ONLY_SETTING}=%"));
    let r = conn.rows(
        "reading per-role settings",
        &format!(
            "SELECT r.rolname::text, \
               (SELECT c FROM pg_db_role_setting s, unnest(s.setconfig) c WHERE s.setrole = r.oid AND s.setdatabase = d.oid AND c LIKE {like} LIMIT 1), \
               (SELECT c FROM pg_db_role_setting s, unnest(s.setconfig) c WHERE s.setrole = r.oid AND s.setdatabase = 0 AND c LIKE {like} LIMIT 1) \
             FROM pg_roles r CROSS JOIN pg_database d WHERE d.datname = {} ORDER BY 1",
            lit(db)
        ),
    )
    .await?;
    Ok(r.into_iter()
        .filter_map(|row| {
            let mut it = row.into_iter();
            let role = it.next().flatten()?;
            let in_db = value_of(it.next().flatten(), READ_ONLY_SETTING);
            let all = value_of(it.next().flatten(), READ_ONLY_SETTING);
            (in_db.is_some() || all.is_some()).then_some((role, in_db, all))
        })
        .collect())
}

#[async_trait::async_trait]
impl ModeEngine for Postgres {
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
        let state = self.database_state(conn, db).await?;
        if !state.exists {
            return Err(EngineError::step(
                "reading the database",
                format!("there is no database {db} on this server"),
            ));
        }
        let mut plan = ModePlan {
            app_roles: opts.app_roles.clone(),
            ..ModePlan::default()
        };
        match mode {
            Mode::ReadOnly => {
                plan.changes.push(Change {
                    knob: Knob::DatabaseSetting {
                        database: db.into(),
                        name: READ_ONLY_SETTING.into(),
                    },
                    prior: state.setting(READ_ONLY_SETTING).map(str::to_string),
                    value: Some("on".into()),
                });
                plan.notes.push(format!(
                    "ALTER DATABASE {db} SET {READ_ONLY_SETTING} = on: new sessions start read-only (a write fails with SQLSTATE 25006); sessions already open keep their default until they end, so they are drained and ended"
                ));
                for (role, in_db, all) in role_overrides(conn, db).await? {
                    let effective = in_db.clone().or(all.clone()).unwrap_or_default();
                    if truthy(&effective) {
                        continue;
                    }
                    let whence = if in_db.is_some() {
                        format!("in database {db}")
                    } else {
                        "for every database".into()
                    };
                    plan.notes.push(format!(
                        "role {role} has its own {READ_ONLY_SETTING} = {effective} ({whence}), which wins over the database's: set to on for {role} in {db}"
                    ));
                    plan.changes.push(Change {
                        knob: Knob::RoleSetting {
                            role,
                            database: db.into(),
                            name: READ_ONLY_SETTING.into(),
                        },
                        prior: in_db,
                        value: Some("on".into()),
                    });
                }
                plan.notes.push(format!(
                    "any session can still SET {READ_ONLY_SETTING} = off or BEGIN READ WRITE: this is a default against application writes, not a lock (migsafe's migration session overrides it for itself)"
                ));
            }
            Mode::Maintenance => match opts.block {
                Block::Database => {
                    plan.changes.push(Change {
                        knob: Knob::AllowConnections {
                            database: db.into(),
                        },
                        prior: state.allow_connections.map(|a| a.to_string()),
                        value: Some("false".into()),
                    });
                    plan.notes.push(format!(
                        "ALTER DATABASE {db} ALLOW_CONNECTIONS false: every new connection to {db} is refused (SQLSTATE 55000), superusers and migsafe's own included; sessions already open are ended"
                    ));
                }
                Block::Roles => {
                    if opts.app_roles.is_empty() {
                        plan.refusal = Some("--block roles sets CONNECTION LIMIT 0 per application role: name them with --app-role (or app_roles in [modes] of migsafe.toml)".into());
                        return Ok(plan);
                    }
                    let me = conn
                        .first("reading current_user", "SELECT current_user::text")
                        .await?
                        .unwrap_or_default();
                    if opts.app_roles.contains(&me) {
                        plan.refusal = Some(format!(
                            "{me} is the role migsafe connects as: CONNECTION LIMIT 0 would lock migsafe out"
                        ));
                        return Ok(plan);
                    }
                    let r = conn.rows(
                        "reading roles",
                        &format!(
                            "SELECT rolname::text, rolsuper::text, rolconnlimit::text FROM pg_roles WHERE rolname = ANY({})",
                            text_array(&opts.app_roles)
                        ),
                    )
                    .await?;
                    for role in &opts.app_roles {
                        let Some(row) = r.iter().find(|x| x[0].as_deref() == Some(role)) else {
                            plan.refusal = Some(format!("there is no role {role}"));
                            return Ok(plan);
                        };
                        if row[1].as_deref() == Some("true") {
                            plan.refusal = Some(format!(
                                "role {role} is a superuser: CONNECTION LIMIT does not apply to superusers (use --block database)"
                            ));
                            return Ok(plan);
                        }
                        plan.changes.push(Change {
                            knob: Knob::RoleConnectionLimit { role: role.clone() },
                            prior: row[2].clone(),
                            value: Some("0".into()),
                        });
                    }
                    plan.notes.push(format!(
                        "ALTER ROLE … CONNECTION LIMIT 0 for {}: their new connections are refused (SQLSTATE 53300) on every database of the cluster, the limit being the role's; sessions already open are ended",
                        opts.app_roles.join(", ")
                    ));
                }
            },
        }
        plan.warnings = self.still_writable(conn, db, mode, opts).await?;
        Ok(plan)
    }

    async fn read_knob(&self, conn: &mut Conn, knob: &Knob) -> Result<Option<String>, EngineError> {
        match knob {
            Knob::DatabaseSetting { database, name } => Ok(value_of(
                conn.first(
                    "reading a database setting",
                    &setting_sql(None, database, name),
                )
                .await?,
                name,
            )),
            Knob::RoleSetting {
                role,
                database,
                name,
            } => Ok(value_of(
                conn.first(
                    "reading a role setting",
                    &setting_sql(Some(role), database, name),
                )
                .await?,
                name,
            )),
            Knob::AllowConnections { database } => {
                conn.first(
                    "reading ALLOW_CONNECTIONS",
                    &format!(
                        "SELECT datallowconn::text FROM pg_database WHERE datname = {}",
                        lit(database)
                    ),
                )
                .await
            }
            Knob::DatabaseConnectionLimit { database } => {
                conn.first(
                    "reading the database's CONNECTION LIMIT",
                    &format!(
                        "SELECT datconnlimit::text FROM pg_database WHERE datname = {}",
                        lit(database)
                    ),
                )
                .await
            }
            Knob::RoleConnectionLimit { role } => {
                conn.first(
                    "reading the role's CONNECTION LIMIT",
                    &format!(
                        "SELECT rolconnlimit::text FROM pg_roles WHERE rolname = {}",
                        lit(role)
                    ),
                )
                .await
            }
            other => Err(EngineError::Unsupported(format!(
                "PostgreSQL has no {}",
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
        let sql = match knob {
            Knob::DatabaseSetting { database, name } => match value {
                Some(v) => format!(
                    "ALTER DATABASE {} SET {} TO {}",
                    ident(database),
                    ident(name),
                    lit(v)
                ),
                None => format!("ALTER DATABASE {} RESET {}", ident(database), ident(name)),
            },
            Knob::RoleSetting {
                role,
                database,
                name,
            } => match value {
                Some(v) => format!(
                    "ALTER ROLE {} IN DATABASE {} SET {} TO {}",
                    ident(role),
                    ident(database),
                    ident(name),
                    lit(v)
                ),
                None => format!(
                    "ALTER ROLE {} IN DATABASE {} RESET {}",
                    ident(role),
                    ident(database),
                    ident(name)
                ),
            },
            Knob::AllowConnections { database } => format!(
                "ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}",
                ident(database),
                check_bool(value.unwrap_or("true"))?
            ),
            Knob::DatabaseConnectionLimit { database } => format!(
                "ALTER DATABASE {} WITH CONNECTION LIMIT {}",
                ident(database),
                check_limit(value)?
            ),
            Knob::RoleConnectionLimit { role } => format!(
                "ALTER ROLE {} WITH CONNECTION LIMIT {}",
                ident(role),
                check_limit(value)?
            ),
            other => {
                return Err(EngineError::Unsupported(format!(
                    "PostgreSQL has no {}",
                    other.describe()
                )));
            }
        };
        conn.run(&what, &sql).await
    }

    fn clock_sql(&self) -> &'static str {
        "SELECT extract(epoch FROM clock_timestamp())::text"
    }

    async fn open_sessions(
        &self,
        conn: &mut Conn,
        db: &str,
        roles: &[String],
        _server_wide: bool,
    ) -> Result<Vec<OpenSession>, EngineError> {
        let role_cond = if roles.is_empty() {
            String::new()
        } else {
            format!(" AND a.usename::text = ANY({})", text_array(roles))
        };
        let r = conn.rows(
            "reading pg_stat_activity",
            &format!(
                "SELECT a.pid::text, COALESCE(a.usename::text, ''), COALESCE(a.application_name, ''), COALESCE(a.state, ''), \
                        (a.backend_xid IS NOT NULL)::text, extract(epoch FROM a.backend_start)::text, COALESCE(host(a.client_addr), 'local') \
                 FROM pg_stat_activity a WHERE a.datname = {} AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'{role_cond} ORDER BY a.pid",
                lit(db)
            ),
        )
        .await?;
        Ok(r.into_iter()
            .map(|r| OpenSession {
                id: r[0].as_deref().and_then(|v| v.parse().ok()).unwrap_or(0),
                user: r[1].clone().unwrap_or_default(),
                application: r[2].clone().unwrap_or_default(),
                state: r[3].clone().unwrap_or_default(),
                writing: r[4].as_deref() == Some("true"),
                started_epoch: r[5].as_deref().and_then(|v| v.parse().ok()),
                client: r[6].clone().unwrap_or_default(),
            })
            .collect())
    }

    async fn end_sessions(&self, conn: &mut Conn, ids: &[i64]) -> Result<u64, EngineError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        Ok(conn.first(
            "ending sessions",
            &format!(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::text FROM unnest(ARRAY[{}]::int[]) pid",
                list.join(", ")
            ),
        )
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
    }

    async fn still_writable(
        &self,
        conn: &mut Conn,
        db: &str,
        mode: Mode,
        opts: &ModeOptions,
    ) -> Result<Vec<String>, EngineError> {
        let mut out = Vec::new();
        let supers: Vec<String> = conn
            .rows(
                "reading superusers",
                "SELECT rolname::text FROM pg_roles WHERE rolsuper AND rolcanlogin ORDER BY 1",
            )
            .await?
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect();
        match (mode, opts.block) {
            (Mode::ReadOnly, _) => {
                if !supers.is_empty() {
                    out.push(format!(
                        "superusers ({}) are held by nothing but the default: like any session they can SET {READ_ONLY_SETTING} = off",
                        names(&supers, 8)
                    ));
                }
            }
            (Mode::Maintenance, Block::Roles) => {
                let others: Vec<String> = conn.rows(
                    "reading login roles",
                    &format!(
                        "SELECT rolname::text FROM pg_roles WHERE rolcanlogin AND NOT rolsuper AND has_database_privilege(oid, {}, 'CONNECT') AND NOT rolname::text = ANY({}) ORDER BY 1",
                        lit(db),
                        text_array(&opts.app_roles)
                    ),
                )
                .await?
                .into_iter()
                .filter_map(|r| r.into_iter().next().flatten())
                .collect();
                if !supers.is_empty() {
                    out.push(format!(
                        "superusers ({}) are not limited by CONNECTION LIMIT and can still connect",
                        names(&supers, 8)
                    ));
                }
                if !others.is_empty() {
                    out.push(format!(
                        "other login roles with CONNECT on {db} can still connect: {}",
                        names(&others, 8)
                    ));
                }
            }
            (Mode::Maintenance, Block::Database) => {}
        }
        let prepared: Vec<String> = conn.rows(
            "reading prepared transactions",
            &format!(
                "SELECT gid || ' (owner ' || owner::text || ', prepared ' || to_char(prepared, 'YYYY-MM-DD HH24:MI:SS') || ')' FROM pg_prepared_xacts WHERE database = {} ORDER BY prepared",
                lit(db)
            ),
        )
        .await?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
        if !prepared.is_empty() {
            out.push(format!(
                "prepared transactions belong to no session and still commit their writes (COMMIT PREPARED): {}",
                names(&prepared, 5)
            ));
        }
        let subs: Vec<String> = conn.rows(
            "reading subscriptions",
            &format!(
                "SELECT s.subname::text FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid WHERE d.datname = {} AND s.subenabled ORDER BY 1",
                lit(db)
            ),
        )
        .await?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
        if !subs.is_empty() {
            out.push(format!(
                "logical replication workers keep applying changes into {db} whatever the mode (subscriptions {}): ALTER SUBSCRIPTION … DISABLE stops them",
                names(&subs, 5)
            ));
        }
        Ok(out)
    }

    async fn probe(&self, url: &str, db: &str, mode: Mode, as_migsafe: bool) -> Probe {
        let _ = db;
        let opts = match PgConnectOptions::from_str(&conn::sqlx_url(url)) {
            Ok(o) => o.application_name(if as_migsafe {
                "migsafe migrate"
            } else {
                "migsafe probe"
            }),
            Err(e) => {
                return Probe::Inconclusive {
                    reason: format!("bad URL: {e}"),
                };
            }
        };
        let connected = PgConnection::connect_with(&opts).await;
        let refused = |codes: &'static [&'static str]| {
            move |e: &sqlx::Error| sql_state(e).filter(|(c, _)| codes.contains(&c.as_str()))
        };
        if mode == Mode::Maintenance {
            let p = Probe::of_connection(
                connected.as_ref().map(|_| ()),
                refused(&["55000", "53300", "57P03"]),
            );
            if let Ok(c) = connected {
                let _ = c.close().await;
            }
            return p;
        }
        let mut c = match connected {
            Ok(c) => Conn::Postgres(c),
            Err(e) => return Probe::cannot_connect(&e),
        };
        if as_migsafe && let Err(e) = self.writable_session(&mut c).await {
            c.close().await;
            return Probe::Inconclusive {
                reason: e.to_string(),
            };
        }
        let out = match c.execute("BEGIN").await {
            Err(e) => Probe::Inconclusive {
                reason: e.to_string(),
            },
            Ok(_) => {
                let wrote = c
                    .execute("CREATE TEMPORARY TABLE migsafe_probe (x int)")
                    .await
                    .map(|_| "CREATE TEMPORARY TABLE ran (rolled back)".to_string());
                Probe::of_write(wrote.as_ref().map(String::clone), refused(&["25006"]))
            }
        };
        let _ = c.execute("ROLLBACK").await;
        c.close().await;
        out
    }

    async fn writable_session(&self, conn: &mut Conn) -> Result<(), EngineError> {
        conn.run(
            "making the migration session writable",
            &format!("SET {READ_ONLY_SETTING} = off; SET application_name = 'migsafe migrate'"),
        )
        .await
    }
}

/// One identifier at the start of `s` (bare, or double-quoted with `""` escapes) and the rest.
fn take_ident(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    if let Some(rest) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if chars.peek().map(|(_, n)| *n) == Some('"') {
                    out.push('"');
                    chars.next();
                } else {
                    return Some((out, &rest[i + 1..]));
                }
            } else {
                out.push(c);
            }
        }
        None
    } else {
        let end = s.find(char::is_whitespace).unwrap_or(s.len());
        (end > 0).then(|| (s[..end].to_string(), &s[end..]))
    }
}

/// What a `pg_dump --create` property line sets: (role, setting) for `ALTER DATABASE d SET n …`
/// (no role) and `ALTER ROLE r IN DATABASE d SET n …`.
fn sets(line: &str) -> Option<(Option<String>, String)> {
    let word = |s: &str, w: &str| -> Option<usize> {
        let t = s.trim_start();
        (t.len() >= w.len() && t[..w.len()].eq_ignore_ascii_case(w))
            .then(|| s.len() - t.len() + w.len())
    };
    let (role, rest) = if let Some(i) = word(line, "ALTER DATABASE") {
        let (_, rest) = take_ident(&line[i..])?;
        (None, rest)
    } else {
        let i = word(line, "ALTER ROLE")?;
        let (role, rest) = take_ident(&line[i..])?;
        let j = word(rest, "IN DATABASE")?;
        let (_, rest) = take_ident(&rest[j..])?;
        (Some(role), rest)
    };
    let k = word(rest, "SET")?;
    let (name, _) = take_ident(&rest[k..])?;
    Some((role, name))
}

/// The database-level properties `pg_dump --create` printed for `db` (as the restore carries
/// them over to a restored database), with every knob a migsafe mode turned put back to its
/// value from before the mode: the restored database never comes up in the mode, and keeps
/// every setting of its own (a role's own read-only default included). Returns (statements,
/// the mode's statements left out). migsafe's marker never travels.
pub fn properties_without_mode(
    pg_dump_create_output: &str,
    db: &str,
    changes: &[Change],
) -> (Vec<String>, Vec<String>) {
    let (all, _) = super::restore::database_properties(pg_dump_create_output, false);
    let mut keep = Vec::new();
    let mut skipped = Vec::new();
    let turned = |role: &Option<String>, name: &str| {
        changes.iter().any(|c| match (&c.knob, role) {
            (Knob::DatabaseSetting { name: n, .. }, None) => n == name,
            (
                Knob::RoleSetting {
                    role: r, name: n, ..
                },
                Some(role),
            ) => r == role && n == name,
            _ => false,
        })
    };
    for line in all {
        match sets(&line) {
            Some((role, name)) if turned(&role, &name) => skipped.push(line),
            _ => keep.push(line),
        }
    }
    for c in changes {
        let Some(prior) = &c.prior else { continue };
        match &c.knob {
            Knob::DatabaseSetting { name, .. } => keep.push(format!(
                "ALTER DATABASE {} SET {} TO {};",
                ident(db),
                ident(name),
                lit(prior)
            )),
            Knob::RoleSetting { role, name, .. } => keep.push(format!(
                "ALTER ROLE {} IN DATABASE {} SET {} TO {};",
                ident(role),
                ident(db),
                ident(name),
                lit(prior)
            )),
            _ => {}
        }
    }
    (keep, skipped)
}

/// The SQLSTATE and message of a database error.
fn sql_state(e: &sqlx::Error) -> Option<(String, String)> {
    let d = e.as_database_error()?;
    Some((d.code()?.into_owned(), d.message().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_limits_are_checked_before_they_reach_sql() {
        assert_eq!(
            value_of(
                Some("default_transaction_read_only=off".into()),
                READ_ONLY_SETTING
            ),
            Some("off".into())
        );
        assert_eq!(
            value_of(Some("work_mem=8MB".into()), READ_ONLY_SETTING),
            None
        );
        assert_eq!(check_limit(None).unwrap(), -1);
        assert_eq!(check_limit(Some("7")).unwrap(), 7);
        assert!(check_limit(Some("7; DROP ROLE x")).is_err());
        assert!(check_bool("maybe").is_err());
        assert_eq!(text_array(&["a'b".into()]), "ARRAY['a''b']::text[]");
        assert_eq!(
            names(&["a".into(), "b".into(), "c".into()], 2),
            "a, b and 1 more"
        );
    }

    #[test]
    fn a_restored_database_gets_the_values_from_before_the_mode() {
        let dump = concat!(
            "CREATE DATABASE shop WITH TEMPLATE = template0;\n",
            "ALTER DATABASE shop SET default_transaction_read_only TO 'on';\n",
            "ALTER DATABASE shop SET work_mem TO '8MB';\n",
            "ALTER DATABASE shop SET \"migsafe.operation\" TO '[]';\n",
            "ALTER ROLE \"Odd \"\"Role\" IN DATABASE shop SET default_transaction_read_only TO 'on';\n",
            "ALTER ROLE reporter IN DATABASE shop SET default_transaction_read_only TO 'on';\n",
        );
        let rs = |role: &str, prior: Option<&str>| Change {
            knob: Knob::RoleSetting {
                role: role.into(),
                database: "shop".into(),
                name: READ_ONLY_SETTING.into(),
            },
            prior: prior.map(str::to_string),
            value: Some("on".into()),
        };
        let changes = vec![
            Change {
                knob: Knob::DatabaseSetting {
                    database: "shop".into(),
                    name: READ_ONLY_SETTING.into(),
                },
                prior: Some("off".into()),
                value: Some("on".into()),
            },
            rs("Odd \"Role", None),
        ];
        let (keep, skipped) = properties_without_mode(dump, "shop", &changes);
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(keep.iter().any(|l| l.contains("work_mem")));
        assert!(
            keep.iter()
                .any(|l| l.contains("reporter") && l.contains("'on'")),
            "a role's own setting the mode did not turn travels: {keep:?}"
        );
        assert!(
            keep.contains(
                &"ALTER DATABASE \"shop\" SET \"default_transaction_read_only\" TO 'off';"
                    .to_string()
            ),
            "{keep:?}"
        );
        assert!(
            !keep
                .iter()
                .any(|l| l.contains("migsafe.operation") || l.contains("Odd"))
        );
        assert_eq!(
            sets("ALTER ROLE \"a b\" IN DATABASE \"x\" SET work_mem TO '1MB';"),
            Some((Some("a b".into()), "work_mem".into()))
        );
        assert_eq!(sets("COMMENT ON DATABASE x IS 'y';"), None);
    }
}
