//! PostgreSQL `ALTER TABLE … SET LOGGED | SET TABLESPACE | SET ACCESS METHOD` of an existing table.

use super::*;
use crate::sql::ir::AlterAction;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "table-rewrite",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "SET LOGGED, SET TABLESPACE and SET ACCESS METHOD rewrite the whole table under an ACCESS EXCLUSIVE lock",
        why: "These ALTER TABLE forms copy every row (and rebuild every index) while holding an ACCESS EXCLUSIVE lock, so every read and write of the table waits for the whole copy, minutes on a large table: SET LOGGED also writes the whole table to the WAL at once (a burst that replicas must replay), SET TABLESPACE copies the files to the new tablespace, SET ACCESS METHOD rewrites the rows in the new format. No data is lost. (SET UNLOGGED is reported by set-unlogged, VACUUM FULL and CLUSTER by vacuum-full-or-cluster, column type changes by alter-column-type-rewrite.) Not reported for tables created earlier in the same file.",
        safer: "Do it in a maintenance window, or build a new table with the wanted properties, copy the rows in batches while writes are mirrored (trigger), and swap the names in a short transaction; pg_repack can move a table to another tablespace without the long lock.",
        anchors: &["eugene:E10"],
        bad: include_str!("../../fixtures/rules/table-rewrite/bad.sql"),
        good: include_str!("../../fixtures/rules/table-rewrite/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for (table, item) in existing_alter_items(ctx, stmt) {
        let what = match &item.action {
            AlterAction::SetLogged { logged: true } => {
                "SET LOGGED copies the table and writes all of it to the WAL at once".to_string()
            }
            AlterAction::SetTablespace { name } => {
                format!(
                    "SET TABLESPACE {name} copies the table and its files to the new tablespace"
                )
            }
            AlterAction::SetAccessMethod { name } => {
                format!("SET ACCESS METHOD {name} rewrites every row in the new format")
            }
            _ => continue,
        };
        hits.push(Hit::new(
            item.span,
            format!(
                "{what}: `{table}` is rewritten under an ACCESS EXCLUSIVE lock, which {} until the rewrite finishes",
                lock_blocks("ACCESS EXCLUSIVE")
            ),
        ));
    }
    hits
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
    fn rewriting_forms() {
        for sql in [
            "ALTER TABLE t SET LOGGED;",
            "ALTER TABLE t SET TABLESPACE fast_ssd;",
            "ALTER TABLE t SET ACCESS METHOD heap2;",
        ] {
            assert_eq!(
                hits("table-rewrite", sql, Dialect::Postgres).len(),
                1,
                "{sql}"
            );
        }
        assert!(
            hits(
                "table-rewrite",
                "ALTER TABLE t SET UNLOGGED;",
                Dialect::Postgres
            )
            .is_empty()
        );
    }
}
