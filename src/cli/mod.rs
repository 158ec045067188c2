//! Command-line definitions (clap) and their validation into settings; no work happens here.

use crate::classify::CheckOptions;
use crate::config::Config;
use crate::migrations::{Layout, TxSetting};
use crate::model::FailOn;
use crate::report::Format;
use crate::rules::Version;
use crate::sql::Dialect;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;

pub mod apply;
pub mod backup;
pub mod dry_run;
pub mod integrity;
pub mod modes;
pub mod recover;
mod values;

#[derive(Debug, Parser)]
#[command(
    name = "migsafe",
    version,
    about = "Makes database schema migrations safe to ship",
    propagate_version = true
)]
pub struct Cli {
    /// Config file (default: migsafe.toml found by walking up from the working directory)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// No progress bars
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// When to use colour (honours NO_COLOR)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Database URL (default: DATABASE_URL; printed only with the password masked); `check` uses only its scheme, to pick the dialect
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Classify migrations statically: safe, caution, risky, destructive or unknown
    #[command(visible_alias = "lint")]
    Check(CheckArgs),
    /// Is this database sound? Read-only checks, cheapest first, within a time budget
    IntegrityCheck(integrity::IntegrityArgs),
    /// Apply migrations to a throwaway database: errors, locks, rewrites, schema diff, dynamic verdicts
    DryRun(dry_run::DryRunArgs),
    /// Back up the database (verified, checksummed, atomic); verify, list and prune backups
    Backup(backup::BackupArgs),
    /// Put the database back as it was at a backup, after proving the backup and the target ready
    Restore(backup::RestoreArgs),
    /// Write a commented migsafe.toml for this repository (and, with --ci, a CI workflow)
    Init(InitArgs),
    /// Print a shell completion script: `migsafe completions bash > /etc/bash_completion.d/migsafe`
    Completions {
        /// bash, zsh or fish
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print a man page (roff): `migsafe man > ~/.local/share/man/man1/migsafe.1`, `migsafe man check`
    Man {
        /// A subcommand, for its own page (migsafe-check.1)
        command: Option<String>,
    },
    /// What a live database has applied: applied, pending (with verdicts), modified, missing, failed
    Status(apply::StatusArgs),
    /// Apply pending migrations safely and record them in the migration tool's history table
    Apply(apply::ApplyArgs),
    /// End unfinished operations (an interrupted restore) from their journal: resume or abort
    Recover(recover::RecoverArgs),
    /// Make the database refuse application writes (and prove it), or switch back: on, off, status
    ReadOnly(modes::ModeArgs),
    /// Keep every application connection out (and prove it), or let them back: on, off, status
    Maintenance(modes::ModeArgs),
    /// Start an ephemeral server, print where it lives, keep it until stdin closes (for tests
    /// and debugging the launcher)
    #[command(hide = true)]
    DebugEphemeral {
        /// postgres, mysql or sqlite
        engine: String,
    },
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Migration files, folders or glob patterns (default: `migrations` from the config)
    pub paths: Vec<PathBuf>,
    /// Check only this dialect: postgres, mysql or sqlite; files written for others are listed as skipped (default: the config's `dialect`, else DATABASE_URL's scheme, else every dialect the files' folders and names say, generic files as postgres)
    #[arg(long, ignore_case = true)]
    pub dialect: Option<Dialect>,
    /// Server version the rules assume, e.g. 15 or 8.0.12 (default per dialect: 15, 8.0, 3.35)
    #[arg(long, value_name = "VERSION")]
    pub target_version: Option<String>,
    /// Force a folder layout instead of detecting it
    #[arg(long, value_name = "LAYOUT", ignore_case = true)]
    pub layout: Option<Layout>,
    /// Output format
    #[arg(
        long,
        default_value = "human",
        value_name = "human|json|sarif|github|markdown"
    )]
    pub format: Format,
    /// Lowest verdict that fails the run (unknown gates like risky)
    #[arg(long, value_name = "destructive|risky|caution|never")]
    pub fail_on: Option<FailOn>,
    /// Judge only migration files added or changed since this git revision
    #[arg(long, value_name = "GIT_REV")]
    pub since: Option<String>,
    /// Human output: why and safer under every finding (not once per rule), every file and every skipped file
    #[arg(long, short)]
    pub verbose: bool,
    /// Print a rule's documentation and exit (--format human, markdown or json)
    #[arg(long, value_name = "RULE", conflicts_with = "list_rules")]
    pub explain: Option<String>,
    /// List every rule and exit (--format human, json, sarif or markdown)
    #[arg(long)]
    pub list_rules: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Also write a CI workflow: .github/workflows/migsafe.yml or .gitlab-ci.migsafe.yml
    #[arg(long, value_enum, value_name = "github|gitlab")]
    pub ci: Option<Ci>,
    /// Replace files that already exist
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Ci {
    Github,
    Gitlab,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// A usage or configuration problem: exit code 2 with this message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Everything `check` needs, validated.
#[derive(Debug)]
pub struct CheckSettings {
    pub paths: Vec<PathBuf>,
    pub layout: Option<Layout>,
    pub format: Format,
    pub since: Option<String>,
    /// `options.dialect` is the selected dialect, else the dialect of generic files.
    pub options: CheckOptions,
    /// `--dialect`, the config's `dialect` or DATABASE_URL's scheme: check only this dialect.
    pub select: Option<Dialect>,
    /// `[migrations] transaction`.
    pub transaction: TxSetting,
    pub color: bool,
    pub progress: bool,
    pub verbose: bool,
}

pub enum CheckAction {
    Run(CheckSettings),
    Explain(&'static crate::rules::RuleMeta, Format),
    ListRules(Format),
}

/// The scheme of a database URL (`postgres://…` → postgres), never more of it.
pub fn url_dialect(url: &str) -> Option<Dialect> {
    let scheme = url
        .split_once("://")
        .map(|(s, _)| s)
        .or_else(|| url.split_once(':').map(|(s, _)| s))?;
    Dialect::parse(scheme.split('+').next().unwrap_or(scheme))
}

/// The dialect the nearest folder named after one says (`migrations/mysql`, `db/sqlite3`), for
/// commands that run one dialect for all their paths.
fn path_dialect(paths: &[PathBuf]) -> Option<Dialect> {
    paths.iter().find_map(|p| {
        p.components()
            .rev()
            .filter_map(|c| c.as_os_str().to_str())
            .find_map(crate::migrations::dialect::component)
            .and_then(|named| match named {
                crate::migrations::dialect::Named::Known(d) => Some(d),
                crate::migrations::dialect::Named::Other(_) => None,
            })
    })
}

pub fn use_color(choice: ColorChoice, machine: bool) -> bool {
    if machine {
        return false;
    }
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

impl CheckArgs {
    pub fn resolve(self, cli: &CliGlobals, config: &Config) -> Result<CheckAction, UsageError> {
        let format = self.format;
        if let Some(rule) = self.explain {
            let known = crate::report::rules_doc::all()
                .into_iter()
                .find(|m| m.name == rule);
            let Some(meta) = known else {
                let hint = crate::classify::closest_rule(&rule)
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                return Err(UsageError(format!(
                    "--explain {rule}: unknown rule; {hint}see `migsafe check --list-rules`"
                )));
            };
            return match format {
                Format::Human | Format::Markdown | Format::Json => {
                    Ok(CheckAction::Explain(meta, format))
                }
                other => Err(UsageError(format!(
                    "--explain with --format {}: a rule's documentation is printed as human, markdown or json",
                    other.as_str()
                ))),
            };
        }
        if self.list_rules {
            return match format {
                Format::Github => Err(UsageError(
                    "--list-rules with --format github: GitHub workflow commands annotate findings, not rules; use human, json, sarif or markdown".to_string(),
                )),
                f => Ok(CheckAction::ListRules(f)),
            };
        }
        let paths = migration_paths(self.paths, config, "check")?;
        // else the run's dialect, when the config or DATABASE_URL says it
        let select = self.dialect.or_else(|| {
            config
                .dialect
                .or_else(|| cli.database_url.as_deref().and_then(url_dialect))
        });
        let dialect = select.unwrap_or(Dialect::Postgres);
        let target_version = match self.target_version {
            Some(v) => Some(Version::parse(&v).ok_or_else(|| {
                UsageError(format!(
                    "--target-version {v}: expected a version such as 15 or 8.0.12"
                ))
            })?),
            None => config.target_version,
        };
        let layout = self.layout.or(config.layout);
        let fail_on = self.fail_on.or(config.fail_on).unwrap_or(FailOn::Risky);
        Ok(CheckAction::Run(CheckSettings {
            paths,
            layout,
            format,
            since: self.since,
            options: CheckOptions {
                dialect,
                target_version,
                fail_on,
                rule_levels: config.rules.clone().into_iter().collect(),
                placeholders: config.placeholders.clone(),
                mysql_strict: config.mysql_strict_mode,
            },
            select,
            transaction: config.transaction,
            color: use_color(cli.color, format.is_machine()),
            progress: !cli.quiet && !format.is_machine(),
            verbose: self.verbose,
        }))
    }
}

/// The warning for a `--database-url` given with a password on the command line, where every
/// local user sees it (`ps`, /proc/<pid>/cmdline); `None` when there is nothing to warn about.
/// The URL's own text never appears in it. Values after `--` are not options.
pub fn argv_password_warning(args: &[String]) -> Option<String> {
    let mut it = args.iter().skip(1).take_while(|a| *a != "--");
    let mut url = None;
    while let Some(a) = it.next() {
        if a == "--database-url" {
            url = it.next().cloned();
        } else if let Some(v) = a.strip_prefix("--database-url=") {
            url = Some(v.to_string());
        }
    }
    let url = url?;
    let has_password = crate::engines::url::DbUrl::parse(&url)
        .map(|u| u.password.is_some())
        // a URL that does not parse may still hold one: warn when redaction hides anything
        .unwrap_or_else(|_| crate::engines::url::redact(&url) != url);
    has_password.then(|| {
        "warning: the password in --database-url is visible to every user of this machine (ps, \
         /proc); set the URL in the DATABASE_URL environment variable instead (or \
         [env.<name>] url_env in migsafe.toml), or keep the password in PGPASSFILE / ~/.pgpass \
         (PostgreSQL tools) and leave it out of the URL"
            .to_string()
    })
}

/// The global flags commands need after parsing.
pub struct CliGlobals {
    pub color: ColorChoice,
    pub quiet: bool,
    pub database_url: Option<String>,
}

/// Whether the command line asks for JSON output (`--format json`, `--output json`, or their
/// `=` forms): an error that stops the command (exit 2) is then also printed on stdout as a JSON
/// error object, so a pipeline reading stdout gets JSON either way.
pub fn wants_json<I: IntoIterator<Item = String>>(args: I) -> bool {
    let args: Vec<String> = args.into_iter().collect();
    args.iter().enumerate().any(|(i, a)| {
        matches!(a.as_str(), "--format" | "--output")
            && args.get(i + 1).is_some_and(|v| v == "json")
            || a == "--format=json"
            || a == "--output=json"
    })
}

/// The migrations a command runs on: the paths given, else `migrations = [...]` of migsafe.toml.
pub(crate) fn migration_paths(
    given: Vec<PathBuf>,
    config: &Config,
    command: &str,
) -> Result<Vec<PathBuf>, UsageError> {
    let paths = if given.is_empty() {
        config.migrations.clone()
    } else {
        given
    };
    if paths.is_empty() {
        return Err(UsageError(format!(
            "no migrations given: pass files or folders (e.g. `migsafe {command} db/migrations`) or set `migrations = [...]` in migsafe.toml"
        )));
    }
    Ok(paths)
}

/// `--format` of the commands that render a report as text, JSON or a markdown comment
/// (dry-run, status, apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Human,
    Json,
    Markdown,
}

impl ReportFormat {
    pub(crate) fn parse(s: &str) -> Result<ReportFormat, UsageError> {
        match s {
            "human" | "text" => Ok(ReportFormat::Human),
            "json" => Ok(ReportFormat::Json),
            "markdown" | "md" => Ok(ReportFormat::Markdown),
            other => Err(UsageError(format!(
                "--format {other}: expected human, json or markdown"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialect_hints() {
        assert_eq!(
            url_dialect("postgresql://u:p@h/db"),
            Some(Dialect::Postgres)
        );
        assert_eq!(url_dialect("mysql://h/db"), Some(Dialect::Mysql));
        assert_eq!(url_dialect("sqlite:app.db"), Some(Dialect::Sqlite));
        assert_eq!(url_dialect("nonsense"), None);
        assert_eq!(
            path_dialect(&[PathBuf::from("db/mysql/migrations")]),
            Some(Dialect::Mysql)
        );
        assert_eq!(path_dialect(&[PathBuf::from("db/migrations")]), None);
        assert_eq!(
            path_dialect(&[PathBuf::from("fixtures/dry_run/sqlite_basic")]),
            Some(Dialect::Sqlite)
        );
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
