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

/// Every difference from `a` to `b`, tables first, in a stable order.
pub fn diff(a: &Catalog, b: &Catalog) -> Vec<Change> {
    let mut out = Vec::new();
    diff_tables(a, b, &mut out);
    for (name, v) in &b.views {
        match a.views.get(name) {
            None => {
                out.push(Change::new(ObjectType::View, name, Action::Added).after(view_desc(v)))
            }
            Some(old) if old != v => {
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

fn diff_tables(a: &Catalog, b: &Catalog, out: &mut Vec<Change>) {
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
        table_contents(to, &a.tables[*from], &b.tables[*to], out);
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
            table_contents(name, old, new, out);
        }
    }
}

fn table_contents(tname: &str, old: &Table, new: &Table, out: &mut Vec<Change>) {
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
}
