//! `migsafe integrity-check`: is this database sound? The engine-neutral model (checks with a
//! level, a cost class and an estimate; problems with evidence, fix and inspection SQL; what was
//! not run and why), the budget scheduler, and [`run`], the library entry point that
//! `backup verify --deep`, `restore` and `release` call.
//!
//! Every check runs read-only: PostgreSQL `BEGIN READ ONLY` with `SET LOCAL statement_timeout`,
//! MySQL/MariaDB `START TRANSACTION READ ONLY` with a per-statement time limit, SQLite on a
//! `query_only` connection with a progress-handler deadline. Nothing is ever committed.

pub mod against;
pub mod command;
pub mod migration;
pub mod schedule;

use crate::engines::conn::{Conn, TextRow};
use crate::engines::snapshot::{self, SchemaFingerprint};
use crate::engines::{EngineError, EngineKind, mysql, postgres, sqlite};
pub use crate::model::Severity;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

/// `schema_version` of the JSON output (docs/integrity.md).
pub const SCHEMA_VERSION: u32 = 1;

/// How deep a run goes. Each level includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Catalog reads only: seconds even on large databases.
    Catalog,
    /// Adds index probes and the scans that find broken data (FK orphans, duplicates, …).
    Standard,
    /// Adds structural verification of every index and table (amcheck, CHECK TABLE).
    Deep,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Catalog, Level::Standard, Level::Deep];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Catalog => "catalog",
            Level::Standard => "standard",
            Level::Deep => "deep",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// What a check reads, which is what its run time scales with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CostClass {
    /// System catalog only: milliseconds, no table data read.
    Catalog,
    /// A few index pages or rows (e.g. `max(id)` through the primary key).
    Probe,
    /// A full table or index scan: proportional to the data.
    Scan,
}

impl CostClass {
    pub fn as_str(self) -> &'static str {
        match self {
            CostClass::Catalog => "catalog",
            CostClass::Probe => "probe",
            CostClass::Scan => "scan",
        }
    }
}

/// A problem found by a check: what is wrong, where, the evidence, how to fix it and the SQL to
/// look at it yourself.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub check: &'static str,
    pub severity: Severity,
    /// The table, index, constraint or sequence concerned (schema-qualified where it has one).
    pub object: String,
    /// One line: what is wrong.
    pub message: String,
    /// The numbers or rows that show it.
    pub evidence: String,
    /// How many rows (or keys, or entries) are affected, when that is countable.
    pub count: Option<u64>,
    pub fix: String,
    /// A read-only query that shows the problem.
    pub inspect_sql: Option<String>,
}

/// Why a check did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotRunReason {
    /// Above the requested `--level`.
    Level,
    /// Its estimate did not fit what was left of `--budget`, or the budget ran out while it ran.
    Budget,
    /// It hit the statement timeout (or a lock wait timeout).
    Timeout,
    /// The server cannot run it (extension missing, permission denied, checksums disabled, the
    /// object does not exist).
    Unavailable,
}

impl NotRunReason {
    pub fn as_str(self) -> &'static str {
        match self {
            NotRunReason::Level => "level",
            NotRunReason::Budget => "budget",
            NotRunReason::Timeout => "timeout",
            NotRunReason::Unavailable => "unavailable",
        }
    }
}

/// A check that was planned but not run, with its estimate: never silently dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct NotRun {
    pub check: &'static str,
    pub object: String,
    pub level: Level,
    pub cost: CostClass,
    pub reason: NotRunReason,
    pub detail: String,
    pub estimate: Option<Duration>,
}

/// A check that ran.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRun {
    pub check: &'static str,
    pub object: String,
    pub level: Level,
    pub cost: CostClass,
    pub estimate: Option<Duration>,
    pub duration: Duration,
    pub problems: usize,
    /// The statement it ran (`None` for checks computed from the catalog snapshot).
    pub sql: Option<String>,
}

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

    /// Whether the database passed: no problem at or above `fail_on`.
    pub fn passed(&self, fail_on: Severity) -> bool {
        self.problems.iter().all(|p| p.severity < fail_on)
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

/// Judges the rows a check's query returned.
pub type Judge = Box<dyn Fn(&[TextRow]) -> Vec<Problem> + Send + Sync>;
/// Judges the schema fingerprint computed by [`snapshot::schema_fingerprint`].
pub type FingerprintJudge = Box<dyn Fn(&SchemaFingerprint) -> Vec<Problem> + Send + Sync>;

/// How a check's statement is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecMode {
    /// In a read-only transaction, rolled back.
    ReadOnly,
    /// PostgreSQL: in a transaction that first runs this `CREATE EXTENSION`, switches to read-only
    /// and is rolled back, so the extension never stays behind.
    WithExtension(String),
    /// MySQL statements that commit implicitly (`CHECK TABLE`): no transaction, time limit only.
    NoTransaction,
}

