//! PostgreSQL statements that run while an earlier statement of the same transaction holds an
//! ACCESS EXCLUSIVE lock on an existing table (reported once per file).

use super::*;
use crate::rules::facts::UnderLock;
use crate::rules::locks::{self, ACCESS_EXCLUSIVE, TakenLock, Tx};
use crate::sql::ir::{AlterAction, Constraint, ConstraintKind, ObjName, ObjectKind, Op, Parser};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "lock-held-across-statements",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "Statements run while an ACCESS EXCLUSIVE lock taken earlier in the transaction is still held",
        why: "PostgreSQL releases table locks only when the transaction ends. Once a statement has taken an ACCESS EXCLUSIVE lock on an existing table (most ALTER TABLE forms, TRUNCATE, CLUSTER, LOCK TABLE, DROP INDEX, REFRESH MATERIALIZED VIEW), every later statement of the same transaction runs while every read and write of that table waits: an index build, a data change, or an ALTER of another table that first has to wait for its own lock turns a millisecond schema change into minutes of downtime. Reported once per file, on the first such statement, naming the table and the statement that took the lock. The transaction is the migrator's (the whole file) unless the file is marked `-- migsafe:no-transaction`, in which case explicit BEGIN … COMMIT blocks delimit it. Not counted as later statements: SET, RESET, SHOW, transaction control, the DO wrapper (the statements inside it are), further ALTER TABLE statements of the locked table (judged by their own rules and multiple-alters-same-table), UPDATE/DELETE of the locked table (backfill-in-ddl-transaction), and quick catalog-only statements that cannot wait for a lock on another existing table: COMMENT, GRANT, CREATE VIEW/TYPE/FUNCTION/PROCEDURE/SEQUENCE/SCHEMA/DOMAIN, ALTER SEQUENCE, and CREATE TABLE, ALTER TABLE or CREATE INDEX of tables created in the file whose foreign keys reference only new or already locked tables (so a compatibility view created right after a rename is fine). Locks on tables created earlier in the file and DROP TABLE are not counted.",
        safer: "Give the statement that takes the ACCESS EXCLUSIVE lock a transaction of its own: move the other statements to a separate migration (or before the locking statement), and keep each lock-taking migration to one short statement with `SET LOCAL lock_timeout`.",
        anchors: &["eugene:E4"],
        bad: include_str!("../../fixtures/rules/lock-held-across-statements/bad.sql"),
        good: include_str!("../../fixtures/rules/lock-held-across-statements/good.sql"),
    },
    check,
};

/// Tables a statement reads or writes as its main target, for the exemptions.
fn alter_table(stmt: &Statement) -> Option<&ObjName> {
    stmt.ops.iter().find_map(|op| match op {
        Op::AlterTable { table, .. } => Some(table),
        _ => None,
    })
}

fn data_change_table(stmt: &Statement) -> Option<&ObjName> {
    stmt.ops.iter().find_map(|op| match op {
        Op::Update { table: Some(t), .. } | Op::Delete { table: Some(t), .. } => Some(t),
        _ => None,
    })
}

/// Whether `stmt` counts as a later statement that prolongs the held locks.
fn counts(ctx: &Ctx, stmt: &Statement, held: &[(usize, TakenLock)]) -> bool {
    if locks::session_only(stmt) || stmt.ops.iter().any(|op| matches!(op, Op::Do { .. })) {
        return false;
    }
    // an unparsed line of a DO block is most likely PL/pgSQL (a DECLARE entry), not SQL; dynamic
    // SQL (EXECUTE) does run
    if stmt.nested_in.is_some() && stmt.parser == Parser::None && stmt.kind != "dynamic_sql" {
        return false;
    }
    let covered = |t: &ObjName| held.iter().any(|(_, l)| l.may_cover(t));
    if let Some(t) = alter_table(stmt).or_else(|| data_change_table(stmt))
        && covered(t)
    {
        return false;
    }
    !catalog_only(ctx, stmt, &covered)
}

/// Statements that only add catalog entries, touch no existing rows and take no lock that could
/// wait on an existing table other than the ones already held: COMMENT, GRANT, CREATE VIEW,
/// TYPE, FUNCTION, PROCEDURE, SEQUENCE, SCHEMA, DOMAIN, ALTER SEQUENCE, and CREATE TABLE /
/// ALTER TABLE / CREATE INDEX of new tables whose foreign keys reference only new or already
/// locked tables.
fn catalog_only(ctx: &Ctx, stmt: &Statement, covered: &dyn Fn(&ObjName) -> bool) -> bool {
    let free = |t: &ObjName| !ctx.is_existing(t) || covered(t);
    let fk_free = |c: &Constraint| match &c.kind {
        ConstraintKind::ForeignKey { ref_table, .. } => free(ref_table),
        _ => true,
    };
    !stmt.ops.is_empty()
        && stmt.ops.iter().all(|op| match op {
            Op::Comment | Op::Grant | Op::CreateType { .. } => true,
            Op::CreateView {
                materialized: false,
                ..
            } => true,
            Op::CreateRoutine { kind, .. } => {
                matches!(kind, ObjectKind::Function | ObjectKind::Procedure)
            }
            Op::CreateOther { what } | Op::AlterOther { what } => matches!(
                what.as_str(),
                "CREATE SEQUENCE" | "CREATE SCHEMA" | "CREATE DOMAIN" | "ALTER SEQUENCE"
            ),
            Op::CreateTable {
                as_select: false,
                columns,
                constraints,
                ..
            } => {
                columns
                    .iter()
                    .filter_map(|c| c.references.as_ref())
                    .all(free)
                    && constraints.iter().all(fk_free)
            }
            Op::CreateIndex { table, .. } => !ctx.is_existing(table),
            Op::AlterTable { table, items, .. } => {
                !ctx.is_existing(table)
                    && items.iter().all(|i| match &i.action {
                        AlterAction::AddConstraint(c) => fk_free(c),
                        AlterAction::AddColumn { column, .. } => {
                            column.references.as_ref().is_none_or(free)
                        }
                        _ => true,
                    })
            }
            _ => false,
        })
}

