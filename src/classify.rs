//! Runs the rules over migrations: statement context, suppressions, verdicts, release class.

use crate::migrations::{Migration, SqlSection, Transaction};
use crate::model::*;
use crate::rules::{self, Ctx, Hit, Schema, Version};
use crate::sql::ir::{AlterAction, ObjectKind, Op, Parser, Statement};
use crate::sql::{self, Dialect};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A per-rule setting from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Off,
    Severity(Severity),
}

#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub dialect: Dialect,
    pub target_version: Option<Version>,
    pub fail_on: FailOn,
    pub rule_levels: HashMap<String, Level>,
    /// `[check.placeholders]`: template placeholder name → value.
    pub placeholders: std::collections::BTreeMap<String, String>,
    /// `[mysql] strict_mode = true`: the server rejects values that do not fit instead of
    /// truncating them.
    pub mysql_strict: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            dialect: Dialect::Postgres,
            target_version: None,
            fail_on: FailOn::Risky,
            rule_levels: HashMap::new(),
            placeholders: Default::default(),
            mysql_strict: false,
        }
    }
}

/// 1-based line/column lookup for a file.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    pub fn position(&self, text: &str, offset: usize) -> Position {
        let offset = offset.min(text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = text.get(start..offset).map_or(1, |s| s.chars().count() + 1);
        Position { line, column }
    }
}

/// A `-- migsafe:allow` comment.
#[derive(Debug, Clone)]
struct Suppression {
    rules: Vec<String>,
    reason: Option<String>,
    file_wide: bool,
    /// Byte offset of the comment; a line suppression covers the next statement after it.
    offset: usize,
    end: usize,
    used: bool,
}

/// The reason of a suppression: `"…"` or `'…'` (up to the last matching quote, so the other
/// quote may appear inside), else the bare rest of the line; quotes are not part of it.
fn unquote(raw: &str) -> String {
    let raw = raw.trim();
    for q in ['"', '\''] {
        if let Some(inner) = raw.strip_prefix(q) {
            let inner = inner.rfind(q).map_or(inner, |end| &inner[..end]);
            return inner.trim().to_string();
        }
    }
    raw.to_string()
}

/// A suppression that names a rule that does not exist: the suppression would silently not
/// apply, so the run stops (exit 2) and names the closest rule.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path}:{line}: `-- migsafe:{kind}` names `{name}`, which is not a rule{hint}; fix the name (`migsafe check --list-rules` lists them)"
)]
pub struct SuppressionError {
    pub path: String,
    pub line: usize,
    pub kind: &'static str,
    pub name: String,
    pub hint: String,
}

fn rule_exists(name: &str) -> bool {
    rules::find(name).is_some() || rules::META_RULES.iter().any(|m| m.name == name)
}

/// The rule name closest to `name` (by edit distance), for "did you mean" hints.
pub fn closest_rule(name: &str) -> Option<&'static str> {
    rules::RULES
        .iter()
        .map(|r| r.meta.name)
        .chain(rules::META_RULES.iter().map(|m| m.name))
        .map(|n| (edit_distance(name, n), n))
        .filter(|(d, n)| *d <= n.len().max(name.len()) / 2)
        .min()
        .map(|(_, n)| n)
}

/// Levenshtein distance over chars.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Every suppression in the up sections of `migrations` must name existing rules.
pub fn validate_suppressions(migrations: &[Migration]) -> Result<(), SuppressionError> {
    for m in migrations {
        let text = &m.up.text;
        for sup in parse_suppressions(text, m.up.range.clone()) {
            if let Some(name) = sup.rules.iter().find(|r| !rule_exists(r)) {
                return Err(SuppressionError {
                    path: m.path.display().to_string(),
                    line: LineIndex::new(text).position(text, sup.offset).line,
                    kind: if sup.file_wide { "allow-file" } else { "allow" },
                    name: name.clone(),
                    hint: closest_rule(name)
                        .map(|c| format!(" (did you mean `{c}`?)"))
                        .unwrap_or_default(),
                });
            }
        }
    }
    Ok(())
}

