//! `apply` and `status` together with the modes and the other operations, on real servers
//! (ephemeral PostgreSQL and MariaDB): the runbook's destructive release (read-only on, backup,
//! apply --force, read-only off) where migsafe's migration session writes while the application
//! cannot; the refusal to apply while another operation is unfinished; and the runbook's
//! rollback inside maintenance mode (maintenance on, restore latest, integrity-check,
//! maintenance off).

use crate::backup::{ok_json, run};
use crate::engines::rt;
use crate::modes::{mj, pg_state, role_url, shop, unfinished};
use crate::support::have;
use crate::support::{json, write_file};
use migsafe::engines::conn::Conn;
use std::path::Path;

/// A golang-migrate folder with one destructive migration (it needs `--force`).
fn destructive_migrations(w: &Path) -> String {
    write_file(
        w,
        "db/1_drop_v.up.sql",
        "ALTER TABLE items DROP COLUMN v;\n",
    );
    write_file(
        w,
        "db/1_drop_v.down.sql",
        "ALTER TABLE items ADD COLUMN v int;\n",
    );
    w.join("db").display().to_string()
}

/// A custom-format backup of `url` into `bk/`.
fn backup_custom(w: &Path, url: &str) -> crate::support::Run {
    run(
        w,
        &[
            "backup",
            "create",
            "--database-url",
            url,
            "--dir",
            "bk",
            "--format",
            "custom",
            "--output",
            "json",
        ],
    )
}

/// The lines of [`pg_state`] about the live `shop` database and the application roles.
fn shop_lines(s: &str) -> Vec<String> {
    s.lines()
        .filter(|l| {
            l.contains(" shop ") || l.starts_with("role ") || l.starts_with("database shop ")
        })
        .map(str::to_string)
        .collect()
}

/// An application write on a fresh connection (the table has only `id` after the migration):
/// `Ok`, or the error's SQLSTATE and message.
async fn app_write(url: &str) -> Result<(), String> {
    let mut c = Conn::open(url).await.map_err(|e| format!("connect: {e}"))?;
    let r = c
        .execute("INSERT INTO items (id) VALUES (DEFAULT)")
        .await
        .map(|_| ())
        .map_err(|e| match e.as_database_error() {
            Some(d) => format!("{} {}", d.code().unwrap_or_default(), d.message()),
            None => e.to_string(),
        });
    c.close().await;
    r
}

fn apply(w: &Path, dir: &str, url: &str, extra: &[&str]) -> crate::support::Run {
    let mut args = vec!["apply", dir, "--database-url", url, "--format", "json"];
    args.extend(extra);
    run(w, &args)
}

#[test]
fn postgres_apply_writes_inside_read_only_while_the_application_cannot() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let (server, url, before) = shop().await;
        let dir = destructive_migrations(w);
        let app = role_url(&server, "app", "shop");
        let on = mj(w, "read-only on", &url, &["--app-url", &app]);
        assert_eq!(ok_json(&on)["status"], "on", "{}", on.stdout);
        let b = run(w, &["backup", "create", "--database-url", &url, "--dir", "bk", "--output", "json"]);
        ok_json(&b);
        // without --force the gate refuses, naming the rule
        let r = apply(w, &dir, &url, &[]);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("drop-column"), "{}", r.stdout);
        let r = apply(w, &dir, &url, &["--force"]);
        assert_eq!(r.code, 0, "apply --force inside read-only: {}\n{}", r.stdout, r.stderr);
        assert_eq!(json(&r)["outcome"], "applied", "{}", r.stdout);
        // the mode is a warning for apply, not a refusal
        assert!(r.stderr.contains("read-only mode"), "{}", r.stderr);
        let mut c = Conn::open(&url).await.unwrap();
        let (_, cols) = c
            .query_text("SELECT string_agg(column_name::text, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'items'")
            .await
            .unwrap();
        assert_eq!(cols[0][0].as_deref(), Some("id"), "the column was dropped");
        let (_, h) = c
            .query_text("SELECT version::text, dirty::text FROM schema_migrations")
            .await
            .unwrap();
        assert_eq!(h, vec![vec![Some("1".into()), Some("false".into())]]);
        c.close().await;
        // the application is still held
        assert_eq!(
            app_write(&app).await,
            Err("25006 cannot execute INSERT in a read-only transaction".to_string()),
            "the application cannot write after the apply"
        );
        let off = mj(w, "read-only off", &url, &[]);
        assert_eq!(ok_json(&off)["status"], "off", "{}", off.stdout);
        app_write(&app).await.expect("the application writes after off");
        assert_eq!(pg_state(&server).await, before, "every setting is back");
        assert_eq!(unfinished(w), 0);
    });
}

