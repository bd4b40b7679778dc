use dioxus::prelude::*;

use crate::api;

/// Sign-in: the ways this server offers. `next` is where to return afterwards (the server
/// only follows paths on itself).
#[component]
pub fn SignIn(next: String) -> Element {
    let options = use_resource(api::sign_in_options);
    let next = if next.starts_with('/') {
        next
    } else {
        "/".to_owned()
    };
    rsx! {
        section { class: "sign-in",
            h1 { "Sign in to Lectern" }
            match &*options.read() {
                None => rsx! { p { class: "muted", "Loading…" } },
                Some(Err(err)) => rsx! { p { class: "error", "{err}" } },
                Some(Ok(options)) => rsx! {
                    if options.github {
                        a { class: "button", "data-testid": "github-sign-in",
                            href: "/auth/github/login?next={next}", "Sign in with GitHub" }
                    }
                    if options.dev_login {
                        p { class: "warning", "Development sign-in is on: anyone can sign in as anyone. Never use it on a real course." }
                        form { method: "post", action: "/auth/dev/login", class: "form",
                            label { r#for: "login", "GitHub login" }
                            input { id: "login", name: "login", required: true, autofocus: true, placeholder: "ada", pattern: "[A-Za-z0-9-]{{1,39}}" }
                            input { r#type: "hidden", name: "next", value: "{next}" }
                            button { r#type: "submit", class: "button", "Sign in" }
                        }
                    }
                    if !options.github && !options.dev_login {
                        p { "No way of signing in is configured on this server: its operator must set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET." }
                    }
                },
            }
        }
    }
}
