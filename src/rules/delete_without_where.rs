//! `DELETE` without `WHERE` on a table that existed before this migration.

use super::*;
use crate::sql::ir::{ObjName, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "delete-without-where",
        category: Category::Destructive,
        verdict: Verdict::Destructive,
        dialects: ALL_DIALECTS,
        summary: "DELETE without WHERE removes every row of an existing table",
        why: "A DELETE without a WHERE clause (or LIMIT) removes every row of the table; the data is gone unless restored from a backup. On a large table it also holds a row lock on every row until the migration commits (concurrent updates of those rows wait) and leaves the table full of dead rows for VACUUM. A table created earlier in the same migration file has no pre-existing rows, so it is not reported.",
        safer: "Add a WHERE clause naming exactly the rows to remove, and delete large sets in bounded batches (`DELETE FROM notifications WHERE id IN (SELECT id FROM notifications WHERE read_at < now() - interval '90 days' LIMIT 10000);`); if emptying the table is intended, back it up first and suppress the finding with a reason.",
        anchors: &[],
        bad: include_str!("../../fixtures/rules/delete-without-where/bad.sql"),
        good: include_str!("../../fixtures/rules/delete-without-where/good.sql"),
    },
    check,
};

/// The table a DML statement targets, without the alias and identifier quotes the lowering may
/// leave in it (`orders o`, `` `orders` ``).
pub(super) fn dml_table(table: &ObjName) -> ObjName {
    ObjName::new(
        table
            .parts
            .iter()
            .map(|p| {
                p.split_whitespace()
                    .next()
                    .unwrap_or("")
                    .trim_matches(|c| c == '`' || c == '"')
                    .to_string()
            })
            .collect(),
    )
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        let Op::Delete {
            table,
            has_where: false,
        } = op
        else {
            continue;
        };
        let msg = match table.as_ref().map(dml_table) {
            Some(t) if !ctx.is_existing(&t) => continue,
            Some(t) => format!("deletes every row of table `{t}` (no WHERE clause)"),
            None => "deletes every row of the target table (no WHERE clause)".to_string(),
        };
        hits.push(Hit::new(stmt.span, msg));
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "delete-without-where";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn where_and_limit_count() {
        assert_eq!(hits(R, "DELETE FROM orders;", Dialect::Sqlite).len(), 1);
        assert!(hits(R, "DELETE FROM orders WHERE id = 1;", Dialect::Postgres).is_empty());
        assert!(hits(R, "DELETE FROM orders LIMIT 100;", Dialect::Mysql).is_empty());
        let h = hits(R, "DELETE FROM `orders`;", Dialect::Mysql);
        assert!(h[0].contains("table `orders`"), "{h:?}");
    }

    #[test]
    fn not_for_tables_created_in_the_file_even_with_alias() {
        let sql = "CREATE TABLE staging (id int);\nDELETE FROM staging AS s;";
        assert!(hits(R, sql, Dialect::Postgres).is_empty());
        let sql = "CREATE TABLE public.staging (id int);\nDELETE FROM public.staging;";
        assert!(hits(R, sql, Dialect::Postgres).is_empty());
    }
}
