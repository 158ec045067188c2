//! `BEGIN` inside an open transaction (the migrator's or an explicit one), and a stray `COMMIT`
//! or `ROLLBACK` that ends the migrator's transaction early.

use super::*;
use crate::rules::locks::{self, Tx};
use crate::sql::ir::Op;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "nested-transaction",
        category: Category::Transaction,
        verdict: Verdict::Risky,
        dialects: ALL_DIALECTS,
        summary: "BEGIN inside an open transaction, or a COMMIT/ROLLBACK that ends the migrator's transaction",
        why: "Most migrators run each migration file inside a transaction of their own. A BEGIN in the file then runs inside it: PostgreSQL only warns (\"there is already a transaction in progress\") and ignores it, so the file's COMMIT commits the migrator's transaction early; every statement after it runs outside any transaction (each commits on its own, so a failure leaves the migration half-applied and it cannot be retried cleanly), and the migrator's own COMMIT only warns. A ROLLBACK rolls back everything before it, including the statements the migrator expects to be applied. MySQL commits the open transaction implicitly when a new one begins, and SQLite refuses a nested BEGIN (\"cannot start a transaction within a transaction\"), failing the migration. The same applies to a second BEGIN while an explicit transaction of the file is still open. Reported on the BEGIN, or on a COMMIT/ROLLBACK that ends the migrator's transaction without a BEGIN of the file.",
        safer: "Let the migrator's transaction cover the file and remove BEGIN/COMMIT from it; when statements must run outside a transaction (CREATE INDEX CONCURRENTLY, batched backfills), put them in a separate migration marked as non-transactional (`-- migsafe:no-transaction` plus your migrator's directive) and control transactions explicitly there.",
        anchors: &["squawk:transaction-nesting"],
        bad: include_str!("../../fixtures/rules/nested-transaction/bad.sql"),
        good: include_str!("../../fixtures/rules/nested-transaction/good.sql"),
    },
    check,
};

/// The first later top-level COMMIT or ROLLBACK: (kind, line).
fn closing(ctx: &Ctx) -> Option<(&'static str, usize)> {
    ctx.statements[ctx.position + 1..]
        .iter()
        .filter(|s| s.nested_in.is_none())
        .find_map(|s| match locks::tx_control(s) {
            Some(k @ ("COMMIT" | "ROLLBACK")) => Some((k, locks::line_of(ctx, s.span.start))),
            _ => None,
        })
}

fn nested_begin(ctx: &Ctx, open: Tx) -> String {
    let inside = match open {
        Tx::Explicit(j) => format!(
            "while the transaction opened on line {} is still open",
            locks::line_of(ctx, ctx.statements[j].span.start)
        ),
        _ => "inside the transaction the migrator wraps this migration in".to_string(),
    };
    let whose = if open == Tx::Migrator {
        "the migrator's transaction"
    } else {
        "the outer transaction"
    };
    match ctx.dialect {
        Dialect::Sqlite => format!(
            "BEGIN runs {inside}: SQLite refuses it (\"cannot start a transaction within a transaction\") and the migration fails"
        ),
        Dialect::Mysql => format!(
            "BEGIN runs {inside}: MySQL first commits {whose} implicitly, so if a later statement fails, the rollback undoes only the statements after this BEGIN and the ones before it stay applied"
        ),
        Dialect::Postgres => {
            let then = match closing(ctx) {
                Some(("COMMIT", line)) => format!(
                    ", so the COMMIT on line {line} commits {whose} early: the statements after it run outside any transaction (a failure there leaves the migration half-applied){}",
                    if open == Tx::Migrator {
                        " and the migrator's own COMMIT only warns"
                    } else {
                        ""
                    }
                ),
                Some((_, line)) => format!(
                    ", so the ROLLBACK on line {line} rolls back all of {whose}, statements before this BEGIN included"
                ),
                None => String::new(),
            };
            format!(
                "BEGIN runs {inside}: PostgreSQL ignores it with a warning (\"there is already a transaction in progress\"){then}; remove it"
            )
        }
    }
}

