//! Exact recognisers for statements sqlparser rejects: newer or vendor syntax (`REINDEX`,
//! `ALTER SEQUENCE`, `CREATE STATISTICS`, MySQL table options and `CREATE FULLTEXT INDEX`,
//! SQLite `CREATE VIRTUAL TABLE`, …). Each recogniser is a small grammar that must account for
//! every token of the statement; expressions and column definitions inside are checked by
//! sqlparser. A statement that does not match a grammar completely stays unknown: the fallback
//! recognises, it never guesses from a few leading keywords (`ALTER TABLE a ADDD COLUMN c int`
//! is unknown, not an ALTER TABLE).
//!
//! `ALTER TABLE` combines both: each comma-separated action is either one of the actions
//! sqlparser lacks, read here, or re-parsed by sqlparser on its own (the statement text with the
//! other actions blanked out, so spans stay file offsets).

use super::Dialect;
use super::ir::*;
use super::lexer::{Lexer, TokKind};

#[derive(Debug, Clone)]
pub(crate) struct T {
    /// lower-case for words, unquoted for quoted identifiers, raw otherwise
    pub norm: String,
    pub kind: TokKind,
    pub start: usize,
    pub end: usize,
}

impl T {
    fn is_word(&self, w: &str) -> bool {
        self.kind == TokKind::Word && self.norm == w
    }
    fn is_punct(&self, p: &str) -> bool {
        self.kind == TokKind::Punct && self.norm == p
    }
}

pub(crate) fn tokens(file: &str, start: usize, end: usize, dialect: Dialect) -> Vec<T> {
    Lexer::new(file, start, end, dialect)
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

/// A cursor over a statement's tokens with the grammar primitives. Every primitive either
/// consumes what it recognises or nothing.
struct P<'a> {
    /// The statement's text (token offsets are relative to it).
    file: &'a str,
    /// Where the statement starts in its file.
    base: usize,
    toks: &'a [T],
    i: usize,
    dialect: Dialect,
}

impl<'a> P<'a> {
    fn peek(&self) -> Option<&'a T> {
        self.toks.get(self.i)
    }
    fn peek_at(&self, k: usize) -> Option<&'a T> {
        self.toks.get(self.i + k)
    }
    fn done(&self) -> bool {
        self.i >= self.toks.len()
    }
    /// The statement is over (the grammar accounted for every token).
    fn end(&self) -> Option<()> {
        self.done().then_some(())
    }
    fn kw(&mut self, w: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_word(w)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn kws(&mut self, ws: &[&str]) -> bool {
        let save = self.i;
        for w in ws {
            if !self.kw(w) {
                self.i = save;
                return false;
            }
        }
        true
    }
    fn need(&mut self, w: &str) -> Option<()> {
        self.kw(w).then_some(())
    }
    fn one_of(&mut self, ws: &[&str]) -> Option<String> {
        let t = self.peek()?;
        if t.kind == TokKind::Word && ws.contains(&t.norm.as_str()) {
            self.i += 1;
            Some(t.norm.clone())
        } else {
            None
        }
    }
    fn punct(&mut self, p: &str) -> bool {
        if self.peek().is_some_and(|t| t.is_punct(p)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn if_exists(&mut self) -> bool {
        self.kws(&["if", "exists"])
    }
    fn if_not_exists(&mut self) -> bool {
        self.kws(&["if", "not", "exists"])
    }
    /// An identifier: an unquoted word or a quoted identifier (MySQL: backquoted).
    fn ident(&mut self) -> Option<String> {
        let t = self.peek()?;
        match t.kind {
            TokKind::Word | TokKind::QuotedIdent => {
                self.i += 1;
                Some(t.norm.clone())
            }
            _ => None,
        }
    }
    /// A possibly qualified name.
    fn name(&mut self) -> Option<ObjName> {
        let mut parts = vec![self.ident()?];
        while self.peek().is_some_and(|t| t.is_punct("."))
            && self
                .peek_at(1)
                .is_some_and(|t| matches!(t.kind, TokKind::Word | TokKind::QuotedIdent))
        {
            self.i += 1;
            parts.push(self.ident()?);
        }
        Some(ObjName::new(parts))
    }
    fn names(&mut self) -> Option<Vec<ObjName>> {
        let mut out = vec![self.name()?];
        while self.punct(",") {
            out.push(self.name()?);
        }
        Some(out)
    }
    fn number(&mut self) -> Option<String> {
        let save = self.i;
        let sign = if self.punct("-") || self.punct("+") {
            "-"
        } else {
            ""
        };
        match self.peek() {
            Some(t) if t.kind == TokKind::Number => {
                self.i += 1;
                Some(format!("{sign}{}", t.norm))
            }
            _ => {
                self.i = save;
                None
            }
        }
    }
    fn string(&mut self) -> Option<String> {
        let t = self.peek()?;
        if t.kind == TokKind::Str {
            self.i += 1;
            Some(t.norm.clone())
        } else {
            None
        }
    }
    /// A value in an option list: a number, string, identifier or keyword.
    fn value(&mut self) -> Option<String> {
        self.number()
            .or_else(|| self.string())
            .or_else(|| self.ident())
    }
    /// A balanced parenthesised group; returns the index range of the tokens inside it.
    fn parens(&mut self) -> Option<(usize, usize)> {
        if !self.peek()?.is_punct("(") {
            return None;
        }
        let open = self.i;
        let mut depth = 0usize;
        for j in self.i..self.toks.len() {
            if self.toks[j].is_punct("(") {
                depth += 1;
            } else if self.toks[j].is_punct(")") {
                depth -= 1;
                if depth == 0 {
                    self.i = j + 1;
                    return Some((open + 1, j));
                }
            }
        }
        None
    }
    /// The source text of tokens `a..b`.
    fn text(&self, a: usize, b: usize) -> &'a str {
        if a >= b {
            return "";
        }
        &self.file[self.toks[a].start..self.toks[b - 1].end]
    }
    /// `(expr)` whose inside sqlparser reads as one expression.
    fn paren_expr(&mut self) -> Option<String> {
        let save = self.i;
        let (a, b) = self.parens()?;
        let text = self.text(a, b);
        if super::is_expr(text, self.dialect) {
            Some(text.to_string())
        } else {
            self.i = save;
            None
        }
    }
    /// `(word[, word…])` where every word is one of `allowed`.
    fn word_list(&mut self, allowed: &[&str]) -> Option<Vec<String>> {
        let save = self.i;
        let r = (|| {
            if !self.punct("(") {
                return None;
            }
            let mut out = vec![self.one_of(allowed)?];
            // an option may carry a value: VACUUM (PARALLEL 4), REINDEX (TABLESPACE t)
            let _ = self.value_after_option();
            while self.punct(",") {
                out.push(self.one_of(allowed)?);
                let _ = self.value_after_option();
            }
            self.punct(")").then_some(out)
        })();
        if r.is_none() {
            self.i = save;
        }
        r
    }
    fn value_after_option(&mut self) -> Option<String> {
        match self.peek() {
            Some(t) if t.is_punct(",") || t.is_punct(")") => None,
            _ => self.value(),
        }
    }
    /// `name = value` pairs in parentheses (storage parameters), `= value` optional.
    fn option_list(&mut self) -> Option<()> {
        let save = self.i;
        let r = (|| {
            if !self.punct("(") {
                return None;
            }
            loop {
                self.name()?;
                if self.punct("=") {
                    self.value()?;
                }
                if !self.punct(",") {
                    break;
                }
            }
            self.punct(")").then_some(())
        })();
        if r.is_none() {
            self.i = save;
        }
        r
    }
    /// A PostgreSQL type name as sqlparser reads it: the tokens up to one of `stop` (or the end).
    fn type_until(&mut self, stop: &[&str]) -> Option<String> {
        let a = self.i;
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            if t.is_punct("(") || t.is_punct("[") {
                depth += 1;
            } else if t.is_punct(")") || t.is_punct("]") {
                depth -= 1;
            } else if depth == 0
                && (t.is_punct(",") || (t.kind == TokKind::Word && stop.contains(&t.norm.as_str())))
            {
                break;
            }
            self.i += 1;
        }
        let text = self.text(a, self.i);
        if text.is_empty() || !super::is_type(text, self.dialect) {
            self.i = a;
            return None;
        }
        Some(text.to_string())
    }
}

