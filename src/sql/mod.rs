//! The only sqlparser boundary: dialects, statement splitting, parsing, lowering to migsafe's
//! statement model ([`ir`]) and the token-level fallback for what sqlparser rejects.

pub mod fallback;
pub mod ir;
pub mod lexer;
mod lower;
pub mod split;
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
    let sql = &file[span.start..span.end];
    let mut stmt = Statement {
        index,
        span,
        sql: sql.to_string(),
        parser: How::None,
        parse_error: None,
        kind: "unknown".to_string(),
        ops: Vec::new(),
        nested_in: None,
    };
    if let Some(msg) = template_placeholder(file, span, dialect) {
        stmt.parse_error = Some(msg);
        stmt.kind = "template".to_string();
        return stmt;
    }
    match parse_ast(sql, dialect) {
        Ok(asts) if !asts.is_empty() => {
            let map = lower::SpanMap::new(sql, span.start);
            let mut kind = None;
            for ast in &asts {
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
        Ok(_) => {
            stmt.parse_error = Some("no statement found".to_string());
        }
        Err(msg) => {
            stmt.parse_error = Some(file_relative_error(&msg, file, span));
            if let Some((kind, ops)) = fallback::classify(file, span, dialect) {
                stmt.kind = kind;
                stmt.ops = ops;
                stmt.parser = How::Fallback;
            }
        }
    }
    stmt
}

/// Go/Jinja (`{{ … }}`) or shell/Java (`{$…}`, `${…}`) template placeholders outside strings: the
/// statement's meaning depends on what gets substituted, so it is left unknown.
fn template_placeholder(file: &str, span: Span, dialect: Dialect) -> Option<String> {
    let toks: Vec<lexer::Token> = lexer::Lexer::new(file, span.start, span.end, dialect)
        .filter(|t| !t.is_trivia())
        .collect();
    toks.windows(2).find_map(|w| {
        let (a, b) = (w[0].text(file), w[1].text(file));
        let adjacent = w[0].end == w[1].start;
        let hit = adjacent && ((a == "{" && (b == "{" || b.starts_with('$'))) || (a == "$" && b == "{"));
        hit.then(|| {
            let line = file[..w[0].start].matches('\n').count() + 1;
            format!("template placeholder `{a}{b}…` at line {line}: render the template first (migsafe checks plain SQL)")
        })
    })
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

/// Parses the statements inside a `DO` block or an SQL/PL/pgSQL routine body. Only plain SQL
/// statements are returned; PL/pgSQL control flow is skipped, and `EXECUTE` of a dynamic string
/// is returned as an unknown statement (dynamic SQL cannot be judged statically).
pub fn parse_body(file: &str, body: Span, dialect: Dialect, parent: usize) -> Vec<Statement> {
    let mut out: Vec<Statement> = Vec::new();
    for raw in split::split(file, body.start..body.end, dialect) {
        let span = strip_plpgsql_prefix(file, raw.span);
        if span.is_empty() {
            continue;
        }
        let head = first_word(&file[span.start..span.end]);
        let plpgsql_only = matches!(
            head.as_str(),
            "begin"
                | "end"
                | "declare"
                | "if"
                | "elsif"
                | "else"
                | "loop"
                | "for"
                | "foreach"
                | "while"
                | "return"
                | "raise"
                | "perform"
                | "exit"
                | "continue"
                | "get"
                | "open"
                | "fetch"
                | "close"
                | "assert"
                | "null"
                | "exception"
                | "when"
                | "call"
                | "commit"
                | "rollback"
        );
        if plpgsql_only || is_plpgsql_assignment(&file[span.start..span.end]) {
            continue;
        }
        let mut s = parse_statement(file, span, dialect, out.len());
        if head == "execute" {
            s.parser = How::None;
            s.kind = "dynamic_sql".to_string();
            s.ops.clear();
            s.parse_error =
                Some("dynamic SQL (EXECUTE of a string) cannot be checked statically".to_string());
        }
        s.nested_in = Some(parent);
        out.push(s);
    }
    out
}

/// `NEW.updated_at = now()`, `total := total + 1`, `arr[1] := x`: PL/pgSQL assignments, which
/// are not SQL statements (no SQL statement starts with an identifier followed by `=` or `:=`).
fn is_plpgsql_assignment(s: &str) -> bool {
    let t = s.trim_start();
    let ident_end = t
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '"' | '[' | ']' | '$')))
        .map_or(t.len(), |(i, _)| i);
    if ident_end == 0 {
        return false;
    }
    let rest = t[ident_end..].trim_start();
    rest.starts_with(":=") || (rest.starts_with('=') && !rest.starts_with("=>"))
}

