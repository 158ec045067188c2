//! `ALTER TABLE … DROP CONSTRAINT` (and MySQL `DROP FOREIGN KEY` / `DROP CHECK` / `DROP PRIMARY
//! KEY`) on an existing table: the integrity rule stops being enforced.

use super::*;
use crate::rules::context::ConstraintType;
use crate::sql::ir::{AlterAction, AlterItem, ConstraintKind, ObjName, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "drop-constraint",
        category: Category::Data,
        verdict: Verdict::Risky,
        dialects: ALL_DIALECTS,
        summary: "Dropping a constraint stops enforcing an integrity rule",
        why: "Dropping a constraint loses no rows, but the guarantee is gone: once a FOREIGN KEY or CHECK constraint is dropped the database no longer rejects rows that break it, so orphaned references and invalid values can get in from the moment the migration runs, and they stay after the constraint is re-added as NOT VALID (putting it back as valid then fails until the data is cleaned). Dropping a UNIQUE or PRIMARY KEY constraint also drops its index (duplicates can get in, and queries relying on the index slow down) and is refused while foreign keys reference it (CASCADE drops those foreign keys too). It is risky, never destructive. A constraint re-added later in the same file (same name, or the primary key of the same table), also as a second action of the same ALTER TABLE — the Prisma and Diesel way of changing ON DELETE behaviour — is one change, judged by the re-add (add-foreign-key-validated, add-check-validated, add-unique-constraint, add-primary-key), and not reported here; neither is the helper `CHECK (col IS NOT NULL)` of the safe SET NOT NULL procedure once the column is NOT NULL. The kind comes from the constraints seen in earlier statements and migrations, else from the name (`fk`, `_fkey`, `foreign`, MySQL `_ibfk_` → foreign key; `chk`, `_check`, `ck` → check; `_pkey`, `pk` → primary key; `_key`, `uniq`, `uq` → unique). Not reported for tables created earlier in the same migration file.",
        safer: "Keep the constraint. To change it, add the replacement first without a long lock (`ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fk2 FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID; ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_id_fk2;`) and drop the old one only afterwards; if the rule really has to go, make sure application code enforces it and suppress the finding with a reason.",
        anchors: &["atlas:CD101"],
        bad: include_str!("../../fixtures/rules/drop-constraint/bad.sql"),
        good: include_str!("../../fixtures/rules/drop-constraint/good.sql"),
    },
    check,
};

/// `DROP CHECK name` (unquoted `CHECK`) → the name.
fn drop_check_name(text: &str) -> Option<String> {
    let mut words = text.split_whitespace();
    let drop = words.next()?;
    let check = words.next()?;
    if !drop.eq_ignore_ascii_case("drop") || !check.eq_ignore_ascii_case("check") {
        return None;
    }
    let name = words
        .next()?
        .trim_matches(|c| c == '`' || c == '"' || c == ';');
    Some(name.to_string())
}

fn check_hit(table: &ObjName, name: &str, item: &AlterItem) -> Hit {
    Hit::new(
        item.span,
        format!(
            "drops check constraint `{name}` of `{table}`: the check is no longer enforced, so rows violating it can get in"
        ),
    )
}

/// The constraint kind recognisable from a name, if any.
fn kind_from_name(name: &str) -> Option<ConstraintType> {
    let lower = name.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let has = |ws: &[&str]| words.iter().any(|w| ws.contains(w));
    if lower.contains("foreign") || has(&["fk", "fkey", "ibfk"]) {
        Some(ConstraintType::ForeignKey)
    } else if has(&["chk", "check", "ck"]) {
        Some(ConstraintType::Check)
    } else if has(&["pkey", "pk"]) {
        Some(ConstraintType::PrimaryKey)
    } else if words.last() == Some(&"key") || has(&["uniq", "unique", "uq", "uk"]) {
        Some(ConstraintType::Unique)
    } else {
        None
    }
}

