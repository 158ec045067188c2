//! Renderers: turn a check report into human text, JSON, SARIF, GitHub workflow commands or a
//! Markdown PR comment. They only format; every decision was made by the classifier.

pub mod backup;
pub mod dry_run;
pub mod github;
pub mod human;
pub mod integrity;
pub mod json;
pub mod markdown;
pub mod modes;
pub mod progress;
pub mod recover;
pub mod rules_doc;
pub mod sarif;
pub mod status;
pub mod style;

use crate::model::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Sarif,
    Github,
    Markdown,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Human,
        Format::Json,
        Format::Sarif,
        Format::Github,
        Format::Markdown,
    ];

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "human" | "text" => Some(Format::Human),
            "json" => Some(Format::Json),
            "sarif" => Some(Format::Sarif),
            "github" => Some(Format::Github),
            "markdown" | "md" => Some(Format::Markdown),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Human => "human",
            Format::Json => "json",
            Format::Sarif => "sarif",
            Format::Github => "github",
            Format::Markdown => "markdown",
        }
    }

    /// Machine formats never show progress bars or colour.
    pub fn is_machine(self) -> bool {
        self != Format::Human
    }
}

/// Where the repository is, so machine formats can name files as GitHub expects them.
#[derive(Debug, Clone, Default)]
pub struct Repo {
    /// The repository root (`git rev-parse --show-toplevel`), as an absolute path.
    pub root: Option<std::path::PathBuf>,
    /// Each report path (as printed) → its path relative to the root, `/`-separated. Paths
    /// outside the root are absent.
    pub relative: std::collections::HashMap<String, String>,
}

impl Repo {
    /// The repository-relative path of a report path, or the path itself when unknown.
    pub fn path<'a>(&'a self, path: &'a str) -> &'a str {
        self.relative.get(path).map_or(path, String::as_str)
    }
}

/// How to render a check report.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    pub color: bool,
    /// Human output: why/safer under every finding, every file and every skipped file listed.
    pub verbose: bool,
    pub repo: Repo,
}

/// Renders a report to the text printed on stdout.
pub fn render(report: &Report, format: Format, options: &RenderOptions) -> String {
    match format {
        Format::Human => human::render(report, options),
        Format::Json => json::render(report),
        Format::Sarif => sarif::render(report, &options.repo),
        Format::Github => github::render(report, &options.repo),
        Format::Markdown => markdown::render(report, &options.repo),
    }
}

/// The files a reviewer must look at (destructive, unknown, risky), worst first, in apply order
/// within a verdict.
pub fn attention(report: &Report) -> Vec<&crate::model::MigrationReport> {
    let mut out: Vec<&crate::model::MigrationReport> = report
        .migrations
        .iter()
        .filter(|m| m.verdict.gate_rank() >= crate::model::Verdict::Risky.gate_rank())
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.verdict.rank()));
    out
}

/// How often a rule fired in a run.
#[derive(Debug, Clone)]
pub struct RuleTally {
    pub rule: String,
    /// Findings not suppressed.
    pub findings: usize,
    pub suppressed: usize,
    /// The worst verdict among its findings (suppressed ones included).
    pub verdict: crate::model::Verdict,
    pub summary: &'static str,
}

/// Findings per rule, worst verdict first, then most findings, then name.
pub fn rule_tally(report: &Report) -> Vec<RuleTally> {
    let mut out: Vec<RuleTally> = Vec::new();
    for f in report.migrations.iter().flat_map(|m| &m.findings) {
        let i = match out.iter().position(|t| t.rule == f.rule) {
            Some(i) => i,
            None => {
                let summary = rules_doc::all()
                    .into_iter()
                    .find(|m| m.name == f.rule)
                    .map_or("", |m| m.summary);
                out.push(RuleTally {
                    rule: f.rule.clone(),
                    findings: 0,
                    suppressed: 0,
                    verdict: f.verdict,
                    summary,
                });
                out.len() - 1
            }
        };
        let t = &mut out[i];
        if f.suppressed {
            t.suppressed += 1;
        } else {
            t.findings += 1;
        }
        t.verdict = t.verdict.worst(f.verdict);
    }
    out.sort_by(|a, b| {
        b.verdict
            .rank()
            .cmp(&a.verdict.rank())
            .then(b.findings.cmp(&a.findings))
            .then(a.rule.cmp(&b.rule))
    });
    out
}
