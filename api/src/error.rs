//! The one error type of the server, and where it becomes an HTTP status or a GraphQL
//! `extensions.code`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Everything a request can fail with. `Internal` keeps its cause for the log and shows the
/// client only a reference to find it by.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    /// A field of an input failed validation; `field` names it for forms.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("sign in first")]
    Unauthenticated,
    #[error("not allowed")]
    Forbidden,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Result of anything that answers a request.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// A validation failure of one input field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    /// The stable, machine-readable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "NOT_FOUND",
            Self::BadRequest(_) | Self::Invalid { .. } => "BAD_USER_INPUT",
            Self::Conflict(_) => "CONFLICT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The HTTP status for plain HTTP endpoints.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) | Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the client may read. For internal errors the cause is logged here, once, with a
    /// reference that the message carries; SQL and stack traces never leave the server.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(cause) => {
                let reference = uuid::Uuid::new_v4().simple().to_string();
                let reference = &reference[..12];
                tracing::error!(reference, error = format!("{cause:#}"), "internal error");
                format!("internal error (reference {reference}); please try again or report it")
            }
            other => other.to_string(),
        }
    }
}

impl From<DieselError> for AppError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, ref info) => {
                match info.constraint_name().and_then(conflict_message) {
                    Some(message) => Self::Conflict(message.to_owned()),
                    None => Self::Internal(anyhow::Error::new(err)),
                }
            }
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for AppError {
    fn from(err: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        Self::Internal(anyhow::Error::new(err).context("no database connection"))
    }
}

/// Unique constraints people can run into, and what to tell them.
fn conflict_message(constraint: &str) -> Option<&'static str> {
    Some(match constraint {
        "courses_slug_key" => "a course with this slug already exists; choose another slug",
        "assignments_course_id_slug_key" => {
            "this course already has an assignment with this slug; choose another slug"
        }
        "users_login_key" => "a user with this login already exists",
        "invites_code_key" => "an invite with this code already exists",
        "repositories_github_repo_id_key" => "this repository is already linked to an assignment",
        "repositories_assignment_id_owner_id_key" => {
            "you already linked a repository to this assignment; unlink it first"
        }
        _ => return None,
    })
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code(), "message": self.public_message() }
        });
        (self.status(), axum::Json(body)).into_response()
    }
}

/// The error GraphQL resolvers return. It exists so that `?` on an [`AppError`] keeps its
/// code: async-graphql converts anything `Display` into an error *without* extensions, so
/// this wrapper deliberately is not `Display`.
#[derive(Clone, Debug)]
pub struct GqlError(async_graphql::Error);

/// Result of a GraphQL resolver.
pub type GqlResult<T> = Result<T, GqlError>;

impl<E: Into<AppError>> From<E> for GqlError {
    fn from(err: E) -> Self {
        let err = err.into();
        let mut gql = async_graphql::Error::new(err.public_message());
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", err.code());
        if let AppError::Invalid { field, .. } = &err {
            extensions.set("field", *field);
        }
        gql.extensions = Some(extensions);
        Self(gql)
    }
}

impl From<GqlError> for async_graphql::Error {
    fn from(err: GqlError) -> Self {
        err.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = AppError::Internal(anyhow::anyhow!("relation \"users\" does not exist"));
        let message = err.public_message();
        assert!(
            message.starts_with("internal error (reference "),
            "{message}"
        );
        assert!(!message.contains("relation"), "{message}");
    }

    #[test]
    fn graphql_errors_carry_code_and_field() {
        let err: async_graphql::Error =
            GqlError::from(AppError::invalid("slug", "too short")).into();
        let ext = err.extensions.expect("extensions");
        assert_eq!(
            ext.get("code"),
            Some(&async_graphql::Value::from("BAD_USER_INPUT"))
        );
        assert_eq!(ext.get("field"), Some(&async_graphql::Value::from("slug")));
        assert_eq!(err.message, "slug: too short");
    }

    #[test]
    fn unknown_unique_violations_are_internal() {
        assert_eq!(conflict_message("some_other_key"), None);
        assert!(conflict_message("courses_slug_key").is_some());
    }
}
