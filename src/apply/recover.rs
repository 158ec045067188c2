//! Ending an interrupted apply from its journal (`migsafe recover`, kind `apply`).
//!
//! - A migration that ran in one transaction with its row cannot be half-applied: the server
//!   rolled it back when migsafe's connection died, or it committed just before. Recover reads
//!   the history to say which, and closes the journal; there is nothing to undo.
//! - A migration that ran statement by statement (MySQL/MariaDB DDL, `-- no-transaction`,
//!   files with their own `BEGIN`/`COMMIT`) can stop halfway: the journal says which statements
//!   finished, which one was running (its effect is unknown: it may have committed), and the
//!   history holds the tool's own in-progress mark (golang-migrate `dirty`, sqlx `success =
//!   false`, a Prisma row without `finished_at`, a failed Flyway row). `--resume` (the default)
//!   runs the remaining statements from the one that was interrupted and writes the row;
//!   `--abort` removes the mark (golang-migrate: puts back the row it replaced) and lists the
//!   statements whose effect stays, to be undone by hand (the down migration, if any).

use super::exec::{ProbeSpec, probe};
use crate::engines::conn::Conn;
use crate::engines::target::Target;
use crate::history::{self, MigFile, State, Tool};
use crate::journal::recover::{Action, RecoverCtx, RecoverError, RecoverKind};
use crate::journal::{self, JournalState};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

pub struct Apply;

/// A URL sqlx can open for `t`, with its credentials.
fn url_of(t: &Target) -> String {
    match t {
        Target::Postgres(p) => p.sqlx_url(&p.database),
        Target::Mysql(m) => m.sqlx_url(&m.database),
        Target::Sqlite(s) => s.sqlx_url(),
    }
}

/// The migration left half-applied: its key and facts, how many of its statements are done, the
/// one that was running (1-based, with the probe journaled before it ran).
struct Partial {
    key: String,
    facts: Value,
    done: usize,
    running: Option<(usize, Value)>,
}

fn partial(state: &JournalState) -> Option<Partial> {
    let list = state.facts.get("migrations")?.as_array()?;
    for m in list.iter().rev() {
        let key = m.get("key")?.as_str()?.to_string();
        if !state.started(&format!("start {key}")) || state.finished(&format!("record {key}")) {
            continue;
        }
        let prefix = format!("statement {key} ");
        let number = |name: &str| name.strip_prefix(&prefix)?.parse::<usize>().ok();
        let done = state
            .steps
            .iter()
            .filter(|s| s.done())
            .filter_map(|s| number(&s.name))
            .max()
            .unwrap_or(0);
        let running = state.interrupted_step().and_then(|s| {
            number(&s.name).map(|n| (n, s.state.get("probe").cloned().unwrap_or(Value::Null)))
        });
        return Some(Partial {
            key,
            facts: m.clone(),
            done,
            running,
        });
    }
    None
}

/// Whether the statement a probe was taken before has taken effect since: `None` when its
/// effect cannot be seen (an UPDATE, a function call) or no probe was journaled.
async fn took_effect(conn: &mut Conn, spec: &ProbeSpec, before: &Value) -> Option<bool> {
    if before.get("certain").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let now = probe(conn, spec).await;
    if now.get("schema").is_none_or(Value::is_null) {
        return None;
    }
    Some(now.get("schema") != before.get("schema") || now.get("rows") != before.get("rows"))
}

/// The message printed when an apply is interrupted by a signal.
pub fn interrupted(path: &Path) -> String {
    let Ok(state) = journal::load(path) else {
        return format!("the apply's journal {} could not be read", path.display());
    };
    let hint = format!("run `migsafe recover --operation {}`", state.op);
    match partial(&state) {
        Some(p) => format!(
            "apply interrupted while migration {} ran without a transaction ({} statement(s) done): the database holds part of it and the history marks it as not finished; {hint} to finish it (or --abort)",
            p.key, p.done
        ),
        None => format!(
            "apply interrupted: a migration in progress in a transaction is rolled back by the server; {hint} to close the journal"
        ),
    }
}

fn tool_of(state: &JournalState) -> Result<Tool, RecoverError> {
    let name = state.fact("tool").unwrap_or_default();
    Tool::ALL
        .into_iter()
        .find(|t| t.as_str() == name)
        .ok_or_else(|| RecoverError::Failed(format!("the journal names an unknown tool `{name}`")))
}

async fn exec(conn: &mut Conn, sql: &str) -> Result<(), RecoverError> {
    conn.execute(sql).await.map(|_| ()).map_err(|e| {
        RecoverError::Failed(format!(
            "{e} (running: {})",
            crate::sys::child::tail(sql, 3)
        ))
    })
}

