//! `migsafe dry-run`: applies migrations to a throwaway database of the right engine exactly as
//! their migrator would, observes every statement (errors, duration, locks, rewrites, rows), diffs
//! the schema per file, merges what execution showed with the static verdicts, and throws the
//! database away. Orchestration only: renderers live in `crate::report::dry_run`.

pub mod diff;
pub mod dynamic;
pub mod exec;
pub mod history;
pub mod model;
pub mod observe;
pub mod seed;
pub mod target;

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
use history::Applied;
use model::*;
use observe::RawError;
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

fn dialect_of(kind: EngineKind) -> Dialect {
    match kind {
        EngineKind::Postgres => Dialect::Postgres,
        EngineKind::Mysql => Dialect::Mysql,
        EngineKind::Sqlite => Dialect::Sqlite,
    }
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
    let migs = migrations::discover(&settings.paths, settings.layout)?;
    let mut opts = settings.check.clone();
    opts.dialect = dialect_of(settings.engine);
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
        let v = match live.kind() {
            EngineKind::Postgres => live.query_text("SHOW server_version").await,
            EngineKind::Mysql => live.query_text("SELECT VERSION()").await,
            EngineKind::Sqlite => live.query_text("SELECT sqlite_version()").await,
        };
        let version = v
            .ok()
            .and_then(|(_, r)| r.first().and_then(|r| r.first().cloned().flatten()))
            .unwrap_or_default();
        live_major = version
            .split(['.', ' '])
            .next()
            .and_then(|m| m.parse().ok());
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
        (Start::FromBackup(p), EngineKind::Sqlite) => Some(p.clone()),
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
    let result = run_on(
        settings,
        &migs,
        &statics,
        &mut roles,
        prefix,
        &mut target,
        &mut template,
        backup.as_deref(),
        live_applied,
        live_major,
        &mut warnings,
        t_start,
        on_progress,
    )
    .await;
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
    format!(
        "{kind}-{}",
        d.iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// The dump file behind `--from-backup`: the file itself, or the one a migsafe manifest names
/// (checked against the manifest's sha256 first).
fn resolve_backup(p: &Path, kind: EngineKind) -> Result<PathBuf, DryRunError> {
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
    let text = std::fs::read_to_string(&mp).map_err(|e| {
        DryRunError::Input(format!("--from-backup {}: cannot read: {e}", mp.display()))
    })?;
    let m: Manifest = serde_json::from_str(&text).map_err(|e| {
        DryRunError::Input(format!(
            "--from-backup {}: not a migsafe backup manifest ({e})",
            mp.display()
        ))
    })?;
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
        let got: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if got != want {
            return Err(DryRunError::Input(format!(
                "--from-backup {}: sha256 mismatch (manifest {want}, file {got}); the backup is damaged",
                file.display()
            )));
        }
    }
    Ok(file)
}

#[allow(clippy::too_many_arguments)]
async fn run_on(
    settings: &DryRunSettings,
    migs: &[Migration],
    statics: &[MigrationReport],
    roles: &mut [Role],
    prefix: usize,
    target: &mut Target,
    template: &mut Option<(TemplateStore, String, Option<PathBuf>)>,
    backup: Option<&Path>,
    live_applied: Option<Applied>,
    live_major: Option<u32>,
    warnings: &mut Vec<String>,
    t_start: Instant,
    on_progress: &mut dyn FnMut(usize, usize),
) -> Result<DryRunReport, DryRunError> {
    let kind = target.kind;
    let server_major: Option<u32> = target
        .server_version
        .split(['.', ' '])
        .next()
        .and_then(|m| m.parse().ok());
    if kind == EngineKind::Postgres {
        if let (Some(t), Some(s)) = (settings.check.target_version, server_major)
            && t.major != s
        {
            warnings.push(format!("the dry-run server is PostgreSQL {s}, but --target-version is {t}: install PostgreSQL {} and pass its bin folder with --pg-bin-dir", t.major));
        }
        if let (Some(l), Some(s)) = (live_major, server_major)
            && l != s
        {
            warnings.push(format!("the live server is PostgreSQL {l}, but the dry-run server is {s}: lock and rewrite behaviour can differ; install PostgreSQL {l} and pass --pg-bin-dir"));
        }
    } else if kind == EngineKind::Mysql
        && let Some(t) = settings.check.target_version
        && !target
            .server_version
            .starts_with(&format!("{}.{}", t.major, t.minor))
    {
        warnings.push(format!("the dry-run server is {}, but --target-version is {t}: online DDL support differs between versions", target.server_version));
    }
    if kind == EngineKind::Mysql {
        warnings.push("MySQL/MariaDB DDL commits implicitly: a failing file leaves the statements before the failure applied (each statement says whether it took effect)".into());
    }

    // the starting state
    let mut applied = live_applied;
    match &settings.start {
        Start::SchemaFrom(url) if kind == EngineKind::Postgres => {
            let install = target.pg_install.clone().ok_or_else(|| {
                DryRunError::Input("PostgreSQL client tools not found for --schema-from".into())
            })?;
            let dir = tempfile_dir()?;
            let dump = dir.join("schema.sql");
            let hist = applied.as_ref().map(|a| a.table.clone());
            let loaded = postgres::dry_run::dump_schema(&install, url, hist.as_deref(), &dump)
                .and_then(|_| postgres::dry_run::restore(&install, &target.url(), &dump));
            let _ = std::fs::remove_dir_all(&dir);
            loaded?;
        }
        Start::SchemaFrom(url) if kind == EngineKind::Sqlite => {
            // the copy holds data too: keep only the history rows, as a schema-only clone would
            let mut c = target.connect().await?;
            let hist = migs.first().map(|m| m.layout.history_table()).unwrap_or("");
            let cat = sqlite::dry_run::catalog(&mut c)
                .await
                .map_err(|e| ObserveError(e.to_string()))?;
            let _ = c.execute("PRAGMA foreign_keys = OFF").await;
            for t in cat.tables.keys().filter(|t| t.as_str() != hist) {
                c.execute(&format!("DELETE FROM {}", sqlite::dry_run::ident(t)))
                    .await
                    .map_err(|e| {
                        EngineError::step(format!("emptying {t} in the copy of {url}"), e)
                    })?;
            }
            let _ = c.execute("PRAGMA foreign_keys = ON").await;
            if let Some(l) = migs.first().map(|m| m.layout) {
                applied = history::read(&mut c, l).await;
            }
            c.close().await;
        }
        Start::SchemaFrom(url) => {
            let socket = target
                .mysql_socket()
                .ok_or_else(|| {
                    DryRunError::Input(
                        "--schema-from with --scratch-url is supported for PostgreSQL only".into(),
                    )
                })?
                .to_path_buf();
            let dir = tempfile_dir()?;
            let dump = dir.join("schema.sql");
            let hist = applied.as_ref().map(|a| a.table.clone());
            let loaded = mysql::dry_run::dump_schema(url, hist.as_deref(), &dump)
                .and_then(|_| mysql::dry_run::restore_sql(&socket, target::MYSQL_DB, &dump));
            let _ = std::fs::remove_dir_all(&dir);
            loaded?;
        }
        Start::FromBackup(_) => {
            match (kind, backup) {
                (EngineKind::Postgres, Some(file)) => {
                    let install = target.pg_install.clone().ok_or_else(|| {
                        DryRunError::Input(
                            "PostgreSQL client tools not found for --from-backup".into(),
                        )
                    })?;
                    postgres::dry_run::restore(&install, &target.url(), file)?;
                }
                (EngineKind::Mysql, Some(file)) => {
                    let socket = target.mysql_socket().ok_or_else(|| {
                        DryRunError::Input(
                            "--from-backup with --scratch-url is supported for PostgreSQL only"
                                .into(),
                        )
                    })?;
                    mysql::dry_run::restore_sql(socket, target::MYSQL_DB, file)?;
                }
                _ => {}
            }
            let mut c = target.connect().await?;
            if let Some(l) = migs.first().map(|m| m.layout) {
                applied = history::read(&mut c, l).await;
                if applied.is_none() {
                    warnings.push(format!("the backup has no readable {} table: every migration is applied on top of it", l.history_table()));
                }
            }
            c.close().await;
        }
        Start::Scratch => {}
    }
    if matches!(settings.start, Start::FromBackup(_) | Start::SchemaFrom(_)) {
        for (r, m) in roles.iter_mut().zip(migs) {
            if applied.as_ref().is_some_and(|a| a.contains(m)) {
                *r = Role::InDatabase;
            }
        }
        if let Some(d) = applied.as_ref().and_then(|a| a.dirty.clone()) {
            warnings.push(format!(
                "the history table marks migration {d} as failed/dirty"
            ));
        }
    }

    let mut sess = session(target).await?;
    let total = migs.len();
    let mut done = 0usize;
    let mut runs: Vec<MigrationRun> = Vec::new();
    let mut summary = RunSummary {
        migrations: total,
        ..RunSummary::default()
    };
    let mut failed = false;

    // setup prefix: from the template, or applied now and then stored as the template
    let mut template_info: Option<TemplateInfo> = None;
    let t_setup = Instant::now();
    let hit = template.as_ref().is_some_and(|t| t.2.is_some()) && target.from_template();
    if hit {
        summary.setup += prefix;
        done += prefix;
        on_progress(done, total);
    } else {
        for i in 0..prefix {
            if let Some(run) = run_setup(&mut sess, &migs[i], &statics[i], dialect_of(kind)).await?
            {
                runs.push(run);
                failed = true;
                summary.failed += 1;
                done = i + 1;
                break;
            }
            summary.setup += 1;
            done = i + 1;
            on_progress(done, total);
        }
    }
    summary.setup_ms = if hit { 0.0 } else { ms(t_setup.elapsed()) };
    if let Some((store, key, found)) = template.as_ref() {
        let mut saved = false;
        if !hit && !failed {
            let meta = serde_json::json!({"engine": kind.as_str(), "server_version": target.server_version, "setup_migrations": prefix});
            let r = target
                .with_stopped_data_dir(|data| store.save(key, data, &meta))
                .await?;
            match r {
                Some(Ok(())) => saved = true,
                Some(Err(e)) => warnings.push(format!(
                    "could not store the template in {}: {e}",
                    store.root().display()
                )),
                None => {}
            }
            sess = session(target).await?;
        }
        template_info = Some(TemplateInfo {
            key: key.clone(),
            hit: hit && found.is_some(),
            saved,
            migrations: prefix,
        });
    }
    let startup_ms = ms(t_start.elapsed());

    let mut seeded: HashSet<String> = HashSet::new();
    let mut seeded_rows: Vec<(String, u64)> = Vec::new();
    let mut cached: Option<Catalog> = None;
    for (i, m) in migs.iter().enumerate().skip(done) {
        let role = roles[i];
        if role == Role::InDatabase {
            summary.already_applied += 1;
            done += 1;
            on_progress(done, total);
            continue;
        }
        if failed {
            summary.skipped += 1;
            if role == Role::New {
                summary.new += 1;
                runs.push(skipped_run(m, &statics[i], dialect_of(kind)));
            }
            continue;
        }
        match role {
            Role::Setup => {
                cached = None;
                if let Some(run) = run_setup(&mut sess, m, &statics[i], dialect_of(kind)).await? {
                    runs.push(run);
                    failed = true;
                    summary.failed += 1;
                } else {
                    summary.setup += 1;
                }
            }
            _ => {
                summary.new += 1;
                let before = match cached.take() {
                    Some(c) => c,
                    None => sess.catalog().await?,
                };
                // every table gets its rows once, before the first new migration it precedes
                if let Some(n) = settings.seed_rows {
                    let hist = m.layout.history_table();
                    let fresh: Vec<String> = before
                        .tables
                        .keys()
                        .filter(|t| {
                            t.as_str() != hist
                                && !t.ends_with(&format!(".{hist}"))
                                && !seeded.contains(*t)
                        })
                        .cloned()
                        .collect();
                    if !fresh.is_empty() {
                        let res =
                            seed::seed(&mut sess.conn, &before, &fresh, n, sess.mariadb).await;
                        for (t, why) in res.skipped {
                            warnings.push(format!("--seed-rows: {t} left as it was: {why}"));
                        }
                        for (t, rows) in &res.seeded {
                            seeded_rows.push((t.clone(), *rows));
                        }
                        seeded.extend(fresh);
                    }
                }
                let (mut run, after) = run_new(
                    &mut sess,
                    m,
                    &statics[i],
                    dialect_of(kind),
                    before,
                    settings.check_down,
                )
                .await?;
                summary.statements += run
                    .statements
                    .iter()
                    .filter(|s| s.status != StmtStatus::NotRun)
                    .count();
                summary.failed_statements += run
                    .statements
                    .iter()
                    .filter(|s| s.status == StmtStatus::Failed)
                    .count();
                summary.findings += run.findings.len();
                summary.found_by_execution +=
                    run.findings.iter().filter(|f| f.found_by_execution).count();
                if run.down_check.as_ref().is_some_and(|d| d.status.fails()) {
                    summary.irreversible += 1;
                }
                // the second up failed: the database is no longer in the state the next file expects
                let down_broke =
                    settings.check_down && run.status == Status::Applied && after.is_none();
                if down_broke {
                    run.notes.push(
                        "up failed again after down: the following migrations are not run".into(),
                    );
                }
                if run.status == Status::Failed || down_broke {
                    failed = true;
                    if run.status == Status::Failed {
                        summary.failed += 1;
                    } else {
                        summary.applied += 1;
                    }
                } else {
                    summary.applied += 1;
                }
                cached = after;
                runs.push(run);
            }
        }
        done = i + 1;
        on_progress(done, total);
    }
    sess.close().await;

    let new_runs: Vec<&MigrationRun> = runs.iter().filter(|r| r.new).collect();
    let verdict = new_runs
        .iter()
        .fold(Verdict::Safe, |v, r| v.worst(r.verdict));
    let static_verdict = new_runs
        .iter()
        .fold(Verdict::Safe, |v, r| v.worst(r.static_verdict));
    let gate_failed = settings.check.fail_on.fails(verdict);
    let passed = !failed && summary.failed == 0 && summary.irreversible == 0 && !gate_failed;
    if let target::Server::Scratch(s) = &target.server
        && !s.swept.is_empty()
    {
        warnings.push(format!(
            "dropped {} scratch database(s) left by crashed runs: {}",
            s.swept.len(),
            s.swept.join(", ")
        ));
    }
    Ok(DryRunReport {
        schema_version: 1,
        tool: Tool::default(),
        engine: kind.as_str(),
        server_version: target.server_version.clone(),
        database: DatabaseInfo {
            kind: target.kind_name(),
            url: settings.scratch_url.as_deref().map(redact_url),
            startup_ms,
            template: template_info,
        },
        mode: match settings.start {
            Start::Scratch => "scratch",
            Start::SchemaFrom(_) => "schema-from",
            Start::FromBackup(_) => "from-backup",
        },
        source: match &settings.start {
            Start::Scratch => None,
            Start::SchemaFrom(u) => Some(redact_url(u)),
            Start::FromBackup(p) => Some(p.display().to_string()),
        },
        seed_rows: settings.seed_rows,
        seeded: seeded_rows
            .into_iter()
            .map(|(table, rows)| SeededTable { table, rows })
            .collect(),
        check_down: settings.check_down,
        target_version: settings.check.target_version.map(|v| v.to_string()),
        warnings: std::mem::take(warnings),
        verdict,
        static_verdict,
        fail_on: match settings.check.fail_on {
            crate::model::FailOn::Destructive => "destructive",
            crate::model::FailOn::Risky => "risky",
            crate::model::FailOn::Caution => "caution",
            crate::model::FailOn::Never => "never",
        },
        passed,
        migrations: runs,
        summary,
    })
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

fn tempfile_dir() -> Result<PathBuf, DryRunError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("migsafe-dry-run-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| DryRunError::Input(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

fn top_level(section: &SqlSection, dialect: Dialect) -> Vec<Statement> {
    sql::parse_section(&section.text, section.range.clone(), dialect)
}

/// The static verdict of each top-level statement (worst of it and the statements found inside
/// it), and the 1-based line each starts on.
fn static_per_statement(rep: &MigrationReport) -> Vec<Verdict> {
    let mut out: Vec<Verdict> = Vec::new();
    let mut flat_to_top: Vec<usize> = Vec::new();
    for s in &rep.statements {
        match s.nested_in {
            None => {
                flat_to_top.push(out.len());
                out.push(s.verdict);
            }
            Some(parent) => {
                let top = flat_to_top.get(parent).copied().unwrap_or(0);
                flat_to_top.push(top);
                if let Some(v) = out.get_mut(top) {
                    *v = v.worst(s.verdict);
                }
            }
        }
    }
    out
}

/// The static findings with `statement_index` pointing at the top-level statement they belong
/// to (`migsafe check` also counts statements nested in DO blocks and routine bodies).
fn static_findings_top_level(rep: &MigrationReport) -> Vec<crate::model::Finding> {
    let mut flat_to_top: Vec<usize> = Vec::with_capacity(rep.statements.len());
    let mut tops = 0usize;
    for s in &rep.statements {
        match s.nested_in {
            None => {
                flat_to_top.push(tops);
                tops += 1;
            }
            Some(parent) => flat_to_top.push(
                flat_to_top
                    .get(parent)
                    .copied()
                    .unwrap_or(tops.saturating_sub(1)),
            ),
        }
    }
    rep.findings
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f.statement_index = flat_to_top
                .get(f.statement_index)
                .copied()
                .unwrap_or(f.statement_index);
            f
        })
        .collect()
}

fn locate(file: &Path, text: &str, lines: &LineIndex, stmt: &Statement, e: &RawError) -> SqlError {
    let sql = text.get(stmt.span.start..stmt.span.end).unwrap_or("");
    let offset = match e.position {
        Some(p) if p > 0 => sql.char_indices().nth(p - 1).map(|(b, _)| b).unwrap_or(0),
        _ => 0,
    };
    let pos = lines.position(text, stmt.span.start + offset);
    SqlError {
        sqlstate: e.sqlstate.clone(),
        code: e.code,
        message: e.message.clone(),
        detail: e.detail.clone(),
        hint: e.hint.clone(),
        file: file.display().to_string(),
        line: pos.line,
        column: pos.column,
    }
}

fn statement_runs(
    m: &Migration,
    text: &str,
    stmts: &[Statement],
    exec: Option<&FileExec>,
    statics: &[Verdict],
) -> Vec<StatementRun> {
    let lines = LineIndex::new(text);
    stmts
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let st = exec.and_then(|e| e.statements.get(i));
            let start = lines.position(text, s.span.start);
            let end = lines.position(text, s.span.end);
            let status = match st {
                Some(x) if x.ran && x.error.is_some() => StmtStatus::Failed,
                Some(x) if x.ran => StmtStatus::Ok,
                _ => StmtStatus::NotRun,
            };
            let sv = statics.get(i).copied().unwrap_or(Verdict::Safe);
            StatementRun {
                index: i,
                line: start.line,
                column: start.column,
                end_line: end.line,
                kind: s.kind.clone(),
                sql: s.sql.clone(),
                status,
                duration_ms: st.filter(|x| x.ran).map(|x| ms(x.duration)),
                rows_affected: st.and_then(|x| x.rows),
                error: st
                    .and_then(|x| x.error.as_ref())
                    .map(|e| locate(&m.path, text, &lines, s, e)),
                took_effect: st.and_then(|x| x.took_effect),
                locks_observed: st.is_some_and(|x| x.locks_observed),
                locks: st.map(|x| x.locks.clone()).unwrap_or_default(),
                rewrites: st.map(|x| x.rewrites.clone()).unwrap_or_default(),
                static_verdict: sv,
                verdict: sv,
            }
        })
        .collect()
}

