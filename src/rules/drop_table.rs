//! `DROP TABLE` on a table that existed before this migration.

use super::*;
use crate::sql::ir::{ObjectKind, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "drop-table",
        category: Category::Destructive,
        verdict: Verdict::Destructive,
        dialects: ALL_DIALECTS,
        summary: "Dropping an existing table deletes all of its rows",
        why: "DROP TABLE removes the table and every row in it; the data is gone unless restored from a backup, and application code still reading or writing the table starts failing at once. It also takes an ACCESS EXCLUSIVE lock (PostgreSQL).",
        safer: "First deploy code that no longer uses the table, take and verify a backup (or rename the table and drop it in a later release), then drop it in a release classified major.",
        anchors: &[
            "squawk:ban-drop-table",
            "atlas:DS102",
            "django-migration-linter:DROP_TABLE",
        ],
        bad: include_str!("../../fixtures/rules/drop-table/bad.sql"),
        good: include_str!("../../fixtures/rules/drop-table/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    // the DROP of a SQLite table rebuild is judged by `sqlite-table-rebuild`
    if super::sqlite_table_rebuild::is_rebuild_drop(ctx, stmt) {
        return hits;
    }
    for op in &stmt.ops {
        if let Op::Drop {
            kind: ObjectKind::Table,
            names,
            cascade,
            ..
        } = op
        {
            for name in names.iter().filter(|n| ctx.is_existing(n)) {
                let cascade_note = if *cascade {
                    " CASCADE also drops views and foreign keys that depend on it."
                } else {
                    ""
                };
                hits.push(Hit::new(
                    stmt.span,
                    format!("drops table `{name}` and all of its rows.{cascade_note}"),
                ));
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn every_dialect_and_each_table() {
        for d in ALL_DIALECTS {
            assert_eq!(hits("drop-table", "DROP TABLE a, b;", *d).len(), 2, "{d:?}");
        }
        assert!(
            hits(
                "drop-table",
                "DROP TABLE IF EXISTS a CASCADE;",
                Dialect::Postgres
            )[0]
            .contains("CASCADE")
        );
        assert!(hits("drop-table", "DROP VIEW a;", Dialect::Postgres).is_empty());
    }
}
