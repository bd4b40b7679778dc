//! Limits on graded runs (like Marmoset's release tokens): at most `limit` graded runs in
//! any window of `period`. A run frees up `period` after it was received.

use chrono::{DateTime, TimeDelta, Utc};

/// Where a student stands against the limit at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowance {
    pub limit: i32,
    /// Graded runs in the window ending now.
    pub used: i32,
    /// When the next run frees up, when none is left.
    pub next_at: Option<DateTime<Utc>>,
}

impl Allowance {
    pub fn left(&self) -> i32 {
        (self.limit - self.used).max(0)
    }
}

/// The allowance at `at` given when the runs in the window `(at - period, at]` were
/// received (`runs`, oldest first; earlier ones are ignored).
pub fn at(limit: i32, period: TimeDelta, runs: &[DateTime<Utc>], at: DateTime<Utc>) -> Allowance {
    let window: Vec<&DateTime<Utc>> = runs
        .iter()
        .filter(|r| **r > at - period && **r <= at)
        .collect();
    let used = i32::try_from(window.len()).unwrap_or(i32::MAX);
    let next_at = (used >= limit)
        .then(|| window.get(window.len() - usize::try_from(limit).unwrap_or(1)))
        .flatten()
        .map(|oldest_counted| **oldest_counted + period);
    Allowance {
        limit,
        used,
        next_at,
    }
}

/// The sentence a run over the limit gets.
pub fn refusal(allowance: &Allowance, period_hours: i32) -> String {
    let next = allowance
        .next_at
        .map(|at| {
            format!(
                "; the next one is available at {}",
                at.format("%Y-%m-%d %H:%M UTC")
            )
        })
        .unwrap_or_default();
    format!(
        "no graded runs left ({} per {} h){next}. This run shows the visible tests only and does not count for the grade",
        allowance.limit, period_hours
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(hour: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + hour * 3600, 0).expect("time")
    }

    #[test]
    fn runs_free_up_a_period_after_they_were_received() {
        let day = TimeDelta::hours(24);
        let runs = [t(0), t(5), t(10)];
        let at_11 = at(3, day, &runs, t(11));
        assert_eq!((at_11.used, at_11.left()), (3, 0));
        // The oldest of the three counted frees up first.
        assert_eq!(at_11.next_at, Some(t(24)));
        let at_25 = at(3, day, &runs, t(25));
        assert_eq!((at_25.used, at_25.left(), at_25.next_at), (2, 1, None));
        // Over the limit (runs from before a lower limit): the one that makes room counts.
        let four = [t(0), t(1), t(2), t(3)];
        assert_eq!(at(2, day, &four, t(4)).next_at, Some(t(26)));
    }

    #[test]
    fn the_refusal_says_when_the_next_run_is_available() {
        let allowance = at(1, TimeDelta::hours(24), &[t(0)], t(1));
        let text = refusal(&allowance, 24);
        assert!(
            text.starts_with("no graded runs left (1 per 24 h); the next one is available at ")
        );
        assert!(text.contains(&t(24).format("%Y-%m-%d %H:%M UTC").to_string()));
    }
}
