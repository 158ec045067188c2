//! Rule documentation: the `docs/rules/` pages, `check --explain <rule>` and `check --list-rules`,
//! all rendered from the rule metadata so they cannot drift from the code.

use crate::rules::{META_RULES, RULES, RuleMeta};
use serde_json::json;
use std::fmt::Write;

/// Every rule's metadata: registry rules first, then the suppression pseudo-rules.
pub fn all() -> Vec<&'static RuleMeta> {
    RULES
        .iter()
        .map(|r| &r.meta)
        .chain(META_RULES.iter().copied())
        .collect()
}

fn dialects(m: &RuleMeta) -> String {
    m.dialects
        .iter()
        .map(|d| d.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn anchors(m: &RuleMeta) -> String {
    if m.anchors.is_empty() {
        "—".to_string()
    } else {
        m.anchors
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `docs/rules/<name>.md`, also printed by `--explain`.
pub fn page(m: &RuleMeta) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", m.name);
    let _ = writeln!(s, "{}\n", m.summary);
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| category | {} |", m.category.as_str());
    let _ = writeln!(s, "| verdict | {} |", m.verdict.as_str());
    let _ = writeln!(
        s,
        "| default severity | {} |",
        m.default_severity().as_str()
    );
    let _ = writeln!(s, "| dialects | {} |", dialects(m));
    let _ = writeln!(s, "| other tools | {} |\n", anchors(m));
    let _ = writeln!(s, "## Why\n\n{}\n", m.why);
    let _ = writeln!(s, "## Safer\n\n{}\n", m.safer);
    let _ = writeln!(s, "## Flagged\n\n```sql\n{}```\n", m.bad);
    let _ = writeln!(s, "## Not flagged\n\n```sql\n{}```\n", m.good);
    let _ = writeln!(
        s,
        "Suppress one statement with `-- migsafe:allow {} reason=\"…\"` on the line before it, or a whole file with `-- migsafe:allow-file {} reason=\"…\"`; turn the rule off or change its severity in `migsafe.toml` under `[rules]`.",
        m.name, m.name
    );
    s
}

/// `docs/rules/README.md`: the table of every rule.
pub fn index() -> String {
    let mut s = String::from(
        "# migsafe rules\n\nGenerated from the rule metadata (`MIGSAFE_UPDATE_DOCS=1 cargo test docs_are_current` rewrites it); a test fails when it is out of date.\n\n",
    );
    s.push_str("| rule | category | verdict | default severity | dialects | other tools | summary |\n|---|---|---|---|---|---|---|\n");
    for m in all() {
        let _ = writeln!(
            s,
            "| [{}]({}.md) | {} | {} | {} | {} | {} | {} |",
            m.name,
            m.name,
            m.category.as_str(),
            m.verdict.as_str(),
            m.default_severity().as_str(),
            dialects(m),
            anchors(m),
            m.summary
        );
    }
    s
}

/// `--list-rules` as text.
pub fn list_text() -> String {
    let mut s = String::new();
    let width = all().iter().map(|m| m.name.len()).max().unwrap_or(0);
    for m in all() {
        let _ = writeln!(
            s,
            "{:width$}  {:12} {:12} {}",
            m.name,
            m.category.as_str(),
            m.verdict.as_str(),
            m.summary
        );
    }
    s
}

fn rule_json(m: &RuleMeta) -> serde_json::Value {
    json!({
        "name": m.name,
        "category": m.category.as_str(),
        "verdict": m.verdict.as_str(),
        "default_severity": m.default_severity().as_str(),
        "dialects": m.dialects.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        "summary": m.summary,
        "why": m.why,
        "safer": m.safer,
        "anchors": m.anchors,
    })
}

/// `--explain <rule> --format json`: the rule's `--list-rules --format json` entry plus its
/// flagged and not-flagged examples.
pub fn explain_json(m: &RuleMeta) -> String {
    let mut rule = rule_json(m);
    rule["bad"] = json!(m.bad);
    rule["good"] = json!(m.good);
    let mut s = serde_json::to_string_pretty(&json!({"schema_version": 1, "rule": rule}))
        .unwrap_or_default();
    s.push('\n');
    s
}

/// `--list-rules --format json`.
pub fn list_json() -> String {
    let rules: Vec<_> = all().iter().map(|m| rule_json(m)).collect();
    let mut s = serde_json::to_string_pretty(&json!({"schema_version": 1, "rules": rules}))
        .unwrap_or_default();
    s.push('\n');
    s
}
