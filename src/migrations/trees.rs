//! Discovery on whole trees: one fixture per ordering rule (`fixtures/migrations/order/`,
//! each rule checked against the tool's own source, cited below), real trees copied from
//! public projects (`fixtures/migrations/corpus/`) and per-dialect trees.

use super::tests::file_names as names;
use super::*;
use std::collections::BTreeMap;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/migrations");

fn fixture(rel: &str) -> PathBuf {
    Path::new(FIXTURES).join(rel)
}

fn run(rel: &str, dialect: Option<Dialect>) -> Discovery {
    let options = DiscoverOptions {
        dialect,
        ..DiscoverOptions::default()
    };
    discover_with(&[fixture(rel)], &options).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn file_names(ms: &[Migration]) -> Vec<String> {
    ms.iter()
        .map(|m| m.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn of(d: &Discovery, dialect: Dialect) -> Vec<String> {
    let ms: Vec<Migration> = d
        .migrations
        .iter()
        .filter(|m| m.dialect == dialect)
        .cloned()
        .collect();
    file_names(&ms)
}

fn skipped_names(d: &Discovery) -> Vec<(String, &'static str)> {
    d.skipped
        .iter()
        .map(|s| {
            (
                s.path.file_name().unwrap().to_string_lossy().into_owned(),
                s.reason.as_str(),
            )
        })
        .collect()
}

// ---- one fixture per ordering rule ---------------------------------------------------------

/// diesel_migrations `version_from_string`: the folder name up to the first `_` with dashes
/// removed; `MigrationVersion` derives `Ord` on the string, so versions compare as text. As
/// numbers `20240313` would sort before `20240306170000`, and the column would be added before
/// its table exists.
#[test]
fn diesel_compares_versions_as_text() {
    let d = run("order/diesel-version-text", None);
    assert!(d.migrations.iter().all(|m| m.layout == Layout::Diesel));
    assert_eq!(
        names(&d.migrations),
        [
            "00000000000000_diesel_initial_setup/up.sql",
            "2024-03-06-170000_create_posts/up.sql",
            "2024-03-13_170000_add_posts_title/up.sql"
        ]
    );
    let versions: Vec<&str> = d.migrations.iter().map(|m| m.version.as_str()).collect();
    assert_eq!(versions, ["00000000000000", "20240306170000", "20240313"]);
}

/// dbmate `FindMigrations`: `sort.Slice(… FileName < FileName)`, file names as text.
#[test]
fn dbmate_sorts_file_names_as_text() {
    let d = run("order/dbmate-file-name", None);
    assert!(d.migrations.iter().all(|m| m.layout == Layout::Dbmate));
    assert_eq!(
        file_names(&d.migrations),
        [
            "10_create_payments.sql",
            "1_create_accounts.sql",
            "2_create_invoices.sql"
        ]
    );
}

/// prisma `listMigrations`: folder names sorted with `localeCompare`; for Prisma's
/// `<14 digits>_<name>` folders that is their text order (equal timestamps by name).
#[test]
fn prisma_sorts_folder_names_as_text() {
    let d = run("order/prisma-folder-name", None);
    assert_eq!(
        names(&d.migrations),
        [
            "20231231000000_init/migration.sql",
            "20240101120000_add_a/migration.sql",
            "20240101120000_add_b/migration.sql",
            "2024_early_hotfix/migration.sql"
        ]
    );
    // migration_lock.toml names the provider
    assert!(
        d.migrations
            .iter()
            .all(|m| m.dialect == Dialect::Postgres && m.dialect_named)
    );
}

/// Flyway `MigrationVersion.compareTo`: `_` → `.`, parts compared as BigIntegers, missing
/// parts count as zero; `ResolvedMigrationComparator`: repeatable migrations after versioned
/// ones, by description.
#[test]
fn flyway_compares_version_parts_as_numbers() {
    let d = run("order/flyway-version-parts", None);
    assert_eq!(
        file_names(&d.migrations),
        [
            "V1__create_t.sql",
            "V1.1__add_a.sql",
            "V1.9__add_b.sql",
            "V1_10__add_c.sql",
            "V2.0.0__add_d.sql",
            "R__a_view.sql",
            "R__b_view.sql"
        ]
    );
}

/// sqlx `resolve_blocking`: `version: i64`, `sort_by_key(version)`; golang-migrate
/// `source.Parse`: `strconv.ParseUint`, index sorted numerically; goose `NumericComponent`:
/// `strconv.ParseInt`, `Migrations.Less` by version.
#[test]
fn sqlx_golang_migrate_and_goose_compare_numbers() {
    for (rel, layout, expect) in [
        (
            "order/sqlx-numeric",
            Layout::Sqlx,
            ["1_create_t1.sql", "2_create_t2.up.sql", "10_create_t10.sql"],
        ),
        (
            "order/golang-migrate-numeric",
            Layout::GolangMigrate,
            [
                "1_create_t1.up.sql",
                "2_create_t2.up.sql",
                "10_create_t10.up.sql",
            ],
        ),
        (
            "order/goose-numeric",
            Layout::Goose,
            [
                "00001_create_t1.sql",
                "00002_create_t2.sql",
                "00010_create_t10.sql",
            ],
        ),
    ] {
        let d = run(rel, None);
        assert!(d.migrations.iter().all(|m| m.layout == layout), "{rel}");
        assert_eq!(file_names(&d.migrations), expect, "{rel}");
    }
}

/// drizzle-orm `readMigrationFiles`: the entries of `meta/_journal.json` in order, `<tag>.sql`
/// each; a file the journal does not list is never applied.
#[test]
fn drizzle_follows_its_journal() {
    let d = run("order/drizzle-journal", None);
    assert_eq!(
        file_names(&d.migrations),
        ["0000_users.sql", "0001_email.sql"]
    );
    assert_eq!(
        skipped_names(&d),
        [("0002_scratch.sql".to_string(), "not_in_journal")]
    );
    // the journal's `dialect`
    assert!(d.migrations.iter().all(|m| m.dialect_named));
}

/// ory/popx `compareMigration`: versions compared with `strings.Compare`, a dialect's own file
/// before the generic one; `sortAndFilter` keeps the most specific file per version.
#[test]
fn pop_compares_versions_as_text_and_prefers_variants() {
    let d = run("order/pop-version-text", None);
    assert!(d.migrations.iter().all(|m| m.layout == Layout::Pop));
    assert_eq!(
        of(&d, Dialect::Postgres),
        ["1_a.postgres.up.sql", "10_c.up.sql", "2_b.up.sql"]
    );
    assert_eq!(
        of(&d, Dialect::Mysql),
        ["1_a.up.sql", "10_c.mysql.up.sql", "2_b.up.sql"]
    );
    assert!(d.skipped.is_empty(), "{:?}", d.skipped);
}

/// Plain folders: natural order of the paths, subfolders included.
#[test]
fn plain_sorts_paths_naturally() {
    let d = run("order/plain-natural", None);
    assert_eq!(
        names(&d.migrations),
        [
            "plain-natural/1_e.sql",
            "v1.9/a.sql",
            "v1.10/b.sql",
            "v2/2_c.sql",
            "v2/10_d.sql"
        ]
    );
}

// ---- per-dialect trees ---------------------------------------------------------------------

/// Synapse `prepare_database`: `.sql` runs on every engine, `.sql.<engine>` on its engine only.
#[test]
fn synapse_style_engine_suffixes() {
    let d = run("order/synapse-deltas", None);
    assert_eq!(d.dialects(), [Dialect::Postgres, Dialect::Sqlite]);
    assert_eq!(
        of(&d, Dialect::Postgres),
        [
            "01_room_stats.sql",
            "02_room_stats_idx.sql.postgres",
            "01_invited.sql",
            "02_joined_int.sql.postgres"
        ]
    );
    assert_eq!(
        of(&d, Dialect::Sqlite),
        [
            "01_room_stats.sql",
            "02_room_stats_idx.sql.sqlite",
            "01_invited.sql"
        ]
    );
    let idx = d
        .migrations
        .iter()
        .find(|m| m.path.ends_with("02_room_stats_idx.sql.postgres"))
        .unwrap();
    assert_eq!(idx.description, "room stats idx");
    assert!(idx.dialect_named);

    // one dialect selected: the other engine's files are listed, not dropped
    let d = run("order/synapse-deltas", Some(Dialect::Postgres));
    assert_eq!(d.dialects(), [Dialect::Postgres]);
    assert_eq!(
        skipped_names(&d),
        [("02_room_stats_idx.sql.sqlite".to_string(), "other_dialect")]
    );
    assert_eq!(d.skipped[0].dialect.as_deref(), Some("sqlite"));

    // a glob of the files behaves like the folder
    let pattern = format!("{FIXTURES}/order/synapse-deltas/delta/54/*");
    let d = discover_with(&[PathBuf::from(pattern)], &DiscoverOptions::default()).unwrap();
    assert_eq!(d.migrations.len(), 4, "{:?}", names(&d.migrations));
}

/// ory/kratos: `<version>_<name>.<dialect>.(up|down).sql` beside generic files, checked as
/// three histories (PostgreSQL, MySQL, SQLite), each as popx would apply it.
#[test]
fn kratos_tree_from_the_corpus() {
    let d = run("corpus/kratos/sql", None);
    assert!(d.migrations.iter().all(|m| m.layout == Layout::Pop));
    assert_eq!(
        d.dialects(),
        [Dialect::Mysql, Dialect::Postgres, Dialect::Sqlite]
    );
    assert_eq!(
        of(&d, Dialect::Postgres),
        [
            "20150100000001000000_networks.postgres.up.sql",
            "20191100000001000000_identities.postgres.up.sql",
            "20191100000001000004_identities.postgres.up.sql",
            "20200519101057000004_create_recovery_addresses.postgres.up.sql",
            "20220420102701000000_identity_metadata.up.sql",
            "20220824165300000001_populate_flow_type_in_recovery_tokens.up.sql",
            "20230705000000000001_cookie_flow_request_url.up.sql",
            "20230920171028000000_identity_search_index.postgres.up.sql",
            "20260327101213000000_add_break_glass_to_recovery_addresses.postgres.up.sql",
        ]
    );
    assert_eq!(
        of(&d, Dialect::Mysql),
        [
            "20150100000001000000_networks.mysql.up.sql",
            "20191100000001000000_identities.mysql.up.sql",
            "20191100000001000004_identities.mysql.up.sql",
            "20200519101057000004_create_recovery_addresses.mysql.up.sql",
            "20220420102701000000_identity_metadata.mysql.up.sql",
            "20220824165300000001_populate_flow_type_in_recovery_tokens.up.sql",
            "20230705000000000001_cookie_flow_request_url.mysql.up.sql",
            "20230920171028000000_identity_search_index.up.sql",
            "20260327101213000000_add_break_glass_to_recovery_addresses.mysql.up.sql",
        ]
    );
    // `.sqlite.` and `.sqlite3.` both name SQLite
    let sqlite = of(&d, Dialect::Sqlite);
    assert!(
        sqlite.contains(&"20230705000000000001_cookie_flow_request_url.sqlite.up.sql".to_string())
    );
    assert!(sqlite.contains(&"20150100000001000000_networks.sqlite3.up.sql".to_string()));
    assert!(sqlite.contains(&"20220420102701000000_identity_metadata.up.sql".to_string()));
    // a generic file takes its dialect's down when it has one, else the generic down
    let down = |name: &str, dialect: Dialect| {
        d.migrations
            .iter()
            .find(|m| m.dialect == dialect && m.path.ends_with(name))
            .and_then(|m| m.down.as_ref())
            .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
    };
    assert_eq!(
        down(
            "20230705000000000001_cookie_flow_request_url.mysql.up.sql",
            Dialect::Mysql
        )
        .as_deref(),
        Some("20230705000000000001_cookie_flow_request_url.mysql.down.sql")
    );
    assert_eq!(
        down(
            "20230705000000000001_cookie_flow_request_url.up.sql",
            Dialect::Postgres
        )
        .as_deref(),
        Some("20230705000000000001_cookie_flow_request_url.down.sql")
    );
    // every generic file is used by some dialect: nothing is skipped without --dialect
    assert!(d.skipped.is_empty(), "{:?}", d.skipped);
    // the folder above, as `persistence/sql/migrations` is above kratos' `sql/`: the one
    // subfolder holding SQL is detected as if it had been named
    let above = run("corpus/kratos", None);
    assert!(above.migrations.iter().all(|m| m.layout == Layout::Pop));
    assert_eq!(file_names(&above.migrations), file_names(&d.migrations));

    // --dialect postgres: the MySQL and SQLite files and the generic files with a PostgreSQL
    // variant are listed as skipped; every file is accounted for
    let pg = run("corpus/kratos/sql", Some(Dialect::Postgres));
    assert_eq!(pg.dialects(), [Dialect::Postgres]);
    assert_eq!(file_names(&pg.migrations), of(&d, Dialect::Postgres));
    let mut reasons: BTreeMap<(&str, Option<String>), usize> = BTreeMap::new();
    for s in &pg.skipped {
        *reasons
            .entry((s.reason.as_str(), s.dialect.clone()))
            .or_default() += 1;
    }
    assert_eq!(
        reasons,
        BTreeMap::from([
            (("other_dialect", Some("mysql".to_string())), 7),
            (("other_dialect", Some("sqlite".to_string())), 5),
            (("replaced_by_variant", None), 2),
        ])
    );
    let ups = std::fs::read_dir(fixture("corpus/kratos/sql"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".up.sql")
        })
        .count();
    assert_eq!(pg.migrations.len() + pg.skipped.len(), ups);
}

/// temporalio/temporal `schema/{mysql/v8,postgresql/v12,sqlite/v3}/…`: plain SQL, one dialect
/// per folder, versions in natural order (`v1.9` before `v1.10`).
#[test]
fn temporal_tree_from_the_corpus() {
    let d = run("corpus/temporal/schema", None);
    assert!(d.migrations.iter().all(|m| m.layout == Layout::Plain));
    assert_eq!(
        d.dialects(),
        [Dialect::Mysql, Dialect::Postgres, Dialect::Sqlite]
    );
    for m in &d.migrations {
        let p = m.path.to_string_lossy();
        let want = if p.contains("/mysql/") {
            Dialect::Mysql
        } else if p.contains("/postgresql/") {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        };
        assert_eq!(m.dialect, want, "{p}");
        assert!(m.dialect_named);
    }
    let versions = |dialect: Dialect| -> Vec<String> {
        d.migrations
            .iter()
            .filter(|m| m.dialect == dialect)
            .map(|m| {
                m.path
                    .parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    };
    assert_eq!(
        versions(Dialect::Postgres),
        ["v1.0", "v1.1", "v1.9", "v1.10"]
    );
    assert_eq!(versions(Dialect::Mysql), ["v1.0", "v1.1", "v1.9", "v1.10"]);
    assert_eq!(versions(Dialect::Sqlite), ["v0.2", "v0.10"]);

    let my = run("corpus/temporal/schema", Some(Dialect::Mysql));
    assert_eq!(my.migrations.len(), 4);
    assert_eq!(my.skipped.len(), 6);
    assert!(
        my.skipped
            .iter()
            .all(|s| s.reason == SkipReason::OtherDialect)
    );
}

/// apache/dolphinscheduler `sql/upgrade/<version>_schema/{mysql,postgresql}/`: plain SQL, the
/// dialect from the folder, versions in natural order.
#[test]
fn dolphinscheduler_tree_from_the_corpus() {
    let d = run("corpus/dolphinscheduler/upgrade", None);
    assert_eq!(d.dialects(), [Dialect::Mysql, Dialect::Postgres]);
    let rel = |m: &Migration| {
        m.path
            .strip_prefix(fixture("corpus/dolphinscheduler/upgrade"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let pg: Vec<String> = d
        .migrations
        .iter()
        .filter(|m| m.dialect == Dialect::Postgres)
        .map(rel)
        .collect();
    assert_eq!(
        pg,
        [
            "3.0.0_schema/postgresql/dolphinscheduler_ddl.sql",
            "3.0.0_schema/postgresql/dolphinscheduler_dml.sql",
            "3.2.1_schema/postgresql/dolphinscheduler_ddl.sql",
            "3.2.1_schema/postgresql/dolphinscheduler_ddl_post.sql",
            "3.2.1_schema/postgresql/dolphinscheduler_dml.sql",
        ]
    );
    assert_eq!(
        d.migrations
            .iter()
            .filter(|m| m.dialect == Dialect::Mysql)
            .count(),
        5
    );
}

/// Files for databases migsafe does not check are listed, and a run where nothing is left
/// says why instead of passing.
#[test]
fn unsupported_databases_and_empty_selections() {
    let d = run("pop", None);
    assert_eq!(
        skipped_names(&d),
        [(
            "20200104000000000000_identities_state.cockroach.up.sql".to_string(),
            "unsupported_dialect"
        )]
    );
    assert_eq!(d.skipped[0].dialect.as_deref(), Some("cockroach"));

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("mysql")).unwrap();
    std::fs::write(dir.path().join("mysql/1_a.sql"), "CREATE TABLE a (id int);").unwrap();
    std::fs::write(dir.path().join("mysql/2_b.sql"), "CREATE TABLE b (id int);").unwrap();
    let options = DiscoverOptions {
        dialect: Some(Dialect::Postgres),
        ..DiscoverOptions::default()
    };
    let err = discover_with(&[dir.path().to_path_buf()], &options).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, DiscoverError::NothingToCheck { count: 2, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("2 written for mysql") && msg.contains("pass `--dialect mysql`"),
        "{msg}"
    );
}

/// A generic file and its variant in one folder: the variant wins for its dialect; the
/// layouts that name dialects by folder work the same.
#[test]
fn variants_win_per_dialect_in_every_layout() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("flyway/V1__init.sql", "CREATE TABLE a (id int);");
    write("flyway/V1__init.sqlite.sql", "CREATE TABLE a (id INTEGER);");
    write("flyway/V2__more.sql", "CREATE TABLE b (id int);");
    let d = discover_with(
        &[dir.path().join("flyway")],
        &DiscoverOptions {
            dialect: Some(Dialect::Sqlite),
            ..DiscoverOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        file_names(&d.migrations),
        ["V1__init.sqlite.sql", "V2__more.sql"]
    );
    assert_eq!(
        skipped_names(&d),
        [("V1__init.sql".to_string(), "replaced_by_variant")]
    );
    // two variants for one dialect clash
    write(
        "flyway/V1__init.sqlite3.sql",
        "CREATE TABLE a (id INTEGER);",
    );
    let err = discover(&[dir.path().join("flyway")], None).unwrap_err();
    assert!(
        matches!(err, DiscoverError::DuplicateVersion { .. }),
        "{err}"
    );
}

#[test]
fn goose_go_migrations_are_listed_as_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("00001_init.sql"),
        "-- +goose Up\nCREATE TABLE a (id int);\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("00002_backfill.go"), "package migrations\n").unwrap();
    std::fs::write(
        dir.path().join("migrations_test.go"),
        "package migrations\n",
    )
    .unwrap();
    let d = discover_with(&[dir.path().to_path_buf()], &DiscoverOptions::default()).unwrap();
    assert_eq!(d.migrations.len(), 1);
    assert_eq!(
        skipped_names(&d),
        [("00002_backfill.go".to_string(), "not_sql")]
    );
}
