//! `migsafe.toml`: schema, discovery (walking up from the working directory) and validation.

use crate::classify::Level;
use crate::engines::postgres::backup::PgFormat;
use crate::migrations::TxSetting;
use crate::model::Severity;
use crate::rules::{self, Version};
use crate::sql::Dialect;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod modes;

pub const FILE_NAME: &str = "migsafe.toml";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    dialect: Option<String>,
    target_version: Option<toml::Value>,
    /// A list of paths, or a `[migrations]` table (`paths`, `layout`, `transaction`).
    migrations: Option<toml::Value>,
    layout: Option<String>,
    fail_on: Option<String>,
    #[serde(default)]
    rules: BTreeMap<String, String>,
    #[serde(default)]
    integrity: crate::integrity::RawIntegrityConfig,
    #[serde(default)]
    backup: RawBackupConfig,
    #[serde(default)]
    hooks: modes::RawHooks,
    #[serde(default)]
    pgbouncer: modes::RawPgBouncer,
    #[serde(default)]
    modes: modes::RawModes,
    #[serde(default)]
    env: BTreeMap<String, crate::apply::config::RawEnv>,
    #[serde(default)]
    apply: crate::apply::config::RawApply,
    #[serde(default)]
    check: RawCheck,
    #[serde(default)]
    mysql: RawMysql,
}

/// `[check]`: settings of `migsafe check`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    /// Template placeholder name → value (`${schema}`, `{{ .Schema }}`, `{$prefix}`).
    #[serde(default)]
    placeholders: BTreeMap<String, String>,
}

/// `[mysql]`: facts about the MySQL/MariaDB servers the migrations run on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMysql {
    /// The servers run with a strict SQL mode (STRICT_TRANS_TABLES or STRICT_ALL_TABLES).
    strict_mode: Option<bool>,
}

