//! Progress bars on a TTY stderr; silent with `--quiet`, machine formats or when not a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Below this many items a bar would only flicker.
const MIN_ITEMS: usize = 20;

pub struct Progress {
    bar: Option<ProgressBar>,
    /// Outside a terminal: what is counted, the total, and when the last line was written.
    lines: Option<Lines>,
}

struct Lines {
    what: String,
    total: usize,
    last: std::cell::Cell<std::time::Instant>,
}

/// Outside a terminal, a progress line at most this often (and at the start and the end).
const LINE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl Progress {
    pub fn new(len: usize, what: &str, enabled: bool) -> Progress {
        if !enabled || len < MIN_ITEMS || !std::io::stderr().is_terminal() {
            return Progress {
                bar: None,
                lines: None,
            };
        }
        let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(what.to_string());
        Progress {
            bar: Some(bar),
            lines: None,
        }
    }

    /// Also, when stderr is not a terminal and `enabled`, a line on stderr when it starts, every
    /// few seconds while it runs, and when it ends: a run that is killed has said how far it got.
    pub fn with_lines(mut self, len: usize, what: &str, enabled: bool) -> Progress {
        if enabled && !std::io::stderr().is_terminal() {
            eprintln!("migsafe: {what}: {len} to run…");
            self.lines = Some(Lines {
                what: what.to_string(),
                total: len,
                last: std::cell::Cell::new(std::time::Instant::now()),
            });
        }
        self
    }

    pub fn set(&self, pos: usize) {
        if let Some(b) = &self.bar {
            b.set_position(pos as u64);
        }
        if let Some(l) = &self.lines
            && pos < l.total
            && l.last.get().elapsed() >= LINE_EVERY
        {
            l.last.set(std::time::Instant::now());
            eprintln!("migsafe: {}: {pos}/{} done", l.what, l.total);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        if let Some(l) = &self.lines {
            eprintln!("migsafe: {}: {} done", l.what, l.total);
        }
    }
}
