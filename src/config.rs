//! `migsafe.toml`: schema, discovery (walking up from the working directory) and validation.

use crate::classify::Level;
use crate::model::Severity;
use crate::rules::{self, Version};
use crate::sql::Dialect;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "migsafe.toml";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    dialect: Option<String>,
    target_version: Option<toml::Value>,
    migrations: Option<Vec<String>>,
    layout: Option<String>,
    fail_on: Option<String>,
    #[serde(default)]
    rules: BTreeMap<String, String>,
    #[serde(default)]
    integrity: crate::integrity::RawIntegrityConfig,
    #[serde(default)]
    backup: crate::cli::backup::RawBackupConfig,
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
    pub target_version: Option<Version>,
    pub migrations: Vec<PathBuf>,
    pub layout: Option<String>,
    pub fail_on: Option<String>,
    pub rules: BTreeMap<String, Level>,
    /// `[[integrity.assert]]`: custom assertions for `integrity-check`.
    pub integrity_asserts: Vec<crate::integrity::Assertion>,
    /// `[backup]`: defaults for `backup` and `restore`.
    pub backup: crate::cli::backup::BackupConfig,
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
        if let Some(l) = &raw.layout
            && crate::migrations::Layout::parse(l).is_none()
        {
            return Err(invalid(format!("layout = \"{l}\": unknown layout")));
        }
        if let Some(f) = &raw.fail_on
            && !matches!(f.as_str(), "destructive" | "risky" | "caution" | "never")
        {
            return Err(invalid(format!(
                "fail_on = \"{f}\": expected destructive, risky, caution or never"
            )));
        }
        let integrity_asserts =
            crate::integrity::validate_assertions(raw.integrity).map_err(invalid)?;
        let backup = raw.backup.validate(&base).map_err(invalid)?;
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
            target_version,
            migrations: raw
                .migrations
                .unwrap_or_default()
                .into_iter()
                .map(|m| base.join(m))
                .collect(),
            layout: raw.layout,
            fail_on: raw.fail_on,
            rules: rules_out,
            integrity_asserts,
            backup,
            placeholders: raw.check.placeholders,
            mysql_strict_mode: raw.mysql.strict_mode.unwrap_or(false),
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
}
