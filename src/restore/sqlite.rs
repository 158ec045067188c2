//! SQLite restores: a verified copy of the backup next to the database file replaces it with
//! one rename while an exclusive lock keeps writers out; the old file stays as
//! `<file>.before_restore_<ts>`. Nothing is half-done at any instant, so there is nothing to
//! journal.

use super::{
    Confirm, RestoreReport, RestoreSettings, Status, Strategy, changes, disk_check, free_ts, gate,
    summary_ok, verify_restored,
};
use crate::backup::{self, BackupError, Located, Progress, StepResult};
use crate::engines::EngineKind;
use crate::engines::sqlite::{backup as sqbk, restore as sqr};
use crate::engines::target::SqliteTarget;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

pub(super) async fn run(
    t: &SqliteTarget,
    loc: &Located,
    s: &RestoreSettings,
    _progress: Arc<dyn Progress>,
    confirm: Confirm<'_>,
    r: &mut RestoreReport,
) -> Result<(), BackupError> {
    let m = &loc.manifest;
    if r.strategy == Strategy::InPlace {
        r.check("strategy", false, "SQLite restores replace the database file in one rename (swap); in-place is not offered");
        gate(r, s, confirm);
        return Ok(());
    }
    let live = t.path.clone();
    let dir = live
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let name = live
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "db".into());
    let writable = {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        CString::new(dir.as_os_str().as_bytes())
            .map(|c| unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0)
            .unwrap_or(false)
    };
    // the restored file takes the live file's owner, mode and journal mode: an application
    // running as another user must still be able to open it, and a WAL database stays WAL
    let live_meta = std::fs::metadata(&live).ok();
    if let Some(md) = &live_meta {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions
        let me = unsafe { libc::geteuid() };
        let ok = me == 0 || md.uid() == me;
        r.check(
            "owner",
            ok,
            if ok {
                format!(
                    "the restored file keeps owner uid {} gid {}, mode {:04o}{}",
                    md.uid(),
                    md.gid(),
                    md.mode() & 0o7777,
                    if sqr::is_wal(&live) { " and WAL journal mode" } else { "" }
                )
            } else {
                format!(
                    "{} belongs to uid {}, and only root can give the restored file that owner: run the restore as uid {} or as root",
                    live.display(),
                    md.uid(),
                    md.uid()
                )
            },
        );
    }
    let wal = sqr::is_wal(&live);
    r.check("folder", writable, if writable { format!("{} is writable", dir.display()) } else { format!("{} is not writable (or missing): the restored file must be created next to the database", dir.display()) });
    disk_check(
        r,
        "disk",
        Some(&dir),
        Some(m.bytes + m.bytes / 10),
        "the restored copy",
    );
    let ts = free_ts(|ts| dir.join(format!("{name}.before_restore_{ts}")).exists());
    let keep = dir.join(format!("{name}.before_restore_{ts}"));
    r.check(
        "names",
        !keep.exists(),
        format!("the current file is kept as {}", keep.display()),
    );
    if live.exists() {
        let mut conn = sqbk::open(&live, true).await?;
        let now = crate::engines::snapshot::row_counts(&mut conn, u64::MAX)
            .await
            .map_err(|e| BackupError::db("counting rows", e))?;
        conn.close().await;
        r.changes = Some(changes(m, EngineKind::Sqlite, &now, None));
    }
    if !gate(r, s, confirm) {
        return Ok(());
    }
    let began = Instant::now();
    let copy = dir.join(format!(".{name}.restore_{ts}"));
    let copied = (|| -> std::io::Result<(u64, String)> {
        let mut out = backup::atomic::create_private(&copy)?;
        let mut src = std::fs::File::open(&loc.path)?;
        let r = backup::atomic::copy_hashing(&mut src, &mut out, &|_| {})?;
        out.sync_all()?;
        if let Some(meta) = &live_meta {
            use std::os::unix::fs::MetadataExt;
            std::os::unix::fs::chown(&copy, Some(meta.uid()), Some(meta.gid()))?;
            std::fs::set_permissions(&copy, meta.permissions())?;
        }
        Ok(r)
    })();
    let (bytes, sha) = match copied {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_file(&copy);
            r.step("copy", began, false, e.to_string());
            r.fail(
                true,
                format!(
                    "copying the backup failed ({e}); {} was not touched",
                    live.display()
                ),
            );
            return Ok(());
        }
    };
    let sum: StepResult = backup::checksum_result(m, bytes, &sha);
    r.step(
        "copy",
        began,
        sum.ok,
        format!("{}: {}", copy.display(), sum.details),
    );
    if !sum.ok {
        let _ = std::fs::remove_file(&copy);
        r.fail(
            true,
            format!(
                "the copy does not match the manifest; {} was not touched",
                live.display()
            ),
        );
        return Ok(());
    }
    let began = Instant::now();
    let diffs = match sqbk::integrity_check(&copy).await {
        Ok(None) => {
            let mut conn = sqbk::open(&copy, true).await?;
            let d = verify_restored(&mut conn, m, None)
                .await
                .unwrap_or_else(|e| vec![e]);
            conn.close().await;
            d
        }
        Ok(Some(p)) => vec![format!("PRAGMA integrity_check: {p}")],
        Err(e) => vec![e],
    };
    r.step(
        "verify",
        began,
        diffs.is_empty(),
        summary_ok(&diffs, m.tables.len()),
    );
    if !diffs.is_empty() {
        r.mismatches = diffs;
        let _ = std::fs::remove_file(&copy);
        r.fail(
            true,
            format!(
                "the restored copy does not match the manifest; {} was not touched",
                live.display()
            ),
        );
        return Ok(());
    }
    if wal && let Err(e) = sqr::set_wal(&copy).await {
        let _ = std::fs::remove_file(&copy);
        r.fail(
            true,
            format!(
                "the database is in WAL mode, and the restored copy could not be switched to it ({e}); {} was not touched",
                live.display()
            ),
        );
        return Ok(());
    }
    let began = Instant::now();
    let lock = if live.exists() {
        match sqr::LiveLock::acquire(&live).await {
            Ok(l) => Some(l),
            Err(e) => {
                let _ = std::fs::remove_file(&copy);
                r.step("swap", began, false, e.clone());
                r.fail(true, format!("{e}; {} was not touched", live.display()));
                return Ok(());
            }
        }
    } else {
        None
    };
    let swapped = sqr::swap_files(&live, &copy, &keep);
    if let Some(l) = lock {
        l.release().await;
    }
    match swapped {
        Ok(()) => {
            let had_live = keep.exists();
            r.step(
                "swap",
                began,
                true,
                if had_live {
                    format!(
                        "{} replaced; the previous file is {}",
                        live.display(),
                        keep.display()
                    )
                } else {
                    format!("{} created", live.display())
                },
            );
            if had_live {
                r.kept_as = Some(keep.display().to_string());
            }
            r.status = Status::Restored;
            r.live_untouched = false;
            r.message = format!("restored {} from {}", live.display(), m.file);
        }
        Err(e) => {
            let _ = std::fs::remove_file(&copy);
            let _ = std::fs::remove_file(&keep);
            r.step("swap", began, false, e.to_string());
            r.fail(
                true,
                format!(
                    "replacing the file failed ({e}); {} was not touched",
                    live.display()
                ),
            );
        }
    }
    Ok(())
}