#[test]
fn mariadb_apply_writes_inside_read_only_while_the_application_cannot() {
    if !have("mysql") {
        return;
    }
    use migsafe::engines::mysql::ephemeral::EphemeralMysql;
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = EphemeralMysql::start().await.unwrap();
        let url = server.url("shop");
        let app = url.replace("root@", "app@");
        let mut root = Conn::open(&server.url("mysql")).await.unwrap();
        root.execute(
            "CREATE DATABASE shop; CREATE TABLE shop.items (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB; \
             CREATE USER app@localhost; GRANT ALL ON shop.* TO app@localhost",
        )
        .await
        .unwrap();
        let dir = destructive_migrations(w);
        let on = mj(w, "read-only on", &url, &["--app-url", &app]);
        assert_eq!(ok_json(&on)["status"], "on", "{}", on.stdout);
        let r = apply(w, &dir, &url, &["--force"]);
        assert_eq!(r.code, 0, "apply --force inside read-only: {}\n{}", r.stdout, r.stderr);
        assert_eq!(json(&r)["outcome"], "applied", "{}", r.stdout);
        let (_, cols) = root
            .query_text("SELECT GROUP_CONCAT(column_name ORDER BY column_name) FROM information_schema.columns WHERE table_schema = 'shop' AND table_name = 'items'")
            .await
            .unwrap();
        assert_eq!(cols[0][0].as_deref(), Some("id"), "the column was dropped");
        let (_, h) = root
            .query_text("SELECT CAST(version AS CHAR), CAST(dirty AS CHAR) FROM shop.schema_migrations")
            .await
            .unwrap();
        assert_eq!(h, vec![vec![Some("1".into()), Some("0".into())]]);
        let refused = app_write(&app).await.unwrap_err();
        assert!(refused.contains("--read-only"), "the application cannot write after the apply: {refused}");
        let off = mj(w, "read-only off", &url, &[]);
        assert_eq!(ok_json(&off)["status"], "off", "{}", off.stdout);
        app_write(&app).await.expect("the application writes after off");
        root.close().await;
        assert_eq!(unfinished(w), 0);
    });
}

/// A connection to `url` succeeds (`Ok`) or is refused with this SQLSTATE/message.
async fn app_connects(url: &str) -> Result<(), String> {
    match Conn::open(url).await {
        Ok(c) => {
            c.close().await;
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The runbook's rollback on PostgreSQL with the default `--block database`: maintenance on,
/// restore latest (each strategy), integrity-check, maintenance off. The application stays out
/// until `off`, and `off` leaves the live (restored) database with its settings from before.
#[test]
fn postgres_rollback_inside_maintenance_with_block_database() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let (server, url, before) = shop().await;
        let app = role_url(&server, "app", "shop");
        let b = backup_custom(w, &url);
        let manifest = ok_json(&b)["manifest"].as_str().unwrap().to_string();
        for strategy in ["swap", "in-place"] {
            // the release that is rolled back
            crate::backup::pg_exec(&server, "shop", "INSERT INTO items (v) VALUES (3)").await;
            let on = mj(w, "maintenance on", &url, &["--app-url", &app]);
            assert_eq!(ok_json(&on)["status"], "on", "{strategy}: {}", on.stdout);
            assert!(
                app_connects(&app).await.is_err(),
                "{strategy}: the application is out"
            );
            // a swap restored twice in one window: the second finds the marker on the database
            // the first set aside, and the block on the restored one
            for _ in 0..if strategy == "swap" { 2 } else { 1 } {
                let r = run(
                    w,
                    &[
                        "restore",
                        "latest",
                        "--database-url",
                        &url,
                        "--dir",
                        "bk",
                        "--strategy",
                        strategy,
                        "--yes",
                        "--drain",
                        "1s",
                        "--output",
                        "json",
                    ],
                );
                let rv = ok_json(&r);
                assert_eq!(
                    rv["status"], "restored",
                    "{strategy}: {}\n{}",
                    r.stdout, r.stderr
                );
                assert!(
                    app_connects(&app).await.is_err(),
                    "{strategy}: the restored database keeps the application out until maintenance off"
                );
            }
            let ic = run(
                w,
                &[
                    "integrity-check",
                    "--database-url",
                    &url,
                    "--against",
                    &manifest,
                    "--format",
                    "json",
                ],
            );
            let iv = ok_json(&ic);
            assert_eq!(iv["passed"], true, "{strategy}: {}", ic.stdout);
            assert!(
                app_connects(&app).await.is_err(),
                "{strategy}: still out after integrity-check"
            );
            if strategy == "in-place" {
                // a release applied inside the window: apply's session gets through the block
                let dir = destructive_migrations(w);
                let a = apply(w, &dir, &url, &["--force"]);
                assert_eq!(
                    a.code, 0,
                    "apply inside maintenance: {}\n{}",
                    a.stdout, a.stderr
                );
                assert_eq!(json(&a)["outcome"], "applied", "{}", a.stdout);
                assert!(app_connects(&app).await.is_err(), "still out after apply");
            }
            let off = mj(w, "maintenance off", &url, &[]);
            assert_eq!(
                ok_json(&off)["status"],
                "off",
                "{strategy}: {}\n{}",
                off.stdout,
                off.stderr
            );
            app_connects(&app)
                .await
                .expect("the application connects after off");
            let mut c = Conn::open(&app).await.unwrap();
            let (_, n) = c
                .query_text("SELECT count(*)::text FROM items")
                .await
                .unwrap();
            assert_eq!(
                n[0][0].as_deref(),
                Some("2"),
                "{strategy}: the rolled-back row is gone"
            );
            c.close().await;
            assert_eq!(
                shop_lines(&pg_state(&server).await),
                shop_lines(&before),
                "{strategy}"
            );
            assert_eq!(unfinished(w), 0, "{strategy}");
        }
    });
}

