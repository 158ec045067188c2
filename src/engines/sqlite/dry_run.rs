//! SQLite half of `migsafe dry-run`: the catalog from sqlite_master and the table-valued pragmas,
//! the per-statement probe (root page as storage identity, column digests), errors, and
//! `PRAGMA foreign_key_check`.

use crate::engines::catalog::{Catalog, Column, Constraint, Index, Table, View};
use crate::engines::conn::{Conn, TextRow};
use crate::engines::observe::FkViolation;
use crate::engines::observe::{Probe, RawError, RelState};
use std::collections::BTreeMap;

fn get(r: &TextRow, i: usize) -> String {
    r.get(i).cloned().flatten().unwrap_or_default()
}

fn get_opt(r: &TextRow, i: usize) -> Option<String> {
    r.get(i).cloned().flatten()
}

const USER: &str = "m.name NOT LIKE 'sqlite_%'";

/// The schema of the database.
pub async fn catalog(conn: &mut Conn) -> Result<Catalog, sqlx::Error> {
    let mut cat = Catalog::default();
    let (_, objs) = conn.query_text(&format!("SELECT m.type, m.name, CAST(m.rootpage AS TEXT), m.sql, m.tbl_name FROM sqlite_master m WHERE {USER}")).await?;
    for r in &objs {
        let sql = get(r, 3).split_whitespace().collect::<Vec<_>>().join(" ");
        match get(r, 0).as_str() {
            "table" => {
                cat.tables.insert(
                    get(r, 1),
                    Table {
                        id: get_opt(r, 2).filter(|p| p != "0"),
                        ..Table::default()
                    },
                );
            }
            "view" => {
                cat.views.insert(
                    get(r, 1),
                    View {
                        materialized: false,
                        definition: sql,
                    },
                );
            }
            "trigger" => {
                cat.triggers
                    .insert(format!("{}.{}", get(r, 4), get(r, 1)), sql);
            }
            _ => {}
        }
    }
    let (_, cols) = conn
        .query_text(&format!(
            "SELECT m.name, p.name, CAST(p.cid + 1 AS TEXT), p.type, CAST(p.\"notnull\" AS TEXT), p.dflt_value, CAST(p.pk AS TEXT), CAST(p.hidden AS TEXT) \
             FROM sqlite_master m JOIN pragma_table_xinfo(m.name) p WHERE m.type = 'table' AND {USER} ORDER BY m.name, p.cid"
        ))
        .await?;
    for r in &cols {
        if let Some(t) = cat.tables.get_mut(&get(r, 0)) {
            let pk = get(r, 6);
            let hidden = get(r, 7);
            let mut extra = Vec::new();
            if pk != "0" && !pk.is_empty() {
                extra.push(format!("primary key #{pk}"));
            }
            if hidden == "2" || hidden == "3" {
                extra.push("generated".to_string());
            }
            t.columns.push(Column {
                name: get(r, 1),
                id: None,
                position: get(r, 2).parse().unwrap_or(0),
                data_type: get(r, 3).to_ascii_lowercase(),
                nullable: get(r, 4) != "1",
                default: get_opt(r, 5),
                extra: if extra.is_empty() {
                    None
                } else {
                    Some(extra.join(", "))
                },
            });
        }
    }
    let (_, idx) = conn
        .query_text(&format!(
            "SELECT m.name, il.name, CAST(il.\"unique\" AS TEXT), il.origin, CAST(il.partial AS TEXT), \
               (SELECT group_concat(COALESCE(ii.name, 'expr'), ', ') FROM pragma_index_info(il.name) ii), s.sql \
             FROM sqlite_master m JOIN pragma_index_list(m.name) il LEFT JOIN sqlite_master s ON s.type = 'index' AND s.name = il.name \
             WHERE m.type = 'table' AND {USER}"
        ))
        .await?;
    for r in &idx {
        if let Some(t) = cat.tables.get_mut(&get(r, 0)) {
            let unique = get(r, 2) == "1";
            let definition = match get_opt(r, 6) {
                Some(sql) => sql.split_whitespace().collect::<Vec<_>>().join(" "),
                None => format!(
                    "{} ({})",
                    if get(r, 3) == "pk" {
                        "PRIMARY KEY"
                    } else if unique {
                        "UNIQUE"
                    } else {
                        "INDEX"
                    },
                    get(r, 5)
                ),
            };
            t.indexes.insert(
                get(r, 1),
                Index {
                    definition,
                    unique,
                    valid: true,
                },
            );
        }
    }
    let (_, fks) = conn
        .query_text(&format!(
            "SELECT m.name, CAST(f.id AS TEXT), f.\"table\", group_concat(f.\"from\", ', '), group_concat(COALESCE(f.\"to\", ''), ', '), f.on_update, f.on_delete \
             FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table' AND {USER} GROUP BY m.name, f.id"
        ))
        .await?;
    for r in &fks {
        if let Some(t) = cat.tables.get_mut(&get(r, 0)) {
            let definition = format!(
                "FOREIGN KEY ({}) REFERENCES {}({}) ON UPDATE {} ON DELETE {}",
                get(r, 3),
                get(r, 2),
                get(r, 4),
                get(r, 5),
                get(r, 6)
            );
            // SQLite foreign keys have no names: key them by their columns
            t.constraints.insert(
                format!("fk({})", get(r, 3)),
                Constraint {
                    kind: "foreign key".into(),
                    definition,
                    validated: true,
                },
            );
        }
    }
    Ok(cat)
}

