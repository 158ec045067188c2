//! MySQL `ALTER TABLE` on an existing table that copies or rebuilds it while blocking writes.

use super::*;
use crate::sql::ir::{AlterAction, ConstraintKind, Op};
use crate::sql::types::{TypeChange, type_change};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "mysql-table-copy",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: MYSQL,
        summary: "ALTER TABLE that makes MySQL copy or rebuild the table blocks writes for the whole copy",
        why: "With ALGORITHM=COPY MySQL builds a new copy of the table row by row and blocks INSERT, UPDATE and DELETE until it finishes (minutes to hours on a large table), then replicas replay the same long ALTER. MySQL silently falls back to COPY for changes it cannot do in place: dropping the primary key without adding one and converting the character set; adding an AUTO_INCREMENT column rebuilds the table without allowing writes, and changing a column's NULL/NOT NULL with MODIFY/CHANGE rebuilds it (reported when migsafe has seen the column's current definition). Explicit `ALGORITHM=COPY` and `LOCK=SHARED|EXCLUSIVE` are reported too. Column type changes, which also copy the table, are reported by alter-column-type-rewrite and alter-column-type-lossy. Not reported with ALGORITHM=INSTANT, ALGORITHM=INPLACE or LOCK=NONE (MySQL then refuses instead of copying), nor for tables created earlier in the same file.",
        safer: "Add `, ALGORITHM=INPLACE, LOCK=NONE` (or `ALGORITHM=INSTANT`) so MySQL refuses with an error instead of silently copying, e.g. `ALTER TABLE orders ADD INDEX idx_note (note), ALGORITHM=INPLACE, LOCK=NONE;`. For changes that cannot be done online (type changes, primary key changes, charset conversion) use an online schema change tool (gh-ost, pt-online-schema-change) or a maintenance window.",
        anchors: &[
            "strong_migrations:copy_algorithm",
            "strong_migrations:lock_option",
        ],
        bad: include_str!("../../fixtures/rules/mysql-table-copy/bad.sql"),
        good: include_str!("../../fixtures/rules/mysql-table-copy/good.sql"),
    },
    check,
};

const COPY: &str =
    "MySQL copies the table (ALGORITHM=COPY), blocking writes until every row is copied";

