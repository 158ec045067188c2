//! MySQL or MariaDB: which one the migrations target, which one the dry-run ran on, and the
//! known semantic differences between the two that matter for the statements of the run.
//!
//! A MySQL-protocol dry-run runs on whatever server is installed (here MariaDB), while
//! production may run the other one. Where the two behave differently for a statement the run
//! executed, what the dry-run showed is not what production will do; this module says where.
//! Every difference is checked against both vendors' documentation (the links in [`TOPICS`]).

use crate::engines::EngineKind;
use crate::rules::Version;
use crate::sql::Dialect;
use crate::sql::ir::{AlterAction, ConstraintKind, ObjectKind, Op, Statement};
use crate::sql::lexer::{Lexer, TokKind, Token};
use serde::Serialize;

/// A MySQL-protocol server's maker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    Mysql,
    Mariadb,
}

impl Vendor {
    /// `mysql` or `mariadb` (as users write them; `mysql8` style suffixes are not names).
    pub fn parse(s: &str) -> Option<Vendor> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mysql" => Some(Vendor::Mysql),
            "mariadb" => Some(Vendor::Mariadb),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::Mysql => "mysql",
            Vendor::Mariadb => "mariadb",
        }
    }

    pub fn product(self) -> &'static str {
        match self {
            Vendor::Mysql => "MySQL",
            Vendor::Mariadb => "MariaDB",
        }
    }

    /// The vendor a release number belongs to: MySQL went 5.7 → 8.x → 9.x, MariaDB 10.x → 11.x
    /// (both had 5.x releases, which say nothing).
    pub fn of_version(v: Version) -> Option<Vendor> {
        match v.major {
            8 | 9 => Some(Vendor::Mysql),
            10..=13 => Some(Vendor::Mariadb),
            _ => None,
        }
    }

    /// The vendor of a server, from `SELECT VERSION()` (`10.11.6-MariaDB-0+deb12u1`).
    pub fn of_server(version_text: &str) -> Vendor {
        if version_text.to_ascii_lowercase().contains("mariadb") {
            Vendor::Mariadb
        } else {
            Vendor::Mysql
        }
    }
}

/// The word of a version text that carries the release: `10.11.6-MariaDB-0+deb12u1` (from
/// `SELECT VERSION()`, or `mariadbd  Ver 10.11.6-MariaDB-0+deb12u1 for debian-linux-gnu`).
fn release_word(version_text: &str) -> Option<&str> {
    version_text
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
}

/// The release number of a server's version text (`10.11.6` of `10.11.6-MariaDB-0+deb12u1`).
pub fn server_release(version_text: &str) -> Option<Version> {
    let first = release_word(version_text)?;
    let end = first
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(first.len());
    Version::parse(first[..end].trim_end_matches('.'))
}

/// The server as people name it: `MariaDB 10.11`, `MySQL 8.0`, `PostgreSQL 15`, `SQLite 3.45`.
pub fn server_label(kind: EngineKind, version_text: &str) -> String {
    let v = server_release(version_text);
    match kind {
        EngineKind::Postgres => match v {
            Some(v) => format!("PostgreSQL {}", v.major),
            None => "PostgreSQL".into(),
        },
        EngineKind::Sqlite => match v {
            Some(v) => format!("SQLite {}.{}", v.major, v.minor),
            None => "SQLite".into(),
        },
        EngineKind::Mysql => {
            let vendor = Vendor::of_server(version_text).product();
            match v {
                Some(v) => format!("{vendor} {}.{}", v.major, v.minor),
                None => vendor.to_string(),
            }
        }
    }
}

/// What the migrations are written for: `mysql 8.0`, `mariadb 10.11`, `postgres 15`, `sqlite`,
/// or the bare name without `--target-version`.
pub fn target_label(kind: EngineKind, vendor: Option<Vendor>, version: Option<Version>) -> String {
    let name = match (kind, vendor) {
        (EngineKind::Mysql, Some(v)) => v.as_str(),
        _ => kind.as_str(),
    };
    match version {
        Some(v) if kind == EngineKind::Postgres => format!("{name} {}", v.major),
        Some(v) if v.patch > 0 => format!("{name} {}.{}.{}", v.major, v.minor, v.patch),
        Some(v) => format!("{name} {}.{}", v.major, v.minor),
        None => name.to_string(),
    }
}

