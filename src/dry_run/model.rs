//! The dry-run report: what every renderer and the JSON contract (schema_version 1, documented in
//! docs/dry-run.md) share.

use super::diff::{Change, ColumnMove};
pub use crate::engines::observe::FkViolation;
use crate::model::{Finding, Tool, Verdict};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct DryRunReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub engine: &'static str,
    pub server_version: String,
    /// The dry-run server as people name it: `MariaDB 10.11`, `PostgreSQL 15`.
    pub server: String,
    /// What the migrations are written for: `mysql 8.0`, `mariadb`, `postgres 15`, `sqlite`.
    pub target: String,
    /// The server is MariaDB and the migrations target MySQL, or the reverse: the known
    /// differences that apply to the statements of the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_mismatch: Option<super::vendor::ServerMismatch>,
    pub database: DatabaseInfo,
    /// `scratch` (empty database), `schema-from` (live schema cloned) or `from-backup`.
    pub mode: &'static str,
    /// The live database (redacted URL) or backup file the run started from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed_rows: Option<u64>,
    /// Rows `--seed-rows` inserted, per table.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub seeded: Vec<SeededTable>,
    pub check_down: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_version: Option<String>,
    pub warnings: Vec<String>,
    /// Worst of the static and dynamic verdicts over the new migrations.
    pub verdict: Verdict,
    pub static_verdict: Verdict,
    /// The verdict gate (`never` by default: only failures fail a dry-run).
    pub fail_on: &'static str,
    pub passed: bool,
    pub migrations: Vec<MigrationRun>,
    pub summary: RunSummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeededTable {
    pub table: String,
    pub rows: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DatabaseInfo {
    /// `ephemeral` (migsafe's own throwaway server) or `scratch` (a database on `--scratch-url`).
    pub kind: &'static str,
    /// The scratch server, redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Time until the database was ready for the first migration (start-up, restore, seeding).
    pub startup_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TemplateInfo {
    /// sha256 over the engine, server version, start state and the setup migrations' checksums.
    pub key: String,
    /// The run started from a cached template.
    pub hit: bool,
    /// This run stored a new template.
    pub saved: bool,
    /// Setup migrations contained in the template (not re-applied on a hit).
    pub migrations: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Applied,
    Failed,
    /// Not run: an earlier migration failed, as the migrator would stop.
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Applied => "applied",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrationRun {
    pub path: String,
    pub version: String,
    pub description: String,
    pub layout: &'static str,
    pub transaction: bool,
    /// Judged by this run (false: applied quietly as setup before the new ones).
    pub new: bool,
    pub status: Status,
    pub duration_ms: f64,
    pub verdict: Verdict,
    pub static_verdict: Verdict,
    pub dynamic_verdict: Verdict,
    pub statements: Vec<StatementRun>,
    pub schema_diff: Vec<Change>,
    pub findings: Vec<DynamicFinding>,
    /// The static classifier's findings for this file (as in `migsafe check --format json`).
    pub static_findings: Vec<Finding>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub foreign_key_violations: Vec<FkViolation>,
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down_check: Option<DownCheck>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StmtStatus {
    Ok,
    Failed,
    NotRun,
}

impl StmtStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StmtStatus::Ok => "ok",
            StmtStatus::Failed => "failed",
            StmtStatus::NotRun => "not_run",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StatementRun {
    pub index: usize,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub kind: String,
    pub sql: String,
    pub status: StmtStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_affected: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<SqlError>,
    /// Whether the statement's effect is in the database after the file finished (false when a
    /// failure rolled it back; MySQL DDL commits implicitly and always takes effect).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub took_effect: Option<bool>,
    /// Whether locks were observed (PostgreSQL, inside a transaction).
    pub locks_observed: bool,
    /// Locks this statement newly took on objects that existed before the file.
    pub locks: Vec<LockTaken>,
    /// Pre-existing tables and indexes whose storage was rewritten.
    pub rewrites: Vec<Rewrite>,
    pub static_verdict: Verdict,
    pub verdict: Verdict,
}

/// An error as the server reported it, located in the migration file.
#[derive(Debug, Clone, Serialize)]
pub struct SqlError {
    /// SQLSTATE (`42703`), when the server sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqlstate: Option<String>,
    /// The engine's own error number (MySQL/MariaDB), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    pub file: String,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockTaken {
    /// `ACCESS EXCLUSIVE`, `SHARE`, …
    pub mode: String,
    pub object: String,
    /// `table`, `index`, `sequence`, `view`, `materialized view`, …
    pub object_kind: String,
    pub blocks_reads: bool,
    pub blocks_writes: bool,
    /// What this mode blocks, in words.
    pub blocks: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rewrite {
    pub object: String,
    pub object_kind: String,
}

/// A finding from execution: something the catalog or the server showed.
#[derive(Debug, Clone, Serialize)]
pub struct DynamicFinding {
    /// `dropped-table`, `dropped-column`, `lossy-type-change`, `table-rewrite`, …
    pub rule: &'static str,
    pub verdict: Verdict,
    /// The statement it happened in, when it could be attributed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement_index: Option<usize>,
    pub line: usize,
    pub object: String,
    pub message: String,
    /// The static classifier rated the statement lower: only execution revealed this.
    pub found_by_execution: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DownStatus {
    /// up → down restored the schema exactly, and up applied again.
    Reversible,
    /// The schema after down differs from the schema before up.
    Irreversible,
    DownFailed,
    /// up failed the second time, after down.
    ReapplyFailed,
    /// The migration has no down section.
    NoDown,
}

impl DownStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DownStatus::Reversible => "reversible",
            DownStatus::Irreversible => "irreversible",
            DownStatus::DownFailed => "down_failed",
            DownStatus::ReapplyFailed => "reapply_failed",
            DownStatus::NoDown => "no_down",
        }
    }

    /// Whether this outcome fails a `--check-down` run.
    pub fn fails(self) -> bool {
        matches!(
            self,
            DownStatus::Irreversible | DownStatus::DownFailed | DownStatus::ReapplyFailed
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DownCheck {
    pub status: DownStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down_path: Option<String>,
    /// Schema before up → schema after down, compared by name (empty when reversible).
    pub differences: Vec<Change>,
    /// Schema after the first up → after the second up (should be empty).
    pub reapply_differences: Vec<Change>,
    /// Columns that are back with the same name and definition but in another place (a column
    /// down re-added lands last): a note, not a failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moved_columns: Vec<ColumnMove>,
    /// The same between the first and the second up.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reapply_moved_columns: Vec<ColumnMove>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<SqlError>,
    pub duration_ms: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    /// Migrations discovered.
    pub migrations: usize,
    /// Applied quietly as setup (older than `--since`, already applied for `--pending`, or in a
    /// cached template).
    pub setup: usize,
    /// Already applied in the starting database (`--schema-from`, `--from-backup`): not run.
    pub already_applied: usize,
    pub new: usize,
    pub applied: usize,
    pub failed: usize,
    pub skipped: usize,
    pub statements: usize,
    pub failed_statements: usize,
    pub findings: usize,
    pub found_by_execution: usize,
    pub irreversible: usize,
    pub duration_ms: f64,
    /// Time to apply the setup migrations (0 with a template hit).
    pub setup_ms: f64,
}
