//! Applies one migration file the way its migrator would (one transaction per file unless the
//! file opts out), statement by statement on one connection, observing after each statement the
//! locks the session holds and what happened to the relations that existed before the file.

use super::diff::{Catalog, Column};
use super::model::{LockTaken, Rewrite};
use super::observe::{Probe, RawError, RelState, pg_lock};
use crate::engines::catalog::CatalogEngine;
use crate::engines::conn::Conn;
use crate::engines::{EngineKind, postgres};
use crate::sql::ir::{Op, Statement};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// A failure of migsafe's own observation queries (not of the migration): exit 2.
#[derive(Debug, thiserror::Error)]
#[error("observing the dry-run database failed: {0}")]
pub struct ObserveError(pub String);

fn obs(e: sqlx::Error) -> ObserveError {
    ObserveError(e.to_string())
}

/// The connection the migrations run on.
pub struct Session {
    pub conn: Conn,
    pub kind: EngineKind,
    pub mariadb: bool,
    /// The probe of every relation after the last observed statement, while it still
    /// describes the database (reused as the next file's starting state).
    last_probe: Option<Probe>,
    /// PostgreSQL: a second connection that samples the locks of `backend` while a statement
    /// runs outside any transaction (CREATE INDEX CONCURRENTLY cannot be wrapped in one).
    monitor: Option<(Conn, String)>,
}

/// Seconds between lock samples of a statement that runs outside a transaction.
const SAMPLE_EVERY: Duration = Duration::from_millis(1);

impl Session {
    pub async fn new(mut conn: Conn, monitor: Option<Conn>) -> Session {
        let kind = conn.kind();
        let mariadb = kind.engine().catalog().is_mariadb(&mut conn).await;
        let monitor = match (kind, monitor) {
            (EngineKind::Postgres, Some(m)) => {
                match conn.query_text("SELECT pg_backend_pid()::text").await {
                    Ok((_, rows)) => rows
                        .first()
                        .and_then(|r| r.first().cloned().flatten())
                        .filter(|p| p.chars().all(|c| c.is_ascii_digit()))
                        .map(|pid| (m, pid)),
                    Err(_) => None,
                }
            }
            _ => None,
        };
        Session {
            conn,
            kind,
            mariadb,
            last_probe: None,
            monitor,
        }
    }

    /// Runs `sql` while the monitor connection samples the relation locks its backend holds;
    /// returns the union of what was seen (`None` without a monitor).
    async fn exec_sampled(
        &mut self,
        sql: &str,
    ) -> (Result<u64, RawError>, Option<BTreeSet<(String, String)>>) {
        let Some((mon, pid)) = self.monitor.as_mut() else {
            return (self.exec(sql).await, None);
        };
        let query = format!(
            "SELECT relation::text, mode FROM pg_locks WHERE pid = {pid} AND locktype = 'relation' AND granted"
        );
        let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
        let result = {
            let run = self.conn.execute(sql);
            let sample = async {
                loop {
                    if let Ok((_, rows)) = mon.query_text(&query).await {
                        for r in rows {
                            if let (Some(Some(rel)), Some(Some(mode))) = (r.first(), r.get(1)) {
                                seen.insert((rel.clone(), mode.clone()));
                            }
                        }
                    }
                    tokio::time::sleep(SAMPLE_EVERY).await;
                }
            };
            tokio::select! {
                r = run => r,
                () = sample => unreachable!("the sampling loop never ends"),
            }
        };
        (result.map_err(|e| self.engine().error(&e)), Some(seen))
    }

    pub async fn close(self) {
        self.conn.close().await;
        if let Some((m, _)) = self.monitor {
            m.close().await;
        }
    }

