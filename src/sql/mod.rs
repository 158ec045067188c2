//! The only sqlparser boundary: dialects, statement splitting, parsing, lowering to migsafe's
//! statement model ([`ir`]) and the token-level fallback for what sqlparser rejects.

pub mod dynamic;
pub mod fallback;
pub mod fuzz;
pub mod ir;
pub mod lexer;
mod lower;
pub mod procedural;
#[cfg(test)]
mod proptests;
pub mod quote;
pub mod split;
pub mod template;
pub mod types;

use ir::{Parser as How, Span, Statement};
use std::ops::Range;

/// Nesting depth sqlparser may recurse to before it gives up (deeply nested input becomes an
/// `unknown` statement instead of a stack overflow).
const RECURSION_LIMIT: usize = 64;

/// Files with fewer statements per core are parsed on one thread (threads cost more than they
/// save there).
const PARALLEL_MIN_STATEMENTS: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Postgres,
    Mysql,
    Sqlite,
}

impl Dialect {
    pub const ALL: [Dialect; 3] = [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite];

    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
            Dialect::Sqlite => "sqlite",
        }
    }

    /// Accepts the names users write, including URL schemes (`postgresql`, `mariadb`, `sqlite3`).
    pub fn parse(s: &str) -> Option<Dialect> {
        match s.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" | "pg" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::Mysql),
            "sqlite" | "sqlite3" => Some(Dialect::Sqlite),
            _ => None,
        }
    }
}

/// Splits `text[range]` into statements and parses each one on its own, so a statement sqlparser
/// rejects does not hide the others. Never panics.
pub fn parse_section(text: &str, range: Range<usize>, dialect: Dialect) -> Vec<Statement> {
    let raws = split::split(text, range, dialect);
    // statements parse independently: a file of many statements is parsed on every core
    crate::parallel::chunked_map(&raws, PARALLEL_MIN_STATEMENTS, |index, raw| {
        parse_statement(text, raw.span, dialect, index)
    })
}

/// Parses one statement whose text is `file[span]`.
pub fn parse_statement(file: &str, span: Span, dialect: Dialect, index: usize) -> Statement {
    parse_as(file, span, None, dialect, index)
}

/// Parses the statement at `file[span]`, reading `rewritten` instead of its text when given: a
/// rewrite of the same length (PL/pgSQL's `INTO target` blanked out, `PERFORM` read as
/// `SELECT`), so spans stay file offsets. The statement's `sql` is always the original text.
pub(crate) fn parse_as(
    file: &str,
    span: Span,
    rewritten: Option<&str>,
    dialect: Dialect,
    index: usize,
) -> Statement {
    let original = &file[span.start..span.end];
    let text = rewritten.unwrap_or(original);
    debug_assert_eq!(text.len(), original.len());
    let mut stmt = unknown_statement(file, span);
    stmt.index = index;
    match parse_ast(text, dialect) {
        Ok(asts) if !asts.is_empty() => lower_into(&mut stmt, &asts, text, span.start, dialect),
        Ok(_) => {
            stmt.parse_error = Some("no statement found".to_string());
        }
        Err(msg) => {
            stmt.parse_error = Some(file_relative_error(&msg, file, span));
            // the same statement spelled in a way sqlparser reads (same length, same meaning)
            if let Some(fixed) = equivalent_spelling(text, dialect)
                && let Ok(asts) = parse_ast(&fixed.text, dialect)
                && !asts.is_empty()
            {
                lower_into(&mut stmt, &asts, &fixed.text, span.start, dialect);
                fixed.restore(&mut stmt.ops, span.start);
                stmt.parse_error = None;
            } else if let Some((kind, ops)) = fallback::classify(text, span.start, dialect) {
                stmt.kind = kind;
                stmt.ops = ops;
                stmt.parser = How::Fallback;
            }
        }
    }
    stmt
}

