//! PostgreSQL `ALTER TYPE t ADD VALUE 'x'` without `BEFORE`/`AFTER` (and, before PostgreSQL 12,
//! any `ADD VALUE` inside a transaction block).

use super::*;
use crate::rules::locks;
use crate::sql::ir::Op;
use crate::sql::lexer::TokKind;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "enum-value-without-position",
        category: Category::Style,
        // the worst a finding can be: a hit of a caution rule cannot be raised to risky (the
        // classifier caps warning-severity rules at caution), so the style finding is lowered
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "ALTER TYPE … ADD VALUE without BEFORE or AFTER appends the value to the enum's order",
        why: "Enum values sort in declaration order, not alphabetically: ORDER BY, <, >, BETWEEN, MIN and MAX on an enum column use that order. Without BEFORE or AFTER the new value goes last, which is often not where it belongs (a `refunded` status placed after `archived`), and nothing in the migration shows the choice was deliberate; this is reported as caution. Also reported, as risky and whatever the position, when the target version is before PostgreSQL 12 and the statement runs inside a transaction (the migrator's, an explicit BEGIN, or a DO block): `ALTER TYPE … ADD VALUE cannot run inside a transaction block` there, so the migration fails.",
        safer: "State the position: `ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'refunded' AFTER 'delivered';`. Before PostgreSQL 12, put it alone in a migration that does not run in a transaction.",
        anchors: &["squawk:require-enum-value-ordering"],
        bad: include_str!("../../fixtures/rules/enum-value-without-position/bad.sql"),
        good: include_str!("../../fixtures/rules/enum-value-without-position/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let Some(name) = stmt.ops.iter().find_map(|op| match op {
        Op::AlterType { name, what }
            if what
                .trim_start()
                .to_ascii_uppercase()
                .starts_with("ADD VALUE") =>
        {
            Some(name)
        }
        _ => None,
    }) else {
        return Vec::new();
    };
    let w = locks::words(ctx, stmt);
    let positioned = w.iter().any(|x| x.is("before") || x.is("after"));
    let value = w
        .iter()
        .find(|x| x.kind == TokKind::Str)
        .map_or_else(|| "a value".to_string(), |x| format!("value {}", x.text));
    let fails = ctx.version < Version::new(12, 0, 0) && (ctx.in_transaction() || ctx.nested);
    let mut message = if positioned {
        format!("adds {value} to enum `{name}`")
    } else {
        format!(
            "adds {value} to enum `{name}` without BEFORE or AFTER: it goes last in the type's order, which ORDER BY, <, > and MIN/MAX on `{name}` columns follow; state where it belongs (`AFTER '…'`)"
        )
    };
    if fails {
        message.push_str(&format!(
            "{}PostgreSQL {} refuses ALTER TYPE … ADD VALUE inside a transaction block (allowed from 12), so this migration fails; run it alone in a migration without a transaction",
            if positioned { ": " } else { "; and " },
            ctx.version
        ));
    } else if positioned {
        return Vec::new();
    }
    let hit = Hit::new(stmt.span, message);
    vec![if fails {
        hit
    } else {
        hit.with_verdict(Verdict::Caution)
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{hits, hits_with};

    const R: &str = "enum-value-without-position";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn position_given_or_not() {
        let h = hits(
            R,
            "ALTER TYPE status ADD VALUE IF NOT EXISTS 'x';",
            Dialect::Postgres,
        );
        assert!(
            h[0].starts_with("adds value 'x' to enum `status` without BEFORE or AFTER"),
            "{h:?}"
        );
        assert!(
            hits(
                R,
                "ALTER TYPE status ADD VALUE 'x' BEFORE 'y';",
                Dialect::Postgres
            )
            .is_empty()
        );
        assert!(
            hits(
                R,
                "ALTER TYPE status RENAME VALUE 'x' TO 'y';",
                Dialect::Postgres
            )
            .is_empty()
        );
    }

    #[test]
    fn before_12_in_a_transaction() {
        use crate::classify::{CheckOptions, check_sql};
        let positioned = "ALTER TYPE status ADD VALUE 'x' AFTER 'y';";
        let h = hits_with(R, positioned, Dialect::Postgres, Some("11"));
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].contains("PostgreSQL 11 refuses"), "{h:?}");
        let no_tx = format!("-- migsafe:no-transaction\n{positioned}");
        assert!(hits_with(R, &no_tx, Dialect::Postgres, Some("11")).is_empty());
        let opts = CheckOptions {
            target_version: Version::parse("10"),
            ..CheckOptions::default()
        };
        let r = check_sql("ALTER TYPE status ADD VALUE 'x';", &opts);
        let f = r.findings.iter().find(|f| f.rule == R).unwrap();
        assert_eq!(f.verdict, Verdict::Risky);
        assert!(
            f.message.contains("without BEFORE") && f.message.contains("and PostgreSQL 10 refuses"),
            "{}",
            f.message
        );
        let style = check_sql(
            "ALTER TABLE t ADD COLUMN a int;\nALTER TYPE status ADD VALUE 'x';",
            &CheckOptions::default(),
        );
        let f = style.findings.iter().find(|f| f.rule == R).unwrap();
        assert_eq!(f.verdict, Verdict::Caution);
    }
}
