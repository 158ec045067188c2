//! `read-only` and `maintenance` on real servers (ephemeral PostgreSQL and MariaDB, a real
//! PgBouncer started here in front of PostgreSQL, SQLite files): what each mechanism stops and
//! does not stop, that `off` restores every prior setting exactly, that hooks and flag files
//! switch the application layer and a failing hook undoes what was switched, leases, `--hold`,
//! and that backups and restores never carry a mode. `docs/read-only.md` reports these findings.

use crate::backup::{ok_json, pg_conn, pg_exec, run, run_with};
use crate::engines::rt;
use crate::support::{Run, have, json, which};
use migsafe::engines::conn::Conn;
use migsafe::engines::postgres::ephemeral::EphemeralPostgres;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Roles and pre-existing custom settings the modes must put back exactly: a database-level
/// `default_transaction_read_only = off`, a role-level override (`app`), a role-in-database
/// override (`worker`), a role already read-only in the database (`reporter`), connection limits
/// on the database (50) and on a role (7).
pub(crate) async fn pg_shop(server: &EphemeralPostgres) {
    pg_exec(
        server,
        "postgres",
        "CREATE ROLE app LOGIN; CREATE ROLE worker LOGIN; CREATE ROLE reporter LOGIN",
    )
    .await;
    pg_exec(server, "postgres", "CREATE DATABASE shop").await;
    pg_exec(
        server,
        "postgres",
        "ALTER ROLE app SET default_transaction_read_only = off; ALTER ROLE app CONNECTION LIMIT 7; \
         ALTER DATABASE shop SET default_transaction_read_only = off; ALTER DATABASE shop CONNECTION LIMIT 50; \
         ALTER DATABASE shop SET work_mem = '8MB'; \
         ALTER ROLE worker IN DATABASE shop SET default_transaction_read_only = 'off'; \
         ALTER ROLE reporter IN DATABASE shop SET default_transaction_read_only = on",
    )
    .await;
    pg_exec(
        server,
        "shop",
        "CREATE TABLE items (id serial PRIMARY KEY, v int); INSERT INTO items (v) VALUES (1), (2); \
         GRANT ALL ON items, items_id_seq TO app, worker, reporter",
    )
    .await;
}

/// An ephemeral PostgreSQL with [`pg_shop`], the URL of `shop`, and [`pg_state`] before any mode.
pub(crate) async fn shop() -> (EphemeralPostgres, String, String) {
    let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
    pg_shop(&server).await;
    let url = server.url("shop");
    let before = pg_state(&server).await;
    (server, url, before)
}

/// Every setting a mode may touch, as text: database and role settings (migsafe's marker
/// aside), ALLOW_CONNECTIONS and connection limits.
pub(crate) async fn pg_state(server: &EphemeralPostgres) -> String {
    let mut c = pg_conn(server, "postgres").await;
    let (_, rows) = c
        .query_text(
            "SELECT string_agg(x, E'\\n' ORDER BY x) FROM ( \
               SELECT 'setting ' || COALESCE(d.datname::text, '*') || ' ' || COALESCE(r.rolname::text, '*') || ' ' || c AS x \
               FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) c \
               WHERE c NOT LIKE 'migsafe.%' \
               UNION ALL SELECT 'database ' || datname || ' allow=' || datallowconn || ' limit=' || datconnlimit FROM pg_database WHERE NOT datistemplate \
               UNION ALL SELECT 'role ' || rolname || ' limit=' || rolconnlimit FROM pg_roles WHERE rolname IN ('app', 'worker', 'reporter')) q",
        )
        .await
        .unwrap();
    c.close().await;
    rows[0][0].clone().unwrap_or_default()
}

/// migsafe markers left on the server.
pub(crate) async fn pg_markers(server: &EphemeralPostgres) -> usize {
    let mut c = pg_conn(server, "postgres").await;
    let (_, rows) = c
        .query_text("SELECT count(*)::text FROM pg_db_role_setting s, unnest(s.setconfig) c WHERE c LIKE 'migsafe.operation=%'")
        .await
        .unwrap();
    c.close().await;
    rows[0][0].as_deref().unwrap().parse().unwrap()
}

pub(crate) fn role_url(server: &EphemeralPostgres, role: &str, db: &str) -> String {
    server.url(db).replace("postgres@", &format!("{role}@"))
}

fn code_of(e: &sqlx::Error) -> String {
    match e.as_database_error() {
        Some(d) => d
            .code()
            .map(|c| c.into_owned())
            .unwrap_or_else(|| "db".into()),
        None => "io".into(),
    }
}

/// A write on a fresh connection: `Ok` or the SQLSTATE (`connect:<code>` when the connection
/// itself was refused).
pub(crate) async fn write_as(url: &str) -> Result<(), String> {
    let mut c = Conn::open(url).await.map_err(|e| format!("connect:{e}"))?;
    let r = c
        .execute("INSERT INTO items (v) VALUES (10)")
        .await
        .map(|_| ())
        .map_err(|e| code_of(&e));
    c.close().await;
    r
}

async fn write_on(c: &mut Conn) -> Result<(), String> {
    c.execute("INSERT INTO items (v) VALUES (11)")
        .await
        .map(|_| ())
        .map_err(|e| code_of(&e))
}