pub enum Exec {
    Query {
        sql: String,
        judge: Judge,
    },
    Fingerprint(FingerprintJudge),
    /// Found while planning (e.g. a table of the manifest is missing): nothing to query.
    Known(Vec<Problem>),
}

/// A planned check.
pub struct Check {
    pub id: &'static str,
    pub object: String,
    pub level: Level,
    pub cost: CostClass,
    /// `None` when it cannot be estimated (custom assertions).
    pub estimate: Option<Duration>,
    pub mode: ExecMode,
    /// Its own statement timeout (custom assertions), else the run's.
    pub timeout: Option<Duration>,
    pub exec: Exec,
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("id", &self.id)
            .field("object", &self.object)
            .field("level", &self.level)
            .field("cost", &self.cost)
            .field("estimate", &self.estimate)
            .field("sql", &self.sql())
            .finish()
    }
}

impl Check {
    /// A check that runs `sql` read-only and hands the rows to `judge`.
    pub fn query(
        id: &'static str,
        object: impl Into<String>,
        level: Level,
        cost: CostClass,
        estimate: Duration,
        sql: String,
        judge: Judge,
    ) -> Check {
        Check {
            id,
            object: object.into(),
            level,
            cost,
            estimate: Some(estimate),
            mode: ExecMode::ReadOnly,
            timeout: None,
            exec: Exec::Query { sql, judge },
        }
    }

    pub fn sql(&self) -> Option<&str> {
        match &self.exec {
            Exec::Query { sql, .. } => Some(sql),
            _ => None,
        }
    }

    /// The record of this check having run for `duration` and found `problems`.
    pub fn ran(&self, duration: Duration, problems: usize) -> CheckRun {
        CheckRun {
            check: self.id,
            object: self.object.clone(),
            level: self.level,
            cost: self.cost,
            estimate: self.estimate,
            duration,
            problems,
            sql: self.sql().map(str::to_string),
        }
    }

    pub fn not_run(&self, reason: NotRunReason, detail: impl Into<String>) -> NotRun {
        NotRun {
            check: self.id,
            object: self.object.clone(),
            level: self.level,
            cost: self.cost,
            reason,
            detail: detail.into(),
            estimate: self.estimate,
        }
    }
}

/// What planning produced: checks to schedule, and checks known up front not to be runnable.
pub enum Planned {
    Run(Check),
    Skip(NotRun),
}

/// Size of a table, for estimates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableSize {
    pub bytes: u64,
    /// The planner's row estimate; `None` when the table was never analyzed.
    pub rows: Option<u64>,
}

impl TableSize {
    /// Rows, or a guess from the size when the planner has no estimate.
    pub fn rows_or_guess(&self) -> u64 {
        self.rows.unwrap_or(self.bytes / 64)
    }
}

/// Table sizes by (schema, table); schema is "" for SQLite.
pub type Sizes = HashMap<(String, String), TableSize>;

/// The time model behind estimates: set above what an idle 2-vCPU VM measured (1.2–3×) so that a
/// check admitted under a budget usually finishes inside it; one that overruns (a loaded server)
/// is stopped by its statement timeout, capped at what is left of the budget.
pub mod estimate {
    use super::TableSize;
    use std::time::Duration;

    /// Round trip plus planning of a catalog query.
    pub const CATALOG: Duration = Duration::from_millis(2);
    /// A few index pages.
    pub const PROBE: Duration = Duration::from_millis(3);
    /// Sequential read cost per byte (≈ 650 MB/s) and per-row cost of a scan.
    const NS_PER_BYTE: f64 = 1.5;
    const NS_PER_ROW: f64 = 100.0;
    /// Hash probe or build per row of a join.
    const NS_PER_JOIN_ROW: f64 = 200.0;
    /// amcheck per index byte; heapallindexed per heap row.
    const NS_PER_INDEX_BYTE: f64 = 4.0;
    const NS_PER_FINGERPRINTED_ROW: f64 = 350.0;

    fn ns(n: f64) -> Duration {
        Duration::from_nanos(n.max(0.0) as u64)
    }

