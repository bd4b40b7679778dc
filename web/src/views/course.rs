use dioxus::prelude::*;

use super::errors::ErrorPanel;
use super::forms::{AssignmentForm, EditCourseForm};
use super::grades::GradesTab;
use super::home::role_label;
use super::notifications::NotificationsTab;
use super::roster::{ActivityTab, RosterTab};
use super::status::{StatusBadge, Timestamp};
use crate::api::{self, AssignmentRow, RepositoryRow};
use crate::route::Route;

/// Which part of the course page is shown.
#[derive(Clone, Copy, PartialEq)]
enum Tab {
    Assignments,
    Roster,
    Grades,
    Activity,
    Notifications,
}

/// A course, in tabs: its assignments (for a student, with their repository for each:
/// linked with its latest build, or a form to link one), its roster and invites, and for
/// staff the course's builds changing state, live.
#[component]
pub fn CoursePage(slug: String) -> Element {
    let mut course = use_resource(use_reactive!(
        |slug| async move { api::course(&slug).await }
    ));
    let mut tab = use_signal(|| Tab::Assignments);
    let title = match &*course.read() {
        Some(Ok(detail)) => detail.name.clone(),
        _ => "Course".to_owned(),
    };
    super::set_title(&title);
    match &*course.read() {
        None => {
            rsx! { div { class: "skeleton-block", "aria-busy": "true", "aria-label": "Loading the course" } }
        }
        Some(Err(err)) => {
            rsx! { ErrorPanel { what: "This course", error: err.clone(), testid: "course-error" } }
        }
        Some(Ok(detail)) => {
            let student = detail.viewer_role.as_deref() == Some("STUDENT");
            let counts = detail.counts.clone();
            let tab_button = move |which: Tab, label: String| {
                rsx! {
                    button { class: if tab() == which { "tab active" } else { "tab" }, role: "tab",
                        "aria-selected": tab() == which, onclick: move |_| tab.set(which), "{label}" }
                }
            };
            rsx! {
                div { class: "page-head",
                    div {
                        h1 { "{detail.name}" }
                        p { class: "muted", "{detail.term} · you are {role_label(detail.viewer_role.as_deref())}" }
                    }
                    if detail.viewer_can_edit {
                        EditCourseForm { course: detail.clone(), on_saved: move |_| course.restart() }
                    }
                }
                nav { class: "tabs", role: "tablist", "aria-label": "Course sections",
                    {tab_button(Tab::Assignments, format!("Assignments ({})", counts.assignments))}
                    {tab_button(Tab::Roster, format!("Roster ({})", counts.students + counts.tas + counts.instructors))}
                    if detail.viewer_is_staff {
                        {tab_button(Tab::Grades, "Grades".to_owned())}
                        {tab_button(Tab::Activity, "Activity".to_owned())}
                    }
                    {tab_button(Tab::Notifications, "Notifications".to_owned())}
                }
                match tab() {
                    Tab::Assignments => rsx! {
                        AssignmentsTab { course_id: detail.id.clone(), assignments: detail.assignments.clone(), student,
                            can_edit: detail.viewer_can_edit, on_changed: move |_| course.restart() }
                    },
                    Tab::Roster => rsx! {
                        RosterTab { slug: slug.clone(), course_id: detail.id.clone(), staff: detail.viewer_is_staff }
                    },
                    Tab::Grades => rsx! { GradesTab { course_id: detail.id.clone(), slug: detail.slug.clone(), can_edit: detail.viewer_can_edit } },
                    Tab::Activity => rsx! { ActivityTab { course_id: detail.id.clone() } },
                    Tab::Notifications => rsx! { NotificationsTab { slug: slug.clone(), staff: detail.viewer_is_staff } },
                }
            }
        }
    }
}

