//! migsafe's own statement model: what the rules look at, independent of sqlparser.
//!
//! `sql::lower` builds it from a sqlparser AST and `sql::fallback` from tokens when sqlparser
//! cannot parse a statement, so every rule works the same on both.

use std::fmt;

/// A byte range in the migration file (not in the statement), so renderers can point carets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// A possibly schema-qualified object name, as written (quotes removed) and lower-cased for
/// comparisons where the identifier was not quoted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ObjName {
    pub parts: Vec<String>,
}

impl ObjName {
    pub fn new(parts: Vec<String>) -> Self {
        ObjName { parts }
    }
    pub fn single(name: &str) -> Self {
        ObjName {
            parts: vec![name.to_string()],
        }
    }
    /// The last part: the object's own name without schema.
    pub fn base(&self) -> &str {
        self.parts.last().map(String::as_str).unwrap_or("")
    }
    /// Key used to recognise the same table across statements (schema ignored, since a
    /// migration usually mixes qualified and unqualified references to one table).
    pub fn key(&self) -> String {
        self.base().to_string()
    }
}

impl fmt::Display for ObjName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.parts.join("."))
    }
}

/// A column type reduced to what the rules compare: a canonical lower-case name and numeric
/// arguments (length, precision, scale).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TypeName {
    /// Canonical name: `int4`-style aliases are mapped to one spelling (`integer`, `bigint`,
    /// `varchar`, `text`, `timestamp`, `timestamptz`, `json`, `jsonb`, `enum`, …).
    pub name: String,
    pub args: Vec<u64>,
    /// MySQL `ENUM(...)` / `SET(...)` values, in order.
    pub values: Vec<String>,
    /// `serial`, `bigserial`, `smallserial` (PostgreSQL) keep their name but are flagged.
    pub serial: bool,
    pub array: bool,
    /// As written, for messages.
    pub raw: String,
}

