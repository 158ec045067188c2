//! Child processes (dump, restore and client tools) that die with migsafe: each runs in its own
//! process group (a terminal's Ctrl-C reaches migsafe, which stops the child deliberately) with
//! `PR_SET_PDEATHSIG(SIGKILL)`, so a kill -9 of migsafe takes the child down too instead of
//! leaving a pg_restore running to completion, unverified. Also the streaming helpers: stdout
//! streamed into a file while hashing, a file streamed into stdin while hashing, stderr kept
//! (bounded) for error messages, and the child killed when migsafe cannot keep up its side.

use super::durable::Digest256;
use super::signals;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

/// Keep at most this much of a child's stderr (the tail matters most; errors are reported from
/// it).
const STDERR_LIMIT: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("cannot start {tool}: {source}")]
    Spawn {
        tool: String,
        #[source]
        source: io::Error,
    },
    #[error("writing the backup failed: {source} ({tool} was stopped)")]
    Write {
        tool: String,
        #[source]
        source: io::Error,
    },
    #[error("reading {what} failed: {source}")]
    Read {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{tool} failed ({status}): {stderr}")]
    Failed {
        tool: String,
        status: String,
        stderr: String,
    },
}

/// What a finished child left behind.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stderr: String,
    /// Bytes and sha256 of what was streamed (out of the child, or into it).
    pub bytes: u64,
    pub sha256: String,
}

pub fn tool_name(cmd: &Command) -> String {
    Path::new(cmd.get_program())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A human description of how a child ended: `exit code 1`, `killed by signal 9`.
pub fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    }
}

/// Makes `cmd` die with migsafe: its own process group, and SIGKILL when the thread that spawned
/// it ends (the spawning thread always waits for the child, so that is migsafe dying). Applied by
/// every spawn in this module; call it for children spawned elsewhere.
pub fn die_with_migsafe(cmd: &mut Command) {
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    cmd.process_group(0);
    // SAFETY: prctl and getppid are async-signal-safe; nothing is allocated after fork.
    unsafe {
        cmd.pre_exec(move || {
            // Linux only: elsewhere a kill -9 of migsafe leaves the child to finish on its own
            #[cfg(target_os = "linux")]
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // migsafe died between fork and prctl: do not run orphaned
            if libc::getppid() != parent {
                libc::_exit(137);
            }
            Ok(())
        });
    }
}

/// Spawns `cmd` bound to migsafe (see [`die_with_migsafe`]) and registers its process group
/// with the signal handler, which stops it on SIGINT/SIGTERM/SIGHUP.
pub fn spawn(cmd: &mut Command) -> io::Result<(Child, signals::ChildGuard)> {
    if signals::terminating() {
        return Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "migsafe is being interrupted",
        ));
    }
    die_with_migsafe(cmd);
    let child = cmd.spawn()?;
    let guard = signals::track_child(child.id());
    Ok((child, guard))
}

/// The last `n` non-empty lines of a log, for error messages.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn collect_stderr(mut pipe: std::process::ChildStderr) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut keep: Vec<u8> = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    keep.extend_from_slice(&buf[..n]);
                    if keep.len() > STDERR_LIMIT {
                        let cut = keep.len() - STDERR_LIMIT / 2;
                        keep.drain(..cut);
                    }
                }
            }
        }
        String::from_utf8_lossy(&keep).into_owned()
    })
}

/// Runs `cmd` with its stdout streamed into `out` (hashing as it goes). If writing fails the
/// child is killed and the write error returned. A child that fails is reported with its exit
/// status (or signal) and stderr.
/// Waits for a streaming child and collects what it wrote to stderr and what was hashed.
fn finish(
    mut child: std::process::Child,
    err: std::thread::JoinHandle<String>,
    tool: &str,
    d: Digest256,
) -> Result<Finished, ChildError> {
    let status = child.wait().map_err(|source| ChildError::Read {
        what: format!("the exit status of {tool}"),
        source,
    })?;
    let stderr = err.join().unwrap_or_default();
    let bytes = d.bytes;
    Ok(Finished {
        status,
        stderr,
        bytes,
        sha256: d.hex(),
    })
}

