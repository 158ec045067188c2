//! `migsafe read-only on|off|status` and `migsafe maintenance on|off|status`: modes that really
//! stop application writes (or connections), prove it, and always come back.
//!
//! A mode has up to three layers, switched in this order and switched back in reverse:
//! 1. the application (`[hooks]`, `--flag-file`), so users see a read-only banner or a
//!    maintenance page rather than errors;
//! 2. PgBouncer, where the application connects through it (`[pgbouncer] admin_url`):
//!    maintenance pauses the pool (clients wait instead of failing), read-only makes the pool
//!    reconnect so its server connections pick up the read-only default;
//! 3. the database: the engine's knobs ([`crate::engines::modes`]), then a drain of in-flight
//!    writes, the end of the sessions that would keep writing, and a verification with fresh
//!    connections and the server's session list.
//!
//! Every change is journaled with the prior value before it is made, and the database carries a
//! marker with those prior values, so `off` and `migsafe recover` put everything back from the
//! journal alone, on any machine that sees the marker ([`undo`]). The journal of a mode stays
//! open while the mode is on: it is the record of what to put back. A lease bounds a mode in
//! time: `status` shows it, every command that connects says loudly when it has expired, and
//! `on --hold` keeps a process that renews it and switches back when it ends or is interrupted.

pub mod app;
mod on;
mod status;
pub mod undo;

use crate::engines::EngineError;
use crate::engines::conn::Conn;
pub use crate::engines::modes::{Block, Change, Mode, ModeOptions, OpenSession, Probe};
use crate::engines::target::{Target, TargetError};
use crate::journal::{JournalError, Unfinished};
use app::{FlagFile, HookRun, Hooks};
use chrono::{DateTime, Utc};
pub use on::on;
use serde::{Deserialize, Serialize};
pub use status::{StatusReport, StatusSettings, status};
use std::path::PathBuf;
use std::time::Duration;
pub use undo::off;

/// Version of the JSON reports of `read-only`/`maintenance`.
pub const SCHEMA_VERSION: u32 = 1;

/// Which layers a mode switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// The database (and PgBouncer when configured).
    Database,
    /// The application only: hooks and the flag file.
    App,
    Both,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "database" => Some(Scope::Database),
            "app" => Some(Scope::App),
            "both" => Some(Scope::Both),
            _ => None,
        }
    }

    pub fn database(self) -> bool {
        self != Scope::App
    }

    pub fn app(self) -> bool {
        self != Scope::Database
    }
}

/// `[pgbouncer]`: the admin console in front of the database.
#[derive(Debug, Clone)]
pub struct PgBouncerSettings {
    /// With credentials (never printed or journaled).
    pub admin_url: String,
    /// The pool's name in PgBouncer (default: the database's name).
    pub pool: Option<String>,
    /// How long `PAUSE` may wait for in-flight transactions.
    pub max_wait: Duration,
}

/// `--hold`: keep a process that renews the lease; with a command, switch back when it exits.
#[derive(Debug, Clone, Default)]
pub struct Hold {
    pub command: Vec<String>,
}

/// `read-only on` / `maintenance on`, validated.
#[derive(Debug, Clone)]
pub struct OnSettings {
    pub url: String,
    pub mode: Mode,
    pub journal_dir: PathBuf,
    /// `None`: both layers when the application layer is configured, else the database.
    pub scope: Option<Scope>,
    pub lease: Option<Duration>,
    pub hold: Option<Hold>,
    /// How long in-flight writes get to finish.
    pub drain: Duration,
    /// End the sessions that would keep writing (on by default).
    pub terminate: bool,
    pub options: ModeOptions,
    /// The application's own URL, to prove with a fresh connection that it is refused.
    pub app_url: Option<String>,
    pub pgbouncer: Option<PgBouncerSettings>,
    pub hooks: Hooks,
    pub flag_file: Option<FlagFile>,
}

/// `read-only off` / `maintenance off`.
#[derive(Debug, Clone)]
pub struct OffSettings {
    pub url: String,
    pub mode: Mode,
    pub journal_dir: PathBuf,
    /// For a pool that was paused or reconnected (the journal keeps only a redacted URL).
    pub pgbouncer_admin_url: Option<String>,
    /// How long to wait for a `--hold` process asked to switch back.
    pub hold_wait: Duration,
}

