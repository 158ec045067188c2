//! `--migration`: the columns a pending migration makes NOT NULL on existing tables (found with the
//! static classifier's parser), and the checks that count the rows that would make it fail.

use super::{
    Check, CostClass, ExecMode, Level, NotRun, NotRunReason, Planned, Problem, Severity, Sizes,
    TableSize, display_name, estimate, first_value, qualified, quote_ident,
};
use crate::engines::EngineKind;
use crate::migrations::{self, DiscoverError};
use crate::sql::ir::{AlterAction, ConstraintKind, Op};
use crate::sql::{self, Dialect};
use std::collections::HashSet;
use std::path::PathBuf;

/// How the migration makes the column NOT NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotNullKind {
    /// `ALTER COLUMN c SET NOT NULL`.
    SetNotNull,
    /// `ADD COLUMN c … NOT NULL` without a default (PostgreSQL): every existing row blocks it.
    AddColumn,
    /// `ADD PRIMARY KEY (c, …)`: key columns become NOT NULL.
    PrimaryKey,
    /// MySQL `MODIFY`/`CHANGE … NOT NULL`.
    Modify,
}

/// A column a migration makes NOT NULL on a table that already exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotNullTarget {
    pub schema: Option<String>,
    pub table: String,
    pub column: String,
    pub kind: NotNullKind,
    /// `file:line` of the statement.
    pub location: String,
    /// The statement, for the report.
    pub statement: String,
    /// An earlier `UPDATE` of the same migration sets this column (it may backfill the NULLs).
    pub backfilled: bool,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map(|s| s.matches('\n').count() + 1)
        .unwrap_or(1)
}

fn one_line(sql: &str) -> String {
    let s = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s
    }
}

