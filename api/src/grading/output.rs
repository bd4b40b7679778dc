//! Results read from what a test runner printed, when it wrote no report file: the verbose
//! output of `cargo test`, `pytest -v`, `go test -v`, Python's `unittest -v`, and TAP (which
//! `node --test` prints). Each parser finds its own runner's lines and nothing else; the
//! one that finds the most tests wins.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use super::{Format, MAX_CASES, Outcome, TestCase, tap};

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid regex")
}

/// The tests `text` reports, and in which runner's format; `None` when it reports none.
/// Colour escapes are ignored.
pub fn parse(text: &str) -> Option<(Format, Vec<TestCase>)> {
    let plain = strip_ansi(text);
    [
        (Format::CargoTest, cargo_test(&plain)),
        (Format::Pytest, pytest(&plain)),
        (Format::GoTest, go_test(&plain)),
        (Format::Unittest, unittest(&plain)),
        (Format::Tap, tap::parse(&plain)),
    ]
    .into_iter()
    .filter(|(_, cases)| !cases.is_empty())
    .max_by_key(|(_, cases)| cases.len())
    .map(|(format, mut cases)| {
        cases.truncate(MAX_CASES);
        (format, cases)
    })
}

/// `text` without ANSI escape sequences.
pub fn strip_ansi(text: &str) -> String {
    static ESCAPE: LazyLock<Regex> =
        LazyLock::new(|| regex(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])"));
    ESCAPE.replace_all(text, "").into_owned()
}

/// `suite::name` split at its last `sep`.
fn split_last<'a>(path: &'a str, sep: &str) -> (&'a str, &'a str) {
    path.rsplit_once(sep).unwrap_or(("", path))
}

/// `test tests::adds ... ok`, with each failure's output from its `---- name stdout ----`
/// section.
fn cargo_test(text: &str) -> Vec<TestCase> {
    static LINE: LazyLock<Regex> =
        LazyLock::new(|| regex(r"^test (\S.*?) \.\.\. (ok|FAILED|ignored(?:, (.*))?)\s*$"));
    static SECTION: LazyLock<Regex> = LazyLock::new(|| regex(r"^---- (\S.*?) std(out|err) ----$"));
    let mut messages: HashMap<String, String> = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(found) = SECTION.captures(line) {
            current = Some(found[1].to_owned());
        } else if line.is_empty() || line == "failures:" {
            current = None;
        } else if let Some(name) = &current
            && !line.starts_with("note: run with `RUST_BACKTRACE")
        {
            let message = messages.entry(name.clone()).or_default();
            message.push_str(line);
            message.push('\n');
        }
    }
    text.lines()
        .filter_map(|line| LINE.captures(line))
        .map(|found| {
            let path = &found[1];
            let (suite, name) = split_last(path, "::");
            let (outcome, message) = match &found[2] {
                "ok" => (Outcome::Passed, None),
                "FAILED" => (Outcome::Failed, messages.get(path).cloned()),
                _ => (
                    Outcome::Skipped,
                    found.get(3).map(|r| r.as_str().to_owned()),
                ),
            };
            TestCase::new(suite, name, outcome).with_message(message)
        })
        .collect()
}

/// `file.py::test_name PASSED [ 16%]`, with reasons from the short summary
/// (`FAILED file.py::test_name - AssertionError: …`).
fn pytest(text: &str) -> Vec<TestCase> {
    static LINE: LazyLock<Regex> = LazyLock::new(|| {
        regex(
            r"^(\S+?\.py::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)(?: \((.*?)\))?(?:\s+\[\s*\d+%\])?\s*$",
        )
    });
    static SUMMARY: LazyLock<Regex> =
        LazyLock::new(|| regex(r"^(FAILED|ERROR) (\S+?\.py::\S+)(?: - (.*))?$"));
    let reasons: HashMap<String, String> = text
        .lines()
        .filter_map(|line| SUMMARY.captures(line))
        .filter_map(|found| Some((found[2].to_owned(), found.get(3)?.as_str().to_owned())))
        .collect();
    text.lines()
        .filter_map(|line| LINE.captures(line))
        .map(|found| {
            let path = &found[1];
            let (suite, name) = path.split_once("::").unwrap_or(("", path));
            let (outcome, message) = match &found[2] {
                "PASSED" | "XFAIL" => (Outcome::Passed, None),
                "FAILED" | "XPASS" => (Outcome::Failed, reasons.get(path).cloned()),
                "ERROR" => (Outcome::Errored, reasons.get(path).cloned()),
                _ => (
                    Outcome::Skipped,
                    found.get(3).map(|r| r.as_str().to_owned()),
                ),
            };
            TestCase::new(suite, name, outcome).with_message(message)
        })
        .collect()
}

