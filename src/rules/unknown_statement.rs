//! Statements migsafe could not parse or understand: they gate like a risk (fail closed).

use super::*;
use crate::sql::ir::Parser;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "unknown-statement",
        category: Category::Unknown,
        verdict: Verdict::Unknown,
        dialects: ALL_DIALECTS,
        summary: "A statement migsafe cannot parse or understand needs review",
        why: "migsafe cannot tell what this statement locks, rewrites or deletes, so it cannot call it safe. Dynamic SQL (EXECUTE of a string) is reported here too.",
        safer: "Review the statement by hand, or run `migsafe dry-run` to observe it on a throwaway database; if it is fine, suppress it with `-- migsafe:allow unknown-statement reason=\"…\"`.",
        anchors: &["squawk:syntax-error"],
        bad: include_str!("../../fixtures/rules/unknown-statement/bad.sql"),
        good: include_str!("../../fixtures/rules/unknown-statement/good.sql"),
    },
    check,
};

fn check(_ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    if stmt.parser != Parser::None {
        return Vec::new();
    }
    let why = stmt.parse_error.as_deref().unwrap_or("not understood");
    vec![Hit::new(
        stmt.span,
        format!("statement not understood ({why})"),
    )]
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
    fn parser_message_is_kept_and_fallback_counts_as_understood() {
        let h = hits("unknown-statement", "SELEC 1;", Dialect::Postgres);
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("Expected"), "{h:?}");
        // REINDEX is not in sqlparser but the fallback recognises it
        assert!(
            hits(
                "unknown-statement",
                "REINDEX (VERBOSE) TABLE t;",
                Dialect::Postgres
            )
            .is_empty()
        );
    }
}
