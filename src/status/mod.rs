//! `migsafe status`: what a live database has applied, compared with the migration files the way
//! the project's migration tool compares them — applied, pending, modified after apply
//! (checksum mismatch), missing (recorded, no file), failed/dirty (with the tool's repair), out
//! of order — and the verdict and release class of each pending migration, from the classifier.
//!
//! [`survey`] is the part `apply` shares: it runs before every apply (and again after
//! `--migrate-cmd`), so both commands see migrations the same way.

use crate::classify::{self, CheckOptions};
use crate::engines::conn::Conn;
use crate::engines::{EngineError, EngineKind, redact_url};
use crate::history::{self, History, HistoryError, Line, MigFile, State, Tool};
use crate::migrations::{self, Layout, Migration};
use crate::model::{ReleaseClass, Verdict};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;

/// The version of the JSON output of `status` and `apply`.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone)]
pub struct StatusSettings {
    pub paths: Vec<PathBuf>,
    pub layout: Option<Layout>,
    pub url: String,
    /// `--env NAME`, for the report.
    pub env: Option<String>,
    pub check: CheckOptions,
    /// `[migrations] transaction` from migsafe.toml, as `check` reads it.
    pub transaction: migrations::TxSetting,
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Discover(#[from] migrations::DiscoverError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Usage(String),
}

/// A finding of the classifier on a pending migration, in short.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: String,
    pub verdict: Verdict,
    pub line: usize,
    pub message: String,
}

/// One migration in the status (or one history row without a file).
#[derive(Debug, Clone, Serialize)]
pub struct StatusMigration {
    #[serde(flatten)]
    pub line: Line,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Whether the tool runs it in one transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction: Option<bool>,
    /// For pending migrations: the classifier's verdict and release class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_class: Option<ReleaseClass>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Statements migsafe could not understand (they gate like risky).
    #[serde(skip_serializing_if = "is_zero")]
    pub unknown_statements: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub applied: usize,
    pub pending: usize,
    pub modified: usize,
    pub missing: usize,
    pub failed: usize,
    pub out_of_order: usize,
}

impl Counts {
    pub fn of(lines: &[StatusMigration]) -> Counts {
        let mut c = Counts::default();
        for l in lines {
            match l.line.state {
                State::Applied => c.applied += 1,
                State::Pending => c.pending += 1,
                State::Modified => c.modified += 1,
                State::Missing => c.missing += 1,
                State::Failed => c.failed += 1,
                State::OutOfOrder => c.out_of_order += 1,
            }
        }
        c
    }

    /// Modified, missing, failed or out-of-order migrations: the history and the files disagree.
    pub fn problems(&self) -> usize {
        self.modified + self.missing + self.failed + self.out_of_order
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub engine: String,
    /// The database URL, password masked.
    pub database: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    pub table: String,
    pub table_exists: bool,
    pub migrations: Vec<StatusMigration>,
    pub summary: Counts,
    /// The worst verdict of the pending migrations (`safe` when none).
    pub pending_verdict: Verdict,
    pub release_class: ReleaseClass,
    /// No modified, missing, failed or out-of-order migration.
    pub passed: bool,
}

/// Files, history and their comparison, with verdicts for what is pending.
pub struct Survey<'a> {
    pub tool: Tool,
    pub kind: EngineKind,
    pub files: Vec<MigFile<'a>>,
    pub history: History,
    pub migrations: Vec<StatusMigration>,
}

impl Survey<'_> {
    /// The pending migrations, in order, as indexes into `files`.
    pub fn pending(&self) -> Vec<usize> {
        self.migrations
            .iter()
            .filter(|m| m.line.state == State::Pending)
            .filter_map(|m| m.line.file)
            .collect()
    }

    pub fn counts(&self) -> Counts {
        Counts::of(&self.migrations)
    }

    pub fn pending_verdict(&self) -> (Verdict, ReleaseClass) {
        let mut v = Verdict::Safe;
        let mut r = ReleaseClass::Patch;
        for m in self
            .migrations
            .iter()
            .filter(|m| m.line.state == State::Pending)
        {
            if let Some(x) = m.verdict {
                v = v.worst(x);
            }
            if let Some(x) = m.release_class {
                r = r.max(x);
            }
        }
        (v, r)
    }
}