pub(crate) fn unfinished(work: &Path) -> usize {
    migsafe::journal::unfinished(&work.join(".migsafe/journal")).len()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn postgres_read_only_holds_old_and_new_sessions_but_not_migsafe_and_off_restores_exactly() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let opts = migsafe::engines::postgres::ephemeral::PgOptions {
            settings: vec![("max_prepared_transactions".into(), "4".into())],
            ..Default::default()
        };
        let server = EphemeralPostgres::start(&opts).await.unwrap();
        pg_shop(&server).await;
        let url = server.url("shop");
        // what a read-only default does not stop: a prepared transaction, a subscription (its
        // publisher is unreachable on purpose: no system server is touched)
        pg_exec(&server, "shop", "BEGIN; INSERT INTO items (v) VALUES (99); PREPARE TRANSACTION 'pending-payment'").await;
        pg_exec(&server, "shop", "CREATE SUBSCRIPTION feed CONNECTION 'host=/nonexistent dbname=x' PUBLICATION p WITH (connect = false)").await;
        pg_exec(&server, "shop", "ALTER SUBSCRIPTION feed ENABLE").await;
        let before = pg_state(&server).await;
        // sessions opened before the switch: one idle, one in the middle of a write
        let mut idle = Conn::open(&role_url(&server, "app", "shop")).await.unwrap();
        write_on(&mut idle).await.unwrap();
        let mut busy = Conn::open(&role_url(&server, "worker", "shop"))
            .await
            .unwrap();
        busy.execute("BEGIN").await.unwrap();
        write_on(&mut busy).await.unwrap();

        let r = mj(
            w,
            "read-only on",
            &url,
            &[
                "--lease",
                "30m",
                "--drain",
                "1s",
                "--app-url",
                &role_url(&server, "app", "shop"),
            ],
        );
        let v = ok_json(&r);
        documented("read-only on", &v);
        assert_eq!(v["status"], "on", "{}", r.stdout);
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["verification"]["ok"], true, "{}", r.stdout);
        assert_eq!(v["verification"]["application"]["outcome"], "refused");
        assert_eq!(v["verification"]["application"]["code"], "25006");
        assert_eq!(v["verification"]["migration_session"]["outcome"], "allowed");
        let drained = v["drain"]["writing_at_start"].as_array().unwrap();
        assert_eq!(
            drained.len(),
            1,
            "the write in flight was waited for: {}",
            r.stdout
        );
        assert_eq!(drained[0]["user"], "worker");
        assert!(
            v["drain"]["waited_ms"].as_u64().unwrap() >= 900,
            "{}",
            r.stdout
        );
        let ended: Vec<String> = v["ended_sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["user"].as_str().unwrap().to_string())
            .collect();
        assert!(
            ended.contains(&"app".into()) && ended.contains(&"worker".into()),
            "{}",
            r.stdout
        );
        // every role with its own default was switched in the database, the others left alone
        let knobs = strs(
            &v["settings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["what"].clone())
                .collect::<Value>(),
        );
        assert!(
            knobs
                .iter()
                .any(|k| k.contains("role app in database shop")),
            "{knobs:?}"
        );
        assert!(
            knobs
                .iter()
                .any(|k| k.contains("role worker in database shop")),
            "{knobs:?}"
        );
        assert!(
            !knobs.iter().any(|k| k.contains("reporter")),
            "reporter was read-only already: {knobs:?}"
        );
        assert!(
            strs(&v["could_still_write"])
                .iter()
                .any(|w| w.contains("superusers (postgres)")),
            "{}",
            r.stdout
        );
        let still = strs(&v["could_still_write"]);
        assert!(still.iter().any(|w| w.contains("pending-payment")), "prepared transactions are named: {still:?}");
        assert!(still.iter().any(|w| w.contains("subscriptions feed")), "subscriptions are named: {still:?}");
        assert!(!r.stdout.contains("password"));

        // the sessions opened before cannot write any more (they were ended)
        assert!(
            write_on(&mut idle).await.is_err(),
            "an old idle session still writes"
        );
        assert!(
            busy.execute("COMMIT").await.is_err(),
            "the old write transaction committed"
        );
        // a prepared transaction is outside every session: it still commits its write
        let mut su = Conn::open(&url).await.unwrap();
        su.execute("COMMIT PREPARED 'pending-payment'").await.expect("COMMIT PREPARED is not held by the read-only default");
        su.close().await;
        // new sessions of every application role cannot write (SQLSTATE 25006), nor take a
        // sequence value, nor create a temporary table
        let mut fresh = Conn::open(&role_url(&server, "app", "shop")).await.unwrap();
        for sql in ["SELECT nextval('items_id_seq')", "CREATE TEMPORARY TABLE scratch (a int)"] {
            let e = fresh.execute(sql).await.unwrap_err();
            assert_eq!(code_of(&e), "25006", "{sql}");
        }
        fresh.close().await;
        for role in ["app", "worker", "reporter"] {
            assert_eq!(
                write_as(&role_url(&server, role, "shop")).await,
                Err("25006".to_string()),
                "{role}"
            );
        }
        // migsafe's migration session can
        let mut mig = migsafe::modes::migration_session(&url).await.unwrap();
        write_on(&mut mig)
            .await
            .expect("the migration session writes while read-only is on");
        mig.close().await;

        // status: since when, by whom, until when
        let s = mj(w, "read-only status", &url, &[]);
        let sv = ok_json(&s);
        documented("read-only status", &sv);
        assert_eq!(sv["state"], "on");
        assert!(
            sv["by"]["host"].as_str().is_some_and(|h| !h.is_empty())
                && sv["by"]["user"].is_string(),
            "{}",
            s.stdout
        );
        assert!(sv["lease_until"].is_string() && sv["lease_expired"] == false);
        assert!(
            sv["settings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x["current"] == x["value"]),
            "{}",
            s.stdout
        );
        assert_eq!(sv["sessions"].as_array().unwrap().len(), 0, "{}", s.stdout);
        let human = run(w, &["read-only", "status", "--database-url", &url]);
        assert!(
            human.stdout.contains(": on") && human.stdout.contains("lease: until"),
            "{}",
            human.stdout
        );

        // modes do not stack; a restore-free command sees the mode
        let again = mj(w, "read-only on", &url, &[]);
        assert_eq!(again.code, 1, "{}", again.stdout);
        assert_eq!(json(&again)["status"], "refused");
        assert!(
            json(&again)["message"]
                .as_str()
                .unwrap()
                .contains("does not stack")
        );
        let ic = run(
            w,
            &[
                "integrity-check",
                "--database-url",
                &url,
                "--level",
                "catalog",
                "--format",
                "json",
            ],
        );
        assert!(
            ic.stderr.contains("is in migsafe read-only mode since"),
            "{}",
            ic.stderr
        );
        // recover leaves a mode in force within its lease alone
        let rec = mj(w, "recover", &url, &[]);
        let rv = ok_json(&rec);
        assert_eq!(rv["operations"][0]["status"], "active", "{}", rec.stdout);
        assert!(
            pg_state(&server)
                .await
                .contains("setting shop * default_transaction_read_only=on"),
            "recover left the mode on"
        );

        let off = mj(w, "read-only off", &url, &[]);
        let offv = ok_json(&off);
        assert_eq!(offv["status"], "off", "{}", off.stdout);
        documented("read-only off", &offv);
        assert_eq!(
            pg_state(&server).await,
            before,
            "every setting is back exactly"
        );
        assert_eq!(pg_markers(&server).await, 0);
        assert_eq!(unfinished(w), 0);
        for role in ["app", "worker"] {
            write_as(&role_url(&server, role, "shop"))
                .await
                .unwrap_or_else(|e| panic!("{role} after off: {e}"));
        }
        let mut mig = migsafe::modes::migration_session(&url).await.unwrap();
        write_on(&mut mig).await.unwrap();
        mig.close().await;
        let again = mj(w, "read-only off", &url, &[]);
        assert_eq!(ok_json(&again)["status"], "not-on");
        let st = ok_json(&mj(w, "read-only status", &url, &[]));
        assert_eq!(st["state"], "off");

        // --no-terminate: a session opened before keeps its old default and can still write;
        // the report says so, with the session
        let mut old = Conn::open(&role_url(&server, "app", "shop")).await.unwrap();
        let r = mj(w, "read-only on", &url, &["--no-terminate"]);
        let v = ok_json(&r);
        assert!(strs(&v["could_still_write"]).iter().any(|x| x.contains("--no-terminate") && x.contains("(app")), "{}", r.stdout);
        write_on(&mut old).await.expect("an old session was not ended and still writes");
        let st = ok_json(&mj(w, "read-only status", &url, &[]));
        assert_eq!(st["sessions"].as_array().unwrap().len(), 1, "status lists it: {st}");
        old.close().await;
        assert_eq!(ok_json(&mj(w, "read-only off", &url, &[]))["status"], "off");
        assert_eq!(pg_state(&server).await, before);
    });
}

