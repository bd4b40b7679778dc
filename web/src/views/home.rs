use dioxus::prelude::*;

use super::forms::{JoinWithCode, NewCourseForm};
use super::status::{StatusBadge, Timestamp};
use crate::route::Route;
use crate::session::Session;

/// My courses, or a welcome that leads to sign-in.
#[component]
pub fn Home() -> Element {
    let session = Session::get();
    match &*session.0.read() {
        None => rsx! { p { class: "muted", "Loading…" } },
        Some(Err(err)) => rsx! { p { class: "error", "{err}" } },
        Some(Ok(None)) => rsx! {
            section { class: "welcome",
                h1 { "Continuous integration and autograding for your course" }
                p { "Push your code; watch the tests run; see your grade." }
                Link { class: "button", to: Route::SignIn { next: String::new() }, "Sign in" }
            }
        },
        Some(Ok(Some(me))) => rsx! {
            div { class: "page-head",
                h1 { "My courses" }
                JoinWithCode {}
            }
            if me.courses.is_empty() {
                section { class: "empty-state",
                    p { "You are not in any course yet. Open the invite link your instructor shared, or paste its code above." }
                }
            }
            ul { class: "cards", "data-testid": "courses",
                for course in me.courses.clone() {
                    li { class: "card", key: "{course.slug}",
                        Link { to: Route::CoursePage { slug: course.slug.clone() },
                            h2 { "{course.name}" }
                        }
                        p { class: "muted", "{course.term}" }
                        p {
                            span { class: "badge", {role_label(course.viewer_role.as_deref())} }
                            " {plural(course.counts.students, \"student\")} · {plural(course.counts.assignments, \"assignment\")}"
                        }
                        match course.latest_build.clone() {
                            Some(latest) => rsx! {
                                p { class: "card-activity", "data-testid": "latest-build",
                                    StatusBadge { status: latest.status.clone() } " "
                                    Link { to: Route::BuildPage { id: latest.id.clone() },
                                        "{latest.repository.full_name} #{latest.number}" }
                                    " · " Timestamp { at: latest.queued_at.clone() }
                                }
                            },
                            None => rsx! { p { class: "card-activity muted", "No builds yet" } },
                        }
                    }
                }
            }
            NewCourseForm {}
        },
    }
}

/// How a role reads in the interface.
pub fn role_label(role: Option<&str>) -> &'static str {
    match role {
        Some("INSTRUCTOR") => "Instructor",
        Some("TA") => "TA",
        Some("STUDENT") => "Student",
        _ => "Administrator",
    }
}

/// "1 student", "3 students".
pub fn plural(n: i64, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