fn one(kind: &str, op: Op) -> Option<(String, Vec<Op>)> {
    Some((kind.to_string(), vec![op]))
}

/// Classifies a statement sqlparser rejected; `None` unless one of the grammars below accounts
/// for all of it. `text` is the statement, which starts at byte `base` of its file (spans in the
/// result are file offsets).
pub fn classify(text: &str, base: usize, dialect: Dialect) -> Option<(String, Vec<Op>)> {
    let file = text;
    let toks = tokens(text, 0, text.len(), dialect);
    // an unterminated string, comment or dollar quote means the statement's extent is unknown
    if toks.is_empty() || toks.iter().any(|t| t.kind == TokKind::Unterminated) {
        return None;
    }
    let mut p = P {
        file,
        base,
        toks: &toks,
        i: 0,
        dialect,
    };
    let first = p.peek()?.norm.clone();
    let r = match first.as_str() {
        "do" if dialect == Dialect::Postgres => do_block(&mut p),
        "drop" => drop(&mut p),
        "reindex" if dialect == Dialect::Postgres => reindex(&mut p),
        "vacuum" => vacuum(&mut p),
        "cluster" if dialect == Dialect::Postgres => cluster(&mut p),
        "optimize" if dialect == Dialect::Mysql => optimize(&mut p),
        "alter" => alter(&mut p, base),
        "create" => create(&mut p),
        "prepare" if dialect == Dialect::Mysql => prepare(&mut p),
        "pragma" if dialect == Dialect::Sqlite => pragma(&mut p),
        "comment" if dialect == Dialect::Postgres => comment_on(&mut p),
        _ => None,
    }?;
    // every grammar ends with `p.end()`; checked again so none can forget it
    p.end()?;
    Some(r)
}

// ------------------------------------------------------------------------------------------
// PostgreSQL maintenance and DO

/// `DO [LANGUAGE l] 'body' [LANGUAGE l]`.
fn do_block(p: &mut P) -> Option<(String, Vec<Op>)> {
    p.need("do")?;
    if p.kw("language") {
        p.ident().or_else(|| p.string())?;
    }
    p.string()?;
    if p.kw("language") {
        p.ident().or_else(|| p.string())?;
    }
    p.end()?;
    one("do", Op::Do { body: None })
}

/// `REINDEX [(options)] {INDEX|TABLE|SCHEMA|DATABASE|SYSTEM} [CONCURRENTLY] [name]`.
fn reindex(p: &mut P) -> Option<(String, Vec<Op>)> {
    p.need("reindex")?;
    let mut concurrently = false;
    if let Some(opts) = p.word_list(&["verbose", "concurrently", "tablespace"]) {
        concurrently = opts.iter().any(|o| o == "concurrently");
    }
    let target = p.one_of(&["index", "table", "schema", "database", "system"])?;
    concurrently |= p.kw("concurrently");
    if !p.done() {
        p.name()?;
    } else if matches!(target.as_str(), "index" | "table" | "schema") {
        return None;
    }
    p.end()?;
    one(
        "reindex",
        Op::Reindex {
            concurrently,
            target,
        },
    )
}

/// `VACUUM [(options)] [FULL] [FREEZE] [VERBOSE] [ANALYZE] [table [(columns)], …]`.
fn vacuum(p: &mut P) -> Option<(String, Vec<Op>)> {
    p.need("vacuum")?;
    let full;
    if let Some(opts) = p.word_list(&[
        "full",
        "freeze",
        "verbose",
        "analyze",
        "analyse",
        "disable_page_skipping",
        "skip_locked",
        "index_cleanup",
        "process_main",
        "process_toast",
        "truncate",
        "parallel",
        "skip_database_stats",
        "only_database_stats",
        "buffer_usage_limit",
    ]) {
        full = opts.iter().any(|o| o == "full");
    } else {
        full = p.kw("full");
        p.kw("freeze");
        p.kw("verbose");
        let _ = p.kw("analyze") || p.kw("analyse");
    }
    if !p.done() {
        loop {
            p.name()?;
            if p.peek().is_some_and(|t| t.is_punct("(")) {
                let (a, b) = p.parens()?;
                // a column list: identifiers and commas
                for (k, t) in p.toks[a..b].iter().enumerate() {
                    let ok = if k % 2 == 0 {
                        matches!(t.kind, TokKind::Word | TokKind::QuotedIdent)
                    } else {
                        t.is_punct(",")
                    };
                    if !ok {
                        return None;
                    }
                }
            }
            if !p.punct(",") {
                break;
            }
        }
    }
    p.end()?;
    one("vacuum", Op::Vacuum { full })
}

