//! `read-only on` / `maintenance on`: refuse to stack, read every prior value, journal it (and
//! mark the database with it), then switch layer by layer — the application (flag file, on
//! hook), PgBouncer (pause for maintenance), the database knobs, PgBouncer's reconnect
//! (read-only) — drain in-flight writes, end the sessions that would keep writing, and verify
//! with fresh connections and the server's session list. A failure at any step switches back
//! everything already switched (from the journal) and exits 1 with the reason; an interrupt
//! does the same on the signal thread; a kill -9 leaves the journal and the marker for `off` and
//! `migsafe recover`. With `--hold` the process stays, renews the lease, and switches back when
//! its command ends or it is interrupted.

use super::app::{self, HookRun, flag_text, hook_env};
use super::undo::{self, Local};
use super::{
    AppFacts, Drain, Facts, Held, Hold, ModeError, ModeReport, OnSettings, PgBouncerFacts,
    PoolReport, ProbeReport, Scope, Setting, Status, Step, Verification, database_url, mode_of,
    os_user,
};
use crate::engines::admin::Marker;
use crate::engines::conn::Conn;
use crate::engines::modes::{Block, Mode, ModePlan, OpenSession};
use crate::engines::pgbouncer::PgBouncer;
use crate::engines::target::Target;
use crate::engines::{Engine, EngineError, EngineKind, redact_url};
use crate::journal::{self, ACTIVE_STEP, Journal, JournalTarget};
use crate::sys::signals;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The lease of `--hold` without `--lease`: short, so a holder killed with -9 is noticed soon.
pub const DEFAULT_HOLD_LEASE: Duration = Duration::from_secs(60);

/// Keeps the interrupt handler and the switching steps apart: a step acts while holding the
/// lock; the handler asks to stop, waits for the step in hand, then switches back from the
/// journal. Long waits (drains) check `stop` and give up the lock.
#[derive(Default)]
pub(crate) struct Gate {
    stop: AtomicBool,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Gate {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// Why the switching stopped.
enum Stop {
    /// A step failed: switch back what was switched.
    Failed(String),
    /// An interrupt: the signal thread switches back and ends the process.
    Interrupted,
}

impl From<EngineError> for Stop {
    fn from(e: EngineError) -> Stop {
        Stop::Failed(e.to_string())
    }
}

type Guard = tokio::sync::OwnedMutexGuard<()>;

/// One run of `on`: what it knows and what it has switched so far.
struct Run<'a> {
    s: &'a OnSettings,
    target: &'a Target,
    eng: &'static dyn Engine,
    db: String,
    admin: Option<Conn>,
    plan: ModePlan,
    facts: Facts,
    scope: Scope,
    /// `(admin URL with credentials, pool)`.
    pool: Option<(String, String)>,
    journal: Option<Journal>,
    gate: Arc<Gate>,
    marker: Option<Marker>,
    r: &'a mut ModeReport,
    notify: &'a (dyn Fn(&str) + Sync),
}

impl Run<'_> {
    fn journal(&mut self) -> &mut Journal {
        self.journal
            .as_mut()
            .expect("the journal is open while switching")
    }

    /// Enters a step: waits for the gate, stops if an interrupt is being handled, journals the
    /// step (its state is what undoing it needs) before it acts.
    async fn begin(&mut self, name: &str, state: Value) -> Result<(Guard, Instant), Stop> {
        let guard = self.gate.lock.clone().lock_owned().await;
        if self.gate.stopped() {
            return Err(Stop::Interrupted);
        }
        self.journal()
            .step(name, state)
            .map_err(|e| Stop::Failed(format!("cannot write the journal: {e}")))?;
        Ok((guard, Instant::now()))
    }

    /// Ends a step: journals its outcome (unless an interrupt took over meanwhile).
    fn end(
        &mut self,
        name: &str,
        (guard, began): (Guard, Instant),
        outcome: Result<Value, String>,
        details: String,
    ) -> Result<(), Stop> {
        if self.gate.stopped() {
            drop(guard);
            return Err(Stop::Interrupted);
        }
        let ms = began.elapsed().as_millis() as u64;
        let res = match outcome {
            Ok(v) => {
                self.r.steps.push(Step {
                    name: name.into(),
                    ok: true,
                    ms,
                    details,
                });
                self.journal()
                    .done(name, v)
                    .map_err(|e| Stop::Failed(format!("cannot write the journal: {e}")))
            }
            Err(e) => {
                self.r.steps.push(Step {
                    name: name.into(),
                    ok: false,
                    ms,
                    details: e.clone(),
                });
                let _ = self.journal().failed(name, &e);
                Err(Stop::Failed(e))
            }
        };
        drop(guard);
        res
    }

