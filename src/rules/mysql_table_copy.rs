//! MySQL `ALTER TABLE` on an existing table that copies or rebuilds it while blocking writes.

use super::*;
use crate::rules::online_ddl;
use crate::sql::ir::{AlterAction, ConstraintKind, Op};

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "mysql-table-copy",
        category: Category::Lock,
        verdict: Verdict::Risky,
        dialects: MYSQL,
        summary: "ALTER TABLE that makes MySQL/MariaDB copy or rebuild the table, or block writes while it runs",
        why: "InnoDB carries out each ALTER TABLE action in one of three ways (the online DDL tables of the MySQL and MariaDB manuals, per version): INSTANT or in place without touching rows (harmless); in place with a rebuild of the whole table, during which writes continue but which takes time proportional to the table, needs free disk space for a second copy and makes replicas lag for as long as it runs, since they apply the ALTER only after it finished on the source; or ALGORITHM=COPY, which builds a new copy row by row and blocks INSERT, UPDATE and DELETE until it is done. Reported here (per action, with the server version that decides it): COPY for CONVERT TO CHARACTER SET, a column's character set or collation change (MariaDB 10.4.3+ changes the collation of an unindexed CHAR/VARCHAR, and relabels an unindexed utf8mb3 VARCHAR as utf8mb4, in place), ENGINE=<another engine>, dropping the primary key without adding one, a foreign key added while foreign_key_checks is on; a rebuild for ENGINE=InnoDB (null rebuild), FORCE, OPTIMIZE TABLE, ROW_FORMAT, KEY_BLOCK_SIZE, the table's default CHARACTER SET or COLLATE, NULL↔NOT NULL changes, DROP COLUMN before MySQL 8.0.29 / MariaDB 10.4, AUTO_INCREMENT columns (writes blocked); blocked writes while a FULLTEXT index (the table's first also rebuilds it) or a SPATIAL index is built. Explicit `ALGORITHM=COPY` and `LOCK=SHARED|EXCLUSIVE` are reported too. Column type changes are reported by alter-column-type-rewrite and alter-column-type-lossy, ENUM/SET changes by mysql-enum-value-removal, ADD COLUMN defaults by add-column-volatile-default. Not reported with ALGORITHM=INSTANT/INPLACE or LOCK=NONE when those rule the copy out (MySQL then refuses instead of copying), nor for tables created earlier in the same file.",
        safer: "Add `, ALGORITHM=INPLACE, LOCK=NONE` (or `ALGORITHM=INSTANT`) so MySQL refuses with an error instead of silently copying, e.g. `ALTER TABLE orders ADD INDEX idx_note (note), ALGORITHM=INPLACE, LOCK=NONE;`. For changes that cannot be done online (type, character set and primary key changes, a first FULLTEXT index on a big table) use an online schema change tool (gh-ost, pt-online-schema-change) or a maintenance window; run rebuilds (OPTIMIZE, FORCE, ENGINE=InnoDB) off-peak with the replicas' lag watched.",
        anchors: &[
            "strong_migrations:copy_algorithm",
            "strong_migrations:lock_option",
        ],
        bad: include_str!("../../fixtures/rules/mysql-table-copy/bad.sql"),
        good: include_str!("../../fixtures/rules/mysql-table-copy/good.sql"),
    },
    check,
};

