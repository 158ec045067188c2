//! Finding migrations on disk: layouts, ordering, dialects, up/down sections, transaction
//! modes, checksums.
//!
//! The entry point is [`discover_with`]: it takes the PATH arguments of the command line
//! (files, folders or glob patterns), recognises the migration layout of each, the dialect of
//! each file, and returns the migrations in the order the migration tool would apply them, with
//! the files it set aside ([`Skipped`]: other dialects, replaced generic files, code migrations).
//!
//! Folder detection, first match wins (full rules in the `layout` module docs): a file with a
//! `-- migrate:up` line → dbmate; a `-- +goose Up` annotation → goose; `--> statement-breakpoint`
//! or `meta/_journal.json` → drizzle; a subfolder with `migration.sql` → prisma; with `up.sql` →
//! diesel; a `V…__`/`U…__`/`R__` file → flyway; `<int>_<name>.<database>.up.sql` → pop;
//! `.up.sql`/`.down.sql` files → golang-migrate if every file is one, else sqlx; any other SQL
//! files → plain; no SQL file of its own but some in subfolders → plain over the whole tree.
//! Hidden entries and non-SQL files are ignored; every remaining file must fit the chosen
//! layout.

pub mod dialect;
mod layout;
pub mod sections;
pub mod transaction;
#[cfg(test)]
mod trees;

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::sql::Dialect;
pub use transaction::{Transaction, TxMode, TxSetting};

/// A migration folder layout (DESIGN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Sqlx,
    GolangMigrate,
    Flyway,
    Dbmate,
    Goose,
    Prisma,
    Diesel,
    Drizzle,
    /// gobuffalo/pop and ory/popx: `<version>_<name>[.<database>].(up|down).sql`.
    Pop,
    Plain,
}

impl Layout {
    /// Every layout, in detection-report order.
    pub const ALL: [Layout; 10] = [
        Layout::Sqlx,
        Layout::GolangMigrate,
        Layout::Flyway,
        Layout::Dbmate,
        Layout::Goose,
        Layout::Prisma,
        Layout::Diesel,
        Layout::Drizzle,
        Layout::Pop,
        Layout::Plain,
    ];

    /// The layout's name as used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Sqlx => "sqlx",
            Layout::GolangMigrate => "golang-migrate",
            Layout::Flyway => "flyway",
            Layout::Dbmate => "dbmate",
            Layout::Goose => "goose",
            Layout::Prisma => "prisma",
            Layout::Diesel => "diesel",
            Layout::Drizzle => "drizzle",
            Layout::Pop => "pop",
            Layout::Plain => "plain",
        }
    }

    /// Parses a layout name (as returned by [`Layout::as_str`]); ASCII case and surrounding
    /// whitespace are ignored. Returns `None` for unknown names.
    pub fn parse(s: &str) -> Option<Layout> {
        let s = s.trim();
        Layout::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
    }

    /// The table in which the layout's migration tool records applied migrations.
    pub fn history_table(self) -> &'static str {
        match self {
            Layout::Sqlx => "_sqlx_migrations",
            Layout::GolangMigrate | Layout::Dbmate => "schema_migrations",
            Layout::Flyway => "flyway_schema_history",
            Layout::Goose => "goose_db_version",
            Layout::Prisma => "_prisma_migrations",
            Layout::Diesel => "__diesel_schema_migrations",
            Layout::Drizzle => "__drizzle_migrations",
            Layout::Pop => "schema_migration",
            Layout::Plain => "migsafe_schema_history",
        }
    }

    /// A short description of the file names the layout expects, for error messages.
    fn naming(self) -> &'static str {
        match self {
            Layout::Sqlx => "`<int>_<desc>.sql`, `<int>_<desc>.up.sql` or `<int>_<desc>.down.sql`",
            Layout::GolangMigrate => "`<int>_<title>.up.sql` or `<int>_<title>.down.sql`",
            Layout::Flyway => "`V<ver>__<desc>.sql`, `U<ver>__<desc>.sql` or `R__<desc>.sql`",
            Layout::Dbmate => "`<timestamp>_<name>.sql` with `-- migrate:up`",
            Layout::Goose => "`<version>_<name>.sql` with `-- +goose Up`",
            Layout::Prisma => "`<timestamp>_<name>/migration.sql` subfolders",
            Layout::Diesel => "`<timestamp>_<name>/up.sql` (and `down.sql`) subfolders",
            Layout::Drizzle => "`<nnnn>_<name>.sql`",
            Layout::Pop => "`<version>_<name>[.<database>][.autocommit].up.sql` or `.down.sql`",
            Layout::Plain => "any `.sql` file",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Up or down part of a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

/// SQL text of one direction: a byte range of the file's text, so line numbers stay file-relative.
#[derive(Debug, Clone)]
pub struct SqlSection {
    pub path: PathBuf,
    /// The whole file, shared with every section cut from it.
    pub text: Arc<str>,
    pub range: Range<usize>,
}

impl SqlSection {
    /// The SQL of this section (the `range` slice of `text`).
    pub fn sql(&self) -> &str {
        self.text.get(self.range.clone()).unwrap_or("")
    }
}

#[derive(Debug, Clone)]
pub struct Migration {
    pub layout: Layout,
    /// Version as the layout spells it (`20240101120000`, `1.2.3` for Flyway, `0001` …);
    /// empty for repeatable Flyway migrations and plain files without a number.
    pub version: String,
    pub description: String,
    /// The file that holds the up SQL.
    pub path: PathBuf,
    pub up: SqlSection,
    pub down: Option<SqlSection>,
    /// Whether the migrator wraps the up SQL in one transaction (for a multi-statement query:
    /// whether it runs all or nothing); [`Migration::tx`] says how and why.
    pub transaction: bool,
    /// How the migrator runs the file, and why migsafe believes so.
    pub tx: Transaction,
    /// sha256 hex of the file text with the BOM removed and CRLF/CR normalised to LF.
    pub checksum: String,
    /// The dialect the file is checked in.
    pub dialect: Dialect,
    /// Whether the file's name or folders name its dialect (else it is a generic file).
    pub dialect_named: bool,
}

/// A file discovery found but set aside, with the reason. Reports list them so that nothing is
/// dropped silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    /// The database the file is written for, when its path names one.
    pub dialect: Option<String>,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Written for a dialect the run does not check (`--dialect` selects another).
    OtherDialect,
    /// Written for a database migsafe does not check (CockroachDB, SQL Server, …).
    UnsupportedDialect,
    /// A generic file whose variants replace it in every dialect the run checks.
    Replaced { by: Vec<PathBuf> },
    /// A Drizzle file that `meta/_journal.json` does not list: drizzle does not apply it.
    NotInJournal,
    /// A migration the tool runs that is not SQL (goose `.go`, pop `.fizz`).
    NotSql,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::OtherDialect => {
                f.write_str("written for another dialect than the one checked")
            }
            SkipReason::UnsupportedDialect => {
                f.write_str("written for a database migsafe does not check")
            }
            SkipReason::Replaced { by } => {
                let names: Vec<String> = by
                    .iter()
                    .map(|p| {
                        p.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_else(|| p.display().to_string())
                    })
                    .collect();
                write!(f, "replaced by its dialect variant {}", names.join(", "))
            }
            SkipReason::NotInJournal => {
                f.write_str("not listed in meta/_journal.json, so drizzle does not apply it")
            }
            SkipReason::NotSql => {
                f.write_str("not SQL (a code migration), so migsafe cannot check it")
            }
        }
    }
}