fn lower_into(
    stmt: &mut Statement,
    asts: &[sqlparser::ast::Statement],
    text: &str,
    base: usize,
    dialect: Dialect,
) {
    let map = lower::SpanMap::new(text, base);
    let mut kind = None;
    for ast in asts {
        let (k, ops) = lower::lower(ast, &map, dialect);
        kind.get_or_insert(k);
        // a statement is one AST almost always: keep the exact-size vector
        if stmt.ops.is_empty() {
            stmt.ops = ops;
        } else {
            stmt.ops.extend(ops);
        }
    }
    stmt.kind = kind.unwrap_or_else(|| "unknown".to_string());
    stmt.parser = How::Sqlparser;
}

/// Spellings sqlparser does not read, rewritten to ones it does with the same length and
/// meaning (so spans are kept): MySQL `"text"` strings (MySQL's default SQL mode) as `'text'`,
/// MySQL's `BINARY` column attribute (the binary collation of the column's character set)
/// blanked and returned as offsets so the lowering can record it, and SQLite type names of
/// several words (`BIGINT AUTO_INCREMENT`, which SQLite accepts as one declared type) joined
/// with underscores.
fn equivalent_spelling(text: &str, dialect: Dialect) -> Option<Respelled> {
    match dialect {
        Dialect::Mysql => mysql_spelling(text),
        Dialect::Sqlite => sqlite_spelling(text).map(|text| Respelled {
            text,
            binary: Vec::new(),
            nocopy: false,
        }),
        Dialect::Postgres => None,
    }
}

/// A statement spelled so sqlparser reads it (same length), and what the respelling removed
/// that the statement model must still carry.
struct Respelled {
    text: String,
    /// Offsets of MySQL `BINARY` column attributes (see [`mark_binary`]).
    binary: Vec<usize>,
    /// MariaDB's `ALGORITHM=NOCOPY` was removed.
    nocopy: bool,
}

impl Respelled {
    /// Puts back into `ops` what the respelling removed (`base`: the file offset of the text).
    fn restore(&self, ops: &mut [ir::Op], base: usize) {
        for at in &self.binary {
            mark_binary(ops, base + at);
        }
        if self.nocopy {
            for op in ops.iter_mut() {
                if let ir::Op::AlterTable { algorithm, .. } = op {
                    *algorithm = Some("NOCOPY".to_string());
                }
            }
        }
    }
}

fn mysql_spelling(text: &str) -> Option<Respelled> {
    let mut out = text.to_string();
    let mut binary = Vec::new();
    let mut nocopy = false;
    let toks: Vec<lexer::Token> = lexer::Lexer::new(text, 0, text.len(), Dialect::Mysql)
        .filter(|t| !t.is_trivia())
        .collect();
    for (k, t) in toks.iter().enumerate() {
        let raw = &text[t.start..t.end];
        if t.kind == lexer::TokKind::Str
            && raw.len() >= 2
            && raw.starts_with('"')
            && raw.ends_with('"')
            && !raw[1..raw.len() - 1].contains(['\\', '\'', '"'])
        {
            out.replace_range(t.start..t.start + 1, "'");
            out.replace_range(t.end - 1..t.end, "'");
        }
        // `VARCHAR(255) BINARY`, `TEXT BINARY`: the attribute, not the BINARY(n) type
        if t.is_word(text, "binary") && k > 0 {
            let prev = &text[toks[k - 1].start..toks[k - 1].end];
            let after_type = prev == ")"
                || [
                    "char",
                    "varchar",
                    "text",
                    "tinytext",
                    "mediumtext",
                    "longtext",
                    "enum",
                    "set",
                ]
                .iter()
                .any(|w| prev.eq_ignore_ascii_case(w));
            let next_is_paren = toks
                .get(k + 1)
                .is_some_and(|n| &text[n.start..n.end] == "(");
            if after_type && !next_is_paren {
                out.replace_range(t.start..t.end, &" ".repeat(t.end - t.start));
                binary.push(t.start);
            }
        }
    }
    // MariaDB's `ADD COLUMN IF NOT EXISTS`, `DROP INDEX IF EXISTS`, `CHANGE COLUMN IF EXISTS` …:
    // the action is the same with or without the guard, which sqlparser does not read
    if toks.first().is_some_and(|t| t.is_word(text, "alter")) {
        let word = |k: usize, w: &str| toks.get(k).is_some_and(|t| t.is_word(text, w));
        for k in 1..toks.len() {
            if !word(k, "if") || word(k - 1, "table") {
                continue;
            }
            let last = if word(k + 1, "exists") {
                k + 1
            } else if word(k + 1, "not") && word(k + 2, "exists") {
                k + 2
            } else {
                continue;
            };
            let (start, end) = (toks[k].start, toks[last].end);
            out.replace_range(start..end, &" ".repeat(end - start));
        }
        // MariaDB's `ALGORITHM=NOCOPY` (no table copy, 10.3.7+): sqlparser knows only MySQL's
        // algorithms, so the clause (with its comma) is removed here and put back on the op
        for k in 1..toks.len() {
            if !word(k, "algorithm") {
                continue;
            }
            let value = if toks
                .get(k + 1)
                .is_some_and(|t| &text[t.start..t.end] == "=")
            {
                k + 2
            } else {
                k + 1
            };
            if !word(value, "nocopy") {
                continue;
            }
            let first = if &text[toks[k - 1].start..toks[k - 1].end] == "," {
                k - 1
            } else {
                k
            };
            let (start, end) = (toks[first].start, toks[value].end);
            out.replace_range(start..end, &" ".repeat(end - start));
            nocopy = true;
        }
    }
    (out != text).then_some(Respelled {
        text: out,
        binary,
        nocopy,
    })
}

