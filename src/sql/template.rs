//! Template placeholders in migration files: Flyway `${name}`, Go templates `{{ … }}`, PHP-style
//! `{$name}`. Each is replaced before the SQL is parsed: by the value configured for it in
//! `[check.placeholders]`, else by a neutral identifier named after it (or a neutral literal
//! where SQL needs one: after `COMMENT`/`IS`/`INTERVAL`, inside a type's length), so the
//! statement is classified instead of being unknown. The substitutions are reported.
//!
//! Placeholders inside string literals and comments are left alone (they are data, such as a
//! scheduler's `'${system.datetime}'`), except when a value is configured for them. Dollar-quoted
//! PostgreSQL bodies are code and are substituted.

use super::Dialect;
use std::collections::BTreeMap;
use std::ops::Range;

/// One placeholder found and what replaced it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Placeholder {
    /// As written (`${schema}`, `{{ index .Options "Namespace" }}`).
    pub text: String,
    /// The name it is configured under (`schema`, `Namespace`).
    pub name: String,
    /// What migsafe put in its place.
    pub value: String,
    /// `config` (from `[check.placeholders]`), `identifier` or `literal` (neutral stand-ins).
    pub source: &'static str,
    /// 1-based position in the file.
    pub line: usize,
    pub column: usize,
}

/// A section's text with its placeholders replaced.
#[derive(Debug, Clone)]
pub struct Substituted {
    pub text: String,
    pub range: Range<usize>,
    pub placeholders: Vec<Placeholder>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// `{{ … }}`
    Go,
    /// `${…}`
    Dollar,
    /// `{$…}`
    Php,
}

/// A placeholder at `start..end` of `text`, if one starts at `i`.
fn placeholder_at(text: &str, i: usize) -> Option<(usize, Kind)> {
    let rest = &text[i..];
    let (kind, close) = if rest.starts_with("{{") {
        (Kind::Go, "}}")
    } else if rest.starts_with("${") {
        (Kind::Dollar, "}")
    } else if rest.starts_with("{$") {
        (Kind::Php, "}")
    } else {
        return None;
    };
    let inner_start = 2;
    let end = rest[inner_start..].find(close)? + inner_start + close.len();
    let inner = &rest[inner_start..end - close.len()];
    // `${` must hold a name, not arbitrary text (a `$` before `{` in a JSON literal is rare but
    // possible outside strings only in broken SQL); keep to one line for `${…}` and `{$…}`
    if kind != Kind::Go && (inner.trim().is_empty() || inner.contains('\n')) {
        return None;
    }
    Some((i + end, kind))
}

/// The name a placeholder is configured under.
fn name_of(inner: &str, kind: Kind) -> String {
    match kind {
        Kind::Dollar | Kind::Php => inner.trim().to_string(),
        Kind::Go => {
            // the last quoted string or field: `index .Options "Namespace"` → Namespace,
            // `.Schema` → Schema
            let t = inner
                .trim()
                .trim_start_matches('-')
                .trim_end_matches('-')
                .trim();
            if let Some(q) = t.rfind('"') {
                let before = &t[..q];
                if let Some(open) = before.rfind('"') {
                    return before[open + 1..].to_string();
                }
            }
            t.split(|c: char| c.is_whitespace() || c == '.')
                .rfind(|w| !w.is_empty())
                .unwrap_or("")
                .to_string()
        }
    }
}

/// A neutral identifier for `name`: lower case letters, digits and `_`, never a keyword.
fn neutral_identifier(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    s = s.trim_matches('_').to_string();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s = format!("placeholder_{s}");
    }
    let upper = s.to_ascii_uppercase();
    if sqlparser::keywords::ALL_KEYWORDS.contains(&upper.as_str()) {
        s.push('_');
    }
    s
}

/// The word (letters, digits, `_`) that `s` ends with.
fn last_word(s: &str) -> &str {
    let start = s
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
        .last()
        .map_or(s.len(), |(i, _)| i);
    &s[start..]
}

/// Whether the placeholder at `i` stands where SQL needs a literal rather than a name.
fn literal_position(text: &str, i: usize) -> Option<&'static str> {
    let before = text[..i].trim_end();
    match last_word(before).to_ascii_uppercase().as_str() {
        "COMMENT" | "IS" | "INTERVAL" => return Some("'placeholder'"),
        _ => {}
    }
    // varchar(${len}), numeric(${p}, ${s})
    if before.ends_with('(') || before.ends_with(',') {
        let head = before.trim_end_matches([',', '(']).trim_end();
        let ty = last_word(head);
        if matches!(
            ty.to_ascii_lowercase().as_str(),
            "varchar"
                | "char"
                | "character"
                | "numeric"
                | "decimal"
                | "varbinary"
                | "binary"
                | "bit"
        ) {
            return Some("1");
        }
    }
    None
}

