//! SQLite's table-rebuild migration (create the new table, copy the rows, drop the old table,
//! rename) judged as one change by what it loses.

use super::*;
use crate::sql::ir::{AlterAction, ColumnDef, Constraint, ConstraintKind, ObjName, ObjectKind, Op};
use crate::sql::lexer::{Lexer, TokKind, Token};
use std::collections::{BTreeSet, HashMap};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "sqlite-table-rebuild",
        category: Category::Destructive,
        verdict: Verdict::Destructive,
        dialects: &[Dialect::Sqlite],
        summary: "A SQLite table rebuild (new table, copy, drop, rename), judged by what it loses",
        why: "SQLite cannot alter most of a table in place, so migrations rebuild it: `CREATE TABLE new_t (…)`, `INSERT INTO new_t (…) SELECT … FROM t`, `DROP TABLE t`, `ALTER TABLE new_t RENAME TO t` (or the old table renamed away first, then re-created). migsafe recognises the statements as one change, reports it on the DROP TABLE (instead of `drop-table` and `rename-table`) and compares the copy with the columns of `t` known from earlier statements and migrations: a column of `t` that no SELECT expression reads is lost (destructive); a column copied from text affinity into a numeric one converts number-like text ('007' becomes 7), and integer into REAL loses precision beyond 2^53 (destructive; SQLite does not enforce declared lengths, so narrowing varchar(n) loses nothing); a WHERE, JOIN, LIMIT or GROUP BY in the copy leaves rows out, a new NOT NULL on a column that allowed NULL or a NOT NULL column the copy does not fill makes the copy fail, and a table whose columns migsafe has not seen cannot be compared (risky). A complete rebuild is only a caution: SQLite holds the database write lock while the rows are copied. Notes say when indexes of `t` are not re-created in the file, and when foreign keys may be enforced during the DROP: with `PRAGMA foreign_keys=ON` (the default of many drivers), DROP TABLE first deletes every row, running the ON DELETE actions of referencing tables, and `PRAGMA foreign_keys=OFF` inside a transaction is ignored. Tables created earlier in the same file are not reported.",
        safer: "Follow SQLite's documented procedure: outside the transaction `PRAGMA foreign_keys=OFF;`, then `BEGIN; CREATE TABLE new_users (…every column…); INSERT INTO new_users (id, email, name) SELECT id, email, name FROM users; DROP TABLE users; ALTER TABLE new_users RENAME TO users;` re-create the indexes and triggers, `PRAGMA foreign_key_check; COMMIT;` and `PRAGMA foreign_keys=ON;`. Copy every column (or move the data you drop elsewhere first) and rename the new table rather than the old one.",
        anchors: &["atlas:DS103"],
        bad: include_str!("../../fixtures/rules/sqlite-table-rebuild/bad.sql"),
        good: include_str!("../../fixtures/rules/sqlite-table-rebuild/good.sql"),
    },
    check,
};

