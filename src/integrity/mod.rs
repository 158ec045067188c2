//! `migsafe integrity-check`: is this database sound? The engine-neutral model (checks with a
//! level, a cost class and an estimate; problems with evidence, fix and inspection SQL; what was
//! not run and why), the budget scheduler, and [`run`], the library entry point that
//! `backup verify --deep`, `restore` and `release` call.
//!
//! Every check runs read-only: PostgreSQL `BEGIN READ ONLY` with `SET LOCAL statement_timeout`,
//! MySQL/MariaDB `START TRANSACTION READ ONLY` with a per-statement time limit, SQLite on a
//! `query_only` connection with a progress-handler deadline. Nothing is ever committed.

pub mod against;
pub mod migration;
pub mod schedule;

use crate::engines::conn::Conn;
pub use crate::engines::integrity::*;
use crate::engines::snapshot::{self, SchemaFingerprint};
use crate::engines::{EngineError, EngineKind};
use serde::Deserialize;
use std::time::{Duration, Instant};

/// `schema_version` of the JSON output (docs/integrity.md).
pub const SCHEMA_VERSION: u32 = 1;

/// Result of `--against <manifest>`: the comparison's frame (the per-table and fingerprint
/// results are ordinary checks and problems).
#[derive(Debug, Clone, PartialEq)]
pub struct AgainstSummary {
    pub manifest: String,
    pub mode: against::Mode,
    pub tables: usize,
    pub expected_fingerprint: String,
    /// The fingerprint computed here, when the fingerprint check ran.
    pub actual_fingerprint: Option<String>,
}

/// Everything a run found, ran and did not run.
#[derive(Debug, Clone)]
pub struct IntegrityReport {
    pub engine: EngineKind,
    pub server_version: String,
    /// The database, as a redacted URL; set by the caller (the library does not know the URL).
    pub target: Option<String>,
    pub level: Level,
    pub budget: Option<Duration>,
    pub statement_timeout: Duration,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub elapsed: Duration,
    /// Time spent reading the catalog to plan the checks (counted against the budget).
    pub planning: Duration,
    pub checks: Vec<CheckRun>,
    /// Most severe first, then in the order the checks ran.
    pub problems: Vec<Problem>,
    pub not_run: Vec<NotRun>,
    pub against: Option<AgainstSummary>,
    /// `--only` filter in effect (check ids), empty for all checks.
    pub only: Vec<String>,
}

impl IntegrityReport {
    pub fn count(&self, severity: Severity) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == severity)
            .count()
    }

    /// Whether the database passed: at least one check ran and no problem is at or above
    /// `fail_on`. A run that checked nothing (budget too small, a level with no check for this
    /// engine) is [`Verdict::Inconclusive`], never a pass.
    pub fn passed(&self, fail_on: Severity) -> bool {
        self.verdict(fail_on) == Verdict::Passed
    }

    pub fn verdict(&self, fail_on: Severity) -> Verdict {
        if self.problems.iter().any(|p| p.severity >= fail_on) {
            Verdict::Failed
        } else if self.checks.is_empty() {
            Verdict::Inconclusive
        } else {
            Verdict::Passed
        }
    }
}

/// The outcome of a run as a gate: only `Passed` exits 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    /// No check ran, so nothing was verified.
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// A custom assertion from `migsafe.toml` (`[[integrity.assert]]`): a read-only query whose first
/// column of the first row must equal `expect`.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    pub name: String,
    pub sql: String,
    pub expect: String,
    pub timeout: Option<Duration>,
}

/// `[[integrity.assert]]` as written in `migsafe.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIntegrityConfig {
    #[serde(default, rename = "assert")]
    pub asserts: Vec<RawAssertion>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAssertion {
    pub name: String,
    pub sql: String,
    pub expect: toml::Value,
    pub timeout: Option<String>,
}

