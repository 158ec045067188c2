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

/// Where this user's workspaces live: `$TMPDIR/migsafe-<uid>/<engine>-<pid>-<n>`. One root per
/// user, never shared: the reaper signals the processes its owner files name, so nobody else may
/// be able to write there (see [`private_root`]).
pub fn workspace_root() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    std::env::temp_dir().join(format!("migsafe-{uid}"))
}

/// The mode the workspace root must have: 0700, or 0711 as root, whose servers run as a service
/// user that must traverse it (it can still neither list nor create anything there).
fn root_mode() -> u32 {
    if is_root() { 0o711 } else { 0o700 }
}

/// Creates the workspace root, or checks the one there: a directory (not a symlink) owned by us
/// with exactly [`root_mode`]. Anything else is refused, as ssh refuses a key file others can
/// write: an owner file planted there could make migsafe signal another process.
pub fn private_root(root: &Path) -> Result<(), EngineError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let mode = root_mode();
    match std::fs::DirBuilder::new().mode(mode).create(root) {
        Ok(()) => std::fs::set_permissions(root, std::fs::Permissions::from_mode(mode))
            .map_err(|e| EngineError::Io(format!("{}: {e}", root.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(EngineError::Io(format!("{}: {e}", root.display()))),
    }
    let m = std::fs::symlink_metadata(root)
        .map_err(|e| EngineError::Io(format!("{}: {e}", root.display())))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let problem = if m.file_type().is_symlink() {
        Some("is a symbolic link".to_string())
    } else if !m.is_dir() {
        Some("is not a directory".to_string())
    } else if m.uid() != me {
        Some(format!("belongs to uid {}, not to us (uid {me})", m.uid()))
    } else if m.mode() & 0o7777 != mode {
        Some(format!(
            "has mode {:04o}, not {mode:04o}",
            m.mode() & 0o7777
        ))
    } else {
        None
    };
    match problem {
        Some(p) => Err(EngineError::Io(format!(
            "{} {p}: migsafe keeps its ephemeral servers there and refuses a folder others could \
             write to; remove it (or set TMPDIR to another folder) and run again",
            root.display()
        ))),
        None => Ok(()),
    }
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
        private_root(&root)?;
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

/// Signals `pid` only while it is the process that started at `start`: without a start time
/// there is no telling a recycled pid from the server, and nothing is signalled.
fn stop_server(pid: u32, start: Option<u64>, stop_signal: i32, grace: Duration) {
    if start.is_none() || !alive(pid, start) {
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

/// Reaps the workspaces of `root`, which must pass [`private_root`] (a root that does not is left
/// alone). Only workspaces and owner files that belong to us count, and a server is signalled only
/// while its pid and start time both match the owner file.
pub fn reap_in(root: &Path) -> Vec<Reaped> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    if !root.exists() || private_root(root).is_err() {
        return out;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return out;
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let ours = |p: &Path| {
        std::fs::symlink_metadata(p).is_ok_and(|m| m.uid() == me && !m.file_type().is_symlink())
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !ours(&path) {
            continue;
        }
        let owner_file = path.join("owner.json");
        let owner: Option<Owner> = std::fs::read_to_string(&owner_file)
            .ok()
            .filter(|_| ours(&owner_file))
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
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(root_mode()))
            .unwrap();
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

    /// A process that is not ours: `sleep`, which an owner file planted by someone else names.
    struct Victim(std::process::Child);

    impl Victim {
        fn spawn() -> Victim {
            Victim(
                std::process::Command::new("sleep")
                    .arg("30")
                    .spawn()
                    .unwrap(),
            )
        }
        fn pid(&self) -> u32 {
            self.0.id()
        }
        fn still_running(&mut self) -> bool {
            std::thread::sleep(Duration::from_millis(100));
            self.0.try_wait().unwrap().is_none()
        }
    }

    impl Drop for Victim {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// An owner file whose migsafe is dead (a pid that has exited) and whose server is `victim`.
    fn plant(dir: &Path, server_pid: u32, server_start: Option<u64>) {
        std::fs::create_dir_all(dir).unwrap();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let dead = gone.id();
        gone.wait().unwrap();
        let owner = Owner {
            engine: "postgres".into(),
            migsafe_pid: dead,
            migsafe_start: Some(1),
            server_pid: Some(server_pid),
            server_start,
            stop_signal: libc::SIGKILL,
        };
        std::fs::write(
            dir.join("owner.json"),
            serde_json::to_string(&owner).unwrap(),
        )
        .unwrap();
    }

    fn private_tempdir() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(root_mode()))
            .unwrap();
        root
    }

    /// Issue 12 §2: the reaper signalled whatever pid an owner file named.
    #[test]
    fn a_planted_owner_file_signals_nothing() {
        let mut victim = Victim::spawn();
        let pid = victim.pid();
        let real_start = start_time(pid).unwrap();
        let root = private_tempdir();
        // the pid of a live process with another start time (a recycled pid), or none at all
        plant(&root.path().join("postgres-1-0"), pid, Some(real_start + 1));
        plant(&root.path().join("postgres-1-1"), pid, None);
        reap_in(root.path());
        assert!(
            victim.still_running(),
            "a wrong or missing start time is not signalled"
        );
        // with the right start time it is ours: the same reaper does stop it (the test can fail)
        plant(&root.path().join("postgres-1-2"), pid, Some(real_start));
        let reaped = reap_in(root.path());
        assert!(reaped.iter().any(|r| r.server_pid == Some(pid)));
        assert!(
            !victim.still_running(),
            "a matching pid and start time is stopped"
        );
    }

    #[test]
    fn a_root_others_can_write_to_is_refused_and_not_reaped() {
        let mut victim = Victim::spawn();
        let pid = victim.pid();
        let start = start_time(pid);
        let base = tempfile::tempdir().unwrap();
        let open = base.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        plant(&open.join("postgres-1-0"), pid, start);
        let e = private_root(&open).unwrap_err().to_string();
        assert!(
            e.contains("has mode 1777") && e.contains("remove it"),
            "{e}"
        );
        assert!(reap_in(&open).is_empty());
        assert!(
            victim.still_running(),
            "nothing under a shared root is trusted"
        );
        let link = base.path().join("link");
        let real = private_tempdir();
        std::os::unix::fs::symlink(real.path(), &link).unwrap();
        let e = private_root(&link).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        let fresh = base.path().join("fresh");
        private_root(&fresh).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, root_mode());
        if is_root() {
            // a folder (or an owner file) that belongs to another user
            let theirs = private_tempdir();
            std::os::unix::fs::chown(theirs.path(), Some(65534), Some(65534)).unwrap();
            let e = private_root(theirs.path()).unwrap_err().to_string();
            assert!(e.contains("belongs to uid 65534"), "{e}");
            let root = private_tempdir();
            let ws = root.path().join("postgres-1-0");
            plant(&ws, pid, start);
            std::os::unix::fs::chown(ws.join("owner.json"), Some(65534), Some(65534)).unwrap();
            reap_in(root.path());
            assert!(
                victim.still_running(),
                "a foreign owner file is not trusted"
            );
        }
    }

    #[test]
    fn redacted_tail() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b\nc");
    }
}
