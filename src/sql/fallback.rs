//! Token-level classification for statements sqlparser rejects: recognises leading keywords
//! (`DROP …`, `TRUNCATE`, `ALTER TABLE … DROP`, `REINDEX`, `CREATE STATISTICS`, …) so newer or
//! vendor syntax is still judged. Conservative: what it does not recognise stays unknown.

use super::Dialect;
use super::ir::*;
use super::lexer::{Lexer, TokKind};
use super::types::{default_volatility, type_name};

#[derive(Debug, Clone)]
struct T {
    /// lower-case for words, unquoted for quoted identifiers, raw otherwise
    norm: String,
    kind: TokKind,
    start: usize,
    end: usize,
}

struct Cur<'a> {
    toks: &'a [T],
    i: usize,
}

impl Cur<'_> {
    fn peek(&self) -> Option<&T> {
        self.toks.get(self.i)
    }
    fn peek_is(&self, w: &str) -> bool {
        self.peek()
            .is_some_and(|t| t.kind == TokKind::Word && t.norm == w)
    }
    fn eat(&mut self, w: &str) -> bool {
        if self.peek_is(w) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn eat_seq(&mut self, ws: &[&str]) -> bool {
        let save = self.i;
        for w in ws {
            if !self.eat(w) {
                self.i = save;
                return false;
            }
        }
        true
    }
    fn next(&mut self) -> Option<&T> {
        let t = self.toks.get(self.i);
        self.i += 1;
        t
    }
    /// A possibly qualified name: ident(.ident)*
    fn name(&mut self) -> Option<ObjName> {
        let mut parts = Vec::new();
        loop {
            let t = self.peek()?;
            if !matches!(t.kind, TokKind::Word | TokKind::QuotedIdent) {
                break;
            }
            parts.push(t.norm.clone());
            self.i += 1;
            if self.peek().is_some_and(|t| t.norm == ".") {
                self.i += 1;
            } else {
                break;
            }
        }
        (!parts.is_empty()).then(|| ObjName::new(parts))
    }
    fn names(&mut self) -> Vec<ObjName> {
        let mut out = Vec::new();
        while let Some(n) = self.name() {
            out.push(n);
            if self.peek().is_some_and(|t| t.norm == ",") {
                self.i += 1;
            } else {
                break;
            }
        }
        out
    }
    fn rest_has(&self, w: &str) -> bool {
        self.toks[self.i.min(self.toks.len())..]
            .iter()
            .any(|t| t.kind == TokKind::Word && t.norm == w)
    }
}

fn tokens(file: &str, span: Span, dialect: Dialect) -> Vec<T> {
    Lexer::new(file, span.start, span.end, dialect)
        .filter(|t| !t.is_trivia())
        .map(|t| {
            let raw = &file[t.start..t.end];
            let norm = match t.kind {
                TokKind::Word => raw.to_ascii_lowercase(),
                TokKind::QuotedIdent if raw.len() >= 2 => raw[1..raw.len() - 1].to_string(),
                _ => raw.to_string(),
            };
            T {
                norm,
                kind: t.kind,
                start: t.start,
                end: t.end,
            }
        })
        .collect()
}

fn object_kind(c: &mut Cur) -> Option<ObjectKind> {
    let k = if c.eat("table") {
        ObjectKind::Table
    } else if c.eat("index") {
        ObjectKind::Index
    } else if c.eat("schema") {
        ObjectKind::Schema
    } else if c.eat("database") {
        ObjectKind::Database
    } else if c.eat("view") {
        ObjectKind::View
    } else if c.eat_seq(&["materialized", "view"]) {
        ObjectKind::MaterializedView
    } else if c.eat("sequence") {
        ObjectKind::Sequence
    } else if c.eat("type") {
        ObjectKind::Type
    } else if c.eat("domain") {
        ObjectKind::Domain
    } else if c.eat("function") {
        ObjectKind::Function
    } else if c.eat("procedure") {
        ObjectKind::Procedure
    } else if c.eat("trigger") {
        ObjectKind::Trigger
    } else if c.eat("extension") {
        ObjectKind::Extension
    } else if c.eat("role") || c.eat("user") {
        ObjectKind::Role
    } else if c.eat("policy") {
        ObjectKind::Policy
    } else {
        return None;
    };
    Some(k)
}

