//! The statements inside procedural bodies: PL/pgSQL (`DO` blocks and `LANGUAGE plpgsql`
//! routines), SQL-language PostgreSQL routines, and MySQL / SQLite compound statements (stored
//! procedures, functions, triggers: `BEGIN … END`).
//!
//! The control structures are parsed, not skipped: `DECLARE` sections, nested blocks, labels,
//! `IF … ELSIF|ELSEIF … ELSE … END IF`, `CASE`, `LOOP`, `WHILE`, `FOR … IN query|range LOOP`,
//! `FOREACH`, `REPEAT`, exception handlers, `RAISE`, `PERFORM`, `GET DIAGNOSTICS`, cursors,
//! assignments. Conditions and expressions are checked by sqlparser. Every SQL statement found
//! is returned as a statement nested in the routine (a `SELECT … INTO var` is read without its
//! `INTO` target), dynamic SQL whose text can be known (`EXECUTE format(…)`, MySQL `PREPARE …
//! FROM @var`) as the statements it produces, marked as dynamic; what does not fit the grammar
//! is returned as an unknown statement, so it is reported and gates like a risk.

use super::dynamic::{self, Env, Text};
use super::fallback::{T, tokens};
use super::ir::{Parser as How, Span, Statement};
use super::lexer::TokKind;
use super::{Dialect, parse_as, parse_detached};
use std::collections::HashMap;

/// How a body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// PL/pgSQL (`DO` blocks, `LANGUAGE plpgsql`).
    Plpgsql,
    /// A list of SQL statements (`LANGUAGE sql` routines).
    Sql,
    /// A MySQL/MariaDB or SQLite compound statement (`BEGIN … END`) or a single statement.
    Compound,
}

/// The statements of a body at `body` (file offsets), nested in statement `parent`.
pub fn body_statements(
    file: &str,
    body: Span,
    lang: Lang,
    dialect: Dialect,
    parent: usize,
) -> Vec<Statement> {
    let mut out = match lang {
        Lang::Sql => super::parse_section(file, body.start..body.end, dialect),
        Lang::Plpgsql | Lang::Compound => {
            let toks = tokens(file, body.start, body.end, dialect);
            let mut b = Body {
                file,
                toks: &toks,
                i: 0,
                dialect,
                out: Vec::new(),
                env: Env::new(),
                prepared: HashMap::new(),
                compound: lang == Lang::Compound,
                locals: Default::default(),
            };
            b.body();
            b.out
        }
    };
    for s in &mut out {
        s.nested_in = Some(parent);
    }
    out
}

struct Body<'a> {
    file: &'a str,
    toks: &'a [T],
    i: usize,
    dialect: Dialect,
    out: Vec<Statement>,
    /// Variables with known text values, for dynamic SQL.
    env: Env,
    /// MySQL prepared statements: name → candidate texts (None: unknown).
    prepared: HashMap<String, Option<Vec<Text>>>,
    /// MySQL/SQLite syntax rather than PL/pgSQL.
    compound: bool,
    /// Local variables declared in a MySQL body (lower case).
    locals: std::collections::HashSet<String>,
}

/// The options of `RAISE … USING`.
const RAISE_OPTIONS: &[&str] = &[
    "message",
    "detail",
    "hint",
    "errcode",
    "column",
    "constraint",
    "datatype",
    "table",
    "schema",
];

/// The items `GET [CURRENT|STACKED] DIAGNOSTICS` can read.
const DIAGNOSTICS_ITEMS: &[&str] = &[
    "row_count",
    "pg_context",
    "pg_routine_oid",
    "returned_sqlstate",
    "column_name",
    "constraint_name",
    "pg_datatype_name",
    "message_text",
    "table_name",
    "schema_name",
    "pg_exception_detail",
    "pg_exception_hint",
    "pg_exception_context",
];

/// PostgreSQL condition names (Appendix A, "PostgreSQL Error Codes") usable in `RAISE` and
/// `EXCEPTION WHEN`: PL/pgSQL refuses a name it does not know when the block is compiled.
const CONDITIONS: &[&str] = &[
    "others",
    "successful_completion",
    "warning",
    "no_data",
    "sql_statement_not_yet_complete",
    "connection_exception",
    "triggered_action_exception",
    "feature_not_supported",
    "invalid_transaction_initiation",
    "locator_exception",
    "invalid_grantor",
    "invalid_role_specification",
    "diagnostics_exception",
    "case_not_found",
    "cardinality_violation",
    "data_exception",
    "array_subscript_error",
    "character_not_in_repertoire",
    "datetime_field_overflow",
    "division_by_zero",
    "error_in_assignment",
    "escape_character_conflict",
    "indicator_overflow",
    "interval_field_overflow",
    "invalid_argument_for_logarithm",
    "invalid_argument_for_power_function",
    "invalid_character_value_for_cast",
    "invalid_datetime_format",
    "invalid_escape_character",
    "invalid_parameter_value",
    "invalid_regular_expression",
    "invalid_text_representation",
    "invalid_time_zone_displacement_value",
    "invalid_json_text",
    "null_value_not_allowed",
    "numeric_value_out_of_range",
    "string_data_length_mismatch",
    "string_data_right_truncation",
    "substring_error",
    "trim_error",
    "unterminated_c_string",
    "zero_length_character_string",
    "floating_point_exception",
    "invalid_binary_representation",
    "datatype_mismatch",
    "integrity_constraint_violation",
    "restrict_violation",
    "not_null_violation",
    "foreign_key_violation",
    "unique_violation",
    "check_violation",
    "exclusion_violation",
    "invalid_cursor_state",
    "invalid_transaction_state",
    "active_sql_transaction",
    "read_only_sql_transaction",
    "no_active_sql_transaction",
    "in_failed_sql_transaction",
    "invalid_sql_statement_name",
    "triggered_data_change_violation",
    "invalid_authorization_specification",
    "invalid_password",
    "dependent_privilege_descriptors_still_exist",
    "dependent_objects_still_exist",
    "invalid_transaction_termination",
    "sql_routine_exception",
    "function_executed_no_return_statement",
    "modifying_sql_data_not_permitted",
    "prohibited_sql_statement_attempted",
    "reading_sql_data_not_permitted",
    "invalid_cursor_name",
    "external_routine_exception",
    "external_routine_invocation_exception",
    "savepoint_exception",
    "invalid_catalog_name",
    "invalid_schema_name",
    "transaction_rollback",
    "serialization_failure",
    "deadlock_detected",
    "transaction_integrity_constraint_violation",
    "statement_completion_unknown",
    "syntax_error_or_access_rule_violation",
    "syntax_error",
    "insufficient_privilege",
    "cannot_coerce",
    "grouping_error",
    "windowing_error",
    "invalid_recursion",
    "invalid_foreign_key",
    "invalid_name",
    "name_too_long",
    "reserved_name",
    "datatype_mismatch",
    "indeterminate_datatype",
    "collation_mismatch",
    "indeterminate_collation",
    "wrong_object_type",
    "undefined_column",
    "undefined_function",
    "undefined_table",
    "undefined_parameter",
    "undefined_object",
    "duplicate_column",
    "duplicate_cursor",
    "duplicate_database",
    "duplicate_function",
    "duplicate_prepared_statement",
    "duplicate_schema",
    "duplicate_table",
    "duplicate_alias",
    "duplicate_object",
    "ambiguous_column",
    "ambiguous_function",
    "ambiguous_parameter",
    "ambiguous_alias",
    "invalid_column_reference",
    "invalid_column_definition",
    "invalid_cursor_definition",
    "invalid_database_definition",
    "invalid_function_definition",
    "invalid_prepared_statement_definition",
    "invalid_schema_definition",
    "invalid_table_definition",
    "invalid_object_definition",
    "with_check_option_violation",
    "insufficient_resources",
    "disk_full",
    "out_of_memory",
    "too_many_connections",
    "program_limit_exceeded",
    "statement_too_complex",
    "too_many_columns",
    "too_many_arguments",
    "object_not_in_prerequisite_state",
    "object_in_use",
    "cant_change_runtime_param",
    "lock_not_available",
    "operator_intervention",
    "query_canceled",
    "admin_shutdown",
    "crash_shutdown",
    "cannot_connect_now",
    "database_dropped",
    "system_error",
    "io_error",
    "config_file_error",
    "fdw_error",
    "plpgsql_error",
    "raise_exception",
    "no_data_found",
    "too_many_rows",
    "assert_failure",
    "internal_error",
    "data_corrupted",
    "index_corrupted",
];