fn constraint_hit(ctx: &Ctx, table: &ObjName, name: &str, cascade: bool, item: &AlterItem) -> Hit {
    let (kind, guessed) = match ctx.schema.constraints.get(name) {
        Some((t, k)) if *t == table.key() => (Some(*k), false),
        _ => (kind_from_name(name), true),
    };
    let guess = if guessed {
        " (kind guessed from its name)"
    } else {
        ""
    };
    match kind {
        Some(ConstraintType::ForeignKey) => Hit::new(
            item.span,
            format!(
                "drops foreign key `{name}` of `{table}`{guess}: references are no longer checked, so rows pointing to missing parents can get in"
            ),
        ),
        Some(ConstraintType::Check) => Hit::new(
            item.span,
            format!(
                "drops check constraint `{name}` of `{table}`{guess}: the check is no longer enforced, so rows violating it can get in"
            ),
        ),
        Some(k @ (ConstraintType::PrimaryKey | ConstraintType::Unique | ConstraintType::Exclude)) => {
            let what = match k {
                ConstraintType::PrimaryKey => "primary key",
                ConstraintType::Unique => "unique constraint",
                _ => "exclusion constraint",
            };
            let effect = if k == ConstraintType::Exclude {
                "conflicting rows can get in"
            } else {
                "duplicates can get in and its index is dropped with it"
            };
            if cascade {
                Hit::new(
                    item.span,
                    format!(
                        "drops {what} `{name}` of `{table}`{guess}: {effect}; CASCADE also drops every foreign key that references it, so those references stop being checked"
                    ),
                )
            } else {
                Hit::new(
                    item.span,
                    format!(
                        "drops {what} `{name}` of `{table}`{guess}: {effect} (it fails while foreign keys still reference it)"
                    ),
                )
                .with_verdict(Verdict::Risky)
            }
        }
        None => Hit::new(
            item.span,
            format!(
                "drops constraint `{name}` of `{table}` whose kind is unknown (not defined in the checked migrations): if it is a foreign key or check, it stops being enforced and invalid rows can get in; if it is a unique or primary key, duplicates can"
            ),
        )
        .with_verdict(Verdict::Risky),
    }
}

/// What a dropped constraint is matched by when it is put back.
#[derive(Clone, Copy)]
enum Dropped<'a> {
    Named(&'a str),
    PrimaryKey,
}

/// Whether `action` adds back the constraint `dropped` of `table`.
fn adds_back(action: &AlterAction, dropped: Dropped) -> bool {
    match (action, dropped) {
        (AlterAction::AddConstraint(c), Dropped::Named(n)) => {
            c.name.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(n))
        }
        (AlterAction::AddConstraint(c), Dropped::PrimaryKey) => {
            matches!(c.kind, ConstraintKind::PrimaryKey { .. })
        }
        (
            AlterAction::AddIndex {
                name: Some(m),
                unique: true,
                ..
            },
            Dropped::Named(n),
        ) => m.eq_ignore_ascii_case(n),
        _ => false,
    }
}

