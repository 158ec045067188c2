//! The application layer of a mode: the runbook toggles `READ_ONLY_MODE`/`MAINTENANCE_MODE` in
//! the application too, because a database setting alone shows users errors instead of a
//! maintenance page. Two adapters:
//!
//! - hooks (`[hooks] read_only_on/read_only_off/maintenance_on/maintenance_off`): shell commands
//!   run with the mode in their environment, bounded by a timeout (the whole process group is
//!   killed past it), their output captured for the journal;
//! - a flag file (`--flag-file PATH`) in env (`READ_ONLY_MODE=true`) or JSON form, replaced
//!   atomically (temp file, fsync, rename) for applications that poll one; switching off puts
//!   back exactly what was there before (the previous content, or no file).

use crate::engines::modes::Mode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How much of a hook's output is kept (the tail).
const OUTPUT_LIMIT: usize = 4096;
/// The largest flag file whose previous content is kept to be put back.
pub const FLAG_PRIOR_LIMIT: u64 = 64 * 1024;

/// The hook commands of one mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hooks {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub off: Option<String>,
    pub timeout_ms: u64,
}

impl Hooks {
    pub fn any(&self) -> bool {
        self.on.is_some() || self.off.is_some()
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }
}

/// What a hook did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HookRun {
    pub command: String,
    /// The exit code; `None` when it was killed (timeout or signal).
    pub exit: Option<i32>,
    pub timed_out: bool,
    pub ms: u64,
    /// The tail of stdout and stderr, interleaved as written.
    pub output: String,
}

impl HookRun {
    pub fn ok(&self) -> bool {
        self.exit == Some(0) && !self.timed_out
    }

    /// Why it failed, for messages.
    pub fn failure(&self) -> String {
        let how = if self.timed_out {
            format!("did not finish within {} ms and was killed", self.ms)
        } else {
            match self.exit {
                Some(c) => format!("exited with code {c}"),
                None => "was killed by a signal".into(),
            }
        };
        let out = crate::sys::child::tail(&self.output, 3);
        if out.is_empty() {
            format!("`{}` {how}", self.command)
        } else {
            format!("`{}` {how}: {out}", self.command)
        }
    }
}

/// The environment a hook sees.
pub fn hook_env(
    mode: Mode,
    on: bool,
    database: &str,
    operation: &str,
    lease_until: Option<DateTime<Utc>>,
) -> Vec<(String, String)> {
    vec![
        ("MIGSAFE_MODE".into(), mode.as_str().into()),
        (
            "MIGSAFE_MODE_STATE".into(),
            if on { "on" } else { "off" }.into(),
        ),
        ("MIGSAFE_DATABASE".into(), database.into()),
        ("MIGSAFE_OPERATION".into(), operation.into()),
        (
            "MIGSAFE_LEASE_UNTIL".into(),
            lease_until.map(|t| t.to_rfc3339()).unwrap_or_default(),
        ),
        (mode.flag_name().into(), on.to_string()),
    ]
}

/// Runs `command` with `sh -c` (stdin closed, stdout and stderr captured together), killing its
/// whole process group after `timeout`. Blocking.
pub fn run_hook(command: &str, env: &[(String, String)], timeout: Duration) -> HookRun {
    let began = Instant::now();
    let fail = |why: String| HookRun {
        command: command.to_string(),
        exit: None,
        timed_out: false,
        ms: began.elapsed().as_millis() as u64,
        output: why,
    };
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return fail(format!("cannot create a pipe: {e}")),
    };
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    match (writer.try_clone(), writer) {
        (Ok(w2), w) => {
            cmd.stdout(w).stderr(w2);
        }
        (Err(e), _) => return fail(format!("cannot create a pipe: {e}")),
    }
    let (mut child, _tracked) = match crate::sys::child::spawn(&mut cmd) {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot start sh: {e}")),
    };
    // our copies of the pipe's write end must be gone for the reader to see EOF
    drop(cmd);
    let collector = std::thread::spawn(move || {
        let mut reader = reader;
        let mut keep: Vec<u8> = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    keep.extend_from_slice(&buf[..n]);
                    if keep.len() > 2 * OUTPUT_LIMIT {
                        keep.drain(..keep.len() - OUTPUT_LIMIT);
                    }
                }
            }
        }
        keep
    });
    let deadline = began + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                crate::sys::proc::signal_group(child.id(), libc::SIGKILL);
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    // a grandchild that kept the pipe open was killed with the group; never wait forever
    let out = if timed_out {
        std::thread::sleep(Duration::from_millis(50));
        if collector.is_finished() {
            collector.join().unwrap_or_default()
        } else {
            Vec::new()
        }
    } else {
        collector.join().unwrap_or_default()
    };
    let mut output = String::from_utf8_lossy(&out).into_owned();
    if output.len() > OUTPUT_LIMIT {
        let mut cut = output.len() - OUTPUT_LIMIT;
        while !output.is_char_boundary(cut) {
            cut += 1;
        }
        output = output[cut..].to_string();
    }
    HookRun {
        command: command.to_string(),
        exit: status.and_then(|s| s.code()),
        timed_out,
        ms: began.elapsed().as_millis() as u64,
        output,
    }
}

/// How a flag file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlagFormat {
    /// `READ_ONLY_MODE=true` lines, for dotenv readers and shells.
    Env,
    Json,
}

impl FlagFormat {
    pub fn parse(s: &str) -> Option<FlagFormat> {
        match s {
            "env" => Some(FlagFormat::Env),
            "json" => Some(FlagFormat::Json),
            _ => None,
        }
    }

