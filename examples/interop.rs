//! Real-tool interoperability of `migsafe status` and `migsafe apply` (run by
//! `bench/interop.sh`, which installs the tools first): for each migration tool found on PATH
//! and each engine, on ephemeral servers,
//!
//! 1. the tool applies migrations 1 and 2 of `fixtures/history/<tool>/migrations`, then
//!    `migsafe status` must show them applied (same checksums) and 3 pending, `migsafe apply`
//!    applies 3, and the tool must then say it is up to date and apply nothing;
//! 2. on an empty database `migsafe apply` creates the tool's table and applies all three; the
//!    tool must again say up to date and apply nothing;
//! 3. `migsafe apply --migrate-cmd "<the tool's migrate command>"` on an empty database must
//!    report the three applied by the real migrator;
//! 4. the checksums the tool itself wrote in 1 are compared with the values cited in
//!    `fixtures/history/README.md`.
//!
//! Prints one table row per tool and engine; exits 1 when a check failed.
//! Environment: `MIGSAFE_BIN` (the migsafe binary), `INTEROP_NODE` (node_modules with dbmate,
//! drizzle-orm, pg, mysql2, better-sqlite3).

use migsafe::engines::conn::Conn;
use migsafe::engines::mysql::ephemeral::EphemeralMysql;
use migsafe::engines::postgres::ephemeral::EphemeralPostgres;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Servers {
    pg: EphemeralPostgres,
    my: EphemeralMysql,
    lite: tempfile::TempDir,
}

/// Where one database is, in the spellings the tools want.
struct Db {
    engine: &'static str,
    name: String,
    /// migsafe's URL.
    url: String,
    pg_socket: Option<PathBuf>,
    my_socket: Option<PathBuf>,
    sqlite: Option<PathBuf>,
}

impl Servers {
    async fn create(&self, engine: &'static str, name: &str) -> Db {
        let mut db = Db {
            engine,
            name: name.to_string(),
            url: String::new(),
            pg_socket: None,
            my_socket: None,
            sqlite: None,
        };
        match engine {
            "postgres" => {
                let mut c = Conn::Postgres(self.pg.connect("postgres").await.unwrap());
                c.execute(&format!("CREATE DATABASE {name}")).await.unwrap();
                c.close().await;
                db.url = self.pg.url(name);
                db.pg_socket = Some(self.pg.socket_dir().to_path_buf());
            }
            "mysql" => {
                let mut c = Conn::Mysql(self.my.connect(None).await.unwrap());
                c.execute(&format!("CREATE DATABASE {name}")).await.unwrap();
                c.close().await;
                db.url = self.my.url(name);
                db.my_socket = Some(self.my.socket().to_path_buf());
            }
            _ => {
                let p = self.lite.path().join(format!("{name}.db"));
                std::fs::File::create(&p).unwrap();
                db.url = format!("sqlite:{}?mode=rwc", p.display());
                db.sqlite = Some(p);
            }
        }
        db
    }
}

struct Out {
    ok: bool,
    text: String,
}

fn sh(cmd: &mut Command) -> Out {
    match cmd.output() {
        Ok(o) => Out {
            ok: o.status.success(),
            text: format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        },
        Err(e) => Out {
            ok: false,
            text: format!("cannot run {cmd:?}: {e}"),
        },
    }
}

fn node_modules() -> PathBuf {
    std::env::var_os("INTEROP_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/interop/node/node_modules"))
}

/// A tool: how to run its migrations, and whether it says nothing is pending.
trait Tool {
    fn name(&self) -> &'static str;
    fn available(&self) -> Result<String, String>;
    /// The command that applies the pending migrations of `dir`.
    fn migrate_command(&self, db: &Db, dir: &Path) -> Command;
    fn migrate(&self, db: &Db, dir: &Path) -> Out {
        sh(&mut self.migrate_command(db, dir))
    }
    /// `Ok(text)` when the tool reports every migration of `dir` applied.
    fn up_to_date(&self, db: &Db, dir: &Path) -> Result<String, String>;
}

fn which(bin: &str) -> Result<String, String> {
    let o = sh(Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}")));
    if o.ok {
        Ok(o.text.trim().to_string())
    } else {
        Err(format!("{bin} is not installed"))
    }
}

