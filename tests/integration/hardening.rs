//! Issue 12's defects, each reproduced: a run that checked nothing is never a pass; every command
//! that takes a backup takes `latest`, the `LATEST` pointer file and a backup folder, and says
//! what an invalid `LATEST` names; backups another user could have replaced are refused.

use crate::backup::{ok_json, run};
use crate::engines::rt;
use crate::support::*;
use migsafe::engines::conn::Conn;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn sqlite_db(path: &Path, sql: &str) {
    rt().block_on(async {
        let mut c = Conn::open(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        c.execute(sql).await.unwrap();
        c.close().await;
    });
}

const SCHEMA: &str = "PRAGMA foreign_keys = OFF;
    CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE books (id INTEGER PRIMARY KEY, author_id INTEGER REFERENCES authors(id), title TEXT);
    INSERT INTO authors VALUES (1, 'Le Guin');
    INSERT INTO books VALUES (1, 1, 'The Dispossessed'), (2, 99, 'Orphan'), (3, 98, 'Orphan 2'), (4, 97, 'Orphan 3');";

/// A work folder with `app.db` (3 orphan rows) and one verified backup in `backups/`.
fn with_backup() -> (tempfile::TempDir, String) {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("app.db");
    sqlite_db(&db, SCHEMA);
    let url = format!("sqlite:{}", db.display());
    ok_json(&run(
        work.path(),
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
    (work, url)
}

fn backup_file(work: &Path) -> PathBuf {
    let name = std::fs::read_to_string(work.join("backups/LATEST")).unwrap();
    work.join("backups").join(name.trim())
}

#[test]
fn a_run_that_checked_nothing_is_inconclusive_never_passed() {
    let (work, url) = with_backup();
    // SQLite has no catalog-level check without --against: nothing runs
    let r = run(
        work.path(),
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
    let v = json(&r);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(v["summary"]["checks_run"], 0);
    assert_eq!(
        (v["passed"].as_bool(), v["verdict"].as_str()),
        (Some(false), Some("inconclusive"))
    );
    let r = run(
        work.path(),
        &[
            "integrity-check",
            "--database-url",
            &url,
            "--level",
            "catalog",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("INCONCLUSIVE: no check ran"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("passed"), "{}", r.stdout);
    // a budget too small for any check: the 3 orphans are not found, and that is not a pass
    for format in ["json", "human"] {
        let r = run(
            work.path(),
            &[
                "integrity-check",
                "--database-url",
                &url,
                "--budget",
                "1ns",
                "--format",
                format,
            ],
        );
        assert_eq!(r.code, 1, "{}", r.stdout);
        if format == "json" {
            let v: Value = json(&r);
            assert_eq!(v["verdict"], "inconclusive");
            assert!(v["not_run"].as_array().unwrap().len() >= 2, "{}", r.stdout);
        } else {
            assert!(r.stdout.contains("raise --budget"), "{}", r.stdout);
        }
    }
    // one check that ran and found nothing is still a pass
    let r = run(
        work.path(),
        &[
            "integrity-check",
            "--database-url",
            &url,
            "--only",
            "sqlite-integrity",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn every_command_that_takes_a_backup_takes_latest_the_pointer_and_the_folder() {
    let (work, url) = with_backup();
    let w = work.path();
    for arg in ["latest", "LATEST", "backups/LATEST", "backups", "backups/"] {
        let r = run(
            w,
            &[
                "backup", "verify", arg, "--dir", "backups", "--output", "json",
            ],
        );
        assert_eq!(r.code, 0, "backup verify {arg}: {}\n{}", r.stdout, r.stderr);
        let r = run(
            w,
            &[
                "restore",
                arg,
                "--dir",
                "backups",
                "--database-url",
                &url,
                "--check",
                "--output",
                "json",
            ],
        );
        assert_eq!(r.code, 0, "restore {arg}: {}\n{}", r.stdout, r.stderr);
        let r = run(
            w,
            &[
                "integrity-check",
                "--database-url",
                &url,
                "--against",
                arg,
                "--only",
                "row-counts",
            ],
        );
        // the live database is the backup: every count matches
        assert_eq!(r.code, 0, "--against {arg}: {}\n{}", r.stdout, r.stderr);
    }
    // dry-run starts from the backup's database, never from the pointer file read as SQL
    std::fs::create_dir(w.join("migrations")).unwrap();
    std::fs::write(
        w.join("migrations/1_add.sql"),
        "ALTER TABLE books ADD COLUMN isbn TEXT;\n",
    )
    .unwrap();
    for arg in ["latest", "backups/LATEST", "backups"] {
        let r = run(
            w,
            &[
                "dry-run",
                "migrations",
                "--dialect",
                "sqlite",
                "--from-backup",
                arg,
                "--no-cache",
                "--format",
                "json",
            ],
        );
        assert_eq!(
            r.code, 0,
            "dry-run --from-backup {arg}: {}\n{}",
            r.stdout, r.stderr
        );
        assert!(!r.stdout.contains("syntax error"), "{}", r.stdout);
    }

    // LATEST naming something unusable says what it names and why
    let file = backup_file(w);
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::write(w.join("backups/LATEST"), "backup_gone.sqlite\n").unwrap();
    let r = run(w, &["backup", "verify", "latest", "--dir", "backups"]);
    assert_usage_error(&r, "names \"backup_gone.sqlite\", which does not exist");
    std::fs::write(w.join("backups/LATEST"), "../../etc/passwd\n").unwrap();
    let r = run(
        w,
        &[
            "restore",
            "backups/LATEST",
            "--database-url",
            &url,
            "--check",
        ],
    );
    assert_usage_error(
        &r,
        "names \"../../etc/passwd\", which is not a plain file name",
    );
    std::fs::rename(
        w.join(format!("backups/{name}.manifest.json")),
        w.join("manifest.json.aside"),
    )
    .unwrap();
    std::fs::write(w.join("backups/LATEST"), format!("{name}\n")).unwrap();
    let r = run(w, &["backup", "verify", "backups", "--dir", "backups"]);
    assert_usage_error(&r, &format!("names {name:?}, which has no manifest"));
}

#[test]
fn backups_another_user_could_have_replaced_are_refused() {
    let (work, url) = with_backup();
    let w = work.path();
    let dir = w.join("backups");
    let file = backup_file(w);
    let manifest = PathBuf::from(format!("{}.manifest.json", file.display()));

    // a folder everyone can write to
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let r = run(w, &["backup", "verify", "latest", "--dir", "backups"]);
    assert_usage_error(&r, "writable by everyone (mode 0777)");
    let r = run(
        w,
        &[
            "integrity-check",
            "--database-url",
            &url,
            "--against",
            manifest.to_str().unwrap(),
        ],
    );
    assert_usage_error(&r, "writable by everyone");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();

    // a folder owned by another user (only root can make one; as another user, a folder of
    // root's is accepted, which the passing runs above already show)
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&dir, Some(4321), Some(4321)).unwrap();
        let r = run(
            w,
            &[
                "restore",
                "latest",
                "--dir",
                "backups",
                "--database-url",
                &url,
                "--check",
            ],
        );
        assert_usage_error(&r, "owned by uid 4321");
        std::os::unix::fs::chown(&dir, Some(0), Some(0)).unwrap();
    }

    // a backup file that is a symbolic link
    let aside = w.join("elsewhere.sqlite");
    std::fs::rename(&file, &aside).unwrap();
    std::os::unix::fs::symlink(&aside, &file).unwrap();
    let r = run(w, &["backup", "verify", file.to_str().unwrap()]);
    assert_usage_error(&r, "is a symbolic link");
    std::fs::remove_file(&file).unwrap();
    std::fs::rename(&aside, &file).unwrap();
    let r = run(
        w,
        &[
            "backup",
            "verify",
            file.to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    // a manifest whose file name is a path
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    m["file"] = "../../etc/passwd".into();
    let evil = dir.join("evil.manifest.json");
    std::fs::write(&evil, serde_json::to_string(&m).unwrap()).unwrap();
    let r = run(
        w,
        &[
            "integrity-check",
            "--database-url",
            &url,
            "--against",
            evil.to_str().unwrap(),
        ],
    );
    assert_usage_error(&r, "\"../../etc/passwd\" is not a plain file name");
    std::fs::create_dir(w.join("m")).unwrap();
    std::fs::write(w.join("m/1.sql"), "CREATE TABLE x (a int);\n").unwrap();
    let r = run(
        w,
        &[
            "dry-run",
            "m",
            "--dialect",
            "sqlite",
            "--from-backup",
            evil.to_str().unwrap(),
            "--no-cache",
        ],
    );
    assert_usage_error(&r, "points outside its folder");
}

#[test]
fn a_sqlite_restore_keeps_the_files_owner_mode_and_journal_mode() {
    use std::os::unix::fs::MetadataExt;
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let db = w.join("app.db");
    sqlite_db(&db, &format!("PRAGMA journal_mode = WAL; {SCHEMA}"));
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
    // as root (the tests here), the file belongs to an application user; otherwise it stays ours,
    // and the restore must keep it ours
    let me = unsafe { libc::geteuid() };
    let (uid, gid) = if me == 0 {
        (1000, 1000)
    } else {
        (me, unsafe { libc::getegid() })
    };
    std::os::unix::fs::chown(&db, Some(uid), Some(gid)).unwrap();
    let url = format!("sqlite:{}", db.display());
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
    let v = ok_json(&run(
        w,
        &[
            "restore",
            "latest",
            "--dir",
            "backups",
            "--database-url",
            &url,
            "--yes",
            "--output",
            "json",
        ],
    ));
    assert_eq!(v["status"], "restored", "{v}");
    let md = std::fs::metadata(&db).unwrap();
    assert_eq!((md.uid(), md.gid()), (uid, gid), "owner kept");
    assert_eq!(md.mode() & 0o7777, 0o640, "mode kept");
    rt().block_on(async {
        let mut c = Conn::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let (_, rows) = c.query_text("PRAGMA journal_mode").await.unwrap();
        assert_eq!(rows[0][0].as_deref(), Some("wal"), "journal mode kept");
        let (_, rows) = c.query_text("SELECT count(*) FROM books").await.unwrap();
        assert_eq!(rows[0][0].as_deref(), Some("4"));
        c.close().await;
    });
}

async fn my_exec(url: &str, sql: &str) {
    let mut c = Conn::open(url).await.unwrap();
    c.execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
    c.close().await;
}

fn preflight<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v["preflight"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
}

#[test]
fn mariadb_rollbacks_name_the_way_out_and_check_definers_first() {
    if !crate::support::have("mysql") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server = migsafe::engines::mysql::ephemeral::EphemeralMysql::start()
            .await
            .unwrap();
        let root = server.url("shop");
        my_exec(&server.url("mysql"), "CREATE DATABASE shop").await;
        my_exec(
            &root,
            "CREATE TABLE t (id int PRIMARY KEY, a int, b int);
             INSERT INTO t VALUES (1, 1, 1), (2, 2, 2);
             CREATE VIEW v AS SELECT a, b FROM t;
             CREATE TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW SET NEW.a = COALESCE(NEW.a, 0);",
        )
        .await;
        ok_json(&run(
            w,
            &["backup", "create", "--database-url", &root, "--dir", "backups", "--output", "json"],
        ));
        // the migration to roll back drops a column the view reads, and rows arrive
        my_exec(&root, "ALTER TABLE t DROP COLUMN b; INSERT INTO t (id, a) VALUES (3, 3), (4, 4)").await;

        // the safety backup cannot dump the broken view: the error says so and names the way out
        let r = run(
            w,
            &["restore", "latest", "--database-url", &root, "--dir", "backups", "--yes", "--drain", "1s", "--output", "json"],
        );
        let v: Value = json(&r);
        assert_eq!(v["status"], "failed", "{}", r.stdout);
        let msg = v["message"].as_str().unwrap();
        assert!(msg.contains("1356") && msg.contains("--no-safety-backup"), "{msg}");
        assert!(msg.contains("2 rows written since the backup are then lost for good"), "{msg}");
        // with --no-safety-backup the report does not promise a safety backup
        let r = run(
            w,
            &["restore", "latest", "--database-url", &root, "--dir", "backups", "--check", "--no-safety-backup"],
        );
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        assert!(!r.stdout.contains("a safety backup keeps them"), "{}", r.stdout);
        assert!(r.stdout.contains("no safety backup keeps them"), "{}", r.stdout);

        // a restoring account without SUPER / SET USER cannot create root's view and trigger
        my_exec(
            &root,
            "CREATE USER restorer@localhost IDENTIFIED BY 'pw';
             GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, CREATE VIEW, SHOW VIEW, TRIGGER, LOCK TABLES, CREATE ROUTINE, ALTER ROUTINE, EVENT, REFERENCES, PROCESS, RELOAD, CONNECTION ADMIN ON *.* TO restorer@localhost",
        )
        .await;
        let restorer = format!(
            "mysql://restorer:pw@localhost/shop?socket={}",
            server.socket().display()
        );
        let r = run(
            w,
            &["restore", "latest", "--database-url", &restorer, "--dir", "backups", "--check", "--no-safety-backup", "--output", "json"],
        );
        let v: Value = json(&r);
        assert_eq!(v["status"], "refused", "{}", r.stdout);
        let d = preflight(&v, "definers").unwrap_or_else(|| panic!("{}", r.stdout));
        assert_eq!(d["ok"], false);
        let details = d["details"].as_str().unwrap();
        assert!(
            details.contains("`root`@`localhost`") && details.contains("1227") && details.contains("GRANT SET USER"),
            "{details}"
        );
        my_exec(&root, "GRANT SET USER ON *.* TO restorer@localhost").await;
        let r = run(
            w,
            &["restore", "latest", "--database-url", &restorer, "--dir", "backups", "--check", "--no-safety-backup", "--output", "json"],
        );
        let v: Value = json(&r);
        assert_eq!(preflight(&v, "definers").unwrap()["ok"], true, "{}", r.stdout);
    });
}

#[test]
fn exit_2_errors_are_a_json_object_on_stdout_when_json_was_asked() {
    let (work, url) = with_backup();
    let w = work.path();
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec![
                "integrity-check",
                "--database-url",
                &url,
                "--level",
                "full",
                "--format",
                "json",
            ],
            "usage",
            "--level full",
        ),
        (
            vec![
                "backup",
                "verify",
                "latest",
                "--dir",
                "nowhere",
                "--output=json",
            ],
            "error",
            "LATEST is missing",
        ),
        (
            vec!["restore", "latest", "--dir", "backups", "--output", "json"],
            "usage",
            "DATABASE_URL",
        ),
        (
            vec!["dry-run", "nope", "--format", "json"],
            "error",
            "no such file",
        ),
        (
            vec![
                "recover",
                "--database-url",
                "oracle://x/y",
                "--output",
                "json",
            ],
            "error",
            "oracle",
        ),
    ];
    for (args, kind, needle) in cases {
        let r = run(w, &args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        let v: Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {:?}", r.stdout));
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["error"]["exit_code"], 2);
        assert_eq!(v["error"]["kind"], kind, "{args:?}: {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{args:?}: {message}");
        assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
    }
    // human output: stdout stays empty
    let r = run(
        w,
        &["integrity-check", "--database-url", &url, "--level", "full"],
    );
    assert_usage_error(&r, "--level full");
    assert!(r.stdout.is_empty());
}

#[test]
fn without_a_terminal_each_step_is_a_line_on_stderr_as_it_happens() {
    let (work, url) = with_backup();
    let w = work.path();
    // run_with captures stderr: not a terminal
    let r = run(
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
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("migsafe: copying "), "{}", r.stderr);
    assert!(
        r.stderr.contains("migsafe: verifying backup_"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(": done in "), "{}", r.stderr);
    let r = run(
        w,
        &[
            "restore",
            "latest",
            "--dir",
            "backups",
            "--database-url",
            &url,
            "--yes",
            "--output",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("migsafe: "), "{}", r.stderr);
    let r = run(w, &["integrity-check", "--database-url", &url]);
    assert!(
        r.stderr.contains("migsafe: integrity checks: "),
        "{}",
        r.stderr
    );
    // --quiet silences them
    for args in [
        vec![
            "backup",
            "create",
            "--database-url",
            &url,
            "--dir",
            "backups",
            "--quiet",
        ],
        vec!["integrity-check", "--database-url", &url, "--quiet"],
    ] {
        let r = run(w, &args);
        assert!(r.code == 0 || r.code == 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.is_empty(), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn a_pg_restore_reports_the_bytes_it_has_read() {
    if !crate::support::have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    rt().block_on(async {
        let server =
            migsafe::engines::postgres::ephemeral::EphemeralPostgres::start(&Default::default())
                .await
                .unwrap();
        crate::backup::pg_setup(&server, "shop").await;
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
        let r = run(
            w,
            &[
                "restore",
                "latest",
                "--dir",
                "backups",
                "--database-url",
                &url,
                "--yes",
                "--output",
                "json",
            ],
        );
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        // the step that runs pg_restore starts with the archive's size and ends with the bytes
        // it read, not "0 B"
        let start = r
            .stderr
            .lines()
            .find(|l| l.starts_with("migsafe: restoring into") && l.ends_with("…"))
            .unwrap_or_else(|| panic!("{}", r.stderr));
        let size = start.rsplit_once(" (").unwrap().1.trim_end_matches(")…");
        let end = r
            .stderr
            .lines()
            .find(|l| l.starts_with("migsafe: restoring into") && l.contains(": done in "))
            .unwrap_or_else(|| panic!("{}", r.stderr));
        assert!(end.ends_with(&format!(", {size}")), "{end}\n{}", r.stderr);
        assert!(!size.starts_with("0 "), "{start}");
        // the journaled steps are announced as they start, the swap among them
        for step in [
            "migsafe: create-copy (shop_restore_",
            "migsafe: drain (shop)…",
            "migsafe: swap (shop)…",
        ] {
            assert!(r.stderr.contains(step), "{step}: {}", r.stderr);
        }
    });
}

#[test]
fn the_manifest_does_not_grow_with_every_preflight() {
    let (work, url) = with_backup();
    let w = work.path();
    let manifest = PathBuf::from(format!("{}.manifest.json", backup_file(w).display()));
    for _ in 0..6 {
        let r = run(
            w,
            &[
                "restore",
                "latest",
                "--dir",
                "backups",
                "--database-url",
                &url,
                "--check",
            ],
        );
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let r = run(w, &["backup", "verify", "latest", "--dir", "backups"]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    }
    let m: Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let n = m["verification"].as_array().unwrap().len();
    assert!(
        n <= 6,
        "{n} verifications after 12 runs: {}",
        m["verification"]
    );
}

#[test]
fn an_assertion_that_writes_is_refused_and_never_runs() {
    let (work, url) = with_backup();
    let w = work.path();
    let cfg = w.join("migsafe.toml");
    std::fs::write(
        &cfg,
        "[[integrity.assert]]\nname = \"cleanup\"\nsql = \"DELETE FROM books WHERE author_id = 99\"\nexpect = 0\n",
    )
    .unwrap();
    let r = run(
        w,
        &[
            "integrity-check",
            "--database-url",
            &url,
            "--config",
            cfg.to_str().unwrap(),
            "--only",
            "assert",
        ],
    );
    assert_usage_error(
        &r,
        "(\"cleanup\"): the sql is a statement that is not a query",
    );
    assert!(!r.stdout.contains("inspect"), "{}", r.stdout);
    std::fs::write(
        &cfg,
        "[[integrity.assert]]\nname = \"two\"\nsql = \"SELECT 1; UPDATE books SET title = 'x'\"\nexpect = 1\n",
    )
    .unwrap();
    let r = run(
        w,
        &[
            "integrity-check",
            "--database-url",
            &url,
            "--config",
            cfg.to_str().unwrap(),
        ],
    );
    assert_usage_error(&r, "several statements");
    rt().block_on(async {
        let mut c = Conn::open(&url).await.unwrap();
        let (_, rows) = c
            .query_text("SELECT count(*) FROM books WHERE author_id = 99 OR title = 'x'")
            .await
            .unwrap();
        assert_eq!(rows[0][0].as_deref(), Some("1"), "nothing was written");
        c.close().await;
    });
    std::fs::write(
        &cfg,
        "[[integrity.assert]]\nname = \"cte\"\nsql = \"WITH d AS (DELETE FROM books RETURNING 1) SELECT count(*) FROM d\"\nexpect = 0\n",
    )
    .unwrap();
    let r = run(
        w,
        &[
            "integrity-check",
            "--database-url",
            &url,
            "--config",
            cfg.to_str().unwrap(),
        ],
    );
    assert_usage_error(
        &r,
        "(\"cte\"): the sql is a statement that is not a query (delete)",
    );
    // a read-only assertion still runs
    std::fs::write(
        &cfg,
        "[[integrity.assert]]\nname = \"orphans\"\nsql = \"WITH o AS (SELECT * FROM books WHERE author_id NOT IN (SELECT id FROM authors)) SELECT count(*) FROM o\"\nexpect = 3\n",
    )
    .unwrap();
    let r = run(
        w,
        &[
            "integrity-check",
            "--database-url",
            &url,
            "--config",
            cfg.to_str().unwrap(),
            "--only",
            "assert",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn a_swap_restore_of_a_database_with_a_long_name_uses_short_names() {
    if !crate::support::have("postgres") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // 40 bytes: `<db>_before_restore_<ts>` would be 71
    let db = "shop_production_europe_west_replica_2026";
    rt().block_on(async {
        let server =
            migsafe::engines::postgres::ephemeral::EphemeralPostgres::start(&Default::default())
                .await
                .unwrap();
        crate::backup::pg_setup(&server, db).await;
        let url = server.url(db);
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
        crate::backup::pg_exec(&server, db, crate::backup::PG_CHANGE).await;
        let r = run(
            w,
            &[
                "restore",
                "latest",
                "--dir",
                "backups",
                "--database-url",
                &url,
                "--yes",
                "--output",
                "json",
            ],
        );
        let v: Value = json(&r);
        assert_eq!(v["status"], "restored", "{}{}", r.stdout, r.stderr);
        let kept = v["kept_as"]
            .as_str()
            .unwrap_or_else(|| panic!("{}", r.stdout));
        assert!(kept.len() <= 63, "{kept}");
        assert!(
            kept.starts_with("shop_production_euro") && kept.contains("_before_restore_"),
            "{kept}"
        );
        // a second restore in the same second still gets its own names (restore::free_ts)
        let r = run(
            w,
            &[
                "restore",
                "latest",
                "--dir",
                "backups",
                "--database-url",
                &url,
                "--yes",
                "--output",
                "json",
            ],
        );
        let v2: Value = json(&r);
        assert_eq!(v2["status"], "restored", "{}{}", r.stdout, r.stderr);
        assert_ne!(v2["kept_as"], v["kept_as"]);
        // backup list finds both kept copies of the long-named database
        let list = ok_json(&run(
            w,
            &[
                "backup",
                "list",
                "--dir",
                "backups",
                "--database-url",
                &url,
                "--output",
                "json",
            ],
        ));
        let text = list.to_string();
        assert!(
            text.contains(kept) && text.contains(v2["kept_as"].as_str().unwrap()),
            "{list}"
        );
    });
}

#[test]
fn one_is_singular_in_human_output() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let db = w.join("one.db");
    sqlite_db(&db, "CREATE TABLE t (a int); INSERT INTO t VALUES (1);");
    let url = format!("sqlite:{}", db.display());
    let r = run(
        w,
        &[
            "backup",
            "create",
            "--database-url",
            &url,
            "--dir",
            "backups",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("contents  1 table, 1 row,"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("1 rows") && !r.stdout.contains("1 tables"),
        "{}",
        r.stdout
    );
    let r = run(w, &["backup", "list", "--dir", "backups"]);
    assert!(r.stdout.contains("1 backup in "), "{}", r.stdout);
    sqlite_db(&db, "INSERT INTO t VALUES (2);");
    let r = run(
        w,
        &[
            "restore",
            "latest",
            "--dir",
            "backups",
            "--database-url",
            &url,
            "--check",
        ],
    );
    assert!(r.stdout.contains("1 row in 1 table"), "{}", r.stdout);
    let r = run(
        w,
        &[
            "integrity-check",
            "--database-url",
            &url,
            "--only",
            "sqlite-integrity",
        ],
    );
    assert!(r.stdout.contains("1 check in"), "{}", r.stdout);
    assert_eq!(migsafe::report::style::plural(1u64, "row", "rows"), "1 row");
    assert_eq!(
        migsafe::report::style::plural(0usize, "row", "rows"),
        "0 rows"
    );
}

#[test]
fn backup_list_shows_stale_staging_folders_with_their_age() {
    let (work, _url) = with_backup();
    let w = work.path();
    // a run that died mid-dump: its owner file names a process that is gone
    let stale = w.join("backups/.migsafe-staging-backup_20260101_000000.sqlite");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("owner"), "999999999 1\n").unwrap();
    let r = run(w, &["backup", "list", "--dir", "backups"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("1 staging folder left by runs that died"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(".migsafe-staging-backup_20260101_000000.sqlite")
            && r.stdout.contains(" old"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("rm -r") && r.stdout.contains("backup prune"),
        "{}",
        r.stdout
    );
    let v = ok_json(&run(
        w,
        &["backup", "list", "--dir", "backups", "--output", "json"],
    ));
    assert_eq!(v["staging"][0]["running"], false, "{v}");
    // prune removes it, and the list no longer shows it
    ok_json(&run(
        w,
        &[
            "backup", "prune", "--keep", "5", "--dir", "backups", "--output", "json",
        ],
    ));
    let r = run(w, &["backup", "list", "--dir", "backups"]);
    assert!(!r.stdout.contains("staging"), "{}", r.stdout);
}
