//! `ADD COLUMN` whose values must be computed row by row (volatile default, serial, identity,
//! stored generated column), which rewrites or copies an existing table.

use super::*;
use crate::sql::ir::{AlterAction, ColumnDef, DefaultExpr, Op, Volatility};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "add-column-volatile-default",
        category: Category::Lock,
        verdict: Verdict::Risky,
        // SQLite refuses non-constant defaults outright: sqlite-unsupported-alter reports that
        dialects: &[Dialect::Postgres, Dialect::Mysql],
        summary: "Adding a column whose value is computed per row rewrites the whole table",
        why: "PostgreSQL 11+ adds a column with a constant or stable default (now()) as a metadata-only change, but a volatile default (random(), gen_random_uuid(), clock_timestamp(), nextval(), or a function migsafe does not know), a serial or identity column, or a GENERATED … STORED column must be computed for every existing row: the table and its indexes are rewritten under an ACCESS EXCLUSIVE lock that blocks all reads and writes. Before PostgreSQL 11 any non-NULL default rewrites the table. MySQL cannot add a column with an expression default or a stored generated column instantly and rebuilds or copies the table; before MySQL 8.0.12 (MariaDB 10.3.2) every ADD COLUMN rebuilds it. Tables created earlier in the same file are not reported. (SQLite refuses non-constant defaults and STORED columns outright: sqlite-unsupported-alter reports those.)",
        safer: "Add the column without a default (or with a constant one), then set the default for new rows and backfill existing rows in batches:\n  ALTER TABLE orders ADD COLUMN public_id uuid;\n  ALTER TABLE orders ALTER COLUMN public_id SET DEFAULT gen_random_uuid();\n  UPDATE orders SET public_id = gen_random_uuid() WHERE public_id IS NULL AND id BETWEEN … AND …;\nFor a generated column, add a plain column filled by a trigger or by the application. On MySQL add `, ALGORITHM=INSTANT` so MySQL refuses instead of copying, or use an online schema change tool (gh-ost, pt-online-schema-change).",
        anchors: &[
            "squawk:adding-field-with-default",
            "squawk:adding-serial-primary-key-field",
            "eugene:E11",
            "strong_migrations:add_column_default",
            "atlas:PG302",
        ],
        bad: include_str!("../../fixtures/rules/add-column-volatile-default/bad.sql"),
        good: include_str!("../../fixtures/rules/add-column-volatile-default/good.sql"),
    },
    check,
};

/// A default that is not NULL.
fn real_default(c: &ColumnDef) -> Option<&DefaultExpr> {
    c.default.as_ref().filter(|d| !d.is_null)
}

fn volatile(d: &DefaultExpr) -> bool {
    matches!(d.volatility, Volatility::Volatile | Volatility::Unknown)
}

fn volatility_word(d: &DefaultExpr) -> &'static str {
    if d.volatility == Volatility::Unknown {
        "a default calling a function migsafe does not know (treated as volatile)"
    } else {
        "a volatile default"
    }
}

/// Whether the MySQL/MariaDB version can add a column with ALGORITHM=INSTANT. MariaDB reports
/// 10.x and later. A bare `8.0` (the assumed default) stands for current 8.0 releases.
fn mysql_instant_add(v: Version) -> bool {
    if v.major >= 10 {
        v >= Version::new(10, 3, 2)
    } else {
        v == Version::new(8, 0, 0) || v >= Version::new(8, 0, 12)
    }
}

fn postgres(ctx: &Ctx, table: &dyn std::fmt::Display, c: &ColumnDef) -> Option<String> {
    let rewrite = format!(
        "PostgreSQL rewrites `{table}` and its indexes under an ACCESS EXCLUSIVE lock, which {}",
        lock_blocks("ACCESS EXCLUSIVE")
    );
    let col = &c.name;
    let what = if c.generated_stored {
        format!(
            "adds stored generated column `{col}` to `{table}`, computed for every existing row"
        )
    } else if c.data_type.serial {
        format!(
            "adds {} column `{col}` to `{table}`, filled from a sequence for every existing row",
            c.data_type.raw
        )
    } else if c.identity {
        format!(
            "adds identity column `{col}` to `{table}`, filled from a sequence for every existing row"
        )
    } else if let Some(d) = real_default(c).filter(|d| volatile(d)) {
        format!(
            "adds column `{col}` to `{table}` with {} `{}`, evaluated for every existing row",
            volatility_word(d),
            d.text
        )
    } else if let Some(d) = real_default(c).filter(|_| ctx.version.major < 11) {
        format!(
            "adds column `{col}` to `{table}` with default `{}`, which PostgreSQL {} (before 11) writes into every existing row",
            d.text, ctx.version
        )
    } else {
        return None;
    };
    Some(format!("{what}: {rewrite}"))
}

