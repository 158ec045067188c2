//! How MySQL and MariaDB (InnoDB) carry out each ALTER TABLE action, per server version: the
//! online DDL tables of the MySQL 5.7 / 8.0 / 8.4 reference manuals ("Online DDL Operations":
//! column, index, primary key, foreign key, table and generated column operations) and of the
//! MariaDB knowledge base ("InnoDB Online DDL Operations with the INSTANT / NOCOPY / INPLACE Alter
//! Algorithm").
//!
//! | action | MySQL 5.7 | MySQL 8.0 | MariaDB |
//! |---|---|---|---|
//! | ADD COLUMN (last, plain) | INPLACE, rebuild | INSTANT (8.0.12+) | INSTANT (10.3.2+) |
//! | ADD COLUMN … AUTO_INCREMENT | INPLACE, rebuild, blocks writes | same | same |
//! | ADD COLUMN … STORED (generated) | COPY | COPY | COPY |
//! | DROP COLUMN | INPLACE, rebuild | INSTANT (8.0.29+), else rebuild | INSTANT (10.4+), else rebuild |
//! | change type, charset or collation of a column | COPY | COPY | COPY |
//! | collation of an unindexed CHAR/VARCHAR; its utf8mb3 → utf8mb4 (length header unchanged) | COPY | COPY | INSTANT (10.4.3+) |
//! | VARCHAR growth within the same length-prefix size | INPLACE, metadata | same | INSTANT (10.2.2+) |
//! | NULL ↔ NOT NULL | INPLACE, rebuild | same | same |
//! | SET / DROP DEFAULT, RENAME COLUMN, RENAME TABLE | metadata | INSTANT | INSTANT |
//! | ADD INDEX, DROP INDEX, RENAME INDEX | INPLACE, no rebuild | same | same |
//! | ADD FULLTEXT INDEX | INPLACE, blocks writes; the first rebuilds the table | same | same |
//! | ADD SPATIAL INDEX | INPLACE, blocks writes | same | same |
//! | ADD PRIMARY KEY | INPLACE, rebuild | same | same |
//! | DROP PRIMARY KEY (without adding one) | COPY | COPY | COPY |
//! | ADD FOREIGN KEY | COPY; INPLACE with foreign_key_checks=0 | same | same |
//! | DROP FOREIGN KEY | INPLACE, metadata | same | same |
//! | CONVERT TO CHARACTER SET | COPY | COPY | COPY |
//! | table CHARACTER SET / COLLATE, ROW_FORMAT, KEY_BLOCK_SIZE | INPLACE, rebuild | same | same |
//! | ENGINE=InnoDB (null rebuild), FORCE, OPTIMIZE TABLE | INPLACE, rebuild | same | same |
//! | ENGINE=other | COPY | COPY | COPY |
//! | COMMENT, AUTO_INCREMENT=n, STATS_* | metadata | same | same |
//!
//! "rebuild" means the table is rebuilt row by row while writes continue: it takes time
//! proportional to the table, needs free disk space for a second copy, and replicas apply the
//! ALTER only after it finished on the source, lagging for as long. COPY blocks writes for the
//! whole copy.

use super::Ctx;
use super::context::Version;
use crate::sql::ir::{AlterAction, ConstraintKind};
use crate::sql::types::{TypeChange, type_change};

/// The server a MySQL-dialect migration runs on, from the target version: MariaDB numbers its
/// releases 10.x and later, MySQL 5.x, 8.x and 9.x. A bare `8.0` (the assumed default) stands
/// for current 8.0 releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Server {
    Mysql(Version),
    Mariadb(Version),
}

impl Server {
    pub fn of(v: Version) -> Server {
        if v.major >= 10 {
            Server::Mariadb(v)
        } else if v == Version::new(8, 0, 0) {
            Server::Mysql(Version::new(8, 0, 40))
        } else {
            Server::Mysql(v)
        }
    }
    pub fn name(self) -> String {
        match self {
            Server::Mysql(v) => format!("MySQL {v}"),
            Server::Mariadb(v) => format!("MariaDB {v}"),
        }
    }
    fn at_least(self, mysql: (u32, u32, u32), mariadb: (u32, u32, u32)) -> bool {
        match self {
            Server::Mysql(v) => v >= Version::new(mysql.0, mysql.1, mysql.2),
            Server::Mariadb(v) => v >= Version::new(mariadb.0, mariadb.1, mariadb.2),
        }
    }
    /// Instant DROP COLUMN: MySQL 8.0.29+, MariaDB 10.4+.
    pub fn instant_drop_column(self) -> bool {
        self.at_least((8, 0, 29), (10, 4, 0))
    }
}

/// How InnoDB carries out an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    /// INPLACE without a rebuild, but writes are blocked while it runs (FULLTEXT, SPATIAL).
    InplaceBlocking,
    /// INPLACE with a table rebuild; writes continue.
    Rebuild,
    /// INPLACE with a rebuild during which writes are blocked (adding an AUTO_INCREMENT column).
    RebuildBlocking,
    /// ALGORITHM=COPY: a new copy of the table, writes blocked until it is done.
    Copy,
}