fn parse_suppressions(text: &str, range: std::ops::Range<usize>) -> Vec<Suppression> {
    let mut out = Vec::new();
    let mut pos = range.start;
    for line in text[range.clone()].split_inclusive('\n') {
        let start = pos;
        pos += line.len();
        let trimmed = line.trim();
        let Some(rest) = trimmed.strip_prefix("--").map(str::trim_start) else {
            continue;
        };
        let (file_wide, rest) = if let Some(r) = rest.strip_prefix("migsafe:allow-file") {
            (true, r)
        } else if let Some(r) = rest.strip_prefix("migsafe:allow") {
            (false, r)
        } else {
            continue;
        };
        let (names, reason) = match rest.find("reason=") {
            Some(i) => (
                &rest[..i],
                Some(unquote(&rest[i + 7..])).filter(|r| !r.is_empty()),
            ),
            None => (rest, None),
        };
        let rules = names
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let lead = line.len() - line.trim_start().len();
        out.push(Suppression {
            rules,
            reason,
            file_wide,
            offset: start + lead,
            end: start + line.trim_end().len(),
            used: false,
        });
    }
    out
}

fn is_schema_change(op: &Op) -> bool {
    matches!(
        op,
        Op::CreateTable { .. }
            | Op::AlterTable { .. }
            | Op::RenameTables { .. }
            | Op::CreateIndex { .. }
            | Op::Drop { .. }
            | Op::CreateView { .. }
            | Op::CreateRoutine { .. }
            | Op::CreateType { .. }
            | Op::AlterType { .. }
            | Op::CreateOther { .. }
            | Op::AlterOther { .. }
            | Op::Reindex { .. }
            | Op::Cluster
            | Op::Vacuum { full: true }
    )
}

/// Settings that bound how long a statement waits for a lock, per dialect.
fn lock_timeout_names(dialect: Dialect) -> &'static [&'static str] {
    match dialect {
        Dialect::Postgres => &["lock_timeout"],
        Dialect::Mysql => &["lock_wait_timeout", "innodb_lock_wait_timeout"],
        Dialect::Sqlite => &["busy_timeout"],
    }
}

/// The state that flows from one statement to the next within a file.
struct FileState {
    explicit_tx: bool,
    lock_timeout_set: bool,
    lock_timeout_reported: bool,
    created_here: HashSet<String>,
    /// Tables that existed before this file and were renamed in it: a later
    /// `CREATE TABLE IF NOT EXISTS` of the new name creates nothing.
    renamed_existing: HashSet<String>,
}

impl FileState {
    fn observe(&mut self, stmt: &Statement, dialect: Dialect, schema: &Schema) {
        if rules::context::sets_timeout(stmt, lock_timeout_names(dialect)) {
            self.lock_timeout_set = true;
        }
        for op in &stmt.ops {
            match op {
                Op::Begin => self.explicit_tx = true,
                Op::Commit | Op::Rollback => self.explicit_tx = false,
                Op::CreateTable {
                    table,
                    if_not_exists,
                    ..
                } => {
                    let key = table.key();
                    // IF NOT EXISTS of a table that already exists creates nothing new
                    let exists =
                        schema.tables.contains_key(&key) || self.renamed_existing.contains(&key);
                    if !(*if_not_exists && exists) {
                        self.created_here.insert(key);
                    }
                }
                Op::AlterTable { table, items, .. } => {
                    for item in items {
                        if let AlterAction::RenameTable { to } = &item.action {
                            if self.created_here.remove(&table.key()) {
                                self.created_here.insert(to.key());
                            } else {
                                self.renamed_existing.insert(to.key());
                            }
                        }
                    }
                }
                Op::Drop {
                    kind: ObjectKind::Table,
                    names,
                    ..
                } => {
                    for n in names {
                        self.created_here.remove(&n.key());
                    }
                }
                _ => {}
            }
        }
    }
}

/// Identifies what is being checked, for the report.
pub struct Subject<'a> {
    pub path: String,
    pub version: String,
    pub description: String,
    pub layout: &'a str,
    pub direction: &'static str,
    pub transaction: bool,
    pub checksum: String,
}

/// A section split and parsed, ready to be judged: the part of checking that does not depend
/// on earlier migrations, so sections are prepared on every core while the classifier judges
/// them in order.
pub struct Prepared {
    /// The file's text as checked (template placeholders replaced).
    pub text: Arc<str>,
    pub range: std::ops::Range<usize>,
    pub statements: Vec<Statement>,
    pub placeholders: Vec<sql::template::Placeholder>,
}

