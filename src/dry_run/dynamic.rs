//! Dynamic classification: what execution showed (the schema diff, locks, rewrites), checked
//! against the static verdicts. A drop or data-losing type change the static classifier did not
//! flag (inside a DO block, a function, dynamic SQL) is destructive and marked "found by
//! execution"; a rewrite or a traffic-blocking lock on a pre-existing table is risky even when the
//! statement looked safe. The final verdict is the worse of the two.

use super::diff::{Action, Change, ObjectType, lossy_type_change};
use super::exec::FileExec;
use super::model::{DynamicFinding, FkViolation};
use crate::model::Verdict;
use crate::sql::ir::Statement;

/// Everything the dynamic rules look at for one file.
pub struct Inputs<'a> {
    pub diff: &'a [Change],
    pub exec: &'a FileExec,
    pub stmts: &'a [Statement],
    /// 1-based line of each top-level statement.
    pub lines: &'a [usize],
    /// Static verdict of each top-level statement (including statements nested in it).
    pub static_verdicts: &'a [Verdict],
    pub static_file_verdict: Verdict,
    /// Tables that existed before the file (for "added NOT NULL column to an existing table").
    pub pre_existing_tables: &'a [String],
    pub fk_violations: &'a [FkViolation],
}

fn is_table_kind(kind: &str) -> bool {
    matches!(
        kind,
        "table" | "partitioned table" | "materialized view" | "foreign table"
    )
}

/// The statement whose SQL mentions `name` (its last dotted part), case-insensitively.
fn mentioned(stmts: &[Statement], name: &str) -> Option<usize> {
    let short = name
        .rsplit('.')
        .next()
        .unwrap_or(name)
        .split('(')
        .next()
        .unwrap_or(name)
        .to_ascii_lowercase();
    if short.is_empty() {
        return None;
    }
    stmts
        .iter()
        .position(|s| s.sql.to_ascii_lowercase().contains(&short))
}

