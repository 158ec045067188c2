//! CLI contract: exit codes 0/1/2, stdout/stderr separation, output formats, gates, config, --since.

use crate::support::*;
use std::fs;
use std::process::Command;

#[test]
fn demo_fails_the_default_gate_and_shows_carets_why_and_safer() {
    let r = migsafe(&["check", "fixtures/demo"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.is_empty(),
        "diagnostics only on stderr, none expected: {}",
        r.stderr
    );
    assert!(r.stdout.contains("error[drop-column]"));
    assert!(
        r.stdout
            .contains("fixtures/demo/20240410080000_drop_legacy.sql:3:31")
    );
    // the caret sits under `legacy_id`
    let caret = r
        .stdout
        .lines()
        .find(|l| l.contains("^^^^^^^^^"))
        .expect("caret line");
    assert!(caret.trim_start().starts_with('|'));
    assert!(r.stdout.contains("= why:") && r.stdout.contains("= safer:"));
    assert!(r.stdout.contains("release class: major"));
    assert!(r.stdout.contains("allowed[update-without-where]"));
}

#[test]
fn fail_on_thresholds() {
    assert_eq!(
        migsafe(&["check", "fixtures/demo", "--fail-on", "never"]).code,
        0
    );
    assert_eq!(
        migsafe(&["check", "fixtures/demo", "--fail-on", "destructive"]).code,
        1
    );
    let risky_only = fixture("demo/20240301100000_index_orders.sql");
    let p = risky_only.to_str().unwrap();
    assert_eq!(migsafe(&["check", p, "--fail-on", "destructive"]).code, 0);
    assert_eq!(migsafe(&["check", p]).code, 1);
    let safe = fixture("demo/20240101090000_create_users.sql");
    let r = migsafe(&["check", safe.to_str().unwrap(), "--fail-on", "caution"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("release class: minor"));
}

#[test]
fn json_output_follows_schema_version_1() {
    let r = migsafe(&["check", "fixtures/demo", "--format", "json"]);
    assert_eq!(r.code, 1);
    let v = json(&r);
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["tool"]["name"], "migsafe");
    assert_eq!(v["dialect"], "postgres");
    assert_eq!(v["target_version"], "15");
    assert_eq!(v["verdict"], "destructive");
    assert_eq!(v["release_class"], "major");
    let migs = v["migrations"].as_array().unwrap();
    assert_eq!(migs.len(), 5);
    let drop = migs
        .iter()
        .find(|m| m["path"].as_str().unwrap().ends_with("drop_legacy.sql"))
        .unwrap();
    assert_eq!(drop["version"], "20240410080000");
    assert_eq!(drop["verdict"], "destructive");
    let st = &drop["statements"][1];
    for key in [
        "index", "line", "column", "end_line", "verdict", "parsed", "kind", "sql",
    ] {
        assert!(!st[key].is_null(), "statement lacks {key}: {st}");
    }
    assert_eq!(st["kind"], "alter_table");
    assert_eq!(st["sql"], "ALTER TABLE users DROP COLUMN legacy_id");
    let f = drop["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "drop-column")
        .unwrap();
    for key in [
        "rule",
        "category",
        "severity",
        "statement_index",
        "line",
        "column",
        "end_line",
        "end_column",
        "message",
        "why",
        "safer",
        "suppressed",
    ] {
        assert!(!f[key].is_null(), "finding lacks {key}: {f}");
    }
    assert_eq!(f["category"], "destructive");
    assert_eq!(f["severity"], "error");
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(3), Some(31))
    );
    let s = &v["summary"];
    assert_eq!(s["migrations"], 5);
    assert_eq!(s["by_verdict"]["destructive"], 1);
    for k in ["safe", "caution", "risky", "destructive", "unknown"] {
        assert!(s["by_verdict"][k].is_u64());
    }
}

#[test]
fn json_is_deterministic() {
    let a = migsafe(&["check", "fixtures/demo", "--format", "json"]).stdout;
    let b = migsafe(&["check", "fixtures/demo", "--format", "json"]).stdout;
    assert_eq!(a, b);
}

