//! The rule catalog: one file per rule, each with its metadata and one check function, and the
//! registry that lists them all.

pub mod context;
pub mod facts;
mod locks;
pub mod meta;
mod online_ddl;
mod registry;

// one module per rule
mod add_check_validated;
mod add_column_not_null_without_default;
mod add_column_volatile_default;
mod add_exclusion_constraint;
mod add_foreign_key_validated;
mod add_primary_key;
mod add_unique_constraint;
mod alter_column_type_lossy;
mod alter_column_type_rewrite;
mod backfill_in_ddl_transaction;
mod catalog_write;
mod char_column;
mod concurrent_index_corruption;
mod concurrently_in_transaction;
mod create_enum;
mod create_index_non_concurrently;
mod delete_without_where;
mod detach_partition_non_concurrently;
mod domain_check_constraint;
mod drop_column;
mod drop_constraint;
mod drop_database;
mod drop_default;
mod drop_index_non_concurrently;
mod drop_not_null;
mod drop_object;
mod drop_schema;
mod drop_sequence;
mod drop_table;
mod duplicate_column_assignment;
mod enum_value_without_position;
mod foreign_key_without_index;
mod foreign_keys_disabled;
mod identifier_too_long;
mod index_too_many_columns;
mod int_primary_key;
mod json_column;
mod lock_held_across_statements;
mod lock_table;
mod missing_lock_timeout;
mod missing_statement_timeout;
mod multiple_alters_same_table;
mod mysql_enum_value_removal;
mod mysql_inline_references_ignored;
mod mysql_table_copy;
mod nested_transaction;
mod not_in_subquery;
mod refresh_materialized_view_non_concurrently;
mod reindex_non_concurrently;
mod rename_column;
mod rename_enum_value;
mod rename_schema;
mod rename_table;
mod serial_column;
mod set_not_null;
mod set_unlogged;
mod sqlite_table_rebuild;
mod sqlite_unsupported_alter;
mod table_rewrite;
mod timestamp_without_time_zone;
mod truncate;
mod uncommitted_transaction;
mod unknown_statement;
mod update_without_where;
mod vacuum_full_or_cluster;
mod validate_in_same_transaction;
mod varchar_length;

pub use context::{Ctx, Schema, Version};
pub use meta::META_RULES;
pub use registry::RULES;

pub use crate::model::{Category, Severity, Verdict};
pub use crate::sql::Dialect;
pub use crate::sql::ir::{Span, Statement};

/// Everything a rule says about itself; docs, `--explain`, SARIF and JSON are built from it.
#[derive(Debug)]
pub struct RuleMeta {
    /// Stable kebab-case name used in suppressions, config and output.
    pub name: &'static str,
    pub category: Category,
    /// What a finding contributes to the statement's verdict by default.
    pub verdict: Verdict,
    pub dialects: &'static [Dialect],
    /// One line: what the rule flags.
    pub summary: &'static str,
    /// Why it is dangerous: the lock and what it blocks, or the data lost.
    pub why: &'static str,
    /// The safer alternative.
    pub safer: &'static str,
    /// Corresponding rules of other tools (`squawk:ban-drop-table`, `eugene:E6`, …).
    pub anchors: &'static [&'static str],
    /// Example that triggers the rule (`fixtures/rules/<name>/bad.sql`).
    pub bad: &'static str,
    /// The safer rewrite that does not (`fixtures/rules/<name>/good.sql`).
    pub good: &'static str,
}

/// The severity a finding of this verdict is reported with unless the config says otherwise.
pub fn severity_for(verdict: Verdict) -> Severity {
    match verdict {
        Verdict::Destructive | Verdict::Risky | Verdict::Unknown => Severity::Error,
        Verdict::Caution => Severity::Warning,
        Verdict::Safe => Severity::Info,
    }
}

impl RuleMeta {
    pub fn default_severity(&self) -> Severity {
        severity_for(self.verdict)
    }
    pub fn applies_to(&self, dialect: Dialect) -> bool {
        self.dialects.contains(&dialect)
    }
}

/// One thing a rule found in a statement.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The offending part, as a file byte range.
    pub span: Span,
    pub message: String,
    /// Overrides the rule's verdict for this hit (e.g. a drop of a constraint of unknown kind is
    /// risky rather than destructive).
    pub verdict: Option<Verdict>,
}

impl Hit {
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Hit {
            span,
            message: message.into(),
            verdict: None,
        }
    }
    pub fn with_verdict(mut self, v: Verdict) -> Self {
        self.verdict = Some(v);
        self
    }
}

pub type CheckFn = fn(&Ctx, &Statement) -> Vec<Hit>;

