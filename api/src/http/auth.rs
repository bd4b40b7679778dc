//! Sign-in and sign-out endpoints. GitHub OAuth arrives in its own module; until then the
//! development sign-in serves demos and local work, and only when configured.

use axum::Form;
use axum::extract::State;
use axum::http::header::{SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use crate::auth::Viewer;
use crate::auth::session::{clear_cookie, session_cookie, token_from_headers};
use crate::db::models::user::is_valid_login;
use crate::db::models::{Session, User};
use crate::error::AppError;

/// The development sign-in form.
#[derive(Deserialize)]
pub struct DevLogin {
    login: String,
    /// Where to go afterwards: a path on this server.
    next: Option<String>,
}

/// A path on this server to return to, or `/`: never another site.
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path
        }
        _ => "/",
    }
}

fn with_cookie(
    response: impl IntoResponse,
    cookie: &cookie::Cookie<'_>,
) -> Result<Response, AppError> {
    let mut response = response.into_response();
    let value =
        HeaderValue::from_str(&cookie.to_string()).map_err(|e| AppError::Internal(e.into()))?;
    response.headers_mut().append(SET_COOKIE, value);
    Ok(response)
}

/// `POST /auth/dev/login` (form: `login`, `next`): signs in as `login`, creating the user if
/// needed. 404 unless `LECTERN_DEV_LOGIN=true`.
pub async fn dev_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<DevLogin>,
) -> Result<Response, AppError> {
    let app = &state.app;
    if !app.config.dev_login {
        return Err(AppError::NotFound);
    }
    let login = form.login.trim();
    if !is_valid_login(login) {
        return Err(AppError::invalid(
            "login",
            "use 1 to 39 letters, digits or hyphens, like a GitHub login",
        ));
    }
    let mut conn = app.db().await?;
    let user = User::find_or_create_local(&mut conn, login, None).await?;
    let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    let (token, _) =
        Session::create(&mut conn, user.id, app.config.session_ttl, user_agent).await?;
    tracing::warn!(user = user.id, login = %user.login, "development sign-in (LECTERN_DEV_LOGIN is on)");
    with_cookie(
        Redirect::to(local_path(form.next.as_deref())),
        &session_cookie(&app.config, token),
    )
}

/// `POST /auth/logout`: ends the session and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let app = &state.app;
    if viewer.0.is_some()
        && let Some(token) = token_from_headers(&headers, &app.config)
    {
        let mut conn = app.db().await?;
        Session::delete_by_token(&mut conn, &token).await?;
    }
    with_cookie(Redirect::to("/"), &clear_cookie(&app.config))
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/courses/cs101")), "/courses/cs101");
        for outside in [
            Some("//evil.example"),
            Some("https://evil.example"),
            Some("/\\evil"),
            Some(""),
            None,
        ] {
            assert_eq!(local_path(outside), "/");
        }
    }
}