fn mysql(ctx: &Ctx, table: &dyn std::fmt::Display, c: &ColumnDef) -> Option<String> {
    let col = &c.name;
    if c.auto_increment || c.data_type.serial {
        // mysql-table-copy reports AUTO_INCREMENT columns (they block writes on every version)
        return None;
    }
    if !mysql_instant_add(ctx.version) {
        return Some(format!(
            "adds column `{col}` to `{table}`: MySQL {} has no instant ADD COLUMN (MySQL 8.0.12+, MariaDB 10.3.2+), so it rebuilds the whole table",
            ctx.version
        ));
    }
    if c.generated_stored {
        return Some(format!(
            "adds stored generated column `{col}` to `{table}`: MySQL copies the table to compute it for every row, blocking writes until the copy finishes"
        ));
    }
    let d = real_default(c)?;
    if volatile(d) || d.text.trim_start().starts_with('(') {
        return Some(format!(
            "adds column `{col}` to `{table}` with expression default `{}`: MySQL cannot add it instantly and rebuilds or copies the table to evaluate it for every row",
            d.text
        ));
    }
    None
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        let Op::AlterTable {
            table,
            items,
            algorithm,
            lock,
        } = op
        else {
            continue;
        };
        // with ALGORITHM=INSTANT or LOCK=NONE MySQL refuses rather than copying
        let mysql_guarded =
            algorithm.as_deref() == Some("INSTANT") || lock.as_deref() == Some("NONE");
        for item in items {
            let AlterAction::AddColumn { column, .. } = &item.action else {
                continue;
            };
            let existing = ctx.is_existing(table);
            let message = match ctx.dialect {
                Dialect::Postgres if existing => postgres(ctx, table, column),
                Dialect::Mysql if existing && !mysql_guarded => mysql(ctx, table, column),
                _ => None,
            };
            if let Some(m) = message {
                hits.push(Hit::new(column.span, m));
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{hits, hits_with};

    const R: &str = "add-column-volatile-default";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn postgres_rewrites() {
        for sql in [
            "ALTER TABLE t ADD COLUMN id bigserial;",
            "ALTER TABLE t ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;",
            "ALTER TABLE t ADD COLUMN s text GENERATED ALWAYS AS (a || b) STORED;",
            "ALTER TABLE t ADD COLUMN r float DEFAULT random();",
            "ALTER TABLE t ADD COLUMN x int DEFAULT my_func(1);",
        ] {
            assert_eq!(hits(R, sql, Dialect::Postgres).len(), 1, "{sql}");
        }
        for sql in [
            "ALTER TABLE t ADD COLUMN n int NOT NULL DEFAULT 0;",
            "ALTER TABLE t ADD COLUMN at timestamptz DEFAULT now();",
            "ALTER TABLE t ADD COLUMN n int DEFAULT NULL;",
        ] {
            assert!(hits(R, sql, Dialect::Postgres).is_empty(), "{sql}");
        }
        let created = "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN id bigserial;";
        assert!(hits(R, created, Dialect::Postgres).is_empty());
    }

    #[test]
    fn postgres_before_11_rewrites_any_default() {
        let sql = "ALTER TABLE t ADD COLUMN n int NOT NULL DEFAULT 0;";
        let h = hits_with(R, sql, Dialect::Postgres, Some("10"));
        assert_eq!(h.len(), 1);
        assert!(h[0].contains("PostgreSQL 10"), "{h:?}");
        assert!(hits_with(R, sql, Dialect::Postgres, Some("11")).is_empty());
    }

    #[test]
    fn mysql_versions_and_expression_defaults() {
        let plain = "ALTER TABLE t ADD COLUMN n int NOT NULL DEFAULT 0;";
        assert!(hits(R, plain, Dialect::Mysql).is_empty());
        assert!(hits_with(R, plain, Dialect::Mysql, Some("8.0.12")).is_empty());
        assert!(hits_with(R, plain, Dialect::Mysql, Some("10.4")).is_empty());
        assert_eq!(hits_with(R, plain, Dialect::Mysql, Some("5.7")).len(), 1);
        assert_eq!(hits_with(R, plain, Dialect::Mysql, Some("8.0.11")).len(), 1);
        assert_eq!(hits_with(R, plain, Dialect::Mysql, Some("10.2")).len(), 1);
        let expr = "ALTER TABLE t ADD COLUMN u varchar(36) DEFAULT (uuid());";
        assert_eq!(hits(R, expr, Dialect::Mysql).len(), 1);
        let guarded = "ALTER TABLE t ADD COLUMN u varchar(36) DEFAULT (uuid()), ALGORITHM=INSTANT;";
        assert!(hits(R, guarded, Dialect::Mysql).is_empty());
    }
}