/// What the journal (and, without the application layer, the marker) records about a mode: all
/// a recovery needs, without credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Facts {
    pub mode: Mode,
    pub database: String,
    pub engine: String,
    pub scope: Scope,
    /// Every knob the mode turns, with its prior value (read before anything changed).
    pub changes: Vec<Change>,
    #[serde(default)]
    pub app_roles: Vec<String>,
    #[serde(default)]
    pub lease_until: Option<DateTime<Utc>>,
    /// The OS user who switched it on.
    pub user: String,
    #[serde(default)]
    pub pgbouncer: Option<PgBouncerFacts>,
    /// The application layer (journal only: hooks and the flag file live on the machine that
    /// ran `on`).
    #[serde(default)]
    pub app: Option<AppFacts>,
    /// The host whose application layer was switched (marker only).
    #[serde(default)]
    pub app_host: Option<String>,
    pub drain_ms: u64,
    pub terminate: bool,
    /// When the database was switched, on the server's clock (seconds since the epoch).
    #[serde(default)]
    pub switched_at: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PgBouncerFacts {
    /// Redacted.
    pub admin_url: String,
    pub pool: String,
    pub pause: bool,
    pub reconnect: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppFacts {
    pub hooks: Hooks,
    #[serde(default)]
    pub flag_file: Option<FlagFile>,
    /// The flag file's content before (`None`: there was none).
    #[serde(default)]
    pub flag_prior: Option<String>,
}

impl Facts {
    /// What the marker carries: no application layer (hooks are commands and the flag file a
    /// path of the machine that ran `on`), only where it was.
    pub fn for_marker(&self) -> Facts {
        let mut f = self.clone();
        if f.app.is_some() {
            f.app = None;
            f.app_host = Some(crate::sys::proc::hostname());
        }
        f
    }
}

/// The outcome of `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The mode is on (verified).
    On,
    /// The mode was switched off: every knob is back to its prior value.
    Off,
    /// `off` found no migsafe mode on the database.
    NotOn,
    /// Refused before anything changed (a mode already on, a shared server, …).
    Refused,
    /// A step failed: everything switched was switched back (see `message`).
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::On => "on",
            Status::Off => "off",
            Status::NotOn => "not-on",
            Status::Refused => "refused",
            Status::Failed => "failed",
        }
    }
}

pub use crate::journal::Step;

/// A knob as reported: what, before, the mode's value, and (status) now.
#[derive(Debug, Clone, Serialize)]
pub struct Setting {
    pub what: String,
    pub prior: Option<String>,
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<Option<String>>,
}

impl Setting {
    pub fn of(c: &Change) -> Setting {
        Setting {
            what: c.knob.describe(),
            prior: c.prior.clone(),
            value: c.value.clone(),
            current: None,
        }
    }
}

/// A fresh connection's test.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// As whom: the URL, redacted.
    pub url: String,
    /// What it should get: `refused` for the application, `allowed` for migsafe's migration
    /// session.
    pub expect: String,
    #[serde(flatten)]
    pub probe: Probe,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    pub ok: bool,
    /// A fresh connection as the application (or, without `--app-url`, as the URL's user
    /// without any override).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<ProbeReport>,
    /// migsafe's migration session (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration_session: Option<ProbeReport>,
    /// Sessions still holding a write transaction.
    pub writing_sessions: Vec<OpenSession>,
    /// Sessions the mode should have ended that are still there.
    pub remaining_sessions: Vec<OpenSession>,
    /// The PgBouncer pool is paused (maintenance through PgBouncer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_paused: Option<bool>,
    pub problems: Vec<String>,
    pub notes: Vec<String>,
}

/// The drain of in-flight writes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Drain {
    pub waited_ms: u64,
    /// Sessions that were writing when the drain began.
    pub writing_at_start: Vec<OpenSession>,
    /// Still writing when it ended (then ended, with `--terminate`).
    pub writing_at_end: Vec<OpenSession>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolReport {
    pub admin_url: String,
    pub pool: String,
    pub action: String,
    pub ok: bool,
}

/// The report of `on` or `off`.
#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    pub mode: Mode,
    pub action: String,
    pub status: Status,
    pub engine: String,
    /// Redacted.
    pub target: String,
    pub database: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    pub settings: Vec<Setting>,
    pub steps: Vec<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drain: Option<Drain>,
    pub ended_sessions: Vec<OpenSession>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    pub hooks: Vec<HookRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pgbouncer: Option<PoolReport>,
    /// What each mechanism does and does not stop here.
    pub notes: Vec<String>,
    /// What could still write (or connect), with names.
    pub could_still_write: Vec<String>,
    pub warnings: Vec<String>,
    /// What switching back did (`off`, or `on` after a failure).
    pub undone: Vec<String>,
    /// `--hold`: lease renewals and the held command's exit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
    pub message: String,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Held {
    pub renewals: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_exit: Option<i32>,
    /// Why the hold ended.
    pub ended: String,
}

impl ModeReport {
    pub(crate) fn new(mode: Mode, action: &str, target: &Target) -> ModeReport {
        ModeReport {
            mode,
            action: action.into(),
            status: Status::Refused,
            engine: target.kind().as_str().into(),
            target: target.redacted(),
            database: target.database().into(),
            scope: None,
            operation: None,
            journal: None,
            since: None,
            lease_until: None,
            settings: vec![],
            steps: vec![],
            drain: None,
            ended_sessions: vec![],
            verification: None,
            hooks: vec![],
            flag_file: None,
            pgbouncer: None,
            notes: vec![],
            could_still_write: vec![],
            warnings: vec![],
            undone: vec![],
            held: None,
            message: String::new(),
            duration_ms: 0,
        }
    }