fn same(a: &ObjName, b: &ObjName) -> bool {
    a.key().eq_ignore_ascii_case(&b.key())
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// One `INSERT INTO new SELECT … FROM old`.
#[derive(Debug, Default)]
struct Copy {
    /// The INSERT column list, if written (lower-case).
    columns: Option<Vec<String>>,
    items: Vec<Item>,
    /// The table read from (lower-case, without schema).
    source: String,
    /// The first clause that can leave rows out.
    filter: Option<String>,
}

/// One expression of the SELECT list.
#[derive(Debug, Default)]
struct Item {
    star: bool,
    /// The column read when the expression is just a (qualified) column.
    plain: Option<String>,
    /// Every identifier in the expression (lower-case).
    names: Vec<String>,
}

fn norm(file: &str, t: &Token) -> String {
    let s = t.text(file);
    match t.kind {
        TokKind::QuotedIdent if s.len() >= 2 => lower(&s[1..s.len() - 1]),
        _ => lower(s),
    }
}

fn is_name(t: &Token) -> bool {
    matches!(t.kind, TokKind::Word | TokKind::QuotedIdent)
}

/// Reads a possibly qualified name at `*i`, returning its last part.
fn read_name(file: &str, toks: &[Token], i: &mut usize) -> Option<String> {
    let mut last = None;
    while toks.get(*i).is_some_and(is_name) {
        last = Some(norm(file, &toks[*i]));
        *i += 1;
        if toks.get(*i).is_some_and(|t| t.text(file) == ".") {
            *i += 1;
        } else {
            break;
        }
    }
    last
}

fn item(file: &str, toks: &[Token]) -> Item {
    let text: Vec<&str> = toks.iter().map(|t| t.text(file)).collect();
    let star = matches!(text.as_slice(), ["*"]) || text.ends_with(&[".", "*"]) && text.len() == 3;
    // strip a trailing alias: `expr AS alias` or `col alias`
    let n = toks.len();
    let core = if n >= 3 && toks[n - 2].is_word(file, "as") {
        &toks[..n - 2]
    } else if n == 2 && toks.iter().all(is_name) {
        &toks[..1]
    } else {
        toks
    };
    let plain = match core {
        [a] if is_name(a) => Some(norm(file, a)),
        [_, d, c] if d.text(file) == "." && is_name(c) => Some(norm(file, c)),
        [_, d1, _, d2, c] if d1.text(file) == "." && d2.text(file) == "." && is_name(c) => {
            Some(norm(file, c))
        }
        _ => None,
    };
    Item {
        star,
        plain,
        names: toks
            .iter()
            .filter(|t| is_name(t))
            .map(|t| norm(file, t))
            .collect(),
    }
}

/// Reads `INSERT [OR …] INTO t [(cols)] SELECT items FROM source …`.
fn parse_copy(file: &str, stmt: &Statement) -> Option<Copy> {
    parse_copy_text(file, stmt.span.start, stmt.span.end)
}

/// What a copy statement `file[start..end]` reads: `INSERT [OR …] INTO t [(cols)] SELECT items
/// FROM source …` or `CREATE TABLE t AS SELECT items FROM source …`, as (target, lineage).
pub(crate) fn copy_lineage(file: &str, start: usize, end: usize) -> Option<(String, Lineage)> {
    let copy = parse_copy_text(file, start, end)?;
    let toks: Vec<Token> = Lexer::new(file, start, end, Dialect::Sqlite)
        .filter(|t| !t.is_trivia())
        .collect();
    let at = toks
        .iter()
        .position(|t| t.is_word(file, "into") || t.is_word(file, "table"))?
        + 1;
    let mut i = at;
    if toks.get(i).is_some_and(|t| t.is_word(file, "if")) {
        i += 3;
    }
    let target = read_name(file, &toks, &mut i)?;
    let mut read = BTreeSet::new();
    let mut mapping = Vec::new();
    let star = copy.items.len() == 1 && copy.items[0].star;
    for (k, item) in copy.items.iter().enumerate() {
        read.extend(item.names.iter().cloned());
        if let Some(p) = &item.plain {
            let to = copy
                .columns
                .as_ref()
                .and_then(|c| c.get(k).cloned())
                .unwrap_or_else(|| p.clone());
            mapping.push((p.clone(), to));
        }
    }
    Some((
        target,
        Lineage {
            source: copy.source,
            read,
            mapping,
            star,
            filtered: copy.filter,
            source_dropped: false,
        },
    ))
}

/// Where a table's rows came from: a copy `INSERT INTO t … SELECT … FROM source` (or CREATE
/// TABLE … AS SELECT), remembered across statements and migrations so a later DROP of the source
/// knows its rows live on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lineage {
    /// The table copied from (lower-case, without schema).
    pub source: String,
    /// Every name the SELECT list reads (lower-case).
    pub read: BTreeSet<String>,
    /// Plain column copies: (source column, target column).
    pub mapping: Vec<(String, String)>,
    /// `SELECT *`: every column, under the same names.
    pub star: bool,
    /// A clause that can leave rows out (WHERE, JOIN, LIMIT, DISTINCT, …).
    pub filtered: Option<String>,
    /// The source was dropped after the copy: the copy holds its rows now.
    pub source_dropped: bool,
}

impl Lineage {
    /// The columns of `columns` (the source's, lower-case) the copy does not read.
    pub fn missing<'a>(&self, columns: impl Iterator<Item = &'a String>) -> Vec<String> {
        if self.star {
            return Vec::new();
        }
        let mut out: Vec<String> = columns
            .filter(|c| !self.read.contains(&lower(c)))
            .cloned()
            .collect();
        out.sort();
        out
    }
}

