//! Up/down sections of single-file layouts (dbmate, goose) and transaction directives.
//!
//! * **dbmate**: a line `-- migrate:up [options]` starts the up section, `-- migrate:down
//!   [options]` the down section (`--migrate:up` without the space is accepted too, as dbmate
//!   does). The option `transaction:false` on the up marker turns the transaction off.
//! * **goose**: annotation lines `-- +goose <command>`; `+goose` and the command are matched
//!   without regard to ASCII case and repeated blanks (as migsafe's statement splitter does): `Up`, `Down`, `StatementBegin`, `StatementEnd`,
//!   `NO TRANSACTION` (anywhere in the file: no transaction), `ENVSUB ON`/`ENVSUB OFF`. Any
//!   other `-- +goose …` command is an error, as it is for goose itself.
//!
//! A section starts at the line after its marker and ends where the next up/down marker line
//! starts (or at the end of the file), so the order of the two markers does not matter. Text
//! before the first marker is ignored. A marker that appears twice is an error; so is a goose
//! `StatementBegin` without its `StatementEnd` (or the reverse).
//!
//! Lines end at `\n`, `\r\n` or a lone `\r`; all offsets are byte offsets into the text (which
//! no longer has its BOM) and always fall on char boundaries, because line terminators are ASCII.

use std::ops::Range;
use std::path::Path;

use super::{Direction, DiscoverError};

/// One line of a text: `start..end` is its content without the terminator, `next` the offset
/// of the following line; `number` is 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line<'a> {
    pub number: usize,
    pub start: usize,
    pub next: usize,
    pub text: &'a str,
}

/// The lines of `text`, terminated by `\n`, `\r\n` or a lone `\r`.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut number = 0;
    std::iter::from_fn(move || {
        if pos >= bytes.len() {
            return None;
        }
        let start = pos;
        let mut end = start;
        while end < bytes.len() && bytes[end] != b'\n' && bytes[end] != b'\r' {
            end += 1;
        }
        let next = match bytes.get(end) {
            Some(b'\r') if bytes.get(end + 1) == Some(&b'\n') => end + 2,
            Some(_) => end + 1,
            None => end,
        };
        pos = next;
        number += 1;
        Some(Line {
            number,
            start,
            next,
            // `start` and `end` sit next to ASCII bytes (or the ends), so they are char boundaries.
            text: text.get(start..end).unwrap_or(""),
        })
    })
}

/// Up/down byte ranges of a single-file migration plus its transaction mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sections {
    pub up: Range<usize>,
    pub down: Option<Range<usize>>,
    pub transaction: bool,
}

/// Parses a dbmate marker line: `-- migrate:up [options]` / `-- migrate:down [options]`.
pub(crate) fn dbmate_marker(line: &str) -> Option<(Direction, &str)> {
    let rest = line.trim_start().strip_prefix("--")?.trim_start();
    let (direction, options) = if let Some(o) = rest.strip_prefix("migrate:up") {
        (Direction::Up, o)
    } else if let Some(o) = rest.strip_prefix("migrate:down") {
        (Direction::Down, o)
    } else {
        return None;
    };
    if !options.is_empty() && !options.starts_with(char::is_whitespace) {
        return None;
    }
    Some((direction, options.trim()))
}

/// A goose annotation (`-- +goose …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GooseAnnotation {
    Up,
    Down,
    StatementBegin,
    StatementEnd,
    NoTransaction,
    Envsub,
    Unknown(String),
}

/// Parses a goose annotation line; `None` when the line is not one.
pub(crate) fn goose_annotation(line: &str) -> Option<GooseAnnotation> {
    let rest = line.trim().strip_prefix("--")?.trim_start();
    let prefix = rest.get(..6)?;
    if !prefix.eq_ignore_ascii_case("+goose") {
        return None;
    }
    let command = rest.get(6..)?;
    if !command.is_empty() && !command.starts_with(char::is_whitespace) {
        return None;
    }
    let words: Vec<&str> = command.split_whitespace().collect();
    let normalized = words.join(" ").to_ascii_lowercase();
    Some(match normalized.as_str() {
        "up" => GooseAnnotation::Up,
        "down" => GooseAnnotation::Down,
        "statementbegin" => GooseAnnotation::StatementBegin,
        "statementend" => GooseAnnotation::StatementEnd,
        "no transaction" => GooseAnnotation::NoTransaction,
        "envsub on" | "envsub off" => GooseAnnotation::Envsub,
        _ => GooseAnnotation::Unknown(words.join(" ")),
    })
}

