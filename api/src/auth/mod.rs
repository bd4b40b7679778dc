//! Who is asking: sessions, the signed-in user, and what they may do in a course.

pub mod access;
pub mod session;

pub use access::{CourseAccess, Need};
pub use session::{CurrentUser, Viewer};
