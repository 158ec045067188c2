//! The budget scheduler: cheapest checks first, and a check runs only when its estimate fits what
//! is left of the budget; its statement timeout is capped at that remainder so a bad estimate
//! cannot overrun the budget.

use super::Check;
use std::time::Duration;

/// Below this, a statement cannot do anything useful.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// Cost class, then estimate (unknown estimates last within a class), then id and object so the
/// order is stable from run to run.
pub fn order(checks: &mut [Check]) {
    checks.sort_by(|a, b| {
        a.cost
            .cmp(&b.cost)
            .then_with(|| match (a.estimate, b.estimate) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| a.id.cmp(b.id))
            .then_with(|| a.object.cmp(&b.object))
    });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Run with this statement timeout; `budget_bound` when the timeout is the budget's remainder
    /// (a timeout then means "the budget ran out", not "the statement is slow").
    Run {
        timeout: Duration,
        budget_bound: bool,
    },
    /// Does not fit; `remaining` is what was left of the budget.
    Skip { remaining: Duration },
}

/// Decides whether a check with `estimate` runs, `elapsed` into a run with `budget`.
pub fn admit(
    budget: Option<Duration>,
    elapsed: Duration,
    statement_timeout: Duration,
    own_timeout: Option<Duration>,
    estimate: Option<Duration>,
) -> Admission {
    // a check's own timeout (custom assertions) replaces the run's statement timeout
    let own = own_timeout.unwrap_or(statement_timeout);
    let Some(budget) = budget else {
        return Admission::Run {
            timeout: own.max(MIN_TIMEOUT),
            budget_bound: false,
        };
    };
    let remaining = budget.saturating_sub(elapsed);
    if remaining < MIN_TIMEOUT || estimate.is_some_and(|e| e > remaining) {
        return Admission::Skip { remaining };
    }
    if remaining < own {
        Admission::Run {
            timeout: remaining,
            budget_bound: true,
        }
    } else {
        Admission::Run {
            timeout: own.max(MIN_TIMEOUT),
            budget_bound: false,
        }
    }
}

/// A duration for people: `850 ms`, `2.4 s`, `3 min 20 s`.
pub fn human(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        "<1 ms".to_string()
    } else if ms < 1000.0 {
        format!("{} ms", ms.round() as u64)
    } else if ms < 60_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        let s = d.as_secs();
        format!("{} min {} s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::{Check, CostClass, Level};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn check(id: &'static str, cost: CostClass, est: Option<u64>) -> Check {
        let mut c = Check::query(
            id,
            "t",
            Level::Standard,
            cost,
            Duration::ZERO,
            String::new(),
            Box::new(|_| Vec::new()),
        );
        c.estimate = est.map(ms);
        c
    }

    #[test]
    fn cheapest_first_unknown_last_within_class() {
        let mut v = vec![
            check("scan-big", CostClass::Scan, Some(900)),
            check("custom", CostClass::Probe, None),
            check("probe", CostClass::Probe, Some(3)),
            check("catalog", CostClass::Catalog, Some(2)),
            check("scan-small", CostClass::Scan, Some(5)),
        ];
        order(&mut v);
        let ids: Vec<_> = v.iter().map(|c| c.id).collect();
        assert_eq!(
            ids,
            ["catalog", "probe", "custom", "scan-small", "scan-big"]
        );
    }

    #[test]
    fn without_budget_everything_runs_with_the_statement_timeout() {
        assert_eq!(
            admit(None, ms(10_000), ms(5000), None, Some(ms(60_000))),
            Admission::Run {
                timeout: ms(5000),
                budget_bound: false
            }
        );
    }

    #[test]
    fn checks_that_do_not_fit_are_skipped_and_the_rest_capped() {
        // 100 ms left: a 900 ms estimate is skipped, a 5 ms one runs with the remainder as timeout
        assert_eq!(
            admit(Some(ms(1000)), ms(900), ms(5000), None, Some(ms(900))),
            Admission::Skip { remaining: ms(100) }
        );
        assert_eq!(
            admit(Some(ms(1000)), ms(900), ms(5000), None, Some(ms(5))),
            Admission::Run {
                timeout: ms(100),
                budget_bound: true
            }
        );
        // plenty left: the statement timeout applies and a timeout is a real timeout
        assert_eq!(
            admit(Some(ms(60_000)), ms(10), ms(5000), None, Some(ms(5))),
            Admission::Run {
                timeout: ms(5000),
                budget_bound: false
            }
        );
        // budget spent: even unknown estimates are skipped
        assert_eq!(
            admit(Some(ms(100)), ms(150), ms(5000), None, None),
            Admission::Skip {
                remaining: Duration::ZERO
            }
        );
    }

    #[test]
    fn own_timeouts_apply_but_never_beyond_the_budget() {
        assert_eq!(
            admit(None, ms(0), ms(5000), Some(ms(200)), None),
            Admission::Run {
                timeout: ms(200),
                budget_bound: false
            }
        );
        assert_eq!(
            admit(Some(ms(150)), ms(50), ms(5000), Some(ms(200)), None),
            Admission::Run {
                timeout: ms(100),
                budget_bound: true
            }
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(ms(850)), "850 ms");
        assert_eq!(human(ms(2400)), "2.4 s");
        assert_eq!(human(Duration::from_secs(200)), "3 min 20 s");
        assert_eq!(human(Duration::from_micros(10)), "<1 ms");
    }
}