/// How a default expression behaves when PostgreSQL adds a column with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volatility {
    /// A literal or an expression of literals and casts.
    Constant,
    /// Known stable/immutable function (now(), current_timestamp, …): evaluated once.
    Stable,
    /// Known volatile function (random(), gen_random_uuid(), clock_timestamp(), nextval(), …).
    Volatile,
    /// A function migsafe does not know: treated like volatile (fail closed).
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DefaultExpr {
    pub text: String,
    pub volatility: Volatility,
    pub is_null: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    pub name: String,
    pub data_type: TypeName,
    pub not_null: bool,
    pub default: Option<DefaultExpr>,
    pub primary_key: bool,
    pub unique: bool,
    pub references: Option<ObjName>,
    pub check: Option<String>,
    /// `GENERATED ALWAYS AS (...) STORED` (or MySQL `STORED`).
    pub generated_stored: bool,
    /// Any generated column (`GENERATED ALWAYS AS (...)`, stored or virtual): its values are
    /// computed from other columns.
    pub generated: bool,
    /// `GENERATED ... AS IDENTITY`.
    pub identity: bool,
    pub auto_increment: bool,
    /// MySQL `CHARACTER SET x` / `CHARSET x` of the column (lower case).
    pub charset: Option<String>,
    /// `COLLATE x` of the column (lower case; MySQL `BINARY` is `binary`).
    pub collation: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConstraintKind {
    PrimaryKey {
        columns: Vec<String>,
        using_index: bool,
    },
    Unique {
        columns: Vec<String>,
        using_index: bool,
    },
    ForeignKey {
        columns: Vec<String>,
        ref_table: ObjName,
        ref_columns: Vec<String>,
    },
    Check {
        expr: String,
    },
    Exclude,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    pub name: Option<String>,
    pub kind: ConstraintKind,
    pub not_valid: bool,
    pub span: Span,
    /// `PRIMARY KEY USING INDEX i` / `UNIQUE USING INDEX i`: the index attached.
    pub index: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlterAction {
    AddColumn {
        column: ColumnDef,
        if_not_exists: bool,
    },
    DropColumn {
        names: Vec<String>,
        if_exists: bool,
        cascade: bool,
    },
    /// PostgreSQL `ALTER COLUMN c TYPE t [USING …]`.
    SetType {
        column: String,
        new_type: TypeName,
        using: Option<String>,
    },
    SetNotNull {
        column: String,
    },
    DropNotNull {
        column: String,
    },
    SetDefault {
        column: String,
        default: DefaultExpr,
    },
    DropDefault {
        column: String,
    },
    AddConstraint(Constraint),
    DropConstraint {
        name: String,
        if_exists: bool,
        cascade: bool,
    },
    ValidateConstraint {
        name: String,
    },
    RenameColumn {
        from: String,
        to: String,
    },
    RenameTable {
        to: ObjName,
    },
    RenameConstraint {
        from: String,
        to: String,
    },
    /// MySQL `MODIFY [COLUMN]` and `CHANGE [COLUMN] old new …`: the full new definition.
    ModifyColumn {
        old_name: String,
        column: ColumnDef,
    },
    /// MySQL `DROP PRIMARY KEY`.
    DropPrimaryKey,
    /// MySQL `DROP FOREIGN KEY name`.
    DropForeignKey {
        name: String,
    },
    /// MySQL `DROP INDEX name` inside ALTER TABLE.
    DropIndex {
        name: String,
    },
    /// MySQL `ADD INDEX|KEY|UNIQUE|FULLTEXT|SPATIAL …` inside ALTER TABLE.
    AddIndex {
        name: Option<String>,
        columns: Vec<String>,
        unique: bool,
        fulltext: bool,
        spatial: bool,
    },
    /// PostgreSQL `DETACH PARTITION p [CONCURRENTLY]`.
    DetachPartition {
        partition: ObjName,
        concurrently: bool,
    },
    /// PostgreSQL `SET LOGGED` / `SET UNLOGGED`.
    SetLogged {
        logged: bool,
    },
    /// PostgreSQL `SET TABLESPACE name`.
    SetTablespace {
        name: String,
    },
    /// PostgreSQL `SET ACCESS METHOD name`.
    SetAccessMethod {
        name: String,
    },
    /// PostgreSQL `ENABLE|DISABLE [REPLICA|ALWAYS] TRIGGER name|ALL|USER` (`name` lower case).
    Trigger {
        enable: bool,
        name: String,
    },
    /// MySQL table option: `ENGINE`, `ROW_FORMAT`, `CHARACTER SET`, `COLLATE`, `COMMENT`,
    /// `AUTO_INCREMENT`, `KEY_BLOCK_SIZE`, … (name upper case, value as written).
    TableOption {
        name: String,
        value: String,
    },
    /// MySQL `CONVERT TO CHARACTER SET cs [COLLATE c]`.
    ConvertCharset {
        charset: String,
        collation: Option<String>,
    },
    /// MySQL `FORCE` (rebuild the table).
    Force,
    /// Anything else, by a short description (`SET (fillfactor…)`, `OWNER TO`, …).
    Other {
        what: String,
        takes_lock: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlterItem {
    pub action: AlterAction,
    pub span: Span,
}

/// Kinds of objects a DROP can name, other than tables and indexes that rules look at closely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Table,
    View,
    MaterializedView,
    Index,
    Schema,
    Database,
    Sequence,
    Type,
    Domain,
    Function,
    Procedure,
    Trigger,
    Extension,
    Role,
    Policy,
    Other,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Table => "table",
            ObjectKind::View => "view",
            ObjectKind::MaterializedView => "materialized view",
            ObjectKind::Index => "index",
            ObjectKind::Schema => "schema",
            ObjectKind::Database => "database",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Type => "type",
            ObjectKind::Domain => "domain",
            ObjectKind::Function => "function",
            ObjectKind::Procedure => "procedure",
            ObjectKind::Trigger => "trigger",
            ObjectKind::Extension => "extension",
            ObjectKind::Role => "role",
            ObjectKind::Policy => "policy",
            ObjectKind::Other => "object",
        }
    }
}

/// What a statement does, in the terms the rules need.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    CreateTable {
        table: ObjName,
        columns: Vec<ColumnDef>,
        constraints: Vec<Constraint>,
        if_not_exists: bool,
        temporary: bool,
        as_select: bool,
        /// MySQL: the table is created with a FULLTEXT index.
        fulltext_index: bool,
    },
    AlterTable {
        table: ObjName,
        items: Vec<AlterItem>,
        /// MySQL `ALGORITHM=…` (upper-case), if given.
        algorithm: Option<String>,
        /// MySQL `LOCK=…` (upper-case), if given.
        lock: Option<String>,
    },
    /// MySQL `RENAME TABLE a TO b[, c TO d]`.
    RenameTables {
        pairs: Vec<(ObjName, ObjName)>,
    },
    CreateIndex {
        name: Option<String>,
        table: ObjName,
        columns: Vec<String>,
        unique: bool,
        concurrently: bool,
        if_not_exists: bool,
        /// MySQL `CREATE FULLTEXT INDEX` / `CREATE SPATIAL INDEX`.
        fulltext: bool,
        spatial: bool,
    },
    Drop {
        kind: ObjectKind,
        names: Vec<ObjName>,
        if_exists: bool,
        cascade: bool,
        concurrently: bool,
        /// MySQL `DROP INDEX i ON t`.
        table: Option<ObjName>,
    },
    Truncate {
        tables: Vec<ObjName>,
        cascade: bool,
    },
    Delete {
        table: Option<ObjName>,
        has_where: bool,
    },
    Update {
        table: Option<ObjName>,
        has_where: bool,
        columns: Vec<String>,
        /// Assignments that copy another column as it is (`SET new_c = c`, or a plain cast
        /// `c::text`): (target, source).
        copies: Vec<(String, String)>,
    },
    Insert {
        table: ObjName,
    },
    Select,
    /// `SET [LOCAL|SESSION] name = value` (name lower-case).
    Set {
        name: String,
        value: String,
        local: bool,
    },
    Begin,
    Commit,
    Rollback,
    Savepoint,
    CreateView {
        name: ObjName,
        materialized: bool,
    },
    RefreshMaterializedView {
        name: ObjName,
        concurrently: bool,
    },
    /// `CREATE FUNCTION/PROCEDURE/TRIGGER` (body kept for later inspection).
    CreateRoutine {
        kind: ObjectKind,
        name: ObjName,
        language: Option<String>,
        body: Option<String>,
    },
    /// `DO $$ … $$`.
    Do {
        body: Option<String>,
    },
    CreateType {
        name: ObjName,
        enum_values: Option<Vec<String>>,
    },
    AlterType {
        name: ObjName,
        what: String,
    },
    Reindex {
        concurrently: bool,
        target: String,
    },
    Vacuum {
        full: bool,
    },
    /// MySQL `OPTIMIZE [NO_WRITE_TO_BINLOG|LOCAL] TABLE t[, …]` (rebuilds InnoDB tables).
    Optimize {
        tables: Vec<ObjName>,
    },
    Cluster,
    Comment,
    Grant,
    Lock {
        tables: Vec<ObjName>,
        mode: String,
    },
    CreateOther {
        what: String,
    },
    AlterOther {
        what: String,
    },
    /// Known, harmless or out of scope: `ANALYZE`, `SHOW`, `PRAGMA`, `USE`, …
    Other {
        what: String,
    },
}

