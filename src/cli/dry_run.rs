//! `migsafe dry-run` arguments and their validation into settings.

use super::{
    CliGlobals, ReportFormat, UsageError, migration_paths, path_dialect, url_dialect, use_color,
};
use crate::classify::CheckOptions;
use crate::config::Config;
use crate::dry_run::vendor::Vendor;
use crate::dry_run::{DryRunSettings, Start};
use crate::engines::{EngineKind, redact_url, template};
use crate::migrations::Layout;
use crate::model::FailOn;
use crate::rules::Version;
use crate::sql::Dialect;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DryRunArgs {
    /// Migration files, folders or glob patterns (default: `migrations` from the config)
    pub paths: Vec<PathBuf>,
    /// Engine (default: config, then the scheme of --schema-from/--scratch-url/DATABASE_URL, then folder names, else postgres)
    #[arg(long, value_name = "postgres|mysql|sqlite")]
    pub dialect: Option<String>,
    /// Force a folder layout instead of detecting it
    #[arg(long, value_name = "LAYOUT", ignore_case = true)]
    pub layout: Option<Layout>,
    /// Output format
    #[arg(long, default_value = "human", value_name = "human|json|markdown")]
    pub format: String,
    /// Only migrations added or changed since this git revision are new; older ones are applied quietly first
    #[arg(long, value_name = "GIT_REV")]
    pub since: Option<String>,
    /// Only migrations the live database (DATABASE_URL, or --schema-from) has not applied are new
    #[arg(long)]
    pub pending: bool,
    /// Start from the live schema of this database (schema only, plus its migration history) and apply what is pending
    #[arg(long, value_name = "DATABASE_URL", conflicts_with = "from_backup")]
    pub schema_from: Option<String>,
    /// Start from a backup: a pg_dump file (custom, directory or plain SQL), a migsafe backup manifest, a MySQL SQL dump, or a SQLite database
    #[arg(long, value_name = "FILE")]
    pub from_backup: Option<PathBuf>,
    /// Fill every pre-existing table with N generated rows before the new migrations run
    #[arg(long, value_name = "N")]
    pub seed_rows: Option<u64>,
    /// Use a uniquely named scratch database on this server instead of an ephemeral one (dropped afterwards)
    #[arg(long, value_name = "URL")]
    pub scratch_url: Option<String>,
    /// Run up → down → up for each new migration with a down part and report schema differences
    #[arg(long)]
    pub check_down: bool,
    /// Server version to match, e.g. 15 (warns when the dry-run server differs)
    #[arg(long, value_name = "VERSION")]
    pub target_version: Option<String>,
    /// PostgreSQL `bin` folder to start the ephemeral server from
    #[arg(long, value_name = "DIR")]
    pub pg_bin_dir: Option<PathBuf>,
    /// Also fail (exit 1) when the combined static+dynamic verdict reaches this level
    #[arg(
        long,
        default_value = "never",
        value_name = "never|destructive|risky|caution"
    )]
    pub fail_on: FailOn,
    /// Do not use or store cached server templates
    #[arg(long)]
    pub no_cache: bool,
    /// MySQL-protocol runs: refuse (exit 2) when the dry-run server is not of this vendor
    #[arg(long, value_name = "mysql|mariadb")]
    pub require_server: Option<String>,
}

/// Everything `dry-run` needs, validated.
#[derive(Debug, Clone)]
pub struct DryRunCommand {
    pub settings: DryRunSettings,
    pub format: ReportFormat,
    pub color: bool,
    pub progress: bool,
}

/// The vendor MySQL-protocol migrations are written for: named by `--dialect` or the config,
/// implied by `--require-server` or a release number of one vendor in `--target-version`, or
/// named by the nearest `mysql`/`mariadb` folder or a `mariadb://` URL. `None` when nothing
/// says: the dry-run then takes the live database's vendor, else MySQL.
fn target_vendor(
    named: Option<Vendor>,
    required: Option<Vendor>,
    version: Option<Version>,
    paths: &[PathBuf],
    url: Option<&str>,
) -> Option<Vendor> {
    let folder = || {
        paths.iter().find_map(|p| {
            p.components().rev().find_map(|c| {
                let name = c.as_os_str().to_str()?.to_ascii_lowercase();
                Vendor::parse(name.trim_end_matches(|ch: char| !ch.is_ascii_alphabetic()))
            })
        })
    };
    let scheme = || {
        url.filter(|u| u.to_ascii_lowercase().starts_with("mariadb:"))
            .map(|_| Vendor::Mariadb)
    };
    named
        .or(required)
        .or_else(|| version.and_then(Vendor::of_version))
        .or_else(folder)
        .or_else(scheme)
}

fn engine_of(d: Dialect) -> EngineKind {
    match d {
        Dialect::Postgres => EngineKind::Postgres,
        Dialect::Mysql => EngineKind::Mysql,
        Dialect::Sqlite => EngineKind::Sqlite,
    }
}

