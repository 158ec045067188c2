//! `migsafe recover` arguments, validated into settings.

use super::{CliGlobals, UsageError};
use crate::recover::{Action, RecoverSettings};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The operation to end (its id, as `migsafe` printed it); default: every unfinished one on the database's server
    #[arg(long, value_name = "ID")]
    pub operation: Option<String>,
    /// Undo the operation: the database as it was before it
    #[arg(long, conflicts_with = "resume")]
    pub abort: bool,
    /// Finish what the operation set out to do
    #[arg(long)]
    pub resume: bool,
    /// List unfinished operations and what recover would do; change nothing
    #[arg(long, conflicts_with_all = ["abort", "resume"])]
    pub list: bool,
    /// Folder with pg_restore/psql (default: as for `restore`)
    #[arg(long, value_name = "DIR")]
    pub pg_bin_dir: Option<PathBuf>,
    /// Output: human or json
    #[arg(
        long,
        visible_alias = "format",
        default_value = "human",
        value_name = "human|json"
    )]
    pub output: String,
}

pub struct RecoverCommand {
    pub settings: RecoverSettings,
    pub json: bool,
    pub color: bool,
}

impl RecoverArgs {
    pub fn resolve(
        self,
        cli: &CliGlobals,
        config: &crate::config::Config,
    ) -> Result<RecoverCommand, UsageError> {
        let json = match self.output.as_str() {
            "human" | "text" => false,
            "json" => true,
            other => {
                return Err(UsageError(format!(
                    "--output {other}: expected human or json"
                )));
            }
        };
        let url = super::backup::database_url(cli, "`recover`").ok();
        if url.is_none() && !self.list {
            return Err(UsageError(
                "`recover` needs the database: pass --database-url or set DATABASE_URL (or put it in .env); `recover --list` works without".into(),
            ));
        }
        let action = match (self.abort, self.resume) {
            (true, _) => Some(Action::Abort),
            (_, true) => Some(Action::Resume),
            _ => None,
        };
        Ok(RecoverCommand {
            settings: RecoverSettings {
                url,
                operation: self.operation,
                action,
                journal_dir: crate::journal::default_dir(),
                pg_bin_dir: self.pg_bin_dir.or_else(|| config.backup.pg_bin_dir.clone()),
                list_only: self.list,
                pgbouncer_admin_url: super::modes::pgbouncer_admin_url(config),
            },
            json,
            color: super::use_color(cli.color, json),
        })
    }
}
