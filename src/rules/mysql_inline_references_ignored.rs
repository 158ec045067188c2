//! MySQL column-level `REFERENCES` (no FOREIGN KEY is created before MySQL 9.0).

use super::*;
use crate::sql::ir::{AlterAction, ColumnDef, ObjName, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "mysql-inline-references-ignored",
        category: Category::Compatibility,
        verdict: Verdict::Risky,
        dialects: MYSQL,
        summary: "A column-level REFERENCES clause that MySQL parses and ignores",
        why: "Before MySQL 9.0.0, MySQL parses \"inline REFERENCES specifications\" in a column definition (`author_id INT REFERENCES users (id)`) and silently ignores them: no foreign key is created, so orphaned rows are accepted and ON DELETE actions never run, while the migration reads as if integrity were enforced. MySQL 9.0.0 (WL#16130/16131, bugs.mysql.com #102904) and MariaDB 10.5.0 (MDEV-20729) create the foreign key. The rule is silent when the target version is 9.0 or later; migsafe cannot tell MariaDB from MySQL by version number, so a MariaDB 10.0–10.4 target (end of life) is treated like MySQL 9+. Reported for CREATE TABLE, ADD COLUMN and MODIFY/CHANGE.",
        safer: "Declare the foreign key as a table constraint, which every version enforces: `author_id BIGINT, CONSTRAINT posts_author_id_fk FOREIGN KEY (author_id) REFERENCES users (id)` in CREATE TABLE, or `ALTER TABLE posts ADD CONSTRAINT posts_author_id_fk FOREIGN KEY (author_id) REFERENCES users (id);`.",
        anchors: &["atlas:MY102"],
        bad: include_str!("../../fixtures/rules/mysql-inline-references-ignored/bad.sql"),
        good: include_str!("../../fixtures/rules/mysql-inline-references-ignored/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    if ctx.at_least(9, 0, 0) {
        return Vec::new();
    }
    let mut cols: Vec<(&ObjName, &ColumnDef, Span)> = Vec::new();
    for op in &stmt.ops {
        match op {
            Op::CreateTable { table, columns, .. } => {
                cols.extend(columns.iter().map(|c| (table, c, c.span)));
            }
            Op::AlterTable { table, items, .. } => {
                for item in items {
                    if let AlterAction::AddColumn { column, .. }
                    | AlterAction::ModifyColumn { column, .. } = &item.action
                    {
                        cols.push((table, column, item.span));
                    }
                }
            }
            _ => {}
        }
    }
    cols.into_iter()
        .filter_map(|(table, c, span)| {
            let parent = c.references.as_ref()?;
            Some(Hit::new(
                span,
                format!(
                    "column `{}` of `{table}` declares `REFERENCES {parent}` inline: MySQL {} parses and ignores it, so no foreign key is created and rows referencing missing `{parent}` rows are accepted; declare `FOREIGN KEY ({}) REFERENCES {parent} (…)` as a table constraint",
                    c.name, ctx.version, c.name
                ),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{hits, hits_with};

    const R: &str = "mysql-inline-references-ignored";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn create_and_add_column() {
        let sql = "CREATE TABLE posts (id BIGINT PRIMARY KEY, author_id BIGINT REFERENCES users (id), editor_id BIGINT);\n\
                   ALTER TABLE posts ADD COLUMN reviewer_id BIGINT REFERENCES users (id);";
        let h = hits(R, sql, Dialect::Mysql);
        assert_eq!(h.len(), 2, "{h:?}");
        assert!(h[0].contains("`author_id` of `posts`"), "{h:?}");
        assert!(h[0].contains("MySQL 8 parses"), "{h:?}");
        assert!(h[1].contains("`reviewer_id`"), "{h:?}");
    }

    #[test]
    fn enforced_from_mysql_9_and_table_constraints_fine() {
        let sql = "CREATE TABLE posts (author_id BIGINT REFERENCES users (id));";
        assert!(hits_with(R, sql, Dialect::Mysql, Some("9.0")).is_empty());
        assert_eq!(hits_with(R, sql, Dialect::Mysql, Some("8.4")).len(), 1);
        let fk =
            "CREATE TABLE posts (author_id BIGINT, FOREIGN KEY (author_id) REFERENCES users (id));";
        assert!(hits(R, fk, Dialect::Mysql).is_empty());
    }
}
