//! The restore and backup defects a DBA trial found, each reproduced on real servers: a crash
//! that left the live database refusing connections, a MariaDB load killed halfway, a backup of
//! one database restored over another, writes lost without being counted, an in-place restore
//! that waited forever for a lock, database settings dropped by the swap, signals without a
//! terminal, two backups in one second, LATEST naming a broken backup, and kept copies piling up.

use crate::backup::{PG_CHANGE, names, ok_json, pg_conn, pg_exec, pg_setup, run, run_with};
use crate::engines::rt;
use crate::support::{Run, have};
use migsafe::engines::conn::Conn;
use migsafe::engines::mysql::ephemeral::EphemeralMysql;
use migsafe::engines::postgres::ephemeral::{EphemeralPostgres, PgOptions};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts migsafe in `work` without a terminal (stdin closed, output captured).
fn spawn_in(work: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_migsafe"))
        .args(args)
        .current_dir(work)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The text of every journal of the run in `work`.
fn journals(work: &Path) -> String {
    let dir = work.join(".migsafe/journal");
    let mut all = String::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
    }
    all
}

/// Waits until a journal in `work` has started `step` (and not finished it).
fn wait_for_step(work: &Path, step: &str, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let started = format!("\"event\":\"step\",\"step\":\"{step}\"");
    loop {
        if journals(work).contains(&started) {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("migsafe ended ({st}) before step {step}");
        }
        assert!(Instant::now() < deadline, "step {step} never started");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn finish(child: std::process::Child) -> Run {
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn scalar(c: &mut Conn, sql: &str) -> String {
    let (_, r) = c
        .query_text(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    r.first()
        .and_then(|r| r.first().cloned().flatten())
        .unwrap_or_default()
}

#[test]
fn a_restore_killed_during_the_drain_is_named_by_every_command_and_ended_by_recover() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_setup(&server, "shop").await;
        let url = server.url("shop");
        ok_json(&run(
            w,
            &[
                "backup",
                "create",
                "--database-url",
                &url,
                "--dir",
                "backups",
                "--output",
                "json",
            ],
        ));
        pg_exec(&server, "shop", PG_CHANGE).await;
        let r = run_with(
            w,
            &[
                "restore",
                "latest",
                "--database-url",
                &url,
                "--dir",
                "backups",
                "--yes",
                "--drain",
                "1s",
            ],
            |c| {
                c.env("MIGSAFE_CRASH_AT", "drain:before");
            },
        );
        assert_eq!(r.code, -1, "killed: {}", r.stderr);
        // the live database refuses connections: every later command says why and what to run
        let op = journals(w)
            .lines()
            .next()
            .and_then(|l| serde_json::from_str::<Value>(l).ok())
            .and_then(|v| v["op"].as_str().map(str::to_string))
            .unwrap();
        let b = run(
            w,
            &["backup", "create", "--database-url", &url, "--dir", "other"],
        );
        assert_eq!(b.code, 2);
        assert!(
            b.stderr
                .contains(&format!("migsafe recover --operation {op}")),
            "{}",
            b.stderr
        );
        let i = run(
            w,
            &[
                "integrity-check",
                "--database-url",
                &url,
                "--level",
                "catalog",
            ],
        );
        assert!(
            i.stderr
                .contains("an unfinished restore-swap of database shop"),
            "{}",
            i.stderr
        );
        // from another machine (no journal here) the marker on the server still tells
        let elsewhere = tempfile::tempdir().unwrap();
        let e = run(
            elsewhere.path(),
            &[
                "integrity-check",
                "--database-url",
                &server.url("postgres"),
                "--level",
                "catalog",
            ],
        );
        assert!(
            e.stderr.contains(&op) && e.stderr.contains("started"),
            "{}",
            e.stderr
        );
        let c = run(
            w,
            &[
                "restore",
                "latest",
                "--database-url",
                &url,
                "--dir",
                "backups",
                "--check",
                "--output",
                "json",
            ],
        );
        let v: Value = serde_json::from_str(&c.stdout).unwrap();
        assert_eq!(v["status"], "refused", "{}", c.stdout);
        assert!(
            v["preflight"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "unfinished" && p["ok"] == false)
        );
        let rec = run(w, &["recover", "--database-url", &url]);
        assert_eq!(rec.code, 0, "{}\n{}", rec.stdout, rec.stderr);
        assert!(
            rec.stdout.contains("accepts connections again")
                && rec.stdout.contains("dropped the partial copy"),
            "{}",
            rec.stdout
        );
        let mut a = pg_conn(&server, "postgres").await;
        assert_eq!(
            scalar(
                &mut a,
                "SELECT datallowconn::text FROM pg_database WHERE datname = 'shop'"
            )
            .await,
            "true"
        );
        assert_eq!(
            scalar(
                &mut a,
                "SELECT count(*)::text FROM pg_database WHERE datname LIKE 'shop\\_restore%'"
            )
            .await,
            "0"
        );
        a.close().await;
        let again = run(
            w,
            &["backup", "create", "--database-url", &url, "--dir", "other"],
        );
        assert_eq!(again.code, 0, "{}", again.stderr);
        assert!(!again.stderr.contains("unfinished"), "{}", again.stderr);
    });
}

#[test]
fn a_mariadb_load_killed_halfway_is_noticed_and_reloaded_and_leaves_no_password_on_disk() {
    if !have("mysql") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = EphemeralMysql::start().await.unwrap();
        let mut a = Conn::Mysql(server.connect(None).await.unwrap());
        a.execute("CREATE DATABASE shop").await.unwrap();
        a.close().await;
        let url = server.url("shop");
        let mut c = Conn::open(&url).await.unwrap();
        c.execute(crate::crash::MY_SCHEMA).await.unwrap();
        c.execute("CREATE TABLE big (id int PRIMARY KEY, pad varchar(200)); INSERT INTO big SELECT seq, REPEAT('x', 150) FROM seq_1_to_400000").await.unwrap();
        c.close().await;
        ok_json(&run(w, &["backup", "create", "--database-url", &url, "--dir", "backups", "--output", "json"]));
        let mut c = Conn::open(&url).await.unwrap();
        c.execute("DELETE FROM big WHERE id > 300000; DROP TRIGGER orders_bi").await.unwrap();
        c.close().await;
        let mut child = spawn_in(w, &["restore", "latest", "--database-url", &url, "--dir", "backups", "--yes", "--drain", "1s", "--no-safety-backup"]);
        wait_for_step(w, "load", &mut child);
        // kill -9 while the client loads (the dump locks each table while it fills it, so the
        // load is timed, not watched: the rehearsal showed it takes seconds)
        tokio::time::sleep(Duration::from_millis(400)).await;
        migsafe::sys::proc::send_signal(child.id(), libc::SIGKILL);
        let _ = child.wait();
        // the client died with migsafe: the database stays half loaded
        let mut probe = Conn::open(&url).await.unwrap();
        let count = "SELECT CAST(count(*) AS CHAR) FROM information_schema.tables t LEFT JOIN information_schema.triggers g ON g.trigger_schema = t.table_schema WHERE t.table_schema = 'shop'";
        let n1 = scalar(&mut probe, count).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let n2 = scalar(&mut probe, count).await;
        assert_eq!(n1, n2, "nothing loads on after migsafe was killed");
        let big = probe.query_text("SELECT CAST(count(*) AS CHAR) FROM big").await;
        let complete = big.is_ok_and(|(_, r)| r[0][0].as_deref() == Some("400000"));
        let trigger = scalar(&mut probe, "SELECT CAST(count(*) AS CHAR) FROM information_schema.triggers WHERE trigger_schema = 'shop'").await;
        assert!(!complete || trigger != "1", "the load had already finished: nothing to recover");
        probe.close().await;
        let leftovers: Vec<String> = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("migsafe-cred-"))
            .collect();
        assert!(leftovers.is_empty(), "an option file with the password stayed: {leftovers:?}");
        // the next restore --check notices
        let chk = run(w, &["restore", "latest", "--database-url", &url, "--dir", "backups", "--check", "--output", "json"]);
        let v: Value = serde_json::from_str(&chk.stdout).unwrap();
        assert_eq!(v["status"], "refused", "{}", chk.stdout);
        // recover reloads the backup
        let rec = run(w, &["recover", "--database-url", &url, "--output", "json"]);
        let r = ok_json(&rec);
        assert_eq!(r["operations"][0]["action"], "resume", "{}", rec.stdout);
        let mut c = Conn::open(&url).await.unwrap();
        assert_eq!(scalar(&mut c, "SELECT CAST(count(*) AS CHAR) FROM big").await, "400000");
        assert_eq!(scalar(&mut c, "SELECT CAST(count(*) AS CHAR) FROM information_schema.triggers WHERE trigger_schema = 'shop'").await, "1");
        c.close().await;
    });
}

