//! `migsafe dry-run`: applies migrations to a throwaway database of the right engine exactly as
//! their migrator would, observes every statement (errors, duration, locks, rewrites, rows), diffs
//! the schema per file, merges what execution showed with the static verdicts, and throws the
//! database away. Orchestration only: renderers live in `crate::report::dry_run`.

pub mod diff;
pub mod dynamic;
pub mod exec;
mod files;
pub mod history;
pub mod model;
pub mod observe;
mod run;
pub mod seed;
pub mod target;
pub mod vendor;

use crate::classify::{self, CheckOptions, LineIndex};
use crate::engines::conn::Conn;
use crate::engines::template::TemplateStore;
use crate::engines::{EngineError, EngineKind, mysql, postgres, redact_url, sqlite};
use crate::migrations::{self, Layout, Migration, SqlSection};
use crate::model::{MigrationReport, Tool, Verdict};
use crate::sql::{
    self, Dialect,
    ir::{Op, Statement},
};
use crate::vcs;
use diff::Catalog;
use exec::{FileExec, ObserveError, Session};
use files::*;
use history::Applied;
use model::*;
use observe::RawError;
use run::Run;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use target::{StartOptions, Target};

/// Where the database starts from before the migrations run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// An empty database (the default).
    Scratch,
    /// The live schema of this database (schema only, plus its migration history rows).
    SchemaFrom(String),
    /// A pg_dump file, a migsafe backup (via its manifest) or a SQLite database file.
    FromBackup(PathBuf),
}

