//! migsafe: makes database schema migrations safe to ship.

/// Command orchestration: settings in, report and exit code out.
pub mod app;
/// `apply`: applies pending migrations to a live database the safe way and records them in the
/// migration tool's history table.
pub mod apply;
/// `backup` and `restore`: verified, checksummed, atomic backups and restores that cannot make
/// things worse.
pub mod backup;
/// Runs the rules over migrations and computes verdicts.
pub mod classify;
/// Command-line definitions and validation into settings.
pub mod cli;
/// Per-command wiring: operation, progress, renderer, exit code.
pub mod commands;
/// `migsafe.toml` schema and discovery.
pub mod config;
/// `dry-run`: apply migrations to a throwaway database, observe, diff, throw away.
pub mod dry_run;
/// Database engines: ephemeral servers and the process plumbing they share.
pub mod engines;
/// Migration history tables as each migration tool reads and writes them.
pub mod history;
/// `init`: a commented migsafe.toml and CI workflow for the repository it runs in.
pub mod init;
/// `integrity-check`: cost-aware read-only checks that a database is sound.
pub mod integrity;
/// Journals of operations that change a database: one fsynced event per step.
pub mod journal;
pub mod migrations;
pub mod model;
/// `read-only` and `maintenance`: modes that stop application writes or connections, prove it,
/// and always come back (journaled, with a lease).
pub mod modes;
/// Work spread over every core, results kept in input order.
pub mod parallel;
/// `migsafe recover`: ends unfinished operations from their journals.
pub mod recover;
/// Renderers for reports and rule documentation.
pub mod report;
/// `restore`: proves the backup and the target ready, then restores so a failure or a crash
/// leaves a consistent database (journaled).
pub mod restore;
/// The rule catalog and registry.
pub mod rules;
/// Statement splitting, parsing and the statement model (the only sqlparser boundary).
pub mod sql;
/// `status`: what a live database has applied, compared with the migration files.
pub mod status;
/// System plumbing: durable files, process identity, child processes, signals.
pub mod sys;
/// Changed files since a git revision (`--since`).
pub mod vcs;
