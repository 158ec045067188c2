//! Layout detection and per-layout parsing.
//!
//! # Detection rules (deterministic; the first rule that matches wins)
//!
//! For a **folder**, only its direct entries are looked at; hidden entries (name starting with
//! `.`) are ignored, and so are files that are not SQL (SQL is `.sql`, ASCII case ignored, or
//! `.sql.<database>` as in Synapse's engine-specific deltas):
//!
//! 1. Content markers in the folder's SQL files: any file with a `-- migrate:up` line →
//!    **dbmate**; else any file with a `-- +goose Up` annotation (ASCII case ignored) →
//!    **goose**; else any file containing `--> statement-breakpoint`, or a `meta/_journal.json`
//!    file in the folder → **drizzle**.
//! 2. Structure: a subfolder holding `migration.sql` → **prisma**; else a subfolder holding
//!    `up.sql` → **diesel**.
//! 3. File names: any `V<ver>__<desc>.sql`, `U<ver>__<desc>.sql` or `R__<desc>.sql` →
//!    **flyway**; else any `<int>_<name>.<database>.up.sql` / `.down.sql` or
//!    `<int>_<name>.autocommit.up.sql` → **pop** (gobuffalo/pop, ory/popx); else any
//!    `<int>_<desc>.up.sql` / `.down.sql` → **golang-migrate** when every SQL file is such an
//!    up/down file, **sqlx** otherwise.
//! 4. Otherwise, when the folder has SQL files → **plain**, over the SQL files of its
//!    subfolders too (at any depth, natural sort of the paths).
//! 5. When the folder has no SQL file of its own but subfolders (at any depth) do: if they all
//!    sit in one subfolder, that subfolder is detected as if it had been named (so
//!    `persistence/sql/migrations` finds the pop files in its `sql/`); else → **plain** over all
//!    of them (recursively, natural sort of the paths).
//! 6. Otherwise: [`DiscoverError::NoMigrations`].
//!
//! Content markers are only looked for in the folder's own SQL files, so a folder without
//! any never matches rule 1. After detection (or when the layout is forced), every SQL file
//! (and, for prisma/diesel, every subfolder holding SQL files) must fit the layout's naming,
//! otherwise [`DiscoverError::LayoutMismatch`] names the first one that does not: migsafe never
//! silently skips SQL it was pointed at. Flat layouts other than plain do not look into
//! subfolders (their subfolders, e.g. Drizzle's `meta/`, are ignored); prisma and diesel only
//! look at subfolders (a SQL file directly in the folder is a mismatch).
//!
//! A **set of files** (the SQL files a glob matched) is detected with the same rules, where
//! rule 2 becomes "a file `migration.sql` whose folder is named `<digits>_<name>`" (prisma) and
//! "a file `up.sql`/`down.sql` whose folder is named like a Diesel migration" (diesel), and the
//! Drizzle hint is a `meta/_journal.json` beside any of the files.
//!
//! A **single file** is exactly one migration, detected the same way from its own contents and
//! name. Special cases: a `.down.sql` file (sqlx/golang-migrate/pop), a Diesel `down.sql` or a
//! Flyway `U…` undo file given on its own is reported as a migration whose up section is that
//! file's whole text (and no down section); an `.up.sql` or Diesel `up.sql` file picks up its
//! sibling down file when one exists. A `<int>_<desc>.sql` file (like a folder of only such
//! files) is plain. A file given explicitly is read whatever its extension.
//!
//! # Per-layout parsing and ordering (each checked against the tool's own source)
//!
//! | layout | version | description | order |
//! |---|---|---|---|
//! | sqlx | digits before the first `_` | the rest, `_` → space | version as a number (`i64`) |
//! | golang-migrate | digits before the first `_` | the rest | version as a number (`uint64`) |
//! | goose | digits before the first `_` | the rest | version as a number (`int64`) |
//! | flyway | `V1_2__x` → `1.2` (`_` → `.`); repeatable: empty | after `__`, `_` → space | part by part as numbers, trailing zero parts ignored (`1.0` = `1`, `1.10` > `1.9`); repeatable migrations last, by description |
//! | dbmate | leading digits | the rest after one `_`/`-` | the file name as text |
//! | prisma | leading digits of the folder name | the rest of the folder name | the folder name as text |
//! | diesel | folder name up to the first `_`, dashes removed | the rest of the folder name | the version as text (`2024-03-06-170000_x` before `2024-03-13_170000_y`) |
//! | drizzle | digits before the first `_` | the rest | the order of `meta/_journal.json` (files it does not list are not applied: skipped); without a journal, the version as a number |
//! | pop | digits before the first `_` | the name up to the first `.` | the version as text |
//! | plain | leading digits of the file stem, else empty | the stem after the digits and one `_`/`-`/`.`/space (the whole stem if that is empty) | natural sort of the paths (`2_x.sql` < `10_x.sql`) |
//!
//! Two migrations with an equal version are an error, except for plain (ordered by path,
//! versions are informative only) and prisma (which identifies migrations by folder name).
//! Numeric versions are equal when their numbers are (`01` = `1`); text versions when their
//! text is.
//!
//! # Dialects
//!
//! Each file's dialect comes from its name (`x.sql.postgres`, `x.mysql.up.sql`, `x.sqlite3.sql`)
//! or the nearest folder that names one (see the `dialect` module), Prisma's
//! `migration_lock.toml` `provider` or Drizzle's journal `dialect`. Files that name none are
//! generic. The dialects a run checks are the one selected (`--dialect`, the config or `DATABASE_URL`), else
//! every dialect the files of one folder name, else the default. A generic file belongs to every
//! checked dialect that has no variant of it (same version, or for plain files the same name);
//! a variant wins for its dialect. Files of other dialects, of databases migsafe does not check
//! (CockroachDB, SQL Server, …) and generic files replaced by variants in every checked dialect
//! are returned as [`Skipped`], never dropped silently; so are goose's Go migrations and pop's
//! fizz migrations, which are not SQL.
//!
//! Transactions: see the `transaction` module.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::dialect::{self, Named};
use super::sections::{self, Sections};
use super::transaction::{self, TxSetting};
use super::{DiscoverError, Layout, Migration, SkipReason, Skipped, SqlSection, checksum};
use crate::sql::Dialect;

/// How discovery resolves dialects and transactions.
#[derive(Debug, Clone)]
pub(crate) struct Opts {
    pub forced: Option<Layout>,
    /// The one dialect to check; files of others are skipped.
    pub select: Option<Dialect>,
    /// The dialect of generic files when no file of their folder names one.
    pub default: Dialect,
    pub tx: TxSetting,
}

/// Migrations found and files set aside.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub migrations: Vec<Migration>,
    pub skipped: Vec<Skipped>,
}

impl Found {
    pub(crate) fn extend(&mut self, other: Found) {
        self.migrations.extend(other.migrations);
        self.skipped.extend(other.skipped);
    }
}

/// A file read as UTF-8 text, BOM removed.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub path: PathBuf,
    pub text: Arc<str>,
}

fn unreadable(path: &Path, source: io::Error) -> DiscoverError {
    DiscoverError::Unreadable {
        path: path.to_path_buf(),
        source,
    }
}

fn mismatch(path: &Path, layout: Layout, forced: bool) -> DiscoverError {
    DiscoverError::LayoutMismatch {
        path: path.to_path_buf(),
        layout,
        forced,
    }
}

