//! sqlparser AST → migsafe statement model. Everything sqlparser-specific about statement
//! meaning lives here; rules never see the AST.

use super::Dialect;
use super::ir::*;
use super::types::{default_volatility, type_name};
use sqlparser::ast::{self as a, Spanned};

/// Converts sqlparser locations (1-based line/column inside the statement text) to file byte
/// offsets.
pub struct SpanMap<'a> {
    text: &'a str,
    base: usize,
    line_starts: Vec<usize>,
    /// Every span maps here (text that is not in the file: dynamic SQL).
    fixed: Option<Span>,
}

impl<'a> SpanMap<'a> {
    pub fn new(text: &'a str, base: usize) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SpanMap {
            text,
            base,
            line_starts,
            fixed: None,
        }
    }

    /// A map for `text` that is not part of the file: every span is `at`.
    pub fn fixed(text: &'a str, at: Span) -> Self {
        SpanMap {
            text,
            base: 0,
            line_starts: Vec::new(),
            fixed: Some(at),
        }
    }

    fn offset(&self, loc: sqlparser::tokenizer::Location) -> Option<usize> {
        if loc.line == 0 || loc.column == 0 {
            return None;
        }
        let start = *self.line_starts.get(usize::try_from(loc.line).ok()? - 1)?;
        let col = usize::try_from(loc.column).ok()? - 1;
        let line = &self.text[start..];
        let byte = line.char_indices().nth(col).map_or(line.len(), |(i, _)| i);
        Some(start + byte)
    }

    /// The file span of an AST node, or the whole statement when sqlparser has no span for it.
    pub fn map(&self, sp: sqlparser::tokenizer::Span) -> Span {
        if let Some(at) = self.fixed {
            return at;
        }
        match (self.offset(sp.start), self.offset(sp.end)) {
            (Some(s), Some(e)) if e >= s => {
                Span::new(self.base + s, self.base + e.max(s + 1).min(self.text.len()))
            }
            (Some(s), _) => Span::new(self.base + s, self.base + s + 1),
            _ => self.whole(),
        }
    }

    pub fn whole(&self) -> Span {
        if let Some(at) = self.fixed {
            return at;
        }
        Span::new(self.base, self.base + self.text.len())
    }
}

