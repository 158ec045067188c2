//! `--format json`: the schema_version 1 contract of DESIGN.md §5.

use crate::model::Report;
use std::io::Write;

/// The JSON error object printed on stdout when a command asked for JSON and could not do its
/// job (exit 2); one shape for every command (docs/ci.md).
pub fn error(kind: &str, message: &str) -> String {
    let v = serde_json::json!({
        "schema_version": 1,
        "tool": {"name": "migsafe", "version": env!("CARGO_PKG_VERSION")},
        "error": {"kind": kind, "message": message, "exit_code": 2},
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

pub fn render(report: &Report) -> String {
    let mut out = Vec::new();
    // writing plain data structures to memory cannot fail
    let _ = write(report, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Streams the report to `out` as it is serialised, so a report of hundreds of thousands of
/// statements never exists as one string in memory.
pub fn write(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    let mut buf = std::io::BufWriter::with_capacity(64 * 1024, out);
    serde_json::to_writer_pretty(&mut buf, report).map_err(std::io::Error::from)?;
    buf.write_all(b"\n")?;
    buf.flush()
}
