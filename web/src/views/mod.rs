//! One view per route, plus the shell around them.

mod build;
mod course;
mod errors;
mod forms;
mod grades;
mod home;
mod join;
mod log_view;
mod not_found;
mod notifications;
mod repository;
mod roster;
mod shell;
mod sign_in;
mod status;
mod test_results;

pub use build::BuildPage;
pub use course::CoursePage;
pub use home::Home;
pub use join::JoinPage;
pub use not_found::NotFound;
pub use repository::RepositoryPage;
pub use shell::Shell;
pub use sign_in::SignIn;

/// Sets the window's title to "`page` · Lectern". (Dioxus's `document::Title` evaluates
/// JavaScript from a string, which the Content-Security-Policy rightly forbids.)
pub fn set_title(page: &str) {
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        let title = format!("{page} · Lectern");
        if document.title() != title {
            document.set_title(&title);
        }
    }
}
