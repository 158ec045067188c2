//! `apply --migrate-cmd` with a real migrator (a shell script driving psql that keeps
//! golang-migrate's `schema_migrations`), environments from `[env.NAME]` (`url`, `url_env`), and
//! the runbook's staging-first check — live against staging's history, from the journal of a
//! staging apply when staging cannot be reached, refused without `--skip-staging-check
//! "<reason>"`, the reason journaled.

use crate::backup::{pg_exec, run, run_with};
use crate::engines::rt;
use crate::history::texts;
use crate::support::{Run, assert_usage_error, have, json};
use migsafe::engines::postgres::ephemeral::EphemeralPostgres;
use std::path::Path;

/// A migrator as a project would write one: applies every `*.up.sql` newer than the version in
/// `schema_migrations`, marking it dirty first and clean after, as golang-migrate does. `STOP_AT`
/// makes it fail after marking that version dirty; `TOUCH` names a file it creates when run.
const MIGRATOR: &str = r#"#!/bin/sh
set -eu
[ -n "${TOUCH:-}" ] && : > "$TOUCH"
q() { psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -tA -c "$1"; }
q "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint not null primary key, dirty boolean not null)"
cur=$(q "SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
for f in $(ls "$MIGRATIONS"/*.up.sql | sort); do
  v=$(basename "$f" | cut -d_ -f1 | sed 's/^0*//')
  [ "$v" -gt "$cur" ] || continue
  q "TRUNCATE schema_migrations; INSERT INTO schema_migrations VALUES ($v, true)"
  [ "${STOP_AT:-}" = "$v" ] && { echo "migration $v failed" >&2; exit 3; }
  psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -f "$f"
  q "TRUNCATE schema_migrations; INSERT INTO schema_migrations VALUES ($v, false)"
  echo "applied $v"
done
"#;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn apply_cmd(work: &Path, m: &Path, url: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let d = m.to_str().unwrap();
    let mut args = vec![
        "apply",
        d,
        "--layout",
        "golang-migrate",
        "--database-url",
        url,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    run_with(work, &args, |c| {
        c.env("MIGRATIONS", m);
        for (k, v) in env {
            c.env(k, v);
        }
    })
}

#[test]
fn migrate_cmd_runs_a_real_migrator_under_the_same_checks() {
    if !have("postgres") {
        return;
    }
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        let m = w.join("m");
        write(&m, "000001_a.up.sql", "CREATE TABLE a (id int);\n");
        write(
            &m,
            "000002_b.up.sql",
            "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\n",
        );
        write(w, "migrate.sh", MIGRATOR);
        let cmd = format!("sh {}", w.join("migrate.sh").display());
        pg_exec(&server, "postgres", "CREATE DATABASE mc").await;
        let url = server.url("mc");
        // the migrator applies exactly what was pending
        let r = apply_cmd(w, &m, &url, &["--migrate-cmd", &cmd], &[]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let j = json(&r);
        assert_eq!(j["outcome"], "applied", "{j}");
        assert_eq!(j["migrate_cmd"]["applied"], serde_json::json!(["1", "2"]));
        assert_eq!(j["migrate_cmd"]["success"], true);
        assert!(
            j["migrate_cmd"]["output_tail"]
                .as_str()
                .unwrap()
                .contains("applied 2")
        );
        assert_eq!(
            j["lock"]["owner"], "migsafe",
            "the migrator takes the tool's lock itself"
        );
        let journal = std::fs::read_to_string(j["journal"].as_str().unwrap()).unwrap();
        assert!(
            journal.contains("\"migrate-cmd\"") && journal.contains("\"outcome\":\"finished\""),
            "{journal}"
        );
        let rows = texts(
            &url,
            "SELECT version::text, dirty::text FROM schema_migrations",
        )
        .await;
        assert_eq!(
            rows,
            vec![vec![Some("2".to_string()), Some("false".to_string())]]
        );
        // nothing pending: the migrator is not run
        let touch = w.join("ran");
        let r = apply_cmd(
            w,
            &m,
            &url,
            &["--migrate-cmd", &cmd],
            &[("TOUCH", touch.to_str().unwrap())],
        );
        assert_eq!(json(&r)["outcome"], "up-to-date");
        assert!(!touch.exists());
        // a destructive migration: refused before the migrator runs
        write(&m, "000003_drop.up.sql", "DROP TABLE b;\n");
        let r = apply_cmd(
            w,
            &m,
            &url,
            &["--migrate-cmd", &cmd],
            &[("TOUCH", touch.to_str().unwrap())],
        );
        assert_eq!(r.code, 1);
        assert_eq!(
            json(&r)["refusals"][0]["rule"],
            "drop-table",
            "{}",
            r.stdout
        );
        assert!(!touch.exists(), "the gates run before the migrator");
        std::fs::remove_file(m.join("000003_drop.up.sql")).unwrap();
        // a migrator that applies nothing although something is pending
        write(&m, "000003_c.up.sql", "CREATE TABLE c (id int);\n");
        let r = apply_cmd(w, &m, &url, &["--migrate-cmd", "true"], &[]);
        assert_eq!(r.code, 1);
        let j = json(&r);
        assert_eq!(j["outcome"], "failed");
        assert_eq!(j["migrate_cmd"]["not_applied"], serde_json::json!(["3"]));
        assert!(
            j["message"].as_str().unwrap().contains("not applied: 3"),
            "{j}"
        );
        // a migrator that dies halfway: its dirty version is reported with the tool's repair
        let r = apply_cmd(w, &m, &url, &["--migrate-cmd", &cmd], &[("STOP_AT", "3")]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        let j = json(&r);
        assert_eq!(j["migrate_cmd"]["success"], false);
        assert!(
            j["migrate_cmd"]["unexpected"][0]
                .as_str()
                .unwrap()
                .contains("failed"),
            "{j}"
        );
        let st = run(
            w,
            &[
                "status",
                m.to_str().unwrap(),
                "--layout",
                "golang-migrate",
                "--database-url",
                &url,
                "--format",
                "json",
            ],
        );
        assert_eq!(st.code, 1);
        assert!(
            st.stdout.contains("force 3"),
            "golang-migrate's repair: {}",
            st.stdout
        );
    });
}

fn config(w: &Path, prod_url: &str) {
    write(
        w,
        "migsafe.toml",
        &format!(
            "[env.staging]\nurl_env = \"STAGING_URL\"\n\n[env.production]\nurl = \"{prod_url}\"\n"
        ),
    );
}

fn env_apply(w: &Path, m: &Path, env: &str, staging: Option<&str>, extra: &[&str]) -> Run {
    let d = m.to_str().unwrap();
    let mut args = vec![
        "apply", d, "--layout", "sqlx", "--env", env, "--format", "json",
    ];
    args.extend_from_slice(extra);
    run_with(w, &args, |c| {
        c.env_remove("STAGING_URL");
        if let Some(u) = staging {
            c.env("STAGING_URL", u);
        }
    })
}

#[test]
fn production_applies_only_what_staging_applied_with_the_same_checksums() {
    if !have("postgres") {
        return;
    }
    rt().block_on(async {
        let server = EphemeralPostgres::start(&Default::default()).await.unwrap();
        let work = tempfile::tempdir().unwrap();
        let w = work.path();
        let m = w.join("m");
        write(&m, "1_a.sql", "CREATE TABLE a (id int);\n");
        pg_exec(&server, "postgres", "CREATE DATABASE staging").await;
        pg_exec(&server, "postgres", "CREATE DATABASE prod").await;
        let (s_url, p_url) = (server.url("staging"), server.url("prod"));
        config(w, &p_url);
        let prod_tables = || async {
            texts(
                &p_url,
                "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
            )
            .await
        };
        // bad environments: exit 2 with the reason
        assert_usage_error(&env_apply(w, &m, "nope", None, &[]), "no [env.nope]");
        assert_usage_error(&env_apply(w, &m, "staging", None, &[]), "$STAGING_URL");
        assert_usage_error(
            &env_apply(w, &m, "production", None, &["--skip-staging-check", " "]),
            "needs a reason",
        );
        // production before staging: refused, checked live
        let r = env_apply(w, &m, "production", Some(&s_url), &[]);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        let j = json(&r);
        assert_eq!(j["outcome"], "refused");
        assert_eq!(j["staging"]["method"], "live");
        assert_eq!(j["staging"]["missing"], serde_json::json!(["1"]));
        assert!(
            j["message"]
                .as_str()
                .unwrap()
                .contains("--skip-staging-check"),
            "{j}"
        );
        assert!(
            prod_tables().await.is_empty(),
            "nothing changed on production"
        );
        // staging (url_env), then production passes the live check
        let r = env_apply(w, &m, "staging", Some(&s_url), &[]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert_eq!(json(&r)["env"], "staging");
        let st = run_with(
            w,
            &[
                "status",
                m.to_str().unwrap(),
                "--layout",
                "sqlx",
                "--env",
                "staging",
                "--format",
                "json",
            ],
            |c| {
                c.env("STAGING_URL", &s_url);
            },
        );
        assert_eq!(json(&st)["summary"]["applied"], 1, "status --env");
        let r = env_apply(w, &m, "production", Some(&s_url), &[]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let j = json(&r);
        assert_eq!(
            (j["outcome"].as_str(), j["staging"]["method"].as_str()),
            (Some("applied"), Some("live"))
        );
        // staging not reachable from the production runner: the staging apply's journal
        write(&m, "2_b.sql", "CREATE TABLE b (id int);\n");
        assert_eq!(env_apply(w, &m, "staging", Some(&s_url), &[]).code, 0);
        let r = env_apply(w, &m, "production", None, &[]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let j = json(&r);
        assert_eq!(j["staging"]["method"], "journal", "{j}");
        assert!(
            j["staging"]["message"]
                .as_str()
                .unwrap()
                .contains("journals"),
            "{j}"
        );
        // staging applied another version of the file: refused, live and from the journal
        write(&m, "3_c.sql", "CREATE TABLE c (id int);\n");
        assert_eq!(env_apply(w, &m, "staging", Some(&s_url), &[]).code, 0);
        write(&m, "3_c.sql", "CREATE TABLE c (id bigint);\n");
        for staging in [Some(s_url.as_str()), None] {
            let r = env_apply(w, &m, "production", staging, &[]);
            assert_eq!(r.code, 1, "{staging:?}: {}", r.stdout);
            let j = json(&r);
            assert_eq!(j["staging"]["missing"], serde_json::json!(["3"]), "{j}");
        }
        assert!(
            !prod_tables()
                .await
                .iter()
                .any(|r| r[0].as_deref() == Some("c"))
        );
        // the hotfix path: skipped with a reason, which the journal keeps
        let r = env_apply(
            w,
            &m,
            "production",
            None,
            &["--skip-staging-check", "hotfix INC-42, staging down"],
        );
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let j = json(&r);
        assert_eq!(j["staging"]["method"], "skipped");
        assert!(
            r.stderr.contains("staging check skipped: ") && r.stderr.contains("INC-42"),
            "{}",
            r.stderr
        );
        let journal = std::fs::read_to_string(j["journal"].as_str().unwrap()).unwrap();
        assert!(
            journal
                .lines()
                .next()
                .unwrap()
                .contains("hotfix INC-42, staging down"),
            "{journal}"
        );
        assert!(
            prod_tables()
                .await
                .iter()
                .any(|r| r[0].as_deref() == Some("c"))
        );
    });
}
