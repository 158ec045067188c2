//! Column type changes that make PostgreSQL rewrite, or MySQL copy, an existing table.

use super::alter_column_type_lossy::{same_value_list_type, type_alter};
use super::*;
use crate::sql::ir::Op;
use crate::sql::types::{TypeChange, type_change};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "alter-column-type-rewrite",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: ALL_DIALECTS,
        summary: "Changing a column's type rewrites or copies an existing table under a blocking lock",
        why: "PostgreSQL executes `ALTER COLUMN … TYPE` by rewriting the whole table and rebuilding all its indexes while holding an ACCESS EXCLUSIVE lock: every read and write of the table waits until it finishes, which on a large table means minutes of downtime. MySQL changes a column type with ALGORITHM=COPY: the table is copied row by row and writes are blocked for the whole copy (with ALGORITHM=INPLACE/INSTANT or LOCK=NONE it refuses and the migration fails). SQLite cannot change a column type at all; the table must be rebuilt. Binary-coercible, metadata-only changes are exempt: PostgreSQL varchar(n) → longer varchar, varchar → text, numeric precision increases with the same scale; MySQL varchar growth within the same length-prefix size and ENUM/SET values appended at the end. Changes that can lose data are reported by alter-column-type-lossy instead, and MySQL ENUM/SET value removals and reorderings by mysql-enum-value-removal. When the old type is unknown (the column was defined before the checked migrations) the change is reported unless it could only be metadata-only. A PostgreSQL USING expression other than the column itself (or a plain cast of it) always forces a rewrite. Not reported for tables created earlier in the same migration file.",
        safer: "Add a new column of the new type, keep it in sync (trigger or application double-write), backfill it in batches, then switch reads and writes over and drop the old column in a later release: `ALTER TABLE events ADD COLUMN retries_new bigint;` … For MySQL, an online schema-change tool (gh-ost, pt-online-schema-change) copies the table without blocking writes.",
        anchors: &[
            "squawk:changing-column-type",
            "eugene:E5",
            "strong_migrations:change_column",
            "atlas:PG301",
        ],
        bad: include_str!("../../fixtures/rules/alter-column-type-rewrite/bad.sql"),
        good: include_str!("../../fixtures/rules/alter-column-type-rewrite/good.sql"),
    },
    check,
};

