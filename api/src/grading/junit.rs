//! JUnit XML, as pytest (`--junitxml`), Maven Surefire, Gradle, `go-junit-report`, jest-junit
//! and most other runners write it: `<testsuites>` or a lone `<testsuite>` holding
//! `<testcase>`s, each passed unless it holds `<failure>`, `<error>` or `<skipped>`.
//!
//! roxmltree refuses documents with a DTD, so a hostile report cannot expand entities.

use super::{MAX_CASES, Outcome, TestCase};

/// Largest report read.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

/// The report's test cases, or why it could not be read.
pub fn parse(xml: &str) -> Result<Vec<TestCase>, String> {
    if xml.len() > MAX_BYTES {
        return Err(format!(
            "the report is larger than {} MB",
            MAX_BYTES / 1024 / 1024
        ));
    }
    let document = roxmltree::Document::parse(xml).map_err(|e| format!("not valid XML: {e}"))?;
    let root = document.root_element();
    if !matches!(root.tag_name().name(), "testsuites" | "testsuite") {
        return Err(format!(
            "expected <testsuites> or <testsuite>, found <{}>",
            root.tag_name().name()
        ));
    }
    let mut cases = Vec::new();
    for node in root
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .take(MAX_CASES)
    {
        let suite = node
            .attribute("classname")
            .or_else(|| node.parent_element().and_then(|p| p.attribute("name")))
            .unwrap_or_default();
        let Some(name) = node.attribute("name").filter(|n| !n.trim().is_empty()) else {
            continue;
        };
        let verdict = node.children().find_map(|child| {
            let outcome = match child.tag_name().name() {
                "failure" => Outcome::Failed,
                "error" => Outcome::Errored,
                "skipped" => Outcome::Skipped,
                _ => return None,
            };
            let message = child
                .attribute("message")
                .map(str::to_owned)
                .or_else(|| child.text().map(str::to_owned));
            Some((outcome, message))
        });
        let (outcome, message) = verdict.unwrap_or((Outcome::Passed, None));
        let mut case = TestCase::new(suite, name, outcome).with_message(message);
        case.duration_ms = node
            .attribute("time")
            .and_then(|t| t.trim().parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(|seconds| (seconds * 1000.0).round() as i64);
        cases.push(case);
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pytests_report() {
        let xml = include_str!("../../tests/fixtures/runners/pytest-junit.xml");
        let cases = parse(xml).expect("test input");
        let got: Vec<(&str, &str, Outcome)> = cases
            .iter()
            .map(|c| (c.suite.as_str(), c.name.as_str(), c.outcome))
            .collect();
        assert_eq!(
            got,
            [
                ("test_strings", "test_shouts", Outcome::Passed),
                ("test_strings", "test_shouts_each[a]", Outcome::Passed),
                ("test_strings", "test_shouts_each[bc]", Outcome::Passed),
                ("test_strings", "test_reverses", Outcome::Failed),
                ("test_strings", "test_errors", Outcome::Failed),
                ("test_strings", "test_later", Outcome::Skipped),
            ]
        );
        assert_eq!(cases[4].message.as_deref(), Some("RuntimeError: boom"));
        assert_eq!(cases[5].message.as_deref(), Some("not graded yet"));
        assert_eq!(cases[0].duration_ms, Some(0));
    }

    #[test]
    fn a_lone_suite_and_errors_count() {
        let xml = r#"<testsuite name="Calc"><testcase name="adds" time="1.5"/>
            <testcase name="divides"><error type="ZeroDivisionError">division by zero</error></testcase>
            <testcase name=""/></testsuite>"#;
        let cases = parse(xml).expect("test input");
        assert_eq!(cases.len(), 2, "a case without a name is dropped");
        assert_eq!(cases[0].suite, "Calc");
        assert_eq!(cases[0].duration_ms, Some(1500));
        assert_eq!(cases[1].outcome, Outcome::Errored);
        assert_eq!(cases[1].message.as_deref(), Some("division by zero"));
    }

    #[test]
    fn hostile_or_broken_reports_are_refused_with_a_reason() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>
            <testsuites><testcase name="&lol2;"/></testsuites>"#;
        assert!(parse(bomb).is_err(), "a DTD is refused");
        assert!(
            parse("<testsuites><testcase")
                .expect_err("refused")
                .contains("not valid XML")
        );
        assert!(parse("<html/>").expect_err("refused").contains("<html>"));
        let huge = format!("<testsuites>{}</testsuites>", " ".repeat(MAX_BYTES));
        assert!(parse(&huge).expect_err("refused").contains("larger than"));
    }
}
