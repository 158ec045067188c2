//! MySQL/MariaDB restores (in place: there is no RENAME DATABASE): a rehearsal load into a
//! scratch database on the target server, verified and dropped; a safety backup; the sessions
//! of the database ended right before the final count of what the restore discards; the load;
//! verification. Each step is journaled first: a crash in the middle of the load (the database
//! half loaded) is ended by `migsafe recover`, which reloads the backup or the safety backup.

use super::postgres::absolute;
use super::{
    Confirm, Operation, RestoreReport, RestoreSettings, Status, Strategy, changes, disk_check,
    free_ts, gate, safety_backup, summary_ok, verify_restored,
};
use crate::backup::{BackupError, Located, Progress};
use crate::engines::EngineKind;
use crate::engines::conn::Conn;
use crate::engines::mysql::{backup as mybk, restore as myr};
use crate::engines::postgres::backup::PgFormat;
use crate::engines::target::{MyTarget, Target};
use crate::sys::child;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Objects whose `DEFINER` is another account can only be created by an account allowed to
/// name other definers (SUPER, or MariaDB's SET USER / MySQL's SET_USER_ID): without it the load
/// fails with error 1227 after the rehearsal has started. Checked here, before anything runs.
async fn definers_check(
    admin: &mut Conn,
    definers: &BTreeSet<(String, String)>,
    r: &mut RestoreReport,
) -> Result<(), BackupError> {
    if definers.is_empty() {
        return Ok(());
    }
    let rights = myr::definer_rights(admin)
        .await
        .map_err(|e| BackupError::db("reading the privileges of the restoring account", e))?;
    let others: Vec<String> = definers
        .iter()
        .filter(|(u, h)| (u.as_str(), h.as_str()) != (rights.user.as_str(), rights.host.as_str()))
        .map(|(u, h)| format!("`{u}`@`{h}`"))
        .collect();
    if others.is_empty() {
        r.check(
            "definers",
            true,
            "every DEFINER in the backup is the restoring account",
        );
    } else if let Some(p) = &rights.privilege {
        r.check(
            "definers",
            true,
            format!(
                "the backup's objects name the definers {}; the restoring account has {p}, which may name them",
                others.join(", ")
            ),
        );
    } else {
        r.check(
            "definers",
            false,
            format!(
                "the backup's views, triggers, routines or events name the definers {} (not `{}`@`{}`, the restoring account), and creating them needs SUPER or SET USER (MariaDB) / SET_USER_ID (MySQL): the load would fail with error 1227; restore as root or as that definer, or grant it for the restore (MariaDB: GRANT SET USER ON *.* TO `{}`@`{}`)",
                others.join(", "),
                rights.user,
                rights.host,
                rights.user,
                rights.host
            ),
        );
    }
    Ok(())
}

/// Drops the scratch database of the rehearsal (journaled).
async fn drop_scratch(
    admin: &mut Conn,
    op: &mut Operation,
    scratch: &str,
) -> Result<(), BackupError> {
    op.step("drop-scratch", serde_json::json!({"database": scratch}))?;
    myr::drop_database(admin, scratch)
        .await
        .map_err(|e| BackupError::db(format!("dropping {scratch}"), e))?;
    op.done("drop-scratch", serde_json::json!({}))
}

/// Tables and views a MySQL dump creates.
/// A backquoted identifier at the start of `s` (after its opening backquote): the name and
/// the rest after the closing backquote.
fn backquoted(s: &str) -> Option<(String, &str)> {
    let mut name = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '`' {
            if chars.peek().map(|(_, c)| *c) == Some('`') {
                name.push('`');
                chars.next();
            } else {
                return Some((name, &s[i + 1..]));
            }
        } else {
            name.push(c);
        }
    }
    None
}

/// The tables and views a mysqldump file creates, and the accounts its views, triggers,
/// routines and events name as `DEFINER` (`user`, `host`).
pub(super) struct DumpObjects {
    pub relations: BTreeSet<String>,
    pub definers: BTreeSet<(String, String)>,
}

