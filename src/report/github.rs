//! `--format github`: GitHub Actions workflow commands, one annotation per finding.

use super::Repo;
use super::style::plural;
use crate::model::{Report, Severity};
use std::fmt::Write;

/// Escapes message data of a workflow command.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value (also `:` and `,`).
fn prop(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One annotation per unsuppressed finding, file paths relative to the repository root (as
/// GitHub expects them), then a summary notice.
pub fn render(report: &Report, repo: &Repo) -> String {
    let mut out = String::new();
    for m in &report.migrations {
        for f in m.findings.iter().filter(|f| !f.suppressed) {
            let level = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "notice",
            };
            let _ = writeln!(
                out,
                "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}",
                prop(repo.path(&m.path)),
                f.line,
                f.column,
                f.end_line,
                f.end_column,
                prop(&format!("migsafe {} ({})", f.rule, f.category.as_str())),
                data(&format!(
                    "{}\nWhy: {}\nSafer: {}",
                    f.message, f.why, f.safer
                ))
            );
        }
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "::notice title=migsafe::{}",
        data(&format!(
            "{}, {}: verdict {}, release class {}, gate {} (--fail-on {}){}",
            plural(s.migrations, "migration", "migrations"),
            plural(s.statements, "statement", "statements"),
            report.verdict,
            report.release_class.as_str(),
            if report.passed { "passed" } else { "failed" },
            report.fail_on,
            if s.skipped > 0 {
                format!(
                    "; {} found but not checked (see the job log)",
                    plural(s.skipped, "file", "files")
                )
            } else {
                String::new()
            }
        ))
    );
    out
}
