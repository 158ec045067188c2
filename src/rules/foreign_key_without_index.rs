//! PostgreSQL foreign keys whose referencing columns no index leads with.

use super::*;
use crate::sql::ir::{AlterAction, ConstraintKind, ObjName, Op};
use std::collections::HashMap;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "foreign-key-without-index",
        category: Category::Style,
        verdict: Verdict::Caution,
        dialects: POSTGRES,
        summary: "A foreign key without an index on its referencing columns",
        why: "PostgreSQL indexes the referenced (parent) side of a foreign key but not the referencing (child) side. Every DELETE of a parent row, and every UPDATE of its key, then looks up matching child rows with a sequential scan of the child table (while holding row locks), and ON DELETE CASCADE / SET NULL do the same; joins from parent to child scan too. Reported once per foreign key (CREATE TABLE column REFERENCES or FOREIGN KEY, ADD COLUMN … REFERENCES, ADD CONSTRAINT … FOREIGN KEY) unless an index or PRIMARY KEY / UNIQUE constraint whose leading columns are exactly the foreign-key columns (in any order) exists: created anywhere in the same file, or in earlier checked migrations. Limits: indexes created outside the checked migrations are unknown (such a foreign key is reported although it may be indexed), a partial index counts like a full one, and an index dropped later with DROP INDEX still counts.",
        safer: "Index the referencing columns, on an existing table without blocking writes (in a migration that does not run in a transaction):\n  CREATE INDEX CONCURRENTLY order_items_order_id_idx ON order_items (order_id);\nOn a table created in the same migration a plain CREATE INDEX is fine.",
        anchors: &["eugene:E15"],
        bad: include_str!("../../fixtures/rules/foreign-key-without-index/bad.sql"),
        good: include_str!("../../fixtures/rules/foreign-key-without-index/good.sql"),
    },
    check,
};

/// Whether `index` leads with exactly the columns of `fk` (in any order).
fn leads_with(index: &[String], fk: &[String]) -> bool {
    index.len() >= fk.len() && fk.iter().all(|c| index[..fk.len()].contains(c))
}

