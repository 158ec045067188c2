//! PostgreSQL migrations with a long-running statement and no `statement_timeout` (reported
//! once per file).

use super::*;
use crate::rules::facts::TimeoutScan;
use crate::rules::locks;
use crate::sql::ir::Op;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "missing-statement-timeout",
        category: Category::Lock,
        verdict: Verdict::Caution,
        dialects: POSTGRES,
        summary: "A long-running statement runs without a statement timeout",
        why: "Index builds, constraint validations, table rewrites and backfills take time proportional to the table, which is often far bigger in production than where the migration was tested; the time spent waiting for locks counts too. Without a statement_timeout (PostgreSQL's default is none) such a statement runs, and holds its locks, for as long as it takes: the deploy hangs and the tables it locks stay blocked, with nothing to stop it short of cancelling it by hand. Reported once per file, at the first statement that takes a lock (every statement missing-lock-timeout looks at: ALTER TABLE, CREATE INDEX and the like on tables that existed before the file, ALTER TYPE, REINDEX, CLUSTER, …; quick metadata-only changes included, so that the file's other statements are covered by the same setting; not for tables, views and types created earlier in the file) or UPDATE/DELETE of an existing table, when no `SET [LOCAL] statement_timeout` with a non-zero value came earlier in the file.",
        safer: "Set a statement timeout sized for the largest expected run at the top of the migration: `SET LOCAL statement_timeout = '15min';` inside the migration's transaction (`SET statement_timeout = '15min';` without one), next to `SET LOCAL lock_timeout = '2s';`.",
        anchors: &["squawk:require-statement-timeout"],
        bad: include_str!("../../fixtures/rules/missing-statement-timeout/bad.sql"),
        good: include_str!("../../fixtures/rules/missing-statement-timeout/good.sql"),
    },
    check,
};

fn sets_timeout(stmt: &Statement) -> bool {
    stmt.ops.iter().any(|op| match op {
        Op::Set { name, value, .. } => {
            let n = name.rsplit('.').next().unwrap_or(name);
            let v = value.trim().trim_matches('\'').trim();
            n == "statement_timeout"
                && !(v == "0"
                    || v.eq_ignore_ascii_case("default")
                    || v.starts_with("0ms")
                    || v == "0s")
        }
        _ => false,
    })
}

/// The statement, when it is one that may run long, described for the message.
fn long_running(ctx: &Ctx, stmt: &Statement) -> Option<String> {
    // creating a table or trigger locks other tables only briefly: there is nothing to scan
    let quick = stmt
        .ops
        .iter()
        .all(|op| matches!(op, Op::CreateTable { .. } | Op::CreateRoutine { .. }));
    if let Some(l) = locks::statement_lock(ctx, stmt).filter(|_| !quick) {
        // objects created earlier in the file have no rows: nothing takes long there
        if locks::on_new_object(ctx, stmt, &l) {
            return None;
        }
        return Some(if !l.tables.is_empty() && !l.description.contains('`') {
            format!(
                "{} of {}",
                l.description,
                locks::quoted(&l.tables.iter().collect::<Vec<_>>())
            )
        } else if l.on_type {
            format!("{} of {}", l.description, l.on)
        } else {
            l.description
        });
    }
    stmt.ops.iter().find_map(|op| match op {
        Op::Update { table: Some(t), .. } if ctx.is_existing(t) => Some(format!("UPDATE of `{t}`")),
        Op::Delete { table: Some(t), .. } if ctx.is_existing(t) => {
            Some(format!("DELETE from `{t}`"))
        }
        _ => None,
    })
}

/// Records, after the rules ran on a statement, whether it set the timeout or was long-running.
pub(crate) fn after(ctx: &Ctx, stmt: &Statement, scan: &mut TimeoutScan) {
    if sets_timeout(stmt) {
        scan.set_before = true;
    }
    if !scan.set_before
        && !scan.long_running_before
        && locks::runs(ctx.statements, ctx.position)
        && long_running(ctx, stmt).is_some()
    {
        scan.long_running_before = true;
    }
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let pos = ctx.position;
    if !locks::runs(ctx.statements, pos) {
        return Vec::new();
    }
    let Some(what) = long_running(ctx, stmt) else {
        return Vec::new();
    };
    {
        let seen = ctx.facts.timeout.borrow();
        // reported once per file: at the first long-running statement
        if seen.set_before || seen.long_running_before {
            return Vec::new();
        }
    }
    let wait = if ctx.lock_timeout_set {
        ""
    } else {
        ", or a long wait for its lock"
    };
    let set = if ctx.in_transaction() {
        "SET LOCAL statement_timeout = '15min';"
    } else {
        "SET statement_timeout = '15min';"
    };
    vec![Hit::new(
        stmt.span,
        format!(
            "{what} takes locks that it holds for as long as it runs, and no statement_timeout is set: if it runs much longer in production than in testing (a bigger table to scan, rewrite or update{wait}), nothing stops it; add `{set}` (sized for the largest expected run) before it"
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "missing-statement-timeout";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn once_per_file_and_backfills() {
        let sql = "CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);\nUPDATE orders SET a = 1 WHERE id < 10;\nALTER TABLE orders ADD COLUMN b int;";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].starts_with("UPDATE of `orders`"), "{h:?}");
        assert!(h[0].contains("SET LOCAL statement_timeout"), "{h:?}");
        let d = hits(
            R,
            "-- migsafe:no-transaction\nDELETE FROM orders WHERE id < 10;",
            Dialect::Postgres,
        );
        assert!(d[0].contains("`SET statement_timeout"), "{d:?}");
    }

    #[test]
    fn timeout_set_earlier() {
        let ok = "SET statement_timeout TO '5min';\nALTER TABLE orders ADD COLUMN b int;";
        assert!(hits(R, ok, Dialect::Postgres).is_empty());
        let zero = "SET LOCAL statement_timeout = 0;\nALTER TABLE orders ADD COLUMN b int;";
        assert_eq!(hits(R, zero, Dialect::Postgres).len(), 1);
        let after = "ALTER TABLE orders ADD COLUMN b int;\nSET statement_timeout = '5min';";
        assert_eq!(hits(R, after, Dialect::Postgres).len(), 1);
        for quick in [
            "INSERT INTO orders VALUES (1);",
            "CREATE INDEX CONCURRENTLY i ON orders (a);",
            "CREATE TABLE t (a int);",
            "CREATE TABLE t (a int);\nREINDEX TABLE t;",
            "CREATE MATERIALIZED VIEW mv AS SELECT 1 AS a;\nREFRESH MATERIALIZED VIEW mv;",
            "CREATE TYPE s AS ENUM ('a');\nALTER TYPE s RENAME VALUE 'a' TO 'b';",
        ] {
            assert!(hits(R, quick, Dialect::Postgres).is_empty(), "{quick}");
        }
    }
}
