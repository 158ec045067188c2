//! `--against <manifest>`: compare row counts per table and the schema fingerprint with a backup
//! manifest (DESIGN.md §7). After a restore they must match; after a migration the differences
//! are listed for review.

use super::{
    Check, CostClass, Exec, ExecMode, Level, Planned, Problem, Severity, Sizes, display_name,
    estimate, first_value, qualified,
};
use crate::backup::manifest::check_file_name;
use crate::backup::resolve;
use crate::engines::EngineKind;
use crate::engines::snapshot::{SchemaFingerprint, TableRows};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

/// What the comparison expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The database was restored from this backup: every difference is an error.
    Restore,
    /// A migration ran since the backup: differences are listed (info), not failures.
    Migration,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Restore => "restore",
            Mode::Migration => "migration",
        }
    }
}

/// The part of a backup manifest the comparison reads (the full type belongs to `backup`).
#[derive(Debug, Clone, Deserialize)]
struct ManifestView {
    schema_version: u32,
    engine: String,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    tables: Vec<TableRows>,
    schema_fingerprint: FingerprintView,
}

#[derive(Debug, Clone, Deserialize)]
struct FingerprintView {
    sha256: String,
    #[serde(default)]
    lines: Vec<String>,
}

/// A manifest's expectations.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The manifest file, as given.
    pub source: String,
    pub engine: EngineKind,
    pub tables: Vec<TableRows>,
    pub fingerprint: SchemaFingerprint,
}

#[derive(Debug, Clone)]
pub struct Against {
    pub expected: Expected,
    pub mode: Mode,
}

/// Reads a manifest. `path` names a backup as every command that takes one does
/// (`crate::backup::resolve`: the manifest, the backup file next to it, the `LATEST` pointer or a
/// backup folder), or is a manifest file of any name. Errors name the file and what to do.
pub fn load(path: &Path) -> Result<Expected, String> {
    let named_json = path.to_string_lossy().ends_with(".json") && path.is_file();
    if std::fs::symlink_metadata(path).is_err() && path.file_name().is_none_or(|n| n != "LATEST") {
        return Err(format!(
            "{}: cannot read the manifest: no such file",
            path.display()
        ));
    }
    let file = if named_json {
        path.to_path_buf()
    } else {
        let backup = resolve::resolve(Path::new("."), &resolve::BackupRef::Path(path.into()))
            .map_err(|e| e.to_string())?;
        resolve::check_trusted(&backup).map_err(|e| e.to_string())?;
        let m = crate::backup::manifest::Manifest::path_for(&backup);
        if !m.is_file() {
            return Err(format!(
                "{}: no manifest next to it; pass the .manifest.json written by `migsafe backup create`",
                backup.display()
            ));
        }
        m
    };
    if named_json {
        resolve::check_folder(resolve::folder_of(&file)).map_err(|e| e.to_string())?;
        resolve::check_not_symlink(&file).map_err(|e| e.to_string())?;
    }
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("{shown}: cannot read the manifest: {e}"))?;
    let m: ManifestView = serde_json::from_str(&text).map_err(|e| format!("{shown}: not a backup manifest ({e}); pass the .manifest.json written by `migsafe backup create`"))?;
    if m.schema_version != 1 {
        return Err(format!(
            "{shown}: manifest schema_version {} is not supported (this migsafe reads 1); upgrade migsafe",
            m.schema_version
        ));
    }
    let engine = EngineKind::parse(&m.engine)
        .ok_or_else(|| format!("{shown}: unknown engine {:?} in the manifest", m.engine))?;
    if let Some(f) = &m.file {
        check_file_name(f).map_err(|why| {
            format!("{shown}: the manifest's file {f:?} {why}; refusing a manifest that points outside its folder")
        })?;
    }
    let sha = &m.schema_fingerprint.sha256;
    if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "{shown}: schema_fingerprint.sha256 is not a sha256 hex digest"
        ));
    }
    Ok(Expected {
        source: shown,
        engine,
        tables: m.tables,
        fingerprint: SchemaFingerprint {
            sha256: sha.to_ascii_lowercase(),
            lines: m.schema_fingerprint.lines,
        },
    })
}

fn severity(mode: Mode) -> Severity {
    match mode {
        Mode::Restore => Severity::Error,
        Mode::Migration => Severity::Info,
    }
}

/// How many differing schema lines a problem quotes.
const MAX_LINES: usize = 20;