/// Replaces template placeholders, splits and parses a section (see [`Prepared`]).
pub fn prepare(section: &SqlSection, opts: &CheckOptions) -> Prepared {
    let (text, range, placeholders) = match sql::template::substitute(
        &section.text,
        section.range.clone(),
        opts.dialect,
        &opts.placeholders,
    ) {
        Some(s) => (Arc::from(s.text), s.range, s.placeholders),
        None => (section.text.clone(), section.range.clone(), Vec::new()),
    };
    let statements = sql::statements(&text, range.clone(), opts.dialect);
    Prepared {
        text,
        range,
        statements,
        placeholders,
    }
}

/// Checks one section of SQL. `schema` carries what earlier migrations created.
pub fn check_section(
    section: &SqlSection,
    subject: Subject,
    schema: &mut Schema,
    opts: &CheckOptions,
) -> MigrationReport {
    judge(prepare(section, opts), subject, schema, opts, None)
}

/// [`check_section`] for a migration whose migrator runs it as `tx` says: the transaction is
/// decided from its statements (a multi-statement query is one transaction only with more than
/// one statement), and a finding that holds only under an assumed mode says so.
pub fn check_section_tx(
    section: &SqlSection,
    subject: Subject,
    schema: &mut Schema,
    opts: &CheckOptions,
    tx: Option<&Transaction>,
) -> MigrationReport {
    judge(prepare(section, opts), subject, schema, opts, tx)
}

