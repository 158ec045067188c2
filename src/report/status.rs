//! Renderers of `status` and `apply`: human text, JSON (`schema_version` 1) and Markdown for a
//! PR comment or a deploy log. They only format what the operations decided.

use super::style::Style;
use crate::apply::{ApplyReport, Outcome};
use crate::status::{StatusMigration, StatusReport};
use std::fmt::Write as _;

pub fn json<T: serde::Serialize>(report: &T) -> String {
    let mut s =
        serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// The version, or the key where a file has none (a plain folder's `v1.1/schema.sql`).
fn label(m: &StatusMigration) -> &str {
    if m.line.version.is_empty() {
        &m.line.key
    } else {
        &m.line.version
    }
}

fn verdict_of(m: &StatusMigration) -> String {
    match (m.verdict, m.release_class) {
        (Some(v), Some(r)) => format!("{v}, {}", r.as_str()),
        (Some(v), None) => v.to_string(),
        _ => String::new(),
    }
}

pub fn status_human(r: &StatusReport, color: bool) -> String {
    let st = Style::new(color);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} {} ({}){}, history {}{}",
        st.paint("1", "status of"),
        r.database,
        r.engine,
        r.env
            .as_ref()
            .map(|e| format!(" [env {e}]"))
            .unwrap_or_default(),
        r.table,
        if r.table_exists {
            ""
        } else {
            " (not created yet)"
        }
    );
    for m in &r.migrations {
        let state = m.line.state.as_str();
        let painted = match state {
            "applied" => st.dim(state),
            "pending" => st.paint("36", state),
            _ => st.paint("31;1", state),
        };
        let v = verdict_of(m);
        let _ = writeln!(
            o,
            "  {painted:<14} {} {}{}",
            label(m),
            m.line.description,
            if v.is_empty() {
                String::new()
            } else {
                format!("  [{v}]")
            }
        );
        for f in m
            .findings
            .iter()
            .filter(|f| f.verdict.rank() >= crate::model::Verdict::Risky.rank())
        {
            let _ = writeln!(
                o,
                "                 {} {} (line {}): {}",
                f.verdict, f.rule, f.line, f.message
            );
        }
        if let Some(n) = &m.line.note {
            let _ = writeln!(o, "                 {n}");
        }
    }
    let c = &r.summary;
    let _ = writeln!(
        o,
        "{} applied, {} pending ({}, release {}), {} modified, {} missing, {} failed, {} out of order",
        c.applied,
        c.pending,
        r.pending_verdict,
        r.release_class.as_str(),
        c.modified,
        c.missing,
        c.failed,
        c.out_of_order
    );
    o
}

pub fn status_markdown(r: &StatusReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "### migsafe status: `{}` ({})\n", r.database, r.tool);
    let _ = writeln!(o, "| state | version | description | verdict | note |");
    let _ = writeln!(o, "|---|---|---|---|---|");
    for m in &r.migrations {
        let _ = writeln!(
            o,
            "| {} | `{}` | {} | {} | {} |",
            m.line.state.as_str(),
            label(m),
            m.line.description.replace('|', "\\|"),
            verdict_of(m),
            m.line.note.clone().unwrap_or_default().replace('|', "\\|")
        );
    }
    let c = &r.summary;
    let _ = writeln!(
        o,
        "\n**{}** applied, **{}** pending (worst verdict {}, release {}), **{}** modified, **{}** missing, **{}** failed, **{}** out of order",
        c.applied,
        c.pending,
        r.pending_verdict,
        r.release_class.as_str(),
        c.modified,
        c.missing,
        c.failed,
        c.out_of_order
    );
    o
}

