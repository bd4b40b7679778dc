use dioxus::prelude::*;

use crate::route::Route;
use crate::session::Session;

/// The frame of every page: the top bar with who is signed in, then the page.
#[component]
pub fn Shell() -> Element {
    let session = Session::provide();
    super::status::Clock::provide();
    let who = match &*session.0.read() {
        Some(Ok(Some(me))) => rsx! {
            span { class: "who", "data-testid": "signed-in-as",
                "{me.name.clone().unwrap_or_else(|| me.login.clone())} "
                span { class: "login", "@{me.login}" }
            }
            form { method: "post", action: "/auth/logout",
                button { class: "link", r#type: "submit", "Sign out" }
            }
        },
        Some(Ok(None)) => rsx! { Link { to: Route::SignIn { next: String::new() }, "Sign in" } },
        _ => rsx! {},
    };
    rsx! {
        header { class: "topbar",
            Link { class: "brand", to: Route::Home {}, "Lectern" }
            nav { class: "account", {who} }
        }
        main { class: "page", Outlet::<Route> {} }
    }
}
