//! Orchestration of each command: settings in, report and exit code out. Never formats output
//! itself (renderers do) and never exits the process (main does).

use crate::classify::{self, CheckOptions};
use crate::cli::{CheckAction, CheckSettings, Ci, Cli, CliGlobals, InitArgs, Shell, url_dialect};
use crate::migrations::{self, Migration};
use crate::model::{Report, SkippedFile};
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
    #[error(transparent)]
    Suppression(#[from] classify::SuppressionError),
    #[error("{0}")]
    Other(String),
}

impl AppError {
    /// `usage` for what the command line or configuration asked that cannot be done, `input`
    /// for files that cannot be read or understood, `error` for everything else.
    pub fn kind(&self) -> &'static str {
        match self {
            AppError::Usage(_) | AppError::Config(_) => "usage",
            AppError::Discover(_) | AppError::Suppression(_) => "input",
            AppError::Vcs(_) | AppError::Other(_) => "error",
        }
    }
}

/// Runs `check` and returns the report (for library users and tests).
pub fn check_report(
    settings: &CheckSettings,
    on_progress: &mut dyn FnMut(usize, usize),
) -> Result<Report, AppError> {
    let discovery = migrations::discover_with(
        &settings.paths,
        &migrations::DiscoverOptions {
            layout: settings.layout,
            dialect: settings.select,
            default_dialect: settings.options.dialect,
            transaction: settings.transaction,
        },
    )?;
    classify::validate_suppressions(&discovery.migrations)?;
    // the run's main dialect (target version, JSON `dialect`): the selected one, else the
    // default when files use it, else the first one checked
    let mut options = settings.options.clone();
    let dialects = discovery.dialects();
    if settings.select.is_none()
        && !dialects.contains(&options.dialect)
        && let Some(first) = dialects.first()
    {
        options.dialect = *first;
    }
    let migs = &discovery.migrations;
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
    let mut report =
        classify::check_migrations(migs, &judge, &options, &mut |done| on_progress(done, total));
    report.skipped = discovery
        .skipped
        .iter()
        .map(|s| SkippedFile {
            path: s.path.display().to_string(),
            dialect: s.dialect.clone(),
            reason: s.reason.as_str(),
            message: s.reason.to_string(),
        })
        .collect();
    report.summary.skipped = report.skipped.len();
    Ok(report)
}

/// Report paths relative to the repository root, for SARIF and GitHub annotations.
fn repo_paths(report: &Report) -> report::Repo {
    let Ok(cwd) = std::env::current_dir() else {
        return report::Repo::default();
    };
    let root = vcs::repo_root(&cwd).or_else(|| cwd.canonicalize().ok());
    let mut relative = std::collections::HashMap::new();
    if let Some(root) = &root {
        let paths = report
            .migrations
            .iter()
            .map(|m| m.path.as_str())
            .chain(report.skipped.iter().map(|s| s.path.as_str()));
        for path in paths {
            let abs = cwd.join(path);
            let abs = abs.canonicalize().unwrap_or(abs);
            if let Ok(rel) = abs.strip_prefix(root) {
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                relative.insert(path.to_string(), rel.join("/"));
            }
        }
    }
    report::Repo { root, relative }
}

pub fn check(action: CheckAction) -> Result<Outcome, AppError> {
    match action {
        CheckAction::Explain(meta, format) => Ok(Outcome {
            stdout: match format {
                Format::Json => rules_doc::explain_json(meta),
                _ => rules_doc::page(meta),
            },
            code: 0,
        }),
        CheckAction::ListRules(format) => Ok(Outcome {
            stdout: match format {
                Format::Json => rules_doc::list_json(),
                Format::Sarif => report::sarif::rules_only(),
                Format::Markdown => rules_doc::index(),
                _ => rules_doc::list_text(),
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
            let repo = match settings.format {
                Format::Sarif | Format::Github | Format::Markdown => repo_paths(&report),
                _ => report::Repo::default(),
            };
            let options = report::RenderOptions {
                color: settings.color,
                verbose: settings.verbose,
                repo,
            };
            Ok(Outcome {
                stdout: report::render(&report, settings.format, &options),
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
        select: None,
        transaction: migrations::TxSetting::Auto,
        color: false,
        progress: false,
        verbose: false,
    };
    check_report(&settings, &mut |_, _| {})
}

/// `migsafe init`: a commented migsafe.toml (and a CI workflow) for the repository of `cwd`.
pub fn init(args: &InitArgs, globals: &CliGlobals, cwd: &Path) -> Result<Outcome, AppError> {
    let root = vcs::repo_root(cwd).unwrap_or_else(|| cwd.to_path_buf());
    let ci = args.ci.map(|c| match c {
        Ci::Github => crate::init::Ci::Github,
        Ci::Gitlab => crate::init::Ci::Gitlab,
    });
    let url_dialect = globals.database_url.as_deref().and_then(url_dialect);
    let stdout = crate::init::run(&root, ci, args.force, url_dialect)
        .map_err(|e| AppError::Other(e.to_string()))?;
    Ok(Outcome { stdout, code: 0 })
}

/// `migsafe completions <shell>`: the completion script clap generates from the definitions.
pub fn completions(shell: Shell) -> Outcome {
    use clap::CommandFactory;
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "migsafe", &mut buf);
    Outcome {
        stdout: String::from_utf8_lossy(&buf).into_owned(),
        code: 0,
    }
}

/// `migsafe man [COMMAND]`: the man page clap_mangen renders from the definitions.
pub fn man(command: Option<&str>) -> Result<Outcome, AppError> {
    use clap::CommandFactory;
    let mut root = Cli::command();
    // building names the subcommands as the man pages want them (migsafe-check, `migsafe check`)
    root.build();
    let cmd = match command {
        None => root,
        Some(name) => {
            let names: Vec<String> = root
                .get_subcommands()
                .filter(|c| !c.is_hide_set())
                .map(|c| c.get_name().to_string())
                .collect();
            root.find_subcommand(name)
                .filter(|c| !c.is_hide_set())
                .cloned()
                .ok_or_else(|| {
                    AppError::Usage(crate::cli::UsageError(format!(
                        "man {name}: no such command; expected one of {}",
                        names.join(", ")
                    )))
                })?
        }
    };
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut buf)
        .map_err(|e| AppError::Other(format!("cannot render the man page: {e}")))?;
    Ok(Outcome {
        stdout: String::from_utf8_lossy(&buf).into_owned(),
        code: 0,
    })
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