/// A validated config file.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file it was read from (relative paths in it are relative to its folder).
    pub path: Option<PathBuf>,
    pub dialect: Option<Dialect>,
    /// `dialect` as written, lower-cased (`mariadb` and `mysql` are one dialect but two vendors).
    pub dialect_name: Option<String>,
    pub target_version: Option<Version>,
    pub migrations: Vec<PathBuf>,
    pub layout: Option<crate::migrations::Layout>,
    /// `[migrations] transaction`: how the migrator runs files where it lets you choose.
    pub transaction: TxSetting,
    pub fail_on: Option<crate::model::FailOn>,
    pub rules: BTreeMap<String, Level>,
    /// `[[integrity.assert]]`: custom assertions for `integrity-check`.
    pub integrity_asserts: Vec<crate::integrity::Assertion>,
    /// `[backup]`: defaults for `backup` and `restore`.
    pub backup: BackupConfig,
    /// `[hooks]`, `[pgbouncer]`, `[modes]`: the read-only and maintenance modes.
    pub hooks: modes::HooksConfig,
    pub pgbouncer: modes::PgBouncerConfig,
    pub modes: modes::ModesConfig,
    /// `[env.NAME]`: databases of named environments (`--env NAME`).
    pub envs: BTreeMap<String, crate::apply::config::EnvConfig>,
    /// `[apply]`: timeouts, retries and the lock wait of `apply`.
    pub apply: crate::apply::config::ApplyConfig,
    /// `[check.placeholders]`
    pub placeholders: BTreeMap<String, String>,
    /// `[mysql] strict_mode`
    pub mysql_strict_mode: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read config: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid config: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    /// `explicit` (from `--config`) must exist; otherwise `migsafe.toml` is searched from `cwd`
    /// upwards and its absence is fine.
    pub fn load(explicit: Option<&Path>, cwd: &Path) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => cwd
                .ancestors()
                .map(|d| d.join(FILE_NAME))
                .find(|p| p.is_file()),
        };
        match path {
            None => Ok(Config::default()),
            Some(p) => {
                let text = std::fs::read_to_string(&p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                Config::parse(&text, &p)
            }
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let invalid = |message: String| ConfigError::Invalid {
            path: shown.clone(),
            message,
        };
        let raw: Raw = toml::from_str(text)
            .map_err(|e| invalid(e.to_string().trim_end().replace('\n', "\n  ")))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let dialect_name = raw
            .dialect
            .as_deref()
            .map(|d| d.trim().to_ascii_lowercase());
        let dialect = match raw.dialect {
            Some(d) => Some(Dialect::parse(&d).ok_or_else(|| {
                invalid(format!(
                    "dialect = \"{d}\": expected postgres, mysql or sqlite"
                ))
            })?),
            None => None,
        };
        let target_version = match raw.target_version {
            Some(v) => {
                let s = match &v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    other => other.to_string(),
                };
                Some(Version::parse(&s).ok_or_else(|| {
                    invalid(format!(
                        "target_version = {v}: expected a version such as \"15\" or \"8.0.12\""
                    ))
                })?)
            }
            None => None,
        };
        let migrations = parse_migrations(raw.migrations).map_err(invalid)?;
        let layout = match (raw.layout, migrations.layout) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "`layout` is set both at the top and in [migrations]; keep one".to_string(),
                ));
            }
            (a, b) => a.or(b),
        };
        let layout = match layout {
            Some(l) => Some(crate::migrations::Layout::parse(&l).ok_or_else(|| {
                let all = crate::migrations::Layout::ALL
                    .iter()
                    .map(|l| l.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                invalid(format!(
                    "layout = \"{l}\": unknown layout; expected one of {all}"
                ))
            })?),
            None => None,
        };
        let fail_on = match &raw.fail_on {
            Some(f) => Some(crate::model::FailOn::parse(f).ok_or_else(|| {
                invalid(format!(
                    "fail_on = \"{f}\": expected destructive, risky, caution or never"
                ))
            })?),
            None => None,
        };
        let integrity_asserts =
            crate::integrity::validate_assertions(raw.integrity).map_err(invalid)?;
        let backup = raw.backup.validate(&base).map_err(invalid)?;
        let hooks = raw.hooks.validate().map_err(invalid)?;
        let pgbouncer = raw.pgbouncer.validate().map_err(invalid)?;
        let modes = raw.modes.validate().map_err(invalid)?;
        let envs = crate::apply::config::validate_envs(raw.env).map_err(&invalid)?;
        let apply = raw.apply.validate(&envs).map_err(&invalid)?;
        let mut rules_out = BTreeMap::new();
        for (name, level) in raw.rules {
            let known =
                rules::find(&name).is_some() || rules::META_RULES.iter().any(|m| m.name == name);
            if !known {
                return Err(invalid(format!(
                    "[rules] {name}: unknown rule (see `migsafe check --list-rules`)"
                )));
            }
            let level = match level.as_str() {
                "off" => Level::Off,
                "error" => Level::Severity(Severity::Error),
                "warning" => Level::Severity(Severity::Warning),
                "info" => Level::Severity(Severity::Info),
                other => {
                    return Err(invalid(format!(
                        "[rules] {name} = \"{other}\": expected off, error, warning or info"
                    )));
                }
            };
            if name == "unknown-statement" && level != Level::Severity(Severity::Error) {
                return Err(invalid(
                    "[rules] unknown-statement cannot be lowered: statements migsafe does not understand always need review (suppress single statements with a reason instead)".to_string(),
                ));
            }
            rules_out.insert(name, level);
        }
        Ok(Config {
            path: Some(path.to_path_buf()),
            dialect,
            dialect_name,
            target_version,
            migrations: migrations.paths.into_iter().map(|m| base.join(m)).collect(),
            layout,
            transaction: migrations.transaction,
            fail_on,
            rules: rules_out,
            integrity_asserts,
            backup,
            hooks,
            pgbouncer,
            modes,
            envs,
            apply,
            placeholders: raw.check.placeholders,
            mysql_strict_mode: raw.mysql.strict_mode.unwrap_or(false),
        })
    }
}

