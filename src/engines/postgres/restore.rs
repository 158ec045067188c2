//! PostgreSQL restores: facts about the target server for the preflight, the pg_restore / psql
//! commands, classification of restore errors, and the database operations of the swap strategy
//! (create, drain, rename both databases in one transaction, carry database-level settings over).

use super::backup::{PgFormat, PgTools, major_of};
use crate::engines::conn::Conn;
pub use crate::engines::dump::{ErrorClass, RestoreIssue};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Facts about the target server, read before anything is changed.
#[derive(Debug, Clone, Default)]
pub struct TargetFacts {
    pub version: String,
    pub major: u32,
    pub current_user: String,
    pub superuser: bool,
    pub createdb: bool,
    pub max_locks_per_transaction: u64,
    pub max_connections: u64,
    pub max_prepared_transactions: u64,
    /// None when the role may not read it.
    pub data_directory: Option<String>,
    pub available_extensions: BTreeSet<String>,
    pub roles: BTreeSet<String>,
    /// name → (owner, allow_connections)
    pub databases: std::collections::BTreeMap<String, (String, bool)>,
}

fn first(rows: &[Vec<Option<String>>]) -> Vec<Option<String>> {
    rows.first().cloned().unwrap_or_default()
}

fn col(rows: Vec<Vec<Option<String>>>) -> BTreeSet<String> {
    rows.into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect()
}

pub async fn target_facts(conn: &mut Conn) -> Result<TargetFacts, sqlx::Error> {
    let (_, rows) = conn
        .query_text(
            "SELECT current_setting('server_version'), current_user::text, r.rolsuper::text, r.rolcreatedb::text, \
                    current_setting('max_locks_per_transaction'), current_setting('max_connections'), current_setting('max_prepared_transactions') \
             FROM pg_roles r WHERE r.rolname = current_user",
        )
        .await?;
    let r = first(&rows);
    let get = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
    let num = |i: usize| get(i).parse::<u64>().unwrap_or(0);
    let data_directory = match conn
        .query_text("SELECT current_setting('data_directory')")
        .await
    {
        Ok((_, rows)) => first(&rows).into_iter().next().flatten(),
        Err(_) => None,
    };
    let (_, ext) = conn
        .query_text("SELECT name::text FROM pg_available_extensions")
        .await?;
    let (_, roles) = conn
        .query_text("SELECT rolname::text FROM pg_roles")
        .await?;
    let (_, dbs) = conn.query_text("SELECT datname::text, pg_get_userbyid(datdba)::text, datallowconn::text FROM pg_database").await?;
    Ok(TargetFacts {
        major: major_of(&get(0)).unwrap_or(0),
        version: get(0),
        current_user: get(1),
        superuser: get(2) == "true",
        createdb: get(3) == "true",
        max_locks_per_transaction: num(4),
        max_connections: num(5),
        max_prepared_transactions: num(6),
        data_directory,
        available_extensions: col(ext),
        roles: col(roles),
        databases: dbs
            .into_iter()
            .filter_map(|r| {
                let mut it = r.into_iter();
                let name = it.next()??;
                let owner = it.next().flatten().unwrap_or_default();
                let allow = it.next().flatten().as_deref() == Some("true");
                Some((name, (owner, allow)))
            })
            .collect(),
    })
}

/// Relations of the live database: (schema, name).
pub async fn relations(conn: &mut Conn) -> Result<BTreeSet<(String, String)>, sqlx::Error> {
    let (_, rows) = conn
        .query_text(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' \
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')",
        )
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let mut it = r.into_iter();
            Some((it.next()??, it.next()??))
        })
        .collect())
}

/// How pg_restore / psql should restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreSpec {
    /// Drop the archive's objects first (`--clean --if-exists`), for in-place restores.
    pub clean: bool,
    pub single_transaction: bool,
    pub jobs: u32,
    pub no_owner: bool,
    pub no_acl: bool,
    /// A filtered table of contents (`-L`).
    pub use_list: Option<std::path::PathBuf>,
    pub env: Vec<(String, String)>,
    pub lock_timeout_secs: Option<u64>,
}

