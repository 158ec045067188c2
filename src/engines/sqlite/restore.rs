//! SQLite restores: the restored copy replaces the live file with one rename, while an exclusive
//! lock keeps writers out and after the WAL is checkpointed; the old file stays as
//! `<file>.before_restore_<ts>` (a hard link, so it never goes missing in between).

use crate::engines::conn::Conn;
use std::path::Path;

/// Holds the live database's write lock for the swap, after folding its WAL into the main file.
pub struct LiveLock {
    conn: Conn,
}

impl LiveLock {
    pub async fn acquire(live: &Path) -> Result<LiveLock, String> {
        let mut conn = super::backup::open(live, false)
            .await
            .map_err(|e| e.to_string())?;
        let (_, rows) = conn
            .query_text("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .map_err(|e| format!("checkpointing the WAL: {e}"))?;
        // (busy, log frames, checkpointed frames): busy = 1 means another connection kept it
        if rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .as_deref()
            == Some("1")
        {
            conn.close().await;
            return Err("the database is busy (another connection is using its WAL): stop the application first".into());
        }
        conn.execute("BEGIN EXCLUSIVE")
            .await
            .map_err(|e| format!("locking the database: {e} (stop the application first)"))?;
        Ok(LiveLock { conn })
    }

    pub async fn release(mut self) {
        let _ = self.conn.execute("ROLLBACK").await;
        self.conn.close().await;
    }
}

/// Whether the database file is in WAL mode: bytes 18 and 19 of the header (file format write
/// and read versions) are 2, which SQLite persists with `journal_mode=WAL`.
pub fn is_wal(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok_and(|()| header[18] == 2 && header[19] == 2)
}

/// Switches a database file to WAL mode (persistent: later connections find it in WAL mode).
/// `VACUUM INTO` writes its copy in rollback-journal mode whatever the source's mode.
pub async fn set_wal(path: &Path) -> Result<(), String> {
    let mut conn = super::backup::open(path, false)
        .await
        .map_err(|e| e.to_string())?;
    let r = conn.query_text("PRAGMA journal_mode=WAL").await;
    conn.close().await;
    let (_, rows) = r.map_err(|e| e.to_string())?;
    match rows.first().and_then(|r| r.first().cloned().flatten()) {
        Some(m) if m.eq_ignore_ascii_case("wal") => Ok(()),
        other => Err(format!("journal_mode is {other:?} after asking for WAL")),
    }
}

/// Replaces `live` with `restored` (same folder), keeping the old file as `keep_as`.
pub fn swap_files(live: &Path, restored: &Path, keep_as: &Path) -> std::io::Result<()> {
    if live.exists() {
        std::fs::hard_link(live, keep_as)?;
    }
    std::fs::rename(restored, live)?;
    let dir = live
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

/// A SQLite restore copies a file: any message is a failure.
pub fn classify_errors(stderr: &str) -> Vec<crate::engines::dump::RestoreIssue> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| crate::engines::dump::RestoreIssue {
            class: crate::engines::dump::ErrorClass::Fatal,
            reason: "error".into(),
            message: l.to_string(),
            command: None,
        })
        .collect()
}
