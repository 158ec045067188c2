//! Quoting names and strings in the SQL migsafe itself sends to a database: the one place that
//! knows each dialect's quote characters and escapes.

use super::Dialect;

/// An identifier, always quoted: `"x"` (PostgreSQL, SQLite) or `` `x` `` (MySQL), the quote
/// character doubled inside.
pub fn ident(dialect: Dialect, s: &str) -> String {
    match dialect {
        Dialect::Mysql => format!("`{}`", s.replace('`', "``")),
        Dialect::Postgres | Dialect::Sqlite => format!("\"{}\"", s.replace('"', "\"\"")),
    }
}

/// A string literal: `'…'` with `'` doubled; MySQL also doubles backslashes, which it reads as
/// escapes unless NO_BACKSLASH_ESCAPES is set (doubled, they mean a backslash either way).
pub fn literal(dialect: Dialect, s: &str) -> String {
    match dialect {
        Dialect::Mysql => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''")),
        Dialect::Postgres | Dialect::Sqlite => format!("'{}'", s.replace('\'', "''")),
    }
}

/// `"x"` with `"` doubled: PostgreSQL's and SQLite's [`ident`].
pub fn double_quoted(s: &str) -> String {
    ident(Dialect::Postgres, s)
}

/// `` `x` `` with `` ` `` doubled: MySQL's [`ident`].
pub fn backquoted(s: &str) -> String {
    ident(Dialect::Mysql, s)
}

/// `'x'` with `'` doubled: PostgreSQL's and SQLite's [`literal`].
pub fn standard_literal(s: &str) -> String {
    literal(Dialect::Postgres, s)
}

/// MySQL's [`literal`].
pub fn mysql_literal(s: &str) -> String {
    literal(Dialect::Mysql, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_backslashes_are_doubled_per_dialect() {
        assert_eq!(double_quoted(r#"a"b"#), r#""a""b""#);
        assert_eq!(backquoted("a`b"), "`a``b`");
        assert_eq!(standard_literal(r"it's \n"), r"'it''s \n'");
        assert_eq!(mysql_literal(r"it's \n"), r"'it''s \\n'");
        assert_eq!(ident(Dialect::Sqlite, "x"), "\"x\"");
    }
}
