//! `backup` and `restore` end to end on real servers (ephemeral PostgreSQL, MariaDB, SQLite) with
//! the installed dump tools: round trips for every format and strategy, and the faults a backup
//! must survive — pg_dump killed mid-stream, a full disk, a truncated archive, a flipped byte, a
//! manifest that lies — each detected, nothing left that looks complete, LATEST unchanged, and
//! restore refusing before it touches the target.

use crate::engines::rt;
use crate::support::{Run, assert_usage_error, have, json};
use migsafe::engines::conn::Conn;
use migsafe::engines::mysql::ephemeral::EphemeralMysql;
use migsafe::engines::postgres::ephemeral::EphemeralPostgres;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn run_with(dir: &Path, args: &[&str], setup: impl FnOnce(&mut Command)) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_migsafe"));
    c.args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1");
    setup(&mut c);
    let out = c.output().expect("run migsafe");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub(crate) fn run(dir: &Path, args: &[&str]) -> Run {
    run_with(dir, args, |_| {})
}

pub(crate) fn ok_json(r: &Run) -> Value {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    json(r)
}

/// Names in a folder, sorted.
pub(crate) fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn latest(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("LATEST"))
        .ok()
        .map(|s| s.trim().to_string())
}

pub(crate) const PG_SCHEMA: &str = "
CREATE TYPE mood AS ENUM ('ok', 'meh');
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE, mood mood DEFAULT 'ok', created timestamptz DEFAULT '2026-01-01');
CREATE TABLE orders (id bigserial PRIMARY KEY, user_id int NOT NULL REFERENCES users, total numeric(10,2), note text);
CREATE INDEX orders_user ON orders (user_id);
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL);
INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (20240101, 'init', true, '\\xdeadbeef', 1), (20240202, 'orders', true, '\\xcafe', 1);
INSERT INTO users (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 200) g;
INSERT INTO orders (user_id, total, note) SELECT 1 + g % 200, g * 1.25, CASE WHEN g % 7 = 0 THEN NULL ELSE 'n' || g END FROM generate_series(1, 600) g;
ANALYZE;
";

pub(crate) const PG_CHANGE: &str = "
DELETE FROM orders WHERE id > 500;
UPDATE users SET email = 'changed' || id WHERE id < 20;
INSERT INTO users (email) VALUES ('late@example.com');
SELECT pg_stat_force_next_flush();
";

