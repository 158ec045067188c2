//! `migsafe read-only on|off|status` and `migsafe maintenance on|off|status` arguments,
//! validated into the settings of [`crate::modes`].

use super::{CliGlobals, UsageError};
use crate::config::Config;
use crate::modes::app::{FlagFile, FlagFormat, Hooks};
use crate::modes::{
    Block, Hold, Mode, ModeOptions, OffSettings, OnSettings, PgBouncerSettings, Scope,
    StatusSettings,
};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ModeArgs {
    #[command(subcommand)]
    pub action: ModeAction,
}

#[derive(Debug, Subcommand)]
pub enum ModeAction {
    /// Switch the mode on: journal the prior state, switch, drain, end the sessions that would keep writing, verify
    On(Box<OnArgs>),
    /// Switch back to exactly the previous state (from the journal, or the database marker on another machine)
    Off(OffArgs),
    /// Whether the database is in the mode: since when, by whom, until when, what could still write
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct OnArgs {
    /// How long the mode may stay on before every migsafe command warns loudly that it expired (e.g. 30m)
    #[arg(long, value_name = "DURATION")]
    pub lease: Option<String>,
    /// Stay running, renew the lease, switch back when interrupted or when COMMAND (after --) ends
    #[arg(long)]
    pub hold: bool,
    /// With --hold: the command to run while the mode is on
    #[arg(last = true, value_name = "COMMAND", requires = "hold")]
    pub command: Vec<String>,
    /// How long in-flight write transactions get to finish before their sessions are ended (default 10s)
    #[arg(long, value_name = "DURATION")]
    pub drain: Option<String>,
    /// Do not end sessions opened before the switch (read-only: they keep writing; maintenance: they stay connected)
    #[arg(long)]
    pub no_terminate: bool,
    /// Layers to switch (default: both when [hooks] or --flag-file configure the application, else database)
    #[arg(long, value_name = "database|app|both")]
    pub scope: Option<String>,
    /// Write READ_ONLY_MODE/MAINTENANCE_MODE into this file (atomically) for applications that poll one
    #[arg(long, value_name = "PATH")]
    pub flag_file: Option<PathBuf>,
    /// Flag file format (default: json for *.json, else env)
    #[arg(long, value_name = "env|json", requires = "flag_file")]
    pub flag_format: Option<String>,
    /// An application role (PostgreSQL) or account name (MySQL); repeat or separate with commas (default: [modes] app_roles)
    #[arg(long = "app-role", value_name = "ROLE", value_delimiter = ',')]
    pub app_roles: Vec<String>,
    /// The application's own database URL, to prove with a fresh connection that it is refused (printed only with the password masked)
    #[arg(
        long,
        env = "MIGSAFE_APP_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub app_url: Option<String>,
    /// MySQL/MariaDB: switch read_only although the server hosts other databases (it is global)
    #[arg(long)]
    pub server_wide: bool,
    /// MySQL 5.7.8+: also set super_read_only (holds SUPER accounts, migsafe's own session too)
    #[arg(long)]
    pub super_read_only: bool,
    /// Maintenance on PostgreSQL: `database` (ALLOW_CONNECTIONS false, default) or `roles` (CONNECTION LIMIT 0 per --app-role)
    #[arg(long, value_name = "database|roles")]
    pub block: Option<String>,
    /// PgBouncer: how long PAUSE may wait for in-flight transactions (default 30s)
    #[arg(long, value_name = "DURATION")]
    pub max_wait: Option<String>,
    /// Leave PgBouncer alone even when [pgbouncer] is configured
    #[arg(long)]
    pub no_pgbouncer: bool,
    #[command(flatten)]
    pub out: OutputArg,
}

#[derive(Debug, Args)]
pub struct OffArgs {
    /// How long to wait for a `--hold` process of this machine asked to switch back
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub hold_wait: String,
    #[command(flatten)]
    pub out: OutputArg,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub out: OutputArg,
}

/// `--output human|json` (alias `--format`).
#[derive(Debug, Args)]
pub struct OutputArg {
    /// Output: human or json
    #[arg(
        long,
        visible_alias = "format",
        default_value = "human",
        value_name = "human|json"
    )]
    pub output: String,
}

pub enum ModeRun {
    On(Box<OnSettings>),
    Off(OffSettings),
    Status(StatusSettings),
}

pub struct ModeCommand {
    pub run: ModeRun,
    pub json: bool,
    pub color: bool,
    pub quiet: bool,
}

fn json_output(s: &str) -> Result<bool, UsageError> {
    match s {
        "human" | "text" => Ok(false),
        "json" => Ok(true),
        other => Err(UsageError(format!(
            "--output {other}: expected human or json"
        ))),
    }
}

fn duration(flag: &str, s: &str) -> Result<Duration, UsageError> {
    humantime::parse_duration(s)
        .map_err(|_| UsageError(format!("{flag} {s}: expected a duration such as 30s or 2m")))
}

