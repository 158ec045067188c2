//! The schema diff between two catalogs (the structured catalog each engine reads before and
//! after a migration file lives in `engines::catalog`).

pub use crate::engines::catalog::{Catalog, Column, Constraint, Index, Table, View};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectType {
    Table,
    Column,
    Index,
    Constraint,
    View,
    Function,
    Enum,
    Sequence,
    Trigger,
}

impl ObjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Table => "table",
            ObjectType::Column => "column",
            ObjectType::Index => "index",
            ObjectType::Constraint => "constraint",
            ObjectType::View => "view",
            ObjectType::Function => "function",
            ObjectType::Enum => "enum",
            ObjectType::Sequence => "sequence",
            ObjectType::Trigger => "trigger",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Added,
    Dropped,
    Changed,
    Renamed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Added => "added",
            Action::Dropped => "dropped",
            Action::Changed => "changed",
            Action::Renamed => "renamed",
        }
    }
}

/// One property that changed: `type`, `nullable`, `default`, `definition`, `labels` …
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

/// One difference between two catalogs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub object: ObjectType,
    /// Qualified name after the change (before it, for drops): `public.users.email`.
    pub name: String,
    pub action: Action,
    /// The object as it was (drops, changes) or its old name (renames).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// The object as it is (additions, changes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
}

impl Change {
    fn new(object: ObjectType, name: impl Into<String>, action: Action) -> Change {
        Change {
            object,
            name: name.into(),
            action,
            before: None,
            after: None,
            fields: Vec::new(),
        }
    }

    fn before(mut self, s: impl Into<String>) -> Change {
        self.before = Some(s.into());
        self
    }

    fn after(mut self, s: impl Into<String>) -> Change {
        self.after = Some(s.into());
        self
    }

    pub fn field(&self, name: &str) -> Option<&FieldChange> {
        self.fields.iter().find(|f| f.field == name)
    }
}

fn field(out: &mut Vec<FieldChange>, name: &str, before: &str, after: &str) {
    if before != after {
        out.push(FieldChange {
            field: name.to_string(),
            before: before.to_string(),
            after: after.to_string(),
        });
    }
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("none")
}

/// How two catalogs are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    /// Engine identities count: a column dropped and re-added under its old name is reported
    /// as recreated (its values are gone), which is what a forward migration must show.
    Identity,
    /// Names only: a column with the same name and definition is the same column, whatever
    /// its engine identity (PostgreSQL attnum). The down check asks whether down restores the
    /// schema, and a re-added column cannot keep its attnum.
    Name,
}

/// Every difference from `a` to `b`, tables first, in a stable order.
pub fn diff(a: &Catalog, b: &Catalog) -> Vec<Change> {
    diff_with(a, b, Match::Identity)
}

/// The differences from `a` to `b` compared by name: a column dropped and re-added with the
/// same definition is not a difference (see [`column_moves`] for where it ended up).
pub fn diff_by_name(a: &Catalog, b: &Catalog) -> Vec<Change> {
    diff_with(a, b, Match::Name)
}

fn diff_with(a: &Catalog, b: &Catalog, by: Match) -> Vec<Change> {
    let mut out = Vec::new();
    diff_tables(a, b, by, &mut out);
    for (name, v) in &b.views {
        match a.views.get(name) {
            None => {
                out.push(Change::new(ObjectType::View, name, Action::Added).after(view_desc(v)))
            }
            Some(old) if old != v && !(by == Match::Name && reordered_view(old, v).is_some()) => {
                let mut c = Change::new(ObjectType::View, name, Action::Changed)
                    .before(view_desc(old))
                    .after(view_desc(v));
                field(&mut c.fields, "definition", &old.definition, &v.definition);
                field(
                    &mut c.fields,
                    "materialized",
                    &old.materialized.to_string(),
                    &v.materialized.to_string(),
                );
                out.push(c);
            }
            _ => {}
        }
    }
    for (name, v) in &a.views {
        if !b.views.contains_key(name) {
            out.push(Change::new(ObjectType::View, name, Action::Dropped).before(view_desc(v)));
        }
    }
    simple_map(ObjectType::Function, &a.functions, &b.functions, &mut out);
    simple_map(ObjectType::Trigger, &a.triggers, &b.triggers, &mut out);
    for (name, labels) in &b.enums {
        match a.enums.get(name) {
            None => out
                .push(Change::new(ObjectType::Enum, name, Action::Added).after(labels.join(", "))),
            Some(old) if old != labels => {
                let mut c = Change::new(ObjectType::Enum, name, Action::Changed)
                    .before(old.join(", "))
                    .after(labels.join(", "));
                field(&mut c.fields, "labels", &old.join(", "), &labels.join(", "));
                out.push(c);
            }
            _ => {}
        }
    }
    for (name, labels) in &a.enums {
        if !b.enums.contains_key(name) {
            out.push(
                Change::new(ObjectType::Enum, name, Action::Dropped).before(labels.join(", ")),
            );
        }
    }
    for s in b.sequences.difference(&a.sequences) {
        out.push(Change::new(ObjectType::Sequence, s, Action::Added));
    }
    for s in a.sequences.difference(&b.sequences) {
        out.push(Change::new(ObjectType::Sequence, s, Action::Dropped));
    }
    out
}

