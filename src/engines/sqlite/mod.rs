//! SQLite: the ephemeral database file.

pub mod backup;
pub mod dry_run;
pub mod ephemeral;
pub mod integrity;
pub mod restore;