fn parse_copy_text(file: &str, start: usize, end: usize) -> Option<Copy> {
    let toks: Vec<Token> = Lexer::new(file, start, end, Dialect::Sqlite)
        .filter(|t| !t.is_trivia())
        .collect();
    let mut i = match toks.iter().position(|t| t.is_word(file, "into")) {
        Some(p) => {
            let mut i = p + 1;
            read_name(file, &toks, &mut i)?;
            if toks.get(i).is_some_and(|t| t.is_word(file, "as")) {
                i += 2;
            }
            i
        }
        // CREATE [TEMP] TABLE t AS SELECT …
        None => {
            let t = toks.iter().position(|t| t.is_word(file, "table"))?;
            if !toks.first()?.is_word(file, "create") {
                return None;
            }
            let mut i = t + 1;
            if toks.get(i).is_some_and(|t| t.is_word(file, "if")) {
                i += 3;
            }
            read_name(file, &toks, &mut i)?;
            if !toks.get(i)?.is_word(file, "as") {
                return None;
            }
            i + 1
        }
    };
    let mut copy = Copy::default();
    if toks.get(i).is_some_and(|t| t.text(file) == "(") {
        let close = toks[i..].iter().position(|t| t.text(file) == ")")? + i;
        copy.columns = Some(
            toks[i + 1..close]
                .iter()
                .filter(|t| is_name(t))
                .map(|t| norm(file, t))
                .collect(),
        );
        i = close + 1;
    }
    if !toks.get(i).is_some_and(|t| t.is_word(file, "select")) {
        return None;
    }
    i += 1;
    if toks.get(i).is_some_and(|t| t.is_word(file, "distinct")) {
        copy.filter = Some("DISTINCT".to_string());
        i += 1;
    } else if toks.get(i).is_some_and(|t| t.is_word(file, "all")) {
        i += 1;
    }
    // the select list runs to FROM at depth 0
    let mut depth = 0i32;
    let mut start = i;
    let mut from = None;
    for (k, t) in toks.iter().enumerate().skip(i) {
        match t.text(file) {
            "(" => depth += 1,
            ")" => depth -= 1,
            "," if depth == 0 => {
                copy.items.push(item(file, &toks[start..k]));
                start = k + 1;
            }
            _ if depth == 0 && t.is_word(file, "from") => {
                copy.items.push(item(file, &toks[start..k]));
                from = Some(k);
                break;
            }
            _ => {}
        }
    }
    let mut i = from? + 1;
    copy.source = read_name(file, &toks, &mut i)?;
    let mut depth = 0i32;
    for t in &toks[i..] {
        let s = t.text(file);
        match s {
            "(" => depth += 1,
            ")" => depth -= 1,
            "," if depth == 0 => {
                copy.filter
                    .get_or_insert_with(|| "a second table in FROM".to_string());
            }
            _ if depth == 0
                && t.kind == TokKind::Word
                && ["where", "join", "limit", "group", "having", "offset"]
                    .contains(&lower(s).as_str()) =>
            {
                copy.filter.get_or_insert_with(|| s.to_ascii_uppercase());
            }
            _ => {}
        }
    }
    Some(copy)
}

fn top<'a>(ctx: &Ctx<'a>, i: usize) -> Option<&'a Statement> {
    ctx.statements.get(i).filter(|s| s.nested_in.is_none())
}

fn created(stmt: &Statement) -> Option<(&ObjName, &[ColumnDef], &[Constraint])> {
    stmt.ops.iter().find_map(|op| match op {
        Op::CreateTable {
            table,
            columns,
            constraints,
            temporary: false,
            as_select: false,
            ..
        } => Some((table, columns.as_slice(), constraints.as_slice())),
        _ => None,
    })
}

/// `ALTER TABLE a RENAME TO b` → (a, b).
fn renamed(stmt: &Statement) -> Option<(&ObjName, &ObjName)> {
    stmt.ops.iter().find_map(|op| match op {
        Op::AlterTable { table, items, .. } if items.len() == 1 => match &items[0].action {
            AlterAction::RenameTable { to } => Some((table, to)),
            _ => None,
        },
        _ => None,
    })
}

