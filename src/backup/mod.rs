//! `migsafe backup create|verify|list|prune`: dumps taken through migsafe (sha256 computed while
//! the dump streams), written atomically next to a manifest, verified (checksum, a full read of
//! the archive, optionally a restore drill into an ephemeral database), listed and pruned.
//! `restore` lives in `crate::restore`. Orchestration only: rendering is in `crate::report::backup`.

pub mod atomic;
pub mod kept;
pub mod manifest;
pub mod store;

use crate::engines::conn::Conn;
use crate::engines::mysql::backup as mybk;
use crate::engines::postgres::backup::{self as pgbk, PgFormat};
use crate::engines::snapshot::{self, TableRows};
use crate::engines::sqlite::backup as sqbk;
use crate::engines::target::{self, MyTarget, PgTarget, SqliteTarget, Target};
use crate::engines::{EngineError, EngineKind};
use crate::sys::child;
use chrono::{DateTime, Utc};
use manifest::{
    AppliedMigration, DatabaseSettings, DumpTool, FileEntry, Fingerprint, Manifest, Purpose,
    VerificationKind, WriteCounters,
};
use serde::Serialize;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Progress of long steps (dump, hashing, restore), shown by the caller (a byte bar on a TTY).
pub trait Progress: Send + Sync {
    /// A new step; `total` bytes when known.
    fn begin(&self, what: &str, total: Option<u64>);
    fn add(&self, bytes: u64);
    fn end(&self);
}

/// No progress display.
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&self, _: &str, _: Option<u64>) {}
    fn add(&self, _: u64) {}
    fn end(&self) {}
}

/// Why a backup command could not do its job (exit 2). Failed checks are not errors: they are
/// reported (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error(transparent)]
    Target(#[from] target::TargetError),
    #[error("{0}")]
    Failed(String),
}

impl BackupError {
    pub(crate) fn db(what: impl std::fmt::Display, e: impl std::fmt::Display) -> BackupError {
        BackupError::Failed(format!("{what}: {e}"))
    }
}

fn io_err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> BackupError {
    BackupError::Failed(format!("{what}: {e}"))
}

/// Which backup a command is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupRef {
    /// The one `<dir>/LATEST` names.
    Latest,
    /// A backup file or directory (or its manifest).
    Path(PathBuf),
}

/// A backup located on disk: its folder, file and manifest.
#[derive(Debug, Clone)]
pub struct Located {
    pub dir: PathBuf,
    pub path: PathBuf,
    pub manifest_path: PathBuf,
    pub manifest: Manifest,
}

/// Finds a backup and loads its manifest. A backup without a manifest is incomplete (the
/// manifest is written last) and is refused.
pub fn locate(dir: &Path, which: &BackupRef) -> Result<Located, BackupError> {
    let path = match which {
        BackupRef::Latest => {
            let name = manifest::read_latest(dir).ok_or_else(|| {
                BackupError::Usage(format!(
                    "{}: no verified backup (LATEST is missing): run `migsafe backup create`, or name a backup file",
                    dir.join(manifest::LATEST_FILE).display()
                ))
            })?;
            dir.join(name)
        }
        BackupRef::Path(p) => {
            let s = p.to_string_lossy();
            match s.strip_suffix(manifest::MANIFEST_SUFFIX) {
                Some(stripped) => PathBuf::from(stripped),
                None => p.clone(),
            }
        }
    };
    let manifest_path = Manifest::path_for(&path);
    if !manifest_path.exists() {
        let why = if path.exists() {
            "it has no manifest, so it never finished (the manifest is written last)"
        } else {
            "no such backup"
        };
        return Err(BackupError::Usage(format!("{}: {why}", path.display())));
    }
    let m = Manifest::load(&manifest_path)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let expected = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if m.file != expected {
        return Err(BackupError::Usage(format!(
            "{}: the manifest describes {:?}, not {expected:?}",
            manifest_path.display(),
            m.file
        )));
    }
    Ok(Located {
        dir,
        path,
        manifest_path,
        manifest: m,
    })
}

/// Settings of `backup create`.
#[derive(Debug, Clone)]
pub struct CreateSettings {
    pub url: String,
    pub dir: PathBuf,
    pub pg_format: PgFormat,
    pub jobs: u32,
    pub globals: bool,
    pub role_passwords: bool,
    pub verify: bool,
    pub pg_bin_dir: Option<PathBuf>,
    pub exact_row_limit: u64,
    pub lock_wait_timeout_secs: u64,
    pub purpose: Purpose,
}

