//! The CLI side of `backup` and `restore`: runs the orchestration on the async runtime, shows
//! progress, asks for confirmation when interactive, renders, and maps results to exit codes
//! (0 ok, 1 a check failed or the restore was refused, 2 migsafe could not do its job).

use crate::app::{AppError, Outcome};
use crate::backup::{self, Progress, store};
use crate::cli::backup::{BackupAction, Output};
use crate::report::backup as render;
use crate::restore::{self, RestoreReport};
use std::io::{BufRead, Write};
use std::sync::Arc;

fn err(e: backup::BackupError) -> AppError {
    AppError::Other(e.to_string())
}

fn progress(out: &Output) -> Arc<dyn Progress> {
    Arc::new(render::BytesProgress::new(out.progress, out.steps))
}

fn code(ok: bool) -> u8 {
    if ok { 0 } else { 1 }
}

/// Shows the preflight and changes on stderr and asks; only on a terminal, never with JSON.
fn ask(r: &RestoreReport, out: &Output) -> bool {
    if !out.interactive || out.json {
        return false;
    }
    let mut e = std::io::stderr().lock();
    let _ = write!(e, "{}", render::restore_plan(r, out.color));
    let _ = write!(
        e,
        "Restore {} over {}? [y/N] ",
        r.backup.display(),
        r.database
    );
    let _ = e.flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}

pub fn run(action: BackupAction) -> Result<Outcome, AppError> {
    let rt = crate::app::runtime()?;
    match action {
        BackupAction::Create(s, out) => {
            super::unfinished::warn(&rt, &s.url);
            let mut r = rt
                .block_on(backup::create(&s, progress(&out)))
                .map_err(err)?;
            // a backup never carries migsafe's modes: say so when the database is in one
            if let Ok(t) = crate::engines::target::Target::parse(&s.url) {
                r.warnings.extend(rt.block_on(crate::modes::warnings_for(
                    &t,
                    &crate::journal::default_dir(),
                )));
            }
            Ok(Outcome {
                stdout: render::create(&r, out.json, out.color),
                code: code(r.passed()),
            })
        }
        BackupAction::Verify(s, out) => {
            let r = rt.block_on(backup::verify(&s, progress(&out)));
            // LATEST follows every outcome, a refused manifest included
            let _ = store::refresh_latest(&s.dir);
            let r = r.map_err(err)?;
            Ok(Outcome {
                stdout: render::verify(&r, out.json, out.color),
                code: code(r.passed()),
            })
        }
        BackupAction::List(dir, url, out) => {
            let entries = store::list(&dir)
                .map_err(|e| AppError::Other(format!("{}: {e}", dir.display())))?;
            let staging = store::staging(&dir)
                .map_err(|e| AppError::Other(format!("{}: {e}", dir.display())))?;
            let kept = match url {
                Some(u) => {
                    let t = crate::engines::target::Target::parse(&u)
                        .map_err(|e| AppError::Other(e.to_string()))?;
                    Some(rt.block_on(backup::kept::list(&t)).map_err(err)?)
                }
                None => None,
            };
            Ok(Outcome {
                stdout: render::list(&dir, &entries, &staging, kept.as_deref(), out.json),
                code: 0,
            })
        }
        BackupAction::Prune {
            dir,
            keep,
            dry_run,
            before_restore,
            out,
        } => {
            if !dir.is_dir() {
                return Err(AppError::Other(format!(
                    "{}: no such backup folder",
                    dir.display()
                )));
            }
            let mut r = store::prune(&dir, keep, dry_run)
                .map_err(|e| AppError::Other(format!("{}: {e}", dir.display())))?;
            if let Some((age, url)) = before_restore {
                let t = crate::engines::target::Target::parse(&url)
                    .map_err(|e| AppError::Other(e.to_string()))?;
                for c in rt
                    .block_on(backup::kept::prune(&t, age, dry_run))
                    .map_err(err)?
                {
                    r.removed.push(store::Removed {
                        file: c.name,
                        reason: format!(
                            "a copy a restore kept of {}, older than {}",
                            c.database,
                            humantime::format_duration(age)
                        ),
                    });
                }
            }
            Ok(Outcome {
                stdout: render::prune(&r, out.json),
                code: 0,
            })
        }
        BackupAction::Restore(s, out) => {
            let mut confirm = |r: &RestoreReport| ask(r, &out);
            let r = rt
                .block_on(restore::restore(&s, progress(&out), &mut confirm))
                .map_err(err)?;
            Ok(Outcome {
                stdout: render::restore(&r, out.json, out.color),
                code: code(r.passed()),
            })
        }
    }
}