/// Reads both in one pass over the dump (CREATE lines; DEFINER clauses mysqldump writes as
/// ``DEFINER=`u`@`h` ``).
pub(super) fn mysql_dump_objects(path: &Path) -> std::io::Result<DumpObjects> {
    use std::io::BufRead;
    let mut out = DumpObjects {
        relations: BTreeSet::new(),
        definers: BTreeSet::new(),
    };
    for line in std::io::BufReader::new(std::fs::File::open(path)?).split(b'\n') {
        let line = line?;
        // data lines (INSERT …) are long and never create an object
        if line.starts_with(b"INSERT ") {
            continue;
        }
        if line.len() <= 300
            && (line.starts_with(b"CREATE TABLE `")
                || line.starts_with(b"/*!50001 VIEW `")
                || line.starts_with(b"/*!50001 CREATE VIEW `"))
        {
            let s = String::from_utf8_lossy(&line);
            if let Some(start) = s.find('`')
                && let Some((name, _)) = backquoted(&s[start + 1..])
            {
                out.relations.insert(name);
            }
        }
        if line.len() <= 4096 && line.windows(9).any(|w| w == b"DEFINER=`") {
            let s = String::from_utf8_lossy(&line);
            let mut rest: &str = &s;
            while let Some(i) = rest.find("DEFINER=`") {
                rest = &rest[i + 9..];
                let Some((user, after)) = backquoted(rest) else {
                    break;
                };
                let Some(h) = after.strip_prefix("@`") else {
                    continue;
                };
                let Some((host, after)) = backquoted(h) else {
                    break;
                };
                out.definers.insert((user, host));
                rest = after;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(super) fn mysql_dump_relations(path: &Path) -> std::io::Result<BTreeSet<String>> {
    mysql_dump_objects(path).map(|o| o.relations)
}

pub(super) async fn mysql_load(
    tools: &mybk::MyTools,
    t: &MyTarget,
    db: &str,
    path: &Path,
    progress: &Arc<dyn Progress>,
    what: &str,
) -> Result<child::Finished, BackupError> {
    let defaults = t.defaults_file()?;
    let mut cmd = myr::load_command(tools, &defaults.arg(), db);
    defaults.pass_to(&mut cmd);
    let p = path.to_path_buf();
    progress.begin(what, std::fs::metadata(path).map(|x| x.len()).ok());
    let p2 = progress.clone();
    let f =
        tokio::task::spawn_blocking(move || child::stream_file_to_stdin(cmd, &p, &|n| p2.add(n)))
            .await
            .map_err(|e| BackupError::Failed(e.to_string()))?
            .map_err(|e| BackupError::Failed(e.to_string()));
    progress.end();
    drop(defaults);
    f
}

pub(super) async fn run(
    t: &MyTarget,
    target: &Target,
    loc: &Located,
    s: &RestoreSettings,
    progress: Arc<dyn Progress>,
    confirm: Confirm<'_>,
    r: &mut RestoreReport,
) -> Result<(), BackupError> {
    let m = &loc.manifest;
    let db = t.database.clone();
    if r.strategy == Strategy::Swap {
        r.check("strategy", false, "MySQL/MariaDB has no RENAME DATABASE, so swap is not available: use --strategy in-place, which first rehearses the load in a scratch database on the target server and takes a safety backup");
        gate(r, s, confirm);
        return Ok(());
    }
    let tools = mybk::find_tools()?;
    r.check(
        "tools",
        true,
        format!(
            "{} loads a dump written by {}",
            tools.client.display(),
            m.dump_tool.version
        ),
    );
    let mut admin = Conn::open(&t.sqlx_url("information_schema")).await?;
    let facts = myr::target_facts(&mut admin)
        .await
        .map_err(|e| BackupError::db("reading the target server", e))?;
    match (
        mybk::parse_version(&facts.version),
        mybk::parse_version(&m.server_version),
    ) {
        (Some(tv), Some(sv)) => {
            let ok = tv.2 == sv.2 && (tv.0, tv.1) >= (sv.0, sv.1);
            r.check("server-version", ok, if ok { format!("target {} ≥ source {}", facts.version, m.server_version) } else { format!("target {} cannot be relied on to load a dump of {} (different flavour or older version)", facts.version, m.server_version) });
        }
        _ => r.check(
            "server-version",
            false,
            format!(
                "cannot compare the versions {:?} and {:?}",
                facts.version, m.server_version
            ),
        ),
    }
    let live_exists = facts.databases.contains(&db);
    let scratch_name = |ts: &str| {
        let s = format!("{db}_restore_{ts}");
        if s.len() > 64 {
            format!("migsafe_restore_{ts}")
        } else {
            s
        }
    };
    let ts = free_ts(|ts| facts.databases.contains(&scratch_name(ts)));
    let scratch = scratch_name(&ts);
    r.check(
        "names",
        !facts.databases.contains(&scratch),
        format!("rehearsal in the scratch database {scratch}"),
    );
    let dump = mysql_dump_objects(&loc.path)
        .map_err(|e| BackupError::Failed(format!("reading {}: {e}", loc.path.display())))?;
    definers_check(&mut admin, &dump.definers, r).await?;
    if live_exists {
        let dump_rel = dump.relations.clone();
        let rels = myr::relations(&mut admin, &db)
            .await
            .map_err(|e| BackupError::db("listing tables", e))?;
        let extra: Vec<&String> = rels.difference(&dump_rel).collect();
        r.check(
            "extra-objects",
            extra.is_empty(),
            if extra.is_empty() { "every table and view of the live database is in the backup".to_string() } else { format!("the live database has tables the backup does not: {} (created after the backup); an in-place restore would keep them: drop them first", extra.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")) },
        );
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
    let datadir = admin
        .query_text("SELECT CAST(@@datadir AS CHAR)")
        .await
        .ok()
        .and_then(|(_, rows)| {
            rows.into_iter()
                .next()
                .and_then(|r| r.into_iter().next().flatten())
        })
        .map(PathBuf::from)
        .filter(|p| {
            p.exists() && (t.redacted().contains("socket=") || t.redacted().contains("@localhost"))
        });
    let need = m.database_settings.size_bytes.map(|b| 2 * b + b / 5);
    disk_check(
        r,
        "disk",
        datadir.as_deref(),
        need,
        "the rehearsal copy and the restored data",
    );
    if live_exists {
        let mut conn = Conn::open(&t.sqlx_url(&db)).await?;
        let now = crate::engines::snapshot::row_counts(&mut conn, u64::MAX)
            .await
            .map_err(|e| BackupError::db("counting rows", e))?;
        conn.close().await;
        r.changes = Some(changes(m, EngineKind::Mysql, &now, None));
    }
    if !gate(r, s, confirm) {
        return Ok(());
    }
    let facts = serde_json::json!({
        "backup": absolute(&loc.path),
        "manifest": absolute(&loc.manifest_path),
        "backup_dir": absolute(&loc.dir),
        "strategy": r.strategy.as_str(),
        "database": db,
        "scratch": scratch,
        "existed": live_exists,
    });
    let mut op = Operation::begin(
        super::recover::MYSQL_IN_PLACE,
        target,
        &s.url,
        Some(&mut admin),
        live_exists.then_some(db.as_str()),
        facts,
        s,
        r,
    )
    .await?;
    op.announce_steps(progress.clone());
    let steps = Steps {
        t,
        loc,
        s,
        progress,
        tools: &tools,
        admin: &mut admin,
        op: &mut op,
        scratch,
        live_exists,
    };
    let result = steps.run(r).await;
    op.close(result.as_ref().err(), Some(&mut admin), &[], r)
        .await;
    admin.close().await;
    result
}

/// The steps after the preflight, each journaled before it changes the server.
struct Steps<'a> {
    t: &'a MyTarget,
    loc: &'a Located,
    s: &'a RestoreSettings,
    progress: Arc<dyn Progress>,
    tools: &'a mybk::MyTools,
    admin: &'a mut Conn,
    op: &'a mut Operation,
    scratch: String,
    live_exists: bool,
}

impl Steps<'_> {
    async fn run(mut self, r: &mut RestoreReport) -> Result<(), BackupError> {
        if self.rehearse(r).await? && self.safety_backup(r).await? {
            self.stop_writes(r).await?;
            self.load(r).await?;
        }
        Ok(())
    }

    /// Proves the dump loads on this server and matches the manifest, in a scratch database
    /// dropped again. False: refused (the report says why).
    async fn rehearse(&mut self, r: &mut RestoreReport) -> Result<bool, BackupError> {
        let (t, loc, tools) = (self.t, self.loc, self.tools);
        let (m, scratch) = (&loc.manifest, self.scratch.clone());
        let progress = self.progress.clone();
        let (admin, op) = (&mut *self.admin, &mut *self.op);
        // rehearsal: prove the dump loads on this server and matches the manifest
        let began = Instant::now();
        let ds = &m.database_settings;
        op.step("create-scratch", serde_json::json!({"database": scratch}))?;
        myr::create_database(
            admin,
            &scratch,
            ds.encoding.as_deref(),
            ds.collate.as_deref(),
        )
        .await
        .map_err(|e| BackupError::db("creating the scratch database", e))?;
        op.done("create-scratch", serde_json::json!({}))?;
        let f = mysql_load(
            tools,
            t,
            &scratch,
            &loc.path,
            &progress,
            &format!("rehearsing in {scratch}"),
        )
        .await;
        let f = match f {
            Ok(f) => f,
            Err(e) => {
                drop_scratch(admin, op, &scratch).await?;
                return Err(e);
            }
        };
        let issues = myr::classify_errors(&f.stderr);
        if !f.status.success() {
            r.errors = issues.clone();
            let why = issues
                .first()
                .map(|i| i.message.clone())
                .unwrap_or_else(|| child::tail(&f.stderr, 3));
            r.step("rehearsal", began, false, why.clone());
            drop_scratch(admin, op, &scratch).await?;
            r.fail(
                true,
                format!(
                    "the dump does not load on this server ({why}); the live database was not touched"
                ),
            );
            return Ok(false);
        }
        let mut conn = Conn::open(&t.sqlx_url(&scratch)).await?;
        let diffs = verify_restored(&mut conn, m, Some((&scratch, &m.database)))
            .await
            .unwrap_or_else(|e| vec![e]);
        conn.close().await;
        drop_scratch(admin, op, &scratch).await?;
        r.step(
            "rehearsal",
            began,
            diffs.is_empty(),
            format!(
                "loaded into {scratch} (dropped again): {}",
                summary_ok(&diffs, m.tables.len())
            ),
        );
        if !diffs.is_empty() {
            r.mismatches = diffs;
            r.fail(
                true,
                "the rehearsal load does not match the manifest; the live database was not touched"
                    .to_string(),
            );
            return Ok(false);
        }
        Ok(true)
    }

    /// The pre-restore safety backup of the live database. False: it failed.
    async fn safety_backup(&mut self, r: &mut RestoreReport) -> Result<bool, BackupError> {
        let s = self.s;
        let progress = self.progress.clone();
        let live_exists = self.live_exists;
        let op = &mut *self.op;
        if live_exists && s.safety_backup {
            let began = Instant::now();
            op.step(
                "safety-backup",
                serde_json::json!({"dir": absolute(&s.dir)}),
            )?;
            match safety_backup(s, PgFormat::Custom, &progress).await {
                Ok(p) => {
                    op.done("safety-backup", serde_json::json!({"path": absolute(&p)}))?;
                    r.step(
                        "safety-backup",
                        began,
                        true,
                        format!("{} (restore it to undo)", p.display()),
                    );
                    r.safety_backup = Some(p);
                }
                Err(e) => {
                    op.failed("safety-backup", &e.to_string());
                    r.step("safety-backup", began, false, e.to_string());
                    r.fail(true, super::safety_backup_failed(&e, r.changes.as_ref()));
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Creates the database, or ends its sessions and counts what the load discards.
    async fn stop_writes(&mut self, r: &mut RestoreReport) -> Result<(), BackupError> {
        let (t, loc, s) = (self.t, self.loc, self.s);
        let (m, db) = (&loc.manifest, t.database.clone());
        let ds = &m.database_settings;
        let live_exists = self.live_exists;
        let (admin, op) = (&mut *self.admin, &mut *self.op);
        if !live_exists {
            op.step("create-database", serde_json::json!({"database": db}))?;
            myr::create_database(admin, &db, ds.encoding.as_deref(), ds.collate.as_deref())
                .await
                .map_err(|e| BackupError::db("creating the database", e))?;
            op.done("create-database", serde_json::json!({}))?;
        } else {
            // MySQL has no per-database connection switch: the sessions of the database are ended
            // right before the final count and the load, so the count is as late as it can be
            let began = Instant::now();
            let eng = EngineKind::Mysql.engine().admin();
            op.step("drain", serde_json::json!({"database": db}))?;
            let drained = eng.drain(admin, &db, s.drain, &[]).await?;
            op.done("drain", serde_json::json!(drained))?;
            let mut conn = Conn::open(&t.sqlx_url(&db)).await?;
            let now = crate::engines::snapshot::row_counts(&mut conn, u64::MAX).await;
            conn.close().await;
            let now = now.map_err(|e| BackupError::db("counting rows", e))?;
            let mut c = changes(m, EngineKind::Mysql, &now, None);
            if let Some(before) = &r.changes
                && before.rows > c.rows
            {
                c.rows = before.rows;
            }
            c.note = Some("counted right before the load, after the database's sessions were ended; MySQL/MariaDB cannot refuse new connections to one database, so a session that reconnects during the load can still write, and that write is lost too".into());
            r.changes = Some(c);
            r.step(
                "stop-writes",
                began,
                true,
                format!(
                    "{} session(s) left, {} ended",
                    drained.left, drained.terminated
                ),
            );
        }
        Ok(())
    }

    /// The load into the live database, then its verification.
    async fn load(&mut self, r: &mut RestoreReport) -> Result<(), BackupError> {
        let (t, loc, tools) = (self.t, self.loc, self.tools);
        let (m, db) = (&loc.manifest, t.database.clone());
        let progress = self.progress.clone();
        let op = &mut *self.op;
        let began = Instant::now();
        op.step("load", serde_json::json!({"database": db, "safety_backup": r.safety_backup.as_deref().map(absolute)}))?;
        let f = mysql_load(
            tools,
            t,
            &db,
            &loc.path,
            &progress,
            &format!("restoring {db}"),
        )
        .await?;
        r.live_untouched = false;
        if !f.status.success() {
            op.failed("load", &child::tail(&f.stderr, 3));
            r.errors = myr::classify_errors(&f.stderr);
            let why = r
                .errors
                .first()
                .map(|i| i.message.clone())
                .unwrap_or_else(|| child::tail(&f.stderr, 3));
            r.step("restore", began, false, why.clone());
            let undo = r
                .safety_backup
                .as_ref()
                .map(|p| format!("; restore {} to return to the state before", p.display()))
                .unwrap_or_default();
            r.fail(false, format!("the load failed ({why}) after the rehearsal passed; {db} is partly restored{undo}; `migsafe recover --operation {}` reloads the backup (or with --abort the safety backup)", op.id()));
            return Ok(());
        }
        op.done("load", serde_json::json!({}))?;
        r.step("restore", began, true, format!("{db} loaded"));
        let began = Instant::now();
        let mut conn = Conn::open(&t.sqlx_url(&db)).await?;
        let diffs = verify_restored(&mut conn, m, Some((&db, &m.database)))
            .await
            .unwrap_or_else(|e| vec![e]);
        conn.close().await;
        r.step(
            "verify",
            began,
            diffs.is_empty(),
            summary_ok(&diffs, m.tables.len()),
        );
        if !diffs.is_empty() {
            r.mismatches = diffs;
            r.fail(
                false,
                format!("{db} was restored but does not match the manifest"),
            );
            return Ok(());
        }
        r.status = Status::Restored;
        r.message = format!("restored {db} in place from {}", m.file);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_dump_relations_are_read_from_create_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.sql");
        std::fs::write(&p, "CREATE TABLE `users` (\n  `id` int\n);\n/*!50001 CREATE VIEW `v``x` AS SELECT 1 */;\n/*!50001 VIEW `v2` AS select 1 */;\n").unwrap();
        let rels = mysql_dump_relations(&p).unwrap();
        assert_eq!(
            rels,
            ["users", "v`x", "v2"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
    }
}
