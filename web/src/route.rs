//! Every page of the dashboard, one variant per route.

use dioxus::prelude::*;

use crate::views::{CoursePage, Home, JoinPage, NotFound, Shell, SignIn};

/// The routes; each names the view component that renders it.
#[derive(Routable, Clone, PartialEq, Debug)]
#[rustfmt::skip]
pub enum Route {
    #[layout(Shell)]
        #[route("/")]
        Home {},
        #[route("/sign-in?:next")]
        SignIn { next: String },
        #[route("/courses/:slug")]
        CoursePage { slug: String },
        #[route("/join/:code")]
        JoinPage { code: String },
        #[route("/:..segments")]
        NotFound { segments: Vec<String> },
}
