//! MySQL/MariaDB restores: the client command that loads a dump, error classification, target
//! facts for the preflight, and scratch databases.

use super::backup::MyTools;
use crate::engines::conn::Conn;
use crate::engines::dump::{ErrorClass, RestoreIssue};
use std::collections::BTreeSet;
use std::process::Command;

/// `mariadb --defaults-extra-file=… --batch <db>`: reads the dump on stdin and stops at the
/// first error (no `--force`).
pub fn load_command(tools: &MyTools, defaults_arg: &str, database: &str) -> Command {
    let mut c = Command::new(&tools.client);
    c.arg(defaults_arg)
        .args(["--batch", "--default-character-set=utf8mb4"])
        .arg(format!("--database={database}"));
    c
}

/// Errors in the client's output (`ERROR 1050 (42S01) at line 23: …`). A MySQL load has no
/// harmless class: the client stops at the first error, so every error is fatal.
pub fn classify_errors(stderr: &str) -> Vec<RestoreIssue> {
    stderr
        .lines()
        .filter(|l| {
            l.starts_with("ERROR ")
                || l.contains(": ERROR ")
                || l.starts_with("mariadb: ")
                || l.starts_with("mysql: ")
        })
        .filter(|l| !l.contains("[Warning]") && !l.contains("Deprecated"))
        .map(|l| RestoreIssue {
            class: ErrorClass::Fatal,
            reason: "error".into(),
            message: l.to_string(),
            command: None,
        })
        .collect()
}

use crate::sql::quote::mysql_literal as lit;

pub use crate::sql::quote::backquoted as ident;

#[derive(Debug, Clone, Default)]
pub struct TargetFacts {
    pub version: String,
    pub databases: BTreeSet<String>,
}

pub async fn target_facts(conn: &mut Conn) -> Result<TargetFacts, sqlx::Error> {
    let (_, v) = conn.query_text("SELECT CAST(VERSION() AS CHAR)").await?;
    let (_, dbs) = conn
        .query_text("SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata")
        .await?;
    Ok(TargetFacts {
        version: v
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten())
            .unwrap_or_default(),
        databases: dbs
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect(),
    })
}

/// The restoring account (`CURRENT_USER()`) and the privilege that lets it create objects with
/// another account as `DEFINER`, if it has one.
pub struct DefinerRights {
    pub user: String,
    pub host: String,
    pub privilege: Option<String>,
}

pub async fn definer_rights(conn: &mut Conn) -> Result<DefinerRights, sqlx::Error> {
    let (_, rows) = conn
        .query_text("SELECT CAST(CURRENT_USER() AS CHAR)")
        .await?;
    let current = rows
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
        .unwrap_or_default();
    let (user, host) = current
        .rsplit_once('@')
        .map(|(u, h)| (u.to_string(), h.to_string()))
        .unwrap_or((current.clone(), String::new()));
    let grantee = format!(
        "'{}'@'{}'",
        user.replace('\'', "''"),
        host.replace('\'', "''")
    );
    // SUPER everywhere; SET USER on MariaDB 10.5.2+; SET_USER_ID / SYSTEM_USER on MySQL 8
    let (_, rows) = conn
        .query_text(&format!(
            "SELECT CAST(privilege_type AS CHAR) FROM information_schema.user_privileges WHERE grantee = {} AND privilege_type IN ('SUPER', 'SET USER', 'SET_USER_ID', 'SYSTEM_USER')",
            lit(&grantee)
        ))
        .await?;
    Ok(DefinerRights {
        user,
        host,
        privilege: rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten()),
    })
}

/// Tables and views of `db`.
pub async fn relations(conn: &mut Conn, db: &str) -> Result<BTreeSet<String>, sqlx::Error> {
    let (_, rows) = conn.query_text(&format!("SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = {}", lit(db))).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect())
}

pub async fn create_database(
    conn: &mut Conn,
    name: &str,
    charset: Option<&str>,
    collation: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut sql = format!("CREATE DATABASE {}", ident(name));
    if let Some(c) = charset {
        sql.push_str(&format!(" CHARACTER SET {}", lit(c)));
    }
    if let Some(c) = collation {
        sql.push_str(&format!(" COLLATE {}", lit(c)));
    }
    conn.execute(&sql).await.map(|_| ())
}

pub async fn drop_database(conn: &mut Conn, name: &str) -> Result<(), sqlx::Error> {
    conn.execute(&format!("DROP DATABASE IF EXISTS {}", ident(name)))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_load_error_is_fatal() {
        let e = classify_errors("ERROR 1050 (42S01) at line 23: Table 'users' already exists\n");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].class, ErrorClass::Fatal);
        assert!(classify_errors("").is_empty());
    }
}
