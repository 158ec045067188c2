//! Ephemeral servers from the installed binaries: start, use, stop and clean up; Ctrl-C and
//! kill -9 of migsafe leave nothing behind once the next run has reaped.

use crate::support::*;
use migsafe::engines::mysql::ephemeral::EphemeralMysql;
use migsafe::engines::postgres::ephemeral::{self as pg, EphemeralPostgres};
use migsafe::engines::process;
use migsafe::engines::sqlite::ephemeral::EphemeralSqlite;
use sqlx::{Connection, Row};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn postgres_starts_runs_sql_and_leaves_nothing() {
    if !have("postgres") {
        return;
    }
    let (ws, pid) = rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        let mut conn = server.connect("postgres").await.unwrap();
        sqlx::query("CREATE TABLE t (id int)")
            .execute(&mut conn)
            .await
            .unwrap();
        let fsync: String = sqlx::query("SHOW fsync")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(fsync, "off", "durability is off for throwaway data");
        let listen: String = sqlx::query("SHOW listen_addresses")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(listen, "", "socket only, no TCP port");
        let user: String = sqlx::query("SELECT current_user")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(user, "postgres");
        conn.close().await.unwrap();
        assert!(
            server
                .server_version
                .starts_with(&server.install.major.to_string())
        );
        (
            server.workspace().to_path_buf(),
            server.server_pid().unwrap(),
        )
    });
    assert!(!ws.exists(), "workspace removed on drop");
    assert!(!process::alive(pid, None), "server stopped on drop");
}

#[test]
fn mariadb_starts_runs_sql_and_leaves_nothing() {
    if !have("mysql") {
        return;
    }
    let (ws, pid) = rt().block_on(async {
        let server = EphemeralMysql::start().await.unwrap();
        let mut conn = server.connect(None).await.unwrap();
        sqlx::query("CREATE DATABASE app")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE app.t (id int)")
            .execute(&mut conn)
            .await
            .unwrap();
        let networking: i64 = sqlx::query("SELECT @@skip_networking")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(networking, 1, "no TCP port");
        conn.close().await.unwrap();
        (
            server.workspace().to_path_buf(),
            server.server_pid().unwrap(),
        )
    });
    assert!(!ws.exists());
    assert!(!process::alive(pid, None));
}

#[test]
fn sqlite_copies_a_source_database() {
    let src_dir = tempfile::tempdir().unwrap();
    let src = src_dir.path().join("app.db");
    let ws = rt().block_on(async {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&src)
            .create_if_missing(true);
        let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
        sqlx::query("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)")
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        let db = EphemeralSqlite::start(Some(&src)).await.unwrap();
        let mut conn = db.connect().await.unwrap();
        let n: i64 = sqlx::query("SELECT count(*) FROM t")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 2);
        sqlx::query("DELETE FROM t")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        db.workspace().to_path_buf()
    });
    assert!(!ws.exists());
    // the source is untouched
    rt().block_on(async {
        let mut c = sqlx::SqliteConnection::connect_with(
            &sqlx::sqlite::SqliteConnectOptions::new().filename(&src),
        )
        .await
        .unwrap();
        let n: i64 = sqlx::query("SELECT count(*) FROM t")
            .fetch_one(&mut c)
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 2);
    });
}

struct Held {
    child: std::process::Child,
    workspace: std::path::PathBuf,
    server_pid: Option<u32>,
}

/// Starts `migsafe debug-ephemeral <engine>` and waits for its announcement line.
fn hold(engine: &str) -> Held {
    let mut child = Command::new(env!("CARGO_BIN_EXE_migsafe"))
        .args(["debug-ephemeral", engine])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    Held {
        child,
        workspace: v["workspace"].as_str().unwrap().into(),
        server_pid: v["server_pid"].as_u64().map(|p| p as u32),
    }
}

fn kill9_then_next_run_reaps(engine: &str) {
    let mut held = hold(engine);
    let server = held.server_pid.unwrap();
    assert!(held.workspace.exists());
    process::send_signal(held.child.id(), libc::SIGKILL);
    held.child.wait().unwrap();
    // migsafe is gone; its server is orphaned but still running
    assert!(
        process::alive(server, None),
        "server outlives a SIGKILLed migsafe"
    );
    // the next run reaps it before starting its own server
    let next = hold(engine);
    assert!(
        !held.workspace.exists(),
        "orphaned workspace removed by the next run"
    );
    assert!(
        process::wait_gone(server, None, Duration::from_secs(10)),
        "orphaned server stopped by the next run"
    );
    let mut next = next;
    drop(next.child.stdin.take()); // EOF: the second run shuts its server down cleanly
    assert!(next.child.wait().unwrap().success());
    assert!(!process::alive(next.server_pid.unwrap(), None));
    assert!(!next.workspace.exists());
}

