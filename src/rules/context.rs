//! What rules know beyond the statement in front of them: the dialect and target version, the
//! transaction state, settings made earlier, and the schema built from earlier statements and
//! migrations (so "existing table" and "old column type" are known without a database).

use crate::sql::Dialect;
use crate::sql::ir::{
    AlterAction, ColumnDef, ConstraintKind, ObjName, ObjectKind, Op, Statement, TypeName,
};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// A server version such as `15`, `8.0.12` or `10.11`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub fn parse(s: &str) -> Option<Version> {
        let mut parts = s.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Version {
            major,
            minor,
            patch,
        })
    }

    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// The version assumed when none is configured: a currently supported release.
    pub fn default_for(dialect: Dialect) -> Version {
        match dialect {
            Dialect::Postgres => Version::new(15, 0, 0),
            Dialect::Mysql => Version::new(8, 0, 0),
            Dialect::Sqlite => Version::new(3, 35, 0),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.patch != 0 {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        } else if self.minor != 0 {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}", self.major)
        }
    }
}

#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub data_type: TypeName,
    pub not_null: bool,
    /// MySQL column character set and collation, when declared.
    pub charset: Option<String>,
    pub collation: Option<String>,
    /// A generated column: its values are computed, not stored data of their own.
    pub generated: bool,
}

#[derive(Debug, Clone, Default)]
pub struct TableInfo {
    pub columns: HashMap<String, ColumnInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintType {
    PrimaryKey,
    Unique,
    ForeignKey,
    Check,
    Exclude,
}

/// The schema as far as migsafe has seen it in the migrations checked so far.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub tables: HashMap<String, TableInfo>,
    /// constraint name → (table, type)
    pub constraints: HashMap<String, (String, ConstraintType)>,
    /// table → column lists of the indexes known on it (CREATE INDEX, MySQL ADD INDEX, PRIMARY
    /// KEY and UNIQUE constraints), in index column order. `DROP INDEX` names no columns, so
    /// dropped indexes stay listed; indexes on dropped columns are removed.
    pub indexes: HashMap<String, Vec<Vec<String>>>,
    /// Validated `CHECK (col IS NOT NULL)` constraints: (table, column). On PostgreSQL 12+ they let
    /// `SET NOT NULL` skip its scan, whichever migration added and validated them.
    pub not_null_checks: HashSet<(String, String)>,
    /// name → ((table, column), validated) for those checks, so VALIDATE and DROP are followed.
    nn_check_names: HashMap<String, ((String, String), bool)>,
    /// MySQL tables known to have a FULLTEXT index (the first one rebuilds the table).
    pub fulltext: HashSet<String>,
    /// Named indexes created by CREATE INDEX: name → (table, columns).
    pub index_defs: HashMap<String, (String, Vec<String>)>,
    /// Where the rows of a table came from (`INSERT INTO t … SELECT … FROM s`, `CREATE TABLE t AS
    /// SELECT …`), by lower-case table name.
    pub lineage: HashMap<String, super::sqlite_table_rebuild::Lineage>,
    /// Tables dropped so far (lower-case), until created again.
    pub dropped: HashSet<String>,
    /// The split migration the current file belongs to (see [`split_group`]).
    group: Option<String>,
    /// Columns added by the files of the current split migration so far: (table key, column).
    group_columns: HashSet<(String, String)>,
}

/// The creation timestamp that groups the files of one migration split into numbered parts:
/// ory's popx writes a migration as `20210410175418000000_network…`, `20210410175418000001_…`,
/// one statement per file, all with the 14-digit creation time (YYYYMMDDhhmmss) of the migration
/// they were written as. Versions of other shapes form no group.
pub fn split_group(version: &str) -> Option<&str> {
    if version.len() <= 14 || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| version[r].parse::<u32>().unwrap_or(u32::MAX);
    let plausible = (1990..2200).contains(&n(0..4))
        && (1..=12).contains(&n(4..6))
        && (1..=31).contains(&n(6..8))
        && n(8..10) < 24
        && n(10..12) < 60
        && n(12..14) < 61;
    plausible.then(|| &version[..14])
}

fn lower_key(t: &ObjName) -> String {
    t.key().to_ascii_lowercase()
}

