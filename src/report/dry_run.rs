//! Dry-run renderers: human (per file: statements with timing, locks and rewrites; the schema
//! diff; findings; the down check), JSON (schema_version 1, docs/dry-run.md) and Markdown for PR
//! comments. They only format: every decision was made by `crate::dry_run`.

use super::markdown::{
    Budget, COMMENT_BUDGET, GITHUB_COMMENT_LIMIT, cell, code, text, verdict_icon,
};
use super::style::{Style, plural};
use crate::dry_run::diff::{Action, Change, ColumnMove};
use crate::dry_run::model::*;
use crate::dry_run::vendor::{ServerMismatch, StatementRef};
use crate::model::Verdict;
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

/// `the migrations target mysql 8.0, but the dry-run server is MariaDB 10.11: …`.
fn mismatch_line(r: &DryRunReport, m: &ServerMismatch) -> String {
    let tail = if m.differences.is_empty() {
        "none of the known differences between them applies to this run's statements".to_string()
    } else {
        format!(
            "{} known difference(s) apply to this run's statements, so production can behave otherwise",
            m.differences.len()
        )
    };
    format!(
        "the migrations target {} but the dry-run server is {}: {tail}",
        r.target, r.server
    )
}

/// `db/1.sql:3, db/2.sql:7 and 4 more`.
fn statement_refs(refs: &[StatementRef], max: usize) -> String {
    let mut s = refs
        .iter()
        .take(max)
        .map(|r| format!("{}:{}", r.path, r.line))
        .collect::<Vec<_>>()
        .join(", ");
    if refs.len() > max {
        let _ = write!(s, " and {} more", refs.len() - max);
    }
    s
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
        "{} {} · target {} · {} database ready in {}{template}",
        st.bold("migsafe dry-run:"),
        r.server,
        r.target,
        r.database.kind,
        fmt_ms(r.database.startup_ms)
    );
    if let Some(src) = &r.source {
        let _ = writeln!(out, "  started from {} ({})", src, r.mode);
    }
    for w in &r.warnings {
        let _ = writeln!(out, "  {} {w}", st.paint("33", "warning:"));
    }
    if let Some(m) = &r.server_mismatch {
        let _ = writeln!(
            out,
            "  {} {}",
            st.paint("1;33", "server mismatch:"),
            mismatch_line(r, m)
        );
        for d in &m.differences {
            let _ = writeln!(
                out,
                "    {}  {}",
                st.bold(d.topic),
                statement_refs(&d.statements, 5)
            );
            let _ = writeln!(out, "      {}", d.message);
            let _ = writeln!(out, "      {}", st.dim(&d.references.join("  ")));
        }
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
                (Some(d), Some(n)) if n > 0 => {
                    format!("{:>9}  {}", fmt_ms(d), plural(n, "row", "rows"))
                }
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
                    "  {} {} {} took effect before the failure and {} applied",
                    st.paint("1;33", "partial:"),
                    if kept.len() == 1 {
                        "the statement at line"
                    } else {
                        "the statements at lines"
                    },
                    kept.join(", "),
                    if kept.len() == 1 { "stays" } else { "stay" }
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
        "{} {}: {} new, {} applied, {} failed, {} skipped, {} setup{} · {} in {}",
        st.bold("Summary:"),
        plural(s.migrations, "migration", "migrations"),
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
        plural(s.statements, "statement", "statements"),
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

/// The marker CI looks for to update its dry-run comment instead of adding one per push.
pub const DRY_RUN_MARKER: &str = "<!-- migsafe:dry-run -->";

/// Down-check differences shown per migration in the comment.
const MD_DIFFERENCES: usize = 8;

/// Why the run failed, in words (`None`: it passed).
fn failure_reason(r: &DryRunReport) -> Option<String> {
    let s = &r.summary;
    if r.passed {
        None
    } else if s.failed > 0 {
        Some("a migration failed".into())
    } else if s.irreversible > 0 {
        Some("a down migration does not restore the schema".into())
    } else {
        Some(format!("verdict at or above `--fail-on {}`", r.fail_on))
    }
}

/// The comment's first lines: the verdict's own icon (never a check mark: a run passes with a
/// destructive verdict when `--fail-on` is `never`), then whether the run passed and why not.
fn md_header(r: &DryRunReport) -> String {
    let result = match failure_reason(r) {
        Some(why) => format!("❌ **failed**: {why}"),
        None => format!("passed (`--fail-on {}`)", r.fail_on),
    };
    let mut out = format!(
        "{DRY_RUN_MARKER}\n### {} migsafe dry-run: **{}** · {result}\n\n",
        verdict_icon(r.verdict),
        r.verdict
    );
    let s = &r.summary;
    let _ = writeln!(
        out,
        "{} (target {}) · {} new migration(s): {} applied, {} failed, {} skipped{} · static verdict {} · {} finding(s) found by execution{} · {:.2} s\n",
        text(&r.server),
        text(&r.target),
        s.new,
        s.applied,
        s.failed,
        s.skipped,
        if s.setup > 0 {
            format!(", {} applied first as setup", s.setup)
        } else {
            String::new()
        },
        r.static_verdict,
        s.found_by_execution,
        if r.check_down {
            format!(" · {} irreversible", s.irreversible)
        } else {
            String::new()
        },
        s.duration_ms / 1000.0
    );
    out
}

/// Worth a reviewer's attention: failed, a failed down check, or risky and worse.
fn needs_attention(m: &MigrationRun) -> bool {
    m.status == Status::Failed
        || m.down_check.as_ref().is_some_and(|d| d.status.fails())
        || m.verdict.gate_rank() >= Verdict::Risky.gate_rank()
}

/// Failed first, then failed down checks, then worst verdict; file order within each.
fn attention_rank(m: &MigrationRun) -> (u8, u8, u8) {
    (
        u8::from(m.status != Status::Failed),
        u8::from(!m.down_check.as_ref().is_some_and(|d| d.status.fails())),
        u8::MAX - m.verdict.rank(),
    )
}

/// Lines of a group, clipped: `3, 4, 5, …`.
fn line_list(lines: &[usize]) -> String {
    const SHOWN: usize = 6;
    let mut out: Vec<String> = lines.iter().take(SHOWN).map(|l| l.to_string()).collect();
    if lines.len() > SHOWN {
        out.push("…".into());
    }
    out.join(", ")
}

/// Findings of one rule in one file (dynamic and static ones apart).
struct Group<'a> {
    verdict: Verdict,
    rule: &'a str,
    line: usize,
    message: &'a str,
    /// The other findings' lines.
    more: Vec<usize>,
    is_static: bool,
    found_by_execution: bool,
}