/// Column lists of indexes on `table` created by `stmt` (CREATE INDEX, PRIMARY KEY / UNIQUE in
/// CREATE TABLE or ADD CONSTRAINT, MySQL-style ADD INDEX).
fn indexes_in_op<'a>(op: &'a Op, table: &ObjName, out: &mut Vec<&'a [String]>) {
    let key = table.key();
    {
        match op {
            Op::CreateIndex {
                table: t, columns, ..
            } if t.key() == key => out.push(columns),
            Op::CreateTable {
                table: t,
                columns,
                constraints,
                ..
            } if t.key() == key => {
                for c in columns.iter().filter(|c| c.primary_key || c.unique) {
                    out.push(std::slice::from_ref(&c.name));
                }
                for c in constraints {
                    if let ConstraintKind::PrimaryKey { columns, .. }
                    | ConstraintKind::Unique { columns, .. } = &c.kind
                    {
                        out.push(columns);
                    }
                }
            }
            Op::AlterTable {
                table: t, items, ..
            } if t.key() == key => {
                for item in items {
                    match &item.action {
                        AlterAction::AddColumn { column: c, .. } if c.primary_key || c.unique => {
                            out.push(std::slice::from_ref(&c.name))
                        }
                        AlterAction::AddConstraint(c) => {
                            if let ConstraintKind::PrimaryKey { columns, .. }
                            | ConstraintKind::Unique { columns, .. } = &c.kind
                            {
                                out.push(columns);
                            }
                        }
                        AlterAction::AddIndex { columns, .. } => out.push(columns),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// Column lists of the indexes each statement of a file creates, by table key.
pub(crate) fn indexes_by_table(statements: &[Statement]) -> HashMap<String, Vec<Vec<String>>> {
    let mut out: HashMap<String, Vec<Vec<String>>> = HashMap::new();
    for s in statements {
        for op in &s.ops {
            let (Op::CreateIndex { table, .. }
            | Op::CreateTable { table, .. }
            | Op::AlterTable { table, .. }) = op
            else {
                continue;
            };
            let mut here = Vec::new();
            indexes_in_op(op, table, &mut here);
            if !here.is_empty() {
                out.entry(table.key())
                    .or_default()
                    .extend(here.into_iter().map(|c| c.to_vec()));
            }
        }
    }
    out
}

fn indexed(ctx: &Ctx, table: &ObjName, fk: &[String]) -> bool {
    let known = ctx
        .schema
        .indexes
        .get(&table.key())
        .is_some_and(|ix| ix.iter().any(|cols| leads_with(cols, fk)));
    if known {
        return true;
    }
    ctx.facts
        .file_indexes(ctx.statements, table)
        .iter()
        .any(|cols| leads_with(cols, fk))
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    // (child table, fk columns, parent table, span, table created by this statement)
    let mut fks: Vec<(&ObjName, Vec<String>, &ObjName, Span, bool)> = Vec::new();
    for op in &stmt.ops {
        match op {
            Op::CreateTable {
                table,
                columns,
                constraints,
                temporary: false,
                ..
            } => {
                for c in columns {
                    if let Some(parent) = &c.references {
                        fks.push((table, vec![c.name.clone()], parent, c.span, true));
                    }
                }
                for c in constraints {
                    if let ConstraintKind::ForeignKey {
                        columns, ref_table, ..
                    } = &c.kind
                    {
                        fks.push((table, columns.clone(), ref_table, c.span, true));
                    }
                }
            }
            Op::AlterTable { table, items, .. } => {
                for item in items {
                    match &item.action {
                        AlterAction::AddColumn { column, .. } => {
                            if let Some(parent) = &column.references {
                                fks.push((
                                    table,
                                    vec![column.name.clone()],
                                    parent,
                                    item.span,
                                    false,
                                ));
                            }
                        }
                        AlterAction::AddConstraint(c) => {
                            if let ConstraintKind::ForeignKey {
                                columns, ref_table, ..
                            } = &c.kind
                            {
                                fks.push((table, columns.clone(), ref_table, item.span, false));
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let mut hits = Vec::new();
    for (table, cols, parent, span, new_table) in fks {
        if cols.is_empty() || indexed(ctx, table, &cols) {
            continue;
        }
        let list = cols.join(", ");
        let concurrently = if !new_table && ctx.is_existing(table) {
            "CONCURRENTLY "
        } else {
            ""
        };
        hits.push(Hit::new(
            span,
            format!(
                "foreign key `{table}` ({list}) → `{parent}` has no index on `{table}` ({list}): every DELETE or key UPDATE on `{parent}` scans `{table}` to find referencing rows; add `CREATE INDEX {concurrently}ON {table} ({list})`"
            ),
        ));
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{hits, hits_after};

    const R: &str = "foreign-key-without-index";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn index_later_in_the_file_or_primary_key_counts() {
        let sql = "CREATE TABLE items (id bigint PRIMARY KEY, order_id bigint REFERENCES orders (id), sku_id bigint REFERENCES skus);\n\
                   CREATE INDEX items_order_idx ON items (order_id, id);";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].contains("`items` (sku_id) → `skus`"), "{h:?}");
        assert!(h[0].contains("CREATE INDEX ON items (sku_id)"), "{h:?}");
        // a one-to-one key: the primary key is the index
        let pk = "CREATE TABLE profiles (user_id bigint PRIMARY KEY REFERENCES users (id));";
        assert!(hits(R, pk, Dialect::Postgres).is_empty());
    }

    #[test]
    fn composite_keys_need_matching_leading_columns() {
        let sql = "ALTER TABLE lines ADD CONSTRAINT lines_fk FOREIGN KEY (a, b) REFERENCES parents (a, b);\n\
                   CREATE INDEX lines_b_idx ON lines (b, c, a);";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(
            h[0].contains("CREATE INDEX CONCURRENTLY ON lines (a, b)"),
            "{h:?}"
        );
        let ok = "ALTER TABLE lines ADD CONSTRAINT lines_fk FOREIGN KEY (a, b) REFERENCES parents (a, b);\n\
                  CREATE INDEX lines_ba_idx ON lines (b, a, c);";
        assert!(hits(R, ok, Dialect::Postgres).is_empty());
    }

    #[test]
    fn index_from_an_earlier_migration() {
        let before =
            "CREATE TABLE lines (id bigint, order_id bigint);\nCREATE INDEX ON lines (order_id);";
        let sql = "ALTER TABLE lines ADD CONSTRAINT lines_order_fk FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID;";
        assert!(hits_after(R, before, sql, Dialect::Postgres).is_empty());
        let renamed = "ALTER TABLE lines RENAME TO order_lines;\n\
                       ALTER TABLE order_lines ADD CONSTRAINT fk FOREIGN KEY (order_id) REFERENCES orders (id) NOT VALID;";
        assert!(hits_after(R, before, renamed, Dialect::Postgres).is_empty());
        let dropped = "ALTER TABLE lines DROP COLUMN order_id;\n\
                       ALTER TABLE lines ADD COLUMN order_id bigint REFERENCES orders (id);";
        assert_eq!(hits_after(R, before, dropped, Dialect::Postgres).len(), 1);
    }
}
