//! MySQL/MariaDB: server discovery, the ephemeral server, and the engine traits.

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

/// The MySQL/MariaDB engine (see [`crate::engines::Engine`]).
pub struct Mysql;

impl Engine for Mysql {
    fn kind(&self) -> EngineKind {
        EngineKind::Mysql
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
SELECT CONCAT('column ', table_name, '.', column_name, ' ', column_type,
              IF(is_nullable = 'NO', ' not null', ''), IFNULL(CONCAT(' default ', column_default), ''), IF(extra <> '', CONCAT(' ', extra), ''))
FROM information_schema.columns WHERE table_schema = DATABASE()
UNION ALL
SELECT CONCAT('index ', table_name, '.', index_name, IF(non_unique = 0, ' unique', ''), ' ',
              GROUP_CONCAT(column_name ORDER BY seq_in_index SEPARATOR ','))
FROM information_schema.statistics WHERE table_schema = DATABASE() GROUP BY table_name, index_name, non_unique
UNION ALL
SELECT CONCAT('constraint ', k.table_name, '.', k.constraint_name, ' ', GROUP_CONCAT(k.column_name ORDER BY k.ordinal_position SEPARATOR ','),
              ' references ', k.referenced_table_name, '(', GROUP_CONCAT(k.referenced_column_name ORDER BY k.ordinal_position SEPARATOR ','), ')')
FROM information_schema.key_column_usage k
WHERE k.table_schema = DATABASE() AND k.referenced_table_name IS NOT NULL GROUP BY k.table_name, k.constraint_name, k.referenced_table_name
UNION ALL
SELECT CONCAT('check ', table_name, '.', constraint_name, ' ', check_clause)
FROM information_schema.check_constraints WHERE constraint_schema = DATABASE()
UNION ALL
SELECT CONCAT('view ', table_name, ' ', view_definition) FROM information_schema.views WHERE table_schema = DATABASE()
UNION ALL
SELECT CONCAT('routine ', routine_type, ' ', routine_name, ' ', MD5(IFNULL(routine_definition, '')))
FROM information_schema.routines WHERE routine_schema = DATABASE()
UNION ALL
SELECT CONCAT('trigger ', trigger_name, ' ', event_manipulation, ' ', event_object_table, ' ', MD5(action_statement))
FROM information_schema.triggers WHERE trigger_schema = DATABASE()
"#;

impl SnapshotEngine for Mysql {
    fn tables_sql(&self) -> &'static str {
        "SELECT CAST(table_schema AS CHAR), CAST(table_name AS CHAR), CAST(IFNULL(table_rows, -1) AS CHAR) \
             FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1, 2"
    }
    fn schema_sql(&self) -> &'static str {
        SCHEMA_SQL
    }
    fn table_ref(&self, schema: &str, table: &str) -> String {
        let _ = schema;
        crate::sql::quote::backquoted(table)
    }
}

impl DumpLoad for Mysql {
    fn formats(&self) -> &'static [&'static str] {
        &["sql"]
    }
    fn classify_restore_errors(&self, stderr: &str) -> Vec<RestoreIssue> {
        restore::classify_errors(stderr)
    }
    fn can_swap(&self) -> bool {
        false
    }
}
