//! Making a NOT NULL column of an existing table nullable (PostgreSQL `DROP NOT NULL`, MySQL
//! `MODIFY`/`CHANGE` without `NOT NULL`).

use super::*;
use crate::sql::ir::{AlterAction, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "drop-not-null",
        category: Category::Compatibility,
        verdict: Verdict::Caution,
        dialects: &[Dialect::Postgres, Dialect::Mysql],
        summary: "Dropping NOT NULL lets NULLs into a column that readers expect to hold a value",
        why: "Code that reads the column (application models with non-optional fields, reports, other services, replication consumers) was written for a column that always holds a value; once the constraint is gone, any writer can store NULL and those readers fail or silently mis-compute. No data is lost and the change itself is quick (a brief ACCESS EXCLUSIVE lock in PostgreSQL, metadata-only), hence caution. In MySQL the column is made nullable by a MODIFY/CHANGE whose new definition lacks NOT NULL; it is reported when earlier migrations show the column was NOT NULL. Not reported for tables created earlier in the same file; SQLite cannot drop NOT NULL without rebuilding the table.",
        safer: "Deploy readers that handle NULL first, or keep the column NOT NULL and have writers store a marker value (a DEFAULT such as `'unknown'`); if the column is being retired, stop reading it before making it nullable.",
        anchors: &["squawk:ban-drop-not-null"],
        bad: include_str!("../../fixtures/rules/drop-not-null/bad.sql"),
        good: include_str!("../../fixtures/rules/drop-not-null/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
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
                AlterAction::DropNotNull { column } => hits.push(Hit::new(
                    item.span,
                    format!(
                        "drops NOT NULL from column `{column}` of `{table}`: once NULLs are written, code that reads `{column}` expecting a value breaks or mis-computes"
                    ),
                )),
                AlterAction::ModifyColumn { old_name, column }
                    if !column.not_null
                        && !column.primary_key
                        && ctx
                            .schema
                            .column(table, old_name)
                            .is_some_and(|c| c.not_null) =>
                {
                    hits.push(Hit::new(
                        item.span,
                        format!(
                            "makes column `{old_name}` of `{table}` nullable (the new definition has no NOT NULL): once NULLs are written, code that reads `{}` expecting a value breaks or mis-computes",
                            column.name
                        ),
                    ))
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
    use crate::rules::testing::{hits, hits_after};

    const R: &str = "drop-not-null";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn postgres_existing_tables_only() {
        let h = hits(
            R,
            "ALTER TABLE orders ALTER COLUMN status DROP NOT NULL;",
            Dialect::Postgres,
        );
        assert!(h[0].contains("column `status` of `orders`"), "{h:?}");
        let new = "CREATE TABLE t (a int NOT NULL);\nALTER TABLE t ALTER COLUMN a DROP NOT NULL;";
        assert!(hits(R, new, Dialect::Postgres).is_empty());
    }

    #[test]
    fn mysql_modify_needs_the_old_definition() {
        let before = "CREATE TABLE orders (id bigint PRIMARY KEY, status varchar(20) NOT NULL);";
        let h = hits_after(
            R,
            before,
            "ALTER TABLE orders MODIFY status varchar(20);",
            Dialect::Mysql,
        );
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(
            h[0].starts_with("makes column `status` of `orders` nullable"),
            "{h:?}"
        );
        let still = "ALTER TABLE orders MODIFY status varchar(40) NOT NULL;";
        assert!(hits_after(R, before, still, Dialect::Mysql).is_empty());
        // unknown old definition: not reported
        assert!(
            hits(
                R,
                "ALTER TABLE orders MODIFY status varchar(20);",
                Dialect::Mysql
            )
            .is_empty()
        );
    }
}