/// Before the rules run on the statement at `ctx.position`: whether it is the first statement of
/// the file that runs under an ACCESS EXCLUSIVE lock held from an earlier statement of its
/// transaction (recorded in `state.found`). Later statements cannot change the answer for an
/// earlier one, so the facts are built one statement at a time.
pub(crate) fn before(ctx: &Ctx, s: &Statement, state: &mut UnderLock) {
    let i = ctx.position;
    if state.found.is_some() {
        return;
    }
    let tx = match locks::transactions(ctx).get(i) {
        Some(&tx) => tx,
        None => return,
    };
    // a lock taken outside a multi-statement transaction is released right away
    if !locks::runs(ctx.statements, i) || tx == Tx::Own {
        return;
    }
    {
        let txs = locks::transactions(ctx);
        state.held.retain(|(j, _)| txs[*j].same(tx));
    }
    if let Some((j, l)) = state.held.first()
        && counts(ctx, s, &state.held)
    {
        state.found = Some((i, *j, l.clone()));
    }
}

/// After the rules ran on the statement at `ctx.position`: the ACCESS EXCLUSIVE lock it takes,
/// if any, is held from now on.
pub(crate) fn after(ctx: &Ctx, s: &Statement, state: &mut UnderLock) {
    let i = ctx.position;
    if state.found.is_some() {
        return;
    }
    let Some(&tx) = locks::transactions(ctx).get(i) else {
        return;
    };
    if !locks::runs(ctx.statements, i) || tx == Tx::Own {
        return;
    }
    if let Some(l) = locks::statement_lock(ctx, s)
        && l.mode == ACCESS_EXCLUSIVE
        && l.on_existing_table()
        && l.description != "DROP TABLE"
        && !(l.description == "REFRESH MATERIALIZED VIEW"
            && l.tables.iter().all(|v| created_before(ctx, v, i)))
    {
        let mut l = l;
        // after a rename the lock is held on the table under its new name
        for op in &s.ops {
            if let Op::AlterTable { items, .. } = op {
                for item in items {
                    if let AlterAction::RenameTable { to } = &item.action {
                        l.tables.push(to.clone());
                    }
                }
            }
        }
        state.held.push((i, l));
    }
}