#[test]
fn a_backup_of_one_database_is_not_restored_over_another_unless_asked() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_setup(&server, "shop").await;
        pg_exec(&server, "postgres", "CREATE DATABASE billing").await;
        pg_exec(
            &server,
            "billing",
            "CREATE TABLE invoices (id int PRIMARY KEY); INSERT INTO invoices VALUES (1), (2)",
        )
        .await;
        let b = ok_json(&run(
            w,
            &[
                "backup",
                "create",
                "--database-url",
                &server.url("shop"),
                "--dir",
                "backups",
                "--output",
                "json",
            ],
        ));
        let file = b["file"].as_str().unwrap();
        let r = run(
            w,
            &[
                "restore",
                file,
                "--database-url",
                &server.url("billing"),
                "--yes",
                "--output",
                "json",
            ],
        );
        assert_eq!(r.code, 1, "{}", r.stdout);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["status"], "refused");
        let check = v["preflight"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "database")
            .unwrap()
            .clone();
        assert!(
            check["details"]
                .as_str()
                .unwrap()
                .contains("--into-other-database"),
            "{check}"
        );
        let mut c = pg_conn(&server, "billing").await;
        assert_eq!(
            scalar(&mut c, "SELECT count(*)::text FROM invoices").await,
            "2",
            "billing untouched"
        );
        c.close().await;
        let r = run(
            w,
            &[
                "restore",
                file,
                "--database-url",
                &server.url("billing"),
                "--yes",
                "--into-other-database",
                "--drain",
                "1s",
                "--output",
                "json",
            ],
        );
        assert_eq!(ok_json(&r)["status"], "restored", "{}", r.stdout);
    });
}