/// The restore command for an archive. Custom and directory archives go through pg_restore
/// without `--exit-on-error` (unless in one transaction), so every error is seen and classified;
/// plain dumps through `psql -v ON_ERROR_STOP=1 --single-transaction` (without ON_ERROR_STOP psql
/// exits 0 after errors).
pub fn restore_command(
    tools: &PgTools,
    format: PgFormat,
    archive: &Path,
    dbname_url: &str,
    spec: &RestoreSpec,
) -> Command {
    let mut c;
    match format {
        PgFormat::Plain => {
            c = Command::new(tools.tool("psql"));
            c.args([
                "-X",
                "-q",
                "--no-password",
                "-v",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                "--output=/dev/null",
            ])
            .arg(format!("--dbname={dbname_url}"))
            .arg(format!("--file={}", archive.display()));
        }
        PgFormat::Custom | PgFormat::Directory => {
            c = Command::new(tools.tool("pg_restore"));
            c.arg("--no-password").arg(format!("--dbname={dbname_url}"));
            if spec.clean {
                c.args(["--clean", "--if-exists"]);
            }
            if spec.single_transaction {
                c.arg("--single-transaction");
            } else if spec.jobs > 1 {
                c.arg(format!("--jobs={}", spec.jobs));
            }
            if spec.no_owner {
                c.arg("--no-owner");
            }
            if spec.no_acl {
                c.arg("--no-acl");
            }
            if let Some(l) = &spec.use_list {
                c.arg(format!("--use-list={}", l.display()));
            }
            c.arg(archive);
        }
    }
    // a database left read-only by a maintenance window must not make the restore fail
    let mut opts = String::from("-c default_transaction_read_only=off");
    if let Some(t) = spec.lock_timeout_secs {
        opts.push_str(&format!(" -c lock_timeout={}s", t));
    }
    c.env("PGOPTIONS", opts);
    c.envs(spec.env.iter().map(|(k, v)| (k, v)));
    c
}

