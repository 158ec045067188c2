//! Integration tests: the real `migsafe` binary and the library on fixtures. One test binary;
//! its modules live in `tests/integration/`.

#[path = "integration/apply.rs"]
mod apply;
#[path = "integration/apply_crash.rs"]
mod apply_crash;
#[path = "integration/apply_env.rs"]
mod apply_env;
#[path = "integration/apply_modes.rs"]
mod apply_modes;
#[path = "integration/architecture.rs"]
mod architecture;
#[path = "integration/backup.rs"]
mod backup;
#[path = "integration/catalog.rs"]
mod catalog;
#[path = "integration/check_output.rs"]
mod check_output;
#[path = "integration/cli.rs"]
mod cli;
#[path = "integration/crash.rs"]
mod crash;
#[path = "integration/docs.rs"]
mod docs;
#[path = "integration/dry_run.rs"]
mod dry_run;
#[path = "integration/engines.rs"]
mod engines;
#[path = "integration/hardening.rs"]
mod hardening;
#[path = "integration/history.rs"]
mod history;
#[path = "integration/integrity.rs"]
mod integrity;
#[path = "integration/modes.rs"]
mod modes;
#[path = "integration/modes_crash.rs"]
mod modes_crash;
#[path = "integration/packaging.rs"]
mod packaging;
#[path = "integration/restore_defects.rs"]
mod restore_defects;
#[path = "integration/robustness.rs"]
mod robustness;
#[path = "integration/support.rs"]
mod support;
#[path = "integration/tls.rs"]
mod tls;
#[path = "integration/url_security.rs"]
mod url_security;
