//! migsafe: makes database schema migrations safe to ship.

/// Command orchestration: settings in, report and exit code out.
pub mod app;
/// Runs the rules over migrations and computes verdicts.
pub mod classify;
/// Command-line definitions and validation into settings.
pub mod cli;
/// `migsafe.toml` schema and discovery.
pub mod config;
/// Database engines: ephemeral servers and the process plumbing they share.
pub mod engines;
pub mod migrations;
pub mod model;
/// Renderers for reports and rule documentation.
pub mod report;
/// The rule catalog and registry.
pub mod rules;
/// Statement splitting, parsing and the statement model (the only sqlparser boundary).
pub mod sql;
/// Changed files since a git revision (`--since`).
pub mod vcs;
