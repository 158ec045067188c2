//! Arguments of `backup create|verify|list|prune` and `restore`, validated into settings (with
//! the defaults of the `[backup]` section of `migsafe.toml`).

use super::{CliGlobals, UsageError};
use crate::backup::manifest::Purpose;
use crate::backup::{BackupRef, CreateSettings, VerifySettings};
use crate::config::Config;
use crate::engines::postgres::backup::PgFormat;
use crate::engines::snapshot::DEFAULT_EXACT_LIMIT;
use crate::restore::{RestoreSettings, Strategy};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: BackupCommand,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up the database in DATABASE_URL into the backup folder, with a manifest; verified
    Create(CreateArgs),
    /// Check a backup: sha256, a full read of the archive, and with --deep a restore drill
    Verify(VerifyArgs),
    /// List the backups in the backup folder
    List(ListArgs),
    /// Remove old backups, keeping the N newest and always the newest verified one
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct Common {
    /// Backup folder (default: `[backup] dir` in migsafe.toml, else `backups`)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Output: human or json
    #[arg(
        long,
        visible_alias = "format",
        default_value = "human",
        value_name = "human|json"
    )]
    pub output: String,
}

#[derive(Debug, Args)]
pub struct PgArgs {
    /// Folder with pg_dump/pg_restore/psql (default: a matching version from /usr/lib/postgresql/*/bin, pg_config, PATH)
    #[arg(long, value_name = "DIR")]
    pub pg_bin_dir: Option<PathBuf>,
    /// Parallel jobs for directory-format dumps and restores
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<u32>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Backup folder (default: `[backup] dir` in migsafe.toml, else `backups`)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// PostgreSQL archive format: custom (default), directory (parallel with --jobs) or plain SQL
    #[arg(long, value_name = "custom|directory|plain")]
    pub format: Option<String>,
    #[command(flatten)]
    pub pg: PgArgs,
    /// Also save roles and tablespaces (pg_dumpall --globals-only), without passwords
    #[arg(long)]
    pub globals: bool,
    /// With --globals: include role password hashes (needs a superuser)
    #[arg(long, requires = "globals")]
    pub with_role_passwords: bool,
    /// Do not verify after writing (LATEST then does not move to this backup)
    #[arg(long)]
    pub no_verify: bool,
    /// Tables estimated above this many rows get the planner's estimate, flagged, instead of count(*)
    #[arg(long, value_name = "ROWS")]
    pub exact_row_limit: Option<u64>,
    /// Give up when a table lock cannot be had this fast (pg_dump --lock-wait-timeout)
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub lock_wait_timeout: String,
    /// Output: human or json
    #[arg(long, default_value = "human", value_name = "human|json")]
    pub output: String,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A backup file (or directory, or manifest), or `latest`
    #[arg(value_name = "FILE|latest")]
    pub backup: String,
    /// Also restore it into an ephemeral database and compare row counts and schema fingerprint
    #[arg(long)]
    pub deep: bool,
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub pg: PgArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// How many of the newest backups to keep (default: `[backup] keep`)
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Also drop the copies swap restores kept of the database (`<db>_before_restore_<ts>`) that are older than this, never the newest (needs the database URL)
    #[arg(long, value_name = "DURATION")]
    pub keep_before_restore: Option<String>,
    /// Show what would be removed, remove nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A backup file (or directory, or manifest), or `latest` (the newest verified backup)
    #[arg(value_name = "FILE|latest")]
    pub backup: String,
    /// swap: restore into a new database, verify, swap names (PostgreSQL, SQLite; default);
    /// in-place: over the existing database (MySQL's only strategy)
    #[arg(long, value_name = "swap|in-place")]
    pub strategy: Option<String>,
    /// Proceed without asking (required when not interactive)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Run the preflight only, change nothing
    #[arg(long)]
    pub check: bool,
    /// Skip ownership and grants (for targets without the backup's roles)
    #[arg(long)]
    pub no_owner: bool,
    /// How long sessions of the live database get to finish before they are terminated (swap)
    #[arg(long, value_name = "DURATION")]
    pub drain: Option<String>,
    /// In-place restores: do not take a safety backup of the current state first
    #[arg(long)]
    pub no_safety_backup: bool,
    /// In-place restores: give up when a lock cannot be had this fast
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub lock_timeout: String,
    /// Restore a backup of another database (the manifest names a different database than the target)
    #[arg(long)]
    pub into_other_database: bool,
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub pg: PgArgs,
}

