//! `ALTER TABLE … DROP COLUMN` on a table that existed before this migration.

use super::*;
use crate::sql::ir::{AlterAction, ObjName, Op};
use crate::sql::types::{TypeChange, type_change, unknown_old_loss};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "drop-column",
        category: Category::Destructive,
        verdict: Verdict::Destructive,
        dialects: ALL_DIALECTS,
        summary: "Dropping a column of an existing table deletes all of its values",
        why: "DROP COLUMN removes the column and every value stored in it; the data is gone unless restored from a backup, and application code (or an ORM that still lists the column) that reads or writes it starts failing as soon as the migration runs. With CASCADE, PostgreSQL also drops the views, indexes and constraints that depend on it. PostgreSQL takes an ACCESS EXCLUSIVE lock for the (catalog-only) change; MySQL before 8.0.29 rebuilds the table. SQLite supports DROP COLUMN only from 3.35; older versions reject the statement. Where no stored data goes with the column the drop is risky rather than destructive (it still breaks code that uses the column): a generated column (its values are computed from other columns), and a column whose values were first copied as they are into a column added earlier in the same file (`ADD COLUMN new …; UPDATE t SET new = old; DROP COLUMN old;`, the column swap some migrations use to change a type). Not reported for tables created, or columns added, earlier in the same migration file.",
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

/// The column `col` of `table` was copied, as it is, into a column added earlier in this file
/// (`ADD COLUMN new …; UPDATE t SET new = col;` with no WHERE): the values live on there, the way
/// migrations change a column's type by swapping columns. Returns the new column.
fn carried_over(ctx: &Ctx, table: &ObjName, col: &str) -> Option<String> {
    ctx.statements[..ctx.position].iter().find_map(|s| {
        s.ops.iter().find_map(|op| match op {
            Op::Update {
                table: Some(t),
                has_where: false,
                copies,
                ..
            } if super::delete_without_where::dml_table(t).key() == table.key() => copies
                .iter()
                .find(|(target, source)| {
                    source == col
                        && ctx.facts.column_added_here(table, target)
                        && !narrows(ctx, table, col, target)
                })
                .map(|(target, _)| target.clone()),
            _ => None,
        })
    })
}

/// Copying `from` into `to` can lose values (a narrower type, or a type migsafe has not seen).
fn narrows(ctx: &Ctx, table: &ObjName, from: &str, to: &str) -> bool {
    if ctx.dialect == Dialect::Sqlite {
        // SQLite does not enforce declared lengths; only a change of type affinity converts
        return match (ctx.schema.column(table, from), ctx.schema.column(table, to)) {
            (Some(a), Some(b)) => {
                super::sqlite_table_rebuild::affinity_loss(&a.data_type.raw, &b.data_type.raw)
                    .is_some()
            }
            _ => true,
        };
    }
    match (ctx.schema.column(table, from), ctx.schema.column(table, to)) {
        (Some(a), Some(b)) => matches!(
            type_change(&a.data_type, &b.data_type, ctx.dialect),
            TypeChange::Lossy { .. }
        ),
        (None, Some(b)) => unknown_old_loss(&b.data_type, ctx.dialect).is_some(),
        _ => true,
    }
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
            let AlterAction::DropColumn { names, cascade, .. } = &item.action else {
                continue;
            };
            for name in names {
                // a column added earlier in this migration holds no value from before it
                if ctx.column_is_new(table, name) {
                    continue;
                }
                let generated = ctx.schema.column(table, name).is_some_and(|c| c.generated);
                let carried = carried_over(ctx, table, name);
                let (mut msg, verdict) = if generated {
                    (
                        format!(
                            "drops generated column `{name}` of `{table}`: its values are computed from other columns, so no stored data is lost, but code that still reads it breaks"
                        ),
                        Verdict::Risky,
                    )
                } else if let Some(new) = &carried {
                    (
                        format!(
                            "drops column `{name}` of `{table}` after its values were copied into `{new}` (added earlier in this migration): no data is lost, but code that still reads or writes `{name}` breaks until it is renamed or the code follows"
                        ),
                        Verdict::Risky,
                    )
                } else {
                    (
                        format!("drops column `{name}` of `{table}` and all its values"),
                        Verdict::Destructive,
                    )
                };
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
                hits.push(Hit::new(item.span, msg).with_verdict(verdict));
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
