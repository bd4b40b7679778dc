//! The signed-in person, fetched once by the shell and shared with every view through
//! context, so a page load asks the server once.

use dioxus::prelude::*;

use crate::api::{self, ApiError, Me};

/// The session as the views see it: loading, failed, signed out (`None`) or signed in.
#[derive(Clone, Copy)]
pub struct Session(pub Resource<Result<Option<Me>, ApiError>>);

impl Session {
    /// Starts fetching the session and provides it to every descendant.
    pub fn provide() -> Session {
        let me = use_resource(api::me);
        use_context_provider(|| Session(me))
    }

    /// The session provided by the shell.
    pub fn get() -> Session {
        use_context::<Session>()
    }

    /// Fetches it again (after joining a course, say).
    pub fn refresh(mut self) {
        self.0.restart();
    }
}
