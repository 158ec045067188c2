//! `migsafe backup create|verify|list|prune`: dumps taken through migsafe (sha256 computed while
//! the dump streams), written atomically next to a manifest, verified (checksum, a full read of
//! the archive, optionally a restore drill into an ephemeral database), listed and pruned.
//! `restore` lives in `crate::restore`. Orchestration only: rendering is in `crate::report::backup`.

pub mod atomic;
mod create;
pub mod kept;
pub mod manifest;
pub mod resolve;
mod snap;
pub mod store;
mod verify;

use create::*;
pub use snap::*;
pub use verify::*;

use crate::engines::conn::Conn;
use crate::engines::mysql::backup as mybk;
use crate::engines::postgres::backup::{self as pgbk, PgFormat};
use crate::engines::snapshot::{self, TableRows};
use crate::engines::sqlite::backup as sqbk;
use crate::engines::target::{self, MyTarget, PgTarget, SqliteTarget, Target};
use crate::engines::{EngineError, EngineKind};
use crate::sys::child;
use chrono::{DateTime, Utc};
use manifest::{
    AppliedMigration, DatabaseSettings, DumpTool, FileEntry, Fingerprint, Manifest, Purpose,
    VerificationKind, WriteCounters,
};
use serde::Serialize;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Progress of long steps (dump, hashing, restore), shown by the caller (a byte bar on a TTY).
pub trait Progress: Send + Sync {
    /// A new step; `total` bytes when known.
    fn begin(&self, what: &str, total: Option<u64>);
    fn add(&self, bytes: u64);
    fn end(&self);
    /// A step that is not counted in bytes is about to run (shown where steps are shown as
    /// lines: outside a terminal).
    fn note(&self, _step: &str) {}
}

/// No progress display.
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&self, _: &str, _: Option<u64>) {}
    fn add(&self, _: u64) {}
    fn end(&self) {}
}

/// Why a backup command could not do its job (exit 2). Failed checks are not errors: they are
/// reported (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error(transparent)]
    Target(#[from] target::TargetError),
    #[error("{0}")]
    Failed(String),
}

impl BackupError {
    pub(crate) fn db(what: impl std::fmt::Display, e: impl std::fmt::Display) -> BackupError {
        BackupError::Failed(format!("{what}: {e}"))
    }
}

pub(crate) fn io_err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> BackupError {
    BackupError::Failed(format!("{what}: {e}"))
}

pub use resolve::BackupRef;

/// A backup located on disk: its folder, file and manifest.
#[derive(Debug, Clone)]
pub struct Located {
    pub dir: PathBuf,
    pub path: PathBuf,
    pub manifest_path: PathBuf,
    pub manifest: Manifest,
}

/// Finds a backup and loads its manifest. A backup without a manifest is incomplete (the
/// manifest is written last) and is refused.
pub fn locate(dir: &Path, which: &BackupRef) -> Result<Located, BackupError> {
    let path = resolve::resolve(dir, which)?;
    let manifest_path = Manifest::path_for(&path);
    if !manifest_path.exists() {
        let why = if path.exists() {
            "it has no manifest, so it never finished (the manifest is written last)"
        } else {
            "no such backup"
        };
        return Err(BackupError::Usage(format!("{}: {why}", path.display())));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    resolve::check_trusted(&path)?;
    let m = Manifest::load(&manifest_path)?;
    let expected = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if m.file != expected {
        return Err(BackupError::Usage(format!(
            "{}: the manifest describes {:?}, not {expected:?}",
            manifest_path.display(),
            m.file
        )));
    }
    Ok(Located {
        dir,
        path,
        manifest_path,
        manifest: m,
    })
}

/// Settings of `backup create`.
#[derive(Debug, Clone)]
pub struct CreateSettings {
    pub url: String,
    pub dir: PathBuf,
    pub pg_format: PgFormat,
    pub jobs: u32,
    pub globals: bool,
    pub role_passwords: bool,
    pub verify: bool,
    pub pg_bin_dir: Option<PathBuf>,
    pub exact_row_limit: u64,
    pub lock_wait_timeout_secs: u64,
    pub purpose: Purpose,
}

/// The outcome of one verification step.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub kind: VerificationKind,
    pub ok: bool,
    pub details: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CreateReport {
    pub path: PathBuf,
    pub manifest_path: PathBuf,
    pub manifest: Manifest,
    pub duration_ms: u64,
    pub checks: Vec<StepResult>,
    /// What `LATEST` names afterwards.
    pub latest: Option<String>,
    pub warnings: Vec<String>,
}

impl CreateReport {
    /// Verified, or verification was not asked for.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

pub(crate) fn ensure_dir(dir: &Path) -> Result<(), BackupError> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                io_err(
                    format!("cannot create the backup folder {}", dir.display()),
                    e,
                )
            })?;
    }
    if !dir.is_dir() {
        return Err(BackupError::Usage(format!(
            "{}: not a folder",
            dir.display()
        )));
    }
    Ok(())
}

