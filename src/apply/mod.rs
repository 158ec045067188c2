//! `migsafe apply`: applies the pending migrations of a live database the safe way, and records
//! each one in the migration tool's own history table so the tool sees it as applied.
//!
//! Before anything changes: the status (`crate::status::survey`) must be clean (nothing modified,
//! missing, failed or out of order), every pending migration passes the gates (a `destructive`
//! or `unknown` verdict needs `--force`, and then the runbook steps it assumes are printed), and
//! with `[env.*]` a production apply needs staging to have applied the same migrations with the
//! same checksums. Then, journaled step by step (`crate::journal`, kind `apply`):
//!
//! 1. the migration lock — the tool's own where it has one (sqlx's, golang-migrate's, goose's,
//!    Flyway's, Prisma's key), so migsafe and the tool exclude each other — waiting and naming
//!    the holder when another session has it; the history is read again once it is held;
//! 2. the history table, created as the tool creates it when missing;
//! 3. each pending migration with `lock_timeout`/`statement_timeout` set: in one transaction
//!    with its history row where the engine allows (PostgreSQL, SQLite), retried as a whole
//!    when it times out on a lock (backoff with jitter, each try journaled); otherwise statement
//!    by statement after marking it in progress the way the tool marks a failed migration, each
//!    statement journaled and retried on its own, the row written last.
//!
//! `--dry-run` stops before the lock and returns the plan; `--migrate-cmd` runs the project's
//! own migrator under the same checks ([`migrate_cmd`]). A crash at any point is ended by
//! `migsafe recover` ([`recover`]).

pub mod config;
mod exec;
pub mod migrate_cmd;
pub mod recover;
pub mod staging;

use crate::classify::CheckOptions;
use crate::engines::conn::Conn;
use crate::engines::migrate::{LockHolder, LockKey, Timeouts};
use crate::engines::target::Target;
use crate::engines::{EngineError, EngineKind, redact_url};
use crate::history::{HistoryError, State, Tool};
use crate::journal::{Journal, JournalError, JournalTarget};
use crate::migrations::Layout;
use crate::model::{ReleaseClass, Verdict};
use crate::status::{self, Counts, StatusError, StatusMigration, Survey};
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The journal kind of an apply.
pub const KIND: &str = "apply";

#[derive(Debug, Clone)]
pub struct ApplySettings {
    pub paths: Vec<PathBuf>,
    pub layout: Option<Layout>,
    pub url: String,
    /// `--env NAME`: recorded in the journal (a staging apply is what production checks).
    pub env: Option<String>,
    pub check: CheckOptions,
    /// `[migrations] transaction` from migsafe.toml, as `check` reads it.
    pub transaction: crate::migrations::TxSetting,
    /// Apply destructive and unknown migrations too (the runbook's maintenance-window path).
    pub force: bool,
    /// Print the plan, change nothing.
    pub dry_run: bool,
    pub timeouts: Timeouts,
    /// Tries after the first when a statement times out on a lock.
    pub retries: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// How long to wait for the migration lock before giving up.
    pub lock_wait: Duration,
    /// Run this command (the project's migrator) instead of applying the files.
    pub migrate_cmd: Option<String>,
    pub staging: staging::StagingCheck,
    pub journal_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Status(#[from] StatusError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error("{0}; nothing was changed (an apply is journaled)")]
    Journal(#[from] JournalError),
    #[error("{0}")]
    Usage(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every pending migration was applied.
    Applied,
    /// Nothing was pending.
    UpToDate,
    /// `--dry-run`: the plan only.
    Planned,
    /// A check or gate refused; nothing was changed.
    Refused,
    /// Gave up waiting for the migration lock; nothing was changed.
    LockTimeout,
    /// A migration failed; `consistent` says whether it left nothing half-done.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::UpToDate => "up-to-date",
            Outcome::Planned => "planned",
            Outcome::Refused => "refused",
            Outcome::LockTimeout => "lock-timeout",
            Outcome::Failed => "failed",
        }
    }
}

/// One try of a migration (or of one statement of a migration run without a transaction).
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub attempt: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<usize>,
    pub error: String,
    pub lock_timeout: bool,
    /// The wait before the next try.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_in_ms: Option<u64>,
}