/// The runbook's rollback on MariaDB: maintenance locks the application's account; restore
/// latest and integrity-check run as migsafe's (root) account; off unlocks it.
#[test]
fn mariadb_rollback_inside_maintenance() {
    if !have("mysql") {
        return;
    }
    use migsafe::engines::mysql::ephemeral::EphemeralMysql;
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = EphemeralMysql::start().await.unwrap();
        let url = server.url("shop");
        let app = url.replace("root@", "app@");
        let mut root = Conn::open(&server.url("mysql")).await.unwrap();
        root.execute(
            "CREATE DATABASE shop; CREATE TABLE shop.items (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB; \
             INSERT INTO shop.items (v) VALUES (1), (2); CREATE USER app@localhost; GRANT ALL ON shop.* TO app@localhost",
        )
        .await
        .unwrap();
        let b = run(w, &["backup", "create", "--database-url", &url, "--dir", "bk", "--output", "json"]);
        let manifest = ok_json(&b)["manifest"].as_str().unwrap().to_string();
        root.execute("INSERT INTO shop.items (v) VALUES (3)").await.unwrap();
        let on = mj(w, "maintenance on", &url, &["--app-url", &app]);
        assert_eq!(ok_json(&on)["status"], "on", "{}", on.stdout);
        assert!(app_connects(&app).await.is_err(), "the application is out");
        let r = run(w, &["restore", "latest", "--database-url", &url, "--dir", "bk", "--yes", "--output", "json"]);
        assert_eq!(ok_json(&r)["status"], "restored", "{}\n{}", r.stdout, r.stderr);
        assert!(app_connects(&app).await.is_err(), "still out after the restore");
        let ic = run(w, &["integrity-check", "--database-url", &url, "--against", &manifest, "--format", "json"]);
        assert_eq!(ok_json(&ic)["passed"], true, "{}", ic.stdout);
        let off = mj(w, "maintenance off", &url, &[]);
        assert_eq!(ok_json(&off)["status"], "off", "{}", off.stdout);
        let mut c = Conn::open(&app).await.expect("the application connects after off");
        let (_, n) = c.query_text("SELECT CAST(COUNT(*) AS CHAR) FROM items").await.unwrap();
        assert_eq!(n[0][0].as_deref(), Some("2"), "the rolled-back row is gone");
        c.close().await;
        root.close().await;
        assert_eq!(unfinished(w), 0);
    });
}