/// `CLUSTER [VERBOSE] [table [USING index]]` and the old `CLUSTER index ON table`.
fn cluster(p: &mut P) -> Option<(String, Vec<Op>)> {
    p.need("cluster")?;
    p.kw("verbose");
    if !p.done() {
        p.name()?;
        if p.kw("using") || p.kw("on") {
            p.name()?;
        }
    }
    p.end()?;
    one("cluster", Op::Cluster)
}

/// MySQL `OPTIMIZE [NO_WRITE_TO_BINLOG|LOCAL] TABLE t[, …]`.
fn optimize(p: &mut P) -> Option<(String, Vec<Op>)> {
    p.need("optimize")?;
    let _ = p.kw("no_write_to_binlog") || p.kw("local");
    let _ = p.kw("table") || p.kw("tables");
    let tables = p.names()?;
    p.end()?;
    one("optimize", Op::Optimize { tables })
}

/// SQLite `PRAGMA [schema.]name [= value | (value)]`.
fn pragma(p: &mut P) -> Option<(String, Vec<Op>)> {
    p.need("pragma")?;
    p.name()?;
    if p.punct("=") {
        p.value()?;
    } else if p.punct("(") {
        p.value()?;
        if !p.punct(")") {
            return None;
        }
    }
    p.end()?;
    one(
        "pragma",
        Op::Other {
            what: "PRAGMA".to_string(),
        },
    )
}

/// PostgreSQL `COMMENT ON <object> name [(argument types)] [ON table] IS 'text' | NULL` for the
/// objects sqlparser does not read (functions with argument lists, triggers, policies, …).
fn comment_on(p: &mut P) -> Option<(String, Vec<Op>)> {
    p.need("comment")?;
    p.need("on")?;
    const KINDS: &[&str] = &[
        "table",
        "column",
        "function",
        "procedure",
        "routine",
        "index",
        "constraint",
        "trigger",
        "type",
        "schema",
        "view",
        "sequence",
        "extension",
        "role",
        "database",
        "domain",
        "policy",
        "aggregate",
        "rule",
        "collation",
        "conversion",
        "operator",
        "publication",
        "subscription",
        "server",
        "statistics",
        "tablespace",
        "cast",
        "event",
    ];
    if p.kws(&["materialized", "view"])
        || p.kws(&["foreign", "table"])
        || p.kws(&["event", "trigger"])
    {
    } else {
        p.one_of(KINDS)?;
    }
    p.name()?;
    if p.peek().is_some_and(|t| t.is_punct("(")) {
        p.parens()?;
    }
    if p.kw("on") {
        p.name()?;
    }
    p.need("is")?;
    if !p.kw("null") {
        p.string()?;
    }
    p.end()?;
    one("comment", Op::Comment)
}

/// MySQL `PREPARE name FROM {@var | 'text'}`.
fn prepare(p: &mut P) -> Option<(String, Vec<Op>)> {
    p.need("prepare")?;
    p.ident()?;
    p.need("from")?;
    if p.punct("@") {
        p.ident()?;
    } else if p
        .peek()
        .is_some_and(|t| t.kind == TokKind::Word && t.norm.starts_with('@'))
    {
        p.i += 1;
    } else {
        p.string()?;
    }
    p.end()?;
    one(
        "prepare",
        Op::Other {
            what: "PREPARE".to_string(),
        },
    )
}

// ------------------------------------------------------------------------------------------
// DROP

fn drop_kind(p: &mut P) -> Option<(ObjectKind, &'static str)> {
    let k = if p.kw("table") {
        (ObjectKind::Table, "table")
    } else if p.kw("index") {
        (ObjectKind::Index, "index")
    } else if p.kws(&["materialized", "view"]) {
        (ObjectKind::MaterializedView, "materialized view")
    } else if p.kw("view") {
        (ObjectKind::View, "view")
    } else if p.kw("sequence") {
        (ObjectKind::Sequence, "sequence")
    } else if p.kw("type") {
        (ObjectKind::Type, "type")
    } else if p.kw("domain") {
        (ObjectKind::Domain, "domain")
    } else if p.kw("schema") {
        (ObjectKind::Schema, "schema")
    } else if p.kw("database") {
        (ObjectKind::Database, "database")
    } else if p.kw("extension") {
        (ObjectKind::Extension, "extension")
    } else if p.kw("function") {
        (ObjectKind::Function, "function")
    } else if p.kw("procedure") {
        (ObjectKind::Procedure, "procedure")
    } else if p.kw("statistics") {
        (ObjectKind::Other, "statistics")
    } else if p.kw("collation") {
        (ObjectKind::Other, "collation")
    } else if p.kws(&["foreign", "table"]) {
        (ObjectKind::Table, "foreign table")
    } else {
        return None;
    };
    Some(k)
}

/// `DROP <kind> [CONCURRENTLY] [IF EXISTS] name [(args)][, …] [CASCADE|RESTRICT]`, for the DROP
/// forms sqlparser rejects (`DROP INDEX CONCURRENTLY IF EXISTS`, `DROP STATISTICS`, …).
fn drop(p: &mut P) -> Option<(String, Vec<Op>)> {
    p.need("drop")?;
    let (kind, word) = drop_kind(p)?;
    let concurrently = kind == ObjectKind::Index && p.kw("concurrently");
    let if_exists = p.if_exists();
    let mut names = Vec::new();
    loop {
        names.push(p.name()?);
        if matches!(kind, ObjectKind::Function | ObjectKind::Procedure)
            && p.peek().is_some_and(|t| t.is_punct("("))
        {
            p.parens()?;
        }
        if !p.punct(",") {
            break;
        }
    }
    let cascade = p.kw("cascade");
    if !cascade {
        p.kw("restrict");
    }
    // MySQL `DROP INDEX i ON t`
    let table = if kind == ObjectKind::Index && p.kw("on") {
        Some(p.name()?)
    } else {
        None
    };
    p.end()?;
    one(
        &format!("drop_{}", word.replace(' ', "_")),
        Op::Drop {
            kind,
            names,
            if_exists,
            cascade,
            concurrently,
            table,
        },
    )
}

// ------------------------------------------------------------------------------------------
// CREATE

