//! Running the built binary, and what a test needs installed.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, Once};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn migsafe_in(dir: &Path, args: &[&str]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_migsafe"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run migsafe");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn migsafe(args: &[&str]) -> Run {
    migsafe_in(&root(), args)
}

/// Exit 2 with one clear line on stderr, and on stdout nothing, or (when the command asked for
/// JSON) the JSON error object carrying the same message.
pub fn assert_usage_error(r: &Run, needle: &str) {
    assert_eq!(r.code, 2, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    if !r.stdout.is_empty() {
        let v: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|_| panic!("stdout is neither empty nor a JSON error: {}", r.stdout));
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty() && r.stderr.contains(message),
            "the JSON error repeats the message on stderr: {}",
            r.stdout
        );
    }
    assert!(
        r.stderr.contains(needle),
        "stderr lacks {needle:?}: {}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

pub fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", r.stdout))
}

/// Every key path of a JSON value (`problems[].check`), objects inside arrays merged: docs tests
/// compare them with the field tables in docs/.
pub fn key_paths(
    v: &serde_json::Value,
    prefix: &str,
    out: &mut std::collections::BTreeSet<String>,
) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(p.clone());
                key_paths(x, &p, out);
            }
        }
        serde_json::Value::Array(a) => {
            for x in a {
                key_paths(x, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// Runs git in `dir` with a throwaway identity; the command must succeed.
pub fn git(dir: &Path, args: &[&str]) {
    let st = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success(), "git {args:?}");
}

/// Writes `text` to `dir/rel`, creating the folders.
pub fn write_file(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// Set to `1` to let tests that need a missing server binary skip instead of fail.
pub const SKIP_VAR: &str = "MIGSAFE_SKIP_DB_TESTS";
/// When set, each skipping test appends one line (`test<TAB>what`) to this file: `scripts/test`
/// sums them over the test binaries.
pub const SKIP_LOG_VAR: &str = "MIGSAFE_SKIP_LOG";

/// Whether what a test needs is installed: `postgres` (server binaries), `mysql` (mariadbd or
/// mysqld) or `pgbouncer`. A missing one fails the test with what to install, so a run never
/// passes by not running. With `MIGSAFE_SKIP_DB_TESTS=1` (ignored in CI) it returns false and the
/// test is counted as skipped: the test binary prints the count and names as it exits, where the
/// harness does not hide it.
pub fn have(what: &str) -> bool {
    use migsafe::engines::mysql::ephemeral as my;
    use migsafe::engines::postgres::ephemeral as pg;
    let missing = match what {
        "postgres" => pg::find_install(None, None).err().map(|e| e.to_string()),
        "mysql" => my::find_install().err().map(|e| e.to_string()),
        "pgbouncer" => which("pgbouncer").is_none().then(|| {
            "pgbouncer is not installed (looked in PATH, /usr/sbin, /usr/bin)".to_string()
        }),
        other => panic!("have({other:?}): expected postgres, mysql or pgbouncer"),
    };
    let Some(why) = missing else {
        return true;
    };
    let in_ci = std::env::var_os("CI").is_some();
    if std::env::var(SKIP_VAR).as_deref() == Ok("1") && !in_ci {
        record_skip(what);
        return false;
    }
    let way_out = if in_ci {
        "CI must run every test (MIGSAFE_SKIP_DB_TESTS is ignored when CI is set)"
    } else {
        "or set MIGSAFE_SKIP_DB_TESTS=1 to skip the tests that need it"
    };
    panic!(
        "this test needs {what}, which is missing: {why}\n\
         install the servers (Debian/Ubuntu: `apt-get install postgresql mariadb-server pgbouncer`; \
         scripts/test does it), {way_out}"
    )
}

/// Finds a program on PATH or in the usual system folders.
pub fn which(prog: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .chain(["/usr/sbin", "/usr/bin"])
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file())
}

/// Tests that skipped something (a test that needs two missing servers counts once).
static SKIPPED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
static REPORT_AT_EXIT: Once = Once::new();

fn record_skip(what: &str) {
    // libtest names each test's thread after the test
    let test = std::thread::current()
        .name()
        .unwrap_or("(unnamed test)")
        .to_string();
    let new = SKIPPED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(test.clone());
    REPORT_AT_EXIT.call_once(|| {
        // SAFETY: registers a plain extern "C" function that does not unwind
        unsafe { libc::atexit(report_skips) };
    });
    if let (true, Some(log)) = (new, std::env::var_os(SKIP_LOG_VAR)) {
        let line = format!("{test}\t{what}\n");
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = appended {
            panic!(
                "cannot append to {SKIP_LOG_VAR}={}: {e}",
                log.to_string_lossy()
            );
        }
    }
}

/// Runs as the test binary exits: libtest captures what tests print, not what comes after it.
extern "C" fn report_skips() {
    let skipped = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
    let mut text = format!(
        "\n{} test(s) skipped all or part of their work because {SKIP_VAR}=1 and a server binary they need is missing:\n",
        skipped.len()
    );
    for t in skipped.iter() {
        text.push_str("  ");
        text.push_str(t);
        text.push('\n');
    }
    let _ = std::io::stderr().write_all(text.as_bytes());
}