/// Reads `path` as UTF-8 and strips a leading BOM.
pub(crate) fn read_source(path: &Path) -> Result<Source, DiscoverError> {
    let bytes = fs::read(path).map_err(|e| unreadable(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| DiscoverError::NotUtf8 {
        path: path.to_path_buf(),
        byte: e.utf8_error().valid_up_to(),
    })?;
    let text: Arc<str> = match text.strip_prefix('\u{feff}') {
        Some(rest) => Arc::from(rest),
        None => Arc::from(text),
    };
    Ok(Source {
        path: path.to_path_buf(),
        text,
    })
}

/// Whether the last component of `path` starts with a dot.
pub(crate) fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.as_encoded_bytes().first() == Some(&b'.'))
}

/// Whether `path` is a SQL file by its name: `.sql` (ASCII case ignored) or `.sql.<database>`.
pub(crate) fn has_sql_extension(path: &Path) -> bool {
    match path.file_name().and_then(|n| n.to_str()) {
        Some(name) => dialect::is_sql_file_name(name),
        None => path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("sql")),
    }
}

fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

fn file_name(path: &Path) -> Option<&str> {
    path.file_name().and_then(|n| n.to_str())
}

// ---------------------------------------------------------------------------------------------
// Ordering helpers

/// Compares two digit strings numerically, whatever their length.
fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Natural comparison: runs of ASCII digits compare numerically, everything else by char.
fn natural_str_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        let (Some(x), Some(y)) = (a.chars().next(), b.chars().next()) else {
            return a.len().cmp(&b.len());
        };
        if x.is_ascii_digit() && y.is_ascii_digit() {
            let la = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
            let lb = b.find(|c: char| !c.is_ascii_digit()).unwrap_or(b.len());
            let (na, ra) = a.split_at(la);
            let (nb, rb) = b.split_at(lb);
            match cmp_digits(na, nb) {
                Ordering::Equal => {}
                other => return other,
            }
            a = ra;
            b = rb;
        } else {
            if x != y {
                return x.cmp(&y);
            }
            a = &a[x.len_utf8()..];
            b = &b[y.len_utf8()..];
        }
    }
}

