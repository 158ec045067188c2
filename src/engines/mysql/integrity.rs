//! MySQL/MariaDB integrity checks (`migsafe integrity-check`): FK orphans (tables loaded with
//! `foreign_key_checks = 0` are never checked by the server), AUTO_INCREMENT behind the column's
//! max, tables without a primary key, and `CHECK TABLE` at the deep level.

use crate::engines::EngineError;
use crate::engines::conn::{Conn, TextRow};
use crate::engines::integrity::{
    Check, CostClass, DbFailure, EnginePlan, ExecMode, FailureKind, Level, PlanContext, Planned,
    Problem, Session, Severity, Sizes, TableSize, catalog_query, col, estimate, first_value,
};
use sqlx::Row;
use std::time::Duration;

use crate::sql::quote::backquoted as qi;

use crate::sql::quote::mysql_literal as lit;

/// Reads the server flavour and the session settings the run changes, so they are restored after.
/// MariaDB limits statements with `max_statement_time` (seconds), MySQL with `max_execution_time`
/// (milliseconds, SELECT only); both wait for metadata locks up to `lock_wait_timeout` (default a
/// year), which the run lowers. MySQL 8 caches information_schema statistics (AUTO_INCREMENT
/// included) for a day unless `information_schema_stats_expiry` is 0.
pub async fn session_start(conn: &mut Conn) -> Result<Session, EngineError> {
    let err = |e: sqlx::Error| EngineError::step("reading session settings", classify(&e));
    let (_, rows) = conn
        .query_text("SELECT VERSION(), CAST(@@session.lock_wait_timeout AS CHAR)")
        .await
        .map_err(err)?;
    let version = rows
        .first()
        .map(|r| col(r, 0).to_string())
        .unwrap_or_default();
    let lock_wait = rows
        .first()
        .map(|r| col(r, 1).to_string())
        .unwrap_or_else(|| "31536000".into());
    let mariadb = version.to_ascii_lowercase().contains("mariadb");
    let var = if mariadb {
        "max_statement_time"
    } else {
        "max_execution_time"
    };
    let (_, rows) = conn
        .query_text(&format!("SELECT CAST(@@session.{var} AS CHAR)"))
        .await
        .map_err(err)?;
    let prior = rows
        .first()
        .map(|r| col(r, 0).to_string())
        .unwrap_or_else(|| "0".into());
    let mut restore = vec![
        format!("SET SESSION {var} = {}", number(&prior)),
        format!("SET SESSION lock_wait_timeout = {}", number(&lock_wait)),
    ];
    if !mariadb
        && version
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok())
            .is_some_and(|m| m >= 8)
    {
        let (_, rows) = conn
            .query_text("SELECT CAST(@@session.information_schema_stats_expiry AS CHAR)")
            .await
            .map_err(err)?;
        let prior = rows
            .first()
            .map(|r| col(r, 0).to_string())
            .unwrap_or_else(|| "86400".into());
        conn.execute("SET SESSION information_schema_stats_expiry = 0")
            .await
            .map_err(err)?;
        restore.push(format!(
            "SET SESSION information_schema_stats_expiry = {}",
            number(&prior)
        ));
    }
    let mut s = Session::new(restore);
    s.flavor = if mariadb { "mariadb" } else { "mysql" };
    Ok(s)
}

/// Keeps only a plain number (values read back from the server, restored verbatim).
fn number(s: &str) -> String {
    let n: String = s
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    if n.is_empty() { "0".into() } else { n }
}

pub async fn begin(
    conn: &mut Conn,
    session: &Session,
    mode: &ExecMode,
    timeout: Duration,
) -> Result<(), DbFailure> {
    let limit = if session.flavor == "mariadb" {
        format!(
            "SET SESSION max_statement_time = {:.3}",
            timeout.as_secs_f64().max(0.001)
        )
    } else {
        format!(
            "SET SESSION max_execution_time = {}",
            timeout.as_millis().max(1)
        )
    };
    let lock = timeout.min(Duration::from_secs(5)).as_secs().max(1);
    for sql in [limit, format!("SET SESSION lock_wait_timeout = {lock}")] {
        conn.execute(&sql).await.map_err(|e| classify(&e))?;
    }
    if *mode != ExecMode::NoTransaction {
        conn.execute("START TRANSACTION READ ONLY")
            .await
            .map_err(|e| classify(&e))?;
    }
    Ok(())
}