    /// JSON for `*.json`, else env.
    pub fn for_path(p: &Path) -> FlagFormat {
        if p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            FlagFormat::Json
        } else {
            FlagFormat::Env
        }
    }
}

/// A flag file to write while a mode is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagFile {
    pub path: PathBuf,
    pub format: FlagFormat,
}

/// What the flag file says while the mode is on.
pub fn flag_text(
    f: &FlagFile,
    mode: Mode,
    operation: &str,
    since: DateTime<Utc>,
    lease_until: Option<DateTime<Utc>>,
) -> String {
    let lease = lease_until.map(|t| t.to_rfc3339()).unwrap_or_default();
    match f.format {
        FlagFormat::Env => format!(
            "# written by migsafe {} on; `migsafe {} off` puts back what was here before\n{}=true\nMIGSAFE_OPERATION={operation}\nMIGSAFE_SINCE={}\nMIGSAFE_LEASE_UNTIL={lease}\n",
            mode.as_str(),
            mode.as_str(),
            mode.flag_name(),
            since.to_rfc3339()
        ),
        FlagFormat::Json => {
            let mut s = serde_json::to_string_pretty(&serde_json::json!({
                mode.json_key(): true,
                "operation": operation,
                "since": since.to_rfc3339(),
                "lease_until": lease_until.map(|t| t.to_rfc3339()),
            }))
            .unwrap_or_default();
            s.push('\n');
            s
        }
    }
}

/// The file's content now (`None`: there is none). Refuses what is not a regular file and files
/// too large to be kept for putting back.
pub fn read_flag(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
        Ok(m) if !m.file_type().is_file() => Err(std::io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        ))),
        Ok(m) if m.len() > FLAG_PRIOR_LIMIT => Err(std::io::Error::other(format!(
            "{} is larger than {} KiB: not a flag file migsafe can put back",
            path.display(),
            FLAG_PRIOR_LIMIT / 1024
        ))),
        Ok(_) => std::fs::read_to_string(path).map(Some),
    }
}

/// Replaces `path` with `text` atomically (readers see the old content or the new one): a temp
/// file in the same folder with the old file's permissions (0644 for a new one: applications
/// read it), fsync, rename, fsync of the folder.
pub fn write_flag(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| std::io::Error::other(format!("{}: not a file name", path.display())))?;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o644);
    let mut n = 0u32;
    let (tmp, mut f) = loop {
        let tmp = dir.join(format!(".{name}.migsafe-{}-{n}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(e),
        }
    };
    let result = f
        .write_all(text.as_bytes())
        .and_then(|_| f.set_permissions(std::fs::Permissions::from_mode(mode)))
        .and_then(|_| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    crate::sys::durable::fsync_dir(dir)
}

/// Puts the flag file back as it was: the previous content, or no file.
pub fn restore_flag(path: &Path, prior: Option<&str>) -> std::io::Result<()> {
    match prior {
        Some(text) => write_flag(path, text),
        None => match std::fs::remove_file(path) {
            Ok(()) => {
                let dir = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                crate::sys::durable::fsync_dir(dir)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_see_the_mode_and_are_bounded() {
        let env = hook_env(Mode::ReadOnly, true, "shop", "op-1", None);
        let r = run_hook(
            "echo \"$MIGSAFE_MODE $MIGSAFE_MODE_STATE $READ_ONLY_MODE $MIGSAFE_DATABASE\"; echo oops >&2",
            &env,
            Duration::from_secs(5),
        );
        assert!(r.ok(), "{r:?}");
        assert!(
            r.output.contains("read-only on true shop") && r.output.contains("oops"),
            "{}",
            r.output
        );
        let r = run_hook("echo half; exit 3", &env, Duration::from_secs(5));
        assert_eq!(r.exit, Some(3));
        assert!(r.failure().contains("exited with code 3") && r.failure().contains("half"));
        let began = Instant::now();
        let r = run_hook("sleep 30 & sleep 30", &env, Duration::from_millis(300));
        assert!(r.timed_out && !r.ok(), "{r:?}");
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "the timeout holds"
        );
        assert!(r.failure().contains("killed"));
    }

    #[test]
    fn flag_files_are_replaced_atomically_and_put_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("flags.env");
        let f = FlagFile {
            path: p.clone(),
            format: FlagFormat::for_path(&p),
        };
        assert_eq!(read_flag(&p).unwrap(), None);
        let text = flag_text(&f, Mode::Maintenance, "op-1", Utc::now(), None);
        write_flag(&p, &text).unwrap();
        assert!(
            std::fs::read_to_string(&p)
                .unwrap()
                .contains("MAINTENANCE_MODE=true")
        );
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
        restore_flag(&p, None).unwrap();
        assert!(!p.exists());
        std::fs::write(&p, "APP=1\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let prior = read_flag(&p).unwrap();
        write_flag(&p, &text).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640,
            "the file keeps its permissions"
        );
        restore_flag(&p, prior.as_deref()).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "APP=1\n");
        let j = FlagFile {
            path: dir.path().join("f.json"),
            format: FlagFormat::for_path(Path::new("f.json")),
        };
        let v: serde_json::Value =
            serde_json::from_str(&flag_text(&j, Mode::ReadOnly, "op", Utc::now(), None)).unwrap();
        assert_eq!(v["read_only"], true);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["flags.env".to_string()], "no temp file left");
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        assert!(read_flag(&dir.path().join("link")).is_err());
    }
}
