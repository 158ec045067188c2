//! The one signal mechanism of migsafe. SIGINT, SIGTERM and SIGHUP end the process the same way
//! with or without a terminal (CI, `timeout`, systemd): every tracked child process group is
//! stopped, every registered cleanup runs (newest first: stop ephemeral servers, remove staging
//! folders, journal the interruption), one line per cleanup says what was done, and migsafe exits
//! with 128 + the signal. A [`Critical`] section holds this off until the step that must not be
//! cut short (a swap of database names) has finished. SIGXFSZ (file size limit) is ignored, so a
//! write beyond the limit fails with EFBIG and is reported like a full disk instead of killing
//! migsafe silently.
//!
//! SIGKILL cannot be caught: what it leaves behind is found by the next run (ephemeral servers,
//! staging folders) or ended by `migsafe recover` from the journal.

use std::sync::{Mutex, Once};
use std::time::Duration;

type Cleanup = Box<dyn FnOnce() -> Option<String> + Send>;

#[derive(Default)]
struct State {
    next_id: u64,
    cleanups: Vec<(u64, Cleanup)>,
    /// Process groups of running children.
    children: Vec<u32>,
    critical: usize,
    pending: Option<i32>,
}

static STATE: Mutex<State> = Mutex::new(State {
    next_id: 0,
    cleanups: Vec::new(),
    children: Vec::new(),
    critical: 0,
    pending: None,
});
static INSTALL: Once = Once::new();

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The name of a signal for messages (`SIGINT`).
pub fn name(sig: i32) -> String {
    match sig {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGXFSZ => "SIGXFSZ".into(),
        other => format!("signal {other}"),
    }
}

/// Installs the handler (idempotent). `main` calls it first; registering a cleanup or a child
/// installs it too, for library users.
pub fn install() {
    INSTALL.call_once(|| {
        // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
        let Ok(mut signals) =
            signal_hook::iterator::Signals::new([libc::SIGINT, libc::SIGTERM, libc::SIGHUP])
        else {
            return;
        };
        std::thread::spawn(move || {
            for sig in signals.forever() {
                let held = {
                    let mut st = state();
                    if st.critical > 0 {
                        st.pending.get_or_insert(sig);
                        true
                    } else {
                        false
                    }
                };
                if held {
                    eprintln!(
                        "migsafe: {} received: finishing the step that must not be cut short first",
                        name(sig)
                    );
                    continue;
                }
                terminate(sig);
            }
        });
    });
}

static TERMINATING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether an interrupt is being handled (its cleanup runs on the signal thread).
pub fn terminating() -> bool {
    TERMINATING.load(std::sync::atomic::Ordering::SeqCst)
}

/// Blocks forever while an interrupt is handled, so the main thread never exits (and cuts the
/// cleanup short) before the signal thread has finished and exited itself.
pub fn wait_if_terminating() {
    while terminating() {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops children, runs cleanups, says what was done and exits with 128 + `sig`.
pub fn terminate(sig: i32) -> ! {
    TERMINATING.store(true, std::sync::atomic::Ordering::SeqCst);
    let (children, cleanups) = {
        let mut st = state();
        (
            std::mem::take(&mut st.children),
            std::mem::take(&mut st.cleanups),
        )
    };
    for pg in &children {
        super::proc::signal_group(*pg, libc::SIGTERM);
    }
    let mut said = Vec::new();
    for (_, f) in cleanups.into_iter().rev() {
        if let Some(msg) = f() {
            said.push(msg);
        }
    }
    // children get a moment to exit on SIGTERM, then SIGKILL
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    for pg in &children {
        while super::proc::alive(*pg, None) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        super::proc::signal_group(*pg, libc::SIGKILL);
    }
    let mut msg = format!("migsafe: interrupted by {}", name(sig));
    if said.is_empty() {
        msg.push_str("; nothing was left to clean up");
    } else {
        for s in said {
            msg.push_str("\nmigsafe: ");
            msg.push_str(&s);
        }
    }
    eprintln!("{msg}");
    std::process::exit(128 + sig);
}

/// Removes its cleanup when dropped (the work it would undo finished normally).
#[must_use = "the cleanup is unregistered when the guard is dropped"]
#[derive(Debug)]
pub struct CleanupGuard(u64);

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        state().cleanups.retain(|(id, _)| *id != self.0);
    }
}

/// Runs `f` if migsafe is interrupted while the guard lives; `f` returns what it did, for the
/// interruption message.
pub fn on_interrupt(f: impl FnOnce() -> Option<String> + Send + 'static) -> CleanupGuard {
    install();
    let mut st = state();
    st.next_id += 1;
    let id = st.next_id;
    st.cleanups.push((id, Box::new(f)));
    CleanupGuard(id)
}

/// A running child's process group, stopped on interrupt until the guard is dropped.
#[must_use = "the child is untracked when the guard is dropped"]
#[derive(Debug)]
pub struct ChildGuard(u32);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        state().children.retain(|p| *p != self.0);
    }
}

pub fn track_child(pgid: u32) -> ChildGuard {
    install();
    let mut st = state();
    // started while an interrupt is handled (its stop list is taken already): stop it now
    if terminating() {
        super::proc::signal_group(pgid, libc::SIGTERM);
    }
    st.children.push(pgid);
    ChildGuard(pgid)
}

/// While it lives, SIGINT/SIGTERM/SIGHUP are remembered instead of acted on. [`Critical::finish`]
/// tells the caller about a signal that arrived meanwhile (the caller then reports it and stops
/// at its next step); dropping the section without `finish` acts on it at once.
#[must_use = "a critical section ends when dropped"]
pub struct Critical {
    done: bool,
}

impl Critical {
    pub fn enter() -> Critical {
        install();
        state().critical += 1;
        Critical { done: false }
    }

    /// Whether a signal arrived since the section began.
    pub fn interrupted(&self) -> bool {
        state().pending.is_some()
    }

    /// Ends the section and hands over a signal that arrived meanwhile (consumed: the caller
    /// owns the decision to stop).
    pub fn finish(mut self) -> Option<i32> {
        self.done = true;
        let mut st = state();
        st.critical = st.critical.saturating_sub(1);
        if st.critical == 0 {
            st.pending.take()
        } else {
            None
        }
    }
}

impl Drop for Critical {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let pending = {
            let mut st = state();
            st.critical = st.critical.saturating_sub(1);
            if st.critical == 0 {
                st.pending.take()
            } else {
                None
            }
        };
        if let Some(sig) = pending {
            terminate(sig);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_unregister_and_critical_sections_nest() {
        let g = on_interrupt(|| Some("x".into()));
        let id = g.0;
        let c = track_child(u32::MAX - 3);
        assert!(state().cleanups.iter().any(|(i, _)| *i == id));
        drop(g);
        drop(c);
        assert!(!state().cleanups.iter().any(|(i, _)| *i == id));
        assert!(!state().children.contains(&(u32::MAX - 3)));
        let outer = Critical::enter();
        let inner = Critical::enter();
        state().pending = Some(libc::SIGTERM);
        assert!(inner.interrupted());
        assert_eq!(inner.finish(), None, "still inside the outer section");
        assert_eq!(outer.finish(), Some(libc::SIGTERM));
        assert_eq!(state().critical, 0);
        assert_eq!(name(libc::SIGHUP), "SIGHUP");
    }
}
