//! Layout detection and per-layout parsing.
//!
//! # Detection rules (deterministic; the first rule that matches wins)
//!
//! For a **folder**, only its direct entries are looked at; hidden entries (name starting with
//! `.`) are ignored, and so are files whose extension is not `.sql` (ASCII case ignored):
//!
//! 1. Content markers in the folder's `.sql` files: any file with a `-- migrate:up` line →
//!    **dbmate**; else any file with a `-- +goose Up` annotation (ASCII case ignored) →
//!    **goose**; else any file containing `--> statement-breakpoint`, or a `meta/_journal.json`
//!    file in the folder → **drizzle**.
//! 2. Structure: a subfolder holding `migration.sql` → **prisma**; else a subfolder holding
//!    `up.sql` → **diesel**.
//! 3. File names: any `V<ver>__<desc>.sql`, `U<ver>__<desc>.sql` or `R__<desc>.sql` →
//!    **flyway**; else any `<int>_<desc>.up.sql` / `.down.sql` → **golang-migrate** when every
//!    `.sql` file is such an up/down file, **sqlx** otherwise.
//! 4. Otherwise, when the folder has `.sql` files → **plain**.
//! 5. When the folder has no `.sql` file of its own but subfolders (at any depth) do → **plain**
//!    over all of them (recursively, natural sort of the paths).
//! 6. Otherwise: [`DiscoverError::NoMigrations`].
//!
//! Content markers are only looked for in the folder's own `.sql` files, so a folder without
//! any never matches rule 1. After detection (or when the layout is forced), every `.sql` file
//! (and, for prisma/diesel, every subfolder holding `.sql` files) must fit the layout's naming,
//! otherwise [`DiscoverError::LayoutMismatch`] names the first one that does not: migsafe never
//! silently skips SQL it was pointed at. Flat layouts do not look into subfolders (their
//! subfolders, e.g. Drizzle's `meta/`, are ignored); prisma and diesel only look at subfolders
//! (a `.sql` file directly in the folder is a mismatch).
//!
//! A **set of files** (the `.sql` files a glob matched) is detected with the same rules, where
//! rule 2 becomes "a file `migration.sql` whose folder is named `<digits>_<name>`" (prisma) and
//! "a file `up.sql`/`down.sql` whose folder is named like a Diesel migration" (diesel), and the
//! Drizzle hint is a `meta/_journal.json` beside any of the files.
//!
//! A **single file** is exactly one migration, detected the same way from its own contents and
//! name. Special cases: a `.down.sql` file (sqlx/golang-migrate), a Diesel `down.sql` or a
//! Flyway `U…` undo file given on its own is reported as a migration whose up section is that
//! file's whole text (and no down section); an `.up.sql` or Diesel `up.sql` file picks up its
//! sibling down file when one exists. A `<int>_<desc>.sql` file (like a folder of only such
//! files) is plain. A file given explicitly is read whatever its extension.
//!
//! # Per-layout parsing
//!
//! | layout | version | description |
//! |---|---|---|
//! | sqlx, golang-migrate, goose, drizzle | digits before the first `_` | the rest, `_` → space |
//! | dbmate | leading digits | the rest after one `_`/`-`, `_` → space |
//! | flyway | `V1_2__x` → `1.2` (`_` → `.`); repeatable: empty | after `__`, `_` → space |
//! | prisma | leading digits of the folder name | the rest of the folder name |
//! | diesel | folder name up to the first `_`, dashes removed | the rest of the folder name |
//! | plain | leading digits of the file stem, else empty | the stem after the digits and one `_`/`-`/`.`/space (the whole stem if that is empty) |
//!
//! Ordering: integer versions compare numerically (any length: digit strings compared by
//! length after stripping leading zeros, then lexically); Flyway versions compare part by part
//! numerically, trailing zero parts ignored (`1.0` = `1`, `1.10` > `1.9`), and repeatable
//! migrations follow all versioned ones ordered by description. Two migrations with an equal
//! version are an error — except for plain (ordered by path, versions are informative only) and
//! prisma (which identifies migrations by folder name; equal timestamps are ordered by name).
//! Plain files are ordered by the natural sort of their paths (`2_x.sql` < `10_x.sql`).
//!
//! Transactions: every migration runs in a transaction unless dbmate's `-- migrate:up
//! transaction:false`, goose's `-- +goose NO TRANSACTION`, Diesel's `metadata.toml` with
//! `run_in_transaction = false`, or a `-- no-transaction` / `-- migsafe:no-transaction` line at
//! the top of the file (any layout, see [`super::sections::has_no_transaction_directive`]) says
//! otherwise. golang-migrate stays `true` even though some of its drivers do not wrap
//! migrations in a transaction: migsafe checks the migration as if it were transactional unless
//! told otherwise by a directive.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::sections::{self, Sections};
use super::{DiscoverError, Layout, Migration, SqlSection, checksum};

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

