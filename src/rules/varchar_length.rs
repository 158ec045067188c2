//! PostgreSQL `varchar(n)` columns: the limit is hard to change later (use `text` + CHECK).

use super::json_column::declared_columns;
use super::*;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "varchar-length",
        category: Category::Style,
        verdict: Verdict::Caution,
        dialects: POSTGRES,
        summary: "A `varchar(n)` column whose length limit will be costly to change",
        why: "In PostgreSQL `varchar(n)` is stored exactly like `text`; the only difference is the length check, and that check is part of the type. Raising n later is metadata-only but still takes an ACCESS EXCLUSIVE lock on the table (waiting behind every running query and blocking all reads and writes queued behind it); lowering n rewrites the whole table under that lock. A CHECK constraint can be replaced without either: add the new one NOT VALID, VALIDATE it (SHARE UPDATE EXCLUSIVE, reads and writes continue), drop the old one. Reported for CREATE TABLE, ADD COLUMN and ALTER COLUMN … TYPE, also on tables created in the same file.",
        safer: "Use `text` with a CHECK constraint for the limit:\n  ALTER TABLE users ADD COLUMN nickname text;\n  ALTER TABLE users ADD CONSTRAINT users_nickname_length CHECK (char_length(nickname) <= 50) NOT VALID;\n  ALTER TABLE users VALIDATE CONSTRAINT users_nickname_length;\nTo change the limit later, add a new constraint the same way and drop the old one.",
        anchors: &["squawk:prefer-text-field"],
        bad: include_str!("../../fixtures/rules/varchar-length/bad.sql"),
        good: include_str!("../../fixtures/rules/varchar-length/good.sql"),
    },
    check,
};

fn check(_ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    declared_columns(stmt)
        .into_iter()
        .filter(|d| d.ty.name == "varchar" && !d.ty.args.is_empty())
        .map(|d| {
            let n = d.ty.args[0];
            Hit::new(
                d.span,
                format!(
                    "{}: changing the limit later takes an ACCESS EXCLUSIVE lock on `{}` (lowering it rewrites the table); use `text` with `CHECK (char_length({}) <= {n})` added NOT VALID and validated",
                    d.describe(),
                    d.table,
                    d.column
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "varchar-length";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn only_varchar_with_a_length() {
        let sql = "CREATE TABLE u (a varchar(20), b varchar, c text, d character varying(5));";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 2, "{h:?}");
        assert!(h[0].contains("char_length(a) <= 20"), "{h:?}");
        assert!(h[1].contains("`d`"), "{h:?}");
    }

    #[test]
    fn type_change_to_varchar_n() {
        let h = hits(
            R,
            "ALTER TABLE u ALTER COLUMN a TYPE varchar(10);",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].starts_with("changes column `a` of `u`"), "{h:?}");
    }
}
