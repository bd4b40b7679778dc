use dioxus::prelude::*;

use crate::api;
use crate::route::Route;
use crate::session::Session;

/// An invite link: joins the course, or asks to sign in first.
#[component]
pub fn JoinPage(code: String) -> Element {
    let session = Session::get();
    let joined = use_resource(use_reactive!(|code| async move {
        let joined = api::join(&code).await;
        if joined.is_ok() {
            session.refresh();
        }
        joined
    }));
    match &*joined.read() {
        None => rsx! { p { class: "muted", "Joining…" } },
        Some(Ok(course)) => rsx! {
            h1 { "Welcome to {course.name}" }
            Link { class: "button", to: Route::CoursePage { slug: course.slug.clone() }, "Open the course" }
        },
        Some(Err(err)) if err.code.as_deref() == Some("UNAUTHENTICATED") => rsx! {
            p { "Sign in first, then open this link again." }
            Link { class: "button", to: Route::SignIn { next: format!("/join/{code}") }, "Sign in" }
        },
        Some(Err(err)) => rsx! { p { class: "error", "{err}" } },
    }
}