    /// A full scan of one table.
    pub fn scan(t: TableSize) -> Duration {
        Duration::from_millis(1)
            + ns(t.bytes as f64 * NS_PER_BYTE + t.rows_or_guess() as f64 * NS_PER_ROW)
    }

    /// An anti-join: scan of the child probing a hash (or index) of the parent.
    pub fn anti_join(child: TableSize, parent: TableSize) -> Duration {
        scan(child)
            + scan(parent)
            + ns((child.rows_or_guess() + parent.rows_or_guess()) as f64 * NS_PER_JOIN_ROW)
    }

    /// A scan that groups rows (duplicate search).
    pub fn group(t: TableSize) -> Duration {
        scan(t) + ns(t.rows_or_guess() as f64 * NS_PER_JOIN_ROW * 2.0)
    }

    /// amcheck of one B-tree index, optionally fingerprinting the heap.
    pub fn btree_check(index_bytes: u64, heap: Option<TableSize>) -> Duration {
        let mut d = Duration::from_millis(1) + ns(index_bytes as f64 * NS_PER_INDEX_BYTE);
        if let Some(h) = heap {
            d += scan(h) + ns(h.rows_or_guess() as f64 * NS_PER_FINGERPRINTED_ROW);
        }
        d
    }
}

/// Why a statement failed, as far as the integrity run cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// Statement timeout or interrupt.
    Timeout,
    /// Waited too long for a lock.
    LockTimeout,
    /// Permission denied, or a feature the server lacks.
    Unavailable,
    /// The server reported corrupted data or index pages.
    Corruption,
    Other,
}

#[derive(Debug, Clone)]
pub struct DbFailure {
    pub kind: FailureKind,
    pub message: String,
}

impl DbFailure {
    pub fn other(message: impl fmt::Display) -> Self {
        DbFailure {
            kind: FailureKind::Other,
            message: message.to_string(),
        }
    }
}

impl fmt::Display for DbFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Quotes an identifier for the engine (`"x"`, or `` `x` `` on MySQL).
pub fn quote_ident(kind: EngineKind, s: &str) -> String {
    match kind {
        EngineKind::Mysql => format!("`{}`", s.replace('`', "``")),
        _ => format!("\"{}\"", s.replace('"', "\"\"")),
    }
}

/// A string literal for the engine (MySQL also escapes backslashes unless NO_BACKSLASH_ESCAPES,
/// so they are doubled there).
pub fn quote_literal(kind: EngineKind, s: &str) -> String {
    match kind {
        EngineKind::Mysql => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''")),
        _ => format!("'{}'", s.replace('\'', "''")),
    }
}

/// `schema.table` quoted for the engine; SQLite and an empty schema give the bare table.
pub fn qualified(kind: EngineKind, schema: &str, table: &str) -> String {
    if schema.is_empty() || kind == EngineKind::Sqlite {
        quote_ident(kind, table)
    } else {
        format!("{}.{}", quote_ident(kind, schema), quote_ident(kind, table))
    }
}

/// `schema.table` for reports.
pub fn display_name(schema: &str, table: &str) -> String {
    if schema.is_empty() {
        table.to_string()
    } else {
        format!("{schema}.{table}")
    }
}

/// The first column of the first row.
pub fn first_value(rows: &[TextRow]) -> Option<&str> {
    rows.first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_deref())
}

/// Column `i` of a row as text ("" for NULL or missing).
pub fn col(row: &TextRow, i: usize) -> &str {
    row.get(i).and_then(|v| v.as_deref()).unwrap_or("")
}

/// Starts one check's transaction with its timeout.
async fn begin(
    conn: &mut Conn,
    session: &Session,
    mode: &ExecMode,
    timeout: Duration,
) -> Result<(), DbFailure> {
    match conn.kind() {
        EngineKind::Postgres => postgres::integrity::begin(conn, mode, timeout).await,
        EngineKind::Mysql => mysql::integrity::begin(conn, session, mode, timeout).await,
        EngineKind::Sqlite => sqlite::integrity::begin(conn, timeout).await,
    }
}

/// Ends it: always a rollback.
async fn end(conn: &mut Conn, mode: &ExecMode) {
    match conn.kind() {
        EngineKind::Postgres => postgres::integrity::end(conn, mode).await,
        EngineKind::Mysql => mysql::integrity::end(conn, mode).await,
        EngineKind::Sqlite => sqlite::integrity::end(conn).await,
    }
}