/// Why `--require-server` refuses this server, or `None` when it is the one required.
pub fn refusal(required: Vendor, version_text: &str) -> Option<String> {
    let found = Vendor::of_server(version_text);
    (found != required).then(|| {
        format!(
            "--require-server {}: the dry-run server is {} ({}), whose behaviour differs from {} for some statements; run against a {} server (--scratch-url {}://…) or drop --require-server",
            required.as_str(),
            server_label(EngineKind::Mysql, version_text),
            release_word(version_text).unwrap_or(version_text.trim()),
            required.product(),
            required.product(),
            required.as_str(),
        )
    })
}

/// The run happened on another vendor's server than the migrations target.
#[derive(Debug, Clone, Serialize)]
pub struct ServerMismatch {
    pub server_vendor: Vendor,
    pub target_vendor: Vendor,
    /// The known differences that apply to statements this run executed (none: the run's
    /// statements do not touch any).
    pub differences: Vec<VendorDifference>,
}

/// One known difference between MySQL and MariaDB and where the run depends on it.
#[derive(Debug, Clone, Serialize)]
pub struct VendorDifference {
    /// Stable name: `inline-references`, `json-type`, `check-constraints`,
    /// `instant-add-column`, `instant-ddl`, `algorithm-nocopy`, `if-exists-clauses`,
    /// `utf8mb4-0900-collations`, `json-arrow-operators`, `functional-index-parts`.
    pub topic: &'static str,
    /// What differs and what it means for this run.
    pub message: String,
    /// The vendors' documentation of the behaviour.
    pub references: Vec<&'static str>,
    /// The statements of the run that depend on it.
    pub statements: Vec<StatementRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementRef {
    pub path: String,
    pub line: usize,
}

/// A statement of the run, with its file and line.
pub struct RunStatement<'a> {
    pub path: String,
    pub line: usize,
    /// The file the statement's span points into.
    pub text: &'a str,
    pub statement: &'a Statement,
}

/// Whether a server does something: by version, or `Maybe` when the target's version does not
/// say (none given, or `8.0` without the patch release that changed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Has {
    Yes,
    No,
    Maybe,
}

/// Since which release each vendor does a thing (`None`: never).
#[derive(Debug, Clone, Copy)]
struct Since {
    mysql: Option<Version>,
    mariadb: Option<Version>,
}

impl Since {
    fn of(&self, vendor: Vendor) -> Option<Version> {
        match vendor {
            Vendor::Mysql => self.mysql,
            Vendor::Mariadb => self.mariadb,
        }
    }

    /// What a server of this vendor and version does. A version without a patch number
    /// (`8.0`) in the same series as the threshold (`8.0.16`) does not say.
    fn has(&self, vendor: Vendor, version: Option<Version>) -> Has {
        let Some(since) = self.of(vendor) else {
            return Has::No;
        };
        let Some(v) = version else {
            return if since == Version::new(0, 0, 0) {
                Has::Yes
            } else {
                Has::Maybe
            };
        };
        if v >= since {
            Has::Yes
        } else if v.patch == 0
            && (v.major, v.minor) == (since.major, since.minor)
            && since.patch > 0
        {
            Has::Maybe
        } else {
            Has::No
        }
    }

    /// The servers that do it: `MySQL 9.0+ and MariaDB 10.5+ servers`, `Only MariaDB servers`.
    fn describe(&self) -> String {
        let one = |vendor: Vendor| {
            self.of(vendor).map(|v| {
                if v == Version::new(0, 0, 0) {
                    vendor.product().to_string()
                } else {
                    format!("{} {}+", vendor.product(), short(v))
                }
            })
        };
        match (one(Vendor::Mysql), one(Vendor::Mariadb)) {
            (Some(a), Some(b)) => format!("{a} and {b} servers"),
            (Some(one), None) | (None, Some(one)) => format!("Only {one} servers"),
            (None, None) => "No servers".into(),
        }
    }
}

fn short(v: Version) -> String {
    if v.patch > 0 {
        format!("{}.{}.{}", v.major, v.minor, v.patch)
    } else {
        format!("{}.{}", v.major, v.minor)
    }
}

const ALWAYS: Option<Version> = Some(Version::new(0, 0, 0));

/// A known difference: what it is, since when each vendor does it, what a mismatch means for
/// a dry-run, and where the vendors document it.
struct Topic {
    name: &'static str,
    /// What the servers that have it do (completes "<servers> …").
    does: &'static str,
    /// What the others do instead (may be empty).
    otherwise: &'static str,
    /// What a mismatch means for what this run showed.
    consequence: &'static str,
    since: Since,
    references: &'static [&'static str],
}

