//! The copies a swap restore keeps of the database it replaced (`<db>_before_restore_<ts>` on
//! PostgreSQL, `<file>.before_restore_<ts>` next to a SQLite file): listed with their size and
//! age by `backup list`, and pruned with the backups (`backup prune --keep-before-restore 7d`),
//! never the newest one.

use super::BackupError;
use crate::engines::EngineKind;
use crate::engines::target::Target;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct KeptCopy {
    /// The database (or file) name of the copy.
    pub name: String,
    /// The database it was the live version of.
    pub database: String,
    /// When the restore that kept it ran (from its name).
    pub taken_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    pub age_seconds: u64,
}

/// `<stem>_YYYYmmdd_HHMMSS` → the time.
fn stamp(name: &str, marker: &str) -> Option<DateTime<Utc>> {
    let (_, ts) = name.rsplit_once(marker)?;
    // a restore that found its name taken added `_2`, `_3`, … (see `restore::free_ts`)
    let (ts, n) = match ts.get(15..) {
        Some(rest) if !rest.is_empty() => (&ts[..15], rest),
        _ => (ts, ""),
    };
    if !(n.is_empty()
        || n.len() > 1 && n.starts_with('_') && n[1..].bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    NaiveDateTime::parse_from_str(ts, "%Y%m%d_%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

fn copy(name: String, database: &str, taken_at: DateTime<Utc>, bytes: Option<u64>) -> KeptCopy {
    let age = (Utc::now() - taken_at).num_seconds().max(0) as u64;
    KeptCopy {
        name,
        database: database.to_string(),
        taken_at,
        bytes,
        age_seconds: age,
    }
}

/// The copies kept for `target`'s database, oldest first.
pub async fn list(target: &Target) -> Result<Vec<KeptCopy>, BackupError> {
    let db = target.database().to_string();
    let mut out = match target {
        Target::Postgres(t) => {
            let admin = EngineKind::Postgres.engine().admin();
            let mut conn = admin.connect_admin(target).await?;
            let marker = format!("{db}_before_restore_");
            let names = admin.databases(&mut conn).await?;
            let mut v = Vec::new();
            for name in names.into_iter().filter(|n| n.starts_with(&marker)) {
                let Some(at) = stamp(&name, "_before_restore_") else {
                    continue;
                };
                let (_, rows) = conn
                    .query_text(&format!(
                        "SELECT pg_database_size({})::text",
                        crate::engines::postgres::admin::lit(&name)
                    ))
                    .await
                    .map_err(|e| BackupError::db("reading the size of a kept copy", e))?;
                let bytes = rows
                    .first()
                    .and_then(|r| r.first().cloned().flatten())
                    .and_then(|v| v.parse().ok());
                v.push(copy(name, &db, at, bytes));
            }
            conn.close().await;
            let _ = t;
            v
        }
        Target::Sqlite(t) => {
            let dir = t
                .path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let base = t
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let marker = format!("{base}.before_restore_");
            let mut v = Vec::new();
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(at) = name
                    .starts_with(&marker)
                    .then(|| stamp(&name, ".before_restore_"))
                    .flatten()
                {
                    let bytes = e.metadata().ok().map(|m| m.len());
                    v.push(copy(name, &db, at, bytes));
                }
            }
            v
        }
        // MySQL restores in place: nothing is kept but the safety backup, a backup file
        Target::Mysql(_) => Vec::new(),
    };
    out.sort_by_key(|c| c.taken_at);
    Ok(out)
}

/// Removes the copies older than `keep_for`, never the newest. Returns what was (or with
/// `dry_run` would be) removed.
pub async fn prune(
    target: &Target,
    keep_for: Duration,
    dry_run: bool,
) -> Result<Vec<KeptCopy>, BackupError> {
    let all = list(target).await?;
    let Some(newest) = all.last().map(|c| c.name.clone()) else {
        return Ok(Vec::new());
    };
    let old: Vec<KeptCopy> = all
        .into_iter()
        .filter(|c| c.name != newest && c.age_seconds > keep_for.as_secs())
        .collect();
    if dry_run || old.is_empty() {
        return Ok(old);
    }
    match target {
        Target::Postgres(_) => {
            let admin = EngineKind::Postgres.engine().admin();
            let mut conn = admin.connect_admin(target).await?;
            for c in &old {
                admin.drop_database(&mut conn, &c.name).await?;
            }
            conn.close().await;
        }
        Target::Sqlite(t) => {
            let dir = t
                .path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            for c in &old {
                std::fs::remove_file(dir.join(&c.name))
                    .map_err(|e| BackupError::Failed(format!("removing {}: {e}", c.name)))?;
            }
        }
        Target::Mysql(_) => {}
    }
    Ok(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_time() {
        let t = stamp("shop_before_restore_20261129_141500", "_before_restore_").unwrap();
        assert_eq!(
            t.format("%Y-%m-%d %H:%M:%S").to_string(),
            "2026-11-29 14:15:00"
        );
        assert!(stamp("shop_before_restore_x", "_before_restore_").is_none());
        let second = stamp("shop_before_restore_20261129_141500_2", "_before_restore_").unwrap();
        assert_eq!(second, t);
        assert!(stamp("shop_before_restore_20261129_141500_x", "_before_restore_").is_none());
    }
}
