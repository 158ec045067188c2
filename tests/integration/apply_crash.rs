//! kill -9 at every journaled step of `migsafe apply`, in both of its modes — a migration run in
//! one transaction with its history row (PostgreSQL) and one run statement by statement with
//! the tool's in-progress mark (a `-- no-transaction` file on PostgreSQL, every file on
//! MariaDB, whose DDL commits on its own) — then `migsafe recover` (its default, `--resume`,
//! and `--abort`): the history and the schema agree, the tool's in-progress mark is gone (and
//! before recover, `status` names the tool's repair), no journal or marker is left, and after
//! `apply` runs again every statement has run exactly once.

use crate::backup::{run, run_with};
use crate::engines::rt;
use crate::history::{Server, exec};
use crate::support::{Run, have, json};
use migsafe::engines::conn::Conn;
use std::path::Path;

const M1: &str = "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n";
const M2: &str = "-- no-transaction\nCREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\nINSERT INTO b VALUES (2);\n";

const PG_STEPS: &[&str] = &[
    "lock",
    "create-table",
    "apply 1",
    "start 2",
    "statement 2 1",
    "statement 2 2",
    "statement 2 3",
    "record 2",
];
const MY_STEPS: &[&str] = &[
    "lock",
    "create-table",
    "start 1",
    "statement 1 1",
    "statement 1 2",
    "record 1",
    "start 2",
    "statement 2 1",
    "statement 2 2",
    "statement 2 3",
    "record 2",
];

async fn count(url: &str, table: &str) -> Option<u64> {
    let mut c = Conn::open(url).await.unwrap();
    let r = c.query_text(&format!("SELECT COUNT(*) FROM {table}")).await;
    c.close().await;
    r.ok()
        .and_then(|(_, r)| r.into_iter().next())
        .and_then(|r| r.into_iter().next().flatten())
        .map(|n| n.parse().unwrap())
}

/// `(version, success)` rows of `_sqlx_migrations` (none when the table is missing).
async fn history(url: &str) -> Vec<(String, String)> {
    let mut c = Conn::open(url).await.unwrap();
    let r = c
        .query_text("SELECT CAST(version AS CHAR(20)), CASE WHEN success THEN 'ok' ELSE 'dirty' END FROM _sqlx_migrations ORDER BY version")
        .await;
    c.close().await;
    r.map(|(_, rows)| {
        rows.into_iter()
            .map(|r| {
                (
                    r[0].clone().unwrap().trim().to_string(),
                    r[1].clone().unwrap(),
                )
            })
            .collect()
    })
    .unwrap_or_default()
}

async fn reset(srv: &Server, admin: &str) -> String {
    match srv.engine() {
        "postgres" => exec(admin, "DROP DATABASE IF EXISTS shop WITH (FORCE)").await,
        _ => exec(admin, "DROP DATABASE IF EXISTS shop").await,
    }
    srv.create("shop").await
}

/// `migsafe recover`: `--abort`, or `--resume` given explicitly, or its default (resume).
fn recover(work: &Path, url: &str, abort: bool, explicit: bool) -> (Run, serde_json::Value) {
    let mut args = vec!["recover", "--database-url", url, "--output", "json"];
    if abort {
        args.push("--abort");
    } else if explicit {
        args.push("--resume");
    }
    let r = run(work, &args);
    let v = json(&r);
    (r, v)
}

