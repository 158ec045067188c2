//! `DROP TABLE` on a table that existed before this migration.

use super::*;
use crate::sql::ir::{ObjName, ObjectKind, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "drop-table",
        category: Category::Destructive,
        verdict: Verdict::Destructive,
        dialects: ALL_DIALECTS,
        summary: "Dropping an existing table deletes all of its rows",
        why: "DROP TABLE removes the table and every row in it; the data is gone unless restored from a backup, and application code still reading or writing the table starts failing at once. It also takes an ACCESS EXCLUSIVE lock (PostgreSQL). When every column of its rows was copied earlier into a table that is still there (`INSERT INTO t_new … SELECT … FROM t` or `CREATE TABLE t_backup AS SELECT …`, in this file or an earlier migration: the rebuilds and \"double copies\" migrations use to change a table), no data is lost and the drop is risky instead; columns the copy leaves out, or rows it filters out, are reported as lost. A table created earlier in the same file is not reported unless it holds the only copy of a dropped table's rows.",
        safer: "First deploy code that no longer uses the table, take and verify a backup (or rename the table and drop it in a later release), then drop it in a release classified major.",
        anchors: &[
            "squawk:ban-drop-table",
            "atlas:DS102",
            "django-migration-linter:DROP_TABLE",
        ],
        bad: include_str!("../../fixtures/rules/drop-table/bad.sql"),
        good: include_str!("../../fixtures/rules/drop-table/good.sql"),
    },
    check,
};

/// The original columns of `table`: its own when it existed before this file, else the columns
/// it received from the table it holds the only copy of (a backup made earlier in the file
/// whose source was dropped since). `None` when it holds no data from before the migration.
fn original_data(ctx: &Ctx, table: &ObjName) -> Option<(String, Vec<String>)> {
    if ctx.is_existing(table) {
        let cols = ctx
            .schema
            .tables
            .get(&table.key())
            .map(|t| t.columns.keys().map(|c| c.to_ascii_lowercase()).collect())
            .unwrap_or_default();
        return Some((format!("`{table}`"), cols));
    }
    let lin = ctx.schema.lineage.get(&table.key().to_ascii_lowercase())?;
    if !lin.source_dropped || lin.filtered.is_some() {
        return None;
    }
    let cols = if lin.star {
        ctx.schema
            .tables
            .get(&table.key())
            .map(|t| t.columns.keys().map(|c| c.to_ascii_lowercase()).collect())
            .unwrap_or_default()
    } else {
        lin.mapping.iter().map(|(_, to)| to.clone()).collect()
    };
    Some((
        format!(
            "`{table}` (the copy of dropped table `{}` made earlier)",
            lin.source
        ),
        cols,
    ))
}

fn judge(ctx: &Ctx, stmt: &Statement, name: &ObjName, cascade_note: &str) -> Option<Hit> {
    let (what, columns) = original_data(ctx, name)?;
    // rows copied into a table that is still there live on (a rebuild or backup made earlier
    // in this file or by an earlier migration)
    let Some((copy, lin)) = ctx.schema.copy_of(name) else {
        return Some(Hit::new(
            stmt.span,
            format!("drops table {what} and all of its rows.{cascade_note}"),
        ));
    };
    if let Some(f) = &lin.filtered {
        return Some(Hit::new(
            stmt.span,
            format!(
                "drops table {what}; its rows were copied into `{copy}` earlier, but with {f}, so the rows the copy left out are lost.{cascade_note}"
            ),
        ));
    }
    if columns.is_empty() && !lin.star {
        return Some(Hit::new(
            stmt.span,
            format!(
                "drops table {what}; its rows were copied into `{copy}` earlier, but migsafe has not seen its columns, so it cannot tell whether every column was copied.{cascade_note}"
            ),
        ));
    }
    let missing = lin.missing(columns.iter());
    if !missing.is_empty() {
        let list = missing
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        return Some(Hit::new(
            stmt.span,
            format!(
                "drops table {what}; its rows were copied into `{copy}` earlier, but without column(s) {list}, whose values are lost.{cascade_note}"
            ),
        ));
    }
    Some(
        Hit::new(
            stmt.span,
            format!(
                "drops table {what} after every column of its rows was copied into `{copy}` (a table rebuild across statements or migrations): no data is lost, but code that uses {what} breaks until `{copy}` takes its place.{cascade_note}"
            ),
        )
        .with_verdict(Verdict::Risky),
    )
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    // the DROP of a SQLite table rebuild is judged by `sqlite-table-rebuild`
    if super::sqlite_table_rebuild::is_rebuild_drop(ctx, stmt) {
        return hits;
    }
    for op in &stmt.ops {
        if let Op::Drop {
            kind: ObjectKind::Table,
            names,
            cascade,
            ..
        } = op
        {
            let cascade_note = if *cascade {
                " CASCADE also drops views and foreign keys that depend on it."
            } else {
                ""
            };
            for name in names {
                if let Some(hit) = judge(ctx, stmt, name, cascade_note) {
                    hits.push(hit);
                }
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    fn verdicts(before: &str, sql: &str, d: Dialect) -> Vec<(Verdict, String)> {
        testing::findings_after("drop-table", before, sql, d)
            .into_iter()
            .map(|f| (f.verdict, f.message))
            .collect()
    }

    #[test]
    fn copies_made_earlier_keep_the_rows() {
        let before = "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, legacy TEXT);";
        // SQLite double copy: backup, drop, re-create, copy back, drop the backup
        let double = "CREATE TEMPORARY TABLE users_backup (id INTEGER, email TEXT, legacy TEXT);\n\
                      INSERT INTO users_backup SELECT id, email, legacy FROM users;\n\
                      DROP TABLE users;\n\
                      CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);\n\
                      INSERT INTO users SELECT id, email FROM users_backup;\n\
                      DROP TABLE users_backup;";
        let v = verdicts(before, double, Dialect::Sqlite);
        assert_eq!(v.len(), 2, "{v:?}");
        assert_eq!(v[0].0, Verdict::Risky, "{v:?}");
        // the backup held the only copy: its `legacy` column is not carried back
        assert_eq!(v[1].0, Verdict::Destructive, "{v:?}");
        assert!(v[1].1.contains("`legacy`"), "{v:?}");
        // kratos-style rebuild split over several migrations
        let v = verdicts(
            &format!(
                "{before}\nCREATE TABLE _users_tmp (id INTEGER PRIMARY KEY, email TEXT, legacy TEXT);\nINSERT INTO _users_tmp (id, email, legacy) SELECT id, email, legacy FROM users;"
            ),
            "DROP TABLE users;",
            Dialect::Sqlite,
        );
        assert_eq!(v[0].0, Verdict::Risky, "{v:?}");
        // a filtered copy loses rows
        let v = verdicts(
            &format!(
                "{before}\nCREATE TABLE users_kept AS SELECT * FROM users WHERE email IS NOT NULL;"
            ),
            "DROP TABLE users;",
            Dialect::Postgres,
        );
        assert_eq!(v[0].0, Verdict::Destructive, "{v:?}");
    }

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn every_dialect_and_each_table() {
        for d in ALL_DIALECTS {
            assert_eq!(hits("drop-table", "DROP TABLE a, b;", *d).len(), 2, "{d:?}");
        }
        assert!(
            hits(
                "drop-table",
                "DROP TABLE IF EXISTS a CASCADE;",
                Dialect::Postgres
            )[0]
            .contains("CASCADE")
        );
        assert!(hits("drop-table", "DROP VIEW a;", Dialect::Postgres).is_empty());
    }
}
