//! The one list of every rule, in the order they are documented.
//!
//! Risks of the anchor tools deliberately not covered by a rule (rows of the master table in
//! `lint-anchors.md` §1): Rails- and Django-only checks (rows 5, 17, 54, 73: `create_table
//! force: true`, partial inserts, raw `execute` blocks, RunPython hygiene) concern ORM code that
//! migsafe never sees, since it reads SQL; naming conventions (row 70) are per-team regexes with
//! no safe default; column order for alignment padding (row 71) saves a few bytes per row and is
//! no safety risk; unqualified table names (row 64) is opt-in in squawk and migsafe has no opt-in
//! rules yet; float types (row 63) are a legitimate choice for measurements, so a rule would
//! mostly report intended designs.

use super::*;

pub static RULES: &[&Rule] = &[
    // destructive
    &drop_column::RULE,
    &drop_schema::RULE,
    &drop_database::RULE,
    &truncate::RULE,
    &delete_without_where::RULE,
    &update_without_where::RULE,
    &drop_constraint::RULE,
    &alter_column_type_lossy::RULE,
    &mysql_enum_value_removal::RULE,
    &drop_table::RULE,
    &drop_sequence::RULE,
    &set_unlogged::RULE,
    &catalog_write::RULE,
    // risky
    &missing_lock_timeout::RULE,
    &concurrently_in_transaction::RULE,
    &drop_index_non_concurrently::RULE,
    &add_foreign_key_validated::RULE,
    &add_check_validated::RULE,
    &set_not_null::RULE,
    &add_unique_constraint::RULE,
    &add_primary_key::RULE,
    &add_column_volatile_default::RULE,
    &mysql_table_copy::RULE,
    &add_column_not_null_without_default::RULE,
    &rename_table::RULE,
    &rename_column::RULE,
    &drop_default::RULE,
    &alter_column_type_rewrite::RULE,
    &create_index_non_concurrently::RULE,
    &drop_object::RULE,
    &table_rewrite::RULE,
    &lock_table::RULE,
    &foreign_keys_disabled::RULE,
    // style
    &json_column::RULE,
    &varchar_length::RULE,
    &char_column::RULE,
    &timestamp_without_time_zone::RULE,
    &int_primary_key::RULE,
    &serial_column::RULE,
    &identifier_too_long::RULE,
    &create_enum::RULE,
    &foreign_key_without_index::RULE,
    &index_too_many_columns::RULE,
    &duplicate_column_assignment::RULE,
    &not_in_subquery::RULE,
    // dialect specifics
    &mysql_inline_references_ignored::RULE,
    &sqlite_table_rebuild::RULE,
    &sqlite_unsupported_alter::RULE,
    // transaction hygiene and locks
    &uncommitted_transaction::RULE,
    &nested_transaction::RULE,
    &lock_held_across_statements::RULE,
    &backfill_in_ddl_transaction::RULE,
    &validate_in_same_transaction::RULE,
    &missing_statement_timeout::RULE,
    &multiple_alters_same_table::RULE,
    &reindex_non_concurrently::RULE,
    &vacuum_full_or_cluster::RULE,
    &detach_partition_non_concurrently::RULE,
    &refresh_materialized_view_non_concurrently::RULE,
    &add_exclusion_constraint::RULE,
    &domain_check_constraint::RULE,
    &concurrent_index_corruption::RULE,
    &rename_schema::RULE,
    &rename_enum_value::RULE,
    &drop_not_null::RULE,
    &enum_value_without_position::RULE,
    // needs review
    &unknown_statement::RULE,
];
