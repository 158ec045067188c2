//! Dry-run renderers: human (per file: statements with timing, locks and rewrites; the schema
//! diff; findings; the down check), JSON (schema_version 1, docs/dry-run.md) and Markdown for PR
//! comments. They only format: every decision was made by `crate::dry_run`.

use super::style::Style;
use crate::dry_run::diff::{Action, Change, ColumnMove};
use crate::dry_run::model::*;
use std::fmt::Write;

const SQL_CHARS: usize = 72;

/// One line of SQL, whitespace collapsed, clipped.
fn one_line(sql: &str, max: usize) -> String {
    let flat = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

fn fmt_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else {
        format!("{v:.1} ms")
    }
}

fn change_line(c: &Change) -> (char, String) {
    let sign = match c.action {
        Action::Added => '+',
        Action::Dropped => '-',
        Action::Changed => '~',
        Action::Renamed => '>',
    };
    let detail = match c.action {
        Action::Added => c.after.clone().unwrap_or_default(),
        Action::Dropped => c.before.clone().unwrap_or_default(),
        Action::Renamed => format!("renamed from {}", c.before.as_deref().unwrap_or("?")),
        Action::Changed => c
            .fields
            .iter()
            .map(|f| format!("{} {} → {}", f.field, f.before, f.after))
            .collect::<Vec<_>>()
            .join("; "),
    };
    (
        sign,
        format!(
            "{} {}  {}",
            c.object.as_str(),
            c.name,
            one_line(&detail, 110)
        ),
    )
}

/// A column that came back in another place (`down`: before up vs after down; `reapply`:
/// first vs second up).
fn move_note(m: &ColumnMove, reapply: bool) -> String {
    format!(
        "{} {}.{} as column {} (was {}): same name and definition, so the schema is restored; only `SELECT *` and INSERT without a column list see the new order",
        if reapply {
            "the second up put"
        } else {
            "down put back"
        },
        m.table,
        m.column,
        m.after,
        m.before
    )
}

fn error_line(e: &SqlError) -> String {
    let code = match (&e.sqlstate, e.code) {
        (Some(s), Some(n)) => format!("{s} ({n})"),
        (Some(s), None) => s.clone(),
        (None, Some(n)) => n.to_string(),
        (None, None) => "error".into(),
    };
    format!(
        "{}:{}:{}: ERROR {code}: {}",
        e.file, e.line, e.column, e.message
    )
}

