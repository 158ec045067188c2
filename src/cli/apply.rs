//! `migsafe status` and `migsafe apply` arguments, validated into settings.

use super::{CliGlobals, ReportFormat, UsageError, migration_paths, use_color};
use crate::apply::ApplySettings;
use crate::apply::config::duration;
use crate::apply::staging::StagingCheck;
use crate::classify::CheckOptions;
use crate::config::Config;
use crate::engines::migrate::Timeouts;
use crate::migrations::Layout;
use crate::model::FailOn;
use crate::sql::Dialect;
use crate::status::StatusSettings;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments both commands take.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Migration files, folders or glob patterns (default: `migrations` from the config)
    pub paths: Vec<PathBuf>,
    /// The environment whose database to use (`[env.NAME]` in migsafe.toml) instead of --database-url
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Force a folder layout instead of detecting it
    #[arg(long, value_name = "LAYOUT", ignore_case = true)]
    pub layout: Option<Layout>,
    /// Output format
    #[arg(long, default_value = "human", value_name = "human|json|markdown")]
    pub format: String,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Apply destructive and unknown migrations too: the runbook's maintenance-window path (read-only, verified backup)
    #[arg(long)]
    pub force: bool,
    /// Print the plan; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// How long a statement may wait for a lock before it is retried (default: [apply] lock_timeout, else 2s)
    #[arg(long, value_name = "DURATION")]
    pub lock_timeout: Option<String>,
    /// How long a statement may run, 0 for no limit (default: [apply] statement_timeout, else 15min)
    #[arg(long, value_name = "DURATION")]
    pub statement_timeout: Option<String>,
    /// Tries after the first when a statement times out on a lock (default: [apply] retries, else 5)
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// How long to wait for the migration lock held by another applier (default: [apply] lock_wait, else 10min)
    #[arg(long, value_name = "DURATION")]
    pub lock_wait: Option<String>,
    /// Run the project's own migrator (e.g. "npm run db:migrate") under the same checks instead of applying the files
    #[arg(long, value_name = "CMD")]
    pub migrate_cmd: Option<String>,
    /// Apply to an environment whose staging has not applied the same migrations, giving the reason (journaled)
    #[arg(long, value_name = "REASON")]
    pub skip_staging_check: Option<String>,
}

pub struct StatusCommand {
    pub settings: StatusSettings,
    pub format: ReportFormat,
    pub color: bool,
}

pub struct ApplyCommand {
    pub settings: ApplySettings,
    pub format: ReportFormat,
    pub color: bool,
}

fn dialect_of_url(url: &str) -> Dialect {
    match crate::engines::EngineKind::from_url(url) {
        Some(crate::engines::EngineKind::Mysql) => Dialect::Mysql,
        Some(crate::engines::EngineKind::Sqlite) => Dialect::Sqlite,
        _ => Dialect::Postgres,
    }
}

struct Resolved {
    paths: Vec<PathBuf>,
    layout: Option<Layout>,
    url: String,
    env: Option<String>,
    check: CheckOptions,
    transaction: crate::migrations::TxSetting,
    format: ReportFormat,
    color: bool,
}

