//! PostgreSQL integrity checks (`migsafe integrity-check`): invalid indexes, NOT VALID
//! constraints and their violations, FK orphans, sequences behind their column, duplicates under
//! invalid unique indexes, tables without a primary key, checksum failures and amcheck. Each check
//! is one read-only statement planned from the catalog; see `crate::engines::integrity` for the model.

use crate::engines::EngineError;
use crate::engines::conn::Conn;
use crate::engines::integrity::{
    Check, CostClass, DbFailure, EnginePlan, ExecMode, FailureKind, Level, NotRun, NotRunReason,
    PlanContext, Planned, Problem, Session, Severity, Sizes, TableSize, catalog_query, col,
    display_name, estimate, first_value,
};
use std::time::Duration;

const USER_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'";

fn ms(d: Duration) -> u128 {
    d.as_millis().max(1)
}

/// Nothing to change on the session: every setting is `SET LOCAL` inside the check's transaction.
pub async fn session_start(_conn: &mut Conn) -> Result<Session, EngineError> {
    Ok(Session::new(Vec::new()))
}

/// `BEGIN READ ONLY` with the statement and lock timeouts; for amcheck without the extension, a
/// read-write transaction that creates it, then turns read-only (and is rolled back).
pub async fn begin(conn: &mut Conn, mode: &ExecMode, timeout: Duration) -> Result<(), DbFailure> {
    // a lock wait is not what the budget is for: give up early and report the check as not run
    let lock = timeout.min(Duration::from_secs(5));
    let timeouts = format!(
        "SET LOCAL statement_timeout = '{}ms'; SET LOCAL lock_timeout = '{}ms'",
        ms(timeout),
        ms(lock)
    );
    let sql = match mode {
        ExecMode::WithExtension(create) => {
            format!("BEGIN; {create}; SET LOCAL transaction_read_only = on; {timeouts}")
        }
        _ => format!("BEGIN TRANSACTION READ ONLY; {timeouts}"),
    };
    if let Err(e) = conn.execute(&sql).await {
        let _ = conn.execute("ROLLBACK").await;
        return Err(classify(&e));
    }
    Ok(())
}

pub async fn end(conn: &mut Conn, _mode: &ExecMode) {
    let _ = conn.execute("ROLLBACK").await;
}

/// SQLSTATE → what the run does with the failure.
pub fn classify(e: &sqlx::Error) -> DbFailure {
    let (code, message) = match e {
        sqlx::Error::Database(db) => (
            db.code().map(|c| c.to_string()).unwrap_or_default(),
            db.message().to_string(),
        ),
        other => (String::new(), other.to_string()),
    };
    let kind = match code.as_str() {
        "57014" => FailureKind::Timeout,
        "55P03" => FailureKind::LockTimeout,
        // permission, undefined table/column/function, feature not supported, object in use
        "42501" | "42P01" | "42703" | "42883" | "0A000" | "58P01" => FailureKind::Unavailable,
        "XX001" | "XX002" => FailureKind::Corruption,
        _ => FailureKind::Other,
    };
    DbFailure {
        kind,
        message: if code.is_empty() {
            message
        } else {
            format!("{message} (SQLSTATE {code})")
        },
    }
}

use crate::sql::quote::double_quoted as qi;

fn qn(schema: &str, name: &str) -> String {
    format!("{}.{}", qi(schema), qi(name))
}

use crate::sql::quote::standard_literal as lit;

fn parse_u64(s: &str) -> Option<u64> {
    s.parse::<f64>()
        .ok()
        .filter(|v| *v >= 0.0)
        .map(|v| v as u64)
}

fn json_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

/// Sizes of every user table (partitioned tables: the sum of their leaves). Analyzed tables use
/// `relpages` (what the planner works from) instead of stat'ing every file: on 1,000 tables that
/// is the difference between a few milliseconds and ~60 ms on a cold backend.
async fn sizes(conn: &mut Conn) -> Result<Sizes, EngineError> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, \
           (CASE WHEN c.relkind = 'p' THEN (SELECT COALESCE(sum(pg_relation_size(p.relid)), 0) FROM pg_partition_tree(c.oid) p) \
                 WHEN c.reltuples >= 0 THEN c.relpages::bigint * current_setting('block_size')::bigint \
                 ELSE pg_relation_size(c.oid) END)::text, \
           (CASE WHEN c.relkind = 'p' THEN (SELECT COALESCE(sum(greatest(pc.reltuples, 0)), 0) FROM pg_partition_tree(c.oid) p JOIN pg_class pc ON pc.oid = p.relid WHERE p.isleaf) ELSE c.reltuples END)::bigint::text \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMAS}"
    );
    let rows = catalog_query(conn, "table sizes", &sql).await?;
    Ok(rows
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
                    bytes: parse_u64(col(r, 2)).unwrap_or(0),
                    rows,
                },
            )
        })
        .collect())
}

