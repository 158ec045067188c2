//! `CREATE INDEX CONCURRENTLY` / `REINDEX CONCURRENTLY` on PostgreSQL 14.0–14.3, whose bug can
//! build indexes with missing entries.

use super::*;
use crate::sql::ir::Op;

pub static RULE: Rule = Rule {
    meta: RuleMeta {
        name: "concurrent-index-corruption",
        category: Category::Destructive,
        verdict: Verdict::Destructive,
        dialects: POSTGRES,
        summary: "Concurrent index builds on PostgreSQL 14.0 to 14.3 can silently corrupt the index",
        why: "PostgreSQL 14.0 to 14.3 have a bug (fixed in 14.4) by which CREATE INDEX CONCURRENTLY and REINDEX CONCURRENTLY can build an index that misses entries for rows updated while it was built: queries that use the index then silently return wrong results, and unique indexes can let duplicates in. Only reported when the target version is configured and lies in 14.0–14.3; when it is given as just `14` (or `14.0`, which reads the same) the finding is risky rather than destructive, since the servers may run a fixed minor release. Not reported for tables created earlier in the same file.",
        safer: "Upgrade the servers to PostgreSQL 14.4 or later before building indexes concurrently (and configure the exact target version, e.g. `--target-version 14.11`); after upgrading, rebuild indexes that were built or rebuilt concurrently under 14.0–14.3 (`REINDEX INDEX CONCURRENTLY …`), and check them with the amcheck extension (`pg_amcheck --heapallindexed`).",
        anchors: &["strong_migrations:add_index_corruption"],
        bad: include_str!("../../fixtures/rules/concurrent-index-corruption/bad.sql"),
        good: include_str!("../../fixtures/rules/concurrent-index-corruption/good.sql"),
    },
    check,
};

fn check(ctx: &Ctx, stmt: &Statement) -> Vec<Hit> {
    let v = ctx.version;
    if !ctx.version_configured || v < Version::new(14, 0, 0) || v >= Version::new(14, 4, 0) {
        return Vec::new();
    }
    let what = stmt.ops.iter().find_map(|op| match op {
        Op::CreateIndex {
            concurrently: true,
            table,
            name,
            ..
        } if ctx.is_existing(table) => Some(match name {
            Some(n) => format!("CREATE INDEX CONCURRENTLY `{n}` on `{table}`"),
            None => format!("CREATE INDEX CONCURRENTLY on `{table}`"),
        }),
        Op::Reindex {
            concurrently: true, ..
        } => Some("REINDEX … CONCURRENTLY".to_string()),
        _ => None,
    });
    let Some(what) = what else {
        return Vec::new();
    };
    let exact = v.minor != 0 || v.patch != 0;
    let version = if exact {
        format!("PostgreSQL {v} (the target version)")
    } else {
        format!(
            "PostgreSQL {v}.0 to 14.3 (the target version says only {v}: if the servers run 14.4 or later, configure the exact version)"
        )
    };
    let hit = Hit::new(
        stmt.span,
        format!(
            "{what} on {version}: a bug in 14.0–14.3 can build the index with entries missing for rows updated during the build, so queries using it silently return wrong results; upgrade to 14.4 or later first"
        ),
    );
    vec![if exact {
        hit
    } else {
        hit.with_verdict(Verdict::Risky)
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{hits, hits_with};

    const R: &str = "concurrent-index-corruption";

    #[test]
    fn fixtures() {
        // fixtures_behave checks without a target version, where this rule never fires: the bad
        // fixture needs a configured 14.0–14.3, the good one shows the same build after upgrading
        let pg = Dialect::Postgres;
        assert!(!hits_with(R, RULE.meta.bad, pg, Some("14.2")).is_empty());
        assert!(hits_with(R, RULE.meta.good, pg, Some("14.4")).is_empty());
        assert!(hits(R, RULE.meta.bad, pg).is_empty());
    }

    #[test]
    fn version_range() {
        let sql = "-- migsafe:no-transaction\nCREATE INDEX CONCURRENTLY i ON orders (a);";
        let pg = Dialect::Postgres;
        for v in ["14.1", "14.2.0", "14.3"] {
            let h = hits_with(R, sql, pg, Some(v));
            assert_eq!(h.len(), 1, "{v}");
            assert!(h[0].contains("(the target version)"), "{h:?}");
        }
        for v in ["13.7", "14.4", "15"] {
            assert!(hits_with(R, sql, pg, Some(v)).is_empty(), "{v}");
        }
        // just "14" (or "14.0", which reads the same): reported, but as risky with a hint
        for v in ["14", "14.0"] {
            let h = hits_with(R, sql, pg, Some(v));
            assert!(h[0].contains("configure the exact version"), "{h:?}");
        }
        let r = hits_with(
            R,
            "-- migsafe:no-transaction\nREINDEX TABLE CONCURRENTLY orders;",
            pg,
            Some("14.2"),
        );
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn verdicts() {
        use crate::classify::{CheckOptions, check_sql};
        let verdict = |v: &str| {
            let opts = CheckOptions {
                target_version: Version::parse(v),
                ..CheckOptions::default()
            };
            check_sql(
                "-- migsafe:no-transaction\nCREATE INDEX CONCURRENTLY i ON orders (a);",
                &opts,
            )
            .findings
            .into_iter()
            .find(|f| f.rule == R)
            .map(|f| f.verdict)
        };
        assert_eq!(verdict("14.2"), Some(Verdict::Destructive));
        assert_eq!(verdict("14"), Some(Verdict::Risky));
        let new = "-- migsafe:no-transaction\nCREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY i ON t (a);";
        assert!(hits_with(R, new, Dialect::Postgres, Some("14.2")).is_empty());
    }
}