/// A restore killed while it had lifted the maintenance block for itself: `recover` ends the
/// restore and puts the block back (the application stays out), `maintenance off` then opens
/// the database with its settings from before.
#[test]
fn postgres_restore_killed_inside_maintenance_puts_the_block_back() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let (server, url, before) = shop().await;
        let app = role_url(&server, "app", "shop");
        let b = backup_custom(w, &url);
        ok_json(&b);
        for (strategy, at) in [
            ("swap", "lift-block:after"),
            ("swap", "verify-copy:after"),
            ("in-place", "lift-block:after"),
        ] {
            let on = mj(w, "maintenance on", &url, &["--app-url", &app]);
            assert_eq!(ok_json(&on)["status"], "on", "{at}: {}", on.stdout);
            let r = crate::backup::run_with(
                w,
                &[
                    "restore",
                    "latest",
                    "--database-url",
                    &url,
                    "--dir",
                    "bk",
                    "--strategy",
                    strategy,
                    "--yes",
                    "--drain",
                    "1s",
                    "--output",
                    "json",
                ],
                |c| {
                    c.env("MIGSAFE_CRASH_AT", at);
                },
            );
            assert_eq!(r.code, -1, "{at}: killed: {}\n{}", r.stdout, r.stderr);
            // lifted for migsafe, the block still holds the application (CONNECTION LIMIT 0)
            assert!(
                app_connects(&app).await.is_err(),
                "{at}: the application is out mid-restore"
            );
            let op = migsafe::journal::unfinished(&w.join(".migsafe/journal"))
                .into_iter()
                .flatten()
                .find(|s| s.kind.starts_with("restore"))
                .unwrap_or_else(|| panic!("{at}: the restore's journal is open"))
                .op;
            let rec = run(
                w,
                &[
                    "recover",
                    "--database-url",
                    &url,
                    "--operation",
                    &op,
                    "--output",
                    "json",
                ],
            );
            assert_eq!(rec.code, 0, "{at}: {}\n{}", rec.stdout, rec.stderr);
            assert!(
                app_connects(&app).await.is_err(),
                "{at}: the application is out again after recover"
            );
            let off = mj(w, "maintenance off", &url, &[]);
            assert_eq!(
                ok_json(&off)["status"],
                "off",
                "{at}: {}\n{}",
                off.stdout,
                off.stderr
            );
            app_connects(&app)
                .await
                .unwrap_or_else(|e| panic!("{at}: the application connects after off: {e}"));
            assert_eq!(
                shop_lines(&pg_state(&server).await),
                shop_lines(&before),
                "{at}"
            );
            assert_eq!(unfinished(w), 0, "{at}");
        }
    });
}

/// The kratos-like fixture (ory popx): status and apply on one dialect see only its files, a
/// dialect variant instead of the generic file of the same version, and record versions in
/// popx's `schema_migration` as popx does.
fn kratos_status_and_apply(w: &Path, url: &str, variant: &str, other: [&str; 2]) {
    let dir = crate::support::root().join("fixtures/migrations/kratos");
    let dir = dir.to_str().unwrap();
    let st = run(
        w,
        &["status", dir, "--database-url", url, "--format", "json"],
    );
    let sv = ok_json(&st);
    assert_eq!(sv["tool"], "pop", "{}", st.stdout);
    assert_eq!(
        sv["table"].as_str().unwrap().trim_matches('"'),
        "schema_migration"
    );
    let paths: Vec<String> = sv["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["state"], "pending", "{}", st.stdout);
            let p = m["path"].as_str().unwrap();
            p.rsplit('/').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        paths,
        [
            format!("20150100000001000000_networks.{variant}.up.sql"),
            format!("20191100000001000000_identities.{variant}.up.sql"),
            "20220420102701000000_identity_metadata.up.sql".to_string(),
            format!("20230920171028000000_identity_search_index.{variant}.up.sql"),
        ],
        "only {variant} files and generic ones without a {variant} variant: {}",
        st.stdout
    );
    for o in other {
        assert!(!st.stdout.contains(&format!(".{o}.")), "{o}: {}", st.stdout);
    }
    let ap = run(
        w,
        &["apply", dir, "--database-url", url, "--format", "json"],
    );
    assert_eq!(
        ok_json(&ap)["outcome"],
        "applied",
        "{}\n{}",
        ap.stdout,
        ap.stderr
    );
    let again = run(
        w,
        &["status", dir, "--database-url", url, "--format", "json"],
    );
    let av = ok_json(&again);
    assert!(
        av["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["state"] == "applied"),
        "{}",
        again.stdout
    );
}

#[test]
fn postgres_status_and_apply_pick_the_postgres_variants_of_a_kratos_tree() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = migsafe::engines::postgres::ephemeral::EphemeralPostgres::start(&Default::default())
            .await
            .unwrap();
        crate::backup::pg_exec(&server, "postgres", "CREATE DATABASE kratos").await;
        let url = server.url("kratos");
        kratos_status_and_apply(w, &url, "postgres", ["mysql", "sqlite3"]);
        let mut c = Conn::open(&url).await.unwrap();
        let (_, v) = c
            .query_text("SELECT string_agg(version, ',' ORDER BY version) FROM schema_migration")
            .await
            .unwrap();
        assert_eq!(
            v[0][0].as_deref(),
            Some("20150100000001000000,20191100000001000000,20220420102701000000,20230920171028000000")
        );
        let (_, ty) = c
            .query_text("SELECT data_type::text FROM information_schema.columns WHERE table_name = 'networks' AND column_name = 'id'")
            .await
            .unwrap();
        assert_eq!(ty[0][0].as_deref(), Some("uuid"), "the postgres variant created networks");
        let (_, idx) = c
            .query_text("SELECT indexname::text FROM pg_indexes WHERE tablename IN ('identities', 'schema_migration') ORDER BY 1")
            .await
            .unwrap();
        let idx: Vec<String> = idx.into_iter().filter_map(|r| r[0].clone()).collect();
        assert_eq!(
            idx,
            ["identities_pkey", "identities_traits_schema_id_gin", "schema_migration_version_idx", "schema_migration_version_self_idx"],
            "the postgres variant of the search index won over the generic file; popx's indexes"
        );
        c.close().await;
    });
}