impl DryRunArgs {
    pub fn resolve(
        mut self,
        cli: &CliGlobals,
        config: &Config,
    ) -> Result<DryRunCommand, UsageError> {
        let format = ReportFormat::parse(&self.format)?;
        let paths = migration_paths(self.paths, config, "dry-run")?;
        let url_hint = self
            .schema_from
            .as_deref()
            .or(self.scratch_url.as_deref())
            .or(cli.database_url.as_deref());
        let dialect = match &self.dialect {
            Some(d) => Dialect::parse(d).ok_or_else(|| {
                UsageError(format!("--dialect {d}: expected postgres, mysql or sqlite"))
            })?,
            None => config
                .dialect
                .or_else(|| url_hint.and_then(url_dialect))
                .or_else(|| path_dialect(&paths))
                .unwrap_or(Dialect::Postgres),
        };
        let engine = engine_of(dialect);
        for (flag, url) in [
            ("--schema-from", &self.schema_from),
            ("--scratch-url", &self.scratch_url),
        ] {
            if let Some(u) = url {
                match url_dialect(u) {
                    Some(d) if d == dialect => {}
                    Some(d) => {
                        return Err(UsageError(format!(
                            "{flag} {}: a {} URL, but the migrations are {}; pass a {} URL or --dialect {}",
                            redact_url(u),
                            d.as_str(),
                            dialect.as_str(),
                            dialect.as_str(),
                            d.as_str()
                        )));
                    }
                    None => {
                        return Err(UsageError(format!(
                            "{flag} {}: expected a postgres://, mysql:// or sqlite: URL",
                            redact_url(u)
                        )));
                    }
                }
            }
        }
        if self.scratch_url.is_some() && engine == EngineKind::Sqlite {
            return Err(UsageError("--scratch-url needs a PostgreSQL or MySQL server; SQLite dry-runs always use a temporary file".into()));
        }
        self.from_backup = self
            .from_backup
            .map(|b| super::backup::backup_path_arg(b, config));
        if let Some(b) = &self.from_backup
            && !b.exists()
        {
            return Err(UsageError(format!(
                "--from-backup {}: no such file",
                b.display()
            )));
        }
        if self.pending
            && self.schema_from.is_none()
            && self.from_backup.is_none()
            && cli.database_url.is_none()
        {
            return Err(UsageError("--pending needs the live database to read its migration history: set DATABASE_URL (or --database-url), or use --schema-from".into()));
        }
        if self.seed_rows == Some(0) || self.seed_rows.is_some_and(|n| n > 10_000_000) {
            return Err(UsageError(
                "--seed-rows: expected a number from 1 to 10000000".into(),
            ));
        }
        let target_version = match &self.target_version {
            Some(v) => Some(Version::parse(v).ok_or_else(|| {
                UsageError(format!(
                    "--target-version {v}: expected a version such as 15 or 10.11"
                ))
            })?),
            None => config.target_version,
        };
        let layout = self.layout.or(config.layout);
        let fail_on = self.fail_on;
        if let Some(d) = &self.pg_bin_dir
            && !d.is_dir()
        {
            return Err(UsageError(format!(
                "--pg-bin-dir {}: no such folder",
                d.display()
            )));
        }
        let require_server = match &self.require_server {
            Some(v) => Some(Vendor::parse(v).ok_or_else(|| {
                UsageError(format!("--require-server {v}: expected mysql or mariadb"))
            })?),
            None => None,
        };
        let named = self.dialect.as_deref().and_then(Vendor::parse).or_else(|| {
            self.dialect
                .is_none()
                .then(|| config.dialect_name.as_deref().and_then(Vendor::parse))
                .flatten()
        });
        let target_vendor = if engine == EngineKind::Mysql {
            if let (Some(n), Some(r)) = (named, require_server)
                && n != r
            {
                return Err(UsageError(format!(
                    "--require-server {}: the migrations are declared as {} (dialect {}); require a {} server or change the dialect",
                    r.as_str(),
                    n.product(),
                    n.as_str(),
                    n.as_str()
                )));
            }
            if let (Some(n), Some(v)) = (named.or(require_server), target_version)
                && let Some(other) = Vendor::of_version(v).filter(|o| *o != n)
            {
                return Err(UsageError(format!(
                    "--target-version {v}: a {} release, but the migrations are declared as {}; give a {} version",
                    other.product(),
                    n.product(),
                    n.product()
                )));
            }
            target_vendor(named, require_server, target_version, &paths, url_hint)
        } else {
            if require_server.is_some() {
                return Err(UsageError(format!(
                    "--require-server applies to MySQL and MariaDB dry-runs, but the migrations are checked as {}",
                    dialect.as_str()
                )));
            }
            None
        };
        let start = match (self.schema_from, self.from_backup) {
            (Some(u), _) => Start::SchemaFrom(u),
            (None, Some(b)) => Start::FromBackup(b),
            (None, None) => Start::Scratch,
        };
        let machine = format != ReportFormat::Human;
        Ok(DryRunCommand {
            settings: DryRunSettings {
                paths,
                layout,
                engine,
                start,
                scratch_url: self.scratch_url,
                since: self.since,
                pending: self.pending,
                live_url: cli.database_url.clone(),
                seed_rows: self.seed_rows,
                check_down: self.check_down,
                pg_bin_dir: self.pg_bin_dir,
                check: CheckOptions {
                    dialect,
                    target_version,
                    fail_on,
                    rule_levels: config.rules.clone().into_iter().collect(),
                    placeholders: config.placeholders.clone(),
                    mysql_strict: config.mysql_strict_mode,
                },
                target_vendor,
                require_server,
                cache: if self.no_cache {
                    None
                } else {
                    template::cache_root()
                },
            },
            format,
            color: use_color(cli.color, machine),
            progress: !cli.quiet && !machine,
        })
    }
}
