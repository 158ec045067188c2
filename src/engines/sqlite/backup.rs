//! SQLite backups: `VACUUM INTO` (a consistent copy of a database in use, one read transaction)
//! and the integrity check that stands for a full read of the copy.

use crate::engines::conn::Conn;
use std::path::Path;

fn url(path: &Path, read_only: bool) -> String {
    // immutable=1 would skip locking; a backup file is not written by anyone, but the live
    // database is, so only read-only mode is used
    if read_only {
        format!("sqlite://{}?mode=ro", path.display())
    } else {
        format!("sqlite://{}", path.display())
    }
}

pub async fn open(path: &Path, read_only: bool) -> Result<Conn, crate::engines::EngineError> {
    Conn::open(&url(path, read_only)).await
}

/// Copies the database at `source` into `dest` (which must not exist or be empty) in one read
/// transaction: writers may continue meanwhile; the copy is the state at its start.
pub async fn vacuum_into(source: &mut Conn, dest: &Path) -> Result<(), sqlx::Error> {
    let d = dest.display().to_string().replace('\'', "''");
    source
        .execute(&format!("VACUUM INTO '{d}'"))
        .await
        .map(|_| ())
}

pub async fn sqlite_version(conn: &mut Conn) -> Result<String, sqlx::Error> {
    let (_, rows) = conn.query_text("SELECT sqlite_version()").await?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
        .unwrap_or_default())
}

/// `PRAGMA integrity_check`: reads every page of the file; `Ok(None)` when it is sound, else the
/// first problems.
pub async fn integrity_check(path: &Path) -> Result<Option<String>, String> {
    let mut c = open(path, true).await.map_err(|e| e.to_string())?;
    let r = c.query_text("PRAGMA integrity_check(20)").await;
    c.close().await;
    let (_, rows) = r.map_err(|e| e.to_string())?;
    let lines: Vec<String> = rows
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    if lines.len() == 1 && lines[0] == "ok" {
        Ok(None)
    } else {
        Ok(Some(lines.join("; ")))
    }
}
