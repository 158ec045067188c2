//! Running one migration file and describing what happened: setup files quietly, new files with
//! full observation (statements located in the file, dynamic findings merged with the static
//! ones), and the down check.

use super::*;

pub(super) fn top_level(section: &SqlSection, dialect: Dialect) -> Vec<Statement> {
    sql::parse_section(&section.text, section.range.clone(), dialect)
}

/// The static verdict of each top-level statement (worst of it and the statements found inside
/// it), and the 1-based line each starts on.
pub(super) fn static_per_statement(rep: &MigrationReport) -> Vec<Verdict> {
    let mut out: Vec<Verdict> = Vec::new();
    let mut flat_to_top: Vec<usize> = Vec::new();
    for s in &rep.statements {
        match s.nested_in {
            None => {
                flat_to_top.push(out.len());
                out.push(s.verdict);
            }
            Some(parent) => {
                let top = flat_to_top.get(parent).copied().unwrap_or(0);
                flat_to_top.push(top);
                if let Some(v) = out.get_mut(top) {
                    *v = v.worst(s.verdict);
                }
            }
        }
    }
    out
}

/// The static findings with `statement_index` pointing at the top-level statement they belong
/// to (`migsafe check` also counts statements nested in DO blocks and routine bodies).
pub(super) fn static_findings_top_level(rep: &MigrationReport) -> Vec<crate::model::Finding> {
    let mut flat_to_top: Vec<usize> = Vec::with_capacity(rep.statements.len());
    let mut tops = 0usize;
    for s in &rep.statements {
        match s.nested_in {
            None => {
                flat_to_top.push(tops);
                tops += 1;
            }
            Some(parent) => flat_to_top.push(
                flat_to_top
                    .get(parent)
                    .copied()
                    .unwrap_or(tops.saturating_sub(1)),
            ),
        }
    }
    rep.findings
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f.statement_index = flat_to_top
                .get(f.statement_index)
                .copied()
                .unwrap_or(f.statement_index);
            f
        })
        .collect()
}

pub(super) fn locate(
    file: &Path,
    text: &str,
    lines: &LineIndex,
    stmt: &Statement,
    e: &RawError,
) -> SqlError {
    let sql = text.get(stmt.span.start..stmt.span.end).unwrap_or("");
    let offset = match e.position {
        Some(p) if p > 0 => sql.char_indices().nth(p - 1).map(|(b, _)| b).unwrap_or(0),
        _ => 0,
    };
    let pos = lines.position(text, stmt.span.start + offset);
    SqlError {
        sqlstate: e.sqlstate.clone(),
        code: e.code,
        message: e.message.clone(),
        detail: e.detail.clone(),
        hint: e.hint.clone(),
        file: file.display().to_string(),
        line: pos.line,
        column: pos.column,
    }
}

pub(super) fn statement_runs(
    m: &Migration,
    text: &str,
    stmts: &[Statement],
    exec: Option<&FileExec>,
    statics: &[Verdict],
) -> Vec<StatementRun> {
    let lines = LineIndex::new(text);
    stmts
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let st = exec.and_then(|e| e.statements.get(i));
            let start = lines.position(text, s.span.start);
            let end = lines.position(text, s.span.end);
            let status = match st {
                Some(x) if x.ran && x.error.is_some() => StmtStatus::Failed,
                Some(x) if x.ran => StmtStatus::Ok,
                _ => StmtStatus::NotRun,
            };
            let sv = statics.get(i).copied().unwrap_or(Verdict::Safe);
            StatementRun {
                index: i,
                line: start.line,
                column: start.column,
                end_line: end.line,
                kind: s.kind.clone(),
                sql: s.sql.clone(),
                status,
                duration_ms: st.filter(|x| x.ran).map(|x| ms(x.duration)),
                rows_affected: st.and_then(|x| x.rows),
                error: st
                    .and_then(|x| x.error.as_ref())
                    .map(|e| locate(&m.path, text, &lines, s, e)),
                took_effect: st.and_then(|x| x.took_effect),
                locks_observed: st.is_some_and(|x| x.locks_observed),
                locks: st.map(|x| x.locks.clone()).unwrap_or_default(),
                rewrites: st.map(|x| x.rewrites.clone()).unwrap_or_default(),
                static_verdict: sv,
                verdict: sv,
            }
        })
        .collect()
}

