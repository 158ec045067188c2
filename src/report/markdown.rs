//! `--format markdown`: a pull-request comment. GitHub rejects comments over 65,536
//! characters, so the comment is built against a byte budget ([`Budget`]): the summary, the
//! per-rule table and the destructive/unknown/risky findings with their excerpts come first; the
//! other findings, the rules' why/safer and the skipped files follow in collapsed sections
//! while they fit; whatever does not fit is counted in a closing line that points to the job log
//! and the SARIF upload. The first line is a marker (`<!-- migsafe:check -->`) so CI can update
//! its previous comment instead of adding one per push.
//!
//! [`Budget`], [`fence`], [`text`], [`cell`] and [`verdict_icon`] are shared with other
//! commands' Markdown reports.

use super::style::plural;
use super::{Repo, attention, rule_tally};
use crate::model::{Finding, MigrationReport, Report, Verdict};
use std::fmt::Write;

/// GitHub's limit on an issue or pull-request comment, in characters.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;
/// What the renderers aim for, in bytes (a byte count is never below the character count),
/// with room left for a CI step that wraps the comment.
pub const COMMENT_BUDGET: usize = 60_000;
/// The marker CI looks for to update its comment.
pub const CHECK_MARKER: &str = "<!-- migsafe:check -->";

const MAX_EXCERPT_LINES: usize = 6;
const MAX_EXCERPT_CHARS: usize = 200;

/// A document that must stay under a byte limit. Blocks are added whole or not at all;
/// [`Budget::finish`] appends a closing note, for which room is always kept.
#[derive(Debug)]
pub struct Budget {
    out: String,
    limit: usize,
    /// Bytes kept free for the closing note.
    reserve: usize,
    /// Blocks that did not fit.
    omitted: usize,
}

impl Budget {
    /// `reserve` bytes of `limit` stay free for the note given to [`Budget::finish`].
    pub fn new(limit: usize, reserve: usize) -> Budget {
        Budget {
            out: String::new(),
            limit,
            reserve,
            omitted: 0,
        }
    }

    /// Bytes still free for blocks.
    pub fn remaining(&self) -> usize {
        self.limit
            .saturating_sub(self.reserve)
            .saturating_sub(self.out.len())
    }

    /// Whether `n` more bytes fit.
    pub fn fits(&self, n: usize) -> bool {
        n <= self.remaining()
    }

    /// Adds `block` when it fits; otherwise counts it as omitted and returns false.
    pub fn push(&mut self, block: &str) -> bool {
        if self.fits(block.len()) {
            self.out.push_str(block);
            true
        } else {
            self.omitted += 1;
            false
        }
    }

    /// Adds `block` when it fits with `leave` bytes still free afterwards (room kept for the
    /// sections that follow); otherwise counts it as omitted and returns false.
    pub fn push_leaving(&mut self, block: &str, leave: usize) -> bool {
        if self.fits(block.len() + leave) {
            self.out.push_str(block);
            true
        } else {
            self.omitted += 1;
            false
        }
    }

    /// Adds `block` whatever its size (for the few lines that must be there); the reserve
    /// absorbs it.
    pub fn push_always(&mut self, block: &str) {
        self.out.push_str(block);
    }

    /// How many blocks did not fit.
    pub fn omitted(&self) -> usize {
        self.omitted
    }

    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// The document with `note` appended (cut to the limit if a caller misjudged the reserve,
    /// so the limit holds whatever happens).
    pub fn finish(mut self, note: &str) -> String {
        self.out.push_str(note);
        if self.out.len() > self.limit {
            let mut cut = self.limit;
            while !self.out.is_char_boundary(cut) {
                cut -= 1;
            }
            self.out.truncate(cut);
        }
        self.out
    }
}

