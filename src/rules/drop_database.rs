//! `DROP DATABASE`.

use super::*;
use crate::sql::ir::{ObjectKind, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "drop-database",
        category: Category::Destructive,
        verdict: Verdict::Destructive,
        dialects: ALL_DIALECTS,
        summary: "Dropping a database deletes everything in it",
        why: "DROP DATABASE deletes every schema, table and row of the database and cannot be rolled back (PostgreSQL refuses to run it inside a transaction block; MySQL commits it implicitly). Every application connected to it fails at once. SQLite has no DROP DATABASE (a database is a file; DETACH only disconnects it): there the statement fails, but its intent is the same.",
        safer: "Do not drop databases from migrations: take and verify a backup, make sure nothing connects to it any more, and drop it by hand as an operational task.",
        anchors: &["squawk:ban-drop-database"],
        bad: include_str!("../../fixtures/rules/drop-database/bad.sql"),
        good: include_str!("../../fixtures/rules/drop-database/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        let Op::Drop {
            kind: ObjectKind::Database,
            names,
            ..
        } = op
        else {
            continue;
        };
        for name in names {
            let mut msg = format!("drops database `{name}` with every schema, table and row in it");
            if ctx.dialect == Dialect::Sqlite {
                msg.push_str(" (SQLite has no DROP DATABASE: the statement fails)");
            }
            hits.push(Hit::new(stmt.span, msg));
        }
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
    fn every_dialect() {
        for d in ALL_DIALECTS {
            let h = hits("drop-database", "DROP DATABASE IF EXISTS shop;", *d);
            assert_eq!(h.len(), 1, "{d:?}");
            assert!(h[0].contains("`shop`"), "{h:?}");
        }
        // MySQL DROP SCHEMA is reported by drop-schema, not twice
        assert!(hits("drop-database", "DROP SCHEMA shop;", Dialect::Mysql).is_empty());
    }
}
