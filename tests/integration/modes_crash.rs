//! A mode never loses the prior state: kill -9 of migsafe at every step of `read-only on` and
//! `maintenance on` (PostgreSQL with the application layer and PgBouncer, MariaDB), then `off`
//! or `migsafe recover` in a new process puts every setting, the flag file and the pool back
//! from the journal alone; another machine does it from the database marker alone; an interrupt
//! switches back at once; leases expire loudly and `--hold` renews and switches back.

use crate::backup::{ok_json, run};
use crate::engines::rt;
use crate::modes::{
    Bouncer, mj, mj_env, pg_markers, pg_state, role_url, run_env, shop, unfinished, write_as,
};
use crate::support::{have, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn crash(w: &Path, args: &[&str], at: &str) {
    let r = run_env(w, args, &[("MIGSAFE_CRASH_AT", at)]);
    assert_eq!(
        r.code, -1,
        "migsafe must have been killed at {at}: exit {}\n{}\n{}",
        r.code, r.stdout, r.stderr
    );
}

/// Ends the mode with `off` or `recover` (alternately) and checks it passed.
fn end(w: &Path, url: &str, mode: &str, i: usize, at: &str) {
    let r = if i.is_multiple_of(2) {
        run(w, &[mode, "off", "--database-url", url, "--output", "json"])
    } else {
        run(w, &["recover", "--database-url", url, "--output", "json"])
    };
    let v = ok_json(&r);
    let ok = v["status"] == "off" || v["passed"] == true;
    assert!(ok, "{at}: {}\n{}", r.stdout, r.stderr);
}

const PG_READ_ONLY_STEPS: &[&str] = &[
    "mark",
    "flag-file",
    "hook-on",
    "switch",
    "drain",
    "terminate",
    "verify",
    "active",
];

#[test]
fn kill_9_at_every_step_of_postgres_read_only_then_off_or_recover_restores_everything() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let (server, url, before) = shop().await;
        let flag = w.join("app.env");
        std::fs::write(&flag, "READ_ONLY_MODE=false\n").unwrap();
        std::fs::write(
            w.join("migsafe.toml"),
            "[hooks]\nread_only_on = \"echo on >> hooks.log\"\nread_only_off = \"echo off >> hooks.log\"\n",
        )
        .unwrap();
        let args = ["read-only", "on", "--database-url", &url, "--drain", "200ms", "--flag-file", flag.to_str().unwrap()];
        let mut i = 0;
        for step in PG_READ_ONLY_STEPS {
            for when in ["before", "after"] {
                let at = format!("{step}:{when}");
                crash(w, &args, &at);
                end(w, &url, "read-only", i, &at);
                i += 1;
                assert_eq!(pg_state(&server).await, before, "{at}: settings");
                assert_eq!(pg_markers(&server).await, 0, "{at}: marker left");
                assert_eq!(unfinished(w), 0, "{at}: a journal is still open");
                assert_eq!(std::fs::read_to_string(&flag).unwrap(), "READ_ONLY_MODE=false\n", "{at}: flag file");
                let log = std::fs::read_to_string(w.join("hooks.log")).unwrap_or_default();
                assert!(!log.ends_with("on\n"), "{at}: the application was left read-only: {log}");
                write_as(&role_url(&server, "app", "shop")).await.unwrap_or_else(|e| panic!("{at}: {e}"));
            }
        }
        // another machine: the journal stays here (state dir A), `off` runs with an empty state
        // dir (B) and works from the database marker alone
        let a = w.join("machine-a");
        let b = w.join("machine-b");
        let on_a = [("MIGSAFE_STATE_DIR", a.to_str().unwrap())];
        let on_b = [("MIGSAFE_STATE_DIR", b.to_str().unwrap())];
        std::fs::remove_file(w.join("migsafe.toml")).unwrap();
        let r = run_env(w, &["read-only", "on", "--database-url", &url, "--drain", "200ms", "--output", "json"], &[on_a[0], ("MIGSAFE_CRASH_AT", "active:after")]);
        assert_eq!(r.code, -1);
        let st = mj_env(w, "read-only status", &url, &[], &on_b);
        let sv = json(&st);
        assert_eq!((sv["state"].as_str(), sv["source"].as_str()), (Some("on"), Some("marker")), "the marker says it is in force: {}", st.stdout);
        let off = mj_env(w, "read-only off", &url, &[], &on_b);
        assert_eq!(ok_json(&off)["status"], "off", "{}", off.stdout);
        assert_eq!(pg_state(&server).await, before, "switched back from the marker alone");
        assert_eq!(pg_markers(&server).await, 0);
        // machine A's recover finds its journal, sees the database already switched back by B,
        // and only closes the journal
        let rec = mj_env(w, "recover", &url, &[], &on_a);
        let rv = ok_json(&rec);
        assert_eq!(rv["operations"][0]["status"], "recovered", "{}", rec.stdout);
        assert!(rec.stdout.contains("already been switched back"), "{}", rec.stdout);
        assert_eq!(migsafe::journal::unfinished(&a.join("journal")).len(), 0);
        assert_eq!(migsafe::journal::unfinished(&b.join("journal")).len(), 0);
        assert_eq!(pg_state(&server).await, before);

        // maintenance, with --block roles
        let margs = ["maintenance", "on", "--database-url", &url, "--drain", "200ms", "--block", "roles", "--app-role", "app,worker"];
        for step in ["mark", "switch", "drain", "terminate", "verify", "active"] {
            for when in ["before", "after"] {
                let at = format!("maintenance {step}:{when}");
                crash(w, &margs, &format!("{step}:{when}"));
                end(w, &url, "maintenance", i, &at);
                i += 1;
                assert_eq!(pg_state(&server).await, before, "{at}");
                assert_eq!(pg_markers(&server).await, 0, "{at}");
                assert_eq!(unfinished(w), 0, "{at}");
            }
        }
    });
}