#[test]
fn writes_during_a_swap_restore_are_stopped_before_the_final_count_and_all_counted() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path().to_path_buf();
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_setup(&server, "shop").await;
        let url = server.url("shop");
        ok_json(&run(
            &w,
            &[
                "backup",
                "create",
                "--database-url",
                &url,
                "--dir",
                "backups",
                "--output",
                "json",
            ],
        ));
        // a writer: one committed insert at a time until the restore ends its session
        let writer = {
            let url = url.clone();
            tokio::spawn(async move {
                let mut c = Conn::open(&url).await.unwrap();
                let mut committed = 0u64;
                while c
                    .execute(&format!(
                        "INSERT INTO users (email) VALUES ('w{committed}@x')"
                    ))
                    .await
                    .is_ok()
                {
                    committed += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                committed
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let w2 = w.clone();
        let u2 = url.clone();
        let restore = tokio::task::spawn_blocking(move || {
            run(
                &w2,
                &[
                    "restore",
                    "latest",
                    "--database-url",
                    &u2,
                    "--dir",
                    "backups",
                    "--yes",
                    "--drain",
                    "2s",
                    "--output",
                    "json",
                ],
            )
        })
        .await
        .unwrap();
        let lost = writer.await.unwrap();
        let v = ok_json(&restore);
        assert_eq!(v["status"], "restored", "{}", restore.stdout);
        let counted = v["changes"]["rows"].as_u64().unwrap();
        assert!(lost > 0);
        assert!(
            counted >= lost,
            "the report says {counted} changes, {lost} committed writes were discarded: {}",
            restore.stdout
        );
        assert!(
            v["changes"]["note"].as_str().unwrap().contains("drained"),
            "{}",
            restore.stdout
        );
    });
}

#[test]
fn an_in_place_restore_gives_up_on_a_lock_after_lock_timeout() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = EphemeralPostgres::start(&PgOptions {
            settings: vec![("max_prepared_transactions".into(), "4".into())],
            ..Default::default()
        })
        .await
        .unwrap();
        pg_setup(&server, "shop").await;
        let url = server.url("shop");
        ok_json(&run(
            w,
            &[
                "backup",
                "create",
                "--database-url",
                &url,
                "--dir",
                "backups",
                "--output",
                "json",
            ],
        ));
        // a prepared transaction holds a lock on orders: no drain can end it
        pg_exec(
            &server,
            "shop",
            "BEGIN; UPDATE orders SET note = 'held' WHERE id = 1; PREPARE TRANSACTION 'held'",
        )
        .await;
        let began = Instant::now();
        let mut child = spawn_in(
            w,
            &[
                "restore",
                "latest",
                "--database-url",
                &url,
                "--dir",
                "backups",
                "--yes",
                "--strategy",
                "in-place",
                "--no-safety-backup",
                "--drain",
                "1s",
                "--lock-timeout",
                "2s",
                "--output",
                "json",
            ],
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the in-place restore still waits for the lock after 60s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = finish(child);
        assert!(
            began.elapsed() < Duration::from_secs(40),
            "{:?}",
            began.elapsed()
        );
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["status"], "failed");
        assert!(
            v["message"].as_str().unwrap().contains("--lock-timeout 2s")
                && v["live_untouched"] == true,
            "{}",
            r.stdout
        );
        let mut c = pg_conn(&server, "shop").await;
        assert_eq!(
            scalar(&mut c, "SHOW default_transaction_read_only").await,
            "off",
            "writes are allowed again"
        );
        c.execute("ROLLBACK PREPARED 'held'").await.unwrap();
        c.close().await;
        assert!(migsafe::journal::unfinished(&w.join(".migsafe/journal")).is_empty());
    });
}