pub async fn plan(conn: &mut Conn, ctx: &PlanContext<'_>) -> Result<EnginePlan, EngineError> {
    let version = catalog_query(
        conn,
        "server version",
        "SELECT current_setting('server_version'), current_setting('data_checksums')",
    )
    .await?;
    let server_version = version
        .first()
        .map(|r| col(r, 0).to_string())
        .unwrap_or_default();
    let checksums_on = version.first().is_some_and(|r| col(r, 1) == "on");
    let sizes = sizes(conn).await?;
    let mut planned = Vec::new();
    if ctx.wants("invalid-index") {
        planned.push(Planned::Run(invalid_indexes()));
    }
    if ctx.wants("not-valid-constraint") {
        planned.push(Planned::Run(not_valid_constraints()));
    }
    if ctx.wants("missing-primary-key") {
        planned.push(Planned::Run(missing_primary_keys()));
    }
    if ctx.wants("checksum-failures") {
        planned.push(if checksums_on {
            Planned::Run(checksum_failures())
        } else {
            Planned::Skip(NotRun {
                check: "checksum-failures",
                object: "cluster".into(),
                level: Level::Catalog,
                cost: CostClass::Catalog,
                reason: NotRunReason::Unavailable,
                detail: "data checksums are off on this cluster, so damaged pages go undetected (enable with pg_checksums --enable while the server is stopped)".into(),
                estimate: Some(estimate::CATALOG),
            })
        });
    }
    if ctx.wants("fk-orphans") {
        planned.extend(fk_orphans(conn, &sizes).await?);
    }
    if ctx.wants("check-violations") {
        planned.extend(check_violations(conn, &sizes).await?);
    }
    if ctx.wants("sequence-behind") {
        planned.extend(sequences(conn, &sizes).await?);
    }
    if ctx.wants("unique-duplicates") {
        planned.extend(unique_duplicates(conn, &sizes).await?);
    }
    if ctx.wants("amcheck") {
        planned.extend(amcheck(conn, ctx, &sizes).await?);
    }
    Ok(EnginePlan {
        server_version,
        planned,
        sizes,
    })
}

fn catalog_check(id: &'static str, sql: String, judge: crate::engines::integrity::Judge) -> Check {
    Check::query(
        id,
        "database",
        Level::Catalog,
        CostClass::Catalog,
        estimate::CATALOG,
        sql,
        judge,
    )
}