/// A client that writes in a loop on its own connection (reconnecting after an error), and
/// records each error's SQLSTATE (`io` for a dropped connection) and the slowest round trip.
pub(crate) struct Looper {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<(u64, Vec<String>, Duration)>>,
}

impl Looper {
    pub(crate) fn start(url: String) -> Looper {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let rt = rt();
            rt.block_on(async move {
                let (mut ok, mut errors, mut slowest) = (0u64, Vec::new(), Duration::ZERO);
                let mut conn: Option<Conn> = None;
                while !s.load(Ordering::SeqCst) {
                    let began = Instant::now();
                    if conn.is_none() {
                        match Conn::open(&url).await {
                            Ok(c) => conn = Some(c),
                            Err(e) => {
                                let m = e.to_string();
                                errors.push(
                                    if m.contains("55000") || m.contains("not currently accepting")
                                    {
                                        "connect:55000".into()
                                    } else if m.contains("53300")
                                        || m.contains("too many connections")
                                    {
                                        "connect:53300".into()
                                    } else {
                                        format!("connect:{m}")
                                    },
                                );
                                tokio::time::sleep(Duration::from_millis(30)).await;
                                continue;
                            }
                        }
                    }
                    let c = conn.as_mut().unwrap();
                    match c.execute("INSERT INTO items (v) VALUES (7)").await {
                        Ok(_) => ok += 1,
                        Err(e) => {
                            errors.push(code_of(&e));
                            conn = None;
                        }
                    }
                    slowest = slowest.max(began.elapsed());
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (ok, errors, slowest)
            })
        });
        Looper {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops it: (successful writes, errors, slowest round trip).
    pub(crate) fn finish(mut self) -> (u64, Vec<String>, Duration) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.take().unwrap().join().unwrap()
    }
}