/// SQLite `CREATE TABLE`: column types of several words joined with `_`.
fn sqlite_spelling(text: &str) -> Option<String> {
    const CONSTRAINT: &[&str] = &[
        "constraint",
        "primary",
        "not",
        "null",
        "unique",
        "check",
        "default",
        "collate",
        "references",
        "generated",
        "as",
        "autoincrement",
    ];
    let toks: Vec<lexer::Token> = lexer::Lexer::new(text, 0, text.len(), Dialect::Sqlite)
        .filter(|t| !t.is_trivia())
        .collect();
    let word = |k: usize| {
        toks.get(k)
            .map(|t| text[t.start..t.end].to_ascii_lowercase())
    };
    let mut k = 0;
    if word(k).as_deref() != Some("create") {
        return None;
    }
    k += 1;
    while matches!(word(k).as_deref(), Some("temp" | "temporary")) {
        k += 1;
    }
    if word(k).as_deref() != Some("table") {
        return None;
    }
    let open = toks.iter().position(|t| &text[t.start..t.end] == "(")?;
    let mut out = text.to_string();
    let mut depth = 0i32;
    let mut item_start = open + 1;
    for j in open..toks.len() {
        let s = &text[toks[j].start..toks[j].end];
        match s {
            "(" => depth += 1,
            ")" => depth -= 1,
            _ => {}
        }
        let ends_item = (s == "," && depth == 1) || (s == ")" && depth == 0);
        if !ends_item {
            continue;
        }
        // name, then type words up to a constraint keyword, `(` or the end of the item
        let mut m = item_start + 1;
        let first_is_constraint = word(item_start).is_some_and(|w| {
            ["constraint", "primary", "unique", "check", "foreign"].contains(&w.as_str())
        });
        let mut type_words = Vec::new();
        while !first_is_constraint
            && m < j
            && toks[m].kind == lexer::TokKind::Word
            && !word(m).is_some_and(|w| CONSTRAINT.contains(&w.as_str()))
        {
            type_words.push(m);
            m += 1;
        }
        for w in type_words.windows(2) {
            let (a, b) = (toks[w[0]].end, toks[w[1]].start);
            if text[a..b].chars().all(|c| c == ' ' || c == '\t') {
                out.replace_range(a..b, &"_".repeat(b - a));
            }
        }
        item_start = j + 1;
        if depth == 0 {
            break;
        }
    }
    (out != text).then_some(out)
}

