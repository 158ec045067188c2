//! The statement catalog (`fixtures/catalog/<dialect>/<theme>.sql`): hand-written statements, each
//! labelled with the verdict and the exact set of rules migsafe must report on it. Every case is
//! checked through the library as its own migration, after its setup migrations; all mismatches
//! are reported at once. The catalog must cover every rule of the registry.
//!
//! A case is a block of lines starting with `-- case:`:
//!
//! ```sql
//! -- case: widening varchar is metadata-only
//! -- expect: safe []
//! -- version: 11              (optional: target version; default as in the CLI)
//! -- no-transaction           (optional: the migrator does not wrap the migration in a transaction)
//! -- mysql-strict             (optional: `[mysql] strict_mode = true`)
//! -- setup                    (optional, repeatable: an earlier migration, up to the next marker)
//! CREATE TABLE users (id bigint PRIMARY KEY, name varchar(50));
//! -- migration                (required after a setup: the checked migration follows)
//!                             (`-- setup V` / `-- migration V` give the migration's version V)
//! SET lock_timeout = '2s';
//! -- judged                   (optional: judge the next statement instead of the last one)
//! ALTER TABLE users ALTER COLUMN name TYPE varchar(100);
//! ```
//!
//! The judged statement is the last top-level statement of the checked migration, or the first one
//! after a `-- judged` line when the case has one (a SQLite rebuild is judged on its DROP TABLE,
//! before the final RENAME), together with the statements migsafe finds inside it (DO blocks and
//! routine bodies). The other statements are context of the same file (a `SET lock_timeout`, a
//! `BEGIN`, a `CREATE TABLE` that makes the table new). `expect:` lists the judged statement's
//! verdict and every unsuppressed finding on it (rules and the classifier's pseudo-rules), `[]` for
//! none. Setup migrations and context statements must parse (no `unknown-statement`), so a broken
//! setup cannot go unnoticed. The dialect is the folder name.

use migsafe::classify::{CheckOptions, Subject, check_section};
use migsafe::migrations::SqlSection;
use migsafe::migrations::sections::has_no_transaction_directive;
use migsafe::model::{MigrationReport, Verdict};
use migsafe::rules::{META_RULES, RULES, Schema, Version};
use migsafe::sql::Dialect;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MIN_CASES: usize = 150;

#[derive(Debug)]
struct Case {
    file: String,
    line: usize,
    dialect: Dialect,
    title: String,
    verdict: Verdict,
    rules: BTreeSet<String>,
    version: Option<Version>,
    transaction: bool,
    mysql_strict: bool,
    setups: Vec<String>,
    /// Versions of the setups (empty when not given).
    setup_versions: Vec<String>,
    migration: String,
    migration_version: String,
    /// 1-based line in `migration` of the `-- judged` marker, if any.
    judged_after: Option<usize>,
}

fn catalog_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/catalog")
}

fn parse_verdict(s: &str) -> Option<Verdict> {
    Verdict::ALL.into_iter().find(|v| v.as_str() == s)
}

/// `destructive [drop-column, missing-lock-timeout]` → (verdict, rules).
fn parse_expect(s: &str) -> Result<(Verdict, BTreeSet<String>), String> {
    let (v, rest) = s
        .split_once('[')
        .ok_or_else(|| format!("`expect:` needs `<verdict> [rules]`, got {s:?}"))?;
    let verdict = parse_verdict(v.trim()).ok_or_else(|| format!("unknown verdict {v:?}"))?;
    let list = rest
        .trim_end()
        .strip_suffix(']')
        .ok_or_else(|| format!("`expect:` rule list must end with `]`: {s:?}"))?;
    let rules = list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    Ok((verdict, rules))
}

fn dialect_of(dir: &str) -> Option<Dialect> {
    match dir {
        "postgres" => Some(Dialect::Postgres),
        "mysql" => Some(Dialect::Mysql),
        "sqlite" => Some(Dialect::Sqlite),
        _ => None,
    }
}

