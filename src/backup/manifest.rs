//! The backup manifest (DESIGN.md §7): what a backup file holds and how it was verified, written
//! next to it as `<file>.manifest.json`, plus `LATEST`, which names the newest verified backup.
//! This is the contract `integrity-check --against` reads; fields may be added, never renamed.

use super::atomic;
use crate::engines::snapshot::TableRows;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const SCHEMA_VERSION: u32 = 1;
pub const MANIFEST_SUFFIX: &str = ".manifest.json";
pub const LATEST_FILE: &str = "LATEST";
/// Verifications of one kind a manifest keeps (the newest).
pub const KEEP_PER_KIND: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpTool {
    pub name: String,
    pub version: String,
}

/// The schema fingerprint as recorded: the sha256 of the normalised schema
/// (`crate::engines::snapshot::schema_fingerprint`), without its lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub sha256: String,
}

/// One applied migration found in a history table of the backed-up database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedMigration {
    pub version: String,
    #[serde(default)]
    pub checksum: Option<String>,
    /// The history table it was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerificationKind {
    /// sha256 and size of the file(s) against the manifest.
    Checksum,
    /// Every byte of the archive read and decoded by the engine's tool.
    FullRead,
    /// Restored into an ephemeral database; row counts and schema fingerprint compared.
    RestoreDrill,
}

impl VerificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationKind::Checksum => "checksum",
            VerificationKind::FullRead => "full-read",
            VerificationKind::RestoreDrill => "restore-drill",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub kind: VerificationKind,
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub details: String,
}

/// One file of a directory-format backup, or a side file such as the globals dump.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Cumulative per-table write counters at backup time (PostgreSQL `pg_stat_user_tables`
/// n_tup_ins + n_tup_upd + n_tup_del), so a restore can tell how many rows changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteCounters {
    /// `pg_stat_database.stats_reset` at backup time: a later reset makes deltas meaningless.
    #[serde(default)]
    pub stats_reset: Option<String>,
    pub tables: Vec<TableWrites>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableWrites {
    pub schema: String,
    pub table: String,
    pub writes: u64,
}

/// Database-level facts a restore needs to recreate the database faithfully.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DatabaseSettings {
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub collate: Option<String>,
    #[serde(default)]
    pub ctype: Option<String>,
    /// Size of the database on the server at backup time (`pg_database_size`, sum of
    /// data + index length on MySQL, file size on SQLite).
    #[serde(default)]
    pub size_bytes: Option<u64>,
}

/// Why a backup was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// `migsafe backup create`.
    #[default]
    Backup,
    /// Taken by `restore --strategy in-place` just before overwriting the database; never
    /// becomes `LATEST`, so `restore latest` does not pick it up by accident.
    PreRestore,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    /// postgres, mysql or sqlite.
    pub engine: String,
    pub server_version: String,
    pub dump_tool: DumpTool,
    /// Database name, never credentials.
    pub database: String,
    /// The source URL, redacted (`crate::engines::redact_url`).
    pub source: String,
    /// custom, directory or plain (PostgreSQL); sql (MySQL); sqlite (SQLite).
    pub format: String,
    /// File (or directory) name, relative to the manifest's folder.
    pub file: String,
    pub bytes: u64,
    /// sha256 of the file; for a directory, of its `files` listing (see docs/backup.md).
    pub sha256: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub tables: Vec<TableRows>,
    pub schema_fingerprint: Fingerprint,
    pub migrations: Vec<AppliedMigration>,
    pub verification: Vec<Verification>,
    /// True when the row counts and fingerprint were taken in the dump's own snapshot.
    #[serde(default)]
    pub snapshot_consistent: bool,
    /// Tables whose estimate was above this were not counted exactly (`estimated: true`).
    #[serde(default)]
    pub exact_row_limit: Option<u64>,
    #[serde(default)]
    pub database_settings: DatabaseSettings,
    /// Files of a directory-format backup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileEntry>,
    /// Roles and tablespaces (`pg_dumpall --globals-only`), when `--globals` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub globals: Option<FileEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_counters: Option<WriteCounters>,
    /// Extensions installed in the database (PostgreSQL).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
    #[serde(default)]
    pub purpose: Purpose,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: cannot read the manifest: {message}")]
    Read { path: String, message: String },
    #[error("{path}: not a valid migsafe backup manifest: {message}")]
    Invalid { path: String, message: String },
    #[error("{path}: cannot write: {message}")]
    Write { path: String, message: String },
}

impl Manifest {
    /// The manifest path for a backup file (or directory) path.
    pub fn path_for(backup: &Path) -> PathBuf {
        let mut s = backup.as_os_str().to_os_string();
        s.push(MANIFEST_SUFFIX);
        PathBuf::from(s)
    }

