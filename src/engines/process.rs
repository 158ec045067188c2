//! Process plumbing for ephemeral servers: the unprivileged user they run as when migsafe runs
//! as root, per-server workspaces with an owner file, reaping of servers whose migsafe was
//! killed, and stopping every live server on SIGINT/SIGTERM/SIGHUP (through `sys::signals`).

use super::EngineError;
pub use crate::sys::child::tail;
pub use crate::sys::proc::{alive, is_root, send_signal, start_time, wait_gone};
use crate::sys::signals::{self, CleanupGuard};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where every workspace lives: `$TMPDIR/migsafe-ephemeral/<engine>-<pid>-<n>`.
pub fn workspace_root() -> PathBuf {
    std::env::temp_dir().join("migsafe-ephemeral")
}

/// The account a server runs as when migsafe runs as root (PostgreSQL refuses to run as root).
#[derive(Debug, Clone)]
pub struct ServiceUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// The first of `candidates` that exists in /etc/passwd.
pub fn service_user(candidates: &[&str]) -> Option<ServiceUser> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    for want in candidates {
        for line in passwd.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() >= 4 && f[0] == *want {
                let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse()) else {
                    continue;
                };
                return Some(ServiceUser {
                    name: f[0].to_string(),
                    uid,
                    gid,
                });
            }
        }
    }
    None
}

/// Recorded in `owner.json` of each workspace so a later run can tell whether its creator died.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Owner {
    pub engine: String,
    pub migsafe_pid: u32,
    pub migsafe_start: Option<u64>,
    pub server_pid: Option<u32>,
    pub server_start: Option<u64>,
    /// Signal that stops the server cleanly (SIGINT for PostgreSQL's fast shutdown).
    pub stop_signal: i32,
}

/// A private directory for one ephemeral server.
#[derive(Debug)]
pub struct Workspace {
    pub path: PathBuf,
    owner: Owner,
    /// Stops the server and removes the workspace if migsafe is interrupted.
    cleanup: Option<CleanupGuard>,
}

impl Workspace {
    pub fn create(engine: &str, stop_signal: i32) -> Result<Workspace, EngineError> {
        let root = workspace_root();
        std::fs::create_dir_all(&root)
            .map_err(|e| EngineError::Io(format!("{}: {e}", root.display())))?;
        // the service user must be able to traverse it
        let _ = std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o1777));
        let pid = std::process::id();
        let mut n = 0u32;
        let path = loop {
            let p = root.join(format!("{engine}-{pid}-{n}"));
            match std::fs::create_dir(&p) {
                Ok(()) => break p,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 10_000 => n += 1,
                Err(e) => return Err(EngineError::Io(format!("{}: {e}", p.display()))),
            }
        };
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
        let ws = Workspace {
            path,
            owner: Owner {
                engine: engine.to_string(),
                migsafe_pid: pid,
                migsafe_start: start_time(pid),
                server_pid: None,
                server_start: None,
                stop_signal,
            },
            cleanup: None,
        };
        ws.write_owner()?;
        Ok(ws)
    }

    /// A subdirectory owned by `user` (when given) with `mode`.
    pub fn subdir(
        &self,
        name: &str,
        user: Option<&ServiceUser>,
        mode: u32,
    ) -> Result<PathBuf, EngineError> {
        let p = self.path.join(name);
        std::fs::create_dir_all(&p)
            .map_err(|e| EngineError::Io(format!("{}: {e}", p.display())))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
            .map_err(|e| EngineError::Io(format!("{}: {e}", p.display())))?;
        if let Some(u) = user {
            std::os::unix::fs::chown(&p, Some(u.uid), Some(u.gid))
                .map_err(|e| EngineError::Io(format!("chown {}: {e}", p.display())))?;
        }
        Ok(p)
    }

    pub fn set_server(&mut self, pid: u32) -> Result<(), EngineError> {
        self.owner.server_pid = Some(pid);
        self.owner.server_start = start_time(pid);
        self.write_owner()?;
        let (start, stop, dir) = (
            self.owner.server_start,
            self.owner.stop_signal,
            self.path.clone(),
        );
        let engine = self.owner.engine.clone();
        self.cleanup = Some(signals::on_interrupt(move || {
            stop_server(pid, start, stop, Duration::from_secs(5));
            let _ = std::fs::remove_dir_all(&dir);
            Some(format!(
                "the ephemeral {engine} server was stopped and removed"
            ))
        }));
        Ok(())
    }

    fn write_owner(&self) -> Result<(), EngineError> {
        let text = serde_json::to_string(&self.owner).unwrap_or_default();
        let tmp = self.path.join("owner.json.tmp");
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, self.path.join("owner.json")))
            .map_err(|e| EngineError::Io(format!("{}: {e}", self.path.display())))
    }

    /// Stops the server (clean signal, then SIGKILL after `grace`) and removes the directory.
    pub fn teardown(&mut self, grace: Duration) {
        if let Some(pid) = self.owner.server_pid.take() {
            stop_server(pid, self.owner.server_start, self.owner.stop_signal, grace);
        }
        self.cleanup = None;
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn stop_server(pid: u32, start: Option<u64>, stop_signal: i32, grace: Duration) {
    if !alive(pid, start) {
        return;
    }
    send_signal(pid, stop_signal);
    if !wait_gone(pid, start, grace) {
        send_signal(pid, libc::SIGKILL);
        wait_gone(pid, start, Duration::from_secs(5));
    }
}

/// What `reap_orphans` cleaned up.
#[derive(Debug, Clone)]
pub struct Reaped {
    pub path: PathBuf,
    pub server_pid: Option<u32>,
}

/// Stops servers whose migsafe process is gone (killed with SIGKILL, machine crash) and removes
/// their workspaces. Called before every ephemeral start, so the next run cleans up.
pub fn reap_orphans() -> Vec<Reaped> {
    reap_in(&workspace_root())
}

pub fn reap_in(root: &Path) -> Vec<Reaped> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let owner: Option<Owner> = std::fs::read_to_string(path.join("owner.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        let Some(owner) = owner else {
            // a workspace without a readable owner file is only removed once it is old enough
            // that its creator cannot still be writing it
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if old {
                let _ = std::fs::remove_dir_all(&path);
                out.push(Reaped {
                    path,
                    server_pid: None,
                });
            }
            continue;
        };
        if alive(owner.migsafe_pid, owner.migsafe_start) {
            continue;
        }
        if let Some(pid) = owner.server_pid {
            stop_server(
                pid,
                owner.server_start,
                owner.stop_signal,
                Duration::from_secs(5),
            );
        }
        let _ = std::fs::remove_dir_all(&path);
        out.push(Reaped {
            path,
            server_pid: owner.server_pid,
        });
    }
    out
}

