//! Renaming a column of an existing table (`RENAME COLUMN`, MySQL `CHANGE old new …`).

use super::*;
use crate::sql::ir::{AlterAction, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "rename-column",
        category: Category::Compatibility,
        verdict: Verdict::Risky,
        dialects: ALL_DIALECTS,
        summary: "Renaming a column breaks running code that still uses the old name",
        why: "Application code deployed before the migration keeps reading and writing the old column name; from the moment the rename commits until every instance runs new code, those queries fail with \"column does not exist\" / \"Unknown column\". MySQL `CHANGE old new …` renames too. Not reported for tables created earlier in the same file.",
        safer: "Expand and contract: add the new column, have the application write both and backfill the new one, switch reads, then drop the old column in a later release. (Or deploy code that works with both names, e.g. through a view, before renaming.)",
        anchors: &[
            "squawk:renaming-column",
            "strong_migrations:rename_column",
            "atlas:BC102",
        ],
        bad: include_str!("../../fixtures/rules/rename-column/bad.sql"),
        good: include_str!("../../fixtures/rules/rename-column/good.sql"),
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
            let (from, to) = match &item.action {
                AlterAction::RenameColumn { from, to } => (from, to),
                AlterAction::ModifyColumn { old_name, column } if *old_name != column.name => {
                    (old_name, &column.name)
                }
                _ => continue,
            };
            hits.push(Hit::new(
                item.span,
                format!(
                    "renames column `{from}` of `{table}` to `{to}`: running code that still uses `{from}` fails as soon as the rename commits"
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

    const R: &str = "rename-column";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn mysql_change_renames_only_when_names_differ() {
        let h = hits(
            R,
            "ALTER TABLE users CHANGE mail email varchar(255);",
            Dialect::Mysql,
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("`mail`") && h[0].contains("`email`"), "{h:?}");
        assert!(
            hits(
                R,
                "ALTER TABLE users CHANGE email email varchar(255);",
                Dialect::Mysql
            )
            .is_empty()
        );
        assert!(
            hits(
                R,
                "ALTER TABLE users MODIFY email varchar(255);",
                Dialect::Mysql
            )
            .is_empty()
        );
    }

    #[test]
    fn not_on_new_tables() {
        let sql = "CREATE TABLE t (a int);\nALTER TABLE t RENAME COLUMN a TO b;";
        assert!(hits(R, sql, Dialect::Postgres).is_empty());
        assert_eq!(
            hits(R, "ALTER TABLE t RENAME COLUMN a TO b;", Dialect::Sqlite).len(),
            1
        );
    }
}
