//! `migsafe status` and `migsafe apply` end to end: the unfinished-operation check, the
//! operation on the runtime, what apply reports while it runs (on stderr: waits for the lock and
//! who holds it, retries, the runbook under `--force`), the renderer and the exit code (0 ok, 1
//! the history disagrees with the files / a gate or check refused / a migration failed / the
//! lock was not had in time, 2 migsafe could not do its job).

use crate::app::{AppError, Outcome};
use crate::apply::Event;
use crate::cli::ReportFormat;
use crate::cli::apply::{ApplyCommand, StatusCommand};
use crate::report::status as render;

pub fn status(cmd: StatusCommand) -> Result<Outcome, AppError> {
    let rt = crate::app::runtime()?;
    super::unfinished::warn(&rt, &cmd.settings.url);
    let report = rt
        .block_on(crate::status::status(&cmd.settings))
        .map_err(|e| AppError::Other(e.to_string()))?;
    let stdout = match cmd.format {
        ReportFormat::Human => render::status_human(&report, cmd.color),
        ReportFormat::Json => render::json(&report),
        ReportFormat::Markdown => render::status_markdown(&report),
    };
    Ok(Outcome {
        stdout,
        code: if report.passed { 0 } else { 1 },
    })
}

fn print_event(e: Event) {
    match e {
        Event::Waiting { key, holder } => eprintln!(
            "migsafe: waiting for the migration lock {key}, held by {}",
            holder
                .map(|h| h.describe())
                .unwrap_or_else(|| "another session (not visible to this user)".into())
        ),
        Event::Applying {
            version,
            description,
        } => eprintln!("migsafe: applying {version} {description}"),
        Event::Retrying {
            version,
            attempt,
            wait,
            error,
        } => eprintln!(
            "migsafe: {version}: lock timeout on try {attempt} ({error}); retrying in {} ms",
            wait.as_millis()
        ),
        Event::Applied { version, ms } => eprintln!("migsafe: applied {version} in {ms} ms"),
        Event::Notice(text) => eprintln!("migsafe: {text}"),
    }
}

pub fn apply(cmd: ApplyCommand) -> Result<Outcome, AppError> {
    let rt = crate::app::runtime()?;
    let found = super::unfinished::warn_found(&rt, &cmd.settings.url);
    // a plan changes nothing: it may be asked for over an unfinished operation
    if !cmd.settings.dry_run
        && let Ok(target) = crate::engines::target::Target::parse(&cmd.settings.url)
    {
        let blocking = crate::apply::blocking(&found, target.database());
        if !blocking.is_empty() {
            return Err(AppError::Other(crate::apply::blocked_message(&blocking)));
        }
    }
    let report = rt
        .block_on(crate::apply::apply(&cmd.settings, &mut print_event))
        .map_err(|e| AppError::Other(e.to_string()))?;
    let stdout = match cmd.format {
        ReportFormat::Human => render::apply_human(&report, cmd.color),
        ReportFormat::Json => render::json(&report),
        ReportFormat::Markdown => render::apply_markdown(&report),
    };
    Ok(Outcome {
        stdout,
        code: if report.passed() { 0 } else { 1 },
    })
}