    /// The run did what was asked (`on`, `off`, or nothing was on).
    pub fn passed(&self) -> bool {
        let held_ok = self
            .held
            .as_ref()
            .and_then(|h| h.command_exit)
            .is_none_or(|c| c == 0);
        matches!(self.status, Status::On | Status::Off | Status::NotOn) && held_ok
    }

    /// The exit code: 0 passed, 1 refused or failed (a held command's own non-zero code is
    /// passed on).
    pub fn exit_code(&self) -> u8 {
        if !matches!(self.status, Status::On | Status::Off | Status::NotOn) {
            return 1;
        }
        match self.held.as_ref().and_then(|h| h.command_exit) {
            Some(0) | None => 0,
            Some(c) => u8::try_from(c).unwrap_or(1).max(1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModeError {
    /// Bad arguments or configuration (exit 2).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{0}")]
    Failed(String),
}

impl From<TargetError> for ModeError {
    fn from(e: TargetError) -> Self {
        ModeError::Usage(e.to_string())
    }
}

/// The URL of `target`'s database itself (credentials included), for fresh connections.
pub(crate) fn database_url(target: &Target) -> String {
    match target {
        Target::Postgres(t) => t.sqlx_url(&t.database),
        Target::Mysql(t) => t.sqlx_url(&t.database),
        Target::Sqlite(t) => t.sqlx_url(),
    }
}

/// The OS user running migsafe.
pub(crate) fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            // SAFETY: getuid has no preconditions.
            let uid = unsafe { libc::getuid() };
            std::fs::read_to_string("/etc/passwd")
                .ok()
                .and_then(|p| {
                    p.lines().find_map(|l| {
                        let f: Vec<&str> = l.split(':').collect();
                        (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
                    })
                })
                .unwrap_or_else(|| format!("uid {uid}"))
        })
}

/// A migsafe mode operation concerning `db` (this machine's journal or the server's marker).
pub(crate) fn mode_of(u: &Unfinished, mode: Mode, db: &str) -> bool {
    u.kind == mode.as_str() && u.database == db
}

/// Opens migsafe's migration session on the database at `url`: a session that overrides the
/// read-only default for itself (PostgreSQL `SET default_transaction_read_only = off`) and is
/// named `migsafe migrate`, so read-only and maintenance never drain or end it. Migrations
/// applied while the application is held read-only go through it, and it gets through a
/// maintenance that refuses connections to the database
/// ([`crate::engines::admin::open_through_block`]).
pub async fn migration_session(url: &str) -> Result<Conn, EngineError> {
    let mut c = match Target::parse(url) {
        Ok(t) => crate::engines::admin::open_through_block(&t, t.database(), url).await?,
        Err(_) => Conn::open(url).await?,
    };
    let eng = c.kind().engine();
    eng.modes().writable_session(&mut c).await?;
    Ok(c)
}

/// Warnings for a command about to work on `target` while it is in a migsafe mode (`backup
/// create`: the backup never carries the mode).
pub async fn warnings_for(target: &Target, journal_dir: &std::path::Path) -> Vec<String> {
    crate::journal::unfinished_for(target, journal_dir)
        .await
        .into_iter()
        .filter(|u| {
            Mode::parse(&u.kind).is_some() && u.database == target.database()
        })
        .map(|u| {
            format!(
                "database {} is in migsafe {} mode (operation {}, since {}): the backup does not carry the mode, so a database restored from it comes up writable and open",
                u.database,
                u.kind,
                u.operation,
                u.started_at.format("%Y-%m-%d %H:%M:%S UTC")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_never_carries_the_application_layer() {
        let f = Facts {
            mode: Mode::ReadOnly,
            database: "shop".into(),
            engine: "postgres".into(),
            scope: Scope::Both,
            changes: vec![],
            app_roles: vec![],
            lease_until: None,
            user: "ops".into(),
            pgbouncer: None,
            app: Some(AppFacts {
                hooks: Hooks {
                    on: Some("curl -X PUT …".into()),
                    off: None,
                    timeout_ms: 1000,
                },
                flag_file: None,
                flag_prior: Some("SECRET=1".into()),
            }),
            app_host: None,
            drain_ms: 0,
            terminate: true,
            switched_at: None,
        };
        let m = serde_json::to_string(&f.for_marker()).unwrap();
        assert!(!m.contains("curl") && !m.contains("SECRET"), "{m}");
        assert!(m.contains("app_host"));
        assert!(Scope::Both.app() && Scope::Both.database() && !Scope::App.database());
    }
}
