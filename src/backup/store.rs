//! The backup folder as a whole: listing backups with their manifests, pruning old ones (never
//! the newest verified), cleaning up after runs that died, and keeping `LATEST` pointed at the
//! newest verified backup.

use super::atomic::{self, STAGING_PREFIX};
use super::manifest::{self, MANIFEST_SUFFIX, Manifest, Purpose};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One backup (or something that looks like one) in the folder.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub file: String,
    pub path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Manifest>,
    pub verified: bool,
    pub latest: bool,
    /// Why this is not a usable backup: no manifest (never finished), invalid manifest, file
    /// missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Entry {
    pub fn purpose(&self) -> Purpose {
        self.manifest
            .as_ref()
            .map(|m| m.purpose)
            .unwrap_or_default()
    }
}

fn is_side_file(name: &str) -> bool {
    name.ends_with(MANIFEST_SUFFIX) || name.ends_with(".globals.sql") || name.contains(".tmp-")
}

/// Every backup in `dir`, oldest first (by start time; name for those without a manifest).
pub fn list(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let latest = manifest::read_latest(dir);
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    let mut names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        let path = dir.join(name);
        if name.starts_with("backup_") && !is_side_file(name) {
            let mpath = Manifest::path_for(&path);
            let (manifest, problem) = if mpath.exists() {
                match Manifest::load(&mpath) {
                    Ok(m) if m.file == *name => (Some(m), None),
                    Ok(m) => (None, Some(format!("its manifest describes {:?}", m.file))),
                    Err(e) => (None, Some(e.to_string())),
                }
            } else {
                (
                    None,
                    Some("no manifest: the backup never finished".to_string()),
                )
            };
            let verified = manifest.as_ref().is_some_and(|m| m.verified());
            out.push(Entry {
                file: name.clone(),
                path,
                latest: latest.as_deref() == Some(name.as_str()),
                verified,
                manifest,
                problem,
            });
        } else if let Some(data) = name.strip_suffix(MANIFEST_SUFFIX)
            && data.starts_with("backup_")
            && !names.iter().any(|n| n == data)
        {
            out.push(Entry {
                file: data.to_string(),
                path: dir.join(data),
                manifest: Manifest::load(&path).ok(),
                verified: false,
                latest: latest.as_deref() == Some(data),
                problem: Some("the backup file is missing".into()),
            });
        }
    }
    // LATEST names the newest verified backup: an entry that is not (its manifest was replaced,
    // its file is gone) is never shown as LATEST, whatever the file says
    for e in out.iter_mut() {
        e.latest = e.latest && e.verified && e.problem.is_none();
    }
    out.sort_by(|a, b| {
        let ka = a.manifest.as_ref().map(|m| m.started_at);
        let kb = b.manifest.as_ref().map(|m| m.started_at);
        ka.cmp(&kb).then_with(|| a.file.cmp(&b.file))
    });
    Ok(out)
}

/// The newest verified backup taken by `backup create` (pre-restore safety backups never
/// become `LATEST`).
fn newest_verified(entries: &[Entry]) -> Option<&Entry> {
    entries
        .iter()
        .filter(|e| {
            e.verified && e.problem.is_none() && e.path.exists() && e.purpose() == Purpose::Backup
        })
        .max_by(|a, b| {
            let (ma, mb) = (
                a.manifest.as_ref().map(|m| m.started_at),
                b.manifest.as_ref().map(|m| m.started_at),
            );
            ma.cmp(&mb).then_with(|| a.file.cmp(&b.file))
        })
}

/// Points `LATEST` at the newest verified backup (or removes it); returns its name.
pub fn refresh_latest(dir: &Path) -> std::io::Result<Option<String>> {
    let entries = list(dir)?;
    let name = newest_verified(&entries).map(|e| e.file.clone());
    if manifest::read_latest(dir) != name {
        manifest::write_latest(dir, name.as_deref())?;
    }
    Ok(name)
}

#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub file: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    pub kept: Vec<String>,
    pub removed: Vec<Removed>,
    pub dry_run: bool,
    pub latest: Option<String>,
}

/// Files left by unfinished runs are only removed once they are this old (a run may be between
/// renaming its file and writing its manifest).
const ORPHAN_AGE: Duration = Duration::from_secs(3600);

fn remove_path(p: &Path) -> std::io::Result<()> {
    if p.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    }
}

/// How long ago `path` was last modified.
fn age(path: &Path) -> Option<Duration> {
    std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
}

/// A staging folder in the backup folder: a backup being written, or left by a run that died.
#[derive(Debug, Clone, Serialize)]
pub struct StagingEntry {
    pub name: String,
    pub path: PathBuf,
    pub age_seconds: u64,
    /// Its run is still alive (the backup is being written).
    pub running: bool,
}

/// Every staging folder of `dir`, oldest first: `backup list` shows them, so a run that died
/// does not leave a folder nobody sees. A run is gone when its owner file names a dead process,
/// or when it has none and is older than an hour.
pub fn staging(dir: &Path) -> std::io::Result<Vec<StagingEntry>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for s in rd.flatten() {
        let name = s.file_name().to_string_lossy().into_owned();
        if !name.starts_with(STAGING_PREFIX) {
            continue;
        }
        let path = s.path();
        let age = age(&path);
        let running = match atomic::staging_alive(&path) {
            Some(alive) => alive,
            None => age.is_none_or(|age| age <= ORPHAN_AGE),
        };
        out.push(StagingEntry {
            running,
            name,
            path,
            age_seconds: age.map_or(0, |d| d.as_secs()),
        });
    }
    out.sort_by(|a, b| b.age_seconds.cmp(&a.age_seconds).then(a.name.cmp(&b.name)));
    Ok(out)
}

