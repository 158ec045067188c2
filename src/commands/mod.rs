//! Per-command wiring (the command-line glue): runs an operation with the settings the CLI
//! validated, shows progress, checks for unfinished operations, hands the result to a renderer
//! and maps it to an exit code. Operations never import this layer.

pub mod apply;
pub mod backup;
pub mod dry_run;
pub mod integrity;
pub mod modes;
pub mod recover;
pub mod unfinished;