/// Natural sort order of paths, component by component; ties (e.g. `01` vs `1`) are broken by
/// the raw bytes so the order is total and deterministic.
pub(crate) fn natural_path_cmp(a: &Path, b: &Path) -> Ordering {
    let mut ca = a.components();
    let mut cb = b.components();
    loop {
        match (ca.next(), cb.next()) {
            (None, None) => break,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = natural_str_cmp(
                    &x.as_os_str().to_string_lossy(),
                    &y.as_os_str().to_string_lossy(),
                );
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
    a.as_os_str().cmp(b.as_os_str())
}

/// A number without leading zeros, ordered numerically.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Num(String);

impl Num {
    fn new(digits: &str) -> Num {
        Num(digits.trim_start_matches('0').to_string())
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_digits(&self.0, &other.0)
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Where a migration sorts. Within one layout only one kind of key occurs (Flyway: versioned
/// before repeatable).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SortKey {
    /// Numbers, compared part by part.
    Versioned(Vec<Num>),
    /// Text, compared byte by byte (Go's and Rust's string comparison).
    Text(String),
    /// Flyway repeatable migrations, by description.
    Repeatable(String),
    /// Plain files: natural order of their paths (compared with the paths themselves).
    Path,
}

impl SortKey {
    fn int(digits: &str) -> SortKey {
        SortKey::Versioned(vec![Num::new(digits)])
    }
}

// ---------------------------------------------------------------------------------------------
// Name parsing

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The whole file is the up SQL.
    Up,
    /// The whole file is the down SQL of the up migration with the same version.
    Down,
    /// The file holds up/down sections (dbmate, goose).
    Sections,
    /// Flyway repeatable migration.
    Repeatable,
}

#[derive(Debug, Clone)]
struct Parsed {
    role: Role,
    version: String,
    description: String,
    key: SortKey,
    /// What makes two files the same migration (an up and its down, a generic file and its
    /// dialect variant, two clashing files): the version as the tool compares it.
    ident: String,
}

fn describe(s: &str) -> String {
    s.replace('_', " ")
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `<int>_<rest>` → (`int`, `rest`).
fn split_int_prefix(stem: &str) -> Option<(&str, &str)> {
    let (version, rest) = stem.split_once('_')?;
    all_digits(version).then_some((version, rest))
}

/// Leading ASCII digits of `s` and the rest.
fn leading_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

/// Strips a case-insensitive ASCII `suffix` from `name`.
fn strip_suffix_ci<'a>(name: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = name.len().checked_sub(suffix.len())?;
    let tail = name.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix)
        .then(|| name.get(..cut))
        .flatten()
}

/// A version compared as a number: sorted numerically, equal when the numbers are.
fn int_parsed(role: Role, version: &str, rest: &str) -> Parsed {
    Parsed {
        role,
        version: version.to_string(),
        description: describe(rest),
        key: SortKey::int(version),
        ident: Num::new(version).0,
    }
}

/// A version compared as text.
fn text_parsed(role: Role, version: &str, key: &str, rest: &str) -> Parsed {
    Parsed {
        role,
        version: version.to_string(),
        description: describe(rest),
        key: SortKey::Text(key.to_string()),
        ident: version.to_string(),
    }
}

/// Parses the file name of a flat layout (not prisma/diesel, whose names are folder names, and
/// not pop, see [`parse_pop`]); `name` has its dialect suffix removed.
fn parse_name(layout: Layout, name: &str) -> Option<Parsed> {
    match layout {
        Layout::Sqlx | Layout::GolangMigrate => {
            let (stem, role) = if let Some(stem) = strip_suffix_ci(name, ".up.sql") {
                (stem, Role::Up)
            } else if let Some(stem) = strip_suffix_ci(name, ".down.sql") {
                (stem, Role::Down)
            } else if layout == Layout::Sqlx {
                (strip_suffix_ci(name, ".sql")?, Role::Up)
            } else {
                return None;
            };
            let (version, rest) = split_int_prefix(stem)?;
            Some(int_parsed(role, version, rest))
        }
        Layout::Goose | Layout::Drizzle => {
            let stem = strip_suffix_ci(name, ".sql")?;
            let (version, rest) = split_int_prefix(stem)?;
            let role = if layout == Layout::Goose {
                Role::Sections
            } else {
                Role::Up
            };
            let mut parsed = int_parsed(role, version, rest);
            if layout == Layout::Drizzle {
                // drizzle identifies a migration by its tag (the file name without `.sql`)
                parsed.ident = stem.to_string();
            }
            Some(parsed)
        }
        Layout::Dbmate => {
            let stem = strip_suffix_ci(name, ".sql")?;
            let (version, rest) = leading_digits(stem);
            if version.is_empty() {
                return None;
            }
            let rest = rest
                .strip_prefix('_')
                .or_else(|| rest.strip_prefix('-'))
                .unwrap_or(rest);
            // dbmate sorts the file names as text and records the version's digits as text
            Some(text_parsed(Role::Sections, version, name, rest))
        }
        Layout::Flyway => parse_flyway(name),
        Layout::Plain => {
            let stem = match name.rsplit_once('.') {
                Some((stem, _)) if !stem.is_empty() => stem,
                _ => name,
            };
            let (version, rest) = leading_digits(stem);
            let rest = rest.strip_prefix(['_', '-', '.', ' ']).unwrap_or(rest);
            let description = if rest.is_empty() { stem } else { rest };
            Some(Parsed {
                role: Role::Up,
                version: version.to_string(),
                description: describe(description),
                key: SortKey::Path,
                ident: String::new(),
            })
        }
        Layout::Prisma | Layout::Diesel | Layout::Pop => None,
    }
}

/// gobuffalo/pop and ory/popx: `<version>_<name>[.<database>][.autocommit].(up|down).sql`,
/// the name without dots. Returns the parse, the database and whether `.autocommit` is set.
fn parse_pop(name: &str) -> Option<(Parsed, Option<Named>, bool)> {
    let (stem, role) = if let Some(stem) = strip_suffix_ci(name, ".up.sql") {
        (stem, Role::Up)
    } else {
        (strip_suffix_ci(name, ".down.sql")?, Role::Down)
    };
    let mut parts = stem.split('.');
    let head = parts.next()?;
    let (version, rest) = split_int_prefix(head)?;
    let mut named = None;
    let mut autocommit = false;
    for (i, part) in parts.enumerate() {
        if part.eq_ignore_ascii_case("autocommit") && !autocommit {
            autocommit = true;
        } else if i == 0 {
            named = Some(dialect::name(part)?);
        } else {
            return None;
        }
    }
    Some((text_parsed(role, version, version, rest), named, autocommit))
}

fn parse_flyway(name: &str) -> Option<Parsed> {
    let stem = strip_suffix_ci(name, ".sql")?;
    if let Some(desc) = stem.strip_prefix("R__") {
        if desc.is_empty() {
            return None;
        }
        let description = describe(desc);
        return Some(Parsed {
            role: Role::Repeatable,
            version: String::new(),
            key: SortKey::Repeatable(description.clone()),
            ident: format!("R__{description}"),
            description,
        });
    }
    let (role, rest) = if let Some(rest) = stem.strip_prefix('V') {
        (Role::Up, rest)
    } else if let Some(rest) = stem.strip_prefix('U') {
        (Role::Down, rest)
    } else {
        return None;
    };
    let (version, desc) = rest.split_once("__")?;
    let parts: Vec<&str> = version.split(['.', '_']).collect();
    if !parts.iter().all(|p| all_digits(p)) {
        return None;
    }
    let mut nums: Vec<Num> = parts.iter().map(|p| Num::new(p)).collect();
    while nums.last().is_some_and(|n| n.0.is_empty()) && nums.len() > 1 {
        nums.pop();
    }
    let ident = nums
        .iter()
        .map(|n| n.0.as_str())
        .collect::<Vec<_>>()
        .join(".");
    Some(Parsed {
        role,
        version: parts.join("."),
        description: describe(desc),
        key: SortKey::Versioned(nums),
        ident,
    })
}

/// Parses a prisma/diesel migration folder name.
fn parse_folder_name(layout: Layout, name: &str) -> Option<Parsed> {
    match layout {
        Layout::Prisma => {
            let (version, rest) = leading_digits(name);
            if version.is_empty() {
                return None;
            }
            let rest = rest
                .strip_prefix('_')
                .or_else(|| rest.strip_prefix('-'))
                .unwrap_or(rest);
            // Prisma sorts the folder names as text and identifies migrations by them
            let mut parsed = text_parsed(Role::Up, version, name, rest);
            parsed.ident = name.to_string();
            Some(parsed)
        }
        Layout::Diesel => {
            let (first, rest) = name.split_once('_').unwrap_or((name, ""));
            if !first.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                return None;
            }
            let version: String = first.chars().filter(|c| *c != '-').collect();
            if version.is_empty() {
                return None;
            }
            Some(text_parsed(Role::Up, &version, &version, rest))
        }
        _ => None,
    }
}

fn folder_name_of(path: &Path) -> Option<&str> {
    path.parent().and_then(file_name)
}

// ---------------------------------------------------------------------------------------------
// Detection

/// Rule 1: content markers (and the Drizzle journal hint).
fn detect_by_markers(sources: &[Source], drizzle_journal: bool) -> Option<Layout> {
    if sources.iter().any(|s| sections::has_dbmate_marker(&s.text)) {
        Some(Layout::Dbmate)
    } else if sources.iter().any(|s| sections::has_goose_marker(&s.text)) {
        Some(Layout::Goose)
    } else if drizzle_journal
        || sources
            .iter()
            .any(|s| sections::has_drizzle_marker(&s.text))
    {
        Some(Layout::Drizzle)
    } else {
        None
    }
}

/// A pop file that a golang-migrate or sqlx folder could not hold: a database or
/// `.autocommit` between the name and `.up.sql`/`.down.sql`.
fn is_pop_specific(name: &str) -> bool {
    parse_pop(name).is_some_and(|(_, named, autocommit)| named.is_some() || autocommit)
}

/// Rule 3 and 4: file names.
fn detect_by_names(paths: &[&Path]) -> Layout {
    let names: Vec<&str> = paths.iter().filter_map(|p| file_name(p)).collect();
    let base = |n: &str| dialect::split_file_name(n).0;
    if names.iter().any(|n| parse_flyway(&base(n)).is_some()) {
        return Layout::Flyway;
    }
    if names.iter().any(|n| is_pop_specific(n)) {
        return Layout::Pop;
    }
    let is_up_down = |n: &str| parse_name(Layout::GolangMigrate, n).is_some();
    if names.iter().any(|n| is_up_down(n)) {
        if names.len() == paths.len() && names.iter().all(|n| is_up_down(n)) {
            return Layout::GolangMigrate;
        }
        return Layout::Sqlx;
    }
    Layout::Plain
}

fn has_drizzle_journal(dir: &Path) -> bool {
    exists(&dir.join("meta").join("_journal.json"))
}

fn is_prisma_file(path: &Path) -> bool {
    file_name(path) == Some("migration.sql")
        && folder_name_of(path).is_some_and(|n| parse_folder_name(Layout::Prisma, n).is_some())
}

fn is_diesel_file(path: &Path) -> bool {
    matches!(file_name(path), Some("up.sql" | "down.sql"))
        && folder_name_of(path).is_some_and(|n| parse_folder_name(Layout::Diesel, n).is_some())
}

/// Detection for a set of files (a glob's matches, or one file).
fn detect_files(sources: &[Source]) -> Layout {
    let journal = sources
        .iter()
        .any(|s| s.path.parent().is_some_and(has_drizzle_journal));
    if let Some(layout) = detect_by_markers(sources, journal) {
        return layout;
    }
    if sources.iter().any(|s| is_prisma_file(&s.path)) {
        return Layout::Prisma;
    }
    if sources.iter().any(|s| is_diesel_file(&s.path)) {
        return Layout::Diesel;
    }
    let paths: Vec<&Path> = sources.iter().map(|s| s.path.as_path()).collect();
    detect_by_names(&paths)
}

// ---------------------------------------------------------------------------------------------
// Folder scanning

struct Listing {
    sql_files: Vec<PathBuf>,
    /// Files a migrator runs that are not SQL (goose `.go`, pop `.fizz`), for the skipped list.
    code_files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

/// Non-hidden SQL files (including dangling symlinks, which then fail to read), code
/// migrations and subfolders of `dir`, each in natural order.
fn list_dir(dir: &Path) -> Result<Listing, DiscoverError> {
    let mut sql_files = Vec::new();
    let mut code_files = Vec::new();
    let mut dirs = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| unreadable(dir, e))? {
        let entry = entry.map_err(|e| unreadable(dir, e))?;
        let path = entry.path();
        if is_hidden(&path) {
            continue;
        }
        if path.is_dir() {
            dirs.push(path);
        } else if has_sql_extension(&path) {
            sql_files.push(path);
        } else if file_name(&path).is_some_and(is_code_migration_name) {
            code_files.push(path);
        }
    }
    sql_files.sort_by(|a, b| natural_path_cmp(a, b));
    code_files.sort_by(|a, b| natural_path_cmp(a, b));
    dirs.sort_by(|a, b| natural_path_cmp(a, b));
    Ok(Listing {
        sql_files,
        code_files,
        dirs,
    })
}

/// `<int>_<name>.go` (goose Go migration, not a test) or `<int>_<name>.(up|down).fizz` (pop).
fn is_code_migration_name(name: &str) -> bool {
    let go = strip_suffix_ci(name, ".go")
        .filter(|stem| !stem.ends_with("_test"))
        .and_then(split_int_prefix)
        .is_some();
    let fizz = strip_suffix_ci(name, ".fizz")
        .and_then(|s| strip_suffix_ci(s, ".up").or_else(|| strip_suffix_ci(s, ".down")))
        .and_then(split_int_prefix)
        .is_some();
    go || fizz
}

/// Code migrations of `layout` in a listing: listed as skipped.
fn skipped_code(listing: &Listing, layout: Layout) -> Vec<Skipped> {
    let wanted = match layout {
        Layout::Goose => ".go",
        Layout::Pop => ".fizz",
        _ => return Vec::new(),
    };
    listing
        .code_files
        .iter()
        .filter(|p| file_name(p).is_some_and(|n| strip_suffix_ci(n, wanted).is_some()))
        .map(|p| Skipped {
            path: p.clone(),
            dialect: None,
            reason: SkipReason::NotSql,
        })
        .collect()
}

/// Every non-hidden SQL file below `dir` (any depth), in natural order. Symlinked folders
/// are followed once (a loop is cut by remembering canonical paths).
fn collect_sql_recursive(dir: &Path) -> Result<Vec<PathBuf>, DiscoverError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let canonical = fs::canonicalize(&current).map_err(|e| unreadable(&current, e))?;
        if !seen.insert(canonical) {
            continue;
        }
        let listing = list_dir(&current)?;
        out.extend(listing.sql_files);
        stack.extend(listing.dirs);
    }
    out.sort_by(|a, b| natural_path_cmp(a, b));
    Ok(out)
}