fn base_run(m: &Migration, rep: &MigrationReport, new: bool, status: Status) -> MigrationRun {
    MigrationRun {
        path: m.path.display().to_string(),
        version: m.version.clone(),
        description: m.description.clone(),
        layout: m.layout.as_str(),
        transaction: m.transaction,
        new,
        status,
        duration_ms: 0.0,
        verdict: rep.verdict,
        static_verdict: rep.verdict,
        dynamic_verdict: Verdict::Safe,
        statements: Vec::new(),
        schema_diff: Vec::new(),
        findings: Vec::new(),
        static_findings: static_findings_top_level(rep),
        foreign_key_violations: Vec::new(),
        notes: Vec::new(),
        down_check: None,
    }
}

fn skipped_run(m: &Migration, rep: &MigrationReport, dialect: Dialect) -> MigrationRun {
    let mut run = base_run(m, rep, true, Status::Skipped);
    let stmts = top_level(&m.up, dialect);
    run.statements = statement_runs(m, &m.up.text, &stmts, None, &static_per_statement(rep));
    run.notes
        .push("not run: an earlier migration failed, and the migrator stops there".into());
    run
}

/// Applies a setup migration quietly; returns its report only when it failed.
async fn run_setup(
    sess: &mut Session,
    m: &Migration,
    rep: &MigrationReport,
    dialect: Dialect,
) -> Result<Option<MigrationRun>, DryRunError> {
    let stmts = top_level(&m.up, dialect);
    let exec = exec::apply(sess, &m.up.text, &stmts, m.transaction, false, None).await?;
    if exec.failed.is_none() {
        return Ok(None);
    }
    let mut run = base_run(m, rep, false, Status::Failed);
    run.duration_ms = ms(exec.duration);
    run.statements = statement_runs(
        m,
        &m.up.text,
        &stmts,
        Some(&exec),
        &static_per_statement(rep),
    );
    run.notes
        .push("a setup migration (applied before the new ones) failed".into());
    Ok(Some(run))
}

