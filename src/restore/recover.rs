//! Ending an unfinished restore from its journal alone (`migsafe recover`, and the interrupt
//! handler): each strategy's steps, as journaled by `super::postgres` and `super::mysql`, and
//! what undoing or finishing them takes.
//!
//! - `restore-swap` (PostgreSQL): if the swap transaction committed, the restore is finished
//!   (only the marker is left to clear); otherwise abort reopens the live database as it was
//!   and drops the copy, and resume (when the copy was verified) stops writes and swaps.
//! - `restore-in-place` (PostgreSQL): the load runs in one transaction, so the database holds
//!   either the old data or the backup's; recover finds out which (row counts and fingerprint
//!   against the manifest), puts the read-only default back, and with abort reloads the safety
//!   backup if the load had committed, with resume loads the backup if it had not.
//! - `mysql-in-place`: a crash during the load leaves the database half loaded; resume reloads
//!   the backup, abort reloads the safety backup; the rehearsal's scratch database is dropped.

use super::verify_restored;
use crate::backup::manifest::Manifest;
use crate::backup::{BackupError, Located, Quiet};
use crate::engines::EngineKind;
use crate::engines::admin::{Admin, DatabaseState};
use crate::engines::conn::Conn;
use crate::engines::postgres::backup::{self as pgbk, PgFormat};
use crate::engines::postgres::restore as pgr;
use crate::engines::target::Target;
use crate::journal::recover::{Action, RecoverCtx, RecoverError, RecoverKind};
use crate::journal::{self, Journal, JournalState};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const PG_SWAP: &str = "restore-swap";
pub const PG_IN_PLACE: &str = "restore-in-place";
pub const MYSQL_IN_PLACE: &str = "mysql-in-place";

fn failed(what: &str, e: impl std::fmt::Display) -> RecoverError {
    RecoverError::Failed(format!("{what}: {e}"))
}

fn fact(state: &JournalState, key: &str) -> Result<String, RecoverError> {
    state
        .fact(key)
        .map(str::to_string)
        .ok_or_else(|| RecoverError::Failed(format!("the journal has no `{key}`")))
}

/// The live database's state before the restore, as journaled.
fn prior(state: &JournalState) -> Option<DatabaseState> {
    state
        .facts
        .get("prior")
        .and_then(|p| serde_json::from_value(p.clone()).ok())
}

fn journal_err(e: impl std::fmt::Display) -> RecoverError {
    RecoverError::Failed(format!("cannot write the journal: {e}"))
}

/// Journals a recovery step, runs it, journals that it finished.
async fn step<F, T>(
    j: &mut Journal,
    name: &str,
    state: serde_json::Value,
    f: F,
) -> Result<T, RecoverError>
where
    F: std::future::Future<Output = Result<T, RecoverError>>,
{
    j.step(name, state).map_err(journal_err)?;
    let out = f.await;
    match &out {
        Ok(_) => j.done(name, json!({})).map_err(journal_err)?,
        Err(e) => {
            let _ = j.failed(name, &e.to_string());
        }
    }
    out
}

fn pg() -> &'static dyn Admin {
    EngineKind::Postgres.engine().admin()
}

/// Clears this operation's marker from every database that may carry it.
async fn unmark(admin: &dyn Admin, conn: &mut Conn, state: &JournalState, names: &[String]) {
    for n in names {
        let _ = admin.clear_marker(conn, n, &state.op).await;
    }
}

/// The backup the journal names, with its manifest (checked against the file).
fn backup_of(state: &JournalState) -> Result<Located, RecoverError> {
    let path = PathBuf::from(fact(state, "backup")?);
    crate::backup::locate(
        path.parent().unwrap_or(Path::new(".")),
        &crate::backup::BackupRef::Path(path.clone()),
    )
    .map_err(|e| failed("the backup named by the journal", e))
}

async fn matches_manifest(
    target: &Target,
    db: &str,
    m: &Manifest,
) -> Result<Vec<String>, RecoverError> {
    let url = match target {
        Target::Postgres(t) => t.sqlx_url(db),
        Target::Mysql(t) => t.sqlx_url(db),
        Target::Sqlite(t) => t.sqlx_url(),
    };
    let mut conn = Conn::open(&url).await?;
    let rename = (target.kind() == EngineKind::Mysql).then_some((db, m.database.as_str()));
    let diffs = verify_restored(&mut conn, m, rename).await;
    conn.close().await;
    Ok(diffs.unwrap_or_else(|e| vec![e]))
}

