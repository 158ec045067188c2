//! Passwords on the command line: `--database-url` with a password is visible to every local
//! user in `ps`, so migsafe warns once (without repeating the password) and names the ways that
//! keep it out of argv.

use crate::support::root;
use std::process::Command;

/// `migsafe check fixtures/demo --fail-on never <extra>` with `env`: exit code and stderr.
fn check_with(extra: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_migsafe"));
    c.args(["check", "fixtures/demo", "--fail-on", "never"])
        .args(extra)
        .current_dir(root())
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("Sup3r"),
        "stdout shows the password"
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_password_in_argv_is_warned_about_once_without_showing_it() {
    let url = "postgres://app:Sup3r-s3cret@db.example/app";
    let (code, stderr) = check_with(&["--database-url", url], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr.matches("--database-url is visible").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("DATABASE_URL") && stderr.contains("PGPASSFILE"));
    assert!(!stderr.contains("Sup3r"), "{stderr}");
    // `--database-url=…` too
    let (_, stderr) = check_with(&[&format!("--database-url={url}")], &[]);
    assert_eq!(
        stderr.matches("--database-url is visible").count(),
        1,
        "{stderr}"
    );
    // no password, or the same URL from the environment: no warning
    let (_, stderr) = check_with(&["--database-url", "postgres://app@db.example/app"], &[]);
    assert!(!stderr.contains("is visible"), "{stderr}");
    let (code, stderr) = check_with(&[], &[("DATABASE_URL", url)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("is visible"), "{stderr}");
}
