//! SQLite: the ephemeral database file.

pub mod ephemeral;