fn classify(kind: EngineKind, e: &sqlx::Error) -> DbFailure {
    match kind {
        EngineKind::Postgres => postgres::integrity::classify(e),
        EngineKind::Mysql => mysql::integrity::classify(e),
        EngineKind::Sqlite => sqlite::integrity::classify(e),
    }
}

/// Runs one read-only query with a timeout (used by planners and checks).
pub async fn read_only_query(
    conn: &mut Conn,
    session: &Session,
    mode: &ExecMode,
    sql: &str,
    timeout: Duration,
) -> Result<Vec<TextRow>, DbFailure> {
    begin(conn, session, mode, timeout).await?;
    let kind = conn.kind();
    let res = if *mode == ExecMode::NoTransaction && kind == EngineKind::Mysql {
        mysql::integrity::query_unprepared(conn, sql).await
    } else {
        conn.query_text(sql)
            .await
            .map(|(_, rows)| rows)
            .map_err(|e| classify(kind, &e))
    };
    end(conn, mode).await;
    res
}

/// A planner's catalog query: failures stop the run (exit 2), naming the step.
/// Planners run inside one read-only planning transaction opened by [`run`] (one snapshot of the
/// catalog, and two round trips per query fewer), with the statement timeout set.
pub async fn catalog_query(
    conn: &mut Conn,
    what: &str,
    sql: &str,
) -> Result<Vec<TextRow>, EngineError> {
    let kind = conn.kind();
    conn.query_text(sql)
        .await
        .map(|(_, rows)| rows)
        .map_err(|e| EngineError::step(format!("reading the catalog ({what})"), classify(kind, &e)))
}

async fn fingerprint(
    conn: &mut Conn,
    session: &Session,
    timeout: Duration,
) -> Result<SchemaFingerprint, DbFailure> {
    begin(conn, session, &ExecMode::ReadOnly, timeout).await?;
    let res = snapshot::schema_fingerprint(conn).await;
    end(conn, &ExecMode::ReadOnly).await;
    let kind = conn.kind();
    res.map_err(|e| classify(kind, &e))
}

/// Per-run engine state: settings changed on the caller's connection (restored afterwards) and
/// the server flavour.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub restore: Vec<String>,
    /// `mariadb` or `mysql` on MySQL-protocol servers, else empty.
    pub flavor: &'static str,
}

impl Session {
    pub fn new(restore: Vec<String>) -> Self {
        Session {
            restore,
            flavor: "",
        }
    }
}

/// What a planner needs to know.
pub struct PlanContext<'a> {
    pub opts: &'a IntegrityOptions,
    pub session: &'a Session,
}

impl PlanContext<'_> {
    /// Whether check `id` is wanted (`--only`); planners skip the catalog reads of the others.
    pub fn wants(&self, id: &str) -> bool {
        self.opts.only.is_empty() || self.opts.only.iter().any(|o| o == id)
    }
}

/// An engine's plan.
pub struct EnginePlan {
    pub server_version: String,
    pub planned: Vec<Planned>,
    pub sizes: Sizes,
}

/// Runs the checks of `opts.level` against the database behind `conn`, cheapest first, within the
/// budget. Never changes data: every statement runs in a read-only transaction that is rolled back
/// (see the module docs). Call it outside any transaction of your own.
///
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
    let session = match conn.kind() {
        EngineKind::Postgres => postgres::integrity::session_start(conn).await?,
        EngineKind::Mysql => mysql::integrity::session_start(conn).await?,
        EngineKind::Sqlite => sqlite::integrity::session_start(conn).await?,
    };
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
    let ctx = PlanContext { opts, session };
    begin(conn, session, &ExecMode::ReadOnly, opts.statement_timeout)
        .await
        .map_err(|e| EngineError::step("starting a read-only transaction", e))?;
    let plan = match kind {
        EngineKind::Postgres => postgres::integrity::plan(conn, &ctx).await,
        EngineKind::Mysql => mysql::integrity::plan(conn, &ctx).await,
        EngineKind::Sqlite => sqlite::integrity::plan(conn, &ctx).await,
    };
    end(conn, &ExecMode::ReadOnly).await;
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
                            "Fix the assertion's SQL in migsafe.toml ([[integrity.assert]]): it must be a read-only query returning one value".to_string()
                        } else {
                            "Look at the error: it usually means a permission is missing or an object is in an unexpected state; run the inspect SQL yourself".to_string()
                        },
                        inspect_sql: check.sql().map(str::to_string),
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
