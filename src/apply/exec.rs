//! Applying the pending migrations under the lock: the journaled steps of `apply`.

use super::{
    ApplyError, ApplyMigration, ApplyReport, ApplySettings, Attempt, Event, LockInfo, Outcome,
    begin_journal, lock_for, take_lock,
};
use crate::engines::EngineKind;
use crate::engines::admin::Marker;
use crate::engines::conn::Conn;
use crate::engines::migrate::{Failure, backoff, random_u64};
use crate::engines::target::Target;
use crate::history::{self, MigFile, State, Tool};
use crate::journal::Journal;
use crate::migrations::Migration;
use crate::sql::Dialect;
use crate::sql::ir::Op;
use crate::status::Survey;
use serde_json::json;
use std::time::{Duration, Instant};

/// How one migration runs.
pub(crate) struct Plan {
    /// The top-level statements, as text.
    pub statements: Vec<String>,
    /// What can show, per statement, that it took effect (statement-by-statement runs).
    pub probes: Vec<ProbeSpec>,
    /// In one transaction with its history row.
    pub atomic: bool,
}

/// What a statement run outside a transaction visibly changes, so that `recover` can tell
/// whether a statement that was running when migsafe died took effect: the schema (any DDL
/// shows in the schema fingerprint) and the row counts of the tables it inserts into or
/// deletes from. `certain` is false for statements whose effect neither shows (an UPDATE, a
/// function call, a `DO` block): recover then refuses to guess.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProbeSpec {
    pub tables: Vec<Vec<String>>,
    pub certain: bool,
}

impl ProbeSpec {
    fn of(ops: &[Op]) -> ProbeSpec {
        let mut p = ProbeSpec {
            tables: Vec::new(),
            certain: true,
        };
        for op in ops {
            match op {
                Op::Insert { table }
                | Op::Delete {
                    table: Some(table), ..
                } => p.tables.push(table.parts.clone()),
                Op::Truncate { tables, .. } => {
                    p.tables.extend(tables.iter().map(|t| t.parts.clone()))
                }
                Op::Update { .. }
                | Op::Delete { table: None, .. }
                | Op::Do { .. }
                | Op::Select
                | Op::Other { .. } => p.certain = false,
                // DDL shows in the schema; SET, VACUUM, GRANT, COMMENT … are harmless to repeat
                _ => {}
            }
        }
        p
    }
}

/// The probe of `spec` now: the schema fingerprint and the row counts (`null` for a table
/// that does not exist).
pub(crate) async fn probe(conn: &mut Conn, spec: &ProbeSpec) -> serde_json::Value {
    let schema = crate::engines::snapshot::schema_fingerprint(conn)
        .await
        .map(|f| f.sha256)
        .ok();
    let e = conn.kind().engine().migrate();
    let mut rows = serde_json::Map::new();
    for t in &spec.tables {
        let name = t.iter().map(|p| e.ident(p)).collect::<Vec<_>>().join(".");
        let n = conn
            .query_text(&format!("SELECT COUNT(*) FROM {name}"))
            .await
            .ok()
            .and_then(|(_, r)| r.into_iter().next())
            .and_then(|r| r.into_iter().next().flatten());
        rows.insert(t.join("."), json!(n));
    }
    json!({"schema": schema, "rows": rows, "certain": spec.certain})
}

impl Plan {
    pub fn of(f: &MigFile, kind: EngineKind, dialect: Dialect) -> Plan {
        let m = f.m;
        let parsed = crate::sql::parse_section(&m.up.text, m.up.range.clone(), dialect);
        let top: Vec<_> = parsed.iter().filter(|s| s.nested_in.is_none()).collect();
        let own_tx = top.iter().any(|s| {
            s.ops
                .iter()
                .any(|o| matches!(o, Op::Begin | Op::Commit | Op::Rollback))
        });
        let (statements, probes) = top
            .iter()
            .filter_map(|s| {
                let t = m.up.text.get(s.span.start..s.span.end)?.trim();
                (!t.is_empty()).then(|| (t.to_string(), ProbeSpec::of(&s.ops)))
            })
            .unzip();
        Plan {
            statements,
            probes,
            // MySQL/MariaDB commit DDL implicitly: a transaction would promise what it cannot
            // keep, so migrations there run statement by statement, marked in progress first
            atomic: m.transaction && kind != EngineKind::Mysql && !own_tx,
        }
    }
}

/// What failed, for the report and the journal.
struct Failed {
    statement: Option<usize>,
    error: String,
    failure: Failure,
}

