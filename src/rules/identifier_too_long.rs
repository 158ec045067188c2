//! Names longer than PostgreSQL's 63 bytes (silently truncated) or MySQL's 64 characters (error).

use super::*;
use crate::sql::ir::{AlterAction, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "identifier-too-long",
        category: Category::Style,
        verdict: Verdict::Risky,
        dialects: &[Dialect::Postgres, Dialect::Mysql],
        summary: "A table, column, index or constraint name longer than the server allows",
        why: "PostgreSQL keeps at most 63 bytes of an identifier (NAMEDATALEN - 1) and silently truncates longer ones with only a NOTICE: the object is created under a shorter name than the migration says, so tools that compare names with the catalog (schema diffs, ORMs, `WHERE conname = '…'`) do not find it, and two long names that share their first 63 bytes collide (\"relation already exists\"); this is reported as a caution. MySQL rejects names over 64 characters (\"Identifier name … is too long\"), so the migration fails: reported as risky. Checks the names a migration creates: tables, columns, indexes, constraints, views and types in CREATE, ADD, RENAME and MySQL CHANGE.",
        safer: "Shorten the name (for example abbreviate the table part of an index or constraint name): `CREATE INDEX orders_customer_created_idx ON orders (customer_id, created_at);`.",
        anchors: &["squawk:identifier-too-long"],
        bad: include_str!("../../fixtures/rules/identifier-too-long/bad.sql"),
        good: include_str!("../../fixtures/rules/identifier-too-long/good.sql"),
    },
    check,
};

/// PostgreSQL's truncation: the longest prefix of at most 63 bytes that ends on a character.
fn truncate63(name: &str) -> &str {
    let mut end = 63.min(name.len());
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    // (kind, name, span)
    let mut names: Vec<(&str, &str, Span)> = Vec::new();
    for op in &stmt.ops {
        match op {
            Op::CreateTable {
                table,
                columns,
                constraints,
                ..
            } => {
                names.push(("table", table.base(), stmt.span));
                for c in columns {
                    names.push(("column", &c.name, c.span));
                }
                for c in constraints {
                    if let Some(n) = &c.name {
                        names.push(("constraint", n, c.span));
                    }
                }
            }
            Op::AlterTable { items, .. } => {
                for item in items {
                    let (kind, name) = match &item.action {
                        AlterAction::AddColumn { column, .. } => ("column", column.name.as_str()),
                        AlterAction::ModifyColumn { old_name, column }
                            if *old_name != column.name =>
                        {
                            ("column", column.name.as_str())
                        }
                        AlterAction::AddConstraint(c) => match &c.name {
                            Some(n) => ("constraint", n.as_str()),
                            None => continue,
                        },
                        AlterAction::AddIndex { name: Some(n), .. } => ("index", n.as_str()),
                        AlterAction::RenameColumn { to, .. } => ("column", to.as_str()),
                        AlterAction::RenameTable { to } => ("table", to.base()),
                        AlterAction::RenameConstraint { to, .. } => ("constraint", to.as_str()),
                        _ => continue,
                    };
                    names.push((kind, name, item.span));
                }
            }
            Op::RenameTables { pairs } => {
                for (_, to) in pairs {
                    names.push(("table", to.base(), stmt.span));
                }
            }
            Op::CreateIndex { name: Some(n), .. } => names.push(("index", n, stmt.span)),
            Op::CreateView { name, .. } => names.push(("view", name.base(), stmt.span)),
            Op::CreateType { name, .. } => names.push(("type", name.base(), stmt.span)),
            _ => {}
        }
    }
    let mut hits = Vec::new();
    for (kind, name, span) in names {
        match ctx.dialect {
            Dialect::Postgres if name.len() > 63 => hits.push(
                Hit::new(
                    span,
                    format!(
                        "{kind} name `{name}` is {} bytes: PostgreSQL silently truncates it to 63 bytes (`{}`), so the catalog holds a different name than the migration, and another long name with the same first 63 bytes would collide",
                        name.len(),
                        truncate63(name)
                    ),
                )
                .with_verdict(Verdict::Caution),
            ),
            Dialect::Mysql if name.chars().count() > 64 => hits.push(
                Hit::new(
                    span,
                    format!(
                        "{kind} name `{name}` is {} characters: MySQL rejects identifiers longer than 64 characters, so the statement fails",
                        name.chars().count()
                    ),
                )
                .with_verdict(Verdict::Risky),
            ),
            _ => {}
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "identifier-too-long";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn postgres_bytes_and_truncated_name() {
        let long = "a".repeat(64);
        let ok = "b".repeat(63);
        let sql = format!(
            "CREATE TABLE t ({long} int, {ok} int);\nALTER TABLE t RENAME COLUMN x TO {long};"
        );
        let h = hits(R, &sql, Dialect::Postgres);
        assert_eq!(h.len(), 2, "{h:?}");
        assert!(h[0].contains(&format!("(`{}`)", "a".repeat(63))), "{h:?}");
        // multi-byte: 32 × 'é' = 64 bytes, truncated on a character boundary
        let accents = "é".repeat(32);
        let h = hits(
            R,
            &format!("CREATE INDEX \"{accents}\" ON t (a);"),
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].contains(&format!("(`{}`)", "é".repeat(31))), "{h:?}");
    }

    #[test]
    fn verdict_per_dialect() {
        use crate::classify::{CheckOptions, check_sql};
        let verdict = |sql: &str, dialect| {
            let opts = CheckOptions {
                dialect,
                ..CheckOptions::default()
            };
            check_sql(sql, &opts)
                .findings
                .into_iter()
                .find(|f| f.rule == R)
                .map(|f| f.verdict)
        };
        let sql = format!("CREATE TABLE {} (a int);", "t".repeat(70));
        assert_eq!(verdict(&sql, Dialect::Postgres), Some(Verdict::Caution));
        assert_eq!(verdict(&sql, Dialect::Mysql), Some(Verdict::Risky));
    }

    #[test]
    fn mysql_characters_and_risky() {
        let name = "c".repeat(65);
        let sql = format!("ALTER TABLE t ADD CONSTRAINT {name} FOREIGN KEY (a) REFERENCES p (id);");
        let h = hits(R, &sql, Dialect::Mysql);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].contains("65 characters"), "{h:?}");
        let ok = "c".repeat(64);
        assert!(hits(R, &format!("CREATE TABLE {ok} (a int);"), Dialect::Mysql).is_empty());
    }
}
