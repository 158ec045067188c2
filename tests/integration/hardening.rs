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