#[test]
fn postgres_maintenance_ends_sessions_refuses_connections_and_puts_limits_back() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let (server, url, before) = shop().await;

        // --block database: ALLOW_CONNECTIONS false; a client without PgBouncer sees errors
        let looper = Looper::start(role_url(&server, "app", "shop"));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let r = mj(w, "maintenance on", &url, &["--drain", "1s"]);
        let v = ok_json(&r);
        documented("maintenance on", &v);
        assert_eq!(
            (v["status"].as_str(), v["verification"]["ok"].as_bool()),
            (Some("on"), Some(true)),
            "{}",
            r.stdout
        );
        assert_eq!(
            v["verification"]["application"]["code"], "55000",
            "even the URL's superuser is refused: {}",
            r.stdout
        );
        assert!(
            v["ended_sessions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["user"] == "app"),
            "{}",
            r.stdout
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            write_as(&role_url(&server, "worker", "shop"))
                .await
                .unwrap_err()
                .contains("not currently accepting connections")
        );
        let st = ok_json(&mj(w, "maintenance status", &url, &[]));
        assert_eq!(st["state"], "on");
        assert_eq!(st["sessions"].as_array().unwrap().len(), 0, "{st}");
        let off = mj(w, "maintenance off", &url, &[]);
        assert_eq!(ok_json(&off)["status"], "off", "{}", off.stdout);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (ok, errors, _) = looper.finish();
        assert!(ok > 5, "the client wrote before and after");
        assert!(
            errors.iter().any(|e| e == "57P01" || e == "io"),
            "the open session was ended: {errors:?}"
        );
        assert!(
            errors.iter().any(|e| e == "connect:55000"),
            "new connections were refused: {errors:?}"
        );
        assert_eq!(pg_state(&server).await, before);
        assert_eq!(pg_markers(&server).await, 0);

        // --block roles: CONNECTION LIMIT 0 for app only; its prior limit (7) comes back
        let r = mj(
            w,
            "maintenance on",
            &url,
            &[
                "--block",
                "roles",
                "--app-role",
                "app",
                "--app-url",
                &role_url(&server, "app", "shop"),
            ],
        );
        let v = ok_json(&r);
        assert_eq!(v["status"], "on", "{}", r.stdout);
        assert_eq!(
            v["verification"]["application"]["code"], "53300",
            "{}",
            r.stdout
        );
        assert!(
            strs(&v["could_still_write"])
                .iter()
                .any(|x| x.contains("worker")),
            "other roles still connect: {}",
            r.stdout
        );
        write_as(&role_url(&server, "worker", "shop"))
            .await
            .expect("roles other than app still connect");
        assert!(pg_state(&server).await.contains("role app limit=0"));
        let off = mj(w, "maintenance off", &url, &[]);
        assert_eq!(ok_json(&off)["status"], "off");
        assert_eq!(
            pg_state(&server).await,
            before,
            "the role's own limit 7 is back"
        );
        // refused before anything changes: migsafe's own role, a superuser, no roles at all
        let me = mj(
            w,
            "maintenance on",
            &url,
            &["--block", "roles", "--app-role", "postgres"],
        );
        assert_eq!(me.code, 1);
        assert!(
            json(&me)["message"]
                .as_str()
                .unwrap()
                .contains("lock migsafe out"),
            "{}",
            me.stdout
        );
        let none = mj(w, "maintenance on", &url, &["--block", "roles"]);
        assert_eq!(
            (none.code, json(&none)["status"].as_str()),
            (1, Some("refused"))
        );
        assert_eq!(pg_state(&server).await, before);
        assert_eq!(unfinished(w), 0);
    });
}

#[test]
fn usage_errors_name_the_flag_and_exit_2() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let url = "postgresql://postgres@/shop?host=/nonexistent";
    for (args, needle) in [
        (
            vec!["read-only", "on", "--database-url", url, "--lease", "soon"],
            "--lease soon",
        ),
        (
            vec!["read-only", "on", "--database-url", url, "--block", "roles"],
            "--block is for `maintenance on`",
        ),
        (
            vec![
                "maintenance",
                "on",
                "--database-url",
                url,
                "--super-read-only",
            ],
            "--super-read-only",
        ),
        (
            vec![
                "read-only",
                "on",
                "--database-url",
                url,
                "--scope",
                "everything",
            ],
            "--scope everything",
        ),
        (
            vec!["read-only", "on", "--database-url", url, "--scope", "app"],
            "nothing to switch",
        ),
        (
            vec![
                "read-only",
                "on",
                "--database-url",
                url,
                "--flag-file",
                "/nonexistent/dir/flag",
                "--scope",
                "app",
            ],
            "folder does not exist",
        ),
        (vec!["read-only", "on"], "needs a database"),
        (
            vec!["read-only", "on", "--database-url", url, "--output", "xml"],
            "--output xml",
        ),
    ] {
        let r = run(w, &args);
        crate::support::assert_usage_error(&r, needle);
    }
    let toml = w.join("migsafe.toml");
    std::fs::write(&toml, "[hooks]\nread_only_on = \"\"\n").unwrap();
    crate::support::assert_usage_error(
        &run(w, &["read-only", "status", "--database-url", url]),
        "read_only_on is empty",
    );
    std::fs::write(
        &toml,
        "[pgbouncer]\nadmin_url = \"postgres://u:hunter2@h:6432/app\"\n",
    )
    .unwrap();
    let r = run(w, &["read-only", "status", "--database-url", url]);
    crate::support::assert_usage_error(&r, "admin console");
    assert!(!r.stderr.contains("hunter2"));
}

