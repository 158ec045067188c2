//! `migsafe dry-run` against real ephemeral PostgreSQL, MariaDB and SQLite databases: fixture
//! histories under fixtures/dry_run/, asserting errors, lock modes, rewrites, schema diffs,
//! dynamic findings, transaction modes, the down check, start states, templates, scratch
//! databases and cleanup after kill -9.

use crate::engines::rt;
use crate::support::*;
use migsafe::engines::conn::Conn;
use migsafe::engines::postgres::ephemeral::EphemeralPostgres;
use migsafe::engines::process;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A template cache shared by this suite's runs (results do not depend on it; start-up does).
fn suite_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dry-run-cache")
}

struct DryRun {
    code: i32,
    stdout: String,
    stderr: String,
}

fn dry_run_with(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> DryRun {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migsafe"));
    cmd.arg("dry-run")
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .env("MIGSAFE_CACHE_DIR", suite_cache());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run migsafe");
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let r = DryRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_no_workspace_of(pid);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    r
}

fn dry_run(args: &[&str]) -> DryRun {
    dry_run_with(&root(), args, &[])
}

fn json_of(r: &DryRun) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            r.stdout, r.stderr
        )
    })
}

/// A finished run leaves no workspace (server files) behind.
fn assert_no_workspace_of(pid: u32) {
    let Ok(entries) = std::fs::read_dir(process::workspace_root()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let mut parts = name.split('-');
        let (_, owner) = (parts.next(), parts.next());
        assert_ne!(
            owner,
            Some(pid.to_string().as_str()),
            "workspace {name} of finished run {pid} left behind"
        );
    }
}

fn migration<'a>(j: &'a Value, file: &str) -> &'a Value {
    j["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"].as_str().unwrap().ends_with(file))
        .unwrap_or_else(|| panic!("{file} not in report"))
}

fn finding<'a>(m: &'a Value, rule: &str) -> Option<&'a Value> {
    m["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == rule)
}

fn change<'a>(m: &'a Value, object: &str, name: &str) -> Option<&'a Value> {
    m["schema_diff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["object"] == object && c["name"] == name)
}