/// Escapes one line of text for Markdown: HTML-significant characters outside code spans
/// (inside them GitHub shows entities literally, so code spans are kept as written); line
/// breaks become spaces.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            let run = rest.len() - rest.trim_start_matches('`').len();
            let ticks = &rest[..run];
            let after = &rest[run..];
            // a code span ends at the next run of exactly as many backticks
            let mut search = 0;
            let mut end = None;
            while let Some(i) = after[search..].find(ticks) {
                let at = search + i;
                let len = after[at..].len() - after[at..].trim_start_matches('`').len();
                if len == run {
                    end = Some(at);
                    break;
                }
                search = at + len;
            }
            match end {
                Some(at) => {
                    out.push_str(ticks);
                    out.push_str(&after[..at].replace(['\n', '\r'], " "));
                    out.push_str(ticks);
                    rest = &after[at + run..];
                }
                None => {
                    out.push_str(ticks);
                    rest = after;
                }
            }
            continue;
        }
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Multi-line rule text (why/safer): lines indented by two spaces are SQL and become a code
/// block; the other lines are prose.
pub fn prose(s: &str) -> String {
    let mut out = String::new();
    let mut sql: Vec<&str> = Vec::new();
    let mut para: Vec<String> = Vec::new();
    let flush_para = |out: &mut String, para: &mut Vec<String>| {
        if !para.is_empty() {
            out.push_str(&para.join(" "));
            out.push_str("\n\n");
            para.clear();
        }
    };
    for line in s.lines() {
        if let Some(code) = line.strip_prefix("  ") {
            flush_para(&mut out, &mut para);
            sql.push(code);
        } else {
            if !sql.is_empty() {
                out.push_str(&fence("sql", &sql.join("\n")));
                out.push('\n');
                sql.clear();
            }
            if !line.trim().is_empty() {
                para.push(text(line));
            }
        }
    }
    if !sql.is_empty() {
        out.push_str(&fence("sql", &sql.join("\n")));
        out.push('\n');
    }
    flush_para(&mut out, &mut para);
    out
}

/// Escapes text for a table cell (also `|`).
pub fn cell(s: &str) -> String {
    text(s).replace('|', "\\|")
}

/// Inline code that survives backticks in `s`.
pub fn code(s: &str) -> String {
    let longest = longest_run(s, '`');
    let ticks = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{s}{pad}{ticks}")
}

