//! Read-only and maintenance modes on the server side: the trait an engine implements
//! ([`ModeEngine`], in `<engine>/read_only.rs`) and the engine-neutral types the `modes`
//! operation speaks in. A mode is a list of [`Change`]s to server knobs (a database setting, a
//! per-role setting, a connection switch or limit, a global variable, an account lock), each with
//! the value it had before, so that switching back is "put every knob back to its prior value":
//! idempotent, and possible from the journal (or the database marker) alone.
//!
//! What each mechanism stops and does not stop is measured by the integration tests and written
//! down in `docs/read-only.md`.

use super::EngineError;
use super::conn::Conn;
use serde::{Deserialize, Serialize};

/// A mode migsafe can switch a database into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The database refuses application writes; reads go on.
    ReadOnly,
    /// No application connections at all.
    Maintenance,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::ReadOnly, Mode::Maintenance];

    /// The command and journal kind: `read-only`, `maintenance`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadOnly => "read-only",
            Mode::Maintenance => "maintenance",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The application flag the runbook toggles (`READ_ONLY_MODE`).
    pub fn flag_name(self) -> &'static str {
        match self {
            Mode::ReadOnly => "READ_ONLY_MODE",
            Mode::Maintenance => "MAINTENANCE_MODE",
        }
    }

    /// The key of the flag in a JSON flag file (`read_only`).
    pub fn json_key(self) -> &'static str {
        match self {
            Mode::ReadOnly => "read_only",
            Mode::Maintenance => "maintenance",
        }
    }
}

/// How maintenance keeps the application out (PostgreSQL).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Block {
    /// `ALTER DATABASE … ALLOW_CONNECTIONS false`: every new connection to the database is
    /// refused, superusers and migsafe's own included.
    #[default]
    Database,
    /// `ALTER ROLE … CONNECTION LIMIT 0` for each application role: only those roles are
    /// refused (on every database of the cluster: the limit is the role's).
    Roles,
}

impl Block {
    pub fn parse(s: &str) -> Option<Block> {
        match s {
            "database" => Some(Block::Database),
            "roles" => Some(Block::Roles),
            _ => None,
        }
    }
}

/// One server-side knob a mode turns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Knob {
    /// A database-level setting (PostgreSQL `ALTER DATABASE d SET name`).
    DatabaseSetting { database: String, name: String },
    /// A role's setting in one database (PostgreSQL `ALTER ROLE r IN DATABASE d SET name`).
    RoleSetting {
        role: String,
        database: String,
        name: String,
    },
    /// PostgreSQL `ALTER DATABASE d ALLOW_CONNECTIONS` (`true`/`false`).
    AllowConnections { database: String },
    /// PostgreSQL `ALTER DATABASE d CONNECTION LIMIT` (`-1` for none).
    DatabaseConnectionLimit { database: String },
    /// PostgreSQL `ALTER ROLE r CONNECTION LIMIT` (`-1` for none).
    RoleConnectionLimit { role: String },
    /// A MySQL/MariaDB global variable (`read_only`, `super_read_only`: `0`/`1`).
    Global { name: String },
    /// A MySQL/MariaDB account's lock (`locked`/`unlocked`).
    AccountLock { user: String, host: String },
}

impl Knob {
    /// The same knob on database `db` (a database renamed since the mode began); `None` for
    /// knobs that are not a database's.
    pub fn on_database(&self, db: &str) -> Option<Knob> {
        match self {
            Knob::DatabaseSetting { name, .. } => Some(Knob::DatabaseSetting {
                database: db.into(),
                name: name.clone(),
            }),
            Knob::RoleSetting { role, name, .. } => Some(Knob::RoleSetting {
                role: role.clone(),
                database: db.into(),
                name: name.clone(),
            }),
            Knob::AllowConnections { .. } => Some(Knob::AllowConnections {
                database: db.into(),
            }),
            Knob::DatabaseConnectionLimit { .. } => Some(Knob::DatabaseConnectionLimit {
                database: db.into(),
            }),
            _ => None,
        }
    }

    /// The knob as the statement that turns it, for reports.
    pub fn describe(&self) -> String {
        match self {
            Knob::DatabaseSetting { database, name } => format!("database {database}: {name}"),
            Knob::RoleSetting {
                role,
                database,
                name,
            } => format!("role {role} in database {database}: {name}"),
            Knob::AllowConnections { database } => {
                format!("database {database}: ALLOW_CONNECTIONS")
            }
            Knob::DatabaseConnectionLimit { database } => {
                format!("database {database}: CONNECTION LIMIT")
            }
            Knob::RoleConnectionLimit { role } => format!("role {role}: CONNECTION LIMIT"),
            Knob::Global { name } => format!("global {name}"),
            Knob::AccountLock { user, host } => format!("account '{user}'@'{host}': lock"),
        }
    }
}

