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
        why: "An UPDATE without a WHERE clause (or LIMIT) overwrites the assigned columns in every row; the previous values are gone unless restored from a backup. Even a deliberate whole-table backfill (`UPDATE t SET c = 0` after adding `c`) holds a row lock on every row until the migration commits, so concurrent writes to the table wait for the whole run, and it writes a new version of every row (table bloat, replication lag). It is reported even when the columns were just added: migsafe cannot tell a backfill from an accident, and the locking problem is the same. A table created earlier in the same migration file has no pre-existing rows, so it is not reported.",
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
        } = op
        else {
            continue;
        };
        let table = table.as_ref().map(super::delete_without_where::dml_table);
        if table.as_ref().is_some_and(|t| !ctx.is_existing(t)) {
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
    fn backfill_of_a_new_column_is_still_reported_but_not_in_new_tables() {
        let sql = "ALTER TABLE accounts ADD COLUMN seats int;\nUPDATE accounts SET seats = 1;";
        assert_eq!(hits(R, sql, Dialect::Postgres).len(), 1);
        let sql = "CREATE TABLE t (a int);\nUPDATE t SET a = 1;";
        assert!(hits(R, sql, Dialect::Sqlite).is_empty());
    }

    #[test]
    fn suppression_with_reason_is_honoured() {
        let sql = "-- migsafe:allow update-without-where reason=\"small lookup table backfill\"\nUPDATE plans SET active = true;";
        assert!(hits(R, sql, Dialect::Postgres).is_empty());
    }
}
