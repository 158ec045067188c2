//! `--seed-rows N`: fills every pre-existing table with N generated rows before the new
//! migrations run, so index builds, rewrites and NOT NULL checks cost what they would on a
//! populated table. Values follow the column types; NOT NULL columns always get a value; unique
//! columns get distinct values; foreign keys point at rows of the (already seeded) parent; columns
//! with defaults, identities and generated expressions are left to the database.

use super::diff::{Catalog, Column, Table};
use crate::engines::EngineKind;
use crate::engines::conn::Conn;
use std::collections::{BTreeMap, BTreeSet};

/// What seeding did per table.
#[derive(Debug, Clone, Default)]
pub struct SeedResult {
    pub seeded: Vec<(String, u64)>,
    /// Tables left empty, with the reason.
    pub skipped: Vec<(String, String)>,
}

struct Fk {
    columns: Vec<String>,
    parent: String,
    parent_columns: Vec<String>,
}

fn parens(s: &str) -> Option<(Vec<String>, &str)> {
    let open = s.find('(')?;
    let close = open + s[open..].find(')')?;
    let cols = s[open + 1..close]
        .split(',')
        .map(|c| c.trim().trim_matches(['"', '`']).to_string())
        .filter(|c| !c.is_empty())
        .collect();
    Some((cols, &s[close + 1..]))
}

/// `FOREIGN KEY (a, b) REFERENCES parent(x, y) …` as every engine's catalog spells it.
fn parse_fk(def: &str, tables: &BTreeMap<String, Table>, this_schema: Option<&str>) -> Option<Fk> {
    let (columns, rest) = parens(def.strip_prefix("FOREIGN KEY")?)?;
    let rest = rest.trim_start().strip_prefix("REFERENCES")?.trim_start();
    let name_end = rest.find('(')?;
    let raw = rest[..name_end].trim().replace(['"', '`'], "");
    let (parent_columns, _) = parens(&rest[name_end..])?;
    let parent = [
        raw.clone(),
        this_schema
            .map(|s| format!("{s}.{raw}"))
            .unwrap_or_default(),
        format!("public.{raw}"),
    ]
    .into_iter()
    .find(|n| tables.contains_key(n))?;
    Some(Fk {
        columns,
        parent,
        parent_columns,
    })
}

fn quote(kind: EngineKind, s: &str) -> String {
    crate::sql::quote::ident(kind.dialect(), s)
}

fn qualified(kind: EngineKind, name: &str) -> String {
    match (kind, name.split_once('.')) {
        (EngineKind::Postgres, Some((s, t))) => format!("{}.{}", quote(kind, s), quote(kind, t)),
        _ => quote(kind, name),
    }
}