#[test]
fn sqlite_has_only_the_application_layer_and_says_so() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let db = w.join("app.db");
    std::fs::write(&db, b"").unwrap();
    let url = format!("sqlite:{}", db.display());
    let r = run(w, &["read-only", "on", "--database-url", &url]);
    crate::support::assert_usage_error(
        &r,
        "SQLite has no server-side read-only or maintenance mode",
    );
    let flag = w.join("flags.json");
    let r = mj(
        w,
        "maintenance on",
        &url,
        &["--flag-file", flag.to_str().unwrap()],
    );
    let v = ok_json(&r);
    assert_eq!(
        (v["status"].as_str(), v["scope"].as_str()),
        (Some("on"), Some("app")),
        "{}",
        r.stdout
    );
    let f: Value = serde_json::from_str(&std::fs::read_to_string(&flag).unwrap()).unwrap();
    assert_eq!(f["maintenance"], true);
    let st = ok_json(&mj(w, "maintenance status", &url, &[]));
    assert_eq!(st["state"], "on");
    let off = mj(w, "maintenance off", &url, &[]);
    assert_eq!(ok_json(&off)["status"], "off", "{}", off.stdout);
    assert!(!flag.exists(), "there was no flag file before");
    assert_eq!(unfinished(w), 0);
}

/// migsafe with a `migsafe.toml` in `w`.
fn with_config(w: &Path, toml: &str) {
    std::fs::write(w.join("migsafe.toml"), toml).unwrap();
}

#[test]
fn hooks_and_flag_files_switch_the_application_and_a_failing_hook_undoes_what_was_switched() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let (server, url, before) = shop().await;
        let flag = w.join("app.env");
        std::fs::write(&flag, "READ_ONLY_MODE=false\nOTHER=1\n").unwrap();
        with_config(w, "[hooks]\nread_only_on = \"echo \\\"on $MIGSAFE_MODE $READ_ONLY_MODE $MIGSAFE_DATABASE\\\" >> hooks.log; echo said-on\"\nread_only_off = \"echo \\\"off $MIGSAFE_MODE_STATE $READ_ONLY_MODE\\\" >> hooks.log\"\ntimeout = \"5s\"\n");
        let r = mj(w, "read-only on", &url, &["--flag-file", flag.to_str().unwrap()]);
        let v = ok_json(&r);
        documented("read-only on (hooks)", &v);
        assert_eq!((v["status"].as_str(), v["scope"].as_str()), (Some("on"), Some("both")), "hooks make the default scope both: {}", r.stdout);
        assert_eq!(v["hooks"][0]["exit"], 0);
        let flag_now = std::fs::read_to_string(&flag).unwrap();
        assert!(flag_now.contains("READ_ONLY_MODE=true") && flag_now.contains("MIGSAFE_OPERATION="), "{flag_now}");
        let journal = std::fs::read_to_string(v["journal"].as_str().unwrap()).unwrap();
        assert!(journal.contains("said-on"), "the hook's output is in the journal");
        let off = mj(w, "read-only off", &url, &[]);
        assert_eq!(ok_json(&off)["status"], "off", "{}", off.stdout);
        assert_eq!(std::fs::read_to_string(&flag).unwrap(), "READ_ONLY_MODE=false\nOTHER=1\n", "the previous flag file is back");
        assert_eq!(std::fs::read_to_string(w.join("hooks.log")).unwrap(), "on read-only true shop\noff off false\n");
        assert_eq!(pg_state(&server).await, before);

        // a hook that fails, then one that hangs: exit 1 with the reason, nothing left switched
        for (hook, reason) in [
            ("echo broken >&2; exit 3", "exited with code 3"),
            ("sleep 30", "did not finish within"),
        ] {
            std::fs::remove_file(w.join("hooks.log")).ok();
            with_config(w, &format!("[hooks]\nmaintenance_on = \"{hook}\"\nmaintenance_off = \"echo off >> hooks.log\"\ntimeout = \"1s\"\n"));
            let began = Instant::now();
            let r = mj(w, "maintenance on", &url, &["--flag-file", flag.to_str().unwrap()]);
            assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
            assert!(began.elapsed() < Duration::from_secs(15), "the timeout held");
            let v = json(&r);
            assert_eq!(v["status"], "failed");
            let msg = v["message"].as_str().unwrap();
            assert!(msg.contains(reason) && msg.contains("switched back"), "{msg}");
            if reason.contains("code 3") {
                assert!(msg.contains("broken"), "the hook's output is in the reason: {msg}");
            }
            assert_eq!(std::fs::read_to_string(&flag).unwrap(), "READ_ONLY_MODE=false\nOTHER=1\n");
            assert_eq!(std::fs::read_to_string(w.join("hooks.log")).unwrap_or_default(), "off\n", "the off hook ran for the failed on");
            assert_eq!(pg_state(&server).await, before, "the database was never switched");
            assert_eq!(pg_markers(&server).await, 0);
            assert_eq!(unfinished(w), 0, "the failed run ended its journal");
        }
    });
}

/// A PgBouncer started here, as the service user, on a free local port in front of an ephemeral
/// PostgreSQL (never the system service).
pub(crate) struct Bouncer {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    pub port: u16,
}

