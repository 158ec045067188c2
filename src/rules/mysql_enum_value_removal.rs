//! MySQL `MODIFY`/`CHANGE` of an ENUM or SET column that removes or reorders values.

use super::alter_column_type_lossy::{same_value_list_type, type_alter};
use super::*;
use crate::sql::ir::{Op, TypeName};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "mysql-enum-value-removal",
        category: Category::Destructive,
        verdict: Verdict::Destructive,
        dialects: MYSQL,
        summary: "Removing values from a MySQL ENUM or SET column destroys the rows' values",
        why: "MySQL stores ENUM/SET values as positions in the value list, so removing a value (or changing the list other than appending at the end) makes it copy the table (ALGORITHM=COPY, writes blocked) and remap every row: rows holding a removed value get '' (the invalid-value marker, index 0), which is destructive; in strict SQL mode (declared with `[mysql] strict_mode = true` in migsafe.toml) the ALTER fails on the first such row instead, which is reported as risky. Reordering values keeps the data but still copies the table and changes the sort order (ENUM columns sort by position), so it is reported as risky. Appending values at the end is metadata-only and not reported. The old value list comes from the definitions seen in earlier statements and migrations; when it is unknown nothing can be compared and the rule stays silent (alter-column-type-rewrite still reports the unknown change). Values are compared exactly (case and trailing spaces included). Not reported for tables created earlier in the same migration file.",
        safer: "First stop writing the value, migrate the rows holding it (`UPDATE orders SET status = 'paid' WHERE status = 'legacy';`, in batches), then remove it from the list in a later, major release; append new values only at the end of the list.",
        anchors: &["atlas:MY110", "atlas:MY111"],
        bad: include_str!("../../fixtures/rules/mysql-enum-value-removal/bad.sql"),
        good: include_str!("../../fixtures/rules/mysql-enum-value-removal/good.sql"),
    },
    check,
};

fn removed<'a>(old: &'a TypeName, new: &TypeName) -> Vec<&'a String> {
    old.values
        .iter()
        .filter(|v| !new.values.contains(v))
        .collect()
}

/// The kept values are no longer in their old relative order.
fn reordered(old: &TypeName, new: &TypeName) -> bool {
    let kept: Vec<&String> = new
        .values
        .iter()
        .filter(|v| old.values.contains(v))
        .collect();
    kept.len() == old.values.len() && kept.iter().zip(&old.values).any(|(a, b)| *a != b)
}

/// Whether this rule reports the change (so alter-column-type-rewrite does not report it again).
pub(super) fn reported(old: &TypeName, new: &TypeName) -> bool {
    !removed(old, new).is_empty() || reordered(old, new)
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
            let Some(old) = ctx.schema.column(table, col).map(|c| &c.data_type) else {
                continue;
            };
            if !same_value_list_type(old, new, ctx.dialect) {
                continue;
            }
            let kind = old.name.to_ascii_uppercase();
            let gone = removed(old, new);
            if !gone.is_empty() {
                let list = gone
                    .iter()
                    .map(|v| format!("'{v}'"))
                    .collect::<Vec<_>>()
                    .join(", ");
                hits.push(if ctx.mysql_strict {
                    Hit::new(
                        item.span,
                        format!(
                            "removes {kind} value(s) {list} from column `{col}` of `{table}`: the table is copied, and in strict SQL mode the ALTER fails on the first row holding one of them (nothing is lost, but it can fail)"
                        ),
                    )
                    .with_verdict(Verdict::Risky)
                } else {
                    Hit::new(
                        item.span,
                        format!(
                            "removes {kind} value(s) {list} from column `{col}` of `{table}`: the table is copied and, without strict SQL mode, rows holding them silently become '' (declare `[mysql] strict_mode = true` if your servers run strict: the ALTER then fails instead)"
                        ),
                    )
                });
            } else if reordered(old, new) {
                hits.push(
                    Hit::new(
                        item.span,
                        format!(
                            "reorders the {kind} values of column `{col}` of `{table}`: table copy and changed sort order"
                        ),
                    )
                    .with_verdict(Verdict::Risky),
                );
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "mysql-enum-value-removal";
    const PRE: &str =
        "ALTER TABLE t ADD COLUMN e ENUM('a','b','c');\nALTER TABLE t ADD COLUMN s SET('x','y');\n";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn removal_and_reorder() {
        let h = hits(
            R,
            &format!("{PRE}ALTER TABLE t MODIFY e ENUM('a','c');"),
            Dialect::Mysql,
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("'b'") && h[0].contains("`e` of `t`"), "{h:?}");
        let h = hits(
            R,
            &format!("{PRE}ALTER TABLE t CHANGE e e2 ENUM('c','b','a');"),
            Dialect::Mysql,
        );
        assert!(h[0].contains("reorders"), "{h:?}");
        let h = hits(
            R,
            &format!("{PRE}ALTER TABLE t MODIFY s SET('x');"),
            Dialect::Mysql,
        );
        assert!(h[0].contains("SET value(s) 'y'"), "{h:?}");
    }

    #[test]
    fn appending_or_unknown_old_list_is_silent() {
        assert!(
            hits(
                R,
                &format!("{PRE}ALTER TABLE t MODIFY e ENUM('a','b','c','d');"),
                Dialect::Mysql
            )
            .is_empty()
        );
        // inserting in the middle keeps the relative order (alter-column-type-rewrite reports the copy)
        assert!(
            hits(
                R,
                &format!("{PRE}ALTER TABLE t MODIFY e ENUM('a','z','b','c');"),
                Dialect::Mysql
            )
            .is_empty()
        );
        assert!(hits(R, "ALTER TABLE t MODIFY e ENUM('a');", Dialect::Mysql).is_empty());
        let sql = "CREATE TABLE t (e ENUM('a','b'));\nALTER TABLE t MODIFY e ENUM('a');";
        assert!(hits(R, sql, Dialect::Mysql).is_empty());
    }
}