#[test]
fn the_swap_carries_database_settings_limits_grants_comments_and_role_settings() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_setup(&server, "shop").await;
        let url = server.url("shop");
        ok_json(&run(w, &["backup", "create", "--database-url", &url, "--dir", "backups", "--output", "json"]));
        pg_exec(&server, "postgres", "CREATE ROLE reader LOGIN; ALTER DATABASE shop SET default_transaction_read_only = on; ALTER DATABASE shop CONNECTION LIMIT 50; GRANT CONNECT ON DATABASE shop TO reader; COMMENT ON DATABASE shop IS 'the shop'; ALTER ROLE reader IN DATABASE shop SET work_mem = '16MB'; ALTER DATABASE shop SET search_path = public, extra").await;
        let r = run(w, &["restore", "latest", "--database-url", &url, "--dir", "backups", "--yes", "--drain", "1s", "--output", "json"]);
        let v = ok_json(&r);
        assert_eq!(v["status"], "restored", "{}", r.stdout);
        assert_eq!(v["not_carried_over"].as_array().unwrap().len(), 0, "{}", r.stdout);
        let mut a = pg_conn(&server, "postgres").await;
        assert_eq!(scalar(&mut a, "SELECT datconnlimit::text FROM pg_database WHERE datname = 'shop'").await, "50");
        assert!(scalar(&mut a, "SELECT datacl::text FROM pg_database WHERE datname = 'shop'").await.contains("reader=c"));
        assert_eq!(scalar(&mut a, "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'shop'").await, "the shop");
        let settings = scalar(&mut a, "SELECT string_agg(c, ' ' ORDER BY c) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) c WHERE d.datname = 'shop'").await;
        for want in ["default_transaction_read_only=on", "work_mem=16MB", "search_path=public, extra"] {
            assert!(settings.contains(want), "{want} not carried over: {settings}");
        }
        assert!(!settings.contains("migsafe"), "{settings}");
        a.close().await;
    });
}