/// Records MySQL's `BINARY` attribute (blanked at file offset `at`) as the collation of the
/// column it belongs to: the last column definition starting before it.
fn mark_binary(ops: &mut [ir::Op], at: usize) {
    let mut best: Option<&mut ir::ColumnDef> = None;
    for op in ops.iter_mut() {
        let cols: Vec<&mut ir::ColumnDef> = match op {
            ir::Op::CreateTable { columns, .. } => columns.iter_mut().collect(),
            ir::Op::AlterTable { items, .. } => items
                .iter_mut()
                .filter_map(|i| match &mut i.action {
                    ir::AlterAction::AddColumn { column, .. }
                    | ir::AlterAction::ModifyColumn { column, .. } => Some(column),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        for c in cols {
            if c.span.start <= at && best.as_ref().is_none_or(|b| b.span.start < c.span.start) {
                best = Some(c);
            }
        }
    }
    if let Some(c) = best {
        c.collation = Some("binary".to_string());
    }
}

/// Parses `ALTER TABLE <name> <action>`: the statement `text` (at file offset `base`) with
/// everything but its prefix (up to `prefix_end`) and one action (`action`, both relative to
/// `text`) blanked out. Returns the action's items and any ALGORITHM / LOCK.
pub(crate) fn reparse_alter_action(
    text: &str,
    base: usize,
    prefix_end: usize,
    action: (usize, usize),
    dialect: Dialect,
) -> Option<(Vec<ir::AlterItem>, Option<String>, Option<String>)> {
    let blanked = blank_bytes(text, &[(0, prefix_end), action]);
    let (asts, text, fixed) = match parse_ast(&blanked, dialect) {
        Ok(asts) => (asts, blanked, None),
        Err(_) => {
            let fixed = equivalent_spelling(&blanked, dialect)?;
            let asts = parse_ast(&fixed.text, dialect).ok()?;
            (asts, fixed.text.clone(), Some(fixed))
        }
    };
    let [ast] = asts.as_slice() else {
        return None;
    };
    let map = lower::SpanMap::new(&text, base);
    let (_, mut ops) = lower::lower(ast, &map, dialect);
    if let Some(fixed) = &fixed {
        fixed.restore(&mut ops, base);
    }
    match ops.into_iter().next()? {
        ir::Op::AlterTable {
            items,
            algorithm,
            lock,
            ..
        } if !items.is_empty() || algorithm.is_some() || lock.is_some() => {
            Some((items, algorithm, lock))
        }
        _ => None,
    }
}

/// Parses the parts `keep` of a statement `text` (at file offset `base`) with the rest blanked
/// out: the kind and operations sqlparser finds in them, if it reads them as one statement.
pub(crate) fn reparse_part(
    text: &str,
    base: usize,
    keep: &[(usize, usize)],
    dialect: Dialect,
) -> Option<(String, Vec<ir::Op>)> {
    let blanked = blank_bytes(text, keep);
    let asts = parse_ast(&blanked, dialect).ok()?;
    let [ast] = asts.as_slice() else {
        return None;
    };
    Some(lower::lower(
        ast,
        &lower::SpanMap::new(&blanked, base),
        dialect,
    ))
}

/// `text` with every byte outside the `keep` ranges replaced: newlines stay, everything else
/// becomes a space (each byte of a multi-byte character too), so the result has the same byte
/// length and the kept parts sit at the same offsets.
pub(crate) fn blank_bytes(text: &str, keep: &[(usize, usize)]) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        if keep.iter().any(|&(a, b)| i >= a && i < b) || c == '\n' {
            out.push(c);
        } else {
            for _ in 0..c.len_utf8() {
                out.push(' ');
            }
        }
    }
    out
}

/// Whether sqlparser reads `text` as exactly one expression.
pub(crate) fn is_expr(text: &str, dialect: Dialect) -> bool {
    with_parser(text, dialect, |p| {
        p.parse_expr()?;
        p.expect_token(&sqlparser::tokenizer::Token::EOF)
    })
}

/// Whether sqlparser reads `text` as a comma-separated list of expressions.
pub(crate) fn is_expr_list(text: &str, dialect: Dialect) -> bool {
    with_parser(text, dialect, |p| {
        p.parse_comma_separated(|p| p.parse_expr())?;
        p.expect_token(&sqlparser::tokenizer::Token::EOF)
    })
}

/// Whether sqlparser reads `text` as exactly one data type.
pub(crate) fn is_type(text: &str, dialect: Dialect) -> bool {
    with_parser(text, dialect, |p| {
        p.parse_data_type()?;
        p.expect_token(&sqlparser::tokenizer::Token::EOF)
    })
}

fn with_parser<T>(
    text: &str,
    dialect: Dialect,
    f: impl FnOnce(&mut sqlparser::parser::Parser) -> Result<T, sqlparser::parser::ParserError>,
) -> bool {
    let d = dialect_impl(dialect);
    sqlparser::parser::Parser::new(d.as_ref())
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(text)
        .and_then(|mut p| f(&mut p))
        .is_ok()
}

/// sqlparser reports `at Line: L, Column: C` inside the statement text; rewrite it to the file's
/// line and column so the message points where the user looks.
fn file_relative_error(msg: &str, file: &str, span: Span) -> String {
    let msg = msg.strip_prefix("sql parser error: ").unwrap_or(msg);
    let Some(at) = msg.rfind(" at Line: ") else {
        return msg.to_string();
    };
    let tail = &msg[at + 10..];
    let mut nums = tail.split(", Column: ");
    let line: Option<usize> = nums.next().and_then(|l| l.trim().parse().ok());
    let col: Option<usize> = nums.next().and_then(|c| c.trim().parse().ok());
    let (Some(line), Some(col)) = (line, col) else {
        return msg.to_string();
    };
    let before = &file[..span.start];
    let stmt_line = before.matches('\n').count() + 1;
    let stmt_col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let (fl, fc) = if line <= 1 {
        (stmt_line, stmt_col + col - 1)
    } else {
        (stmt_line + line - 1, col)
    };
    format!("{} at line {fl}, column {fc}", &msg[..at])
}

fn dialect_impl(dialect: Dialect) -> Box<dyn sqlparser::dialect::Dialect> {
    match dialect {
        Dialect::Postgres => Box::new(sqlparser::dialect::PostgreSqlDialect {}),
        Dialect::Mysql => Box::new(sqlparser::dialect::MySqlDialect {}),
        Dialect::Sqlite => Box::new(sqlparser::dialect::SQLiteDialect {}),
    }
}

fn parse_ast(sql: &str, dialect: Dialect) -> Result<Vec<sqlparser::ast::Statement>, String> {
    let d = dialect_impl(dialect);
    sqlparser::parser::Parser::new(d.as_ref())
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| e.to_string())
}