fn invalid_indexes() -> Check {
    // toast indexes are included: a failed REINDEX CONCURRENTLY leaves invalid `_ccnew` ones there
    let sql = "SELECT n.nspname::text, ic.relname::text, tn.nspname::text, tc.relname::text, i.indisvalid::text, i.indisready::text, \
                      pg_get_indexdef(i.indexrelid), ic.relkind::text, \
                      EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid)::text \
               FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace \
               JOIN pg_class tc ON tc.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace \
               WHERE (NOT i.indisvalid OR NOT i.indisready) AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_temp%' \
               ORDER BY 1, 2"
        .to_string();
    catalog_check(
        "invalid-index",
        sql,
        Box::new(|rows| {
            rows.iter()
                .map(|r| {
                    let index = qn(col(r, 0), col(r, 1));
                    let table = display_name(col(r, 2), col(r, 3));
                    let (valid, ready, def, partitioned, building) = (col(r, 4) == "true", col(r, 5) == "true", col(r, 6), col(r, 7) == "I", col(r, 8) == "true");
                    let state = match (valid, ready) {
                        (false, false) => "not valid and not ready (writes do not maintain it)",
                        (false, true) => "not valid (the planner ignores it, writes still maintain it)",
                        _ => "not ready",
                    };
                    let (severity, message, fix) = if building {
                        (Severity::Warning, format!("index {index} on {table} is being built right now ({state})"), "Wait for the CREATE INDEX CONCURRENTLY to finish and run the check again".to_string())
                    } else if partitioned {
                        (
                            Severity::Error,
                            format!("partitioned index {index} on {table} is {state}: some partitions have no attached index"),
                            format!("Create the missing partition indexes (CONCURRENTLY) and ALTER INDEX {index} ATTACH PARTITION each of them"),
                        )
                    } else {
                        (
                            Severity::Error,
                            format!("index {index} on {table} is {state}, typically left by a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY"),
                            format!("DROP INDEX CONCURRENTLY {index}; then build it again: {}", def.replacen("CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1).replacen("CREATE UNIQUE INDEX", "CREATE UNIQUE INDEX CONCURRENTLY", 1)),
                        )
                    };
                    Problem {
                        check: "invalid-index",
                        severity,
                        object: display_name(col(r, 0), col(r, 1)),
                        message,
                        evidence: format!("pg_index: indisvalid = {valid}, indisready = {ready}; {def}"),
                        count: None,
                        fix,
                        inspect_sql: Some(format!("SELECT indexrelid::regclass, indrelid::regclass, indisvalid, indisready FROM pg_index WHERE indexrelid = {}::regclass", lit(&index))),
                    }
                })
                .collect()
        }),
    )
}

fn not_valid_constraints() -> Check {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, co.conname::text, co.contype::text, pg_get_constraintdef(co.oid) \
         FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT co.convalidated AND co.contype IN ('c', 'f') AND {USER_SCHEMAS} ORDER BY 1, 2, 3"
    );
    catalog_check(
        "not-valid-constraint",
        sql,
        Box::new(|rows| {
            rows.iter()
                .map(|r| {
                    let table = qn(col(r, 0), col(r, 1));
                    let what = if col(r, 3) == "f" { "foreign key" } else { "CHECK constraint" };
                    let check = if col(r, 3) == "f" { "fk-orphans" } else { "check-violations" };
                    Problem {
                        check: "not-valid-constraint",
                        severity: Severity::Warning,
                        object: format!("{}.{}", display_name(col(r, 0), col(r, 1)), col(r, 2)),
                        message: format!("{what} {} on {} is NOT VALID: rows written before it was added were never checked", col(r, 2), display_name(col(r, 0), col(r, 1))),
                        evidence: format!("pg_constraint.convalidated = false: {}", col(r, 4)),
                        count: None,
                        fix: format!("See the {check} check (level standard) for violating rows; once there are none: ALTER TABLE {table} VALIDATE CONSTRAINT {} (SHARE UPDATE EXCLUSIVE: reads and writes continue)", qi(col(r, 2))),
                        inspect_sql: Some(format!("SELECT conname, convalidated, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = {}::regclass AND NOT convalidated", lit(&table))),
                    }
                })
                .collect()
        }),
    )
}

fn missing_primary_keys() -> Check {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND {USER_SCHEMAS} \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint co WHERE co.conrelid = c.oid AND co.contype = 'p') \
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') \
         ORDER BY 1, 2"
    );
    catalog_check(
        "missing-primary-key",
        sql,
        Box::new(|rows| {
            rows.iter()
                .map(|r| {
                    let table = display_name(col(r, 0), col(r, 1));
                    Problem {
                        check: "missing-primary-key",
                        severity: Severity::Info,
                        object: table.clone(),
                        message: format!("table {table} has no primary key"),
                        evidence: "no PRIMARY KEY constraint in pg_constraint".into(),
                        count: None,
                        fix: format!("Add one (build a unique index CONCURRENTLY, then ALTER TABLE {} ADD PRIMARY KEY USING INDEX …): without it duplicate rows cannot be told apart and logical replication cannot replicate UPDATE/DELETE", qn(col(r, 0), col(r, 1))),
                        inspect_sql: None,
                    }
                })
                .collect()
        }),
    )
}

