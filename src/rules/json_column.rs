//! PostgreSQL `json` columns (use `jsonb`); also home of the column walk shared by the style rules.

use super::*;
use crate::sql::ir::{AlterAction, ColumnDef, ConstraintKind, ObjName, Op, TypeName};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "json-column",
        category: Category::Style,
        verdict: Verdict::Caution,
        dialects: POSTGRES,
        summary: "A `json` column where `jsonb` is almost always wanted",
        why: "PostgreSQL's `json` type stores the text as written and re-parses it on every access, and it has no equality operator: SELECT DISTINCT, UNION (without ALL), GROUP BY and comparisons on the column fail with \"could not identify an equality operator for type json\", and it cannot be indexed with GIN. Changing the column to `jsonb` later rewrites the table under an ACCESS EXCLUSIVE lock. Reported for CREATE TABLE, ADD COLUMN and ALTER COLUMN … TYPE, also on tables created in the same file (it is about the design, not a lock).",
        safer: "Declare the column as `jsonb` (binary, indexable, has equality): `ALTER TABLE events ADD COLUMN payload jsonb;`. Keep `json` only when the exact input text (key order, duplicate keys, whitespace) must be preserved.",
        anchors: &["eugene:E3", "strong_migrations:add_column_json"],
        bad: include_str!("../../fixtures/rules/json-column/bad.sql"),
        good: include_str!("../../fixtures/rules/json-column/good.sql"),
    },
    check,
};

/// A column whose type a statement declares: in CREATE TABLE, ADD COLUMN, ALTER COLUMN … TYPE or
/// MySQL MODIFY/CHANGE. Style rules judge these (temporary tables are skipped).
pub(super) struct DeclaredColumn<'a> {
    pub table: &'a ObjName,
    pub column: &'a str,
    pub ty: &'a TypeName,
    /// The full definition; `None` for ALTER COLUMN … TYPE.
    pub def: Option<&'a ColumnDef>,
    /// Table-level PRIMARY KEY of a CREATE TABLE covers exactly this column.
    pub single_pk: bool,
    pub span: Span,
}

impl DeclaredColumn<'_> {
    /// "column `c` of `t` is declared as `T`" / "changes column `c` of `t` to `T`".
    pub fn describe(&self) -> String {
        if self.def.is_some() {
            format!(
                "column `{}` of `{}` is declared as `{}`",
                self.column, self.table, self.ty.raw
            )
        } else {
            format!(
                "changes column `{}` of `{}` to `{}`",
                self.column, self.table, self.ty.raw
            )
        }
    }
}

pub(super) fn declared_columns(stmt: &Statement) -> Vec<DeclaredColumn<'_>> {
    let mut out = Vec::new();
    for op in &stmt.ops {
        match op {
            Op::CreateTable {
                table,
                columns,
                constraints,
                temporary: false,
                ..
            } => {
                let pk: Option<&Vec<String>> = constraints.iter().find_map(|c| match &c.kind {
                    ConstraintKind::PrimaryKey { columns, .. } => Some(columns),
                    _ => None,
                });
                for c in columns {
                    out.push(DeclaredColumn {
                        table,
                        column: &c.name,
                        ty: &c.data_type,
                        def: Some(c),
                        single_pk: pk.is_some_and(|p| p.len() == 1 && p[0] == c.name),
                        span: c.span,
                    });
                }
            }
            Op::AlterTable { table, items, .. } => {
                for item in items {
                    let (column, ty, def) = match &item.action {
                        AlterAction::AddColumn { column, .. } => {
                            (column.name.as_str(), &column.data_type, Some(column))
                        }
                        AlterAction::ModifyColumn { column, .. } => {
                            (column.name.as_str(), &column.data_type, Some(column))
                        }
                        AlterAction::SetType {
                            column, new_type, ..
                        } => (column.as_str(), new_type, None),
                        _ => continue,
                    };
                    out.push(DeclaredColumn {
                        table,
                        column,
                        ty,
                        def,
                        single_pk: false,
                        span: item.span,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

fn check(_ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    declared_columns(stmt)
        .into_iter()
        .filter(|d| d.ty.name == "json")
        .map(|d| {
            Hit::new(
                d.span,
                format!(
                    "{}: `json` has no equality operator (SELECT DISTINCT, UNION and GROUP BY on it fail) and is re-parsed on every access; use `jsonb`",
                    d.describe()
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "json-column";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn create_add_and_type_change_each_column() {
        let sql = "CREATE TABLE e (a json, b jsonb, c json[]);\n\
                   ALTER TABLE e ADD COLUMN d json, ALTER COLUMN b TYPE json;";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 4, "{h:?}");
        assert!(h[0].contains("column `a` of `e`"), "{h:?}");
        assert!(
            h[3].contains("changes column `b` of `e` to `JSON`"),
            "{h:?}"
        );
    }

    #[test]
    fn temporary_tables_and_other_dialects_are_ignored() {
        assert!(hits(R, "CREATE TEMP TABLE x (a json);", Dialect::Postgres).is_empty());
        assert!(hits(R, "CREATE TABLE x (a JSON);", Dialect::Mysql).is_empty());
    }
}
