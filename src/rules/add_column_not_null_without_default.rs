//! `ADD COLUMN … NOT NULL` without a default on an existing table.

use super::*;
use crate::sql::ir::{AlterAction, ColumnDef, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "add-column-not-null-without-default",
        category: Category::Data,
        verdict: Verdict::Risky,
        dialects: ALL_DIALECTS,
        summary: "Adding a NOT NULL column without a default fails on a table with rows",
        why: "Existing rows have no value for the new column. PostgreSQL fails with \"column contains null values\" and SQLite with \"Cannot add a NOT NULL column with default value NULL\" as soon as the table has a row; MySQL silently fills existing rows with the type's implicit default (0, '' or a zero date). Application code that is still running and inserts rows without the column starts failing too. Identity, serial, AUTO_INCREMENT and stored generated columns get values and are not reported; neither are tables created earlier in the same file.",
        safer: "Add the column with a constant default (metadata-only on PostgreSQL 11+, instant on MySQL 8.0.12+), e.g. `ALTER TABLE users ADD COLUMN tenant_id bigint NOT NULL DEFAULT 0;`, or add it nullable, backfill it, and add NOT NULL in a later migration once every writer sets it.",
        anchors: &["squawk:adding-required-field", "atlas:MF103"],
        bad: include_str!("../../fixtures/rules/add-column-not-null-without-default/bad.sql"),
        good: include_str!("../../fixtures/rules/add-column-not-null-without-default/good.sql"),
    },
    check,
};

/// The column gets its values from somewhere other than a default.
fn self_filling(c: &ColumnDef) -> bool {
    c.identity || c.data_type.serial || c.auto_increment || c.generated_stored
}

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
            let AlterAction::AddColumn { column, .. } = &item.action else {
                continue;
            };
            let no_default = column.default.as_ref().is_none_or(|d| d.is_null);
            if !column.not_null || !no_default || self_filling(column) {
                continue;
            }
            let effect = match ctx.dialect {
                Dialect::Mysql => {
                    "MySQL fills existing rows with the type's implicit default (0, '' or a zero date) instead of failing"
                }
                Dialect::Sqlite => {
                    "SQLite refuses it (\"Cannot add a NOT NULL column with default value NULL\") when the table has rows"
                }
                Dialect::Postgres => {
                    "PostgreSQL fails with \"column contains null values\" when the table has rows"
                }
            };
            hits.push(Hit::new(
                column.span,
                format!(
                    "adds NOT NULL column `{}` to `{table}` without a default: {effect}, and running code that inserts without `{}` fails",
                    column.name, column.name
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

    const R: &str = "add-column-not-null-without-default";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn every_dialect_with_its_effect() {
        let sql = "ALTER TABLE users ADD COLUMN tenant_id bigint NOT NULL;";
        assert!(hits(R, sql, Dialect::Postgres)[0].contains("column contains null values"));
        assert!(hits(R, sql, Dialect::Mysql)[0].contains("implicit default"));
        assert!(hits(R, sql, Dialect::Sqlite)[0].contains("Cannot add a NOT NULL column"));
    }

    #[test]
    fn generated_values_and_defaults_are_fine() {
        for sql in [
            "ALTER TABLE t ADD COLUMN id bigserial NOT NULL;",
            "ALTER TABLE t ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY NOT NULL;",
            "ALTER TABLE t ADD COLUMN n int NOT NULL DEFAULT 0;",
            "ALTER TABLE t ADD COLUMN n int;",
        ] {
            assert!(hits(R, sql, Dialect::Postgres).is_empty(), "{sql}");
        }
        assert!(
            hits(
                R,
                "ALTER TABLE t ADD COLUMN id int NOT NULL AUTO_INCREMENT;",
                Dialect::Mysql
            )
            .is_empty()
        );
        // an explicit NULL default is no default
        assert_eq!(
            hits(
                R,
                "ALTER TABLE t ADD COLUMN n int NOT NULL DEFAULT NULL;",
                Dialect::Postgres
            )
            .len(),
            1
        );
    }

    #[test]
    fn not_on_new_tables() {
        let sql = "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN b int NOT NULL;";
        assert!(hits(R, sql, Dialect::Postgres).is_empty());
    }
}
