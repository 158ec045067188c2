//! `TRUNCATE` of a table that existed before this migration.

use super::*;
use crate::sql::ir::Op;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "truncate",
        category: Category::Destructive,
        verdict: Verdict::Destructive,
        dialects: ALL_DIALECTS,
        summary: "TRUNCATE deletes every row of an existing table",
        why: "TRUNCATE empties the table at once: every row is gone unless restored from a backup. With CASCADE (PostgreSQL) it also empties every table that has a foreign key to it, and the tables referencing those, which is easy to overlook. PostgreSQL takes an ACCESS EXCLUSIVE lock (all reads and writes wait); MySQL commits it implicitly, so it cannot be rolled back with the rest of the migration. SQLite has no TRUNCATE (the statement fails; `DELETE FROM t` is its equivalent). squawk's ban-truncate-cascade flags only the CASCADE form; migsafe flags both, since a plain TRUNCATE deletes every row too. Not reported for tables created earlier in the same migration file.",
        safer: "Delete only the rows that must go, in bounded batches (`DELETE FROM sessions WHERE expires_at < now() - interval '30 days';`); if the table really has to be emptied (e.g. a cache), back it up first, name the tables explicitly instead of using CASCADE, and suppress the finding with a reason.",
        anchors: &["squawk:ban-truncate-cascade"],
        bad: include_str!("../../fixtures/rules/truncate/bad.sql"),
        good: include_str!("../../fixtures/rules/truncate/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        let Op::Truncate { tables, cascade } = op else {
            continue;
        };
        for table in tables.iter().filter(|t| ctx.is_existing(t)) {
            let mut msg = format!("empties table `{table}`: deletes all of its rows");
            if *cascade {
                msg.push_str(
                    "; CASCADE also empties every table with a foreign key to it (and the tables referencing those)",
                );
            }
            if ctx.dialect == Dialect::Sqlite {
                msg.push_str(" (SQLite has no TRUNCATE: the statement fails)");
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
    fn plain_and_cascade_each_table() {
        let h = hits("truncate", "TRUNCATE a, b;", Dialect::Postgres);
        assert_eq!(h.len(), 2);
        assert!(!h[0].contains("CASCADE"), "{h:?}");
        let h = hits("truncate", "TRUNCATE TABLE a CASCADE;", Dialect::Postgres);
        assert!(h[0].contains("foreign key"), "{h:?}");
        assert_eq!(
            hits("truncate", "TRUNCATE TABLE a;", Dialect::Mysql).len(),
            1
        );
    }

    #[test]
    fn not_for_tables_created_in_the_file() {
        let sql = "CREATE TABLE staging (id int);\nTRUNCATE staging, orders;";
        let h = hits("truncate", sql, Dialect::Postgres);
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("`orders`"), "{h:?}");
    }
}
