//! The GraphQL API: one module per domain, merged at the root, with limits that keep a
//! hostile query from costing more than an honest one.

mod assignments;
mod builds;
mod context;
mod courses;
mod error_codes;
mod grades;
mod live;
pub mod loaders;
mod notifications;
mod repositories;
mod roster;
mod users;

use async_graphql::{MergedObject, Schema};

use crate::app::App;

pub use context::parse_id;

/// Every query.
#[derive(MergedObject, Default)]
pub struct Query(
    users::UserQuery,
    courses::CourseQuery,
    assignments::AssignmentQuery,
    repositories::RepositoryQuery,
    builds::BuildQuery,
    grades::GradeQuery,
);

/// Every mutation.
#[derive(MergedObject, Default)]
pub struct Mutation(
    courses::CourseMutation,
    roster::RosterMutation,
    assignments::AssignmentMutation,
    repositories::RepositoryMutation,
    builds::BuildMutation,
    grades::GradeMutation,
    notifications::NotificationMutation,
);

/// The executable schema.
pub type LecternSchema = Schema<Query, Mutation, live::LiveSubscription>;

/// Deepest selection nesting allowed (the dashboard needs 6).
pub const MAX_DEPTH: usize = 12;
/// Most expensive query allowed, counting one per field (lists are not multiplied).
pub const MAX_COMPLEXITY: usize = 1_000;

/// Builds the schema with the app as data and the limits set.
pub fn schema(app: App) -> LecternSchema {
    builder().data(app).finish()
}

/// The SDL of the schema, as `lectern print-schema` prints it and `schema.graphql` holds it.
pub fn sdl() -> String {
    builder().finish().sdl()
}

fn builder() -> async_graphql::SchemaBuilder<Query, Mutation, live::LiveSubscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        live::LiveSubscription,
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .limit_recursive_depth(32)
    .limit_directives(8)
    .extension(error_codes::ErrorCodes)
}