fn journal_outcome(work: &Path) -> String {
    journals(work)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "end")
        .map(|v| v["outcome"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[test]
fn sigterm_and_sigint_without_a_terminal_undo_the_restore_and_say_so() {
    if !have("postgres") {
        return;
    }
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_setup(&server, "shop").await;
        pg_exec(&server, "shop", "CREATE TABLE big AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 300000) g").await;
        let url = server.url("shop");
        for (sig, strategy, step) in [(libc::SIGTERM, "swap", "load-copy"), (libc::SIGHUP, "swap", "create-copy"), (libc::SIGINT, "in-place", "load")] {
            let work = tempfile::tempdir().unwrap();
            let w = work.path();
            ok_json(&run(w, &["backup", "create", "--database-url", &url, "--dir", "backups", "--output", "json"]));
            pg_exec(&server, "shop", "DELETE FROM big WHERE id > 299000").await;
            let mut child = spawn_in(w, &["restore", "latest", "--database-url", &url, "--dir", "backups", "--yes", "--drain", "1s", "--no-safety-backup", "--strategy", strategy, "--output", "json"]);
            wait_for_step(w, step, &mut child);
            migsafe::sys::proc::send_signal(child.id(), sig);
            let r = finish(child);
            assert_eq!(r.code, 128 + sig, "{sig}: {}\n{}", r.stdout, r.stderr);
            assert!(r.stderr.contains("migsafe: interrupted by SIG") && r.stderr.contains("undone"), "{sig}: {}", r.stderr);
            assert_eq!(journal_outcome(w), "aborted", "{}", journals(w));
            let mut a = pg_conn(&server, "postgres").await;
            assert_eq!(scalar(&mut a, "SELECT count(*)::text FROM pg_database WHERE datname LIKE 'shop\\_restore%'").await, "0", "{sig}");
            a.close().await;
            let mut c = pg_conn(&server, "shop").await;
            assert_eq!(scalar(&mut c, "SELECT count(*)::text FROM big").await, "299000", "{sig}: the data from before the restore");
            assert_eq!(scalar(&mut c, "SHOW default_transaction_read_only").await, "off");
            c.close().await;
            pg_exec(&server, "shop", "INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(299001, 300000) g").await;
        }
    });
}

#[test]
fn a_file_size_limit_fails_the_backup_with_a_message_and_leaves_nothing() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_setup(&server, "shop").await;
        pg_exec(&server, "shop", "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS pad FROM generate_series(1, 20000) g").await;
        let url = server.url("shop");
        let r = run_with(w, &["backup", "create", "--database-url", &url, "--dir", "backups"], |c| {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe and changes only the child.
            unsafe {
                c.pre_exec(|| {
                    let lim = libc::rlimit { rlim_cur: 64 * 1024, rlim_max: 64 * 1024 };
                    libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
                    Ok(())
                });
            }
        });
        assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("File too large"), "{}", r.stderr);
        assert!(names(&w.join("backups")).is_empty(), "{:?}", names(&w.join("backups")));
    });
}

#[test]
fn two_backups_started_in_the_same_second_both_succeed() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_setup(&server, "shop").await;
        let url = server.url("shop");
        for _round in 0..3 {
            let spawn = || {
                spawn_in(
                    w,
                    &[
                        "backup",
                        "create",
                        "--database-url",
                        &url,
                        "--dir",
                        "backups",
                        "--output",
                        "json",
                    ],
                )
            };
            let (a, b) = (spawn(), spawn());
            let (a, b) = (finish(a), finish(b));
            assert_eq!((a.code, b.code), (0, 0), "{}\n{}", a.stderr, b.stderr);
            let fa = ok_json(&a)["file"].as_str().unwrap().to_string();
            let fb = ok_json(&b)["file"].as_str().unwrap().to_string();
            assert_ne!(fa, fb);
        }
        let files: Vec<String> = names(&w.join("backups"))
            .into_iter()
            .filter(|n| n.ends_with(".dump"))
            .collect();
        assert_eq!(files.len(), 6, "{files:?}");
    });
}

