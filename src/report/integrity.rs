//! `integrity-check` output: human text grouped by severity (with the SQL to inspect each
//! problem and what was not run), and the JSON document of docs/integrity.md (schema_version 1).

use super::style::{Style, plural};
use crate::integrity::schedule::human as dur;
use crate::integrity::{
    CHECKS, IntegrityReport, NotRun, Problem, SCHEMA_VERSION, Severity, Verdict,
};
use serde_json::{Value, json};
use std::fmt::Write;
use std::time::Duration;

/// Problems of one check shown per severity before "… and N more".
const MAX_PER_CHECK: usize = 10;
/// Not-run entries of one (check, reason) listed one by one before they are summarised.
const MAX_NOT_RUN_LISTED: usize = 5;

fn ms(d: Duration) -> Value {
    json!((d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0)
}

fn ms_int(d: Option<Duration>) -> Value {
    match d {
        Some(d) => json!(d.as_millis() as u64),
        None => Value::Null,
    }
}

fn problem_json(p: &Problem) -> Value {
    json!({
        "check": p.check,
        "severity": p.severity.as_str(),
        "object": p.object,
        "message": p.message,
        "evidence": p.evidence,
        "count": p.count,
        "fix": p.fix,
        "inspect_sql": p.inspect_sql,
    })
}

fn not_run_json(n: &NotRun) -> Value {
    json!({
        "check": n.check,
        "object": n.object,
        "level": n.level.as_str(),
        "cost": n.cost.as_str(),
        "reason": n.reason.as_str(),
        "detail": n.detail,
        "estimate_ms": ms_int(n.estimate),
    })
}

/// The JSON document (docs/integrity.md).
pub fn json(r: &IntegrityReport, fail_on: Severity) -> String {
    let v = json!({
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "migsafe", "version": env!("CARGO_PKG_VERSION")},
        "engine": r.engine.as_str(),
        "server_version": r.server_version,
        "database": r.target,
        "level": r.level.as_str(),
        "budget_ms": ms_int(r.budget),
        "statement_timeout_ms": r.statement_timeout.as_millis() as u64,
        "only": r.only,
        "started_at": r.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "elapsed_ms": ms(r.elapsed),
        "planning_ms": ms(r.planning),
        "fail_on": fail_on.as_str(),
        "passed": r.passed(fail_on),
        "verdict": r.verdict(fail_on).as_str(),
        "summary": {
            "checks_run": r.checks.len(),
            "not_run": r.not_run.len(),
            "problems": r.problems.len(),
            "errors": r.count(Severity::Error),
            "warnings": r.count(Severity::Warning),
            "info": r.count(Severity::Info),
        },
        "problems": r.problems.iter().map(problem_json).collect::<Vec<_>>(),
        "not_run": r.not_run.iter().map(not_run_json).collect::<Vec<_>>(),
        "checks": r.checks.iter().map(|c| json!({
            "check": c.check,
            "object": c.object,
            "level": c.level.as_str(),
            "cost": c.cost.as_str(),
            "estimate_ms": ms_int(c.estimate),
            "duration_ms": ms(c.duration),
            "problems": c.problems,
            "sql": c.sql,
        })).collect::<Vec<_>>(),
        "against": r.against.as_ref().map(|a| json!({
            "manifest": a.manifest,
            "mode": a.mode.as_str(),
            "tables": a.tables,
            "expected_fingerprint": a.expected_fingerprint,
            "actual_fingerprint": a.actual_fingerprint,
        })),
    });
    let mut s =
        serde_json::to_string_pretty(&v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

fn indent(text: &str, pad: &str) -> String {
    text.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Human text: header, problems by severity (errors first), what was not run, summary.
pub fn human(r: &IntegrityReport, fail_on: Severity, color: bool) -> String {
    let st = Style::new(color);
    let mut out = String::new();
    let target = r.target.as_deref().unwrap_or("database");
    let _ = writeln!(
        out,
        "integrity-check {target} ({} {}): level {}, {}",
        r.engine,
        r.server_version.split_whitespace().next().unwrap_or(""),
        r.level.as_str(),
        match r.budget {
            Some(b) => format!("budget {}", dur(b)),
            None => "no budget".to_string(),
        }
    );
    if let Some(a) = &r.against {
        let _ = writeln!(
            out,
            "against {} ({})",
            a.manifest,
            match a.mode {
                crate::integrity::against::Mode::Restore =>
                    "after a restore: row counts and schema must match",
                crate::integrity::against::Mode::Migration =>
                    "after a migration: differences are listed",
            }
        );
    }
    for sev in [Severity::Error, Severity::Warning, Severity::Info] {
        let of: Vec<&Problem> = r.problems.iter().filter(|p| p.severity == sev).collect();
        if of.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{} ({})", st.severity(sev), of.len());
        let mut shown_per_check: std::collections::HashMap<&str, usize> =
            std::collections::HashMap::new();
        for p in &of {
            let n = shown_per_check.entry(p.check).or_default();
            *n += 1;
            if *n > MAX_PER_CHECK {
                continue;
            }
            let _ = writeln!(out, "  [{}] {}", p.check, p.object);
            let _ = writeln!(out, "    {}", p.message);
            let _ = writeln!(
                out,
                "    evidence: {}",
                indent(&p.evidence, "      ").trim_start()
            );
            let _ = writeln!(out, "    fix: {}", p.fix);
            if let Some(sql) = &p.inspect_sql {
                let _ = writeln!(out, "    inspect: {sql}");
            }
        }
        let mut more: Vec<(&str, usize)> = shown_per_check
            .iter()
            .filter(|(_, n)| **n > MAX_PER_CHECK)
            .map(|(c, n)| (*c, n - MAX_PER_CHECK))
            .collect();
        more.sort();
        for (check, n) in more {
            let _ = writeln!(
                out,
                "  … and {n} more [{check}] (all of them with --format json)"
            );
        }
    }
    if !r.not_run.is_empty() {
        let _ = writeln!(out, "\nnot run ({})", r.not_run.len());
        // group by (check, reason) in first-seen order
        let mut groups: Vec<((&str, &str), Vec<&NotRun>)> = Vec::new();
        for n in &r.not_run {
            let key = (n.check, n.reason.as_str());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push(n),
                None => groups.push((key, vec![n])),
            }
        }
        for ((check, reason), items) in groups {
            if items.len() <= MAX_NOT_RUN_LISTED {
                for n in items {
                    let est = n
                        .estimate
                        .map(|e| format!(", est. {}", dur(e)))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "  [{check}] {} ({}{est}): {reason}: {}",
                        n.object,
                        n.cost.as_str(),
                        n.detail
                    );
                }
            } else {
                let total: Duration = items.iter().filter_map(|n| n.estimate).sum();
                let names: Vec<&str> = items.iter().take(3).map(|n| n.object.as_str()).collect();
                let _ = writeln!(
                    out,
                    "  [{check}] {} objects ({}, …; {}, est. {} in all): {reason}: {}",
                    items.len(),
                    names.join(", "),
                    items[0].cost.as_str(),
                    dur(total),
                    items[0].detail
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{} in {} ({} planning): {}, {}, {} info; {} not run",
        plural(r.checks.len(), "check", "checks"),
        dur(r.elapsed),
        dur(r.planning),
        plural(r.count(Severity::Error), "error", "errors"),
        plural(r.count(Severity::Warning), "warning", "warnings"),
        r.count(Severity::Info),
        r.not_run.len()
    );
    match r.verdict(fail_on) {
        v @ (Verdict::Passed | Verdict::Failed) => {
            let (code, word) = if v == Verdict::Passed {
                ("1;32", "passed")
            } else {
                ("1;31", "FAILED")
            };
            let _ = writeln!(
                out,
                "result: {} (--fail-on {})",
                st.paint(code, word),
                fail_on.as_str()
            );
        }
        Verdict::Inconclusive => {
            let _ = writeln!(
                out,
                "result: {}: no check ran, so nothing was verified{}",
                st.paint("1;33", "INCONCLUSIVE"),
                if r.not_run.is_empty() {
                    " (this level has no check for this engine: use --level standard)".to_string()
                } else {
                    format!(
                        " ({} not run, see above: raise --budget or --level)",
                        r.not_run.len()
                    )
                }
            );
        }
    }
    out
}

/// `--list-checks`.
pub fn list_checks(json_format: bool) -> String {
    if json_format {
        let v: Vec<Value> = CHECKS
            .iter()
            .map(|c| {
                json!({
                    "check": c.id,
                    "engines": c.engines.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
                    "level": c.level.as_str(),
                    "cost": c.cost.as_str(),
                    "severity": c.severity.as_str(),
                    "what": c.what,
                })
            })
            .collect();
        let mut s =
            serde_json::to_string_pretty(&json!({"schema_version": SCHEMA_VERSION, "checks": v}))
                .unwrap_or_default();
        s.push('\n');
        return s;
    }
    let mut out = String::new();
    for c in CHECKS {
        let engines = c
            .engines
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let _ = writeln!(
            out,
            "{:<22} {:<8} {:<7} {:<24} {}",
            c.id,
            c.level.as_str(),
            c.cost.as_str(),
            engines,
            c.what
        );
    }
    out
}