/// A gate that refused a migration.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    pub version: String,
    pub path: String,
    /// The rule (or `unknown-statement`) behind the verdict.
    pub rule: String,
    pub verdict: Verdict,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplyMigration {
    pub key: String,
    pub version: String,
    pub description: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_class: Option<ReleaseClass>,
    /// The tool runs it in one transaction.
    pub transaction: bool,
    /// migsafe runs it and its history row as one transaction (else statement by statement).
    pub atomic: bool,
    pub statements: usize,
    /// `pending` (planned or not reached), `applied`, `applied-elsewhere` (another applier did
    /// it while this one waited), `failed`.
    pub outcome: String,
    pub attempts: Vec<Attempt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The statements the history table gets, as run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub record_sql: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LockInfo {
    pub key: LockKey,
    /// `tool` (the migration tool's own key) or `migsafe`.
    pub owner: String,
    pub waited_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<LockHolder>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub engine: String,
    pub database: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    pub table: String,
    pub dry_run: bool,
    pub outcome: Outcome,
    pub message: String,
    /// The status before (problems refuse the apply).
    pub before: Counts,
    pub migrations: Vec<ApplyMigration>,
    /// History problems that refused the apply (modified, missing, failed, out of order).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<StatusMigration>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<Refusal>,
    /// With `--force` over destructive migrations: what the runbook expects to have happened.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runbook: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockInfo>,
    pub timeouts: Timeouts,
    pub retries: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staging: Option<staging::StagingResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrate_cmd: Option<migrate_cmd::CmdResult>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal: Option<PathBuf>,
    /// Whether the database is in a consistent state (nothing half-applied).
    pub consistent: bool,
}

impl ApplyReport {
    pub fn passed(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::Applied | Outcome::UpToDate | Outcome::Planned
        )
    }
}

/// What an apply tells its caller while it runs (the command prints it on stderr).
#[derive(Debug, Clone)]
pub enum Event {
    /// Another session holds the migration lock.
    Waiting {
        key: LockKey,
        holder: Option<LockHolder>,
    },
    Applying {
        version: String,
        description: String,
    },
    Retrying {
        version: String,
        attempt: u32,
        wait: Duration,
        error: String,
    },
    Applied {
        version: String,
        ms: u64,
    },
    /// A message for the operator (the runbook steps under `--force`, a skipped check).
    Notice(String),
}

/// migsafe's own lock when the tool has none (or when the tool's migrator takes the tool's).
pub fn migsafe_lock(kind: EngineKind, database: &str, target: &Target) -> LockKey {
    match kind {
        EngineKind::Postgres => LockKey::Advisory(
            // "migs" in the high half, the database in the low half
            (0x6d69_6773_i64 << 32)
                | i64::from(crate::history::checksum::crc32(database.as_bytes())),
        ),
        EngineKind::Mysql => LockKey::Named(format!("migsafe:{database}")),
        EngineKind::Sqlite => {
            let path = match target {
                Target::Sqlite(t) => t.path.clone(),
                _ => PathBuf::from(database),
            };
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push("-migsafe.lock");
            LockKey::File(path.with_file_name(name))
        }
    }
}

/// The lock migsafe takes for `tool`: the tool's own key where it has one.
pub fn lock_for(
    tool: Tool,
    kind: EngineKind,
    database: &str,
    schema: &str,
    target: &Target,
) -> (LockKey, &'static str) {
    match tool.spec().lock(kind, database, schema) {
        Some(k) => (k, "tool"),
        None => (migsafe_lock(kind, database, target), "migsafe"),
    }
}

/// The gates: destructive and unknown migrations need `--force`.
pub fn gates(sv: &Survey, pending: &[usize]) -> Vec<Refusal> {
    let mut out = Vec::new();
    for m in &sv.migrations {
        let Some(i) = m.line.file.filter(|i| pending.contains(i)) else {
            continue;
        };
        let path = sv.files[i].m.path.display().to_string();
        for f in m
            .findings
            .iter()
            .filter(|f| matches!(f.verdict, Verdict::Destructive | Verdict::Unknown))
        {
            out.push(Refusal {
                version: m.line.version.clone(),
                path: path.clone(),
                rule: f.rule.clone(),
                verdict: f.verdict,
                line: f.line,
                message: f.message.clone(),
            });
        }
        if m.unknown_statements > 0
            && !out
                .iter()
                .any(|r| r.path == path && r.verdict == Verdict::Unknown)
        {
            out.push(Refusal {
                version: m.line.version.clone(),
                path: path.clone(),
                rule: "unknown-statement".into(),
                verdict: Verdict::Unknown,
                line: 1,
                message: format!(
                    "{} statement(s) migsafe does not understand: review them",
                    m.unknown_statements
                ),
            });
        }
    }
    out
}

/// The runbook's destructive path, as `apply --force` assumes it was followed.
pub fn runbook_steps(database: &str) -> Vec<String> {
    vec![
        format!("the application is read-only or in maintenance (`migsafe read-only on` / `migsafe maintenance on` for {database})"),
        "a verified backup was taken just before (`migsafe backup create`, `backup verify` passed)".into(),
        "the release was approved for a maintenance window, and the rollback (`migsafe restore latest`) is ready".into(),
    ]
}

