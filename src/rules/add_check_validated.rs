//! `CHECK` constraints added to an existing table without `NOT VALID`.

use super::*;
use crate::sql::ir::{AlterAction, ConstraintKind, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "add-check-validated",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: &[Dialect::Postgres, Dialect::Mysql],
        summary: "Adding a CHECK constraint without NOT VALID locks the table while every row is checked",
        why: "PostgreSQL: ALTER TABLE … ADD CHECK takes an ACCESS EXCLUSIVE lock and scans every existing row before it commits, so all reads and writes of the table wait for the scan (and the statement fails if a row violates the check). MySQL 8.0.16+ and MariaDB enforce CHECK constraints by copying the table, which blocks writes for the whole copy; MySQL has no NOT VALID. ADD COLUMN … CHECK is reported too, since the new column is checked against every row. Tables created earlier in the same file and MySQL 5.x (which ignores CHECK) are not reported.",
        safer: "PostgreSQL: add the constraint without checking existing rows, then validate it in a separate transaction (VALIDATE CONSTRAINT takes only SHARE UPDATE EXCLUSIVE):\n  ALTER TABLE orders ADD CONSTRAINT orders_amount_positive CHECK (amount > 0) NOT VALID;\n  ALTER TABLE orders VALIDATE CONSTRAINT orders_amount_positive;\nMySQL: enforce the rule in the application, or run the change with an online schema change tool (gh-ost, pt-online-schema-change) or in a maintenance window.",
        anchors: &[
            "squawk:constraint-missing-not-valid",
            "eugene:E1",
            "strong_migrations:add_check_constraint",
            "atlas:PG305",
        ],
        bad: include_str!("../../fixtures/rules/add-check-validated/bad.sql"),
        good: include_str!("../../fixtures/rules/add-check-validated/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    // MySQL before 8.0.16 parses CHECK and ignores it (MariaDB reports 10.x and enforces it)
    if ctx.dialect == Dialect::Mysql && ctx.version.major < 8 {
        return Vec::new();
    }
    let effect = |table: &dyn std::fmt::Display| match ctx.dialect {
        Dialect::Mysql => format!(
            "MySQL copies table `{table}` to check every row, blocking writes until the copy finishes"
        ),
        _ => format!(
            "every existing row of `{table}` is checked under an ACCESS EXCLUSIVE lock, which {}",
            lock_blocks("ACCESS EXCLUSIVE")
        ),
    };
    let mut hits = Vec::new();
    for op in &stmt.ops {
        let Op::AlterTable { table, items, .. } = op else {
            continue;
        };
        if !ctx.is_existing(table) {
            continue;
        }
        for item in items {
            match &item.action {
                AlterAction::AddConstraint(c) if !c.not_valid => {
                    if let ConstraintKind::Check { expr } = &c.kind {
                        let name = c
                            .name
                            .as_ref()
                            .map(|n| format!(" `{n}`"))
                            .unwrap_or_default();
                        hits.push(Hit::new(
                            c.span,
                            format!(
                                "adds CHECK constraint{name} ({expr}) to `{table}`: {}",
                                effect(table)
                            ),
                        ));
                    }
                }
                AlterAction::AddColumn { column, .. } => {
                    if let Some(expr) = &column.check {
                        hits.push(Hit::new(
                            column.span,
                            format!(
                                "adds column `{}` with CHECK ({expr}) to `{table}`: {}",
                                column.name,
                                effect(table)
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{hits, hits_with};

    const R: &str = "add-check-validated";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn mysql_copies_unless_5x() {
        let sql = "ALTER TABLE orders ADD CONSTRAINT ck CHECK (amount > 0);";
        let h = hits(R, sql, Dialect::Mysql);
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("copies"), "{h:?}");
        assert!(hits_with(R, sql, Dialect::Mysql, Some("5.7")).is_empty());
        assert_eq!(hits_with(R, sql, Dialect::Mysql, Some("10.6")).len(), 1);
    }

    #[test]
    fn column_check_and_new_tables() {
        let h = hits(
            R,
            "ALTER TABLE orders ADD COLUMN qty int CHECK (qty > 0);",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("`qty`"), "{h:?}");
        let created = "CREATE TABLE t (a int);\nALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);";
        assert!(hits(R, created, Dialect::Postgres).is_empty());
    }
}
