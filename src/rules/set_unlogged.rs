//! PostgreSQL `ALTER TABLE … SET UNLOGGED` of an existing table.

use super::*;
use crate::sql::ir::AlterAction;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "set-unlogged",
        category: Category::Destructive,
        verdict: Verdict::Destructive,
        dialects: POSTGRES,
        summary: "SET UNLOGGED makes a table's data vanish on a crash and on every replica",
        why: "An unlogged table is not written to the WAL: after a crash or an unclean shutdown PostgreSQL empties it, and it is not replicated, so standbys (and anything restored from WAL or promoted in a failover) have it empty. Every row that existed before the migration can therefore be lost at the next crash or failover; the change also rewrites the whole table under an ACCESS EXCLUSIVE lock, which blocks all reads and writes until done. Not reported for tables created earlier in the same file.",
        safer: "Keep durable data in logged tables. Use UNLOGGED only for data that can be rebuilt (caches, staging tables for a bulk load), created as UNLOGGED from the start: `CREATE UNLOGGED TABLE import_staging (…);`.",
        anchors: &[],
        bad: include_str!("../../fixtures/rules/set-unlogged/bad.sql"),
        good: include_str!("../../fixtures/rules/set-unlogged/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    existing_alter_items(ctx, stmt)
        .into_iter()
        .filter(|(_, item)| matches!(item.action, AlterAction::SetLogged { logged: false }))
        .map(|(table, item)| {
            Hit::new(
                item.span,
                format!(
                    "makes `{table}` unlogged: its rows are no longer written to the WAL, so a crash empties the table and replicas (and failovers) have it empty; the table is also rewritten under an ACCESS EXCLUSIVE lock, which {}",
                    lock_blocks("ACCESS EXCLUSIVE")
                ),
            )
        })
        .collect()
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
    fn only_unlogged_of_existing_tables() {
        assert_eq!(
            hits(
                "set-unlogged",
                "ALTER TABLE events SET UNLOGGED;",
                Dialect::Postgres
            )
            .len(),
            1
        );
        assert!(
            hits(
                "set-unlogged",
                "ALTER TABLE events SET LOGGED;",
                Dialect::Postgres
            )
            .is_empty()
        );
        let new = "CREATE TABLE staging (a int);\nALTER TABLE staging SET UNLOGGED;";
        assert!(hits("set-unlogged", new, Dialect::Postgres).is_empty());
    }
}