#[test]
fn sarif_has_the_required_fields() {
    let r = migsafe(&["check", "fixtures/demo", "--format", "sarif"]);
    assert_eq!(r.code, 1);
    let v = json(&r);
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif"));
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "migsafe");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .all(|r| r["id"].is_string() && r["help"]["text"].as_str().unwrap().contains("Safer"))
    );
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for res in results {
        assert!(res["message"]["text"].is_string());
        assert!(res["ruleId"].is_string());
        let idx = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], res["ruleId"]);
        let region = &res["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1);
        assert!(res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].is_string());
    }
    let suppressed = results
        .iter()
        .find(|r| r["ruleId"] == "update-without-where")
        .unwrap();
    assert_eq!(suppressed["suppressions"][0]["kind"], "inSource");
}

#[test]
fn github_workflow_commands() {
    let r = migsafe(&["check", "fixtures/demo", "--format", "github"]);
    assert_eq!(r.code, 1);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("drop-column"))
        .unwrap();
    assert!(
        line.starts_with(
            "::error file=fixtures/demo/20240410080000_drop_legacy.sql,line=3,col=31,"
        ),
        "{line}"
    );
    assert!(line.contains("%0AWhy: "), "newlines are escaped: {line}");
    assert!(
        !r.stdout.contains("update-without-where"),
        "suppressed findings are not annotated"
    );
    assert!(
        r.stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("::notice title=migsafe::")
    );
}

#[test]
fn usage_errors_exit_2_with_a_reason() {
    assert_usage_error(&migsafe(&["check", "no/such/dir"]), "no/such/dir");
    assert_usage_error(
        &migsafe(&["check", "fixtures/demo", "--dialect", "oracle"]),
        "invalid value 'oracle' for '--dialect",
    );
    assert_usage_error(
        &migsafe(&["check", "fixtures/demo", "--format", "xml"]),
        "invalid value 'xml' for '--format",
    );
    assert_usage_error(
        &migsafe(&["check", "fixtures/demo", "--fail-on", "sometimes"]),
        "invalid value 'sometimes' for '--fail-on",
    );
    assert_usage_error(
        &migsafe(&["check", "fixtures/demo", "--target-version", "fifteen"]),
        "--target-version",
    );
    assert_usage_error(
        &migsafe(&["check", "fixtures/demo", "--layout", "liquibase"]),
        "invalid value 'liquibase' for '--layout",
    );
    assert_usage_error(
        &migsafe(&["check", "--explain", "no-such-rule"]),
        "no-such-rule",
    );
    assert_usage_error(&migsafe(&["check"]), "no migrations given");
    let r = migsafe(&["check", "--bogus-flag"]);
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
}

#[test]
fn malformed_and_unknown_config_keys() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("migsafe.toml"),
        "dialect = \"postgres\"\nmigratoins = [\"db\"]\n",
    )
    .unwrap();
    fs::write(dir.path().join("a.sql"), "SELECT 1;").unwrap();
    let r = migsafe_in(dir.path(), &["check", "a.sql"]);
    assert_usage_error(&r, "migratoins");
    assert!(r.stderr.contains("migsafe.toml"));
    fs::write(dir.path().join("migsafe.toml"), "dialect = [").unwrap();
    assert_usage_error(
        &migsafe_in(dir.path(), &["check", "a.sql"]),
        "invalid config",
    );
}

#[test]
fn config_sets_paths_dialect_and_rule_levels() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("db")).unwrap();
    fs::write(dir.path().join("db/1_drop.sql"), "DROP TABLE legacy;\n").unwrap();
    fs::write(
        dir.path().join("migsafe.toml"),
        "dialect = \"mysql\"\nmigrations = [\"db\"]\n[rules]\ndrop-table = \"warning\"\n",
    )
    .unwrap();
    let sub = dir.path().join("db");
    // found by walking up from a subfolder; paths are relative to the config file
    let r = migsafe_in(&sub, &["check", "--format", "json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = json(&r);
    assert_eq!(v["dialect"], "mysql");
    assert_eq!(v["migrations"][0]["findings"][0]["severity"], "warning");
    assert_eq!(v["verdict"], "caution");
    fs::write(
        dir.path().join("migsafe.toml"),
        "migrations = [\"db\"]\n[rules]\ndrop-table = \"off\"\nmissing-lock-timeout = \"off\"\nmissing-statement-timeout = \"off\"\n",
    )
    .unwrap();
    let v = json(&migsafe_in(dir.path(), &["check", "--format", "json"]));
    assert_eq!(v["verdict"], "safe");
    // with the rule off nothing reports the drop; it still counts as a schema change
    assert_eq!(v["release_class"], "minor");
}

#[test]
fn dialect_from_database_url_scheme_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.sql"), "ALTER TABLE t MODIFY c int;\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_migsafe"))
        .args(["check", "a.sql", "--format", "json"])
        .current_dir(dir.path())
        .env("DATABASE_URL", "mysql://app:s3cret@db.internal/app")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"dialect\": \"mysql\""), "{stdout}");
    assert!(!stdout.contains("s3cret") && !String::from_utf8_lossy(&out.stderr).contains("s3cret"));
}