/// Every statement of a section: the top-level ones, each followed by the statements found in
/// its body (DO blocks, routines, triggers) and by the statements its dynamic SQL runs (MySQL
/// `EXECUTE` of a statement prepared from a string). Indexes are positions in the result.
pub fn statements(text: &str, range: Range<usize>, dialect: Dialect) -> Vec<Statement> {
    let top = parse_section(text, range, dialect);
    let mut session = if dialect == Dialect::Mysql {
        Some(dynamic_session::Session::default())
    } else {
        None
    };
    let extra: Vec<Vec<Statement>> = top
        .iter()
        .map(|s| {
            let mut nested = Vec::new();
            for (body, lang) in routine_bodies(text, s, dialect) {
                nested.extend(procedural::body_statements(text, body, lang, dialect, 0));
            }
            if let Some(sess) = session.as_mut() {
                nested.extend(sess.observe(text, s, dialect));
            }
            nested
        })
        .collect();
    if extra.iter().all(Vec::is_empty) {
        return top;
    }
    let mut out = Vec::with_capacity(top.len() + extra.iter().map(Vec::len).sum::<usize>());
    for (stmt, nested) in top.into_iter().zip(extra) {
        let parent = out.len();
        out.push(stmt);
        for mut s in nested {
            s.nested_in = Some(parent);
            out.push(s);
        }
    }
    for (i, s) in out.iter_mut().enumerate() {
        s.index = i;
    }
    out
}