fn first_word(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Inside PL/pgSQL, control keywords precede a statement without a `;` (`BEGIN ALTER …`,
/// `IF x THEN DROP …`, `LOOP …`); move the start past them so the SQL statement itself is parsed.
fn strip_plpgsql_prefix(file: &str, span: Span) -> Span {
    let mut start = span.start;
    // bounded: each round consumes at least one word
    for _ in 0..64 {
        let rest = &file[start..span.end];
        let trimmed = rest.trim_start();
        let ws = rest.len() - trimmed.len();
        if trimmed.starts_with("--") {
            match trimmed.find('\n') {
                Some(nl) => {
                    start += ws + nl + 1;
                    continue;
                }
                None => return Span::new(span.end, span.end),
            }
        }
        let w = first_word(trimmed);
        let skip = match w.as_str() {
            "begin" | "else" | "loop" | "exception" => Some(w.len()),
            "if" | "elsif" | "when" => word_end(trimmed, "then"),
            "for" | "foreach" | "while" => word_end(trimmed, "loop"),
            _ => None,
        };
        match skip {
            Some(n) if n < trimmed.len() => start += ws + n,
            Some(_) => return Span::new(span.end, span.end),
            None => return Span::new(start + ws, span.end),
        }
    }
    Span::new(start, span.end)
}

/// Byte offset just past the first whole-word, case-insensitive occurrence of `word` in `s`.
fn word_end(s: &str, word: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut from = 0;
    while let Some(i) = lower[from..].find(word) {
        let at = from + i;
        let end = at + word.len();
        let before_ok =
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        let after_ok =
            end >= bytes.len() || !(bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_');
        if before_ok && after_ok {
            return Some(end);
        }
        from = end;
    }
    None
}

/// The bodies migsafe looks into: the dollar-quoted text of `DO` blocks and of SQL/PL/pgSQL
/// `CREATE FUNCTION/PROCEDURE` statements (PostgreSQL), as file spans without the quotes.
pub fn routine_bodies(file: &str, stmt: &Statement, dialect: Dialect) -> Vec<Span> {
    if dialect != Dialect::Postgres {
        return Vec::new();
    }
    let head = first_word(&stmt.sql);
    let is_routine = stmt.kind == "create_function" || stmt.kind == "create_procedure";
    if head != "do" && !is_routine {
        return Vec::new();
    }
    if is_routine {
        let lang = stmt.ops.iter().find_map(|op| match op {
            ir::Op::CreateRoutine { language, .. } => language.clone(),
            _ => None,
        });
        // bodies in other languages (plpython, c, …) are not SQL
        if lang
            .as_deref()
            .is_some_and(|l| !matches!(l, "sql" | "plpgsql"))
        {
            return Vec::new();
        }
    }
    lexer::Lexer::new(file, stmt.span.start, stmt.span.end, dialect)
        .filter(|t| t.kind == lexer::TokKind::Str && file[t.start..t.end].starts_with('$'))
        .filter_map(|t| {
            let text = &file[t.start..t.end];
            let tag_len = text[1..].find('$')? + 2;
            (text.len() >= 2 * tag_len).then(|| Span::new(t.start + tag_len, t.end - tag_len))
        })
        .collect()
}
