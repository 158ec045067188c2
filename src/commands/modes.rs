//! `migsafe read-only` and `migsafe maintenance` end to end: other unfinished operations first
//! (an expired lease loudly), the operation on the runtime, progress lines on stderr, the
//! renderer, the exit code (0 on / off / status without trouble; 1 refused, failed, a held
//! command that failed, or a status that needs a human; 2 migsafe could not do its job).

use crate::app::{AppError, Outcome};
use crate::cli::modes::{ModeCommand, ModeRun};
use crate::engines::target::Target;
use crate::modes::{self, Mode};
use crate::report::modes as render;

fn err(e: modes::ModeError) -> AppError {
    AppError::Other(e.to_string())
}

/// Like `unfinished::warn`, without the operations this command is about (the same mode of the
/// same database: the command reports on them itself).
fn warn_others(rt: &tokio::runtime::Runtime, url: &str, mode: Mode) {
    let Ok(target) = Target::parse(url) else {
        return;
    };
    let found = rt.block_on(crate::journal::unfinished_for(
        &target,
        &crate::journal::default_dir(),
    ));
    for u in found {
        if u.kind == mode.as_str() && u.database == target.database() {
            continue;
        }
        super::unfinished::print(&u);
    }
}

pub fn run(cmd: ModeCommand) -> Result<Outcome, AppError> {
    let rt = crate::app::runtime()?;
    match cmd.run {
        ModeRun::On(s) => {
            warn_others(&rt, &s.url, s.mode);
            let quiet = cmd.quiet;
            let notify = move |m: &str| {
                if !quiet {
                    eprintln!("migsafe: {m}");
                }
            };
            let r = rt.block_on(modes::on(&s, &notify)).map_err(err)?;
            Ok(Outcome {
                stdout: render::report(&r, cmd.json, cmd.color),
                code: r.exit_code(),
            })
        }
        ModeRun::Off(s) => {
            warn_others(&rt, &s.url, s.mode);
            let r = rt.block_on(modes::off(&s)).map_err(err)?;
            Ok(Outcome {
                stdout: render::report(&r, cmd.json, cmd.color),
                code: r.exit_code(),
            })
        }
        ModeRun::Status(s) => {
            warn_others(&rt, &s.url, s.mode);
            let r = rt.block_on(modes::status(&s)).map_err(err)?;
            Ok(Outcome {
                stdout: render::status(&r, cmd.json, cmd.color),
                code: r.exit_code(),
            })
        }
    }
}
