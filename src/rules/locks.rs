//! Shared knowledge for the lock and transaction rules: which PostgreSQL lock a statement takes
//! on which existing tables, which transaction each statement of a file runs in, and small
//! helpers to read statement text the statement model does not keep (names after keywords).

use super::*;
use crate::sql::ir::{AlterAction, AlterItem, ConstraintKind, ObjName, ObjectKind, Op};
use crate::sql::lexer::{Lexer, TokKind};

/// PostgreSQL table lock modes that conflict with some application traffic, weakest first.
pub(crate) const ORDER: &[&str] = &[
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
];

pub(crate) const ACCESS_EXCLUSIVE: &str = "ACCESS EXCLUSIVE";

pub(crate) fn rank(mode: &str) -> usize {
    ORDER.iter().position(|m| *m == mode).unwrap_or(ORDER.len())
}

/// The lock a statement takes, as far as the rules need it.
#[derive(Debug, Clone)]
pub(crate) struct TakenLock {
    /// The strongest PostgreSQL lock mode the statement takes (upper case).
    pub mode: &'static str,
    /// Tables (or materialized views) that existed before this file and get the lock, when the
    /// statement names them.
    pub tables: Vec<ObjName>,
    /// The statement does not say which table it locks (`DROP INDEX i`, `CLUSTER`,
    /// `REINDEX INDEX i`), so `tables` is empty although the lock is on some table.
    pub tables_unknown: bool,
    /// The lock is on a type (`ALTER TYPE`), not on a table.
    pub on_type: bool,
    /// The statement, for messages: `ALTER TABLE`, ``DROP INDEX `i` ``, `CLUSTER`.
    pub description: String,
    /// What the lock is on, for messages: `` `orders` ``, `the table the index belongs to`.
    pub on: String,
}

impl TakenLock {
    fn new(description: impl Into<String>, mode: &'static str, on: impl Into<String>) -> Self {
        TakenLock {
            mode,
            tables: Vec::new(),
            tables_unknown: false,
            on_type: false,
            description: description.into(),
            on: on.into(),
        }
    }
    fn tables(mut self, tables: Vec<ObjName>) -> Self {
        self.tables = tables;
        self
    }
    fn unknown(mut self) -> Self {
        self.tables_unknown = true;
        self
    }

    /// True when the lock is on `table`, or possibly on it (the locked table is not named).
    pub fn may_cover(&self, table: &ObjName) -> bool {
        self.tables.iter().any(|t| t.key() == table.key())
    }

    /// The lock is on a table that existed before the file (named or not).
    pub fn on_existing_table(&self) -> bool {
        !self.on_type && (self.tables_unknown || !self.tables.is_empty())
    }
}

/// The table-level lock one ALTER TABLE action takes.
pub(crate) fn alter_lock(item: &AlterItem) -> &'static str {
    match &item.action {
        AlterAction::AddConstraint(c) if matches!(c.kind, ConstraintKind::ForeignKey { .. }) => {
            "SHARE ROW EXCLUSIVE"
        }
        AlterAction::ValidateConstraint { .. }
        | AlterAction::DetachPartition {
            concurrently: true, ..
        } => "SHARE UPDATE EXCLUSIVE",
        AlterAction::Other { what, .. } => {
            let w = what.to_ascii_uppercase();
            if w.starts_with("ATTACH PARTITION")
                || w.contains("SET STATISTICS")
                || w.starts_with("CLUSTER ON")
                || w.starts_with("SET WITHOUT CLUSTER")
            {
                "SHARE UPDATE EXCLUSIVE"
            } else {
                ACCESS_EXCLUSIVE
            }
        }
        _ => ACCESS_EXCLUSIVE,
    }
}

