//! MySQL/MariaDB: server discovery and the ephemeral server.

pub mod backup;
pub mod dry_run;
pub mod ephemeral;
pub mod integrity;
pub mod restore;
