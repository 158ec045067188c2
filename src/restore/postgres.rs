//! PostgreSQL restores as a type with steps. [`PgRestore::prepare`] reads the target and runs
//! the preflight; then [`PgRestore::swap`] (restore into a copy, verify, stop writes, count what
//! the restore discards, swap names in one transaction) or [`PgRestore::in_place`] (safety
//! backup, stop writes, count, load in one transaction with every lock wait bounded). Each step
//! that changes the server is journaled before it acts (see [`super::recover`] for the way back).

use super::{
    Changes, Confirm, Operation, RestoreReport, RestoreSettings, Status, Strategy, changes,
    disk_check, free_ts, gate, restore_failure, run_blocking, safety_backup, summary_ok,
    verify_restored,
};
use crate::backup::{self, BackupError, Located, Progress};
use crate::engines::EngineKind;
use crate::engines::admin::{Admin, DatabaseState};
use crate::engines::conn::Conn;
use crate::engines::postgres::backup::{self as pgbk, PgFormat, PgTools};
use crate::engines::postgres::restore as pgr;
use crate::engines::target::{PgTarget, Target};
use crate::sys::child;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A PostgreSQL restore after its preflight: everything the steps need.
pub(super) struct PgRestore<'a> {
    t: &'a PgTarget,
    loc: &'a Located,
    s: &'a RestoreSettings,
    progress: Arc<dyn Progress>,
    tools: PgTools,
    format: PgFormat,
    spec: pgr::RestoreSpec,
    admin: Conn,
    db: String,
    /// The live database's state before anything changed (None: there is none).
    live: Option<DatabaseState>,
    new_db: String,
    keep_db: String,
    /// A filtered table of contents (a private temporary file, removed when dropped).
    use_list: Option<tempfile::TempPath>,
    /// migsafe's role is a superuser (not held by a connection limit).
    superuser: bool,
    /// The live database's connection limit while a maintenance block is lifted (see
    /// [`PgRestore::lift_block`]).
    lifted: Option<i64>,
}

fn eng() -> &'static dyn Admin {
    EngineKind::Postgres.engine().admin()
}

/// ALLOW_CONNECTIONS false and connection limit `limit` on `db` and `keep` (those that exist),
/// then the end of every session on `db` (the application's that came in while the block was
/// lifted; migsafe's admin session is on another database).
pub(super) async fn reblock(
    admin: &mut Conn,
    db: &str,
    keep: &str,
    limit: i64,
) -> Result<(), BackupError> {
    let dbs = eng().databases(admin).await?;
    for d in [db, keep] {
        if dbs.iter().any(|x| x == d) {
            eng().set_allow_connections(admin, d, false).await?;
            eng().set_connection_limit(admin, d, limit).await?;
        }
    }
    eng().terminate_sessions(admin, db, &[]).await?;
    Ok(())
}

/// Rows changed in `db` since the backup, counted on `conn` (a connection to it).
pub(super) async fn count_changes(
    conn: &mut Conn,
    m: &crate::backup::manifest::Manifest,
) -> Result<Changes, BackupError> {
    // a restore role may not read every table: the write counters still cover them all
    let limit = m
        .exact_row_limit
        .unwrap_or(crate::engines::snapshot::DEFAULT_EXACT_LIMIT);
    let (now, count_error) = match crate::engines::snapshot::row_counts(conn, limit).await {
        Ok(n) => (n, None),
        Err(e) => (vec![], Some(e.to_string())),
    };
    let counters = pgbk::write_counters(conn)
        .await
        .map_err(|e| BackupError::db("reading pg_stat_user_tables", e))?;
    let (_, reset) = conn
        .query_text(
            "SELECT stats_reset::text FROM pg_stat_database WHERE datname = current_database()",
        )
        .await
        .map_err(|e| BackupError::db("reading pg_stat_database", e))?;
    let reset = reset
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten());
    let mut c = changes(m, EngineKind::Postgres, &now, Some((&reset, &counters)));
    if let Some(e) = count_error {
        c.method = if c.method == "row-counts" {
            "none".into()
        } else {
            c.method.replace("+row-counts", "")
        };
        c.note = Some(format!(
            "rows could not be counted ({e}): only the write counters were used"
        ));
    }
    Ok(c)
}

