//! `NOT IN (SELECT …)` in data-changing statements: one NULL in the subquery matches no row.

use super::*;
use crate::sql::ir::{ObjName, Op};
use crate::sql::lexer::{Lexer, TokKind, Token};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "not-in-subquery",
        category: Category::Style,
        verdict: Verdict::Caution,
        dialects: POSTGRES,
        summary: "`NOT IN (SELECT …)` in an UPDATE, DELETE or INSERT … SELECT",
        why: "`x NOT IN (SELECT y …)` is never true when the subquery returns a NULL: the comparison with the NULL is unknown, so the condition is unknown for every row and the UPDATE or DELETE silently changes nothing (an INSERT … SELECT inserts nothing). The migration succeeds, the data fix does not happen. Not reported when the subquery selects a column migsafe knows is NOT NULL (from earlier statements and migrations) or filters it with `IS NOT NULL`. Found by scanning the statement's tokens (outside strings and comments).",
        safer: "Use NOT EXISTS, which treats NULLs as non-matching: `DELETE FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id);` (or add `WHERE y IS NOT NULL` to the subquery).",
        anchors: &["squabble:DisallowNotIn"],
        bad: include_str!("../../fixtures/rules/not-in-subquery/bad.sql"),
        good: include_str!("../../fixtures/rules/not-in-subquery/good.sql"),
    },
    check,
};

fn norm(file: &str, t: &Token) -> String {
    let s = t.text(file);
    match t.kind {
        TokKind::QuotedIdent => s[1..s.len().saturating_sub(1).max(1)].to_string(),
        _ => s.to_ascii_lowercase(),
    }
}

fn is_name(t: &Token) -> bool {
    matches!(t.kind, TokKind::Word | TokKind::QuotedIdent)
}

/// Whether the subquery `toks` (from SELECT to before its closing parenthesis) provably returns no
/// NULL: `SELECT col FROM table …` with `col` known NOT NULL, or a `col IS NOT NULL` filter.
fn null_free(ctx: &Ctx, file: &str, toks: &[Token]) -> bool {
    // SELECT [DISTINCT] [q.]col FROM [s.]table
    let mut i = 1;
    if toks.get(i).is_some_and(|t| t.is_word(file, "distinct")) {
        i += 1;
    }
    let mut col = None;
    if toks.get(i).is_some_and(is_name) {
        col = Some(norm(file, &toks[i]));
        i += 1;
        if toks.get(i).is_some_and(|t| t.text(file) == ".") && toks.get(i + 1).is_some_and(is_name)
        {
            col = Some(norm(file, &toks[i + 1]));
            i += 2;
        }
    }
    let Some(col) = col else { return false };
    let filtered = toks.windows(4).any(|w| {
        is_name(&w[0])
            && norm(file, &w[0]) == col
            && w[1].is_word(file, "is")
            && w[2].is_word(file, "not")
            && w[3].is_word(file, "null")
    });
    if filtered {
        return true;
    }
    if !toks.get(i).is_some_and(|t| t.is_word(file, "from")) {
        return false;
    }
    let mut j = i + 1;
    let mut table = None;
    while toks.get(j).is_some_and(is_name) {
        table = Some(norm(file, &toks[j]));
        if toks.get(j + 1).is_some_and(|t| t.text(file) == ".") {
            j += 2;
        } else {
            break;
        }
    }
    table.is_some_and(|t| {
        ctx.schema
            .column(&ObjName::single(&t), &col)
            .is_some_and(|c| c.not_null)
    })
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let what = match stmt.ops.first() {
        Some(Op::Update { .. }) => "UPDATE",
        Some(Op::Delete { .. }) => "DELETE",
        Some(Op::Insert { .. }) => "INSERT",
        _ => return Vec::new(),
    };
    let file = ctx.file;
    let toks: Vec<Token> = Lexer::new(file, stmt.span.start, stmt.span.end, ctx.dialect)
        .filter(|t| !t.is_trivia())
        .collect();
    let mut hits = Vec::new();
    for i in 0..toks.len().saturating_sub(3) {
        if !(toks[i].is_word(file, "not")
            && toks[i + 1].is_word(file, "in")
            && toks[i + 2].text(file) == "("
            && toks[i + 3].is_word(file, "select"))
        {
            continue;
        }
        // the subquery runs to the matching parenthesis
        let mut depth = 0usize;
        let mut end = toks.len();
        for (k, t) in toks.iter().enumerate().skip(i + 2) {
            match t.text(file) {
                "(" => depth += 1,
                ")" => {
                    depth -= 1;
                    if depth == 0 {
                        end = k;
                        break;
                    }
                }
                _ => {}
            }
        }
        if null_free(ctx, file, &toks[i + 3..end]) {
            continue;
        }
        let span = Span::new(toks[i].start, toks[end.min(toks.len() - 1)].end);
        let what_happens = if what == "INSERT" {
            "inserts nothing"
        } else {
            "matches no row"
        };
        hits.push(Hit::new(
            span,
            format!(
                "{what} uses `NOT IN (SELECT …)`: if the subquery returns a NULL the condition is never true and the {what} {what_happens}; use `NOT EXISTS (SELECT 1 … WHERE …)` instead"
            ),
        ));
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{hits, hits_after};

    const R: &str = "not-in-subquery";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn update_delete_insert_but_not_lists_or_strings() {
        let sql = "UPDATE t SET a = 1 WHERE b NOT IN (SELECT c FROM d);\n\
                   DELETE FROM t WHERE b not in ( select c from d where e > 0 );\n\
                   INSERT INTO x SELECT * FROM t WHERE b NOT IN (SELECT c FROM d);\n\
                   DELETE FROM t WHERE b NOT IN (1, 2);\n\
                   UPDATE t SET a = 'NOT IN (SELECT 1)' WHERE id = 1;\n\
                   SELECT * FROM t WHERE b NOT IN (SELECT c FROM d);";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 3, "{h:?}");
        assert!(h[0].starts_with("UPDATE uses"), "{h:?}");
        assert!(h[2].contains("inserts nothing"), "{h:?}");
    }

    #[test]
    fn null_free_subqueries() {
        let filtered = "DELETE FROM t WHERE b NOT IN (SELECT d.c FROM d WHERE d.c IS NOT NULL);";
        assert!(hits(R, filtered, Dialect::Postgres).is_empty());
        let before = "CREATE TABLE users (id bigint PRIMARY KEY, referrer_id bigint);";
        let pk = "DELETE FROM sessions WHERE user_id NOT IN (SELECT id FROM users);";
        assert!(hits_after(R, before, pk, Dialect::Postgres).is_empty());
        let nullable = "DELETE FROM sessions WHERE user_id NOT IN (SELECT referrer_id FROM users);";
        assert_eq!(hits_after(R, before, nullable, Dialect::Postgres).len(), 1);
    }
}
