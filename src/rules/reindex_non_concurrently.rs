//! PostgreSQL `REINDEX` without `CONCURRENTLY`.

use super::*;
use crate::rules::locks;
use crate::sql::ir::Op;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "reindex-non-concurrently",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "REINDEX without CONCURRENTLY blocks writes and nearly all reads of the table",
        why: "A plain REINDEX takes a SHARE lock on the table (INSERT, UPDATE and DELETE wait) and an ACCESS EXCLUSIVE lock on each index it rebuilds. The latter blocks more than queries that use the index: the planner locks every index of a table when it plans a query on it, so almost every query of the table waits until the rebuild finishes. REINDEX TABLE rebuilds all of the table's indexes under these locks; REINDEX SCHEMA, DATABASE and SYSTEM do so table by table and cannot run inside a transaction block at all. REINDEX … CONCURRENTLY (PostgreSQL 12+) builds a new copy of each index while writes continue and swaps it in. Not reported for a table (or an index of a table) created earlier in the same file.",
        safer: "`REINDEX INDEX CONCURRENTLY idx_orders_created_at;` (or `REINDEX TABLE CONCURRENTLY orders;`) alone in a migration that does not run in a transaction. Before PostgreSQL 12: `CREATE INDEX CONCURRENTLY idx_new …` with the same definition, then `DROP INDEX CONCURRENTLY idx_old;` and `ALTER INDEX idx_new RENAME TO idx_old;`.",
        anchors: &["squawk:require-concurrent-reindex"],
        bad: include_str!("../../fixtures/rules/reindex-non-concurrently/bad.sql"),
        good: include_str!("../../fixtures/rules/reindex-non-concurrently/good.sql"),
    },
    check,
};

/// True when the index `name` was created earlier in this file on a table created in it.
fn index_of_new_table(ctx: &Ctx, name: &str) -> bool {
    ctx.statements[..ctx.position]
        .iter()
        .flat_map(|s| &s.ops)
        .any(|op| match op {
            Op::CreateIndex {
                name: Some(n),
                table,
                ..
            } => n == name && !ctx.is_existing(table),
            _ => false,
        })
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let Some(target) = stmt.ops.iter().find_map(|op| match op {
        Op::Reindex {
            concurrently: false,
            target,
        } => Some(target.to_ascii_lowercase()),
        _ => None,
    }) else {
        return Vec::new();
    };
    let names = locks::target_names(ctx, stmt);
    let named = locks::quoted(&names.iter().collect::<Vec<_>>());
    let what = match target.as_str() {
        "table" => {
            if !names.is_empty() && names.iter().all(|n| !ctx.is_existing(n)) {
                return Vec::new();
            }
            format!(
                "REINDEX TABLE {named} rebuilds every index of the table under a SHARE lock on it (INSERT, UPDATE and DELETE wait) and an ACCESS EXCLUSIVE lock on each index, which also blocks nearly every read, since the planner locks all indexes of a table it plans a query for"
            )
        }
        "index" => {
            if names.len() == 1 && index_of_new_table(ctx, names[0].base()) {
                return Vec::new();
            }
            format!(
                "REINDEX INDEX {named} rebuilds the index under an ACCESS EXCLUSIVE lock on it and a SHARE lock on its table: INSERT, UPDATE and DELETE wait, and so do nearly all reads, since the planner locks every index of a table it plans a query for"
            )
        }
        other => {
            let scope = other.to_ascii_uppercase();
            let fails = if ctx.in_transaction() || ctx.nested {
                " It cannot run inside a transaction block, so this migration fails as written."
            } else {
                ""
            };
            format!(
                "REINDEX {scope} rebuilds every index it covers, table by table, each under a SHARE lock on the table and ACCESS EXCLUSIVE locks on its indexes (writes and nearly all reads of that table wait).{fails}"
            )
        }
    };
    let alternative = if ctx.version < Version::new(12, 0, 0) {
        format!(
            "PostgreSQL {} has no REINDEX CONCURRENTLY (it needs 12+): build a replacement with CREATE INDEX CONCURRENTLY, then drop the old index with DROP INDEX CONCURRENTLY and rename the new one",
            ctx.version
        )
    } else {
        "use REINDEX … CONCURRENTLY in a migration without a transaction".to_string()
    };
    let what = what.trim_end_matches('.');
    vec![Hit::new(stmt.span, format!("{what}; {alternative}"))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{hits, hits_with};

    const R: &str = "reindex-non-concurrently";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn forms() {
        let t = hits(R, "REINDEX TABLE orders;", Dialect::Postgres);
        assert!(
            t[0].starts_with("REINDEX TABLE `orders` rebuilds every index"),
            "{t:?}"
        );
        let i = hits(
            R,
            "REINDEX (VERBOSE) INDEX public.idx_a;",
            Dialect::Postgres,
        );
        assert!(i[0].starts_with("REINDEX INDEX `public.idx_a`"), "{i:?}");
        let s = hits(R, "REINDEX SCHEMA app;", Dialect::Postgres);
        assert!(s[0].contains("fails as written"), "{s:?}");
        let s = hits(
            R,
            "-- migsafe:no-transaction\nREINDEX DATABASE app;",
            Dialect::Postgres,
        );
        assert!(!s[0].contains("fails"), "{s:?}");
        for ok in [
            "REINDEX TABLE CONCURRENTLY orders;",
            "REINDEX (CONCURRENTLY) INDEX i;",
            "CREATE TABLE t (a int);\nREINDEX TABLE t;",
            "CREATE TABLE t (a int);\nCREATE INDEX ti ON t (a);\nREINDEX INDEX ti;",
        ] {
            assert!(hits(R, ok, Dialect::Postgres).is_empty(), "{ok}");
        }
    }

    #[test]
    fn version_gate() {
        let old = hits_with(R, "REINDEX INDEX i;", Dialect::Postgres, Some("11"));
        assert!(
            old[0].contains("PostgreSQL 11 has no REINDEX CONCURRENTLY"),
            "{old:?}"
        );
        let new = hits_with(R, "REINDEX INDEX i;", Dialect::Postgres, Some("12"));
        assert!(new[0].contains("use REINDEX … CONCURRENTLY"), "{new:?}");
    }
}
