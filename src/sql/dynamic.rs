//! Dynamic SQL whose text can be known statically: the string expressions given to PL/pgSQL
//! `EXECUTE` and to MySQL `PREPARE … FROM`, evaluated to the statement texts they can produce.
//!
//! Literals, `||` and `concat()`, `format()` (`%I`, `%L`, `%s`), `quote_ident()` /
//! `quote_literal()`, variables assigned a known text, and MySQL `IF(…)` / `CASE` (every branch
//! is a candidate) are evaluated. A value migsafe cannot know (a loop variable, a column read
//! from the catalog) stands for a name or a literal: it becomes a neutral identifier (or literal,
//! after `%L`/`quote_literal`), so `format('DROP TABLE %I', r.tablename)` is judged as
//! `DROP TABLE dynamic_name`. A text made only of unknown values stays unknown.

use super::Dialect;
use sqlparser::ast as a;
use std::collections::HashMap;

/// Neutral stand-ins for values whose text is unknown.
pub const UNKNOWN_NAME: &str = "dynamic_name";
pub const UNKNOWN_LITERAL: &str = "'dynamic_value'";

/// At most this many candidate texts per expression (IF/CASE branches multiply).
const MAX_CANDIDATES: usize = 16;

/// One possible text of an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub sql: String,
    /// Bytes of `sql` that came from literals (not from stand-ins): 0 means nothing is known.
    pub known: usize,
    /// Some part was a stand-in for an unknown value.
    pub partial: bool,
}

impl Text {
    fn lit(s: &str) -> Text {
        Text {
            sql: s.to_string(),
            known: s.len(),
            partial: false,
        }
    }
    fn unknown(standin: &str) -> Text {
        Text {
            sql: standin.to_string(),
            known: 0,
            partial: true,
        }
    }
    fn join(&self, other: &Text) -> Text {
        Text {
            sql: format!("{}{}", self.sql, other.sql),
            known: self.known + other.known,
            partial: self.partial || other.partial,
        }
    }
}

/// Variables with known texts (PL/pgSQL variables, MySQL `@user` variables), lower case.
pub type Env = HashMap<String, Vec<Text>>;

/// What an expression evaluates to, or `None` when migsafe cannot tell.
pub fn eval(expr: &a::Expr, env: &Env, dialect: Dialect) -> Option<Vec<Text>> {
    let out = eval_inner(expr, env, dialect, 0)?;
    (!out.is_empty()).then_some(out)
}

/// Parses `text` as one expression and evaluates it.
pub fn eval_text(text: &str, env: &Env, dialect: Dialect) -> Option<Vec<Text>> {
    let expr = super::parse_expr(text, dialect)?;
    eval(&expr, env, dialect)
}

fn product(parts: Vec<Vec<Text>>) -> Option<Vec<Text>> {
    let mut acc = vec![Text::lit("")];
    for part in parts {
        let mut next = Vec::new();
        for a in &acc {
            for b in &part {
                next.push(a.join(b));
                if next.len() > MAX_CANDIDATES {
                    return None;
                }
            }
        }
        acc = next;
    }
    Some(acc)
}

fn string_value(v: &a::Value) -> Option<String> {
    match v {
        a::Value::SingleQuotedString(s)
        | a::Value::EscapedStringLiteral(s)
        | a::Value::UnicodeStringLiteral(s)
        | a::Value::DoubleQuotedString(s) => Some(s.clone()),
        a::Value::DollarQuotedString(d) => Some(d.value.clone()),
        a::Value::Number(n, _) => Some(n.to_string()),
        a::Value::Null => Some(String::new()),
        _ => None,
    }
}

