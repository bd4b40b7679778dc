//! One module per table: the row types and the plain functions that read and write them.

pub mod assignment;
pub mod build;
pub mod build_queue;
pub mod course;
pub mod extension;
pub mod grade;
pub mod invite;
pub mod job;
pub mod log_chunk;
pub mod membership;
pub mod notification;
pub mod repository;
pub mod session;
pub mod test_result;
pub mod user;
pub mod webhook_delivery;

pub use assignment::{Assignment, AssignmentChanges, NewAssignment};
pub use build::{Build, BuildFilter, BuildRequest};
pub use course::{Course, CourseCounts, CourseWithRole};
pub use extension::Extension;
pub use grade::GradeMatrix;
pub use invite::{Invite, InviteState};
pub use job::Job;
pub use log_chunk::{LogChunk, NewLogChunk};
pub use membership::{Member, Membership};
pub use repository::{NewRepository, Repository};
pub use session::Session;
pub use test_result::{NewTestResult, TestResult};
pub use user::{GithubIdentity, User};
pub use webhook_delivery::{NewDelivery, WebhookDelivery};

/// `text` cut to at most `max` characters (what the tables' length checks count).
pub(crate) fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
