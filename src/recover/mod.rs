//! `migsafe recover [--operation ID] [--resume|--abort]`: brings unfinished operations to a
//! consistent end from their journal alone. Each operation kind that journals plugs in here
//! through [`RecoverKind`] and one line in [`KINDS`]; recover finds the unfinished journals (and
//! the markers other machines left on the server), picks the kind by the journal's `kind`, and
//! runs it. A journal whose process still runs on this host is left alone.

use crate::engines::EngineKind;
use crate::engines::target::Target;
pub use crate::journal::recover::{Action, RecoverCtx, RecoverError, RecoverKind};
use crate::journal::{self, Journal, unfinished_for};
use serde::Serialize;
use std::path::PathBuf;

/// Every kind `migsafe recover` knows. Read-only, maintenance, apply and release add theirs here.
pub static KINDS: &[&dyn RecoverKind] = &[
    &crate::restore::recover::PgSwap,
    &crate::restore::recover::PgInPlace,
    &crate::restore::recover::MysqlInPlace,
    &crate::modes::undo::READ_ONLY,
    &crate::modes::undo::MAINTENANCE,
    &crate::apply::recover::Apply,
];

pub fn kind(name: &str) -> Option<&'static dyn RecoverKind> {
    KINDS.iter().copied().find(|k| k.kind() == name)
}

#[derive(Debug, Clone)]
pub struct RecoverSettings {
    pub url: Option<String>,
    pub operation: Option<String>,
    pub action: Option<Action>,
    pub journal_dir: PathBuf,
    pub pg_bin_dir: Option<PathBuf>,
    /// List what is unfinished, change nothing.
    pub list_only: bool,
    /// PgBouncer's admin console with credentials, for modes that paused a pool.
    pub pgbouncer_admin_url: Option<String>,
}

