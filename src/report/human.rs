//! Human output, read top to bottom by a reviewer:
//!
//! 1. a headline (verdict, release class, gate) and the files that need attention, worst first:
//!    the first screen says what matters;
//! 2. the findings grouped per file in apply order: risky, unknown and destructive ones with
//!    their caret excerpt, the others on two lines; a rule's "why" and "safer" paragraphs are
//!    printed once per run, at its first finding (`--verbose`: excerpts and paragraphs at every
//!    finding); files without findings are counted, not listed (`--verbose` lists them);
//! 3. the files found but not checked (other dialects, replaced generic files, code migrations);
//! 4. a per-rule summary and the totals.

use super::style::{Style, plural};
use super::{RenderOptions, RuleTally, attention, rule_tally};
use crate::model::{Finding, MigrationReport, Report, Verdict};
use std::collections::HashSet;
use std::fmt::Write;

const MAX_EXCERPT_LINES: usize = 4;
const MAX_LINE_CHARS: usize = 160;
/// Files named in the attention list before "… and N more".
const MAX_ATTENTION: usize = 10;
/// Skipped files named before "… and N more" (without `--verbose`).
const MAX_SKIPPED: usize = 10;

fn clip(line: &str) -> (&str, bool) {
    match line.char_indices().nth(MAX_LINE_CHARS) {
        Some((i, _)) => (&line[..i], true),
        None => (line, false),
    }
}

/// Continuation lines of a "why"/"safer" paragraph, indented under it (SQL lines keep their own
/// extra indentation).
fn indented(text: &str) -> String {
    text.trim_end().replace('\n', "\n    ")
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

/// A file as named in the output: its path, and its dialect when the run checks several.
fn file_label(report: &Report, m: &MigrationReport) -> String {
    if report.dialects.len() > 1 {
        format!("{} ({})", m.path, m.dialect)
    } else {
        m.path.clone()
    }
}

struct Renderer<'a> {
    report: &'a Report,
    st: Style,
    verbose: bool,
    /// Rules whose why/safer were already printed.
    explained: HashSet<&'a str>,
    out: String,
}

impl<'a> Renderer<'a> {
    fn headline(&mut self) {
        let r = self.report;
        let st = &self.st;
        let s = &r.summary;
        let gate = if r.passed {
            st.green("passed")
        } else {
            st.red("failed")
        };
        let dialects = r.dialects.join(", ");
        let checked = plural(s.migrations, "migration", "migrations");
        let _ = writeln!(
            self.out,
            "{} {} {} ({dialects}): {}, release class {}, gate {} (--fail-on {})",
            st.bold("migsafe:"),
            checked,
            if s.skipped > 0 {
                format!("checked, {} skipped", s.skipped)
            } else {
                "checked".to_string()
            },
            st.verdict(r.verdict),
            st.bold(r.release_class.as_str()),
            gate,
            r.fail_on
        );
        let needs: Vec<&MigrationReport> = attention(r);
        if needs.is_empty() {
            let _ = writeln!(
                self.out,
                "nothing destructive, risky or unknown{}",
                if s.findings > 0 {
                    format!(" ({} below)", plural(s.findings, "finding", "findings"))
                } else {
                    String::new()
                }
            );
        } else {
            let _ = writeln!(self.out, "\nneeds attention, worst first:");
            let width = needs
                .iter()
                .map(|m| file_label(r, m).len())
                .max()
                .unwrap_or(0);
            for m in needs.iter().take(MAX_ATTENTION) {
                let mut rules: Vec<&str> = Vec::new();
                for f in m.findings.iter().filter(|f| !f.suppressed) {
                    if f.verdict.gate_rank() >= Verdict::Risky.gate_rank()
                        && !rules.contains(&f.rule.as_str())
                    {
                        rules.push(&f.rule);
                    }
                }
                let label = file_label(r, m);
                let _ = writeln!(
                    self.out,
                    "  {}{}  {label:width$}  {}",
                    st.verdict(m.verdict),
                    " ".repeat(11 - m.verdict.as_str().len()),
                    rules.join(", ")
                );
            }
            if needs.len() > MAX_ATTENTION {
                let _ = writeln!(
                    self.out,
                    "  … and {} more (below)",
                    needs.len() - MAX_ATTENTION
                );
            }
        }
    }

    fn finding(&mut self, m: &'a MigrationReport, f: &'a Finding) {
        let st = &self.st;
        let out = &mut self.out;
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
        if f.suppressed {
            if self.verbose {
                excerpt(out, m, f, st);
            }
            let _ = writeln!(
                out,
                "  = allowed: {}",
                f.suppression_reason.as_deref().unwrap_or("")
            );
        } else {
            if self.verbose || f.verdict.gate_rank() >= Verdict::Risky.gate_rank() {
                excerpt(out, m, f, st);
            }
            if self.verbose || self.explained.insert(f.rule.as_str()) {
                let _ = writeln!(out, "  = {} {}", st.bold("why:"), indented(f.why));
                let _ = writeln!(out, "  = {} {}", st.bold("safer:"), indented(f.safer));
            }
        }
        out.push('\n');
    }

