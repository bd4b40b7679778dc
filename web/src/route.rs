//! Every page of the dashboard, one variant per route.

use dioxus::prelude::*;

use crate::views::{
    BuildPage, CoursePage, Home, JoinPage, NotFound, RepositoryPage, Shell, SignIn,
};

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
        #[route("/repositories/:id")]
        RepositoryPage { id: String },
        #[route("/builds/:id")]
        BuildPage { id: String },
        #[route("/join/:code")]
        JoinPage { code: String },
        #[route("/:..segments")]
        NotFound { segments: Vec<String> },
}