/// The fingerprint check, one row-count check per manifest table, and problems for tables that
/// appeared or disappeared.
pub fn plan(kind: EngineKind, a: &Against, sizes: &Sizes) -> Vec<Planned> {
    let mut out = Vec::new();
    let mode = a.mode;
    let expected_fp = a.expected.fingerprint.clone();
    let source = a.expected.source.clone();
    out.push(Planned::Run(Check {
        id: "schema-fingerprint",
        object: "schema".to_string(),
        level: Level::Catalog,
        cost: CostClass::Catalog,
        estimate: Some(estimate::CATALOG * 4),
        mode: ExecMode::ReadOnly,
        timeout: None,
        exec: Exec::Fingerprint(Box::new(move |fp| {
            if fp.sha256 == expected_fp.sha256 {
                return Vec::new();
            }
            let (evidence, count) = if expected_fp.lines.is_empty() {
                (format!("expected sha256 {}, found {} (the manifest does not list the schema lines, so the difference cannot be shown)", expected_fp.sha256, fp.sha256), None)
            } else {
                let before: BTreeSet<&String> = expected_fp.lines.iter().collect();
                let after: BTreeSet<&String> = fp.lines.iter().collect();
                let mut diff: Vec<String> = before.difference(&after).map(|l| format!("- {l}")).collect();
                diff.extend(after.difference(&before).map(|l| format!("+ {l}")));
                let n = diff.len();
                if n > MAX_LINES {
                    diff.truncate(MAX_LINES);
                    diff.push(format!("… and {} more", n - MAX_LINES));
                }
                (format!("{n} schema lines differ (- in the backup, + here):\n{}", diff.join("\n")), Some(n as u64))
            };
            vec![Problem {
                check: "schema-fingerprint",
                severity: severity(mode),
                object: "schema".to_string(),
                message: match mode {
                    Mode::Restore => format!("the schema differs from the backup's ({source})"),
                    Mode::Migration => format!("the schema changed since the backup ({source})"),
                },
                evidence,
                count,
                fix: match mode {
                    Mode::Restore => "The restore is incomplete or went to a database that was not empty: restore again into a new, empty database and compare".to_string(),
                    Mode::Migration => "Review the listed changes: they should be exactly what the migration did".to_string(),
                },
                inspect_sql: None,
            }]
        })),
    }));

    let manifest_tables: BTreeSet<(String, String)> = a
        .expected
        .tables
        .iter()
        .map(|t| (t.schema.clone(), t.table.clone()))
        .collect();
    for t in &a.expected.tables {
        let key = (t.schema.clone(), t.table.clone());
        let shown = t.qualified();
        let Some(size) = sizes.get(&key).copied() else {
            out.push(Planned::Run(Check {
                id: "row-counts",
                object: shown.clone(),
                level: Level::Catalog,
                cost: CostClass::Catalog,
                estimate: Some(std::time::Duration::ZERO),
                mode: ExecMode::ReadOnly,
                timeout: None,
                exec: Exec::Known(vec![Problem {
                    check: "row-counts",
                    severity: severity(mode),
                    object: shown.clone(),
                    message: format!("table {shown} of the backup is missing here"),
                    evidence: format!("the manifest lists {shown} with {} rows{}", t.rows, if t.estimated { " (estimated)" } else { "" }),
                    count: Some(t.rows),
                    fix: match mode {
                        Mode::Restore => "The restore is incomplete: restore again and read pg_restore/mysql's errors".to_string(),
                        Mode::Migration => "Expected only if the migration drops or renames this table".to_string(),
                    },
                    inspect_sql: None,
                }]),
            }));
            continue;
        };
        let sql = format!(
            "SELECT count(*) FROM {}",
            qualified(kind, &t.schema, &t.table)
        );
        let expected = t.rows;
        let estimated = t.estimated;
        let object = shown.clone();
        let inspect = sql.clone();
        out.push(Planned::Run(Check::query(
            "row-counts",
            shown,
            Level::Standard,
            CostClass::Scan,
            estimate::scan(size),
            sql,
            Box::new(move |rows| {
                let Some(actual) = first_value(rows).and_then(|v| v.parse::<u64>().ok()) else {
                    return Vec::new();
                };
                judge_count(&object, expected, estimated, actual, mode, &inspect)
                    .into_iter()
                    .collect()
            }),
        )));
    }
    let mut extra: Vec<&(String, String)> = sizes
        .keys()
        .filter(|k| !manifest_tables.contains(*k))
        .collect();
    extra.sort();
    if !extra.is_empty() && !a.expected.tables.is_empty() {
        let names: Vec<String> = extra.iter().map(|(s, t)| display_name(s, t)).collect();
        out.push(Planned::Run(Check {
            id: "row-counts",
            object: "tables".to_string(),
            level: Level::Catalog,
            cost: CostClass::Catalog,
            estimate: Some(std::time::Duration::ZERO),
            mode: ExecMode::ReadOnly,
            timeout: None,
            exec: Exec::Known(vec![Problem {
                check: "row-counts",
                severity: severity(mode),
                object: "tables".to_string(),
                message: format!("{} tables here are not in the backup", names.len()),
                evidence: names.join(", "),
                count: Some(names.len() as u64),
                fix: match mode {
                    Mode::Restore => "The target database was not empty before the restore: restore into a new database".to_string(),
                    Mode::Migration => "Expected only if the migration creates these tables".to_string(),
                },
                inspect_sql: None,
            }]),
        }));
    }
    out
}