pub(crate) fn quoted(names: &[&ObjName]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The lock the first lock-taking operation of `stmt` takes (PostgreSQL), or `None` when it
/// takes none that conflicts with application traffic (or only on tables created earlier in
/// this file). `CLUSTER`, `VACUUM FULL`, `REINDEX`, `LOCK`, `DROP INDEX` and `ALTER TYPE` are
/// returned whatever they name.
pub(crate) fn statement_lock(ctx: &Ctx, stmt: &Statement) -> Option<TakenLock> {
    let existing = |names: Vec<ObjName>| -> Vec<ObjName> {
        names.into_iter().filter(|n| ctx.is_existing(n)).collect()
    };
    for op in &stmt.ops {
        let found = match op {
            Op::AlterTable { table, items, .. } if ctx.is_existing(table) && !items.is_empty() => {
                let mode = items
                    .iter()
                    .map(alter_lock)
                    .max_by_key(|m| rank(m))
                    .unwrap_or(ACCESS_EXCLUSIVE);
                Some(
                    TakenLock::new("ALTER TABLE", mode, format!("`{table}`"))
                        .tables(vec![table.clone()]),
                )
            }
            Op::CreateIndex {
                table,
                concurrently: false,
                ..
            } if ctx.is_existing(table) => Some(
                TakenLock::new("CREATE INDEX", "SHARE", format!("`{table}`"))
                    .tables(vec![table.clone()]),
            ),
            Op::Drop {
                kind: ObjectKind::Table,
                names,
                ..
            } => {
                let existing: Vec<&ObjName> = names.iter().filter(|n| ctx.is_existing(n)).collect();
                (!existing.is_empty()).then(|| {
                    TakenLock::new("DROP TABLE", ACCESS_EXCLUSIVE, quoted(&existing))
                        .tables(existing.iter().map(|n| (*n).clone()).collect())
                })
            }
            Op::Drop {
                kind: ObjectKind::Index,
                concurrently: false,
                names,
                ..
            } => Some(
                TakenLock::new(
                    format!("DROP INDEX {}", quoted(&names.iter().collect::<Vec<_>>())),
                    ACCESS_EXCLUSIVE,
                    "the table the index belongs to",
                )
                .unknown(),
            ),
            Op::Truncate { tables, .. } => {
                let existing: Vec<&ObjName> =
                    tables.iter().filter(|n| ctx.is_existing(n)).collect();
                (!existing.is_empty()).then(|| {
                    TakenLock::new("TRUNCATE", ACCESS_EXCLUSIVE, quoted(&existing))
                        .tables(existing.iter().map(|n| (*n).clone()).collect())
                })
            }
            // ACCESS SHARE, ROW SHARE and ROW EXCLUSIVE conflict only with schema changes and
            // the strong modes, not with reads and writes
            Op::Lock { mode, .. }
                if ["ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE"]
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(mode.trim())) =>
            {
                None
            }
            Op::Lock { tables, mode } => {
                let mode = ORDER
                    .iter()
                    .copied()
                    .find(|m| m.eq_ignore_ascii_case(mode.trim()))
                    .unwrap_or(ACCESS_EXCLUSIVE);
                let lock = if tables.is_empty() {
                    let named = target_names(ctx, stmt);
                    let l = TakenLock::new("LOCK TABLE", mode, "the locked tables");
                    if named.is_empty() {
                        l.unknown()
                    } else {
                        let named = existing(named);
                        if named.is_empty() {
                            // only tables created earlier in this file: nothing waits
                            continue;
                        }
                        let on = quoted(&named.iter().collect::<Vec<_>>());
                        TakenLock::new("LOCK TABLE", mode, on).tables(named)
                    }
                } else {
                    TakenLock::new(
                        "LOCK TABLE",
                        mode,
                        quoted(&tables.iter().collect::<Vec<_>>()),
                    )
                    .tables(existing(tables.clone()))
                };
                Some(lock)
            }
            Op::Cluster => {
                let named = target_names(ctx, stmt);
                let l = TakenLock::new("CLUSTER", ACCESS_EXCLUSIVE, "the clustered table");
                Some(if named.is_empty() {
                    l.unknown()
                } else {
                    l.tables(existing(named))
                })
            }
            Op::Vacuum { full: true } => {
                let named = target_names(ctx, stmt);
                let l = TakenLock::new("VACUUM FULL", ACCESS_EXCLUSIVE, "the vacuumed tables");
                Some(if named.is_empty() {
                    l.unknown()
                } else {
                    l.tables(existing(named))
                })
            }
            Op::Reindex {
                concurrently: false,
                target,
            } => {
                let l = TakenLock::new(
                    "REINDEX",
                    "SHARE",
                    "the table (plus ACCESS EXCLUSIVE on its rebuilt indexes, which blocks reads that use them)",
                );
                let named = target_names(ctx, stmt);
                Some(
                    if target.eq_ignore_ascii_case("table") && !named.is_empty() {
                        l.tables(existing(named))
                    } else {
                        l.unknown()
                    },
                )
            }
            Op::RefreshMaterializedView {
                name,
                concurrently: false,
            } => Some(
                // a view created earlier in the file is not told apart here (that needs a scan
                // of the file): callers that care use `created_in_file`
                TakenLock::new(
                    "REFRESH MATERIALIZED VIEW",
                    ACCESS_EXCLUSIVE,
                    format!("`{name}`"),
                )
                .tables(vec![name.clone()]),
            ),
            Op::AlterType { name, .. } => {
                let mut l =
                    TakenLock::new("ALTER TYPE", ACCESS_EXCLUSIVE, format!("type `{name}`"));
                l.on_type = true;
                Some(l)
            }
            // a new table's foreign keys lock the referenced tables while they are checked
            Op::CreateTable {
                columns,
                constraints,
                ..
            } => {
                let mut referenced: Vec<ObjName> = columns
                    .iter()
                    .filter_map(|c| c.references.clone())
                    .chain(constraints.iter().filter_map(|c| match &c.kind {
                        ConstraintKind::ForeignKey { ref_table, .. } => Some(ref_table.clone()),
                        _ => None,
                    }))
                    .filter(|t| ctx.is_existing(t))
                    .collect();
                referenced.dedup_by_key(|t| t.key());
                (!referenced.is_empty()).then(|| {
                    TakenLock::new(
                        "CREATE TABLE with a foreign key",
                        "SHARE ROW EXCLUSIVE",
                        quoted(&referenced.iter().collect::<Vec<_>>()),
                    )
                    .tables(referenced)
                })
            }
            Op::CreateRoutine {
                kind: ObjectKind::Trigger,
                ..
            } => trigger_table(ctx, stmt)
                .filter(|t| ctx.is_existing(t))
                .map(|t| {
                    TakenLock::new("CREATE TRIGGER", "SHARE ROW EXCLUSIVE", format!("`{t}`"))
                        .tables(vec![t])
                }),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Cheap pre-check for [`statement_lock`]: false when `stmt` certainly takes no lock on `table`
/// (so scans over many statements need not build a [`TakenLock`] for each).
pub(crate) fn may_lock(stmt: &Statement, table: &ObjName) -> bool {
    stmt.ops.iter().any(|op| match op {
        Op::AlterTable { table: t, .. } | Op::CreateIndex { table: t, .. } => {
            t.key() == table.key()
        }
        Op::Drop { names, .. } | Op::Truncate { tables: names, .. } => {
            names.iter().any(|n| n.key() == table.key())
        }
        Op::Lock { .. } | Op::Cluster | Op::Vacuum { .. } | Op::Reindex { .. } => true,
        _ => false,
    })
}

// ---------------------------------------------------------------------------------------------
// transactions

/// The transaction a statement runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tx {
    /// On its own (autocommit), or not at all at migration time (a function body).
    Own,
    /// The transaction the migrator wraps the file in.
    Migrator,
    /// The transaction opened by the explicit `BEGIN` at this statement index.
    Explicit(usize),
    /// The implicit transaction of the `DO` block at this index, run outside any other one.
    Block(usize),
}

impl Tx {
    /// True when `self` and `other` are one multi-statement transaction.
    pub fn same(self, other: Tx) -> bool {
        self != Tx::Own && self == other
    }
}

/// True when the statement at index `i` runs when the migration runs: a top-level statement or
/// one inside a `DO` block (not one inside a function or procedure body, which only runs when
/// the routine is called).
pub(crate) fn runs(stmts: &[Statement], i: usize) -> bool {
    match stmts[i].nested_in {
        None => true,
        Some(p) => stmts.get(p).is_some_and(|s| s.kind == "do"),
    }
}

/// For every statement of the file up to the current one, the transaction it runs in (PostgreSQL semantics: a
/// `BEGIN` inside an open transaction is ignored, and the first `COMMIT`/`ROLLBACK` ends the
/// open transaction, the migrator's one included). A `BEGIN` belongs to the transaction it
/// opens, a `COMMIT` to the one it ends. Kept up to date by the classifier (see [`Facts`]).
///
/// [`Facts`]: super::facts::Facts
pub(crate) fn transactions<'c>(ctx: &'c Ctx) -> std::cell::Ref<'c, Vec<Tx>> {
    ctx.facts.transactions()
}