/// The PgBouncer console: `MIGSAFE_PGBOUNCER_ADMIN_URL` (keeps the password out of the file),
/// else `[pgbouncer] admin_url`.
pub fn pgbouncer_admin_url(config: &Config) -> Option<String> {
    std::env::var("MIGSAFE_PGBOUNCER_ADMIN_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| config.pgbouncer.admin_url.clone())
}

fn pgbouncer(config: &Config, max_wait: Option<Duration>) -> Option<PgBouncerSettings> {
    Some(PgBouncerSettings {
        admin_url: pgbouncer_admin_url(config)?,
        pool: config.pgbouncer.pool.clone(),
        max_wait: max_wait
            .or(config.pgbouncer.max_wait)
            .unwrap_or(Duration::from_secs(30)),
    })
}

fn hooks(config: &Config, mode: Mode) -> Hooks {
    let h = &config.hooks;
    let (on, off) = match mode {
        Mode::ReadOnly => (h.read_only_on.clone(), h.read_only_off.clone()),
        Mode::Maintenance => (h.maintenance_on.clone(), h.maintenance_off.clone()),
    };
    Hooks {
        on,
        off,
        timeout_ms: h.timeout.as_millis() as u64,
    }
}

impl ModeArgs {
    pub fn resolve(
        self,
        mode: Mode,
        cli: &CliGlobals,
        config: &Config,
    ) -> Result<ModeCommand, UsageError> {
        let what = format!("`{}`", mode.as_str());
        let url = super::backup::database_url(cli, &what)?;
        let journal_dir = crate::journal::default_dir();
        let (run, output) = match self.action {
            ModeAction::On(a) => {
                let output = a.out.output.clone();
                (
                    ModeRun::On(Box::new(a.settings(mode, url, journal_dir, config)?)),
                    output,
                )
            }
            ModeAction::Off(a) => (
                ModeRun::Off(OffSettings {
                    url,
                    mode,
                    journal_dir,
                    pgbouncer_admin_url: pgbouncer_admin_url(config),
                    hold_wait: duration("--hold-wait", &a.hold_wait)?,
                }),
                a.out.output,
            ),
            ModeAction::Status(a) => (
                ModeRun::Status(StatusSettings {
                    url,
                    mode,
                    journal_dir,
                    pgbouncer: pgbouncer(config, None),
                }),
                a.out.output,
            ),
        };
        let json = json_output(&output)?;
        Ok(ModeCommand {
            run,
            json,
            color: super::use_color(cli.color, json),
            quiet: cli.quiet || json,
        })
    }
}

impl OnArgs {
    fn settings(
        self,
        mode: Mode,
        url: String,
        journal_dir: PathBuf,
        config: &Config,
    ) -> Result<OnSettings, UsageError> {
        let scope = self
            .scope
            .as_deref()
            .map(|s| {
                Scope::parse(s).ok_or_else(|| {
                    UsageError(format!("--scope {s}: expected database, app or both"))
                })
            })
            .transpose()?;
        let block = match self.block.as_deref() {
            None => Block::Database,
            Some(_) if mode == Mode::ReadOnly => {
                return Err(UsageError(
                    "--block is for `maintenance on` (read-only blocks writes, not connections)"
                        .into(),
                ));
            }
            Some(b) => Block::parse(b)
                .ok_or_else(|| UsageError(format!("--block {b}: expected database or roles")))?,
        };
        if self.super_read_only && mode == Mode::Maintenance {
            return Err(UsageError("--super-read-only is for `read-only on`".into()));
        }
        let lease = match self.lease.as_deref() {
            Some(l) => Some(duration("--lease", l)?),
            None => config.modes.lease,
        };
        if lease.is_some_and(|l| l.is_zero()) {
            return Err(UsageError(
                "--lease 0s: a lease must be longer than zero".into(),
            ));
        }
        let drain = match self.drain.as_deref() {
            Some(d) => duration("--drain", d)?,
            None => config.modes.drain.unwrap_or(Duration::from_secs(10)),
        };
        let max_wait = self
            .max_wait
            .as_deref()
            .map(|m| duration("--max-wait", m))
            .transpose()?;
        let flag_file = match self.flag_file {
            Some(path) => {
                let format = match self.flag_format.as_deref() {
                    Some(f) => FlagFormat::parse(f).ok_or_else(|| {
                        UsageError(format!("--flag-format {f}: expected env or json"))
                    })?,
                    None => FlagFormat::for_path(&path),
                };
                if path.file_name().is_none() || path.is_dir() {
                    return Err(UsageError(format!(
                        "--flag-file {}: expected a file path",
                        path.display()
                    )));
                }
                Some(FlagFile { path, format })
            }
            None => None,
        };
        let app_roles: Vec<String> = if self.app_roles.is_empty() {
            config.modes.app_roles.clone()
        } else {
            self.app_roles
                .into_iter()
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect()
        };
        Ok(OnSettings {
            url,
            mode,
            journal_dir,
            scope,
            lease,
            hold: self.hold.then_some(Hold {
                command: self.command,
            }),
            drain,
            terminate: !self.no_terminate,
            options: ModeOptions {
                app_roles,
                block,
                server_wide: self.server_wide,
                super_read_only: self.super_read_only,
            },
            app_url: self.app_url.filter(|u| !u.trim().is_empty()),
            pgbouncer: if self.no_pgbouncer {
                None
            } else {
                pgbouncer(config, max_wait)
            },
            hooks: hooks(config, mode),
            flag_file,
        })
    }
}