/// `db` spelled from the engine's template: `{db}` the name, `{sock}` the socket (folder),
/// `{path}` the SQLite file.
fn spell(db: &Db, pg: &str, my: &str, lite: &str) -> String {
    let (t, sock) = match db.engine {
        "postgres" => (pg, db.pg_socket.as_ref()),
        "mysql" => (my, db.my_socket.as_ref()),
        _ => (lite, db.sqlite.as_ref()),
    };
    let sock = sock.map(|p| p.display().to_string()).unwrap_or_default();
    t.replace("{db}", &db.name)
        .replace("{sock}", &sock)
        .replace("{path}", &sock)
}

struct Sqlx;
impl Sqlx {
    fn url(db: &Db) -> String {
        spell(
            db,
            "postgres://postgres@localhost/{db}?host={sock}",
            "mysql://root@localhost/{db}?socket={sock}",
            "sqlite://{path}",
        )
    }
}
impl Tool for Sqlx {
    fn name(&self) -> &'static str {
        "sqlx"
    }
    fn available(&self) -> Result<String, String> {
        which("sqlx")?;
        Ok(sh(Command::new("sqlx").arg("--version"))
            .text
            .trim()
            .to_string())
    }
    fn migrate_command(&self, db: &Db, dir: &Path) -> Command {
        let mut c = Command::new("sqlx");
        c.args(["migrate", "run", "--source"])
            .arg(dir)
            .args(["--database-url", &Self::url(db)]);
        c
    }
    fn up_to_date(&self, db: &Db, dir: &Path) -> Result<String, String> {
        let o = sh(Command::new("sqlx")
            .args(["migrate", "info", "--source"])
            .arg(dir)
            .args(["--database-url", &Self::url(db)]));
        let lines: Vec<&str> = o.text.lines().filter(|l| l.contains('/')).collect();
        if o.ok
            && !lines.is_empty()
            && lines.iter().all(|l| l.contains("installed"))
            && !o.text.contains("different checksum")
        {
            Ok(lines.join("; "))
        } else {
            Err(o.text)
        }
    }
}

struct Dbmate;
impl Dbmate {
    fn url(db: &Db) -> String {
        spell(
            db,
            "postgres://postgres@/{db}?socket={sock}&sslmode=disable",
            "mysql://root@/{db}?socket={sock}",
            "sqlite:{path}",
        )
    }
    fn cmd(db: &Db, dir: &Path) -> Command {
        let mut c = Command::new(node_modules().join(".bin/dbmate"));
        c.args([
            "--url",
            &Self::url(db),
            "--no-dump-schema",
            "--migrations-dir",
        ])
        .arg(dir);
        c
    }
}
impl Tool for Dbmate {
    fn name(&self) -> &'static str {
        "dbmate"
    }
    fn available(&self) -> Result<String, String> {
        let o = sh(Command::new(node_modules().join(".bin/dbmate")).arg("--version"));
        if o.ok {
            Ok(o.text.trim().to_string())
        } else {
            Err("dbmate (npm) is not installed".into())
        }
    }
    fn migrate_command(&self, db: &Db, dir: &Path) -> Command {
        let mut c = Self::cmd(db, dir);
        c.arg("up");
        c
    }
    fn up_to_date(&self, db: &Db, dir: &Path) -> Result<String, String> {
        // `status --exit-code` exits 1 when a migration is pending
        let o = sh(Self::cmd(db, dir).args(["status", "--exit-code"]));
        if o.ok && o.text.contains("Pending: 0") {
            Ok(o.text.lines().last().unwrap_or_default().to_string())
        } else {
            Err(o.text)
        }
    }
}

struct Diesel;
impl Diesel {
    fn url(db: &Db) -> String {
        spell(
            db,
            "postgres://postgres@localhost/{db}?host={sock}",
            "mysql://root@localhost/{db}?unix_socket={sock}",
            "{path}",
        )
    }
    fn cmd(db: &Db, dir: &Path, sub: &str) -> Command {
        let mut c = Command::new("diesel");
        c.args([
            "migration",
            sub,
            "--database-url",
            &Self::url(db),
            "--migration-dir",
        ])
        .arg(dir)
        // no diesel.toml: nothing to print a schema into
        .current_dir(dir);
        c
    }
}
impl Tool for Diesel {
    fn name(&self) -> &'static str {
        "diesel"
    }
    fn available(&self) -> Result<String, String> {
        which("diesel")?;
        let v = sh(Command::new("diesel").arg("--version")).text;
        // "diesel\n Version: 2.3.14\n Supported Backends: …"
        let n = v
            .lines()
            .find_map(|l| l.trim().strip_prefix("Version:"))
            .unwrap_or("?");
        Ok(format!("diesel_cli {}", n.trim()))
    }
    fn migrate_command(&self, db: &Db, dir: &Path) -> Command {
        Self::cmd(db, dir, "run")
    }
    fn up_to_date(&self, db: &Db, dir: &Path) -> Result<String, String> {
        let o = sh(&mut Self::cmd(db, dir, "pending"));
        if o.ok && o.text.trim() == "false" {
            Ok("diesel migration pending: false".into())
        } else {
            Err(o.text)
        }
    }
}

