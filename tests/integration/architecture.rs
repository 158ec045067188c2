//! The layers of docs/architecture.md, checked against the code: every module of `src/lib.rs`
//! has a layer in the document's table, and no file imports a module of a higher layer (or one
//! the document forbids outright, such as renderers importing engines).

use crate::support::root;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `| `module` | layer | …` rows of the layer table, and `forbid: a -> b` lines.
fn read_doc() -> (BTreeMap<String, u32>, Vec<(String, String)>) {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let mut layers = BTreeMap::new();
    let mut forbid = Vec::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() >= 4
            && cells[1].starts_with('`')
            && let Ok(layer) = cells[2].parse::<u32>()
        {
            for m in cells[1].split(',') {
                layers.insert(m.trim().trim_matches('`').to_string(), layer);
            }
        }
        if let Some(rule) = line.trim().strip_prefix("- forbidden: `")
            && let Some((a, rest)) = rule.split_once("` → `")
        {
            forbid.push((a.to_string(), rest.trim_end_matches('`').to_string()));
        }
    }
    (layers, forbid)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a source file belongs to (`src/engines/postgres/admin.rs` → engines).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    let m = first.trim_end_matches(".rs").to_string();
    (m != "lib" && m != "main").then_some(m)
}

/// Every `crate::<module>` a file names outside comments and outside its tests.
fn imports(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + 7..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push((n + 1, name));
            }
            rest = after;
        }
    }
    out
}

#[test]
fn every_module_has_a_layer_and_no_module_imports_upward() {
    let (layers, forbid) = read_doc();
    assert!(
        layers.len() >= 10,
        "the layer table was not found: {layers:?}"
    );
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).unwrap();
    for line in lib.lines() {
        if let Some(m) = line.strip_prefix("pub mod ") {
            let m = m.trim_end_matches(';');
            assert!(
                layers.contains_key(m),
                "docs/architecture.md gives module `{m}` no layer"
            );
        }
    }
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for f in &files {
        let Some(m) = module_of(&src, f) else {
            continue;
        };
        let own = *layers
            .get(&m)
            .unwrap_or_else(|| panic!("{}: module `{m}` has no layer", f.display()));
        let text = std::fs::read_to_string(f).unwrap();
        for (line, to) in imports(&text) {
            let Some(&theirs) = layers.get(&to) else {
                continue;
            };
            let rel = f.strip_prefix(root()).unwrap().display().to_string();
            if theirs > own {
                wrong.push(format!(
                    "{rel}:{line}: {m} (layer {own}) imports {to} (layer {theirs})"
                ));
            }
            if forbid.iter().any(|(a, b)| *a == m && *b == to) {
                wrong.push(format!("{rel}:{line}: {m} must never import {to}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports pointing up a layer:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_sees_imports_and_ignores_comments_and_tests() {
    let text = "use crate::engines::conn::Conn; // crate::cli here is a comment\nfn f() { crate::report::x(); }\n#[cfg(test)]\nmod tests { use crate::cli; }\n";
    let found: Vec<String> = imports(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(found, vec!["engines".to_string(), "report".to_string()]);
}