/// `--- PASS: TestAdd (0.00s)`, subtests indented; a test's log lines follow its
/// `=== RUN`. The package comes from the `ok`/`FAIL` line that ends its tests. A parent
/// with subtests is left out (its verdict is theirs).
fn go_test(text: &str) -> Vec<TestCase> {
    static RESULT: LazyLock<Regex> =
        LazyLock::new(|| regex(r"^\s*--- (PASS|FAIL|SKIP): (\S+) \((\d+(?:\.\d+)?)s\)"));
    static RUN: LazyLock<Regex> = LazyLock::new(|| regex(r"^=== (?:RUN|CONT|PAUSE)\s+(\S+)"));
    static PACKAGE: LazyLock<Regex> =
        LazyLock::new(|| regex(r"^(?:ok|FAIL)\s+(\S+)\s+(?:\d+(?:\.\d+)?s|\(cached\))"));
    let mut logs: HashMap<String, String> = HashMap::new();
    let mut running: Option<String> = None;
    let mut cases: Vec<TestCase> = Vec::new();
    let mut unassigned = 0; // cases at the end of `cases` waiting for their package
    for line in text.lines() {
        if let Some(found) = RUN.captures(line) {
            running = Some(found[1].to_owned());
        } else if let Some(found) = RESULT.captures(line) {
            running = None;
            let name = &found[2];
            let outcome = match &found[1] {
                "PASS" => Outcome::Passed,
                "FAIL" => Outcome::Failed,
                _ => Outcome::Skipped,
            };
            let mut case = TestCase::new("", name, outcome).with_message(logs.remove(name));
            case.duration_ms = found[3]
                .parse::<f64>()
                .ok()
                .map(|s| (s * 1000.0).round() as i64);
            cases.push(case);
            unassigned += 1;
        } else if let Some(found) = PACKAGE.captures(line) {
            let start = cases.len() - unassigned;
            for case in &mut cases[start..] {
                case.suite = found[1].to_owned();
            }
            unassigned = 0;
        } else if let Some(name) = &running
            && line.starts_with("    ")
        {
            let log = logs.entry(name.clone()).or_default();
            log.push_str(line.trim());
            log.push('\n');
        }
    }
    let parents: std::collections::HashSet<String> = cases
        .iter()
        .filter_map(|c| c.name.rsplit_once('/').map(|(parent, _)| parent.to_owned()))
        .collect();
    cases.retain(|c| !parents.contains(&c.name));
    cases
}

