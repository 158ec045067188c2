//! The same column assigned twice in one UPDATE, or declared twice in one CREATE/ALTER TABLE.

use super::*;
use crate::sql::ir::{AlterAction, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "duplicate-column-assignment",
        category: Category::Style,
        verdict: Verdict::Risky,
        dialects: ALL_DIALECTS,
        summary: "A column assigned twice in one UPDATE or declared twice in one table definition",
        why: "A column declared twice in CREATE TABLE (or added twice in one ALTER TABLE) fails in every database (\"column specified more than once\" / \"Duplicate column name\"), and PostgreSQL rejects an UPDATE that assigns the same column twice (\"multiple assignments to same column\"): the migration fails. MySQL and SQLite accept the UPDATE but keep only one of the values (MySQL applies the assignments left to right, SQLite uses the rightmost), so one of the two expressions is silently ignored: reported as caution there.",
        safer: "Assign each column once, combining the expressions if both were meant: `UPDATE accounts SET balance = balance + fee - credit WHERE …;`.",
        anchors: &["squawk:ban-duplicate-column-assignments"],
        bad: include_str!("../../fixtures/rules/duplicate-column-assignment/bad.sql"),
        good: include_str!("../../fixtures/rules/duplicate-column-assignment/good.sql"),
    },
    check,
};

/// Names that occur more than once, in order of their second occurrence.
fn duplicates<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    let mut dups = Vec::new();
    for n in names {
        if seen.contains(&n) {
            if !dups.contains(&n) {
                dups.push(n);
            }
        } else {
            seen.push(n);
        }
    }
    dups
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        match op {
            Op::Update { table, columns, .. } => {
                let table = table
                    .as_ref()
                    .map(|t| format!(" of `{t}`"))
                    .unwrap_or_default();
                for c in duplicates(columns.iter().map(String::as_str)) {
                    let hit = match ctx.dialect {
                        Dialect::Postgres => Hit::new(
                            stmt.span,
                            format!(
                                "UPDATE{table} assigns column `{c}` twice: PostgreSQL fails with \"multiple assignments to same column\""
                            ),
                        ),
                        Dialect::Mysql => Hit::new(
                            stmt.span,
                            format!(
                                "UPDATE{table} assigns column `{c}` twice: MySQL applies both left to right, so the later assignment overwrites the earlier one"
                            ),
                        )
                        .with_verdict(Verdict::Caution),
                        Dialect::Sqlite => Hit::new(
                            stmt.span,
                            format!(
                                "UPDATE{table} assigns column `{c}` twice: SQLite ignores all but the rightmost assignment"
                            ),
                        )
                        .with_verdict(Verdict::Caution),
                    };
                    hits.push(hit);
                }
            }
            Op::CreateTable { table, columns, .. } => {
                for c in duplicates(columns.iter().map(|c| c.name.as_str())) {
                    let span = columns
                        .iter()
                        .filter(|d| d.name == c)
                        .nth(1)
                        .map_or(stmt.span, |d| d.span);
                    hits.push(Hit::new(
                        span,
                        format!("CREATE TABLE `{table}` declares column `{c}` twice: the statement fails"),
                    ));
                }
            }
            Op::AlterTable { table, items, .. } => {
                let added = items.iter().filter_map(|i| match &i.action {
                    AlterAction::AddColumn { column, .. } => Some(column.name.as_str()),
                    _ => None,
                });
                for c in duplicates(added) {
                    hits.push(Hit::new(
                        stmt.span,
                        format!(
                            "ALTER TABLE `{table}` adds column `{c}` twice: the statement fails"
                        ),
                    ));
                }
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

    const R: &str = "duplicate-column-assignment";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn update_twice_per_dialect() {
        let sql = "UPDATE t SET a = 1, b = 2, A = 3, (a, c) = (4, 5) WHERE id = 1;";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].contains("`a` twice"), "{h:?}");
        let sql = "UPDATE t SET a = 1, a = 3 WHERE id = 1;";
        assert!(hits(R, sql, Dialect::Mysql)[0].contains("left to right"));
        assert!(hits(R, sql, Dialect::Sqlite)[0].contains("rightmost"));
    }

    #[test]
    fn create_and_alter_table() {
        let h = hits(R, "CREATE TABLE t (a int, b int, a text);", Dialect::Sqlite);
        assert_eq!(h.len(), 1, "{h:?}");
        let h = hits(
            R,
            "ALTER TABLE t ADD COLUMN x int, ADD COLUMN x text;",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1, "{h:?}");
        // quoted names keep their case: "A" and a are different columns
        assert!(hits(R, "CREATE TABLE t (a int, \"A\" int);", Dialect::Postgres).is_empty());
    }
}