/// Runs the rules over a prepared section. `schema` carries what earlier migrations created;
/// `tx` is the migrator's transaction mode when known (see [`check_section_tx`]).
pub fn judge(
    prepared: Prepared,
    subject: Subject,
    schema: &mut Schema,
    opts: &CheckOptions,
    tx: Option<&Transaction>,
) -> MigrationReport {
    let Prepared {
        text,
        range,
        statements: stmts,
        placeholders,
    } = prepared;
    let section_start = range.start;
    let dialect = opts.dialect;
    let version = opts
        .target_version
        .unwrap_or_else(|| Version::default_for(dialect));
    let lines = LineIndex::new(&text);
    let migration_tx = match tx {
        Some(t) => t.mode.in_transaction(
            stmts
                .iter()
                .filter(|s| s.nested_in.is_none())
                .map(|s| s.sql.as_str()),
        ),
        None => subject.transaction,
    };
    let assumption = tx.and_then(Transaction::assumption);
    let mut sups = parse_suppressions(&text, range.clone());
    let mut state = FileState {
        explicit_tx: false,
        lock_timeout_set: false,
        lock_timeout_reported: false,
        created_here: HashSet::new(),
        renamed_existing: HashSet::new(),
    };
    let facts = rules::facts::Facts::new(&text, subject.transaction);
    let mut findings: Vec<Finding> = Vec::new();
    // (line, column, end line, verdict) per statement; the statement reports are built from the
    // statements once the rules are done with the file, reusing their memory
    let mut judged: Vec<(usize, usize, usize, Verdict)> = Vec::with_capacity(stmts.len());
    let mut major = false;
    let mut schema_change = false;

    for (i, stmt) in stmts.iter().enumerate() {
        // nested statements run with their parent's state, which already saw the parent
        let ctx = Ctx {
            dialect,
            version,
            version_configured: opts.target_version.is_some(),
            file: &text,
            migration_tx,
            explicit_tx: state.explicit_tx,
            lock_timeout_set: state.lock_timeout_set,
            lock_timeout_reported: state.lock_timeout_reported,
            created_here: &state.created_here,
            not_null_checks: &schema.not_null_checks,
            schema,
            nested: stmt.nested_in.is_some(),
            statements: &stmts,
            position: i,
            facts: &facts,
            mysql_strict: opts.mysql_strict,
        };
        facts.before(&ctx, stmt);
        let prev_stmt_end = if i == 0 {
            section_start
        } else {
            stmts[i - 1].span.end
        };
        let mut stmt_findings = Vec::new();
        for rule in rules::RULES.iter() {
            let meta = &rule.meta;
            if !meta.applies_to(dialect) {
                continue;
            }
            let level = opts.rule_levels.get(meta.name).copied();
            if level == Some(Level::Off) {
                continue;
            }
            let configured = match level {
                Some(Level::Severity(s)) => Some(s),
                _ => None,
            };
            let hits = (rule.check)(&ctx, stmt);
            // a hit that the other transaction mode would not produce rests on the assumption
            let flipped = match &assumption {
                Some(_) if !hits.is_empty() => Some((rule.check)(
                    &Ctx {
                        migration_tx: !migration_tx,
                        ..ctx.clone()
                    },
                    stmt,
                )),
                _ => None,
            };
            for Hit {
                span,
                mut message,
                verdict,
            } in hits
            {
                if let (Some(flipped), Some(assumption)) = (&flipped, &assumption)
                    && !flipped
                        .iter()
                        .any(|h| h.span == span && h.message == message && h.verdict == verdict)
                {
                    message = format!("{message} ({assumption})");
                }
                let natural = verdict.unwrap_or(meta.verdict);
                // a severity from the config caps the verdict; without one, each hit keeps its
                // own verdict (a caution rule may report a risky case) and the matching severity
                let (severity, verdict) = match configured {
                    None => (rules::severity_for(natural), natural),
                    Some(Severity::Error) => (Severity::Error, natural),
                    Some(Severity::Warning) => (
                        Severity::Warning,
                        if natural.rank() > Verdict::Caution.rank() {
                            Verdict::Caution
                        } else {
                            natural
                        },
                    ),
                    Some(Severity::Info) => (Severity::Info, Verdict::Safe),
                };
                if natural == Verdict::Destructive {
                    major = true;
                }
                let span = if span.is_empty() { stmt.span } else { span };
                let message = match &stmt.dynamic {
                    Some(how) => format!("{message} (found in dynamic SQL: {how})"),
                    None => message,
                };
                let start = lines.position(&text, span.start);
                let end = lines.position(&text, span.end);
                // a line suppression sits between the previous statement and this one
                let sup = sups.iter_mut().find(|s| {
                    s.rules.iter().any(|r| r == meta.name)
                        && (s.file_wide || (s.offset >= prev_stmt_end && s.end <= stmt.span.start))
                });
                let (suppressed, suppression_reason) = match sup {
                    Some(s) if s.reason.is_some() => {
                        s.used = true;
                        (true, s.reason.clone())
                    }
                    Some(s) => {
                        // a suppression without a reason is not honoured (and reported below)
                        s.used = true;
                        (false, None)
                    }
                    None => (false, None),
                };
                stmt_findings.push(Finding {
                    rule: meta.name.to_string(),
                    category: meta.category,
                    severity,
                    verdict,
                    statement_index: stmt.index,
                    line: start.line,
                    column: start.column,
                    end_line: end.line,
                    end_column: end.column,
                    byte_start: span.start,
                    byte_end: span.end,
                    message,
                    why: meta.why,
                    safer: meta.safer,
                    suppressed,
                    suppression_reason,
                });
            }
        }
        if stmt.ops.iter().any(is_schema_change) || stmt.parser == Parser::None {
            schema_change = true;
        }
        // unparsed statements carry an `unknown-statement` finding, which cannot be turned off
        let verdict = stmt_findings
            .iter()
            .filter(|f| !f.suppressed)
            .fold(Verdict::Safe, |v, f| v.worst(f.verdict));
        if stmt_findings
            .iter()
            .any(|f| f.rule == "missing-lock-timeout")
        {
            state.lock_timeout_reported = true;
        }
        let start = lines.position(&text, stmt.span.start);
        let end = lines.position(&text, stmt.span.end);
        judged.push((start.line, start.column, end.line, verdict));
        findings.extend(stmt_findings);
        facts.after(&ctx, stmt);
        state.observe(stmt, dialect, schema);
        schema.apply(stmt);
    }

    let stmt_starts: Vec<usize> = stmts.iter().map(|s| s.span.start).collect();
    // `into_iter().enumerate().map().collect()` builds the reports in the statements' buffer
    // when the two types have the same size (a statement report per statement, no second copy)
    let reports: Vec<StatementReport> = stmts
        .into_iter()
        .enumerate()
        .map(|(i, stmt)| {
            let (line, column, end_line, verdict) = judged[i];
            StatementReport {
                index: stmt.index,
                line,
                column,
                end_line,
                verdict,
                parsed: stmt.parser == Parser::Sqlparser,
                parser: stmt.parser.as_str(),
                kind: stmt.kind,
                sql: stmt.sql,
                parse_error: stmt.parse_error,
                nested_in: stmt.nested_in,
                dynamic_sql: stmt.dynamic,
            }
        })
        .collect();
    drop(judged);
    for s in &sups {
        let (rule, message) = if s.reason.is_none() {
            (
                "invalid-suppression",
                format!(
                    "suppression of {} has no reason: write `reason=\"…\"`; it is not honoured until it has one",
                    s.rules.join(", ")
                ),
            )
        } else if !s.used {
            (
                "unused-suppression",
                format!(
                    "suppression of {} matches no finding: remove it",
                    s.rules.join(", ")
                ),
            )
        } else {
            continue;
        };
        let meta = rules::meta::get(rule);
        let start = lines.position(&text, s.offset);
        let end = lines.position(&text, s.end);
        findings.push(Finding {
            rule: rule.to_string(),
            category: meta.category,
            severity: meta.default_severity(),
            verdict: meta.verdict,
            statement_index: stmt_starts
                .iter()
                .position(|&start| start >= s.offset)
                .unwrap_or(0),
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
            byte_start: s.offset,
            byte_end: s.end,
            message,
            why: meta.why,
            safer: meta.safer,
            suppressed: false,
            suppression_reason: None,
        });
    }
    if stmt_starts.is_empty() {
        let meta = &rules::meta::EMPTY;
        let at = lines.position(&text, section_start);
        findings.push(Finding {
            rule: meta.name.to_string(),
            category: meta.category,
            severity: meta.default_severity(),
            verdict: meta.verdict,
            statement_index: 0,
            line: at.line,
            column: at.column,
            end_line: at.line,
            end_column: at.column,
            byte_start: section_start,
            byte_end: section_start,
            message: "no SQL statement in this migration: it applies nothing".to_string(),
            why: meta.why,
            safer: meta.safer,
            suppressed: false,
            suppression_reason: None,
        });
    }
    findings.sort_by(|a, b| {
        (a.line, a.column, a.statement_index, &a.rule).cmp(&(
            b.line,
            b.column,
            b.statement_index,
            &b.rule,
        ))
    });

    let verdict = reports
        .iter()
        .map(|r| r.verdict)
        .chain(findings.iter().filter(|f| !f.suppressed).map(|f| f.verdict))
        .fold(Verdict::Safe, Verdict::worst);
    let release = if major {
        ReleaseClass::Major
    } else if schema_change {
        ReleaseClass::Minor
    } else {
        ReleaseClass::Patch
    };
    MigrationReport {
        dialect: dialect.as_str(),
        path: subject.path,
        version: subject.version,
        description: subject.description,
        layout: subject.layout.to_string(),
        direction: subject.direction,
        transaction: migration_tx,
        checksum: subject.checksum,
        verdict,
        release_class: release,
        statements: reports,
        findings,
        placeholders,
        source: text,
    }
}

