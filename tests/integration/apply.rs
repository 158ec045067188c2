//! `status` and `apply` on real servers (ephemeral PostgreSQL, MariaDB, SQLite): every tool's
//! history table written as the tool writes it (checksums checked against independent
//! implementations: coreutils `sha384sum`/`sha256sum`), status states, two appliers racing, lock
//! timeouts retried until the holder commits, the gates for destructive migrations.

use crate::backup::{pg_exec, run};
use crate::engines::rt;
use crate::support::{Run, have, json, root};
use migsafe::engines::conn::Conn;
use migsafe::engines::mysql::ephemeral::EphemeralMysql;
use migsafe::engines::postgres::ephemeral::EphemeralPostgres;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(tool: &str) -> PathBuf {
    root().join("fixtures/migrations").join(tool)
}

/// `sha384sum`/`sha256sum` of a file: an implementation independent of migsafe's.
fn coreutils(sum: &str, file: &Path) -> String {
    let out = Command::new(sum).arg(file).output().expect(sum);
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

async fn rows(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut c = Conn::open(url).await.unwrap();
    let (_, r) = c
        .query_text(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    c.close().await;
    r
}

fn col(rows: &[Vec<Option<String>>], i: usize) -> Vec<String> {
    rows.iter()
        .map(|r| r.get(i).cloned().flatten().unwrap_or_default())
        .collect()
}

fn out_json(r: &Run) -> Value {
    json(r)
}

fn state_of(status: &Value) -> Vec<(String, String)> {
    status["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["version"].as_str().unwrap_or_default().to_string(),
                m["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn postgres_every_tool_applies_and_records_rows_the_tool_accepts() {
    if !have("postgres") {
        return;
    }
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        let work = tempfile::tempdir().unwrap();
        for tool in [
            "sqlx",
            "golang-migrate",
            "dbmate",
            "goose",
            "flyway",
            "prisma",
            "diesel",
            "drizzle",
            "plain",
        ] {
            let db = format!("t_{}", tool.replace('-', "_"));
            pg_exec(&server, "postgres", &format!("CREATE DATABASE {db}")).await;
            let url = server.url(&db);
            let dir = fixture(tool);
            let d = dir.to_str().unwrap();
            let before = out_json(&run(
                work.path(),
                &["status", d, "--database-url", &url, "--format", "json"],
            ));
            assert_eq!(before["schema_version"], 1);
            assert!(
                before["migrations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|m| m["state"] == "pending"),
                "{tool}: {before}"
            );
            assert_eq!(before["table_exists"], false);
            // the fixtures hold unknown statements (diesel's functions, drizzle's DO block): --force
            let r = run(
                work.path(),
                &[
                    "apply",
                    d,
                    "--database-url",
                    &url,
                    "--force",
                    "--format",
                    "json",
                ],
            );
            assert_eq!(r.code, 0, "{tool}: {}\n{}", r.stdout, r.stderr);
            let a = out_json(&r);
            assert_eq!(a["outcome"], "applied", "{tool}: {a}");
            let after = run(
                work.path(),
                &["status", d, "--database-url", &url, "--format", "json"],
            );
            assert_eq!(after.code, 0, "{tool}: {}", after.stdout);
            let after = out_json(&after);
            assert!(
                state_of(&after).iter().all(|(_, s)| s == "applied"),
                "{tool}: {after}"
            );
            // a second apply has nothing to do
            let again = out_json(&run(
                work.path(),
                &[
                    "apply",
                    d,
                    "--database-url",
                    &url,
                    "--force",
                    "--format",
                    "json",
                ],
            ));
            assert_eq!(again["outcome"], "up-to-date", "{tool}");
            check_rows(tool, &url, &dir).await;
        }
    });
}

/// The rows as the tool itself would have written them.
async fn check_rows(tool: &str, url: &str, dir: &Path) {
    match tool {
        "sqlx" => {
            let r = rows(url, "SELECT version::text, description, success::text, encode(checksum, 'hex'), (execution_time > 0)::text FROM _sqlx_migrations ORDER BY _sqlx_migrations.version").await;
            assert_eq!(col(&r, 0), ["1", "2", "10"]);
            assert_eq!(
                col(&r, 1),
                ["create users", "add email", "add users email index"]
            );
            assert!(col(&r, 2).iter().all(|s| s == "true"));
            assert_eq!(
                r[0][3].as_deref().unwrap(),
                coreutils("sha384sum", &dir.join("1_create_users.sql"))
            );
            assert_eq!(
                r[1][3].as_deref().unwrap(),
                coreutils("sha384sum", &dir.join("2_add_email.up.sql"))
            );
        }
        "golang-migrate" => {
            let r = rows(
                url,
                "SELECT version::text, dirty::text FROM schema_migrations",
            )
            .await;
            assert_eq!(
                r,
                vec![vec![Some("10".into()), Some("false".into())]],
                "one row: the current version, clean"
            );
        }
        "dbmate" => {
            let r = rows(url, "SELECT version FROM schema_migrations ORDER BY 1").await;
            assert_eq!(
                col(&r, 0),
                ["20240101120000", "20240102090000", "20240103100000"]
            );
            let t = rows(url, "SELECT data_type::text FROM information_schema.columns WHERE table_name = 'schema_migrations'").await;
            assert_eq!(col(&t, 0), ["character varying"]);
        }
        "goose" => {
            let r = rows(
                url,
                "SELECT version_id::text, is_applied::text FROM goose_db_version ORDER BY id",
            )
            .await;
            assert_eq!(
                r[0],
                vec![Some("0".into()), Some("true".into())],
                "goose's first row"
            );
            assert!(col(&r, 1).iter().all(|s| s == "true"));
            assert_eq!(r.len(), 4);
        }
        "flyway" => {
            let r = rows(url, "SELECT installed_rank::text, COALESCE(version, ''), description, type, script, checksum::text, success::text FROM flyway_schema_history ORDER BY installed_rank").await;
            assert_eq!(col(&r, 0), ["1", "2", "3", "4"]);
            assert_eq!(
                col(&r, 1),
                ["1", "1.1", "2", ""],
                "the repeatable one has no version"
            );
            assert_eq!(col(&r, 3), ["SQL", "SQL", "SQL", "SQL"]);
            assert_eq!(col(&r, 4)[0], "V1__create_customers.sql");
            assert_eq!(col(&r, 2)[1], "add customer email");
            // Flyway's ChecksumCalculator: CRC-32 over the lines without terminators, computed
            // independently (gzip's CRC-32)
            let crc = crate::history::independent_checksum(
                "flyway",
                &dir.join("V1__create_customers.sql"),
            )
            .unwrap();
            assert_eq!(col(&r, 5)[0], crc);
            assert!(col(&r, 6).iter().all(|s| s == "true"));
        }
        "prisma" => {
            let r = rows(url, "SELECT migration_name, checksum, (finished_at IS NOT NULL)::text, (rolled_back_at IS NULL)::text, applied_steps_count::text, length(id)::text FROM _prisma_migrations ORDER BY started_at, migration_name").await;
            assert_eq!(
                col(&r, 0),
                ["20240101120000_init", "20240215093000_add_posts"]
            );
            assert_eq!(
                r[0][1].as_deref().unwrap(),
                coreutils("sha256sum", &dir.join("20240101120000_init/migration.sql"))
            );
            assert!(
                col(&r, 2).iter().all(|s| s == "true") && col(&r, 3).iter().all(|s| s == "true")
            );
            assert_eq!(col(&r, 4), ["1", "1"]);
            assert_eq!(col(&r, 5), ["36", "36"]);
        }
        "diesel" => {
            let r = rows(
                url,
                "SELECT version FROM __diesel_schema_migrations ORDER BY 1",
            )
            .await;
            assert_eq!(
                col(&r, 0),
                ["00000000000000", "20240115093000", "20240201120000"]
            );
        }
        "drizzle" => {
            let r = rows(
                url,
                "SELECT hash, created_at::text FROM drizzle.__drizzle_migrations ORDER BY id",
            )
            .await;
            assert_eq!(
                r[0][0].as_deref().unwrap(),
                coreutils("sha256sum", &dir.join("0000_wise_hulk.sql"))
            );
            let journal: Value = serde_json::from_str(
                &std::fs::read_to_string(dir.join("meta/_journal.json")).unwrap(),
            )
            .unwrap();
            let whens: Vec<String> = journal["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["when"].to_string())
                .collect();
            assert_eq!(col(&r, 1), whens);
        }
        _ => {
            let r = rows(
                url,
                "SELECT version, success::text FROM migsafe_schema_history ORDER BY version",
            )
            .await;
            assert_eq!(r.len(), 3);
        }
    }
}

#[test]
fn postgres_status_sees_modified_missing_and_dirty() {
    if !have("postgres") {
        return;
    }
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        let work = tempfile::tempdir().unwrap();
        let m = work.path().join("m");
        write(&m, "1_a.sql", "CREATE TABLE a (id int);\n");
        write(&m, "2_b.sql", "CREATE TABLE b (id int);\n");
        pg_exec(&server, "postgres", "CREATE DATABASE s").await;
        let url = server.url("s");
        let d = m.to_str().unwrap();
        assert_eq!(
            run(
                work.path(),
                &["apply", d, "--layout", "sqlx", "--database-url", &url]
            )
            .code,
            0
        );
        write(&m, "3_c.sql", "CREATE TABLE c (id int);\n");
        write(&m, "1_a.sql", "CREATE TABLE a (id bigint);\n");
        std::fs::remove_file(m.join("2_b.sql")).unwrap();
        let r = run(
            work.path(),
            &[
                "status",
                d,
                "--layout",
                "sqlx",
                "--database-url",
                &url,
                "--format",
                "json",
            ],
        );
        assert_eq!(r.code, 1, "modified and missing fail the status");
        let s = out_json(&r);
        assert_eq!(
            state_of(&s),
            [
                ("1".into(), "modified".into()),
                ("3".into(), "pending".into()),
                ("2".into(), "missing".into())
            ]
        );
        assert_eq!(s["migrations"][1]["verdict"], "safe");
        // apply refuses while the history disagrees
        let a = run(
            work.path(),
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
        assert_eq!(a.code, 1);
        assert_eq!(out_json(&a)["outcome"], "refused");
        // sqlx's dirty state: success = false
        pg_exec(
            &server,
            "s",
            "UPDATE _sqlx_migrations SET success = false WHERE version = 1",
        )
        .await;
        let s = out_json(&run(
            work.path(),
            &[
                "status",
                d,
                "--layout",
                "sqlx",
                "--database-url",
                &url,
                "--format",
                "json",
            ],
        ));
        assert_eq!(s["migrations"][0]["state"], "failed");
        assert!(
            s["migrations"][0]["note"]
                .as_str()
                .unwrap()
                .contains("DELETE FROM _sqlx_migrations WHERE version = 1")
        );
        let md = run(
            work.path(),
            &[
                "status",
                d,
                "--layout",
                "sqlx",
                "--database-url",
                &url,
                "--format",
                "markdown",
            ],
        );
        assert!(md.stdout.contains("| failed | `1` |"), "{}", md.stdout);
    });
}

#[test]
fn postgres_destructive_needs_force_and_prints_the_runbook() {
    if !have("postgres") {
        return;
    }
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        let work = tempfile::tempdir().unwrap();
        let m = work.path().join("m");
        write(&m, "1_a.sql", "CREATE TABLE a (id int, legacy text);\n");
        write(&m, "2_drop.sql", "ALTER TABLE a DROP COLUMN legacy;\n");
        pg_exec(&server, "postgres", "CREATE DATABASE g").await;
        let url = server.url("g");
        let d = m.to_str().unwrap();
        let r = run(
            work.path(),
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
        assert_eq!(r.code, 1, "{}", r.stdout);
        let j = out_json(&r);
        assert_eq!(j["outcome"], "refused");
        assert_eq!(j["refusals"][0]["rule"], "drop-column");
        assert!(j["message"].as_str().unwrap().contains("drop-column"));
        let t = rows(
            &url,
            "SELECT count(*)::text FROM pg_tables WHERE tablename IN ('a', '_sqlx_migrations')",
        )
        .await;
        assert_eq!(t[0][0].as_deref(), Some("0"), "nothing was changed");
        let plan = run(
            work.path(),
            &[
                "apply",
                d,
                "--layout",
                "sqlx",
                "--database-url",
                &url,
                "--force",
                "--dry-run",
            ],
        );
        assert_eq!(plan.code, 0, "{}", plan.stderr);
        assert!(
            plan.stdout
                .contains("records: INSERT INTO \"_sqlx_migrations\""),
            "{}",
            plan.stdout
        );
        let f = run(
            work.path(),
            &[
                "apply",
                d,
                "--layout",
                "sqlx",
                "--database-url",
                &url,
                "--force",
            ],
        );
        assert_eq!(f.code, 0, "{}\n{}", f.stdout, f.stderr);
        assert!(
            f.stdout.contains("verified backup") && f.stderr.contains("read-only"),
            "{}\n{}",
            f.stdout,
            f.stderr
        );
    });
}

fn two_appliers(engine: &str, slow: &str, holder: &str) {
    rt().block_on(async {
        let server = crate::history::Server::start(engine).await;
        let work = tempfile::tempdir().unwrap();
        let m = work.path().join("m");
        write(
            &m,
            "1_slow.sql",
            &format!("CREATE TABLE s (id int);\n{slow}\n"),
        );
        write(&m, "2_t.sql", "CREATE TABLE t (id int);\n");
        let url = server.create("r").await;
        let spawn = || {
            Command::new(env!("CARGO_BIN_EXE_migsafe"))
                .args([
                    "apply",
                    m.to_str().unwrap(),
                    "--layout",
                    "sqlx",
                    "--database-url",
                    &url,
                    "--format",
                    "json",
                ])
                .current_dir(work.path())
                .env("NO_COLOR", "1")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let a = spawn();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let b = spawn();
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        assert!(
            a.status.success() && b.status.success(),
            "{}\n{}\n{}\n{}",
            String::from_utf8_lossy(&a.stdout),
            String::from_utf8_lossy(&a.stderr),
            String::from_utf8_lossy(&b.stdout),
            String::from_utf8_lossy(&b.stderr)
        );
        let errs = [
            String::from_utf8_lossy(&a.stderr).to_string(),
            String::from_utf8_lossy(&b.stderr).to_string(),
        ];
        let waited: Vec<&String> = errs
            .iter()
            .filter(|e| e.contains("waiting for the migration lock"))
            .collect();
        assert_eq!(waited.len(), 1, "{errs:?}");
        assert!(
            waited[0].contains(holder),
            "names the holder ({holder}): {}",
            waited[0]
        );
        let r = rows(&url, "SELECT version FROM _sqlx_migrations ORDER BY 1").await;
        assert_eq!(col(&r, 0), ["1", "2"], "each applied once");
        let s = rows(&url, "SELECT COUNT(*) FROM s").await;
        assert_eq!(col(&s, 0), ["0"]);
        let outs: Vec<Value> = [a, b]
            .iter()
            .map(|o| serde_json::from_slice(&o.stdout).unwrap())
            .collect();
        let elsewhere = outs
            .iter()
            .filter(|o| {
                o["migrations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|m| m["outcome"] == "applied-elsewhere")
            })
            .count();
        assert_eq!(elsewhere, 1, "the waiter found them applied: {outs:?}");
    });
}

#[test]
fn postgres_two_appliers_one_waits_and_names_the_holder() {
    if have("postgres") {
        two_appliers(
            "postgres",
            "SELECT pg_sleep(2);",
            "application \"migsafe apply (",
        );
    }
}

#[test]
fn mariadb_two_appliers_one_waits_and_names_the_holder() {
    if have("mysql") {
        two_appliers("mysql", "SELECT SLEEP(2);", "connection ");
    }
}

/// A lock held by another session (an open transaction that read the table): the ALTER times
/// out, is retried with backoff, and succeeds once the holder commits; the journal has each try.
fn lock_retry(engine: &str, begin: &str, hold_ms: u64, step: &str) {
    rt().block_on(async {
        let server = crate::history::Server::start(engine).await;
        let work = tempfile::tempdir().unwrap();
        let state = work.path().join("state");
        let m = work.path().join("m");
        write(&m, "1_add.sql", "ALTER TABLE busy ADD COLUMN c int;\n");
        let url = server.create("l").await;
        crate::history::exec(&url, "CREATE TABLE busy (id int)").await;
        let mut holder = Conn::open(&url).await.unwrap();
        holder.execute(begin).await.unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_migsafe"))
            .args(["apply", m.to_str().unwrap(), "--layout", "sqlx", "--database-url", &url, "--format", "json", "--lock-timeout", "200ms", "--retries", "30"])
            .current_dir(work.path())
            .env("MIGSAFE_STATE_DIR", &state)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(hold_ms)).await;
        holder.execute("COMMIT").await.unwrap();
        child.wait().unwrap();
        let mut stdout = String::new();
        use std::io::Read;
        child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
        let j: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(j["outcome"], "applied", "{j}");
        let tries = j["migrations"][0]["attempts"].as_array().unwrap();
        assert!(tries.len() >= 2 && tries.iter().all(|t| t["lock_timeout"] == true), "{j}");
        let waits: Vec<u64> = tries.iter().map(|t| t["retry_in_ms"].as_u64().unwrap()).collect();
        assert!(waits.windows(2).any(|w| w[1] > w[0]) || waits.len() < 3, "backoff grows: {waits:?}");
        let c = rows(&url, "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'busy' AND column_name = 'c'").await;
        assert_eq!(c[0][0].as_deref(), Some("1"));
        // the journal shows each try
        let journal = std::fs::read_dir(state.join("journal")).unwrap().flatten().next().unwrap().path();
        let text = std::fs::read_to_string(journal).unwrap();
        let steps = text.lines().filter(|l| l.contains("\"event\":\"step\"") && l.contains(&format!("\"{step}\""))).count();
        let failed = text.lines().filter(|l| l.contains("\"event\":\"failed\"") && l.contains("lock timeout")).count();
        assert_eq!(steps, tries.len() + 1, "{text}");
        assert_eq!(failed, tries.len());
        assert!(text.contains("\"outcome\":\"finished\""));
    });
}

#[test]
fn postgres_lock_timeout_is_retried_until_the_holder_commits() {
    if have("postgres") {
        lock_retry("postgres", "BEGIN; SELECT * FROM busy", 2500, "apply 1");
    }
}

#[test]
fn mariadb_lock_timeout_is_retried_until_the_holder_commits() {
    if have("mysql") {
        // lock_wait_timeout counts whole seconds: the holder keeps it long enough for two tries
        lock_retry(
            "mysql",
            "START TRANSACTION; SELECT * FROM busy",
            4500,
            "statement 1 1",
        );
    }
}

#[test]
fn mariadb_and_sqlite_apply_and_status() {
    let work = tempfile::tempdir().unwrap();
    let m = work.path().join("m");
    write(&m, "1_a.sql", "CREATE TABLE a (id int);\n");
    write(
        &m,
        "2_b.sql",
        "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\n",
    );
    let d = m.to_str().unwrap().to_string();
    let check = |url: &str| {
        let a = run(
            work.path(),
            &[
                "apply",
                &d,
                "--layout",
                "sqlx",
                "--database-url",
                url,
                "--format",
                "json",
            ],
        );
        assert_eq!(a.code, 0, "{url}: {}\n{}", a.stdout, a.stderr);
        let s = out_json(&run(
            work.path(),
            &[
                "status",
                &d,
                "--layout",
                "sqlx",
                "--database-url",
                url,
                "--format",
                "json",
            ],
        ));
        assert_eq!(
            state_of(&s),
            [
                ("1".into(), "applied".into()),
                ("2".into(), "applied".into())
            ],
            "{url}"
        );
    };
    let db = work.path().join("x.db");
    let url = format!("sqlite:{}?mode=rwc", db.display());
    check(&url);
    rt().block_on(async {
        let r = rows(&url, "SELECT CAST(version AS TEXT), lower(hex(checksum)) FROM _sqlx_migrations ORDER BY version").await;
        assert_eq!(r[0][1].as_deref().unwrap(), coreutils("sha384sum", &m.join("1_a.sql")));
    });
    if !have("mysql") {
        return;
    }
    rt().block_on(async {
        let server = EphemeralMysql::start().await.unwrap();
        let mut c = Conn::Mysql(server.connect(None).await.unwrap());
        c.execute("CREATE DATABASE app").await.unwrap();
        c.close().await;
        let url = server.url("app");
        check(&url);
        let r = rows(&url, "SELECT CAST(version AS CHAR), CAST(success AS CHAR), LOWER(HEX(checksum)) FROM _sqlx_migrations ORDER BY version").await;
        assert_eq!(col(&r, 1), ["1", "1"]);
        assert_eq!(r[1][2].as_deref().unwrap(), coreutils("sha384sum", &m.join("2_b.sql")));

    });
}