    fn use_db(&self) -> bool {
        self.scope.database()
    }

    fn use_app(&self) -> bool {
        self.scope.app()
    }

    fn admin(&mut self) -> Result<&mut Conn, Stop> {
        self.admin
            .as_mut()
            .ok_or_else(|| Stop::Failed("no admin connection".into()))
    }

    async fn mark(&mut self) -> Result<(), Stop> {
        if self.admin.is_none() {
            return Ok(());
        }
        let facts = self.facts.for_marker();
        let marker = Marker {
            operation: self.journal().id().to_string(),
            kind: self.s.mode.as_str().into(),
            started_at: self.r.since.unwrap_or_else(Utc::now),
            host: crate::sys::proc::hostname(),
            pid: std::process::id(),
            command: journal::command_line(),
            user: Some(self.facts.user.clone()),
            pid_start: crate::sys::proc::start_time(std::process::id()),
            active: false,
            lease_until: self.facts.lease_until,
            facts: serde_json::to_value(&facts).ok(),
        };
        let db = self.db.clone();
        let g = self.begin("mark", json!({"database": db})).await?;
        let eng = self.eng;
        let res = eng.admin().set_marker(self.admin()?, &db, &marker).await;
        match res {
            Ok(()) => {
                self.marker = Some(marker);
                self.end(
                    "mark",
                    g,
                    Ok(json!({})),
                    format!("{db} carries the marker with the prior settings"),
                )
            }
            Err(e) => {
                self.r.warnings.push(format!(
                    "no marker on {db} ({e}): only this machine's journal records the mode, so only this machine can switch it back"
                ));
                self.end("mark", g, Ok(json!({"marker": false})), e.to_string())
            }
        }
    }

    /// Rewrites the marker (`active`, a renewed lease, the switch time); a failure is a
    /// warning: the journal is the record.
    async fn remark(&mut self) -> Option<String> {
        let mut m = self.marker.clone()?;
        m.lease_until = self.facts.lease_until;
        m.facts = serde_json::to_value(self.facts.for_marker()).ok();
        let db = self.db.clone();
        let eng = self.eng;
        let conn = self.admin.as_mut()?;
        match eng.admin().set_marker(conn, &db, &m).await {
            Ok(()) => {
                self.marker = Some(m);
                None
            }
            Err(e) => Some(format!("the marker on {db} could not be updated: {e}")),
        }
    }

    async fn flag_on(&mut self) -> Result<(), Stop> {
        let Some(ff) = self.s.flag_file.clone().filter(|_| self.use_app()) else {
            return Ok(());
        };
        let g = self
            .begin(
                "flag-file",
                json!({"path": ff.path, "existed": self.facts.app.as_ref().is_some_and(|a| a.flag_prior.is_some())}),
            )
            .await?;
        let op = self.journal().id().to_string();
        let text = flag_text(
            &ff,
            self.s.mode,
            &op,
            self.r.since.unwrap_or_else(Utc::now),
            self.facts.lease_until,
        );
        let res = app::write_flag(&ff.path, &text)
            .map(|_| json!({}))
            .map_err(|e| format!("writing the flag file {}: {e}", ff.path.display()));
        self.r.flag_file = Some(ff.path.clone());
        self.end(
            "flag-file",
            g,
            res,
            format!(
                "{} says {}=true",
                ff.path.display(),
                self.s.mode.flag_name()
            ),
        )
    }

    async fn hook_on(&mut self) -> Result<(), Stop> {
        let Some(cmd) = self.s.hooks.on.clone().filter(|_| self.use_app()) else {
            return Ok(());
        };
        let g = self.begin("hook-on", json!({"command": cmd})).await?;
        let op = self.journal().id().to_string();
        let env = hook_env(self.s.mode, true, &self.db, &op, self.facts.lease_until);
        let timeout = self.s.hooks.timeout();
        let run: HookRun = tokio::task::spawn_blocking(move || app::run_hook(&cmd, &env, timeout))
            .await
            .map_err(|e| Stop::Failed(e.to_string()))?;
        self.r.hooks.push(run.clone());
        let res = if run.ok() {
            Ok(json!(run))
        } else {
            Err(format!(
                "the {} on hook failed: {}",
                self.s.mode.as_str(),
                run.failure()
            ))
        };
        self.end(
            "hook-on",
            g,
            res,
            format!("`{}` ({} ms)", run.command, run.ms),
        )
    }

