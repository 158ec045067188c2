//! `migsafe restore <file|latest>`: proves the backup sound and the target ready before touching
//! anything (preflight), reports how many rows changed since the backup, asks for confirmation,
//! then restores so that a failure leaves the live database as it was:
//! - PostgreSQL `swap` (default): restore into `<db>_restore_<ts>`, verify it, then swap names
//!   in one transaction and keep the old database as `<db>_before_restore_<ts>`;
//!   `in-place`: a pre-restore safety backup, then `--clean --if-exists` in one transaction.
//! - MySQL/MariaDB `in-place`: a rehearsal load into a scratch database on the target server,
//!   verified and dropped, a safety backup, then the load into the live database.
//! - SQLite `swap`: a verified copy replaces the file with one rename under an exclusive lock.
//!
//! Every step that changes a database is journaled first (`crate::journal`) and the live
//! database carries a marker while the operation runs, so a crash at any instant is ended by
//! `migsafe recover` ([`recover`]) and seen by every command that connects.

mod mysql;
mod postgres;
pub mod recover;
mod sqlite;

use crate::backup::manifest::{Manifest, Purpose};
use crate::backup::{
    self, BackupError, BackupRef, CreateSettings, Progress, compare, locate, store,
};
use crate::engines::EngineKind;
use crate::engines::admin::Marker;
use crate::engines::conn::Conn;
pub use crate::engines::dump::{ErrorClass, RestoreIssue};
use crate::engines::snapshot::TableRows;
use crate::engines::target::{self, Target};
use crate::journal::{Journal, JournalTarget};
use crate::sys::child;
use crate::sys::signals::{self, CleanupGuard};
use chrono::Utc;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    Swap,
    InPlace,
}

impl Strategy {
    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "swap" => Some(Strategy::Swap),
            "in-place" | "inplace" => Some(Strategy::InPlace),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Swap => "swap",
            Strategy::InPlace => "in-place",
        }
    }

    /// swap where the engine can (PostgreSQL, SQLite), in-place for MySQL (no RENAME DATABASE).
    pub fn default_for(kind: EngineKind) -> Strategy {
        match kind {
            EngineKind::Mysql => Strategy::InPlace,
            _ => Strategy::Swap,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RestoreSettings {
    pub url: String,
    pub dir: PathBuf,
    pub which: BackupRef,
    pub strategy: Option<Strategy>,
    pub yes: bool,
    /// Skip ownership and grants (pg_restore `--no-owner --no-acl`).
    pub no_owner: bool,
    pub jobs: u32,
    /// How long sessions of the live database get to finish before they are terminated (swap).
    pub drain: Duration,
    pub pg_bin_dir: Option<PathBuf>,
    /// Preflight only: report and stop.
    pub check_only: bool,
    /// Take a backup of the live database before an in-place restore.
    pub safety_backup: bool,
    pub lock_timeout_secs: u64,
    pub exact_row_limit: u64,
    /// Restore a backup of another database (the manifest names a different one).
    pub into_other_database: bool,
    /// Where the journal goes (`journal::default_dir()` from the CLI).
    pub journal_dir: PathBuf,
}

/// One preflight check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    /// Passed, but with something the user should know (e.g. free space unknown).
    pub warning: bool,
    pub details: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableChange {
    pub table: String,
    pub rows: u64,
}

/// Rows written in the live database since the backup: what a restore would discard.
#[derive(Debug, Clone, Serialize)]
pub struct Changes {
    /// `pg_stat_user_tables+row-counts` or `row-counts`.
    pub method: String,
    pub rows: u64,
    pub tables: Vec<TableChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// `--check`: the preflight passed; nothing was done.
    Checked,
    /// The preflight failed; nothing was touched.
    Refused,
    /// Not confirmed (no `--yes`, not interactive, or answered no); nothing was touched.
    NotConfirmed,
    /// A step failed; `live_untouched` says whether the live database is as it was.
    Failed,
    Restored,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Checked => "checked",
            Status::Refused => "refused",
            Status::NotConfirmed => "not-confirmed",
            Status::Failed => "failed",
            Status::Restored => "restored",
        }
    }
}

pub use crate::journal::Step;

