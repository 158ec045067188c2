//! Metadata of the findings the classifier reports about suppression comments themselves.

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

/// Metadata for a suppression pseudo-rule by name.
pub fn meta(name: &str) -> &'static RuleMeta {
    if name == INVALID.name {
        &INVALID
    } else {
        &UNUSED
    }
}

/// The pseudo-rules, for docs and SARIF.
pub static META_RULES: &[&RuleMeta] = &[&UNUSED, &INVALID];
