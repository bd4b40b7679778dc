//! Grading: what a test run reports (a JUnit XML file, or the runner's own output), turned
//! into per-test results, and those into points and a score.

use bigdecimal::{BigDecimal, Zero as _};

pub mod deadline;
pub mod export;
pub mod junit;
pub mod output;
pub mod points;
pub mod tap;

/// How one test ended (stored as it is).
pub use crate::db::enums::TestOutcome as Outcome;

/// One test's result as a report gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    /// Where it lives (a module, class, package or file); may be empty.
    pub suite: String,
    pub name: String,
    pub outcome: Outcome,
    pub duration_ms: Option<i64>,
    /// Why it failed or was skipped, when the report says.
    pub message: Option<String>,
}

/// Most tests one report yields; past that the rest are dropped.
pub const MAX_CASES: usize = 10_000;
/// Longest name and suite kept (the database's limit).
const MAX_NAME: usize = 1024;
/// Longest message kept.
const MAX_MESSAGE: usize = 4096;

impl TestCase {
    pub fn new(suite: &str, name: &str, outcome: Outcome) -> Self {
        Self {
            suite: clip(suite.trim(), MAX_NAME),
            name: clip(name.trim(), MAX_NAME),
            outcome,
            duration_ms: None,
            message: None,
        }
    }

    /// The name a points rule matches: `suite.name`, or the name alone without a suite.
    pub fn full_name(&self) -> String {
        if self.suite.is_empty() {
            self.name.clone()
        } else {
            format!("{}.{}", self.suite, self.name)
        }
    }

    fn with_message(mut self, message: Option<String>) -> Self {
        self.message = message
            .map(|m| clip(m.trim(), MAX_MESSAGE))
            .filter(|m| !m.is_empty());
        self
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Which format a build's results were read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Junit,
    Tap,
    CargoTest,
    Pytest,
    GoTest,
    Unittest,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Self::Junit => "JUnit XML",
            Self::Tap => "TAP",
            Self::CargoTest => "cargo test",
            Self::Pytest => "pytest",
            Self::GoTest => "go test",
            Self::Unittest => "unittest",
        }
    }
}

/// Counts of each outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: i32,
    pub failed: i32,
    pub skipped: i32,
}

impl Counts {
    /// Errored tests count as failed.
    pub fn of(cases: &[TestCase]) -> Self {
        let mut counts = Self::default();
        for case in cases {
            match case.outcome {
                Outcome::Passed => counts.passed += 1,
                Outcome::Failed | Outcome::Errored => counts.failed += 1,
                Outcome::Skipped => counts.skipped += 1,
            }
        }
        counts
    }
}

/// A finished run's results: where they came from, each test, and the score.
#[derive(Clone, Debug)]
pub struct Graded {
    /// `None` when no report was found: the score then follows the exit code alone.
    pub format: Option<Format>,
    /// What went wrong with the report the assignment names (results then come from the
    /// output), shown on the build.
    pub problem: Option<String>,
    pub cases: Vec<TestCase>,
    pub scored: points::Scored,
    /// Started days past the deadline when the push was received; `None` when on time.
    pub days_late: Option<i32>,
    /// The score before a late penalty, when one was taken (`scored.score` is after it).
    pub before_penalty: Option<BigDecimal>,
}

impl Graded {
    /// Results on time; [`Graded::late`] applies a deadline.
    fn new(
        format: Option<Format>,
        problem: Option<String>,
        cases: Vec<TestCase>,
        scored: points::Scored,
    ) -> Self {
        Self {
            format,
            problem,
            cases,
            scored,
            days_late: None,
            before_penalty: None,
        }
    }

    /// Applies the deadline: `days_late` under `policy` with `percent` off per day.
    pub fn late(
        mut self,
        days_late: Option<i32>,
        policy: deadline::LatePolicy,
        percent: &BigDecimal,
    ) -> Self {
        let judged = deadline::judge(&self.scored.score, days_late, policy, percent);
        self.days_late = days_late;
        self.scored.score = judged.score;
        self.before_penalty = judged.before_penalty;
        self
    }