/// Exact manifest counts must match; estimated ones are compared within 10 % (and then only
/// reported as a warning, since an estimate proves nothing).
fn judge_count(
    object: &str,
    expected: u64,
    estimated: bool,
    actual: u64,
    mode: Mode,
    inspect: &str,
) -> Option<Problem> {
    if actual == expected {
        return None;
    }
    let diff = actual as i128 - expected as i128;
    if estimated {
        let tolerance = (expected as f64 * 0.10).max(10.0);
        if (diff.unsigned_abs() as f64) <= tolerance {
            return None;
        }
    }
    let severity = match (mode, estimated) {
        (Mode::Migration, _) => Severity::Info,
        (Mode::Restore, true) => Severity::Warning,
        (Mode::Restore, false) => Severity::Error,
    };
    let what = if diff < 0 {
        format!("{} rows missing", -diff)
    } else {
        format!("{diff} rows more")
    };
    Some(Problem {
        check: "row-counts",
        severity,
        object: object.to_string(),
        message: format!("{object}: {what} than in the backup"),
        evidence: format!("backup: {expected}{} rows, here: {actual}", if estimated { " (estimated)" } else { "" }),
        count: Some(diff.unsigned_abs() as u64),
        fix: match mode {
            Mode::Restore => "The restore lost or duplicated rows: check the restore's errors (a failed COPY skips a whole table's data) and restore again into a new database".to_string(),
            Mode::Migration => "Expected only if the migration deletes or inserts rows in this table".to_string(),
        },
        inspect_sql: Some(inspect.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_must_match_exactly_after_a_restore() {
        let p = judge_count("public.users", 3, false, 2, Mode::Restore, "q").unwrap();
        assert_eq!((p.severity, p.count), (Severity::Error, Some(1)));
        assert!(p.message.contains("1 rows missing"), "{}", p.message);
        assert!(judge_count("t", 3, false, 3, Mode::Restore, "q").is_none());
        assert_eq!(
            judge_count("t", 3, false, 5, Mode::Migration, "q")
                .unwrap()
                .severity,
            Severity::Info
        );
        // estimates: within 10 % is fine, beyond is a warning
        assert!(judge_count("t", 1_000_000, true, 1_050_000, Mode::Restore, "q").is_none());
        assert_eq!(
            judge_count("t", 1_000_000, true, 500_000, Mode::Restore, "q")
                .unwrap()
                .severity,
            Severity::Warning
        );
    }

    #[test]
    fn manifests_are_read_from_the_file_or_next_to_the_backup() {
        let d = tempfile::tempdir().unwrap();
        let backup = d.path().join("backup_20261129_141500.dump");
        std::fs::write(&backup, b"x").unwrap();
        let manifest = serde_json::json!({
            "schema_version": 1, "engine": "postgres", "database": "app", "source": "postgres://app:****@db/app",
            "tables": [{"schema": "public", "table": "users", "rows": 3, "estimated": false}],
            "schema_fingerprint": {"sha256": "a".repeat(64)}, "verification": []
        });
        std::fs::write(
            d.path().join("backup_20261129_141500.dump.manifest.json"),
            manifest.to_string(),
        )
        .unwrap();
        let e = load(&backup).unwrap();
        assert_eq!(
            (e.engine, e.tables.len(), e.tables[0].rows),
            (EngineKind::Postgres, 1, 3)
        );
        let bad = d.path().join("bad.json");
        std::fs::write(&bad, "{\"schema_version\": 2, \"engine\": \"postgres\", \"schema_fingerprint\": {\"sha256\": \"x\"}}").unwrap();
        assert!(load(&bad).unwrap_err().contains("schema_version 2"));
        std::fs::write(&bad, "not json").unwrap();
        assert!(load(&bad).unwrap_err().contains("not a backup manifest"));
        assert!(
            load(&d.path().join("missing.json"))
                .unwrap_err()
                .contains("cannot read")
        );
    }
}