/// The outcome of one verification step.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub kind: VerificationKind,
    pub ok: bool,
    pub details: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CreateReport {
    pub path: PathBuf,
    pub manifest_path: PathBuf,
    pub manifest: Manifest,
    pub duration_ms: u64,
    pub checks: Vec<StepResult>,
    /// What `LATEST` names afterwards.
    pub latest: Option<String>,
    pub warnings: Vec<String>,
}

impl CreateReport {
    /// Verified, or verification was not asked for.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

fn ensure_dir(dir: &Path) -> Result<(), BackupError> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                io_err(
                    format!("cannot create the backup folder {}", dir.display()),
                    e,
                )
            })?;
    }
    if !dir.is_dir() {
        return Err(BackupError::Usage(format!(
            "{}: not a folder",
            dir.display()
        )));
    }
    Ok(())
}

/// `backup_<YYYYmmdd_HHMMSS>` in UTC.
pub fn stem(at: DateTime<Utc>) -> String {
    format!("backup_{}", at.format("%Y%m%d_%H%M%S"))
}

/// Takes a backup of the database at `s.url` into `s.dir`.
pub async fn create(
    s: &CreateSettings,
    progress: Arc<dyn Progress>,
) -> Result<CreateReport, BackupError> {
    ensure_dir(&s.dir)?;
    let began = Instant::now();
    let target = Target::parse(&s.url)?;
    let (path, mut m, mut warnings) = match &target {
        Target::Postgres(t) => create_pg(t, s, progress.clone()).await?,
        Target::Mysql(t) => create_mysql(t, s, progress.clone()).await?,
        Target::Sqlite(t) => create_sqlite(t, s, progress.clone()).await?,
    };
    let manifest_path = match m.save(&s.dir) {
        Ok(p) => p,
        Err(e) => {
            // without its manifest the file would look finished to a human: take it back
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if let Some(g) = &m.globals {
                let _ = std::fs::remove_file(s.dir.join(&g.path));
            }
            let _ = atomic::fsync_dir(&s.dir);
            return Err(BackupError::Failed(format!(
                "{e}; the backup file was removed again"
            )));
        }
    };
    let mut checks = Vec::new();
    if s.verify {
        checks = verify_file(&mut m, &path, s.pg_bin_dir.as_deref(), progress.as_ref()).await?;
        m.save(&s.dir)?;
    } else {
        warnings.push("not verified (--no-verify): LATEST does not name it until `migsafe backup verify` passes".into());
    }
    let latest = store::refresh_latest(&s.dir).map_err(|e| io_err("updating LATEST", e))?;
    Ok(CreateReport {
        path,
        manifest_path,
        manifest: m,
        duration_ms: began.elapsed().as_millis() as u64,
        checks,
        latest,
        warnings,
    })
}

/// The part of a manifest every engine fills the same way.
struct Base {
    started_at: DateTime<Utc>,
    engine: EngineKind,
    database: String,
    source: String,
    server_version: String,
    dump_tool: DumpTool,
}

/// What was written: format, final file name, size and sha256.
struct Written {
    format: &'static str,
    file: String,
    bytes: u64,
    sha256: String,
}

fn assemble(b: Base, w: Written, snap: Snap, s: &CreateSettings) -> Manifest {
    Manifest {
        schema_version: manifest::SCHEMA_VERSION,
        engine: b.engine.as_str().into(),
        server_version: b.server_version,
        dump_tool: b.dump_tool,
        database: b.database,
        source: b.source,
        format: w.format.into(),
        file: w.file,
        bytes: w.bytes,
        sha256: w.sha256,
        started_at: b.started_at,
        finished_at: Utc::now(),
        tables: snap.tables,
        schema_fingerprint: Fingerprint {
            sha256: snap.fingerprint,
        },
        migrations: snap.migrations,
        verification: vec![],
        snapshot_consistent: snap.consistent,
        exact_row_limit: Some(s.exact_row_limit),
        database_settings: DatabaseSettings::default(),
        files: vec![],
        globals: None,
        write_counters: None,
        extensions: vec![],
        purpose: s.purpose,
    }
}

