//! Non-unique indexes with more than three columns.

use super::*;
use crate::sql::ir::{AlterAction, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "index-too-many-columns",
        category: Category::Style,
        verdict: Verdict::Caution,
        dialects: ALL_DIALECTS,
        summary: "A non-unique index with more than three columns",
        why: "A B-tree index is only used efficiently from its leading columns, and the first two or three usually narrow the rows down already; every further column makes the index larger (more memory and disk, slower to build) and makes every INSERT and every UPDATE of those columns write more, for little gain in reads. Unique indexes are not reported (their columns define the constraint). Covers CREATE INDEX and MySQL ALTER TABLE … ADD INDEX; indexes declared inline in a MySQL CREATE TABLE are not checked.",
        safer: "Index the two or three columns that narrow the results the most, most selective equality columns first (PostgreSQL can add non-searched columns with `INCLUDE (…)` for index-only scans): `CREATE INDEX CONCURRENTLY orders_customer_created_idx ON orders (customer_id, created_at);`.",
        anchors: &["strong_migrations:add_index_columns"],
        bad: include_str!("../../fixtures/rules/index-too-many-columns/bad.sql"),
        good: include_str!("../../fixtures/rules/index-too-many-columns/good.sql"),
    },
    check,
};

fn hit(span: Span, name: Option<&String>, table: &dyn std::fmt::Display, cols: &[String]) -> Hit {
    let name = name.map(|n| format!(" `{n}`")).unwrap_or_default();
    Hit::new(
        span,
        format!(
            "index{name} on `{table}` has {} columns ({}): columns after the first few rarely help queries but make the index larger and every write to them slower",
            cols.len(),
            cols.join(", ")
        ),
    )
}

fn check(_ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        match op {
            Op::CreateIndex {
                name,
                table,
                columns,
                unique: false,
                ..
            } if columns.len() > 3 => hits.push(hit(stmt.span, name.as_ref(), table, columns)),
            Op::AlterTable { table, items, .. } => {
                for item in items {
                    if let AlterAction::AddIndex {
                        name,
                        columns,
                        unique: false,
                        ..
                    } = &item.action
                        && columns.len() > 3
                    {
                        hits.push(hit(item.span, name.as_ref(), table, columns));
                    }
                }
            }
            _ => {}
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "index-too-many-columns";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn non_unique_over_three() {
        let sql = "CREATE INDEX a ON t (a, b, c);\n\
                   CREATE UNIQUE INDEX b ON t (a, b, c, d);\n\
                   CREATE INDEX c ON t (a, b, c, d);";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(
            h[0].contains("index `c` on `t` has 4 columns (a, b, c, d)"),
            "{h:?}"
        );
    }

    #[test]
    fn mysql_add_index() {
        let h = hits(
            R,
            "ALTER TABLE t ADD INDEX ix (a, b, c, d, e);",
            Dialect::Mysql,
        );
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].contains("5 columns"), "{h:?}");
    }
}