#[test]
fn suppressions_need_a_reason_and_unused_ones_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("m.sql");
    fs::write(&f, "-- migsafe:allow drop-table\nDROP TABLE a;\n-- migsafe:allow truncate reason=\"not here\"\nSELECT 1;\n").unwrap();
    let v = json(&migsafe(&[
        "check",
        f.to_str().unwrap(),
        "--format",
        "json",
    ]));
    let findings = v["migrations"][0]["findings"].as_array().unwrap();
    let rules: Vec<&str> = findings
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"invalid-suppression"), "{rules:?}");
    assert!(rules.contains(&"unused-suppression"), "{rules:?}");
    let drop = findings.iter().find(|f| f["rule"] == "drop-table").unwrap();
    assert_eq!(
        drop["suppressed"], false,
        "a suppression without reason is not honoured"
    );
    assert_eq!(v["verdict"], "destructive");
}

#[test]
fn explain_and_list_rules() {
    let r = migsafe(&["check", "--explain", "drop-column"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("# drop-column"));
    assert!(r.stdout.contains("## Safer"));
    let r = migsafe(&["lint", "--list-rules", "--format", "json"]);
    assert_eq!(r.code, 0);
    let v = json(&r);
    let names: Vec<&str> = v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"drop-table") && names.contains(&"unknown-statement"));
    assert!(
        migsafe(&["check", "--list-rules"])
            .stdout
            .contains("create-index-non-concurrently")
    );
}

#[test]
fn every_layout_fixture_is_checked() {
    for (layout, migrations) in [
        ("sqlx", 3),
        ("golang-migrate", 3),
        ("flyway", 4),
        ("dbmate", 3),
        ("goose", 3),
        ("prisma", 2),
        ("diesel", 3),
        ("drizzle", 2),
        ("plain", 3),
    ] {
        let path = format!("fixtures/migrations/{layout}");
        let r = migsafe(&["check", &path, "--format", "json", "--fail-on", "never"]);
        assert_eq!(r.code, 0, "{layout}: {}", r.stderr);
        let v = json(&r);
        let migs = v["migrations"].as_array().unwrap();
        assert_eq!(migs.len(), migrations, "{layout}");
        assert!(migs.iter().all(|m| m["layout"] == layout), "{layout}: {v}");
        let forced = migsafe(&[
            "check",
            &path,
            "--layout",
            layout,
            "--format",
            "json",
            "--fail-on",
            "never",
        ]);
        assert_eq!(forced.code, 0, "{layout} forced: {}", forced.stderr);
    }
}

#[test]
fn since_judges_only_new_and_changed_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"]);
    fs::create_dir(d.join("db")).unwrap();
    fs::write(
        d.join("db/1_create.sql"),
        "CREATE TABLE t (id int, legacy int);\n",
    )
    .unwrap();
    fs::write(
        d.join("db/2_drop.sql"),
        "ALTER TABLE t DROP COLUMN legacy;\n",
    )
    .unwrap();
    git(d, &["add", "."]);
    git(d, &["commit", "-qm", "base"]);
    fs::write(d.join("db/3_index.sql"), "CREATE INDEX t_id ON t (id);\n").unwrap();
    let r = migsafe_in(d, &["check", "db", "--since", "main", "--format", "json"]);
    let v = json(&r);
    let migs = v["migrations"].as_array().unwrap();
    assert_eq!(migs.len(), 1, "{v}");
    assert!(migs[0]["path"].as_str().unwrap().ends_with("3_index.sql"));
    assert_eq!(v["verdict"], "risky");
    assert_usage_error(
        &migsafe_in(d, &["check", "db", "--since", "no-such-rev"]),
        "no-such-rev",
    );
}
