//! Dump and load: the trait through which operations ask an engine about its backup formats and
//! the errors its restore tools print, and the engine-neutral restore error classes.

use serde::Serialize;

/// What differs between engines when dumping and loading.
pub trait DumpLoad: Sync {
    /// Backup formats this engine writes (as named in manifests); the first is the default.
    fn formats(&self) -> &'static [&'static str];
    /// The errors a restore or load tool printed, classified (fail closed: unknown is fatal).
    fn classify_restore_errors(&self, stderr: &str) -> Vec<RestoreIssue>;
    /// Whether the engine can rename a database, so a restore can load a copy and swap it in.
    fn can_swap(&self) -> bool;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorClass {
    /// Ownership or a comment on an extension could not be set; the data and schema are intact.
    Harmless,
    Fatal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreIssue {
    pub class: ErrorClass,
    /// What about the error decided its class: owner, comment-on-extension, or error.
    pub reason: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}