/// Splits one catalog file into cases; format errors are collected into `errors`.
fn parse_file(rel: &str, dialect: Dialect, text: &str, errors: &mut Vec<String>) -> Vec<Case> {
    #[derive(PartialEq)]
    enum Part {
        Header,
        Setup,
        Migration,
    }
    let mut cases = Vec::new();
    let mut cur: Option<(Case, Part, bool)> = None; // (case, part, has expect)
    let finish =
        |c: Option<(Case, Part, bool)>, cases: &mut Vec<Case>, errors: &mut Vec<String>| {
            let Some((mut case, part, has_expect)) = c else {
                return;
            };
            let at = format!("{}:{}", case.file, case.line);
            if !has_expect {
                errors.push(format!("{at}: case has no `-- expect:` line"));
                return;
            }
            if part == Part::Setup {
                errors.push(format!(
                "{at}: a `-- setup` section must be followed by `-- migration` and the checked SQL"
            ));
                return;
            }
            for s in &mut case.setups {
                *s = s.trim_end().to_string() + "\n";
            }
            case.migration = case.migration.trim_end().to_string() + "\n";
            if case.migration.trim().is_empty() {
                errors.push(format!("{at}: case has no SQL to check"));
                return;
            }
            cases.push(case);
        };
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let t = line.trim();
        if let Some(title) = t.strip_prefix("-- case:") {
            finish(cur.take(), &mut cases, errors);
            cur = Some((
                Case {
                    file: rel.to_string(),
                    line: lineno,
                    dialect,
                    title: title.trim().to_string(),
                    verdict: Verdict::Safe,
                    rules: BTreeSet::new(),
                    version: None,
                    transaction: true,
                    mysql_strict: false,
                    setups: Vec::new(),
                    setup_versions: Vec::new(),
                    migration: String::new(),
                    migration_version: String::new(),
                    judged_after: None,
                },
                Part::Header,
                false,
            ));
            continue;
        }
        let Some((case, part, has_expect)) = cur.as_mut() else {
            if !(t.is_empty() || t.starts_with("--")) {
                errors.push(format!("{rel}:{lineno}: SQL before the first `-- case:`"));
            }
            continue;
        };
        if *part == Part::Header {
            if let Some(e) = t.strip_prefix("-- expect:") {
                match parse_expect(e) {
                    Ok((v, r)) => {
                        case.verdict = v;
                        case.rules = r;
                        *has_expect = true;
                    }
                    Err(e) => errors.push(format!("{rel}:{lineno}: {e}")),
                }
                continue;
            }
            if let Some(v) = t.strip_prefix("-- version:") {
                match Version::parse(v) {
                    Some(v) => case.version = Some(v),
                    None => errors.push(format!("{rel}:{lineno}: bad version {v:?}")),
                }
                continue;
            }
            if t == "-- no-transaction" {
                case.transaction = false;
                continue;
            }
            if t == "-- mysql-strict" {
                case.mysql_strict = true;
                continue;
            }
        }
        let marker = |name: &str| {
            t.strip_prefix(name)
                .filter(|v| v.is_empty() || v.starts_with(' '))
                .map(str::trim)
        };
        if let Some(version) = marker("-- setup") {
            if *part == Part::Migration {
                errors.push(format!(
                    "{rel}:{lineno}: `-- setup` after `-- migration`: setups come first"
                ));
            }
            case.setups.push(String::new());
            case.setup_versions.push(version.to_string());
            *part = Part::Setup;
            continue;
        }
        if let Some(version) = marker("-- migration") {
            if *part == Part::Migration {
                errors.push(format!("{rel}:{lineno}: second `-- migration` in a case"));
            }
            case.migration_version = version.to_string();
            *part = Part::Migration;
            continue;
        }
        if t == "-- judged" {
            if case.judged_after.is_some() {
                errors.push(format!("{rel}:{lineno}: second `-- judged` in a case"));
            }
            if *part == Part::Setup {
                errors.push(format!(
                    "{rel}:{lineno}: `-- judged` belongs in the checked migration, not a setup"
                ));
            }
            *part = Part::Migration;
            // keep the marker in the SQL (a comment) so line numbers stay put
            case.migration.push_str(line);
            case.migration.push('\n');
            case.judged_after = Some(case.migration.lines().count());
            continue;
        }
        match part {
            Part::Setup => {
                let s = case.setups.last_mut().expect("setup section");
                s.push_str(line);
                s.push('\n');
            }
            Part::Header | Part::Migration => {
                *part = Part::Migration;
                case.migration.push_str(line);
                case.migration.push('\n');
            }
        }
    }
    finish(cur.take(), &mut cases, errors);
    cases
}