/// Applies a new migration with full observation; returns its report and the catalog after it
/// (when the database is in a known state).
async fn run_new(
    sess: &mut Session,
    m: &Migration,
    rep: &MigrationReport,
    dialect: Dialect,
    before: Catalog,
    check_down: bool,
) -> Result<(MigrationRun, Option<Catalog>), DryRunError> {
    let stmts = top_level(&m.up, dialect);
    let text: &str = &m.up.text;
    let fk_check = async |sess: &mut Session| -> Result<Vec<FkViolation>, ObserveError> {
        sess.foreign_key_violations().await
    };
    let fk_before = fk_check(sess).await?;
    let exec = exec::apply(sess, text, &stmts, m.transaction, true, Some(&before)).await?;
    // plain DML, SET and COMMENT cannot change what the catalog model holds
    let catalog_untouched = exec.failed.is_none()
        && stmts.iter().all(|s| {
            !s.ops.is_empty()
                && s.ops.iter().all(|o| {
                    matches!(
                        o,
                        Op::Insert { .. }
                            | Op::Update { .. }
                            | Op::Delete { .. }
                            | Op::Set { .. }
                            | Op::Comment
                    )
                })
        });
    let after = if catalog_untouched {
        before.clone()
    } else {
        sess.catalog().await?
    };
    let diff = diff::diff(&before, &after);
    // only violations this file introduced
    let fk: Vec<FkViolation> = fk_check(sess)
        .await?
        .into_iter()
        .filter(|v| {
            !fk_before
                .iter()
                .any(|b| b.table == v.table && b.rowid == v.rowid && b.parent == v.parent)
        })
        .collect();
    let statics = static_per_statement(rep);
    let lines_idx = LineIndex::new(text);
    let lines: Vec<usize> = stmts
        .iter()
        .map(|s| lines_idx.position(text, s.span.start).line)
        .collect();
    let pre: Vec<String> = before.tables.keys().cloned().collect();
    let findings = dynamic::classify(&dynamic::Inputs {
        diff: &diff,
        exec: &exec,
        stmts: &stmts,
        lines: &lines,
        static_verdicts: &statics,
        static_file_verdict: rep.verdict,
        pre_existing_tables: &pre,
        fk_violations: &fk,
    });
    let status = if exec.failed.is_some() {
        Status::Failed
    } else {
        Status::Applied
    };
    let mut run = base_run(m, rep, true, status);
    run.duration_ms = ms(exec.duration);
    run.statements = statement_runs(m, text, &stmts, Some(&exec), &statics);
    for f in &findings {
        if let Some(s) = f.statement_index.and_then(|i| run.statements.get_mut(i)) {
            s.verdict = s.verdict.worst(f.verdict);
        }
    }
    run.dynamic_verdict = dynamic::worst(&findings);
    run.verdict = rep.verdict.worst(run.dynamic_verdict);
    run.findings = findings;
    run.schema_diff = diff;
    run.foreign_key_violations = fk;
    run.notes = exec.notes.clone();
    if let Some(f) = exec.failed {
        let effective: Vec<usize> = run
            .statements
            .iter()
            .filter(|s| s.took_effect == Some(true))
            .map(|s| s.line)
            .collect();
        if !effective.is_empty() {
            let lines = effective
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            run.notes.push(format!("the file failed at statement {}, but the statements at line(s) {lines} had already taken effect and stay applied: the schema diff shows the partial change", f + 1));
        }
    }
    if !m.transaction {
        run.notes.push("runs without a transaction (the file or its layout opts out): each statement commits on its own".into());
    }
    let mut state = Some(after.clone());
    if check_down && status == Status::Applied {
        let (dc, st) = down_check(sess, m, dialect, &before, &after).await?;
        run.down_check = Some(dc);
        state = st;
    }
    Ok((run, state))
}