async fn exec(conn: &mut Conn, sql: &str) -> Result<(), (String, Failure)> {
    let kind = conn.kind();
    match conn.execute(sql).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let raw = kind.engine().catalog().error(&e);
            let failure = kind.engine().migrate().failure(&raw);
            let code = raw
                .sqlstate
                .clone()
                .or(raw.code.map(|c| c.to_string()))
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default();
            Err((format!("{}{code}", raw.message), failure))
        }
    }
}

fn jerr(e: impl std::fmt::Display) -> ApplyError {
    ApplyError::Usage(format!(
        "cannot write the journal ({e}): stopped before the next change"
    ))
}

/// The running apply: journal, marker and report, closed on every path.
struct Run<'a> {
    s: &'a ApplySettings,
    tool: Tool,
    kind: EngineKind,
    table: String,
    journal: Journal,
    marked: Option<String>,
    _on_interrupt: crate::sys::signals::CleanupGuard,
}

impl Run<'_> {
    fn step(&mut self, name: &str, state: serde_json::Value) -> Result<(), ApplyError> {
        self.journal.step(name, state).map_err(jerr)
    }
    fn done(&mut self, name: &str, result: serde_json::Value) -> Result<(), ApplyError> {
        self.journal.done(name, result).map_err(jerr)
    }
    fn failed(&mut self, name: &str, error: &str) {
        let _ = self.journal.failed(name, error);
    }

    async fn run_sql(&mut self, conn: &mut Conn, sqls: &[String]) -> Result<(), (String, Failure)> {
        for q in sqls {
            exec(conn, q).await?;
        }
        Ok(())
    }

    /// One migration in one transaction with its row, retried whole on lock timeouts.
    async fn atomic(
        &mut self,
        conn: &mut Conn,
        f: &MigFile<'_>,
        plan: &Plan,
        e: &mut ApplyMigration,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Result<(), Failed>, ApplyError> {
        let spec = self.tool.spec();
        let eng = self.kind.engine().migrate();
        let step = format!("apply {}", e.key);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.step(
                &step,
                json!({"attempt": attempt, "atomic": true, "statements": plan.statements.len()}),
            )?;
            let t0 = Instant::now();
            let mut failed: Option<Failed> = None;
            if let Err((m, fl)) = exec(conn, "BEGIN").await {
                failed = Some(Failed {
                    statement: None,
                    error: m,
                    failure: fl,
                });
            }
            if failed.is_none() {
                for (i, q) in plan.statements.iter().enumerate() {
                    if let Err((m, fl)) = exec(conn, q).await {
                        failed = Some(Failed {
                            statement: Some(i),
                            error: m,
                            failure: fl,
                        });
                        break;
                    }
                }
            }
            if failed.is_none() {
                let rec = spec.record(
                    self.kind,
                    eng,
                    &self.table,
                    f,
                    t0.elapsed().as_millis() as u64,
                );
                e.record_sql = rec.clone();
                if let Err((m, fl)) = self.run_sql(conn, &rec).await {
                    failed = Some(Failed {
                        statement: None,
                        error: format!("recording it in {}: {m}", self.table),
                        failure: fl,
                    });
                }
            }
            if failed.is_none()
                && let Err((m, fl)) = exec(conn, "COMMIT").await
            {
                failed = Some(Failed {
                    statement: None,
                    error: format!("COMMIT: {m}"),
                    failure: fl,
                });
            }
            let Some(fail) = failed else {
                let ms = t0.elapsed().as_millis() as u64;
                self.done(&step, json!({"ms": ms}))?;
                e.duration_ms = Some(ms);
                return Ok(Ok(()));
            };
            let _ = exec(conn, "ROLLBACK").await;
            let wait = self.retry_wait(fail.failure, attempt);
            self.note_failure(&step, &fail, attempt, wait, e, on_event);
            match wait {
                Some(w) => tokio::time::sleep(w).await,
                None => return Ok(Err(fail)),
            }
        }
    }

    /// How long to wait before try `attempt + 1`: only lock timeouts are retried, with backoff
    /// and jitter, up to `--retries`.
    fn retry_wait(&self, failure: Failure, attempt: u32) -> Option<Duration> {
        (failure == Failure::LockTimeout && attempt <= self.s.retries).then(|| {
            backoff(
                attempt - 1,
                self.s.backoff_base,
                self.s.backoff_cap,
                random_u64(),
            )
        })
    }

    fn note_failure(
        &mut self,
        step: &str,
        fail: &Failed,
        attempt: u32,
        wait: Option<Duration>,
        e: &mut ApplyMigration,
        on_event: &mut dyn FnMut(Event),
    ) {
        let lock = fail.failure == Failure::LockTimeout;
        let at = fail
            .statement
            .map(|i| format!("statement {}: ", i + 1))
            .unwrap_or_default();
        let text = match wait {
            Some(w) => format!(
                "{at}{} (lock timeout, try {attempt}); retrying in {} ms",
                fail.error,
                w.as_millis()
            ),
            None => format!("{at}{} (try {attempt})", fail.error),
        };
        self.failed(step, &text);
        e.attempts.push(Attempt {
            attempt,
            statement: fail.statement.map(|i| i + 1),
            error: fail.error.clone(),
            lock_timeout: lock,
            retry_in_ms: wait.map(|w| w.as_millis() as u64),
        });
        if let Some(w) = wait {
            on_event(Event::Retrying {
                version: e.version.clone(),
                attempt,
                wait: w,
                error: fail.error.clone(),
            });
        }
    }

    /// One migration statement by statement: marked in progress the tool's way, each statement
    /// journaled and retried on its own, the row written last.
    async fn stepwise(
        &mut self,
        conn: &mut Conn,
        f: &MigFile<'_>,
        plan: &Plan,
        e: &mut ApplyMigration,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Result<(), Failed>, ApplyError> {
        let spec = self.tool.spec();
        let eng = self.kind.engine().migrate();
        let t0 = Instant::now();
        let start = spec.start(self.kind, eng, &self.table, f);
        let prior = prior_rows(conn, self.tool, &self.table).await;
        let sname = format!("start {}", e.key);
        self.step(&sname, json!({"prior_rows": prior, "sql": start}))?;
        if let Err((m, fl)) = self.run_sql(conn, &start).await {
            let fail = Failed {
                statement: None,
                error: format!("marking it in progress in {}: {m}", self.table),
                failure: fl,
            };
            self.failed(&sname, &fail.error);
            return Ok(Err(fail));
        }
        self.done(&sname, json!({}))?;
        for (i, q) in plan.statements.iter().enumerate() {
            let step = format!("statement {} {}", e.key, i + 1);
            let mut attempt = 0u32;
            loop {
                attempt += 1;
                let before = probe(conn, &plan.probes[i]).await;
                self.step(
                    &step,
                    json!({"attempt": attempt, "of": plan.statements.len(), "probe": before}),
                )?;
                match exec(conn, q).await {
                    Ok(()) => {
                        self.done(&step, json!({}))?;
                        break;
                    }
                    Err((m, fl)) => {
                        let fail = Failed {
                            statement: Some(i),
                            error: m,
                            failure: fl,
                        };
                        let wait = self.retry_wait(fl, attempt);
                        self.note_failure(&step, &fail, attempt, wait, e, on_event);
                        match wait {
                            Some(w) => tokio::time::sleep(w).await,
                            None => return Ok(Err(fail)),
                        }
                    }
                }
            }
        }
        let rname = format!("record {}", e.key);
        let rec = spec.record(
            self.kind,
            eng,
            &self.table,
            f,
            t0.elapsed().as_millis() as u64,
        );
        e.record_sql = rec.clone();
        self.step(&rname, json!({"sql": rec}))?;
        let res = async {
            exec(conn, "BEGIN").await?;
            self.run_sql(conn, &rec).await?;
            exec(conn, "COMMIT").await
        }
        .await;
        if let Err((m, fl)) = res {
            let _ = exec(conn, "ROLLBACK").await;
            let fail = Failed {
                statement: None,
                error: format!("recording it in {}: {m}", self.table),
                failure: fl,
            };
            self.failed(&rname, &fail.error);
            return Ok(Err(fail));
        }
        let ms = t0.elapsed().as_millis() as u64;
        self.done(&rname, json!({"ms": ms}))?;
        e.duration_ms = Some(ms);
        Ok(Ok(()))
    }
}

