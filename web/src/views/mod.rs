//! One view per route, plus the shell around them.

mod course;
mod home;
mod join;
mod not_found;
mod shell;
mod sign_in;

pub use course::CoursePage;
pub use home::Home;
pub use join::JoinPage;
pub use not_found::NotFound;
pub use shell::Shell;
pub use sign_in::SignIn;
