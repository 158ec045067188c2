//! PostgreSQL `timestamp` (without time zone) columns: use `timestamptz`.

use super::json_column::declared_columns;
use super::*;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "timestamp-without-time-zone",
        category: Category::Style,
        verdict: Verdict::Caution,
        dialects: POSTGRES,
        summary: "A `timestamp` column without time zone",
        why: "`timestamp without time zone` stores a wall-clock reading with no offset: a value written as `2024-03-10 02:30+01` loses its offset, clients in different time zones (or the same client across a DST change) read and write values that mean different instants, and comparisons with `now()` depend on the session's TimeZone setting. `timestamptz` stores an absolute instant (UTC) in the same 8 bytes. Converting the column later rewrites the table under an ACCESS EXCLUSIVE lock (unless the session time zone is UTC, PostgreSQL 12+). Reported for CREATE TABLE, ADD COLUMN and ALTER COLUMN … TYPE, also on tables created in the same file.",
        safer: "Declare the column as `timestamptz` (`timestamp with time zone`): `ALTER TABLE orders ADD COLUMN shipped_at timestamptz;`.",
        anchors: &["squawk:prefer-timestamptz"],
        bad: include_str!("../../fixtures/rules/timestamp-without-time-zone/bad.sql"),
        good: include_str!("../../fixtures/rules/timestamp-without-time-zone/good.sql"),
    },
    check,
};

fn check(_ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    declared_columns(stmt)
        .into_iter()
        .filter(|d| d.ty.name == "timestamp")
        .map(|d| {
            Hit::new(
                d.span,
                format!(
                    "{}: a timestamp without time zone stores no offset, so the instant it means depends on each client's time zone; use `timestamptz`",
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

    const R: &str = "timestamp-without-time-zone";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn spellings() {
        let sql = "CREATE TABLE t (a timestamp, b timestamp(3) without time zone, c timestamptz, d timestamp with time zone, e date);";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 2, "{h:?}");
        assert!(h[1].contains("`b`"), "{h:?}");
    }

    #[test]
    fn type_change_and_new_tables() {
        let sql = "CREATE TABLE t (a int);\nALTER TABLE t ALTER COLUMN a TYPE timestamp USING to_timestamp(a);";
        assert_eq!(hits(R, sql, Dialect::Postgres).len(), 1);
        // MySQL DATETIME/TIMESTAMP have different semantics: not this rule
        assert!(hits(R, "CREATE TABLE t (a DATETIME);", Dialect::Mysql).is_empty());
    }
}