fn quote_list(ids: &[String]) -> String {
    ids.iter()
        .map(|s| crate::sql::quote::standard_literal(s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Tables, views and indexes (by name) with their root page and a digest of their columns.
pub async fn probe(conn: &mut Conn, ids: Option<&[String]>) -> Result<Probe, sqlx::Error> {
    let filter = match ids {
        Some([]) => return Ok(Probe::default()),
        Some(ids) => format!(" AND m.name IN ({})", quote_list(ids)),
        None => String::new(),
    };
    let sql = format!(
        "SELECT m.name, m.type, CAST(m.rootpage AS TEXT), \
           CASE WHEN m.type = 'table' THEN (SELECT group_concat(p.name || ':' || p.type || ':' || p.\"notnull\", ',') FROM pragma_table_info(m.name) p) END \
         FROM sqlite_master m WHERE m.type IN ('table', 'view', 'index') AND {USER}{filter}"
    );
    let (_, rows) = conn.query_text(&sql).await?;
    let mut p = Probe::default();
    for r in rows {
        p.rels.insert(
            get(&r, 0),
            RelState {
                name: get(&r, 0),
                kind: get(&r, 1),
                // root pages move on VACUUM and rebuilds alike: not a reliable rewrite signal
                storage: None,
                columns: get_opt(&r, 3),
            },
        );
    }
    Ok(p)
}

/// Columns of the given tables (by name).
pub async fn columns(
    conn: &mut Conn,
    ids: &[String],
) -> Result<BTreeMap<String, Vec<Column>>, sqlx::Error> {
    let mut out = BTreeMap::new();
    for t in ids {
        let (_, rows) = conn.query_text(&format!("SELECT p.name, CAST(p.cid + 1 AS TEXT), p.type, CAST(p.\"notnull\" AS TEXT) FROM pragma_table_info('{}') p", t.replace('\'', "''"))).await?;
        let cols: Vec<Column> = rows
            .iter()
            .map(|r| Column {
                name: get(r, 0),
                id: None,
                position: get(r, 1).parse().unwrap_or(0),
                data_type: get(r, 2).to_ascii_lowercase(),
                nullable: get(r, 3) != "1",
                default: None,
                extra: None,
            })
            .collect();
        if !cols.is_empty() {
            out.insert(t.clone(), cols);
        }
    }
    Ok(out)
}

/// Rows violating foreign keys (`PRAGMA foreign_key_check`).
pub async fn foreign_key_check(conn: &mut Conn) -> Result<Vec<FkViolation>, sqlx::Error> {
    let (_, rows) = conn
        .query_text("SELECT \"table\", rowid, \"parent\" FROM pragma_foreign_key_check")
        .await?;
    Ok(rows
        .iter()
        .map(|r| FkViolation {
            table: get(r, 0),
            rowid: get_opt(r, 1).and_then(|v| v.parse().ok()),
            parent: get(r, 2),
        })
        .collect())
}

/// The error as SQLite reported it (extended result code as `code`).
pub fn error(e: &sqlx::Error) -> RawError {
    if let sqlx::Error::Database(db) = e {
        return RawError {
            sqlstate: None,
            code: db.code().and_then(|c| c.parse().ok()),
            message: db.message().to_string(),
            ..RawError::default()
        };
    }
    RawError::other(e)
}

pub use crate::sql::quote::double_quoted as ident;

#[async_trait::async_trait]
impl crate::engines::catalog::CatalogEngine for super::Sqlite {
    async fn catalog(&self, conn: &mut Conn) -> Result<Catalog, sqlx::Error> {
        catalog(conn).await
    }
    async fn probe(
        &self,
        conn: &mut Conn,
        ids: Option<&[String]>,
        mariadb: bool,
    ) -> Result<Probe, sqlx::Error> {
        let _ = mariadb;
        probe(conn, ids).await
    }
    async fn columns(
        &self,
        conn: &mut Conn,
        ids: &[String],
    ) -> Result<BTreeMap<String, Vec<Column>>, sqlx::Error> {
        columns(conn, ids).await
    }
    fn error(&self, e: &sqlx::Error) -> RawError {
        error(e)
    }
    fn quote_ident(&self, s: &str) -> String {
        ident(s)
    }
    fn version_sql(&self) -> &'static str {
        "SELECT sqlite_version()"
    }
    async fn foreign_key_violations(
        &self,
        conn: &mut Conn,
    ) -> Result<Vec<FkViolation>, sqlx::Error> {
        foreign_key_check(conn).await
    }
}
