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
}

impl Schema {
    pub fn column(&self, table: &ObjName, column: &str) -> Option<&ColumnInfo> {
        self.tables.get(&table.key())?.columns.get(column)
    }

    fn add_column(&mut self, table: &ObjName, c: &ColumnDef) {
        self.tables.entry(table.key()).or_default().columns.insert(
            c.name.clone(),
            ColumnInfo {
                data_type: c.data_type.clone(),
                not_null: c.not_null,
            },
        );
    }

    /// Records what a statement did to the schema.
    pub fn apply(&mut self, stmt: &Statement) {
        for op in &stmt.ops {
            match op {
                Op::CreateTable {
                    table,
                    columns,
                    constraints,
                    ..
                } => {
                    let entry = self.tables.entry(table.key()).or_default();
                    if !columns.is_empty() {
                        entry.columns.clear();
                    }
                    for c in columns {
                        self.add_column(table, c);
                    }
                    for c in constraints {
                        if let Some(name) = &c.name {
                            self.constraints
                                .insert(name.clone(), (table.key(), constraint_type(&c.kind)));
                        }
                    }
                }
                Op::AlterTable { table, items, .. } => {
                    for item in items {
                        match &item.action {
                            AlterAction::AddColumn { column, .. } => self.add_column(table, column),
                            AlterAction::DropColumn { names, .. } => {
                                if let Some(t) = self.tables.get_mut(&table.key()) {
                                    for n in names {
                                        t.columns.remove(n);
                                    }
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
                            }
                            AlterAction::RenameTable { to } => {
                                if let Some(t) = self.tables.remove(&table.key()) {
                                    self.tables.insert(to.key(), t);
                                }
                            }
                            AlterAction::AddConstraint(c) => {
                                if let Some(name) = &c.name {
                                    self.constraints.insert(
                                        name.clone(),
                                        (table.key(), constraint_type(&c.kind)),
                                    );
                                }
                            }
                            AlterAction::DropConstraint { name, .. }
                            | AlterAction::DropForeignKey { name } => {
                                self.constraints.remove(name);
                            }
                            _ => {}
                        }
                    }
                }
                Op::RenameTables { pairs } => {
                    for (from, to) in pairs {
                        if let Some(t) = self.tables.remove(&from.key()) {
                            self.tables.insert(to.key(), t);
                        }
                    }
                }
                Op::Drop {
                    kind: ObjectKind::Table,
                    names,
                    ..
                } => {
                    for n in names {
                        self.tables.remove(&n.key());
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
}

impl Ctx<'_> {
    pub fn in_transaction(&self) -> bool {
        self.migration_tx || self.explicit_tx
    }

    /// True when the table existed before this migration file (it may hold rows and traffic).
    pub fn is_existing(&self, table: &ObjName) -> bool {
        !self.created_here.contains(&table.key())
    }

    pub fn at_least(&self, major: u32, minor: u32, patch: u32) -> bool {
        self.version >= Version::new(major, minor, patch)
    }
}
