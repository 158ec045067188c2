//! PostgreSQL `ALTER COLUMN … SET NOT NULL` on an existing table.

use super::*;
use crate::sql::ir::{AlterAction, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "set-not-null",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock",
        why: "ALTER COLUMN … SET NOT NULL takes an ACCESS EXCLUSIVE lock and scans every row to prove the column has no NULLs: all reads and writes of the table wait for the scan, and the migration fails if a NULL exists. PostgreSQL 12+ skips the scan when a validated CHECK (column IS NOT NULL) constraint exists; migsafe knows this when that constraint was added (or validated) earlier in the same file. Tables created earlier in the same file are not reported.",
        safer: "Prove the column has no NULLs without the long lock, then set NOT NULL (PostgreSQL 12+), each step in its own migration:\n  ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;\n  -- backfill: UPDATE users SET email = … WHERE email IS NULL (in batches)\n  ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;\n  ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n  ALTER TABLE users DROP CONSTRAINT users_email_not_null;\nOn PostgreSQL < 12 keep the validated CHECK constraint instead of SET NOT NULL.",
        anchors: &[
            "squawk:adding-not-nullable-field",
            "eugene:E2",
            "strong_migrations:change_column_null_postgresql",
            "atlas:PG303",
            "atlas:MF104",
        ],
        bad: include_str!("../../fixtures/rules/set-not-null/bad.sql"),
        good: include_str!("../../fixtures/rules/set-not-null/good.sql"),
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
            let AlterAction::SetNotNull { column } = &item.action else {
                continue;
            };
            let proven = ctx.not_null_checks.contains(&(table.key(), column.clone()));
            if proven && ctx.version.major >= 12 {
                continue;
            }
            let note = if proven {
                format!(
                    " (PostgreSQL {} ignores the validated CHECK (`{column}` IS NOT NULL); 12+ would skip the scan)",
                    ctx.version
                )
            } else {
                String::new()
            };
            hits.push(Hit::new(
                item.span,
                format!(
                    "sets `{column}` of `{table}` NOT NULL: scans every row under an ACCESS EXCLUSIVE lock, which {}, and fails if any row is NULL{note}; check first with `SELECT count(*) FROM {table} WHERE {column} IS NULL`",
                    lock_blocks("ACCESS EXCLUSIVE")
                ),
            ));
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{hits, hits_with};

    const R: &str = "set-not-null";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn message_has_precheck_query() {
        let h = hits(
            R,
            "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].contains("SELECT count(*) FROM users WHERE email IS NULL"),
            "{h:?}"
        );
    }

    #[test]
    fn validated_check_counts_only_from_pg12() {
        let sql = "ALTER TABLE users ADD CONSTRAINT c CHECK (email IS NOT NULL);\n\
                   ALTER TABLE users ALTER COLUMN email SET NOT NULL;";
        assert!(hits_with(R, sql, Dialect::Postgres, Some("12")).is_empty());
        let h = hits_with(R, sql, Dialect::Postgres, Some("11"));
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("PostgreSQL 11 ignores"), "{h:?}");
        // a NOT VALID check that is never validated proves nothing
        let unvalidated = "ALTER TABLE users ADD CONSTRAINT c CHECK (email IS NOT NULL) NOT VALID;\n\
                           ALTER TABLE users ALTER COLUMN email SET NOT NULL;";
        assert_eq!(hits(R, unvalidated, Dialect::Postgres).len(), 1);
    }

    #[test]
    fn not_on_new_tables() {
        let sql = "CREATE TABLE t (a int);\nALTER TABLE t ALTER COLUMN a SET NOT NULL;";
        assert!(hits(R, sql, Dialect::Postgres).is_empty());
    }
}
