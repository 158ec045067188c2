//! `check` on real trees and what people read: dialects per file, skipped files, transaction
//! assumptions, the human layout, the Markdown PR comment, SARIF locations, rule docs in every
//! format, suppressions, and the README's sample output.

use crate::support::*;
use std::fs;

// ---- dialects and skipped files ------------------------------------------------------------

#[test]
fn per_dialect_folders_are_checked_each_in_its_own_dialect() {
    let r = migsafe(&[
        "check",
        "fixtures/migrations/corpus/temporal/schema",
        "--format",
        "json",
        "--fail-on",
        "never",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(
        v["dialects"],
        serde_json::json!(["mysql", "postgres", "sqlite"])
    );
    for m in v["migrations"].as_array().unwrap() {
        let path = m["path"].as_str().unwrap();
        let want = if path.contains("/mysql/") {
            "mysql"
        } else if path.contains("/postgresql/") {
            "postgres"
        } else {
            "sqlite"
        };
        assert_eq!(m["dialect"], want, "{path}");
        // no PostgreSQL lock findings on MySQL files
        if want == "mysql" {
            for f in m["findings"].as_array().unwrap() {
                assert!(
                    !f["message"].as_str().unwrap().contains("ACCESS EXCLUSIVE"),
                    "{path}: {f}"
                );
            }
        }
    }
    assert_eq!(v["summary"]["skipped"], 0);
}

/// `check` of the kratos fixture with `--dialect postgres` and `extra` arguments.
fn kratos_postgres(extra: &[&str]) -> Run {
    let mut args = vec![
        "check",
        "fixtures/migrations/corpus/kratos/sql",
        "--dialect",
        "postgres",
        "--fail-on",
        "never",
    ];
    args.extend_from_slice(extra);
    migsafe(&args)
}

#[test]
fn a_selected_dialect_lists_the_other_files_as_skipped() {
    let r = kratos_postgres(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "skipped: 14 of the 23 migration files found are not checked (postgres checked):"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("      7  written for mysql"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("      5  written for sqlite"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("      2  generic files replaced by their dialect variant"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("… and 4 more (--verbose lists them"));
    let verbose = kratos_postgres(&["--verbose"]);
    assert!(verbose.stdout.contains(
        "20230705000000000001_cookie_flow_request_url.sqlite.up.sql  written for sqlite"
    ));
    let gh = kratos_postgres(&["--format", "github"]);
    assert!(
        gh.stdout
            .trim_end()
            .ends_with("; 14 files found but not checked (see the job log)"),
        "{}",
        gh.stdout
    );
    let v = json(&kratos_postgres(&["--format", "json"]));
    assert_eq!(v["summary"]["migrations"], 9);
    assert_eq!(v["summary"]["skipped"], 14);
    let replaced = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["reason"] == "replaced_by_variant")
        .unwrap();
    assert!(
        replaced["message"]
            .as_str()
            .unwrap()
            .contains(".postgres.up.sql"),
        "{replaced}"
    );
}

#[test]
fn nothing_left_to_check_is_an_error_not_a_pass() {
    assert_usage_error(
        &migsafe(&[
            "check",
            "fixtures/migrations/corpus/temporal/schema/mysql",
            "--dialect",
            "sqlite",
        ]),
        "4 written for mysql",
    );
}

// ---- transaction assumptions ---------------------------------------------------------------

#[test]
fn findings_that_rest_on_the_transaction_mode_say_which_one_was_assumed() {
    let dir = tempfile::tempdir().unwrap();
    // golang-migrate on PostgreSQL: one multi-statement query, an implicit transaction when it
    // holds more than one statement
    write_file(
        dir.path(),
        "db/1_create.up.sql",
        "CREATE TABLE t (id int, a int);\n",
    );
    write_file(dir.path(), "db/1_create.down.sql", "DROP TABLE t;\n");
    write_file(
        dir.path(),
        "db/2_index.up.sql",
        "SET lock_timeout = '2s';\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n",
    );
    write_file(dir.path(), "db/2_index.down.sql", "DROP INDEX t_a;\n");
    write_file(
        dir.path(),
        "db/3_alone.up.sql",
        "CREATE INDEX CONCURRENTLY t_id ON t (id);\n",
    );
    write_file(dir.path(), "db/3_alone.down.sql", "DROP INDEX t_id;\n");
    let rules_of = |v: &serde_json::Value, file: &str| -> Vec<(String, String)> {
        v["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["path"].as_str().unwrap().ends_with(file))
            .unwrap()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["rule"].as_str().unwrap().to_string(),
                    f["message"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let args = ["check", "db", "--format", "json", "--fail-on", "never"];
    let v = json(&migsafe_in(dir.path(), &args));
    let two = rules_of(&v, "2_index.up.sql");
    let (_, msg) = two
        .iter()
        .find(|(r, _)| r == "concurrently-in-transaction")
        .unwrap_or_else(|| panic!("{two:?}"));
    assert!(
        msg.contains("assumes golang-migrate sends the file as one multi-statement query"),
        "{msg}"
    );
    assert!(msg.contains("set `[migrations] transaction`"), "{msg}");
    // a single statement is not wrapped
    assert!(
        !rules_of(&v, "3_alone.up.sql")
            .iter()
            .any(|(r, _)| r == "concurrently-in-transaction")
    );
    // findings that do not depend on the mode carry no assumption
    for (_, m) in rules_of(&v, "1_create.up.sql") {
        assert!(!m.contains("assumes"), "{m}");
    }

    // the config says how the migrator runs: statement by statement (x-multi-statement)
    write_file(
        dir.path(),
        "migsafe.toml",
        "[migrations]\ntransaction = \"none\"\n",
    );
    let v = json(&migsafe_in(dir.path(), &args));
    assert!(
        !rules_of(&v, "2_index.up.sql")
            .iter()
            .any(|(r, _)| r == "concurrently-in-transaction")
    );
    assert_eq!(
        v["migrations"][1]["transaction"], false,
        "the report says how the file runs"
    );

    // a layout whose migrator decides per file refuses the setting
    write_file(dir.path(), "db/4_sqlx_style.sql", "SELECT 1;\n");
    assert_usage_error(
        &migsafe_in(dir.path(), &["check", "db"]),
        "does not apply to the sqlx layout",
    );
}

// ---- human output --------------------------------------------------------------------------

#[test]
fn human_output_puts_what_matters_first_and_explains_each_rule_once() {
    let dir = tempfile::tempdir().unwrap();
    for i in 1..=30 {
        write_file(
            dir.path(),
            &format!("db/{i:03}_drop.sql"),
            &format!(
                "SET lock_timeout = '1s';\nSET statement_timeout = '1min';\nALTER TABLE t DROP COLUMN c{i};\n"
            ),
        );
    }
    let r = migsafe_in(dir.path(), &["check", "db"]);
    assert_eq!(r.code, 1);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("migsafe: 30 migrations checked (postgres): destructive, release class major, gate failed"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[2], "needs attention, worst first:");
    assert!(
        lines[3].starts_with("  destructive  db/001_drop.sql"),
        "{}",
        lines[3]
    );
    assert!(r.stdout.contains("  … and 20 more (below)"));
    assert_eq!(r.stdout.matches("= why:").count(), 1, "{}", r.stdout);
    assert_eq!(r.stdout.matches("= safer:").count(), 1);
    assert_eq!(r.stdout.matches("error[drop-column]").count(), 30);
    assert!(r.stdout.contains("findings per rule"));
    assert!(
        r.stdout
            .contains("  destructive  drop-column    30  Dropping a column"),
        "{}",
        r.stdout
    );
    let verbose = migsafe_in(dir.path(), &["check", "db", "--verbose"]);
    assert_eq!(verbose.stdout.matches("= why:").count(), 30);
}

/// Every ```console block of README.md that starts with `$ migsafe …` must show that command's
/// real output (run from the repository root, without colour).
/// `MIGSAFE_UPDATE_DOCS=1 cargo test readme_sample` rewrites them.
#[test]
fn readme_sample_output_is_the_real_output() {
    let path = root().join("README.md");
    let readme = fs::read_to_string(&path).unwrap();
    let opening = "```console\n$ migsafe ";
    let mut updated = String::new();
    let mut stale = Vec::new();
    let mut samples = 0;
    let mut rest = readme.as_str();
    while let Some(start) = rest.find(opening) {
        let block_start = start + "```console\n".len();
        let block = &rest[block_start..];
        let end = block.find("\n```").expect("closed block");
        let (command, expected) = block[..end].split_once('\n').unwrap_or((&block[..end], ""));
        let args: Vec<&str> = command
            .trim_start_matches("$ migsafe ")
            .split_whitespace()
            .collect();
        let r = migsafe(&args);
        assert!(r.stderr.is_empty(), "{command}: {}", r.stderr);
        if r.stdout.trim_end() != expected.trim_end() {
            stale.push(command.to_string());
        }
        updated.push_str(&rest[..block_start]);
        updated.push_str(command);
        updated.push('\n');
        updated.push_str(r.stdout.trim_end());
        samples += 1;
        rest = &block[end..];
    }
    updated.push_str(rest);
    assert!(samples >= 1, "README has no ```console sample");
    if std::env::var_os("MIGSAFE_UPDATE_DOCS").is_some() {
        fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        stale.is_empty(),
        "README samples differ from the real output of {stale:?}: run `MIGSAFE_UPDATE_DOCS=1 cargo test readme_sample`"
    );
}

// ---- markdown ------------------------------------------------------------------------------

#[test]
fn markdown_comment_of_a_3000_finding_run_stays_under_githubs_limit() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..300 {
        let mut sql = String::new();
        for j in 0..10 {
            sql.push_str(&format!(
                "ALTER TABLE accounts_{i} DROP COLUMN legacy_{j}; -- <b>|`x`|</b>\n"
            ));
        }
        write_file(dir.path(), &format!("db/{i:04}_cleanup.sql"), &sql);
    }
    let v = json(&migsafe_in(
        dir.path(),
        &["check", "db", "--format", "json", "--fail-on", "never"],
    ));
    let findings = v["summary"]["findings"].as_u64().unwrap();
    assert!(findings >= 3000, "{findings} findings");

    let r = migsafe_in(dir.path(), &["check", "db", "--format", "markdown"]);
    assert_eq!(r.code, 1);
    let md = &r.stdout;
    assert!(
        md.chars().count() < 65_536,
        "{} characters",
        md.chars().count()
    );
    assert!(md.len() < 65_536, "{} bytes", md.len());
    assert!(md.starts_with("<!-- migsafe:check -->\n### 🔴 migsafe: **destructive**"));
    assert!(
        md.contains(&format!("{findings} findings")),
        "the header counts all findings"
    );
    assert!(
        md.contains("| `drop-column` | 🔴 destructive | 3000 |"),
        "{}",
        &md[..2000]
    );
    let note = md.lines().last().unwrap();
    assert!(
        note.contains("more findings not shown") && note.contains("SARIF"),
        "{note}"
    );
    // what is shown is balanced: every <details> is closed, every fence too
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count()
    );
    assert_eq!(md.matches("```").count() % 2, 0);
}

#[test]
fn markdown_of_a_small_run_is_complete() {
    let r = migsafe(&["check", "fixtures/demo", "--format", "markdown"]);
    assert_eq!(r.code, 1);
    let md = &r.stdout;
    assert!(md.contains("#### Needs attention"));
    assert!(
        md.contains("- **error** `drop-column` `fixtures/demo/20240410080000_drop_legacy.sql:3`")
    );
    assert!(md.contains("  ```sql\n  ALTER TABLE users DROP COLUMN legacy_id;\n  ```"));
    assert!(md.contains("<summary>Why these rules matter, and the safer way</summary>"));
    assert!(!md.contains("not shown"), "nothing truncated: {md}");
    // the header icon follows the verdict, never a green tick above a destructive change
    let passing = migsafe(&[
        "check",
        "fixtures/demo",
        "--format",
        "markdown",
        "--fail-on",
        "never",
    ]);
    assert_eq!(passing.code, 0);
    let head = passing.stdout.lines().nth(1).unwrap();
    assert!(
        head.starts_with("### 🔴") && head.contains("gate ✔️ passed"),
        "{head}"
    );
}

// ---- SARIF and GitHub locations ------------------------------------------------------------

#[test]
fn sarif_and_annotations_use_repository_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().canonicalize().unwrap();
    git(&repo, &["init", "-q"]);
    write_file(&repo, "services/api/db/1_drop.sql", "DROP TABLE legacy;\n");
    write_file(&repo, "services/api/db/my file.sql", "DROP TABLE other;\n");
    // run from a subfolder, as a monorepo job would
    let sub = repo.join("services/api");
    let r = migsafe_in(&sub, &["check", "db", "--format", "sarif"]);
    let v = json(&r);
    let run = &v["runs"][0];
    assert_eq!(
        run["originalUriBaseIds"]["%SRCROOT%"]["uri"],
        format!("file://{}/", repo.display())
    );
    let uris: Vec<(String, String)> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let a = &r["locations"][0]["physicalLocation"]["artifactLocation"];
            (
                a["uri"].as_str().unwrap().to_string(),
                a["uriBaseId"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(uris.contains(&("services/api/db/1_drop.sql".into(), "%SRCROOT%".into())));
    assert!(uris.contains(&("services/api/db/my%20file.sql".into(), "%SRCROOT%".into())));

    let gh = migsafe_in(&sub, &["check", "db", "--format", "github"]);
    assert!(
        gh.stdout
            .contains("::error file=services/api/db/1_drop.sql,line=1,"),
        "{}",
        gh.stdout
    );
}

// ---- rule documentation in every format ----------------------------------------------------

#[test]
fn explain_and_list_rules_in_every_format_or_refuse() {
    let r = migsafe(&["check", "--explain", "drop-column", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(v["rule"]["name"], "drop-column");
    assert!(v["rule"]["bad"].as_str().unwrap().contains("DROP COLUMN"));
    let md = migsafe(&["check", "--explain", "drop-column", "--format", "markdown"]);
    assert!(md.stdout.starts_with("# drop-column"));
    assert_usage_error(
        &migsafe(&["check", "--explain", "drop-column", "--format", "sarif"]),
        "--explain with --format sarif",
    );
    assert_usage_error(
        &migsafe(&["check", "--explain", "drop-colum"]),
        "did you mean `drop-column`?",
    );

    let sarif = json(&migsafe(&["check", "--list-rules", "--format", "sarif"]));
    assert_eq!(sarif["version"], "2.1.0");
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    assert!(rules.iter().any(|r| r["id"] == "drop-column"));
    assert_eq!(sarif["runs"][0]["results"], serde_json::json!([]));
    let md = migsafe(&["check", "--list-rules", "--format", "markdown"]);
    assert_eq!(md.code, 0);
    assert!(md.stdout.contains("| [drop-column](drop-column.md) |"));
    assert_usage_error(
        &migsafe(&["check", "--list-rules", "--format", "github"]),
        "--list-rules with --format github",
    );
}

// ---- suppressions --------------------------------------------------------------------------

#[test]
fn suppressions_with_unknown_rules_stop_the_run_and_quotes_are_optional() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "m.sql",
        "SELECT 1;\n-- migsafe:allow drop-tabel reason=\"typo\"\nDROP TABLE a;\n",
    );
    let r = migsafe_in(dir.path(), &["check", "m.sql"]);
    assert_usage_error(&r, "m.sql:2: `-- migsafe:allow` names `drop-tabel`");
    assert!(
        r.stderr.contains("did you mean `drop-table`?"),
        "{}",
        r.stderr
    );

    write_file(
        dir.path(),
        "m.sql",
        "-- migsafe:allow drop-table reason='archived in 2023, see ticket 42'\nDROP TABLE a;\n",
    );
    let v = json(&migsafe_in(
        dir.path(),
        &["check", "m.sql", "--format", "json"],
    ));
    let f = &v["migrations"][0]["findings"][0];
    assert_eq!(f["rule"], "drop-table");
    assert_eq!(f["suppressed"], true);
    assert_eq!(f["suppression_reason"], "archived in 2023, see ticket 42");
}

// ---- other commands read per-dialect trees the same way ------------------------------------

#[test]
fn dry_run_applies_only_its_engines_dialect_of_a_per_dialect_tree() {
    let r = migsafe(&[
        "dry-run",
        "fixtures/migrations/order/synapse-deltas",
        "--dialect",
        "sqlite",
        "--format",
        "json",
        "--quiet",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = json(&r);
    let applied: Vec<&str> = v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        applied,
        [
            "01_room_stats.sql",
            "02_room_stats_idx.sql.sqlite",
            "01_invited.sql"
        ]
    );
}

#[test]
fn the_database_url_scheme_selects_the_runs_dialect() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_migsafe"))
        .args([
            "check",
            "fixtures/migrations/corpus/kratos/sql",
            "--format",
            "json",
            "--fail-on",
            "never",
        ])
        .current_dir(root())
        .env("DATABASE_URL", "mysql://app:s3cret@db.internal/app")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["dialects"], serde_json::json!(["mysql"]));
    assert_eq!(v["summary"]["migrations"], 9);
    let skipped: Vec<&str> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["dialect"].as_str().unwrap_or("generic"))
        .collect();
    assert!(
        skipped.contains(&"postgres") && skipped.contains(&"sqlite"),
        "{skipped:?}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cret"));
}
