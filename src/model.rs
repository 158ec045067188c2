//! Verdicts, findings and the check report: the data every renderer and the JSON contract share.

use serde::Serialize;
use std::fmt;

/// Ordered from harmless to worst; `Unknown` gates like `Risky` but is reported on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Safe,
    Caution,
    Risky,
    Unknown,
    Destructive,
}

impl Verdict {
    pub const ALL: [Verdict; 5] = [
        Verdict::Safe,
        Verdict::Caution,
        Verdict::Risky,
        Verdict::Destructive,
        Verdict::Unknown,
    ];

    /// Rank used for "worst of": unknown sits between risky and destructive so a file with a
    /// destructive statement is destructive, and a file with only risky and unknown statements
    /// shows unknown (it needs review).
    pub fn rank(self) -> u8 {
        match self {
            Verdict::Safe => 0,
            Verdict::Caution => 1,
            Verdict::Risky => 2,
            Verdict::Unknown => 3,
            Verdict::Destructive => 4,
        }
    }

    /// Rank used by the gate: unknown gates exactly like risky.
    pub fn gate_rank(self) -> u8 {
        match self {
            Verdict::Unknown => Verdict::Risky.rank(),
            v => v.rank(),
        }
    }

    pub fn worst(self, other: Verdict) -> Verdict {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::Caution => "caution",
            Verdict::Risky => "risky",
            Verdict::Unknown => "unknown",
            Verdict::Destructive => "destructive",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Destructive,
    Lock,
    Compatibility,
    Data,
    Transaction,
    Style,
    Unknown,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Destructive => "destructive",
            Category::Lock => "lock",
            Category::Compatibility => "compatibility",
            Category::Data => "data",
            Category::Transaction => "transaction",
            Category::Style => "style",
            Category::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Release class from the runbook: how much ceremony the release needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseClass {
    Patch,
    Minor,
    Major,
}

impl ReleaseClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseClass::Patch => "patch",
            ReleaseClass::Minor => "minor",
            ReleaseClass::Major => "major",
        }
    }
}

/// `--fail-on`: the lowest verdict that fails the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Destructive,
    Risky,
    Caution,
    Never,
}

impl FailOn {
    pub const ALL: [FailOn; 4] = [
        FailOn::Destructive,
        FailOn::Risky,
        FailOn::Caution,
        FailOn::Never,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailOn::Destructive => "destructive",
            FailOn::Risky => "risky",
            FailOn::Caution => "caution",
            FailOn::Never => "never",
        }
    }

    pub fn parse(s: &str) -> Option<FailOn> {
        FailOn::ALL.into_iter().find(|f| f.as_str() == s)
    }

    pub fn fails(self, verdict: Verdict) -> bool {
        let threshold = match self {
            FailOn::Never => return false,
            FailOn::Destructive => Verdict::Destructive,
            FailOn::Risky => Verdict::Risky,
            FailOn::Caution => Verdict::Caution,
        };
        verdict.gate_rank() >= threshold.gate_rank()
    }
}

/// A 1-based position in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: String,
    pub category: Category,
    pub severity: Severity,
    /// What this finding contributes to the statement's verdict.
    #[serde(skip)]
    pub verdict: Verdict,
    pub statement_index: usize,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    /// Byte range in the file, for caret rendering.
    #[serde(skip)]
    pub byte_start: usize,
    #[serde(skip)]
    pub byte_end: usize,
    pub message: String,
    /// The rule's texts, shared by all its findings (not copied per finding).
    pub why: &'static str,
    pub safer: &'static str,
    pub suppressed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppression_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatementReport {
    pub index: usize,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub verdict: Verdict,
    pub parsed: bool,
    /// `sqlparser`, `fallback` or `none`.
    pub parser: &'static str,
    pub kind: String,
    pub sql: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
    /// Index of the enclosing statement when this one was found inside a DO block or routine body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nested_in: Option<usize>,
    /// Set when the statement's text was built by dynamic SQL (PL/pgSQL `EXECUTE`, MySQL
    /// `PREPARE … FROM`): how. Its `sql` is the text migsafe computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamic_sql: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    pub path: String,
    /// The dialect the migration was checked in.
    pub dialect: &'static str,
    pub version: String,
    pub description: String,
    pub layout: String,
    pub direction: &'static str,
    pub transaction: bool,
    pub checksum: String,
    pub verdict: Verdict,
    pub release_class: ReleaseClass,
    pub statements: Vec<StatementReport>,
    pub findings: Vec<Finding>,
    /// Template placeholders replaced before checking (the statements show the replaced text).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub placeholders: Vec<crate::sql::template::Placeholder>,
    /// Full file text, for caret excerpts (not part of the JSON contract).
    #[serde(skip)]
    pub source: std::sync::Arc<str>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct ByVerdict {
    pub safe: usize,
    pub caution: usize,
    pub risky: usize,
    pub destructive: usize,
    pub unknown: usize,
}

impl ByVerdict {
    pub fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Safe => self.safe += 1,
            Verdict::Caution => self.caution += 1,
            Verdict::Risky => self.risky += 1,
            Verdict::Destructive => self.destructive += 1,
            Verdict::Unknown => self.unknown += 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    pub migrations: usize,
    pub statements: usize,
    pub unknown: usize,
    pub findings: usize,
    pub suppressed: usize,
    /// Files found but not checked (see `skipped`).
    pub skipped: usize,
    /// Per-migration verdict counts.
    pub by_verdict: ByVerdict,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: "migsafe",
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// The result of `migsafe check`: serialises to the schema_version 1 JSON contract.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub dialect: &'static str,
    /// Every dialect the migrations were checked in (several for a tree with per-dialect
    /// folders or file suffixes checked without `--dialect`).
    pub dialects: Vec<&'static str>,
    pub target_version: Option<String>,
    pub verdict: Verdict,
    pub release_class: ReleaseClass,
    /// The gate that decided the exit code.
    pub fail_on: &'static str,
    pub passed: bool,
    pub migrations: Vec<MigrationReport>,
    /// Files found but not checked, with the reason (other dialects, replaced generic files,
    /// code migrations): never dropped silently.
    pub skipped: Vec<SkippedFile>,
    pub summary: Summary,
}

/// A file discovery set aside.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedFile {
    pub path: String,
    /// The database the file is written for, when its path names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialect: Option<String>,
    /// `other_dialect`, `unsupported_dialect`, `replaced_by_variant`, `not_in_journal`, `not_sql`.
    pub reason: &'static str,
    /// The reason in words.
    pub message: String,
}