/// `migrations = [...]` or a `[migrations]` table.
#[derive(Default)]
struct MigrationsConfig {
    paths: Vec<String>,
    layout: Option<String>,
    transaction: TxSetting,
}

fn parse_migrations(value: Option<toml::Value>) -> Result<MigrationsConfig, String> {
    let strings = |v: &toml::Value, key: &str| -> Result<Vec<String>, String> {
        v.as_array()
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| format!("{key} must be a list of paths, e.g. [\"db/migrations\"]"))
    };
    let mut out = MigrationsConfig::default();
    match value {
        None => {}
        Some(v @ toml::Value::Array(_)) => out.paths = strings(&v, "migrations")?,
        Some(toml::Value::Table(table)) => {
            for (key, v) in table {
                match key.as_str() {
                    "paths" => out.paths = strings(&v, "[migrations] paths")?,
                    "layout" => {
                        out.layout = Some(
                            v.as_str()
                                .ok_or("[migrations] layout must be a string")?
                                .to_string(),
                        )
                    }
                    "transaction" => {
                        let s = v.as_str().unwrap_or_default();
                        out.transaction = TxSetting::parse(s).ok_or_else(|| {
                            format!(
                                "[migrations] transaction = {v}: expected \"auto\" (what the migrator does by default), \"per-file\" or \"none\""
                            )
                        })?;
                    }
                    other => {
                        return Err(format!(
                            "[migrations] {other}: unknown key; expected paths, layout or transaction"
                        ));
                    }
                }
            }
        }
        Some(other) => {
            return Err(format!(
                "migrations = {other}: expected a list of paths or a [migrations] table"
            ));
        }
    }
    Ok(out)
}

/// `[backup]` in `migsafe.toml`, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackupConfig {
    dir: Option<PathBuf>,
    format: Option<String>,
    jobs: Option<u32>,
    keep: Option<usize>,
    exact_row_limit: Option<u64>,
    drain: Option<String>,
    pg_bin_dir: Option<PathBuf>,
}

/// `[backup]`, validated; relative paths are relative to the config file's folder.
#[derive(Debug, Clone, Default)]
pub struct BackupConfig {
    pub dir: Option<PathBuf>,
    pub format: Option<PgFormat>,
    pub jobs: Option<u32>,
    pub keep: Option<usize>,
    pub exact_row_limit: Option<u64>,
    pub drain: Option<Duration>,
    pub pg_bin_dir: Option<PathBuf>,
}

