//! Migration history tables, read and written exactly as each migration tool does (DESIGN.md
//! §3): the table and its columns per engine, the checksum the tool records and how it compares
//! it, the tool's "dirty"/"failed" states and the command that repairs them, the lock the tool
//! takes while it migrates, and which migrations it would run next. One place for all of it:
//! `status` and `apply` compare and record through it, `backup` manifests and `dry-run
//! --pending` read applied migrations through it.
//!
//! Each tool is one file implementing [`ToolSpec`] from the tool's own source (cited in its
//! module docs); SQL literals and types that differ per engine come from
//! [`crate::engines::migrate::MigrateEngine`].

pub mod checksum;
mod dbmate;
mod diesel;
mod drizzle;
mod flyway;
mod golang_migrate;
mod goose;
mod migsafe;
mod pop;
mod prisma;
mod sqlx;

use crate::engines::conn::{Conn, TextRow};
use crate::engines::migrate::{LockKey, MigrateEngine};
use crate::engines::{EngineError, EngineKind};
use crate::migrations::{Layout, Migration};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// A migration tool whose history table migsafe reads and writes (migsafe's own table for
/// plain folders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    Sqlx,
    GolangMigrate,
    Dbmate,
    Goose,
    Flyway,
    Prisma,
    Diesel,
    Drizzle,
    Pop,
    Migsafe,
}

impl Tool {
    pub const ALL: [Tool; 10] = [
        Tool::Sqlx,
        Tool::GolangMigrate,
        Tool::Dbmate,
        Tool::Goose,
        Tool::Flyway,
        Tool::Prisma,
        Tool::Diesel,
        Tool::Drizzle,
        Tool::Pop,
        Tool::Migsafe,
    ];

    /// The tool that applies migrations of `layout`; `None` for layouts whose tool migsafe does
    /// not know the history table of.
    pub fn of(layout: Layout) -> Option<Tool> {
        #[allow(unreachable_patterns)]
        match layout {
            Layout::Sqlx => Some(Tool::Sqlx),
            Layout::GolangMigrate => Some(Tool::GolangMigrate),
            Layout::Dbmate => Some(Tool::Dbmate),
            Layout::Goose => Some(Tool::Goose),
            Layout::Flyway => Some(Tool::Flyway),
            Layout::Prisma => Some(Tool::Prisma),
            Layout::Diesel => Some(Tool::Diesel),
            Layout::Drizzle => Some(Tool::Drizzle),
            Layout::Pop => Some(Tool::Pop),
            Layout::Plain => Some(Tool::Migsafe),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Sqlx => "sqlx",
            Tool::GolangMigrate => "golang-migrate",
            Tool::Dbmate => "dbmate",
            Tool::Goose => "goose",
            Tool::Flyway => "flyway",
            Tool::Prisma => "prisma",
            Tool::Diesel => "diesel",
            Tool::Drizzle => "drizzle",
            Tool::Pop => "pop",
            Tool::Migsafe => "migsafe",
        }
    }

    pub fn spec(self) -> &'static dyn ToolSpec {
        match self {
            Tool::Sqlx => &sqlx::Sqlx,
            Tool::GolangMigrate => &golang_migrate::GolangMigrate,
            Tool::Dbmate => &dbmate::Dbmate,
            Tool::Goose => &goose::Goose,
            Tool::Flyway => &flyway::Flyway,
            Tool::Prisma => &prisma::Prisma,
            Tool::Diesel => &diesel::Diesel,
            Tool::Drizzle => &drizzle::Drizzle,
            Tool::Pop => &pop::Pop,
            Tool::Migsafe => &migsafe::Migsafe,
        }
    }
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a tool does with a migration older than the newest one applied that it has not
/// applied yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutOfOrder {
    /// Applies it (sqlx, dbmate, Prisma, Diesel).
    Runs,
    /// Refuses to migrate until told to (goose `--allow-missing`, Flyway `outOfOrder`).
    Refuses,
    /// Never applies it: it counts as applied (golang-migrate) or older than the last (Drizzle).
    Skips,
}

