//! System plumbing every layer may use and that uses nothing of migsafe: durable files, process
//! identity, child processes that die with migsafe, and the one signal mechanism (cleanup on
//! SIGINT/SIGTERM/SIGHUP, critical sections).

pub mod child;
pub mod durable;
pub mod hex;
pub mod proc;
pub mod signals;