    /// The engine's catalog and observation trait.
    pub fn engine(&self) -> &'static dyn CatalogEngine {
        self.kind.engine().catalog()
    }

    pub async fn exec(&mut self, sql: &str) -> Result<u64, RawError> {
        let eng = self.engine();
        self.conn.execute(sql).await.map_err(|e| eng.error(&e))
    }

    pub async fn catalog(&mut self) -> Result<Catalog, ObserveError> {
        self.engine().catalog(&mut self.conn).await.map_err(obs)
    }

    /// Rows breaking a foreign key the engine does not enforce by itself.
    pub async fn foreign_key_violations(
        &mut self,
    ) -> Result<Vec<super::model::FkViolation>, ObserveError> {
        self.engine()
            .foreign_key_violations(&mut self.conn)
            .await
            .map_err(obs)
    }

    async fn probe(&mut self, ids: Option<&[String]>) -> Result<Probe, ObserveError> {
        self.engine()
            .probe(&mut self.conn, ids, self.mariadb)
            .await
            .map_err(obs)
    }

    async fn columns(
        &mut self,
        ids: &[String],
    ) -> Result<BTreeMap<String, Vec<Column>>, ObserveError> {
        self.engine()
            .columns(&mut self.conn, ids)
            .await
            .map_err(obs)
    }
}

/// What happened to one statement.
#[derive(Debug, Clone, Default)]
pub struct StmtExec {
    pub ran: bool,
    pub duration: Duration,
    pub rows: Option<u64>,
    pub error: Option<RawError>,
    pub took_effect: Option<bool>,
    pub locks_observed: bool,
    pub locks: Vec<LockTaken>,
    pub rewrites: Vec<Rewrite>,
    /// Ran outside any transaction (autocommit).
    pub autocommit: bool,
}

/// Where pre-existing objects changed: the first statement after which each was seen gone or
/// altered, so catalog findings can point at the statement (even inside a DO block).
#[derive(Debug, Clone, Default)]
pub struct Attribution {
    /// Relation name → statement index where it disappeared.
    pub relation_gone: HashMap<String, usize>,
    /// `table.column` → statement index where it disappeared or changed type/nullability.
    pub column_changed: HashMap<String, usize>,
}

#[derive(Debug, Clone, Default)]
pub struct FileExec {
    pub statements: Vec<StmtExec>,
    /// Index of the statement that failed.
    pub failed: Option<usize>,
    pub duration: Duration,
    pub attribution: Attribution,
    pub notes: Vec<String>,
}

/// Observation state across the statements of one file.
struct Watch {
    ids: Vec<String>,
    known: BTreeMap<String, RelState>,
    cols: BTreeMap<String, Vec<Column>>,
    held: BTreeSet<(String, String)>,
    /// The latest probe of every relation (`None` once a statement ran unobserved).
    last: Option<Probe>,
}

fn tx_control(stmt: &Statement) -> Option<&'static str> {
    stmt.ops.iter().find_map(|op| match op {
        Op::Begin => Some("begin"),
        Op::Commit => Some("commit"),
        Op::Rollback => Some("rollback"),
        _ => None,
    })
}