/// One migration file as the tool sees it: the raw bytes it hashes, and the names it derives.
#[derive(Debug, Clone)]
pub struct MigFile<'a> {
    pub m: &'a Migration,
    /// The file holding the up SQL, as it is on disk.
    pub raw: Vec<u8>,
    pub file_name: String,
    /// The folder the file is in (Prisma and Diesel name migrations after it).
    pub folder: String,
    /// Drizzle: `when` of the file's entry in `meta/_journal.json`.
    pub drizzle_when: Option<i64>,
    /// sqlx: `[migrate] ignored-chars` of the project's `sqlx.toml` (left out of the checksum).
    pub sqlx_ignored: Vec<char>,
    /// The path below the folder that holds all the files of the run (`v1.1/schema.sql`): what
    /// identifies a file of a plain folder, where versions repeat across subfolders.
    pub rel: String,
}

impl<'a> MigFile<'a> {
    /// Reads the file of `m` (once per command: checksums need the bytes as the tool reads them).
    pub fn load(m: &'a Migration) -> Result<MigFile<'a>, HistoryError> {
        let raw = std::fs::read(&m.path).map_err(|e| HistoryError::File {
            path: m.path.display().to_string(),
            message: e.to_string(),
        })?;
        let name = |p: Option<&Path>| {
            p.and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let file_name = name(Some(&m.path));
        let folder = name(m.path.parent());
        let drizzle_when = if m.layout == Layout::Drizzle {
            drizzle::journal_when(&m.path)
        } else {
            None
        };
        let sqlx_ignored = if m.layout == Layout::Sqlx {
            sqlx::ignored_chars(&m.path)?
        } else {
            Vec::new()
        };
        Ok(MigFile {
            m,
            raw,
            rel: file_name.clone(),
            file_name,
            folder,
            drizzle_when,
            sqlx_ignored,
        })
    }

    /// Reads the files of one run, each with its path below the folder that holds them all.
    pub fn load_all(migs: &'a [Migration]) -> Result<Vec<MigFile<'a>>, HistoryError> {
        let mut files = migs
            .iter()
            .map(MigFile::load)
            .collect::<Result<Vec<_>, _>>()?;
        let dirs: Vec<&Path> = migs.iter().filter_map(|m| m.path.parent()).collect();
        let Some(first) = dirs.first() else {
            return Ok(files);
        };
        let mut root: PathBuf = first.to_path_buf();
        while !dirs.iter().all(|d| d.starts_with(&root)) {
            if !root.pop() {
                break;
            }
        }
        for f in &mut files {
            if let Ok(r) = f.m.path.strip_prefix(&root) {
                f.rel = r
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
            }
        }
        Ok(files)
    }

    /// The file name without `.sql` (and without `.up`).
    pub fn stem(&self) -> &str {
        let s = self.file_name.as_str();
        let s = s.strip_suffix(".sql").unwrap_or(s);
        s.strip_suffix(".up").unwrap_or(s)
    }
}

/// The state of one row of a history table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryState {
    Applied,
    /// Started and not finished, or failed: the tool's dirty/failed state.
    Failed,
    /// Prisma `rolled_back_at`: marked as rolled back, to be applied again.
    RolledBack,
    /// Flyway `BASELINE`: everything up to this version counts as applied.
    Baseline,
}

/// One row of a history table, in the tool's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// What the tool matches files by (see [`ToolSpec::key`]).
    pub key: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// As text: hex for digests, decimal for Flyway's CRC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    pub state: EntryState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed_on: Option<String>,
}

/// A history table as read.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub tool: Tool,
    /// The table, qualified as queried.
    pub table: String,
    pub exists: bool,
    /// Rows in the tool's order, events folded (goose), markers dropped.
    pub entries: Vec<Entry>,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{path}: cannot read: {message}")]
    File { path: String, message: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("reading {table}: {message}")]
    Read { table: String, message: String },
    #[error("{0}")]
    Unsupported(String),
}

/// [`ToolSpec::repair`] of a tool that keeps no failed or dirty state: an entry that needs repair
/// can only be looked at by hand.
pub(super) fn no_failed_state(tool: &str, entry: &Entry) -> String {
    format!(
        "{tool} records no failed state; migration {} needs a look by hand",
        entry.version
    )
}