/// The current rows of a table whose state the tool keeps in one row (golang-migrate), so that
/// `recover --abort` can put them back.
pub(crate) async fn prior_rows(conn: &mut Conn, tool: Tool, table: &str) -> serde_json::Value {
    if tool != Tool::GolangMigrate {
        return serde_json::Value::Null;
    }
    let e = conn.kind().engine().migrate();
    let sql = format!(
        "SELECT {}, {} FROM {table}",
        e.text("version"),
        e.truthy("dirty")
    );
    match conn.query_text(&sql).await {
        Ok((_, rows)) => json!(rows
            .into_iter()
            .map(|r| json!({"version": r.first().cloned().flatten(), "dirty": r.get(1).cloned().flatten().as_deref() == Some("1")}))
            .collect::<Vec<_>>()),
        Err(_) => serde_json::Value::Null,
    }
}

async fn set_marker(target: &Target, op: &str) -> Option<String> {
    let admin = target.kind().engine().admin();
    if !admin.has_server() {
        return None;
    }
    let mut c = admin.connect_admin(target).await.ok()?;
    let m = Marker {
        operation: op.to_string(),
        kind: super::KIND.to_string(),
        started_at: chrono::Utc::now(),
        host: crate::sys::proc::hostname(),
        pid: std::process::id(),
        command: crate::journal::command_line(),
        ..Marker::default()
    };
    let ok = admin
        .set_marker(&mut c, target.database(), &m)
        .await
        .is_ok();
    c.close().await;
    ok.then(|| target.database().to_string())
}