pub fn human(r: &DryRunReport, color: bool) -> String {
    let st = Style::new(color);
    let mut out = String::new();
    let template = match &r.database.template {
        Some(t) if t.hit => format!(
            ", from a cached template with {} setup migration(s)",
            t.migrations
        ),
        Some(t) if t.saved => ", template stored for the next run".to_string(),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "{} {} {} · {} database ready in {}{template}",
        st.bold("migsafe dry-run:"),
        r.engine,
        r.server_version.split_whitespace().next().unwrap_or(""),
        r.database.kind,
        fmt_ms(r.database.startup_ms)
    );
    if let Some(src) = &r.source {
        let _ = writeln!(out, "  started from {} ({})", src, r.mode);
    }
    for w in &r.warnings {
        let _ = writeln!(out, "  {} {w}", st.paint("33", "warning:"));
    }
    for m in &r.migrations {
        let _ = writeln!(out);
        let head = match m.status {
            Status::Failed => st.red("FAILED"),
            Status::Skipped => st.dim("skipped"),
            Status::Applied => st.green("applied"),
        };
        let tx = if m.transaction {
            "transaction"
        } else {
            "no transaction"
        };
        let verdicts = if m.verdict != m.static_verdict {
            format!(
                "{} (static {})",
                st.verdict(m.verdict),
                m.static_verdict.as_str()
            )
        } else {
            st.verdict(m.verdict)
        };
        let setup = if m.new { "" } else { " [setup]" };
        let _ = writeln!(
            out,
            "{} {}{setup}  {verdicts}  {head} in {}, {tx}",
            st.bold("==="),
            st.bold(&m.path),
            fmt_ms(m.duration_ms)
        );
        for s in &m.statements {
            let timing = match (s.duration_ms, s.rows_affected) {
                (Some(d), Some(n)) if n > 0 => format!("{:>9}  {n} rows", fmt_ms(d)),
                (Some(d), _) => format!("{:>9}", fmt_ms(d)),
                _ => format!("{:>9}", "not run"),
            };
            let mark = match s.status {
                StmtStatus::Failed => st.red("✗"),
                StmtStatus::Ok => st.green("✓"),
                StmtStatus::NotRun => st.dim("·"),
            };
            let _ = writeln!(
                out,
                "  {mark} line {:<4} {}  {}",
                s.line,
                timing,
                st.dim(&one_line(&s.sql, SQL_CHARS))
            );
            for l in &s.locks {
                if l.blocks_reads || l.blocks_writes {
                    let _ = writeln!(
                        out,
                        "      lock {} on {} {}: blocks {}",
                        st.bold(&l.mode),
                        l.object_kind,
                        l.object,
                        l.blocks
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "      {}",
                        st.dim(&format!(
                            "lock {} on {} {}",
                            l.mode, l.object_kind, l.object
                        ))
                    );
                }
            }
            for w in &s.rewrites {
                let _ = writeln!(
                    out,
                    "      {} {} {}",
                    st.paint("1;33", "rewrote"),
                    w.object_kind,
                    w.object
                );
            }
            if let Some(e) = &s.error {
                let _ = writeln!(out, "      {}", st.red(&error_line(e)));
                if let Some(d) = &e.detail {
                    let _ = writeln!(out, "      detail: {d}");
                }
                if let Some(h) = &e.hint {
                    let _ = writeln!(out, "      hint: {h}");
                }
            }
        }
        if m.status == Status::Failed {
            let kept: Vec<String> = m
                .statements
                .iter()
                .filter(|s| s.took_effect == Some(true))
                .map(|s| s.line.to_string())
                .collect();
            if kept.is_empty() {
                let _ = writeln!(out, "  nothing from this file took effect (rolled back)");
            } else {
                let _ = writeln!(
                    out,
                    "  {} statements at line(s) {} took effect before the failure and stay applied",
                    st.paint("1;33", "partial:"),
                    kept.join(", ")
                );
            }
        }
        if !m.schema_diff.is_empty() {
            let _ = writeln!(out, "  schema:");
            for c in &m.schema_diff {
                let (sign, text) = change_line(c);
                let _ = writeln!(out, "    {sign} {text}");
            }
        }
        if !m.foreign_key_violations.is_empty() {
            let _ = writeln!(
                out,
                "  {} {} row(s) violate foreign keys",
                st.red("foreign_key_check:"),
                m.foreign_key_violations.len()
            );
        }
        let shown: Vec<_> = m.static_findings.iter().filter(|f| !f.suppressed).collect();
        if !m.findings.is_empty() || !shown.is_empty() {
            let _ = writeln!(out, "  findings:");
            for f in &m.findings {
                let tag = if f.found_by_execution {
                    format!("  {}", st.paint("1;35", "[found by execution]"))
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "    {:<11} {} line {}: {}{tag}",
                    st.verdict(f.verdict),
                    f.rule,
                    f.line,
                    f.message
                );
            }
            for f in shown {
                let _ = writeln!(
                    out,
                    "    {:<11} {} line {}: {} {}",
                    st.verdict(f.verdict),
                    f.rule,
                    f.line,
                    f.message,
                    st.dim("[static]")
                );
            }
        }
        if let Some(d) = &m.down_check {
            let status = match d.status {
                DownStatus::Reversible => st.green("reversible"),
                DownStatus::NoDown => st.dim("no down migration"),
                other => st.red(other.as_str()),
            };
            let _ = writeln!(out, "  down check: {status}");
            if let Some(e) = &d.error {
                let _ = writeln!(out, "      {}", st.red(&error_line(e)));
            }
            for c in &d.differences {
                let (sign, text) = change_line(c);
                let _ = writeln!(out, "    before up vs after down: {sign} {text}");
            }
            for c in &d.reapply_differences {
                let (sign, text) = change_line(c);
                let _ = writeln!(out, "    first vs second up: {sign} {text}");
            }
            for (mv, reapply) in d
                .moved_columns
                .iter()
                .map(|m| (m, false))
                .chain(d.reapply_moved_columns.iter().map(|m| (m, true)))
            {
                let _ = writeln!(
                    out,
                    "    {}",
                    st.dim(&format!("note: {}", move_note(mv, reapply)))
                );
            }
        }
        for n in &m.notes {
            let _ = writeln!(out, "  {}", st.dim(&format!("note: {n}")));
        }
    }
    let s = &r.summary;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{} {} migrations: {} new, {} applied, {} failed, {} skipped, {} setup{} · {} statements in {}",
        st.bold("Summary:"),
        s.migrations,
        s.new,
        s.applied,
        s.failed,
        s.skipped,
        s.setup,
        if s.already_applied > 0 {
            format!(", {} already applied", s.already_applied)
        } else {
            String::new()
        },
        s.statements,
        fmt_ms(s.duration_ms)
    );
    let _ = writeln!(
        out,
        "Verdict: {} (static {}){}{}",
        st.verdict(r.verdict),
        r.static_verdict.as_str(),
        if s.found_by_execution > 0 {
            format!(" · {} found by execution", s.found_by_execution)
        } else {
            String::new()
        },
        if r.check_down {
            format!(" · {} irreversible", s.irreversible)
        } else {
            String::new()
        }
    );
    let result = if r.passed {
        st.green("passed")
    } else if s.failed > 0 {
        st.red("FAILED: a migration failed")
    } else if s.irreversible > 0 {
        st.red("FAILED: a down migration does not restore the schema")
    } else {
        st.red(&format!(
            "FAILED: verdict at or above --fail-on {}",
            r.fail_on
        ))
    };
    let _ = writeln!(out, "Result: {result}");
    out
}

