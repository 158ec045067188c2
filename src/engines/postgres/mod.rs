//! PostgreSQL: server discovery and the ephemeral cluster.

pub mod ephemeral;