/// The safety backup the journal recorded (path and manifest), if the step finished.
fn safety_backup_of(state: &JournalState) -> Result<Option<Located>, RecoverError> {
    let Some(path) = state
        .step("safety-backup")
        .and_then(|s| s.result.as_ref())
        .and_then(|r| r.get("path"))
        .and_then(|p| p.as_str())
        .map(PathBuf::from)
    else {
        return Ok(None);
    };
    crate::backup::locate(
        path.parent().unwrap_or(Path::new(".")),
        &crate::backup::BackupRef::Path(path.clone()),
    )
    .map(Some)
    .map_err(|e| failed("the safety backup", e))
}

/// `restore-swap`.
pub struct PgSwap;

#[async_trait::async_trait(?Send)]
impl RecoverKind for PgSwap {
    fn kind(&self) -> &'static str {
        PG_SWAP
    }

    fn default_action(&self, _state: &JournalState) -> Action {
        // a committed swap is finished either way; before it, undoing loses nothing
        Action::Abort
    }

    async fn recover(
        &self,
        ctx: &mut RecoverCtx<'_>,
        state: &JournalState,
        action: Action,
    ) -> Result<Vec<String>, RecoverError> {
        let out: Result<Vec<String>, RecoverError> = async {
            let db = fact(state, "database")?;
            let copy = fact(state, "copy")?;
            let keep = fact(state, "keep")?;
            let prior = prior(state);
            let mut conn = pg().connect_admin(ctx.target).await?;
            let dbs = pg().databases(&mut conn).await?;
            let mut done = Vec::new();
            let swapped = dbs.contains(&keep) && !dbs.contains(&copy) && dbs.contains(&db);
            if swapped || (state.finished("rename") && !dbs.contains(&copy)) {
                // the swap committed: the restore is complete, whatever was asked
                if let Some(p) = &prior {
                    let allow = p.allow_connections.unwrap_or(true);
                    step(
                        ctx.journal,
                        "reopen-previous",
                        json!({"database": keep}),
                        async {
                            pg().set_allow_connections(&mut conn, &keep, allow)
                                .await
                                .map_err(Into::into)
                        },
                    )
                    .await?;
                }
                unmark(pg(), &mut conn, state, &[db.clone(), keep.clone()]).await;
                done.push(format!(
                    "the swap had committed: {db} is the restored database, the previous one is {keep}; nothing was left to undo"
                ));
                conn.close().await;
                return Ok(done);
            }
            let verified = state.finished("verify-copy") && dbs.contains(&copy);
            if action == Action::Resume && verified {
                let Some(p) = prior.clone() else {
                    return Err(RecoverError::Failed(
                        "the journal lacks the live database's prior state".into(),
                    ));
                };
                step(
                    ctx.journal,
                    "deny-connections",
                    json!({"database": db, "prior": p}),
                    async {
                        pg().set_allow_connections(&mut conn, &db, false)
                            .await
                            .map_err(Into::into)
                    },
                )
                .await?;
                let properties: Vec<String> = state
                    .step("swap")
                    .and_then(|s| s.state.get("properties"))
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
                    .unwrap_or_default();
                let allow = p.allow_connections.unwrap_or(true);
                step(
                    ctx.journal,
                    "swap",
                    json!({"database": db, "copy": copy, "keep": keep, "prior": p, "properties": properties}),
                    async {
                        pgr::swap_names(&mut conn, &db, &copy, &keep, &properties, allow)
                            .await
                            .map_err(|e| failed("swapping the databases", e))
                    },
                )
                .await?;
                unmark(pg(), &mut conn, state, &[db.clone(), keep.clone()]).await;
                done.push(format!(
                    "swapped the verified copy in: {db} is the restored database, the previous one is {keep}"
                ));
                conn.close().await;
                return Ok(done);
            }
            if action == Action::Resume {
                done.push(format!(
                    "the copy {copy} was never verified, so the restore cannot be resumed: undoing it instead (run the restore again)"
                ));
            }
            if dbs.contains(&db)
                && let Some(p) = &prior
            {
                let allow = p.allow_connections.unwrap_or(true);
                let now = pg().database_state(&mut conn, &db).await?;
                if now.allow_connections != Some(allow) {
                    step(
                        ctx.journal,
                        "reopen",
                        json!({"database": db, "prior": p}),
                        async {
                            pg().set_allow_connections(&mut conn, &db, allow)
                                .await
                                .map_err(Into::into)
                        },
                    )
                    .await?;
                    done.push(format!("{db} accepts connections again"));
                }
            }
            if dbs.contains(&copy) {
                step(ctx.journal, "drop-copy", json!({"database": copy}), async {
                    pg().drop_database(&mut conn, &copy)
                        .await
                        .map_err(Into::into)
                })
                .await?;
                done.push(format!("dropped the partial copy {copy}"));
            }
            unmark(pg(), &mut conn, state, std::slice::from_ref(&db)).await;
            done.push(format!("{db} is as it was before the restore"));
            conn.close().await;
            Ok(done)
        }
        .await;
        // the maintenance block a restore lifted comes back whatever happened to the restore
        let reblocked = reblock_lifted(ctx, state).await;
        let mut done = out?;
        done.extend(reblocked?);
        Ok(done)
    }
}

