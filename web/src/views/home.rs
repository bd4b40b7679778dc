use dioxus::prelude::*;

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
            h1 { "My courses" }
            if me.courses.is_empty() {
                p { class: "muted", "You are not in any course yet. Ask your instructor for an invite link." }
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
                    }
                }
            }
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
