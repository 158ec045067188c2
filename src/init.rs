//! `migsafe init`: finds the migrations of the repository it runs in (layout and dialect, with
//! the same discovery `check` uses) and writes a commented `migsafe.toml`, and with `--ci` a CI
//! workflow that runs the GitHub Action or the GitLab job from `docs/ci.md`.

use crate::migrations::{self, DiscoverOptions, Layout, transaction};
use crate::sql::Dialect;
use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

/// Where migsafe is published: the GitHub Action and `cargo install --git` use it.
pub const REPOSITORY: &str = "migsafe/migsafe";

/// Folders never searched for migrations.
const SKIP_DIRS: &[&str] = &[
    "node_modules",
    "target",
    "vendor",
    "dist",
    "build",
    "venv",
    "__pycache__",
    "fixtures",
    "testdata",
    "test",
    "tests",
];
const MAX_DEPTH: usize = 6;

/// Which CI workflow to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ci {
    Github,
    Gitlab,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{}: already exists; pass --force to replace it", .0.display())]
    Exists(PathBuf),
    #[error("{}: cannot write: {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: cannot read the folder: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One migration folder found in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Relative to the repository root, `/`-separated.
    pub path: String,
    pub layout: Layout,
    pub migrations: usize,
    /// The dialects its files' names or folders say, in order of first appearance.
    pub named: Vec<Dialect>,
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// A folder whose name says it holds migrations; with `loose`, also the names schema folders
/// often have.
fn migration_name(dir: &Path, loose: bool) -> bool {
    dir.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        let n = n.to_ascii_lowercase();
        n.contains("migrat")
            || matches!(
                n.as_str(),
                "deltas" | "delta" | "changes" | "upgrade" | "versioned"
            )
            || (loose && matches!(n.as_str(), "schema" | "schemas" | "sql" | "db"))
    })
}

/// The migration folders below `root`: a folder whose layout is not plain, or whose name says
/// it holds migrations, is taken whole (its subfolders are not searched again). When none is
/// found, folders named `schema`, `sql` or `db` count too.
pub fn find(root: &Path) -> Result<Vec<Found>, InitError> {
    let strict = find_with(root, false)?;
    if strict.is_empty() {
        find_with(root, true)
    } else {
        Ok(strict)
    }
}

