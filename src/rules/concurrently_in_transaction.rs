//! PostgreSQL `CONCURRENTLY` operations that cannot run inside a transaction block.

use super::*;
use crate::sql::ir::{AlterAction, ObjectKind, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "concurrently-in-transaction",
        category: Category::Transaction,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "CONCURRENTLY operations fail inside a transaction",
        why: "CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY, REINDEX … CONCURRENTLY and ALTER TABLE … DETACH PARTITION … CONCURRENTLY commit internally several times, so PostgreSQL refuses them inside a transaction block (\"cannot run inside a transaction block\") or in a function or DO block: when the migrator wraps the migration in a transaction, or an explicit BEGIN is open, the migration fails. REFRESH MATERIALIZED VIEW CONCURRENTLY may run in a transaction and is not reported.",
        safer: "Put the statement alone in its own migration that does not run in a transaction: start the file with `-- migsafe:no-transaction` and use your migrator's directive (goose: `-- +goose NO TRANSACTION`; dbmate: `-- migrate:up transaction:false`; sqlx: `-- no-transaction`; golang-migrate and Flyway run such statements outside a transaction on their own or need `executeInTransaction=false`). Use IF NOT EXISTS / IF EXISTS so a retry after a failed concurrent build is harmless.",
        anchors: &[
            "squawk:ban-concurrent-index-creation-in-transaction",
            "atlas:PG103",
        ],
        bad: include_str!("../../fixtures/rules/concurrently-in-transaction/bad.sql"),
        good: include_str!("../../fixtures/rules/concurrently-in-transaction/good.sql"),
    },
    check,
};

/// The `… CONCURRENTLY` operations of a statement, described for messages.
fn concurrent_ops(stmt: &Statement) -> Vec<String> {
    let mut out = Vec::new();
    for op in &stmt.ops {
        match op {
            Op::CreateIndex {
                concurrently: true,
                name,
                table,
                ..
            } => out.push(match name {
                Some(n) => format!("CREATE INDEX CONCURRENTLY `{n}` on `{table}`"),
                None => format!("CREATE INDEX CONCURRENTLY on `{table}`"),
            }),
            Op::Drop {
                kind: ObjectKind::Index,
                concurrently: true,
                names,
                ..
            } => out.push(format!(
                "DROP INDEX CONCURRENTLY {}",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Op::Reindex {
                concurrently: true, ..
            } => out.push("REINDEX … CONCURRENTLY".to_string()),
            Op::AlterTable { table, items, .. } => {
                for item in items {
                    if let AlterAction::DetachPartition {
                        partition,
                        concurrently: true,
                    } = &item.action
                    {
                        out.push(format!(
                            "DETACH PARTITION `{partition}` CONCURRENTLY from `{table}`"
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let context = if ctx.nested {
        "inside a function or DO block"
    } else if ctx.explicit_tx {
        "inside the transaction opened by an explicit BEGIN"
    } else if ctx.migration_tx {
        "inside the transaction the migrator wraps this migration in"
    } else {
        return Vec::new();
    };
    concurrent_ops(stmt)
        .into_iter()
        .map(|what| {
            Hit::new(
                stmt.span,
                format!(
                    "{what} runs {context}: PostgreSQL refuses it (\"cannot run inside a transaction block\") and the migration fails"
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "concurrently-in-transaction";

    /// Runs the check with the given transaction state: the migration's own transaction comes
    /// from the `-- migsafe:no-transaction` directive, an explicit one from a leading `BEGIN`.
    fn run(sql: &str, migration_tx: bool, explicit_tx: bool) -> Vec<String> {
        let mut text = String::new();
        if !migration_tx {
            text.push_str("-- migsafe:no-transaction\n");
        }
        if explicit_tx {
            text.push_str("BEGIN;\n");
        }
        text.push_str(sql);
        hits(R, &text, Dialect::Postgres)
    }

    #[test]
    fn fixtures() {
        // check_sql honours the good fixture's `-- migsafe:no-transaction` directive
        testing::fixtures_behave(&RULE);
        assert!(run(RULE.meta.good, false, false).is_empty());
    }

    #[test]
    fn every_concurrent_form() {
        for sql in [
            "DROP INDEX CONCURRENTLY IF EXISTS i;",
            "REINDEX INDEX CONCURRENTLY i;",
            "ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY;",
        ] {
            assert_eq!(hits(R, sql, Dialect::Postgres).len(), 1, "{sql}");
        }
        assert!(
            hits(
                R,
                "REFRESH MATERIALIZED VIEW CONCURRENTLY mv;",
                Dialect::Postgres
            )
            .is_empty()
        );
        assert!(hits(R, "CREATE INDEX i ON t (a);", Dialect::Postgres).is_empty());
    }

    #[test]
    fn explicit_begin_outside_migration_transaction() {
        let sql = "CREATE INDEX CONCURRENTLY i ON t (a);";
        let h = run(sql, false, true);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(
            h[0].contains("explicit BEGIN") && h[0].contains("`i`"),
            "{h:?}"
        );
        assert!(run(sql, false, false).is_empty());
    }
}