#[test]
fn kill_9_during_a_pgbouncer_pause_then_recover_resumes_the_pool() {
    if !have("postgres") || !have("pgbouncer") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let (server, url, before) = shop().await;
        let pgb = Bouncer::start(&server, "shop");
        std::fs::write(
            w.join("migsafe.toml"),
            format!("[pgbouncer]\nadmin_url = \"{}\"\n", pgb.admin_url()),
        )
        .unwrap();
        let args = [
            "maintenance",
            "on",
            "--database-url",
            &url,
            "--drain",
            "200ms",
        ];
        let mut i = 0;
        for step in ["pgbouncer-pause", "switch", "active"] {
            for when in ["before", "after"] {
                let at = format!("{step}:{when}");
                crash(w, &args, &at);
                end(w, &url, "maintenance", i, &at);
                i += 1;
                let mut admin = migsafe::engines::pgbouncer::PgBouncer::connect(&pgb.admin_url())
                    .await
                    .unwrap();
                assert!(
                    !admin.pool("shop").await.unwrap().unwrap().paused,
                    "{at}: the pool was left paused"
                );
                admin.close().await;
                assert_eq!(pg_state(&server).await, before, "{at}");
                assert_eq!(unfinished(w), 0, "{at}");
                write_as(&pgb.url("app", "shop"))
                    .await
                    .unwrap_or_else(|e| panic!("{at}: {e}"));
            }
        }
        // without the admin URL, recover refuses to pretend: the pool stays listed as failed
        crash(w, &args, "active:after");
        std::fs::remove_file(w.join("migsafe.toml")).unwrap();
        let r = mj(w, "recover", &url, &[]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        assert!(
            r.stdout
                .contains("no PgBouncer admin URL is configured here"),
            "{}",
            r.stdout
        );
        let r = mj_env(
            w,
            "recover",
            &url,
            &[],
            &[("MIGSAFE_PGBOUNCER_ADMIN_URL", &pgb.admin_url())],
        );
        assert_eq!(ok_json(&r)["passed"], true, "{}", r.stdout);
        assert_eq!(pg_state(&server).await, before);
        assert_eq!(unfinished(w), 0);
    });
}