/// Reads the migration files (files or folders, any layout `check` knows) and lists the NOT NULL
/// targets on tables the migrations do not create themselves.
pub fn targets(paths: &[PathBuf], dialect: Dialect) -> Result<Vec<NotNullTarget>, DiscoverError> {
    let migs = migrations::discover(paths, None)?;
    let mut created: HashSet<String> = HashSet::new();
    // (table, column) set by an UPDATE, or added by this migration (with or without a default)
    let mut updated: HashSet<(String, String)> = HashSet::new();
    let mut added: HashSet<(String, String)> = HashSet::new();
    let mut added_with_default: HashSet<(String, String)> = HashSet::new();
    let mut out = Vec::new();
    for m in &migs {
        let text = &m.up.text;
        for st in sql::parse_section(text, m.up.range.clone(), dialect) {
            let location = format!("{}:{}", m.path.display(), line_of(text, st.span.start));
            for op in &st.ops {
                match op {
                    Op::CreateTable { table, .. } => {
                        created.insert(table.key());
                    }
                    Op::Update {
                        table: Some(t),
                        columns,
                        ..
                    } => {
                        for c in columns {
                            updated.insert((t.key(), c.clone()));
                        }
                    }
                    Op::AlterTable { table, items, .. } => {
                        if created.contains(&table.key()) {
                            continue;
                        }
                        let schema = if table.parts.len() > 1 {
                            table.parts.get(table.parts.len() - 2).cloned()
                        } else {
                            None
                        };
                        let mut wanted: Vec<(String, NotNullKind)> = Vec::new();
                        for item in items {
                            match &item.action {
                                AlterAction::SetNotNull { column } => {
                                    wanted.push((column.clone(), NotNullKind::SetNotNull))
                                }
                                AlterAction::ModifyColumn { old_name, column }
                                    if column.not_null || column.primary_key =>
                                {
                                    wanted.push((old_name.clone(), NotNullKind::Modify))
                                }
                                AlterAction::AddConstraint(c) => {
                                    if let ConstraintKind::PrimaryKey { columns, .. } = &c.kind {
                                        wanted.extend(
                                            columns
                                                .iter()
                                                .map(|col| (col.clone(), NotNullKind::PrimaryKey)),
                                        );
                                    }
                                }
                                AlterAction::AddColumn { column, .. } => {
                                    let key = (table.key(), column.name.clone());
                                    let has_default =
                                        column.default.as_ref().is_some_and(|d| !d.is_null);
                                    let fills_itself = column.identity
                                        || column.auto_increment
                                        || column.data_type.serial
                                        || column.generated_stored;
                                    if has_default || fills_itself {
                                        added_with_default.insert(key);
                                    } else {
                                        added.insert(key);
                                        // PostgreSQL rejects it on a non-empty table; MySQL fills
                                        // an implicit default and SQLite rejects it regardless of data
                                        if dialect == Dialect::Postgres
                                            && (column.not_null || column.primary_key)
                                        {
                                            wanted.push((
                                                column.name.clone(),
                                                NotNullKind::AddColumn,
                                            ));
                                        }
                                    }
                                }
                                _ => {}
                            }
                        }
                        for (column, kind) in wanted {
                            let key = (table.key(), column.clone());
                            if added_with_default.contains(&key) {
                                continue;
                            }
                            let kind = if added.contains(&key) {
                                NotNullKind::AddColumn
                            } else {
                                kind
                            };
                            out.push(NotNullTarget {
                                schema: schema.clone(),
                                table: table.base().to_string(),
                                column,
                                kind,
                                location: location.clone(),
                                statement: one_line(&st.sql),
                                backfilled: updated.contains(&key),
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

/// Finds the table a target names among the database's tables: exact schema when given, else the
/// only table of that name, preferring `public` on PostgreSQL.
fn resolve<'a>(
    sizes: &'a Sizes,
    t: &NotNullTarget,
) -> Result<(&'a (String, String), &'a TableSize), String> {
    let mut hits: Vec<_> = sizes
        .iter()
        .filter(|((s, n), _)| n == &t.table && t.schema.as_ref().is_none_or(|want| want == s))
        .collect();
    hits.sort_by(|a, b| a.0.cmp(b.0));
    match hits.len() {
        0 => Err(format!(
            "table {} does not exist in the database (is an earlier migration pending?)",
            t.table
        )),
        1 => Ok(hits[0]),
        _ => hits
            .iter()
            .find(|((s, _), _)| s == "public")
            .copied()
            .ok_or_else(|| {
                let names: Vec<_> = hits.iter().map(|((s, n), _)| display_name(s, n)).collect();
                format!(
                    "{} is ambiguous ({}); qualify it with its schema in the migration",
                    t.table,
                    names.join(", ")
                )
            }),
    }
}

/// One check per target: NULL count (or, for a new NOT NULL column without default, whether the
/// table has any row).
pub fn plan(kind: EngineKind, targets: &[NotNullTarget], sizes: &Sizes) -> Vec<Planned> {
    let mut out = Vec::new();
    for t in targets {
        let object = format!(
            "{}.{}",
            display_name(t.schema.as_deref().unwrap_or(""), &t.table),
            t.column
        );
        let ((schema, table), size) = match resolve(sizes, t) {
            Ok(x) => x,
            Err(why) => {
                out.push(Planned::Skip(NotRun {
                    check: "not-null-blockers",
                    object,
                    level: Level::Standard,
                    cost: CostClass::Scan,
                    reason: NotRunReason::Unavailable,
                    detail: format!("{why} ({})", t.location),
                    estimate: None,
                }));
                continue;
            }
        };
        let q = qualified(kind, schema, table);
        let shown = display_name(
            if kind == EngineKind::Sqlite {
                ""
            } else {
                schema
            },
            table,
        );
        let object = format!("{shown}.{}", t.column);
        let col = quote_ident(kind, &t.column);
        let target = t.clone();
        let check = if t.kind == NotNullKind::AddColumn {
            let sql = format!("SELECT count(*) FROM (SELECT 1 AS x FROM {q} LIMIT 1) s");
            let inspect = format!("SELECT count(*) FROM {q}");
            let shown2 = shown.clone();
            Check::query(
                "not-null-blockers",
                object.clone(),
                Level::Standard,
                CostClass::Probe,
                estimate::PROBE,
                sql,
                Box::new(move |rows| {
                    if first_value(rows).unwrap_or("0") == "0" {
                        return Vec::new();
                    }
                    vec![Problem {
                        check: "not-null-blockers",
                        severity: if target.backfilled {
                            Severity::Warning
                        } else {
                            Severity::Error
                        },
                        object: object.clone(),
                        message: format!(
                            "{} adds NOT NULL column {} without a default to {shown2}, which has rows: it will fail",
                            target.location, target.column
                        ),
                        evidence: format!(
                            "{shown2} is not empty; `{}` gives every existing row NULL in {}",
                            target.statement, target.column
                        ),
                        count: None,
                        fix: format!(
                            "Add the column nullable (or with a DEFAULT), backfill {} in batches, then make it NOT NULL",
                            target.column
                        ),
                        inspect_sql: Some(inspect.clone()),
                    }]
                }),
            )
        } else {
            let sql = format!("SELECT count(*) FROM {q} WHERE {col} IS NULL");
            let inspect = format!("SELECT * FROM {q} WHERE {col} IS NULL LIMIT 100");
            Check::query(
                "not-null-blockers",
                object.clone(),
                Level::Standard,
                CostClass::Scan,
                estimate::scan(*size),
                sql,
                Box::new(move |rows| {
                    let n: u64 = first_value(rows).and_then(|v| v.parse().ok()).unwrap_or(0);
                    if n == 0 {
                        return Vec::new();
                    }
                    let how = match target.kind {
                        NotNullKind::PrimaryKey => "adds a primary key on",
                        NotNullKind::Modify => "redefines as NOT NULL",
                        _ => "sets NOT NULL on",
                    };
                    let backfill = if target.backfilled {
                        format!(
                            "; an earlier UPDATE in the migration sets {}, which may backfill them",
                            target.column
                        )
                    } else {
                        String::new()
                    };
                    vec![Problem {
                        check: "not-null-blockers",
                        severity: if target.backfilled {
                            Severity::Warning
                        } else {
                            Severity::Error
                        },
                        object: object.clone(),
                        message: format!(
                            "{n} rows have NULL in {object}: the migration at {} {how} it and will fail{backfill}",
                            target.location
                        ),
                        evidence: format!("{n} NULLs; statement: {}", target.statement),
                        count: Some(n),
                        fix: format!(
                            "Backfill first (UPDATE … SET {c} = … WHERE {c} IS NULL, in batches) and make writers stop inserting NULL; on PostgreSQL 12+ add CHECK ({c} IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL without a long exclusive lock",
                            c = target.column
                        ),
                        inspect_sql: Some(inspect.clone()),
                    }]
                }),
            )
        };
        out.push(Planned::Run(Check {
            mode: ExecMode::ReadOnly,
            ..check
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &std::path::Path, name: &str, sql: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, sql).unwrap();
        p
    }

    #[test]
    fn finds_set_not_null_and_friends_on_existing_tables_only() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "001_x.sql",
            "CREATE TABLE fresh (id int);\nALTER TABLE fresh ALTER COLUMN id SET NOT NULL;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;\nALTER TABLE app.orders ADD COLUMN total int NOT NULL;\nALTER TABLE orders ADD COLUMN note text NOT NULL DEFAULT '';\nUPDATE accounts SET plan = 'free' WHERE plan IS NULL;\nALTER TABLE accounts ALTER COLUMN plan SET NOT NULL, ADD PRIMARY KEY (id);\n",
        );
        let t = targets(&[p], Dialect::Postgres).unwrap();
        let got: Vec<_> = t
            .iter()
            .map(|t| {
                (
                    t.schema.as_deref(),
                    t.table.as_str(),
                    t.column.as_str(),
                    t.kind,
                    t.backfilled,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (None, "users", "email", NotNullKind::SetNotNull, false),
                (
                    Some("app"),
                    "orders",
                    "total",
                    NotNullKind::AddColumn,
                    false
                ),
                (None, "accounts", "plan", NotNullKind::SetNotNull, true),
                (None, "accounts", "id", NotNullKind::PrimaryKey, false),
            ]
        );
        assert!(t[0].location.ends_with("001_x.sql:3"), "{}", t[0].location);
    }

    #[test]
    fn mysql_modify_not_null() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "001_x.sql",
            "ALTER TABLE users MODIFY email varchar(200) NOT NULL;\nALTER TABLE users ADD COLUMN n int NOT NULL;\n",
        );
        let t = targets(&[p], Dialect::Mysql).unwrap();
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!(
            (t[0].column.as_str(), t[0].kind),
            ("email", NotNullKind::Modify)
        );
    }

    #[test]
    fn resolution_prefers_exact_schema_then_public() {
        let mut sizes = Sizes::new();
        sizes.insert(("public".into(), "users".into()), TableSize::default());
        sizes.insert(("audit".into(), "users".into()), TableSize::default());
        let t = |schema: Option<&str>, table: &str| NotNullTarget {
            schema: schema.map(str::to_string),
            table: table.into(),
            column: "c".into(),
            kind: NotNullKind::SetNotNull,
            location: "m.sql:1".into(),
            statement: String::new(),
            backfilled: false,
        };
        assert_eq!(resolve(&sizes, &t(None, "users")).unwrap().0.0, "public");
        assert_eq!(
            resolve(&sizes, &t(Some("audit"), "users")).unwrap().0.0,
            "audit"
        );
        assert!(
            resolve(&sizes, &t(None, "nope"))
                .unwrap_err()
                .contains("does not exist")
        );
        sizes.remove(&("public".to_string(), "users".to_string()));
        sizes.insert(("billing".into(), "users".into()), TableSize::default());
        assert!(
            resolve(&sizes, &t(None, "users"))
                .unwrap_err()
                .contains("ambiguous")
        );
    }
}
