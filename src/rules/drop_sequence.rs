//! `DROP SEQUENCE` of a sequence that existed before this migration.

use super::*;
use crate::sql::ir::{ObjectKind, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "drop-sequence",
        category: Category::Destructive,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "Dropping an existing sequence loses its counter and breaks the defaults that use it",
        why: "A sequence holds state: the next id to hand out. Dropping it loses that value; a column default `nextval('seq')` is dropped with it (CASCADE) or makes the DROP fail, and a sequence recreated under the same name starts again at 1, so new ids collide with existing rows. Running code that inserts without an id starts failing.",
        safer: "Keep the sequence; if it must be replaced, create the new one starting above the current maximum (`SELECT setval('new_seq', (SELECT max(id) FROM t))`) and switch the default with `ALTER TABLE t ALTER COLUMN id SET DEFAULT nextval('new_seq')` before dropping the old one in a later release.",
        anchors: &["squawk:ban-drop-sequence"],
        bad: include_str!("../../fixtures/rules/drop-sequence/bad.sql"),
        good: include_str!("../../fixtures/rules/drop-sequence/good.sql"),
    },
    check,
};

/// Sequences created earlier in this file (CREATE SEQUENCE is lowered as a generic CREATE).
fn created_here(ctx: &Ctx, name: &str) -> bool {
    ctx.statements[..ctx.position].iter().any(|s| {
        let words: Vec<String> = s
            .sql
            .split_whitespace()
            .take(8)
            .map(|w| w.to_ascii_lowercase())
            .collect();
        let seq_at = words.iter().position(|w| w == "sequence");
        words.first().is_some_and(|w| w == "create")
            && seq_at.is_some_and(|i| {
                words[i + 1..]
                    .iter()
                    .find(|w| !matches!(w.as_str(), "if" | "not" | "exists"))
                    .is_some_and(|w| w.trim_matches('"').rsplit('.').next() == Some(name))
            })
    })
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        if let Op::Drop {
            kind: ObjectKind::Sequence,
            names,
            cascade,
            ..
        } = op
        {
            for name in names.iter().filter(|n| !created_here(ctx, n.base())) {
                let cascade_note = if *cascade {
                    " CASCADE also drops every column default that calls nextval() on it."
                } else {
                    ""
                };
                hits.push(Hit::new(
                    stmt.span,
                    format!("drops sequence `{name}` and its current value: a sequence recreated under that name restarts at 1.{cascade_note}"),
                ));
            }
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
    fn each_sequence_and_cascade() {
        let h = hits(
            "drop-sequence",
            "DROP SEQUENCE a, b CASCADE;",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 2);
        assert!(h[0].contains("CASCADE"));
        assert!(
            hits(
                "drop-sequence",
                "CREATE SEQUENCE IF NOT EXISTS public.s;\nDROP SEQUENCE s;",
                Dialect::Postgres
            )
            .is_empty()
        );
    }
}