/// A knob, its value before the mode (`None`: not set) and the mode's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub knob: Knob,
    pub prior: Option<String>,
    pub value: Option<String>,
}

/// What the user asked for, as far as the engine is concerned.
#[derive(Debug, Clone, Default)]
pub struct ModeOptions {
    /// Application roles (PostgreSQL roles, MySQL user names) named by `--app-role` or the
    /// config; empty: the engine's default (see each engine).
    pub app_roles: Vec<String>,
    pub block: Block,
    /// MySQL/MariaDB: switching a global on a server that hosts other databases is allowed.
    pub server_wide: bool,
    /// MySQL: also set `super_read_only` (blocks SUPER accounts, migsafe's own included).
    pub super_read_only: bool,
}

/// What switching a database into a mode will change, read from the server before anything is
/// changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModePlan {
    /// In the order they are applied (undone in reverse).
    pub changes: Vec<Change>,
    /// Roles (or MySQL user names) whose sessions the mode drains and ends; empty: every
    /// client session of the database.
    pub app_roles: Vec<String>,
    /// The switch reaches sessions already open (MySQL `read_only`), so open write
    /// transactions are drained before it rather than after.
    pub reaches_open_sessions: bool,
    /// The sessions to drain are the server's, not only the database's (a global switch).
    pub server_wide_sessions: bool,
    /// What the mechanism does and does not stop on this server.
    pub notes: Vec<String>,
    /// What could still write (or connect), with names.
    pub warnings: Vec<String>,
    /// A policy refusal (a global switch on a shared server): nothing is changed.
    pub refusal: Option<String>,
}

/// A client session, as a mode sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenSession {
    pub id: i64,
    pub user: String,
    pub application: String,
    pub state: String,
    /// Holds a transaction that has written (PostgreSQL: an XID; MySQL: modified rows).
    pub writing: bool,
    /// When the session started, seconds since the epoch on the server's clock (PostgreSQL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_epoch: Option<f64>,
    pub client: String,
}

impl OpenSession {
    /// One line: `1234 (app, psql, idle in transaction)`.
    pub fn describe(&self) -> String {
        let app = if self.application.is_empty() {
            String::new()
        } else {
            format!(", {}", self.application)
        };
        format!("{} ({}{app}, {})", self.id, self.user, self.state)
    }

    /// migsafe's own sessions (`application_name` starting with `migsafe`) are never drained or
    /// ended by a mode: they are the migration session the mode leaves writable.
    pub fn is_migsafe(&self) -> bool {
        self.application.starts_with("migsafe")
    }
}

/// What a fresh connection could do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Probe {
    /// The write (read-only) or the connection (maintenance) was refused, with the server's
    /// code (`25006`, `55000`, `1290`, `4151`) and message.
    Refused { code: String, message: String },
    /// It was allowed: a write changed nothing (it was rolled back or matched no row).
    Allowed { detail: String },
    /// The probe could not tell (no table to try, no privilege, an unrelated error).
    Inconclusive { reason: String },
}

impl Probe {
    pub fn refused(&self) -> bool {
        matches!(self, Probe::Refused { .. })
    }

    pub fn allowed(&self) -> bool {
        matches!(self, Probe::Allowed { .. })
    }

    pub fn describe(&self) -> String {
        match self {
            Probe::Refused { code, message } => format!("refused ({code}: {message})"),
            Probe::Allowed { detail } => format!("allowed ({detail})"),
            Probe::Inconclusive { reason } => format!("inconclusive ({reason})"),
        }
    }
}

/// A mode on one engine. `conn` is an admin connection (`Admin::connect_admin`) unless a method
/// says otherwise.
#[async_trait::async_trait]
pub trait ModeEngine: Sync {
    /// Whether the engine has a server-side mode at all; SQLite has none (only the application
    /// layer can be switched) and says why.
    fn server_side(&self) -> Result<(), &'static str>;

    /// Reads the prior values of every knob `mode` turns for `db` and what could still write.
    async fn plan(
        &self,
        conn: &mut Conn,
        db: &str,
        mode: Mode,
        opts: &ModeOptions,
    ) -> Result<ModePlan, EngineError>;

    /// The knob's current value (`None`: not set).
    async fn read_knob(&self, conn: &mut Conn, knob: &Knob) -> Result<Option<String>, EngineError>;