fn create(p: &mut P) -> Option<(String, Vec<Op>)> {
    let save = p.i;
    if let Some((kind, op, _)) = routine_header(p) {
        // the body was checked by `routine_header`; its statements are judged on their own
        p.i = p.toks.len();
        return one(&kind, op);
    }
    p.i = save;
    p.need("create")?;
    let or_replace = p.kws(&["or", "replace"]);
    if p.dialect == Dialect::Mysql && !or_replace {
        let save = p.i;
        if let Some(r) = create_index(p) {
            return Some(r);
        }
        p.i = save;
    }
    if p.dialect == Dialect::Postgres && !or_replace && p.kw("statistics") {
        return create_statistics(p);
    }
    if p.dialect == Dialect::Postgres && p.peek().is_some_and(|t| t.is_word("materialized")) {
        return create_materialized_view(p);
    }
    if p.dialect == Dialect::Sqlite && !or_replace && p.kws(&["virtual", "table"]) {
        return create_virtual_table(p);
    }
    None
}

/// Where the body of a routine or trigger starts in `text`, for the statements that have one
/// migsafe reads: MySQL `CREATE PROCEDURE|FUNCTION|TRIGGER|EVENT … BEGIN … END`, SQLite
/// `CREATE TRIGGER … BEGIN … END` (PostgreSQL bodies are strings, found by their quotes).
pub(crate) fn routine_body_start(text: &str, dialect: Dialect) -> Option<usize> {
    if dialect == Dialect::Postgres {
        return None;
    }
    let toks = tokens(text, 0, text.len(), dialect);
    let mut p = P {
        file: text,
        base: 0,
        toks: &toks,
        i: 0,
        dialect,
    };
    let (_, _, body) = routine_header(&mut p)?;
    body.map(|i| toks[i].start)
}

/// A `CREATE` of a routine or trigger whose header this grammar reads completely: (kind, op,
/// token index where the body starts, for bodies that are statements rather than a string).
fn routine_header(p: &mut P) -> Option<(String, Op, Option<usize>)> {
    p.need("create")?;
    match p.dialect {
        Dialect::Postgres => pg_routine(p),
        Dialect::Mysql => mysql_routine(p),
        Dialect::Sqlite => sqlite_trigger(p),
    }
}

fn routine_op(kind: ObjectKind, name: ObjName, language: Option<String>) -> Op {
    Op::CreateRoutine {
        kind,
        name,
        language,
        body: None,
    }
}

/// PostgreSQL `CREATE [OR REPLACE] FUNCTION|PROCEDURE name (args) option…` with a string body
/// (sqlparser reads most; this covers the option orders it does not).
fn pg_routine(p: &mut P) -> Option<(String, Op, Option<usize>)> {
    p.kws(&["or", "replace"]);
    let kind = if p.kw("function") {
        ObjectKind::Function
    } else if p.kw("procedure") {
        ObjectKind::Procedure
    } else {
        return None;
    };
    let name = p.name()?;
    p.parens()?;
    let mut language = None;
    let mut body = false;
    while !p.done() {
        if p.kw("returns") {
            if p.kw("table") {
                p.parens()?;
            } else {
                p.kw("setof");
                p.type_until(&[
                    "language",
                    "as",
                    "immutable",
                    "stable",
                    "volatile",
                    "strict",
                    "security",
                    "parallel",
                    "cost",
                    "rows",
                    "set",
                    "called",
                    "returns",
                    "not",
                    "leakproof",
                    "window",
                    "external",
                    "support",
                ])?;
            }
        } else if p.kw("language") {
            language = Some(
                p.ident()
                    .or_else(|| p.string())?
                    .trim_matches('\'')
                    .to_ascii_lowercase(),
            );
        } else if p.kw("as") {
            p.string()?;
            if p.punct(",") {
                p.string()?;
            }
            body = true;
        } else if p
            .one_of(&[
                "immutable",
                "stable",
                "volatile",
                "strict",
                "leakproof",
                "window",
            ])
            .is_some()
            || p.kws(&["not", "leakproof"])
            || p.kws(&["called", "on", "null", "input"])
            || p.kws(&["returns", "null", "on", "null", "input"])
        {
        } else if p.kw("external") || p.kw("security") {
            p.kw("security");
            p.one_of(&["invoker", "definer"])?;
        } else if p.kw("parallel") {
            p.one_of(&["unsafe", "restricted", "safe"])?;
        } else if p.kw("cost") || p.kw("rows") {
            p.number()?;
        } else if p.kw("support") {
            p.name()?;
        } else if p.kw("set") {
            p.name()?;
            if p.kws(&["from", "current"]) {
            } else {
                let _ = p.punct("=") || p.kw("to");
                p.value()?;
                while p.punct(",") {
                    p.value()?;
                }
            }
        } else {
            return None;
        }
    }
    if !body {
        return None;
    }
    let word = if kind == ObjectKind::Function {
        "create_function"
    } else {
        "create_procedure"
    };
    Some((word.to_string(), routine_op(kind, name, language), None))
}

/// MySQL `DEFINER = user` (`'u'@'h'`, `u@h`, `CURRENT_USER[()]`).
fn mysql_definer(p: &mut P) -> Option<()> {
    if !p.kw("definer") {
        return Some(());
    }
    if !p.punct("=") {
        return None;
    }
    if p.kw("current_user") {
        if p.punct("(") && !p.punct(")") {
            return None;
        }
        return Some(());
    }
    p.value()?;
    if p.punct("@") {
        p.value()?;
    } else if p
        .peek()
        .is_some_and(|t| t.kind == TokKind::Word && t.norm.starts_with('@'))
    {
        p.i += 1;
    }
    Some(())
}

/// The start of a MySQL/SQLite compound body: `[label:] BEGIN`, else the single statement.
fn body_start(p: &mut P) -> Option<usize> {
    if p.done() {
        return None;
    }
    let at = p.i;
    if p.peek_at(1).is_some_and(|t| t.is_punct(":"))
        && p.peek_at(2).is_some_and(|t| t.is_word("begin"))
    {
        return Some(at);
    }
    Some(at)
}