/// `backup_<YYYYmmdd_HHMMSS>` in UTC.
pub fn stem(at: DateTime<Utc>) -> String {
    format!("backup_{}", at.format("%Y%m%d_%H%M%S"))
}

/// Takes a backup of the database at `s.url` into `s.dir`.
pub async fn create(
    s: &CreateSettings,
    progress: Arc<dyn Progress>,
) -> Result<CreateReport, BackupError> {
    ensure_dir(&s.dir)?;
    let began = Instant::now();
    let target = Target::parse(&s.url)?;
    let (path, mut m, mut warnings) = match &target {
        Target::Postgres(t) => create_pg(t, s, progress.clone()).await?,
        Target::Mysql(t) => create_mysql(t, s, progress.clone()).await?,
        Target::Sqlite(t) => create_sqlite(t, s, progress.clone()).await?,
    };
    let manifest_path = match m.save(&s.dir) {
        Ok(p) => p,
        Err(e) => {
            // without its manifest the file would look finished to a human: take it back
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if let Some(g) = &m.globals {
                let _ = std::fs::remove_file(s.dir.join(&g.path));
            }
            let _ = atomic::fsync_dir(&s.dir);
            return Err(BackupError::Failed(format!(
                "{e}; the backup file was removed again"
            )));
        }
    };
    let mut checks = Vec::new();
    if s.verify {
        checks = verify_file(&mut m, &path, s.pg_bin_dir.as_deref(), progress.as_ref()).await?;
        m.save(&s.dir)?;
    } else {
        warnings.push("not verified (--no-verify): LATEST does not name it until `migsafe backup verify` passes".into());
    }
    let latest = store::refresh_latest(&s.dir).map_err(|e| io_err("updating LATEST", e))?;
    Ok(CreateReport {
        path,
        manifest_path,
        manifest: m,
        duration_ms: began.elapsed().as_millis() as u64,
        checks,
        latest,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(table: &str, n: u64, estimated: bool) -> TableRows {
        TableRows {
            schema: "public".into(),
            table: table.into(),
            rows: n,
            estimated,
        }
    }

    #[test]
    fn compares_counts_exactly_and_estimates_with_tolerance() {
        let mut m: Manifest = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "engine": "postgres", "server_version": "15", "dump_tool": {"name": "pg_dump", "version": "15"},
            "database": "app", "source": "postgres://x/app", "format": "custom", "file": "backup_1.dump", "bytes": 1,
            "sha256": "a".repeat(64), "started_at": "2026-11-29T14:15:00Z", "finished_at": "2026-11-29T14:15:00Z",
            "tables": [], "schema_fingerprint": {"sha256": "b".repeat(64)}, "migrations": [], "verification": []
        }))
        .unwrap();
        m.tables = vec![rows("users", 3, false), rows("events", 2_000_000, true)];
        let fp = "b".repeat(64);
        assert!(
            compare(
                &m,
                EngineKind::Postgres,
                &[rows("users", 3, false), rows("events", 2_100_000, false)],
                &fp
            )
            .is_empty()
        );
        let d = compare(
            &m,
            EngineKind::Postgres,
            &[
                rows("users", 4, false),
                rows("events", 3_000_000, false),
                rows("new", 0, false),
            ],
            &"c".repeat(64),
        );
        assert_eq!(d.len(), 4, "{d:?}");
        assert!(d[0].contains("users: 4 rows, the manifest says 3"));
        assert!(
            compare(&m, EngineKind::Postgres, &[rows("users", 3, false)], &fp)[0]
                .contains("events is missing")
        );
    }

    #[test]
    fn plain_dump_completeness() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.sql");
        std::fs::write(&p, "CREATE TABLE t ();\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n").unwrap();
        assert!(plain_complete(&p).unwrap());
        std::fs::write(&p, "CREATE TABLE t ();\nCOPY t FROM stdin;\n1\n").unwrap();
        assert!(!plain_complete(&p).unwrap());
    }

    #[test]
    fn mysql_view_fingerprints_ignore_the_scratch_database_name() {
        let a = fingerprint_renamed(&["view v select `app`.`t`.`id`".into()], "app", "app");
        let b = fingerprint_renamed(
            &["view v select `app_restore_1`.`t`.`id`".into()],
            "app_restore_1",
            "app",
        );
        assert_eq!(a, b);
    }
}