/// A tool's history table, from the tool's source. Every SQL text returned is complete: values
/// are literals in the engine's spelling (`e`).
pub trait ToolSpec: Sync {
    fn tool(&self) -> Tool;
    /// `(schema, table)`; `None` for the connection's current schema.
    fn table(&self, _kind: EngineKind) -> (Option<&'static str>, &'static str);
    /// The statements the tool runs to create its table, verbatim where the tool's DDL allows.
    fn create(&self, kind: EngineKind, e: &dyn MigrateEngine, table: &str) -> Vec<String>;
    /// Rows as `key, version, description, checksum, state, installed_on` (all text; state one
    /// of `applied`, `failed`, `rolled-back`, `baseline`, `skip`), in the tool's order.
    fn select(&self, kind: EngineKind, e: &dyn MigrateEngine, table: &str) -> String;
    /// Folds raw rows into entries (goose keeps events; the last one per version decides).
    fn fold(&self, rows: Vec<Entry>) -> Vec<Entry> {
        rows
    }
    /// What identifies `f` in the table.
    fn key(&self, f: &MigFile) -> String;
    /// The checksum the tool records for `f`, as text; `None` for tools without one.
    fn checksum(&self, _f: &MigFile) -> Option<String> {
        None
    }
    /// Whether `recorded` matches `f` the way the tool compares.
    fn matches(&self, f: &MigFile, recorded: &str) -> bool {
        self.checksum(f).is_none_or(|c| c == recorded)
    }
    /// The statements that record `f` as applied: run in the migration's own transaction when
    /// it has one, else right after its last statement.
    fn record(
        &self,
        kind: EngineKind,
        e: &dyn MigrateEngine,
        table: &str,
        f: &MigFile,
        elapsed_ms: u64,
    ) -> Vec<String>;
    /// The statements that mark `f` as in progress before a migration that cannot run
    /// atomically, in the tool's own dirty/failed form, so that a crash halfway leaves what the
    /// tool itself would have left; [`ToolSpec::record`] then replaces the mark. Empty for tools
    /// without such a state.
    fn start(
        &self,
        _kind: EngineKind,
        _e: &dyn MigrateEngine,
        _table: &str,
        _f: &MigFile,
    ) -> Vec<String> {
        Vec::new()
    }
    /// Removes the mark [`ToolSpec::start`] wrote (`migsafe recover --abort`).
    fn unstart(
        &self,
        _kind: EngineKind,
        _e: &dyn MigrateEngine,
        _table: &str,
        _f: &MigFile,
    ) -> Vec<String> {
        Vec::new()
    }
    /// The lock the tool takes while migrating `database` (current schema `schema`); `None`
    /// when it takes none (migsafe then takes its own).
    fn lock(&self, kind: EngineKind, database: &str, schema: &str) -> Option<LockKey>;
    /// The tool's own repair for a failed or dirty entry.
    fn repair(&self, entry: &Entry) -> String;
    fn out_of_order(&self) -> OutOfOrder;
    /// What the tool records as a checksum, in a few words (docs/status-apply.md).
    fn checksum_doc(&self) -> &'static str;
    /// How the tool marks a migration that started and did not finish (docs/status-apply.md).
    fn mark_doc(&self) -> &'static str;
}

/// One tool as `docs/status-apply.md` lists it, computed from its [`ToolSpec`].
#[derive(Debug, Clone)]
pub struct ToolReference {
    pub tool: Tool,
    pub layout: Layout,
    /// The table on PostgreSQL, MySQL/MariaDB and SQLite (in the current schema unless qualified).
    pub tables: [String; 3],
    pub checksum: &'static str,
    pub mark: &'static str,
    /// The tool's repair of a failed migration `N`.
    pub repair: String,
    /// The lock the tool takes (and migsafe with it) for database `app`, schema `public`.
    pub locks: [Option<String>; 3],
    pub out_of_order: OutOfOrder,
}

/// Every tool, for the reference in `docs/status-apply.md`.
pub fn reference() -> Vec<ToolReference> {
    let kinds = [EngineKind::Postgres, EngineKind::Mysql, EngineKind::Sqlite];
    Tool::ALL
        .iter()
        .map(|&tool| {
            let spec = tool.spec();
            let entry = Entry {
                key: "N".into(),
                version: "N".into(),
                description: None,
                checksum: None,
                state: EntryState::Failed,
                installed_on: None,
            };
            ToolReference {
                tool,
                layout: Layout::ALL
                    .into_iter()
                    .find(|&l| Tool::of(l) == Some(tool))
                    .unwrap_or(Layout::Plain),
                tables: kinds.map(|k| match spec.table(k) {
                    (Some(schema), name) => format!("{schema}.{name}"),
                    (None, name) => name.to_string(),
                }),
                checksum: spec.checksum_doc(),
                mark: spec.mark_doc(),
                repair: spec.repair(&entry),
                locks: kinds.map(|k| spec.lock(k, "app", "public").map(|l| l.to_string())),
                out_of_order: spec.out_of_order(),
            }
        })
        .collect()
}