/// MySQL `CREATE [DEFINER = u] PROCEDURE|FUNCTION|TRIGGER|EVENT … body`.
fn mysql_routine(p: &mut P) -> Option<(String, Op, Option<usize>)> {
    p.kws(&["or", "replace"]);
    mysql_definer(p)?;
    if p.kws(&["sql", "security"]) {
        p.one_of(&["definer", "invoker"])?;
    }
    let (kind, word) = if p.kw("procedure") {
        (ObjectKind::Procedure, "create_procedure")
    } else if p.kw("function") {
        (ObjectKind::Function, "create_function")
    } else if p.kw("trigger") {
        (ObjectKind::Trigger, "create_trigger")
    } else {
        return None;
    };
    p.if_not_exists();
    let name = p.name()?;
    if kind == ObjectKind::Trigger {
        p.one_of(&["before", "after"])?;
        p.one_of(&["insert", "update", "delete"])?;
        p.need("on")?;
        p.name()?;
        p.kws(&["for", "each", "row"]).then_some(())?;
        if p.kw("follows") || p.kw("precedes") {
            p.name()?;
        }
    } else {
        p.parens()?;
        if kind == ObjectKind::Function {
            p.need("returns")?;
            p.type_until(&[
                "comment",
                "language",
                "not",
                "deterministic",
                "contains",
                "no",
                "reads",
                "modifies",
                "sql",
                "begin",
                "return",
            ])?;
        }
        loop {
            if p.kw("comment") {
                p.string()?;
            } else if p.kws(&["language", "sql"])
                || p.kws(&["not", "deterministic"])
                || p.kw("deterministic")
                || p.kws(&["contains", "sql"])
                || p.kws(&["no", "sql"])
                || p.kws(&["reads", "sql", "data"])
                || p.kws(&["modifies", "sql", "data"])
            {
            } else if p.kws(&["sql", "security"]) {
                p.one_of(&["definer", "invoker"])?;
            } else {
                break;
            }
        }
    }
    let body = body_start(p)?;
    Some((
        word.to_string(),
        routine_op(kind, name, Some("sql".to_string())),
        Some(body),
    ))
}

/// SQLite `CREATE [TEMP] TRIGGER [IF NOT EXISTS] name [BEFORE|AFTER|INSTEAD OF] event ON table
/// [FOR EACH ROW] [WHEN expr] BEGIN … END`.
fn sqlite_trigger(p: &mut P) -> Option<(String, Op, Option<usize>)> {
    let _ = p.kw("temp") || p.kw("temporary");
    p.need("trigger")?;
    p.if_not_exists();
    let name = p.name()?;
    if !(p.kw("before") || p.kw("after") || p.kws(&["instead", "of"])) {
        // the timing is optional (BEFORE by default)
    }
    match p.one_of(&["insert", "update", "delete"])?.as_str() {
        "update" if p.kw("of") => {
            p.ident()?;
            while p.punct(",") {
                p.ident()?;
            }
        }
        _ => {}
    }
    p.need("on")?;
    p.name()?;
    p.kws(&["for", "each", "row"]);
    if p.kw("when") {
        let a = p.i;
        while p.peek().is_some_and(|t| !t.is_word("begin")) {
            p.i += 1;
        }
        if !super::is_expr(p.text(a, p.i), p.dialect) {
            return None;
        }
    }
    if !p.peek()?.is_word("begin") {
        return None;
    }
    let body = p.i;
    Some((
        "create_trigger".to_string(),
        routine_op(ObjectKind::Trigger, name, Some("sql".to_string())),
        Some(body),
    ))
}

/// MySQL `CREATE [UNIQUE|FULLTEXT|SPATIAL] INDEX name [USING m] ON t (cols) [options]`.
fn create_index(p: &mut P) -> Option<(String, Vec<Op>)> {
    let which = p.one_of(&["unique", "fulltext", "spatial"]);
    p.need("index")?;
    let name = p.ident()?;
    if p.kw("using") {
        p.one_of(&["btree", "hash"])?;
    }
    p.need("on")?;
    let table = p.name()?;
    let columns = index_columns(p)?;
    index_options(p)?;
    p.end()?;
    one(
        "create_index",
        Op::CreateIndex {
            name: Some(name),
            table,
            columns,
            unique: which.as_deref() == Some("unique"),
            concurrently: false,
            if_not_exists: false,
            fulltext: which.as_deref() == Some("fulltext"),
            spatial: which.as_deref() == Some("spatial"),
        },
    )
}

/// `(col [(len)] [ASC|DESC], …)` of a MySQL index.
fn index_columns(p: &mut P) -> Option<Vec<String>> {
    if !p.punct("(") {
        return None;
    }
    let mut cols = Vec::new();
    loop {
        cols.push(p.ident()?);
        if p.punct("(") {
            p.number()?;
            if !p.punct(")") {
                return None;
            }
        }
        let _ = p.kw("asc") || p.kw("desc");
        if !p.punct(",") {
            break;
        }
    }
    p.punct(")").then_some(cols)
}

/// MySQL index options after the column list, and `ALGORITHM`/`LOCK`.
fn index_options(p: &mut P) -> Option<()> {
    while !p.done() {
        if p.kw("using") {
            p.one_of(&["btree", "hash"])?;
        } else if p.kw("comment") {
            p.string()?;
        } else if p.kw("with") {
            p.need("parser")?;
            p.ident()?;
        } else if p.kw("key_block_size") || p.kw("algorithm") || p.kw("lock") {
            p.punct("=");
            p.value()?;
        } else if p.kw("visible") || p.kw("invisible") {
        } else {
            return None;
        }
    }
    Some(())
}

/// `CREATE STATISTICS [IF NOT EXISTS] name [(kinds)] ON exprs FROM table`.
fn create_statistics(p: &mut P) -> Option<(String, Vec<Op>)> {
    p.if_not_exists();
    p.name()?;
    if p.peek().is_some_and(|t| t.is_punct("(")) {
        p.word_list(&["ndistinct", "dependencies", "mcv"])?;
    }
    p.need("on")?;
    let a = p.i;
    while p.peek().is_some_and(|t| !t.is_word("from")) {
        p.i += 1;
    }
    // the statistics targets: columns or expressions, each an expression
    let targets = p.text(a, p.i);
    if targets.is_empty() || !super::is_expr_list(targets, p.dialect) {
        return None;
    }
    p.need("from")?;
    p.name()?;
    p.end()?;
    one(
        "create_statistics",
        Op::CreateOther {
            what: "CREATE STATISTICS".to_string(),
        },
    )
}

