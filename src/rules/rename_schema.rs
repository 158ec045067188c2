//! PostgreSQL `ALTER SCHEMA a RENAME TO b`.

use super::*;
use crate::rules::locks::{self, Word};
use crate::sql::ir::ObjName;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "rename-schema",
        category: Category::Compatibility,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "Renaming a schema breaks every query that names it",
        why: "Running application code, other services, reports and scheduled jobs refer to tables as `schema.table` or find them through a search_path that names the schema. The moment the rename commits, every such query fails with \"relation … does not exist\" (or, through search_path, silently finds another object of the same name) until all of that code is deployed with the new name; function bodies and role or database `search_path` settings that mention the old name break too. Views, foreign keys and indexes follow the rename, because they refer to objects by identity. Not reported for a schema created earlier in the same file.",
        safer: "Keep the schema name and alias it in the code, or move in steps: create the new schema, move tables one by one (`ALTER TABLE billing.invoices SET SCHEMA invoicing;`) while leaving a view under the old name (`CREATE VIEW billing.invoices AS SELECT * FROM invoicing.invoices;`), deploy code that uses the new name, and drop the old schema's views once nothing reads them.",
        anchors: &["strong_migrations:rename_schema"],
        bad: include_str!("../../fixtures/rules/rename-schema/bad.sql"),
        good: include_str!("../../fixtures/rules/rename-schema/good.sql"),
    },
    check,
};

/// The schema a `CREATE SCHEMA [IF NOT EXISTS] name` statement creates.
fn created_schema(w: &[Word]) -> Option<ObjName> {
    if !(w.first()?.is("create") && w.get(1)?.is("schema")) {
        return None;
    }
    let mut i = 2;
    if w.get(i).is_some_and(|x| x.is("if")) {
        i += 3;
    }
    if w.get(i).is_some_and(|x| x.is("authorization")) {
        i += 1;
    }
    locks::name_at(w, i).map(|(n, _)| n)
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    if stmt.kind != "alter_schema" {
        return Vec::new();
    }
    let w = locks::words(ctx, stmt);
    let Some((from, next)) = locks::name_at(&w, 2) else {
        return Vec::new();
    };
    if !(w.get(next).is_some_and(|x| x.is("rename")) && w.get(next + 1).is_some_and(|x| x.is("to")))
    {
        return Vec::new();
    }
    let Some((to, _)) = locks::name_at(&w, next + 2) else {
        return Vec::new();
    };
    let created = ctx.statements[..ctx.position].iter().any(|s| {
        s.kind == "create_schema"
            && created_schema(&locks::words(ctx, s)).is_some_and(|n| n.key() == from.key())
    });
    if created {
        return Vec::new();
    }
    vec![Hit::new(
        stmt.span,
        format!(
            "renames schema `{from}` to `{to}`: every query, function body and search_path that still names `{from}` fails (\"relation does not exist\") or finds other objects until all code using it is deployed with the new name"
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "rename-schema";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn only_renames_of_existing_schemas() {
        let h = hits(
            R,
            "ALTER SCHEMA \"Billing\" RENAME TO invoicing;",
            Dialect::Postgres,
        );
        assert!(
            h[0].starts_with("renames schema `Billing` to `invoicing`"),
            "{h:?}"
        );
        for ok in [
            "ALTER SCHEMA billing OWNER TO app;",
            "CREATE SCHEMA IF NOT EXISTS billing;\nALTER SCHEMA billing RENAME TO invoicing;",
        ] {
            assert!(hits(R, ok, Dialect::Postgres).is_empty(), "{ok}");
        }
    }
}