impl Bouncer {
    pub(crate) fn start(pg: &EphemeralPostgres, db: &str) -> Bouncer {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.path();
        std::fs::write(
            d.join("pgbouncer.ini"),
            format!(
                "[databases]\n{db} = host={} dbname={db}\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\nauth_type = trust\nauth_file = {}/users.txt\nadmin_users = pgbadmin\npool_mode = transaction\nignore_startup_parameters = extra_float_digits\nlogfile = {}/pgbouncer.log\n",
                pg.socket_dir().display(),
                d.display(),
                d.display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("users.txt"),
            "\"app\" \"\"\n\"postgres\" \"\"\n\"pgbadmin\" \"\"\n",
        )
        .unwrap();
        let mut cmd = Command::new(which("pgbouncer").unwrap());
        cmd.arg(d.join("pgbouncer.ini"));
        // PgBouncer refuses to run as root: as the server's service user, like the servers
        if unsafe { libc::geteuid() } == 0 {
            let u = migsafe::engines::process::service_user(&["postgres", "nobody"]).unwrap();
            for p in [
                d.to_path_buf(),
                d.join("pgbouncer.ini"),
                d.join("users.txt"),
            ] {
                std::os::unix::fs::chown(&p, Some(u.uid), Some(u.gid)).unwrap();
            }
            cmd.uid(u.uid).gid(u.gid);
        }
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        migsafe::sys::child::die_with_migsafe(&mut cmd);
        let child = cmd.spawn().unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < until,
                "pgbouncer did not start: {}",
                std::fs::read_to_string(d.join("pgbouncer.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Bouncer {
            child,
            _dir: dir,
            port,
        }
    }

    pub(crate) fn admin_url(&self) -> String {
        format!("postgres://pgbadmin@127.0.0.1:{}/pgbouncer", self.port)
    }

    pub(crate) fn url(&self, user: &str, db: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn pgbouncer_maintenance_makes_clients_wait_instead_of_failing() {
    if !have("postgres") || !have("pgbouncer") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let (server, url, before) = shop().await;
        let pgb = Bouncer::start(&server, "shop");
        with_config(
            w,
            &format!(
                "[pgbouncer]\nadmin_url = \"{}\"\nmax_wait = \"1s\"\n",
                pgb.admin_url()
            ),
        );

        let looper = Looper::start(pgb.url("app", "shop"));
        tokio::time::sleep(Duration::from_millis(400)).await;
        let r = mj(w, "maintenance on", &url, &["--drain", "1s"]);
        let v = ok_json(&r);
        documented("maintenance on (PgBouncer)", &v);
        assert_eq!(v["status"], "on", "{}", r.stdout);
        assert_eq!(v["verification"]["pool_paused"], true);
        assert_eq!(v["pgbouncer"]["action"], "PAUSE");
        let st = ok_json(&mj(w, "maintenance status", &url, &[]));
        documented("maintenance status (PgBouncer)", &st);
        assert_eq!(st["pgbouncer"]["paused"], true, "{st}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let off = mj(w, "maintenance off", &url, &[]);
        assert_eq!(ok_json(&off)["status"], "off", "{}", off.stdout);
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (ok, errors, slowest) = looper.finish();
        assert!(
            errors.is_empty(),
            "a client behind PgBouncer sees waits, not errors: {errors:?}"
        );
        assert!(
            slowest >= Duration::from_millis(1200),
            "the client waited through the window: {slowest:?}"
        );
        assert!(ok > 10);
        assert_eq!(pg_state(&server).await, before);

        // a transaction that outlasts --max-wait: the pause is cancelled, nothing stays switched
        let mut long = Conn::open(&pgb.url("app", "shop")).await.unwrap();
        long.execute("BEGIN").await.unwrap();
        write_on(&mut long).await.unwrap();
        let r = mj(w, "maintenance on", &url, &[]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        let v = json(&r);
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("did not release its server connections within 1s"),
            "{}",
            r.stdout
        );
        long.execute("COMMIT")
            .await
            .expect("the long transaction was not harmed");
        long.close().await;
        let mut admin = migsafe::engines::pgbouncer::PgBouncer::connect(&pgb.admin_url())
            .await
            .unwrap();
        assert!(
            !admin.pool("shop").await.unwrap().unwrap().paused,
            "the pool is not left paused"
        );
        admin.close().await;
        assert_eq!(pg_state(&server).await, before);
        assert_eq!(unfinished(w), 0);

        // read-only through PgBouncer: RECONNECT gives the pool read-only server connections
        write_as(&pgb.url("app", "shop")).await.unwrap();
        let r = mj(w, "read-only on", &url, &["--drain", "1s"]);
        assert_eq!(
            ok_json(&r)["pgbouncer"]["action"],
            "RECONNECT",
            "{}",
            r.stdout
        );
        assert_eq!(write_as(&pgb.url("app", "shop")).await, Err("25006".into()));
        let off = mj(w, "read-only off", &url, &[]);
        assert_eq!(ok_json(&off)["status"], "off");
        write_as(&pgb.url("app", "shop"))
            .await
            .expect("the pool reconnected read-write after off");
        assert_eq!(pg_state(&server).await, before);
    });
}

#[test]
fn backups_and_restores_never_carry_a_mode() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let (server, url, before) = shop().await;
        let r = mj(w, "read-only on", &url, &[]);
        assert_eq!(ok_json(&r)["status"], "on");
        let b = run(w, &["backup", "create", "--database-url", &url, "--dir", "bk", "--format", "plain", "--output", "json"]);
        let bv = ok_json(&b);
        assert!(strs(&bv["warnings"]).iter().any(|x| x.contains("is in migsafe read-only mode") && x.contains("does not carry")), "{}", b.stdout);
        assert!(b.stderr.contains("is in migsafe read-only mode"), "{}", b.stderr);
        let dump = std::fs::read_to_string(w.join(bv["file"].as_str().unwrap())).unwrap();
        assert!(!dump.contains("default_transaction_read_only") && !dump.contains("migsafe.operation"), "the dump carries no mode");
        // maintenance on top of read-only is allowed (it is stricter); the other way round is not
        let m = mj(w, "maintenance on", &url, &["--block", "roles", "--app-role", "app"]);
        assert_eq!(ok_json(&m)["status"], "on", "{}", m.stdout);
        let ro = mj(w, "read-only on", &url, &[]);
        assert_eq!(ro.code, 1);
        assert!(json(&ro)["message"].as_str().unwrap().contains("does not stack"), "{}", ro.stdout);
        let off = mj(w, "maintenance off", &url, &[]);
        assert_eq!(ok_json(&off)["status"], "off");
        // a swap restore while read-only is on: the restored database does not come up read-only
        let r = run(w, &["restore", "latest", "--database-url", &url, "--dir", "bk", "--yes", "--drain", "1s", "--output", "json"]);
        let rv = ok_json(&r);
        assert_eq!(rv["status"], "restored", "{}", r.stdout);
        assert!(strs(&rv["not_carried_over"]).iter().any(|x| x.contains("default_transaction_read_only")), "{}", r.stdout);
        let mut c = pg_conn(&server, "shop").await;
        let (_, ro) = c.query_text("SHOW default_transaction_read_only").await.unwrap();
        assert_eq!(ro[0][0].as_deref(), Some("off"));
        c.close().await;
        // and switching read-only off afterwards still ends the operation (its marker moved with
        // the old database) without touching anything else
        let off = mj(w, "read-only off", &url, &[]);
        assert_eq!(ok_json(&off)["status"], "off", "{}", off.stdout);
        assert_eq!(pg_markers(&server).await, 0, "no marker left on the kept database either");
        let after = pg_state(&server).await;
        let shop_lines = |s: &str| s.lines().filter(|l| l.contains(" shop ") || l.starts_with("role ")).map(str::to_string).collect::<Vec<_>>();
        assert_eq!(shop_lines(&after), shop_lines(&before), "{after}");
        // the database kept aside by the restore (the live one while the mode was on) is back to
        // its values from before the mode as well
        let kept = rv["kept_as"].as_str().unwrap();
        let kept_lines: Vec<String> = after
            .lines()
            .filter(|l| l.contains(kept))
            .map(|l| l.replace(kept, "shop"))
            .collect();
        let shop_only: Vec<String> = before.lines().filter(|l| l.contains(" shop ")).map(str::to_string).collect();
        assert_eq!(kept_lines, shop_only, "{after}");
        assert_eq!(unfinished(w), 0);
    });
}