/// Applies `stmts` (the top-level statements of a section of `text`). With `observe`, locks,
/// rewrites and column changes of pre-existing relations are recorded per statement; `before`
/// is the catalog at the start of the file (for column lists).
pub async fn apply(
    sess: &mut Session,
    text: &str,
    stmts: &[Statement],
    transactional: bool,
    observe: bool,
    before: Option<&Catalog>,
) -> Result<FileExec, ObserveError> {
    let began = Instant::now();
    let mut out = FileExec {
        statements: vec![StmtExec::default(); stmts.len()],
        ..FileExec::default()
    };
    let reuse = sess.last_probe.take();
    let mut watch = if observe {
        let p = match reuse {
            Some(p) => p,
            None => sess.probe(None).await?,
        };
        let mut cols = BTreeMap::new();
        if let Some(cat) = before {
            for (id, r) in &p.rels {
                if let Some(t) = cat.tables.get(&r.name) {
                    cols.insert(id.clone(), t.columns.clone());
                }
            }
        }
        Some(Watch {
            ids: p.rels.keys().cloned().collect(),
            known: p.rels.clone(),
            cols,
            held: BTreeSet::new(),
            last: Some(p),
        })
    } else {
        None
    };
    let pg = sess.kind == EngineKind::Postgres;
    // transaction groups: statements that commit or roll back together
    let mut group_of: Vec<Option<usize>> = vec![None; stmts.len()];
    let mut open_group: Option<usize> = None;
    let mut committed_groups: BTreeSet<usize> = BTreeSet::new();
    let mut next_group = 0usize;
    if transactional {
        if let Err(e) = sess.exec("BEGIN").await {
            return Err(ObserveError(format!("BEGIN failed: {}", e.message)));
        }
        open_group = Some(next_group);
        next_group += 1;
    }
    for (i, stmt) in stmts.iter().enumerate() {
        let sql = text.get(stmt.span.start..stmt.span.end).unwrap_or("");
        let control = tx_control(stmt);
        // PostgreSQL statements outside a transaction are wrapped in one so their locks can be
        // seen before they are released; those that refuse a transaction block run bare
        let wrap = pg && observe && open_group.is_none() && control.is_none();
        let st = &mut out.statements[i];
        st.ran = true;
        group_of[i] = open_group;
        let mut t0 = Instant::now();
        let mut result = if wrap {
            match sess.exec("BEGIN").await {
                Ok(_) => sess.exec(sql).await,
                Err(e) => Err(e),
            }
        } else {
            sess.exec(sql).await
        };
        let mut bare = false;
        let mut sampled: Option<BTreeSet<(String, String)>> = None;
        if wrap && let Err(e) = &result {
            let _ = sess.exec("ROLLBACK").await;
            if e.sqlstate.as_deref() == Some(postgres::dry_run::ACTIVE_SQL_TRANSACTION) {
                bare = true;
                t0 = Instant::now();
                let (r, seen) = sess.exec_sampled(sql).await;
                result = r;
                sampled = seen;
            }
        }
        st.duration = t0.elapsed();
        st.autocommit = open_group.is_none();
        match result {
            Ok(rows) => {
                // SQLite's change count is stale after anything but INSERT/UPDATE/DELETE
                let dml = stmt.ops.iter().any(|o| {
                    matches!(o, Op::Insert { .. } | Op::Update { .. } | Op::Delete { .. })
                });
                st.rows = if sess.kind == EngineKind::Sqlite && !dml {
                    None
                } else {
                    Some(rows)
                };
                if let Some(w) = watch.as_mut()
                    && !bare
                {
                    observe_after(sess, w, i, st, &mut out.attribution).await?;
                    st.locks_observed = pg;
                }
                if wrap
                    && !bare
                    && let Err(e) = sess.exec("COMMIT").await
                {
                    st.error = Some(e);
                    out.failed = Some(i);
                    break;
                }
                if bare && let Some(w) = watch.as_mut() {
                    w.last = None;
                    match &sampled {
                        Some(seen) => {
                            let pre: BTreeSet<&String> = w.ids.iter().collect();
                            for (id, mode) in seen.iter().filter(|(id, _)| pre.contains(id)) {
                                if let Some(r) = w.known.get(id) {
                                    st.locks.push(pg_lock(mode, &r.name, &r.kind));
                                }
                            }
                            st.locks_observed = true;
                            out.notes.push(format!(
                                "statement {} refuses to run inside a transaction block: it ran on its own, and its locks were sampled every millisecond from a second session while it ran (a lock held for less than that can be missed)",
                                i + 1
                            ));
                        }
                        None => out.notes.push(format!("statement {} refuses to run inside a transaction block: it ran on its own, so its locks were not observed", i + 1)),
                    }
                }
                match control {
                    Some("begin") if open_group.is_none() => {
                        open_group = Some(next_group);
                        group_of[i] = open_group;
                        next_group += 1;
                    }
                    Some("commit") => {
                        if let Some(g) = open_group.take() {
                            committed_groups.insert(g);
                        }
                    }
                    Some("rollback") => {
                        open_group = None;
                    }
                    _ => {}
                }
                // MySQL/MariaDB DDL commits the open transaction implicitly
                if let Some(g) = open_group
                    && sess
                        .engine()
                        .in_transaction(&mut sess.conn)
                        .await
                        .map_err(obs)?
                        == Some(false)
                {
                    committed_groups.insert(g);
                    open_group = None;
                }
            }
            Err(e) => {
                st.error = Some(e);
                out.failed = Some(i);
                break;
            }
        }
    }
    if out.failed.is_some() {
        if open_group.is_some() {
            let _ = sess.exec("ROLLBACK").await;
        }
    } else if let Some(g) = open_group {
        match sess.exec("COMMIT").await {
            Ok(_) => {
                committed_groups.insert(g);
            }
            Err(e) => {
                // deferred constraints fail at COMMIT: blame the last statement
                let last = stmts.len().saturating_sub(1);
                if let Some(st) = out.statements.get_mut(last) {
                    st.error = Some(e);
                }
                out.failed = Some(last);
                let _ = sess.exec("ROLLBACK").await;
            }
        }
    }
    for (i, st) in out.statements.iter_mut().enumerate() {
        if !st.ran {
            continue;
        }
        // a failed statement has no effect; the others count once their transaction committed
        st.took_effect =
            Some(st.error.is_none() && group_of[i].is_none_or(|g| committed_groups.contains(&g)));
    }
    if out.failed.is_none()
        && let Some(w) = watch
    {
        sess.last_probe = w.last;
    }
    out.duration = began.elapsed();
    Ok(out)
}

