//! `--since <rev>`: which files git says were added or changed since a revision.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum VcsError {
    #[error("--since {rev}: cannot run git ({source}); install git or drop --since")]
    Spawn {
        rev: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--since {rev}: {message}")]
    Git { rev: String, message: String },
}

fn git(dir: &Path, args: &[&str], rev: &str) -> Result<String, VcsError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|source| VcsError::Spawn {
            rev: rev.to_string(),
            source,
        })?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr)
            .trim()
            .lines()
            .next()
            .unwrap_or("git failed")
            .to_string();
        return Err(VcsError::Git {
            rev: rev.to_string(),
            message: msg,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The root of the git repository `dir` is in (canonical), or `None` outside one or without git.
pub fn repo_root(dir: &Path) -> Option<PathBuf> {
    let top = git(dir, &["rev-parse", "--show-toplevel"], "HEAD").ok()?;
    PathBuf::from(top.trim()).canonicalize().ok()
}

/// Absolute, canonical paths of files added, modified, renamed or copied between `rev` and the
/// working tree, plus untracked (not ignored) files: new migrations are often not committed yet.
pub fn changed_since(rev: &str, dir: &Path) -> Result<HashSet<PathBuf>, VcsError> {
    let top = git(dir, &["rev-parse", "--show-toplevel"], rev)?;
    let top = PathBuf::from(top.trim());
    // verify the revision first for a clear message
    git(
        dir,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
        rev,
    )
    .map_err(|_| VcsError::Git {
        rev: rev.to_string(),
        message: "not a known git revision (fetch it first, e.g. `git fetch origin main`)"
            .to_string(),
    })?;
    let diff = git(
        dir,
        &[
            "diff",
            "--name-only",
            "--no-renames",
            "--diff-filter=ACMR",
            rev,
            "--",
        ],
        rev,
    )?;
    let untracked = git(dir, &["ls-files", "--others", "--exclude-standard"], rev)?;
    let mut out = HashSet::new();
    for line in diff.lines() {
        let p = top.join(line);
        out.insert(p.canonicalize().unwrap_or(p));
    }
    for line in untracked.lines() {
        // ls-files prints paths relative to the directory it runs in
        let p = dir.join(line);
        out.insert(p.canonicalize().unwrap_or(p));
    }
    Ok(out)
}