/// What an ALTER TABLE action costs on the server of `ctx`, with the reason for messages.
/// `None` when migsafe has nothing to say (metadata-only, or judged by another rule).
pub(crate) fn action(
    ctx: &Ctx,
    table: &crate::sql::ir::ObjName,
    item: &AlterAction,
    fk_checks_off: bool,
    adds_primary_key: bool,
) -> Option<(Algorithm, String)> {
    let server = Server::of(ctx.version);
    match item {
        AlterAction::AddColumn { column, .. } if column.auto_increment || column.data_type.serial => {
            Some((
                Algorithm::RebuildBlocking,
                format!(
                    "adds AUTO_INCREMENT column `{}`: the table is rebuilt and writes are blocked until every row is numbered",
                    column.name
                ),
            ))
        }
        AlterAction::DropColumn { names, .. } if !server.instant_drop_column() => Some((
            Algorithm::Rebuild,
            format!(
                "drops column {}: {} has no instant DROP COLUMN (MySQL 8.0.29+, MariaDB 10.4+), so the table is rebuilt",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                server.name()
            ),
        )),
        AlterAction::ModifyColumn { old_name, column } => {
            let old = ctx.schema.column(table, old_name)?;
            // type changes are alter-column-type-rewrite's and -lossy's findings
            if type_change(&old.data_type, &column.data_type, ctx.dialect)
                != TypeChange::MetadataOnly
            {
                return None;
            }
            let charset_changes = column.charset.is_some() && column.charset != old.charset;
            let collation_changes = column.collation.is_some() && column.collation != old.collation;
            if (charset_changes || collation_changes)
                && mariadb_relabels_in_place(ctx, server, table, old_name, old, column)
            {
                return None;
            }
            if charset_changes || collation_changes {
                let what = if charset_changes {
                    format!(
                        "character set of `{old_name}` to {}",
                        column.charset.as_deref().unwrap_or("")
                    )
                } else {
                    format!(
                        "collation of `{old_name}` to {}",
                        column.collation.as_deref().unwrap_or("")
                    )
                };
                return Some((Algorithm::Copy, format!("changes the {what}")));
            }
            if old.not_null != column.not_null {
                let (from, to) = if column.not_null {
                    ("NULL", "NOT NULL")
                } else {
                    ("NOT NULL", "NULL")
                };
                let strict = if column.not_null {
                    ", and fails on existing NULLs in strict mode (without it they silently become 0 or '')"
                } else {
                    ""
                };
                return Some((
                    Algorithm::Rebuild,
                    format!("changes `{old_name}` from {from} to {to}{strict}"),
                ));
            }
            None
        }
        AlterAction::DropPrimaryKey if !adds_primary_key => Some((
            Algorithm::Copy,
            "drops the primary key without adding one".to_string(),
        )),
        AlterAction::AddConstraint(c)
            if matches!(c.kind, ConstraintKind::ForeignKey { .. }) && !fk_checks_off =>
        {
            Some((
                Algorithm::Copy,
                "adds a foreign key while foreign_key_checks is on (with `SET foreign_key_checks = 0` first it is added in place, without checking existing rows)".to_string(),
            ))
        }
        AlterAction::AddIndex { fulltext: true, .. } => Some(fulltext(ctx, table)),
        AlterAction::AddIndex { spatial: true, .. } => Some((
            Algorithm::InplaceBlocking,
            "adds a SPATIAL index: writes are blocked while it is built".to_string(),
        )),
        AlterAction::ConvertCharset { charset, .. } => Some((
            Algorithm::Copy,
            format!("converts every text column to character set {charset}"),
        )),
        AlterAction::Force => Some((Algorithm::Rebuild, "FORCE rebuilds the table".to_string())),
        AlterAction::TableOption { name, value } => match name.as_str() {
            "ENGINE" if value.eq_ignore_ascii_case("innodb") => Some((
                Algorithm::Rebuild,
                "ENGINE=InnoDB on an InnoDB table rebuilds it (a null rebuild)".to_string(),
            )),
            "ENGINE" => Some((
                Algorithm::Copy,
                format!("ENGINE={value} moves the table to another storage engine"),
            )),
            "ROW_FORMAT" | "KEY_BLOCK_SIZE" => Some((
                Algorithm::Rebuild,
                format!("{name}={value} rebuilds the table"),
            )),
            "CHARACTER SET" | "COLLATE" => Some((
                Algorithm::Rebuild,
                format!(
                    "sets the table's default {} to {value}, which rebuilds the table when the encoding changes (existing columns keep theirs: CONVERT TO converts them)",
                    name.to_ascii_lowercase()
                ),
            )),
            _ => None,
        },
        _ => None,
    }
}

