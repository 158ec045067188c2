//! PostgreSQL `VACUUM FULL` and `CLUSTER`: whole-table rewrites under ACCESS EXCLUSIVE.

use super::*;
use crate::rules::locks;
use crate::sql::ir::Op;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "vacuum-full-or-cluster",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "VACUUM FULL and CLUSTER rewrite the table under an ACCESS EXCLUSIVE lock",
        why: "VACUUM FULL and CLUSTER copy the whole table (CLUSTER in index order) and rebuild all its indexes while holding an ACCESS EXCLUSIVE lock: every read and write of the table waits for the whole copy, minutes to hours on a large table, and the copy needs as much free disk as the table. Without a table name they process every table of the database (CLUSTER: every table clustered before), one after another. VACUUM cannot run inside a transaction block at all, and neither can CLUSTER without a table name, so inside the migrator's transaction the migration fails as written. Not reported for tables created earlier in the same file.",
        safer: "Rewrite the table online with the pg_repack extension (`pg_repack --table=orders`, or `--order-by` for CLUSTER's ordering) or pg_squeeze, run outside the migration; on PostgreSQL 19 and later use `REPACK (CONCURRENTLY) orders;`. Plain `VACUUM` (no FULL) takes no lock that blocks reads or writes and makes the space reusable.",
        anchors: &["squawk:prefer-repack"],
        bad: include_str!("../../fixtures/rules/vacuum-full-or-cluster/bad.sql"),
        good: include_str!("../../fixtures/rules/vacuum-full-or-cluster/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let what = match stmt.ops.first() {
        Some(Op::Vacuum { full: true }) => "VACUUM FULL",
        Some(Op::Cluster) => "CLUSTER",
        _ => return Vec::new(),
    };
    let names = locks::target_names(ctx, stmt);
    if !names.is_empty() && names.iter().all(|n| !ctx.is_existing(n)) {
        return Vec::new();
    }
    let effect = if names.is_empty() {
        let which = if what == "CLUSTER" {
            "every previously clustered table of the database"
        } else {
            "every table of the database"
        };
        format!(
            "{what} without a table rewrites {which}, one after another, each under an ACCESS EXCLUSIVE lock that blocks all its reads and writes until its copy is done"
        )
    } else {
        let on = locks::quoted(&names.iter().collect::<Vec<_>>());
        let how = if what == "CLUSTER" {
            " in index order"
        } else {
            ""
        };
        format!(
            "{what} rewrites {on}{how} under an ACCESS EXCLUSIVE lock: every read and write of it waits until the whole table and its indexes have been copied"
        )
    };
    let no_tx = what == "VACUUM FULL" || names.is_empty();
    let fails = if no_tx && (ctx.in_transaction() || ctx.nested) {
        format!(
            "; {} cannot run inside a transaction block, so this migration fails as written",
            if what == "CLUSTER" {
                "CLUSTER without a table"
            } else {
                "VACUUM"
            }
        )
    } else {
        String::new()
    };
    let alternative = if ctx.version >= Version::new(19, 0, 0) {
        "use REPACK (CONCURRENTLY) instead"
    } else {
        "rewrite it online with pg_repack or pg_squeeze instead"
    };
    vec![Hit::new(
        stmt.span,
        format!("{effect}{fails}; {alternative}"),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{hits, hits_with};

    const R: &str = "vacuum-full-or-cluster";
    const NO_TX: &str = "-- migsafe:no-transaction\n";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn vacuum_forms_and_transactions() {
        let h = hits(R, "VACUUM FULL orders;", Dialect::Postgres);
        assert!(
            h[0].contains("rewrites `orders` under an ACCESS EXCLUSIVE lock"),
            "{h:?}"
        );
        assert!(h[0].contains("fails as written"), "{h:?}");
        let h = hits(
            R,
            &format!("{NO_TX}VACUUM (FULL, ANALYZE) orders, items;"),
            Dialect::Postgres,
        );
        assert!(
            h[0].contains("`orders`, `items`") && !h[0].contains("fails"),
            "{h:?}"
        );
        let all = hits(R, &format!("{NO_TX}VACUUM FULL;"), Dialect::Postgres);
        assert!(all[0].contains("every table of the database"), "{all:?}");
        for ok in [
            "VACUUM orders;",
            "VACUUM (ANALYZE) orders;",
            "CREATE TABLE t (a int);\nCLUSTER t USING i;",
        ] {
            assert!(hits(R, ok, Dialect::Postgres).is_empty(), "{ok}");
        }
    }

    #[test]
    fn cluster_forms() {
        let h = hits(
            R,
            "CLUSTER orders USING orders_created_at_idx;",
            Dialect::Postgres,
        );
        assert!(
            h[0].contains("`orders` in index order") && !h[0].contains("fails"),
            "{h:?}"
        );
        let all = hits(R, "CLUSTER;", Dialect::Postgres);
        assert!(
            all[0].contains("every previously clustered table") && all[0].contains("fails"),
            "{all:?}"
        );
    }

    #[test]
    fn repack_on_19() {
        let h = hits_with(R, "CLUSTER orders;", Dialect::Postgres, Some("19"));
        assert!(h[0].contains("REPACK (CONCURRENTLY)"), "{h:?}");
        let h = hits(R, "CLUSTER orders;", Dialect::Postgres);
        assert!(h[0].contains("pg_repack"), "{h:?}");
    }
}