/// Whether `text` has a dbmate `-- migrate:up` marker line.
pub(crate) fn has_dbmate_marker(text: &str) -> bool {
    lines(text).any(|l| matches!(dbmate_marker(l.text), Some((Direction::Up, _))))
}

/// Whether `text` has a goose `-- +goose Up` annotation.
pub(crate) fn has_goose_marker(text: &str) -> bool {
    lines(text).any(|l| goose_annotation(l.text) == Some(GooseAnnotation::Up))
}

/// Whether `text` contains a Drizzle `--> statement-breakpoint`.
pub(crate) fn has_drizzle_marker(text: &str) -> bool {
    text.contains("--> statement-breakpoint")
}

/// A section marker found in a file.
struct Marker {
    direction: Direction,
    line: usize,
    /// Start of the marker line.
    start: usize,
    /// Start of the line after the marker (where the section begins).
    body: usize,
}

/// Records `marker`, rejecting a second marker of the same direction.
fn push_marker(
    markers: &mut Vec<Marker>,
    marker: Marker,
    path: &Path,
    spelled: &str,
) -> Result<(), DiscoverError> {
    if let Some(first) = markers.iter().find(|m| m.direction == marker.direction) {
        return Err(DiscoverError::BadDirective {
            path: path.to_path_buf(),
            line: marker.line,
            message: format!(
                "second `{spelled}` marker (the first is on line {}); a migration has one up and at most one down section, merge them or split the file",
                first.line
            ),
        });
    }
    markers.push(marker);
    Ok(())
}

/// Turns the markers into section ranges: each section runs to the next marker or EOF.
fn ranges(markers: &[Marker], len: usize) -> (Option<Range<usize>>, Option<Range<usize>>) {
    let section = |direction: Direction| {
        let marker = markers.iter().find(|m| m.direction == direction)?;
        let end = markers
            .iter()
            .filter(|m| m.start > marker.start)
            .map(|m| m.start)
            .min()
            .unwrap_or(len);
        Some(marker.body.min(end)..end)
    };
    (section(Direction::Up), section(Direction::Down))
}

/// Splits a dbmate migration into its sections.
pub(crate) fn dbmate_sections(path: &Path, text: &str) -> Result<Sections, DiscoverError> {
    let mut markers = Vec::new();
    let mut transaction = true;
    for line in lines(text) {
        let Some((direction, options)) = dbmate_marker(line.text) else {
            continue;
        };
        let spelled = match direction {
            Direction::Up => "-- migrate:up",
            Direction::Down => "-- migrate:down",
        };
        if direction == Direction::Up {
            for option in options.split_whitespace() {
                if let Some(value) = option.strip_prefix("transaction:") {
                    match value {
                        "false" => transaction = false,
                        "true" => transaction = true,
                        other => {
                            return Err(DiscoverError::BadDirective {
                                path: path.to_path_buf(),
                                line: line.number,
                                message: format!(
                                    "`transaction:{other}` is not a valid dbmate option; write `transaction:false` or `transaction:true`"
                                ),
                            });
                        }
                    }
                }
            }
        }
        let marker = Marker {
            direction,
            line: line.number,
            start: line.start,
            body: line.next,
        };
        push_marker(&mut markers, marker, path, spelled)?;
    }
    let (up, down) = ranges(&markers, text.len());
    let Some(up) = up else {
        return Err(DiscoverError::DbmateMissingUp {
            path: path.to_path_buf(),
        });
    };
    Ok(Sections {
        up,
        down,
        transaction: transaction && !has_no_transaction_directive(text),
    })
}