fn read_all(paths: &[PathBuf]) -> Result<Vec<Source>, DiscoverError> {
    paths.iter().map(|p| read_source(p)).collect()
}

/// The migrations of folder `dir` (see the module documentation for the rules).
pub(crate) fn discover_folder(dir: &Path, opts: &Opts) -> Result<Found, DiscoverError> {
    let listing = list_dir(dir)?;
    let forced = opts.forced;
    let is_forced = forced.is_some();
    let tried = match forced {
        Some(layout) => vec![layout],
        None => Layout::ALL.to_vec(),
    };
    let no_migrations = || DiscoverError::NoMigrations {
        path: dir.to_path_buf(),
        tried: tried.clone(),
    };
    let has_sub = |name: &str| listing.dirs.iter().any(|d| exists(&d.join(name)));

    let (layout, sources) = match forced {
        Some(layout @ (Layout::Prisma | Layout::Diesel)) => (layout, Vec::new()),
        Some(layout) if !listing.sql_files.is_empty() => (layout, read_all(&listing.sql_files)?),
        Some(layout) => {
            let files = collect_sql_recursive(dir)?;
            if files.is_empty() {
                return Err(no_migrations());
            }
            (layout, read_all(&files)?)
        }
        None if !listing.sql_files.is_empty() => {
            let sources = read_all(&listing.sql_files)?;
            let layout = match detect_by_markers(&sources, has_drizzle_journal(dir)) {
                Some(l) => l,
                None if has_sub("migration.sql") => Layout::Prisma,
                None if has_sub("up.sql") => Layout::Diesel,
                // The folder may itself be one prisma/diesel migration folder.
                None => detect_files(&sources),
            };
            if layout == Layout::Plain && !listing.dirs.is_empty() {
                // plain SQL in subfolders belongs to the same natural-order history
                (layout, read_all(&collect_sql_recursive(dir)?)?)
            } else {
                (layout, sources)
            }
        }
        None => {
            if has_sub("migration.sql") {
                (Layout::Prisma, Vec::new())
            } else if has_sub("up.sql") {
                (Layout::Diesel, Vec::new())
            } else {
                let files = collect_sql_recursive(dir)?;
                let Some(first) = files.first() else {
                    return Err(no_migrations());
                };
                // all of them in one subfolder: that is the migration folder
                if let Some(parent) = first.parent()
                    && parent != dir
                    && files.iter().all(|f| f.parent() == Some(parent))
                {
                    return discover_folder(parent, opts);
                }
                (Layout::Plain, read_all(&files)?)
            }
        }
    };
    check_tx_setting(layout, dir, opts)?;

    let mut found = match layout {
        Layout::Prisma | Layout::Diesel => {
            if !listing.sql_files.is_empty() {
                // SQL files of its own: the folder is itself one migration folder (its
                // subfolders are ignored); `folder_unit` rejects files that do not belong.
                let unit = folder_unit(dir, layout, is_forced)?.ok_or_else(no_migrations)?;
                return assemble(layout, vec![unit], Vec::new(), opts);
            }
            let mut units = Vec::new();
            for sub in &listing.dirs {
                if let Some(unit) = folder_unit(sub, layout, is_forced)? {
                    units.push(unit);
                }
            }
            if units.is_empty() {
                return Err(no_migrations());
            }
            sort_units(&mut units, layout != Layout::Prisma)?;
            assemble(layout, units, Vec::new(), opts)?
        }
        Layout::Drizzle if has_drizzle_journal(dir) => {
            let journal = read_journal(dir)?;
            build_flat(layout, is_forced, sources, false, opts, Some(&journal))?
        }
        _ => build_flat(layout, is_forced, sources, false, opts, None)?,
    };
    found.skipped.extend(skipped_code(&listing, layout));
    Ok(found)
}

/// `[migrations] transaction` only applies where the migrator lets the deployment choose.
fn check_tx_setting(layout: Layout, path: &Path, opts: &Opts) -> Result<(), DiscoverError> {
    if opts.tx != TxSetting::Auto && !transaction::configurable(layout) {
        return Err(DiscoverError::TransactionSetting {
            path: path.to_path_buf(),
            layout,
            setting: opts.tx.as_str(),
        });
    }
    Ok(())
}