/// A PostgreSQL USING expression that changes the values (anything but `col` or `col::type`).
fn using_converts(using: &str, column: &str) -> bool {
    let u: String = using
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '"' && *c != '(' && *c != ')')
        .collect::<String>()
        .to_ascii_lowercase();
    let col = column.to_ascii_lowercase();
    !(u == col || (u.starts_with(&format!("{col}::")) && !u[col.len() + 2..].contains("::")))
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        let Op::AlterTable {
            table,
            items,
            algorithm,
            lock,
        } = op
        else {
            continue;
        };
        if !ctx.is_existing(table) {
            continue;
        }
        for item in items {
            let Some(ta) = type_alter(item) else {
                continue;
            };
            let col = ta.column;
            let new = ta.new_type;
            let old = ctx.schema.column(table, col).map(|c| &c.data_type);
            let known = match old {
                Some(old) => {
                    if same_value_list_type(old, new, ctx.dialect)
                        && super::mysql_enum_value_removal::reported(old, new)
                    {
                        continue;
                    }
                    let mut change = type_change(old, new, ctx.dialect);
                    if change == TypeChange::MetadataOnly
                        && ctx.dialect == Dialect::Postgres
                        && ta.using.is_some_and(|u| using_converts(u, col))
                    {
                        change = TypeChange::Rewrite;
                    }
                    if change != TypeChange::Rewrite {
                        continue;
                    }
                    true
                }
                None => false,
            };
            let what = match old {
                Some(old) => format!(
                    "changes the type of column `{col}` of `{table}` ({} → {})",
                    old.raw, new.raw
                ),
                None => format!(
                    "changes the type of column `{col}` of `{table}` to {}; its old type is unknown (the column was defined before the checked migrations), so unless the change is metadata-only",
                    new.raw
                ),
            };
            let effect = match ctx.dialect {
                Dialect::Postgres => format!(
                    "PostgreSQL rewrites the table and all its indexes under an ACCESS EXCLUSIVE lock, which {} until the rewrite finishes",
                    lock_blocks("ACCESS EXCLUSIVE")
                ),
                Dialect::Mysql => {
                    let refuses = matches!(algorithm.as_deref(), Some("INPLACE" | "INSTANT"))
                        || lock.as_deref() == Some("NONE");
                    if refuses {
                        "MySQL needs a table copy (ALGORITHM=COPY), which the requested ALGORITHM/LOCK does not allow: the statement fails".to_string()
                    } else {
                        "MySQL copies the table (ALGORITHM=COPY), which blocks writes until the copy finishes".to_string()
                    }
                }
                Dialect::Sqlite => "SQLite cannot change a column type with ALTER TABLE: the statement fails and the table has to be rebuilt (copied)".to_string(),
            };
            let sep = if known { ": " } else { " " };
            hits.push(Hit::new(item.span, format!("{what}{sep}{effect}")));
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "alter-column-type-rewrite";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn metadata_only_and_lossy_changes_are_not_reported() {
        let pre = "ALTER TABLE t ADD COLUMN s varchar(10);\nALTER TABLE t ADD COLUMN n bigint;\n";
        for change in [
            "ALTER TABLE t ALTER COLUMN s TYPE varchar(20);",
            "ALTER TABLE t ALTER COLUMN s TYPE text;",
            "ALTER TABLE t ALTER COLUMN s TYPE text USING s::text;",
            "ALTER TABLE t ALTER COLUMN n TYPE integer;",
        ] {
            let h = hits(R, &format!("{pre}{change}"), Dialect::Postgres);
            assert!(h.is_empty(), "{change}: {h:?}");
        }
        let h = hits(
            R,
            &format!("{pre}ALTER TABLE t ALTER COLUMN s TYPE text USING lower(s);"),
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1, "{h:?}");
    }

    #[test]
    fn unknown_old_type_is_reported() {
        let h = hits(
            R,
            "ALTER TABLE t ALTER COLUMN a TYPE bigint;",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].contains("old type is unknown") && h[0].contains("ACCESS EXCLUSIVE"),
            "{h:?}"
        );
        let sql = "CREATE TABLE t (a int);\nALTER TABLE t ALTER COLUMN a TYPE bigint;";
        assert!(hits(R, sql, Dialect::Postgres).is_empty());
    }

    #[test]
    fn mysql_copy_and_refused_algorithm() {
        let pre = "ALTER TABLE t ADD COLUMN a int;\nALTER TABLE t ADD COLUMN v varchar(100);\n";
        let h = hits(
            R,
            &format!("{pre}ALTER TABLE t MODIFY a bigint;"),
            Dialect::Mysql,
        );
        assert!(h[0].contains("copies the table"), "{h:?}");
        let h = hits(
            R,
            &format!("{pre}ALTER TABLE t MODIFY v varchar(300), ALGORITHM=INPLACE;"),
            Dialect::Mysql,
        );
        assert!(h[0].contains("statement fails"), "{h:?}");
        assert!(
            hits(
                R,
                &format!("{pre}ALTER TABLE t MODIFY v varchar(200);"),
                Dialect::Mysql
            )
            .is_empty()
        );
    }

    #[test]
    fn mysql_enum_reorder_is_left_to_the_enum_rule_but_middle_insert_copies() {
        let pre = "ALTER TABLE t ADD COLUMN e ENUM('a','b');\n";
        assert!(
            hits(
                R,
                &format!("{pre}ALTER TABLE t MODIFY e ENUM('b','a');"),
                Dialect::Mysql
            )
            .is_empty()
        );
        assert_eq!(
            hits(
                R,
                &format!("{pre}ALTER TABLE t MODIFY e ENUM('a','x','b');"),
                Dialect::Mysql
            )
            .len(),
            1
        );
        assert!(
            hits(
                R,
                &format!("{pre}ALTER TABLE t MODIFY e ENUM('a','b','c');"),
                Dialect::Mysql
            )
            .is_empty()
        );
    }
}
