//! PostgreSQL: server discovery, the ephemeral cluster, and the engine traits.

pub mod admin;
pub mod backup;
pub mod dry_run;
pub mod ephemeral;
pub mod integrity;
pub mod migrate;
pub mod read_only;
pub mod restore;

use crate::engines::dump::{DumpLoad, RestoreIssue};
use crate::engines::snapshot::SnapshotEngine;
use crate::engines::{Engine, EngineKind, catalog, dump, snapshot};

/// The PostgreSQL engine (see [`crate::engines::Engine`]).
pub struct Postgres;

impl Engine for Postgres {
    fn kind(&self) -> EngineKind {
        EngineKind::Postgres
    }
    fn admin(&self) -> &dyn crate::engines::admin::Admin {
        self
    }
    fn catalog(&self) -> &dyn catalog::CatalogEngine {
        self
    }
    fn integrity(&self) -> &dyn crate::engines::integrity::IntegrityEngine {
        self
    }
    fn dump(&self) -> &dyn dump::DumpLoad {
        self
    }
    fn snapshot(&self) -> &dyn snapshot::SnapshotEngine {
        self
    }
    fn modes(&self) -> &dyn crate::engines::modes::ModeEngine {
        self
    }

    fn migrate(&self) -> &dyn crate::engines::migrate::MigrateEngine {
        self
    }
}

const SCHEMA_SQL: &str = r#"
SELECT 'column ' || n.nspname || '.' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || COALESCE(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
UNION ALL
SELECT 'constraint ' || n.nspname || '.' || c.relname || '.' || co.conname || ' ' || pg_get_constraintdef(co.oid)
       || CASE WHEN co.convalidated THEN '' ELSE ' (not validated)' END
FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'index ' || n.nspname || '.' || ic.relname || ' ' || pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
UNION ALL
SELECT 'view ' || n.nspname || '.' || c.relname || ' ' || regexp_replace(pg_get_viewdef(c.oid), '\s+', ' ', 'g')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'enum ' || n.nspname || '.' || t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
GROUP BY n.nspname, t.typname
UNION ALL
SELECT 'function ' || n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || md5(p.prosrc)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
LEFT JOIN pg_depend dep ON dep.objid = p.oid AND dep.deptype = 'e'
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND dep.objid IS NULL
UNION ALL
SELECT 'sequence ' || n.nspname || '.' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'extension ' || extname FROM pg_extension
"#;

impl SnapshotEngine for Postgres {
    fn tables_sql(&self) -> &'static str {
        "SELECT n.nspname::text, c.relname::text, c.reltuples::bigint::text \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' \
             ORDER BY 1, 2"
    }
    fn schema_sql(&self) -> &'static str {
        SCHEMA_SQL
    }
    fn table_ref(&self, schema: &str, table: &str) -> String {
        let q = crate::sql::quote::double_quoted;
        if schema.is_empty() {
            q(table)
        } else {
            format!("{}.{}", q(schema), q(table))
        }
    }
}

impl DumpLoad for Postgres {
    fn formats(&self) -> &'static [&'static str] {
        &["custom", "directory", "plain"]
    }
    fn classify_restore_errors(&self, stderr: &str) -> Vec<RestoreIssue> {
        restore::classify_errors(stderr)
    }
    fn can_swap(&self) -> bool {
        true
    }
}
