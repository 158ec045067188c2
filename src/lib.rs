//! migsafe: makes database schema migrations safe to ship.

pub mod migrations;
pub mod model;
/// Statement splitting, parsing and the statement model (the only sqlparser boundary).
pub mod sql;