pub fn apply_human(r: &ApplyReport, color: bool) -> String {
    let st = Style::new(color);
    let mut o = String::new();
    let head = match r.outcome {
        Outcome::Applied | Outcome::UpToDate | Outcome::Planned => {
            st.paint("32;1", r.outcome.as_str())
        }
        _ => st.paint("31;1", r.outcome.as_str()),
    };
    let _ = writeln!(
        o,
        "{head}: {} ({} {}{}, history {})",
        r.message,
        r.engine,
        r.database,
        r.env
            .as_ref()
            .map(|e| format!(" [env {e}]"))
            .unwrap_or_default(),
        r.table
    );
    if r.dry_run {
        let _ = writeln!(
            o,
            "plan: lock {} ({}), lock_timeout {} ms, statement_timeout {}, up to {} retries on lock timeouts",
            r.lock
                .as_ref()
                .map(|l| l.key.to_string())
                .unwrap_or_default(),
            r.lock.as_ref().map(|l| l.owner.as_str()).unwrap_or(""),
            r.timeouts.lock.as_millis(),
            r.timeouts
                .statement
                .map(|d| format!("{} ms", d.as_millis()))
                .unwrap_or_else(|| "none".into()),
            r.retries
        );
    }
    for m in &r.migrations {
        let _ = writeln!(
            o,
            "  {:<18} {} {}  [{}{}, {}]",
            m.outcome,
            m.version,
            m.description,
            m.verdict.map(|v| v.to_string()).unwrap_or_default(),
            m.release_class
                .map(|c| format!(", {}", c.as_str()))
                .unwrap_or_default(),
            if m.atomic {
                "one transaction with its history row"
            } else {
                "statement by statement"
            }
        );
        for a in &m.attempts {
            let _ = writeln!(
                o,
                "                     try {}{}: {}{}",
                a.attempt,
                a.statement
                    .map(|s| format!(", statement {s}"))
                    .unwrap_or_default(),
                a.error,
                a.retry_in_ms
                    .map(|w| format!(" (retried after {w} ms)"))
                    .unwrap_or_default()
            );
        }
        if r.dry_run {
            for q in &m.record_sql {
                let _ = writeln!(o, "                     records: {q}");
            }
        }
    }
    for p in &r.problems {
        let _ = writeln!(
            o,
            "  {} {} {}: {}",
            p.line.state.as_str(),
            p.line.version,
            p.line.description,
            p.line.note.clone().unwrap_or_default()
        );
    }
    for x in &r.refusals {
        let _ = writeln!(
            o,
            "  refused {} ({}:{}): {} {}: {}",
            x.version, x.path, x.line, x.verdict, x.rule, x.message
        );
    }
    if !r.runbook.is_empty() {
        let _ = writeln!(o, "runbook steps --force assumes happened:");
        for s in &r.runbook {
            let _ = writeln!(o, "  - {s}");
        }
    }
    if let Some(s) = &r.staging {
        let _ = writeln!(o, "staging ({}): {}", s.method, s.message);
    }
    if let Some(c) = &r.migrate_cmd {
        let _ = writeln!(o, "migrator `{}`: {}", c.command, c.exit);
        if !c.output_tail.is_empty() {
            for l in c.output_tail.lines() {
                let _ = writeln!(o, "  | {l}");
            }
        }
    }
    if let Some(l) = r.lock.as_ref().filter(|l| l.waited_ms > 0) {
        let _ = writeln!(
            o,
            "waited {} ms for the lock {}{}",
            l.waited_ms,
            l.key,
            l.holder
                .as_ref()
                .map(|h| format!(" held by {}", h.describe()))
                .unwrap_or_default()
        );
    }
    for w in &r.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    if let Some(op) = &r.operation {
        let _ = writeln!(o, "journal: {op}");
    }
    o
}

pub fn apply_markdown(r: &ApplyReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "### migsafe apply: {} — {}\n",
        r.outcome.as_str(),
        r.message.replace('|', "\\|")
    );
    let _ = writeln!(o, "| outcome | version | description | verdict | tries |");
    let _ = writeln!(o, "|---|---|---|---|---|");
    for m in &r.migrations {
        let _ = writeln!(
            o,
            "| {} | `{}` | {} | {} | {} |",
            m.outcome,
            m.version,
            m.description.replace('|', "\\|"),
            m.verdict.map(|v| v.to_string()).unwrap_or_default(),
            m.attempts.len() + usize::from(m.outcome == "applied")
        );
    }
    for x in &r.refusals {
        let _ = writeln!(
            o,
            "\n- refused `{}`: {} **{}** ({}:{})",
            x.version, x.verdict, x.rule, x.path, x.line
        );
    }
    for s in &r.runbook {
        let _ = writeln!(o, "- runbook: {s}");
    }
    o
}

/// The tools table of `docs/status-apply.md`, from each tool's spec (a test keeps the page equal
/// to it).
pub fn tools_reference(refs: &[crate::history::ToolReference]) -> String {
    use crate::history::OutOfOrder;
    let mut o = String::from(
        "| tool (layout) | history table: PostgreSQL / MySQL / SQLite | checksum | in-progress or failed mark | lock: PostgreSQL / MySQL / SQLite (database `app`) | older unapplied migration |\n|---|---|---|---|---|---|\n",
    );
    for r in refs {
        let locks: Vec<String> = r
            .locks
            .iter()
            .map(|l| match l {
                Some(l) => format!("`{l}`"),
                None => "migsafe's".to_string(),
            })
            .collect();
        let ooo = match r.out_of_order {
            OutOfOrder::Runs => "applied",
            OutOfOrder::Refuses => "refused until allowed",
            OutOfOrder::Skips => "never applied",
        };
        let _ = writeln!(
            o,
            "| {} (`{}`) | `{}` / `{}` / `{}` | {} | {} | {} | {} |",
            r.tool,
            r.layout.as_str(),
            r.tables[0],
            r.tables[1],
            r.tables[2],
            r.checksum,
            r.mark,
            locks.join(" / "),
            ooo
        );
    }
    o.push_str("\nThe repair each tool's failed or dirty state needs, as `status` prints it:\n\n");
    for r in refs {
        let _ = writeln!(o, "- **{}**: {}", r.tool, r.repair);
    }
    o
}
