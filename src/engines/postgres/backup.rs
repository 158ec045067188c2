//! PostgreSQL backups: finding client tools (pg_dump at least the server's major version),
//! the pg_dump / pg_dumpall / full-read commands, server facts recorded in the manifest, and
//! what an archive needs from a target (roles, extensions, relations), read from its schema SQL.

use crate::engines::EngineError;
use crate::engines::conn::Conn;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The client tools of one PostgreSQL installation (pg_dump, pg_restore, psql, pg_dumpall in one
/// folder).
#[derive(Debug, Clone)]
pub struct PgTools {
    pub bin_dir: PathBuf,
    pub major: u32,
    /// `pg_dump --version`, e.g. `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)`.
    pub version: String,
}

impl PgTools {
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// The major version in a `--version` line or a `server_version` string (`15.20 (Debian…)` → 15,
/// `9.6.3` → 9).
pub fn major_of(version: &str) -> Option<u32> {
    version
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn probe(dir: &Path) -> Option<PgTools> {
    let pg_dump = dir.join("pg_dump");
    if !pg_dump.is_file() || !dir.join("pg_restore").is_file() || !dir.join("psql").is_file() {
        return None;
    }
    let out = Command::new(&pg_dump).arg("--version").output().ok()?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Some(PgTools {
        bin_dir: dir.to_path_buf(),
        major: major_of(&version)?,
        version,
    })
}

/// Every installation of the client tools: `explicit` only when given, else
/// `/usr/lib/postgresql/*/bin`, `pg_config --bindir`, then `PATH`.
pub fn installed_tools(explicit: Option<&Path>) -> Vec<PgTools> {
    if let Some(d) = explicit {
        return probe(d).into_iter().collect();
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut v: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        v.sort();
        dirs.extend(v);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let d = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !d.is_empty() {
            dirs.push(PathBuf::from(d));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    let mut seen = BTreeSet::new();
    dirs.into_iter()
        .filter(|d| seen.insert(d.clone()))
        .filter_map(|d| probe(&d))
        .collect()
}

/// The client tools to use against (or for archives of) PostgreSQL `min_major`: the same major
/// when installed, else the oldest newer one. pg_dump refuses servers newer than itself, and
/// pg_restore refuses archives written by a newer pg_dump, so an older one is never picked.
pub fn find_tools(
    explicit: Option<&Path>,
    min_major: u32,
    what: &str,
) -> Result<PgTools, EngineError> {
    let all = installed_tools(explicit);
    let looked = match explicit {
        Some(d) => d.display().to_string(),
        None => "/usr/lib/postgresql/*/bin, pg_config --bindir, PATH".into(),
    };
    if all.is_empty() {
        return Err(EngineError::BinaryMissing {
            what: "PostgreSQL client tools (pg_dump, pg_restore, psql)".into(),
            looked,
            hint: format!(
                "install them (Debian/Ubuntu: `apt-get install postgresql-client-{min_major}`) or pass --pg-bin-dir"
            ),
        });
    }
    let pick = all.iter().filter(|t| t.major == min_major).chain({
        let mut newer: Vec<&PgTools> = all.iter().filter(|t| t.major > min_major).collect();
        newer.sort_by_key(|t| t.major);
        newer
    });
    if let Some(t) = pick.into_iter().next() {
        return Ok(t.clone());
    }
    let found: BTreeSet<u32> = all.iter().map(|t| t.major).collect();
    let found = found
        .iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Err(EngineError::BinaryMissing {
        what: format!("PostgreSQL client tools of version {min_major} or newer ({what})"),
        looked: format!("{looked}; found version {found} only"),
        hint: format!(
            "an older pg_dump/pg_restore cannot handle PostgreSQL {min_major}: install postgresql-client-{min_major} (or newer) or pass --pg-bin-dir"
        ),
    })
}

/// The three pg_dump archive formats migsafe writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgFormat {
    Custom,
    Directory,
    Plain,
}

impl PgFormat {
    pub fn parse(s: &str) -> Option<PgFormat> {
        match s {
            "custom" | "c" => Some(PgFormat::Custom),
            "directory" | "dir" | "d" => Some(PgFormat::Directory),
            "plain" | "p" | "sql" => Some(PgFormat::Plain),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PgFormat::Custom => "custom",
            PgFormat::Directory => "directory",
            PgFormat::Plain => "plain",
        }
    }

    /// File name extension of the backup.
    pub fn ext(self) -> &'static str {
        match self {
            PgFormat::Custom => "dump",
            PgFormat::Directory => "dir",
            PgFormat::Plain => "sql",
        }
    }
}

/// What pg_dump needs beyond the format.
#[derive(Debug, Clone)]
pub struct DumpSpec<'a> {
    pub format: PgFormat,
    /// Connection URL without password (the password goes in `env`).
    pub dbname_url: &'a str,
    pub env: Vec<(String, String)>,
    /// `--jobs` (directory format only).
    pub jobs: u32,
    /// An exported snapshot to dump from, so the manifest's counts describe the same data.
    pub snapshot: Option<&'a str>,
    /// Output directory (directory format); other formats write to stdout.
    pub out_dir: Option<&'a Path>,
    pub lock_wait_timeout_secs: u64,
}

/// The pg_dump command. Never `--create`: a `-C` dump carries database-level settings such as
/// `default_transaction_read_only = on` left by a maintenance window, and the restored database
/// would come up read-only (ops-anchors §0). Plain dumps include `--clean --if-exists` so they
/// can be restored over an existing database as well as into an empty one.
pub fn dump_command(tools: &PgTools, spec: &DumpSpec<'_>) -> Command {
    let mut c = Command::new(tools.tool("pg_dump"));
    c.arg(format!("--format={}", spec.format.as_str()))
        .arg("--no-password")
        .arg(format!(
            "--lock-wait-timeout={}s",
            spec.lock_wait_timeout_secs
        ))
        .arg(format!("--dbname={}", spec.dbname_url));
    if let Some(s) = spec.snapshot {
        c.arg(format!("--snapshot={s}"));
    }
    match spec.format {
        PgFormat::Directory => {
            c.arg(format!("--jobs={}", spec.jobs.max(1)));
            if let Some(d) = spec.out_dir {
                c.arg(format!("--file={}", d.display()));
            }
        }
        PgFormat::Plain => {
            c.args(["--clean", "--if-exists"]);
        }
        PgFormat::Custom => {}
    }
    c.envs(spec.env.iter().map(|(k, v)| (k, v)));
    c
}

/// `pg_dumpall --globals-only` (roles, tablespaces), without role passwords unless asked.
pub fn globals_command(
    tools: &PgTools,
    dbname_url: &str,
    env: &[(String, String)],
    with_passwords: bool,
) -> Command {
    let mut c = Command::new(tools.tool("pg_dumpall"));
    c.args(["--globals-only", "--no-password"])
        .arg(format!("--dbname={dbname_url}"));
    if !with_passwords {
        c.arg("--no-role-passwords");
    }
    c.envs(env.iter().map(|(k, v)| (k, v)));
    c
}

/// Reads every block of an archive and decodes it without a database (`pg_restore -f /dev/null`).
/// `pg_restore -l` alone only reads the table of contents and passes truncated archives.
/// Custom archives are fed on stdin (so the same read computes the sha256); directories are
/// given by path.
pub fn full_read_command(tools: &PgTools, dir_archive: Option<&Path>) -> Command {
    let mut c = Command::new(tools.tool("pg_restore"));
    c.arg("--file=/dev/null");
    if let Some(d) = dir_archive {
        c.arg(d);
    }
    c
}

/// The end-of-dump marker of a complete plain dump.
pub const PLAIN_TRAILER: &str = "-- PostgreSQL database dump complete";

/// Facts about the server and database recorded in a manifest.
#[derive(Debug, Clone, Default)]
pub struct ServerFacts {
    pub version: String,
    pub major: u32,
    pub encoding: Option<String>,
    pub collate: Option<String>,
    pub ctype: Option<String>,
    pub size_bytes: Option<u64>,
    pub stats_reset: Option<String>,
    pub extensions: Vec<String>,
    pub superuser: bool,
}

fn cell(rows: &[Vec<Option<String>>], r: usize, c: usize) -> Option<String> {
    rows.get(r).and_then(|row| row.get(c)).cloned().flatten()
}

pub async fn server_facts(conn: &mut Conn) -> Result<ServerFacts, sqlx::Error> {
    let (_, rows) = conn
        .query_text(
            "SELECT current_setting('server_version'), pg_encoding_to_char(d.encoding)::text, d.datcollate::text, d.datctype::text, \
                    pg_database_size(d.oid)::text, (SELECT stats_reset::text FROM pg_stat_database WHERE datname = current_database()), \
                    (SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user) \
             FROM pg_database d WHERE d.datname = current_database()",
        )
        .await?;
    let version = cell(&rows, 0, 0).unwrap_or_default();
    let (_, ext) = conn
        .query_text("SELECT extname::text FROM pg_extension ORDER BY 1")
        .await?;
    Ok(ServerFacts {
        major: major_of(&version).unwrap_or(0),
        version,
        encoding: cell(&rows, 0, 1),
        collate: cell(&rows, 0, 2),
        ctype: cell(&rows, 0, 3),
        size_bytes: cell(&rows, 0, 4).and_then(|v| v.parse().ok()),
        stats_reset: cell(&rows, 0, 5),
        extensions: ext
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect(),
        superuser: cell(&rows, 0, 6).as_deref() == Some("true"),
    })
}

/// Cumulative writes per user table (inserted + updated + deleted tuples since the last stats
/// reset).
pub async fn write_counters(conn: &mut Conn) -> Result<Vec<(String, String, u64)>, sqlx::Error> {
    // pending stats of this backend and cached snapshots would hide recent writes
    let _ = conn.execute("SELECT pg_stat_clear_snapshot()").await;
    let (_, rows) = conn
        .query_text("SELECT schemaname::text, relname::text, (n_tup_ins + n_tup_upd + n_tup_del)::text FROM pg_stat_user_tables ORDER BY 1, 2")
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let mut it = r.into_iter();
            Some((it.next()??, it.next()??, it.next()??.parse().ok()?))
        })
        .collect())
}

