use dioxus::prelude::*;

use crate::route::Route;

/// Any path no route matches.
#[component]
pub fn NotFound(segments: Vec<String>) -> Element {
    let path = segments.join("/");
    rsx! {
        h1 { "Page not found" }
        p { class: "muted", "Nothing lives at /{path}." }
        Link { to: Route::Home {}, "Back to my courses" }
    }
}