#[test]
fn sqlite_status_and_apply_pick_the_sqlite3_variants_of_a_kratos_tree() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let db = w.join("kratos.sqlite");
    let url = format!("sqlite:{}?mode=rwc", db.display());
    kratos_status_and_apply(w, &url, "sqlite3", ["mysql", "postgres"]);
    rt().block_on(async {
        let mut c = Conn::open(&url).await.unwrap();
        let (_, v) = c
            .query_text("SELECT group_concat(version, ',') FROM (SELECT version FROM schema_migration ORDER BY version)")
            .await
            .unwrap();
        assert_eq!(
            v[0][0].as_deref(),
            Some("20150100000001000000,20191100000001000000,20220420102701000000,20230920171028000000")
        );
        let (_, ty) = c
            .query_text("SELECT type FROM pragma_table_info('networks') WHERE name = 'id'")
            .await
            .unwrap();
        assert_eq!(ty[0][0].as_deref(), Some("TEXT"), "the sqlite3 variant created networks");
        let (_, idx) = c
            .query_text("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'identities_traits%'")
            .await
            .unwrap();
        assert_eq!(idx, vec![vec![Some("identities_traits_schema_id_idx".to_string())]]);
        c.close().await;
    });
}

/// `[migrations] transaction` from migsafe.toml reaches status and apply as it reaches check: on
/// a popx tree (whose migrator decides per file) the setting is refused with check's message.
#[test]
fn status_and_apply_read_the_transaction_setting() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    std::fs::write(
        w.join("migsafe.toml"),
        "[migrations]\ntransaction = \"none\"\n",
    )
    .unwrap();
    let dir = crate::support::root().join("fixtures/migrations/kratos");
    let url = format!("sqlite:{}?mode=rwc", w.join("k.sqlite").display());
    for cmd in ["check", "status", "apply"] {
        let mut args = vec![cmd, dir.to_str().unwrap()];
        if cmd != "check" {
            args.extend(["--database-url", &url]);
        }
        let r = run(w, &args);
        assert_eq!(r.code, 2, "{cmd}: {}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr
                .contains("`[migrations] transaction = \"none\"` does not apply to the pop layout"),
            "{cmd}: {}",
            r.stderr
        );
    }
}