/// True when a view (or table) `name` is created by a statement before index `i`.
fn created_before(ctx: &Ctx, name: &ObjName, i: usize) -> bool {
    !ctx.is_existing(name)
        || ctx.statements[..i]
            .iter()
            .flat_map(|s| &s.ops)
            .any(|op| matches!(op, Op::CreateView { name: n, .. } if n.key() == name.key()))
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let Some((at, j, lock)) = ctx.facts.under_lock.borrow().found.clone() else {
        return Vec::new();
    };
    if at != ctx.position {
        return Vec::new();
    }
    let line = locks::line_of(ctx, ctx.statements[j].span.start);
    // the tables as the locking statement names them (not under a name it renamed them to)
    let named = locks::statement_lock(ctx, &ctx.statements[j])
        .map(|l| l.tables)
        .unwrap_or_default();
    let on = if named.is_empty() {
        lock.on.clone()
    } else {
        locks::quoted(&named.iter().collect::<Vec<_>>())
    };
    vec![Hit::new(
        stmt.span,
        format!(
            "runs while the ACCESS EXCLUSIVE lock that {} on line {line} took on {on} is still held (same transaction): every read and write of {on} keeps waiting for as long as this statement runs, and waits for its own locks, until the transaction commits; commit the locking statement on its own first",
            lock.description
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "lock-held-across-statements";
    const NO_TX: &str = "-- migsafe:no-transaction\n";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn once_per_file_naming_table_and_statement() {
        let sql = "ALTER TABLE orders ADD COLUMN a int;\nSET LOCAL statement_timeout = '1min';\n\
                   ALTER TABLE customers ADD COLUMN b int;\nCREATE INDEX i ON items (c);";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(
            h[0].contains("ALTER TABLE on line 1 took on `orders`"),
            "{h:?}"
        );
        // the later statement is the ALTER of customers (line 3), not the SET
        let report = crate::classify::check_sql(sql, &Default::default());
        let f = report.findings.iter().find(|f| f.rule == R).unwrap();
        assert_eq!(f.line, 3);
    }

    #[test]
    fn transaction_boundaries() {
        // COMMIT right after the lock: nothing runs under it
        let sql = format!(
            "{NO_TX}BEGIN;\nALTER TABLE orders ADD COLUMN a int;\nCOMMIT;\nCREATE INDEX i ON customers (b);"
        );
        assert!(hits(R, &sql, Dialect::Postgres).is_empty());
        // without a migrator transaction every statement commits on its own
        let auto = format!(
            "{NO_TX}ALTER TABLE orders ADD COLUMN a int;\nCREATE INDEX i ON customers (b);"
        );
        assert!(hits(R, &auto, Dialect::Postgres).is_empty());
        // an explicit transaction holds it
        let explicit =
            format!("{NO_TX}BEGIN;\nTRUNCATE orders;\nINSERT INTO audit VALUES (1);\nCOMMIT;");
        let h = hits(R, &explicit, Dialect::Postgres);
        assert!(h[0].contains("TRUNCATE on line 3"), "{h:?}");
    }

    #[test]
    fn exemptions() {
        for sql in [
            // new table, weaker lock, same-table ALTER and backfill, drop
            "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN b int;\nCREATE INDEX i ON orders (a);",
            "ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES customers (id) NOT VALID;\nCREATE INDEX i ON items (a);",
            "ALTER TABLE orders ADD COLUMN a int;\nALTER TABLE orders ADD COLUMN b int;",
            "ALTER TABLE orders ADD COLUMN a int;\nUPDATE orders SET a = 1 WHERE id < 10;",
            "DROP TABLE legacy;\nCREATE INDEX i ON orders (a);",
            "ALTER TABLE orders ADD COLUMN a int;\nRESET lock_timeout;\nSHOW lock_timeout;",
            // catalog-only companions: comment, compatibility view, new table referencing it
            "ALTER TABLE orders ADD COLUMN a int;\nCOMMENT ON COLUMN orders.a IS 'x';",
            "ALTER TABLE customers RENAME TO clients;\nCREATE VIEW customers AS SELECT * FROM clients;",
            "ALTER TABLE customers RENAME TO clients;\nALTER TABLE clients ADD COLUMN a int;",
            "ALTER TABLE orders ADD COLUMN a int;\nCREATE TABLE notes (id int, order_id int REFERENCES orders (id));\nCREATE INDEX n_o ON notes (order_id);",
        ] {
            assert!(hits(R, sql, Dialect::Postgres).is_empty(), "{sql}");
        }
        // a same-table index build is not exempt: it runs under the ACCESS EXCLUSIVE lock
        let idx = "ALTER TABLE orders ADD COLUMN a int;\nCREATE INDEX i ON orders (a);";
        assert_eq!(hits(R, idx, Dialect::Postgres).len(), 1);
        // a new table referencing another existing table waits for a lock on it
        let fk = "ALTER TABLE orders ADD COLUMN a int;\nCREATE TABLE notes (id int, c int REFERENCES customers (id));";
        assert_eq!(hits(R, fk, Dialect::Postgres).len(), 1);
    }

    #[test]
    fn do_blocks() {
        let sql = "ALTER TABLE orders ADD COLUMN a int;\nDO $$ BEGIN UPDATE customers SET x = 1 WHERE id = 1; END $$;";
        let report = crate::classify::check_sql(sql, &Default::default());
        let f: Vec<_> = report.findings.iter().filter(|f| f.rule == R).collect();
        assert_eq!(f.len(), 1, "{f:?}");
        // reported on the UPDATE inside the block, not on the DO wrapper
        assert_eq!(report.statements[f[0].statement_index].kind, "update");
        // a DO block is one transaction even when the file runs without one
        let no_tx = format!(
            "{NO_TX}DO $$ BEGIN ALTER TABLE orders ADD COLUMN a int; CREATE INDEX i ON customers (b); END $$;"
        );
        assert_eq!(hits(R, &no_tx, Dialect::Postgres).len(), 1);
        let apart = format!(
            "{NO_TX}ALTER TABLE orders ADD COLUMN a int;\nDO $$ BEGIN CREATE INDEX i ON customers (b); END $$;"
        );
        assert!(hits(R, &apart, Dialect::Postgres).is_empty());
        // PL/pgSQL declarations are not statements
        let declare = "ALTER TABLE orders ADD COLUMN a int;\nDO $$ DECLARE x int; r RECORD; BEGIN NULL; END $$;";
        assert!(hits(R, declare, Dialect::Postgres).is_empty());
        // statements in a function body do not run at migration time (and CREATE FUNCTION is
        // catalog-only)
        let func = "ALTER TABLE orders ADD COLUMN a int;\nCREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ UPDATE customers SET x = 1 $$;";
        assert!(hits(R, func, Dialect::Postgres).is_empty());
    }
}