#[test]
fn latest_never_names_a_backup_whose_manifest_was_swapped() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let db = w.join("app.db");
    rt().block_on(async {
        let mut c = Conn::open(&format!("sqlite://{}?mode=rwc", db.display()))
            .await
            .unwrap();
        c.execute("CREATE TABLE t (a int); INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        c.close().await;
    });
    let url = format!("sqlite:{}", db.display());
    let a = ok_json(&run(
        w,
        &[
            "backup",
            "create",
            "--database-url",
            &url,
            "--dir",
            "backups",
            "--output",
            "json",
        ],
    ));
    std::thread::sleep(Duration::from_millis(1100));
    let b = ok_json(&run(
        w,
        &[
            "backup",
            "create",
            "--database-url",
            &url,
            "--dir",
            "backups",
            "--output",
            "json",
        ],
    ));
    let (fa, fb) = (a["file"].as_str().unwrap(), b["file"].as_str().unwrap());
    let name_b = Path::new(fb)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let name_a = Path::new(fa)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        std::fs::read_to_string(w.join("backups/LATEST"))
            .unwrap()
            .trim(),
        name_b
    );
    // B's manifest replaced by A's
    std::fs::copy(
        w.join(format!("{fa}.manifest.json")),
        w.join(format!("{fb}.manifest.json")),
    )
    .unwrap();
    let v = run(w, &["backup", "verify", fb, "--output", "json"]);
    assert_eq!(v.code, 2, "{}", v.stderr);
    assert_eq!(
        std::fs::read_to_string(w.join("backups/LATEST"))
            .unwrap()
            .trim(),
        name_a,
        "LATEST moved off the broken backup"
    );
    let l = ok_json(&run(
        w,
        &["backup", "list", "--dir", "backups", "--output", "json"],
    ));
    assert_eq!(l["latest"], name_a.as_str(), "{l}");
    let entry = l["backups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"] == name_b.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["latest"], false, "{entry}");
}

#[test]
fn copies_kept_by_swap_restores_are_listed_and_pruned_but_never_the_newest() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_setup(&server, "shop").await;
        let url = server.url("shop");
        ok_json(&run(w, &["backup", "create", "--database-url", &url, "--dir", "backups", "--output", "json"]));
        for _ in 0..2 {
            let r = run(w, &["restore", "latest", "--database-url", &url, "--dir", "backups", "--yes", "--drain", "1s", "--output", "json"]);
            assert_eq!(ok_json(&r)["status"], "restored");
            std::thread::sleep(Duration::from_millis(1100));
        }
        let mut a = pg_conn(&server, "postgres").await;
        let (_, kept) = a.query_text("SELECT datname::text FROM pg_database WHERE datname LIKE 'shop\\_before\\_restore\\_%' ORDER BY 1").await.unwrap();
        assert_eq!(kept.len(), 2);
        let oldest = kept[0][0].clone().unwrap();
        a.execute(&format!("ALTER DATABASE \"{oldest}\" RENAME TO shop_before_restore_20200101_000000")).await.unwrap();
        let l = ok_json(&run(w, &["backup", "list", "--dir", "backups", "--database-url", &url, "--output", "json"]));
        let listed = l["before_restore"].as_array().unwrap();
        assert_eq!(listed.len(), 2, "{l}");
        assert!(listed.iter().all(|c| c["bytes"].as_u64().unwrap() > 0));
        assert!(listed[0]["age_seconds"].as_u64().unwrap() > 86400 * 365);
        let p = ok_json(&run(w, &["backup", "prune", "--dir", "backups", "--keep", "5", "--keep-before-restore", "7d", "--database-url", &url, "--output", "json"]));
        let removed: Vec<&str> = p["removed"].as_array().unwrap().iter().map(|r| r["file"].as_str().unwrap()).collect();
        assert_eq!(removed, vec!["shop_before_restore_20200101_000000"], "{p}");
        // the newest stays even when it is old
        let (_, left) = a.query_text("SELECT datname::text FROM pg_database WHERE datname LIKE 'shop\\_before\\_restore\\_%'").await.unwrap();
        let newest = left[0][0].clone().unwrap();
        a.execute(&format!("ALTER DATABASE \"{newest}\" RENAME TO shop_before_restore_20200202_000000")).await.unwrap();
        let p = ok_json(&run(w, &["backup", "prune", "--dir", "backups", "--keep", "5", "--keep-before-restore", "7d", "--database-url", &url, "--output", "json"]));
        assert!(p["removed"].as_array().unwrap().is_empty(), "{p}");
        a.close().await;
    });
}