/// Splits a goose migration into its sections and checks its annotations.
pub(crate) fn goose_sections(path: &Path, text: &str) -> Result<Sections, DiscoverError> {
    let mut markers = Vec::new();
    let mut transaction = true;
    // Line of the open `StatementBegin`, if any.
    let mut open_block: Option<usize> = None;
    let bad = |line: usize, message: String| DiscoverError::BadDirective {
        path: path.to_path_buf(),
        line,
        message,
    };
    for line in lines(text) {
        let Some(annotation) = goose_annotation(line.text) else {
            continue;
        };
        match annotation {
            GooseAnnotation::Up | GooseAnnotation::Down => {
                let (direction, spelled) = if annotation == GooseAnnotation::Up {
                    (Direction::Up, "-- +goose Up")
                } else {
                    (Direction::Down, "-- +goose Down")
                };
                if let Some(begin) = open_block {
                    return Err(bad(
                        begin,
                        format!(
                            "`-- +goose StatementBegin` is not closed before `{spelled}` on line {}; add `-- +goose StatementEnd`",
                            line.number
                        ),
                    ));
                }
                let marker = Marker {
                    direction,
                    line: line.number,
                    start: line.start,
                    body: line.next,
                };
                push_marker(&mut markers, marker, path, spelled)?;
            }
            GooseAnnotation::StatementBegin => {
                if let Some(begin) = open_block {
                    return Err(bad(
                        line.number,
                        format!(
                            "`-- +goose StatementBegin` inside the block opened on line {begin}; add `-- +goose StatementEnd` before it"
                        ),
                    ));
                }
                open_block = Some(line.number);
            }
            GooseAnnotation::StatementEnd => {
                if open_block.take().is_none() {
                    return Err(bad(
                        line.number,
                        "`-- +goose StatementEnd` without a `-- +goose StatementBegin`; add the begin annotation or remove this line".to_string(),
                    ));
                }
            }
            GooseAnnotation::NoTransaction => transaction = false,
            GooseAnnotation::Envsub => {}
            GooseAnnotation::Unknown(command) => {
                return Err(bad(
                    line.number,
                    format!(
                        "unknown goose annotation `-- +goose {command}`; use Up, Down, StatementBegin, StatementEnd, NO TRANSACTION or ENVSUB ON/OFF"
                    ),
                ));
            }
        }
    }
    if let Some(begin) = open_block {
        return Err(bad(
            begin,
            "`-- +goose StatementBegin` is never closed; add `-- +goose StatementEnd` after the statement".to_string(),
        ));
    }
    let (up, down) = ranges(&markers, text.len());
    let Some(up) = up else {
        return Err(DiscoverError::GooseMissingUp {
            path: path.to_path_buf(),
        });
    };
    Ok(Sections {
        up,
        down,
        transaction: transaction && !has_no_transaction_directive(text),
    })
}

/// Whether the file starts with a `-- no-transaction` or `-- migsafe:no-transaction` line
/// comment (ASCII case ignored) before its first statement: only blank space, `--` line
/// comments and (nested) `/* */` block comments may precede it.
pub fn has_no_transaction_directive(text: &str) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(comment) = rest.strip_prefix("--") {
            let end = comment.find(['\n', '\r']).unwrap_or(comment.len());
            let (body, after) = comment.split_at(end);
            let body = body.trim();
            if body.eq_ignore_ascii_case("no-transaction")
                || body.eq_ignore_ascii_case("migsafe:no-transaction")
            {
                return true;
            }
            rest = after;
        } else if rest.starts_with("/*") {
            match skip_block_comment(rest) {
                Some(after) => rest = after,
                None => return false,
            }
        } else {
            return false;
        }
    }
}

