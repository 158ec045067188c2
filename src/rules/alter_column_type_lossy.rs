//! Column type changes (`ALTER COLUMN … TYPE`, MySQL `MODIFY`/`CHANGE`) that can lose data.

use super::*;
use crate::sql::ir::{AlterAction, AlterItem, Op, TypeName};
use crate::sql::types::{Loss, TypeChange, type_change, type_name, unknown_old_loss};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "alter-column-type-lossy",
        category: Category::Destructive,
        verdict: Verdict::Destructive,
        dialects: ALL_DIALECTS,
        summary: "Changing a column to a narrower or different type can truncate, round or reject existing values",
        why: "Converting existing values to a type that cannot hold them all is judged by what the engine does with the values that do not fit. Silent loss is destructive: reducing a numeric scale or a timestamp's fractional-second precision rounds, float or numeric to integer rounds away the fraction, double to real keeps fewer digits, timestamp to date drops the time, a cast to boolean collapses the values, a USING expression that keeps only part of each value (substring, round, date_trunc, lower, trim, …, or an expression that does not read the column) loses the rest, and an explicit cast in USING (`c::varchar(20)`) cuts long strings. A PostgreSQL conversion by assignment cast rejects what does not fit (too-long strings for varchar(n), out-of-range integers, fewer integer digits, text that does not parse): the migration can fail, but nothing is lost, so it is risky. MySQL and MariaDB truncate or clamp such values with only a warning unless the server runs a strict SQL mode: destructive unless `[mysql] strict_mode = true` is declared in migsafe.toml, then risky (the ALTER fails on existing long values). The old type comes from the definitions seen in earlier statements and migrations; when it is unknown the finding says so and takes the pessimistic reading within the new type's family (a column becoming `integer` may have been a `bigint`, one becoming `numeric(10,2)` may have had more decimals). A MySQL MODIFY or CHANGE restates the whole column definition, usually with the type unchanged, so with an unknown old type it is reported as a risk to check rather than a loss; a CHANGE that only renames keeps the type. Removing values from a MySQL ENUM or SET is reported by mysql-enum-value-removal instead. Not reported for tables created earlier in the same migration file (they hold no pre-existing rows).",
        safer: "Check the data first (`SELECT count(*) FROM customers WHERE length(nickname) > 50;`) and fix or archive the values that do not fit; better, keep the wide column and enforce the new limit for new rows with a CHECK constraint added NOT VALID (`ALTER TABLE customers ADD CONSTRAINT nickname_len CHECK (length(nickname) <= 50) NOT VALID;`), or add a new column, backfill it and switch over.",
        anchors: &[],
        bad: include_str!("../../fixtures/rules/alter-column-type-lossy/bad.sql"),
        good: include_str!("../../fixtures/rules/alter-column-type-lossy/good.sql"),
    },
    check,
};

/// One column type change of an ALTER TABLE.
pub(super) struct TypeAlter<'a> {
    /// The column's name before the statement.
    pub column: &'a str,
    /// MySQL `CHANGE old new …` with a different name.
    pub renamed_to: Option<&'a str>,
    pub new_type: &'a TypeName,
    /// PostgreSQL `USING` expression.
    pub using: Option<&'a str>,
}

pub(super) fn type_alter(item: &AlterItem) -> Option<TypeAlter<'_>> {
    match &item.action {
        AlterAction::SetType {
            column,
            new_type,
            using,
        } => Some(TypeAlter {
            column,
            renamed_to: None,
            new_type,
            using: using.as_deref(),
        }),
        AlterAction::ModifyColumn { old_name, column } => Some(TypeAlter {
            column: old_name,
            renamed_to: (column.name != *old_name).then_some(column.name.as_str()),
            new_type: &column.data_type,
            using: None,
        }),
        _ => None,
    }
}

/// MySQL ENUM → ENUM or SET → SET: value-list changes are judged by mysql-enum-value-removal.
pub(super) fn same_value_list_type(old: &TypeName, new: &TypeName, dialect: Dialect) -> bool {
    dialect == Dialect::Mysql
        && matches!(old.name.as_str(), "enum" | "set")
        && old.name == new.name
        && old.array == new.array
}

/// What a PostgreSQL `USING` expression does to the values.
#[derive(Debug, PartialEq)]
enum Using {
    /// The column itself (the default conversion).
    Plain,
    /// `col::type` / `CAST(col AS type)`: an explicit cast, which cuts strings to a declared
    /// length instead of rejecting them.
    ExplicitCast(TypeName),
    /// Discards information: a function that keeps part of the value (substring, round,
    /// date_trunc, lower, …) or an expression that does not read the column at all.
    Discards,
    /// Anything else: judged by the types.
    Other,
}