/// Adds a finding to its rule's group (a new group for the first one).
fn group<'a>(groups: &mut Vec<Group<'a>>, g: Group<'a>) {
    match groups
        .iter_mut()
        .find(|x| x.rule == g.rule && x.is_static == g.is_static)
    {
        Some(x) => {
            x.more.push(g.line);
            x.verdict = x.verdict.worst(g.verdict);
            x.found_by_execution |= g.found_by_execution;
        }
        None => groups.push(g),
    }
}

/// One migration's details, compact enough for a hundred of them: its errors, one line per
/// rule (dynamic findings, then the static ones that gate) with the first message and the
/// lines of the others, one line per blocking lock, and the down check. Returns the block and
/// how many findings it covers.
fn md_migration(m: &MigrationRun) -> (String, usize) {
    let mut b = format!(
        "**{} {}** — {} · {}{}\n",
        verdict_icon(m.verdict),
        code(&m.path),
        m.verdict,
        m.status.as_str(),
        if m.new { "" } else { " (setup)" }
    );
    for s in &m.statements {
        if let Some(e) = &s.error {
            let _ = writeln!(b, "- ❌ {}", code(&error_line(e)));
        }
    }
    let mut groups: Vec<Group> = Vec::new();
    for f in &m.findings {
        group(
            &mut groups,
            Group {
                verdict: f.verdict,
                rule: f.rule,
                line: f.line,
                message: &f.message,
                more: Vec::new(),
                is_static: false,
                found_by_execution: f.found_by_execution,
            },
        );
    }
    for f in m
        .static_findings
        .iter()
        .filter(|f| !f.suppressed && f.verdict.gate_rank() >= Verdict::Risky.gate_rank())
    {
        group(
            &mut groups,
            Group {
                verdict: f.verdict,
                rule: &f.rule,
                line: f.line,
                message: &f.message,
                more: Vec::new(),
                is_static: true,
                found_by_execution: false,
            },
        );
    }
    groups.sort_by_key(|g| u8::MAX - g.verdict.rank());
    for g in &mut groups {
        g.more.sort_unstable();
    }
    let mut findings = 0usize;
    for g in &groups {
        findings += 1 + g.more.len();
        let others = if g.more.is_empty() {
            String::new()
        } else {
            format!(
                " — and {} more at line {}",
                g.more.len(),
                line_list(&g.more)
            )
        };
        let tag = if g.is_static {
            " _(static)_"
        } else if g.found_by_execution {
            " **(found by execution)**"
        } else {
            ""
        };
        let _ = writeln!(
            b,
            "- **{}** {} line {}: {}{tag}{others}",
            g.verdict,
            code(g.rule),
            g.line,
            text(&one_line(g.message, 200))
        );
    }
    let mut locks: Vec<(&str, &str, &str, Vec<usize>)> = Vec::new();
    for s in &m.statements {
        for l in s.locks.iter().filter(|l| l.blocks_reads || l.blocks_writes) {
            match locks
                .iter_mut()
                .find(|(mode, object, _, _)| *mode == l.mode && *object == l.object)
            {
                Some(x) => x.3.push(s.line),
                None => locks.push((&l.mode, &l.object, &l.blocks, vec![s.line])),
            }
        }
    }
    for (mode, object, blocks, lines) in &locks {
        let _ = writeln!(
            b,
            "- {} on {} blocks {} (line {})",
            code(mode),
            code(object),
            text(blocks),
            line_list(lines)
        );
    }
    if let Some(d) = &m.down_check
        && d.status.fails()
    {
        let _ = writeln!(b, "- down check: **{}**", d.status.as_str());
        if let Some(e) = &d.error {
            let _ = writeln!(b, "  - ❌ {}", code(&error_line(e)));
        }
        let diffs: Vec<&Change> = d.differences.iter().chain(&d.reapply_differences).collect();
        for c in diffs.iter().take(MD_DIFFERENCES) {
            let (sign, line) = change_line(c);
            let _ = writeln!(b, "  - {} {}", code(&sign.to_string()), text(&line));
        }
        if diffs.len() > MD_DIFFERENCES {
            let _ = writeln!(b, "  - … {} more differences", diffs.len() - MD_DIFFERENCES);
        }
    }
    b.push('\n');
    (b, findings)
}