/// Row counts, fingerprint and applied migrations of a database.
#[derive(Debug, Clone, Default)]
pub struct Snap {
    pub tables: Vec<TableRows>,
    pub fingerprint: String,
    pub fingerprint_lines: Vec<String>,
    pub migrations: Vec<AppliedMigration>,
    pub consistent: bool,
}

pub async fn take_snapshot(conn: &mut Conn, exact_limit: u64) -> Result<Snap, sqlx::Error> {
    let tables = snapshot::row_counts(conn, exact_limit).await?;
    let fp = snapshot::schema_fingerprint(conn).await?;
    let migrations = applied_migrations(conn).await.unwrap_or_default();
    Ok(Snap {
        tables,
        fingerprint: fp.sha256,
        fingerprint_lines: fp.lines,
        migrations,
        consistent: true,
    })
}

/// A snapshot comparable with manifest `m`: tables the manifest recorded as estimates keep the
/// (fresh) planner estimate, every other table is counted exactly, so verifying a large
/// database costs no more full scans than the backup did.
pub async fn snapshot_for(conn: &mut Conn, m: &Manifest) -> Result<Snap, sqlx::Error> {
    let limit = m.exact_row_limit.unwrap_or(snapshot::DEFAULT_EXACT_LIMIT);
    let mut snap = take_snapshot(conn, limit).await?;
    let kind = conn.kind();
    let q = |s: &str| match kind {
        EngineKind::Mysql => format!("`{}`", s.replace('`', "``")),
        _ => format!("\"{}\"", s.replace('"', "\"\"")),
    };
    for t in snap.tables.iter_mut().filter(|t| t.estimated) {
        let recorded_exact = m.tables.iter().any(|w| {
            w.table == t.table
                && (kind == EngineKind::Mysql || w.schema == t.schema)
                && !w.estimated
        });
        if !recorded_exact {
            continue;
        }
        let name = if kind == EngineKind::Postgres {
            format!("{}.{}", q(&t.schema), q(&t.table))
        } else {
            q(&t.table)
        };
        let (_, rows) = conn
            .query_text(&format!("SELECT CAST(count(*) AS CHAR(20)) FROM {name}"))
            .await?;
        if let Some(n) = rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|v| v.trim().parse().ok())
        {
            t.rows = n;
            t.estimated = false;
        }
    }
    Ok(snap)
}

const HISTORY_TABLES: [&str; 8] = [
    "_sqlx_migrations",
    "schema_migrations",
    "flyway_schema_history",
    "goose_db_version",
    "_prisma_migrations",
    "__diesel_schema_migrations",
    "__drizzle_migrations",
    "migsafe_schema_history",
];