const DISCARDING: &[&str] = &[
    "substring",
    "substr",
    "left",
    "right",
    "trunc",
    "round",
    "floor",
    "ceil",
    "ceiling",
    "date_trunc",
    "lower",
    "upper",
    "btrim",
    "trim",
    "ltrim",
    "rtrim",
    "split_part",
    "regexp_replace",
    "replace",
    "md5",
    "abs",
    "sign",
    "nullif",
    "to_char",
];

fn using_kind(using: &str, column: &str) -> Using {
    let compact: String = using
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '"')
        .collect::<String>()
        .to_ascii_lowercase();
    let col = column.to_ascii_lowercase();
    let bare = compact.trim_start_matches('(').trim_end_matches(')');
    if bare == col {
        return Using::Plain;
    }
    // col::type or CAST(col AS type), possibly in one pair of parentheses
    let mut words = using.trim();
    if let Some(inner) = words.strip_prefix('(').and_then(|w| w.strip_suffix(')'))
        && inner.matches('(').count() == inner.matches(')').count()
    {
        words = inner.trim();
    }
    if let Some((lhs, ty)) = words.split_once("::")
        && lhs.trim().trim_matches('"').eq_ignore_ascii_case(&col)
        && !ty.contains("::")
    {
        return Using::ExplicitCast(type_name(ty));
    }
    let lower = words.to_ascii_lowercase();
    if let Some(inner) = lower
        .strip_prefix("cast(")
        .and_then(|r| r.strip_suffix(')'))
        && let Some((lhs, ty)) = inner.split_once(" as ")
        && lhs.trim().trim_matches('"') == col
    {
        return Using::ExplicitCast(type_name(ty));
    }
    let reads_column = compact
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| w == col);
    let calls_discarding = DISCARDING
        .iter()
        .any(|f| compact.contains(&format!("{f}(")) && !compact.contains(&format!("_{f}(")));
    if !reads_column || calls_discarding {
        Using::Discards
    } else {
        Using::Other
    }
}

