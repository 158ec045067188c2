//! `ADD PRIMARY KEY` on an existing table (not `USING INDEX`).

use super::*;
use crate::sql::ir::{AlterAction, ConstraintKind, ObjName, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "add-primary-key",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: &[Dialect::Postgres, Dialect::Mysql],
        summary: "Adding a primary key builds its index under a strong lock (PostgreSQL) or rebuilds the table (MySQL)",
        why: "PostgreSQL: ALTER TABLE … ADD PRIMARY KEY (or ADD COLUMN … PRIMARY KEY) builds a unique index while holding an ACCESS EXCLUSIVE lock, blocking all reads and writes for the whole build, and scans the table to make the key columns NOT NULL; it fails on duplicates or NULLs. `ADD PRIMARY KEY USING INDEX` is not reported: it attaches an existing index, though columns that are still nullable are scanned for NULLs under the lock. MySQL: InnoDB stores rows in primary-key order, so adding a primary key rebuilds the whole table. Tables created earlier in the same file are not reported.",
        safer: "Check for duplicates and NULLs first. PostgreSQL: make the columns NOT NULL safely (see set-not-null), build the index without blocking in a non-transactional migration, then attach it:\n  CREATE UNIQUE INDEX CONCURRENTLY events_id_idx ON events (id);\n  ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_id_idx;\nMySQL: define the primary key when the table is created, or use an online schema change tool (gh-ost, pt-online-schema-change).",
        anchors: &["squawk:adding-serial-primary-key-field", "atlas:PG104"],
        bad: include_str!("../../fixtures/rules/add-primary-key/bad.sql"),
        good: include_str!("../../fixtures/rules/add-primary-key/good.sql"),
    },
    check,
};

fn effect(ctx: &Ctx, table: &ObjName) -> String {
    if ctx.dialect == Dialect::Mysql {
        format!(
            "MySQL rebuilds the whole table `{table}` (InnoDB orders rows by the primary key), and it fails on duplicates or NULLs"
        )
    } else {
        format!(
            "builds a unique index on `{table}` and scans it for NULLs under an ACCESS EXCLUSIVE lock, which {} until done, and fails on duplicates or NULLs",
            lock_blocks("ACCESS EXCLUSIVE")
        )
    }
}

fn precheck(table: &ObjName, columns: &[String]) -> String {
    if columns.is_empty() {
        return String::new();
    }
    let cols = columns.join(", ");
    let nulls = columns
        .iter()
        .map(|c| format!("{c} IS NULL"))
        .collect::<Vec<_>>()
        .join(" OR ");
    format!(
        "; check first with `SELECT {cols}, count(*) FROM {table} GROUP BY {cols} HAVING count(*) > 1` and `SELECT count(*) FROM {table} WHERE {nulls}`"
    )
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
            match &item.action {
                AlterAction::AddConstraint(c) => {
                    let ConstraintKind::PrimaryKey {
                        columns,
                        using_index: false,
                    } = &c.kind
                    else {
                        continue;
                    };
                    let cols = if columns.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", columns.join(", "))
                    };
                    hits.push(Hit::new(
                        c.span,
                        format!(
                            "adds primary key{cols} to `{table}`: {}{}",
                            effect(ctx, table),
                            precheck(table, columns)
                        ),
                    ));
                }
                AlterAction::AddColumn { column, .. } if column.primary_key => {
                    hits.push(Hit::new(
                        column.span,
                        format!(
                            "adds primary key column `{}` to `{table}`: {}",
                            column.name,
                            effect(ctx, table)
                        ),
                    ));
                }
                _ => {}
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "add-primary-key";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn postgres_message_and_using_index() {
        let h = hits(
            R,
            "ALTER TABLE events ADD PRIMARY KEY (id);",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("WHERE id IS NULL"), "{h:?}");
        assert!(
            hits(
                R,
                "ALTER TABLE events ADD PRIMARY KEY USING INDEX i;",
                Dialect::Postgres
            )
            .is_empty()
        );
        assert_eq!(
            hits(
                R,
                "ALTER TABLE events ADD COLUMN id bigserial PRIMARY KEY;",
                Dialect::Postgres
            )
            .len(),
            1
        );
    }

    #[test]
    fn mysql_rebuilds_and_new_tables_are_fine() {
        let h = hits(
            R,
            "ALTER TABLE events DROP PRIMARY KEY, ADD PRIMARY KEY (id, tenant_id);",
            Dialect::Mysql,
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("rebuilds"), "{h:?}");
        let created = "CREATE TABLE events (id int);\nALTER TABLE events ADD PRIMARY KEY (id);";
        assert!(hits(R, created, Dialect::Mysql).is_empty());
    }
}