/// Validates `[[integrity.assert]]` entries; the message says which entry and what to write.
pub fn validate_assertions(raw: RawIntegrityConfig) -> Result<Vec<Assertion>, String> {
    let mut out: Vec<Assertion> = Vec::new();
    for (i, a) in raw.asserts.into_iter().enumerate() {
        let at = format!("[[integrity.assert]] #{} ({:?})", i + 1, a.name);
        if a.name.trim().is_empty() {
            return Err(format!(
                "[[integrity.assert]] #{}: name is empty; give every assertion a name",
                i + 1
            ));
        }
        if out.iter().any(|o| o.name == a.name) {
            return Err(format!(
                "{at}: another assertion has the same name; names must be unique"
            ));
        }
        if a.sql.trim().is_empty() {
            return Err(format!(
                "{at}: sql is empty; write a query whose first column is compared with expect"
            ));
        }
        let expect = match &a.expect {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(format!(
                    "{at}: expect = {other}: expected a number, a string or a boolean"
                ));
            }
        };
        let timeout = match &a.timeout {
            Some(t) => match humantime::parse_duration(t) {
                Ok(d) if !d.is_zero() => Some(d),
                _ => {
                    return Err(format!(
                        "{at}: timeout = {t:?}: expected a duration such as \"30s\" or \"500ms\""
                    ));
                }
            },
            None => None,
        };
        out.push(Assertion {
            name: a.name,
            sql: a.sql,
            expect,
            timeout,
        });
    }
    Ok(out)
}