    fn files(&mut self) {
        let r = self.report;
        let mut quiet = 0usize;
        let mut first = true;
        for m in &r.migrations {
            let stmts = plural(m.statements.len(), "statement", "statements");
            if m.findings.is_empty() && !self.verbose {
                quiet += 1;
                continue;
            }
            if first {
                self.out.push('\n');
                first = false;
            }
            let _ = writeln!(
                self.out,
                "{} {} {}",
                self.st.bold(&file_label(r, m)),
                self.st.verdict(m.verdict),
                self.st.dim(&format!("({stmts})"))
            );
            if m.findings.is_empty() {
                continue;
            }
            self.out.push('\n');
            for f in &m.findings {
                self.finding(m, f);
            }
        }
        if quiet > 0 {
            let _ = writeln!(
                self.out,
                "{} without findings (--verbose lists them)",
                plural(quiet, "migration", "migrations")
            );
        }
    }

    fn skipped(&mut self) {
        let r = self.report;
        if r.skipped.is_empty() {
            return;
        }
        let found = r.summary.migrations + r.skipped.len();
        let _ = writeln!(
            self.out,
            "\n{}: {} of the {found} migration files found {} not checked ({} checked):",
            self.st.bold("skipped"),
            r.skipped.len(),
            if r.skipped.len() == 1 { "is" } else { "are" },
            r.dialects.join(", ")
        );
        let label = |s: &crate::model::SkippedFile| match (s.reason, &s.dialect) {
            ("other_dialect", Some(d)) => format!("written for {d}"),
            ("unsupported_dialect", Some(d)) => {
                format!("written for {d}, a database migsafe does not check")
            }
            _ => s.message.clone(),
        };
        let mut groups: Vec<(String, usize)> = Vec::new();
        for s in &r.skipped {
            let group = match s.reason {
                "replaced_by_variant" => {
                    "generic files replaced by their dialect variant".to_string()
                }
                _ => label(s),
            };
            match groups.iter_mut().find(|(l, _)| *l == group) {
                Some((_, n)) => *n += 1,
                None => groups.push((group, 1)),
            }
        }
        for (group, n) in &groups {
            let _ = writeln!(self.out, "  {n:>5}  {group}");
        }
        let shown = if self.verbose {
            r.skipped.len()
        } else {
            MAX_SKIPPED
        };
        for s in r.skipped.iter().take(shown) {
            let _ = writeln!(self.out, "  {}  {}", s.path, self.st.dim(&label(s)));
        }
        if r.skipped.len() > shown {
            let _ = writeln!(
                self.out,
                "  … and {} more (--verbose lists them; --format json has them all)",
                r.skipped.len() - shown
            );
        }
    }

    fn rules(&mut self) {
        let tally: Vec<RuleTally> = rule_tally(self.report);
        if tally.is_empty() {
            return;
        }
        let _ = writeln!(
            self.out,
            "\n{} (`migsafe check --explain <rule>` documents each one):",
            self.st.bold("findings per rule")
        );
        let width = tally.iter().map(|t| t.rule.len()).max().unwrap_or(0);
        for t in &tally {
            let allowed = if t.suppressed > 0 {
                format!(" ({} allowed)", t.suppressed)
            } else {
                String::new()
            };
            let _ = writeln!(
                self.out,
                "  {}{}  {:width$}  {:>4}  {}{allowed}",
                self.st.verdict(t.verdict),
                " ".repeat(11 - t.verdict.as_str().len()),
                t.rule,
                t.findings,
                self.st.dim(t.summary)
            );
        }
    }

    fn totals(&mut self) {
        let r = self.report;
        let s = &r.summary;
        let b = &s.by_verdict;
        let _ = writeln!(
            self.out,
            "\n{} ({}) checked: {} destructive, {} risky, {} unknown, {} caution, {} safe; {}, {} allowed",
            plural(s.migrations, "migration", "migrations"),
            plural(s.statements, "statement", "statements"),
            b.destructive,
            b.risky,
            b.unknown,
            b.caution,
            b.safe,
            plural(s.findings, "finding", "findings"),
            s.suppressed
        );
        let gate = if r.passed {
            self.st.green("passed")
        } else {
            self.st.red("failed")
        };
        let _ = writeln!(
            self.out,
            "verdict: {}, release class: {}, gate (--fail-on {}): {}",
            self.st.verdict(r.verdict),
            self.st.bold(r.release_class.as_str()),
            r.fail_on,
            gate
        );
    }
}

pub fn render(report: &Report, options: &RenderOptions) -> String {
    let mut r = Renderer {
        report,
        st: Style::new(options.color),
        verbose: options.verbose,
        explained: HashSet::new(),
        out: String::new(),
    };
    r.headline();
    r.files();
    r.skipped();
    r.rules();
    r.totals();
    r.out
}