fn longest_run(s: &str, c: char) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for x in s.chars() {
        if x == c {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// A fenced code block of `lang` that `body` cannot close early.
pub fn fence(lang: &str, body: &str) -> String {
    let ticks = "`".repeat((longest_run(body, '`') + 1).max(3));
    let body = body.trim_end_matches('\n');
    format!("{ticks}{lang}\n{body}\n{ticks}\n")
}

/// The icon shown next to a verdict.
pub fn verdict_icon(v: Verdict) -> &'static str {
    match v {
        Verdict::Destructive => "🔴",
        Verdict::Unknown => "🟣",
        Verdict::Risky => "🟠",
        Verdict::Caution => "🟡",
        Verdict::Safe => "🟢",
    }
}

/// The lines of `source` a finding covers, clipped.
fn excerpt(source: &str, f: &Finding) -> String {
    if f.line == 0 {
        return String::new();
    }
    let count = (f.end_line.saturating_sub(f.line) + 1).min(MAX_EXCERPT_LINES);
    let mut lines: Vec<String> = source
        .lines()
        .skip(f.line - 1)
        .take(count)
        .map(|l| match l.char_indices().nth(MAX_EXCERPT_CHARS) {
            Some((i, _)) => format!("{} …", &l[..i]),
            None => l.to_string(),
        })
        .collect();
    if f.end_line - f.line + 1 > MAX_EXCERPT_LINES {
        lines.push("…".to_string());
    }
    lines.join("\n")
}

fn location(repo: &Repo, m: &MigrationReport, f: &Finding) -> String {
    code(&format!("{}:{}", repo.path(&m.path), f.line))
}

/// One finding as a list item (with its excerpt when `with_excerpt`).
fn finding_item(repo: &Repo, m: &MigrationReport, f: &Finding, with_excerpt: bool) -> String {
    let mut s = format!(
        "- **{}** {} {} — {}\n",
        f.severity.as_str(),
        code(&f.rule),
        location(repo, m, f),
        text(&f.message)
    );
    if f.suppressed {
        let _ = writeln!(
            s,
            "  allowed: {}",
            text(f.suppression_reason.as_deref().unwrap_or(""))
        );
    }
    if with_excerpt {
        let ex = excerpt(&m.source, f);
        if !ex.is_empty() {
            for line in fence("sql", &ex).lines() {
                let _ = writeln!(s, "  {line}");
            }
        }
    }
    s
}

fn header(report: &Report) -> String {
    let s = &report.summary;
    let gate = if report.passed {
        "✔️ passed"
    } else {
        "❌ failed"
    };
    let mut out = format!(
        "{CHECK_MARKER}\n### {} migsafe: **{}** · release class **{}** · gate {gate} (`--fail-on {}`)\n\n",
        verdict_icon(report.verdict),
        report.verdict,
        report.release_class.as_str(),
        report.fail_on
    );
    let target = report
        .target_version
        .as_deref()
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    let dialects = if report.dialects.len() > 1 {
        report.dialects.join(", ")
    } else {
        format!("{}{target}", report.dialect)
    };
    let _ = write!(
        out,
        "{} ({}) checked ({dialects}): {}{}",
        plural(s.migrations, "migration", "migrations"),
        plural(s.statements, "statement", "statements"),
        plural(s.findings, "finding", "findings"),
        if s.suppressed > 0 {
            format!(", {} allowed", s.suppressed)
        } else {
            String::new()
        }
    );
    if s.skipped > 0 {
        let _ = write!(
            out,
            "; {} found but not checked (listed below)",
            plural(s.skipped, "file", "files")
        );
    }
    out.push_str(".\n\n| verdict | migrations |\n|---|---:|\n");
    let b = &s.by_verdict;
    for (v, n) in [
        (Verdict::Destructive, b.destructive),
        (Verdict::Unknown, b.unknown),
        (Verdict::Risky, b.risky),
        (Verdict::Caution, b.caution),
        (Verdict::Safe, b.safe),
    ] {
        let _ = writeln!(out, "| {} {v} | {n} |", verdict_icon(v));
    }
    out.push('\n');
    out
}

fn rules_table(report: &Report) -> String {
    let tally = rule_tally(report);
    if tally.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "| rule | verdict | findings | allowed | what it means |\n|---|---|---:|---:|---|\n",
    );
    for t in &tally {
        let _ = writeln!(
            out,
            "| {} | {} {} | {} | {} | {} |",
            code(&t.rule),
            verdict_icon(t.verdict),
            t.verdict,
            t.findings,
            t.suppressed,
            cell(t.summary)
        );
    }
    out.push('\n');
    out
}

/// The collapsed "why and safer" section: one entry per rule, worst rules first, as many
/// whole entries as fit in `limit` bytes.
fn whys_section(report: &Report, limit: usize) -> String {
    let mut body = String::new();
    let mut left_out = 0;
    for t in rule_tally(report) {
        let Some(f) = report
            .migrations
            .iter()
            .flat_map(|m| &m.findings)
            .find(|f| f.rule == t.rule)
        else {
            continue;
        };
        let entry = format!(
            "**{}**\n\n{}**Safer:**\n\n{}",
            code(&f.rule),
            prose(f.why),
            prose(f.safer)
        );
        if body.len() + entry.len() + 200 <= limit {
            body.push_str(&entry);
        } else {
            left_out += 1;
        }
    }
    if body.is_empty() {
        return String::new();
    }
    if left_out > 0 {
        let _ = write!(
            body,
            "_{} more: `migsafe check --explain <rule>` prints each rule's documentation._\n\n",
            plural(left_out, "rule", "rules")
        );
    }
    format!(
        "<details><summary>Why these rules matter, and the safer way</summary>\n\n{body}</details>\n\n"
    )
}

