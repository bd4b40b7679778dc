//! Deadlines: whether work came in late (by when Lectern received the push, never by the
//! commit's own date, which students can set), by how many started days, and what the
//! assignment's late policy makes of its score.

use bigdecimal::{BigDecimal, Zero as _};
use chrono::{DateTime, Utc};

pub use crate::db::enums::LatePolicy;

/// Started days past `due` at `received` (1 for a second late, 2 for a day and a second);
/// `None` when on time or without a deadline.
pub fn days_late(received: DateTime<Utc>, due: Option<DateTime<Utc>>) -> Option<i32> {
    let due = due?;
    if received <= due {
        return None;
    }
    let seconds = (received - due).num_seconds().max(1);
    Some(i32::try_from((seconds + 86_399) / 86_400).unwrap_or(i32::MAX))
}

/// What a late policy makes of a score.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    /// The score that counts.
    pub score: BigDecimal,
    /// The score before a penalty, when one was taken.
    pub before_penalty: Option<BigDecimal>,
}

/// Applies `policy` to `score` earned `days_late` days late (`percent` off per day under
/// `penalty`, never below zero). A refused late build keeps its score; it is simply not
/// chosen to grade the assignment.
pub fn judge(
    score: &BigDecimal,
    days_late: Option<i32>,
    policy: LatePolicy,
    percent: &BigDecimal,
) -> Judged {
    let unchanged = Judged {
        score: score.clone(),
        before_penalty: None,
    };
    let Some(days) = days_late else {
        return unchanged;
    };
    if policy != LatePolicy::Penalty || percent.is_zero() {
        return unchanged;
    }
    let hundred = BigDecimal::from(100);
    let off = (percent * BigDecimal::from(days)).min(hundred.clone());
    let kept = score * (&hundred - off) / hundred;
    Judged {
        score: kept
            .with_scale_round(super::points::SCALE, bigdecimal::RoundingMode::HalfUp)
            .normalized(),
        before_penalty: Some(score.clone()),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use chrono::TimeDelta;

    use super::*;

    fn d(s: &str) -> BigDecimal {
        BigDecimal::from_str(s).expect("a decimal")
    }

    #[test]
    fn started_days_count_from_the_deadline() {
        let due = Utc::now();
        assert_eq!(days_late(due, Some(due)), None, "on the second is on time");
        assert_eq!(days_late(due - TimeDelta::hours(1), Some(due)), None);
        assert_eq!(days_late(due + TimeDelta::seconds(1), Some(due)), Some(1));
        assert_eq!(days_late(due + TimeDelta::hours(24), Some(due)), Some(1));
        assert_eq!(days_late(due + TimeDelta::hours(25), Some(due)), Some(2));
        assert_eq!(
            days_late(due + TimeDelta::days(400), None),
            None,
            "no deadline"
        );
    }

    #[test]
    fn penalties_take_a_share_per_day_and_never_go_below_zero() {
        let ten = d("10");
        let judged = judge(&ten, Some(2), LatePolicy::Penalty, &d("12.5"));
        assert_eq!(judged.score, d("7.5"));
        assert_eq!(judged.before_penalty, Some(ten.clone()));
        assert_eq!(
            judge(&ten, Some(9), LatePolicy::Penalty, &d("50")).score,
            d("0")
        );
        assert_eq!(
            judge(&d("1"), Some(1), LatePolicy::Penalty, &d("33.33")).score,
            d("0.6667")
        );
        // On time, accepted, refused (chosen elsewhere) or a zero penalty: unchanged.
        for (days, policy, percent) in [
            (None, LatePolicy::Penalty, "10"),
            (Some(3), LatePolicy::Accept, "10"),
            (Some(3), LatePolicy::Refuse, "10"),
            (Some(3), LatePolicy::Penalty, "0"),
        ] {
            assert_eq!(
                judge(&ten, days, policy, &d(percent)),
                Judged {
                    score: ten.clone(),
                    before_penalty: None
                }
            );
        }
    }
}