/// Everything `dry-run` needs, validated by the CLI.
#[derive(Debug, Clone)]
pub struct DryRunSettings {
    pub paths: Vec<PathBuf>,
    pub layout: Option<Layout>,
    pub engine: EngineKind,
    pub start: Start,
    pub scratch_url: Option<String>,
    pub since: Option<String>,
    pub pending: bool,
    /// The live database whose history `--pending` reads (when not `--schema-from`).
    pub live_url: Option<String>,
    pub seed_rows: Option<u64>,
    pub check_down: bool,
    pub pg_bin_dir: Option<PathBuf>,
    /// Dialect, target version, the verdict gate (`fail_on`) and rule levels.
    pub check: CheckOptions,
    /// MySQL-protocol runs: the vendor the migrations are written for, when something names
    /// it (else the live database's vendor, else MySQL), so a run on the other vendor's server
    /// says what differs.
    pub target_vendor: Option<vendor::Vendor>,
    /// `--require-server`: a dry-run server of another vendor is an error.
    pub require_server: Option<vendor::Vendor>,
    /// The template cache root; `None` disables caching.
    pub cache: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error(transparent)]
    Discover(#[from] migrations::DiscoverError),
    #[error(transparent)]
    Vcs(#[from] vcs::VcsError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Observe(#[from] ObserveError),
    #[error("{0}")]
    Input(String),
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Already in the starting database (history says applied): not run.
    InDatabase,
    /// Run quietly to build the schema.
    Setup,
    /// Run, observed and reported.
    New,
}

/// Runs a dry-run to completion on its own runtime. `on_progress(done, total)` after each file.
pub fn run(
    settings: &DryRunSettings,
    on_progress: &mut dyn FnMut(usize, usize),
) -> Result<DryRunReport, DryRunError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DryRunError::Input(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(run_async(settings, on_progress))
}

pub async fn run_async(
    settings: &DryRunSettings,
    on_progress: &mut dyn FnMut(usize, usize),
) -> Result<DryRunReport, DryRunError> {
    let began = Instant::now();
    // only the engine's dialect: a per-dialect tree holds one history per dialect
    let migs = migrations::discover_with(
        &settings.paths,
        &migrations::DiscoverOptions {
            layout: settings.layout,
            dialect: Some(settings.engine.dialect()),
            ..migrations::DiscoverOptions::default()
        },
    )?
    .migrations;
    let mut opts = settings.check.clone();
    opts.dialect = settings.engine.dialect();
    let statics = classify::check_migrations(&migs, &|_| true, &opts, &mut |_| {}).migrations;
    let changed: Option<HashSet<PathBuf>> = match &settings.since {
        Some(rev) => {
            let cwd = std::env::current_dir().map_err(|e| {
                DryRunError::Input(format!("cannot read the working directory: {e}"))
            })?;
            Some(vcs::changed_since(rev, &cwd)?)
        }
        None => None,
    };
    let is_changed = |m: &Migration| match &changed {
        None => true,
        Some(set) => {
            let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
            set.contains(&canon(&m.path))
                || m.down
                    .as_ref()
                    .is_some_and(|d| set.contains(&canon(&d.path)))
        }
    };
    let mut warnings: Vec<String> = Vec::new();
    let layout = migs.first().map(|m| m.layout);

    // the live database: its version (for the server choice) and what it has applied
    let mut live_applied: Option<Applied> = None;
    let mut live_major: Option<u32> = None;
    let mut live_vendor: Option<vendor::Vendor> = None;
    let live_for_history = match &settings.start {
        Start::SchemaFrom(url) => Some(url.clone()),
        _ if settings.pending => settings.live_url.clone(),
        _ => None,
    };
    if let Some(url) = &live_for_history {
        let mut live = Conn::open(url).await?;
        if live.kind() != settings.engine {
            return Err(DryRunError::Input(format!(
                "{} is a {} database, but the migrations are checked as {}; pass --dialect {}",
                redact_url(url),
                live.kind(),
                settings.engine,
                live.kind()
            )));
        }
        let version = live
            .kind()
            .engine()
            .catalog()
            .server_version(&mut live)
            .await
            .unwrap_or_default();
        live_major = version
            .split(['.', ' '])
            .next()
            .and_then(|m| m.parse().ok());
        if live.kind() == EngineKind::Mysql && !version.is_empty() {
            live_vendor = Some(vendor::Vendor::of_server(&version));
        }
        if let Some(l) = layout {
            live_applied = history::read(&mut live, l).await;
            if live_applied.is_none() {
                warnings.push(format!(
                    "{} has no readable {} table: treating every migration as pending",
                    redact_url(url),
                    l.history_table()
                ));
            }
        }
        live.close().await;
    }

    let target_major = settings.check.target_version.map(|v| v.major);
    let want_major = target_major
        .or(live_major)
        .filter(|_| settings.engine == EngineKind::Postgres);

    // roles before the start, so the template key knows the setup prefix
    let sqlite_start = match (&settings.start, settings.engine) {
        (Start::SchemaFrom(url), EngineKind::Sqlite) => Some(PathBuf::from(
            url.trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:"),
        )),
        (Start::FromBackup(p), EngineKind::Sqlite) => Some(resolve_backup(p, settings.engine)?),
        _ => None,
    };
    let backup = match (&settings.start, settings.engine) {
        (Start::FromBackup(p), EngineKind::Postgres | EngineKind::Mysql) => {
            Some(resolve_backup(p, settings.engine)?)
        }
        _ => None,
    };

    // template cache: only for a fresh ephemeral server
    let cache_store = match (&settings.cache, &settings.start, &settings.scratch_url) {
        (Some(dir), Start::Scratch, None) if settings.engine != EngineKind::Sqlite => {
            Some(TemplateStore::new(dir))
        }
        _ => None,
    };
    let mut roles = initial_roles(&migs, settings, live_applied.as_ref(), &is_changed);
    // the leading setup migrations go into the template (none without one)
    let prefix = if cache_store.is_some() {
        roles.iter().take_while(|r| **r == Role::Setup).count()
    } else {
        0
    };
    let mut template: Option<(TemplateStore, String, Option<PathBuf>)> = None;
    if let Some(store) = cache_store {
        let version = match settings.engine {
            EngineKind::Postgres => {
                postgres::ephemeral::find_install(settings.pg_bin_dir.as_deref(), want_major)?
                    .version
            }
            _ => mysql::ephemeral::find_install()?.version,
        };
        let key = template_key(settings.engine, &version, &migs[..prefix]);
        let hit = store.lookup(&key);
        template = Some((store, key, hit));
    }

    // --require-server: refuse before starting an ephemeral server of the wrong vendor (a
    // scratch server is checked once connected)
    if let (Some(required), EngineKind::Mysql, None) = (
        settings.require_server,
        settings.engine,
        &settings.scratch_url,
    ) {
        let install = mysql::ephemeral::find_install()?;
        if let Some(why) = vendor::refusal(required, &install.version) {
            return Err(DryRunError::Input(why));
        }
    }
    let start_opts = StartOptions {
        pg_bin_dir: settings.pg_bin_dir.clone(),
        want_major,
        template: template.as_ref().and_then(|t| t.2.clone()),
        sqlite_source: sqlite_start.clone(),
    };
    let t_start = Instant::now();
    let mut target = match &settings.scratch_url {
        Some(url) => Target::scratch(url, &start_opts).await?,
        None => match Target::ephemeral(settings.engine, &start_opts).await {
            Ok(t) => t,
            Err(e) if start_opts.template.is_some() => {
                // an unusable template (disk trouble, another server version) is dropped, not fatal
                if let Some((store, key, hit)) = template.as_mut() {
                    store.discard(key);
                    *hit = None;
                }
                warnings.push(format!(
                    "the cached template could not be used ({e}); started a fresh server"
                ));
                Target::ephemeral(
                    settings.engine,
                    &StartOptions {
                        template: None,
                        ..start_opts.clone()
                    },
                )
                .await?
            }
            Err(e) => return Err(e.into()),
        },
    };
    let kind = target.kind;
    let total = migs.len();
    let target_vendor = (kind == EngineKind::Mysql).then(|| {
        settings
            .target_vendor
            .or(live_vendor)
            .unwrap_or(vendor::Vendor::Mysql)
    });
    let run = Run {
        settings,
        migs: &migs,
        statics: &statics,
        roles: &mut roles,
        prefix,
        target: &mut target,
        template: &mut template,
        warnings: &mut warnings,
        on_progress,
        kind,
        target_vendor,
        applied: live_applied,
        done: 0,
        failed: false,
        runs: Vec::new(),
        summary: RunSummary {
            migrations: total,
            ..RunSummary::default()
        },
    };
    let result = run.steps(backup.as_deref(), live_major, t_start).await;
    let finish = target.finish().await;
    let mut report = result?;
    if let Err(e) = finish {
        report.warnings.push(format!("cleanup: {e}"));
    }
    report.summary.duration_ms = ms(began.elapsed());
    Ok(report)
}

fn initial_roles(
    migs: &[Migration],
    s: &DryRunSettings,
    live: Option<&Applied>,
    is_changed: &dyn Fn(&Migration) -> bool,
) -> Vec<Role> {
    migs.iter()
        .map(|m| {
            let applied = live.is_some_and(|a| a.contains(m));
            if applied && matches!(s.start, Start::SchemaFrom(_)) {
                Role::InDatabase
            } else if applied {
                Role::Setup
            } else if is_changed(m) {
                Role::New
            } else {
                Role::Setup
            }
        })
        .collect()
}

/// sha256 over what decides a template's contents.
fn template_key(kind: EngineKind, server_version: &str, setup: &[Migration]) -> String {
    let mut h = Sha256::new();
    h.update(format!("migsafe-template-v1\n{kind}\n{server_version}\n").as_bytes());
    for m in setup {
        h.update(m.checksum.as_bytes());
        h.update(if m.transaction { b"t\n" } else { b"n\n" });
    }
    let d = h.finalize();
    format!("{kind}-{}", crate::sys::hex::hex(&d[..16]))
}

/// The dump file behind `--from-backup`: the file itself, or the one a migsafe manifest names
/// (checked against the manifest's sha256 first); `LATEST` and backup folders are resolved the
/// way every command that takes a backup resolves them.
fn resolve_backup(p: &Path, kind: EngineKind) -> Result<PathBuf, DryRunError> {
    use crate::backup::resolve::{self, BackupRef};
    let input = |e: crate::backup::BackupError| DryRunError::Input(format!("--from-backup: {e}"));
    let resolved =
        resolve::resolve(Path::new("."), &BackupRef::Path(p.to_path_buf())).map_err(input)?;
    let p = resolved.as_path();
    #[derive(serde::Deserialize)]
    struct Manifest {
        engine: String,
        file: String,
        #[serde(default)]
        sha256: Option<String>,
    }
    let manifest_path = if p.to_string_lossy().ends_with(".manifest.json") {
        Some(p.to_path_buf())
    } else {
        let m = PathBuf::from(format!("{}.manifest.json", p.display()));
        m.is_file().then_some(m)
    };
    let Some(mp) = manifest_path else {
        if !p.exists() {
            return Err(DryRunError::Input(format!(
                "--from-backup {}: no such file",
                p.display()
            )));
        }
        return Ok(p.to_path_buf());
    };
    let backup = PathBuf::from(
        mp.to_string_lossy()
            .trim_end_matches(crate::backup::manifest::MANIFEST_SUFFIX),
    );
    resolve::check_trusted(&backup).map_err(input)?;
    let text = std::fs::read_to_string(&mp).map_err(|e| {
        DryRunError::Input(format!("--from-backup {}: cannot read: {e}", mp.display()))
    })?;
    let m: Manifest = serde_json::from_str(&text).map_err(|e| {
        DryRunError::Input(format!(
            "--from-backup {}: not a migsafe backup manifest ({e})",
            mp.display()
        ))
    })?;
    if let Err(why) = crate::backup::manifest::check_file_name(&m.file) {
        return Err(DryRunError::Input(format!(
            "--from-backup {}: the manifest's file {:?} {why}; refusing a manifest that points outside its folder",
            mp.display(),
            m.file
        )));
    }
    if EngineKind::parse(&m.engine) != Some(kind) {
        return Err(DryRunError::Input(format!(
            "--from-backup {}: a {} backup, but the migrations are checked as {kind}",
            mp.display(),
            m.engine
        )));
    }
    let file = mp.parent().unwrap_or(Path::new(".")).join(&m.file);
    if let Some(want) = m.sha256 {
        if file.is_dir() {
            return Ok(file);
        }
        let bytes = std::fs::read(&file).map_err(|e| {
            DryRunError::Input(format!(
                "--from-backup {}: cannot read {}: {e}",
                mp.display(),
                file.display()
            ))
        })?;
        let got = crate::sys::hex::hex(&Sha256::digest(&bytes));
        if got != want {
            return Err(DryRunError::Input(format!(
                "--from-backup {}: sha256 mismatch (manifest {want}, file {got}); the backup is damaged",
                file.display()
            )));
        }
    }
    Ok(file)
}

/// The migration connection, plus a lock monitor connection on PostgreSQL.
async fn session(target: &Target) -> Result<Session, DryRunError> {
    let conn = target.connect().await?;
    let monitor = if target.kind == EngineKind::Postgres {
        target.connect().await.ok()
    } else {
        None
    };
    Ok(Session::new(conn, monitor).await)
}

/// A private (0700, unpredictable name) folder for a schema dump, removed when dropped.
fn tempfile_dir() -> Result<tempfile::TempDir, DryRunError> {
    tempfile::Builder::new()
        .prefix("migsafe-dry-run-")
        .tempdir()
        .map_err(|e| {
            DryRunError::Input(format!(
                "cannot create a folder in {}: {e}",
                std::env::temp_dir().display()
            ))
        })
}