/// Every row of the test tables, as text, in key order.
pub(crate) async fn pg_rows(c: &mut Conn) -> Vec<Option<String>> {
    let mut all = Vec::new();
    for sql in [
        "SELECT u::text FROM users u ORDER BY id",
        "SELECT o::text FROM orders o ORDER BY id",
        "SELECT m::text FROM _sqlx_migrations m ORDER BY version",
        "SELECT last_value::text FROM users_id_seq",
        "SELECT count(*)::text FROM big_orders",
    ] {
        let (_, rows) = c
            .query_text(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        all.extend(rows.into_iter().map(|r| r.into_iter().next().flatten()));
    }
    all
}

pub(crate) async fn pg_conn(server: &EphemeralPostgres, db: &str) -> Conn {
    Conn::Postgres(server.connect(db).await.unwrap())
}

pub(crate) async fn pg_databases(server: &EphemeralPostgres) -> Vec<String> {
    let mut c = pg_conn(server, "postgres").await;
    let (_, rows) = c
        .query_text("SELECT datname::text FROM pg_database ORDER BY 1")
        .await
        .unwrap();
    c.close().await;
    rows.into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect()
}

pub(crate) async fn pg_setup(server: &EphemeralPostgres, db: &str) {
    let mut c = pg_conn(server, "postgres").await;
    c.execute(&format!("CREATE DATABASE {db}")).await.unwrap();
    c.close().await;
    let mut c = pg_conn(server, db).await;
    c.execute(PG_SCHEMA).await.unwrap();
    c.close().await;
}

/// Marks `db` as being in a migsafe mode (`read-only`, `maintenance`), as those commands do.
pub(crate) async fn mark_mode(server: &EphemeralPostgres, db: &str, kind: &str) {
    use migsafe::engines::EngineKind;
    use migsafe::engines::admin::Marker;
    let mut c = pg_conn(server, "postgres").await;
    let m = Marker {
        operation: format!("{kind}-test"),
        kind: kind.into(),
        started_at: chrono::Utc::now(),
        host: "elsewhere".into(),
        pid: 1,
        command: format!("migsafe {kind} on"),
        ..Marker::default()
    };
    EngineKind::Postgres
        .engine()
        .admin()
        .set_marker(&mut c, db, &m)
        .await
        .unwrap();
    c.close().await;
}

pub(crate) async fn pg_exec(server: &EphemeralPostgres, db: &str, sql: &str) {
    let mut c = pg_conn(server, db).await;
    c.execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    // a second statement in a new transaction flushes the forced stats
    let _ = c.execute("SELECT 1").await;
    c.close().await;
}

#[test]
fn postgres_round_trips_for_every_format_and_strategy() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("backups");
    let d = dir.to_str().unwrap();
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_setup(&server, "shop").await;
        let url = server.url("shop");
        for (format, strategy) in [
            ("custom", "swap"),
            ("custom", "in-place"),
            ("directory", "swap"),
            ("directory", "in-place"),
            ("plain", "swap"),
            ("plain", "in-place"),
        ] {
            let what = format!("{format}/{strategy}");
            let mut args = vec![
                "backup",
                "create",
                "--database-url",
                &url,
                "--dir",
                d,
                "--format",
                format,
                "--output",
                "json",
            ];
            if format == "directory" {
                args.extend(["--jobs", "2"]);
            }
            let created = ok_json(&run(work.path(), &args));
            assert_eq!(created["ok"], true, "{what}");
            assert_eq!(created["verified"], true, "{what}");
            let file = PathBuf::from(created["file"].as_str().unwrap());
            assert_eq!(
                latest(&dir).as_deref(),
                file.file_name().unwrap().to_str(),
                "{what}: LATEST names the new verified backup"
            );
            let m = &created["backup"];
            assert_eq!(m["format"], format);
            assert_eq!(m["snapshot_consistent"], true);
            assert_eq!(
                m["migrations"].as_array().unwrap().len(),
                2,
                "{what}: applied migrations recorded"
            );
            assert_eq!(m["migrations"][0]["checksum"], "deadbeef");
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(
                mode,
                if format == "directory" { 0o700 } else { 0o600 },
                "{what}"
            );

            let mut c = pg_conn(&server, "shop").await;
            let at_backup = pg_rows(&mut c).await;
            c.close().await;
            pg_exec(&server, "shop", PG_CHANGE).await;
            if strategy == "swap" {
                pg_exec(
                    &server,
                    "shop",
                    "CREATE TABLE added_later (a int); INSERT INTO added_later VALUES (1)",
                )
                .await;
            }
            // a session still connected to the live database when the swap happens
            let mut lingering = pg_conn(&server, "shop").await;
            lingering.execute("SELECT 1").await.unwrap();

            let r = run(
                work.path(),
                &[
                    "restore",
                    "latest",
                    "--database-url",
                    &url,
                    "--dir",
                    d,
                    "--strategy",
                    strategy,
                    "--yes",
                    "--drain",
                    "1s",
                    "--output",
                    "json",
                ],
            );
            let v = ok_json(&r);
            assert_eq!(v["status"], "restored", "{what}: {}", r.stdout);
            assert_eq!(v["schema_version"], 1);
            let changes = &v["changes"];
            assert!(
                changes["rows"].as_u64().unwrap() >= 120,
                "{what}: the rows written since the backup are reported: {changes}"
            );
            assert!(
                changes["tables"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["table"] == "public.orders"),
                "{what}: {changes}"
            );
            assert!(
                v["preflight"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|c| c["ok"] == true),
                "{what}: {}",
                r.stdout
            );
            assert!(!r.stdout.contains("password"), "{what}");

            let mut c = pg_conn(&server, "shop").await;
            assert_eq!(
                pg_rows(&mut c).await,
                at_backup,
                "{what}: the data equals the backup"
            );
            let (_, t) = c
                .query_text("SELECT count(*)::text FROM pg_class WHERE relname = 'added_later'")
                .await
                .unwrap();
            assert_eq!(
                t[0][0].as_deref(),
                Some("0"),
                "{what}: the restored database is the backup's"
            );
            c.close().await;
            let dbs = pg_databases(&server).await;
            match strategy {
                "swap" => {
                    let kept = v["kept_as"].as_str().unwrap().to_string();
                    assert!(
                        kept.starts_with("shop_before_restore_") && dbs.contains(&kept),
                        "{what}: {dbs:?}"
                    );
                    assert!(
                        !dbs.iter().any(|d| d.starts_with("shop_restore_")),
                        "{what}: the temporary name is gone: {dbs:?}"
                    );
                    let mut old = pg_conn(&server, &kept).await;
                    let (_, n) = old
                        .query_text("SELECT count(*)::text FROM added_later")
                        .await
                        .unwrap();
                    assert_eq!(
                        n[0][0].as_deref(),
                        Some("1"),
                        "{what}: the previous database keeps the later writes"
                    );
                    old.close().await;
                    assert!(
                        lingering.execute("SELECT 1").await.is_err(),
                        "{what}: the lingering session was terminated after the drain"
                    );
                    // keep the server tidy for the next round
                    let mut admin = pg_conn(&server, "postgres").await;
                    admin
                        .execute(&format!("DROP DATABASE \"{kept}\""))
                        .await
                        .unwrap();
                    admin.close().await;
                }
                _ => {
                    let safety = PathBuf::from(v["safety_backup"].as_str().unwrap());
                    assert!(
                        safety.exists(),
                        "{what}: a pre-restore safety backup was taken"
                    );
                    let sm: Value = serde_json::from_str(
                        &std::fs::read_to_string(format!("{}.manifest.json", safety.display()))
                            .unwrap(),
                    )
                    .unwrap();
                    assert_eq!(sm["purpose"], "pre-restore");
                    assert_ne!(
                        latest(&dir).as_deref(),
                        safety.file_name().unwrap().to_str(),
                        "{what}: a safety backup never becomes LATEST"
                    );
                    lingering.close().await;
                }
            }
        }
        let listed = ok_json(&run(
            work.path(),
            &["backup", "list", "--dir", d, "--format", "json"],
        ));
        let backups = listed["backups"].as_array().unwrap();
        assert_eq!(backups.len(), 9, "6 backups and 3 safety backups: {listed}");
        assert!(
            backups
                .iter()
                .all(|b| b["verified"] == true && b["migrations"] == 2),
            "{listed}"
        );
    });
}