/// A restore inside `maintenance on --block database` lifted the block for itself
/// (`lift-block`): when it did not put it back (`reblock`), put it back now on the live database
/// and the kept one, as `restore` does at its end.
async fn reblock_lifted(
    ctx: &mut RecoverCtx<'_>,
    state: &JournalState,
) -> Result<Option<String>, RecoverError> {
    let Some(lift) = state.step("lift-block") else {
        return Ok(None);
    };
    if state.finished("reblock") {
        return Ok(None);
    }
    let limit = lift
        .state
        .get("connection_limit")
        .and_then(|v| v.as_i64())
        .unwrap_or(-1);
    let db = fact(state, "database")?;
    let keep = fact(state, "keep").unwrap_or_default();
    let mut conn = pg().connect_admin(ctx.target).await?;
    let r = step(
        ctx.journal,
        "reblock",
        json!({"database": db, "keep": keep, "connection_limit": limit}),
        async {
            super::postgres::reblock(&mut conn, &db, &keep, limit)
                .await
                .map_err(|e| failed("putting the maintenance block back", e))
        },
    )
    .await;
    conn.close().await;
    r?;
    Ok(Some(format!(
        "{db} refuses connections again, as the maintenance mode it is in requires (`migsafe maintenance off` ends it)"
    )))
}

/// Puts the live database's read-only default back as journaled (PostgreSQL in place).
async fn put_back_read_only(
    ctx: &mut RecoverCtx<'_>,
    conn: &mut Conn,
    state: &JournalState,
    db: &str,
    done: &mut Vec<String>,
) -> Result<(), RecoverError> {
    // a read-only step that failed changed nothing; one cut short may have
    let changed = state.step("read-only").is_some_and(|s| s.error.is_none());
    if changed && !state.finished("read-write") {
        let was = prior(state).and_then(|p| {
            p.setting("default_transaction_read_only")
                .map(str::to_string)
        });
        step(ctx.journal, "read-write", json!({"database": db}), async {
            pg().set_database_setting(conn, db, "default_transaction_read_only", was.as_deref())
                .await
                .map_err(Into::into)
        })
        .await?;
        done.push(format!("{db}'s read-only default is as it was"));
    }
    Ok(())
}

/// Loads `archive` (with its manifest) into `db` in one transaction, over what is there.
async fn pg_reload(
    target: &Target,
    pg_bin_dir: Option<&Path>,
    loc: &Located,
    db: &str,
) -> Result<(), RecoverError> {
    let Target::Postgres(t) = target else {
        return Err(RecoverError::Usage("not a PostgreSQL target".into()));
    };
    let m = &loc.manifest;
    let format = PgFormat::parse(&m.format)
        .ok_or_else(|| RecoverError::Failed(format!("unknown format {}", m.format)))?;
    let tools = pgbk::find_tools(
        pg_bin_dir,
        crate::backup::dump_major(m),
        "pg_restore must be at least the version of the pg_dump that wrote the archive",
    )?;
    let spec = pgr::RestoreSpec {
        clean: true,
        single_transaction: true,
        jobs: 1,
        env: t.child_env("migsafe recover"),
        ..Default::default()
    };
    let cmd = pgr::restore_command(&tools, format, &loc.path, &t.libpq_url(db), &spec);
    let f = tokio::task::spawn_blocking(move || crate::sys::child::run(cmd))
        .await
        .map_err(|e| failed("the restore task", e))?
        .map_err(|e| failed("pg_restore", e))?;
    if !f.status.success() {
        return Err(RecoverError::Failed(format!(
            "loading {} failed: {}",
            loc.path.display(),
            crate::sys::child::tail(&f.stderr, 3)
        )));
    }
    Ok(())
}

/// `restore-in-place` on PostgreSQL.
pub struct PgInPlace;

