//! Renaming an existing table (`ALTER TABLE … RENAME TO`, MySQL `RENAME TABLE`).

use super::*;
use crate::sql::ir::{AlterAction, ObjName, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "rename-table",
        category: Category::Compatibility,
        verdict: Verdict::Risky,
        dialects: ALL_DIALECTS,
        summary: "Renaming a table breaks running code that still uses the old name",
        why: "Application code deployed before the migration keeps querying the old table name; from the moment the rename commits until every instance runs new code, those queries fail with \"relation does not exist\" / \"table doesn't exist\". The rename also takes an ACCESS EXCLUSIVE lock (PostgreSQL). Not reported for tables created earlier in the same file, or when the same file creates a view with the old name after the rename.",
        safer: "Keep the old name working: rename and create a view with the old name in the same migration (`ALTER TABLE customers RENAME TO clients; CREATE VIEW customers AS SELECT * FROM clients;` — simple views are updatable in PostgreSQL and MySQL, not in SQLite), then drop the view once no code uses it. Or expand and contract: create the new table, write to both, backfill, switch reads, and drop the old table in a later release.",
        anchors: &[
            "squawk:renaming-table",
            "strong_migrations:rename_table",
            "atlas:BC101",
        ],
        bad: include_str!("../../fixtures/rules/rename-table/bad.sql"),
        good: include_str!("../../fixtures/rules/rename-table/good.sql"),
    },
    check,
};

/// Lower-cased words of `text`, with quotes and trailing punctuation removed.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ';' || c == '(')
        .filter(|w| !w.is_empty())
        .map(|w| w.replace(['"', '`'], "").to_ascii_lowercase())
        .collect()
}

/// Whether `CREATE [OR REPLACE] VIEW <old>` appears in the file after the statement.
fn view_keeps_old_name(ctx: &Ctx, stmt: &Statement, old: &ObjName) -> bool {
    let rest = ctx.file.get(stmt.span.end..).unwrap_or("");
    let w = words(rest);
    let old = old.base().to_ascii_lowercase();
    w.iter().enumerate().any(|(i, word)| {
        word == "view"
            && (i >= 1 && w[i - 1] == "create"
                || i >= 3 && w[i - 1] == "replace" && w[i - 2] == "or" && w[i - 3] == "create")
            && w.get(i + 1)
                .is_some_and(|n| n.rsplit('.').next() == Some(old.as_str()))
    })
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    // the rename of a SQLite table rebuild is judged by `sqlite-table-rebuild`
    if super::sqlite_table_rebuild::is_rebuild_rename(ctx, stmt) {
        return hits;
    }
    // renaming a copy into the name of the table it was copied from, dropped since, completes a
    // rebuild: code finds the name it uses again
    let completes_rebuild = |from: &ObjName, to: &ObjName| {
        let to_key = to.key().to_ascii_lowercase();
        ctx.schema.dropped.contains(&to_key)
            && ctx
                .schema
                .lineage
                .get(&from.key().to_ascii_lowercase())
                .is_some_and(|l| l.source == to_key)
    };
    let mut report = |from: &ObjName, to: &ObjName, span: Span| {
        if ctx.is_existing(from)
            && !view_keeps_old_name(ctx, stmt, from)
            && !completes_rebuild(from, to)
        {
            hits.push(Hit::new(
                span,
                format!(
                    "renames table `{from}` to `{to}`: running code that still uses `{from}` fails as soon as the rename commits"
                ),
            ));
        }
    };
    for op in &stmt.ops {
        match op {
            Op::AlterTable { table, items, .. } => {
                for item in items {
                    if let AlterAction::RenameTable { to } = &item.action {
                        report(table, to, item.span);
                    }
                }
            }
            Op::RenameTables { pairs } => {
                for (from, to) in pairs {
                    report(from, to, stmt.span);
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

    const R: &str = "rename-table";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn mysql_rename_table_each_pair() {
        let h = hits(R, "RENAME TABLE a TO b, c TO d;", Dialect::Mysql);
        assert_eq!(h.len(), 2, "{h:?}");
        assert!(h[1].contains("`c` to `d`"), "{h:?}");
        assert_eq!(
            hits(R, "ALTER TABLE a RENAME TO b;", Dialect::Sqlite).len(),
            1
        );
    }

    #[test]
    fn new_tables_and_compat_views_are_fine() {
        let created = "CREATE TABLE a (x int);\nALTER TABLE a RENAME TO b;";
        assert!(hits(R, created, Dialect::Postgres).is_empty());
        let view =
            "ALTER TABLE a RENAME TO b;\nCREATE OR REPLACE VIEW public.\"a\" AS SELECT * FROM b;";
        assert!(hits(R, view, Dialect::Postgres).is_empty());
        // a view created before the rename does not help
        let before =
            "CREATE VIEW a2 AS SELECT 1;\nALTER TABLE a RENAME TO b;\nCREATE VIEW c AS SELECT 1;";
        assert_eq!(hits(R, before, Dialect::Postgres).len(), 1);
    }
}