/// The transaction of the statement at `i`, given those of the statements before it and the
/// transaction open after them (updated).
pub(crate) fn step_tx(stmts: &[Statement], i: usize, txs: &[Tx], open: &mut Tx) -> Tx {
    let s = &stmts[i];
    if !runs(stmts, i) {
        Tx::Own
    } else if let Some(p) = s.nested_in {
        match txs.get(p).copied().unwrap_or(*open) {
            Tx::Own => Tx::Block(p),
            tx => tx,
        }
    } else {
        let mut this = *open;
        for op in &s.ops {
            match op {
                Op::Begin if *open == Tx::Own => {
                    *open = Tx::Explicit(i);
                    this = *open;
                }
                Op::Commit | Op::Rollback => *open = Tx::Own,
                _ => {}
            }
        }
        this
    }
}

/// The transaction control of a statement, if it is one.
pub(crate) fn tx_control(stmt: &Statement) -> Option<&'static str> {
    stmt.ops.iter().find_map(|op| match op {
        Op::Begin => Some("BEGIN"),
        Op::Commit => Some("COMMIT"),
        Op::Rollback => Some("ROLLBACK"),
        _ => None,
    })
}

/// Statements that only change or read session state and take no time: they do not extend
/// how long earlier locks are held in any way that matters.
pub(crate) fn session_only(stmt: &Statement) -> bool {
    !stmt.ops.is_empty()
        && stmt.ops.iter().all(|op| match op {
            Op::Set { .. } | Op::Begin | Op::Commit | Op::Rollback | Op::Savepoint => true,
            Op::Other { what } => {
                let w = what.to_ascii_uppercase();
                w.starts_with("RESET") || w.starts_with("SHOW") || w.starts_with("DISCARD")
            }
            _ => false,
        })
}