async fn observe_after(
    sess: &mut Session,
    w: &mut Watch,
    i: usize,
    st: &mut StmtExec,
    attr: &mut Attribution,
) -> Result<(), ObserveError> {
    let p = sess.probe(None).await?;
    let pre: BTreeSet<&String> = w.ids.iter().collect();
    let now: BTreeSet<(String, String)> = p
        .locks
        .iter()
        .filter(|(id, _)| pre.contains(id))
        .cloned()
        .collect();
    for (id, mode) in now.difference(&w.held) {
        if let Some(r) = w.known.get(id).or_else(|| p.rels.get(id)) {
            st.locks.push(pg_lock(mode, &r.name, &r.kind));
        }
    }
    w.held = now;
    let mut changed_cols: Vec<String> = Vec::new();
    for id in &w.ids {
        let Some(old) = w.known.get(id).cloned() else {
            continue;
        };
        match p.rels.get(id) {
            None => {
                attr.relation_gone.entry(old.name.clone()).or_insert(i);
                for c in w.cols.get(id).into_iter().flatten() {
                    attr.column_changed
                        .entry(format!("{}.{}", old.name, c.name))
                        .or_insert(i);
                }
                w.known.remove(id);
            }
            Some(new) => {
                if let (Some(a), Some(b)) = (&old.storage, &new.storage)
                    && a != b
                {
                    st.rewrites.push(Rewrite {
                        object: old.name.clone(),
                        object_kind: old.kind.clone(),
                    });
                }
                if old.columns != new.columns {
                    changed_cols.push(id.clone());
                }
                // keep the pre-file name: findings are about the objects as they were
                let mut keep = new.clone();
                keep.name = old.name.clone();
                w.known.insert(id.clone(), keep);
            }
        }
    }
    if !changed_cols.is_empty() {
        let fresh = sess.columns(&changed_cols).await?;
        for id in changed_cols {
            let table = w.known.get(&id).map(|r| r.name.clone()).unwrap_or_default();
            let old = w.cols.get(&id).cloned().unwrap_or_default();
            let new = fresh.get(&id).cloned().unwrap_or_default();
            for c in &old {
                let same = new.iter().find(|n| {
                    if n.id.is_some() {
                        n.id == c.id
                    } else {
                        n.name == c.name
                    }
                });
                let changed = match same {
                    None => true,
                    Some(n) => {
                        n.name != c.name || n.data_type != c.data_type || n.nullable != c.nullable
                    }
                };
                if changed {
                    attr.column_changed
                        .entry(format!("{table}.{}", c.name))
                        .or_insert(i);
                }
            }
            w.cols.insert(id, new);
        }
    }
    w.last = Some(p);
    Ok(())
}