#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub backup: PathBuf,
    pub engine: String,
    pub format: String,
    pub backup_started_at: chrono::DateTime<Utc>,
    /// The target, redacted.
    pub target: String,
    pub database: String,
    pub strategy: Strategy,
    pub preflight: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
    pub status: Status,
    pub steps: Vec<Step>,
    /// Errors reported by pg_restore / psql / the MySQL client, classified.
    pub errors: Vec<RestoreIssue>,
    /// Differences between the restored database and the manifest (empty when it matched).
    pub mismatches: Vec<String>,
    /// Where the database as it was before the restore is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_as: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_backup: Option<PathBuf>,
    /// Database-level properties carried over to the restored database, and those not carried.
    pub carried_over: Vec<String>,
    pub not_carried_over: Vec<String>,
    pub live_untouched: bool,
    pub message: String,
    pub duration_ms: u64,
    /// The journal of the restore (absent when nothing was changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal: Option<PathBuf>,
    /// What the run could not do as it would have liked (no marker possible, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// An in-place restore takes a safety backup of the live database first (not with
    /// `--no-safety-backup`); renderers say what keeps the discarded changes.
    #[serde(skip)]
    pub safety_backup_planned: bool,
}

impl RestoreReport {
    pub fn passed(&self) -> bool {
        matches!(self.status, Status::Restored | Status::Checked)
    }

    pub(crate) fn check(&mut self, name: &str, ok: bool, details: impl Into<String>) {
        self.preflight.push(Check {
            name: name.into(),
            ok,
            warning: false,
            details: details.into(),
        });
    }

    pub(crate) fn warn(&mut self, name: &str, details: impl Into<String>) {
        self.preflight.push(Check {
            name: name.into(),
            ok: true,
            warning: true,
            details: details.into(),
        });
    }

    pub(crate) fn refused(&self) -> bool {
        self.preflight.iter().any(|c| !c.ok)
    }

    pub(crate) fn step(
        &mut self,
        name: &str,
        began: Instant,
        ok: bool,
        details: impl Into<String>,
    ) {
        self.steps.push(Step {
            name: name.into(),
            ok,
            ms: began.elapsed().as_millis() as u64,
            details: details.into(),
        });
    }

    pub(crate) fn fail(&mut self, untouched: bool, message: impl Into<String>) {
        self.status = Status::Failed;
        self.live_untouched = untouched;
        self.message = message.into();
    }
}

/// Asked after the preflight (with the report so far) whether to proceed; not called with
/// `--yes`.
pub type Confirm<'a> = &'a mut dyn FnMut(&RestoreReport) -> bool;