/// Renders the comment; always under [`COMMENT_BUDGET`] bytes.
pub fn render(report: &Report, repo: &Repo) -> String {
    render_with_budget(report, repo, COMMENT_BUDGET)
}

/// [`render`] against any budget (tests use small ones).
pub fn render_with_budget(report: &Report, repo: &Repo, limit: usize) -> String {
    const NOTE_RESERVE: usize = 400;
    let mut doc = Budget::new(limit, NOTE_RESERVE);
    doc.push_always(&header(report));
    let total_findings: usize = report.migrations.iter().map(|m| m.findings.len()).sum();
    let mut shown_findings = 0usize;

    doc.push(&rules_table(report));

    // why and safer, once per rule (worst rules first), kept to a quarter of the comment
    let whys = whys_section(report, limit / 4);

    // destructive, unknown and risky files, worst first, with excerpts; room is kept for the
    // rules' why/safer and the start of the collapsed sections
    let leave = whys.len() + 1_000;
    let needs = attention(report);
    if !needs.is_empty() {
        doc.push("#### Needs attention\n\n");
    }
    let mut shown_files: Vec<&MigrationReport> = Vec::new();
    for m in &needs {
        let gating: Vec<&Finding> = m
            .findings
            .iter()
            .filter(|f| !f.suppressed && f.verdict.gate_rank() >= Verdict::Risky.gate_rank())
            .collect();
        let title = format!(
            "**{} {}** — {}{}\n\n",
            verdict_icon(m.verdict),
            code(repo.path(&m.path)),
            m.verdict,
            if report.dialects.len() > 1 {
                format!(" ({})", m.dialect)
            } else {
                String::new()
            }
        );
        let block = |excerpts: bool| {
            let mut b = title.clone();
            for f in &gating {
                b.push_str(&finding_item(repo, m, f, excerpts));
            }
            b.push('\n');
            b
        };
        // a file whose excerpts do not fit is listed without them
        if doc.push_leaving(&block(true), leave) || doc.push_leaving(&block(false), leave) {
            shown_findings += gating.len();
            shown_files.push(m);
        }
    }

    doc.push(&whys);

    // every other finding, collapsed, one line each
    let others: Vec<(&MigrationReport, &Finding)> = report
        .migrations
        .iter()
        .flat_map(|m| m.findings.iter().map(move |f| (m, f)))
        .filter(|(m, f)| {
            f.suppressed
                || f.verdict.gate_rank() < Verdict::Risky.gate_rank()
                || !shown_files.iter().any(|s| std::ptr::eq(*s, *m))
        })
        .collect();
    if !others.is_empty() {
        let open = format!(
            "<details><summary>{}, one line each</summary>\n\n",
            plural(others.len(), "more finding", "more findings")
        );
        let close = "\n</details>\n\n";
        if doc.fits(open.len() + close.len() + 200) {
            doc.push_always(&open);
            for (m, f) in &others {
                // keep room to close the section
                if doc.fits(close.len() + 120) && doc.push(&finding_item(repo, m, f, false)) {
                    shown_findings += 1;
                }
            }
            doc.push_always(close);
        }
    }

    // skipped files
    let mut skipped_shown = 0usize;
    if !report.skipped.is_empty() {
        let open = format!(
            "<details><summary>{} found but not checked</summary>\n\n",
            plural(report.skipped.len(), "file", "files")
        );
        let close = "\n</details>\n\n";
        if doc.fits(open.len() + close.len() + 200) {
            doc.push_always(&open);
            for s in &report.skipped {
                let line = format!(
                    "- {} — {}{}\n",
                    code(repo.path(&s.path)),
                    s.dialect
                        .as_deref()
                        .map(|d| format!("{d}: "))
                        .unwrap_or_default(),
                    text(&s.message)
                );
                if doc.fits(close.len() + 120) && doc.push(&line) {
                    skipped_shown += 1;
                }
            }
            doc.push_always(close);
        }
    }

    let missing_findings = total_findings.saturating_sub(shown_findings);
    let missing_skipped = report.skipped.len() - skipped_shown;
    let note = if missing_findings > 0 || missing_skipped > 0 || doc.omitted() > 0 {
        let mut parts = Vec::new();
        if missing_findings > 0 {
            parts.push(plural(missing_findings, "more finding", "more findings"));
        }
        if missing_skipped > 0 {
            parts.push(plural(
                missing_skipped,
                "more skipped file",
                "more skipped files",
            ));
        }
        if parts.is_empty() {
            parts.push("some sections".to_string());
        }
        format!(
            "_{} not shown: this comment is kept under GitHub's {} character limit. The job log (`migsafe check`) and the SARIF upload (code scanning) have everything._\n",
            parts.join(" and "),
            GITHUB_COMMENT_LIMIT
        )
    } else {
        String::new()
    };
    doc.finish(&note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_keeps_the_reserve_and_counts_what_did_not_fit() {
        let mut b = Budget::new(100, 30);
        assert!(b.push(&"a".repeat(60)));
        assert!(!b.push(&"b".repeat(20)));
        assert!(b.push(&"c".repeat(10)));
        assert_eq!(b.omitted(), 1);
        let out = b.finish(&"n".repeat(30));
        assert_eq!(out.len(), 100);
        // a misjudged reserve still cannot break the limit, nor a character
        let mut b = Budget::new(10, 0);
        b.push_always("ééééé");
        assert_eq!(b.finish("éé"), "ééééé");
    }

    /// Whatever the budget, the comment stays under it and stays well-formed.
    #[test]
    fn every_budget_holds_and_sections_stay_closed() {
        use crate::classify::{CheckOptions, build_report, check_sql};
        let opts = CheckOptions::default();
        let mut migrations = Vec::new();
        for i in 0..40 {
            let mut sql = String::new();
            for j in 0..25 {
                sql.push_str(&format!(
                    "ALTER TABLE t{i} DROP COLUMN c{j}; -- `odd` <tag> | pipe\nCREATE INDEX i{i}_{j} ON t{i} (a);\n"
                ));
            }
            let mut m = check_sql(&sql, &opts);
            m.path = format!("db/{i:03}_x.sql");
            migrations.push(m);
        }
        let report = build_report(migrations, &opts);
        let total: usize = report.migrations.iter().map(|m| m.findings.len()).sum();
        assert!(total > 2_000, "{total}");
        for limit in [3_000, 8_000, 20_000, COMMENT_BUDGET] {
            let md = render_with_budget(&report, &Repo::default(), limit);
            assert!(md.len() <= limit, "{} > {limit}", md.len());
            assert_eq!(
                md.matches("<details>").count(),
                md.matches("</details>").count(),
                "{limit}"
            );
            assert_eq!(md.matches("```").count() % 2, 0, "{limit}");
            assert!(md.starts_with(CHECK_MARKER), "{limit}");
            assert!(
                md.trim_end().ends_with("have everything._"),
                "{limit}: {}",
                &md[md.len() - 300..]
            );
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(text("a <b> & c"), "a &lt;b&gt; &amp; c");
        assert_eq!(
            text("keep `a <= b` and ``x`<y``"),
            "keep `a <= b` and ``x`<y``"
        );
        assert_eq!(text("open ` <"), "open ` &lt;");
        assert_eq!(
            prose("Index it:\n  CREATE INDEX i ON t (a);\nThen <check>."),
            "Index it:\n\n```sql\nCREATE INDEX i ON t (a);\n```\n\nThen &lt;check&gt;.\n\n"
        );
        assert_eq!(cell("x | y"), "x \\| y");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(
            fence("sql", "SELECT '```';\n"),
            "````sql\nSELECT '```';\n````\n"
        );
    }
}
