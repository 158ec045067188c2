//! Switching a mode back: every knob to its journaled prior value (in reverse order), the
//! PgBouncer pool resumed or reconnected, the application layer's off hook run and its flag file
//! put back, the marker removed. It works from the journal alone ([`undo`]), so `off`, `migsafe
//! recover` ([`ModeKind`]), the interrupt handler and a failed `on` all end a mode the same way;
//! and from the database marker alone on another machine ([`crate::journal::adopt`]). Every
//! step is idempotent: running it twice (a crash during the switch back) does no harm.

use super::app::{self, hook_env};
use super::{Facts, ModeError, ModeReport, OffSettings, Setting, Status, mode_of};
use crate::engines::conn::Conn;
use crate::engines::modes::Mode;
use crate::engines::pgbouncer::PgBouncer;
use crate::engines::target::Target;
use crate::journal::recover::{Action, RecoverCtx, RecoverError, RecoverKind};
use crate::journal::{self, Journal, JournalState};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the local machine knows that the journal does not keep (credentials).
#[derive(Debug, Clone, Default)]
pub struct Local {
    pub pgbouncer_admin_url: Option<String>,
}

/// The facts of a mode's journal.
pub fn facts(state: &JournalState) -> Result<Facts, String> {
    serde_json::from_value(state.facts.clone()).map_err(|e| {
        format!(
            "the journal {} does not describe a mode migsafe understands: {e}",
            state.path.display()
        )
    })
}

/// The operation whose marker the database carries: the original one when this journal
/// continues another machine's operation.
fn origin(state: &JournalState) -> String {
    state
        .facts
        .get("adopted")
        .and_then(|a| a.get("operation"))
        .and_then(|o| o.as_str())
        .unwrap_or(&state.op)
        .to_string()
}

fn jerr(e: impl std::fmt::Display) -> String {
    format!("cannot write the journal: {e}")
}

