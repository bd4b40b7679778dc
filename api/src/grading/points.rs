//! Points: each test's share of an assignment's points, and the score a run earns. Exact
//! decimal arithmetic throughout; a score is rounded once, at the end, to six places, so
//! no earned fraction is rounded away to zero.

use bigdecimal::{BigDecimal, RoundingMode, Zero as _};
use serde::{Deserialize, Serialize};

use super::{Outcome, TestCase};

/// Decimal places a stored score keeps.
pub const SCALE: i64 = 6;

/// Points for the tests whose name matches `pattern` (`*` any text, `?` one character;
/// matched against `suite.name` and against the name alone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub pattern: String,
    pub points: BigDecimal,
}

/// The rules stored with an assignment (a JSON array); entries that do not read as rules
/// are skipped.
pub fn rules_from_json(value: &serde_json::Value) -> Vec<Rule> {
    value
        .as_array()
        .map(|rules| {
            rules
                .iter()
                .filter_map(|r| serde_json::from_value(r.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The rules as an assignment stores them.
pub fn rules_to_json(rules: &[Rule]) -> serde_json::Value {
    serde_json::to_value(rules).unwrap_or_else(|_| serde_json::Value::Array(Vec::new()))
}

/// What each test is worth and earned, and the run's score out of `max`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scored {
    /// Per test, in order: (earned, worth).
    pub tests: Vec<(BigDecimal, BigDecimal)>,
    pub score: BigDecimal,
    pub max: BigDecimal,
}

fn round(value: BigDecimal) -> BigDecimal {
    value
        .with_scale_round(SCALE, RoundingMode::HalfUp)
        .normalized()
}

/// Scores `cases` out of `max`: by `rules` (the first that matches a test sets its worth;
/// a test no rule matches is worth nothing; the score is capped at `max`), or, with no
/// rules, `max` spread evenly over every test. Skipped tests earn nothing.
pub fn score(cases: &[TestCase], rules: &[Rule], max: &BigDecimal) -> Scored {
    let passed = |case: &TestCase| case.outcome == Outcome::Passed;
    if rules.is_empty() {
        if cases.is_empty() {
            return Scored {
                tests: Vec::new(),
                score: BigDecimal::zero(),
                max: max.clone(),
            };
        }
        let n = BigDecimal::from(cases.len() as u64);
        let worth = round(max / &n);
        let tests = cases
            .iter()
            .map(|c| {
                let earned = if passed(c) {
                    worth.clone()
                } else {
                    BigDecimal::zero()
                };
                (earned, worth.clone())
            })
            .collect();
        let passed = BigDecimal::from(cases.iter().filter(|c| passed(c)).count() as u64);
        // One division, at the end: 3 of 3 tests at 100/3 each make exactly 100.
        let score = round(max * passed / n);
        return Scored {
            tests,
            score,
            max: max.clone(),
        };
    }
    let tests: Vec<(BigDecimal, BigDecimal)> = cases
        .iter()
        .map(|c| {
            let worth = worth_by_rules(c, rules);
            let earned = if passed(c) {
                worth.clone()
            } else {
                BigDecimal::zero()
            };
            (earned, worth)
        })
        .collect();
    let earned: BigDecimal = tests.iter().map(|(e, _)| e.clone()).sum();
    let score = round(if &earned > max { max.clone() } else { earned });
    Scored {
        tests,
        score,
        max: max.clone(),
    }
}

/// What the first rule matching `case` gives it; nothing when none does.
fn worth_by_rules(case: &TestCase, rules: &[Rule]) -> BigDecimal {
    let full = case.full_name();
    rules
        .iter()
        .find(|r| glob(&r.pattern, &full) || glob(&r.pattern, &case.name))
        .map_or_else(BigDecimal::zero, |r| r.points.clone())
}

/// The part of [`score`]'s score that the tests `include` picks earned: exact, rounded once,
/// and capped at `max` like the whole.
pub fn part(
    cases: &[TestCase],
    rules: &[Rule],
    max: &BigDecimal,
    include: impl Fn(&TestCase) -> bool,
) -> BigDecimal {
    let earning = cases
        .iter()
        .filter(|c| include(c) && c.outcome == Outcome::Passed);
    if rules.is_empty() {
        if cases.is_empty() {
            return BigDecimal::zero();
        }
        let k = BigDecimal::from(earning.count() as u64);
        return round(max * k / BigDecimal::from(cases.len() as u64));
    }
    let earned: BigDecimal = earning.map(|c| worth_by_rules(c, rules)).sum();
    round(if &earned > max { max.clone() } else { earned })
}

/// Whether `text` matches `pattern`: `*` matches any run of characters, `?` any one.
/// Linear in practice: the classic two-pointer match with one backtrack point.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use super::*;

    fn d(s: &str) -> BigDecimal {
        BigDecimal::from_str(s).expect("test input")
    }

    fn cases(outcomes: &[(&str, Outcome)]) -> Vec<TestCase> {
        outcomes
            .iter()
            .map(|(n, o)| TestCase::new("calc", n, *o))
            .collect()
    }

    #[test]
    fn spread_evenly_the_score_is_exact_and_whole_marks_stay_whole() {
        let three = cases(&[
            ("a", Outcome::Passed),
            ("b", Outcome::Passed),
            ("c", Outcome::Passed),
        ]);
        let scored = score(&three, &[], &d("100"));
        assert_eq!(scored.score, d("100"));
        assert_eq!(scored.tests[0], (d("33.333333"), d("33.333333")));
        let two_of_three = cases(&[
            ("a", Outcome::Passed),
            ("b", Outcome::Failed),
            ("c", Outcome::Passed),
        ]);
        assert_eq!(score(&two_of_three, &[], &d("100")).score, d("66.666667"));
    }

    #[test]
    fn a_tiny_share_is_not_rounded_to_zero() {
        let mut many = cases(&[("first", Outcome::Passed)]);
        many.extend((0..9_999).map(|i| TestCase::new("", &format!("t{i}"), Outcome::Failed)));
        let scored = score(&many, &[], &d("1"));
        assert_eq!(scored.score, d("0.0001"));
        assert!(scored.score > BigDecimal::zero());
    }

    #[test]
    fn rules_give_points_by_name_first_match_wins_and_the_score_is_capped() {
        let run = cases(&[
            ("test_adds", Outcome::Passed),
            ("test_subtracts", Outcome::Failed),
            ("style", Outcome::Passed),
            ("test_later", Outcome::Skipped),
        ]);
        let rules = vec![
            Rule {
                pattern: "calc.test_adds".into(),
                points: d("2.5"),
            },
            Rule {
                pattern: "test_*".into(),
                points: d("1.25"),
            },
        ];
        let scored = score(&run, &rules, &d("10"));
        assert_eq!(scored.tests[0], (d("2.5"), d("2.5")));
        assert_eq!(scored.tests[1], (d("0"), d("1.25")));
        assert_eq!(
            scored.tests[2],
            (d("0"), d("0")),
            "no rule matches: worth nothing"
        );
        assert_eq!(
            scored.tests[3],
            (d("0"), d("1.25")),
            "skipped earns nothing"
        );
        assert_eq!(scored.score, d("2.5"));
        let generous = vec![Rule {
            pattern: "*".into(),
            points: d("7"),
        }];
        assert_eq!(score(&run, &generous, &d("10")).score, d("10"));
    }

    #[test]
    fn rules_survive_the_database_round_trip() {
        let rules = vec![Rule {
            pattern: "test_*".into(),
            points: d("1.25"),
        }];
        assert_eq!(rules_from_json(&rules_to_json(&rules)), rules);
        assert_eq!(
            rules_from_json(&serde_json::json!([{"pattern": 3}, "x"])),
            vec![]
        );
    }

    #[test]
    fn no_tests_score_nothing() {
        let scored = score(&[], &[], &d("5"));
        assert_eq!((scored.score, scored.max), (d("0"), d("5")));
    }

    #[test]
    fn glob_patterns() {
        assert!(glob("test_*", "test_adds"));
        assert!(glob("*adds*", "calc.test_adds_negatives"));
        assert!(glob("t?st", "test"));
        assert!(glob("*", ""));
        assert!(!glob("test_*", "calc.test_adds"));
        assert!(!glob("a*b", "acbd"));
        assert!(glob("a*b*c", "aXXbYYbZc"));
        // No catastrophic backtracking.
        let long = "a".repeat(5000);
        assert!(!glob("*a*a*a*a*a*b", &long));
    }
}
