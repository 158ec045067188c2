//! PostgreSQL `ALTER TABLE … DETACH PARTITION` without `CONCURRENTLY` on an existing table.

use super::*;
use crate::sql::ir::{AlterAction, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "detach-partition-non-concurrently",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "DETACH PARTITION without CONCURRENTLY blocks all reads and writes of the partitioned table",
        why: "A plain ALTER TABLE … DETACH PARTITION takes an ACCESS EXCLUSIVE lock on the partitioned table (and on the partition): it first waits for every running query on any partition, and while it waits and runs every read and write of the whole partitioned table waits too. DETACH PARTITION … CONCURRENTLY (PostgreSQL 14+) takes only SHARE UPDATE EXCLUSIVE on the parent and waits for running queries in two steps instead, but it cannot run inside a transaction block and is refused when the table has a default partition. Not reported for tables created earlier in the same file.",
        safer: "`ALTER TABLE events DETACH PARTITION events_2023 CONCURRENTLY;` alone in a migration that does not run in a transaction (if it is interrupted, finish it with `ALTER TABLE events DETACH PARTITION events_2023 FINALIZE;`). Before PostgreSQL 14, or with a default partition, detach in a quiet period with a short `lock_timeout`.",
        anchors: &["squawk:require-concurrent-partition-detach"],
        bad: include_str!("../../fixtures/rules/detach-partition-non-concurrently/bad.sql"),
        good: include_str!("../../fixtures/rules/detach-partition-non-concurrently/good.sql"),
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
            let AlterAction::DetachPartition {
                partition,
                concurrently: false,
            } = &item.action
            else {
                continue;
            };
            let alternative = if ctx.version < Version::new(14, 0, 0) {
                format!(
                    "PostgreSQL {} has no DETACH PARTITION CONCURRENTLY (it needs 14+): detach in a quiet period with a short lock_timeout",
                    ctx.version
                )
            } else {
                "use DETACH PARTITION … CONCURRENTLY in a migration without a transaction (not possible when the table has a default partition)".to_string()
            };
            hits.push(Hit::new(
                item.span,
                format!(
                    "detaches partition `{partition}` from `{table}` under an ACCESS EXCLUSIVE lock on `{table}`: every read and write of the partitioned table, all partitions included, waits while it waits for running queries and while it runs; {alternative}"
                ),
            ));
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{hits, hits_with};

    const R: &str = "detach-partition-non-concurrently";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn version_gate_and_new_tables() {
        let sql = "ALTER TABLE events DETACH PARTITION events_2023;";
        let old = hits_with(R, sql, Dialect::Postgres, Some("13"));
        assert!(
            old[0].contains("PostgreSQL 13 has no DETACH PARTITION CONCURRENTLY"),
            "{old:?}"
        );
        let new = hits(R, sql, Dialect::Postgres);
        assert!(
            new[0].contains("`events_2023` from `events`")
                && new[0].contains("CONCURRENTLY in a migration"),
            "{new:?}"
        );
        let created = "CREATE TABLE events (id bigint, at date) PARTITION BY RANGE (at);\nALTER TABLE events DETACH PARTITION events_2023;";
        assert!(hits(R, created, Dialect::Postgres).is_empty());
        assert!(
            hits(
                R,
                "ALTER TABLE events DETACH PARTITION events_2023 CONCURRENTLY;",
                Dialect::Postgres
            )
            .is_empty()
        );
    }
}