/// Switches the mode of `state` back, journaling each step in `j`. Returns what was done, one
/// line each; an error leaves the journal open for another attempt (every step is idempotent).
pub async fn undo(
    target: &Target,
    state: &JournalState,
    j: &mut Journal,
    local: &Local,
) -> Result<Vec<String>, String> {
    let f = facts(state)?;
    let adopted = state.facts.get("adopted").is_some();
    let started = |step: &str| adopted || state.started(step);
    let eng = target.kind().engine();
    let mut done = Vec::new();
    let mut admin: Option<Conn> = None;
    if eng.admin().has_server() && (started("switch") || started("mark")) {
        admin = Some(
            eng.admin()
                .connect_admin(target)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    // the marker was set and is gone: another machine (or a --hold process) already switched
    // the database back, and what it put back must not be put back again over later changes;
    // only this machine's application layer is left
    let mut ended_elsewhere = false;
    if let Some(conn) = admin.as_mut()
        && !adopted
        && state
            .step("mark")
            .is_some_and(|s| s.done() && s.result.as_ref().is_none_or(|r| r["marker"] != false))
    {
        let op = origin(state);
        ended_elsewhere = !eng
            .admin()
            .markers(conn)
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .any(|(_, m)| m.operation == op);
        if ended_elsewhere {
            done.push(
                "the database side had already been switched back (its marker is gone): left as it is"
                    .to_string(),
            );
        }
    }
    // 1. the database, first: the application must not come back to a database that refuses it
    if started("switch") && !f.changes.is_empty() && !ended_elsewhere {
        let conn = admin.as_mut().ok_or("no admin connection")?;
        // a restore may have renamed the database the mode switched (its marker went with it):
        // that one gets its values from before the mode back too
        let op = origin(state);
        let mut renamed: Vec<String> = eng
            .admin()
            .markers(conn)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|(d, m)| m.operation == op && *d != f.database)
            .map(|(d, _)| d)
            .collect();
        renamed.dedup();
        j.step(
            "restore-settings",
            json!({"changes": f.changes, "renamed": renamed}),
        )
        .map_err(jerr)?;
        let mut errors = Vec::new();
        let mut put = Vec::new();
        for c in f.changes.iter().rev() {
            let also = renamed.iter().filter_map(|d| c.knob.on_database(d));
            for knob in std::iter::once(c.knob.clone()).chain(also) {
                match eng
                    .modes()
                    .write_knob(conn, &knob, c.prior.as_deref())
                    .await
                {
                    Ok(()) => put.push(format!(
                        "{} = {}",
                        knob.describe(),
                        c.prior.as_deref().unwrap_or("(not set)")
                    )),
                    Err(e) => errors.push(e.to_string()),
                }
            }
        }
        if !errors.is_empty() {
            let msg = format!(
                "putting the database settings back failed: {}",
                errors.join("; ")
            );
            let _ = j.failed("restore-settings", &msg);
            return Err(msg);
        }
        j.done("restore-settings", json!({})).map_err(jerr)?;
        done.push(format!("database settings put back: {}", put.join(", ")));
    }
    // 2. the pool
    if let Some(pb) = f.pgbouncer.as_ref().filter(|_| !ended_elsewhere) {
        let wants_resume = pb.pause && started("pgbouncer-pause");
        let wants_reconnect = pb.reconnect && started("switch");
        if wants_resume || wants_reconnect {
            let what = if wants_resume {
                "resumed"
            } else {
                "reconnected"
            };
            let step = if wants_resume {
                "pgbouncer-resume"
            } else {
                "pgbouncer-reconnect-back"
            };
            let Some(url) = &local.pgbouncer_admin_url else {
                return Err(format!(
                    "the PgBouncer pool {} ({}) must be {what}, but no PgBouncer admin URL is configured here: set [pgbouncer] admin_url (or MIGSAFE_PGBOUNCER_ADMIN_URL) and run this again",
                    pb.pool, pb.admin_url
                ));
            };
            j.step(step, json!({"pool": pb.pool, "admin_url": pb.admin_url}))
                .map_err(jerr)?;
            let r = async {
                let mut c = PgBouncer::connect(url).await?;
                let r = if wants_resume {
                    c.resume(&pb.pool).await
                } else {
                    c.reconnect(&pb.pool).await
                };
                c.close().await;
                r
            }
            .await;
            match r {
                Ok(()) => {
                    j.done(step, json!({})).map_err(jerr)?;
                    done.push(format!("PgBouncer pool {} {what}", pb.pool));
                }
                Err(e) => {
                    let msg = format!("PgBouncer pool {} could not be {what}: {e}", pb.pool);
                    let _ = j.failed(step, &msg);
                    return Err(msg);
                }
            }
        }
    }
    // 3. the application
    if let Some(a) = &f.app {
        if started("hook-on")
            && let Some(cmd) = a.hooks.off.clone()
        {
            j.step("hook-off", json!({"command": cmd})).map_err(jerr)?;
            let env = hook_env(f.mode, false, &f.database, &origin(state), None);
            let timeout = a.hooks.timeout();
            let run = tokio::task::spawn_blocking(move || app::run_hook(&cmd, &env, timeout))
                .await
                .map_err(|e| e.to_string())?;
            if !run.ok() {
                let msg = format!("the {} off hook failed: {}", f.mode.as_str(), run.failure());
                let _ = j.failed("hook-off", &msg);
                return Err(msg);
            }
            j.done("hook-off", json!(run)).map_err(jerr)?;
            done.push(format!("ran the off hook `{}`", run.command));
        }
        if started("flag-file")
            && let Some(ff) = &a.flag_file
        {
            j.step("flag-file-restore", json!({"path": ff.path}))
                .map_err(jerr)?;
            if let Err(e) = app::restore_flag(&ff.path, a.flag_prior.as_deref()) {
                let msg = format!(
                    "putting the flag file {} back failed: {e}",
                    ff.path.display()
                );
                let _ = j.failed("flag-file-restore", &msg);
                return Err(msg);
            }
            j.done("flag-file-restore", json!({})).map_err(jerr)?;
            done.push(match a.flag_prior {
                Some(_) => format!("flag file {} put back as it was", ff.path.display()),
                None => format!(
                    "flag file {} removed (there was none before)",
                    ff.path.display()
                ),
            });
        }
    } else if let Some(h) = &f.app_host
        && *h != crate::sys::proc::hostname()
    {
        done.push(format!(
            "the application layer (hooks, flag file) was switched on host {h}: run `migsafe {} off` there (or switch it back by hand)",
            f.mode.as_str()
        ));
    }
    // 4. the marker, last: until here another machine must still see the mode
    if let Some(conn) = admin.as_mut()
        && started("mark")
    {
        let op = origin(state);
        j.step("unmark", json!({"operation": op})).map_err(jerr)?;
        let markers = eng.admin().markers(conn).await.map_err(|e| e.to_string())?;
        for (db, m) in markers.iter().filter(|(_, m)| m.operation == op) {
            eng.admin()
                .clear_marker(conn, db, &m.operation)
                .await
                .map_err(|e| format!("removing the marker from {db}: {e}"))?;
        }
        j.done("unmark", json!({})).map_err(jerr)?;
    }
    if let Some(c) = admin {
        c.close().await;
    }
    done.push(format!(
        "{} is out of migsafe {} mode",
        f.database,
        f.mode.as_str()
    ));
    Ok(done)
}

/// `migsafe recover` for `read-only` and `maintenance`: always switches back (the lossless
/// end). Recover leaves a mode that is in force and within its lease alone unless the
/// operation is named (`crate::recover`).
pub struct ModeKind(pub Mode);

pub static READ_ONLY: ModeKind = ModeKind(Mode::ReadOnly);
pub static MAINTENANCE: ModeKind = ModeKind(Mode::Maintenance);

#[async_trait::async_trait(?Send)]
impl RecoverKind for ModeKind {
    fn kind(&self) -> &'static str {
        self.0.as_str()
    }

    fn default_action(&self, _state: &JournalState) -> Action {
        Action::Abort
    }

    async fn recover(
        &self,
        ctx: &mut RecoverCtx<'_>,
        state: &JournalState,
        action: Action,
    ) -> Result<Vec<String>, RecoverError> {
        if action == Action::Resume {
            return Err(RecoverError::Usage(format!(
                "a {} mode is not resumed by recover: switch it back (the default) and run `migsafe {} on` again",
                self.0.as_str(),
                self.0.as_str()
            )));
        }
        let local = Local {
            pgbouncer_admin_url: ctx.pgbouncer_admin_url.clone(),
        };
        undo(ctx.target, state, ctx.journal, &local)
            .await
            .map_err(RecoverError::Failed)
    }
}

