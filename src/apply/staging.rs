//! The runbook's non-destructive path: production applies only what staging already applied,
//! with the same checksums. Checked live against staging's history table, or — when staging is
//! not reachable from the production runner — from the journals of applies to staging on this
//! machine; `--skip-staging-check "<reason>"` goes on without it, the reason journaled.

use crate::engines::conn::Conn;
use crate::engines::redact_url;
use crate::history::{self, MigFile, State, Tool};
use crate::migrations::Migration;
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;

/// What the target environment requires of staging.
#[derive(Debug, Clone, Default)]
pub enum StagingCheck {
    /// No `[env]` promotion for this target.
    #[default]
    NotRequired,
    /// `--skip-staging-check "<reason>"`.
    Skip { env: String, reason: String },
    /// Staging must have applied the same migrations; `url` is `None` when its URL cannot be
    /// resolved here (its variable is not set on this runner).
    Required { env: String, url: Option<String> },
}

#[derive(Debug, Clone, Serialize)]
pub struct StagingResult {
    pub env: String,
    pub ok: bool,
    /// `live`, `journal` or `skipped`.
    pub method: String,
    pub message: String,
    /// Pending migrations staging has not applied (or applied with other checksums).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// The reason given to skip it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// Checks `pending` (`(key, checksum)` in the tool's terms) against staging.
pub async fn check(
    c: &StagingCheck,
    tool: Tool,
    migs: &[Migration],
    pending: &[(String, Option<String>)],
    journal_dir: &Path,
) -> Option<StagingResult> {
    match c {
        StagingCheck::NotRequired => None,
        StagingCheck::Skip { env, reason } => Some(StagingResult {
            env: env.clone(),
            ok: true,
            method: "skipped".into(),
            message: format!(
                "the check that {env} applied these migrations first was skipped: {reason}"
            ),
            missing: vec![],
            skipped: Some(reason.clone()),
        }),
        StagingCheck::Required { env, url } => {
            let mut live_error = None;
            if let Some(u) = url {
                match live(u, tool, migs).await {
                    Ok(applied) => {
                        return Some(verdict(
                            env,
                            "live",
                            pending,
                            |k, _| applied.contains(k),
                            &redact_url(u),
                        ));
                    }
                    Err(e) => live_error = Some(e),
                }
            }
            let recorded = from_journals(journal_dir, env, tool);
            let how = match &live_error {
                Some(e) => format!(
                    "{env} is not reachable ({e}); the journals of applies to it on this machine"
                ),
                None => format!(
                    "no URL for {env} on this runner; the journals of applies to it on this machine"
                ),
            };
            Some(verdict(
                env,
                "journal",
                pending,
                |k, c| recorded.contains(&(k.to_string(), c.map(str::to_string))),
                &how,
            ))
        }
    }
}

fn verdict(
    env: &str,
    method: &str,
    pending: &[(String, Option<String>)],
    has: impl Fn(&str, Option<&str>) -> bool,
    source: &str,
) -> StagingResult {
    let missing: Vec<String> = pending
        .iter()
        .filter(|(k, c)| !has(k, c.as_deref()))
        .map(|(k, _)| k.clone())
        .collect();
    let ok = missing.is_empty();
    StagingResult {
        env: env.to_string(),
        ok,
        method: method.into(),
        message: if ok {
            format!(
                "{env} applied the same {} migration(s) with the same checksums ({source})",
                pending.len()
            )
        } else {
            format!(
                "refused: {env} has not applied {} with the same checksums ({source}); apply to {env} first, or pass --skip-staging-check \"<reason>\"",
                missing.join(", ")
            )
        },
        missing,
        skipped: None,
    }
}

/// Keys staging shows as applied, with the files' checksums matching.
async fn live(url: &str, tool: Tool, migs: &[Migration]) -> Result<HashSet<String>, String> {
    let mut conn = Conn::open(url).await.map_err(|e| e.to_string())?;
    let h = history::read(&mut conn, tool).await;
    conn.close().await;
    let h = h.map_err(|e| e.to_string())?;
    let files = MigFile::load_all(migs).map_err(|e| e.to_string())?;
    Ok(history::compare(tool.spec(), &files, &h)
        .into_iter()
        .filter(|l| l.state == State::Applied)
        .map(|l| l.key)
        .collect())
}

/// `(key, checksum)` of every migration an apply to `env` finished on this machine.
fn from_journals(dir: &Path, env: &str, tool: Tool) -> HashSet<(String, Option<String>)> {
    let mut out = HashSet::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for p in rd.flatten().map(|e| e.path()) {
        let Ok(st) = crate::journal::load(&p) else {
            continue;
        };
        if st.kind != super::KIND
            || st.facts.get("env").and_then(|v| v.as_str()) != Some(env)
            || st.facts.get("tool").and_then(|v| v.as_str()) != Some(tool.as_str())
        {
            continue;
        }
        let Some(list) = st.facts.get("migrations").and_then(|v| v.as_array()) else {
            continue;
        };
        for m in list {
            let Some(key) = m.get("key").and_then(|v| v.as_str()) else {
                continue;
            };
            let done =
                st.finished(&format!("apply {key}")) || st.finished(&format!("record {key}"));
            if done {
                out.insert((
                    key.to_string(),
                    m.get("checksum")
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                ));
            }
        }
    }
    out
}
