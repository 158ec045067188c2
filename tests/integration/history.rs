//! Every migration tool's history table on real PostgreSQL, MariaDB and SQLite
//! (`fixtures/history/`): the table created and two migrations recorded exactly as the tool does
//! it on that engine (its DDL and rows, from its source, with checksums whose expected values
//! are cited in `fixtures/history/README.md`), then `status` must say applied / pending /
//! modified / missing the way the tool would, and `apply` must leave a table whose catalog
//! (columns, types, defaults, keys, indexes) and rows (all but times, ids and the user) are the
//! same as the ones the tool itself wrote.

use crate::backup::run;
use crate::engines::rt;
use crate::support::{Run, have, json, root};
use migsafe::engines::conn::Conn;
use migsafe::engines::mysql::ephemeral::EphemeralMysql;
use migsafe::engines::postgres::ephemeral::EphemeralPostgres;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// A server of one engine (or a folder of SQLite files) that hands out fresh databases.
pub(crate) enum Server {
    Pg(EphemeralPostgres),
    My(EphemeralMysql),
    Lite(tempfile::TempDir),
}

impl Server {
    pub(crate) async fn start(engine: &str) -> Server {
        match engine {
            "postgres" => Server::Pg(EphemeralPostgres::start(&Default::default()).await.unwrap()),
            "mysql" => Server::My(EphemeralMysql::start().await.unwrap()),
            _ => Server::Lite(tempfile::tempdir().unwrap()),
        }
    }

    pub(crate) fn engine(&self) -> &'static str {
        match self {
            Server::Pg(_) => "postgres",
            Server::My(_) => "mysql",
            Server::Lite(_) => "sqlite",
        }
    }

    /// A new, empty database; its URL.
    pub(crate) async fn create(&self, name: &str) -> String {
        match self {
            Server::Pg(s) => {
                crate::backup::pg_exec(s, "postgres", &format!("CREATE DATABASE {name}")).await;
                s.url(name)
            }
            Server::My(s) => {
                let mut c = Conn::Mysql(s.connect(None).await.unwrap());
                c.execute(&format!("CREATE DATABASE {name}")).await.unwrap();
                c.close().await;
                s.url(name)
            }
            Server::Lite(d) => format!(
                "sqlite:{}?mode=rwc",
                d.path().join(format!("{name}.db")).display()
            ),
        }
    }
}

pub(crate) async fn exec(url: &str, sql: &str) {
    let mut c = Conn::open(url).await.unwrap();
    c.execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    c.close().await;
}

