//! An error-tolerant SQL lexer: just enough to split files into statements and to let the
//! fallback read leading keywords. Unterminated strings, comments and dollar quotes run to the
//! end of the input instead of failing, so one broken statement never hides the others.

use super::Dialect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokKind {
    /// Unquoted identifier or keyword.
    Word,
    /// `"x"`, `` `x` ``, `[x]`.
    QuotedIdent,
    /// `'…'`, `E'…'`, `$tag$…$tag$`.
    Str,
    Number,
    /// Single punctuation character (or an operator character).
    Punct,
    LineComment,
    BlockComment,
    /// A string, comment or dollar quote that reached the end of input unclosed.
    Unterminated,
}

#[derive(Debug, Clone, Copy)]
pub struct Token {
    pub kind: TokKind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.start..self.end]
    }
    pub fn is_trivia(&self) -> bool {
        matches!(self.kind, TokKind::LineComment | TokKind::BlockComment)
    }
    /// Case-insensitive keyword comparison for `Word` tokens.
    pub fn is_word(&self, src: &str, kw: &str) -> bool {
        self.kind == TokKind::Word && self.text(src).eq_ignore_ascii_case(kw)
    }
}

#[derive(Clone)]
pub struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    end: usize,
    dialect: Dialect,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str, start: usize, end: usize, dialect: Dialect) -> Self {
        Lexer {
            src,
            bytes: src.as_bytes(),
            pos: start,
            end: end.min(src.len()),
            dialect,
        }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    /// Moves to `pos` (used by the splitter after a `DELIMITER` line it handled itself).
    pub fn seek(&mut self, pos: usize) {
        self.pos = pos.min(self.end);
    }

    fn peek(&self, off: usize) -> Option<u8> {
        let i = self.pos + off;
        if i < self.end {
            Some(self.bytes[i])
        } else {
            None
        }
    }

    /// Advances past the UTF-8 character at `pos`.
    fn bump_char(&mut self) {
        let mut i = self.pos + 1;
        while i < self.end && !self.src.is_char_boundary(i) {
            i += 1;
        }
        self.pos = i;
    }

    fn tok(&self, kind: TokKind, start: usize) -> Option<Token> {
        Some(Token {
            kind,
            start,
            end: self.pos,
        })
    }

    fn quoted(&mut self, start: usize, close: u8, backslash: bool, kind: TokKind) -> Option<Token> {
        // opening quote already consumed
        while self.pos < self.end {
            let b = self.bytes[self.pos];
            if backslash && b == b'\\' {
                self.pos += 1;
                if self.pos < self.end {
                    self.bump_char();
                }
                continue;
            }
            if b == close {
                if self.peek(1) == Some(close) {
                    self.pos += 2;
                    continue;
                }
                self.pos += 1;
                return self.tok(kind, start);
            }
            self.bump_char();
        }
        self.tok(TokKind::Unterminated, start)
    }

    /// `$tag$` at `pos`, returning the tag length including both `$`.
    fn dollar_tag(&self) -> Option<usize> {
        if self.dialect != Dialect::Postgres || self.peek(0) != Some(b'$') {
            return None;
        }
        // `$1` is a parameter, not a quote; `a$b` is part of an identifier (handled by caller).
        let mut i = self.pos + 1;
        if i < self.end && self.bytes[i].is_ascii_digit() {
            return None;
        }
        while i < self.end
            && (self.bytes[i].is_ascii_alphanumeric()
                || self.bytes[i] == b'_'
                || self.bytes[i] >= 0x80)
        {
            i += 1;
        }
        if i < self.end && self.bytes[i] == b'$' {
            Some(i + 1 - self.pos)
        } else {
            None
        }
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        // skip whitespace
        while self.pos < self.end && self.bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
        if self.pos >= self.end {
            return None;
        }
        let start = self.pos;
        let b = self.bytes[self.pos];
        let mysql = self.dialect == Dialect::Mysql;
        match b {
            b'-' if self.peek(1) == Some(b'-') => {
                while self.pos < self.end && self.bytes[self.pos] != b'\n' {
                    self.pos += 1;
                }
                self.tok(TokKind::LineComment, start)
            }
            b'#' if mysql => {
                while self.pos < self.end && self.bytes[self.pos] != b'\n' {
                    self.pos += 1;
                }
                self.tok(TokKind::LineComment, start)
            }
            b'/' if self.peek(1) == Some(b'*') => {
                self.pos += 2;
                // PostgreSQL nests block comments; MySQL and SQLite do not.
                let nests = self.dialect == Dialect::Postgres;
                let mut depth = 1usize;
                while self.pos < self.end {
                    if self.bytes[self.pos] == b'*' && self.peek(1) == Some(b'/') {
                        self.pos += 2;
                        depth -= 1;
                        if depth == 0 {
                            return self.tok(TokKind::BlockComment, start);
                        }
                    } else if nests && self.bytes[self.pos] == b'/' && self.peek(1) == Some(b'*') {
                        self.pos += 2;
                        depth += 1;
                    } else {
                        self.pos += 1;
                    }
                }
                self.tok(TokKind::Unterminated, start)
            }
            b'\'' => {
                self.pos += 1;
                self.quoted(start, b'\'', mysql, TokKind::Str)
            }
            b'"' => {
                self.pos += 1;
                // MySQL without ANSI_QUOTES treats "…" as a string with backslash escapes.
                self.quoted(
                    start,
                    b'"',
                    mysql,
                    if mysql {
                        TokKind::Str
                    } else {
                        TokKind::QuotedIdent
                    },
                )
            }
            b'`' => {
                self.pos += 1;
                self.quoted(start, b'`', false, TokKind::QuotedIdent)
            }
            b'[' if self.dialect == Dialect::Sqlite => {
                self.pos += 1;
                self.quoted(start, b']', false, TokKind::QuotedIdent)
            }
            b'$' => {
                if let Some(len) = self.dollar_tag() {
                    let tag = &self.src[self.pos..self.pos + len];
                    self.pos += len;
                    match self.src[self.pos..self.end].find(tag) {
                        Some(off) => {
                            self.pos += off + len;
                            self.tok(TokKind::Str, start)
                        }
                        None => {
                            self.pos = self.end;
                            self.tok(TokKind::Unterminated, start)
                        }
                    }
                } else {
                    self.pos += 1;
                    while self.pos < self.end && self.bytes[self.pos].is_ascii_digit() {
                        self.pos += 1;
                    }
                    self.tok(TokKind::Punct, start)
                }
            }
            b'0'..=b'9' => {
                while self.pos < self.end
                    && (self.bytes[self.pos].is_ascii_alphanumeric()
                        || self.bytes[self.pos] == b'.')
                {
                    self.pos += 1;
                }
                self.tok(TokKind::Number, start)
            }
            b if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {
                // E'…' / N'…' / X'…' / B'…' prefixed strings
                if matches!(b, b'e' | b'E' | b'n' | b'N' | b'x' | b'X' | b'b' | b'B')
                    && self.peek(1) == Some(b'\'')
                {
                    self.pos += 2;
                    let backslash = matches!(b, b'e' | b'E') || mysql;
                    return self.quoted(start, b'\'', backslash, TokKind::Str);
                }
                while self.pos < self.end {
                    let c = self.bytes[self.pos];
                    if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' {
                        self.pos += 1;
                    } else if c >= 0x80 {
                        self.bump_char();
                    } else {
                        break;
                    }
                }
                self.tok(TokKind::Word, start)
            }
            _ => {
                self.bump_char();
                self.tok(TokKind::Punct, start)
            }
        }
    }
}