    /// The counts of each outcome; `None` without per-test results.
    pub fn counts(&self) -> Option<Counts> {
        self.format.map(|_| Counts::of(&self.cases))
    }
}

/// Grades a run that ended with its tests' verdict (`passed`: exit code 0). `report` is the
/// report file the assignment names, read from the sandbox (`None` when it names none;
/// `Err` saying why it could not be read); without one that lists tests, the results come
/// from `output`, and without any, the whole score follows the exit code.
pub fn grade(
    report: Option<Result<String, String>>,
    output: &str,
    passed: bool,
    rules: &[points::Rule],
    max: &BigDecimal,
) -> Graded {
    let mut problem = None;
    if let Some(report) = report {
        match report.and_then(|xml| junit::parse(&xml)) {
            Ok(cases) if !cases.is_empty() => {
                let scored = points::score(&cases, rules, max);
                return Graded::new(Some(Format::Junit), problem, cases, scored);
            }
            Ok(_) => problem = Some("the report lists no tests".to_owned()),
            Err(why) => problem = Some(why),
        }
    }
    match output::parse(output) {
        Some((format, cases)) => {
            let scored = points::score(&cases, rules, max);
            Graded::new(Some(format), problem, cases, scored)
        }
        None => {
            let score = if passed {
                max.clone()
            } else {
                BigDecimal::zero()
            };
            let scored = points::Scored {
                tests: Vec::new(),
                score,
                max: max.clone(),
            };
            Graded::new(None, problem, Vec::new(), scored)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hundred() -> BigDecimal {
        BigDecimal::from(100)
    }

    #[test]
    fn a_report_file_wins_over_the_output_and_a_bad_one_says_why() {
        let xml = include_str!("../../tests/fixtures/runners/pytest-junit.xml");
        let output = include_str!("../../tests/fixtures/runners/unittest.txt");
        let from_report = grade(Some(Ok(xml.to_owned())), output, false, &[], &hundred());
        assert_eq!(from_report.format, Some(Format::Junit));
        assert_eq!(
            from_report.counts(),
            Some(Counts {
                passed: 3,
                failed: 2,
                skipped: 1
            })
        );
        assert_eq!(from_report.scored.score, BigDecimal::from(50));

        let broken = grade(
            Some(Ok("<testsuites".into())),
            output,
            false,
            &[],
            &hundred(),
        );
        assert_eq!(broken.format, Some(Format::Unittest));
        assert!(broken.problem.unwrap_or_default().contains("not valid XML"));
        assert_eq!(broken.scored.score, BigDecimal::from(40));

        let missing = grade(
            Some(Err("no report at out.xml".into())),
            output,
            false,
            &[],
            &hundred(),
        );
        assert_eq!(missing.problem.as_deref(), Some("no report at out.xml"));
    }

    #[test]
    fn without_any_tests_the_exit_code_decides() {
        let passed = grade(None, "all good\n", true, &[], &hundred());
        assert_eq!((passed.format, passed.counts()), (None, None));
        assert_eq!(passed.scored.score, hundred());
        assert_eq!(
            grade(None, "nope\n", false, &[], &hundred()).scored.score,
            BigDecimal::zero()
        );
    }

    #[test]
    fn names_and_messages_are_clipped_on_character_boundaries() {
        let long = "é".repeat(600);
        let case = TestCase::new("", &long, Outcome::Passed).with_message(Some("x".repeat(5000)));
        assert_eq!(case.name.len(), 1024);
        assert_eq!(case.message.map(|m| m.len()), Some(4096));
        let blank = TestCase::new("s", "n", Outcome::Failed).with_message(Some("  ".into()));
        assert_eq!(blank.message, None);
        assert_eq!(blank.full_name(), "s.n");
    }
}