/// The table of contents with entries a non-owner cannot restore commented out: comments on
/// extensions (`must be owner of extension plpgsql`, harmless and unavoidable otherwise).
pub fn filter_toc(toc: &str) -> (String, usize) {
    let mut dropped = 0;
    let text = toc
        .lines()
        .map(|l| {
            if !l.starts_with(';') && l.contains(" COMMENT - EXTENSION ") {
                dropped += 1;
                format!(";{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    (text + "\n", dropped)
}

/// Errors in pg_restore or psql output, classified. Harmless: ownership that could not be
/// assigned (missing role, not permitted) and comments on extensions owned by someone else.
/// Everything else is fatal, including anything not recognised.
pub fn classify_errors(stderr: &str) -> Vec<RestoreIssue> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut lines = stderr.lines().peekable();
    while let Some(line) = lines.next() {
        let msg = if let Some(rest) = line.strip_prefix("pg_restore: error: ") {
            rest.to_string()
        } else if line.starts_with("psql:")
            && (line.contains(": ERROR:") || line.contains(": FATAL:") || line.contains(": error:"))
        {
            line.splitn(4, ':')
                .nth(3)
                .unwrap_or(line)
                .trim()
                .to_string()
        } else if line.starts_with("psql: error:") || line.starts_with("pg_restore: fatal:") {
            line.to_string()
        } else {
            continue;
        };
        let mut command: Option<String> = None;
        if lines.peek().is_some_and(|l| l.starts_with("Command was: ")) {
            let mut c = lines
                .next()
                .unwrap_or_default()
                .trim_start_matches("Command was: ")
                .to_string();
            while let Some(l) = lines.peek() {
                if l.starts_with("pg_restore:") || l.starts_with("psql:") || l.trim().is_empty() {
                    break;
                }
                c.push('\n');
                c.push_str(l);
                lines.next();
            }
            command = Some(c);
        }
        out.push((msg, command));
    }
    out.into_iter()
        .map(|(message, command)| {
            let cmd = command.as_deref().unwrap_or("");
            let (class, reason) = if cmd.starts_with("COMMENT ON EXTENSION")
                && message.contains("must be owner of extension")
            {
                (ErrorClass::Harmless, "comment-on-extension")
            } else if cmd.contains(" OWNER TO ")
                && (message.contains("does not exist")
                    || message.contains("must be owner")
                    || message.contains("must be member of role")
                    || message.contains("must be able to SET ROLE"))
            {
                (ErrorClass::Harmless, "owner")
            } else {
                (ErrorClass::Fatal, "error")
            };
            RestoreIssue {
                class,
                reason: reason.into(),
                message,
                command,
            }
        })
        .collect()
}

pub use crate::sql::quote::double_quoted as ident;

use crate::sql::quote::standard_literal as lit;

/// `CREATE DATABASE … TEMPLATE template0` with the source's encoding and locale when known
/// (template0: a truly empty database, as pg_restore's documentation asks).
pub async fn create_database(
    conn: &mut Conn,
    name: &str,
    encoding: Option<&str>,
    collate: Option<&str>,
    ctype: Option<&str>,
    owner: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut sql = format!("CREATE DATABASE {} TEMPLATE template0", ident(name));
    if let Some(e) = encoding {
        sql.push_str(&format!(" ENCODING {}", lit(e)));
    }
    if let Some(c) = collate {
        sql.push_str(&format!(" LC_COLLATE {}", lit(c)));
    }
    if let Some(c) = ctype {
        sql.push_str(&format!(" LC_CTYPE {}", lit(c)));
    }
    if let Some(o) = owner {
        sql.push_str(&format!(" OWNER {}", ident(o)));
    }
    conn.execute(&sql).await.map(|_| ())
}

pub async fn drop_database(conn: &mut Conn, name: &str) -> Result<(), sqlx::Error> {
    // connections of our own (a failed verification's) may linger for a moment
    let _ = conn.execute(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid()", lit(name))).await;
    conn.execute(&format!("DROP DATABASE IF EXISTS {}", ident(name)))
        .await
        .map(|_| ())
}

/// Creates roles the archive needs in a throwaway server (restore drills), so ownership and
/// grants restore as in the source.
pub async fn create_roles(conn: &mut Conn, roles: &BTreeSet<String>) -> Result<(), sqlx::Error> {
    let (_, have) = conn
        .query_text("SELECT rolname::text FROM pg_roles")
        .await?;
    let have = col(have);
    for r in roles.difference(&have) {
        conn.execute(&format!("CREATE ROLE {} NOLOGIN", ident(r)))
            .await?;
    }
    Ok(())
}

/// Database-level properties of the live database to carry over to its replacement, as the
/// statements `pg_dump --create` would emit (settings, per-role settings, connection limit,
/// owner, comment, grants). migsafe's own marker never travels; with `in_mode` (the live
/// database is in a migsafe read-only or maintenance mode) neither do that mode's
/// `default_transaction_read_only` and `CONNECTION LIMIT = 0`. Returns (statements, skipped
/// statements).
pub fn database_properties(
    pg_dump_create_output: &str,
    in_mode: bool,
) -> (Vec<String>, Vec<String>) {
    let mut keep = Vec::new();
    let mut skipped = Vec::new();
    for line in pg_dump_create_output.lines() {
        let is_prop = (line.starts_with("ALTER DATABASE ") && !line.contains(" RENAME TO "))
            || (line.starts_with("ALTER ROLE ") && line.contains(" IN DATABASE "))
            || line.starts_with("COMMENT ON DATABASE ")
            || line.starts_with("SECURITY LABEL ")
            || ((line.starts_with("GRANT ") || line.starts_with("REVOKE "))
                && line.contains(" ON DATABASE "));
        if !is_prop {
            continue;
        }
        if line.contains(&format!("\"{}\"", super::admin::MARKER_SETTING))
            || line.contains(&format!(" {} ", super::admin::MARKER_SETTING))
        {
            continue;
        }
        if in_mode
            && (line.contains("default_transaction_read_only")
                || line.contains("CONNECTION LIMIT = 0;"))
        {
            skipped.push(line.to_string());
        } else {
            keep.push(line.to_string());
        }
    }
    (keep, skipped)
}

/// `pg_dump --create --schema-only --exclude-schema=*`: only the database-level properties.
pub fn database_properties_command(
    tools: &PgTools,
    dbname_url: &str,
    env: &[(String, String)],
) -> Command {
    let mut c = Command::new(tools.tool("pg_dump"));
    c.args([
        "--create",
        "--schema-only",
        "--exclude-schema=*",
        "--no-password",
    ])
    .arg(format!("--dbname={dbname_url}"));
    c.envs(env.iter().map(|(k, v)| (k, v)));
    c
}

/// Swaps `restored` in under the name `live` and keeps the old database as `keep_as`, in one
/// transaction (both renames, the carried-over properties, and the old database's
/// ALLOW_CONNECTIONS back to `prior_allow`): all or nothing. Sessions still connected to `live`
/// (the caller has refused new ones and drained it) are terminated and the transaction retried.
pub async fn swap_names(
    conn: &mut Conn,
    live: &str,
    restored: &str,
    keep_as: &str,
    properties: &[String],
    prior_allow: bool,
) -> Result<(), sqlx::Error> {
    let mut last_err = None;
    for _attempt in 0..20 {
        let _ = conn
            .execute(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid()", lit(live)))
            .await;
        // terminated backends take a moment to exit; RENAME refuses while any remain
        let wait_until = Instant::now() + Duration::from_secs(5);
        while sessions(conn, live).await? > 0 && Instant::now() < wait_until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut tx = vec![
            "BEGIN".to_string(),
            format!(
                "ALTER DATABASE {} RENAME TO {}",
                ident(live),
                ident(keep_as)
            ),
            format!(
                "ALTER DATABASE {} RENAME TO {}",
                ident(restored),
                ident(live)
            ),
        ];
        tx.extend(properties.iter().cloned());
        tx.push(format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS {prior_allow}",
            ident(keep_as)
        ));
        tx.push("COMMIT".into());
        match conn.execute(&tx.join(";\n")).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                let _ = conn.execute("ROLLBACK").await;
                let retry = e.to_string().contains("being accessed by other users");
                last_err = Some(e);
                if !retry {
                    break;
                }
            }
        }
    }
    Err(last_err.unwrap_or_else(|| sqlx::Error::Protocol("swap failed".into())))
}

async fn sessions(conn: &mut Conn, db: &str) -> Result<u64, sqlx::Error> {
    let (_, rows) = conn.query_text(&format!("SELECT count(*)::text FROM pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid()", lit(db))).await?;
    Ok(first(&rows)
        .into_iter()
        .next()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_restore_errors() {
        let stderr = "\
pg_restore: error: could not execute query: ERROR:  role \"appowner\" does not exist
Command was: ALTER TABLE public.\"odd name\" OWNER TO appowner;

pg_restore: error: could not execute query: ERROR:  must be owner of extension plpgsql
Command was: COMMENT ON EXTENSION plpgsql IS 'PL/pgSQL procedural language';

pg_restore: error: could not execute query: ERROR:  relation \"users\" already exists
Command was: CREATE TABLE public.users (
    id integer NOT NULL
);

pg_restore: warning: errors ignored on restore: 3
";
        let issues = classify_errors(stderr);
        assert_eq!(issues.len(), 3, "{issues:?}");
        assert_eq!(
            (issues[0].class, issues[0].reason.as_str()),
            (ErrorClass::Harmless, "owner")
        );
        assert_eq!(
            (issues[1].class, issues[1].reason.as_str()),
            (ErrorClass::Harmless, "comment-on-extension")
        );
        assert_eq!(issues[2].class, ErrorClass::Fatal);
        assert!(issues[2].command.as_deref().unwrap().contains("id integer"));
        let psql = "psql:/b/backup.sql:42: ERROR:  relation \"x\" does not exist\nLINE 1: ...\n";
        let issues = classify_errors(psql);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].class, ErrorClass::Fatal);
        assert!(
            issues[0].message.contains("relation \"x\""),
            "{:?}",
            issues[0]
        );
        assert!(classify_errors("pg_restore: warning: nothing\n").is_empty());
    }

    #[test]
    fn carries_database_properties_but_not_maintenance_leftovers() {
        let out = "CREATE DATABASE app WITH TEMPLATE = template0;\nALTER DATABASE app OWNER TO postgres;\n\\connect app\nCOMMENT ON DATABASE app IS 'x';\nALTER DATABASE app CONNECTION LIMIT = 0;\nALTER DATABASE app SET search_path TO 'public', 's2';\nALTER DATABASE app SET default_transaction_read_only TO 'on';\nALTER ROLE reader IN DATABASE app SET work_mem TO '8MB';\nREVOKE CONNECT,TEMPORARY ON DATABASE app FROM PUBLIC;\nGRANT CONNECT ON DATABASE app TO reader;\nGRANT SELECT ON TABLE t TO reader;\n";
        let (keep, skipped) = database_properties(out, true);
        assert_eq!(keep.len(), 6, "{keep:?}");
        assert!(keep.iter().all(|s| !s.contains("read_only")
            && !s.contains("CONNECTION LIMIT")
            && !s.contains("ON TABLE")));
        assert_eq!(skipped.len(), 2);
        // outside a migsafe mode the user's own settings travel; the marker never does
        let marked = format!("{out}ALTER DATABASE app SET \"migsafe.operation\" TO '{{}}';\n");
        let (keep, skipped) = database_properties(&marked, false);
        assert_eq!(keep.len(), 8, "{keep:?}");
        assert!(skipped.is_empty() && !keep.iter().any(|k| k.contains("migsafe.operation")));
    }

    #[test]
    fn filters_comments_on_extensions_from_the_toc() {
        let (toc, n) = filter_toc(
            "; header\n3; 3079 1 EXTENSION - citext \n3517; 0 0 COMMENT - EXTENSION citext \n",
        );
        assert_eq!(n, 1);
        assert!(toc.contains(";3517; 0 0 COMMENT - EXTENSION citext"));
        assert!(toc.contains("\n3; 3079"));
    }
}