#[test]
fn postgres_read_only_settings_never_travel_and_missing_roles_refuse() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("backups");
    let d = dir.to_str().unwrap();
    rt().block_on(async {
        let a = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_setup(&a, "shop").await;
        pg_exec(&a, "shop", "CREATE ROLE appowner NOLOGIN; ALTER TABLE orders OWNER TO appowner; CREATE ROLE reader NOLOGIN").await;
        pg_exec(&a, "postgres", "ALTER DATABASE shop SET default_transaction_read_only = on; ALTER DATABASE shop SET work_mem = '8MB'; GRANT CONNECT ON DATABASE shop TO reader").await;
        // the read-only setting is migsafe's own (a read-only window is on): it must not travel
        mark_mode(&a, "shop", "read-only").await;
        let url = a.url("shop");
        let created = ok_json(&run(work.path(), &["backup", "create", "--database-url", &url, "--dir", d, "--format", "plain", "--globals", "--output", "json"]));
        let file = PathBuf::from(created["file"].as_str().unwrap());
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("default_transaction_read_only"), "the dump must not carry database-level read-only settings");
        assert!(!text.contains("CREATE DATABASE"), "no --create dump");
        let globals = dir.join(created["backup"]["globals"]["path"].as_str().unwrap());
        let g = std::fs::read_to_string(&globals).unwrap();
        assert!(g.contains("CREATE ROLE appowner") && !g.contains("PASSWORD '"), "globals without passwords: {g}");

        // swap on the same server: the database-level settings are carried over, except the
        // read-only mode migsafe switched on
        let r = run(work.path(), &["restore", "latest", "--database-url", &url, "--dir", d, "--yes", "--drain", "1s", "--output", "json"]);
        let v = ok_json(&r);
        assert_eq!(v["status"], "restored", "{}", r.stdout);
        assert!(v["not_carried_over"].as_array().unwrap().iter().any(|s| s.as_str().unwrap().contains("default_transaction_read_only")), "{}", r.stdout);
        assert!(v["carried_over"].as_array().unwrap().iter().any(|s| s.as_str().unwrap().contains("work_mem")), "{}", r.stdout);
        let mut c = pg_conn(&a, "shop").await;
        let (_, ro) = c.query_text("SHOW default_transaction_read_only").await.unwrap();
        assert_eq!(ro[0][0].as_deref(), Some("off"), "the restored database is writable");
        let (_, wm) = c.query_text("SHOW work_mem").await.unwrap();
        assert_eq!(wm[0][0].as_deref(), Some("8MB"));
        let (_, owner) = c.query_text("SELECT tableowner::text FROM pg_tables WHERE tablename = 'orders'").await.unwrap();
        assert_eq!(owner[0][0].as_deref(), Some("appowner"));
        c.close().await;

        // large tables keep the planner's estimate (flagged); a drill compares it with tolerance
        let est = ok_json(&run(
            work.path(),
            &["backup", "create", "--database-url", &url, "--dir", d, "--exact-row-limit", "100", "--no-verify", "--output", "json"],
        ));
        let tables = est["backup"]["tables"].as_array().unwrap();
        let orders = tables.iter().find(|t| t["table"] == "orders").unwrap();
        assert_eq!((orders["estimated"].as_bool(), orders["rows"].as_u64()), (Some(true), Some(600)), "{orders}");
        let mig = tables.iter().find(|t| t["table"] == "_sqlx_migrations").unwrap();
        assert_eq!(mig["estimated"], false);
        let deep = run(work.path(), &["backup", "verify", est["file"].as_str().unwrap(), "--deep", "--output", "json"]);
        assert_eq!(ok_json(&deep)["ok"], true, "{}", deep.stdout);

        // a non-superuser restores: ownership it may not assign is a harmless, reported error
        pg_exec(&a, "postgres", "CREATE ROLE restorer LOGIN CREATEDB").await;
        pg_exec(&a, "postgres", "CREATE DATABASE shop2 OWNER restorer").await;
        pg_exec(&a, "shop2", "CREATE TABLE mine (a int); INSERT INTO mine VALUES (1), (2); CREATE TABLE theirs (b int); INSERT INTO theirs VALUES (3); ALTER TABLE mine OWNER TO restorer; ALTER TABLE theirs OWNER TO appowner").await;
        let url2 = a.url("shop2");
        let b2 = ok_json(&run(work.path(), &["backup", "create", "--database-url", &url2, "--dir", d, "--output", "json"]));
        let as_restorer = url2.replace("postgres@", "restorer@");
        let r = run(work.path(), &["restore", b2["file"].as_str().unwrap(), "--database-url", &as_restorer, "--yes", "--drain", "1s", "--output", "json"]);
        let v = ok_json(&r);
        assert_eq!(v["status"], "restored", "{}", r.stdout);
        let errors = v["errors"].as_array().unwrap();
        assert!(!errors.is_empty() && errors.iter().all(|e| e["class"] == "harmless" && e["reason"] == "owner"), "{}", r.stdout);
        assert!(errors.iter().any(|e| e["command"].as_str().unwrap_or("").contains("OWNER TO appowner")), "{}", r.stdout);

        // another server lacks the role: refused before anything is created
        let b = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_exec(&b, "postgres", "CREATE DATABASE shop").await;
        let before = pg_databases(&b).await;
        let custom = ok_json(&run(work.path(), &["backup", "create", "--database-url", &url, "--dir", d, "--output", "json"]));
        let custom_file = custom["file"].as_str().unwrap().to_string();
        let r = run(work.path(), &["restore", &custom_file, "--database-url", &b.url("shop"), "--yes", "--output", "json"]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        let v = json(&r);
        assert_eq!(v["status"], "refused");
        let roles = v["preflight"].as_array().unwrap().iter().find(|c| c["name"] == "roles").unwrap();
        assert_eq!(roles["ok"], false);
        assert!(roles["details"].as_str().unwrap().contains("appowner"), "{roles}");
        assert_eq!(pg_databases(&b).await, before, "nothing was created on the target");
        // --no-owner: ownership is skipped, the data arrives
        let r = run(work.path(), &["restore", &custom_file, "--database-url", &b.url("shop"), "--yes", "--no-owner", "--output", "json"]);
        assert_eq!(json(&r)["status"], "restored", "{}", r.stdout);
        let mut c = pg_conn(&b, "shop").await;
        let (_, n) = c.query_text("SELECT count(*)::text FROM orders").await.unwrap();
        assert_eq!(n[0][0].as_deref(), Some("600"));
        c.close().await;
    });
}