/// Whether `path` has the extension `sql` (ASCII case ignored).
pub(crate) fn has_sql_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("sql"))
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

/// Where a migration sorts; versioned ones before repeatable ones.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SortKey {
    Versioned(Vec<Num>),
    Repeatable(String),
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

fn int_parsed(role: Role, version: &str, rest: &str) -> Parsed {
    Parsed {
        role,
        version: version.to_string(),
        description: describe(rest),
        key: SortKey::int(version),
    }
}

/// Parses the file name of a flat layout (not prisma/diesel, whose names are folder names).
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
            Some(int_parsed(role, version, rest))
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
            Some(int_parsed(Role::Sections, version, rest))
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
                key: SortKey::Versioned(Vec::new()),
            })
        }
        Layout::Prisma | Layout::Diesel => None,
    }
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
    Some(Parsed {
        role,
        version: parts.join("."),
        description: describe(desc),
        key: SortKey::Versioned(nums),
    })
}

/// Parses a prisma/diesel migration folder name into (version, description, key).
fn parse_folder_name(layout: Layout, name: &str) -> Option<(String, String, SortKey)> {
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
            Some((version.to_string(), describe(rest), SortKey::int(version)))
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
            let key = SortKey::int(&version);
            Some((version, describe(rest), key))
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

/// Rule 3 and 4: file names.
fn detect_by_names(paths: &[&Path]) -> Layout {
    let names: Vec<&str> = paths.iter().filter_map(|p| file_name(p)).collect();
    if names.iter().any(|n| parse_flyway(n).is_some()) {
        return Layout::Flyway;
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
    dirs: Vec<PathBuf>,
}

/// Non-hidden `.sql` files (including dangling symlinks, which then fail to read) and
/// subfolders of `dir`, each in natural order.
fn list_dir(dir: &Path) -> Result<Listing, DiscoverError> {
    let mut sql_files = Vec::new();
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
        }
    }
    sql_files.sort_by(|a, b| natural_path_cmp(a, b));
    dirs.sort_by(|a, b| natural_path_cmp(a, b));
    Ok(Listing { sql_files, dirs })
}

/// Every non-hidden `.sql` file below `dir` (any depth), in natural order. Symlinked folders
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
pub(crate) fn discover_folder(
    dir: &Path,
    forced: Option<Layout>,
) -> Result<Vec<Migration>, DiscoverError> {
    let listing = list_dir(dir)?;
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
            (layout, sources)
        }
        None => {
            if has_sub("migration.sql") {
                (Layout::Prisma, Vec::new())
            } else if has_sub("up.sql") {
                (Layout::Diesel, Vec::new())
            } else {
                let files = collect_sql_recursive(dir)?;
                if files.is_empty() {
                    return Err(no_migrations());
                }
                (Layout::Plain, read_all(&files)?)
            }
        }
    };

    match layout {
        Layout::Prisma | Layout::Diesel => {
            if !listing.sql_files.is_empty() {
                // `.sql` files of its own: the folder is itself one migration folder (its
                // subfolders are ignored); `folder_unit` rejects files that do not belong.
                let unit = folder_unit(dir, layout, is_forced)?.ok_or_else(no_migrations)?;
                return finish_folder_units(vec![unit], layout);
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
            finish_folder_units(units, layout)
        }
        _ => build_flat(layout, is_forced, sources, false),
    }
}

