//! Which migrations a database has already applied, read from the layout's own history table
//! (`_sqlx_migrations`, `schema_migrations`, `flyway_schema_history`, …), for `--pending`,
//! `--schema-from` and `--from-backup`.

use crate::engines::EngineKind;
use crate::engines::conn::Conn;
use crate::migrations::{Layout, Migration};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// The applied state a history table records.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The table it was read from (qualified as queried).
    pub table: String,
    /// Normalised versions (or names/hashes, per layout) recorded as applied.
    pub versions: HashSet<String>,
    /// golang-migrate keeps only the current version: everything up to it is applied.
    pub up_to: Option<u128>,
    /// A version the history marks as failed/dirty.
    pub dirty: Option<String>,
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

fn digits(v: &str) -> String {
    norm(&v.chars().filter(|c| c.is_ascii_digit()).collect::<String>())
}

fn folder_name(m: &Migration) -> String {
    m.path
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Applied {
    pub fn contains(&self, m: &Migration) -> bool {
        if let Some(max) = self.up_to {
            return digits(&m.version).parse::<u128>().is_ok_and(|v| v <= max);
        }
        let keys: Vec<String> = match m.layout {
            Layout::Prisma => vec![folder_name(m)],
            Layout::Diesel => vec![digits(&m.version), digits(&folder_name(m))],
            Layout::Drizzle => {
                let d = Sha256::digest(m.up.text.as_bytes());
                vec![crate::sys::hex::hex(&d), m.checksum.clone()]
            }
            Layout::Plain => {
                let file = m
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                vec![norm(&m.version), file]
            }
            _ => vec![norm(&m.version)],
        };
        keys.iter()
            .any(|k| !k.is_empty() && self.versions.contains(k))
    }
}

fn cast(kind: EngineKind, col: &str) -> String {
    match kind {
        EngineKind::Mysql => format!("CAST({col} AS CHAR)"),
        _ => format!("CAST({col} AS TEXT)"),
    }
}

/// Reads the history table of `layout`; `None` when the table does not exist (or cannot be read).
pub async fn read(conn: &mut Conn, layout: Layout) -> Option<Applied> {
    let kind = conn.kind();
    let truthy = |col: &str| {
        if kind == EngineKind::Postgres {
            col.to_string()
        } else {
            format!("{col} = 1")
        }
    };
    let table = if layout == Layout::Drizzle && kind == EngineKind::Postgres {
        "drizzle.__drizzle_migrations".to_string()
    } else {
        layout.history_table().to_string()
    };
    let sql = match layout {
        Layout::Sqlx => format!(
            "SELECT {}, {} FROM {table}",
            cast(kind, "version"),
            cast(
                kind,
                &format!("CASE WHEN {} THEN 1 ELSE 0 END", truthy("success"))
            )
        ),
        Layout::GolangMigrate => format!(
            "SELECT {}, {} FROM {table}",
            cast(kind, "version"),
            cast(
                kind,
                &format!("CASE WHEN {} THEN 1 ELSE 0 END", truthy("dirty"))
            )
        ),
        // pop's schema_migration has one `version` column
        Layout::Dbmate | Layout::Diesel | Layout::Pop => {
            format!("SELECT {}, '1' FROM {table}", cast(kind, "version"))
        }
        Layout::Flyway => format!(
            "SELECT {}, {} FROM {table} WHERE version IS NOT NULL",
            cast(kind, "version"),
            cast(
                kind,
                &format!("CASE WHEN {} THEN 1 ELSE 0 END", truthy("success"))
            )
        ),
        Layout::Goose => format!(
            "SELECT {}, {} FROM {table} ORDER BY id",
            cast(kind, "version_id"),
            cast(
                kind,
                &format!("CASE WHEN {} THEN 1 ELSE 0 END", truthy("is_applied"))
            )
        ),
        Layout::Prisma => format!(
            "SELECT migration_name, CASE WHEN finished_at IS NOT NULL AND rolled_back_at IS NULL THEN '1' ELSE '0' END FROM {table}"
        ),
        Layout::Drizzle => format!("SELECT hash, '1' FROM {table}"),
        Layout::Plain => format!("SELECT {}, '1' FROM {table}", cast(kind, "version")),
    };
    let (_, rows) = conn.query_text(&sql).await.ok()?;
    let mut a = Applied {
        table,
        ..Applied::default()
    };
    for r in rows {
        let v = r.first().cloned().flatten().unwrap_or_default();
        let ok = r.get(1).cloned().flatten().as_deref() == Some("1");
        match layout {
            Layout::GolangMigrate => {
                a.up_to = digits(&v).parse().ok();
                if ok {
                    a.dirty = Some(v);
                }
            }
            Layout::Goose => {
                // rows are events: the last one per version decides
                if ok {
                    a.versions.insert(norm(&v));
                } else {
                    a.versions.remove(&norm(&v));
                }
            }
            Layout::Diesel => {
                a.versions.insert(digits(&v));
            }
            _ => {
                if ok {
                    a.versions.insert(norm(&v));
                } else {
                    a.dirty = Some(v);
                }
            }
        }
    }
    Some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_normalise() {
        assert_eq!(norm("00001"), "1");
        assert_eq!(norm("0"), "0");
        assert_eq!(norm("1.1"), "1.1");
        assert_eq!(digits("2024-01-15-093000"), "20240115093000");
    }
}