pub async fn end(conn: &mut Conn, mode: &ExecMode) {
    if *mode != ExecMode::NoTransaction {
        let _ = conn.execute("ROLLBACK").await;
    }
}

/// Error number → what the run does with the failure.
pub fn classify(e: &sqlx::Error) -> DbFailure {
    let (number, message) = match e {
        sqlx::Error::Database(db) => match db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        {
            Some(m) => (m.number(), m.message().to_string()),
            None => (0, db.message().to_string()),
        },
        other => (0, other.to_string()),
    };
    let kind = match number {
        // MariaDB max_statement_time, MySQL max_execution_time, interrupted
        1969 | 3024 | 1317 => FailureKind::Timeout,
        1205 => FailureKind::LockTimeout,
        // access denied, unknown table/column/database
        1044 | 1045 | 1142 | 1143 | 1227 | 1146 | 1054 | 1049 => FailureKind::Unavailable,
        // crashed/corrupt tables and indexes
        1194 | 1195 | 1034 | 1712 | 1877 => FailureKind::Corruption,
        _ => FailureKind::Other,
    };
    DbFailure {
        kind,
        message: if number == 0 {
            message
        } else {
            format!("{message} (error {number})")
        },
    }
}

/// `CHECK TABLE` cannot be prepared, so it goes through the text protocol.
pub async fn query_unprepared(conn: &mut Conn, sql: &str) -> Result<Vec<TextRow>, DbFailure> {
    let Conn::Mysql(c) = conn else {
        return Err(DbFailure::other("not a MySQL connection"));
    };
    let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_all(&mut *c)
        .await
        .map_err(|e| classify(&e))?;
    Ok(rows
        .iter()
        .map(|r| {
            (0..r.len())
                .map(|i| {
                    r.try_get::<Option<String>, _>(i)
                        .ok()
                        .flatten()
                        .or_else(|| {
                            r.try_get::<Option<Vec<u8>>, _>(i)
                                .ok()
                                .flatten()
                                .map(|b| String::from_utf8_lossy(&b).into_owned())
                        })
                })
                .collect()
        })
        .collect())
}

pub async fn plan(conn: &mut Conn, ctx: &PlanContext<'_>) -> Result<EnginePlan, EngineError> {
    let v = catalog_query(
        conn,
        "server version",
        "SELECT VERSION(), CAST(DATABASE() AS CHAR)",
    )
    .await?;
    let server_version = v.first().map(|r| col(r, 0).to_string()).unwrap_or_default();
    if v.first().is_none_or(|r| col(r, 1).is_empty()) {
        return Err(EngineError::step(
            "choosing the database",
            "the URL names no database: add it to the path (mysql://user@host/app)",
        ));
    }
    let rows = catalog_query(conn, "table sizes", "SELECT CAST(table_schema AS CHAR), CAST(table_name AS CHAR), CAST(IFNULL(data_length, 0) AS CHAR), CAST(IFNULL(table_rows, -1) AS CHAR) \
         FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1, 2")
    .await?;
    let sizes: Sizes = rows
        .iter()
        .map(|r| {
            let rows = col(r, 3)
                .parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .map(|v| v as u64);
            (
                (col(r, 0).to_string(), col(r, 1).to_string()),
                TableSize {
                    bytes: col(r, 2).parse().unwrap_or(0),
                    rows,
                },
            )
        })
        .collect();
    let mut planned = Vec::new();
    if ctx.wants("missing-primary-key") {
        planned.push(Planned::Run(missing_primary_keys()));
    }
    if ctx.wants("fk-orphans") {
        planned.extend(fk_orphans(conn, &sizes).await?);
    }
    if ctx.wants("auto-increment-behind") {
        planned.extend(auto_increments(conn).await?);
    }
    if ctx.wants("check-table") {
        let mut tables: Vec<_> = sizes.iter().collect();
        tables.sort_by(|a, b| a.0.cmp(b.0));
        for ((_, table), size) in tables {
            planned.push(Planned::Run(check_table(table, *size)));
        }
    }
    Ok(EnginePlan {
        server_version,
        planned,
        sizes,
    })
}

