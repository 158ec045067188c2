//! Adding uniqueness to an existing table: `ADD UNIQUE` (builds an index under a strong lock)
//! and unique index builds that fail when duplicates exist.

use super::*;
use crate::sql::ir::{AlterAction, ConstraintKind, ObjName, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "add-unique-constraint",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: &[Dialect::Postgres, Dialect::Mysql],
        summary: "Adding a UNIQUE constraint builds an index under a strong lock and fails on duplicates",
        why: "PostgreSQL: ALTER TABLE … ADD UNIQUE (or ADD COLUMN … UNIQUE) builds the unique index while holding an ACCESS EXCLUSIVE lock, blocking all reads and writes for the whole build, and fails if existing rows contain duplicates. CREATE UNIQUE INDEX CONCURRENTLY does not block, but it fails on duplicates (also ones written during the build) and leaves an INVALID index behind that must be dropped; it is reported so the data is checked first (the non-concurrent CREATE UNIQUE INDEX is reported by create-index-non-concurrently instead). MySQL: ADD UNIQUE and CREATE UNIQUE INDEX read the whole table to build the index and fail on duplicates. Tables created earlier in the same file are not reported.",
        safer: "Check for duplicates first (`SELECT email, count(*) FROM users GROUP BY email HAVING count(*) > 1`). PostgreSQL: build the index without blocking in a non-transactional migration, then attach it (brief lock, no build):\n  CREATE UNIQUE INDEX CONCURRENTLY users_email_idx ON users (email);\n  ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;\nMySQL: add `, ALGORITHM=INPLACE, LOCK=NONE` so writes continue during the build.",
        anchors: &[
            "squawk:disallowed-unique-constraint",
            "eugene:E7",
            "strong_migrations:add_unique_constraint",
            "atlas:PG105",
        ],
        bad: include_str!("../../fixtures/rules/add-unique-constraint/bad.sql"),
        good: include_str!("../../fixtures/rules/add-unique-constraint/good.sql"),
    },
    check,
};

/// The duplicate check for `columns` of `table`, as a sentence ending, when the columns are known.
fn precheck(table: &ObjName, columns: &[String]) -> String {
    if columns.is_empty() {
        return String::new();
    }
    let cols = columns.join(", ");
    format!(
        "; check first with `SELECT {cols}, count(*) FROM {table} GROUP BY {cols} HAVING count(*) > 1`"
    )
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let pg = ctx.dialect == Dialect::Postgres;
    let build = |table: &ObjName| {
        if pg {
            format!(
                "builds a unique index on `{table}` under an ACCESS EXCLUSIVE lock, which {} until the build finishes, and fails if duplicates exist",
                lock_blocks("ACCESS EXCLUSIVE")
            )
        } else {
            format!(
                "MySQL reads all of `{table}` to build a unique index and fails if duplicates exist"
            )
        }
    };
    let mut hits = Vec::new();
    for op in &stmt.ops {
        match op {
            Op::AlterTable { table, items, .. } if ctx.is_existing(table) => {
                for item in items {
                    match &item.action {
                        AlterAction::AddConstraint(c) => {
                            let ConstraintKind::Unique {
                                columns,
                                using_index: false,
                            } = &c.kind
                            else {
                                continue;
                            };
                            let name = c
                                .name
                                .as_ref()
                                .map(|n| format!(" `{n}`"))
                                .unwrap_or_default();
                            let cols = if columns.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", columns.join(", "))
                            };
                            hits.push(Hit::new(
                                c.span,
                                format!(
                                    "adds UNIQUE constraint{name}{cols}: {}{}",
                                    build(table),
                                    precheck(table, columns)
                                ),
                            ));
                        }
                        AlterAction::AddIndex {
                            name,
                            columns,
                            unique: true,
                            ..
                        } => {
                            let name = name.as_ref().map(|n| format!(" `{n}`")).unwrap_or_default();
                            hits.push(Hit::new(
                                item.span,
                                format!(
                                    "adds unique index{name}: {}{}",
                                    build(table),
                                    precheck(table, columns)
                                ),
                            ));
                        }
                        AlterAction::AddColumn { column, .. } if column.unique => {
                            let same_value = column
                                .default
                                .as_ref()
                                .filter(|d| !d.is_null)
                                .map(|d| {
                                    format!(
                                        " (every existing row gets the default `{}`, so it fails on any table with more than one row)",
                                        d.text
                                    )
                                })
                                .unwrap_or_default();
                            hits.push(Hit::new(
                                column.span,
                                format!(
                                    "adds UNIQUE column `{}`: {}{same_value}",
                                    column.name,
                                    build(table)
                                ),
                            ));
                        }
                        _ => {}
                    }
                }
            }
            Op::CreateIndex {
                name,
                table,
                columns,
                unique: true,
                concurrently,
                ..
            } if ctx.is_existing(table) && (*concurrently || !pg) => {
                let name = name.as_ref().map(|n| format!(" `{n}`")).unwrap_or_default();
                let effect = if pg {
                    "the concurrent build fails if duplicates exist (or are written during the build) and leaves an INVALID index that must be dropped".to_string()
                } else {
                    format!(
                        "MySQL reads all of `{table}` to build it and fails if duplicates exist"
                    )
                };
                let hit = Hit::new(
                    stmt.span,
                    format!(
                        "creates unique index{name} on `{table}`: {effect}{}",
                        precheck(table, columns)
                    ),
                );
                // the concurrent build blocks nobody: it can only fail, so it is a caution
                hits.push(if pg {
                    hit.with_verdict(Verdict::Caution)
                } else {
                    hit
                });
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

    const R: &str = "add-unique-constraint";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn message_has_duplicate_query() {
        let h = hits(
            R,
            "ALTER TABLE users ADD CONSTRAINT k UNIQUE (tenant_id, email);",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].contains("SELECT tenant_id, email, count(*) FROM users GROUP BY tenant_id, email HAVING count(*) > 1"),
            "{h:?}"
        );
    }

    #[test]
    fn unique_index_builds() {
        // the plain build is create-index-non-concurrently's finding
        assert!(
            hits(
                R,
                "CREATE UNIQUE INDEX i ON users (email);",
                Dialect::Postgres
            )
            .is_empty()
        );
        let h = hits(
            R,
            "CREATE UNIQUE INDEX CONCURRENTLY i ON users (email);",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("INVALID"), "{h:?}");
        assert_eq!(
            hits(R, "CREATE UNIQUE INDEX i ON users (email);", Dialect::Mysql).len(),
            1
        );
        assert!(
            hits(
                R,
                "CREATE INDEX CONCURRENTLY i ON users (email);",
                Dialect::Postgres
            )
            .is_empty()
        );
    }

    #[test]
    fn mysql_add_unique_and_unique_columns() {
        assert_eq!(
            hits(
                R,
                "ALTER TABLE users ADD UNIQUE KEY uk (email);",
                Dialect::Mysql
            )
            .len(),
            1
        );
        let h = hits(
            R,
            "ALTER TABLE users ADD COLUMN code text UNIQUE DEFAULT 'x';",
            Dialect::Postgres,
        );
        assert!(h[0].contains("more than one row"), "{h:?}");
        let created = "CREATE TABLE users (email text);\nALTER TABLE users ADD UNIQUE (email);";
        assert!(hits(R, created, Dialect::Postgres).is_empty());
    }
}
