//! `read-only status` / `maintenance status`: whether the database is in the mode, since when,
//! by whom (host, user), until when (the lease), whether a process holds it, whether every knob
//! still has the mode's value, and which sessions could still write (or connect). A mode set
//! outside migsafe (a read-only default, a closed database without a journal or marker) is
//! reported as such.

use super::{Facts, Mode, OpenSession, PgBouncerSettings, Scope, Setting, mode_of, undo};
use crate::engines::modes::{Block, ModeOptions, truthy};
use crate::engines::pgbouncer::PgBouncer;
use crate::engines::target::Target;
use crate::journal;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct StatusSettings {
    pub url: String,
    pub mode: Mode,
    pub journal_dir: PathBuf,
    pub pgbouncer: Option<PgBouncerSettings>,
}

#[derive(Debug, Clone, Serialize)]
pub struct By {
    pub host: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub pid: u32,
    pub command: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolStatus {
    pub pool: String,
    pub paused: bool,
    pub disabled: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub mode: Mode,
    pub engine: String,
    /// Redacted.
    pub target: String,
    pub database: String,
    /// `on`, `off`, `switching` (its `on` still runs), `interrupted` (its `on` did not finish:
    /// `recover` ends it), `on-outside-migsafe`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<By>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    pub lease_expired: bool,
    /// A `--hold` process renews it.
    pub held: bool,
    /// `journal` (this machine) or `marker` (the journal is on another machine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    pub settings: Vec<Setting>,
    /// Sessions that could still write (read-only) or are still connected (maintenance).
    pub sessions: Vec<OpenSession>,
    pub could_still_write: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pgbouncer: Option<PoolStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag_file: Option<PathBuf>,
    pub warnings: Vec<String>,
}

impl StatusReport {
    /// 0 unless something needs a human: an expired lease, an interrupted switch, a knob that
    /// drifted from the mode's value.
    pub fn exit_code(&self) -> u8 {
        let drifted = self
            .settings
            .iter()
            .any(|s| s.current.as_ref().is_some_and(|c| *c != s.value));
        if self.lease_expired || self.state == "interrupted" || (self.state == "on" && drifted) {
            1
        } else {
            0
        }
    }
}

/// What the database shows of `mode` when migsafe did not set it (`None`: nothing).
pub(crate) async fn outside_migsafe(target: &Target, mode: Mode) -> Option<String> {
    let eng = target.kind().engine();
    if !eng.admin().has_server() {
        return None;
    }
    let mut c = eng.admin().connect_admin(target).await.ok()?;
    let db = target.database();
    let out = match (target, mode) {
        (Target::Mysql(_), Mode::ReadOnly) => eng
            .admin()
            .read_only(&mut c, db)
            .await
            .ok()
            .filter(|on| *on)
            .map(|_| "the server's global read_only is on".to_string()),
        (Target::Mysql(_), Mode::Maintenance) => None,
        (_, Mode::ReadOnly) => eng
            .admin()
            .database_state(&mut c, db)
            .await
            .ok()
            .and_then(|s| s.setting("default_transaction_read_only").map(truthy))
            .filter(|on| *on)
            .map(|_| format!("{db} has default_transaction_read_only = on")),
        (_, Mode::Maintenance) => eng
            .admin()
            .database_state(&mut c, db)
            .await
            .ok()
            .and_then(|s| {
                if s.allow_connections == Some(false) {
                    Some(format!("{db} has ALLOW_CONNECTIONS false"))
                } else if s.connection_limit == Some(0) {
                    Some(format!("{db} has CONNECTION LIMIT 0"))
                } else {
                    None
                }
            }),
    };
    c.close().await;
    out
}

pub async fn status(s: &StatusSettings) -> Result<StatusReport, super::ModeError> {
    let target = Target::parse(&s.url)?;
    let db = target.database().to_string();
    let eng = target.kind().engine();
    let mut r = StatusReport {
        mode: s.mode,
        engine: target.kind().as_str().into(),
        target: target.redacted(),
        database: db.clone(),
        state: "off".into(),
        operation: None,
        since: None,
        by: None,
        lease_until: None,
        lease_expired: false,
        held: false,
        source: None,
        scope: None,
        settings: vec![],
        sessions: vec![],
        could_still_write: vec![],
        pgbouncer: None,
        flag_file: None,
        warnings: vec![],
    };
    let found: Vec<_> = journal::unfinished_for(&target, &s.journal_dir)
        .await
        .into_iter()
        .filter(|u| mode_of(u, s.mode, &db))
        .collect();
    let Some(u) = found.first() else {
        if let Some(outside) = outside_migsafe(&target, s.mode).await {
            r.state = "on-outside-migsafe".into();
            r.warnings.push(format!(
                "{outside}, but no migsafe journal or marker records it: migsafe did not set it and `off` leaves it alone"
            ));
        }
        return Ok(r);
    };
    if found.len() > 1 {
        r.warnings.push(format!(
            "{} {} operations are open on {db}: {}",
            found.len(),
            s.mode.as_str(),
            found
                .iter()
                .map(|u| u.operation.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    r.operation = Some(u.operation.clone());
    r.since = Some(u.started_at);
    r.by = Some(By {
        host: u.host.clone(),
        user: u.user.clone(),
        pid: u.pid,
        command: u.command.clone(),
    });
    r.lease_until = u.lease_until;
    r.lease_expired = u.lease_expired();
    r.held = u.running && u.active;
    r.source = Some(u.source.clone());
    r.state = if u.active {
        "on"
    } else if u.running {
        "switching"
    } else {
        "interrupted"
    }
    .into();
    if r.state == "interrupted" {
        r.warnings.push(format!(
            "switching {} on did not finish: `migsafe recover --operation {}` (or `migsafe {} off`) switches back what was switched",
            s.mode.as_str(),
            u.operation,
            s.mode.as_str()
        ));
    }
    if r.lease_expired {
        r.warnings.push(u.describe());
    }
    let facts: Option<Facts> = if u.source == "journal" {
        journal::unfinished(&s.journal_dir)
            .into_iter()
            .flatten()
            .find(|st| st.op == u.operation)
            .and_then(|st| {
                let mut f = undo::facts(&st).ok()?;
                // the switch time is known once the switch is done
                f.switched_at = st
                    .step("switch")
                    .and_then(|x| x.result.as_ref()?.get("switched_at")?.as_f64());
                Some(f)
            })
    } else {
        u.facts.clone().and_then(|f| serde_json::from_value(f).ok())
    };
    let Some(f) = facts else {
        r.warnings
            .push("the mode's facts could not be read: settings are not compared".into());
        return Ok(r);
    };
    r.scope = Some(f.scope);
    r.flag_file = f
        .app
        .as_ref()
        .and_then(|a| a.flag_file.as_ref())
        .map(|ff| ff.path.clone());
    if eng.admin().has_server() && !f.changes.is_empty() {
        let mut c = eng.admin().connect_admin(&target).await?;
        for ch in &f.changes {
            let mut st = Setting::of(ch);
            let now = eng.modes().read_knob(&mut c, &ch.knob).await?;
            if r.state == "on" && now != ch.value {
                r.warnings.push(format!(
                    "{} is {} now, not the mode's {}: changed since the mode was switched on",
                    st.what,
                    now.as_deref().unwrap_or("(not set)"),
                    ch.value.as_deref().unwrap_or("(not set)")
                ));
            }
            st.current = Some(now);
            r.settings.push(st);
        }
        let opts = ModeOptions {
            app_roles: f.app_roles.clone(),
            block: if f.changes.iter().any(|c| {
                matches!(
                    c.knob,
                    crate::engines::modes::Knob::RoleConnectionLimit { .. }
                )
            }) {
                Block::Roles
            } else {
                Block::Database
            },
            ..ModeOptions::default()
        };
        // a global switch and an account's lock are server-wide: so are their sessions
        let server_wide = f.changes.iter().any(|c| {
            matches!(
                c.knob,
                crate::engines::modes::Knob::Global { .. }
                    | crate::engines::modes::Knob::AccountLock { .. }
            )
        });
        let roles = if s.mode == Mode::Maintenance {
            f.app_roles.clone()
        } else {
            vec![]
        };
        let sessions = eng
            .modes()
            .open_sessions(&mut c, &db, &roles, server_wide)
            .await?;
        r.sessions = sessions
            .into_iter()
            .filter(|x| !x.is_migsafe())
            .filter(|x| match s.mode {
                Mode::Maintenance => true,
                Mode::ReadOnly => {
                    x.writing
                        || f.switched_at
                            .zip(x.started_epoch)
                            .is_some_and(|(sw, st)| st < sw)
                }
            })
            .collect();
        r.could_still_write = eng
            .modes()
            .still_writable(&mut c, &db, s.mode, &opts)
            .await?;
        c.close().await;
    }
    if let (Some(pb), Some(pf)) = (&s.pgbouncer, &f.pgbouncer)
        && let Ok(mut c) = PgBouncer::connect(&pb.admin_url).await
    {
        if let Ok(Some(p)) = c.pool(&pf.pool).await {
            if s.mode == Mode::Maintenance && r.state == "on" && !p.paused {
                r.warnings.push(format!(
                    "the PgBouncer pool {} is not paused any more",
                    pf.pool
                ));
            }
            r.pgbouncer = Some(PoolStatus {
                pool: p.name,
                paused: p.paused,
                disabled: p.disabled,
            });
        }
        c.close().await;
    }
    Ok(r)
}
