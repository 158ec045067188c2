//! `[env.NAME]` and `[apply]` in `migsafe.toml`, validated.
//!
//! ```toml
//! [env.staging]
//! url_env = "STAGING_DATABASE_URL"   # or url = "postgres://…"
//!
//! [env.production]
//! url_env = "PRODUCTION_DATABASE_URL"
//! staging = "staging"                # must have applied the same migrations first (default
//!                                    # for an env named production when staging exists)
//!
//! [apply]
//! lock_timeout = "2s"                # per statement; a lock wait longer than this is retried
//! statement_timeout = "15min"        # "0" for none
//! retries = 5
//! backoff = "1s"                     # first wait, doubled per try, with jitter
//! backoff_max = "30s"
//! lock_wait = "10min"                # for the migration lock held by another applier
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnv {
    url: Option<String>,
    url_env: Option<String>,
    staging: Option<String>,
}

/// One environment: where its database URL comes from, and which environment must have applied
/// a migration before it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvConfig {
    pub url: Option<String>,
    pub url_env: Option<String>,
    pub staging: Option<String>,
}

impl EnvConfig {
    /// The URL, from the config or the environment variable it names; `Err` says what is missing.
    pub fn resolve(&self, name: &str) -> Result<String, String> {
        if let Some(u) = &self.url {
            return Ok(u.clone());
        }
        let var = self.url_env.as_deref().unwrap_or_default();
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(format!(
                "[env.{name}] takes its URL from ${var}, which is not set on this machine"
            )),
        }
    }
}

pub fn validate_envs(raw: BTreeMap<String, RawEnv>) -> Result<BTreeMap<String, EnvConfig>, String> {
    let names: Vec<String> = raw.keys().cloned().collect();
    let mut out = BTreeMap::new();
    for (name, r) in raw {
        match (&r.url, &r.url_env) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "[env.{name}]: give either url or url_env, not both"
                ));
            }
            (None, None) => {
                return Err(format!(
                    "[env.{name}]: needs url = \"…\" or url_env = \"VARIABLE\" (the variable that holds the URL)"
                ));
            }
            _ => {}
        }
        let staging = match r.staging {
            Some(s) if s == name => {
                return Err(format!(
                    "[env.{name}] staging = \"{s}\": an environment cannot be its own staging"
                ));
            }
            Some(s) if !names.contains(&s) => {
                return Err(format!(
                    "[env.{name}] staging = \"{s}\": no [env.{s}] in this file"
                ));
            }
            Some(s) => Some(s),
            None if name == "production" && names.iter().any(|n| n == "staging") => {
                Some("staging".to_string())
            }
            None => None,
        };
        out.insert(
            name,
            EnvConfig {
                url: r.url,
                url_env: r.url_env,
                staging,
            },
        );
    }
    Ok(out)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApply {
    lock_timeout: Option<String>,
    statement_timeout: Option<String>,
    retries: Option<u32>,
    backoff: Option<String>,
    backoff_max: Option<String>,
    lock_wait: Option<String>,
}

/// `[apply]`, validated; `None` where the file is silent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyConfig {
    pub lock_timeout: Option<Duration>,
    /// `Some(None)`: explicitly no statement timeout.
    pub statement_timeout: Option<Option<Duration>>,
    pub retries: Option<u32>,
    pub backoff: Option<Duration>,
    pub backoff_max: Option<Duration>,
    pub lock_wait: Option<Duration>,
}

/// A duration such as `2s`, `500ms` or `15min`; `what` names the setting in errors.
pub fn duration(what: &str, v: &str) -> Result<Duration, String> {
    humantime::parse_duration(v.trim())
        .map_err(|e| format!("{what} = \"{v}\": {e} (expected e.g. \"2s\", \"500ms\", \"15min\")"))
}

impl RawApply {
    pub fn validate(self, _envs: &BTreeMap<String, EnvConfig>) -> Result<ApplyConfig, String> {
        let d = |what: &str, v: &Option<String>| -> Result<Option<Duration>, String> {
            v.as_deref().map(|v| duration(what, v)).transpose()
        };
        let lock_timeout = d("[apply] lock_timeout", &self.lock_timeout)?;
        if lock_timeout == Some(Duration::ZERO) {
            return Err("[apply] lock_timeout = \"0\": an apply never waits for locks without a bound; give a duration such as \"2s\"".into());
        }
        let statement_timeout = match self.statement_timeout.as_deref().map(str::trim) {
            None => None,
            Some("0") | Some("none") => Some(None),
            Some(v) => Some(Some(duration("[apply] statement_timeout", v)?)),
        };
        Ok(ApplyConfig {
            lock_timeout,
            statement_timeout,
            retries: self.retries,
            backoff: d("[apply] backoff", &self.backoff)?,
            backoff_max: d("[apply] backoff_max", &self.backoff_max)?,
            lock_wait: d("[apply] lock_wait", &self.lock_wait)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(url: Option<&str>, var: Option<&str>, staging: Option<&str>) -> RawEnv {
        RawEnv {
            url: url.map(String::from),
            url_env: var.map(String::from),
            staging: staging.map(String::from),
        }
    }

    #[test]
    fn environments_validate() {
        let mut raw = BTreeMap::new();
        raw.insert(
            "staging".to_string(),
            env(Some("postgres://s/db"), None, None),
        );
        raw.insert("production".to_string(), env(None, Some("PROD_URL"), None));
        let v = validate_envs(raw.clone()).unwrap();
        assert_eq!(
            v["production"].staging.as_deref(),
            Some("staging"),
            "the default promotion"
        );
        raw.insert("qa".to_string(), env(None, None, None));
        assert!(validate_envs(raw.clone()).unwrap_err().contains("[env.qa]"));
        raw.insert("qa".to_string(), env(Some("x"), None, Some("nope")));
        assert!(validate_envs(raw).unwrap_err().contains("no [env.nope]"));
    }

    #[test]
    fn apply_settings_validate() {
        let raw = RawApply {
            lock_timeout: Some("3s".into()),
            statement_timeout: Some("0".into()),
            retries: Some(2),
            ..RawApply::default()
        };
        let a = raw.validate(&BTreeMap::new()).unwrap();
        assert_eq!(a.lock_timeout, Some(Duration::from_secs(3)));
        assert_eq!(a.statement_timeout, Some(None));
        let bad = RawApply {
            lock_timeout: Some("soon".into()),
            ..RawApply::default()
        };
        assert!(
            bad.validate(&BTreeMap::new())
                .unwrap_err()
                .contains("lock_timeout")
        );
    }
}