/// `cond [OR cond …]` of an exception handler: condition names or `SQLSTATE 'xxxxx'`.
fn conditions_ok(toks: &[T]) -> bool {
    let mut i = 0;
    loop {
        match toks.get(i) {
            Some(t) if t.kind == TokKind::Word && t.norm == "sqlstate" => {
                if !toks.get(i + 1).is_some_and(|t| t.kind == TokKind::Str) {
                    return false;
                }
                i += 2;
            }
            Some(t) if t.kind == TokKind::Word && CONDITIONS.contains(&t.norm.as_str()) => i += 1,
            _ => return false,
        }
        match toks.get(i) {
            None => return true,
            Some(t) if t.kind == TokKind::Word && t.norm == "or" => i += 1,
            _ => return false,
        }
    }
}

/// Words that end a statement list.
const PG_ENDERS: &[&str] = &["end", "elsif", "elseif", "else", "exception", "when"];
const MY_ENDERS: &[&str] = &["end", "elseif", "else", "when", "until"];

impl<'a> Body<'a> {
    fn peek(&self) -> Option<&'a T> {
        self.toks.get(self.i)
    }
    fn peek_at(&self, k: usize) -> Option<&'a T> {
        self.toks.get(self.i + k)
    }
    fn is(&self, w: &str) -> bool {
        self.peek()
            .is_some_and(|t| t.kind == TokKind::Word && t.norm == w)
    }
    fn kw(&mut self, w: &str) -> bool {
        if self.is(w) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn punct(&mut self, p: &str) -> bool {
        if self
            .peek()
            .is_some_and(|t| t.kind == TokKind::Punct && t.norm == p)
        {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn span(&self, a: usize, b: usize) -> Span {
        if a >= b || a >= self.toks.len() {
            let at = self.toks.get(a.min(self.toks.len().saturating_sub(1)));
            return at.map_or(Span::default(), |t| Span::new(t.start, t.start));
        }
        Span::new(self.toks[a].start, self.toks[b - 1].end)
    }
    fn text(&self, a: usize, b: usize) -> &'a str {
        let s = self.span(a, b);
        &self.file[s.start..s.end]
    }

    /// Index of the next `;` at parenthesis depth 0 (or the end).
    fn semicolon(&self) -> usize {
        let mut depth = 0i32;
        let mut j = self.i;
        while j < self.toks.len() {
            let t = &self.toks[j];
            if t.kind == TokKind::Punct {
                match t.norm.as_str() {
                    "(" | "[" => depth += 1,
                    ")" | "]" => depth -= 1,
                    ";" if depth <= 0 => return j,
                    _ => {}
                }
            }
            j += 1;
        }
        j
    }

    /// Records tokens `a..b` as a statement migsafe could not read.
    fn unknown(&mut self, a: usize, b: usize, why: &str) {
        let span = self.span(a, b.max(a + 1).min(self.toks.len()));
        let mut s = super::unknown_statement(self.file, span);
        s.parse_error = Some(why.to_string());
        self.out.push(s);
    }

    /// Records tokens `a..b` (a condition or loop header) as unknown and goes on after them, so
    /// the statements of the structure are still read.
    fn header_unknown(&mut self, a: usize, b: usize, why: &str) {
        self.unknown(a, b, why);
        self.i = b;
    }

    /// Skips to after the next `;` recording what was skipped as unknown.
    fn bad_statement(&mut self, a: usize, why: &str) {
        self.i = a;
        let end = self.semicolon();
        self.unknown(a, end, why);
        self.i = (end + 1).min(self.toks.len());
    }

    /// Consumes a `;` that ends a statement; reports a problem when it is missing.
    fn end_statement(&mut self, a: usize) -> bool {
        if self.punct(";") || self.i >= self.toks.len() {
            return true;
        }
        self.bad_statement(a, "unexpected text in a procedural statement");
        false
    }

    /// An expression from token `a` up to (not including) token `b`, checked by sqlparser.
    fn expr_ok(&self, a: usize, b: usize) -> bool {
        a < b && super::is_expr(self.text(a, b), self.dialect)
    }

    /// Index of the first depth-0 word among `words` at or after `self.i`, before any `;`.
    fn find_word(&self, words: &[&str]) -> Option<usize> {
        let mut depth = 0i32;
        let mut case_depth = 0i32;
        for j in self.i..self.toks.len() {
            let t = &self.toks[j];
            match (t.kind, t.norm.as_str()) {
                (TokKind::Punct, "(" | "[") => depth += 1,
                (TokKind::Punct, ")" | "]") => depth -= 1,
                (TokKind::Punct, ";") if depth <= 0 => return None,
                (TokKind::Word, "case") if depth == 0 => case_depth += 1,
                (TokKind::Word, "end") if depth == 0 && case_depth > 0 => case_depth -= 1,
                (TokKind::Word, w) if depth == 0 && case_depth == 0 && words.contains(&w) => {
                    return Some(j);
                }
                _ => {}
            }
        }
        None
    }

    // ---------------------------------------------------------------------------------------

    fn body(&mut self) {
        while self.i < self.toks.len() {
            let before = self.i;
            if self.compound {
                self.statement();
            } else {
                self.pg_label();
                if self.is("declare") || self.is("begin") {
                    self.pg_block();
                } else {
                    self.statement();
                }
            }
            if self.i == before {
                // nothing consumed: record the rest and stop
                let end = self.toks.len();
                self.unknown(before, end, "unexpected text in a procedural body");
                self.i = end;
            }
        }
    }

    /// `<<label>>` (PL/pgSQL).
    fn pg_label(&mut self) {
        let is_open = |t: Option<&T>| t.is_some_and(|t| t.kind == TokKind::Punct && t.norm == "<");
        let is_close = |t: Option<&T>| t.is_some_and(|t| t.kind == TokKind::Punct && t.norm == ">");
        if is_open(self.peek())
            && is_open(self.peek_at(1))
            && self
                .peek_at(2)
                .is_some_and(|t| matches!(t.kind, TokKind::Word | TokKind::QuotedIdent))
            && is_close(self.peek_at(3))
            && is_close(self.peek_at(4))
        {
            self.i += 5;
        }
    }

    /// `label:` (MySQL).
    fn my_label(&mut self) {
        if self
            .peek()
            .is_some_and(|t| matches!(t.kind, TokKind::Word | TokKind::QuotedIdent))
            && self
                .peek_at(1)
                .is_some_and(|t| t.kind == TokKind::Punct && t.norm == ":")
            && self.peek_at(2).is_none_or(|t| t.norm != "=")
        {
            self.i += 2;
        }
    }

    /// `[DECLARE decl…] BEGIN stmt… [EXCEPTION handler…] END [label] [;]`
    fn pg_block(&mut self) {
        if self.kw("declare") {
            while self.i < self.toks.len() && !self.is("begin") {
                if self.is("declare") {
                    self.i += 1;
                    continue;
                }
                self.pg_declaration();
            }
        }
        let a = self.i;
        if !self.kw("begin") {
            self.bad_statement(a, "expected BEGIN");
            return;
        }
        self.statements(PG_ENDERS);
        if self.kw("exception") {
            while self.kw("when") {
                let a = self.i;
                match self.find_word(&["then"]) {
                    Some(t) => {
                        if !conditions_ok(&self.toks[a..t]) {
                            self.header_unknown(a, t, "unknown exception condition");
                        }
                        self.i = t + 1
                    }
                    None => {
                        self.bad_statement(a, "expected THEN in an exception handler");
                        return;
                    }
                }
                self.statements(PG_ENDERS);
            }
        }
        let a = self.i;
        if !self.kw("end") {
            self.bad_statement(a, "expected END");
            return;
        }
        // END [label]
        if self
            .peek()
            .is_some_and(|t| matches!(t.kind, TokKind::Word | TokKind::QuotedIdent))
            && !self
                .peek()
                .is_some_and(|t| t.norm == "if" || t.norm == "loop" || t.norm == "case")
        {
            self.i += 1;
        }
        self.punct(";");
    }

    /// `name [CONSTANT] type [COLLATE c] [NOT NULL] [{DEFAULT | := | =} expr];`, `name ALIAS FOR
    /// x;`, `name [[NO] SCROLL] CURSOR [(args)] {FOR | IS} query;`
    fn pg_declaration(&mut self) {
        let a = self.i;
        let end = self.semicolon();
        let Some(name) = self
            .peek()
            .filter(|t| matches!(t.kind, TokKind::Word | TokKind::QuotedIdent))
            .map(|t| t.norm.clone())
        else {
            self.bad_statement(a, "expected a variable declaration");
            return;
        };
        self.i += 1;
        if self.kw("alias") {
            self.i = end;
            self.end_statement(a);
            return;
        }
        self.kw("constant");
        let cursor = self.find_word(&["cursor"]);
        if let Some(c) = cursor {
            // the query after FOR/IS runs when the cursor is opened
            self.i = c + 1;
            if self.punct("(") {
                let mut depth = 1;
                while self.i < end && depth > 0 {
                    match self.toks[self.i].norm.as_str() {
                        "(" => depth += 1,
                        ")" => depth -= 1,
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            if !(self.kw("for") || self.kw("is")) {
                self.bad_statement(a, "expected FOR or IS in a cursor declaration");
                return;
            }
            self.sql_statement(self.i, end);
            self.i = end;
            self.end_statement(a);
            return;
        }
        let default_at = (self.i..end).find(|&j| {
            let t = &self.toks[j];
            (t.kind == TokKind::Word && t.norm == "default")
                || (t.kind == TokKind::Punct && (t.norm == "=" || t.norm == ":"))
        });
        let type_end = default_at.unwrap_or(end);
        // the type, with optional COLLATE and NOT NULL
        let mut te = type_end;
        if te >= 2 && self.toks[te - 1].norm == "null" && self.toks[te - 2].norm == "not" {
            te -= 2;
        }
        let ty_text = self.text(self.i, te);
        let ty_text = match ty_text.to_ascii_lowercase().find(" collate ") {
            Some(k) => &ty_text[..k],
            None => ty_text,
        };
        let type_ok = !ty_text.is_empty()
            && (super::is_type(ty_text, self.dialect)
                || ty_text.ends_with("%type")
                || ty_text.ends_with("%rowtype")
                || ty_text.eq_ignore_ascii_case("record"));
        if !type_ok {
            self.bad_statement(a, "expected a type in a variable declaration");
            return;
        }
        if let Some(d) = default_at {
            let mut e = d + 1;
            if self.toks[d].norm == ":" {
                // `:=`
                if self.toks.get(e).is_none_or(|t| t.norm != "=") {
                    self.bad_statement(a, "expected := in a variable declaration");
                    return;
                }
                e += 1;
            }
            if !self.expr_ok(e, end) {
                self.bad_statement(a, "the default of a variable is not an expression");
                return;
            }
            self.assign(&name, e, end);
        }
        self.i = end;
        self.end_statement(a);
    }

    /// Remembers what variable `name` holds after `name := <tokens a..b>`.
    fn assign(&mut self, name: &str, a: usize, b: usize) {
        match dynamic::eval_text(self.text(a, b), &self.env, self.dialect) {
            Some(v) if v.iter().all(|t| t.known > 0) => {
                self.env.insert(name.to_ascii_lowercase(), v);
            }
            _ => {
                self.env.remove(&name.to_ascii_lowercase());
            }
        }
    }

    /// Statements until one of `enders` (not consumed) or the end.
    fn statements(&mut self, enders: &[&str]) {
        while let Some(t) = self.peek() {
            if t.kind == TokKind::Word && enders.contains(&t.norm.as_str()) {
                // `END IF`, `END LOOP`, … belong to the caller; `ELSE`/`WHEN` too
                return;
            }
            let before = self.i;
            self.statement();
            if self.i == before {
                self.bad_statement(before, "unexpected text in a procedural body");
            }
        }
    }

    fn statement(&mut self) {
        if self.compound {
            self.my_label();
        } else {
            self.pg_label();
        }
        let a = self.i;
        let Some(t) = self.peek() else { return };
        if t.kind == TokKind::Punct && t.norm == ";" {
            self.i += 1;
            return;
        }
        if !matches!(t.kind, TokKind::Word | TokKind::QuotedIdent) {
            return self.bad_statement(a, "unexpected text in a procedural body");
        }
        if self.compound {
            self.my_statement(a, t)
        } else {
            self.pg_statement(a, t)
        }
    }

    // ---------------------------------------------------------------------------------------
    // PL/pgSQL

    fn pg_statement(&mut self, a: usize, t: &T) {
        match t.norm.as_str() {
            "declare" | "begin" => self.pg_block(),
            "if" => self.if_statement(&["elsif", "elseif"], PG_ENDERS),
            "case" => self.case_statement("END", PG_ENDERS),
            "loop" => {
                self.i += 1;
                self.loop_body(&["loop"], PG_ENDERS);
            }
            "while" => self.while_loop("loop", "loop", PG_ENDERS),
            "for" => self.pg_for(),
            "foreach" => {
                self.i += 1;
                let Some(l) = self.find_word(&["loop"]) else {
                    return self.bad_statement(a, "expected LOOP after FOREACH");
                };
                let Some(arr) = (self.i..l).find(|&j| self.toks[j].norm == "array") else {
                    return self.bad_statement(a, "expected IN ARRAY in FOREACH");
                };
                if !self.expr_ok(arr + 1, l) {
                    self.header_unknown(a, l, "the FOREACH array is not an expression");
                }
                self.i = l + 1;
                self.loop_body(&["loop"], PG_ENDERS);
            }
            "exit" | "continue" => {
                self.i += 1;
                if self
                    .peek()
                    .is_some_and(|t| t.kind == TokKind::Word && t.norm != "when")
                {
                    self.i += 1;
                }
                if self.kw("when") {
                    let end = self.semicolon();
                    if !self.expr_ok(self.i, end) {
                        return self.bad_statement(a, "the WHEN condition is not an expression");
                    }
                    self.i = end;
                }
                self.end_statement(a);
            }
            "return" => {
                self.i += 1;
                let end = self.semicolon();
                if self.kw("query") {
                    if self.kw("execute") {
                        self.execute(a, self.i, end);
                    } else {
                        self.sql_statement(self.i, end);
                    }
                } else {
                    self.kw("next");
                    if self.i < end && !self.expr_ok(self.i, end) {
                        return self
                            .bad_statement(a, "RETURN of something that is not an expression");
                    }
                }
                self.i = end;
                self.end_statement(a);
            }
            "raise" => self.pg_raise(),
            "assert" => {
                self.i += 1;
                let end = self.semicolon();
                let comma = self.top_comma(self.i, end);
                let cond_end = comma.unwrap_or(end);
                if !self.expr_ok(self.i, cond_end)
                    || comma.is_some_and(|c| !self.expr_ok(c + 1, end))
                {
                    return self.bad_statement(a, "ASSERT of something that is not an expression");
                }
                self.i = end;
                self.end_statement(a);
            }
            "null" => {
                self.i += 1;
                self.end_statement(a);
            }
            "perform" => {
                let end = self.semicolon();
                // PERFORM query is SELECT query with the result thrown away (same length)
                self.sql_rewritten(a, end, &[(a, "SELECT ")], &[]);
                self.i = end;
                self.end_statement(a);
            }
            "get" => {
                self.i += 1;
                let _ = self.kw("current") || self.kw("stacked");
                if !self.kw("diagnostics") {
                    return self.bad_statement(a, "expected DIAGNOSTICS after GET");
                }
                let end = self.semicolon();
                // target {= | :=} ITEM [, …]
                let ok = self.text(self.i, end).split(',').all(|item| {
                    let item = item.trim();
                    let (l, r) = match item.split_once(":=").or_else(|| item.split_once('=')) {
                        Some(x) => x,
                        None => return false,
                    };
                    !l.trim().is_empty()
                        && DIAGNOSTICS_ITEMS.contains(&r.trim().to_ascii_lowercase().as_str())
                });
                if !ok {
                    return self.bad_statement(a, "GET DIAGNOSTICS items not understood");
                }
                self.i = end;
                self.end_statement(a);
            }
            "open" => {
                self.i += 1;
                let end = self.semicolon();
                if let Some(f) = self.find_word(&["for"]) {
                    self.i = f + 1;
                    if self.kw("execute") {
                        self.execute(a, self.i, end);
                    } else {
                        self.sql_statement(self.i, end);
                    }
                }
                self.i = end;
                self.end_statement(a);
            }
            "fetch" | "move" | "close" => {
                self.i = self.semicolon();
                self.end_statement(a);
            }
            "execute" => {
                self.i += 1;
                let end = self.semicolon();
                self.execute(a, self.i, end);
                self.i = end;
                self.end_statement(a);
            }
            _ => {
                let end = self.semicolon();
                if let Some(target_end) = self.assignment_target() {
                    // target := expr
                    let name = self.text(a, target_end).to_string();
                    let mut e = target_end;
                    if self.toks[e].norm == ":" {
                        e += 1;
                    }
                    e += 1;
                    if !self.expr_ok(e, end) {
                        return self.bad_statement(a, "the assigned value is not an expression");
                    }
                    self.assign(&name, e, end);
                } else {
                    self.sql_statement(a, end);
                }
                self.i = end;
                self.end_statement(a);
            }
        }
    }

    /// `name`, `name.field`, `name[i]` followed by `:=` or `=`: the index of the operator.
    fn assignment_target(&self) -> Option<usize> {
        let mut j = self.i;
        let first = self.toks.get(j)?;
        if !matches!(first.kind, TokKind::Word | TokKind::QuotedIdent) {
            return None;
        }
        j += 1;
        loop {
            let t = self.toks.get(j)?;
            match (t.kind, t.norm.as_str()) {
                (TokKind::Punct, ".") => j += 2,
                (TokKind::Punct, "[") => {
                    while self.toks.get(j).is_some_and(|t| t.norm != "]") {
                        j += 1;
                    }
                    j += 1;
                }
                (TokKind::Punct, ":") if self.toks.get(j + 1).is_some_and(|t| t.norm == "=") => {
                    return Some(j);
                }
                (TokKind::Punct, "=") => return Some(j),
                _ => return None,
            }
        }
    }

    fn top_comma(&self, a: usize, b: usize) -> Option<usize> {
        let mut depth = 0i32;
        (a..b).find(|&j| {
            let t = &self.toks[j];
            match t.norm.as_str() {
                "(" | "[" => depth += 1,
                ")" | "]" => depth -= 1,
                "," if depth == 0 && t.kind == TokKind::Punct => return true,
                _ => {}
            }
            false
        })
    }

    /// `IF cond THEN … {ELSIF|ELSEIF cond THEN …} [ELSE …] END IF;` (`elsif` lists the words
    /// the dialect accepts for ELSIF).
    fn if_statement(&mut self, elsif: &[&str], enders: &[&str]) {
        let a = self.i;
        self.i += 1;
        loop {
            let Some(then) = self.find_word(&["then"]) else {
                return self.bad_statement(a, "expected THEN after IF");
            };
            if !self.expr_ok(self.i, then) {
                self.header_unknown(self.i, then, "the IF condition is not an expression");
            }
            self.i = then + 1;
            self.statements(enders);
            if elsif.iter().any(|w| self.kw(w)) {
                continue;
            }
            break;
        }
        if self.kw("else") {
            self.statements(enders);
        }
        let e = self.i;
        if !(self.kw("end") && self.kw("if")) {
            return self.bad_statement(e, "expected END IF");
        }
        self.end_statement(a);
    }

    /// `WHILE cond LOOP … END LOOP;` (PL/pgSQL), `WHILE cond DO … END WHILE;` (MySQL).
    fn while_loop(&mut self, opener: &str, closer: &str, enders: &[&str]) {
        let a = self.i;
        self.i += 1;
        let Some(l) = self.find_word(&[opener]) else {
            return self.bad_statement(a, "expected LOOP or DO after WHILE");
        };
        if !self.expr_ok(self.i, l) {
            self.header_unknown(self.i, l, "the WHILE condition is not an expression");
        }
        self.i = l + 1;
        self.loop_body(&[closer], enders);
    }

    /// `CASE [expr] WHEN … THEN … [ELSE …] END CASE;`
    fn case_statement(&mut self, _end: &str, enders: &[&str]) {
        let a = self.i;
        self.i += 1;
        if let Some(w) = self.find_word(&["when"]) {
            if w > self.i && !self.expr_ok(self.i, w) {
                return self.bad_statement(a, "the CASE operand is not an expression");
            }
            self.i = w;
        }
        while self.kw("when") {
            let Some(then) = self.find_word(&["then"]) else {
                return self.bad_statement(a, "expected THEN in CASE");
            };
            let ok = self
                .text(self.i, then)
                .split(',')
                .all(|part| super::is_expr(part, self.dialect));
            if !ok {
                return self.bad_statement(a, "a WHEN value is not an expression");
            }
            self.i = then + 1;
            self.statements(enders);
        }
        if self.kw("else") {
            self.statements(enders);
        }
        let e = self.i;
        if !(self.kw("end") && self.kw("case")) {
            return self.bad_statement(e, "expected END CASE");
        }
        self.end_statement(a);
    }

    /// The statements of a loop and its `END LOOP [label];` (`END WHILE`, `END REPEAT` in MySQL).
    fn loop_body(&mut self, closers: &[&str], enders: &[&str]) {
        let a = self.i;
        self.statements(enders);
        let e = self.i;
        if !self.kw("end") || !closers.iter().any(|c| self.kw(c)) {
            return self.bad_statement(e.max(a), "expected END LOOP");
        }
        if self
            .peek()
            .is_some_and(|t| matches!(t.kind, TokKind::Word | TokKind::QuotedIdent))
        {
            self.i += 1;
        }
        self.end_statement(e);
    }

    /// `FOR target IN [REVERSE] a .. b [BY c] LOOP`, `FOR target IN query LOOP`, `FOR target IN
    /// EXECUTE expr [USING …] LOOP`, `FOR rec IN cursor [(args)] LOOP`.
    fn pg_for(&mut self) {
        let a = self.i;
        self.i += 1;
        let Some(in_at) = self.find_word(&["in"]) else {
            return self.bad_statement(a, "expected IN after FOR");
        };
        let Some(l) = self.find_word(&["loop"]) else {
            return self.bad_statement(a, "expected LOOP after FOR");
        };
        self.i = in_at + 1;
        self.kw("reverse");
        let q = self.i;
        let first = self.peek().map(|t| t.norm.clone()).unwrap_or_default();
        // `a .. b`: the lexer may read `1..10` as one number token, so look at the text
        let header = self.text(q, l);
        let is_range = header.contains("..");
        if first == "execute" {
            self.execute(a, q + 1, l);
        } else if matches!(first.as_str(), "select" | "with" | "values" | "table" | "(")
            && !is_range
        {
            self.sql_statement(q, l);
        } else if is_range {
            let (from, rest) = header.split_once("..").unwrap_or((header, ""));
            let lower = rest.to_ascii_lowercase();
            let (to, by) = match lower.find(" by ") {
                Some(k) => (&rest[..k], Some(&rest[k + 4..])),
                None => (rest, None),
            };
            let ok = super::is_expr(from, self.dialect)
                && super::is_expr(to, self.dialect)
                && by.is_none_or(|b| super::is_expr(b, self.dialect));
            if !ok {
                self.header_unknown(a, l, "the FOR range is not understood");
            }
        } else if !self.expr_ok(q, l) {
            // a cursor with arguments reads like a function call
            self.header_unknown(a, l, "the FOR loop source is not understood");
        }
        self.i = l + 1;
        self.loop_body(&["loop"], PG_ENDERS);
    }

    /// `RAISE [level] ['format' [, expr…]] [USING option = expr, …];` or `RAISE condition …`.
    fn pg_raise(&mut self) {
        let a = self.i;
        self.i += 1;
        let end = self.semicolon();
        let _ = ["debug", "log", "info", "notice", "warning", "exception"]
            .iter()
            .any(|l| self.kw(l));
        let using = self.find_word(&["using"]).filter(|&u| u < end);
        let args_end = using.unwrap_or(end);
        let args = self.text(self.i, args_end);
        let ok_args = args.is_empty()
            || self.peek().is_some_and(|t| t.kind == TokKind::Str)
                && super::is_expr_list(args, self.dialect)
            || (args_end == self.i + 1
                && self.peek().is_some_and(|t| {
                    t.kind == TokKind::Word && CONDITIONS.contains(&t.norm.as_str())
                }))
            || self.kw_sqlstate(args_end);
        let ok_using = using.is_none_or(|u| {
            self.text(u + 1, end).split(',').all(|opt| {
                opt.split_once('=').is_some_and(|(k, v)| {
                    RAISE_OPTIONS.contains(&k.trim().to_ascii_lowercase().as_str())
                        && super::is_expr(v, self.dialect)
                })
            })
        });
        if !(ok_args && ok_using) {
            return self.bad_statement(a, "RAISE not understood");
        }
        self.i = end;
        self.end_statement(a);
    }

    fn kw_sqlstate(&self, end: usize) -> bool {
        self.peek().is_some_and(|t| t.norm == "sqlstate")
            && self
                .toks
                .get(self.i + 1)
                .is_some_and(|t| t.kind == TokKind::Str)
            && self.i + 2 == end
    }

    // ---------------------------------------------------------------------------------------
    // MySQL / SQLite compound statements

    fn my_statement(&mut self, a: usize, t: &T) {
        match t.norm.as_str() {
            "begin" => {
                self.i += 1;
                self.kws_not_atomic();
                self.statements(MY_ENDERS);
                let e = self.i;
                if !self.kw("end") {
                    return self.bad_statement(e, "expected END");
                }
                if self
                    .peek()
                    .is_some_and(|t| matches!(t.kind, TokKind::Word | TokKind::QuotedIdent))
                    && !self.is("if")
                {
                    self.i += 1;
                }
                self.punct(";");
            }
            "declare" => self.my_declare(),
            "if" => self.if_statement(&["elseif"], MY_ENDERS),
            "case" => self.case_statement("END", MY_ENDERS),
            "loop" => {
                self.i += 1;
                self.loop_body(&["loop"], MY_ENDERS);
            }
            "while" => self.while_loop("do", "while", MY_ENDERS),
            "repeat" => {
                self.i += 1;
                self.statements(MY_ENDERS);
                if !self.kw("until") {
                    return self.bad_statement(a, "expected UNTIL in REPEAT");
                }
                let Some(e) = self.find_word(&["end"]) else {
                    return self.bad_statement(a, "expected END REPEAT");
                };
                if !self.expr_ok(self.i, e) {
                    return self.bad_statement(a, "the UNTIL condition is not an expression");
                }
                self.i = e;
                self.loop_body(&["repeat"], MY_ENDERS);
            }
            "leave" | "iterate" => {
                self.i += 1;
                if self
                    .peek()
                    .is_some_and(|t| matches!(t.kind, TokKind::Word | TokKind::QuotedIdent))
                {
                    self.i += 1;
                }
                self.end_statement(a);
            }
            "return" => {
                self.i += 1;
                let end = self.semicolon();
                if !self.expr_ok(self.i, end) {
                    return self.bad_statement(a, "RETURN of something that is not an expression");
                }
                self.i = end;
                self.end_statement(a);
            }
            "open" | "fetch" | "close" => {
                self.i = self.semicolon();
                self.end_statement(a);
            }
            "signal" | "resignal" => {
                self.i = self.semicolon();
                self.end_statement(a);
            }
            "set" if self.my_set_variables(a) => {}
            "prepare" => self.my_prepare(a),
            "execute" => self.my_execute(a),
            "deallocate" | "drop" if self.is_deallocate() => {
                self.i = self.semicolon();
                self.end_statement(a);
            }
            _ => {
                let end = self.semicolon();
                self.sql_statement(a, end);
                self.i = end;
                self.end_statement(a);
            }
        }
    }

    fn kws_not_atomic(&mut self) {
        let save = self.i;
        if !(self.kw("not") && self.kw("atomic")) {
            self.i = save;
        }
    }

    fn is_deallocate(&self) -> bool {
        self.peek_at(1).is_some_and(|t| t.norm == "prepare")
    }

    /// `DECLARE v[, v…] type [DEFAULT expr];`, `DECLARE c CONDITION FOR …;`,
    /// `DECLARE {CONTINUE|EXIT|UNDO} HANDLER FOR … statement`, `DECLARE c CURSOR FOR query;`
    fn my_declare(&mut self) {
        let a = self.i;
        self.i += 1;
        if matches!(
            self.peek().map(|t| t.norm.as_str()),
            Some("continue" | "exit" | "undo")
        ) && self.peek_at(1).is_some_and(|t| t.norm == "handler")
        {
            self.i += 2;
            if !self.kw("for") {
                return self.bad_statement(a, "expected FOR in a handler declaration");
            }
            // the conditions: words, SQLSTATE 'x', numbers, commas, then one statement
            while let Some(t) = self.peek() {
                let cond = match t.norm.as_str() {
                    "sqlstate" | "value" | "sqlwarning" | "sqlexception" => true,
                    "not" => self.peek_at(1).is_some_and(|n| n.norm == "found"),
                    "found" => true,
                    _ => t.kind == TokKind::Number || t.kind == TokKind::Str || t.norm == ",",
                };
                if !cond {
                    break;
                }
                self.i += 1;
            }
            self.statement();
            return;
        }
        let end = self.semicolon();
        if let Some(c) = self.find_word(&["cursor"]) {
            self.i = c + 1;
            if !self.kw("for") {
                return self.bad_statement(a, "expected FOR in a cursor declaration");
            }
            self.sql_statement(self.i, end);
        } else if self.find_word(&["condition"]).is_some() {
            // DECLARE name CONDITION FOR {SQLSTATE 'x' | code}
        } else {
            // names, type, DEFAULT
            let mut names = Vec::new();
            loop {
                let Some(n) = self
                    .peek()
                    .filter(|t| matches!(t.kind, TokKind::Word | TokKind::QuotedIdent))
                else {
                    return self.bad_statement(a, "expected a variable name");
                };
                names.push(n.norm.clone());
                self.locals.insert(n.norm.to_ascii_lowercase());
                self.i += 1;
                if !self.punct(",") {
                    break;
                }
            }
            let d = self.find_word(&["default"]).unwrap_or(end);
            if !super::is_type(self.text(self.i, d), self.dialect) {
                return self.bad_statement(a, "expected a type in DECLARE");
            }
            if d < end {
                if !self.expr_ok(d + 1, end) {
                    return self.bad_statement(a, "the DEFAULT is not an expression");
                }
                for n in &names {
                    self.assign(n, d + 1, end);
                }
            }
        }
        self.i = end;
        self.end_statement(a);
    }

    /// `SET v = expr[, …]`: assignments of local (DECLAREd) or `@user` variables are tracked
    /// for dynamic SQL; a `SET` of a server setting is an SQL statement. True when handled.
    fn my_set_variables(&mut self, a: usize) -> bool {
        let end = self.semicolon();
        let stmt = parse_as(self.file, self.span(a, end), None, self.dialect, 0);
        let names: Vec<String> = stmt
            .ops
            .iter()
            .filter_map(|op| match op {
                super::ir::Op::Set { name, .. } => Some(name.to_ascii_lowercase()),
                _ => None,
            })
            .collect();
        if stmt.parser != How::Sqlparser || names.is_empty() {
            return false;
        }
        // each `name = expr` (or `:=`) at depth 0
        let mut k = a + 1;
        while k < end {
            let comma = self.top_comma(k, end).unwrap_or(end);
            if let Some(eq) = (k..comma).find(|&j| matches!(self.toks[j].norm.as_str(), "=" | ":"))
            {
                let name: String = self
                    .text(k, eq)
                    .split_whitespace()
                    .filter(|w| !matches!(w.to_ascii_lowercase().as_str(), "session" | "local"))
                    .collect::<Vec<_>>()
                    .join("")
                    .to_ascii_lowercase();
                let e = if self.toks[eq].norm == ":" {
                    eq + 2
                } else {
                    eq + 1
                };
                self.assign(&name, e, comma);
            }
            k = comma + 1;
        }
        let variables_only = names
            .iter()
            .all(|n| n.starts_with('@') || self.locals.contains(n));
        if !variables_only {
            let mut s = stmt;
            s.index = self.out.len();
            self.out.push(s);
        }
        self.i = end;
        self.end_statement(a);
        true
    }

    /// `PREPARE name FROM {@var | 'text'}`.
    fn my_prepare(&mut self, a: usize) {
        let end = self.semicolon();
        let name = self.peek_at(1).map(|t| t.norm.clone());
        let from = self.toks.get(a + 2).is_some_and(|t| t.norm == "from");
        let (Some(name), true) = (name, from) else {
            return self.bad_statement(a, "PREPARE not understood");
        };
        let src = self.text(a + 3, end).trim().to_ascii_lowercase();
        let value = if let Some(v) = self.env.get(&src.replace(' ', "")) {
            Some(v.clone())
        } else {
            dynamic::eval_text(self.text(a + 3, end), &self.env, self.dialect)
        };
        self.prepared.insert(name, value);
        self.i = end;
        self.end_statement(a);
    }

    /// `EXECUTE name [USING …]`: the prepared statement's candidate texts.
    fn my_execute(&mut self, a: usize) {
        let end = self.semicolon();
        let name = self.peek_at(1).map(|t| t.norm.clone()).unwrap_or_default();
        let how = format!(
            "EXECUTE {name} of a statement prepared from a string, line {}",
            line_of(self.file, self.toks[a].start)
        );
        let span = self.span(a, end);
        match self.prepared.get(&name).cloned() {
            Some(Some(texts)) => self.emit_dynamic(span, &texts, &how),
            _ => {
                let mut s = super::unknown_statement(self.file, span);
                s.kind = "dynamic_sql".to_string();
                s.parse_error = Some(format!(
                    "dynamic SQL: the text of prepared statement `{name}` cannot be known statically"
                ));
                self.out.push(s);
            }
        }
        self.i = end;
        self.end_statement(a);
    }

    // ---------------------------------------------------------------------------------------
    // SQL statements and dynamic SQL

    /// Tokens `a..b` are one SQL statement (PL/pgSQL's `INTO target` is blanked out).
    fn sql_statement(&mut self, a: usize, b: usize) {
        if a >= b {
            return;
        }
        // SELECT … INTO [STRICT] target[, …] FROM …, INSERT/UPDATE/DELETE … RETURNING … INTO t
        let mut blank: Vec<(usize, usize)> = Vec::new();
        if !self.compound || self.dialect == Dialect::Mysql {
            let head = self.toks[a].norm.as_str();
            let into_allowed = matches!(head, "select" | "with" | "insert" | "update" | "delete")
                || (head == "(" && self.compound);
            if into_allowed {
                let mut depth = 0i32;
                let mut j = a;
                while j < b {
                    let t = &self.toks[j];
                    match t.norm.as_str() {
                        "(" => depth += 1,
                        ")" => depth -= 1,
                        "into" if depth == 0 && t.kind == TokKind::Word => {
                            // INSERT INTO is the table, not a PL/pgSQL target
                            let insert_into = j > a && self.toks[j - 1].norm == "insert"
                                || (j > a + 1
                                    && self.toks[j - 1].norm == "ignore"
                                    && self.toks[j - 2].norm == "insert");
                            if !(insert_into
                                || (head == "insert" && blank.is_empty() && j == a + 1))
                            {
                                let mut k = j + 1;
                                if self.toks.get(k).is_some_and(|t| t.norm == "strict") {
                                    k += 1;
                                }
                                // targets: name[.field][, …]
                                loop {
                                    if !self.toks.get(k).is_some_and(|t| {
                                        matches!(t.kind, TokKind::Word | TokKind::QuotedIdent)
                                            || (t.norm == "@" && self.compound)
                                    }) {
                                        break;
                                    }
                                    if self.toks[k].norm == "@" {
                                        k += 1;
                                    }
                                    k += 1;
                                    while self.toks.get(k).is_some_and(|t| t.norm == ".")
                                        && k + 1 < b
                                    {
                                        k += 2;
                                    }
                                    if self.toks.get(k).is_some_and(|t| t.norm == ",") && k + 1 < b
                                    {
                                        k += 1;
                                    } else {
                                        break;
                                    }
                                }
                                blank.push((j, k));
                                j = k;
                                continue;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
            }
        }
        let blanks: Vec<(usize, &str)> = Vec::new();
        self.sql_rewritten(a, b, &blanks, &blank);
    }

    /// Parses tokens `a..b` with some tokens replaced by same-length text and token ranges
    /// blanked out, and records the statement.
    fn sql_rewritten(
        &mut self,
        a: usize,
        b: usize,
        replace: &[(usize, &str)],
        blank: &[(usize, usize)],
    ) {
        let span = self.span(a, b);
        let original = &self.file[span.start..span.end];
        let mut text = original.to_string();
        for &(k, with) in replace {
            let t = &self.toks[k];
            let (s, e) = (t.start - span.start, t.end - span.start);
            if with.len() == e - s {
                text.replace_range(s..e, with);
            }
        }
        for &(x, y) in blank {
            let s = self.toks[x].start - span.start;
            let e = self.toks[y - 1].end - span.start;
            let spaces = " ".repeat(e - s);
            text.replace_range(s..e, &spaces);
        }
        let rewritten = (text != original).then_some(text);
        let mut s = parse_as(self.file, span, rewritten.as_deref(), self.dialect, 0);
        s.index = self.out.len();
        self.out.push(s);
    }

    /// PL/pgSQL `EXECUTE expr [INTO [STRICT] target] [USING …]` at tokens `e..end` (statement
    /// starting at `a`).
    fn execute(&mut self, a: usize, e: usize, end: usize) {
        let save = self.i;
        self.i = e;
        let stop = self
            .find_word(&["into", "using"])
            .filter(|&k| k < end)
            .unwrap_or(end);
        self.i = save;
        let span = self.span(a, end);
        let expr = self.text(e, stop);
        let how = format!(
            "EXECUTE {} on line {}",
            shorten(expr),
            line_of(self.file, self.toks[a].start)
        );
        match dynamic::eval_text(expr, &self.env, self.dialect) {
            Some(texts) => self.emit_dynamic(span, &texts, &how),
            None => {
                let mut s = super::unknown_statement(self.file, span);
                s.kind = "dynamic_sql".to_string();
                s.parse_error = Some(
                    "dynamic SQL: the text given to EXECUTE cannot be known statically".to_string(),
                );
                self.out.push(s);
            }
        }
    }

    /// Records the statements dynamic SQL can run: one per candidate text (every branch of an
    /// IF or CASE), each parsed as if written out.
    fn emit_dynamic(&mut self, span: Span, texts: &[Text], how: &str) {
        let n = texts.len();
        for (k, t) in texts.iter().enumerate() {
            let how = if n > 1 {
                format!("{how}, branch {} of {n}", k + 1)
            } else {
                how.to_string()
            };
            if t.known == 0 {
                let mut s = super::unknown_statement(self.file, span);
                s.kind = "dynamic_sql".to_string();
                s.parse_error = Some(format!("dynamic SQL whose text cannot be known ({how})"));
                self.out.push(s);
                continue;
            }
            let (sql, how) = super::dynamic_text(&t.sql, &how, self.dialect);
            // a dynamic string may hold several statements
            let parts = super::split::split(&sql, 0..sql.len(), self.dialect);
            if parts.is_empty() {
                continue;
            }
            for part in parts {
                let text = &sql[part.span.start..part.span.end];
                let mut s = parse_detached(text, span, self.dialect);
                s.dynamic = Some(how.clone());
                if s.parser == How::None {
                    s.kind = "dynamic_sql".to_string();
                }
                self.out.push(s);
            }
        }
    }
}

fn shorten(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 60 {
        format!("{}…", one.chars().take(57).collect::<String>())
    } else {
        one
    }
}

fn line_of(file: &str, offset: usize) -> usize {
    file[..offset.min(file.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(sql: &str, lang: Lang, d: Dialect) -> Vec<Statement> {
        body_statements(sql, Span::new(0, sql.len()), lang, d, 0)
    }

    fn kinds(v: &[Statement]) -> Vec<String> {
        v.iter()
            .map(|s| {
                if s.parser == How::None {
                    format!("?{}", s.kind)
                } else {
                    s.kind.clone()
                }
            })
            .collect()
    }

    #[test]
    fn plpgsql_control_structures_parse() {
        let src = r#"
<<outer>>
DECLARE
  exec_id integer;
  status_code integer := 0;
  name text DEFAULT 'x';
  rec RECORD;
  c CURSOR FOR SELECT 1;
BEGIN
  /* iterate */ FOR rec IN SELECT * FROM execution WHERE status = 'Running'
  -- a comment between the query and LOOP
  LOOP
    IF rec.status = 'pending' THEN
      exec_status := 'Running';
    ELSEIF rec.status = 'done' THEN
      CONTINUE;
    ELSIF rec.status IS NULL THEN
      RAISE NOTICE 'null status for %', rec.id;
    ELSE
      UPDATE execution SET status = 'Done' WHERE id = rec.id;
    END IF;
  END LOOP;
  FOREACH name IN ARRAY ARRAY['a', 'b'] LOOP
    PERFORM pg_sleep(0);
  END LOOP;
  FOR i IN 1..10 BY 2 LOOP NULL; END LOOP;
  WHILE status_code < 3 LOOP status_code := status_code + 1; END LOOP;
  INSERT INTO execution (vendor_type) VALUES ('x') RETURNING id INTO exec_id;
  SELECT INTO rec * FROM execution WHERE id = exec_id;
  GET DIAGNOSTICS status_code = ROW_COUNT;
  BEGIN
    DELETE FROM t WHERE id = 1;
  EXCEPTION WHEN undefined_table THEN
    RAISE WARNING 'missing';
  END;
  ASSERT status_code > 0, 'positive';
  RETURN;
END outer;
"#;
        let out = body(src, Lang::Plpgsql, Dialect::Postgres);
        assert_eq!(
            kinds(&out),
            [
                "select", "select", "update", "select", "insert", "select", "delete"
            ],
            "{out:#?}"
        );
    }

    #[test]
    fn garbage_in_a_body_is_unknown() {
        let out = body(
            "BEGIN IFF x THEN DROP TABLE t; END IF; END",
            Lang::Plpgsql,
            Dialect::Postgres,
        );
        assert!(out.iter().any(|s| s.parser == How::None), "{out:#?}");
        let out = body(
            "DECLARE x garbage garbage garbage; BEGIN NULL; END",
            Lang::Plpgsql,
            Dialect::Postgres,
        );
        assert!(out.iter().any(|s| s.parser == How::None), "{out:#?}");
    }

    #[test]
    fn dynamic_sql_is_read_as_written_out() {
        let out = body(
            "DECLARE r record; BEGIN FOR r IN SELECT indexname FROM pg_indexes WHERE tablename = 't' LOOP EXECUTE format('DROP INDEX %I', r.indexname); END LOOP; EXECUTE 'ALTER TABLE t ' || 'DROP COLUMN c'; EXECUTE some_text; END",
            Lang::Plpgsql,
            Dialect::Postgres,
        );
        assert_eq!(
            kinds(&out),
            ["select", "drop_index", "alter_table", "?dynamic_sql"],
            "{out:#?}"
        );
        assert!(
            out[1]
                .dynamic
                .as_deref()
                .is_some_and(|d| d.contains("EXECUTE format"))
        );
        assert_eq!(out[1].sql, "DROP INDEX dynamic_name");
    }

    #[test]
    fn mysql_procedure_bodies_and_prepared_statements() {
        let src = "BEGIN
  DECLARE n int DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR SQLEXCEPTION SET n = 1;
  IF NOT EXISTS (SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_NAME = 't' AND COLUMN_NAME = 'c') THEN
    ALTER TABLE t ADD COLUMN c int;
  ELSEIF n > 0 THEN
    SET @s = CONCAT('ALTER TABLE ', 't', ' DROP COLUMN d');
    PREPARE stmt FROM @s;
    EXECUTE stmt;
    DEALLOCATE PREPARE stmt;
  END IF;
  lbl: WHILE n < 3 DO SET n = n + 1; END WHILE lbl;
END";
        let out = body(src, Lang::Compound, Dialect::Mysql);
        assert_eq!(kinds(&out), ["alter_table", "alter_table"], "{out:#?}");
        assert!(out[0].dynamic.is_none());
        assert!(out[1].dynamic.is_some() && out[1].sql.contains("DROP COLUMN d"));
    }
}