/// `SET [SESSION] foreign_key_checks = 0` earlier in the file (and not turned back on).
fn foreign_key_checks_off(ctx: &Ctx) -> bool {
    let mut off = false;
    for s in &ctx.statements[..ctx.position] {
        for op in &s.ops {
            if let Op::Set { name, value, .. } = op
                && name.rsplit('.').next() == Some("foreign_key_checks")
            {
                let v = value.trim().to_ascii_lowercase();
                off = v == "0" || v == "off" || v == "false";
            }
        }
    }
    off
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
        let algorithm = algorithm.as_deref();
        let lock = lock.as_deref();
        if algorithm == Some("COPY") {
            hits.push(Hit::new(
                stmt.span,
                format!("ALGORITHM=COPY on `{table}`: {COPY}"),
            ));
            continue;
        }
        if let Some(l @ ("SHARED" | "EXCLUSIVE")) = lock {
            let blocked = if l == "SHARED" {
                "writes"
            } else {
                "reads and writes"
            };
            hits.push(Hit::new(
                stmt.span,
                format!("LOCK={l} on `{table}` blocks {blocked} for the whole ALTER TABLE"),
            ));
            continue;
        }
        // MySQL refuses (instead of copying) what it cannot do with these
        let no_copy = matches!(algorithm, Some("INSTANT" | "INPLACE")) || lock == Some("NONE");
        let no_write_block = algorithm == Some("INSTANT") || lock == Some("NONE");
        let adds_pk = items.iter().any(|i| {
            matches!(&i.action, AlterAction::AddConstraint(c)
                if matches!(c.kind, ConstraintKind::PrimaryKey { .. }))
        });
        for item in items {
            let message = match &item.action {
                // type changes themselves are alter-column-type-rewrite's (and -lossy's) findings
                AlterAction::ModifyColumn { old_name, column } if !no_copy => {
                    match ctx.schema.column(table, old_name) {
                        Some(old)
                            if old.not_null != column.not_null
                                && type_change(
                                    &old.data_type,
                                    &column.data_type,
                                    Dialect::Mysql,
                                ) == TypeChange::MetadataOnly =>
                        {
                            let (from, to) = if column.not_null {
                                ("NULL", "NOT NULL")
                            } else {
                                ("NOT NULL", "NULL")
                            };
                            let strict = if column.not_null {
                                ", and fails on existing NULLs in strict mode"
                            } else {
                                ""
                            };
                            Some(format!(
                                "changes `{old_name}` of `{table}` from {from} to {to}: MySQL rebuilds the whole table (INPLACE with a rebuild){strict}"
                            ))
                        }
                        _ => None,
                    }
                }
                AlterAction::DropPrimaryKey if !no_copy && !adds_pk => Some(format!(
                    "drops the primary key of `{table}` without adding one: {COPY}"
                )),
                AlterAction::AddColumn { column, .. }
                    if !no_write_block && (column.auto_increment || column.data_type.serial) =>
                {
                    Some(format!(
                        "adds AUTO_INCREMENT column `{}` to `{table}`: MySQL rebuilds the table and blocks writes until every row is numbered",
                        column.name
                    ))
                }
                // with foreign_key_checks on, InnoDB can add a foreign key only with ALGORITHM=COPY
                AlterAction::AddConstraint(c)
                    if !no_copy
                        && matches!(c.kind, ConstraintKind::ForeignKey { .. })
                        && !foreign_key_checks_off(ctx) =>
                {
                    Some(format!(
                        "adds a foreign key to `{table}` while foreign_key_checks is on: {COPY} (with `SET foreign_key_checks = 0` first it is added in place, without checking existing rows)"
                    ))
                }
                AlterAction::Other { what, .. }
                    if !no_copy && what.to_ascii_uppercase().contains("CONVERT TO") =>
                {
                    Some(format!(
                        "converts the character set of `{table}` ({what}): {COPY}"
                    ))
                }
                _ => None,
            };
            if let Some(m) = message {
                hits.push(Hit::new(item.span, m));
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "mysql-table-copy";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    fn hits_after(before: &str, sql: &str) -> Vec<String> {
        testing::hits_after(R, before, sql, Dialect::Mysql)
    }

    #[test]
    fn null_changes_against_known_schema() {
        let before =
            "CREATE TABLE orders (amount int NOT NULL, note varchar(10), code varchar(20));";
        let n = hits_after(
            before,
            "ALTER TABLE orders MODIFY note varchar(10) NOT NULL;",
        );
        assert_eq!(n.len(), 1);
        assert!(
            n[0].contains("NULL to NOT NULL") && n[0].contains("rebuilds"),
            "{n:?}"
        );
        let back = hits_after(before, "ALTER TABLE orders MODIFY amount int NULL;");
        assert!(back[0].contains("NOT NULL to NULL"), "{back:?}");
        // type changes are alter-column-type-rewrite's; renames and unchanged definitions are fine
        assert!(hits_after(before, "ALTER TABLE orders MODIFY amount bigint NOT NULL;").is_empty());
        assert!(hits_after(before, "ALTER TABLE orders CHANGE code ref varchar(20);").is_empty());
        assert!(
            hits(
                R,
                "ALTER TABLE orders MODIFY note varchar(10) NOT NULL;",
                Dialect::Mysql
            )
            .is_empty()
        );
    }

    #[test]
    fn explicit_options_and_guards() {
        let copy = hits(
            R,
            "ALTER TABLE t ADD COLUMN c int, ALGORITHM=COPY;",
            Dialect::Mysql,
        );
        assert_eq!(copy.len(), 1);
        assert!(copy[0].contains("ALGORITHM=COPY"));
        assert!(
            hits(
                R,
                "ALTER TABLE t ADD COLUMN c int, LOCK=SHARED;",
                Dialect::Mysql
            )[0]
            .contains("blocks writes")
        );
        assert!(
            hits(
                R,
                "ALTER TABLE t MODIFY c bigint, ALGORITHM=INPLACE, LOCK=NONE;",
                Dialect::Mysql
            )
            .is_empty()
        );
        assert!(hits(R, "ALTER TABLE t ADD COLUMN c int;", Dialect::Mysql).is_empty());
    }

    #[test]
    fn copying_actions() {
        for sql in [
            "ALTER TABLE t DROP PRIMARY KEY;",
            "ALTER TABLE t ADD COLUMN id int AUTO_INCREMENT, ADD KEY (id);",
            "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4;",
        ] {
            assert_eq!(hits(R, sql, Dialect::Mysql).len(), 1, "{sql}");
        }
        assert!(
            hits(
                R,
                "ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id, b);",
                Dialect::Mysql
            )
            .is_empty()
        );
        let created = "CREATE TABLE t (a int);\nALTER TABLE t MODIFY a bigint;";
        assert!(hits(R, created, Dialect::Mysql).is_empty());
    }
}
