//! Grading: what a test run reports (a JUnit XML file, or the runner's own output), turned
//! into per-test results, and those into points and a score.

use bigdecimal::{BigDecimal, Zero as _};

pub mod allowance;
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
    /// One of the hidden tests (withheld from students until they are released).
    pub hidden: bool,
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
            hidden: false,
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
    /// The same for the hidden tests' run (shown to staff only).
    pub hidden_problem: Option<String>,
    pub cases: Vec<TestCase>,
    pub scored: points::Scored,
    /// The score without the hidden tests' points: what a student sees until the hidden
    /// tests are released. `None` when it cannot be told apart (no per-test results).
    pub visible_score: Option<BigDecimal>,
    /// Started days past the deadline when the push was received; `None` when on time.
    pub days_late: Option<i32>,
    /// The score before a late penalty, when one was taken (`scored.score` is after it).
    pub before_penalty: Option<BigDecimal>,
}

impl Graded {
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
        self.visible_score = self
            .visible_score
            .map(|visible| deadline::judge(&visible, days_late, policy, percent).score);
        self
    }

    /// The counts of each outcome; `None` without per-test results.
    pub fn counts(&self) -> Option<Counts> {
        self.format.map(|_| Counts::of(&self.cases))
    }

    /// The hidden tests' share of [`Graded::counts`].
    pub fn hidden_counts(&self) -> Counts {
        let hidden: Vec<TestCase> = self.cases.iter().filter(|c| c.hidden).cloned().collect();
        Counts::of(&hidden)
    }
}

/// What one run of the tests left to grade.
#[derive(Clone, Debug)]
pub struct Run<'a> {
    /// The report file the assignment names, read from the sandbox (`None` when it names
    /// none; `Err` saying why it could not be read).
    pub report: Option<Result<String, String>>,
    /// What the tests printed.
    pub output: &'a str,
    /// Whether they exited 0.
    pub passed: bool,
}

impl Run<'_> {
    /// The run's tests (from the report when it lists any, else from the output), where
    /// they were read from, and what was wrong with the report.
    fn results(self) -> (Option<Format>, Option<String>, Vec<TestCase>) {
        let mut problem = None;
        if let Some(report) = self.report {
            match report.and_then(|xml| junit::parse(&xml)) {
                Ok(cases) if !cases.is_empty() => return (Some(Format::Junit), None, cases),
                Ok(_) => problem = Some("the report lists no tests".to_owned()),
                Err(why) => problem = Some(why),
            }
        }
        match output::parse(self.output) {
            Some((format, cases)) => (Some(format), problem, cases),
            None => (None, problem, Vec::new()),
        }
    }
}

/// Grades the `visible` run of the tests, and the `hidden` tests' run when there was one.
/// Each run's results come from its report, else from its output; the points go over all
/// tests together. Without any per-test results, the whole score follows the exit codes.
pub fn grade(
    visible: Run<'_>,
    hidden: Option<Run<'_>>,
    rules: &[points::Rule],
    max: &BigDecimal,
) -> Graded {
    let all_passed = visible.passed && hidden.as_ref().is_none_or(|h| h.passed);
    let had_hidden = hidden.is_some();
    let (format, problem, mut cases) = visible.results();
    let (hidden_format, hidden_problem) = match hidden {
        Some(run) => {
            let (format, problem, found) = run.results();
            cases.extend(found.into_iter().map(|mut case| {
                case.hidden = true;
                case
            }));
            (format, problem)
        }
        None => (None, None),
    };
    let format = format.or(hidden_format);
    if format.is_none() {
        let score = if all_passed {
            max.clone()
        } else {
            BigDecimal::zero()
        };
        return Graded {
            format,
            problem,
            hidden_problem,
            cases: Vec::new(),
            visible_score: (!had_hidden).then(|| score.clone()),
            scored: points::Scored {
                tests: Vec::new(),
                score,
                max: max.clone(),
            },
            days_late: None,
            before_penalty: None,
        };
    }
    let scored = points::score(&cases, rules, max);
    let visible_score = if had_hidden {
        points::part(&cases, rules, max, |c| !c.hidden)
    } else {
        scored.score.clone()
    };
    Graded {
        format,
        problem,
        hidden_problem,
        cases,
        scored,
        visible_score: Some(visible_score),
        days_late: None,
        before_penalty: None,
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
        let run = |report: Option<Result<String, String>>| Run {
            report,
            output,
            passed: false,
        };
        let from_report = grade(run(Some(Ok(xml.to_owned()))), None, &[], &hundred());
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

        let broken = grade(run(Some(Ok("<testsuites".into()))), None, &[], &hundred());
        assert_eq!(broken.format, Some(Format::Unittest));
        assert!(broken.problem.unwrap_or_default().contains("not valid XML"));
        assert_eq!(broken.scored.score, BigDecimal::from(40));

        let missing = grade(
            run(Some(Err("no report at out.xml".into()))),
            None,
            &[],
            &hundred(),
        );
        assert_eq!(missing.problem.as_deref(), Some("no report at out.xml"));
    }

    #[test]
    fn without_any_tests_the_exit_code_decides() {
        let run = |output, passed| Run {
            report: None,
            output,
            passed,
        };
        let passed = grade(run("all good\n", true), None, &[], &hundred());
        assert_eq!((passed.format, passed.counts()), (None, None));
        assert_eq!(passed.scored.score, hundred());
        assert_eq!(passed.visible_score, Some(hundred()));
        assert_eq!(
            grade(run("nope\n", false), None, &[], &hundred())
                .scored
                .score,
            BigDecimal::zero()
        );
        // With hidden tests and no results to tell them apart, nothing is shown early.
        let both = grade(run("ok\n", true), Some(run("ok\n", true)), &[], &hundred());
        assert_eq!((both.scored.score, both.visible_score), (hundred(), None));
    }

    #[test]
    fn hidden_tests_count_in_the_score_but_not_in_what_students_see_before_release() {
        let visible = include_str!("../../tests/fixtures/runners/unittest.txt");
        let hidden = include_str!("../../tests/fixtures/runners/pytest.txt");
        let graded = grade(
            Run {
                report: None,
                output: visible,
                passed: false,
            },
            Some(Run {
                report: None,
                output: hidden,
                passed: false,
            }),
            &[],
            &hundred(),
        )
        .late(
            Some(1),
            deadline::LatePolicy::Penalty,
            &BigDecimal::from(50),
        );
        let all = graded.counts().expect("per-test results");
        let withheld = graded.hidden_counts();
        assert_eq!(graded.format, Some(Format::Unittest));
        assert!(withheld.passed > 0 && withheld.failed > 0);
        assert!(all.passed > withheld.passed);
        let total = graded.cases.len() as u64;
        let hidden_passed = u64::try_from(withheld.passed).expect("count");
        let visible_passed = u64::try_from(all.passed).expect("count") - hidden_passed;
        // Spread evenly over every test; each share exact, halved by the late penalty.
        let share = |passed: u64| {
            (hundred() * BigDecimal::from(passed) / BigDecimal::from(total) / BigDecimal::from(2))
                .with_scale_round(points::SCALE, bigdecimal::RoundingMode::HalfUp)
                .normalized()
        };
        assert_eq!(graded.visible_score, Some(share(visible_passed)));
        assert_eq!(graded.scored.score, share(visible_passed + hidden_passed));
        assert_eq!(graded.cases.iter().filter(|c| !c.hidden).count(), 5);
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