/// up was applied: down, compare with the schema before up, up again, compare with after up.
async fn down_check(
    sess: &mut Session,
    m: &Migration,
    dialect: Dialect,
    before: &Catalog,
    after: &Catalog,
) -> Result<(DownCheck, Option<Catalog>), DryRunError> {
    let t0 = Instant::now();
    let Some(down) = &m.down else {
        return Ok((
            DownCheck {
                status: DownStatus::NoDown,
                down_path: None,
                differences: Vec::new(),
                reapply_differences: Vec::new(),
                error: None,
                duration_ms: 0.0,
            },
            Some(after.clone()),
        ));
    };
    let mut dc = DownCheck {
        status: DownStatus::Reversible,
        down_path: Some(down.path.display().to_string()),
        differences: Vec::new(),
        reapply_differences: Vec::new(),
        error: None,
        duration_ms: 0.0,
    };
    let dstmts = sql::parse_section(&down.text, down.range.clone(), dialect);
    let dexec = exec::apply(sess, &down.text, &dstmts, m.transaction, false, None).await?;
    if let Some(f) = dexec.failed {
        let lines = LineIndex::new(&down.text);
        dc.status = DownStatus::DownFailed;
        dc.error = dexec
            .statements
            .get(f)
            .and_then(|s| s.error.as_ref())
            .map(|e| locate(&down.path, &down.text, &lines, &dstmts[f], e));
        dc.duration_ms = ms(t0.elapsed());
        let now = sess.catalog().await?;
        return Ok((dc, Some(now)));
    }
    let after_down = sess.catalog().await?;
    dc.differences = diff::diff(before, &after_down);
    if !dc.differences.is_empty() {
        dc.status = DownStatus::Irreversible;
    }
    let ustmts = sql::parse_section(&m.up.text, m.up.range.clone(), dialect);
    let uexec = exec::apply(sess, &m.up.text, &ustmts, m.transaction, false, None).await?;
    if let Some(f) = uexec.failed {
        let lines = LineIndex::new(&m.up.text);
        // an incomplete down usually makes the second up fail: irreversible is the finding
        if dc.status == DownStatus::Reversible {
            dc.status = DownStatus::ReapplyFailed;
        }
        dc.error = uexec
            .statements
            .get(f)
            .and_then(|s| s.error.as_ref())
            .map(|e| locate(&m.path, &m.up.text, &lines, &ustmts[f], e));
        dc.duration_ms = ms(t0.elapsed());
        return Ok((dc, None));
    }
    let again = sess.catalog().await?;
    dc.reapply_differences = diff::diff(after, &again);
    if !dc.reapply_differences.is_empty() && dc.status == DownStatus::Reversible {
        dc.status = DownStatus::Irreversible;
    }
    dc.duration_ms = ms(t0.elapsed());
    Ok((dc, Some(again)))
}
