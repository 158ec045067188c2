//! migsafe: makes database schema migrations safe to ship.

/// Runs the rules over migrations and computes verdicts.
pub mod classify;
pub mod migrations;
pub mod model;
/// The rule catalog and registry.
pub mod rules;
/// Statement splitting, parsing and the statement model (the only sqlparser boundary).
pub mod sql;