/// The differences migsafe knows, each verified against both vendors' documentation.
const TOPICS: &[Topic] = &[
    Topic {
        name: "inline-references",
        does: "create a foreign key from a column's inline `REFERENCES t (c)`",
        otherwise: "older releases parse it and create nothing",
        consequence: "foreign keys this run created or did not create (and the rows they rejected or let through) differ from production; declare keys as `FOREIGN KEY (c) REFERENCES t (c)` to get them everywhere",
        since: Since {
            mysql: Some(Version::new(9, 0, 0)),
            mariadb: Some(Version::new(10, 5, 0)),
        },
        references: &[
            "https://bugs.mysql.com/bug.php?id=102904",
            "https://jira.mariadb.org/browse/MDEV-20729",
        ],
    },
    Topic {
        name: "json-type",
        does: "store `JSON` columns in a binary JSON format",
        otherwise: "MariaDB makes `JSON` an alias of `LONGTEXT` with a `JSON_VALID` check",
        consequence: "the schema diff shows the dry-run server's column type and constraints, and converting columns to or from JSON, indexing JSON expressions and generated columns over JSON behave differently in production",
        since: Since {
            mysql: ALWAYS,
            mariadb: None,
        },
        references: &[
            "https://dev.mysql.com/doc/refman/8.0/en/json.html",
            "https://mariadb.com/kb/en/json/",
        ],
    },
    Topic {
        name: "check-constraints",
        does: "enforce `CHECK` constraints",
        otherwise: "MySQL before 8.0.16 parses them and ignores them",
        consequence: "rows this run's CHECK constraints rejected (or accepted) are treated the other way in production, and adding a CHECK validates existing rows only where it is enforced",
        since: Since {
            mysql: Some(Version::new(8, 0, 16)),
            mariadb: Some(Version::new(10, 2, 1)),
        },
        references: &[
            "https://dev.mysql.com/doc/refman/8.0/en/create-table-check-constraints.html",
            "https://mariadb.com/kb/en/constraint/",
        ],
    },
    Topic {
        name: "instant-ddl",
        does: "add a column in any position and drop one instantly (ALGORITHM=INSTANT)",
        otherwise: "older releases rebuild the table (MySQL 8.0.12+ and MariaDB 10.3.2+ add a last column instantly)",
        consequence: "a table rebuild this run did or did not show (and the lock it holds) can be different in production; an explicit ALGORITHM=INSTANT fails where the operation is not instant",
        since: Since {
            mysql: Some(Version::new(8, 0, 29)),
            mariadb: Some(Version::new(10, 4, 0)),
        },
        references: &[
            "https://dev.mysql.com/doc/refman/8.0/en/innodb-online-ddl-operations.html",
            "https://mariadb.com/kb/en/innodb-online-ddl-operations-with-the-instant-alter-algorithm/",
        ],
    },
    Topic {
        name: "instant-add-column",
        does: "add a column as the last one instantly (ALGORITHM=INSTANT)",
        otherwise: "older releases rebuild the table",
        consequence: "a table rebuild this run did or did not show (and the lock it holds) can be different in production; an explicit ALGORITHM=INSTANT fails where the operation is not instant",
        since: Since {
            mysql: Some(Version::new(8, 0, 12)),
            mariadb: Some(Version::new(10, 3, 2)),
        },
        references: &[
            "https://dev.mysql.com/doc/refman/8.0/en/innodb-online-ddl-operations.html",
            "https://mariadb.com/kb/en/innodb-online-ddl-operations-with-the-instant-alter-algorithm/",
        ],
    },
    Topic {
        name: "algorithm-nocopy",
        does: "accept `ALGORITHM=NOCOPY`",
        otherwise: "",
        consequence: "the statement fails with a syntax error where it is not accepted",
        since: Since {
            mysql: None,
            mariadb: Some(Version::new(10, 3, 7)),
        },
        references: &[
            "https://dev.mysql.com/doc/refman/8.0/en/alter-table.html",
            "https://mariadb.com/kb/en/innodb-online-ddl-overview/",
        ],
    },
    Topic {
        name: "if-exists-clauses",
        does: "accept `IF [NOT] EXISTS` in ALTER TABLE (ADD/DROP COLUMN, INDEX, CONSTRAINT …), CREATE INDEX and DROP INDEX",
        otherwise: "",
        consequence: "the statement is a syntax error where it is not accepted, so a run that passed on one fails on the other",
        since: Since {
            mysql: None,
            mariadb: ALWAYS,
        },
        references: &[
            "https://dev.mysql.com/doc/refman/8.0/en/alter-table.html",
            "https://mariadb.com/kb/en/alter-table/",
        ],
    },
    Topic {
        name: "utf8mb4-0900-collations",
        does: "know the `utf8mb4_0900_*` collations (MySQL 8's default)",
        otherwise: "",
        consequence: "the statement fails with `Unknown collation` where they are not known",
        since: Since {
            mysql: Some(Version::new(8, 0, 0)),
            mariadb: Some(Version::new(11, 4, 5)),
        },
        references: &[
            "https://dev.mysql.com/doc/refman/8.0/en/charset-unicode-sets.html",
            "https://mariadb.com/kb/en/mariadb-11-4-5-release-notes/",
        ],
    },
    Topic {
        name: "json-arrow-operators",
        does: "accept the JSON path operators `->` and `->>` (`doc->>'$.name'`)",
        otherwise: "older MariaDB releases need `JSON_EXTRACT` / `JSON_UNQUOTE(JSON_EXTRACT(…))`",
        consequence: "the statement is a syntax error where they are not accepted",
        since: Since {
            mysql: Some(Version::new(5, 7, 13)),
            mariadb: Some(Version::new(13, 1, 0)),
        },
        references: &[
            "https://dev.mysql.com/doc/refman/8.0/en/json-search-functions.html",
            "https://mariadb.com/docs/server/reference/sql-functions/special-functions/json-functions/json-arrow-operators",
        ],
    },
    Topic {
        name: "functional-index-parts",
        does: "index expressions directly (functional key parts: `INDEX ((lower(email)))`)",
        otherwise: "MariaDB indexes a generated column instead",
        consequence: "the statement is a syntax error where they are not supported",
        since: Since {
            mysql: Some(Version::new(8, 0, 13)),
            mariadb: None,
        },
        references: &[
            "https://dev.mysql.com/doc/refman/8.0/en/create-index.html",
            "https://mariadb.com/kb/en/create-index/",
        ],
    },
];