/// Leading zeros do not matter (`00001` = `1`); other versions compare as written.
pub fn norm(v: &str) -> String {
    let v = v.trim();
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) {
        let t = v.trim_start_matches('0');
        if t.is_empty() { "0".into() } else { t.into() }
    } else {
        v.to_string()
    }
}

/// The table of `tool` on `kind`, qualified and quoted.
pub fn table_name(tool: Tool, kind: EngineKind) -> String {
    let (schema, name) = tool.spec().table(kind);
    kind.engine().migrate().qualified(schema, name)
}

/// Reads the history table of `tool`; a missing table is an empty, non-existent history.
pub async fn read(conn: &mut Conn, tool: Tool) -> Result<History, HistoryError> {
    let kind = conn.kind();
    let e = kind.engine().migrate();
    let spec = tool.spec();
    let (schema, name) = spec.table(kind);
    let table = table_name(tool, kind);
    let exists = e.table_exists(conn, schema, name).await?;
    if !exists {
        return Ok(History {
            tool,
            table,
            exists,
            entries: Vec::new(),
        });
    }
    let sql = spec.select(kind, e, &table);
    let (_, rows) = conn
        .query_text(&sql)
        .await
        .map_err(|err| HistoryError::Read {
            table: table.clone(),
            message: format!(
                "{err}; its columns are not the ones {tool} creates — is it {tool}'s table?"
            ),
        })?;
    let entries = spec.fold(rows.into_iter().filter_map(entry_of).collect());
    Ok(History {
        tool,
        table,
        exists,
        entries,
    })
}

fn entry_of(r: TextRow) -> Option<Entry> {
    let cell = |i: usize| r.get(i).cloned().flatten();
    let state = match cell(4).as_deref() {
        Some("applied") => EntryState::Applied,
        Some("failed") => EntryState::Failed,
        Some("rolled-back") => EntryState::RolledBack,
        Some("baseline") => EntryState::Baseline,
        _ => return None,
    };
    Some(Entry {
        key: cell(0)?,
        version: cell(1).unwrap_or_default(),
        description: cell(2),
        checksum: cell(3),
        state,
        installed_on: cell(5),
    })
}

/// Every known history table that exists in the database, read (backup manifests).
pub async fn read_all(conn: &mut Conn) -> Vec<History> {
    let mut out = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for tool in Tool::ALL {
        let name = table_name(tool, conn.kind());
        // dbmate and golang-migrate share `schema_migrations`: read it as the one whose
        // columns it has
        if seen.contains(&name) {
            continue;
        }
        if let Ok(h) = read(conn, tool).await
            && h.exists
        {
            seen.insert(name);
            out.push(h);
        }
    }
    out
}

/// What `status` says about one migration (or one history row without a file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Applied,
    Pending,
    /// Applied, and the file changed since (checksum mismatch).
    Modified,
    /// In the history, no file.
    Missing,
    /// The tool's dirty/failed state.
    Failed,
    /// Not applied, older than the newest applied migration.
    OutOfOrder,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Modified => "modified",
            State::Missing => "missing",
            State::Failed => "failed",
            State::OutOfOrder => "out-of-order",
        }
    }
}

/// One line of the comparison of files and history.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// Index into the files compared (`None` for a missing migration).
    #[serde(skip)]
    pub file: Option<usize>,
    pub key: String,
    pub version: String,
    pub description: String,
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_checksum: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_checksum: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed_on: Option<String>,
    /// What to do about a problem, in the tool's terms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Compares migration files (in the tool's order) with a history, the way the tool does.
pub fn compare(spec: &dyn ToolSpec, files: &[MigFile], h: &History) -> Vec<Line> {
    match spec.tool() {
        Tool::GolangMigrate => golang_migrate::compare(spec, files, h),
        Tool::Drizzle => drizzle::compare(spec, files, h),
        Tool::Pop => pop::compare(spec, files, h),
        _ => compare_by_key(spec, files, h),
    }
}

fn line_for(spec: &dyn ToolSpec, i: usize, f: &MigFile, state: State) -> Line {
    Line {
        file: Some(i),
        key: spec.key(f),
        version: f.m.version.clone(),
        description: f.m.description.clone(),
        state,
        file_checksum: spec.checksum(f),
        recorded_checksum: None,
        installed_on: None,
        note: None,
    }
}

