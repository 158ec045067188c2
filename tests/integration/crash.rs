//! kill -9 at every step of a restore, then `migsafe recover`: the database is connectable and
//! complete (the data from before the restore or the backup's, by row counts and schema
//! fingerprint), no partial copy, no marker, no open journal is left. `MIGSAFE_CRASH_AT` makes
//! migsafe SIGKILL itself right after journaling a step (`before`: the step never acted) or
//! right after the step acted (`after`: its `done` was never journaled), so every boundary is
//! hit deterministically; children die with it.

use crate::backup::{PG_CHANGE, PG_SCHEMA, ok_json, pg_conn, pg_exec, run, run_with};
use crate::engines::rt;
use crate::support::have;
use migsafe::engines::EngineKind;
use migsafe::engines::conn::Conn;
use migsafe::engines::mysql::ephemeral::EphemeralMysql;
use migsafe::engines::postgres::ephemeral::EphemeralPostgres;
use migsafe::engines::snapshot;
use std::path::Path;

/// Row counts (exact) and schema fingerprint: what "the same data" means here.
type Snap = (Vec<(String, u64)>, String);

async fn snap(url: &str) -> Snap {
    let mut c = Conn::open(url)
        .await
        .unwrap_or_else(|e| panic!("the database must be connectable: {e}"));
    let rows = snapshot::row_counts(&mut c, u64::MAX).await.unwrap();
    let fp = snapshot::schema_fingerprint(&mut c).await.unwrap();
    c.close().await;
    (
        rows.into_iter().map(|t| (t.qualified(), t.rows)).collect(),
        fp.sha256,
    )
}

fn crash(work: &Path, args: &[&str], at: &str) {
    let r = run_with(work, args, |c| {
        c.env("MIGSAFE_CRASH_AT", at);
    });
    assert_eq!(
        r.code, -1,
        "migsafe must have been killed at {at}: exit {}\n{}\n{}",
        r.code, r.stdout, r.stderr
    );
}

/// Recovers, then checks what every crash point must leave.
async fn recover_and_check(
    work: &Path,
    url: &str,
    admin_url: &str,
    old: &Snap,
    backup: &Snap,
    at: &str,
) {
    let r = run(
        work,
        &["recover", "--database-url", url, "--output", "json"],
    );
    let v = ok_json(&r);
    assert_eq!(v["passed"], true, "{at}: {}", r.stdout);
    let now = snap(url).await;
    assert!(
        now == *old || now == *backup,
        "{at}: the database is neither as it was nor as the backup: {now:?}"
    );
    let open = migsafe::journal::unfinished(&work.join(".migsafe/journal"));
    assert!(
        open.is_empty(),
        "{at}: a journal is still open after recover"
    );
    let eng = Conn::open(admin_url).await.unwrap().kind().engine();
    let mut a = Conn::open(admin_url).await.unwrap();
    let markers = eng.admin().markers(&mut a).await.unwrap();
    assert!(markers.is_empty(), "{at}: markers left: {markers:?}");
    let dbs = eng.admin().databases(&mut a).await.unwrap();
    assert!(
        !dbs.iter()
            .any(|d| d.contains("_restore_") && !d.contains("_before_restore_")),
        "{at}: a partial copy is left: {dbs:?}"
    );
    a.close().await;
    // and the next restore is not refused by anything this one left
    let check = run(
        work,
        &[
            "restore",
            "latest",
            "--database-url",
            url,
            "--dir",
            "backups",
            "--check",
            "--output",
            "json",
        ],
    );
    assert_eq!(
        ok_json(&check)["status"],
        "checked",
        "{at}: {}",
        check.stdout
    );
    assert!(
        !names(&work.join("backups"))
            .iter()
            .any(|n| n.starts_with(".migsafe-staging")),
        "{at}: a staging folder of the killed run is left"
    );
}

fn names(dir: &Path) -> Vec<String> {
    crate::backup::names(dir)
}

const PG_SWAP_STEPS: &[&str] = &[
    "mark",
    "create-copy",
    "load-copy",
    "verify-copy",
    "deny-connections",
    "drain",
    "swap",
];
const PG_IN_PLACE_STEPS: &[&str] = &[
    "mark",
    "safety-backup",
    "read-only",
    "drain",
    "load",
    "read-write",
];