fn view_desc(v: &View) -> String {
    if v.materialized {
        format!("materialized view: {}", v.definition)
    } else {
        v.definition.clone()
    }
}

fn simple_map(
    object: ObjectType,
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
    out: &mut Vec<Change>,
) {
    for (name, def) in b {
        match a.get(name) {
            None => out.push(Change::new(object, name, Action::Added).after(def.clone())),
            Some(old) if old != def => {
                let mut c = Change::new(object, name, Action::Changed)
                    .before(old.clone())
                    .after(def.clone());
                field(&mut c.fields, "definition", old, def);
                out.push(c);
            }
            _ => {}
        }
    }
    for (name, def) in a {
        if !b.contains_key(name) {
            out.push(Change::new(object, name, Action::Dropped).before(def.clone()));
        }
    }
}

fn same_columns(a: &Table, b: &Table) -> bool {
    a.columns.len() == b.columns.len()
        && a.columns
            .iter()
            .zip(&b.columns)
            .all(|(x, y)| x.name == y.name && x.data_type == y.data_type)
}

fn table_desc(t: &Table) -> String {
    t.columns
        .iter()
        .map(|c| format!("{} {}", c.name, c.describe()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn diff_tables(a: &Catalog, b: &Catalog, by: Match, out: &mut Vec<Change>) {
    let dropped: Vec<&String> = a
        .tables
        .keys()
        .filter(|k| !b.tables.contains_key(*k))
        .collect();
    let added: Vec<&String> = b
        .tables
        .keys()
        .filter(|k| !a.tables.contains_key(*k))
        .collect();
    // renames: an identity that moved to a new name, or (without identities) one dropped and one
    // added table with exactly the same columns
    let mut renamed: Vec<(&String, &String)> = Vec::new();
    for d in &dropped {
        let old = &a.tables[*d];
        let hit = added.iter().find(|n| {
            let new = &b.tables[**n];
            let taken = renamed.iter().any(|(_, to)| to == *n);
            !taken
                && match (&old.id, &new.id) {
                    (Some(x), Some(y)) => x == y,
                    _ => same_columns(old, new),
                }
        });
        if let Some(n) = hit {
            renamed.push((d, n));
        }
    }
    for (from, to) in &renamed {
        out.push(
            Change::new(ObjectType::Table, to.as_str(), Action::Renamed)
                .before(from.as_str())
                .after(to.as_str()),
        );
        table_contents(to, &a.tables[*from], &b.tables[*to], by, out);
    }
    for n in &added {
        if renamed.iter().any(|(_, to)| to == n) {
            continue;
        }
        let t = &b.tables[*n];
        out.push(Change::new(ObjectType::Table, n.as_str(), Action::Added).after(table_desc(t)));
        for (iname, i) in &t.indexes {
            out.push(
                Change::new(ObjectType::Index, format!("{n}.{iname}"), Action::Added)
                    .after(i.definition.clone()),
            );
        }
        for (cname, c) in &t.constraints {
            out.push(
                Change::new(
                    ObjectType::Constraint,
                    format!("{n}.{cname}"),
                    Action::Added,
                )
                .after(format!("{} {}", c.kind, c.definition)),
            );
        }
    }
    for d in &dropped {
        if renamed.iter().any(|(from, _)| from == d) {
            continue;
        }
        out.push(
            Change::new(ObjectType::Table, d.as_str(), Action::Dropped)
                .before(table_desc(&a.tables[*d])),
        );
    }
    for (name, old) in &a.tables {
        if let Some(new) = b.tables.get(name) {
            table_contents(name, old, new, by, out);
        }
    }
}

fn table_contents(tname: &str, old: &Table, new: &Table, by: Match, out: &mut Vec<Change>) {
    let find = |t: &'_ Table, n: &str| t.columns.iter().position(|c| c.name == n);
    let dropped: Vec<&Column> = old
        .columns
        .iter()
        .filter(|c| find(new, &c.name).is_none())
        .collect();
    let added: Vec<&Column> = new
        .columns
        .iter()
        .filter(|c| find(old, &c.name).is_none())
        .collect();
    let mut renamed: Vec<(&Column, &Column)> = Vec::new();
    for d in &dropped {
        let hit = added.iter().find(|n| {
            !renamed.iter().any(|(_, to)| to.name == n.name)
                && match (&d.id, &n.id) {
                    (Some(x), Some(y)) => x == y,
                    // without identities: same position and type, and the column count is unchanged
                    _ => {
                        d.position == n.position
                            && d.data_type == n.data_type
                            && old.columns.len() == new.columns.len()
                    }
                }
        });
        if let Some(n) = hit {
            renamed.push((d, n));
        }
    }
    for c in &new.columns {
        let qn = format!("{tname}.{}", c.name);
        if let Some((from, _)) = renamed.iter().find(|(_, to)| to.name == c.name) {
            let mut ch = Change::new(ObjectType::Column, qn, Action::Renamed)
                .before(from.name.clone())
                .after(c.name.clone());
            column_fields(from, c, &mut ch.fields);
            out.push(ch);
        } else if let Some(i) = find(old, &c.name) {
            let o = &old.columns[i];
            let mut fields = Vec::new();
            column_fields(o, c, &mut fields);
            if let (Some(x), Some(y)) = (&o.id, &c.id)
                && x != y
                && by == Match::Identity
            {
                fields.push(FieldChange {
                    field: "recreated".into(),
                    before: format!("#{x}"),
                    after: format!("#{y}"),
                });
            }
            if !fields.is_empty() {
                let mut ch = Change::new(ObjectType::Column, qn, Action::Changed)
                    .before(o.describe())
                    .after(c.describe());
                ch.fields = fields;
                out.push(ch);
            }
        } else {
            out.push(Change::new(ObjectType::Column, qn, Action::Added).after(c.describe()));
        }
    }
    for d in &dropped {
        if !renamed.iter().any(|(from, _)| from.name == d.name) {
            out.push(
                Change::new(
                    ObjectType::Column,
                    format!("{tname}.{}", d.name),
                    Action::Dropped,
                )
                .before(d.describe()),
            );
        }
    }
    for (iname, i) in &new.indexes {
        let qn = format!("{tname}.{iname}");
        match old.indexes.get(iname) {
            None => out.push(
                Change::new(ObjectType::Index, qn, Action::Added).after(i.definition.clone()),
            ),
            Some(o) if o != i => {
                let mut ch = Change::new(ObjectType::Index, qn, Action::Changed)
                    .before(o.definition.clone())
                    .after(i.definition.clone());
                field(&mut ch.fields, "definition", &o.definition, &i.definition);
                field(
                    &mut ch.fields,
                    "unique",
                    &o.unique.to_string(),
                    &i.unique.to_string(),
                );
                field(
                    &mut ch.fields,
                    "valid",
                    &o.valid.to_string(),
                    &i.valid.to_string(),
                );
                out.push(ch);
            }
            _ => {}
        }
    }
    for (iname, i) in &old.indexes {
        if !new.indexes.contains_key(iname) {
            out.push(
                Change::new(
                    ObjectType::Index,
                    format!("{tname}.{iname}"),
                    Action::Dropped,
                )
                .before(i.definition.clone()),
            );
        }
    }
    for (cname, c) in &new.constraints {
        let qn = format!("{tname}.{cname}");
        let desc = |c: &Constraint| format!("{} {}", c.kind, c.definition);
        match old.constraints.get(cname) {
            None => out.push(Change::new(ObjectType::Constraint, qn, Action::Added).after(desc(c))),
            Some(o) if o != c => {
                let mut ch = Change::new(ObjectType::Constraint, qn, Action::Changed)
                    .before(desc(o))
                    .after(desc(c));
                field(&mut ch.fields, "definition", &o.definition, &c.definition);
                field(
                    &mut ch.fields,
                    "validated",
                    &o.validated.to_string(),
                    &c.validated.to_string(),
                );
                out.push(ch);
            }
            _ => {}
        }
    }
    for (cname, c) in &old.constraints {
        if !new.constraints.contains_key(cname) {
            out.push(
                Change::new(
                    ObjectType::Constraint,
                    format!("{tname}.{cname}"),
                    Action::Dropped,
                )
                .before(format!("{} {}", c.kind, c.definition)),
            );
        }
    }
}

/// A column whose place among its table's (or view's) columns differs between two catalogs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnMove {
    /// The table or view.
    pub table: String,
    pub column: String,
    /// 1-based place among the table's columns before, and after.
    pub before: usize,
    pub after: usize,
}

/// The columns that changed place in tables of both catalogs (same name), and in views whose
/// select lists differ only in order: the fewest columns whose moves explain the new order (all
/// but the longest run kept in order), so a column re-added at the end is reported, not every
/// column behind its old place.
pub fn column_moves(a: &Catalog, b: &Catalog) -> Vec<ColumnMove> {
    let mut out = Vec::new();
    for (tname, old) in &a.tables {
        if let Some(new) = b.tables.get(tname) {
            let (x, y) = (ordered_names(old), ordered_names(new));
            let common = |from: &[String], other: &[String]| -> Vec<String> {
                from.iter().filter(|n| other.contains(n)).cloned().collect()
            };
            moves(tname, &x, &y, &common(&x, &y), &common(&y, &x), &mut out);
        }
    }
    for (vname, old) in &a.views {
        if let Some((x, y)) = b.views.get(vname).and_then(|new| reordered_view(old, new)) {
            moves(vname, &x, &y, &x, &y, &mut out);
        }
    }
    out
}

/// The columns of `cx` (the columns of `x` also in `y`) outside the longest run kept in order
/// in `cy`, with their places in `x` and `y`.
fn moves(
    object: &str,
    x: &[String],
    y: &[String],
    cx: &[String],
    cy: &[String],
    out: &mut Vec<ColumnMove>,
) {
    if cx == cy {
        return;
    }
    let kept = longest_common_order(cx, cy);
    let place =
        |names: &[String], name: &String| names.iter().position(|n| n == name).map_or(0, |i| i + 1);
    for name in cx.iter().filter(|n| !kept.contains(n)) {
        out.push(ColumnMove {
            table: object.to_string(),
            column: name.clone(),
            before: place(x, name),
            after: place(y, name),
        });
    }
}

/// When two views differ only in the order of their select lists (a view over `t.*` re-created
/// after a column of `t` moved), each one's output column names, in order.
fn reordered_view(a: &View, b: &View) -> Option<(Vec<String>, Vec<String>)> {
    if a.materialized != b.materialized {
        return None;
    }
    let (xa, rest_a) = select_list(&a.definition)?;
    let (xb, rest_b) = select_list(&b.definition)?;
    if rest_a != rest_b || xa == xb {
        return None;
    }
    let (mut sa, mut sb) = (xa.clone(), xb.clone());
    sa.sort();
    sb.sort();
    (sa == sb).then(|| {
        (
            xa.iter().map(|i| output_name(i)).collect(),
            xb.iter().map(|i| output_name(i)).collect(),
        )
    })
}

/// The items of a view definition's top-level select list and the text after them, for a
/// definition of the form `SELECT a, b, … FROM …` (quotes and parentheses respected).
fn select_list(def: &str) -> Option<(Vec<String>, String)> {
    let body = def.trim();
    let head = body.get(..7)?;
    if !head.eq_ignore_ascii_case("select ") {
        return None;
    }
    let rest = &body[7..];
    let bytes = rest.as_bytes();
    let (mut depth, mut quote, mut start) = (0i32, None::<u8>, 0usize);
    let mut items = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'\'' | b'"' | b'`' => quote = Some(c),
                b'(' => depth += 1,
                b')' => depth -= 1,
                b',' if depth == 0 => {
                    items.push(rest[start..i].trim().to_string());
                    start = i + 1;
                }
                b' ' if depth == 0
                    && rest
                        .get(i..i + 6)
                        .is_some_and(|w| w.eq_ignore_ascii_case(" from ")) =>
                {
                    items.push(rest[start..i].trim().to_string());
                    return Some((items, rest[i..].to_string()));
                }
                _ => {}
            },
        }
        i += 1;
    }
    items.push(rest[start..].trim().to_string());
    Some((items, String::new()))
}

