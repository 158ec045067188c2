//! PostgreSQL statements that switch off trigger-based enforcement: `ALTER TABLE … DISABLE
//! TRIGGER ALL|USER|name` and `SET session_replication_role = replica`.

use super::*;
use crate::sql::ir::{AlterAction, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "foreign-keys-disabled",
        category: Category::Data,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "DISABLE TRIGGER and session_replication_role = replica silently switch off foreign keys and triggers",
        why: "PostgreSQL enforces foreign keys with internal triggers. `ALTER TABLE … DISABLE TRIGGER ALL` turns those off, with every user trigger, for every session until someone runs ENABLE TRIGGER: rows that break the foreign keys get in without an error, and nothing checks them when the triggers come back. `DISABLE TRIGGER USER` or a named trigger stops the behaviour those triggers implement (audit rows, derived columns). `SET session_replication_role = replica` does the same for the statements of this session: its writes skip foreign-key checks and ordinary triggers. No data is deleted, but the integrity the schema promises is no longer guaranteed. Not reported for tables created earlier in the same file.",
        safer: "Keep the checks on and make the data valid instead (load parents before children, or add the foreign key NOT VALID and VALIDATE it after the load). If a bulk load must bypass them, do it in a maintenance window, re-enable them in the same transaction, and verify the data afterwards (`SELECT … WHERE NOT EXISTS (…)` for each foreign key).",
        anchors: &[],
        bad: include_str!("../../fixtures/rules/foreign-keys-disabled/bad.sql"),
        good: include_str!("../../fixtures/rules/foreign-keys-disabled/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        match op {
            Op::Set { name, value, .. }
                if name.rsplit('.').next() == Some("session_replication_role")
                    && value
                        .trim()
                        .trim_matches('\'')
                        .eq_ignore_ascii_case("replica") =>
            {
                hits.push(Hit::new(
                    stmt.span,
                    "sets session_replication_role to replica: the rest of this session's writes skip foreign-key checks and ordinary triggers, so rows that break the foreign keys get in without an error",
                ));
            }
            Op::AlterTable { table, items, .. } if ctx.is_existing(table) => {
                for item in items {
                    let AlterAction::Trigger {
                        enable: false,
                        name,
                    } = &item.action
                    else {
                        continue;
                    };
                    let msg = match name.as_str() {
                        "all" => format!(
                            "disables every trigger of `{table}`, including the internal ones that enforce its foreign keys, for every session until they are enabled again: rows that break the foreign keys can get in and are never checked afterwards"
                        ),
                        "user" => format!(
                            "disables the user triggers of `{table}` for every session until they are enabled again: the behaviour they implement (audit rows, derived values) silently stops"
                        ),
                        other => format!(
                            "disables trigger `{other}` of `{table}` for every session until it is enabled again: the behaviour it implements silently stops"
                        ),
                    };
                    hits.push(Hit::new(item.span, msg));
                }
            }
            _ => {}
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "foreign-keys-disabled";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn forms() {
        let h = hits(
            R,
            "ALTER TABLE orders DISABLE TRIGGER ALL;",
            Dialect::Postgres,
        );
        assert!(h[0].contains("foreign keys"), "{h:?}");
        assert_eq!(
            hits(
                R,
                "ALTER TABLE orders DISABLE TRIGGER USER;",
                Dialect::Postgres
            )
            .len(),
            1
        );
        assert_eq!(
            hits(
                R,
                "SET session_replication_role = replica;",
                Dialect::Postgres
            )
            .len(),
            1
        );
        assert_eq!(
            hits(
                R,
                "SET session_replication_role TO 'replica';",
                Dialect::Postgres
            )
            .len(),
            1
        );
        assert!(
            hits(
                R,
                "SET session_replication_role = DEFAULT;",
                Dialect::Postgres
            )
            .is_empty()
        );
        assert!(
            hits(
                R,
                "ALTER TABLE orders ENABLE TRIGGER ALL;",
                Dialect::Postgres
            )
            .is_empty()
        );
    }
}
