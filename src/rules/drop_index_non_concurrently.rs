//! PostgreSQL `DROP INDEX` without `CONCURRENTLY`.

use super::*;
use crate::sql::ir::{ObjectKind, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "drop-index-non-concurrently",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "DROP INDEX without CONCURRENTLY locks the index's table against all access",
        why: "A plain DROP INDEX takes an ACCESS EXCLUSIVE lock on the table the index belongs to. The drop itself is quick, but the lock must wait for every running query on the table, and while it waits every later read and write queues behind it. migsafe does not track which table an index belongs to, so it also reports indexes created earlier in the same file.",
        safer: "Use `DROP INDEX CONCURRENTLY IF EXISTS name;` (it waits for running queries without blocking new ones) in a migration that does not run inside a transaction; it drops one index per statement and cannot use CASCADE.",
        anchors: &[
            "squawk:require-concurrent-index-deletion",
            "strong_migrations:remove_index",
            "atlas:PG102",
        ],
        bad: include_str!("../../fixtures/rules/drop-index-non-concurrently/bad.sql"),
        good: include_str!("../../fixtures/rules/drop-index-non-concurrently/good.sql"),
    },
    check,
};

fn check(_ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        if let Op::Drop {
            kind: ObjectKind::Index,
            names,
            concurrently: false,
            ..
        } = op
        {
            for name in names {
                hits.push(Hit::new(
                    stmt.span,
                    format!(
                        "drops index `{name}` under an ACCESS EXCLUSIVE lock on the table the index belongs to, which {} while the drop waits for running queries and runs",
                        lock_blocks("ACCESS EXCLUSIVE")
                    ),
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
    fn each_index_and_only_non_concurrent() {
        let h = hits(
            "drop-index-non-concurrently",
            "DROP INDEX IF EXISTS a, public.b;",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 2, "{h:?}");
        assert!(h[1].contains("`public.b`"), "{h:?}");
        assert!(
            hits(
                "drop-index-non-concurrently",
                "DROP INDEX CONCURRENTLY a;",
                Dialect::Postgres
            )
            .is_empty()
        );
        assert!(
            hits(
                "drop-index-non-concurrently",
                "DROP TABLE a;",
                Dialect::Postgres
            )
            .is_empty()
        );
        assert!(
            hits(
                "drop-index-non-concurrently",
                "DROP INDEX a ON t;",
                Dialect::Mysql
            )
            .is_empty()
        );
    }
}