/// Applied migrations from whichever known history tables exist (DESIGN.md §3).
pub async fn applied_migrations(conn: &mut Conn) -> Result<Vec<AppliedMigration>, sqlx::Error> {
    let kind = conn.kind();
    let mut out = Vec::new();
    for table in HISTORY_TABLES {
        let cols_sql = match kind {
            EngineKind::Postgres => format!(
                "SELECT column_name::text, data_type::text FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{table}'"
            ),
            EngineKind::Mysql => format!(
                "SELECT CAST(column_name AS CHAR), CAST(data_type AS CHAR) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = '{table}'"
            ),
            EngineKind::Sqlite => {
                format!("SELECT name, lower(type) FROM pragma_table_info('{table}')")
            }
        };
        let (_, cols) = conn.query_text(&cols_sql).await?;
        let cols: Vec<(String, String)> = cols
            .into_iter()
            .filter_map(|r| {
                let mut it = r.into_iter();
                Some((
                    it.next()??.to_ascii_lowercase(),
                    it.next().flatten().unwrap_or_default().to_ascii_lowercase(),
                ))
            })
            .collect();
        if cols.is_empty() {
            continue;
        }
        let has = |c: &str| cols.iter().find(|(n, _)| n == c).map(|(_, t)| t.clone());
        let Some(version_col) = ["version", "version_id", "migration_name", "id"]
            .into_iter()
            .find(|c| has(c).is_some())
        else {
            continue;
        };
        let checksum_col = ["checksum", "hash"].into_iter().find(|c| has(c).is_some());
        let as_text = |c: &str| {
            let ty = has(c).unwrap_or_default();
            let binary = ty.contains("bytea") || ty.contains("blob") || ty.contains("binary");
            match (kind, binary) {
                (EngineKind::Postgres, true) => format!("encode({c}, 'hex')"),
                (EngineKind::Postgres, false) => format!("{c}::text"),
                (EngineKind::Mysql, true) => format!("LOWER(HEX({c}))"),
                (EngineKind::Mysql, false) => format!("CAST({c} AS CHAR)"),
                (EngineKind::Sqlite, true) => format!("lower(hex({c}))"),
                (EngineKind::Sqlite, false) => format!("CAST({c} AS TEXT)"),
            }
        };
        let mut filters = vec![format!("{version_col} IS NOT NULL")];
        if has("success").is_some() {
            filters.push(if kind == EngineKind::Postgres {
                "success IS TRUE".into()
            } else {
                "success = 1".into()
            });
        }
        if has("finished_at").is_some() {
            filters.push("finished_at IS NOT NULL".into());
        }
        if has("rolled_back_at").is_some() {
            filters.push("rolled_back_at IS NULL".into());
        }
        if has("is_applied").is_some() {
            filters.push(if kind == EngineKind::Postgres {
                "is_applied IS TRUE".into()
            } else {
                "is_applied = 1".into()
            });
        }
        let order = ["installed_rank", "id"]
            .into_iter()
            .find(|c| has(c).is_some())
            .unwrap_or(version_col);
        let sql = format!(
            "SELECT {}, {} FROM {table} WHERE {} ORDER BY {order}",
            as_text(version_col),
            checksum_col.map(as_text).unwrap_or_else(|| "NULL".into()),
            filters.join(" AND ")
        );
        let Ok((_, rows)) = conn.query_text(&sql).await else {
            continue;
        };
        for r in rows {
            let mut it = r.into_iter();
            if let Some(Some(version)) = it.next() {
                out.push(AppliedMigration {
                    version,
                    checksum: it.next().flatten(),
                    table: Some(table.to_string()),
                });
            }
        }
    }
    Ok(out)
}

fn scrub_tail(text: &str, secret: Option<&str>) -> String {
    target::scrub(&child::tail(text, 12), secret)
}

/// A dump tool that exited non-zero or was killed: what to tell the user.
fn tool_failed(tool: &str, f: &child::Finished, secret: Option<&str>) -> BackupError {
    BackupError::Failed(format!(
        "{tool} failed ({}); nothing was kept: {}",
        child::describe(&f.status),
        scrub_tail(&f.stderr, secret)
    ))
}

/// Runs a dump that writes to stdout into the staging file, hashing as it streams.
fn stream_dump(
    cmd: std::process::Command,
    partial: &Path,
    progress: &dyn Progress,
) -> Result<child::Finished, BackupError> {
    let file = atomic::create_private(partial)
        .map_err(|e| io_err(format!("cannot create {}", partial.display()), e))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let f = child::stream_stdout_to(cmd, &mut w, &|n| progress.add(n))
        .map_err(|e| BackupError::Failed(format!("{e}; nothing was kept")))?;
    let file = w.into_inner().map_err(|e| {
        BackupError::Failed(format!(
            "writing the backup failed: {}; nothing was kept",
            e.error()
        ))
    })?;
    file.sync_all().map_err(|e| {
        BackupError::Failed(format!("writing the backup failed: {e}; nothing was kept"))
    })?;
    Ok(f)
}

/// Runs a dump that writes a directory, reporting its growing size as progress.
fn dir_dump(
    mut cmd: std::process::Command,
    out_dir: &Path,
    progress: &dyn Progress,
) -> Result<child::Finished, BackupError> {
    use std::process::Stdio;
    let tool = child::tool_name(&cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let (mut c, _tracked) =
        child::spawn(&mut cmd).map_err(|e| io_err(format!("cannot start {tool}"), e))?;
    let mut stderr = c.stderr.take();
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = std::io::Read::read_to_string(e, &mut s);
        }
        s
    });
    let mut seen = 0u64;
    let status = loop {
        if let Ok(Some(st)) = c.try_wait() {
            break st;
        }
        let now = dir_size(out_dir);
        if now > seen {
            progress.add(now - seen);
            seen = now;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    Ok(child::Finished {
        status,
        stderr: err.join().unwrap_or_default(),
        bytes: 0,
        sha256: String::new(),
    })
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    e.metadata()
                        .map(|m| {
                            if m.is_dir() {
                                dir_size(&e.path())
                            } else {
                                m.len()
                            }
                        })
                        .unwrap_or(0)
                })
                .sum()
        })
        .unwrap_or(0)
}