/// Whether `stmt` sets one of `names` (a timeout setting) to a non-zero value, with `SET [LOCAL]`
/// or PostgreSQL's `SELECT set_config('name', 'value', is_local)`.
pub fn sets_timeout(stmt: &Statement, names: &[&str]) -> bool {
    let nonzero = |v: &str| {
        let v = v.trim().trim_matches('\'').trim();
        !(v.is_empty()
            || v.eq_ignore_ascii_case("default")
            || v.trim_start_matches('0')
                .trim_start_matches('.')
                .trim_start_matches('0')
                .chars()
                .next()
                .is_none_or(|c| !c.is_ascii_digit()))
    };
    for op in &stmt.ops {
        match op {
            Op::Set { name, value, .. } => {
                let n = name.rsplit('.').next().unwrap_or(name);
                if names.contains(&n) && nonzero(value) {
                    return true;
                }
            }
            Op::Select => {
                let lower = stmt.sql.to_ascii_lowercase();
                let mut rest = lower.as_str();
                while let Some(i) = rest.find("set_config(") {
                    rest = &rest[i + 11..];
                    let args: Vec<&str> = rest
                        .split(',')
                        .take(2)
                        .map(|a| a.trim().trim_matches('\''))
                        .collect();
                    if args.len() == 2 && names.contains(&args[0]) && nonzero(args[1]) {
                        return true;
                    }
                }
            }
            _ => {}
        }
    }
    false
}

/// `col IS NOT NULL` as a whole CHECK expression → the column.
pub fn not_null_check_column(expr: &str) -> Option<String> {
    let e = expr
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim()
        .to_ascii_lowercase();
    let col = e.strip_suffix("is not null")?.trim().trim_matches('"');
    (!col.is_empty() && !col.contains(' ')).then(|| col.to_string())
}

impl Schema {
    pub fn column(&self, table: &ObjName, column: &str) -> Option<&ColumnInfo> {
        self.tables.get(&table.key())?.columns.get(column)
    }

    /// The column a constraint named `name` of `table` proves NOT NULL (`CHECK (col IS NOT
    /// NULL)`), when the column itself is NOT NULL now: dropping that helper check then changes
    /// nothing.
    pub fn redundant_not_null_check(&self, table: &ObjName, name: &str) -> Option<&str> {
        let ((t, col), _) = self.nn_check_names.get(name)?;
        (*t == table.key() && self.column(table, col).is_some_and(|c| c.not_null))
            .then_some(col.as_str())
    }

    /// A table, still there, whose rows were copied from `source`, with the copy.
    pub fn copy_of(
        &self,
        source: &ObjName,
    ) -> Option<(&String, &super::sqlite_table_rebuild::Lineage)> {
        let key = lower_key(source);
        let mut found: Vec<_> = self
            .lineage
            .iter()
            .filter(|(t, l)| l.source == key && **t != key && !self.dropped.contains(*t))
            .collect();
        found.sort_by(|a, b| a.0.cmp(b.0));
        found.into_iter().next()
    }

    /// Records the copy a statement makes, if it is one.
    fn note_copy(&mut self, stmt: &Statement) {
        let Some((target, lin)) =
            super::sqlite_table_rebuild::copy_lineage(&stmt.sql, 0, stmt.sql.len())
        else {
            return;
        };
        match self.lineage.get_mut(&target) {
            Some(l) if l.source == lin.source => {
                l.read.extend(lin.read);
                l.mapping.extend(lin.mapping);
                l.star |= lin.star;
                l.filtered = l.filtered.take().or(lin.filtered);
            }
            _ => {
                self.lineage.insert(target, lin);
            }
        }
    }

    fn note_check(&mut self, table: &ObjName, c: &crate::sql::ir::Constraint) {
        let ConstraintKind::Check { expr } = &c.kind else {
            return;
        };
        let Some(col) = not_null_check_column(expr) else {
            return;
        };
        let target = (table.key(), col);
        // PostgreSQL names unnamed checks <table>_<column>_check
        let name = c
            .name
            .clone()
            .unwrap_or_else(|| format!("{}_{}_check", target.0, target.1));
        let validated = !c.not_valid;
        if validated {
            self.not_null_checks.insert(target.clone());
        }
        self.nn_check_names.insert(name, (target, validated));
    }

    fn validate_check(&mut self, name: &str) {
        if let Some((target, validated)) = self.nn_check_names.get_mut(name) {
            *validated = true;
            self.not_null_checks.insert(target.clone());
        }
    }

