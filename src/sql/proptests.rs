//! Property tests of the error-tolerant front end (lexer, splitter, fallback, and the whole
//! `statements` pipeline) on generated SQL: whatever the input, no panic, and the invariants of
//! [`super::fuzz`] hold. `examples/fuzz_sql.rs` checks the same on millions of inputs
//! (bench/fuzz.sh).

use super::Dialect;
use super::fuzz::{self, PIECES};
use super::split::split;
use proptest::prelude::*;

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
        fuzz::lexer(&src, r, d);
    }

    #[test]
    fn splitter_statements_are_ordered_and_inside_the_range(
        (src, r) in sql_and_range(),
        d in dialect(),
    ) {
        fuzz::splitter(&src, r, d);
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
    fn fallback_never_panics((src, r) in sql_and_range(), d in dialect()) {
        fuzz::fallback(&src, r, d);
    }

    #[test]
    fn statements_stay_inside_the_input((src, r) in sql_and_range(), d in dialect()) {
        for s in super::statements(&src, r.clone(), d) {
            prop_assert!(s.span.start <= s.span.end && s.span.end <= src.len(), "{:?}", s.span);
            prop_assert!(src.is_char_boundary(s.span.start) && src.is_char_boundary(s.span.end));
        }
    }
}