#[test]
fn mariadb_read_only_is_global_drains_transactions_and_maintenance_locks_accounts() {
    if !have("mysql") {
        return;
    }
    use migsafe::engines::mysql::ephemeral::EphemeralMysql;
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = EphemeralMysql::start().await.unwrap();
        let url = server.url("shop");
        let as_user = |u: &str| url.replace("root@", &format!("{u}@"));
        let mut root = Conn::open(&server.url("mysql")).await.unwrap();
        root.execute(
            "CREATE DATABASE shop; CREATE TABLE shop.items (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB; \
             CREATE USER app@localhost; GRANT ALL ON shop.* TO app@localhost; \
             CREATE USER old@localhost ACCOUNT LOCK; GRANT SELECT ON shop.* TO old@localhost; \
             CREATE DATABASE other",
        )
        .await
        .unwrap();
        let before_locks = locks(&mut root).await;
        assert_eq!(before_locks, vec![false, true]);

        // global: refused on a server with other databases, unless --server-wide
        let r = mj(w, "read-only on", &url, &[]);
        assert_eq!(r.code, 1);
        assert!(json(&r)["message"].as_str().unwrap().contains("also hosts other"), "{}", r.stdout);
        // one transaction commits during the drain (on a thread of its own: `run` blocks this
        // one), one does not and is ended
        let quick_url = as_user("app");
        let (began_tx, began_rx) = std::sync::mpsc::channel();
        let committer = std::thread::spawn(move || {
            rt().block_on(async move {
                let mut c = Conn::open(&quick_url).await.unwrap();
                c.execute("BEGIN").await.unwrap();
                c.execute("INSERT INTO items (v) VALUES (1)").await.unwrap();
                began_tx.send(()).unwrap();
                tokio::time::sleep(Duration::from_millis(700)).await;
                let r = c.execute("COMMIT").await.map(|_| ()).map_err(|e| e.to_string());
                c.close().await;
                r
            })
        });
        began_rx.recv().unwrap();
        let mut slow = Conn::open(&as_user("app")).await.unwrap();
        slow.execute("BEGIN").await.unwrap();
        slow.execute("INSERT INTO items (v) VALUES (2)").await.unwrap();
        let mut quick = Conn::open(&as_user("app")).await.unwrap();
        let r = mj(w, "read-only on", &url, &["--server-wide", "--drain", "1500ms", "--app-url", &as_user("app")]);
        let v = ok_json(&r);
        documented("read-only on (MariaDB)", &v);
        assert_eq!(v["status"], "on", "{}", r.stdout);
        assert_eq!(v["verification"]["application"]["code"], "1290");
        assert_eq!(v["verification"]["migration_session"]["outcome"], "allowed", "root has READ_ONLY ADMIN: {}", r.stdout);
        assert!(strs(&v["could_still_write"]).iter().any(|x| x.contains("READ_ONLY ADMIN")), "{}", r.stdout);
        committer.join().unwrap().expect("a transaction that ends within --drain commits");
        let writing_at_start = v["drain"]["writing_at_start"].as_array().unwrap().len();
        assert_eq!(writing_at_start, 2, "{}", r.stdout);
        assert!(slow.execute("COMMIT").await.is_err(), "a transaction past --drain was ended");
        assert!(quick.execute("INSERT INTO items (v) VALUES (3)").await.is_err(), "read_only reaches open sessions");
        quick.execute("CREATE TEMPORARY TABLE scratch (a INT)").await.expect("temporary tables stay writable");
        quick.execute("INSERT INTO scratch VALUES (1)").await.expect("temporary tables stay writable");
        let mut mig = migsafe::modes::migration_session(&url).await.unwrap();
        mig.execute("INSERT INTO items (v) VALUES (4)").await.expect("migsafe's session writes");
        mig.close().await;
        let st = ok_json(&mj(w, "read-only status", &url, &[]));
        assert_eq!(st["state"], "on");
        let off = mj(w, "read-only off", &url, &[]);
        assert_eq!(ok_json(&off)["status"], "off");
        let (_, ro) = root.query_text("SELECT CAST(@@global.read_only AS CHAR)").await.unwrap();
        assert_eq!(ro[0][0].as_deref(), Some("OFF"));
        quick.execute("INSERT INTO items (v) VALUES (5)").await.expect("writes again after off");

        // maintenance: the application's accounts are locked and their sessions killed; an
        // account that was locked before stays locked after off
        let r = mj(w, "maintenance on", &url, &["--app-url", &as_user("app")]);
        let v = ok_json(&r);
        assert_eq!(v["status"], "on", "{}", r.stdout);
        assert_eq!(v["verification"]["application"]["code"], "4151", "{}", r.stdout);
        assert!(quick.execute("SELECT 1").await.is_err(), "the open session was killed");
        assert_eq!(locks(&mut root).await, vec![true, true]);
        let off = mj(w, "maintenance off", &url, &[]);
        assert_eq!(ok_json(&off)["status"], "off");
        assert_eq!(locks(&mut root).await, before_locks, "prior locks are back exactly");
        write_as(&as_user("app")).await.expect("app connects again");
        let (_, m) = root.query_text("SELECT COUNT(*) FROM _migsafe.operations").await.unwrap();
        assert_eq!(m[0][0].as_deref(), Some("0"), "no marker left");
        root.close().await;
        assert_eq!(unfinished(w), 0);
    });
}