fn md_row(m: &MigrationRun) -> String {
    let changes: Vec<String> = m
        .schema_diff
        .iter()
        .map(|c| format!("{} {} {}", c.action.as_str(), c.object.as_str(), c.name))
        .collect();
    let shown = if changes.len() > 3 {
        format!("{} (+{} more)", changes[..3].join(", "), changes.len() - 3)
    } else {
        changes.join(", ")
    };
    format!(
        "| {} | {} | {} {} | {} | {} | {} |\n",
        code(&m.path),
        m.status.as_str(),
        verdict_icon(m.verdict),
        m.verdict,
        m.static_verdict,
        cell(&fmt_ms(m.duration_ms)),
        cell(&one_line(&shown, 160))
    )
}

/// A PR comment, always under [`COMMENT_BUDGET`] bytes (so under GitHub's 65,536-character
/// limit): the header and warnings, the migrations that need attention (worst first, with their
/// errors, findings, blocking locks and down check), then the table of every migration; what
/// does not fit is counted in a closing line that points to the job log.
pub fn markdown(r: &DryRunReport) -> String {
    markdown_with_budget(r, COMMENT_BUDGET)
}

/// [`markdown`] against any budget (tests use small ones).
pub fn markdown_with_budget(r: &DryRunReport, limit: usize) -> String {
    const NOTE_RESERVE: usize = 400;
    let mut doc = Budget::new(limit, NOTE_RESERVE);
    doc.push_always(&md_header(r));
    let mut warnings_left = 0usize;
    let mut mismatch_left = false;
    for w in &r.warnings {
        if !doc.push_leaving(&format!("> ⚠️ {}\n", text(w)), 2_000) {
            warnings_left += 1;
        }
    }
    if !r.warnings.is_empty() {
        doc.push_always("\n");
    }
    if let Some(m) = &r.server_mismatch {
        let mut b = format!("> ⚠️ **server mismatch**: {}\n", text(&mismatch_line(r, m)));
        for d in &m.differences {
            let _ = writeln!(
                b,
                "> - {} ({}): {}",
                code(d.topic),
                text(&statement_refs(&d.statements, 3)),
                text(&d.message)
            );
        }
        b.push('\n');
        mismatch_left = !doc.push_leaving(&b, 2_000);
    }

    // the migrations shown: the new ones, and a setup one that failed
    let shown: Vec<&MigrationRun> = r
        .migrations
        .iter()
        .filter(|m| m.new || m.status == Status::Failed)
        .collect();
    let mut attention: Vec<&MigrationRun> = shown
        .iter()
        .copied()
        .filter(|m| needs_attention(m))
        .collect();
    attention.sort_by_key(|m| attention_rank(m));
    let (mut findings_shown, mut total_findings) = (0usize, 0usize);
    let mut details_left = 0usize;
    // room is kept for the table (a third of the comment at most)
    let table_room = (shown.len() * 220 + 300).min(limit / 3);
    if !attention.is_empty() {
        doc.push("#### Needs attention\n\n");
    }
    for m in &attention {
        let (block, n) = md_migration(m);
        total_findings += n;
        if doc.push_leaving(&block, table_room) {
            findings_shown += n;
        } else {
            details_left += 1;
        }
    }

    let mut rows_left = 0usize;
    if !shown.is_empty() {
        let collapse = shown.len() > 20;
        let open = if collapse {
            format!(
                "<details><summary>All {} migrations</summary>\n\n",
                shown.len()
            )
        } else {
            String::new()
        };
        let close = if collapse { "\n</details>\n\n" } else { "\n" };
        let head = "| migration | status | verdict | static | time | schema changes |\n|---|---|---|---|---:|---|\n";
        if doc.fits(open.len() + head.len() + close.len() + 200) {
            doc.push_always(&open);
            doc.push_always(head);
            for m in &shown {
                // keep room to close the section
                if !(doc.fits(close.len() + 200) && doc.push(&md_row(m))) {
                    rows_left += 1;
                }
            }
            doc.push_always(close);
        } else {
            rows_left = shown.len();
        }
    }

    let findings_left = total_findings.saturating_sub(findings_shown);
    let mut parts = Vec::new();
    if details_left > 0 {
        parts.push(plural(
            details_left,
            "more migration that needs attention",
            "more migrations that need attention",
        ));
    }
    if findings_left > 0 {
        parts.push(plural(findings_left, "more finding", "more findings"));
    }
    if rows_left > 0 {
        parts.push(plural(rows_left, "more table row", "more table rows"));
    }
    if warnings_left > 0 {
        parts.push(plural(warnings_left, "more warning", "more warnings"));
    }
    if mismatch_left {
        parts.push("the server mismatch details".into());
    }
    let note = if parts.is_empty() {
        String::new()
    } else {
        format!(
            "_{} not shown: this comment is kept under GitHub's {GITHUB_COMMENT_LIMIT} character limit; see the job log (`migsafe dry-run`) or `--format json` for everything._\n",
            parts.join(", ")
        )
    };
    doc.finish(&note)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dry_run::diff::{Action, ObjectType};
    use crate::model::{Category, Finding, Severity, Tool};

    fn static_finding(rule: &str, line: usize) -> Finding {
        Finding {
            rule: rule.into(),
            category: Category::Destructive,
            severity: Severity::Error,
            verdict: Verdict::Destructive,
            statement_index: line - 1,
            line,
            column: 1,
            end_line: line,
            end_column: 30,
            byte_start: 0,
            byte_end: 0,
            message: format!("drops column `c{line}` of `t` and all its values <b> | pipe"),
            why: "",
            safer: "",
            suppressed: false,
            suppression_reason: None,
        }
    }

    fn run(i: usize, findings: usize, status: Status, verdict: Verdict) -> MigrationRun {
        MigrationRun {
            path: format!("db/migrations/{i:04}_step_with_a_long_descriptive_name.sql"),
            version: i.to_string(),
            description: "step".into(),
            layout: "sqlx",
            transaction: true,
            new: true,
            status,
            duration_ms: 12.5,
            verdict,
            static_verdict: verdict,
            dynamic_verdict: verdict,
            statements: Vec::new(),
            schema_diff: (0..findings)
                .map(|j| Change {
                    object: ObjectType::Column,
                    name: format!("public.t{i}.c{j}"),
                    action: Action::Dropped,
                    before: Some("text".into()),
                    after: None,
                    fields: Vec::new(),
                })
                .collect(),
            findings: (0..findings)
                .map(|j| DynamicFinding {
                    rule: if j % 3 == 0 {
                        "dropped-column"
                    } else if j % 3 == 1 {
                        "access-exclusive-lock"
                    } else {
                        "table-rewrite"
                    },
                    verdict: if j % 3 == 0 {
                        Verdict::Destructive
                    } else {
                        Verdict::Risky
                    },
                    statement_index: Some(j),
                    line: j + 1,
                    object: format!("public.t{i}.c{j}"),
                    message: format!(
                        "column public.t{i}.c{j} was dropped: its values are gone `x` <y>"
                    ),
                    found_by_execution: j % 7 == 0,
                })
                .collect(),
            static_findings: (0..findings)
                .map(|j| static_finding(&format!("rule-{}", j % 5), j + 1))
                .collect(),
            foreign_key_violations: Vec::new(),
            notes: Vec::new(),
            down_check: None,
        }
    }

    fn report(runs: Vec<MigrationRun>, passed: bool) -> DryRunReport {
        let verdict = runs.iter().fold(Verdict::Safe, |v, r| v.worst(r.verdict));
        let failed = runs.iter().filter(|r| r.status == Status::Failed).count();
        DryRunReport {
            schema_version: 1,
            tool: Tool::default(),
            engine: "postgres",
            server_version: "15.8".into(),
            server: "PostgreSQL 15".into(),
            target: "postgres".into(),
            server_mismatch: None,
            database: DatabaseInfo {
                kind: "ephemeral",
                url: None,
                startup_ms: 100.0,
                template: None,
            },
            mode: "scratch",
            source: None,
            seed_rows: None,
            seeded: Vec::new(),
            check_down: false,
            target_version: None,
            warnings: (0..30)
                .map(|i| format!("warning {i} <with> | markup"))
                .collect(),
            verdict,
            static_verdict: verdict,
            fail_on: "never",
            passed,
            summary: RunSummary {
                migrations: runs.len(),
                new: runs.len(),
                applied: runs.len() - failed,
                failed,
                ..RunSummary::default()
            },
            migrations: runs,
        }
    }

    fn header(md: &str) -> &str {
        md.lines().nth(1).unwrap()
    }

    /// Whatever the budget, the comment stays under it, closes what it opens, and counts what
    /// it left out; the header never shows a check mark above a destructive verdict.
    #[test]
    fn every_budget_holds_and_the_header_tells_the_truth() {
        let runs: Vec<MigrationRun> = (0..150)
            .map(|i| run(i, 40, Status::Applied, Verdict::Destructive))
            .collect();
        let r = report(runs, true);
        let unlimited = markdown_with_budget(&r, usize::MAX / 2);
        assert!(
            unlimited.len() > GITHUB_COMMENT_LIMIT,
            "the run must not fit: {}",
            unlimited.len()
        );
        for limit in [3_000, 8_000, 20_000, COMMENT_BUDGET] {
            let md = markdown_with_budget(&r, limit);
            assert!(md.len() <= limit, "{} > {limit}", md.len());
            assert!(md.starts_with(DRY_RUN_MARKER), "{limit}");
            assert!(!md.contains('✅'), "{limit}");
            assert!(
                header(&md).starts_with("### 🔴 migsafe dry-run: **destructive** · passed"),
                "{limit}: {}",
                header(&md)
            );
            assert_eq!(
                md.matches("<details>").count(),
                md.matches("</details>").count(),
                "{limit}"
            );
            let last = md.trim_end().lines().last().unwrap();
            assert!(
                last.contains("not shown") && last.contains("see the job log"),
                "{limit}: {last}"
            );
            assert!(
                last.contains("more migrations that need attention"),
                "{limit}: {last}"
            );
        }
        let md = markdown(&r);
        assert!(md.chars().count() <= GITHUB_COMMENT_LIMIT);
        // the comment shows most of the files' summaries, not a handful of long ones
        assert!(md.matches("**🔴 `db/migrations/").count() >= 20, "{md}");
        assert!(md.matches("| `db/migrations/").count() >= 60, "{md}");
    }

    #[test]
    fn a_failed_run_shows_a_cross_and_why_and_a_clean_one_says_everything() {
        let mut runs = vec![
            run(1, 2, Status::Applied, Verdict::Caution),
            run(2, 2, Status::Failed, Verdict::Risky),
        ];
        runs[0].findings.clear();
        runs[0].static_findings.clear();
        let md = markdown(&report(runs, false));
        assert!(
            header(&md).starts_with(
                "### 🟠 migsafe dry-run: **risky** · ❌ **failed**: a migration failed"
            ),
            "{}",
            header(&md)
        );
        assert!(!md.contains('✅'));
        // small: everything shown, no truncation note, the table open
        assert!(!md.contains("not shown"), "{md}");
        assert!(md.contains("| `db/migrations/0001_step_with_a_long_descriptive_name.sql` | applied | 🟡 caution |"), "{md}");
        // grouped: one line per rule, the others' lines listed
        assert!(
            md.contains("- **destructive** `rule-0` line 1: drops column `c1` of `t` and all its values &lt;b&gt; | pipe _(static)_"),
            "{md}"
        );
        let safe = report(vec![run(3, 0, Status::Applied, Verdict::Safe)], true);
        assert!(
            header(&markdown(&safe)).starts_with("### 🟢 migsafe dry-run: **safe** · passed"),
            "{}",
            markdown(&safe)
        );
    }
}