pub(super) fn base_run(
    m: &Migration,
    rep: &MigrationReport,
    new: bool,
    status: Status,
) -> MigrationRun {
    MigrationRun {
        path: m.path.display().to_string(),
        version: m.version.clone(),
        description: m.description.clone(),
        layout: m.layout.as_str(),
        transaction: m.transaction,
        new,
        status,
        duration_ms: 0.0,
        verdict: rep.verdict,
        static_verdict: rep.verdict,
        dynamic_verdict: Verdict::Safe,
        statements: Vec::new(),
        schema_diff: Vec::new(),
        findings: Vec::new(),
        static_findings: static_findings_top_level(rep),
        foreign_key_violations: Vec::new(),
        notes: Vec::new(),
        down_check: None,
    }
}

pub(super) fn skipped_run(m: &Migration, rep: &MigrationReport, dialect: Dialect) -> MigrationRun {
    let mut run = base_run(m, rep, true, Status::Skipped);
    let stmts = top_level(&m.up, dialect);
    run.statements = statement_runs(m, &m.up.text, &stmts, None, &static_per_statement(rep));
    run.notes
        .push("not run: an earlier migration failed, and the migrator stops there".into());
    run
}

/// Applies a setup migration quietly; returns its report only when it failed.
pub(super) async fn run_setup(
    sess: &mut Session,
    m: &Migration,
    rep: &MigrationReport,
    dialect: Dialect,
) -> Result<Option<MigrationRun>, DryRunError> {
    let stmts = top_level(&m.up, dialect);
    let exec = exec::apply(sess, &m.up.text, &stmts, m.transaction, false, None).await?;
    if exec.failed.is_none() {
        return Ok(None);
    }
    let mut run = base_run(m, rep, false, Status::Failed);
    run.duration_ms = ms(exec.duration);
    run.statements = statement_runs(
        m,
        &m.up.text,
        &stmts,
        Some(&exec),
        &static_per_statement(rep),
    );
    run.notes
        .push("a setup migration (applied before the new ones) failed".into());
    Ok(Some(run))
}

/// Applies a new migration with full observation; returns its report and the catalog after it
/// (when the database is in a known state).
pub(super) async fn run_new(
    sess: &mut Session,
    m: &Migration,
    rep: &MigrationReport,
    dialect: Dialect,
    before: Catalog,
    check_down: bool,
) -> Result<(MigrationRun, Option<Catalog>), DryRunError> {
    let stmts = top_level(&m.up, dialect);
    let text: &str = &m.up.text;
    let fk_check = async |sess: &mut Session| -> Result<Vec<FkViolation>, ObserveError> {
        sess.foreign_key_violations().await
    };
    let fk_before = fk_check(sess).await?;
    let exec = exec::apply(sess, text, &stmts, m.transaction, true, Some(&before)).await?;
    // plain DML, SET and COMMENT cannot change what the catalog model holds
    let catalog_untouched = exec.failed.is_none()
        && stmts.iter().all(|s| {
            !s.ops.is_empty()
                && s.ops.iter().all(|o| {
                    matches!(
                        o,
                        Op::Insert { .. }
                            | Op::Update { .. }
                            | Op::Delete { .. }
                            | Op::Set { .. }
                            | Op::Comment
                    )
                })
        });
    let after = if catalog_untouched {
        before.clone()
    } else {
        sess.catalog().await?
    };
    let diff = diff::diff(&before, &after);
    // only violations this file introduced
    let fk: Vec<FkViolation> = fk_check(sess)
        .await?
        .into_iter()
        .filter(|v| {
            !fk_before
                .iter()
                .any(|b| b.table == v.table && b.rowid == v.rowid && b.parent == v.parent)
        })
        .collect();
    let statics = static_per_statement(rep);
    let lines_idx = LineIndex::new(text);
    let lines: Vec<usize> = stmts
        .iter()
        .map(|s| lines_idx.position(text, s.span.start).line)
        .collect();
    let pre: Vec<String> = before.tables.keys().cloned().collect();
    let findings = dynamic::classify(&dynamic::Inputs {
        diff: &diff,
        exec: &exec,
        stmts: &stmts,
        lines: &lines,
        static_verdicts: &statics,
        static_file_verdict: rep.verdict,
        pre_existing_tables: &pre,
        fk_violations: &fk,
    });
    let status = if exec.failed.is_some() {
        Status::Failed
    } else {
        Status::Applied
    };
    let mut run = base_run(m, rep, true, status);
    run.duration_ms = ms(exec.duration);
    run.statements = statement_runs(m, text, &stmts, Some(&exec), &statics);
    for f in &findings {
        if let Some(s) = f.statement_index.and_then(|i| run.statements.get_mut(i)) {
            s.verdict = s.verdict.worst(f.verdict);
        }
    }
    run.dynamic_verdict = dynamic::worst(&findings);
    run.verdict = rep.verdict.worst(run.dynamic_verdict);
    run.findings = findings;
    run.schema_diff = diff;
    run.foreign_key_violations = fk;
    run.notes = exec.notes.clone();
    if let Some(f) = exec.failed {
        let effective: Vec<usize> = run
            .statements
            .iter()
            .filter(|s| s.took_effect == Some(true))
            .map(|s| s.line)
            .collect();
        if !effective.is_empty() {
            let lines = effective
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            run.notes.push(format!("the file failed at statement {}, but the statements at line(s) {lines} had already taken effect and stay applied: the schema diff shows the partial change", f + 1));
        }
    }
    if !m.transaction {
        run.notes.push("runs without a transaction (the file or its layout opts out): each statement commits on its own".into());
    }
    let mut state = Some(after.clone());
    if check_down && status == Status::Applied {
        let (dc, st) = down_check(sess, m, dialect, &before, &after).await?;
        run.down_check = Some(dc);
        state = st;
    }
    Ok((run, state))
}