fn find_with(root: &Path, loose: bool) -> Result<Vec<Found>, InitError> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|source| InitError::Read {
            path: dir.clone(),
            source,
        })?;
        let mut subdirs = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() && !name.starts_with('.') && !SKIP_DIRS.contains(&name.as_str()) {
                subdirs.push(path);
            }
        }
        if dir != root
            && let Ok(d) =
                migrations::discover_with(std::slice::from_ref(&dir), &DiscoverOptions::default())
            && let Some(first) = d.migrations.first()
            && (first.layout != Layout::Plain || migration_name(&dir, loose))
            // the files sit deeper in one folder: record that folder when the walk gets there
            && common_folder(&d.migrations).is_none_or(|c| c == dir)
        {
            let mut named = Vec::new();
            for m in d.migrations.iter().filter(|m| m.dialect_named) {
                if !named.contains(&m.dialect) {
                    named.push(m.dialect);
                }
            }
            out.push(Found {
                path: relative(root, &dir),
                layout: first.layout,
                migrations: d.migrations.len(),
                named,
            });
            continue;
        }
        if depth < MAX_DEPTH {
            subdirs.sort();
            for sub in subdirs.into_iter().rev() {
                stack.push((sub, depth + 1));
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The folder holding every migration (the parent of Prisma's and Diesel's migration folders).
fn common_folder(ms: &[migrations::Migration]) -> Option<PathBuf> {
    let folder = |m: &migrations::Migration| {
        let parent = m.path.parent()?;
        match m.layout {
            Layout::Prisma | Layout::Diesel => parent.parent().map(Path::to_path_buf),
            _ => Some(parent.to_path_buf()),
        }
    };
    let mut common = folder(ms.first()?)?;
    for m in ms {
        let f = folder(m)?;
        while !f.starts_with(&common) {
            common = common.parent()?.to_path_buf();
        }
    }
    Some(common)
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The commented `migsafe.toml` for what was found. `url_dialect` is the dialect of
/// DATABASE_URL, when set.
pub fn config(found: &[Found], url_dialect: Option<Dialect>) -> String {
    let mut s = format!(
        "# migsafe.toml, written by `migsafe init` (migsafe {}).\n# Every key is optional; `migsafe check --help` and the README describe them.\n\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut named: Vec<Dialect> = Vec::new();
    for f in found {
        for d in &f.named {
            if !named.contains(d) {
                named.push(*d);
            }
        }
    }
    s.push_str("# The dialect of files whose folder or name does not say one. Set, it also means\n# \"check this dialect only\": files written for others are listed as skipped.\n");
    match (named.as_slice(), url_dialect) {
        ([one], _) => {
            let _ = writeln!(
                s,
                "# Found: every folder or file that names a dialect names {}.\ndialect = \"{}\"",
                one.as_str(),
                one.as_str()
            );
        }
        ([], Some(d)) => {
            let _ = writeln!(s, "# From DATABASE_URL.\ndialect = \"{}\"", d.as_str());
        }
        ([], None) => {
            s.push_str("# No folder or file names one, so PostgreSQL is assumed; say mysql or sqlite if yours is.\n# dialect = \"postgres\"\n");
        }
        (many, _) => {
            let list: Vec<&str> = many.iter().map(|d| d.as_str()).collect();
            let _ = writeln!(
                s,
                "# Found migrations for {}: without this key each file is checked in its own dialect.\n# dialect = \"{}\"",
                list.join(", "),
                list[0]
            );
        }
    }
    s.push_str("\n# Server version the rules assume (default: PostgreSQL 15, MySQL 8.0, SQLite 3.35).\n# target_version = \"15\"\n");
    s.push_str("\n# Lowest verdict that fails `migsafe check` (exit 1): destructive | risky | caution | never.\nfail_on = \"risky\"\n");

    s.push_str("\n[migrations]\n");
    if found.is_empty() {
        s.push_str(
            "# No migration folder was found; list yours (relative to this file).\npaths = []\n",
        );
    } else {
        for f in found {
            let _ = writeln!(
                s,
                "# {}: {} layout, {} migration{}",
                f.path,
                f.layout,
                f.migrations,
                if f.migrations == 1 { "" } else { "s" }
            );
        }
        let paths: Vec<String> = found.iter().map(|f| toml_string(&f.path)).collect();
        let _ = writeln!(s, "paths = [{}]", paths.join(", "));
    }
    let layouts: Vec<Layout> = found.iter().fold(Vec::new(), |mut v, f| {
        if !v.contains(&f.layout) {
            v.push(f.layout);
        }
        v
    });
    match layouts.as_slice() {
        [one] => {
            let _ = writeln!(
                s,
                "# Detected from the file names; set it to force the layout.\n# layout = \"{one}\""
            );
        }
        _ => s.push_str(
            "# Detected per folder; set it to force one layout for every folder.\n# layout = \"sqlx\"\n",
        ),
    }
    if let Some(l) = layouts
        .iter()
        .copied()
        .find(|l| transaction::configurable(*l))
    {
        let dialect = named
            .first()
            .copied()
            .or(url_dialect)
            .unwrap_or(Dialect::Postgres);
        let t = transaction::resolve(l, dialect, None, migrations::TxSetting::Auto);
        let _ = writeln!(
            s,
            "# How your migrator runs each file: \"auto\" {}; \"per-file\" (one transaction each) or \"none\" (statement by statement) if yours differs.\n# transaction = \"auto\"",
            t.assumption()
                .unwrap_or_default()
                .split("; set ")
                .next()
                .unwrap_or_default()
        );
    }
    s.push_str("\n[rules]\n# Per rule: off | error | warning | info (`migsafe check --list-rules` lists them).\n# missing-statement-timeout = \"warning\"\n");
    s
}

/// The GitHub workflow running the migsafe action on pull requests.
pub fn github_workflow(paths: &[String]) -> String {
    let mut triggers = String::new();
    for p in paths {
        let _ = writeln!(triggers, "      - {}", yaml_path(&format!("{p}/**")));
    }
    format!(
        r#"# Runs migsafe on the migrations a pull request adds or changes: a verdict per file in the
# job log, findings in code scanning (SARIF) and one pull-request comment, updated on each push.
name: migsafe

on:
  pull_request:
    paths:
{triggers}      - migsafe.toml

permissions:
  contents: read
  pull-requests: write
  security-events: write

jobs:
  migsafe:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
        with:
          fetch-depth: 0
      - uses: {REPOSITORY}@v{version}
        with:
          paths: {paths}
          fail-on: risky
"#,
        version = env!("CARGO_PKG_VERSION"),
        paths = yaml_path(&paths.join(" ")),
    )
}

/// The GitLab CI job, to include from `.gitlab-ci.yml`.
pub fn gitlab_job(paths: &[String]) -> String {
    let changes: Vec<String> = paths
        .iter()
        .map(|p| yaml_path(&format!("{p}/**/*")))
        .chain(std::iter::once("migsafe.toml".to_string()))
        .collect();
    let args = paths.join(" ");
    format!(
        r#"# Runs migsafe on the migrations a merge request adds or changes. Include it from
# .gitlab-ci.yml:
#   include:
#     - local: .gitlab/migsafe.yml
migsafe:
  stage: test
  image: rust:1
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      changes: [{changes}]
  variables:
    GIT_DEPTH: "0"
    CARGO_HOME: $CI_PROJECT_DIR/.cargo
  cache:
    key: migsafe-v{version}
    paths:
      - .cargo/bin/
  script:
    - test -x .cargo/bin/migsafe || cargo install --locked --git https://github.com/{REPOSITORY} --tag v{version} migsafe
    - git fetch --no-tags origin "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
    - BASE="origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
    - .cargo/bin/migsafe check {args} --since "$BASE" --format sarif > migsafe.sarif || test $? -eq 1
    - .cargo/bin/migsafe check {args} --since "$BASE" --format markdown > migsafe.md || test $? -eq 1
    - .cargo/bin/migsafe check {args} --since "$BASE"
  artifacts:
    when: always
    paths:
      - migsafe.sarif
      - migsafe.md
"#,
        changes = changes.join(", "),
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// Quotes a path for YAML when it is not a plain scalar.
fn yaml_path(p: &str) -> String {
    let plain = !p.is_empty()
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-*".contains(c))
        && !p.starts_with(['-', '.', '/', '*']);
    if plain {
        p.to_string()
    } else {
        format!("'{}'", p.replace('\'', "''"))
    }
}

fn write_new(path: &Path, text: &str, force: bool) -> Result<(), InitError> {
    if path.exists() && !force {
        return Err(InitError::Exists(path.to_path_buf()));
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|source| InitError::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    fs::write(path, text).map_err(|source| InitError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Runs `init` in `root`: writes the files and returns what to print.
pub fn run(
    root: &Path,
    ci: Option<Ci>,
    force: bool,
    url_dialect: Option<Dialect>,
) -> Result<String, InitError> {
    let found = find(root)?;
    let config_path = root.join(crate::config::FILE_NAME);
    let workflow = ci.map(|ci| {
        let paths: Vec<String> = if found.is_empty() {
            vec!["db/migrations".to_string()]
        } else {
            found.iter().map(|f| f.path.clone()).collect()
        };
        match ci {
            Ci::Github => (
                root.join(".github/workflows/migsafe.yml"),
                github_workflow(&paths),
            ),
            Ci::Gitlab => (root.join(".gitlab/migsafe.yml"), gitlab_job(&paths)),
        }
    });
    // check every target before writing anything
    for path in std::iter::once(&config_path).chain(workflow.as_ref().map(|(p, _)| p)) {
        if path.exists() && !force {
            return Err(InitError::Exists(path.clone()));
        }
    }
    write_new(&config_path, &config(&found, url_dialect), force)?;
    let mut out = String::new();
    let _ = writeln!(out, "wrote {}", relative(root, &config_path));
    if found.is_empty() {
        out.push_str("  no migration folder found: list yours under [migrations] paths\n");
    }
    for f in &found {
        let dialects: Vec<&str> = f.named.iter().map(|d| d.as_str()).collect();
        let _ = writeln!(
            out,
            "  {}: {}, {} migrations{}",
            f.path,
            f.layout,
            f.migrations,
            if dialects.is_empty() {
                String::new()
            } else {
                format!(", {}", dialects.join("/"))
            }
        );
    }
    if let Some((path, text)) = workflow {
        write_new(&path, &text, force)?;
        let _ = writeln!(out, "wrote {}", relative(root, &path));
        if ci == Some(Ci::Gitlab) && !root.join(".gitlab-ci.yml").exists() {
            out.push_str(
                "  include it from .gitlab-ci.yml: `include: [{local: .gitlab/migsafe.yml}]`\n",
            );
        } else if ci == Some(Ci::Gitlab) {
            out.push_str(
                "  add `- local: .gitlab/migsafe.yml` to the `include:` of .gitlab-ci.yml\n",
            );
        }
    }
    out.push_str("next: `migsafe check` checks every migration; in CI, `migsafe check --since <base>` judges the new ones\n");
    Ok(out)
}