impl RawBackupConfig {
    pub fn validate(self, base: &Path) -> Result<BackupConfig, String> {
        let format = match self.format.as_deref() {
            None => None,
            Some(f) => Some(PgFormat::parse(f).ok_or_else(|| {
                format!("[backup] format = {f:?}: expected \"custom\", \"directory\" or \"plain\"")
            })?),
        };
        if self.jobs == Some(0) {
            return Err("[backup] jobs = 0: expected 1 or more".into());
        }
        if self.keep == Some(0) {
            return Err(
                "[backup] keep = 0: expected 1 or more (the newest verified backup is always kept)"
                    .into(),
            );
        }
        let drain = match self.drain.as_deref() {
            None => None,
            Some(d) => Some(humantime::parse_duration(d).map_err(|_| {
                format!("[backup] drain = {d:?}: expected a duration such as \"10s\"")
            })?),
        };
        Ok(BackupConfig {
            dir: self.dir.map(|d| base.join(d)),
            format,
            jobs: self.jobs,
            keep: self.keep,
            exact_row_limit: self.exact_row_limit,
            drain,
            pg_bin_dir: self.pg_bin_dir.map(|d| base.join(d)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Config, ConfigError> {
        Config::parse(t, Path::new("/repo/migsafe.toml"))
    }

    #[test]
    fn full_config() {
        let c = parse("dialect = \"mysql\"\ntarget_version = \"8.0.12\"\nmigrations = [\"db\"]\n[rules]\ndrop-table = \"off\"\n").unwrap();
        assert_eq!(c.dialect, Some(Dialect::Mysql));
        assert_eq!(c.target_version, Some(Version::new(8, 0, 12)));
        assert_eq!(c.migrations, vec![PathBuf::from("/repo/db")]);
        assert_eq!(c.rules.get("drop-table"), Some(&Level::Off));
        assert_eq!(
            parse("target_version = 15").unwrap().target_version,
            Some(Version::new(15, 0, 0))
        );
    }

    #[test]
    fn unknown_keys_and_values_are_errors_with_location() {
        let e = parse("dialekt = \"pg\"\n").unwrap_err().to_string();
        assert!(
            e.contains("/repo/migsafe.toml") && e.contains("dialekt") && e.contains("line 1"),
            "{e}"
        );
        assert!(
            parse("[rules]\nno-such-rule = \"off\"\n")
                .unwrap_err()
                .to_string()
                .contains("no-such-rule")
        );
        assert!(
            parse("[rules]\ndrop-table = \"loud\"\n")
                .unwrap_err()
                .to_string()
                .contains("expected off")
        );
        assert!(parse("dialect = \"oracle\"\n").is_err());
        assert!(parse("[rules]\nunknown-statement = \"off\"\n").is_err());
        assert!(parse("this is not toml").is_err());
        assert!(parse("[mysql]\nstrict = true\n").is_err());
        assert!(parse("[check]\nplaceholder = 1\n").is_err());
    }

    #[test]
    fn placeholders_and_mysql_strict_mode() {
        let c = parse("[check.placeholders]\nschema = \"app\"\n\"flyway:defaultSchema\" = \"public\"\n[mysql]\nstrict_mode = true\n").unwrap();
        assert_eq!(
            c.placeholders.get("schema").map(String::as_str),
            Some("app")
        );
        assert_eq!(c.placeholders.len(), 2);
        assert!(c.mysql_strict_mode);
        assert!(!parse("").unwrap().mysql_strict_mode);
    }

    #[test]
    fn migrations_table() {
        let c = parse(
            "[migrations]\npaths = [\"db\"]\nlayout = \"golang-migrate\"\ntransaction = \"none\"\n",
        )
        .unwrap();
        assert_eq!(c.migrations, vec![PathBuf::from("/repo/db")]);
        assert_eq!(c.layout, Some(crate::migrations::Layout::GolangMigrate));
        assert_eq!(c.transaction, TxSetting::None);
        assert_eq!(parse("").unwrap().transaction, TxSetting::Auto);
        let e = parse("[migrations]\ntransaction = \"sometimes\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("per-file") && e.contains("sometimes"), "{e}");
        let e = parse("[migrations]\npath = [\"db\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("[migrations] path: unknown key"), "{e}");
        let e = parse("layout = \"sqlx\"\n[migrations]\nlayout = \"sqlx\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("keep one"), "{e}");
        let e = parse("migrations = \"db\"\n").unwrap_err().to_string();
        assert!(e.contains("expected a list of paths"), "{e}");
        assert!(
            parse("layout = \"liquibase\"\n")
                .unwrap_err()
                .to_string()
                .contains("expected one of sqlx")
        );
    }

    #[test]
    fn config_section_is_validated() {
        let raw: RawBackupConfig =
            toml::from_str("dir = \"bk\"\nformat = \"directory\"\njobs = 4\ndrain = \"5s\"\n")
                .unwrap();
        let c = raw.validate(Path::new("/repo")).unwrap();
        assert_eq!(c.dir, Some(PathBuf::from("/repo/bk")));
        assert_eq!(c.format, Some(PgFormat::Directory));
        assert_eq!(c.drain, Some(Duration::from_secs(5)));
        let bad: RawBackupConfig = toml::from_str("format = \"tar\"\n").unwrap();
        assert!(bad.validate(Path::new("/")).unwrap_err().contains("format"));
        assert!(toml::from_str::<RawBackupConfig>("dirr = \"x\"\n").is_err());
    }
}