/// After SIGINT/SIGTERM/SIGHUP (on the signal thread, children already stopped): switches the
/// mode journaled at `path` back. Returns what it did, for the message.
pub fn interrupted(url: &str, path: &Path, local: &Local) -> String {
    let Ok(state) = journal::load(path) else {
        return format!("the mode's journal {} could not be read", path.display());
    };
    if state.ended.is_some() {
        return format!("{} had already been switched back", state.kind);
    }
    let hint = format!(
        "run `migsafe {} off` (or `migsafe recover --operation {}`) to switch it back",
        state.kind, state.op
    );
    let (Ok(target), Ok(rt)) = (
        Target::parse(url),
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    ) else {
        return hint;
    };
    rt.block_on(async {
        let Ok(mut j) = Journal::reopen(&state) else {
            return hint.clone();
        };
        let _ = j.note("interrupted: switching back");
        match undo(&target, &state, &mut j, local).await {
            Ok(done) => {
                let msg = done.join("; ");
                let _ = j.end("aborted", &format!("interrupted: {msg}"));
                format!("{} switched back: {msg}", state.kind)
            }
            Err(e) => format!("{} could not be switched back ({e}); {hint}", state.kind),
        }
    })
}

/// Waits until operation `op` is no longer unfinished on `target` (its `--hold` process was
/// asked to switch back).
async fn wait_ended(target: &Target, dir: &Path, op: &str, within: Duration) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        let open = journal::unfinished_for(target, dir).await;
        if !open.iter().any(|u| u.operation == op) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// `read-only off` / `maintenance off`: switches back every migsafe mode of this kind on the