    /// Reads and validates a manifest. Unknown engines, formats, schema versions or malformed
    /// digests are errors: a manifest migsafe does not understand is never trusted.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError::Read {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| ManifestError::Invalid {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        m.validate().map_err(|message| ManifestError::Invalid {
            path: shown,
            message,
        })?;
        Ok(m)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(format!(
                "schema_version {} is not supported (this migsafe reads {SCHEMA_VERSION})",
                self.schema_version
            ));
        }
        let formats: &[&str] = match self.engine.as_str() {
            "postgres" => &["custom", "directory", "plain"],
            "mysql" => &["sql"],
            "sqlite" => &["sqlite"],
            other => return Err(format!("unknown engine {other:?}")),
        };
        if !formats.contains(&self.format.as_str()) {
            return Err(format!(
                "format {:?} is not a {} backup format",
                self.format, self.engine
            ));
        }
        if !is_sha256(&self.sha256) {
            return Err(format!("sha256 {:?} is not 64 hex digits", self.sha256));
        }
        if !is_sha256(&self.schema_fingerprint.sha256) {
            return Err("schema_fingerprint.sha256 is not 64 hex digits".into());
        }
        check_file_name(&self.file).map_err(|why| format!("file {:?} {why}", self.file))?;
        for f in &self.files {
            if f.path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
            {
                return Err(format!("files: {:?} is not a relative path", f.path));
            }
            if !is_sha256(&f.sha256) {
                return Err(format!("files: {} has no valid sha256", f.path));
            }
        }
        if let Some(g) = &self.globals
            && (g.path.contains('/') || !is_sha256(&g.sha256))
        {
            return Err("globals: invalid file entry".into());
        }
        Ok(())
    }

    /// Writes the manifest next to its backup atomically (temp name, fsync, rename, fsync dir),
    /// mode 0600.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, ManifestError> {
        let path = Manifest::path_for(&dir.join(&self.file));
        let mut text = serde_json::to_string_pretty(self).map_err(|e| ManifestError::Write {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        text.push('\n');
        atomic::write_replace(&path, text.as_bytes()).map_err(|e| ManifestError::Write {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(path)
    }

    /// The most recent verification of `kind`, if any.
    pub fn last(&self, kind: VerificationKind) -> Option<&Verification> {
        self.verification.iter().rev().find(|v| v.kind == kind)
    }

    /// Verified: the latest checksum and full-read verifications passed, and no verification
    /// of any kind failed after them (a failed restore drill un-verifies a backup).
    pub fn verified(&self) -> bool {
        let (Some(c), Some(f)) = (
            self.last(VerificationKind::Checksum),
            self.last(VerificationKind::FullRead),
        ) else {
            return false;
        };
        c.ok && f.ok
            && self
                .last(VerificationKind::RestoreDrill)
                .is_none_or(|d| d.ok)
    }

    /// The time a restore drill last passed, if the latest one did.
    pub fn drilled(&self) -> bool {
        self.last(VerificationKind::RestoreDrill)
            .is_some_and(|d| d.ok)
    }

    /// Appends a verification, keeping the newest [`KEEP_PER_KIND`] of each kind: every restore
    /// preflight and `backup verify` records one, and a manifest must not grow with each (only
    /// the latest of each kind decides whether the backup is verified).
    pub fn record(&mut self, kind: VerificationKind, ok: bool, details: impl Into<String>) {
        self.verification.push(Verification {
            kind,
            at: Utc::now(),
            ok,
            details: details.into(),
        });
        let of_kind = self.verification.iter().filter(|v| v.kind == kind).count();
        let mut drop = of_kind.saturating_sub(KEEP_PER_KIND);
        self.verification.retain(|v| {
            if drop > 0 && v.kind == kind {
                drop -= 1;
                false
            } else {
                true
            }
        });
    }
}

pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// A backup's file name as a manifest or `LATEST` records it: a plain name in the same folder,
/// never a path (`../../etc/passwd`). The error completes "… {name}".
pub fn check_file_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.contains('/')
        || name.starts_with('.')
        || name.contains('\0')
        || name == LATEST_FILE
    {
        return Err("is not a plain file name in the backup folder".into());
    }
    Ok(())
}

/// Reads `<dir>/LATEST`: the file name of the newest verified backup.
pub fn read_latest(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(LATEST_FILE)).ok()?;
    let name = text.trim();
    check_file_name(name).is_ok().then(|| name.to_string())
}