/// Discovers the migrations of `paths` as `check` does, for a database of `dialect`: in a
/// tree written for several databases only that dialect's files, a file's dialect variant
/// instead of the generic file of the same version (as ory's popx picks them); generic files
/// in that dialect; the `[migrations] transaction` setting. Returns them with the tool whose history they belong to.
pub fn discover(
    paths: &[PathBuf],
    layout: Option<Layout>,
    dialect: crate::sql::Dialect,
    transaction: migrations::TxSetting,
) -> Result<(Vec<Migration>, Tool), StatusError> {
    let mut options = migrations::DiscoverOptions {
        layout,
        dialect: None,
        default_dialect: dialect,
        transaction,
    };
    let mut found = migrations::discover_with(paths, &options)?;
    // a tree written for several databases holds one history per database: this one's files;
    // a tree written for one database is that history, whichever database it is applied to
    if found.dialects().len() > 1 {
        options.dialect = Some(dialect);
        found = migrations::discover_with(paths, &options)?;
    }
    let migs = found.migrations;
    let Some(first) = migs.first() else {
        return Err(StatusError::Usage("no migrations found".into()));
    };
    if let Some(other) = migs.iter().find(|m| m.layout != first.layout) {
        return Err(StatusError::Usage(format!(
            "{} is a {} migration but {} is {}: one history table per run; pass the folders of one tool (or --layout)",
            other.path.display(),
            other.layout,
            first.path.display(),
            first.layout
        )));
    }
    let tool = Tool::of(first.layout).ok_or_else(|| {
        StatusError::Usage(format!(
            "{}: migsafe does not know the history table of the {} layout",
            first.path.display(),
            first.layout
        ))
    })?;
    Ok((migs, tool))
}

/// Reads the history and compares it with `migs`, judging the pending ones.
pub async fn survey<'a>(
    conn: &mut Conn,
    tool: Tool,
    migs: &'a [Migration],
    check: &CheckOptions,
) -> Result<Survey<'a>, StatusError> {
    let files = MigFile::load_all(migs)?;
    let history = history::read(conn, tool).await?;
    let lines = history::compare(tool.spec(), &files, &history);
    let pending: std::collections::HashSet<PathBuf> = lines
        .iter()
        .filter(|l| l.state == State::Pending)
        .filter_map(|l| l.file)
        .map(|i| migs[i].path.clone())
        .collect();
    // the classifier sees every migration (the schema they build) and judges the pending ones
    let report =
        classify::check_migrations(migs, &|m| pending.contains(&m.path), check, &mut |_| {});
    let by_path: HashMap<&str, &crate::model::MigrationReport> = report
        .migrations
        .iter()
        .map(|m| (m.path.as_str(), m))
        .collect();
    let migrations = lines
        .into_iter()
        .map(|line| {
            let m = line.file.map(|i| &migs[i]);
            let path = m.map(|m| m.path.display().to_string());
            let judged = path.as_deref().and_then(|p| by_path.get(p));
            StatusMigration {
                path,
                transaction: m.map(|m| m.transaction),
                verdict: judged.map(|r| r.verdict),
                release_class: judged.map(|r| r.release_class),
                findings: judged
                    .map(|r| {
                        r.findings
                            .iter()
                            .filter(|f| !f.suppressed)
                            .map(|f| Finding {
                                rule: f.rule.clone(),
                                verdict: f.verdict,
                                line: f.line,
                                message: f.message.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                unknown_statements: judged
                    .map(|r| {
                        r.statements
                            .iter()
                            .filter(|s| s.verdict == Verdict::Unknown)
                            .count()
                    })
                    .unwrap_or(0),
                line,
            }
        })
        .collect();
    Ok(Survey {
        tool,
        kind: conn.kind(),
        files,
        history,
        migrations,
    })
}

/// Runs `migsafe status`.
pub async fn status(s: &StatusSettings) -> Result<StatusReport, StatusError> {
    let (migs, tool) = discover(&s.paths, s.layout, s.check.dialect, s.transaction)?;
    // the session of an apply, so status sees what apply would inside a maintenance window
    let mut conn = crate::modes::migration_session(&s.url).await?;
    let sv = survey(&mut conn, tool, &migs, &s.check).await;
    conn.close().await;
    let sv = sv?;
    let summary = sv.counts();
    let (pending_verdict, release_class) = sv.pending_verdict();
    Ok(StatusReport {
        schema_version: SCHEMA_VERSION,
        tool,
        engine: sv.kind.as_str().to_string(),
        database: redact_url(&s.url),
        env: s.env.clone(),
        table: sv.history.table.clone(),
        table_exists: sv.history.exists,
        passed: summary.problems() == 0,
        summary,
        pending_verdict,
        release_class,
        migrations: sv.migrations,
    })
}