pub fn classify(inp: &Inputs) -> Vec<DynamicFinding> {
    let mut out = Vec::new();
    let attr = &inp.exec.attribution;
    let mut push = |rule: &'static str,
                    verdict: Verdict,
                    stmt: Option<usize>,
                    object: &str,
                    message: String| {
        let static_v = stmt
            .and_then(|i| inp.static_verdicts.get(i).copied())
            .unwrap_or(inp.static_file_verdict);
        let line = stmt
            .and_then(|i| inp.lines.get(i).copied())
            .or_else(|| inp.lines.first().copied())
            .unwrap_or(1);
        out.push(DynamicFinding {
            rule,
            verdict,
            statement_index: stmt,
            line,
            object: object.to_string(),
            message,
            found_by_execution: verdict.rank() > static_v.rank(),
        });
    };
    let dropped_tables: Vec<&str> = inp
        .diff
        .iter()
        .filter(|c| c.object == ObjectType::Table && c.action == Action::Dropped)
        .map(|c| c.name.as_str())
        .collect();
    for c in inp.diff {
        let col_stmt = || {
            attr.column_changed
                .get(&c.name)
                .copied()
                .or_else(|| mentioned(inp.stmts, &c.name))
        };
        match (c.object, c.action) {
            (ObjectType::Table, Action::Dropped) => {
                let at = attr
                    .relation_gone
                    .get(&c.name)
                    .copied()
                    .or_else(|| mentioned(inp.stmts, &c.name));
                push(
                    "dropped-table",
                    Verdict::Destructive,
                    at,
                    &c.name,
                    format!("table {} was dropped: its rows are gone", c.name),
                );
            }
            (ObjectType::Column, Action::Dropped) => {
                let table = c.name.rsplit_once('.').map(|(t, _)| t).unwrap_or("");
                if !dropped_tables.contains(&table) {
                    push(
                        "dropped-column",
                        Verdict::Destructive,
                        col_stmt(),
                        &c.name,
                        format!("column {} was dropped: its values are gone", c.name),
                    );
                }
            }
            (ObjectType::Column, Action::Changed) => {
                if c.field("recreated").is_some() {
                    push(
                        "recreated-column",
                        Verdict::Destructive,
                        col_stmt(),
                        &c.name,
                        format!(
                            "column {} was dropped and added again: its values are gone",
                            c.name
                        ),
                    );
                } else if let Some(t) = c.field("type")
                    && let Some(why) = lossy_type_change(&t.before, &t.after)
                {
                    push(
                        "lossy-type-change",
                        Verdict::Destructive,
                        col_stmt(),
                        &c.name,
                        format!("column {}: {why}", c.name),
                    );
                }
                if c.field("nullable").is_some_and(|f| f.after == "false") {
                    push(
                        "not-null-added",
                        Verdict::Risky,
                        col_stmt(),
                        &c.name,
                        format!(
                            "column {} became NOT NULL: fails if existing rows hold NULL, and scans the table while holding its lock",
                            c.name
                        ),
                    );
                }
            }
            (ObjectType::Column, Action::Added) => {
                let table = c.name.rsplit_once('.').map(|(t, _)| t).unwrap_or("");
                let desc = c.after.as_deref().unwrap_or("");
                let not_null_no_default = desc.contains(" not null")
                    && !desc.contains(" default ")
                    && !desc.contains("identity")
                    && !desc.contains("generated")
                    && !desc.contains("auto_increment");
                if not_null_no_default && inp.pre_existing_tables.iter().any(|t| t == table) {
                    push(
                        "not-null-column-without-default",
                        Verdict::Risky,
                        mentioned(inp.stmts, &c.name),
                        &c.name,
                        format!(
                            "column {} was added NOT NULL without a default to an existing table: fails as soon as the table has rows",
                            c.name
                        ),
                    );
                }
            }
            (ObjectType::Enum, Action::Changed) => {
                let before: Vec<&str> = c.before.as_deref().unwrap_or("").split(", ").collect();
                let after: Vec<&str> = c.after.as_deref().unwrap_or("").split(", ").collect();
                let removed: Vec<&str> = before
                    .iter()
                    .filter(|l| !after.contains(l))
                    .copied()
                    .collect();
                // same length and only relabelled: ALTER TYPE … RENAME VALUE keeps the rows' values
                let renamed = before.len() == after.len();
                if !removed.is_empty() && !renamed {
                    push(
                        "dropped-enum-value",
                        Verdict::Destructive,
                        mentioned(inp.stmts, &c.name),
                        &c.name,
                        format!(
                            "enum {} lost the value(s) {}: rows holding them cannot exist any more",
                            c.name,
                            removed.join(", ")
                        ),
                    );
                }
            }
            (
                ObjectType::View | ObjectType::Function | ObjectType::Sequence | ObjectType::Enum,
                Action::Dropped,
            ) => {
                let at = attr
                    .relation_gone
                    .get(&c.name)
                    .copied()
                    .or_else(|| mentioned(inp.stmts, &c.name));
                push(
                    "dropped-object",
                    Verdict::Risky,
                    at,
                    &c.name,
                    format!(
                        "{} {} was dropped: code that still uses it fails",
                        c.object.as_str(),
                        c.name
                    ),
                );
            }
            (ObjectType::Table | ObjectType::Column, Action::Renamed) => {
                let at = mentioned(inp.stmts, c.before.as_deref().unwrap_or(&c.name));
                push(
                    "renamed-object",
                    Verdict::Risky,
                    at,
                    &c.name,
                    format!(
                        "{} {} was renamed from {}: running code that uses the old name fails",
                        c.object.as_str(),
                        c.name,
                        c.before.as_deref().unwrap_or("?")
                    ),
                );
            }
            _ => {}
        }
    }
    for (i, st) in inp.exec.statements.iter().enumerate() {
        let rewritten_tables: Vec<&str> = st
            .rewrites
            .iter()
            .filter(|r| is_table_kind(&r.object_kind))
            .map(|r| r.object.as_str())
            .collect();
        for r in &st.rewrites {
            if is_table_kind(&r.object_kind) {
                push(
                    "table-rewrite",
                    Verdict::Risky,
                    Some(i),
                    &r.object,
                    format!(
                        "{} {} was rewritten: every row is copied while the table is locked",
                        r.object_kind, r.object
                    ),
                );
            } else if r.object_kind.contains("index") && rewritten_tables.is_empty() {
                push(
                    "index-rebuild",
                    Verdict::Risky,
                    Some(i),
                    &r.object,
                    format!("index {} was rebuilt while locked", r.object),
                );
            }
        }
        for l in &st.locks {
            if !is_table_kind(&l.object_kind) || rewritten_tables.contains(&l.object.as_str()) {
                continue;
            }
            if l.blocks_reads {
                push(
                    "access-exclusive-lock",
                    Verdict::Risky,
                    Some(i),
                    &l.object,
                    format!(
                        "took {} on {}: blocks {} until the transaction ends, and queues behind any running query",
                        l.mode, l.object, l.blocks
                    ),
                );
            } else if l.blocks_writes {
                push(
                    "write-blocking-lock",
                    Verdict::Risky,
                    Some(i),
                    &l.object,
                    format!(
                        "took {} on {}: blocks {} until the transaction ends",
                        l.mode, l.object, l.blocks
                    ),
                );
            }
        }
    }
    if !inp.fk_violations.is_empty() {
        let tables: Vec<String> = inp
            .fk_violations
            .iter()
            .map(|v| v.table.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        push(
            "foreign-key-violation",
            Verdict::Risky,
            None,
            &tables.join(", "),
            format!(
                "{} row(s) violate foreign keys after this file (PRAGMA foreign_key_check)",
                inp.fk_violations.len()
            ),
        );
    }
    out
}

/// The worst verdict among findings (safe when there are none).
pub fn worst(findings: &[DynamicFinding]) -> Verdict {
    findings
        .iter()
        .fold(Verdict::Safe, |v, f| v.worst(f.verdict))
}