    fn drop_check(&mut self, name: &str) {
        if let Some((target, true)) = self.nn_check_names.remove(name) {
            let still = self
                .nn_check_names
                .values()
                .any(|(t, v)| *v && *t == target);
            if !still {
                self.not_null_checks.remove(&target);
            }
        }
    }

    fn add_column(&mut self, table: &ObjName, c: &ColumnDef) {
        self.tables.entry(table.key()).or_default().columns.insert(
            c.name.clone(),
            ColumnInfo {
                data_type: c.data_type.clone(),
                not_null: c.not_null,
                charset: c.charset.clone(),
                collation: c.collation.clone(),
                generated: c.generated,
            },
        );
    }

    fn add_index(&mut self, table: &ObjName, columns: &[String]) {
        if !columns.is_empty() {
            self.indexes
                .entry(table.key())
                .or_default()
                .push(columns.to_vec());
        }
    }

    fn add_key_indexes(&mut self, table: &ObjName, c: &ColumnDef) {
        if c.primary_key || c.unique {
            self.add_index(table, std::slice::from_ref(&c.name));
        }
    }

    fn add_constraint_index(&mut self, table: &ObjName, kind: &ConstraintKind) {
        if let ConstraintKind::PrimaryKey { columns, .. } | ConstraintKind::Unique { columns, .. } =
            kind
        {
            self.add_index(table, columns);
        }
    }

    fn rename_index_column(&mut self, table: &ObjName, from: &str, to: &str) {
        for cols in self.indexes.get_mut(&table.key()).into_iter().flatten() {
            for c in cols.iter_mut().filter(|c| c.as_str() == from) {
                *c = to.to_string();
            }
        }
    }

    /// Starts the next migration file: columns added by earlier files count as new only while
    /// the files belong to the same split migration.
    pub fn begin_migration(&mut self, version: &str) {
        let group = split_group(version).map(str::to_string);
        if group.is_none() || group != self.group {
            self.group_columns.clear();
        }
        self.group = group;
    }

    /// Whether an earlier file of the current split migration added `column` to `table`: the
    /// parts of one migration run together, so the column holds no value from before it.
    pub fn added_in_split_migration(&self, table: &ObjName, column: &str) -> bool {
        self.group.is_some()
            && self
                .group_columns
                .contains(&(table.key(), column.to_string()))
    }