#[test]
fn a_backup_interrupted_without_a_terminal_leaves_no_staging_folder() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_setup(&server, "shop").await;
        pg_exec(&server, "shop", "CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 8) AS pad FROM generate_series(1, 300000) g").await;
        let url = server.url("shop");
        let mut child = spawn_in(w, &["backup", "create", "--database-url", &url, "--dir", "backups", "--format", "plain"]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !names(&w.join("backups")).iter().any(|n| n.starts_with(".migsafe-staging-")) {
            assert!(child.try_wait().unwrap().is_none(), "the backup ended before it was interrupted");
            assert!(Instant::now() < deadline, "no staging folder appeared");
            std::thread::sleep(Duration::from_millis(5));
        }
        migsafe::sys::proc::send_signal(child.id(), libc::SIGTERM);
        let r = finish(child);
        assert_eq!(r.code, 128 + libc::SIGTERM, "{}", r.stderr);
        assert!(r.stderr.contains("interrupted by SIGTERM") && r.stderr.contains("unfinished backup"), "{}", r.stderr);
        assert!(names(&w.join("backups")).is_empty(), "{:?}", names(&w.join("backups")));
    });
}

#[test]
fn an_in_place_restore_by_a_role_that_does_not_own_the_database_still_restores_and_says_what_it_could_not_do()
 {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_exec(&server, "postgres", "CREATE ROLE restorer LOGIN").await;
        pg_exec(&server, "postgres", "CREATE DATABASE shop2").await;
        pg_exec(&server, "shop2", "CREATE TABLE mine (a int); INSERT INTO mine VALUES (1), (2); ALTER TABLE mine OWNER TO restorer; ALTER SCHEMA public OWNER TO restorer").await;
        let url = server.url("shop2").replace("postgres@", "restorer@");
        ok_json(&run(w, &["backup", "create", "--database-url", &url, "--dir", "backups", "--output", "json"]));
        pg_exec(&server, "shop2", "INSERT INTO mine VALUES (3)").await;
        // a superuser's session the restorer may not end
        let mut other = pg_conn(&server, "shop2").await;
        other.execute("SELECT 1").await.unwrap();
        let r = run(w, &["restore", "latest", "--database-url", &url, "--dir", "backups", "--yes", "--strategy", "in-place", "--no-safety-backup", "--drain", "1s", "--output", "json"]);
        let v = ok_json(&r);
        assert_eq!(v["status"], "restored", "{}", r.stdout);
        let warnings = v["warnings"].to_string();
        assert!(warnings.contains("could not be made read-only") && warnings.contains("could not be ended"), "{warnings}");
        assert_eq!(scalar(&mut other, "SELECT count(*)::text FROM mine").await, "2");
        other.close().await;
        assert!(migsafe::journal::unfinished(&w.join(".migsafe/journal")).is_empty());
    });
}
