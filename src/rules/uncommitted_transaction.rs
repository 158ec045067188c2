//! An explicit `BEGIN` that no later `COMMIT`, `ROLLBACK` or `END` in the file closes.

use super::*;
use crate::rules::locks::{self, Tx};
use crate::sql::ir::Op;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "uncommitted-transaction",
        category: Category::Transaction,
        verdict: Verdict::Risky,
        dialects: ALL_DIALECTS,
        summary: "A BEGIN that is never committed: the migration's changes are rolled back",
        why: "An explicit BEGIN (or START TRANSACTION) opens a transaction that stays open until COMMIT, ROLLBACK or END. When nothing after it in the file closes it, the statements after the BEGIN run in that transaction, the migration finishes without an error, and the open transaction is rolled back when the migrator closes its connection: the changes are silently lost while the migrator may record the migration as applied (squawk added its rule after such a production incident, sbdchd/squawk#697). In MySQL, DDL statements commit implicitly, so what is lost is the data changes made after the last DDL statement. Only reported when the migrator does not wrap the file in a transaction of its own (`-- migsafe:no-transaction` and the migrators' equivalents): inside the migrator's transaction the migrator's own COMMIT ends it, and the stray BEGIN is reported by nested-transaction instead.",
        safer: "End every explicit transaction in the same file: `BEGIN; … COMMIT;` — or drop the BEGIN and let the migrator run the file in its transaction.",
        anchors: &["squawk:ban-uncommitted-transaction"],
        bad: include_str!("../../fixtures/rules/uncommitted-transaction/bad.sql"),
        good: include_str!("../../fixtures/rules/uncommitted-transaction/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let pos = ctx.position;
    if ctx.migration_tx || stmt.nested_in.is_some() || !stmt.ops.contains(&Op::Begin) {
        return Vec::new();
    }
    // only a BEGIN that really opens a transaction (a nested one is ignored)
    if locks::transactions(ctx).get(pos) != Some(&Tx::Explicit(pos)) {
        return Vec::new();
    }
    let closed = ctx.statements[pos + 1..]
        .iter()
        .filter(|s| s.nested_in.is_none())
        .any(|s| matches!(locks::tx_control(s), Some("COMMIT" | "ROLLBACK")));
    if closed {
        return Vec::new();
    }
    let what = if stmt
        .sql
        .trim_start()
        .to_ascii_uppercase()
        .starts_with("START")
    {
        "START TRANSACTION"
    } else {
        "BEGIN"
    };
    let lost = match ctx.dialect {
        Dialect::Mysql => {
            "the data changes (INSERT, UPDATE, DELETE) made after it and after the last DDL statement (DDL commits implicitly in MySQL) are rolled back when the migrator closes its connection"
        }
        _ => {
            "the migration finishes without an error, but everything after this line is rolled back when the migrator closes its connection"
        }
    };
    vec![Hit::new(
        stmt.span,
        format!(
            "{what} opens a transaction that no later COMMIT, ROLLBACK or END in this file closes: {lost}; add `COMMIT;` at the end"
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "uncommitted-transaction";
    const NO_TX: &str = "-- migsafe:no-transaction\n";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn closed_by_commit_rollback_or_end() {
        for end in ["COMMIT;", "ROLLBACK;", "END;", "COMMIT WORK;", "ABORT;"] {
            let sql = format!("{NO_TX}BEGIN;\nINSERT INTO t VALUES (1);\n{end}");
            assert!(hits(R, &sql, Dialect::Postgres).is_empty(), "{end}");
        }
        let open = format!("{NO_TX}START TRANSACTION;\nINSERT INTO t VALUES (1);");
        let h = hits(R, &open, Dialect::Postgres);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].starts_with("START TRANSACTION opens"), "{h:?}");
    }

    #[test]
    fn second_transaction_left_open() {
        let sql = format!(
            "{NO_TX}BEGIN;\nINSERT INTO t VALUES (1);\nCOMMIT;\nBEGIN;\nINSERT INTO t VALUES (2);"
        );
        assert_eq!(hits(R, &sql, Dialect::Postgres).len(), 1);
        // a BEGIN nested in an open one is ignored by PostgreSQL: one COMMIT closes both
        let nested = format!("{NO_TX}BEGIN;\nBEGIN;\nINSERT INTO t VALUES (1);\nCOMMIT;");
        assert!(hits(R, &nested, Dialect::Postgres).is_empty());
    }

    #[test]
    fn migrator_transaction_commits_it() {
        // the migrator's COMMIT closes whatever is open; nested-transaction reports the BEGIN
        assert!(hits(R, "BEGIN;\nINSERT INTO t VALUES (1);", Dialect::Postgres).is_empty());
        let mysql = format!("{NO_TX}BEGIN;\nINSERT INTO t VALUES (1);");
        let h = hits(R, &mysql, Dialect::Mysql);
        assert!(h[0].contains("DDL commits implicitly"), "{h:?}");
    }
}
