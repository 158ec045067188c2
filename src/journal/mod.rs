//! The journal of an operation that changes a database (DESIGN.md §7):
//! `.migsafe/journal/<operation-id>.jsonl`, one JSON event per line, each fsynced before the step
//! it announces acts, so that after a crash at any instant the journal says what may have
//! happened and holds the prior state needed to undo it: settings, connection limits, names
//! before a rename, the backup file. No credentials: targets are recorded as redacted URLs.
//!
//! `migsafe recover` reads journals without an `end` event ([`unfinished`]) and ends them through
//! the kind registered in `crate::recover`.

pub mod recover;

use crate::engines::admin::Marker;
use crate::engines::target::Target;
use crate::sys::durable;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Version of the event format.
pub const VERSION: u32 = 1;

/// `$MIGSAFE_STATE_DIR/journal` when set, else `.migsafe/journal` in the nearest folder upwards
/// from the working directory that has a `migsafe.toml` or a `.migsafe` folder, else in the
/// working directory.
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MIGSAFE_STATE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("journal");
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let base = cwd
        .ancestors()
        .find(|d| d.join(".migsafe").is_dir() || d.join("migsafe.toml").is_file())
        .unwrap_or(&cwd)
        .to_path_buf();
    base.join(".migsafe").join("journal")
}

/// Where an operation works, without credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalTarget {
    pub engine: String,
    /// The server (`host:port`, a socket folder) or the file, as the URL names it.
    pub server: String,
    pub database: String,
    /// The URL, redacted.
    pub url: String,
}

impl JournalTarget {
    pub fn of(t: &Target) -> JournalTarget {
        JournalTarget {
            engine: t.kind().as_str().to_string(),
            server: t.server(),
            database: t.database().to_string(),
            url: t.redacted(),
        }
    }

    /// Whether `t` is the same server (the database may differ: a recover may be pointed at any
    /// database of the server).
    pub fn same_server(&self, t: &Target) -> bool {
        self.engine == t.kind().as_str() && self.server == t.server()
    }
}

/// One line of a journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub v: u32,
    pub op: String,
    pub seq: u64,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub what: EventKind,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EventKind {
    /// The operation starts: what it is, where, from which host and process, and the facts a
    /// recovery needs (backup file, names it will use, settings).
    Begin {
        kind: String,
        target: JournalTarget,
        host: String,
        pid: u32,
        #[serde(default)]
        pid_start: Option<u64>,
        command: String,
        facts: Value,
    },
    /// A step that may change the database is about to act; `state` is what is needed to undo
    /// it.
    Step {
        step: String,
        state: Value,
    },
    /// The step finished.
    Done {
        step: String,
        result: Value,
    },
    /// The step failed (and what was done about it is in later events).
    Failed {
        step: String,
        error: String,
    },
    Note {
        text: String,
    },
    /// The operation reached a consistent end: `finished`, `failed` (nothing left to undo),
    /// `aborted` or `resumed` (by `migsafe recover`), `interrupted-clean`.
    End {
        outcome: String,
        detail: String,
    },
}

/// An open journal of a running operation.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    op: String,
    seq: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("journal {path}: {message}")]
pub struct JournalError {
    pub path: String,
    pub message: String,
}