/// MariaDB 10.4.3+ (MDEV-15564) changes the collation of a CHAR or VARCHAR column, and relabels
/// a VARCHAR from 3-byte to 4-byte UTF-8, without touching the rows, when no index covers the
/// column and the VARCHAR's length header keeps its size (its maximum stays above 255 bytes, or
/// stays at most 255). Indexed columns are still copied (10.6 can rebuild only the indexes; not
/// assumed here), and so is every other character set change.
fn mariadb_relabels_in_place(
    ctx: &Ctx,
    server: Server,
    table: &crate::sql::ir::ObjName,
    old_name: &str,
    old: &super::context::ColumnInfo,
    new: &crate::sql::ir::ColumnDef,
) -> bool {
    let Server::Mariadb(v) = server else {
        return false;
    };
    let ty = new.data_type.name.as_str();
    if v < Version::new(10, 4, 3)
        || !matches!(ty, "varchar" | "char")
        || old.data_type.name != new.data_type.name
        || old.data_type.args != new.data_type.args
    {
        return false;
    }
    let indexed = ctx.schema.indexes.get(&table.key()).is_some_and(|ix| {
        ix.iter()
            .any(|cols| cols.iter().any(|c| c == old_name || c == &new.name))
    });
    if indexed {
        return false;
    }
    // the character set a definition names, itself or through its collation's prefix; the BINARY
    // attribute (collation `binary` here) is the `_bin` collation of the column's own set
    let charset_of = |cs: &Option<String>, coll: &Option<String>| {
        let c = match (cs, coll) {
            (Some(cs), _) => cs.to_ascii_lowercase(),
            (None, Some(coll)) if !coll.eq_ignore_ascii_case("binary") => {
                let coll = coll.to_ascii_lowercase();
                coll.split('_').next().unwrap_or_default().to_string()
            }
            _ => return None,
        };
        Some(if c == "utf8" {
            "utf8mb3".to_string()
        } else {
            c
        })
    };
    let (from, to) = match (
        charset_of(&old.charset, &old.collation),
        charset_of(&new.charset, &new.collation),
    ) {
        (_, None) => return true,        // the collation alone changes
        (None, Some(_)) => return false, // the old set is unknown: maybe converted
        (Some(f), Some(t)) if f == t => return true,
        (Some(f), Some(t)) => (f, t),
    };
    let utf8_to_mb4 = from == "utf8mb3" && to == "utf8mb4";
    // a CHAR's fixed width changes with the encoding (in place only for ROW_FORMAT=REDUNDANT)
    if !utf8_to_mb4 || ty != "varchar" {
        return false;
    }
    let Some(&n) = new.data_type.args.first() else {
        return false;
    };
    n * 3 > 255 || n * 4 <= 255
}

/// A FULLTEXT index: writes blocked while it is built; the table's first rebuilds the table.
pub(crate) fn fulltext(ctx: &Ctx, table: &crate::sql::ir::ObjName) -> (Algorithm, String) {
    let first = if ctx.schema.fulltext.contains(&table.key()) {
        ""
    } else if ctx.schema.tables.contains_key(&table.key()) {
        " and, as the table's first FULLTEXT index, rebuilds the table to add its FTS_DOC_ID column"
    } else {
        " and, if it is the table's first FULLTEXT index (the table was defined before the checked migrations), rebuilds the table"
    };
    (
        Algorithm::InplaceBlocking,
        format!("adds a FULLTEXT index: writes are blocked while it is built{first}"),
    )
}

/// The effect of an algorithm, for messages.
pub(crate) fn effect(a: Algorithm) -> &'static str {
    match a {
        Algorithm::InplaceBlocking => {
            "MySQL builds it in place but blocks INSERT, UPDATE and DELETE until it finishes"
        }
        Algorithm::Rebuild => {
            "MySQL rebuilds the table in place: writes continue, but the rebuild takes time proportional to the table, needs free disk space for a second copy of it, and replicas apply the ALTER only after it finished on the source (they lag for as long)"
        }
        Algorithm::RebuildBlocking => {
            "MySQL rebuilds the table and blocks INSERT, UPDATE and DELETE until the rebuild finishes"
        }
        Algorithm::Copy => {
            "MySQL copies the table (ALGORITHM=COPY), blocking INSERT, UPDATE and DELETE until every row is copied, with free disk space needed for the copy"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_from_versions() {
        assert_eq!(
            Server::of(Version::new(8, 0, 0)),
            Server::Mysql(Version::new(8, 0, 40))
        );
        assert!(Server::of(Version::new(8, 0, 0)).instant_drop_column());
        assert!(!Server::of(Version::new(8, 0, 28)).instant_drop_column());
        assert!(!Server::of(Version::new(5, 7, 0)).instant_drop_column());
        assert!(Server::of(Version::new(10, 11, 0)).instant_drop_column());
        assert!(!Server::of(Version::new(10, 3, 0)).instant_drop_column());
        assert_eq!(Server::of(Version::new(10, 6, 0)).name(), "MariaDB 10.6");
    }
}
