//! A build: what was built and how it went, kept current by `buildUpdated`, its log
//! streaming live through `buildLog`, and retry and cancel.

use dioxus::prelude::*;
use serde_json::json;

use super::errors::ErrorPanel;
use super::log_view::LogView;
use super::status::{StatusBadge, Timestamp};
use super::test_results::{TestResults, decimal};
use crate::api::{self, BuildDetail};
use crate::live;
use crate::route::Route;
use crate::time;

#[component]
pub fn BuildPage(id: String) -> Element {
    let mut detail = use_signal(|| None::<Result<BuildDetail, api::ApiError>>);
    // The build as fetched, then as every change announces it.
    use_resource(use_reactive!(|id| async move {
        detail.set(None);
        let fetched = api::build(&id).await;
        let ok = fetched.is_ok();
        detail.set(Some(fetched));
        if !ok {
            return;
        }
        loop {
            live::subscribe(api::documents::BUILD_UPDATED, json!({ "id": id }), |data| {
                if let Ok(update) =
                    serde_json::from_value::<BuildDetail>(data["buildUpdated"].clone())
                    && let Some(Ok(current)) = &mut *detail.write()
                {
                    let repository = current.repository.take();
                    *current = BuildDetail {
                        repository,
                        ..update
                    };
                }
            })
            .await;
            time::sleep(2000).await;
        }
    }));

    let title = match &*detail.read() {
        Some(Ok(b)) => format!("Build #{} · {}", b.number, status_word(&b.status)),
        _ => "Build".to_owned(),
    };
    super::set_title(&title);
    rsx! {
        match &*detail.read() {
            None => rsx! { BuildSkeleton {} },
            Some(Err(err)) => rsx! { ErrorPanel { what: "This build", error: err.clone(), testid: "build-error" } },
            Some(Ok(build)) => rsx! {
                BuildHeader { detail: build.clone() }
                TestResults { build_id: build.id.clone(), finished: build.is_finished() }
                LogView { build_id: build.id.clone(), finished: build.is_finished(), truncated: build.log_truncated }
            },
        }
    }
}

/// A status as a word ("timed out").
pub fn status_word(status: &str) -> String {
    status.to_lowercase().replace('_', " ")
}

#[component]
fn BuildSkeleton() -> Element {
    rsx! {
        div { class: "skeleton-block", "aria-busy": "true", "aria-label": "Loading the build" }
        div { class: "skeleton-block tall" }
    }
}

#[component]
fn BuildHeader(detail: BuildDetail) -> Element {
    let build = detail;
    // "Running for" counts up while the page is open.
    super::status::follow_clock();
    let short = build.commit_sha.chars().take(7).collect::<String>();
    let first_line = build
        .commit_message
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let source = match (build.pull_request, &build.branch) {
        (Some(pr), _) => format!("pull request #{pr}"),
        (None, Some(branch)) => branch.clone(),
        (None, None) => "—".to_owned(),
    };
    let took = build
        .started_at
        .as_deref()
        .and_then(|s| time::between(s, build.finished_at.as_deref()))
        .map(time::duration);
    rsx! {
        header { class: "build-header", "data-status": "{build.status}", "data-testid": "build-header",
            div { class: "build-title",
                StatusBadge { status: build.status.clone() }
                h1 {
                    if let Some(repo) = &build.repository {
                        Link { to: Route::RepositoryPage { id: repo.id.clone() }, "{repo.full_name}" }
                        " "
                    }
                    span { class: "muted", "#{build.number}" }
                }
                BuildActions { detail: build.clone() }
            }
            p { class: "commit",
                code { title: "{build.commit_sha}", "{short}" }
                " {first_line}"
                if let Some(author) = &build.commit_author { span { class: "muted", " — {author}" } }
            }
            dl { class: "facts",
                div { dt { "Source" } dd { "{source}" } }
                div { dt { "Trigger" } dd { {status_word(&build.trigger)} } }
                div { dt { "Received" } dd { Timestamp { at: build.received_at.clone() } } }
                if let Some(started) = &build.started_at {
                    div { dt { "Started" } dd { Timestamp { at: started.clone() } } }
                }
                if let Some(took) = took {
                    div { dt { if build.is_finished() { "Took" } else { "Running for" } } dd { "{took}" } }
                }
                if let Some(position) = build.queue_position {
                    div { dt { "Queue" } dd { "data-testid": "queue-position", "position {position}" } }
                }
                if let Some(executor) = &build.executor {
                    div { dt { "Executor" } dd { {status_word(executor)} } }
                }
                if build.attempt > 1 {
                    div { dt { "Attempt" } dd {
                        "{build.attempt}"
                        if let Some(previous) = &build.retry_of {
                            " (retry of " Link { to: Route::BuildPage { id: previous.clone() }, "an earlier build" } ")"
                        }
                    } }
                }
                if let Some(code) = build.exit_code {
                    div { dt { "Exit code" } dd { "{code}" } }
                }
                if let (Some(score), Some(max)) = (&build.score, &build.max_score) {
                    div { dt { "Score" } dd { "data-testid": "score", strong { {decimal(score)} } " of " {decimal(max)} } }
                }
                if build.late {
                    div { dt { "Deadline" } dd { class: "late", "data-testid": "late",
                        match build.late_days {
                            Some(1) => "1 day late".to_owned(),
                            Some(days) => format!("{days} days late"),
                            None => "late".to_owned(),
                        }
                        if let Some(before) = &build.score_before_penalty {
                            span { class: "muted", " ({decimal(before)} before the penalty)" }
                        }
                    } }
                }
            }
            if build.hidden_tests_withheld {
                p { class: "status-reason", role: "status", "data-testid": "hidden-withheld",
                    "Hidden tests ran too. Their results count toward the grade and are shown once the course releases them."
                }
            }
            if let Some(reason) = &build.ungraded_reason {
                p { class: "status-reason", role: "status", "data-testid": "ungraded", "Not graded: {reason}" }
            }
            if !build.protected_edits.is_empty() {
                p { class: "status-reason warning", role: "status", "data-testid": "protected-edits",
                    "This commit changes files the assignment protects: "
                    for (i, path) in build.protected_edits.iter().enumerate() {
                        if i > 0 { ", " }
                        code { "{path}" }
                    }
                }
            }
            if let Some(problem) = &build.report_problem {
                p { class: "status-reason", role: "status", "data-testid": "report-problem", "Test report: {problem}" }
            }
            if let Some(reason) = &build.status_reason {
                p { class: "status-reason", role: "status", "{reason}" }
            }
            if let Some(newer) = &build.superseded_by {
                p { class: "status-reason", "A newer push replaced this build: "
                    Link { to: Route::BuildPage { id: newer.clone() }, "see the newer build" } }
            }
            TestCounts { detail: build.clone() }
            Receipt { detail: build.clone() }
        }
    }
}

