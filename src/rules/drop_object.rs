//! `DROP` of a view, routine, type, domain, extension or trigger that running code uses.

use super::*;
use crate::sql::ir::{ObjName, ObjectKind, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "drop-object",
        category: Category::Compatibility,
        verdict: Verdict::Risky,
        dialects: ALL_DIALECTS,
        summary: "Dropping a view, function, procedure, type, domain, extension or trigger breaks the code that uses it",
        why: "Applications read views and call functions and procedures; columns, casts and functions are declared with types and domains; extensions bring types and functions; triggers carry behaviour (audit rows, updated_at, derived columns) the application relies on. Dropping one of them breaks whatever still uses it the moment the migration runs, although no stored data goes with it: a view or a materialized view holds only what its query computes from the tables, a routine only code. It is risky, not destructive. With CASCADE, PostgreSQL also drops what depends on the object: for a type, domain or extension that includes every table column declared with it, and all their values (destructive). Not reported for objects created earlier in the same file, nor when the file creates the object again after dropping it (a replacement: `DROP FUNCTION IF EXISTS f(); CREATE FUNCTION f() …`). Tables, columns, schemas, sequences and databases have their own rules.",
        safer: "Drop it only after every caller is gone: deploy the code that stops using it first, then drop it in a later release (`DROP VIEW IF EXISTS active_users;`). To change a view or function, use CREATE OR REPLACE in place. Never drop a type or domain with CASCADE while columns use it: migrate those columns to another type first.",
        anchors: &[],
        bad: include_str!("../../fixtures/rules/drop-object/bad.sql"),
        good: include_str!("../../fixtures/rules/drop-object/good.sql"),
    },
    check,
};

/// The kinds this rule looks at, with how code depends on them.
fn dependency(kind: ObjectKind) -> Option<&'static str> {
    Some(match kind {
        ObjectKind::View => "queries that read it fail",
        ObjectKind::MaterializedView => "queries that read it fail",
        ObjectKind::Function => {
            "calls of it fail (in queries, defaults, triggers and other routines)"
        }
        ObjectKind::Procedure => "CALLs of it fail",
        ObjectKind::Type => "code and routines using the type fail",
        ObjectKind::Domain => "code and routines using the domain fail",
        ObjectKind::Extension => "the types and functions it provides disappear",
        ObjectKind::Trigger => {
            "the behaviour it implements (audit rows, derived columns, …) silently stops"
        }
        _ => return None,
    })
}

fn same(a: &ObjName, b: &ObjName) -> bool {
    a.key().eq_ignore_ascii_case(&b.key())
}

/// A statement that creates an object named `name` of `kind`.
fn creates(stmt: &Statement, kind: ObjectKind, name: &ObjName) -> bool {
    stmt.ops.iter().any(|op| match op {
        Op::CreateView { name: n, .. } => {
            matches!(kind, ObjectKind::View | ObjectKind::MaterializedView) && same(n, name)
        }
        Op::CreateRoutine {
            kind: k, name: n, ..
        } => *k == kind && same(n, name),
        Op::CreateType { name: n, .. } => kind == ObjectKind::Type && same(n, name),
        Op::CreateOther { what } => {
            // CREATE DOMAIN / EXTENSION are lowered generically: compare the text
            let w = what.to_ascii_uppercase();
            let k = match kind {
                ObjectKind::Domain => "CREATE DOMAIN",
                ObjectKind::Extension => "CREATE EXTENSION",
                _ => return false,
            };
            w.starts_with(k) && {
                let text = stmt.sql.to_ascii_lowercase();
                text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|word| word == name.base().to_ascii_lowercase())
            }
        }
        _ => false,
    })
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        let Op::Drop {
            kind,
            names,
            cascade,
            ..
        } = op
        else {
            continue;
        };
        let Some(breaks) = dependency(*kind) else {
            continue;
        };
        for name in names {
            let before = &ctx.statements[..ctx.position];
            let after = &ctx.statements[ctx.position + 1..];
            if before.iter().any(|s| creates(s, *kind, name))
                || after.iter().any(|s| creates(s, *kind, name))
            {
                continue;
            }
            let what = kind.as_str();
            let columns_go = *cascade
                && matches!(
                    kind,
                    ObjectKind::Type | ObjectKind::Domain | ObjectKind::Extension
                );
            let hit = if columns_go {
                Hit::new(
                    stmt.span,
                    format!(
                        "drops {what} `{name}` with CASCADE: every table column declared with it is dropped too, with all its values, and {breaks}"
                    ),
                )
                .with_verdict(Verdict::Destructive)
            } else {
                let cascade = if *cascade {
                    "; CASCADE also drops everything that depends on it"
                } else {
                    ""
                };
                Hit::new(
                    stmt.span,
                    format!(
                        "drops {what} `{name}`: no stored data goes with it, but {breaks}{cascade}"
                    ),
                )
            };
            hits.push(hit);
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "drop-object";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn kinds_cascade_and_replacements() {
        for sql in [
            "DROP VIEW active_users;",
            "DROP MATERIALIZED VIEW IF EXISTS daily_totals;",
            "DROP FUNCTION set_updated_at();",
            "DROP PROCEDURE refresh();",
            "DROP TYPE mood;",
            "DROP TRIGGER audit ON orders;",
        ] {
            let h = hits(R, sql, Dialect::Postgres);
            assert_eq!(h.len(), 1, "{sql}");
            assert!(h[0].contains("no stored data"), "{h:?}");
        }
        let h = hits(R, "DROP TYPE mood CASCADE;", Dialect::Postgres);
        assert!(
            h[0].contains("every table column declared with it"),
            "{h:?}"
        );
        // replaced, or created here
        for sql in [
            "DROP FUNCTION IF EXISTS f();\nCREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;",
            "DROP VIEW IF EXISTS v;\nCREATE VIEW v AS SELECT 1;",
            "CREATE VIEW v AS SELECT 1;\nDROP VIEW v;",
        ] {
            assert!(hits(R, sql, Dialect::Postgres).is_empty(), "{sql}");
        }
        assert_eq!(
            hits(R, "DROP PROCEDURE IF EXISTS p;", Dialect::Mysql).len(),
            1
        );
        assert!(
            hits(
                R,
                "DROP PROCEDURE IF EXISTS p;\nCREATE PROCEDURE p() BEGIN SELECT 1; END;\nCALL p();\nDROP PROCEDURE p;",
                Dialect::Mysql
            )
            .is_empty()
        );
    }
}