/// Refuses an assertion that is not one read-only query: its SQL is classified as a migration
/// statement would be (`crate::sql`), and anything but a single SELECT (or `WITH … SELECT`,
/// `VALUES`) is refused before the run, naming the assertion and what the statement is. The
/// read-only transaction every assertion runs in is the second guard (a data-modifying CTE).
pub fn check_assertions_read_only(
    assertions: &[Assertion],
    dialect: crate::sql::Dialect,
) -> Result<(), String> {
    for (i, a) in assertions.iter().enumerate() {
        let stmts = crate::sql::statements(&a.sql, 0..a.sql.len(), dialect);
        let reads = stmts.len() == 1
            && !stmts[0].ops.is_empty()
            && stmts[0]
                .ops
                .iter()
                .all(|o| matches!(o, crate::sql::ir::Op::Select));
        if !reads {
            let kinds = stmts
                .iter()
                .map(|s| s.kind.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(format!(
                "[[integrity.assert]] #{} ({:?}): the sql is {} ({kinds}), not one read-only query; an assertion never writes: write a SELECT whose first column is compared with expect",
                i + 1,
                a.name,
                if stmts.len() == 1 {
                    "a statement that is not a query"
                } else {
                    "several statements"
                }
            ));
        }
    }
    Ok(())
}

/// What to check. `Default` is `--level standard`, no budget, 5 minutes per statement.
#[derive(Debug, Clone)]
pub struct IntegrityOptions {
    pub level: Level,
    /// Wall-clock budget for the whole run (planning included); checks whose estimate does not
    /// fit what is left are reported as not run.
    pub budget: Option<Duration>,
    /// Upper bound for any one statement.
    pub statement_timeout: Duration,
    /// amcheck: also verify that every heap tuple is in the index (slower; deep level only).
    pub heapallindexed: bool,
    /// Run only these check ids (empty: all).
    pub only: Vec<String>,
    /// Compare with a backup manifest.
    pub against: Option<against::Against>,
    /// Columns a pending migration makes NOT NULL (from `--migration`).
    pub not_null: Vec<migration::NotNullTarget>,
    pub assertions: Vec<Assertion>,
}

impl Default for IntegrityOptions {
    fn default() -> Self {
        IntegrityOptions {
            level: Level::Standard,
            budget: None,
            statement_timeout: Duration::from_secs(300),
            heapallindexed: false,
            only: Vec::new(),
            against: None,
            not_null: Vec::new(),
            assertions: Vec::new(),
        }
    }
}

/// A check id with what it does, for `--only` validation, docs and `--list-checks`.
#[derive(Debug, Clone, Copy)]
pub struct CheckInfo {
    pub id: &'static str,
    pub engines: &'static [EngineKind],
    pub level: Level,
    pub cost: CostClass,
    pub severity: Severity,
    pub what: &'static str,
}

const ALL_ENGINES: &[EngineKind] = &[EngineKind::Postgres, EngineKind::Mysql, EngineKind::Sqlite];
const PG: &[EngineKind] = &[EngineKind::Postgres];
const MY: &[EngineKind] = &[EngineKind::Mysql];
const LITE: &[EngineKind] = &[EngineKind::Sqlite];

/// Every check migsafe knows, cheapest level first. docs/integrity.md documents each (a test
/// keeps them in step).
pub const CHECKS: &[CheckInfo] = &[
    CheckInfo {
        id: "invalid-index",
        engines: PG,
        level: Level::Catalog,
        cost: CostClass::Catalog,
        severity: Severity::Error,
        what: "indexes with indisvalid or indisready false, e.g. left by a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY",
    },
    CheckInfo {
        id: "not-valid-constraint",
        engines: PG,
        level: Level::Catalog,
        cost: CostClass::Catalog,
        severity: Severity::Warning,
        what: "foreign keys and CHECK constraints added NOT VALID and never validated",
    },
    CheckInfo {
        id: "missing-primary-key",
        engines: &[EngineKind::Postgres, EngineKind::Mysql],
        level: Level::Catalog,
        cost: CostClass::Catalog,
        severity: Severity::Info,
        what: "tables without a primary key",
    },
    CheckInfo {
        id: "checksum-failures",
        engines: PG,
        level: Level::Catalog,
        cost: CostClass::Catalog,
        severity: Severity::Error,
        what: "data page checksum failures counted in pg_stat_database (not run when data checksums are off)",
    },
    CheckInfo {
        id: "schema-fingerprint",
        engines: ALL_ENGINES,
        level: Level::Catalog,
        cost: CostClass::Catalog,
        severity: Severity::Error,
        what: "with --against: the schema fingerprint equals the backup manifest's",
    },
    CheckInfo {
        id: "sequence-behind",
        engines: PG,
        level: Level::Standard,
        cost: CostClass::Probe,
        severity: Severity::Error,
        what: "sequences whose next value is not above the max of the column they feed",
    },
    CheckInfo {
        id: "auto-increment-behind",
        engines: MY,
        level: Level::Standard,
        cost: CostClass::Probe,
        severity: Severity::Error,
        what: "AUTO_INCREMENT counters not above the max of their column",
    },
    CheckInfo {
        id: "fk-orphans",
        engines: ALL_ENGINES,
        level: Level::Standard,
        cost: CostClass::Scan,
        severity: Severity::Error,
        what: "rows whose foreign key points at no parent row (per foreign key, an anti-join)",
    },
    CheckInfo {
        id: "check-violations",
        engines: PG,
        level: Level::Standard,
        cost: CostClass::Scan,
        severity: Severity::Error,
        what: "rows violating a NOT VALID CHECK constraint",
    },
    CheckInfo {
        id: "unique-duplicates",
        engines: PG,
        level: Level::Standard,
        cost: CostClass::Scan,
        severity: Severity::Error,
        what: "duplicate keys that violate an invalid unique index (why its build failed)",
    },
    CheckInfo {
        id: "not-null-blockers",
        engines: ALL_ENGINES,
        level: Level::Standard,
        cost: CostClass::Scan,
        severity: Severity::Error,
        what: "with --migration: NULLs (or rows) in columns the migration makes NOT NULL",
    },
    CheckInfo {
        id: "row-counts",
        engines: ALL_ENGINES,
        level: Level::Standard,
        cost: CostClass::Scan,
        severity: Severity::Error,
        what: "with --against: exact row counts per table equal the backup manifest's",
    },
    CheckInfo {
        id: "sqlite-integrity",
        engines: LITE,
        level: Level::Standard,
        cost: CostClass::Scan,
        severity: Severity::Error,
        what: "PRAGMA integrity_check: page structure, index entries, UNIQUE/NOT NULL/CHECK",
    },
    CheckInfo {
        id: "assert",
        engines: ALL_ENGINES,
        level: Level::Standard,
        cost: CostClass::Probe,
        severity: Severity::Error,
        what: "custom assertions from [[integrity.assert]] in migsafe.toml",
    },
    CheckInfo {
        id: "amcheck",
        engines: PG,
        level: Level::Deep,
        cost: CostClass::Scan,
        severity: Severity::Error,
        what: "amcheck bt_index_check on every B-tree index (with --heapallindexed: heap tuples missing from the index)",
    },
    CheckInfo {
        id: "check-table",
        engines: MY,
        level: Level::Deep,
        cost: CostClass::Scan,
        severity: Severity::Error,
        what: "CHECK TABLE on every table",
    },
];

pub fn check_info(id: &str) -> Option<&'static CheckInfo> {
    CHECKS.iter().find(|c| c.id == id)
}