#[test]
fn postgres_orphan_after_kill_9_is_reaped_by_the_next_run() {
    if have("postgres") {
        kill9_then_next_run_reaps("postgres");
    }
}

#[test]
fn mariadb_orphan_after_kill_9_is_reaped_by_the_next_run() {
    if have("mysql") {
        kill9_then_next_run_reaps("mysql");
    }
}

#[test]
fn ctrl_c_stops_the_server_and_removes_its_files() {
    if !have("postgres") {
        return;
    }
    let mut held = hold("postgres");
    // keep stdin open: waiting on the child would close it, and EOF is the normal way out
    let _stdin = held.child.stdin.take();
    process::send_signal(held.child.id(), libc::SIGINT);
    let out = held.child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "exit code 128 + SIGINT; status {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!process::alive(held.server_pid.unwrap(), None));
    assert!(!held.workspace.exists());
}

#[test]
fn missing_binaries_name_the_package() {
    let err = pg::find_install(Some(std::path::Path::new("/nonexistent/bin")), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--pg-bin-dir"), "{err}");
    let err = pg::find_install(None, None).err();
    if let Some(e) = err {
        assert!(e.to_string().contains("apt-get install postgresql"));
    }
    let _ = root();
}

async fn snapshot_roundtrip(mut conn: migsafe::engines::conn::Conn, setup: &str, change: &str) {
    use migsafe::engines::snapshot::{row_counts, schema_fingerprint};
    conn.execute(setup).await.unwrap();
    let counts = row_counts(&mut conn, u64::MAX).await.unwrap();
    let a = counts
        .iter()
        .find(|t| t.table == "accounts")
        .expect("accounts counted");
    assert_eq!((a.rows, a.estimated), (3, false));
    let before = schema_fingerprint(&mut conn).await.unwrap();
    assert_eq!(before.sha256.len(), 64);
    assert!(
        before.lines.iter().any(|l| l.contains("accounts")),
        "{:?}",
        before.lines
    );
    assert_eq!(
        schema_fingerprint(&mut conn).await.unwrap().sha256,
        before.sha256,
        "stable"
    );
    conn.execute(change).await.unwrap();
    assert_ne!(
        schema_fingerprint(&mut conn).await.unwrap().sha256,
        before.sha256,
        "a schema change changes the fingerprint"
    );
    // with a limit below the estimate, large tables keep their estimate (flagged)
    let estimated = row_counts(&mut conn, 0).await.unwrap();
    assert!(estimated.iter().all(|t| t.estimated
        || t.rows == 0
        || conn.kind() == migsafe::engines::EngineKind::Sqlite));
    conn.close().await;
}

#[test]
fn snapshots_count_rows_and_fingerprint_schemas_on_every_engine() {
    let setup = "CREATE TABLE accounts (id int PRIMARY KEY, email varchar(100) NOT NULL); INSERT INTO accounts VALUES (1, 'a'), (2, 'b'), (3, 'c');";
    let change = "ALTER TABLE accounts ADD COLUMN note varchar(10)";
    rt().block_on(async {
        let db = EphemeralSqlite::start(None).await.unwrap();
        let conn = migsafe::engines::conn::Conn::Sqlite(db.connect().await.unwrap());
        snapshot_roundtrip(conn, setup, change).await;
        if have("postgres") {
            let pg = EphemeralPostgres::start(&Default::default()).await.unwrap();
            let conn =
                migsafe::engines::conn::Conn::Postgres(pg.connect("postgres").await.unwrap());
            snapshot_roundtrip(conn, &format!("{setup} ANALYZE accounts;"), change).await;
        }
        if have("mysql") {
            let my = EphemeralMysql::start().await.unwrap();
            let mut c = my.connect(None).await.unwrap();
            sqlx::query("CREATE DATABASE app")
                .execute(&mut c)
                .await
                .unwrap();
            let conn = migsafe::engines::conn::Conn::Mysql(my.connect(Some("app")).await.unwrap());
            snapshot_roundtrip(conn, &format!("{setup} ANALYZE TABLE accounts;"), change).await;
        }
    });
}
