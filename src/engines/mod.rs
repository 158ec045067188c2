//! Database engines: engine kinds, URL redaction, the process plumbing shared by the ephemeral
//! servers (unprivileged user, workspaces, orphan reaping, signal cleanup), and one folder per
//! engine with the same file names so engines can be compared side by side.

pub mod conn;
pub mod mysql;
pub mod postgres;
pub mod process;
pub mod snapshot;
pub mod sqlite;
pub mod template;

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineKind {
    Postgres,
    Mysql,
    Sqlite,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Postgres => "postgres",
            EngineKind::Mysql => "mysql",
            EngineKind::Sqlite => "sqlite",
        }
    }

    pub fn parse(s: &str) -> Option<EngineKind> {
        match s.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" | "pg" => Some(EngineKind::Postgres),
            "mysql" | "mariadb" => Some(EngineKind::Mysql),
            "sqlite" | "sqlite3" => Some(EngineKind::Sqlite),
            _ => None,
        }
    }

    /// The engine a database URL points at, from its scheme.
    pub fn from_url(url: &str) -> Option<EngineKind> {
        let scheme = url.split_once(':')?.0;
        EngineKind::parse(scheme.split('+').next().unwrap_or(scheme))
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors from starting, reaching or driving a database. Messages never contain passwords.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{what} not found (looked in {looked}): {hint}")]
    BinaryMissing {
        what: String,
        looked: String,
        hint: String,
    },
    #[error("{step} failed: {message}")]
    Step { step: String, message: String },
    #[error("cannot connect to {target}: {message}")]
    Connect { target: String, message: String },
    #[error("{0}")]
    Io(String),
}

impl EngineError {
    pub fn step(step: impl Into<String>, message: impl fmt::Display) -> Self {
        EngineError::Step {
            step: step.into(),
            message: message.to_string(),
        }
    }
}

/// A connection URL with its password replaced: `postgres://app:****@db/app`. Query parameters
/// named like secrets are masked too. Never print a URL any other way.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{user}:****@{host}")
            } else {
                format!("{user}@{host}")
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let q: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _))
                        if k.to_ascii_lowercase().contains("pass")
                            || k.to_ascii_lowercase().contains("secret") =>
                    {
                        format!("{k}=****")
                    }
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", q.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_everywhere() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/app"),
            "postgres://app:****@db:5432/app"
        );
        assert_eq!(
            redact_url("mysql://root@localhost/test"),
            "mysql://root@localhost/test"
        );
        assert_eq!(
            redact_url("postgres://u:p%40ss@h/db?password=x&sslmode=require"),
            "postgres://u:****@h/db?password=****&sslmode=require"
        );
        assert_eq!(redact_url("sqlite:app.db"), "sqlite:app.db");
        assert!(!redact_url("postgresql://a:b@c@d/e").contains(":b"));
        assert_eq!(
            EngineKind::from_url("postgresql://x/y"),
            Some(EngineKind::Postgres)
        );
        assert_eq!(
            EngineKind::from_url("mariadb://x/y"),
            Some(EngineKind::Mysql)
        );
        assert_eq!(
            EngineKind::from_url("sqlite:x.db"),
            Some(EngineKind::Sqlite)
        );
    }
}