    /// Sets the knob (`None`: reset it to "not set").
    async fn write_knob(
        &self,
        conn: &mut Conn,
        knob: &Knob,
        value: Option<&str>,
    ) -> Result<(), EngineError>;

    /// A query for the server's clock, seconds since the epoch as text.
    fn clock_sql(&self) -> &'static str;

    /// The server's clock, seconds since the epoch (to tell which sessions started before a
    /// switch).
    async fn server_clock(&self, conn: &mut Conn) -> Result<f64, EngineError> {
        conn.first("reading the server clock", self.clock_sql())
            .await?
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| EngineError::step("reading the server clock", "no value"))
    }

    /// Client sessions a mode is concerned with: those of `db` (or of the whole server with
    /// `server_wide`), of `roles` when given; never `conn`'s own.
    async fn open_sessions(
        &self,
        conn: &mut Conn,
        db: &str,
        roles: &[String],
        server_wide: bool,
    ) -> Result<Vec<OpenSession>, EngineError>;

    /// Ends the sessions `ids`; returns how many were ended.
    async fn end_sessions(&self, conn: &mut Conn, ids: &[i64]) -> Result<u64, EngineError>;

    /// What could still write (or connect) while `mode` is on, with names, as the server
    /// stands now: superusers, prepared transactions, replication, privileged accounts.
    async fn still_writable(
        &self,
        conn: &mut Conn,
        db: &str,
        mode: Mode,
        opts: &ModeOptions,
    ) -> Result<Vec<String>, EngineError>;

    /// Opens a fresh connection with `url` (credentials included) and tries what `mode` must
    /// refuse: a write that changes nothing (read-only), or the connection itself
    /// (maintenance). With `as_migsafe` the session first overrides the read-only default for
    /// itself, as migsafe's migration session does.
    async fn probe(&self, url: &str, db: &str, mode: Mode, as_migsafe: bool) -> Probe;

    /// Makes `conn` (a session on the database) the migration session: it overrides the
    /// read-only default for itself and names itself `migsafe migrate`, so modes never drain
    /// or end it.
    async fn writable_session(&self, conn: &mut Conn) -> Result<(), EngineError>;
}

impl Probe {
    /// A maintenance probe: the fresh connection was accepted, or refused with a code `refusal`
    /// recognises (the mode's), or failed for another reason (no proof either way).
    pub fn of_connection(
        connected: Result<(), &sqlx::Error>,
        refusal: impl Fn(&sqlx::Error) -> Option<(String, String)>,
    ) -> Probe {
        match connected {
            Ok(()) => Probe::Allowed {
                detail: "a new connection was accepted".into(),
            },
            Err(e) => match refusal(e) {
                Some((code, message)) => Probe::Refused { code, message },
                None => Probe::Inconclusive {
                    reason: format!(
                        "the connection failed for another reason: {}",
                        super::redact_url(&e.to_string())
                    ),
                },
            },
        }
    }

    /// A read-only probe: the write that changes nothing ran (`what` it was), or was refused
    /// with a code `refusal` recognises, or failed for another reason.
    pub fn of_write(
        wrote: Result<String, &sqlx::Error>,
        refusal: impl Fn(&sqlx::Error) -> Option<(String, String)>,
    ) -> Probe {
        match wrote {
            Ok(what) => Probe::Allowed { detail: what },
            Err(e) => match refusal(e) {
                Some((code, message)) => Probe::Refused { code, message },
                None => Probe::Inconclusive {
                    reason: format!("the probe write failed for another reason: {e}"),
                },
            },
        }
    }

    /// The probe's own connection failed.
    pub fn cannot_connect(e: &sqlx::Error) -> Probe {
        Probe::Inconclusive {
            reason: format!("cannot connect: {}", super::redact_url(&e.to_string())),
        }
    }
}

/// Whether a PostgreSQL/MySQL boolean setting's text means on.
pub fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "on" | "true" | "yes" | "1" | "t" | "y"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_through_json() {
        let c = Change {
            knob: Knob::RoleSetting {
                role: "app".into(),
                database: "shop".into(),
                name: "default_transaction_read_only".into(),
            },
            prior: None,
            value: Some("on".into()),
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["knob"]["kind"], "role-setting");
        assert_eq!(serde_json::from_value::<Change>(v).unwrap(), c);
        assert!(truthy("ON") && truthy("1") && !truthy("off") && !truthy(""));
        assert_eq!(Mode::parse("read-only"), Some(Mode::ReadOnly));
        assert_eq!(Mode::Maintenance.flag_name(), "MAINTENANCE_MODE");
    }
}
