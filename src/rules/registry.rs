//! The one list of every rule, in the order they are documented.

use super::*;

pub static RULES: &[&Rule] = &[
    // destructive
    &drop_table::RULE,
    // risky
    &create_index_non_concurrently::RULE,
    // needs review
    &unknown_statement::RULE,
];
