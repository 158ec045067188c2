//! temp
#[cfg(test)]
mod tests {
    use crate::sql::{self, Dialect};
    #[test]
    fn dump() {
        let cases: &[(Dialect, &str)] = &[
            (Dialect::Mysql, "ALTER TABLE t DROP CHECK chk_a;"),
            (Dialect::Mysql, "ALTER TABLE t DROP CONSTRAINT chk_a;"),
            (Dialect::Mysql, "ALTER TABLE t DROP FOREIGN KEY fk_a;"),
            (Dialect::Mysql, "DROP SCHEMA shop;"),
            (Dialect::Mysql, "DROP DATABASE shop;"),
            (Dialect::Sqlite, "ALTER TABLE t DROP COLUMN a;"),
            (
                Dialect::Postgres,
                "ALTER TABLE t DROP COLUMN a, DROP COLUMN IF EXISTS b CASCADE;",
            ),
            (Dialect::Postgres, "DROP SCHEMA s CASCADE;"),
            (Dialect::Postgres, "DROP DATABASE d;"),
            (Dialect::Sqlite, "DROP DATABASE d;"),
            (Dialect::Postgres, "TRUNCATE a, b CASCADE;"),
            (Dialect::Mysql, "TRUNCATE TABLE a;"),
            (Dialect::Mysql, "DELETE FROM `orders`;"),
            (Dialect::Postgres, "DELETE FROM orders o USING x;"),
            (Dialect::Postgres, "DELETE FROM public.orders AS o;"),
            (Dialect::Postgres, "UPDATE orders AS o SET a = 1, b = 2;"),
            (Dialect::Mysql, "UPDATE `orders` SET a = 1;"),
            (
                Dialect::Postgres,
                "ALTER TABLE t ALTER COLUMN a TYPE integer USING a::integer;",
            ),
            (
                Dialect::Postgres,
                "ALTER TABLE t ALTER COLUMN a SET DATA TYPE varchar(10);",
            ),
            (
                Dialect::Mysql,
                "ALTER TABLE t MODIFY COLUMN a ENUM('x','y') NOT NULL;",
            ),
            (Dialect::Mysql, "ALTER TABLE t CHANGE a b varchar(10);"),
            (
                Dialect::Mysql,
                "ALTER TABLE t MODIFY a varchar(10), ALGORITHM=INPLACE;",
            ),
        ];
        for (d, s) in cases {
            let st = sql::parse_section(s, 0..s.len(), *d);
            for x in st {
                println!(
                    "{d:?} {s}\n  parser={:?} err={:?}\n  {:#?}",
                    x.parser, x.parse_error, x.ops
                );
            }
        }
    }
}
