//! `backup verify`: the checksum and a full read of the archive (one read where the format
//! allows), and with `--deep` a restore drill into an ephemeral database of the same engine.

use super::*;

/// Checksum and full read of a backup on disk, recorded in `m`. One read where the format
/// allows: a custom archive is streamed into `pg_restore -f /dev/null` while hashed.
pub async fn verify_file(
    m: &mut Manifest,
    path: &Path,
    pg_bin_dir: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Vec<StepResult>, BackupError> {
    let results = file_checks(m, path, pg_bin_dir, progress).await?;
    for r in &results {
        m.record(r.kind, r.ok, r.details.clone());
    }
    Ok(results)
}

pub fn checksum_result(m: &Manifest, bytes: u64, sha256: &str) -> StepResult {
    let ok = bytes == m.bytes && sha256 == m.sha256;
    let details = if ok {
        format!(
            "sha256 {} and size {bytes} bytes match the manifest",
            &sha256[..12.min(sha256.len())]
        )
    } else if bytes != m.bytes {
        format!(
            "size {bytes} bytes, the manifest says {} (truncated or appended to)",
            m.bytes
        )
    } else {
        format!(
            "sha256 {sha256} differs from the manifest's {} (the file changed)",
            m.sha256
        )
    };
    StepResult {
        kind: VerificationKind::Checksum,
        ok,
        details,
    }
}

/// The major version of the pg_dump that wrote an archive, from the manifest.
pub fn dump_major(m: &Manifest) -> u32 {
    pgbk::major_of(&m.dump_tool.version)
        .or_else(|| pgbk::major_of(&m.server_version))
        .unwrap_or(0)
}

pub(crate) async fn file_checks(
    m: &Manifest,
    path: &Path,
    pg_bin_dir: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Vec<StepResult>, BackupError> {
    if !path.exists() {
        return Ok(vec![
            StepResult {
                kind: VerificationKind::Checksum,
                ok: false,
                details: format!("{} is missing", path.display()),
            },
            StepResult {
                kind: VerificationKind::FullRead,
                ok: false,
                details: "nothing to read".into(),
            },
        ]);
    }
    let total = if m.format == "directory" {
        m.bytes
    } else {
        std::fs::metadata(path).map(|x| x.len()).unwrap_or(0)
    };
    progress.begin(&format!("verifying {}", m.file), Some(total));
    let r = file_checks_inner(m, path, pg_bin_dir, progress).await;
    progress.end();
    r
}

pub(crate) async fn file_checks_inner(
    m: &Manifest,
    path: &Path,
    pg_bin_dir: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Vec<StepResult>, BackupError> {
    let io = |e: std::io::Error| io_err(format!("reading {}", path.display()), e);
    match (m.engine.as_str(), m.format.as_str()) {
        ("postgres", "custom") => {
            let tools = pgbk::find_tools(
                pg_bin_dir,
                dump_major(m),
                "pg_restore must be at least the version of the pg_dump that wrote the archive",
            )?;
            let f =
                child::stream_file_to_stdin(pgbk::full_read_command(&tools, None), path, &|n| {
                    progress.add(n)
                })
                .map_err(|e| BackupError::Failed(e.to_string()))?;
            let full = if f.status.success() {
                StepResult {
                    kind: VerificationKind::FullRead,
                    ok: true,
                    details: "pg_restore read and decoded every block".into(),
                }
            } else {
                StepResult {
                    kind: VerificationKind::FullRead,
                    ok: false,
                    details: format!(
                        "pg_restore could not read the archive ({}): {}",
                        child::describe(&f.status),
                        child::tail(&f.stderr, 3)
                    ),
                }
            };
            Ok(vec![checksum_result(m, f.bytes, &f.sha256), full])
        }
        ("postgres", "directory") => {
            let tools = pgbk::find_tools(
                pg_bin_dir,
                dump_major(m),
                "pg_restore must be at least the version of the pg_dump that wrote the archive",
            )?;
            let (entries, total, digest) =
                atomic::hash_dir(path, &|n| progress.add(n)).map_err(io)?;
            let mut sum = checksum_result(m, total, &digest);
            if !sum.ok {
                let bad: Vec<String> = entries
                    .iter()
                    .filter(|e| !m.files.iter().any(|x| x == *e))
                    .map(|e| e.path.clone())
                    .chain(
                        m.files
                            .iter()
                            .filter(|x| !entries.contains(x))
                            .map(|x| format!("{} (missing or changed)", x.path)),
                    )
                    .collect();
                sum.details = format!("{}: {}", sum.details, bad.join(", "));
            }
            let f = child::run(pgbk::full_read_command(&tools, Some(path)))
                .map_err(|e| BackupError::Failed(e.to_string()))?;
            let full = StepResult {
                kind: VerificationKind::FullRead,
                ok: f.status.success(),
                details: if f.status.success() {
                    "pg_restore read and decoded every file".into()
                } else {
                    format!(
                        "pg_restore could not read the archive: {}",
                        child::tail(&f.stderr, 3)
                    )
                },
            };
            Ok(vec![sum, full])
        }
        ("postgres", "plain") | ("mysql", "sql") => {
            let (bytes, sha) = atomic::hash_file(path, &|n| progress.add(n)).map_err(io)?;
            let complete = if m.engine == "mysql" {
                mybk::has_trailer(path).map_err(io)?
            } else {
                plain_complete(path).map_err(io)?
            };
            let marker = if m.engine == "mysql" {
                mybk::TRAILER
            } else {
                pgbk::PLAIN_TRAILER
            };
            Ok(vec![
                checksum_result(m, bytes, &sha),
                StepResult {
                    kind: VerificationKind::FullRead,
                    ok: complete,
                    details: if complete {
                        format!("every byte read; ends with `{marker}`")
                    } else {
                        format!(
                            "the end-of-dump marker `{marker}` is missing: the dump is incomplete"
                        )
                    },
                },
            ])
        }
        ("sqlite", "sqlite") => {
            let (bytes, sha) = atomic::hash_file(path, &|n| progress.add(n)).map_err(io)?;
            let full = match sqbk::integrity_check(path).await {
                Ok(None) => StepResult {
                    kind: VerificationKind::FullRead,
                    ok: true,
                    details: "PRAGMA integrity_check: ok".into(),
                },
                Ok(Some(p)) => StepResult {
                    kind: VerificationKind::FullRead,
                    ok: false,
                    details: format!("PRAGMA integrity_check: {p}"),
                },
                Err(e) => StepResult {
                    kind: VerificationKind::FullRead,
                    ok: false,
                    details: format!("cannot open the copy: {e}"),
                },
            };
            Ok(vec![checksum_result(m, bytes, &sha), full])
        }
        (e, f) => Err(BackupError::Usage(format!(
            "{e} backups in format {f} are not supported"
        ))),
    }
}

/// A plain dump ends with pg_dump's completion comment (followed only by `\unrestrict` and
/// blank or comment lines).
pub(crate) fn plain_complete(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(1024)))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let tail = String::from_utf8_lossy(&buf);
    let mut after = false;
    for line in tail.lines() {
        if line.trim() == pgbk::PLAIN_TRAILER {
            after = true;
        } else if after
            && !(line.trim().is_empty()
                || line.starts_with("--")
                || line.starts_with("\\unrestrict "))
        {
            after = false;
        }
    }
    Ok(after)
}

/// Settings of `backup verify`.
#[derive(Debug, Clone)]
pub struct VerifySettings {
    pub dir: PathBuf,
    pub which: BackupRef,
    pub deep: bool,
    pub jobs: u32,
    pub pg_bin_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub checks: Vec<StepResult>,
    pub latest: Option<String>,
}

impl VerifyReport {
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }
}