fn checksum_failures() -> Check {
    // the row with a NULL datname counts failures in shared catalogs
    let sql = "SELECT COALESCE(sum(checksum_failures), 0)::text, max(checksum_last_failure)::text FROM pg_stat_database WHERE datname = current_database() OR datname IS NULL".to_string();
    catalog_check(
        "checksum-failures",
        sql.clone(),
        Box::new(move |rows| {
            let n: u64 = first_value(rows).and_then(|v| v.parse().ok()).unwrap_or(0);
            if n == 0 {
                return Vec::new();
            }
            let last = rows
                .first()
                .map(|r| col(r, 1).to_string())
                .unwrap_or_default();
            vec![Problem {
                check: "checksum-failures",
                severity: Severity::Error,
                object: "database".into(),
                message: format!("the server has seen {n} data page checksum failures in this database"),
                evidence: format!("pg_stat_database.checksum_failures = {n}, last at {last}"),
                count: Some(n),
                fix: "Pages were damaged on disk: find them in the server log (\"page verification failed\"), check the storage, and restore the affected tables from a verified backup".into(),
                inspect_sql: Some(sql.clone()),
            }]
        }),
    )
}

fn size_of(sizes: &Sizes, schema: &str, table: &str) -> TableSize {
    sizes
        .get(&(schema.to_string(), table.to_string()))
        .copied()
        .unwrap_or_default()
}