fn missing_line(spec: &dyn ToolSpec, e: &Entry) -> Line {
    Line {
        file: None,
        key: e.key.clone(),
        version: e.version.clone(),
        description: e.description.clone().unwrap_or_default(),
        state: if e.state == EntryState::Failed {
            State::Failed
        } else {
            State::Missing
        },
        file_checksum: None,
        recorded_checksum: e.checksum.clone(),
        installed_on: e.installed_on.clone(),
        note: Some(if e.state == EntryState::Failed {
            spec.repair(e)
        } else {
            format!(
                "{} recorded it as applied but no file has it: restore the file, or check that the right folder and database are used",
                spec.tool()
            )
        }),
    }
}

/// The usual comparison: files and rows matched by key; the last row of a key decides.
fn compare_by_key(spec: &dyn ToolSpec, files: &[MigFile], h: &History) -> Vec<Line> {
    let mut by_key: HashMap<&str, &Entry> = HashMap::new();
    let mut baseline: Option<&Entry> = None;
    for e in &h.entries {
        if e.state == EntryState::Baseline {
            baseline = Some(e);
            continue;
        }
        by_key.insert(e.key.as_str(), e);
    }
    let keys: Vec<String> = files.iter().map(|f| spec.key(f)).collect();
    let last_applied = keys.iter().rposition(|k| {
        by_key
            .get(k.as_str())
            .is_some_and(|e| e.state != EntryState::RolledBack)
    });
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let key = &keys[i];
        let mut line = line_for(spec, i, f, State::Pending);
        match by_key.get(key.as_str()) {
            Some(e) if e.state == EntryState::RolledBack => {
                line.note = Some(format!(
                    "{} marked it rolled back: it is applied again",
                    spec.tool()
                ));
            }
            Some(e) => {
                line.recorded_checksum = e.checksum.clone();
                line.installed_on = e.installed_on.clone();
                if e.state == EntryState::Failed {
                    line.state = State::Failed;
                    line.note = Some(spec.repair(e));
                } else if e.checksum.as_deref().is_some_and(|c| !spec.matches(f, c)) {
                    if flyway::is_repeatable(f) {
                        line.state = State::Pending;
                        line.note = Some(
                            "a repeatable migration that changed: Flyway applies it again".into(),
                        );
                    } else {
                        line.state = State::Modified;
                        line.note = Some(format!(
                            "the file changed after it was applied ({} will refuse to go on): restore the applied version, or record the change with the tool's repair",
                            spec.tool()
                        ));
                    }
                } else {
                    line.state = State::Applied;
                }
            }
            None => {
                if let Some(b) = baseline.filter(|b| flyway::below_baseline(key, &b.key)) {
                    line.state = State::Applied;
                    line.note = Some(format!("at or below the baseline {}", b.version));
                } else if last_applied.is_some_and(|l| l > i) && !flyway::is_repeatable(f) {
                    line.state = match spec.out_of_order() {
                        OutOfOrder::Runs => State::Pending,
                        _ => State::OutOfOrder,
                    };
                    line.note = Some(match spec.out_of_order() {
                        OutOfOrder::Runs => format!(
                            "older than the newest applied migration; {} applies it anyway",
                            spec.tool()
                        ),
                        OutOfOrder::Refuses => format!(
                            "older than the newest applied migration: {} refuses to migrate until it is allowed to apply it out of order ({})",
                            spec.tool(),
                            out_of_order_flag(spec.tool())
                        ),
                        OutOfOrder::Skips => format!(
                            "older than the newest applied migration: {} never applies it; give it a newer version",
                            spec.tool()
                        ),
                    });
                }
            }
        }
        out.push(line);
    }
    let file_keys: HashSet<&str> = keys.iter().map(String::as_str).collect();
    for e in &h.entries {
        if e.state != EntryState::Baseline
            && e.state != EntryState::RolledBack
            && !file_keys.contains(e.key.as_str())
            && by_key
                .get(e.key.as_str())
                .is_some_and(|x| std::ptr::eq(*x, e))
        {
            out.push(missing_line(spec, e));
        }
    }
    out
}

fn out_of_order_flag(tool: Tool) -> &'static str {
    match tool {
        Tool::Goose => "`goose up --allow-missing`",
        Tool::Flyway => "`flyway migrate -outOfOrder=true`",
        _ => "the tool's out-of-order option",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layout_but_unknown_ones_has_a_tool() {
        for l in Layout::ALL {
            let t = Tool::of(l).unwrap();
            assert_eq!(t.spec().tool(), t);
        }
        assert_eq!(norm("0001"), "1");
        assert_eq!(norm("1.1"), "1.1");
    }
}
