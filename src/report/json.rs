//! `--format json`: the schema_version 1 contract of DESIGN.md §5.

use crate::model::Report;

pub fn render(report: &Report) -> String {
    // serialising plain data structures cannot fail
    let mut s =
        serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}
