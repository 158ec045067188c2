//! `DROP SCHEMA` (in MySQL a synonym of `DROP DATABASE`).

use super::*;
use crate::sql::ir::{ObjectKind, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "drop-schema",
        category: Category::Destructive,
        verdict: Verdict::Destructive,
        dialects: &[Dialect::Postgres, Dialect::Mysql],
        summary: "Dropping a schema deletes the objects inside it",
        why: "In PostgreSQL, DROP SCHEMA … CASCADE drops every object inside the schema (tables with all their rows, views, sequences, functions, types) and every object elsewhere that depends on them (destructive). Without CASCADE PostgreSQL refuses to drop a schema that still contains anything, so no stored data can go with it; it is reported as risky, since code that still refers to the schema breaks (and the migration fails if it is not empty). In MySQL, DROP SCHEMA is a synonym of DROP DATABASE: every table in the database and all its rows are deleted (destructive). Nothing of it can be rolled back once committed (MySQL commits it implicitly). Schemas created earlier in the same file are not reported.",
        safer: "Do not drop schemas in migrations. Drop the objects that are verified unused one by one (each is then judged on its own), after a backup, or rename the schema first (`ALTER SCHEMA reporting RENAME TO reporting_retired;`) so it can be brought back, and drop it by hand in a later, major release.",
        anchors: &["atlas:DS101"],
        bad: include_str!("../../fixtures/rules/drop-schema/bad.sql"),
        good: include_str!("../../fixtures/rules/drop-schema/good.sql"),
    },
    check,
};

/// `CREATE SCHEMA name` (or MySQL `CREATE DATABASE`) earlier in this file.
fn created_here(ctx: &Ctx, name: &str) -> bool {
    ctx.statements[..ctx.position].iter().any(|s| {
        let words: Vec<String> = s
            .sql
            .split_whitespace()
            .take(6)
            .map(|w| w.trim_matches(['"', '`', ';']).to_ascii_lowercase())
            .collect();
        words.first().is_some_and(|w| w == "create")
            && words
                .iter()
                .position(|w| w == "schema" || w == "database")
                .is_some_and(|i| {
                    words[i + 1..]
                        .iter()
                        .find(|w| !matches!(w.as_str(), "if" | "not" | "exists"))
                        .is_some_and(|w| w.eq_ignore_ascii_case(name))
                })
    })
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        let Op::Drop {
            kind: ObjectKind::Schema,
            names,
            cascade,
            ..
        } = op
        else {
            continue;
        };
        for name in names {
            if created_here(ctx, name.base()) {
                continue;
            }
            let msg = if ctx.dialect == Dialect::Mysql {
                format!(
                    "drops database `{name}` (DROP SCHEMA is DROP DATABASE in MySQL): every table in it and all their rows are deleted"
                )
            } else if *cascade {
                format!(
                    "drops schema `{name}` with CASCADE: every object inside it (tables with all their rows, views, sequences, functions, types) and everything depending on them is dropped too"
                )
            } else {
                hits.push(
                    Hit::new(
                        stmt.span,
                        format!(
                            "drops schema `{name}`: without CASCADE PostgreSQL refuses unless it is empty, so no stored data goes with it, but code that still refers to it breaks (and the migration fails if anything is left in it)"
                        ),
                    )
                    .with_verdict(Verdict::Risky),
                );
                continue;
            };
            hits.push(Hit::new(stmt.span, msg));
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn cascade_and_mysql_wording() {
        let h = hits(
            "drop-schema",
            "DROP SCHEMA IF EXISTS a, b CASCADE;",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 2);
        assert!(h[0].contains("every object inside"), "{h:?}");
        let h = hits("drop-schema", "DROP SCHEMA shop;", Dialect::Mysql);
        assert!(h[0].contains("drops database `shop`"), "{h:?}");
        assert!(hits("drop-schema", "DROP SCHEMA s;", Dialect::Sqlite).is_empty());
        assert!(hits("drop-schema", "DROP DATABASE d;", Dialect::Postgres).is_empty());
    }
}
