//! Finding migrations on disk: layouts, ordering, up/down sections, transaction directives, checksums.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

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
    Plain,
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
    /// Whether the migrator wraps the up SQL in one transaction.
    pub transaction: bool,
    /// sha256 hex of the file text with the BOM removed and CRLF/CR normalised to LF.
    pub checksum: String,
}

// TEMP until discovery lands
impl Layout {
    pub fn as_str(self) -> &'static str {
        "plain"
    }
    pub fn parse(s: &str) -> Option<Layout> {
        (s == "plain").then_some(Layout::Plain)
    }
}
pub fn checksum(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
impl Layout {
    pub const ALL: [Layout; 1] = [Layout::Plain];
}
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DiscoverError(String);
pub fn discover(
    paths: &[PathBuf],
    _forced: Option<Layout>,
) -> Result<Vec<Migration>, DiscoverError> {
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p)
            .map_err(|e| DiscoverError(format!("{}: {e}", p.display())))?;
        let text: Arc<str> = Arc::from(text.as_str());
        out.push(Migration {
            layout: Layout::Plain,
            version: String::new(),
            description: String::new(),
            path: p.clone(),
            up: SqlSection {
                path: p.clone(),
                text: text.clone(),
                range: 0..text.len(),
            },
            down: None,
            transaction: true,
            checksum: checksum(&text),
        });
    }
    Ok(out)
}