async fn create_pg(
    t: &PgTarget,
    s: &CreateSettings,
    progress: Arc<dyn Progress>,
) -> Result<(PathBuf, Manifest, Vec<String>), BackupError> {
    let started_at = Utc::now();
    let mut warnings = Vec::new();
    let mut conn = Conn::open(&t.sqlx_url(&t.database)).await?;
    let facts = pgbk::server_facts(&mut conn)
        .await
        .map_err(|e| BackupError::db("reading server facts", e))?;
    let tools = pgbk::find_tools(
        s.pg_bin_dir.as_deref(),
        facts.major,
        "pg_dump must be at least the server's major version",
    )?;
    let counters = pgbk::write_counters(&mut conn)
        .await
        .map_err(|e| BackupError::db("reading pg_stat_user_tables", e))?;
    let snapshot_id = match pgbk::export_snapshot(&mut conn).await {
        Ok(id) => Some(id),
        Err(e) => {
            warnings.push(format!(
                "could not export a snapshot ({e}): row counts were taken separately from the dump"
            ));
            None
        }
    };
    let staging =
        atomic::Staging::reserve(&s.dir, &stem(started_at), s.pg_format.ext()).map_err(|e| {
            io_err(
                format!("cannot reserve a backup name in {}", s.dir.display()),
                e,
            )
        })?;
    let libpq = t.libpq_url(&t.database);
    let env = t.child_env("migsafe backup");
    let spec = pgbk::DumpSpec {
        format: s.pg_format,
        dbname_url: &libpq,
        env: env.clone(),
        jobs: s.jobs,
        snapshot: snapshot_id.as_deref(),
        out_dir: (s.pg_format == PgFormat::Directory).then_some(staging.partial.as_path()),
        lock_wait_timeout_secs: s.lock_wait_timeout_secs,
    };
    let cmd = pgbk::dump_command(&tools, &spec);
    let partial = staging.partial.clone();
    let format = s.pg_format;
    progress.begin(&format!("dumping {}", t.database), None);
    let p2 = progress.clone();
    let dump = tokio::task::spawn_blocking(move || match format {
        PgFormat::Directory => dir_dump(cmd, &partial, p2.as_ref()),
        _ => stream_dump(cmd, &partial, p2.as_ref()),
    });
    // counted in the dump's own snapshot while pg_dump runs
    let snap = take_snapshot(&mut conn, s.exact_row_limit);
    let (dumped, snap) = tokio::join!(dump, snap);
    progress.end();
    let _ = conn.execute("COMMIT").await;
    conn.close().await;
    let dumped =
        dumped.map_err(|e| BackupError::Failed(format!("the dump task failed: {e}")))??;
    if !dumped.status.success() {
        return Err(tool_failed("pg_dump", &dumped, t.password()));
    }
    let mut snap = snap.map_err(|e| BackupError::db("counting rows", e))?;
    snap.consistent = snapshot_id.is_some();
    let (bytes, sha256, files) = if format == PgFormat::Directory {
        progress.begin("hashing the backup", None);
        let (entries, total, digest) = atomic::hash_dir(&staging.partial, &|n| progress.add(n))
            .map_err(|e| io_err("hashing the backup", e))?;
        progress.end();
        (total, digest, entries)
    } else {
        (dumped.bytes, dumped.sha256.clone(), vec![])
    };
    let globals = if s.globals {
        let gpart = staging.dir.join("globals.partial");
        let cmd = pgbk::globals_command(&tools, &libpq, &env, s.role_passwords);
        let f = stream_dump(cmd, &gpart, &Quiet)?;
        if !f.status.success() {
            return Err(tool_failed("pg_dumpall --globals-only", &f, t.password()));
        }
        let name = format!("{}.globals.sql", staging.name);
        atomic::fsync_tree(&gpart).map_err(|e| io_err("fsync", e))?;
        atomic::rename_noreplace(&gpart, &s.dir.join(&name)).map_err(|e| {
            io_err(
                format!("cannot move the globals into {}", s.dir.display()),
                e,
            )
        })?;
        Some(FileEntry {
            path: name,
            bytes: f.bytes,
            sha256: f.sha256,
        })
    } else {
        None
    };
    let file = staging.name.clone();
    let path = staging.commit(&s.dir).map_err(|e| {
        if let Some(g) = &globals {
            let _ = std::fs::remove_file(s.dir.join(&g.path));
        }
        io_err(
            format!("cannot move the backup into {}", s.dir.display()),
            e,
        )
    })?;
    let base = Base {
        started_at,
        engine: EngineKind::Postgres,
        database: t.database.clone(),
        source: t.redacted(),
        server_version: facts.version.clone(),
        dump_tool: DumpTool {
            name: "pg_dump".into(),
            version: tools.version.clone(),
        },
    };
    let written = Written {
        format: format.as_str(),
        file,
        bytes,
        sha256,
    };
    let mut m = assemble(base, written, snap, s);
    m.files = files;
    m.globals = globals;
    m.extensions = facts.extensions.clone();
    m.database_settings = DatabaseSettings {
        encoding: facts.encoding,
        collate: facts.collate,
        ctype: facts.ctype,
        size_bytes: facts.size_bytes,
    };
    m.write_counters = Some(WriteCounters {
        stats_reset: facts.stats_reset,
        tables: counters
            .into_iter()
            .map(|(schema, table, writes)| manifest::TableWrites {
                schema,
                table,
                writes,
            })
            .collect(),
    });
    Ok((path, m, warnings))
}