/// How the statement was understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parser {
    /// sqlparser parsed it.
    Sqlparser,
    /// sqlparser failed; the token-level fallback recognised its leading keywords.
    Fallback,
    /// Nothing understood it.
    None,
}

impl Parser {
    pub fn as_str(self) -> &'static str {
        match self {
            Parser::Sqlparser => "sqlparser",
            Parser::Fallback => "fallback",
            Parser::None => "none",
        }
    }
}

/// One statement of a migration file with its location and meaning.
#[derive(Debug, Clone)]
pub struct Statement {
    pub index: usize,
    /// Byte range of the statement text in the file (without the terminator).
    pub span: Span,
    pub sql: String,
    pub parser: Parser,
    /// The parser's message when sqlparser failed.
    pub parse_error: Option<String>,
    /// Short snake_case kind for reports (`alter_table`, `create_index`, …).
    pub kind: String,
    pub ops: Vec<Op>,
    /// Statements found inside `DO` blocks or routine bodies are marked so reports can say so.
    pub nested_in: Option<usize>,
    /// Set when the statement's text was built by dynamic SQL (PL/pgSQL `EXECUTE`, MySQL
    /// `PREPARE … FROM`): how, for messages (`EXECUTE format(…) on line 12`). Its `sql` is the
    /// text migsafe computed, and its spans point at the EXECUTE.
    pub dynamic: Option<String>,
}

impl Statement {
    pub fn is_understood(&self) -> bool {
        self.parser != Parser::None
    }
}