#[test]
fn kill_9_at_every_step_of_mariadb_read_only_then_off_or_recover_restores_read_only() {
    if !have("mysql") {
        return;
    }
    use migsafe::engines::conn::Conn;
    use migsafe::engines::mysql::ephemeral::EphemeralMysql;
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = EphemeralMysql::start().await.unwrap();
        let url = server.url("shop");
        let mut root = Conn::open(&server.url("mysql")).await.unwrap();
        root.execute("CREATE DATABASE shop; CREATE TABLE shop.items (id INT AUTO_INCREMENT PRIMARY KEY, v INT); CREATE USER app@localhost; GRANT ALL ON shop.* TO app@localhost").await.unwrap();
        let args = ["read-only", "on", "--database-url", &url, "--drain", "200ms"];
        let mut i = 0;
        for step in ["mark", "drain", "switch", "terminate", "verify", "active"] {
            for when in ["before", "after"] {
                let at = format!("{step}:{when}");
                crash(w, &args, &at);
                end(w, &url, "read-only", i, &at);
                i += 1;
                assert_eq!(my_state(&mut root).await, ("OFF".to_string(), "0".to_string()), "{at}");
                assert_eq!(unfinished(w), 0, "{at}");
            }
        }
        // maintenance locks and unlocks the account
        for when in ["before", "after"] {
            let at = format!("switch:{when}");
            crash(w, &["maintenance", "on", "--database-url", &url], &at);
            end(w, &url, "maintenance", i, &at);
            i += 1;
            let (_, r) = root.query_text("SHOW CREATE USER app@localhost").await.unwrap();
            assert!(!r[0][0].clone().unwrap().contains("ACCOUNT LOCK"), "{at}");
        }
        root.close().await;
    });
}

/// MariaDB's global read_only and the number of migsafe markers.
async fn my_state(c: &mut migsafe::engines::conn::Conn) -> (String, String) {
    let (_, r) = c
        .query_text("SELECT CAST(@@global.read_only AS CHAR), CAST((SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '_migsafe' AND table_name = 'operations') AS CHAR)")
        .await
        .unwrap();
    let markers = if r[0][1].as_deref() == Some("1") {
        let (_, m) = c
            .query_text("SELECT CAST(COUNT(*) AS CHAR) FROM _migsafe.operations")
            .await
            .unwrap();
        m[0][0].clone().unwrap()
    } else {
        "0".into()
    };
    (r[0][0].clone().unwrap(), markers)
}