/// The name a select-list item gives its column: the alias, else the last part of the name.
fn output_name(item: &str) -> String {
    let lower = item.to_ascii_lowercase();
    let name = match lower.rfind(" as ") {
        Some(i) => &item[i + 4..],
        None => item.rsplit('.').next().unwrap_or(item),
    };
    name.trim().trim_matches(['"', '`']).to_string()
}

/// Column names in the table's order.
fn ordered_names(t: &Table) -> Vec<String> {
    let mut cols: Vec<&Column> = t.columns.iter().collect();
    cols.sort_by_key(|c| c.position);
    cols.into_iter().map(|c| c.name.clone()).collect()
}

/// The names of a longest subsequence common to `x` and `y`.
fn longest_common_order(x: &[String], y: &[String]) -> Vec<String> {
    let (n, m) = (x.len(), y.len());
    let mut len = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            len[i][j] = if x[i] == y[j] {
                len[i + 1][j + 1] + 1
            } else {
                len[i + 1][j].max(len[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n && j < m {
        if x[i] == y[j] {
            out.push(x[i].clone());
            i += 1;
            j += 1;
        } else if len[i + 1][j] >= len[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn column_fields(o: &Column, c: &Column, fields: &mut Vec<FieldChange>) {
    field(fields, "type", &o.data_type, &c.data_type);
    field(
        fields,
        "nullable",
        &o.nullable.to_string(),
        &c.nullable.to_string(),
    );
    field(fields, "default", opt(&o.default), opt(&c.default));
    field(fields, "extra", opt(&o.extra), opt(&c.extra));
}

/// Why changing a column from type `before` to `after` can lose or reject existing values, or
/// `None` when every value converts exactly (a widening: `varchar(10)` → `varchar(20)` or `text`,
/// `int` → `bigint`, `numeric(10,2)` → `numeric(12,2)`, `date` → `timestamp` …).
pub fn lossy_type_change(before: &str, after: &str) -> Option<String> {
    let a = TypeDesc::parse(before);
    let b = TypeDesc::parse(after);
    if a == b {
        return None;
    }
    if a.array != b.array {
        return Some(format!("{before} → {after}: array-ness changes"));
    }
    let lossy = || {
        Some(format!(
            "{before} → {after} may truncate or reject existing values"
        ))
    };
    // anything converts to unbounded text
    if b.family == Family::Text && b.len.is_none() && a.family != Family::Other {
        return None;
    }
    match (a.family, b.family) {
        (Family::Text, Family::Text) => match (a.len, b.len) {
            (_, None) => None,
            (Some(x), Some(y)) if y >= x => None,
            _ => lossy(),
        },
        (Family::Int, Family::Int) => {
            if b.size >= a.size + u32::from(a.unsigned && !b.unsigned)
                && (!b.unsigned || a.unsigned)
            {
                None
            } else {
                lossy()
            }
        }
        (Family::Int, Family::Numeric) => match (b.len, b.scale) {
            (None, _) => None,
            (Some(p), s) => {
                let digits = match a.size {
                    1 => 3,
                    2 => 5,
                    3 => 8,
                    4 => 10,
                    _ => 20,
                };
                if p.saturating_sub(s.unwrap_or(0)) >= digits {
                    None
                } else {
                    lossy()
                }
            }
        },
        (Family::Int, Family::Float) if a.size <= 4 && b.size == 8 => None,
        (Family::Numeric, Family::Numeric) => match (a.len, b.len) {
            (_, None) => None,
            (None, Some(_)) => lossy(),
            (Some(p1), Some(p2)) => {
                let (s1, s2) = (a.scale.unwrap_or(0), b.scale.unwrap_or(0));
                if s2 >= s1 && p2.saturating_sub(s2) >= p1.saturating_sub(s1) {
                    None
                } else {
                    lossy()
                }
            }
        },
        (Family::Float, Family::Float) if b.size >= a.size => None,
        (Family::Time, Family::Time) => {
            // date → timestamp keeps every value; timestamp ↔ timestamptz re-interprets in the
            // session time zone; anything → date, or less fractional precision, truncates
            if a.base == "date" {
                None
            } else if b.base == "date" || b.len.unwrap_or(6) < a.len.unwrap_or(6) {
                lossy()
            } else {
                None
            }
        }
        (Family::Json, Family::Json) => None,
        (Family::Enum, Family::Enum) => {
            let removed: Vec<&String> = a.values.iter().filter(|v| !b.values.contains(v)).collect();
            if removed.is_empty() {
                None
            } else {
                Some(format!(
                    "{before} → {after} removes {}",
                    removed
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
        _ => lossy(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Text,
    Int,
    Numeric,
    Float,
    Time,
    Json,
    Enum,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TypeDesc {
    base: String,
    family: Family,
    len: Option<u64>,
    scale: Option<u64>,
    size: u32,
    unsigned: bool,
    array: bool,
    values: Vec<String>,
}

impl TypeDesc {
    fn parse(t: &str) -> TypeDesc {
        let mut s = t.trim().to_ascii_lowercase();
        let array = s.ends_with("[]");
        while s.ends_with("[]") {
            s.truncate(s.len() - 2);
        }
        let unsigned = s.contains(" unsigned");
        let s = s.replace(" unsigned", "").replace(" zerofill", "");
        let (base, args) = match s.find('(') {
            Some(i) => {
                let close = s.rfind(')').unwrap_or(s.len());
                let after = s.get(close + 1..).unwrap_or("").trim().to_string();
                let base = format!(
                    "{}{}",
                    s[..i].trim(),
                    if after.is_empty() {
                        String::new()
                    } else {
                        format!(" {after}")
                    }
                );
                (base, s.get(i + 1..close).unwrap_or("").to_string())
            }
            None => (s.trim().to_string(), String::new()),
        };
        let nums: Vec<u64> = args
            .split(',')
            .filter_map(|x| x.trim().parse().ok())
            .collect();
        let values: Vec<String> = if base == "enum" || base == "set" {
            args.split(',')
                .map(|v| v.trim().trim_matches('\'').to_string())
                .collect()
        } else {
            Vec::new()
        };
        let b = base.as_str();
        let (family, size, default_len) = match b {
            "text" | "citext" | "longtext" | "clob" => (Family::Text, 0, None),
            "tinytext" => (Family::Text, 0, Some(255)),
            "mediumtext" => (Family::Text, 0, Some(16_777_215)),
            "varchar" | "character varying" | "nvarchar" | "varchar2" => (Family::Text, 0, None),
            "char" | "character" | "bpchar" | "nchar" => (Family::Text, 0, Some(1)),
            "tinyint" | "int1" => (Family::Int, 1, None),
            "smallint" | "int2" | "smallserial" => (Family::Int, 2, None),
            "mediumint" => (Family::Int, 3, None),
            "integer" | "int" | "int4" | "serial" => (Family::Int, 4, None),
            "bigint" | "int8" | "bigserial" => (Family::Int, 8, None),
            "numeric" | "decimal" => (Family::Numeric, 0, None),
            "real" | "float4" | "float" => (Family::Float, 4, None),
            "double precision" | "float8" | "double" => (Family::Float, 8, None),
            "json" | "jsonb" => (Family::Json, 0, None),
            "enum" => (Family::Enum, 0, None),
            _ if b.starts_with("timestamp") || b == "date" || b == "datetime" => {
                (Family::Time, 0, None)
            }
            _ => (Family::Other, 0, None),
        };
        // SQLite's `TEXT`-affinity declarations carry no enforced length
        let len = if family == Family::Enum || family == Family::Time && b == "date" {
            None
        } else {
            nums.first().copied().or(default_len)
        };
        TypeDesc {
            base: base.clone(),
            family,
            len,
            scale: nums.get(1).copied(),
            size,
            unsigned,
            array,
            values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, id: Option<&str>, pos: usize, ty: &str) -> Column {
        Column {
            name: name.into(),
            id: id.map(String::from),
            position: pos,
            data_type: ty.into(),
            nullable: true,
            default: None,
            extra: None,
        }
    }

    fn table(id: Option<&str>, cols: Vec<Column>) -> Table {
        Table {
            id: id.map(String::from),
            columns: cols,
            ..Table::default()
        }
    }

    #[test]
    fn widenings_are_not_lossy_and_narrowings_are() {
        for (a, b) in [
            ("character varying(10)", "character varying(20)"),
            ("character varying(10)", "text"),
            ("integer", "bigint"),
            ("smallint", "integer"),
            ("numeric(10,2)", "numeric(12,2)"),
            ("numeric(10,2)", "numeric"),
            ("integer", "numeric(12,0)"),
            ("date", "timestamp without time zone"),
            ("json", "jsonb"),
            ("enum('a','b')", "enum('a','b','c')"),
            ("int(11)", "bigint(20)"),
            ("real", "double precision"),
            ("integer", "text"),
        ] {
            assert_eq!(lossy_type_change(a, b), None, "{a} → {b}");
        }
        for (a, b) in [
            ("character varying(20)", "character varying(10)"),
            ("text", "character varying(10)"),
            ("bigint", "integer"),
            ("text", "integer"),
            ("numeric(10,2)", "numeric(10,1)"),
            ("numeric(10,2)", "integer"),
            ("timestamp with time zone", "date"),
            ("enum('a','b','c')", "enum('a','b')"),
            ("integer[]", "integer"),
            ("double precision", "real"),
            ("int(11)", "int(10) unsigned"),
        ] {
            assert!(lossy_type_change(a, b).is_some(), "{a} → {b}");
        }
    }

    #[test]
    fn diff_reports_columns_indexes_renames_and_recreations() {
        let mut a = Catalog::default();
        a.tables.insert(
            "public.users".into(),
            table(
                Some("1"),
                vec![
                    col("id", Some("1"), 1, "integer"),
                    col("legacy", Some("2"), 2, "text"),
                    col("name", Some("3"), 3, "varchar(50)"),
                    col("nick", Some("4"), 4, "text"),
                ],
            ),
        );
        a.tables.insert(
            "public.old".into(),
            table(Some("2"), vec![col("id", Some("1"), 1, "integer")]),
        );
        a.enums
            .insert("public.mood".into(), vec!["sad".into(), "ok".into()]);
        let mut b = a.clone();
        let u = b.tables.get_mut("public.users").unwrap();
        u.columns.retain(|c| c.name != "legacy");
        u.columns[1].data_type = "varchar(20)".into();
        u.columns[1].nullable = false;
        u.columns[2].id = Some("9".into());
        u.columns.push(col("email", Some("5"), 5, "text"));
        u.indexes.insert(
            "users_email_idx".into(),
            Index {
                definition: "CREATE INDEX users_email_idx ON public.users USING btree (email)"
                    .into(),
                unique: false,
                valid: true,
            },
        );
        let old = b.tables.remove("public.old").unwrap();
        b.tables.insert("public.archived".into(), old);
        b.enums.get_mut("public.mood").unwrap().push("happy".into());
        let d = diff(&a, &b);
        let get = |obj: ObjectType, name: &str| {
            d.iter()
                .find(|c| c.object == obj && c.name == name)
                .unwrap_or_else(|| panic!("{name} in {d:#?}"))
        };
        assert_eq!(
            get(ObjectType::Column, "public.users.legacy").action,
            Action::Dropped
        );
        assert_eq!(
            get(ObjectType::Column, "public.users.email").action,
            Action::Added
        );
        let name = get(ObjectType::Column, "public.users.name");
        assert_eq!(name.field("type").unwrap().after, "varchar(20)");
        assert_eq!(name.field("nullable").unwrap().after, "false");
        assert!(
            get(ObjectType::Column, "public.users.nick")
                .field("recreated")
                .is_some()
        );
        assert_eq!(
            get(ObjectType::Index, "public.users.users_email_idx").action,
            Action::Added
        );
        let r = get(ObjectType::Table, "public.archived");
        assert_eq!(
            (r.action, r.before.as_deref()),
            (Action::Renamed, Some("public.old"))
        );
        assert_eq!(get(ObjectType::Enum, "public.mood").action, Action::Changed);
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn renamed_columns_without_identity_are_paired_by_position() {
        let mut a = Catalog::default();
        a.tables.insert(
            "t".into(),
            table(
                None,
                vec![col("id", None, 1, "int"), col("nm", None, 2, "text")],
            ),
        );
        let mut b = a.clone();
        b.tables.get_mut("t").unwrap().columns[1].name = "name".into();
        let d = diff(&a, &b);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(
            (d[0].action, d[0].before.as_deref()),
            (Action::Renamed, Some("nm"))
        );
    }

    /// The Lemmy pattern (up drops a column, down adds it back; up adds one, down drops it):
    /// on PostgreSQL the re-added column gets a new attnum and lands last.
    #[test]
    fn by_name_a_readded_column_is_the_same_column_and_its_move_is_reported() {
        let mut before = Catalog::default();
        before.tables.insert(
            "public.local_user".into(),
            table(
                Some("16400"),
                vec![
                    col("id", Some("1"), 1, "integer"),
                    col("show_scores", Some("2"), 2, "boolean"),
                    col("bio", Some("3"), 3, "text"),
                    col("theme", Some("4"), 4, "text"),
                ],
            ),
        );
        // after down: show_scores re-added as attnum 5, behind the others
        let mut after_down = before.clone();
        let t = after_down.tables.get_mut("public.local_user").unwrap();
        t.columns.remove(1);
        t.columns.push(col("show_scores", Some("5"), 5, "boolean"));
        assert!(
            diff(&before, &after_down)
                .iter()
                .any(|c| c.field("recreated").is_some()),
            "forward diffs keep reporting recreated columns"
        );
        assert_eq!(diff_by_name(&before, &after_down), Vec::new());
        assert_eq!(
            column_moves(&before, &after_down),
            vec![ColumnMove {
                table: "public.local_user".into(),
                column: "show_scores".into(),
                before: 2,
                after: 4,
            }],
            "only the re-added column moved, not the columns behind its old place"
        );
        // the same order under new attnums is no move
        let mut renumbered = before.clone();
        for c in &mut renumbered
            .tables
            .get_mut("public.local_user")
            .unwrap()
            .columns
        {
            c.id = Some(format!("{}", c.position + 10));
            c.position += 10;
        }
        assert!(column_moves(&before, &renumbered).is_empty());
        assert!(diff_by_name(&before, &renumbered).is_empty());
        // a re-added column with another definition is still a difference
        let mut wrong = after_down.clone();
        let t = wrong.tables.get_mut("public.local_user").unwrap();
        t.columns.last_mut().unwrap().default = Some("false".into());
        let d = diff_by_name(&before, &wrong);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].field("default").unwrap().after, "false");
        // a column down forgot to add back is still missing
        let mut missing = after_down.clone();
        missing
            .tables
            .get_mut("public.local_user")
            .unwrap()
            .columns
            .pop();
        let d = diff_by_name(&before, &missing);
        assert_eq!(
            (d.len(), d[0].action, d[0].name.as_str()),
            (1, Action::Dropped, "public.local_user.show_scores")
        );
    }

    #[test]
    fn column_moves_name_the_fewest_columns() {
        let mk = |names: &[&str]| {
            let mut c = Catalog::default();
            c.tables.insert(
                "t".into(),
                table(
                    None,
                    names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| col(n, None, i + 1, "int"))
                        .collect(),
                ),
            );
            c
        };
        let moved = |a: &[&str], b: &[&str]| -> Vec<String> {
            column_moves(&mk(a), &mk(b))
                .into_iter()
                .map(|m| format!("{}:{}>{}", m.column, m.before, m.after))
                .collect()
        };
        assert_eq!(
            moved(&["a", "b", "c", "d"], &["a", "c", "d", "b"]),
            ["b:2>4"]
        );
        assert_eq!(
            moved(&["a", "b", "c", "d"], &["d", "c", "b", "a"]).len(),
            3,
            "a reversal keeps one column in place"
        );
        // columns only on one side are differences, not moves
        assert!(moved(&["a", "b", "c"], &["a", "c"]).is_empty());
        assert!(moved(&["a", "b"], &["a", "b", "x"]).is_empty());
    }

    /// A view over `t.*` re-created after a column of `t` moved lists its columns in the new
    /// order (Lemmy's `user_alias_1`): by name that is a move, not a changed view.
    #[test]
    fn a_view_whose_select_list_only_changed_order_is_a_move() {
        let view = |def: &str| View {
            materialized: false,
            definition: def.into(),
        };
        let mut a = Catalog::default();
        a.views.insert(
            "public.user_alias_1".into(),
            view("SELECT user_.id, user_.email, f(user_.a, user_.b) AS ab, user_.bio FROM user_;"),
        );
        let mut b = a.clone();
        b.views.insert(
            "public.user_alias_1".into(),
            view("SELECT user_.id, f(user_.a, user_.b) AS ab, user_.bio, user_.email FROM user_;"),
        );
        assert_eq!(
            diff(&a, &b).len(),
            1,
            "a forward diff shows the new definition"
        );
        assert!(diff_by_name(&a, &b).is_empty());
        assert_eq!(
            column_moves(&a, &b),
            vec![ColumnMove {
                table: "public.user_alias_1".into(),
                column: "email".into(),
                before: 2,
                after: 4,
            }]
        );
        // another column, another source or another expression is a change
        for other in [
            "SELECT user_.id, f(user_.a, user_.b) AS ab, user_.bio FROM user_;",
            "SELECT user_.id, f(user_.a, user_.b) AS ab, user_.bio, user_.email FROM person;",
            "SELECT user_.id, f(user_.b, user_.a) AS ab, user_.bio, user_.email FROM user_;",
        ] {
            let mut c = a.clone();
            c.views.insert("public.user_alias_1".into(), view(other));
            assert_eq!(diff_by_name(&a, &c).len(), 1, "{other}");
            assert!(column_moves(&a, &c).is_empty(), "{other}");
        }
    }
}
