//! Metadata of the findings the classifier itself reports (about suppression comments and empty
//! migrations) rather than a rule's check function.

use super::*;

pub static UNUSED: RuleMeta = RuleMeta {
    name: "unused-suppression",
    category: Category::Style,
    verdict: Verdict::Caution,
    dialects: ALL_DIALECTS,
    summary: "A `-- migsafe:allow` comment that suppresses nothing",
    why: "A stale suppression hides nothing today but would silently hide a future finding of that rule at this place.",
    safer: "Remove the comment, or fix the rule name it lists.",
    anchors: &["squawk:unused-ignore"],
    bad: "-- migsafe:allow drop-table reason=\"cleanup\"\nSELECT 1;\n",
    good: "-- migsafe:allow drop-table reason=\"table unused since v2\"\nDROP TABLE legacy;\n",
};

pub static INVALID: RuleMeta = RuleMeta {
    name: "invalid-suppression",
    category: Category::Style,
    verdict: Verdict::Caution,
    dialects: ALL_DIALECTS,
    summary: "A `-- migsafe:allow` comment without a reason",
    why: "Suppressions must say why the risk is acceptable so reviewers can judge it; one without `reason=\"…\"` is not honoured, so the finding it meant to hide still gates.",
    safer: "Write `-- migsafe:allow <rule> reason=\"why this is fine\"`.",
    anchors: &[],
    bad: "-- migsafe:allow drop-table\nDROP TABLE legacy;\n",
    good: "-- migsafe:allow drop-table reason=\"table unused since v2\"\nDROP TABLE legacy;\n",
};

pub static EMPTY: RuleMeta = RuleMeta {
    name: "empty-migration",
    category: Category::Style,
    verdict: Verdict::Caution,
    dialects: ALL_DIALECTS,
    summary: "A migration file without any SQL statement",
    why: "An empty migration is usually a mistake (SQL written into the wrong file, a section marker misspelt, an unsaved editor buffer); it applies nothing while the history records it as applied.",
    safer: "Put the intended SQL in the file, or delete the file if it is not needed.",
    anchors: &[],
    bad: "-- TODO: add the index\n",
    good: "CREATE TABLE audit_log (id bigint PRIMARY KEY);\n",
};

/// The pseudo-rules, for docs, config and SARIF.
pub static META_RULES: &[&RuleMeta] = &[&UNUSED, &INVALID, &EMPTY];

/// Metadata for a pseudo-rule by name.
pub fn get(name: &str) -> &'static RuleMeta {
    META_RULES
        .iter()
        .copied()
        .find(|m| m.name == name)
        .unwrap_or(&UNUSED)
}