/// A wrapper folder whose pg_dump is `wrapper`, with the real pg_restore/psql/pg_dumpall.
fn wrapped_bin(work: &Path, wrapper: &str) -> PathBuf {
    let real = migsafe::engines::postgres::backup::find_tools(None, 0, "test")
        .unwrap()
        .bin_dir;
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["pg_restore", "psql", "pg_dumpall"] {
        std::os::unix::fs::symlink(real.join(tool), bin.join(tool)).unwrap();
    }
    let script = format!(
        "#!/bin/sh\nREAL={}\nif [ \"$1\" = --version ]; then exec \"$REAL\" --version; fi\n{wrapper}\n",
        real.join("pg_dump").display()
    );
    std::fs::write(bin.join("pg_dump"), script).unwrap();
    std::fs::set_permissions(bin.join("pg_dump"), std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// The backup folder holds exactly the good backup, its manifest and LATEST naming it.
fn only_the_good_backup(dir: &Path, good: &str) {
    assert_eq!(
        names(dir),
        vec![
            "LATEST".to_string(),
            good.to_string(),
            format!("{good}.manifest.json")
        ],
        "nothing that looks like a backup is left"
    );
    assert_eq!(latest(dir).as_deref(), Some(good), "LATEST unchanged");
}

#[test]
fn pg_dump_killed_mid_stream_leaves_nothing_and_credentials_stay_out_of_argv() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("backups");
    let d = dir.to_str().unwrap();
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_setup(&server, "shop").await;
        // trust authentication ignores the password, but migsafe must still keep it out of
        // every command line, file and message
        let url = server.url("shop").replace("postgres@", "postgres:S3cretPw@");
        let log = work.path().join("argv.log");
        let bin = wrapped_bin(work.path(), &format!("echo \"ARGS $* PGPASSWORD=$PGPASSWORD\" >> {}\nexec \"$REAL\" \"$@\"", log.display()));
        let good = ok_json(&run(work.path(), &["backup", "create", "--database-url", &url, "--dir", d, "--pg-bin-dir", bin.to_str().unwrap(), "--output", "json"]));
        let good_name = PathBuf::from(good["file"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(logged.contains("PGPASSWORD=S3cretPw"), "the password reaches pg_dump through the environment: {logged}");
        assert!(!logged.contains("ARGS") || !logged.split("PGPASSWORD=").next().unwrap().contains("S3cretPw"), "{logged}");
        for line in logged.lines() {
            let args = line.split(" PGPASSWORD=").next().unwrap();
            assert!(!args.contains("S3cretPw"), "password on pg_dump's command line: {line}");
        }
        let manifest = std::fs::read_to_string(dir.join(format!("{good_name}.manifest.json"))).unwrap();
        assert!(!manifest.contains("S3cretPw") && manifest.contains("postgres:****@"), "{manifest}");
        assert!(!good.to_string().contains("S3cretPw"));

        pg_exec(&server, "shop", "INSERT INTO orders (user_id, total, note) SELECT 1, g, md5(g::text) FROM generate_series(1, 20000) g").await;
        let bin2 = work.path().join("killer");
        std::fs::create_dir_all(&bin2).unwrap();
        let killer = wrapped_bin(&bin2, "\"$REAL\" \"$@\" | head -c 30000\nkill -9 $$");
        let r = run(work.path(), &["backup", "create", "--database-url", &url, "--dir", d, "--pg-bin-dir", killer.to_str().unwrap()]);
        assert_eq!(r.code, 2, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
        assert!(r.stderr.contains("killed by signal 9") && r.stderr.contains("nothing was kept"), "{}", r.stderr);
        assert!(!r.stderr.contains("S3cretPw"));
        only_the_good_backup(&dir, &good_name);
    });
}

struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_detected_and_leaves_nothing() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("backups");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    // a real full filesystem when we may mount one (root); otherwise a file size limit on the
    // migsafe process (the same write error path: EFBIG instead of ENOSPC)
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1M", "tmpfs"])
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    let _guard = mounted.then(|| Tmpfs(dir.clone()));
    if !mounted {
        eprintln!("mount not permitted: using RLIMIT_FSIZE instead of a 1 MiB tmpfs");
    }
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_setup(&server, "shop").await;
        let url = server.url("shop");
        let limit = |c: &mut Command| {
            if !mounted {
                use std::os::unix::process::CommandExt;
                // SAFETY: setrlimit and signal are async-signal-safe; they only affect the child.
                unsafe {
                    c.pre_exec(|| {
                        let lim = libc::rlimit { rlim_cur: 1 << 20, rlim_max: 1 << 20 };
                        libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
                        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                        Ok(())
                    });
                }
            }
        };
        let good = ok_json(&run_with(work.path(), &["backup", "create", "--database-url", &url, "--dir", d, "--output", "json"], limit));
        let good_name = PathBuf::from(good["file"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
        pg_exec(&server, "shop", "INSERT INTO orders (user_id, total, note) SELECT 1, g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 60000) g").await;
        let r = run_with(work.path(), &["backup", "create", "--database-url", &url, "--dir", d], limit);
        assert_eq!(r.code, 2, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
        let expected = if mounted { "No space left on device" } else { "File too large" };
        assert!(r.stderr.contains(expected) && r.stderr.contains("nothing was kept"), "{}", r.stderr);
        assert!(r.stdout.is_empty());
        only_the_good_backup(&dir, &good_name);
    });
}

fn truncate(f: &Path, _: &Path) {
    let len = std::fs::metadata(f).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(f)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
}

fn flip(f: &Path, _: &Path) {
    let mut b = std::fs::read(f).unwrap();
    let i = b.len() * 2 / 3;
    b[i] ^= 0xff;
    std::fs::write(f, b).unwrap();
}

/// Truncated, and the manifest rewritten to match the truncated file: only a full read of the
/// archive can tell (`pg_restore -l` would pass it).
fn lying_checksum(f: &Path, m: &Path) {
    truncate(f, m);
    let data = std::fs::read(f).unwrap();
    use sha2::Digest;
    let sha: String = sha2::Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(m).unwrap()).unwrap();
    v["bytes"] = data.len().into();
    v["sha256"] = sha.into();
    std::fs::write(m, serde_json::to_string(&v).unwrap()).unwrap();
}

async fn my_rows(c: &mut Conn) -> Vec<Vec<Option<String>>> {
    let (_, a) = c
        .query_text("SELECT CONCAT_WS('|', id, email, IFNULL(bio, 'NULL')) FROM users ORDER BY id")
        .await
        .unwrap();
    let (_, b) = c
        .query_text(
            "SELECT CONCAT_WS('|', id, user_id, IFNULL(total, 'NULL')) FROM orders ORDER BY id",
        )
        .await
        .unwrap();
    let (_, v) = c
        .query_text("SELECT CAST(count(*) AS CHAR) FROM big")
        .await
        .unwrap();
    [a, b, v].concat()
}

async fn sqlite_rows(c: &mut Conn) -> Vec<Vec<Option<String>>> {
    c.query_text(
        "SELECT id || '|' || email || '|' || ifnull(hex(avatar), 'NULL') FROM users ORDER BY id",
    )
    .await
    .unwrap()
    .1
}

#[test]
fn corrupt_archives_and_lying_manifests_are_caught_before_the_target_is_touched() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("backups");
    let d = dir.to_str().unwrap();
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_setup(&server, "shop").await;
        pg_exec(&server, "shop", "INSERT INTO orders (user_id, total, note) SELECT 1, g, md5(g::text) FROM generate_series(1, 5000) g").await;
        let url = server.url("shop");
        let good = ok_json(&run(work.path(), &["backup", "create", "--database-url", &url, "--dir", d, "--output", "json"]));
        let good_name = PathBuf::from(good["file"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
        let mut c = pg_conn(&server, "shop").await;
        let live_rows = pg_rows(&mut c).await;
        c.close().await;
        let dbs = pg_databases(&server).await;

        // each case: a fresh unverified backup, damaged, then verify and restore
        type Damage = fn(&Path, &Path);
        let cases: [(&str, Damage, &str); 3] = [("truncated", truncate, "checksum"), ("flipped byte", flip, "checksum"), ("lying checksum", lying_checksum, "full-read")];
        for (case, damage, failing) in cases {
            let created = ok_json(&run(work.path(), &["backup", "create", "--database-url", &url, "--dir", d, "--no-verify", "--output", "json"]));
            let file = PathBuf::from(created["file"].as_str().unwrap());
            let manifest = PathBuf::from(created["manifest"].as_str().unwrap());
            assert_eq!(latest(&dir).as_deref(), Some(good_name.as_str()), "{case}: an unverified backup does not move LATEST");
            damage(&file, &manifest);
            let f = file.to_str().unwrap();
            let r = run(work.path(), &["backup", "verify", f, "--output", "json"]);
            assert_eq!(r.code, 1, "{case}: {}", r.stdout);
            let v = json(&r);
            let check = v["checks"].as_array().unwrap().iter().find(|c| c["kind"] == failing).unwrap();
            assert_eq!(check["ok"], false, "{case}: {v}");
            assert_eq!(latest(&dir).as_deref(), Some(good_name.as_str()), "{case}: LATEST unchanged");
            let recorded: Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
            assert!(recorded["verification"].as_array().unwrap().iter().any(|x| x["kind"] == failing && x["ok"] == false), "{case}: the failure is written into the manifest");
            let r = run(work.path(), &["restore", f, "--database-url", &url, "--yes", "--output", "json"]);
            assert_eq!(r.code, 1, "{case}: {}", r.stdout);
            let v = json(&r);
            assert_eq!(v["status"], "refused", "{case}");
            assert_eq!(v["live_untouched"], true);
            assert!(v["steps"].as_array().unwrap().is_empty(), "{case}: no step ran");
            assert_eq!(pg_databases(&server).await, dbs, "{case}: no database was created or renamed");
            let list = ok_json(&run(work.path(), &["backup", "list", "--dir", d, "--output", "json"]));
            let entry = list["backups"].as_array().unwrap().iter().find(|b| b["path"] == created["file"]).unwrap().clone();
            assert_eq!(entry["verified"], false, "{case}");
        }

        // the manifest lies about the data: the file is sound, the rows are not what it says
        let created = ok_json(&run(work.path(), &["backup", "create", "--database-url", &url, "--dir", d, "--no-verify", "--output", "json"]));
        let file = created["file"].as_str().unwrap().to_string();
        let manifest = PathBuf::from(created["manifest"].as_str().unwrap());
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
        for t in v["tables"].as_array_mut().unwrap() {
            if t["table"] == "users" {
                t["rows"] = 999.into();
            }
        }
        std::fs::write(&manifest, serde_json::to_string(&v).unwrap()).unwrap();
        let r = run(work.path(), &["backup", "verify", &file, "--deep", "--output", "json"]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        let drill = json(&r)["checks"].as_array().unwrap().iter().find(|c| c["kind"] == "restore-drill").unwrap().clone();
        assert_eq!(drill["ok"], false);
        assert!(drill["details"].as_str().unwrap().contains("users: 200 rows, the manifest says 999"), "{drill}");
        // restore: the copy is restored and verified, fails, is dropped; the live database stays
        let r = run(work.path(), &["restore", &file, "--database-url", &url, "--yes", "--drain", "1s", "--output", "json"]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        let v = json(&r);
        assert_eq!(v["status"], "failed");
        assert_eq!(v["live_untouched"], true);
        assert!(v["mismatches"].as_array().unwrap().iter().any(|m| m.as_str().unwrap().contains("999")), "{v}");
        assert_eq!(pg_databases(&server).await, dbs, "the restored copy was dropped, nothing renamed");
        let mut c = pg_conn(&server, "shop").await;
        assert_eq!(pg_rows(&mut c).await, live_rows, "the live data is untouched");
        c.close().await;
        assert_eq!(latest(&dir).as_deref(), Some(good_name.as_str()));

        // an interrupted backup (a file without manifest) is never restored or listed as usable
        let orphan = dir.join("backup_20000101_000000.dump");
        std::fs::write(&orphan, b"PGDMP partial").unwrap();
        let r = run(work.path(), &["restore", orphan.to_str().unwrap(), "--database-url", &url, "--yes"]);
        assert_usage_error(&r, "has no manifest");
        let list = ok_json(&run(work.path(), &["backup", "list", "--dir", d, "--output", "json"]));
        let entry = list["backups"].as_array().unwrap().iter().find(|b| b["file"] == "backup_20000101_000000.dump").unwrap().clone();
        assert!(entry["problem"].as_str().unwrap().contains("no manifest"), "{entry}");
    });
}

#[test]
fn mariadb_round_trip_in_place_with_rehearsal() {
    if !have("mysql") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("backups");
    let d = dir.to_str().unwrap();
    rt().block_on(async {
        let server = EphemeralMysql::start().await.unwrap();
        let mut admin = Conn::Mysql(server.connect(None).await.unwrap());
        admin.execute("CREATE DATABASE shop").await.unwrap();
        admin.close().await;
        let url = server.url("shop");
        let mut c = Conn::open(&url).await.unwrap();
        c.execute(
            "CREATE TABLE users (id int AUTO_INCREMENT PRIMARY KEY, email varchar(100) NOT NULL UNIQUE, bio text);
             CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL, total decimal(10,2), FOREIGN KEY (user_id) REFERENCES users(id));
             CREATE VIEW big AS SELECT * FROM orders WHERE total > 10;
             CREATE TRIGGER orders_bi BEFORE INSERT ON orders FOR EACH ROW SET NEW.total = IFNULL(NEW.total, 0);
             CREATE PROCEDURE hello() SELECT 1;
             CREATE TABLE schema_migrations (version varchar(20) PRIMARY KEY);
             INSERT INTO schema_migrations VALUES ('20240101'), ('20240202');
             INSERT INTO users (email, bio) VALUES ('a@x', 'O''Brien\\n'), ('b@x', NULL), ('c@x', 'ünïcode');
             INSERT INTO orders VALUES (1, 1, 5.5), (2, 2, 20), (3, 3, NULL);",
        )
        .await
        .unwrap();
        let at_backup = my_rows(&mut c).await;
        let created = ok_json(&run(work.path(), &["backup", "create", "--database-url", &url, "--dir", d, "--output", "json"]));
        assert_eq!(created["verified"], true);
        assert_eq!(created["backup"]["migrations"].as_array().unwrap().len(), 2);
        let file = PathBuf::from(created["file"].as_str().unwrap());
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("TRIGGER orders_bi") && text.contains("PROCEDURE `hello`"), "routines and triggers are dumped");
        let deep = ok_json(&run(work.path(), &["backup", "verify", "latest", "--deep", "--dir", d, "--output", "json"]));
        assert_eq!(deep["ok"], true, "{deep}");
        c.execute("DELETE FROM orders WHERE id = 3; UPDATE users SET email = 'zz' WHERE id = 1; INSERT INTO users (email) VALUES ('late@x')").await.unwrap();
        c.close().await;
        // swap is not available for MySQL: refused with the reason
        let r = run(work.path(), &["restore", "latest", "--database-url", &url, "--dir", d, "--strategy", "swap", "--yes", "--output", "json"]);
        assert_eq!(r.code, 1);
        assert_eq!(json(&r)["status"], "refused");
        let r = run(work.path(), &["restore", "latest", "--database-url", &url, "--dir", d, "--yes", "--output", "json"]);
        let v = ok_json(&r);
        assert_eq!(v["status"], "restored", "{}", r.stdout);
        assert_eq!(v["strategy"], "in-place");
        assert!(v["steps"].as_array().unwrap().iter().any(|s| s["name"] == "rehearsal" && s["ok"] == true), "{}", r.stdout);
        assert!(v["changes"]["rows"].as_u64().unwrap() >= 2, "{}", r.stdout);
        let mut c = Conn::open(&url).await.unwrap();
        assert_eq!(my_rows(&mut c).await, at_backup, "the data equals the backup");
        let (_, dbs) = c.query_text("SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name LIKE 'shop%'").await.unwrap();
        assert_eq!(dbs.len(), 1, "the rehearsal database was dropped: {dbs:?}");
        c.close().await;
        assert!(PathBuf::from(v["safety_backup"].as_str().unwrap()).exists());
    });
}