pub(crate) async fn clear_marker(target: &Target, op: &str) {
    let admin = target.kind().engine().admin();
    if let Ok(mut c) = admin.connect_admin(target).await {
        let _ = admin.clear_marker(&mut c, target.database(), op).await;
        c.close().await;
    }
}

/// Takes the lock, re-reads the history, creates the table and applies what is still pending.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    s: &ApplySettings,
    target: &Target,
    migs: &[Migration],
    tool: Tool,
    conn: &mut Conn,
    sv: Survey<'_>,
    mut r: ApplyReport,
    on_event: &mut dyn FnMut(Event),
) -> Result<ApplyReport, ApplyError> {
    let kind = conn.kind();
    let eng = kind.engine().migrate();
    let dialect = kind.dialect();
    let db = eng.database(conn).await?;
    let schema = eng.schema(conn).await?;
    let (key, owner) = lock_for(tool, kind, &db, &schema, target);
    let table = sv.history.table.clone();
    let pending = sv.pending();
    let session = eng.session(conn).await?;
    let facts = json!({
        "tool": tool.as_str(),
        "session": session,
        "table": table,
        "env": s.env,
        "lock": key,
        "force": s.force,
        "staging": r.staging,
        "migrations": pending.iter().map(|&i| {
            let f = &sv.files[i];
            let plan = Plan::of(f, kind, dialect);
            json!({
                "key": tool.spec().key(f),
                "version": f.m.version,
                "path": f.m.path,
                "rel": f.rel,
                "checksum": tool.spec().checksum(f),
                "sha256": history::checksum::sha256_hex(&f.raw),
                "atomic": plan.atomic,
                "statements": plan.statements.len(),
            })
        }).collect::<Vec<_>>(),
    });
    let journal = begin_journal(s, target, facts, &mut r)?;
    let path = journal.path().to_path_buf();
    let guard = crate::sys::signals::on_interrupt(move || Some(super::recover::interrupted(&path)));
    let mut run = Run {
        s,
        tool,
        kind,
        table: table.clone(),
        journal,
        marked: None,
        _on_interrupt: guard,
    };
    let _ = eng
        .label_session(
            conn,
            &format!(
                "migsafe apply ({} pid {})",
                crate::sys::proc::hostname(),
                std::process::id()
            ),
        )
        .await;
    // the lock
    run.step("lock", json!({"key": key}))?;
    let (guard, waited, holder) = take_lock(conn, &key, s.lock_wait, on_event).await?;
    r.lock = Some(LockInfo {
        key: key.clone(),
        owner: owner.into(),
        waited_ms: waited,
        holder: holder.clone(),
    });
    let Some(guard) = guard else {
        let who = holder
            .map(|h| h.describe())
            .unwrap_or_else(|| "another session".into());
        run.failed("lock", &format!("still held by {who} after {waited} ms"));
        r.outcome = Outcome::LockTimeout;
        r.message = format!(
            "gave up after waiting {} s for the migration lock {key}, held by {who}; nothing was changed",
            waited / 1000
        );
        let _ = run.journal.end("failed", &r.message);
        return Ok(r);
    };
    run.done("lock", json!({"waited_ms": waited}))?;
    run.marked = set_marker(target, &r.operation.clone().unwrap_or_default()).await;
    let result = locked(&mut run, conn, migs, &mut r, on_event).await;
    let _ = eng.unlock(conn, guard).await;
    let op = r.operation.clone().unwrap_or_default();
    match result {
        Ok(()) => {
            if r.consistent {
                if run.marked.is_some() {
                    clear_marker(target, &op).await;
                }
                let outcome = if r.outcome == Outcome::Failed {
                    "failed"
                } else {
                    "finished"
                };
                let _ = run.journal.end(outcome, &r.message);
            } else {
                let _ = run.journal.note(&format!("stopped: {}", r.message));
            }
            Ok(r)
        }
        Err(e) => {
            let _ = run.journal.note(&format!("stopped: {e}"));
            Err(e)
        }
    }
}