/// One operation recover looked at.
#[derive(Debug, Clone, Serialize)]
pub struct Recovered {
    pub operation: String,
    pub kind: String,
    pub database: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub host: String,
    pub command: String,
    pub interrupted_step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// `recovered`, `failed`, `running` (its process still runs), `listed`, `elsewhere` (only
    /// a marker on the server: the journal is on another host).
    pub status: String,
    pub done: Vec<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecoverReport {
    pub operations: Vec<Recovered>,
}

impl RecoverReport {
    pub fn passed(&self) -> bool {
        self.operations
            .iter()
            .all(|o| matches!(o.status.as_str(), "recovered" | "listed" | "active"))
    }
}

/// Runs `migsafe recover`.
pub async fn recover(s: &RecoverSettings) -> Result<RecoverReport, RecoverError> {
    let target = match &s.url {
        Some(u) => Some(Target::parse(u).map_err(|e| RecoverError::Usage(e.to_string()))?),
        None => None,
    };
    let mut states = Vec::new();
    for r in journal::unfinished(&s.journal_dir) {
        match r {
            Ok(st) => states.push(st),
            Err(e) if s.operation.is_none() => {
                return Err(RecoverError::Failed(format!(
                    "{e}: fix or move the file, or name the operation to recover with --operation"
                )));
            }
            Err(_) => {}
        }
    }
    if let Some(op) = &s.operation {
        states.retain(|st| &st.op == op || adopted_from(st) == Some(op.as_str()));
    } else if let Some(t) = &target {
        states.retain(|st| st.target.same_server(t));
    }
    let mut report = RecoverReport {
        operations: Vec::new(),
    };
    // markers whose journal is not on this machine: an operation whose marker carries its
    // facts (a mode) is continued here from the marker; others are reported, not acted on
    if let Some(t) = &target {
        for u in unfinished_for(t, &s.journal_dir).await {
            let wanted = s.operation.as_ref().is_none_or(|op| *op == u.operation);
            let adoptable = u.source == "marker"
                && u.facts.is_some()
                && kind(&u.kind).is_some()
                && !u.running
                && (s.operation.is_some() || !u.active || u.lease_expired());
            if wanted && adoptable && !s.list_only {
                states.push(journal::adopt(&s.journal_dir, t, &u)?);
                continue;
            }
            if u.source == "marker" && wanted {
                let active = u.active && !u.running && !u.lease_expired();
                report.operations.push(Recovered {
                    operation: u.operation.clone(),
                    kind: u.kind.clone(),
                    database: u.database.clone(),
                    started_at: u.started_at,
                    host: u.host.clone(),
                    command: u.command.clone(),
                    interrupted_step: None,
                    action: None,
                    status: if u.running {
                        "running"
                    } else if active {
                        "active"
                    } else {
                        "elsewhere"
                    }
                    .into(),
                    done: vec![],
                    message: if u.running {
                        "its process still runs on this host".into()
                    } else if active {
                        active_message(&u.kind, &u.operation, u.lease_until)
                    } else if u.facts.is_some() {
                        format!(
                            "would be ended from its database marker (its journal is on host {})",
                            u.host
                        )
                    } else {
                        format!(
                            "its journal is on host {}: run `migsafe recover --operation {}` there",
                            u.host, u.operation
                        )
                    },
                });
            }
        }
    }
    if let Some(op) = &s.operation
        && states.is_empty()
        && report.operations.is_empty()
    {
        return Err(RecoverError::Usage(format!(
            "no unfinished operation {op} in {}",
            s.journal_dir.display()
        )));
    }
    for st in states {
        let mut r = Recovered {
            operation: st.op.clone(),
            kind: st.kind.clone(),
            database: st.target.database.clone(),
            started_at: st.started_at,
            host: st.host.clone(),
            command: st.command.clone(),
            interrupted_step: st.interrupted_step().map(|x| x.name.clone()),
            action: None,
            status: "listed".into(),
            done: vec![],
            message: String::new(),
        };
        let lease_expired = st.lease_until().is_some_and(|t| t < chrono::Utc::now());
        if st.active() && !st.running() && !lease_expired && s.operation.is_none() {
            r.status = "active".into();
            r.message = active_message(&st.kind, &st.op, st.lease_until());
            report.operations.push(r);
            continue;
        }
        if st.running() {
            r.status = "running".into();
            r.message = format!(
                "its process {} still runs: wait for it, or stop it first",
                st.pid
            );
            report.operations.push(r);
            continue;
        }
        let Some(k) = kind(&st.kind) else {
            r.status = "failed".into();
            r.message = format!("this migsafe does not know how to recover a {}", st.kind);
            report.operations.push(r);
            continue;
        };
        let action = s.action.unwrap_or_else(|| k.default_action(&st));
        r.action = Some(action);
        if s.list_only {
            r.message = format!("would {} it", action.as_str());
            report.operations.push(r);
            continue;
        }
        let Some(t) = &target else {
            return Err(RecoverError::Usage(format!(
                "recovering {} needs the database: pass --database-url (or set DATABASE_URL) for {}",
                st.op, st.target.url
            )));
        };
        if !st.target.same_server(t) || EngineKind::parse(&st.target.engine) != Some(t.kind()) {
            return Err(RecoverError::Usage(format!(
                "{} ran on {}, but --database-url points at {}",
                st.op,
                st.target.url,
                t.redacted()
            )));
        }
        let mut journal = Journal::reopen(&st)?;
        journal.note(&format!(
            "recover: {} by `{}`",
            action.as_str(),
            journal::command_line()
        ))?;
        let mut ctx = RecoverCtx {
            target: t,
            journal: &mut journal,
            pg_bin_dir: s.pg_bin_dir.clone(),
            pgbouncer_admin_url: s.pgbouncer_admin_url.clone(),
        };
        match k.recover(&mut ctx, &st, action).await {
            Ok(done) => {
                let outcome = match action {
                    Action::Resume => "resumed",
                    Action::Abort => "aborted",
                };
                r.status = "recovered".into();
                r.message = format!("{outcome}: {}", done.last().cloned().unwrap_or_default());
                r.done = done;
                journal.end(outcome, &r.message)?;
            }
            Err(e) => {
                let _ = journal.note(&format!("recover failed: {e}"));
                r.status = "failed".into();
                r.message = e.to_string();
            }
        }
        report.operations.push(r);
    }
    Ok(report)
}

/// The operation a journal continues (one adopted from a database marker), if any.
fn adopted_from(st: &journal::JournalState) -> Option<&str> {
    st.facts.get("adopted")?.get("operation")?.as_str()
}

/// A mode in force within its lease is left alone unless named: it is on by design.
fn active_message(
    kind: &str,
    op: &str,
    lease_until: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    let lease = lease_until
        .map(|t| format!(" (lease until {})", t.format("%Y-%m-%d %H:%M:%S UTC")))
        .unwrap_or_default();
    format!(
        "{kind} mode is in force{lease}: left on; `migsafe {kind} off` or `migsafe recover --operation {op}` ends it"
    )
}