/// How to show results.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub progress: bool,
    /// One line per step on stderr when it is not a terminal (not with `--quiet`).
    pub steps: bool,
    pub color: bool,
    /// Whether stdin and stderr are a terminal (a restore may ask).
    pub interactive: bool,
}

pub enum BackupAction {
    Create(CreateSettings, Output),
    Verify(VerifySettings, Output),
    /// The folder, and the database whose kept copies are listed too (when a URL is known).
    List(PathBuf, Option<String>, Output),
    Prune {
        dir: PathBuf,
        keep: usize,
        dry_run: bool,
        /// Kept copies older than this are dropped (with the database URL).
        before_restore: Option<(Duration, String)>,
        out: Output,
    },
    Restore(RestoreSettings, Output),
}

fn output(s: &str, cli: &CliGlobals) -> Result<Output, UsageError> {
    use std::io::IsTerminal;
    let json = match s {
        "human" | "text" => false,
        "json" => true,
        other => {
            return Err(UsageError(format!(
                "--output {other}: expected human or json"
            )));
        }
    };
    Ok(Output {
        json,
        progress: !cli.quiet && !json,
        steps: !cli.quiet,
        color: super::use_color(cli.color, json),
        interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
    })
}

fn duration(flag: &str, s: &str) -> Result<Duration, UsageError> {
    humantime::parse_duration(s)
        .map_err(|_| UsageError(format!("{flag} {s}: expected a duration such as 30s or 2m")))
}

/// A backup argument of a command without `--dir` (`integrity-check --against`, `dry-run
/// --from-backup`): `latest` is the pointer file of the configured backup folder, which the
/// one resolver (`crate::backup::resolve`) follows; anything else is a path for it.
pub(crate) fn backup_path_arg(arg: PathBuf, config: &Config) -> PathBuf {
    if arg.to_string_lossy().eq_ignore_ascii_case("latest") {
        dir(None, config).join(crate::backup::manifest::LATEST_FILE)
    } else {
        arg
    }
}

fn dir(arg: Option<PathBuf>, config: &Config) -> PathBuf {
    arg.or_else(|| config.backup.dir.clone())
        .unwrap_or_else(|| PathBuf::from("backups"))
}

/// `--database-url`, else `DATABASE_URL` (clap reads both), else a `DATABASE_URL=` line in `.env`.
pub fn database_url(cli: &CliGlobals, what: &str) -> Result<String, UsageError> {
    if let Some(u) = cli.database_url.clone().filter(|u| !u.trim().is_empty()) {
        return Ok(u);
    }
    if let Ok(text) = std::fs::read_to_string(".env") {
        for line in text.lines() {
            let line = line.trim().trim_start_matches("export ").trim();
            if let Some(v) = line.strip_prefix("DATABASE_URL=") {
                let v = v.trim().trim_matches('"').trim_matches('\'');
                if !v.is_empty() {
                    return Ok(v.to_string());
                }
            }
        }
    }
    Err(UsageError(format!(
        "{what} needs a database: pass --database-url or set DATABASE_URL (or put it in .env)"
    )))
}

fn jobs(pg: &PgArgs, config: &Config) -> Result<u32, UsageError> {
    match pg.jobs.or(config.backup.jobs) {
        Some(0) => Err(UsageError("--jobs 0: expected 1 or more".into())),
        Some(n) => Ok(n),
        None => Ok(1),
    }
}

fn backup_ref(s: &str) -> BackupRef {
    BackupRef::parse(s)
}