fn locks(stmt: &Value) -> Vec<(String, String)> {
    stmt["locks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["mode"].as_str().unwrap().to_string(),
                l["object"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn postgres_history_shows_locks_rewrites_diffs_and_a_drop_hidden_in_a_do_block() {
    if !have("postgres") {
        return;
    }
    let r = dry_run(&["fixtures/dry_run/pg_basic", "--format", "json"]);
    assert_eq!(r.code, 0, "only failures fail by default: {}", r.stderr);
    let j = json_of(&r);
    assert_eq!(
        (j["schema_version"].as_u64(), j["engine"].as_str()),
        (Some(1), Some("postgres"))
    );
    assert_eq!(j["database"]["kind"], "ephemeral");
    assert_eq!(j["summary"]["applied"], 5);

    let m1 = migration(&j, "1_create_users.sql");
    assert_eq!(
        change(m1, "table", "public.users").unwrap()["action"],
        "added"
    );
    assert!(
        change(m1, "constraint", "public.orders.orders_user_id_fkey").is_some(),
        "{:#}",
        m1["schema_diff"]
    );
    assert!(
        m1["statements"][0]["locks"].as_array().unwrap().is_empty(),
        "no pre-existing objects yet"
    );

    let m2 = migration(&j, "2_add_email.sql");
    let add = &m2["statements"][0];
    assert_eq!(
        locks(add),
        vec![("ACCESS EXCLUSIVE".to_string(), "public.users".to_string())]
    );
    assert_eq!(
        (
            add["locks"][0]["blocks_reads"].as_bool(),
            add["locks"][0]["object_kind"].as_str()
        ),
        (Some(true), Some("table"))
    );
    let idx = &m2["statements"][1];
    assert!(
        locks(idx).contains(&("SHARE".into(), "public.users".into())),
        "{:?}",
        locks(idx)
    );
    let share = idx["locks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mode"] == "SHARE")
        .unwrap();
    assert_eq!(
        (
            share["blocks_reads"].as_bool(),
            share["blocks_writes"].as_bool()
        ),
        (Some(false), Some(true))
    );
    assert_eq!(
        change(m2, "column", "public.users.email").unwrap()["after"],
        "text"
    );
    assert_eq!(
        change(m2, "index", "public.users.users_email_idx").unwrap()["action"],
        "added"
    );
    assert_eq!(
        finding(m2, "access-exclusive-lock").unwrap()["statement_index"],
        0
    );
    assert_eq!(m2["verdict"], "risky");

    // the DROP COLUMN is assembled at run time inside a DO block: static analysis says unknown
    let m3 = migration(&j, "3_hidden_drop.sql");
    assert_eq!(m3["static_verdict"], "unknown");
    assert_eq!(m3["verdict"], "destructive");
    let f = finding(m3, "dropped-column").expect("the hidden drop is caught");
    assert_eq!(
        (
            f["found_by_execution"].as_bool(),
            f["object"].as_str(),
            f["statement_index"].as_u64(),
            f["line"].as_u64()
        ),
        (
            Some(true),
            Some("public.users.legacy_code"),
            Some(0),
            Some(2)
        )
    );
    assert_eq!(
        change(m3, "column", "public.users.legacy_code").unwrap()["action"],
        "dropped"
    );
    assert_eq!(m3["statements"][0]["verdict"], "destructive");

    let m4 = migration(&j, "4_shrink_total.sql");
    let alter = &m4["statements"][0];
    assert!(
        alter["rewrites"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["object"] == "public.orders" && w["object_kind"] == "table"),
        "{alter:#}"
    );
    let total = change(m4, "column", "public.orders.total").unwrap();
    assert_eq!(total["fields"][0]["field"], "type");
    assert_eq!(
        (
            total["fields"][0]["before"].as_str(),
            total["fields"][0]["after"].as_str()
        ),
        (Some("numeric(10,2)"), Some("numeric(10,0)"))
    );
    assert!(finding(m4, "lossy-type-change").is_some());
    assert!(finding(m4, "table-rewrite").is_some());

    // a drop the static classifier sees inside a DO block: execution confirms, not "found by"
    let m5 = migration(&j, "5_static_do.sql");
    assert_eq!(
        finding(m5, "dropped-column").unwrap()["found_by_execution"],
        false
    );
    assert_eq!(j["verdict"], "destructive");
    assert_eq!(j["summary"]["found_by_execution"], 1);

    let gated = dry_run(&[
        "fixtures/dry_run/pg_basic",
        "--fail-on",
        "destructive",
        "--quiet",
    ]);
    assert_eq!(gated.code, 1, "{}", gated.stdout);
    assert!(
        gated.stdout.contains("[found by execution]"),
        "{}",
        gated.stdout
    );
    assert!(
        gated
            .stdout
            .contains("lock ACCESS EXCLUSIVE on table public.users"),
        "{}",
        gated.stdout
    );
}

#[test]
fn postgres_failure_has_sqlstate_and_file_line_and_stops_the_history() {
    if !have("postgres") {
        return;
    }
    let bin = migsafe::engines::postgres::ephemeral::find_install(None, None).unwrap();
    let other = (bin.major - 1).to_string();
    let r = dry_run(&[
        "fixtures/dry_run/pg_failing",
        "--layout",
        "sqlx",
        "--format",
        "json",
        "--target-version",
        &other,
        "--pg-bin-dir",
        bin.bin_dir.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "a failing migration fails the dry-run");
    let j = json_of(&r);
    assert!(
        j["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .contains(&format!("--target-version is {other}"))),
        "a server version other than the target is flagged: {:#}",
        j["warnings"]
    );
    let m2 = migration(&j, "2_typo.sql");
    assert_eq!(m2["status"], "failed");
    let s = &m2["statements"][1];
    assert_eq!(s["status"], "failed");
    let e = &s["error"];
    assert_eq!(
        (e["sqlstate"].as_str(), e["line"].as_u64()),
        (Some("42703"), Some(2)),
        "{e:#}"
    );
    assert_eq!(e["column"], 21, "points at the misspelt column");
    assert!(
        e["file"]
            .as_str()
            .unwrap()
            .ends_with("pg_failing/2_typo.sql")
    );
    assert!(e["message"].as_str().unwrap().contains("emial"));
    assert_eq!(
        m2["statements"][0]["took_effect"], false,
        "rolled back with the file's transaction"
    );
    assert!(
        m2["schema_diff"].as_array().unwrap().is_empty(),
        "nothing of the failed file remains"
    );
    let m3 = migration(&j, "3_index.sql");
    assert_eq!(
        (
            m3["status"].as_str(),
            m3["statements"][0]["status"].as_str()
        ),
        (Some("skipped"), Some("not_run"))
    );
    assert_eq!(
        (
            j["summary"]["failed"].as_u64(),
            j["summary"]["skipped"].as_u64(),
            j["passed"].as_bool()
        ),
        (Some(1), Some(1), Some(false))
    );

    let human = dry_run(&["fixtures/dry_run/pg_failing", "--layout", "sqlx"]);
    assert_eq!(human.code, 1);
    assert!(
        human
            .stdout
            .contains("pg_failing/2_typo.sql:2:21: ERROR 42703"),
        "{}",
        human.stdout
    );
    let md = dry_run(&[
        "fixtures/dry_run/pg_failing",
        "--layout",
        "sqlx",
        "--format",
        "markdown",
    ]);
    assert!(
        md.stdout
            .contains("| `fixtures/dry_run/pg_failing/2_typo.sql` | failed |"),
        "{}",
        md.stdout
    );
}

// `pg_failing` and `pg_concurrently` are run as sqlx folders: sqlx wraps each file in a
// transaction (`-- no-transaction` opts out), which these tests are about; plain SQL files run
// statement by statement.
#[test]
fn postgres_follows_each_files_transaction_mode_for_concurrently() {
    if !have("postgres") {
        return;
    }
    // enough rows that the concurrent build runs long enough to be sampled
    let r = dry_run(&[
        "fixtures/dry_run/pg_concurrently",
        "--layout",
        "sqlx",
        "--seed-rows",
        "100000",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 1);
    let j = json_of(&r);
    let outside = migration(&j, "2_index_outside_tx.sql");
    assert_eq!(
        (outside["transaction"].as_bool(), outside["status"].as_str()),
        (Some(false), Some("applied"))
    );
    assert_eq!(
        change(outside, "index", "public.events.events_kind_idx").unwrap()["action"],
        "added"
    );
    let cic = &outside["statements"][0];
    assert_eq!(
        cic["locks_observed"], true,
        "sampled from a second session: {cic:#}"
    );
    assert_eq!(
        locks(cic),
        vec![(
            "SHARE UPDATE EXCLUSIVE".to_string(),
            "public.events".to_string()
        )],
        "CONCURRENTLY blocks neither reads nor writes"
    );
    let inside = migration(&j, "3_index_in_tx.sql");
    assert_eq!(
        inside["status"], "failed",
        "the migrator's transaction makes PostgreSQL refuse CONCURRENTLY"
    );
    assert_eq!(inside["statements"][0]["error"]["sqlstate"], "25001");
}

#[test]
fn check_down_reports_a_down_migration_that_does_not_restore_the_schema() {
    if !have("postgres") {
        return;
    }
    let r = dry_run(&[
        "fixtures/dry_run/pg_down",
        "--check-down",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let j = json_of(&r);
    let m1 = migration(&j, "1_create_users.up.sql");
    assert_eq!(m1["down_check"]["status"], "reversible");
    let m2 = migration(&j, "2_add_audit.up.sql");
    let d = &m2["down_check"];
    assert_eq!(d["status"], "irreversible");
    assert!(
        d["down_path"]
            .as_str()
            .unwrap()
            .ends_with("2_add_audit.down.sql")
    );
    let left: Vec<&str> = d["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(left.contains(&"public.audit_log"), "{left:?}");
    assert!(
        !left.iter().any(|n| n.contains("nickname")),
        "the column was restored: {left:?}"
    );
    assert_eq!(j["summary"]["irreversible"], 1);
    // without --check-down the same history passes
    assert_eq!(dry_run(&["fixtures/dry_run/pg_down", "--quiet"]).code, 0);
}

#[test]
fn mariadb_reports_which_statements_of_a_failed_file_took_effect() {
    if !have("mysql") {
        return;
    }
    let r = dry_run(&[
        "fixtures/dry_run/mysql_partial",
        "--dialect",
        "mysql",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = json_of(&r);
    assert!(j["server_version"].as_str().unwrap().contains("MariaDB"));
    assert!(
        j["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("DDL commits implicitly"))
    );
    let m = migration(&j, "2_partial.sql");
    assert_eq!(m["status"], "failed");
    let took: Vec<Value> = m["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["took_effect"].clone())
        .collect();
    assert_eq!(
        took,
        vec![
            Value::Bool(true),
            Value::Bool(true),
            Value::Bool(true),
            Value::Bool(false)
        ]
    );
    let e = &m["statements"][3]["error"];
    assert_eq!(
        (
            e["sqlstate"].as_str(),
            e["code"].as_u64(),
            e["line"].as_u64()
        ),
        (Some("42S21"), Some(1060), Some(4))
    );
    assert_eq!(
        change(m, "column", "items.price").unwrap()["action"],
        "added",
        "the partial change is in the diff"
    );
    assert_eq!(
        change(m, "column", "items.label").unwrap()["fields"][0]["after"],
        "varchar(10)"
    );
    assert!(
        m["statements"][2]["rewrites"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["object"] == "items"),
        "the MODIFY copied the table: {:#}",
        m["statements"][2]
    );
    assert!(finding(m, "lossy-type-change").is_some());
    assert!(
        m["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("already taken effect"))
    );
}

/// Outside a terminal (stderr is a pipe here) a dry-run says when it starts and how far it got,
/// so a killed run has said something; `--quiet` and machine formats stay silent.
#[test]
fn without_a_terminal_a_dry_run_prints_a_line_as_it_starts_and_ends() {
    let r = dry_run(&["fixtures/dry_run/sqlite_basic", "--dialect", "sqlite"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("migsafe: dry-run migrations: "))
        .collect();
    assert!(
        lines.first().is_some_and(|l| l.ends_with("to run…")),
        "{}",
        r.stderr
    );
    assert!(
        lines.last().is_some_and(|l| l.ends_with(" done")),
        "{}",
        r.stderr
    );
    for quiet in [
        vec![
            "fixtures/dry_run/sqlite_basic",
            "--dialect",
            "sqlite",
            "--quiet",
        ],
        vec![
            "fixtures/dry_run/sqlite_basic",
            "--dialect",
            "sqlite",
            "--format",
            "json",
        ],
    ] {
        let r = dry_run(&quiet);
        assert!(!r.stderr.contains("dry-run migrations"), "{}", r.stderr);
    }
}

#[test]
fn sqlite_reports_rebuilds_foreign_key_violations_and_errors() {
    let r = dry_run(&[
        "fixtures/dry_run/sqlite_basic",
        "--dialect",
        "sqlite",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = json_of(&r);
    assert_eq!(j["engine"], "sqlite");
    let m2 = migration(&j, "2_rebuild_child.sql");
    assert_eq!(
        change(m2, "column", "child.name").unwrap()["action"],
        "dropped"
    );
    assert!(
        change(m2, "table", "child").is_none(),
        "the rebuilt table is the same table"
    );
    assert_eq!(
        finding(m2, "dropped-column").unwrap()["statement_index"],
        2,
        "the rows went with DROP TABLE"
    );
    let m3 = migration(&j, "3_orphans.sql");
    assert_eq!(m3["foreign_key_violations"][0]["table"], "child");
    assert_eq!(
        finding(m3, "foreign-key-violation").unwrap()["found_by_execution"],
        true
    );
    let m4 = migration(&j, "4_missing_table.sql");
    assert_eq!(m4["status"], "failed");
    assert!(
        m4["statements"][1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no such table")
    );
    assert!(
        m4["foreign_key_violations"].is_null(),
        "violations of earlier files are not repeated"
    );
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A git repository holding the pg_basic history with the first `committed` files committed.
fn repo_with(committed: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mig = dir.path().join("migrations");
    std::fs::create_dir_all(&mig).unwrap();
    git(dir.path(), &["init", "-q"]);
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture("dry_run/pg_basic"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for (i, f) in files.iter().enumerate() {
        std::fs::copy(f, mig.join(f.file_name().unwrap())).unwrap();
        if i + 1 == committed {
            git(dir.path(), &["add", "."]);
            git(dir.path(), &["commit", "-qm", "base"]);
        }
    }
    dir
}

#[test]
fn since_applies_older_migrations_as_setup_and_templates_cache_them() {
    if !have("postgres") {
        return;
    }
    let repo = repo_with(2);
    let cache = tempfile::tempdir().unwrap();
    let run = || {
        dry_run_with(
            repo.path(),
            &["migrations", "--since", "HEAD", "--format", "json"],
            &[("MIGSAFE_CACHE_DIR", cache.path())],
        )
    };
    let first = run();
    assert_eq!(first.code, 0, "{}", first.stderr);
    let a = json_of(&first);
    let paths: Vec<&str> = a["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 3, "only the new files are reported: {paths:?}");
    assert!(paths[0].ends_with("3_hidden_drop.sql"));
    assert_eq!(
        (a["summary"]["setup"].as_u64(), a["summary"]["new"].as_u64()),
        (Some(2), Some(3))
    );
    // the setup files built the schema: the hidden drop finds its column
    assert_eq!(
        finding(migration(&a, "3_hidden_drop.sql"), "dropped-column").unwrap()["found_by_execution"],
        true
    );
    let t = &a["database"]["template"];
    assert_eq!(
        (
            t["hit"].as_bool(),
            t["saved"].as_bool(),
            t["migrations"].as_u64()
        ),
        (Some(false), Some(true), Some(2))
    );

    let second = run();
    let b = json_of(&second);
    let t2 = &b["database"]["template"];
    assert_eq!(
        (t2["hit"].as_bool(), t2["key"].as_str()),
        (Some(true), t["key"].as_str()),
        "the second run starts from the snapshot"
    );
    assert_eq!(b["summary"]["setup"], 2);
    assert_eq!(
        b["summary"]["setup_ms"].as_f64(),
        Some(0.0),
        "setup migrations are not re-applied"
    );
    let strip = |j: &Value| {
        j["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["verdict"].clone(),
                    m["schema_diff"].clone(),
                    m["findings"].as_array().unwrap().len(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&a), strip(&b), "same results from the template");

    // a changed setup history is a different template
    std::fs::write(
        repo.path().join("migrations/1_create_users.sql"),
        std::fs::read_to_string(fixture("dry_run/pg_basic/1_create_users.sql")).unwrap()
            + "\n-- touched\n",
    )
    .unwrap();
    git(repo.path(), &["commit", "-qam", "touch"]);
    let third = json_of(&run());
    assert_ne!(third["database"]["template"]["key"], t["key"]);
    assert_eq!(third["database"]["template"]["hit"], false);
}

async fn live_postgres() -> (EphemeralPostgres, String) {
    let pg = EphemeralPostgres::start(&Default::default()).await.unwrap();
    let url = format!(
        "postgresql:///postgres?host={}&user=postgres",
        pg.socket_dir().display()
    );
    let mut c = Conn::open(&url).await.unwrap();
    c.execute(&std::fs::read_to_string(fixture("dry_run/pg_basic/1_create_users.sql")).unwrap())
        .await
        .unwrap();
    c.execute(
        "CREATE TABLE _sqlx_migrations (version bigint PRIMARY KEY, description text NOT NULL, installed_on timestamptz NOT NULL DEFAULT now(), \
         success boolean NOT NULL, checksum bytea NOT NULL, execution_time bigint NOT NULL); \
         INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (1, 'create users', true, '\\x00', 1); \
         INSERT INTO users (id, name, legacy_code) VALUES (1, 'ada', 'x');",
    )
    .await
    .unwrap();
    c.close().await;
    (pg, url)
}

#[test]
fn schema_from_and_from_backup_start_from_the_live_schema_and_apply_only_pending() {
    if !have("postgres") {
        return;
    }
    let rt = rt();
    let (live, url) = rt.block_on(live_postgres());
    let r = dry_run(&[
        "fixtures/dry_run/pg_basic",
        "--layout",
        "sqlx",
        "--schema-from",
        &url,
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = json_of(&r);
    assert_eq!(
        (
            j["mode"].as_str(),
            j["summary"]["already_applied"].as_u64(),
            j["summary"]["applied"].as_u64()
        ),
        (Some("schema-from"), Some(1), Some(4))
    );
    assert!(
        !j["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["path"].as_str().unwrap().ends_with("1_create_users.sql"))
    );
    assert_eq!(
        finding(migration(&j, "3_hidden_drop.sql"), "dropped-column").unwrap()["object"],
        "public.users.legacy_code"
    );

    // --pending: the same history, read from DATABASE_URL, on a scratch start
    let pending = {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_migsafe"));
        cmd.args([
            "dry-run",
            "fixtures/dry_run/pg_basic",
            "--layout",
            "sqlx",
            "--pending",
            "--format",
            "json",
            "--no-cache",
        ])
        .current_dir(root())
        .env("DATABASE_URL", &url);
        cmd.output().unwrap()
    };
    let p: Value = serde_json::from_slice(&pending.stdout).unwrap();
    assert_eq!(
        (p["summary"]["setup"].as_u64(), p["summary"]["new"].as_u64()),
        (Some(1), Some(4)),
        "applied on the live database → setup"
    );

    // --from-backup with a pg_dump custom archive (schema and data)
    let dump = tempfile::tempdir().unwrap();
    let file = dump.path().join("live.dump");
    let install = live.install.clone();
    let st = Command::new(install.bin_dir.join("pg_dump"))
        .args(["-Fc", "-f"])
        .arg(&file)
        .arg("--dbname")
        .arg(live.url("postgres"))
        .status()
        .unwrap();
    assert!(st.success());
    let b = dry_run(&[
        "fixtures/dry_run/pg_basic",
        "--layout",
        "sqlx",
        "--from-backup",
        file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(b.code, 0, "{}", b.stderr);
    let bj = json_of(&b);
    assert_eq!(
        (
            bj["mode"].as_str(),
            bj["summary"]["already_applied"].as_u64()
        ),
        (Some("from-backup"), Some(1))
    );

    // a migsafe backup manifest names the dump and its sha256, which is checked first
    let bytes = std::fs::read(&file).unwrap();
    let sha: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let manifest = dump.path().join("live.dump.manifest.json");
    std::fs::write(&manifest, serde_json::json!({"schema_version": 1, "engine": "postgres", "file": "live.dump", "sha256": sha}).to_string()).unwrap();
    let m = dry_run(&[
        "fixtures/dry_run/pg_basic",
        "--layout",
        "sqlx",
        "--from-backup",
        manifest.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(m.code, 0, "{}", m.stderr);
    std::fs::write(&manifest, serde_json::json!({"schema_version": 1, "engine": "postgres", "file": "live.dump", "sha256": "00"}).to_string()).unwrap();
    let bad = dry_run(&[
        "fixtures/dry_run/pg_basic",
        "--layout",
        "sqlx",
        "--from-backup",
        manifest.to_str().unwrap(),
    ]);
    assert_eq!(bad.code, 2, "a damaged backup is not used: {}", bad.stdout);
    assert!(bad.stderr.contains("sha256 mismatch"), "{}", bad.stderr);

    // the live database is untouched
    rt.block_on(async {
        let mut c = Conn::open(&url).await.unwrap();
        let (_, rows) = c.query_text("SELECT count(*)::text FROM information_schema.columns WHERE table_name = 'users' AND column_name IN ('email', 'legacy_code')").await.unwrap();
        assert_eq!(rows[0][0].as_deref(), Some("1"), "only legacy_code, as before");
        c.close().await;
    });
    drop(live);
}

#[test]
fn seed_rows_give_pre_existing_tables_rows_that_respect_their_constraints() {
    if !have("postgres") {
        return;
    }
    let r = dry_run(&[
        "fixtures/dry_run/pg_seed",
        "--seed-rows",
        "250",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = json_of(&r);
    assert!(
        j["warnings"].as_array().unwrap().is_empty(),
        "every table seeded: {:#}",
        j["warnings"]
    );
    let seeded: Vec<(String, u64)> = j["seeded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["table"].as_str().unwrap().to_string(),
                s["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seeded,
        vec![
            ("public.users".to_string(), 250),
            ("public.orders".to_string(), 250)
        ],
        "parents before children (orders references users)"
    );
    let m = migration(&j, "2_backfill.sql");
    assert_eq!(
        m["statements"][0]["rows_affected"], 250,
        "the backfill touches the seeded rows"
    );
}

#[test]
fn scratch_url_runs_in_a_unique_database_that_is_dropped_and_sweeps_leftovers() {
    if !have("postgres") {
        return;
    }
    let rt = rt();
    let server = rt
        .block_on(EphemeralPostgres::start(&Default::default()))
        .unwrap();
    let url = format!(
        "postgresql://postgres@/postgres?host={}",
        server.socket_dir().display()
    );
    let sqlx_url = format!(
        "postgresql:///postgres?host={}&user=postgres",
        server.socket_dir().display()
    );
    // a leftover of a crashed run on this machine (its pid is gone)
    let stale = migsafe::dry_run::target::scratch_name(u32::MAX - 11, 1_700_000_000);
    rt.block_on(async {
        let mut c = Conn::open(&sqlx_url).await.unwrap();
        c.execute(&format!("CREATE DATABASE {stale}"))
            .await
            .unwrap();
        c.close().await;
    });
    let r = dry_run(&[
        "fixtures/dry_run/pg_failing",
        "--layout",
        "sqlx",
        "--scratch-url",
        &url,
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 1);
    let j = json_of(&r);
    assert_eq!(j["database"]["kind"], "scratch");
    assert_eq!(
        migration(&j, "2_typo.sql")["statements"][1]["error"]["sqlstate"],
        "42703"
    );
    assert!(
        j["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains(&stale)),
        "{:#}",
        j["warnings"]
    );
    rt.block_on(async {
        let mut c = Conn::open(&sqlx_url).await.unwrap();
        let (_, rows) = c
            .query_text(
                "SELECT datname::text FROM pg_database WHERE datname LIKE 'migsafe_scratch%'",
            )
            .await
            .unwrap();
        assert!(rows.is_empty(), "scratch databases dropped: {rows:?}");
        c.close().await;
    });
}

#[test]
fn kill_9_in_the_middle_of_a_dry_run_is_cleaned_up_by_the_next_run() {
    if !have("postgres") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("1_slow.sql"),
        "CREATE TABLE t (id int);\nSELECT pg_sleep(60);\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_migsafe"))
        .args(["dry-run", "--no-cache", "--quiet"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // wait until its server runs (the owner file names it)
    let deadline = Instant::now() + Duration::from_secs(60);
    let (ws, server) = loop {
        let found = std::fs::read_dir(process::workspace_root())
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .find_map(|e| {
                let o: Value = serde_json::from_str(
                    &std::fs::read_to_string(e.path().join("owner.json")).ok()?,
                )
                .ok()?;
                (o["migsafe_pid"].as_u64() == Some(u64::from(pid)))
                    .then_some((e.path(), o["server_pid"].as_u64()? as u32))
            });
        if let Some(f) = found {
            break f;
        }
        assert!(
            Instant::now() < deadline,
            "the dry-run never started its server"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(1500));
    process::send_signal(pid, libc::SIGKILL);
    child.wait().unwrap();
    assert!(
        process::alive(server, None),
        "the server outlives a SIGKILLed dry-run"
    );
    let next = dry_run(&[
        "fixtures/dry_run/pg_concurrently",
        "--layout",
        "sqlx",
        "--quiet",
    ]);
    assert_eq!(next.code, 1);
    assert!(!ws.exists(), "the next run removed the orphaned workspace");
    assert!(
        process::wait_gone(server, None, Duration::from_secs(10)),
        "the next run stopped the orphaned server"
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let r = migsafe(&["dry-run", "fixtures/dry_run/pg_basic", "--format", "sarif"]);
    assert_usage_error(&r, "--format sarif");
    let r = migsafe(&["dry-run", "fixtures/dry_run/pg_basic", "--pending"]);
    assert_usage_error(&r, "--pending needs the live database");
    let r = migsafe(&[
        "dry-run",
        "fixtures/dry_run/pg_basic",
        "--dialect",
        "postgres",
        "--schema-from",
        "mysql://root:secret@db/app",
    ]);
    assert_usage_error(&r, "mysql://root:****@db/app");
    assert!(
        !r.stderr.contains("secret"),
        "passwords never printed: {}",
        r.stderr
    );
    let r = migsafe(&["dry-run", "fixtures/dry_run/pg_basic", "--seed-rows", "0"]);
    assert_usage_error(&r, "--seed-rows");
    let r = migsafe(&[
        "dry-run",
        "fixtures/dry_run/pg_basic",
        "--from-backup",
        "/nonexistent/backup.dump",
    ]);
    assert_usage_error(&r, "no such file");
    let r = migsafe(&[
        "dry-run",
        "fixtures/dry_run/sqlite_basic",
        "--dialect",
        "sqlite",
        "--scratch-url",
        "sqlite:x.db",
    ]);
    assert_usage_error(&r, "--scratch-url");
    let r = migsafe(&["dry-run", "fixtures/dry_run/nope"]);
    assert_usage_error(&r, "no such file or folder");
    let r = migsafe(&[
        "dry-run",
        "fixtures/dry_run/pg_basic",
        "--pg-bin-dir",
        "/nonexistent",
    ]);
    assert_usage_error(&r, "--pg-bin-dir");
}

/// The field table of docs/dry-run.md: (path, always present).
fn documented_fields() -> Vec<(String, bool)> {
    let doc = std::fs::read_to_string(root().join("docs/dry-run.md")).unwrap();
    doc.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let path = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let presence = *cells.get(3)?;
            matches!(presence, "always" | "optional")
                .then(|| (path.to_string(), presence == "always"))
        })
        .collect()
}

#[test]
fn json_output_matches_the_field_table_in_docs_dry_run_md() {
    let doc = documented_fields();
    let names: std::collections::BTreeSet<String> = doc.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(names.len(), doc.len(), "a field is documented twice");
    let mut runs = vec![dry_run(&[
        "fixtures/dry_run/sqlite_basic",
        "--dialect",
        "sqlite",
        "--format",
        "json",
    ])];
    let pg = have("postgres");
    if pg {
        runs.push(dry_run(&["fixtures/dry_run/pg_basic", "--format", "json"]));
        runs.push(dry_run(&[
            "fixtures/dry_run/pg_failing",
            "--layout",
            "sqlx",
            "--format",
            "json",
        ]));
        runs.push(dry_run(&[
            "fixtures/dry_run/pg_down",
            "--check-down",
            "--format",
            "json",
        ]));
        runs.push(dry_run(&[
            "fixtures/dry_run/down_positions/postgres",
            "--check-down",
            "--format",
            "json",
        ]));
    }
    if have("mysql") {
        runs.push(dry_run(&[
            "fixtures/dry_run/mysql_vendor",
            "--dialect",
            "mysql",
            "--format",
            "json",
        ]));
    }
    let mut seen = std::collections::BTreeSet::new();
    for r in &runs {
        crate::support::key_paths(&json_of(r), "", &mut seen);
    }
    let undocumented: Vec<&String> = seen.iter().filter(|p| !names.contains(*p)).collect();
    assert!(
        undocumented.is_empty(),
        "fields missing from docs/dry-run.md: {undocumented:?}"
    );
    if pg {
        let missing: Vec<&String> = doc
            .iter()
            .filter(|(p, always)| *always && !seen.contains(p))
            .map(|(p, _)| p)
            .collect();
        assert!(
            missing.is_empty(),
            "documented as always present but not produced: {missing:?}"
        );
    }
}

#[test]
fn mariadb_schema_from_clones_the_live_schema_with_its_history() {
    if !have("mysql") {
        return;
    }
    let rt = rt();
    let live = rt
        .block_on(migsafe::engines::mysql::ephemeral::EphemeralMysql::start())
        .unwrap();
    rt.block_on(async {
        let mut c = Conn::Mysql(live.connect(None).await.unwrap());
        c.execute("CREATE DATABASE app").await.unwrap();
        c.close().await;
        let mut c = Conn::Mysql(live.connect(Some("app")).await.unwrap());
        c.execute(&std::fs::read_to_string(fixture("dry_run/mysql_partial/1_create.sql")).unwrap()).await.unwrap();
        c.execute("CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL); INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (1, 'create', true, x'00', 1); INSERT INTO items VALUES (7, 'live row')").await.unwrap();
        c.close().await;
    });
    let url = live.url("app");
    let r = dry_run(&[
        "fixtures/dry_run/mysql_partial",
        "--dialect",
        "mysql",
        "--layout",
        "sqlx",
        "--schema-from",
        &url,
        "--format",
        "json",
    ]);
    let j = json_of(&r);
    assert_eq!(
        (j["mode"].as_str(), j["summary"]["already_applied"].as_u64()),
        (Some("schema-from"), Some(1)),
        "{}",
        r.stderr
    );
    let m = migration(&j, "2_partial.sql");
    assert_eq!(
        m["statements"][0]["status"], "ok",
        "the cloned items table took the ALTER"
    );
    assert_eq!(
        m["statements"][1]["error"],
        Value::Null,
        "schema only: the live row (id 7) is not there, and id 1 is free"
    );
    rt.block_on(async {
        let mut c = Conn::Mysql(live.connect(Some("app")).await.unwrap());
        let (_, rows) = c.query_text("SELECT CAST(count(*) AS CHAR) FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'items'").await.unwrap();
        assert_eq!(rows[0][0].as_deref(), Some("2"), "the live database is untouched");
        c.close().await;
    });
}

/// `--check-down` on the Lemmy pattern (fixtures/dry_run/down_positions/README.md): a column
/// down adds back, a column up adds and down drops, an alias view over `SELECT *` re-created
/// around them, a rename and its inverse. By name every down restores the schema: each
/// migration is reversible, the run passes, and the re-added column's new place is a note.
fn check_down_round_trip_by_name(engine: &str, view_lists_columns: bool) {
    let dir = format!("fixtures/dry_run/down_positions/{engine}");
    let r = dry_run(&[
        &dir,
        "--dialect",
        engine,
        "--check-down",
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = json_of(&r);
    assert_eq!(j["summary"]["applied"], 4, "{}", r.stderr);
    assert_eq!(j["summary"]["irreversible"], 0);
    for m in j["migrations"].as_array().unwrap() {
        let d = &m["down_check"];
        assert_eq!(d["status"], "reversible", "{}: {d:#}", m["path"]);
        assert_eq!(d["differences"], Value::Array(vec![]), "{}", m["path"]);
        assert_eq!(
            d["reapply_differences"],
            Value::Array(vec![]),
            "{}",
            m["path"]
        );
    }
    let table = if engine == "postgres" {
        "public.member"
    } else {
        "member"
    };
    let moved = &migration(&j, "remove_show_scores/up.sql")["down_check"]["moved_columns"];
    let mut want =
        vec![serde_json::json!({"table": table, "column": "show_scores", "before": 3, "after": 4})];
    if view_lists_columns {
        want.push(serde_json::json!({"table": format!("{table}_alias"), "column": "show_scores", "before": 3, "after": 4}));
    }
    assert_eq!(moved, &Value::Array(want));
    for quiet in ["add_last_seen/up.sql", "rename_bio/up.sql"] {
        let d = &migration(&j, quiet)["down_check"];
        assert!(d["moved_columns"].is_null(), "{quiet}: {d:#}");
        assert!(d["reapply_moved_columns"].is_null(), "{quiet}: {d:#}");
    }
    let human = dry_run(&[&dir, "--dialect", engine, "--check-down"]);
    assert_eq!(human.code, 0);
    assert!(
        human.stdout.contains(&format!(
            "note: down put back {table}.show_scores as column 4 (was 3)"
        )),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("0 irreversible"), "{}", human.stdout);
}

#[test]
fn check_down_postgres_a_column_re_added_by_down_is_reversible_and_its_move_a_note() {
    if !have("postgres") {
        return;
    }
    // PostgreSQL gives re-added columns new attnums, and pg_get_viewdef spells out `*`
    check_down_round_trip_by_name("postgres", true);
}

#[test]
fn check_down_mariadb_a_column_re_added_by_down_is_reversible_and_its_move_a_note() {
    if !have("mysql") {
        return;
    }
    // MariaDB stores a view's `*` expanded too
    check_down_round_trip_by_name("mysql", true);
}

#[test]
fn check_down_sqlite_a_column_re_added_by_down_is_reversible_and_its_move_a_note() {
    // SQLite keeps the view's text as written (`SELECT *`)
    check_down_round_trip_by_name("sqlite", false);
}

/// MySQL migrations on the MariaDB server installed here: the report names both, lists the
/// known differences that apply to the run's statements (and only those, with their places),
/// and `--require-server mysql` refuses the server before anything runs.
#[test]
fn mysql_migrations_on_mariadb_name_the_mismatch_and_require_server_refuses_it() {
    if !have("mysql") {
        return;
    }
    let dir = "fixtures/dry_run/mysql_vendor";
    let base = ["--dialect", "mysql", "--target-version", "8.0"];
    let r = dry_run(&[&[dir], &base[..], &["--format", "json"]].concat());
    assert_eq!(
        r.code, 0,
        "a mismatch is reported, not a failure: {}",
        r.stderr
    );
    let j = json_of(&r);
    let version = j["server_version"].as_str().unwrap();
    assert!(version.contains("MariaDB"), "{version}");
    let release: Vec<&str> = version.split(['.', '-']).take(2).collect();
    assert_eq!(j["server"], format!("MariaDB {}", release.join(".")));
    assert_eq!(j["target"], "mysql 8.0");
    let m = &j["server_mismatch"];
    assert_eq!(
        (m["server_vendor"].as_str(), m["target_vendor"].as_str()),
        (Some("mariadb"), Some("mysql"))
    );
    let diffs = m["differences"].as_array().unwrap();
    let topics: Vec<&str> = diffs.iter().map(|d| d["topic"].as_str().unwrap()).collect();
    assert_eq!(
        topics,
        [
            "inline-references",
            "json-type",
            "check-constraints",
            "instant-add-column",
            "if-exists-clauses"
        ],
        "only what the run's statements use"
    );
    let places = |topic: &str| -> Vec<String> {
        diffs.iter().find(|d| d["topic"] == topic).unwrap()["statements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}:{}",
                    s["path"].as_str().unwrap().rsplit('/').next().unwrap(),
                    s["line"]
                )
            })
            .collect()
    };
    assert_eq!(places("inline-references"), ["1_create.sql:8"]);
    assert_eq!(places("if-exists-clauses"), ["2_columns.sql:2"]);
    assert_eq!(
        places("instant-add-column"),
        ["2_columns.sql:2", "2_columns.sql:4"]
    );
    for d in diffs {
        assert!(
            !d["statements"].to_string().contains("3_index.sql"),
            "{d:#}"
        );
        assert!(
            d["references"].as_array().unwrap().len() == 2,
            "both vendors' documentation: {d:#}"
        );
    }
    let inline = diffs[0]["message"].as_str().unwrap();
    assert!(
        inline.contains("the target (MySQL 8.0) does not"),
        "{inline}"
    );
    // why it matters: the dry-run schema has a foreign key MySQL 8.0 would not create
    let created = migration(&j, "1_create.sql")["schema_diff"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| {
            c["object"] == "constraint"
                && c["after"]
                    .as_str()
                    .is_some_and(|a| a.contains("FOREIGN KEY (author_id)"))
        });
    assert!(
        created,
        "{:#}",
        migration(&j, "1_create.sql")["schema_diff"]
    );
    // the version warning meant for one vendor's releases is not repeated
    assert!(
        !j["warnings"].to_string().contains("--target-version"),
        "{}",
        j["warnings"]
    );

    let human = dry_run(&[&[dir], &base[..]].concat());
    assert_eq!(human.code, 0);
    assert!(
        human.stdout.contains(&format!(
            "server mismatch: the migrations target mysql 8.0 but the dry-run server is {}: 5 known difference(s)",
            j["server"].as_str().unwrap()
        )),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("    if-exists-clauses  "),
        "{}",
        human.stdout
    );
    let md = dry_run(&[&[dir], &base[..], &["--format", "markdown"]].concat());
    assert!(md.stdout.contains("**server mismatch**"), "{}", md.stdout);
    assert!(md.stdout.contains("`inline-references`"), "{}", md.stdout);

    // MariaDB migrations on MariaDB: nothing to say
    let same = json_of(&dry_run(&[dir, "--dialect", "mariadb", "--format", "json"]));
    assert_eq!(same["target"], "mariadb");
    assert!(
        same["server_mismatch"].is_null(),
        "{}",
        same["server_mismatch"]
    );

    // --require-server mysql refuses this server before running anything
    let refused = dry_run(&[&[dir], &base[..], &["--require-server", "mysql"]].concat());
    assert_usage_error_dry(
        &refused,
        "--require-server mysql: the dry-run server is MariaDB",
    );
    assert!(
        !refused.stderr.contains("CREATE TABLE"),
        "{}",
        refused.stderr
    );
    let accepted = dry_run(&[dir, "--require-server", "mariadb", "--quiet"]);
    assert_eq!(accepted.code, 0, "{}", accepted.stderr);
    assert!(
        accepted.stdout.contains("target mariadb"),
        "{}",
        accepted.stdout
    );
    // contradictions and other engines are usage errors
    assert_usage_error_dry(
        &dry_run(&[dir, "--dialect", "mariadb", "--require-server", "mysql"]),
        "declared as MariaDB",
    );
    assert_usage_error_dry(
        &dry_run(&[dir, "--dialect", "mysql", "--target-version", "10.11"]),
        "a MariaDB release",
    );
    assert_usage_error_dry(
        &dry_run(&["fixtures/dry_run/pg_basic", "--require-server", "mysql"]),
        "applies to MySQL and MariaDB",
    );
}

fn assert_usage_error_dry(r: &DryRun, needle: &str) {
    assert_eq!(r.code, 2, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr.contains(needle),
        "stderr lacks {needle:?}: {}",
        r.stderr
    );
}

/// A 120-migration history whose findings alone are far over GitHub's comment limit: the
/// Markdown comment stays under it, says what it left out, and its header shows the destructive
/// verdict's icon, never a check mark, although the run passes (`--fail-on never`).
#[test]
fn markdown_of_a_long_run_stays_under_githubs_limit_with_an_honest_header() {
    let dir = tempfile::tempdir().unwrap();
    for i in 1..=120 {
        let mut sql = format!(
            "CREATE TABLE t{i} (id integer PRIMARY KEY, a text, b text, c text, d text, e text);\nCREATE TABLE u{i} (id integer PRIMARY KEY);\n"
        );
        if i > 1 {
            let p = i - 1;
            sql.push_str(&format!(
                "ALTER TABLE t{p} DROP COLUMN a;\nALTER TABLE t{p} DROP COLUMN b;\nALTER TABLE t{p} DROP COLUMN e;\nALTER TABLE t{p} RENAME COLUMN c TO c2;\nDROP TABLE u{p};\nUPDATE t{p} SET d = 'x';\n"
            ));
        }
        write_file(dir.path(), &format!("m/{i:04}_step.sql"), &sql);
    }
    let args = ["m", "--dialect", "sqlite", "--format"];
    let j = json_of(&dry_run_with(
        dir.path(),
        &[&args[..], &["json"]].concat(),
        &[],
    ));
    assert_eq!(j["summary"]["applied"], 120);
    let messages: usize = j["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| {
            m["findings"]
                .as_array()
                .unwrap()
                .iter()
                .chain(m["static_findings"].as_array().unwrap())
        })
        .map(|f| f["message"].as_str().unwrap().len())
        .sum();
    assert!(
        messages > 65_536,
        "the findings alone must not fit: {messages}"
    );

    let r = dry_run_with(dir.path(), &[&args[..], &["markdown"]].concat(), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let md = &r.stdout;
    assert!(
        md.chars().count() <= 65_536,
        "{} characters",
        md.chars().count()
    );
    assert!(md.len() <= 60_000, "{} bytes", md.len());
    let mut lines = md.lines();
    assert_eq!(lines.next(), Some("<!-- migsafe:dry-run -->"));
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("### 🔴 migsafe dry-run: **destructive** · passed"),
        "{header}"
    );
    assert!(
        !md.contains('✅'),
        "no check mark anywhere above a destructive run"
    );
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count()
    );
    let last = md.trim_end().lines().last().unwrap();
    assert!(
        last.contains("not shown")
            && last.contains("65536 character limit")
            && last.contains("see the job log"),
        "{last}"
    );
    // what was left out is counted
    let counted: usize = last
        .trim_start_matches('_')
        .split(", ")
        .filter_map(|part| part.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    assert!(counted > 0, "{last}");
    assert!(md.contains("#### Needs attention"));

    // a failing run: a cross and the reason, never a check mark
    let failed = dry_run(&[
        "fixtures/dry_run/sqlite_basic",
        "--dialect",
        "sqlite",
        "--format",
        "markdown",
    ]);
    assert_eq!(failed.code, 1);
    let header = failed.stdout.lines().nth(1).unwrap();
    assert!(
        header.contains("· ❌ **failed**: a migration failed"),
        "{header}"
    );
    assert!(!failed.stdout.contains('✅'));
}