/// What a grade rests on, for a student who questions it or an instructor who checks it:
/// the commit, when Lectern received it, the image and the hidden tests.
#[component]
fn Receipt(detail: BuildDetail) -> Element {
    let build = detail;
    if build.score.is_none() {
        return rsx! {};
    }
    rsx! {
        details { class: "receipt", "data-testid": "receipt",
            summary { "Grade receipt" }
            dl { class: "facts",
                div { dt { "Commit" } dd { code { "{build.commit_sha}" } } }
                div { dt { "Received" } dd { Timestamp { at: build.received_at.clone() } } }
                div { dt { "Image" } dd {
                    match &build.image_digest {
                        Some(digest) => rsx! { code { "{digest}" } },
                        None => rsx! { span { class: "muted", "none (ran without a container)" } },
                    }
                } }
                if let Some(digest) = &build.hidden_tests_digest {
                    div { dt { "Hidden tests" } dd { code { "sha256:{digest}" } } }
                }
            }
            p { class: "muted", "Each test's points are listed with the tests below." }
        }
    }
}

#[component]
fn TestCounts(detail: BuildDetail) -> Element {
    let build = detail;
    if build.tests_passed.is_none() && build.tests_failed.is_none() {
        return rsx! {};
    }
    rsx! {
        ul { class: "test-counts", "data-testid": "test-counts",
            li { class: "passed", span { "aria-hidden": "true", "✓ " } "{build.tests_passed.unwrap_or(0)} passed" }
            li { class: "failed", span { "aria-hidden": "true", "✗ " } "{build.tests_failed.unwrap_or(0)} failed" }
            if let Some(skipped) = build.tests_skipped {
                li { class: "skipped", span { "aria-hidden": "true", "⊘ " } "{skipped} skipped" }
            }
            if let Some(format) = &build.report_format {
                li { class: "muted", "from the {format} report" }
            }
        }
    }
}

/// Retry for a finished build, cancel for one that is not: everyone who may see a build
/// (its owner and the course's staff) may do both.
#[component]
fn BuildActions(detail: BuildDetail) -> Element {
    let build = detail;
    let mut busy = use_signal(|| None::<&'static str>);
    let mut error = use_signal(|| None::<String>);
    let navigator = use_navigator();
    let id = build.id.clone();
    let retry = move |_| {
        let id = id.clone();
        async move {
            busy.set(Some("Retrying…"));
            error.set(None);
            match api::retry_build(&id).await {
                Ok(new) => {
                    navigator.push(Route::BuildPage { id: new.id });
                }
                Err(err) => error.set(Some(err.to_string())),
            }
            busy.set(None);
        }
    };
    let id = build.id.clone();
    let cancel = move |_| {
        let id = id.clone();
        async move {
            busy.set(Some("Cancelling…"));
            error.set(None);
            if let Err(err) = api::cancel_build(&id).await {
                error.set(Some(err.to_string()));
            }
            busy.set(None);
        }
    };
    rsx! {
        div { class: "actions",
            if build.is_finished() {
                button { class: "button", "data-testid": "retry", disabled: busy().is_some(), onclick: retry,
                    {busy().unwrap_or("Retry")}
                }
            } else if build.cancel_requested {
                span { class: "muted", role: "status", "Cancelling…" }
            } else {
                button { class: "button danger", "data-testid": "cancel", disabled: busy().is_some(), onclick: cancel,
                    {busy().unwrap_or("Cancel")}
                }
            }
            if let Some(message) = error() {
                p { class: "error", role: "alert", "{message}" }
            }
        }
    }
}
