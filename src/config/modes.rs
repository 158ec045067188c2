//! `[hooks]`, `[pgbouncer]` and `[modes]` of `migsafe.toml`: the application layer of the
//! read-only and maintenance modes, the PgBouncer in front of the database, and the defaults of
//! `read-only`/`maintenance on`.

use serde::Deserialize;
use std::time::Duration;

/// `[hooks]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHooks {
    read_only_on: Option<String>,
    read_only_off: Option<String>,
    maintenance_on: Option<String>,
    maintenance_off: Option<String>,
    timeout: Option<String>,
}

/// `[hooks]`, validated: shell commands run with the mode in their environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HooksConfig {
    pub read_only_on: Option<String>,
    pub read_only_off: Option<String>,
    pub maintenance_on: Option<String>,
    pub maintenance_off: Option<String>,
    /// How long a hook may run (default 30 s).
    pub timeout: Duration,
}

impl Default for HooksConfig {
    fn default() -> Self {
        HooksConfig {
            read_only_on: None,
            read_only_off: None,
            maintenance_on: None,
            maintenance_off: None,
            timeout: Duration::from_secs(30),
        }
    }
}

fn duration(section: &str, key: &str, v: &str) -> Result<Duration, String> {
    humantime::parse_duration(v)
        .map_err(|_| format!("[{section}] {key} = {v:?}: expected a duration such as \"30s\""))
}

fn command(key: &str, v: Option<String>) -> Result<Option<String>, String> {
    match v {
        Some(c) if c.trim().is_empty() => Err(format!(
            "[hooks] {key} is empty: remove it or give the command to run"
        )),
        other => Ok(other),
    }
}

impl RawHooks {
    pub fn validate(self) -> Result<HooksConfig, String> {
        let timeout = match self.timeout.as_deref() {
            None => Duration::from_secs(30),
            Some(t) => {
                let d = duration("hooks", "timeout", t)?;
                if d.is_zero() {
                    return Err("[hooks] timeout = \"0s\": expected more than zero".into());
                }
                d
            }
        };
        Ok(HooksConfig {
            read_only_on: command("read_only_on", self.read_only_on)?,
            read_only_off: command("read_only_off", self.read_only_off)?,
            maintenance_on: command("maintenance_on", self.maintenance_on)?,
            maintenance_off: command("maintenance_off", self.maintenance_off)?,
            timeout,
        })
    }
}

/// `[pgbouncer]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPgBouncer {
    admin_url: Option<String>,
    pool: Option<String>,
    max_wait: Option<String>,
}

/// `[pgbouncer]`, validated.
#[derive(Debug, Clone, Default)]
pub struct PgBouncerConfig {
    /// The admin console (`postgres://user@host:6432/pgbouncer`); `MIGSAFE_PGBOUNCER_ADMIN_URL`
    /// overrides it, so the password need not live in the file.
    pub admin_url: Option<String>,
    pub pool: Option<String>,
    pub max_wait: Option<Duration>,
}

impl RawPgBouncer {
    pub fn validate(self) -> Result<PgBouncerConfig, String> {
        if let Some(u) = &self.admin_url {
            let ok = crate::engines::url::DbUrl::parse(u).is_ok_and(|p| {
                p.scheme.starts_with("postgres") && p.database.as_deref() == Some("pgbouncer")
            });
            if !ok {
                return Err(format!(
                    "[pgbouncer] admin_url = {:?}: expected postgres://user@host:port/pgbouncer (the admin console)",
                    crate::engines::redact_url(u)
                ));
            }
        }
        Ok(PgBouncerConfig {
            admin_url: self.admin_url,
            pool: self.pool,
            max_wait: self
                .max_wait
                .as_deref()
                .map(|m| duration("pgbouncer", "max_wait", m))
                .transpose()?,
        })
    }
}

/// `[modes]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModes {
    app_roles: Option<Vec<String>>,
    drain: Option<String>,
    lease: Option<String>,
}

/// `[modes]`, validated: defaults of `read-only on` / `maintenance on`.
#[derive(Debug, Clone, Default)]
pub struct ModesConfig {
    /// The application's roles (PostgreSQL) or account names (MySQL).
    pub app_roles: Vec<String>,
    pub drain: Option<Duration>,
    pub lease: Option<Duration>,
}

impl RawModes {
    pub fn validate(self) -> Result<ModesConfig, String> {
        let app_roles = self.app_roles.unwrap_or_default();
        if app_roles.iter().any(|r| r.trim().is_empty()) {
            return Err("[modes] app_roles has an empty name".into());
        }
        Ok(ModesConfig {
            app_roles,
            drain: self
                .drain
                .as_deref()
                .map(|d| duration("modes", "drain", d))
                .transpose()?,
            lease: self
                .lease
                .as_deref()
                .map(|d| duration("modes", "lease", d))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_validated() {
        let h: RawHooks =
            toml::from_str("read_only_on = \"./flag on\"\ntimeout = \"5s\"\n").unwrap();
        let h = h.validate().unwrap();
        assert_eq!(h.read_only_on.as_deref(), Some("./flag on"));
        assert_eq!(h.timeout, Duration::from_secs(5));
        assert!(toml::from_str::<RawHooks>("readonly_on = \"x\"\n").is_err());
        let bad: RawHooks = toml::from_str("maintenance_off = \" \"\n").unwrap();
        assert!(bad.validate().unwrap_err().contains("maintenance_off"));
        let p: RawPgBouncer =
            toml::from_str("admin_url = \"postgres://pgb:secret@127.0.0.1:6432/pgbouncer\"\n")
                .unwrap();
        assert!(p.validate().is_ok());
        let p: RawPgBouncer =
            toml::from_str("admin_url = \"postgres://pgb:secret@127.0.0.1:6432/app\"\n").unwrap();
        let e = p.validate().unwrap_err();
        assert!(e.contains("admin console") && !e.contains("secret"), "{e}");
        let m: RawModes = toml::from_str("app_roles = [\"app\"]\ndrain = \"5s\"\n").unwrap();
        assert_eq!(m.validate().unwrap().app_roles, vec!["app".to_string()]);
    }
}