/// The migrations of the SQL files a glob matched (two or more).
pub(crate) fn discover_file_set(paths: &[PathBuf], opts: &Opts) -> Result<Found, DiscoverError> {
    let sources = read_all(paths)?;
    let forced = opts.forced;
    let layout = forced.unwrap_or_else(|| detect_files(&sources));
    let is_forced = forced.is_some();
    if let Some(first) = paths.first() {
        check_tx_setting(layout, first, opts)?;
    }
    match layout {
        Layout::Prisma | Layout::Diesel => {
            let mut dirs: Vec<PathBuf> = Vec::new();
            for source in &sources {
                let fits = match layout {
                    Layout::Prisma => file_name(&source.path) == Some("migration.sql"),
                    _ => matches!(file_name(&source.path), Some("up.sql" | "down.sql")),
                };
                let parent = source.path.parent().map(Path::to_path_buf);
                let Some(parent) = parent.filter(|_| fits) else {
                    return Err(mismatch(&source.path, layout, is_forced));
                };
                if !dirs.contains(&parent) {
                    dirs.push(parent);
                }
            }
            let mut units = Vec::new();
            for dir in &dirs {
                if let Some(unit) = folder_unit(dir, layout, is_forced)? {
                    units.push(unit);
                }
            }
            sort_units(&mut units, layout != Layout::Prisma)?;
            assemble(layout, units, Vec::new(), opts)
        }
        _ => {
            // A journal beside the files orders them, as drizzle would.
            let parents: HashSet<&Path> = sources.iter().filter_map(|s| s.path.parent()).collect();
            let journal = match (layout, parents.iter().next()) {
                (Layout::Drizzle, Some(dir)) if parents.len() == 1 && has_drizzle_journal(dir) => {
                    Some(read_journal(dir)?)
                }
                _ => None,
            };
            build_flat(layout, is_forced, sources, false, opts, journal.as_ref())
        }
    }
}

/// The one migration of an explicitly named file (or the file, skipped, when it is written
/// for another dialect).
pub(crate) fn discover_file(path: &Path, opts: &Opts) -> Result<Found, DiscoverError> {
    let source = read_source(path)?;
    let forced = opts.forced;
    let layout = forced.unwrap_or_else(|| detect_files(std::slice::from_ref(&source)));
    let is_forced = forced.is_some();
    check_tx_setting(layout, path, opts)?;
    match layout {
        Layout::Prisma | Layout::Diesel => {
            let name = file_name(path);
            let dir = path.parent().unwrap_or(Path::new(""));
            let folder = folder_name_of(path).and_then(|n| parse_folder_name(layout, n));
            let (Some(name), Some(parsed)) = (name, folder) else {
                return Err(mismatch(path, layout, is_forced));
            };
            let (up, down) = match (layout, name) {
                (Layout::Prisma, "migration.sql") => (source, None),
                (Layout::Diesel, "up.sql") => {
                    let down_path = dir.join("down.sql");
                    let down = if exists(&down_path) {
                        Some(read_source(&down_path)?)
                    } else {
                        None
                    };
                    (source, down)
                }
                // An explicit down.sql is reported with its own text as the up section.
                (Layout::Diesel, "down.sql") => (source, None),
                _ => return Err(mismatch(path, layout, is_forced)),
            };
            let directive = if layout == Layout::Diesel {
                diesel_directive(dir)?
            } else {
                None
            };
            let named = folder_named(layout, dir);
            let unit = Unit {
                parsed,
                directive: directive.or_else(|| generic_directive(&up.text)),
                source: up,
                sections: None,
                down,
                named,
            };
            assemble(layout, vec![unit], Vec::new(), opts)
        }
        _ => build_flat(layout, is_forced, vec![source], true, opts, None),
    }
}

// ---------------------------------------------------------------------------------------------
// Building migrations

#[derive(Debug, Clone)]
struct Unit {
    parsed: Parsed,
    source: Source,
    sections: Option<Sections>,
    /// The down file found beside the up file (Diesel's `down.sql`, a sibling `.down.sql`).
    down: Option<Source>,
    /// The database the file's name or folders name.
    named: Option<Named>,
    /// Why the file runs without a transaction, when a directive says so.
    directive: Option<String>,
}

/// `-- no-transaction` at the top of the file, which every layout honours.
fn generic_directive(text: &str) -> Option<String> {
    sections::has_no_transaction_directive(text)
        .then(|| "`-- no-transaction` at the top of the file".to_string())
}

fn whole_file_section(source: &Source) -> SqlSection {
    SqlSection {
        path: source.path.clone(),
        range: 0..source.text.len(),
        text: Arc::clone(&source.text),
    }
}

fn unit_to_migration(layout: Layout, unit: &Unit, dialect: Dialect, opts: &Opts) -> Migration {
    let tx = transaction::resolve(layout, dialect, unit.directive.clone(), opts.tx);
    let source = &unit.source;
    let (up, down) = match &unit.sections {
        Some(sections) => (
            SqlSection {
                path: source.path.clone(),
                text: Arc::clone(&source.text),
                range: sections.up.clone(),
            },
            sections.down.clone().map(|range| SqlSection {
                path: source.path.clone(),
                text: Arc::clone(&source.text),
                range,
            }),
        ),
        None => (
            whole_file_section(source),
            unit.down.as_ref().map(whole_file_section),
        ),
    };
    Migration {
        layout,
        version: unit.parsed.version.clone(),
        description: unit.parsed.description.clone(),
        path: source.path.clone(),
        checksum: checksum(&source.text),
        up,
        down,
        transaction: tx.mode != transaction::TxMode::None,
        tx,
        dialect,
        dialect_named: unit.named.is_some(),
    }
}

fn duplicate_label(parsed: &Parsed) -> String {
    match &parsed.key {
        SortKey::Repeatable(desc) => format!("R__{desc}"),
        _ => parsed.version.clone(),
    }
}

fn cmp_units(a: &Unit, b: &Unit) -> Ordering {
    match (&a.parsed.key, &b.parsed.key) {
        (SortKey::Path, SortKey::Path) => natural_path_cmp(&a.source.path, &b.source.path),
        (x, y) => x
            .cmp(y)
            // a dialect variant sorts before the generic file of the same version (as in popx)
            .then_with(|| a.named.is_none().cmp(&b.named.is_none()))
            .then_with(|| natural_path_cmp(&a.source.path, &b.source.path)),
    }
}

/// Sorts units in the tool's order and rejects two of them that are the same migration for
/// the same dialect (unless `check` is off).
fn sort_units(units: &mut [Unit], check: bool) -> Result<(), DiscoverError> {
    units.sort_by(cmp_units);
    if !check {
        return Ok(());
    }
    let mut seen: HashMap<(&str, Option<Named>), &Unit> = HashMap::new();
    for unit in units.iter() {
        if let Some(first) = seen.insert((unit.parsed.ident.as_str(), unit.named), unit) {
            return Err(DiscoverError::DuplicateVersion {
                version: duplicate_label(&first.parsed),
                first: first.source.path.clone(),
                second: unit.source.path.clone(),
            });
        }
    }
    Ok(())
}

/// The sibling down file of an `.up.sql` file, if it exists on disk.
fn sibling_down(path: &Path) -> Option<PathBuf> {
    let name = file_name(path)?;
    let stem = strip_suffix_ci(name, ".up.sql")?;
    let candidate = path.with_file_name(format!("{stem}.down.sql"));
    exists(&candidate).then_some(candidate)
}

