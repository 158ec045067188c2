//! SQLite ALTER TABLE actions that SQLite does not implement: the migration fails.

use super::*;
use crate::sql::ir::{AlterAction, ObjName, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "sqlite-unsupported-alter",
        category: Category::Compatibility,
        verdict: Verdict::Risky,
        dialects: &[Dialect::Sqlite],
        summary: "An ALTER TABLE action SQLite does not support",
        why: "SQLite's ALTER TABLE can only rename a table, rename a column (3.25.0+), add a column, and drop a column (3.35.0+), one action per statement. Changing a column's type, NOT NULL or default, adding or dropping constraints, or several actions in one statement fail with a syntax error, and so does ADD COLUMN of a PRIMARY KEY or UNIQUE column, of a STORED generated column, or with a default of CURRENT_TIME / CURRENT_DATE / CURRENT_TIMESTAMP or an expression in parentheses. The migration stops there (statements before it may already have run when the migrator does not use a transaction). DROP COLUMN before 3.35 is reported by `drop-column`, ADD COLUMN … NOT NULL without a default by `add-column-not-null-without-default`.",
        safer: "Rebuild the table (SQLite's documented procedure): with `PRAGMA foreign_keys=OFF` set outside the transaction, `CREATE TABLE new_users (…new definition…); INSERT INTO new_users (cols) SELECT cols FROM users; DROP TABLE users; ALTER TABLE new_users RENAME TO users;`, re-create the indexes and triggers, run `PRAGMA foreign_key_check`, then turn foreign keys back on. Put several column additions in separate ALTER TABLE statements.",
        anchors: &[],
        bad: include_str!("../../fixtures/rules/sqlite-unsupported-alter/bad.sql"),
        good: include_str!("../../fixtures/rules/sqlite-unsupported-alter/good.sql"),
    },
    check,
};

