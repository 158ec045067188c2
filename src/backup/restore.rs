//! `migsafe restore <file|latest>`: proves the backup sound and the target ready before touching
//! anything (preflight), reports how many rows changed since the backup, asks for confirmation,
//! then restores so that a failure leaves the live database as it was:
//! - PostgreSQL `swap` (default): restore into `<db>_restore_<ts>`, verify it, then swap names
//!   in one transaction and keep the old database as `<db>_before_restore_<ts>`;
//!   `in-place`: a pre-restore safety backup, then `--clean --if-exists` in one transaction.
//! - MySQL/MariaDB `in-place`: a rehearsal load into a scratch database on the target server,
//!   verified and dropped, a safety backup, then the load into the live database.
//! - SQLite `swap`: a verified copy replaces the file with one rename under an exclusive lock.

use super::{
    BackupError, BackupRef, CreateSettings, Located, Progress, StepResult, compare, locate, store,
};
use crate::backup::manifest::{Manifest, Purpose};
use crate::engines::EngineKind;
use crate::engines::conn::Conn;
pub use crate::engines::dump::{ErrorClass, RestoreIssue};
use crate::engines::mysql::{backup as mybk, restore as myr};
use crate::engines::postgres::backup::{self as pgbk, PgFormat};
use crate::engines::postgres::restore as pgr;
use crate::engines::snapshot::TableRows;
use crate::engines::sqlite::{backup as sqbk, restore as sqr};
use crate::engines::target::{self, MyTarget, PgTarget, SqliteTarget, Target};
use crate::sys::child;
use chrono::Utc;
use serde::Serialize;
use std::collections::BTreeSet;
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

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub ok: bool,
    pub ms: u64,
    pub details: String,
}

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
}

impl RestoreReport {
    pub fn passed(&self) -> bool {
        matches!(self.status, Status::Restored | Status::Checked)
    }

    fn check(&mut self, name: &str, ok: bool, details: impl Into<String>) {
        self.preflight.push(Check {
            name: name.into(),
            ok,
            warning: false,
            details: details.into(),
        });
    }

    fn warn(&mut self, name: &str, details: impl Into<String>) {
        self.preflight.push(Check {
            name: name.into(),
            ok: true,
            warning: true,
            details: details.into(),
        });
    }

    fn refused(&self) -> bool {
        self.preflight.iter().any(|c| !c.ok)
    }

    fn step(&mut self, name: &str, began: Instant, ok: bool, details: impl Into<String>) {
        self.steps.push(Step {
            name: name.into(),
            ok,
            ms: began.elapsed().as_millis() as u64,
            details: details.into(),
        });
    }