fn load_catalog() -> (Vec<Case>, Vec<String>) {
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    let root = catalog_dir();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if !dir.is_dir() {
            continue;
        }
        let Some(dialect) = dialect_of(&name) else {
            errors.push(format!(
                "fixtures/catalog/{name}: not a dialect folder (postgres, mysql, sqlite)"
            ));
            continue;
        };
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        for f in files {
            let rel = format!(
                "fixtures/catalog/{name}/{}",
                f.file_name().unwrap().to_string_lossy()
            );
            let text = std::fs::read_to_string(&f).unwrap();
            cases.extend(parse_file(&rel, dialect, &text, &mut errors));
        }
    }
    (cases, errors)
}

fn run_migration(
    text: &str,
    transaction: bool,
    schema: &mut Schema,
    opts: &CheckOptions,
) -> MigrationReport {
    let section = SqlSection {
        path: "<catalog>".into(),
        text: Arc::from(text),
        range: 0..text.len(),
    };
    let subject = Subject {
        path: "<catalog>".to_string(),
        version: String::new(),
        description: String::new(),
        layout: "plain",
        direction: "up",
        transaction: transaction && !has_no_transaction_directive(text),
        checksum: String::new(),
    };
    check_section(&section, subject, schema, opts)
}

/// Checks one case; `Err` describes the mismatch.
fn check_case(case: &Case) -> Result<(), String> {
    let opts = CheckOptions {
        dialect: case.dialect,
        target_version: case.version,
        mysql_strict: case.mysql_strict,
        ..CheckOptions::default()
    };
    let mut schema = Schema::default();
    let mut problems = Vec::new();
    for (n, setup) in case.setups.iter().enumerate() {
        schema.begin_migration(&case.setup_versions[n]);
        let r = run_migration(setup, true, &mut schema, &opts);
        for s in r.statements.iter().filter(|s| s.parser == "none") {
            problems.push(format!(
                "setup #{} statement not understood: {}",
                n + 1,
                s.sql.trim()
            ));
        }
    }
    schema.begin_migration(&case.migration_version);
    let r = run_migration(&case.migration, case.transaction, &mut schema, &opts);
    let top = r.statements.iter().filter(|s| s.nested_in.is_none());
    let judged = match case.judged_after {
        Some(marker) => top.filter(|s| s.line > marker).map(|s| s.index).next(),
        None => top.map(|s| s.index).next_back(),
    };
    let Some(judged) = judged else {
        return Err("the checked migration has no statement to judge".to_string());
    };
    let in_judged = |idx: usize| {
        idx == judged
            || r.statements
                .iter()
                .any(|s| s.index == idx && s.nested_in == Some(judged))
    };
    for s in &r.statements {
        if !in_judged(s.index) && s.parser == "none" {
            problems.push(format!(
                "context statement not understood: {}",
                s.sql.trim()
            ));
        }
    }
    let verdict = r
        .statements
        .iter()
        .filter(|s| in_judged(s.index))
        .fold(Verdict::Safe, |v, s| v.worst(s.verdict));
    let findings: Vec<_> = r
        .findings
        .iter()
        .filter(|f| !f.suppressed && in_judged(f.statement_index))
        .collect();
    let rules: BTreeSet<String> = findings.iter().map(|f| f.rule.clone()).collect();
    if verdict != case.verdict || rules != case.rules {
        problems.push(format!(
            "expected {} [{}], got {} [{}]",
            case.verdict,
            case.rules.iter().cloned().collect::<Vec<_>>().join(", "),
            verdict,
            rules.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
        for f in &findings {
            problems.push(format!("  {} ({}): {}", f.rule, f.verdict, f.message));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n    "))
    }
}

#[test]
fn catalog_cases_get_their_expected_verdict_and_rules() {
    let (cases, mut errors) = load_catalog();
    let known: BTreeSet<&str> = RULES
        .iter()
        .map(|r| r.meta.name)
        .chain(META_RULES.iter().map(|m| m.name))
        .collect();
    let mut failures = String::new();
    let mut failed = 0;
    for case in &cases {
        for r in &case.rules {
            if !known.contains(r.as_str()) {
                errors.push(format!(
                    "{}:{}: `expect:` names unknown rule `{r}`",
                    case.file, case.line
                ));
            }
        }
        if let Err(e) = check_case(case) {
            failed += 1;
            let _ = writeln!(
                failures,
                "{}:{}: {} ({})\n    {e}\n    SQL: {}",
                case.file,
                case.line,
                case.title,
                case.dialect.as_str(),
                case.migration.trim().replace('\n', "\n         ")
            );
        }
    }
    let mut report = String::new();
    if !errors.is_empty() {
        let _ = writeln!(
            report,
            "catalog format errors ({}):\n{}\n",
            errors.len(),
            errors.join("\n")
        );
    }
    if failed > 0 {
        let _ = write!(
            report,
            "{failed} of {} catalog cases do not match:\n{failures}",
            cases.len()
        );
    }
    assert!(report.is_empty(), "{report}");
}

#[test]
fn catalog_is_large_and_covers_every_rule() {
    let (cases, _) = load_catalog();
    assert!(
        cases.len() >= MIN_CASES,
        "the catalog has {} cases; it must keep at least {MIN_CASES}",
        cases.len()
    );
    let mut fired: BTreeMap<&str, usize> = RULES.iter().map(|r| (r.meta.name, 0)).collect();
    for case in &cases {
        for r in &case.rules {
            if let Some(n) = fired.get_mut(r.as_str()) {
                *n += 1;
            }
        }
    }
    let missing: Vec<&str> = fired
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(r, _)| *r)
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a catalog case that expects them (add cases to fixtures/catalog/): {}",
        missing.join(", ")
    );
}

#[test]
fn catalog_format_is_parsed_as_documented() {
    let mut errors = Vec::new();
    let text = "-- a file comment\n\
                -- case: first\n\
                -- expect: risky [a, b]\n\
                -- version: 11\n\
                -- no-transaction\n\
                -- setup\n\
                CREATE TABLE t (a int);\n\
                -- setup 20240101000000\n\
                CREATE INDEX i ON t (a);\n\
                -- migration 20240101000001\n\
                SET lock_timeout = '1s';\n\
                ALTER TABLE t ADD COLUMN b int;\n\
                \n\
                -- case: second\n\
                -- expect: safe []\n\
                SELECT 1;\n";
    let cases = parse_file("x.sql", Dialect::Postgres, text, &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(cases.len(), 2);
    let c = &cases[0];
    assert_eq!(
        (c.line, c.verdict, c.transaction),
        (2, Verdict::Risky, false)
    );
    assert_eq!(c.rules.iter().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(c.version, Version::parse("11"));
    assert_eq!(c.setups.len(), 2);
    assert_eq!(c.setup_versions, ["", "20240101000000"]);
    assert_eq!(c.migration_version, "20240101000001");
    assert!(
        c.migration.starts_with("SET lock_timeout"),
        "{:?}",
        c.migration
    );
    assert!(cases[1].rules.is_empty() && cases[1].transaction);
    let mut errors = Vec::new();
    parse_file(
        "y.sql",
        Dialect::Postgres,
        "-- case: x\n-- setup\nSELECT 1;\n",
        &mut errors,
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
}

/// A word no SQL dialect reads as a keyword.
const GARBAGE: &str = "zqgarbagez";

/// The innermost statement of `stmts` (top level or nested) whose span contains `at`.
fn statement_at(
    stmts: &[migsafe::sql::ir::Statement],
    at: usize,
) -> Option<&migsafe::sql::ir::Statement> {
    stmts
        .iter()
        .filter(|s| {
            s.dynamic.is_none() && s.span.start <= at && at < s.span.end.max(s.span.start + 1)
        })
        .max_by_key(|s| (s.nested_in.is_some(), s.span.start))
}

/// How a mutated statement was understood: (the statement at the mutation or one nested in it
/// is unknown, the innermost statement's parser).
fn judge_mutant(text: &str, at: usize, dialect: Dialect) -> (bool, migsafe::sql::ir::Parser) {
    use migsafe::sql::ir::Parser;
    let stmts = migsafe::sql::statements(text, 0..text.len(), dialect);
    let Some(inner) = statement_at(&stmts, at) else {
        return (true, Parser::None);
    };
    let top = inner.nested_in.unwrap_or(inner.index);
    let unknown = inner.parser == Parser::None
        || stmts
            .iter()
            .any(|s| (s.index == top || s.nested_in == Some(top)) && s.parser == Parser::None);
    (unknown, inner.parser)
}

#[test]
fn catalog_statements_with_a_token_changed_to_garbage_are_unknown() {
    use migsafe::sql::ir::Parser;
    use migsafe::sql::lexer::{Lexer, TokKind};
    let (cases, _) = load_catalog();
    let (mut checked, mut valid_sql, mut identifier_position) = (0usize, 0usize, 0usize);
    let mut failures = Vec::new();
    for case in &cases {
        let text = case.migration.as_str();
        let d = case.dialect;
        let stmts = migsafe::sql::statements(text, 0..text.len(), d);
        // every token of every statement the original understands, bodies included
        let toks: Vec<(usize, usize)> = stmts
            .iter()
            .filter(|s| s.nested_in.is_none() && s.parser != Parser::None)
            .flat_map(|s| {
                let mut spans = vec![s.span];
                // the text of DO blocks and routine bodies is code too
                spans.extend(
                    migsafe::sql::routine_bodies(text, s, d)
                        .into_iter()
                        .map(|(b, _)| b),
                );
                spans
            })
            .flat_map(|span| {
                Lexer::new(text, span.start, span.end, d)
                    .filter(|t| {
                        !(t.is_trivia() || (t.kind == TokKind::Punct && t.text(text) == ";"))
                    })
                    .map(|t| (t.start, t.end))
                    .collect::<Vec<_>>()
            })
            .collect();
        let quote = if d == Dialect::Mysql { '`' } else { '"' };
        for (a, b) in toks {
            // spaces keep the garbage a word of its own (`a.b` must not become `azqgarbagezb`)
            let mutant = format!("{} {GARBAGE} {}", &text[..a], &text[b..]);
            let (unknown, parser) = judge_mutant(&mutant, a + 1, d);
            if unknown {
                checked += 1;
                continue;
            }
            if parser == Parser::Sqlparser {
                // valid SQL: the garbage word stands where a name or a type can (`ADD COLUMN c
                // zqgarbagez` declares a column of a user-defined type)
                valid_sql += 1;
                continue;
            }
            // the fallback accepted it: only where a quoted name could stand as well
            let quoted = format!("{} {quote}{GARBAGE}{quote} {}", &text[..a], &text[b..]);
            let (q_unknown, _) = judge_mutant(&quoted, a + 1, d);
            if !q_unknown {
                identifier_position += 1;
                continue;
            }
            failures.push(format!(
                "{}:{} ({}): `{}` → `{GARBAGE}` was not reported as unknown:\n    {}",
                case.file,
                case.line,
                case.title,
                &text[a..b],
                mutant.trim().replace('\n', "\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mutated statements were understood instead of being unknown:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // the test really exercised the parsers
    assert!(
        checked > 3000,
        "only {checked} mutants were unknown ({valid_sql} valid SQL, {identifier_position} names)"
    );
    eprintln!(
        "mutants: {checked} unknown, {valid_sql} still valid SQL (garbage as a name or type), {identifier_position} accepted by the fallback where a quoted name fits"
    );
}
