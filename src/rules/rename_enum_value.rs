//! PostgreSQL `ALTER TYPE t RENAME VALUE 'a' TO 'b'` on an existing enum.

use super::*;
use crate::rules::locks;
use crate::sql::ir::Op;
use crate::sql::lexer::TokKind;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "rename-enum-value",
        category: Category::Compatibility,
        verdict: Verdict::Risky,
        dialects: POSTGRES,
        summary: "Renaming an enum value breaks running code that uses the old label",
        why: "Stored rows follow the rename (enum values are stored by identity), but code does not: running application code and function bodies that write the old label or compare with it (`WHERE status = 'shipped'`) fail with \"invalid input value for enum\", and code that compares the value as text silently matches nothing, until all of it is deployed with the new label (views keep working: they store the value itself). Not reported for a type created earlier in the same file.",
        safer: "Add the new label next to the old one (`ALTER TYPE order_status ADD VALUE 'dispatched' AFTER 'shipped';`), deploy code that accepts both and writes the new one, backfill in batches (`UPDATE orders SET status = 'dispatched' WHERE status = 'shipped' …`), then stop accepting the old label (PostgreSQL cannot drop an enum value; leave it unused or rebuild the type later).",
        anchors: &["strong_migrations:rename_enum_value"],
        bad: include_str!("../../fixtures/rules/rename-enum-value/bad.sql"),
        good: include_str!("../../fixtures/rules/rename-enum-value/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let Some(name) = stmt.ops.iter().find_map(|op| match op {
        Op::AlterType { name, what }
            if what
                .trim_start()
                .to_ascii_uppercase()
                .starts_with("RENAME VALUE") =>
        {
            Some(name)
        }
        _ => None,
    }) else {
        return Vec::new();
    };
    if locks::created_in_file(ctx, name) {
        return Vec::new();
    }
    let labels: Vec<String> = locks::words(ctx, stmt)
        .into_iter()
        .filter(|w| w.kind == TokKind::Str)
        .map(|w| w.text)
        .collect();
    let what = match labels.as_slice() {
        [old, new, ..] => format!("renames value {old} of enum `{name}` to {new}"),
        _ => format!("renames a value of enum `{name}`"),
    };
    let old = labels.first().map_or("the old label", String::as_str);
    vec![Hit::new(
        stmt.span,
        format!(
            "{what}: running code that writes {old} or compares with it fails (\"invalid input value for enum\"), and code comparing it as text silently matches nothing, until all of it is deployed with the new label"
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "rename-enum-value";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn labels_and_new_types() {
        let h = hits(
            R,
            "ALTER TYPE app.status RENAME VALUE 'a' TO 'b';",
            Dialect::Postgres,
        );
        assert!(
            h[0].starts_with("renames value 'a' of enum `app.status` to 'b'"),
            "{h:?}"
        );
        assert!(
            h[0].contains("writes 'a' or compares with it fails"),
            "{h:?}"
        );
        let new = "CREATE TYPE s AS ENUM ('a');\nALTER TYPE s RENAME VALUE 'a' TO 'b';";
        assert!(hits(R, new, Dialect::Postgres).is_empty());
        assert!(hits(R, "ALTER TYPE s RENAME TO t;", Dialect::Postgres).is_empty());
    }
}
