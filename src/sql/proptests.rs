//! Property tests of the error-tolerant front end (lexer, splitter, fallback, and the whole
//! `statements` pipeline) on generated SQL: whatever the input, no panic, and every span stays
//! inside the input, in order, on character boundaries. `examples/fuzz_sql.rs` runs the same
//! targets on millions of inputs (bench/fuzz.sh).

use super::Dialect;
use super::lexer::{Lexer, TokKind};
use super::split::split;
use proptest::prelude::*;

/// Fragments that open or close the lexer's and splitter's states.
const PIECES: &[&str] = &[
    "'",
    "\"",
    "`",
    "[",
    "]",
    "$$",
    "$a$",
    "$1",
    "E'",
    "\\",
    "/*",
    "*/",
    "--",
    "#",
    "\n",
    " ",
    ";",
    "(",
    ")",
    ",",
    "BEGIN ",
    "END",
    "CASE ",
    "DELIMITER $$\n",
    "DELIMITER ;\n",
    "$$",
    "//",
    "-- +goose StatementBegin\n",
    "-- +goose StatementEnd\n",
    "CREATE ",
    "TRIGGER ",
    "FUNCTION ",
    "PROCEDURE ",
    "TABLE ",
    "INDEX ",
    "ALTER ",
    "DROP ",
    "TRUNCATE ",
    "REINDEX ",
    "COLUMN ",
    "ADD ",
    "IF EXISTS ",
    "t ",
    "x int",
    "é",
    "中",
    "😀",
];

fn sql() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(PIECES).prop_map(str::to_string),
            1 => any::<char>().prop_map(String::from),
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

fn dialect() -> impl Strategy<Value = Dialect> {
    prop::sample::select(Dialect::ALL.to_vec())
}

/// The input and a range inside it on character boundaries (a goose section, say).
fn sql_and_range() -> impl Strategy<Value = (String, std::ops::Range<usize>)> {
    (
        sql(),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(s, a, b)| {
            let bounds: Vec<usize> = (0..=s.len()).filter(|&i| s.is_char_boundary(i)).collect();
            let (a, b) = (a.get(&bounds), b.get(&bounds));
            let r = *a.min(b)..*a.max(b);
            (s, r)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn lexer_tokens_cover_everything_but_whitespace((src, r) in sql_and_range(), d in dialect()) {
        let toks: Vec<_> = Lexer::new(&src, r.start, r.end, d).collect();
        let mut at = r.start;
        for (i, t) in toks.iter().enumerate() {
            prop_assert!(at <= t.start && t.start < t.end && t.end <= r.end, "{t:?} after {at}");
            prop_assert!(src.is_char_boundary(t.start) && src.is_char_boundary(t.end));
            prop_assert!(
                src[at..t.start].bytes().all(|b| b.is_ascii_whitespace()),
                "the lexer dropped {:?}", &src[at..t.start]
            );
            // an unclosed string or comment runs to the end of the range
            if t.kind == TokKind::Unterminated {
                prop_assert_eq!(i, toks.len() - 1);
                prop_assert_eq!(t.end, r.end);
            }
            at = t.end;
        }
        prop_assert!(src[at..r.end].bytes().all(|b| b.is_ascii_whitespace()));
    }

    #[test]
    fn splitter_statements_are_ordered_and_inside_the_range(
        (src, r) in sql_and_range(),
        d in dialect(),
    ) {
        let mut at = r.start;
        for s in split(&src, r.clone(), d) {
            let s = s.span;
            prop_assert!(at <= s.start && s.start < s.end && s.end <= r.end, "{s:?} after {at}");
            prop_assert!(src.is_char_boundary(s.start) && src.is_char_boundary(s.end));
            prop_assert!(!src[s.start..].starts_with(|c: char| c.is_ascii_whitespace()));
            at = s.end;
        }
    }

    #[test]
    fn splitter_cuts_plain_statements_at_semicolons(
        words in prop::collection::vec("[a-z]{1,8}( [a-z0-9]{1,8}){0,3}", 1..8),
        d in dialect(),
    ) {
        prop_assume!(words.iter().all(|w| {
            !w.split(' ').any(|x| matches!(x, "begin" | "end" | "case" | "delimiter" | "create"))
        }));
        let src = words.join(";\n");
        let got: Vec<&str> = split(&src, 0..src.len(), d)
            .iter()
            .map(|s| &src[s.span.start..s.span.end])
            .map(|t| t.trim_end_matches(';'))
            .collect();
        prop_assert_eq!(got, words.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn fallback_never_panics_and_is_deterministic(src in sql(), base in 0usize..1_000_000, d in dialect()) {
        let a = super::fallback::classify(&src, base, d);
        let b = super::fallback::classify(&src, base, d);
        prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
        if let Some((kind, _)) = a {
            prop_assert!(!kind.is_empty());
        }
    }

    #[test]
    fn statements_stay_inside_the_input((src, r) in sql_and_range(), d in dialect()) {
        for s in super::statements(&src, r.clone(), d) {
            prop_assert!(s.span.start <= s.span.end && s.span.end <= src.len(), "{:?}", s.span);
            prop_assert!(src.is_char_boundary(s.span.start) && src.is_char_boundary(s.span.end));
        }
    }
}