/// The topics a statement depends on.
fn uses(s: &RunStatement) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let mut add = |t: &'static str| {
        if !out.contains(&t) {
            out.push(t);
        }
    };
    let toks: Vec<Token> = Lexer::new(
        s.text,
        s.statement.span.start,
        s.statement.span.end,
        Dialect::Mysql,
    )
    .filter(|t| !t.is_trivia())
    .collect();
    let word = |i: usize, w: &str| toks.get(i).is_some_and(|t| t.is_word(s.text, w));
    let punct = |i: usize, p: &str| {
        toks.get(i)
            .is_some_and(|t| t.kind == TokKind::Punct && t.text(s.text) == p)
    };
    let is_alter = s
        .statement
        .ops
        .iter()
        .any(|o| matches!(o, Op::AlterTable { .. }));
    let is_ddl = s.statement.ops.iter().any(|o| {
        matches!(
            o,
            Op::AlterTable { .. } | Op::CreateTable { .. } | Op::CreateIndex { .. }
        )
    });
    for op in &s.statement.ops {
        match op {
            Op::CreateTable {
                columns,
                constraints,
                ..
            } => {
                for c in columns {
                    if c.references.is_some() {
                        add("inline-references");
                    }
                    if c.check.is_some() {
                        add("check-constraints");
                    }
                    if c.data_type.name == "json" {
                        add("json-type");
                    }
                }
                if constraints
                    .iter()
                    .any(|c| matches!(c.kind, ConstraintKind::Check { .. }))
                {
                    add("check-constraints");
                }
            }
            Op::AlterTable {
                items, algorithm, ..
            } => {
                for item in items {
                    match &item.action {
                        AlterAction::AddColumn { column, .. }
                        | AlterAction::ModifyColumn { column, .. } => {
                            if column.references.is_some() {
                                add("inline-references");
                            }
                            if column.check.is_some() {
                                add("check-constraints");
                            }
                            if column.data_type.name == "json" {
                                add("json-type");
                            }
                            if matches!(item.action, AlterAction::AddColumn { .. }) {
                                // FIRST / AFTER place the column: instant only on newer servers
                                let placed = toks.iter().any(|t| {
                                    t.is_word(s.text, "first") || t.is_word(s.text, "after")
                                });
                                add(if placed {
                                    "instant-ddl"
                                } else {
                                    "instant-add-column"
                                });
                            }
                        }
                        AlterAction::DropColumn { .. } => add("instant-ddl"),
                        AlterAction::AddConstraint(c)
                            if matches!(c.kind, ConstraintKind::Check { .. }) =>
                        {
                            add("check-constraints")
                        }
                        _ => {}
                    }
                }
                match algorithm.as_deref() {
                    Some("NOCOPY") => add("algorithm-nocopy"),
                    Some("INSTANT") => add("instant-ddl"),
                    _ => {}
                }
            }
            Op::CreateIndex { if_not_exists, .. } if *if_not_exists => add("if-exists-clauses"),
            Op::Drop {
                kind: ObjectKind::Index,
                if_exists: true,
                ..
            } => add("if-exists-clauses"),
            _ => {}
        }
    }
    for i in 0..toks.len() {
        // MySQL's ALTER TABLE has no IF [NOT] EXISTS anywhere
        if is_alter && word(i, "if") && (word(i + 1, "exists") || word(i + 2, "exists")) {
            add("if-exists-clauses");
        }
        if word(i, "algorithm") {
            let v = if punct(i + 1, "=") { i + 2 } else { i + 1 };
            if word(v, "nocopy") {
                add("algorithm-nocopy");
            }
        }
        let t = &toks[i];
        if matches!(t.kind, TokKind::Word | TokKind::Str | TokKind::QuotedIdent)
            && t.text(s.text).to_ascii_lowercase().contains("utf8mb4_0900")
        {
            add("utf8mb4-0900-collations");
        }
        // INDEX|KEY [name] [USING x] ( ( expr ) … ): a functional key part
        // INDEX|KEY [name] [ON t] ( part, ( expr ), … ): a key part that is an expression
        if is_ddl
            && (word(i, "index") || word(i, "key"))
            && let Some(open) = (i + 1..toks.len().min(i + 8)).find(|&j| punct(j, "("))
            && key_parts(&toks, s.text, open).any(|j| punct(j, "("))
        {
            add("functional-index-parts");
        }
        // MySQL's JSON path operators `->` and `->>`
        if punct(i, "-") && punct(i + 1, ">") && toks[i + 1].start == t.end {
            add("json-arrow-operators");
        }
    }
    out
}