impl SkipReason {
    /// A stable machine name for JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            SkipReason::OtherDialect => "other_dialect",
            SkipReason::UnsupportedDialect => "unsupported_dialect",
            SkipReason::Replaced { .. } => "replaced_by_variant",
            SkipReason::NotInJournal => "not_in_journal",
            SkipReason::NotSql => "not_sql",
        }
    }
}

/// What [`discover_with`] needs besides the paths.
#[derive(Debug, Clone)]
pub struct DiscoverOptions {
    /// Force a layout instead of detecting it.
    pub layout: Option<Layout>,
    /// Check only this dialect: files written for others are skipped. `None` checks every
    /// dialect the files name.
    pub dialect: Option<Dialect>,
    /// The dialect of generic files in folders where no file names one.
    pub default_dialect: Dialect,
    /// `[migrations] transaction` from the config.
    pub transaction: TxSetting,
}

impl Default for DiscoverOptions {
    fn default() -> Self {
        DiscoverOptions {
            layout: None,
            dialect: None,
            default_dialect: Dialect::Postgres,
            transaction: TxSetting::Auto,
        }
    }
}

/// The migrations to check, in order, and the files set aside.
#[derive(Debug, Default)]
pub struct Discovery {
    pub migrations: Vec<Migration>,
    pub skipped: Vec<Skipped>,
}

impl Discovery {
    /// The dialects the migrations are checked in, in order of first appearance.
    pub fn dialects(&self) -> Vec<Dialect> {
        let mut out: Vec<Dialect> = Vec::new();
        for m in &self.migrations {
            if !out.contains(&m.dialect) {
                out.push(m.dialect);
            }
        }
        out
    }
}

/// Why [`discover`] could not produce the migration list. Every message names the offending
/// path (and line where relevant) and says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// A PATH argument (or a file it names) does not exist.
    #[error("{}: no such file or folder; check the path", .path.display())]
    NotFound { path: PathBuf },

    /// A file or folder exists but cannot be read (permissions, a dangling symlink, a folder
    /// where a file is expected, …).
    #[error(
        "{}: cannot read: {source}; make sure it is a readable file or folder",
        .path.display()
    )]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A file is not valid UTF-8; `byte` is the 0-based offset of the first invalid byte.
    #[error(
        "{}: not UTF-8 text (byte {byte}); migsafe reads SQL files as UTF-8, re-save the file as UTF-8",
        .path.display()
    )]
    NotUtf8 { path: PathBuf, byte: usize },

    /// A folder (or forced layout) yielded no migrations.
    #[error(
        "{}: no .sql migration files found (layouts tried: {}); point migsafe at the folder that holds the migrations",
        .path.display(),
        layout_list(.tried)
    )]
    NoMigrations { path: PathBuf, tried: Vec<Layout> },

    /// A glob pattern matched no `.sql` file and no folder.
    #[error("{pattern}: glob pattern matched no .sql files or folders; check the pattern")]
    GlobNoMatch { pattern: String },

    /// A PATH looked like a glob pattern but is not a valid one.
    #[error(
        "{pattern}: invalid glob pattern ({message}); fix the pattern, writing a literal `[` as `[[]`"
    )]
    BadGlob { pattern: String, message: String },

    /// Two migrations of one folder (or glob) share a version.
    #[error(
        "{} and {}: both define migration {version}; give every migration a unique version",
        .first.display(),
        .second.display()
    )]
    DuplicateVersion {
        /// The clashing version (`R__<description>` for Flyway repeatable migrations).
        version: String,
        first: PathBuf,
        second: PathBuf,
    },

    /// A down (or Flyway undo) file whose version has no up migration.
    #[error(
        "{}: down migration for version {version} has no matching up migration; add the up migration or remove this file",
        .path.display()
    )]
    OrphanDown { path: PathBuf, version: String },

    /// A goose migration without a `-- +goose Up` annotation.
    #[error(
        "{}: goose migration has no `-- +goose Up` annotation; add `-- +goose Up` on its own line before the up SQL",
        .path.display()
    )]
    GooseMissingUp { path: PathBuf },

    /// A dbmate migration without a `-- migrate:up` line.
    #[error(
        "{}: dbmate migration has no `-- migrate:up` line; add `-- migrate:up` on its own line before the up SQL",
        .path.display()
    )]
    DbmateMissingUp { path: PathBuf },

    /// A malformed directive or section marker (duplicate markers, unbalanced goose
    /// `StatementBegin`/`StatementEnd`, unknown goose annotation, bad Diesel `metadata.toml`).
    /// `message` says what is wrong and what to do.
    #[error("{}:{line}: {message}", .path.display())]
    BadDirective {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// `[migrations] transaction` set for a layout whose migrator decides per file.
    #[error(
        "{}: `[migrations] transaction = \"{setting}\"` does not apply to the {layout} layout: {}; remove the setting from migsafe.toml",
        .path.display(),
        transaction::fixed_behaviour(*.layout)
    )]
    TransactionSetting {
        path: PathBuf,
        layout: Layout,
        setting: &'static str,
    },

    /// Every file found was set aside (written for other dialects, replaced, not SQL).
    #[error(
        "{}: none of the {count} migration files found is checked ({reasons}); {hint}",
        .path.display()
    )]
    NothingToCheck {
        path: PathBuf,
        count: usize,
        reasons: String,
        hint: String,
    },

    /// A file (or subfolder) that does not fit the detected or forced layout.
    #[error(
        "{}: does not match the {layout} layout ({how}; expected {}); rename or move it, or select a different layout",
        .path.display(),
        .layout.naming(),
        how = if *.forced { "forced" } else { "detected" }
    )]
    LayoutMismatch {
        path: PathBuf,
        layout: Layout,
        /// Whether the layout was forced by the caller (as opposed to auto-detected).
        forced: bool,
    },
}