pub(crate) async fn texts(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut c = Conn::open(url).await.unwrap();
    let (_, r) = c
        .query_text(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    c.close().await;
    r
}

async fn lines(url: &str, sql: &str) -> Vec<String> {
    texts(url, sql)
        .await
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|c| c.unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect()
}

/// The history table as the live catalog describes it: every column with its type,
/// nullability, default and key, every index, and (MySQL) the collation, (SQLite) whether ids
/// are AUTOINCREMENT.
async fn catalog(engine: &str, url: &str, schema: &str, table: &str) -> Vec<String> {
    let mut out = Vec::new();
    match engine {
        "postgres" => {
            out.extend(lines(url, &format!(
                "SELECT column_name::text || ' ' || data_type::text || COALESCE('(' || character_maximum_length || ')', '') \
                        || CASE WHEN is_nullable = 'NO' THEN ' not null' ELSE '' END \
                        || COALESCE(' default ' || column_default::text, '') \
                        || CASE WHEN is_identity = 'YES' THEN ' identity ' || identity_generation::text ELSE '' END \
                 FROM information_schema.columns WHERE table_schema = '{schema}' AND table_name = '{table}' ORDER BY ordinal_position"
            )).await);
            out.extend(lines(url, &format!(
                "SELECT indexdef::text FROM pg_indexes WHERE schemaname = '{schema}' AND tablename = '{table}' ORDER BY indexname"
            )).await);
        }
        "mysql" => {
            out.extend(lines(url, &format!(
                "SELECT CAST(CONCAT_WS(' ', COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, IFNULL(COLUMN_DEFAULT, '-'), COLUMN_KEY, EXTRA, IFNULL(COLLATION_NAME, '-')) AS CHAR) \
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION"
            )).await);
            out.extend(lines(url, &format!(
                "SELECT CAST(CONCAT_WS(' ', INDEX_NAME, NON_UNIQUE, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX)) AS CHAR) \
                 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}' GROUP BY INDEX_NAME, NON_UNIQUE ORDER BY INDEX_NAME"
            )).await);
            out.extend(lines(url, &format!(
                "SELECT CAST(CONCAT_WS(' ', 'engine', ENGINE, 'collation', TABLE_COLLATION) AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}'"
            )).await);
        }
        _ => {
            out.extend(lines(url, &format!(
                "SELECT name || ' ' || type || ' ' || \"notnull\" || ' ' || COALESCE(dflt_value, '-') || ' ' || pk FROM pragma_table_info('{table}') ORDER BY cid"
            )).await);
            out.extend(lines(url, &format!(
                "SELECT name || ' ' || \"unique\" || ' ' || origin FROM pragma_index_list('{table}') ORDER BY name"
            )).await);
            out.extend(lines(url, &format!(
                "SELECT 'autoincrement ' || (sql LIKE '%AUTOINCREMENT%') FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
            )).await);
        }
    }
    assert!(!out.is_empty(), "{engine}: no table {schema}.{table}");
    out
}

async fn column_names(engine: &str, url: &str, schema: &str, table: &str) -> Vec<String> {
    let sql = match engine {
        "postgres" => format!(
            "SELECT column_name::text FROM information_schema.columns WHERE table_schema = '{schema}' AND table_name = '{table}' ORDER BY ordinal_position"
        ),
        "mysql" => format!(
            "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION"
        ),
        _ => format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
    };
    lines(url, &sql).await
}

/// One tool: where its table is, which column orders its rows, which columns hold what
/// changes from run to run (times, generated ids, the connected user: compared as set or
/// null), and how its checksum reacts to edits.
struct Case {
    tool: &'static str,
    table: &'static str,
    /// PostgreSQL schema of the table (`public` unless the tool has its own).
    pg_schema: &'static str,
    order_by: &'static str,
    volatile: &'static [&'static str],
    columns: &'static [&'static str],
    /// The tool compares checksums: an edited applied file is `modified`.
    checksums: bool,
    /// Converting an applied file's line endings to CRLF makes it `modified`.
    crlf_modifies: bool,
    /// The files of migrations 1, 2 and 3, relative to `migrations/`.
    files: [&'static str; 3],
    /// The keys `status` shows for them.
    keys: [&'static str; 3],
    /// The tool's failed/dirty mark on migration 2 (SQL that sets it, SQL that clears it) and
    /// a piece of the repair `status` must name.
    dirty: Option<(&'static str, &'static str, &'static str)>,
}

const CASES: &[Case] = &[
    Case {
        tool: "sqlx",
        table: "_sqlx_migrations",
        pg_schema: "public",
        order_by: "version",
        volatile: &["installed_on", "execution_time"],
        columns: &[
            "version",
            "description",
            "installed_on",
            "success",
            "checksum",
            "execution_time",
        ],
        checksums: true,
        crlf_modifies: true,
        files: [
            "1_create_accounts.sql",
            "2_index_accounts_email.up.sql",
            "3_add_nickname_and_sessions.sql",
        ],
        keys: ["1", "2", "3"],
        dirty: Some((
            "UPDATE _sqlx_migrations SET success = FALSE WHERE version = 2",
            "UPDATE _sqlx_migrations SET success = TRUE WHERE version = 2",
            "DELETE FROM _sqlx_migrations WHERE version = 2",
        )),
    },
    Case {
        tool: "pop",
        table: "schema_migration",
        pg_schema: "public",
        order_by: "version",
        volatile: &[],
        columns: &["version", "version_self"],
        checksums: false,
        crlf_modifies: false,
        files: [
            "20240101000001000000_create_accounts.up.sql",
            "20240102000002000000_index_accounts_email.up.sql",
            "20240103000003000000_add_nickname_and_sessions.up.sql",
        ],
        keys: [
            "20240101000001000000",
            "20240102000002000000",
            "20240103000003000000",
        ],
        dirty: None,
    },
    Case {
        tool: "golang-migrate",
        table: "schema_migrations",
        pg_schema: "public",
        order_by: "version",
        volatile: &[],
        columns: &["version", "dirty"],
        checksums: false,
        crlf_modifies: false,
        files: [
            "000001_create_accounts.up.sql",
            "000002_index_accounts_email.up.sql",
            "000003_add_nickname_and_sessions.up.sql",
        ],
        keys: ["1", "2", "3"],
        dirty: Some((
            "UPDATE schema_migrations SET dirty = TRUE",
            "UPDATE schema_migrations SET dirty = FALSE",
            "force 2",
        )),
    },
    Case {
        tool: "dbmate",
        table: "schema_migrations",
        pg_schema: "public",
        order_by: "version",
        volatile: &[],
        columns: &["version"],
        checksums: false,
        crlf_modifies: false,
        files: [
            "20240101000001_create_accounts.sql",
            "20240102000002_index_accounts_email.sql",
            "20240103000003_add_nickname_and_sessions.sql",
        ],
        keys: ["20240101000001", "20240102000002", "20240103000003"],
        dirty: None,
    },
    Case {
        tool: "goose",
        table: "goose_db_version",
        pg_schema: "public",
        order_by: "id",
        volatile: &["tstamp"],
        columns: &["id", "version_id", "is_applied", "tstamp"],
        checksums: false,
        crlf_modifies: false,
        files: [
            "00001_create_accounts.sql",
            "00002_index_accounts_email.sql",
            "00003_add_nickname_and_sessions.sql",
        ],
        keys: ["1", "2", "3"],
        dirty: None,
    },
    Case {
        tool: "flyway",
        table: "flyway_schema_history",
        pg_schema: "public",
        order_by: "installed_rank",
        volatile: &["installed_by", "installed_on", "execution_time"],
        columns: &[
            "installed_rank",
            "version",
            "description",
            "type",
            "script",
            "checksum",
            "installed_by",
            "installed_on",
            "execution_time",
            "success",
        ],
        checksums: true,
        crlf_modifies: false,
        files: [
            "V1__Create_person_table.sql",
            "V2__Add_people.sql",
            "V3__Couple.sql",
        ],
        keys: ["1", "2", "3"],
        dirty: Some((
            "UPDATE flyway_schema_history SET success = FALSE WHERE installed_rank = 2",
            "UPDATE flyway_schema_history SET success = TRUE WHERE installed_rank = 2",
            "flyway repair",
        )),
    },
    Case {
        tool: "prisma",
        table: "_prisma_migrations",
        pg_schema: "public",
        order_by: "migration_name",
        volatile: &["id", "finished_at", "started_at"],
        columns: &[
            "id",
            "checksum",
            "finished_at",
            "migration_name",
            "logs",
            "rolled_back_at",
            "started_at",
            "applied_steps_count",
        ],
        checksums: true,
        crlf_modifies: false,
        files: [
            "20240101000001_init/migration.sql",
            "20240102000002_index_accounts_email/migration.sql",
            "20240103000003_add_nickname_and_sessions/migration.sql",
        ],
        keys: [
            "20240101000001_init",
            "20240102000002_index_accounts_email",
            "20240103000003_add_nickname_and_sessions",
        ],
        dirty: Some((
            "UPDATE _prisma_migrations SET finished_at = NULL WHERE migration_name = '20240102000002_index_accounts_email'",
            "UPDATE _prisma_migrations SET finished_at = started_at WHERE migration_name = '20240102000002_index_accounts_email'",
            "prisma migrate resolve --rolled-back 20240102000002_index_accounts_email",
        )),
    },
    Case {
        tool: "diesel",
        table: "__diesel_schema_migrations",
        pg_schema: "public",
        order_by: "version",
        volatile: &["run_on"],
        columns: &["version", "run_on"],
        checksums: false,
        crlf_modifies: false,
        files: [
            "2024-01-01-000001_create_accounts/up.sql",
            "2024-01-02-000002_index_accounts_email/up.sql",
            "2024-01-03-000003_add_nickname_and_sessions/up.sql",
        ],
        keys: ["20240101000001", "20240102000002", "20240103000003"],
        dirty: None,
    },
    Case {
        tool: "drizzle",
        table: "__drizzle_migrations",
        pg_schema: "drizzle",
        order_by: "created_at",
        volatile: &[],
        columns: &["id", "hash", "created_at"],
        checksums: true,
        crlf_modifies: true,
        files: [
            "0000_create_accounts.sql",
            "0001_index_accounts_email.sql",
            "0002_add_nickname_and_sessions.sql",
        ],
        keys: ["1704067200000", "1704153600000", "1704240000000"],
        dirty: None,
    },
];

/// The checksum an implementation independent of migsafe's computes for `file` as `tool`
/// records it: coreutils `sha384sum`/`sha256sum`, and for Flyway the CRC-32 in the trailer of
/// `gzip` (RFC 1952) over the file's lines without their terminators.
pub(crate) fn independent_checksum(tool: &str, file: &Path) -> Option<String> {
    let sum = |prog: &str| {
        let out = Command::new(prog).arg(file).output().expect(prog);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    match tool {
        "sqlx" => Some(sum("sha384sum")),
        "prisma" | "drizzle" => Some(sum("sha256sum")),
        "flyway" => {
            let text = std::fs::read_to_string(file).unwrap();
            let joined: String = text.split(['\n', '\r']).collect();
            let mut gz = Command::new("gzip")
                .arg("-c")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            gz.stdin
                .take()
                .unwrap()
                .write_all(joined.as_bytes())
                .unwrap();
            let out = gz.wait_with_output().unwrap().stdout;
            let n = out.len();
            let crc = u32::from_le_bytes([out[n - 8], out[n - 7], out[n - 6], out[n - 5]]);
            Some((crc as i32).to_string())
        }
        _ => None,
    }
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

pub(crate) fn states(s: &Value) -> BTreeMap<String, String> {
    s["migrations"]
        .as_array()
        .unwrap_or_else(|| panic!("no migrations: {s}"))
        .iter()
        .map(|m| {
            (
                m["key"].as_str().unwrap().to_string(),
                m["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn expect(keys: &[&str; 3], st: [&str; 3]) -> BTreeMap<String, String> {
    keys.iter()
        .zip(st)
        .map(|(k, s)| (k.to_string(), s.to_string()))
        .collect()
}

fn status(work: &Path, dir: &Path, tool: &str, url: &str) -> (Run, Value) {
    let layout = if tool == "plain" { "plain" } else { tool };
    let r = run(
        work,
        &[
            "status",
            dir.to_str().unwrap(),
            "--layout",
            layout,
            "--database-url",
            url,
            "--format",
            "json",
        ],
    );
    assert!(
        r.code == 0 || r.code == 1,
        "{tool}: status failed: {}\n{}",
        r.stdout,
        r.stderr
    );
    let v = json(&r);
    (r, v)
}

fn apply(work: &Path, dir: &Path, tool: &str, url: &str) -> Value {
    let r = run(
        work,
        &[
            "apply",
            dir.to_str().unwrap(),
            "--layout",
            tool,
            "--database-url",
            url,
            "--format",
            "json",
        ],
    );
    assert_eq!(
        r.code, 0,
        "{tool}: apply failed: {}\n{}",
        r.stdout, r.stderr
    );
    json(&r)
}

/// The rows, volatile columns reduced to `set`/`null`, in the tool's order.
async fn rows(engine: &str, url: &str, case: &Case, qualified: &str, schema: &str) -> Vec<String> {
    let cols = column_names(engine, url, schema, case.table).await;
    let q = |c: &str| {
        if engine == "mysql" {
            format!("`{c}`")
        } else {
            format!("\"{c}\"")
        }
    };
    let sel: Vec<String> = cols
        .iter()
        .map(|c| {
            if case.volatile.contains(&c.as_str()) {
                format!("CASE WHEN {} IS NULL THEN 'null' ELSE 'set' END", q(c))
            } else {
                q(c)
            }
        })
        .collect();
    lines(
        url,
        &format!(
            "SELECT {} FROM {qualified} ORDER BY {}",
            sel.join(", "),
            q(case.order_by)
        ),
    )
    .await
}

async fn one_tool(srv: &Server, case: &Case, work: &Path) {
    let engine = srv.engine();
    let tool = case.tool;
    let at = format!("{tool} on {engine}");
    let fixture = root().join("fixtures/history").join(tool);
    let dir = work.join(format!("{engine}-{tool}"));
    copy_dir(&fixture.join("migrations"), &dir);
    let name = format!("h_{}", tool.replace('-', "_"));
    let (schema, qualified) = match engine {
        "postgres" => (
            case.pg_schema.to_string(),
            format!("\"{}\".\"{}\"", case.pg_schema, case.table),
        ),
        "mysql" => (String::new(), format!("`{}`", case.table)),
        _ => ("main".to_string(), format!("\"{}\"", case.table)),
    };
    // A: the tool created its table and applied migrations 1 and 2
    let a = srv.create(&format!("{name}_a")).await;
    let sql = std::fs::read_to_string(fixture.join(format!("{engine}.sql"))).unwrap();
    exec(&a, &sql).await;
    // B: nothing yet
    let b = srv.create(&format!("{name}_b")).await;

    let (r, s) = status(work, &dir, tool, &a);
    assert_eq!(r.code, 0, "{at}: {}", r.stdout);
    assert_eq!(
        states(&s),
        expect(&case.keys, ["applied", "applied", "pending"]),
        "{at}: {s}"
    );
    assert_eq!(s["table_exists"], true);
    // the recorded checksums are the fixture's, the file checksums the independent ones
    for (i, m) in s["migrations"].as_array().unwrap().iter().enumerate() {
        let ind = independent_checksum(tool, &dir.join(case.files[i]));
        assert_eq!(
            m["file_checksum"].as_str().map(str::to_string),
            ind,
            "{at}: file {}",
            case.files[i]
        );
        if i < 2 {
            assert_eq!(
                m["recorded_checksum"].as_str().map(str::to_string),
                ind,
                "{at}: row of {}",
                case.files[i]
            );
        }
    }
    assert!(
        s["migrations"][2]["verdict"].is_string(),
        "{at}: a pending migration has a verdict: {s}"
    );
    let (_, sb) = status(work, &dir, tool, &b);
    assert_eq!(
        states(&sb),
        expect(&case.keys, ["pending", "pending", "pending"]),
        "{at}"
    );
    assert_eq!(sb["table_exists"], false);

    // line endings: sqlx and Drizzle hash the bytes, Flyway and Prisma do not see them
    let first = dir.join(case.files[0]);
    let original = std::fs::read_to_string(&first).unwrap();
    let edited = |text: String, modifies: bool, what: &str| {
        std::fs::write(&first, text).unwrap();
        let (r, s) = status(work, &dir, tool, &a);
        let one = if modifies { "modified" } else { "applied" };
        assert_eq!(
            states(&s),
            expect(&case.keys, [one, "applied", "pending"]),
            "{at}: {what}"
        );
        assert_eq!(r.code, i32::from(modifies), "{at}: {what}");
        if modifies {
            let m = &s["migrations"][0];
            assert_ne!(m["file_checksum"], m["recorded_checksum"], "{at}");
            assert!(m["note"].as_str().unwrap().contains("changed"), "{at}: {m}");
        }
    };
    edited(original.replace('\n', "\r\n"), case.crlf_modifies, "CRLF");
    edited(
        format!("{original}-- edited after it was applied\n"),
        case.checksums,
        "edited",
    );
    std::fs::write(&first, &original).unwrap();
    // a recorded migration whose file is gone
    let second = dir.join(case.files[1]);
    let kept = std::fs::read(&second).unwrap();
    // the whole migration: its down file (sqlx, golang-migrate) or its folder (Prisma, Diesel)
    let saved = work.join(format!("{engine}-{tool}-saved"));
    copy_dir(&dir, &saved);
    if case.files[1].contains('/') {
        std::fs::remove_dir_all(second.parent().unwrap()).unwrap();
    } else {
        std::fs::remove_file(&second).unwrap();
        let down = second.to_str().unwrap().replace(".up.sql", ".down.sql");
        let _ = std::fs::remove_file(down);
    }
    if tool == "drizzle" {
        // drizzle itself fails on a journal entry without its file (so does discovery): a
        // migration is removed with its entry, as `drizzle-kit drop` does
        let journal = dir.join("meta/_journal.json");
        let mut j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&journal).unwrap()).unwrap();
        let tag = second.file_stem().unwrap().to_str().unwrap().to_string();
        j["entries"]
            .as_array_mut()
            .unwrap()
            .retain(|e| e["tag"] != tag.as_str());
        std::fs::write(&journal, serde_json::to_string_pretty(&j).unwrap()).unwrap();
    }
    let (r, s) = status(work, &dir, tool, &a);
    assert_eq!(r.code, 1, "{at}: missing fails the status");
    assert_eq!(
        states(&s),
        expect(&case.keys, ["applied", "missing", "pending"]),
        "{at}: missing: {s}"
    );
    let refused = run(
        work,
        &[
            "apply",
            dir.to_str().unwrap(),
            "--layout",
            tool,
            "--database-url",
            &a,
            "--format",
            "json",
        ],
    );
    assert_eq!(
        refused.code, 1,
        "{at}: apply refuses while a file is missing"
    );
    assert_eq!(json(&refused)["outcome"], "refused");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::rename(&saved, &dir).unwrap();
    assert_eq!(std::fs::read(&second).unwrap(), kept);

    // the tool's failed/dirty mark: reported with the tool's own repair, and apply refuses
    if let Some((set, clear, repair)) = case.dirty {
        exec(&a, set).await;
        let (r, s) = status(work, &dir, tool, &a);
        assert_eq!(r.code, 1, "{at}: a failed migration fails the status");
        assert_eq!(states(&s)[case.keys[1]], "failed", "{at}: {s}");
        let m = s["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["key"] == case.keys[1])
            .unwrap();
        assert!(m["note"].as_str().unwrap().contains(repair), "{at}: {m}");
        let refused = run(
            work,
            &[
                "apply",
                dir.to_str().unwrap(),
                "--layout",
                tool,
                "--database-url",
                &a,
                "--lock-wait",
                "1s",
                "--format",
                "json",
            ],
        );
        assert_eq!(
            (refused.code, json(&refused)["outcome"].as_str()),
            (1, Some("refused")),
            "{at}"
        );
        exec(&a, clear).await;
    }
    // apply: A gets migration 3, B all three
    let ra = apply(work, &dir, tool, &a);
    assert_eq!(ra["outcome"], "applied", "{at}: {ra}");
    assert_eq!(
        ra["migrations"].as_array().unwrap().len(),
        1,
        "{at}: only the pending one"
    );
    let rb = apply(work, &dir, tool, &b);
    assert_eq!(rb["migrations"].as_array().unwrap().len(), 3, "{at}");
    for url in [&a, &b] {
        let (r, s) = status(work, &dir, tool, url);
        assert_eq!(r.code, 0, "{at}: {}", r.stdout);
        assert_eq!(
            states(&s),
            expect(&case.keys, ["applied", "applied", "applied"]),
            "{at}"
        );
        let again = apply(work, &dir, tool, url);
        assert_eq!(again["outcome"], "up-to-date", "{at}");
    }
    // B's table, created by migsafe, is the tool's table; and so are its rows
    let cat_a = catalog(engine, &a, &schema, case.table).await;
    let cat_b = catalog(engine, &b, &schema, case.table).await;
    assert_eq!(
        cat_b, cat_a,
        "{at}: migsafe's table differs from the tool's"
    );
    assert_eq!(
        column_names(engine, &b, &schema, case.table).await,
        case.columns,
        "{at}"
    );
    let rows_a = rows(engine, &a, case, &qualified, &schema).await;
    let rows_b = rows(engine, &b, case, &qualified, &schema).await;
    assert_eq!(
        rows_b, rows_a,
        "{at}: migsafe's rows differ from the tool's"
    );
    // what migrations 1-3 did is there once
    for url in [&a, &b] {
        let t = if tool == "flyway" {
            "COUPLE"
        } else {
            "sessions"
        };
        let n = texts(url, &format!("SELECT COUNT(*) FROM {t}")).await;
        assert_eq!(n[0][0].as_deref(), Some("0"), "{at}");
    }
    if tool == "flyway" {
        // Flyway's own documentation (Tutorial: Dry Runs) records V3__Couple.sql as -722651034
        let c = texts(
            &b,
            &format!(
                "SELECT CAST(checksum AS CHAR(20)) FROM {qualified} WHERE script = 'V3__Couple.sql'"
            ),
        )
        .await;
        assert_eq!(
            c[0][0].as_deref().map(str::trim),
            Some("-722651034"),
            "{at}"
        );
        let who = texts(
            &b,
            &format!("SELECT installed_by FROM {qualified} ORDER BY installed_rank"),
        )
        .await;
        assert!(who.iter().all(|r| r[0].is_some()), "{at}");
    }
}

/// migsafe's own table for plain folders: applied in two runs, then edited and removed files.
async fn plain(srv: &Server, work: &Path) {
    let engine = srv.engine();
    let at = format!("plain on {engine}");
    let dir = work.join(format!("{engine}-plain"));
    copy_dir(&root().join("fixtures/history/plain/migrations"), &dir);
    let third = dir.join("003_add_nickname_and_sessions.sql");
    let kept = std::fs::read(&third).unwrap();
    std::fs::remove_file(&third).unwrap();
    let url = srv.create("h_plain").await;
    apply(work, &dir, "plain", &url);
    std::fs::write(&third, &kept).unwrap();
    let keys = [
        "001_create_accounts.sql",
        "002_index_accounts_email.sql",
        "003_add_nickname_and_sessions.sql",
    ];
    let (_, s) = status(work, &dir, "plain", &url);
    assert_eq!(
        states(&s),
        expect(&keys, ["applied", "applied", "pending"]),
        "{at}"
    );
    // migsafe's checksum ignores line endings but not edits
    let first = dir.join("001_create_accounts.sql");
    let original = std::fs::read_to_string(&first).unwrap();
    std::fs::write(&first, original.replace('\n', "\r\n")).unwrap();
    assert_eq!(
        states(&status(work, &dir, "plain", &url).1),
        expect(&keys, ["applied", "applied", "pending"]),
        "{at}"
    );
    std::fs::write(&first, format!("{original}-- edited\n")).unwrap();
    let (r, s) = status(work, &dir, "plain", &url);
    assert_eq!(
        (r.code, states(&s)),
        (1, expect(&keys, ["modified", "applied", "pending"])),
        "{at}"
    );
    std::fs::write(&first, &original).unwrap();
    apply(work, &dir, "plain", &url);
    let (r, s) = status(work, &dir, "plain", &url);
    assert_eq!(
        (r.code, states(&s)),
        (0, expect(&keys, ["applied", "applied", "applied"])),
        "{at}"
    );
    std::fs::remove_file(dir.join("002_index_accounts_email.sql")).unwrap();
    let (r, s) = status(work, &dir, "plain", &url);
    assert_eq!(
        (r.code, states(&s)),
        (1, expect(&keys, ["applied", "missing", "applied"])),
        "{at}"
    );
}

fn every_tool_on(engine: &str) {
    let work = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let srv = Server::start(engine).await;
        for case in CASES {
            one_tool(&srv, case, work.path()).await;
        }
        plain(&srv, work.path()).await;
    });
}

#[test]
fn every_tool_on_postgres_reads_and_writes_the_tools_own_table() {
    if have("postgres") {
        every_tool_on("postgres");
    }
}

#[test]
fn every_tool_on_mariadb_reads_and_writes_the_tools_own_table() {
    if have("mysql") {
        every_tool_on("mysql");
    }
}

#[test]
fn every_tool_on_sqlite_reads_and_writes_the_tools_own_table() {
    every_tool_on("sqlite");
}

/// The fixtures' rows hold the checksums cited in fixtures/history/README.md.
#[test]
fn fixture_checksums_are_the_cited_values() {
    let readme = std::fs::read_to_string(root().join("fixtures/history/README.md")).unwrap();
    for case in CASES.iter().filter(|c| c.checksums) {
        let dir = root()
            .join("fixtures/history")
            .join(case.tool)
            .join("migrations");
        for (i, f) in case.files.iter().enumerate() {
            let c = independent_checksum(case.tool, &dir.join(f)).unwrap();
            assert!(
                readme.contains(&format!("`{c}`")),
                "{}: README lacks {c} for {f}",
                case.tool
            );
            // migrations 1 and 2 are recorded in the fixtures
            if i < 2 {
                for engine in ["postgres", "mysql", "sqlite"] {
                    let sql = std::fs::read_to_string(
                        root()
                            .join("fixtures/history")
                            .join(case.tool)
                            .join(format!("{engine}.sql")),
                    )
                    .unwrap();
                    assert!(sql.contains(&c), "{} {engine}.sql lacks {c}", case.tool);
                }
            }
        }
    }
}

/// docs/status-apply.md: its tools table is what the specs render, migsafe's own locks are the
/// code's, and every key a real `status`/`apply` run prints in JSON is documented.
#[test]
fn docs_status_apply_is_current() {
    use migsafe::engines::EngineKind;
    use migsafe::engines::migrate::LockKey;
    use migsafe::engines::target::Target;
    let path = root().join("docs/status-apply.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let begin = doc.find("<!-- tools:begin").expect("tools:begin marker");
    let begin = begin + doc[begin..].find("-->\n").unwrap() + 4;
    let end = doc.find("<!-- tools:end -->").expect("tools:end marker");
    let generated = migsafe::report::status::tools_reference(&migsafe::history::reference());
    if std::env::var_os("MIGSAFE_UPDATE_DOCS").is_some() {
        let new = format!("{}{generated}{}", &doc[..begin], &doc[end..]);
        std::fs::write(&path, new).unwrap();
    } else {
        assert_eq!(
            &doc[begin..end],
            generated,
            "docs/status-apply.md's tools table is out of date: MIGSAFE_UPDATE_DOCS=1 cargo test docs_status_apply"
        );
    }
    // migsafe's own locks, as the page describes them
    let t = Target::parse("sqlite:/srv/app.db").unwrap();
    let crc = |s: &str| migsafe::history::checksum::crc32(s.as_bytes());
    assert_eq!(
        migsafe::apply::migsafe_lock(EngineKind::Postgres, "app", &t),
        LockKey::Advisory((0x6d69_6773_i64 << 32) | i64::from(crc("app")))
    );
    assert!(doc.contains("(0x6d696773 << 32) | crc32(database)"));
    assert_eq!(
        migsafe::apply::migsafe_lock(EngineKind::Mysql, "app", &t),
        LockKey::Named("migsafe:app".into())
    );
    assert!(doc.contains("GET_LOCK('migsafe:<database>')"));
    assert_eq!(
        migsafe::apply::migsafe_lock(EngineKind::Sqlite, "main", &t),
        LockKey::File("/srv/app.db-migsafe.lock".into())
    );
    assert!(doc.contains("<database file>-migsafe.lock"));

    // every JSON key of real runs, on SQLite
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = w.join("m");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("1_a.sql"), "CREATE TABLE a (id int, x int);\n").unwrap();
    let db = w.join("app.db");
    let url = format!("sqlite:{}?mode=rwc", db.display());
    std::fs::write(
        w.join("migsafe.toml"),
        format!("[env.staging]\nurl_env = \"NO_SUCH_STAGING_URL\"\n\n[env.production]\nurl = \"{url}\"\n"),
    )
    .unwrap();
    let d = m.to_str().unwrap();
    let base = ["--layout", "sqlx", "--format", "json"];
    let cli = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(&base);
        json(&run(w, &a))
    };
    let mut outputs = vec![
        ("status", cli(&["status", d, "--database-url", &url])),
        ("apply", cli(&["apply", d, "--database-url", &url])),
    ];
    std::fs::write(m.join("2_drop.sql"), "ALTER TABLE a DROP COLUMN x;\n").unwrap();
    outputs.push(("status", cli(&["status", d, "--database-url", &url])));
    outputs.push(("apply", cli(&["apply", d, "--database-url", &url])));
    outputs.push((
        "apply",
        cli(&["apply", d, "--database-url", &url, "--force", "--dry-run"]),
    ));
    outputs.push((
        "apply",
        cli(&[
            "apply",
            d,
            "--database-url",
            &url,
            "--force",
            "--migrate-cmd",
            "true",
        ]),
    ));
    outputs.push((
        "apply",
        cli(&[
            "apply",
            d,
            "--env",
            "production",
            "--force",
            "--skip-staging-check",
            "docs",
        ]),
    ));
    // a lock held by another session: the tries
    std::fs::write(m.join("3_b.sql"), "CREATE TABLE b (id int);\n").unwrap();
    rt().block_on(async {
        let mut holder = Conn::open(&url).await.unwrap();
        holder.execute("BEGIN IMMEDIATE").await.unwrap();
        outputs.push((
            "apply",
            cli(&[
                "apply",
                d,
                "--database-url",
                &url,
                "--lock-timeout",
                "100ms",
                "--retries",
                "1",
            ]),
        ));
        holder.execute("ROLLBACK").await.unwrap();
        holder.close().await;
    });
    let tries = &outputs.last().unwrap().1;
    assert!(
        tries["migrations"][0]["attempts"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{tries}"
    );
    // a problem: the applied file changed
    std::fs::write(m.join("1_a.sql"), "CREATE TABLE a (id bigint, x int);\n").unwrap();
    outputs.push(("status", cli(&["status", d, "--database-url", &url])));
    outputs.push(("apply", cli(&["apply", d, "--database-url", &url])));
    let mut missing = Vec::new();
    for (cmd, v) in &outputs {
        let mut ks = std::collections::BTreeSet::new();
        crate::support::key_paths(v, "", &mut ks);
        for k in ks {
            if !doc.contains(&format!("`{k}`")) {
                missing.push(format!("{cmd}: {k}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/status-apply.md does not document: {missing:#?}"
    );
}

/// sqlx 0.9's `[migrate] ignored-chars` (`sqlx.toml`): the characters are left out of the
/// checksum, so a file whose line endings, BOM or indentation changed stays applied — as
/// `sqlx-cli/tests/migrate.rs` `ignored_chars` shows for sqlx itself — and the recorded value is
/// SHA-384 of the text without them.
#[test]
fn sqlx_toml_ignored_chars_are_left_out_of_the_checksum() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let proj = w.join("proj");
    let m = proj.join("migrations");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(proj.join("Cargo.toml"), "[package]\nname = \"app\"\n").unwrap();
    std::fs::write(
        proj.join("sqlx.toml"),
        "[migrate]\nignored-chars = [\" \", \"\\t\", \"\\r\", \"\\n\", \"\\uFEFF\"]\n",
    )
    .unwrap();
    let lf = "create table users (\n    id int primary key,\n    name text\n);\n";
    std::fs::write(m.join("1_users.sql"), lf).unwrap();
    let url = format!("sqlite:{}?mode=rwc", w.join("app.db").display());
    let d = m.to_str().unwrap();
    let r = run(
        w,
        &[
            "apply",
            d,
            "--layout",
            "sqlx",
            "--database-url",
            &url,
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // the recorded checksum: SHA-384 of the text without the ignored characters
    let stripped: String = lf.chars().filter(|c| !" \t\r\n".contains(*c)).collect();
    std::fs::write(w.join("stripped"), &stripped).unwrap();
    let expected = independent_checksum("sqlx", &w.join("stripped")).unwrap();
    let rows = rt().block_on(texts(
        &url,
        "SELECT lower(hex(checksum)) FROM _sqlx_migrations",
    ));
    assert_eq!(rows[0][0].as_deref(), Some(expected.as_str()));
    // CRLF, a BOM and tabs: still applied; a real edit: modified
    let crlf = format!("\u{feff}{}", lf.replace("    ", "\t").replace('\n', "\r\n"));
    for (text, state, code) in [
        (crlf.as_str(), "applied", 0),
        ("create table users (id bigint);\n", "modified", 1),
    ] {
        std::fs::write(m.join("1_users.sql"), text).unwrap();
        let (r, s) = status(w, &m, "sqlx", &url);
        assert_eq!(
            (r.code, s["migrations"][0]["state"].as_str()),
            (code, Some(state)),
            "{s}"
        );
    }
    // without sqlx.toml the same CRLF file is modified, as sqlx would say
    std::fs::write(m.join("1_users.sql"), &crlf).unwrap();
    std::fs::remove_file(proj.join("sqlx.toml")).unwrap();
    assert_eq!(
        status(w, &m, "sqlx", &url).1["migrations"][0]["state"],
        "modified"
    );
    // a sqlx.toml migsafe cannot read is an error naming it
    std::fs::write(
        proj.join("sqlx.toml"),
        "[migrate]\nignored-chars = \"\\r\"\n",
    )
    .unwrap();
    let r = run(
        w,
        &["status", d, "--layout", "sqlx", "--database-url", &url],
    );
    crate::support::assert_usage_error(&r, "sqlx.toml");
}

/// A plain tree whose file names repeat across version folders, as temporal's
/// `schema/mysql/v8/temporal/versioned/v1.1/cluster_metadata.sql` and `v1.4/cluster_metadata.sql`:
/// each file is its own migration, keyed by its path below the folder, in natural order.
#[test]
fn plain_trees_key_files_by_their_path() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m = w.join("versioned");
    for (rel, sql) in [
        (
            "v1.0/schema.sql",
            "CREATE TABLE cluster_metadata (id int);\n",
        ),
        (
            "v1.1/cluster_metadata.sql",
            "ALTER TABLE cluster_metadata ADD COLUMN a int;\n",
        ),
        (
            "v1.4/cluster_metadata.sql",
            "ALTER TABLE cluster_metadata ADD COLUMN b int;\n",
        ),
        (
            "v1.10/schema.sql",
            "ALTER TABLE cluster_metadata ADD COLUMN c int;\n",
        ),
    ] {
        std::fs::create_dir_all(m.join(rel).parent().unwrap()).unwrap();
        std::fs::write(m.join(rel), sql).unwrap();
    }
    let url = format!("sqlite:{}?mode=rwc", w.join("t.db").display());
    let r = apply(w, &m, "plain", &url);
    assert_eq!(r["outcome"], "applied", "{r}");
    let (code, s) = status(w, &m, "plain", &url);
    assert_eq!(code.code, 0, "{s}");
    let keys: Vec<&str> = s["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "v1.0/schema.sql",
            "v1.1/cluster_metadata.sql",
            "v1.4/cluster_metadata.sql",
            "v1.10/schema.sql"
        ]
    );
    assert!(states(&s).values().all(|v| v == "applied"), "{s}");
    let cols = rt().block_on(texts(
        &url,
        "SELECT name FROM pragma_table_info('cluster_metadata') ORDER BY cid",
    ));
    assert_eq!(cols.len(), 4, "every file ran once, in order");
}