pub fn stream_stdout_to(
    mut cmd: Command,
    out: &mut dyn Write,
    on_bytes: &dyn Fn(u64),
) -> Result<Finished, ChildError> {
    let tool = tool_name(&cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (mut child, _tracked) = spawn(&mut cmd).map_err(|source| ChildError::Spawn {
        tool: tool.clone(),
        source,
    })?;
    let err = collect_stderr(child.stderr.take().expect("piped"));
    let mut stdout = child.stdout.take().expect("piped");
    let mut d = Digest256::default();
    let mut buf = vec![0u8; 256 * 1024];
    let outcome: Result<(), ChildError> = loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                break Err(ChildError::Read {
                    what: format!("the output of {tool}"),
                    source,
                });
            }
        };
        if let Err(source) = out.write_all(&buf[..n]) {
            break Err(ChildError::Write {
                tool: tool.clone(),
                source,
            });
        }
        d.update(&buf[..n]);
        on_bytes(n as u64);
    };
    let outcome = outcome.and_then(|_| {
        out.flush().map_err(|source| ChildError::Write {
            tool: tool.clone(),
            source,
        })
    });
    if let Err(e) = outcome {
        let _ = child.kill();
        let _ = child.wait();
        let _ = err.join();
        return Err(e);
    }
    drop(stdout);
    finish(child, err, &tool, d)
}

/// Runs `cmd` with `input` streamed into its stdin (hashing it on the way, so one read both
/// checks the sha256 and lets the tool decode every byte). stdout is discarded unless
/// `keep_stdout`; the returned `Finished` carries the digest of everything read from `input`,
/// even when the tool stopped reading early (then the rest is still hashed).
pub fn stream_file_to_stdin(
    mut cmd: Command,
    input: &Path,
    on_bytes: &dyn Fn(u64),
) -> Result<Finished, ChildError> {
    let tool = tool_name(&cmd);
    let mut file = std::fs::File::open(input).map_err(|source| ChildError::Read {
        what: input.display().to_string(),
        source,
    })?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let (mut child, _tracked) = spawn(&mut cmd).map_err(|source| ChildError::Spawn {
        tool: tool.clone(),
        source,
    })?;
    let err = collect_stderr(child.stderr.take().expect("piped"));
    let mut stdin = Some(child.stdin.take().expect("piped"));
    let mut d = Digest256::default();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ChildError::Read {
                    what: input.display().to_string(),
                    source,
                });
            }
        };
        d.update(&buf[..n]);
        on_bytes(n as u64);
        // a tool that stopped reading (it failed) closes the pipe: keep hashing the rest
        if let Some(s) = stdin.as_mut()
            && s.write_all(&buf[..n]).is_err()
        {
            stdin = None;
        }
    }
    drop(stdin);
    finish(child, err, &tool, d)
}