/// Splits the tokens after `ALTER TABLE name` into comma-separated actions at depth 0.
fn actions(toks: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match t.norm.as_str() {
            "(" => depth += 1,
            ")" => depth -= 1,
            "," if depth == 0 => {
                out.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < toks.len() {
        out.push(&toks[start..]);
    }
    out
}

fn text_of(file: &str, toks: &[T]) -> String {
    match (toks.first(), toks.last()) {
        (Some(a), Some(b)) => file[a.start..b.end].to_string(),
        _ => String::new(),
    }
}

fn span_of(toks: &[T], fallback: Span) -> Span {
    match (toks.first(), toks.last()) {
        (Some(a), Some(b)) => Span::new(a.start, b.end),
        _ => fallback,
    }
}

/// A column definition read from tokens: name, type up to the first constraint keyword, NOT NULL,
/// DEFAULT.
fn column_def(file: &str, toks: &[T], span: Span) -> Option<ColumnDef> {
    let mut c = Cur { toks, i: 0 };
    let name = c.next()?.norm.clone();
    let type_start = c.i;
    const STOP: &[&str] = &[
        "not",
        "null",
        "default",
        "primary",
        "unique",
        "references",
        "check",
        "constraint",
        "generated",
        "collate",
        "auto_increment",
        "comment",
        "after",
        "first",
        "on",
        "character",
        "charset",
    ];
    while let Some(t) = c.peek() {
        if t.kind == TokKind::Word && STOP.contains(&t.norm.as_str()) {
            break;
        }
        c.i += 1;
    }
    let data_type = type_name(&text_of(file, &toks[type_start..c.i]));
    let rest = &toks[c.i..];
    let has = |w: &str| rest.iter().any(|t| t.kind == TokKind::Word && t.norm == w);
    let not_null = rest
        .windows(2)
        .any(|w| w[0].norm == "not" && w[1].norm == "null")
        || has("primary");
    let default = rest.iter().position(|t| t.norm == "default").map(|p| {
        let mut end = p + 1;
        let mut depth = 0;
        while end < rest.len() {
            let n = rest[end].norm.as_str();
            if n == "(" {
                depth += 1;
            } else if n == ")" {
                depth -= 1;
            } else if depth == 0
                && rest[end].kind == TokKind::Word
                && STOP.contains(&n)
                && end > p + 1
            {
                break;
            }
            end += 1;
        }
        let text = text_of(file, &rest[p + 1..end]);
        DefaultExpr {
            is_null: text.eq_ignore_ascii_case("null"),
            volatility: default_volatility(&text),
            text,
        }
    });
    Some(ColumnDef {
        name,
        data_type,
        not_null,
        default,
        primary_key: has("primary"),
        unique: has("unique"),
        references: None,
        check: None,
        generated_stored: has("generated") && has("stored"),
        identity: has("identity"),
        auto_increment: has("auto_increment") || has("autoincrement"),
        span,
    })
}

fn alter_action(file: &str, toks: &[T], whole: Span) -> AlterItem {
    let span = span_of(toks, whole);
    let mut c = Cur { toks, i: 0 };
    let other = |what: String| AlterAction::Other {
        what,
        takes_lock: true,
    };
    let action = if c.eat("drop") {
        if c.eat("constraint") {
            let if_exists = c.eat_seq(&["if", "exists"]);
            let name = c.next().map(|t| t.norm.clone()).unwrap_or_default();
            AlterAction::DropConstraint {
                name,
                if_exists,
                cascade: c.rest_has("cascade"),
            }
        } else if c.eat("check") {
            // MySQL 8.0.16+: DROP CHECK name
            AlterAction::DropConstraint {
                name: c.next().map(|t| t.norm.clone()).unwrap_or_default(),
                if_exists: false,
                cascade: false,
            }
        } else if c.eat_seq(&["primary", "key"]) {
            AlterAction::DropPrimaryKey
        } else if c.eat_seq(&["foreign", "key"]) {
            AlterAction::DropForeignKey {
                name: c.next().map(|t| t.norm.clone()).unwrap_or_default(),
            }
        } else if c.eat("index") || c.eat("key") {
            AlterAction::DropIndex {
                name: c.next().map(|t| t.norm.clone()).unwrap_or_default(),
            }
        } else if c.peek_is("default")
            || c.peek_is("not")
            || c.peek_is("identity")
            || c.peek_is("expression")
        {
            other(text_of(file, toks))
        } else {
            c.eat("column");
            let if_exists = c.eat_seq(&["if", "exists"]);
            match c.next() {
                Some(t) => AlterAction::DropColumn {
                    names: vec![t.norm.clone()],
                    if_exists,
                    cascade: c.rest_has("cascade"),
                },
                None => other(text_of(file, toks)),
            }
        }
    } else if c.eat("add") {
        let not_valid = toks
            .windows(2)
            .any(|w| w[0].norm == "not" && w[1].norm == "valid");
        let named = if c.eat("constraint") {
            c.next().map(|t| t.norm.clone())
        } else {
            None
        };
        let kind = if c.eat_seq(&["foreign", "key"]) {
            let ref_table = toks
                .iter()
                .position(|t| t.norm == "references")
                .and_then(|p| Cur { toks, i: p + 1 }.name())
                .unwrap_or_default();
            Some(ConstraintKind::ForeignKey {
                columns: vec![],
                ref_table,
                ref_columns: vec![],
            })
        } else if c.eat("check") {
            Some(ConstraintKind::Check {
                expr: text_of(file, &toks[c.i..]),
            })
        } else if c.eat_seq(&["primary", "key"]) {
            Some(ConstraintKind::PrimaryKey {
                columns: vec![],
                using_index: c.rest_has("using") && c.rest_has("index") && !c.rest_has("("),
            })
        } else if c.eat("unique") {
            Some(ConstraintKind::Unique {
                columns: vec![],
                using_index: c.rest_has("using") && c.rest_has("index"),
            })
        } else if c.eat("exclude") {
            Some(ConstraintKind::Exclude)
        } else {
            None
        };
        match kind {
            Some(kind) => AlterAction::AddConstraint(Constraint {
                name: named,
                kind,
                not_valid,
                span,
            }),
            None if c.peek_is("index")
                || c.peek_is("key")
                || c.peek_is("fulltext")
                || c.peek_is("spatial") =>
            {
                AlterAction::AddIndex {
                    name: None,
                    columns: vec![],
                    unique: false,
                }
            }
            None => {
                c.eat("column");
                let if_not_exists = c.eat_seq(&["if", "not", "exists"]);
                match column_def(file, &toks[c.i..], span) {
                    Some(column) => AlterAction::AddColumn {
                        column,
                        if_not_exists,
                    },
                    None => other(text_of(file, toks)),
                }
            }
        }
    } else if c.eat("alter") {
        c.eat("column");
        let column = c.next().map(|t| t.norm.clone()).unwrap_or_default();
        if c.eat_seq(&["set", "not", "null"]) {
            AlterAction::SetNotNull { column }
        } else if c.eat_seq(&["drop", "not", "null"]) {
            AlterAction::DropNotNull { column }
        } else if c.eat_seq(&["drop", "default"]) {
            AlterAction::DropDefault { column }
        } else if c.eat_seq(&["set", "default"]) {
            let text = text_of(file, &toks[c.i..]);
            AlterAction::SetDefault {
                column,
                default: DefaultExpr {
                    is_null: text.eq_ignore_ascii_case("null"),
                    volatility: default_volatility(&text),
                    text,
                },
            }
        } else if c.eat_seq(&["set", "data", "type"]) || c.eat("type") {
            let start = c.i;
            while c.peek().is_some_and(|t| {
                !(t.kind == TokKind::Word && matches!(t.norm.as_str(), "using" | "collate"))
            }) {
                c.i += 1;
            }
            let new_type = type_name(&text_of(file, &toks[start..c.i]));
            let using = c.eat("using").then(|| text_of(file, &toks[c.i..]));
            AlterAction::SetType {
                column,
                new_type,
                using,
            }
        } else {
            other(text_of(file, toks))
        }
    } else if c.eat("rename") {
        if c.eat("to") || c.eat("as") {
            AlterAction::RenameTable {
                to: c.name().unwrap_or_default(),
            }
        } else if c.eat("constraint") {
            let from = c.next().map(|t| t.norm.clone()).unwrap_or_default();
            c.eat("to");
            AlterAction::RenameConstraint {
                from,
                to: c.next().map(|t| t.norm.clone()).unwrap_or_default(),
            }
        } else if c.peek_is("index") || c.peek_is("key") {
            other(text_of(file, toks))
        } else {
            c.eat("column");
            let from = c.next().map(|t| t.norm.clone()).unwrap_or_default();
            c.eat("to");
            AlterAction::RenameColumn {
                from,
                to: c.next().map(|t| t.norm.clone()).unwrap_or_default(),
            }
        }
    } else if c.eat("validate") && c.eat("constraint") {
        AlterAction::ValidateConstraint {
            name: c.next().map(|t| t.norm.clone()).unwrap_or_default(),
        }
    } else if c.eat("detach") && c.eat("partition") {
        let partition = c.name().unwrap_or_default();
        AlterAction::DetachPartition {
            partition,
            concurrently: c.rest_has("concurrently"),
        }
    } else {
        let what = text_of(file, toks);
        let upper = what.to_ascii_uppercase();
        AlterAction::Other {
            takes_lock: !upper.starts_with("OWNER TO"),
            what,
        }
    };
    AlterItem { action, span }
}

/// Classifies a statement by its tokens; `None` when the leading keywords are not recognised.
pub fn classify(file: &str, span: Span, dialect: Dialect) -> Option<(String, Vec<Op>)> {
    let toks = tokens(file, span, dialect);
    // an unterminated string, comment or dollar quote means the statement's extent is unknown
    if toks.iter().any(|t| t.kind == TokKind::Unterminated) {
        return None;
    }
    let mut c = Cur { toks: &toks, i: 0 };
    let first = c.next()?.norm.clone();
    let one = |k: &str, op: Op| Some((k.to_string(), vec![op]));
    match first.as_str() {
        "drop" => {
            let kind = object_kind(&mut c).unwrap_or(ObjectKind::Other);
            let concurrently = c.eat("concurrently");
            let if_exists = c.eat_seq(&["if", "exists"]);
            let names = if kind == ObjectKind::Other {
                vec![]
            } else {
                c.names()
            };
            let table = if c.eat("on") { c.name() } else { None };
            one(
                &format!("drop_{}", kind.as_str().replace(' ', "_")),
                Op::Drop {
                    kind,
                    names,
                    if_exists,
                    cascade: c.rest_has("cascade"),
                    concurrently,
                    table,
                },
            )
        }
        "truncate" => {
            c.eat("table");
            c.eat("only");
            let tables = c.names();
            one(
                "truncate",
                Op::Truncate {
                    tables,
                    cascade: c.rest_has("cascade"),
                },
            )
        }
        "alter" => {
            if c.eat("table") {
                c.eat_seq(&["if", "exists"]);
                c.eat("only");
                let table = c.name()?;
                let rest = &toks[c.i..];
                let mut algorithm = None;
                let mut lock = None;
                let mut items = Vec::new();
                for act in actions(rest) {
                    let head = act.first().map(|t| t.norm.as_str()).unwrap_or("");
                    let value = act
                        .iter()
                        .rev()
                        .find(|t| t.kind == TokKind::Word)
                        .map(|t| t.norm.to_ascii_uppercase());
                    match head {
                        "algorithm" => algorithm = value,
                        "lock" => lock = value,
                        _ if !act.is_empty() => items.push(alter_action(file, act, span)),
                        _ => {}
                    }
                }
                one(
                    "alter_table",
                    Op::AlterTable {
                        table,
                        items,
                        algorithm,
                        lock,
                    },
                )
            } else if c.eat("type") {
                let name = c.name().unwrap_or_default();
                one(
                    "alter_type",
                    Op::AlterType {
                        name,
                        what: text_of(file, &toks[c.i..]),
                    },
                )
            } else {
                let what = c.next().map(|t| t.norm.to_uppercase()).unwrap_or_default();
                one(
                    &format!("alter_{}", what.to_lowercase()),
                    Op::AlterOther {
                        what: format!("ALTER {what}"),
                    },
                )
            }
        }
        "create" => {
            c.eat_seq(&["or", "replace"]);
            let unique = c.eat("unique");
            if c.eat("index") {
                let concurrently = c.eat("concurrently");
                let if_not_exists = c.eat_seq(&["if", "not", "exists"]);
                let name = if c.peek_is("on") {
                    None
                } else {
                    c.name().map(|n| n.base().to_string())
                };
                c.eat("on");
                c.eat("only");
                let table = c.name()?;
                return one(
                    "create_index",
                    Op::CreateIndex {
                        name,
                        table,
                        columns: vec![],
                        unique,
                        concurrently,
                        if_not_exists,
                    },
                );
            }
            let temporary = c.eat("temporary") || c.eat("temp") || c.eat("unlogged");
            if c.eat("table") {
                let if_not_exists = c.eat_seq(&["if", "not", "exists"]);
                let table = c.name()?;
                return one(
                    "create_table",
                    Op::CreateTable {
                        table,
                        columns: vec![],
                        constraints: vec![],
                        if_not_exists,
                        temporary,
                        as_select: c.rest_has("as"),
                    },
                );
            }
            let kind = object_kind(&mut c);
            match kind {
                Some(k @ (ObjectKind::Function | ObjectKind::Procedure | ObjectKind::Trigger)) => {
                    let name = c.name().unwrap_or_default();
                    let language = toks
                        .iter()
                        .position(|t| t.norm == "language")
                        .and_then(|p| toks.get(p + 1))
                        .map(|t| t.norm.trim_matches('\'').to_ascii_lowercase());
                    one(
                        &format!("create_{}", k.as_str()),
                        Op::CreateRoutine {
                            kind: k,
                            name,
                            language,
                            body: None,
                        },
                    )
                }
                Some(ObjectKind::View | ObjectKind::MaterializedView) => {
                    let materialized = kind == Some(ObjectKind::MaterializedView);
                    one(
                        "create_view",
                        Op::CreateView {
                            name: c.name().unwrap_or_default(),
                            materialized,
                        },
                    )
                }
                _ => {
                    let what = toks
                        .get(1)
                        .map(|t| t.norm.to_uppercase())
                        .unwrap_or_default();
                    one(
                        &format!("create_{}", what.to_lowercase()),
                        Op::CreateOther {
                            what: format!("CREATE {what}"),
                        },
                    )
                }
            }
        }
        "reindex" => {
            if c.peek().is_some_and(|t| t.norm == "(") {
                while let Some(t) = c.next() {
                    if t.norm == ")" {
                        break;
                    }
                }
            }
            let target = c.next().map(|t| t.norm.clone()).unwrap_or_default();
            let concurrently =
                c.rest_has("concurrently") || toks.iter().any(|t| t.norm == "concurrently");
            one(
                "reindex",
                Op::Reindex {
                    concurrently,
                    target,
                },
            )
        }
        "delete" => {
            c.eat("from");
            let table = c.name();
            one(
                "delete",
                Op::Delete {
                    table,
                    has_where: c.rest_has("where") || c.rest_has("limit"),
                },
            )
        }
        "update" => {
            c.eat("only");
            let table = c.name();
            one(
                "update",
                Op::Update {
                    table,
                    has_where: c.rest_has("where") || c.rest_has("limit"),
                    columns: vec![],
                },
            )
        }
        "insert" | "replace" => {
            c.eat("ignore");
            c.eat("into");
            let table = c.name().unwrap_or_default();
            one("insert", Op::Insert { table })
        }
        // a query sqlparser rejects may call functions with side effects: leave it unknown
        "set" => {
            let local = c.eat("local");
            c.eat("session");
            let name = c.next().map(|t| t.norm.clone()).unwrap_or_default();
            c.eat("=");
            c.eat("to");
            let value = text_of(file, &toks[c.i.min(toks.len())..])
                .trim_matches('\'')
                .to_string();
            one("set", Op::Set { name, value, local })
        }
        "begin" | "start" => one("begin", Op::Begin),
        "commit" | "end" => one("commit", Op::Commit),
        "rollback" | "abort" => one("rollback", Op::Rollback),
        "savepoint" | "release" => one("savepoint", Op::Savepoint),
        "vacuum" => one(
            "vacuum",
            Op::Vacuum {
                full: c.rest_has("full"),
            },
        ),
        "cluster" => one("cluster", Op::Cluster),
        "comment" => one("comment", Op::Comment),
        "grant" | "revoke" => one("grant", Op::Grant),
        "do" => one("do", Op::Do { body: None }),
        "refresh" => {
            c.eat_seq(&["materialized", "view"]);
            let concurrently = c.eat("concurrently");
            one(
                "refresh_materialized_view",
                Op::RefreshMaterializedView {
                    name: c.name().unwrap_or_default(),
                    concurrently,
                },
            )
        }
        "lock" => {
            c.eat("table");
            let tables = c.names();
            one(
                "lock",
                Op::Lock {
                    tables,
                    mode: "ACCESS EXCLUSIVE".to_string(),
                },
            )
        }
        "rename" if c.eat("table") => {
            let mut pairs = Vec::new();
            while let Some(from) = c.name() {
                c.eat("to");
                let Some(to) = c.name() else { break };
                pairs.push((from, to));
                if c.peek().is_none_or(|t| t.norm != ",") {
                    break;
                }
                c.i += 1;
            }
            one("rename_table", Op::RenameTables { pairs })
        }
        "analyze" | "analyse" | "pragma" | "use" | "show" | "notify" | "listen" | "checkpoint"
        | "discard" | "reset" | "call" | "flush" | "optimize" | "load" | "security"
        | "select_into" => one(
            &first,
            Op::Other {
                what: first.to_uppercase(),
            },
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fb(sql: &str) -> Option<(String, Vec<Op>)> {
        classify(sql, Span::new(0, sql.len()), Dialect::Postgres)
    }

    #[test]
    fn recognises_drops_and_truncates() {
        let (k, ops) = fb("DROP TABLE IF EXISTS a, b CASCADE").unwrap();
        assert_eq!(k, "drop_table");
        assert!(
            matches!(&ops[0], Op::Drop { kind: ObjectKind::Table, names, cascade: true, .. } if names.len() == 2)
        );
        let (_, ops) = fb("TRUNCATE ONLY t CASCADE").unwrap();
        assert!(matches!(&ops[0], Op::Truncate { cascade: true, .. }));
    }

    #[test]
    fn recognises_alter_table_actions() {
        let (_, ops) =
            fb("ALTER TABLE ONLY public.t DROP COLUMN IF EXISTS c, ALTER COLUMN d SET NOT NULL")
                .unwrap();
        let Op::AlterTable { table, items, .. } = &ops[0] else {
            panic!("{ops:?}")
        };
        assert_eq!(table.to_string(), "public.t");
        assert!(
            matches!(&items[0].action, AlterAction::DropColumn { names, if_exists: true, .. } if names == &vec!["c".to_string()])
        );
        assert!(matches!(&items[1].action, AlterAction::SetNotNull { column } if column == "d"));
    }

    #[test]
    fn recognises_reindex_and_statistics() {
        let (_, ops) = fb("REINDEX (VERBOSE) INDEX CONCURRENTLY i").unwrap();
        assert!(matches!(
            &ops[0],
            Op::Reindex {
                concurrently: true,
                ..
            }
        ));
        let (k, _) = fb("CREATE STATISTICS s (dependencies) ON a, b FROM t").unwrap();
        assert_eq!(k, "create_statistics");
    }

    #[test]
    fn unknown_leading_keyword_is_none() {
        assert!(fb("FROBNICATE the database").is_none());
        assert!(fb("WITH x AS (DELETE FROM t RETURNING *) SELECT 1").is_none());
        assert!(fb("SELECT ((((1").is_none());
        assert!(fb("DO $$ BEGIN DROP TABLE t;").is_none());
        assert!(fb("").is_none());
    }
}
