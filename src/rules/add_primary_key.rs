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
        why: "PostgreSQL: ALTER TABLE … ADD PRIMARY KEY (or ADD COLUMN … PRIMARY KEY) builds a unique index while holding an ACCESS EXCLUSIVE lock, blocking all reads and writes for the whole build, and scans the table to make the key columns NOT NULL; it fails on duplicates or NULLs. `ADD PRIMARY KEY USING INDEX` attaches an existing index under a brief ACCESS EXCLUSIVE lock and is not reported when the index's columns are known to be NOT NULL; when any of them may be nullable (or migsafe has not seen the index), PostgreSQL first makes them NOT NULL, scanning the whole table under that lock, which is reported. MySQL: InnoDB stores rows in primary-key order, so adding a primary key rebuilds the whole table. Tables created earlier in the same file are not reported.",
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

/// PostgreSQL `ADD PRIMARY KEY USING INDEX i`: brief when the index's columns are NOT NULL;
/// otherwise PostgreSQL first makes them NOT NULL, scanning the table under the ACCESS
/// EXCLUSIVE lock. `None` when the columns are known to be NOT NULL already.
fn using_index(ctx: &Ctx, table: &ObjName, index: Option<&str>) -> Option<String> {
    let lock = lock_blocks("ACCESS EXCLUSIVE");
    let index_name = index.unwrap_or("the index");
    let Some((_, columns)) = index
        .and_then(|i| ctx.schema.index_defs.get(i))
        .filter(|(t, _)| *t == table.key())
    else {
        return Some(format!(
            "attaches `{index_name}` as the primary key of `{table}` under an ACCESS EXCLUSIVE lock; migsafe has not seen the index, so it cannot tell whether its columns are NOT NULL: any that are nullable are scanned for NULLs under that lock, which {lock} for the whole scan (and it fails on a NULL)"
        ));
    };
    // a validated CHECK (col IS NOT NULL) lets PostgreSQL 12+ skip the scan
    let proven = |c: &str| {
        ctx.at_least(12, 0, 0) && ctx.not_null_checks.contains(&(table.key(), c.to_string()))
    };
    let nullable: Vec<&String> = columns
        .iter()
        .filter(|c| ctx.schema.column(table, c).is_none_or(|i| !i.not_null) && !proven(c))
        .collect();
    if nullable.is_empty() {
        return None;
    }
    let list = nullable
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "attaches `{index_name}` as the primary key of `{table}`: {list} may be nullable, so PostgreSQL first makes them NOT NULL, scanning the whole table under an ACCESS EXCLUSIVE lock, which {lock} for the whole scan (and fails on a NULL); make them NOT NULL with a validated CHECK first (see set-not-null)"
    ))
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
                AlterAction::AddConstraint(c)
                    if ctx.dialect == Dialect::Postgres
                        && matches!(
                            c.kind,
                            ConstraintKind::PrimaryKey {
                                using_index: true,
                                ..
                            }
                        ) =>
                {
                    if let Some(m) = using_index(ctx, table, c.index.as_deref()) {
                        hits.push(Hit::new(c.span, m));
                    }
                }
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
        // USING INDEX: silent only when the index's columns are known to be NOT NULL
        let h = hits(
            R,
            "ALTER TABLE events ADD PRIMARY KEY USING INDEX i;",
            Dialect::Postgres,
        );
        assert!(h[0].contains("has not seen the index"), "{h:?}");
        let before = "CREATE TABLE events (id bigint NOT NULL, code text, ref text);\nCREATE UNIQUE INDEX events_id_idx ON events (id);\nCREATE UNIQUE INDEX events_code_idx ON events (code);\nCREATE UNIQUE INDEX events_ref_idx ON events (ref);\nALTER TABLE events ADD CONSTRAINT ref_nn CHECK (ref IS NOT NULL);";
        let ok = testing::hits_after(
            R,
            before,
            "ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_id_idx;",
            Dialect::Postgres,
        );
        assert!(ok.is_empty(), "{ok:?}");
        let scan = testing::hits_after(
            R,
            before,
            "ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_code_idx;",
            Dialect::Postgres,
        );
        assert!(scan[0].contains("`code` may be nullable"), "{scan:?}");
        let proven = testing::hits_after(
            R,
            before,
            "ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_ref_idx;",
            Dialect::Postgres,
        );
        assert!(proven.is_empty(), "{proven:?}");
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
