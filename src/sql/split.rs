//! Splits a migration's SQL into statements: `;` outside strings, comments, dollar quotes and
//! `BEGIN … END` routine bodies; MySQL `DELIMITER` lines; goose `StatementBegin/End` regions.

use super::Dialect;
use super::ir::Span;
use super::lexer::{Lexer, TokKind, Token};
use std::ops::Range;

/// Hard cap on `BEGIN`/`CASE` nesting the splitter tracks; deeper input is still split, just
/// without more bookkeeping.
const MAX_BLOCK_DEPTH: usize = 10_000;

/// Where one statement sits in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawStatement {
    pub span: Span,
}

struct Current {
    start: usize,
    end: usize,
    words: Vec<String>,
    depth: usize,
    body_capable: Option<bool>,
}

impl Current {
    fn new(tok: &Token) -> Self {
        Current {
            start: tok.start,
            end: tok.end,
            words: Vec::new(),
            depth: 0,
            body_capable: None,
        }
    }
}

fn is_goose(text: &str, what: &str) -> bool {
    let t = text.trim_start_matches('-').trim();
    let mut parts = t.split_whitespace();
    parts
        .next()
        .is_some_and(|p| p.eq_ignore_ascii_case("+goose"))
        && parts.next().is_some_and(|p| p.eq_ignore_ascii_case(what))
}

/// Statements whose text may contain `;` inside a `BEGIN … END` body.
fn body_capable(words: &[String]) -> bool {
    let Some(first) = words.first() else {
        return false;
    };
    first == "create"
        && words
            .iter()
            .skip(1)
            .any(|w| matches!(w.as_str(), "trigger" | "function" | "procedure" | "event"))
}