async fn create_mysql(
    t: &MyTarget,
    s: &CreateSettings,
    progress: Arc<dyn Progress>,
) -> Result<(PathBuf, Manifest, Vec<String>), BackupError> {
    let started_at = Utc::now();
    let mut warnings = Vec::new();
    let tools = mybk::find_tools()?;
    let mut conn = Conn::open(&t.sqlx_url(&t.database)).await?;
    let facts = mybk::server_facts(&mut conn)
        .await
        .map_err(|e| BackupError::db("reading server facts", e))?;
    if let (Some(tool), Some(server)) = (
        mybk::parse_version(&tools.version),
        mybk::parse_version(&facts.version),
    ) && tool.2 != server.2
    {
        warnings.push(format!(
            "{} dumps a {} server: prefer the dump tool of the server's own flavour",
            tools.version, facts.version
        ));
    }
    // mysqldump's snapshot cannot be shared: count before and after, and flag the tables that
    // changed meanwhile as estimated
    let before = take_snapshot(&mut conn, s.exact_row_limit)
        .await
        .map_err(|e| BackupError::db("counting rows", e))?;
    let staging = atomic::Staging::reserve(&s.dir, &stem(started_at), "sql").map_err(|e| {
        io_err(
            format!("cannot reserve a backup name in {}", s.dir.display()),
            e,
        )
    })?;
    let defaults = t.defaults_file()?;
    let mut cmd = mybk::dump_command(&tools, &defaults.arg(), &t.database);
    defaults.pass_to(&mut cmd);
    let partial = staging.partial.clone();
    progress.begin(&format!("dumping {}", t.database), None);
    let p2 = progress.clone();
    let dumped = tokio::task::spawn_blocking(move || stream_dump(cmd, &partial, p2.as_ref()))
        .await
        .map_err(|e| BackupError::Failed(format!("the dump task failed: {e}")))??;
    progress.end();
    drop(defaults);
    if !dumped.status.success() {
        return Err(tool_failed("mariadb-dump", &dumped, t.password()));
    }
    let after = take_snapshot(&mut conn, s.exact_row_limit)
        .await
        .map_err(|e| BackupError::db("counting rows", e))?;
    conn.close().await;
    let mut snap = after.clone();
    snap.consistent = before.fingerprint == after.fingerprint && before.tables == after.tables;
    if before.fingerprint != after.fingerprint {
        warnings.push("the schema changed while the dump ran: the recorded fingerprint is the one after the dump".into());
    }
    for t in snap.tables.iter_mut() {
        if before
            .tables
            .iter()
            .find(|b| b.table == t.table)
            .is_none_or(|b| b.rows != t.rows)
        {
            t.estimated = true;
        }
    }
    if !mybk::has_trailer(&staging.partial).unwrap_or(false) {
        return Err(BackupError::Failed("the dump has no completion trailer (`-- Dump completed`): it is incomplete; nothing was kept".into()));
    }
    let file = staging.name.clone();
    let path = staging.commit(&s.dir).map_err(|e| {
        io_err(
            format!("cannot move the backup into {}", s.dir.display()),
            e,
        )
    })?;
    let name = Path::new(&tools.dump)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = Base {
        started_at,
        engine: EngineKind::Mysql,
        database: t.database.clone(),
        source: t.redacted(),
        server_version: facts.version,
        dump_tool: DumpTool {
            name,
            version: tools.version.clone(),
        },
    };
    let written = Written {
        format: "sql",
        file,
        bytes: dumped.bytes,
        sha256: dumped.sha256,
    };
    let mut m = assemble(base, written, snap, s);
    m.database_settings = DatabaseSettings {
        encoding: facts.charset,
        collate: facts.collation,
        ctype: None,
        size_bytes: facts.size_bytes,
    };
    Ok((path, m, warnings))
}

