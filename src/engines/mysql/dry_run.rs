//! MySQL/MariaDB half of `migsafe dry-run`: the catalog from information_schema, the
//! per-statement probe (InnoDB table ids reveal table rebuilds, column digests reveal drops and
//! type changes), whether a transaction is still open (DDL commits implicitly), errors with
//! SQLSTATE and error number, and the client tools (mariadb/mysql for loading dumps).

use crate::engines::EngineError;
use crate::engines::catalog::{Catalog, Column, Constraint, Index, Table, View};
use crate::engines::conn::{Conn, TextRow};
use crate::engines::observe::{Probe, RawError, RelState};
use std::collections::BTreeMap;
use std::path::Path;

fn get(r: &TextRow, i: usize) -> String {
    r.get(i).cloned().flatten().unwrap_or_default()
}

fn get_opt(r: &TextRow, i: usize) -> Option<String> {
    r.get(i).cloned().flatten()
}

/// Whether the server is MariaDB (its information_schema differs from MySQL 8's in places).
pub async fn is_mariadb(conn: &mut Conn) -> bool {
    match conn.query_text("SELECT VERSION()").await {
        Ok((_, rows)) => rows
            .first()
            .map(|r| get(r, 0))
            .unwrap_or_default()
            .contains("MariaDB"),
        Err(_) => false,
    }
}

const TABLES: &str = "SELECT CAST(table_name AS CHAR), CAST(table_type AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE()";

const COLUMNS: &str = "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST(ordinal_position AS CHAR), CAST(column_type AS CHAR), \
    CAST(is_nullable AS CHAR), CAST(column_default AS CHAR), CAST(NULLIF(CONCAT_WS(' ', NULLIF(extra, ''), NULLIF(generation_expression, '')), '') AS CHAR) \
    FROM information_schema.columns WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position";

const INDEXES: &str = "SELECT CAST(table_name AS CHAR), CAST(index_name AS CHAR), CAST(MIN(non_unique) AS CHAR), \
    CAST(GROUP_CONCAT(CONCAT(column_name, IFNULL(CONCAT('(', sub_part, ')'), '')) ORDER BY seq_in_index SEPARATOR ', ') AS CHAR), CAST(MIN(index_type) AS CHAR) \
    FROM information_schema.statistics WHERE table_schema = DATABASE() GROUP BY table_name, index_name";

const FOREIGN_KEYS: &str = "SELECT CAST(k.table_name AS CHAR), CAST(k.constraint_name AS CHAR), \
    CAST(CONCAT('FOREIGN KEY (', GROUP_CONCAT(k.column_name ORDER BY k.ordinal_position SEPARATOR ', '), ') REFERENCES ', k.referenced_table_name, \
      '(', GROUP_CONCAT(k.referenced_column_name ORDER BY k.ordinal_position SEPARATOR ', '), ') ON UPDATE ', MIN(r.update_rule), ' ON DELETE ', MIN(r.delete_rule)) AS CHAR) \
    FROM information_schema.key_column_usage k JOIN information_schema.referential_constraints r \
      ON r.constraint_schema = k.constraint_schema AND r.constraint_name = k.constraint_name AND r.table_name = k.table_name \
    WHERE k.table_schema = DATABASE() AND k.referenced_table_name IS NOT NULL GROUP BY k.table_name, k.constraint_name, k.referenced_table_name";

const CHECKS_MARIADB: &str = "SELECT CAST(table_name AS CHAR), CAST(constraint_name AS CHAR), CAST(check_clause AS CHAR) FROM information_schema.check_constraints WHERE constraint_schema = DATABASE()";

const CHECKS_MYSQL: &str = "SELECT CAST(tc.table_name AS CHAR), CAST(tc.constraint_name AS CHAR), CAST(cc.check_clause AS CHAR) \
    FROM information_schema.table_constraints tc JOIN information_schema.check_constraints cc \
      ON cc.constraint_schema = tc.constraint_schema AND cc.constraint_name = tc.constraint_name \
    WHERE tc.table_schema = DATABASE() AND tc.constraint_type = 'CHECK'";

