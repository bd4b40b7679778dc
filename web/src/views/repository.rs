//! A repository: its builds newest first, by branch or pull request and by status, a page
//! at a time (each page starts below the last number of the one before, so the thousandth
//! page is as quick as the first). New builds and changes appear live.

use dioxus::prelude::*;
use serde_json::json;

use super::errors::ErrorPanel;
use super::status::{StatusBadge, Timestamp};
use super::test_results::decimal;
use crate::api::{self, BUILDS_PER_PAGE, BuildDetail, BuildQuery, RepositoryPage as Page};
use crate::live;
use crate::route::Route;
use crate::time;

const STATUSES: [&str; 7] = [
    "QUEUED",
    "RUNNING",
    "PASSED",
    "FAILED",
    "ERRORED",
    "TIMED_OUT",
    "CANCELLED",
];

#[component]
pub fn RepositoryPage(id: String) -> Element {
    let mut filter = use_signal(BuildQuery::default);
    // Numbers where each earlier page started, to go back.
    let mut pages = use_signal(Vec::<Option<i32>>::new);
    let mut page = use_resource(use_reactive!(|id| async move {
        let query = filter();
        api::repository(&id, &query).await
    }));
    // A change to any of the repository's builds refreshes the page in view.
    use_resource(use_reactive!(|id| async move {
        loop {
            live::subscribe(
                api::documents::REPOSITORY_BUILDS_UPDATED,
                json!({ "r": id }),
                |_| page.restart(),
            )
            .await;
            time::sleep(2000).await;
        }
    }));
    let mut set_filter = move |next: BuildQuery| {
        pages.set(Vec::new());
        filter.set(next);
    };

    let title = match &*page.read() {
        Some(Ok(p)) => p.full_name.clone(),
        _ => "Repository".to_owned(),
    };
    super::set_title(&title);
    rsx! {
        match &*page.read() {
            None => rsx! { div { class: "skeleton-block tall", "aria-busy": "true", "aria-label": "Loading builds" } },
            Some(Err(err)) => rsx! { ErrorPanel { what: "This repository", error: err.clone(), testid: "repository-error" } },
            Some(Ok(repo)) => {
                let repo: Page = repo.clone();
                let current = filter();
                let last = repo.builds.last().map(|b| b.number);
                let full = repo.builds.len() as i32 == BUILDS_PER_PAGE;
                rsx! {
                    div { class: "page-head",
                        h1 { code { "{repo.full_name}" } }
                        RepositoryActions { id: repo.id.clone(), webhook_status: repo.webhook_status.clone(), on_change: move |_| page.restart() }
                    }
                    if repo.webhook_status == "MISSING" || repo.webhook_status == "FAILED" {
                        p { class: "status-reason", "Webhook {repo.webhook_status.to_lowercase()}: pushes may not be built until it is repaired." }
                    }
                    nav { class: "tabs", "aria-label": "Branches and pull requests",
                        button { class: if current.branch.is_none() && current.pull_request.is_none() { "tab active" } else { "tab" },
                            onclick: move |_| set_filter(BuildQuery { status: filter().status, ..Default::default() }), "All" }
                        for branch in repo.branches.clone() {
                            button { key: "b-{branch}",
                                class: if current.branch.as_deref() == Some(branch.as_str()) { "tab active" } else { "tab" },
                                onclick: {
                                    let branch = branch.clone();
                                    move |_| set_filter(BuildQuery { branch: Some(branch.clone()), status: filter().status, ..Default::default() })
                                },
                                "{branch}"
                            }
                        }
                        for pr in repo.pull_requests.clone() {
                            button { key: "p-{pr}",
                                class: if current.pull_request == Some(pr) { "tab active" } else { "tab" },
                                onclick: move |_| set_filter(BuildQuery { pull_request: Some(pr), status: filter().status, ..Default::default() }),
                                "PR #{pr}"
                            }
                        }
                    }
                    div { class: "filters",
                        label { r#for: "status-filter", "Status " }
                        select { id: "status-filter", "data-testid": "status-filter",
                            onchange: move |e| {
                                let value = e.value();
                                let status = (!value.is_empty()).then_some(value);
                                set_filter(BuildQuery { status, ..filter() });
                            },
                            option { value: "", selected: current.status.is_none(), "Any" }
                            for s in STATUSES {
                                option { value: s, selected: current.status.as_deref() == Some(s), {super::build::status_word(s)} }
                            }
                        }
                    }
                    if repo.builds.is_empty() {
                        section { class: "empty-state",
                            p { if current == BuildQuery::default() { "No builds yet. Push a commit to this repository and it is built here within seconds." } else { "No builds match these filters." } }
                        }
                    } else {
                        BuildsTable { builds: repo.builds.clone() }
                    }
                    Deliveries { repository_id: repo.id.clone() }
                    nav { class: "pager", "aria-label": "Pages",
                        button { class: "button subtle", disabled: pages.read().is_empty(),
                            onclick: move |_| {
                                let before = pages.write().pop().flatten();
                                filter.write().before = before;
                            },
                            "← Newer" }
                        button { class: "button subtle", disabled: !full, "data-testid": "older",
                            onclick: move |_| {
                                let here = filter().before;
                                pages.write().push(here);
                                filter.write().before = last;
                            },
                            "Older →" }
                    }
                }
            }
        }
    }
}

#[component]
pub fn BuildsTable(builds: Vec<BuildDetail>) -> Element {
    rsx! {
        div { class: "table-scroll",
        table { class: "table builds", "data-testid": "builds",
            thead { tr {
                th { scope: "col", "Status" } th { scope: "col", "#" } th { scope: "col", "Source" }
                th { scope: "col", "Commit" } th { scope: "col", "Trigger" } th { scope: "col", "Queued" }
                th { scope: "col", "Started" } th { scope: "col", "Duration" } th { scope: "col", "Tests" }
                th { scope: "col", "Score" } th { scope: "col", "Attempt" }
            } }
            tbody {
                for b in builds {
                    tr { key: "{b.id}",
                        td { StatusBadge { status: b.status.clone() } }
                        td { Link { to: Route::BuildPage { id: b.id.clone() }, "#{b.number}" } }
                        td { {b.pull_request.map(|pr| format!("PR #{pr}")).or(b.branch.clone()).unwrap_or_else(|| "—".into())} }
                        td { class: "commit",
                            code { title: "{b.commit_sha}", {b.commit_sha.chars().take(7).collect::<String>()} }
                            " {b.commit_message.lines().next().unwrap_or_default()}"
                            if let Some(author) = &b.commit_author { span { class: "muted", " — {author}" } }
                        }
                        td { {super::build::status_word(&b.trigger)} }
                        td { Timestamp { at: b.queued_at.clone() } }
                        td { if let Some(s) = &b.started_at { Timestamp { at: s.clone() } } else { span { class: "muted", "—" } } }
                        td { {b.started_at.as_deref().and_then(|s| time::between(s, b.finished_at.as_deref())).map(time::duration).unwrap_or_else(|| "—".into())} }
                        td { class: "muted",
                            match (b.tests_passed, b.tests_failed) {
                                (Some(passed), Some(failed)) => format!("{passed} of {}", passed + failed),
                                _ => "—".to_owned(),
                            }
                        }
                        td { {b.score.as_deref().map(decimal).map(|s| format!("{s} / {}", b.max_score.as_deref().map(decimal).unwrap_or_default())).unwrap_or_else(|| "—".into())} }
                        td { "{b.attempt}" }
                    }
                }
            }
        }
        }
    }
}

#[derive(Clone, Copy)]
enum Act {
    Sync,
    Repair,
    Unlink,
}

/// What can be done to a linked repository: look for missed pushes (owner and staff), repair
/// its webhook and unlink it (owner and instructors; the server says no to anyone else).
#[component]
fn RepositoryActions(id: String, webhook_status: String, on_change: EventHandler<()>) -> Element {
    let mut busy = use_signal(|| None::<&'static str>);
    let mut message = use_signal(|| None::<Result<String, String>>);
    let mut confirming = use_signal(|| false);
    let act = move |label: &'static str, id: String, what: Act| {
        spawn(async move {
            busy.set(Some(label));
            message.set(None);
            let result = match what {
                Act::Sync => api::sync_repository(&id).await.map(|n| match n {
                    0 => "Every branch head is built: nothing was missed.".to_owned(),
                    1 => "1 missed push queued.".to_owned(),
                    n => format!("{n} missed pushes queued."),
                }),
                Act::Repair => api::repair_webhook(&id)
                    .await
                    .map(|()| "Webhook checked and repaired.".to_owned()),
                Act::Unlink => api::unlink_repository(&id)
                    .await
                    .map(|()| "Unlinked: pushes are no longer built; its builds stay.".to_owned()),
            };
            message.set(Some(result.map_err(|e| e.to_string())));
            busy.set(None);
            on_change.call(());
        });
    };
    let broken = webhook_status == "MISSING" || webhook_status == "FAILED";
    let (sync_id, repair_id, unlink_id) = (id.clone(), id.clone(), id);
    rsx! {
        div { class: "actions", "data-testid": "repository-actions",
            button { class: "button subtle", disabled: busy().is_some(), "data-testid": "sync",
                onclick: move |_| act("Checking…", sync_id.clone(), Act::Sync),
                if busy() == Some("Checking…") { "Checking…" } else { "Check for missed pushes" } }
            if broken {
                button { class: "button", disabled: busy().is_some(),
                    onclick: move |_| act("Repairing…", repair_id.clone(), Act::Repair), "Repair webhook" }
            }
            if confirming() {
                span { class: "muted", "Unlink for good? " }
                button { class: "button danger", disabled: busy().is_some(),
                    onclick: move |_| { confirming.set(false); act("Unlinking…", unlink_id.clone(), Act::Unlink) }, "Unlink" }
                button { class: "button subtle", onclick: move |_| confirming.set(false), "Keep" }
            } else {
                button { class: "button subtle", disabled: busy().is_some(), onclick: move |_| confirming.set(true), "Unlink…" }
            }
            match message() {
                Some(Ok(text)) => rsx! { p { class: "muted", role: "status", "data-testid": "repository-message", "{text}" } },
                Some(Err(text)) => rsx! { p { class: "error", role: "alert", "data-testid": "repository-message", "{text}" } },
                None => rsx! {},
            }
        }
    }
}

/// The last webhook deliveries for this repository, like GitHub's "Recent Deliveries":
/// staff see them; for anyone else the section is left out.
#[component]
fn Deliveries(repository_id: String) -> Element {
    let deliveries = use_resource(use_reactive!(|repository_id| async move {
        api::deliveries(&repository_id).await
    }));
    let Some(Ok(list)) = &*deliveries.read() else {
        return rsx! {};
    };
    rsx! {
        section { class: "deliveries", "data-testid": "deliveries",
            h2 { "Recent deliveries" }
            if list.is_empty() {
                p { class: "muted", "No webhook deliveries yet: GitHub calls Lectern when someone pushes." }
            } else {
                div { class: "table-scroll",
                    table { class: "table",
                        thead { tr { th { "Received" } th { "Event" } th { "Outcome" } th { "HTTP" } th { "Detail" } th { "Build" } } }
                        tbody {
                            for d in list.clone() {
                                tr { key: "{d.id}",
                                    td { Timestamp { at: d.received_at.clone() } }
                                    td { "{d.event}" if let Some(a) = &d.action { " ({a})" } }
                                    td { {d.outcome.to_lowercase().replace('_', " ")} }
                                    td { "{d.status_code}" }
                                    td { class: "muted", {d.detail.clone().unwrap_or_default()} }
                                    td { if let Some(b) = &d.build_id { Link { to: Route::BuildPage { id: b.clone() }, "open" } } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