/// A statement nothing understood, at `file[span]`.
pub(crate) fn unknown_statement(file: &str, span: Span) -> Statement {
    Statement {
        index: 0,
        span,
        sql: file[span.start..span.end].to_string(),
        parser: How::None,
        parse_error: None,
        kind: "unknown".to_string(),
        ops: Vec::new(),
        nested_in: None,
        dynamic: None,
    }
}

/// Parses a statement whose text is not in the file (dynamic SQL): every span of the result
/// points at `at`, the statement that runs it.
pub(crate) fn parse_detached(text: &str, at: Span, dialect: Dialect) -> Statement {
    let mut stmt = unknown_statement(text, Span::new(0, text.len()));
    stmt.span = at;
    let parsed = parse_ast(text, dialect).map_err(|e| {
        let e = e
            .strip_prefix("sql parser error: ")
            .unwrap_or(&e)
            .to_string();
        match e.rfind(" at Line: ") {
            Some(k) => e[..k].to_string(),
            None => e,
        }
    });
    match parsed {
        Ok(asts) if !asts.is_empty() => {
            let map = lower::SpanMap::fixed(text, at);
            let mut kind = None;
            for ast in &asts {
                let (k, ops) = lower::lower(ast, &map, dialect);
                kind.get_or_insert(k);
                stmt.ops.extend(ops);
            }
            stmt.kind = kind.unwrap_or_else(|| "unknown".to_string());
            stmt.parser = How::Sqlparser;
        }
        Ok(_) => stmt.parse_error = Some("no statement found".to_string()),
        Err(msg) => {
            if let Some((kind, mut ops)) = fallback::classify(text, 0, dialect) {
                respan(&mut ops, at);
                stmt.kind = kind;
                stmt.ops = ops;
                stmt.parser = How::Fallback;
            } else {
                stmt.parse_error = Some(format!("{msg} (in the dynamic SQL text)"));
            }
        }
    }
    stmt
}

/// A dynamic SQL text ready to parse: template placeholders in it (written inside the string
/// literal that builds it) replaced by neutral names, which the description then mentions.
pub(crate) fn dynamic_text(sql: &str, how: &str, dialect: Dialect) -> (String, String) {
    match template::substitute(sql, 0..sql.len(), dialect, &Default::default()) {
        Some(s) => {
            let names: Vec<String> = s.placeholders.iter().map(|p| p.text.clone()).collect();
            (
                s.text,
                format!("{how}; template placeholders {} replaced", names.join(", ")),
            )
        }
        None => (sql.to_string(), how.to_string()),
    }
}

/// Points every span inside `ops` at `at`.
fn respan(ops: &mut [ir::Op], at: Span) {
    for op in ops {
        match op {
            ir::Op::AlterTable { items, .. } => {
                for item in items {
                    item.span = at;
                    match &mut item.action {
                        ir::AlterAction::AddColumn { column, .. }
                        | ir::AlterAction::ModifyColumn { column, .. } => column.span = at,
                        ir::AlterAction::AddConstraint(c) => c.span = at,
                        _ => {}
                    }
                }
            }
            ir::Op::CreateTable {
                columns,
                constraints,
                ..
            } => {
                for c in columns {
                    c.span = at;
                }
                for c in constraints {
                    c.span = at;
                }
            }
            _ => {}
        }
    }
}

/// Parses `text` as exactly one expression.
pub(crate) fn parse_expr(text: &str, dialect: Dialect) -> Option<sqlparser::ast::Expr> {
    let d = dialect_impl(dialect);
    let mut p = sqlparser::parser::Parser::new(d.as_ref())
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(text)
        .ok()?;
    let e = p.parse_expr().ok()?;
    p.expect_token(&sqlparser::tokenizer::Token::EOF).ok()?;
    Some(e)
}