async fn locks(c: &mut Conn) -> Vec<bool> {
    let mut v = Vec::new();
    for u in ["app", "old"] {
        let (_, r) = c
            .query_text(&format!("SHOW CREATE USER {u}@localhost"))
            .await
            .unwrap();
        v.push(r[0][0].clone().unwrap().contains("ACCOUNT LOCK"));
    }
    v
}

/// Every key of a real JSON output of `cmd` is documented in docs/read-only.md (the keys of
/// each list of sessions once, as `sessions[].<key>`).
pub(crate) fn documented(cmd: &str, v: &Value) {
    let doc = std::fs::read_to_string(crate::support::root().join("docs/read-only.md"))
        .expect("docs/read-only.md");
    let mut keys = std::collections::BTreeSet::new();
    crate::support::key_paths(v, "", &mut keys);
    let lists = [
        "ended_sessions[].",
        "drain.writing_at_start[].",
        "drain.writing_at_end[].",
        "verification.writing_sessions[].",
        "verification.remaining_sessions[].",
        "sessions[].",
    ];
    let missing: Vec<String> = keys
        .into_iter()
        .map(|k| match lists.iter().find_map(|l| k.strip_prefix(l)) {
            Some(field) => format!("sessions[].{field}"),
            None => k,
        })
        .filter(|k| !doc.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/read-only.md does not document these keys of `{cmd}`: {missing:?}"
    );
}

/// `migsafe <spec> --database-url URL <extra…> --output json` (`spec`: `read-only on`,
/// `maintenance status`, `recover`, …).
pub(crate) fn mj(w: &Path, spec: &str, url: &str, extra: &[&str]) -> Run {
    mj_env(w, spec, url, extra, &[])
}

pub(crate) fn mj_env(w: &Path, spec: &str, url: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut args: Vec<&str> = spec.split(' ').collect();
    args.extend(["--database-url", url]);
    args.extend(extra);
    args.extend(["--output", "json"]);
    run_env(w, &args, env)
}

pub(crate) fn run_env(w: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    run_with(w, args, |c| {
        for (k, v) in env {
            c.env(k, v);
        }
    })
}

#[test]
fn every_flag_of_on_is_documented() {
    let doc = std::fs::read_to_string(crate::support::root().join("docs/read-only.md")).unwrap();
    for mode in ["read-only", "maintenance"] {
        let help = run(Path::new("."), &[mode, "on", "--help"]);
        assert_eq!(help.code, 0);
        let flags: Vec<&str> = help
            .stdout
            .split_whitespace()
            .filter(|w| w.starts_with("--"))
            .map(|w| w.trim_end_matches([',', '.', ')', ':', ']']))
            .filter(|w| {
                !matches!(
                    *w,
                    "--help"
                        | "--version"
                        | "--config"
                        | "--quiet"
                        | "--color"
                        | "--database-url"
                        | "--"
                )
            })
            .collect();
        assert!(flags.len() > 10, "{}", help.stdout);
        for f in flags {
            let f = f.split('=').next().unwrap();
            assert!(
                doc.contains(&format!("`{f}")),
                "docs/read-only.md does not document {mode} on {f}"
            );
        }
    }
}