    async fn pause_pool(&mut self) -> Result<Vec<i64>, Stop> {
        let Some((url, pool)) = self.pool.clone() else {
            return Ok(vec![]);
        };
        if self.s.mode != Mode::Maintenance {
            return Ok(vec![]);
        }
        let max_wait = self
            .s
            .pgbouncer
            .as_ref()
            .map(|p| p.max_wait)
            .unwrap_or(Duration::from_secs(30));
        let g = self
            .begin(
                "pgbouncer-pause",
                json!({"pool": pool, "admin_url": redact_url(&url)}),
            )
            .await?;
        let res = PgBouncer::pause(&url, &pool, max_wait).await;
        let ok = res.is_ok();
        self.r.pgbouncer = Some(PoolReport {
            admin_url: redact_url(&url),
            pool: pool.clone(),
            action: "PAUSE".into(),
            ok,
        });
        let pids = if ok {
            match PgBouncer::connect(&url).await {
                Ok(mut c) => {
                    let p = c.server_pids(&pool).await.unwrap_or_default();
                    c.close().await;
                    p
                }
                Err(_) => vec![],
            }
        } else {
            vec![]
        };
        self.end(
            "pgbouncer-pause",
            g,
            res.map(|_| json!({"server_pids": pids}))
                .map_err(|e| e.to_string()),
            format!("PgBouncer pool {pool} paused: clients wait instead of failing"),
        )?;
        Ok(pids)
    }