/// `CREATE MATERIALIZED VIEW … AS query WITH [NO] DATA`: sqlparser reads it without the final
/// `WITH [NO] DATA`, which only says whether the view is filled now.
fn create_materialized_view(p: &mut P) -> Option<(String, Vec<Op>)> {
    let n = p.toks.len();
    let tail = if n >= 3 && p.toks[n - 3].is_word("with") && p.toks[n - 2].is_word("no") {
        3
    } else if n >= 2 && p.toks[n - 2].is_word("with") {
        2
    } else {
        return None;
    };
    if !p.toks[n - 1].is_word("data") {
        return None;
    }
    let keep_end = p.toks[n - tail - 1].end;
    let (kind, ops) = super::reparse_part(p.file, p.base, &[(0, keep_end)], p.dialect)?;
    if !matches!(
        ops.as_slice(),
        [Op::CreateView {
            materialized: true,
            ..
        }]
    ) {
        return None;
    }
    p.i = n;
    Some((kind, ops))
}

/// SQLite `CREATE VIRTUAL TABLE [IF NOT EXISTS] name USING module [(arguments)]`: the module
/// arguments are the module's own syntax, any balanced tokens.
fn create_virtual_table(p: &mut P) -> Option<(String, Vec<Op>)> {
    let if_not_exists = p.if_not_exists();
    let table = p.name()?;
    p.need("using")?;
    p.ident()?;
    if !p.done() {
        p.parens()?;
    }
    p.end()?;
    one(
        "create_virtual_table",
        Op::CreateTable {
            table,
            columns: vec![],
            constraints: vec![],
            if_not_exists,
            temporary: false,
            as_select: false,
            fulltext_index: false,
        },
    )
}

// ------------------------------------------------------------------------------------------
// ALTER

fn alter(p: &mut P, base: usize) -> Option<(String, Vec<Op>)> {
    p.need("alter")?;
    if p.dialect == Dialect::Mysql {
        let _ = p.kw("online") || p.kw("ignore");
    }
    if p.kw("table") {
        return alter_table(p, base);
    }
    if p.dialect != Dialect::Postgres {
        return None;
    }
    if p.kw("sequence") {
        return alter_sequence(p);
    }
    if p.kw("index") {
        return alter_index(p);
    }
    if p.kw("domain") {
        return alter_domain(p);
    }
    None
}

/// `ALTER SEQUENCE [IF EXISTS] name option…` (sequence options, RENAME TO, SET SCHEMA, OWNER TO,
/// SET LOGGED|UNLOGGED).
fn alter_sequence(p: &mut P) -> Option<(String, Vec<Op>)> {
    p.if_exists();
    p.name()?;
    if p.kws(&["rename", "to"]) || p.kws(&["set", "schema"]) || p.kws(&["owner", "to"]) {
        p.ident()?;
    } else if p.kw("set") {
        p.one_of(&["logged", "unlogged"])?;
    } else {
        let mut any = false;
        while !p.done() {
            any = true;
            if p.kw("as") {
                p.type_until(&[
                    "increment",
                    "minvalue",
                    "maxvalue",
                    "no",
                    "start",
                    "restart",
                    "cache",
                    "cycle",
                    "owned",
                ])?;
            } else if p.kw("increment") {
                p.kw("by");
                p.number()?;
            } else if p.kw("minvalue") || p.kw("maxvalue") || p.kw("cache") {
                p.number()?;
            } else if p.kw("no") {
                p.one_of(&["minvalue", "maxvalue", "cycle"])?;
            } else if p.kw("cycle") {
            } else if p.kw("start") {
                p.kw("with");
                p.number()?;
            } else if p.kw("restart") {
                if p.kw("with") {
                    p.number()?;
                } else {
                    let _ = p.number();
                }
            } else if p.kws(&["owned", "by"]) {
                if !p.kw("none") {
                    p.name()?;
                }
            } else {
                return None;
            }
        }
        if !any {
            return None;
        }
    }
    p.end()?;
    one(
        "alter_sequence",
        Op::AlterOther {
            what: "ALTER SEQUENCE".to_string(),
        },
    )
}

/// `ALTER INDEX [IF EXISTS] name {RENAME TO n | SET TABLESPACE t | SET (…) | RESET (…) |
/// ATTACH PARTITION n | ALTER [COLUMN] k SET STATISTICS n}`.
fn alter_index(p: &mut P) -> Option<(String, Vec<Op>)> {
    p.if_exists();
    p.name()?;
    if p.kws(&["rename", "to"]) || p.kws(&["set", "tablespace"]) {
        p.ident()?;
    } else if p.kw("set") || p.kw("reset") {
        p.option_list()?;
    } else if p.kws(&["attach", "partition"]) {
        p.name()?;
    } else if p.kw("alter") {
        p.kw("column");
        p.value()?;
        p.kws(&["set", "statistics"]).then_some(())?;
        p.number()?;
    } else {
        return None;
    }
    p.end()?;
    one(
        "alter_index",
        Op::AlterOther {
            what: "ALTER INDEX".to_string(),
        },
    )
}

/// `ALTER DOMAIN name {SET DEFAULT e | DROP DEFAULT | SET|DROP NOT NULL | ADD [CONSTRAINT c]
/// CHECK (e) [NOT VALID] | DROP CONSTRAINT [IF EXISTS] c [CASCADE|RESTRICT] | RENAME CONSTRAINT a
/// TO b | VALIDATE CONSTRAINT c | RENAME TO n | OWNER TO r | SET SCHEMA s}`.
fn alter_domain(p: &mut P) -> Option<(String, Vec<Op>)> {
    p.name()?;
    if p.kws(&["set", "default"]) {
        let a = p.i;
        p.i = p.toks.len();
        if !super::is_expr(p.text(a, p.i), p.dialect) {
            return None;
        }
    } else if p.kws(&["drop", "default"])
        || p.kws(&["set", "not", "null"])
        || p.kws(&["drop", "not", "null"])
    {
    } else if p.kw("add") {
        if p.kw("constraint") {
            p.ident()?;
        }
        if p.kw("check") {
            p.paren_expr()?;
        } else {
            p.kws(&["not", "null"]).then_some(())?;
        }
        p.kws(&["not", "valid"]);
    } else if p.kws(&["drop", "constraint"]) {
        p.if_exists();
        p.ident()?;
        let _ = p.kw("cascade") || p.kw("restrict");
    } else if p.kws(&["rename", "constraint"]) {
        p.ident()?;
        p.need("to")?;
        p.ident()?;
    } else if p.kws(&["validate", "constraint"])
        || p.kws(&["rename", "to"])
        || p.kws(&["owner", "to"])
        || p.kws(&["set", "schema"])
    {
        p.ident()?;
    } else {
        return None;
    }
    p.end()?;
    one(
        "alter_domain",
        Op::AlterOther {
            what: "ALTER DOMAIN".to_string(),
        },
    )
}

