//! TAP (the Test Anything Protocol, versions 12–14), as `node --test`, `prove`, `tape` and
//! many C and shell harnesses print it. Subtests are indented; only the innermost tests are
//! results (a parent is the sum of its children), unless a parent failed on its own.

use std::sync::LazyLock;

use regex::Regex;

use super::{MAX_CASES, Outcome, TestCase};

static TEST_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\s*)(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?([^#]*?)\s*(?:#\s*(.*))?$")
        .expect("valid regex")
});

static PLAN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(TAP version \d+|1\.\.\d+)").expect("valid regex"));

/// One test line, with its depth.
struct Line {
    indent: usize,
    case: TestCase,
}

/// The tests of a TAP stream; empty when `text` holds none.
pub fn parse(text: &str) -> Vec<TestCase> {
    // A TAP stream says so, or has a plan (`1..4`); "ok then" in other output is not TAP.
    if !text.lines().any(|l| PLAN.is_match(l)) {
        return Vec::new();
    }
    let mut lines: Vec<Line> = Vec::new();
    // Inside a YAML diagnostic block (`---` … `...`) of the last test line.
    let mut in_yaml = false;
    for raw in text.lines() {
        let trimmed = raw.trim();
        if in_yaml {
            if trimmed == "..." {
                in_yaml = false;
            } else if let Some(last) = lines.last_mut() {
                read_diagnostic(trimmed, &mut last.case);
            }
            continue;
        }
        if trimmed == "---" && !lines.is_empty() {
            in_yaml = true;
            continue;
        }
        let Some(found) = TEST_LINE.captures(raw) else {
            continue;
        };
        let indent = found[1].len();
        let directive = found.get(5).map(|d| d.as_str().trim()).unwrap_or_default();
        let lower = directive.to_ascii_lowercase();
        let skipped = lower.starts_with("skip") || lower.starts_with("todo");
        let outcome = match (&found[2], skipped) {
            (_, true) => Outcome::Skipped,
            ("ok", false) => Outcome::Passed,
            _ => Outcome::Failed,
        };
        let name = found[4].trim();
        let name = if name.is_empty() {
            format!("test {}", found.get(3).map_or("?", |n| n.as_str()))
        } else {
            name.to_owned()
        };
        let mut case = TestCase::new("", &name, outcome);
        if skipped {
            let reason = directive
                .split_once(char::is_whitespace)
                .map(|(_, r)| r.to_owned());
            case = case.with_message(reason);
        }
        lines.push(Line { indent, case });
        if lines.len() > MAX_CASES * 2 {
            break;
        }
    }
    leaves(lines)
}

/// Reads `duration_ms: 1.2` and `error: '…'` (or `message:`) from a diagnostic block.
fn read_diagnostic(line: &str, case: &mut TestCase) {
    if let Some(ms) = line.strip_prefix("duration_ms:") {
        case.duration_ms = ms.trim().parse::<f64>().ok().map(|ms| ms.round() as i64);
    } else if let Some(message) = line
        .strip_prefix("error:")
        .or_else(|| line.strip_prefix("message:"))
        && case.message.is_none()
    {
        let message = message.trim().trim_matches(|c| c == '\'' || c == '"');
        *case = std::mem::replace(case, TestCase::new("", "", Outcome::Passed))
            .with_message(Some(message.to_owned()));
    }
}

/// The innermost tests, named after their parents (`groups > nested passes`); a parent
/// stands for itself only when it failed and none of its children did.
fn leaves(lines: Vec<Line>) -> Vec<TestCase> {
    // A subtest's line comes before its parent's, one level deeper.
    let mut results: Vec<(usize, TestCase)> = Vec::new();
    for Line { indent, case } in lines {
        let first_child = results
            .iter()
            .rposition(|(depth, _)| *depth <= indent)
            .map_or(0, |i| i + 1);
        if first_child == results.len() {
            results.push((indent, case));
            continue;
        }
        let mut children: Vec<(usize, TestCase)> = results.drain(first_child..).collect();
        let child_failed = children
            .iter()
            .any(|(_, c)| matches!(c.outcome, Outcome::Failed | Outcome::Errored));
        for (_, child) in &mut children {
            child.name = format!("{} > {}", case.name, child.name);
        }
        if case.outcome == Outcome::Failed && !child_failed {
            children.push((indent, case));
        }
        results.extend(children.into_iter().map(|(_, c)| (indent, c)));
    }
    results
        .into_iter()
        .map(|(_, c)| c)
        .take(MAX_CASES)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_node_test_output() {
        let text = include_str!("../../tests/fixtures/runners/node-tap.txt");
        let cases = parse(text);
        let got: Vec<(&str, Outcome)> =
            cases.iter().map(|c| (c.name.as_str(), c.outcome)).collect();
        assert_eq!(
            got,
            [
                ("adds", Outcome::Passed),
                ("subtracts", Outcome::Failed),
                ("groups > nested passes", Outcome::Passed),
                ("later", Outcome::Skipped),
            ]
        );
        assert_eq!(cases[1].message.as_deref(), Some("5 - 3 should be 2"));
        assert_eq!(cases[0].duration_ms, Some(1));
        assert_eq!(cases[3].message.as_deref(), Some("not graded yet"));
    }

    #[test]
    fn plain_tap_with_directives_and_a_parent_that_failed_alone() {
        let text = "TAP version 13\n1..4\nok 1 - first\nnot ok 2 # TODO later\nok 3 second # skip no db\n    ok 1 - inner\nnot ok 4 - outer\n";
        let cases = parse(text);
        let got: Vec<(&str, Outcome)> =
            cases.iter().map(|c| (c.name.as_str(), c.outcome)).collect();
        assert_eq!(
            got,
            [
                ("first", Outcome::Passed),
                ("test 2", Outcome::Skipped),
                ("second", Outcome::Skipped),
                ("outer > inner", Outcome::Passed),
                ("outer", Outcome::Failed),
            ]
        );
    }

    #[test]
    fn text_without_tap_yields_nothing() {
        assert!(parse("all good\nok then\n").is_empty());
        assert!(parse("").is_empty());
    }
}