fn ident(i: &a::Ident) -> String {
    // unquoted identifiers fold to lower case in PostgreSQL (and are case-insensitive elsewhere)
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

fn obj(name: &a::ObjectName) -> ObjName {
    ObjName::new(
        name.0
            .iter()
            .map(|p| match p {
                a::ObjectNamePart::Identifier(i) => ident(i),
                other => other.to_string(),
            })
            .collect(),
    )
}

fn default_expr(e: &a::Expr) -> DefaultExpr {
    let text = e.to_string();
    let is_null = text.eq_ignore_ascii_case("null");
    DefaultExpr {
        volatility: default_volatility(&text),
        text,
        is_null,
    }
}

fn index_cols(cols: &[a::IndexColumn]) -> Vec<String> {
    cols.iter()
        .map(|c| match &c.column.expr {
            a::Expr::Identifier(i) => ident(i),
            other => other.to_string(),
        })
        .collect()
}

fn column(c: &a::ColumnDef, map: &SpanMap) -> ColumnDef {
    let mut col = ColumnDef {
        name: ident(&c.name),
        data_type: type_name(&c.data_type.to_string()),
        not_null: false,
        default: None,
        primary_key: false,
        unique: false,
        references: None,
        check: None,
        generated_stored: false,
        generated: false,
        identity: false,
        auto_increment: false,
        charset: None,
        collation: None,
        span: map.map(c.span()),
    };
    for opt in &c.options {
        match &opt.option {
            a::ColumnOption::NotNull => col.not_null = true,
            a::ColumnOption::Null => col.not_null = false,
            a::ColumnOption::Default(e) => col.default = Some(default_expr(e)),
            a::ColumnOption::PrimaryKey(_) => {
                col.primary_key = true;
                col.not_null = true;
            }
            a::ColumnOption::Unique(_) => col.unique = true,
            a::ColumnOption::ForeignKey(fk) => col.references = Some(obj(&fk.foreign_table)),
            a::ColumnOption::Check(ch) => col.check = Some(ch.expr.to_string()),
            a::ColumnOption::Generated {
                generation_expr,
                generation_expr_mode,
                ..
            } => {
                if generation_expr.is_some() {
                    col.generated = true;
                    col.generated_stored = matches!(
                        generation_expr_mode,
                        Some(a::GeneratedExpressionMode::Stored)
                    );
                } else {
                    col.identity = true;
                }
            }
            a::ColumnOption::Identity(_) => col.identity = true,
            a::ColumnOption::CharacterSet(n) => {
                col.charset = Some(n.to_string().trim_matches('`').to_ascii_lowercase())
            }
            a::ColumnOption::Collation(n) => {
                col.collation = Some(n.to_string().trim_matches('`').to_ascii_lowercase())
            }
            other => {
                let s = other.to_string().to_ascii_uppercase();
                if s.contains("AUTO_INCREMENT") || s.contains("AUTOINCREMENT") {
                    col.auto_increment = true;
                }
            }
        }
    }
    col
}

fn constraint(c: &a::TableConstraint, not_valid: bool, map: &SpanMap) -> Option<Constraint> {
    let span = map.map(c.span());
    let (name, kind) = match c {
        a::TableConstraint::PrimaryKey(pk) => (
            pk.name.as_ref().map(ident),
            ConstraintKind::PrimaryKey {
                columns: index_cols(&pk.columns),
                using_index: false,
            },
        ),
        a::TableConstraint::Unique(u) => (
            // MySQL `UNIQUE KEY name (…)` names the index rather than the constraint
            u.name.as_ref().or(u.index_name.as_ref()).map(ident),
            ConstraintKind::Unique {
                columns: index_cols(&u.columns),
                using_index: false,
            },
        ),
        a::TableConstraint::PrimaryKeyUsingIndex(u) => (
            u.name.as_ref().map(ident),
            ConstraintKind::PrimaryKey {
                columns: vec![],
                using_index: true,
            },
        ),
        a::TableConstraint::UniqueUsingIndex(u) => (
            u.name.as_ref().map(ident),
            ConstraintKind::Unique {
                columns: vec![],
                using_index: true,
            },
        ),
        a::TableConstraint::ForeignKey(fk) => (
            fk.name.as_ref().map(ident),
            ConstraintKind::ForeignKey {
                columns: fk.columns.iter().map(ident).collect(),
                ref_table: obj(&fk.foreign_table),
                ref_columns: fk.referred_columns.iter().map(ident).collect(),
            },
        ),
        a::TableConstraint::Check(ch) => (
            ch.name.as_ref().map(ident),
            ConstraintKind::Check {
                expr: ch.expr.to_string(),
            },
        ),
        a::TableConstraint::Exclude(_) => (None, ConstraintKind::Exclude),
        // plain MySQL indexes declared in CREATE/ALTER TABLE are handled by the callers
        a::TableConstraint::Index(_) | a::TableConstraint::FulltextOrSpatial(_) => return None,
    };
    let index = match c {
        a::TableConstraint::PrimaryKeyUsingIndex(u) | a::TableConstraint::UniqueUsingIndex(u) => {
            Some(ident(&u.index_name))
        }
        _ => None,
    };
    Some(Constraint {
        index,
        name,
        kind,
        not_valid,
        span,
    })
}

fn alter_item(op: &a::AlterTableOperation, map: &SpanMap) -> AlterItem {
    use a::AlterTableOperation as O;
    let span = map.map(op.span());
    let action = match op {
        O::AddColumn {
            column_def,
            if_not_exists,
            ..
        } => AlterAction::AddColumn {
            column: column(column_def, map),
            if_not_exists: *if_not_exists,
        },
        O::DropColumn {
            column_names,
            if_exists,
            drop_behavior,
            ..
        } => AlterAction::DropColumn {
            names: column_names.iter().map(ident).collect(),
            if_exists: *if_exists,
            cascade: matches!(drop_behavior, Some(a::DropBehavior::Cascade)),
        },
        O::AlterColumn { column_name, op } => {
            let column = ident(column_name);
            match op {
                a::AlterColumnOperation::SetNotNull => AlterAction::SetNotNull { column },
                a::AlterColumnOperation::DropNotNull => AlterAction::DropNotNull { column },
                a::AlterColumnOperation::SetDefault { value } => AlterAction::SetDefault {
                    column,
                    default: default_expr(value),
                },
                a::AlterColumnOperation::DropDefault => AlterAction::DropDefault { column },
                a::AlterColumnOperation::SetDataType {
                    data_type, using, ..
                } => AlterAction::SetType {
                    column,
                    new_type: type_name(&data_type.to_string()),
                    using: using.as_ref().map(|u| u.to_string()),
                },
                other => AlterAction::Other {
                    what: format!("ALTER COLUMN {column} {other}"),
                    takes_lock: true,
                },
            }
        }
        O::AddConstraint {
            constraint: c,
            not_valid,
        } => match constraint(c, *not_valid, map) {
            Some(c) => AlterAction::AddConstraint(c),
            None => match c {
                a::TableConstraint::Index(ix) => AlterAction::AddIndex {
                    name: ix.name.as_ref().map(ident),
                    columns: index_cols(&ix.columns),
                    unique: false,
                    fulltext: false,
                    spatial: false,
                },
                a::TableConstraint::FulltextOrSpatial(fs) => AlterAction::AddIndex {
                    name: fs.opt_index_name.as_ref().map(ident),
                    columns: index_cols(&fs.columns),
                    unique: false,
                    fulltext: fs.fulltext,
                    spatial: !fs.fulltext,
                },
                other => AlterAction::AddIndex {
                    name: None,
                    columns: vec![other.to_string()],
                    unique: false,
                    fulltext: false,
                    spatial: false,
                },
            },
        },
        O::DropConstraint {
            if_exists,
            name,
            drop_behavior,
        } => AlterAction::DropConstraint {
            name: ident(name),
            if_exists: *if_exists,
            cascade: matches!(drop_behavior, Some(a::DropBehavior::Cascade)),
        },
        O::ValidateConstraint { name } => AlterAction::ValidateConstraint { name: ident(name) },
        O::RenameColumn {
            old_column_name,
            new_column_name,
        } => AlterAction::RenameColumn {
            from: ident(old_column_name),
            to: ident(new_column_name),
        },
        O::RenameTable { table_name } => {
            let n = match table_name {
                a::RenameTableNameKind::As(n) | a::RenameTableNameKind::To(n) => n,
            };
            AlterAction::RenameTable { to: obj(n) }
        }
        O::RenameConstraint { old_name, new_name } => AlterAction::RenameConstraint {
            from: ident(old_name),
            to: ident(new_name),
        },
        O::ChangeColumn {
            old_name,
            new_name,
            data_type,
            options,
            ..
        } => AlterAction::ModifyColumn {
            old_name: ident(old_name),
            column: column(
                &a::ColumnDef {
                    name: new_name.clone(),
                    data_type: data_type.clone(),
                    options: options
                        .iter()
                        .map(|o| a::ColumnOptionDef {
                            name: None,
                            option: o.clone(),
                        })
                        .collect(),
                },
                map,
            ),
        },
        O::ModifyColumn {
            col_name,
            data_type,
            options,
            ..
        } => AlterAction::ModifyColumn {
            old_name: ident(col_name),
            column: column(
                &a::ColumnDef {
                    name: col_name.clone(),
                    data_type: data_type.clone(),
                    options: options
                        .iter()
                        .map(|o| a::ColumnOptionDef {
                            name: None,
                            option: o.clone(),
                        })
                        .collect(),
                },
                map,
            ),
        },
        O::DropPrimaryKey { .. } => AlterAction::DropPrimaryKey,
        O::DropForeignKey { name, .. } => AlterAction::DropForeignKey { name: ident(name) },
        O::DropIndex { name } => AlterAction::DropIndex { name: ident(name) },
        O::SetLogged => AlterAction::SetLogged { logged: true },
        O::SetUnlogged => AlterAction::SetLogged { logged: false },
        O::DisableTrigger { name } => AlterAction::Trigger {
            enable: false,
            name: ident(name),
        },
        O::EnableTrigger { name }
        | O::EnableAlwaysTrigger { name }
        | O::EnableReplicaTrigger { name } => AlterAction::Trigger {
            enable: true,
            name: ident(name),
        },
        O::AutoIncrement { value, .. } => AlterAction::TableOption {
            name: "AUTO_INCREMENT".to_string(),
            value: value.to_string(),
        },
        O::DetachPartitionOf { partition, mode } => AlterAction::DetachPartition {
            partition: obj(partition),
            concurrently: mode
                .as_ref()
                .is_some_and(|m| m.to_string().eq_ignore_ascii_case("concurrently")),
        },
        other => {
            let what = other.to_string();
            let upper = what.to_ascii_uppercase();
            // OWNER TO, comments, replica identity, row level security and reloptions only
            // touch catalog rows; everything else is treated as lock-taking.
            let takes_lock =
                !(upper.starts_with("OWNER TO") || upper.starts_with("AUTO_INCREMENT"));
            AlterAction::Other { what, takes_lock }
        }
    };
    AlterItem { action, span }
}

/// The table a DML statement targets, without alias or quotes.
fn relation(t: &a::TableFactor) -> Option<ObjName> {
    match t {
        a::TableFactor::Table { name, .. } => Some(obj(name)),
        _ => None,
    }
}

fn object_kind(t: &a::ObjectType) -> ObjectKind {
    match t {
        a::ObjectType::Table => ObjectKind::Table,
        a::ObjectType::View => ObjectKind::View,
        a::ObjectType::MaterializedView => ObjectKind::MaterializedView,
        a::ObjectType::Index => ObjectKind::Index,
        a::ObjectType::Schema => ObjectKind::Schema,
        a::ObjectType::Database => ObjectKind::Database,
        a::ObjectType::Sequence => ObjectKind::Sequence,
        a::ObjectType::Type => ObjectKind::Type,
        a::ObjectType::Role | a::ObjectType::User => ObjectKind::Role,
        _ => ObjectKind::Other,
    }
}

fn has_set_local(scope: &Option<a::ContextModifier>) -> bool {
    matches!(scope, Some(a::ContextModifier::Local))
}

fn expr_text(values: &[a::Expr]) -> String {
    values
        .iter()
        .map(|v| v.to_string().trim_matches('\'').to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The DML a query body runs (a CTE or the main body of `WITH …`), lowered into `ops`.
fn dml_of(
    body: &a::SetExpr,
    map: &SpanMap,
    dialect: Dialect,
    ops: &mut Vec<Op>,
    kind: &mut Option<String>,
) {
    match body {
        a::SetExpr::Insert(s) | a::SetExpr::Update(s) | a::SetExpr::Delete(s) => {
            let (k, more) = lower(s, map, dialect);
            kind.get_or_insert(k);
            ops.extend(more);
        }
        a::SetExpr::Query(q) => dml_of(&q.body, map, dialect, ops, kind),
        _ => {}
    }
}

/// A WHERE clause that is true for every row (or every row where the column is not NULL):
/// `true`, `1`, `1 = 1`, `'a' = 'a'`, `id = id`, `x IS NULL OR x IS NOT NULL`, and `AND`/`OR`
/// combinations of them. Such a WHERE restricts nothing.
pub(crate) fn tautology(e: &a::Expr) -> bool {
    use a::BinaryOperator as B;
    let strip = |e: &a::Expr| -> a::Expr {
        let mut e = e.clone();
        while let a::Expr::Nested(inner) = e {
            e = *inner;
        }
        e
    };
    match strip(e) {
        a::Expr::Value(v) => match &v.value {
            a::Value::Boolean(b) => *b,
            a::Value::Number(n, _) => n != "0",
            _ => false,
        },
        a::Expr::BinaryOp { left, op, right } => {
            let (l, r) = (strip(&left), strip(&right));
            match op {
                B::Eq | B::GtEq | B::LtEq => l == r,
                B::NotEq | B::Gt | B::Lt => {
                    matches!((&l, &r), (a::Expr::Value(x), a::Expr::Value(y)) if x.value != y.value)
                        && op == B::NotEq
                }
                B::Or => {
                    tautology(&l)
                        || tautology(&r)
                        || matches!((&l, &r),
                            (a::Expr::IsNull(x), a::Expr::IsNotNull(y))
                            | (a::Expr::IsNotNull(x), a::Expr::IsNull(y)) if x == y)
                }
                B::And => tautology(&l) && tautology(&r),
                _ => false,
            }
        }
        a::Expr::UnaryOp {
            op: a::UnaryOperator::Not,
            expr,
        } => matches!(strip(&expr), a::Expr::Value(v) if v.value == a::Value::Boolean(false)),
        a::Expr::IsTrue(x) => tautology(&x),
        _ => false,
    }
}

/// Lowers one parsed statement: its report kind and operations.
pub fn lower(stmt: &a::Statement, map: &SpanMap, dialect: Dialect) -> (String, Vec<Op>) {
    use a::Statement as S;
    let _ = dialect;
    let one = |k: &str, op: Op| (k.to_string(), vec![op]);
    match stmt {
        S::CreateTable(ct) => {
            let mut constraints = Vec::new();
            for c in &ct.constraints {
                if let Some(c) = constraint(c, false, map) {
                    constraints.push(c);
                }
            }
            one(
                "create_table",
                Op::CreateTable {
                    table: obj(&ct.name),
                    columns: ct.columns.iter().map(|c| column(c, map)).collect(),
                    constraints,
                    if_not_exists: ct.if_not_exists,
                    temporary: ct.temporary,
                    as_select: ct.query.is_some(),
                    fulltext_index: ct.constraints.iter().any(
                        |c| matches!(c, a::TableConstraint::FulltextOrSpatial(f) if f.fulltext),
                    ),
                },
            )
        }
        S::AlterTable(at) => {
            let mut algorithm = None;
            let mut lock = None;
            let mut items = Vec::new();
            for op in &at.operations {
                match op {
                    a::AlterTableOperation::Algorithm { algorithm: al, .. } => {
                        algorithm = Some(al.to_string().to_ascii_uppercase());
                    }
                    a::AlterTableOperation::Lock { lock: l, .. } => {
                        lock = Some(l.to_string().to_ascii_uppercase())
                    }
                    other => items.push(alter_item(other, map)),
                }
            }
            one(
                "alter_table",
                Op::AlterTable {
                    table: obj(&at.name),
                    items,
                    algorithm,
                    lock,
                },
            )
        }
        S::RenameTable(pairs) => one(
            "rename_table",
            Op::RenameTables {
                pairs: pairs
                    .iter()
                    .map(|r| (obj(&r.old_name), obj(&r.new_name)))
                    .collect(),
            },
        ),
        S::CreateIndex(ci) => one(
            "create_index",
            Op::CreateIndex {
                name: ci.name.as_ref().map(|n| obj(n).base().to_string()),
                table: obj(&ci.table_name),
                columns: index_cols(&ci.columns),
                unique: ci.unique,
                concurrently: ci.concurrently,
                if_not_exists: ci.if_not_exists,
                fulltext: false,
                spatial: false,
            },
        ),
        S::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            table,
            ..
        } => {
            let kind = object_kind(object_type);
            let concurrently =
                kind == ObjectKind::Index && map.text.to_ascii_uppercase().contains("CONCURRENTLY");
            (
                format!("drop_{}", kind.as_str().replace(' ', "_")),
                vec![Op::Drop {
                    kind,
                    names: names.iter().map(obj).collect(),
                    if_exists: *if_exists,
                    cascade: *cascade,
                    concurrently,
                    table: table.as_ref().map(obj),
                }],
            )
        }
        S::DropFunction(f) => one(
            "drop_function",
            Op::Drop {
                kind: ObjectKind::Function,
                names: f.func_desc.iter().map(|d| obj(&d.name)).collect(),
                if_exists: f.if_exists,
                cascade: false,
                concurrently: false,
                table: None,
            },
        ),
        S::DropTrigger(t) => one(
            "drop_trigger",
            Op::Drop {
                kind: ObjectKind::Trigger,
                names: vec![obj(&t.trigger_name)],
                if_exists: t.if_exists,
                cascade: false,
                concurrently: false,
                table: t.table_name.as_ref().map(obj),
            },
        ),
        S::DropExtension(e) => one(
            "drop_extension",
            Op::Drop {
                kind: ObjectKind::Extension,
                names: e.names.iter().map(|n| ObjName::single(&ident(n))).collect(),
                if_exists: e.if_exists,
                cascade: false,
                concurrently: false,
                table: None,
            },
        ),
        S::DropDomain(d) => one(
            "drop_domain",
            Op::Drop {
                kind: ObjectKind::Domain,
                names: vec![obj(&d.name)],
                if_exists: d.if_exists,
                cascade: false,
                concurrently: false,
                table: None,
            },
        ),
        S::DropPolicy(p) => one(
            "drop_policy",
            Op::Drop {
                kind: ObjectKind::Policy,
                names: vec![ObjName::single(&ident(&p.name))],
                if_exists: p.if_exists,
                cascade: false,
                concurrently: false,
                table: Some(obj(&p.table_name)),
            },
        ),
        S::DropProcedure {
            if_exists,
            proc_desc,
            ..
        } => one(
            "drop_procedure",
            Op::Drop {
                kind: ObjectKind::Procedure,
                names: proc_desc.iter().map(|d| obj(&d.name)).collect(),
                if_exists: *if_exists,
                cascade: false,
                concurrently: false,
                table: None,
            },
        ),
        S::Truncate(t) => one(
            "truncate",
            Op::Truncate {
                tables: t.table_names.iter().map(|t| obj(&t.name)).collect(),
                cascade: matches!(t.cascade, Some(a::CascadeOption::Cascade)),
            },
        ),
        S::Delete(d) => {
            let table = match &d.from {
                a::FromTable::WithFromKeyword(t) | a::FromTable::WithoutKeyword(t) => {
                    t.first().and_then(|t| relation(&t.relation))
                }
            };
            one(
                "delete",
                Op::Delete {
                    table,
                    has_where: d.selection.as_ref().is_some_and(|w| !tautology(w))
                        || d.limit.is_some(),
                },
            )
        }
        S::Update(u) => {
            let columns = u
                .assignments
                .iter()
                .flat_map(|asg| match &asg.target {
                    a::AssignmentTarget::ColumnName(n) => vec![obj(n).base().to_string()],
                    a::AssignmentTarget::Tuple(ns) => {
                        ns.iter().map(|n| obj(n).base().to_string()).collect()
                    }
                })
                .collect();
            let copies = u
                .assignments
                .iter()
                .filter_map(|asg| {
                    let a::AssignmentTarget::ColumnName(n) = &asg.target else {
                        return None;
                    };
                    let mut v = &asg.value;
                    while let a::Expr::Nested(e) | a::Expr::Cast { expr: e, .. } = v {
                        v = e;
                    }
                    let source = match v {
                        a::Expr::Identifier(i) => ident(i),
                        a::Expr::CompoundIdentifier(parts) => ident(parts.last()?),
                        _ => return None,
                    };
                    Some((obj(n).base().to_string(), source))
                })
                .collect();
            one(
                "update",
                Op::Update {
                    copies,
                    table: relation(&u.table.relation),
                    has_where: u.selection.as_ref().is_some_and(|w| !tautology(w))
                        || u.limit.is_some(),
                    columns,
                },
            )
        }
        S::Insert(i) => {
            let table = match &i.table {
                a::TableObject::TableName(n) => obj(n),
                other => ObjName::single(&other.to_string()),
            };
            one("insert", Op::Insert { table })
        }
        S::Query(q) => {
            // data-modifying CTEs (`WITH d AS (DELETE FROM t RETURNING *) SELECT …`) and
            // `WITH … INSERT/UPDATE/DELETE` run their DML
            let mut ops = Vec::new();
            let mut kind = None;
            for cte in q.with.iter().flat_map(|w| &w.cte_tables) {
                dml_of(&cte.query.body, map, dialect, &mut ops, &mut kind);
            }
            dml_of(&q.body, map, dialect, &mut ops, &mut kind);
            if ops.is_empty() {
                one("select", Op::Select)
            } else {
                (kind.unwrap_or_else(|| "select".to_string()), ops)
            }
        }
        S::Set(set) => {
            let mut ops = Vec::new();
            match set {
                a::Set::SingleAssignment {
                    scope,
                    variable,
                    values,
                    ..
                } => ops.push(Op::Set {
                    name: obj(variable).to_string().to_lowercase(),
                    value: expr_text(values),
                    local: has_set_local(scope),
                }),
                a::Set::MultipleAssignments { assignments } => {
                    for asg in assignments {
                        ops.push(Op::Set {
                            name: obj(&asg.name).to_string().to_lowercase(),
                            value: expr_text(std::slice::from_ref(&asg.value)),
                            local: has_set_local(&asg.scope),
                        });
                    }
                }
                other => ops.push(Op::Other {
                    what: other.to_string(),
                }),
            }
            ("set".to_string(), ops)
        }
        S::StartTransaction { .. } => one("begin", Op::Begin),
        S::Commit { .. } => one("commit", Op::Commit),
        S::Rollback { savepoint, .. } => {
            if savepoint.is_some() {
                one("rollback_to_savepoint", Op::Savepoint)
            } else {
                one("rollback", Op::Rollback)
            }
        }
        S::Savepoint { .. } | S::ReleaseSavepoint { .. } => one("savepoint", Op::Savepoint),
        S::CreateView(v) => one(
            "create_view",
            Op::CreateView {
                name: obj(&v.name),
                materialized: v.materialized,
            },
        ),
        S::RefreshMaterializedView(r) => one(
            "refresh_materialized_view",
            Op::RefreshMaterializedView {
                name: obj(&r.name),
                concurrently: r.concurrently,
            },
        ),
        S::CreateFunction(f) => one(
            "create_function",
            Op::CreateRoutine {
                kind: ObjectKind::Function,
                name: obj(&f.name),
                language: f.language.as_ref().map(ident),
                body: None,
            },
        ),
        S::CreateProcedure { name, language, .. } => one(
            "create_procedure",
            Op::CreateRoutine {
                kind: ObjectKind::Procedure,
                name: obj(name),
                language: language.as_ref().map(ident),
                body: None,
            },
        ),
        S::CreateTrigger(t) => one(
            "create_trigger",
            Op::CreateRoutine {
                kind: ObjectKind::Trigger,
                name: obj(&t.name),
                language: None,
                body: None,
            },
        ),
        S::CreateType {
            name,
            representation,
        } => {
            let enum_values = match representation {
                Some(a::UserDefinedTypeRepresentation::Enum { labels }) => {
                    Some(labels.iter().map(|l| l.value.clone()).collect())
                }
                _ => None,
            };
            one(
                "create_type",
                Op::CreateType {
                    name: obj(name),
                    enum_values,
                },
            )
        }
        S::AlterType(t) => one(
            "alter_type",
            Op::AlterType {
                name: obj(&t.name),
                what: t.operation.to_string(),
            },
        ),
        S::Vacuum(v) => one("vacuum", Op::Vacuum { full: v.full }),
        S::Comment { .. } => one("comment", Op::Comment),
        S::Grant(_)
        | S::Revoke(_)
        | S::GrantRole(_)
        | S::RevokeRole(_)
        | S::AlterDefaultPrivileges(_) => one("grant", Op::Grant),
        S::Lock(l) => one(
            "lock",
            Op::Lock {
                tables: vec![],
                mode: l
                    .lock_mode
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "ACCESS EXCLUSIVE".to_string()),
            },
        ),
        other => {
            let text = other.to_string();
            let mut words = text.split_whitespace().map(|w| w.to_ascii_lowercase());
            let first = words.next().unwrap_or_default();
            let second = words.next().unwrap_or_default();
            let kind = format!("{first}_{second}")
                .trim_matches('_')
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>();
            let what = format!("{} {}", first.to_uppercase(), second.to_uppercase());
            let op = match first.as_str() {
                "create" => Op::CreateOther { what },
                "alter" => Op::AlterOther { what },
                "drop" => Op::Drop {
                    kind: ObjectKind::Other,
                    names: vec![],
                    if_exists: text.to_ascii_uppercase().contains("IF EXISTS"),
                    cascade: false,
                    concurrently: false,
                    table: None,
                },
                _ => Op::Other { what },
            };
            (kind, vec![op])
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::sql::ir::Op;
    use crate::sql::{Dialect, parse_section};

    fn ops(sql: &str) -> Vec<Op> {
        parse_section(sql, 0..sql.len(), Dialect::Postgres)
            .into_iter()
            .flat_map(|s| s.ops)
            .collect()
    }

    fn has_where(sql: &str) -> bool {
        match ops(sql).as_slice() {
            [Op::Update { has_where, .. } | Op::Delete { has_where, .. }] => *has_where,
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn tautological_where_clauses_restrict_nothing() {
        for sql in [
            "UPDATE t SET a = 1 WHERE true",
            "UPDATE t SET a = 1 WHERE 1 = 1",
            "DELETE FROM t WHERE id = id",
            "DELETE FROM t WHERE (x IS NULL OR x IS NOT NULL)",
            "DELETE FROM t WHERE 1 = 1 AND true",
            "DELETE FROM t WHERE a = 5 OR 1 = 1",
            "DELETE FROM t WHERE 'a' <> 'b'",
        ] {
            assert!(!has_where(sql), "{sql}");
        }
        for sql in [
            "UPDATE t SET a = 1 WHERE id = 1",
            "DELETE FROM t WHERE x IS NULL",
            "DELETE FROM t WHERE a = b",
            "DELETE FROM t WHERE false",
            "DELETE FROM t WHERE 1 = 1 AND id = 2",
        ] {
            assert!(has_where(sql), "{sql}");
        }
    }

    #[test]
    fn data_modifying_ctes_are_dml() {
        let o = ops("WITH gone AS (DELETE FROM sessions RETURNING id) SELECT count(*) FROM gone");
        assert!(
            matches!(
                o.as_slice(),
                [Op::Delete {
                    has_where: false,
                    ..
                }]
            ),
            "{o:?}"
        );
        let o = ops("WITH x AS (SELECT 1) UPDATE t SET a = 1");
        assert!(
            matches!(
                o.as_slice(),
                [Op::Update {
                    has_where: false,
                    ..
                }]
            ),
            "{o:?}"
        );
        assert!(matches!(
            ops("WITH x AS (SELECT 1) SELECT * FROM x").as_slice(),
            [Op::Select]
        ));
    }
}