pub(super) async fn run(
    t: &PgTarget,
    target: &Target,
    loc: &Located,
    s: &RestoreSettings,
    progress: Arc<dyn Progress>,
    confirm: Confirm<'_>,
    r: &mut RestoreReport,
) -> Result<(), BackupError> {
    let Some(mut p) = PgRestore::prepare(t, target, loc, s, progress, r).await? else {
        gate(r, s, confirm);
        return Ok(());
    };
    if !gate(r, s, confirm) {
        p.admin.close().await;
        return Ok(());
    }
    p.filter_toc()?;
    let facts = json!({
        "backup": absolute(&loc.path),
        "manifest": absolute(&loc.manifest_path),
        "backup_dir": absolute(&loc.dir),
        "strategy": r.strategy.as_str(),
        "database": p.db,
        "copy": p.new_db,
        "keep": p.keep_db,
        "format": p.format.as_str(),
        "no_owner": s.no_owner,
        "jobs": s.jobs,
        "pg_bin_dir": s.pg_bin_dir,
        "lock_timeout_secs": s.lock_timeout_secs,
        "prior": p.live,
    });
    let kind = match r.strategy {
        Strategy::Swap => super::recover::PG_SWAP,
        Strategy::InPlace => super::recover::PG_IN_PLACE,
    };
    let marker_db = p.live.as_ref().map(|l| l.name.clone());
    let mut op = Operation::begin(
        kind,
        target,
        &s.url,
        Some(&mut p.admin),
        marker_db.as_deref(),
        facts,
        s,
        r,
    )
    .await?;
    op.announce_steps(p.progress.clone());
    let result = match p.lift_block(&mut op).await {
        Err(e) => Err(e),
        Ok(()) => match r.strategy {
            Strategy::Swap => p.swap(&mut op, r).await,
            Strategy::InPlace => p.in_place(&mut op, r).await,
        },
    };
    let result = match (result, p.reblock(&mut op).await) {
        (Ok(()), Err(e)) => Err(e),
        (result, _) => result,
    };
    drop(p.use_list.take());
    let keep_db = p.keep_db.clone();
    op.close(result.as_ref().err(), Some(&mut p.admin), &[&keep_db], r)
        .await;
    p.admin.close().await;
    result
}

