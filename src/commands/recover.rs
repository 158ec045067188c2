//! `migsafe recover` end to end: run the registry on the runtime, render, exit code (0 every
//! operation reached a consistent end or was only listed, 1 one could not be ended or still
//! runs, 2 recover could not do its job).

use crate::app::{AppError, Outcome};
use crate::cli::recover::RecoverCommand;
use crate::report::recover as render;

pub fn run(cmd: RecoverCommand) -> Result<Outcome, AppError> {
    let rt = crate::app::runtime()?;
    let report = rt
        .block_on(crate::recover::recover(&cmd.settings))
        .map_err(|e| AppError::Other(e.to_string()))?;
    Ok(Outcome {
        stdout: render::render(&report, cmd.json),
        code: if report.passed() { 0 } else { 1 },
    })
}