// ---------------------------------------------------------------------------------------------
// statement text

/// 1-based line of a file offset, for messages that point at another statement.
pub(crate) fn line_of(ctx: &Ctx, offset: usize) -> usize {
    ctx.facts.line_of(offset)
}

/// A token of a statement's text (comments dropped).
#[derive(Debug, Clone)]
pub(crate) struct Word {
    pub kind: TokKind,
    /// As written.
    pub text: String,
}

impl Word {
    pub fn is(&self, kw: &str) -> bool {
        self.kind == TokKind::Word && self.text.eq_ignore_ascii_case(kw)
    }
    /// An identifier as PostgreSQL reads it: unquoted ones fold to lower case.
    pub fn ident(&self) -> Option<String> {
        match self.kind {
            TokKind::Word => Some(self.text.to_lowercase()),
            TokKind::QuotedIdent => {
                let t = &self.text;
                Some(
                    t.get(1..t.len().saturating_sub(1))
                        .unwrap_or("")
                        .to_string(),
                )
            }
            _ => None,
        }
    }
}

/// The tokens of a statement, comments dropped.
pub(crate) fn words(ctx: &Ctx, stmt: &Statement) -> Vec<Word> {
    Lexer::new(ctx.file, stmt.span.start, stmt.span.end, ctx.dialect)
        .filter(|t| !t.is_trivia())
        .map(|t| Word {
            kind: t.kind,
            text: t.text(ctx.file).to_string(),
        })
        .collect()
}

/// A possibly qualified name starting at `words[i]`; returns it and the index after it.
pub(crate) fn name_at(words: &[Word], mut i: usize) -> Option<(ObjName, usize)> {
    let mut parts = vec![words.get(i)?.ident()?];
    i += 1;
    while words.get(i).is_some_and(|w| w.text == ".") {
        let Some(p) = words.get(i + 1).and_then(Word::ident) else {
            break;
        };
        parts.push(p);
        i += 2;
    }
    Some((ObjName::new(parts), i))
}

const OPTION_WORDS: &[&str] = &[
    "full",
    "freeze",
    "verbose",
    "analyze",
    "analyse",
    "table",
    "index",
    "concurrently",
    "only",
];