/// Replaces the placeholders of `text[range]`. `None` when there is none.
pub fn substitute(
    text: &str,
    range: Range<usize>,
    dialect: Dialect,
    configured: &BTreeMap<String, String>,
) -> Option<Substituted> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut placeholders = Vec::new();
    let mut copied = range.start;
    let mut i = range.start;
    let mut line = text[..range.start].matches('\n').count() + 1;
    let mut line_start = text[..range.start].rfind('\n').map_or(0, |k| k + 1);
    let mysql = dialect == Dialect::Mysql;
    let mut in_string: Option<u8> = None;
    while i < range.end {
        let b = bytes[i];
        if b == b'\n' {
            line += 1;
            line_start = i + 1;
        }
        if let Some(q) = in_string {
            if mysql && b == b'\\' {
                i += 2;
                continue;
            }
            if b == q {
                in_string = None;
            }
            // configured placeholders are replaced inside strings too (Flyway does)
            if !configured.is_empty()
                && let Some((end, kind)) = placeholder_at(text, i).filter(|(e, _)| *e <= range.end)
            {
                let inner = &text[i + 2..end - if kind == Kind::Go { 2 } else { 1 }];
                let name = name_of(inner, kind);
                if let Some(v) = configured
                    .get(&name)
                    .or_else(|| configured.get(inner.trim()))
                {
                    out.push_str(&text[copied..i]);
                    out.push_str(v);
                    placeholders.push(Placeholder {
                        text: text[i..end].to_string(),
                        name,
                        value: v.clone(),
                        source: "config",
                        line,
                        column: text[line_start..i].chars().count() + 1,
                    });
                    copied = end;
                    i = end;
                    continue;
                }
            }
            i += 1;
            continue;
        }
        match b {
            b'\'' => in_string = Some(b'\''),
            b'"' if mysql => in_string = Some(b'"'),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = text[i..range.end].find('\n').map_or(range.end, |k| i + k);
                continue;
            }
            b'#' if mysql => {
                i = text[i..range.end].find('\n').map_or(range.end, |k| i + k);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..range.end]
                    .find("*/")
                    .map_or(range.end, |k| i + 2 + k + 2);
                line += text[i..end].matches('\n').count();
                if let Some(k) = text[i..end].rfind('\n') {
                    line_start = i + k + 1;
                }
                i = end;
                continue;
            }
            b'{' | b'$' => {
                if let Some((end, kind)) = placeholder_at(text, i).filter(|(e, _)| *e <= range.end)
                {
                    let inner = &text[i + 2..end - if kind == Kind::Go { 2 } else { 1 }];
                    let name = name_of(inner, kind);
                    let (value, source) = match configured
                        .get(&name)
                        .or_else(|| configured.get(inner.trim()))
                    {
                        Some(v) => (v.clone(), "config"),
                        None => match literal_position(text, i) {
                            Some(lit) => (lit.to_string(), "literal"),
                            None => (neutral_identifier(&name), "identifier"),
                        },
                    };
                    out.push_str(&text[copied..i]);
                    out.push_str(&value);
                    // keep the line count: a multi-line template action keeps its newlines
                    for _ in 0..text[i..end].matches('\n').count() {
                        out.push('\n');
                    }
                    placeholders.push(Placeholder {
                        text: text[i..end].to_string(),
                        name,
                        value,
                        source,
                        line,
                        column: text[line_start..i].chars().count() + 1,
                    });
                    line += text[i..end].matches('\n').count();
                    copied = end;
                    i = end;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if placeholders.is_empty() {
        return None;
    }
    let mut full = String::with_capacity(text.len() + out.len());
    full.push_str(&text[..range.start]);
    let start = full.len();
    full.push_str(&out);
    full.push_str(&text[copied..range.end]);
    let end = full.len();
    full.push_str(&text[range.end..]);
    Some(Substituted {
        text: full,
        range: start..end,
        placeholders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(sql: &str, d: Dialect, cfg: &[(&str, &str)]) -> Option<Substituted> {
        let cfg: BTreeMap<String, String> = cfg
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        substitute(sql, 0..sql.len(), d, &cfg)
    }

    #[test]
    fn neutral_identifiers_and_literals() {
        let s = sub(
            "CREATE TABLE {{ index .Options \"Namespace\" }}.users (id int);\nALTER TABLE \"{{ index .Options \"Namespace\" }}\".\"users\" ADD COLUMN c varchar(${len}) COMMENT ${note};",
            Dialect::Postgres,
            &[],
        )
        .unwrap();
        assert_eq!(
            s.text,
            "CREATE TABLE namespace.users (id int);\nALTER TABLE \"namespace\".\"users\" ADD COLUMN c varchar(1) COMMENT 'placeholder';"
        );
        let p = &s.placeholders;
        assert_eq!(p.len(), 4);
        assert_eq!(
            (p[1].line, p[1].column, p[1].name.as_str()),
            (2, 14, "Namespace")
        );
        assert_eq!(p[2].source, "literal");
    }

    #[test]
    fn configured_values_php_style_and_strings() {
        let s = sub(
            "CREATE TABLE {$prefix}users (id int); INSERT INTO t VALUES ('${system.datetime}');",
            Dialect::Mysql,
            &[("prefix", "app_")],
        )
        .unwrap();
        assert_eq!(
            s.text,
            "CREATE TABLE app_users (id int); INSERT INTO t VALUES ('${system.datetime}');"
        );
        assert_eq!(s.placeholders.len(), 1);
        assert_eq!(s.placeholders[0].source, "config");
        // a keyword name gets a suffix; nothing to replace gives None
        let s = sub("DROP TABLE ${table};", Dialect::Postgres, &[]).unwrap();
        assert_eq!(s.text, "DROP TABLE table_;");
        assert!(sub("SELECT '{{ x }}' -- ${y}\n;", Dialect::Postgres, &[]).is_none());
    }
}