/// One anti-join per foreign key (constraints inherited by partitions are checked once, through
/// the partitioned table).
async fn fk_orphans(conn: &mut Conn, sizes: &Sizes) -> Result<Vec<Planned>, EngineError> {
    let sql = "SELECT cn.nspname::text, cc.relname::text, cc.relkind::text, co.conname::text, pn.nspname::text, pc.relname::text, pc.relkind::text, \
                      co.confmatchtype::text, co.convalidated::text, \
                      (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(co.conkey) WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.attnum)::text, \
                      (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(co.confkey) WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k.attnum)::text \
               FROM pg_constraint co JOIN pg_class cc ON cc.oid = co.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace \
               JOIN pg_class pc ON pc.oid = co.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace \
               WHERE co.contype = 'f' AND co.conparentid = 0 AND cn.nspname NOT IN ('pg_catalog', 'information_schema') \
               ORDER BY 1, 2, 4";
    let rows = catalog_query(conn, "foreign keys", sql).await?;
    let mut out = Vec::new();
    for r in &rows {
        let (cs, ct, ckind, name, ps, pt, pkind) = (
            col(r, 0),
            col(r, 1),
            col(r, 2),
            col(r, 3),
            col(r, 4),
            col(r, 5),
            col(r, 6),
        );
        let match_full = col(r, 7) == "f";
        let validated = col(r, 8) == "true";
        let (ccols, pcols) = (json_list(col(r, 9)), json_list(col(r, 10)));
        if ccols.is_empty() || ccols.len() != pcols.len() {
            continue;
        }
        // FKs are checked against ONLY the referenced table, like PostgreSQL's RI triggers do
        let child = format!("{}{}", if ckind == "p" { "" } else { "ONLY " }, qn(cs, ct));
        let parent = format!("{}{}", if pkind == "p" { "" } else { "ONLY " }, qn(ps, pt));
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
        let mut cond = format!("{all_set} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {join})");
        if match_full && ccols.len() > 1 {
            let list = ccols
                .iter()
                .map(|c| format!("c.{}", qi(c)))
                .collect::<Vec<_>>()
                .join(", ");
            cond = format!(
                "(({cond}) OR num_nulls({list}) BETWEEN 1 AND {})",
                ccols.len() - 1
            );
        }
        let key = if ccols.len() == 1 {
            format!("c.{}::text", qi(&ccols[0]))
        } else {
            format!(
                "ROW({})::text",
                ccols
                    .iter()
                    .map(|c| format!("c.{}", qi(c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let sql = format!("SELECT count(*), min({key}), max({key}) FROM {child} c WHERE {cond}");
        let inspect = format!("SELECT c.* FROM {child} c WHERE {cond} LIMIT 100");
        let est = estimate::anti_join(size_of(sizes, cs, ct), size_of(sizes, ps, pt));
        let child_shown = display_name(cs, ct);
        let parent_shown = display_name(ps, pt);
        let object = format!("{child_shown}.{name}");
        let cols_shown = ccols.join(", ");
        let alter = format!(
            "ALTER TABLE {} VALIDATE CONSTRAINT {}",
            qn(cs, ct),
            qi(name)
        );
        let obj = object.clone();
        out.push(Planned::Run(Check::query(
            "fk-orphans",
            object,
            Level::Standard,
            CostClass::Scan,
            est,
            sql,
            Box::new(move |rows| {
                let n: u64 = first_value(rows).and_then(|v| v.parse().ok()).unwrap_or(0);
                if n == 0 {
                    return Vec::new();
                }
                let (lo, hi) = rows.first().map(|r| (col(r, 1).to_string(), col(r, 2).to_string())).unwrap_or_default();
                let range = if lo == hi { lo } else { format!("{lo}, {hi}") };
                let how = if validated {
                    "the constraint is valid, so these rows bypassed it (loaded with session_replication_role = replica or triggers disabled)"
                } else {
                    "the constraint is NOT VALID, so they were never checked"
                };
                vec![Problem {
                    check: "fk-orphans",
                    severity: Severity::Error,
                    object: obj.clone(),
                    message: format!("{n} rows of {child_shown} reference {parent_shown} rows that do not exist ({cols_shown})"),
                    evidence: format!("{n} orphan rows, e.g. {cols_shown} = {range}; {how}"),
                    count: Some(n),
                    fix: format!("Insert the missing {parent_shown} rows or delete/NULL the orphans (see the inspect SQL){}", if validated { String::new() } else { format!(", then {alter}") }),
                    inspect_sql: Some(inspect.clone()),
                }]
            }),
        )));
    }
    Ok(out)
}

/// Rows violating NOT VALID CHECK constraints (inherited copies are skipped: scanning the parent
/// without ONLY covers its children).
async fn check_violations(conn: &mut Conn, sizes: &Sizes) -> Result<Vec<Planned>, EngineError> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, c.relkind::text, co.conname::text, pg_get_expr(co.conbin, co.conrelid), co.connoinherit::text \
         FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT co.convalidated AND co.contype = 'c' AND co.conislocal AND {USER_SCHEMAS} ORDER BY 1, 2, 4"
    );
    let rows = catalog_query(conn, "NOT VALID check constraints", &sql).await?;
    let mut out = Vec::new();
    for r in &rows {
        let (s, tb, name, expr) = (col(r, 0), col(r, 1), col(r, 3), col(r, 4).to_string());
        let only = if col(r, 5) == "true" { "ONLY " } else { "" };
        let target = format!("{only}{}", qn(s, tb));
        // a CHECK passes when its expression is true or NULL
        let sql = format!("SELECT count(*) FROM {target} WHERE ({expr}) IS FALSE");
        let inspect = format!("SELECT * FROM {target} WHERE ({expr}) IS FALSE LIMIT 100");
        let alter = format!("ALTER TABLE {} VALIDATE CONSTRAINT {}", qn(s, tb), qi(name));
        let table = display_name(s, tb);
        let object = format!("{table}.{name}");
        let obj = object.clone();
        let cname = name.to_string();
        out.push(Planned::Run(Check::query(
            "check-violations",
            object,
            Level::Standard,
            CostClass::Scan,
            estimate::scan(size_of(sizes, s, tb)),
            sql,
            Box::new(move |rows| {
                let n: u64 = first_value(rows).and_then(|v| v.parse().ok()).unwrap_or(0);
                if n == 0 {
                    return Vec::new();
                }
                vec![Problem {
                    check: "check-violations",
                    severity: Severity::Error,
                    object: obj.clone(),
                    message: format!(
                        "{n} rows of {table} violate the NOT VALID constraint {cname}"
                    ),
                    evidence: format!("{n} rows where CHECK {expr} is false"),
                    count: Some(n),
                    fix: format!("Repair or delete those rows (see the inspect SQL), then {alter}"),
                    inspect_sql: Some(inspect.clone()),
                }]
            }),
        )));
    }
    Ok(out)
}

/// Sequences owned by (or used in the default of) an integer column, compared with that column's
/// max (min for descending sequences).
async fn sequences(conn: &mut Conn, sizes: &Sizes) -> Result<Vec<Planned>, EngineError> {
    let sql = "WITH feeds AS ( \
                 SELECT d.objid AS seq, d.refobjid AS rel, d.refobjsubid AS attnum FROM pg_depend d JOIN pg_sequence q ON q.seqrelid = d.objid \
                 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0 \
                 UNION \
                 SELECT d.refobjid, ad.adrelid, ad.adnum FROM pg_depend d JOIN pg_sequence q ON q.seqrelid = d.refobjid JOIN pg_attrdef ad ON ad.oid = d.objid \
                 WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass) \
               SELECT sn.nspname::text, sc.relname::text, tn.nspname::text, tc.relname::text, a.attname::text, s.seqincrement::text, \
                      EXISTS (SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam \
                              WHERE i.indrelid = tc.oid AND i.indkey[0] = a.attnum AND i.indisvalid AND i.indpred IS NULL AND am.amname = 'btree')::text \
               FROM feeds f JOIN pg_sequence s ON s.seqrelid = f.seq \
               JOIN pg_class sc ON sc.oid = f.seq JOIN pg_namespace sn ON sn.oid = sc.relnamespace \
               JOIN pg_class tc ON tc.oid = f.rel JOIN pg_namespace tn ON tn.oid = tc.relnamespace \
               JOIN pg_attribute a ON a.attrelid = f.rel AND a.attnum = f.attnum \
               WHERE tc.relkind IN ('r', 'p') AND NOT tc.relispartition AND NOT a.attisdropped \
                 AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) \
                 AND tn.nspname NOT IN ('pg_catalog', 'information_schema') \
               ORDER BY 1, 2, 3, 4, 5";
    let rows = catalog_query(conn, "sequences", sql).await?;
    let mut out = Vec::new();
    for r in &rows {
        let (ss, sq, ts, tb, column) = (
            col(r, 0),
            col(r, 1),
            col(r, 2),
            col(r, 3),
            col(r, 4).to_string(),
        );
        let inc: i128 = col(r, 5).parse().unwrap_or(1);
        let indexed = col(r, 6) == "true";
        let agg = if inc >= 0 { "max" } else { "min" };
        let seq = qn(ss, sq);
        let table = qn(ts, tb);
        let sql = format!(
            "SELECT s.last_value::text, s.is_called::text, (SELECT {agg}(t.{}) FROM {table} t)::text FROM {seq} s",
            qi(&column)
        );
        let (cost, est) = if indexed {
            (CostClass::Probe, estimate::PROBE)
        } else {
            (CostClass::Scan, estimate::scan(size_of(sizes, ts, tb)))
        };
        let seq_shown = display_name(ss, sq);
        let col_shown = format!("{}.{column}", display_name(ts, tb));
        let fix = if inc >= 0 {
            format!(
                "SELECT setval({}, (SELECT max({}) FROM {table}));",
                lit(&seq),
                qi(&column)
            )
        } else {
            format!(
                "SELECT setval({}, (SELECT min({}) FROM {table}));",
                lit(&seq),
                qi(&column)
            )
        };
        let inspect = sql.clone();
        let obj = seq_shown.clone();
        out.push(Planned::Run(Check::query(
            "sequence-behind",
            seq_shown,
            Level::Standard,
            cost,
            est,
            sql,
            Box::new(move |rows| {
                let Some(r) = rows.first() else { return Vec::new() };
                let (Ok(last), Ok(extreme)) = (col(r, 0).parse::<i128>(), col(r, 2).parse::<i128>()) else {
                    return Vec::new(); // empty table: nothing to collide with
                };
                let next = if col(r, 1) == "true" { last + inc } else { last };
                let behind = if inc >= 0 { next <= extreme } else { next >= extreme };
                if !behind {
                    return Vec::new();
                }
                let gap = (extreme - next).unsigned_abs() + 1;
                vec![Problem {
                    check: "sequence-behind",
                    severity: Severity::Error,
                    object: obj.clone(),
                    message: format!("sequence {obj} will hand out {next}, but {col_shown} already holds values up to {extreme}: inserts without an explicit value collide"),
                    evidence: format!("next value {next}, {agg}({col_shown}) = {extreme}: the next {gap} generated values are taken"),
                    count: Some(gap.min(u64::MAX as u128) as u64),
                    fix: fix.clone(),
                    inspect_sql: Some(inspect.clone()),
                }]
            }),
        )));
    }
    Ok(out)
}

/// Duplicate keys under invalid unique indexes: the usual reason a CREATE UNIQUE INDEX
/// CONCURRENTLY failed, and what must be cleaned up before it can be built.
async fn unique_duplicates(conn: &mut Conn, sizes: &Sizes) -> Result<Vec<Planned>, EngineError> {
    // to_jsonb(i) reads indnullsnotdistinct where it exists (PG 15+) without failing before
    let sql = "SELECT n.nspname::text, ic.relname::text, tn.nspname::text, tc.relname::text, \
                      (SELECT json_agg(pg_get_indexdef(i.indexrelid, k, true) ORDER BY k) FROM generate_series(1, i.indnkeyatts) k)::text, \
                      pg_get_expr(i.indpred, i.indrelid), COALESCE(to_jsonb(i) ->> 'indnullsnotdistinct', 'false') \
               FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace \
               JOIN pg_class tc ON tc.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace \
               WHERE i.indisunique AND NOT i.indisvalid AND ic.relkind = 'i' AND tc.relkind = 'r' \
                 AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
               ORDER BY 1, 2";
    let rows = catalog_query(conn, "invalid unique indexes", sql).await?;
    let mut out = Vec::new();
    for r in &rows {
        let (is, iname, ts, tb) = (col(r, 0), col(r, 1), col(r, 2), col(r, 3));
        let keys = json_list(col(r, 4));
        if keys.is_empty() {
            continue;
        }
        let pred = col(r, 5);
        let nulls_distinct = col(r, 6) != "true";
        let mut filters: Vec<String> = Vec::new();
        if !pred.is_empty() {
            filters.push(format!("({pred})"));
        }
        if nulls_distinct {
            filters.extend(keys.iter().map(|k| format!("({k}) IS NOT NULL")));
        }
        let filter = if filters.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", filters.join(" AND "))
        };
        let group = keys
            .iter()
            .map(|k| format!("({k})"))
            .collect::<Vec<_>>()
            .join(", ");
        let key = if keys.len() == 1 {
            format!("({})::text", keys[0])
        } else {
            format!("ROW({group})::text")
        };
        let table = format!("ONLY {}", qn(ts, tb));
        let sql = format!(
            "SELECT count(*), COALESCE(sum(d.n), 0)::text, min(d.k) FROM (SELECT {key} AS k, count(*) AS n FROM {table}{filter} GROUP BY {group} HAVING count(*) > 1) d"
        );
        let inspect = format!(
            "SELECT {key} AS key, count(*) FROM {table}{filter} GROUP BY {group} HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 20"
        );
        let index = display_name(is, iname);
        let index_q = qn(is, iname);
        let table_shown = display_name(ts, tb);
        let obj = index.clone();
        out.push(Planned::Run(Check::query(
            "unique-duplicates",
            index,
            Level::Standard,
            CostClass::Scan,
            estimate::group(size_of(sizes, ts, tb)),
            sql,
            Box::new(move |rows| {
                let keys: u64 = first_value(rows).and_then(|v| v.parse().ok()).unwrap_or(0);
                if keys == 0 {
                    return Vec::new();
                }
                let (total, sample) = rows.first().map(|r| (col(r, 1).to_string(), col(r, 2).to_string())).unwrap_or_default();
                vec![Problem {
                    check: "unique-duplicates",
                    severity: Severity::Error,
                    object: obj.clone(),
                    message: format!("{keys} keys of the invalid unique index {obj} occur more than once in {table_shown}"),
                    evidence: format!("{keys} duplicated keys over {total} rows, e.g. {sample}"),
                    count: Some(keys),
                    fix: format!("Remove the duplicates (keep one row per key), then DROP INDEX CONCURRENTLY {index_q} and create it again CONCURRENTLY"),
                    inspect_sql: Some(inspect.clone()),
                }]
            }),
        )));
    }
    Ok(out)
}

/// amcheck's bt_index_check on every valid B-tree index, when the extension is installed or can be
/// created (inside a transaction that is rolled back, so it never stays behind).
async fn amcheck(
    conn: &mut Conn,
    ctx: &PlanContext<'_>,
    sizes: &Sizes,
) -> Result<Vec<Planned>, EngineError> {
    // toast indexes count only for user tables' toast (found by a hash join on reltoastrelid,
    // which has no index: a correlated subquery there is quadratic in the number of tables)
    let sql = "SELECT n.nspname::text, ic.relname::text, tn.nspname::text, tc.relname::text, \
                      (CASE WHEN ic.relpages > 0 THEN ic.relpages::bigint * current_setting('block_size')::bigint ELSE pg_relation_size(ic.oid) END)::text \
               FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam \
               JOIN pg_namespace n ON n.oid = ic.relnamespace JOIN pg_class tc ON tc.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace \
               LEFT JOIN pg_class o ON n.nspname = 'pg_toast' AND o.reltoastrelid = tc.oid LEFT JOIN pg_namespace ons ON ons.oid = o.relnamespace \
               WHERE am.amname = 'btree' AND ic.relkind = 'i' AND i.indisvalid AND i.indisready AND ic.relpersistence <> 't' \
                 AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%' \
                 AND (n.nspname <> 'pg_toast' OR ons.nspname NOT IN ('pg_catalog', 'information_schema')) \
               ORDER BY 1, 2";
    let indexes = catalog_query(conn, "B-tree indexes", sql).await?;
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let ext = catalog_query(conn, "amcheck extension", "SELECT (SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'amcheck'), \
                EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck')::text")
    .await?;
    let r = ext.first().cloned().unwrap_or_default();
    let (installed_schema, available) = (col(&r, 0).to_string(), col(&r, 1) == "true");
    let (mode, func): (ExecMode, String) = if !installed_schema.is_empty() {
        (
            ExecMode::ReadOnly,
            format!("{}.bt_index_check", qi(&installed_schema)),
        )
    } else if available {
        (
            ExecMode::WithExtension("CREATE EXTENSION amcheck".into()),
            "bt_index_check".into(),
        )
    } else {
        return Ok(indexes
            .iter()
            .map(|r| {
                Planned::Skip(NotRun {
                    check: "amcheck",
                    object: display_name(col(r, 0), col(r, 1)),
                    level: Level::Deep,
                    cost: CostClass::Scan,
                    reason: NotRunReason::Unavailable,
                    detail: "the amcheck extension is not available on this server (it ships with PostgreSQL's contrib modules)".into(),
                    estimate: Some(estimate::btree_check(parse_u64(col(r, 4)).unwrap_or(0), None)),
                })
            })
            .collect());
    };
    // heapallindexed needs amcheck 1.1+; an older installed version makes the call fail, which
    // reports the check as not run with the server's message rather than quietly checking less
    let heap = ctx.req.heapallindexed;
    let mut out = Vec::new();
    for r in &indexes {
        let (is, iname, ts, tb) = (col(r, 0), col(r, 1), col(r, 2), col(r, 3));
        let index_q = qn(is, iname);
        let sql = if heap {
            format!("SELECT {func}({}::regclass, true)", lit(&index_q))
        } else {
            format!("SELECT {func}({}::regclass)", lit(&index_q))
        };
        let est = estimate::btree_check(
            parse_u64(col(r, 4)).unwrap_or(0),
            heap.then(|| size_of(sizes, ts, tb)),
        );
        let mut check = Check::query(
            "amcheck",
            display_name(is, iname),
            Level::Deep,
            CostClass::Scan,
            est,
            sql,
            Box::new(|_| Vec::new()),
        );
        // corruption surfaces as an error (SQLSTATE XX002), turned into a problem by the runner
        check.mode = mode.clone();
        out.push(Planned::Run(check));
    }
    Ok(out)
}

#[async_trait::async_trait]
impl crate::engines::integrity::IntegrityEngine for super::Postgres {
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
        let _ = session;
        begin(conn, mode, timeout).await
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(qn("public", "Order\"s"), "\"public\".\"Order\"\"s\"");
        assert_eq!(lit("it's"), "'it''s'");
        assert_eq!(
            json_list("[\"a\",\"b c\"]"),
            vec!["a".to_string(), "b c".to_string()]
        );
        assert!(json_list("").is_empty());
    }

    #[test]
    fn checksum_failures_are_errors_and_zero_is_clean() {
        let c = checksum_failures();
        let crate::engines::integrity::Exec::Query { judge, .. } = &c.exec else {
            panic!()
        };
        assert!(judge(&[vec![Some("0".into()), None]]).is_empty());
        let p = judge(&[vec![
            Some("3".into()),
            Some("2026-11-29 14:00:00+00".into()),
        ]]);
        assert_eq!((p[0].severity, p[0].count), (Severity::Error, Some(3)));
        assert!(p[0].evidence.contains("2026-11-29"));
    }
}
