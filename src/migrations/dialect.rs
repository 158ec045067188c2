//! Which database a migration file is written for, as its path says: a folder named after a
//! database (`schema/mysql/…`, `SQL/postgres/…`, `db/sqlite3/…`) or a dialect in the file name
//! (`x.sql.postgres` as in Synapse deltas, `x.postgres.up.sql` as in ory/pop, `x.mysql.sql`).
//!
//! Path components are split into words at `_`, `-`, `.` and spaces; a word names a dialect
//! when it is one of the names below, optionally followed by a version number (`mysql8`,
//! `postgres12`). Components that start with a digit are migration folders (`2024…_x`,
//! `3.3.0_schema`) and never name a dialect. In file names only the exact suffix forms count,
//! so `add_mysql_support.sql` is not a MySQL file.

use crate::sql::Dialect;
use std::path::Path;

/// A database named by a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Named {
    /// A dialect migsafe checks.
    Known(Dialect),
    /// A database migsafe does not check (CockroachDB, SQL Server, Oracle, …), by its
    /// canonical name.
    Other(&'static str),
}

impl Named {
    /// The name shown in reports (`postgres`, `mysql`, `sqlite`, `cockroach`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Named::Known(d) => d.as_str(),
            Named::Other(name) => name,
        }
    }
}

/// Names that mean a database, with what they mean.
const NAMES: &[(&str, Named)] = &[
    ("postgres", Named::Known(Dialect::Postgres)),
    ("postgresql", Named::Known(Dialect::Postgres)),
    ("pg", Named::Known(Dialect::Postgres)),
    ("pgsql", Named::Known(Dialect::Postgres)),
    ("mysql", Named::Known(Dialect::Mysql)),
    ("mariadb", Named::Known(Dialect::Mysql)),
    ("sqlite", Named::Known(Dialect::Sqlite)),
    ("sqlite3", Named::Known(Dialect::Sqlite)),
    ("cockroach", Named::Other("cockroach")),
    ("cockroachdb", Named::Other("cockroach")),
    ("crdb", Named::Other("cockroach")),
    ("mssql", Named::Other("sqlserver")),
    ("sqlserver", Named::Other("sqlserver")),
    ("oracle", Named::Other("oracle")),
    ("h2", Named::Other("h2")),
    ("hsqldb", Named::Other("hsqldb")),
    ("derby", Named::Other("derby")),
    ("db2", Named::Other("db2")),
    ("clickhouse", Named::Other("clickhouse")),
    ("redshift", Named::Other("redshift")),
    ("spanner", Named::Other("spanner")),
    ("tidb", Named::Other("tidb")),
];

/// The database `word` names exactly (ASCII case ignored).
pub fn name(word: &str) -> Option<Named> {
    NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(word))
        .map(|(_, d)| *d)
}

/// A word of a folder name: a database name, optionally followed by a version number.
fn word(word: &str) -> Option<Named> {
    name(word).or_else(|| {
        let stem = word.trim_end_matches(|c: char| c.is_ascii_digit());
        (stem.len() < word.len() && !stem.is_empty())
            .then(|| name(stem))
            .flatten()
    })
}

/// The database a folder name names, if any (see the module docs).
pub fn component(component: &str) -> Option<Named> {
    if component.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    component
        .split(['_', '-', '.', ' '])
        .filter(|w| !w.is_empty())
        .find_map(word)
}

/// The database named by the nearest folder of `path` (its file name excluded).
pub fn from_folders(path: &Path) -> Option<Named> {
    let parent = path.parent()?;
    parent
        .components()
        .rev()
        .filter_map(|c| c.as_os_str().to_str())
        .find_map(component)
}

