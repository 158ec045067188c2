//! `migsafe dry-run` end to end: progress bar, run, render, exit code (0 passed, 1 a migration
//! failed / a down check failed / the verdict gate failed).

use crate::app::{AppError, Outcome};
use crate::cli::ReportFormat;
use crate::cli::dry_run::DryRunCommand;
use crate::report::{dry_run as render, progress::Progress};

pub fn run(cmd: DryRunCommand) -> Result<Outcome, AppError> {
    let live = match &cmd.settings.start {
        crate::dry_run::Start::SchemaFrom(u) => Some(u.clone()),
        _ if cmd.settings.pending => cmd.settings.live_url.clone(),
        _ => None,
    };
    let servers: Vec<String> = live
        .into_iter()
        .chain(cmd.settings.scratch_url.clone())
        .collect();
    if !servers.is_empty() {
        let rt = crate::app::runtime()?;
        for url in &servers {
            super::unfinished::warn(&rt, url);
        }
    }
    let mut bar: Option<Progress> = None;
    let report = crate::dry_run::run(&cmd.settings, &mut |done, total| {
        let b = bar.get_or_insert_with(|| {
            // outside a terminal, lines as it goes: a killed run has said how far it got
            Progress::new(total, "dry-run", cmd.progress).with_lines(
                total,
                "dry-run migrations",
                cmd.progress,
            )
        });
        b.set(done);
    });
    if let Some(b) = &bar {
        b.finish();
    }
    let report = report.map_err(|e| AppError::Other(e.to_string()))?;
    let stdout = match cmd.format {
        ReportFormat::Human => render::human(&report, cmd.color),
        ReportFormat::Json => render::json(&report),
        ReportFormat::Markdown => render::markdown(&report),
    };
    Ok(Outcome {
        stdout,
        code: if report.passed { 0 } else { 1 },
    })
}
