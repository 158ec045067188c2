//! Rendering of `migsafe recover` (human and JSON).

use crate::recover::RecoverReport;
use serde_json::json;
use std::fmt::Write;

pub const SCHEMA_VERSION: u32 = 1;

pub fn render(r: &RecoverReport, as_json: bool) -> String {
    if as_json {
        let mut s = serde_json::to_string_pretty(&json!({
            "schema_version": SCHEMA_VERSION,
            "operations": r.operations,
            "passed": r.passed(),
        }))
        .unwrap_or_default();
        s.push('\n');
        return s;
    }
    let mut out = String::new();
    if r.operations.is_empty() {
        out.push_str("nothing unfinished\n");
        return out;
    }
    for o in &r.operations {
        let _ = writeln!(
            out,
            "{} {} of {} (started {} on {}{}): {}",
            o.status,
            o.kind,
            o.database,
            o.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            o.host,
            o.interrupted_step
                .as_ref()
                .map(|s| format!(", interrupted during `{s}`"))
                .unwrap_or_default(),
            o.operation
        );
        for d in &o.done {
            let _ = writeln!(out, "  - {d}");
        }
        if !o.message.is_empty() {
            let _ = writeln!(out, "  {}", o.message);
        }
    }
    out
}