fn type_args(t: &str) -> Vec<u64> {
    t.find('(')
        .map(|i| {
            t[i + 1..]
                .split([',', ')'])
                .filter_map(|x| x.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A value expression for row `g.n` of a column, or `None` for a type migsafe cannot generate.
fn value(kind: EngineKind, c: &Column, int_base: i64) -> Option<String> {
    let t = c.data_type.to_ascii_lowercase();
    let base = t.split('(').next().unwrap_or("").trim().to_string();
    let n = format!("(g.n + {int_base})");
    let concat = |prefix: &str, x: &str| match kind {
        EngineKind::Mysql => format!("CONCAT('{prefix}', {x})"),
        _ => format!("('{prefix}' || {x})"),
    };
    let v = if t.ends_with("[]") {
        "'{}'".to_string()
    } else if matches!(
        base.as_str(),
        "integer" | "int" | "int4" | "bigint" | "int8" | "mediumint"
    ) || (kind == EngineKind::Sqlite && base.contains("int"))
    {
        n
    } else if matches!(base.as_str(), "smallint" | "int2") {
        format!("({n} % 32767)")
    } else if base == "tinyint" {
        if t.starts_with("tinyint(1)") {
            "(g.n % 2)".to_string()
        } else {
            format!("({n} % 127)")
        }
    } else if base.contains("char")
        || base.contains("text")
        || base == "citext"
        || base == "clob"
        || (kind == EngineKind::Sqlite && base.is_empty())
    {
        let raw = concat("s", "g.n");
        match type_args(&t).first() {
            Some(len) if *len < 24 => match kind {
                EngineKind::Sqlite => format!("substr({raw}, 1, {len})"),
                _ => format!("LEFT({raw}, {len})"),
            },
            _ => raw,
        }
    } else if base == "boolean" || base == "bool" {
        match kind {
            EngineKind::Postgres => "(g.n % 2 = 0)".to_string(),
            _ => "(g.n % 2)".to_string(),
        }
    } else if matches!(base.as_str(), "numeric" | "decimal") {
        let a = type_args(&t);
        match (a.first(), a.get(1)) {
            (Some(p), s) => format!(
                "(g.n % {})",
                10u64
                    .saturating_pow((p.saturating_sub(*s.unwrap_or(&0))).min(18) as u32)
                    .max(1)
            ),
            _ => "g.n".to_string(),
        }
    } else if matches!(
        base.as_str(),
        "real" | "double precision" | "double" | "float" | "float4" | "float8"
    ) {
        "(g.n * 1.5)".to_string()
    } else if base == "date" {
        match kind {
            EngineKind::Postgres => "(current_date - (g.n % 3650)::int)".to_string(),
            EngineKind::Mysql => "(CURRENT_DATE - INTERVAL (g.n % 3650) DAY)".to_string(),
            EngineKind::Sqlite => "date('now', '-' || (g.n % 3650) || ' days')".to_string(),
        }
    } else if base.starts_with("timestamp") || base == "datetime" {
        match kind {
            EngineKind::Postgres => "(now() - g.n * interval '1 second')".to_string(),
            EngineKind::Mysql => "(NOW() - INTERVAL g.n SECOND)".to_string(),
            EngineKind::Sqlite => "datetime('now', '-' || g.n || ' seconds')".to_string(),
        }
    } else if base == "uuid" {
        "md5(g.n::text)::uuid".to_string()
    } else if base == "json" || base == "jsonb" {
        "'{}'".to_string()
    } else if base == "bytea" {
        "decode(md5(g.n::text), 'hex')".to_string()
    } else if base.contains("blob") || base.contains("binary") {
        match kind {
            EngineKind::Sqlite => "randomblob(8)".to_string(),
            _ => "UNHEX(MD5(g.n))".to_string(),
        }
    } else if base == "enum" {
        // MySQL inline enum: its first value
        let first = t.split('\'').nth(1)?;
        format!("'{}'", first.replace('\'', "''"))
    } else if kind == EngineKind::Postgres && !c.data_type.contains(' ') {
        // perhaps a user-defined enum: cycle through its labels (fails, and is reported, for
        // other types)
        let ty = &c.data_type;
        format!(
            "(enum_range(NULL::{ty}))[1 + (g.n % array_length(enum_range(NULL::{ty}), 1))::int]"
        )
    } else {
        return None;
    };
    Some(v)
}

fn series(kind: EngineKind, mariadb: bool, n: u64) -> (String, String) {
    match kind {
        EngineKind::Postgres => (String::new(), format!("generate_series(1, {n}) AS g(n)")),
        EngineKind::Mysql if mariadb => (
            String::new(),
            format!("(SELECT seq AS n FROM seq_1_to_{n}) g"),
        ),
        _ => (
            format!(
                "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {n}) "
            ),
            "g".to_string(),
        ),
    }
}

async fn scalar(conn: &mut Conn, sql: &str) -> Option<String> {
    conn.query_text(sql)
        .await
        .ok()?
        .1
        .first()?
        .first()
        .cloned()
        .flatten()
}

/// Seeds `tables` (names as in `cat`) with `rows` rows each, parents before children.
pub async fn seed(
    conn: &mut Conn,
    cat: &Catalog,
    tables: &[String],
    rows: u64,
    mariadb: bool,
) -> SeedResult {
    let kind = conn.kind();
    let mut res = SeedResult::default();
    if kind == EngineKind::Mysql && !mariadb {
        let _ = conn
            .execute(&format!(
                "SET SESSION cte_max_recursion_depth = {}",
                rows + 1
            ))
            .await;
    }
    let wanted: BTreeSet<&String> = tables.iter().collect();
    let mut fks: BTreeMap<&String, Vec<Fk>> = BTreeMap::new();
    for name in &wanted {
        let Some(t) = cat.tables.get(*name) else {
            continue;
        };
        let schema = name.split_once('.').map(|(s, _)| s);
        let list: Vec<Fk> = t
            .constraints
            .values()
            .filter(|c| c.kind == "foreign key")
            .filter_map(|c| parse_fk(&c.definition, &cat.tables, schema))
            .collect();
        fks.insert(name, list);
    }
    // parents first; a cycle is broken where it is found (its nullable keys get NULL)
    let mut order: Vec<&String> = Vec::new();
    let mut visiting: BTreeSet<&String> = BTreeSet::new();
    fn visit<'a>(
        n: &'a String,
        fks: &BTreeMap<&'a String, Vec<Fk>>,
        order: &mut Vec<&'a String>,
        visiting: &mut BTreeSet<&'a String>,
    ) {
        if order.contains(&n) || !visiting.insert(n) {
            return;
        }
        for fk in fks.get(n).into_iter().flatten() {
            if let Some((p, _)) = fks.get_key_value(&fk.parent)
                && *p != n
            {
                visit(p, fks, order, visiting);
            }
        }
        order.push(n);
    }
    for n in fks.keys() {
        visit(n, &fks, &mut order, &mut visiting);
    }
    let (with, from) = series(kind, mariadb, rows);
    'tables: for name in order {
        let t = &cat.tables[name];
        let table_sql = qualified(kind, name);
        let mut cols = Vec::new();
        let mut exprs = Vec::new();
        let mut joins = Vec::new();
        let mut fk_cols: BTreeMap<String, String> = BTreeMap::new();
        for (k, fk) in fks.get(name).into_iter().flatten().enumerate() {
            let all_nullable = fk
                .columns
                .iter()
                .all(|c| t.columns.iter().any(|x| &x.name == c && x.nullable));
            let count: u64 = scalar(
                conn,
                &format!(
                    "SELECT CAST(count(*) AS {}) FROM {}",
                    if kind == EngineKind::Mysql {
                        "CHAR"
                    } else {
                        "TEXT"
                    },
                    qualified(kind, &fk.parent)
                ),
            )
            .await
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
            if &fk.parent == name || count == 0 {
                if all_nullable {
                    for c in &fk.columns {
                        fk_cols.insert(c.clone(), "NULL".into());
                    }
                    continue;
                }
                res.skipped.push((
                    name.clone(),
                    format!(
                        "its foreign key to {} has no parent rows to point at",
                        fk.parent
                    ),
                ));
                continue 'tables;
            }
            let alias = format!("p{k}");
            let pcols: Vec<String> = fk.parent_columns.iter().map(|c| quote(kind, c)).collect();
            joins.push(format!(
                " JOIN (SELECT {}, row_number() OVER (ORDER BY {}) AS rn FROM {}) {alias} ON {alias}.rn = ((g.n - 1) % {count}) + 1",
                pcols.join(", "),
                pcols.join(", "),
                qualified(kind, &fk.parent)
            ));
            for (c, p) in fk.columns.iter().zip(&fk.parent_columns) {
                fk_cols.insert(c.clone(), format!("{alias}.{}", quote(kind, p)));
            }
        }
        for c in &t.columns {
            if let Some(e) = fk_cols.get(&c.name) {
                cols.push(quote(kind, &c.name));
                exprs.push(e.clone());
                continue;
            }
            if c.default.is_some()
                || c.extra.as_deref().is_some_and(|e| {
                    e.contains("identity")
                        || e.contains("generated")
                        || e.contains("auto_increment")
                })
            {
                continue;
            }
            let is_int = value(kind, c, 0).as_deref() == Some("(g.n + 0)");
            let base = if is_int {
                let max = scalar(
                    conn,
                    &format!(
                        "SELECT CAST(COALESCE(MAX({}), 0) AS {}) FROM {table_sql}",
                        quote(kind, &c.name),
                        if kind == EngineKind::Mysql {
                            "CHAR"
                        } else {
                            "TEXT"
                        }
                    ),
                )
                .await;
                max.and_then(|m| m.parse::<f64>().ok())
                    .map(|m| m as i64)
                    .unwrap_or(0)
            } else {
                0
            };
            match value(kind, c, base) {
                Some(v) => {
                    cols.push(quote(kind, &c.name));
                    exprs.push(v);
                }
                None if c.nullable => {}
                None => {
                    res.skipped.push((
                        name.clone(),
                        format!("no generator for column {} of type {}", c.name, c.data_type),
                    ));
                    continue 'tables;
                }
            }
        }
        if cols.is_empty() {
            res.skipped.push((name.clone(), "no column to fill".into()));
            continue;
        }
        let sql = format!(
            "{with}INSERT INTO {table_sql} ({}) SELECT {} FROM {from}{}",
            cols.join(", "),
            exprs.join(", "),
            joins.join("")
        );
        let sql = if kind == EngineKind::Sqlite || with.is_empty() {
            sql
        } else {
            format!(
                "INSERT INTO {table_sql} ({}) {with}SELECT {} FROM {from}{}",
                cols.join(", "),
                exprs.join(", "),
                joins.join("")
            )
        };
        match conn.execute(&sql).await {
            Ok(n) => res.seeded.push((name.clone(), n)),
            Err(e) => res.skipped.push((name.clone(), e.to_string())),
        }
    }
    if kind == EngineKind::Postgres {
        let _ = conn.execute("ANALYZE").await;
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_keys_parse_in_every_spelling() {
        let mut tables = BTreeMap::new();
        tables.insert("public.users".to_string(), Table::default());
        tables.insert("teams".to_string(), Table::default());
        let fk = parse_fk(
            "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
            &tables,
            Some("public"),
        )
        .unwrap();
        assert_eq!(
            (fk.columns, fk.parent.as_str(), fk.parent_columns),
            (
                vec!["user_id".to_string()],
                "public.users",
                vec!["id".to_string()]
            )
        );
        let fk = parse_fk(
            "FOREIGN KEY (a, b) REFERENCES teams(x, y) ON UPDATE RESTRICT ON DELETE NO ACTION",
            &tables,
            None,
        )
        .unwrap();
        assert_eq!(fk.parent_columns.len(), 2);
        assert!(parse_fk("CHECK (x > 0)", &tables, None).is_none());
    }

    #[test]
    fn values_follow_types() {
        let c = |t: &str| Column {
            name: "c".into(),
            data_type: t.into(),
            nullable: false,
            ..Column::default()
        };
        assert_eq!(
            value(EngineKind::Postgres, &c("integer"), 5).unwrap(),
            "(g.n + 5)"
        );
        assert!(
            value(EngineKind::Postgres, &c("character varying(3)"), 0)
                .unwrap()
                .starts_with("LEFT(")
        );
        assert!(
            value(EngineKind::Mysql, &c("enum('a','b')"), 0)
                .unwrap()
                .contains("'a'")
        );
        assert!(value(EngineKind::Mysql, &c("geometry"), 0).is_none());
    }
}