pub async fn restore(
    s: &RestoreSettings,
    progress: Arc<dyn Progress>,
    confirm: Confirm<'_>,
) -> Result<RestoreReport, BackupError> {
    let began = Instant::now();
    let target = Target::parse(&s.url)?;
    let mut loc = locate(&s.dir, &s.which)?;
    if s.which == BackupRef::Latest && !loc.manifest.verified() {
        return Err(BackupError::Usage(format!(
            "{}: LATEST names a backup whose manifest is not verified; run `migsafe backup verify`",
            loc.path.display()
        )));
    }
    let strategy = s
        .strategy
        .unwrap_or_else(|| Strategy::default_for(target.kind()));
    let m = &loc.manifest;
    let mut r = RestoreReport {
        backup: loc.path.clone(),
        engine: m.engine.clone(),
        format: m.format.clone(),
        backup_started_at: m.started_at,
        target: target.redacted(),
        database: target.database().to_string(),
        strategy,
        preflight: vec![],
        changes: None,
        status: Status::Refused,
        steps: vec![],
        errors: vec![],
        mismatches: vec![],
        kept_as: None,
        safety_backup: None,
        carried_over: vec![],
        not_carried_over: vec![],
        live_untouched: true,
        message: String::new(),
        duration_ms: 0,
        operation: None,
        journal: None,
        warnings: vec![],
        safety_backup_planned: s.safety_backup,
    };
    if m.engine != target.kind().as_str() {
        r.check(
            "engine",
            false,
            format!(
                "the backup is a {} backup; the target is {}",
                m.engine,
                target.kind()
            ),
        );
        r.message = "refused: wrong engine".into();
        return Ok(r);
    }
    r.check(
        "engine",
        true,
        format!("{} backup into {}", m.engine, target.kind()),
    );
    // a backup of database A restored into database B replaces B: only on purpose
    let db = target.database();
    if m.database != db {
        if s.into_other_database {
            r.warn(
                "database",
                format!("the backup is of database {}; restoring it into {db} as asked (--into-other-database)", m.database),
            );
        } else {
            r.check(
                "database",
                false,
                format!("the backup is of database {}, not {db}: restoring it would replace {db} with another database's data; pass --into-other-database if that is what you want", m.database),
            );
        }
    } else {
        r.check("database", true, format!("the backup is of {db}"));
    }
    // an unfinished operation on this server must be ended first
    for u in crate::journal::unfinished_for(&target, &s.journal_dir).await {
        let stem = backup::kept::stem(db);
        let same = u.database == db
            || u.database.starts_with(&format!("{stem}_restore_"))
            || u.database.starts_with(&format!("{stem}_before_restore_"));
        let a_restore = [
            recover::PG_SWAP,
            recover::PG_IN_PLACE,
            recover::MYSQL_IN_PLACE,
        ]
        .contains(&u.kind.as_str());
        if same && a_restore && !u.running {
            r.check("unfinished", false, u.describe());
        } else if same {
            // a read-only or maintenance mode is a state the restore knows how to leave behind
            r.warn("unfinished", u.describe());
        }
    }
    // the archive first: nothing else is worth checking if it is not sound
    let file = backup::verify_file(
        &mut loc.manifest,
        &loc.path,
        s.pg_bin_dir.as_deref(),
        progress.as_ref(),
    )
    .await?;
    loc.manifest.save(&loc.dir)?;
    let _ = store::refresh_latest(&loc.dir);
    for c in &file {
        r.check(c.kind.as_str(), c.ok, c.details.clone());
    }
    if r.refused() {
        let failed: Vec<&str> = r
            .preflight
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name.as_str())
            .collect();
        r.message = format!(
            "refused by the preflight ({}); nothing was touched",
            failed.join(", ")
        );
        r.duration_ms = began.elapsed().as_millis() as u64;
        return Ok(r);
    }
    match &target {
        Target::Postgres(t) => {
            postgres::run(t, &target, &loc, s, progress, confirm, &mut r).await?
        }
        Target::Mysql(t) => mysql::run(t, &target, &loc, s, progress, confirm, &mut r).await?,
        Target::Sqlite(t) => sqlite::run(t, &loc, s, progress, confirm, &mut r).await?,
    }
    r.duration_ms = began.elapsed().as_millis() as u64;
    Ok(r)
}

/// After the preflight: refuse, stop (`--check`), or ask. Returns true to go on.
pub(crate) fn gate(r: &mut RestoreReport, s: &RestoreSettings, confirm: Confirm<'_>) -> bool {
    if r.refused() {
        r.status = Status::Refused;
        let failed: Vec<String> = r
            .preflight
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name.clone())
            .collect();
        r.message = format!(
            "refused by the preflight ({}); nothing was touched",
            failed.join(", ")
        );
        return false;
    }
    if s.check_only {
        r.status = Status::Checked;
        r.message = "preflight passed; nothing was done (--check)".into();
        return false;
    }
    if !s.yes && !confirm(r) {
        r.status = Status::NotConfirmed;
        r.message =
            "not confirmed (pass --yes to restore non-interactively); nothing was touched".into();
        return false;
    }
    true
}

pub use crate::sys::durable::free_bytes;

pub(crate) fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

pub(crate) fn disk_check(
    r: &mut RestoreReport,
    name: &str,
    dir: Option<&Path>,
    need: Option<u64>,
    what: &str,
) {
    match (dir, need) {
        (Some(d), Some(need)) => match free_bytes(d) {
            Some(free) if free >= need => r.check(name, true, format!("{} free in {}, about {} needed for {what}", human_bytes(free), d.display(), human_bytes(need))),
            Some(free) => r.check(name, false, format!("only {} free in {}, about {} needed for {what}", human_bytes(free), d.display(), human_bytes(need))),
            None => r.warn(name, format!("cannot read the free space of {}: make sure about {} are free for {what}", d.display(), human_bytes(need))),
        },
        (None, Some(need)) => r.warn(name, format!("the server's data folder is not visible from here (remote server or no permission): make sure about {} are free for {what}", human_bytes(need))),
        _ => r.warn(name, format!("the database size was not recorded: free space for {what} is unknown")),
    }
}

/// The statistics reset time and per-table write counters now (PostgreSQL).
pub(crate) type Counters<'a> = (&'a Option<String>, &'a [(String, String, u64)]);

