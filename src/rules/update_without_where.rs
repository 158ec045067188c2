//! `UPDATE` without `WHERE` on a table that existed before this migration.

use super::*;
use crate::sql::ir::Op;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "update-without-where",
        category: Category::Destructive,
        verdict: Verdict::Destructive,
        dialects: ALL_DIALECTS,
        summary: "UPDATE without WHERE overwrites columns in every row of an existing table",
        why: "An UPDATE without a WHERE clause (or LIMIT, or with a WHERE that is always true such as `WHERE true`, `WHERE 1 = 1`, `WHERE id = id`, `WHERE x IS NULL OR x IS NOT NULL`) overwrites the assigned columns in every row; the previous values are gone unless restored from a backup (destructive). A backfill is different: when every assigned column was added earlier in the same migration file (or up section, or an earlier part of a migration split into numbered files that share its creation timestamp, as ory's popx writes them: `20210410175418000000_…`, `20210410175418000001_…`), no value from before the migration is overwritten, so it is not data loss; its cost is that one UPDATE writes every row, holding a lock on each until the migration commits (concurrent writes of those rows wait) and bloating the table. On PostgreSQL, when the backfill shares a transaction with the DDL that locked the table, backfill-in-ddl-transaction reports it; otherwise this rule reports it as risky. A table created earlier in the same file has no pre-existing rows, so it is not reported.",
        safer: "Add a WHERE clause naming exactly the rows to change; run backfills outside the schema migration in bounded batches, each in its own transaction (`UPDATE accounts SET plan = 'free' WHERE plan IS NULL AND id BETWEEN 1 AND 10000;`). For a deliberate small backfill, suppress the finding with `-- migsafe:allow update-without-where reason=\"…\"`.",
        anchors: &[],
        bad: include_str!("../../fixtures/rules/update-without-where/bad.sql"),
        good: include_str!("../../fixtures/rules/update-without-where/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        let Op::Update {
            table,
            has_where: false,
            columns,
            ..
        } = op
        else {
            continue;
        };
        let table = table.as_ref().map(super::delete_without_where::dml_table);
        if table.as_ref().is_some_and(|t| !ctx.is_existing(t)) {
            continue;
        }
        // a backfill: every assigned column was added earlier in this migration (this file, or
        // an earlier part of the same split migration), so no value that existed before it is
        // overwritten
        if let Some(t) = &table
            && !columns.is_empty()
            && columns.iter().all(|c| ctx.column_is_new(t, c))
        {
            if super::backfill_in_ddl_transaction::fires(ctx, stmt) {
                // the lock it holds is reported there; no data is lost
                continue;
            }
            let cols = columns
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let split = if columns.iter().all(|c| ctx.facts.column_added_here(t, c)) {
                ""
            } else {
                ", by an earlier file of the same split migration"
            };
            hits.push(
                Hit::new(
                    stmt.span,
                    format!(
                        "fills {cols} (added earlier in this migration{split}) in every row of `{t}`: no existing value is overwritten, but one UPDATE writes every row, holding a lock on each until it commits and bloating the table; backfill in batches"
                    ),
                )
                .with_verdict(Verdict::Risky),
            );
            continue;
        }
        let cols = match columns.len() {
            0 => "columns".to_string(),
            1 => format!("column `{}`", columns[0]),
            _ => format!(
                "columns {}",
                columns
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let target = match &table {
            Some(t) => format!("table `{t}`"),
            None => "the target table".to_string(),
        };
        hits.push(Hit::new(
            stmt.span,
            format!(
                "overwrites {cols} in every row of {target} (no WHERE clause) and locks every row until the migration commits"
            ),
        ));
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "update-without-where";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn names_the_columns() {
        let h = hits(
            R,
            "UPDATE accounts AS a SET plan = 'free', seats = 1;",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].contains("columns `plan`, `seats` in every row of table `accounts`"),
            "{h:?}"
        );
        assert!(
            hits(
                R,
                "UPDATE accounts SET plan = 'x' WHERE id = 1;",
                Dialect::Mysql
            )
            .is_empty()
        );
    }

    #[test]
    fn backfill_of_a_new_column_is_not_data_loss() {
        use crate::classify::{CheckOptions, check_sql};
        let verdicts = |sql: &str, d: Dialect| {
            check_sql(
                sql,
                &CheckOptions {
                    dialect: d,
                    ..CheckOptions::default()
                },
            )
            .findings
            .into_iter()
            .filter(|f| f.rule == R || f.rule == "backfill-in-ddl-transaction")
            .map(|f| (f.rule, f.verdict))
            .collect::<Vec<_>>()
        };
        // PostgreSQL in the migrator's transaction: the lock is backfill-in-ddl-transaction's
        let sql = "ALTER TABLE accounts ADD COLUMN seats int;\nUPDATE accounts SET seats = 1;";
        assert_eq!(
            verdicts(sql, Dialect::Postgres),
            [("backfill-in-ddl-transaction".to_string(), Verdict::Risky)]
        );
        // MySQL commits DDL at once: the backfill is risky here
        let v = verdicts(sql, Dialect::Mysql);
        assert_eq!(v, [(R.to_string(), Verdict::Risky)]);
        // touching an older column too overwrites data
        let sql = "ALTER TABLE accounts ADD COLUMN seats int;\nUPDATE accounts SET seats = 1, plan = 'x';";
        assert_eq!(
            verdicts(sql, Dialect::Mysql),
            [(R.to_string(), Verdict::Destructive)]
        );
        // a column added by an earlier migration may hold data by now
        let h = testing::hits_after(
            R,
            "ALTER TABLE accounts ADD COLUMN seats int;",
            "UPDATE accounts SET seats = 1;",
            Dialect::Mysql,
        );
        assert!(h[0].starts_with("overwrites"), "{h:?}");
        let sql = "CREATE TABLE t (a int);\nUPDATE t SET a = 1;";
        assert!(hits(R, sql, Dialect::Sqlite).is_empty());
    }

    #[test]
    fn a_where_that_is_always_true_is_no_where() {
        assert_eq!(
            hits(
                R,
                "UPDATE accounts SET plan = 'x' WHERE 1 = 1;",
                Dialect::Mysql
            )
            .len(),
            1
        );
        assert_eq!(
            hits(
                R,
                "UPDATE accounts SET plan = 'x' WHERE plan IS NULL OR plan IS NOT NULL;",
                Dialect::Postgres
            )
            .len(),
            1
        );
    }

    #[test]
    fn suppression_with_reason_is_honoured() {
        let sql = "-- migsafe:allow update-without-where reason=\"small lookup table backfill\"\nUPDATE plans SET active = true;";
        assert!(hits(R, sql, Dialect::Postgres).is_empty());
    }
}
