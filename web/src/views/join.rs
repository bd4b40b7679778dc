use dioxus::prelude::*;

use crate::api;
use crate::route::Route;

/// An invite link: joins the course, or asks to sign in first.
#[component]
pub fn JoinPage(code: String) -> Element {
    let joined = use_resource(use_reactive!(|code| async move { api::join(&code).await }));
    match &*joined.read() {
        None => rsx! { p { class: "muted", "Joining…" } },
        Some(Ok(course)) => rsx! {
            h1 { "Welcome to {course.name}" }
            Link { class: "button", to: Route::CoursePage { slug: course.slug.clone() }, "Open the course" }
        },
        Some(Err(err)) if err.code.as_deref() == Some("UNAUTHENTICATED") => rsx! {
            p { "Sign in first, then open this link again." }
            a { class: "button", href: "/sign-in?next=/join/{code}", "Sign in" }
        },
        Some(Err(err)) => rsx! { p { class: "error", "{err}" } },
    }
}
