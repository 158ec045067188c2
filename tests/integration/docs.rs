//! Generated docs cannot drift: docs/rules/ must equal what the rule metadata renders.
//! `MIGSAFE_UPDATE_DOCS=1 cargo test docs_are_current` rewrites them.

use crate::support::root;
use migsafe::report::rules_doc;
use std::fs;

#[test]
fn docs_are_current() {
    let dir = root().join("docs/rules");
    let mut expected = vec![("README.md".to_string(), rules_doc::index())];
    for m in rules_doc::all() {
        expected.push((format!("{}.md", m.name), rules_doc::page(m)));
    }
    if std::env::var_os("MIGSAFE_UPDATE_DOCS").is_some() {
        fs::create_dir_all(&dir).unwrap();
        for entry in fs::read_dir(&dir).unwrap() {
            fs::remove_file(entry.unwrap().path()).unwrap();
        }
        for (name, text) in &expected {
            fs::write(dir.join(name), text).unwrap();
        }
    }
    let mut stale = Vec::new();
    for (name, text) in &expected {
        if fs::read_to_string(dir.join(name)).ok().as_deref() != Some(text.as_str()) {
            stale.push(name.clone());
        }
    }
    let on_disk = fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert!(
        stale.is_empty() && on_disk == expected.len(),
        "docs/rules is out of date ({stale:?}, {on_disk} files on disk, {} expected): run `MIGSAFE_UPDATE_DOCS=1 cargo test docs_are_current`",
        expected.len()
    );
}

#[test]
fn every_rule_has_fixtures_on_disk_matching_its_metadata() {
    for rule in migsafe::rules::RULES {
        let m = &rule.meta;
        let dir = root().join("fixtures/rules").join(m.name);
        assert_eq!(
            fs::read_to_string(dir.join("bad.sql")).unwrap(),
            m.bad,
            "{}",
            m.name
        );
        assert_eq!(
            fs::read_to_string(dir.join("good.sql")).unwrap(),
            m.good,
            "{}",
            m.name
        );
        assert!(
            m.name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
            "{} is not kebab-case",
            m.name
        );
    }
}