fn missing_primary_keys() -> Check {
    let sql = "SELECT CAST(t.table_name AS CHAR) FROM information_schema.tables t WHERE t.table_schema = DATABASE() AND t.table_type = 'BASE TABLE' \
               AND NOT EXISTS (SELECT 1 FROM information_schema.table_constraints c WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.constraint_type = 'PRIMARY KEY') \
               ORDER BY 1"
        .to_string();
    Check::query(
        "missing-primary-key",
        "database",
        Level::Catalog,
        CostClass::Catalog,
        estimate::CATALOG,
        sql,
        Box::new(|rows| {
            rows.iter()
                .map(|r| Problem {
                    check: "missing-primary-key",
                    severity: Severity::Info,
                    object: col(r, 0).to_string(),
                    message: format!("table {} has no primary key", col(r, 0)),
                    evidence: "no PRIMARY KEY in information_schema.table_constraints".into(),
                    count: None,
                    fix: format!("ALTER TABLE {} ADD PRIMARY KEY (…): InnoDB otherwise uses a hidden row id, duplicates cannot be told apart and row-based replication must scan the table for every change", qi(col(r, 0))),
                    inspect_sql: None,
                })
                .collect()
        }),
    )
}

async fn fk_orphans(conn: &mut Conn, sizes: &Sizes) -> Result<Vec<Planned>, EngineError> {
    let rows = catalog_query(conn, "foreign keys", "SELECT CAST(k.table_schema AS CHAR), CAST(k.table_name AS CHAR), CAST(k.constraint_name AS CHAR), CAST(k.column_name AS CHAR), \
                CAST(k.referenced_table_schema AS CHAR), CAST(k.referenced_table_name AS CHAR), CAST(k.referenced_column_name AS CHAR) \
         FROM information_schema.key_column_usage k WHERE k.table_schema = DATABASE() AND k.referenced_table_name IS NOT NULL \
         ORDER BY k.table_name, k.constraint_name, k.ordinal_position")
    .await?;
    // one entry per constraint, columns in key order
    // (schema, table, constraint, parent schema, parent table, columns, parent columns)
    type Fk = (
        String,
        String,
        String,
        String,
        String,
        Vec<String>,
        Vec<String>,
    );
    let mut fks: Vec<Fk> = Vec::new();
    for r in &rows {
        match fks.last_mut() {
            Some(f) if f.1 == col(r, 1) && f.2 == col(r, 2) => {
                f.5.push(col(r, 3).to_string());
                f.6.push(col(r, 6).to_string());
            }
            _ => fks.push((
                col(r, 0).into(),
                col(r, 1).into(),
                col(r, 2).into(),
                col(r, 4).into(),
                col(r, 5).into(),
                vec![col(r, 3).into()],
                vec![col(r, 6).into()],
            )),
        }
    }
    let mut out = Vec::new();
    for (cs, ct, name, ps, pt, ccols, pcols) in fks {
        let all_set = ccols
            .iter()
            .map(|c| format!("c.{} IS NOT NULL", qi(c)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let join = ccols
            .iter()
            .zip(&pcols)
            .map(|(c, p)| format!("p.{} = c.{}", qi(p), qi(c)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let cond = format!(
            "{all_set} AND NOT EXISTS (SELECT 1 FROM {}.{} p WHERE {join})",
            qi(&ps),
            qi(&pt)
        );
        let key = if ccols.len() == 1 {
            format!("c.{}", qi(&ccols[0]))
        } else {
            format!(
                "CONCAT('(', CONCAT_WS(', ', {}), ')')",
                ccols
                    .iter()
                    .map(|c| format!("c.{}", qi(c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let child = format!("{}.{}", qi(&cs), qi(&ct));
        let sql = format!(
            "SELECT COUNT(*), CAST(MIN({key}) AS CHAR), CAST(MAX({key}) AS CHAR) FROM {child} c WHERE {cond}"
        );
        let inspect = format!("SELECT c.* FROM {child} c WHERE {cond} LIMIT 100");
        let child_size = sizes
            .get(&(cs.clone(), ct.clone()))
            .copied()
            .unwrap_or_default();
        let parent_size = sizes
            .get(&(ps.clone(), pt.clone()))
            .copied()
            .unwrap_or_default();
        let object = format!("{ct}.{name}");
        let obj = object.clone();
        let cols_shown = ccols.join(", ");
        let parent_shown = if ps == cs {
            pt.clone()
        } else {
            format!("{ps}.{pt}")
        };
        out.push(Planned::Run(Check::query(
            "fk-orphans",
            object,
            Level::Standard,
            CostClass::Scan,
            estimate::anti_join(child_size, parent_size),
            sql,
            Box::new(move |rows| {
                let n: u64 = first_value(rows).and_then(|v| v.parse().ok()).unwrap_or(0);
                if n == 0 {
                    return Vec::new();
                }
                let (lo, hi) = rows.first().map(|r| (col(r, 1).to_string(), col(r, 2).to_string())).unwrap_or_default();
                let range = if lo == hi { lo } else { format!("{lo}, {hi}") };
                vec![Problem {
                    check: "fk-orphans",
                    severity: Severity::Error,
                    object: obj.clone(),
                    message: format!("{n} rows of {ct} reference {parent_shown} rows that do not exist ({cols_shown})"),
                    evidence: format!("{n} orphan rows, e.g. {cols_shown} = {range}; InnoDB never re-checks rows written with foreign_key_checks = 0 (dumps and bulk loads)"),
                    count: Some(n),
                    fix: format!("Insert the missing {parent_shown} rows or delete/NULL the orphans (see the inspect SQL)"),
                    inspect_sql: Some(inspect.clone()),
                }]
            }),
        )));
    }
    Ok(out)
}

async fn auto_increments(conn: &mut Conn) -> Result<Vec<Planned>, EngineError> {
    let rows = catalog_query(conn, "auto-increment columns", "SELECT CAST(c.table_name AS CHAR), CAST(c.column_name AS CHAR) FROM information_schema.columns c \
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = DATABASE() AND t.table_type = 'BASE TABLE' AND c.extra LIKE '%auto_increment%' ORDER BY 1")
    .await?;
    Ok(rows
        .iter()
        .map(|r| Planned::Run(auto_increment_check(col(r, 0), col(r, 1))))
        .collect())
}

fn auto_increment_check(table: &str, column: &str) -> Check {
    let (table, column) = (table.to_string(), column.to_string());
    // AUTO_INCREMENT columns lead an index, so MAX() is an index probe
    let sql = format!(
        "SELECT CAST(t.auto_increment AS CHAR), (SELECT CAST(MAX({}) AS CHAR) FROM {}) FROM information_schema.tables t WHERE t.table_schema = DATABASE() AND t.table_name = {}",
        qi(&column),
        qi(&table),
        lit(&table)
    );
    let inspect = sql.clone();
    let obj = format!("{table}.{column}");
    let tq = qi(&table);
    Check::query(
        "auto-increment-behind",
        obj.clone(),
        Level::Standard,
        CostClass::Probe,
        estimate::PROBE,
        sql,
        Box::new(move |rows| {
            let Some(r) = rows.first() else {
                return Vec::new();
            };
            let (Ok(next), Ok(max)) = (col(r, 0).parse::<u128>(), col(r, 1).parse::<u128>()) else {
                return Vec::new();
            };
            if next > max {
                return Vec::new();
            }
            vec![Problem {
                check: "auto-increment-behind",
                severity: Severity::Error,
                object: obj.clone(),
                message: format!(
                    "the AUTO_INCREMENT counter of {obj} ({next}) is not above the column's max ({max}): inserts collide"
                ),
                evidence: format!("AUTO_INCREMENT = {next}, MAX = {max}"),
                count: Some((max - next + 1).min(u64::MAX as u128) as u64),
                fix: format!("ALTER TABLE {tq} AUTO_INCREMENT = {}", max + 1),
                inspect_sql: Some(inspect.clone()),
            }]
        }),
    )
}

fn check_table(table: &str, size: TableSize) -> Check {
    let shown = table.to_string();
    let mut c = Check::query(
        "check-table",
        shown.clone(),
        Level::Deep,
        CostClass::Scan,
        estimate::scan(size) * 2,
        format!("CHECK TABLE {}", qi(table)),
        Box::new(move |rows| {
            rows.iter()
                .filter_map(|r| {
                    // Table, Op, Msg_type, Msg_text
                    let (kind, text) = (col(r, 2).to_ascii_lowercase(), col(r, 3));
                    let severity = match kind.as_str() {
                        "error" => Severity::Error,
                        "warning" => Severity::Warning,
                        "status" if !text.eq_ignore_ascii_case("ok") && !text.contains("up to date") => Severity::Error,
                        _ => return None,
                    };
                    Some(Problem {
                        check: "check-table",
                        severity,
                        object: shown.clone(),
                        message: format!("CHECK TABLE {shown} reports {kind}: {text}"),
                        evidence: format!("{}: {} {}: {}", col(r, 0), col(r, 1), col(r, 2), text),
                        count: None,
                        fix: "Rebuild the table (ALTER TABLE … FORCE, or OPTIMIZE TABLE) and re-run; if errors persist, restore it from a verified backup".into(),
                        inspect_sql: Some(format!("CHECK TABLE {} EXTENDED", qi(&shown))),
                    })
                })
                .collect()
        }),
    );
    // CHECK TABLE commits implicitly, so it runs outside a transaction (it reads only)
    c.mode = ExecMode::NoTransaction;
    c
}

#[async_trait::async_trait]
impl crate::engines::integrity::IntegrityEngine for super::Mysql {
    async fn session_start(&self, conn: &mut Conn) -> Result<Session, EngineError> {
        session_start(conn).await
    }
    async fn begin(
        &self,
        conn: &mut Conn,
        session: &Session,
        mode: &ExecMode,
        timeout: Duration,
    ) -> Result<(), DbFailure> {
        begin(conn, session, mode, timeout).await
    }
    async fn end(&self, conn: &mut Conn, mode: &ExecMode) {
        end(conn, mode).await
    }
    fn classify(&self, e: &sqlx::Error) -> DbFailure {
        classify(e)
    }
    async fn plan(
        &self,
        conn: &mut Conn,
        ctx: &PlanContext<'_>,
    ) -> Result<EnginePlan, EngineError> {
        plan(conn, ctx).await
    }
    async fn query_no_transaction(
        &self,
        conn: &mut Conn,
        sql: &str,
    ) -> Result<Vec<TextRow>, DbFailure> {
        query_unprepared(conn, sql).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_restored_values() {
        assert_eq!(qi("a`b"), "`a``b`");
        assert_eq!(lit("a'b\\"), "'a''b\\\\'");
        assert_eq!(number("31536000"), "31536000");
        assert_eq!(number("0.500000"), "0.500000");
        assert_eq!(number("1; DROP TABLE x"), "1");
        assert_eq!(number(""), "0");
    }

    #[test]
    fn check_table_messages_become_problems() {
        let c = check_table("t", TableSize::default());
        let crate::engines::integrity::Exec::Query { judge, .. } = &c.exec else {
            panic!()
        };
        let row = |t: &str, m: &str| {
            vec![
                Some("app.t".to_string()),
                Some("check".to_string()),
                Some(t.to_string()),
                Some(m.to_string()),
            ]
        };
        assert!(judge(&[row("status", "OK")]).is_empty());
        let p = judge(&[
            row("warning", "Size of datafile is: 1 Should be: 2"),
            row("error", "Corrupt"),
            row("status", "Operation failed"),
        ]);
        assert_eq!(
            p.iter().map(|p| p.severity).collect::<Vec<_>>(),
            [Severity::Warning, Severity::Error, Severity::Error]
        );
        assert_eq!(c.mode, ExecMode::NoTransaction);
    }

    #[test]
    fn auto_increment_at_or_below_max_is_a_collision() {
        let c = auto_increment_check("orders", "id");
        let crate::engines::integrity::Exec::Query { judge, sql } = &c.exec else {
            panic!()
        };
        assert!(
            sql.contains("MAX(`id`)") && sql.contains("t.table_name = 'orders'"),
            "{sql}"
        );
        let row = |a: &str, m: &str| vec![vec![Some(a.to_string()), Some(m.to_string())]];
        assert!(judge(&row("101", "100")).is_empty());
        let p = judge(&row("50", "100"));
        assert_eq!((p.len(), p[0].count), (1, Some(51)));
        assert_eq!(p[0].fix, "ALTER TABLE `orders` AUTO_INCREMENT = 101");
        // empty table (MAX is NULL): nothing to collide with
        assert!(judge(&[vec![Some("1".into()), None]]).is_empty());
    }
}