/// Splits token indexes `from..to` at commas outside parentheses.
fn actions(toks: &[T], from: usize, to: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = from;
    for (i, t) in toks.iter().enumerate().take(to).skip(from) {
        if t.is_punct("(") {
            depth += 1;
        } else if t.is_punct(")") {
            depth -= 1;
        } else if t.is_punct(",") && depth == 0 {
            out.push((start, i));
            start = i + 1;
        }
    }
    out.push((start, to));
    out
}

/// `ALTER TABLE [IF EXISTS] [ONLY] name action[, …]`: every action is read by [`alter_action`]
/// or by sqlparser on its own.
fn alter_table(p: &mut P, base: usize) -> Option<(String, Vec<Op>)> {
    p.if_exists();
    p.kw("only");
    let table = p.name()?;
    p.punct("*");
    let prefix_end = p.toks.get(p.i.checked_sub(1)?)?.end;
    if p.done() {
        return None;
    }
    let mut items = Vec::new();
    let mut algorithm = None;
    let mut lock = None;
    for (a, b) in actions(p.toks, p.i, p.toks.len()) {
        if a == b {
            return None;
        }
        let mut q = P {
            file: p.file,
            base,
            toks: &p.toks[..b],
            i: a,
            dialect: p.dialect,
        };
        let local = (p.toks[a].start, p.toks[b - 1].end);
        let item_span = Span::new(base + local.0, base + local.1);
        if p.dialect == Dialect::Mysql && (q.kw("algorithm") || q.kw("lock")) {
            let is_algorithm = q.toks[a].is_word("algorithm");
            q.punct("=");
            let allowed: &[&str] = if is_algorithm {
                &["default", "instant", "inplace", "copy"]
            } else {
                &["default", "none", "shared", "exclusive"]
            };
            let v = q.one_of(allowed)?.to_ascii_uppercase();
            q.end()?;
            if is_algorithm {
                algorithm = Some(v);
            } else {
                lock = Some(v);
            }
            continue;
        }
        q.i = a;
        if let Some(action) = alter_action(&mut q) {
            q.end()?;
            items.push(AlterItem {
                action,
                span: item_span,
            });
            continue;
        }
        // an action sqlparser knows: parse `ALTER TABLE name <action>` with the rest blanked
        let (mut more, alg, lk) =
            super::reparse_alter_action(p.file, base, prefix_end, local, p.dialect)?;
        algorithm = algorithm.or(alg);
        lock = lock.or(lk);
        items.append(&mut more);
    }
    p.i = p.toks.len();
    one(
        "alter_table",
        Op::AlterTable {
            table,
            items,
            algorithm,
            lock,
        },
    )
}

/// An ALTER TABLE action sqlparser lacks; `None` (nothing consumed that matters) otherwise.
fn alter_action(p: &mut P) -> Option<AlterAction> {
    let start = p.i;
    let r = match p.dialect {
        Dialect::Postgres => pg_action(p),
        Dialect::Mysql => mysql_action(p),
        Dialect::Sqlite => None,
    };
    if r.is_none() || !p.done() {
        p.i = start;
        return None;
    }
    r
}

fn other(p: &P, a: usize, takes_lock: bool) -> AlterAction {
    AlterAction::Other {
        what: p.text(a, p.i).to_string(),
        takes_lock,
    }
}

fn pg_action(p: &mut P) -> Option<AlterAction> {
    let a = p.i;
    if p.kws(&["set", "tablespace"]) {
        let name = p.ident()?;
        p.kw("nowait");
        return Some(AlterAction::SetTablespace { name });
    }
    if p.kws(&["set", "access", "method"]) {
        let name = p.ident()?;
        return Some(AlterAction::SetAccessMethod { name });
    }
    if p.kws(&["set", "schema"]) {
        p.ident()?;
        return Some(other(p, a, true));
    }
    if p.kws(&["set", "without", "cluster"]) || p.kws(&["set", "without", "oids"]) {
        return Some(other(p, a, true));
    }
    if p.kws(&["cluster", "on"]) {
        p.ident()?;
        return Some(other(p, a, false));
    }
    if p.kws(&["alter", "constraint"]) {
        p.ident()?;
        let mut any = false;
        loop {
            if p.kws(&["not", "deferrable"]) || p.kw("deferrable") {
            } else if p.kw("initially") {
                p.one_of(&["deferred", "immediate"])?;
            } else if p.kws(&["no", "inherit"])
                || p.kw("inherit")
                || p.kws(&["not", "enforced"])
                || p.kw("enforced")
            {
            } else {
                break;
            }
            any = true;
        }
        return any.then(|| other(p, a, true));
    }
    if p.kw("alter") {
        p.kw("column");
        p.ident()?;
        if p.kws(&["set", "statistics"]) {
            p.number()?;
            return Some(other(p, a, false));
        }
        if p.kws(&["set", "storage"]) {
            p.one_of(&["plain", "external", "extended", "main", "default"])?;
            return Some(other(p, a, true));
        }
        if p.kws(&["set", "compression"]) {
            p.ident()?;
            return Some(other(p, a, true));
        }
        if p.kws(&["drop", "expression"]) || p.kws(&["drop", "identity"]) {
            p.if_exists();
            return Some(other(p, a, true));
        }
        if p.kw("set") || p.kw("reset") {
            p.option_list()?;
            return Some(other(p, a, false));
        }
        return None;
    }
    if p.kws(&["no", "inherit"]) {
        p.name()?;
        return Some(other(p, a, true));
    }
    if p.kws(&["not", "of"]) {
        return Some(other(p, a, true));
    }
    if p.kw("of") {
        p.name()?;
        return Some(other(p, a, true));
    }
    None
}

/// A MySQL charset or collation name (identifier or string).
fn charset_name(p: &mut P) -> Option<String> {
    p.ident().or_else(|| p.string()).map(|s| {
        s.trim_matches(|c| c == '\'' || c == '"')
            .to_ascii_lowercase()
    })
}

