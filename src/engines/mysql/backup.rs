//! MySQL/MariaDB backups: the dump tool (`mariadb-dump`, else `mysqldump`) with
//! `--single-transaction --routines --triggers --events`, its version, server facts for the
//! manifest, and the completeness check of a dump file.

use crate::engines::EngineError;
use crate::engines::conn::Conn;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Client tools: the dump tool and the command-line client used to load dumps.
#[derive(Debug, Clone)]
pub struct MyTools {
    pub dump: PathBuf,
    pub client: PathBuf,
    /// `mariadb-dump --version`.
    pub version: String,
}

fn which(names: &[&str]) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = vec![
        "/usr/bin".into(),
        "/usr/local/bin".into(),
        "/usr/local/mysql/bin".into(),
    ];
    if let Some(path) = std::env::var_os("PATH") {
        let mut p: Vec<PathBuf> = std::env::split_paths(&path).collect();
        p.append(&mut dirs);
        dirs = p;
    }
    names
        .iter()
        .find_map(|n| dirs.iter().map(|d| d.join(n)).find(|p| p.is_file()))
}

pub fn find_tools() -> Result<MyTools, EngineError> {
    let dump = which(&["mariadb-dump", "mysqldump"]).ok_or_else(|| EngineError::BinaryMissing {
        what: "mariadb-dump or mysqldump".into(),
        looked: "PATH, /usr/bin, /usr/local/bin".into(),
        hint: "install the client tools (Debian/Ubuntu: `apt-get install mariadb-client`)".into(),
    })?;
    let client = which(&["mariadb", "mysql"]).ok_or_else(|| EngineError::BinaryMissing {
        what: "the mariadb or mysql client".into(),
        looked: "PATH, /usr/bin, /usr/local/bin".into(),
        hint: "install the client tools (Debian/Ubuntu: `apt-get install mariadb-client`)".into(),
    })?;
    let out = Command::new(&dump)
        .arg("--version")
        .output()
        .map_err(|e| EngineError::step("mariadb-dump --version", e))?;
    Ok(MyTools {
        dump,
        client,
        version: String::from_utf8_lossy(&out.stdout).trim().to_string(),
    })
}

/// (major, minor) and whether it is MariaDB, from `VERSION()` (`10.11.19-MariaDB-0+deb12u1`,
/// `8.0.36`) or a tool's `--version` (`… Distrib 10.11.19-MariaDB, …`).
pub fn parse_version(v: &str) -> Option<(u32, u32, bool)> {
    let s = match v.find("Distrib ") {
        Some(i) => &v[i + 8..],
        None => v,
    };
    let mut it = s
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor, v.contains("MariaDB")))
}

/// The dump command (credentials come from the option file, which must be the first argument).
/// No `--databases`: the dump carries no `CREATE DATABASE`/`USE`, so it loads into any database
/// name (a scratch database for a drill, the live one for a restore).
pub fn dump_command(tools: &MyTools, defaults_arg: &str, database: &str) -> Command {
    let mut c = Command::new(&tools.dump);
    c.arg(defaults_arg)
        .args([
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
            "--default-character-set=utf8mb4",
            "--add-drop-table",
        ])
        .arg("--")
        .arg(database);
    c
}

/// The last line of a complete dump starts with this (comments are on by default).
pub const TRAILER: &str = "-- Dump completed";

/// Facts recorded in the manifest.
#[derive(Debug, Clone, Default)]
pub struct ServerFacts {
    pub version: String,
    pub charset: Option<String>,
    pub collation: Option<String>,
    pub size_bytes: Option<u64>,
}

pub async fn server_facts(conn: &mut Conn) -> Result<ServerFacts, sqlx::Error> {
    let (_, rows) = conn
        .query_text(
            "SELECT CAST(VERSION() AS CHAR), CAST(s.default_character_set_name AS CHAR), CAST(s.default_collation_name AS CHAR), \
                    CAST((SELECT IFNULL(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema = DATABASE()) AS CHAR) \
             FROM information_schema.schemata s WHERE s.schema_name = DATABASE()",
        )
        .await?;
    let r = rows.into_iter().next().unwrap_or_default();
    let get = |i: usize| r.get(i).cloned().flatten();
    Ok(ServerFacts {
        version: get(0).unwrap_or_default(),
        charset: get(1),
        collation: get(2),
        size_bytes: get(3).and_then(|v| v.parse().ok()),
    })
}

/// Whether the end of a dump file carries the completion trailer.
pub fn has_trailer(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(512)))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let tail = String::from_utf8_lossy(&buf);
    Ok(tail
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.starts_with(TRAILER)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            parse_version("10.11.19-MariaDB-0+deb12u1"),
            Some((10, 11, true))
        );
        assert_eq!(parse_version("8.0.36"), Some((8, 0, false)));
        assert_eq!(
            parse_version(
                "mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)"
            ),
            Some((10, 11, true))
        );
    }

    #[test]
    fn dump_has_no_credentials_and_no_create_database() {
        let tools = MyTools {
            dump: "/usr/bin/mariadb-dump".into(),
            client: "/usr/bin/mariadb".into(),
            version: String::new(),
        };
        let c = dump_command(&tools, "--defaults-extra-file=/tmp/x/client.cnf", "app");
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args[0], "--defaults-extra-file=/tmp/x/client.cnf");
        assert!(
            !args
                .iter()
                .any(|a| a == "--databases" || a.starts_with("--password") || a.starts_with("-p"))
        );
        for needed in [
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
        ] {
            assert!(args.iter().any(|a| a == needed));
        }
    }

    #[test]
    fn trailer() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.sql");
        std::fs::write(
            &p,
            "CREATE TABLE t (a int);\n-- Dump completed on 2026-11-29 14:15:00\n",
        )
        .unwrap();
        assert!(has_trailer(&p).unwrap());
        std::fs::write(&p, "CREATE TABLE t (a int);\nINSERT INTO t VALUES (1),(").unwrap();
        assert!(!has_trailer(&p).unwrap());
    }
}