/// Splits a dialect suffix off a file name: `x.sql.postgres` → (`x.sql`, postgres),
/// `x.mysql.up.sql` → (`x.up.sql`, mysql), `x.sqlite3.sql` → (`x.sql`, sqlite). Names
/// without one come back unchanged.
pub fn split_file_name(file: &str) -> (String, Option<Named>) {
    let parts: Vec<&str> = file.split('.').collect();
    let n = parts.len();
    let is = |i: usize, s: &str| parts.get(i).is_some_and(|p| p.eq_ignore_ascii_case(s));
    let rebuild = |skip: usize| -> String {
        parts
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, p)| *p)
            .collect::<Vec<_>>()
            .join(".")
    };
    // `<stem>.sql.<dialect>`
    if n >= 3
        && is(n - 2, "sql")
        && let Some(d) = name(parts[n - 1])
    {
        return (rebuild(n - 1), Some(d));
    }
    // `<stem>.<dialect>.up.sql` / `.down.sql`
    if n >= 4
        && is(n - 1, "sql")
        && (is(n - 2, "up") || is(n - 2, "down"))
        && let Some(d) = name(parts[n - 3])
    {
        return (rebuild(n - 3), Some(d));
    }
    // `<stem>.<dialect>.sql`
    if n >= 3
        && is(n - 1, "sql")
        && let Some(d) = name(parts[n - 2])
    {
        return (rebuild(n - 2), Some(d));
    }
    (file.to_string(), None)
}

/// Whether a file name is SQL: `.sql`, or `.sql.<database>` (Synapse's engine-specific deltas).
pub fn is_sql_file_name(file: &str) -> bool {
    let lower = file.to_ascii_lowercase();
    if lower.ends_with(".sql") {
        return true;
    }
    match lower.rsplit_once('.') {
        Some((stem, ext)) => stem.ends_with(".sql") && name(ext).is_some(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG: Option<Named> = Some(Named::Known(Dialect::Postgres));
    const MY: Option<Named> = Some(Named::Known(Dialect::Mysql));
    const LITE: Option<Named> = Some(Named::Known(Dialect::Sqlite));

    #[test]
    fn folder_names() {
        assert_eq!(component("postgresql"), PG);
        assert_eq!(component("SQL"), None);
        assert_eq!(component("mysql_partial"), MY);
        assert_eq!(component("pg-basic"), PG);
        assert_eq!(component("mysql8"), MY);
        assert_eq!(component("postgres12"), PG);
        assert_eq!(component("sqlite3"), LITE);
        assert_eq!(component("v8"), None);
        assert_eq!(component("cockroachdb"), Some(Named::Other("cockroach")));
        // migration folders never name a dialect, whatever their description says
        assert_eq!(component("2024-01-01-000000_drop_mysql_compat"), None);
        assert_eq!(component("3.3.0_schema"), None);
        assert_eq!(component("pgtools"), None);
        assert_eq!(component("mysqlish"), None);
    }

    #[test]
    fn nearest_folder_wins() {
        assert_eq!(
            from_folders(Path::new(
                "schema/mysql/v8/temporal/versioned/v1.0/schema.sql"
            )),
            MY
        );
        assert_eq!(
            from_folders(Path::new("postgres/migrations/sqlite/x.sql")),
            LITE
        );
        assert_eq!(from_folders(Path::new("db/migrations/mysql.sql")), None);
        assert_eq!(from_folders(Path::new("x.sql")), None);
    }

    #[test]
    fn file_suffixes() {
        assert_eq!(
            split_file_name("01_add_index.sql.postgres"),
            ("01_add_index.sql".to_string(), PG)
        );
        assert_eq!(
            split_file_name("20150100000001000000_networks.mysql.down.sql"),
            ("20150100000001000000_networks.down.sql".to_string(), MY)
        );
        assert_eq!(
            split_file_name("1_x.cockroach.up.sql"),
            ("1_x.up.sql".to_string(), Some(Named::Other("cockroach")))
        );
        assert_eq!(
            split_file_name("V1__init.sqlite3.sql"),
            ("V1__init.sql".to_string(), LITE)
        );
        assert_eq!(
            split_file_name("add_mysql_support.sql"),
            ("add_mysql_support.sql".to_string(), None)
        );
        assert_eq!(
            split_file_name("1_x.up.sql"),
            ("1_x.up.sql".to_string(), None)
        );
        assert_eq!(
            split_file_name("postgres.sql"),
            ("postgres.sql".to_string(), None)
        );
        assert_eq!(split_file_name("é.sql.pg"), ("é.sql".to_string(), PG));
    }

    #[test]
    fn sql_file_names() {
        assert!(is_sql_file_name("a.sql"));
        assert!(is_sql_file_name("a.SQL"));
        assert!(is_sql_file_name("a.sql.postgres"));
        assert!(is_sql_file_name("a.sql.sqlite"));
        assert!(!is_sql_file_name("a.sql.bak"));
        assert!(!is_sql_file_name("a.postgres"));
        assert!(!is_sql_file_name("sql"));
    }
}