async fn fingerprint(
    conn: &mut Conn,
    session: &Session,
    timeout: Duration,
) -> Result<SchemaFingerprint, DbFailure> {
    let eng = conn.kind().engine().integrity();
    eng.begin(conn, session, &ExecMode::ReadOnly, timeout)
        .await?;
    let res = snapshot::schema_fingerprint(conn).await;
    eng.end(conn, &ExecMode::ReadOnly).await;
    res.map_err(|e| eng.classify(&e))
}

/// Runs the checks of `opts.level` against the database behind `conn`, cheapest first, within the
/// budget. Never changes data: every statement runs in a read-only transaction that is rolled back
/// (see the module docs). Call it outside any transaction of your own.
///
/// The session of an integrity check on `url`: it gets through a maintenance that refuses
/// connections to the database (the runbook checks a restored database before the application
/// comes back).
pub async fn connect(url: &str) -> Result<Conn, EngineError> {
    match crate::engines::target::Target::parse(url) {
        Ok(t) => crate::engines::admin::open_through_block(&t, t.database(), url).await,
        Err(_) => Conn::open(url).await,
    }
}

/// Errors are reserved for "could not do the job" (catalog unreadable, connection lost); problems
/// found in the database are in the report.
pub async fn run(conn: &mut Conn, opts: &IntegrityOptions) -> Result<IntegrityReport, EngineError> {
    run_with_progress(conn, opts, &mut |_, _| {}).await
}