    async fn switch(&mut self) -> Result<(), Stop> {
        let changes = self.plan.changes.clone();
        let g = self.begin("switch", json!({"changes": changes})).await?;
        let eng = self.eng;
        let mut res: Result<f64, String> = Ok(0.0);
        for c in &changes {
            if let Err(e) = eng
                .modes()
                .write_knob(self.admin()?, &c.knob, c.value.as_deref())
                .await
            {
                res = Err(e.to_string());
                break;
            }
        }
        if res.is_ok() {
            res = eng
                .modes()
                .server_clock(self.admin()?)
                .await
                .map_err(|e| e.to_string());
        }
        if let Ok(at) = res {
            self.facts.switched_at = Some(at);
        }
        let details = changes
            .iter()
            .map(|c| {
                format!(
                    "{} = {}",
                    c.knob.describe(),
                    c.value.as_deref().unwrap_or("(not set)")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        self.end(
            "switch",
            g,
            res.map(|at| json!({"switched_at": at})),
            details,
        )
    }

    async fn reconnect_pool(&mut self) -> Result<Vec<i64>, Stop> {
        let Some((url, pool)) = self.pool.clone() else {
            return Ok(vec![]);
        };
        if self.s.mode != Mode::ReadOnly {
            return Ok(vec![]);
        }
        let g = self
            .begin("pgbouncer-reconnect", json!({"pool": pool}))
            .await?;
        let res = async {
            let mut c = PgBouncer::connect(&url).await?;
            let before = c.server_pids(&pool).await?;
            c.reconnect(&pool).await?;
            c.close().await;
            Ok::<_, EngineError>(before)
        }
        .await;
        let pids = res.as_ref().cloned().unwrap_or_default();
        self.r.pgbouncer = Some(PoolReport {
            admin_url: redact_url(&url),
            pool: pool.clone(),
            action: "RECONNECT".into(),
            ok: res.is_ok(),
        });
        self.end(
            "pgbouncer-reconnect",
            g,
            res.map(|p| json!({"server_pids_before": p}))
                .map_err(|e| e.to_string()),
            format!(
                "PgBouncer pool {pool}: server connections close once released and reopen read-only"
            ),
        )?;
        Ok(pids)
    }

    /// The sessions the mode is about: for read-only, those opened before the switch (they keep
    /// their old default) and any that is writing; for maintenance, every session of the
    /// database (or of the application roles). migsafe's own and `except` are spared.
    async fn candidates(&mut self, except: &[i64]) -> Result<Vec<OpenSession>, Stop> {
        let mode = self.s.mode;
        let roles = if mode == Mode::Maintenance {
            self.plan.app_roles.clone()
        } else {
            vec![]
        };
        let (db, server_wide, reaches, switched) = (
            self.db.clone(),
            self.plan.server_wide_sessions,
            self.plan.reaches_open_sessions,
            self.facts.switched_at,
        );
        let eng = self.eng;
        let all = eng
            .modes()
            .open_sessions(self.admin()?, &db, &roles, server_wide)
            .await?;
        Ok(all
            .into_iter()
            .filter(|x| !x.is_migsafe() && !except.contains(&x.id))
            .filter(|x| match mode {
                Mode::Maintenance => true,
                Mode::ReadOnly if reaches => x.writing,
                Mode::ReadOnly => {
                    x.writing
                        || match (switched, x.started_epoch) {
                            (Some(sw), Some(st)) => st < sw,
                            _ => true,
                        }
                }
            })
            .collect())
    }

    /// Waits up to `--drain` for in-flight writes to end (and for pool connections to be
    /// recycled by PgBouncer), checking for an interrupt between looks.
    async fn drain(&mut self, except: &[i64], pool_pids: &[i64]) -> Result<(), Stop> {
        let g = self
            .begin(
                "drain",
                json!({"drain_ms": self.s.drain.as_millis() as u64}),
            )
            .await?;
        let began = Instant::now();
        let deadline = began + self.s.drain;
        let mut d = Drain::default();
        // the step's lock is released while waiting: an interrupt is seen between looks
        let (guard, started) = g;
        drop(guard);
        let mut first = true;
        loop {
            if self.gate.stopped() {
                return Err(Stop::Interrupted);
            }
            let now = self.candidates(except).await?;
            let writing: Vec<OpenSession> = now.iter().filter(|x| x.writing).cloned().collect();
            if std::mem::take(&mut first) {
                d.writing_at_start = writing.clone();
                if !writing.is_empty() {
                    (self.notify)(&format!(
                        "draining: waiting up to {} for {} session(s) in a write transaction to finish",
                        humantime::format_duration(self.s.drain),
                        writing.len()
                    ));
                }
            }
            let pooled = now.iter().any(|x| pool_pids.contains(&x.id));
            if (writing.is_empty() && !pooled) || Instant::now() >= deadline {
                d.writing_at_end = writing;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        d.waited_ms = began.elapsed().as_millis() as u64;
        let details = format!(
            "{} writing session(s) at the start, {} still writing after {} ms",
            d.writing_at_start.len(),
            d.writing_at_end.len(),
            d.waited_ms
        );
        let v = json!(d);
        self.r.drain = Some(d);
        let guard = self.gate.lock.clone().lock_owned().await;
        self.end("drain", (guard, started), Ok(v), details)
    }

    /// Ends the sessions that would keep writing (or, in maintenance, every application session)
    /// and waits until they are gone.
    async fn terminate(&mut self, except: &[i64]) -> Result<(), Stop> {
        if !self.s.terminate {
            return Ok(());
        }
        let victims = self.candidates(except).await?;
        let ids: Vec<i64> = victims.iter().map(|x| x.id).collect();
        let g = self
            .begin("terminate", json!({"sessions": victims}))
            .await?;
        let eng = self.eng;
        let res = eng.modes().end_sessions(self.admin()?, &ids).await;
        // ended backends take a moment to go
        let until = Instant::now() + Duration::from_secs(5);
        while res.is_ok() && Instant::now() < until {
            let left = self.candidates(except).await?;
            if !left.iter().any(|x| ids.contains(&x.id)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let details = if victims.is_empty() {
            "no session to end".to_string()
        } else {
            format!(
                "ended {}",
                victims
                    .iter()
                    .map(OpenSession::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        self.r.ended_sessions = victims;
        self.end(
            "terminate",
            g,
            res.map(|n| json!({"ended": n})).map_err(|e| e.to_string()),
            details,
        )
    }

    /// Fresh connections and the session list: the proof.
    async fn verify(&mut self, except: &[i64]) -> Result<(), Stop> {
        let g = self.begin("verify", json!({})).await?;
        let mut v = Verification::default();
        let (mode, db, eng) = (self.s.mode, self.db.clone(), self.eng);
        let own = database_url(self.target);
        let mysql = self.target.kind() == EngineKind::Mysql;
        // every knob holds the mode's value
        for c in self.plan.changes.clone() {
            let now = eng.modes().read_knob(self.admin()?, &c.knob).await?;
            if now != c.value {
                v.problems.push(format!(
                    "{} reads {} instead of {}",
                    c.knob.describe(),
                    now.as_deref().unwrap_or("(not set)"),
                    c.value.as_deref().unwrap_or("(not set)")
                ));
            }
        }
        // a fresh connection as the application
        let app_probe = match (&self.s.app_url, mode) {
            (Some(u), _) => Some(u.clone()),
            (None, Mode::ReadOnly) if !mysql => Some(own.clone()),
            (None, Mode::Maintenance) if !mysql && self.s.options.block == Block::Database => {
                Some(own.clone())
            }
            _ => None,
        };
        match app_probe {
            Some(url) => {
                let p = eng.modes().probe(&url, &db, mode, false).await;
                let who = if url == own {
                    self.target.redacted()
                } else {
                    redact_url(&url)
                };
                let what = if mode == Mode::ReadOnly {
                    "a write"
                } else {
                    "the connection"
                };
                if p.allowed() || (self.s.app_url.is_some() && !p.refused()) {
                    v.problems.push(format!(
                        "a fresh connection as {who} was not refused {what}: {}",
                        p.describe()
                    ));
                } else if !p.refused() {
                    self.r.warnings.push(format!(
                        "the fresh-connection probe as {who} could not tell: {}",
                        p.describe()
                    ));
                }
                v.application = Some(ProbeReport {
                    url: who,
                    expect: "refused".into(),
                    probe: p,
                });
            }
            None => v.notes.push(format!(
                "no --app-url: {} of the application's own account is shown by the settings, not by a fresh connection (pass --app-url to prove it)",
                if mode == Mode::ReadOnly {
                    "the refusal of writes"
                } else {
                    "the refusal of new connections"
                }
            )),
        }
        if mode == Mode::ReadOnly {
            let p = eng.modes().probe(&own, &db, mode, true).await;
            if !p.allowed() {
                self.r.warnings.push(format!(
                    "migsafe's migration session cannot write while {} is on: {}",
                    mode.as_str(),
                    p.describe()
                ));
            }
            v.migration_session = Some(ProbeReport {
                url: self.target.redacted(),
                expect: "allowed".into(),
                probe: p,
            });
        }
        if let Some((url, pool)) = self.pool.clone().filter(|_| mode == Mode::Maintenance) {
            let paused = match PgBouncer::connect(&url).await {
                Ok(mut c) => {
                    let p = c.pool(&pool).await.ok().flatten().is_some_and(|p| p.paused);
                    c.close().await;
                    p
                }
                Err(_) => false,
            };
            if !paused {
                v.problems
                    .push(format!("the PgBouncer pool {pool} is not paused"));
            }
            v.pool_paused = Some(paused);
        }
        // the server's session list
        let now = self.candidates(except).await?;
        v.writing_sessions = now.iter().filter(|x| x.writing).cloned().collect();
        v.remaining_sessions = now;
        let list = |s: &[OpenSession]| {
            s.iter()
                .map(OpenSession::describe)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !v.writing_sessions.is_empty() {
            if self.plan.reaches_open_sessions {
                self.r.could_still_write.push(format!(
                    "sessions still in a write transaction (their COMMIT fails unless their account is exempt): {}",
                    list(&v.writing_sessions)
                ));
            } else {
                v.problems.push(format!(
                    "sessions still hold a write transaction: {}",
                    list(&v.writing_sessions)
                ));
            }
        }
        let others: Vec<OpenSession> = v
            .remaining_sessions
            .iter()
            .filter(|x| !x.writing)
            .cloned()
            .collect();
        if !others.is_empty() {
            if self.s.terminate {
                v.problems.push(format!(
                    "sessions the mode ended are still there: {}",
                    list(&others)
                ));
            } else {
                self.r.could_still_write.push(format!(
                    "sessions left open (--no-terminate){}: {}",
                    if mode == Mode::ReadOnly {
                        " keep the default they started with and can still write"
                    } else {
                        " stay connected"
                    },
                    list(&others)
                ));
            }
        }
        v.ok = v.problems.is_empty();
        let res = if v.ok {
            Ok(json!(v))
        } else {
            Err(format!("verification failed: {}", v.problems.join("; ")))
        };
        let details = if v.ok {
            "fresh connections and the session list agree".to_string()
        } else {
            v.problems.join("; ")
        };
        self.r.verification = Some(v);
        self.end("verify", g, res, details)
    }

    async fn activate(&mut self) -> Result<(), Stop> {
        let lease = self.facts.lease_until;
        let g = self
            .begin(
                ACTIVE_STEP,
                json!({"lease_until": lease, "switched_at": self.facts.switched_at}),
            )
            .await?;
        self.r.status = Status::On;
        if let Some(m) = self.marker.as_mut() {
            m.active = true;
        }
        if let Some(w) = self.remark().await {
            self.r.warnings.push(w);
        }
        self.end(ACTIVE_STEP, g, Ok(json!({})), "the mode is in force".into())
    }

    /// All the steps, in order.
    async fn switch_on(&mut self) -> Result<(), Stop> {
        self.mark().await?;
        self.flag_on().await?;
        self.hook_on().await?;
        if !self.use_db() {
            return self.activate().await;
        }
        let mut except = self.pause_pool().await?;
        if self.plan.reaches_open_sessions {
            self.drain(&except, &[]).await?;
            self.switch().await?;
        } else {
            self.switch().await?;
            let pool_pids = self.reconnect_pool().await?;
            self.drain(&except, &pool_pids).await?;
        }
        self.terminate(&except).await?;
        except.sort_unstable();
        self.verify(&except).await?;
        self.activate().await
    }

    /// Renews the lease while `--hold` lasts; returns why it ended.
    async fn hold(&mut self, hold: &Hold) -> Result<Held, Stop> {
        let lease = self.s.lease.unwrap_or(DEFAULT_HOLD_LEASE);
        let every = (lease / 3).max(Duration::from_millis(500));
        let mut held = Held::default();
        let mut child = None;
        if let Some((prog, args)) = hold.command.split_first() {
            let mut cmd = std::process::Command::new(prog);
            cmd.args(args);
            let op = self.journal().id().to_string();
            cmd.envs(hook_env(
                self.s.mode,
                true,
                &self.db,
                &op,
                self.facts.lease_until,
            ));
            match crate::sys::child::spawn(&mut cmd) {
                Ok(c) => child = Some(c),
                Err(e) => {
                    held.ended = format!("the command to hold for could not start: {e}");
                    held.command_exit = Some(127);
                    return Ok(held);
                }
            }
        }
        (self.notify)(&format!(
            "{} is on and held: the lease is renewed every {}; {} switches it back",
            self.s.mode.as_str(),
            humantime::format_duration(every),
            if child.is_some() {
                "the end of the command (or Ctrl-C)"
            } else {
                "Ctrl-C (or SIGTERM)"
            }
        ));
        let mut next = Instant::now() + every;
        loop {
            if let Some((c, _)) = child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                held.command_exit = Some(st.code().unwrap_or(128 + 9));
                held.ended = format!(
                    "the held command ended ({})",
                    crate::sys::child::describe(&st)
                );
                break;
            }
            if self.gate.stopped() {
                return Err(Stop::Interrupted);
            }
            if Instant::now() >= next {
                if let Some(why) = self.renew(lease).await? {
                    held.ended = why;
                    break;
                }
                held.renewals += 1;
                next += every;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(held)
    }

    /// One renewal; `Some(reason)` when the mode was switched off elsewhere.
    async fn renew(&mut self, lease: Duration) -> Result<Option<String>, Stop> {
        // the mode still holds? (`off` elsewhere puts the knobs back before removing the marker)
        if let Some(c) = self.plan.changes.first().cloned() {
            let eng = self.eng;
            let now = eng.modes().read_knob(self.admin()?, &c.knob).await?;
            if now != c.value {
                return Ok(Some(format!(
                    "the mode was switched off elsewhere ({} is {} again)",
                    c.knob.describe(),
                    now.as_deref().unwrap_or("(not set)")
                )));
            }
        }
        let until: DateTime<Utc> = Utc::now() + lease;
        let g = self
            .begin("renew-lease", json!({"lease_until": until}))
            .await?;
        self.facts.lease_until = Some(until);
        self.r.lease_until = Some(until);
        let mut warn = self.remark().await;
        if let Some(ff) = self.s.flag_file.clone().filter(|_| self.use_app()) {
            let op = self.journal().id().to_string();
            let since = self.r.since.unwrap_or_else(Utc::now);
            if let Err(e) = app::write_flag(
                &ff.path,
                &flag_text(&ff, self.s.mode, &op, since, Some(until)),
            ) {
                warn = Some(format!("the flag file could not be renewed: {e}"));
            }
        }
        if let Some(w) = warn
            && !self.r.warnings.contains(&w)
        {
            self.r.warnings.push(w);
        }
        self.end(
            "renew-lease",
            g,
            Ok(json!({})),
            format!("lease until {}", until.to_rfc3339()),
        )
        .map(|_| None)
    }

    /// Switches back from the journal (a failure, the end of a hold) and closes the journal.
    async fn switch_back(&mut self, outcome: &str, why: &str) -> Result<(), String> {
        let _g = self.gate.lock.clone().lock_owned().await;
        if self.gate.stopped() {
            return Err("interrupted".into());
        }
        let local = Local {
            pgbouncer_admin_url: self.s.pgbouncer.as_ref().map(|p| p.admin_url.clone()),
        };
        let mut j = self.journal.take().ok_or("the journal is closed")?;
        let state = journal::load(j.path()).map_err(|e| e.to_string())?;
        match undo::undo(self.target, &state, &mut j, &local).await {
            Ok(done) => {
                self.r.undone = done;
                j.end(outcome, why).map_err(|e| e.to_string())
            }
            Err(e) => {
                let _ = j.note(&format!("switching back failed: {e}"));
                Err(e)
            }
        }
    }
}

/// `read-only on` / `maintenance on`. `notify` gets one-line progress messages (stderr).
pub async fn on(s: &OnSettings, notify: &(dyn Fn(&str) + Sync)) -> Result<ModeReport, ModeError> {
    let began = Instant::now();
    let target = Target::parse(&s.url)?;
    let eng = target.kind().engine();
    let db = target.database().to_string();
    let mut r = ModeReport::new(s.mode, "on", &target);
    let app_configured = s.hooks.any() || s.flag_file.is_some();
    let server_side = eng.modes().server_side();
    let scope = match s.scope {
        Some(sc) => sc,
        None if app_configured && server_side.is_ok() => Scope::Both,
        None if app_configured => Scope::App,
        None => Scope::Database,
    };
    if let (true, Err(why)) = (scope.database(), server_side) {
        return Err(ModeError::Usage(format!(
            "{why}: pass --scope app with [hooks] {m}_on/{m}_off or --flag-file",
            m = s.mode.as_str().replace('-', "_")
        )));
    }
    if scope.app() && !app_configured {
        return Err(ModeError::Usage(format!(
            "--scope {}: the application layer has nothing to switch: configure [hooks] {m}_on/{m}_off in migsafe.toml or pass --flag-file",
            if scope == Scope::App { "app" } else { "both" },
            m = s.mode.as_str().replace('-', "_")
        )));
    }
    if s.pgbouncer.is_some() && scope.database() && target.kind() != EngineKind::Postgres {
        return Err(ModeError::Usage(
            "[pgbouncer] is set, but PgBouncer fronts PostgreSQL and this is not a PostgreSQL database".into(),
        ));
    }
    r.scope = Some(scope);
    // one mode at a time; maintenance may go on top of read-only (it is stricter)
    for u in journal::unfinished_for(&target, &s.journal_dir).await {
        if u.database != db {
            continue;
        }
        let same = mode_of(&u, s.mode, &db);
        let under = s.mode == Mode::ReadOnly && mode_of(&u, Mode::Maintenance, &db);
        // a restore (running or interrupted) owns the database until it ends
        let other = Mode::parse(&u.kind).is_none();
        if same || under || other {
            r.status = Status::Refused;
            r.message = if same {
                format!(
                    "{db} is already in a migsafe {} mode, which does not stack: {}",
                    s.mode.as_str(),
                    u.describe()
                )
            } else if under {
                format!(
                    "{db} is in migsafe maintenance mode, which already stops its writes: {}",
                    u.describe()
                )
            } else {
                format!(
                    "another operation works on {db} and must end first: {}",
                    u.describe()
                )
            };
            r.duration_ms = began.elapsed().as_millis() as u64;
            return Ok(r);
        }
        if Mode::parse(&u.kind).is_some() {
            r.notes.push(format!(
                "{db} is also in migsafe {} mode: the two switch different settings and are switched off separately",
                u.kind
            ));
        }
    }
    let mut admin = None;
    let mut plan = ModePlan::default();
    if scope.database() {
        let mut c = eng.admin().connect_admin(&target).await?;
        plan = eng.modes().plan(&mut c, &db, s.mode, &s.options).await?;
        admin = Some(c);
    }
    r.settings = plan.changes.iter().map(Setting::of).collect();
    r.notes.extend(plan.notes.clone());
    r.could_still_write = plan.warnings.clone();
    if let Some(why) = &plan.refusal {
        r.status = Status::Refused;
        r.message = format!("{why}; nothing was changed");
        r.duration_ms = began.elapsed().as_millis() as u64;
        return Ok(r);
    }
    let mut pool = None;
    if let (true, Some(pb)) = (scope.database(), &s.pgbouncer) {
        let name = pb.pool.clone().unwrap_or_else(|| db.clone());
        let mut c = PgBouncer::connect(&pb.admin_url).await?;
        let p = c.pool(&name).await?;
        c.close().await;
        match p {
            None => {
                return Err(ModeError::Usage(format!(
                    "PgBouncer at {} has no database (pool) {name}: set `pool` in [pgbouncer]",
                    redact_url(&pb.admin_url)
                )));
            }
            Some(p) if p.paused && s.mode == Mode::Maintenance => {
                r.status = Status::Refused;
                r.message = format!(
                    "the PgBouncer pool {name} is already paused by someone else: RESUME it or leave it paused; nothing was changed"
                );
                return Ok(r);
            }
            Some(_) => {}
        }
        pool = Some((pb.admin_url.clone(), name));
    }
    let mut app_facts = None;
    if scope.app() {
        let flag_prior = match &s.flag_file {
            Some(ff) => {
                let dir = ff.path.parent().filter(|p| !p.as_os_str().is_empty());
                if dir.is_some_and(|d| !d.is_dir()) {
                    return Err(ModeError::Usage(format!(
                        "--flag-file {}: its folder does not exist",
                        ff.path.display()
                    )));
                }
                app::read_flag(&ff.path).map_err(|e| {
                    ModeError::Usage(format!("--flag-file {}: {e}", ff.path.display()))
                })?
            }
            None => None,
        };
        app_facts = Some(AppFacts {
            hooks: s.hooks.clone(),
            flag_file: s.flag_file.clone(),
            flag_prior,
        });
    }
    let lease = s
        .lease
        .or_else(|| s.hold.as_ref().map(|_| DEFAULT_HOLD_LEASE));
    let since = Utc::now();
    let facts = Facts {
        mode: s.mode,
        database: db.clone(),
        engine: target.kind().as_str().into(),
        scope,
        changes: plan.changes.clone(),
        app_roles: plan.app_roles.clone(),
        lease_until: lease.map(|d| since + d),
        user: os_user(),
        pgbouncer: pool.as_ref().map(|(u, p)| PgBouncerFacts {
            admin_url: redact_url(u),
            pool: p.clone(),
            pause: s.mode == Mode::Maintenance,
            reconnect: s.mode == Mode::ReadOnly,
        }),
        app: app_facts,
        app_host: None,
        drain_ms: s.drain.as_millis() as u64,
        terminate: s.terminate,
        switched_at: None,
    };
    let journal = Journal::begin(
        &s.journal_dir,
        s.mode.as_str(),
        JournalTarget::of(&target),
        serde_json::to_value(&facts).unwrap_or(Value::Null),
    )
    .map_err(|e| ModeError::Failed(format!("{e}; nothing was changed (a mode is journaled)")))?;
    r.operation = Some(journal.id().to_string());
    r.journal = Some(journal.path().to_path_buf());
    r.since = Some(since);
    r.lease_until = facts.lease_until;
    let gate = Arc::new(Gate::default());
    let local = Local {
        pgbouncer_admin_url: s.pgbouncer.as_ref().map(|p| p.admin_url.clone()),
    };
    let interrupt = {
        let (gate, url, path) = (gate.clone(), s.url.clone(), journal.path().to_path_buf());
        signals::on_interrupt(move || {
            gate.stop.store(true, Ordering::SeqCst);
            let _step_done = gate.lock.blocking_lock();
            Some(undo::interrupted(&url, &path, &local))
        })
    };
    let mut run = Run {
        s,
        target: &target,
        eng,
        db: db.clone(),
        admin,
        plan,
        facts,
        scope,
        pool,
        journal: Some(journal),
        gate,
        marker: None,
        r: &mut r,
        notify,
    };
    match run.switch_on().await {
        Ok(()) => {
            run.r.message = match run.s.mode {
                Mode::ReadOnly => format!("{db} refuses application writes (verified)"),
                Mode::Maintenance => format!("{db} refuses application connections (verified)"),
            };
        }
        Err(Stop::Interrupted) => {
            return Err(ModeError::Failed(
                "interrupted: switching back (see the message of the interrupt)".into(),
            ));
        }
        Err(Stop::Failed(why)) => {
            run.r.status = Status::Failed;
            run.r.message = match run.switch_back("failed", &why).await {
                Ok(()) => format!("{why}; everything that was switched was switched back"),
                Err(e) => format!(
                    "{why}; switching back failed too ({e}): run `migsafe {} off`",
                    s.mode.as_str()
                ),
            };
        }
    }
    if run.r.status == Status::On
        && let Some(h) = &s.hold
    {
        match run.hold(h).await {
            Ok(held) => {
                let why = held.ended.clone();
                run.r.held = Some(held);
                match run
                    .switch_back("finished", &format!("switched back: {why}"))
                    .await
                {
                    Ok(()) => {
                        run.r.status = Status::Off;
                        run.r.message = format!(
                            "{db} was held in {} mode, then switched back: {why}",
                            s.mode.as_str()
                        );
                    }
                    Err(e) => {
                        run.r.status = Status::Failed;
                        run.r.message = format!(
                            "{why}; switching back failed ({e}): run `migsafe {} off`",
                            s.mode.as_str()
                        );
                    }
                }
            }
            Err(_) => {
                return Err(ModeError::Failed(
                    "interrupted: switching back (see the message of the interrupt)".into(),
                ));
            }
        }
    }
    if let Some(c) = run.admin.take() {
        c.close().await;
    }
    drop(run);
    // the mode is on (or was switched back): an interrupt from here has nothing to undo
    drop(interrupt);
    r.duration_ms = began.elapsed().as_millis() as u64;
    Ok(r)
}
