//! PostgreSQL `VALIDATE CONSTRAINT c` in the same transaction as the `ADD CONSTRAINT c … NOT
//! VALID` that created it.

use super::*;
use crate::rules::locks;
use crate::sql::ir::{AlterAction, Constraint, ConstraintKind, ObjName, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "validate-in-same-transaction",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "VALIDATE CONSTRAINT in the same transaction as its NOT VALID ADD keeps the ADD's lock during the scan",
        why: "Adding a CHECK or FOREIGN KEY constraint as NOT VALID is fast, and VALIDATE CONSTRAINT then scans the table under a SHARE UPDATE EXCLUSIVE lock that lets reads and writes continue; that split is the whole point. But locks are held until the transaction ends, so when the VALIDATE runs in the same transaction as the ADD, the ADD's lock is still held for the whole scan: ACCESS EXCLUSIVE for a CHECK (every read and write of the table waits), SHARE ROW EXCLUSIVE on both tables for a FOREIGN KEY (every INSERT, UPDATE and DELETE of both waits). Not reported for tables created earlier in the file, or when a COMMIT separates the two statements.",
        safer: "Validate in a later migration, so the ADD's transaction has committed: migration 1 `ALTER TABLE orders ADD CONSTRAINT orders_amount_positive CHECK (amount > 0) NOT VALID;`, migration 2 `ALTER TABLE orders VALIDATE CONSTRAINT orders_amount_positive;`",
        anchors: &[
            "squawk:constraint-missing-not-valid",
            "eugene:E4",
            "strong_migrations:validate_check_constraint",
            "strong_migrations:validate_foreign_key",
        ],
        bad: include_str!("../../fixtures/rules/validate-in-same-transaction/bad.sql"),
        good: include_str!("../../fixtures/rules/validate-in-same-transaction/good.sql"),
    },
    check,
};

/// The NOT VALID constraint `name` of `table` added by `stmt`, before item `before` if given.
fn added_not_valid<'s>(
    stmt: &'s Statement,
    table: &ObjName,
    name: &str,
    before: Option<usize>,
) -> Option<&'s Constraint> {
    stmt.ops.iter().find_map(|op| match op {
        Op::AlterTable {
            table: t, items, ..
        } if t.key() == table.key() => items[..before.unwrap_or(items.len()).min(items.len())]
            .iter()
            .find_map(|i| match &i.action {
                AlterAction::AddConstraint(c) if c.not_valid && c.name.as_deref() == Some(name) => {
                    Some(c)
                }
                _ => None,
            }),
        _ => None,
    })
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let pos = ctx.position;
    let validates = stmt.ops.iter().any(|op| {
        matches!(op, Op::AlterTable { items, .. }
            if items.iter().any(|i| matches!(i.action, AlterAction::ValidateConstraint { .. })))
    });
    if !validates || !locks::runs(ctx.statements, pos) {
        return Vec::new();
    }
    let txs = locks::transactions(ctx);
    let mut hits = Vec::new();
    for op in &stmt.ops {
        let Op::AlterTable { table, items, .. } = op else {
            continue;
        };
        if !ctx.is_existing(table) {
            continue;
        }
        for (k, item) in items.iter().enumerate() {
            let AlterAction::ValidateConstraint { name } = &item.action else {
                continue;
            };
            // the ADD earlier in this statement, or in an earlier statement of this transaction
            let found = added_not_valid(stmt, table, name, Some(k))
                .map(|c| (c, pos))
                .or_else(|| {
                    (0..pos).rev().find_map(|j| {
                        let s = &ctx.statements[j];
                        (locks::runs(ctx.statements, j) && txs[j].same(txs[pos]))
                            .then(|| added_not_valid(s, table, name, None).map(|c| (c, j)))
                            .flatten()
                    })
                });
            let Some((c, j)) = found else {
                continue;
            };
            let line = locks::line_of(ctx, ctx.statements[j].span.start);
            let mode = locks::statement_lock(ctx, &ctx.statements[j])
                .map(|l| l.mode)
                .unwrap_or(locks::ACCESS_EXCLUSIVE);
            let (kind, on, blocks) = match &c.kind {
                ConstraintKind::ForeignKey { ref_table, .. } if mode != locks::ACCESS_EXCLUSIVE => {
                    (
                        "foreign key",
                        format!("`{table}` and `{ref_table}`"),
                        "every INSERT, UPDATE and DELETE of both tables waits",
                    )
                }
                ConstraintKind::ForeignKey { ref_table, .. } => (
                    "foreign key",
                    format!("`{table}` (and SHARE ROW EXCLUSIVE on `{ref_table}`)"),
                    "every read and write of the table waits",
                ),
                ConstraintKind::Check { .. } => (
                    "check constraint",
                    format!("`{table}`"),
                    "every read and write of the table waits",
                ),
                _ => ("constraint", format!("`{table}`"), lock_blocks(mode)),
            };
            hits.push(Hit::new(
                item.span,
                format!(
                    "validates {kind} `{name}` in the same transaction that added it NOT VALID (line {line}): the {mode} lock the ADD took on {on} is still held while VALIDATE scans `{table}`, so {blocks} for the whole scan and NOT VALID gains nothing; validate in a later migration"
                ),
            ));
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "validate-in-same-transaction";
    const NO_TX: &str = "-- migsafe:no-transaction\n";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn foreign_key_locks_both_tables() {
        let sql = "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n\
                   ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(
            h[0].contains("SHARE ROW EXCLUSIVE lock the ADD took on `orders` and `customers`"),
            "{h:?}"
        );
    }

    #[test]
    fn transaction_boundaries() {
        let add = "ALTER TABLE orders ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\n";
        let val = "ALTER TABLE orders VALIDATE CONSTRAINT c;";
        // separate autocommit statements
        assert!(hits(R, &format!("{NO_TX}{add}{val}"), Dialect::Postgres).is_empty());
        // a COMMIT between them
        assert!(
            hits(
                R,
                &format!("{NO_TX}BEGIN;\n{add}COMMIT;\n{val}"),
                Dialect::Postgres
            )
            .is_empty()
        );
        // one explicit transaction
        let h = hits(
            R,
            &format!("{NO_TX}BEGIN;\n{add}{val}\nCOMMIT;"),
            Dialect::Postgres,
        );
        assert!(
            h[0].contains("(line 3)") && h[0].contains("ACCESS EXCLUSIVE"),
            "{h:?}"
        );
        // a constraint added earlier without NOT VALID, or in another migration: nothing
        assert!(hits(R, val, Dialect::Postgres).is_empty());
    }

    #[test]
    fn same_statement_and_new_tables() {
        let one =
            "ALTER TABLE orders ADD CONSTRAINT c CHECK (a > 0) NOT VALID, VALIDATE CONSTRAINT c;";
        assert_eq!(hits(R, one, Dialect::Postgres).len(), 1);
        let new = "CREATE TABLE t (a int);\nALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT c;";
        assert!(hits(R, new, Dialect::Postgres).is_empty());
    }
}