fn jerr(path: &Path, e: impl std::fmt::Display) -> JournalError {
    JournalError {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// The command line of this process with anything that looks like a URL redacted.
pub fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.contains("://") || a.starts_with("postgres") || a.starts_with("mysql") {
                match a.split_once('=') {
                    Some((k, v)) if k.starts_with("--") => {
                        format!("{k}={}", crate::engines::redact_url(v))
                    }
                    _ => crate::engines::redact_url(&a),
                }
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Journal {
    /// Creates `<dir>/<kind>-<utc time>-<pid>[-n].jsonl` (0600, in a 0700 folder) and writes the
    /// begin event.
    pub fn begin(
        dir: &Path,
        kind: &str,
        target: JournalTarget,
        facts: Value,
    ) -> Result<Journal, JournalError> {
        durable::private_dir(dir).map_err(|e| jerr(dir, e))?;
        let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
        let pid = std::process::id();
        let mut n = 0u32;
        let (op, path, file) = loop {
            let op = if n == 0 {
                format!("{kind}-{stamp}-{pid}")
            } else {
                format!("{kind}-{stamp}-{pid}-{n}")
            };
            let path = dir.join(format!("{op}.jsonl"));
            // O_APPEND: the interrupt handler appends through its own handle while this one
            // lives; neither may write over the other's lines
            let opened = {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .append(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
            };
            match opened {
                Ok(f) => break (op, path, f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(jerr(&path, e)),
            }
        };
        durable::fsync_dir(dir).map_err(|e| jerr(dir, e))?;
        let mut j = Journal {
            path,
            file,
            op,
            seq: 0,
        };
        j.write(EventKind::Begin {
            kind: kind.to_string(),
            target,
            host: crate::sys::proc::hostname(),
            pid,
            pid_start: crate::sys::proc::start_time(pid),
            command: command_line(),
            facts,
        })?;
        Ok(j)
    }

    /// Opens an unfinished journal to append to it (recover). A torn last line (the crash
    /// happened while it was written, so its step never acted) is cut off first.
    pub fn reopen(state: &JournalState) -> Result<Journal, JournalError> {
        let text = std::fs::read(&state.path).map_err(|e| jerr(&state.path, e))?;
        let keep = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&state.path)
            .map_err(|e| jerr(&state.path, e))?;
        if keep < text.len() {
            file.set_len(keep as u64)
                .and_then(|_| file.sync_data())
                .map_err(|e| jerr(&state.path, e))?;
        }
        Ok(Journal {
            path: state.path.clone(),
            file,
            op: state.op.clone(),
            seq: state.last_seq,
        })
    }

    pub fn id(&self) -> &str {
        &self.op
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, what: EventKind) -> Result<(), JournalError> {
        self.seq += 1;
        let ev = Event {
            v: VERSION,
            op: self.op.clone(),
            seq: self.seq,
            at: Utc::now(),
            what,
        };
        let line = serde_json::to_string(&ev).map_err(|e| jerr(&self.path, e))?;
        durable::append_line_synced(&mut self.file, &line).map_err(|e| jerr(&self.path, e))
    }

    /// Before a step that changes the database: its name and the state needed to undo it.
    pub fn step(&mut self, step: &str, state: Value) -> Result<(), JournalError> {
        self.write(EventKind::Step {
            step: step.to_string(),
            state,
        })?;
        crash_point(step, "before");
        Ok(())
    }

    pub fn done(&mut self, step: &str, result: Value) -> Result<(), JournalError> {
        crash_point(step, "after");
        self.write(EventKind::Done {
            step: step.to_string(),
            result,
        })
    }

    pub fn failed(&mut self, step: &str, error: &str) -> Result<(), JournalError> {
        self.write(EventKind::Failed {
            step: step.to_string(),
            error: error.to_string(),
        })
    }

    pub fn note(&mut self, text: &str) -> Result<(), JournalError> {
        self.write(EventKind::Note {
            text: text.to_string(),
        })
    }

    /// The operation reached a consistent end; the journal is kept as a record.
    pub fn end(mut self, outcome: &str, detail: &str) -> Result<(), JournalError> {
        self.write(EventKind::End {
            outcome: outcome.to_string(),
            detail: detail.to_string(),
        })
    }
}

/// Fault injection for the crash tests (kill -9 at every step): with `MIGSAFE_CRASH_AT` set to
/// `<step>:before`, migsafe kills itself with SIGKILL right after journaling that the step is
/// about to act; with `<step>:after`, right after the step acted, before its `done` is
/// journaled. A real SIGKILL: nothing runs after it, children die with migsafe.
fn crash_point(step: &str, when: &str) {
    if let Some(v) = std::env::var_os("MIGSAFE_CRASH_AT")
        && v.to_string_lossy() == format!("{step}:{when}")
    {
        // SAFETY: kill and getpid have no preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
}

/// A step as the journal recorded it.
#[derive(Debug, Clone)]
pub struct StepState {
    pub name: String,
    /// The prior state recorded before it acted.
    pub state: Value,
    pub result: Option<Value>,
    pub error: Option<String>,
}

impl StepState {
    pub fn done(&self) -> bool {
        self.result.is_some()
    }
}

/// A journal read back.
#[derive(Debug, Clone)]
pub struct JournalState {
    pub path: PathBuf,
    pub op: String,
    pub kind: String,
    pub target: JournalTarget,
    pub host: String,
    pub pid: u32,
    pub pid_start: Option<u64>,
    pub command: String,
    pub started_at: DateTime<Utc>,
    pub facts: Value,
    /// In the order they started; a step retried appears again.
    pub steps: Vec<StepState>,
    pub notes: Vec<String>,
    /// `(outcome, detail)` once ended.
    pub ended: Option<(String, String)>,
    pub last_seq: u64,
}

impl JournalState {
    /// The last attempt of `step`, if it started.
    pub fn step(&self, name: &str) -> Option<&StepState> {
        self.steps.iter().rev().find(|s| s.name == name)
    }

    pub fn started(&self, name: &str) -> bool {
        self.step(name).is_some()
    }

    pub fn finished(&self, name: &str) -> bool {
        self.step(name).is_some_and(StepState::done)
    }

    /// The last step that started and did not finish or fail: where a crash happened.
    pub fn interrupted_step(&self) -> Option<&StepState> {
        self.steps
            .last()
            .filter(|s| s.result.is_none() && s.error.is_none())
    }

    /// Whether the process that wrote it still runs here (then it is not unfinished, only busy).
    pub fn running(&self) -> bool {
        self.host == crate::sys::proc::hostname()
            && crate::sys::proc::alive(self.pid, self.pid_start)
            && self.pid != std::process::id()
    }

    /// `facts[key]` as text.
    pub fn fact(&self, key: &str) -> Option<&str> {
        self.facts.get(key).and_then(Value::as_str)
    }

    /// An operation that stays on by design (a read-only or maintenance mode) is in force: its
    /// step [`ACTIVE_STEP`] finished and nothing started after it.
    pub fn active(&self) -> bool {
        self.steps
            .iter()
            .rposition(|s| s.name == ACTIVE_STEP)
            .is_some_and(|i| self.steps[i].done() && i + 1 == self.steps.len())
    }

    /// The lease, as last renewed: the latest `lease_until` of a step's state, else the facts'.
    pub fn lease_until(&self) -> Option<DateTime<Utc>> {
        let parse = |v: &Value| {
            v.get("lease_until")
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        self.steps
            .iter()
            .rev()
            .find_map(|s| parse(&s.state))
            .or_else(|| parse(&self.facts))
    }
}

/// The step an operation that stays on by design journals once it is in force (see
/// [`JournalState::active`]).
pub const ACTIVE_STEP: &str = "active";

/// Reads a journal; a torn last line (a crash mid-write) is ignored, any other bad line is an
/// error (a journal migsafe does not understand is never acted on).
pub fn load(path: &Path) -> Result<JournalState, JournalError> {
    let text = std::fs::read_to_string(path).map_err(|e| jerr(path, e))?;
    let lines: Vec<&str> = text.split('\n').collect();
    let mut state: Option<JournalState> = None;
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let ev: Event = match serde_json::from_str(line) {
            Ok(ev) => ev,
            // only the last line can be torn, and it then has no newline after it
            Err(_) if i + 1 == lines.len() => break,
            Err(e) => return Err(jerr(path, format!("line {}: {e}", i + 1))),
        };
        if ev.v > VERSION {
            return Err(jerr(
                path,
                format!("event version {} is newer than this migsafe", ev.v),
            ));
        }
        match (&mut state, ev.what) {
            (
                None,
                EventKind::Begin {
                    kind,
                    target,
                    host,
                    pid,
                    pid_start,
                    command,
                    facts,
                },
            ) => {
                state = Some(JournalState {
                    path: path.to_path_buf(),
                    op: ev.op,
                    kind,
                    target,
                    host,
                    pid,
                    pid_start,
                    command,
                    started_at: ev.at,
                    facts,
                    steps: Vec::new(),
                    notes: Vec::new(),
                    ended: None,
                    last_seq: ev.seq,
                });
            }
            (None, _) => return Err(jerr(path, "the first event is not `begin`")),
            (Some(s), what) => {
                s.last_seq = ev.seq;
                match what {
                    EventKind::Begin { .. } => {
                        return Err(jerr(path, format!("line {}: a second `begin`", i + 1)));
                    }
                    EventKind::Step { step, state } => s.steps.push(StepState {
                        name: step,
                        state,
                        result: None,
                        error: None,
                    }),
                    EventKind::Done { step, result } => {
                        if let Some(st) = s.steps.iter_mut().rev().find(|x| x.name == step) {
                            st.result = Some(result);
                        }
                    }
                    EventKind::Failed { step, error } => {
                        if let Some(st) = s.steps.iter_mut().rev().find(|x| x.name == step) {
                            st.error = Some(error);
                        }
                    }
                    EventKind::Note { text } => s.notes.push(text),
                    EventKind::End { outcome, detail } => s.ended = Some((outcome, detail)),
                }
            }
        }
    }
    state.ok_or_else(|| jerr(path, "empty journal"))
}

/// Every journal in `dir` without an `end` event, oldest first. Journals that cannot be read
/// are returned as errors so they are reported, never silently skipped.
pub fn unfinished(dir: &Path) -> Vec<Result<JournalState, JournalError>> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<Result<JournalState, JournalError>> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .map(|p| load(&p))
        .filter(|r| r.as_ref().map_or(true, |s| s.ended.is_none()))
        .collect();
    out.sort_by_key(|r| r.as_ref().map(|s| s.started_at).ok());
    out
}

/// An unfinished operation seen from a command that connects to a database: from this
/// machine's journals and the server's markers.
#[derive(Debug, Clone, Serialize)]
pub struct Unfinished {
    pub operation: String,
    pub kind: String,
    pub database: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub host: String,
    pub command: String,
    /// Where it was found: `journal` (this machine) or `marker` (the server).
    pub source: String,
    /// Its process still runs on this host.
    pub running: bool,
    /// An operation that stays on by design (a read-only or maintenance mode) is in force.
    pub active: bool,
    /// Its lease, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    /// The OS user who started it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The facts the marker carries (a marker of an operation any machine may end).
    #[serde(skip)]
    pub facts: Option<Value>,
    #[serde(skip)]
    pub pid: u32,
    #[serde(skip)]
    pub pid_start: Option<u64>,
}

impl Unfinished {
    /// Whether its lease ran out (an operation without lease never expires).
    pub fn lease_expired(&self) -> bool {
        self.lease_until.is_some_and(|t| t < Utc::now())
    }

    /// One line for stderr: what, when, which host, and the command that ends it. A mode in
    /// force is described as such (it is not a failure), loudly once its lease has expired.
    pub fn describe(&self) -> String {
        let by = match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => format!("host {}", self.host),
        };
        if self.active {
            let since = self.started_at.format("%Y-%m-%d %H:%M:%S UTC");
            return match self.lease_until {
                Some(t) if self.lease_expired() => format!(
                    "LEASE EXPIRED: database {} is still in migsafe {} mode (since {since}, by {by}, operation {}); its lease ended at {} ({} ago) and nothing renewed it: run `migsafe {} off` (or `migsafe recover --operation {}`)",
                    self.database,
                    self.kind,
                    self.operation,
                    t.format("%Y-%m-%d %H:%M:%S UTC"),
                    ago(Utc::now() - t),
                    self.kind,
                    self.operation
                ),
                Some(t) => format!(
                    "database {} is in migsafe {} mode since {since} (by {by}, operation {}, lease until {}{}): `migsafe {} off` ends it",
                    self.database,
                    self.kind,
                    self.operation,
                    t.format("%Y-%m-%d %H:%M:%S UTC"),
                    if self.running { ", held" } else { "" },
                    self.kind
                ),
                None => format!(
                    "database {} is in migsafe {} mode since {since} (by {by}, operation {}, no lease): `migsafe {} off` ends it",
                    self.database, self.kind, self.operation, self.kind
                ),
            };
        }
        let state = if self.running {
            "is running".to_string()
        } else {
            format!(
                "did not finish: run `migsafe recover --operation {}` (add --abort to undo it, --resume to finish it)",
                self.operation
            )
        };
        format!(
            "an unfinished {} of database {} (operation {}, started {} on host {} by `{}`) {state}",
            self.kind,
            self.database,
            self.operation,
            self.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.host,
            self.command
        )
    }

    fn from_journal(s: &JournalState) -> Unfinished {
        Unfinished {
            operation: s.op.clone(),
            kind: s.kind.clone(),
            database: s.target.database.clone(),
            started_at: s.started_at,
            host: s.host.clone(),
            command: s.command.clone(),
            source: "journal".into(),
            running: s.running(),
            active: s.active(),
            lease_until: s.lease_until(),
            user: s.fact("user").map(str::to_string),
            facts: None,
            pid: s.pid,
            pid_start: s.pid_start,
        }
    }

    /// From a marker on database `db`. A marker that carries facts names the database it was
    /// set for (a database renamed since, by a restore, still shows the original name).
    pub fn from_marker(db: &str, m: &Marker) -> Unfinished {
        let database = m
            .facts
            .as_ref()
            .and_then(|f| f.get("database"))
            .and_then(Value::as_str)
            .unwrap_or(db);
        Unfinished {
            operation: m.operation.clone(),
            kind: m.kind.clone(),
            database: database.to_string(),
            started_at: m.started_at,
            host: m.host.clone(),
            command: m.command.clone(),
            source: "marker".into(),
            running: m.host == crate::sys::proc::hostname()
                && crate::sys::proc::alive(m.pid, m.pid_start),
            active: m.active,
            lease_until: m.lease_until,
            user: m.user.clone(),
            facts: m.facts.clone(),
            pid: m.pid,
            pid_start: m.pid_start,
        }
    }
}

/// Continues on this machine an operation known only from its database marker (another
/// machine ran it, or its journal is gone): a new journal whose facts are the marker's, with
/// `adopted` naming the original operation, ready for its kind's recovery.
pub fn adopt(dir: &Path, target: &Target, u: &Unfinished) -> Result<JournalState, JournalError> {
    let mut facts = match u.facts.clone() {
        Some(Value::Object(m)) => Value::Object(m),
        _ => Value::Object(Default::default()),
    };
    facts["adopted"] = serde_json::json!({
        "operation": u.operation,
        "host": u.host,
        "user": u.user,
        "started_at": u.started_at,
        "command": u.command,
    });
    let mut jt = JournalTarget::of(target);
    jt.database = u.database.clone();
    let mut j = Journal::begin(dir, &u.kind, jt, facts)?;
    j.note(&format!(
        "continues operation {} (started on host {} by `{}`) from its database marker",
        u.operation, u.host, u.command
    ))?;
    let path = j.path().to_path_buf();
    drop(j);
    load(&path)
}

/// `3 min`, `2 h 5 min`: how long ago, for humans.
fn ago(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// Unfinished operations that concern `target`'s server: this machine's journals for the same
/// server, and the markers on the server (read through an admin connection, so a database that
/// refuses connections is still seen). Markers of operations whose journal is here are not
/// listed twice. Never fails: what cannot be read is left out.
pub async fn unfinished_for(target: &Target, journal_dir: &std::path::Path) -> Vec<Unfinished> {
    let local: Vec<JournalState> = unfinished(journal_dir)
        .into_iter()
        .flatten()
        .filter(|s| s.target.same_server(target))
        .collect();
    // a journal that continues another machine's operation stands for that operation's marker
    let adopted: Vec<String> = local
        .iter()
        .filter_map(|s| s.facts.get("adopted")?.get("operation")?.as_str())
        .map(str::to_string)
        .collect();
    let mut out: Vec<Unfinished> = local.iter().map(Unfinished::from_journal).collect();
    let admin = target.kind().engine().admin();
    if admin.has_server()
        && let Ok(mut conn) = admin.connect_admin(target).await
    {
        if let Ok(markers) = admin.markers(&mut conn).await {
            for (db, m) in markers {
                if !out.iter().any(|u| u.operation == m.operation)
                    && !adopted.contains(&m.operation)
                {
                    out.push(Unfinished::from_marker(&db, &m));
                }
            }
        }
        conn.close().await;
    }
    out
}

/// One step of an operation as it ran, as its report shows it (restore, read-only, maintenance).
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub ok: bool,
    pub ms: u64,
    pub details: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn target() -> JournalTarget {
        JournalTarget {
            engine: "postgres".into(),
            server: "db:5432".into(),
            database: "shop".into(),
            url: "postgres://app:****@db:5432/shop".into(),
        }
    }

    #[test]
    fn events_are_read_back_and_a_torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let jd = dir.path().join("journal");
        let mut j = Journal::begin(
            &jd,
            "restore-swap",
            target(),
            serde_json::json!({"backup": "/b/x.dump"}),
        )
        .unwrap();
        j.step(
            "deny-connections",
            serde_json::json!({"allow_connections": true}),
        )
        .unwrap();
        j.done("deny-connections", serde_json::json!({})).unwrap();
        j.step("drain", serde_json::json!({})).unwrap();
        let path = j.path().to_path_buf();
        drop(j);
        // a crash in the middle of writing the next event
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"v\":1,\"op\":")
            .unwrap();
        let s = load(&path).unwrap();
        assert_eq!(s.kind, "restore-swap");
        assert_eq!(s.fact("backup"), Some("/b/x.dump"));
        assert!(s.finished("deny-connections") && s.started("drain") && !s.finished("drain"));
        assert_eq!(s.interrupted_step().unwrap().name, "drain");
        assert!(
            !s.running(),
            "this process wrote it, and a journal of ours is not `running`"
        );
        assert_eq!(unfinished(&jd).len(), 1);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let mut j = Journal::reopen(&s).unwrap();
        j.note("recovered").unwrap();
        j.end("aborted", "live database reopened").unwrap();
        assert!(unfinished(&jd).is_empty());
        assert_eq!(load(&path).unwrap().ended.unwrap().0, "aborted");
    }

    #[test]
    fn a_damaged_journal_is_an_error_not_a_skip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(&p, "not json\n{}\n").unwrap();
        assert!(load(&p).is_err());
        assert_eq!(unfinished(dir.path()).len(), 1);
        assert!(unfinished(dir.path())[0].is_err());
    }
}