/// The staging folders whose run is gone.
fn dead_staging(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    Ok(staging(dir)?
        .into_iter()
        .filter(|s| !s.running)
        .map(|s| (s.name, s.path))
        .collect())
}

/// Removes the staging folders of runs that died (a safety backup killed mid-dump); returns how
/// many.
pub fn sweep_dead_staging(dir: &Path) -> usize {
    dead_staging(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, p)| std::fs::remove_dir_all(p).is_ok())
        .count()
}

/// Keeps the `keep` newest backups and the newest verified one; removes the rest with their
/// manifests and globals, plus staging folders of dead runs and old incomplete files.
pub fn prune(dir: &Path, keep: usize, dry_run: bool) -> std::io::Result<PruneReport> {
    let entries = list(dir)?;
    let newest_ok = newest_verified(&entries).map(|e| e.file.clone());
    let complete: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.manifest.is_some() && e.problem.is_none())
        .collect();
    let cut = complete.len().saturating_sub(keep);
    let mut kept = Vec::new();
    let mut removed = Vec::new();
    for (i, e) in complete.iter().enumerate() {
        if i >= cut || Some(&e.file) == newest_ok.as_ref() {
            kept.push(e.file.clone());
            continue;
        }
        removed.push(Removed {
            file: e.file.clone(),
            reason: format!("older than the {keep} newest"),
        });
        if !dry_run {
            remove_path(&e.path)?;
            let _ = std::fs::remove_file(dir.join(format!("{}.globals.sql", e.file)));
            std::fs::remove_file(Manifest::path_for(&e.path))?;
        }
    }
    let old = |p: &Path| {
        std::fs::symlink_metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > ORPHAN_AGE)
    };
    for e in entries.iter().filter(|e| e.problem.is_some()) {
        let leftover = if e.path.exists() {
            e.path.clone()
        } else {
            Manifest::path_for(&e.path)
        };
        if old(&leftover) {
            removed.push(Removed {
                file: e.file.clone(),
                reason: e.problem.clone().unwrap_or_default(),
            });
            if !dry_run {
                let _ = remove_path(&e.path);
                let _ = std::fs::remove_file(Manifest::path_for(&e.path));
            }
        }
    }
    for (name, path) in dead_staging(dir)? {
        removed.push(Removed {
            file: name,
            reason: "staging folder of a run that died".into(),
        });
        if !dry_run {
            std::fs::remove_dir_all(path)?;
        }
    }
    let latest = if dry_run {
        manifest::read_latest(dir)
    } else {
        refresh_latest(dir)?
    };
    Ok(PruneReport {
        kept,
        removed,
        dry_run,
        latest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::manifest::VerificationKind;
    use chrono::{Duration as D, Utc};

    fn write(dir: &Path, name: &str, minutes: i64, verified: bool) {
        std::fs::write(dir.join(name), b"data").unwrap();
        let t = Utc::now() - D::minutes(100 - minutes);
        let mut m: Manifest = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "engine": "sqlite", "server_version": "3", "dump_tool": {"name": "x", "version": "3"},
            "database": "app", "source": "sqlite:app.db", "format": "sqlite", "file": name, "bytes": 4,
            "sha256": "a".repeat(64), "started_at": t, "finished_at": t,
            "tables": [], "schema_fingerprint": {"sha256": "b".repeat(64)}, "migrations": [], "verification": []
        }))
        .unwrap();
        if verified {
            m.record(VerificationKind::Checksum, true, "");
            m.record(VerificationKind::FullRead, true, "");
        }
        m.save(dir).unwrap();
    }

    #[test]
    fn latest_follows_the_newest_verified_and_prune_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "backup_1.sqlite", 1, true);
        write(d, "backup_2.sqlite", 2, true);
        write(d, "backup_3.sqlite", 3, false);
        write(d, "backup_4.sqlite", 4, false);
        std::fs::write(d.join("backup_5.sqlite"), b"half").unwrap();
        assert_eq!(
            refresh_latest(d).unwrap().as_deref(),
            Some("backup_2.sqlite")
        );
        let l = list(d).unwrap();
        assert_eq!(l.len(), 5);
        assert!(
            l.iter()
                .find(|e| e.file == "backup_5.sqlite")
                .unwrap()
                .problem
                .as_deref()
                .unwrap()
                .contains("no manifest")
        );
        let dry = prune(d, 1, true).unwrap();
        assert_eq!(dry.removed.len(), 2, "{:?}", dry.removed);
        assert!(d.join("backup_1.sqlite").exists());
        let r = prune(d, 1, false).unwrap();
        assert_eq!(
            r.kept,
            vec!["backup_2.sqlite".to_string(), "backup_4.sqlite".to_string()]
        );
        assert!(
            !d.join("backup_1.sqlite").exists()
                && !d.join("backup_1.sqlite.manifest.json").exists()
        );
        assert!(
            d.join("backup_5.sqlite").exists(),
            "a recent incomplete file may still be finishing"
        );
        assert_eq!(manifest::read_latest(d).as_deref(), Some("backup_2.sqlite"));
    }

    #[test]
    fn prune_removes_staging_of_dead_runs_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let d1 = dir.path().join(format!("{STAGING_PREFIX}backup_1.dump"));
        std::fs::create_dir(&d1).unwrap();
        std::fs::write(d1.join("owner"), format!("{dead} 1\n")).unwrap();
        let live = crate::backup::atomic::Staging::reserve(dir.path(), "backup_2", "dump").unwrap();
        let r = prune(dir.path(), 5, false).unwrap();
        assert_eq!(r.removed.len(), 1);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(live.dir.exists());
    }
}