/// Why SQLite rejects `action` on `table`, if it does.
fn unsupported(ctx: &Ctx, table: &ObjName, action: &AlterAction) -> Option<String> {
    let cannot = |what: String| {
        Some(format!(
            "SQLite's ALTER TABLE cannot {what} on table `{table}`"
        ))
    };
    match action {
        AlterAction::AddColumn { column: c, .. } => {
            let default = c
                .default
                .as_ref()
                .map(|d| d.text.trim().to_ascii_uppercase());
            if c.primary_key {
                cannot(format!("add PRIMARY KEY column `{}`", c.name))
            } else if c.unique {
                cannot(format!("add UNIQUE column `{}`", c.name))
            } else if c.generated_stored {
                cannot(format!("add STORED generated column `{}`", c.name))
            } else if let Some(d) = default.filter(|d| {
                d.starts_with('(')
                    || matches!(
                        d.as_str(),
                        "CURRENT_TIME" | "CURRENT_DATE" | "CURRENT_TIMESTAMP"
                    )
            }) {
                cannot(format!(
                    "add column `{}` with the non-constant default {d}",
                    c.name
                ))
            } else {
                None
            }
        }
        AlterAction::RenameColumn { from, .. } if !ctx.at_least(3, 25, 0) => Some(format!(
            "SQLite {} cannot rename column `{from}` of `{table}` (RENAME COLUMN needs 3.25.0)",
            ctx.version
        )),
        AlterAction::DropColumn { .. }
        | AlterAction::RenameColumn { .. }
        | AlterAction::RenameTable { .. } => None,
        AlterAction::SetType {
            column, new_type, ..
        } => cannot(format!(
            "change the type of column `{column}` to `{}`",
            new_type.raw
        )),
        AlterAction::SetNotNull { column } => cannot(format!("set `{column}` NOT NULL")),
        AlterAction::DropNotNull { column } => cannot(format!("drop NOT NULL of `{column}`")),
        AlterAction::SetDefault { column, .. } | AlterAction::DropDefault { column } => {
            cannot(format!("change the default of `{column}`"))
        }
        AlterAction::AddConstraint(c) => cannot(match &c.name {
            Some(n) => format!("add constraint `{n}`"),
            None => "add a constraint".to_string(),
        }),
        AlterAction::DropConstraint { name, .. } | AlterAction::DropForeignKey { name } => {
            cannot(format!("drop constraint `{name}`"))
        }
        AlterAction::ValidateConstraint { name } => cannot(format!("validate constraint `{name}`")),
        AlterAction::RenameConstraint { from, .. } => cannot(format!("rename constraint `{from}`")),
        AlterAction::ModifyColumn { old_name, .. } => cannot(format!("modify column `{old_name}`")),
        AlterAction::DropPrimaryKey => cannot("drop the primary key".to_string()),
        AlterAction::DropIndex { name } => cannot(format!("drop index `{name}` (use DROP INDEX)")),
        AlterAction::AddIndex { .. } => cannot("add an index (use CREATE INDEX)".to_string()),
        AlterAction::DetachPartition { .. } => cannot("detach a partition".to_string()),
        AlterAction::SetLogged { .. }
        | AlterAction::SetTablespace { .. }
        | AlterAction::SetAccessMethod { .. }
        | AlterAction::Trigger { .. }
        | AlterAction::TableOption { .. }
        | AlterAction::ConvertCharset { .. }
        | AlterAction::Force => cannot("change table options".to_string()),
        AlterAction::Other { what, .. } => cannot(format!("run `{what}`")),
    }
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        let Op::AlterTable { table, items, .. } = op else {
            continue;
        };
        if items.len() > 1 {
            hits.push(Hit::new(
                stmt.span,
                format!(
                    "ALTER TABLE `{table}` has {} actions: SQLite runs one action per ALTER TABLE, so the statement fails; split it into one statement per action",
                    items.len()
                ),
            ));
        }
        for item in items {
            if let Some(why) = unsupported(ctx, table, &item.action) {
                hits.push(Hit::new(
                    item.span,
                    format!(
                        "{why}: the migration fails; rebuild the table (create the new definition, copy the rows, drop, rename) instead"
                    ),
                ));
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{hits, hits_with};

    const R: &str = "sqlite-unsupported-alter";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn supported_actions_pass() {
        let sql = "ALTER TABLE t ADD COLUMN a text DEFAULT 'x';\n\
                   ALTER TABLE t RENAME COLUMN a TO b;\n\
                   ALTER TABLE t DROP COLUMN b;\n\
                   ALTER TABLE t RENAME TO u;";
        assert!(hits(R, sql, Dialect::Sqlite).is_empty());
    }

    #[test]
    fn unsupported_actions_and_multiple_actions() {
        let sql = "ALTER TABLE t ALTER COLUMN a TYPE integer;\n\
                   ALTER TABLE t ADD CONSTRAINT u UNIQUE (a);\n\
                   ALTER TABLE t ADD COLUMN a int, ADD COLUMN b int;";
        let h = hits(R, sql, Dialect::Sqlite);
        assert_eq!(h.len(), 3, "{h:?}");
        assert!(h[0].contains("change the type of column `a`"), "{h:?}");
        assert!(h[1].contains("add constraint `u`"), "{h:?}");
        assert!(h[2].contains("2 actions"), "{h:?}");
    }

    #[test]
    fn add_column_restrictions() {
        let sql = "ALTER TABLE t ADD COLUMN a int UNIQUE;\n\
                   ALTER TABLE t ADD COLUMN b text DEFAULT CURRENT_TIMESTAMP;\n\
                   ALTER TABLE t ADD COLUMN c int DEFAULT (1 + 2);\n\
                   ALTER TABLE t ADD COLUMN d int DEFAULT -1;";
        let h = hits(R, sql, Dialect::Sqlite);
        assert_eq!(h.len(), 3, "{h:?}");
        assert!(
            h[1].contains("non-constant default CURRENT_TIMESTAMP"),
            "{h:?}"
        );
    }

    #[test]
    fn rename_column_needs_3_25() {
        let sql = "ALTER TABLE t RENAME COLUMN a TO b;";
        let h = hits_with(R, sql, Dialect::Sqlite, Some("3.24"));
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(
            h[0].contains("SQLite 3.24 cannot rename column `a` of `t`"),
            "{h:?}"
        );
        assert!(hits_with(R, sql, Dialect::Sqlite, Some("3.25")).is_empty());
    }
}