const OTHERS: &str = "SELECT 'V', CAST(table_name AS CHAR), CAST(view_definition AS CHAR) FROM information_schema.views WHERE table_schema = DATABASE() \
    UNION ALL SELECT 'F', CAST(CONCAT(LOWER(routine_type), ' ', routine_name) AS CHAR), CAST(CONCAT('returns ', IFNULL(dtd_identifier, 'void'), ' body ', MD5(IFNULL(routine_definition, ''))) AS CHAR) \
      FROM information_schema.routines WHERE routine_schema = DATABASE() \
    UNION ALL SELECT 'G', CAST(CONCAT(event_object_table, '.', trigger_name) AS CHAR), CAST(CONCAT(action_timing, ' ', event_manipulation, ' ', MD5(action_statement)) AS CHAR) \
      FROM information_schema.triggers WHERE trigger_schema = DATABASE()";

/// The schema of the current database.
pub async fn catalog(conn: &mut Conn) -> Result<Catalog, sqlx::Error> {
    let mariadb = is_mariadb(conn).await;
    let mut cat = Catalog::default();
    let (_, tables) = conn.query_text(TABLES).await?;
    for r in &tables {
        match get(r, 1).as_str() {
            "BASE TABLE" | "SYSTEM VERSIONED" => {
                cat.tables.insert(get(r, 0), Table::default());
            }
            "SEQUENCE" => {
                cat.sequences.insert(get(r, 0));
            }
            _ => {}
        }
    }
    let (_, cols) = conn.query_text(COLUMNS).await?;
    for r in &cols {
        if let Some(t) = cat.tables.get_mut(&get(r, 0)) {
            t.columns.push(Column {
                name: get(r, 1),
                id: None,
                position: get(r, 2).parse().unwrap_or(0),
                data_type: get(r, 3),
                nullable: get(r, 4) == "YES",
                default: get_opt(r, 5),
                extra: get_opt(r, 6),
            });
        }
    }
    let (_, idx) = conn.query_text(INDEXES).await?;
    for r in &idx {
        if let Some(t) = cat.tables.get_mut(&get(r, 0)) {
            let unique = get(r, 2) == "0";
            let name = get(r, 1);
            let kind = get(r, 4);
            let definition = format!(
                "{}{}INDEX {name} ({}){}",
                if unique { "UNIQUE " } else { "" },
                if kind == "FULLTEXT" || kind == "SPATIAL" {
                    format!("{kind} ")
                } else {
                    String::new()
                },
                get(r, 3),
                if kind == "BTREE" || kind.is_empty() || kind == "FULLTEXT" || kind == "SPATIAL" {
                    String::new()
                } else {
                    format!(" USING {kind}")
                }
            );
            t.indexes.insert(
                name,
                Index {
                    definition,
                    unique,
                    valid: true,
                },
            );
        }
    }
    let (_, fks) = conn.query_text(FOREIGN_KEYS).await?;
    for r in &fks {
        if let Some(t) = cat.tables.get_mut(&get(r, 0)) {
            t.constraints.insert(
                get(r, 1),
                Constraint {
                    kind: "foreign key".into(),
                    definition: get(r, 2),
                    validated: true,
                },
            );
        }
    }
    let (_, checks) = conn
        .query_text(if mariadb {
            CHECKS_MARIADB
        } else {
            CHECKS_MYSQL
        })
        .await?;
    for r in &checks {
        if let Some(t) = cat.tables.get_mut(&get(r, 0)) {
            t.constraints.insert(
                get(r, 1),
                Constraint {
                    kind: "check".into(),
                    definition: format!("CHECK ({})", get(r, 2)),
                    validated: true,
                },
            );
        }
    }
    let (_, others) = conn.query_text(OTHERS).await?;
    for r in &others {
        match get(r, 0).as_str() {
            "V" => {
                cat.views.insert(
                    get(r, 1),
                    View {
                        materialized: false,
                        definition: get(r, 2).split_whitespace().collect::<Vec<_>>().join(" "),
                    },
                );
            }
            "F" => {
                cat.functions.insert(get(r, 1), get(r, 2));
            }
            "G" => {
                cat.triggers.insert(get(r, 1), get(r, 2));
            }
            _ => {}
        }
    }
    Ok(cat)
}