/// The index of the first token of each key part of the list opened at `open`.
fn key_parts<'t>(
    toks: &'t [Token],
    text: &'t str,
    open: usize,
) -> impl Iterator<Item = usize> + 't {
    let mut depth = 0usize;
    let mut out = Vec::new();
    for (j, t) in toks.iter().enumerate().skip(open) {
        if t.kind != TokKind::Punct {
            continue;
        }
        match t.text(text) {
            "(" => {
                depth += 1;
                if depth == 1 {
                    out.push(j + 1);
                }
            }
            ")" => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            "," if depth == 1 => out.push(j + 1),
            _ => {}
        }
    }
    out.into_iter()
}

/// What the run's statements depend on that behaves differently on the target than on the
/// dry-run server. Empty when target and server are of the same vendor.
pub fn mismatch(
    target: Vendor,
    target_version: Option<Version>,
    server_version_text: &str,
    statements: &[RunStatement],
) -> Option<ServerMismatch> {
    let server = Vendor::of_server(server_version_text);
    if server == target {
        return None;
    }
    let server_version = server_release(server_version_text);
    // a release number of the other vendor says nothing about this one
    let target_version =
        target_version.filter(|v| Vendor::of_version(*v).is_none_or(|x| x == target));
    let server_name = server_label(EngineKind::Mysql, server_version_text);
    let target_name = match target_version {
        Some(v) => format!("{} {}", target.product(), short(v)),
        None => format!("{}, no --target-version", target.product()),
    };
    let per: Vec<Vec<&'static str>> = statements.iter().map(uses).collect();
    let mut differences = Vec::new();
    for topic in TOPICS {
        let on_server = topic.since.has(server, server_version);
        let on_target = topic.since.has(target, target_version);
        if on_server == on_target && on_target != Has::Maybe {
            continue;
        }
        let refs: Vec<StatementRef> = statements
            .iter()
            .zip(&per)
            .filter(|(_, u)| u.contains(&topic.name))
            .map(|(s, _)| StatementRef {
                path: s.path.clone(),
                line: s.line,
            })
            .collect();
        if refs.is_empty() {
            continue;
        }
        let says = |h: Has| match h {
            Has::Yes => "does",
            Has::No => "does not",
            Has::Maybe => "may (it depends on the exact release)",
        };
        let otherwise = if topic.otherwise.is_empty() {
            String::new()
        } else {
            format!("; {}", topic.otherwise)
        };
        differences.push(VendorDifference {
            topic: topic.name,
            message: format!(
                "{} {}{otherwise}. This run's server ({}) {}; the target ({}) {}: {}.",
                topic.since.describe(),
                topic.does,
                server_name,
                says(on_server),
                target_name,
                says(on_target),
                topic.consequence
            ),
            references: topic.references.to_vec(),
            statements: refs,
        });
    }
    Some(ServerMismatch {
        server_vendor: server,
        target_vendor: target,
        differences,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sql: &str) -> Vec<&'static str> {
        let stmts = crate::sql::parse_section(sql, 0..sql.len(), Dialect::Mysql);
        let mut out = Vec::new();
        for s in &stmts {
            for u in uses(&RunStatement {
                path: "m.sql".into(),
                line: 1,
                text: sql,
                statement: s,
            }) {
                if !out.contains(&u) {
                    out.push(u);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn statements_name_the_topics_they_depend_on() {
        assert_eq!(
            run(
                "CREATE TABLE c (id int PRIMARY KEY, p int REFERENCES p (id), doc JSON, n int CHECK (n > 0));"
            ),
            ["check-constraints", "inline-references", "json-type"]
        );
        assert_eq!(
            run("ALTER TABLE t ADD COLUMN IF NOT EXISTS x int AFTER id;"),
            ["if-exists-clauses", "instant-ddl"]
        );
        assert_eq!(
            run("ALTER TABLE t ADD COLUMN x int;"),
            ["instant-add-column"]
        );
        assert_eq!(
            run("ALTER TABLE t DROP COLUMN x, ALGORITHM=NOCOPY;"),
            ["algorithm-nocopy", "instant-ddl"]
        );
        assert_eq!(
            run("CREATE INDEX IF NOT EXISTS i ON t (a); DROP INDEX IF EXISTS j ON t;"),
            ["if-exists-clauses"]
        );
        assert_eq!(
            run("CREATE INDEX i ON t ((lower(email)));"),
            ["functional-index-parts"]
        );
        // Temporal's visibility schema: a multi-valued key part after a plain one, and `->>`
        assert_eq!(
            run(
                "CREATE INDEX by_v ON ev (namespace_id, (CAST(v AS CHAR(255) ARRAY)), start_time DESC);"
            ),
            ["functional-index-parts"]
        );
        assert_eq!(
            run("ALTER TABLE ev ADD COLUMN u VARCHAR(255) GENERATED ALWAYS AS (sa->>\"$.User\");"),
            ["instant-add-column", "json-arrow-operators"]
        );
        assert!(run("CREATE INDEX i ON t (a, b(10) DESC);").is_empty());
        assert_eq!(
            run(
                "CREATE TABLE u (a varchar(10)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;"
            ),
            ["utf8mb4-0900-collations"]
        );
        // nothing vendor-specific; keys, plain indexes and table-level IF NOT EXISTS are common
        assert!(
            run("CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, a int, KEY ka (a), FOREIGN KEY (a) REFERENCES p (id)); CREATE INDEX i ON t (a); DROP TABLE IF EXISTS old; UPDATE t SET a = 1 WHERE id = 2; -- utf8mb4_0900_ai_ci in a comment")
                .is_empty()
        );
    }

    #[test]
    fn versions_decide_which_differences_apply() {
        let sql = "CREATE TABLE c (id int PRIMARY KEY, p int REFERENCES p (id), n int CHECK (n > 0)); ALTER TABLE c ADD COLUMN IF NOT EXISTS z int;";
        let stmts = crate::sql::parse_section(sql, 0..sql.len(), Dialect::Mysql);
        let rs: Vec<RunStatement> = stmts
            .iter()
            .map(|s| RunStatement {
                path: "db/1.sql".into(),
                line: 1 + s.index,
                text: sql,
                statement: s,
            })
            .collect();
        let maria = "10.11.6-MariaDB-0+deb12u1";
        let topics = |v: Option<Version>| -> Vec<&str> {
            mismatch(Vendor::Mysql, v, maria, &rs)
                .unwrap()
                .differences
                .iter()
                .map(|d| d.topic)
                .collect()
        };
        // MySQL 8.0 (patch unknown): inline REFERENCES ignored, CHECK depends on 8.0.16,
        // IF NOT EXISTS a syntax error, instant ADD COLUMN depends on 8.0.12
        assert_eq!(
            topics(Version::parse("8.0")),
            [
                "inline-references",
                "check-constraints",
                "instant-add-column",
                "if-exists-clauses"
            ]
        );
        // MySQL 9.1 creates inline foreign keys and enforces CHECK like MariaDB 10.11
        assert_eq!(topics(Version::parse("9.1")), ["if-exists-clauses"]);
        let d = mismatch(Vendor::Mysql, Version::parse("8.0.36"), maria, &rs).unwrap();
        let inline = &d.differences[0];
        assert_eq!(inline.topic, "inline-references");
        assert!(
            inline.message.contains(
                "This run's server (MariaDB 10.11) does; the target (MySQL 8.0.36) does not:"
            ),
            "{}",
            inline.message
        );
        assert_eq!(inline.statements[0].path, "db/1.sql");
        // same vendor: no mismatch at all
        assert!(mismatch(Vendor::Mariadb, None, maria, &rs).is_none());
        // the reverse: MariaDB migrations on a MySQL 8.0.36 server
        let rev: Vec<&str> = mismatch(Vendor::Mariadb, Version::parse("10.11"), "8.0.36", &rs)
            .unwrap()
            .differences
            .iter()
            .map(|d| d.topic)
            .collect();
        assert_eq!(rev, ["inline-references", "if-exists-clauses"]);
    }

    #[test]
    fn labels_and_refusals() {
        assert_eq!(
            server_label(EngineKind::Mysql, "10.11.6-MariaDB-0+deb12u1"),
            "MariaDB 10.11"
        );
        assert_eq!(server_label(EngineKind::Mysql, "8.0.36"), "MySQL 8.0");
        assert_eq!(
            server_label(EngineKind::Postgres, "15.8 (Debian 15.8-0+deb12u1)"),
            "PostgreSQL 15"
        );
        assert_eq!(
            target_label(
                EngineKind::Mysql,
                Some(Vendor::Mysql),
                Version::parse("8.0")
            ),
            "mysql 8.0"
        );
        assert_eq!(
            target_label(EngineKind::Mysql, Some(Vendor::Mariadb), None),
            "mariadb"
        );
        assert_eq!(
            Vendor::of_version(Version::new(10, 11, 0)),
            Some(Vendor::Mariadb)
        );
        assert_eq!(Vendor::of_version(Version::new(5, 7, 0)), None);
        assert!(refusal(Vendor::Mariadb, "10.11.6-MariaDB").is_none());
        let r = refusal(Vendor::Mysql, "10.11.6-MariaDB").unwrap();
        assert!(
            r.starts_with(
                "--require-server mysql: the dry-run server is MariaDB 10.11 (10.11.6-MariaDB)"
            ),
            "{r}"
        );
        assert_eq!(
            server_release(
                "/usr/sbin/mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu"
            ),
            Version::parse("10.11.19")
        );
    }

    /// docs/dry-run.md lists every topic with both vendors' first release, so the table cannot
    /// drift from [`TOPICS`].
    #[test]
    fn the_topic_table_in_the_docs_matches() {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/dry-run.md"),
        )
        .unwrap();
        let rows: Vec<Vec<&str>> = doc
            .lines()
            .skip_while(|l| !l.starts_with("| topic | what differs | MySQL | MariaDB |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
            .collect();
        for t in TOPICS {
            let row = rows
                .iter()
                .find(|c| c[1] == format!("`{}`", t.name))
                .unwrap_or_else(|| panic!("{} is not in docs/dry-run.md", t.name));
            for (cell, since) in [(row[3], t.since.mysql), (row[4], t.since.mariadb)] {
                let ok = match since {
                    None => cell.starts_with("never"),
                    Some(v) if v == Version::new(0, 0, 0) => cell.starts_with("all"),
                    Some(v) => cell.starts_with(&format!("{}+", short(v))),
                };
                assert!(ok, "{}: {cell:?} vs {since:?}", t.name);
            }
        }
        assert_eq!(rows.len(), TOPICS.len(), "a topic row too many in the docs");
    }
}