/// database, from this machine's journal or, when the journal is on another machine, from the
/// marker. A `--hold` process of this machine is asked to switch back itself (SIGTERM).
pub async fn off(s: &OffSettings) -> Result<ModeReport, ModeError> {
    let began = Instant::now();
    let target = Target::parse(&s.url)?;
    let db = target.database().to_string();
    let mut r = ModeReport::new(s.mode, "off", &target);
    let local = Local {
        pgbouncer_admin_url: s.pgbouncer_admin_url.clone(),
    };
    let found: Vec<_> = journal::unfinished_for(&target, &s.journal_dir)
        .await
        .into_iter()
        .filter(|u| mode_of(u, s.mode, &db))
        .collect();
    if found.is_empty() {
        r.status = Status::NotOn;
        r.message = format!(
            "{db} is not in a migsafe {} mode: nothing to switch off",
            s.mode.as_str()
        );
        if let Some(outside) = super::status::outside_migsafe(&target, s.mode).await {
            r.warnings.push(format!(
                "{outside}: not set by migsafe (no journal, no marker), so left as it is"
            ));
        }
        r.duration_ms = began.elapsed().as_millis() as u64;
        return Ok(r);
    }
    let mut failed = Vec::new();
    for u in found {
        r.operation = Some(u.operation.clone());
        if u.running {
            // a --hold process of this host: it switches back itself, with its application layer
            crate::sys::proc::send_signal(u.pid, libc::SIGTERM);
            if wait_ended(&target, &s.journal_dir, &u.operation, s.hold_wait).await {
                r.undone.push(format!(
                    "the --hold process {} switched {} back",
                    u.pid,
                    s.mode.as_str()
                ));
                continue;
            }
            r.warnings.push(format!(
                "the --hold process {} did not switch back within {}: switching back from here",
                u.pid,
                humantime::format_duration(s.hold_wait)
            ));
        }
        let state = if u.source == "journal" {
            journal::unfinished(&s.journal_dir)
                .into_iter()
                .flatten()
                .find(|st| st.op == u.operation)
                .ok_or_else(|| {
                    ModeError::Failed(format!("the journal of {} vanished", u.operation))
                })?
        } else if u.facts.is_some() {
            journal::adopt(&s.journal_dir, &target, &u)?
        } else {
            failed.push(format!(
                "operation {} has only a marker without the prior settings: run `migsafe recover --operation {}` on host {}",
                u.operation, u.operation, u.host
            ));
            continue;
        };
        if let Ok(f) = super::undo::facts(&state) {
            r.settings = f.changes.iter().map(Setting::of).collect();
            r.scope = Some(f.scope);
        }
        r.journal = Some(state.path.clone());
        let mut j = Journal::reopen(&state)?;
        j.note(&format!("off by `{}`", journal::command_line()))?;
        // switching back is not cut short by Ctrl-C: it waits for the end
        let critical = crate::sys::signals::Critical::enter();
        let res = undo(&target, &state, &mut j, &local).await;
        match res {
            Ok(done) => {
                j.end("finished", &format!("switched off: {}", done.join("; ")))?;
                r.undone.extend(done);
            }
            Err(e) => {
                let _ = j.note(&format!("off failed: {e}"));
                failed.push(e);
            }
        }
        if critical.finish().is_some() {
            r.warnings
                .push("an interrupt arrived while switching back and waited for it".into());
        }
    }
    if failed.is_empty() {
        r.status = Status::Off;
        r.message = format!("{db} is out of migsafe {} mode", s.mode.as_str());
    } else {
        r.status = Status::Failed;
        r.message = format!(
            "switching back did not finish ({}); run `migsafe {} off` again once fixed",
            failed.join("; "),
            s.mode.as_str()
        );
    }
    r.duration_ms = began.elapsed().as_millis() as u64;
    Ok(r)
}
