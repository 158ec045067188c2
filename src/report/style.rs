//! ANSI colours for the human renderers (a no-op when colour is off).

use crate::model::{Severity, Verdict};

/// `1 row`, `2 rows`, `0 rows`: the one plural helper of the renderers.
pub fn plural<N>(n: N, one: &str, many: &str) -> String
where
    N: std::fmt::Display + PartialEq + From<u8>,
{
    let word = if n == N::from(1) { one } else { many };
    format!("{n} {word}")
}

pub struct Style {
    pub on: bool,
}

impl Style {
    pub fn new(on: bool) -> Style {
        Style { on }
    }

    pub fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    pub fn verdict(&self, v: Verdict) -> String {
        let code = match v {
            Verdict::Safe => "32",
            Verdict::Caution => "33",
            Verdict::Risky => "1;33",
            Verdict::Unknown => "1;35",
            Verdict::Destructive => "1;31",
        };
        self.paint(code, v.as_str())
    }

    pub fn severity(&self, s: Severity) -> String {
        let code = match s {
            Severity::Error => "1;31",
            Severity::Warning => "1;33",
            Severity::Info => "1;36",
        };
        self.paint(code, s.as_str())
    }

    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }

    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }

    pub fn red(&self, s: &str) -> String {
        self.paint("1;31", s)
    }

    pub fn green(&self, s: &str) -> String {
        self.paint("1;32", s)
    }
}
