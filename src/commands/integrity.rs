//! The `integrity-check` command: reads the manifest and migrations the settings name, connects
//! (SQLite read-only), runs the checks with a progress bar, and hands the report to the renderer.

use crate::app::{AppError, Outcome};
use crate::cli::integrity::{IntegrityAction, IntegrityFormat, IntegritySettings};
use crate::engines::{EngineKind, redact_url};
use crate::integrity::{IntegrityOptions, against, migration};
use crate::report::integrity as render;
use crate::report::progress::Progress;

/// The URL the connection is opened with: SQLite read-only (`mode=ro`, replacing any other
/// mode). Other URLs are unchanged: their checks run in read-only transactions.
pub fn read_only_url(url: &str) -> String {
    if EngineKind::from_url(url) != Some(EngineKind::Sqlite) {
        return url.to_string();
    }
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("mode="))
        .collect();
    params.push("mode=ro");
    format!("{base}?{}", params.join("&"))
}

/// Builds the library options from the settings (reads the manifest and the migration files).
pub fn options(s: &IntegritySettings) -> Result<IntegrityOptions, AppError> {
    let kind = EngineKind::from_url(&s.database_url)
        .ok_or_else(|| AppError::Other("unknown database URL scheme".into()))?;
    let against = match &s.against {
        Some(path) => Some(against::Against {
            expected: against::load(path).map_err(AppError::Other)?,
            mode: if s.after_migration {
                against::Mode::Migration
            } else {
                against::Mode::Restore
            },
        }),
        None => None,
    };
    if let Some(a) = &against
        && a.expected.engine != kind
    {
        return Err(AppError::Other(format!(
            "{}: the manifest is for {}, but --database-url is a {} database",
            a.expected.source, a.expected.engine, kind
        )));
    }
    crate::integrity::check_assertions_read_only(&s.assertions, kind.dialect())
        .map_err(AppError::Other)?;
    let not_null = if s.migrations.is_empty() {
        Vec::new()
    } else {
        migration::targets(&s.migrations, kind.dialect())?
    };
    Ok(IntegrityOptions {
        level: s.level,
        budget: s.budget,
        statement_timeout: s.statement_timeout,
        heapallindexed: s.heapallindexed,
        only: s.only.clone(),
        against,
        not_null,
        assertions: s.assertions.clone(),
    })
}

pub fn run(action: IntegrityAction) -> Result<Outcome, AppError> {
    let s = match action {
        IntegrityAction::ListChecks(f) => {
            return Ok(Outcome {
                stdout: render::list_checks(f == IntegrityFormat::Json),
                code: 0,
            });
        }
        IntegrityAction::Run(s) => s,
    };
    let opts = options(&s)?;
    let rt = crate::app::runtime()?;
    super::unfinished::warn(&rt, &s.database_url);
    let report = rt.block_on(async {
        let opened = read_only_url(&s.database_url);
        // errors name the URL as the user wrote it (redacted), not the adjusted one
        let mut conn = crate::integrity::connect(&opened).await.map_err(|e| {
            AppError::Other(
                e.to_string()
                    .replace(&redact_url(&opened), &redact_url(&s.database_url)),
            )
        })?;
        let mut bar: Option<Progress> = None;
        let res = crate::integrity::run_with_progress(&mut conn, &opts, &mut |done, total| {
            let b = bar.get_or_insert_with(|| {
                Progress::new(total, "integrity checks", s.progress).with_lines(
                    total,
                    "integrity checks",
                    s.steps,
                )
            });
            b.set(done);
        })
        .await;
        if let Some(b) = &bar {
            b.finish();
        }
        conn.close().await;
        res.map_err(|e| AppError::Other(e.to_string()))
    })?;
    let mut report = report;
    report.target = Some(redact_url(&s.database_url));
    let stdout = match s.format {
        IntegrityFormat::Human => render::human(&report, s.fail_on, s.color),
        IntegrityFormat::Json => render::json(&report, s.fail_on),
    };
    Ok(Outcome {
        stdout,
        code: if report.passed(s.fail_on) { 0 } else { 1 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_become_read_only() {
        assert_eq!(read_only_url("sqlite:app.db"), "sqlite:app.db?mode=ro");
        assert_eq!(
            read_only_url("sqlite://app.db?mode=rwc&cache=shared"),
            "sqlite://app.db?cache=shared&mode=ro"
        );
        assert_eq!(read_only_url("postgres://u:p@h/db"), "postgres://u:p@h/db");
    }
}