/// Rows changed since the backup: row-count differences per table, raised to the write
/// counters' deltas where those are comparable (PostgreSQL, statistics not reset since).
pub(crate) fn changes(
    m: &Manifest,
    kind: EngineKind,
    now: &[TableRows],
    counters: Option<Counters<'_>>,
) -> Changes {
    let key = |t: &TableRows| {
        if kind == EngineKind::Mysql {
            t.table.clone()
        } else {
            t.qualified()
        }
    };
    let mut tables: Vec<TableChange> = Vec::new();
    let mut add = |table: String, rows: u64| {
        if rows == 0 {
            return;
        }
        match tables.iter_mut().find(|t| t.table == table) {
            Some(t) => t.rows = t.rows.max(rows),
            None => tables.push(TableChange { table, rows }),
        }
    };
    for t in now {
        let then = m
            .tables
            .iter()
            .find(|w| key(w) == key(t))
            .map(|w| w.rows)
            .unwrap_or(0);
        add(key(t), t.rows.abs_diff(then));
    }
    let mut method = "row-counts".to_string();
    let mut note =
        Some("updates that leave row counts unchanged are not visible to this method".to_string());
    if let (Some((reset_now, now_counters)), Some(wc)) = (counters, &m.write_counters) {
        if wc.stats_reset == *reset_now {
            method = "pg_stat_user_tables+row-counts".into();
            note = None;
            for (schema, table, writes) in now_counters {
                let before = wc
                    .tables
                    .iter()
                    .find(|b| &b.schema == schema && &b.table == table)
                    .map(|b| b.writes)
                    .unwrap_or(0);
                add(format!("{schema}.{table}"), writes.saturating_sub(before));
            }
        } else {
            note = Some(
                "statistics were reset since the backup: only row-count differences are visible"
                    .into(),
            );
        }
    }
    tables.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.table.cmp(&b.table)));
    Changes {
        method,
        rows: tables.iter().map(|t| t.rows).sum(),
        tables,
        note,
    }
}

pub(crate) fn fatal(issues: &[RestoreIssue]) -> Vec<&RestoreIssue> {
    issues
        .iter()
        .filter(|i| i.class == ErrorClass::Fatal)
        .collect()
}

pub(crate) fn restore_failure(
    tool: &str,
    f: &child::Finished,
    issues: &[RestoreIssue],
    secret: Option<&str>,
) -> Option<String> {
    let fatal = fatal(issues);
    if let Some(first) = fatal.first() {
        return Some(format!(
            "{tool}: {} fatal error(s), first: {}",
            fatal.len(),
            target::scrub(&first.message, secret)
        ));
    }
    if !f.status.success() && issues.is_empty() {
        return Some(format!(
            "{tool} failed ({}): {}",
            child::describe(&f.status),
            target::scrub(&child::tail(&f.stderr, 5), secret)
        ));
    }
    None
}

/// Bytes of a backup file, or of every file of a pg_dump directory.
fn archive_bytes(path: &Path) -> Option<u64> {
    let md = std::fs::metadata(path).ok()?;
    if md.is_file() {
        return Some(md.len());
    }
    let rd = std::fs::read_dir(path).ok()?;
    Some(
        rd.flatten()
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum(),
    )
}

/// Runs a restore tool that reads `archive`; its progress is the bytes the tool has read
/// (`/proc/<pid>/io`), capped at the archive's size.
pub(crate) async fn run_blocking(
    cmd: std::process::Command,
    progress: &Arc<dyn Progress>,
    what: &str,
    archive: &Path,
) -> Result<child::Finished, BackupError> {
    let total = archive_bytes(archive);
    progress.begin(what, total);
    let p = progress.clone();
    let seen = std::sync::atomic::AtomicU64::new(0);
    let f = tokio::task::spawn_blocking(move || {
        let f = child::run_polling(cmd, &|pid| {
            if let Some(read) = child::bytes_read(pid) {
                let read = total.map_or(read, |t| read.min(t));
                let before = seen.swap(read, std::sync::atomic::Ordering::Relaxed);
                if read > before {
                    p.add(read - before);
                }
            }
        });
        // a tool that succeeded read its archive to the end, also after the last poll
        if let (Ok(done), Some(t)) = (&f, total)
            && done.status.success()
        {
            p.add(t.saturating_sub(seen.load(std::sync::atomic::Ordering::Relaxed)));
        }
        f
    })
    .await
    .map_err(|e| BackupError::Failed(e.to_string()))?
    .map_err(|e| BackupError::Failed(e.to_string()));
    progress.end();
    f
}