/// Starts a repeatable-read transaction on `conn` and exports its snapshot for pg_dump
/// (`--snapshot`), so the row counts and fingerprint taken on `conn` describe exactly the data
/// dumped. The transaction must stay open until pg_dump has started.
pub async fn export_snapshot(conn: &mut Conn) -> Result<String, sqlx::Error> {
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let (_, rows) = conn.query_text("SELECT pg_export_snapshot()::text").await?;
    match cell(&rows, 0, 0) {
        Some(s) => Ok(s),
        None => {
            let _ = conn.execute("ROLLBACK").await;
            Err(sqlx::Error::Protocol(
                "pg_export_snapshot returned nothing".into(),
            ))
        }
    }
}

/// What restoring an archive needs from the target, read from its schema SQL (`pg_restore
/// --schema-only -f -`, or the plain dump itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveFacts {
    /// Roles the archive assigns ownership to or grants privileges to.
    pub roles: BTreeSet<String>,
    pub extensions: BTreeSet<String>,
    /// Relations it creates: (schema, name).
    pub relations: BTreeSet<(String, String)>,
    /// Relations and indexes it creates: each needs a lock when restored in one transaction.
    pub lock_objects: usize,
}

/// An identifier as PostgreSQL prints it: `"odd ""name"""` → `odd "name"`, `users` → `users`.
fn unquote(s: &str) -> String {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        inner.replace("\"\"", "\"")
    } else {
        s.to_string()
    }
}