/// Parses a flat layout's file: its name (dialect suffix removed), the database its name or
/// folders name, and a directive in its name (pop's `.autocommit`).
fn parse_file(layout: Layout, source: &Source) -> Option<(Parsed, Option<Named>, Option<String>)> {
    let name = match file_name(&source.path) {
        Some(name) => name.to_string(),
        None if layout == Layout::Plain => source
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        None => return None,
    };
    let folders = || dialect::from_folders(&source.path);
    if layout == Layout::Pop {
        let (parsed, named, autocommit) = parse_pop(&name)?;
        let directive = autocommit.then(|| "`.autocommit` in the file name".to_string());
        return Some((parsed, named.or_else(folders), directive));
    }
    let (base, suffix) = dialect::split_file_name(&name);
    let mut parsed = parse_name(layout, &base)?;
    if layout == Layout::Plain {
        // a generic file and its variant share the name without the dialect suffix
        parsed.ident = source
            .path
            .with_file_name(&base)
            .to_string_lossy()
            .into_owned();
    }
    Some((parsed, suffix.or_else(folders), None))
}

/// Builds the migrations of a flat layout from its files. In `single` mode (one explicitly
/// named file) a down file is reported as an up migration. `journal` is Drizzle's list of tags
/// in apply order.
fn build_flat(
    layout: Layout,
    forced: bool,
    sources: Vec<Source>,
    single: bool,
    opts: &Opts,
    journal: Option<&Journal>,
) -> Result<Found, DiscoverError> {
    let mut ups: Vec<Unit> = Vec::new();
    let mut downs: Vec<Unit> = Vec::new();
    let mut skipped = Vec::new();
    for source in sources {
        let Some((mut parsed, mut named, name_directive)) = parse_file(layout, &source) else {
            return Err(mismatch(&source.path, layout, forced));
        };
        let sections = match (parsed.role, layout) {
            (Role::Sections, Layout::Dbmate) => {
                Some(sections::dbmate_sections(&source.path, &source.text)?)
            }
            (Role::Sections, _) => Some(sections::goose_sections(&source.path, &source.text)?),
            _ => None,
        };
        if single && parsed.role == Role::Down {
            parsed.role = Role::Up;
        }
        if let Some(journal) = journal {
            match journal.tags.iter().position(|t| *t == parsed.ident) {
                Some(i) => parsed.key = SortKey::Versioned(vec![Num::new(&i.to_string())]),
                None => {
                    skipped.push(Skipped {
                        path: source.path,
                        dialect: None,
                        reason: SkipReason::NotInJournal,
                    });
                    continue;
                }
            }
            named = named.or(journal.dialect);
        }
        let directive = generic_directive(&source.text)
            .or(name_directive)
            .or_else(|| layout_directive(layout, sections.as_ref()))
            .or(flyway_conf_directive(layout, &source.path)?);
        let unit = Unit {
            parsed,
            source,
            sections,
            down: None,
            named,
            directive,
        };
        if unit.parsed.role == Role::Down {
            downs.push(unit);
        } else {
            ups.push(unit);
        }
    }
    if let Some(journal) = journal {
        for tag in &journal.tags {
            if !ups.iter().any(|u| u.parsed.ident == *tag) {
                return Err(DiscoverError::BadDirective {
                    path: journal.path.clone(),
                    line: 1,
                    message: format!(
                        "the journal lists `{tag}` but there is no `{tag}.sql` beside it (drizzle fails on it too); restore the file or remove the entry"
                    ),
                });
            }
        }
    }

    let check = layout != Layout::Plain;
    sort_units(&mut ups, check)?;
    sort_units(&mut downs, check)?;
    // pop runs a down file whose version has no up file for some database as a no-op pair
    if layout != Layout::Pop {
        for down in &downs {
            let paired = ups.iter().any(|u| {
                u.parsed.ident == down.parsed.ident
                    && (u.named == down.named || u.named.is_none() || down.named.is_none())
            });
            if !paired {
                return Err(DiscoverError::OrphanDown {
                    path: down.source.path.clone(),
                    version: down.parsed.version.clone(),
                });
            }
        }
    }
    if matches!(layout, Layout::Sqlx | Layout::GolangMigrate | Layout::Pop) && downs.is_empty() {
        for up in ups.iter_mut() {
            if let Some(path) = sibling_down(&up.source.path) {
                up.down = Some(read_source(&path)?);
            }
        }
    }
    let mut found = assemble(layout, ups, downs, opts)?;
    found.skipped.extend(skipped);
    Ok(found)
}

/// The no-transaction directive a layout reads from its sections (dbmate, goose).
fn layout_directive(layout: Layout, sections: Option<&Sections>) -> Option<String> {
    if sections.is_none_or(|s| s.transaction) {
        return None;
    }
    Some(match layout {
        Layout::Dbmate => "`-- migrate:up transaction:false`".to_string(),
        _ => "`-- +goose NO TRANSACTION`".to_string(),
    })
}

/// Flyway's per-script configuration `<file>.conf` with `executeInTransaction=false`.
fn flyway_conf_directive(layout: Layout, path: &Path) -> Result<Option<String>, DiscoverError> {
    if layout != Layout::Flyway {
        return Ok(None);
    }
    let Some(name) = file_name(path) else {
        return Ok(None);
    };
    let conf = path.with_file_name(format!("{name}.conf"));
    if !exists(&conf) {
        return Ok(None);
    }
    let source = read_source(&conf)?;
    for line in sections::lines(&source.text) {
        let Some((key, value)) = line.text.split_once('=') else {
            continue;
        };
        if key.trim() == "executeInTransaction" {
            return match value.trim() {
                "false" => Ok(Some(format!("`executeInTransaction=false` in {name}.conf"))),
                "true" => Ok(None),
                other => Err(DiscoverError::BadDirective {
                    path: conf.clone(),
                    line: line.number,
                    message: format!(
                        "`executeInTransaction={other}` is not a boolean; write `executeInTransaction=false` or `true`"
                    ),
                }),
            };
        }
    }
    Ok(None)
}

/// Groups units into the dialects the run checks (see the module docs): each checked dialect
/// gets the variant written for it, else the generic file, of every migration; what no
/// dialect takes is skipped.
fn assemble(
    layout: Layout,
    ups: Vec<Unit>,
    downs: Vec<Unit>,
    opts: &Opts,
) -> Result<Found, DiscoverError> {
    let mut chains: Vec<Dialect> = Vec::new();
    match opts.select {
        Some(d) => chains.push(d),
        None => {
            for unit in &ups {
                if let Some(Named::Known(d)) = unit.named
                    && !chains.contains(&d)
                {
                    chains.push(d);
                }
            }
            if chains.is_empty() {
                chains.push(opts.default);
            }
        }
    }
    let variants: HashSet<(&str, Dialect)> = ups
        .iter()
        .filter_map(|u| match u.named {
            Some(Named::Known(d)) => Some((u.parsed.ident.as_str(), d)),
            _ => None,
        })
        .collect();
    let down_of = |ident: &str, d: Dialect| {
        let find = |named: Option<Named>| {
            downs
                .iter()
                .find(|x| x.parsed.ident == ident && x.named == named)
        };
        find(Some(Named::Known(d))).or_else(|| find(None))
    };
    let mut found = Found::default();
    let mut used = vec![false; ups.len()];
    for &chain in &chains {
        for (i, unit) in ups.iter().enumerate() {
            let takes = match unit.named {
                Some(Named::Known(d)) => d == chain,
                Some(Named::Other(_)) => false,
                None => !variants.contains(&(unit.parsed.ident.as_str(), chain)),
            };
            if !takes {
                continue;
            }
            used[i] = true;
            let mut unit = unit.clone();
            if unit.down.is_none()
                && let Some(down) = down_of(&unit.parsed.ident, chain)
            {
                unit.down = Some(down.source.clone());
            }
            found
                .migrations
                .push(unit_to_migration(layout, &unit, chain, opts));
        }
    }
    for (unit, used) in ups.iter().zip(used) {
        if used {
            continue;
        }
        let reason = match unit.named {
            Some(Named::Other(_)) => SkipReason::UnsupportedDialect,
            Some(Named::Known(_)) => SkipReason::OtherDialect,
            None => SkipReason::Replaced {
                by: ups
                    .iter()
                    .filter(|v| {
                        v.parsed.ident == unit.parsed.ident
                            && matches!(v.named, Some(Named::Known(d)) if chains.contains(&d))
                    })
                    .map(|v| v.source.path.clone())
                    .collect(),
            },
        };
        found.skipped.push(Skipped {
            path: unit.source.path.clone(),
            dialect: unit.named.map(|n| n.as_str().to_string()),
            reason,
        });
    }
    Ok(found)
}