pub struct Rule {
    pub meta: RuleMeta,
    pub check: CheckFn,
}

pub const ALL_DIALECTS: &[Dialect] = &[Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite];
pub const POSTGRES: &[Dialect] = &[Dialect::Postgres];
pub const MYSQL: &[Dialect] = &[Dialect::Mysql];

/// The ALTER TABLE actions of `stmt` on tables that existed before this file.
pub(crate) fn existing_alter_items<'s>(
    ctx: &Ctx,
    stmt: &'s Statement,
) -> Vec<(&'s crate::sql::ir::ObjName, &'s crate::sql::ir::AlterItem)> {
    stmt.ops
        .iter()
        .filter_map(|op| match op {
            crate::sql::ir::Op::AlterTable { table, items, .. } if ctx.is_existing(table) => {
                Some(items.iter().map(move |i| (table, i)))
            }
            _ => None,
        })
        .flatten()
        .collect()
}

/// Looks a rule up by name (including the pseudo-rules reported by the classifier).
pub fn find(name: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.meta.name == name)
}

/// What a PostgreSQL lock mode blocks, for messages.
pub fn lock_blocks(mode: &str) -> &'static str {
    match mode {
        "ACCESS EXCLUSIVE" => "blocks all reads and writes of the table",
        "EXCLUSIVE" => "blocks all writes; only plain reads continue",
        "SHARE ROW EXCLUSIVE" | "SHARE" => "blocks INSERT, UPDATE and DELETE",
        "SHARE UPDATE EXCLUSIVE" => "blocks other schema changes and VACUUM, not reads or writes",
        _ => "blocks concurrent access",
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for rule tests: run one rule over SQL text with a fresh context.
    use super::*;
    use crate::classify::{CheckOptions, check_sql};

    /// Runs the whole classifier over `sql` and returns the unsuppressed hits of `rule`.
    pub fn hits(rule: &str, sql: &str, dialect: Dialect) -> Vec<String> {
        hits_with(rule, sql, dialect, None)
    }

    pub fn hits_with(
        rule: &str,
        sql: &str,
        dialect: Dialect,
        version: Option<&str>,
    ) -> Vec<String> {
        let opts = CheckOptions {
            dialect,
            target_version: version.map(|v| Version::parse(v).expect("test version")),
            ..CheckOptions::default()
        };
        check_sql(sql, &opts)
            .findings
            .into_iter()
            .filter(|f| f.rule == rule && !f.suppressed)
            .map(|f| f.message)
            .collect()
    }

    /// Checks `sql` as a migration that runs after `before` (another migration that created the
    /// schema), returning the unsuppressed hits of `rule`.
    pub fn hits_after(rule: &str, before: &str, sql: &str, dialect: Dialect) -> Vec<String> {
        findings_after(rule, before, sql, dialect)
            .into_iter()
            .map(|f| f.message)
            .collect()
    }

    /// The unsuppressed findings of `rule` on `sql` checked after `before`.
    pub fn findings_after(
        rule: &str,
        before: &str,
        sql: &str,
        dialect: Dialect,
    ) -> Vec<crate::model::Finding> {
        use crate::classify::{Subject, check_section};
        use crate::migrations::SqlSection;
        let opts = CheckOptions {
            dialect,
            ..CheckOptions::default()
        };
        let mut schema = Schema::default();
        let run = |text: &str, schema: &mut Schema| {
            let section = SqlSection {
                path: "<sql>".into(),
                text: std::sync::Arc::from(text),
                range: 0..text.len(),
            };
            let subject = Subject {
                path: "<sql>".to_string(),
                version: String::new(),
                description: String::new(),
                layout: "plain",
                direction: "up",
                transaction: !crate::migrations::sections::has_no_transaction_directive(text),
                checksum: String::new(),
            };
            check_section(&section, subject, schema, &opts)
        };
        run(before, &mut schema);
        run(sql, &mut schema)
            .findings
            .into_iter()
            .filter(|f| f.rule == rule && !f.suppressed)
            .collect()
    }

    /// The rule's own bad fixture triggers it and its good fixture does not.
    pub fn fixtures_behave(rule: &Rule) {
        let d = rule.meta.dialects[0];
        assert!(
            !hits(rule.meta.name, rule.meta.bad, d).is_empty(),
            "{}: bad.sql does not trigger the rule",
            rule.meta.name
        );
        assert!(
            hits(rule.meta.name, rule.meta.good, d).is_empty(),
            "{}: good.sql triggers the rule: {:?}",
            rule.meta.name,
            hits(rule.meta.name, rule.meta.good, d)
        );
    }
}
