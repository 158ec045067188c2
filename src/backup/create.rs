//! `backup create` for each engine: the dump streamed through migsafe into the reserved
//! staging file (hashed on the way), the manifest assembled from what was written and the
//! snapshot taken in the dump's own snapshot where the engine can share one.

use super::*;

/// The part of a manifest every engine fills the same way.
pub(crate) struct Base {
    started_at: DateTime<Utc>,
    engine: EngineKind,
    database: String,
    source: String,
    server_version: String,
    dump_tool: DumpTool,
}

/// What was written: format, final file name, size and sha256.
pub(crate) struct Written {
    format: &'static str,
    file: String,
    bytes: u64,
    sha256: String,
}

pub(crate) fn assemble(b: Base, w: Written, snap: Snap, s: &CreateSettings) -> Manifest {
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

pub(crate) fn scrub_tail(text: &str, secret: Option<&str>) -> String {
    target::scrub(&child::tail(text, 12), secret)
}

/// A dump tool that exited non-zero or was killed: what to tell the user.
pub(crate) fn tool_failed(tool: &str, f: &child::Finished, secret: Option<&str>) -> BackupError {
    BackupError::Failed(format!(
        "{tool} failed ({}); nothing was kept: {}",
        child::describe(&f.status),
        scrub_tail(&f.stderr, secret)
    ))
}

/// Runs a dump that writes to stdout into the staging file, hashing as it streams.
pub(crate) fn stream_dump(
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
pub(crate) fn dir_dump(
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

pub(crate) fn dir_size(p: &Path) -> u64 {
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

pub(crate) async fn create_pg(
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

pub(crate) async fn create_mysql(
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

pub(crate) async fn create_sqlite(
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
