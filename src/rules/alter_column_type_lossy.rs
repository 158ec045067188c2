//! Column type changes (`ALTER COLUMN … TYPE`, MySQL `MODIFY`/`CHANGE`) that can lose data.

use super::*;
use crate::sql::ir::{AlterAction, AlterItem, Op, TypeName};
use crate::sql::types::{TypeChange, may_narrow, type_change};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "alter-column-type-lossy",
        category: Category::Destructive,
        verdict: Verdict::Destructive,
        dialects: ALL_DIALECTS,
        summary: "Changing a column to a narrower or different type can truncate, round or reject existing values",
        why: "Converting existing values to a narrower type (shorter varchar, smaller integer, lower numeric precision, text → number, timestamp → date, double → real) either fails the migration on the first value that does not fit or, in MySQL without strict mode and with some USING expressions, silently truncates, rounds or replaces the values: the original data is gone. An explicit USING clause converts the values but cannot keep what the new type cannot hold, so it is still reported. The old type comes from the definitions seen in earlier statements and migrations; when it is unknown (the column was defined before the checked migrations) and the new type has a length or range limit, the change is reported as risky. A MySQL `CHANGE old new` that keeps the type (a pure rename) is not lossy. Removing values from a MySQL ENUM or SET is reported by mysql-enum-value-removal instead. Not reported for tables created earlier in the same migration file (they hold no pre-existing rows).",
        safer: "Check the data first (`SELECT count(*) FROM customers WHERE length(nickname) > 50;`) and fix or archive the values that do not fit; better, keep the wide column and enforce the new limit for new rows with a CHECK constraint added NOT VALID (`ALTER TABLE customers ADD CONSTRAINT nickname_len CHECK (length(nickname) <= 50) NOT VALID;`), or add a new column, backfill it and switch over.",
        anchors: &[],
        bad: include_str!("../../fixtures/rules/alter-column-type-lossy/bad.sql"),
        good: include_str!("../../fixtures/rules/alter-column-type-lossy/good.sql"),
    },
    check,
};

/// One column type change of an ALTER TABLE.
pub(super) struct TypeAlter<'a> {
    /// The column's name before the statement.
    pub column: &'a str,
    /// MySQL `CHANGE old new …` with a different name.
    pub renamed_to: Option<&'a str>,
    pub new_type: &'a TypeName,
    /// PostgreSQL `USING` expression.
    pub using: Option<&'a str>,
}

pub(super) fn type_alter(item: &AlterItem) -> Option<TypeAlter<'_>> {
    match &item.action {
        AlterAction::SetType {
            column,
            new_type,
            using,
        } => Some(TypeAlter {
            column,
            renamed_to: None,
            new_type,
            using: using.as_deref(),
        }),
        AlterAction::ModifyColumn { old_name, column } => Some(TypeAlter {
            column: old_name,
            renamed_to: (column.name != *old_name).then_some(column.name.as_str()),
            new_type: &column.data_type,
            using: None,
        }),
        _ => None,
    }
}

/// MySQL ENUM → ENUM or SET → SET: value-list changes are judged by mysql-enum-value-removal.
pub(super) fn same_value_list_type(old: &TypeName, new: &TypeName, dialect: Dialect) -> bool {
    dialect == Dialect::Mysql
        && matches!(old.name.as_str(), "enum" | "set")
        && old.name == new.name
        && old.array == new.array
}

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
            let Some(ta) = type_alter(item) else {
                continue;
            };
            let col = ta.column;
            let new = ta.new_type;
            match ctx.schema.column(table, col).map(|c| &c.data_type) {
                Some(old) => {
                    if same_value_list_type(old, new, ctx.dialect) {
                        continue;
                    }
                    if let TypeChange::Lossy(reason) = type_change(old, new, ctx.dialect) {
                        let using = if ta.using.is_some() {
                            " (the USING clause converts the values but cannot keep what the new type cannot hold)"
                        } else {
                            ""
                        };
                        hits.push(Hit::new(
                            item.span,
                            format!("changes column `{col}` of `{table}`: {reason}{using}"),
                        ));
                    }
                }
                None if may_narrow(new) => {
                    let rename = match ta.renamed_to {
                        Some(to) => format!(
                            "; if the type is unchanged and this only renames it to `{to}`, nothing is lost"
                        ),
                        None => String::new(),
                    };
                    hits.push(
                        Hit::new(
                            item.span,
                            format!(
                                "changes column `{col}` of `{table}` to {}, which can truncate, round or reject existing values; its old type is unknown (the column was defined before the checked migrations){rename}",
                                new.raw
                            ),
                        )
                        .with_verdict(Verdict::Risky),
                    );
                }
                None => {}
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "alter-column-type-lossy";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn known_old_types() {
        let pre = "ALTER TABLE t ADD COLUMN n bigint;\nALTER TABLE t ADD COLUMN s varchar(20);\n";
        let h = hits(
            R,
            &format!("{pre}ALTER TABLE t ALTER COLUMN n TYPE integer;"),
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("narrows the integer range"), "{h:?}");
        let h = hits(
            R,
            &format!("{pre}ALTER TABLE t ALTER COLUMN s TYPE integer USING s::integer;"),
            Dialect::Postgres,
        );
        assert!(h[0].contains("USING"), "{h:?}");
        assert!(
            hits(
                R,
                &format!("{pre}ALTER TABLE t ALTER COLUMN n TYPE numeric;"),
                Dialect::Postgres
            )
            .is_empty()
        );
        assert!(
            hits(
                R,
                &format!("{pre}ALTER TABLE t ALTER COLUMN s TYPE varchar(40);"),
                Dialect::Postgres
            )
            .is_empty()
        );
    }

    #[test]
    fn unknown_old_type_is_risky_only_when_the_new_type_can_narrow() {
        let h = hits(
            R,
            "ALTER TABLE t ALTER COLUMN s TYPE varchar(10);",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("old type is unknown"), "{h:?}");
        assert!(
            hits(
                R,
                "ALTER TABLE t ALTER COLUMN s TYPE text;",
                Dialect::Postgres
            )
            .is_empty()
        );
        assert!(
            hits(
                R,
                "ALTER TABLE t ALTER COLUMN n TYPE bigint;",
                Dialect::Postgres
            )
            .is_empty()
        );
    }

    #[test]
    fn mysql_rename_only_and_enum_lists_are_not_reported_here() {
        let pre =
            "ALTER TABLE t ADD COLUMN a varchar(20);\nALTER TABLE t ADD COLUMN e ENUM('x','y');\n";
        assert!(
            hits(
                R,
                &format!("{pre}ALTER TABLE t CHANGE a b varchar(20);"),
                Dialect::Mysql
            )
            .is_empty()
        );
        assert_eq!(
            hits(
                R,
                &format!("{pre}ALTER TABLE t MODIFY a varchar(5);"),
                Dialect::Mysql
            )
            .len(),
            1
        );
        // value removal is mysql-enum-value-removal's finding
        assert!(
            hits(
                R,
                &format!("{pre}ALTER TABLE t MODIFY e ENUM('x');"),
                Dialect::Mysql
            )
            .is_empty()
        );
        assert_eq!(
            hits(
                "mysql-enum-value-removal",
                &format!("{pre}ALTER TABLE t MODIFY e ENUM('x');"),
                Dialect::Mysql
            )
            .len(),
            1
        );
    }

    #[test]
    fn not_for_tables_created_in_the_file() {
        let sql = "CREATE TABLE t (s varchar(20));\nALTER TABLE t ALTER COLUMN s TYPE varchar(5);";
        assert!(hits(R, sql, Dialect::Postgres).is_empty());
    }
}