pub fn json(r: &DryRunReport) -> String {
    let mut s =
        serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A PR comment: a summary table, then details only where there is something to see.
pub fn markdown(r: &DryRunReport) -> String {
    let mut out = String::new();
    let icon = if r.passed { "✅" } else { "❌" };
    let _ = writeln!(
        out,
        "### {icon} migsafe dry-run: {} ({} {})\n",
        r.verdict.as_str(),
        r.engine,
        r.server_version.split_whitespace().next().unwrap_or("")
    );
    let s = &r.summary;
    let _ = writeln!(
        out,
        "{} new migration(s): {} applied, {} failed, {} skipped · static verdict {} · {} finding(s) found by execution · {:.2} s\n",
        s.new,
        s.applied,
        s.failed,
        s.skipped,
        r.static_verdict.as_str(),
        s.found_by_execution,
        s.duration_ms / 1000.0
    );
    for w in &r.warnings {
        let _ = writeln!(out, "> ⚠️ {}", md_escape(w));
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "| migration | status | verdict | static | time | schema changes |"
    );
    let _ = writeln!(out, "|---|---|---|---|---:|---|");
    for m in r.migrations.iter() {
        let changes = m
            .schema_diff
            .iter()
            .map(|c| format!("{} {} {}", c.action.as_str(), c.object.as_str(), c.name))
            .collect::<Vec<_>>();
        let shown = if changes.len() > 4 {
            format!("{} (+{} more)", changes[..4].join(", "), changes.len() - 4)
        } else {
            changes.join(", ")
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | **{}** | {} | {:.1} ms | {} |",
            md_escape(&m.path),
            m.status.as_str(),
            m.verdict.as_str(),
            m.static_verdict.as_str(),
            m.duration_ms,
            md_escape(&shown)
        );
    }
    for m in &r.migrations {
        let failed: Vec<&StatementRun> =
            m.statements.iter().filter(|s| s.error.is_some()).collect();
        let blocking: Vec<(&StatementRun, &LockTaken)> = m
            .statements
            .iter()
            .flat_map(|s| {
                s.locks
                    .iter()
                    .filter(|l| l.blocks_reads || l.blocks_writes)
                    .map(move |l| (s, l))
            })
            .collect();
        if failed.is_empty()
            && m.findings.is_empty()
            && blocking.is_empty()
            && m.down_check.as_ref().is_none_or(|d| !d.status.fails())
        {
            continue;
        }
        let _ = writeln!(
            out,
            "\n<details><summary><code>{}</code>: {}</summary>\n",
            md_escape(&m.path),
            m.verdict.as_str()
        );
        for s in failed {
            if let Some(e) = &s.error {
                let _ = writeln!(out, "- ❌ line {}: `{}`", e.line, md_escape(&error_line(e)));
            }
        }
        for f in &m.findings {
            let tag = if f.found_by_execution {
                " **(found by execution)**"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "- **{}** `{}` line {}: {}{tag}",
                f.verdict.as_str(),
                f.rule,
                f.line,
                md_escape(&f.message)
            );
        }
        for (s, l) in blocking {
            let _ = writeln!(
                out,
                "- line {}: `{}` on `{}` blocks {}",
                s.line,
                l.mode,
                l.object,
                md_escape(&l.blocks)
            );
        }
        if let Some(d) = &m.down_check
            && d.status.fails()
        {
            let _ = writeln!(out, "- down check: **{}**", d.status.as_str());
            for c in &d.differences {
                let (sign, text) = change_line(c);
                let _ = writeln!(out, "  - `{sign}` {}", md_escape(&text));
            }
        }
        let _ = writeln!(out, "\n</details>");
    }
    out
}
