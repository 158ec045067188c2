//! `ALTER TABLE … DROP COLUMN` on a table that existed before this migration.

use super::*;
use crate::sql::ir::{AlterAction, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "drop-column",
        category: Category::Destructive,
        verdict: Verdict::Destructive,
        dialects: ALL_DIALECTS,
        summary: "Dropping a column of an existing table deletes all of its values",
        why: "DROP COLUMN removes the column and every value stored in it; the data is gone unless restored from a backup, and application code (or an ORM that still lists the column) that reads or writes it starts failing as soon as the migration runs. With CASCADE, PostgreSQL also drops the views, indexes and constraints that depend on it. PostgreSQL takes an ACCESS EXCLUSIVE lock for the (catalog-only) change; MySQL before 8.0.29 rebuilds the table. SQLite supports DROP COLUMN only from 3.35; older versions reject the statement. Not reported for tables created earlier in the same migration file.",
        safer: "Expand and contract: first deploy code that no longer reads or writes the column (in Rails, `ignored_columns`), back up the values if they may be needed (`CREATE TABLE users_legacy_id AS SELECT id, legacy_id FROM users;`), then drop it in a later release classified major: `ALTER TABLE users DROP COLUMN legacy_id;`. On SQLite before 3.35, rebuild the table instead (create the new table, copy the rows, drop the old one, rename).",
        anchors: &[
            "squawk:ban-drop-column",
            "strong_migrations:remove_column",
            "atlas:DS103",
        ],
        bad: include_str!("../../fixtures/rules/drop-column/bad.sql"),
        good: include_str!("../../fixtures/rules/drop-column/good.sql"),
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
            let AlterAction::DropColumn { names, cascade, .. } = &item.action else {
                continue;
            };
            // the token fallback reads MySQL `DROP CHECK name` as a column named `check`;
            // drop-constraint reports it
            if super::drop_constraint::fallback_drop_check(ctx, stmt, item).is_some() {
                continue;
            }
            for name in names {
                let mut msg = format!("drops column `{name}` of `{table}` and all its values");
                if *cascade {
                    msg.push_str(
                        "; CASCADE also drops the views, indexes and constraints that depend on it",
                    );
                }
                if ctx.dialect == Dialect::Sqlite && !ctx.at_least(3, 35, 0) {
                    msg.push_str(&format!(
                        "; SQLite {} does not support DROP COLUMN at all (3.35 or later is needed): the statement fails, and the table has to be rebuilt instead",
                        ctx.version
                    ));
                }
                hits.push(Hit::new(item.span, msg));
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{hits, hits_with};

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn each_column_is_a_hit_in_every_dialect() {
        for d in ALL_DIALECTS {
            let h = hits(
                "drop-column",
                "ALTER TABLE users DROP COLUMN a, DROP COLUMN b;",
                *d,
            );
            assert_eq!(h.len(), 2, "{d:?}: {h:?}");
            assert!(h[0].contains("`a` of `users`"), "{h:?}");
        }
        let h = hits(
            "drop-column",
            "ALTER TABLE users DROP COLUMN IF EXISTS a CASCADE;",
            Dialect::Postgres,
        );
        assert!(h[0].contains("CASCADE"), "{h:?}");
    }

    #[test]
    fn not_for_tables_created_in_the_file() {
        let sql = "CREATE TABLE t (a int, b int);\nALTER TABLE t DROP COLUMN b;";
        assert!(hits("drop-column", sql, Dialect::Postgres).is_empty());
    }

    #[test]
    fn old_sqlite_versions_are_told_drop_column_is_unsupported() {
        let sql = "ALTER TABLE t DROP COLUMN a;";
        let old = hits_with("drop-column", sql, Dialect::Sqlite, Some("3.31"));
        assert_eq!(old.len(), 1);
        assert!(old[0].contains("does not support DROP COLUMN"), "{old:?}");
        let new = hits_with("drop-column", sql, Dialect::Sqlite, Some("3.35"));
        assert!(!new[0].contains("does not support"), "{new:?}");
    }

    #[test]
    fn mysql_drop_check_is_not_a_column() {
        assert!(
            hits(
                "drop-column",
                "ALTER TABLE t DROP CHECK chk_a;",
                Dialect::Mysql
            )
            .is_empty()
        );
        // a column really named `check` (quoted) is still a column
        assert_eq!(
            hits(
                "drop-column",
                "ALTER TABLE t DROP COLUMN `check`;",
                Dialect::Mysql
            )
            .len(),
            1
        );
    }
}