/// Row counts, fingerprint and (where available) integrity catalog checks of a restored
/// database, against the manifest. Returns the differences.
pub(crate) async fn verify_restored(
    conn: &mut Conn,
    m: &Manifest,
    rename: Option<(&str, &str)>,
) -> Result<Vec<String>, String> {
    let kind = conn.kind();
    if kind == EngineKind::Postgres {
        let _ = conn.execute("ANALYZE").await;
    }
    let snap = backup::snapshot_for(conn, m)
        .await
        .map_err(|e| format!("counting rows: {e}"))?;
    let fp = match rename {
        Some((from, to)) => backup::fingerprint_renamed(&snap.fingerprint_lines, from, to),
        None => snap.fingerprint.clone(),
    };
    let mut diffs = compare(m, kind, &snap.tables, &fp);
    let opts = crate::integrity::IntegrityOptions {
        level: crate::integrity::Level::Catalog,
        ..Default::default()
    };
    match crate::integrity::run(conn, &opts).await {
        Ok(rep) => {
            for p in rep
                .problems
                .iter()
                .filter(|p| p.severity == crate::model::Severity::Error)
            {
                diffs.push(format!("integrity {}: {} {}", p.check, p.object, p.message));
            }
        }
        Err(e) => diffs.push(format!("integrity catalog checks could not run: {e}")),
    }
    Ok(diffs)
}

pub(crate) fn summary_ok(diffs: &[String], tables: usize) -> String {
    if diffs.is_empty() {
        format!(
            "{tables} tables' row counts, the schema fingerprint and the integrity catalog checks match"
        )
    } else {
        diffs.join("; ")
    }
}

pub(crate) async fn safety_backup(
    s: &RestoreSettings,
    format: crate::engines::postgres::backup::PgFormat,
    progress: &Arc<dyn Progress>,
) -> Result<PathBuf, BackupError> {
    let cs = CreateSettings {
        url: s.url.clone(),
        dir: s.dir.clone(),
        pg_format: format,
        jobs: s.jobs,
        globals: false,
        role_passwords: false,
        verify: true,
        pg_bin_dir: s.pg_bin_dir.clone(),
        exact_row_limit: s.exact_row_limit,
        lock_wait_timeout_secs: s.lock_timeout_secs,
        purpose: Purpose::PreRestore,
    };
    let rep = backup::create(&cs, progress.clone()).await?;
    if !rep.passed() {
        return Err(BackupError::Failed(format!(
            "the safety backup {} failed its verification",
            rep.path.display()
        )));
    }
    Ok(rep.path)
}

/// What to say when the pre-restore safety backup failed: why, that nothing was touched, and
/// the way out with what it costs.
pub(crate) fn safety_backup_failed(e: &BackupError, changes: Option<&Changes>) -> String {
    let text = e.to_string();
    let hint = if text.contains("1356") {
        " (error 1356: a view of the live database references a table or column that no longer exists, so it cannot be dumped; fix or drop the view first)"
    } else {
        ""
    };
    let lost = match changes {
        Some(c) if c.rows == 1 => "the 1 row written since the backup is then lost for good".into(),
        Some(c) if c.rows > 0 => format!(
            "the {} rows written since the backup are then lost for good",
            c.rows
        ),
        _ => "whatever was written since the backup is then lost for good".to_string(),
    };
    format!(
        "the pre-restore safety backup failed ({text}){hint}; the live database was not touched. To restore without one, run again with --no-safety-backup: nothing keeps the current database, and {lost}"
    )
}

pub(crate) fn restore_ts() -> String {
    Utc::now().format("%Y%m%d_%H%M%S").to_string()
}

/// The timestamp part of the names a restore creates, made unique: when `taken` says a name
/// built from it exists (a second restore within the same second, or what a crashed run left
/// and `recover` kept), `_2`, `_3`, … is appended instead of refusing the restore.
pub(crate) fn free_ts(taken: impl Fn(&str) -> bool) -> String {
    let ts = restore_ts();
    let mut candidate = ts.clone();
    let mut n = 1u32;
    while taken(&candidate) {
        n += 1;
        candidate = format!("{ts}_{n}");
    }
    candidate
}

