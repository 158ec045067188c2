//! PostgreSQL `LOCK TABLE` of an existing table.

use super::*;
use crate::rules::locks;
use crate::sql::ir::Op;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "lock-table",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "LOCK TABLE blocks other sessions until the transaction ends",
        why: "An explicit LOCK TABLE takes the requested lock (ACCESS EXCLUSIVE when no mode is given) and keeps it until the transaction ends, so everything that conflicts with it waits for the rest of the migration: with ACCESS EXCLUSIVE every read and write of the table, with SHARE or EXCLUSIVE every write. While it waits for the lock it also blocks every query queued behind it. The mode and what it blocks are in the message. Not reported for tables created earlier in the same file, nor for ACCESS SHARE and ROW SHARE, which block only schema changes.",
        safer: "Do not lock whole tables in a migration; let each statement take the lock it needs, keep the transaction short, and set `SET LOCAL lock_timeout = '2s';` first. If the lock is really needed, take the weakest mode that works (SHARE UPDATE EXCLUSIVE still allows reads and writes) as late as possible.",
        anchors: &[],
        bad: include_str!("../../fixtures/rules/lock-table/bad.sql"),
        good: include_str!("../../fixtures/rules/lock-table/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    if !stmt.ops.iter().any(|op| matches!(op, Op::Lock { .. })) {
        return Vec::new();
    }
    let Some(lock) = locks::statement_lock(ctx, stmt) else {
        return Vec::new();
    };
    if !lock.on_existing_table() || locks::rank(lock.mode) >= locks::ORDER.len() {
        return Vec::new();
    }
    let until = if ctx.in_transaction() {
        "until the transaction ends"
    } else {
        "(outside a transaction LOCK TABLE fails: it must run inside one)"
    };
    vec![Hit::new(
        stmt.span,
        format!(
            "locks {} in {} mode {until}, which {} for that whole time",
            lock.on,
            lock.mode,
            lock_blocks(lock.mode)
        ),
    )]
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
    fn modes_and_new_tables() {
        let h = hits("lock-table", "LOCK TABLE orders;", Dialect::Postgres);
        assert!(h[0].contains("ACCESS EXCLUSIVE mode"), "{h:?}");
        let h = hits(
            "lock-table",
            "LOCK TABLE orders IN SHARE MODE;",
            Dialect::Postgres,
        );
        assert!(h[0].contains("INSERT, UPDATE and DELETE"), "{h:?}");
        assert!(
            hits(
                "lock-table",
                "LOCK TABLE orders IN ACCESS SHARE MODE;",
                Dialect::Postgres
            )
            .is_empty()
        );
        let new = "CREATE TABLE t (a int);\nLOCK TABLE t;";
        assert!(hits("lock-table", new, Dialect::Postgres).is_empty());
    }
}