/// Runs `cmd` to completion, returning stdout; a non-zero exit is an error with stderr.
pub fn output(mut cmd: Command) -> Result<String, ChildError> {
    let tool = tool_name(&cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (child, _tracked) = spawn(&mut cmd).map_err(|source| ChildError::Spawn {
        tool: tool.clone(),
        source,
    })?;
    let out = child
        .wait_with_output()
        .map_err(|source| ChildError::Read {
            what: format!("the output of {tool}"),
            source,
        })?;
    if !out.status.success() {
        return Err(ChildError::Failed {
            tool,
            status: describe(&out.status),
            stderr: tail(&String::from_utf8_lossy(&out.stderr), 15),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Bytes the process `pid` has read so far (`rchar` of `/proc/<pid>/io`: files and pipes), for
/// the progress of a tool that reads an archive it was given by name.
pub fn bytes_read(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// [`run`], calling `poll` with the child's pid while it runs (about four times a second once
/// it has run a while).
pub fn run_polling(mut cmd: Command, poll: &(dyn Fn(u32) + Sync)) -> Result<Finished, ChildError> {
    let tool = tool_name(&cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let (mut child, _tracked) = spawn(&mut cmd).map_err(|source| ChildError::Spawn {
        tool: tool.clone(),
        source,
    })?;
    let pid = child.id();
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(e) = stderr.as_mut() {
            let _ = std::io::Read::read_to_end(e, &mut buf);
        }
        buf
    });
    // short waits first (most tools end quickly), then four polls a second
    let mut wait = std::time::Duration::from_millis(5);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => {
                poll(pid);
                std::thread::sleep(wait);
                wait = (wait * 2).min(std::time::Duration::from_millis(250));
            }
            Err(source) => {
                return Err(ChildError::Read {
                    what: format!("the exit status of {tool}"),
                    source,
                });
            }
        }
    };
    let err = reader.join().unwrap_or_default();
    Ok(Finished {
        status,
        stderr: String::from_utf8_lossy(&err).into_owned(),
        bytes: 0,
        sha256: String::new(),
    })
}

/// Runs `cmd` to completion and returns its status and full stderr (stdout discarded).
pub fn run(cmd: Command) -> Result<Finished, ChildError> {
    run_polling(cmd, &|_| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_count_what_a_process_reads() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("archive");
        std::fs::write(&f, vec![7u8; 3 << 20]).unwrap();
        let before = bytes_read(std::process::id()).unwrap();
        let data = std::fs::read(&f).unwrap();
        let after = bytes_read(std::process::id()).unwrap();
        assert!(after - before >= data.len() as u64, "{before} → {after}");
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg("sleep 0.6");
        let polls = std::sync::atomic::AtomicU32::new(0);
        let done = run_polling(cmd, &|pid| {
            assert!(bytes_read(pid).is_some());
            polls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert!(done.status.success());
        assert!(polls.into_inner() >= 2);
    }

    #[test]
    fn a_child_dies_when_the_thread_that_started_it_ends() {
        // the spawning thread stands for migsafe: when it is gone, so is the child
        let pid = std::thread::spawn(|| {
            let mut cmd = Command::new("sleep");
            cmd.arg("30");
            let (child, _guard) = spawn(&mut cmd).unwrap();
            let pid = child.id();
            std::mem::forget(child);
            pid
        })
        .join()
        .unwrap();
        assert!(
            crate::sys::proc::wait_gone(pid, None, std::time::Duration::from_secs(5)),
            "sleep {pid} outlived its parent thread"
        );
        // and it ran in a process group of its own
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "ps -o pgid= -p $$"]);
        let f = output(cmd).unwrap();
        assert_ne!(
            f.trim().parse::<i32>().unwrap(),
            // SAFETY: getpgrp has no preconditions.
            unsafe { libc::getpgrp() }
        );
    }

    #[test]
    fn streams_and_hashes_stdout() {
        let mut cmd = Command::new("printf");
        cmd.arg("abc");
        let mut out = Vec::new();
        let f = stream_stdout_to(cmd, &mut out, &|_| {}).unwrap();
        assert!(f.status.success());
        assert_eq!(out, b"abc");
        assert_eq!(
            f.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_failing_writer_stops_the_child() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from_raw_os_error(libc::ENOSPC))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut cmd = Command::new("yes");
        cmd.arg("data");
        let e = stream_stdout_to(cmd, &mut Full, &|_| {}).unwrap_err();
        assert!(e.to_string().contains("No space left on device"), "{e}");
    }

    #[test]
    fn a_killed_child_is_reported_with_its_signal() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "printf partial; kill -9 $$"]);
        let mut out = Vec::new();
        let f = stream_stdout_to(cmd, &mut out, &|_| {}).unwrap();
        assert_eq!(describe(&f.status), "killed by signal 9");
    }

    #[test]
    fn feeds_a_file_and_hashes_it_even_if_the_tool_stops_early() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in");
        std::fs::write(&p, vec![b'x'; 3 * 1024 * 1024]).unwrap();
        let f = stream_file_to_stdin(Command::new("true"), &p, &|_| {}).unwrap();
        assert_eq!(f.bytes, 3 * 1024 * 1024);
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "wc -c >/dev/null; exit 3"]);
        let f = stream_file_to_stdin(cmd, &p, &|_| {}).unwrap();
        assert_eq!(f.status.code(), Some(3));
    }
}
