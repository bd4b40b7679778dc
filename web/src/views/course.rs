use dioxus::prelude::*;

use super::home::role_label;
use crate::api;

/// A course: its assignments (the full course page comes with the dashboard).
#[component]
pub fn CoursePage(slug: String) -> Element {
    let course = use_resource(use_reactive!(
        |slug| async move { api::course(&slug).await }
    ));
    match &*course.read() {
        None => rsx! { p { class: "muted", "Loading…" } },
        Some(Err(err)) => rsx! { p { class: "error", "{err}" } },
        Some(Ok(course)) => rsx! {
            h1 { "{course.name}" }
            p { class: "muted", "{course.term} · you are {role_label(course.viewer_role.as_deref())}" }
            h2 { "Assignments" }
            if course.assignments.is_empty() {
                p { class: "muted", "No assignments yet." }
            }
            table { class: "table", "data-testid": "assignments",
                thead { tr { th { "Assignment" } th { "Due" } th { "Points" } th { "Tests" } } }
                tbody {
                    for a in course.assignments.clone() {
                        tr { key: "{a.slug}",
                            td { "{a.title}" }
                            td { {a.due_at.clone().map(|d| format!("{} UTC", d.replace('T', " ").chars().take(16).collect::<String>())).unwrap_or_else(|| "—".into())} }
                            td { "{a.points}" }
                            td { code { "{a.test_command}" } }
                        }
                    }
                }
            }
        },
    }
}