#[async_trait::async_trait(?Send)]
impl RecoverKind for Apply {
    fn kind(&self) -> &'static str {
        super::KIND
    }

    fn default_action(&self, _state: &JournalState) -> Action {
        Action::Resume
    }

    async fn recover(
        &self,
        ctx: &mut RecoverCtx<'_>,
        state: &JournalState,
        action: Action,
    ) -> Result<Vec<String>, RecoverError> {
        let tool = tool_of(state)?;
        let mut conn = crate::modes::migration_session(&url_of(ctx.target)).await?;
        let result = recover_on(ctx, state, action, tool, &mut conn).await;
        conn.close().await;
        crate::apply::exec::clear_marker(ctx.target, &state.op).await;
        result
    }
}

async fn recover_on(
    ctx: &mut RecoverCtx<'_>,
    state: &JournalState,
    action: Action,
    tool: Tool,
    conn: &mut Conn,
) -> Result<Vec<String>, RecoverError> {
    let kind = conn.kind();
    let eng = kind.engine().migrate();
    let spec = tool.spec();
    let table = state.fact("table").unwrap_or_default().to_string();
    let mut done = Vec::new();
    // the killed apply's session may still be running its last statement: end it (the server
    // rolls that statement back) before looking at what took effect
    if let Some(session) = state.fact("session") {
        let ended = eng
            .end_session(conn, session, std::time::Duration::from_secs(60))
            .await?;
        if ended {
            done.push(format!(
                "ended the interrupted apply's session {session}, which was still running; the server rolled back what it was doing"
            ));
        }
    }
    let Some(p) = partial(state) else {
        // only transactional migrations were in flight: say what the history shows
        let h = history::read(conn, tool)
            .await
            .map_err(|e| RecoverError::Failed(e.to_string()))?;
        if let Some(step) = state.interrupted_step() {
            let key = step.name.strip_prefix("apply ").unwrap_or(&step.name);
            let recorded = h
                .entries
                .iter()
                .any(|e| e.key == key && e.state == history::EntryState::Applied);
            done.push(if step.name.starts_with("apply ") {
                if recorded {
                    format!("migration {key} committed before the interruption: {table} records it")
                } else {
                    format!("migration {key} was rolled back by the server when the interrupted session ended: nothing of it is applied")
                }
            } else {
                format!("interrupted at `{}`, which changed nothing that needs undoing", step.name)
            });
        }
        done.push("nothing half-applied: the journal is closed".into());
        return Ok(done);
    };
    let path = PathBuf::from(
        p.facts
            .get("path")
            .and_then(|v| v.as_str())
            .unwrap_or_default(),
    );
    let sha = p
        .facts
        .get("sha256")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let migs = crate::migrations::discover(std::slice::from_ref(&path), None).map_err(|e| {
        RecoverError::Failed(format!(
            "{e}: the migration the apply was running must still be there"
        ))
    })?;
    let m = migs
        .first()
        .ok_or_else(|| RecoverError::Failed(format!("{}: no migration", path.display())))?;
    let mut f = MigFile::load(m).map_err(|e| RecoverError::Failed(e.to_string()))?;
    // its path below the folder of the run, as the apply saw it (the key of a plain folder)
    if let Some(rel) = p.facts.get("rel").and_then(|v| v.as_str()) {
        f.rel = rel.to_string();
    }
    if history::checksum::sha256_hex(&f.raw) != sha {
        return Err(RecoverError::Failed(format!(
            "{} changed since the apply started: put back the version it was applying before recovering",
            path.display()
        )));
    }
    let plan = super::exec::Plan::of(&f, kind, kind.dialect());
    let entry = history::Entry {
        key: p.key.clone(),
        version: p.key.clone(),
        description: None,
        checksum: None,
        state: history::EntryState::Failed,
        installed_on: None,
    };
    let repair = spec.repair(&entry);
    // the row may have been written just before the interruption
    let h = history::read(conn, tool)
        .await
        .map_err(|e| RecoverError::Failed(e.to_string()))?;
    let recorded = history::compare(spec, std::slice::from_ref(&f), &h)
        .iter()
        .any(|l| l.file == Some(0) && l.state == State::Applied);
    // the statement that was running: did it take effect?
    let mut first = p.done;
    let mut running_note = None;
    if let Some((n, before)) = &p.running {
        let seen = match plan.probes.get(n - 1) {
            Some(spec) => took_effect(conn, spec, before).await,
            None => None,
        };
        running_note = Some(match seen {
            Some(true) => {
                first = *n;
                format!("statement {n} was running when it stopped and took effect")
            }
            Some(false) => {
                first = n - 1;
                format!("statement {n} was running when it stopped and did not take effect")
            }
            None => format!(
                "statement {n} was running when it stopped, and migsafe cannot see whether it took effect ({})",
                crate::sys::child::tail(&plan.statements[n - 1], 1)
            ),
        });
        if seen.is_none() && action == Action::Resume && !recorded {
            return Err(RecoverError::Failed(format!(
                "{}: check it by hand, run it if it did not take effect, then run the rest of {} by hand and record it ({repair}); or `migsafe recover --abort` to clear the in-progress mark and undo by hand",
                running_note.unwrap_or_default(),
                path.display()
            )));
        }
    }
    match action {
        Action::Resume if recorded => {
            done.push(format!(
                "migration {} was finished and recorded in {table} before the interruption: nothing to do",
                p.key
            ));
        }
        Action::Resume => {
            if let Some(n) = &running_note {
                done.push(n.clone());
            }
            for (i, q) in plan.statements.iter().enumerate().skip(first) {
                let step = format!("statement {} {}", p.key, i + 1);
                let before = probe(conn, &plan.probes[i]).await;
                ctx.journal
                    .step(&step, json!({"recover": true, "probe": before}))?;
                if let Err(e) = exec(conn, q).await {
                    let _ = ctx.journal.failed(&step, &e.to_string());
                    return Err(RecoverError::Failed(format!(
                        "resuming migration {} at statement {}: {e}; fix it by hand, then recover again (or --abort)",
                        p.key,
                        i + 1,
                    )));
                }
                ctx.journal.done(&step, json!({}))?;
                done.push(format!(
                    "ran statement {} of {} of migration {}",
                    i + 1,
                    plan.statements.len(),
                    p.key
                ));
            }
            let rec = spec.record(kind, eng, &table, &f, 0);
            ctx.journal
                .step(&format!("record {}", p.key), json!({"sql": rec}))?;
            exec(conn, "BEGIN").await?;
            for q in &rec {
                if let Err(e) = exec(conn, q).await {
                    let _ = exec(conn, "ROLLBACK").await;
                    return Err(e);
                }
            }
            exec(conn, "COMMIT").await?;
            ctx.journal.done(&format!("record {}", p.key), json!({}))?;
            let h = history::read(conn, tool)
                .await
                .map_err(|e| RecoverError::Failed(e.to_string()))?;
            let lines = history::compare(spec, std::slice::from_ref(&f), &h);
            let ok = lines
                .iter()
                .any(|l| l.file == Some(0) && l.state == State::Applied);
            done.push(format!(
                "migration {} finished and recorded in {table}{}",
                p.key,
                if ok {
                    ""
                } else {
                    " (but the history does not show it as applied: check it)"
                }
            ));
        }
        Action::Abort => {
            let mut undo = spec.unstart(kind, eng, &table, &f);
            if tool == Tool::GolangMigrate && !recorded {
                undo = golang_restore(state, &p.key, &table, kind);
            }
            ctx.journal.step("unmark", json!({"sql": undo}))?;
            for q in &undo {
                exec(conn, q).await?;
            }
            ctx.journal.done("unmark", json!({}))?;
            if recorded {
                done.push(format!(
                    "migration {} was finished and recorded in {table} before the interruption: it stays applied (undo it with its down migration if it must go)",
                    p.key
                ));
            } else {
                done.push(format!(
                    "removed the in-progress mark of migration {} from {table}",
                    p.key
                ));
                let applied: Vec<String> = plan
                    .statements
                    .iter()
                    .take(first)
                    .enumerate()
                    .map(|(i, q)| format!("{}: {}", i + 1, crate::sys::child::tail(q, 1)))
                    .collect();
                if !applied.is_empty() {
                    done.push(format!(
                        "these statements of {} ran and stay applied (undo them by hand{}): {}",
                        p.key,
                        if m.down.is_some() {
                            ", e.g. with its down migration"
                        } else {
                            ""
                        },
                        applied.join(" | "),
                    ));
                }
                if let Some(n) = running_note.filter(|n| !n.ends_with("did not take effect")) {
                    done.push(n);
                }
            }
            return Ok(done);
        }
    }
    let later = remaining(state, &p.key);
    if !later.is_empty() {
        done.push(format!(
            "not applied yet (run `migsafe apply` again): {}",
            later.join(", ")
        ));
    }
    Ok(done)
}

fn remaining(state: &JournalState, after: &str) -> Vec<String> {
    let Some(list) = state.facts.get("migrations").and_then(|v| v.as_array()) else {
        return vec![];
    };
    list.iter()
        .filter_map(|m| m.get("key").and_then(|v| v.as_str()))
        .skip_while(|k| *k != after)
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// golang-migrate keeps one row: put back the one the apply replaced with its dirty mark.
fn golang_restore(
    state: &JournalState,
    key: &str,
    table: &str,
    kind: crate::engines::EngineKind,
) -> Vec<String> {
    let e = kind.engine().migrate();
    let prior = state
        .step(&format!("start {key}"))
        .and_then(|s| s.state.get("prior_rows"))
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    let mut out = vec![format!("DELETE FROM {table}")];
    for r in prior {
        if let Some(v) = r.get("version").and_then(|v| v.as_str()) {
            let dirty = r.get("dirty").and_then(|v| v.as_bool()).unwrap_or(false);
            out.push(format!(
                "INSERT INTO {table} (version, dirty) VALUES ({v}, {})",
                e.bool_lit(dirty)
            ));
        }
    }
    out
}
