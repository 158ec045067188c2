//! Facts about the statements before the current one, kept up to date as the classifier walks a
//! file, so rules that look back over the file (transactions, held locks, earlier settings) cost
//! constant time per statement instead of a scan of everything before it: a file of 400,000
//! statements is checked in linear time.
//!
//! The classifier calls [`Facts::before`] with each statement's context before the rules run on
//! it and [`Facts::after`] once they have; rules only read.

use super::Ctx;
use super::locks::{self, TakenLock, Tx};
use crate::sql::Dialect;
use crate::sql::ir::{ObjName, Op, Statement};
use std::cell::{OnceCell, Ref, RefCell};
use std::collections::HashMap;

/// The transaction of every statement walked so far (see [`locks::transactions`]).
#[derive(Debug)]
struct TxState {
    open: Tx,
    txs: Vec<Tx>,
}

/// Incremental state of `lock-held-across-statements`: the ACCESS EXCLUSIVE locks held so far and
/// the first statement found running under one.
#[derive(Debug, Default)]
pub(crate) struct UnderLock {
    pub held: Vec<(usize, TakenLock)>,
    /// (statement running under the lock, statement that took it, the lock)
    pub found: Option<(usize, usize, TakenLock)>,
}

/// Statement-timeout facts for `missing-statement-timeout`.
#[derive(Debug, Default)]
pub(crate) struct TimeoutScan {
    /// A `SET statement_timeout` with a non-zero value ran earlier.
    pub set_before: bool,
    /// A long-running statement came earlier (the rule reports only the first).
    pub long_running_before: bool,
}

#[derive(Debug)]
pub struct Facts {
    line_starts: Vec<usize>,
    tx: RefCell<TxState>,
    pub(crate) under_lock: RefCell<UnderLock>,
    pub(crate) timeout: RefCell<TimeoutScan>,
    /// Statements that may take a lock on a table, by table key (`""` for statements that do not
    /// name it: LOCK, CLUSTER, VACUUM, REINDEX), in file order.
    lockers: RefCell<HashMap<String, Vec<usize>>>,
    /// `multiple-alters-same-table`: per nesting parent, the last statement that is not neutral
    /// for every table, and the last ALTER TABLE of each table (position, combinable).
    pub(crate) alters: RefCell<AlterScan>,
    /// Column lists of the indexes every statement of the file creates, by table key.
    file_indexes: OnceCell<HashMap<String, Vec<Vec<String>>>>,
    /// Columns added by earlier statements of this file: (table key, column).
    added_columns: RefCell<std::collections::HashSet<(String, String)>>,
}

#[derive(Debug, Default)]
pub(crate) struct AlterScan {
    pub barrier: HashMap<Option<usize>, usize>,
    pub last: HashMap<(Option<usize>, String), (usize, bool)>,
}

impl Facts {
    pub fn new(file: &str, migration_tx: bool) -> Facts {
        let mut line_starts = vec![0];
        line_starts.extend(memchr_newlines(file));
        Facts {
            line_starts,
            tx: RefCell::new(TxState {
                open: if migration_tx { Tx::Migrator } else { Tx::Own },
                txs: Vec::new(),
            }),
            under_lock: RefCell::default(),
            timeout: RefCell::default(),
            lockers: RefCell::default(),
            alters: RefCell::default(),
            file_indexes: OnceCell::new(),
            added_columns: RefCell::default(),
        }
    }

    /// 1-based line of a file offset.
    pub fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset).max(1)
    }

    /// The transaction of every statement up to the current one.
    pub(crate) fn transactions(&self) -> Ref<'_, Vec<Tx>> {
        Ref::map(self.tx.borrow(), |t| &t.txs)
    }

    /// Positions of earlier statements that may lock `table` (or name no table), in order.
    pub(crate) fn lockers_of(&self, table: &ObjName) -> Vec<usize> {
        let l = self.lockers.borrow();
        let mut out: Vec<usize> = l
            .get(&table.key())
            .into_iter()
            .chain(l.get(""))
            .flatten()
            .copied()
            .collect();
        out.sort_unstable();
        out
    }

    /// Column lists of indexes created anywhere in the file on `table`.
    pub(crate) fn file_indexes(
        &self,
        statements: &[Statement],
        table: &ObjName,
    ) -> Vec<Vec<String>> {
        self.file_indexes
            .get_or_init(|| super::foreign_key_without_index::indexes_by_table(statements))
            .get(&table.key())
            .cloned()
            .unwrap_or_default()
    }

    /// Whether an earlier statement of this file added `column` to `table` (so it holds no
    /// values from before the migration).
    pub(crate) fn column_added_here(&self, table: &ObjName, column: &str) -> bool {
        self.added_columns
            .borrow()
            .contains(&(table.key(), column.to_string()))
    }

    /// Brings the facts up to the statement at `ctx.position` (before its rules run).
    pub fn before(&self, ctx: &Ctx, stmt: &Statement) {
        let pos = ctx.position;
        {
            let mut guard = self.tx.borrow_mut();
            let t = &mut *guard;
            if t.txs.len() == pos {
                let tx = locks::step_tx(ctx.statements, pos, &t.txs, &mut t.open);
                t.txs.push(tx);
            }
        }
        if ctx.dialect == Dialect::Postgres {
            super::lock_held_across_statements::before(
                ctx,
                stmt,
                &mut self.under_lock.borrow_mut(),
            );
        }
    }

    /// Records what the statement at `ctx.position` did (after its rules ran).
    pub fn after(&self, ctx: &Ctx, stmt: &Statement) {
        let pos = ctx.position;
        if ctx.dialect == Dialect::Postgres {
            super::lock_held_across_statements::after(ctx, stmt, &mut self.under_lock.borrow_mut());
            super::missing_statement_timeout::after(ctx, stmt, &mut self.timeout.borrow_mut());
        }
        super::multiple_alters_same_table::after(ctx, stmt, &mut self.alters.borrow_mut());
        for op in &stmt.ops {
            if let Op::AlterTable { table, items, .. } = op {
                for item in items {
                    if let crate::sql::ir::AlterAction::AddColumn { column, .. } = &item.action {
                        self.added_columns
                            .borrow_mut()
                            .insert((table.key(), column.name.clone()));
                    }
                }
            }
        }
        if locks::runs(ctx.statements, pos) {
            let mut l = self.lockers.borrow_mut();
            for op in &stmt.ops {
                match op {
                    Op::AlterTable { table: t, .. } | Op::CreateIndex { table: t, .. } => {
                        note(&mut l, t.key(), pos)
                    }
                    Op::Drop { names, .. } | Op::Truncate { tables: names, .. } => {
                        for n in names {
                            note(&mut l, n.key(), pos);
                        }
                    }
                    Op::Lock { .. } | Op::Cluster | Op::Vacuum { .. } | Op::Reindex { .. } => {
                        note(&mut l, String::new(), pos)
                    }
                    _ => {}
                }
            }
        }
    }
}

fn note(l: &mut HashMap<String, Vec<usize>>, key: String, pos: usize) {
    let v = l.entry(key).or_default();
    if v.last() != Some(&pos) {
        v.push(pos);
    }
}

fn memchr_newlines(s: &str) -> impl Iterator<Item = usize> + '_ {
    s.bytes()
        .enumerate()
        .filter(|(_, b)| *b == b'\n')
        .map(|(i, _)| i + 1)
}
