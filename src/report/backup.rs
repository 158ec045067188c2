//! Rendering of `backup create|verify|list|prune` and `restore` results (human and JSON, the
//! JSON documented in docs/backup.md), and the byte progress bar for dumps and restores.

use super::style::plural;
use crate::backup::kept::KeptCopy;
use crate::backup::manifest::Manifest;
use crate::backup::store::{Entry, PruneReport, StagingEntry};
use crate::backup::{CreateReport, Progress, StepResult, VerifyReport};
use crate::restore::{RestoreReport, Status};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use std::fmt::Write;
use std::io::IsTerminal;
use std::sync::Mutex;

pub const SCHEMA_VERSION: u32 = 1;

/// A byte progress bar (bytes and ETA when the total is known, rate when not; never wider than
/// 80 columns) on a TTY stderr. Outside a terminal, one line per step on stderr as it starts and
/// ends, so a run that is killed has said what it was doing.
pub struct BytesProgress {
    enabled: bool,
    lines: bool,
    bar: Mutex<Option<ProgressBar>>,
    /// Line mode: the step running, when it began and its bytes so far.
    step: Mutex<Option<(String, std::time::Instant, u64)>>,
}

/// Templates of the byte bar: at most 2 + 24 + 1 + 22 + 1 + 21 + 1 + 4 = 76 columns with a
/// total, 2 + 40 + 1 + 10 + 1 + 12 + 1 + 8 = 75 without.
const BAR_WITH_TOTAL: &str =
    "{spinner} {msg:24!} [{bar:20}] {binary_bytes}/{binary_total_bytes} {eta}";
const BAR_WITHOUT_TOTAL: &str =
    "{spinner} {msg:40!} {binary_bytes} {binary_bytes_per_sec} {elapsed}";

fn bar_style(total: Option<u64>) -> ProgressStyle {
    ProgressStyle::with_template(if total.is_some() {
        BAR_WITH_TOTAL
    } else {
        BAR_WITHOUT_TOTAL
    })
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

impl BytesProgress {
    /// `bar`: a bar on a terminal; `lines`: one line per step when stderr is not a terminal.
    pub fn new(bar: bool, lines: bool) -> BytesProgress {
        let tty = std::io::stderr().is_terminal();
        BytesProgress {
            enabled: bar && tty,
            lines: lines && !tty,
            bar: Mutex::new(None),
            step: Mutex::new(None),
        }
    }

    fn end_line(&self) {
        if let Ok(mut s) = self.step.lock()
            && let Some((what, began, bytes)) = s.take()
        {
            let size = if bytes > 0 {
                format!(", {}", short_bytes(bytes))
            } else {
                String::new()
            };
            eprintln!(
                "migsafe: {what}: done in {}{size}",
                secs(began.elapsed().as_millis() as u64)
            );
        }
    }
}

impl Progress for BytesProgress {
    fn begin(&self, what: &str, total: Option<u64>) {
        if self.lines {
            self.end_line();
            let size = total
                .map(|t| format!(" ({})", short_bytes(t)))
                .unwrap_or_default();
            eprintln!("migsafe: {what}{size}…");
            if let Ok(mut s) = self.step.lock() {
                *s = Some((what.to_string(), std::time::Instant::now(), 0));
            }
        }
        if !self.enabled {
            return;
        }
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        bar.set_style(bar_style(total));
        bar.set_message(what.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        if let Ok(mut b) = self.bar.lock()
            && let Some(old) = b.replace(bar)
        {
            old.finish_and_clear();
        }
    }

    fn add(&self, bytes: u64) {
        if self.lines
            && let Ok(mut s) = self.step.lock()
            && let Some((_, _, n)) = s.as_mut()
        {
            *n += bytes;
        }
        if let Ok(b) = self.bar.lock()
            && let Some(bar) = b.as_ref()
        {
            bar.inc(bytes);
        }
    }

    fn note(&self, step: &str) {
        if self.lines {
            self.end_line();
            eprintln!("migsafe: {step}…");
        }
    }

    fn end(&self) {
        if self.lines {
            self.end_line();
        }
        if let Ok(mut b) = self.bar.lock()
            && let Some(bar) = b.take()
        {
            bar.finish_and_clear();
        }
    }
}

pub fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {} ({n} bytes)", units[i])
    }
}

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn mark(ok: bool, color: bool) -> String {
    match (ok, color) {
        (true, true) => "\x1b[32mok\x1b[0m  ".into(),
        (false, true) => "\x1b[31mFAIL\x1b[0m".into(),
        (true, false) => "ok  ".into(),
        (false, false) => "FAIL".into(),
    }
}