async fn create_sqlite(
    t: &SqliteTarget,
    s: &CreateSettings,
    progress: Arc<dyn Progress>,
) -> Result<(PathBuf, Manifest, Vec<String>), BackupError> {
    let started_at = Utc::now();
    if !t.path.is_file() {
        return Err(BackupError::Usage(format!(
            "{}: no such SQLite database",
            t.path.display()
        )));
    }
    let size = std::fs::metadata(&t.path).map(|m| m.len()).ok();
    let mut src = sqbk::open(&t.path, true).await?;
    let version = sqbk::sqlite_version(&mut src)
        .await
        .map_err(|e| BackupError::db("reading sqlite_version()", e))?;
    let staging = atomic::Staging::reserve(&s.dir, &stem(started_at), "sqlite").map_err(|e| {
        io_err(
            format!("cannot reserve a backup name in {}", s.dir.display()),
            e,
        )
    })?;
    // VACUUM INTO accepts an existing empty file: create it private first
    drop(
        atomic::create_private(&staging.partial)
            .map_err(|e| io_err(format!("cannot create {}", staging.partial.display()), e))?,
    );
    progress.begin(&format!("copying {}", t.path.display()), None);
    let r = sqbk::vacuum_into(&mut src, &staging.partial).await;
    src.close().await;
    progress.end();
    r.map_err(|e| BackupError::Failed(format!("VACUUM INTO failed: {e}; nothing was kept")))?;
    // counted on the copy itself: exactly what the backup holds
    let mut copy = sqbk::open(&staging.partial, true).await?;
    let snap = take_snapshot(&mut copy, s.exact_row_limit)
        .await
        .map_err(|e| BackupError::db("counting rows", e))?;
    copy.close().await;
    progress.begin("hashing the backup", None);
    let (bytes, sha256) = atomic::hash_file(&staging.partial, &|n| progress.add(n))
        .map_err(|e| io_err("hashing the backup", e))?;
    progress.end();
    let file = staging.name.clone();
    let path = staging.commit(&s.dir).map_err(|e| {
        io_err(
            format!("cannot move the backup into {}", s.dir.display()),
            e,
        )
    })?;
    let base = Base {
        started_at,
        engine: EngineKind::Sqlite,
        database: t.database.clone(),
        source: format!("sqlite:{}", t.path.display()),
        server_version: version.clone(),
        dump_tool: DumpTool {
            name: "sqlite VACUUM INTO".into(),
            version,
        },
    };
    let written = Written {
        format: "sqlite",
        file,
        bytes,
        sha256,
    };
    let mut m = assemble(base, written, snap, s);
    m.database_settings.size_bytes = size;
    Ok((path, m, vec![]))
}

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

