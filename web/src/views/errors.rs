//! What a page shows when it cannot show what was asked: a clear page when the session has
//! expired (with the way back to where the person was), or what went wrong.

use dioxus::prelude::*;

use crate::api::ApiError;
use crate::route::Route;

/// The path and query of the current page, to come back to after signing in.
fn here() -> String {
    web_sys::window()
        .and_then(|w| {
            let l = w.location();
            Some(format!("{}{}", l.pathname().ok()?, l.search().ok()?))
        })
        .unwrap_or_else(|| "/".to_owned())
}

/// `what` ("This build") cannot be shown because of `error`.
#[component]
pub fn ErrorPanel(what: String, error: ApiError, testid: String) -> Element {
    if error.is_unauthenticated() {
        return rsx! {
            section { class: "empty-state error-state", "data-testid": "session-expired",
                h1 { "Your session has expired" }
                p { "Sign in again to go on where you were." }
                Link { class: "button", to: Route::SignIn { next: here() }, "Sign in" }
            }
        };
    }
    rsx! {
        section { class: "empty-state error-state", "data-testid": "{testid}",
            h1 { "{what} cannot be shown" }
            p { "{error}" }
            p { Link { to: Route::Home {}, "Back to your courses" } }
        }
    }
}

/// A labelled form field with its error, if the server named it, right under it.
#[component]
pub fn Field(
    label: String,
    id: String,
    error: Option<String>,
    hint: Option<String>,
    children: Element,
) -> Element {
    let class = if error.is_some() {
        "field invalid"
    } else {
        "field"
    };
    rsx! {
        div { class,
            label { r#for: "{id}", "{label}" }
            {children}
            if let Some(hint) = hint {
                small { class: "muted", "{hint}" }
            }
            if let Some(message) = error {
                small { class: "error", role: "alert", id: "{id}-error", "{message}" }
            }
        }
    }
}
