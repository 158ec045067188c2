//! The one list of every rule, in the order they are documented.

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
    &alter_column_type_rewrite::RULE,
    &create_index_non_concurrently::RULE,
    // needs review
    &unknown_statement::RULE,
];
