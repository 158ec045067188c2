//! `apply --migrate-cmd "<cmd>"`: the project's own migrator (`npm run db:migrate`, `diesel
//! migration run`, …) under migsafe's checks — the status and gates before (already passed when
//! this runs), migsafe's own lock (not the tool's: the migrator takes that one itself and would
//! wait for migsafe forever), the command with `DATABASE_URL` in its environment, then the
//! status after, which must show exactly the migrations that were pending as applied.

use super::{
    ApplyError, ApplyReport, ApplySettings, Event, LockInfo, Outcome, begin_journal, migsafe_lock,
    take_lock,
};
use crate::engines::conn::Conn;
use crate::engines::target::Target;
use crate::history::{State, Tool};
use crate::migrations::Migration;
use serde::Serialize;
use serde_json::json;
use std::process::{Command, Stdio};

#[derive(Debug, Clone, Serialize)]
pub struct CmdResult {
    pub command: String,
    pub exit: String,
    pub success: bool,
    /// The pending migrations it was expected to apply.
    pub expected: Vec<String>,
    /// Expected and applied afterwards.
    pub applied: Vec<String>,
    /// Expected but not applied afterwards.
    pub not_applied: Vec<String>,
    /// Anything else the history shows afterwards that it did not show before: failed,
    /// modified or unexpected migrations.
    pub unexpected: Vec<String>,
    /// The last lines of its output.
    pub output_tail: String,
}

#[allow(clippy::too_many_arguments)]
pub async fn run(
    s: &ApplySettings,
    target: &Target,
    migs: &[Migration],
    tool: Tool,
    conn: &mut Conn,
    cmd: &str,
    mut r: ApplyReport,
    on_event: &mut dyn FnMut(Event),
) -> Result<ApplyReport, ApplyError> {
    let kind = conn.kind();
    let eng = kind.engine().migrate();
    let db = eng.database(conn).await?;
    let key = migsafe_lock(kind, &db, target);
    let expected: Vec<String> = r.migrations.iter().map(|m| m.key.clone()).collect();
    let before_applied: Vec<String> = {
        let sv = crate::status::survey(conn, tool, migs, &s.check).await?;
        sv.migrations
            .iter()
            .filter(|m| m.line.state == State::Applied)
            .map(|m| m.line.key.clone())
            .collect()
    };
    let mut journal = begin_journal(
        s,
        target,
        json!({"tool": tool.as_str(), "env": s.env, "migrate_cmd": redact_cmd(cmd), "expected": expected, "lock": key}),
        &mut r,
    )?;
    let _ = journal.step("lock", json!({"key": key}));
    let (guard, waited, holder) = take_lock(conn, &key, s.lock_wait, on_event).await?;
    r.lock = Some(LockInfo {
        key: key.clone(),
        owner: "migsafe".into(),
        waited_ms: waited,
        holder,
    });
    let Some(guard) = guard else {
        r.outcome = Outcome::LockTimeout;
        r.message = format!("gave up waiting for the migration lock {key}; nothing was run");
        let _ = journal.failed("lock", &r.message);
        let _ = journal.end("failed", &r.message);
        return Ok(r);
    };
    let _ = journal.done("lock", json!({"waited_ms": waited}));
    journal
        .step("migrate-cmd", json!({"expected": expected}))
        .map_err(|e| ApplyError::Usage(e.to_string()))?;
    on_event(Event::Notice(format!(
        "running the migrator: {}",
        redact_cmd(cmd)
    )));
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(cmd)
        .env("DATABASE_URL", &s.url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        let (child, _g) = crate::sys::child::spawn(&mut c)?;
        child.wait_with_output()
    })
    .await
    .map_err(|e| ApplyError::Usage(e.to_string()))?
    .map_err(|e| ApplyError::Usage(format!("--migrate-cmd: cannot run `sh -c`: {e}")))?;
    let target_scrub = |t: &str| match target {
        Target::Postgres(p) => p.scrub(t),
        _ => t.to_string(),
    };
    let text = target_scrub(&format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ));
    let _ = eng.unlock(conn, guard).await;
    let after = crate::status::survey(conn, tool, migs, &s.check).await?;
    let applied_now: Vec<String> = after
        .migrations
        .iter()
        .filter(|m| m.line.state == State::Applied)
        .map(|m| m.line.key.clone())
        .collect();
    let mut res = CmdResult {
        command: redact_cmd(cmd),
        exit: crate::sys::child::describe(&out.status),
        success: out.status.success(),
        expected: expected.clone(),
        applied: expected
            .iter()
            .filter(|k| applied_now.contains(k))
            .cloned()
            .collect(),
        not_applied: expected
            .iter()
            .filter(|k| !applied_now.contains(k))
            .cloned()
            .collect(),
        unexpected: Vec::new(),
        output_tail: crate::sys::child::tail(&text, 20),
    };
    for m in &after.migrations {
        let k = &m.line.key;
        match m.line.state {
            State::Applied if !expected.contains(k) && !before_applied.contains(k) => res
                .unexpected
                .push(format!("{k} (applied, but it was not pending)")),
            State::Failed | State::Modified | State::Missing | State::OutOfOrder => res
                .unexpected
                .push(format!("{k} ({})", m.line.state.as_str())),
            _ => {}
        }
    }
    for e in r.migrations.iter_mut() {
        e.outcome = if res.applied.contains(&e.key) {
            "applied"
        } else {
            "pending"
        }
        .into();
    }
    let ok = res.success && res.not_applied.is_empty() && res.unexpected.is_empty();
    r.outcome = if ok {
        Outcome::Applied
    } else {
        Outcome::Failed
    };
    r.message = if ok {
        format!(
            "the migrator applied the {} pending migration(s) and nothing else",
            expected.len()
        )
    } else {
        let mut why = Vec::new();
        if !res.success {
            why.push(format!("it exited with {}", res.exit));
        }
        if !res.not_applied.is_empty() {
            why.push(format!("not applied: {}", res.not_applied.join(", ")));
        }
        if !res.unexpected.is_empty() {
            why.push(format!("unexpected: {}", res.unexpected.join(", ")));
        }
        format!(
            "the history after the migrator is not what was pending: {}",
            why.join("; ")
        )
    };
    let _ = journal.done("migrate-cmd", json!({"exit": res.exit, "applied": res.applied, "not_applied": res.not_applied, "unexpected": res.unexpected}));
    r.consistent = ok || res.unexpected.iter().all(|u| !u.contains("failed"));
    r.migrate_cmd = Some(res);
    let _ = journal.end(if ok { "finished" } else { "failed" }, &r.message);
    Ok(r)
}

/// The command with anything that looks like a URL redacted (journals and reports).
pub fn redact_cmd(cmd: &str) -> String {
    cmd.split(' ')
        .map(|w| {
            if w.contains("://") {
                match w.split_once('=') {
                    Some((k, v)) if !k.contains("://") => {
                        format!("{k}={}", crate::engines::redact_url(v))
                    }
                    _ => crate::engines::redact_url(w),
                }
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