impl TargetArgs {
    fn resolve(
        self,
        cli: &CliGlobals,
        config: &Config,
        what: &str,
    ) -> Result<Resolved, UsageError> {
        let format = ReportFormat::parse(&self.format)?;
        let paths = migration_paths(self.paths, config, what)?;
        let url = match &self.env {
            Some(name) => {
                let env = config.envs.get(name).ok_or_else(|| {
                    let known: Vec<&str> = config.envs.keys().map(String::as_str).collect();
                    UsageError(format!(
                        "--env {name}: no [env.{name}] in migsafe.toml (known: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ))
                })?;
                env.resolve(name).map_err(UsageError)?
            }
            None => super::backup::database_url(cli, &format!("`{what}`"))?,
        };
        if crate::engines::EngineKind::from_url(&url).is_none() {
            return Err(UsageError(format!(
                "{}: expected a postgres://, mysql://, mariadb:// or sqlite: URL",
                crate::engines::redact_url(&url)
            )));
        }
        let layout = self.layout.or(config.layout);
        let check = CheckOptions {
            dialect: dialect_of_url(&url),
            target_version: config.target_version,
            fail_on: FailOn::Risky,
            rule_levels: config.rules.clone().into_iter().collect(),
            placeholders: config.placeholders.clone(),
            mysql_strict: config.mysql_strict_mode,
        };
        Ok(Resolved {
            paths,
            layout,
            url,
            env: self.env,
            check,
            transaction: config.transaction,
            format,
            color: use_color(cli.color, format != ReportFormat::Human),
        })
    }
}

impl StatusArgs {
    pub fn resolve(self, cli: &CliGlobals, config: &Config) -> Result<StatusCommand, UsageError> {
        let r = self.target.resolve(cli, config, "status")?;
        Ok(StatusCommand {
            settings: StatusSettings {
                paths: r.paths,
                layout: r.layout,
                url: r.url,
                env: r.env,
                check: r.check,
                transaction: r.transaction,
            },
            format: r.format,
            color: r.color,
        })
    }
}

fn flag_duration(flag: &str, v: &Option<String>) -> Result<Option<Duration>, UsageError> {
    v.as_deref()
        .map(|v| duration(flag, v).map_err(UsageError))
        .transpose()
}

impl ApplyArgs {
    pub fn resolve(self, cli: &CliGlobals, config: &Config) -> Result<ApplyCommand, UsageError> {
        let env_name = self.target.env.clone();
        let r = self.target.resolve(cli, config, "apply")?;
        let a = &config.apply;
        let lock = flag_duration("--lock-timeout", &self.lock_timeout)?
            .or(a.lock_timeout)
            .unwrap_or(Duration::from_secs(2));
        if lock.is_zero() {
            return Err(UsageError("--lock-timeout 0: an apply never waits for locks without a bound; give a duration such as 2s".into()));
        }
        let statement = match self.statement_timeout.as_deref() {
            Some("0") | Some("none") => None,
            Some(v) => Some(duration("--statement-timeout", v).map_err(UsageError)?),
            None => a
                .statement_timeout
                .unwrap_or(Some(Duration::from_secs(15 * 60))),
        };
        let lock_wait = flag_duration("--lock-wait", &self.lock_wait)?
            .or(a.lock_wait)
            .unwrap_or(Duration::from_secs(600));
        let reason = self.skip_staging_check.map(|s| s.trim().to_string());
        if reason.as_deref() == Some("") {
            return Err(UsageError("--skip-staging-check needs a reason, e.g. --skip-staging-check \"hotfix INC-42, staging down\"".into()));
        }
        let staging = match env_name
            .as_deref()
            .and_then(|n| config.envs.get(n))
            .and_then(|e| e.staging.clone())
        {
            None => StagingCheck::NotRequired,
            Some(env) => match reason {
                Some(reason) => StagingCheck::Skip { env, reason },
                None => StagingCheck::Required {
                    url: config.envs.get(&env).and_then(|e| e.resolve(&env).ok()),
                    env,
                },
            },
        };
        if let Some(c) = &self.migrate_cmd
            && c.trim().is_empty()
        {
            return Err(UsageError(
                "--migrate-cmd: give the command that runs the project's migrator".into(),
            ));
        }
        Ok(ApplyCommand {
            settings: ApplySettings {
                paths: r.paths,
                layout: r.layout,
                url: r.url,
                env: r.env,
                check: r.check,
                transaction: r.transaction,
                force: self.force,
                dry_run: self.dry_run,
                timeouts: Timeouts { lock, statement },
                retries: self.retries.or(a.retries).unwrap_or(5),
                backoff_base: a.backoff.unwrap_or(Duration::from_secs(1)),
                backoff_cap: a.backoff_max.unwrap_or(Duration::from_secs(30)),
                lock_wait,
                migrate_cmd: self.migrate_cmd,
                staging,
                journal_dir: crate::journal::default_dir(),
            },
            format: r.format,
            color: r.color,
        })
    }
}