fn dropped(stmt: &Statement) -> Vec<&ObjName> {
    stmt.ops
        .iter()
        .flat_map(|op| match op {
            Op::Drop {
                kind: ObjectKind::Table,
                names,
                ..
            } => names.iter().collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn inserted(stmt: &Statement) -> Option<&ObjName> {
    stmt.ops.iter().find_map(|op| match op {
        Op::Insert { table } => Some(table),
        _ => None,
    })
}

/// A recognised rebuild of one table.
struct Rebuild<'a> {
    /// The table's name before and after the rebuild.
    table: &'a ObjName,
    /// The name the old rows have when they are dropped (differs from `table` when the old table
    /// was renamed away first).
    old: &'a ObjName,
    /// The table created with the new definition.
    new: &'a ObjName,
    old_renamed_first: bool,
    create_pos: usize,
    columns: &'a [ColumnDef],
    constraints: &'a [Constraint],
    copies: Vec<Copy>,
    rename_pos: usize,
}

/// The copies `INSERT INTO new … SELECT … FROM old` between positions `from` and `to`.
fn copies(ctx: &Ctx, new: &ObjName, old: &ObjName, from: usize, to: usize) -> Vec<Copy> {
    (from + 1..to)
        .filter_map(|i| top(ctx, i))
        .filter(|s| inserted(s).is_some_and(|t| same(t, new)))
        .filter_map(|s| parse_copy(ctx.file, s))
        .filter(|c| c.source.eq_ignore_ascii_case(&old.key()))
        .collect()
}

/// The rebuild whose `DROP TABLE dropped` is the statement at position `p`, if any.
fn find_rebuild<'a>(ctx: &Ctx<'a>, p: usize, dropped: &'a ObjName) -> Option<Rebuild<'a>> {
    let stmts: &'a [Statement] = ctx.statements;
    // create X, copy X ← D, drop D, rename X → D
    let after = (p + 1..stmts.len()).find_map(|r| {
        let (from, to) = renamed(top(ctx, r)?)?;
        (same(to, dropped) && !same(from, dropped)).then_some((r, from))
    });
    if let Some((rename_pos, new)) = after
        && let Some(c) = (0..p).rev().find(|&c| {
            top(ctx, c)
                .and_then(created)
                .is_some_and(|(t, ..)| same(t, new))
        })
    {
        let (_, columns, constraints) = created(&stmts[c])?;
        let copies = copies(ctx, new, dropped, c, p);
        if !copies.is_empty() {
            return Some(Rebuild {
                table: dropped,
                old: dropped,
                new,
                old_renamed_first: false,
                create_pos: c,
                columns,
                constraints,
                copies,
                rename_pos,
            });
        }
    }
    // rename T → D, create T, copy T ← D, drop D
    let (rename_pos, table) = (0..p).rev().find_map(|r| {
        let (from, to) = renamed(top(ctx, r)?)?;
        (same(to, dropped) && !same(from, dropped)).then_some((r, from))
    })?;
    let c = (rename_pos + 1..p).find(|&c| {
        top(ctx, c)
            .and_then(created)
            .is_some_and(|(t, ..)| same(t, table))
    })?;
    let (_, columns, constraints) = created(&stmts[c])?;
    let copies = copies(ctx, table, dropped, c, p);
    (!copies.is_empty()).then_some(Rebuild {
        table,
        old: dropped,
        new: table,
        old_renamed_first: true,
        create_pos: c,
        columns,
        constraints,
        copies,
        rename_pos,
    })
}

/// Whether `stmt` is the `DROP TABLE` of a recognised SQLite table rebuild (not a loss of the
/// table: `sqlite-table-rebuild` reports it instead of `drop-table`).
pub(crate) fn is_rebuild_drop(ctx: &Ctx, stmt: &Statement) -> bool {
    ctx.dialect == Dialect::Sqlite
        && stmt.nested_in.is_none()
        && dropped(stmt)
            .into_iter()
            .any(|d| find_rebuild(ctx, ctx.position, d).is_some())
}

/// Whether `stmt` is the `ALTER TABLE … RENAME TO` of a recognised SQLite table rebuild.
pub(crate) fn is_rebuild_rename(ctx: &Ctx, stmt: &Statement) -> bool {
    if ctx.dialect != Dialect::Sqlite || stmt.nested_in.is_some() || renamed(stmt).is_none() {
        return false;
    }
    (0..ctx.statements.len()).any(|q| {
        top(ctx, q).is_some_and(|s| {
            dropped(s)
                .into_iter()
                .any(|d| find_rebuild(ctx, q, d).is_some_and(|rb| rb.rename_pos == ctx.position))
        })
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Affinity {
    Integer,
    Text,
    Blob,
    Real,
    Numeric,
}

/// SQLite's column affinity rules (datatype3.html §3.1), in order.
fn affinity(declared: &str) -> Affinity {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        Affinity::Integer
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        Affinity::Text
    } else if t.contains("BLOB") || t.trim().is_empty() {
        Affinity::Blob
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        Affinity::Real
    } else {
        Affinity::Numeric
    }
}

/// What copying values from a column declared `old` into one declared `new` can lose.
pub(super) fn affinity_loss(old: &str, new: &str) -> Option<&'static str> {
    use Affinity::*;
    match (affinity(old), affinity(new)) {
        (Text | Blob, Integer | Real | Numeric) => Some(
            "numeric affinity stores text that looks like a number as a number ('007' becomes 7, '1.50' becomes 1.5)",
        ),
        (Integer | Numeric, Real) => Some(
            "REAL affinity stores integers as 8-byte floats, so values beyond 2^53 lose precision",
        ),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ForeignKeys {
    /// No PRAGMA foreign_keys in the file before the DROP: depends on the connection.
    Unset,
    On,
    Off,
    /// `PRAGMA foreign_keys=OFF` ran inside a transaction, where SQLite ignores it.
    OffIgnored,
}

/// `PRAGMA [schema.]foreign_keys = value` → whether it turns enforcement off.
fn pragma_foreign_keys(file: &str, stmt: &Statement) -> Option<bool> {
    let toks: Vec<Token> = Lexer::new(file, stmt.span.start, stmt.span.end, Dialect::Sqlite)
        .filter(|t| !t.is_trivia())
        .collect();
    if !toks.first()?.is_word(file, "pragma") {
        return None;
    }
    let mut i = 1;
    let name = read_name(file, &toks, &mut i)?;
    if name != "foreign_keys" {
        return None;
    }
    let value = toks[i..]
        .iter()
        .find(|t| !matches!(t.text(file), "=" | "("))
        .map(|t| lower(t.text(file).trim_matches(|c| c == '\'' || c == '"')))?;
    match value.as_str() {
        "off" | "0" | "false" | "no" => Some(true),
        "on" | "1" | "true" | "yes" => Some(false),
        _ => None,
    }
}

fn foreign_keys_at(ctx: &Ctx, p: usize) -> ForeignKeys {
    let mut state = ForeignKeys::Unset;
    let mut explicit_tx = false;
    for i in 0..p {
        let Some(s) = top(ctx, i) else { continue };
        for op in &s.ops {
            match op {
                Op::Begin => explicit_tx = true,
                Op::Commit | Op::Rollback => explicit_tx = false,
                _ => {}
            }
        }
        match pragma_foreign_keys(ctx.file, s) {
            Some(true) if ctx.migration_tx || explicit_tx => state = ForeignKeys::OffIgnored,
            Some(true) => state = ForeignKeys::Off,
            Some(false) => state = ForeignKeys::On,
            None => {}
        }
    }
    state
}

/// Tables created or altered in this file with a foreign key to `parent`.
fn referencing(ctx: &Ctx, parent: &ObjName, skip: &[&ObjName]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in ctx.statements {
        for op in &s.ops {
            let (table, refs): (&ObjName, Vec<&ObjName>) = match op {
                Op::CreateTable {
                    table,
                    columns,
                    constraints,
                    ..
                } => (
                    table,
                    columns
                        .iter()
                        .filter_map(|c| c.references.as_ref())
                        .chain(constraints.iter().filter_map(|c| match &c.kind {
                            ConstraintKind::ForeignKey { ref_table, .. } => Some(ref_table),
                            _ => None,
                        }))
                        .collect(),
                ),
                Op::AlterTable { table, items, .. } => (
                    table,
                    items
                        .iter()
                        .filter_map(|i| match &i.action {
                            AlterAction::AddColumn { column, .. } => column.references.as_ref(),
                            AlterAction::AddConstraint(Constraint {
                                kind: ConstraintKind::ForeignKey { ref_table, .. },
                                ..
                            }) => Some(ref_table),
                            _ => None,
                        })
                        .collect(),
                ),
                _ => continue,
            };
            if refs.iter().any(|r| same(r, parent)) && !skip.iter().any(|s| same(s, table)) {
                out.insert(table.to_string());
            }
        }
    }
    out
}

fn key_columns(columns: &[ColumnDef], constraints: &[Constraint]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = columns
        .iter()
        .filter(|c| c.primary_key || c.unique)
        .map(|c| vec![lower(&c.name)])
        .collect();
    for c in constraints {
        if let ConstraintKind::PrimaryKey { columns, .. } | ConstraintKind::Unique { columns, .. } =
            &c.kind
        {
            out.push(columns.iter().map(|c| lower(c)).collect());
        }
    }
    out
}

/// Index column lists of the old table that the file does not re-create on the new one.
fn lost_indexes(ctx: &Ctx, rb: &Rebuild) -> Vec<String> {
    let Some(old) = ctx.schema.indexes.get(&rb.old.key()) else {
        return Vec::new();
    };
    let mut new = key_columns(rb.columns, rb.constraints);
    for s in &ctx.statements[rb.create_pos..] {
        for op in &s.ops {
            if let Op::CreateIndex { table, columns, .. } = op
                && (same(table, rb.new) || same(table, rb.table))
            {
                new.push(columns.iter().map(|c| lower(c)).collect());
            }
        }
    }
    let mut lost: Vec<String> = old
        .iter()
        .map(|cols| cols.iter().map(|c| lower(c)).collect::<Vec<_>>())
        .filter(|cols| !new.contains(cols))
        .map(|cols| format!("({})", cols.join(", ")))
        .collect();
    lost.dedup();
    lost
}

fn judge(ctx: &Ctx, stmt: &Statement, rb: &Rebuild) -> Hit {
    let (t, old, new) = (rb.table, rb.old, rb.new);
    let head = if rb.old_renamed_first {
        format!(
            "rebuilds table `{t}` (renamed to `{old}`, re-created, rows copied, `{old}` dropped)"
        )
    } else {
        format!(
            "rebuilds table `{t}` (creates `{new}`, copies the rows, drops `{t}`, renames `{new}` to `{t}`)"
        )
    };
    let mut destructive: Vec<String> = Vec::new();
    let mut risky: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let new_col = |name: &str| {
        rb.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    };
    let old_info = ctx
        .schema
        .tables
        .get(&old.key())
        .filter(|info| !info.columns.is_empty());
    if rb.columns.is_empty() {
        risky.push(format!(
            "migsafe could not read the column list of `{new}`, so it cannot tell what the copy keeps"
        ));
    }
    for copy in &rb.copies {
        if let Some(f) = &copy.filter {
            risky.push(format!(
                "the copy uses {f}, so rows of `{t}` it leaves out are lost"
            ));
        }
    }
    match old_info {
        None => risky.push(format!(
            "migsafe has not seen the columns of `{t}` (created outside the checked migrations), so it cannot tell whether every column is copied"
        )),
        Some(info) if !rb.columns.is_empty() => {
            let old_cols: HashMap<String, (&String, &crate::rules::context::ColumnInfo)> = info
                .columns
                .iter()
                .map(|(n, c)| (lower(n), (n, c)))
                .collect();
            let mut used: BTreeSet<String> = BTreeSet::new();
            let mut mapping: Vec<(String, String)> = Vec::new();
            let mut targeted: BTreeSet<String> = BTreeSet::new();
            for copy in &rb.copies {
                let targets: Vec<String> = copy
                    .columns
                    .clone()
                    .unwrap_or_else(|| rb.columns.iter().map(|c| lower(&c.name)).collect());
                if copy.items.len() == 1 && copy.items[0].star {
                    targeted.extend(targets.iter().cloned());
                    for name in old_cols.keys() {
                        if targets.contains(name) {
                            used.insert(name.clone());
                            mapping.push((name.clone(), name.clone()));
                        }
                    }
                    continue;
                }
                for (k, item) in copy.items.iter().enumerate() {
                    used.extend(item.names.iter().filter(|n| old_cols.contains_key(*n)).cloned());
                    if let Some(target) = targets.get(k) {
                        targeted.insert(target.clone());
                        if let Some(p) = item.plain.as_ref().filter(|p| old_cols.contains_key(*p)) {
                            mapping.push((p.clone(), target.clone()));
                        }
                    }
                }
            }
            let mut lost: Vec<&String> = old_cols
                .iter()
                .filter(|(n, _)| !used.contains(*n))
                .map(|(_, (orig, _))| *orig)
                .collect();
            lost.sort();
            if !lost.is_empty() {
                let list = lost
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let (s, its, it) = if lost.len() == 1 {
                    ("", "its", "it")
                } else {
                    ("s", "their", "them")
                };
                destructive.push(format!(
                    "drops column{s} {list} of `{t}` and all {its} values (the copy into `{new}` does not read {it})"
                ));
            }
            mapping.sort();
            mapping.dedup();
            for (o, n) in &mapping {
                let (orig, info) = old_cols[o];
                let Some(target) = new_col(n) else { continue };
                if let Some(why) = affinity_loss(&info.data_type.raw, &target.data_type.raw) {
                    destructive.push(format!(
                        "copies `{orig}` ({}) into `{}` ({}): {why}",
                        info.data_type.raw, target.name, target.data_type.raw
                    ));
                }
                if target.not_null && !info.not_null {
                    risky.push(format!(
                        "`{}` is NOT NULL in `{new}` but `{orig}` allowed NULL: the copy fails if any row holds NULL",
                        target.name
                    ));
                }
            }
            for c in rb.columns {
                let integer_key = c.primary_key && affinity(&c.data_type.raw) == Affinity::Integer;
                if c.not_null
                    && c.default.is_none()
                    && !integer_key
                    && !targeted.contains(&lower(&c.name))
                {
                    risky.push(format!(
                        "new column `{}` is NOT NULL without a default and the copy does not fill it: the INSERT fails if `{t}` has rows",
                        c.name
                    ));
                }
            }
        }
        Some(_) => {}
    }
    let lost_ix = lost_indexes(ctx, rb);
    if !lost_ix.is_empty() {
        let (noun, verb) = if lost_ix.len() == 1 {
            ("index", "is")
        } else {
            ("indexes", "are")
        };
        notes.push(format!(
            "The {noun} {} on `{t}` {verb} dropped with it and not re-created in this file.",
            lost_ix.join(", ")
        ));
    }
    let fk = foreign_keys_at(ctx, ctx.position);
    let children = referencing(ctx, t, &[t, old, new]);
    if fk != ForeignKeys::Off {
        let effect = "DROP TABLE `OLD` first deletes every row, running the ON DELETE actions of";
        let effect = effect.replace("OLD", &old.to_string());
        if children.is_empty() {
            notes.push(match fk {
                ForeignKeys::OffIgnored => format!(
                    "`PRAGMA foreign_keys=OFF` runs inside a transaction, where SQLite ignores it: with foreign keys enforced, {effect} tables that reference it (CASCADE deletes their rows); run the PRAGMA before the transaction starts."
                ),
                ForeignKeys::On => format!(
                    "Foreign keys are turned on in this file, so {effect} tables that reference it (CASCADE deletes their rows); turn them off before the transaction starts."
                ),
                _ => format!(
                    "If the connection enforces foreign keys (many drivers and ORMs turn them on), {effect} tables that reference it (CASCADE deletes their rows); run `PRAGMA foreign_keys=OFF` before the migration's transaction."
                ),
            });
        } else {
            let list = children
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let when = match fk {
                ForeignKeys::OffIgnored => {
                    "`PRAGMA foreign_keys=OFF` inside a transaction is ignored, so"
                }
                ForeignKeys::On => "foreign keys are turned on in this file, so",
                _ => "if the connection enforces foreign keys,",
            };
            risky.push(format!(
                "{list} reference{} `{t}`: {when} {effect} {list} (CASCADE deletes their rows, RESTRICT makes the DROP fail)",
                if children.len() == 1 { "s" } else { "" }
            ));
        }
    }
    if rb.old_renamed_first {
        notes.push(format!(
            "Renaming the old table first makes SQLite 3.26+ repoint foreign keys, views and triggers that name `{t}` to `{old}`, which is then dropped; SQLite's procedure renames the new table instead."
        ));
    }
    let verdict = if !destructive.is_empty() {
        Verdict::Destructive
    } else if !risky.is_empty() {
        Verdict::Risky
    } else {
        Verdict::Caution
    };
    let body = if verdict == Verdict::Caution {
        format!(
            "every column of `{t}` is copied; SQLite holds the database write lock while the rows are copied, blocking other writers"
        )
    } else {
        destructive
            .into_iter()
            .chain(risky)
            .collect::<Vec<_>>()
            .join("; ")
    };
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" {}", notes.join(" "))
    };
    Hit::new(stmt.span, format!("{head}: {body}.{notes}")).with_verdict(verdict)
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    if stmt.nested_in.is_some() {
        return Vec::new();
    }
    dropped(stmt)
        .into_iter()
        .filter(|d| ctx.is_existing(d))
        .filter_map(|d| find_rebuild(ctx, ctx.position, d))
        .map(|rb| judge(ctx, stmt, &rb))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{hits, hits_after};

    const R: &str = "sqlite-table-rebuild";
    const BEFORE: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, zip TEXT);\n\
                          CREATE INDEX users_email_idx ON users (email);";

    fn after(sql: &str) -> Vec<String> {
        hits_after(R, BEFORE, sql, Dialect::Sqlite)
    }

    /// The verdict of the rule's finding when `sql` runs after [`BEFORE`].
    fn verdict_after(sql: &str) -> Option<Verdict> {
        use crate::classify::{CheckOptions, Subject, check_section};
        use crate::migrations::SqlSection;
        let opts = CheckOptions {
            dialect: Dialect::Sqlite,
            ..CheckOptions::default()
        };
        let mut schema = Schema::default();
        let mut run = |text: &str| {
            let section = SqlSection {
                path: "<sql>".into(),
                text: std::sync::Arc::from(text),
                range: 0..text.len(),
            };
            let subject = Subject {
                path: "<sql>".to_string(),
                version: String::new(),
                description: String::new(),
                layout: "plain",
                direction: "up",
                transaction: true,
                checksum: String::new(),
            };
            check_section(&section, subject, &mut schema, &opts)
        };
        run(BEFORE);
        run(sql)
            .findings
            .into_iter()
            .find(|f| f.rule == R)
            .map(|f| f.verdict)
    }

    #[test]
    fn verdicts() {
        let complete = "CREATE TABLE n (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, zip TEXT);\n\
                        INSERT INTO n SELECT * FROM users;\n\
                        DROP TABLE users;\n\
                        ALTER TABLE n RENAME TO users;";
        assert_eq!(verdict_after(complete), Some(Verdict::Caution));
        let lossy = complete.replace(", zip TEXT)", ")");
        assert_eq!(verdict_after(&lossy), Some(Verdict::Destructive));
        let filtered = complete.replace("FROM users;", "FROM users WHERE id > 0;");
        assert_eq!(verdict_after(&filtered), Some(Verdict::Risky));
    }

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    #[test]
    fn complete_rebuild_is_a_caution_and_hides_drop_and_rename() {
        let sql = "-- migsafe:no-transaction\n\
                   PRAGMA foreign_keys=OFF;\n\
                   BEGIN;\n\
                   CREATE TABLE new_users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, zip TEXT NOT NULL DEFAULT '');\n\
                   INSERT INTO new_users (id, email, name, zip) SELECT id, email, name, coalesce(zip, '') FROM users;\n\
                   DROP TABLE users;\n\
                   ALTER TABLE new_users RENAME TO users;\n\
                   CREATE INDEX users_email_idx ON users (email);\n\
                   COMMIT;\n\
                   PRAGMA foreign_keys=ON;";
        let h = after(sql);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].contains("every column of `users` is copied"), "{h:?}");
        assert!(!h[0].contains("Foreign keys"), "{h:?}");
        assert!(hits_after("drop-table", BEFORE, sql, Dialect::Sqlite).is_empty());
        assert!(hits_after("rename-table", BEFORE, sql, Dialect::Sqlite).is_empty());
    }

    #[test]
    fn dropped_column_and_lossy_affinity() {
        let sql = "PRAGMA foreign_keys = off;\n\
                   CREATE TABLE \"new_users\" (id INTEGER PRIMARY KEY, email TEXT NOT NULL, zip INTEGER);\n\
                   CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id));\n\
                   INSERT INTO new_users SELECT id, email, zip FROM \"users\";\n\
                   DROP TABLE users;\n\
                   ALTER TABLE new_users RENAME TO users;";
        let h = after(sql);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].contains("drops column `name` of `users`"), "{h:?}");
        assert!(
            h[0].contains("copies `zip` (TEXT) into `zip` (INTEGER)"),
            "{h:?}"
        );
        assert!(h[0].contains("`orders` references `users`: `PRAGMA foreign_keys=OFF` inside a transaction is ignored"), "{h:?}");
        assert!(
            h[0].contains("The index (email) on `users` is dropped"),
            "{h:?}"
        );
        assert!(hits_after("drop-table", BEFORE, sql, Dialect::Sqlite).is_empty());
    }

    #[test]
    fn renamed_column_counts_as_copied() {
        let sql = "CREATE TABLE t2 (id INTEGER PRIMARY KEY, email TEXT NOT NULL, full_name TEXT, zip TEXT);\n\
                   INSERT INTO t2 (id, email, full_name, zip) SELECT u.id, u.email, u.name AS n, zip FROM users u;\n\
                   DROP TABLE users;\n\
                   ALTER TABLE t2 RENAME TO users;";
        let h = after(sql);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].contains("every column"), "{h:?}");
    }

    #[test]
    fn old_table_renamed_first_and_filters() {
        let sql = "ALTER TABLE users RENAME TO users_old;\n\
                   CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL, zip TEXT);\n\
                   INSERT INTO users SELECT * FROM users_old WHERE email <> '';\n\
                   DROP TABLE users_old;";
        let h = after(sql);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].contains("renamed to `users_old`"), "{h:?}");
        assert!(h[0].contains("the copy uses WHERE"), "{h:?}");
        assert!(h[0].contains("`name` is NOT NULL"), "{h:?}");
        assert!(h[0].contains("repoint foreign keys"), "{h:?}");
        assert!(hits_after("drop-table", BEFORE, sql, Dialect::Sqlite).is_empty());
        assert!(hits_after("rename-table", BEFORE, sql, Dialect::Sqlite).is_empty());
    }

    #[test]
    fn prisma_style_quoted_names_and_pragmas() {
        let before = "CREATE TABLE \"User\" (\"id\" INTEGER NOT NULL PRIMARY KEY, \"email\" TEXT NOT NULL, \"name\" TEXT);\n\
                      CREATE UNIQUE INDEX \"User_email_key\" ON \"User\"(\"email\");";
        let sql = "PRAGMA defer_foreign_keys=ON;\n\
                   PRAGMA foreign_keys=OFF;\n\
                   CREATE TABLE \"new_User\" (\"id\" INTEGER NOT NULL PRIMARY KEY, \"email\" TEXT NOT NULL, \"name\" TEXT NOT NULL DEFAULT '');\n\
                   INSERT INTO \"new_User\" (\"email\", \"id\", \"name\") SELECT \"email\", \"id\", coalesce(\"name\", '') FROM \"User\";\n\
                   DROP TABLE \"User\";\n\
                   ALTER TABLE \"new_User\" RENAME TO \"User\";\n\
                   CREATE UNIQUE INDEX \"User_email_key\" ON \"User\"(\"email\");\n\
                   PRAGMA foreign_keys=ON;";
        let h = hits_after(R, before, sql, Dialect::Sqlite);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h[0].contains("every column of `User` is copied"), "{h:?}");
        assert!(!h[0].contains("index"), "{h:?}");
        assert!(h[0].contains("runs inside a transaction"), "{h:?}");
        assert!(hits_after("drop-table", before, sql, Dialect::Sqlite).is_empty());
    }

    #[test]
    fn not_a_rebuild_without_copy_and_unknown_schema_is_risky() {
        let no_copy = "CREATE TABLE new_users (id INTEGER PRIMARY KEY);\n\
                       DROP TABLE users;\n\
                       ALTER TABLE new_users RENAME TO users;";
        assert!(after(no_copy).is_empty());
        assert_eq!(
            hits_after("drop-table", BEFORE, no_copy, Dialect::Sqlite).len(),
            1
        );
        let unknown = "CREATE TABLE n (id INTEGER PRIMARY KEY);\n\
                       INSERT INTO n (id) SELECT id FROM legacy;\n\
                       DROP TABLE legacy;\n\
                       ALTER TABLE n RENAME TO legacy;";
        let h = hits(R, unknown, Dialect::Sqlite);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(
            h[0].contains("has not seen the columns of `legacy`"),
            "{h:?}"
        );
        // other dialects keep their drop-table finding
        assert_eq!(hits("drop-table", unknown, Dialect::Postgres).len(), 1);
    }
}
