//! PostgreSQL `CREATE INDEX` without `CONCURRENTLY` on an existing table.

use super::*;
use crate::sql::ir::Op;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "create-index-non-concurrently",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "CREATE INDEX without CONCURRENTLY blocks writes to an existing table",
        why: "A plain CREATE INDEX takes a SHARE lock on the table for the whole build: INSERT, UPDATE and DELETE wait until every row has been read and sorted, which on a large table means minutes of blocked writes.",
        safer: "Use CREATE INDEX CONCURRENTLY (it takes SHARE UPDATE EXCLUSIVE and lets writes continue) in a migration that does not run inside a transaction; check afterwards that the index is valid (`pg_index.indisvalid`).",
        anchors: &[
            "squawk:require-concurrent-index-creation",
            "eugene:E6",
            "strong_migrations:add_index",
            "atlas:PG101",
        ],
        bad: include_str!("../../fixtures/rules/create-index-non-concurrently/bad.sql"),
        good: include_str!("../../fixtures/rules/create-index-non-concurrently/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    stmt.ops
        .iter()
        .filter_map(|op| match op {
            Op::CreateIndex {
                table,
                concurrently: false,
                unique,
                ..
            } if ctx.is_existing(table) => {
                let what = if *unique { "unique index" } else { "index" };
                Some(Hit::new(
                    stmt.span,
                    format!(
                        "builds an {what} on existing table `{table}` under a SHARE lock, which {} until the build finishes",
                        lock_blocks("SHARE")
                    ),
                ))
            }
            _ => None,
        })
        .collect()
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
    fn only_postgres_and_only_existing_tables() {
        assert_eq!(
            hits(
                "create-index-non-concurrently",
                "CREATE UNIQUE INDEX i ON t (a);",
                Dialect::Postgres
            )
            .len(),
            1
        );
        assert!(
            hits(
                "create-index-non-concurrently",
                "CREATE INDEX i ON t (a);",
                Dialect::Mysql
            )
            .is_empty()
        );
        let created = "CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);";
        assert!(hits("create-index-non-concurrently", created, Dialect::Postgres).is_empty());
    }
}