/// The verdict and the sentence about consequences for a loss kind.
fn consequence(ctx: &Ctx, loss: Loss) -> (Verdict, &'static str) {
    match loss {
        Loss::Truncates => (
            Verdict::Destructive,
            "the values that do not fit are silently rounded or cut, and the originals are gone",
        ),
        Loss::Rejects => (
            Verdict::Risky,
            "PostgreSQL rejects a value that does not fit, so the migration fails on the first one (nothing is lost, but it can fail on production data)",
        ),
        Loss::StrictRejects if ctx.mysql_strict => (
            Verdict::Risky,
            "in strict SQL mode (`[mysql] strict_mode = true`) MySQL rejects a value that does not fit, so the migration fails on existing long values (nothing is lost)",
        ),
        Loss::StrictRejects => (
            Verdict::Destructive,
            "MySQL without strict SQL mode silently truncates or clamps the values that do not fit (with a warning only); declare `[mysql] strict_mode = true` in migsafe.toml if your servers run with STRICT_TRANS_TABLES, which turns this into a failure instead",
        ),
    }
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
        for item in items {
            let Some(ta) = type_alter(item) else {
                continue;
            };
            let col = ta.column;
            let new = ta.new_type;
            let using = ta.using.map(|u| (u, using_kind(u, col)));
            let using_note = |u: &str| format!(" (USING {u})");
            match ctx.schema.column(table, col).map(|c| &c.data_type) {
                Some(old) => {
                    if same_value_list_type(old, new, ctx.dialect) {
                        continue;
                    }
                    let change = type_change(old, new, ctx.dialect);
                    let (reason, loss) = match (&change, &using) {
                        (_, Some((u, Using::Discards))) => (
                            format!(
                                "{} → {} with USING {u}, which keeps only part of each value",
                                old.raw, new.raw
                            ),
                            Loss::Truncates,
                        ),
                        (TypeChange::Lossy { reason, loss }, Some((u, Using::ExplicitCast(t))))
                            if matches!(t.name.as_str(), "varchar" | "char" | "bytes")
                                && !t.args.is_empty() =>
                        {
                            let _ = loss;
                            (
                                format!(
                                    "{reason}; USING {u} is an explicit cast, which cuts longer strings instead of rejecting them"
                                ),
                                Loss::Truncates,
                            )
                        }
                        (TypeChange::Lossy { reason, loss }, u) => (
                            format!(
                                "{reason}{}",
                                u.as_ref().map_or(String::new(), |(u, _)| using_note(u))
                            ),
                            *loss,
                        ),
                        _ => continue,
                    };
                    let (verdict, effect) = consequence(ctx, loss);
                    hits.push(
                        Hit::new(
                            item.span,
                            format!("changes column `{col}` of `{table}`: {reason}: {effect}"),
                        )
                        .with_verdict(verdict),
                    );
                }
                None => {
                    let loss = match &using {
                        Some((_, Using::Discards)) => Some(Loss::Truncates),
                        Some((_, Using::ExplicitCast(t)))
                            if matches!(t.name.as_str(), "varchar" | "char")
                                && !t.args.is_empty() =>
                        {
                            Some(Loss::Truncates)
                        }
                        _ => unknown_old_loss(new, ctx.dialect),
                    };
                    let Some(loss) = loss else { continue };
                    // MySQL MODIFY/CHANGE restate the whole column definition, most often to change
                    // its name, nullability, default or comment with the type unchanged: without
                    // the old type the worst case is reported as a risk to check, not as a loss
                    let restated = matches!(item.action, AlterAction::ModifyColumn { .. });
                    let (verdict, effect, rename) = match (ta.renamed_to, restated) {
                        (Some(to), _) => (
                            Verdict::Risky,
                            "values that do not fit the new type could be lost or rejected",
                            format!(
                                "; if the type is unchanged and this only renames it to `{to}`, nothing is lost"
                            ),
                        ),
                        (None, true) => (
                            Verdict::Risky,
                            "if it is narrower than the old one, the values that do not fit are cut or rounded (MySQL without strict SQL mode) or rejected",
                            "; MODIFY restates the whole definition, so if the type is unchanged (only nullability, default or comment change) nothing is lost: check the old type".to_string(),
                        ),
                        _ => {
                            let (v, e) = consequence(ctx, loss);
                            (v, e, String::new())
                        }
                    };
                    let using = using.as_ref().map_or(String::new(), |(u, _)| using_note(u));
                    hits.push(
                        Hit::new(
                            item.span,
                            format!(
                                "changes column `{col}` of `{table}` to {}{using}; its old type is unknown (the column was defined before the checked migrations), so migsafe assumes the worst of the same type family: {effect}{rename}",
                                new.raw
                            ),
                        )
                        .with_verdict(verdict),
                    );
                }
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "alter-column-type-lossy";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn known_old_types() {
        let pre = "ALTER TABLE t ADD COLUMN n bigint;\nALTER TABLE t ADD COLUMN s varchar(20);\n";
        let h = hits(
            R,
            &format!("{pre}ALTER TABLE t ALTER COLUMN n TYPE integer;"),
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("narrows the integer range"), "{h:?}");
        let h = hits(
            R,
            &format!("{pre}ALTER TABLE t ALTER COLUMN s TYPE integer USING s::integer;"),
            Dialect::Postgres,
        );
        assert!(h[0].contains("USING"), "{h:?}");
        assert!(
            hits(
                R,
                &format!("{pre}ALTER TABLE t ALTER COLUMN n TYPE numeric;"),
                Dialect::Postgres
            )
            .is_empty()
        );
        assert!(
            hits(
                R,
                &format!("{pre}ALTER TABLE t ALTER COLUMN s TYPE varchar(40);"),
                Dialect::Postgres
            )
            .is_empty()
        );
    }

    #[test]
    fn unknown_old_type_is_risky_only_when_the_new_type_can_narrow() {
        let h = hits(
            R,
            "ALTER TABLE t ALTER COLUMN s TYPE varchar(10);",
            Dialect::Postgres,
        );
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("old type is unknown"), "{h:?}");
        assert!(
            hits(
                R,
                "ALTER TABLE t ALTER COLUMN s TYPE text;",
                Dialect::Postgres
            )
            .is_empty()
        );
        assert!(
            hits(
                R,
                "ALTER TABLE t ALTER COLUMN n TYPE bigint;",
                Dialect::Postgres
            )
            .is_empty()
        );
    }

    #[test]
    fn mysql_rename_only_and_enum_lists_are_not_reported_here() {
        let pre =
            "ALTER TABLE t ADD COLUMN a varchar(20);\nALTER TABLE t ADD COLUMN e ENUM('x','y');\n";
        assert!(
            hits(
                R,
                &format!("{pre}ALTER TABLE t CHANGE a b varchar(20);"),
                Dialect::Mysql
            )
            .is_empty()
        );
        assert_eq!(
            hits(
                R,
                &format!("{pre}ALTER TABLE t MODIFY a varchar(5);"),
                Dialect::Mysql
            )
            .len(),
            1
        );
        // value removal is mysql-enum-value-removal's finding
        assert!(
            hits(
                R,
                &format!("{pre}ALTER TABLE t MODIFY e ENUM('x');"),
                Dialect::Mysql
            )
            .is_empty()
        );
        assert_eq!(
            hits(
                "mysql-enum-value-removal",
                &format!("{pre}ALTER TABLE t MODIFY e ENUM('x');"),
                Dialect::Mysql
            )
            .len(),
            1
        );
    }

    #[test]
    fn not_for_tables_created_in_the_file() {
        let sql = "CREATE TABLE t (s varchar(20));\nALTER TABLE t ALTER COLUMN s TYPE varchar(5);";
        assert!(hits(R, sql, Dialect::Postgres).is_empty());
    }
}
