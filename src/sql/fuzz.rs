//! What the fuzzer (`examples/fuzz_sql.rs`, run by `bench/fuzz.sh`) and the property tests share:
//! SQL fragments that open and close the front end's states, and the invariants the lexer,
//! splitter and fallback parser keep on any input. The checks `assert!`, so a broken invariant
//! is a panic, as a crash is.

use super::Dialect;
use super::lexer::{Lexer, TokKind};
use super::split::split;
use std::ops::Range;

/// Fragments that open or close the lexer's and splitter's states: quotes, comments, dollar
/// quotes, `DELIMITER`, goose markers, `BEGIN … END`, statements the fallback reads, multi-byte
/// and odd characters.
pub const PIECES: &[&str] = &[
    "'",
    "\"",
    "`",
    "[",
    "]",
    "$$",
    "$a$",
    "$1",
    "E'",
    "e'\\'",
    "X'",
    "\\",
    "/*",
    "*/",
    "--",
    "#",
    "\n",
    "\r\n",
    " ",
    "\t",
    ";",
    ",",
    "(",
    ")",
    ".",
    "::",
    "=",
    "BEGIN",
    "END",
    "END;",
    "CASE",
    "IF",
    "LOOP",
    "WHILE",
    "REPEAT",
    "DELIMITER $$\n",
    "DELIMITER //\n",
    "DELIMITER ;\n",
    "$$\n",
    "//",
    "-- +goose StatementBegin\n",
    "-- +goose StatementEnd\n",
    "-- +goose Up\n",
    "CREATE ",
    "TRIGGER ",
    "FUNCTION ",
    "PROCEDURE ",
    "EVENT ",
    "TABLE ",
    "INDEX ",
    "ALTER ",
    "DROP ",
    "TRUNCATE ",
    "REINDEX ",
    "SEQUENCE ",
    "STATISTICS ",
    "VIRTUAL ",
    "FULLTEXT ",
    "COLUMN ",
    "ADD ",
    "CONSTRAINT ",
    "CONCURRENTLY ",
    "IF EXISTS ",
    "ON ",
    "USING ",
    "WITH (",
    "ALGORITHM=INPLACE",
    "LOCK=NONE",
    "DEFAULT ",
    "uuid()",
    "t",
    "users",
    "\"Quoted\"",
    "42",
    "1e9",
    "0x1F",
    "é",
    "ß",
    "中",
    "😀",
    "\u{0}",
    "\u{feff}",
    "\u{2028}",
];

/// Tokens of `src[r]` are in order, non-empty, on character boundaries and inside the range;
/// only ASCII whitespace lies between them; an unclosed string or comment is the last token and
/// runs to the end of the range.
pub fn lexer(src: &str, r: Range<usize>, dialect: Dialect) {
    let toks: Vec<_> = Lexer::new(src, r.start, r.end, dialect).collect();
    let mut at = r.start;
    for (i, t) in toks.iter().enumerate() {
        assert!(
            at <= t.start && t.start < t.end && t.end <= r.end,
            "token {t:?} after {at} in {r:?}"
        );
        assert!(src.is_char_boundary(t.start) && src.is_char_boundary(t.end));
        assert!(
            src[at..t.start].bytes().all(|b| b.is_ascii_whitespace()),
            "the lexer dropped {:?}",
            &src[at..t.start]
        );
        if t.kind == TokKind::Unterminated {
            assert!(i == toks.len() - 1 && t.end == r.end, "{t:?} is not last");
        }
        at = t.end;
    }
    assert!(src[at..r.end].bytes().all(|b| b.is_ascii_whitespace()));
}

/// Statements of `src[r]` are in order, non-empty, on character boundaries, inside the range,
/// and start at a token, not at whitespace.
pub fn splitter(src: &str, r: Range<usize>, dialect: Dialect) {
    let mut at = r.start;
    for s in split(src, r.clone(), dialect) {
        let s = s.span;
        assert!(
            at <= s.start && s.start < s.end && s.end <= r.end,
            "statement {s:?} after {at} in {r:?}"
        );
        assert!(src.is_char_boundary(s.start) && src.is_char_boundary(s.end));
        assert!(!src[s.start..].starts_with(|c: char| c.is_ascii_whitespace()));
        at = s.end;
    }
}

/// The fallback parser as the front end calls it, once per statement the splitter found (at its
/// file offset), and on the whole text: it returns, the same answer twice.
pub fn fallback(src: &str, r: Range<usize>, dialect: Dialect) {
    for s in split(src, r, dialect) {
        let text = &src[s.span.start..s.span.end];
        let _ = super::fallback::classify(text, s.span.start, dialect);
    }
    let a = super::fallback::classify(src, 0, dialect);
    if let Some((kind, _)) = &a {
        assert!(!kind.is_empty());
    }
}
