//! Passwords on the command line: `--database-url` with a password is visible to every local
//! user in `ps`, so migsafe warns once (without repeating the password) and names the ways that
//! keep it out of argv.

use crate::support::{migsafe, root};
use std::process::Command;

fn run_with_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_migsafe"));
    c.args(args)
        .current_dir(root())
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_password_in_argv_is_warned_about_once_without_showing_it() {
    let url = "postgres://app:Sup3r-s3cret@db.example/app";
    let r = migsafe(&[
        "check",
        "fixtures/demo",
        "--fail-on",
        "never",
        "--database-url",
        url,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let warnings = r.stderr.matches("--database-url is visible").count();
    assert_eq!(warnings, 1, "{}", r.stderr);
    assert!(r.stderr.contains("DATABASE_URL") && r.stderr.contains("PGPASSFILE"));
    assert!(!r.stderr.contains("Sup3r") && !r.stdout.contains("Sup3r"));
    // `--database-url=…` too
    let r = migsafe(&[
        "check",
        "fixtures/demo",
        "--fail-on",
        "never",
        &format!("--database-url={url}"),
    ]);
    assert_eq!(r.stderr.matches("--database-url is visible").count(), 1);
    // no password, or the same URL from the environment: no warning
    let r = migsafe(&[
        "check",
        "fixtures/demo",
        "--fail-on",
        "never",
        "--database-url",
        "postgres://app@db.example/app",
    ]);
    assert!(!r.stderr.contains("is visible"), "{}", r.stderr);
    let (code, stderr) = run_with_env(
        &["check", "fixtures/demo", "--fail-on", "never"],
        &[("DATABASE_URL", url)],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("is visible"), "{stderr}");
}