#[async_trait::async_trait(?Send)]
impl RecoverKind for PgInPlace {
    fn kind(&self) -> &'static str {
        PG_IN_PLACE
    }

    fn default_action(&self, state: &JournalState) -> Action {
        // the load is one transaction: finishing means verifying what committed
        if state.finished("load") {
            Action::Resume
        } else {
            Action::Abort
        }
    }

    async fn recover(
        &self,
        ctx: &mut RecoverCtx<'_>,
        state: &JournalState,
        action: Action,
    ) -> Result<Vec<String>, RecoverError> {
        let out: Result<Vec<String>, RecoverError> = async {
            let db = fact(state, "database")?;
            let loc = backup_of(state)?;
            let mut conn = pg().connect_admin(ctx.target).await?;
            let mut done = Vec::new();
            put_back_read_only(ctx, &mut conn, state, &db, &mut done).await?;
            let loaded = state.started("load")
                && matches_manifest(ctx.target, &db, &loc.manifest)
                    .await?
                    .is_empty();
            match (action, loaded) {
                (Action::Resume, true) => done.push(format!(
                    "the load had committed: {db} holds the backup's data (verified)"
                )),
                (Action::Resume, false) => {
                    step(
                        ctx.journal,
                        "load",
                        json!({"database": db}),
                        pg_reload(ctx.target, ctx.pg_bin_dir.as_deref(), &loc, &db),
                    )
                    .await?;
                    let diffs = matches_manifest(ctx.target, &db, &loc.manifest).await?;
                    if !diffs.is_empty() {
                        return Err(RecoverError::Failed(format!(
                            "{db} was loaded but does not match the manifest: {}",
                            diffs.join("; ")
                        )));
                    }
                    done.push(format!("loaded the backup into {db} (verified)"));
                }
                (Action::Abort, false) => done.push(format!(
                    "the load had not committed: {db} holds its data from before the restore"
                )),
                (Action::Abort, true) => {
                    let Some(sloc) = safety_backup_of(state)? else {
                        // the load committed (or the data never differed from the backup): a
                        // consistent end, but not the one asked for
                        done.push(format!("{db} already holds the backup's data (verified) and there is no safety backup to go back to: it stays restored"));
                        unmark(pg(), &mut conn, state, std::slice::from_ref(&db)).await;
                        conn.close().await;
                        return Ok(done);
                    };
                    let safety = sloc.path.clone();
                    step(
                        ctx.journal,
                        "load-safety-backup",
                        json!({"database": db, "path": safety}),
                        pg_reload(ctx.target, ctx.pg_bin_dir.as_deref(), &sloc, &db),
                    )
                    .await?;
                    done.push(format!(
                        "reloaded the safety backup {} into {db}",
                        safety.display()
                    ));
                }
            }
            unmark(pg(), &mut conn, state, std::slice::from_ref(&db)).await;
            conn.close().await;
            sweep_staging(state, &mut done);
            Ok(done)
        }
        .await;
        // the maintenance block a restore lifted comes back whatever happened to the restore
        let reblocked = reblock_lifted(ctx, state).await;
        let mut done = out?;
        done.extend(reblocked?);
        Ok(done)
    }
}

/// Staging folders a killed safety backup left in the backup folder.
fn sweep_staging(state: &JournalState, done: &mut Vec<String>) {
    if let Some(dir) = state.fact("backup_dir") {
        let n = crate::backup::store::sweep_dead_staging(Path::new(dir));
        if n > 0 {
            done.push(format!(
                "removed {n} staging folder(s) of the interrupted run"
            ));
        }
    }
}

/// `mysql-in-place`.
pub struct MysqlInPlace;

async fn my_reload(target: &Target, loc: &Located, db: &str) -> Result<(), RecoverError> {
    let Target::Mysql(t) = target else {
        return Err(RecoverError::Usage("not a MySQL/MariaDB target".into()));
    };
    let tools = crate::engines::mysql::backup::find_tools()?;
    let progress: Arc<dyn crate::backup::Progress> = Arc::new(Quiet);
    let f = super::mysql::mysql_load(&tools, t, db, &loc.path, &progress, "reloading")
        .await
        .map_err(|e: BackupError| failed("loading", e))?;
    if !f.status.success() {
        return Err(RecoverError::Failed(format!(
            "loading {} into {db} failed: {}",
            loc.path.display(),
            crate::sys::child::tail(&f.stderr, 3)
        )));
    }
    Ok(())
}