/// Splits a possibly qualified, possibly quoted name at the start of `s`:
/// `public."odd name" (` → (Some("public"), "odd name").
fn qualified_name(s: &str) -> (Option<String>, String) {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut chars = s.trim_start().chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' {
            quoted = true;
        } else if c == '.' {
            parts.push(std::mem::take(&mut cur));
        } else if c.is_whitespace() || c == '(' || c == ';' {
            break;
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    let name = parts.pop().unwrap_or_default();
    (parts.pop(), name)
}

fn role_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|r| unquote(r.trim().trim_end_matches(';').trim()))
        .filter(|r| {
            !r.is_empty()
                && !matches!(
                    r.to_ascii_uppercase().as_str(),
                    "PUBLIC" | "CURRENT_USER" | "SESSION_USER" | "CURRENT_ROLE"
                )
        })
        .collect()
}

/// Reads roles, extensions and relations from schema SQL. COPY data blocks are skipped.
pub fn archive_facts(schema_sql: impl std::io::BufRead) -> ArchiveFacts {
    let mut f = ArchiveFacts::default();
    let mut in_copy = false;
    for line in schema_sql.lines() {
        let Ok(line) = line else { break };
        if in_copy {
            if line == "\\." {
                in_copy = false;
            }
            continue;
        }
        if line.starts_with("COPY ") && line.ends_with("FROM stdin;") {
            in_copy = true;
            continue;
        }
        if let Some(i) = line.find(" OWNER TO ")
            && line.starts_with("ALTER ")
        {
            f.roles.extend(role_list(&line[i + 10..]));
        } else if line.starts_with("GRANT ") {
            if let Some(i) = line.rfind(" TO ") {
                let rest = line[i + 4..].trim_end_matches(';');
                let rest = rest.split(" WITH GRANT OPTION").next().unwrap_or(rest);
                let rest = rest.split(" GRANTED BY ").next().unwrap_or(rest);
                f.roles.extend(role_list(rest));
            }
        } else if line.starts_with("REVOKE ") {
            if let Some(i) = line.rfind(" FROM ") {
                f.roles.extend(role_list(&line[i + 6..]));
            }
        } else if let Some(rest) = line.strip_prefix("ALTER DEFAULT PRIVILEGES FOR ROLE ") {
            f.roles.extend(role_list(
                rest.split(" IN SCHEMA ")
                    .next()
                    .unwrap_or(rest)
                    .split(" GRANT ")
                    .next()
                    .unwrap_or(rest)
                    .split(" REVOKE ")
                    .next()
                    .unwrap_or(rest),
            ));
        } else if let Some(rest) = line
            .strip_prefix("CREATE EXTENSION IF NOT EXISTS ")
            .or_else(|| line.strip_prefix("CREATE EXTENSION "))
        {
            let (_, name) = qualified_name(rest);
            f.extensions.insert(name);
        } else {
            for prefix in [
                "CREATE TABLE ",
                "CREATE UNLOGGED TABLE ",
                "CREATE VIEW ",
                "CREATE MATERIALIZED VIEW ",
                "CREATE SEQUENCE ",
                "CREATE FOREIGN TABLE ",
            ] {
                if let Some(rest) = line.strip_prefix(prefix) {
                    let (schema, name) = qualified_name(rest);
                    f.relations
                        .insert((schema.unwrap_or_else(|| "public".into()), name));
                    f.lock_objects += 1;
                }
            }
            if line.starts_with("CREATE INDEX ") || line.starts_with("CREATE UNIQUE INDEX ") {
                f.lock_objects += 1;
            }
        }
    }
    f
}