fn stray_end(ctx: &Ctx, what: &str) -> String {
    let after = if ctx.statements[ctx.position + 1..]
        .iter()
        .any(|s| s.nested_in.is_none() && !locks::session_only(s))
    {
        "the statements after it run outside any transaction (each commits on its own, so a failure leaves the migration half-applied)"
    } else {
        "nothing is left for the migrator's transaction"
    };
    let rollback = if what == "ROLLBACK" {
        "undoes every statement before it and "
    } else {
        ""
    };
    let migrator_end = match ctx.dialect {
        Dialect::Sqlite => {
            "the migrator's own COMMIT then fails (\"cannot commit - no transaction is active\")"
        }
        Dialect::Postgres => {
            "the migrator's own COMMIT only warns (\"there is no transaction in progress\")"
        }
        Dialect::Mysql => "the migrator's own COMMIT has nothing left to commit",
    };
    format!(
        "{what} without a BEGIN of this file ends the transaction the migrator wraps this migration in: it {rollback}ends it early, {after}, and {migrator_end}; remove it"
    )
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let pos = ctx.position;
    if stmt.nested_in.is_some() || locks::tx_control(stmt).is_none() {
        return Vec::new();
    }
    let txs = locks::transactions(ctx);
    let Some(&tx) = txs.get(pos) else {
        return Vec::new();
    };
    let message = match locks::tx_control(stmt) {
        // a BEGIN that does not open its own transaction runs inside another one
        Some("BEGIN") if tx != Tx::Explicit(pos) => nested_begin(ctx, tx),
        Some(what @ ("COMMIT" | "ROLLBACK")) if tx == Tx::Migrator => {
            // a COMMIT that closes an ignored BEGIN of the file is reported on that BEGIN
            let paired = (0..pos).any(|j| {
                ctx.statements[j].nested_in.is_none()
                    && ctx.statements[j].ops.contains(&Op::Begin)
                    && txs[j] == Tx::Migrator
            });
            if paired {
                return Vec::new();
            }
            stray_end(ctx, what)
        }
        _ => return Vec::new(),
    };
    vec![Hit::new(stmt.span, message)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "nested-transaction";
    const NO_TX: &str = "-- migsafe:no-transaction\n";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn begin_in_migrator_transaction_reported_once() {
        let sql = "BEGIN;\nALTER TABLE t ADD COLUMN a int;\nCOMMIT;\nSELECT 1;";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(
            h[0].contains("ignores it") && h[0].contains("COMMIT on line 3"),
            "{h:?}"
        );
        let sqlite = hits(R, sql, Dialect::Sqlite);
        assert!(
            sqlite[0].contains("cannot start a transaction"),
            "{sqlite:?}"
        );
        let mysql = hits(R, sql, Dialect::Mysql);
        assert!(
            mysql[0].contains("commits the migrator's transaction implicitly"),
            "{mysql:?}"
        );
    }

    #[test]
    fn explicit_transactions_without_migrator_transaction() {
        let ok = format!("{NO_TX}BEGIN;\nSELECT 1;\nCOMMIT;\nBEGIN;\nSELECT 2;\nCOMMIT;");
        assert!(hits(R, &ok, Dialect::Postgres).is_empty());
        let nested = format!("{NO_TX}BEGIN;\nSELECT 1;\nBEGIN;\nSELECT 2;\nCOMMIT;\nCOMMIT;");
        let h = hits(R, &nested, Dialect::Postgres);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].contains("opened on line 2"), "{h:?}");
        // a COMMIT outside any transaction only warns: not reported
        assert!(hits(R, &format!("{NO_TX}SELECT 1;\nCOMMIT;"), Dialect::Postgres).is_empty());
    }

    #[test]
    fn stray_commit_and_rollback() {
        let h = hits(R, "SELECT 1;\nCOMMIT;\nSELECT 2;", Dialect::Postgres);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].starts_with("COMMIT without a BEGIN"), "{h:?}");
        assert!(h[0].contains("outside any transaction"), "{h:?}");
        let r = hits(
            R,
            "UPDATE t SET a = 1 WHERE b;\nROLLBACK;",
            Dialect::Postgres,
        );
        assert!(r[0].contains("undoes every statement before it"), "{r:?}");
        // after the migrator's transaction ended, a new BEGIN opens a real one
        let again = "COMMIT;\nBEGIN;\nSELECT 1;\nCOMMIT;";
        assert_eq!(hits(R, again, Dialect::Postgres).len(), 1);
    }
}