/// The database a prisma/diesel migration folder is for: Prisma's `migration_lock.toml`
/// `provider` beside the migration folders, else the folders' names.
fn folder_named(layout: Layout, dir: &Path) -> Option<Named> {
    let lock = dir.parent().map(|p| p.join("migration_lock.toml"));
    let from_lock = match (layout, lock) {
        (Layout::Prisma, Some(lock)) => fs::read_to_string(lock).ok().and_then(|text| {
            text.lines().find_map(|line| {
                let (key, value) = line.split_once('=')?;
                (key.trim() == "provider")
                    .then(|| dialect::name(value.trim().trim_matches('"')))
                    .flatten()
            })
        }),
        _ => None,
    };
    from_lock.or_else(|| dialect::from_folders(&dir.join("x")))
}

/// One prisma/diesel migration folder: `Ok(None)` when it holds no SQL file at all (such
/// folders are ignored).
fn folder_unit(dir: &Path, layout: Layout, forced: bool) -> Result<Option<Unit>, DiscoverError> {
    let (main, other) = match layout {
        Layout::Prisma => ("migration.sql", None),
        _ => ("up.sql", Some("down.sql")),
    };
    let listing = list_dir(dir)?;
    let main_path = dir.join(main);
    let down_path = other.map(|o| dir.join(o));
    if let Some(stray) = listing.sql_files.iter().find(|p| {
        let name = file_name(p);
        name != Some(main) && (other.is_none() || name != other)
    }) {
        return Err(mismatch(stray, layout, forced));
    }
    if !exists(&main_path) {
        return match &down_path {
            Some(down) if exists(down) => Err(DiscoverError::OrphanDown {
                path: down.clone(),
                version: file_name(dir)
                    .and_then(|n| parse_folder_name(layout, n))
                    .map(|p| p.version)
                    .unwrap_or_default(),
            }),
            _ => Ok(None),
        };
    }
    let Some(parsed) = file_name(dir).and_then(|n| parse_folder_name(layout, n)) else {
        return Err(mismatch(dir, layout, forced));
    };
    let source = read_source(&main_path)?;
    let down = match down_path {
        Some(p) if exists(&p) => Some(read_source(&p)?),
        _ => None,
    };
    let directive = if layout == Layout::Diesel {
        diesel_directive(dir)?
    } else {
        None
    };
    Ok(Some(Unit {
        parsed,
        directive: generic_directive(&source.text).or(directive),
        source,
        sections: None,
        down,
        named: folder_named(layout, dir),
    }))
}

/// Diesel's `metadata.toml` with `run_in_transaction = false`, as a directive.
fn diesel_directive(dir: &Path) -> Result<Option<String>, DiscoverError> {
    Ok((!diesel_run_in_transaction(dir)?)
        .then(|| "`run_in_transaction = false` in metadata.toml".to_string()))
}

/// Reads `run_in_transaction` from a Diesel `metadata.toml` in `dir` (`true` without one).
/// Only a top-level `run_in_transaction = true|false` key is understood; other keys and tables
/// are ignored.
fn diesel_run_in_transaction(dir: &Path) -> Result<bool, DiscoverError> {
    let path = dir.join("metadata.toml");
    if !exists(&path) {
        return Ok(true);
    }
    let source = read_source(&path)?;
    let mut in_table = false;
    let mut result = true;
    for line in sections::lines(&source.text) {
        let content = line.text.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        if content.starts_with('[') {
            in_table = true;
            continue;
        }
        if in_table {
            continue;
        }
        let Some((key, value)) = content.split_once('=') else {
            continue;
        };
        let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
        if key != "run_in_transaction" {
            continue;
        }
        result = match value.trim() {
            "true" => true,
            "false" => false,
            other => {
                return Err(DiscoverError::BadDirective {
                    path: path.clone(),
                    line: line.number,
                    message: format!(
                        "`run_in_transaction = {other}` is not a boolean; write `run_in_transaction = false` or `true`"
                    ),
                });
            }
        };
    }
    Ok(result)
}

/// Drizzle's `meta/_journal.json`: the tags in apply order and the dialect it declares.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    tags: Vec<String>,
    dialect: Option<Named>,
}