/// `backup verify`: checksum and full read, then with `deep` a restore drill; results are
/// written into the manifest and `LATEST` follows (it only names verified backups).
pub async fn verify(
    s: &VerifySettings,
    progress: Arc<dyn Progress>,
) -> Result<VerifyReport, BackupError> {
    let mut loc = locate(&s.dir, &s.which)?;
    let mut checks = verify_file(
        &mut loc.manifest,
        &loc.path,
        s.pg_bin_dir.as_deref(),
        progress.as_ref(),
    )
    .await?;
    if s.deep {
        let drill = if checks.iter().all(|c| c.ok) {
            restore_drill(
                &loc.manifest,
                &loc.path,
                s.jobs,
                s.pg_bin_dir.as_deref(),
                progress.clone(),
            )
            .await
        } else {
            StepResult {
                kind: VerificationKind::RestoreDrill,
                ok: false,
                details: "not attempted: the file failed its checks".into(),
            }
        };
        loc.manifest
            .record(drill.kind, drill.ok, drill.details.clone());
        checks.push(drill);
    }
    loc.manifest.save(&loc.dir)?;
    let latest = store::refresh_latest(&loc.dir).map_err(|e| io_err("updating LATEST", e))?;
    Ok(VerifyReport {
        path: loc.path,
        manifest: loc.manifest,
        checks,
        latest,
    })
}