/// `apply` refuses to start over another unfinished operation on the database (a restore
/// killed halfway), naming it and `migsafe recover`, and goes on once it is recovered; a mode
/// whose lease expired is shouted by status and apply, which then applies (the runbook applies
/// inside the mode).
#[test]
fn postgres_apply_refuses_over_an_unfinished_operation_and_warns_about_expired_leases() {
    if !have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let (_server, url, _before) = shop().await;
        let dir = destructive_migrations(w);
        let b = backup_custom(w, &url);
        ok_json(&b);
        let r = crate::backup::run_with(
            w,
            &[
                "restore",
                "latest",
                "--database-url",
                &url,
                "--dir",
                "bk",
                "--yes",
                "--output",
                "json",
            ],
            |c| {
                c.env("MIGSAFE_CRASH_AT", "verify-copy:after");
            },
        );
        assert_eq!(r.code, -1, "killed: {}\n{}", r.stdout, r.stderr);
        let st = run(
            w,
            &["status", &dir, "--database-url", &url, "--format", "json"],
        );
        assert_eq!(
            st.code, 0,
            "status still reports: {}\n{}",
            st.stdout, st.stderr
        );
        assert!(
            st.stderr
                .contains("did not finish: run `migsafe recover --operation restore"),
            "{}",
            st.stderr
        );
        let a = apply(w, &dir, &url, &["--force"]);
        assert_eq!(a.code, 2, "{}\n{}", a.stdout, a.stderr);
        assert!(
            a.stderr.contains(
                "apply refused: another migsafe operation on this database is unfinished"
            ),
            "{}",
            a.stderr
        );
        assert!(
            a.stderr.contains("migsafe recover --operation restore"),
            "{}",
            a.stderr
        );
        let mut c = Conn::open(&url).await.unwrap();
        let (_, t) = c
            .query_text("SELECT to_regclass('schema_migrations')::text")
            .await
            .unwrap();
        assert_eq!(t[0][0], None, "nothing was applied");
        c.close().await;
        // a plan changes nothing and is not refused
        let plan = apply(w, &dir, &url, &["--force", "--dry-run"]);
        assert_eq!(
            json(&plan)["outcome"],
            "planned",
            "{}\n{}",
            plan.stdout,
            plan.stderr
        );
        let rec = run(w, &["recover", "--database-url", &url, "--output", "json"]);
        assert_eq!(rec.code, 0, "{}\n{}", rec.stdout, rec.stderr);
        // an expired lease: loud, and not a refusal
        let on = mj(w, "read-only on", &url, &["--lease", "1s"]);
        assert_eq!(ok_json(&on)["status"], "on", "{}", on.stdout);
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let st = run(
            w,
            &["status", &dir, "--database-url", &url, "--format", "json"],
        );
        assert!(
            st.stderr.contains("LEASE EXPIRED") && st.stderr.contains("`migsafe read-only off`"),
            "{}",
            st.stderr
        );
        let a = apply(w, &dir, &url, &["--force"]);
        assert_eq!(a.code, 0, "{}\n{}", a.stdout, a.stderr);
        assert!(
            a.stderr.contains("LEASE EXPIRED") && a.stderr.contains("`migsafe read-only off`"),
            "{}",
            a.stderr
        );
        let off = mj(w, "read-only off", &url, &[]);
        assert_eq!(ok_json(&off)["status"], "off", "{}", off.stdout);
        assert_eq!(unfinished(w), 0);
    });
}

/// popx's legacy rows: a `schema_migration` row holding the first 14 digits of a 20-digit
/// version (pop's old timestamps) counts as that migration applied, as popx's `Status` says.
#[test]
fn pop_legacy_versions_count_as_applied() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let url = format!("sqlite:{}?mode=rwc", w.join("legacy.sqlite").display());
    rt().block_on(async {
        let mut c = Conn::open(&url).await.unwrap();
        c.execute("CREATE TABLE schema_migration (version VARCHAR (48) NOT NULL, version_self INT NOT NULL DEFAULT 0); INSERT INTO schema_migration (version) VALUES ('20150100000001')")
            .await
            .unwrap();
        c.close().await;
    });
    let dir = crate::support::root().join("fixtures/migrations/kratos");
    let st = run(
        w,
        &[
            "status",
            dir.to_str().unwrap(),
            "--database-url",
            &url,
            "--format",
            "json",
        ],
    );
    let v = ok_json(&st);
    let states: Vec<(String, String)> = v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["key"].as_str().unwrap().to_string(),
                m["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states[0],
        ("20150100000001000000".to_string(), "applied".to_string()),
        "{}",
        st.stdout
    );
    assert!(
        states[1..].iter().all(|(_, s)| s == "pending"),
        "{}",
        st.stdout
    );
    assert_eq!(
        states.len(),
        4,
        "no missing row for the legacy version: {}",
        st.stdout
    );
}
