//! Process identity: a pid plus its start time tells a live process from a recycled pid.

use std::time::{Duration, Instant};

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), used with
/// the pid to tell a live process from a recycled pid.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the command name (field 2) may contain spaces and parentheses: skip past the last ')'
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` runs (a zombie has exited and only waits to be reaped: not alive).
pub fn alive(pid: u32, start: Option<u64>) -> bool {
    if is_zombie(pid) {
        return false;
    }
    match (start_time(pid), start) {
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

pub fn send_signal(pid: u32, sig: i32) {
    if let Ok(p) = i32::try_from(pid) {
        // SAFETY: kill has no memory-safety preconditions; errors (ESRCH) are ignored on purpose.
        unsafe {
            libc::kill(p, sig);
        }
    }
}

/// Signals every process of the process group `pgid` (children started in their own group).
pub fn signal_group(pgid: u32, sig: i32) {
    if let Ok(p) = i32::try_from(pgid)
        && p > 1
    {
        // SAFETY: as for kill; a negative pid addresses the group.
        unsafe {
            libc::kill(-p, sig);
        }
    }
}

/// Waits until `pid` is gone (or a zombie we do not own), up to `timeout`.
pub fn wait_gone(pid: u32, start: Option<u64>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !alive(pid, start) || is_zombie(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid, start)
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .map(|i| s[i + 1..].trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// This machine's name (for journals and database markers: which host started an operation).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_identifies_this_process() {
        let me = std::process::id();
        let st = start_time(me);
        assert!(st.is_some());
        assert!(alive(me, st));
        assert!(
            !alive(me, st.map(|s| s + 1)),
            "a recycled pid has another start time"
        );
        assert!(!alive(u32::MAX - 1, None));
        assert!(!hostname().is_empty());
    }
}