/// Restores a backup into an ephemeral database of the same engine and compares row counts and
/// schema fingerprint with the manifest.
pub async fn restore_drill(
    m: &Manifest,
    path: &Path,
    jobs: u32,
    pg_bin_dir: Option<&Path>,
    progress: Arc<dyn Progress>,
) -> StepResult {
    let began = Instant::now();
    let r = match m.engine.as_str() {
        "postgres" => drill_pg(m, path, jobs, pg_bin_dir, progress).await,
        "mysql" => drill_mysql(m, path, progress).await,
        _ => drill_sqlite(m, path).await,
    };
    let secs = began.elapsed().as_secs_f64();
    match r {
        Ok(diffs) if diffs.is_empty() => StepResult {
            kind: VerificationKind::RestoreDrill,
            ok: true,
            details: format!(
                "restored into an ephemeral {} in {secs:.1}s: {} tables' row counts and the schema fingerprint match",
                m.engine,
                m.tables.len()
            ),
        },
        Ok(diffs) => StepResult {
            kind: VerificationKind::RestoreDrill,
            ok: false,
            details: format!(
                "restored, but it differs from the manifest: {}",
                diffs.join("; ")
            ),
        },
        Err(e) => StepResult {
            kind: VerificationKind::RestoreDrill,
            ok: false,
            details: e,
        },
    }
}

/// What a PostgreSQL archive needs, from its schema SQL.
pub fn pg_archive_facts(
    tools: &pgbk::PgTools,
    format: PgFormat,
    path: &Path,
) -> Result<pgbk::ArchiveFacts, String> {
    match format {
        PgFormat::Plain => {
            let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(pgbk::archive_facts(std::io::BufReader::new(f)))
        }
        _ => {
            let out =
                child::output(pgbk::schema_sql_command(tools, path)).map_err(|e| e.to_string())?;
            Ok(pgbk::archive_facts(out.as_bytes()))
        }
    }
}

pub(crate) async fn drill_pg(
    m: &Manifest,
    path: &Path,
    jobs: u32,
    pg_bin_dir: Option<&Path>,
    progress: Arc<dyn Progress>,
) -> Result<Vec<String>, String> {
    use crate::engines::postgres::ephemeral::{EphemeralPostgres, PgOptions};
    use crate::engines::postgres::restore as pgr;
    let format = PgFormat::parse(&m.format).ok_or("unknown format")?;
    let source_major = pgbk::major_of(&m.server_version).unwrap_or(0);
    let tools = pgbk::find_tools(pg_bin_dir, dump_major(m), "pg_restore for the drill")
        .map_err(|e| e.to_string())?;
    let facts = pg_archive_facts(&tools, format, path)?;
    let server = EphemeralPostgres::start(&PgOptions {
        want_major: Some(source_major),
        ..Default::default()
    })
    .await
    .map_err(|e| format!("cannot start an ephemeral PostgreSQL: {e}"))?;
    if server.install.major < source_major {
        return Err(format!(
            "no local PostgreSQL server of version {source_major} or newer for the drill (found {})",
            server.install.major
        ));
    }
    let mut admin = Conn::Postgres(
        server
            .connect("postgres")
            .await
            .map_err(|e| e.to_string())?,
    );
    let (_, avail) = admin
        .query_text("SELECT name::text FROM pg_available_extensions")
        .await
        .map_err(|e| e.to_string())?;
    let avail: std::collections::BTreeSet<String> = avail
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    let missing: Vec<&String> = facts
        .extensions
        .iter()
        .filter(|e| !avail.contains(*e))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "extensions not installed on this machine: {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    pgr::create_roles(&mut admin, &facts.roles)
        .await
        .map_err(|e| format!("creating roles: {e}"))?;
    let db = m.database.clone();
    let ds = &m.database_settings;
    pgr::create_database(
        &mut admin,
        &db,
        ds.encoding.as_deref(),
        ds.collate.as_deref(),
        ds.ctype.as_deref(),
        None,
    )
    .await
    .map_err(|e| format!("creating the drill database: {e}"))?;
    admin.close().await;
    let spec = pgr::RestoreSpec {
        jobs,
        ..Default::default()
    };
    let cmd = pgr::restore_command(&tools, format, path, &server.url(&db), &spec);
    progress.begin("restore drill", None);
    let f = tokio::task::spawn_blocking(move || child::run(cmd))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    progress.end();
    let issues = pgr::classify_errors(&f.stderr);
    let fatal: Vec<&pgr::RestoreIssue> = issues
        .iter()
        .filter(|i| i.class == pgr::ErrorClass::Fatal)
        .collect();
    if !fatal.is_empty() || (!f.status.success() && issues.is_empty()) {
        let first = fatal
            .first()
            .map(|i| i.message.clone())
            .unwrap_or_else(|| child::tail(&f.stderr, 3));
        return Err(format!(
            "the restore failed ({} errors): {first}",
            fatal.len().max(1)
        ));
    }
    let mut conn = Conn::Postgres(server.connect(&db).await.map_err(|e| e.to_string())?);
    let _ = conn.execute("ANALYZE").await;
    let snap = snapshot_for(&mut conn, m)
        .await
        .map_err(|e| e.to_string())?;
    conn.close().await;
    Ok(compare(
        m,
        EngineKind::Postgres,
        &snap.tables,
        &snap.fingerprint,
    ))
}