fn mysql_action(p: &mut P) -> Option<AlterAction> {
    if p.kw("force") {
        return Some(AlterAction::Force);
    }
    if p.kw("convert") {
        p.need("to")?;
        if !(p.kws(&["character", "set"]) || p.kw("charset")) {
            return None;
        }
        let charset = charset_name(p)?;
        let collation = if p.kw("collate") {
            Some(charset_name(p)?)
        } else {
            None
        };
        return Some(AlterAction::ConvertCharset { charset, collation });
    }
    if p.kws(&["drop", "key"]) {
        let name = p.ident()?;
        return Some(AlterAction::DropIndex { name });
    }
    if p.peek().is_some_and(|t| t.is_word("rename"))
        && p.peek_at(1)
            .is_some_and(|t| !["index", "key", "column", "to", "as"].contains(&t.norm.as_str()))
    {
        // `RENAME new_name` (TO and AS are optional in MySQL)
        p.i += 1;
        let to = p.name()?;
        return Some(AlterAction::RenameTable { to });
    }
    if p.kws(&["drop", "check"]) {
        let name = p.ident()?;
        return Some(AlterAction::DropConstraint {
            name,
            if_exists: false,
            cascade: false,
        });
    }
    if p.kw("rename") {
        p.one_of(&["index", "key"])?;
        let from = p.ident()?;
        p.need("to")?;
        let to = p.ident()?;
        return Some(AlterAction::Other {
            what: format!("RENAME INDEX {from} TO {to}"),
            takes_lock: false,
        });
    }
    if p.kws(&["alter", "index"]) {
        let a = p.i - 2;
        p.ident()?;
        p.one_of(&["visible", "invisible"])?;
        return Some(other(p, a, false));
    }
    // table options
    p.kw("default");
    let option = if p.kws(&["character", "set"]) || p.kw("charset") {
        "CHARACTER SET"
    } else if p.kw("collate") {
        "COLLATE"
    } else if p.kw("engine") {
        "ENGINE"
    } else if p.kw("row_format") {
        "ROW_FORMAT"
    } else if p.kw("comment") {
        "COMMENT"
    } else if p.kw("key_block_size") {
        "KEY_BLOCK_SIZE"
    } else if p.kw("stats_persistent") {
        "STATS_PERSISTENT"
    } else if p.kw("stats_auto_recalc") {
        "STATS_AUTO_RECALC"
    } else if p.kw("stats_sample_pages") {
        "STATS_SAMPLE_PAGES"
    } else if p.kw("pack_keys") {
        "PACK_KEYS"
    } else {
        return None;
    };
    p.punct("=");
    let value = match option {
        "CHARACTER SET" | "COLLATE" => charset_name(p)?,
        "COMMENT" => p.string()?,
        "ROW_FORMAT" => p
            .one_of(&[
                "default",
                "dynamic",
                "fixed",
                "compressed",
                "redundant",
                "compact",
            ])?
            .to_ascii_uppercase(),
        "ENGINE" => p.ident().or_else(|| p.string())?,
        _ => p.value()?,
    };
    Some(AlterAction::TableOption {
        name: option.to_string(),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fb(sql: &str) -> Option<(String, Vec<Op>)> {
        fbd(sql, Dialect::Postgres)
    }

    fn fbd(sql: &str, d: Dialect) -> Option<(String, Vec<Op>)> {
        classify(sql, 0, d)
    }

    #[test]
    fn recognises_maintenance_and_drops() {
        let (k, ops) = fb("DROP INDEX CONCURRENTLY IF EXISTS a, b CASCADE").unwrap();
        assert_eq!(k, "drop_index");
        assert!(
            matches!(&ops[0], Op::Drop { kind: ObjectKind::Index, names, cascade: true, concurrently: true, if_exists: true, .. } if names.len() == 2)
        );
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
        assert!(fb("VACUUM (ANALYZE) orders").is_some());
        assert!(fb("ALTER SEQUENCE s AS bigint").is_some());
        assert!(fb("ALTER SEQUENCE s RESTART WITH 10 OWNED BY t.id").is_some());
    }

    #[test]
    fn alter_table_mixes_its_own_actions_with_sqlparser_ones() {
        let sql = "ALTER TABLE ONLY public.t SET TABLESPACE fast, DROP COLUMN IF EXISTS c";
        let (_, ops) = fb(sql).unwrap();
        let Op::AlterTable { table, items, .. } = &ops[0] else {
            panic!("{ops:?}")
        };
        assert_eq!(table.to_string(), "public.t");
        assert!(matches!(&items[0].action, AlterAction::SetTablespace { name } if name == "fast"));
        assert!(
            matches!(&items[1].action, AlterAction::DropColumn { names, if_exists: true, .. } if names == &vec!["c".to_string()])
        );
        // the span of the second action is in file offsets
        assert!(sql[..items[1].span.end].ends_with("DROP COLUMN IF EXISTS c"));
        let my =
            "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, ALGORITHM=COPY";
        let (_, ops) = fbd(my, Dialect::Mysql).unwrap();
        let Op::AlterTable {
            items, algorithm, ..
        } = &ops[0]
        else {
            panic!()
        };
        assert_eq!(algorithm.as_deref(), Some("COPY"));
        assert!(
            matches!(&items[0].action, AlterAction::ConvertCharset { charset, collation: Some(c) } if charset == "utf8mb4" && c == "utf8mb4_bin")
        );
    }

    #[test]
    fn never_guesses_from_leading_keywords() {
        for sql in [
            "FROBNICATE the database",
            "WITH x AS (DELETE FROM t RETURNING *) SELECT 1",
            "SELECT ((((1",
            "DO $$ BEGIN DROP TABLE t;",
            "",
            "ALTER TABLE a ADDD COLUMN c int garbage",
            "ALTER TABLE a SET TABLESPACE fast garbage",
            "ALTER TABLE a SET TABLESPACE",
            "DROP INDEX CONCURRENTLY IF EXISTS i garbage",
            "DROP INDEXX i",
            "REINDEX INDEXX i",
            "VACUUM (ANALYZEE) t",
            "ALTER SEQUENCE s RESTARTT WITH 1",
            "CREATE STATISTICS s ON FROM t",
            "DO $$ x $$ garbage",
            "ALTER DOMAIN d ADD CONSTRAINT c CHECK (VALUE >) NOT VALID",
        ] {
            assert!(fb(sql).is_none(), "{sql}");
        }
        for sql in [
            "ALTER TABLE t CONVERT TO CHARACTER SETT utf8mb4",
            "ALTER TABLE t ENGINE = InnoDB garbage",
            "ALTER TABLE t ALGORITHM=FAST",
            "CREATE FULLTEXT INDEXX i ON t (c)",
            "OPTIMIZE TABLE",
        ] {
            assert!(fbd(sql, Dialect::Mysql).is_none(), "{sql}");
        }
    }
}