async fn one_point(srv: &Server, admin: &str, work: &Path, dir: &Path, at: &str, abort: bool) {
    let what = format!(
        "{} {at} {}",
        srv.engine(),
        if abort { "abort" } else { "resume" }
    );
    let url = reset(srv, admin).await;
    let d = dir.to_str().unwrap();
    let args = [
        "apply",
        d,
        "--layout",
        "sqlx",
        "--database-url",
        &url,
        "--format",
        "json",
    ];
    let r = run_with(work, &args, |c| {
        c.env("MIGSAFE_CRASH_AT", at);
    });
    assert_eq!(
        r.code, -1,
        "{what}: must have been killed: {}\n{}",
        r.stdout, r.stderr
    );
    // before recover: the in-progress mark shows as the tool's failed state, with its repair
    let h = history(&url).await;
    let st = run(
        work,
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
    assert!(
        st.stderr.contains("migsafe recover --operation"),
        "{what}: status names the unfinished apply: {}",
        st.stderr
    );
    if h.iter().any(|(_, s)| s == "dirty") {
        let s = json(&st);
        let failed: Vec<&serde_json::Value> = s["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["state"] == "failed")
            .collect();
        assert_eq!(failed.len(), 1, "{what}: {s}");
        assert!(
            failed[0]["note"]
                .as_str()
                .unwrap()
                .contains("DELETE FROM _sqlx_migrations WHERE version = "),
            "{what}: sqlx's repair: {s}"
        );
        assert_eq!(st.code, 1);
    }
    let (rr, rep) = recover(work, &url, abort, at.ends_with(":after"));
    assert_eq!(rr.code, 0, "{what}: recover: {}\n{}", rr.stdout, rr.stderr);
    assert_eq!(rep["passed"], true, "{what}: {rep}");
    let done: Vec<String> = rep["operations"][0]["done"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    assert!(
        migsafe::journal::unfinished(&work.join(".migsafe/journal")).is_empty(),
        "{what}: a journal is left open"
    );
    {
        let kind = Conn::open(admin).await.unwrap().kind();
        let mut c = Conn::open(admin).await.unwrap();
        let markers = kind.engine().admin().markers(&mut c).await.unwrap();
        c.close().await;
        assert!(markers.is_empty(), "{what}: markers left: {markers:?}");
    }
    // the mark is gone; what the history records as applied is complete
    let h = history(&url).await;
    assert!(
        h.iter().all(|(_, s)| s == "ok"),
        "{what}: in-progress mark left: {h:?}"
    );
    let recorded = |v: &str| h.iter().any(|(x, _)| x == v);
    for (v, table, rows) in [("1", "a", 1), ("2", "b", 2)] {
        let n = count(&url, table).await;
        if recorded(v) {
            assert_eq!(
                n,
                Some(rows),
                "{what}: migration {v} recorded, not complete"
            );
        } else if let Some(n) = n {
            // only --abort leaves statements that ran, and it names them
            assert!(
                abort,
                "{what}: resume left migration {v} half-applied ({n} rows)"
            );
            assert!(
                done.iter().any(|d| d.contains("stay applied")),
                "{what}: abort must name what stays: {done:?}"
            );
            // the operator undoes them, as the message asks
            exec(&url, &format!("DROP TABLE {table}")).await;
        }
    }
    if !abort {
        assert!(
            !done.iter().any(|d| d.contains("stay applied")),
            "{what}: {done:?}"
        );
    }
    // apply again: everything exactly once
    let again = run(work, &args);
    assert_eq!(
        again.code, 0,
        "{what}: apply after recover: {}\n{}",
        again.stdout, again.stderr
    );
    assert_eq!(
        count(&url, "a").await,
        Some(1),
        "{what}: migration 1 ran twice"
    );
    assert_eq!(
        count(&url, "b").await,
        Some(2),
        "{what}: a statement of migration 2 ran twice"
    );
    assert_eq!(
        history(&url).await,
        [
            ("1".to_string(), "ok".to_string()),
            ("2".into(), "ok".into())
        ],
        "{what}"
    );
}

fn crash_loop(engine: &str, steps: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("m");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("1_a.sql"), M1).unwrap();
    std::fs::write(dir.join("2_b.sql"), M2).unwrap();
    rt().block_on(async {
        let srv = Server::start(engine).await;
        let admin = match &srv {
            Server::Pg(s) => s.url("postgres"),
            Server::My(s) => s.url("mysql"),
            Server::Lite(_) => unreachable!(),
        };
        // the plan: both modes where expected
        let url = reset(&srv, &admin).await;
        let plan = json(&run(
            work.path(),
            &[
                "apply",
                dir.to_str().unwrap(),
                "--layout",
                "sqlx",
                "--database-url",
                &url,
                "--dry-run",
                "--format",
                "json",
            ],
        ));
        let atomic: Vec<bool> = plan["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["atomic"].as_bool().unwrap())
            .collect();
        assert_eq!(
            atomic,
            if engine == "postgres" {
                [true, false]
            } else {
                [false, false]
            },
            "{plan}"
        );
        for step in steps {
            for when in ["before", "after"] {
                for abort in [false, true] {
                    one_point(
                        &srv,
                        &admin,
                        work.path(),
                        &dir,
                        &format!("{step}:{when}"),
                        abort,
                    )
                    .await;
                }
            }
        }
    });
}

#[test]
fn kill_9_at_every_step_of_a_postgres_apply_then_recover() {
    if have("postgres") {
        crash_loop("postgres", PG_STEPS);
    }
}

#[test]
fn kill_9_at_every_step_of_a_mariadb_apply_then_recover() {
    if have("mysql") {
        crash_loop("mysql", MY_STEPS);
    }
}

/// SIGTERM while a slow statement of a statement-by-statement migration runs, with and without
/// a terminal: migsafe exits 143 naming the recover command; its server session is still
/// running the statement, and recover ends it before judging what took effect, then finishes the
/// migration with every statement run once.
fn sigterm_on(engine: &str, slow: &str) {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let dir = w.join("m");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("1_slow.sql"),
        format!("-- no-transaction\nCREATE TABLE t (id int);\n{slow}\nINSERT INTO t VALUES (2);\n"),
    )
    .unwrap();
    rt().block_on(async {
        let srv = Server::start(engine).await;
        let admin = match &srv {
            Server::Pg(s) => s.url("postgres"),
            Server::My(s) => s.url("mysql"),
            Server::Lite(_) => unreachable!(),
        };
        for tty in [false, true] {
            let url = reset(&srv, &admin).await;
            let journals = w.join(".migsafe/journal");
            let _ = std::fs::remove_dir_all(&journals);
            let bin = env!("CARGO_BIN_EXE_migsafe");
            let line = format!(
                "{bin} apply {} --layout sqlx --database-url '{url}'",
                dir.display()
            );
            let mut cmd = if tty {
                // a pseudo-terminal: `script` runs the command on one
                let mut c = std::process::Command::new("script");
                c.args(["-qec", &line, "/dev/null"]);
                c
            } else {
                let mut c = std::process::Command::new("sh");
                c.args(["-c", &format!("exec {line}")]);
                c
            };
            let child = cmd
                .current_dir(w)
                .env("NO_COLOR", "1")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            // wait until the slow statement runs, then SIGTERM the migsafe process the journal names
            let mut pid = None;
            for _ in 0..200 {
                let open = migsafe::journal::unfinished(&journals);
                if let Some(Ok(st)) = open.into_iter().next()
                    && st.steps.iter().any(|s| s.name == "statement 1 2")
                {
                    pid = Some(st.pid);
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let pid = pid.expect("the apply reached statement 2");
            // SAFETY: a plain kill(2) of the process this test started.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
            let out = child.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(143), "{engine} tty {tty}: {text}");
            assert!(
                text.contains("migsafe recover --operation"),
                "tty {tty}: {text}"
            );
            let (rr, rep) = recover(w, &url, false, false);
            assert_eq!(rr.code, 0, "tty {tty}: {}", rr.stdout);
            assert_eq!(rep["passed"], true);
            assert_eq!(
                count(&url, "t").await,
                Some(2),
                "tty {tty}: every statement once"
            );
            assert_eq!(history(&url).await, [("1".to_string(), "ok".to_string())]);
        }
    });
}

#[test]
fn sigterm_during_a_postgres_apply_with_and_without_a_terminal_then_recover() {
    if have("postgres") {
        sigterm_on("postgres", "INSERT INTO t SELECT 1 FROM pg_sleep(2);");
    }
}

#[test]
fn sigterm_during_a_mariadb_apply_with_and_without_a_terminal_then_recover() {
    if have("mysql") {
        sigterm_on("mysql", "INSERT INTO t SELECT 1 FROM (SELECT SLEEP(2)) s;");
    }
}

/// A statement whose effect no probe can see (an UPDATE) was running when migsafe was killed:
/// recover never guesses — `--resume` stops and says what to check, leaving the tool's mark and
/// its repair in `status`; `--abort` clears the mark and names what stays applied.
#[test]
fn recover_refuses_to_guess_an_interrupted_update() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let dir = w.join("m");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("1_u.sql"),
        "-- no-transaction\nCREATE TABLE u (n int);\nINSERT INTO u VALUES (1);\nUPDATE u SET n = n + 1;\n",
    )
    .unwrap();
    rt().block_on(async {
        let srv = Server::start("postgres").await;
        let Server::Pg(pg) = &srv else { unreachable!() };
        let url = reset(&srv, &pg.url("postgres")).await;
        let d = dir.to_str().unwrap();
        let r = run_with(
            w,
            &["apply", d, "--layout", "sqlx", "--database-url", &url],
            |c| {
                c.env("MIGSAFE_CRASH_AT", "statement 1 3:after");
            },
        );
        assert_eq!(r.code, -1);
        let (rr, rep) = recover(w, &url, false, true);
        assert_eq!(rr.code, 1, "{}", rr.stdout);
        let msg = rep["operations"][0]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("cannot see whether it took effect") && msg.contains("UPDATE u"),
            "{msg}"
        );
        assert!(
            msg.contains("DELETE FROM _sqlx_migrations WHERE version = 1"),
            "sqlx's repair: {msg}"
        );
        assert_eq!(
            history(&url).await,
            [("1".to_string(), "dirty".to_string())],
            "the mark stays for the operator"
        );
        let n = crate::history::texts(&url, "SELECT n::text FROM u").await;
        assert_eq!(n[0][0].as_deref(), Some("2"), "the UPDATE is not run again");
        let (rr, rep) = recover(w, &url, true, false);
        assert_eq!(rr.code, 0, "{}", rr.stdout);
        let done = rep["operations"][0]["done"].to_string();
        assert!(
            done.contains("stay applied") && done.contains("cannot see whether"),
            "{done}"
        );
        assert!(history(&url).await.is_empty(), "--abort clears the mark");
        assert!(migsafe::journal::unfinished(&w.join(".migsafe/journal")).is_empty());
    });
}