/// Starts a server process: as `user` when given, in its own process group (a Ctrl-C in the
/// terminal reaches migsafe, which then stops the server cleanly, instead of killing the server
/// mid-flight).
pub fn spawn_server(
    cmd: &mut std::process::Command,
    user: Option<&ServiceUser>,
    what: &str,
) -> Result<std::process::Child, EngineError> {
    use std::os::unix::process::CommandExt;
    if let Some(u) = user {
        cmd.uid(u.uid).gid(u.gid);
    }
    cmd.process_group(0);
    cmd.spawn()
        .map_err(|e| EngineError::step(format!("starting {what}"), e))
}

/// Polls `probe` (which connects and returns the server version) until it answers, the server
/// process exits, or `timeout` passes; failures quote the tail of the server log.
pub async fn wait_ready<F, Fut>(
    child: Option<&mut std::process::Child>,
    log_path: &Path,
    what: &str,
    timeout: Duration,
    poll: Duration,
    mut probe: F,
) -> Result<String, EngineError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    let step = format!("starting {what}");
    let deadline = Instant::now() + timeout;
    let mut child = child;
    loop {
        if let Some(c) = child.as_deref_mut()
            && let Ok(Some(status)) = c.try_wait()
        {
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            return Err(EngineError::step(
                step,
                format!("server exited ({status}):\n{}", tail(&log, 15)),
            ));
        }
        if let Some(version) = probe().await {
            return Ok(version);
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            return Err(EngineError::step(
                step,
                format!(
                    "not ready after {}s:\n{}",
                    timeout.as_secs(),
                    tail(&log, 15)
                ),
            ));
        }
        tokio::time::sleep(poll).await;
    }
}

/// Runs a setup command to completion (as `user` when given), with its output kept for errors.
pub fn run_setup(
    cmd: &mut std::process::Command,
    user: Option<&ServiceUser>,
    step: &str,
) -> Result<(), EngineError> {
    use std::os::unix::process::CommandExt;
    if let Some(u) = user {
        cmd.uid(u.uid).gid(u.gid);
        // SAFETY: setgroups is async-signal-safe and only touches the child after fork.
        unsafe {
            cmd.pre_exec(|| {
                libc::setgroups(0, std::ptr::null());
                Ok(())
            });
        }
    }
    crate::sys::child::die_with_migsafe(cmd);
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| EngineError::step(step, e))?;
    if !out.status.success() {
        let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        return Err(EngineError::step(step, tail(&text, 15)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaps_workspaces_of_dead_owners_only() {
        let root = tempfile::tempdir().unwrap();
        let dead = root.path().join("pg-1-0");
        let live = root.path().join("pg-2-0");
        std::fs::create_dir_all(&dead).unwrap();
        std::fs::create_dir_all(&live).unwrap();
        // a child that has exited is a dead owner
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let owner = |pid: u32, start: Option<u64>| Owner {
            engine: "postgres".into(),
            migsafe_pid: pid,
            migsafe_start: start,
            server_pid: None,
            server_start: None,
            stop_signal: libc::SIGINT,
        };
        std::fs::write(
            dead.join("owner.json"),
            serde_json::to_string(&owner(pid, Some(1))).unwrap(),
        )
        .unwrap();
        let me = std::process::id();
        std::fs::write(
            live.join("owner.json"),
            serde_json::to_string(&owner(me, start_time(me))).unwrap(),
        )
        .unwrap();
        let reaped = reap_in(root.path());
        assert_eq!(reaped.len(), 1);
        assert!(!dead.exists() && live.exists());
    }

    #[test]
    fn redacted_tail() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b\nc");
    }
}
