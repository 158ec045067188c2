//! PostgreSQL `UPDATE`/`DELETE` of an existing table in the same transaction as DDL that
//! locked that table.

use super::*;
use crate::rules::locks;
use crate::sql::ir::Op;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "backfill-in-ddl-transaction",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "A backfill runs in the same transaction as DDL that locked the table",
        why: "Locks taken by a schema change are held until its transaction ends. When an UPDATE (or DELETE) of the same table follows in that transaction — typically the backfill of a column just added — the DDL's lock stays held for the whole data change: with ACCESS EXCLUSIVE (most ALTER TABLE forms) every read and write of the table waits until the backfill over the whole table has finished and committed; with SHARE (CREATE INDEX) every write does. One big UPDATE also rewrites every row at once, bloating the table and its indexes. Not reported when a COMMIT separates the two, when the file runs without a migrator transaction and the statements are not in one explicit BEGIN … COMMIT, or for tables created earlier in the file. MySQL and SQLite are not checked: MySQL commits DDL implicitly, so the backfill never shares its transaction, and SQLite locks the whole database for any write transaction anyway.",
        safer: "Keep the schema change short and in its own migration; backfill in a separate migration without a transaction, in batches that each commit (for example `UPDATE orders SET status = 'new' WHERE id IN (SELECT id FROM orders WHERE status IS NULL LIMIT 10000);` repeated until no row changes), with a pause between batches.",
        anchors: &["eugene:E4"],
        bad: include_str!("../../fixtures/rules/backfill-in-ddl-transaction/bad.sql"),
        good: include_str!("../../fixtures/rules/backfill-in-ddl-transaction/good.sql"),
    },
    check,
};

/// Whether the rule reports `stmt` (an UPDATE/DELETE sharing a transaction with DDL that locked
/// its table): update-without-where leaves backfills of new columns to it.
pub(super) fn fires(ctx: &Ctx, stmt: &Statement) -> bool {
    RULE.meta.applies_to(ctx.dialect) && !check(ctx, stmt).is_empty()
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let pos = ctx.position;
    if !locks::runs(ctx.statements, pos) {
        return Vec::new();
    }
    let Some((verb, table)) = stmt.ops.iter().find_map(|op| match op {
        Op::Update { table: Some(t), .. } => Some(("UPDATE", t)),
        Op::Delete { table: Some(t), .. } => Some(("DELETE", t)),
        _ => None,
    }) else {
        return Vec::new();
    };
    if !ctx.is_existing(table) {
        return Vec::new();
    }
    let txs = locks::transactions(ctx);
    if txs[pos] == locks::Tx::Own {
        return Vec::new();
    }
    // the strongest lock an earlier DDL statement of this transaction took on the table
    let ddl = ctx
        .facts
        .lockers_of(table)
        .into_iter()
        .filter(|&j| {
            locks::runs(ctx.statements, j)
                && txs[j].same(txs[pos])
                && locks::may_lock(&ctx.statements[j], table)
        })
        .filter_map(|j| {
            let l = locks::statement_lock(ctx, &ctx.statements[j])?;
            let ddl = !matches!(
                l.description.as_str(),
                "LOCK TABLE" | "DROP TABLE" | "TRUNCATE"
            );
            (ddl && l.may_cover(table)).then_some((j, l))
        })
        .max_by_key(|(j, l)| (locks::rank(l.mode), std::cmp::Reverse(*j)));
    let Some((j, lock)) = ddl else {
        return Vec::new();
    };
    let line = locks::line_of(ctx, ctx.statements[j].span.start);
    let article = if lock.mode.starts_with('S') {
        "a"
    } else {
        "an"
    };
    vec![Hit::new(
        stmt.span,
        format!(
            "{verb} of `{table}` runs in the same transaction as the {} on line {line}, which took {article} {} lock on `{table}`: that lock is held until the whole {verb} has finished and committed, which {} for its whole duration; backfill in batches in a separate migration without a transaction",
            lock.description,
            lock.mode,
            lock_blocks(lock.mode)
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "backfill-in-ddl-transaction";
    const NO_TX: &str = "-- migsafe:no-transaction\n";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn names_the_ddl_and_its_lock() {
        let sql = "CREATE INDEX i ON orders (a);\nALTER TABLE orders ADD COLUMN b int;\nDELETE FROM orders WHERE a IS NULL;";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(
            h[0].starts_with("DELETE of `orders` runs in the same transaction as the ALTER TABLE on line 2, which took an ACCESS EXCLUSIVE lock"),
            "{h:?}"
        );
        let idx = hits(
            R,
            "CREATE INDEX i ON orders (a);\nUPDATE orders SET a = 0 WHERE a IS NULL;",
            Dialect::Postgres,
        );
        assert!(
            idx[0].contains("a SHARE lock") && idx[0].contains("INSERT, UPDATE and DELETE"),
            "{idx:?}"
        );
    }

    #[test]
    fn transaction_boundaries() {
        let ddl = "ALTER TABLE orders ADD COLUMN b int;\n";
        let upd = "UPDATE orders SET b = 0 WHERE b IS NULL;";
        assert!(hits(R, &format!("{NO_TX}{ddl}{upd}"), Dialect::Postgres).is_empty());
        assert!(
            hits(
                R,
                &format!("{NO_TX}BEGIN;\n{ddl}COMMIT;\n{upd}"),
                Dialect::Postgres
            )
            .is_empty()
        );
        assert_eq!(
            hits(
                R,
                &format!("{NO_TX}BEGIN;\n{ddl}{upd}\nCOMMIT;"),
                Dialect::Postgres
            )
            .len(),
            1
        );
        // another table, a new table, a plain LOCK
        for ok in [
            "ALTER TABLE customers ADD COLUMN b int;\nUPDATE orders SET b = 0 WHERE id = 1;",
            "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN b int;\nUPDATE t SET b = 0;",
            "LOCK TABLE orders IN SHARE MODE;\nUPDATE orders SET b = 0 WHERE id = 1;",
        ] {
            assert!(hits(R, ok, Dialect::Postgres).is_empty(), "{ok}");
        }
    }

    #[test]
    fn inside_do_block() {
        let sql =
            "ALTER TABLE orders ADD COLUMN b int;\nDO $$ BEGIN UPDATE orders SET b = 0; END $$;";
        assert_eq!(hits(R, sql, Dialect::Postgres).len(), 1);
        // a function body only runs when called
        let f = "ALTER TABLE orders ADD COLUMN b int;\nCREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ UPDATE orders SET b = 0 $$;";
        assert!(hits(R, f, Dialect::Postgres).is_empty());
    }
}
