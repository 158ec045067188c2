//! PostgreSQL lock-taking statements on existing tables with no `lock_timeout` set (reported
//! once per file).

use super::*;
use crate::rules::locks;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "missing-lock-timeout",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "A lock-taking statement runs without a lock timeout",
        why: "Before ALTER TABLE (and CREATE INDEX, DROP, TRUNCATE, LOCK, CLUSTER, VACUUM FULL, REINDEX, REFRESH MATERIALIZED VIEW, ALTER TYPE) can run it must acquire its lock, and it waits for every transaction that already uses the table, with no limit by default. While it waits it sits in the lock queue, and every later query that conflicts with its lock queues behind it: for an ACCESS EXCLUSIVE lock that is every read and write of the table, so one slow query turns a millisecond schema change into an outage. Reported once per file, at the first such statement on a table that existed before the file; statements after a `SET lock_timeout` are not reported, nor are CREATE TABLE, CREATE INDEX CONCURRENTLY, REFRESH MATERIALIZED VIEW CONCURRENTLY or data changes.",
        safer: "Set a short lock timeout at the top of the migration and retry the migration when it times out: `SET lock_timeout = '2s';` (or `SET LOCAL lock_timeout = '2s';` inside the migration's transaction, so the setting ends with it).",
        anchors: &["squawk:require-lock-timeout", "eugene:E9"],
        bad: include_str!("../../fixtures/rules/missing-lock-timeout/bad.sql"),
        good: include_str!("../../fixtures/rules/missing-lock-timeout/good.sql"),
    },
    check,
};

/// What the lock holds up while the statement waits in the queue.
fn queue_effect(mode: &str, on: &str) -> String {
    match mode {
        "ACCESS EXCLUSIVE" => format!("every later query on {on} (reads and writes)"),
        "SHARE UPDATE EXCLUSIVE" => {
            format!("later schema changes, VACUUM and index builds on {on} (not reads or writes)")
        }
        "EXCLUSIVE" | "SHARE ROW EXCLUSIVE" | "SHARE" => {
            format!("every later INSERT, UPDATE and DELETE on {on}")
        }
        _ => format!("every later conflicting query on {on}"),
    }
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    if ctx.nested || ctx.lock_timeout_set || ctx.lock_timeout_reported {
        return Vec::new();
    }
    let Some(lock) = locks::statement_lock(ctx, stmt) else {
        return Vec::new();
    };
    // objects created earlier in this file have no traffic to queue behind
    if locks::on_new_object(ctx, stmt, &lock) {
        return Vec::new();
    }
    let locks::TakenLock {
        description: what,
        mode,
        on,
        ..
    } = lock;
    let effect = if on.starts_with("type ") {
        format!("waits without limit for transactions that use {on}")
    } else {
        format!(
            "while it waits in the lock queue it blocks {}",
            queue_effect(mode, &on)
        )
    };
    let article = if mode.starts_with('S') { "a" } else { "an" };
    vec![Hit::new(
        stmt.span,
        format!(
            "{what} needs {article} {mode} lock on {on} and no lock_timeout is set: it waits as long as any running transaction holds a conflicting lock, and {effect}; add `SET lock_timeout = '2s';` before it"
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "missing-lock-timeout";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn once_per_file_at_the_first_lock() {
        let sql = "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN b int;\nINSERT INTO t VALUES (1);\n\
                   CREATE INDEX i ON orders (a);\nALTER TABLE orders ADD COLUMN c int;";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(
            h[0].starts_with("CREATE INDEX needs a SHARE lock on `orders`"),
            "{h:?}"
        );
        assert!(h[0].contains("INSERT, UPDATE and DELETE"), "{h:?}");
    }

    #[test]
    fn timeout_set_earlier_and_lock_free_statements() {
        let set = "SET LOCAL lock_timeout = '2s';\nALTER TABLE orders DROP COLUMN c;";
        assert!(hits(R, set, Dialect::Postgres).is_empty());
        let zero = "SET lock_timeout = 0;\nALTER TABLE orders DROP COLUMN c;";
        assert_eq!(hits(R, zero, Dialect::Postgres).len(), 1);
        for sql in [
            "CREATE INDEX CONCURRENTLY i ON orders (a);",
            "UPDATE orders SET a = 1 WHERE id = 2;",
            "REFRESH MATERIALIZED VIEW CONCURRENTLY mv;",
        ] {
            assert!(hits(R, sql, Dialect::Postgres).is_empty(), "{sql}");
        }
        assert!(hits(R, "ALTER TABLE orders ADD COLUMN c int;", Dialect::Mysql).is_empty());
    }

    #[test]
    fn lock_mode_in_message() {
        let h = hits(R, "ALTER TABLE orders ADD COLUMN c int;", Dialect::Postgres);
        assert!(
            h[0].contains("ACCESS EXCLUSIVE lock on `orders`")
                && h[0].contains("every later query"),
            "{h:?}"
        );
        let v = hits(
            R,
            "ALTER TABLE orders VALIDATE CONSTRAINT c;",
            Dialect::Postgres,
        );
        assert!(
            v[0].contains("SHARE UPDATE EXCLUSIVE") && v[0].contains("not reads or writes"),
            "{v:?}"
        );
        let d = hits(R, "DROP INDEX i;", Dialect::Postgres);
        assert!(d[0].contains("the table the index belongs to"), "{d:?}");
    }
}