/// A restore that changes a database: its journal, the marker on the live database, and what a
/// SIGINT/SIGTERM/SIGHUP does meanwhile (end it from the journal, see
/// [`recover::interrupted`]). Steps go through [`Operation::step`] before they act.
pub(crate) struct Operation {
    journal: Option<Journal>,
    kind: EngineKind,
    marked: Option<String>,
    gate: Arc<Gate>,
    _on_interrupt: CleanupGuard,
    /// Where each step is announced before it runs (a line on stderr outside a terminal).
    progress: Option<Arc<dyn Progress>>,
}

/// Who may act on the database: the restore between its steps, the interrupt handler once it
/// has waited for the step in flight to end (children are stopped first, so a load ends at
/// once). After that the restore takes no further step.
#[derive(Default)]
struct Gate {
    state: std::sync::Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    in_step: bool,
    handler_owns: bool,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits (up to 30 s) for the step in flight, then takes the database over.
    fn take_over(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            {
                let mut st = self.lock();
                if !st.in_step || Instant::now() > deadline {
                    st.handler_owns = true;
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn journal_failed(e: impl std::fmt::Display) -> BackupError {
    BackupError::Failed(format!(
        "cannot write the journal ({e}): stopped before the next change"
    ))
}

impl Operation {
    /// Starts the journal (refusing to go on without one) and marks `marker_db` when given.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn begin(
        kind: &'static str,
        target: &Target,
        url: &str,
        admin: Option<&mut Conn>,
        marker_db: Option<&str>,
        facts: Value,
        s: &RestoreSettings,
        r: &mut RestoreReport,
    ) -> Result<Operation, BackupError> {
        let journal = Journal::begin(&s.journal_dir, kind, JournalTarget::of(target), facts)
            .map_err(|e| {
                BackupError::Failed(format!("{e}; nothing was changed (a restore is journaled)"))
            })?;
        r.operation = Some(journal.id().to_string());
        r.journal = Some(journal.path().to_path_buf());
        let (url, path) = (url.to_string(), journal.path().to_path_buf());
        let gate = Arc::new(Gate::default());
        let g = gate.clone();
        let guard = signals::on_interrupt(move || {
            g.take_over();
            Some(recover::interrupted(&url, &path))
        });
        let mut op = Operation {
            journal: Some(journal),
            kind: target.kind(),
            marked: None,
            gate,
            _on_interrupt: guard,
            progress: None,
        };
        if let (Some(admin), Some(db)) = (admin, marker_db) {
            let marker = Marker {
                operation: op.id(),
                kind: kind.to_string(),
                started_at: Utc::now(),
                host: crate::sys::proc::hostname(),
                pid: std::process::id(),
                command: crate::journal::command_line(),
                ..Marker::default()
            };
            op.step("mark", serde_json::json!({"database": db}))?;
            match op
                .kind
                .engine()
                .admin()
                .set_marker(admin, db, &marker)
                .await
            {
                Ok(()) => {
                    op.done("mark", serde_json::json!({}))?;
                    op.marked = Some(db.to_string());
                }
                Err(e) => {
                    op.failed("mark", &e.to_string());
                    r.warnings.push(format!(
                        "no marker on {db} ({e}): only this machine's journal records the restore"
                    ));
                }
            }
        }
        Ok(op)
    }

    pub(crate) fn id(&self) -> String {
        self.journal
            .as_ref()
            .map(|j| j.id().to_string())
            .unwrap_or_default()
    }

    fn journal(&mut self) -> Result<&mut Journal, BackupError> {
        // once an interrupt is being handled, its handler owns the journal and the database:
        // the restore takes no further step
        if signals::terminating() {
            return Err(BackupError::Failed("interrupted".into()));
        }
        self.journal
            .as_mut()
            .ok_or_else(|| journal_failed("the journal was closed"))
    }

    /// Journals that `name` is about to change the database; `state` is what undoing it needs.
    /// Announces every following step on `progress` as it starts.
    pub(crate) fn announce_steps(&mut self, progress: Arc<dyn Progress>) {
        self.progress = Some(progress);
    }

    pub(crate) fn step(&mut self, name: &str, state: Value) -> Result<(), BackupError> {
        {
            let mut g = self.gate.lock();
            // an interrupt is being handled: the step in flight (if any) has ended, and the
            // handler may take over now
            if g.handler_owns || signals::terminating() {
                g.in_step = false;
                return Err(BackupError::Failed("interrupted".into()));
            }
            g.in_step = true;
        }
        if let Some(p) = &self.progress {
            let on = state
                .get("database")
                .and_then(Value::as_str)
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            p.note(&format!("{name}{on}"));
        }
        self.journal()?.step(name, state).map_err(journal_failed)
    }

    pub(crate) fn done(&mut self, name: &str, result: Value) -> Result<(), BackupError> {
        let r = self
            .journal()
            .and_then(|j| j.done(name, result).map_err(journal_failed));
        self.gate.lock().in_step = false;
        r
    }

    /// Best effort: the failure is also in the report.
    pub(crate) fn failed(&mut self, name: &str, error: &str) {
        if let Ok(j) = self.journal() {
            let _ = j.failed(name, error);
        }
        self.gate.lock().in_step = false;
    }

    /// Ends the operation: a consistent end (restored, or failed with nothing left to undo)
    /// clears the marker (also under `other_names`, which the marked database may have taken)
    /// and closes the journal; an error midway leaves both for `migsafe recover` and says so.
    pub(crate) async fn close(
        mut self,
        error: Option<&BackupError>,
        admin: Option<&mut Conn>,
        other_names: &[&str],
        r: &mut RestoreReport,
    ) {
        if signals::terminating() {
            return;
        }
        let inconsistent = !r.live_untouched && r.status != Status::Restored;
        if error.is_some() || inconsistent {
            let id = self.id();
            let why = error
                .map(|e| e.to_string())
                .unwrap_or_else(|| r.message.clone());
            if let Ok(j) = self.journal() {
                let _ = j.note(&format!("stopped: {why}"));
            }
            r.warnings.push(format!(
                "the restore stopped midway ({why}): run `migsafe recover --operation {id}` to bring the database to a consistent end"
            ));
            return;
        }
        if let (Some(admin), Some(db)) = (admin, self.marked.clone()) {
            let eng = self.kind.engine().admin();
            let id = self.id();
            for name in std::iter::once(db.as_str()).chain(other_names.iter().copied()) {
                let _ = eng.clear_marker(admin, name, &id).await;
            }
        }
        let (outcome, detail) = match r.status {
            Status::Restored => ("finished", r.message.clone()),
            _ => ("failed", r.message.clone()),
        };
        if let Some(j) = self.journal.take()
            && let Err(e) = j.end(outcome, &detail)
        {
            r.warnings.push(format!("could not close the journal: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::manifest::{TableWrites, WriteCounters};

    fn manifest() -> Manifest {
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "engine": "postgres", "server_version": "15", "dump_tool": {"name": "pg_dump", "version": "15"},
            "database": "app", "source": "postgres://x/app", "format": "custom", "file": "backup_1.dump", "bytes": 1,
            "sha256": "a".repeat(64), "started_at": "2026-11-29T14:15:00Z", "finished_at": "2026-11-29T14:15:00Z",
            "tables": [{"schema": "public", "table": "users", "rows": 3, "estimated": false}],
            "schema_fingerprint": {"sha256": "b".repeat(64)}, "migrations": [], "verification": []
        }))
        .unwrap()
    }

    #[test]
    fn changes_take_the_larger_of_counter_deltas_and_count_differences() {
        let mut m = manifest();
        m.write_counters = Some(WriteCounters {
            stats_reset: None,
            tables: vec![TableWrites {
                schema: "public".into(),
                table: "users".into(),
                writes: 10,
            }],
        });
        let now = vec![
            TableRows {
                schema: "public".into(),
                table: "users".into(),
                rows: 4,
                estimated: false,
            },
            TableRows {
                schema: "public".into(),
                table: "new".into(),
                rows: 2,
                estimated: false,
            },
        ];
        let counters = vec![("public".to_string(), "users".to_string(), 15u64)];
        let c = changes(&m, EngineKind::Postgres, &now, Some((&None, &counters)));
        assert_eq!(c.method, "pg_stat_user_tables+row-counts");
        assert_eq!(c.rows, 7, "{c:?}");
        assert_eq!(c.tables[0].table, "public.users");
        let reset = Some("2026-12-01".to_string());
        let c = changes(&m, EngineKind::Postgres, &now, Some((&reset, &counters)));
        assert_eq!((c.method.as_str(), c.rows), ("row-counts", 3));
        assert!(c.note.unwrap().contains("reset"));
    }

    #[test]
    fn free_space_is_readable_for_existing_folders() {
        assert!(free_bytes(Path::new("/")).is_some());
        assert!(free_bytes(Path::new("/nonexistent/folder")).is_none());
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