fn read_journal(dir: &Path) -> Result<Journal, DiscoverError> {
    let path = dir.join("meta").join("_journal.json");
    let source = read_source(&path)?;
    let bad = |line: usize, message: String| DiscoverError::BadDirective {
        path: path.clone(),
        line,
        message,
    };
    let value: serde_json::Value = serde_json::from_str(&source.text).map_err(|e| {
        bad(
            e.line().max(1),
            format!("not valid JSON ({e}); drizzle-kit cannot read it either: regenerate it with `drizzle-kit generate`"),
        )
    })?;
    let entries = value
        .get("entries")
        .and_then(|e| e.as_array())
        .ok_or_else(|| {
            bad(
                1,
                "has no `entries` list; regenerate it with `drizzle-kit generate`".to_string(),
            )
        })?;
    let mut tags = Vec::new();
    for entry in entries {
        let tag = entry.get("tag").and_then(|t| t.as_str()).ok_or_else(|| {
            bad(
                1,
                format!(
                    "an entry has no `tag`: {entry}; regenerate it with `drizzle-kit generate`"
                ),
            )
        })?;
        tags.push(tag.to_string());
    }
    let dialect = value
        .get("dialect")
        .and_then(|d| d.as_str())
        .and_then(dialect::name);
    Ok(Journal {
        path,
        tags,
        dialect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(layout: Layout, name: &str) -> Option<(Role, String, String)> {
        parse_name(layout, name).map(|p| (p.role, p.version, p.description))
    }

    #[test]
    fn sqlx_and_golang_names() {
        assert_eq!(
            parsed(Layout::Sqlx, "20240101120000_add_users.sql"),
            Some((Role::Up, "20240101120000".into(), "add users".into()))
        );
        assert_eq!(
            parsed(Layout::Sqlx, "2_add_email.DOWN.SQL"),
            Some((Role::Down, "2".into(), "add email".into()))
        );
        assert_eq!(parsed(Layout::Sqlx, "add_users.sql"), None);
        assert_eq!(parsed(Layout::Sqlx, "1.sql"), None);
        assert_eq!(parsed(Layout::GolangMigrate, "1_init.sql"), None);
        assert_eq!(
            parsed(Layout::GolangMigrate, "000001_init.up.sql"),
            Some((Role::Up, "000001".into(), "init".into()))
        );
    }

    #[test]
    fn flyway_names() {
        let p = parse_name(Layout::Flyway, "V1_2__add_users.sql").unwrap();
        assert_eq!(
            (p.role, p.version.as_str(), p.description.as_str()),
            (Role::Up, "1.2", "add users")
        );
        let u = parse_name(Layout::Flyway, "U1.2__add_users.sql").unwrap();
        assert_eq!((u.role, u.key.clone()), (Role::Down, p.key.clone()));
        let r = parse_name(Layout::Flyway, "R__refresh_views.sql").unwrap();
        assert_eq!((r.role, r.version.as_str()), (Role::Repeatable, ""));
        assert_eq!(
            parse_name(Layout::Flyway, "V__x.sql").map(|p| p.version),
            None
        );
        assert_eq!(
            parse_name(Layout::Flyway, "V1.a__x.sql").map(|p| p.version),
            None
        );
        assert_eq!(
            parse_name(Layout::Flyway, "V1..2__x.sql").map(|p| p.version),
            None
        );
        assert_eq!(
            parse_name(Layout::Flyway, "R__.sql").map(|p| p.version),
            None
        );
        assert_eq!(
            parse_name(Layout::Flyway, "v1__x.sql").map(|p| p.version),
            None
        );
    }

    #[test]
    fn flyway_version_order() {
        let key = |n: &str| parse_name(Layout::Flyway, n).unwrap().key;
        assert!(key("V1.9__a.sql") < key("V1.10__a.sql"));
        assert!(key("V1_1__a.sql") < key("V2__a.sql"));
        assert!(key("V1__a.sql") < key("V1.1__a.sql"));
        assert_eq!(key("V1.0__a.sql"), key("V1__b.sql"));
        assert_eq!(key("V01__a.sql"), key("V1__b.sql"));
        assert!(key("V999.999__a.sql") < key("R__a.sql"));
        assert!(key("R__a.sql") < key("R__b.sql"));
    }

    #[test]
    fn other_names() {
        assert_eq!(
            parsed(Layout::Dbmate, "20240101120000_create_users.sql"),
            Some((
                Role::Sections,
                "20240101120000".into(),
                "create users".into()
            ))
        );
        assert_eq!(parsed(Layout::Dbmate, "x.sql"), None);
        assert_eq!(
            parsed(Layout::Goose, "00002_add_trigger.sql"),
            Some((Role::Sections, "00002".into(), "add trigger".into()))
        );
        assert_eq!(
            parsed(Layout::Drizzle, "0000_wise_hulk.sql"),
            Some((Role::Up, "0000".into(), "wise hulk".into()))
        );
        assert_eq!(
            parsed(Layout::Plain, "10_add_index.sql"),
            Some((Role::Up, "10".into(), "add index".into()))
        );
        assert_eq!(
            parsed(Layout::Plain, "seed.sql"),
            Some((Role::Up, String::new(), "seed".into()))
        );
        assert_eq!(
            parsed(Layout::Plain, "7.sql"),
            Some((Role::Up, "7".into(), "7".into()))
        );
        assert_eq!(
            parsed(Layout::Plain, ".sql"),
            Some((Role::Up, String::new(), "sql".into()))
        );
        assert_eq!(
            parsed(Layout::Plain, "é.sql"),
            Some((Role::Up, String::new(), "é".into()))
        );
    }

    #[test]
    fn folder_names() {
        assert_eq!(
            parse_folder_name(Layout::Diesel, "2024-01-15-093000_create_users")
                .map(|p| (p.version, p.description)),
            Some(("20240115093000".into(), "create users".into()))
        );
        assert_eq!(
            parse_folder_name(Layout::Diesel, "00000000000000_diesel_initial_setup")
                .map(|p| (p.version, p.description)),
            Some(("00000000000000".into(), "diesel initial setup".into()))
        );
        assert!(parse_folder_name(Layout::Diesel, "-_x").is_none());
        assert!(parse_folder_name(Layout::Diesel, "init").is_none());
        assert_eq!(
            parse_folder_name(Layout::Prisma, "20240101120000_init")
                .map(|p| (p.version, p.description)),
            Some(("20240101120000".into(), "init".into()))
        );
        assert!(parse_folder_name(Layout::Prisma, "init").is_none());
    }

    #[test]
    fn numeric_and_natural_order() {
        assert_eq!(cmp_digits("2", "10"), Ordering::Less);
        assert_eq!(cmp_digits("0010", "10"), Ordering::Equal);
        assert_eq!(
            cmp_digits("340282366920938463463374607431768211456", "9"),
            Ordering::Greater
        );
        assert_eq!(natural_str_cmp("2_x.sql", "10_x.sql"), Ordering::Less);
        assert_eq!(natural_str_cmp("a10", "a9"), Ordering::Greater);
        assert_eq!(natural_str_cmp("a", "ab"), Ordering::Less);
        assert_eq!(natural_str_cmp("é2", "é10"), Ordering::Less);
        assert_eq!(
            natural_path_cmp(Path::new("d/2/z.sql"), Path::new("d/10/a.sql")),
            Ordering::Less
        );
        assert_eq!(
            natural_path_cmp(Path::new("d/01.sql"), Path::new("d/1.sql")),
            Ordering::Less
        );
    }

    #[test]
    fn detection_by_names() {
        let d = |names: &[&str]| {
            let paths: Vec<PathBuf> = names.iter().map(PathBuf::from).collect();
            let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
            detect_by_names(&refs)
        };
        assert_eq!(d(&["1_a.up.sql", "1_a.down.sql"]), Layout::GolangMigrate);
        assert_eq!(d(&["1_a.up.sql", "2_b.sql"]), Layout::Sqlx);
        assert_eq!(d(&["1_a.sql", "2_b.sql"]), Layout::Plain);
        assert_eq!(d(&["V1__a.sql", "1_a.up.sql"]), Layout::Flyway);
        assert_eq!(d(&["R__a.sql"]), Layout::Flyway);
        assert_eq!(d(&["schema.sql"]), Layout::Plain);
    }

    #[test]
    fn suffix_stripping_never_panics_on_multibyte() {
        assert_eq!(strip_suffix_ci("é.sql", ".up.sql"), None);
        assert_eq!(strip_suffix_ci("ééé", ".sql"), None);
        assert_eq!(strip_suffix_ci("a.SQL", ".sql"), Some("a"));
        assert_eq!(parsed(Layout::Sqlx, "ééé.up.sql"), None);
    }

    /// Every combination of awkward name fragments parses or is rejected without panicking.
    #[test]
    fn name_parsing_never_panics() {
        const FRAGMENTS: [&str; 13] = [
            "V", "U", "R", "__", "_", "1", "0", ".", "é", ".up", ".down", ".sql", "-",
        ];
        let n = FRAGMENTS.len();
        let mut accepted = 0;
        for len in 0..=4u32 {
            for mut code in 0..n.pow(len) {
                let mut name = String::new();
                for _ in 0..len {
                    name.push_str(FRAGMENTS[code % n]);
                    code /= n;
                }
                for layout in Layout::ALL {
                    if parse_name(layout, &name).is_some() {
                        accepted += 1;
                    }
                    let _ = parse_folder_name(layout, &name);
                }
                let _ = natural_str_cmp(&name, "é1_.sql");
            }
        }
        // Plain accepts every name; the other layouts a strict subset.
        assert!(accepted > (1..=4).map(|l| n.pow(l)).sum::<usize>() + 1);
    }
}
