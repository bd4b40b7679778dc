//! Lectern's dashboard: a Dioxus app compiled to wasm32, served by the server at `/` and
//! talking to it on the same origin (GraphQL over HTTP; the session is an HttpOnly cookie the
//! client never sees).

mod ansi;
mod api;
mod live;
mod log;
mod route;
mod session;
mod time;
mod views;

use dioxus::prelude::*;

fn main() {
    dioxus::launch(App);
}

#[component]
fn App() -> Element {
    rsx! { Router::<route::Route> {} }
}