    /// Records what a statement did to the schema.
    pub fn apply(&mut self, stmt: &Statement) {
        for op in &stmt.ops {
            match op {
                Op::CreateTable {
                    table,
                    columns,
                    constraints,
                    if_not_exists,
                    fulltext_index,
                    as_select,
                    ..
                } => {
                    // IF NOT EXISTS of a table we know is a no-op: keep what we know
                    if *if_not_exists && self.tables.contains_key(&table.key()) {
                        continue;
                    }
                    self.dropped.remove(&lower_key(table));
                    self.lineage.remove(&lower_key(table));
                    if *as_select {
                        self.note_copy(stmt);
                    }
                    for c in constraints {
                        self.note_check(table, c);
                    }
                    let entry = self.tables.entry(table.key()).or_default();
                    if !columns.is_empty() {
                        entry.columns.clear();
                        self.indexes.remove(&table.key());
                    }
                    for c in columns {
                        self.add_column(table, c);
                        self.add_key_indexes(table, c);
                    }
                    for c in constraints {
                        if let Some(name) = &c.name {
                            self.constraints
                                .insert(name.clone(), (table.key(), constraint_type(&c.kind)));
                        }
                        self.add_constraint_index(table, &c.kind);
                    }
                    if *fulltext_index {
                        self.fulltext.insert(table.key());
                    }
                }
                Op::AlterTable { table, items, .. } => {
                    for item in items {
                        match &item.action {
                            AlterAction::AddColumn {
                                column,
                                if_not_exists,
                            } => {
                                let known_table = self.tables.get(&table.key());
                                let exists = known_table
                                    .is_some_and(|t| t.columns.contains_key(&column.name));
                                // with IF NOT EXISTS the column may already exist: keep a known
                                // type, and record none for tables defined before the checked
                                // migrations (the existing column's type is unknown)
                                if !(*if_not_exists && (exists || known_table.is_none())) {
                                    self.add_column(table, column);
                                    self.add_key_indexes(table, column);
                                }
                                if self.group.is_some() && !(*if_not_exists && exists) {
                                    self.group_columns
                                        .insert((table.key(), column.name.clone()));
                                }
                            }
                            AlterAction::DropColumn { names, .. } => {
                                self.group_columns
                                    .retain(|(t, c)| *t != table.key() || !names.contains(c));
                                if let Some(t) = self.tables.get_mut(&table.key()) {
                                    for n in names {
                                        t.columns.remove(n);
                                    }
                                }
                                if let Some(ix) = self.indexes.get_mut(&table.key()) {
                                    ix.retain(|cols| !cols.iter().any(|c| names.contains(c)));
                                }
                            }
                            AlterAction::SetType {
                                column, new_type, ..
                            } => {
                                if let Some(c) = self
                                    .tables
                                    .get_mut(&table.key())
                                    .and_then(|t| t.columns.get_mut(column))
                                {
                                    c.data_type = new_type.clone();
                                }
                            }
                            AlterAction::ModifyColumn { old_name, column } => {
                                if let Some(t) = self.tables.get_mut(&table.key()) {
                                    t.columns.remove(old_name);
                                }
                                self.add_column(table, column);
                                self.rename_index_column(table, old_name, &column.name);
                                self.add_key_indexes(table, column);
                            }
                            AlterAction::SetNotNull { column }
                            | AlterAction::DropNotNull { column } => {
                                let nn = matches!(item.action, AlterAction::SetNotNull { .. });
                                if let Some(c) = self
                                    .tables
                                    .get_mut(&table.key())
                                    .and_then(|t| t.columns.get_mut(column))
                                {
                                    c.not_null = nn;
                                }
                            }
                            AlterAction::RenameColumn { from, to } => {
                                if let Some(t) = self.tables.get_mut(&table.key())
                                    && let Some(c) = t.columns.remove(from)
                                {
                                    t.columns.insert(to.clone(), c);
                                }
                                self.rename_index_column(table, from, to);
                            }
                            AlterAction::RenameTable { to } => {
                                if let Some(t) = self.tables.remove(&table.key()) {
                                    self.tables.insert(to.key(), t);
                                }
                                if let Some(ix) = self.indexes.remove(&table.key()) {
                                    self.indexes.insert(to.key(), ix);
                                }
                                if self.fulltext.remove(&table.key()) {
                                    self.fulltext.insert(to.key());
                                }
                                if let Some(l) = self.lineage.remove(&lower_key(table)) {
                                    self.lineage.insert(lower_key(to), l);
                                }
                                self.dropped.remove(&lower_key(to));
                            }
                            AlterAction::AddConstraint(c) => {
                                self.note_check(table, c);
                                if let Some(name) = &c.name {
                                    self.constraints.insert(
                                        name.clone(),
                                        (table.key(), constraint_type(&c.kind)),
                                    );
                                }
                                self.add_constraint_index(table, &c.kind);
                            }
                            AlterAction::AddIndex {
                                columns,
                                name,
                                unique,
                                fulltext,
                                ..
                            } => {
                                if *fulltext {
                                    self.fulltext.insert(table.key());
                                }
                                self.add_index(table, columns);
                                if let (Some(name), true) = (name, unique) {
                                    self.constraints.insert(
                                        name.clone(),
                                        (table.key(), ConstraintType::Unique),
                                    );
                                }
                            }
                            AlterAction::DropConstraint { name, .. }
                            | AlterAction::DropForeignKey { name } => {
                                self.constraints.remove(name);
                                self.drop_check(name);
                            }
                            AlterAction::ValidateConstraint { name } => self.validate_check(name),
                            _ => {}
                        }
                    }
                }
                Op::Insert { .. } => self.note_copy(stmt),
                Op::RenameTables { pairs } => {
                    for (from, to) in pairs {
                        if let Some(l) = self.lineage.remove(&lower_key(from)) {
                            self.lineage.insert(lower_key(to), l);
                        }
                        self.dropped.remove(&lower_key(to));
                        if let Some(t) = self.tables.remove(&from.key()) {
                            self.tables.insert(to.key(), t);
                        }
                        if let Some(ix) = self.indexes.remove(&from.key()) {
                            self.indexes.insert(to.key(), ix);
                        }
                    }
                }
                Op::CreateIndex {
                    table,
                    columns,
                    name,
                    unique,
                    fulltext,
                    ..
                } => {
                    if *fulltext {
                        self.fulltext.insert(table.key());
                    }
                    self.add_index(table, columns);
                    if let Some(name) = name {
                        self.index_defs
                            .insert(name.clone(), (table.key(), columns.clone()));
                    }
                    if let (Some(name), true) = (name, unique) {
                        self.constraints
                            .insert(name.clone(), (table.key(), ConstraintType::Unique));
                    }
                }
                Op::Drop {
                    kind: ObjectKind::Table,
                    names,
                    ..
                } => {
                    for n in names {
                        self.tables.remove(&n.key());
                        self.indexes.remove(&n.key());
                        self.fulltext.remove(&n.key());
                        self.dropped.insert(lower_key(n));
                        let key = lower_key(n);
                        self.lineage.remove(&key);
                        for l in self.lineage.values_mut().filter(|l| l.source == key) {
                            l.source_dropped = true;
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

pub fn constraint_type(k: &ConstraintKind) -> ConstraintType {
    match k {
        ConstraintKind::PrimaryKey { .. } => ConstraintType::PrimaryKey,
        ConstraintKind::Unique { .. } => ConstraintType::Unique,
        ConstraintKind::ForeignKey { .. } => ConstraintType::ForeignKey,
        ConstraintKind::Check { .. } => ConstraintType::Check,
        ConstraintKind::Exclude => ConstraintType::Exclude,
    }
}

/// The context a rule sees for one statement.
#[derive(Debug, Clone)]
pub struct Ctx<'a> {
    pub dialect: Dialect,
    pub version: Version,
    /// Whether a version was configured (rules may word messages differently when assumed).
    pub version_configured: bool,
    /// Whole text of the migration file (spans index into it).
    pub file: &'a str,
    /// The migrator wraps the file in a transaction.
    pub migration_tx: bool,
    /// An explicit `BEGIN` is open at this statement.
    pub explicit_tx: bool,
    /// `SET [LOCAL] lock_timeout` (or MySQL `lock_wait_timeout`) ran earlier in this file.
    pub lock_timeout_set: bool,
    /// A lock-taking statement in this file was already reported for the missing lock timeout.
    pub lock_timeout_reported: bool,
    /// Tables created earlier in this file (keys as [`ObjName::key`]).
    pub created_here: &'a HashSet<String>,
    /// Validated `CHECK (col IS NOT NULL)` constraints seen in this file: (table, column).
    pub not_null_checks: &'a HashSet<(String, String)>,
    /// Schema as seen before this statement.
    pub schema: &'a Schema,
    /// Set when the statement is inside a `DO` block or routine body.
    pub nested: bool,
    /// Every statement of the file (nested ones included), for rules that look at patterns
    /// across statements (transaction hygiene, table rebuilds).
    pub statements: &'a [Statement],
    /// Index of the current statement in `statements`.
    pub position: usize,
    /// What earlier statements of the file established, kept up to date by the classifier.
    pub facts: &'a super::facts::Facts,
    /// `[mysql] strict_mode = true`: MySQL rejects values that do not fit instead of
    /// truncating them.
    pub mysql_strict: bool,
}

impl Ctx<'_> {
    pub fn in_transaction(&self) -> bool {
        self.migration_tx || self.explicit_tx
    }

    /// Whether `column` of `table` was added earlier in this migration (this file, or an earlier
    /// file of the same split migration), so it holds no value from before the migration.
    pub fn column_is_new(&self, table: &ObjName, column: &str) -> bool {
        self.facts.column_added_here(table, column)
            || self.schema.added_in_split_migration(table, column)
    }

    /// True when the table existed before this migration file (it may hold rows and traffic).
    pub fn is_existing(&self, table: &ObjName) -> bool {
        !self.created_here.contains(&table.key())
    }

    pub fn at_least(&self, major: u32, minor: u32, patch: u32) -> bool {
        self.version >= Version::new(major, minor, patch)
    }
}

#[cfg(test)]
mod tests {
    use super::split_group;

    #[test]
    fn split_migrations_are_grouped_by_their_creation_timestamp() {
        assert_eq!(split_group("20210410175418000012"), Some("20210410175418"));
        assert_eq!(split_group("20210410175418000000"), Some("20210410175418"));
        // a plain timestamp, a sequence number, or something that is not a timestamp: no group
        for v in [
            "20210410175418",
            "0042",
            "",
            "V2__x",
            "20211340175418000001",
            "99990410175418000001",
            "2021041017541a000001",
        ] {
            assert_eq!(split_group(v), None, "{v}");
        }
    }
}