fn layout_list(layouts: &[Layout]) -> String {
    layouts
        .iter()
        .map(|l| l.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// sha256 (lower-case hex) of `text` after removing a leading UTF-8 BOM and converting CRLF and
/// lone CR line endings to LF, so the checksum does not depend on the editor's line endings.
pub fn checksum(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut hasher = Sha256::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' {
            hasher.update(&bytes[start..i]);
            hasher.update(b"\n");
            i += if bytes.get(i + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            start = i;
        } else {
            i += 1;
        }
    }
    hasher.update(&bytes[start..]);
    crate::sys::hex::hex(&hasher.finalize())
}

/// Finds the migrations named by `paths`, in application order.
///
/// Each PATH is
/// * an existing **file**: exactly one migration (layout detected from its name and contents,
///   see the `layout` module docs);
/// * an existing **folder**: every migration in it, layout auto-detected unless forced;
/// * otherwise, if it contains `*`, `?` or `[`, a **glob pattern**: the matches are sorted;
///   matched folders are scanned like folder PATHs, matched SQL files (hidden and non-SQL
///   files are skipped) form one set that is detected and ordered like the contents of a folder
///   (a set of exactly one file is handled like a file PATH). The set takes the position of
///   its first file among the sorted matches.
///
/// The results of several PATHs are concatenated in the order given, each internally ordered
/// (dialect by dialect when a folder holds several); duplicate versions are only reported
/// within one PATH. When files were found but every one was set aside, that is an error
/// ([`DiscoverError::NothingToCheck`]) saying why.
pub fn discover_with(
    paths: &[PathBuf],
    options: &DiscoverOptions,
) -> Result<Discovery, DiscoverError> {
    let opts = layout::Opts {
        forced: options.layout,
        select: options.dialect,
        default: options.default_dialect,
        tx: options.transaction,
    };
    let mut found = layout::Found::default();
    for path in paths {
        discover_one(path, &opts, &mut found)?;
    }
    if found.migrations.is_empty()
        && let (Some(first), Some(path)) = (found.skipped.first(), paths.first())
    {
        let mut by_reason: Vec<(String, usize)> = Vec::new();
        for s in &found.skipped {
            let label = match (&s.reason, &s.dialect) {
                (SkipReason::OtherDialect | SkipReason::UnsupportedDialect, Some(d)) => {
                    format!("written for {d}")
                }
                (reason, _) => reason.to_string(),
            };
            match by_reason.iter_mut().find(|(l, _)| *l == label) {
                Some((_, n)) => *n += 1,
                None => by_reason.push((label, 1)),
            }
        }
        let hint = match (&first.reason, &first.dialect, options.dialect) {
            (SkipReason::OtherDialect, Some(d), Some(selected)) => format!(
                "the run checks {} only; pass `--dialect {d}` (or change `dialect` in migsafe.toml)",
                selected.as_str()
            ),
            (SkipReason::UnsupportedDialect, Some(d), _) => format!(
                "migsafe checks PostgreSQL, MySQL/MariaDB and SQLite, not {d}; point it at the files of one of those"
            ),
            _ => "point migsafe at the SQL migrations".to_string(),
        };
        return Err(DiscoverError::NothingToCheck {
            path: path.clone(),
            count: found.skipped.len(),
            reasons: by_reason
                .iter()
                .map(|(l, n)| format!("{n} {l}"))
                .collect::<Vec<_>>()
                .join(", "),
            hint,
        });
    }
    Ok(Discovery {
        migrations: found.migrations,
        skipped: found.skipped,
    })
}

/// [`discover_with`] with every dialect checked (generic files as PostgreSQL), the
/// transaction modes the migrators use by default, and the skipped files dropped: for callers
/// that only need the migrations.
pub fn discover(
    paths: &[PathBuf],
    forced: Option<Layout>,
) -> Result<Vec<Migration>, DiscoverError> {
    let options = DiscoverOptions {
        layout: forced,
        ..DiscoverOptions::default()
    };
    Ok(discover_with(paths, &options)?.migrations)
}

fn discover_one(
    path: &Path,
    opts: &layout::Opts,
    out: &mut layout::Found,
) -> Result<(), DiscoverError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => discover_existing(path, opts, out),
        Err(err) if err.kind() == io::ErrorKind::NotFound => match path.to_str() {
            Some(pattern) if is_glob(pattern) => discover_glob(pattern, opts, out),
            _ => Err(DiscoverError::NotFound {
                path: path.to_path_buf(),
            }),
        },
        Err(source) => Err(DiscoverError::Unreadable {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// `path` exists (possibly as a dangling symlink, which is then read as a file and reported
/// as unreadable).
fn discover_existing(
    path: &Path,
    opts: &layout::Opts,
    out: &mut layout::Found,
) -> Result<(), DiscoverError> {
    let found = if path.is_dir() {
        layout::discover_folder(path, opts)?
    } else {
        layout::discover_file(path, opts)?
    };
    out.extend(found);
    Ok(())
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn discover_glob(
    pattern: &str,
    opts: &layout::Opts,
    out: &mut layout::Found,
) -> Result<(), DiscoverError> {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let paths = glob::glob_with(pattern, options).map_err(|err| DiscoverError::BadGlob {
        pattern: pattern.to_string(),
        message: err.to_string(),
    })?;
    let mut matches = Vec::new();
    for entry in paths {
        match entry {
            Ok(p) => matches.push(p),
            Err(err) => {
                let path = err.path().to_path_buf();
                return Err(DiscoverError::Unreadable {
                    path,
                    source: io::Error::from(err),
                });
            }
        }
    }
    matches.sort_by(|a, b| layout::natural_path_cmp(a, b));

    // Folders are scanned one by one; files form one set, placed where its first file sorts.
    enum Item {
        Folder(PathBuf),
        Files,
    }
    let mut items = Vec::new();
    let mut files = Vec::new();
    for m in matches {
        if layout::is_hidden(&m) {
            continue;
        }
        if m.is_dir() {
            items.push(Item::Folder(m));
        } else if layout::has_sql_extension(&m) {
            if files.is_empty() {
                items.push(Item::Files);
            }
            files.push(m);
        }
    }
    if items.is_empty() {
        return Err(DiscoverError::GlobNoMatch {
            pattern: pattern.to_string(),
        });
    }
    let mut files = Some(files);
    for item in items {
        let found = match item {
            Item::Folder(dir) => layout::discover_folder(&dir, opts)?,
            Item::Files => {
                let files = files.take().unwrap_or_default();
                if let [single] = files.as_slice() {
                    layout::discover_file(single, opts)?
                } else {
                    layout::discover_file_set(&files, opts)?
                }
            }
        };
        out.extend(found);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/migrations");

    fn fixture(rel: &str) -> PathBuf {
        Path::new(FIXTURES).join(rel)
    }

    fn discover_one_path(path: impl Into<PathBuf>) -> Result<Vec<Migration>, DiscoverError> {
        discover(&[path.into()], None)
    }

    fn versions(ms: &[Migration]) -> Vec<&str> {
        ms.iter().map(|m| m.version.as_str()).collect()
    }

    fn descriptions(ms: &[Migration]) -> Vec<&str> {
        ms.iter().map(|m| m.description.as_str()).collect()
    }

    fn transactions(ms: &[Migration]) -> Vec<bool> {
        ms.iter().map(|m| m.transaction).collect()
    }

    /// `parent/name` of each migration, in order.
    pub(super) fn file_names(ms: &[Migration]) -> Vec<String> {
        ms.iter()
            .map(|m| {
                let name = m.path.file_name().unwrap().to_string_lossy();
                let parent = m
                    .path
                    .parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy();
                format!("{parent}/{name}")
            })
            .collect()
    }

    fn write(dir: &Path, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        path
    }

    /// Every section must be a valid char-boundary range of its text.
    fn assert_sections_valid(ms: &[Migration]) {
        for m in ms {
            for s in std::iter::once(&m.up).chain(m.down.as_ref()) {
                assert!(s.range.start <= s.range.end && s.range.end <= s.text.len());
                assert!(s.text.get(s.range.clone()).is_some(), "{:?}", s.range);
                assert!(!s.text.starts_with('\u{feff}'));
            }
        }
    }

    // ---- Layout ------------------------------------------------------------------------------

    #[test]
    fn layout_names_round_trip() {
        let names: Vec<&str> = Layout::ALL.iter().map(|l| l.as_str()).collect();
        assert_eq!(
            names,
            [
                "sqlx",
                "golang-migrate",
                "flyway",
                "dbmate",
                "goose",
                "prisma",
                "diesel",
                "drizzle",
                "pop",
                "plain"
            ]
        );
        for layout in Layout::ALL {
            assert_eq!(Layout::parse(layout.as_str()), Some(layout));
            assert_eq!(layout.to_string(), layout.as_str());
        }
        assert_eq!(
            Layout::parse(" Golang-Migrate "),
            Some(Layout::GolangMigrate)
        );
        assert_eq!(Layout::parse("golang_migrate"), None);
        assert_eq!(Layout::parse(""), None);
    }

    #[test]
    fn history_tables() {
        let tables: Vec<&str> = Layout::ALL.iter().map(|l| l.history_table()).collect();
        assert_eq!(
            tables,
            [
                "_sqlx_migrations",
                "schema_migrations",
                "flyway_schema_history",
                "schema_migrations",
                "goose_db_version",
                "_prisma_migrations",
                "__diesel_schema_migrations",
                "__drizzle_migrations",
                "schema_migration",
                "migsafe_schema_history"
            ]
        );
    }

    // ---- checksum ----------------------------------------------------------------------------

    #[test]
    fn checksum_known_values() {
        assert_eq!(
            checksum(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            checksum("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn checksum_normalises_line_endings_and_bom() {
        let lf = checksum("SELECT 1;\nSELECT 2;\n\nSELECT 3;");
        assert_eq!(checksum("SELECT 1;\r\nSELECT 2;\r\n\r\nSELECT 3;"), lf);
        assert_eq!(checksum("SELECT 1;\rSELECT 2;\r\rSELECT 3;"), lf);
        assert_eq!(checksum("\u{feff}SELECT 1;\r\nSELECT 2;\n\rSELECT 3;"), lf);
        assert_ne!(checksum("SELECT 1;\nSELECT 2;\nSELECT 3;"), lf);
        assert_eq!(checksum("a\r"), checksum("a\n"));
        assert_ne!(checksum("a\n\n"), checksum("a\n"));
    }

    #[test]
    fn bom_and_crlf_files_share_checksum_and_keep_valid_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(
            dir.path(),
            "a/1_x.sql",
            "\u{feff}-- migrate:up\r\nCREATE TABLE é (id int);\r\n-- migrate:down\r\nDROP TABLE é;\r\n",
        );
        let b = write(
            dir.path(),
            "b/1_x.sql",
            "-- migrate:up\nCREATE TABLE é (id int);\n-- migrate:down\nDROP TABLE é;\n",
        );
        let ma = discover_one_path(a).unwrap();
        let mb = discover_one_path(b).unwrap();
        assert_eq!(ma[0].layout, Layout::Dbmate);
        assert_eq!(ma[0].checksum, mb[0].checksum);
        assert!(!ma[0].up.text.starts_with('\u{feff}'));
        assert_eq!(ma[0].up.sql(), "CREATE TABLE é (id int);\r\n");
        assert_eq!(ma[0].down.as_ref().unwrap().sql(), "DROP TABLE é;\r\n");
        assert_eq!(mb[0].up.sql(), "CREATE TABLE é (id int);\n");
        assert_sections_valid(&ma);
        assert_sections_valid(&mb);
    }

    // ---- fixtures ----------------------------------------------------------------------------

    #[test]
    fn sqlx_fixture() {
        let ms = discover_one_path(fixture("sqlx")).unwrap();
        assert!(ms.iter().all(|m| m.layout == Layout::Sqlx));
        assert_eq!(versions(&ms), ["1", "2", "10"]);
        assert_eq!(
            descriptions(&ms),
            ["create users", "add email", "add users email index"]
        );
        assert_eq!(transactions(&ms), [true, true, false]);
        assert_eq!(ms[1].up.sql(), "ALTER TABLE users ADD COLUMN email text;\n");
        let down = ms[1].down.as_ref().unwrap();
        assert!(down.path.ends_with("sqlx/2_add_email.down.sql"));
        assert_eq!(down.sql(), "ALTER TABLE users DROP COLUMN email;\n");
        assert!(ms[0].down.is_none() && ms[2].down.is_none());
        // The checksum covers the up file only.
        assert_eq!(
            ms[1].checksum,
            checksum("ALTER TABLE users ADD COLUMN email text;\n")
        );
        assert_sections_valid(&ms);
    }

    #[test]
    fn golang_migrate_fixture() {
        let ms = discover_one_path(fixture("golang-migrate")).unwrap();
        assert!(ms.iter().all(|m| m.layout == Layout::GolangMigrate));
        assert_eq!(versions(&ms), ["1", "2", "10"]);
        assert_eq!(
            descriptions(&ms),
            ["create accounts", "add currency", "create transfers"]
        );
        assert_eq!(transactions(&ms), [true, true, true]);
        assert_eq!(
            ms[0].down.as_ref().unwrap().sql(),
            "DROP TABLE IF EXISTS accounts;\n"
        );
        assert!(ms[0].path.ends_with("1_create_accounts.up.sql"));
        assert!(ms[2].down.is_none());
    }

    #[test]
    fn flyway_fixture() {
        let ms = discover_one_path(fixture("flyway")).unwrap();
        assert!(ms.iter().all(|m| m.layout == Layout::Flyway));
        assert_eq!(versions(&ms), ["1", "1.1", "2", ""]);
        assert_eq!(
            descriptions(&ms),
            [
                "create customers",
                "add customer email",
                "create orders",
                "customer summary view"
            ]
        );
        let undo = ms[1].down.as_ref().unwrap();
        assert!(undo.path.ends_with("U1_1__add_customer_email.sql"));
        assert_eq!(undo.sql(), "ALTER TABLE customers DROP COLUMN email;\n");
        assert!(ms[0].down.is_none() && ms[3].down.is_none());
        assert!(ms[3].path.ends_with("R__customer_summary_view.sql"));
        assert_eq!(transactions(&ms), [true; 4]);
    }

    #[test]
    fn dbmate_fixture() {
        let ms = discover_one_path(fixture("dbmate")).unwrap();
        assert!(ms.iter().all(|m| m.layout == Layout::Dbmate));
        assert_eq!(
            versions(&ms),
            ["20240101120000", "20240102090000", "20240103100000"]
        );
        assert_eq!(
            descriptions(&ms),
            [
                "create projects",
                "add projects owner index",
                "add archived at"
            ]
        );
        assert_eq!(transactions(&ms), [true, false, true]);
        assert_eq!(
            ms[0].up.sql(),
            "CREATE TABLE projects (\n    id       bigserial PRIMARY KEY,\n    name     text NOT NULL,\n    owner_id bigint NOT NULL\n);\n\n"
        );
        assert_eq!(ms[0].down.as_ref().unwrap().sql(), "DROP TABLE projects;\n");
        // Text before the first marker is not part of any section; ranges stay file-relative.
        assert_eq!(
            ms[2].up.sql(),
            "ALTER TABLE projects ADD COLUMN archived_at timestamptz;\n\n"
        );
        assert_eq!(
            ms[2].up.range.start,
            "-- Soft delete for projects.\n\n-- migrate:up\n".len()
        );
        assert!(Arc::ptr_eq(
            &ms[2].up.text,
            &ms[2].down.as_ref().unwrap().text
        ));
        assert_eq!(ms[2].checksum, checksum(&ms[2].up.text));
        assert_sections_valid(&ms);
    }

    #[test]
    fn goose_fixture() {
        let ms = discover_one_path(fixture("goose")).unwrap();
        assert!(ms.iter().all(|m| m.layout == Layout::Goose));
        assert_eq!(versions(&ms), ["00001", "00002", "00003"]);
        assert_eq!(
            descriptions(&ms),
            [
                "create events",
                "add updated at trigger",
                "add events kind index"
            ]
        );
        assert_eq!(transactions(&ms), [true, true, false]);
        assert_eq!(ms[0].down.as_ref().unwrap().sql(), "DROP TABLE events;\n");
        let up = ms[1].up.sql();
        assert!(
            up.starts_with("ALTER TABLE events ADD COLUMN updated_at"),
            "{up}"
        );
        assert!(
            up.contains("-- +goose StatementBegin\nCREATE OR REPLACE FUNCTION set_updated_at()")
        );
        assert!(
            up.ends_with("FOR EACH ROW EXECUTE FUNCTION set_updated_at();\n\n"),
            "{up}"
        );
        assert_eq!(
            ms[2].up.sql(),
            "CREATE INDEX CONCURRENTLY events_kind_idx ON events (kind);\n\n"
        );
        assert_sections_valid(&ms);
    }

    #[test]
    fn prisma_fixture() {
        let ms = discover_one_path(fixture("prisma")).unwrap();
        assert!(ms.iter().all(|m| m.layout == Layout::Prisma));
        assert_eq!(versions(&ms), ["20240101120000", "20240215093000"]);
        assert_eq!(descriptions(&ms), ["init", "add posts"]);
        assert_eq!(
            file_names(&ms),
            [
                "20240101120000_init/migration.sql",
                "20240215093000_add_posts/migration.sql"
            ]
        );
        assert!(ms.iter().all(|m| m.down.is_none() && m.transaction));
        assert!(
            ms[0]
                .up
                .sql()
                .starts_with("-- CreateTable\nCREATE TABLE \"User\"")
        );
        assert_eq!(ms[0].up.range, 0..ms[0].up.text.len());
    }

    #[test]
    fn diesel_fixture() {
        let ms = discover_one_path(fixture("diesel")).unwrap();
        assert!(ms.iter().all(|m| m.layout == Layout::Diesel));
        assert_eq!(
            versions(&ms),
            ["00000000000000", "20240115093000", "20240201120000"]
        );
        assert_eq!(
            descriptions(&ms),
            [
                "diesel initial setup",
                "create users",
                "add users email index"
            ]
        );
        assert_eq!(transactions(&ms), [true, true, false]);
        assert_eq!(ms[1].down.as_ref().unwrap().sql(), "DROP TABLE users;\n");
        assert!(
            ms[1]
                .down
                .as_ref()
                .unwrap()
                .path
                .ends_with("2024-01-15-093000_create_users/down.sql")
        );
        assert_eq!(
            ms[2].up.sql(),
            "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n"
        );
    }

    #[test]
    fn drizzle_fixture() {
        let ms = discover_one_path(fixture("drizzle")).unwrap();
        assert!(ms.iter().all(|m| m.layout == Layout::Drizzle));
        assert_eq!(versions(&ms), ["0000", "0001"]);
        assert_eq!(descriptions(&ms), ["wise hulk", "brave storm"]);
        assert!(ms.iter().all(|m| m.down.is_none() && m.transaction));
        assert!(ms[1].up.sql().starts_with(
            "ALTER TABLE \"books\" ADD COLUMN \"published_at\" timestamp;--> statement-breakpoint\n"
        ));
    }

    #[test]
    fn drizzle_journal_alone_is_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "0000_init.sql", "CREATE TABLE a (id int);\n");
        write(
            dir.path(),
            "meta/_journal.json",
            r#"{"entries": [{"idx": 0, "tag": "0000_init"}]}"#,
        );
        let ms = discover_one_path(dir.path()).unwrap();
        assert_eq!(ms[0].layout, Layout::Drizzle);
        // a journal drizzle-kit could not read is an error naming it
        write(dir.path(), "meta/_journal.json", "{}");
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::BadDirective { path, .. } if path.ends_with("meta/_journal.json")),
            "{err}"
        );
        fs::remove_file(dir.path().join("meta/_journal.json")).unwrap();
        let ms = discover_one_path(dir.path()).unwrap();
        assert_eq!(ms[0].layout, Layout::Plain);
    }

    #[test]
    fn plain_fixture() {
        let ms = discover_one_path(fixture("plain")).unwrap();
        assert!(ms.iter().all(|m| m.layout == Layout::Plain));
        assert_eq!(versions(&ms), ["1", "2", "10"]);
        assert_eq!(descriptions(&ms), ["schema", "seed roles", "add audit log"]);
        // plain SQL runs statement by statement unless the config says otherwise
        assert!(ms.iter().all(|m| m.down.is_none() && !m.transaction));
        assert!(
            ms.iter()
                .all(|m| m.tx.origin == transaction::TxOrigin::Default)
        );
    }

    #[test]
    fn every_fixture_folder_is_detected() {
        for layout in Layout::ALL {
            let ms = discover_one_path(fixture(layout.as_str())).unwrap();
            assert!(ms.len() >= 2, "{layout}");
            assert!(ms.iter().all(|m| m.layout == layout), "{layout}");
            assert_sections_valid(&ms);
            for m in &ms {
                assert_eq!(m.checksum.len(), 64);
                assert_eq!(m.checksum, checksum(&m.up.text));
            }
        }
    }

    // ---- PATH forms --------------------------------------------------------------------------

    #[test]
    fn several_paths_concatenate_in_order() {
        let ms = discover(&[fixture("plain"), fixture("flyway")], None).unwrap();
        assert_eq!(versions(&ms), ["1", "2", "10", "1", "1.1", "2", ""]);
        assert_eq!(ms[2].layout, Layout::Plain);
        assert_eq!(ms[3].layout, Layout::Flyway);
        assert!(discover(&[], None).unwrap().is_empty());
    }

    #[test]
    fn glob_of_files_behaves_like_the_folder() {
        let pattern = format!("{FIXTURES}/sqlx/*.sql");
        let ms = discover_one_path(pattern).unwrap();
        assert!(ms.iter().all(|m| m.layout == Layout::Sqlx));
        assert_eq!(versions(&ms), ["1", "2", "10"]);
        assert!(ms[1].down.is_some());

        // Only the up files: the down file is still found beside them.
        let ms = discover_one_path(format!("{FIXTURES}/golang-migrate/*.up.sql")).unwrap();
        assert!(ms.iter().all(|m| m.layout == Layout::GolangMigrate));
        assert_eq!(versions(&ms), ["1", "2", "10"]);
        assert_eq!(
            ms[1].down.as_ref().unwrap().sql(),
            "ALTER TABLE accounts DROP COLUMN currency;\n"
        );
    }

    #[test]
    fn glob_of_folders_and_subfolder_files() {
        let ms = discover_one_path(format!("{FIXTURES}/p[lr]*")).unwrap();
        let layouts: Vec<Layout> = ms.iter().map(|m| m.layout).collect();
        assert_eq!(
            layouts,
            [
                Layout::Plain,
                Layout::Plain,
                Layout::Plain,
                Layout::Prisma,
                Layout::Prisma
            ]
        );

        let ms = discover_one_path(format!("{FIXTURES}/diesel/*/up.sql")).unwrap();
        assert!(ms.iter().all(|m| m.layout == Layout::Diesel));
        assert_eq!(versions(&ms).len(), 3);
        assert_eq!(transactions(&ms), [true, true, false]);
        assert!(ms[1].down.is_some());
    }

    #[test]
    fn glob_with_one_file_is_a_single_file() {
        let ms = discover_one_path(format!("{FIXTURES}/sqlx/2_*.down.sql")).unwrap();
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].up.sql(), "ALTER TABLE users DROP COLUMN email;\n");
        assert!(ms[0].down.is_none());
    }

    #[test]
    fn glob_skips_hidden_and_non_sql_files() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "1_a.sql", "SELECT 1;");
        write(dir.path(), ".2_b.sql", "SELECT 2;");
        write(dir.path(), "notes.txt", "hello");
        let pattern = format!("{}/*", dir.path().display());
        let ms = discover_one_path(pattern).unwrap();
        assert_eq!(ms.len(), 1);
        assert!(ms[0].path.ends_with("1_a.sql"));
    }

    #[test]
    fn single_files() {
        let ms = discover_one_path(fixture("flyway/V1_1__add_customer_email.sql")).unwrap();
        assert_eq!(ms.len(), 1);
        assert_eq!(
            (ms[0].layout, ms[0].version.as_str()),
            (Layout::Flyway, "1.1")
        );
        assert!(ms[0].down.is_none());

        let ms = discover_one_path(fixture(
            "dbmate/20240102090000_add_projects_owner_index.sql",
        ))
        .unwrap();
        assert_eq!(ms[0].layout, Layout::Dbmate);
        assert!(!ms[0].transaction);

        let ms = discover_one_path(fixture("goose/00001_create_events.sql")).unwrap();
        assert_eq!(ms[0].layout, Layout::Goose);

        let ms = discover_one_path(fixture("sqlx/2_add_email.up.sql")).unwrap();
        assert_eq!(ms[0].layout, Layout::GolangMigrate);
        assert_eq!(
            ms[0].down.as_ref().unwrap().sql(),
            "ALTER TABLE users DROP COLUMN email;\n"
        );

        // A down file given on its own: its text is the up section.
        let ms = discover_one_path(fixture("sqlx/2_add_email.down.sql")).unwrap();
        assert_eq!(ms[0].version, "2");
        assert_eq!(ms[0].up.sql(), "ALTER TABLE users DROP COLUMN email;\n");
        assert!(ms[0].path.ends_with("2_add_email.down.sql"));
        assert!(ms[0].down.is_none());

        let ms = discover_one_path(fixture("flyway/U1_1__add_customer_email.sql")).unwrap();
        assert_eq!(ms[0].layout, Layout::Flyway);
        assert_eq!(ms[0].up.sql(), "ALTER TABLE customers DROP COLUMN email;\n");

        let ms = discover_one_path(fixture("sqlx/10_add_users_email_index.sql")).unwrap();
        assert_eq!(
            (ms[0].layout, ms[0].version.as_str()),
            (Layout::Plain, "10")
        );
        assert!(!ms[0].transaction);

        let ms = discover_one_path(fixture("drizzle/0001_brave_storm.sql")).unwrap();
        assert_eq!(ms[0].layout, Layout::Drizzle);

        let ms =
            discover_one_path(fixture("prisma/20240215093000_add_posts/migration.sql")).unwrap();
        assert_eq!(
            (ms[0].layout, ms[0].description.as_str()),
            (Layout::Prisma, "add posts")
        );

        let ms = discover_one_path(fixture(
            "diesel/2024-02-01-120000_add_users_email_index/up.sql",
        ))
        .unwrap();
        assert_eq!(ms[0].layout, Layout::Diesel);
        assert_eq!(ms[0].version, "20240201120000");
        assert!(!ms[0].transaction);
        assert!(ms[0].down.is_some());

        let ms =
            discover_one_path(fixture("diesel/2024-01-15-093000_create_users/down.sql")).unwrap();
        assert_eq!(ms[0].layout, Layout::Diesel);
        assert_eq!(ms[0].up.sql(), "DROP TABLE users;\n");
        assert!(ms[0].down.is_none());
    }

    #[test]
    fn explicit_file_of_any_extension_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "schema.txt", "CREATE TABLE t ();");
        let ms = discover_one_path(path).unwrap();
        assert_eq!(
            (ms[0].layout, ms[0].description.as_str()),
            (Layout::Plain, "schema")
        );
    }

    #[test]
    fn one_migration_folder_given_directly() {
        let ms = discover_one_path(fixture("prisma/20240101120000_init")).unwrap();
        assert_eq!(ms.len(), 1);
        assert_eq!(
            (ms[0].layout, ms[0].description.as_str()),
            (Layout::Prisma, "init")
        );
        let ms =
            discover_one_path(fixture("diesel/2024-02-01-120000_add_users_email_index")).unwrap();
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].layout, Layout::Diesel);
        assert!(!ms[0].transaction);
        assert!(ms[0].down.is_some());
    }

    #[test]
    fn folder_without_own_sql_recurses_as_plain() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "2023/10_b.sql", "SELECT 10;");
        write(dir.path(), "2023/5_a.sql", "SELECT 5;");
        write(dir.path(), "2024/deep/1_c.sql", "SELECT 1;");
        write(dir.path(), ".git/9_hidden.sql", "SELECT 9;");
        write(dir.path(), "README.md", "# docs");
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path(), dir.path().join("2024/loop")).unwrap();
        let ms = discover_one_path(dir.path()).unwrap();
        assert!(ms.iter().all(|m| m.layout == Layout::Plain));
        let paths: Vec<String> = ms
            .iter()
            .map(|m| {
                m.path
                    .strip_prefix(dir.path())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            paths,
            ["2023/5_a.sql", "2023/10_b.sql", "2024/deep/1_c.sql"]
        );
    }

    #[test]
    fn hidden_and_non_sql_files_are_ignored_in_folders() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "V1__a.sql", "SELECT 1;");
        write(dir.path(), ".V2__b.sql", "SELECT 2;");
        write(dir.path(), "V3__c.sql.bak", "SELECT 3;");
        write(dir.path(), "sub/V4__d.sql", "SELECT 4;");
        let ms = discover_one_path(dir.path()).unwrap();
        assert_eq!(versions(&ms), ["1"]);
    }

    #[test]
    fn content_markers_win_over_names() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "1_a.up.sql", "-- +goose Up\nSELECT 1;\n");
        write(dir.path(), "2_b.up.sql", "SELECT 2;\n");
        // `.up.sql` names alone would mean golang-migrate, but the goose marker wins, and the
        // second file then lacks its annotation.
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::GooseMissingUp { path } if path.ends_with("2_b.up.sql")),
            "{err}"
        );
        let ms = discover_one_path(dir.path().join("1_a.up.sql")).unwrap();
        assert_eq!(ms[0].layout, Layout::Goose);
        assert_eq!(
            (ms[0].version.as_str(), ms[0].description.as_str()),
            ("1", "a.up")
        );
    }

    // ---- forced layouts ----------------------------------------------------------------------

    #[test]
    fn forced_plain_takes_every_file_in_natural_order() {
        let ms = discover(&[fixture("sqlx")], Some(Layout::Plain)).unwrap();
        assert!(
            ms.iter()
                .all(|m| m.layout == Layout::Plain && m.down.is_none())
        );
        assert_eq!(
            file_names(&ms),
            [
                "sqlx/1_create_users.sql",
                "sqlx/2_add_email.down.sql",
                "sqlx/2_add_email.up.sql",
                "sqlx/10_add_users_email_index.sql"
            ]
        );
    }

    #[test]
    fn forced_sqlx_on_golang_migrate_folder() {
        let ms = discover(&[fixture("golang-migrate")], Some(Layout::Sqlx)).unwrap();
        assert!(ms.iter().all(|m| m.layout == Layout::Sqlx));
        assert_eq!(versions(&ms), ["1", "2", "10"]);
    }

    #[test]
    fn forced_layout_mismatch_names_first_offending_file() {
        let err = discover(&[fixture("sqlx")], Some(Layout::Flyway)).unwrap_err();
        match &err {
            DiscoverError::LayoutMismatch {
                path,
                layout,
                forced,
            } => {
                assert!(
                    path.ends_with("sqlx/1_create_users.sql"),
                    "{}",
                    path.display()
                );
                assert_eq!((*layout, *forced), (Layout::Flyway, true));
            }
            other => panic!("unexpected {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("1_create_users.sql: does not match the flyway layout (forced"),
            "{msg}"
        );
        assert!(msg.contains("V<ver>__<desc>.sql"), "{msg}");

        let err = discover(&[fixture("flyway")], Some(Layout::Prisma)).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::LayoutMismatch { path, .. } if path.ends_with("R__customer_summary_view.sql")),
            "{err}"
        );
        let err = discover(&[fixture("plain/1_schema.sql")], Some(Layout::Diesel)).unwrap_err();
        assert!(matches!(err, DiscoverError::LayoutMismatch { .. }), "{err}");
    }

    #[test]
    fn forced_goose_on_dbmate_files_reports_missing_annotation() {
        let err = discover(&[fixture("dbmate")], Some(Layout::Goose)).unwrap_err();
        match &err {
            DiscoverError::GooseMissingUp { path } => {
                assert!(path.ends_with("20240101120000_create_projects.sql"))
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("add `-- +goose Up`"));
    }

    // ---- errors ------------------------------------------------------------------------------

    #[test]
    fn error_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = discover_one_path(&missing).unwrap_err();
        assert!(matches!(&err, DiscoverError::NotFound { path } if *path == missing));
        assert_eq!(
            err.to_string(),
            format!(
                "{}: no such file or folder; check the path",
                missing.display()
            )
        );
    }

    /// Tests run as root, where `chmod 000` does not stop reads, so unreadability is exercised
    /// with a folder where a file is expected and with a dangling symlink.
    #[test]
    fn error_unreadable_folder_where_file_expected() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("2024-01-01-000000_x/up.sql")).unwrap();
        let err = discover_one_path(dir.path()).unwrap_err();
        match &err {
            DiscoverError::Unreadable { path, .. } => {
                assert!(
                    path.ends_with("2024-01-01-000000_x/up.sql"),
                    "{}",
                    path.display()
                )
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("up.sql: cannot read: "), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn error_unreadable_dangling_symlink() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "1_a.sql", "SELECT 1;");
        let link = dir.path().join("2_b.sql");
        std::os::unix::fs::symlink(dir.path().join("missing-target.sql"), &link).unwrap();
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::Unreadable { path, .. } if *path == link),
            "{err}"
        );
        // Given explicitly, the dangling link exists as a path but cannot be read.
        let err = discover_one_path(&link).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::Unreadable { path, .. } if *path == link),
            "{err}"
        );
    }

    #[test]
    fn error_not_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "1_a.sql", b"SE\xffLECT 1;");
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::NotUtf8 { byte: 2, .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "{}: not UTF-8 text (byte 2); migsafe reads SQL files as UTF-8, re-save the file as UTF-8",
                path.display()
            )
        );
    }

    #[test]
    fn utf8_garbage_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "x.sql",
            "\u{0}\u{7f}\u{fffd}\r\r\n\u{10ffff}-- +goose\u{feff}",
        );
        let ms = discover_one_path(&path).unwrap();
        assert_eq!(ms[0].layout, Layout::Plain);
        assert_sections_valid(&ms);
    }

    #[test]
    fn error_no_migrations() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "README.md", "nothing here");
        write(dir.path(), "meta/_journal.json", "{}");
        let err = discover_one_path(dir.path()).unwrap_err();
        match &err {
            DiscoverError::NoMigrations { tried, .. } => assert_eq!(tried.as_slice(), Layout::ALL),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            format!(
                "{}: no .sql migration files found (layouts tried: sqlx, golang-migrate, flyway, dbmate, goose, prisma, diesel, drizzle, pop, plain); point migsafe at the folder that holds the migrations",
                dir.path().display()
            )
        );
        let err = discover(&[dir.path().to_path_buf()], Some(Layout::Prisma)).unwrap_err();
        assert!(err.to_string().contains("(layouts tried: prisma)"), "{err}");
    }

    #[test]
    fn error_duplicate_version() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "V1__a.sql", "SELECT 1;");
        write(dir.path(), "V1.0__b.sql", "SELECT 2;");
        let err = discover_one_path(dir.path()).unwrap_err();
        match &err {
            DiscoverError::DuplicateVersion {
                version,
                first,
                second,
            } => {
                assert_eq!(version, "1.0");
                assert!(first.ends_with("V1.0__b.sql"));
                assert!(second.ends_with("V1__a.sql"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            err.to_string()
                .contains("V1__a.sql: both define migration 1.0"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "1_a.sql", "SELECT 1;");
        write(dir.path(), "01_b.up.sql", "SELECT 2;");
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(err, DiscoverError::DuplicateVersion { .. }),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "R__views.sql", "SELECT 1;");
        write(dir.path(), "R__views.SQL", "SELECT 2;");
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::DuplicateVersion { version, .. } if version == "R__views"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "2024-01-01-000000_a/up.sql", "SELECT 1;");
        write(dir.path(), "20240101000000_b/up.sql", "SELECT 2;");
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(err, DiscoverError::DuplicateVersion { .. }),
            "{err}"
        );
    }

    #[test]
    fn equal_versions_are_fine_for_plain_and_prisma() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "1_b.sql", "SELECT 1;");
        write(dir.path(), "1_a.sql", "SELECT 2;");
        let ms = discover_one_path(dir.path()).unwrap();
        assert_eq!(descriptions(&ms), ["a", "b"]);

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "20240101000000_b/migration.sql", "SELECT 1;");
        write(dir.path(), "20240101000000_a/migration.sql", "SELECT 2;");
        let ms = discover_one_path(dir.path()).unwrap();
        assert_eq!(descriptions(&ms), ["a", "b"]);
    }

    #[test]
    fn error_orphan_down() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "1_a.up.sql", "SELECT 1;");
        let orphan = write(dir.path(), "2_b.down.sql", "SELECT 2;");
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::OrphanDown { path, version } if *path == orphan && version == "2"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("down migration for version 2 has no matching up migration")
        );

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "V1__a.sql", "SELECT 1;");
        write(dir.path(), "U2__b.sql", "SELECT 2;");
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(matches!(err, DiscoverError::OrphanDown { .. }), "{err}");

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "2024-01-01-000000_a/up.sql", "SELECT 1;");
        write(dir.path(), "2024-01-02-000000_b/down.sql", "SELECT 2;");
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::OrphanDown { version, .. } if version == "20240102000000"),
            "{err}"
        );
    }

    #[test]
    fn error_goose_missing_up() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "00001_a.sql", "-- +goose Up\nSELECT 1;\n");
        let bad = write(dir.path(), "00002_b.sql", "SELECT 2;\n");
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::GooseMissingUp { path } if *path == bad),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "{}: goose migration has no `-- +goose Up` annotation; add `-- +goose Up` on its own line before the up SQL",
                bad.display()
            )
        );
    }

    #[test]
    fn error_dbmate_missing_up() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "20240101000000_a.sql",
            "-- migrate:up\nSELECT 1;\n",
        );
        let bad = write(
            dir.path(),
            "20240102000000_b.sql",
            "-- migrate:down\nSELECT 2;\n",
        );
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::DbmateMissingUp { path } if *path == bad),
            "{err}"
        );
        assert!(err.to_string().contains("add `-- migrate:up`"));
    }

    #[test]
    fn error_bad_directive_has_line() {
        let dir = tempfile::tempdir().unwrap();
        let bad = write(
            dir.path(),
            "00001_a.sql",
            "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;\n",
        );
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::BadDirective { path, line: 2, .. } if *path == bad),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("{}:2: ", bad.display()))
        );

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "2024-01-01-000000_a/up.sql", "SELECT 1;");
        let meta = write(
            dir.path(),
            "2024-01-01-000000_a/metadata.toml",
            "# comment\nrun_in_transaction = nope\n",
        );
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::BadDirective { path, line: 2, .. } if *path == meta),
            "{err}"
        );
    }

    #[test]
    fn error_detected_layout_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "1_a.up.sql", "SELECT 1;");
        write(dir.path(), "2_b.sql", "SELECT 2;");
        let stray = write(dir.path(), "notes.sql", "SELECT 3;");
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::LayoutMismatch { path, layout: Layout::Sqlx, forced: false } if *path == stray),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("does not match the sqlx layout (detected;"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "20240101000000_a/migration.sql", "SELECT 1;");
        let stray = write(dir.path(), "20240102000000_b/extra.sql", "SELECT 2;");
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::LayoutMismatch { path, layout: Layout::Prisma, .. } if *path == stray),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "20240101000000_a/migration.sql", "SELECT 1;");
        let stray = write(dir.path(), "seed.sql", "SELECT 2;");
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::LayoutMismatch { path, layout: Layout::Prisma, .. } if *path == stray),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let bad_folder = dir.path().join("init");
        write(dir.path(), "init/migration.sql", "SELECT 1;");
        write(dir.path(), "20240101000000_a/migration.sql", "SELECT 1;");
        let err = discover_one_path(dir.path()).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::LayoutMismatch { path, .. } if *path == bad_folder),
            "{err}"
        );
    }

    #[test]
    fn error_glob_no_match_and_bad_glob() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "notes.txt", "x");
        let pattern = format!("{}/*.sql", dir.path().display());
        let err = discover_one_path(&pattern).unwrap_err();
        assert!(matches!(&err, DiscoverError::GlobNoMatch { pattern: p } if *p == pattern));
        assert_eq!(
            err.to_string(),
            format!("{pattern}: glob pattern matched no .sql files or folders; check the pattern")
        );
        // Matching only non-.sql files is no match either.
        let pattern = format!("{}/*", dir.path().display());
        assert!(matches!(
            discover_one_path(&pattern),
            Err(DiscoverError::GlobNoMatch { .. })
        ));

        let pattern = format!("{}/***.sql", dir.path().display());
        let err = discover_one_path(&pattern).unwrap_err();
        assert!(
            matches!(&err, DiscoverError::BadGlob { pattern: p, .. } if *p == pattern),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("{pattern}: invalid glob pattern ("))
        );
    }

    #[test]
    fn existing_path_with_glob_characters_is_literal() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "[v1]/1_a.sql", "SELECT 1;");
        let ms = discover_one_path(dir.path().join("[v1]")).unwrap();
        assert_eq!(ms[0].path, path);
    }

    #[test]
    fn no_transaction_directive_applies_to_every_layout() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "V1__a.sql",
            "/* index build */\n-- migsafe:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);",
        );
        write(
            dir.path(),
            "V2__b.sql",
            "CREATE TABLE t ();\n-- no-transaction\n",
        );
        let ms = discover_one_path(dir.path()).unwrap();
        assert_eq!(transactions(&ms), [false, true]);
    }
}
