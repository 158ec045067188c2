//! Bad input: every case gets a clear message and exit 2, or an `unknown` statement; never a panic.

use crate::support::*;
use migsafe::classify::{CheckOptions, check_sql};
use migsafe::sql::Dialect;
use std::fs;

fn check_file(name: &str, bytes: &[u8], extra: &[&str]) -> (Run, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    fs::write(&p, bytes).unwrap();
    let mut args = vec!["check", p.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    (migsafe(&args), dir)
}

#[test]
fn empty_file_is_reported_not_silently_passed() {
    let (r, _d) = check_file("1_empty.sql", b"", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(v["migrations"][0]["findings"][0]["rule"], "empty-migration");
    assert_eq!(v["verdict"], "caution");
}

#[test]
fn binary_garbage_is_an_error_naming_the_file() {
    let (r, _d) = check_file(
        "1_bin.sql",
        &[0x00, 0xff, 0xfe, 0x80, 0x01, b';', 0xc3],
        &[],
    );
    assert_usage_error(&r, "1_bin.sql");
    assert!(r.stderr.contains("UTF-8"), "{}", r.stderr);
}

#[test]
fn utf8_garbage_is_unknown() {
    let (r, _d) = check_file(
        "1_garbage.sql",
        "\u{1}\u{7f}ÿ漢字 ))) ((; $$ '''".as_bytes(),
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(v["verdict"], "unknown");
}

#[test]
fn unterminated_dollar_quote_is_unknown_and_earlier_statements_survive() {
    let (r, _d) = check_file(
        "1_dq.sql",
        b"DROP TABLE a;\nDO $$ BEGIN ALTER TABLE b DROP COLUMN c;\n",
        &[],
    );
    let v = json(&r);
    let st = v["migrations"][0]["statements"].as_array().unwrap();
    assert_eq!(st[0]["kind"], "drop_table");
    assert_eq!(st[1]["verdict"], "unknown");
    assert_eq!(v["verdict"], "destructive");
}

#[test]
fn deeply_nested_parentheses_are_unknown_not_a_stack_overflow() {
    let sql = format!("SELECT {}1{};", "(".repeat(50_000), ")".repeat(50_000));
    let (r, _d) = check_file("1_deep.sql", sql.as_bytes(), &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(v["migrations"][0]["statements"][0]["verdict"], "unknown");
    assert!(
        v["migrations"][0]["statements"][0]["parse_error"]
            .as_str()
            .unwrap()
            .contains("recursion")
    );
}

#[test]
fn ten_megabyte_single_statement() {
    let mut sql = String::from("INSERT INTO t (a, b) VALUES ");
    let row = "(12345, 'some text value'),";
    while sql.len() < 10 * 1024 * 1024 {
        sql.push_str(row);
    }
    sql.push_str("(0, 'x');");
    let (r, _d) = check_file("1_big.sql", sql.as_bytes(), &["--fail-on", "never"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(v["summary"]["statements"], 1);
    assert_eq!(v["migrations"][0]["statements"][0]["kind"], "insert");
}

#[test]
fn unreadable_path_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("1_x.sql");
    std::os::unix::fs::symlink(dir.path().join("missing-target"), &link).unwrap();
    let r = migsafe(&["check", link.to_str().unwrap()]);
    assert_usage_error(&r, "1_x.sql");
}

/// A deterministic generator of SQL-ish fragments: no input may panic the classifier.
#[test]
fn random_sqlish_input_never_panics() {
    const PIECES: &[&str] = &[
        "ALTER",
        "TABLE",
        "DROP",
        "COLUMN",
        "CREATE",
        "INDEX",
        "CONCURRENTLY",
        "ON",
        "t",
        "\"q\"",
        "(",
        ")",
        ",",
        ";",
        "'",
        "$$",
        "$a$",
        "--",
        "/*",
        "*/",
        "BEGIN",
        "END",
        "CASE",
        "DELIMITER",
        "//",
        "DO",
        "SET",
        "NOT",
        "NULL",
        "DEFAULT",
        "now()",
        "TYPE",
        "varchar(",
        "é",
        "\n",
        "`",
        "[",
        "]",
        "E'\\'",
        "-- migsafe:allow drop-table reason=\"x\"",
        "TRUNCATE",
        "UPDATE",
        "DELETE",
        "FROM",
        "WHERE",
        "-- +goose StatementBegin",
        "-- +goose StatementEnd",
        "RENAME",
        "TO",
        "ADD",
        "CONSTRAINT",
        "FOREIGN",
        "KEY",
        "REFERENCES",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let n = (next() % 40) as usize;
        let sql: Vec<&str> = (0..n)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect();
        let sql = sql.join(if next() % 2 == 0 { " " } else { "" });
        for d in Dialect::ALL {
            let opts = CheckOptions {
                dialect: d,
                ..CheckOptions::default()
            };
            let report = check_sql(&sql, &opts);
            for f in &report.findings {
                assert!(f.line >= 1 && f.column >= 1, "{sql:?}: {f:?}");
            }
        }
    }
}

#[test]
fn template_placeholders_are_replaced_and_listed_but_strings_are_not() {
    let sql = "ALTER TABLE {{ index .Options \"Namespace\" }}.users ADD COLUMN x int;\nSELECT '{{ literal }}';\nUPDATE t SET a = ${var} WHERE id = 1;\n";
    let (r, _d) = check_file("1_tpl.sql", sql.as_bytes(), &[]);
    let v = json(&r);
    let m = &v["migrations"][0];
    let st = m["statements"].as_array().unwrap();
    // judged with a neutral name in place of the placeholder, which the report lists
    assert_eq!(st[0]["parser"], "sqlparser");
    assert_eq!(st[0]["sql"], "ALTER TABLE namespace.users ADD COLUMN x int");
    // inside a string it is data, not a placeholder
    assert_eq!(st[1]["sql"], "SELECT '{{ literal }}'");
    assert_eq!(st[1]["parser"], "sqlparser");
    assert_eq!(st[2]["parser"], "sqlparser");
    let p = m["placeholders"].as_array().unwrap();
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(
        (
            p[0]["name"].as_str(),
            p[0]["value"].as_str(),
            p[0]["line"].as_u64()
        ),
        (Some("Namespace"), Some("namespace"), Some(1))
    );
    assert_eq!(
        (p[1]["text"].as_str(), p[1]["source"].as_str()),
        (Some("${var}"), Some("identifier"))
    );
}