pub(super) fn absolute(p: &std::path::Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

impl<'a> PgRestore<'a> {
    /// Reads the target server and runs the preflight checks into `r`. `None` when a check
    /// could not even be made (the report says why).
    async fn prepare(
        t: &'a PgTarget,
        target: &'a Target,
        loc: &'a Located,
        s: &'a RestoreSettings,
        progress: Arc<dyn Progress>,
        r: &mut RestoreReport,
    ) -> Result<Option<PgRestore<'a>>, BackupError> {
        let m = &loc.manifest;
        let format = PgFormat::parse(&m.format)
            .ok_or_else(|| BackupError::Usage(format!("unknown PostgreSQL format {}", m.format)))?;
        let tools = pgbk::find_tools(
            s.pg_bin_dir.as_deref(),
            backup::dump_major(m),
            "pg_restore must be at least the version of the pg_dump that wrote the archive",
        )?;
        let db = t.database.clone();
        let mut admin = eng().connect_admin(target).await?;
        let facts = pgr::target_facts(&mut admin)
            .await
            .map_err(|e| BackupError::db("reading the target server's settings", e))?;
        let source_major = pgbk::major_of(&m.server_version).unwrap_or(0);
        r.check(
            "tools",
            true,
            format!(
                "pg_restore and psql {} (from {}) for an archive written by {}",
                tools.major,
                tools.bin_dir.display(),
                m.dump_tool.version
            ),
        );
        r.check(
            "server-version",
            facts.major >= source_major,
            if facts.major >= source_major { format!("target {} ≥ source {}", facts.version, m.server_version) } else { format!("target {} is older than the source {}: dumps only load into the same or newer major versions", facts.version, m.server_version) },
        );
        let archive = match backup::pg_archive_facts(&tools, format, &loc.path) {
            Ok(a) => a,
            Err(e) => {
                r.check(
                    "archive",
                    false,
                    format!("cannot read the archive's schema: {e}"),
                );
                admin.close().await;
                return Ok(None);
            }
        };
        let missing_ext: Vec<&String> = archive
            .extensions
            .iter()
            .filter(|e| !facts.available_extensions.contains(*e))
            .collect();
        r.check(
            "extensions",
            missing_ext.is_empty(),
            if missing_ext.is_empty() {
                format!(
                    "available: {}",
                    if archive.extensions.is_empty() {
                        "none needed".into()
                    } else {
                        archive
                            .extensions
                            .iter()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                )
            } else {
                format!(
                    "not installed on the target server: {} (install the extension packages first)",
                    missing_ext
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        );
        let missing_roles: Vec<String> = archive
            .roles
            .iter()
            .filter(|x| !facts.roles.contains(*x))
            .cloned()
            .collect();
        let globals_hint = m
            .globals
            .as_ref()
            .map(|g| {
                format!(
                    " (apply {} with psql first)",
                    loc.dir.join(&g.path).display()
                )
            })
            .unwrap_or_default();
        match (missing_roles.is_empty(), s.no_owner, format) {
            (true, _, _) => r.check("roles", true, if archive.roles.is_empty() { "none needed".to_string() } else { format!("present: {}", archive.roles.iter().cloned().collect::<Vec<_>>().join(", ")) }),
            (false, true, PgFormat::Custom | PgFormat::Directory) => r.check("roles", true, format!("missing {}: ownership and grants are skipped (--no-owner)", missing_roles.join(", "))),
            (false, true, PgFormat::Plain) => r.check("roles", false, format!("missing {}: a plain dump sets owners itself, so --no-owner cannot help; create the roles{globals_hint}", missing_roles.join(", "))),
            (false, false, _) => r.check("roles", false, format!("missing {}: create them{globals_hint} or pass --no-owner", missing_roles.join(", "))),
        }
        let live = facts.databases.get(&db).cloned();
        // a long name is shortened so the names fit PostgreSQL's 63 bytes
        let stem = crate::backup::kept::stem(&db);
        let ts = free_ts(|ts| {
            facts
                .databases
                .contains_key(&format!("{stem}_restore_{ts}"))
                || facts
                    .databases
                    .contains_key(&format!("{stem}_before_restore_{ts}"))
        });
        let new_db = format!("{stem}_restore_{ts}");
        let keep_db = format!("{stem}_before_restore_{ts}");
        let single_txn = r.strategy == Strategy::InPlace || format == PgFormat::Plain;
        match r.strategy {
            Strategy::Swap => {
                let can = facts.superuser
                    || (facts.createdb
                        && live
                            .as_ref()
                            .is_none_or(|(owner, _)| *owner == facts.current_user));
                r.check(
                    "privileges",
                    can,
                    if can { format!("{} may create and rename databases", facts.current_user) } else { format!("{} needs CREATEDB and ownership of {db} (or superuser) to restore into a new database and swap it in", facts.current_user) },
                );
                let too_long = keep_db.len() > 63;
                let taken =
                    facts.databases.contains_key(&new_db) || facts.databases.contains_key(&keep_db);
                r.check(
                    "names",
                    !too_long && !taken,
                    if too_long { format!("{keep_db} is longer than PostgreSQL's 63-byte limit: use --strategy in-place") } else if taken { format!("{new_db} or {keep_db} already exists") } else { format!("restore into {new_db}, keep the current database as {keep_db}") },
                );
            }
            Strategy::InPlace => {
                match &live {
                    None => r.check("database", false, format!("{db} does not exist: nothing to restore in place (use --strategy swap, which creates it)")),
                    Some(_) => {
                        let mut conn = crate::engines::admin::open_through_block(target, &db, &t.sqlx_url(&db)).await?;
                        let rels = pgr::relations(&mut conn).await.map_err(|e| BackupError::db("listing relations", e))?;
                        conn.close().await;
                        let extra: Vec<String> = rels.difference(&archive.relations).map(|(s, n)| format!("{s}.{n}")).collect();
                        r.check(
                            "extra-objects",
                            extra.is_empty(),
                            if extra.is_empty() { "every relation of the live database is in the backup".to_string() } else { format!("the live database has relations the backup does not: {} (created after the backup); an in-place restore would keep them. Use --strategy swap, or drop them first", extra.join(", ")) },
                        );
                    }
                }
                if s.safety_backup {
                    disk_check(
                        r,
                        "backup-space",
                        Some(&s.dir),
                        Some(m.bytes + m.bytes / 5),
                        "the pre-restore safety backup",
                    );
                }
            }
        }
        let data_dir = facts
            .data_directory
            .as_ref()
            .filter(|_| t.is_local())
            .map(PathBuf::from)
            .filter(|p| p.exists());
        let need = m.database_settings.size_bytes.map(|b| b + b / 5);
        disk_check(
            r,
            "disk",
            data_dir.as_deref(),
            need,
            if r.strategy == Strategy::Swap {
                "a second copy of the database"
            } else {
                "the restored data (old rows are freed at commit)"
            },
        );
        if single_txn {
            let per = if r.strategy == Strategy::InPlace {
                2
            } else {
                1
            };
            let needed = archive.lock_objects as u64 * per;
            let capacity = facts.max_locks_per_transaction
                * (facts.max_connections + facts.max_prepared_transactions);
            if needed * 2 > capacity {
                r.check("locks", false, format!("restoring in one transaction locks about {needed} objects; the server's lock table holds {capacity} (max_locks_per_transaction {} × (max_connections + max_prepared_transactions)): raise max_locks_per_transaction or use --strategy swap with a custom or directory backup", facts.max_locks_per_transaction));
            } else if needed > facts.max_locks_per_transaction {
                r.warn("locks", format!("about {needed} locks in one transaction, more than max_locks_per_transaction {}: fine while the rest of the server holds few locks", facts.max_locks_per_transaction));
            } else {
                r.check(
                    "locks",
                    true,
                    format!(
                        "about {needed} locks in one transaction, within max_locks_per_transaction {}",
                        facts.max_locks_per_transaction
                    ),
                );
            }
        } else {
            r.check(
                "locks",
                true,
                "pg_restore commits object by object: max_locks_per_transaction does not limit it"
                    .to_string(),
            );
        }
        let live_state = eng().database_state(&mut admin, &db).await?;
        let live_state = live_state.exists.then_some(live_state);
        if live_state.is_some() {
            let mut conn =
                crate::engines::admin::open_through_block(target, &db, &t.sqlx_url(&db)).await?;
            let c = count_changes(&mut conn, m).await;
            conn.close().await;
            r.changes = Some(c?);
        }
        let env = t.child_env("migsafe restore");
        let spec = pgr::RestoreSpec {
            clean: r.strategy == Strategy::InPlace,
            single_transaction: r.strategy == Strategy::InPlace,
            jobs: s.jobs,
            no_owner: s.no_owner,
            no_acl: s.no_owner,
            use_list: None,
            env,
            lock_timeout_secs: (r.strategy == Strategy::InPlace).then_some(s.lock_timeout_secs),
        };
        let superuser = facts.superuser;
        Ok(Some(PgRestore {
            t,
            loc,
            s,
            progress,
            tools,
            format,
            spec: pgr::RestoreSpec {
                // non-superusers cannot comment on extensions they do not own: filtered later
                use_list: (!superuser).then(PathBuf::new),
                ..spec
            },
            admin,
            db,
            live: live_state,
            new_db,
            keep_db,
            use_list: None,
            superuser,
            lifted: None,
        }))
    }

    /// A live database in migsafe maintenance with `--block database` (ALLOW_CONNECTIONS
    /// false) refuses every connection, migsafe's and its tools' (pg_dump, pg_restore) included.
    /// For the restore the block becomes `CONNECTION LIMIT 0`, which holds every role but a
    /// superuser's such as migsafe's: the application stays out. [`PgRestore::reblock`] puts
    /// the block back on whichever database is live afterwards. Journaled first, so `migsafe
    /// recover` puts the block back after a crash.
    async fn lift_block(&mut self, op: &mut Operation) -> Result<(), BackupError> {
        let Some(live) = &self.live else {
            return Ok(());
        };
        if live.allow_connections != Some(false) || !self.superuser {
            return Ok(());
        }
        let markers = eng().markers(&mut self.admin).await.unwrap_or_default();
        let in_maintenance = crate::engines::admin::in_maintenance(&markers, &self.db);
        if !in_maintenance {
            return Ok(());
        }
        let limit = live.connection_limit.unwrap_or(-1);
        let db = self.db.clone();
        op.step(
            "lift-block",
            json!({"database": db, "connection_limit": limit}),
        )?;
        eng().set_connection_limit(&mut self.admin, &db, 0).await?;
        eng()
            .set_allow_connections(&mut self.admin, &db, true)
            .await?;
        op.done("lift-block", json!({}))?;
        self.lifted = Some(limit);
        Ok(())
    }

    /// Puts the maintenance block [`PgRestore::lift_block`] lifted back: ALLOW_CONNECTIONS
    /// false and the prior connection limit on the live database (the restored one after a
    /// swap) and on the kept one, then ends any session that is not migsafe's. `maintenance
    /// off` then restores the settings from before the mode on the database that is live.
    async fn reblock(&mut self, op: &mut Operation) -> Result<(), BackupError> {
        let Some(limit) = self.lifted.take() else {
            return Ok(());
        };
        let db = self.db.clone();
        let keep = self.keep_db.clone();
        op.step(
            "reblock",
            json!({"database": db, "keep": keep, "connection_limit": limit}),
        )?;
        reblock(&mut self.admin, &db, &keep, limit).await?;
        op.done("reblock", json!({}))
    }

    /// For non-superusers: a table of contents without the entries they cannot restore.
    fn filter_toc(&mut self) -> Result<(), BackupError> {
        let wanted = self.spec.use_list.take().is_some() && self.format != PgFormat::Plain;
        if !wanted {
            return Ok(());
        }
        let toc = child::output(pgbk::toc_command(&self.tools, &self.loc.path))
            .map_err(|e| BackupError::Failed(e.to_string()))?;
        let (filtered, dropped) = pgr::filter_toc(&toc);
        if dropped > 0 {
            let fail =
                |e: std::io::Error| BackupError::Failed(format!("writing the TOC list: {e}"));
            let mut f = tempfile::Builder::new()
                .prefix("migsafe-toc-")
                .suffix(".list")
                .tempfile()
                .map_err(fail)?;
            f.write_all(filtered.as_bytes()).map_err(fail)?;
            let p = f.into_temp_path();
            self.spec.use_list = Some(p.to_path_buf());
            self.use_list = Some(p);
        }
        Ok(())
    }

    /// Runs pg_restore (or psql for plain dumps) from the backup into `db`, records the
    /// classified errors in the report, and returns the finished process and why the restore
    /// failed, if it did. With `watch`, every lock wait of the restore is bounded by
    /// `--lock-timeout` (pg_restore's own preamble sets `lock_timeout = 0`).
    async fn load(
        &mut self,
        db: &str,
        what: &str,
        watch: bool,
        r: &mut RestoreReport,
    ) -> Result<(child::Finished, Option<String>), BackupError> {
        let cmd = pgr::restore_command(
            &self.tools,
            self.format,
            &self.loc.path,
            &self.t.libpq_url(db),
            &self.spec,
        );
        let limit = Duration::from_secs(self.s.lock_timeout_secs);
        let (f, blocked) = if watch {
            let run = run_blocking(cmd, &self.progress, what, &self.loc.path);
            let dog = lock_watchdog(&mut self.admin, db, limit);
            tokio::pin!(run);
            tokio::select! {
                f = &mut run => (f?, None),
                b = dog => {
                    // the watchdog cancelled the restore's statement: wait for it to end
                    (run.await?, Some(b))
                }
            }
        } else {
            (
                run_blocking(cmd, &self.progress, what, &self.loc.path).await?,
                None,
            )
        };
        let issues = pgr::classify_errors(&f.stderr);
        r.errors = issues.clone();
        let tool = if self.format == PgFormat::Plain {
            "psql"
        } else {
            "pg_restore"
        };
        let mut failure = restore_failure(tool, &f, &issues, self.t.password());
        if let Some(b) = blocked {
            failure = Some(format!(
                "a lock was not granted within --lock-timeout {}s ({b}); the restore was cancelled",
                limit.as_secs()
            ));
        }
        Ok((f, failure))
    }

    /// Drops the unverified or unneeded copy (journaled).
    async fn drop_copy(&mut self, op: &mut Operation) -> Result<(), BackupError> {
        op.step("drop-copy", json!({"database": self.new_db}))?;
        eng().drop_database(&mut self.admin, &self.new_db).await?;
        op.done("drop-copy", json!({}))
    }

    async fn swap(&mut self, op: &mut Operation, r: &mut RestoreReport) -> Result<(), BackupError> {
        let m = &self.loc.manifest;
        let db = self.db.clone();
        let new_db = self.new_db.clone();
        let keep_db = self.keep_db.clone();
        let began = Instant::now();
        let ds = &m.database_settings;
        op.step("create-copy", json!({"database": new_db}))?;
        if let Err(e) = pgr::create_database(
            &mut self.admin,
            &new_db,
            ds.encoding.as_deref(),
            ds.collate.as_deref(),
            ds.ctype.as_deref(),
            None,
        )
        .await
        {
            op.failed("create-copy", &e.to_string());
            r.step("create-database", began, false, e.to_string());
            r.fail(
                true,
                format!("could not create {new_db}: {e}; the live database was not touched"),
            );
            return Ok(());
        }
        op.done("create-copy", json!({}))?;
        r.step(
            "create-database",
            began,
            true,
            format!("{new_db} (TEMPLATE template0)"),
        );
        let began = Instant::now();
        op.step("load-copy", json!({"database": new_db}))?;
        let what = format!("restoring into {new_db}");
        let (_, failure) = self.load(&new_db, &what, false, r).await?;
        if let Some(why) = failure {
            op.failed("load-copy", &why);
            r.step("restore", began, false, why.clone());
            self.drop_copy(op).await?;
            r.fail(
                true,
                format!("{why}; {new_db} was dropped and the live database was not touched"),
            );
            return Ok(());
        }
        op.done("load-copy", json!({}))?;
        let harmless = r.errors.len();
        r.step(
            "restore",
            began,
            true,
            if harmless == 0 {
                format!("restored into {new_db}")
            } else {
                format!("restored into {new_db} with {harmless} harmless error(s)")
            },
        );
        let began = Instant::now();
        let mut conn = Conn::open(&self.t.sqlx_url(&new_db)).await?;
        let diffs = verify_restored(&mut conn, m, None).await;
        conn.close().await;
        let diffs = diffs.unwrap_or_else(|e| vec![e]);
        r.step(
            "verify",
            began,
            diffs.is_empty(),
            summary_ok(&diffs, m.tables.len()),
        );
        if !diffs.is_empty() {
            r.mismatches = diffs;
            self.drop_copy(op).await?;
            r.fail(true, format!("the restored copy does not match the manifest; {new_db} was dropped and the live database was not touched"));
            return Ok(());
        }
        op.step("verify-copy", json!({"database": new_db}))?;
        op.done("verify-copy", json!({"tables": m.tables.len()}))?;
        let began = Instant::now();
        let Some(prior) = self.live.clone() else {
            op.step("rename", json!({"from": new_db, "to": db}))?;
            eng().rename_database(&mut self.admin, &new_db, &db).await?;
            op.done("rename", json!({}))?;
            r.step(
                "rename",
                began,
                true,
                format!("{new_db} renamed to {db} (there was no database {db})"),
            );
            r.status = Status::Restored;
            r.live_untouched = false;
            r.message = format!("restored {db} from {}", m.file);
            return Ok(());
        };
        let out = child::output(pgr::database_properties_command(
            &self.tools,
            &self.t.libpq_url(&db),
            &self.spec.env,
        ))
        .map_err(|e| BackupError::Failed(format!("reading the live database's settings: {e}")))?;
        let markers = eng().markers(&mut self.admin).await.unwrap_or_default();
        let in_mode = markers.iter().any(|(d, mk)| {
            *d == db && (mk.kind.starts_with("read-only") || mk.kind.starts_with("maintenance"))
        });
        // a migsafe mode's marker holds the values from before the mode: carry those
        let mode_changes: Vec<crate::engines::modes::Change> = markers
            .iter()
            .filter(|(d, mk)| *d == db && crate::engines::modes::Mode::parse(&mk.kind).is_some())
            .filter_map(|(_, mk)| mk.facts.as_ref()?.get("changes").cloned())
            .flat_map(|c| serde_json::from_value::<Vec<_>>(c).unwrap_or_default())
            .collect();
        let (keep, skipped) = if mode_changes.is_empty() {
            pgr::database_properties(&out, in_mode)
        } else {
            crate::engines::postgres::read_only::properties_without_mode(&out, &db, &mode_changes)
        };
        r.carried_over = keep.clone();
        r.not_carried_over = skipped;
        // from here on the live database refuses connections until the swap has committed or
        // been undone: signals wait for it
        let guard = crate::sys::signals::Critical::enter();
        let swapped = self.stop_writes_and_swap(op, &prior, &keep, r).await;
        let note = if guard.finish().is_some() {
            "; an interrupt arrived meanwhile and waited for the swap to finish"
        } else {
            ""
        };
        match swapped {
            Ok(o) => {
                r.step("swap", began, true, format!("{db} is the restored database; the previous one is {keep_db} ({} session(s) left during the drain, {} terminated){note}", o.left, o.terminated));
                r.kept_as = Some(keep_db.clone());
            }
            Err(e) => {
                r.step("swap", began, false, format!("{e}{note}"));
                self.reopen(op, &prior).await?;
                self.drop_copy(op).await?;
                r.fail(true, format!("the swap failed ({e}); nothing was renamed, {db} accepts connections again and the restored copy {new_db} was dropped"));
                return Ok(());
            }
        }
        r.status = Status::Restored;
        r.live_untouched = false;
        r.message = format!(
            "restored {db} from {}; the previous database is kept as {keep_db}",
            m.file
        );
        Ok(())
    }

    /// Refuses new connections to the live database, drains it (a counting connection of our
    /// own stays), counts the changes the restore discards now that nothing can write, and
    /// swaps the names in one transaction.
    async fn stop_writes_and_swap(
        &mut self,
        op: &mut Operation,
        prior: &DatabaseState,
        properties: &[String],
        r: &mut RestoreReport,
    ) -> Result<crate::engines::admin::DrainOutcome, BackupError> {
        let db = self.db.clone();
        let mut counter = Conn::open(&self.t.sqlx_url(&db)).await?;
        let counter_id = eng().session_id(&mut counter).await?;
        op.step("deny-connections", json!({"database": db, "prior": prior}))?;
        eng()
            .set_allow_connections(&mut self.admin, &db, false)
            .await?;
        op.done("deny-connections", json!({}))?;
        op.step("drain", json!({"database": db}))?;
        let drained = eng()
            .drain(&mut self.admin, &db, self.s.drain, &[counter_id])
            .await?;
        op.done("drain", json!(drained))?;
        // nothing else can write any more: this count is final
        let c = count_changes(&mut counter, &self.loc.manifest).await;
        counter.close().await;
        let mut c = c?;
        let note = "counted after the live database stopped accepting connections and its sessions were drained: these are the changes the restore discards";
        c.note = Some(match c.note.take() {
            Some(n) => format!("{note}; {n}"),
            None => note.to_string(),
        });
        if let Some(before) = &r.changes
            && before.rows > c.rows
        {
            // never report fewer than the preflight saw
            c.rows = before.rows;
        }
        r.changes = Some(c);
        op.step(
            "swap",
            json!({"database": db, "copy": self.new_db, "keep": self.keep_db, "prior": prior, "properties": properties}),
        )?;
        pgr::swap_names(
            &mut self.admin,
            &db,
            &self.new_db,
            &self.keep_db,
            properties,
            prior.allow_connections.unwrap_or(true),
        )
        .await
        .map_err(|e| BackupError::db("swapping the databases", e))?;
        op.done("swap", json!({}))?;
        Ok(drained)
    }

    /// Puts the live database's connection settings back as they were (journaled).
    async fn reopen(
        &mut self,
        op: &mut Operation,
        prior: &DatabaseState,
    ) -> Result<(), BackupError> {
        op.step("reopen", json!({"database": self.db, "prior": prior}))?;
        eng()
            .set_allow_connections(
                &mut self.admin,
                &self.db,
                prior.allow_connections.unwrap_or(true),
            )
            .await?;
        op.done("reopen", json!({}))
    }

    async fn in_place(
        &mut self,
        op: &mut Operation,
        r: &mut RestoreReport,
    ) -> Result<(), BackupError> {
        let m = &self.loc.manifest;
        let db = self.db.clone();
        let Some(prior) = self.live.clone() else {
            r.fail(true, format!("{db} does not exist"));
            return Ok(());
        };
        if self.s.safety_backup {
            let began = Instant::now();
            op.step(
                "safety-backup",
                json!({"dir": super::postgres::absolute(&self.s.dir)}),
            )?;
            match safety_backup(self.s, PgFormat::Custom, &self.progress).await {
                Ok(p) => {
                    op.done("safety-backup", json!({"path": absolute(&p)}))?;
                    r.step(
                        "safety-backup",
                        began,
                        true,
                        format!(
                            "{} (restore it with `migsafe restore {}` to undo)",
                            p.display(),
                            p.display()
                        ),
                    );
                    r.safety_backup = Some(p);
                }
                Err(e) => {
                    op.failed("safety-backup", &e.to_string());
                    r.step("safety-backup", began, false, e.to_string());
                    r.fail(true, super::safety_backup_failed(&e, r.changes.as_ref()));
                    return Ok(());
                }
            }
        }
        // stop writes: new sessions start read-only, the open ones are drained; the restore's
        // own session overrides the default (PGOPTIONS)
        let began = Instant::now();
        op.step("read-only", json!({"database": db, "prior": prior}))?;
        // ALTER DATABASE needs the owner (or a superuser): a role that may restore the tables but
        // not change the database restores anyway, and says what that means for the count
        let read_only = match eng().set_read_only(&mut self.admin, &db, true).await {
            Ok(()) => {
                op.done("read-only", json!({}))?;
                true
            }
            Err(e) => {
                op.failed("read-only", &e.to_string());
                r.warnings.push(format!("new sessions could not be made read-only ({e}): they can still write while the restore runs, and the changes counted below miss those writes"));
                false
            }
        };
        op.step("drain", json!({"database": db}))?;
        let drained = match eng().drain(&mut self.admin, &db, self.s.drain, &[]).await {
            Ok(d) => {
                op.done("drain", json!(d))?;
                d
            }
            Err(e) => {
                // terminating other roles' sessions needs a superuser or pg_signal_backend
                op.failed("drain", &e.to_string());
                r.warnings.push(format!("the open sessions could not be ended ({e}): the restore waits for their locks, up to --lock-timeout"));
                Default::default()
            }
        };
        let mut conn = Conn::open(&self.t.sqlx_url(&db)).await?;
        let c = count_changes(&mut conn, m).await;
        conn.close().await;
        let mut c = c?;
        c.note = Some("counted after new sessions were made read-only and the open ones drained: these are the changes the restore discards".into());
        if let Some(before) = &r.changes
            && before.rows > c.rows
        {
            c.rows = before.rows;
        }
        r.changes = Some(c);
        r.step(
            "stop-writes",
            began,
            read_only,
            format!(
                "{}; {} session(s) left, {} terminated",
                if read_only {
                    format!("{db} read-only for new sessions")
                } else {
                    format!("{db} could not be made read-only")
                },
                drained.left,
                drained.terminated
            ),
        );
        let began = Instant::now();
        op.step("load", json!({"database": db}))?;
        let what = format!("restoring {db} in place");
        let loaded = self.load(&db, &what, true, r).await;
        let restored_prior = if read_only {
            self.put_back(op, &prior).await
        } else {
            Ok(())
        };
        let (f, failure) = loaded?;
        restored_prior?;
        if let Some(why) = failure {
            op.failed("load", &why);
            r.step("restore", began, false, why.clone());
            r.fail(
                true,
                format!(
                    "{why}; the restore ran in one transaction and was rolled back: {db} is as it was"
                ),
            );
            return Ok(());
        }
        if !f.status.success() {
            let errors = r.errors.len();
            op.failed("load", &format!("{errors} error(s)"));
            r.step(
                "restore",
                began,
                false,
                format!("{errors} error(s), all rolled back"),
            );
            r.fail(
                true,
                format!(
                    "the restore reported errors and its transaction was rolled back: {db} is as it was"
                ),
            );
            return Ok(());
        }
        op.done("load", json!({}))?;
        r.step(
            "restore",
            began,
            true,
            format!("{db} restored in one transaction (--clean --if-exists)"),
        );
        let began = Instant::now();
        let mut conn = Conn::open(&self.t.sqlx_url(&db)).await?;
        let diffs = verify_restored(&mut conn, m, None)
            .await
            .unwrap_or_else(|e| vec![e]);
        conn.close().await;
        r.step(
            "verify",
            began,
            diffs.is_empty(),
            summary_ok(&diffs, m.tables.len()),
        );
        r.live_untouched = false;
        if !diffs.is_empty() {
            r.mismatches = diffs;
            let undo = r
                .safety_backup
                .as_ref()
                .map(|p| format!("; the state before the restore is in {}", p.display()))
                .unwrap_or_default();
            r.fail(
                false,
                format!("{db} was restored but does not match the manifest{undo}"),
            );
            return Ok(());
        }
        r.status = Status::Restored;
        r.message = format!("restored {db} in place from {}", m.file);
        Ok(())
    }

    /// The live database's read-only default as it was before the restore (journaled).
    async fn put_back(
        &mut self,
        op: &mut Operation,
        prior: &DatabaseState,
    ) -> Result<(), BackupError> {
        op.step("read-write", json!({"database": self.db, "prior": prior}))?;
        let was = prior
            .setting("default_transaction_read_only")
            .map(str::to_string);
        eng()
            .set_database_setting(
                &mut self.admin,
                &self.db,
                "default_transaction_read_only",
                was.as_deref(),
            )
            .await?;
        op.done("read-write", json!({}))
    }
}

/// Watches the sessions of `db` named `migsafe restore` and cancels one that waits for a lock
/// longer than `limit`; returns who held the lock. Never returns while nothing waits too long.
async fn lock_watchdog(admin: &mut Conn, db: &str, limit: Duration) -> String {
    let sql = format!(
        "SELECT pid::text, (now() - state_change > interval '{} milliseconds' AND wait_event_type = 'Lock')::text, \
                array_to_string(pg_blocking_pids(pid), ',') \
         FROM pg_stat_activity WHERE datname = {} AND application_name = 'migsafe restore'",
        limit.as_millis(),
        crate::engines::postgres::admin::lit(db)
    );
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Ok((_, rows)) = admin.query_text(&sql).await else {
            continue;
        };
        for row in rows {
            let pid = row.first().cloned().flatten().unwrap_or_default();
            if row.get(1).cloned().flatten().as_deref() != Some("true") {
                continue;
            }
            let blockers = row.get(2).cloned().flatten().unwrap_or_default();
            let who = if blockers.is_empty() {
                "another session".to_string()
            } else {
                let (_, b) = admin
                    .query_text(&format!(
                        "SELECT string_agg(pid || ' (' || COALESCE(usename::text, '?') || ', ' || COALESCE(application_name, '') || ', ' || COALESCE(state, '') || ')', '; ') FROM pg_stat_activity WHERE pid IN ({blockers})"
                    ))
                    .await
                    .unwrap_or_default();
                b.first()
                    .and_then(|r| r.first().cloned().flatten())
                    .map(|s| format!("held by session {s}"))
                    .unwrap_or_else(|| format!("held by session {blockers}"))
            };
            let _ = admin
                .execute(&format!("SELECT pg_cancel_backend({pid})"))
                .await;
            return who;
        }
    }
}
