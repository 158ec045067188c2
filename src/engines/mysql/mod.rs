//! MySQL/MariaDB: server discovery and the ephemeral server.

pub mod ephemeral;