/// Checks SQL text as one anonymous migration (tests, stdin).
pub fn check_sql(sql_text: &str, opts: &CheckOptions) -> MigrationReport {
    let section = SqlSection {
        path: "<sql>".into(),
        text: Arc::from(sql_text),
        range: 0..sql_text.len(),
    };
    let subject = Subject {
        path: "<sql>".to_string(),
        version: String::new(),
        description: String::new(),
        layout: "plain",
        direction: "up",
        transaction: !crate::migrations::sections::has_no_transaction_directive(sql_text),
        checksum: crate::migrations::checksum(sql_text),
    };
    check_section(&section, subject, &mut Schema::default(), opts)
}

/// How many prepared migrations may wait for the rules (bounds memory on long histories).
const PREPARE_AHEAD: usize = 64;

/// Checks migrations in order; `judge` says which ones are reported (the others only feed the
/// schema, e.g. files older than `--since`). `on_progress` is called after each migration.
/// Each migration is checked in its own dialect, against the schema its dialect's earlier
/// migrations built; `opts.target_version` applies to `opts.dialect`, other dialects use their
/// default version.
pub fn check_migrations(
    migrations: &[Migration],
    reported: &dyn Fn(&Migration) -> bool,
    opts: &CheckOptions,
    on_progress: &mut dyn FnMut(usize),
) -> Report {
    let mut schemas: HashMap<Dialect, Schema> = HashMap::new();
    let mut out = Vec::new();
    // each dialect's options are made once, before the workers need them
    let mut other_opts: HashMap<Dialect, CheckOptions> = HashMap::new();
    for m in migrations {
        if m.dialect != opts.dialect {
            other_opts.entry(m.dialect).or_insert_with(|| CheckOptions {
                dialect: m.dialect,
                target_version: None,
                ..opts.clone()
            });
        }
    }
    let opts_for = |d: Dialect| -> &CheckOptions {
        if d == opts.dialect {
            opts
        } else {
            &other_opts[&d]
        }
    };
    // parsing (most of the work) runs on every core; the rules run in apply order because each
    // migration sees the schema its dialect's earlier migrations built
    crate::parallel::ordered_map(
        migrations,
        PREPARE_AHEAD,
        |m| prepare(&m.up, opts_for(m.dialect)),
        |i, prepared| {
            let m = &migrations[i];
            let subject = Subject {
                path: m.path.display().to_string(),
                version: m.version.clone(),
                description: m.description.clone(),
                layout: m.layout.as_str(),
                direction: "up",
                transaction: m.transaction,
                checksum: m.checksum.clone(),
            };
            let schema = schemas.entry(m.dialect).or_default();
            schema.begin_migration(&m.version);
            let report = judge(prepared, subject, schema, opts_for(m.dialect), Some(&m.tx));
            if reported(m) {
                out.push(report);
            }
            on_progress(i + 1);
        },
    );
    build_report(out, opts)
}