pub fn split(src: &str, range: Range<usize>, dialect: Dialect) -> Vec<RawStatement> {
    let mut out = Vec::new();
    let mut lexer = Lexer::new(src, range.start, range.end, dialect);
    let mut cur: Option<Current> = None;
    let mut delimiter = String::from(";");
    let mut goose_region: Option<Option<Current>> = None;

    let flush = |cur: &mut Option<Current>, out: &mut Vec<RawStatement>| {
        if let Some(c) = cur.take() {
            out.push(RawStatement {
                span: Span::new(c.start, c.end),
            });
        }
    };

    while let Some(tok) = lexer.next() {
        let text = tok.text(src);
        if tok.kind == TokKind::LineComment && text.starts_with("--") {
            if is_goose(text, "StatementBegin") {
                flush(&mut cur, &mut out);
                goose_region = Some(None);
                continue;
            }
            if is_goose(text, "StatementEnd") {
                if let Some(region) = goose_region.take() {
                    let mut region = region;
                    flush(&mut region, &mut out);
                }
                continue;
            }
        }
        if tok.is_trivia() {
            continue;
        }
        if let Some(region) = goose_region.as_mut() {
            // inside StatementBegin/End everything is one statement; a trailing `;` is dropped
            match region {
                Some(c) => {
                    if !(tok.kind == TokKind::Punct && text == ";") {
                        c.end = tok.end;
                    }
                }
                None => *region = Some(Current::new(&tok)),
            }
            continue;
        }

        // MySQL client `DELIMITER xx` line (also seen in scripts for other engines). While a custom
        // delimiter is active the client recognises it at the start of any line, ending the
        // pending statement; otherwise only where a statement starts (a column may be named
        // `delimiter`).
        let line_start = || {
            src[..tok.start]
                .rsplit('\n')
                .next()
                .is_some_and(|l| l.trim().is_empty())
        };
        if tok.is_word(src, "delimiter") && (cur.is_none() || (delimiter != ";" && line_start())) {
            let line_end = src[tok.end..range.end]
                .find('\n')
                .map_or(range.end, |i| tok.end + i);
            let arg = src[tok.end..line_end]
                .split_whitespace()
                .next()
                .unwrap_or("");
            if !arg.is_empty() {
                flush(&mut cur, &mut out);
                delimiter = arg.to_string();
                lexer.seek(line_end);
                continue;
            }
        }

        if delimiter != ";" {
            // the delimiter may be glued to a word (`END$$`) or span several punctuation tokens (`//`)
            let at = if matches!(
                tok.kind,
                TokKind::Str | TokKind::QuotedIdent | TokKind::Unterminated
            ) {
                None
            } else if src[tok.start..range.end].starts_with(delimiter.as_str()) {
                Some(0)
            } else {
                src[tok.start..tok.end].find(delimiter.as_str())
            };
            if let Some(k) = at {
                if k > 0 {
                    match cur.as_mut() {
                        Some(c) => c.end = tok.start + k,
                        None => {
                            cur = Some(Current::new(&tok));
                            if let Some(c) = cur.as_mut() {
                                c.end = tok.start + k;
                            }
                        }
                    }
                }
                flush(&mut cur, &mut out);
                lexer.seek(tok.start + k + delimiter.len());
                continue;
            }
            match cur.as_mut() {
                Some(c) => c.end = tok.end,
                None => cur = Some(Current::new(&tok)),
            }
            continue;
        }

        if tok.kind == TokKind::Punct && text == ";" {
            match cur.as_mut() {
                Some(c) if c.depth > 0 => {
                    c.end = tok.end;
                    continue;
                }
                _ => {
                    flush(&mut cur, &mut out);
                    continue;
                }
            }
        }

        let c = cur.get_or_insert_with(|| Current::new(&tok));
        c.end = tok.end;
        if tok.kind != TokKind::Word {
            continue;
        }
        if c.words.len() < 8 {
            c.words.push(text.to_ascii_lowercase());
        }
        let capable = match c.body_capable {
            Some(v) => v,
            None if c.words.len() == 1 && text.eq_ignore_ascii_case("begin") => {
                // MariaDB anonymous block `BEGIN NOT ATOMIC … END`; a plain BEGIN starts a transaction
                let v = dialect == Dialect::Mysql
                    && lexer
                        .clone()
                        .find(|t| !t.is_trivia())
                        .is_some_and(|t| t.is_word(src, "not"));
                c.body_capable = Some(v);
                v
            }
            None if c.words.len() >= 8 || text.eq_ignore_ascii_case("begin") => {
                let v = body_capable(&c.words);
                c.body_capable = Some(v);
                v
            }
            None => false,
        };
        if !capable {
            continue;
        }
        let next_word = || {
            lexer
                .clone()
                .find(|t| !t.is_trivia())
                .filter(|t| t.kind == TokKind::Word)
                .map(|t| t.text(src).to_ascii_lowercase())
        };
        if text.eq_ignore_ascii_case("begin") {
            let opens = if c.depth > 0 {
                true
            } else if dialect == Dialect::Postgres {
                // only SQL-standard bodies: BEGIN ATOMIC … END
                next_word().as_deref() == Some("atomic")
            } else {
                true
            };
            if opens && c.depth < MAX_BLOCK_DEPTH {
                c.depth += 1;
            }
        } else if c.depth > 0 && text.eq_ignore_ascii_case("case") {
            c.depth = (c.depth + 1).min(MAX_BLOCK_DEPTH);
        } else if c.depth > 0 && text.eq_ignore_ascii_case("end") {
            let closes_other = matches!(
                next_word().as_deref(),
                Some("if" | "loop" | "while" | "repeat" | "for")
            );
            if !closes_other {
                c.depth -= 1;
            }
        }
    }
    if let Some(region) = goose_region.take() {
        let mut region = region;
        flush(&mut region, &mut out);
    }
    flush(&mut cur, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str, d: Dialect) -> Vec<&str> {
        split(src, 0..src.len(), d)
            .into_iter()
            .map(|s| &src[s.span.start..s.span.end])
            .collect()
    }

    #[test]
    fn splits_on_semicolons_outside_strings_and_comments() {
        let src = "-- c; not a split\nSELECT 'a;b'; /* x; */ SELECT \"q;\" ;\n\nSELECT 3";
        assert_eq!(
            texts(src, Dialect::Postgres),
            vec!["SELECT 'a;b'", "SELECT \"q;\"", "SELECT 3"]
        );
    }

    #[test]
    fn dollar_quotes_and_do_blocks_stay_whole() {
        let src = "DO $$ BEGIN PERFORM 1; END $$;\nCREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;";
        let t = texts(src, Dialect::Postgres);
        assert_eq!(t.len(), 2);
        assert!(t[0].ends_with("END $$"));
        assert!(t[1].ends_with("LANGUAGE sql"));
    }

    #[test]
    fn unterminated_dollar_quote_runs_to_end_without_hiding_earlier_statements() {
        let src = "SELECT 1;\nDO $$ BEGIN; SELECT 2;";
        let t = texts(src, Dialect::Postgres);
        assert_eq!(t, vec!["SELECT 1", "DO $$ BEGIN; SELECT 2;"]);
    }

    #[test]
    fn mysql_delimiter_blocks() {
        let src = "DELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END$$\nDELIMITER ;\nSELECT 3;";
        let t = texts(src, Dialect::Mysql);
        assert_eq!(
            t,
            vec![
                "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END",
                "SELECT 3"
            ]
        );
    }

    #[test]
    fn delimiter_line_ends_a_pending_statement() {
        let src = "delimiter d//\nCREATE PROCEDURE p() BEGIN SELECT 1; END;\nd//\nUPDATE t SET a = 1;\n\ndelimiter ;\nCALL p();\nDROP PROCEDURE p;";
        let t = texts(src, Dialect::Postgres);
        assert_eq!(t.len(), 4, "{t:?}");
        assert_eq!(t[1], "UPDATE t SET a = 1;");
        assert_eq!(t[2], "CALL p()");
        // a column called `delimiter` is not a client command
        let create = "CREATE TABLE t (\n  delimiter varchar(10)\n);";
        assert_eq!(texts(create, Dialect::Mysql).len(), 1);
    }

    #[test]
    fn trigger_bodies_without_delimiter() {
        let src = "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE b SET x = CASE WHEN 1 THEN 2 END; INSERT INTO c VALUES (1); END;\nSELECT 1;";
        let t = texts(src, Dialect::Sqlite);
        assert_eq!(t.len(), 2, "{t:?}");
        assert!(t[0].ends_with("END"));
        let mysql = "CREATE PROCEDURE p() BEGIN IF x THEN SELECT 1; END IF; END;\nSELECT 2;";
        assert_eq!(texts(mysql, Dialect::Mysql).len(), 2);
    }

    #[test]
    fn postgres_begin_is_a_transaction_not_a_block() {
        let src = "BEGIN;\nCREATE TABLE t (id int);\nCOMMIT;";
        assert_eq!(
            texts(src, Dialect::Postgres),
            vec!["BEGIN", "CREATE TABLE t (id int)", "COMMIT"]
        );
        let atomic = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\nSELECT 3;";
        assert_eq!(texts(atomic, Dialect::Postgres).len(), 2);
    }

    #[test]
    fn goose_statement_regions() {
        let src = "-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS trigger AS 'x; y' LANGUAGE plpgsql;\nSELECT 1;\n-- +goose StatementEnd\nSELECT 2;";
        let t = texts(src, Dialect::Postgres);
        assert_eq!(t.len(), 2, "{t:?}");
        assert!(t[0].ends_with("SELECT 1"));
    }

    #[test]
    fn respects_range_and_reports_file_offsets() {
        let src = "SELECT 0;\n-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;";
        let start = src.find("SELECT 1").unwrap();
        let end = src.find("-- migrate:down").unwrap();
        let s = split(src, start..end, Dialect::Postgres);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].span.start, start);
    }

    #[test]
    fn empty_and_comment_only_input() {
        assert!(texts("", Dialect::Postgres).is_empty());
        assert!(texts("-- nothing\n/* here */ ;;", Dialect::Postgres).is_empty());
    }
}