/// Whether the constraint dropped by item `at` of `stmt` is added back to `table` later in the
/// same statement or file: then the pair is one change, judged by the re-add.
fn readded(ctx: &Ctx, stmt: &Statement, table: &ObjName, at: usize, dropped: Dropped) -> bool {
    let later_items = stmt.ops.iter().any(|op| match op {
        Op::AlterTable {
            table: t, items, ..
        } if t.key() == table.key() => items
            .iter()
            .skip(at + 1)
            .any(|i| adds_back(&i.action, dropped)),
        _ => false,
    });
    later_items
        || ctx.statements[ctx.position + 1..].iter().any(|s| {
            s.ops.iter().any(|op| match op {
                Op::AlterTable {
                    table: t, items, ..
                } if t.key() == table.key() => items.iter().any(|i| adds_back(&i.action, dropped)),
                Op::CreateIndex {
                    name: Some(m),
                    unique: true,
                    table: t,
                    ..
                } if t.key() == table.key() => {
                    matches!(dropped, Dropped::Named(n) if m.eq_ignore_ascii_case(n))
                }
                _ => false,
            })
        })
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        let Op::AlterTable { table, items, .. } = op else {
            continue;
        };
        if !ctx.is_existing(table) {
            continue;
        }
        for (at, item) in items.iter().enumerate() {
            let dropped = match &item.action {
                AlterAction::DropConstraint { name, .. }
                | AlterAction::DropForeignKey { name }
                | AlterAction::DropIndex { name } => Some(Dropped::Named(name)),
                AlterAction::DropPrimaryKey => Some(Dropped::PrimaryKey),
                _ => None,
            };
            if dropped.is_some_and(|d| readded(ctx, stmt, table, at, d)) {
                continue;
            }
            // the helper `CHECK (col IS NOT NULL)` of the safe SET NOT NULL procedure, once the
            // column is NOT NULL: the guarantee stays
            if let AlterAction::DropConstraint { name, .. } = &item.action
                && ctx.schema.redundant_not_null_check(table, name).is_some()
            {
                continue;
            }
            match &item.action {
                AlterAction::DropConstraint { name, cascade, .. } => {
                    hits.push(constraint_hit(ctx, table, name, *cascade, item));
                }
                AlterAction::DropForeignKey { name } => hits.push(Hit::new(
                    item.span,
                    format!(
                        "drops foreign key `{name}` of `{table}`: references are no longer checked, so rows pointing to missing parents can get in"
                    ),
                )),
                AlterAction::DropPrimaryKey => hits.push(
                    Hit::new(
                        item.span,
                        format!(
                            "drops the primary key of `{table}`: duplicates can get in, and the table is rebuilt (InnoDB clusters rows by the primary key)"
                        ),
                    )
                    .with_verdict(Verdict::Risky),
                ),
                // MySQL drops a UNIQUE KEY with DROP INDEX: the same loss as dropping the constraint
                AlterAction::DropIndex { name }
                    if ctx
                        .schema
                        .constraints
                        .get(name)
                        .is_some_and(|(t, k)| *t == table.key() && *k == ConstraintType::Unique) =>
                {
                    hits.push(constraint_hit(ctx, table, name, false, item));
                }
                AlterAction::Other { what, .. } => {
                    if let Some(name) = drop_check_name(what) {
                        hits.push(check_hit(table, &name, item));
                    }
                }
                _ => {}
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "drop-constraint";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn kind_from_earlier_statements_beats_the_name() {
        // a check constraint whose name looks like nothing in particular
        let sql = "ALTER TABLE t ADD CONSTRAINT positive CHECK (a > 0);\nALTER TABLE t DROP CONSTRAINT positive;";
        let h = hits(R, sql, Dialect::Postgres);
        assert_eq!(h.len(), 1);
        assert!(
            h[0].starts_with("drops check constraint `positive`"),
            "{h:?}"
        );
        assert!(!h[0].contains("guessed"), "{h:?}");
    }

    #[test]
    fn names_and_unknown_kinds() {
        assert_eq!(
            kind_from_name("orders_customer_id_fkey"),
            Some(ConstraintType::ForeignKey)
        );
        assert_eq!(
            kind_from_name("orders_ibfk_1"),
            Some(ConstraintType::ForeignKey)
        );
        assert_eq!(
            kind_from_name("FK_Orders_Users"),
            Some(ConstraintType::ForeignKey)
        );
        assert_eq!(kind_from_name("orders_chk_1"), Some(ConstraintType::Check));
        assert_eq!(
            kind_from_name("orders_pkey"),
            Some(ConstraintType::PrimaryKey)
        );
        assert_eq!(
            kind_from_name("users_email_key"),
            Some(ConstraintType::Unique)
        );
        assert_eq!(kind_from_name("positive_amount"), None);
        let h = hits(
            R,
            "ALTER TABLE t DROP CONSTRAINT positive_amount;",
            Dialect::Postgres,
        );
        assert!(h[0].contains("kind is unknown"), "{h:?}");
    }

    #[test]
    fn unique_is_risky_and_verdicts_follow() {
        use crate::classify::{CheckOptions, check_sql};
        let verdict = |sql: &str| {
            check_sql(sql, &CheckOptions::default())
                .findings
                .into_iter()
                .find(|f| f.rule == R)
                .map(|f| f.verdict)
        };
        assert_eq!(
            verdict("ALTER TABLE users DROP CONSTRAINT users_email_key;"),
            Some(Verdict::Risky)
        );
        // a drop loses no rows: risky whatever the kind
        assert_eq!(
            verdict("ALTER TABLE users DROP CONSTRAINT users_pkey CASCADE;"),
            Some(Verdict::Risky)
        );
        assert_eq!(
            verdict("ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey;"),
            Some(Verdict::Risky)
        );
        // dropped and re-added (the Prisma/Diesel pattern, also in one statement): one change
        assert_eq!(
            verdict(
                "ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey;\nALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;"
            ),
            None
        );
        assert_eq!(
            verdict(
                "ALTER TABLE orders DROP CONSTRAINT c_fk, ADD CONSTRAINT c_fk FOREIGN KEY (user_id) REFERENCES users (id);"
            ),
            None
        );
        assert_eq!(
            verdict("ALTER TABLE users DROP CONSTRAINT mystery;"),
            Some(Verdict::Risky)
        );
        assert_eq!(
            verdict("CREATE TABLE users (id int);\nALTER TABLE users DROP CONSTRAINT users_fk;"),
            None
        );
    }

    #[test]
    fn mysql_forms() {
        let h = hits(
            R,
            "ALTER TABLE orders DROP FOREIGN KEY orders_ibfk_1;",
            Dialect::Mysql,
        );
        assert!(
            h[0].starts_with("drops foreign key `orders_ibfk_1`"),
            "{h:?}"
        );
        let h = hits(
            R,
            "ALTER TABLE orders DROP CHECK orders_chk_1;",
            Dialect::Mysql,
        );
        assert_eq!(h.len(), 1);
        assert!(
            h[0].starts_with("drops check constraint `orders_chk_1`"),
            "{h:?}"
        );
        assert_eq!(
            hits(R, "ALTER TABLE orders DROP PRIMARY KEY;", Dialect::Mysql).len(),
            1
        );
        // as the lowering reports it if sqlparser ever accepts it as an unmodelled action
        assert_eq!(
            drop_check_name("DROP CHECK `chk_a`").as_deref(),
            Some("chk_a")
        );
        assert_eq!(drop_check_name("DROP `check`"), None);
    }
}
