//! Rendering of `read-only`/`maintenance` `on`, `off` and `status` (human and JSON). JSON objects
//! carry `schema_version` and only redacted URLs (the reports hold nothing else).

use crate::modes::{ModeReport, OpenSession, SCHEMA_VERSION, Setting, StatusReport};
use crate::report::style::Style;
use std::fmt::Write;

fn json_of<T: serde::Serialize>(v: &T, passed: bool) -> String {
    let mut j = serde_json::to_value(v).unwrap_or_default();
    if let Some(o) = j.as_object_mut() {
        o.insert("schema_version".into(), SCHEMA_VERSION.into());
        o.insert("passed".into(), passed.into());
    }
    let mut s = serde_json::to_string_pretty(&j).unwrap_or_default();
    s.push('\n');
    s
}

fn value(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("(not set)")
}

fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn list(out: &mut String, title: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "  {title}:");
    for i in items {
        let _ = writeln!(out, "    - {i}");
    }
}

fn sessions(out: &mut String, title: &str, s: &[OpenSession]) {
    let v: Vec<String> = s.iter().map(OpenSession::describe).collect();
    list(out, title, &v);
}

fn settings(out: &mut String, st: &Style, items: &[Setting]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "  settings:");
    for s in items {
        let now = match &s.current {
            Some(c) if *c == s.value => format!("  {}", st.dim("(now)")),
            Some(c) => format!("  {}", st.red(&format!("now {}", value(c)))),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "    {}: {} -> {}{now}",
            s.what,
            value(&s.prior),
            value(&s.value)
        );
    }
}

/// `on` / `off`.
pub fn report(r: &ModeReport, as_json: bool, color: bool) -> String {
    if as_json {
        return json_of(r, r.passed());
    }
    let st = Style::new(color);
    let mut out = String::new();
    let status = match r.status {
        crate::modes::Status::On | crate::modes::Status::Off | crate::modes::Status::NotOn => {
            st.green(r.status.as_str())
        }
        _ => st.red(r.status.as_str()),
    };
    let _ = writeln!(
        out,
        "{} {}: {status}: {}",
        r.mode.as_str(),
        r.action,
        r.message
    );
    let _ = writeln!(out, "  database {} ({})", r.database, r.target);
    if let Some(op) = &r.operation {
        let journal = r
            .journal
            .as_ref()
            .map(|j| format!(", journal {}", j.display()))
            .unwrap_or_default();
        let _ = writeln!(out, "  operation {op}{journal}");
    }
    if let Some(since) = &r.since {
        let lease = r
            .lease_until
            .map(|t| format!(", lease until {}", time(&t)))
            .unwrap_or_else(|| ", no lease".into());
        let _ = writeln!(out, "  since {}{lease}", time(since));
    }
    settings(&mut out, &st, &r.settings);
    if !r.steps.is_empty() {
        let _ = writeln!(out, "  steps:");
        for s in &r.steps {
            let mark = if s.ok {
                st.green("ok")
            } else {
                st.red("FAILED")
            };
            let _ = writeln!(out, "    {mark} {} ({} ms): {}", s.name, s.ms, s.details);
        }
    }
    sessions(&mut out, "ended sessions", &r.ended_sessions);
    if let Some(v) = &r.verification {
        let _ = writeln!(
            out,
            "  verification: {}",
            if v.ok {
                st.green("ok")
            } else {
                st.red("FAILED")
            }
        );
        for p in v.application.iter().chain(v.migration_session.iter()) {
            let _ = writeln!(
                out,
                "    fresh connection as {} (expected {}): {}",
                p.url,
                p.expect,
                p.probe.describe()
            );
        }
        if let Some(p) = v.pool_paused {
            let _ = writeln!(out, "    PgBouncer pool paused: {p}");
        }
        for n in v.problems.iter().chain(v.notes.iter()) {
            let _ = writeln!(out, "    {n}");
        }
    }
    for h in &r.hooks {
        let _ = writeln!(
            out,
            "  hook `{}`: {}",
            h.command,
            if h.ok() {
                format!("ok ({} ms)", h.ms)
            } else {
                h.failure()
            }
        );
    }
    if let Some(f) = &r.flag_file {
        let _ = writeln!(out, "  flag file {}", f.display());
    }
    if let Some(p) = &r.pgbouncer {
        let _ = writeln!(
            out,
            "  PgBouncer {} pool {}: {}",
            p.admin_url,
            p.pool,
            if p.ok {
                p.action.clone()
            } else {
                format!("{} failed", p.action)
            }
        );
    }
    if let Some(h) = &r.held {
        let _ = writeln!(out, "  held: {} lease renewal(s); {}", h.renewals, h.ended);
    }
    list(&mut out, "switched back", &r.undone);
    list(&mut out, "what it stops and does not stop", &r.notes);
    list(&mut out, "could still write", &r.could_still_write);
    list(&mut out, "warnings", &r.warnings);
    out
}

/// `status`.
pub fn status(r: &StatusReport, as_json: bool, color: bool) -> String {
    if as_json {
        return json_of(r, r.exit_code() == 0);
    }
    let st = Style::new(color);
    let mut out = String::new();
    let state = match r.state.as_str() {
        "off" => st.green("off"),
        "on" if !r.lease_expired => st.bold("on"),
        other => st.red(other),
    };
    let _ = writeln!(
        out,
        "{} of {} ({}): {state}",
        r.mode.as_str(),
        r.database,
        r.target
    );
    if let Some(op) = &r.operation {
        let _ = writeln!(
            out,
            "  operation {op} ({})",
            r.source.as_deref().unwrap_or("journal")
        );
    }
    if let (Some(since), Some(by)) = (&r.since, &r.by) {
        let who = match &by.user {
            Some(u) => format!("{u}@{}", by.host),
            None => by.host.clone(),
        };
        let _ = writeln!(out, "  since {} by {who} (`{}`)", time(since), by.command);
    }
    if r.operation.is_some() {
        let lease = match (&r.lease_until, r.lease_expired) {
            (Some(t), true) => st.red(&format!("EXPIRED at {}", time(t))),
            (Some(t), false) => format!("until {}", time(t)),
            (None, _) => "none".into(),
        };
        let _ = writeln!(
            out,
            "  lease: {lease}{}",
            if r.held { " (held)" } else { "" }
        );
    }
    settings(&mut out, &st, &r.settings);
    if let Some(p) = &r.pgbouncer {
        let _ = writeln!(
            out,
            "  PgBouncer pool {}: {}",
            p.pool,
            if p.paused { "paused" } else { "running" }
        );
    }
    if let Some(f) = &r.flag_file {
        let _ = writeln!(out, "  flag file {}", f.display());
    }
    sessions(
        &mut out,
        if r.mode == crate::modes::Mode::ReadOnly {
            "sessions that could still write"
        } else {
            "sessions still connected"
        },
        &r.sessions,
    );
    list(&mut out, "could still write", &r.could_still_write);
    list(&mut out, "warnings", &r.warnings);
    out
}