pub(crate) async fn drill_mysql(
    m: &Manifest,
    path: &Path,
    progress: Arc<dyn Progress>,
) -> Result<Vec<String>, String> {
    use crate::engines::mysql::ephemeral::EphemeralMysql;
    use crate::engines::mysql::restore as myr;
    let tools = mybk::find_tools().map_err(|e| e.to_string())?;
    let server = EphemeralMysql::start()
        .await
        .map_err(|e| format!("cannot start an ephemeral MariaDB: {e}"))?;
    let db = m.database.clone();
    let mut admin = Conn::Mysql(server.connect(None).await.map_err(|e| e.to_string())?);
    myr::create_database(
        &mut admin,
        &db,
        m.database_settings.encoding.as_deref(),
        m.database_settings.collate.as_deref(),
    )
    .await
    .map_err(|e| format!("creating the drill database: {e}"))?;
    admin.close().await;
    let t = MyTarget::parse(&server.url(&db)).map_err(|e| e.to_string())?;
    let defaults = t.defaults_file().map_err(|e| e.to_string())?;
    let mut cmd = myr::load_command(&tools, &defaults.arg(), &db);
    defaults.pass_to(&mut cmd);
    let p = path.to_path_buf();
    progress.begin(
        "restore drill",
        std::fs::metadata(path).map(|x| x.len()).ok(),
    );
    let p2 = progress.clone();
    let f =
        tokio::task::spawn_blocking(move || child::stream_file_to_stdin(cmd, &p, &|n| p2.add(n)))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    progress.end();
    if !f.status.success() {
        let issues = myr::classify_errors(&f.stderr);
        return Err(format!(
            "the load failed: {}",
            issues
                .first()
                .map(|i| i.message.clone())
                .unwrap_or_else(|| child::tail(&f.stderr, 3))
        ));
    }
    let mut conn = Conn::open(&t.sqlx_url(&db))
        .await
        .map_err(|e| e.to_string())?;
    let snap = snapshot_for(&mut conn, m)
        .await
        .map_err(|e| e.to_string())?;
    conn.close().await;
    Ok(compare(
        m,
        EngineKind::Mysql,
        &snap.tables,
        &snap.fingerprint,
    ))
}

pub(crate) async fn drill_sqlite(m: &Manifest, path: &Path) -> Result<Vec<String>, String> {
    use crate::engines::sqlite::ephemeral::EphemeralSqlite;
    let db = EphemeralSqlite::start(Some(path))
        .await
        .map_err(|e| e.to_string())?;
    let mut conn = Conn::Sqlite(db.connect().await.map_err(|e| e.to_string())?);
    let snap = snapshot_for(&mut conn, m)
        .await
        .map_err(|e| e.to_string())?;
    conn.close().await;
    Ok(compare(
        m,
        EngineKind::Sqlite,
        &snap.tables,
        &snap.fingerprint,
    ))
}