#[async_trait::async_trait(?Send)]
impl RecoverKind for MysqlInPlace {
    fn kind(&self) -> &'static str {
        MYSQL_IN_PLACE
    }

    fn default_action(&self, state: &JournalState) -> Action {
        // half loaded: the backup the user asked for is the consistent end that was verified
        // by the rehearsal
        if state.started("load") {
            Action::Resume
        } else {
            Action::Abort
        }
    }

    async fn recover(
        &self,
        ctx: &mut RecoverCtx<'_>,
        state: &JournalState,
        action: Action,
    ) -> Result<Vec<String>, RecoverError> {
        let db = fact(state, "database")?;
        let scratch = fact(state, "scratch")?;
        let admin = EngineKind::Mysql.engine().admin();
        let mut conn = admin.connect_admin(ctx.target).await?;
        let mut done = Vec::new();
        if admin.databases(&mut conn).await?.contains(&scratch) {
            step(
                ctx.journal,
                "drop-scratch",
                json!({"database": scratch}),
                async {
                    admin
                        .drop_database(&mut conn, &scratch)
                        .await
                        .map_err(Into::into)
                },
            )
            .await?;
            done.push(format!("dropped the rehearsal database {scratch}"));
        }
        let loaded = state.started("load");
        match (action, loaded) {
            (Action::Abort, false) => done.push(format!(
                "the load never started: {db} holds its data from before the restore"
            )),
            (Action::Resume, _) => {
                let loc = backup_of(state)?;
                step(
                    ctx.journal,
                    "load",
                    json!({"database": db}),
                    my_reload(ctx.target, &loc, &db),
                )
                .await?;
                let diffs = matches_manifest(ctx.target, &db, &loc.manifest).await?;
                if !diffs.is_empty() {
                    return Err(RecoverError::Failed(format!(
                        "{db} was reloaded but does not match the manifest: {}",
                        diffs.join("; ")
                    )));
                }
                done.push(format!(
                    "reloaded the backup into {db} (verified against its manifest)"
                ));
            }
            (Action::Abort, true) => {
                let sloc = safety_backup_of(state)?.ok_or_else(|| RecoverError::Failed(format!("{db} is partly loaded and there is no safety backup to go back to: use --resume to load the backup")))?;
                let safety = sloc.path.clone();
                step(
                    ctx.journal,
                    "load-safety-backup",
                    json!({"database": db, "path": safety}),
                    my_reload(ctx.target, &sloc, &db),
                )
                .await?;
                let diffs = matches_manifest(ctx.target, &db, &sloc.manifest).await?;
                if !diffs.is_empty() {
                    return Err(RecoverError::Failed(format!(
                        "{db} was reloaded from the safety backup but does not match its manifest: {}",
                        diffs.join("; ")
                    )));
                }
                done.push(format!(
                    "reloaded the safety backup {} into {db} (verified)",
                    safety.display()
                ));
            }
        }
        unmark(admin, &mut conn, state, std::slice::from_ref(&db)).await;
        conn.close().await;
        sweep_staging(state, &mut done);
        Ok(done)
    }
}

fn kinds() -> [&'static dyn RecoverKind; 3] {
    [&PgSwap, &PgInPlace, &MysqlInPlace]
}

/// Ends the restore journaled at `path` after SIGINT/SIGTERM/SIGHUP (called on the signal thread,
/// children already stopped): undoes what can be undone quickly; a half-loaded MySQL database is
/// left for `migsafe recover`, which reloads it. Returns what it did, for the message.
pub fn interrupted(url: &str, path: &Path) -> String {
    let Ok(state) = journal::load(path) else {
        return format!("the restore's journal {} could not be read", path.display());
    };
    let resume_hint = format!(
        "run `migsafe recover --operation {}` to finish or undo it",
        state.op
    );
    if state.kind == MYSQL_IN_PLACE && state.started("load") {
        return format!(
            "the restore was interrupted during the load: {} is partly loaded; {resume_hint}",
            state.target.database
        );
    }
    let Some(kind) = kinds().into_iter().find(|k| k.kind() == state.kind) else {
        return resume_hint;
    };
    let Ok(target) = Target::parse(url) else {
        return resume_hint;
    };
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return resume_hint;
    };
    rt.block_on(async {
        let Ok(mut j) = Journal::reopen(&state) else {
            return resume_hint.clone();
        };
        let _ = j.note("interrupted: undoing the restore");
        let mut ctx = RecoverCtx {
            target: &target,
            journal: &mut j,
            pg_bin_dir: None,
            pgbouncer_admin_url: None,
        };
        match kind.recover(&mut ctx, &state, Action::Abort).await {
            Ok(done) => {
                let msg = done.join("; ");
                let _ = j.end("aborted", &format!("interrupted: {msg}"));
                format!("the restore was interrupted and undone: {msg}")
            }
            Err(e) => {
                format!("the restore was interrupted and could not be undone ({e}); {resume_hint}")
            }
        }
    })
}
