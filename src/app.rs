//! Orchestration of each command: settings in, report and exit code out. Never formats output
//! itself (renderers do) and never exits the process (main does).

use crate::classify::{self, CheckOptions};
use crate::cli::{CheckAction, CheckSettings};
use crate::migrations::{self, Migration};
use crate::model::Report;
use crate::report::{self, Format, progress::Progress, rules_doc};
use crate::vcs;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// What a command produced: text for stdout and the exit code (0 ok, 1 gate failed).
pub struct Outcome {
    pub stdout: String,
    pub code: u8,
}

/// Errors that mean migsafe could not do its job (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Usage(#[from] crate::cli::UsageError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Discover(#[from] migrations::DiscoverError),
    #[error(transparent)]
    Vcs(#[from] vcs::VcsError),
    #[error("{0}")]
    Other(String),
}

/// Runs `check` and returns the report (for library users and tests).
pub fn check_report(
    settings: &CheckSettings,
    on_progress: &mut dyn FnMut(usize, usize),
) -> Result<Report, AppError> {
    let migs = migrations::discover(&settings.paths, settings.layout)?;
    let changed: Option<HashSet<PathBuf>> = match &settings.since {
        Some(rev) => {
            let cwd = std::env::current_dir()
                .map_err(|e| AppError::Other(format!("cannot read the working directory: {e}")))?;
            Some(vcs::changed_since(rev, &cwd)?)
        }
        None => None,
    };
    let judge = |m: &Migration| match &changed {
        None => true,
        Some(set) => {
            let p = m.path.canonicalize().unwrap_or_else(|_| m.path.clone());
            set.contains(&p)
                || m.down.as_ref().is_some_and(|d| {
                    set.contains(&d.path.canonicalize().unwrap_or_else(|_| d.path.clone()))
                })
        }
    };
    let total = migs.len();
    Ok(classify::check_migrations(
        &migs,
        &judge,
        &settings.options,
        &mut |done| on_progress(done, total),
    ))
}

pub fn check(action: CheckAction) -> Result<Outcome, AppError> {
    match action {
        CheckAction::Explain(page) => Ok(Outcome {
            stdout: page,
            code: 0,
        }),
        CheckAction::ListRules(format) => Ok(Outcome {
            stdout: if format == Format::Json {
                rules_doc::list_json()
            } else {
                rules_doc::list_text()
            },
            code: 0,
        }),
        CheckAction::Run(settings) => {
            let mut bar: Option<Progress> = None;
            let report = check_report(&settings, &mut |done, total| {
                let b = bar.get_or_insert_with(|| {
                    Progress::new(total, "checking migrations", settings.progress)
                });
                b.set(done);
            })?;
            if let Some(b) = &bar {
                b.finish();
            }
            let code = if report.passed { 0 } else { 1 };
            if settings.format == Format::Json {
                // streamed: the JSON of a huge report is never held as one string
                let stdout = std::io::stdout();
                let mut lock = stdout.lock();
                match report::json::write(&report, &mut lock) {
                    Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                        return Err(AppError::Other(format!("cannot write the report: {e}")));
                    }
                    _ => {}
                }
                return Ok(Outcome {
                    stdout: String::new(),
                    code,
                });
            }
            Ok(Outcome {
                stdout: report::render(&report, settings.format, settings.color),
                code,
            })
        }
    }
}

/// Convenience for tests and embedding: check paths with options.
pub fn check_paths(paths: &[&Path], options: CheckOptions) -> Result<Report, AppError> {
    let settings = CheckSettings {
        paths: paths.iter().map(|p| p.to_path_buf()).collect(),
        layout: None,
        format: Format::Json,
        since: None,
        options,
        color: false,
        progress: false,
    };
    check_report(&settings, &mut |_, _| {})
}

/// `migsafe debug-ephemeral <engine>`: starts a throwaway server, prints one JSON line with its
/// workspace and server pid, and keeps it until stdin reaches EOF.
pub fn debug_ephemeral(engine: &str) -> Result<Outcome, AppError> {
    use crate::engines::{EngineKind, mysql, postgres, sqlite};
    use std::io::{Read, Write};
    let kind = EngineKind::parse(engine)
        .ok_or_else(|| AppError::Other(format!("{engine}: expected postgres, mysql or sqlite")))?;
    let rt = runtime()?;
    let announce = |workspace: &Path, pid: Option<u32>, version: &str| {
        let line = serde_json::json!({"engine": kind.as_str(), "workspace": workspace, "server_pid": pid, "version": version});
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    let wait_stdin = || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    };
    rt.block_on(async {
        match kind {
            EngineKind::Postgres => {
                let pg = postgres::ephemeral::EphemeralPostgres::start(&Default::default()).await?;
                announce(pg.workspace(), pg.server_pid(), &pg.server_version);
                wait_stdin();
            }
            EngineKind::Mysql => {
                let my = mysql::ephemeral::EphemeralMysql::start().await?;
                announce(my.workspace(), my.server_pid(), &my.server_version);
                wait_stdin();
            }
            EngineKind::Sqlite => {
                let db = sqlite::ephemeral::EphemeralSqlite::start(None).await?;
                announce(db.workspace(), None, "");
                wait_stdin();
            }
        }
        Ok::<_, crate::engines::EngineError>(())
    })
    .map_err(|e| AppError::Other(e.to_string()))?;
    Ok(Outcome {
        stdout: String::new(),
        code: 0,
    })
}

/// The async runtime for commands that talk to databases (one thread: the work is I/O bound).
pub fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::Other(format!("cannot start the async runtime: {e}")))
}