fn entry_of(sv: &Survey, i: usize, atomic: bool, statements: usize) -> ApplyMigration {
    let f = &sv.files[i];
    let m = sv.migrations.iter().find(|m| m.line.file == Some(i));
    ApplyMigration {
        key: sv.tool.spec().key(f),
        version: f.m.version.clone(),
        description: f.m.description.clone(),
        path: f.m.path.display().to_string(),
        verdict: m.and_then(|m| m.verdict),
        release_class: m.and_then(|m| m.release_class),
        transaction: f.m.transaction,
        atomic,
        statements,
        outcome: "pending".into(),
        attempts: Vec::new(),
        duration_ms: None,
        record_sql: Vec::new(),
    }
}

fn base_report(s: &ApplySettings, sv: &Survey) -> ApplyReport {
    ApplyReport {
        schema_version: status::SCHEMA_VERSION,
        tool: sv.tool,
        engine: sv.kind.as_str().to_string(),
        database: redact_url(&s.url),
        env: s.env.clone(),
        table: sv.history.table.clone(),
        dry_run: s.dry_run,
        outcome: Outcome::Planned,
        message: String::new(),
        before: sv.counts(),
        migrations: Vec::new(),
        problems: Vec::new(),
        refusals: Vec::new(),
        runbook: Vec::new(),
        lock: None,
        timeouts: s.timeouts,
        retries: s.retries,
        staging: None,
        migrate_cmd: None,
        warnings: Vec::new(),
        operation: None,
        journal: None,
        consistent: true,
    }
}

/// The unfinished operations (`found`, from this machine's journals and the server's markers)
/// that forbid an apply on `database`: any other migsafe operation on it — a restore, a backup,
/// a crashed apply — except the modes the runbook applies inside (read-only, maintenance) and
/// an apply that is running now (the migration lock orders two appliers).
pub fn blocking<'a>(
    found: &'a [crate::journal::Unfinished],
    database: &str,
) -> Vec<&'a crate::journal::Unfinished> {
    found
        .iter()
        .filter(|u| u.database == database)
        .filter(|u| crate::modes::Mode::parse(&u.kind).is_none())
        .filter(|u| !(u.kind == KIND && u.running))
        .collect()
}

/// Why an apply refuses to start over `blocking` operations, with what ends each.
pub fn blocked_message(blocking: &[&crate::journal::Unfinished]) -> String {
    let what: Vec<String> = blocking.iter().map(|u| u.describe()).collect();
    format!(
        "apply refused: another migsafe operation on this database is unfinished, and applying migrations over it could leave neither one recoverable: {}",
        what.join("; ")
    )
}

/// Runs `migsafe apply`.
pub async fn apply(
    s: &ApplySettings,
    on_event: &mut dyn FnMut(Event),
) -> Result<ApplyReport, ApplyError> {
    let target = Target::parse(&s.url).map_err(|e| ApplyError::Usage(e.to_string()))?;
    let (migs, tool) = status::discover(&s.paths, s.layout, s.check.dialect, s.transaction)?;
    // the migration session: it writes while the application is held read-only (the runbook
    // applies a destructive release inside `read-only on`)
    let mut conn = crate::modes::migration_session(&s.url).await?;
    let result = run(s, &target, &migs, tool, &mut conn, on_event).await;
    conn.close().await;
    result
}