/// Points `LATEST` at `name` (atomically), or removes it when there is no verified backup.
pub fn write_latest(dir: &Path, name: Option<&str>) -> std::io::Result<()> {
    let path = dir.join(LATEST_FILE);
    match name {
        Some(n) => atomic::write_replace(&path, format!("{n}\n").as_bytes()),
        None => match std::fs::remove_file(&path) {
            Ok(()) => atomic::fsync_dir(dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifications_are_bounded_per_kind_and_the_latest_decides() {
        let mut m = sample();
        m.verification.clear();
        m.record(VerificationKind::RestoreDrill, true, "drill");
        for i in 0..50 {
            m.record(VerificationKind::Checksum, true, format!("c{i}"));
            m.record(VerificationKind::FullRead, i != 49, format!("f{i}"));
        }
        assert_eq!(m.verification.len(), 1 + 2 * KEEP_PER_KIND);
        assert_eq!(m.verification[0].details, "drill", "other kinds are kept");
        assert_eq!(m.last(VerificationKind::Checksum).unwrap().details, "c49");
        assert!(!m.verified(), "the latest full read failed");
    }

    pub fn sample() -> Manifest {
        let at = DateTime::parse_from_rfc3339("2026-11-29T14:15:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Manifest {
            schema_version: 1,
            engine: "postgres".into(),
            server_version: "15.20".into(),
            dump_tool: DumpTool {
                name: "pg_dump".into(),
                version: "pg_dump (PostgreSQL) 15.20".into(),
            },
            database: "app".into(),
            source: "postgres://app:****@db/app".into(),
            format: "custom".into(),
            file: "backup_20261129_141500.dump".into(),
            bytes: 123,
            sha256: "a".repeat(64),
            started_at: at,
            finished_at: at,
            tables: vec![TableRows {
                schema: "public".into(),
                table: "users".into(),
                rows: 3,
                estimated: false,
            }],
            schema_fingerprint: Fingerprint {
                sha256: "b".repeat(64),
            },
            migrations: vec![],
            verification: vec![],
            snapshot_consistent: true,
            exact_row_limit: Some(1_000_000),
            database_settings: DatabaseSettings::default(),
            files: vec![],
            globals: None,
            write_counters: None,
            extensions: vec![],
            purpose: Purpose::Backup,
        }
    }

    #[test]
    fn round_trips_and_matches_the_contract_field_names() {
        let dir = tempfile::tempdir().unwrap();
        let m = sample();
        let path = m.save(dir.path()).unwrap();
        assert!(path.ends_with("backup_20261129_141500.dump.manifest.json"));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for key in [
            "schema_version",
            "engine",
            "server_version",
            "dump_tool",
            "database",
            "source",
            "format",
            "file",
            "bytes",
            "sha256",
            "started_at",
            "finished_at",
            "tables",
            "schema_fingerprint",
            "migrations",
            "verification",
        ] {
            assert!(v.get(key).is_some(), "{key} missing");
        }
        assert_eq!(
            v["tables"][0],
            serde_json::json!({"schema": "public", "table": "users", "rows": 3, "estimated": false})
        );
        assert_eq!(v["started_at"], "2026-11-29T14:15:00Z");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(Manifest::load(&path).unwrap(), m);
    }

    #[test]
    fn rejects_what_it_does_not_understand() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        let mut bad = sample();
        bad.sha256 = "xyz".into();
        std::fs::write(&p, serde_json::to_string(&bad).unwrap()).unwrap();
        assert!(
            Manifest::load(&p)
                .unwrap_err()
                .to_string()
                .contains("sha256")
        );
        let mut bad = sample();
        bad.file = "../etc/passwd".into();
        std::fs::write(&p, serde_json::to_string(&bad).unwrap()).unwrap();
        assert!(Manifest::load(&p).is_err());
        let mut bad = sample();
        bad.schema_version = 2;
        std::fs::write(&p, serde_json::to_string(&bad).unwrap()).unwrap();
        assert!(
            Manifest::load(&p)
                .unwrap_err()
                .to_string()
                .contains("schema_version 2")
        );
        std::fs::write(&p, "{\"schema_version\": 1}").unwrap();
        assert!(
            Manifest::load(&p)
                .unwrap_err()
                .to_string()
                .contains("not a valid")
        );
    }

    #[test]
    fn verified_needs_checksum_and_full_read_and_no_later_failure() {
        let mut m = sample();
        assert!(!m.verified());
        m.record(VerificationKind::Checksum, true, "");
        assert!(!m.verified());
        m.record(VerificationKind::FullRead, true, "");
        assert!(m.verified() && !m.drilled());
        m.record(VerificationKind::RestoreDrill, false, "row counts differ");
        assert!(!m.verified());
        m.record(VerificationKind::RestoreDrill, true, "");
        assert!(m.verified() && m.drilled());
        m.record(VerificationKind::Checksum, false, "mismatch");
        assert!(!m.verified());
    }

    #[test]
    fn latest_is_written_atomically_and_removed_when_nothing_is_verified() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_latest(dir.path()), None);
        write_latest(dir.path(), Some("backup_1.dump")).unwrap();
        assert_eq!(read_latest(dir.path()).as_deref(), Some("backup_1.dump"));
        write_latest(dir.path(), None).unwrap();
        assert_eq!(read_latest(dir.path()), None);
        write_latest(dir.path(), None).unwrap();
    }
}