/// `test_adds (test_calc.TestCalc.test_adds) ... ok` (with a docstring, the verdict ends
/// the next line), with each failure's last traceback line from its `FAIL: …` section.
fn unittest(text: &str) -> Vec<TestCase> {
    static HEAD: LazyLock<Regex> = LazyLock::new(|| regex(r"^(\w+) \(([\w.]+?)\)(.*)$"));
    static VERDICT: LazyLock<Regex> = LazyLock::new(|| {
        regex(
            r" \.\.\. (ok|FAIL|ERROR|skipped(?: '(.*)')?|expected failure|unexpected success)\s*$",
        )
    });
    static BARE: LazyLock<Regex> = LazyLock::new(|| {
        regex(r"^(ok|FAIL|ERROR|skipped(?: '(.*)')?|expected failure|unexpected success)\s*$")
    });
    static SECTION: LazyLock<Regex> =
        LazyLock::new(|| regex(r"^(FAIL|ERROR): (\w+) \(([\w.]+?)\)"));
    // The reason a test failed: the last line of the traceback under its heading.
    let mut reasons: HashMap<(String, String), String> = HashMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(found) = SECTION.captures(line) {
            current = Some((found[2].to_owned(), class_of(&found[3], &found[2])));
        } else if line.starts_with("=====") || line.starts_with("Ran ") {
            current = None;
        } else if let Some(key) = &current
            && !line.trim().is_empty()
            && !line.starts_with("-----")
        {
            reasons.insert(key.clone(), line.trim().to_owned());
        }
    }
    let mut cases = Vec::new();
    // A test whose verdict is on a later line (after its docstring).
    let mut pending: Option<(String, String)> = None;
    for line in text.lines() {
        let head = HEAD.captures(line);
        let test = match (&head, pending.take()) {
            (Some(found), _) => (found[1].to_owned(), class_of(&found[2], &found[1])),
            (None, Some(waiting)) => waiting,
            (None, None) => continue,
        };
        // A verdict alone on its line, after a head whose line something else (the
        // test's own print, on the other stream) cut into.
        let bare = || head.is_none().then(|| BARE.captures(line)).flatten();
        let Some(verdict) = VERDICT.captures(line).or_else(bare) else {
            if head.is_some() {
                pending = Some(test);
            }
            continue;
        };
        let (name, suite) = test;
        let reason = || reasons.get(&(name.clone(), suite.clone())).cloned();
        let (outcome, message) = match &verdict[1] {
            "ok" | "expected failure" => (Outcome::Passed, None),
            "FAIL" | "unexpected success" => (Outcome::Failed, reason()),
            "ERROR" => (Outcome::Errored, reason()),
            _ => (
                Outcome::Skipped,
                verdict.get(2).map(|r| r.as_str().to_owned()),
            ),
        };
        cases.push(TestCase::new(&suite, &name, outcome).with_message(message));
    }
    cases
}