async fn run(
    s: &ApplySettings,
    target: &Target,
    migs: &[crate::migrations::Migration],
    tool: Tool,
    conn: &mut Conn,
    on_event: &mut dyn FnMut(Event),
) -> Result<ApplyReport, ApplyError> {
    let kind = conn.kind();
    let mut sv = status::survey(conn, tool, migs, &s.check).await?;
    // a failed/in-progress mark may be the work of another applier that holds the lock right
    // now (statement-by-statement migrations are marked first): wait for it, then look again
    if !s.dry_run && sv.migrations.iter().any(|m| m.line.state == State::Failed) {
        let eng = kind.engine().migrate();
        let db = eng.database(conn).await?;
        let schema = eng.schema(conn).await?;
        let (key, _) = lock_for(tool, kind, &db, &schema, target);
        if let (Some(g), _, _) = take_lock(conn, &key, s.lock_wait, on_event).await? {
            eng.unlock(conn, g).await?;
            sv = status::survey(conn, tool, migs, &s.check).await?;
        }
    }
    let mut r = base_report(s, &sv);
    let pending = sv.pending();
    let dialect = kind.dialect();
    for &i in &pending {
        let plan = exec::Plan::of(&sv.files[i], kind, dialect);
        let mut e = entry_of(&sv, i, plan.atomic, plan.statements.len());
        e.record_sql = tool.spec().record(
            kind,
            kind.engine().migrate(),
            &sv.history.table,
            &sv.files[i],
            0,
        );
        r.migrations.push(e);
    }
    // 1. the history must agree with the files, as the tool itself requires
    let problems: Vec<StatusMigration> = sv
        .migrations
        .iter()
        .filter(|m| !matches!(m.line.state, State::Applied | State::Pending))
        .cloned()
        .collect();
    if !problems.is_empty() {
        r.outcome = Outcome::Refused;
        r.message = format!(
            "the history of {} does not match the files ({} problem(s)): fix them first, as `migsafe status` shows",
            sv.history.table,
            problems.len()
        );
        r.problems = problems;
        return Ok(r);
    }
    if pending.is_empty() {
        r.outcome = Outcome::UpToDate;
        r.message = "nothing to apply: every migration is applied".into();
        return Ok(r);
    }
    // 2. the gates
    let refusals = gates(&sv, &pending);
    if !refusals.is_empty() {
        if s.force {
            if refusals.iter().any(|x| x.verdict == Verdict::Destructive) {
                r.runbook = runbook_steps(target.database());
                on_event(Event::Notice(format!(
                    "--force: applying destructive migrations; the runbook expects that:\n  - {}",
                    r.runbook.join("\n  - ")
                )));
            }
            r.warnings.extend(refusals.iter().map(|x| {
                format!(
                    "--force over {} {} ({}:{}): {}",
                    x.verdict, x.rule, x.path, x.line, x.message
                )
            }));
        } else {
            r.outcome = Outcome::Refused;
            let rules: Vec<String> = refusals
                .iter()
                .map(|x| format!("{} ({} in {}:{})", x.rule, x.verdict, x.path, x.line))
                .collect();
            r.message = format!(
                "refused: {}; a destructive or unknown migration runs only with --force, inside the runbook's maintenance window",
                rules.join(", ")
            );
            r.refusals = refusals;
            return Ok(r);
        }
    }
    // 3. staging first
    let keys: Vec<(String, Option<String>)> = pending
        .iter()
        .map(|&i| {
            let f = &sv.files[i];
            (tool.spec().key(f), tool.spec().checksum(f))
        })
        .collect();
    if let Some(res) = staging::check(&s.staging, tool, migs, &keys, &s.journal_dir).await {
        let ok = res.ok;
        if let Some(w) = &res.skipped {
            on_event(Event::Notice(format!("staging check skipped: {w}")));
        }
        r.staging = Some(res);
        if !ok {
            r.outcome = Outcome::Refused;
            r.message = r
                .staging
                .as_ref()
                .map(|x| x.message.clone())
                .unwrap_or_default();
            return Ok(r);
        }
    }
    if s.dry_run {
        r.outcome = Outcome::Planned;
        r.message = format!("would apply {} migration(s)", pending.len());
        let db = kind.engine().migrate().database(conn).await?;
        let schema = kind.engine().migrate().schema(conn).await?;
        let (key, owner) = lock_for(tool, kind, &db, &schema, target);
        r.lock = Some(LockInfo {
            key,
            owner: owner.into(),
            waited_ms: 0,
            holder: None,
        });
        return Ok(r);
    }
    if let Some(cmd) = &s.migrate_cmd {
        return migrate_cmd::run(s, target, migs, tool, conn, cmd, r, on_event).await;
    }
    exec::run(s, target, migs, tool, conn, sv, r, on_event).await
}

/// Waits for `key`, naming the holder once (and again when it changes); `None` after `wait`.
pub(crate) async fn take_lock(
    conn: &mut Conn,
    key: &LockKey,
    wait: Duration,
    on_event: &mut dyn FnMut(Event),
) -> Result<
    (
        Option<crate::engines::migrate::LockGuard>,
        u64,
        Option<LockHolder>,
    ),
    ApplyError,
> {
    let eng = conn.kind().engine().migrate();
    let began = Instant::now();
    let mut last: Option<LockHolder> = None;
    let mut announced = false;
    loop {
        if let Some(g) = eng.try_lock(conn, key).await? {
            return Ok((Some(g), began.elapsed().as_millis() as u64, last));
        }
        let holder = eng.lock_holder(conn, key).await;
        if !announced || holder != last {
            announced = true;
            on_event(Event::Waiting {
                key: key.clone(),
                holder: holder.clone(),
            });
        }
        if holder.is_some() {
            last = holder;
        }
        if began.elapsed() >= wait {
            return Ok((None, began.elapsed().as_millis() as u64, last));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Starts the apply's journal; refuses to go on without one.
pub(crate) fn begin_journal(
    s: &ApplySettings,
    target: &Target,
    facts: serde_json::Value,
    r: &mut ApplyReport,
) -> Result<Journal, ApplyError> {
    let j = Journal::begin(&s.journal_dir, KIND, JournalTarget::of(target), facts)?;
    r.operation = Some(j.id().to_string());
    r.journal = Some(j.path().to_path_buf());
    Ok(j)
}