fn pg_loop(strategy: &str, steps: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        // shop_bk: the state at the backup; shop_old: the state the restore replaces
        pg_exec(&server, "postgres", "CREATE DATABASE shop_bk").await;
        pg_exec(&server, "shop_bk", PG_SCHEMA).await;
        pg_exec(&server, "postgres", "CREATE DATABASE shop TEMPLATE shop_bk").await;
        let url = server.url("shop");
        let admin_url = server.url("postgres");
        ok_json(&run(w, &["backup", "create", "--database-url", &url, "--dir", "backups", "--output", "json"]));
        pg_exec(&server, "shop", PG_CHANGE).await;
        pg_exec(&server, "postgres", "CREATE DATABASE shop_old TEMPLATE shop").await;
        let backup = snap(&server.url("shop_bk")).await;
        let old = snap(&server.url("shop_old")).await;
        assert_ne!(old, backup);
        for step in steps {
            for when in ["before", "after"] {
                let at = format!("{step}:{when}");
                crash(w, &["restore", "latest", "--database-url", &url, "--dir", "backups", "--yes", "--drain", "1s", "--strategy", strategy, "--output", "json"], &at);
                recover_and_check(w, &url, &admin_url, &old, &backup, &at).await;
                // the next round starts again from the old state
                let mut a = pg_conn(&server, "postgres").await;
                let (_, dbs) = a.query_text("SELECT datname::text FROM pg_database WHERE datname LIKE 'shop\\_%before\\_restore%' OR datname = 'shop'").await.unwrap();
                for d in dbs.into_iter().filter_map(|r| r.into_iter().next().flatten()) {
                    a.execute(&format!("DROP DATABASE \"{d}\" WITH (FORCE)")).await.unwrap();
                }
                a.execute("CREATE DATABASE shop TEMPLATE shop_old").await.unwrap();
                a.close().await;
            }
        }
    });
}

#[test]
fn kill_9_at_every_step_of_a_postgres_swap_restore_then_recover() {
    if have("postgres") {
        pg_loop("swap", PG_SWAP_STEPS);
    }
}

#[test]
fn kill_9_at_every_step_of_a_postgres_in_place_restore_then_recover() {
    if have("postgres") {
        pg_loop("in-place", PG_IN_PLACE_STEPS);
    }
}

pub(crate) const MY_SCHEMA: &str = "
CREATE TABLE users (id int AUTO_INCREMENT PRIMARY KEY, email varchar(100) NOT NULL UNIQUE, bio text);
CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL, total decimal(10,2), FOREIGN KEY (user_id) REFERENCES users(id));
CREATE TRIGGER orders_bi BEFORE INSERT ON orders FOR EACH ROW SET NEW.total = IFNULL(NEW.total, 0);
INSERT INTO users (email, bio) VALUES ('a@x', 'x'), ('b@x', NULL), ('c@x', 'y');
INSERT INTO orders VALUES (1, 1, 5.5), (2, 2, 20), (3, 3, NULL);
";
const MY_CHANGE: &str =
    "DELETE FROM orders WHERE id = 3; INSERT INTO users (email) VALUES ('late@x');";
const MY_STEPS: &[&str] = &[
    "mark",
    "create-scratch",
    "drop-scratch",
    "safety-backup",
    "drain",
    "load",
];

async fn my_reset(server: &EphemeralMysql, changed: bool) {
    let mut a = Conn::Mysql(server.connect(None).await.unwrap());
    a.execute("DROP DATABASE IF EXISTS shop; CREATE DATABASE shop")
        .await
        .unwrap();
    a.close().await;
    let mut c = Conn::open(&server.url("shop")).await.unwrap();
    c.execute(MY_SCHEMA).await.unwrap();
    if changed {
        c.execute(MY_CHANGE).await.unwrap();
    }
    c.close().await;
}

#[test]
fn kill_9_at_every_step_of_a_mariadb_in_place_restore_then_recover() {
    if !have("mysql") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = EphemeralMysql::start().await.unwrap();
        let url = server.url("shop");
        let admin_url = server.url("information_schema");
        my_reset(&server, false).await;
        let backup = snap(&url).await;
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
        my_reset(&server, true).await;
        let old = snap(&url).await;
        assert_ne!(old, backup);
        for step in MY_STEPS {
            for when in ["before", "after"] {
                let at = format!("{step}:{when}");
                crash(
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
                        "--output",
                        "json",
                    ],
                    &at,
                );
                recover_and_check(w, &url, &admin_url, &old, &backup, &at).await;
                my_reset(&server, true).await;
            }
        }
    });
}

#[test]
fn the_crash_switch_names_real_steps() {
    // a step renamed in the code without the loops above following would silently test nothing
    let src = std::fs::read_to_string(crate::support::root().join("src/restore/postgres.rs"))
        .unwrap()
        + &std::fs::read_to_string(crate::support::root().join("src/restore/mysql.rs")).unwrap()
        + &std::fs::read_to_string(crate::support::root().join("src/restore/mod.rs")).unwrap();
    for step in PG_SWAP_STEPS
        .iter()
        .chain(PG_IN_PLACE_STEPS)
        .chain(MY_STEPS)
    {
        assert!(
            src.contains(&format!("\"{step}\"")),
            "no journaled step {step}"
        );
    }
    let _ = EngineKind::Postgres;
}
