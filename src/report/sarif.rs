//! `--format sarif`: SARIF 2.1.0 with one reportingDescriptor per rule (help = why + safer),
//! so GitHub code scanning shows findings inline. File locations are relative to the
//! repository root (`uriBaseId` `%SRCROOT%`, declared in `originalUriBaseIds`), which is how
//! code scanning places them on the files of the repository.

use super::Repo;
use crate::model::{Report, Severity};
use crate::rules::{META_RULES, RULES, RuleMeta};
use serde_json::{Value, json};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const SRCROOT: &str = "%SRCROOT%";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

fn descriptor(m: &RuleMeta) -> Value {
    json!({
        "id": m.name,
        "name": m.name,
        "shortDescription": {"text": m.summary},
        "fullDescription": {"text": m.why},
        "help": {
            "text": format!("{}\n\nSafer: {}", m.why, m.safer),
            "markdown": format!("{}\n\n**Safer:** {}", m.why, m.safer),
        },
        "defaultConfiguration": {"level": level(m.default_severity())},
        "properties": {"category": m.category.as_str(), "verdict": m.verdict.as_str(), "tags": [m.category.as_str()]},
    })
}

/// Percent-encodes a path for a URI (RFC 3986: unreserved characters and `/` stay).
fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The artifact location of a report path: repository-relative with `%SRCROOT%` when the path
/// is inside the repository, else the path as given.
fn artifact(path: &str, repo: &Repo) -> Value {
    match repo.relative.get(path) {
        Some(rel) => json!({"uri": uri_path(rel), "uriBaseId": SRCROOT}),
        None => json!({"uri": uri_path(&path.replace('\\', "/"))}),
    }
}

fn metas() -> Vec<&'static RuleMeta> {
    RULES
        .iter()
        .map(|r| &r.meta)
        .chain(META_RULES.iter().copied())
        .collect()
}

fn document(results: Vec<Value>, repo: Option<&Repo>, properties: Option<Value>) -> String {
    let rules: Vec<Value> = metas().iter().map(|m| descriptor(m)).collect();
    let mut run = json!({
        "tool": {"driver": {
            "name": "migsafe",
            "version": env!("CARGO_PKG_VERSION"),
            "informationUri": "https://github.com/migsafe/migsafe",
            "rules": rules,
        }},
        "results": results,
    });
    if let Some(root) = repo.and_then(|r| r.root.as_ref()) {
        let mut uri = format!(
            "file://{}",
            uri_path(&root.to_string_lossy().replace('\\', "/"))
        );
        if !uri.ends_with('/') {
            uri.push('/');
        }
        run["originalUriBaseIds"] = json!({SRCROOT: {"uri": uri}});
    }
    if let Some(p) = properties {
        run["properties"] = p;
    }
    let doc = json!({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]});
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

pub fn render(report: &Report, repo: &Repo) -> String {
    let metas = metas();
    let mut results = Vec::new();
    for m in &report.migrations {
        for f in &m.findings {
            let rule_index = metas.iter().position(|r| r.name == f.rule);
            let mut result = json!({
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": {"text": format!("{} Safer: {}", f.message, f.safer)},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": artifact(&m.path, repo),
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column.max(1),
                        }
                    }
                }],
                "properties": {"category": f.category.as_str(), "verdict": f.verdict.as_str(), "statementIndex": f.statement_index, "dialect": m.dialect},
            });
            if let Some(i) = rule_index {
                result["ruleIndex"] = json!(i);
            }
            if f.suppressed {
                result["suppressions"] = json!([{
                    "kind": "inSource",
                    "justification": f.suppression_reason.clone().unwrap_or_default(),
                }]);
            }
            results.push(result);
        }
    }
    document(
        results,
        Some(repo),
        Some(json!({
            "verdict": report.verdict.as_str(),
            "releaseClass": report.release_class.as_str(),
            "passed": report.passed,
            "skippedFiles": report.skipped.len(),
        })),
    )
}

/// `check --list-rules --format sarif`: the rule catalog as a SARIF run without results.
pub fn rules_only() -> String {
    document(Vec::new(), None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(
            uri_path("db/migrations/1 init.sql"),
            "db/migrations/1%20init.sql"
        );
        assert_eq!(uri_path("a/é#.sql"), "a/%C3%A9%23.sql");
        let repo = Repo {
            root: None,
            relative: [("./db/1.sql".to_string(), "db/1.sql".to_string())].into(),
        };
        assert_eq!(
            artifact("./db/1.sql", &repo),
            json!({"uri": "db/1.sql", "uriBaseId": "%SRCROOT%"})
        );
        assert_eq!(
            artifact("/elsewhere/1.sql", &repo),
            json!({"uri": "/elsewhere/1.sql"})
        );
    }
}