/// MySQL dynamic SQL at the top level of a file: `SET @s = …; PREPARE stmt FROM @s; EXECUTE
/// stmt;` (the session's user variables and prepared statements, followed statement by
/// statement).
mod dynamic_session {
    use super::dynamic::{self, Env, Text};
    use super::ir::{Op, Parser as How, Statement};
    use super::{Dialect, fallback, parse_detached};
    use std::collections::HashMap;

    #[derive(Default)]
    pub struct Session {
        vars: Env,
        prepared: HashMap<String, Option<Vec<Text>>>,
    }

    impl Session {
        /// Follows a top-level statement; returns the statements it runs dynamically.
        pub fn observe(&mut self, file: &str, s: &Statement, dialect: Dialect) -> Vec<Statement> {
            let toks = fallback::tokens(file, s.span.start, s.span.end, dialect);
            let word = |i: usize| toks.get(i).map(|t| t.norm.as_str()).unwrap_or("");
            match word(0) {
                "set" if s.parser == How::Sqlparser => {
                    self.set(file, s, dialect);
                    Vec::new()
                }
                "prepare" if word(2) == "from" => {
                    let name = word(1).to_string();
                    let src_start = toks.get(3).map_or(s.span.end, |t| t.start);
                    let src = &file[src_start..s.span.end];
                    let key: String = src
                        .split_whitespace()
                        .collect::<String>()
                        .to_ascii_lowercase();
                    let value = match self.vars.get(&key) {
                        Some(v) => Some(v.clone()),
                        None => dynamic::eval_text(src, &self.vars, dialect),
                    };
                    self.prepared.insert(name, value);
                    Vec::new()
                }
                "execute" if toks.len() >= 2 => {
                    let name = word(1).to_string();
                    let line = file[..s.span.start].matches('\n').count() + 1;
                    let how = format!(
                        "EXECUTE {name} of a statement prepared from a string, line {line}"
                    );
                    match self.prepared.get(&name) {
                        Some(Some(texts)) => emit(texts, s, &how, dialect),
                        _ => {
                            let mut u = super::unknown_statement(file, s.span);
                            u.kind = "dynamic_sql".to_string();
                            u.parse_error = Some(format!(
                                "dynamic SQL: the text of prepared statement `{name}` cannot be known statically"
                            ));
                            vec![u]
                        }
                    }
                }
                _ => Vec::new(),
            }
        }

        /// `SET @v = expr[, …]`: the values of user variables.
        fn set(&mut self, file: &str, s: &Statement, dialect: Dialect) {
            for op in &s.ops {
                let Op::Set { name, .. } = op else { continue };
                if !name.starts_with('@') {
                    continue;
                }
                // the expression as written: after `name =` (or `:=`) up to the next assignment
                let text = &file[s.span.start..s.span.end];
                let lower = text.to_ascii_lowercase();
                let Some(at) = lower.find(name.as_str()) else {
                    continue;
                };
                let rest = &text[at + name.len()..];
                let rest = rest.trim_start();
                let rest = rest
                    .strip_prefix(":=")
                    .or_else(|| rest.strip_prefix('='))
                    .unwrap_or("");
                match dynamic::eval_text(rest.trim(), &self.vars, dialect) {
                    Some(v) if v.iter().all(|t| t.known > 0) => {
                        self.vars.insert(name.clone(), v);
                    }
                    _ => {
                        self.vars.remove(name);
                    }
                }
            }
        }
    }