fn checks_json(checks: &[StepResult]) -> Value {
    Value::Array(
        checks
            .iter()
            .map(|c| json!({"kind": c.kind.as_str(), "ok": c.ok, "details": c.details}))
            .collect(),
    )
}

fn manifest_json(m: &Manifest) -> Value {
    serde_json::to_value(m).unwrap_or(Value::Null)
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}

fn render_checks(out: &mut String, checks: &[StepResult], color: bool) {
    for c in checks {
        let _ = writeln!(
            out,
            "  {} {:<13} {}",
            mark(c.ok, color),
            c.kind.as_str(),
            c.details
        );
    }
}

pub fn create(r: &CreateReport, json_out: bool, color: bool) -> String {
    let m = &r.manifest;
    if json_out {
        return pretty(&json!({
            "schema_version": SCHEMA_VERSION,
            "command": "backup create",
            "ok": r.passed(),
            "file": r.path,
            "manifest": r.manifest_path,
            "bytes": m.bytes,
            "sha256": m.sha256,
            "duration_ms": r.duration_ms,
            "verified": m.verified(),
            "checks": checks_json(&r.checks),
            "latest": r.latest,
            "warnings": r.warnings,
            "backup": manifest_json(m),
        }));
    }
    let mut out = String::new();
    let _ = writeln!(out, "backup written: {}", r.path.display());
    let _ = writeln!(
        out,
        "  database  {} ({} {}), format {}",
        m.database, m.engine, m.server_version, m.format
    );
    let _ = writeln!(out, "  size      {}", human_bytes(m.bytes));
    let _ = writeln!(out, "  sha256    {}", m.sha256);
    let _ = writeln!(out, "  took      {}", secs(r.duration_ms));
    let rows: u64 = m.tables.iter().map(|t| t.rows).sum();
    let est = m.tables.iter().filter(|t| t.estimated).count();
    let _ = writeln!(
        out,
        "  contents  {}, {}{}, schema fingerprint {}, {}",
        plural(m.tables.len(), "table", "tables"),
        plural(rows, "row", "rows"),
        if est > 0 {
            format!(" ({} estimated)", plural(est, "table", "tables"))
        } else {
            String::new()
        },
        short(&m.schema_fingerprint.sha256),
        plural(
            m.migrations.len(),
            "applied migration",
            "applied migrations"
        )
    );
    if let Some(g) = &m.globals {
        let _ = writeln!(out, "  globals   {} ({})", g.path, human_bytes(g.bytes));
    }
    let _ = writeln!(out, "  manifest  {}", r.manifest_path.display());
    render_checks(&mut out, &r.checks, color);
    for w in &r.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    let _ = writeln!(out, "LATEST: {}", r.latest.as_deref().unwrap_or("(none)"));
    if !r.passed() {
        let _ = writeln!(
            out,
            "verification FAILED: this backup is not trusted and LATEST does not name it"
        );
    }
    out
}

