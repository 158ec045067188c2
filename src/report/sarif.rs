//! `--format sarif`: SARIF 2.1.0 with one reportingDescriptor per rule (help = why + safer),
//! so GitHub code scanning shows findings inline.

use crate::model::{Report, Severity};
use crate::rules::{META_RULES, RULES, RuleMeta};
use serde_json::{Value, json};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

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

pub fn render(report: &Report) -> String {
    let metas: Vec<&RuleMeta> = RULES
        .iter()
        .map(|r| &r.meta)
        .chain(META_RULES.iter().copied())
        .collect();
    let rules: Vec<Value> = metas.iter().map(|m| descriptor(m)).collect();
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
                        "artifactLocation": {"uri": m.path.replace('\\', "/")},
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column.max(1),
                        }
                    }
                }],
                "properties": {"category": f.category.as_str(), "verdict": f.verdict.as_str(), "statementIndex": f.statement_index},
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
    let doc = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "migsafe",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/migsafe/migsafe",
                "rules": rules,
            }},
            "results": results,
            "properties": {
                "verdict": report.verdict.as_str(),
                "releaseClass": report.release_class.as_str(),
                "passed": report.passed,
            }
        }]
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
