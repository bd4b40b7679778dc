//! One module per table: the row types and the plain functions that read and write them.

pub mod assignment;
pub mod course;
pub mod invite;
pub mod membership;
pub mod session;
pub mod user;

pub use assignment::{Assignment, AssignmentChanges, NewAssignment};
pub use course::{Course, CourseCounts, CourseWithRole};
pub use invite::{Invite, InviteState};
pub use membership::{Member, Membership};
pub use session::Session;
pub use user::User;