/// The tables (or indexes) a `CLUSTER`, `VACUUM`, `REINDEX TABLE|INDEX` or `LOCK` statement
/// names: the comma-separated names after the leading keyword, option words and a
/// parenthesised option list, up to `USING`, `ON`, `IN` or a column list.
pub(crate) fn target_names(ctx: &Ctx, stmt: &Statement) -> Vec<ObjName> {
    let w = words(ctx, stmt);
    let mut i = 1;
    if w.first().is_some_and(|f| f.is("reindex")) {
        // REINDEX SCHEMA/DATABASE/SYSTEM name no tables
        if w.iter()
            .skip(1)
            .find(|x| x.kind == TokKind::Word && !x.is("concurrently") && !x.is("verbose"))
            .is_some_and(|x| x.is("schema") || x.is("database") || x.is("system"))
        {
            return Vec::new();
        }
    }
    let mut out = Vec::new();
    loop {
        match w.get(i) {
            Some(x) if x.text == "(" => {
                // option list: skip to the matching parenthesis
                let mut depth = 0;
                while let Some(x) = w.get(i) {
                    if x.text == "(" {
                        depth += 1;
                    } else if x.text == ")" {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    i += 1;
                }
                i += 1;
            }
            Some(x) if OPTION_WORDS.iter().any(|o| x.is(o)) => i += 1,
            _ => break,
        }
    }
    while let Some((name, next)) = name_at(&w, i) {
        let stop = ["using", "on", "in", "nowait"];
        if w[i].kind == TokKind::Word && stop.iter().any(|s| w[i].is(s)) {
            break;
        }
        out.push(name);
        i = next;
        // a column list after a VACUUM table
        if w.get(i).is_some_and(|x| x.text == "(") {
            while w.get(i).is_some_and(|x| x.text != ")") {
                i += 1;
            }
            i += 1;
        }
        if w.get(i).is_some_and(|x| x.text == ",") {
            i += 1;
        } else {
            break;
        }
    }
    // old syntax `CLUSTER index ON table`
    if w.first().is_some_and(|f| f.is("cluster"))
        && let Some(on) = w.iter().position(|x| x.is("on"))
        && let Some((table, _)) = name_at(&w, on + 1)
    {
        return vec![table];
    }
    out
}

/// True when an object named `name` (a table, view or type) is created by an earlier statement
/// of this file, so it has no rows, readers or stored values yet.
/// The table of `CREATE [OR REPLACE] [CONSTRAINT] TRIGGER name … ON table`.
fn trigger_table(ctx: &Ctx, stmt: &Statement) -> Option<ObjName> {
    let w = words(ctx, stmt);
    let at = w.iter().position(|x| x.is("trigger"))?;
    let on = w.iter().skip(at).position(|x| x.is("on"))? + at;
    name_at(&w, on + 1).map(|(n, _)| n)
}

/// True when a lock only concerns objects created earlier in this file (no rows, no traffic):
/// a view or type created here, or a lock on no existing table at all.
pub(crate) fn on_new_object(ctx: &Ctx, stmt: &Statement, lock: &TakenLock) -> bool {
    match stmt.ops.first() {
        Some(Op::RefreshMaterializedView { name, .. }) | Some(Op::AlterType { name, .. }) => {
            created_in_file(ctx, name)
        }
        _ => !lock.on_type && !lock.on_existing_table(),
    }
}

pub(crate) fn created_in_file(ctx: &Ctx, name: &ObjName) -> bool {
    if !ctx.is_existing(name) {
        return true;
    }
    let key = name.key();
    ctx.statements[..ctx.position.min(ctx.statements.len())]
        .iter()
        .flat_map(|s| &s.ops)
        .any(|op| match op {
            Op::CreateView { name: n, .. }
            | Op::CreateType { name: n, .. }
            | Op::CreateTable { table: n, .. } => n.key() == key,
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{CheckOptions, check_sql};

    /// Runs `f` with the context of the last statement of `sql`.
    fn with_last<T>(sql: &str, f: impl Fn(&Ctx, &Statement) -> T) -> T {
        use std::collections::HashSet;
        let stmts = crate::sql::parse_section(sql, 0..sql.len(), Dialect::Postgres);
        let empty = HashSet::new();
        let empty2 = HashSet::new();
        let schema = Schema::default();
        let tx = !sql.starts_with("-- migsafe:no-transaction");
        let facts = super::super::facts::Facts::new(sql, tx);
        let ctx_at = |position: usize| Ctx {
            dialect: Dialect::Postgres,
            version: Version::new(15, 0, 0),
            version_configured: false,
            file: sql,
            migration_tx: tx,
            explicit_tx: false,
            lock_timeout_set: false,
            lock_timeout_reported: false,
            created_here: &empty,
            not_null_checks: &empty2,
            schema: &schema,
            nested: false,
            statements: &stmts,
            position,
            facts: &facts,
            mysql_strict: false,
        };
        for (i, s) in stmts.iter().enumerate() {
            let ctx = ctx_at(i);
            facts.before(&ctx, s);
            if i + 1 < stmts.len() {
                facts.after(&ctx, s);
            }
        }
        let ctx = ctx_at(stmts.len() - 1);
        f(&ctx, stmts.last().unwrap())
    }

    #[test]
    fn names_of_maintenance_statements() {
        let names = |sql: &str| {
            with_last(sql, |c, s| {
                target_names(c, s)
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(names("CLUSTER orders USING orders_pkey"), ["orders"]);
        assert_eq!(names("CLUSTER VERBOSE public.orders"), ["public.orders"]);
        assert_eq!(names("CLUSTER orders_pkey ON orders"), ["orders"]);
        assert!(names("CLUSTER").is_empty());
        assert_eq!(names("VACUUM (FULL, ANALYZE) a, \"B\" (x, y)"), ["a", "B"]);
        assert_eq!(names("VACUUM FULL VERBOSE orders"), ["orders"]);
        assert_eq!(names("REINDEX TABLE CONCURRENTLY orders"), ["orders"]);
        assert_eq!(
            names("REINDEX (VERBOSE) INDEX orders_pkey"),
            ["orders_pkey"]
        );
        assert!(names("REINDEX DATABASE app").is_empty());
        assert_eq!(names("LOCK TABLE a, b IN SHARE MODE"), ["a", "b"]);
    }

    #[test]
    fn lock_modes() {
        let lock = |sql: &str| with_last(sql, statement_lock);
        let l =
            lock("ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES b (id)").unwrap();
        assert_eq!(l.mode, "SHARE ROW EXCLUSIVE");
        assert_eq!(l.tables[0].to_string(), "orders");
        let l = lock("LOCK orders IN SHARE MODE").unwrap();
        assert_eq!(
            (l.mode, l.tables[0].to_string()),
            ("SHARE", "orders".into())
        );
        let l = lock("CLUSTER orders").unwrap();
        assert!(l.on_existing_table() && !l.tables_unknown);
        assert!(lock("ALTER TYPE mood ADD VALUE 'x'").unwrap().on_type);
        assert!(lock("CREATE INDEX CONCURRENTLY i ON t (a)").is_none());
        assert!(lock("SELECT 1").is_none());
    }

    #[test]
    fn transaction_boundaries() {
        let txs = |sql: &str| with_last(sql, |c, _| transactions(c).clone());
        // migrator transaction, ended early by a stray COMMIT
        let t = txs("SELECT 1;\nCOMMIT;\nSELECT 2;\nBEGIN;\nSELECT 3;");
        assert_eq!(
            t,
            [
                Tx::Migrator,
                Tx::Migrator,
                Tx::Own,
                Tx::Explicit(3),
                Tx::Explicit(3)
            ]
        );
        // no migrator transaction: explicit BEGIN … COMMIT, a nested BEGIN is ignored
        let t = txs(
            "-- migsafe:no-transaction\nSELECT 1;\nBEGIN;\nBEGIN;\nSELECT 2;\nCOMMIT;\nSELECT 3;",
        );
        assert_eq!(
            t,
            [
                Tx::Own,
                Tx::Explicit(1),
                Tx::Explicit(1),
                Tx::Explicit(1),
                Tx::Explicit(1),
                Tx::Own
            ]
        );
        assert!(Tx::Migrator.same(Tx::Migrator) && !Tx::Own.same(Tx::Own));
        // check_sql sees the directive too
        let r = check_sql(
            "-- migsafe:no-transaction\nSELECT 1;",
            &CheckOptions::default(),
        );
        assert!(!r.transaction);
    }
}