/// The course's assignments; for instructors, a button to edit each and a form for a new one.
#[component]
fn AssignmentsTab(
    course_id: String,
    assignments: Vec<AssignmentRow>,
    student: bool,
    can_edit: bool,
    on_changed: EventHandler<()>,
) -> Element {
    // The assignment being edited, by id.
    let mut editing = use_signal(|| None::<String>);
    let edited = editing
        .read()
        .as_ref()
        .and_then(|id| assignments.iter().find(|a| &a.id == id).cloned());
    rsx! {
        if assignments.is_empty() {
            section { class: "empty-state",
                if can_edit {
                    p { "No assignments yet. Add the first with the form below: a container image, a test command, points and a due date." }
                } else {
                    p { "No assignments yet. They appear here as soon as your instructors add them." }
                }
            }
        } else {
            table { class: "table", "data-testid": "assignments",
                thead { tr {
                    th { "Assignment" } th { "Due" } th { "Points" } th { "Tests" } th { "Repository" }
                    if can_edit { th { span { class: "visually-hidden", "Actions" } } }
                } }
                tbody {
                    for a in assignments.clone() {
                        tr { key: "{a.id}",
                            td { "{a.title}"
                                AssignmentNotes { assignment: a.clone(), student }
                            }
                            td {
                                match a.due_at.clone() {
                                    Some(due) => rsx! { Timestamp { at: due } },
                                    None => rsx! { span { class: "muted", "no deadline" } },
                                }
                            }
                            td { "{a.points}" }
                            td { code { "{a.test_command}" } }
                            td {
                                if student {
                                    StudentRepository { assignment: a.clone(), on_linked: move |_| on_changed.call(()) }
                                } else {
                                    span { class: "muted", "{a.repositories.len()} linked" }
                                }
                            }
                            if can_edit {
                                td {
                                    button { class: "button subtle small", r#type: "button", "data-testid": "edit-{a.slug}",
                                        "aria-label": "Edit {a.title}",
                                        onclick: move |_| editing.set(Some(a.id.clone())), "Edit" }
                                }
                            }
                        }
                    }
                }
            }
        }
        if can_edit {
            if let Some(assignment) = edited {
                AssignmentForm { key: "{assignment.id}", course_id: course_id.clone(), editing: assignment,
                    on_saved: move |_| { editing.set(None); on_changed.call(()) },
                    on_cancel: move |_| editing.set(None) }
            }
            AssignmentForm { course_id: course_id.clone(), on_saved: move |_| on_changed.call(()) }
        }
    }
}

/// What a student should know about an assignment beyond its deadline: graded runs left,
/// hidden tests, protected files.
#[component]
fn AssignmentNotes(assignment: AssignmentRow, student: bool) -> Element {
    let a = assignment;
    rsx! {
        if let Some(runs) = a.my_graded_runs.clone().filter(|_| student) {
            p { class: "muted small", "data-testid": "graded-runs-{a.slug}",
                "Graded runs: {runs.left} of {runs.limit} left (per {runs.period_hours} h)"
                if let Some(next) = runs.next_at.clone() {
                    "; next from " Timestamp { at: next }
                }
            }
        }
        if a.has_hidden_tests {
            p { class: "muted small",
                "Hidden tests run after yours"
                match a.hidden_tests_released_at.clone() {
                    Some(at) => rsx! { "; results shown from " Timestamp { at } },
                    None => rsx! { "; their results are shown once released" },
                }
            }
        }
        if !a.protected_paths.is_empty() {
            p { class: "muted small", "Leave unchanged: "
                for (i, path) in a.protected_paths.iter().enumerate() {
                    if i > 0 { ", " }
                    code { "{path}" }
                }
            }
        }
    }
}

/// The student's repository for one assignment, or the form that links it.
#[component]
fn StudentRepository(assignment: AssignmentRow, on_linked: EventHandler<()>) -> Element {
    let mut name = use_signal(String::new);
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<String>);
    if let Some(repo) = assignment.repositories.first() {
        return rsx! { LinkedRepository { repo: repo.clone() } };
    }
    let id = assignment.id.clone();
    rsx! {
        form { class: "link-form", "data-testid": "link-{assignment.slug}",
            onsubmit: move |event: FormEvent| {
                event.prevent_default();
                let (id, full_name) = (id.clone(), name.read().trim().to_owned());
                async move {
                    busy.set(true);
                    error.set(None);
                    match api::link_repository(&id, &full_name).await {
                        Ok(_) => on_linked.call(()),
                        Err(err) => error.set(Some(err.to_string())),
                    }
                    busy.set(false);
                }
            },
            input {
                r#type: "text", name: "fullName", placeholder: "owner/repository", required: true,
                pattern: "[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", "aria-label": "GitHub repository (owner/name)",
                value: "{name}", oninput: move |e| name.set(e.value()),
            }
            button { r#type: "submit", disabled: busy(), if busy() { "Linking…" } else { "Link" } }
            if let Some(message) = error() {
                p { class: "error", role: "alert", "{message}" }
            }
        }
    }
}

#[component]
fn LinkedRepository(repo: RepositoryRow) -> Element {
    let latest = repo.builds.first().cloned();
    rsx! {
        span { class: "repository", "data-testid": "repository",
            Link { to: Route::RepositoryPage { id: repo.id.clone() }, code { "{repo.full_name}" } }
            match latest {
                Some(b) => rsx! {
                    " · " Link { to: Route::BuildPage { id: b.id.clone() }, "build #{b.number}" } " "
                    StatusBadge { status: b.status.clone() }
                },
                None => rsx! { span { class: "muted", " · no builds yet" } },
            }
            if repo.webhook_status != "ACTIVE" && repo.webhook_status != "PENDING" {
                span { class: "error", " · webhook {repo.webhook_status.to_lowercase()}: ask your instructor to repair it" }
            }
        }
    }
}