struct Drizzle;
const DRIZZLE_JS: &str = r#"
const [engine, target, dir] = process.argv.slice(1);
(async () => {
  if (engine === 'postgres') {
    const { Client } = require('pg');
    const [host, database] = target.split('|');
    const client = new Client({ host, database, user: 'postgres' });
    await client.connect();
    const { drizzle } = require('drizzle-orm/node-postgres');
    const { migrate } = require('drizzle-orm/node-postgres/migrator');
    await migrate(drizzle(client), { migrationsFolder: dir });
    await client.end();
  } else if (engine === 'mysql') {
    const mysql = require('mysql2/promise');
    const [socketPath, database] = target.split('|');
    const conn = await mysql.createConnection({ socketPath, database, user: 'root' });
    const { drizzle } = require('drizzle-orm/mysql2');
    const { migrate } = require('drizzle-orm/mysql2/migrator');
    await migrate(drizzle(conn), { migrationsFolder: dir });
    await conn.end();
  } else {
    const Database = require('better-sqlite3');
    const { drizzle } = require('drizzle-orm/better-sqlite3');
    const { migrate } = require('drizzle-orm/better-sqlite3/migrator');
    migrate(drizzle(new Database(target)), { migrationsFolder: dir });
  }
})().catch((e) => { console.error(e.message); process.exit(1); });
"#;
impl Drizzle {
    fn target(db: &Db) -> String {
        spell(db, "{sock}|{db}", "{sock}|{db}", "{path}")
    }
}
impl Tool for Drizzle {
    fn name(&self) -> &'static str {
        "drizzle"
    }
    fn available(&self) -> Result<String, String> {
        let pkg = node_modules().join("drizzle-orm/package.json");
        let text =
            std::fs::read_to_string(&pkg).map_err(|_| "drizzle-orm (npm) is not installed")?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        Ok(format!(
            "drizzle-orm {}",
            v["version"].as_str().unwrap_or("?")
        ))
    }
    fn migrate_command(&self, db: &Db, dir: &Path) -> Command {
        let mut c = Command::new("node");
        c.arg("-e")
            .arg(DRIZZLE_JS)
            .arg(db.engine)
            .arg(Self::target(db))
            .arg(dir)
            .env("NODE_PATH", node_modules());
        c
    }
    fn up_to_date(&self, _db: &Db, _dir: &Path) -> Result<String, String> {
        // drizzle has no status command: `migrate()` applying nothing is the check (rows
        // counted around it by the caller)
        Ok("migrate() ran".into())
    }
}

/// `c` as one `sh -c` line: its folder, environment, program and arguments, single-quoted.
fn shell_line(c: &Command) -> String {
    let q = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
    let mut parts = Vec::new();
    if let Some(d) = c.get_current_dir() {
        parts.push(format!("cd {} &&", q(d.as_os_str())));
    }
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            parts.push(format!("{}={}", k.to_string_lossy(), q(v)));
        }
    }
    parts.push(q(c.get_program()));
    parts.extend(c.get_args().map(q));
    parts.join(" ")
}