/// up was applied: down, compare with the schema before up, up again, compare with after up.
pub(super) async fn down_check(
    sess: &mut Session,
    m: &Migration,
    dialect: Dialect,
    before: &Catalog,
    after: &Catalog,
) -> Result<(DownCheck, Option<Catalog>), DryRunError> {
    let t0 = Instant::now();
    let Some(down) = &m.down else {
        return Ok((
            DownCheck {
                status: DownStatus::NoDown,
                down_path: None,
                differences: Vec::new(),
                reapply_differences: Vec::new(),
                moved_columns: Vec::new(),
                reapply_moved_columns: Vec::new(),
                error: None,
                duration_ms: 0.0,
            },
            Some(after.clone()),
        ));
    };
    let mut dc = DownCheck {
        status: DownStatus::Reversible,
        down_path: Some(down.path.display().to_string()),
        differences: Vec::new(),
        reapply_differences: Vec::new(),
        moved_columns: Vec::new(),
        reapply_moved_columns: Vec::new(),
        error: None,
        duration_ms: 0.0,
    };
    let dstmts = sql::parse_section(&down.text, down.range.clone(), dialect);
    let dexec = exec::apply(sess, &down.text, &dstmts, m.transaction, false, None).await?;
    if let Some(f) = dexec.failed {
        let lines = LineIndex::new(&down.text);
        dc.status = DownStatus::DownFailed;
        dc.error = dexec
            .statements
            .get(f)
            .and_then(|s| s.error.as_ref())
            .map(|e| locate(&down.path, &down.text, &lines, &dstmts[f], e));
        dc.duration_ms = ms(t0.elapsed());
        let now = sess.catalog().await?;
        return Ok((dc, Some(now)));
    }
    let after_down = sess.catalog().await?;
    // by name: down re-adds a dropped column under a new identity (attnum), and that is the
    // schema restored; where the column landed is reported as a move
    dc.differences = diff::diff_by_name(before, &after_down);
    dc.moved_columns = diff::column_moves(before, &after_down);
    if !dc.differences.is_empty() {
        dc.status = DownStatus::Irreversible;
    }
    let ustmts = sql::parse_section(&m.up.text, m.up.range.clone(), dialect);
    let uexec = exec::apply(sess, &m.up.text, &ustmts, m.transaction, false, None).await?;
    if let Some(f) = uexec.failed {
        let lines = LineIndex::new(&m.up.text);
        // an incomplete down usually makes the second up fail: irreversible is the finding
        if dc.status == DownStatus::Reversible {
            dc.status = DownStatus::ReapplyFailed;
        }
        dc.error = uexec
            .statements
            .get(f)
            .and_then(|s| s.error.as_ref())
            .map(|e| locate(&m.path, &m.up.text, &lines, &ustmts[f], e));
        dc.duration_ms = ms(t0.elapsed());
        return Ok((dc, None));
    }
    let again = sess.catalog().await?;
    dc.reapply_differences = diff::diff_by_name(after, &again);
    dc.reapply_moved_columns = diff::column_moves(after, &again);
    if !dc.reapply_differences.is_empty() && dc.status == DownStatus::Reversible {
        dc.status = DownStatus::Irreversible;
    }
    dc.duration_ms = ms(t0.elapsed());
    Ok((dc, Some(again)))
}
