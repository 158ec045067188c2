//! A second `ALTER TABLE` of the same existing table that could have been one statement.

use super::*;
use crate::rules::facts::AlterScan;
use crate::rules::locks;
use crate::sql::ir::{AlterAction, AlterItem, ObjName, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "multiple-alters-same-table",
        category: Category::Lock,
        verdict: Verdict::Caution,
        dialects: &[Dialect::Postgres, Dialect::Mysql],
        summary: "Several ALTER TABLE statements on one table where one would do",
        why: "Every ALTER TABLE statement acquires its own lock on the table (ACCESS EXCLUSIVE for most PostgreSQL actions, a metadata lock in MySQL), so each one queues behind running queries again and makes every later query queue behind it; and each may scan or rewrite the table (PostgreSQL) or rebuild it (MySQL) again, where one statement with several actions does the work in one pass. Reported on the second and later ALTER TABLE of a table that existed before the file when only SET/SHOW statements, COMMENTs or ALTER TABLE statements of other tables come between them (anything else may be a step the later ALTER depends on, such as a backfill). Actions that PostgreSQL cannot combine with others (RENAME, SET SCHEMA, ATTACH/DETACH PARTITION) and VALIDATE CONSTRAINT (which belongs in a later transaction) are not counted. Not for SQLite, whose ALTER TABLE takes one action per statement.",
        safer: "Combine the actions into one statement, separated by commas: `ALTER TABLE orders ADD COLUMN note text, ALTER COLUMN status SET DEFAULT 'new';`",
        anchors: &["eugene:W12"],
        bad: include_str!("../../fixtures/rules/multiple-alters-same-table/bad.sql"),
        good: include_str!("../../fixtures/rules/multiple-alters-same-table/good.sql"),
    },
    check,
};

/// Whether an ALTER TABLE action can share a statement with others.
fn combinable(item: &AlterItem, dialect: Dialect) -> bool {
    match &item.action {
        AlterAction::ValidateConstraint { .. } => false,
        AlterAction::RenameColumn { .. }
        | AlterAction::RenameTable { .. }
        | AlterAction::RenameConstraint { .. }
        | AlterAction::DetachPartition { .. } => dialect != Dialect::Postgres,
        AlterAction::Other { what, .. } => {
            let w = what.to_ascii_uppercase();
            !(w.contains("PARTITION") || w.starts_with("SET SCHEMA") || w.starts_with("RENAME"))
        }
        _ => true,
    }
}

/// The table of a combinable ALTER TABLE statement.
fn combinable_alter(stmt: &Statement, dialect: Dialect) -> Option<&ObjName> {
    match stmt.ops.as_slice() {
        [Op::AlterTable { table, items, .. }]
            if !items.is_empty() && items.iter().all(|i| combinable(i, dialect)) =>
        {
            Some(table)
        }
        _ => None,
    }
}

/// Records, after the rules ran on a statement, what later ALTER TABLEs need to know: the last
/// ALTER TABLE of each table and the last statement no ALTER TABLE may be combined across, per
/// nesting level (statements inside a DO block are compared with each other).
pub(crate) fn after(ctx: &Ctx, stmt: &Statement, scan: &mut AlterScan) {
    if !locks::runs(ctx.statements, ctx.position) {
        return;
    }
    let pos = ctx.position;
    // a statement migsafe did not understand may be a step a later ALTER depends on
    let mut barrier = stmt.ops.is_empty();
    for op in &stmt.ops {
        match op {
            Op::AlterTable { table, .. } => {
                let combinable =
                    stmt.ops.len() == 1 && combinable_alter(stmt, ctx.dialect).is_some();
                scan.last
                    .insert((stmt.nested_in, table.key()), (pos, combinable));
            }
            // neutral between ALTER TABLEs of any table
            Op::Set { .. } | Op::Comment => {}
            Op::Other { what }
                if {
                    let w = what.to_ascii_uppercase();
                    w.starts_with("RESET") || w.starts_with("SHOW")
                } => {}
            _ => barrier = true,
        }
    }
    if barrier {
        scan.barrier.insert(stmt.nested_in, pos);
    }
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    if !locks::runs(ctx.statements, ctx.position) {
        return Vec::new();
    }
    let Some(table) = combinable_alter(stmt, ctx.dialect) else {
        return Vec::new();
    };
    if !ctx.is_existing(table) {
        return Vec::new();
    }
    let earlier = {
        let scan = ctx.facts.alters.borrow();
        let barrier = scan.barrier.get(&stmt.nested_in).copied();
        match scan.last.get(&(stmt.nested_in, table.key())) {
            Some(&(j, true)) if barrier.is_none_or(|b| b < j) => Some(j),
            _ => None,
        }
    };
    let Some(j) = earlier else {
        return Vec::new();
    };
    let line = locks::line_of(ctx, ctx.statements[j].span.start);
    let cost = match ctx.dialect {
        Dialect::Mysql => {
            "each ALTER TABLE takes the table's metadata lock again (waiting for every running transaction on it) and may rebuild the table again"
        }
        _ => {
            "each ALTER TABLE queues for its own lock on the table again (blocking the queries behind it while it waits) and may scan or rewrite the table again"
        }
    };
    vec![Hit::new(
        stmt.span,
        format!(
            "another ALTER TABLE of `{table}` (an earlier one is on line {line}): {cost}; combine the actions into one ALTER TABLE, separated by commas"
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "multiple-alters-same-table";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn second_and_later_reported() {
        let sql = "ALTER TABLE orders ADD COLUMN a int;\nALTER TABLE customers ADD COLUMN x int;\n\
                   COMMENT ON COLUMN orders.a IS 'a';\nALTER TABLE orders ADD COLUMN b int;\nALTER TABLE orders ADD COLUMN c int;";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 2, "{h:?}");
        assert!(
            h[0].contains("`orders` (an earlier one is on line 1)"),
            "{h:?}"
        );
        assert!(h[1].contains("line 4"), "{h:?}");
        let m = hits(
            R,
            "ALTER TABLE t ADD COLUMN a int;\nALTER TABLE t ADD COLUMN b int;",
            Dialect::Mysql,
        );
        assert!(m[0].contains("rebuild"), "{m:?}");
        assert!(
            hits(
                R,
                "ALTER TABLE t ADD COLUMN a int;\nALTER TABLE t ADD COLUMN b int;",
                Dialect::Sqlite
            )
            .is_empty()
        );
    }

    #[test]
    fn dependent_steps_and_uncombinable_actions() {
        for sql in [
            // a backfill between the two
            "ALTER TABLE t ADD COLUMN a int;\nUPDATE t SET a = 0 WHERE a IS NULL;\nALTER TABLE t ALTER COLUMN a SET NOT NULL;",
            // NOT VALID then VALIDATE
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT c;",
            // renames cannot be combined in PostgreSQL
            "ALTER TABLE t ADD COLUMN a int;\nALTER TABLE t RENAME COLUMN b TO c;",
            // a transaction boundary between them
            "ALTER TABLE t ADD COLUMN a int;\nCOMMIT;\nALTER TABLE t ADD COLUMN b int;",
            // new table
            "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN b int;\nALTER TABLE t ADD COLUMN c int;",
        ] {
            assert!(hits(R, sql, Dialect::Postgres).is_empty(), "{sql}");
        }
        // MySQL combines renames with other actions
        let m = "ALTER TABLE t ADD COLUMN a int;\nALTER TABLE t RENAME COLUMN b TO c;";
        assert_eq!(hits(R, m, Dialect::Mysql).len(), 1);
    }
}