#[test]
fn sqlite_round_trip_swap_prune_and_usage_errors() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("backups");
    let d = dir.to_str().unwrap();
    let db = work.path().join("app.db");
    let url = format!("sqlite:{}", db.display());
    rt().block_on(async {
        let mut c = Conn::open(&format!("sqlite://{}?mode=rwc", db.display())).await.unwrap();
        c.execute("CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL, avatar blob); CREATE INDEX users_email ON users (email); CREATE VIEW v AS SELECT id FROM users; INSERT INTO users (email, avatar) VALUES ('a', x'00ff'), ('b', NULL), ('c', x'0102');").await.unwrap();
        let at_backup = sqlite_rows(&mut c).await;
        c.close().await;
        let first = ok_json(&run(work.path(), &["backup", "create", "--database-url", &url, "--dir", d, "--output", "json"]));
        let second = ok_json(&run(work.path(), &["backup", "create", "--database-url", &url, "--dir", d, "--output", "json"]));
        assert_ne!(first["file"], second["file"], "backups in the same second get distinct names");
        let deep = ok_json(&run(work.path(), &["backup", "verify", "latest", "--deep", "--dir", d, "--output", "json"]));
        assert_eq!(deep["checks"].as_array().unwrap().len(), 3);
        let mut c = Conn::open(&format!("sqlite://{}", db.display())).await.unwrap();
        c.execute("DELETE FROM users WHERE id = 2; UPDATE users SET email = 'z'; CREATE TABLE later (a)").await.unwrap();
        c.close().await;
        // --check: the preflight only
        let r = run(work.path(), &["restore", "latest", "--database-url", &url, "--dir", d, "--check", "--output", "json"]);
        let v = ok_json(&r);
        assert_eq!(v["status"], "checked");
        assert!(v["steps"].as_array().unwrap().is_empty());
        // not interactive and no --yes: nothing happens
        let r = run(work.path(), &["restore", "latest", "--database-url", &url, "--dir", d, "--output", "json"]);
        assert_eq!(r.code, 1);
        assert_eq!(json(&r)["status"], "not-confirmed");
        let r = run(work.path(), &["restore", "latest", "--database-url", &url, "--dir", d, "--yes", "--output", "json"]);
        let v = ok_json(&r);
        assert_eq!(v["status"], "restored", "{}", r.stdout);
        let kept = PathBuf::from(v["kept_as"].as_str().unwrap());
        assert!(kept.exists());
        let mut c = Conn::open(&format!("sqlite://{}", db.display())).await.unwrap();
        assert_eq!(sqlite_rows(&mut c).await, at_backup, "the data equals the backup");
        let (_, later) = c.query_text("SELECT count(*) FROM sqlite_master WHERE name = 'later'").await.unwrap();
        assert_eq!(later[0][0].as_deref(), Some("0"));
        c.close().await;

        let third = ok_json(&run(work.path(), &["backup", "create", "--database-url", &url, "--dir", d, "--no-verify", "--output", "json"]));
        let pruned = ok_json(&run(work.path(), &["backup", "prune", "--keep", "1", "--dir", d, "--output", "json"]));
        let kept: Vec<&str> = pruned["kept"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
        let second_name = PathBuf::from(second["file"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
        let third_name = PathBuf::from(third["file"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(kept, vec![second_name.as_str(), third_name.as_str()], "the newest, and the newest verified");
        assert_eq!(latest(&dir).as_deref(), Some(second_name.as_str()));
        let human = run(work.path(), &["backup", "list", "--dir", d]);
        assert_eq!(human.code, 0);
        assert!(human.stdout.contains(&second_name) && human.stdout.contains("not yet"), "{}", human.stdout);
    });
    assert_usage_error(
        &run(work.path(), &["backup", "prune", "--dir", d]),
        "--keep",
    );
    assert_usage_error(
        &run(work.path(), &["restore", "latest", "--dir", d]),
        "DATABASE_URL",
    );
    assert_usage_error(
        &run(
            work.path(),
            &[
                "backup",
                "create",
                "--database-url",
                &url,
                "--format",
                "plain",
            ],
        ),
        "PostgreSQL only",
    );
    assert_usage_error(
        &run(
            work.path(),
            &[
                "backup",
                "create",
                "--database-url",
                "postgres://h/db",
                "--format",
                "tar",
            ],
        ),
        "--format tar",
    );
    assert_usage_error(
        &run(
            work.path(),
            &[
                "backup",
                "verify",
                "latest",
                "--dir",
                work.path().join("none").to_str().unwrap(),
            ],
        ),
        "LATEST is missing",
    );
    assert_usage_error(
        &run(
            work.path(),
            &[
                "restore",
                "latest",
                "--dir",
                d,
                "--database-url",
                &url,
                "--strategy",
                "sideways",
            ],
        ),
        "--strategy sideways",
    );
    assert_usage_error(
        &run(
            work.path(),
            &["backup", "create", "--database-url", "sqlite::memory:"],
        ),
        "in-memory",
    );
}

/// docs/backup.md documents every key of every JSON output (a real run of each command).
#[test]
fn docs_describe_every_json_key() {
    let work = tempfile::tempdir().unwrap();
    let d = work.path().join("backups");
    let d = d.to_str().unwrap();
    let db = work.path().join("app.db");
    rt().block_on(async {
        let mut c = Conn::open(&format!("sqlite://{}?mode=rwc", db.display())).await.unwrap();
        c.execute("CREATE TABLE t (a int); INSERT INTO t VALUES (1); CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL); INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (1, 'init', 1, x'ab', 1);").await.unwrap();
        c.close().await;
    });
    let url = format!("sqlite:{}", db.display());
    let doc = std::fs::read_to_string(crate::support::root().join("docs/backup.md"))
        .expect("docs/backup.md");
    let mut outputs: Vec<(&str, Value)> = vec![
        (
            "backup create",
            ok_json(&run(
                work.path(),
                &[
                    "backup",
                    "create",
                    "--database-url",
                    &url,
                    "--dir",
                    d,
                    "--output",
                    "json",
                ],
            )),
        ),
        (
            "backup verify",
            ok_json(&run(
                work.path(),
                &[
                    "backup", "verify", "latest", "--deep", "--dir", d, "--output", "json",
                ],
            )),
        ),
        (
            "backup list",
            ok_json(&run(
                work.path(),
                &["backup", "list", "--dir", d, "--output", "json"],
            )),
        ),
        (
            "backup prune",
            ok_json(&run(
                work.path(),
                &[
                    "backup", "prune", "--keep", "5", "--dir", d, "--output", "json",
                ],
            )),
        ),
    ];
    std::fs::write(&db, b"").unwrap();
    let restored = ok_json(&run(
        work.path(),
        &[
            "restore",
            "latest",
            "--database-url",
            &url,
            "--dir",
            d,
            "--yes",
            "--output",
            "json",
        ],
    ));
    outputs.push(("restore", restored));
    let mut missing = Vec::new();
    for (cmd, v) in &outputs {
        let mut ks = std::collections::BTreeSet::new();
        crate::support::key_paths(v, "", &mut ks);
        for k in ks {
            // the embedded manifest is documented once, in the manifest section
            let k = k
                .strip_prefix("backup.")
                .map(|m| format!("manifest: {m}"))
                .unwrap_or(k);
            let needle = match k.strip_prefix("manifest: ") {
                Some(m) => format!("`{m}`"),
                None => format!("`{k}`"),
            };
            if !doc.contains(&needle) {
                missing.push(format!("{cmd}: {k}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/backup.md does not document: {missing:#?}"
    );
    for needle in [
        "schema_version",
        "LATEST",
        "backup_<YYYYmmdd_HHMMSS>",
        "--strategy",
        "restore-drill",
    ] {
        assert!(doc.contains(needle), "{needle}");
    }
}

#[test]
fn an_interrupt_during_the_swap_waits_for_it_to_finish() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("backups");
    let d = dir.to_str().unwrap();
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        pg_setup(&server, "shop").await;
        let url = server.url("shop");
        ok_json(&run(work.path(), &["backup", "create", "--database-url", &url, "--dir", d, "--output", "json"]));
        pg_exec(&server, "shop", PG_CHANGE).await;
        // a session that stays for the whole drain period
        let mut lingering = pg_conn(&server, "shop").await;
        lingering.execute("SELECT 1").await.unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_migsafe"))
            .args(["restore", "latest", "--database-url", &url, "--dir", d, "--yes", "--drain", "3s", "--output", "json"])
            .current_dir(work.path())
            .env_remove("DATABASE_URL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // wait until the live database is closed to new connections (the drain has begun)
        let mut admin = pg_conn(&server, "postgres").await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let (_, r) = admin.query_text("SELECT datallowconn::text FROM pg_database WHERE datname = 'shop'").await.unwrap();
            if r.first().and_then(|r| r[0].as_deref()) == Some("false") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the drain never started");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        migsafe::engines::process::send_signal(child.id(), libc::SIGINT);
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(v["status"], "restored");
        let swap = v["steps"].as_array().unwrap().iter().find(|s| s["name"] == "swap").unwrap().clone();
        assert!(swap["details"].as_str().unwrap().contains("interrupt arrived"), "{swap}");
        let (_, allow) = admin.query_text("SELECT datname::text, datallowconn::text FROM pg_database WHERE datname LIKE 'shop%' ORDER BY 1").await.unwrap();
        assert!(allow.iter().all(|r| r[1].as_deref() == Some("true")), "every database accepts connections again: {allow:?}");
        admin.close().await;
        let mut c = pg_conn(&server, "shop").await;
        let (_, n) = c.query_text("SELECT count(*)::text FROM orders").await.unwrap();
        assert_eq!(n[0][0].as_deref(), Some("600"), "the backup's data");
        c.close().await;
        assert!(lingering.execute("SELECT 1").await.is_err());
    });
}

#[test]
fn a_pg_dump_older_than_the_server_is_refused() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("old");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["pg_dump", "pg_restore", "psql"] {
        std::fs::write(
            bin.join(tool),
            format!("#!/bin/sh\necho '{tool} (PostgreSQL) 9.6.24'\n"),
        )
        .unwrap();
        std::fs::set_permissions(bin.join(tool), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        let dir = work.path().join("backups");
        let r = run(
            work.path(),
            &[
                "backup",
                "create",
                "--database-url",
                &server.url("postgres"),
                "--dir",
                dir.to_str().unwrap(),
                "--pg-bin-dir",
                bin.to_str().unwrap(),
            ],
        );
        assert_usage_error(&r, &format!("version {} or newer", server.install.major));
        assert!(
            r.stderr.contains("found version 9 only") && r.stderr.contains("postgresql-client-"),
            "{}",
            r.stderr
        );
        assert!(names(&dir).is_empty(), "nothing written: {:?}", names(&dir));
    });
}
