//! migsafe: makes database schema migrations safe to ship.

/// Command orchestration: settings in, report and exit code out.
pub mod app;
/// `backup` and `restore`: verified, checksummed, atomic backups and restores that cannot make
/// things worse.
pub mod backup;
/// Runs the rules over migrations and computes verdicts.
pub mod classify;
/// Command-line definitions and validation into settings.
pub mod cli;
/// `migsafe.toml` schema and discovery.
pub mod config;
/// `dry-run`: apply migrations to a throwaway database, observe, diff, throw away.
pub mod dry_run;
/// Database engines: ephemeral servers and the process plumbing they share.
pub mod engines;
/// `integrity-check`: cost-aware read-only checks that a database is sound.
pub mod integrity;
pub mod migrations;
pub mod model;
/// Work spread over every core, results kept in input order.
pub mod parallel;
/// Renderers for reports and rule documentation.
pub mod report;
/// The rule catalog and registry.
pub mod rules;
/// Statement splitting, parsing and the statement model (the only sqlparser boundary).
pub mod sql;
/// Changed files since a git revision (`--since`).
pub mod vcs;
