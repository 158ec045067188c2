//! Data changes written straight into system catalogs (`UPDATE pg_index …`, `DELETE FROM
//! mysql.user …`).

use super::*;
use crate::sql::ir::{ObjName, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "catalog-write",
        category: Category::Data,
        verdict: Verdict::Risky,
        dialects: &[Dialect::Postgres, Dialect::Mysql],
        summary: "Writing into system catalogs bypasses every check the database makes",
        why: "System catalogs (PostgreSQL's pg_catalog tables such as pg_class, pg_index, pg_attribute, pg_constraint; MySQL's mysql schema) describe the schema and the server itself. Changing their rows directly skips every check DDL makes: old tricks like `UPDATE pg_index SET indisvalid = …` or `UPDATE pg_attribute SET atttypmod = …` can leave indexes or tables inconsistent with their data, break replication and crash the server, and the changes are not portable across versions. Deleting catalog rows can orphan objects and make their data unreachable (destructive). Inserts and updates are risky.",
        safer: "Use the DDL meant for it (`REINDEX INDEX CONCURRENTLY`, `ALTER TABLE … ALTER COLUMN … TYPE`, `ALTER INDEX … ATTACH PARTITION`, `GRANT`, `CREATE USER`), even when it takes longer.",
        anchors: &[],
        bad: include_str!("../../fixtures/rules/catalog-write/bad.sql"),
        good: include_str!("../../fixtures/rules/catalog-write/good.sql"),
    },
    check,
};

/// A system catalog table of the dialect.
fn is_catalog(table: &ObjName, dialect: Dialect) -> bool {
    let parts: Vec<String> = table.parts.iter().map(|p| p.to_ascii_lowercase()).collect();
    match dialect {
        Dialect::Postgres => match parts.as_slice() {
            [schema, name] => {
                schema == "pg_catalog" || (schema == "information_schema" && !name.is_empty())
            }
            [name] => name.starts_with("pg_"),
            _ => false,
        },
        Dialect::Mysql => {
            matches!(
                parts.first().map(String::as_str),
                Some("mysql" | "information_schema" | "performance_schema" | "sys")
            ) && parts.len() == 2
        }
        Dialect::Sqlite => false,
    }
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        let (verb, table, verdict) = match op {
            Op::Update { table: Some(t), .. } => ("updates", t, Verdict::Risky),
            Op::Insert { table } => ("inserts into", table, Verdict::Risky),
            Op::Delete { table: Some(t), .. } => ("deletes from", t, Verdict::Destructive),
            _ => continue,
        };
        let table = super::delete_without_where::dml_table(table);
        if !is_catalog(&table, ctx.dialect) || !ctx.is_existing(&table) {
            continue;
        }
        hits.push(
            Hit::new(
                stmt.span,
                format!(
                    "{verb} system catalog `{table}` directly, bypassing every check DDL makes: the schema can be left inconsistent with the data{}",
                    if verdict == Verdict::Destructive {
                        ", and objects whose catalog rows are deleted become unreachable with their data"
                    } else {
                        ""
                    }
                ),
            )
            .with_verdict(verdict),
        );
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "catalog-write";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn catalogs_per_dialect() {
        for sql in [
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'i'::regclass;",
            "UPDATE pg_catalog.pg_attribute SET atttypmod = 104 WHERE attrelid = 't'::regclass;",
            "DELETE FROM pg_class WHERE relname = 'x';",
        ] {
            assert_eq!(hits(R, sql, Dialect::Postgres).len(), 1, "{sql}");
        }
        assert!(hits(R, "UPDATE pages SET a = 1 WHERE id = 1;", Dialect::Postgres).is_empty());
        assert_eq!(
            hits(
                R,
                "DELETE FROM mysql.user WHERE user = 'x';",
                Dialect::Mysql
            )
            .len(),
            1
        );
        assert!(hits(R, "DELETE FROM users WHERE id = 1;", Dialect::Mysql).is_empty());
    }
}