impl BackupArgs {
    pub fn resolve(self, cli: &CliGlobals, config: &Config) -> Result<BackupAction, UsageError> {
        match self.command {
            BackupCommand::Create(a) => {
                let out = output(&a.output, cli)?;
                let url = database_url(cli, "`backup create`")?;
                let pg_format = match a.format.as_deref() {
                    Some(f) => PgFormat::parse(f).ok_or_else(|| {
                        UsageError(format!("--format {f}: expected custom, directory or plain"))
                    })?,
                    None => config.backup.format.unwrap_or(PgFormat::Custom),
                };
                let is_pg = crate::engines::EngineKind::from_url(&url)
                    == Some(crate::engines::EngineKind::Postgres);
                if !is_pg
                    && (a.format.is_some()
                        || a.globals
                        || a.pg.jobs.is_some()
                        || a.pg.pg_bin_dir.is_some())
                {
                    return Err(UsageError("--format, --jobs, --globals and --pg-bin-dir apply to PostgreSQL only (MySQL backups are SQL dumps, SQLite backups are VACUUM INTO copies)".into()));
                }
                let jobs = jobs(&a.pg, config)?;
                if jobs > 1 && pg_format != PgFormat::Directory && a.pg.jobs.is_some() {
                    return Err(UsageError(format!(
                        "--jobs {jobs}: parallel dumps need --format directory"
                    )));
                }
                let lock_wait = duration("--lock-wait-timeout", &a.lock_wait_timeout)?;
                Ok(BackupAction::Create(
                    CreateSettings {
                        url,
                        dir: dir(a.dir, config),
                        pg_format,
                        jobs,
                        globals: a.globals,
                        role_passwords: a.with_role_passwords,
                        verify: !a.no_verify,
                        pg_bin_dir: a.pg.pg_bin_dir.or_else(|| config.backup.pg_bin_dir.clone()),
                        exact_row_limit: a
                            .exact_row_limit
                            .or(config.backup.exact_row_limit)
                            .unwrap_or(DEFAULT_EXACT_LIMIT),
                        lock_wait_timeout_secs: lock_wait.as_secs().max(1),
                        purpose: Purpose::Backup,
                    },
                    out,
                ))
            }
            BackupCommand::Verify(a) => {
                let out = output(&a.common.output, cli)?;
                Ok(BackupAction::Verify(
                    VerifySettings {
                        dir: dir(a.common.dir, config),
                        which: backup_ref(&a.backup),
                        deep: a.deep,
                        jobs: jobs(&a.pg, config)?,
                        pg_bin_dir: a.pg.pg_bin_dir.or_else(|| config.backup.pg_bin_dir.clone()),
                    },
                    out,
                ))
            }
            BackupCommand::List(a) => Ok(BackupAction::List(
                dir(a.common.dir, config),
                database_url(cli, "").ok(),
                output(&a.common.output, cli)?,
            )),
            BackupCommand::Prune(a) => {
                let keep = a.keep.or(config.backup.keep).ok_or_else(|| {
                    UsageError(
                        "`backup prune` needs --keep N (or `[backup] keep` in migsafe.toml)".into(),
                    )
                })?;
                if keep == 0 {
                    return Err(UsageError(
                        "--keep 0: expected 1 or more (the newest verified backup is always kept)"
                            .into(),
                    ));
                }
                let before_restore = match a.keep_before_restore.as_deref() {
                    None => None,
                    Some(d) => Some((
                        duration("--keep-before-restore", d)?,
                        database_url(cli, "`backup prune --keep-before-restore`")?,
                    )),
                };
                Ok(BackupAction::Prune {
                    dir: dir(a.common.dir, config),
                    keep,
                    dry_run: a.dry_run,
                    before_restore,
                    out: output(&a.common.output, cli)?,
                })
            }
        }
    }
}

impl RestoreArgs {
    pub fn resolve(self, cli: &CliGlobals, config: &Config) -> Result<BackupAction, UsageError> {
        let out = output(&self.common.output, cli)?;
        let url = database_url(cli, "`restore`")?;
        let strategy =
            match self.strategy.as_deref() {
                Some(s) => Some(Strategy::parse(s).ok_or_else(|| {
                    UsageError(format!("--strategy {s}: expected swap or in-place"))
                })?),
                None => None,
            };
        let drain = match self.drain.as_deref() {
            Some(d) => duration("--drain", d)?,
            None => config.backup.drain.unwrap_or(Duration::from_secs(10)),
        };
        Ok(BackupAction::Restore(
            RestoreSettings {
                url,
                dir: dir(self.common.dir, config),
                which: backup_ref(&self.backup),
                strategy,
                yes: self.yes,
                no_owner: self.no_owner,
                jobs: jobs(&self.pg, config)?,
                drain,
                pg_bin_dir: self
                    .pg
                    .pg_bin_dir
                    .or_else(|| config.backup.pg_bin_dir.clone()),
                check_only: self.check,
                safety_backup: !self.no_safety_backup,
                lock_timeout_secs: duration("--lock-timeout", &self.lock_timeout)?
                    .as_secs()
                    .max(1),
                exact_row_limit: config.backup.exact_row_limit.unwrap_or(DEFAULT_EXACT_LIMIT),
                into_other_database: self.into_other_database,
                journal_dir: crate::journal::default_dir(),
            },
            out,
        ))
    }
}
