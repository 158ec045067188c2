//! PostgreSQL `ALTER TABLE … ADD CONSTRAINT … EXCLUDE` on an existing table.

use super::*;
use crate::sql::ir::{AlterAction, ConstraintKind, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "add-exclusion-constraint",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "Adding an exclusion constraint builds its index under an ACCESS EXCLUSIVE lock",
        why: "ADD CONSTRAINT … EXCLUDE builds the constraint's index (usually GiST) and checks every existing row against every other while holding an ACCESS EXCLUSIVE lock on the table: every read and write waits for the whole build, which is slower than a B-tree build. Unlike UNIQUE or PRIMARY KEY there is no way to build the index concurrently first and attach it (`USING INDEX` does not accept exclusion constraints), and exclusion constraints cannot be NOT VALID. Not reported for tables created earlier in the same file.",
        safer: "Declare the exclusion constraint when the table is created, or add it while the table is still empty; otherwise add it in a maintenance window with a short `lock_timeout`, or enforce the rule in the application (or with a trigger) instead.",
        anchors: &["eugene:E8", "strong_migrations:add_exclusion_constraint"],
        bad: include_str!("../../fixtures/rules/add-exclusion-constraint/bad.sql"),
        good: include_str!("../../fixtures/rules/add-exclusion-constraint/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        let Op::AlterTable { table, items, .. } = op else {
            continue;
        };
        if !ctx.is_existing(table) {
            continue;
        }
        for item in items {
            let AlterAction::AddConstraint(c) = &item.action else {
                continue;
            };
            if c.kind != ConstraintKind::Exclude {
                continue;
            }
            let name = c
                .name
                .as_ref()
                .map(|n| format!(" `{n}`"))
                .unwrap_or_default();
            let span = if c.span.is_empty() { item.span } else { c.span };
            hits.push(Hit::new(
                span,
                format!(
                    "adds exclusion constraint{name} to `{table}`: its index is built and every existing row checked under an ACCESS EXCLUSIVE lock, so every read and write of `{table}` waits for the whole build, and there is no concurrent way to add it; do it in a maintenance window or while the table is empty"
                ),
            ));
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "add-exclusion-constraint";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn only_existing_tables() {
        let sql = "CREATE TABLE b (r tstzrange);\nALTER TABLE b ADD CONSTRAINT x EXCLUDE USING gist (r WITH &&);";
        assert!(hits(R, sql, Dialect::Postgres).is_empty());
        let h = hits(
            R,
            "ALTER TABLE b ADD EXCLUDE USING gist (r WITH &&);",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(
            h[0].starts_with("adds exclusion constraint to `b`"),
            "{h:?}"
        );
    }
}
