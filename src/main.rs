use clap::Parser;
use migsafe::cli::{Cli, CliGlobals, Command};
use migsafe::{app, config::Config};
use std::io::Write;
use std::process::ExitCode;

fn run() -> Result<app::Outcome, app::AppError> {
    let cli = Cli::parse();
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some(w) = migsafe::cli::argv_password_warning(&argv) {
        eprintln!("{w}");
    }
    let cwd = std::env::current_dir()
        .map_err(|e| app::AppError::Other(format!("cannot read the working directory: {e}")))?;
    let globals = CliGlobals {
        color: cli.color,
        quiet: cli.quiet,
        database_url: cli.database_url.clone(),
    };
    // read when a command needs it: `init`, `completions` and `man` work with a broken one
    let config = || Config::load(cli.config.as_deref(), &cwd);
    match cli.command {
        Command::Check(args) => app::check(args.resolve(&globals, &config()?)?),
        Command::IntegrityCheck(args) => {
            migsafe::commands::integrity::run(args.resolve(&globals, &config()?)?)
        }
        Command::Backup(args) => {
            migsafe::commands::backup::run(args.resolve(&globals, &config()?)?)
        }
        Command::Restore(args) => {
            migsafe::commands::backup::run(args.resolve(&globals, &config()?)?)
        }
        Command::Recover(args) => {
            migsafe::commands::recover::run(args.resolve(&globals, &config()?)?)
        }
        Command::DryRun(args) => {
            migsafe::commands::dry_run::run(args.resolve(&globals, &config()?)?)
        }
        Command::ReadOnly(args) => migsafe::commands::modes::run(args.resolve(
            migsafe::modes::Mode::ReadOnly,
            &globals,
            &config()?,
        )?),
        Command::Maintenance(args) => migsafe::commands::modes::run(args.resolve(
            migsafe::modes::Mode::Maintenance,
            &globals,
            &config()?,
        )?),
        Command::Status(args) => {
            migsafe::commands::apply::status(args.resolve(&globals, &config()?)?)
        }
        Command::Apply(args) => {
            migsafe::commands::apply::apply(args.resolve(&globals, &config()?)?)
        }
        Command::DebugEphemeral { engine } => app::debug_ephemeral(&engine),
        Command::Init(args) => app::init(&args, &globals, &cwd),
        Command::Completions { shell } => Ok(app::completions(shell)),
        Command::Man { command } => app::man(command.as_deref()),
    }
}

fn main() -> ExitCode {
    // one signal mechanism for every command: cleanup and a message on SIGINT/SIGTERM/SIGHUP
    migsafe::sys::signals::install();
    let result = run();
    // an interrupt is being handled on the signal thread: it exits when its cleanup is done
    migsafe::sys::signals::wait_if_terminating();
    match result {
        Ok(outcome) => {
            let mut out = std::io::stdout().lock();
            // a closed pipe (e.g. `| head`) is not an error worth a panic
            let _ = out.write_all(outcome.stdout.as_bytes());
            let _ = out.flush();
            ExitCode::from(outcome.code)
        }
        Err(e) => {
            eprintln!("migsafe: error: {e}");
            if migsafe::cli::wants_json(std::env::args()) {
                let mut out = std::io::stdout().lock();
                let _ = out
                    .write_all(migsafe::report::json::error(e.kind(), &e.to_string()).as_bytes());
                let _ = out.flush();
            }
            ExitCode::from(2)
        }
    }
}