    fn emit(texts: &[Text], at: &Statement, how: &str, dialect: Dialect) -> Vec<Statement> {
        let n = texts.len();
        let mut out = Vec::new();
        for (k, t) in texts.iter().enumerate() {
            let how = if n > 1 {
                format!("{how}, branch {} of {n}", k + 1)
            } else {
                how.to_string()
            };
            let (sql, how) = super::dynamic_text(&t.sql, &how, dialect);
            for part in super::split::split(&sql, 0..sql.len(), dialect) {
                let text = &sql[part.span.start..part.span.end];
                let mut s = parse_detached(text, at.span, dialect);
                s.dynamic = Some(how.clone());
                if s.parser == How::None {
                    s.kind = "dynamic_sql".to_string();
                }
                out.push(s);
            }
        }
        out
    }
}

/// The bodies migsafe looks into and how each is written: the dollar-quoted (or quoted) text of
/// PostgreSQL `DO` blocks and SQL/PL/pgSQL `CREATE FUNCTION/PROCEDURE`; the `BEGIN … END` (or
/// single-statement) body of MySQL routines and MySQL/SQLite triggers. Spans are file offsets.
pub fn routine_bodies(
    file: &str,
    stmt: &Statement,
    dialect: Dialect,
) -> Vec<(Span, procedural::Lang)> {
    use procedural::Lang;
    if stmt.parser == How::None {
        return Vec::new();
    }
    let is_routine = matches!(
        stmt.kind.as_str(),
        "create_function" | "create_procedure" | "create_trigger"
    );
    let is_do = stmt.ops.iter().any(|op| matches!(op, ir::Op::Do { .. }));
    if dialect != Dialect::Postgres {
        if !is_routine {
            return Vec::new();
        }
        let text = &file[stmt.span.start..stmt.span.end];
        return fallback::routine_body_start(text, dialect)
            .map(|at| {
                (
                    Span::new(stmt.span.start + at, stmt.span.end),
                    Lang::Compound,
                )
            })
            .into_iter()
            .collect();
    }
    if !(is_do || (is_routine && stmt.kind != "create_trigger")) {
        return Vec::new();
    }
    let lang = stmt
        .ops
        .iter()
        .find_map(|op| match op {
            ir::Op::CreateRoutine { language, .. } => language.clone(),
            _ => None,
        })
        .or_else(|| do_language(file, stmt));
    let lang = match lang.as_deref() {
        None | Some("plpgsql") if is_do => Lang::Plpgsql,
        Some("plpgsql") => Lang::Plpgsql,
        Some("sql") => Lang::Sql,
        None => Lang::Sql,
        // bodies in other languages (plpython, c, …) are not SQL
        Some(_) => return Vec::new(),
    };
    let toks: Vec<lexer::Token> = lexer::Lexer::new(file, stmt.span.start, stmt.span.end, dialect)
        .filter(|t| !t.is_trivia())
        .collect();
    toks.iter()
        .enumerate()
        // the body, not the language name of `DO LANGUAGE 'plpgsql' $$ … $$`
        .filter(|(k, t)| {
            t.kind == lexer::TokKind::Str && !(*k > 0 && toks[k - 1].is_word(file, "language"))
        })
        .map(|(_, t)| *t)
        .filter_map(|t| {
            let text = &file[t.start..t.end];
            if let Some(rest) = text.strip_prefix('$') {
                let tag_len = rest.find('$')? + 2;
                (text.len() >= 2 * tag_len)
                    .then(|| (Span::new(t.start + tag_len, t.end - tag_len), lang))
            } else if text.starts_with('\'') && !text[1..text.len() - 1].contains('\'') {
                // a single-quoted body without doubled quotes reads the same unquoted
                (text.len() >= 2).then(|| (Span::new(t.start + 1, t.end - 1), lang))
            } else {
                None
            }
        })
        .take(1)
        .collect()
}

/// `DO LANGUAGE x '…'` / `DO '…' LANGUAGE x`.
fn do_language(file: &str, stmt: &Statement) -> Option<String> {
    let toks = fallback::tokens(file, stmt.span.start, stmt.span.end, Dialect::Postgres);
    let at = toks.iter().position(|t| t.norm == "language")?;
    toks.get(at + 1)
        .map(|t| t.norm.trim_matches('\'').to_ascii_lowercase())
}