fn func_args(f: &a::Function) -> Option<Vec<&a::Expr>> {
    match &f.args {
        a::FunctionArguments::List(l) => l
            .args
            .iter()
            .map(|arg| match arg {
                a::FunctionArg::Unnamed(a::FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect(),
        a::FunctionArguments::None => Some(Vec::new()),
        a::FunctionArguments::Subquery(_) => None,
    }
}

fn quote_ident(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        s.to_string()
    } else {
        super::quote::double_quoted(s)
    }
}

fn quote_literal(s: &str) -> String {
    super::quote::standard_literal(s)
}

/// Applies `f` to every candidate of `e` (unknown → `unknown`).
fn map_arg(
    e: &a::Expr,
    env: &Env,
    dialect: Dialect,
    depth: usize,
    f: impl Fn(&str) -> String,
    unknown: &str,
) -> Option<Vec<Text>> {
    Some(match eval_inner(e, env, dialect, depth + 1) {
        Some(vals) => vals
            .into_iter()
            .map(|t| {
                if t.known == 0 {
                    Text::unknown(unknown)
                } else {
                    let sql = f(&t.sql);
                    Text {
                        known: sql.len(),
                        sql,
                        partial: t.partial,
                    }
                }
            })
            .collect(),
        None => vec![Text::unknown(unknown)],
    })
}

fn eval_inner(e: &a::Expr, env: &Env, dialect: Dialect, depth: usize) -> Option<Vec<Text>> {
    if depth > 32 {
        return None;
    }
    let next = depth + 1;
    match e {
        a::Expr::Value(v) => Some(vec![Text::lit(&string_value(&v.value)?)]),
        a::Expr::Nested(inner) => eval_inner(inner, env, dialect, next),
        a::Expr::Cast { expr, .. } => eval_inner(expr, env, dialect, next),
        a::Expr::Identifier(i) => {
            let key = i.value.to_ascii_lowercase();
            env.get(&key).cloned()
        }
        a::Expr::CompoundIdentifier(_) => None,
        a::Expr::BinaryOp {
            left,
            op: a::BinaryOperator::StringConcat,
            right,
        } => product(vec![
            eval_part(left, env, dialect, next),
            eval_part(right, env, dialect, next),
        ]),
        a::Expr::Function(f) => {
            let name = f.name.to_string().to_ascii_lowercase();
            let name = name.rsplit('.').next().unwrap_or(&name).to_string();
            let args = func_args(f)?;
            match (name.as_str(), args.as_slice()) {
                ("concat", _) => product(
                    args.iter()
                        .map(|x| eval_part(x, env, dialect, next))
                        .collect(),
                ),
                ("concat_ws", [sep, rest @ ..]) => {
                    let sep = eval_inner(sep, env, dialect, next)?;
                    let mut parts = Vec::new();
                    for (k, x) in rest.iter().enumerate() {
                        if k > 0 {
                            parts.push(sep.clone());
                        }
                        parts.push(eval_part(x, env, dialect, next));
                    }
                    product(parts)
                }
                ("quote_ident", [x]) => map_arg(x, env, dialect, depth, quote_ident, UNKNOWN_NAME),
                ("quote_literal" | "quote_nullable", [x]) => {
                    map_arg(x, env, dialect, depth, quote_literal, UNKNOWN_LITERAL)
                }
                ("format", [fmt, rest @ ..]) => format(fmt, rest, env, dialect, next),
                ("if", [_, yes, no]) if dialect == Dialect::Mysql => {
                    let mut out = eval_inner(yes, env, dialect, next)?;
                    out.extend(eval_inner(no, env, dialect, next)?);
                    (out.len() <= MAX_CANDIDATES).then_some(out)
                }
                ("coalesce" | "ifnull", _) => {
                    let mut out = Vec::new();
                    for x in &args {
                        out.extend(eval_inner(x, env, dialect, next)?);
                    }
                    (out.len() <= MAX_CANDIDATES).then_some(out)
                }
                _ => None,
            }
        }
        a::Expr::Case {
            conditions,
            else_result,
            ..
        } => {
            let mut out = Vec::new();
            for c in conditions {
                out.extend(eval_inner(&c.result, env, dialect, next)?);
            }
            if let Some(e) = else_result {
                out.extend(eval_inner(e, env, dialect, next)?);
            }
            (!out.is_empty() && out.len() <= MAX_CANDIDATES).then_some(out)
        }
        // MySQL `(SELECT IF(…))`, `(SELECT IF(…) FROM information_schema…)`: the one projected
        // value (the query only decides which branch)
        a::Expr::Subquery(q) => match q.body.as_ref() {
            a::SetExpr::Select(s) if s.projection.len() == 1 => match &s.projection[0] {
                a::SelectItem::UnnamedExpr(x) | a::SelectItem::ExprWithAlias { expr: x, .. } => {
                    eval_inner(x, env, dialect, next)
                }
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// A part of a concatenation: unknown values stand in as a neutral name.
fn eval_part(e: &a::Expr, env: &Env, dialect: Dialect, depth: usize) -> Vec<Text> {
    eval_inner(e, env, dialect, depth).unwrap_or_else(|| vec![Text::unknown(UNKNOWN_NAME)])
}

/// PostgreSQL `format(fmt, args…)`: `%s`, `%I`, `%L`, `%%`, with optional `n$` positions.
fn format(
    fmt: &a::Expr,
    args: &[&a::Expr],
    env: &Env,
    dialect: Dialect,
    depth: usize,
) -> Option<Vec<Text>> {
    let fmts = eval_inner(fmt, env, dialect, depth)?;
    let mut out = Vec::new();
    for f in fmts {
        if f.partial {
            return None;
        }
        let mut parts: Vec<Vec<Text>> = Vec::new();
        let mut lit = String::new();
        let mut next_arg = 0usize;
        let mut chars = f.sql.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                lit.push(c);
                continue;
            }
            // %[n$]type
            let mut num = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                num.push(d);
                chars.next();
            }
            let pos = if !num.is_empty() && chars.peek() == Some(&'$') {
                chars.next();
                num.parse::<usize>().ok()?.checked_sub(1)?
            } else if num.is_empty() {
                let p = next_arg;
                next_arg += 1;
                p
            } else {
                return None;
            };
            let ty = chars.next()?;
            if ty == '%' {
                lit.push('%');
                continue;
            }
            parts.push(vec![Text::lit(&std::mem::take(&mut lit))]);
            let arg = args.get(pos)?;
            let part = match ty {
                'I' => map_arg(arg, env, dialect, depth, quote_ident, UNKNOWN_NAME)?,
                'L' => map_arg(arg, env, dialect, depth, quote_literal, UNKNOWN_LITERAL)?,
                's' => eval_part(arg, env, dialect, depth),
                _ => return None,
            };
            parts.push(part);
        }
        parts.push(vec![Text::lit(&lit)]);
        out.extend(product(parts)?);
        if out.len() > MAX_CANDIDATES {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(expr: &str, env: &Env, d: Dialect) -> Vec<String> {
        eval_text(expr, env, d)
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.sql)
            .collect()
    }

    #[test]
    fn literals_concatenation_and_format() {
        let env = Env::new();
        let pg = Dialect::Postgres;
        assert_eq!(texts("'DROP TABLE t'", &env, pg), ["DROP TABLE t"]);
        assert_eq!(
            texts(
                "'ALTER TABLE ' || quote_ident(t) || ' DROP COLUMN x'",
                &env,
                pg
            ),
            ["ALTER TABLE dynamic_name DROP COLUMN x"]
        );
        assert_eq!(
            texts(
                "format('ALTER TABLE %I DROP COLUMN %I', 'Users', col)",
                &env,
                pg
            ),
            ["ALTER TABLE \"Users\" DROP COLUMN dynamic_name"]
        );
        assert_eq!(
            texts(
                "format('UPDATE t SET a = %L WHERE %s', v, 'id = 1')",
                &env,
                pg
            ),
            ["UPDATE t SET a = 'dynamic_value' WHERE id = 1"]
        );
        assert!(eval_text("some_function()", &env, pg).is_none());
        let t = eval_text("t_name", &env, pg);
        assert!(t.is_none(), "{t:?}");
    }

    #[test]
    fn mysql_if_and_variables_give_every_branch() {
        let mut env = Env::new();
        env.insert("@tbl".to_string(), vec![Text::lit("orders")]);
        let my = Dialect::Mysql;
        let got = texts(
            "(SELECT IF(COUNT(*) > 0, 'SELECT 1', CONCAT('ALTER TABLE ', @tbl, ' ADD COLUMN c int')) FROM information_schema.columns WHERE table_name = 'orders')",
            &env,
            my,
        );
        assert_eq!(got, ["SELECT 1", "ALTER TABLE orders ADD COLUMN c int"]);
    }
}