/// `SET [SESSION] foreign_key_checks = 0` earlier in the file (and not turned back on).
fn foreign_key_checks_off(ctx: &Ctx) -> bool {
    let mut off = false;
    for s in &ctx.statements[..ctx.position] {
        for op in &s.ops {
            if let Op::Set { name, value, .. } = op
                && name.rsplit('.').next() == Some("foreign_key_checks")
            {
                let v = value.trim().to_ascii_lowercase();
                off = v == "0" || v == "off" || v == "false";
            }
        }
    }
    off
}

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let mut hits = Vec::new();
    for op in &stmt.ops {
        match op {
            Op::AlterTable {
                table,
                items,
                algorithm,
                lock,
            } if ctx.is_existing(table) => alter(
                ctx,
                stmt,
                table,
                items,
                algorithm.as_deref(),
                lock.as_deref(),
                &mut hits,
            ),
            Op::CreateIndex {
                table,
                fulltext,
                spatial,
                ..
            } if (*fulltext || *spatial) && ctx.is_existing(table) => {
                let (a, why) = if *fulltext {
                    online_ddl::fulltext(ctx, table)
                } else {
                    (
                        online_ddl::Algorithm::InplaceBlocking,
                        "adds a SPATIAL index: writes are blocked while it is built".to_string(),
                    )
                };
                hits.push(Hit::new(
                    stmt.span,
                    format!("{why} on `{table}`: {}", online_ddl::effect(a)),
                ));
            }
            Op::Optimize { tables } => {
                for t in tables.iter().filter(|t| ctx.is_existing(t)) {
                    hits.push(Hit::new(
                        stmt.span,
                        format!(
                            "OPTIMIZE TABLE `{t}` rebuilds the InnoDB table (ALTER TABLE … FORCE): {}",
                            online_ddl::effect(online_ddl::Algorithm::Rebuild)
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    hits
}

fn alter(
    ctx: &Ctx,
    stmt: &Statement,
    table: &crate::sql::ir::ObjName,
    items: &[crate::sql::ir::AlterItem],
    algorithm: Option<&str>,
    lock: Option<&str>,
    hits: &mut Vec<Hit>,
) {
    use online_ddl::Algorithm as A;
    if algorithm == Some("COPY") {
        hits.push(Hit::new(
            stmt.span,
            format!(
                "ALGORITHM=COPY on `{table}`: {}",
                online_ddl::effect(A::Copy)
            ),
        ));
        return;
    }
    if let Some(l @ ("SHARED" | "EXCLUSIVE")) = lock {
        let blocked = if l == "SHARED" {
            "writes"
        } else {
            "reads and writes"
        };
        hits.push(Hit::new(
            stmt.span,
            format!("LOCK={l} on `{table}` blocks {blocked} for the whole ALTER TABLE"),
        ));
        return;
    }
    let adds_pk = items.iter().any(|i| {
        matches!(&i.action, AlterAction::AddConstraint(c)
            if matches!(c.kind, ConstraintKind::PrimaryKey { .. }))
    });
    let fk_off = items
        .iter()
        .any(|i| matches!(&i.action, AlterAction::AddConstraint(c) if matches!(c.kind, ConstraintKind::ForeignKey { .. })))
        && foreign_key_checks_off(ctx);
    for item in items {
        let Some((a, why)) = online_ddl::action(ctx, table, &item.action, fk_off, adds_pk) else {
            continue;
        };
        // MySQL refuses (instead of copying or blocking) what the requested algorithm or lock
        // level does not allow
        let refused = match a {
            A::Copy => matches!(algorithm, Some("INSTANT" | "INPLACE")) || lock == Some("NONE"),
            A::Rebuild => algorithm == Some("INSTANT"),
            A::RebuildBlocking | A::InplaceBlocking => {
                algorithm == Some("INSTANT") || lock == Some("NONE")
            }
        };
        if refused {
            continue;
        }
        hits.push(Hit::new(
            item.span,
            format!("{why} of `{table}`: {}", online_ddl::effect(a)),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::hits;

    const R: &str = "mysql-table-copy";

    #[test]
    fn fixtures() {
        testing::fixtures_behave(&RULE);
    }

    fn hits_after(before: &str, sql: &str) -> Vec<String> {
        testing::hits_after(R, before, sql, Dialect::Mysql)
    }

    #[test]
    fn charset_collation_and_fulltext_against_known_schema() {
        let before = "CREATE TABLE posts (title varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci, body text, FULLTEXT KEY ft_title (title));";
        let c = hits_after(
            before,
            "ALTER TABLE posts MODIFY title varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;",
        );
        assert!(
            c[0].contains("collation of `title`") && c[0].contains("ALGORITHM=COPY"),
            "{c:?}"
        );
        let b = hits_after(before, "ALTER TABLE posts MODIFY COLUMN body TEXT BINARY;");
        assert!(b[0].contains("collation of `body` to binary"), "{b:?}");
        // a second FULLTEXT index blocks writes but does not rebuild the table
        let f = hits_after(before, "ALTER TABLE posts ADD FULLTEXT ft_body (body);");
        assert!(!f[0].contains("first"), "{f:?}");
        let f = hits_after(
            "CREATE TABLE notes (body text);",
            "CREATE FULLTEXT INDEX ft ON notes (body);",
        );
        assert!(f[0].contains("first FULLTEXT index, rebuilds"), "{f:?}");
    }

    #[test]
    fn null_changes_against_known_schema() {
        let before =
            "CREATE TABLE orders (amount int NOT NULL, note varchar(10), code varchar(20));";
        let n = hits_after(
            before,
            "ALTER TABLE orders MODIFY note varchar(10) NOT NULL;",
        );
        assert_eq!(n.len(), 1);
        assert!(
            n[0].contains("NULL to NOT NULL") && n[0].contains("rebuilds the table"),
            "{n:?}"
        );
        let back = hits_after(before, "ALTER TABLE orders MODIFY amount int NULL;");
        assert!(back[0].contains("NOT NULL to NULL"), "{back:?}");
        // type changes are alter-column-type-rewrite's; renames and unchanged definitions are fine
        assert!(hits_after(before, "ALTER TABLE orders MODIFY amount bigint NOT NULL;").is_empty());
        assert!(hits_after(before, "ALTER TABLE orders CHANGE code ref varchar(20);").is_empty());
        assert!(
            hits(
                R,
                "ALTER TABLE orders MODIFY note varchar(10) NOT NULL;",
                Dialect::Mysql
            )
            .is_empty()
        );
    }

    #[test]
    fn explicit_options_and_guards() {
        let copy = hits(
            R,
            "ALTER TABLE t ADD COLUMN c int, ALGORITHM=COPY;",
            Dialect::Mysql,
        );
        assert_eq!(copy.len(), 1);
        assert!(copy[0].contains("ALGORITHM=COPY"));
        assert!(
            hits(
                R,
                "ALTER TABLE t ADD COLUMN c int, LOCK=SHARED;",
                Dialect::Mysql
            )[0]
            .contains("blocks writes")
        );
        assert!(
            hits(
                R,
                "ALTER TABLE t MODIFY c bigint, ALGORITHM=INPLACE, LOCK=NONE;",
                Dialect::Mysql
            )
            .is_empty()
        );
        assert!(hits(R, "ALTER TABLE t ADD COLUMN c int;", Dialect::Mysql).is_empty());
    }

    #[test]
    fn copying_actions() {
        for sql in [
            "ALTER TABLE t DROP PRIMARY KEY;",
            "ALTER TABLE t ADD COLUMN id int AUTO_INCREMENT, ADD KEY (id);",
            "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4;",
            "ALTER TABLE t ENGINE=InnoDB;",
            "ALTER TABLE t FORCE;",
            "OPTIMIZE TABLE t;",
            "ALTER TABLE t ROW_FORMAT=COMPRESSED;",
            "ALTER TABLE t ADD FULLTEXT INDEX ft (body);",
            "CREATE FULLTEXT INDEX ft ON t (body);",
            "ALTER TABLE t ADD SPATIAL INDEX sp (g);",
            "ALTER TABLE t DEFAULT CHARACTER SET utf8mb4;",
        ] {
            assert_eq!(hits(R, sql, Dialect::Mysql).len(), 1, "{sql}");
        }
        for sql in [
            "ALTER TABLE t ADD INDEX i (a);",
            "ALTER TABLE t COMMENT = 'x';",
            "ALTER TABLE t AUTO_INCREMENT = 10;",
            "ALTER TABLE t DROP COLUMN c;",
            "ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4, ALGORITHM=INPLACE;",
        ] {
            assert!(hits(R, sql, Dialect::Mysql).is_empty(), "{sql}");
        }
        // DROP COLUMN rebuilds before MySQL 8.0.29 and MariaDB 10.4
        let old = testing::hits_with(
            R,
            "ALTER TABLE t DROP COLUMN c;",
            Dialect::Mysql,
            Some("8.0.28"),
        );
        assert!(old[0].contains("no instant DROP COLUMN"), "{old:?}");
        assert!(
            testing::hits_with(
                R,
                "ALTER TABLE t DROP COLUMN c;",
                Dialect::Mysql,
                Some("10.6")
            )
            .is_empty()
        );
        assert!(
            hits(
                R,
                "ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id, b);",
                Dialect::Mysql
            )
            .is_empty()
        );
        let created = "CREATE TABLE t (a int);\nALTER TABLE t MODIFY a bigint;";
        assert!(hits(R, created, Dialect::Mysql).is_empty());
    }
}