fn spawn(w: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_migsafe"))
        .args(args)
        .current_dir(w)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_state(w: &Path, url: &str, mode: &str, want: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let r = run(
            w,
            &[mode, "status", "--database-url", url, "--output", "json"],
        );
        if json(&r)["state"] == want {
            return;
        }
        assert!(
            Instant::now() < until,
            "{mode} never became {want}: {}",
            r.stdout
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn leases_expire_loudly_and_hold_renews_and_switches_back() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let (server, url, before) = shop().await;

        // an expired lease: status says so (exit 1), every command that connects shouts, and
        // recover ends it without being named
        let r = mj(w, "read-only on", &url, &["--lease", "1s"]);
        assert_eq!(ok_json(&r)["status"], "on");
        std::thread::sleep(Duration::from_millis(1500));
        let st = mj(w, "read-only status", &url, &[]);
        assert_eq!(st.code, 1, "{}", st.stdout);
        assert_eq!(json(&st)["lease_expired"], true);
        for cmd in [
            vec![
                "integrity-check",
                "--database-url",
                &url,
                "--level",
                "catalog",
            ],
            vec!["maintenance", "status", "--database-url", &url],
            vec![
                "backup",
                "create",
                "--database-url",
                &url,
                "--dir",
                "bk",
                "--no-verify",
            ],
        ] {
            let r = run(w, &cmd);
            assert!(
                r.stderr.contains(
                    "WARNING: LEASE EXPIRED: database shop is still in migsafe read-only mode"
                ),
                "{cmd:?}: {}",
                r.stderr
            );
        }
        let rec = mj(w, "recover", &url, &[]);
        assert_eq!(
            ok_json(&rec)["operations"][0]["status"],
            "recovered",
            "{}",
            rec.stdout
        );
        assert_eq!(pg_state(&server).await, before);

        // --hold with a command: renewed while it runs, switched back when it ends, its exit
        // code passed on
        let r = run(
            w,
            &[
                "read-only",
                "on",
                "--database-url",
                &url,
                "--hold",
                // renewed every second: a loaded machine still renews well before the lease ends
                "--lease",
                "3s",
                "--output",
                "json",
                "--",
                "sh",
                "-c",
                "echo \"$MIGSAFE_MODE $READ_ONLY_MODE\" > held.txt; sleep 3.5; exit 4",
            ],
        );
        assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
        let v = json(&r);
        assert_eq!(v["status"], "off", "{}", r.stdout);
        assert!(v["held"]["renewals"].as_u64().unwrap() >= 2, "{}", r.stdout);
        assert_eq!(v["held"]["command_exit"], 4);
        crate::modes::documented("read-only on --hold", &v);
        assert_eq!(
            std::fs::read_to_string(w.join("held.txt")).unwrap(),
            "read-only true\n"
        );
        let journal = std::fs::read_to_string(v["journal"].as_str().unwrap()).unwrap();
        // each renewal the report counts is in the journal (how many fit in the command's 3.5 s
        // depends on the machine's load: at least the two asserted above)
        let renewals = v["held"]["renewals"].as_u64().unwrap() as usize;
        assert!(
            journal.matches("\"step\":\"renew-lease\"").count() >= renewals,
            "renewals are journaled: {renewals} reported\n{journal}"
        );
        assert_eq!(pg_state(&server).await, before);
        assert_eq!(unfinished(w), 0);

        // --hold without a command: `off` from another process asks it to switch back
        let holder = spawn(
            w,
            &[
                "read-only",
                "on",
                "--database-url",
                &url,
                "--hold",
                "--lease",
                "2s",
                "--output",
                "json",
            ],
        );
        wait_state(w, &url, "read-only", "on");
        let st = ok_json(&mj(w, "read-only status", &url, &[]));
        assert_eq!(st["held"], true, "{st}");
        let off = mj(w, "read-only off", &url, &[]);
        let ov = ok_json(&off);
        assert!(
            ov["undone"][0].as_str().unwrap().contains("--hold process"),
            "{}",
            off.stdout
        );
        let out = holder.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(143),
            "SIGTERM: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("read-only switched back"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(pg_state(&server).await, before);
        assert_eq!(unfinished(w), 0);

        // a holder killed with -9 stops renewing: the lease runs out and recover ends it
        let mut holder = spawn(
            w,
            &[
                "maintenance",
                "on",
                "--database-url",
                &url,
                "--hold",
                "--lease",
                "1s",
                "--block",
                "roles",
                "--app-role",
                "app",
            ],
        );
        wait_state(w, &url, "maintenance", "on");
        holder.kill().unwrap();
        holder.wait().unwrap();
        let rec = ok_json(&mj(w, "recover", &url, &[]));
        assert_eq!(
            rec["operations"][0]["status"], "active",
            "within its lease, a mode is left alone: {rec}"
        );
        std::thread::sleep(Duration::from_millis(1500));
        let st = mj(w, "maintenance status", &url, &[]);
        assert_eq!(json(&st)["lease_expired"], true, "{}", st.stdout);
        let rec = ok_json(&mj(w, "recover", &url, &[]));
        assert_eq!(rec["operations"][0]["status"], "recovered", "{rec}");
        assert_eq!(pg_state(&server).await, before);

        // an interrupt during the drain switches back at once, with or without a terminal
        let mut busy = migsafe::engines::conn::Conn::open(&role_url(&server, "worker", "shop"))
            .await
            .unwrap();
        busy.execute("BEGIN").await.unwrap();
        busy.execute("INSERT INTO items (v) VALUES (1)")
            .await
            .unwrap();
        let child = spawn(
            w,
            &["read-only", "on", "--database-url", &url, "--drain", "30s"],
        );
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let open = migsafe::journal::unfinished(&w.join(".migsafe/journal"));
            if open.iter().flatten().any(|s| s.started("drain")) {
                break;
            }
            assert!(Instant::now() < until, "the drain never started");
            std::thread::sleep(Duration::from_millis(50));
        }
        let began = Instant::now();
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let out = child.wait_with_output().unwrap();
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "the interrupt did not wait for the drain"
        );
        assert_eq!(
            out.status.code(),
            Some(130),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("read-only switched back"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(pg_state(&server).await, before);
        assert_eq!(unfinished(w), 0);
        busy.execute("COMMIT")
            .await
            .expect("the interrupted switch ended nothing");
        busy.close().await;
    });
}