/// `text` starts with `/*`; returns the text after the matching `*/` (comments nest, as in
/// PostgreSQL), or `None` when the comment is not closed.
fn skip_block_comment(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth = depth.saturating_sub(1);
                i += 2;
                if depth == 0 {
                    // `i` follows an ASCII byte, so it is a char boundary.
                    return text.get(i..);
                }
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn p() -> PathBuf {
        PathBuf::from("m.sql")
    }

    fn cut(text: &str, range: &Range<usize>) -> String {
        text[range.clone()].to_string()
    }

    #[test]
    fn lines_handle_every_terminator() {
        let text = "a\r\nb\rc\n\nd";
        let got: Vec<(usize, usize, usize, &str)> = lines(text)
            .map(|l| (l.number, l.start, l.next, l.text))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 0, 3, "a"),
                (2, 3, 5, "b"),
                (3, 5, 7, "c"),
                (4, 7, 8, ""),
                (5, 8, 9, "d")
            ]
        );
        assert_eq!(lines("").count(), 0);
    }

    #[test]
    fn dbmate_marker_parsing() {
        assert_eq!(dbmate_marker("-- migrate:up"), Some((Direction::Up, "")));
        assert_eq!(
            dbmate_marker("--migrate:down  transaction:false "),
            Some((Direction::Down, "transaction:false"))
        );
        assert_eq!(dbmate_marker("-- migrate:upper"), None);
        assert_eq!(dbmate_marker("SELECT 1; -- migrate:up"), None);
        assert_eq!(dbmate_marker("-- Migrate:up"), None);
    }

    #[test]
    fn goose_annotation_parsing() {
        assert_eq!(goose_annotation("-- +goose Up"), Some(GooseAnnotation::Up));
        assert_eq!(goose_annotation("--+goose up"), Some(GooseAnnotation::Up));
        assert_eq!(
            goose_annotation("-- +goose DOWN  "),
            Some(GooseAnnotation::Down)
        );
        assert_eq!(
            goose_annotation("-- +goose NO   TRANSACTION"),
            Some(GooseAnnotation::NoTransaction)
        );
        assert_eq!(
            goose_annotation("-- +goose statementbegin"),
            Some(GooseAnnotation::StatementBegin)
        );
        assert_eq!(
            goose_annotation("-- +goose Sideways"),
            Some(GooseAnnotation::Unknown("Sideways".into()))
        );
        assert_eq!(goose_annotation("-- +gooseUp"), None);
        assert_eq!(goose_annotation("-- goose Up"), None);
        // A multi-byte character right after `--` must not cause a slicing panic.
        assert_eq!(goose_annotation("-- é+goose Up"), None);
        assert_eq!(goose_annotation("--ééé"), None);
    }

    #[test]
    fn dbmate_sections_cut_exact_text() {
        let text = "-- header\n-- migrate:up\nCREATE TABLE t (id int);\n\n-- migrate:down\nDROP TABLE t;\n";
        let s = dbmate_sections(&p(), text).unwrap();
        assert_eq!(cut(text, &s.up), "CREATE TABLE t (id int);\n\n");
        assert_eq!(cut(text, s.down.as_ref().unwrap()), "DROP TABLE t;\n");
        assert!(s.transaction);
    }

    #[test]
    fn dbmate_down_before_up_and_crlf() {
        let text = "-- migrate:down\r\nDROP TABLE t;\r\n-- migrate:up transaction:false\r\nCREATE TABLE t ();";
        let s = dbmate_sections(&p(), text).unwrap();
        assert_eq!(cut(text, &s.up), "CREATE TABLE t ();");
        assert_eq!(cut(text, s.down.as_ref().unwrap()), "DROP TABLE t;\r\n");
        assert!(!s.transaction);
    }

    #[test]
    fn dbmate_marker_on_last_line_gives_empty_section() {
        let text = "-- migrate:up";
        let s = dbmate_sections(&p(), text).unwrap();
        assert_eq!(s.up, 13..13);
        assert_eq!(s.down, None);
    }

    #[test]
    fn dbmate_errors() {
        let err = dbmate_sections(&p(), "CREATE TABLE t ();\n-- migrate:down\n").unwrap_err();
        assert!(
            matches!(err, DiscoverError::DbmateMissingUp { .. }),
            "{err}"
        );
        let err = dbmate_sections(&p(), "-- migrate:up\nA;\n-- migrate:up\nB;\n").unwrap_err();
        match &err {
            DiscoverError::BadDirective { line, message, .. } => {
                assert_eq!(*line, 3);
                assert!(message.contains("line 1"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(err.to_string().split(':').nth(1), Some("3"));
        let err = dbmate_sections(&p(), "-- migrate:up transaction:maybe\n").unwrap_err();
        assert!(
            err.to_string().starts_with("m.sql:1: `transaction:maybe`"),
            "{err}"
        );
    }

    #[test]
    fn goose_sections_with_statement_blocks() {
        let text = "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n-- +goose StatementEnd\n\n-- +goose Down\nDROP FUNCTION f();\n";
        let s = goose_sections(&p(), text).unwrap();
        assert_eq!(
            cut(text, &s.up),
            "-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n-- +goose StatementEnd\n\n"
        );
        assert_eq!(cut(text, s.down.as_ref().unwrap()), "DROP FUNCTION f();\n");
        assert!(s.transaction);
    }

    #[test]
    fn goose_no_transaction_anywhere() {
        let text =
            "-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (a);\n-- +goose NO TRANSACTION\n";
        let s = goose_sections(&p(), text).unwrap();
        assert!(!s.transaction);
        assert_eq!(s.down, None);
    }

    #[test]
    fn goose_errors() {
        let err = goose_sections(&p(), "CREATE TABLE t ();\n").unwrap_err();
        assert!(matches!(err, DiscoverError::GooseMissingUp { .. }), "{err}");
        assert!(err.to_string().contains("add `-- +goose Up`"), "{err}");

        let err = goose_sections(&p(), "-- +goose Up\n-- +goose StatementBegin\nA;\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.sql:2: `-- +goose StatementBegin` is never closed; add `-- +goose StatementEnd` after the statement"
        );
        let err = goose_sections(&p(), "-- +goose Up\nA;\n-- +goose StatementEnd\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("m.sql:3: `-- +goose StatementEnd` without"),
            "{err}"
        );
        let err = goose_sections(
            &p(),
            "-- +goose Up\n-- +goose StatementBegin\n-- +goose StatementBegin\n",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("m.sql:3:"), "{err}");
        let err = goose_sections(
            &p(),
            "-- +goose Up\n-- +goose StatementBegin\nA;\n-- +goose Down\n",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("m.sql:2:"), "{err}");
        let err = goose_sections(&p(), "-- +goose Up\nA;\n-- +goose Upgrade\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown goose annotation `-- +goose Upgrade`"),
            "{err}"
        );
        let err = goose_sections(
            &p(),
            "-- +goose Up\nA;\n-- +goose Down\nB;\n-- +goose Down\n",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("m.sql:5: second `-- +goose Down`"),
            "{err}"
        );
    }

    #[test]
    fn no_transaction_directive_only_at_top() {
        assert!(has_no_transaction_directive(
            "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);"
        ));
        assert!(has_no_transaction_directive(
            "\u{feff}\n/* header /* nested */ */\n-- comment\r\n--  MIGSAFE:no-transaction  \nSELECT 1;"
        ));
        assert!(!has_no_transaction_directive(
            "SELECT 1;\n-- no-transaction\n"
        ));
        assert!(!has_no_transaction_directive(
            "-- no-transaction please\nSELECT 1;"
        ));
        assert!(!has_no_transaction_directive(
            "/* unterminated -- no-transaction"
        ));
        assert!(!has_no_transaction_directive(""));
        assert!(!has_no_transaction_directive("/*/ -- no-transaction"));
    }

    #[test]
    fn marker_detection() {
        assert!(has_dbmate_marker("x\n-- migrate:up\n"));
        assert!(!has_dbmate_marker("-- migrate:down\n"));
        assert!(has_goose_marker("-- +goose UP\n"));
        assert!(!has_goose_marker("-- +goose Down\n"));
        assert!(has_drizzle_marker(
            "CREATE TABLE a ();--> statement-breakpoint\n"
        ));
        assert!(!has_drizzle_marker("-- statement-breakpoint\n"));
    }

    /// Every combination of awkward fragments: no panic, ranges on char boundaries.
    #[test]
    fn never_panics_and_ranges_stay_on_char_boundaries() {
        const FRAGMENTS: [&str; 12] = [
            "-- migrate:up",
            "-- migrate:down transaction:false",
            "-- +goose Up",
            "-- +goose Down",
            "-- +goose StatementBegin",
            "-- +goose StatementEnd",
            "\r",
            "\n",
            "é€𝄞",
            "/*",
            "*/",
            "-- no-transaction",
        ];
        let n = FRAGMENTS.len();
        let mut checked = 0;
        for len in 0..=4u32 {
            for mut code in 0..n.pow(len) {
                let mut text = String::new();
                for _ in 0..len {
                    text.push_str(FRAGMENTS[code % n]);
                    code /= n;
                }
                let results = [dbmate_sections(&p(), &text), goose_sections(&p(), &text)];
                for s in results.iter().flatten() {
                    for r in std::iter::once(&s.up).chain(s.down.as_ref()) {
                        assert!(text.get(r.clone()).is_some(), "{text:?} {r:?}");
                    }
                }
                let _ = has_no_transaction_directive(&text);
                for line in lines(&text) {
                    assert!(text.get(line.start..line.next).is_some());
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 1 + 12 + 144 + 1728 + 20736);
    }
}