pub fn verify(r: &VerifyReport, json_out: bool, color: bool) -> String {
    if json_out {
        return pretty(&json!({
            "schema_version": SCHEMA_VERSION,
            "command": "backup verify",
            "ok": r.passed(),
            "file": r.path,
            "verified": r.manifest.verified(),
            "checks": checks_json(&r.checks),
            "latest": r.latest,
            "backup": manifest_json(&r.manifest),
        }));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({} {} of {}, taken {})",
        r.path.display(),
        r.manifest.engine,
        r.manifest.format,
        r.manifest.database,
        r.manifest.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    render_checks(&mut out, &r.checks, color);
    let _ = writeln!(
        out,
        "{}; LATEST: {}",
        if r.passed() {
            "verified"
        } else {
            "verification FAILED"
        },
        r.latest.as_deref().unwrap_or("(none)")
    );
    out
}

fn entry_json(e: &Entry) -> Value {
    let m = e.manifest.as_ref();
    json!({
        "file": e.file,
        "path": e.path,
        "started_at": m.map(|m| m.started_at),
        "finished_at": m.map(|m| m.finished_at),
        "engine": m.map(|m| m.engine.clone()),
        "database": m.map(|m| m.database.clone()),
        "format": m.map(|m| m.format.clone()),
        "bytes": m.map(|m| m.bytes),
        "verified": e.verified,
        "drilled": m.is_some_and(|m| m.drilled()),
        "latest": e.latest,
        "purpose": m.map(|m| m.purpose),
        "migrations": m.map(|m| m.migrations.len()),
        "last_migration": m.and_then(|m| m.migrations.last().map(|x| x.version.clone())),
        "problem": e.problem,
    })
}

/// Staging folders: those of runs that died with their age and how to remove them, and those
/// still being written.
fn staging_lines(dir: &std::path::Path, staging: &[StagingEntry]) -> String {
    let mut out = String::new();
    let stale: Vec<&StagingEntry> = staging.iter().filter(|s| !s.running).collect();
    if !stale.is_empty() {
        let _ = writeln!(
            out,
            "{} left by runs that died (remove with `rm -r`, or `migsafe backup prune --keep <n> --dir {}`, which removes them too):",
            plural(stale.len(), "staging folder", "staging folders"),
            dir.display()
        );
        for s in stale {
            let _ = writeln!(
                out,
                "  {}  {} old",
                s.path.display(),
                humantime::format_duration(std::time::Duration::from_secs(s.age_seconds))
            );
        }
    }
    for s in staging.iter().filter(|s| s.running) {
        let _ = writeln!(out, "being written: {}", s.path.display());
    }
    out
}

pub fn list(
    dir: &std::path::Path,
    entries: &[Entry],
    staging: &[StagingEntry],
    kept: Option<&[KeptCopy]>,
    json_out: bool,
) -> String {
    let latest = entries.iter().find(|e| e.latest).map(|e| e.file.clone());
    if json_out {
        let mut v = json!({
            "schema_version": SCHEMA_VERSION,
            "command": "backup list",
            "dir": dir,
            "latest": latest,
            "backups": entries.iter().map(entry_json).collect::<Vec<_>>(),
            "staging": staging,
        });
        if let Some(k) = kept {
            v["before_restore"] = json!(k);
        }
        return pretty(&v);
    }
    let kept_text = format!(
        "{}{}",
        staging_lines(dir, staging),
        kept.map(kept_lines).unwrap_or_default()
    );
    if entries.is_empty() {
        return format!("no backups in {}\n{kept_text}", dir.display());
    }
    let mut rows: Vec<[String; 8]> = vec![[
        "".into(),
        "time (UTC)".into(),
        "size".into(),
        "verified".into(),
        "engine".into(),
        "database".into(),
        "migrations".into(),
        "file".into(),
    ]];
    for e in entries {
        let m = e.manifest.as_ref();
        let verified = match (e.verified, m.is_some_and(|m| m.drilled())) {
            (true, true) => "yes+drill".to_string(),
            (true, false) => "yes".into(),
            (false, _) if e.problem.is_some() => "INCOMPLETE".into(),
            (false, _) if m.is_some_and(|m| m.verification.is_empty()) => "not yet".into(),
            (false, _) => "FAILED".into(),
        };
        let migrations = m.map(|m| match m.migrations.last() {
            Some(last) => format!("{} (last {})", m.migrations.len(), last.version),
            None => "0".into(),
        });
        let mut file = e.file.clone();
        if m.is_some_and(|m| m.purpose == crate::backup::manifest::Purpose::PreRestore) {
            file.push_str(" (pre-restore)");
        }
        if let Some(p) = &e.problem {
            file.push_str(&format!(" — {p}"));
        }
        rows.push([
            if e.latest { "*".into() } else { String::new() },
            m.map(|m| m.started_at.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| "-".into()),
            m.map(|m| short_bytes(m.bytes))
                .unwrap_or_else(|| "-".into()),
            verified,
            m.map(|m| m.engine.clone()).unwrap_or_else(|| "-".into()),
            m.map(|m| m.database.clone()).unwrap_or_else(|| "-".into()),
            migrations.unwrap_or_else(|| "-".into()),
            file,
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 7 {
                    c.clone()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    let _ = writeln!(
        out,
        "{} in {}; * = LATEST (newest verified)",
        plural(entries.len(), "backup", "backups"),
        dir.display()
    );
    out.push_str(&kept_text);
    out
}

/// The copies restores kept, with size and age.
fn kept_lines(kept: &[KeptCopy]) -> String {
    let mut out = String::new();
    if kept.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\ncopies kept by swap restores (drop old ones with `backup prune --keep-before-restore 7d`):"
    );
    for c in kept {
        let _ = writeln!(
            out,
            "  {}  {}  {} old",
            c.name,
            c.bytes.map(short_bytes).unwrap_or_else(|| "-".into()),
            humantime::format_duration(std::time::Duration::from_secs(c.age_seconds / 60 * 60))
        );
    }
    out
}

fn short_bytes(n: u64) -> String {
    let s = human_bytes(n);
    s.split(" (").next().unwrap_or(&s).to_string()
}

pub fn prune(r: &PruneReport, json_out: bool) -> String {
    if json_out {
        return pretty(&json!({
            "schema_version": SCHEMA_VERSION,
            "command": "backup prune",
            "dry_run": r.dry_run,
            "kept": r.kept,
            "removed": r.removed,
            "latest": r.latest,
        }));
    }
    let mut out = String::new();
    let verb = if r.dry_run { "would remove" } else { "removed" };
    for x in &r.removed {
        let _ = writeln!(out, "{verb} {} ({})", x.file, x.reason);
    }
    let _ = writeln!(
        out,
        "{} {verb}, {} kept; LATEST: {}",
        r.removed.len(),
        r.kept.len(),
        r.latest.as_deref().unwrap_or("(none)")
    );
    out
}

pub fn restore(r: &RestoreReport, json_out: bool, color: bool) -> String {
    if json_out {
        let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            map.insert("schema_version".into(), json!(SCHEMA_VERSION));
            map.insert("command".into(), json!("restore"));
            map.insert("ok".into(), json!(r.passed()));
        }
        return pretty(&v);
    }
    let mut out = restore_plan(r, color);
    if !r.steps.is_empty() {
        let _ = writeln!(out, "steps:");
        for s in &r.steps {
            let _ = writeln!(
                out,
                "  {} {:<16} {} ({})",
                mark(s.ok, color),
                s.name,
                s.details,
                secs(s.ms)
            );
        }
    }
    if !r.errors.is_empty() {
        let _ = writeln!(out, "restore errors:");
        for e in &r.errors {
            let class = match e.class {
                crate::restore::ErrorClass::Harmless => {
                    format!("harmless ({})", e.reason)
                }
                crate::restore::ErrorClass::Fatal => "fatal".to_string(),
            };
            let _ = writeln!(out, "  {class}: {}", e.message);
        }
    }
    for d in &r.mismatches {
        let _ = writeln!(out, "  mismatch: {d}");
    }
    if !r.carried_over.is_empty() || !r.not_carried_over.is_empty() {
        let _ = writeln!(
            out,
            "database settings: {} carried over",
            r.carried_over.len()
        );
        for s in &r.not_carried_over {
            let _ = writeln!(
                out,
                "  not carried over (migsafe's read-only or maintenance mode): {s}"
            );
        }
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if let (Some(op), Some(j)) = (&r.operation, &r.journal) {
        let _ = writeln!(out, "journal: {} (operation {op})", j.display());
    }
    let status = match (r.status, color) {
        (Status::Restored | Status::Checked, true) => {
            format!("\x1b[32m{}\x1b[0m", r.status.as_str())
        }
        (_, true) => format!("\x1b[31m{}\x1b[0m", r.status.as_str()),
        _ => r.status.as_str().to_string(),
    };
    let _ = writeln!(out, "{status}: {} ({})", r.message, secs(r.duration_ms));
    out
}

/// The preflight and the changes since the backup: what a user confirms.
pub fn restore_plan(r: &RestoreReport, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "restore {} ({} {}, taken {}) into {} — strategy {}",
        r.backup.display(),
        r.engine,
        r.format,
        r.backup_started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        r.target,
        r.strategy.as_str()
    );
    let _ = writeln!(out, "preflight:");
    for c in &r.preflight {
        let m = if c.warning {
            if color {
                "\x1b[33mwarn\x1b[0m".to_string()
            } else {
                "warn".into()
            }
        } else {
            mark(c.ok, color)
        };
        let _ = writeln!(out, "  {m} {:<15} {}", c.name, c.details);
    }
    if let Some(c) = &r.changes {
        if c.rows == 0 {
            let _ = writeln!(out, "changes since the backup: none found ({})", c.method);
        } else {
            let _ = writeln!(
                out,
                "changes since the backup: {} in {} ({}) — the restore discards them{}",
                plural(c.rows, "row", "rows"),
                plural(c.tables.len(), "table", "tables"),
                c.method,
                if r.strategy == crate::restore::Strategy::Swap {
                    " (the current database is kept under another name)"
                } else if r.safety_backup_planned {
                    " (a safety backup keeps them)"
                } else {
                    " for good (--no-safety-backup: no safety backup keeps them)"
                }
            );
            for t in c.tables.iter().take(20) {
                let _ = writeln!(out, "  {:<40} {}", t.table, t.rows);
            }
            if c.tables.len() > 20 {
                let _ = writeln!(out, "  … {} more tables", c.tables.len() - 20);
            }
        }
        if let Some(n) = &c.note {
            let _ = writeln!(out, "  note: {n}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A terminal 200 columns wide that keeps what is drawn.
    #[derive(Debug, Default, Clone)]
    struct Screen(std::sync::Arc<Mutex<Vec<String>>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            200
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push(s.to_string());
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push(s.to_string());
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_byte_bar_fits_in_80_columns() {
        for total in [Some(987_654_321_000u64), None] {
            let screen = Screen::default();
            let bar = ProgressBar::with_draw_target(
                total,
                ProgressDrawTarget::term_like(Box::new(screen.clone())),
            );
            bar.set_style(bar_style(total));
            bar.set_message(
                "verifying backup_20261205_091044_shop_production_eu_west.dump".to_string(),
            );
            bar.set_position(123_456_789_000);
            bar.tick();
            bar.abandon();
            let drawn = screen.0.lock().unwrap().clone();
            assert!(!drawn.is_empty());
            assert!(drawn.iter().any(|l| l.contains("verifying")), "{drawn:?}");
            for l in drawn {
                // indicatif pads with blanks to erase what was there before
                let l = l.trim_end();
                assert!(
                    l.chars().count() <= 80,
                    "{} columns: {l:?}",
                    l.chars().count()
                );
            }
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(2048), "2.0 KiB (2048 bytes)");
        assert_eq!(short_bytes(2048), "2.0 KiB");
    }
}
