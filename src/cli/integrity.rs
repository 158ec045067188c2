//! `migsafe integrity-check` arguments and their validation into settings.

use super::{CliGlobals, UsageError, use_color};
use crate::config::Config;
use crate::integrity::{Assertion, CHECKS, Level, Severity};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct IntegrityArgs {
    /// How deep to go: catalog (seconds), standard (adds probes and scans), deep (adds amcheck / CHECK TABLE)
    #[arg(long, default_value = "standard", value_name = "catalog|standard|deep")]
    pub level: String,
    /// Time budget for the whole run, e.g. 30s or 5m; checks whose estimate does not fit are listed as not run
    #[arg(long, value_name = "DURATION")]
    pub budget: Option<String>,
    /// Upper bound for any one statement
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub statement_timeout: String,
    /// Compare row counts and the schema fingerprint with a backup manifest (or the backup file next to it)
    #[arg(long, value_name = "MANIFEST")]
    pub against: Option<PathBuf>,
    /// With --against: a migration ran since the backup, so differences are listed, not failures
    #[arg(long, requires = "against")]
    pub after_migration: bool,
    /// A pending migration (file or folder): count the NULLs in columns it makes NOT NULL
    #[arg(long = "migration", value_name = "PATH")]
    pub migrations: Vec<PathBuf>,
    /// Run only these checks (repeatable; see --list-checks)
    #[arg(long, value_name = "CHECK")]
    pub only: Vec<String>,
    /// amcheck also verifies that every heap tuple is indexed (slower; --level deep)
    #[arg(long)]
    pub heapallindexed: bool,
    /// Lowest problem severity that fails the run (exit 1)
    #[arg(long, default_value = "error", value_name = "error|warning|info")]
    pub fail_on: String,
    /// Output format
    #[arg(long, default_value = "human", value_name = "human|json")]
    pub format: String,
    /// List the checks and exit
    #[arg(long)]
    pub list_checks: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrityFormat {
    Human,
    Json,
}

/// Everything `integrity-check` needs, validated.
#[derive(Debug, Clone)]
pub struct IntegritySettings {
    pub database_url: String,
    pub level: Level,
    pub budget: Option<Duration>,
    pub statement_timeout: Duration,
    pub against: Option<PathBuf>,
    pub after_migration: bool,
    pub migrations: Vec<PathBuf>,
    pub only: Vec<String>,
    pub heapallindexed: bool,
    pub fail_on: Severity,
    pub format: IntegrityFormat,
    pub assertions: Vec<Assertion>,
    /// The config file the assertions came from, for messages.
    pub config_path: Option<PathBuf>,
    pub color: bool,
    pub progress: bool,
    /// One line per step on stderr when it is not a terminal (not with `--quiet`).
    pub steps: bool,
}

pub enum IntegrityAction {
    Run(IntegritySettings),
    ListChecks(IntegrityFormat),
}

fn duration(flag: &str, value: &str) -> Result<Duration, UsageError> {
    match humantime::parse_duration(value.trim()) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(UsageError(format!(
            "{flag} {value}: expected a duration such as 30s, 500ms or 5m"
        ))),
    }
}

impl IntegrityArgs {
    pub fn resolve(self, cli: &CliGlobals, config: &Config) -> Result<IntegrityAction, UsageError> {
        let format = match self.format.as_str() {
            "human" | "text" => IntegrityFormat::Human,
            "json" => IntegrityFormat::Json,
            other => {
                return Err(UsageError(format!(
                    "--format {other}: expected human or json"
                )));
            }
        };
        if self.list_checks {
            return Ok(IntegrityAction::ListChecks(format));
        }
        let level = Level::parse(&self.level).ok_or_else(|| {
            UsageError(format!(
                "--level {}: expected catalog, standard or deep",
                self.level
            ))
        })?;
        let budget = self
            .budget
            .as_deref()
            .map(|b| duration("--budget", b))
            .transpose()?;
        let statement_timeout = duration("--statement-timeout", &self.statement_timeout)?;
        let fail_on = match self.fail_on.as_str() {
            "error" => Severity::Error,
            "warning" => Severity::Warning,
            "info" => Severity::Info,
            other => {
                return Err(UsageError(format!(
                    "--fail-on {other}: expected error, warning or info"
                )));
            }
        };
        for id in &self.only {
            if !CHECKS.iter().any(|c| c.id == id) {
                let all = CHECKS.iter().map(|c| c.id).collect::<Vec<_>>().join(", ");
                return Err(UsageError(format!(
                    "--only {id}: unknown check (known: {all})"
                )));
            }
        }
        if self.heapallindexed && level != Level::Deep {
            return Err(UsageError(
                "--heapallindexed applies to amcheck, which runs at --level deep: add --level deep"
                    .into(),
            ));
        }
        let database_url = cli.database_url.clone().filter(|u| !u.trim().is_empty()).ok_or_else(|| {
            UsageError("no database: pass --database-url postgres://… (or mysql://…, sqlite:…) or set DATABASE_URL".into())
        })?;
        if crate::engines::EngineKind::from_url(&database_url).is_none() {
            return Err(UsageError(format!(
                "--database-url {}: unknown scheme; expected postgres://, mysql://, mariadb:// or sqlite:",
                crate::engines::redact_url(&database_url)
            )));
        }
        let machine = format == IntegrityFormat::Json;
        Ok(IntegrityAction::Run(IntegritySettings {
            database_url,
            level,
            budget,
            statement_timeout,
            against: self
                .against
                .map(|a| super::backup::backup_path_arg(a, config)),
            after_migration: self.after_migration,
            migrations: self.migrations,
            only: self.only,
            heapallindexed: self.heapallindexed,
            fail_on,
            format,
            assertions: config.integrity_asserts.clone(),
            config_path: config.path.clone(),
            color: use_color(cli.color, machine),
            progress: !cli.quiet && !machine,
            steps: !cli.quiet,
        }))
    }
}