async fn file_checks(
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

async fn file_checks_inner(
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
fn plain_complete(path: &Path) -> std::io::Result<bool> {
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

/// Differences between what a manifest recorded and what a restored database holds. MySQL
/// tables are matched by name only (the schema is the database name, which differs).
pub fn compare(
    m: &Manifest,
    kind: EngineKind,
    tables: &[TableRows],
    fingerprint: &str,
) -> Vec<String> {
    let key = |t: &TableRows| {
        if kind == EngineKind::Mysql {
            t.table.clone()
        } else {
            t.qualified()
        }
    };
    let mut out = Vec::new();
    for want in &m.tables {
        match tables.iter().find(|t| key(t) == key(want)) {
            None => out.push(format!("table {} is missing", key(want))),
            Some(got) if want.estimated => {
                let (a, b) = (want.rows as f64, got.rows as f64);
                if (a - b).abs() > (a.max(b) * 0.1).max(1000.0) {
                    out.push(format!(
                        "table {}: {} rows, the manifest estimated {}",
                        key(want),
                        got.rows,
                        want.rows
                    ));
                }
            }
            Some(got) if got.rows != want.rows => out.push(format!(
                "table {}: {} rows, the manifest says {}",
                key(want),
                got.rows,
                want.rows
            )),
            Some(_) => {}
        }
    }
    for got in tables {
        if !m.tables.iter().any(|w| key(w) == key(got)) {
            out.push(format!("table {} is not in the manifest", key(got)));
        }
    }
    if fingerprint != m.schema_fingerprint.sha256 {
        out.push(format!(
            "schema fingerprint {} differs from the manifest's {}",
            &fingerprint[..12.min(fingerprint.len())],
            &m.schema_fingerprint.sha256[..12.min(m.schema_fingerprint.sha256.len())]
        ));
    }
    out
}

/// The fingerprint of schema lines after replacing a scratch database's name with the original
/// one (MySQL view definitions name their database).
pub fn fingerprint_renamed(lines: &[String], from: &str, to: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut v: Vec<String> = lines
        .iter()
        .map(|l| l.replace(&format!("`{from}`"), &format!("`{to}`")))
        .collect();
    v.sort();
    v.dedup();
    atomic::hex(&Sha256::digest(v.join("\n").as_bytes()))
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

async fn drill_pg(
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

async fn drill_mysql(
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

async fn drill_sqlite(m: &Manifest, path: &Path) -> Result<Vec<String>, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(table: &str, n: u64, estimated: bool) -> TableRows {
        TableRows {
            schema: "public".into(),
            table: table.into(),
            rows: n,
            estimated,
        }
    }

    #[test]
    fn compares_counts_exactly_and_estimates_with_tolerance() {
        let mut m: Manifest = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "engine": "postgres", "server_version": "15", "dump_tool": {"name": "pg_dump", "version": "15"},
            "database": "app", "source": "postgres://x/app", "format": "custom", "file": "backup_1.dump", "bytes": 1,
            "sha256": "a".repeat(64), "started_at": "2026-11-29T14:15:00Z", "finished_at": "2026-11-29T14:15:00Z",
            "tables": [], "schema_fingerprint": {"sha256": "b".repeat(64)}, "migrations": [], "verification": []
        }))
        .unwrap();
        m.tables = vec![rows("users", 3, false), rows("events", 2_000_000, true)];
        let fp = "b".repeat(64);
        assert!(
            compare(
                &m,
                EngineKind::Postgres,
                &[rows("users", 3, false), rows("events", 2_100_000, false)],
                &fp
            )
            .is_empty()
        );
        let d = compare(
            &m,
            EngineKind::Postgres,
            &[
                rows("users", 4, false),
                rows("events", 3_000_000, false),
                rows("new", 0, false),
            ],
            &"c".repeat(64),
        );
        assert_eq!(d.len(), 4, "{d:?}");
        assert!(d[0].contains("users: 4 rows, the manifest says 3"));
        assert!(
            compare(&m, EngineKind::Postgres, &[rows("users", 3, false)], &fp)[0]
                .contains("events is missing")
        );
    }

    #[test]
    fn plain_dump_completeness() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.sql");
        std::fs::write(&p, "CREATE TABLE t ();\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n").unwrap();
        assert!(plain_complete(&p).unwrap());
        std::fs::write(&p, "CREATE TABLE t ();\nCOPY t FROM stdin;\n1\n").unwrap();
        assert!(!plain_complete(&p).unwrap());
    }

    #[test]
    fn mysql_view_fingerprints_ignore_the_scratch_database_name() {
        let a = fingerprint_renamed(&["view v select `app`.`t`.`id`".into()], "app", "app");
        let b = fingerprint_renamed(
            &["view v select `app_restore_1`.`t`.`id`".into()],
            "app_restore_1",
            "app",
        );
        assert_eq!(a, b);
    }
}
