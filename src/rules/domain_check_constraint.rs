//! PostgreSQL domains with constraints: `ALTER DOMAIN … ADD CONSTRAINT` / `SET NOT NULL`
//! re-checks every column of the domain; `CREATE DOMAIN … CHECK` sets that up.

use super::*;
use crate::rules::locks::{self, Word};
use crate::sql::ir::ObjName;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "domain-check-constraint",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "Adding a constraint to a domain re-checks every column of that domain under lock",
        why: "`ALTER DOMAIN … ADD CONSTRAINT` (and `SET NOT NULL`) checks every value of every column of that domain, in every table that uses it, and takes a SHARE lock on each of those tables for it: INSERT, UPDATE and DELETE of all of them wait until every row has been checked. With `NOT VALID` existing values are not checked (not reported), but validating later scans them all again. `CREATE DOMAIN … CHECK` takes no lock by itself and is reported as caution: a constraint on a domain cannot be changed in place, so every later change of the rule is such an ALTER DOMAIN (and dropping the domain drops the columns that use it). Not reported for a domain created earlier in the same file.",
        safer: "Put CHECK constraints on the table columns, where they can be added without a long lock: `ALTER TABLE orders ADD CONSTRAINT orders_amount_max CHECK (amount < 1000000) NOT VALID;` now, `ALTER TABLE orders VALIDATE CONSTRAINT orders_amount_max;` in a later migration. To change a domain anyway, add the constraint `NOT VALID` so only new values are checked.",
        anchors: &[
            "squawk:ban-create-domain-with-constraint",
            "squawk:ban-alter-domain-with-add-constraint",
        ],
        bad: include_str!("../../fixtures/rules/domain-check-constraint/bad.sql"),
        good: include_str!("../../fixtures/rules/domain-check-constraint/good.sql"),
    },
    check,
};

/// `CREATE DOMAIN name` / `ALTER DOMAIN name` → (is create, name, index after the name).
fn domain_head(w: &[Word]) -> Option<(bool, ObjName, usize)> {
    let create = w.first()?.is("create");
    if !(create || w.first()?.is("alter")) || !w.get(1)?.is("domain") {
        return None;
    }
    let (name, next) = locks::name_at(w, 2)?;
    Some((create, name, next))
}

fn created_in_file(ctx: &Ctx, name: &ObjName) -> bool {
    ctx.statements[..ctx.position].iter().any(|s| {
        s.kind == "create_domain"
            && domain_head(&locks::words(ctx, s))
                .is_some_and(|(create, n, _)| create && n.key() == name.key())
    })
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    if !stmt.kind.ends_with("_domain") {
        return Vec::new();
    }
    let w = locks::words(ctx, stmt);
    let Some((create, name, next)) = domain_head(&w) else {
        return Vec::new();
    };
    if create {
        if !w[next..].iter().any(|x| x.is("check")) {
            return Vec::new();
        }
        return vec![
            Hit::new(
                stmt.span,
                format!(
                    "creates domain `{name}` with a CHECK constraint: it cannot be changed in place later, and adding a constraint to the domain then re-checks every column of `{name}` in every table while blocking their writes; put the CHECK on the table columns instead"
                ),
            )
            .with_verdict(Verdict::Caution),
        ];
    }
    if created_in_file(ctx, &name) {
        return Vec::new();
    }
    let rest = &w[next..];
    let action = if rest.first().is_some_and(|x| x.is("add")) {
        let not_valid = rest.windows(2).any(|p| p[0].is("not") && p[1].is("valid"));
        if not_valid {
            return Vec::new();
        }
        let constraint = rest
            .iter()
            .position(|x| x.is("constraint"))
            .and_then(|i| rest.get(i + 1))
            .and_then(Word::ident)
            .map(|c| format!("constraint `{c}`"))
            .unwrap_or_else(|| "a constraint".to_string());
        format!("adds {constraint} to domain `{name}`")
    } else if rest.len() >= 3 && rest[0].is("set") && rest[1].is("not") && rest[2].is("null") {
        format!("sets NOT NULL on domain `{name}`")
    } else {
        return Vec::new();
    };
    vec![Hit::new(
        stmt.span,
        format!(
            "{action}: PostgreSQL checks every value of every column of type `{name}` in every table that uses it, holding a SHARE lock on each of those tables, so their INSERT, UPDATE and DELETE wait until all rows are checked; add it NOT VALID, or put the constraint on the table columns"
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "domain-check-constraint";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn create_domain_is_caution() {
        use crate::classify::{CheckOptions, check_sql};
        let sql = "CREATE DOMAIN positive AS integer CHECK (VALUE > 0);";
        let r = check_sql(sql, &CheckOptions::default());
        let f: Vec<_> = r.findings.iter().filter(|f| f.rule == R).collect();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].verdict, Verdict::Caution);
        assert!(
            hits(
                R,
                "CREATE DOMAIN email AS text NOT NULL;",
                Dialect::Postgres
            )
            .is_empty()
        );
    }

    #[test]
    fn alter_domain_forms() {
        let h = hits(
            R,
            "ALTER DOMAIN app.positive ADD CONSTRAINT c CHECK (VALUE > 0);",
            Dialect::Postgres,
        );
        assert!(
            h[0].starts_with("adds constraint `c` to domain `app.positive`"),
            "{h:?}"
        );
        let n = hits(R, "ALTER DOMAIN positive SET NOT NULL;", Dialect::Postgres);
        assert_eq!(n.len(), 1, "{n:?}");
        for ok in [
            "ALTER DOMAIN positive ADD CONSTRAINT c CHECK (VALUE > 0) NOT VALID;",
            "ALTER DOMAIN positive DROP CONSTRAINT c;",
            "ALTER DOMAIN positive RENAME TO pos;",
        ] {
            assert!(hits(R, ok, Dialect::Postgres).is_empty(), "{ok}");
        }
        // a domain created in this file is used by no existing column
        let created = "CREATE DOMAIN pos AS integer;\nALTER DOMAIN pos ADD CHECK (VALUE > 0);";
        assert!(hits(R, created, Dialect::Postgres).is_empty());
    }
}