/// [`run`], reporting `(checks done, checks to run)` after each check.
pub async fn run_with_progress(
    conn: &mut Conn,
    opts: &IntegrityOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<IntegrityReport, EngineError> {
    let session = conn.kind().engine().integrity().session_start(conn).await?;
    let result = run_inner(conn, &session, opts, progress).await;
    for sql in &session.restore {
        // best effort: a failure here only leaves a session setting on the caller's connection
        let _ = conn.execute(sql).await;
    }
    result
}

async fn run_inner(
    conn: &mut Conn,
    session: &Session,
    opts: &IntegrityOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<IntegrityReport, EngineError> {
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let kind = conn.kind();
    if let Some(a) = &opts.against
        && a.expected.engine != kind
    {
        return Err(EngineError::step(
            "comparing with the manifest",
            format!(
                "{} describes a {} database, but the database is {}",
                a.expected.source, a.expected.engine, kind
            ),
        ));
    }
    let req = PlanRequest {
        heapallindexed: opts.heapallindexed,
        only: opts.only.clone(),
    };
    let ctx = PlanContext { req: &req, session };
    let eng = kind.engine().integrity();
    eng.begin(conn, session, &ExecMode::ReadOnly, opts.statement_timeout)
        .await
        .map_err(|e| EngineError::step("starting a read-only transaction", e))?;
    let plan = eng.plan(conn, &ctx).await;
    eng.end(conn, &ExecMode::ReadOnly).await;
    let plan = plan?;
    let EnginePlan {
        server_version,
        mut planned,
        sizes,
    } = plan;
    if ctx.wants("not-null-blockers") {
        planned.extend(migration::plan(kind, &opts.not_null, &sizes));
    }
    if let Some(a) = &opts.against {
        planned.extend(against::plan(kind, a, &sizes));
    }
    if ctx.wants("assert") {
        planned.extend(plan_assertions(&opts.assertions));
    }
    let planning = started.elapsed();

    let mut checks = Vec::new();
    let mut not_run = Vec::new();
    for p in planned {
        match p {
            Planned::Run(c) if !opts.only.is_empty() && !opts.only.iter().any(|o| o == c.id) => {}
            Planned::Skip(n)
                if !opts.only.is_empty() && !opts.only.iter().any(|o| o == n.check) => {}
            Planned::Run(c) if c.level > opts.level => {
                not_run.push(c.not_run(
                    NotRunReason::Level,
                    format!(
                        "a {} check; run with --level {}",
                        c.level.as_str(),
                        c.level.as_str()
                    ),
                ));
            }
            Planned::Skip(n) if n.level > opts.level => {
                not_run.push(NotRun {
                    reason: NotRunReason::Level,
                    detail: format!(
                        "a {} check; run with --level {}",
                        n.level.as_str(),
                        n.level.as_str()
                    ),
                    ..n
                });
            }
            Planned::Run(c) => checks.push(c),
            Planned::Skip(n) => not_run.push(n),
        }
    }
    schedule::order(&mut checks);

    let total = checks.len();
    // before the first check: the caller shows what is about to run
    progress(0, total);
    let mut runs = Vec::new();
    let mut problems = Vec::new();
    let mut actual_fingerprint = None;
    for (i, check) in checks.into_iter().enumerate() {
        let admission = schedule::admit(
            opts.budget,
            started.elapsed(),
            opts.statement_timeout,
            check.timeout,
            check.estimate,
        );
        let (timeout, budget_bound) = match admission {
            schedule::Admission::Run {
                timeout,
                budget_bound,
            } => (timeout, budget_bound),
            schedule::Admission::Skip { remaining } => {
                not_run.push(check.not_run(
                    NotRunReason::Budget,
                    format!(
                        "does not fit the budget ({} left)",
                        schedule::human(remaining)
                    ),
                ));
                progress(i + 1, total);
                continue;
            }
        };
        let began = Instant::now();
        let outcome: Result<Vec<Problem>, DbFailure> = match &check.exec {
            Exec::Known(p) => Ok(p.clone()),
            Exec::Query { sql, judge } => read_only_query(conn, session, &check.mode, sql, timeout)
                .await
                .map(|rows| judge(&rows)),
            Exec::Fingerprint(judge) => fingerprint(conn, session, timeout).await.map(|fp| {
                actual_fingerprint = Some(fp.sha256.clone());
                judge(&fp)
            }),
        };
        let duration = began.elapsed();
        match outcome {
            Ok(found) => {
                runs.push(check.ran(duration, found.len()));
                problems.extend(found);
            }
            Err(f) => match f.kind {
                FailureKind::Timeout if budget_bound => {
                    not_run.push(check.not_run(
                        NotRunReason::Budget,
                        format!(
                            "stopped when the budget ran out, after {}",
                            schedule::human(duration)
                        ),
                    ));
                }
                FailureKind::Timeout => {
                    not_run.push(check.not_run(
                        NotRunReason::Timeout,
                        format!(
                            "stopped by the statement timeout ({}): {}",
                            schedule::human(timeout),
                            f.message
                        ),
                    ));
                }
                FailureKind::LockTimeout => {
                    not_run.push(check.not_run(NotRunReason::Timeout, format!("could not get a lock in time (a migration or maintenance holds one): {}", f.message)));
                }
                FailureKind::Unavailable => {
                    not_run.push(check.not_run(NotRunReason::Unavailable, f.message.clone()));
                }
                FailureKind::Corruption => {
                    runs.push(check.ran(duration, 1));
                    problems.push(Problem {
                        check: check.id,
                        severity: Severity::Error,
                        object: check.object.clone(),
                        message: format!(
                            "the server reported corrupted data while checking {}",
                            check.object
                        ),
                        evidence: f.message.clone(),
                        count: None,
                        fix: CORRUPTION_FIX.to_string(),
                        inspect_sql: check.sql().map(str::to_string),
                    });
                }
                FailureKind::Other => {
                    // fails closed: a check that could not tell is a failure, not a pass
                    runs.push(check.ran(duration, 1));
                    problems.push(Problem {
                        check: check.id,
                        severity: Severity::Error,
                        object: check.object.clone(),
                        message: format!("the check failed with a database error, so {} is unverified", check.object),
                        evidence: f.message.clone(),
                        count: None,
                        fix: if check.id == "assert" {
                            "Fix the assertion's SQL in migsafe.toml ([[integrity.assert]]): it must be a read-only query returning one value (it ran in a read-only transaction, so nothing it tried to write was written)".to_string()
                        } else {
                            "Look at the error: it usually means a permission is missing or an object is in an unexpected state; run the inspect SQL yourself".to_string()
                        },
                        // an assertion that failed to run may have tried to write: never offer
                        // it as a query to inspect with
                        inspect_sql: if check.id == "assert" {
                            None
                        } else {
                            check.sql().map(str::to_string)
                        },
                    });
                }
            },
        }
        progress(i + 1, total);
    }
    // most severe first; the sort is stable, so checks keep their run order within a severity
    problems.sort_by_key(|p| std::cmp::Reverse(p.severity));
    let against = opts.against.as_ref().map(|a| AgainstSummary {
        manifest: a.expected.source.clone(),
        mode: a.mode,
        tables: a.expected.tables.len(),
        expected_fingerprint: a.expected.fingerprint.sha256.clone(),
        actual_fingerprint,
    });
    Ok(IntegrityReport {
        engine: kind,
        server_version,
        target: None,
        level: opts.level,
        budget: opts.budget,
        statement_timeout: opts.statement_timeout,
        started_at,
        elapsed: started.elapsed(),
        planning,
        checks: runs,
        problems,
        not_run,
        against,
        only: opts.only.clone(),
    })
}

const CORRUPTION_FIX: &str = "Treat it as corruption: stop writes if you can, copy the data directory aside, check the storage and whether the OS collation library changed; rebuild a damaged index with REINDEX (it does not repair heap damage) and restore damaged table data from a verified backup";

fn plan_assertions(assertions: &[Assertion]) -> Vec<Planned> {
    assertions
        .iter()
        .map(|a| {
            let expect = a.expect.clone();
            let name = a.name.clone();
            let sql = a.sql.trim().trim_end_matches(';').trim().to_string();
            let inspect = sql.clone();
            Planned::Run(Check {
                id: "assert",
                object: a.name.clone(),
                level: Level::Standard,
                cost: CostClass::Probe,
                estimate: None,
                mode: ExecMode::ReadOnly,
                timeout: a.timeout,
                exec: Exec::Query {
                    sql,
                    judge: Box::new(move |rows| {
                        let got = match rows.first() {
                            None => "no rows".to_string(),
                            Some(r) => r.first().cloned().flatten().unwrap_or_else(|| "NULL".to_string()),
                        };
                        if !rows.is_empty() && got == expect {
                            return Vec::new();
                        }
                        vec![Problem {
                            check: "assert",
                            severity: Severity::Error,
                            object: name.clone(),
                            message: format!("assertion {name:?} failed: expected {expect}, got {got}"),
                            evidence: format!("first column of the first row: {got} (expected {expect})"),
                            count: None,
                            fix: "Look at the rows the assertion's query finds and repair them, or correct the assertion in migsafe.toml".to_string(),
                            inspect_sql: Some(inspect.clone()),
                        }]
                    }),
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_order() {
        assert_eq!(Level::parse("Deep"), Some(Level::Deep));
        assert_eq!(Level::parse("full"), None);
        assert!(Level::Catalog < Level::Standard && Level::Standard < Level::Deep);
    }

    #[test]
    fn assertions_are_validated_with_their_name() {
        let raw: RawIntegrityConfig = toml::from_str(
            "[[assert]]\nname = \"no orphans\"\nsql = \"SELECT 0\"\nexpect = 0\ntimeout = \"2s\"\n",
        )
        .unwrap();
        let a = validate_assertions(raw).unwrap();
        assert_eq!(a[0].expect, "0");
        assert_eq!(a[0].timeout, Some(Duration::from_secs(2)));
        let bad: RawIntegrityConfig = toml::from_str(
            "[[assert]]\nname = \"x\"\nsql = \"SELECT 0\"\nexpect = 0\ntimeout = \"soon\"\n",
        )
        .unwrap();
        let e = validate_assertions(bad).unwrap_err();
        assert!(e.contains("\"x\"") && e.contains("timeout"), "{e}");
        let dup: RawIntegrityConfig = toml::from_str("[[assert]]\nname = \"x\"\nsql = \"SELECT 0\"\nexpect = 0\n[[assert]]\nname = \"x\"\nsql = \"SELECT 1\"\nexpect = 1\n").unwrap();
        assert!(validate_assertions(dup).unwrap_err().contains("same name"));
        assert!(
            toml::from_str::<RawIntegrityConfig>(
                "[[assert]]\nname = \"x\"\nsql = \"SELECT 0\"\nexpect = 0\nexpected = 1\n"
            )
            .is_err()
        );
        let arr: RawIntegrityConfig =
            toml::from_str("[[assert]]\nname = \"x\"\nsql = \"SELECT 0\"\nexpect = [1]\n").unwrap();
        assert!(validate_assertions(arr).is_err());
    }

    #[test]
    fn assertion_judge_compares_the_first_value() {
        let planned = plan_assertions(&[Assertion {
            name: "zero".into(),
            sql: "SELECT count(*) FROM t;".into(),
            expect: "0".into(),
            timeout: None,
        }]);
        let Planned::Run(c) = &planned[0] else {
            panic!()
        };
        let Exec::Query { sql, judge } = &c.exec else {
            panic!()
        };
        assert_eq!(sql, "SELECT count(*) FROM t");
        assert!(judge(&[vec![Some("0".into())]]).is_empty());
        assert_eq!(
            judge(&[vec![Some("3".into())]])[0].message,
            "assertion \"zero\" failed: expected 0, got 3"
        );
        assert_eq!(judge(&[]).len(), 1, "no rows is a failure, not a pass");
    }

    #[test]
    fn quoting_per_engine() {
        assert_eq!(
            qualified(EngineKind::Postgres, "public", "a\"b"),
            "\"public\".\"a\"\"b\""
        );
        assert_eq!(qualified(EngineKind::Mysql, "app", "t`x"), "`app`.`t``x`");
        assert_eq!(qualified(EngineKind::Sqlite, "main", "t"), "\"t\"");
        assert_eq!(quote_literal(EngineKind::Mysql, "a'b\\"), "'a''b\\\\'");
        assert_eq!(quote_literal(EngineKind::Postgres, "a'b\\"), "'a''b\\'");
    }

    #[test]
    fn estimates_grow_with_size_and_catalog_is_cheapest() {
        let small = TableSize {
            bytes: 8192,
            rows: Some(10),
        };
        let big = TableSize {
            bytes: 60_000_000,
            rows: Some(1_000_000),
        };
        assert!(estimate::scan(small) < estimate::scan(big));
        assert!(estimate::anti_join(big, small) > estimate::scan(big));
        assert!(estimate::CATALOG < estimate::scan(big));
        // never analyzed: rows guessed from bytes
        assert_eq!(
            TableSize {
                bytes: 6400,
                rows: None
            }
            .rows_or_guess(),
            100
        );
        // the 1M-row child of the benchmark: a few hundred milliseconds
        let e = estimate::anti_join(
            big,
            TableSize {
                bytes: 5_000_000,
                rows: Some(100_000),
            },
        );
        assert!(
            e > Duration::from_millis(200) && e < Duration::from_secs(2),
            "{e:?}"
        );
    }

    #[test]
    fn every_check_id_is_kebab_case_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in CHECKS {
            assert!(seen.insert(c.id), "{} twice", c.id);
            assert!(
                c.id.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-'),
                "{}",
                c.id
            );
            assert!(!c.engines.is_empty());
        }
    }
}