/// `pg_restore --schema-only -f -` for custom and directory archives.
pub fn schema_sql_command(tools: &PgTools, archive: &Path) -> Command {
    let mut c = Command::new(tools.tool("pg_restore"));
    c.args(["--schema-only", "--file=-"]).arg(archive);
    c
}

/// `pg_restore -l`: the table of contents.
pub fn toc_command(tools: &PgTools, archive: &Path) -> Command {
    let mut c = Command::new(tools.tool("pg_restore"));
    c.arg("--list").arg(archive);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors() {
        assert_eq!(
            major_of("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(major_of("9.6.24"), Some(9));
        assert_eq!(major_of("16beta1"), Some(16));
        assert_eq!(major_of("nothing"), None);
    }

    #[test]
    fn reads_what_an_archive_needs() {
        let sql = "\
CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;
CREATE TABLE public.\"odd name\" (
    x public.citext
);
ALTER TABLE public.\"odd name\" OWNER TO appowner;
CREATE TABLE s2.t (a integer);
ALTER TABLE s2.t OWNER TO \"Odd Role\";
CREATE SEQUENCE public.users_id_seq
CREATE VIEW public.v AS
COPY public.t (a) FROM stdin;
GRANT ALL ON TABLE x TO nobody;
\\.
CREATE INDEX users_email_idx ON public.users USING btree (email);
GRANT SELECT ON TABLE public.v TO reader, PUBLIC WITH GRANT OPTION;
REVOKE ALL ON SCHEMA public FROM writer;
";
        let f = archive_facts(sql.as_bytes());
        assert_eq!(f.extensions, BTreeSet::from(["citext".to_string()]));
        assert_eq!(
            f.roles,
            ["appowner", "Odd Role", "reader", "writer"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
        assert!(f.relations.contains(&("public".into(), "odd name".into())));
        assert!(f.relations.contains(&("s2".into(), "t".into())));
        assert!(f.relations.contains(&("public".into(), "v".into())));
        assert_eq!(f.lock_objects, 5);
    }

    #[test]
    fn never_dumps_with_create() {
        let tools = PgTools {
            bin_dir: "/x".into(),
            major: 15,
            version: String::new(),
        };
        for format in [PgFormat::Custom, PgFormat::Directory, PgFormat::Plain] {
            let spec = DumpSpec {
                format,
                dbname_url: "postgres://u@h/db",
                env: vec![("PGPASSWORD".into(), "pw".into())],
                jobs: 2,
                snapshot: Some("0-1"),
                out_dir: Some(Path::new("/o")),
                lock_wait_timeout_secs: 30,
            };
            let c = dump_command(&tools, &spec);
            let args: Vec<String> = c
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            assert!(
                !args.iter().any(|a| a == "-C" || a == "--create"),
                "{args:?}"
            );
            assert!(
                !args.iter().any(|a| a.contains("pw")),
                "no password on the command line: {args:?}"
            );
            assert!(args.contains(&"--snapshot=0-1".to_string()));
        }
    }
}