async fn locked(
    run: &mut Run<'_>,
    conn: &mut Conn,
    migs: &[Migration],
    r: &mut ApplyReport,
    on_event: &mut dyn FnMut(Event),
) -> Result<(), ApplyError> {
    let kind = run.kind;
    let eng = kind.engine().migrate();
    let spec = run.tool.spec();
    let dialect = kind.dialect();
    // what is pending now that the lock is held: another applier may have done some
    let sv = crate::status::survey(conn, run.tool, migs, &run.s.check).await?;
    let now_pending = sv.pending();
    if !sv.history.exists {
        let sqls = spec.create(kind, eng, &run.table);
        run.step("create-table", json!({"table": run.table, "sql": sqls}))?;
        // all of the tool's statements or none (goose's first row with its table)
        let tx = kind != EngineKind::Mysql;
        let mut all = sqls.clone();
        if tx {
            all.insert(0, "BEGIN".into());
            all.push("COMMIT".into());
        }
        for q in &all {
            if let Err((m, _)) = exec(conn, q).await {
                if tx {
                    let _ = exec(conn, "ROLLBACK").await;
                }
                run.failed("create-table", &m);
                return Err(ApplyError::Usage(format!(
                    "creating {} as {} does: {m}",
                    run.table, run.tool
                )));
            }
        }
        run.done("create-table", json!({}))?;
    }
    eng.set_timeouts(conn, &run.s.timeouts).await?;
    let mut applied = 0usize;
    for e in r.migrations.iter_mut() {
        let Some(i) = sv.files.iter().position(|f| spec.key(f) == e.key) else {
            continue;
        };
        if !now_pending.contains(&i) {
            let state = sv
                .migrations
                .iter()
                .find(|m| m.line.file == Some(i))
                .map(|m| m.line.state);
            e.outcome = if state == Some(State::Applied) {
                "applied-elsewhere".into()
            } else {
                format!(
                    "skipped ({})",
                    state.map(|s| s.as_str()).unwrap_or("unknown")
                )
            };
            continue;
        }
        let f = &sv.files[i];
        let plan = Plan::of(f, kind, dialect);
        on_event(Event::Applying {
            version: e.version.clone(),
            description: e.description.clone(),
        });
        let res = if plan.atomic {
            run.atomic(conn, f, &plan, e, on_event).await?
        } else {
            run.stepwise(conn, f, &plan, e, on_event).await?
        };
        match res {
            Ok(()) => {
                e.outcome = "applied".into();
                applied += 1;
                on_event(Event::Applied {
                    version: e.version.clone(),
                    ms: e.duration_ms.unwrap_or(0),
                });
            }
            Err(fail) => {
                e.outcome = "failed".into();
                let at = fail
                    .statement
                    .map(|i| format!(" at statement {}", i + 1))
                    .unwrap_or_default();
                r.outcome = Outcome::Failed;
                if plan.atomic {
                    r.message = format!(
                        "migration {} ({}) failed{at}: {}; its transaction was rolled back, nothing of it was applied{}",
                        e.version,
                        e.path,
                        fail.error,
                        if applied > 0 {
                            format!(" (the {applied} before it are applied)")
                        } else {
                            String::new()
                        }
                    );
                } else {
                    r.consistent = false;
                    let entry = history::Entry {
                        key: e.key.clone(),
                        version: e.version.clone(),
                        description: None,
                        checksum: None,
                        state: history::EntryState::Failed,
                        installed_on: None,
                    };
                    r.message = format!(
                        "migration {} ({}) failed{at}: {}; it ran without a transaction, so the statements before it are applied and the rest are not. `migsafe recover --operation {}` finishes it (--resume, after you fix the cause) or clears its mark (--abort); the tool's own repair: {}",
                        e.version,
                        e.path,
                        fail.error,
                        r.operation.clone().unwrap_or_default(),
                        spec.repair(&entry)
                    );
                }
                return Ok(());
            }
        }
    }
    // the history as the tool will read it
    let after = crate::status::survey(conn, run.tool, migs, &run.s.check).await?;
    for e in r.migrations.iter().filter(|e| e.outcome == "applied") {
        let ok = after
            .migrations
            .iter()
            .any(|m| m.line.key == e.key && m.line.state == State::Applied);
        if !ok {
            r.warnings.push(format!(
                "migration {} was applied but {} does not show it as applied",
                e.version, run.table
            ));
        }
    }
    r.outcome = if applied == 0 {
        Outcome::UpToDate
    } else {
        Outcome::Applied
    };
    r.message = format!("applied {applied} migration(s); {} records them", run.table);
    Ok(())
}
