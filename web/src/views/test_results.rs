//! A finished build's tests, one per line with an icon and a word for how each ended (never
//! colour alone), its points, and why it failed, unfolded on demand.

use dioxus::prelude::*;

use serde_json::json;

use crate::api::{self, TestResult};
use crate::live::{self, End};
use crate::time;

/// An outcome's icon and word.
fn outcome(outcome: &str) -> (&'static str, &'static str, &'static str) {
    match outcome {
        "PASSED" => ("✓", "passed", "passed"),
        "FAILED" => ("✗", "failed", "failed"),
        "ERRORED" => ("!", "error", "errored"),
        _ => ("⊘", "skipped", "skipped"),
    }
}

/// "0.3 s", "12 ms".
fn duration(ms: i64) -> String {
    if ms >= 1000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{ms} ms")
    }
}

#[component]
pub fn TestResults(build_id: String, finished: bool) -> Element {
    let mut results = use_signal(|| None::<Result<Vec<TestResult>, api::ApiError>>);
    // While the build runs, the tests its output has reported so far, pushed by the server
    // as they change; once it has finished, the graded results (the change of `finished`
    // starts this afresh).
    use_resource(use_reactive!(|(build_id, finished)| async move {
        if finished {
            results.set(Some(api::test_results(&build_id).await));
            return;
        }
        loop {
            let end = live::subscribe(
                api::documents::BUILD_TEST_RESULTS,
                json!({ "id": build_id }),
                |data| {
                    if let Ok(list) =
                        serde_json::from_value::<Vec<TestResult>>(data["buildTestResults"].clone())
                    {
                        results.set(Some(Ok(list)));
                    }
                },
            )
            .await;
            match end {
                End::Complete => break,
                // Refused (the server is older, or the session ended): ask once instead.
                End::Refused(_) => {
                    results.set(Some(api::test_results(&build_id).await));
                    break;
                }
                End::Lost(_) => time::sleep(1500).await,
            }
        }
    }));
    let mut only_failures = use_signal(|| false);
    let read = results.read();
    let Some(results) = &*read else {
        return rsx! {};
    };
    let tests = match results {
        Ok(tests) if tests.is_empty() => return rsx! {},
        Ok(tests) => tests.clone(),
        Err(err) => {
            return rsx! { p { class: "error", role: "alert", "The test results could not be loaded: {err}" } };
        }
    };
    let failing = tests
        .iter()
        .filter(|t| matches!(t.outcome.as_str(), "FAILED" | "ERRORED"))
        .count();
    let shown: Vec<TestResult> = tests
        .into_iter()
        .filter(|t| !only_failures() || matches!(t.outcome.as_str(), "FAILED" | "ERRORED"))
        .collect();
    rsx! {
        section { class: "panel tests", "data-testid": "test-results", "aria-labelledby": "tests-heading",
            div { class: "tests-head",
                h2 { id: "tests-heading", if finished { "Tests" } else { "Tests so far" } }
                if failing > 0 {
                    label { class: "toggle",
                        input { r#type: "checkbox", checked: only_failures(),
                            onchange: move |e| only_failures.set(e.checked()) }
                        " Only the {failing} not passing"
                    }
                }
            }
            ul { class: "test-list",
                for test in shown {
                    TestLine { key: "{test.position}", test }
                }
            }
        }
    }
}

#[component]
fn TestLine(test: TestResult) -> Element {
    let (icon, word, class) = outcome(&test.outcome);
    let exact = format!(
        "{} / {}",
        test.points.as_deref().unwrap_or_default(),
        test.max_points.as_deref().unwrap_or_default()
    );
    let points = match (&test.points, &test.max_points) {
        (Some(earned), Some(worth)) => Some(format!("{} / {}", decimal(earned), decimal(worth))),
        _ => None,
    };
    rsx! {
        li { class: "test test-{class}", "data-testid": "test", "data-outcome": "{test.outcome}",
            div { class: "test-line",
                span { class: "test-outcome", span { "aria-hidden": "true", "{icon} " } "{word}" }
                span { class: "test-name",
                    if !test.suite.is_empty() { span { class: "muted", "{test.suite} › " } }
                    "{test.name}"
                    if test.hidden { " " span { class: "tag hidden", title: "A hidden test: students see it once the course releases the hidden tests", "hidden" } }
                }
                if let Some(ms) = test.duration_ms { span { class: "muted test-time", {duration(ms)} } }
                if let Some(points) = points { span { class: "test-points", title: "points earned / worth (exactly {exact})", "{points}" } }
            }
            if let Some(message) = &test.message {
                if matches!(test.outcome.as_str(), "FAILED" | "ERRORED") {
                    details { class: "test-message",
                        summary { {message.lines().next().unwrap_or_default().to_owned()} }
                        pre { "{message}" }
                    }
                } else {
                    p { class: "muted test-reason", "{message}" }
                }
            }
        }
    }
}

/// A decimal as people read it: at most two places ("66.666667" reads "66.67", "2.50"
/// reads "2.5"), and a tiny share never reads as nothing ("<0.01").
pub fn decimal(text: &str) -> String {
    let Ok(value) = text.parse::<f64>() else {
        return text.to_owned();
    };
    if value > 0.0 && value < 0.005 {
        return "<0.01".to_owned();
    }
    let fixed = format!("{value:.2}");
    fixed.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_durations_read_plainly() {
        assert_eq!(decimal("2.50"), "2.5");
        assert_eq!(decimal("10.000000"), "10");
        assert_eq!(decimal("100"), "100");
        assert_eq!(decimal("66.666667"), "66.67");
        assert_eq!(decimal("0.0001"), "<0.01");
        assert_eq!(decimal("0"), "0");
        assert_eq!(duration(12), "12 ms");
        assert_eq!(duration(1540), "1.5 s");
    }
}