fn quote_list(ids: &[String]) -> String {
    ids.iter()
        .map(|s| crate::sql::quote::mysql_literal(s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Tables and views (by name) with their InnoDB table id and a digest of their columns. With
/// `ids`, only those names. MySQL has no per-session lock view that survives DDL's implicit
/// commit, so no locks are reported. Three flat queries: correlated subqueries over
/// information_schema are slow on MariaDB.
pub async fn probe(
    conn: &mut Conn,
    ids: Option<&[String]>,
    mariadb: bool,
) -> Result<Probe, sqlx::Error> {
    let filter = |col: &str| match ids {
        Some(ids) => format!(" AND {col} IN ({})", quote_list(ids)),
        None => String::new(),
    };
    if ids.is_some_and(|i| i.is_empty()) {
        return Ok(Probe::default());
    }
    let (_, tables) = conn.query_text(&format!("SELECT CAST(table_name AS CHAR), CAST(table_type AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE(){}", filter("table_name"))).await?;
    let (_, cols) = conn
        .query_text(&format!(
            "SELECT CAST(table_name AS CHAR), CAST(MD5(GROUP_CONCAT(column_name, ':', column_type, ':', is_nullable ORDER BY ordinal_position SEPARATOR ',')) AS CHAR) \
             FROM information_schema.columns WHERE table_schema = DATABASE(){} GROUP BY table_name",
            filter("table_name")
        ))
        .await?;
    let innodb = if mariadb {
        "information_schema.innodb_sys_tables"
    } else {
        "information_schema.innodb_tables"
    };
    let storage: BTreeMap<String, String> = match conn.query_text(&format!("SELECT CAST(name AS CHAR), CAST(table_id AS CHAR) FROM {innodb} WHERE name LIKE CONCAT(DATABASE(), '/%')")).await {
        Ok((_, rows)) => rows.iter().filter_map(|r| Some((get(r, 0).split_once('/')?.1.to_string(), get(r, 1)))).collect(),
        // no PROCESS privilege (scratch servers): rebuilds are not detected
        Err(_) => BTreeMap::new(),
    };
    let digests: BTreeMap<String, String> = cols.iter().map(|r| (get(r, 0), get(r, 1))).collect();
    let mut p = Probe::default();
    for r in tables {
        let name = get(&r, 0);
        let kind = match get(&r, 1).as_str() {
            "VIEW" => "view",
            "SEQUENCE" => "sequence",
            _ => "table",
        };
        p.rels.insert(
            name.clone(),
            RelState {
                name: name.clone(),
                kind: kind.to_string(),
                storage: storage.get(&name).cloned(),
                columns: digests.get(&name).cloned(),
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
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let sql = format!(
        "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST(ordinal_position AS CHAR), CAST(column_type AS CHAR), CAST(is_nullable AS CHAR) \
         FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name IN ({}) ORDER BY table_name, ordinal_position",
        quote_list(ids)
    );
    let (_, rows) = conn.query_text(&sql).await?;
    let mut out: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    for r in rows {
        out.entry(get(&r, 0)).or_default().push(Column {
            name: get(&r, 1),
            id: None,
            position: get(&r, 2).parse().unwrap_or(0),
            data_type: get(&r, 3),
            nullable: get(&r, 4) == "YES",
            default: None,
            extra: None,
        });
    }
    Ok(out)
}

/// Whether a transaction is open: after DDL it is not (the statement committed implicitly).
pub async fn in_transaction(conn: &mut Conn) -> Result<bool, sqlx::Error> {
    let (_, rows) = conn
        .query_text("SELECT CAST(@@in_transaction AS CHAR)")
        .await?;
    Ok(rows.first().map(|r| get(r, 0)).as_deref() == Some("1"))
}

/// The server's error with SQLSTATE and error number.
pub fn error(e: &sqlx::Error) -> RawError {
    if let sqlx::Error::Database(db) = e
        && let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
    {
        return RawError {
            sqlstate: my.code().map(String::from),
            code: Some(u32::from(my.number())),
            message: my.message().to_string(),
            ..RawError::default()
        };
    }
    RawError::other(e)
}

pub use crate::sql::quote::backquoted as ident;

/// Loads a SQL dump into database `db` of the server behind `socket` with the `mariadb` (or
/// `mysql`) client, stopping at the first error.
pub fn restore_sql(socket: &Path, db: &str, file: &Path) -> Result<(), EngineError> {
    let client = [
        "/usr/bin/mariadb",
        "/usr/bin/mysql",
        "/usr/local/bin/mariadb",
        "/usr/local/bin/mysql",
    ]
    .iter()
    .map(Path::new)
    .find(|p| p.is_file())
    .ok_or_else(|| EngineError::BinaryMissing {
        what: "the mariadb/mysql client".into(),
        looked: "/usr/bin, /usr/local/bin".into(),
        hint: "install it (Debian/Ubuntu: `apt-get install mariadb-client`)".into(),
    })?;
    let input = std::fs::File::open(file)
        .map_err(|e| EngineError::Io(format!("{}: {e}", file.display())))?;
    let mut cmd = std::process::Command::new(client);
    crate::sys::child::die_with_migsafe(&mut cmd);
    let out = cmd
        .arg("--no-defaults")
        .arg(format!("--socket={}", socket.display()))
        .args(["--user=root", "--batch"])
        .arg(db)
        .stdin(input)
        .output()
        .map_err(|e| EngineError::step("mariadb client", e))?;
    if !out.status.success() {
        return Err(EngineError::step(
            format!("loading {}", file.display()),
            crate::engines::process::tail(&String::from_utf8_lossy(&out.stderr), 8),
        ));
    }
    Ok(())
}

fn client_tool(names: &[&str]) -> Result<std::path::PathBuf, EngineError> {
    let mut dirs: Vec<std::path::PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(
        ["/usr/bin", "/usr/local/bin", "/usr/local/mysql/bin"].map(std::path::PathBuf::from),
    );
    names
        .iter()
        .find_map(|n| dirs.iter().map(|d| d.join(n)).find(|p| p.is_file()))
        .ok_or_else(|| EngineError::BinaryMissing {
            what: names.join(" or "),
            looked: "PATH, /usr/bin, /usr/local/bin".into(),
            hint: "install the client tools (Debian/Ubuntu: `apt-get install mariadb-client`)"
                .into(),
        })
}

/// Writes a schema-only dump of the live database (plus the rows of `history`, when given) to
/// `out`, with credentials in a private option file, never in argv.
pub fn dump_schema(live: &str, history: Option<&str>, out: &Path) -> Result<(), EngineError> {
    let t = crate::engines::target::MyTarget::parse(live).map_err(|e| EngineError::Connect {
        target: crate::engines::redact_url(live),
        message: e.to_string(),
    })?;
    let dump = client_tool(&["mariadb-dump", "mysqldump"])?;
    let defaults = t
        .defaults_file()
        .map_err(|e| EngineError::Io(e.to_string()))?;
    let run = |args: &[&str], append: bool| -> Result<(), EngineError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(out)
            .map_err(|e| EngineError::Io(format!("{}: {e}", out.display())))?;
        let mut cmd = std::process::Command::new(&dump);
        crate::sys::child::die_with_migsafe(&mut cmd);
        defaults.pass_to(&mut cmd);
        let o = cmd
            .arg(defaults.arg())
            .args(["--single-transaction", "--skip-comments"])
            .args(args)
            .stdout(file)
            .output()
            .map_err(|e| EngineError::step("mariadb-dump", e))?;
        if !o.status.success() {
            return Err(EngineError::step(
                "mariadb-dump (--schema-from)",
                crate::engines::process::tail(&String::from_utf8_lossy(&o.stderr), 8),
            ));
        }
        Ok(())
    };
    run(
        &["--no-data", "--routines", "--triggers", "--", &t.database],
        false,
    )
    .and_then(|_| match history {
        Some(h) => run(
            &["--no-create-info", "--skip-triggers", "--", &t.database, h],
            true,
        ),
        None => Ok(()),
    })
}

#[async_trait::async_trait]
impl crate::engines::catalog::CatalogEngine for super::Mysql {
    async fn catalog(&self, conn: &mut Conn) -> Result<Catalog, sqlx::Error> {
        catalog(conn).await
    }
    async fn probe(
        &self,
        conn: &mut Conn,
        ids: Option<&[String]>,
        mariadb: bool,
    ) -> Result<Probe, sqlx::Error> {
        probe(conn, ids, mariadb).await
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
        "SELECT VERSION()"
    }
    async fn in_transaction(&self, conn: &mut Conn) -> Result<Option<bool>, sqlx::Error> {
        in_transaction(conn).await.map(Some)
    }
    async fn is_mariadb(&self, conn: &mut Conn) -> bool {
        is_mariadb(conn).await
    }
}
