//! PostgreSQL foreign keys added to an existing table without `NOT VALID`.

use super::*;
use crate::sql::ir::{AlterAction, ConstraintKind, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "add-foreign-key-validated",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "Adding a foreign key without NOT VALID blocks writes to both tables while every row is checked",
        why: "ALTER TABLE … ADD FOREIGN KEY (or ADD COLUMN … REFERENCES) takes a SHARE ROW EXCLUSIVE lock on the altered table and on the referenced table and keeps both until the transaction ends, while it scans every existing row to check that the referenced key exists: INSERT, UPDATE and DELETE on both tables wait for the whole scan. Foreign keys declared inside CREATE TABLE and on tables created earlier in the same file are not reported.",
        safer: "Add the constraint without checking existing rows, then validate it in a separate transaction (VALIDATE CONSTRAINT takes only SHARE UPDATE EXCLUSIVE on the table, so reads and writes continue):\n  ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n  ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_id_fkey;\nFor a new column, add the column first, then the constraint as above.",
        anchors: &[
            "squawk:adding-foreign-key-constraint",
            "eugene:E1",
            "strong_migrations:add_foreign_key",
            "atlas:PG306",
        ],
        bad: include_str!("../../fixtures/rules/add-foreign-key-validated/bad.sql"),
        good: include_str!("../../fixtures/rules/add-foreign-key-validated/good.sql"),
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
        let blocks = lock_blocks("SHARE ROW EXCLUSIVE");
        for item in items {
            match &item.action {
                AlterAction::AddConstraint(c) if !c.not_valid => {
                    if let ConstraintKind::ForeignKey {
                        columns, ref_table, ..
                    } = &c.kind
                    {
                        let name = c
                            .name
                            .as_ref()
                            .map(|n| format!(" `{n}`"))
                            .unwrap_or_default();
                        let cols = if columns.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", columns.join(", "))
                        };
                        hits.push(Hit::new(
                            c.span,
                            format!(
                                "adds foreign key{name} on `{table}`{cols} → `{ref_table}` and validates it at once: locks `{table}` and `{ref_table}` in SHARE ROW EXCLUSIVE mode, which {blocks} on both tables while every existing row of `{table}` is checked"
                            ),
                        ));
                    }
                }
                AlterAction::AddColumn { column, .. } => {
                    if let Some(ref_table) = &column.references {
                        hits.push(Hit::new(
                            column.span,
                            format!(
                                "adds column `{}` to `{table}` with a foreign key to `{ref_table}`: locks `{table}` and `{ref_table}` in SHARE ROW EXCLUSIVE mode, which {blocks} on both tables while every existing row of `{table}` is checked",
                                column.name
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
    use crate::rules::testing::hits;

    const R: &str = "add-foreign-key-validated";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn column_reference_on_existing_table() {
        let h = hits(
            R,
            "ALTER TABLE orders ADD COLUMN customer_id bigint REFERENCES customers (id);",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].contains("`customer_id`") && h[0].contains("`customers`"),
            "{h:?}"
        );
    }

    #[test]
    fn not_on_new_tables_or_create_table() {
        let sql = "CREATE TABLE orders (id bigint, customer_id bigint REFERENCES customers (id));\n\
                   ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id);";
        assert!(hits(R, sql, Dialect::Postgres).is_empty());
    }

    #[test]
    fn not_valid_is_fine() {
        assert!(
            hits(
                R,
                "ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES customers (id) NOT VALID;",
                Dialect::Postgres
            )
            .is_empty()
        );
    }
}
