//! Human output: per-migration verdicts, findings with caret excerpts, why and safer, summary.

use super::style::Style;
use crate::model::{Finding, MigrationReport, Report};
use std::fmt::Write;

const MAX_EXCERPT_LINES: usize = 4;
const MAX_LINE_CHARS: usize = 160;

fn clip(line: &str) -> (&str, bool) {
    match line.char_indices().nth(MAX_LINE_CHARS) {
        Some((i, _)) => (&line[..i], true),
        None => (line, false),
    }
}

/// The source lines a finding covers, with a caret line under the offending part.
fn excerpt(out: &mut String, m: &MigrationReport, f: &Finding, st: &Style) {
    let src = &m.source;
    if f.byte_start > src.len() || f.line == 0 {
        return;
    }
    let width = (f.line + MAX_EXCERPT_LINES).to_string().len();
    let pad = " ".repeat(width);
    let _ = writeln!(out, "{pad} {}", st.dim("|"));
    let lines: Vec<&str> = src
        .lines()
        .skip(f.line - 1)
        .take((f.end_line - f.line + 1).min(MAX_EXCERPT_LINES))
        .collect();
    for (i, line) in lines.iter().enumerate() {
        let n = f.line + i;
        let (shown, clipped) = clip(line);
        let _ = writeln!(
            out,
            "{:>width$} {} {}{}",
            n,
            st.dim("|"),
            shown,
            if clipped { " …" } else { "" }
        );
        let shown_chars = shown.chars().count();
        let from = if i == 0 {
            f.column.saturating_sub(1)
        } else {
            shown.len() - shown.trim_start().len()
        };
        let to = if n == f.end_line {
            f.end_column.saturating_sub(1)
        } else {
            shown_chars
        };
        let to = to.min(shown_chars).max(from + 1);
        if from < shown_chars || shown_chars == 0 {
            let caret = "^".repeat(to.saturating_sub(from).max(1));
            let _ = writeln!(
                out,
                "{pad} {} {}{}",
                st.dim("|"),
                " ".repeat(from),
                st.paint("1;31", &caret)
            );
        }
    }
    if f.end_line - f.line + 1 > MAX_EXCERPT_LINES {
        let _ = writeln!(out, "{pad} {} …", st.dim("|"));
    }
}

fn finding(out: &mut String, m: &MigrationReport, f: &Finding, st: &Style) {
    let label = if f.suppressed {
        st.dim("allowed")
    } else {
        st.severity(f.severity)
    };
    let _ = writeln!(out, "{}[{}]: {}", label, st.bold(&f.rule), f.message);
    let _ = writeln!(
        out,
        "  {} {}:{}:{}",
        st.dim("-->"),
        m.path,
        f.line,
        f.column
    );
    excerpt(out, m, f, st);
    if f.suppressed {
        let _ = writeln!(
            out,
            "  = allowed: {}",
            f.suppression_reason.as_deref().unwrap_or("")
        );
    } else {
        let _ = writeln!(out, "  = {} {}", st.bold("why:"), f.why);
        let _ = writeln!(out, "  = {} {}", st.bold("safer:"), f.safer);
    }
    out.push('\n');
}

pub fn render(report: &Report, color: bool) -> String {
    let st = Style::new(color);
    let mut out = String::new();
    for m in &report.migrations {
        let stmts = m.statements.len();
        let _ = writeln!(
            out,
            "{} {} {}",
            st.bold(&m.path),
            st.verdict(m.verdict),
            st.dim(&format!(
                "({stmts} statement{})",
                if stmts == 1 { "" } else { "s" }
            ))
        );
        if m.findings.is_empty() {
            continue;
        }
        out.push('\n');
        for f in &m.findings {
            finding(&mut out, m, f, &st);
        }
    }
    let s = &report.summary;
    let b = &s.by_verdict;
    let _ = writeln!(
        out,
        "{} migration{} ({} statement{}) checked: {} destructive, {} risky, {} unknown, {} caution, {} safe; {} finding{}, {} allowed",
        s.migrations,
        if s.migrations == 1 { "" } else { "s" },
        s.statements,
        if s.statements == 1 { "" } else { "s" },
        b.destructive,
        b.risky,
        b.unknown,
        b.caution,
        b.safe,
        s.findings,
        if s.findings == 1 { "" } else { "s" },
        s.suppressed
    );
    let gate = if report.passed {
        st.paint("1;32", "passed")
    } else {
        st.paint("1;31", "failed")
    };
    let _ = writeln!(
        out,
        "verdict: {}, release class: {}, gate (--fail-on {}): {}",
        st.verdict(report.verdict),
        st.bold(report.release_class.as_str()),
        report.fail_on,
        gate
    );
    out
}