/// The rows of the tool's table (to see that the tool applied nothing).
async fn history_rows(db: &Db, tool: &str) -> usize {
    let table = match (tool, db.engine) {
        ("sqlx", _) => "_sqlx_migrations",
        ("dbmate", _) => "schema_migrations",
        ("diesel", _) => "__diesel_schema_migrations",
        ("drizzle", "postgres") => "drizzle.__drizzle_migrations",
        _ => "__drizzle_migrations",
    };
    let mut c = Conn::open(&db.url).await.unwrap();
    let r = c.query_text(&format!("SELECT COUNT(*) FROM {table}")).await;
    c.close().await;
    r.ok()
        .and_then(|(_, r)| r.into_iter().next())
        .and_then(|r| r.into_iter().next().flatten())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The checksums the tool wrote for migrations 1 and 2.
async fn tool_checksums(db: &Db, tool: &str) -> Vec<String> {
    let sql = match (tool, db.engine) {
        ("sqlx", "postgres") => {
            "SELECT encode(checksum, 'hex') FROM _sqlx_migrations ORDER BY version"
        }
        ("sqlx", "mysql") => "SELECT LOWER(HEX(checksum)) FROM _sqlx_migrations ORDER BY version",
        ("sqlx", _) => "SELECT lower(hex(checksum)) FROM _sqlx_migrations ORDER BY version",
        ("drizzle", "postgres") => {
            "SELECT hash FROM drizzle.__drizzle_migrations ORDER BY created_at"
        }
        ("drizzle", _) => "SELECT hash FROM __drizzle_migrations ORDER BY created_at",
        _ => return vec![],
    };
    let mut c = Conn::open(&db.url).await.unwrap();
    let r = c.query_text(sql).await;
    c.close().await;
    r.map(|(_, rows)| {
        rows.into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect()
    })
    .unwrap_or_default()
}

fn migsafe(args: &[&str]) -> (i32, serde_json::Value, String) {
    let bin = std::env::var("MIGSAFE_BIN").unwrap_or_else(|_| "target/debug/migsafe".into());
    // journals go with the servers, not into the repository
    let state = std::env::temp_dir().join(format!("migsafe-interop-{}", std::process::id()));
    let o = Command::new(bin)
        .args(args)
        .env("NO_COLOR", "1")
        .env("MIGSAFE_STATE_DIR", &state)
        .output()
        .expect("migsafe");
    let v = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (
        o.status.code().unwrap_or(-1),
        v,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn states(v: &serde_json::Value) -> Vec<String> {
    v["migrations"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["state"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The fixture folder without its third migration (and, for Drizzle, its journal entry).
fn first_two(tool: &str, all: &Path, to: &Path) {
    copy_dir(all, to);
    let mut third: Vec<PathBuf> = std::fs::read_dir(to)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.contains("000003") || n.starts_with("3_") || n.starts_with("0002_")
        })
        .collect();
    third.sort();
    for p in third {
        if p.is_dir() {
            std::fs::remove_dir_all(p).unwrap();
        } else {
            std::fs::remove_file(p).unwrap();
        }
    }
    if tool == "drizzle" {
        let j = to.join("meta/_journal.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap();
        v["entries"].as_array_mut().unwrap().truncate(2);
        std::fs::write(j, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }
}

async fn check(
    srv: &Servers,
    tool: &dyn Tool,
    engine: &'static str,
    work: &Path,
) -> (bool, String) {
    let name = tool.name();
    let all = work.join(format!("{name}-{engine}-all"));
    copy_dir(
        &Path::new("fixtures/history").join(name).join("migrations"),
        &all,
    );
    let two = work.join(format!("{name}-{engine}-two"));
    first_two(name, &all, &two);
    let d = all.to_str().unwrap();
    let mut notes = Vec::new();
    // 1. the tool applies 1 and 2; migsafe reads them and applies 3; the tool is up to date
    let db = srv
        .create(engine, &format!("{}_1", name.replace('-', "_")))
        .await;
    let o = tool.migrate(&db, &two);
    if !o.ok {
        return (
            false,
            format!("{name} could not apply migrations 1-2: {}", o.text.trim()),
        );
    }
    let sums = tool_checksums(&db, name).await;
    let readme = std::fs::read_to_string("fixtures/history/README.md").unwrap();
    if !sums.is_empty() {
        if sums.len() == 2 && sums.iter().all(|s| readme.contains(&format!("`{s}`"))) {
            notes.push(format!("{name}'s checksums = the cited values"));
        } else {
            return (
                false,
                format!("{name} wrote checksums {sums:?}, not the cited ones"),
            );
        }
    }
    let (code, st, err) = migsafe(&[
        "status",
        d,
        "--layout",
        name,
        "--database-url",
        &db.url,
        "--format",
        "json",
    ]);
    if code != 0 || states(&st) != ["applied", "applied", "pending"] {
        return (
            false,
            format!(
                "migsafe status on {name}'s table: exit {code}, {:?} {err}",
                states(&st)
            ),
        );
    }
    notes.push("status reads the tool's rows".into());
    let (code, ap, err) = migsafe(&[
        "apply",
        d,
        "--layout",
        name,
        "--database-url",
        &db.url,
        "--format",
        "json",
    ]);
    if code != 0 {
        return (
            false,
            format!("migsafe apply on {name}'s table: exit {code} {ap} {err}"),
        );
    }
    for (label, db) in [("after migsafe applied 3", db)] {
        if let Err(e) = accepts(tool, &db, &all).await {
            return (false, format!("{label}: {e}"));
        }
    }
    // 2. migsafe creates the table and applies everything; the tool is up to date
    let db = srv
        .create(engine, &format!("{}_2", name.replace('-', "_")))
        .await;
    let (code, ap, err) = migsafe(&[
        "apply",
        d,
        "--layout",
        name,
        "--database-url",
        &db.url,
        "--format",
        "json",
    ]);
    if code != 0 {
        return (
            false,
            format!("migsafe apply on an empty database: exit {code} {ap} {err}"),
        );
    }
    if let Err(e) = accepts(tool, &db, &all).await {
        return (false, format!("on migsafe's own table: {e}"));
    }
    notes.push("tool accepts migsafe's table and rows".into());
    // 3. the tool itself under `apply --migrate-cmd`: the same checks around it
    let db = srv
        .create(engine, &format!("{}_3", name.replace('-', "_")))
        .await;
    let cmd = shell_line(&tool.migrate_command(&db, &all));
    let (code, ap, err) = migsafe(&[
        "apply",
        d,
        "--layout",
        name,
        "--database-url",
        &db.url,
        "--format",
        "json",
        "--migrate-cmd",
        &cmd,
    ]);
    if code != 0 || ap["migrate_cmd"]["applied"].as_array().map(Vec::len) != Some(3) {
        return (
            false,
            format!("apply --migrate-cmd with {name}: exit {code} {ap} {err}"),
        );
    }
    notes.push("apply --migrate-cmd runs it and sees the 3 applied".into());
    (true, notes.join("; "))
}

/// The tool says nothing is pending, and running it applies nothing.
async fn accepts(tool: &dyn Tool, db: &Db, dir: &Path) -> Result<(), String> {
    let name = tool.name();
    tool.up_to_date(db, dir)
        .map_err(|e| format!("{name} does not see everything applied: {}", e.trim()))?;
    let before = history_rows(db, name).await;
    let o = tool.migrate(db, dir);
    if !o.ok {
        return Err(format!("{name} failed on the table: {}", o.text.trim()));
    }
    let after = history_rows(db, name).await;
    if after != before {
        return Err(format!(
            "{name} applied again ({before} -> {after} rows): {}",
            o.text.trim()
        ));
    }
    Ok(())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let tools: Vec<Box<dyn Tool>> = vec![
        Box::new(Sqlx),
        Box::new(Dbmate),
        Box::new(Diesel),
        Box::new(Drizzle),
    ];
    let mut failed = false;
    println!("| tool | version | engine | result | what was checked |");
    println!("|---|---|---|---|---|");
    rt.block_on(async {
        let srv = Servers {
            pg: EphemeralPostgres::start(&Default::default())
                .await
                .expect("postgres"),
            my: EphemeralMysql::start().await.expect("mariadb"),
            lite: tempfile::tempdir().unwrap(),
        };
        for tool in &tools {
            let version = match tool.available() {
                Ok(v) => v,
                Err(e) => {
                    println!("| {} | — | all | not run | {e} |", tool.name());
                    failed = true;
                    continue;
                }
            };
            for engine in ["postgres", "mysql", "sqlite"] {
                let (ok, what) = check(&srv, tool.as_ref(), engine, work.path()).await;
                failed |= !ok;
                let what = what.replace('|', "/").replace('\n', " ");
                println!(
                    "| {} | {version} | {engine} | {} | {what} |",
                    tool.name(),
                    if ok { "ok" } else { "FAILED" }
                );
            }
        }
    });
    for (tool, why) in [
        (
            "golang-migrate",
            "Go binary: not in crates.io, npm, PyPI or Debian; the Go module proxy is not reachable here",
        ),
        (
            "goose",
            "Go binary: same as golang-migrate (npm goose-cli is a wrapper that downloads it)",
        ),
        (
            "flyway",
            "Java, from Maven Central or Redgate's site: neither is reachable here",
        ),
        (
            "prisma",
            "its schema engine binary is downloaded at install time from Prisma's own server, not a registry",
        ),
    ] {
        println!("| {tool} | — | all | not run | {why} |");
    }
    std::process::exit(i32::from(failed));
}
