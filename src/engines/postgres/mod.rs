//! PostgreSQL: server discovery and the ephemeral cluster.

pub mod backup;
pub mod dry_run;
pub mod ephemeral;
pub mod integrity;
pub mod restore;
