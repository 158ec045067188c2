//! The integrity-check model every engine plans in (levels, cost classes, checks with their
//! estimate and judge, problems, what was not run and why, failures) and the trait each engine
//! implements to run checks read-only. The `integrity` operation schedules and runs them; this
//! module is engine-neutral and owned by the engine layer, so engines never import operations.

use super::EngineError;
use super::EngineKind;
use super::conn::{Conn, TextRow};
use super::snapshot::SchemaFingerprint;
pub use crate::model::Severity;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// Running checks on one engine: every statement in a read-only transaction (or, where the engine
/// cannot, with a time limit only), never committed.
#[async_trait::async_trait]
pub trait IntegrityEngine: Sync {
    /// Per-run session set-up (settings to restore afterwards, server flavour).
    async fn session_start(&self, conn: &mut Conn) -> Result<Session, EngineError>;
    /// Starts one check's read-only transaction with its timeout.
    async fn begin(
        &self,
        conn: &mut Conn,
        session: &Session,
        mode: &ExecMode,
        timeout: Duration,
    ) -> Result<(), DbFailure>;
    /// Ends it: always a rollback.
    async fn end(&self, conn: &mut Conn, mode: &ExecMode);
    /// Why a statement failed, as the run cares.
    fn classify(&self, e: &sqlx::Error) -> DbFailure;
    /// Reads the catalog and plans this engine's checks.
    async fn plan(&self, conn: &mut Conn, ctx: &PlanContext<'_>)
    -> Result<EnginePlan, EngineError>;
    /// Runs a statement outside any transaction ([`ExecMode::NoTransaction`]).
    async fn query_no_transaction(
        &self,
        conn: &mut Conn,
        sql: &str,
    ) -> Result<Vec<TextRow>, DbFailure> {
        conn.query_text(sql)
            .await
            .map(|(_, rows)| rows)
            .map_err(|e| self.classify(&e))
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
    let eng = conn.kind().engine().integrity();
    eng.begin(conn, session, mode, timeout).await?;
    let res = if *mode == ExecMode::NoTransaction {
        eng.query_no_transaction(conn, sql).await
    } else {
        conn.query_text(sql)
            .await
            .map(|(_, rows)| rows)
            .map_err(|e| eng.classify(&e))
    };
    eng.end(conn, mode).await;
    res
}

/// A planner's catalog query: failures stop the run (exit 2), naming the step.
/// Planners run inside one read-only planning transaction opened by the run (one snapshot of the
/// catalog, and two round trips per query fewer), with the statement timeout set.
pub async fn catalog_query(
    conn: &mut Conn,
    what: &str,
    sql: &str,
) -> Result<Vec<TextRow>, EngineError> {
    let eng = conn.kind().engine().integrity();
    conn.query_text(sql)
        .await
        .map(|(_, rows)| rows)
        .map_err(|e| EngineError::step(format!("reading the catalog ({what})"), eng.classify(&e)))
}

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

/// Judges the rows a check's query returned.
pub type Judge = Box<dyn Fn(&[TextRow]) -> Vec<Problem> + Send + Sync>;
/// Judges the schema fingerprint computed by [`super::snapshot::schema_fingerprint`].
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
    crate::sql::quote::ident(kind.dialect(), s)
}

/// A string literal for the engine (MySQL also escapes backslashes unless NO_BACKSLASH_ESCAPES,
/// so they are doubled there).
pub fn quote_literal(kind: EngineKind, s: &str) -> String {
    crate::sql::quote::literal(kind.dialect(), s)
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
    pub req: &'a PlanRequest,
    pub session: &'a Session,
}

/// What the run asks of the planners.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// amcheck: also verify that every heap tuple is in the index.
    pub heapallindexed: bool,
    /// Run only these check ids (empty: all).
    pub only: Vec<String>,
}

impl PlanContext<'_> {
    /// Whether check `id` is wanted (`--only`); planners skip the catalog reads of the others.
    pub fn wants(&self, id: &str) -> bool {
        self.req.only.is_empty() || self.req.only.iter().any(|o| o == id)
    }
}

/// An engine's plan.
pub struct EnginePlan {
    pub server_version: String,
    pub planned: Vec<Planned>,
    pub sizes: Sizes,
}
