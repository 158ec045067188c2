//! PostgreSQL `REFRESH MATERIALIZED VIEW` without `CONCURRENTLY`.

use super::*;
use crate::rules::locks;
use crate::sql::ir::Op;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "refresh-materialized-view-non-concurrently",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks every read of the view",
        why: "A plain REFRESH MATERIALIZED VIEW holds an ACCESS EXCLUSIVE lock on the view while it reruns the view's query and replaces its contents: every query that reads the view waits for the whole refresh, which takes as long as the query behind the view. REFRESH … CONCURRENTLY computes the new contents first and applies the differences under an EXCLUSIVE lock, so reads continue; it needs a UNIQUE index on the view that uses only column names and has no WHERE clause, and the view must already be populated. Not reported for a materialized view created earlier in the same file.",
        safer: "Create a unique index on the view once (`CREATE UNIQUE INDEX CONCURRENTLY daily_sales_day_key ON daily_sales (day);`), then `REFRESH MATERIALIZED VIEW CONCURRENTLY daily_sales;`.",
        anchors: &[],
        bad: include_str!(
            "../../fixtures/rules/refresh-materialized-view-non-concurrently/bad.sql"
        ),
        good: include_str!(
            "../../fixtures/rules/refresh-materialized-view-non-concurrently/good.sql"
        ),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    stmt.ops
        .iter()
        .filter_map(|op| match op {
            Op::RefreshMaterializedView {
                name,
                concurrently: false,
            } if !locks::created_in_file(ctx, name) => Some(Hit::new(
                stmt.span,
                format!(
                    "refreshes materialized view `{name}` under an ACCESS EXCLUSIVE lock: every read of `{name}` waits until its query has rerun and the contents are replaced; use REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index on the view)"
                ),
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "refresh-materialized-view-non-concurrently";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn view_created_in_file_is_not_reported() {
        let sql = "CREATE MATERIALIZED VIEW mv AS SELECT 1 AS a WITH NO DATA;\nREFRESH MATERIALIZED VIEW mv;";
        assert!(hits(R, sql, Dialect::Postgres).is_empty());
        let h = hits(
            R,
            "REFRESH MATERIALIZED VIEW public.mv WITH DATA;",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("`public.mv`"), "{h:?}");
    }
}
