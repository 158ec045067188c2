//! `char(n)` / `character(n)` columns: blank-padded in PostgreSQL, trailing spaces stripped in MySQL.

use super::json_column::declared_columns;
use super::*;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "char-column",
        category: Category::Style,
        verdict: Verdict::Caution,
        dialects: &[Dialect::Postgres, Dialect::Mysql],
        summary: "A fixed-length `char(n)` column",
        why: "PostgreSQL pads `char(n)` values with spaces to n characters, ignores trailing spaces when comparing, and drops them when converting to text, so values do not round-trip; it is never faster than `text` or `varchar` (the documentation says it is usually the slowest of the three), and changing n later rewrites the table. MySQL strips trailing spaces from CHAR values when they are read, so a value stored with trailing spaces comes back different. Reported for CREATE TABLE, ADD COLUMN, ALTER COLUMN … TYPE and MySQL MODIFY/CHANGE, also on tables created in the same file.",
        safer: "Use `text` (PostgreSQL, with a CHECK constraint for the length if one is needed) or `varchar(n)`: `ALTER TABLE countries ADD COLUMN code text CHECK (char_length(code) = 2);`.",
        anchors: &["squawk:ban-char-field"],
        bad: include_str!("../../fixtures/rules/char-column/bad.sql"),
        good: include_str!("../../fixtures/rules/char-column/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let what = match ctx.dialect {
        Dialect::Mysql => {
            "MySQL strips trailing spaces from CHAR values when reading them, so values ending in spaces do not round-trip; use VARCHAR(n)"
        }
        _ => {
            "PostgreSQL pads values with spaces to the full length and ignores trailing spaces in comparisons, and it is no faster than text; use `text` or `varchar`"
        }
    };
    declared_columns(stmt)
        .into_iter()
        // `"char"` (quoted) is PostgreSQL's internal one-byte type, not character(n)
        .filter(|d| d.ty.name == "char" && !d.ty.raw.starts_with('"'))
        .map(|d| Hit::new(d.span, format!("{}: {what}", d.describe())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "char-column";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn char_spellings_not_varchar() {
        let sql = "CREATE TABLE c (a char(2), b character(3), c char, d character varying(3), e varchar(2));";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 3, "{h:?}");
        assert!(h[0].contains("pads values with spaces"), "{h:?}");
    }

    #[test]
    fn mysql_message_and_modify() {
        let h = hits(
            R,
            "ALTER TABLE c MODIFY code CHAR(2) NOT NULL;",
            Dialect::Mysql,
        );
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].contains("strips trailing spaces"), "{h:?}");
        assert!(hits(R, "CREATE TABLE c (a char(2));", Dialect::Sqlite).is_empty());
    }
}
