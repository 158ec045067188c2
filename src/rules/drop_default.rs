//! `ALTER COLUMN … DROP DEFAULT` on an existing table.

use super::*;
use crate::sql::ir::{AlterAction, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "drop-default",
        category: Category::Compatibility,
        verdict: Verdict::Caution,
        dialects: ALL_DIALECTS,
        summary: "Dropping a column default breaks inserts that rely on it",
        why: "Application code still running the old version may insert rows without the column and rely on its default: after DROP DEFAULT those rows get NULL, and when the column is NOT NULL (or the default was `nextval()` of an id) the inserts fail. Reported as risky when the column is known to be NOT NULL.",
        safer: "First deploy code that always sets the column explicitly, then drop the default in a later release; for an id column keep the default (or switch to an identity column).",
        anchors: &["squawk:ban-drop-default"],
        bad: include_str!("../../fixtures/rules/drop-default/bad.sql"),
        good: include_str!("../../fixtures/rules/drop-default/good.sql"),
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
            if let AlterAction::DropDefault { column } = &item.action {
                let not_null = ctx.schema.column(table, column).is_some_and(|c| c.not_null);
                let hit = Hit::new(
                    item.span,
                    if not_null {
                        format!(
                            "drops the default of NOT NULL column `{column}` of `{table}`: inserts that omit it now fail"
                        )
                    } else {
                        format!(
                            "drops the default of `{column}` of `{table}`: inserts that omit it now store NULL (or fail if the column is NOT NULL)"
                        )
                    },
                );
                hits.push(if not_null {
                    hit.with_verdict(Verdict::Risky)
                } else {
                    hit
                });
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{hits, hits_after};

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn not_null_columns_are_risky_and_new_tables_are_fine() {
        let before = "CREATE TABLE orders (id bigint, status text NOT NULL DEFAULT 'new');";
        let h = hits_after(
            "drop-default",
            before,
            "ALTER TABLE orders ALTER COLUMN status DROP DEFAULT;",
            Dialect::Postgres,
        );
        assert!(h[0].contains("NOT NULL column"), "{h:?}");
        let opts = crate::classify::CheckOptions::default();
        let mut schema = Schema::default();
        let run = |sql: &str, schema: &mut Schema| {
            let section = crate::migrations::SqlSection {
                path: "<sql>".into(),
                text: std::sync::Arc::from(sql),
                range: 0..sql.len(),
            };
            let subject = crate::classify::Subject {
                path: String::new(),
                version: String::new(),
                description: String::new(),
                layout: "plain",
                direction: "up",
                transaction: true,
                checksum: String::new(),
            };
            crate::classify::check_section(&section, subject, schema, &opts)
        };
        run(before, &mut schema);
        let r = run(
            "SET lock_timeout = '1s';\nALTER TABLE orders ALTER COLUMN status DROP DEFAULT;",
            &mut schema,
        );
        assert_eq!(r.verdict, Verdict::Risky);
        assert!(
            hits(
                "drop-default",
                "CREATE TABLE t (a int DEFAULT 1);\nALTER TABLE t ALTER COLUMN a DROP DEFAULT;",
                Dialect::Postgres
            )
            .is_empty()
        );
    }
}