/// The migrations of the `.sql` files a glob matched (two or more).
pub(crate) fn discover_file_set(
    paths: &[PathBuf],
    forced: Option<Layout>,
) -> Result<Vec<Migration>, DiscoverError> {
    let sources = read_all(paths)?;
    let layout = forced.unwrap_or_else(|| detect_files(&sources));
    let is_forced = forced.is_some();
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
            finish_folder_units(units, layout)
        }
        _ => build_flat(layout, is_forced, sources, false),
    }
}

/// The one migration of an explicitly named file.
pub(crate) fn discover_file(
    path: &Path,
    forced: Option<Layout>,
) -> Result<Migration, DiscoverError> {
    let source = read_source(path)?;
    let layout = forced.unwrap_or_else(|| detect_files(std::slice::from_ref(&source)));
    let is_forced = forced.is_some();
    match layout {
        Layout::Prisma | Layout::Diesel => {
            let name = file_name(path);
            let dir = path.parent().unwrap_or(Path::new(""));
            let folder = folder_name_of(path).and_then(|n| parse_folder_name(layout, n));
            let (Some(name), Some((version, description, _))) = (name, folder) else {
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
            let transaction = if layout == Layout::Diesel {
                diesel_run_in_transaction(dir)?
            } else {
                true
            };
            Ok(whole_file_migration(
                layout,
                version,
                description,
                up,
                down,
                transaction,
            ))
        }
        _ => {
            let mut migrations = build_flat(layout, is_forced, vec![source], true)?;
            match migrations.pop() {
                Some(m) if migrations.is_empty() => Ok(m),
                // build_flat turns one source into exactly one migration in single mode.
                _ => Err(mismatch(path, layout, is_forced)),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Building migrations

struct Unit {
    parsed: Parsed,
    source: Source,
    sections: Option<Sections>,
    down: Option<Source>,
    /// Extra transaction switch (Diesel metadata.toml); `true` when absent.
    transaction: bool,
}

fn whole_file_migration(
    layout: Layout,
    version: String,
    description: String,
    up: Source,
    down: Option<Source>,
    transaction: bool,
) -> Migration {
    let transaction = transaction && !sections::has_no_transaction_directive(&up.text);
    Migration {
        layout,
        version,
        description,
        path: up.path.clone(),
        checksum: checksum(&up.text),
        up: SqlSection {
            path: up.path.clone(),
            range: 0..up.text.len(),
            text: up.text,
        },
        down: down.map(|d| SqlSection {
            path: d.path,
            range: 0..d.text.len(),
            text: d.text,
        }),
        transaction,
    }
}

fn unit_to_migration(layout: Layout, unit: Unit) -> Migration {
    let Unit {
        parsed,
        source,
        sections,
        down,
        transaction,
    } = unit;
    match sections {
        Some(sections) => Migration {
            layout,
            version: parsed.version,
            description: parsed.description,
            path: source.path.clone(),
            checksum: checksum(&source.text),
            up: SqlSection {
                path: source.path.clone(),
                text: Arc::clone(&source.text),
                range: sections.up,
            },
            down: sections.down.map(|range| SqlSection {
                path: source.path.clone(),
                text: Arc::clone(&source.text),
                range,
            }),
            transaction: transaction && sections.transaction,
        },
        None => whole_file_migration(
            layout,
            parsed.version,
            parsed.description,
            source,
            down,
            transaction,
        ),
    }
}

fn duplicate_label(parsed: &Parsed) -> String {
    match &parsed.key {
        SortKey::Repeatable(desc) => format!("R__{desc}"),
        SortKey::Versioned(_) => parsed.version.clone(),
    }
}

/// Sorts units by (key, path) and rejects equal keys when `check` is set.
fn sort_units(units: &mut [Unit], check: bool) -> Result<(), DiscoverError> {
    units.sort_by(|a, b| {
        a.parsed
            .key
            .cmp(&b.parsed.key)
            .then_with(|| natural_path_cmp(&a.source.path, &b.source.path))
    });
    if check {
        for pair in units.windows(2) {
            if let [a, b] = pair
                && a.parsed.key == b.parsed.key
            {
                return Err(DiscoverError::DuplicateVersion {
                    version: duplicate_label(&a.parsed),
                    first: a.source.path.clone(),
                    second: b.source.path.clone(),
                });
            }
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

/// Builds the migrations of a flat layout from its files. In `single` mode (one explicitly
/// named file) a down file is reported as an up migration.
fn build_flat(
    layout: Layout,
    forced: bool,
    sources: Vec<Source>,
    single: bool,
) -> Result<Vec<Migration>, DiscoverError> {
    let mut ups: Vec<Unit> = Vec::new();
    let mut downs: Vec<Unit> = Vec::new();
    for source in sources {
        let parsed = match (file_name(&source.path), layout) {
            (Some(name), _) => parse_name(layout, name),
            (None, Layout::Plain) => {
                let lossy = source
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                parse_name(layout, &lossy)
            }
            (None, _) => None,
        };
        let Some(mut parsed) = parsed else {
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
        let unit = Unit {
            parsed,
            source,
            sections,
            down: None,
            transaction: true,
        };
        if unit.parsed.role == Role::Down {
            downs.push(unit);
        } else {
            ups.push(unit);
        }
    }

    let check = layout != Layout::Plain;
    sort_units(&mut ups, check)?;
    sort_units(&mut downs, check)?;
    for down in downs {
        match ups.binary_search_by(|u| u.parsed.key.cmp(&down.parsed.key)) {
            Ok(i) => {
                if let Some(up) = ups.get_mut(i) {
                    up.down = Some(down.source);
                }
            }
            Err(_) => {
                return Err(DiscoverError::OrphanDown {
                    path: down.source.path,
                    version: down.parsed.version,
                });
            }
        }
    }
    if matches!(layout, Layout::Sqlx | Layout::GolangMigrate) {
        for up in ups.iter_mut().filter(|u| u.down.is_none()) {
            if let Some(path) = sibling_down(&up.source.path) {
                up.down = Some(read_source(&path)?);
            }
        }
    }
    Ok(ups
        .into_iter()
        .map(|u| unit_to_migration(layout, u))
        .collect())
}

/// One prisma/diesel migration folder: `Ok(None)` when it holds no `.sql` file at all (such
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
                    .map(|(v, _, _)| v)
                    .unwrap_or_default(),
            }),
            _ => Ok(None),
        };
    }
    let Some((version, description, key)) =
        file_name(dir).and_then(|n| parse_folder_name(layout, n))
    else {
        return Err(mismatch(dir, layout, forced));
    };
    let source = read_source(&main_path)?;
    let down = match down_path {
        Some(p) if exists(&p) => Some(read_source(&p)?),
        _ => None,
    };
    let transaction = if layout == Layout::Diesel {
        diesel_run_in_transaction(dir)?
    } else {
        true
    };
    Ok(Some(Unit {
        parsed: Parsed {
            role: Role::Up,
            version,
            description,
            key,
        },
        source,
        sections: None,
        down,
        transaction,
    }))
}

fn finish_folder_units(
    mut units: Vec<Unit>,
    layout: Layout,
) -> Result<Vec<Migration>, DiscoverError> {
    // Prisma identifies migrations by folder name: equal timestamps are legal there.
    sort_units(&mut units, layout != Layout::Prisma)?;
    Ok(units
        .into_iter()
        .map(|u| unit_to_migration(layout, u))
        .collect())
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
                .map(|(v, d, _)| (v, d)),
            Some(("20240115093000".into(), "create users".into()))
        );
        assert_eq!(
            parse_folder_name(Layout::Diesel, "00000000000000_diesel_initial_setup")
                .map(|(v, d, _)| (v, d)),
            Some(("00000000000000".into(), "diesel initial setup".into()))
        );
        assert_eq!(parse_folder_name(Layout::Diesel, "-_x"), None);
        assert_eq!(parse_folder_name(Layout::Diesel, "init"), None);
        assert_eq!(
            parse_folder_name(Layout::Prisma, "20240101120000_init").map(|(v, d, _)| (v, d)),
            Some(("20240101120000".into(), "init".into()))
        );
        assert_eq!(parse_folder_name(Layout::Prisma, "init"), None);
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
