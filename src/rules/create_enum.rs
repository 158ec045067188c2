//! PostgreSQL `CREATE TYPE … AS ENUM`: values can be added but not removed or reordered.

use super::*;
use crate::sql::ir::Op;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "create-enum",
        category: Category::Style,
        verdict: Verdict::Caution,
        dialects: POSTGRES,
        summary: "An enum type that will be hard to change",
        why: "PostgreSQL enum values can be added (`ALTER TYPE … ADD VALUE`) and renamed, but never removed or reordered: that takes a new type and `ALTER COLUMN … TYPE new_type USING col::text::new_type` on every column using it, which rewrites each table under an ACCESS EXCLUSIVE lock. A value added in a transaction cannot be used until that transaction commits (and before PostgreSQL 12 ADD VALUE cannot run inside a transaction block at all).",
        safer: "Keep the allowed values in data instead: a lookup table with a foreign key (`CREATE TABLE order_statuses (name text PRIMARY KEY); … status text NOT NULL REFERENCES order_statuses (name)`), or a `text` column with a CHECK constraint that can be replaced without a rewrite (add the new one NOT VALID, VALIDATE it, drop the old one).",
        anchors: &["eugene:W13"],
        bad: include_str!("../../fixtures/rules/create-enum/bad.sql"),
        good: include_str!("../../fixtures/rules/create-enum/good.sql"),
    },
    check,
};

fn check(_ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    stmt.ops
        .iter()
        .filter_map(|op| match op {
            Op::CreateType {
                name,
                enum_values: Some(values),
            } => Some(Hit::new(
                stmt.span,
                format!(
                    "creates enum type `{name}` ({} value{}): values can be added later but not removed or reordered without rewriting every table that uses the type; a lookup table or a text column with a CHECK constraint is easier to change",
                    values.len(),
                    if values.len() == 1 { "" } else { "s" }
                ),
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "create-enum";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn only_enum_types() {
        let h = hits(
            R,
            "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("`mood` (3 values)"), "{h:?}");
        assert!(hits(R, "CREATE TYPE pair AS (a int, b int);", Dialect::Postgres).is_empty());
    }
}