    fn fail(&mut self, untouched: bool, message: impl Into<String>) {
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
    // the archive first: nothing else is worth checking if it is not sound
    let file = super::verify_file(
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
        r.message = "refused: the backup failed its checks; nothing was touched".into();
        r.duration_ms = began.elapsed().as_millis() as u64;
        return Ok(r);
    }
    match &target {
        Target::Postgres(t) => restore_pg(t, &loc, s, progress, confirm, &mut r).await?,
        Target::Mysql(t) => restore_mysql(t, &loc, s, progress, confirm, &mut r).await?,
        Target::Sqlite(t) => restore_sqlite(t, &loc, s, progress, confirm, &mut r).await?,
    }
    r.duration_ms = began.elapsed().as_millis() as u64;
    Ok(r)
}

/// After the preflight: refuse, stop (`--check`), or ask. Returns true to go on.
fn gate(r: &mut RestoreReport, s: &RestoreSettings, confirm: Confirm<'_>) -> bool {
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

/// Free bytes on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

fn human_bytes(n: u64) -> String {
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

fn disk_check(
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
type Counters<'a> = (&'a Option<String>, &'a [(String, String, u64)]);

/// Rows changed since the backup: row-count differences per table, raised to the write
/// counters' deltas where those are comparable (PostgreSQL, statistics not reset since).
fn changes(
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

fn fatal(issues: &[RestoreIssue]) -> Vec<&RestoreIssue> {
    issues
        .iter()
        .filter(|i| i.class == ErrorClass::Fatal)
        .collect()
}

fn restore_failure(
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

async fn run_blocking(
    cmd: std::process::Command,
    progress: &Arc<dyn Progress>,
    what: &str,
) -> Result<child::Finished, BackupError> {
    progress.begin(what, None);
    let f = tokio::task::spawn_blocking(move || child::run(cmd))
        .await
        .map_err(|e| BackupError::Failed(e.to_string()))?
        .map_err(|e| BackupError::Failed(e.to_string()));
    progress.end();
    f
}

/// Row counts, fingerprint and (where available) integrity catalog checks of a restored
/// database, against the manifest. Returns the differences.
async fn verify_restored(
    conn: &mut Conn,
    m: &Manifest,
    rename: Option<(&str, &str)>,
) -> Result<Vec<String>, String> {
    let kind = conn.kind();
    if kind == EngineKind::Postgres {
        let _ = conn.execute("ANALYZE").await;
    }
    let snap = super::snapshot_for(conn, m)
        .await
        .map_err(|e| format!("counting rows: {e}"))?;
    let fp = match rename {
        Some((from, to)) => super::fingerprint_renamed(&snap.fingerprint_lines, from, to),
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

fn summary_ok(diffs: &[String], tables: usize) -> String {
    if diffs.is_empty() {
        format!(
            "{tables} tables' row counts, the schema fingerprint and the integrity catalog checks match"
        )
    } else {
        diffs.join("; ")
    }
}

async fn connect_admin(t: &PgTarget) -> Result<Conn, BackupError> {
    match Conn::open(&t.sqlx_url("postgres")).await {
        Ok(c) => Ok(c),
        Err(first) => Conn::open(&t.sqlx_url("template1"))
            .await
            .map_err(|_| BackupError::Engine(first)),
    }
}

async fn safety_backup(
    s: &RestoreSettings,
    format: PgFormat,
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
    let rep = super::create(&cs, progress.clone()).await?;
    if !rep.passed() {
        return Err(BackupError::Failed(format!(
            "the safety backup {} failed its verification",
            rep.path.display()
        )));
    }
    Ok(rep.path)
}

fn restore_ts() -> String {
    Utc::now().format("%Y%m%d_%H%M%S").to_string()
}

async fn restore_pg(
    t: &PgTarget,
    loc: &Located,
    s: &RestoreSettings,
    progress: Arc<dyn Progress>,
    confirm: Confirm<'_>,
    r: &mut RestoreReport,
) -> Result<(), BackupError> {
    let m = &loc.manifest;
    let format = PgFormat::parse(&m.format)
        .ok_or_else(|| BackupError::Usage(format!("unknown PostgreSQL format {}", m.format)))?;
    let tools = pgbk::find_tools(
        s.pg_bin_dir.as_deref(),
        super::dump_major(m),
        "pg_restore must be at least the version of the pg_dump that wrote the archive",
    )?;
    let db = t.database.clone();
    let mut admin = connect_admin(t).await?;
    let facts = pgr::target_facts(&mut admin)
        .await
        .map_err(|e| BackupError::db("reading the target server's settings", e))?;
    let source_major = pgbk::major_of(&m.server_version).unwrap_or(0);
    r.check(
        "tools",
        true,
        format!(
            "pg_restore and psql {} (from {}) for an archive written by {}",
            tools.major,
            tools.bin_dir.display(),
            m.dump_tool.version
        ),
    );
    r.check(
        "server-version",
        facts.major >= source_major,
        if facts.major >= source_major { format!("target {} ≥ source {}", facts.version, m.server_version) } else { format!("target {} is older than the source {}: dumps only load into the same or newer major versions", facts.version, m.server_version) },
    );
    let archive = match super::pg_archive_facts(&tools, format, &loc.path) {
        Ok(a) => a,
        Err(e) => {
            r.check(
                "archive",
                false,
                format!("cannot read the archive's schema: {e}"),
            );
            admin.close().await;
            gate(r, s, confirm);
            return Ok(());
        }
    };
    let missing_ext: Vec<&String> = archive
        .extensions
        .iter()
        .filter(|e| !facts.available_extensions.contains(*e))
        .collect();
    r.check(
        "extensions",
        missing_ext.is_empty(),
        if missing_ext.is_empty() {
            format!(
                "available: {}",
                if archive.extensions.is_empty() {
                    "none needed".into()
                } else {
                    archive
                        .extensions
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )
        } else {
            format!(
                "not installed on the target server: {} (install the extension packages first)",
                missing_ext
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    );
    let missing_roles: Vec<String> = archive
        .roles
        .iter()
        .filter(|x| !facts.roles.contains(*x))
        .cloned()
        .collect();
    let globals_hint = m
        .globals
        .as_ref()
        .map(|g| {
            format!(
                " (apply {} with psql first)",
                loc.dir.join(&g.path).display()
            )
        })
        .unwrap_or_default();
    match (missing_roles.is_empty(), s.no_owner, format) {
        (true, _, _) => r.check("roles", true, if archive.roles.is_empty() { "none needed".to_string() } else { format!("present: {}", archive.roles.iter().cloned().collect::<Vec<_>>().join(", ")) }),
        (false, true, PgFormat::Custom | PgFormat::Directory) => r.check("roles", true, format!("missing {}: ownership and grants are skipped (--no-owner)", missing_roles.join(", "))),
        (false, true, PgFormat::Plain) => r.check("roles", false, format!("missing {}: a plain dump sets owners itself, so --no-owner cannot help; create the roles{globals_hint}", missing_roles.join(", "))),
        (false, false, _) => r.check("roles", false, format!("missing {}: create them{globals_hint} or pass --no-owner", missing_roles.join(", "))),
    }
    let live = facts.databases.get(&db).cloned();
    let ts = restore_ts();
    let new_db = format!("{db}_restore_{ts}");
    let keep_db = format!("{db}_before_restore_{ts}");
    let single_txn = r.strategy == Strategy::InPlace || format == PgFormat::Plain;
    match r.strategy {
        Strategy::Swap => {
            let can = facts.superuser
                || (facts.createdb
                    && live
                        .as_ref()
                        .is_none_or(|(owner, _)| *owner == facts.current_user));
            r.check(
                "privileges",
                can,
                if can { format!("{} may create and rename databases", facts.current_user) } else { format!("{} needs CREATEDB and ownership of {db} (or superuser) to restore into a new database and swap it in", facts.current_user) },
            );
            let too_long = keep_db.len() > 63;
            let taken =
                facts.databases.contains_key(&new_db) || facts.databases.contains_key(&keep_db);
            r.check(
                "names",
                !too_long && !taken,
                if too_long { format!("{keep_db} is longer than PostgreSQL's 63-byte limit: use --strategy in-place or a shorter database name") } else if taken { format!("{new_db} or {keep_db} already exists") } else { format!("restore into {new_db}, keep the current database as {keep_db}") },
            );
        }
        Strategy::InPlace => {
            match &live {
                None => r.check("database", false, format!("{db} does not exist: nothing to restore in place (use --strategy swap, which creates it)")),
                Some(_) => {
                    let mut conn = Conn::open(&t.sqlx_url(&db)).await?;
                    let rels = pgr::relations(&mut conn).await.map_err(|e| BackupError::db("listing relations", e))?;
                    conn.close().await;
                    let extra: Vec<String> = rels.difference(&archive.relations).map(|(s, n)| format!("{s}.{n}")).collect();
                    r.check(
                        "extra-objects",
                        extra.is_empty(),
                        if extra.is_empty() { "every relation of the live database is in the backup".to_string() } else { format!("the live database has relations the backup does not: {} (created after the backup); an in-place restore would keep them. Use --strategy swap, or drop them first", extra.join(", ")) },
                    );
                }
            }
            if s.safety_backup {
                disk_check(
                    r,
                    "backup-space",
                    Some(&s.dir),
                    Some(m.bytes + m.bytes / 5),
                    "the pre-restore safety backup",
                );
            }
        }
    }
    let data_dir = facts
        .data_directory
        .as_ref()
        .filter(|_| t.is_local())
        .map(PathBuf::from)
        .filter(|p| p.exists());
    let need = m.database_settings.size_bytes.map(|b| b + b / 5);
    disk_check(
        r,
        "disk",
        data_dir.as_deref(),
        need,
        if r.strategy == Strategy::Swap {
            "a second copy of the database"
        } else {
            "the restored data (old rows are freed at commit)"
        },
    );
    if single_txn {
        let per = if r.strategy == Strategy::InPlace {
            2
        } else {
            1
        };
        let needed = archive.lock_objects as u64 * per;
        let capacity = facts.max_locks_per_transaction
            * (facts.max_connections + facts.max_prepared_transactions);
        if needed * 2 > capacity {
            r.check("locks", false, format!("restoring in one transaction locks about {needed} objects; the server's lock table holds {capacity} (max_locks_per_transaction {} × (max_connections + max_prepared_transactions)): raise max_locks_per_transaction or use --strategy swap with a custom or directory backup", facts.max_locks_per_transaction));
        } else if needed > facts.max_locks_per_transaction {
            r.warn("locks", format!("about {needed} locks in one transaction, more than max_locks_per_transaction {}: fine while the rest of the server holds few locks", facts.max_locks_per_transaction));
        } else {
            r.check(
                "locks",
                true,
                format!(
                    "about {needed} locks in one transaction, within max_locks_per_transaction {}",
                    facts.max_locks_per_transaction
                ),
            );
        }
    } else {
        r.check(
            "locks",
            true,
            "pg_restore commits object by object: max_locks_per_transaction does not limit it"
                .to_string(),
        );
    }
    if live.is_some() {
        let mut conn = Conn::open(&t.sqlx_url(&db)).await?;
        // a restore role may not read every table: the write counters still cover them all
        let limit = m
            .exact_row_limit
            .unwrap_or(super::snapshot::DEFAULT_EXACT_LIMIT);
        let (now, count_error) = match super::snapshot::row_counts(&mut conn, limit).await {
            Ok(n) => (n, None),
            Err(e) => (vec![], Some(e.to_string())),
        };
        let counters = pgbk::write_counters(&mut conn)
            .await
            .map_err(|e| BackupError::db("reading pg_stat_user_tables", e))?;
        let (_, reset) = conn
            .query_text(
                "SELECT stats_reset::text FROM pg_stat_database WHERE datname = current_database()",
            )
            .await
            .map_err(|e| BackupError::db("reading pg_stat_database", e))?;
        conn.close().await;
        let reset = reset
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten());
        let mut c = changes(m, EngineKind::Postgres, &now, Some((&reset, &counters)));
        if let Some(e) = count_error {
            c.method = if c.method == "row-counts" {
                "none".into()
            } else {
                c.method.replace("+row-counts", "")
            };
            c.note = Some(format!(
                "rows could not be counted ({e}): only the write counters were used"
            ));
        }
        r.changes = Some(c);
    }
    if !gate(r, s, confirm) {
        admin.close().await;
        return Ok(());
    }
    let env = t.child_env("migsafe restore");
    let use_list = if !facts.superuser && format != PgFormat::Plain {
        let toc = child::output(pgbk::toc_command(&tools, &loc.path))
            .map_err(|e| BackupError::Failed(e.to_string()))?;
        let (filtered, dropped) = pgr::filter_toc(&toc);
        if dropped > 0 {
            let p =
                std::env::temp_dir().join(format!("migsafe-toc-{}-{ts}.list", std::process::id()));
            super::atomic::write_replace(&p, filtered.as_bytes())
                .map_err(|e| BackupError::Failed(format!("writing the TOC list: {e}")))?;
            Some(p)
        } else {
            None
        }
    } else {
        None
    };
    let spec = pgr::RestoreSpec {
        clean: r.strategy == Strategy::InPlace,
        single_transaction: r.strategy == Strategy::InPlace,
        jobs: s.jobs,
        no_owner: s.no_owner,
        no_acl: s.no_owner,
        use_list: use_list.clone(),
        env: env.clone(),
        lock_timeout_secs: (r.strategy == Strategy::InPlace).then_some(s.lock_timeout_secs),
    };
    let result = match r.strategy {
        Strategy::Swap => {
            pg_swap(
                t,
                loc,
                s,
                &tools,
                format,
                &spec,
                &mut admin,
                live.is_some(),
                &new_db,
                &keep_db,
                &progress,
                r,
            )
            .await
        }
        Strategy::InPlace => pg_in_place(t, loc, s, &tools, format, &spec, &progress, r).await,
    };
    if let Some(p) = use_list {
        let _ = std::fs::remove_file(p);
    }
    admin.close().await;
    result
}

/// Runs pg_restore (or psql for plain dumps) from the backup into database `db`, records the
/// classified errors in the report, and returns the finished process and why the restore
/// failed, if it did.
#[allow(clippy::too_many_arguments)]
async fn run_pg_restore(
    t: &PgTarget,
    loc: &Located,
    tools: &pgbk::PgTools,
    format: PgFormat,
    spec: &pgr::RestoreSpec,
    db: &str,
    what: &str,
    progress: &Arc<dyn Progress>,
    r: &mut RestoreReport,
) -> Result<(child::Finished, Option<String>), BackupError> {
    let cmd = pgr::restore_command(tools, format, &loc.path, &t.libpq_url(db), spec);
    let f = run_blocking(cmd, progress, what).await?;
    let issues = pgr::classify_errors(&f.stderr);
    r.errors = issues.clone();
    let tool = if format == PgFormat::Plain {
        "psql"
    } else {
        "pg_restore"
    };
    let failure = restore_failure(tool, &f, &issues, t.password());
    Ok((f, failure))
}

#[allow(clippy::too_many_arguments)]
async fn pg_swap(
    t: &PgTarget,
    loc: &Located,
    s: &RestoreSettings,
    tools: &pgbk::PgTools,
    format: PgFormat,
    spec: &pgr::RestoreSpec,
    admin: &mut Conn,
    live_exists: bool,
    new_db: &str,
    keep_db: &str,
    progress: &Arc<dyn Progress>,
    r: &mut RestoreReport,
) -> Result<(), BackupError> {
    let m = &loc.manifest;
    let db = t.database.clone();
    let began = Instant::now();
    let ds = &m.database_settings;
    if let Err(e) = pgr::create_database(
        admin,
        new_db,
        ds.encoding.as_deref(),
        ds.collate.as_deref(),
        ds.ctype.as_deref(),
        None,
    )
    .await
    {
        r.step("create-database", began, false, e.to_string());
        r.fail(
            true,
            format!("could not create {new_db}: {e}; the live database was not touched"),
        );
        return Ok(());
    }
    r.step(
        "create-database",
        began,
        true,
        format!("{new_db} (TEMPLATE template0)"),
    );
    let began = Instant::now();
    let what = format!("restoring into {new_db}");
    let (_, failure) =
        run_pg_restore(t, loc, tools, format, spec, new_db, &what, progress, r).await?;
    if let Some(why) = failure {
        r.step("restore", began, false, why.clone());
        let _ = pgr::drop_database(admin, new_db).await;
        r.fail(
            true,
            format!("{why}; {new_db} was dropped and the live database was not touched"),
        );
        return Ok(());
    }
    let harmless = r.errors.len();
    r.step(
        "restore",
        began,
        true,
        if harmless == 0 {
            format!("restored into {new_db}")
        } else {
            format!("restored into {new_db} with {harmless} harmless error(s)")
        },
    );
    let began = Instant::now();
    let mut conn = Conn::open(&t.sqlx_url(new_db)).await?;
    let diffs = verify_restored(&mut conn, m, None).await;
    conn.close().await;
    let diffs = diffs.unwrap_or_else(|e| vec![e]);
    r.step(
        "verify",
        began,
        diffs.is_empty(),
        summary_ok(&diffs, m.tables.len()),
    );
    if !diffs.is_empty() {
        r.mismatches = diffs;
        let _ = pgr::drop_database(admin, new_db).await;
        r.fail(true, format!("the restored copy does not match the manifest; {new_db} was dropped and the live database was not touched"));
        return Ok(());
    }
    let began = Instant::now();
    if live_exists {
        let out = child::output(pgr::database_properties_command(
            tools,
            &t.libpq_url(&db),
            &spec.env,
        ))
        .map_err(|e| BackupError::Failed(format!("reading the live database's settings: {e}")))?;
        let (keep, skipped) = pgr::database_properties(&out);
        r.carried_over = keep.clone();
        r.not_carried_over = skipped;
        let guard = crate::sys::signals::Critical::enter();
        let swapped = pgr::swap(admin, &db, new_db, keep_db, &keep, s.drain).await;
        let note = if guard.finish().is_some() {
            "; an interrupt arrived meanwhile and waited for the swap to finish"
        } else {
            ""
        };
        match swapped {
            Ok(o) => {
                r.step("swap", began, true, format!("{db} is the restored database; the previous one is {keep_db} ({} session(s) left during the drain, {} terminated){note}", o.drained, o.terminated));
                r.kept_as = Some(keep_db.to_string());
            }
            Err(e) => {
                r.step("swap", began, false, format!("{e}{note}"));
                r.fail(true, format!("the swap failed ({e}); nothing was renamed, {db} accepts connections again and the verified copy is kept as {new_db}"));
                return Ok(());
            }
        }
    } else {
        admin
            .execute(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                pgr::ident(new_db),
                pgr::ident(&db)
            ))
            .await
            .map_err(|e| BackupError::db("renaming the restored database", e))?;
        r.step(
            "rename",
            began,
            true,
            format!("{new_db} renamed to {db} (there was no database {db})"),
        );
    }
    r.status = Status::Restored;
    r.live_untouched = false;
    r.message = match &r.kept_as {
        Some(k) => format!(
            "restored {db} from {}; the previous database is kept as {k}",
            m.file
        ),
        None => format!("restored {db} from {}", m.file),
    };
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn pg_in_place(
    t: &PgTarget,
    loc: &Located,
    s: &RestoreSettings,
    tools: &pgbk::PgTools,
    format: PgFormat,
    spec: &pgr::RestoreSpec,
    progress: &Arc<dyn Progress>,
    r: &mut RestoreReport,
) -> Result<(), BackupError> {
    let m = &loc.manifest;
    let db = t.database.clone();
    if s.safety_backup {
        let began = Instant::now();
        match safety_backup(s, PgFormat::Custom, progress).await {
            Ok(p) => {
                r.step(
                    "safety-backup",
                    began,
                    true,
                    format!(
                        "{} (restore it with `migsafe restore {}` to undo)",
                        p.display(),
                        p.display()
                    ),
                );
                r.safety_backup = Some(p);
            }
            Err(e) => {
                r.step("safety-backup", began, false, e.to_string());
                r.fail(true, format!("the pre-restore safety backup failed ({e}); the live database was not touched"));
                return Ok(());
            }
        }
    }
    let began = Instant::now();
    let what = format!("restoring {db} in place");
    let (f, failure) = run_pg_restore(t, loc, tools, format, spec, &db, &what, progress, r).await?;
    if let Some(why) = failure {
        r.step("restore", began, false, why.clone());
        r.fail(
            true,
            format!(
                "{why}; the restore ran in one transaction and was rolled back: {db} is as it was"
            ),
        );
        return Ok(());
    }
    if !f.status.success() {
        let errors = r.errors.len();
        r.step(
            "restore",
            began,
            false,
            format!("{errors} error(s), all rolled back"),
        );
        r.fail(
            true,
            format!(
                "the restore reported errors and its transaction was rolled back: {db} is as it was"
            ),
        );
        return Ok(());
    }
    r.step(
        "restore",
        began,
        true,
        format!("{db} restored in one transaction (--clean --if-exists)"),
    );
    let began = Instant::now();
    let mut conn = Conn::open(&t.sqlx_url(&db)).await?;
    let diffs = verify_restored(&mut conn, m, None)
        .await
        .unwrap_or_else(|e| vec![e]);
    conn.close().await;
    r.step(
        "verify",
        began,
        diffs.is_empty(),
        summary_ok(&diffs, m.tables.len()),
    );
    r.live_untouched = false;
    if !diffs.is_empty() {
        r.mismatches = diffs;
        let undo = r
            .safety_backup
            .as_ref()
            .map(|p| format!("; the state before the restore is in {}", p.display()))
            .unwrap_or_default();
        r.fail(
            false,
            format!("{db} was restored but does not match the manifest{undo}"),
        );
        return Ok(());
    }
    r.status = Status::Restored;
    r.message = format!("restored {db} in place from {}", m.file);
    Ok(())
}

/// Tables and views a MySQL dump creates.
fn mysql_dump_relations(path: &Path) -> std::io::Result<BTreeSet<String>> {
    use std::io::BufRead;
    let mut out = BTreeSet::new();
    for line in std::io::BufReader::new(std::fs::File::open(path)?).split(b'\n') {
        let line = line?;
        if line.len() > 300
            || !(line.starts_with(b"CREATE TABLE `")
                || line.starts_with(b"/*!50001 VIEW `")
                || line.starts_with(b"/*!50001 CREATE VIEW `"))
        {
            continue;
        }
        let s = String::from_utf8_lossy(&line);
        if let Some(start) = s.find('`') {
            let rest = &s[start + 1..];
            let mut name = String::new();
            let mut chars = rest.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '`' {
                    if chars.peek() == Some(&'`') {
                        name.push('`');
                        chars.next();
                    } else {
                        break;
                    }
                } else {
                    name.push(c);
                }
            }
            out.insert(name);
        }
    }
    Ok(out)
}

async fn mysql_load(
    tools: &mybk::MyTools,
    t: &MyTarget,
    db: &str,
    path: &Path,
    progress: &Arc<dyn Progress>,
    what: &str,
) -> Result<child::Finished, BackupError> {
    let defaults = t.defaults_file()?;
    let mut cmd = myr::load_command(tools, &defaults.arg(), db);
    defaults.pass_to(&mut cmd);
    let p = path.to_path_buf();
    progress.begin(what, std::fs::metadata(path).map(|x| x.len()).ok());
    let p2 = progress.clone();
    let f =
        tokio::task::spawn_blocking(move || child::stream_file_to_stdin(cmd, &p, &|n| p2.add(n)))
            .await
            .map_err(|e| BackupError::Failed(e.to_string()))?
            .map_err(|e| BackupError::Failed(e.to_string()));
    progress.end();
    drop(defaults);
    f
}

async fn restore_mysql(
    t: &MyTarget,
    loc: &Located,
    s: &RestoreSettings,
    progress: Arc<dyn Progress>,
    confirm: Confirm<'_>,
    r: &mut RestoreReport,
) -> Result<(), BackupError> {
    let m = &loc.manifest;
    let db = t.database.clone();
    if r.strategy == Strategy::Swap {
        r.check("strategy", false, "MySQL/MariaDB has no RENAME DATABASE, so swap is not available: use --strategy in-place, which first rehearses the load in a scratch database on the target server and takes a safety backup");
        gate(r, s, confirm);
        return Ok(());
    }
    let tools = mybk::find_tools()?;
    r.check(
        "tools",
        true,
        format!(
            "{} loads a dump written by {}",
            tools.client.display(),
            m.dump_tool.version
        ),
    );
    let mut admin = Conn::open(&t.sqlx_url("information_schema")).await?;
    let facts = myr::target_facts(&mut admin)
        .await
        .map_err(|e| BackupError::db("reading the target server", e))?;
    match (
        mybk::parse_version(&facts.version),
        mybk::parse_version(&m.server_version),
    ) {
        (Some(tv), Some(sv)) => {
            let ok = tv.2 == sv.2 && (tv.0, tv.1) >= (sv.0, sv.1);
            r.check("server-version", ok, if ok { format!("target {} ≥ source {}", facts.version, m.server_version) } else { format!("target {} cannot be relied on to load a dump of {} (different flavour or older version)", facts.version, m.server_version) });
        }
        _ => r.check(
            "server-version",
            false,
            format!(
                "cannot compare the versions {:?} and {:?}",
                facts.version, m.server_version
            ),
        ),
    }
    let live_exists = facts.databases.contains(&db);
    let ts = restore_ts();
    let mut scratch = format!("{db}_restore_{ts}");
    if scratch.len() > 64 {
        scratch = format!("migsafe_restore_{ts}");
    }
    r.check(
        "names",
        !facts.databases.contains(&scratch),
        format!("rehearsal in the scratch database {scratch}"),
    );
    if live_exists {
        let dump_rel = mysql_dump_relations(&loc.path)
            .map_err(|e| BackupError::Failed(format!("reading {}: {e}", loc.path.display())))?;
        let rels = myr::relations(&mut admin, &db)
            .await
            .map_err(|e| BackupError::db("listing tables", e))?;
        let extra: Vec<&String> = rels.difference(&dump_rel).collect();
        r.check(
            "extra-objects",
            extra.is_empty(),
            if extra.is_empty() { "every table and view of the live database is in the backup".to_string() } else { format!("the live database has tables the backup does not: {} (created after the backup); an in-place restore would keep them: drop them first", extra.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")) },
        );
        if s.safety_backup {
            disk_check(
                r,
                "backup-space",
                Some(&s.dir),
                Some(m.bytes + m.bytes / 5),
                "the pre-restore safety backup",
            );
        }
    }
    let datadir = admin
        .query_text("SELECT CAST(@@datadir AS CHAR)")
        .await
        .ok()
        .and_then(|(_, rows)| {
            rows.into_iter()
                .next()
                .and_then(|r| r.into_iter().next().flatten())
        })
        .map(PathBuf::from)
        .filter(|p| {
            p.exists() && (t.redacted().contains("socket=") || t.redacted().contains("@localhost"))
        });
    let need = m.database_settings.size_bytes.map(|b| 2 * b + b / 5);
    disk_check(
        r,
        "disk",
        datadir.as_deref(),
        need,
        "the rehearsal copy and the restored data",
    );
    if live_exists {
        let mut conn = Conn::open(&t.sqlx_url(&db)).await?;
        let now = super::snapshot::row_counts(&mut conn, u64::MAX)
            .await
            .map_err(|e| BackupError::db("counting rows", e))?;
        conn.close().await;
        r.changes = Some(changes(m, EngineKind::Mysql, &now, None));
    }
    if !gate(r, s, confirm) {
        admin.close().await;
        return Ok(());
    }
    // rehearsal: prove the dump loads on this server and matches the manifest
    let began = Instant::now();
    let ds = &m.database_settings;
    myr::create_database(
        &mut admin,
        &scratch,
        ds.encoding.as_deref(),
        ds.collate.as_deref(),
    )
    .await
    .map_err(|e| BackupError::db("creating the scratch database", e))?;
    let f = mysql_load(
        &tools,
        t,
        &scratch,
        &loc.path,
        &progress,
        &format!("rehearsing in {scratch}"),
    )
    .await;
    let f = match f {
        Ok(f) => f,
        Err(e) => {
            let _ = myr::drop_database(&mut admin, &scratch).await;
            return Err(e);
        }
    };
    let issues = myr::classify_errors(&f.stderr);
    if !f.status.success() {
        r.errors = issues.clone();
        let why = issues
            .first()
            .map(|i| i.message.clone())
            .unwrap_or_else(|| child::tail(&f.stderr, 3));
        r.step("rehearsal", began, false, why.clone());
        let _ = myr::drop_database(&mut admin, &scratch).await;
        r.fail(
            true,
            format!(
                "the dump does not load on this server ({why}); the live database was not touched"
            ),
        );
        admin.close().await;
        return Ok(());
    }
    let mut conn = Conn::open(&t.sqlx_url(&scratch)).await?;
    let diffs = verify_restored(&mut conn, m, Some((&scratch, &m.database)))
        .await
        .unwrap_or_else(|e| vec![e]);
    conn.close().await;
    let _ = myr::drop_database(&mut admin, &scratch).await;
    r.step(
        "rehearsal",
        began,
        diffs.is_empty(),
        format!(
            "loaded into {scratch} (dropped again): {}",
            summary_ok(&diffs, m.tables.len())
        ),
    );
    if !diffs.is_empty() {
        r.mismatches = diffs;
        r.fail(
            true,
            "the rehearsal load does not match the manifest; the live database was not touched"
                .to_string(),
        );
        admin.close().await;
        return Ok(());
    }
    if live_exists && s.safety_backup {
        let began = Instant::now();
        match safety_backup(s, PgFormat::Custom, &progress).await {
            Ok(p) => {
                r.step(
                    "safety-backup",
                    began,
                    true,
                    format!("{} (restore it to undo)", p.display()),
                );
                r.safety_backup = Some(p);
            }
            Err(e) => {
                r.step("safety-backup", began, false, e.to_string());
                r.fail(true, format!("the pre-restore safety backup failed ({e}); the live database was not touched"));
                admin.close().await;
                return Ok(());
            }
        }
    }
    if !live_exists {
        myr::create_database(
            &mut admin,
            &db,
            ds.encoding.as_deref(),
            ds.collate.as_deref(),
        )
        .await
        .map_err(|e| BackupError::db("creating the database", e))?;
    }
    admin.close().await;
    let began = Instant::now();
    let f = mysql_load(
        &tools,
        t,
        &db,
        &loc.path,
        &progress,
        &format!("restoring {db}"),
    )
    .await?;
    r.live_untouched = false;
    if !f.status.success() {
        r.errors = myr::classify_errors(&f.stderr);
        let why = r
            .errors
            .first()
            .map(|i| i.message.clone())
            .unwrap_or_else(|| child::tail(&f.stderr, 3));
        r.step("restore", began, false, why.clone());
        let undo = r
            .safety_backup
            .as_ref()
            .map(|p| format!("; restore {} to return to the state before", p.display()))
            .unwrap_or_default();
        r.fail(false, format!("the load failed ({why}) after the rehearsal passed; {db} may be partly restored{undo}"));
        return Ok(());
    }
    r.step("restore", began, true, format!("{db} loaded"));
    let began = Instant::now();
    let mut conn = Conn::open(&t.sqlx_url(&db)).await?;
    let diffs = verify_restored(&mut conn, m, Some((&db, &m.database)))
        .await
        .unwrap_or_else(|e| vec![e]);
    conn.close().await;
    r.step(
        "verify",
        began,
        diffs.is_empty(),
        summary_ok(&diffs, m.tables.len()),
    );
    if !diffs.is_empty() {
        r.mismatches = diffs;
        r.fail(
            false,
            format!("{db} was restored but does not match the manifest"),
        );
        return Ok(());
    }
    r.status = Status::Restored;
    r.message = format!("restored {db} in place from {}", m.file);
    Ok(())
}

async fn restore_sqlite(
    t: &SqliteTarget,
    loc: &Located,
    s: &RestoreSettings,
    _progress: Arc<dyn Progress>,
    confirm: Confirm<'_>,
    r: &mut RestoreReport,
) -> Result<(), BackupError> {
    let m = &loc.manifest;
    if r.strategy == Strategy::InPlace {
        r.check("strategy", false, "SQLite restores replace the database file in one rename (swap); in-place is not offered");
        gate(r, s, confirm);
        return Ok(());
    }
    let live = t.path.clone();
    let dir = live
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let name = live
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "db".into());
    let writable = {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        CString::new(dir.as_os_str().as_bytes())
            .map(|c| unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0)
            .unwrap_or(false)
    };
    r.check("folder", writable, if writable { format!("{} is writable", dir.display()) } else { format!("{} is not writable (or missing): the restored file must be created next to the database", dir.display()) });
    disk_check(
        r,
        "disk",
        Some(&dir),
        Some(m.bytes + m.bytes / 10),
        "the restored copy",
    );
    let ts = restore_ts();
    let keep = dir.join(format!("{name}.before_restore_{ts}"));
    r.check(
        "names",
        !keep.exists(),
        format!("the current file is kept as {}", keep.display()),
    );
    if live.exists() {
        let mut conn = sqbk::open(&live, true).await?;
        let now = super::snapshot::row_counts(&mut conn, u64::MAX)
            .await
            .map_err(|e| BackupError::db("counting rows", e))?;
        conn.close().await;
        r.changes = Some(changes(m, EngineKind::Sqlite, &now, None));
    }
    if !gate(r, s, confirm) {
        return Ok(());
    }
    let began = Instant::now();
    let copy = dir.join(format!(".{name}.restore_{ts}"));
    let copied = (|| -> std::io::Result<(u64, String)> {
        let mut out = super::atomic::create_private(&copy)?;
        let mut src = std::fs::File::open(&loc.path)?;
        let r = super::atomic::copy_hashing(&mut src, &mut out, &|_| {})?;
        out.sync_all()?;
        if let Ok(meta) = std::fs::metadata(&live) {
            std::fs::set_permissions(&copy, meta.permissions())?;
        }
        Ok(r)
    })();
    let (bytes, sha) = match copied {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_file(&copy);
            r.step("copy", began, false, e.to_string());
            r.fail(
                true,
                format!(
                    "copying the backup failed ({e}); {} was not touched",
                    live.display()
                ),
            );
            return Ok(());
        }
    };
    let sum: StepResult = super::checksum_result(m, bytes, &sha);
    r.step(
        "copy",
        began,
        sum.ok,
        format!("{}: {}", copy.display(), sum.details),
    );
    if !sum.ok {
        let _ = std::fs::remove_file(&copy);
        r.fail(
            true,
            format!(
                "the copy does not match the manifest; {} was not touched",
                live.display()
            ),
        );
        return Ok(());
    }
    let began = Instant::now();
    let diffs = match sqbk::integrity_check(&copy).await {
        Ok(None) => {
            let mut conn = sqbk::open(&copy, true).await?;
            let d = verify_restored(&mut conn, m, None)
                .await
                .unwrap_or_else(|e| vec![e]);
            conn.close().await;
            d
        }
        Ok(Some(p)) => vec![format!("PRAGMA integrity_check: {p}")],
        Err(e) => vec![e],
    };
    r.step(
        "verify",
        began,
        diffs.is_empty(),
        summary_ok(&diffs, m.tables.len()),
    );
    if !diffs.is_empty() {
        r.mismatches = diffs;
        let _ = std::fs::remove_file(&copy);
        r.fail(
            true,
            format!(
                "the restored copy does not match the manifest; {} was not touched",
                live.display()
            ),
        );
        return Ok(());
    }
    let began = Instant::now();
    let lock = if live.exists() {
        match sqr::LiveLock::acquire(&live).await {
            Ok(l) => Some(l),
            Err(e) => {
                let _ = std::fs::remove_file(&copy);
                r.step("swap", began, false, e.clone());
                r.fail(true, format!("{e}; {} was not touched", live.display()));
                return Ok(());
            }
        }
    } else {
        None
    };
    let swapped = sqr::swap_files(&live, &copy, &keep);
    if let Some(l) = lock {
        l.release().await;
    }
    match swapped {
        Ok(()) => {
            let had_live = keep.exists();
            r.step(
                "swap",
                began,
                true,
                if had_live {
                    format!(
                        "{} replaced; the previous file is {}",
                        live.display(),
                        keep.display()
                    )
                } else {
                    format!("{} created", live.display())
                },
            );
            if had_live {
                r.kept_as = Some(keep.display().to_string());
            }
            r.status = Status::Restored;
            r.live_untouched = false;
            r.message = format!("restored {} from {}", live.display(), m.file);
        }
        Err(e) => {
            let _ = std::fs::remove_file(&copy);
            let _ = std::fs::remove_file(&keep);
            r.step("swap", began, false, e.to_string());
            r.fail(
                true,
                format!(
                    "replacing the file failed ({e}); {} was not touched",
                    live.display()
                ),
            );
        }
    }
    Ok(())
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
    fn mysql_dump_relations_are_read_from_create_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.sql");
        std::fs::write(&p, "CREATE TABLE `users` (\n  `id` int\n);\n/*!50001 CREATE VIEW `v``x` AS SELECT 1 */;\n/*!50001 VIEW `v2` AS select 1 */;\n").unwrap();
        let rels = mysql_dump_relations(&p).unwrap();
        assert_eq!(
            rels,
            ["users", "v`x", "v2"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
    }

    #[test]
    fn free_space_is_readable_for_existing_folders() {
        assert!(free_bytes(Path::new("/")).is_some());
        assert!(free_bytes(Path::new("/nonexistent/folder")).is_none());
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