/// Aggregates migration reports into the run report with its gate decision.
pub fn build_report(migrations: Vec<MigrationReport>, opts: &CheckOptions) -> Report {
    let mut summary = Summary {
        migrations: migrations.len(),
        ..Summary::default()
    };
    let mut verdict = Verdict::Safe;
    let mut release = ReleaseClass::Patch;
    let mut dialects: Vec<&'static str> = Vec::new();
    for m in &migrations {
        if !dialects.contains(&m.dialect) {
            dialects.push(m.dialect);
        }
        summary.statements += m.statements.len();
        summary.unknown += m
            .statements
            .iter()
            .filter(|s| s.verdict == Verdict::Unknown)
            .count();
        summary.findings += m.findings.iter().filter(|f| !f.suppressed).count();
        summary.suppressed += m.findings.iter().filter(|f| f.suppressed).count();
        summary.by_verdict.add(m.verdict);
        verdict = verdict.worst(m.verdict);
        release = release.max(m.release_class);
    }
    if dialects.is_empty() {
        dialects.push(opts.dialect.as_str());
    }
    Report {
        schema_version: 1,
        tool: Tool::default(),
        dialect: opts.dialect.as_str(),
        dialects,
        target_version: Some(
            opts.target_version
                .unwrap_or_else(|| Version::default_for(opts.dialect))
                .to_string(),
        ),
        verdict,
        release_class: release,
        fail_on: match opts.fail_on {
            FailOn::Destructive => "destructive",
            FailOn::Risky => "risky",
            FailOn::Caution => "caution",
            FailOn::Never => "never",
        },
        passed: !opts.fail_on.fails(verdict),
        migrations,
        skipped: Vec::new(),
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppression_reasons_in_either_quotes() {
        let reasons = |line: &str| {
            parse_suppressions(line, 0..line.len())
                .into_iter()
                .map(|s| (s.rules, s.reason))
                .collect::<Vec<_>>()
        };
        for line in [
            "-- migsafe:allow drop-table reason=\"legacy table, archived\"",
            "-- migsafe:allow drop-table reason='legacy table, archived'",
            "-- migsafe:allow drop-table reason= 'legacy table, archived'  ",
        ] {
            assert_eq!(
                reasons(line),
                [(
                    vec!["drop-table".to_string()],
                    Some("legacy table, archived".to_string())
                )],
                "{line}"
            );
        }
        assert_eq!(
            reasons("-- migsafe:allow drop-table reason='it\"s \"fine\"'")[0]
                .1
                .as_deref(),
            Some("it\"s \"fine\"")
        );
        assert_eq!(
            reasons("-- migsafe:allow drop-table reason=\"the team's call\"")[0]
                .1
                .as_deref(),
            Some("the team's call")
        );
        assert_eq!(reasons("-- migsafe:allow drop-table reason=''")[0].1, None);
        assert_eq!(
            reasons("-- migsafe:allow a, b reason=plain words")[0],
            (
                vec!["a".to_string(), "b".to_string()],
                Some("plain words".to_string())
            )
        );
    }

    #[test]
    fn closest_rules() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(closest_rule("drop-colum"), Some("drop-column"));
        assert_eq!(
            closest_rule("update-without-were"),
            Some("update-without-where")
        );
        assert_eq!(closest_rule("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"), None);
    }

    #[test]
    fn line_index_positions() {
        let t = "ab\ncdé\nf";
        let li = LineIndex::new(t);
        assert_eq!(li.position(t, 0), Position { line: 1, column: 1 });
        assert_eq!(li.position(t, 3), Position { line: 2, column: 1 });
        assert_eq!(
            li.position(t, t.find('f').unwrap()),
            Position { line: 3, column: 1 }
        );
        assert_eq!(li.position(t, 7), Position { line: 2, column: 4 });
    }

    #[test]
    fn looks_inside_do_blocks_and_function_bodies() {
        let opts = CheckOptions::default();
        let r = check_sql(
            "DO $$ BEGIN IF true THEN ALTER TABLE users DROP COLUMN legacy; END IF; END $$;",
            &opts,
        );
        let f = r
            .findings
            .iter()
            .find(|f| f.rule == "drop-column")
            .expect("drop-column found in DO");
        assert_eq!(
            (f.line, f.column),
            (1, 56),
            "points at `legacy` inside the block"
        );
        assert_eq!(r.statements[1].nested_in, Some(0));
        let r = check_sql(
            "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $f$\nBEGIN\n  NEW.updated_at := now();\n  TRUNCATE audit;\n  RETURN NEW;\nEND $f$;",
            &opts,
        );
        assert!(
            r.findings
                .iter()
                .any(|f| f.rule == "truncate" && f.line == 4),
            "{:?}",
            r.findings
        );
        assert!(
            !r.findings.iter().any(|f| f.rule == "unknown-statement"),
            "{:?}",
            r.findings
        );
        // dynamic SQL is judged as written out, the unknown name standing in as an identifier
        let r = check_sql("DO $$ BEGIN EXECUTE 'DROP TABLE ' || t; END $$;", &opts);
        assert_eq!(r.verdict, Verdict::Destructive);
        let f = r.findings.iter().find(|f| f.rule == "drop-table").unwrap();
        assert!(f.message.contains("found in dynamic SQL"), "{}", f.message);
        // text that cannot be known stays unknown
        let r = check_sql("DO $$ BEGIN EXECUTE some_function(); END $$;", &opts);
        assert_eq!(r.verdict, Verdict::Unknown);
        let r = check_sql(
            "CREATE FUNCTION f() RETURNS int LANGUAGE plpython3u AS $$ return 1 $$;",
            &opts,
        );
        assert_eq!(
            r.statements.len(),
            1,
            "bodies in other languages are not SQL"
        );
    }

    #[test]
    fn lock_timeout_via_set_or_set_config() {
        let opts = CheckOptions::default();
        let lt = |sql: &str| {
            check_sql(sql, &opts)
                .findings
                .iter()
                .any(|f| f.rule == "missing-lock-timeout")
        };
        assert!(lt("ALTER TABLE t ADD COLUMN c int;"));
        assert!(!lt(
            "SET lock_timeout = '2s';\nALTER TABLE t ADD COLUMN c int;"
        ));
        assert!(!lt(
            "SELECT set_config('lock_timeout', '2s', true);\nALTER TABLE t ADD COLUMN c int;"
        ));
        assert!(lt("SET lock_timeout = 0;\nALTER TABLE t ADD COLUMN c int;"));
        assert!(lt(
            "SET statement_timeout = '5s';\nALTER TABLE t ADD COLUMN c int;"
        ));
    }
}