/// The test's class from unittest's parenthesis: Python 3.11 writes
/// `module.Class.test_name`, older versions `module.Class`.
fn class_of(path: &str, name: &str) -> String {
    path.strip_suffix(name)
        .and_then(|p| p.strip_suffix('.'))
        .unwrap_or(path)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(cases: &[TestCase]) -> Vec<(String, Outcome)> {
        cases.iter().map(|c| (c.full_name(), c.outcome)).collect()
    }

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/runners/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn cargo_test_output() {
        let (format, cases) = parse(&fixture("cargo.txt")).expect("test input");
        assert_eq!(format, Format::CargoTest);
        assert_eq!(
            summary(&cases),
            [
                ("tests.adds".into(), Outcome::Passed),
                ("tests.adds_negatives".into(), Outcome::Passed),
                ("tests.later".into(), Outcome::Skipped),
                ("tests.subtracts".into(), Outcome::Failed),
            ]
        );
        assert_eq!(cases[2].message.as_deref(), Some("not graded yet"));
        let failure = cases[3].message.as_deref().unwrap_or_default();
        assert!(failure.contains("5 - 3 should be 2"), "{failure}");
        assert!(!failure.contains("RUST_BACKTRACE"), "{failure}");
    }

    #[test]
    fn pytest_verbose_output() {
        let (format, cases) = parse(&fixture("pytest.txt")).expect("test input");
        assert_eq!(format, Format::Pytest);
        assert_eq!(
            summary(&cases),
            [
                ("test_strings.py.test_shouts".into(), Outcome::Passed),
                (
                    "test_strings.py.test_shouts_each[a]".into(),
                    Outcome::Passed
                ),
                (
                    "test_strings.py.test_shouts_each[bc]".into(),
                    Outcome::Passed
                ),
                ("test_strings.py.test_reverses".into(), Outcome::Failed),
                ("test_strings.py.test_errors".into(), Outcome::Failed),
                ("test_strings.py.test_later".into(), Outcome::Skipped),
            ]
        );
        assert_eq!(
            cases[3].message.as_deref(),
            Some("AssertionError: assert 'cba' == 'cab'")
        );
        assert_eq!(cases[5].message.as_deref(), Some("not graded yet"));
    }

    #[test]
    fn go_test_verbose_output() {
        let (format, cases) = parse(&fixture("go.txt")).expect("test input");
        assert_eq!(format, Format::GoTest);
        assert_eq!(
            summary(&cases),
            [
                ("example.com/calc.TestAdd".into(), Outcome::Passed),
                (
                    "example.com/calc.TestAddTable/small".into(),
                    Outcome::Passed
                ),
                (
                    "example.com/calc.TestAddTable/negative".into(),
                    Outcome::Failed
                ),
                ("example.com/calc.TestLater".into(), Outcome::Skipped),
            ]
        );
        assert_eq!(
            cases[2].message.as_deref(),
            Some("calc_test.go:18: Add(-1, -1) = -2, want -3")
        );
        assert_eq!(
            cases[3].message.as_deref(),
            Some("calc_test.go:25: not graded yet")
        );
    }

    #[test]
    fn unittest_verdicts_after_output_that_cut_into_their_line() {
        let text = "test_a (m.T.test_a) ... printed by a test\nok\ntest_b (m.T.test_b) ... noise\nFAIL\ntest_c (m.T.test_c) ... ok\n";
        let (_, cases) = parse(text).expect("tests");
        assert_eq!(
            summary(&cases),
            [
                ("m.T.test_a".into(), Outcome::Passed),
                ("m.T.test_b".into(), Outcome::Failed),
                ("m.T.test_c".into(), Outcome::Passed),
            ]
        );
    }

    #[test]
    fn unittest_verbose_output() {
        let (format, cases) = parse(&fixture("unittest.txt")).expect("test input");
        assert_eq!(format, Format::Unittest);
        assert_eq!(
            summary(&cases),
            [
                ("test_calc.TestCalc.test_adds".into(), Outcome::Passed),
                (
                    "test_calc.TestCalc.test_adds_negatives".into(),
                    Outcome::Passed
                ),
                ("test_calc.TestCalc.test_divides".into(), Outcome::Errored),
                ("test_calc.TestCalc.test_later".into(), Outcome::Skipped),
                ("test_calc.TestCalc.test_subtracts".into(), Outcome::Failed),
            ]
        );
        assert_eq!(
            cases[4].message.as_deref(),
            Some("AssertionError: 2 != 1 : 5 - 3 should be 2")
        );
        assert_eq!(
            cases[2].message.as_deref(),
            Some("ZeroDivisionError: division by zero")
        );
    }

    #[test]
    fn unittest_with_a_docstring_puts_the_verdict_on_the_next_line() {
        let text =
            "test_adds (calc.T.test_adds)\nAdds two numbers. ... ok\ntest_b (calc.T) ... FAIL\n";
        let (_, cases) = parse(text).expect("test input");
        assert_eq!(
            summary(&cases),
            [
                ("calc.T.test_adds".into(), Outcome::Passed),
                ("calc.T.test_b".into(), Outcome::Failed)
            ]
        );
    }

    #[test]
    fn node_test_output_is_tap() {
        let (format, cases) = parse(&fixture("node-tap.txt")).expect("test input");
        assert_eq!(format, Format::Tap);
        assert_eq!(cases.len(), 4);
    }

    #[test]
    fn coloured_output_reads_the_same_and_plain_output_has_no_tests() {
        let coloured =
            "test tests::adds ... \x1b[32mok\x1b[0m\ntest tests::subs ... \x1b[31mFAILED\x1b[0m\n";
        let (_, cases) = parse(coloured).expect("test input");
        assert_eq!(
            summary(&cases),
            [
                ("tests.adds".into(), Outcome::Passed),
                ("tests.subs".into(), Outcome::Failed)
            ]
        );
        assert_eq!(parse("make: Nothing to be done for 'all'.\nok\n"), None);
    }

    #[test]
    fn a_flood_of_tests_is_capped() {
        let text: String = (0..MAX_CASES + 50)
            .map(|i| format!("test t{i} ... ok\n"))
            .collect();
        assert_eq!(parse(&text).map(|(_, c)| c.len()), Some(MAX_CASES));
    }
}
